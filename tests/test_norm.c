/* Normalization layers, weight standardization and stochastic depth: forward, input and gain/bias
 * gradients, running statistics, train/eval, against PyTorch 1.13 fixtures (tests/fixtures/
 * gen_norm.py) and by finite differences; error messages. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

/* PyTorch comparisons: references are float64 from float32 inputs; our float32 kernels with
 * double statistics differ by a few float ulps of the O(1) activations, amplified by 1/std. */
#define ATOL 1e-5
#define RTOL 1e-4

static int64_t numel_of(const cJSON *shape, ds_shape *s) {
  int64_t d[4];
  int r = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, shape) d[r++] = (int64_t)it->valuedouble;
  *s = ds_shape_make(r, d);
  return ds_shape_numel(s);
}

static ds_shape sample_shape(ds_shape s) {
  ds_shape p = s;
  p.rank = s.rank - 1;
  for (int i = 0; i < 3; i++)
    p.dim[i] = s.dim[i + 1];
  p.dim[3] = 1;
  return p;
}

static float *floats(const cJSON *j, const char *key, int64_t n) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, key);
  assert_non_null(a);
  float *v = calloc((size_t)n, sizeof *v);
  assert_int_equal(tu_json_floats(a, v, n), n);
  return v;
}

static int64_t compare(const char *what, const float *got, const cJSON *j, const char *key,
                       int64_t n) {
  float *ref = floats(j, key, n);
  int64_t bad = tu_mismatches(what, got, ref, n, ATOL, RTOL);
  free(ref);
  return bad;
}

/* The graph of a fixture: x (requires grad) -> norm -> mse(., t). */
typedef struct {
  ds_graph *g;
  ds_node x, t, y, gain, bias;
  int64_t n, C, ngain;
} norm_graph;

static norm_graph build(const cJSON *c) {
  norm_graph r;
  memset(&r, 0, sizeof r);
  const char *kind = cJSON_GetObjectItem(c, "kind")->valuestring;
  ds_shape s, ps;
  r.n = numel_of(cJSON_GetObjectItem(c, "shape"), &s);
  r.C = s.dim[1];
  r.g = ds_graph_new(s.dim[0]);
  r.x = ds_input(r.g, "x", sample_shape(s));
  r.t = ds_input(r.g, "t", sample_shape(s));
  assert_int_equal(ds_input_requires_grad(r.g, r.x, true), DS_OK);
  float eps = (float)cJSON_GetObjectItem(c, "eps")->valuedouble;
  int ndims = 0;
  r.gain = r.bias = DS_NONE;
  if (!strcmp(kind, "layernorm")) {
    ndims = (int)cJSON_GetObjectItem(c, "ndims")->valuedouble;
    int64_t d[4];
    for (int i = 0; i < ndims; i++)
      d[i] = s.dim[s.rank - ndims + i];
    ps = ds_shape_make(ndims, d);
  } else {
    ps = ds_shape1(r.C);
  }
  r.ngain = ds_shape_numel(&ps);
  if (cJSON_GetObjectItem(c, "gain")) {
    r.gain = ds_param(r.g, "n.weight", ps, DS_ROLE_NORM_GAIN);
    r.bias = ds_param(r.g, "n.bias", ps, DS_ROLE_NORM_BIAS);
  }
  if (!strcmp(kind, "batchnorm")) {
    r.y = ds_batchnorm(r.g, "n", r.x, r.gain, r.bias,
                       (float)cJSON_GetObjectItem(c, "momentum")->valuedouble, eps);
    if (cJSON_GetObjectItem(c, "ghost")) { /* ghost batch norm: every batch norm of the graph */
      ds_batchnorm_options bo = ds_batchnorm_options_default();
      bo.momentum = (float)cJSON_GetObjectItem(c, "momentum")->valuedouble;
      bo.eps = eps;
      bo.ghost_batch = (int64_t)cJSON_GetObjectItem(c, "ghost")->valuedouble;
      assert_int_equal(ds_graph_batchnorm_options(r.g, &bo), DS_OK);
    }
  } else if (!strcmp(kind, "layernorm"))
    r.y = ds_layernorm(r.g, r.x, r.gain, r.bias, ndims, eps);
  else if (!strcmp(kind, "groupnorm"))
    r.y = ds_groupnorm(r.g, r.x, r.gain, r.bias, (int)cJSON_GetObjectItem(c, "groups")->valuedouble,
                       eps);
  else
    r.y = ds_instancenorm(r.g, r.x, r.gain, r.bias, eps);
  assert_true(r.y >= 0);
  assert_int_equal(ds_graph_compile(r.g, ds_mse(r.g, r.y, r.t)), DS_OK);
  if (r.gain != DS_NONE) {
    ds_paramset *ps2 = ds_graph_params(r.g);
    float *gv = floats(c, "gain", r.ngain), *bv = floats(c, "bias", r.ngain);
    memcpy(ps2->data + ps2->info[0].offset, gv, (size_t)r.ngain * sizeof(float));
    memcpy(ps2->data + ps2->info[1].offset, bv, (size_t)r.ngain * sizeof(float));
    free(gv);
    free(bv);
  }
  return r;
}

