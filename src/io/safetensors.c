/* The safetensors format: 8-byte little-endian header length, a JSON header, raw F32 data.
 * Spec: https://github.com/huggingface/safetensors (README, "Format"). */
#define _GNU_SOURCE /* qsort_r */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "descent/alloc.h"
#include "descent/io.h"

/* Refuse headers beyond this size: a corrupt length must not trigger a huge allocation. */
#define ST_MAX_HEADER (100 * 1024 * 1024)

typedef struct {
  char *name;
  ds_shape shape;
  int64_t begin, end; /* byte offsets into data */
} st_entry;

struct ds_safetensors {
  int count;
  st_entry *entries; /* in file order */
  int *by_name;      /* entry indices sorted by name */
  int n_meta;
  char **meta; /* key, value, key, value, ... */
  char *data;  /* data section, 64-byte aligned */
};

static void put_u64le(unsigned char *b, uint64_t v) {
  for (int i = 0; i < 8; i++)
    b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64le(const unsigned char *b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)b[i] << (8 * i);
  return v;
}

static int tensor_name_cmp(const void *a, const void *b, void *ctx) {
  const ds_st_tensor *t = ctx;
  return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

/* Tensor names must be present, unique and not "__metadata__"; checked by sorting, O(n log n)
 * (a lookup per name in the JSON object under construction made large models quadratic). */
static ds_status check_names(const char *path, const ds_st_tensor *t, int n) {
  for (int i = 0; i < n; i++)
    if (!t[i].name || !strcmp(t[i].name, "__metadata__"))
      return ds_set_error(DS_EINVAL, "safetensors '%s': invalid tensor name '%s'", path,
                          t[i].name ? t[i].name : "(null)");
  int *order = ds_malloc(((size_t)n + 1) * sizeof *order);
  if (!order) return DS_ENOMEM;
  for (int i = 0; i < n; i++)
    order[i] = i;
  qsort_r(order, (size_t)n, sizeof *order, tensor_name_cmp, (void *)t);
  ds_status st = DS_OK;
  for (int i = 1; i < n && !st; i++)
    if (!strcmp(t[order[i]].name, t[order[i - 1]].name))
      st = ds_set_error(DS_EINVAL, "safetensors '%s': duplicate tensor name '%s'", path,
                        t[order[i]].name);
  ds_free(order);
  return st;
}

ds_status ds_safetensors_write(const char *path, const ds_st_tensor *t, int n,
                               const char *const *meta, int n_meta) {
  if (!path || (n > 0 && !t) || n < 0 || (n_meta > 0 && !meta))
    return ds_set_error(DS_EINVAL, "safetensors write: invalid arguments");
  ds_status st = check_names(path, t, n);
  if (st) return st;
  cJSON *root = cJSON_CreateObject();
  if (!root) return ds_set_error(DS_ENOMEM, "safetensors '%s': out of memory", path);
  int64_t off = 0;
  for (int i = 0; i < n && !st; i++) {
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
    for (int i = 0; i < n_meta; i++)
      cJSON_AddStringToObject(m, meta[2 * i], meta[2 * i + 1]);
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
  for (size_t i = len; i < padded; i++)
    fputc(' ', f);
  cJSON_free(json);
  for (int i = 0; i < n; i++) {
    size_t cnt = (size_t)ds_shape_numel(&t[i].shape);
    if (cnt && fwrite(t[i].data, sizeof(float), cnt, f) != cnt) break; /* commit reports it */
  }
  return ds_atomic_commit(a);
}

void ds_safetensors_free(ds_safetensors *s) {
  if (!s) return;
  for (int i = 0; i < s->count; i++)
    ds_free(s->entries[i].name);
  for (int i = 0; i < 2 * s->n_meta; i++)
    ds_free(s->meta[i]);
  ds_free(s->entries);
  ds_free(s->by_name);
  ds_free(s->meta);
  ds_free(s->data);
  ds_free(s);
}

/* An integer-valued JSON number in [0, max]; false for anything else (strings, fractions, huge
 * values), without ever converting an out-of-range double. */
static bool json_index(const cJSON *v, double max, int64_t *out) {
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= max) ||
      v->valuedouble != (double)(int64_t)v->valuedouble)
    return false;
  *out = (int64_t)v->valuedouble;
  return true;
}

