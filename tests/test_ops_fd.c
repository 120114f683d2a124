/* Every op's backward against central finite differences of its forward (tu_gradcheck), on
 * random small shapes including odd sizes and batch 1; dropout's mask statistics and its
 * gradient's consistency with the mask; shape errors of conv/pool that name node and shapes.
 *
 * Each check builds a tiny graph: inputs that require grad and parameters -> op -> a loss. Ops
 * that are not losses end in ds_mse against a fixed random target.
 *
 * Tolerance |analytic - fd| <= ATOL + RTOL |fd|, with eps = 1e-2 on O(1) inputs:
 * - rounding: each per-sample loss is a float, so the objective f = sum_i w_i loss_i carries
 *   ~6e-8 |f| of rounding and the difference quotient ~6e-8 |f| / (2 eps) = 3e-6 |f|; with
 *   |f| <= ~10 here that is <= 3e-5 absolute, hence ATOL = 3e-5 (gradients are 1e-3..1e-1);
 * - truncation of the central difference is eps^2/6 f''' = 2e-5 f''': zero for the ops that are
 *   (piecewise) linear under the quadratic mse head, ~5e-4 relative at worst for tanh/gelu on
 *   [-3, 3], hence RTOL = 3e-3.
 * A wrong backward (a sign, a missing term, a wrong index) is off by O(100%), far above both.
 * Kinks are avoided: relu/leaky_relu inputs are kept at |x| >= 0.1 > eps, and maxpool inputs are
 * a shuffled grid with spacing 0.025 > 2 eps, so no perturbation changes an arg max. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "testutil.h"

#define EPS 1e-2
#define ATOL 3e-5
#define RTOL 3e-3
/* At most this many elements of each tensor are perturbed (spread evenly), to stay fast. */
#define MAX_PER_TENSOR 150

/* A small deterministic generator for shapes and data (independent of the library's). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 11);
}
static int64_t rnd_in(int64_t lo, int64_t hi) {
  return lo + (int64_t)(rnd() % (uint32_t)(hi - lo + 1));
}

/* What to put into an input. */
/* FILL_IDS: token ids 0..4 (tables here have at least 5 rows). */
typedef enum { FILL_UNIFORM, FILL_AWAY_FROM_ZERO, FILL_DISTINCT, FILL_WIDE, FILL_IDS } fill_kind;

static void fill(float *x, int64_t n, fill_kind k, uint64_t seed) {
  switch (k) {
  case FILL_UNIFORM: tu_fill_uniform(x, n, -1.0f, 1.0f, seed); break;
  case FILL_WIDE: tu_fill_uniform(x, n, -3.0f, 3.0f, seed); break;
  case FILL_AWAY_FROM_ZERO: /* |x| in [0.1, 1), random sign */
    tu_fill_uniform(x, n, 0.1f, 1.0f, seed);
    for (int64_t i = 0; i < n; i++)
      if (rnd() & 1) x[i] = -x[i];
    break;
  case FILL_IDS:
    for (int64_t i = 0; i < n; i++)
      x[i] = (float)rnd_in(0, 4);
    break;
  case FILL_DISTINCT: /* a shuffled grid: every pair differs by >= 0.025 */
    for (int64_t i = 0; i < n; i++)
      x[i] = -1.0f + 0.025f * (float)i;
    for (int64_t i = n - 1; i > 0; i--) {
      int64_t j = (int64_t)(rnd() % (uint32_t)(i + 1));
      float t = x[i];
      x[i] = x[j], x[j] = t;
    }
    break;
  }
}

/* ---- a small harness: inputs and params, the op, an mse head, compile, fill, check ---- */

typedef struct {
  ds_graph *g;
  ds_node in[4];
  fill_kind kind[4];
  int n_in;
  ds_node out, target;
} harness;

static ds_node h_input(harness *h, const char *name, ds_shape sample, bool grad, fill_kind k) {
  ds_node id = ds_input(h->g, name, sample);
  assert_true(id >= 0);
  if (grad) assert_int_equal(ds_input_requires_grad(h->g, id, true), DS_OK);
  h->kind[h->n_in] = k;
  h->in[h->n_in++] = id;
  return id;
}

static ds_node h_param(harness *h, const char *name, ds_shape s) {
  ds_node id = ds_param(h->g, name, s, s.rank == 1 ? DS_ROLE_BIAS : DS_ROLE_WEIGHT);
  assert_true(id >= 0);
  return id;
}

/* Finishes the graph (mse head unless the op is a loss), fills data, runs the gradient check. */
static void h_check(harness *h, ds_node out, bool is_loss, const char *what) {
  if (out < 0) fail_msg("%s: %s", what, ds_last_error());
  ds_node loss = out;
  h->target = DS_NONE;
  if (!is_loss) {
    ds_shape s = ds_graph_shape(h->g, out);
    ds_shape ss = {s.rank - 1, {s.dim[1], s.dim[2], s.dim[3], 1}};
    h->target = ds_input(h->g, "target", ss);
    loss = ds_mse(h->g, out, h->target);
  }
  if (ds_graph_compile(h->g, loss)) fail_msg("%s: %s", what, ds_last_error());
  assert_int_equal(ds_graph_init_params(h->g, rnd()), DS_OK);
  for (int i = 0; i < h->n_in; i++) {
    ds_shape s = ds_graph_shape(h->g, h->in[i]);
    fill(ds_graph_value(h->g, h->in[i]), ds_shape_numel(&s), h->kind[i], rnd());
  }
  if (h->target != DS_NONE) {
    ds_shape s = ds_graph_shape(h->g, h->target);
    fill(ds_graph_value(h->g, h->target), ds_shape_numel(&s), FILL_UNIFORM, rnd());
  }
  int64_t bad = tu_gradcheck(h->g, EPS, ATOL, RTOL, MAX_PER_TENSOR);
  if (bad) fprintf(stderr, "gradcheck failed: %s\n", what);
  assert_int_equal(bad, 0);
  ds_graph_free(h->g);
}

