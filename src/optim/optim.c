/* The optimizer interface: registry, hyperparameters, state, the step driver and the chunked
 * parallel loop shared by every optimizer (see optim_internal.h for the work division). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "descent/alloc.h"
#include "descent/kv.h"
#include "optim/optim_internal.h"

static const ds__kind *const kinds[] = {
    &ds__sgd,   &ds__sgdw,   &ds__adagrad, &ds__rmsprop,         &ds__adadelta, &ds__adam,
    &ds__adamw, &ds__adamax, &ds__nadam,   &ds__radam,           &ds__adamp,    &ds__sgdp,
    &ds__lars,  &ds__lamb,   &ds__lion,    &ds__schedfree_adamw, &ds__muon,
};
#define NKINDS ((int)(sizeof kinds / sizeof *kinds))

const char *const *ds_optim_names(int *count) {
  static const char *names[NKINDS + 1]; /* NULL-terminated */
  for (int i = 0; i < NKINDS; i++)
    names[i] = kinds[i]->name; /* idempotent, same values */
  if (count) *count = NKINDS;
  return names;
}

int ds__hyper_index(const ds__kind *k, const char *key) {
  for (int i = 0; key && k->hypers[i].key; i++)
    if (!strcmp(k->hypers[i].key, key)) return i;
  return -1;
}

static int nhypers(const ds__kind *k) {
  int n = 0;
  while (k->hypers[n].key)
    n++;
  return n;
}

static int nscalars(const ds__kind *k) {
  int n = 1; /* "step" */
  while (k->scalars && k->scalars[n - 1])
    n++;
  return n;
}

/* ---- work division ------------------------------------------------------------------------ */

/* Units of parameter p: output rows for rank >= 2, the whole tensor otherwise. */
static void unit_shape(const ds_param_info *p, int64_t *nunits, int64_t *unit_len) {
  if (p->shape.rank >= 2) {
    *nunits = p->shape.dim[0];
    *unit_len = p->numel / p->shape.dim[0];
  } else {
    *nunits = 1;
    *unit_len = p->numel;
  }
}

/* Cuts the flat buffer into segments and chunks; fill = false only counts them. */
static void divide(ds_optim *o, bool fill) {
  const ds_paramset *ps = o->ps;
  int64_t nseg = 0, nch = 0, nunit = 0;
  for (int i = 0; i < ps->count; i++) {
    const ds_param_info *p = &ps->info[i];
    int64_t nunits, len;
    unit_shape(p, &nunits, &len);
    if (fill) o->unit0[i] = nunit;
    int64_t chunk_len = DS__CHUNK; /* forces a new chunk at the parameter's first segment */
    for (int64_t u = 0; u < nunits; u++) {
      for (int64_t off = 0; off < len; off += DS__CHUNK) {
        int64_t n = len - off < DS__CHUNK ? len - off : DS__CHUNK;
        int64_t begin = p->offset + u * len + off;
        if (chunk_len + n > DS__CHUNK) { /* start a new chunk */
          if (fill) o->chunks[nch] = (ds__chunk){begin, 0, i, 0, 0};
          nch++;
          chunk_len = 0;
        }
        if (fill) {
          ds__chunk *c = &o->chunks[nch - 1];
          if (c->nseg == 0) c->seg0 = nseg;
          c->n += n;
          c->nseg++;
          o->segs[nseg] = (ds__segment){begin, n, nunit + u};
        }
        chunk_len += n;
        nseg++;
      }
    }
    nunit += nunits;
  }
  o->nchunks = nch;
  o->nsegs = nseg;
  o->nunits = nunit;
}

void ds__for_chunks(ds_optim *o, ds__chunk_fn fn, const void *ctx) {
  const int64_t n = o->nchunks;
  const ds__chunk *ch = o->chunks;
#pragma omp parallel for schedule(static) if (o->numel >= DS__PAR_MIN)
  for (int64_t i = 0; i < n; i++)
    fn(o, &ch[i], ctx);
}

void ds__reduce_stats(ds_optim *o) {
  const int s = o->kind->nstat;
  memset(o->unit_stat, 0, (size_t)(o->nunits * s) * sizeof(double));
  memset(o->param_stat, 0, (size_t)(o->count * s) * sizeof(double));
  for (int64_t c = 0; c < o->nchunks; c++) {
    const ds__chunk *ch = &o->chunks[c];
    for (int64_t j = ch->seg0; j < ch->seg0 + ch->nseg; j++) {
      const double *src = &o->seg_stat[j * s];
      double *u = &o->unit_stat[o->segs[j].unit * s];
      double *p = &o->param_stat[(int64_t)ch->param * s];
      for (int k = 0; k < s; k++) {
        u[k] += src[k];
        p[k] += src[k];
      }
    }
  }
}

