/* Objectives over per-sample losses (include/descent/objective.h): the mean and the TERM family
 * (Li, Beirami, Sanjabi, Smith 2021): batch-level, stochastic (running normaliser) and
 * hierarchical tilting, optionally with an annealed tilt. All sums in double, shifted by their
 * maximum (log-sum-exp), so large |t| * loss neither overflows nor underflows to 0/0. */
#include <math.h>
#include <string.h>

#include "descent/alloc.h"
#include "descent/objective.h"

#define MAX_GROUPS 4096 /* group ids 0..MAX_GROUPS-1 (class labels) */

typedef enum { OBJ_MEAN, OBJ_TILTED, OBJ_HIERARCHICAL, OBJ_CUSTOM } obj_kind;
static const char *const kind_names[] = {"mean", "tilted", "hierarchical", "custom"};

typedef struct {
  int64_t n;       /* samples of the group in the batch */
  double top, sum; /* max of t*l over the group, sum of exp(t*l - top) */
  double risk;     /* the group's tilted risk R_g */
  double weight;   /* the group's outer weight v_g */
} group_acc;

struct ds_objective {
  obj_kind kind;
  double tilt, tilt_end, tilt_average, group_tilt;
  /* stochastic TERM: log Z of the running normaliser, and how many batches have updated it */
  double state[2];
  group_acc *groups; /* (MAX_GROUPS) hierarchical scratch, allocated once */
  ds_objective_fn fn;
  void *ctx;
};
static const char *const state_names[] = {"log_normaliser", "batches"};

const char *ds_objective_names(void) { return "mean, tilted, hierarchical"; }

static ds_objective *make(obj_kind kind) {
  ds_objective *o = ds_calloc(1, sizeof *o);
  if (!o) return NULL;
  o->kind = kind;
  o->tilt_end = NAN;
  if (kind == OBJ_HIERARCHICAL && !(o->groups = ds_calloc(MAX_GROUPS, sizeof *o->groups))) {
    ds_free(o);
    return NULL;
  }
  return o;
}

ds_objective *ds_objective_new(const char *name) {
  for (int k = OBJ_MEAN; k <= OBJ_HIERARCHICAL; k++)
    if (name && !strcmp(name, kind_names[k])) return make((obj_kind)k);
  ds_set_error(DS_ENOTFOUND, "unknown objective '%s' (%s)", name ? name : "(null)",
               ds_objective_names());
  return NULL;
}

ds_objective *ds_objective_new_custom(ds_objective_fn fn, void *ctx) {
  if (!fn) {
    ds_set_error(DS_EINVAL, "custom objective: NULL function");
    return NULL;
  }
  ds_objective *o = make(OBJ_CUSTOM);
  if (o) {
    o->fn = fn;
    o->ctx = ctx;
  }
  return o;
}

void ds_objective_free(ds_objective *o) {
  if (!o) return;
  ds_free(o->groups);
  ds_free(o);
}

const char *ds_objective_name(const ds_objective *o) { return o ? kind_names[o->kind] : "?"; }

static double *hyper_slot(ds_objective *o, const char *key) {
  if (!strcmp(key, "tilt")) return &o->tilt;
  if (!strcmp(key, "tilt_end")) return &o->tilt_end;
  if (!strcmp(key, "tilt_average")) return &o->tilt_average;
  if (!strcmp(key, "group_tilt")) return &o->group_tilt;
  return NULL;
}

ds_status ds_objective_set(ds_objective *o, const char *key, double value) {
  if (!o || !key) return ds_set_error(DS_EINVAL, "objective set: NULL argument");
  double *slot = hyper_slot(o, key);
  const char *name = kind_names[o->kind];
  if (!slot)
    return ds_set_error(
        DS_ENOTFOUND,
        "objective '%s': unknown hyperparameter '%s' (tilt, tilt_end, tilt_average, group_tilt)",
        name, key);
  bool tilted = o->kind == OBJ_TILTED || o->kind == OBJ_HIERARCHICAL;
  if (!tilted && value != 0 && !(slot == &o->tilt_end && isnan(value)))
    return ds_set_error(DS_EINVAL, "objective '%s' has no '%s' (use tilted or hierarchical)", name,
                        key);
  if (slot == &o->tilt_average && value != 0 && o->kind != OBJ_TILTED)
    return ds_set_error(DS_EINVAL, "objective '%s': tilt_average needs the objective 'tilted'",
                        name);
  if (slot == &o->group_tilt && value != 0 && o->kind != OBJ_HIERARCHICAL)
    return ds_set_error(DS_EINVAL, "objective '%s': group_tilt needs the objective 'hierarchical'",
                        name);
  if (slot == &o->tilt_average && !(value >= 0 && value <= 1))
    return ds_set_error(DS_EINVAL, "objective '%s': tilt_average %g is not in [0, 1]", name, value);
  if (slot != &o->tilt_end && !isfinite(value))
    return ds_set_error(DS_EINVAL, "objective '%s': %s %g is not finite", name, key, value);
  if (slot == &o->tilt_end && isinf(value))
    return ds_set_error(DS_EINVAL, "objective '%s': tilt_end %g is not finite", name, value);
  *slot = value;
  return DS_OK;
}

