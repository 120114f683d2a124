/* AdamP and SGDP (Heo et al. 2021), as clovaai/AdamP adamp.py / sgdp.py and timm's copies.
 *   adamp: m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²;  den = sqrt(v)/sqrt(1-β2^t) + ε
 *          u = (nesterov ? β1 m + (1-β1) g : m) / den
 *          (u, s) = projection(θ, g, u);  θ *= 1 - ηλs;  θ -= η/(1-β1^t) · u
 *   sgdp:  b = μb + (1-τ)g (b_0 = 0);  u = nesterov ? g + μb : b
 *          (u, s) = projection(θ, g, u);  θ *= 1 - ηλs/(1-μ);  θ -= ηu
 * projection, for rank >= 2 only (s = 1 otherwise): for the channel view (one row per output unit)
 * then the layer view (the whole tensor as one row), the first where every row has
 *   |cos(g_i, θ_i)| < δ / sqrt(row length),  cos = <g,θ> / (max(||g||,ε) · max(||θ||,ε)),
 * projects each row: u_i -= θ_i <θ_i, u_i> / (||θ_i|| + ε)², and sets s = wd_ratio.
 * Two passes: moments and per-row sums, then the update (u recomputed). */
#include <math.h>

#include "optim/optim_internal.h"

enum { A_LR, A_BETAS, A_EPS, A_WD, A_DELTA, A_WD_RATIO, A_NESTEROV };
enum { S_LR, S_MOMENTUM, S_DAMPENING, S_WD, S_NESTEROV, S_EPS, S_DELTA, S_WD_RATIO };

static const ds__hyper adamp_hypers[] = {
    {"lr", DS__REAL, {1e-3}, 0, INFINITY, false},
    {"betas", DS__PAIR, {0.9, 0.999}, 0, 1, true},
    {"eps", DS__REAL, {1e-8}, 0, INFINITY, false},
    {"weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {"delta", DS__REAL, {0.1}, 0, INFINITY, false},
    {"wd_ratio", DS__REAL, {0.1}, 0, INFINITY, false},
    {"nesterov", DS__BOOL, {0}, 0, 1, false},
    {NULL, 0, {0}, 0, 0, false},
};

/* clovaai's SGDP has lr=required; 1e-3 keeps descent's SGD-family default. */
static const ds__hyper sgdp_hypers[] = {
    {"lr", DS__REAL, {1e-3}, 0, INFINITY, false},
    {"momentum", DS__REAL, {0}, 0, 1, true},
    {"dampening", DS__REAL, {0}, -INFINITY, INFINITY, false},
    {"weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {"nesterov", DS__BOOL, {0}, 0, 1, false},
    {"eps", DS__REAL, {1e-8}, 0, INFINITY, false},
    {"delta", DS__REAL, {0.1}, 0, INFINITY, false},
    {"wd_ratio", DS__REAL, {0.1}, 0, INFINITY, false},
    {NULL, 0, {0}, 0, 0, false},
};

enum { S_WW, S_GG, S_WG, S_WU }; /* per segment: ||θ||², ||g||², <θ,g>, <θ,u> */

/* The direction u before projection, from the updated state: u = cg·g + cm·m / den, where
 * den = sqrt(v)·ibc2 + ε for adamp (adam = true) and den = 1 for sgdp. */
typedef struct {
  float b1, b2, ibc2, eps, cg, cm, damp;
  bool adam;
} dir_ctx;

/* Pass 1: state update and the four sums of one segment. */
static void pass1(int64_t n, const float *restrict p, const float *restrict g, float *restrict m,
                  float *restrict v, const dir_ctx *k, double *st) {
  const float b1 = k->b1, b2 = k->b2, ibc2 = k->ibc2, eps = k->eps, cg = k->cg, cm = k->cm;
  double ww = 0, gg = 0, wg = 0, wu = 0;
  if (k->adam) {
#pragma omp simd reduction(+ : ww, gg, wg, wu)
    for (int64_t i = 0; i < n; i++) {
      float gi = g[i];
      float mi = b1 * m[i] + (1.0f - b1) * gi;
      float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      float u = (cg * gi + cm * mi) / (sqrtf(vi) * ibc2 + eps);
      double pi = p[i];
      ww += pi * pi;
      gg += (double)gi * gi;
      wg += pi * gi;
      wu += pi * u;
    }
  } else {
    const float damp = k->damp;
#pragma omp simd reduction(+ : ww, gg, wg, wu)
    for (int64_t i = 0; i < n; i++) {
      float gi = g[i];
      float mi = b1 * m[i] + damp * gi; /* b1 = μ */
      m[i] = mi;
      float u = cg * gi + cm * mi;
      double pi = p[i];
      ww += pi * pi;
      gg += (double)gi * gi;
      wg += pi * gi;
      wu += pi * u;
    }
  }
  st[S_WW] = ww;
  st[S_GG] = gg;
  st[S_WG] = wg;
  st[S_WU] = wu;
}

static void pass1_chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const dir_ctx *k = vctx;
  for (int64_t j = c->seg0; j < c->seg0 + c->nseg; j++) {
    int64_t b = o->segs[j].begin;
    pass1(o->segs[j].n, o->ps->data + b, o->ps->grad + b, o->state[0] + b,
          k->adam ? o->state[1] + b : NULL, k, &o->seg_stat[j * 4]);
  }
}

/* Pass 2: θ = θ·decay − step·(u − proj·θ). */
static void pass2(int64_t n, float *restrict p, const float *restrict g, const float *restrict m,
                  const float *restrict v, const dir_ctx *k, float decay, float step, float proj) {
  const float ibc2 = k->ibc2, eps = k->eps, cg = k->cg, cm = k->cm;
  if (k->adam) {
    for (int64_t i = 0; i < n; i++) {
      float pi = p[i];
      float u = (cg * g[i] + cm * m[i]) / (sqrtf(v[i]) * ibc2 + eps) - proj * pi;
      p[i] = pi * decay - step * u;
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      float pi = p[i];
      float u = cg * g[i] + cm * m[i] - proj * pi;
      p[i] = pi * decay - step * u;
    }
  }
}

/* Per-tensor outcome of the projection test, filled between the passes. */
typedef struct {
  dir_ctx dir;
  float lr, step;
  double wd, wd_ratio, delta, eps, decay_div; /* decay_div = 1-μ (sgdp) or 1 */
  signed char *view;                          /* per parameter: 0 none, 1 channel, 2 layer */
} step_ctx;

static double cosine(const double *st, double eps) {
  return fabs(st[S_WG]) / (fmax(sqrt(st[S_GG]), eps) * fmax(sqrt(st[S_WW]), eps));
}

/* Which view projects parameter i (0: none). */
static int choose_view(const ds_optim *o, int i, double delta, double eps) {
  const ds_param_info *p = &o->ps->info[i];
  if (p->shape.rank < 2) return 0;
  int64_t rows = p->shape.dim[0], len = p->numel / rows;
  double worst = 0;
  for (int64_t r = 0; r < rows; r++)
    worst = fmax(worst, cosine(&o->unit_stat[(o->unit0[i] + r) * 4], eps));
  if (worst < delta / sqrt((double)len)) return 1;
  if (cosine(&o->param_stat[i * 4], eps) < delta / sqrt((double)p->numel)) return 2;
  return 0;
}

static void pass2_chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const step_ctx *k = vctx;
  int i = c->param;
  double wd = ds__wd(o, i, k->wd);
  int vw = (int)k->view[i];
  double ratio = vw ? k->wd_ratio : 1.0;
  float decay = (float)(1.0 - (double)k->lr * wd * ratio / k->decay_div);
  for (int64_t j = c->seg0; j < c->seg0 + c->nseg; j++) {
    const ds__segment *s = &o->segs[j];
    double proj = 0;
    if (vw) {
      const double *st = vw == 1 ? &o->unit_stat[s->unit * 4] : &o->param_stat[i * 4];
      double norm = sqrt(st[S_WW]) + k->eps;
      proj = st[S_WU] / (norm * norm);
    }
    int64_t b = s->begin;
    pass2(s->n, o->ps->data + b, o->ps->grad + b, o->state[0] + b,
          k->dir.adam ? o->state[1] + b : NULL, &k->dir, decay, k->step, (float)proj);
  }
}

