/* Closed forms of the schedules, each next to its keyword table. `e` is the schedule's own step
 * (PyTorch's last_epoch: the number of scheduler.step() calls so far). Each reproduces what
 * torch.optim.lr_scheduler of PyTorch 1.13 produces when stepped without an epoch argument;
 * where that recursive ("chainable") form and the class's _get_closed_form_lr disagree, the
 * recursive one wins and the comment says so. Arithmetic follows PyTorch's operation order. */
/* Round every product separately, as Python does: a fused multiply-add would move phase
 * boundaries such as pct_start * total_steps - 1 off the values PyTorch computes. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "sched_internal.h"

#define NA NAN
#define V(i) (s->v[(i)])

static ds_status no_check(ds_sched *s) {
  (void)s;
  return DS_OK;
}

/* ---- constant: ConstantLR(factor=1/3, total_iters=5) ----
 * lr = base * factor for e < total_iters, base after. total_iters = 0: PyTorch's first step
 * multiplies by factor and nothing undoes it, so base * factor forever (the closed form in
 * PyTorch says base). */
enum { CONST_FACTOR, CONST_TOTAL };
static const ds__sched_key constant_keys[] = {
    {"factor", 1.0 / 3.0, DS__K_UNIT, 0}, {"total_iters", 5, DS__K_INT | DS__K_NONNEG, 0}, {0}};
static ds_status constant_check(ds_sched *s) {
  if (V(CONST_FACTOR) == 0 && V(CONST_TOTAL) > 0)
    return ds_set_error(DS_EINVAL, "schedule 'constant': factor 0 with total_iters > 0 "
                                   "(PyTorch divides by factor at total_iters)");
  return DS_OK;
}
static double constant_lr(const ds_sched *s, int64_t e) {
  if (V(CONST_TOTAL) == 0 || (double)e < V(CONST_TOTAL)) return s->base_lr * V(CONST_FACTOR);
  return s->base_lr;
}

/* ---- step: StepLR(step_size, gamma=0.1): base * gamma^floor(e / step_size) ---- */
enum { STEP_SIZE, STEP_GAMMA };
static const ds__sched_key step_keys[] = {
    {"step_size", NA, DS__K_REQ | DS__K_INT | DS__K_POS, 0}, {"gamma", 0.1, DS__K_POS, 0}, {0}};
static double step_lr(const ds_sched *s, int64_t e) {
  return s->base_lr * pow(V(STEP_GAMMA), (double)(e / (int64_t)V(STEP_SIZE)));
}

/* ---- multistep: MultiStepLR(milestones, gamma=0.1): base * gamma^(milestones <= e) ----
 * Duplicated milestones compound (PyTorch counts them). */
enum { MS_MILESTONES, MS_GAMMA };
static const ds__sched_key multistep_keys[] = {
    {"milestones", NA, DS__K_REQ | DS__K_LIST | DS__K_INT | DS__K_NONNEG, 0},
    {"gamma", 0.1, DS__K_POS, 0},
    {0}};
static double multistep_lr(const ds_sched *s, int64_t e) {
  int passed = 0; /* bisect_right over the sorted list */
  while (passed < s->n_milestones && s->milestones[passed] <= e)
    passed++;
  return s->base_lr * pow(V(MS_GAMMA), passed);
}

/* ---- exponential: ExponentialLR(gamma): base * gamma^e ---- */
enum { EXP_GAMMA };
static const ds__sched_key exponential_keys[] = {{"gamma", NA, DS__K_REQ | DS__K_POS, 0}, {0}};
static double exponential_lr(const ds_sched *s, int64_t e) {
  return s->base_lr * pow(V(EXP_GAMMA), (double)e);
}

/* ---- cosine: CosineAnnealingLR(T_max, eta_min=0) ----
 * eta_min + (base - eta_min)(1 + cos(pi e / T_max)) / 2. Not clamped: past T_max the lr rises
 * again with period 2 T_max, as PyTorch's recursive form does. */
enum { COS_TMAX, COS_ETA_MIN };
static const ds__sched_key cosine_keys[] = {
    {"T_max", NA, DS__K_REQ | DS__K_INT | DS__K_POS, 0}, {"eta_min", 0, DS__K_NONNEG, 0}, {0}};
static double cosine_lr(const ds_sched *s, int64_t e) {
  double eta = V(COS_ETA_MIN);
  return eta + (s->base_lr - eta) * (1 + cos(M_PI * (double)e / V(COS_TMAX))) / 2;
}

