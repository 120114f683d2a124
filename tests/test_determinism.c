/* Determinism: same seed and thread count (1 and 2) give a bitwise-identical loss sequence over 100
 * steps (init, data order and dropout all drawn from seeded per-purpose generators). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#define STEPS 100
#define N 512
#define B 32
#define K 20

/* Trains an MLP with dropout by plain SGD on a fixed synthetic problem, shuffling with the
 * DS_RNG_SHUFFLE stream of seed; writes the loss of every step. */
static void run(uint64_t seed, float *losses) {
  static float data[N * K], labels[N];
  tu_fill_uniform(data, N * K, -1, 1, 42);
  for (int i = 0; i < N; i++)
    labels[i] = (float)((data[i * K] + data[i * K + 1] > 0) + (data[i * K + 2] > 0.5f));
  ds_graph *g = ds_graph_new(B);
  ds_node x = ds_input(g, "x", ds_shape1(K)), y = ds_input(g, "y", ds_shape_scalar());
  ds_mlp_options o = ds_mlp_options_default();
  o.width = 64;
  o.dropout = 0.2f;
  ds_node loss = ds_cross_entropy(g, ds_nn_mlp(g, x, 3, &o), y, 0.0f);
  assert_int_equal(ds_graph_compile(g, loss), DS_OK);
  ds_graph_init_params(g, seed);
  ds_graph_seed(g, seed);
  ds_rng shuffle;
  ds_rng_seed(&shuffle, seed, DS_RNG_SHUFFLE);
  int64_t order[N];
  for (int i = 0; i < N; i++)
    order[i] = i;
  ds_paramset *ps = ds_graph_params(g);
  for (int s = 0; s < STEPS; s++) {
    int pos = (s * B) % N;
    if (pos == 0) ds_rng_shuffle(&shuffle, order, N);
    float *xv = ds_graph_value(g, x), *yv = ds_graph_value(g, y);
    for (int i = 0; i < B; i++) {
      memcpy(xv + i * K, data + order[pos + i] * K, K * sizeof(float));
      yv[i] = labels[order[pos + i]];
    }
    assert_int_equal(ds_graph_forward(g), DS_OK);
    assert_int_equal(ds_graph_backward(g, NULL), DS_OK);
    for (int64_t i = 0; i < ps->numel; i++)
      ps->data[i] -= 0.1f * ps->grad[i];
    losses[s] = (float)ds_graph_loss_mean(g);
  }
  ds_graph_free(g);
}

static void test_same_seed_same_losses(void **state) {
  (void)state;
  float a[STEPS], b[STEPS], c[STEPS];
  run(3, a);
  run(3, b);
  run(4, c);
  assert_memory_equal(a, b, sizeof a);
  assert_memory_not_equal(a, c, sizeof a);
  assert_true(a[STEPS - 1] < a[0]); /* and it learns */
}

/* The same on two threads (OpenMP loops and OpenBLAS's GEMMs split the work): bitwise equal runs
 * for the same seed and thread count. */
static void test_two_threads(void **state) {
  (void)state;
  float a[STEPS], b[STEPS];
  assert_int_equal(ds_threads_set(2), 2);
  assert_int_equal(ds_threads_get(), 2);
  run(3, a);
  run(3, b);
  ds_threads_set(1);
  assert_memory_equal(a, b, sizeof a);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_same_seed_same_losses),
                                     cmocka_unit_test(test_two_threads)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
