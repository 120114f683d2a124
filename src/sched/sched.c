/* Schedule objects: hyperparameters by keyword, validation, and the composition
 * lr(k) = scale * (k < W ? base * warmup(k) : inner(floor((k - W) / S))). Formulas: formulas.c. */
/* Round every product separately, as Python does: a fused multiply-add would move phase
 * boundaries such as pct_start * total_steps - 1 off the values PyTorch computes. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "descent/alloc.h"
#include "descent/kv.h"
#include "sched_internal.h"

static const char *const names[] = {
    "constant", "step",     "multistep", "exponential", "cosine", "cosine_restarts",
    "cyclic",   "onecycle", "linear",    "polynomial",  NULL};

const char *const *ds_sched_names(int *count) {
  if (count) *count = (int)(sizeof names / sizeof *names) - 1;
  return names;
}

static const ds__sched_def *find_def(const char *name) {
  for (int i = 0; name && ds__sched_defs[i]; i++)
    if (strcmp(ds__sched_defs[i]->name, name) == 0) return ds__sched_defs[i];
  return NULL;
}

static ds_status unknown_schedule(const char *name) {
  char list[256];
  return ds_set_error(DS_ENOTFOUND, "unknown schedule '%s' (known: %s)", name ? name : "(null)",
                      ds_kv_join(names, list, sizeof list));
}

ds_sched *ds_sched_new(const char *name, double base_lr) {
  const ds__sched_def *def = find_def(name);
  if (!def) {
    unknown_schedule(name);
    return NULL;
  }
  ds_sched *s = ds_calloc(1, sizeof *s);
  if (!s) return NULL;
  s->def = def;
  s->base_lr = base_lr;
  for (int i = 0; def->keys[i].key; i++)
    s->v[i] = def->keys[i].def;
  s->steps_per_epoch = 1;
  s->scale = 1;
  return s;
}

void ds_sched_free(ds_sched *s) {
  if (!s) return;
  ds_free(s->milestones);
  ds_free(s);
}

const char *ds_sched_name(const ds_sched *s) { return s ? s->def->name : NULL; }

ds_status ds_sched_describe(const char *name, char *buf, int size) {
  const ds__sched_def *def = find_def(name);
  if (!def) return unknown_schedule(name);
  if (!buf || size <= 0) return ds_set_error(DS_EINVAL, "ds_sched_describe: no buffer");
  int n = snprintf(buf, (size_t)size, "%s", def->uses_lr ? "lr (base lr)" : "");
  for (int i = 0; def->keys[i].key && n < size; i++) {
    const ds__sched_key *k = &def->keys[i];
    const char *sep = n ? ", " : "";
    size_t left = (size_t)(size - n);
    if (k->flags & DS__K_REQ)
      n += snprintf(buf + n, left, "%s%s (required)", sep, k->key);
    else if (k->flags & DS__K_OPT)
      n += snprintf(buf + n, left, "%s%s=None", sep, k->key);
    else if (k->flags & DS__K_BOOL)
      n += snprintf(buf + n, left, "%s%s=%s", sep, k->key, k->def ? "true" : "false");
    else if (k->flags & DS__K_CHOICE)
      n += snprintf(buf + n, left, "%s%s=%s", sep, k->key, k->choices);
    else
      n += snprintf(buf + n, left, "%s%s=%.6g", sep, k->key, k->def);
  }
  return DS_OK;
}

static int find_key(const ds__sched_def *def, const char *key) {
  for (int i = 0; key && def->keys[i].key; i++)
    if (strcmp(def->keys[i].key, key) == 0) return i;
  return -1;
}

static ds_status unknown_key(const ds_sched *s, const char *key) {
  char list[256] = "";
  int n = s->def->uses_lr ? snprintf(list, sizeof list, "lr") : 0;
  for (int i = 0; s->def->keys[i].key && n < (int)sizeof list; i++)
    n += snprintf(list + n, sizeof list - (size_t)n, "%s%s", n ? ", " : "", s->def->keys[i].key);
  return ds_set_error(DS_ENOTFOUND, "schedule '%s': unknown hyperparameter '%s' (known: %s)",
                      s->def->name, key ? key : "(null)", list);
}

/* Checks one value against the key's flags. */
static ds_status check_value(const ds_sched *s, const ds__sched_key *k, double x) {
  const char *nm = s->def->name;
  if (!isfinite(x))
    return ds_set_error(DS_ENUMERIC, "schedule '%s': '%s' must be finite, got %g", nm, k->key, x);
  if ((k->flags & (DS__K_INT | DS__K_BOOL | DS__K_CHOICE)) && x != floor(x))
    return ds_set_error(DS_EINVAL, "schedule '%s': '%s' must be an integer, got %g", nm, k->key, x);
  if ((k->flags & DS__K_INT) && fabs(x) > 9e15)
    return ds_set_error(DS_EINVAL, "schedule '%s': '%s' = %g is too large", nm, k->key, x);
  if ((k->flags & DS__K_POS) && !(x > 0))
    return ds_set_error(DS_EINVAL, "schedule '%s': '%s' must be > 0, got %g", nm, k->key, x);
  if ((k->flags & DS__K_NONNEG) && x < 0)
    return ds_set_error(DS_EINVAL, "schedule '%s': '%s' must be >= 0, got %g", nm, k->key, x);
  if ((k->flags & DS__K_UNIT) && (x < 0 || x > 1))
    return ds_set_error(DS_EINVAL, "schedule '%s': '%s' must be in [0, 1], got %g", nm, k->key, x);
  if ((k->flags & DS__K_GE1) && x < 1)
    return ds_set_error(DS_EINVAL, "schedule '%s': '%s' must be >= 1, got %g", nm, k->key, x);
  if ((k->flags & DS__K_BOOL) && x != 0 && x != 1)
    return ds_set_error(DS_EINVAL, "schedule '%s': '%s' must be true or false (1 or 0), got %g", nm,
                        k->key, x);
  if (k->flags & DS__K_CHOICE) {
    int count = 1;
    for (const char *c = k->choices; *c; c++)
      count += *c == '|';
    if (x < 0 || x >= count)
      return ds_set_error(DS_EINVAL, "schedule '%s': '%s' must be one of %s", nm, k->key,
                          k->choices);
  }
  return DS_OK;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static ds_status set_list(ds_sched *s, const ds__sched_key *k, const double *v, int n) {
  for (int i = 0; i < n; i++) {
    ds_status st = check_value(s, k, v[i]);
    if (st) return st;
  }
  int64_t *m = n ? ds_malloc((size_t)n * sizeof *m) : NULL;
  if (n && !m) return DS_ENOMEM;
  for (int i = 0; i < n; i++)
    m[i] = (int64_t)v[i];
  if (n) qsort(m, (size_t)n, sizeof *m, cmp_i64);
  ds_free(s->milestones);
  s->milestones = m;
  s->n_milestones = n;
  s->v[k - s->def->keys] = n; /* marks the list as set (an empty list is allowed) */
  return DS_OK;
}

ds_status ds_sched_set(ds_sched *s, const char *key, const double *v, int n) {
  if (!s || !key || (n > 0 && !v) || n < 0)
    return ds_set_error(DS_EINVAL, "ds_sched_set: bad argument");
  if (strcmp(key, "lr") == 0) {
    if (n != 1) return ds_set_error(DS_EINVAL, "schedule '%s': 'lr' takes one value", s->def->name);
    if (!isfinite(v[0]) || v[0] < 0)
      return ds_set_error(DS_EINVAL, "schedule '%s': 'lr' must be finite and >= 0, got %g",
                          s->def->name, v[0]);
    s->base_lr = v[0];
    s->ready = false;
    return DS_OK;
  }
  int i = find_key(s->def, key);
  if (i < 0) return unknown_key(s, key);
  const ds__sched_key *k = &s->def->keys[i];
  ds_status st;
  if (k->flags & DS__K_LIST) {
    st = set_list(s, k, v, n);
  } else if (n == 0) {
    if (!(k->flags & DS__K_OPT))
      return ds_set_error(DS_EINVAL, "schedule '%s': '%s' cannot be None", s->def->name, key);
    s->v[i] = NAN;
    st = DS_OK;
  } else if (n != 1) {
    return ds_set_error(DS_EINVAL, "schedule '%s': '%s' takes one value, got %d", s->def->name, key,
                        n);
  } else {
    st = check_value(s, k, v[0]);
    if (!st) s->v[i] = v[0];
  }
  if (!st) {
    s->ready = false;
    s->user_set |= 1u << i;
  }
  return st;
}

/* Sets key i (from the run) unless the user set it. */
static ds_status fill(ds_sched *s, const char *key, const double *v, int n) {
  int i = find_key(s->def, key);
  if (i < 0 || (s->user_set >> i) & 1u) return DS_OK;
  ds_status st = ds_sched_set(s, key, v, n);
  s->user_set &= ~(1u << i); /* still the run's value: a later horizon may replace it */
  return st;
}

ds_status ds_sched_set_horizon(ds_sched *s, int64_t total_steps) {
  if (!s || total_steps < 1)
    return ds_set_error(DS_EINVAL, "schedule: the run's horizon must be >= 1 step, got %lld",
                        (long long)total_steps);
  /* what the schedule counts: steps after the warm-up, or epochs */
  int64_t rest =
      s->steps_per_epoch > 1 ? total_steps / s->steps_per_epoch : total_steps - s->warmup;
  if (rest < 1) rest = 1;
  double r = (double)rest, lr = s->base_lr;
  const char *name = s->def->name;
  ds_status st = DS_OK;
  if (!strcmp(name, "step")) {
    st = fill(s, "step_size", (double[]){rest / 3 > 0 ? (double)(rest / 3) : 1}, 1);
  } else if (!strcmp(name, "multistep")) {
    st = fill(s, "milestones", (double[]){(double)(rest / 2), (double)(3 * rest / 4)}, 2);
  } else if (!strcmp(name, "exponential")) {
    st = fill(s, "gamma", (double[]){pow(0.01, 1.0 / r)}, 1);
  } else if (!strcmp(name, "cosine")) {
    st = fill(s, "T_max", &r, 1);
  } else if (!strcmp(name, "cosine_restarts")) {
    st = fill(s, "T_0", (double[]){rest / 4 > 0 ? (double)(rest / 4) : 1}, 1);
  } else if (!strcmp(name, "cyclic")) {
    if (isfinite(lr)) st = fill(s, "max_lr", &lr, 1);
    if (!st && isfinite(lr)) st = fill(s, "base_lr", (double[]){lr / 10}, 1);
    if (!st) st = fill(s, "step_size_up", (double[]){rest / 8 > 0 ? (double)(rest / 8) : 1}, 1);
  } else if (!strcmp(name, "onecycle")) {
    if (isfinite(lr)) st = fill(s, "max_lr", &lr, 1);
    if (!st) st = fill(s, "total_steps", &r, 1);
  } else if (!strcmp(name, "linear") || !strcmp(name, "polynomial")) {
    st = fill(s, "total_iters", &r, 1);
  }
  return st;
}

/* Index of `word` among '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *word) {
  size_t len = strlen(word);
  int idx = 0;
  for (const char *c = choices; *c; idx++) {
    const char *end = strchr(c, '|');
    size_t n = end ? (size_t)(end - c) : strlen(c);
    if (n == len && strncmp(c, word, n) == 0) return idx;
    if (!end) break;
    c = end + 1;
  }
  return -1;
}

#define MAX_LIST 256
ds_status ds_sched_set_str(ds_sched *s, const char *key, const char *value) {
  if (!s || !key || !value) return ds_set_error(DS_EINVAL, "ds_sched_set_str: NULL argument");
  int i = find_key(s->def, key);
  if (i < 0 && strcmp(key, "lr") != 0) return unknown_key(s, key);
  const ds__sched_key *k = i >= 0 ? &s->def->keys[i] : NULL;
  if (k && (k->flags & DS__K_CHOICE)) {
    int c = choice_index(k->choices, value);
    if (c < 0)
      return ds_set_error(DS_EINVAL, "schedule '%s': '%s' must be one of %s, got '%s'",
                          s->def->name, key, k->choices, value);
    return ds_sched_set(s, key, (double[]){c}, 1);
  }
  char what[160];
  snprintf(what, sizeof what, "schedule '%s': '%s'", s->def->name, key);
  if (k && (k->flags & DS__K_BOOL)) {
    bool b;
    ds_status st = ds_kv_bool(what, value, &b);
    return st ? st : ds_sched_set(s, key, (double[]){b}, 1);
  }
  double v[MAX_LIST];
  int n = 0;
  if (k && (k->flags & DS__K_LIST) && !*value) return ds_sched_set(s, key, v, 0); /* empty list */
  ds_status st = ds_kv_values(what, value, v, k && (k->flags & DS__K_LIST) ? MAX_LIST : 1, &n);
  if (st) return st;
  return ds_sched_set(s, key, v, n);
}