/* ---- cosine_restarts: CosineAnnealingWarmRestarts(T_0, T_mult=1, eta_min=0) (SGDR) ----
 * Cycle i lasts T_0 T_mult^i steps; within it eta_min + (base - eta_min)(1 + cos(pi t / T_i))/2.
 * The cycle is found with integers, as PyTorch's per-step T_cur update does (its step(epoch)
 * path uses a floating log and can land one cycle off at boundaries). */
enum { SGDR_T0, SGDR_TMULT, SGDR_ETA_MIN };
static const ds__sched_key restarts_keys[] = {{"T_0", NA, DS__K_REQ | DS__K_INT | DS__K_POS, 0},
                                              {"T_mult", 1, DS__K_INT | DS__K_GE1, 0},
                                              {"eta_min", 0, DS__K_NONNEG, 0},
                                              {0}};
/* Cycle index of e; *t_cur and *t_i receive the position in it and its length. */
static int64_t restarts_locate(const ds_sched *s, int64_t e, int64_t *t_cur, int64_t *t_i) {
  int64_t ti = (int64_t)V(SGDR_T0), mult = (int64_t)V(SGDR_TMULT);
  if (mult == 1) {
    *t_cur = e % ti;
    *t_i = ti;
    return e / ti;
  }
  int64_t start = 0, cycle = 0;
  while (e - start >= ti) { /* start + ti <= e: no overflow */
    start += ti;
    cycle++;
    if (ti > INT64_MAX / mult) break; /* next cycle longer than any int64 step */
    ti *= mult;
  }
  *t_cur = e - start;
  *t_i = ti;
  return cycle;
}
static double restarts_lr(const ds_sched *s, int64_t e) {
  int64_t t_cur, t_i;
  restarts_locate(s, e, &t_cur, &t_i);
  double eta = V(SGDR_ETA_MIN);
  return eta + (s->base_lr - eta) * (1 + cos(M_PI * (double)t_cur / (double)t_i)) / 2;
}
static int64_t restarts_cycle(const ds_sched *s, int64_t e) {
  int64_t t_cur, t_i;
  return restarts_locate(s, e, &t_cur, &t_i);
}

/* ---- cyclic: CyclicLR(base_lr, max_lr, step_size_up=2000, step_size_down=None,
 * mode='triangular', gamma=1, cycle_momentum=True, base_momentum=0.8, max_momentum=0.9) ----
 * cycle = floor(1 + e / total), x = 1 + e / total - cycle, rising for x <= up / total;
 * lr = base_lr + (max_lr - base_lr) * scale * f, f = 1 | 1/2^(cycle-1) | gamma^e. */
enum { CYC_BASE, CYC_MAX, CYC_UP, CYC_DOWN, CYC_MODE, CYC_GAMMA, CYC_MOM, CYC_BMOM, CYC_MMOM };
static const ds__sched_key cyclic_keys[] = {
    {"base_lr", NA, DS__K_REQ | DS__K_NONNEG, 0},
    {"max_lr", NA, DS__K_REQ | DS__K_NONNEG, 0},
    {"step_size_up", 2000, DS__K_POS, 0},
    {"step_size_down", NA, DS__K_OPT | DS__K_NONNEG, 0},
    {"mode", 0, DS__K_CHOICE, "triangular|triangular2|exp_range"},
    {"gamma", 1.0, DS__K_POS, 0},
    {"cycle_momentum", 1, DS__K_BOOL, 0},
    {"base_momentum", 0.8, DS__K_NONNEG, 0},
    {"max_momentum", 0.9, DS__K_NONNEG, 0},
    {0}};
