/* Muon (KellerJordan/Muon muon.py, SingleDeviceMuonWithAuxAdam), float32 throughout.
 * Matrices (role weight, rank >= 2, not is_head; conv weights viewed as out x in·kh·kw):
 *   M = βM + (1-β)G;  U = nesterov ? (1-β)G + βM : M;  O = NS5(U)
 *   θ *= 1 - ηλ;  θ -= η · sqrt(max(1, rows/cols)) · O
 *   NS5: X = U / (||U||_F + 1e-7), then ns_steps times (with X wide, i.e. rows <= cols):
 *        A = X Xᵀ;  B = bA + cA²;  X = aX + BX,   (a, b, c) = (3.4445, -4.7750, 2.0315)
 *        (for tall X the same on Xᵀ, computed as A = XᵀX, X = aX + XB)
 * Every other parameter (biases, norm parameters, embeddings (DS_ROLE_EMBEDDING), is_head): AdamW
 * with adam_lr, adam_betas, adam_eps, adam_weight_decay. The lr passed to a step is Muon's; AdamW's
 * is scaled alike: η_adam = adam_lr · η / lr, so one schedule drives both. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "optim/optim_internal.h"

enum { LR, MOMENTUM, NESTEROV, NS_STEPS, WD, ADAM_LR, ADAM_BETAS, ADAM_EPS, ADAM_WD };

static const ds__hyper hypers[] = {
    {"lr", DS__REAL, {0.02}, 0, INFINITY, false},
    {"momentum", DS__REAL, {0.95}, 0, 1, true},
    {"nesterov", DS__BOOL, {1}, 0, 1, false},
    {"ns_steps", DS__INT, {5}, 0, 100, false},
    {"weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {"adam_lr", DS__REAL, {3e-4}, 0, INFINITY, false},
    {"adam_betas", DS__PAIR, {0.9, 0.95}, 0, 1, true},
    {"adam_eps", DS__REAL, {1e-10}, 0, INFINITY, false},
    {"adam_weight_decay", DS__REAL, {0}, 0, INFINITY, false},
    {NULL, 0, {0}, 0, 0, false},
};

enum { BUF, EXP_AVG, EXP_AVG_SQ };

static bool is_matrix(const ds_param_info *p) {
  return p->role == DS_ROLE_WEIGHT && p->shape.rank >= 2 && !p->is_head;
}

static void dims(const ds_param_info *p, int64_t *rows, int64_t *cols) {
  *rows = p->shape.dim[0];
  *cols = p->numel / p->shape.dim[0];
}

/* ---- Newton-Schulz ------------------------------------------------------------------------- */

/* Orthogonalises the rows x cols matrix in x in place, approximately: singular values end up
 * in about [0.68, 1.13] for random matrices. work: rows·cols + 2·s² floats, s = min(rows, cols). */
static void newton_schulz5(float *x, int64_t rows, int64_t cols, int steps, float *work) {
  const float a = 3.4445f, b = -4.7750f, c = 2.0315f;
  const int64_t n = rows * cols;
  const bool tall = rows > cols;
  const int64_t s = tall ? cols : rows;
  float *x2 = work, *A = work + n, *B = A + s * s;
  float norm = (float)sqrt(ds__sumsq(x, n));
  float inv = 1.0f / (norm + 1e-7f);
  for (int64_t i = 0; i < n; i++)
    x[i] *= inv;
  const int R = (int)rows, C = (int)cols, S = (int)s;
  for (int it = 0; it < steps; it++) {
    if (tall) /* A = XᵀX */
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, S, S, R, 1.0f, x, C, x, C, 0.0f, A, S);
    else /* A = XXᵀ */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, S, C, 1.0f, x, C, x, C, 0.0f, A, S);
    memcpy(B, A, (size_t)(s * s) * sizeof(float)); /* B = bA + cAA */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, S, S, c, A, S, A, S, b, B, S);
    memcpy(x2, x, (size_t)n * sizeof(float)); /* X2 = aX + BX (wide) or aX + XB (tall) */
    if (tall)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, C, C, 1.0f, x, C, B, S, a, x2, C);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, C, R, 1.0f, B, S, x, C, a, x2, C);
    memcpy(x, x2, (size_t)n * sizeof(float));
  }
}

/* ---- step ---------------------------------------------------------------------------------- */

typedef struct {
  float lr, b1, b2, eps, step, ibc2;
  double wd;
} aux_ctx;

