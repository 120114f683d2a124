/* Graph engine: building, shape errors, compile, batch changes, no allocation per step,
 * determinism, finite-difference check of a small MLP. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

/* x (B,K) -> linear -> act -> linear -> CE */
static ds_graph *small_mlp(int64_t B, int64_t K, int64_t H, int64_t C, ds_node *x, ds_node *y) {
  ds_graph *g = ds_graph_new(B);
  *x = ds_input(g, "x", ds_shape1(K));
  *y = ds_input(g, "y", ds_shape_scalar());
  ds_node w1 = ds_param(g, "fc1.weight", ds_shape2(H, K), DS_ROLE_WEIGHT);
  ds_node b1 = ds_param(g, "fc1.bias", ds_shape1(H), DS_ROLE_BIAS);
  ds_node w2 = ds_param(g, "fc2.weight", ds_shape2(C, H), DS_ROLE_WEIGHT);
  ds_node b2 = ds_param(g, "fc2.bias", ds_shape1(C), DS_ROLE_BIAS);
  ds_node h = ds_tanh(g, ds_linear(g, *x, w1, b1));
  ds_node loss = ds_cross_entropy(g, ds_linear(g, h, w2, b2), *y, 0.1f);
  assert_int_equal(ds_graph_compile(g, loss), DS_OK);
  assert_int_equal(ds_graph_init_params(g, 7), DS_OK);
  return g;
}

static void fill_batch(ds_graph *g, ds_node x, ds_node y, int64_t B, int64_t K, int C, uint64_t s) {
  tu_fill_uniform(ds_graph_value(g, x), B * K, -1, 1, s);
  float *yv = ds_graph_value(g, y);
  for (int64_t i = 0; i < B; i++)
    yv[i] = (float)((i * 7 + (int64_t)s) % C);
}

static void test_mlp_gradcheck(void **state) {
  (void)state;
  ds_node x, y;
  ds_graph *g = small_mlp(3, 5, 7, 4, &x, &y);
  assert_int_equal(ds_input_requires_grad(g, x, true), DS_ESTATE); /* after compile: refused */
  fill_batch(g, x, y, 3, 5, 4, 1);
  /* float32 forward, central differences with eps 1e-3: truncation O(eps^2) ~ 1e-6 and rounding
   * ~ 1e-7/eps ~ 1e-4 absolute on O(1) gradients. */
  assert_int_equal(tu_gradcheck(g, 1e-3, 1e-3, 1e-2, 0), 0);
  ds_graph_free(g);
}

/* Ops that write a fresh gradient instead of zeroing and adding to it (ds_opdef.writes_grad):
 * add(h, h), h's last reader, reads it twice and must add both halves; relu, add and linear write
 * theirs. Two backward passes (the second over stale gradient buffers) agree with finite
 * differences. */
static void test_fresh_gradients(void **state) {
  (void)state;
  ds_graph *g = ds_graph_new(3);
  ds_node x = ds_input(g, "x", ds_shape1(5)), y = ds_input(g, "y", ds_shape_scalar());
  ds_node w1 = ds_param(g, "fc1.weight", ds_shape2(6, 5), DS_ROLE_WEIGHT);
  ds_node w2 = ds_param(g, "fc2.weight", ds_shape2(4, 6), DS_ROLE_WEIGHT);
  ds_node h = ds_tanh(g, ds_linear(g, x, w1, DS_NONE));
  ds_node r = ds_relu(g, h), hh = ds_add(g, h, h); /* hh is the last reader of h */
  ds_node loss = ds_cross_entropy(g, ds_linear(g, ds_add(g, r, hh), w2, DS_NONE), y, 0.0f);
  assert_int_equal(ds_graph_compile(g, loss), DS_OK);
  assert_int_equal(ds_graph_init_params(g, 3), DS_OK);
  fill_batch(g, x, y, 3, 5, 4, 2);
  for (int pass = 0; pass < 2; pass++)
    assert_int_equal(tu_gradcheck(g, 1e-3, 1e-3, 1e-2, 0), 0);
  ds_graph_free(g);
}

/* The gradient-ready hook (the bucketed allreduce's trigger): offsets decrease to a last 0, and
 * the range [offset, numel) reported holds its final gradients at the time of the call. */
typedef struct {
  const ds_paramset *ps;
  float *seen; /* (numel) the gradients as they were when first reported final */
  int64_t last, calls;
  bool decreasing;
} ready_log;

static void on_ready(void *ctx, int64_t offset) {
  ready_log *l = ctx;
  l->decreasing = l->decreasing && offset < l->last;
  for (int64_t i = offset; i < l->last; i++)
    l->seen[i] = l->ps->grad[i];
  l->last = offset;
  l->calls++;
}

