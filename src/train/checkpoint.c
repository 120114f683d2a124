/* Trainer checkpoints in the safetensors format (src/io/safetensors.c):
 *   tensors   every parameter and buffer under its own name ("fc1.weight", "bn1.running_mean"),
 *             every optimizer state buffer as "optim.<name>" (flat, the parameter layout)
 *   metadata  format, step, epoch, optimizer name and scalars ("optim.scalar.<name>", 17 digits),
 *             dropout RNG, loader state (epoch, position, shuffle and augmentation RNGs: the data
 *             order is regenerated from them), the objective's running state ("objective.<name>",
 *             stochastic TERM's normaliser), plus the caller's pairs (e.g. the config). */
#include <inttypes.h>
#include <math.h>
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
  meta_addf(m, key, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, r->s[0], r->s[1],
            r->s[2], r->s[3]);
}

/* ---- the objective's running state (stochastic TERM): "objective.<name>" = %.17g doubles ---- */

#define CK_MAX_OBJECTIVE 4

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

ds_status ds_trainer_save(ds_trainer *t, const char *path, const char *const *meta, int n_meta) {
  if (!t || !path || (n_meta > 0 && !meta))
    return ds_set_error(DS_EINVAL, "trainer save: invalid arguments");
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
    meta_addf(m, "run.epoch_loss", "%.17g", t->sums.epoch_loss);
    meta_addf(m, "run.epoch_samples", "%" PRId64, t->sums.epoch_samples);
    meta_addf(m, "run.epoch_correct", "%" PRId64, t->sums.epoch_correct);
    meta_addf(m, "run.window_loss", "%.17g", t->sums.window_loss);
    meta_addf(m, "run.window_steps", "%" PRId64, t->sums.window_steps);
    meta_addf(m, "run.window_objective", "%.17g", t->sums.window_objective);
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

static ds_status malformed(const char *path, const char *key) {
  return ds_set_error(DS_EFORMAT, "checkpoint '%s': metadata '%s' missing or malformed", path, key);
}

/* A non-negative integer from the metadata; absent keys are an error unless dflt >= 0. */
static ds_status meta_i64(const ds_safetensors *s, const char *path, const char *key, int64_t dflt,
                          int64_t *out) {
  const char *v = ds_safetensors_meta(s, key);
  if (!v && dflt >= 0) return *out = dflt, DS_OK;
  char *end;
  if (!v || !*v || (*out = strtoll(v, &end, 10), *end) || *out < 0) return malformed(path, key);
  return DS_OK;
}

/* A finite real from the metadata; absent: dflt (NAN: required). */
static ds_status meta_f64(const ds_safetensors *s, const char *path, const char *key, double dflt,
                          double *out) {
  const char *v = ds_safetensors_meta(s, key);
  if (!v && !isnan(dflt)) return *out = dflt, DS_OK;
  char *end;
  if (!v || !*v || (*out = strtod(v, &end), *end) || !isfinite(*out)) return malformed(path, key);
  return DS_OK;
}

/* An RNG state: 64 hex digits, not all zero (the generator's one degenerate state). */
static ds_status meta_rng(const ds_safetensors *s, const char *path, const char *key, ds_rng *r) {
  const char *v = ds_safetensors_meta(s, key);
  if (!v || strlen(v) != 64) return malformed(path, key);
  ds_rng out;
  for (int i = 0; i < 4; i++) {
    char part[17], *end;
    memcpy(part, v + 16 * i, 16);
    part[16] = '\0';
    out.s[i] = strtoull(part, &end, 16);
    if (*end) return malformed(path, key);
  }
  if (!(out.s[0] | out.s[1] | out.s[2] | out.s[3])) return malformed(path, key);
  *r = out;
  return DS_OK;
}

/* Finds tensor `name` with the given shape and finite values; errors name the tensor. */
static ds_status find_tensor(const ds_safetensors *s, const char *path, const char *name,
                             ds_shape shape, const float **data) {
  ds_shape have;
  ds_status st = ds_safetensors_get(s, name, &have, data);
  char a[64], b[64];
  if (st)
    return ds_set_error(DS_ESHAPE, "checkpoint '%s' does not fit this model: no tensor '%s'", path,
                        name);
  if (!ds_shape_equal(&have, &shape))
    return ds_set_error(
        DS_ESHAPE, "checkpoint '%s' does not fit this model: tensor '%s' is %s, expected %s", path,
        name, ds_shape_str(&have, a, sizeof a), ds_shape_str(&shape, b, sizeof b));
  int64_t n = ds_shape_numel(&shape);
  for (int64_t i = 0; i < n; i++)
    if (!isfinite((*data)[i]))
      return ds_set_error(DS_ENUMERIC,
                          "checkpoint '%s': tensor '%s' holds a non-finite value (%g at %lld)",
                          path, name, (double)(*data)[i], (long long)i);
  return DS_OK;
}

#define CK_MAX_SCALARS 16

/* Everything a load will write, read and checked first (phase 1), copied in phase 2. */
typedef struct {
  const float **model; /* params then buffers: source pointers into the file */
  const float **optim; /* optimizer state buffers, or NULL when not loaded */
  int n_optim;
  double scalars[CK_MAX_SCALARS];
  int n_scalars;
  bool full;
  int64_t step, epoch;
  ds_rng dropout;
  ds_loader_state loader;
  ds__run_sums sums;
  double objective[CK_MAX_OBJECTIVE]; /* the objective's state */
} plan;

static ds_status check_optim(ds_trainer *t, const ds_safetensors *s, const char *path, plan *pl) {
  pl->n_optim = ds_optim_state_count(t->p.opt);
  pl->n_scalars = ds_optim_scalar_count(t->p.opt);
  if (pl->n_scalars > CK_MAX_SCALARS)
    return ds_set_error(DS_EINVAL, "checkpoint: too many optimizer scalars");
  pl->optim = ds_calloc((size_t)pl->n_optim + 1, sizeof *pl->optim);
  if (!pl->optim) return DS_ENOMEM;
  for (int i = 0; i < pl->n_optim; i++) {
    const char *name;
    int64_t numel;
    char key[DS_NAME_MAX + 8];
    ds_status st = ds_optim_state_info(t->p.opt, i, &name, &numel);
    if (st) return st;
    snprintf(key, sizeof key, "optim.%s", name);
    st = find_tensor(s, path, key, ds_shape1(numel), &pl->optim[i]);
    if (st) return st;
  }
  for (int i = 0; i < pl->n_scalars; i++) {
    const char *name;
    char key[96];
    ds_status st = ds_optim_scalar(t->p.opt, i, &name, NULL);
    if (st) return st;
    snprintf(key, sizeof key, "optim.scalar.%s", name);
    st = meta_f64(s, path, key, NAN, &pl->scalars[i]);
    if (st) return st;
    if (i == 0 && (pl->scalars[0] < 0 || pl->scalars[0] != floor(pl->scalars[0])))
      return malformed(path, key);
  }
  return DS_OK;
}

static ds_status check_run(ds_trainer *t, const ds_safetensors *s, const char *path, plan *pl) {
  ds_loader_get_state(t->p.loader, &pl->loader);
  ds_status st = meta_i64(s, path, "step", -1, &pl->step);
  if (!st) st = meta_i64(s, path, "epoch", -1, &pl->epoch);
  if (!st) st = meta_rng(s, path, "rng.dropout", &pl->dropout);
  if (!st) st = meta_i64(s, path, "loader.epoch", -1, &pl->loader.epoch);
  if (!st) st = meta_i64(s, path, "loader.position", -1, &pl->loader.position);
  if (!st) st = meta_rng(s, path, "loader.order_rng", &pl->loader.order_rng);
  if (!st) st = meta_rng(s, path, "loader.augment_rng", &pl->loader.augment_rng);
  if (!st) st = ds_loader_check_state(t->p.loader, &pl->loader);
  if (!st && pl->loader.epoch != pl->epoch)
    st = ds_set_error(DS_EFORMAT, "checkpoint '%s': epoch %lld and the loader's epoch %lld differ",
                      path, (long long)pl->epoch, (long long)pl->loader.epoch);
  if (!st && pl->step < pl->epoch)
    st = ds_set_error(DS_EFORMAT, "checkpoint '%s': %lld steps cannot complete %lld epochs", path,
                      (long long)pl->step, (long long)pl->epoch);
  /* the running sums (absent in checkpoints written at an epoch's end by older versions: zero) */
  ds__run_sums *r = &pl->sums;
  if (!st) st = meta_f64(s, path, "run.epoch_loss", 0, &r->epoch_loss);
  if (!st) st = meta_i64(s, path, "run.epoch_samples", 0, &r->epoch_samples);
  if (!st) st = meta_i64(s, path, "run.epoch_correct", 0, &r->epoch_correct);
  if (!st) st = meta_f64(s, path, "run.window_loss", 0, &r->window_loss);
  if (!st) st = meta_i64(s, path, "run.window_steps", 0, &r->window_steps);
  if (!st) st = meta_f64(s, path, "run.window_objective", 0, &r->window_objective);
  for (int i = 0; !st && i < ds_objective_state_count(t->o.objective) && i < CK_MAX_OBJECTIVE;
       i++) {
    const char *name;
    char key[96];
    st = ds_objective_state(t->o.objective, i, &name, NULL);
    snprintf(key, sizeof key, "objective.%s", name);
    if (!st) st = meta_f64(s, path, key, NAN, &pl->objective[i]);
  }
  return st;
}

/* Phase 1: reads and checks everything the load will write; touches nothing of the trainer. */
static ds_status check_all(ds_trainer *t, const ds_safetensors *s, const char *path, bool full,
                           plan *pl) {
  const char *fmt = ds_safetensors_meta(s, "format");
  if (!fmt || strcmp(fmt, CK_FORMAT))
    return ds_set_error(DS_EFORMAT, "checkpoint '%s': not a descent checkpoint (format '%s')", path,
                        fmt ? fmt : "missing");
  ds_paramset *sets[2] = {ds_graph_params(t->p.g), ds_graph_buffers(t->p.g)};
  int expect = sets[0]->count + sets[1]->count, have = 0, k = 0;
  /* a checkpoint of a larger model would pass the per-tensor checks: count the model tensors */
  for (int i = 0; i < ds_safetensors_count(s); i++)
    have += strncmp(ds_safetensors_name(s, i), "optim.", 6) != 0;
  pl->model = ds_calloc((size_t)expect + 1, sizeof *pl->model);
  if (!pl->model) return DS_ENOMEM;
  for (int j = 0; j < 2; j++)
    for (int i = 0; i < sets[j]->count; i++) {
      ds_status st =
          find_tensor(s, path, sets[j]->info[i].name, sets[j]->info[i].shape, &pl->model[k++]);
      if (st) return st;
    }
  if (have != expect)
    return ds_set_error(
        DS_ESHAPE, "checkpoint '%s' does not fit this model: %d model tensors, the model has %d",
        path, have, expect);
  const char *on = ds_safetensors_meta(s, "optim.name");
  bool same = on && !strcmp(on, ds_optim_name(t->p.opt));
  if (full && !same)
    return ds_set_error(DS_EINVAL,
                        "checkpoint '%s': optimizer '%s' differs from the trainer's '%s'", path,
                        on ? on : "?", ds_optim_name(t->p.opt));
  ds_status st = same ? check_optim(t, s, path, pl) : DS_OK;
  pl->full = full;
  if (!st && full) st = check_run(t, s, path, pl);
  return st;
}

/* Phase 2: copies what phase 1 checked. Nothing here can fail on the file's content. */
static ds_status commit(ds_trainer *t, const plan *pl) {
  ds_paramset *sets[2] = {ds_graph_params(t->p.g), ds_graph_buffers(t->p.g)};
  int k = 0;
  for (int j = 0; j < 2; j++)
    for (int i = 0; i < sets[j]->count; i++, k++)
      memcpy(sets[j]->data + sets[j]->info[i].offset, pl->model[k],
             sizeof(float) * (size_t)sets[j]->info[i].numel);
  for (int i = 0; pl->optim && i < pl->n_optim; i++) {
    const char *name;
    float *data;
    int64_t numel;
    ds_status st = ds_optim_state(t->p.opt, i, &name, &data, &numel); /* allocates at most */
    if (st) return st;
    memcpy(data, pl->optim[i], sizeof(float) * (size_t)numel);
  }
  for (int i = 0; pl->optim && i < pl->n_scalars; i++) {
    const char *name;
    double *v;
    if (!ds_optim_scalar(t->p.opt, i, &name, &v)) *v = pl->scalars[i];
  }
  if (pl->full) {
    ds_status st = ds_loader_set_state(t->p.loader, &pl->loader);
    if (st) return st;
    *ds_graph_rng(t->p.g) = pl->dropout;
    t->step = pl->step;
    t->epoch = pl->epoch;
    t->sums = pl->sums;
    for (int i = 0; i < ds_objective_state_count(t->o.objective) && i < CK_MAX_OBJECTIVE; i++) {
      double *v;
      if (!ds_objective_state(t->o.objective, i, NULL, &v)) *v = pl->objective[i];
    }
  }
  return DS_OK;
}

ds_status ds_trainer_load(ds_trainer *t, const char *path, bool full) {
  if (!t || !path) return ds_set_error(DS_EINVAL, "trainer load: invalid arguments");
  ds_safetensors *s = ds_safetensors_read(path);
  if (!s) return ds_last_status() ? ds_last_status() : DS_EFORMAT;
  plan pl;
  memset(&pl, 0, sizeof pl);
  ds_status st = check_all(t, s, path, full, &pl);
  if (!st) st = commit(t, &pl);
  ds_free(pl.model);
  ds_free(pl.optim);
  ds_safetensors_free(s);
  return st;
}