static harness h_new(int64_t B) {
  harness h = {0};
  h.g = ds_graph_new(B);
  assert_non_null(h.g);
  return h;
}

/* ---- dense ---- */

static void test_linear(void **state) {
  (void)state;
  for (int r = 0; r < 4; r++) {
    int64_t B = r == 0 ? 1 : rnd_in(2, 5), K = rnd_in(1, 9), O = rnd_in(1, 7);
    bool bias = r % 2 == 0, nchw = r == 3;
    harness h = h_new(B);
    ds_node x = nchw ? h_input(&h, "x", ds_shape3(2, 3, K), true, FILL_UNIFORM)
                     : h_input(&h, "x", ds_shape1(K), true, FILL_UNIFORM);
    int64_t Kin = nchw ? 6 * K : K;
    ds_node w = h_param(&h, "w", ds_shape2(O, Kin));
    ds_node b = bias ? h_param(&h, "b", ds_shape1(O)) : DS_NONE;
    char what[96];
    snprintf(what, sizeof what, "linear B=%lld K=%lld O=%lld bias=%d", (long long)B, (long long)Kin,
             (long long)O, bias);
    h_check(&h, ds_linear(h.g, x, w, b), false, what);
  }
}

static void test_matmul(void **state) {
  (void)state;
  for (int r = 0; r < 3; r++) {
    int64_t M = r == 0 ? 1 : rnd_in(2, 6), K = rnd_in(1, 7), N = rnd_in(1, 5);
    harness h = h_new(M);
    ds_node a = h_input(&h, "a", ds_shape1(K), true, FILL_UNIFORM);
    ds_node b = h_param(&h, "b", ds_shape2(K, N));
    h_check(&h, ds_matmul(h.g, a, b), false, "matmul");
  }
}

static void test_bias_add(void **state) {
  (void)state;
  for (int r = 0; r < 3; r++) {
    int64_t B = r == 0 ? 1 : rnd_in(2, 4), C = rnd_in(1, 5);
    harness h = h_new(B);
    ds_node x = r == 2
                    ? h_input(&h, "x", ds_shape3(C, rnd_in(1, 4), rnd_in(2, 5)), true, FILL_UNIFORM)
                    : h_input(&h, "x", ds_shape1(C), true, FILL_UNIFORM);
    ds_node b = h_param(&h, "b", ds_shape1(C));
    h_check(&h, ds_bias_add(h.g, x, b), false, "bias_add");
  }
}

/* ---- elementwise ---- */

static void test_add(void **state) {
  (void)state;
  int64_t B = 3, K = 7;
  harness h = h_new(B);
  ds_node a = h_input(&h, "a", ds_shape2(K, 2), true, FILL_UNIFORM);
  ds_node b = h_param(&h, "b", ds_shape3(B, K, 2));
  h_check(&h, ds_add(h.g, a, b), false, "add (input + param)");
  h = h_new(1);
  a = h_input(&h, "a", ds_shape1(5), true, FILL_UNIFORM);
  ds_node c = h_input(&h, "c", ds_shape1(5), true, FILL_UNIFORM);
  h_check(&h, ds_add(h.g, a, c), false, "add (two inputs, batch 1)");
}

typedef ds_node (*unary_fn)(ds_graph *, ds_node);
static ds_node scale_m(ds_graph *g, ds_node x) { return ds_scale(g, x, -1.75f); }
static ds_node leaky(ds_graph *g, ds_node x) { return ds_leaky_relu(g, x, 0.1f); }

static void test_unary(void **state) {
  (void)state;
  struct {
    const char *name;
    unary_fn fn;
    fill_kind fill;
  } ops[] = {
      {"scale", scale_m, FILL_UNIFORM},       {"identity", ds_identity, FILL_UNIFORM},
      {"relu", ds_relu, FILL_AWAY_FROM_ZERO}, {"leaky_relu", leaky, FILL_AWAY_FROM_ZERO},
      {"tanh", ds_tanh, FILL_WIDE},           {"sigmoid", ds_sigmoid, FILL_WIDE},
      {"gelu", ds_gelu, FILL_WIDE},
  };
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
    for (int r = 0; r < 2; r++) {
      int64_t B = r == 0 ? 1 : rnd_in(2, 4);
      harness h = h_new(B);
      ds_node x = h_input(&h, "x", ds_shape2(rnd_in(1, 3), rnd_in(1, 7)), true, ops[k].fill);
      h_check(&h, ops[k].fn(h.g, x), false, ops[k].name);
    }
}

/* ---- losses ---- */

static void test_cross_entropy(void **state) {
  (void)state;
  const float smoothing[] = {0.0f, 0.1f, 0.3f};
  for (int r = 0; r < 3; r++) {
    int64_t B = r == 0 ? 1 : rnd_in(2, 6), C = rnd_in(2, 9);
    harness h = h_new(B);
    ds_node z = h_input(&h, "z", ds_shape1(C), true, FILL_WIDE);
    ds_node y = ds_input(h.g, "y", ds_shape_scalar());
    ds_node loss = ds_cross_entropy(h.g, z, y, smoothing[r]);
    assert_int_equal(ds_graph_compile(h.g, loss), DS_OK);
    fill(ds_graph_value(h.g, z), B * C, FILL_WIDE, rnd());
    for (int64_t i = 0; i < B; i++)
      ds_graph_value(h.g, y)[i] = (float)rnd_in(0, C - 1);
    assert_int_equal(tu_gradcheck(h.g, EPS, ATOL, RTOL, 0), 0);
    ds_graph_free(h.g);
  }
  /* through a linear layer, so a parameter gradient flows through the loss too */
  harness h = h_new(4);
  ds_node x = h_input(&h, "x", ds_shape1(5), false, FILL_UNIFORM);
  ds_node y = ds_input(h.g, "y", ds_shape_scalar());
  ds_node z = ds_linear(h.g, x, h_param(&h, "w", ds_shape2(3, 5)), h_param(&h, "b", ds_shape1(3)));
  ds_node loss = ds_cross_entropy(h.g, z, y, 0.2f);
  assert_int_equal(ds_graph_compile(h.g, loss), DS_OK);
  assert_int_equal(ds_graph_init_params(h.g, 3), DS_OK);
  fill(ds_graph_value(h.g, x), 20, FILL_UNIFORM, 5);
  for (int64_t i = 0; i < 4; i++)
    ds_graph_value(h.g, y)[i] = (float)(i % 3);
  assert_int_equal(tu_gradcheck(h.g, EPS, ATOL, RTOL, 0), 0);
  ds_graph_free(h.g);
}

