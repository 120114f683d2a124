/* Trainer checkpoints in the safetensors format (src/io/safetensors.c):
 *   tensors   every parameter and buffer under its own name ("fc1.weight", "bn1.running_mean"),
 *             every optimizer state buffer as "optim.<name>" (flat, the parameter layout)
 *   metadata  format, step, epoch, optimizer name and scalars ("optim.scalar.<name>", 17 digits),
 *             dropout RNG, loader state (epoch, position, shuffle and augmentation RNGs: the data
 *             order is regenerated from them), plus the caller's pairs (e.g. the config). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "descent/alloc.h"
#include "descent/io.h"
#include "trainer_internal.h"

#define CK_FORMAT "descent-checkpoint-1"
#define CK_MAX_META 96

typedef struct {
  const char *kv[2 * CK_MAX_META];
  char key[CK_MAX_META][96];
  char val[CK_MAX_META][80];
  int n;
} meta_list;

static void meta_add(meta_list *m, const char *key, const char *value) {
  if (m->n >= CK_MAX_META) return;
  snprintf(m->key[m->n], sizeof m->key[m->n], "%s", key);
  m->kv[2 * m->n] = m->key[m->n];
  m->kv[2 * m->n + 1] = value;
  m->n++;
}

static void meta_addf(meta_list *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void meta_addf(meta_list *m, const char *key, const char *fmt, ...) {
  if (m->n >= CK_MAX_META) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->val[m->n], sizeof m->val[m->n], fmt, ap);
  va_end(ap);
  meta_add(m, key, m->val[m->n]);
}

static void meta_add_rng(meta_list *m, const char *key, const ds_rng *r) {
  meta_addf(m, key, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, r->s[0], r->s[1], r->s[2],
            r->s[3]);
}

/* ---- the objective's running state (stochastic TERM): "objective.<name>" = %.17g doubles ---- */

static void save_objective(ds_trainer *t, meta_list *m) {
  for (int i = 0; i < ds_objective_state_count(t->o.objective); i++) {
    const char *name;
    double *v;
    char key[96];
    if (ds_objective_state(t->o.objective, i, &name, &v)) continue;
    snprintf(key, sizeof key, "objective.%s", name);
    meta_addf(m, key, "%.17g", *v);
  }
}

static ds_status load_objective(ds_trainer *t, const ds_safetensors *s, const char *path) {
  for (int i = 0; i < ds_objective_state_count(t->o.objective); i++) {
    const char *name;
    double *v;
    char key[96], *end;
    if (ds_objective_state(t->o.objective, i, &name, &v)) return DS_EINVAL;
    snprintf(key, sizeof key, "objective.%s", name);
    const char *text = ds_safetensors_meta(s, key);
    double x = text ? strtod(text, &end) : 0;
    if (!text || *end)
      return ds_set_error(DS_EFORMAT, "checkpoint '%s': metadata '%s' missing or malformed", path, key);
    *v = x;
  }
  return DS_OK;
}