double ds__sumsq(const float *x, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; i++)
    s += (double)x[i] * x[i];
  return s;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

ds_optim *ds_optim_new(const char *name, ds_paramset *ps) {
  if (!name || !ps) {
    ds_set_error(DS_EINVAL, "ds_optim_new: NULL %s", name ? "parameter set" : "name");
    return NULL;
  }
  const ds__kind *k = NULL;
  for (int i = 0; i < NKINDS; i++)
    if (!strcmp(kinds[i]->name, name)) k = kinds[i];
  if (!k) {
    char list[300];
    ds_set_error(DS_ENOTFOUND, "unknown optimizer '%s' (known: %s)", name,
                 ds_kv_join(ds_optim_names(NULL), list, sizeof list));
    return NULL;
  }
  ds_optim *o = ds_calloc(1, sizeof *o);
  if (!o) return NULL;
  o->kind = k;
  o->ps = ps;
  o->numel = ps->numel;
  o->count = ps->count;
  for (int i = 0; k->hypers[i].key; i++) {
    o->h[i][0] = k->hypers[i].def[0];
    o->h[i][1] = k->hypers[i].def[1];
    o->hnone[i] = false;
  }
  if (k->init_scalars) k->init_scalars(o);
  divide(o, false);
  o->chunks = ds_calloc((size_t)(o->nchunks ? o->nchunks : 1), sizeof *o->chunks);
  o->segs = ds_calloc((size_t)(o->nsegs ? o->nsegs : 1), sizeof *o->segs);
  o->unit0 = ds_calloc((size_t)(ps->count ? ps->count : 1), sizeof *o->unit0);
  if (!o->chunks || !o->segs || !o->unit0) goto fail;
  divide(o, true);
  if (k->nstat) {
    o->seg_stat = ds_calloc((size_t)((o->nsegs + 1) * k->nstat), sizeof(double));
    o->unit_stat = ds_calloc((size_t)((o->nunits + 1) * k->nstat), sizeof(double));
    o->param_stat = ds_calloc((size_t)((ps->count + 1) * k->nstat), sizeof(double));
    if (!o->seg_stat || !o->unit_stat || !o->param_stat) goto fail;
  }
  if (k->trust_ratios) {
    if (!(o->trust = ds_malloc(sizeof(double) * (size_t)(ps->count ? ps->count : 1)))) goto fail;
    for (int i = 0; i < ps->count; i++)
      o->trust[i] = NAN;
  }
  return o;
fail:
  ds_optim_free(o);
  ds_set_error(DS_ENOMEM, "optimizer '%s': out of memory", name);
  return NULL;
}

void ds_optim_free(ds_optim *o) {
  if (!o) return;
  for (int i = 0; i < DS__MAX_STATE; i++)
    ds_free(o->state[i]);
  ds_free(o->chunks);
  ds_free(o->segs);
  ds_free(o->unit0);
  ds_free(o->seg_stat);
  ds_free(o->unit_stat);
  ds_free(o->param_stat);
  ds_free(o->scratch);
  ds_free(o->trust);
  ds_free(o);
}

const char *ds_optim_name(const ds_optim *o) { return o ? o->kind->name : ""; }
const char *ds_optim_reference(const ds_optim *o) { return o ? o->kind->reference : ""; }

/* ---- hyperparameters ----------------------------------------------------------------------- */

static ds_status check_value(const ds_optim *o, const ds__hyper *h, double v) {
  const char *on = o->kind->name;
  if (!isfinite(v))
    return ds_set_error(DS_EINVAL, "optimizer '%s': hyperparameter '%s' must be finite", on,
                        h->key);
  if (h->type == DS__BOOL && v != 0 && v != 1)
    return ds_set_error(DS_EINVAL, "optimizer '%s': hyperparameter '%s' is a boolean, got %g", on,
                        h->key, v);
  if (h->type == DS__INT && v != floor(v))
    return ds_set_error(DS_EINVAL, "optimizer '%s': hyperparameter '%s' must be an integer, got %g",
                        on, h->key, v);
  if (h->type != DS__BOOL && (v < h->lo || v > h->hi || (h->hi_open && v == h->hi)))
    return ds_set_error(DS_EINVAL, "optimizer '%s': hyperparameter '%s' = %g is outside %s%g, %g%s",
                        on, h->key, v, "[", h->lo, h->hi, h->hi_open ? ")" : "]");
  return DS_OK;
}