static void test_mse(void **state) {
  (void)state;
  for (int r = 0; r < 3; r++) {
    int64_t B = r == 0 ? 1 : rnd_in(2, 5);
    harness h = h_new(B);
    ds_shape s = r == 2 ? ds_shape3(2, 3, rnd_in(1, 3)) : ds_shape1(rnd_in(1, 9));
    ds_node p = h_input(&h, "p", s, true, FILL_UNIFORM);
    ds_node t = h_input(&h, "t", s, true, FILL_UNIFORM);
    h_check(&h, ds_mse(h.g, p, t), true, "mse");
  }
}

/* L1 and Huber: the differences p - t are drawn from a set at least 0.07 away from the kinks at
 * 0 and +-delta (delta 0.3), so the finite difference (step 1e-2) never straddles one. */
static void test_l1_huber(void **state) {
  (void)state;
  static const float diffs[] = {0.1f,  -0.17f, 0.45f,  -0.8f, 1.3f,
                                -0.1f, 0.17f,  -0.45f, 0.8f,  -1.3f};
  for (int r = 0; r < 4; r++) {
    int64_t B = r == 0 ? 1 : rnd_in(2, 5), K = rnd_in(1, 9);
    ds_graph *g = ds_graph_new(B);
    ds_node p = ds_input(g, "p", ds_shape1(K)), t = ds_input(g, "t", ds_shape1(K));
    assert_int_equal(ds_input_requires_grad(g, p, true), DS_OK);
    assert_int_equal(ds_input_requires_grad(g, t, true), DS_OK);
    ds_node loss = r % 2 ? ds_huber(g, p, t, 0.3f) : ds_l1(g, p, t);
    assert_int_equal(ds_graph_compile(g, loss), DS_OK);
    float *pv = ds_graph_value(g, p), *tv = ds_graph_value(g, t);
    fill(pv, B * K, FILL_UNIFORM, rnd());
    for (int64_t i = 0; i < B * K; i++)
      tv[i] = pv[i] - diffs[(i + r) % 10];
    int64_t bad = tu_gradcheck(g, EPS, ATOL, RTOL, MAX_PER_TENSOR);
    if (bad) fprintf(stderr, "gradcheck failed: %s\n", r % 2 ? "huber" : "l1");
    assert_int_equal(bad, 0);
    ds_graph_free(g);
  }
}

/* ---- convolution and pooling ---- */

static void test_conv2d(void **state) {
  (void)state;
  /* fixed corner cases, then random configurations */
  struct {
    int64_t B, C, H, W, O, KH, KW;
    int S, P, G;
    bool bias;
  } cases[14] = {
      {1, 1, 5, 5, 1, 3, 3, 1, 1, 1, true},  /* batch 1, single channel */
      {2, 4, 5, 4, 6, 3, 3, 2, 1, 2, false}, /* groups 2, stride 2 */
      {3, 3, 5, 6, 3, 3, 3, 1, 1, 3, true},  /* depthwise */
      {2, 5, 3, 3, 4, 1, 1, 1, 0, 1, true},  /* pointwise (no im2col) */
      {2, 2, 3, 2, 3, 5, 4, 1, 1, 1, true},  /* kernel fills the padded input */
      {1, 2, 7, 7, 2, 2, 3, 3, 2, 1, true},  /* stride 3, pad 2, rectangular kernel */
      {2, 3, 6, 5, 2, 3, 1, 1, 0, 1, true},  /* same width, fewer rows: im2col by shifting */
      {2, 2, 4, 5, 3, 1, 3, 1, 1, 1, false}, /* same width, all-padding rows at top/bottom */
  };
  for (int r = 8; r < 14; r++) {
    int G = (int)rnd_in(1, 2);
    cases[r].B = rnd_in(1, 3), cases[r].C = G * rnd_in(1, 3), cases[r].O = G * rnd_in(1, 3);
    cases[r].H = rnd_in(3, 8), cases[r].W = rnd_in(3, 8), cases[r].KH = rnd_in(1, 3),
    cases[r].KW = rnd_in(1, 3), cases[r].S = (int)rnd_in(1, 3), cases[r].P = (int)rnd_in(0, 2);
    cases[r].G = G, cases[r].bias = rnd() & 1;
  }
  for (int r = 0; r < 14; r++) {
    harness h = h_new(cases[r].B);
    ds_node x = h_input(&h, "x", ds_shape3(cases[r].C, cases[r].H, cases[r].W), true, FILL_UNIFORM);
    ds_node w =
        h_param(&h, "w", ds_shape4(cases[r].O, cases[r].C / cases[r].G, cases[r].KH, cases[r].KW));
    ds_node b = cases[r].bias ? h_param(&h, "b", ds_shape1(cases[r].O)) : DS_NONE;
    char what[160];
    snprintf(what, sizeof what,
             "conv2d x (%lld, %lld, %lld, %lld) w (%lld, %lld, %lld, %lld) "
             "stride %d pad %d groups %d bias %d",
             (long long)cases[r].B, (long long)cases[r].C, (long long)cases[r].H,
             (long long)cases[r].W, (long long)cases[r].O, (long long)(cases[r].C / cases[r].G),
             (long long)cases[r].KH, (long long)cases[r].KW, cases[r].S, cases[r].P, cases[r].G,
             cases[r].bias);
    h_check(&h, ds_conv2d(h.g, x, w, b, cases[r].S, cases[r].P, cases[r].G), false, what);
  }
}

