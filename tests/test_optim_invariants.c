/* Properties the reference algorithms guarantee, checked on small hand-made cases:
 *  - AdamP/SGDP: when the projection triggers, the step is orthogonal to w (per row or per layer);
 *  - LARS/LAMB: no_decay parameters get trust ratio 1; LAMB moves adapted tensors by exactly
 * η||θ||;
 *  - AGC: no unit's ||G_i|| / max(||W_i||, eps) exceeds λ afterwards; heads are skipped;
 *  - global-norm and value clipping;
 *  - schedule-free: x (eval mode) is the weighted average of the z iterates, y = (1-β1) z + β1 x;
 *  - Muon: the orthogonalised update of random matrices has singular values in [0.6, 1.3]; the
 *    head and biases follow AdamW. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "descent/descent.h"
#include "testutil.h"

static void normal(float *x, int64_t n, double scale, uint64_t seed) {
  ds_rng r;
  ds_rng_seed(&r, seed, 3);
  for (int64_t i = 0; i < n; i++)
    x[i] = (float)(scale * ds_rng_normal(&r));
}

static double dot(const float *a, const float *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++)
    s += (double)a[i] * b[i];
  return s;
}

static void set(ds_optim *o, const char *key, const char *value) {
  if (ds_optim_set_str(o, key, value)) fail_msg("%s", ds_last_error());
}

/* ---- AdamP / SGDP ---------------------------------------------------------------------------- */

/* g ← g − w <w,g>/|w|² over each of `units` consecutive pieces of length len. */
static void orthogonalise(const float *w, float *g, int64_t units, int64_t len) {
  for (int64_t u = 0; u < units; u++) {
    double c = dot(w + u * len, g + u * len, len) / dot(w + u * len, w + u * len, len);
    for (int64_t i = u * len; i < (u + 1) * len; i++)
      g[i] -= (float)(c * w[i]);
  }
}

/* Largest |cos(Δ_i, w_i)| over units of the step Δ = after − before. */
static double worst_cos(const float *before, const float *after, int64_t units, int64_t len) {
  double worst = 0;
  for (int64_t u = 0; u < units; u++) {
    float d[256];
    for (int64_t i = 0; i < len; i++)
      d[i] = after[u * len + i] - before[u * len + i];
    const float *w = before + u * len;
    worst = fmax(worst, fabs(dot(d, w, len)) / sqrt(dot(d, d, len) * dot(w, w, len)));
  }
  return worst;
}

/* One step of name on a 6 x 16 weight with gradients orthogonal per row ("row"), to the whole
 * tensor only ("layer") or random ("none"); returns the worst cosine per row and per layer. */
static void projection_case(const char *name, const char *mode, double *row_cos,
                            double *layer_cos) {
  ds_paramset *ps = ds_paramset_new();
  assert_int_equal(ds_paramset_add(ps, "w", ds_shape2(6, 16), DS_ROLE_WEIGHT), 0);
  normal(ps->data, 96, 1.0, 1);
  normal(ps->grad, 96, 1.0, 2);
  if (!strcmp(mode, "row")) orthogonalise(ps->data, ps->grad, 6, 16);
  if (!strcmp(mode, "layer")) orthogonalise(ps->data, ps->grad, 1, 96);
  ds_optim *o = ds_optim_new(name, ps);
  set(o, "weight_decay", "0"); /* decay would add a radial part on purpose */
  if (!strcmp(name, "sgdp")) set(o, "momentum", "0.9");
  float before[96];
  memcpy(before, ps->data, sizeof before);
  assert_int_equal(ds_optim_step(o, 0.1f), DS_OK);
  *row_cos = worst_cos(before, ps->data, 6, 16);
  *layer_cos = worst_cos(before, ps->data, 1, 96);
  ds_optim_free(o);
  ds_paramset_free(ps);
}

