/* Optimizer races on 2-D test surfaces: every optimizer runs through its own fused step
 * (ds_optim_step) over a parameter set of one 2-element tensor, exactly as on a network. */
#include <math.h>
#include <string.h>

#include "descent/alloc.h"
#include "descent/analysis.h"

static const char *const toy_names[DS_TOY_COUNT] = {"saddle", "rosenbrock", "beale", "quadratic",
                                                    "two_minima"};

const char *ds_toy_name(ds_toy_kind kind) {
  return kind >= 0 && kind < DS_TOY_COUNT ? toy_names[kind] : "?";
}

const char *ds_toy_names(void) { return "saddle rosenbrock beale quadratic two_minima"; }

/* two_minima: d/dx [(x^2 - 1)^2 + 0.3 x] = 4x^3 - 4x + 0.3; Newton from x0 finds the root nearby.
 */
static double two_minima_root(double x) {
  for (int i = 0; i < 50; i++)
    x -= (4 * x * x * x - 4 * x + 0.3) / (12 * x * x - 4);
  return x;
}

ds_status ds_toy_surface_get(const char *name, double kappa, ds_toy_surface *out) {
  if (!name || !out) return ds_set_error(DS_EINVAL, "toy surface: NULL argument");
  int k = -1;
  for (int i = 0; i < DS_TOY_COUNT; i++)
    if (!strcmp(name, toy_names[i])) k = i;
  if (k < 0)
    return ds_set_error(DS_ENOTFOUND, "toy surface '%s' is unknown (%s)", name, ds_toy_names());
  if (k == DS_TOY_QUADRATIC && (!(kappa >= 1) || !isfinite(kappa)))
    return ds_set_error(DS_EINVAL, "toy surface quadratic: kappa %g must be >= 1", kappa);
  ds_toy_surface s = {.kind = (ds_toy_kind)k, .kappa = kappa};
  switch (s.kind) {
  case DS_TOY_SADDLE: /* start on the stable manifold, a hair off it: the classic race */
    s = (ds_toy_surface){s.kind, kappa, {1.0, 1e-3}, {-1.5, 1.5, -1.5, 1.5}, {0, 0}, 0, 300};
    break;
  case DS_TOY_ROSENBROCK:
    s = (ds_toy_surface){s.kind, kappa, {-1.2, 1.0}, {-2, 2, -1, 3}, {1, 1}, 0, 5000};
    break;
  case DS_TOY_BEALE:
    s = (ds_toy_surface){s.kind, kappa, {1.0, 1.5}, {-1.5, 4.5, -2, 2}, {3, 0.5}, 0, 2000};
    break;
  case DS_TOY_QUADRATIC:
    s = (ds_toy_surface){s.kind, kappa, {-1.8, 0.9}, {-2, 2, -1.2, 1.2}, {0, 0}, 0, 300};
    break;
  default: { /* two minima */
    double xg = two_minima_root(-1.0);
    s = (ds_toy_surface){s.kind, kappa, {2.0, 1.0}, {-2, 2.3, -1.5, 1.5}, {xg, 0}, 0, 300};
    s.f_min = (xg * xg - 1) * (xg * xg - 1) + 0.3 * xg;
  } break;
  }
  *out = s;
  return 0;
}

double ds_toy_eval(const ds_toy_surface *s, double x, double y, double *gx, double *gy) {
  double f, dx, dy;
  switch (s->kind) {
  case DS_TOY_SADDLE: f = x * x - y * y, dx = 2 * x, dy = -2 * y; break;
  case DS_TOY_ROSENBROCK: {
    double a = 1 - x, b = y - x * x;
    f = a * a + 100 * b * b, dx = -2 * a - 400 * x * b, dy = 200 * b;
  } break;
  case DS_TOY_BEALE: {
    double y2 = y * y, y3 = y2 * y;
    double t1 = 1.5 - x + x * y, t2 = 2.25 - x + x * y2, t3 = 2.625 - x + x * y3;
    f = t1 * t1 + t2 * t2 + t3 * t3;
    dx = 2 * t1 * (y - 1) + 2 * t2 * (y2 - 1) + 2 * t3 * (y3 - 1);
    dy = 2 * t1 * x + 2 * t2 * 2 * x * y + 2 * t3 * 3 * x * y2;
  } break;
  case DS_TOY_QUADRATIC: f = 0.5 * (x * x + s->kappa * y * y), dx = x, dy = s->kappa * y; break;
  default: {
    double q = x * x - 1;
    f = q * q + 0.3 * x + 0.5 * y * y, dx = 4 * x * q + 0.3, dy = y;
  } break;
  }
  if (gx) *gx = dx;
  if (gy) *gy = dy;
  return f;
}

/* The lecture's racers and their learning rates per surface (saddle, rosenbrock, beale, quadratic,
 * two_minima). Chosen once by hand so that every racer moves visibly and none diverges from the
 * default start; docs/landscape.md discusses the resulting races. */