typedef ds_node (*pool_fn)(ds_graph *, ds_node, int, int, int);

static void check_pool(const char *name, pool_fn fn, fill_kind fk) {
  const int fixed[3][3] = {{2, 2, 0}, {3, 2, 1}, {3, 1, 1}}; /* kernel, stride, padding */
  for (int r = 0; r < 6; r++) {
    int K = r < 3 ? fixed[r][0] : (int)rnd_in(1, 3);
    int S = r < 3 ? fixed[r][1] : (int)rnd_in(1, 3);
    int P = r < 3 ? fixed[r][2] : (int)rnd_in(0, K / 2);
    int64_t B = r == 0 ? 1 : rnd_in(1, 3);
    harness h = h_new(B);
    ds_node x = h_input(&h, "x", ds_shape3(rnd_in(1, 3), rnd_in(3, 7), rnd_in(3, 7)), true, fk);
    char what[96];
    snprintf(what, sizeof what, "%s kernel %d stride %d padding %d", name, K, S, P);
    h_check(&h, fn(h.g, x, K, S, P), false, what);
  }
}

static void test_pool(void **state) {
  (void)state;
  check_pool("maxpool2d", ds_maxpool2d, FILL_DISTINCT);
  check_pool("avgpool2d", ds_avgpool2d, FILL_UNIFORM);
  for (int r = 0; r < 3; r++) {
    harness h = h_new(r == 0 ? 1 : rnd_in(2, 3));
    ds_node x =
        h_input(&h, "x", ds_shape3(rnd_in(1, 4), rnd_in(1, 6), rnd_in(1, 6)), true, FILL_UNIFORM);
    h_check(&h, ds_global_avgpool(h.g, x), false, "global_avgpool");
  }
}

/* A tiny CNN end to end: conv -> relu -> maxpool -> conv -> global_avgpool -> linear -> CE. */
static void test_small_cnn(void **state) {
  (void)state;
  harness h = h_new(2);
  ds_node x = h_input(&h, "x", ds_shape3(2, 6, 6), true, FILL_UNIFORM);
  ds_node y = ds_input(h.g, "y", ds_shape_scalar());
  ds_node c1 = ds_conv2d(h.g, x, h_param(&h, "c1.w", ds_shape4(3, 2, 3, 3)),
                         h_param(&h, "c1.b", ds_shape1(3)), 1, 1, 1);
  ds_node p = ds_avgpool2d(h.g, ds_tanh(h.g, c1), 2, 2, 0);
  ds_node c2 = ds_conv2d(h.g, p, h_param(&h, "c2.w", ds_shape4(4, 3, 2, 2)), DS_NONE, 1, 0, 1);
  ds_node z = ds_linear(h.g, ds_global_avgpool(h.g, c2), h_param(&h, "fc.w", ds_shape2(3, 4)),
                        h_param(&h, "fc.b", ds_shape1(3)));
  ds_node loss = ds_cross_entropy(h.g, z, y, 0.0f);
  assert_int_equal(ds_graph_compile(h.g, loss), DS_OK);
  assert_int_equal(ds_graph_init_params(h.g, 11), DS_OK);
  fill(ds_graph_value(h.g, x), 2 * 72, FILL_UNIFORM, 17);
  ds_graph_value(h.g, y)[0] = 1, ds_graph_value(h.g, y)[1] = 2;
  assert_int_equal(tu_gradcheck(h.g, EPS, ATOL, RTOL, 0), 0);
  ds_graph_free(h.g);
}

/* ---- shape ---- */

static void test_reshape(void **state) {
  (void)state;
  harness h = h_new(3);
  ds_node x = h_input(&h, "x", ds_shape3(2, 3, 2), true, FILL_UNIFORM);
  h_check(&h, ds_flatten(h.g, x), false, "flatten");
  h = h_new(1);
  x = h_input(&h, "x", ds_shape1(12), true, FILL_UNIFORM);
  h_check(&h, ds_reshape(h.g, x, ds_shape3(3, 2, 2)), false, "reshape");
}

/* ---- dropout ---- */

/* Eval mode: exactly the identity, and the gradient passes through (finite differences). */
static void test_dropout_eval(void **state) {
  (void)state;
  harness h = h_new(2);
  ds_node x = h_input(&h, "x", ds_shape1(9), true, FILL_UNIFORM);
  ds_node y = ds_dropout(h.g, x, 0.5f);
  ds_node t = ds_input(h.g, "t", ds_shape1(9));
  assert_int_equal(ds_graph_compile(h.g, ds_mse(h.g, y, t)), DS_OK);
  ds_graph_set_training(h.g, false);
  fill(ds_graph_value(h.g, x), 18, FILL_UNIFORM, 1);
  fill(ds_graph_value(h.g, t), 18, FILL_UNIFORM, 2);
  assert_int_equal(ds_graph_forward(h.g), DS_OK);
  assert_memory_equal(ds_graph_value(h.g, y), ds_graph_value(h.g, x), 18 * sizeof(float));
  assert_int_equal(tu_gradcheck(h.g, EPS, ATOL, RTOL, 0), 0);
  ds_graph_free(h.g);
}

/* Training mode: the kept fraction is 1 - p, kept values are x / (1 - p), the gradient is
 * dy * mask / (1 - p), and p = 0 is the identity. */