static void test_projection_orthogonal(void **state) {
  (void)state;
  const char *names[] = {"adamp", "sgdp"};
  for (int k = 0; k < 2; k++) {
    double row, layer;
    projection_case(names[k], "row", &row, &layer);
    if (!(row < 1e-5))
      fail_msg("%s, rows orthogonal: step has cos %g with a row of w", names[k], row);
    projection_case(names[k], "layer", &row, &layer);
    if (!(layer < 1e-5)) fail_msg("%s, layer orthogonal: step has cos %g with w", names[k], layer);
    /* the control: random gradients are not projected, so the step has a radial part */
    projection_case(names[k], "none", &row, &layer);
    if (!(layer > 1e-2))
      fail_msg("%s, random gradients: cos %g, projection fired", names[k], layer);
  }
}

/* ---- LARS / LAMB trust ratios --------------------------------------------------------------- */

/* A decayed weight (4 x 5) and a no_decay bias (4). */
static ds_paramset *weight_and_bias(void) {
  ds_paramset *ps = ds_paramset_new();
  assert_int_equal(ds_paramset_add(ps, "w", ds_shape2(4, 5), DS_ROLE_WEIGHT), 0);
  assert_int_equal(ds_paramset_add(ps, "b", ds_shape1(4), DS_ROLE_BIAS), 1);
  assert_true(ps->info[1].no_decay && ps->info[1].no_adapt);
  normal(ps->data, 24, 0.7, 5);
  normal(ps->grad, 24, 2.0, 6);
  return ps;
}

static void test_lars_trust_ratio(void **state) {
  (void)state;
  ds_paramset *ps = weight_and_bias();
  float w0[24], g[24];
  memcpy(w0, ps->data, sizeof w0);
  memcpy(g, ps->grad, sizeof g);
  ds_optim *o = ds_optim_new("lars", ps);
  set(o, "weight_decay", "0.01");
  set(o, "trust_coeff", "0.02");
  assert_int_equal(ds_optim_step(o, 0.5f), DS_OK);
  double wn = sqrt(dot(w0, w0, 20)), gn = sqrt(dot(g, g, 20));
  double r = 0.02 * wn / (gn + 0.01 * wn + 1e-8);
  for (int i = 0; i < 20; i++) /* θ −= η r (g + λθ) */
    assert_float_equal(ps->data[i], w0[i] - 0.5 * r * (g[i] + 0.01 * w0[i]), 1e-6);
  for (int i = 20; i < 24; i++) /* no_decay: ratio 1, no decay: plain SGD */
    assert_float_equal(ps->data[i], w0[i] - 0.5f * g[i], 1e-6);
  ds_optim_free(o);
  ds_paramset_free(ps);
}

static void test_lamb_trust_ratio(void **state) {
  (void)state;
  ds_paramset *ps = weight_and_bias();
  float w0[24], g[24];
  memcpy(w0, ps->data, sizeof w0);
  memcpy(g, ps->grad, sizeof g);
  ds_optim *o = ds_optim_new("lamb", ps);
  set(o, "max_grad_norm", "none");
  assert_int_equal(ds_optim_step(o, 0.01f), DS_OK);
  /* first step: u = g/(|g| + ε) (+ λθ for the weight); the weight moves by exactly η||θ|| */
  float d[20];
  for (int i = 0; i < 20; i++)
    d[i] = ps->data[i] - w0[i];
  assert_float_equal(sqrt(dot(d, d, 20)), 0.01 * sqrt(dot(w0, w0, 20)), 1e-6);
  for (int i = 20; i < 24; i++) /* bias: trust ratio 1 */
    assert_float_equal(ps->data[i], w0[i] - 0.01 * g[i] / (fabs(g[i]) + 1e-6), 1e-7);
  ds_optim_free(o);
  /* always_adapt: the bias is adapted too, so it moves by η||b|| */
  memcpy(ps->data, w0, sizeof w0);
  o = ds_optim_new("lamb", ps);
  set(o, "always_adapt", "true");
  assert_int_equal(ds_optim_step(o, 0.01f), DS_OK);
  float db[4];
  for (int i = 0; i < 4; i++)
    db[i] = ps->data[20 + i] - w0[20 + i];
  assert_float_equal(sqrt(dot(db, db, 4)), 0.01 * sqrt(dot(w0 + 20, w0 + 20, 4)), 1e-7);
  ds_optim_free(o);
  ds_paramset_free(ps);
}

