/* RAdam (Liu et al. 2020) as torch.optim.RAdam in PyTorch 1.13:
 *   d = g + λθ;  m = β1 m + (1-β1) d;  v = β2 v + (1-β2) d²;  m̂ = m / (1-β1^t)
 *   ρ∞ = 2/(1-β2) - 1;  ρ_t = ρ∞ - 2t β2^t / (1-β2^t)
 *   ρ_t > 5: r = sqrt((ρ_t-4)(ρ_t-2)ρ∞ / ((ρ∞-4)(ρ∞-2)ρ_t));  θ -= η r m̂ sqrt(1-β2^t) / (sqrt(v) +
 * ε) else:    θ -= η m̂   (the paper's threshold is 4; the code's, and torch's, is 5) */
#include <math.h>

#include "optim/optim_internal.h"

enum { LR, BETAS, EPS, WD };

static const ds__hyper hypers[] = {
    {"lr", DS__REAL, {1e-3}, 0, INFINITY, false},
    {"betas", DS__PAIR, {0.9, 0.999}, 0, 1, true},
    {"eps", DS__REAL, {1e-8}, 0, INFINITY, false},
    {"weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {NULL, 0, {0}, 0, 0, false},
};

typedef struct {
  float b1, b2, eps, step; /* step = η r sqrt(bc2) / bc1 (rectified) or η / bc1 */
  bool rectified;
  double wd;
} radam_ctx;

static void rect_kernel(int64_t n, float *restrict p, const float *restrict g, float *restrict m,
                        float *restrict v, float l2, float b1, float b2, float eps, float step) {
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i];
    float d = g[i] + l2 * pi;
    float mi = b1 * m[i] + (1.0f - b1) * d;
    float vi = b2 * v[i] + (1.0f - b2) * d * d;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step * mi / (sqrtf(vi) + eps);
  }
}

static void sgd_kernel(int64_t n, float *restrict p, const float *restrict g, float *restrict m,
                       float *restrict v, float l2, float b1, float b2, float step) {
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i];
    float d = g[i] + l2 * pi;
    float mi = b1 * m[i] + (1.0f - b1) * d;
    m[i] = mi;
    v[i] = b2 * v[i] + (1.0f - b2) * d * d;
    p[i] = pi - step * mi;
  }
}

static void chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const radam_ctx *k = vctx;
  int64_t b = c->begin;
  float l2 = (float)ds__wd(o, c->param, k->wd);
  float *p = o->ps->data + b, *m = o->state[0] + b, *v = o->state[1] + b;
  const float *g = o->ps->grad + b;
  if (k->rectified)
    rect_kernel(c->n, p, g, m, v, l2, k->b1, k->b2, k->eps, k->step);
  else
    sgd_kernel(c->n, p, g, m, v, l2, k->b1, k->b2, k->step);
}

static void step(ds_optim *o, float lr) {
  double t = (double)ds__t(o), b1 = o->h[BETAS][0], b2 = o->h[BETAS][1];
  double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
  double rho_inf = 2.0 / (1.0 - b2) - 1.0;
  double rho_t = rho_inf - 2.0 * t * pow(b2, t) / bc2;
  radam_ctx k = {(float)b1,         (float)b2,   (float)o->h[EPS][0],
                 (float)(lr / bc1), rho_t > 5.0, o->h[WD][0]};
  if (k.rectified) {
    double r = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t));
    k.step = (float)(lr * r * sqrt(bc2) / bc1);
  }
  ds__for_chunks(o, chunk, &k);
}

const ds__kind ds__radam = {
    .name = "radam",
    .reference = "torch.optim.RAdam (PyTorch 1.13)",
    .hypers = hypers,
    .states = ds__states_adam_like,
    .step = step,
};