static void test_dropout_train(void **state) {
  (void)state;
  const int64_t B = 4, K = 10000, n = B * K;
  const float ps[] = {0.0f, 0.1f, 0.5f, 0.8f};
  for (int k = 0; k < 4; k++) {
    float p = ps[k];
    ds_graph *g = ds_graph_new(B);
    ds_node x = ds_input(g, "x", ds_shape1(K));
    ds_node t = ds_input(g, "t", ds_shape1(K));
    assert_int_equal(ds_input_requires_grad(g, x, true), DS_OK);
    ds_node y = ds_dropout(g, x, p);
    assert_int_equal(ds_graph_compile(g, ds_mse(g, y, t)), DS_OK);
    ds_graph_seed(g, 42 + (uint64_t)k);
    float *xv = ds_graph_value(g, x), *tv = ds_graph_value(g, t);
    fill(xv, n, FILL_AWAY_FROM_ZERO, 3);
    fill(tv, n, FILL_UNIFORM, 4);
    float w[4] = {1.0f, 0.5f, 2.0f, 1.5f};
    assert_int_equal(ds_graph_forward(g), DS_OK);
    assert_int_equal(ds_graph_backward(g, w), DS_OK);
    const float *yv = ds_graph_value(g, y), *dx = ds_graph_grad(g, x);
    int64_t kept = 0, bad_value = 0, bad_grad = 0;
    for (int64_t i = 0; i < n; i++) {
      bool on = yv[i] != 0.0f;
      kept += on;
      /* value: x / (1 - p) up to one rounding of the scale (float 1/(1-p) times x) */
      float expect = on ? xv[i] * (1.0f / (1.0f - p)) : 0.0f;
      if (fabsf(yv[i] - expect) > 1e-6f * fabsf(expect)) bad_value++;
      /* gradient: mse gives dy = w_b 2 (y - t) / K; dropout passes dy * mask / (1 - p) */
      float dy = w[i / K] * 2.0f * (yv[i] - tv[i]) / (float)K;
      float gexp = on ? dy * (1.0f / (1.0f - p)) : 0.0f;
      if (fabsf(dx[i] - gexp) > 1e-6f * fabsf(gexp) + 1e-12f) bad_grad++;
    }
    /* kept ~ Binomial(n, 1-p): allow 5 standard deviations */
    double mean = n * (1.0 - p), sd = sqrt(n * p * (1.0 - p));
    if (fabs((double)kept - mean) > 5 * sd + 0.5)
      fail_msg("dropout p=%g kept %lld of %lld (expected %.0f +- %.0f)", p, (long long)kept,
               (long long)n, mean, 5 * sd);
    if (p == 0.0f) assert_int_equal(kept, n);
    assert_int_equal(bad_value, 0);
    assert_int_equal(bad_grad, 0);
    /* a second forward draws a new mask (p > 0) */
    if (p > 0.0f) {
      int64_t changed = 0;
      float *keep = malloc((size_t)n * sizeof *keep);
      memcpy(keep, yv, (size_t)n * sizeof *keep);
      assert_int_equal(ds_graph_forward(g), DS_OK);
      for (int64_t i = 0; i < n; i++)
        changed += keep[i] != yv[i];
      assert_true(changed > 0);
      free(keep);
    }
    ds_graph_free(g);
  }
}

/* ---- errors name the node and the shapes ---- */

static void expect_error(ds_node got, ds_status code, const char *a, const char *b, const char *c) {
  if (got != code) fail_msg("expected status %d, got %d (%s)", code, got, ds_last_error());
  const char *msg = ds_last_error();
  if (a && !strstr(msg, a)) fail_msg("'%s' not in error: %s", a, msg);
  if (b && !strstr(msg, b)) fail_msg("'%s' not in error: %s", b, msg);
  if (c && !strstr(msg, c)) fail_msg("'%s' not in error: %s", c, msg);
}

static void test_conv_pool_errors(void **state) {
  (void)state;
  ds_graph *g = ds_graph_new(2);
  ds_node x = ds_input(g, "img", ds_shape3(3, 5, 5));
  ds_node w = ds_param(g, "k", ds_shape4(4, 2, 3, 3), DS_ROLE_WEIGHT);
  /* channels of input vs weight */
  expect_error(ds_conv2d(g, x, w, DS_NONE, 1, 1, 1), DS_ESHAPE, "conv2d#", "(2, 3, 5, 5)",
               "(4, 2, 3, 3)");
  /* groups not dividing the channels */
  expect_error(ds_conv2d(g, x, w, DS_NONE, 1, 1, 2), DS_ESHAPE, "groups 2", "(2, 3, 5, 5)",
               "(4, 2, 3, 3)");
  /* kernel larger than the padded input */
  ds_node big = ds_param(g, "big", ds_shape4(2, 3, 8, 3), DS_ROLE_WEIGHT);
  expect_error(ds_conv2d(g, x, big, DS_NONE, 1, 1, 1), DS_ESHAPE, "larger", "(2, 3, 5, 5)",
               "(2, 3, 8, 3)");
  assert_true(ds_conv2d(g, x, big, DS_NONE, 1, 2, 1) >= 0); /* 8 <= 5 + 2*2 */
  /* bias of the wrong length */
  ds_node w3 = ds_param(g, "w3", ds_shape4(4, 3, 3, 3), DS_ROLE_WEIGHT);
  ds_node b = ds_param(g, "bias5", ds_shape1(5), DS_ROLE_BIAS);
  expect_error(ds_conv2d(g, x, w3, b, 1, 1, 1), DS_ESHAPE, "bias5", "(5)", "(4, 3, 3, 3)");
  /* bad stride / padding, input of the wrong rank */
  expect_error(ds_conv2d(g, x, w3, DS_NONE, 0, 1, 1), DS_EINVAL, "conv2d#", "stride 0", NULL);
  ds_node flat = ds_input(g, "flat", ds_shape1(7));
  expect_error(ds_conv2d(g, flat, w3, DS_NONE, 1, 1, 1), DS_ESHAPE, "'flat'", "(2, 7)", NULL);
  /* pooling */
  expect_error(ds_maxpool2d(g, x, 7, 1, 0), DS_ESHAPE, "maxpool2d#", "(2, 3, 5, 5)", "kernel 7");
  expect_error(ds_avgpool2d(g, x, 2, 2, 2), DS_EINVAL, "avgpool2d#", "padding 2", NULL);
  expect_error(ds_maxpool2d(g, x, 2, 0, 0), DS_EINVAL, "stride 0", NULL, NULL);
  expect_error(ds_global_avgpool(g, flat), DS_ESHAPE, "global_avgpool#", "'flat'", "(2, 7)");
  /* an error passes through later builders */
  assert_int_equal(ds_relu(g, ds_conv2d(g, x, w, DS_NONE, 1, 1, 1)), DS_ESHAPE);
  /* a valid pipeline still builds after the failures */
  ds_node ok = ds_maxpool2d(g, ds_conv2d(g, x, w3, DS_NONE, 2, 1, 1), 2, 1, 1);
  assert_true(ok >= 0);
  ds_shape s = ds_graph_shape(g, ok);
  assert_int_equal(s.rank, 4);
  assert_int_equal(s.dim[1], 4);
  assert_int_equal(s.dim[2], 4); /* conv: (5 + 2 - 3) / 2 + 1 = 3; pool: (3 + 2 - 2) / 1 + 1 = 4 */
  ds_graph_free(g);
}