static void test_grad_ready_hook(void **state) {
  (void)state;
  ds_node x, y;
  ds_graph *g = small_mlp(4, 5, 7, 4, &x, &y);
  fill_batch(g, x, y, 4, 5, 4, 2);
  const ds_paramset *ps = ds_graph_params(g);
  ready_log l = {ps, ds_calloc((size_t)ps->numel, sizeof(float)), ps->numel, 0, true};
  ds_graph_set_grad_ready(g, on_ready, &l);
  assert_int_equal(ds_graph_forward(g), DS_OK);
  assert_int_equal(ds_graph_backward(g, NULL), DS_OK);
  assert_true(l.decreasing);
  assert_int_equal(l.last, 0);
  /* fc2 (weight, bias) is final after the head's linear, fc1 after the first: 2 calls */
  assert_int_equal(l.calls, 2);
  assert_memory_equal(l.seen, ps->grad, sizeof(float) * (size_t)ps->numel);
  ds_graph_set_grad_ready(g, NULL, NULL);
  l.calls = 0;
  assert_int_equal(ds_graph_backward(g, NULL), DS_OK);
  assert_int_equal(l.calls, 0);
  ds_free(l.seen);
  ds_graph_free(g);
}

static void test_errors_name_the_node(void **state) {
  (void)state;
  ds_graph *g = ds_graph_new(4);
  ds_node x = ds_input(g, "x", ds_shape1(5));
  ds_node w = ds_param(g, "w", ds_shape2(3, 6), DS_ROLE_WEIGHT);
  ds_node z = ds_linear(g, x, w, DS_NONE);
  assert_int_equal(z, DS_ESHAPE);
  assert_non_null(strstr(ds_last_error(), "'x'"));
  assert_non_null(strstr(ds_last_error(), "(4, 5)"));
  assert_non_null(strstr(ds_last_error(), "(3, 6)"));
  /* errors pass through a chain of builders */
  assert_int_equal(ds_relu(g, z), DS_ESHAPE);
  /* no loss */
  assert_int_equal(ds_graph_compile(g, DS_NONE), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "no loss"));
  /* loss that is not per-sample: (4, 5) */
  assert_int_equal(ds_graph_compile(g, ds_relu(g, x)), DS_ESHAPE);
  /* zero-sized dimension, NULL graph, duplicate name */
  assert_true(ds_param(g, "bad", ds_shape2(0, 3), DS_ROLE_WEIGHT) < 0);
  assert_true(ds_input(NULL, "q", ds_shape1(1)) < 0);
  assert_int_equal(ds_input(g, "x", ds_shape1(2)), DS_EINVAL);
  assert_null(ds_graph_new(0));
  assert_int_equal(ds_graph_forward(g), DS_ESTATE); /* not compiled */
  assert_int_equal(ds_graph_forward(NULL), DS_EINVAL);
  ds_graph_free(g);
}

static void test_bad_label_is_an_error(void **state) {
  (void)state;
  ds_node x, y;
  ds_graph *g = small_mlp(2, 3, 4, 3, &x, &y);
  fill_batch(g, x, y, 2, 3, 3, 0);
  ds_graph_value(g, y)[1] = 3.0f;
  assert_int_equal(ds_graph_forward(g), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "label 3"));
  ds_graph_free(g);
}

static void test_batch_change_and_no_alloc(void **state) {
  (void)state;
  ds_node x, y;
  ds_graph *g = small_mlp(8, 6, 5, 3, &x, &y);
  assert_int_equal(ds_graph_set_batch(g, 9), DS_EINVAL);
  uint64_t before = ds_alloc_count();
  for (int step = 0; step < 10; step++) {
    int64_t b = 1 + step % 8;
    assert_int_equal(ds_graph_set_batch(g, b), DS_OK);
    fill_batch(g, x, y, b, 6, 3, (uint64_t)step);
    assert_int_equal(ds_graph_forward(g), DS_OK);
    assert_int_equal(ds_graph_backward(g, NULL), DS_OK);
    assert_int_equal(ds_graph_shape(g, ds_graph_loss(g)).dim[0], b);
  }
  assert_int_equal(ds_alloc_count(), before); /* the training step allocates nothing */
  /* batch 1 matches the first row of a batch of 2 */
  ds_graph_set_batch(g, 2);
  fill_batch(g, x, y, 2, 6, 3, 5);
  ds_graph_forward(g);
  float l0 = ds_graph_value(g, ds_graph_loss(g))[0];
  ds_graph_set_batch(g, 1);
  ds_graph_forward(g);
  assert_float_equal(ds_graph_value(g, ds_graph_loss(g))[0], l0, 1e-6);
  ds_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mlp_gradcheck),
      cmocka_unit_test(test_fresh_gradients),
      cmocka_unit_test(test_grad_ready_hook),
      cmocka_unit_test(test_errors_name_the_node),
      cmocka_unit_test(test_bad_label_is_an_error),
      cmocka_unit_test(test_batch_change_and_no_alloc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
