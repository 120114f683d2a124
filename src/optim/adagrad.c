/* Adagrad (Duchi et al. 2011) as torch.optim.Adagrad in PyTorch 1.13 (dense gradients):
 *   η_t = η / (1 + (t-1)·lr_decay);  d = g + λθ;  s += d²  (s_0 = initial_accumulator_value)
 *   θ -= η_t · d / (sqrt(s) + ε) */
#include <math.h>

#include "optim/optim_internal.h"

enum { LR, LR_DECAY, WD, INIT_ACC, EPS };

static const ds__hyper hypers[] = {
    {"lr", DS__REAL, {1e-2}, 0, INFINITY, false},
    {"lr_decay", DS__REAL, {0}, 0, INFINITY, false},
    {"weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {"initial_accumulator_value", DS__REAL, {0}, 0, INFINITY, false},
    {"eps", DS__REAL, {1e-10}, 0, INFINITY, false},
    {NULL, 0, {0}, 0, 0, false},
};

typedef struct {
  float clr, eps;
  double wd;
} adagrad_ctx;

static void kernel(int64_t n, float *restrict p, const float *restrict g, float *restrict s,
                   float l2, float clr, float eps) {
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i];
    float d = g[i] + l2 * pi;
    float si = s[i] + d * d;
    s[i] = si;
    p[i] = pi - clr * d / (sqrtf(si) + eps);
  }
}

static void chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const adagrad_ctx *k = vctx;
  int64_t b = c->begin;
  kernel(c->n, o->ps->data + b, o->ps->grad + b, o->state[0] + b, (float)ds__wd(o, c->param, k->wd),
         k->clr, k->eps);
}

static void step(ds_optim *o, float lr) {
  double t = (double)ds__t(o);
  adagrad_ctx k = {(float)(lr / (1.0 + (t - 1.0) * o->h[LR_DECAY][0])), (float)o->h[EPS][0],
                   o->h[WD][0]};
  ds__for_chunks(o, chunk, &k);
}

static int states(const ds_optim *o, const char **names) {
  (void)o;
  names[0] = "sum";
  return 1;
}

static void init_state(ds_optim *o) {
  float v = (float)o->h[INIT_ACC][0];
  for (int64_t i = 0; i < o->numel; i++)
    o->state[0][i] = v;
}

const ds__kind ds__adagrad = {
    .name = "adagrad",
    .reference = "torch.optim.Adagrad (PyTorch 1.13)",
    .hypers = hypers,
    .states = states,
    .init_state = init_state,
    .step = step,
};
