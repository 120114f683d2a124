/* Snapshot ensembles: a small MLP trained with SGD under cosine_restarts saves its parameters at
 * the end of every cycle (keeping the last M); the ensemble averages the snapshots' softmax
 * outputs. Checks the kept snapshots, the averaged probabilities, Jensen's inequality for the
 * loss, and that snapshots from a different model are refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "descent/descent.h"

enum { K = 2, C = 3, N_TRAIN = 240, N_TEST = 150, BATCH = 24, T0 = 40, CYCLES = 5, M = 3 };

/* Three overlapping Gaussian blobs in the plane (so the loss cannot reach zero). */
static void make_data(float *x, float *y, int n, uint64_t seed) {
  static const float centre[C][K] = {{0, 1}, {-0.9f, -0.5f}, {0.9f, -0.5f}};
  ds_rng r;
  ds_rng_seed(&r, seed, DS_RNG_DATA);
  for (int i = 0; i < n; i++) {
    int c = i % C;
    y[i] = (float)c;
    for (int j = 0; j < K; j++) x[i * K + j] = centre[c][j] + 0.7f * (float)ds_rng_normal(&r);
  }
}

typedef struct {
  ds_graph *g;
  ds_node x, y, logits;
  const float *data_x, *data_y;
  int n;
} model;

static void build_model(model *m, int64_t width) {
  m->g = ds_graph_new(N_TEST);
  assert_non_null(m->g);
  m->x = ds_input(m->g, "x", ds_shape1(K));
  m->y = ds_input(m->g, "y", ds_shape_scalar());
  ds_mlp_options o = ds_mlp_options_default();
  o.depth = 1;
  o.width = width;
  o.act = DS_ACT_TANH;
  m->logits = ds_nn_mlp(m->g, m->x, C, &o);
  assert_true(m->logits >= 0);
  assert_int_equal(ds_graph_compile(m->g, ds_cross_entropy(m->g, m->logits, m->y, 0.0f)), DS_OK);
  assert_int_equal(ds_graph_init_params(m->g, 3), DS_OK);
}

/* Loads rows idx[0..n) of the data set into the graph's inputs. */
static void load_batch(model *m, const int64_t *idx, int n) {
  assert_int_equal(ds_graph_set_batch(m->g, n), DS_OK);
  float *x = ds_graph_value(m->g, m->x), *y = ds_graph_value(m->g, m->y);
  for (int i = 0; i < n; i++) {
    int64_t r = idx ? idx[i] : i;
    memcpy(x + i * K, m->data_x + r * K, K * sizeof(float));
    y[i] = m->data_y[r];
  }
}

/* ds_logits_fn: logits of the model's current data under the parameters in ps (the graph's). */
static ds_status logits_fn(void *ctx, ds_paramset *ps, float *logits) {
  model *m = ctx;
  assert_ptr_equal(ps, ds_graph_params(m->g));
  load_batch(m, NULL, m->n);
  ds_status st = ds_graph_forward(m->g);
  if (!st) memcpy(logits, ds_graph_value(m->g, m->logits), (size_t)m->n * C * sizeof(float));
  return st;
}

/* Mean negative log-likelihood of labels y under probabilities p (n, C). */
static double nll(const float *p, const float *y, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s -= log((double)p[i * C + (int)y[i]]);
  return s / n;
}

static void softmax_rows(const float *z, float *p, int n) {
  for (int i = 0; i < n; i++) {
    double mx = z[i * C], sum = 0;
    for (int c = 1; c < C; c++) mx = fmax(mx, z[i * C + c]);
    for (int c = 0; c < C; c++) sum += exp(z[i * C + c] - mx);
    for (int c = 0; c < C; c++) p[i * C + c] = (float)(exp(z[i * C + c] - mx) / sum);
  }
}

