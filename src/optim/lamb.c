/* LAMB (You et al. 2019) as timm.optim.Lamb (NVIDIA FusedLAMB behaviour), per parameter tensor:
 *   global clipping: N = ||all g||, c = max(N / max_grad_norm, 1), g ← g / c   (none: c = 1)
 *   bc1, bc2 = 1 - β1^t, 1 - β2^t (1 if bias_correction is false);  β3 = grad_averaging ? 1-β1 : 1
 *   m = β1 m + β3 g;  v = β2 v + (1-β2) g²;  u = (m / bc1) / (sqrt(v) / sqrt(bc2) + ε) + λθ
 *   adapt = always_adapt || (λ ≠ 0 && !no_adapt):  r = ||θ|| / ||u|| (1 if either is 0),
 *           trust_clip: r = min(r, 1);  u ← r u
 *   θ -= η u
 * Passes: the global norm (when clipping), moments + norms, the update (u recomputed). */
#include <math.h>

#include "optim/optim_internal.h"

enum {
  LR,
  BIAS_CORRECTION,
  BETAS,
  EPS,
  WD,
  GRAD_AVERAGING,
  MAX_GRAD_NORM,
  TRUST_CLIP,
  ALWAYS_ADAPT
};

static const ds__hyper hypers[] = {
    {"lr", DS__REAL, {1e-3}, 0, INFINITY, false},
    {"bias_correction", DS__BOOL, {1}, 0, 1, false},
    {"betas", DS__PAIR, {0.9, 0.999}, 0, 1, true},
    {"eps", DS__REAL, {1e-6}, 0, INFINITY, false},
    {"weight_decay", DS__REAL, {0.01}, 0, INFINITY, false},
    {"grad_averaging", DS__BOOL, {1}, 0, 1, false},
    {"max_grad_norm", DS__REAL_OR_NONE, {1.0}, 0, INFINITY, false},
    {"trust_clip", DS__BOOL, {0}, 0, 1, false},
    {"always_adapt", DS__BOOL, {0}, 0, 1, false},
    {NULL, 0, {0}, 0, 0, false},
};

enum { S_W, S_U, S_G }; /* statistics: ||θ||², ||u||², ||g||² */

typedef struct {
  float inv_clip, b1, b3, b2, ibc1, ibc2, eps, lr;
  double wd;
} lamb_ctx;

static bool adapts(const ds_optim *o, int i) {
  return o->h[ALWAYS_ADAPT][0] != 0 || (ds__wd(o, i, o->h[WD][0]) != 0 && !o->ps->info[i].no_adapt);
}

static void gnorm_chunk(ds_optim *o, const ds__chunk *c, const void *ctx) {
  (void)ctx;
  for (int64_t j = c->seg0; j < c->seg0 + c->nseg; j++)
    o->seg_stat[j * 3 + S_G] = ds__sumsq(o->ps->grad + o->segs[j].begin, o->segs[j].n);
}

/* Moments; returns ||θ||² and ||u||² of the range in w2, u2. */
static void moments(int64_t n, const float *restrict p, const float *restrict g, float *restrict m,
                    float *restrict v, float wd, const lamb_ctx *k, double *w2, double *u2) {
  const float ic = k->inv_clip, b1 = k->b1, b3 = k->b3, b2 = k->b2;
  const float ibc1 = k->ibc1, ibc2 = k->ibc2, eps = k->eps;
  double sw = 0, su = 0;
#pragma omp simd reduction(+ : sw, su)
  for (int64_t i = 0; i < n; i++) {
    float gi = g[i] * ic;
    float mi = b1 * m[i] + b3 * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float u = mi * ibc1 / (sqrtf(vi) * ibc2 + eps) + wd * p[i];
    sw += (double)p[i] * p[i];
    su += (double)u * u;
  }
  *w2 = sw;
  *u2 = su;
}

static void moments_chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const lamb_ctx *k = vctx;
  float wd = (float)ds__wd(o, c->param, k->wd);
  for (int64_t j = c->seg0; j < c->seg0 + c->nseg; j++) {
    int64_t b = o->segs[j].begin;
    double *st = &o->seg_stat[j * 3];
    moments(o->segs[j].n, o->ps->data + b, o->ps->grad + b, o->state[0] + b, o->state[1] + b, wd, k,
            &st[S_W], &st[S_U]);
  }
}

static void update(int64_t n, float *restrict p, const float *restrict m, const float *restrict v,
                   float wd, float step, const lamb_ctx *k) {
  const float ibc1 = k->ibc1, ibc2 = k->ibc2, eps = k->eps;
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i];
    float u = m[i] * ibc1 / (sqrtf(v[i]) * ibc2 + eps) + wd * pi;
    p[i] = pi - step * u;
  }
}

/* The trust ratio of parameter i from its reduced norms, NaN if it is not adapted. */
static double trust_ratio(const ds_optim *o, int i) {
  if (!adapts(o, i)) return NAN;
  double w = sqrt(o->param_stat[i * 3 + S_W]), u = sqrt(o->param_stat[i * 3 + S_U]), r = 1.0;
  if (w > 0 && u > 0) r = w / u;
  if (o->h[TRUST_CLIP][0] != 0) r = fmin(r, 1.0);
  return r;
}

static void update_chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const lamb_ctx *k = vctx;
  int i = c->param;
  double r = isnan(o->trust[i]) ? 1.0 : o->trust[i];
  int64_t b = c->begin;
  update(c->n, o->ps->data + b, o->state[0] + b, o->state[1] + b, (float)ds__wd(o, i, k->wd),
         (float)(k->lr * r), k);
}

static void step(ds_optim *o, float lr) {
  double clip = 1.0;
  if (!o->hnone[MAX_GRAD_NORM]) {
    ds__for_chunks(o, gnorm_chunk, NULL);
    double sum = 0;
    for (int64_t j = 0; j < o->nsegs; j++)
      sum += o->seg_stat[j * 3 + S_G];
    clip = fmax(sqrt(sum) / o->h[MAX_GRAD_NORM][0], 1.0);
  }
  double t = (double)ds__t(o), b1 = o->h[BETAS][0], b2 = o->h[BETAS][1];
  bool bc = o->h[BIAS_CORRECTION][0] != 0;
  double bc1 = bc ? 1.0 - pow(b1, t) : 1.0, bc2 = bc ? 1.0 - pow(b2, t) : 1.0;
  lamb_ctx k = {(float)(1.0 / clip),
                (float)b1,
                (float)(o->h[GRAD_AVERAGING][0] != 0 ? 1.0 - b1 : 1.0),
                (float)b2,
                (float)(1.0 / bc1),
                (float)(1.0 / sqrt(bc2)),
                (float)o->h[EPS][0],
                lr,
                o->h[WD][0]};
  ds__for_chunks(o, moments_chunk, &k);
  ds__reduce_stats(o);
  for (int i = 0; i < o->count; i++)
    o->trust[i] = trust_ratio(o, i);
  ds__for_chunks(o, update_chunk, &k);
}

const ds__kind ds__lamb = {
    .name = "lamb",
    .reference = "timm.optim.Lamb (LAMB, You et al. 2019; NVIDIA FusedLAMB behaviour)",
    .hypers = hypers,
    .nstat = 3,
    .trust_ratios = true,
    .states = ds__states_adam_like,
    .step = step,
};
