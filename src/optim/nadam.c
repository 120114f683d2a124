/* NAdam (Dozat 2016) as torch.optim.NAdam in PyTorch 1.13 with the fix of pytorch PR #92699
 * (the 1.13 single-tensor path multiplied μ_t into the next-step product twice; this is the
 * foreach form, which is correct):
 *   d = g + λθ;  μ_t = β1 (1 - ½·0.96^{tψ});  μ_{t+1} likewise;  Π_t = Π_{t-1} μ_t (Π_0 = 1)
 *   m = β1 m + (1-β1) d;  v = β2 v + (1-β2) d²;  den = sqrt(v) / sqrt(1-β2^t) + ε
 *   θ -= η (1-μ_t)/(1-Π_t) · d/den + η μ_{t+1}/(1-Π_t μ_{t+1}) · m/den */
#include <math.h>

#include "optim/optim_internal.h"

enum { LR, BETAS, EPS, WD, MOMENTUM_DECAY };

static const ds__hyper hypers[] = {
    {"lr", DS__REAL, {2e-3}, 0, INFINITY, false},
    {"betas", DS__PAIR, {0.9, 0.999}, 0, 1, true},
    {"eps", DS__REAL, {1e-8}, 0, INFINITY, false},
    {"weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {"momentum_decay", DS__REAL, {4e-3}, 0, INFINITY, false},
    {NULL, 0, {0}, 0, 0, false},
};

static const char *const scalars[] = {"mu_product", NULL};

typedef struct {
  float b1, b2, eps, ibc2, c_grad, c_mom; /* θ -= c_grad·d/den + c_mom·m/den */
  double wd;
} nadam_ctx;

static void kernel(int64_t n, float *restrict p, const float *restrict g, float *restrict m,
                   float *restrict v, float l2, const nadam_ctx *k) {
  const float b1 = k->b1, b2 = k->b2, eps = k->eps, ibc2 = k->ibc2;
  const float cg = k->c_grad, cm = k->c_mom;
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i];
    float d = g[i] + l2 * pi;
    float mi = b1 * m[i] + (1.0f - b1) * d;
    float vi = b2 * v[i] + (1.0f - b2) * d * d;
    m[i] = mi;
    v[i] = vi;
    float den = sqrtf(vi) * ibc2 + eps;
    p[i] = pi - (cg * d + cm * mi) / den;
  }
}

static void chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const nadam_ctx *k = vctx;
  int64_t b = c->begin;
  kernel(c->n, o->ps->data + b, o->ps->grad + b, o->state[0] + b, o->state[1] + b,
         (float)ds__wd(o, c->param, k->wd), k);
}

static void step(ds_optim *o, float lr) {
  double t = (double)ds__t(o), b1 = o->h[BETAS][0], b2 = o->h[BETAS][1];
  double psi = o->h[MOMENTUM_DECAY][0];
  double mu = b1 * (1.0 - 0.5 * pow(0.96, t * psi));
  double mu_next = b1 * (1.0 - 0.5 * pow(0.96, (t + 1.0) * psi));
  double prod = o->scalar[1] * mu;
  o->scalar[1] = prod;
  nadam_ctx k = {(float)b1,
                 (float)b2,
                 (float)o->h[EPS][0],
                 (float)(1.0 / sqrt(1.0 - pow(b2, t))),
                 (float)(lr * (1.0 - mu) / (1.0 - prod)),
                 (float)(lr * mu_next / (1.0 - prod * mu_next)),
                 o->h[WD][0]};
  ds__for_chunks(o, chunk, &k);
}

static void init_scalars(ds_optim *o) { o->scalar[1] = 1.0; }

const ds__kind ds__nadam = {
    .name = "nadam",
    .reference = "torch.optim.NAdam (PyTorch 1.13, foreach form = fix of pytorch#92699)",
    .hypers = hypers,
    .scalars = scalars,
    .states = ds__states_adam_like,
    .init_scalars = init_scalars,
    .step = step,
};
