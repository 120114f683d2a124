/* Checkpoints of a run in the safetensors format (src/io/safetensors.c):
 *   tensors   every parameter and buffer under its own name ("fc1.weight", "bn1.running_mean"),
 *             every optimizer state buffer as "optim.<name>" (flat, the parameter layout)
 *   metadata  format, step, epoch, optimizer name and scalars, dropout RNG, loader state (epoch,
 *             position, shuffle and augmentation RNGs: the data order is regenerated from them),
 *             and the resolved config as INI text. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

#define CK_FORMAT "descent-checkpoint-1"
#define CK_MAX_META 64

typedef struct {
  const char *kv[2 * CK_MAX_META];
  char buf[CK_MAX_META][128];
  int n;
} meta_list;

static void meta_add(meta_list *m, const char *key, const char *value) {
  if (m->n >= CK_MAX_META) return;
  m->kv[2 * m->n] = key;
  m->kv[2 * m->n + 1] = value;
  m->n++;
}

static void meta_addf(meta_list *m, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static void meta_addf(meta_list *m, const char *key, const char *fmt, ...) {
  if (m->n >= CK_MAX_META) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->buf[m->n], sizeof m->buf[m->n], fmt, ap);
  va_end(ap);
  meta_add(m, key, m->buf[m->n]);
}

static void rng_str(char *out, size_t n, const ds_rng *r) {
  snprintf(out, n, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, r->s[0], r->s[1], r->s[2], r->s[3]);
}

static int rng_parse(const char *s, ds_rng *r, const char *path, const char *key) {
  if (!s || strlen(s) != 64)
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': metadata '%s' missing or malformed", path, key);
  for (int i = 0; i < 4; i++) {
    char part[17];
    memcpy(part, s + 16 * i, 16);
    part[16] = '\0';
    char *end;
    r->s[i] = strtoull(part, &end, 16);
    if (*end) return ds_set_error(DS_EFORMAT, "checkpoint '%s': metadata '%s' malformed", path, key);
  }
  return 0;
}

static char *config_text(const settings *cfg) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return NULL;
  settings_write_ini(cfg, f);
  fclose(f);
  return text;
}

int checkpoint_save(run *r, const char *path, run_pos pos) {
  ds_paramset *ps = ds_graph_params(r->g), *bs = ds_graph_buffers(r->g);
  int nb = bs ? bs->count : 0, no = ds_optim_state_count(r->opt);
  int n = ps->count + nb + no;
  ds_st_tensor *t = ds_calloc((size_t)n + 1, sizeof *t);
  char(*onames)[DS_NAME_MAX + 8] = ds_calloc((size_t)no + 1, sizeof *onames);
  char *cfg = config_text(&r->cfg);
  int st = t && onames && cfg ? 0 : DS_ENOMEM;
  int k = 0;
  for (int i = 0; !st && i < ps->count; i++)
    t[k++] = (ds_st_tensor){ps->info[i].name, ps->info[i].shape, ps->data + ps->info[i].offset};
  for (int i = 0; !st && i < nb; i++)
    t[k++] = (ds_st_tensor){bs->info[i].name, bs->info[i].shape, bs->data + bs->info[i].offset};
  for (int i = 0; !st && i < no; i++) {
    const char *name;
    float *data;
    int64_t numel;
    st = ds_optim_state(r->opt, i, &name, &data, &numel);
    if (st) break;
    snprintf(onames[i], sizeof onames[i], "optim.%s", name);
    t[k++] = (ds_st_tensor){onames[i], ds_shape1(numel), data};
  }
  meta_list m = {.n = 0};
  char rng_buf[3][80];
  if (!st) {
    meta_add(&m, "format", CK_FORMAT);
    meta_addf(&m, "step", "%" PRId64, pos.step);
    meta_addf(&m, "epoch", "%" PRId64, pos.epoch);
    meta_add(&m, "optim.name", ds_optim_name(r->opt));
    int nsc = ds_optim_scalar_count(r->opt);
    static char sc_keys[16][80];
    for (int i = 0; i < nsc && i < 16; i++) {
      const char *name;
      double *v;
      if (ds_optim_scalar(r->opt, i, &name, &v)) continue;
      snprintf(sc_keys[i], sizeof sc_keys[i], "optim.scalar.%s", name);
      meta_addf(&m, sc_keys[i], "%.17g", *v);
    }
    rng_str(rng_buf[0], sizeof rng_buf[0], ds_graph_rng(r->g));
    meta_add(&m, "rng.dropout", rng_buf[0]);
    ds_loader_state ls;
    ds_loader_get_state(r->loader, &ls);
    meta_addf(&m, "loader.epoch", "%" PRId64, ls.epoch);
    meta_addf(&m, "loader.position", "%" PRId64, ls.position);
    rng_str(rng_buf[1], sizeof rng_buf[1], &ls.order_rng);
    rng_str(rng_buf[2], sizeof rng_buf[2], &ls.augment_rng);
    meta_add(&m, "loader.order_rng", rng_buf[1]);
    meta_add(&m, "loader.augment_rng", rng_buf[2]);
    meta_add(&m, "config", cfg);
    st = ds_safetensors_write(path, t, k, m.kv, m.n);
  }
  free(cfg);
  ds_free(t);
  ds_free(onames);
  return st;
}

int checkpoint_read_config(const char *path, settings *cfg) {
  ds_safetensors *s = ds_safetensors_read(path);
  if (!s) return DS_EFORMAT;
  const char *fmt = ds_safetensors_meta(s, "format"), *text = ds_safetensors_meta(s, "config");
  int st = 0;
  if (!fmt || strcmp(fmt, CK_FORMAT) || !text)
    st = ds_set_error(DS_EFORMAT, "checkpoint '%s': not a descent checkpoint (no format/config metadata)", path);
  char what[600];
  snprintf(what, sizeof what, "checkpoint '%s'", path);
  if (!st) st = settings_load_ini_string(cfg, text, what);
  ds_safetensors_free(s);
  return st;
}

static int meta_i64(const ds_safetensors *s, const char *path, const char *key, int64_t *out) {
  const char *v = ds_safetensors_meta(s, key);
  char *end;
  if (!v || !*v || (*out = strtoll(v, &end, 10), *end))
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': metadata '%s' missing or malformed", path, key);
  return 0;
}

/* Copies every tensor of ps from the checkpoint, naming the first missing or misshaped one. */
static int load_set(const ds_safetensors *s, const char *path, ds_paramset *ps) {
  for (int i = 0; ps && i < ps->count; i++) {
    int st = ds_safetensors_copy(s, ps->info[i].name, ps->info[i].shape, ps->data + ps->info[i].offset);
    if (st) {
      char msg[700];
      snprintf(msg, sizeof msg, "%s", ds_last_error());
      return ds_set_error(DS_ESHAPE, "checkpoint '%s' does not fit this model: %s", path, msg);
    }
  }
  return 0;
}