ds_status ds_sched_set_warmup(ds_sched *s, int64_t steps, ds_warmup_kind kind,
                              double start_factor) {
  if (!s) return ds_set_error(DS_EINVAL, "ds_sched_set_warmup: NULL schedule");
  if (steps < 0)
    return ds_set_error(DS_EINVAL, "warm-up: steps must be >= 0, got %lld", (long long)steps);
  if (steps > 0 && kind != DS_WARMUP_LINEAR && kind != DS_WARMUP_EXPONENTIAL)
    return ds_set_error(DS_EINVAL, "warm-up: unknown kind %d (linear or exponential)", (int)kind);
  if (steps > 0 && !(start_factor >= 0 && start_factor <= 1))
    return ds_set_error(DS_EINVAL, "warm-up: start_factor must be in [0, 1], got %g", start_factor);
  if (steps > 0 && kind == DS_WARMUP_EXPONENTIAL && !(start_factor > 0))
    return ds_set_error(DS_EINVAL, "warm-up: exponential warm-up needs start_factor > 0, got %g",
                        start_factor);
  s->warmup = steps;
  s->warmup_kind = steps ? kind : DS_WARMUP_NONE;
  s->warmup_factor = start_factor;
  s->ready = false;
  return DS_OK;
}

ds_status ds_sched_set_steps_per_epoch(ds_sched *s, int64_t steps_per_epoch) {
  if (!s) return ds_set_error(DS_EINVAL, "ds_sched_set_steps_per_epoch: NULL schedule");
  if (steps_per_epoch < 1)
    return ds_set_error(DS_EINVAL, "schedule '%s': steps_per_epoch must be >= 1, got %lld",
                        s->def->name, (long long)steps_per_epoch);
  s->steps_per_epoch = steps_per_epoch;
  s->ready = false;
  return DS_OK;
}

