/* Schedule-Free AdamW (Defazio et al. 2024), facebookresearch/schedule_free AdamWScheduleFree.
 * Three sequences: z (base iterate, state "z"), x (average, evaluated), y = (1-β1) z + β1 x (where
 * gradients are taken; kept in the parameter buffer while training). Step k = t-1:
 *   γ = η·min(1, (k+1)/warmup_steps);  γmax = max(γmax, γ);  w = (k+1)^r · γmax^weight_lr_power
 *   W += w;  c = w / W;  v = β2 v + (1-β2) g²;  u = g / (sqrt(v / (1-β2^{k+1})) + ε) + λy
 *   y ← y + c(z - y) + γ(β1(1-c) - 1) u;   z ← z - γu
 * which keeps x_{k+1} = (1-c) x_k + c z_{k+1} without storing x. Eval: x = y + (1 - 1/β1)(z - y);
 * train: y = x + (1-β1)(z - x). */
#include <math.h>

#include "optim/optim_internal.h"

enum { LR, BETAS, EPS, WD, WARMUP, R, WEIGHT_LR_POWER };
enum { WEIGHT_SUM = 1, LR_MAX = 2, EVAL = 3 };

static const ds__hyper hypers[] = {
    {"lr", DS__REAL, {0.0025}, 0, INFINITY, false},
    {"betas", DS__PAIR, {0.9, 0.999}, 0, 1, true},
    {"eps", DS__REAL, {1e-8}, 0, INFINITY, false},
    {"weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {"warmup_steps", DS__INT, {0}, 0, 1e15, false},
    {"r", DS__REAL, {0}, 0, INFINITY, false},
    {"weight_lr_power", DS__REAL, {2.0}, 0, INFINITY, false},
    {NULL, 0, {0}, 0, 0, false},
};

/* "eval_mode" must stay last: ds_optim_in_eval_mode reads the last scalar. */
static const char *const scalars[] = {"weight_sum", "lr_max", "eval_mode", NULL};

typedef struct {
  float gamma, b2, eps, ibc2, c, cy; /* cy = γ(β1(1-c) - 1) */
  double wd;
} sf_ctx;

static void kernel(int64_t n, float *restrict y, const float *restrict g, float *restrict z,
                   float *restrict v, float wd, const sf_ctx *k) {
  const float b2 = k->b2, eps = k->eps, ibc2 = k->ibc2, c = k->c, cy = k->cy, gamma = k->gamma;
  for (int64_t i = 0; i < n; i++) {
    float gi = g[i], yi = y[i], zi = z[i];
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    float u = gi / (sqrtf(vi) * ibc2 + eps) + wd * yi;
    v[i] = vi;
    y[i] = yi + c * (zi - yi) + cy * u;
    z[i] = zi - gamma * u;
  }
}

static void chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const sf_ctx *k = vctx;
  int64_t b = c->begin;
  kernel(c->n, o->ps->data + b, o->ps->grad + b, o->state[0] + b, o->state[1] + b,
         (float)ds__wd(o, c->param, k->wd), k);
}

static void step(ds_optim *o, float lr) {
  double k = (double)(ds__t(o) - 1), warm = o->h[WARMUP][0];
  double b1 = o->h[BETAS][0], b2 = o->h[BETAS][1];
  double sched = k < warm ? (k + 1) / warm : 1.0;
  double gamma = lr * sched;
  double lr_max = o->scalar[LR_MAX] = fmax(gamma, o->scalar[LR_MAX]);
  double w = pow(k + 1, o->h[R][0]) * pow(lr_max, o->h[WEIGHT_LR_POWER][0]);
  double wsum = o->scalar[WEIGHT_SUM] += w;
  double ckp1 = wsum > 0 ? w / wsum : 0.0;
  sf_ctx ctx = {(float)gamma,        (float)b2,
                (float)o->h[EPS][0], (float)(1.0 / sqrt(1.0 - pow(b2, k + 1))),
                (float)ckp1,         (float)(gamma * (b1 * (1.0 - ckp1) - 1.0)),
                o->h[WD][0]};
  ds__for_chunks(o, chunk, &ctx);
}

/* p ← p + w (z - p) over the whole buffer. */
static void lerp_to_z(ds_optim *o, float w) {
  float *restrict p = o->ps->data;
  const float *restrict z = o->state[0];
  const int64_t n = o->numel;
#pragma omp parallel for simd schedule(static) if (n >= DS__PAR_MIN)
  for (int64_t i = 0; i < n; i++)
    p[i] += w * (z[i] - p[i]);
}

static ds_status eval_mode(ds_optim *o, bool eval) {
  if ((o->scalar[EVAL] != 0) == eval) return DS_OK;
  double b1 = o->h[BETAS][0];
  if (o->allocated) {
    if (b1 == 0)
      return ds_set_error(DS_EINVAL,
                          "optimizer '%s': betas[0] = 0 leaves x unrecoverable from y "
                          "and z; eval mode needs betas[0] > 0",
                          o->kind->name);
    lerp_to_z(o, eval ? (float)(1.0 - 1.0 / b1) : (float)(1.0 - b1));
  }
  o->scalar[EVAL] = eval ? 1.0 : 0.0;
  return DS_OK;
}

static int states(const ds_optim *o, const char **names) {
  (void)o;
  names[0] = "z";
  names[1] = "exp_avg_sq";
  return 2;
}

/* z starts at the initial parameters. */
static void init_state(ds_optim *o) {
  const float *p = o->ps->data;
  for (int64_t i = 0; i < o->numel; i++)
    o->state[0][i] = p[i];
}

static void init_scalars(ds_optim *o) { o->scalar[LR_MAX] = -1.0; }

const ds__kind ds__schedfree_adamw = {
    .name = "schedulefree_adamw",
    .reference = "facebookresearch/schedule_free AdamWScheduleFree (Defazio et al. 2024)",
    .hypers = hypers,
    .scalars = scalars,
    .states = states,
    .init_state = init_state,
    .init_scalars = init_scalars,
    .step = step,
    .eval_mode = eval_mode,
};