/* ---- clipping ------------------------------------------------------------------------------- */

static void test_agc(void **state) {
  (void)state;
  ds_paramset *ps = ds_paramset_new();
  assert_int_equal(ds_paramset_add(ps, "conv", ds_shape4(8, 3, 3, 3), DS_ROLE_WEIGHT), 0);
  assert_int_equal(ds_paramset_add(ps, "bias", ds_shape1(8), DS_ROLE_BIAS), 1);
  assert_int_equal(ds_paramset_add(ps, "head", ds_shape2(5, 8), DS_ROLE_WEIGHT), 2);
  ps->info[2].is_head = true;
  normal(ps->data, ps->numel, 0.2, 7);
  normal(ps->grad, ps->numel, 0.01, 8);
  for (int64_t i = 0; i < 27; i++)
    ps->grad[i] *= 100; /* row 0 far over the limit */
  for (int64_t i = 0; i < 8; i++)
    ps->data[27 * 8 + i] = 0; /* zero bias: eps keeps it alive */
  float *g0 = malloc((size_t)ps->numel * 4);
  memcpy(g0, ps->grad, (size_t)ps->numel * 4);
  const double lambda = 0.05, eps = 1e-3;
  assert_int_equal(ds_agc(ps, lambda, eps, true), DS_OK);
  int clipped = 0;
  for (int r = 0; r < 8; r++) { /* conv rows: units of 27 */
    const float *w = ps->data + r * 27, *g = ps->grad + r * 27, *o = g0 + r * 27;
    double wn = fmax(sqrt(dot(w, w, 27)), eps), gn = sqrt(dot(g, g, 27));
    double before = sqrt(dot(o, o, 27));
    assert_true(gn <= lambda * wn * (1 + 1e-6));
    if (before >= lambda * wn) { /* rescaled to exactly the limit, direction kept */
      clipped++;
      assert_float_equal(gn, lambda * wn, 1e-6 * lambda * wn);
      assert_float_equal(dot(g, o, 27) / (gn * before), 1.0, 1e-6);
    } else {
      assert_memory_equal(g, o, 27 * sizeof(float));
    }
  }
  assert_true(clipped >= 1);
  /* the bias is one unit with ||W|| = 0: limit λ·eps */
  const float *gb = ps->grad + 216;
  assert_float_equal(sqrt(dot(gb, gb, 8)), lambda * eps, 1e-9);
  /* the head is excluded */
  assert_memory_equal(ps->grad + 224, g0 + 224, 40 * sizeof(float));
  /* ... unless exclude_head is false */
  assert_int_equal(ds_agc(ps, 1e-4, eps, false), DS_OK);
  assert_memory_not_equal(ps->grad + 224, g0 + 224, 40 * sizeof(float));
  free(g0);
  ds_paramset_free(ps);
}

static void test_clip_norm_and_value(void **state) {
  (void)state;
  ds_paramset *ps = ds_paramset_new();
  assert_int_equal(ds_paramset_add(ps, "a", ds_shape2(10, 10), DS_ROLE_WEIGHT), 0);
  assert_int_equal(ds_paramset_add(ps, "b", ds_shape1(10), DS_ROLE_BIAS), 1);
  normal(ps->grad, 110, 1.0, 9);
  double n0 = sqrt(dot(ps->grad, ps->grad, 110)), n;
  float g0[110];
  memcpy(g0, ps->grad, sizeof g0);
  assert_int_equal(ds_clip_grad_norm(ps, 2 * n0, &n), DS_OK); /* below: untouched */
  assert_float_equal(n, n0, 1e-9 * n0);
  assert_memory_equal(ps->grad, g0, sizeof g0);
  assert_int_equal(ds_clip_grad_norm(ps, 1.0, &n), DS_OK);
  assert_float_equal(sqrt(dot(ps->grad, ps->grad, 110)), 1.0, 1e-5);
  assert_float_equal(ps->grad[17] / g0[17], 1.0 / (n0 + 1e-6), 1e-6);
  assert_int_equal(ds_clip_grad_value(ps, 0.05), DS_OK);
  int at_limit = 0;
  for (int i = 0; i < 110; i++) {
    assert_true(fabsf(ps->grad[i]) <= 0.05f);
    at_limit += fabsf(ps->grad[i]) == 0.05f;
  }
  assert_true(at_limit > 0);
  ps->grad[3] = NAN;
  assert_int_equal(ds_clip_grad_norm(ps, 1.0, &n), DS_ENUMERIC);
  assert_int_equal(ds_clip_grad_norm(ps, 0.0, &n), DS_EINVAL);
  assert_int_equal(ds_agc(ps, -1, 1e-3, true), DS_EINVAL);
  ds_paramset_free(ps);
}

