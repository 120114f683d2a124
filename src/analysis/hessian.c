/* The Hessian of the loss over a subset, through Hessian-vector products by central differences
 * of gradients: the top of its spectrum (Lanczos), its trace (Hutchinson) and Keskar's
 * epsilon-sharpness. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "analysis/analysis_internal.h"
#include "descent/alloc.h"

/* ---- vectors of numel doubles ---------------------------------------------------------------- */

static double norm2(const double *a, int64_t n) { return sqrt(ds__dot(a, a, n)); }

static double param_norm(const ds_paramset *ps) {
  double s = 0;
  for (int64_t i = 0; i < ps->numel; i++)
    s += (double)ps->data[i] * ps->data[i];
  return sqrt(s);
}

/* ---- Hessian-vector products ------------------------------------------------------------------
 */

/* Central differences (g(w + h u) - g(w - h u)) / 2h have truncation error ~ h^2 |D^3 L| / 6 and
 * rounding error ~ eps |g| / h with eps the float32 epsilon of the gradients, in units of the
 * weights' scale 1 + ||w||. The truncation term is tiny for smooth nets, so the step is the
 * smallest one at which rounding is still small: h = sqrt(eps) (1 + ||w||), a move of 0.03% of the
 * weights. Measured on the tanh fixture (tests/test_hessian.c): relative HVP error 6e-5 at
 * cbrt(eps) (1 + ||w||), 1.2e-4 at sqrt(eps) (1 + ||w||), 1.3e-3 at a tenth of that (rounding).
 * A small step also crosses few ReLU kinks, where the quotient sees relu'' = delta. */
double ds_hvp_step(ds_lossfn *f) {
  if (!f) return NAN;
  return sqrt((double)FLT_EPSILON) * (1 + param_norm(ds_graph_params(f->g)));
}

/* w <- w0 + t u, in float. */
static void set_point(ds_paramset *ps, const float *w0, const double *u, double t) {
  float *w = ps->data;
  int64_t n = ps->numel;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++)
    w[i] = (float)((double)w0[i] + t * u[i]);
}

/* Scratch of one HVP: a copy of the weights, the unit direction and the minus-side gradient. */
typedef struct {
  float *w0;
  double *u, *gm;
} hvp_scratch;

static ds_status scratch_new(hvp_scratch *s, int64_t n) {
  s->w0 = ds_malloc(sizeof(float) * (size_t)n);
  s->u = ds_malloc(sizeof(double) * (size_t)n);
  s->gm = ds_malloc(sizeof(double) * (size_t)n);
  return s->w0 && s->u && s->gm ? 0 : DS_ENOMEM;
}

static void scratch_free(hvp_scratch *s) {
  ds_free(s->w0);
  ds_free(s->u);
  ds_free(s->gm);
}

static ds_status hvp_with(ds_lossfn *f, hvp_scratch *s, const double *v, double *hv) {
  ds_paramset *ps = ds_graph_params(f->g);
  int64_t n = ps->numel;
  double vn = norm2(v, n);
  if (vn == 0) {
    memset(hv, 0, sizeof(double) * (size_t)n);
    return 0;
  }
  if (!isfinite(vn))
    return ds_set_error(DS_ENUMERIC, "Hessian-vector product: the vector is not finite");
  for (int64_t i = 0; i < n; i++)
    s->u[i] = v[i] / vn;
  memcpy(s->w0, ps->data, sizeof(float) * (size_t)n);
  double h = ds_hvp_step(f), loss;
  set_point(ps, s->w0, s->u, h);
  ds_status st = ds_lossfn_eval(f, &loss, hv);
  if (!st) {
    set_point(ps, s->w0, s->u, -h);
    st = ds_lossfn_eval(f, &loss, s->gm);
  }
  memcpy(ps->data, s->w0, sizeof(float) * (size_t)n);
  if (st) return st;
  double c = vn / (2 * h);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++)
    hv[i] = (hv[i] - s->gm[i]) * c;
  return 0;
}

ds_status ds_hvp(ds_lossfn *f, const double *v, double *hv) {
  if (!f || !v || !hv) return ds_set_error(DS_EINVAL, "Hessian-vector product: NULL argument");
  hvp_scratch s;
  ds_status st = scratch_new(&s, f->numel);
  if (!st) st = hvp_with(f, &s, v, hv);
  scratch_free(&s);
  return st;
}

/* ---- Lanczos ----------------------------------------------------------------------------------
 */

/* The Lanczos step's matrix-vector product: the HVP with the call's scratch. */
typedef struct {
  ds_lossfn *f;
  hvp_scratch s;
} hvp_ctx;

static ds_status hvp_matvec(void *ctx, const double *v, double *hv) {
  hvp_ctx *c = ctx;
  return hvp_with(c->f, &c->s, v, hv);
}