/* One forward/backward on the fixture step j; returns the number of mismatches. */
static int64_t run_step(norm_graph *r, const cJSON *j, const char *what) {
  float *xv = floats(j, "x", r->n), *tv = floats(j, "t", r->n);
  memcpy(ds_graph_value(r->g, r->x), xv, (size_t)r->n * sizeof(float));
  memcpy(ds_graph_value(r->g, r->t), tv, (size_t)r->n * sizeof(float));
  free(xv);
  free(tv);
  assert_int_equal(ds_graph_forward(r->g), DS_OK);
  assert_int_equal(ds_graph_backward(r->g, NULL), DS_OK);
  char buf[128];
  int64_t bad = 0;
  snprintf(buf, sizeof buf, "%s y", what);
  bad += compare(buf, ds_graph_value(r->g, r->y), j, "y", r->n);
  snprintf(buf, sizeof buf, "%s dx", what);
  bad += compare(buf, ds_graph_grad(r->g, r->x), j, "dx", r->n);
  if (r->gain != DS_NONE) {
    snprintf(buf, sizeof buf, "%s dgain", what);
    bad += compare(buf, ds_graph_grad(r->g, r->gain), j, "dgain", r->ngain);
    snprintf(buf, sizeof buf, "%s dbias", what);
    bad += compare(buf, ds_graph_grad(r->g, r->bias), j, "dbias", r->ngain);
  }
  return bad;
}

static void check_fixture(const char *name) {
  char path[256];
  snprintf(path, sizeof path, "fixtures/norm/%s.json", name);
  cJSON *c = tu_load_json(path);
  assert_non_null(c);
  norm_graph r = build(c);
  int64_t bad = 0;
  const cJSON *st;
  int k = 0;
  cJSON_ArrayForEach(st, cJSON_GetObjectItem(c, "train")) {
    char what[96];
    snprintf(what, sizeof what, "%s train step %d", name, k++);
    bad += run_step(&r, st, what);
  }
  if (cJSON_GetObjectItem(c, "running_mean")) {
    ds_paramset *b = ds_graph_buffers(r.g);
    int im = ds_paramset_find(b, "n.running_mean"), iv = ds_paramset_find(b, "n.running_var");
    assert_true(im >= 0 && iv >= 0);
    bad += compare("running_mean", b->data + b->info[im].offset, c, "running_mean", r.C);
    bad += compare("running_var", b->data + b->info[iv].offset, c, "running_var", r.C);
  }
  if (cJSON_GetObjectItem(c, "eval")) {
    ds_graph_set_training(r.g, false);
    char what[96];
    snprintf(what, sizeof what, "%s eval", name);
    bad += run_step(&r, cJSON_GetObjectItem(c, "eval"), what);
  }
  assert_int_equal(bad, 0);
  ds_graph_free(r.g);
  cJSON_Delete(c);
}