/* Parses one tensor entry; data_bytes is the size of the data section. */
static ds_status parse_entry(const char *path, const cJSON *e, int64_t data_bytes, st_entry *out) {
  char name[48];
  ds_excerpt(e->string, name, sizeof name);
  const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
  const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
  if (!cJSON_IsObject(e) || !cJSON_IsString(dtype) || !cJSON_IsArray(shape) ||
      !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': tensor '%s': malformed header entry", path,
                        name);
  if (strcmp(dtype->valuestring, "F32")) {
    char dt[24];
    return ds_set_error(DS_EFORMAT,
                        "checkpoint '%s': tensor '%s': dtype %s (only F32 is supported)", path,
                        name, ds_excerpt(dtype->valuestring, dt, sizeof dt));
  }
  int rank = cJSON_GetArraySize(shape);
  if (rank > DS_MAX_RANK)
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': tensor '%s': rank %d > %d", path, name, rank,
                        DS_MAX_RANK);
  int64_t dims[DS_MAX_RANK];
  for (int d = 0; d < rank; d++)
    if (!json_index(cJSON_GetArrayItem(shape, d), 9e15, &dims[d]))
      return ds_set_error(DS_EFORMAT,
                          "checkpoint '%s': tensor '%s': shape entry %d is not a size (an integer "
                          ">= 0)",
                          path, name, d);
  ds_shape sh = ds_shape_make(rank, dims);
  int64_t numel, begin, end;
  if (ds_shape_numel_checked(&sh, &numel) || numel > data_bytes / 4)
    return ds_set_error(DS_EFORMAT,
                        "checkpoint '%s': tensor '%s': shape too large for the file (%" PRId64
                        " data bytes)",
                        path, name, data_bytes);
  if (!json_index(cJSON_GetArrayItem(offs, 0), (double)data_bytes, &begin) ||
      !json_index(cJSON_GetArrayItem(offs, 1), (double)data_bytes, &end) || end < begin ||
      end - begin != numel * 4)
    return ds_set_error(DS_EFORMAT,
                        "checkpoint '%s': tensor '%s': data_offsets do not fit its shape (%" PRId64
                        " bytes) or the file (%" PRId64 " data bytes; truncated?)",
                        path, name, numel * 4, data_bytes);
  if (begin % 4)
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': tensor '%s': misaligned data", path, name);
  out->shape = sh;
  out->begin = begin;
  out->end = end;
  out->name = ds_strdup(e->string);
  return out->name ? DS_OK : DS_ENOMEM;
}

static int meta_key_cmp(const void *a, const void *b, void *ctx) {
  char *const *meta = ctx;
  return strcmp(meta[*(const int *)a], meta[*(const int *)b]);
}

static ds_status parse_metadata(const char *path, const cJSON *e, ds_safetensors *s) {
  if (s->meta) return ds_set_error(DS_EFORMAT, "checkpoint '%s': __metadata__ appears twice", path);
  if (!cJSON_IsObject(e))
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': __metadata__ is not an object", path);
  int nm = cJSON_GetArraySize(e);
  s->meta = ds_calloc((size_t)nm * 2 + 1, sizeof *s->meta);
  if (!s->meta) return DS_ENOMEM;
  const cJSON *kv;
  cJSON_ArrayForEach(kv, e) {
    char key[48];
    ds_excerpt(kv->string, key, sizeof key);
    if (!cJSON_IsString(kv))
      return ds_set_error(DS_EFORMAT, "checkpoint '%s': metadata '%s' is not a string", path, key);
    s->meta[2 * s->n_meta] = ds_strdup(kv->string);
    s->meta[2 * s->n_meta + 1] = ds_strdup(kv->valuestring);
    s->n_meta++; /* counted before the check so that ds_safetensors_free releases both */
    if (!s->meta[2 * s->n_meta - 2] || !s->meta[2 * s->n_meta - 1]) return DS_ENOMEM;
  }
  /* unique keys, checked by sorting (O(m log m) for m keys) */
  int *order = ds_malloc(((size_t)s->n_meta + 1) * sizeof *order);
  if (!order) return DS_ENOMEM;
  for (int i = 0; i < s->n_meta; i++)
    order[i] = 2 * i;
  qsort_r(order, (size_t)s->n_meta, sizeof *order, meta_key_cmp, s->meta);
  ds_status st = DS_OK;
  for (int i = 1; i < s->n_meta && !st; i++)
    if (!strcmp(s->meta[order[i]], s->meta[order[i - 1]])) {
      char key[48];
      st = ds_set_error(DS_EFORMAT, "checkpoint '%s': duplicate metadata key '%s'", path,
                        ds_excerpt(s->meta[order[i]], key, sizeof key));
    }
  ds_free(order);
  return st;
}

