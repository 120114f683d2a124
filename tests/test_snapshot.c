/* Snapshot ensembles in the library's run (ds_trainer_fit with snapshots): an MLP trained with SGD
 * under cosine_restarts saves its complete state where each cycle ends, as files, keeping the last
 * M; the ensemble averages the snapshots' softmax outputs on the test split. Checks the kept files,
 * Jensen's inequality for the loss, that the trainer's state is restored after the ensemble, that a
 * resumed run produces the same snapshots and ensemble, and the options' contracts. */
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
#include "testutil.h"

enum { BATCH = 24, T0 = 20, M = 3, EPOCHS = 10 }; /* 240 samples: 10 steps/epoch, 5 cycles */

typedef struct {
  ds_dataset *train, *test;
  ds_graph *g;
  ds_node x, y, logits;
  ds_optim *opt;
  ds_sched *sched;
  ds_loader *loader;
  ds_trainer *t;
} rig;

static void rig_make(rig *r, const char *sched) {
  memset(r, 0, sizeof *r);
  ds_data_options d = ds_data_options_default();
  d.n_train = 240;
  d.n_test = 150;
  d.seed = 5;
  assert_int_equal(ds_dataset_load("blobs", &d, &r->train, &r->test), DS_OK);
  r->g = ds_graph_new(BATCH);
  r->x = ds_input(r->g, "x", r->train->sample_shape);
  r->y = ds_input(r->g, "y", ds_shape_scalar());
  ds_mlp_options mo = ds_mlp_options_default();
  mo.width = 16;
  r->logits = ds_nn_mlp(r->g, r->x, r->train->n_classes, &mo);
  assert_int_equal(ds_graph_compile(r->g, ds_cross_entropy(r->g, r->logits, r->y, 0.0f)), DS_OK);
  assert_int_equal(ds_graph_init_params(r->g, 3), DS_OK);
  r->opt = ds_optim_new("sgd", ds_graph_params(r->g));
  assert_int_equal(ds_optim_set_str(r->opt, "momentum", "0.9"), DS_OK);
  r->sched = ds_sched_new(sched, 0.2);
  if (!strcmp(sched, "cosine_restarts"))
    assert_int_equal(ds_sched_set(r->sched, "T_0", (double[]){T0}, 1), DS_OK);
  if (strcmp(sched, "cosine_restarts"))
    assert_int_equal(ds_sched_set_horizon(r->sched, 100), DS_OK);
  assert_int_equal(ds_sched_validate(r->sched), DS_OK);
  ds_loader_options lo = ds_loader_options_default();
  lo.batch = BATCH;
  lo.seed = 3;
  lo.drop_last = true;
  r->loader = ds_loader_new(r->train, &lo);
  r->t = ds_trainer_new(
      &(ds_trainer_parts){r->g, r->x, r->y, r->logits, r->opt, r->sched, r->loader}, NULL);
  assert_non_null(r->t);
}

static void rig_free(rig *r) {
  ds_trainer_free(r->t);
  ds_loader_free(r->loader);
  ds_sched_free(r->sched);
  ds_optim_free(r->opt);
  ds_graph_free(r->g);
  ds_dataset_free(r->train);
  ds_dataset_free(r->test);
}

static ds_fit_options fit_options(rig *r, const char *dir) {
  ds_fit_options o = ds_fit_options_default();
  o.epochs = EPOCHS;
  o.test = r->test;
  o.snapshots = M;
  o.snapshot_dir = dir;
  return o;
}

static void subdir(char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", tu_tmpdir(), name);
  char cmd[900];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", buf, buf);
  assert_int_equal(system(cmd), 0);
}

static bool exists(const char *dir, int64_t step) {
  char p[512];
  snprintf(p, sizeof p, "%s/snapshot-%08lld.safetensors", dir, (long long)step);
  FILE *f = fopen(p, "rb");
  if (f) fclose(f);
  return f != NULL;
}