static void test_batchnorm_torch(void **s) {
  (void)s;
  check_fixture("bn_2d");
  check_fixture("bn_4d");
  check_fixture("bn_4d_mom");
  check_fixture("bn_ghost_2d");
  check_fixture("bn_ghost_4d");
}
static void test_layernorm_torch(void **s) {
  (void)s;
  check_fixture("ln_last");
  check_fixture("ln_chw");
  check_fixture("ln_hw");
}
static void test_groupnorm_torch(void **s) {
  (void)s;
  check_fixture("gn_g3");
  check_fixture("gn_g1");
  check_fixture("gn_2d");
  check_fixture("gn_noaffine");
}
static void test_instancenorm_torch(void **s) {
  (void)s;
  check_fixture("in_4d");
}

/* ---- weight standardization against the NFNet reference ---- */

static void check_ws(const char *name) {
  char path[256];
  snprintf(path, sizeof path, "fixtures/norm/%s.json", name);
  cJSON *c = tu_load_json(path);
  assert_non_null(c);
  ds_shape ws;
  int64_t n = numel_of(cJSON_GetObjectItem(c, "wshape"), &ws), O = ws.dim[0], K = n / O;
  float gamma = (float)cJSON_GetObjectItem(c, "gamma")->valuedouble;
  float eps = (float)cJSON_GetObjectItem(c, "eps")->valuedouble;
  bool lin = ws.rank == 2;
  const cJSON *xj = cJSON_GetObjectItem(c, "x");
  int64_t B = lin ? cJSON_GetArraySize(xj) / K : O;
  ds_graph *g = ds_graph_new(B);
  ds_node w = ds_param(g, "w", ws, DS_ROLE_WEIGHT),
          gain = ds_param(g, "g", ds_shape1(O), DS_ROLE_NORM_GAIN);
  ds_node what = ds_weight_std(g, w, gain, gamma, eps), x = DS_NONE, t, loss;
  if (lin) {
    x = ds_input(g, "x", ds_shape1(K));
    t = ds_input(g, "t", ds_shape1(O));
    loss = ds_mse(g, ds_linear(g, x, what, DS_NONE), t);
  } else {
    t = ds_input(g, "t", sample_shape(ws));
    loss = ds_mse(g, what, t);
  }
  assert_int_equal(ds_graph_compile(g, loss), DS_OK);
  ds_paramset *ps = ds_graph_params(g);
  float *v = floats(c, "w", n);
  memcpy(ps->data + ps->info[0].offset, v, (size_t)n * sizeof(float));
  free(v);
  v = floats(c, "gain", O);
  memcpy(ps->data + ps->info[1].offset, v, (size_t)O * sizeof(float));
  free(v);
  int64_t nt = lin ? B * O : n;
  v = floats(c, "t", nt);
  memcpy(ds_graph_value(g, t), v, (size_t)nt * sizeof(float));
  free(v);
  if (lin) {
    v = floats(c, "x", B * K);
    memcpy(ds_graph_value(g, x), v, (size_t)(B * K) * sizeof(float));
    free(v);
  }
  assert_int_equal(ds_graph_forward(g), DS_OK);
  assert_int_equal(ds_graph_backward(g, NULL), DS_OK);
  int64_t bad = compare("w_hat", ds_graph_value(g, what), c, "w_hat", n);
  bad += compare("dw", ps->grad + ps->info[0].offset, c, "dw", n);
  bad += compare("dgain", ps->grad + ps->info[1].offset, c, "dgain", O);
  assert_int_equal(bad, 0);
  /* finite differences too (unclamped cases: the clamp is a kink-free constant branch anyway) */
  assert_int_equal(tu_gradcheck(g, 1e-3, 1e-4, 1e-2, 0), 0);
  ds_graph_free(g);
  cJSON_Delete(c);
}