int checkpoint_load(run *r, const char *path, bool full, run_pos *pos) {
  ds_safetensors *s = ds_safetensors_read(path);
  if (!s) return DS_EFORMAT;
  int st = 0;
  const char *fmt = ds_safetensors_meta(s, "format");
  if (!fmt || strcmp(fmt, CK_FORMAT))
    st = ds_set_error(DS_EFORMAT, "checkpoint '%s': not a descent checkpoint (format '%s')", path,
                      fmt ? fmt : "missing");
  ds_paramset *ps = ds_graph_params(r->g), *bs = ds_graph_buffers(r->g);
  /* A checkpoint of a larger model would pass the per-tensor checks: count the model tensors. */
  int model_tensors = 0;
  for (int i = 0; i < ds_safetensors_count(s); i++)
    model_tensors += strncmp(ds_safetensors_name(s, i), "optim.", 6) != 0;
  int expect = ps->count + (bs ? bs->count : 0);
  if (!st) st = load_set(s, path, ps);
  if (!st) st = load_set(s, path, bs);
  if (!st && model_tensors != expect)
    st = ds_set_error(DS_ESHAPE, "checkpoint '%s' does not fit this model: %d model tensors, the model has %d",
                      path, model_tensors, expect);
  run_pos p = {0, 0};
  if (!st) st = meta_i64(s, path, "step", &p.step);
  if (!st) st = meta_i64(s, path, "epoch", &p.epoch);
  if (!st && r->opt) {
    const char *on = ds_safetensors_meta(s, "optim.name");
    bool same = on && !strcmp(on, ds_optim_name(r->opt));
    if (full && !same)
      st = ds_set_error(DS_EINVAL, "checkpoint '%s': optimizer '%s' differs from optim.name '%s'", path,
                        on ? on : "?", ds_optim_name(r->opt));
    for (int i = 0; !st && same && i < ds_optim_state_count(r->opt); i++) {
      const char *name;
      float *data;
      int64_t numel;
      char key[DS_NAME_MAX + 8];
      st = ds_optim_state(r->opt, i, &name, &data, &numel);
      snprintf(key, sizeof key, "optim.%s", name);
      if (!st) st = ds_safetensors_copy(s, key, ds_shape1(numel), data);
    }
    for (int i = 0; !st && same && i < ds_optim_scalar_count(r->opt); i++) {
      const char *name;
      double *v;
      char key[96];
      st = ds_optim_scalar(r->opt, i, &name, &v);
      snprintf(key, sizeof key, "optim.scalar.%s", name);
      const char *text = ds_safetensors_meta(s, key);
      char *end;
      if (!st && (!text || (*v = strtod(text, &end), *end)))
        st = ds_set_error(DS_EFORMAT, "checkpoint '%s': metadata '%s' missing or malformed", path, key);
    }
  }
  if (!st && full) {
    ds_loader_state ls;
    ds_loader_get_state(r->loader, &ls);
    st = rng_parse(ds_safetensors_meta(s, "rng.dropout"), ds_graph_rng(r->g), path, "rng.dropout");
    if (!st) st = meta_i64(s, path, "loader.epoch", &ls.epoch);
    if (!st) st = meta_i64(s, path, "loader.position", &ls.position);
    if (!st) st = rng_parse(ds_safetensors_meta(s, "loader.order_rng"), &ls.order_rng, path, "loader.order_rng");
    if (!st) st = rng_parse(ds_safetensors_meta(s, "loader.augment_rng"), &ls.augment_rng, path, "loader.augment_rng");
    if (!st) st = ds_loader_set_state(r->loader, &ls);
  }
  if (!st && pos) *pos = p;
  ds_safetensors_free(s);
  return st;
}