/* Batch changes re-plan conv/pool sizes; batch-1 results equal the first row of batch 2. */
static void test_conv_batch_change(void **state) {
  (void)state;
  ds_graph *g = ds_graph_new(3);
  ds_node x = ds_input(g, "x", ds_shape3(2, 6, 5));
  ds_node w = ds_param(g, "w", ds_shape4(4, 2, 3, 3), DS_ROLE_WEIGHT);
  ds_node c = ds_maxpool2d(g, ds_conv2d(g, x, w, DS_NONE, 1, 1, 1), 2, 2, 0);
  ds_node t = ds_input(g, "t", ds_shape3(4, 3, 2));
  ds_node loss = ds_mse(g, c, t);
  assert_int_equal(ds_graph_compile(g, loss), DS_OK);
  assert_int_equal(ds_graph_init_params(g, 5), DS_OK);
  fill(ds_graph_value(g, x), 3 * 60, FILL_UNIFORM, 9);
  fill(ds_graph_value(g, t), 3 * 24, FILL_UNIFORM, 10);
  assert_int_equal(ds_graph_forward(g), DS_OK);
  float l0 = ds_graph_value(g, loss)[0];
  uint64_t allocs = ds_alloc_count();
  assert_int_equal(ds_graph_set_batch(g, 1), DS_OK);
  assert_int_equal(ds_graph_forward(g), DS_OK);
  assert_int_equal(ds_graph_backward(g, NULL), DS_OK);
  /* per-sample work; only the GEMM's threading may differ (one thread per sample at batch 3,
   * OpenBLAS's own threads at batch 1), which can reorder sums: float rounding */
  assert_float_equal(ds_graph_value(g, loss)[0], l0, 1e-6 * (1 + fabsf(l0)));
  assert_int_equal(ds_alloc_count(), allocs);
  ds_graph_free(g);
}

/* A conv large enough to run on several threads (private weight-gradient sums per thread):
 * finite differences with two threads, agreement with one thread, bitwise repeatability. */
static void test_conv_threads(void **state) {
  (void)state;
  const int64_t B = 4, n_x = B * 16 * 12 * 12, n_w = 16 * 16 * 9;
  const int threads_before = omp_get_max_threads();
  omp_set_num_threads(2); /* planned at build time: the graph keeps scratch for two threads */
  harness h = h_new(B);
  ds_node x = h_input(&h, "x", ds_shape3(16, 12, 12), true, FILL_UNIFORM);
  ds_node w = h_param(&h, "w", ds_shape4(16, 16, 3, 3));
  ds_node b = h_param(&h, "b", ds_shape1(16));
  ds_node y = ds_conv2d(h.g, x, w, b, 1, 1, 1);
  ds_node t = ds_input(h.g, "t", ds_shape3(16, 12, 12));
  assert_int_equal(ds_graph_compile(h.g, ds_mse(h.g, y, t)), DS_OK);
  assert_int_equal(ds_graph_init_params(h.g, 21), DS_OK);
  fill(ds_graph_value(h.g, x), n_x, FILL_UNIFORM, 22);
  fill(ds_graph_value(h.g, t), n_x, FILL_UNIFORM, 23);
  assert_int_equal(tu_gradcheck(h.g, EPS, ATOL, RTOL, 40), 0);
  float *ref = malloc((size_t)(n_x + n_w) * sizeof *ref);
  assert_int_equal(ds_graph_forward(h.g), DS_OK);
  assert_int_equal(ds_graph_backward(h.g, NULL), DS_OK);
  memcpy(ref, ds_graph_grad(h.g, x), (size_t)n_x * sizeof *ref);
  memcpy(ref + n_x, ds_graph_grad(h.g, w), (size_t)n_w * sizeof *ref);
  /* same thread count: bitwise equal */
  assert_int_equal(ds_graph_forward(h.g), DS_OK);
  assert_int_equal(ds_graph_backward(h.g, NULL), DS_OK);
  assert_memory_equal(ref, ds_graph_grad(h.g, x), (size_t)n_x * sizeof *ref);
  assert_memory_equal(ref + n_x, ds_graph_grad(h.g, w), (size_t)n_w * sizeof *ref);
  /* one thread: the weight gradient is summed in another order; float rounding of sums of
   * B * 144 terms of O(1e-3) stays far below 1e-6 absolute */
  omp_set_num_threads(1);
  assert_int_equal(ds_graph_forward(h.g), DS_OK);
  assert_int_equal(ds_graph_backward(h.g, NULL), DS_OK);
  assert_int_equal(tu_mismatches("dx 1 vs 2 threads", ds_graph_grad(h.g, x), ref, n_x, 1e-7, 1e-5),
                   0);
  assert_int_equal(
      tu_mismatches("dw 1 vs 2 threads", ds_graph_grad(h.g, w), ref + n_x, n_w, 1e-7, 1e-5), 0);
  omp_set_num_threads(threads_before);
  free(ref);
  ds_graph_free(h.g);
}