static void run(ds_optim *o, step_ctx *k) {
  ds__for_chunks(o, pass1_chunk, &k->dir);
  ds__reduce_stats(o);
  /* the view flags live in the scratch memory: one byte per parameter */
  k->view = (signed char *)o->scratch;
  for (int i = 0; i < o->ps->count; i++)
    k->view[i] = (signed char)choose_view(o, i, k->delta, k->eps);
  ds__for_chunks(o, pass2_chunk, k);
}

static void adamp_step(ds_optim *o, float lr) {
  double t = (double)ds__t(o), b1 = o->h[A_BETAS][0], b2 = o->h[A_BETAS][1];
  bool nesterov = o->h[A_NESTEROV][0] != 0;
  step_ctx k = {{(float)b1, (float)b2, (float)(1.0 / sqrt(1.0 - pow(b2, t))), (float)o->h[A_EPS][0],
                 nesterov ? (float)(1.0 - b1) : 0.0f, nesterov ? (float)b1 : 1.0f, 0.0f, true},
                lr,
                (float)(lr / (1.0 - pow(b1, t))),
                o->h[A_WD][0],
                o->h[A_WD_RATIO][0],
                o->h[A_DELTA][0],
                o->h[A_EPS][0],
                1.0,
                NULL};
  run(o, &k);
}

static void sgdp_step(ds_optim *o, float lr) {
  double mu = o->h[S_MOMENTUM][0];
  bool nesterov = o->h[S_NESTEROV][0] != 0;
  step_ctx k = {{(float)mu, 0.0f, 1.0f, 0.0f, nesterov ? 1.0f : 0.0f, nesterov ? (float)mu : 1.0f,
                 (float)(1.0 - o->h[S_DAMPENING][0]), false},
                lr,
                lr,
                o->h[S_WD][0],
                o->h[S_WD_RATIO][0],
                o->h[S_DELTA][0],
                o->h[S_EPS][0],
                1.0 - mu,
                NULL};
  run(o, &k);
}

static int sgdp_states(const ds_optim *o, const char **names) {
  (void)o;
  names[0] = "momentum";
  return 1;
}

/* One flag byte per parameter, counted in floats. */
static int64_t scratch_floats(const ds_optim *o) { return o->ps->count / 4 + 1; }

const ds__kind ds__adamp = {
    .name = "adamp",
    .reference = "AdamP (Heo et al. 2021), clovaai/AdamP adamp.py = timm.optim.AdamP",
    .hypers = adamp_hypers,
    .nstat = 4,
    .states = ds__states_adam_like,
    .scratch_floats = scratch_floats,
    .step = adamp_step,
};

const ds__kind ds__sgdp = {
    .name = "sgdp",
    .reference = "SGDP (Heo et al. 2021), clovaai/AdamP sgdp.py = timm.optim.SGDP",
    .hypers = sgdp_hypers,
    .nstat = 4,
    .states = sgdp_states,
    .scratch_floats = scratch_floats,
    .step = sgdp_step,
};
