/* Adam, AdamW (both with optional AMSGrad) and Adamax, as torch.optim in PyTorch 1.13.
 *   adam:   d = g + λθ;  m = β1 m + (1-β1) d;  v = β2 v + (1-β2) d²;  [v̂max = max(v̂max, v)]
 *           θ -= (η / (1-β1^t)) · m / (sqrt(v) / sqrt(1-β2^t) + ε)
 *   adamw:  θ *= 1 - ηλ first, then the adam step with d = g
 *   adamax: d = g + λθ;  m as adam;  u = max(β2 u, |d| + ε);  θ -= (η / (1-β1^t)) · m / u */
#include <math.h>

#include "optim/optim_internal.h"

enum { LR, BETAS, EPS, WD, AMSGRAD };

static const ds__hyper adam_hypers[] = {
    {"lr", DS__REAL, {1e-3}, 0, INFINITY, false},
    {"betas", DS__PAIR, {0.9, 0.999}, 0, 1, true},
    {"eps", DS__REAL, {1e-8}, 0, INFINITY, false},
    {"weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {"amsgrad", DS__BOOL, {0}, 0, 1, false},
    {NULL, 0, {0}, 0, 0, false},
};

static const ds__hyper adamw_hypers[] = {
    {"lr", DS__REAL, {1e-3}, 0, INFINITY, false},
    {"betas", DS__PAIR, {0.9, 0.999}, 0, 1, true},
    {"eps", DS__REAL, {1e-8}, 0, INFINITY, false},
    {"weight_decay", DS__REAL, {1e-2}, 0, INFINITY, false},
    {"amsgrad", DS__BOOL, {0}, 0, 1, false},
    {NULL, 0, {0}, 0, 0, false},
};

static const ds__hyper adamax_hypers[] = {
    {"lr", DS__REAL, {2e-3}, 0, INFINITY, false},
    {"betas", DS__PAIR, {0.9, 0.999}, 0, 1, true},
    {"eps", DS__REAL, {1e-8}, 0, INFINITY, false},
    {"weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {NULL, 0, {0}, 0, 0, false},
};

typedef struct {
  float lr, b1, b2, eps, step, inv_sqrt_bc2;
  double wd;
  bool decoupled, amsgrad;
} adam_ctx;

void ds__adam_kernel(int64_t n, float *restrict p, const float *restrict g, float *restrict m,
                     float *restrict v, float l2, float decay, float b1, float b2, float eps,
                     float step, float ibc2) {
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i];
    float d = g[i] + l2 * pi;
    float mi = b1 * m[i] + (1.0f - b1) * d;
    float vi = b2 * v[i] + (1.0f - b2) * d * d;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi * decay - step * mi / (sqrtf(vi) * ibc2 + eps);
  }
}

static void amsgrad_kernel(int64_t n, float *restrict p, const float *restrict g, float *restrict m,
                           float *restrict v, float *restrict vmax, float l2, float decay, float b1,
                           float b2, float eps, float step, float ibc2) {
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i];
    float d = g[i] + l2 * pi;
    float mi = b1 * m[i] + (1.0f - b1) * d;
    float vi = b2 * v[i] + (1.0f - b2) * d * d;
    float vm = vi > vmax[i] ? vi : vmax[i]; /* torch keeps the max of the raw v */
    m[i] = mi;
    v[i] = vi;
    vmax[i] = vm;
    p[i] = pi * decay - step * mi / (sqrtf(vm) * ibc2 + eps);
  }
}

static void adam_chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const adam_ctx *k = vctx;
  double wd = ds__wd(o, c->param, k->wd);
  float l2 = k->decoupled ? 0.0f : (float)wd;
  float decay = k->decoupled ? (float)(1.0 - (double)k->lr * wd) : 1.0f;
  int64_t b = c->begin;
  float *p = o->ps->data + b;
  const float *g = o->ps->grad + b;
  if (k->amsgrad)
    amsgrad_kernel(c->n, p, g, o->state[0] + b, o->state[1] + b, o->state[2] + b, l2, decay, k->b1,
                   k->b2, k->eps, k->step, k->inv_sqrt_bc2);
  else
    ds__adam_kernel(c->n, p, g, o->state[0] + b, o->state[1] + b, l2, decay, k->b1, k->b2, k->eps,
                    k->step, k->inv_sqrt_bc2);
}

static void step(ds_optim *o, float lr, bool decoupled) {
  double t = (double)ds__t(o), b1 = o->h[BETAS][0], b2 = o->h[BETAS][1];
  double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
  adam_ctx k = {lr,
                (float)b1,
                (float)b2,
                (float)o->h[EPS][0],
                (float)(lr / bc1),
                (float)(1.0 / sqrt(bc2)),
                o->h[WD][0],
                decoupled,
                o->h[AMSGRAD][0] != 0};
  ds__for_chunks(o, adam_chunk, &k);
}
static void adam_step(ds_optim *o, float lr) { step(o, lr, false); }
static void adamw_step(ds_optim *o, float lr) { step(o, lr, true); }

static int adam_states(const ds_optim *o, const char **names) {
  names[0] = "exp_avg";
  names[1] = "exp_avg_sq";
  if (o->h[AMSGRAD][0] == 0) return 2;
  names[2] = "max_exp_avg_sq";
  return 3;
}

const ds__kind ds__adam = {
    .name = "adam",
    .reference = "torch.optim.Adam (PyTorch 1.13)",
    .hypers = adam_hypers,
    .states = adam_states,
    .step = adam_step,
};

const ds__kind ds__adamw = {
    .name = "adamw",
    .reference = "torch.optim.AdamW (PyTorch 1.13)",
    .hypers = adamw_hypers,
    .states = adam_states,
    .step = adamw_step,
};

/* ---- adamax -------------------------------------------------------------------------------- */

static void adamax_kernel(int64_t n, float *restrict p, const float *restrict g, float *restrict m,
                          float *restrict u, float l2, float b1, float b2, float eps, float step) {
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i];
    float d = g[i] + l2 * pi;
    float mi = b1 * m[i] + (1.0f - b1) * d;
    float a = b2 * u[i], b = fabsf(d) + eps;
    float ui = a > b ? a : b;
    m[i] = mi;
    u[i] = ui;
    p[i] = pi - step * mi / ui;
  }
}

static void adamax_chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const adam_ctx *k = vctx;
  int64_t b = c->begin;
  adamax_kernel(c->n, o->ps->data + b, o->ps->grad + b, o->state[0] + b, o->state[1] + b,
                (float)ds__wd(o, c->param, k->wd), k->b1, k->b2, k->eps, k->step);
}

static void adamax_step(ds_optim *o, float lr) {
  double b1 = o->h[BETAS][0];
  adam_ctx k = {lr,
                (float)b1,
                (float)o->h[BETAS][1],
                (float)o->h[EPS][0],
                (float)(lr / (1.0 - pow(b1, (double)ds__t(o)))),
                1.0f,
                o->h[WD][0],
                false,
                false};
  ds__for_chunks(o, adamax_chunk, &k);
}

static int adamax_states(const ds_optim *o, const char **names) {
  (void)o;
  names[0] = "exp_avg";
  names[1] = "exp_inf";
  return 2;
}

const ds__kind ds__adamax = {
    .name = "adamax",
    .reference = "torch.optim.Adamax (PyTorch 1.13)",
    .hypers = adamax_hypers,
    .states = adamax_states,
    .step = adamax_step,
};
