/* SGD with momentum: torch.optim.SGD (PyTorch 1.13, coupled L2 decay) and timm.optim.SGDW
 * (decoupled, lr-scaled decay). Both keep lr outside the momentum buffer and start it at b_1 = d_1.
 *   sgd:  d = g + λθ;           b = μb + (1-τ)d (b_1 = d);  u = nesterov ? d + μb : b;  θ -= ηu
 *   sgdw: θ *= 1 - ηλ;  d = g;  b, u as above;                                          θ -= ηu */
#include <math.h>

#include "optim/optim_internal.h"

enum { LR, MOMENTUM, DAMPENING, WD, NESTEROV };

/* PyTorch 1.13 has lr=required; 1e-3 is the default of later releases and of timm's SGDW. */
static const ds__hyper sgd_hypers[] = {
    {"lr", DS__REAL, {1e-3}, 0, INFINITY, false},
    {"momentum", DS__REAL, {0}, 0, INFINITY, false},
    {"dampening", DS__REAL, {0}, -INFINITY, INFINITY, false},
    {"weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {"nesterov", DS__BOOL, {0}, 0, 1, false},
    {NULL, 0, {0}, 0, 0, false},
};

typedef struct {
  float lr, mu, damp, a_grad, a_buf; /* update u = a_grad*d + a_buf*b */
  double wd;
  bool decoupled;
} sgd_ctx;

/* Momentum-free step: θ = θ·decay − η(g + l2·θ). */
static void sgd_plain(int64_t n, float *restrict p, const float *restrict g, float lr, float l2,
                      float decay) {
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i];
    p[i] = pi * decay - lr * (g[i] + l2 * pi);
  }
}

/* Momentum step; on the first step mu = 0, keep = 1 so that b = d. */
static void sgd_momentum(int64_t n, float *restrict p, const float *restrict g, float *restrict b,
                         float lr, float l2, float decay, float mu, float keep, float a_grad,
                         float a_buf) {
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i];
    float d = g[i] + l2 * pi;
    float bi = mu * b[i] + keep * d;
    b[i] = bi;
    p[i] = pi * decay - lr * (a_grad * d + a_buf * bi);
  }
}

static void sgd_chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const sgd_ctx *k = vctx;
  double wd = ds__wd(o, c->param, k->wd);
  float l2 = k->decoupled ? 0.0f : (float)wd;
  float decay = k->decoupled ? (float)(1.0 - (double)k->lr * wd) : 1.0f;
  float *p = o->ps->data + c->begin;
  const float *g = o->ps->grad + c->begin;
  if (k->mu == 0.0f) {
    sgd_plain(c->n, p, g, k->lr, l2, decay);
  } else {
    bool first = ds__t(o) == 1;
    sgd_momentum(c->n, p, g, o->state[0] + c->begin, k->lr, l2, decay, first ? 0.0f : k->mu,
                 first ? 1.0f : k->damp, k->a_grad, k->a_buf);
  }
}

static void step(ds_optim *o, float lr, bool decoupled) {
  float mu = (float)o->h[MOMENTUM][0];
  bool nesterov = o->h[NESTEROV][0] != 0;
  sgd_ctx k = {lr,
               mu,
               (float)(1.0 - o->h[DAMPENING][0]),
               nesterov ? 1.0f : 0.0f,
               nesterov ? mu : 1.0f,
               o->h[WD][0],
               decoupled};
  ds__for_chunks(o, sgd_chunk, &k);
}
static void sgd_step(ds_optim *o, float lr) { step(o, lr, false); }
static void sgdw_step(ds_optim *o, float lr) { step(o, lr, true); }

static int states(const ds_optim *o, const char **names) {
  if (o->h[MOMENTUM][0] == 0) return 0;
  names[0] = "momentum_buffer";
  return 1;
}

static ds_status check(const ds_optim *o) {
  if (o->h[NESTEROV][0] != 0 && (o->h[MOMENTUM][0] <= 0 || o->h[DAMPENING][0] != 0))
    return ds_set_error(DS_EINVAL,
                        "optimizer '%s': nesterov requires momentum > 0 and dampening = 0",
                        o->kind->name);
  return DS_OK;
}

const ds__kind ds__sgd = {
    .name = "sgd",
    .reference = "torch.optim.SGD (PyTorch 1.13)",
    .hypers = sgd_hypers,
    .states = states,
    .check = check,
    .step = sgd_step,
};

const ds__kind ds__sgdw = {
    .name = "sgdw",
    .reference = "timm.optim.SGDW (decoupled weight decay scaled by lr)",
    .hypers = sgd_hypers,
    .states = states,
    .check = check,
    .step = sgdw_step,
};