/* ---- sequences: dense, bmm, softmax, attention, embeddings, token ops ---- */

static void test_dense(void **state) {
  (void)state;
  for (int r = 0; r < 3; r++) {
    int64_t B = r == 0 ? 1 : rnd_in(2, 3), T = rnd_in(1, 4), K = rnd_in(1, 6), O = rnd_in(1, 5);
    harness h = h_new(B);
    ds_node x = r == 2 ? h_input(&h, "x", ds_shape3(2, T, K), true, FILL_UNIFORM)
                       : h_input(&h, "x", ds_shape2(T, K), true, FILL_UNIFORM);
    ds_node w = h_param(&h, "w", ds_shape2(O, K));
    ds_node b = r != 1 ? h_param(&h, "b", ds_shape1(O)) : DS_NONE;
    h_check(&h, ds_dense(h.g, x, w, b), false, "dense");
  }
}

static void test_bmm(void **state) {
  (void)state;
  for (int r = 0; r < 8; r++) {
    bool ta = r & 1, tb = r & 2, rank4 = r & 4;
    int64_t B = r == 0 ? 1 : rnd_in(2, 3), H = rnd_in(1, 3), M = rnd_in(1, 4), K = rnd_in(1, 5),
            N = rnd_in(1, 4);
    harness h = h_new(B);
    ds_shape sa = ta ? ds_shape2(K, M) : ds_shape2(M, K),
             sb = tb ? ds_shape2(N, K) : ds_shape2(K, N);
    if (rank4) {
      sa = ds_shape3(H, sa.dim[0], sa.dim[1]);
      sb = ds_shape3(H, sb.dim[0], sb.dim[1]);
    }
    ds_node a = h_input(&h, "a", sa, true, FILL_UNIFORM);
    ds_node b = h_input(&h, "b", sb, true, FILL_UNIFORM);
    char what[64];
    snprintf(what, sizeof what, "bmm ta=%d tb=%d rank4=%d", ta, tb, rank4);
    h_check(&h, ds_bmm(h.g, a, b, ta, tb), false, what);
  }
}

static void test_softmax(void **state) {
  (void)state;
  for (int r = 0; r < 4; r++) {
    bool causal = r >= 2;
    int64_t B = r == 0 ? 1 : 2, Tq = rnd_in(1, 4), Tk = causal && r == 3 ? Tq : Tq + rnd_in(0, 2);
    harness h = h_new(B);
    ds_node x = h_input(&h, "x", ds_shape3(2, Tq, Tk), true, FILL_WIDE);
    h_check(&h, ds_softmax(h.g, x, causal), false, causal ? "softmax causal" : "softmax");
  }
}

/* The unfused multi-head attention: split heads, scores, softmax, weighted sum, merge. */
static ds_node attention_unfused(ds_graph *g, ds_node q, ds_node k, ds_node v, int H, bool causal) {
  ds_shape s = ds_graph_shape(g, q);
  int64_t T = s.dim[1], C = s.dim[2], D = C / H;
  ds_node qh = ds_transpose(g, ds_reshape(g, q, ds_shape3(T, H, D)), 1, 2); /* (B, H, T, D) */
  ds_node kh = ds_transpose(g, ds_reshape(g, k, ds_shape3(T, H, D)), 1, 2);
  ds_node vh = ds_transpose(g, ds_reshape(g, v, ds_shape3(T, H, D)), 1, 2);
  ds_node sc = ds_scale(g, ds_bmm(g, qh, kh, false, true), 1.0f / sqrtf((float)D));
  ds_node o = ds_bmm(g, ds_softmax(g, sc, causal), vh, false, false); /* (B, H, T, D) */
  return ds_reshape(g, ds_transpose(g, o, 1, 2), ds_shape2(T, C));
}

static void test_attention(void **state) {
  (void)state;
  for (int r = 0; r < 6; r++) {
    bool causal = r & 1, fused = r < 4;
    int64_t B = r == 0 ? 1 : 2, T = rnd_in(1, 5), H = rnd_in(1, 3), C = H * rnd_in(1, 3);
    harness h = h_new(B);
    ds_node q = h_input(&h, "q", ds_shape2(T, C), true, FILL_WIDE);
    ds_node k = h_input(&h, "k", ds_shape2(T, C), true, FILL_WIDE);
    ds_node v = h_input(&h, "v", ds_shape2(T, C), true, FILL_UNIFORM);
    char what[64];
    snprintf(what, sizeof what, "attention %s causal=%d T=%lld H=%lld C=%lld",
             fused ? "fused" : "unfused", causal, (long long)T, (long long)H, (long long)C);
    h_check(&h,
            fused ? ds_attention(h.g, q, k, v, (int)H, causal)
                  : attention_unfused(h.g, q, k, v, (int)H, causal),
            false, what);
  }
}

/* Fused and unfused attention agree on values and on every gradient (two graphs, same data). */
static void test_attention_fused_vs_unfused(void **state) {
  (void)state;
  const int64_t B = 3, T = 7, H = 2, C = 8;
  for (int causal = 0; causal < 2; causal++) {
    ds_graph *gr[2];
    ds_node in[2][3], out[2];
    for (int f = 0; f < 2; f++) {
      gr[f] = ds_graph_new(B);
      for (int i = 0; i < 3; i++) {
        const char *nm[3] = {"q", "k", "v"};
        in[f][i] = ds_input(gr[f], nm[i], ds_shape2(T, C));
        assert_int_equal(ds_input_requires_grad(gr[f], in[f][i], true), DS_OK);
      }
      out[f] = f ? ds_attention(gr[f], in[f][0], in[f][1], in[f][2], (int)H, causal)
                 : attention_unfused(gr[f], in[f][0], in[f][1], in[f][2], (int)H, causal);
      ds_node tgt = ds_input(gr[f], "target", ds_shape2(T, C));
      assert_int_equal(ds_graph_compile(gr[f], ds_mse(gr[f], out[f], tgt)), DS_OK);
      for (int i = 0; i < 3; i++)
        fill(ds_graph_value(gr[f], in[f][i]), B * T * C, FILL_WIDE, 11 + i);
      fill(ds_graph_value(gr[f], tgt), B * T * C, FILL_UNIFORM, 17);
      assert_int_equal(ds_graph_forward(gr[f]), DS_OK);
      assert_int_equal(ds_graph_backward(gr[f], NULL), DS_OK);
    }
    /* same maths, different summation order: float rounding only */
    assert_int_equal(tu_mismatches("attention out", ds_graph_value(gr[1], out[1]),
                                   ds_graph_value(gr[0], out[0]), B * T * C, 1e-6, 1e-5),
                     0);
    for (int i = 0; i < 3; i++)
      assert_int_equal(tu_mismatches("attention grad", ds_graph_grad(gr[1], in[1][i]),
                                     ds_graph_grad(gr[0], in[0][i]), B * T * C, 1e-7, 1e-4),
                       0);
    ds_graph_free(gr[0]);
    ds_graph_free(gr[1]);
  }
}