ds_status ds_trainer_save(ds_trainer *t, const char *path, const char *const *meta, int n_meta) {
  if (!t || !path || (n_meta > 0 && !meta)) return ds_set_error(DS_EINVAL, "trainer save: invalid arguments");
  ds_paramset *ps = ds_graph_params(t->p.g), *bs = ds_graph_buffers(t->p.g);
  int nb = bs ? bs->count : 0, no = ds_optim_state_count(t->p.opt);
  int n = ps->count + nb + no;
  ds_st_tensor *ten = ds_calloc((size_t)n + 1, sizeof *ten);
  char(*onames)[DS_NAME_MAX + 8] = ds_calloc((size_t)no + 1, sizeof *onames);
  meta_list *m = ds_calloc(1, sizeof *m);
  ds_status st = ten && onames && m ? DS_OK : DS_ENOMEM;
  int k = 0;
  for (int i = 0; !st && i < ps->count; i++)
    ten[k++] = (ds_st_tensor){ps->info[i].name, ps->info[i].shape, ps->data + ps->info[i].offset};
  for (int i = 0; !st && i < nb; i++)
    ten[k++] = (ds_st_tensor){bs->info[i].name, bs->info[i].shape, bs->data + bs->info[i].offset};
  for (int i = 0; !st && i < no; i++) {
    const char *name;
    float *data;
    int64_t numel;
    st = ds_optim_state(t->p.opt, i, &name, &data, &numel);
    if (st) break;
    snprintf(onames[i], sizeof onames[i], "optim.%s", name);
    ten[k++] = (ds_st_tensor){onames[i], ds_shape1(numel), data};
  }
  if (!st) {
    meta_add(m, "format", CK_FORMAT);
    meta_addf(m, "step", "%" PRId64, t->step);
    meta_addf(m, "epoch", "%" PRId64, t->epoch);
    meta_add(m, "optim.name", ds_optim_name(t->p.opt));
    for (int i = 0; i < ds_optim_scalar_count(t->p.opt); i++) {
      const char *name;
      double *v;
      char key[96];
      if (ds_optim_scalar(t->p.opt, i, &name, &v)) continue;
      snprintf(key, sizeof key, "optim.scalar.%s", name);
      meta_addf(m, key, "%.17g", *v);
    }
    meta_add_rng(m, "rng.dropout", ds_graph_rng(t->p.g));
    save_objective(t, m);
    ds_loader_state ls;
    ds_loader_get_state(t->p.loader, &ls);
    meta_addf(m, "loader.epoch", "%" PRId64, ls.epoch);
    meta_addf(m, "loader.position", "%" PRId64, ls.position);
    meta_add_rng(m, "loader.order_rng", &ls.order_rng);
    meta_add_rng(m, "loader.augment_rng", &ls.augment_rng);
    for (int i = 0; i < n_meta; i++) {
      if (m->n >= CK_MAX_META) {
        st = ds_set_error(DS_EINVAL, "checkpoint '%s': too many metadata entries", path);
        break;
      }
      m->kv[2 * m->n] = meta[2 * i];
      m->kv[2 * m->n + 1] = meta[2 * i + 1];
      m->n++;
    }
  }
  if (!st) st = ds_safetensors_write(path, ten, k, m->kv, m->n);
  ds_free(ten);
  ds_free(onames);
  ds_free(m);
  return st;
}

static ds_status meta_i64(const ds_safetensors *s, const char *path, const char *key, int64_t *out) {
  const char *v = ds_safetensors_meta(s, key);
  char *end;
  if (!v || !*v || (*out = strtoll(v, &end, 10), *end))
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': metadata '%s' missing or malformed", path, key);
  return DS_OK;
}

static ds_status meta_rng(const ds_safetensors *s, const char *path, const char *key, ds_rng *r) {
  const char *v = ds_safetensors_meta(s, key);
  if (!v || strlen(v) != 64)
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': metadata '%s' missing or malformed", path, key);
  ds_rng out;
  for (int i = 0; i < 4; i++) {
    char part[17], *end;
    memcpy(part, v + 16 * i, 16);
    part[16] = '\0';
    out.s[i] = strtoull(part, &end, 16);
    if (*end) return ds_set_error(DS_EFORMAT, "checkpoint '%s': metadata '%s' malformed", path, key);
  }
  *r = out;
  return DS_OK;
}

/* Copies every tensor of ps from the checkpoint, naming the first missing or misshaped one. */
static ds_status load_set(const ds_safetensors *s, const char *path, ds_paramset *ps) {
  for (int i = 0; ps && i < ps->count; i++) {
    ds_status st = ds_safetensors_copy(s, ps->info[i].name, ps->info[i].shape, ps->data + ps->info[i].offset);
    if (st) {
      char msg[700];
      snprintf(msg, sizeof msg, "%s", ds_last_error());
      return ds_set_error(DS_ESHAPE, "checkpoint '%s' does not fit this model: %s", path, msg);
    }
  }
  return DS_OK;
}