/* ---- schedule-free -------------------------------------------------------------------------- */

static void test_schedulefree_average(void **state) {
  (void)state;
  ds_paramset *ps = ds_paramset_new();
  assert_int_equal(ds_paramset_add(ps, "w", ds_shape2(3, 4), DS_ROLE_WEIGHT), 0);
  normal(ps->data, 12, 1.0, 10);
  ds_optim *o = ds_optim_new("schedulefree_adamw", ps);
  set(o, "warmup_steps", "3");
  set(o, "betas", "0.9,0.99");
  enum { T = 8 };
  const float lrs[T] = {0.1f, 0.05f, 0.2f, 0.1f, 0.1f, 0.3f, 0.02f, 0.1f};
  double zsum[12] = {0}, wsum = 0, lr_max = -1;
  for (int k = 0; k < T; k++) {
    normal(ps->grad, 12, 1.0, 20 + (uint64_t)k);
    assert_int_equal(ds_optim_step(o, lrs[k]), DS_OK);
    double gamma = lrs[k] * (k < 3 ? (k + 1) / 3.0 : 1.0);
    lr_max = fmax(lr_max, gamma);
    double w = lr_max * lr_max; /* (k+1)^0 · lr_max^2 */
    float *z;
    const char *name;
    assert_int_equal(ds_optim_state(o, 0, &name, &z, NULL), DS_OK);
    assert_string_equal(name, "z");
    for (int i = 0; i < 12; i++)
      zsum[i] += w * z[i];
    wsum += w;
  }
  float y[12], z[12], *zp;
  memcpy(y, ps->data, sizeof y);
  assert_int_equal(ds_optim_state(o, 0, NULL, &zp, NULL), DS_OK);
  memcpy(z, zp, sizeof z);
  assert_int_equal(ds_optim_eval_mode(o, true), DS_OK);
  for (int i = 0; i < 12; i++) {
    double x = zsum[i] / wsum;
    assert_float_equal(ps->data[i], x, 1e-5 * (1 + fabs(x))); /* float recursions vs double sum */
    assert_float_equal(y[i], 0.1 * z[i] + 0.9 * x, 1e-5 * (1 + fabs(x)));
  }
  assert_int_equal(ds_optim_eval_mode(o, true), DS_OK); /* idempotent */
  assert_int_equal(ds_optim_eval_mode(o, false), DS_OK);
  for (int i = 0; i < 12; i++)
    assert_float_equal(ps->data[i], y[i], 1e-6);
  assert_int_equal(ds_optim_step(o, 0.1f), DS_OK);
  ds_optim_free(o);
  ds_paramset_free(ps);
}

/* ---- Muon ----------------------------------------------------------------------------------- */

/* Eigenvalues of the symmetric n x n matrix a (destroyed), cyclic Jacobi, into ev. */
static void jacobi_eigenvalues(double *a, int n, double *ev) {
  for (int sweep = 0; sweep < 100; sweep++) {
    double off = 0;
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++)
        off += a[p * n + q] * a[p * n + q];
    if (off < 1e-22) break;
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++) {
        double apq = a[p * n + q];
        if (fabs(apq) < 1e-300) continue;
        double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; k++) { /* A ← Jᵀ A J */
          double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; k++) {
          double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
  }
  for (int i = 0; i < n; i++)
    ev[i] = a[i * n + i];
}