static void test_embedding(void **state) {
  (void)state;
  for (int r = 0; r < 3; r++) {
    int64_t B = r == 0 ? 1 : 3, T = rnd_in(1, 6), V = rnd_in(5, 8), C = rnd_in(1, 4);
    harness h = h_new(B);
    ds_node ids = r == 2 ? h_input(&h, "ids", ds_shape_scalar(), false, FILL_IDS)
                         : h_input(&h, "ids", ds_shape1(T), false, FILL_IDS);
    ds_node w = h_param(&h, "table", ds_shape2(V, C));
    h_check(&h, ds_embedding(h.g, ids, w), false, "embedding");
  }
  /* an id outside the table fails the forward, naming the node */
  ds_graph *g = ds_graph_new(2);
  ds_node ids = ds_input(g, "ids", ds_shape1(3));
  ds_node e = ds_embedding(g, ids, ds_param(g, "table", ds_shape2(5, 2), DS_ROLE_WEIGHT));
  ds_node t = ds_input(g, "t", ds_shape2(3, 2));
  assert_int_equal(ds_graph_compile(g, ds_mse(g, e, t)), DS_OK);
  memset(ds_graph_value(g, ids), 0, 6 * sizeof(float));
  ds_graph_value(g, ids)[4] = 5.0f;
  assert_int_equal(ds_graph_forward(g), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "embedding"));
  ds_graph_free(g);
}

static void test_token_ops(void **state) {
  (void)state;
  for (int r = 0; r < 2; r++) {
    int64_t B = r == 0 ? 1 : 3, T = rnd_in(1, 5), C = rnd_in(1, 4);
    harness h = h_new(B);
    ds_node x = h_input(&h, "x", ds_shape2(T, C), true, FILL_UNIFORM);
    h_check(&h, ds_add_broadcast(h.g, x, h_param(&h, "pos", ds_shape2(T, C))), false,
            "add_broadcast");
    h = h_new(B);
    x = h_input(&h, "x", ds_shape2(T, C), true, FILL_UNIFORM);
    h_check(&h, ds_token_prepend(h.g, x, h_param(&h, "cls", ds_shape1(C))), false, "token_prepend");
    h = h_new(B);
    x = h_input(&h, "x", ds_shape2(T, C), true, FILL_UNIFORM);
    h_check(&h, ds_token_mean(h.g, x), false, "token_mean");
    h = h_new(B);
    x = h_input(&h, "x", ds_shape2(T + 2, C), true, FILL_UNIFORM);
    h_check(&h, ds_slice(h.g, x, 1, T), false, "slice");
    h = h_new(B);
    x = h_input(&h, "x", ds_shape3(T, 2, C), true, FILL_UNIFORM);
    h_check(&h, ds_transpose(h.g, x, 1, 3), false, "transpose 1 3");
    h = h_new(B);
    x = h_input(&h, "x", ds_shape3(T, 3, C), true, FILL_UNIFORM);
    h_check(&h, ds_transpose(h.g, x, 2, 1), false, "transpose 2 1");
  }
}

/* Per-token cross-entropy: a sample's loss is the mean over its tokens. */
static void test_token_cross_entropy(void **state) {
  (void)state;
  for (int r = 0; r < 3; r++) {
    int64_t B = r == 0 ? 1 : 3, T = rnd_in(1, 5), C = rnd_in(5, 7);
    harness h = h_new(B);
    ds_node z = h_input(&h, "z", ds_shape2(T, C), true, FILL_WIDE);
    ds_node y = h_input(&h, "y", ds_shape1(T), false, FILL_IDS);
    h_check(&h, ds_cross_entropy(h.g, z, y, r == 2 ? 0.1f : 0.0f), true, "token cross_entropy");
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_linear),
      cmocka_unit_test(test_matmul),
      cmocka_unit_test(test_bias_add),
      cmocka_unit_test(test_add),
      cmocka_unit_test(test_unary),
      cmocka_unit_test(test_cross_entropy),
      cmocka_unit_test(test_mse),
      cmocka_unit_test(test_l1_huber),
      cmocka_unit_test(test_conv2d),
      cmocka_unit_test(test_pool),
      cmocka_unit_test(test_small_cnn),
      cmocka_unit_test(test_reshape),
      cmocka_unit_test(test_dropout_eval),
      cmocka_unit_test(test_dropout_train),
      cmocka_unit_test(test_conv_pool_errors),
      cmocka_unit_test(test_conv_batch_change),
      cmocka_unit_test(test_conv_threads),
      cmocka_unit_test(test_dense),
      cmocka_unit_test(test_bmm),
      cmocka_unit_test(test_softmax),
      cmocka_unit_test(test_attention),
      cmocka_unit_test(test_attention_fused_vs_unfused),
      cmocka_unit_test(test_embedding),
      cmocka_unit_test(test_token_ops),
      cmocka_unit_test(test_token_cross_entropy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