/* Whether the state buffers the hyperparameters need are still those allocated. */
static bool state_layout_kept(const ds_optim *o) {
  const char *names[DS__MAX_STATE];
  if (!o->allocated) return true;
  if (o->kind->states(o, names) != o->nstate) return false;
  for (int i = 0; i < o->nstate; i++)
    if (strcmp(names[i], o->state_names[i])) return false;
  return true;
}

ds_status ds_optim_set(ds_optim *o, const char *key, const double *values, int n) {
  if (!o || !key || (n > 0 && !values))
    return ds_set_error(DS_EINVAL, "ds_optim_set: NULL argument");
  const char *on = o->kind->name;
  int i = ds__hyper_index(o->kind, key);
  if (i < 0)
    return ds_set_error(DS_ENOTFOUND, "optimizer '%s': unknown hyperparameter '%s'", on, key);
  const ds__hyper *h = &o->kind->hypers[i];
  int want = h->type == DS__PAIR ? 2 : 1;
  bool none = n == 0 && h->type == DS__REAL_OR_NONE;
  if (n != want && !none)
    return ds_set_error(DS_EINVAL, "optimizer '%s': hyperparameter '%s' takes %d value%s, got %d%s",
                        on, key, want, want > 1 ? "s" : "", n,
                        n == 0 ? " (none is not allowed here)" : "");
  for (int j = 0; j < n; j++) {
    ds_status st = check_value(o, h, values[j]);
    if (st) return st;
  }
  double old[2] = {o->h[i][0], o->h[i][1]};
  bool old_none = o->hnone[i];
  for (int j = 0; j < n; j++)
    o->h[i][j] = values[j];
  o->hnone[i] = none;
  if (!state_layout_kept(o)) {
    o->h[i][0] = old[0];
    o->h[i][1] = old[1];
    o->hnone[i] = old_none;
    return ds_set_error(
        DS_ESTATE,
        "optimizer '%s': changing '%s' would add or remove a state buffer after the "
        "state was created",
        on, key);
  }
  return DS_OK;
}

ds_paramset *ds_optim_params(const ds_optim *o) { return o ? o->ps : NULL; }

ds_status ds_optim_set_str(ds_optim *o, const char *key, const char *value) {
  if (!o || !key || !value) return ds_set_error(DS_EINVAL, "ds_optim_set_str: NULL argument");
  char what[160];
  snprintf(what, sizeof what, "optimizer '%s': hyperparameter '%s'", o->kind->name, key);
  double v[2] = {0, 0};
  int n = 0;
  ds_status st = ds_kv_values(what, value, v, 2, &n);
  return st ? st : ds_optim_set(o, key, v, n);
}

int ds_optim_hyper_count(const ds_optim *o) { return o ? nhypers(o->kind) : 0; }

ds_status ds_optim_hyper(const ds_optim *o, int i, const char **key, double values[2], int *n,
                         bool *is_bool) {
  if (!o || i < 0 || i >= nhypers(o->kind))
    return ds_set_error(DS_EINVAL, "ds_optim_hyper: index %d out of range", i);
  const ds__hyper *h = &o->kind->hypers[i];
  if (key) *key = h->key;
  if (values) {
    values[0] = o->h[i][0];
    values[1] = o->h[i][1];
  }
  if (n) *n = o->hnone[i] ? 0 : h->type == DS__PAIR ? 2 : 1;
  if (is_bool) *is_bool = h->type == DS__BOOL;
  return DS_OK;
}

double ds_optim_default_lr(const ds_optim *o) {
  int i = o ? ds__hyper_index(o->kind, "lr") : -1;
  return i < 0 ? 0.0 : o->h[i][0];
}

/* ---- state --------------------------------------------------------------------------------- */

static ds_status alloc_state(ds_optim *o) {
  if (o->allocated) return DS_OK;
  const char *names[DS__MAX_STATE];
  int n = o->kind->states(o, names);
  for (int i = 0; i < n; i++) {
    o->state[i] = ds_calloc((size_t)(o->numel ? o->numel : 1), sizeof(float));
    if (!o->state[i]) goto fail;
  }
  if (o->kind->scratch_floats) {
    int64_t s = o->kind->scratch_floats(o);
    if (s > 0 && !(o->scratch = ds_calloc((size_t)s, sizeof(float)))) goto fail;
  }
  o->nstate = n;
  for (int i = 0; i < n; i++)
    o->state_names[i] = names[i];
  o->allocated = true;
  if (o->kind->init_state) o->kind->init_state(o);
  return DS_OK;
fail:
  for (int i = 0; i < n; i++) {
    ds_free(o->state[i]);
    o->state[i] = NULL;
  }
  return ds_set_error(DS_ENOMEM, "optimizer '%s': out of memory for its state (%d x %lld floats)",
                      o->kind->name, n, (long long)o->numel);
}

