/* Lion (Chen et al. 2023, google/automl lion_pytorch.py; timm.optim.Lion):
 *   θ *= 1 - ηλ;  θ -= η sign(β1 m + (1-β1) g);  m = β2 m + (1-β2) g      (sign(0) = 0) */
#include <math.h>

#include "optim/optim_internal.h"

enum { LR, BETAS, WD };

static const ds__hyper hypers[] = {
    {"lr", DS__REAL, {1e-4}, 0, INFINITY, false},
    {"betas", DS__PAIR, {0.9, 0.99}, 0, 1, true},
    {"weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {NULL, 0, {0}, 0, 0, false},
};

typedef struct {
  float lr, b1, b2;
  double wd;
} lion_ctx;

static void kernel(int64_t n, float *restrict p, const float *restrict g, float *restrict m,
                   float decay, float lr, float b1, float b2) {
  for (int64_t i = 0; i < n; i++) {
    float gi = g[i], mi = m[i];
    float c = b1 * mi + (1.0f - b1) * gi;
    float sign = (float)(c > 0.0f) - (float)(c < 0.0f);
    p[i] = p[i] * decay - lr * sign;
    m[i] = b2 * mi + (1.0f - b2) * gi;
  }
}

static void chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const lion_ctx *k = vctx;
  int64_t b = c->begin;
  float decay = (float)(1.0 - (double)k->lr * ds__wd(o, c->param, k->wd));
  kernel(c->n, o->ps->data + b, o->ps->grad + b, o->state[0] + b, decay, k->lr, k->b1, k->b2);
}

static void step(ds_optim *o, float lr) {
  lion_ctx k = {lr, (float)o->h[BETAS][0], (float)o->h[BETAS][1], o->h[WD][0]};
  ds__for_chunks(o, chunk, &k);
}

static int states(const ds_optim *o, const char **names) {
  (void)o;
  names[0] = "exp_avg";
  return 1;
}

const ds__kind ds__lion = {
    .name = "lion",
    .reference = "Lion, google/automl lion_pytorch.py (= timm.optim.Lion)",
    .hypers = hypers,
    .states = states,
    .step = step,
};
