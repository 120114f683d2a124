/* LARS (You et al. 2017) as timm.optim.Lars (torch SGD + apex LARC), per parameter tensor:
 *   adapt = always_adapt || (λ ≠ 0 && !no_adapt)            (λ is 0 for no_decay parameters)
 *   adapt: r = trust_coeff·||θ|| / (||g|| + λ||θ|| + eps), r = 1 if ||θ|| = 0 or ||g|| = 0,
 *          trust_clip: r = min(r/η, 1);  d = (g + λθ)·r          else d = g + λθ
 *   b = μb + (1-τ)d (b_1 = d);  u = nesterov ? d + μb : b;  θ -= ηu
 * Two passes: per-tensor norms, then the update. */
#include <math.h>

#include "optim/optim_internal.h"

enum { LR, MOMENTUM, DAMPENING, WD, NESTEROV, TRUST_COEFF, EPS, TRUST_CLIP, ALWAYS_ADAPT };

static const ds__hyper hypers[] = {
    {"lr", DS__REAL, {1.0}, 0, INFINITY, false},
    {"momentum", DS__REAL, {0}, 0, INFINITY, false},
    {"dampening", DS__REAL, {0}, -INFINITY, INFINITY, false},
    {"weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {"nesterov", DS__BOOL, {0}, 0, 1, false},
    {"trust_coeff", DS__REAL, {0.001}, 0, INFINITY, false},
    {"eps", DS__REAL, {1e-8}, 0, INFINITY, false},
    {"trust_clip", DS__BOOL, {0}, 0, 1, false},
    {"always_adapt", DS__BOOL, {0}, 0, 1, false},
    {NULL, 0, {0}, 0, 0, false},
};

enum { S_W, S_G }; /* statistics: ||θ||², ||g||² */

static bool adapts(const ds_optim *o, int i) {
  return o->h[ALWAYS_ADAPT][0] != 0 || (ds__wd(o, i, o->h[WD][0]) != 0 && !o->ps->info[i].no_adapt);
}

static void norms_chunk(ds_optim *o, const ds__chunk *c, const void *ctx) {
  (void)ctx;
  if (!adapts(o, c->param)) return;
  for (int64_t j = c->seg0; j < c->seg0 + c->nseg; j++) {
    const ds__segment *s = &o->segs[j];
    double *st = &o->seg_stat[j * 2];
    st[S_W] = ds__sumsq(o->ps->data + s->begin, s->n);
    st[S_G] = ds__sumsq(o->ps->grad + s->begin, s->n);
  }
}

typedef struct {
  float lr, mu, keep, a_grad, a_buf; /* as in sgd.c: first step mu = 0, keep = 1 */
} lars_ctx;

static void update(int64_t n, float *restrict p, const float *restrict g, float *restrict b,
                   float wd, float r, const lars_ctx *k) {
  const float lr = k->lr, mu = k->mu, keep = k->keep, ag = k->a_grad, ab = k->a_buf;
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i];
    float d = (g[i] + wd * pi) * r;
    float bi = mu * b[i] + keep * d;
    b[i] = bi;
    p[i] = pi - lr * (ag * d + ab * bi);
  }
}

static void update_plain(int64_t n, float *restrict p, const float *restrict g, float wd, float r,
                         float lr) {
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i];
    p[i] = pi - lr * ((g[i] + wd * pi) * r);
  }
}

/* The trust ratio of parameter i from its reduced norms, NaN if it is not adapted. */
static double trust_ratio(const ds_optim *o, int i, float lr) {
  if (!adapts(o, i)) return NAN;
  double wd = ds__wd(o, i, o->h[WD][0]), r = 1.0;
  double w = sqrt(o->param_stat[i * 2 + S_W]), q = sqrt(o->param_stat[i * 2 + S_G]);
  if (w > 0 && q > 0) r = o->h[TRUST_COEFF][0] * w / (q + w * wd + o->h[EPS][0]);
  if (o->h[TRUST_CLIP][0] != 0) r = fmin(r / lr, 1.0);
  return r;
}

static void update_chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const lars_ctx *k = vctx;
  int i = c->param;
  double wd = ds__wd(o, i, o->h[WD][0]);
  double r = isnan(o->trust[i]) ? 1.0 : o->trust[i];
  int64_t b = c->begin;
  if (o->h[MOMENTUM][0] == 0)
    update_plain(c->n, o->ps->data + b, o->ps->grad + b, (float)wd, (float)r, k->lr);
  else
    update(c->n, o->ps->data + b, o->ps->grad + b, o->state[0] + b, (float)wd, (float)r, k);
}

static void step(ds_optim *o, float lr) {
  ds__for_chunks(o, norms_chunk, NULL);
  ds__reduce_stats(o);
  for (int i = 0; i < o->count; i++)
    o->trust[i] = trust_ratio(o, i, lr);
  float mu = (float)o->h[MOMENTUM][0];
  bool first = ds__t(o) == 1, nesterov = o->h[NESTEROV][0] != 0;
  lars_ctx k = {lr, first ? 0.0f : mu, first ? 1.0f : (float)(1.0 - o->h[DAMPENING][0]),
                nesterov ? 1.0f : 0.0f, nesterov ? mu : 1.0f};
  ds__for_chunks(o, update_chunk, &k);
}

static int states(const ds_optim *o, const char **names) {
  if (o->h[MOMENTUM][0] == 0) return 0;
  names[0] = "momentum_buffer";
  return 1;
}

static ds_status check(const ds_optim *o) {
  if (o->h[NESTEROV][0] != 0 && (o->h[MOMENTUM][0] <= 0 || o->h[DAMPENING][0] != 0))
    return ds_set_error(DS_EINVAL, "optimizer 'lars': nesterov requires momentum > 0 and "
                                   "dampening = 0");
  return DS_OK;
}

const ds__kind ds__lars = {
    .name = "lars",
    .reference = "timm.optim.Lars (LARS, You et al. 2017; LARC clipping from apex)",
    .hypers = hypers,
    .nstat = 2,
    .trust_ratios = true,
    .states = states,
    .check = check,
    .step = step,
};