static void test_ensemble(void **state) {
  (void)state;
  char dir[400];
  subdir(dir, sizeof dir, "ens");
  rig r;
  rig_make(&r, "cosine_restarts");
  ds_fit_options o = fit_options(&r, dir);
  ds_fit_result res;
  assert_int_equal(ds_trainer_fit(r.t, &o, &res), DS_OK);
  /* 100 steps, cycles of 20 end after steps 20, 40, ..., 100: the last M are kept */
  for (int k = 1; k <= 5; k++) {
    if (exists(dir, 20 * k) != (k > 5 - M))
      fprintf(stderr, "snapshot after step %d: %d\n", 20 * k, exists(dir, 20 * k));
    assert_int_equal(exists(dir, 20 * k), k > 5 - M);
  }
  assert_int_equal(res.ensemble.count, M);
  assert_int_equal(res.ensemble.ens.n, r.test->n);
  /* Jensen: the NLL of the averaged probabilities is at most the mean NLL of the members */
  assert_true(res.ensemble.ens.loss <= res.ensemble.mean_loss + 1e-9);
  assert_true(res.ensemble.ens.acc > 0.5);
  /* the trainer's model is the final one again: evaluation matches the last epoch's */
  ds_eval_result e;
  assert_int_equal(ds_trainer_evaluate(r.t, r.test, NULL, &e), DS_OK);
  assert_true(e.loss == res.last.test.loss);
  assert_int_equal(ds_trainer_step_count(r.t), 100);
  ds_eval_result_free(&e);
  ds_fit_result_free(&res);
  rig_free(&r);
}

/* A run interrupted by stop_after and resumed from its checkpoint keeps its snapshots and ends
 * with the same ensemble as an uninterrupted run. */
static void test_resume(void **state) {
  (void)state;
  char d1[400], d2[400], ck[500];
  subdir(d1, sizeof d1, "whole");
  subdir(d2, sizeof d2, "parts");
  rig a, b;
  rig_make(&a, "cosine_restarts");
  ds_fit_options o = fit_options(&a, d1);
  ds_fit_result ra, rb;
  assert_int_equal(ds_trainer_fit(a.t, &o, &ra), DS_OK);
  rig_make(&b, "cosine_restarts");
  snprintf(ck, sizeof ck, "%s/ck.safetensors", d2);
  o = fit_options(&b, d2);
  o.checkpoint = ck;
  o.stop_after = 5;
  assert_int_equal(ds_trainer_fit(b.t, &o, &rb), DS_OK);
  assert_false(rb.complete);
  ds_fit_result_free(&rb);
  rig_free(&b);
  rig_make(&b, "cosine_restarts");
  assert_int_equal(ds_trainer_load(b.t, ck, true), DS_OK);
  o = fit_options(&b, d2);
  assert_int_equal(ds_trainer_fit(b.t, &o, &rb), DS_OK);
  assert_true(rb.complete);
  assert_int_equal(rb.ensemble.count, M);
  assert_true(rb.ensemble.ens.loss == ra.ensemble.ens.loss);
  assert_true(rb.ensemble.ens.acc == ra.ensemble.ens.acc);
  ds_fit_result_free(&ra);
  ds_fit_result_free(&rb);
  rig_free(&a);
  rig_free(&b);
}

static void test_contracts(void **state) {
  (void)state;
  rig r;
  rig_make(&r, "cosine");
  ds_fit_options o = fit_options(&r, tu_tmpdir());
  assert_int_equal(ds_trainer_fit(r.t, &o, NULL), DS_EINVAL); /* no cycles */
  assert_non_null(strstr(ds_last_error(), "cosine_restarts or cyclic"));
  rig_free(&r);
  rig_make(&r, "cosine_restarts");
  o = fit_options(&r, NULL);
  assert_int_equal(ds_trainer_fit(r.t, &o, NULL), DS_EINVAL); /* no directory */
  assert_non_null(strstr(ds_last_error(), "snapshot_dir"));
  ds_ensemble_report rep;
  char empty[400];
  subdir(empty, sizeof empty, "empty");
  assert_int_equal(ds_trainer_snapshot_ensemble(r.t, empty, r.test, &rep), DS_OK);
  assert_int_equal(rep.count, 0);
  rig_free(&r);
}

static int setup(void **state) {
  (void)state;
  return tu_tmpdir_make("snapshot");
}
static int teardown(void **state) {
  (void)state;
  return tu_tmpdir_remove();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ensemble),
      cmocka_unit_test(test_resume),
      cmocka_unit_test(test_contracts),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
