/* Non-finite values through the activations and pooling ops behave as in PyTorch 1.13: a NaN
 * input gives a NaN output (never a silent 0), infinities map as the function does, and the
 * gradients at those points are PyTorch's. The expected values were printed by PyTorch 1.13
 * (F.relu, F.leaky_relu(x, 0.1), torch.tanh, torch.sigmoid, F.gelu, F.max_pool2d(x, 2),
 * F.avg_pool2d(x, 2), each backward with a gradient of 3 or 1); JSON fixtures cannot hold NaN,
 * so they are written here. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/graph_internal.h"
#include "descent/descent.h"

/* Equal as PyTorch prints them: NaN matches NaN, otherwise within 1e-6 relative. */
static bool same(float got, float want) {
  if (isnan(want)) return isnan(got);
  if (isinf(want)) return got == want;
  return fabsf(got - want) <= 1e-6f * (1.0f + fabsf(want));
}

static void expect_values(const char *what, const float *got, const float *want, int n) {
  for (int i = 0; i < n; i++)
    if (!same(got[i], want[i]))
      fail_msg("%s[%d]: got %g, PyTorch gives %g", what, i, got[i], want[i]);
}

typedef ds_node (*unary_fn)(ds_graph *g, ds_node x);
static ds_node leaky(ds_graph *g, ds_node x) { return ds_leaky_relu(g, x, 0.1f); }

/* Runs op on x (one sample of n values), then the op's backward with dy = dy_value everywhere;
 * checks y and dx. The backward is called directly so that dy is exactly dy_value (a loss head
 * would turn the NaN outputs into NaN gradients everywhere). */
static void check_unary(const char *name, unary_fn op, const float *x, const float *y_want,
                        const float *dx_want, int n) {
  ds_graph *g = ds_graph_new(1);
  ds_node in = ds_input(g, "x", ds_shape1(n));
  assert_int_equal(ds_input_requires_grad(g, in, true), DS_OK);
  ds_node y = op(g, in);
  ds_node t = ds_input(g, "t", ds_shape1(n));
  assert_int_equal(ds_graph_compile(g, ds_mse(g, y, t)), DS_OK);
  memcpy(ds_graph_value(g, in), x, (size_t)n * sizeof *x);
  memset(ds_graph_value(g, t), 0, (size_t)n * sizeof(float));
  assert_int_equal(ds_graph_forward(g), DS_OK);
  expect_values(name, ds_graph_value(g, y), y_want, n);
  float *dy = ds_graph_grad(g, y), *dx = ds_graph_grad(g, in);
  for (int i = 0; i < n; i++)
    dy[i] = 3.0f, dx[i] = 0.0f;
  ds_nodedata *node = ds__node(g, y);
  ds__opdef(node->op)->backward(g, node);
  char what[64];
  snprintf(what, sizeof what, "d%s", name);
  expect_values(what, dx, dx_want, n);
  ds_graph_free(g);
}

static void test_activations(void **state) {
  (void)state;
  const float x[6] = {NAN, -INFINITY, INFINITY, -1.0f, 0.0f, 2.0f};
  check_unary("relu", ds_relu, x, (float[]){NAN, 0, INFINITY, 0, 0, 2}, (float[]){3, 0, 3, 0, 0, 3},
              6);
  check_unary("leaky_relu", leaky, x, (float[]){NAN, -INFINITY, INFINITY, -0.1f, 0, 2},
              (float[]){0.3f, 0.3f, 3, 0.3f, 0.3f, 3}, 6);
  check_unary("tanh", ds_tanh, x,
              (float[]){NAN, -1, 1, -0.7615941762924194f, 0, 0.9640275835990906f},
              (float[]){NAN, 0, 0, 1.2599228620529175f, 3, 0.21195244789123535f}, 6);
  check_unary("sigmoid", ds_sigmoid, x,
              (float[]){NAN, 0, 1, 0.2689414322376251f, 0.5f, 0.8807970285415649f},
              (float[]){NAN, 0, 0, 0.5898358225822449f, 0.75f, 0.3149808645248413f}, 6);
  check_unary("gelu", ds_gelu, x,
              (float[]){NAN, NAN, INFINITY, -0.1586552858352661f, 0, 1.9544999599456787f},
              (float[]){NAN, NAN, NAN, -0.24994629621505737f, 1.5f, 3.2556958198547363f}, 6);
}

/* A relu over a whole vectorised chunk: a NaN in any lane survives. */
static void test_relu_long(void **state) {
  (void)state;
  enum { N = 40000 }; /* more than one parallel chunk */
  static float x[N], y[N], dx[N];
  for (int i = 0; i < N; i++) {
    x[i] = i % 7 == 3 ? NAN : (float)((i % 11) - 5);
    y[i] = isnan(x[i]) ? NAN : x[i] > 0 ? x[i] : 0;
    dx[i] = isnan(x[i]) || x[i] > 0 ? 3.0f : 0.0f;
  }
  check_unary("relu", ds_relu, x, y, dx, N);
}

static void test_pooling(void **state) {
  (void)state;
  const float x[16] = {1, NAN, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, NAN, 16};
  for (int avg = 0; avg < 2; avg++) {
    ds_graph *g = ds_graph_new(1);
    ds_node in = ds_input(g, "x", ds_shape3(1, 4, 4));
    assert_int_equal(ds_input_requires_grad(g, in, true), DS_OK);
    ds_node y = avg ? ds_avgpool2d(g, in, 2, 2, 0) : ds_maxpool2d(g, in, 2, 2, 0);
    ds_node t = ds_input(g, "t", ds_shape3(1, 2, 2));
    assert_int_equal(ds_graph_compile(g, ds_mse(g, y, t)), DS_OK);
    memcpy(ds_graph_value(g, in), x, sizeof x);
    assert_int_equal(ds_graph_forward(g), DS_OK);
    if (avg) {
      expect_values("avgpool2d", ds_graph_value(g, y), (float[]){NAN, 5.5f, 11.5f, NAN}, 4);
    } else {
      expect_values("maxpool2d", ds_graph_value(g, y), (float[]){NAN, 8, 14, NAN}, 4);
      float *dy = ds_graph_grad(g, y), *dx = ds_graph_grad(g, in);
      for (int i = 0; i < 4; i++)
        dy[i] = 1.0f;
      memset(dx, 0, sizeof x);
      ds_nodedata *node = ds__node(g, y);
      ds__opdef(node->op)->backward(g, node);
      /* the gradient goes to the NaN that won its window */
      expect_values("dmaxpool2d", dx, (float[]){0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0},
                    16);
    }
    ds_graph_free(g);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_activations),
      cmocka_unit_test(test_relu_long),
      cmocka_unit_test(test_pooling),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