double ds_objective_get(const ds_objective *o, const char *key) {
  double *slot = o && key ? hyper_slot((ds_objective *)o, key) : NULL;
  return slot ? *slot : NAN;
}

bool ds_objective_is_mean(const ds_objective *o) {
  if (!o || o->kind == OBJ_MEAN) return true;
  if (o->kind == OBJ_CUSTOM) return false;
  return o->tilt == 0 && o->group_tilt == 0 && isnan(o->tilt_end);
}

bool ds_objective_needs_groups(const ds_objective *o) { return o && o->kind == OBJ_HIERARCHICAL; }

double ds_objective_tilt_at(const ds_objective *o, int64_t step, int64_t total_steps) {
  if (!o) return 0;
  if (isnan(o->tilt_end)) return o->tilt;
  double f = total_steps > 1 ? (double)step / (double)(total_steps - 1) : 1.0;
  f = f < 0 ? 0 : f > 1 ? 1 : f;
  return o->tilt + (o->tilt_end - o->tilt) * f;
}

int ds_objective_state_count(const ds_objective *o) { return o && o->kind == OBJ_TILTED ? 2 : 0; }

ds_status ds_objective_state(ds_objective *o, int i, const char **name, double **value) {
  if (!o || i < 0 || i >= ds_objective_state_count(o))
    return ds_set_error(DS_EINVAL, "objective '%s': no state %d", ds_objective_name(o), i);
  if (name) *name = state_names[i];
  if (value) *value = &o->state[i];
  return DS_OK;
}

void ds_objective_reset(ds_objective *o) {
  if (o) o->state[0] = o->state[1] = 0;
}

/* log(exp(a) + exp(b)) without overflow. */
static double log_add(double a, double b) {
  if (a == -INFINITY) return b;
  if (b == -INFINITY) return a;
  double m = a > b ? a : b;
  return m + log(exp(a - m) + exp(b - m));
}

/* Tilted risk over the batch: w_i = exp(t l_i - top) / sum, value (1/t) log mean exp(t l).
 * Stochastic TERM (a > 0): the weights use the running normaliser instead of the batch's own. */
static void tilted(ds_objective *o, const float *l, int64_t b, double t, bool update, float *w,
                   double *value) {
  double top = -INFINITY, sum = 0;
  for (int64_t i = 0; i < b; i++)
    if (t * (double)l[i] > top) top = t * (double)l[i];
  for (int64_t i = 0; i < b; i++)
    sum += exp(t * (double)l[i] - top);
  double lse = top + log(sum) - log((double)b); /* log mean exp(t l) */
  *value = lse / t;
  if (o->tilt_average <= 0) {
    for (int64_t i = 0; i < b; i++)
      w[i] = (float)(exp(t * (double)l[i] - top) / sum);
    return;
  }
  /* Li et al. 2021, Algorithm 2: Z <- (1 - a) Z + a mean exp(t l); w_i = exp(t l_i) / (b Z) */
  double a = o->tilt_average, log_z = o->state[0];
  if (o->state[1] == 0)
    log_z = lse;
  else if (a >= 1)
    log_z = lse;
  else
    log_z = log_add(log1p(-a) + log_z, log(a) + lse);
  if (update) {
    o->state[0] = log_z;
    o->state[1] += 1;
  }
  for (int64_t i = 0; i < b; i++)
    w[i] = (float)(exp(t * (double)l[i] - log_z) / (double)b);
}

