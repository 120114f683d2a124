/* The library trainer (train.h): steps, bitwise resume from a checkpoint, NaN handling, objective
 * weights, evaluation that leaves training untouched, checkpoints of another model refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "descent/descent.h"
#include "descent/train.h"

/* One complete training setup on the blobs dataset. */
typedef struct {
  ds_dataset *train, *test;
  ds_graph *g;
  ds_node x, y, logits;
  ds_optim *opt;
  ds_sched *sched;
  ds_loader *loader;
  ds_trainer *t;
} rig;

static void rig_make(rig *r, int64_t width, const char *optim, double lr,
                     const ds_trainer_options *to) {
  memset(r, 0, sizeof *r);
  ds_data_options d = ds_data_options_default();
  d.n_train = 300;
  d.n_test = 100;
  d.seed = 3;
  assert_int_equal(ds_dataset_load("blobs", &d, &r->train, &r->test), DS_OK);
  r->g = ds_graph_new(32);
  r->x = ds_input(r->g, "x", r->train->sample_shape);
  r->y = ds_input(r->g, "y", ds_shape_scalar());
  ds_mlp_options mo = ds_mlp_options_default();
  mo.width = width;
  mo.dropout = 0.2f; /* exercises the dropout RNG across a checkpoint */
  r->logits = ds_nn_mlp(r->g, r->x, r->train->n_classes, &mo);
  ds_node loss = ds_cross_entropy(r->g, r->logits, r->y, 0.0f);
  assert_int_equal(ds_graph_compile(r->g, loss), DS_OK);
  assert_int_equal(ds_graph_init_params(r->g, 7), DS_OK);
  ds_graph_seed(r->g, 7);
  r->opt = ds_optim_new(optim, ds_graph_params(r->g));
  assert_non_null(r->opt);
  r->sched = ds_sched_new("cosine", lr);
  assert_int_equal(ds_sched_set(r->sched, "T_max", (double[]){40}, 1), DS_OK);
  assert_int_equal(ds_sched_set_warmup(r->sched, 5, DS_WARMUP_LINEAR, 0.1), DS_OK);
  assert_int_equal(ds_sched_validate(r->sched), DS_OK);
  ds_loader_options lo = ds_loader_options_default();
  lo.batch = 32;
  lo.seed = 7;
  r->loader = ds_loader_new(r->train, &lo);
  assert_non_null(r->loader);
  ds_trainer_parts p = {r->g, r->x, r->y, r->logits, r->opt, r->sched, r->loader};
  r->t = ds_trainer_new(&p, to);
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

/* Loss and accuracy of the trainer's model on d. */
static ds_status eval2(ds_trainer *t, const ds_dataset *d, double *loss, double *acc) {
  ds_eval_result r;
  ds_status st = ds_trainer_evaluate(t, d, NULL, &r);
  if (st) return st;
  *loss = r.loss;
  *acc = r.acc;
  ds_eval_result_free(&r);
  return DS_OK;
}

/* Runs one epoch; returns the steps taken. */
static int64_t epoch(rig *r) {
  ds_step_result sr;
  int64_t n = 0;
  int k;
  while ((k = ds_trainer_step(r->t, &sr)) > 0) {
    assert_true(isfinite(sr.loss));
    assert_true(sr.batch > 0 && sr.batch <= 32);
    assert_true(sr.correct >= 0 && sr.correct <= sr.batch);
    n++;
  }
  assert_int_equal(k, 0);
  return n;
}

static const char *ckpt_path(void) {
  static char path[256];
  snprintf(path, sizeof path, "/tmp/descent_test_train_%ld.safetensors", (long)getpid());
  return path;
}

static void test_resume_bitwise(void **state) {
  (void)state;
  rig a, b;
  rig_make(&a, 16, "adamw", 1e-2, NULL);
  assert_int_equal(epoch(&a), 10); /* ceil(300 / 32) */
  double l0 = 0, acc0 = 0;
  assert_int_equal(eval2(a.t, a.test, &l0, &acc0), DS_OK);
  epoch(&a);
  epoch(&a);
  assert_int_equal(ds_trainer_epoch(a.t), 3);
  assert_int_equal(ds_trainer_step_count(a.t), 30);

  rig_make(&b, 16, "adamw", 1e-2, NULL);
  epoch(&b);
  double l1 = 1, acc1 = 1;
  assert_int_equal(eval2(b.t, b.test, &l1, &acc1), DS_OK);
  assert_true(l0 == l1 && acc0 == acc1); /* same seed: same run */
  const char *meta[] = {"note", "hello"};
  assert_int_equal(ds_trainer_save(b.t, ckpt_path(), meta, 1), DS_OK);
  rig_free(&b);

  rig c; /* a fresh process's view: everything rebuilt, then restored */
  rig_make(&c, 16, "adamw", 1e-2, NULL);
  assert_int_equal(ds_trainer_load(c.t, ckpt_path(), true), DS_OK);
  assert_int_equal(ds_trainer_epoch(c.t), 1);
  assert_int_equal(ds_trainer_step_count(c.t), 10);
  epoch(&c);
  epoch(&c);
  ds_paramset *pa = ds_graph_params(a.g), *pc = ds_graph_params(c.g);
  assert_int_equal(pa->numel, pc->numel);
  assert_memory_equal(pa->data, pc->data, sizeof(float) * (size_t)pa->numel); /* bitwise */
  for (int i = 0; i < ds_optim_state_count(a.opt); i++) {
    const char *na, *nc;
    float *da, *dc;
    int64_t n;
    ds_optim_state(a.opt, i, &na, &da, &n);
    ds_optim_state(c.opt, i, &nc, &dc, &n);
    assert_string_equal(na, nc);
    assert_memory_equal(da, dc, sizeof(float) * (size_t)n);
  }
  ds_safetensors *st = ds_safetensors_read(ckpt_path());
  assert_non_null(st);
  assert_string_equal(ds_safetensors_meta(st, "note"), "hello");
  assert_string_equal(ds_safetensors_meta(st, "step"), "10");
  assert_string_equal(ds_safetensors_meta(st, "optim.name"), "adamw");
  ds_safetensors_free(st);
  rig_free(&a);
  rig_free(&c);
}

/* Evaluating between steps changes nothing about training (mode, RNG, parameters). */
static void test_evaluate_is_inert(void **state) {
  (void)state;
  rig a, b;
  rig_make(&a, 16, "adamw", 1e-2, NULL);
  rig_make(&b, 16, "adamw", 1e-2, NULL);
  ds_step_result sr;
  for (int i = 0; i < 15; i++) {
    assert_true(ds_trainer_step(a.t, &sr) >= 0);
    assert_true(ds_trainer_step(b.t, &sr) >= 0);
    double l = 0, acc = -1;
    assert_int_equal(eval2(b.t, b.test, &l, &acc), DS_OK);
    assert_true(acc >= 0 && acc <= 1 && l > 0);
    assert_true(ds_graph_training(b.g));
  }
  ds_paramset *pa = ds_graph_params(a.g), *pb = ds_graph_params(b.g);
  assert_memory_equal(pa->data, pb->data, sizeof(float) * (size_t)pa->numel);
  rig_free(&a);
  rig_free(&b);
}

/* A non-finite loss stops before backward: DS_ENUMERIC naming the step; parameters untouched. */
static void test_nan_loss(void **state) {
  (void)state;
  rig r;
  rig_make(&r, 16, "sgd", 1e30, NULL);
  ds_paramset *ps = ds_graph_params(r.g);
  float *before = malloc(sizeof(float) * (size_t)ps->numel);
  ds_step_result sr;
  int k = 1;
  for (int i = 0; i < 50 && k >= 0; i++) {
    memcpy(before, ps->data, sizeof(float) * (size_t)ps->numel);
    k = ds_trainer_step(r.t, &sr);
  }
  assert_int_equal(k, DS_ENUMERIC);
  assert_non_null(strstr(ds_last_error(), "loss is"));
  char want[64];
  snprintf(want, sizeof want, "step %lld ", (long long)ds_trainer_step_count(r.t) + 1);
  assert_non_null(strstr(ds_last_error(), want));
  assert_memory_equal(before, ps->data, sizeof(float) * (size_t)ps->numel);
  free(before);
  rig_free(&r);
}

typedef struct {
  int calls;
  ds_graph *g;
} objective_probe;

/* Zero weights: the objective ignores every sample, so plain SGD must not move. */
static ds_status zero_objective(void *ctx, const float *losses, const float *groups, int64_t b,
                                float *weights) {
  objective_probe *p = ctx;
  p->calls++;
  const float *graph_losses = ds_graph_value(p->g, ds_graph_loss(p->g));
  for (int64_t i = 0; i < b; i++) {
    if (losses[i] != graph_losses[i] || !(losses[i] > 0))
      return ds_set_error(DS_EINVAL, "bad losses");
    if (groups[i] != ds_graph_value(p->g, ds_graph_find(p->g, "y"))[i])
      return ds_set_error(DS_EINVAL, "bad groups");
    weights[i] = 0.0f;
  }
  return DS_OK;
}

static void test_objective_weights(void **state) {
  (void)state;
  objective_probe probe = {0, NULL};
  ds_trainer_options to = ds_trainer_options_default();
  to.objective = ds_objective_new_custom(zero_objective, &probe);
  rig r;
  rig_make(&r, 16, "sgd", 0.1, &to);
  probe.g = r.g;
  ds_paramset *ps = ds_graph_params(r.g);
  float *before = malloc(sizeof(float) * (size_t)ps->numel);
  memcpy(before, ps->data, sizeof(float) * (size_t)ps->numel);
  ds_step_result sr;
  for (int i = 0; i < 3; i++)
    assert_int_equal(ds_trainer_step(r.t, &sr), 1);
  assert_int_equal(probe.calls, 3);
  assert_memory_equal(before, ps->data, sizeof(float) * (size_t)ps->numel);
  free(before);
  rig_free(&r);
  ds_objective_free(to.objective);
}

/* TERM weights: softmax of t * loss, in closed form; stable for huge t * loss; t = 0 the mean. */
static ds_status tilted(double t, const float *losses, int64_t b, float *w) {
  ds_objective *o = ds_objective_new("tilted");
  ds_status st = ds_objective_set(o, "tilt", t);
  if (!st) st = ds_objective_weights(o, losses, NULL, b, 0, 0, true, w, NULL);
  ds_objective_free(o);
  return st;
}

static void test_tilted_weights(void **state) {
  (void)state;
  const float losses[4] = {0.1f, 2.0f, 0.5f, 1.0f};
  float w[4];
  double t = 1.5;
  assert_int_equal(tilted(t, losses, 4, w), DS_OK);
  double z = 0, sum = 0;
  for (int i = 0; i < 4; i++)
    z += exp(t * losses[i]);
  for (int i = 0; i < 4; i++) {
    double want = exp(t * losses[i]) / z;
    assert_true(fabs(w[i] - want) <= 1e-7 + 1e-6 * want); /* float rounding of a double result */
    sum += w[i];
  }
  assert_true(fabs(sum - 1) < 1e-6);
  assert_true(w[1] > w[3] && w[3] > w[2] && w[2] > w[0]); /* t > 0: high losses weigh more */
  tilted(-1.5, losses, 4, w);
  assert_true(w[0] > w[2] && w[2] > w[3] && w[3] > w[1]); /* t < 0: high losses weigh less */
  tilted(0, losses, 4, w);
  for (int i = 0; i < 4; i++)
    assert_true(w[i] == 0.25f);
  tilted(1000, losses, 4, w); /* exp(2000) overflows without the max shift */
  assert_true(fabs(w[1] - 1) < 1e-6 && w[0] == 0);
  assert_int_equal(tilted(NAN, losses, 4, w), DS_EINVAL);
}

/* onecycle cycles the momentum: SGD's "momentum", AdamW's betas[0] follow ds_sched_momentum. */
static double hyper0(ds_optim *o, const char *name) {
  for (int i = 0; i < ds_optim_hyper_count(o); i++) {
    const char *key;
    double v[2];
    int n;
    bool is_bool;
    if (!ds_optim_hyper(o, i, &key, v, &n, &is_bool) && !strcmp(key, name)) return v[0];
  }
  return NAN;
}

static void test_cycled_momentum(void **state) {
  (void)state;
  const char *optims[] = {"sgd", "adamw"}, *keys[] = {"momentum", "betas"};
  for (int k = 0; k < 2; k++) {
    rig r;
    rig_make(&r, 8, optims[k], 1e-2, NULL);
    ds_sched_free(r.sched);
    r.sched = ds_sched_new("onecycle", NAN);
    assert_int_equal(ds_sched_set(r.sched, "max_lr", (double[]){0.05}, 1), DS_OK);
    assert_int_equal(ds_sched_set(r.sched, "total_steps", (double[]){20}, 1), DS_OK);
    assert_int_equal(ds_sched_validate(r.sched), DS_OK);
    ds_trainer_free(r.t);
    ds_trainer_parts p = {r.g, r.x, r.y, r.logits, r.opt, r.sched, r.loader};
    r.t = ds_trainer_new(&p, NULL);
    ds_step_result sr;
    double first = NAN, last = NAN;
    for (int i = 0; i < 12; i++) {
      assert_int_equal(ds_trainer_step(r.t, &sr) >= 0, 1);
      if (sr.batch == 0) continue;
      double want;
      assert_true(ds_sched_momentum(r.sched, ds_trainer_step_count(r.t) - 1, &want));
      assert_true(fabs(hyper0(r.opt, keys[k]) - want) < 1e-12); /* set exactly, no arithmetic */
      if (i == 0) first = want;
      last = want;
    }
    assert_true(first > last); /* 0.95 falling towards 0.85 in the first phase */
    rig_free(&r);
  }
}

static void test_wrong_model(void **state) {
  (void)state;
  rig a, b;
  rig_make(&a, 16, "adamw", 1e-2, NULL);
  epoch(&a);
  assert_int_equal(ds_trainer_save(a.t, ckpt_path(), NULL, 0), DS_OK);
  rig_make(&b, 24, "adamw", 1e-2, NULL);
  assert_int_equal(ds_trainer_load(b.t, ckpt_path(), true), DS_ESHAPE);
  assert_non_null(strstr(ds_last_error(), "fc1.weight"));
  rig_free(&b);
  rig_make(&b, 16, "sgd", 1e-2, NULL);
  assert_int_equal(ds_trainer_load(b.t, ckpt_path(), true), DS_EINVAL); /* another optimizer */
  assert_non_null(strstr(ds_last_error(), "adamw"));
  assert_int_equal(ds_trainer_load(b.t, ckpt_path(), false), DS_OK); /* weights only: fine */
  assert_memory_equal(ds_graph_params(a.g)->data, ds_graph_params(b.g)->data,
                      sizeof(float) * (size_t)ds_graph_params(a.g)->numel);
  rig_free(&a);
  rig_free(&b);
  remove(ckpt_path());
}

/* ds_trainer_new names the part that breaks its contract. */
static void test_contracts(void **state) {
  (void)state;
  rig r;
  rig_make(&r, 16, "sgd", 0.1, NULL);
  ds_loader_options lo = ds_loader_options_default();
  lo.batch = 64; /* the graph takes at most 32 */
  ds_loader *big = ds_loader_new(r.train, &lo);
  ds_trainer_parts p = {r.g, r.x, r.y, r.logits, r.opt, r.sched, big};
  assert_null(ds_trainer_new(&p, NULL));
  assert_non_null(strstr(ds_last_error(), "batch of 64 exceeds the graph's max batch of 32"));
  ds_loader_free(big);
  ds_paramset *other = ds_paramset_new();
  ds_paramset_add(other, "w", ds_shape1(3), DS_ROLE_WEIGHT);
  ds_optim *o2 = ds_optim_new("sgd", other);
  p = (ds_trainer_parts){r.g, r.x, r.y, r.logits, o2, r.sched, r.loader};
  assert_null(ds_trainer_new(&p, NULL));
  assert_non_null(strstr(ds_last_error(), "not over this graph's parameters"));
  ds_optim_free(o2);
  ds_paramset_free(other);
  ds_sched *raw = ds_sched_new("cosine", 0.1); /* not validated */
  p = (ds_trainer_parts){r.g, r.x, r.y, r.logits, r.opt, raw, r.loader};
  assert_null(ds_trainer_new(&p, NULL));
  assert_int_equal(ds_last_status(), DS_ESTATE);
  assert_non_null(strstr(ds_last_error(), "not validated"));
  ds_sched_free(raw);
  /* lookups that find nothing: DS_ENOTFOUND naming the key */
  assert_int_equal(ds_graph_find(r.g, "fc1_typo"), DS_ENOTFOUND);
  assert_non_null(strstr(ds_last_error(), "fc1_typo"));
  assert_int_equal(ds_paramset_find(ds_graph_params(r.g), "fc9.weight"), DS_ENOTFOUND);
  assert_non_null(strstr(ds_last_error(), "fc9.weight"));
  rig_free(&r);
}

/* A failed load leaves model, optimizer and counters bitwise untouched and keeps its cause. */
static void test_load_two_phase(void **state) {
  (void)state;
  rig a, b;
  rig_make(&a, 16, "adamw", 1e-2, NULL);
  epoch(&a);
  assert_int_equal(ds_trainer_save(a.t, ckpt_path(), NULL, 0), DS_OK);
  rig_make(&b, 16, "adamw", 1e-2, NULL);
  epoch(&b);
  epoch(&b); /* b differs from the checkpoint */
  ds_paramset *ps = ds_graph_params(b.g);
  float *before = malloc(sizeof(float) * (size_t)ps->numel), *state0 = NULL;
  memcpy(before, ps->data, sizeof(float) * (size_t)ps->numel);
  const char *name;
  int64_t n;
  float *st;
  ds_optim_state(b.opt, 0, &name, &st, &n);
  state0 = malloc(sizeof(float) * (size_t)n);
  memcpy(state0, st, sizeof(float) * (size_t)n);
  /* truncate a copy: the tensors at the end are cut off */
  size_t len;
  char *bytes = ds_read_file(ckpt_path(), &len);
  char cut[300];
  snprintf(cut, sizeof cut, "%s.cut", ckpt_path());
  assert_int_equal(ds_write_file_atomic(cut, bytes, len - 64), DS_OK);
  assert_int_equal(ds_trainer_load(b.t, cut, true), DS_EFORMAT);
  /* a non-finite value in the last tensor written: rejected naming the tensor */
  float nan = NAN;
  memcpy(bytes + len - sizeof nan, &nan, sizeof nan);
  assert_int_equal(ds_write_file_atomic(cut, bytes, len), DS_OK);
  assert_int_equal(ds_trainer_load(b.t, cut, true), DS_ENUMERIC);
  assert_non_null(strstr(ds_last_error(), "non-finite"));
  /* a missing file is an I/O error, not a format error */
  assert_int_equal(ds_trainer_load(b.t, "/nonexistent/ckpt.safetensors", true), DS_EIO);
  assert_memory_equal(before, ps->data, sizeof(float) * (size_t)ps->numel);
  assert_memory_equal(state0, st, sizeof(float) * (size_t)n);
  assert_int_equal(ds_trainer_step_count(b.t), 20);
  assert_int_equal(ds_trainer_epoch(b.t), 2);
  ds_free(bytes);
  free(before);
  free(state0);
  remove(cut);
  remove(ckpt_path());
  rig_free(&a);
  rig_free(&b);
}

static int stop_at_step(void *ctx, const ds_step_result *r, int64_t step, int64_t epoch) {
  (void)r, (void)epoch;
  return step == *(int64_t *)ctx;
}

/* A fit stopped mid-epoch (a signal's path) and resumed writes the same metrics records, apart
 * from timings, and ends bitwise where an uninterrupted fit ends. */
static void test_fit_stop_resume(void **state) {
  (void)state;
  char m1[300], m2[300], ck[300];
  snprintf(m1, sizeof m1, "%s.m1.jsonl", ckpt_path());
  snprintf(m2, sizeof m2, "%s.m2.jsonl", ckpt_path());
  snprintf(ck, sizeof ck, "%s.fit", ckpt_path());
  remove(m1);
  remove(m2);
  rig a, b;
  rig_make(&a, 16, "adamw", 1e-2, NULL);
  ds_fit_options o = ds_fit_options_default();
  o.epochs = 3;
  o.test = a.test;
  o.metrics = m1;
  o.log_every = 4;
  ds_fit_result ra, rb;
  assert_int_equal(ds_trainer_fit(a.t, &o, &ra), DS_OK);
  assert_true(ra.complete);
  assert_int_equal(ra.epochs_run, 3);
  rig_make(&b, 16, "adamw", 1e-2, NULL);
  int64_t stop = 13; /* mid-epoch 2, mid-window */
  o.test = b.test;
  o.metrics = m2;
  o.checkpoint = ck;
  o.hooks = (ds_fit_hooks){&stop, stop_at_step, NULL};
  assert_int_equal(ds_trainer_fit(b.t, &o, &rb), DS_EINTERRUPTED);
  assert_true(rb.interrupted);
  ds_fit_result_free(&rb);
  rig_free(&b);
  rig_make(&b, 16, "adamw", 1e-2, NULL);
  assert_int_equal(ds_trainer_load(b.t, ck, true), DS_OK);
  assert_int_equal(ds_trainer_step_count(b.t), 13);
  o.test = b.test; /* the rebuilt rig's */
  o.hooks = (ds_fit_hooks){0};
  assert_int_equal(ds_trainer_fit(b.t, &o, &rb), DS_OK);
  assert_memory_equal(ds_graph_params(a.g)->data, ds_graph_params(b.g)->data,
                      sizeof(float) * (size_t)ds_graph_params(a.g)->numel);
  assert_true(ra.last.train.train_loss == rb.last.train.train_loss);
  assert_true(ra.last.test.loss == rb.last.test.loss);
  /* the metrics files agree record by record, timing fields aside */
  char *t1 = ds_read_file(m1, NULL), *t2 = ds_read_file(m2, NULL);
  assert_non_null(t1);
  assert_non_null(t2);
  for (char *p = t1; (p = strstr(p, "\"samples_per_s\":")); p++)
    *p = 'X';
  for (char *p = t2; (p = strstr(p, "\"samples_per_s\":")); p++)
    *p = 'X';
  char *l1, *l2, *s1 = NULL, *s2 = NULL;
  int lines = 0;
  for (l1 = strtok_r(t1, "\n", &s1), l2 = strtok_r(t2, "\n", &s2); l1 && l2;
       l1 = strtok_r(NULL, "\n", &s1), l2 = strtok_r(NULL, "\n", &s2), lines++) {
    char *c1 = strstr(l1, "X"), *c2 = strstr(l2, "X"); /* cut the timing fields */
    char *e1 = strstr(l1, "\"seconds\""), *e2 = strstr(l2, "\"seconds\"");
    if (c1) *c1 = '\0';
    if (c2) *c2 = '\0';
    if (e1) *e1 = '\0';
    if (e2) *e2 = '\0';
    assert_string_equal(l1, l2);
  }
  assert_null(l1);
  assert_null(l2);
  assert_true(lines > 8); /* 7 step records and 3 epoch records */
  ds_free(t1);
  ds_free(t2);
  ds_fit_result_free(&ra);
  ds_fit_result_free(&rb);
  remove(m1);
  remove(m2);
  remove(ck);
  rig_free(&a);
  rig_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_resume_bitwise), cmocka_unit_test(test_evaluate_is_inert),
      cmocka_unit_test(test_nan_loss),       cmocka_unit_test(test_objective_weights),
      cmocka_unit_test(test_tilted_weights), cmocka_unit_test(test_cycled_momentum),
      cmocka_unit_test(test_wrong_model),    cmocka_unit_test(test_contracts),
      cmocka_unit_test(test_load_two_phase), cmocka_unit_test(test_fit_stop_resume),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
