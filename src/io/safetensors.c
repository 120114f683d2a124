/* The safetensors format: 8-byte little-endian header length, a JSON header, raw F32 data.
 * Spec: https://github.com/huggingface/safetensors (README, "Format"). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "descent/alloc.h"
#include "descent/io.h"

/* Refuse headers beyond this size: a corrupt length must not trigger a huge allocation. */
#define ST_MAX_HEADER (100 * 1024 * 1024)

typedef struct {
  char *name;
  ds_shape shape;
  int64_t begin; /* byte offset into data */
} st_entry;

struct ds_safetensors {
  int count;
  st_entry *entries;
  int n_meta;
  char **meta; /* key, value, key, value, ... */
  char *data;  /* data section, 64-byte aligned */
};

static void put_u64le(unsigned char *b, uint64_t v) {
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64le(const unsigned char *b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
  return v;
}

ds_status ds_safetensors_write(const char *path, const ds_st_tensor *t, int n,
                               const char *const *meta, int n_meta) {
  if (!path || (n > 0 && !t) || n < 0 || (n_meta > 0 && !meta))
    return ds_set_error(DS_EINVAL, "safetensors write: invalid arguments");
  cJSON *root = cJSON_CreateObject();
  if (!root) return ds_set_error(DS_ENOMEM, "safetensors '%s': out of memory", path);
  int64_t off = 0;
  ds_status st = DS_OK;
  for (int i = 0; i < n && !st; i++) {
    if (!t[i].name || !strcmp(t[i].name, "__metadata__") || cJSON_HasObjectItem(root, t[i].name)) {
      st = ds_set_error(DS_EINVAL, "safetensors '%s': invalid or duplicate tensor name '%s'", path,
                        t[i].name ? t[i].name : "(null)");
      break;
    }
    int64_t bytes = ds_shape_numel(&t[i].shape) * 4;
    cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
    cJSON_AddStringToObject(e, "dtype", "F32");
    cJSON *shape = cJSON_AddArrayToObject(e, "shape");
    for (int d = 0; d < t[i].shape.rank; d++)
      cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].shape.dim[d]));
    cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + bytes)));
    off += bytes;
  }
  if (!st && n_meta > 0) {
    cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
    for (int i = 0; i < n_meta; i++) cJSON_AddStringToObject(m, meta[2 * i], meta[2 * i + 1]);
  }
  char *json = st ? NULL : cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (st) return st;
  if (!json) return ds_set_error(DS_ENOMEM, "safetensors '%s': out of memory", path);
  size_t len = strlen(json), padded = (len + 7) / 8 * 8; /* data starts 8-byte aligned */
  ds_atomic_file *a = ds_atomic_open(path);
  if (!a) {
    cJSON_free(json);
    return DS_EIO;
  }
  FILE *f = ds_atomic_stream(a);
  unsigned char hdr[8];
  put_u64le(hdr, padded);
  fwrite(hdr, 1, 8, f);
  fwrite(json, 1, len, f);
  for (size_t i = len; i < padded; i++) fputc(' ', f);
  cJSON_free(json);
  for (int i = 0; i < n; i++) {
    size_t cnt = (size_t)ds_shape_numel(&t[i].shape);
    if (cnt && fwrite(t[i].data, sizeof(float), cnt, f) != cnt) break; /* commit reports it */
  }
  return ds_atomic_commit(a);
}

void ds_safetensors_free(ds_safetensors *s) {
  if (!s) return;
  for (int i = 0; i < s->count; i++) ds_free(s->entries[i].name);
  for (int i = 0; i < 2 * s->n_meta; i++) ds_free(s->meta[i]);
  ds_free(s->entries);
  ds_free(s->meta);
  ds_free(s->data);
  ds_free(s);
}