static void adam_chunk(ds_optim *o, const ds__chunk *c, const void *vctx) {
  const aux_ctx *k = vctx;
  if (is_matrix(&o->ps->info[c->param])) return;
  int64_t b = c->begin;
  double wd = ds__wd(o, c->param, k->wd);
  ds__adam_kernel(c->n, o->ps->data + b, o->ps->grad + b, o->state[EXP_AVG] + b,
                  o->state[EXP_AVG_SQ] + b, 0.0f, (float)(1.0 - (double)k->lr * wd), k->b1, k->b2,
                  k->eps, k->step, k->ibc2);
}

/* M = βM + (1-β)G; u = nesterov ? (1-β)G + βM : M, written to u. */
static void momentum(int64_t n, const float *restrict g, float *restrict m, float *restrict u,
                     float beta, float gw) {
  const float mw = 1.0f - gw; /* gw = 1-β (nesterov) or 0 */
#pragma omp parallel for simd schedule(static) if (n >= DS__PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    float mi = beta * m[i] + (1.0f - beta) * g[i];
    m[i] = mi;
    u[i] = gw * g[i] + mw * mi;
  }
}

static void apply(int64_t n, float *restrict p, const float *restrict u, float decay, float step) {
#pragma omp parallel for simd schedule(static) if (n >= DS__PAR_MIN)
  for (int64_t i = 0; i < n; i++)
    p[i] = p[i] * decay - step * u[i];
}

static void step(ds_optim *o, float lr) {
  double base = o->h[LR][0];
  double adam_lr = o->h[ADAM_LR][0] * (base > 0 ? lr / base : 1.0);
  double t = (double)ds__t(o), b1 = o->h[ADAM_BETAS][0], b2 = o->h[ADAM_BETAS][1];
  aux_ctx k = {(float)adam_lr,
               (float)b1,
               (float)b2,
               (float)o->h[ADAM_EPS][0],
               (float)(adam_lr / (1.0 - pow(b1, t))),
               (float)(1.0 / sqrt(1.0 - pow(b2, t))),
               o->h[ADAM_WD][0]};
  ds__for_chunks(o, adam_chunk, &k);

  float beta = (float)o->h[MOMENTUM][0];
  float gw = o->h[NESTEROV][0] != 0 ? 1.0f - beta : 0.0f;
  int ns = (int)o->h[NS_STEPS][0];
  for (int i = 0; i < o->ps->count; i++) {
    const ds_param_info *p = &o->ps->info[i];
    if (!is_matrix(p)) continue;
    int64_t rows, cols, off = p->offset;
    dims(p, &rows, &cols);
    float *u = o->scratch, *work = o->scratch + p->numel;
    momentum(p->numel, o->ps->grad + off, o->state[BUF] + off, u, beta, gw);
    newton_schulz5(u, rows, cols, ns, work);
    double scale = sqrt(fmax(1.0, (double)rows / (double)cols));
    double decay = 1.0 - (double)lr * ds__wd(o, i, o->h[WD][0]);
    apply(p->numel, o->ps->data + off, u, (float)decay, (float)(lr * scale));
  }
}

static int states(const ds_optim *o, const char **names) {
  (void)o;
  names[BUF] = "momentum_buffer";
  names[EXP_AVG] = "exp_avg";
  names[EXP_AVG_SQ] = "exp_avg_sq";
  return 3;
}

/* The update matrix plus Newton-Schulz work memory for the largest matrix. */
static int64_t scratch_floats(const ds_optim *o) {
  int64_t most = 0;
  for (int i = 0; i < o->ps->count; i++) {
    const ds_param_info *p = &o->ps->info[i];
    if (!is_matrix(p)) continue;
    int64_t rows, cols;
    dims(p, &rows, &cols);
    int64_t s = rows < cols ? rows : cols;
    int64_t need = 2 * p->numel + 2 * s * s;
    if (need > most) most = need;
  }
  return most;
}

static ds_status check(const ds_optim *o) {
  for (int i = 0; i < o->ps->count; i++) {
    const ds_param_info *p = &o->ps->info[i];
    int64_t rows, cols;
    dims(p, &rows, &cols);
    if (is_matrix(p) && (rows > INT32_MAX || cols > INT32_MAX))
      return ds_set_error(DS_EINVAL, "optimizer 'muon': parameter '%s' is too large for sgemm",
                          p->name);
  }
  return DS_OK;
}

const ds__kind ds__muon = {
    .name = "muon",
    .reference = "KellerJordan/Muon SingleDeviceMuonWithAuxAdam (float32, Newton-Schulz 5)",
    .hypers = hypers,
    .states = states,
    .check = check,
    .scratch_floats = scratch_floats,
    .step = step,
};