/* d[0] = total size, d[1] = step ratio. */
static ds_status cyclic_check(ds_sched *s) {
  double up = V(CYC_UP), down = isnan(V(CYC_DOWN)) ? up : V(CYC_DOWN);
  s->d[0] = up + down;
  s->d[1] = up / s->d[0];
  return DS_OK;
}
/* scale * f of epoch e. */
static double cyclic_height(const ds_sched *s, int64_t e) {
  double total = s->d[0], ratio = s->d[1];
  double cycle = floor(1 + (double)e / total);
  double x = 1. + (double)e / total - cycle;
  double scale = x <= ratio ? x / ratio : (x - 1) / (ratio - 1);
  switch ((int)V(CYC_MODE)) {
  case 1: return scale * (1 / pow(2., cycle - 1));
  case 2: return scale * pow(V(CYC_GAMMA), (double)e);
  default: return scale;
  }
}
static double cyclic_lr(const ds_sched *s, int64_t e) {
  return V(CYC_BASE) + (V(CYC_MAX) - V(CYC_BASE)) * cyclic_height(s, e);
}
static bool cyclic_momentum(const ds_sched *s, int64_t e, double *m) {
  if (!V(CYC_MOM)) return false;
  *m = V(CYC_MMOM) - (V(CYC_MMOM) - V(CYC_BMOM)) * cyclic_height(s, e);
  return true;
}
static int64_t cyclic_cycle(const ds_sched *s, int64_t e) {
  return (int64_t)floor(1 + (double)e / s->d[0]);
}

/* ---- onecycle: OneCycleLR(max_lr, total_steps, pct_start=0.3, anneal_strategy='cos',
 * cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25,
 * final_div_factor=1e4, three_phase=False) ----
 * initial = max_lr / div_factor, min = initial / final_div_factor. Phases end at
 * pct_start T - 1, [2 pct_start T - 2,] T - 1; within a phase pct = (e - start) / (end - start),
 * cos: end + (start_v - end)(1 + cos(pi pct)) / 2, linear: start_v + (end - start_v) pct.
 * PyTorch allows one step() past T (extrapolating, negative with 'linear') and raises after;
 * descent holds the value of e = T - 1 for e >= T. */
enum { OC_MAX, OC_TOTAL, OC_PCT, OC_ANNEAL, OC_MOM, OC_BMOM, OC_MMOM, OC_DIV, OC_FDIV, OC_THREE };
static const ds__sched_key onecycle_keys[] = {
    {"max_lr", NA, DS__K_REQ | DS__K_NONNEG, 0},
    {"total_steps", NA, DS__K_REQ | DS__K_INT | DS__K_POS, 0},
    {"pct_start", 0.3, DS__K_UNIT, 0},
    {"anneal_strategy", 0, DS__K_CHOICE, "cos|linear"},
    {"cycle_momentum", 1, DS__K_BOOL, 0},
    {"base_momentum", 0.85, DS__K_NONNEG, 0},
    {"max_momentum", 0.95, DS__K_NONNEG, 0},
    {"div_factor", 25, DS__K_POS, 0},
    {"final_div_factor", 1e4, DS__K_POS, 0},
    {"three_phase", 0, DS__K_BOOL, 0},
    {0}};
/* d[0..2] = phase end steps, d[3] = number of phases. */
static ds_status onecycle_check(ds_sched *s) {
  double t = V(OC_TOTAL), pct = V(OC_PCT);
  int n = V(OC_THREE) ? 3 : 2;
  s->d[0] = pct * t - 1;
  s->d[1] = n == 3 ? 2 * pct * t - 2 : t - 1;
  s->d[2] = t - 1;
  s->d[3] = n;
  double start = 0;
  for (int i = 0; i < n; i++) {
    if (s->d[i] == start)
      return ds_set_error(DS_EINVAL,
                          "schedule 'onecycle': phase %d has zero length (pct_start %g, "
                          "total_steps %g); PyTorch divides by zero there",
                          i + 1, pct, t);
    start = s->d[i];
  }
  return DS_OK;
}
static double onecycle_anneal(const ds_sched *s, double start, double end, double pct) {
  if (V(OC_ANNEAL) == 1) return (end - start) * pct + start;
  return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1);
}
/* Phase of e, with pct; lr values: 0 initial, 1 max, 2 min. */
static int onecycle_phase(const ds_sched *s, int64_t e, double *pct) {
  int n = (int)s->d[3];
  double step = (double)(e < (int64_t)V(OC_TOTAL) ? e : (int64_t)V(OC_TOTAL) - 1), start = 0;
  for (int i = 0; i < n; i++) {
    if (step <= s->d[i] || i == n - 1) {
      *pct = (step - start) / (s->d[i] - start);
      return i;
    }
    start = s->d[i];
  }
  *pct = 0; /* not reached: the last phase always matches */
  return n - 1;
}
static double onecycle_lr(const ds_sched *s, int64_t e) {
  double initial = V(OC_MAX) / V(OC_DIV), pct;
  double v[3] = {initial, V(OC_MAX), initial / V(OC_FDIV)};
  static const int from2[] = {0, 1}, to2[] = {1, 2}, from3[] = {0, 1, 0}, to3[] = {1, 0, 2};
  int i = onecycle_phase(s, e, &pct);
  bool three = s->d[3] == 3;
  return onecycle_anneal(s, v[three ? from3[i] : from2[i]], v[three ? to3[i] : to2[i]], pct);
}
static bool onecycle_momentum(const ds_sched *s, int64_t e, double *m) {
  if (!V(OC_MOM)) return false;
  double pct, v[2] = {V(OC_MMOM), V(OC_BMOM)}; /* 0 max, 1 base */
  static const int from2[] = {0, 1}, to2[] = {1, 0}, from3[] = {0, 1, 0}, to3[] = {1, 0, 0};
  int i = onecycle_phase(s, e, &pct);
  bool three = s->d[3] == 3;
  *m = onecycle_anneal(s, v[three ? from3[i] : from2[i]], v[three ? to3[i] : to2[i]], pct);
  return true;
}
static int64_t onecycle_max(const ds_sched *s) { return (int64_t)V(OC_TOTAL); }