/* Parses one tensor entry; data_bytes is the size of the data section. */
static ds_status parse_entry(const char *path, const cJSON *e, int64_t data_bytes, st_entry *out) {
  const char *name = e->string;
  const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
  const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
  if (!cJSON_IsObject(e) || !cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
      cJSON_GetArraySize(offs) != 2)
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': tensor '%s': malformed header entry", path, name);
  if (strcmp(dtype->valuestring, "F32"))
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': tensor '%s': dtype %s (only F32 is supported)",
                        path, name, dtype->valuestring);
  int rank = cJSON_GetArraySize(shape);
  if (rank > DS_MAX_RANK)
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': tensor '%s': rank %d > %d", path, name, rank,
                        DS_MAX_RANK);
  int64_t dims[DS_MAX_RANK];
  int64_t numel = 1;
  for (int d = 0; d < rank; d++) {
    const cJSON *v = cJSON_GetArrayItem(shape, d);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e15 ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
      return ds_set_error(DS_EFORMAT, "checkpoint '%s': tensor '%s': bad shape", path, name);
    dims[d] = (int64_t)v->valuedouble;
    numel *= dims[d];
    if (numel > ((int64_t)1 << 50))
      return ds_set_error(DS_EFORMAT, "checkpoint '%s': tensor '%s': shape too large", path, name);
  }
  const cJSON *b = cJSON_GetArrayItem(offs, 0), *en = cJSON_GetArrayItem(offs, 1);
  if (!cJSON_IsNumber(b) || !cJSON_IsNumber(en))
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': tensor '%s': bad data_offsets", path, name);
  double begin = b->valuedouble, end = en->valuedouble;
  if (begin < 0 || end < begin || end > (double)data_bytes || begin != (double)(int64_t)begin ||
      end - begin != (double)(numel * 4))
    return ds_set_error(DS_EFORMAT,
                        "checkpoint '%s': tensor '%s': data_offsets [%.0f, %.0f] do not fit its "
                        "shape or the file (%" PRId64 " data bytes; truncated?)",
                        path, name, begin, end, data_bytes);
  if ((int64_t)begin % 4)
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': tensor '%s': misaligned data", path, name);
  out->shape = ds_shape_make(rank, dims);
  out->begin = (int64_t)begin;
  out->name = ds_strdup(name);
  return out->name ? DS_OK : DS_ENOMEM;
}

static ds_status parse_header(const char *path, const char *json, size_t len, int64_t data_bytes,
                              ds_safetensors *s) {
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': header is not a JSON object", path);
  }
  int total = cJSON_GetArraySize(root);
  s->entries = ds_calloc((size_t)total + 1, sizeof *s->entries);
  ds_status st = s->entries ? DS_OK : DS_ENOMEM;
  const cJSON *e;
  cJSON_ArrayForEach(e, root) {
    if (st) break;
    if (!strcmp(e->string, "__metadata__")) {
      if (!cJSON_IsObject(e)) {
        st = ds_set_error(DS_EFORMAT, "checkpoint '%s': __metadata__ is not an object", path);
        break;
      }
      int nm = cJSON_GetArraySize(e);
      s->meta = ds_calloc((size_t)nm * 2 + 1, sizeof *s->meta);
      if (!s->meta) {
        st = DS_ENOMEM;
        break;
      }
      const cJSON *kv;
      cJSON_ArrayForEach(kv, e) {
        if (!cJSON_IsString(kv)) {
          st = ds_set_error(DS_EFORMAT, "checkpoint '%s': metadata '%s' is not a string", path,
                            kv->string);
          break;
        }
        s->meta[2 * s->n_meta] = ds_strdup(kv->string);
        s->meta[2 * s->n_meta + 1] = ds_strdup(kv->valuestring);
        s->n_meta++;
      }
      continue;
    }
    st = parse_entry(path, e, data_bytes, &s->entries[s->count]);
    if (!st) s->count++;
  }
  cJSON_Delete(root);
  return st;
}