static void test_snapshot_ensemble(void **state) {
  (void)state;
  static float xtr[N_TRAIN * K], ytr[N_TRAIN], xte[N_TEST * K], yte[N_TEST];
  make_data(xtr, ytr, N_TRAIN, 1);
  make_data(xte, yte, N_TEST, 2);
  model m = {.data_x = xtr, .data_y = ytr};
  build_model(&m, 16);
  ds_paramset *ps = ds_graph_params(m.g);

  ds_sched *s = ds_sched_new("cosine_restarts", 0.5);
  assert_int_equal(ds_sched_set(s, "T_0", (double[]){T0}, 1), DS_OK);
  assert_int_equal(ds_sched_validate(s), DS_OK);
  ds_snapshots *store = ds_snapshots_new(ps, M);
  assert_non_null(store);

  /* SGD on shuffled mini-batches; snapshot whenever a cycle ends. */
  int64_t idx[N_TRAIN];
  for (int i = 0; i < N_TRAIN; i++) idx[i] = i;
  ds_rng shuffle;
  ds_rng_seed(&shuffle, 5, DS_RNG_SHUFFLE);
  int per_epoch = N_TRAIN / BATCH;
  for (int64_t k = 0; k < (int64_t)T0 * CYCLES; k++) {
    if (k % per_epoch == 0) ds_rng_shuffle(&shuffle, idx, N_TRAIN);
    load_batch(&m, idx + (k % per_epoch) * BATCH, BATCH);
    assert_int_equal(ds_graph_forward(m.g), DS_OK);
    assert_int_equal(ds_graph_backward(m.g, NULL), DS_OK);
    float lr = (float)ds_sched_lr(s, k);
    for (int64_t j = 0; j < ps->numel; j++) ps->data[j] -= lr * ps->grad[j];
    if (ds_sched_cycle_ends(s, k)) assert_int_equal(ds_snapshots_add(store, ps, k), DS_OK);
  }
  /* 5 cycles, the last M = 3 kept, oldest first */
  assert_int_equal(ds_snapshots_count(store), M);
  for (int i = 0; i < M; i++)
    assert_int_equal(ds_snapshots_step(store, i), (CYCLES - M + i + 1) * T0 - 1);
  assert_int_equal(ds_snapshots_step(store, M), -1);

  /* Ensemble on held-out data. */
  m.data_x = xte;
  m.data_y = yte;
  m.n = N_TEST;
  float *current = malloc((size_t)ps->numel * sizeof(float));
  memcpy(current, ps->data, (size_t)ps->numel * sizeof(float));
  static float probs[N_TEST * C], mean[N_TEST * C], p1[N_TEST * C], z[N_TEST * C];
  assert_int_equal(ds_snapshots_predict(store, ps, logits_fn, &m, N_TEST, C, probs), DS_OK);
  assert_memory_equal(current, ps->data, (size_t)ps->numel * sizeof(float)); /* restored */

  /* Reference: each snapshot on its own, probabilities averaged by hand. */
  double mean_single = 0, spread = 0;
  memset(mean, 0, sizeof mean);
  for (int i = 0; i < M; i++) {
    assert_int_equal(ds_snapshots_load(store, i, ps), DS_OK);
    for (int64_t j = 0; j < ps->numel; j++) spread = fmax(spread, fabs(ps->data[j] - current[j]));
    assert_int_equal(logits_fn(&m, ps, z), DS_OK);
    softmax_rows(z, p1, N_TEST);
    double l = nll(p1, yte, N_TEST);
    printf("snapshot %d (step %lld): test loss %.5f\n", i, (long long)ds_snapshots_step(store, i),
           l);
    mean_single += l / M;
    for (int j = 0; j < N_TEST * C; j++) mean[j] += p1[j] / M;
  }
  assert_true(spread > 1e-3); /* the snapshots really differ */
  /* float32 softmax per snapshot on both sides: 1e-6 absolute on probabilities in [0, 1]. */
  for (int j = 0; j < N_TEST * C; j++) assert_true(fabs(probs[j] - mean[j]) <= 1e-6);
  double ens = nll(probs, yte, N_TEST);
  printf("ensemble test loss %.5f, mean single-snapshot loss %.5f\n", ens, mean_single);
  assert_true(ens <= mean_single + 1e-6); /* Jensen: -log is convex; 1e-6 for float probs */
  assert_true(ens < mean_single);         /* strictly, since the snapshots differ */
  assert_true(mean_single < log(C));      /* and training did something */

  free(current);
  ds_snapshots_free(store);
  ds_sched_free(s);
  ds_graph_free(m.g);
}