static ds_status load_optim(ds_trainer *t, const ds_safetensors *s, const char *path) {
  ds_status st = DS_OK;
  for (int i = 0; !st && i < ds_optim_state_count(t->p.opt); i++) {
    const char *name;
    float *data;
    int64_t numel;
    char key[DS_NAME_MAX + 8];
    st = ds_optim_state(t->p.opt, i, &name, &data, &numel);
    if (st) break;
    snprintf(key, sizeof key, "optim.%s", name);
    st = ds_safetensors_copy(s, key, ds_shape1(numel), data);
    if (st) {
      char msg[700];
      snprintf(msg, sizeof msg, "%s", ds_last_error());
      st = ds_set_error(st, "checkpoint '%s': %s", path, msg);
    }
  }
  for (int i = 0; !st && i < ds_optim_scalar_count(t->p.opt); i++) {
    const char *name;
    double *v;
    char key[96];
    st = ds_optim_scalar(t->p.opt, i, &name, &v);
    if (st) break;
    snprintf(key, sizeof key, "optim.scalar.%s", name);
    const char *text = ds_safetensors_meta(s, key);
    char *end;
    double x = text ? strtod(text, &end) : 0;
    if (!text || *end)
      st = ds_set_error(DS_EFORMAT, "checkpoint '%s': metadata '%s' missing or malformed", path, key);
    else
      *v = x;
  }
  return st;
}

ds_status ds_trainer_load(ds_trainer *t, const char *path, bool full) {
  if (!t || !path) return ds_set_error(DS_EINVAL, "trainer load: invalid arguments");
  ds_safetensors *s = ds_safetensors_read(path);
  if (!s) return DS_EFORMAT;
  ds_status st = DS_OK;
  const char *fmt = ds_safetensors_meta(s, "format");
  if (!fmt || strcmp(fmt, CK_FORMAT))
    st = ds_set_error(DS_EFORMAT, "checkpoint '%s': not a descent checkpoint (format '%s')", path,
                      fmt ? fmt : "missing");
  ds_paramset *ps = ds_graph_params(t->p.g), *bs = ds_graph_buffers(t->p.g);
  /* a checkpoint of a larger model would pass the per-tensor checks: count the model tensors */
  int have = 0, expect = ps->count + (bs ? bs->count : 0);
  for (int i = 0; i < ds_safetensors_count(s); i++) have += strncmp(ds_safetensors_name(s, i), "optim.", 6) != 0;
  if (!st) st = load_set(s, path, ps);
  if (!st) st = load_set(s, path, bs);
  if (!st && have != expect)
    st = ds_set_error(DS_ESHAPE, "checkpoint '%s' does not fit this model: %d model tensors, the model has %d",
                      path, have, expect);
  const char *on = ds_safetensors_meta(s, "optim.name");
  bool same = on && !strcmp(on, ds_optim_name(t->p.opt));
  if (!st && full && !same)
    st = ds_set_error(DS_EINVAL, "checkpoint '%s': optimizer '%s' differs from the trainer's '%s'", path,
                      on ? on : "?", ds_optim_name(t->p.opt));
  if (!st && same) st = load_optim(t, s, path);
  if (!st && full) {
    int64_t step = 0, epoch = 0;
    ds_loader_state ls;
    ds_rng dropout;
    ds_loader_get_state(t->p.loader, &ls);
    st = meta_i64(s, path, "step", &step);
    if (!st) st = meta_i64(s, path, "epoch", &epoch);
    if (!st) st = meta_rng(s, path, "rng.dropout", &dropout);
    if (!st) st = meta_i64(s, path, "loader.epoch", &ls.epoch);
    if (!st) st = meta_i64(s, path, "loader.position", &ls.position);
    if (!st) st = meta_rng(s, path, "loader.order_rng", &ls.order_rng);
    if (!st) st = meta_rng(s, path, "loader.augment_rng", &ls.augment_rng);
    if (!st) st = ds_loader_set_state(t->p.loader, &ls);
    if (!st) st = load_objective(t, s, path);
    if (!st) {
      *ds_graph_rng(t->p.g) = dropout;
      t->step = step;
      t->epoch = epoch;
    }
  }
  ds_safetensors_free(s);
  return st;
}