static void test_weight_std_torch(void **s) {
  (void)s;
  check_ws("ws_linear");
  check_ws("ws_conv");
  check_ws("ws_tiny");
}

/* ---- finite differences (independent of PyTorch) ---- */

/* A reducer for a pretend run of two processes holding the same batch: sums double. */
static ds_status twice(void *ctx, double *x, int64_t n) {
  (void)ctx;
  for (int64_t i = 0; i < n; i++)
    x[i] *= 2;
  return DS_OK;
}

static ds_node make_norm(ds_graph *g, const char *kind, ds_node x, int64_t C, int groups) {
  ds_node gain = ds_param(g, "n.weight", ds_shape1(C), DS_ROLE_NORM_GAIN);
  ds_node bias = ds_param(g, "n.bias", ds_shape1(C), DS_ROLE_NORM_BIAS);
  if (!strcmp(kind, "batch")) return ds_batchnorm(g, "n", x, gain, bias, 0.1f, 1e-5f);
  if (!strcmp(kind, "ghost") || !strcmp(kind, "sync")) {
    ds_node y = ds_batchnorm(g, "n", x, gain, bias, 0.1f, 1e-5f);
    ds_batchnorm_options bo = ds_batchnorm_options_default();
    bo.ghost_batch = !strcmp(kind, "ghost") ? 2 : 0;
    bo.sync = !strcmp(kind, "sync");
    if (bo.sync) ds_graph_set_reducer(g, twice, NULL);
    assert_int_equal(ds_graph_batchnorm_options(g, &bo), DS_OK);
    return y;
  }
  if (!strcmp(kind, "group")) return ds_groupnorm(g, x, gain, bias, groups, 1e-5f);
  return ds_instancenorm(g, x, gain, bias, 1e-5f);
}

/* x (B, C, H, W) -> norm -> tanh -> mse; random gain/bias so no symmetry hides an error. */
static int64_t fd_case(const char *kind, bool training, int64_t B, int64_t C, int64_t H,
                       int groups) {
  ds_graph *g = ds_graph_new(B);
  ds_node x = ds_input(g, "x", ds_shape3(C, H, H)), t = ds_input(g, "t", ds_shape3(C, H, H));
  ds_input_requires_grad(g, x, true);
  ds_node y = ds_tanh(g, make_norm(g, kind, x, C, groups));
  assert_int_equal(ds_graph_compile(g, ds_mse(g, y, t)), DS_OK);
  ds_paramset *ps = ds_graph_params(g);
  tu_fill_uniform(ps->data, ps->numel, 0.5f, 1.5f, 3);
  int64_t m = B * C * H * H;
  tu_fill_uniform(ds_graph_value(g, x), m, -2, 3, 4);
  tu_fill_uniform(ds_graph_value(g, t), m, -1, 1, 5);
  if (!training) { /* running statistics from a few training forwards first */
    for (int i = 0; i < 3; i++)
      assert_int_equal(ds_graph_forward(g), DS_OK);
    ds_graph_set_training(g, false);
  }
  /* eps 1e-3 on O(1) inputs: truncation ~1e-6, float rounding of the objective ~1e-7/1e-3 */
  int64_t bad = tu_gradcheck(g, 1e-3, 2e-4, 2e-2, 0);
  ds_graph_free(g);
  return bad;
}

static void test_norm_gradcheck(void **s) {
  (void)s;
  assert_int_equal(fd_case("batch", true, 3, 2, 3, 0), 0);
  assert_int_equal(fd_case("batch", false, 3, 2, 3, 0), 0);
  /* ghost batches of 2 out of 5 (chunks 2, 2, 1 x 3 x 3); sync with two identical processes: the
   * statistics are those of the local batch, the gradient is that of the local objective */
  assert_int_equal(fd_case("ghost", true, 5, 2, 3, 0), 0);
  assert_int_equal(fd_case("ghost", false, 5, 2, 3, 0), 0);
  assert_int_equal(fd_case("sync", true, 3, 2, 3, 0), 0);
  assert_int_equal(fd_case("group", true, 2, 4, 3, 2), 0);
  assert_int_equal(fd_case("instance", true, 2, 3, 3, 0), 0);
}