ds_status ds_sched_set_scale(ds_sched *s, double factor) {
  if (!s) return ds_set_error(DS_EINVAL, "ds_sched_set_scale: NULL schedule");
  if (!(factor > 0) || !isfinite(factor))
    return ds_set_error(DS_EINVAL, "schedule '%s': lr scale must be finite and > 0, got %g",
                        s->def->name, factor);
  s->scale = factor;
  s->ready = false;
  return DS_OK;
}

bool ds_sched_is_ready(const ds_sched *s) { return s && s->ready; }

ds_status ds_sched_validate(ds_sched *s) {
  if (!s) return ds_set_error(DS_EINVAL, "ds_sched_validate: NULL schedule");
  s->ready = false;
  const ds__sched_def *def = s->def;
  if (def->uses_lr && !(isfinite(s->base_lr) && s->base_lr >= 0))
    return ds_set_error(DS_EINVAL,
                        "schedule '%s': base lr ('lr') must be set, finite and >= 0, "
                        "got %g",
                        def->name, s->base_lr);
  for (int i = 0; def->keys[i].key; i++) {
    const ds__sched_key *k = &def->keys[i];
    if ((k->flags & DS__K_REQ) && isnan(s->v[i]))
      return ds_set_error(DS_EINVAL, "schedule '%s': hyperparameter '%s' is required", def->name,
                          k->key);
  }
  ds_status st = def->check(s);
  if (st) return st;
  s->ready = true;
  return DS_OK;
}

