/* Adadelta (Zeiler 2012) as torch.optim.Adadelta in PyTorch 1.13 (ε inside both roots, lr scales
 * Δ): d = g + λθ;  v = ρv + (1-ρ)d²;  Δ = sqrt(u + ε) / sqrt(v + ε) · d;  u = ρu + (1-ρ)Δ²;  θ -=
 * ηΔ */
#include <math.h>

#include "optim/optim_internal.h"

enum { LR, RHO, EPS, WD };

static const ds__hyper hypers[] = {
    {"lr", DS__REAL, {1.0}, 0, INFINITY, false},
    {"rho", DS__REAL, {0.9}, 0, 1, false},
    {"eps", DS__REAL, {1e-6}, 0, INFINITY, false},
    {"weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {NULL, 0, {0}, 0, 0, false},
};

typedef struct {
  float lr, rho, eps;
  double wd;
} adadelta_ctx;

static void kernel(int64_t n, float *restrict p, const float *restrict g, float *restrict v,
                   float *restrict u, float l2, float lr, float rho, float eps) {
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i];
    float d = g[i] + l2 * pi;
    float vi = rho * v[i] + (1.0f - rho) * d * d;
    float delta = sqrtf(u[i] + eps) / sqrtf(vi + eps) * d;
    v[i] = vi;
    u[i] = rho * u[i] + (1.0f - rho) * delta * delta;
    p[i] = pi - lr * delta;
  }
}

static void chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const adadelta_ctx *k = vctx;
  int64_t b = c->begin;
  kernel(c->n, o->ps->data + b, o->ps->grad + b, o->state[0] + b, o->state[1] + b,
         (float)ds__wd(o, c->param, k->wd), k->lr, k->rho, k->eps);
}

static void step(ds_optim *o, float lr) {
  adadelta_ctx k = {lr, (float)o->h[RHO][0], (float)o->h[EPS][0], o->h[WD][0]};
  ds__for_chunks(o, chunk, &k);
}

static int states(const ds_optim *o, const char **names) {
  (void)o;
  names[0] = "square_avg";
  names[1] = "acc_delta";
  return 2;
}

const ds__kind ds__adadelta = {
    .name = "adadelta",
    .reference = "torch.optim.Adadelta (PyTorch 1.13)",
    .hypers = hypers,
    .states = states,
    .step = step,
};