/* Orders of entry indices (ctx: the entries): by name (duplicates, lookups) and by data offsets
 * (coverage). */
static int by_name_cmp(const void *a, const void *b, void *ctx) {
  const st_entry *e = ctx;
  return strcmp(e[*(const int *)a].name, e[*(const int *)b].name);
}
static int by_offset_cmp(const void *a, const void *b, void *ctx) {
  const st_entry *x = (st_entry *)ctx + *(const int *)a, *y = (st_entry *)ctx + *(const int *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

/* Names must be unique, and the tensors must tile the data section exactly, as the format
 * requires: no overlap, no hole, nothing after the last tensor. O(n log n) for n tensors. */
static ds_status check_layout(const char *path, int64_t data_bytes, ds_safetensors *s) {
  int n = s->count;
  int *order = ds_malloc(((size_t)n + 1) * sizeof *order);
  s->by_name = ds_malloc(((size_t)n + 1) * sizeof *s->by_name);
  if (!order || !s->by_name) {
    ds_free(order);
    return DS_ENOMEM;
  }
  for (int i = 0; i < n; i++)
    order[i] = s->by_name[i] = i;
  qsort_r(s->by_name, (size_t)n, sizeof *s->by_name, by_name_cmp, s->entries);
  qsort_r(order, (size_t)n, sizeof *order, by_offset_cmp, s->entries);
  ds_status st = DS_OK;
  char a[48], b[48];
  for (int i = 1; i < n && !st; i++)
    if (!strcmp(s->entries[s->by_name[i]].name, s->entries[s->by_name[i - 1]].name))
      st = ds_set_error(DS_EFORMAT, "checkpoint '%s': duplicate tensor name '%s'", path,
                        ds_excerpt(s->entries[s->by_name[i]].name, a, sizeof a));
  int64_t covered = 0;
  for (int i = 0; i < n && !st; i++) {
    const st_entry *e = &s->entries[order[i]];
    if (e->begin < covered)
      st = ds_set_error(DS_EFORMAT, "checkpoint '%s': tensors '%s' and '%s' overlap", path,
                        ds_excerpt(s->entries[order[i - 1]].name, a, sizeof a),
                        ds_excerpt(e->name, b, sizeof b));
    else if (e->begin > covered)
      st = ds_set_error(
          DS_EFORMAT, "checkpoint '%s': data bytes [%" PRId64 ", %" PRId64 ") belong to no tensor",
          path, covered, e->begin);
    covered = e->end;
  }
  if (!st && covered != data_bytes)
    st = ds_set_error(DS_EFORMAT,
                      "checkpoint '%s': %" PRId64 " trailing bytes after the last tensor's data",
                      path, data_bytes - covered);
  ds_free(order);
  return st;
}

static ds_status parse_header(const char *path, const char *json, size_t len, int64_t data_bytes,
                              ds_safetensors *s) {
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': header is not a JSON object", path);
  }
  /* the header may be padded with spaces (the format's alignment rule), nothing else */
  for (const char *p = end; p < json + len; p++)
    if (*p != ' ') {
      cJSON_Delete(root);
      return ds_set_error(DS_EFORMAT,
                          "checkpoint '%s': unexpected bytes after the JSON header (at header "
                          "byte %lld)",
                          path, (long long)(p - json));
    }
  int total = cJSON_GetArraySize(root);
  s->entries = ds_calloc((size_t)total + 1, sizeof *s->entries);
  ds_status st = s->entries ? DS_OK : DS_ENOMEM;
  const cJSON *e;
  cJSON_ArrayForEach(e, root) {
    if (st) break;
    if (!strcmp(e->string, "__metadata__")) {
      st = parse_metadata(path, e, s);
      continue;
    }
    st = parse_entry(path, e, data_bytes, &s->entries[s->count]);
    if (!st) s->count++;
  }
  cJSON_Delete(root);
  return st ? st : check_layout(path, data_bytes, s);
}

ds_safetensors *ds_safetensors_read(const char *path) {
  FILE *f = path ? fopen(path, "rb") : NULL;
  if (!f) {
    ds_set_error(DS_EIO, "checkpoint '%s': cannot open (%s)", path ? path : "(null)",
                 strerror(errno));
    return NULL;
  }
  ds_safetensors *s = ds_calloc(1, sizeof *s);
  char *json = NULL;
  ds_status st = s ? DS_OK : DS_ENOMEM;
  unsigned char hdr[8];
  int64_t file_size = -1;
  if (!st &&
      (fseek(f, 0, SEEK_END) != 0 || (file_size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0))
    st = ds_set_error(DS_EIO, "checkpoint '%s': cannot seek", path);
  if (!st && (file_size < 8 || fread(hdr, 1, 8, f) != 8))
    st = ds_set_error(DS_EFORMAT, "checkpoint '%s': truncated (%" PRId64 " bytes, no header)", path,
                      file_size);
  /* the length is bounded before any arithmetic is done with it */
  uint64_t n = st ? 0 : get_u64le(hdr);
  if (!st && (n < 2 || n > ST_MAX_HEADER || n > (uint64_t)(file_size - 8)))
    st = ds_set_error(DS_EFORMAT,
                      "checkpoint '%s': header length %" PRIu64 " does not fit the file (%" PRId64
                      " bytes; truncated or not a safetensors file)",
                      path, n, file_size);
  if (!st && !(json = ds_malloc((size_t)n + 1))) st = DS_ENOMEM;
  if (!st && fread(json, 1, (size_t)n, f) != n)
    st = ds_set_error(DS_EFORMAT, "checkpoint '%s': truncated header", path);
  int64_t data_bytes = st ? 0 : file_size - 8 - (int64_t)n;
  if (!st) st = parse_header(path, json, (size_t)n, data_bytes, s);
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
  int lo = 0, hi = s && name ? s->count : 0; /* binary search over the names in sorted order */
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2, c = strcmp(s->entries[s->by_name[mid]].name, name);
    if (c == 0) {
      const st_entry *e = &s->entries[s->by_name[mid]];
      if (shape) *shape = e->shape;
      if (data) *data = (const float *)(const void *)(s->data + e->begin);
      return DS_OK;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  char buf[48];
  return ds_set_error(DS_ENOTFOUND, "checkpoint: no tensor '%s'",
                      name ? ds_excerpt(name, buf, sizeof buf) : "(null)");
}

ds_status ds_safetensors_copy(const ds_safetensors *s, const char *name, ds_shape shape,
                              float *out) {
  ds_shape have;
  const float *data;
  ds_status st = ds_safetensors_get(s, name, &have, &data);
  if (st) return st;
  if (ds_shape_numel(&have) != ds_shape_numel(&shape) || have.rank != shape.rank ||
      !ds_shape_equal(&have, &shape)) {
    char a[64], b[64];
    return ds_set_error(DS_ESHAPE, "checkpoint: tensor '%s' has shape %s, the model expects %s",
                        name, ds_shape_str(&have, a, sizeof a), ds_shape_str(&shape, b, sizeof b));
  }
  memcpy(out, data, (size_t)ds_shape_numel(&shape) * sizeof(float));
  return DS_OK;
}

const char *ds_safetensors_meta(const ds_safetensors *s, const char *key) {
  for (int i = 0; s && key && i < s->n_meta; i++)
    if (!strcmp(s->meta[2 * i], key)) return s->meta[2 * i + 1];
  return NULL;
}