ds_status ds_hessian_top(ds_lossfn *f, int k, int iterations, uint64_t seed, double *eig,
                         double *residual) {
  if (!f || !eig) return ds_set_error(DS_EINVAL, "Hessian spectrum: NULL argument");
  if (k < 1 || iterations < k || iterations > 500)
    return ds_set_error(DS_EINVAL, "Hessian spectrum: need 1 <= k (%d) <= iterations (%d) <= 500",
                        k, iterations);
  int64_t n = f->numel;
  if (iterations > n) iterations = (int)n;
  if (k > iterations)
    return ds_set_error(DS_EINVAL, "Hessian spectrum: k %d exceeds the %lld parameters", k,
                        (long long)n);
  int m = iterations, steps = 0;
  double *ritz = ds_malloc(sizeof(double) * (size_t)m),
         *res = ds_malloc(sizeof(double) * (size_t)m);
  hvp_ctx c = {f, {0}};
  ds_status st = ritz && res ? scratch_new(&c.s, n) : DS_ENOMEM;
  if (!st) st = ds__lanczos(n, hvp_matvec, &c, m, seed, ritz, NULL, res, &steps);
  if (!st && steps < k)
    st = ds_set_error(DS_ENUMERIC,
                      "Hessian spectrum: Lanczos stopped after %d steps, fewer than k = %d", steps,
                      k);
  for (int i = 0; i < k && !st; i++) { /* ritz is ascending: the k largest, descending */
    eig[i] = ritz[steps - 1 - i];
    if (residual) residual[i] = res[steps - 1 - i];
  }
  scratch_free(&c.s);
  ds_free(ritz);
  ds_free(res);
  return st;
}

/* ---- Hutchinson's trace ------------------------------------------------------------------------
 */

ds_status ds_hessian_trace(ds_lossfn *f, int probes, uint64_t seed, double *trace,
                           double *std_err) {
  if (!f || !trace) return ds_set_error(DS_EINVAL, "Hessian trace: NULL argument");
  if (probes < 1) return ds_set_error(DS_EINVAL, "Hessian trace: probes %d must be >= 1", probes);
  int64_t n = f->numel;
  double *v = ds_malloc(sizeof(double) * (size_t)n), *hv = ds_malloc(sizeof(double) * (size_t)n);
  hvp_scratch s = {0};
  ds_status st = v && hv ? scratch_new(&s, n) : DS_ENOMEM;
  ds_rng r;
  ds_rng_seed(&r, seed, DS_RNG_NOISE);
  double sum = 0, sum2 = 0;
  for (int p = 0; p < probes && !st; p++) {
    for (int64_t i = 0; i < n; i++)
      v[i] = ds_rng_u64(&r) >> 63 ? 1.0 : -1.0;
    st = hvp_with(f, &s, v, hv);
    if (st) break;
    double e = ds__dot(v, hv, n);
    sum += e;
    sum2 += e * e;
  }
  if (!st) {
    double mean = sum / probes;
    *trace = mean;
    if (std_err)
      *std_err = probes > 1
                     ? sqrt(fmax(sum2 / probes - mean * mean, 0) * probes / (probes - 1) / probes)
                     : NAN;
  }
  scratch_free(&s);
  ds_free(v);
  ds_free(hv);
  return st;
}

/* ---- epsilon-sharpness -------------------------------------------------------------------------
 */

ds_status ds_eps_sharpness(ds_lossfn *f, double eps, int steps, double *sharpness, double *loss0,
                           double *loss_max) {
  if (!f || !sharpness) return ds_set_error(DS_EINVAL, "epsilon-sharpness: NULL argument");
  if (!(eps > 0) || !isfinite(eps) || steps < 1)
    return ds_set_error(DS_EINVAL, "epsilon-sharpness: eps %g must be > 0 and steps %d >= 1", eps,
                        steps);
  ds_paramset *ps = ds_graph_params(f->g);
  int64_t n = ps->numel;
  float *w0 = ds_malloc(sizeof(float) * (size_t)n);
  double *y = ds_calloc((size_t)n, sizeof(double)), *g = ds_malloc(sizeof(double) * (size_t)n);
  ds_status st = w0 && y && g ? 0 : DS_ENOMEM;
  double l0 = NAN, lmax = NAN;
  if (!st) {
    memcpy(w0, ps->data, sizeof(float) * (size_t)n);
    st = ds_lossfn_eval(f, &l0, g);
    lmax = l0;
  }
  for (int s = 0; s < steps && !st; s++) {
    /* y <- clip(y + 2 eps (|w0| + 1) sign(g) / steps) to the box; then L and its gradient there */
    for (int64_t i = 0; i < n; i++) {
      double box = eps * (fabs((double)w0[i]) + 1);
      double yi = y[i] + (g[i] > 0 ? 1 : g[i] < 0 ? -1 : 0) * 2 * box / steps;
      y[i] = yi > box ? box : yi < -box ? -box : yi;
      ps->data[i] = (float)((double)w0[i] + y[i]);
    }
    double l;
    st = ds_lossfn_eval(f, &l, s + 1 < steps ? g : NULL);
    if (!st && l > lmax) lmax = l;
  }
  if (w0) memcpy(ps->data, w0, sizeof(float) * (size_t)n);
  if (!st) {
    *sharpness = 100 * (lmax - l0) / (1 + l0);
    if (loss0) *loss0 = l0;
    if (loss_max) *loss_max = lmax;
  }
  ds_free(w0);
  ds_free(y);
  ds_free(g);
  return st;
}
