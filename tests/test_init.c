/* Initialisation: orthogonal (square, tall, wide, conv) and delta-orthogonal, Kaiming/Xavier
 * statistics, the gain table, the mean-field init, determinism. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

/* One parameter of shape s with init spec; returns the graph (compiled, initialised). */
static ds_graph *one_param(ds_shape s, ds_init init, uint64_t seed, float **w) {
  ds_graph *g = ds_graph_new(2);
  ds_node x = ds_input(g, "x", ds_shape1(1));
  ds_node p = ds_param(g, "w", s, DS_ROLE_WEIGHT);
  ds_node q = ds_param(g, "q", ds_shape2(1, 1), DS_ROLE_WEIGHT);
  assert_int_equal(ds_param_set_init(g, p, init), DS_OK);
  ds_node loss = ds_mse(g, ds_linear(g, x, q, DS_NONE), x);
  assert_int_equal(ds_graph_compile(g, loss), DS_OK);
  assert_int_equal(ds_graph_init_params(g, seed), DS_OK);
  ds_paramset *ps = ds_graph_params(g);
  *w = ps->data + ps->info[0].offset;
  return g;
}

/* max |(W W^T or W^T W) - gain^2 I| over the smaller Gram matrix of W (rows, cols). */
static double gram_error(const float *w, int64_t rows, int64_t cols, double gain) {
  bool wide = rows <= cols;
  int64_t n = wide ? rows : cols, k = wide ? cols : rows;
  double err = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t t = 0; t < k; t++)
        s += wide ? (double)w[i * cols + t] * w[j * cols + t]
                  : (double)w[t * cols + i] * w[t * cols + j];
      err = fmax(err, fabs(s - (i == j ? gain * gain : 0)));
    }
  return err;
}

static void test_orthogonal(void **s) {
  (void)s;
  const int64_t shapes[][4] = {
      {8, 8, 1, 1}, {12, 5, 1, 1}, {5, 12, 1, 1}, {6, 3, 3, 3}, {40, 3, 3, 3}};
  const int ranks[] = {2, 2, 2, 4, 4};
  for (int c = 0; c < 5; c++) {
    float *w;
    ds_shape sh = ds_shape_make(ranks[c], shapes[c]);
    ds_graph *g = one_param(sh, (ds_init){DS_INIT_ORTHOGONAL, 1.0, 0}, 11, &w);
    int64_t rows = shapes[c][0], cols = ds_shape_numel(&sh) / rows;
    /* float32 entries of an orthonormal basis: Gram error ~ k * 6e-8 */
    assert_true(gram_error(w, rows, cols, 1.0) < 1e-5);
    ds_graph_free(g);
  }
  /* gain scales the Gram matrix to gain^2 I */
  float *w;
  ds_graph *g = one_param(ds_shape2(7, 7), (ds_init){DS_INIT_ORTHOGONAL, 2.0, 0}, 3, &w);
  assert_true(gram_error(w, 7, 7, 2.0) < 1e-5);
  /* same seed, same matrix; different seed, different matrix */
  float *w2;
  ds_graph *g2 = one_param(ds_shape2(7, 7), (ds_init){DS_INIT_ORTHOGONAL, 2.0, 0}, 3, &w2);
  assert_memory_equal(w, w2, 49 * sizeof(float));
  ds_graph_free(g2);
  g2 = one_param(ds_shape2(7, 7), (ds_init){DS_INIT_ORTHOGONAL, 2.0, 0}, 4, &w2);
  assert_true(memcmp(w, w2, 49 * sizeof(float)) != 0);
  ds_graph_free(g2);
  ds_graph_free(g);
}

/* Haar distribution: the diagonal of a random orthogonal matrix averages to 0 (no sign bias that
 * a QR without the diag(R) sign correction would leave: that gives E[Q_00] > 0). */
static void test_orthogonal_unbiased(void **s) {
  (void)s;
  double sum = 0;
  for (uint64_t seed = 0; seed < 400; seed++) {
    float *w;
    ds_graph *g = one_param(ds_shape2(4, 4), (ds_init){DS_INIT_ORTHOGONAL, 1.0, 0}, seed, &w);
    sum += w[0];
    ds_graph_free(g);
  }
  /* Var[Q_00] = 1/4 for n = 4: sd of the mean of 400 = 0.025; bound at 4 sd */
  assert_true(fabs(sum / 400) < 0.1);
}