int ds_optim_state_count(const ds_optim *o) {
  const char *names[DS__MAX_STATE];
  if (!o) return 0;
  return o->allocated ? o->nstate : o->kind->states(o, names);
}

ds_status ds_optim_state_info(const ds_optim *o, int i, const char **name, int64_t *numel) {
  const char *names[DS__MAX_STATE];
  int n = !o ? 0 : o->allocated ? o->nstate : o->kind->states(o, names);
  if (!o || i < 0 || i >= n)
    return ds_set_error(DS_EINVAL, "ds_optim_state_info: state index %d out of range (%d)", i, n);
  if (name) *name = o->allocated ? o->state_names[i] : names[i];
  if (numel) *numel = o->numel;
  return DS_OK;
}

ds_status ds_optim_state(ds_optim *o, int i, const char **name, float **data, int64_t *numel) {
  if (!o) return ds_set_error(DS_EINVAL, "ds_optim_state: NULL optimizer");
  ds_status st = alloc_state(o);
  if (st) return st;
  if (i < 0 || i >= o->nstate)
    return ds_set_error(DS_EINVAL, "optimizer '%s': state index %d out of range (it has %d)",
                        o->kind->name, i, o->nstate);
  if (name) *name = o->state_names[i];
  if (data) *data = o->state[i];
  if (numel) *numel = o->numel;
  return DS_OK;
}

int ds_optim_scalar_count(const ds_optim *o) { return o ? nscalars(o->kind) : 0; }

ds_status ds_optim_scalar(ds_optim *o, int i, const char **name, double **value) {
  if (!o || i < 0 || i >= nscalars(o->kind))
    return ds_set_error(DS_EINVAL, "ds_optim_scalar: index %d out of range", i);
  if (name) *name = i == 0 ? "step" : o->kind->scalars[i - 1];
  if (value) *value = &o->scalar[i];
  return DS_OK;
}

int64_t ds_optim_step_count(const ds_optim *o) { return o ? ds__t(o) : 0; }

const double *ds_optim_trust_ratios(const ds_optim *o) { return o ? o->trust : NULL; }

/* ---- stepping ------------------------------------------------------------------------------ */

ds_status ds_optim_step(ds_optim *o, float lr) {
  if (!o) return ds_set_error(DS_EINVAL, "ds_optim_step: NULL optimizer");
  const char *on = o->kind->name;
  if (!isfinite(lr) || lr < 0)
    return ds_set_error(DS_EINVAL, "optimizer '%s': learning rate %g must be finite and >= 0", on,
                        (double)lr);
  if (o->ps->numel != o->numel || o->ps->count != o->count)
    return ds_set_error(DS_ESTATE,
                        "optimizer '%s': the parameter set changed after the optimizer was created "
                        "(%d tensors, %lld values; now %d, %lld)",
                        on, o->count, (long long)o->numel, o->ps->count, (long long)o->ps->numel);
  double t = o->scalar[0];
  if (t < 0 || t != floor(t) || t > 9e15)
    return ds_set_error(DS_ESTATE, "optimizer '%s': step counter %g is not a valid count", on, t);
  if (ds_optim_in_eval_mode(o))
    return ds_set_error(DS_ESTATE,
                        "optimizer '%s': step called in eval mode (call "
                        "ds_optim_eval_mode(o, false) first)",
                        on);
  if (o->kind->check) {
    ds_status st = o->kind->check(o);
    if (st) return st;
  }
  ds_status st = alloc_state(o);
  if (st) return st;
  o->scalar[0] = t + 1;
  o->kind->step(o, lr);
  return DS_OK;
}

/* ---- train / eval -------------------------------------------------------------------------- */

ds_status ds_optim_eval_mode(ds_optim *o, bool eval) {
  if (!o) return ds_set_error(DS_EINVAL, "ds_optim_eval_mode: NULL optimizer");
  return o->kind->eval_mode ? o->kind->eval_mode(o, eval) : DS_OK;
}

bool ds_optim_in_eval_mode(const ds_optim *o) {
  if (!o || !o->kind->eval_mode) return false;
  /* schedule-free kinds keep the flag as their last scalar ("eval_mode") */
  return o->scalar[nscalars(o->kind) - 1] != 0;
}

int ds__states_adam_like(const ds_optim *o, const char **names) {
  (void)o;
  names[0] = "exp_avg";
  names[1] = "exp_avg_sq";
  return 2;
}