static void test_layernorm_gradcheck(void **s) {
  (void)s;
  for (int nd = 1; nd <= 2; nd++) {
    ds_graph *g = ds_graph_new(3);
    ds_node x = ds_input(g, "x", ds_shape2(4, 5)), t = ds_input(g, "t", ds_shape2(4, 5));
    ds_input_requires_grad(g, x, true);
    ds_shape ps = nd == 1 ? ds_shape1(5) : ds_shape2(4, 5);
    ds_node gain = ds_param(g, "ln.weight", ps, DS_ROLE_NORM_GAIN);
    ds_node bias = ds_param(g, "ln.bias", ps, DS_ROLE_NORM_BIAS);
    ds_node y = ds_tanh(g, ds_layernorm(g, x, gain, bias, nd, 1e-5f));
    assert_int_equal(ds_graph_compile(g, ds_mse(g, y, t)), DS_OK);
    ds_paramset *pp = ds_graph_params(g);
    tu_fill_uniform(pp->data, pp->numel, 0.5f, 1.5f, 6);
    tu_fill_uniform(ds_graph_value(g, x), 60, -2, 3, 7);
    tu_fill_uniform(ds_graph_value(g, t), 60, -1, 1, 8);
    assert_int_equal(tu_gradcheck(g, 1e-3, 2e-4, 2e-2, 0), 0);
    ds_graph_free(g);
  }
}

/* ---- batch norm: batch of one, modes, buffers ---- */

static void test_batchnorm_batch_one(void **s) {
  (void)s;
  ds_graph *g = ds_graph_new(4);
  ds_node x = ds_input(g, "x", ds_shape1(3)), t = ds_input(g, "t", ds_shape1(3));
  ds_node gain = ds_param(g, "bn1.weight", ds_shape1(3), DS_ROLE_NORM_GAIN);
  ds_node bias = ds_param(g, "bn1.bias", ds_shape1(3), DS_ROLE_NORM_BIAS);
  ds_node y = ds_batchnorm(g, "bn1", x, gain, bias, 0.1f, 1e-5f);
  assert_int_equal(ds_graph_compile(g, ds_mse(g, y, t)), DS_OK);
  ds_graph_init_params(g, 1);
  assert_int_equal(ds_graph_set_batch(g, 1), DS_OK);
  tu_fill_uniform(ds_graph_value(g, x), 3, -1, 1, 1);
  assert_int_equal(ds_graph_forward(g), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "more than one value per channel"));
  assert_non_null(strstr(ds_last_error(), "(1, 3)"));
  /* eval with one sample is fine; and training with two */
  ds_graph_set_training(g, false);
  assert_int_equal(ds_graph_forward(g), DS_OK);
  ds_graph_set_training(g, true);
  assert_int_equal(ds_graph_set_batch(g, 2), DS_OK);
  assert_int_equal(ds_graph_forward(g), DS_OK);
  /* running statistics are graph buffers; gain/bias carry the norm roles (no decay) */
  ds_paramset *b = ds_graph_buffers(g);
  assert_true(ds_paramset_find(b, "bn1.running_mean") >= 0);
  assert_true(ds_paramset_find(b, "bn1.running_var") >= 0);
  ds_paramset *p = ds_graph_params(g);
  assert_true(p->info[ds_paramset_find(p, "bn1.weight")].no_decay);
  ds_graph_free(g);
}