/* Singular values of the rows x cols matrix u: square roots of the eigenvalues of its Gram matrix.
 */
static void singular_values(const float *u, int rows, int cols, double *sv) {
  int s = rows < cols ? rows : cols;
  double *gram = calloc((size_t)(s * s), sizeof(double));
  for (int i = 0; i < s; i++)
    for (int j = 0; j < s; j++)
      for (int k = 0; k < (rows < cols ? cols : rows); k++)
        gram[i * s + j] += rows < cols ? (double)u[i * cols + k] * u[j * cols + k]
                                       : (double)u[k * cols + i] * u[k * cols + j];
  jacobi_eigenvalues(gram, s, sv);
  for (int i = 0; i < s; i++)
    sv[i] = sqrt(fmax(sv[i], 0));
  free(gram);
}

static void test_muon_orthogonalised(void **state) {
  (void)state;
  ds_paramset *ps = ds_paramset_new();
  assert_int_equal(ds_paramset_add(ps, "wide", ds_shape2(24, 60), DS_ROLE_WEIGHT), 0);
  assert_int_equal(ds_paramset_add(ps, "tall", ds_shape2(50, 20), DS_ROLE_WEIGHT), 1);
  assert_int_equal(ds_paramset_add(ps, "conv", ds_shape4(16, 4, 3, 3), DS_ROLE_WEIGHT), 2);
  assert_int_equal(ds_paramset_add(ps, "bias", ds_shape1(16), DS_ROLE_BIAS), 3);
  assert_int_equal(ds_paramset_add(ps, "head", ds_shape2(10, 16), DS_ROLE_WEIGHT), 4);
  ps->info[4].is_head = true;
  assert_int_equal(ds_paramset_add(ps, "embed", ds_shape2(7, 16), DS_ROLE_EMBEDDING), 5);
  normal(ps->grad, ps->numel, 1.0, 30);
  ds_optim *o = ds_optim_new("muon", ps);
  set(o, "momentum", "0"); /* U = G: the step is −η·scale·NS5(G) */
  set(o, "nesterov", "false");
  set(o, "lr", "1");
  set(o, "adam_lr", "0.5"); /* AdamW runs at adam_lr · η / lr = 0.5 */
  assert_int_equal(ds_optim_step(o, 1.0f), DS_OK);
  static const struct { int param, rows, cols; } mats[] = {{0, 24, 60}, {1, 50, 20}, {2, 16, 36}};
  for (int m = 0; m < 3; m++) {
    const ds_param_info *p = &ps->info[mats[m].param];
    int rows = mats[m].rows, cols = mats[m].cols, s = rows < cols ? rows : cols;
    double scale = sqrt(fmax(1.0, (double)rows / cols));
    float *u = malloc((size_t)p->numel * 4);
    for (int64_t i = 0; i < p->numel; i++)
      u[i] = (float)(-ps->data[p->offset + i] / scale);
    double sv[64];
    singular_values(u, rows, cols, sv);
    for (int i = 0; i < s; i++)
      if (!(sv[i] >= 0.6 && sv[i] <= 1.3))
        fail_msg("muon '%s': singular value %d is %g, outside [0.6, 1.3]", p->name, i, sv[i]);
    free(u);
  }
  /* bias, head and embedding: AdamW's first step, −0.5·g/(|g| + 1e-10) */
  for (int64_t i = ps->info[3].offset; i < ps->numel; i++)
    assert_float_equal(ps->data[i], -0.5f * copysignf(1.0f, ps->grad[i]), 1e-6);
  ds_optim_free(o);
  ds_paramset_free(ps);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_projection_orthogonal), cmocka_unit_test(test_lars_trust_ratio),
      cmocka_unit_test(test_lamb_trust_ratio),      cmocka_unit_test(test_agc),
      cmocka_unit_test(test_clip_norm_and_value),   cmocka_unit_test(test_schedulefree_average),
      cmocka_unit_test(test_muon_orthogonalised),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