static void test_delta_orthogonal(void **s) {
  (void)s;
  float *w;
  ds_graph *g =
      one_param(ds_shape4(8, 4, 3, 3), (ds_init){DS_INIT_DELTA_ORTHOGONAL, 1.0, 0}, 5, &w);
  float centre[32];
  for (int o = 0; o < 8; o++)
    for (int i = 0; i < 4; i++)
      for (int k = 0; k < 9; k++) {
        float v = w[(o * 4 + i) * 9 + k];
        if (k == 4)
          centre[o * 4 + i] = v;
        else
          assert_true(v == 0.0f);
      }
  assert_true(gram_error(centre, 8, 4, 1.0) < 1e-5);
  ds_graph_free(g);
  /* rank 1 is refused with the parameter's name */
  ds_graph *g1 = ds_graph_new(1);
  ds_node x = ds_input(g1, "x", ds_shape1(3));
  ds_node b = ds_param(g1, "vec", ds_shape1(3), DS_ROLE_OTHER);
  ds_param_set_init(g1, b, (ds_init){DS_INIT_ORTHOGONAL, 1, 0});
  assert_int_equal(
      ds_graph_compile(g1, ds_mse(g1, ds_bias_add(g1, ds_reshape(g1, x, ds_shape1(3)), b), x)),
      DS_OK);
  assert_int_equal(ds_graph_init_params(g1, 1), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "'vec'"));
  ds_graph_free(g1);
}

static void moments(const float *w, int64_t n, double *mean, double *sd, double *maxabs) {
  double s = 0, ss = 0, m = 0;
  for (int64_t i = 0; i < n; i++) {
    s += w[i];
    ss += (double)w[i] * w[i];
    m = fmax(m, fabs(w[i]));
  }
  *mean = s / n;
  *sd = sqrt(ss / n - *mean * *mean);
  *maxabs = m;
}

static void test_kaiming_xavier_meanfield(void **s) {
  (void)s;
  const int64_t O = 256, I = 128, n = O * I;
  double mean, sd, mx, gain = ds_init_gain(DS_ACT_RELU);
  float *w;
  /* 32768 samples: relative sd error of the sd ~ 0.4%; bound 2% */
  ds_graph *g = one_param(ds_shape2(O, I), (ds_init){DS_INIT_KAIMING_NORMAL, gain, 0}, 1, &w);
  moments(w, n, &mean, &sd, &mx);
  assert_true(fabs(sd / (gain / sqrt((double)I)) - 1) < 0.02);
  ds_graph_free(g);
  g = one_param(ds_shape2(O, I), (ds_init){DS_INIT_XAVIER_UNIFORM, 1.0, 0}, 1, &w);
  moments(w, n, &mean, &sd, &mx);
  double bound = sqrt(6.0 / (double)(O + I));
  assert_true(mx <= bound && mx > 0.99 * bound);
  assert_true(fabs(sd / (bound / sqrt(3.0)) - 1) < 0.02);
  ds_graph_free(g);
  g = one_param(ds_shape2(O, I), (ds_init){DS_INIT_MEANFIELD, 1.5, 0.05}, 1, &w);
  moments(w, n, &mean, &sd, &mx);
  assert_true(fabs(sd / (1.5 / sqrt((double)I)) - 1) < 0.02);
  ds_graph_free(g);
}

static void test_gain_table(void **s) {
  (void)s;
  /* torch.nn.init.calculate_gain */
  assert_true(fabs(ds_init_gain(DS_ACT_RELU) - sqrt(2.0)) < 1e-12);
  assert_true(fabs(ds_init_gain(DS_ACT_TANH) - 5.0 / 3.0) < 1e-12);
  assert_true(fabs(ds_init_gain(DS_ACT_LEAKY_RELU) - sqrt(2.0 / 1.0001)) < 1e-12);
  assert_true(ds_init_gain(DS_ACT_SIGMOID) == 1.0 && ds_init_gain(DS_ACT_IDENTITY) == 1.0);
}

/* The mlp builder applies the meanfield init to weights and biases. */
static void test_mlp_meanfield_init(void **s) {
  (void)s;
  ds_graph *g = ds_graph_new(2);
  ds_node x = ds_input(g, "x", ds_shape1(400)), y = ds_input(g, "y", ds_shape_scalar());
  ds_mlp_options o = ds_mlp_options_default();
  o.depth = 1;
  o.width = 400;
  o.act = DS_ACT_TANH;
  o.init = (ds_init){DS_INIT_MEANFIELD, 1.2, 0.3};
  ds_node logits = ds_nn_mlp(g, x, 10, &o);
  assert_int_equal(ds_graph_compile(g, ds_cross_entropy(g, logits, y, 0)), DS_OK);
  assert_int_equal(ds_graph_init_params(g, 9), DS_OK);
  ds_paramset *ps = ds_graph_params(g);
  const ds_param_info *w = &ps->info[ds_paramset_find(ps, "fc1.weight")];
  const ds_param_info *b = &ps->info[ds_paramset_find(ps, "fc1.bias")];
  double mean, sd, mx;
  moments(ps->data + w->offset, w->numel, &mean, &sd, &mx);
  assert_true(fabs(sd / (1.2 / 20.0) - 1) < 0.02); /* 160000 samples */
  moments(ps->data + b->offset, b->numel, &mean, &sd, &mx);
  assert_true(fabs(sd / 0.3 - 1) < 0.15); /* 400 samples: sd error ~3.5% */
  ds_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_orthogonal),       cmocka_unit_test(test_orthogonal_unbiased),
      cmocka_unit_test(test_delta_orthogonal), cmocka_unit_test(test_kaiming_xavier_meanfield),
      cmocka_unit_test(test_gain_table),       cmocka_unit_test(test_mlp_meanfield_init),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