/* The schedule's own epoch for step k >= W. */
static int64_t inner_epoch(const ds_sched *s, int64_t k) {
  return (k - s->warmup) / s->steps_per_epoch;
}

static double warmup_factor(const ds_sched *s, int64_t k) {
  double f = s->warmup_factor, t = (double)k / (double)s->warmup;
  if (s->warmup_kind == DS_WARMUP_EXPONENTIAL) return pow(f, 1.0 - t);
  return f + (1.0 - f) * t;
}

double ds_sched_lr(const ds_sched *s, int64_t k) {
  if (!s || !s->ready || k < 0) return NAN;
  if (k < s->warmup) return s->scale * s->base_lr * warmup_factor(s, k);
  return s->scale * s->def->lr(s, inner_epoch(s, k));
}

bool ds_sched_momentum(const ds_sched *s, int64_t k, double *momentum) {
  if (!s || !s->ready || k < 0 || !momentum || !s->def->momentum) return false;
  return s->def->momentum(s, k < s->warmup ? 0 : inner_epoch(s, k), momentum);
}

bool ds_sched_cycle_ends(const ds_sched *s, int64_t k) {
  if (!s || !s->ready || k < s->warmup || !s->def->cycle) return false;
  int64_t e0 = inner_epoch(s, k), e1 = inner_epoch(s, k + 1);
  return e0 != e1 && s->def->cycle(s, e0) != s->def->cycle(s, e1);
}

int64_t ds_sched_max_steps(const ds_sched *s) {
  if (!s || !s->ready || !s->def->max_epochs) return INT64_MAX;
  int64_t e = s->def->max_epochs(s);
  if (e > (INT64_MAX - s->warmup) / s->steps_per_epoch) return INT64_MAX;
  return s->warmup + e * s->steps_per_epoch;
}
