/* RMSprop (Hinton, lecture 6e) as torch.optim.RMSprop in PyTorch 1.13 (v_0 = 0, no bias correction,
 * ε outside the root, lr outside the momentum buffer):
 *   d = g + λθ;  v = αv + (1-α)d²;  centered: ḡ = αḡ + (1-α)d, den = sqrt(v - ḡ²) + ε; else sqrt(v)
 * + ε momentum μ > 0: b = μb + d/den, θ -= ηb;   else θ -= η d/den */
#include <math.h>

#include "optim/optim_internal.h"

enum { LR, ALPHA, EPS, WD, MOMENTUM, CENTERED };

static const ds__hyper hypers[] = {
    {"lr", DS__REAL, {1e-2}, 0, INFINITY, false},
    {"alpha", DS__REAL, {0.99}, 0, INFINITY, false},
    {"eps", DS__REAL, {1e-8}, 0, INFINITY, false},
    {"weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {"momentum", DS__REAL, {0}, 0, INFINITY, false},
    {"centered", DS__BOOL, {0}, 0, 1, false},
    {NULL, 0, {0}, 0, 0, false},
};

typedef struct {
  float lr, alpha, eps, mu;
  double wd;
  bool centered;
} rms_ctx;

/* Specialised by the constant flags at each call site below. */
static inline void kernel(int64_t n, float *restrict p, const float *restrict g, float *restrict v,
                          float *restrict b, float *restrict ga, float l2, const rms_ctx *k,
                          const bool centered, const bool momentum) {
  const float lr = k->lr, a = k->alpha, eps = k->eps, mu = k->mu;
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i];
    float d = g[i] + l2 * pi;
    float vi = a * v[i] + (1.0f - a) * d * d;
    v[i] = vi;
    float den;
    if (centered) {
      float gi = a * ga[i] + (1.0f - a) * d;
      ga[i] = gi;
      den = sqrtf(vi - gi * gi) + eps;
    } else {
      den = sqrtf(vi) + eps;
    }
    if (momentum) {
      float bi = mu * b[i] + d / den;
      b[i] = bi;
      p[i] = pi - lr * bi;
    } else {
      p[i] = pi - lr * d / den;
    }
  }
}

static void chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const rms_ctx *k = vctx;
  int64_t s = c->begin, n = c->n;
  float *p = o->ps->data + s, *v = o->state[0] + s;
  const float *g = o->ps->grad + s;
  float l2 = (float)ds__wd(o, c->param, k->wd);
  bool mom = k->mu > 0;
  /* state order: square_avg, [momentum_buffer], [grad_avg] */
  float *b = mom ? o->state[1] + s : NULL;
  float *ga = k->centered ? o->state[mom ? 2 : 1] + s : NULL;
  if (k->centered && mom)
    kernel(n, p, g, v, b, ga, l2, k, true, true);
  else if (k->centered)
    kernel(n, p, g, v, b, ga, l2, k, true, false);
  else if (mom)
    kernel(n, p, g, v, b, ga, l2, k, false, true);
  else
    kernel(n, p, g, v, b, ga, l2, k, false, false);
}

static void step(ds_optim *o, float lr) {
  rms_ctx k = {lr,          (float)o->h[ALPHA][0], (float)o->h[EPS][0], (float)o->h[MOMENTUM][0],
               o->h[WD][0], o->h[CENTERED][0] != 0};
  ds__for_chunks(o, chunk, &k);
}

static int states(const ds_optim *o, const char **names) {
  int n = 0;
  names[n++] = "square_avg";
  if (o->h[MOMENTUM][0] > 0) names[n++] = "momentum_buffer";
  if (o->h[CENTERED][0] != 0) names[n++] = "grad_avg";
  return n;
}

const ds__kind ds__rmsprop = {
    .name = "rmsprop",
    .reference = "torch.optim.RMSprop (PyTorch 1.13)",
    .hypers = hypers,
    .states = states,
    .step = step,
};