/* ---- linear: LinearLR(start_factor=1/3, end_factor=1, total_iters=5) ----
 * base * (start + (end - start) min(e, T) / T). PyTorch's recursive form equals this except for
 * start_factor = 0, where it divides by zero at e = 1 (descent uses the formula), and T = 0,
 * where it leaves base * start_factor forever (descent does too). */
enum { LIN_START, LIN_END, LIN_TOTAL };
static const ds__sched_key linear_keys[] = {{"start_factor", 1.0 / 3.0, DS__K_UNIT, 0},
                                            {"end_factor", 1.0, DS__K_UNIT, 0},
                                            {"total_iters", 5, DS__K_INT | DS__K_NONNEG, 0},
                                            {0}};
static double linear_lr(const ds_sched *s, int64_t e) {
  double t = V(LIN_TOTAL), sf = V(LIN_START);
  if (t == 0) return s->base_lr * sf;
  return s->base_lr * (sf + (V(LIN_END) - sf) * fmin(t, (double)e) / t);
}

/* ---- polynomial: PolynomialLR(total_iters=5, power=1): base (1 - min(e, T) / T)^power ----
 * total_iters = 0: PyTorch never changes the lr, so base forever. */
enum { POLY_TOTAL, POLY_POWER };
static const ds__sched_key polynomial_keys[] = {
    {"total_iters", 5, DS__K_INT | DS__K_NONNEG, 0}, {"power", 1.0, DS__K_NONNEG, 0}, {0}};
static double polynomial_lr(const ds_sched *s, int64_t e) {
  double t = V(POLY_TOTAL);
  if (t == 0) return s->base_lr;
  return s->base_lr * pow(1.0 - fmin(t, (double)e) / t, V(POLY_POWER));
}

/* ---- the table ---- */
#define DEF(id, nm, cls, uses, ...)                                                                \
  static const ds__sched_def id##_def = {                                                          \
      .name = nm, .torch = cls, .keys = id##_keys, .uses_lr = uses, .lr = id##_lr, __VA_ARGS__}
DEF(constant, "constant", "ConstantLR", true, .check = constant_check);
DEF(step, "step", "StepLR", true, .check = no_check);
DEF(multistep, "multistep", "MultiStepLR", true, .check = no_check);
DEF(exponential, "exponential", "ExponentialLR", true, .check = no_check);
DEF(cosine, "cosine", "CosineAnnealingLR", true, .check = no_check);
DEF(restarts, "cosine_restarts", "CosineAnnealingWarmRestarts", true, .check = no_check,
    .cycle = restarts_cycle);
DEF(cyclic, "cyclic", "CyclicLR", false, .check = cyclic_check, .momentum = cyclic_momentum,
    .cycle = cyclic_cycle);
DEF(onecycle, "onecycle", "OneCycleLR", false, .check = onecycle_check,
    .momentum = onecycle_momentum, .max_epochs = onecycle_max);
DEF(linear, "linear", "LinearLR", true, .check = no_check);
DEF(polynomial, "polynomial", "PolynomialLR", true, .check = no_check);

const ds__sched_def *const ds__sched_defs[] = {
    &constant_def, &step_def,     &multistep_def, &exponential_def, &cosine_def, &restarts_def,
    &cyclic_def,   &onecycle_def, &linear_def,    &polynomial_def,  NULL};