static void test_shape_errors(void **s) {
  (void)s;
  ds_graph *g = ds_graph_new(2);
  ds_node x = ds_input(g, "x", ds_shape3(6, 4, 4));
  ds_node gain = ds_param(g, "gn.weight", ds_shape1(6), DS_ROLE_NORM_GAIN);
  ds_node bias = ds_param(g, "gn.bias", ds_shape1(6), DS_ROLE_NORM_BIAS);
  assert_int_equal(ds_groupnorm(g, x, gain, bias, 4, 1e-5f), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "4 groups do not divide the 6 channels of 'x'"));
  ds_node g5 = ds_param(g, "g5", ds_shape1(5), DS_ROLE_NORM_GAIN);
  assert_int_equal(ds_groupnorm(g, x, g5, bias, 3, 1e-5f), DS_ESHAPE);
  assert_non_null(strstr(ds_last_error(), "'g5'"));
  assert_int_equal(ds_layernorm(g, x, DS_NONE, DS_NONE, 4, 1e-5f), DS_ESHAPE);
  assert_int_equal(ds_groupnorm(g, x, gain, DS_NONE, 2, 1e-5f), DS_EINVAL);
  ds_node v = ds_input(g, "v", ds_shape1(6));
  assert_int_equal(ds_instancenorm(g, v, gain, bias, 1e-5f), DS_ESHAPE);
  assert_int_equal(ds_stochastic_depth(g, x, 1.0f), DS_EINVAL);
  ds_graph_free(g);
}

/* ---- stochastic depth ---- */

static void test_stochastic_depth(void **s) {
  (void)s;
  const int64_t B = 4000, K = 3;
  ds_graph *g = ds_graph_new(B);
  ds_node x = ds_input(g, "x", ds_shape1(K)), t = ds_input(g, "t", ds_shape1(K));
  ds_input_requires_grad(g, x, true);
  ds_node w = ds_param(g, "w", ds_shape1(1), DS_ROLE_OTHER); /* keeps the loss trainable */
  (void)w;
  ds_node y = ds_stochastic_depth(g, x, 0.25f);
  assert_int_equal(ds_graph_keep_grads(g, true), DS_OK); /* dy is read after backward */
  assert_int_equal(ds_graph_compile(g, ds_mse(g, y, t)), DS_OK);
  float *xv = ds_graph_value(g, x);
  for (int64_t i = 0; i < B * K; i++)
    xv[i] = 1.0f;
  ds_graph_seed(g, 5);
  assert_int_equal(ds_graph_forward(g), DS_OK);
  assert_int_equal(ds_graph_backward(g, NULL), DS_OK);
  const float *yv = ds_graph_value(g, y), *dy = ds_graph_grad(g, y), *dx = ds_graph_grad(g, x);
  int64_t kept = 0;
  double mean = 0;
  for (int64_t b = 0; b < B; b++) {
    float f = yv[b * K];
    assert_true(f == 0.0f || fabsf(f - 1.0f / 0.75f) < 1e-6f);
    for (int64_t k = 1; k < K; k++)
      assert_true(yv[b * K + k] == f); /* whole sample together */
    for (int64_t k = 0; k < K; k++)
      assert_true(fabsf(dx[b * K + k] - dy[b * K + k] * f) < 1e-9f);
    kept += f != 0.0f;
    mean += f;
  }
  /* Binomial(4000, 0.75): sd 27; 5 sd bounds. E[factor] = 1 (unbiased). */
  assert_true(llabs(kept - 3000) < 140);
  assert_true(fabs(mean / B - 1.0) < 0.05);
  ds_graph_set_training(g, false);
  assert_int_equal(ds_graph_forward(g), DS_OK);
  for (int64_t i = 0; i < B * K; i++)
    assert_true(yv[i] == 1.0f);
  ds_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_batchnorm_torch),     cmocka_unit_test(test_layernorm_torch),
      cmocka_unit_test(test_groupnorm_torch),     cmocka_unit_test(test_instancenorm_torch),
      cmocka_unit_test(test_weight_std_torch),    cmocka_unit_test(test_norm_gradcheck),
      cmocka_unit_test(test_layernorm_gradcheck), cmocka_unit_test(test_batchnorm_batch_one),
      cmocka_unit_test(test_shape_errors),        cmocka_unit_test(test_stochastic_depth),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