/* Hierarchical TERM (Li et al. 2021, eq. 4): tilt t within groups, T across. */
static ds_status hierarchical(ds_objective *o, const float *l, const float *grp, int64_t b,
                              double t, float *w, double *value) {
  double T = o->group_tilt;
  group_acc *G = o->groups;
  for (int64_t i = 0; i < b; i++) {
    float gf = grp[i];
    if (!(gf >= 0 && gf < MAX_GROUPS) || gf != floorf(gf))
      return ds_set_error(DS_EINVAL,
                          "objective 'hierarchical': group %g of sample %lld is not in 0..%d",
                          (double)gf, (long long)i, MAX_GROUPS - 1);
    G[(int)gf] = (group_acc){0, -INFINITY, 0, 0, 0};
  }
  for (int64_t i = 0; i < b; i++) { /* t = 0: top 0, sum = n, the plain mean below */
    group_acc *a = &G[(int)grp[i]];
    a->n++;
    if (t * (double)l[i] > a->top) a->top = t * (double)l[i];
    a->risk += l[i]; /* the group's loss sum, for t = 0 */
  }
  for (int64_t i = 0; i < b; i++) {
    group_acc *a = &G[(int)grp[i]];
    a->sum += exp(t * (double)l[i] - a->top);
  }
  /* per group once (the first sample of each group finalises it): R_g, then c_g = T R_g + log n_g
   */
  double ctop = -INFINITY;
  for (int64_t i = 0; i < b; i++) {
    group_acc *a = &G[(int)grp[i]];
    if (a->weight != 0) continue; /* done */
    a->risk = t == 0 ? a->risk / (double)a->n : (a->top + log(a->sum) - log((double)a->n)) / t;
    a->weight = 1; /* mark finalised */
    double c = T * a->risk + log((double)a->n);
    if (c > ctop) ctop = c;
  }
  double csum = 0, mean_risk = 0;
  for (int64_t i = 0; i < b; i++) {
    group_acc *a = &G[(int)grp[i]];
    if (a->weight != 1) continue;
    a->weight = 2; /* counted */
    csum += exp(T * a->risk + log((double)a->n) - ctop);
    mean_risk += (double)a->n * a->risk;
  }
  *value = T == 0 ? mean_risk / (double)b : (ctop + log(csum) - log((double)b)) / T;
  for (int64_t i = 0; i < b; i++) {
    const group_acc *a = &G[(int)grp[i]];
    double v = exp(T * a->risk + log((double)a->n) - ctop) / csum;
    double u = exp(t * (double)l[i] - a->top) / a->sum;
    w[i] = (float)(v * u);
  }
  return DS_OK;
}

ds_status ds_objective_weights(ds_objective *o, const float *losses, const float *groups, int64_t b,
                               int64_t step, int64_t total_steps, bool update, float *weights,
                               double *value) {
  if (!o || !losses || !weights || b < 1)
    return ds_set_error(DS_EINVAL, "objective '%s': invalid arguments", ds_objective_name(o));
  const char *name = kind_names[o->kind];
  double sum = 0;
  for (int64_t i = 0; i < b; i++)
    sum += losses[i];
  if (!isfinite(sum))
    return ds_set_error(DS_ENUMERIC, "objective '%s': the losses are not finite", name);
  double v = sum / (double)b, t = ds_objective_tilt_at(o, step, total_steps);
  ds_status st = DS_OK;
  if (o->kind == OBJ_CUSTOM) {
    st = o->fn(o->ctx, losses, groups, b, weights);
  } else if (o->kind == OBJ_HIERARCHICAL) {
    if (!groups)
      return ds_set_error(DS_EINVAL, "objective 'hierarchical' needs the samples' groups");
    st = hierarchical(o, losses, groups, b, t, weights, &v);
  } else if (o->kind == OBJ_TILTED && t != 0) {
    tilted(o, losses, b, t, update, weights, &v);
  } else {
    for (int64_t i = 0; i < b; i++)
      weights[i] = 1.0f / (float)b; /* as ds_graph_backward's mean */
  }
  if (st) return st;
  for (int64_t i = 0; i < b; i++)
    if (!isfinite(weights[i]))
      return ds_set_error(DS_ENUMERIC,
                          "objective '%s': weight of sample %lld is not finite (tilt %g)", name,
                          (long long)i, t);
  if (value) *value = v;
  return DS_OK;
}