ds_safetensors *ds_safetensors_read(const char *path) {
  FILE *f = path ? fopen(path, "rb") : NULL;
  if (!f) {
    ds_set_error(DS_EIO, "checkpoint '%s': cannot open (%s)", path ? path : "(null)", strerror(errno));
    return NULL;
  }
  ds_safetensors *s = ds_calloc(1, sizeof *s);
  char *json = NULL;
  ds_status st = s ? DS_OK : DS_ENOMEM;
  unsigned char hdr[8];
  int64_t file_size = -1;
  if (!st && (fseek(f, 0, SEEK_END) != 0 || (file_size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0))
    st = ds_set_error(DS_EIO, "checkpoint '%s': cannot seek", path);
  if (!st && (file_size < 8 || fread(hdr, 1, 8, f) != 8))
    st = ds_set_error(DS_EFORMAT, "checkpoint '%s': truncated (%" PRId64 " bytes, no header)", path,
                      file_size);
  uint64_t n = st ? 0 : get_u64le(hdr);
  if (!st && (n < 2 || n > ST_MAX_HEADER || (int64_t)n > file_size - 8))
    st = ds_set_error(DS_EFORMAT,
                      "checkpoint '%s': header length %" PRIu64 " does not fit the file (%" PRId64
                      " bytes; truncated or not a safetensors file)",
                      path, n, file_size);
  if (!st && !(json = ds_malloc(n + 1))) st = DS_ENOMEM;
  if (!st && fread(json, 1, n, f) != n)
    st = ds_set_error(DS_EFORMAT, "checkpoint '%s': truncated header", path);
  int64_t data_bytes = file_size - 8 - (int64_t)n;
  if (!st) st = parse_header(path, json, n, data_bytes, s);
  if (!st && !(s->data = ds_malloc(data_bytes > 0 ? (size_t)data_bytes : 1))) st = DS_ENOMEM;
  if (!st && data_bytes > 0 && fread(s->data, 1, (size_t)data_bytes, f) != (size_t)data_bytes)
    st = ds_set_error(DS_EIO, "checkpoint '%s': read failed", path);
  fclose(f);
  ds_free(json);
  if (st) {
    ds_safetensors_free(s);
    return NULL;
  }
  return s;
}

int ds_safetensors_count(const ds_safetensors *s) { return s ? s->count : 0; }

const char *ds_safetensors_name(const ds_safetensors *s, int i) {
  return s && i >= 0 && i < s->count ? s->entries[i].name : NULL;
}

ds_status ds_safetensors_get(const ds_safetensors *s, const char *name, ds_shape *shape,
                             const float **data) {
  for (int i = 0; s && name && i < s->count; i++)
    if (!strcmp(s->entries[i].name, name)) {
      if (shape) *shape = s->entries[i].shape;
      if (data) *data = (const float *)(const void *)(s->data + s->entries[i].begin);
      return DS_OK;
    }
  return ds_set_error(DS_ENOTFOUND, "checkpoint: no tensor '%s'", name ? name : "(null)");
}

ds_status ds_safetensors_copy(const ds_safetensors *s, const char *name, ds_shape shape, float *out) {
  ds_shape have;
  const float *data;
  ds_status st = ds_safetensors_get(s, name, &have, &data);
  if (st) return st;
  if (ds_shape_numel(&have) != ds_shape_numel(&shape) || have.rank != shape.rank ||
      !ds_shape_equal(&have, &shape)) {
    char a[64], b[64];
    return ds_set_error(DS_ESHAPE, "checkpoint: tensor '%s' has shape %s, the model expects %s", name,
                        ds_shape_str(&have, a, sizeof a), ds_shape_str(&shape, b, sizeof b));
  }
  memcpy(out, data, (size_t)ds_shape_numel(&shape) * sizeof(float));
  return DS_OK;
}

const char *ds_safetensors_meta(const ds_safetensors *s, const char *key) {
  for (int i = 0; s && key && i < s->n_meta; i++)
    if (!strcmp(s->meta[2 * i], key)) return s->meta[2 * i + 1];
  return NULL;
}