static const struct {
  const char *racer, *optim;
  double lr[DS_TOY_COUNT];
} racers[] = {
    {"sgd", "sgd", {0.01, 1e-3, 1e-3, 0.05, 0.01}},
    {"momentum", "sgd", {0.01, 1e-3, 1e-3, 0.05, 0.01}},
    {"nesterov", "sgd", {0.01, 1e-3, 1e-3, 0.05, 0.01}},
    {"adagrad", "adagrad", {0.1, 0.5, 0.5, 0.5, 0.5}},
    {"rmsprop", "rmsprop", {0.01, 0.01, 0.01, 0.01, 0.01}},
    {"adadelta", "adadelta", {1.0, 1.0, 1.0, 1.0, 1.0}},
    {"adam", "adam", {0.01, 0.02, 0.02, 0.05, 0.05}},
};
#define NRACERS ((int)(sizeof racers / sizeof *racers))

static int racer_index(const char *racer) {
  for (int i = 0; racer && i < NRACERS; i++)
    if (!strcmp(racer, racers[i].racer)) return i;
  return -1;
}

ds_optim *ds_toy_optim_new(const char *racer, ds_paramset *ps) {
  if (!racer || !ps) {
    ds_set_error(DS_EINVAL, "toy racer: NULL argument");
    return NULL;
  }
  int r = racer_index(racer);
  ds_optim *o = ds_optim_new(r >= 0 ? racers[r].optim : racer, ps);
  if (!o) {
    ds_set_error(DS_ENOTFOUND,
                 "toy racer '%s' is unknown (momentum, nesterov or an optimizer name)", racer);
    return NULL;
  }
  double zero = 0, mom = 0.9, one = 1;
  ds_status st = 0;
  for (int i = 0; i < ds_optim_hyper_count(o) && !st; i++) {
    const char *key;
    double v[2];
    int n;
    bool is_bool;
    if (!ds_optim_hyper(o, i, &key, v, &n, &is_bool) && !strcmp(key, "weight_decay"))
      st = ds_optim_set(o, "weight_decay", &zero, 1);
  }
  if (!st && r >= 0 && strcmp(racer, "sgd") && !strcmp(racers[r].optim, "sgd"))
    st = ds_optim_set(o, "momentum", &mom, 1);
  if (!st && !strcmp(racer, "nesterov")) st = ds_optim_set(o, "nesterov", &one, 1);
  if (st) {
    ds_optim_free(o);
    return NULL;
  }
  return o;
}

double ds_toy_default_lr(const ds_toy_surface *s, const char *racer) {
  int r = racer_index(racer);
  if (r >= 0 && s && s->kind >= 0 && s->kind < DS_TOY_COUNT) return racers[r].lr[s->kind];
  ds_paramset *ps = ds_toy_params(0, 0);
  ds_optim *o = ps ? ds_optim_new(racer, ps) : NULL;
  double lr = o ? ds_optim_default_lr(o) : NAN;
  ds_optim_free(o);
  ds_paramset_free(ps);
  return lr;
}

ds_paramset *ds_toy_params(double x, double y) {
  ds_paramset *ps = ds_paramset_new();
  if (!ps) return NULL;
  if (ds_paramset_add(ps, "xy", ds_shape1(2), DS_ROLE_WEIGHT) < 0) {
    ds_paramset_free(ps);
    return NULL;
  }
  ps->data[0] = (float)x;
  ps->data[1] = (float)y;
  return ps;
}

/* Within the target: eps of the minimum, or (saddle) escaped it. */
static bool arrived(const ds_toy_surface *s, double x, double y, double eps) {
  if (s->kind == DS_TOY_SADDLE) return fabs(y) > 1;
  return hypot(x - s->minimum[0], y - s->minimum[1]) < eps;
}

ds_status ds_toy_run(const ds_toy_surface *s, ds_optim *o, ds_paramset *ps, double lr, int steps,
                     double eps, double *path, ds_toy_result *out) {
  if (!s || !o || !ps || !out) return ds_set_error(DS_EINVAL, "toy run: NULL argument");
  if (ps->numel != 2)
    return ds_set_error(DS_EINVAL, "toy run: the parameter set has %lld elements, not 2",
                        (long long)ps->numel);
  if (steps < 0 || !(lr >= 0) || !isfinite(lr) || !(eps > 0))
    return ds_set_error(DS_EINVAL,
                        "toy run: steps %d, lr %g, eps %g (need steps >= 0, lr >= 0, eps > 0)",
                        steps, lr, eps);
  ds_toy_result r = {-1, NAN, false};
  double x = ps->data[0], y = ps->data[1];
  if (path) path[0] = x, path[1] = y;
  if (arrived(s, x, y, eps)) r.steps_to_target = 0;
  for (int t = 1; t <= steps; t++) {
    if (!r.diverged) {
      double gx, gy;
      ds_toy_eval(s, x, y, &gx, &gy);
      ps->grad[0] = (float)gx;
      ps->grad[1] = (float)gy;
      ds_status st = ds_optim_step(o, (float)lr);
      if (st) return st;
      double nx = ps->data[0], ny = ps->data[1];
      if (isfinite(nx) && isfinite(ny) && isfinite(ds_toy_eval(s, nx, ny, NULL, NULL)))
        x = nx, y = ny;
      else
        r.diverged = true;
      if (!r.diverged && r.steps_to_target < 0 && arrived(s, x, y, eps)) r.steps_to_target = t;
    }
    if (path) path[2 * t] = x, path[2 * t + 1] = y;
  }
  r.final_loss = r.diverged ? INFINITY : ds_toy_eval(s, x, y, NULL, NULL);
  *out = r;
  return 0;
}