/* Snapshots of another model (other width, other names, other count) are refused by name. */
static void test_refuses_other_model(void **state) {
  (void)state;
  model a, b;
  build_model(&a, 16);
  build_model(&b, 17);
  ds_snapshots *store = ds_snapshots_new(ds_graph_params(a.g), 2);
  assert_non_null(store);
  assert_int_equal(ds_snapshots_add(store, ds_graph_params(b.g), 0), DS_ESHAPE);
  assert_non_null(strstr(ds_last_error(), "fc1.weight"));
  assert_non_null(strstr(ds_last_error(), "(16, 2)"));
  assert_non_null(strstr(ds_last_error(), "(17, 2)"));
  assert_int_equal(ds_snapshots_count(store), 0);
  assert_int_equal(ds_snapshots_add(store, ds_graph_params(a.g), 0), DS_OK);
  assert_int_equal(ds_snapshots_load(store, 0, ds_graph_params(b.g)), DS_ESHAPE);
  float probs[C];
  b.n = 1;
  assert_int_equal(ds_snapshots_predict(store, ds_graph_params(b.g), logits_fn, &b, 1, C, probs),
                   DS_ESHAPE);

  ds_paramset *renamed = ds_paramset_new(), *fewer = ds_paramset_new();
  const ds_paramset *pa = ds_graph_params(a.g);
  for (int i = 0; i < pa->count; i++) {
    char name[DS_NAME_MAX];
    snprintf(name, sizeof name, i == 2 ? "out.weight" : "%s", pa->info[i].name);
    assert_true(ds_paramset_add(renamed, name, pa->info[i].shape, pa->info[i].role) >= 0);
    if (i < pa->count - 1)
      assert_true(ds_paramset_add(fewer, pa->info[i].name, pa->info[i].shape, pa->info[i].role) >=
                  0);
  }
  assert_int_equal(ds_snapshots_add(store, renamed, 1), DS_ESHAPE);
  assert_non_null(strstr(ds_last_error(), "'out.weight'"));
  assert_int_equal(ds_snapshots_add(store, fewer, 1), DS_ESHAPE);
  assert_non_null(strstr(ds_last_error(), "parameters"));
  assert_int_equal(ds_snapshots_count(store), 1);
  ds_paramset_free(renamed);
  ds_paramset_free(fewer);
  ds_snapshots_free(store);
  ds_graph_free(a.g);
  ds_graph_free(b.g);
}

/* Ring order: with capacity 2, three additions keep the last two, oldest first. */
static void test_keeps_last_m(void **state) {
  (void)state;
  ds_paramset *ps = ds_paramset_new();
  assert_true(ds_paramset_add(ps, "w", ds_shape2(2, 3), DS_ROLE_WEIGHT) >= 0);
  assert_null(ds_snapshots_new(ps, 0));
  ds_snapshots *store = ds_snapshots_new(ps, 2);
  float probs[C];
  assert_int_equal(ds_snapshots_predict(store, ps, logits_fn, NULL, 1, C, probs), DS_ESTATE);
  for (int t = 1; t <= 3; t++) {
    for (int j = 0; j < 6; j++) ps->data[j] = (float)(10 * t + j);
    assert_int_equal(ds_snapshots_add(store, ps, 100 * t), DS_OK);
  }
  assert_int_equal(ds_snapshots_count(store), 2);
  assert_int_equal(ds_snapshots_step(store, 0), 200);
  assert_int_equal(ds_snapshots_step(store, 1), 300);
  assert_int_equal(ds_snapshots_load(store, 0, ps), DS_OK);
  assert_true(ps->data[0] == 20 && ps->data[5] == 25);
  assert_int_equal(ds_snapshots_load(store, 1, ps), DS_OK);
  assert_true(ps->data[0] == 30);
  assert_int_equal(ds_snapshots_load(store, 2, ps), DS_EINVAL);
  ds_snapshots_free(store);
  ds_paramset_free(ps);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_snapshot_ensemble),
      cmocka_unit_test(test_refuses_other_model),
      cmocka_unit_test(test_keeps_last_m),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
