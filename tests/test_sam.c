/* SAM / ASAM / m-sharpness in the trainer (train.h ds_sam_options) and trainer-level objectives:
 * batch norm's running statistics updated once per step, the same dropout masks in both passes,
 * no allocation in a step, m = batch is plain SAM, a tilt of 0 is bitwise ERM, a run with SAM
 * and stochastic TERM resumes bitwise from a checkpoint, and SAM / ASAM / m-sharpness with gradient
 * accumulation equal the large batch. (PyTorch comparisons of whole steps:
 * tests/test_replay_train.sh.) */
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

typedef struct {
  ds_dataset *train, *test;
  ds_graph *g;
  ds_optim *opt;
  ds_sched *sched;
  ds_loader *loader;
  ds_trainer *t;
} setup;

/* When set, called on the training set before the trainer is made (to give it groups). */
static void (*with_groups)(ds_dataset *train);

/* blobs (256 samples, 8 batches of 32), MLP 2-16-16-3 with optional batch norm and dropout, SGD
 * with momentum (lr 0.05 / 3 for 5 steps, then 0.05: PyTorch's ConstantLR); loader and graph at
 * `batch` samples. */
static void setup_batch(setup *s, bool bn, float dropout, const ds_trainer_options *to,
                        int64_t batch) {
  memset(s, 0, sizeof *s);
  ds_data_options d = ds_data_options_default();
  d.n_train = 256;
  d.n_test = 64;
  d.seed = 5;
  assert_int_equal(ds_dataset_load("blobs", &d, &s->train, &s->test), DS_OK);
  s->g = ds_graph_new(batch);
  ds_node x = ds_input(s->g, "x", s->train->sample_shape),
          y = ds_input(s->g, "y", ds_shape_scalar());
  ds_mlp_options mo = ds_mlp_options_default();
  mo.width = 16;
  mo.dropout = dropout;
  mo.norm = bn ? DS_NORM_BATCH : DS_NORM_NONE;
  ds_node logits = ds_nn_mlp(s->g, x, s->train->n_classes, &mo);
  assert_int_equal(ds_graph_compile(s->g, ds_cross_entropy(s->g, logits, y, 0.0f)), DS_OK);
  assert_int_equal(ds_graph_init_params(s->g, 11), DS_OK);
  ds_graph_seed(s->g, 11);
  s->opt = ds_optim_new("sgd", ds_graph_params(s->g));
  assert_int_equal(ds_optim_set(s->opt, "momentum", (double[]){0.9}, 1), DS_OK);
  s->sched = ds_sched_new("constant", 0.05);
  assert_int_equal(ds_sched_validate(s->sched), DS_OK);
  ds_loader_options lo = ds_loader_options_default();
  lo.batch = batch;
  lo.seed = 11;
  s->loader = ds_loader_new(s->train, &lo);
  if (with_groups) with_groups(s->train);
  ds_trainer_parts p = {s->g, x, y, logits, s->opt, s->sched, s->loader};
  s->t = ds_trainer_new(&p, to);
  assert_non_null(s->t);
}

static void setup_new(setup *s, bool bn, float dropout, const ds_trainer_options *to) {
  setup_batch(s, bn, dropout, to, 32);
}

static void setup_free(setup *s) {
  ds_trainer_free(s->t);
  ds_loader_free(s->loader);
  ds_sched_free(s->sched);
  ds_optim_free(s->opt);
  ds_graph_free(s->g);
  ds_dataset_free(s->train);
  ds_dataset_free(s->test);
}

static void steps(setup *s, int n) {
  ds_step_result r;
  for (int i = 0; i < n; i++) {
    int k = ds_trainer_step(s->t, &r);
    if (k == 0) k = ds_trainer_step(s->t, &r); /* epoch boundary */
    if (k != 1) fail_msg("step: %s", ds_last_error());
    assert_true(isfinite(r.loss) && isfinite(r.objective));
  }
}

static ds_trainer_options sam_options(double rho, bool adaptive, int64_t m) {
  ds_trainer_options o = ds_trainer_options_default();
  o.sam.rho = rho;
  o.sam.adaptive = adaptive;
  o.sam.m = m;
  return o;
}

static bool same(const ds_paramset *a, const ds_paramset *b) {
  return a->numel == b->numel && !memcmp(a->data, b->data, sizeof(float) * (size_t)a->numel);
}

/* The first pass of a SAM step is a plain step's pass: the running statistics after one SAM step
 * equal those after one plain step bitwise (the second pass left them alone); ASAM and
 * m-sharpness too (m = 8: four chunks, four updates, as four plain passes over the chunks). */
static void test_bn_updated_once(void **state) {
  (void)state;
  setup plain, sam, asam;
  ds_trainer_options o = sam_options(0.05, false, 0), oa = sam_options(0.5, true, 0);
  setup_new(&plain, true, 0, NULL);
  setup_new(&sam, true, 0, &o);
  setup_new(&asam, true, 0, &oa);
  steps(&plain, 1);
  steps(&sam, 1);
  steps(&asam, 1);
  assert_true(same(ds_graph_buffers(plain.g), ds_graph_buffers(sam.g)));
  assert_true(same(ds_graph_buffers(plain.g), ds_graph_buffers(asam.g)));
  assert_false(
      same(ds_graph_params(plain.g), ds_graph_params(sam.g))); /* SAM did move differently */
  assert_false(same(ds_graph_params(sam.g), ds_graph_params(asam.g)));
  assert_true(ds_graph_update_buffers(sam.g)); /* switched back on */
  setup_free(&plain);
  setup_free(&sam);
  setup_free(&asam);
}

/* Dropout: the second pass draws the same masks as the first, so a vanishing rho gives the plain
 * step (fresh masks would give a different gradient), and the dropout generator ends where a plain
 * step leaves it. */
static void test_same_dropout_mask(void **state) {
  (void)state;
  setup plain, sam;
  ds_trainer_options o = sam_options(1e-7, false, 0);
  setup_new(&plain, false, 0.3f, NULL);
  setup_new(&sam, false, 0.3f, &o);
  steps(&plain, 3);
  steps(&sam, 3);
  assert_memory_equal(ds_graph_rng(plain.g), ds_graph_rng(sam.g), sizeof(ds_rng));
  ds_paramset *a = ds_graph_params(plain.g), *b = ds_graph_params(sam.g);
  double worst = 0;
  for (int64_t i = 0; i < a->numel; i++)
    worst = fmax(worst, fabs(a->data[i] - b->data[i]));
  assert_true(worst < 1e-5);
  setup_free(&plain);
  setup_free(&sam);
}

/* m equal to the batch is plain SAM, bitwise. */
static void test_m_equal_batch(void **state) {
  (void)state;
  setup a, b, c;
  ds_trainer_options oa = sam_options(0.05, false, 0), ob = sam_options(0.05, false, 32),
                     oc = sam_options(0.05, false, 8);
  setup_new(&a, true, 0.1f, &oa);
  setup_new(&b, true, 0.1f, &ob);
  setup_new(&c, true, 0.1f, &oc);
  steps(&a, 4);
  steps(&b, 4);
  steps(&c, 4);
  assert_true(same(ds_graph_params(a.g), ds_graph_params(b.g)));
  assert_false(same(ds_graph_params(a.g), ds_graph_params(c.g))); /* four chunks, four ascents */
  setup_free(&a);
  setup_free(&b);
  setup_free(&c);
}

/* After the first step (the optimizer's lazy state), SAM steps allocate nothing: m-sharpness,
 * ASAM, batch norm, dropout and stochastic TERM included. */
static void test_no_allocation(void **state) {
  (void)state;
  ds_objective *obj = ds_objective_new("tilted");
  ds_objective_set(obj, "tilt", -1);
  ds_objective_set(obj, "tilt_average", 0.1);
  ds_trainer_options o = sam_options(0.3, true, 8);
  o.objective = obj;
  o.clip_norm = 1;
  setup s;
  setup_new(&s, true, 0.1f, &o);
  steps(&s, 1);
  uint64_t before = ds_alloc_count();
  steps(&s, 12); /* across an epoch boundary */
  assert_int_equal(ds_alloc_count(), before);
  setup_free(&s);
  ds_objective_free(obj);
}

/* A tilt of 0 (tilted or hierarchical) trains bitwise like the mean. */
static void test_zero_tilt_bitwise_erm(void **state) {
  (void)state;
  const char *names[] = {"tilted", "hierarchical"};
  setup erm;
  setup_new(&erm, false, 0.1f, NULL);
  steps(&erm, 16);
  for (int k = 0; k < 2; k++) {
    ds_objective *obj = ds_objective_new(names[k]);
    ds_objective_set(obj, "tilt", 0);
    ds_trainer_options o = ds_trainer_options_default();
    o.objective = obj;
    setup s;
    setup_new(&s, false, 0.1f, &o);
    steps(&s, 16);
    assert_true(same(ds_graph_params(erm.g), ds_graph_params(s.g)));
    setup_free(&s);
    ds_objective_free(obj);
  }
  setup_free(&erm);
}

static void groups_are_labels(ds_dataset *d) {
  assert_int_equal(ds_dataset_set_groups(d, d->labels), DS_OK);
}

static void one_group(ds_dataset *d) {
  int32_t *g = calloc((size_t)d->n, sizeof *g);
  assert_int_equal(ds_dataset_set_groups(d, g), DS_OK);
  free(g);
}

/* Hierarchical TERM takes the dataset's groups when it has them (a CSV group column): groups equal
 * to the classes train bitwise as the class grouping; one group for all is batch-level TERM with
 * the inner tilt, bitwise; and other groups change the run. With SAM m-sharpness too (the groups
 * move with the chunks). */
static void test_dataset_groups(void **state) {
  (void)state;
  for (int sam = 0; sam < 2; sam++) {
    ds_objective *h = ds_objective_new("hierarchical"), *tl = ds_objective_new("tilted");
    ds_objective_set(h, "tilt", 0.5);
    ds_objective_set(h, "group_tilt", 2);
    ds_objective_set(tl, "tilt", 0.5);
    ds_trainer_options o = sam_options(sam ? 0.05 : 0, false, sam ? 8 : 0);
    o.objective = h;
    setup byclass, bylabels, single, tilted;
    setup_new(&byclass, false, 0, &o);
    with_groups = groups_are_labels;
    setup_new(&bylabels, false, 0, &o);
    with_groups = one_group;
    setup_new(&single, false, 0, &o);
    with_groups = NULL;
    o.objective = tl;
    setup_new(&tilted, false, 0, &o);
    steps(&byclass, 10);
    steps(&bylabels, 10);
    steps(&single, 10);
    steps(&tilted, 10);
    assert_true(same(ds_graph_params(byclass.g), ds_graph_params(bylabels.g)));
    assert_true(same(ds_graph_params(single.g), ds_graph_params(tilted.g)));
    assert_false(same(ds_graph_params(byclass.g), ds_graph_params(single.g)));
    setup_free(&byclass);
    setup_free(&bylabels);
    setup_free(&single);
    setup_free(&tilted);
    ds_objective_free(h);
    ds_objective_free(tl);
  }
}

static const char *ckpt(void) {
  static char path[256];
  snprintf(path, sizeof path, "/tmp/descent_test_sam_%ld.safetensors", (long)getpid());
  return path;
}

/* SAM + stochastic TERM (its normaliser is state) + batch norm + dropout: 12 steps in one go equal
 * 6 steps, a checkpoint, a fresh trainer restored from it and 6 more steps. */
static void test_resume_bitwise(void **state) {
  (void)state;
  ds_objective *oa = ds_objective_new("tilted"), *ob = ds_objective_new("tilted");
  for (int k = 0; k < 2; k++) {
    ds_objective *o = k ? ob : oa;
    ds_objective_set(o, "tilt", 0.7);
    ds_objective_set(o, "tilt_end", -0.5);
    ds_objective_set(o, "tilt_average", 0.2);
  }
  ds_trainer_options to = sam_options(0.05, false, 16);
  to.total_steps = 12;
  to.objective = oa;
  setup a, b;
  setup_new(&a, true, 0.1f, &to);
  steps(&a, 12);
  to.objective = ob;
  setup_new(&b, true, 0.1f, &to);
  steps(&b, 6);
  assert_int_equal(ds_trainer_save(b.t, ckpt(), NULL, 0), DS_OK);
  setup_free(&b);
  ds_objective_reset(ob);
  ds_safetensors *st = ds_safetensors_read(ckpt());
  assert_non_null(ds_safetensors_meta(st, "objective.log_normaliser"));
  assert_string_equal(ds_safetensors_meta(st, "objective.batches"), "12"); /* 2 chunks a step */
  ds_safetensors_free(st);
  setup_new(&b, true, 0.1f, &to);
  assert_int_equal(ds_trainer_load(b.t, ckpt(), true), DS_OK);
  steps(&b, 6);
  assert_true(same(ds_graph_params(a.g), ds_graph_params(b.g)));
  assert_true(same(ds_graph_buffers(a.g), ds_graph_buffers(b.g)));
  double *va, *vb;
  ds_objective_state(oa, 0, NULL, &va);
  ds_objective_state(ob, 0, NULL, &vb);
  assert_true(*va == *vb);
  setup_free(&a);
  setup_free(&b);
  unlink(ckpt());
  ds_objective_free(oa);
  ds_objective_free(ob);
}

/* Largest |a - b| - (atol + rtol |b|) over the parameters: <= 0 when a is within tolerance. */
static double excess(const ds_paramset *a, const ds_paramset *b, double atol, double rtol) {
  double worst = -INFINITY;
  for (int64_t i = 0; i < a->numel; i++)
    worst = fmax(worst, fabs((double)a->data[i] - b->data[i]) - (atol + rtol * fabs(b->data[i])));
  return worst;
}

/* SAM with gradient accumulation is SAM at the large batch: 4 micro-batches of 8 per step train
 * the parameters of one batch of 32 (no batch norm: it would see the micro-batches), for SAM, ASAM
 * and m-sharpness (m = 8: each micro-batch one chunk, as the batch of 32 cut in four), 16 steps
 * over two epochs. Tolerance: float sums in another order (micro-batch partial sums), a few ulps a
 * step; 16 steps of SGD at lr 0.05 stay within 1e-6 + 1e-5 |p|. Steps allocate nothing. (sam.m
 * that does not divide the micro-batch: test_bad_options.) */
static void test_accumulation_equals_large_batch(void **state) {
  (void)state;
  const ds_sam_options cases[] = {
      {0.05, false, 0.01, 0}, {0.5, true, 0.01, 0}, {0.05, false, 0.01, 8}};
  for (int k = 0; k < 3; k++) {
    ds_trainer_options big = ds_trainer_options_default(), acc = big;
    big.sam = acc.sam = cases[k];
    acc.accumulate = 4;
    setup a, b;
    setup_batch(&a, false, 0, &big, 32);
    setup_batch(&b, false, 0, &acc, 8);
    steps(&a, 16);
    steps(&b, 2);
    uint64_t before = ds_alloc_count();
    steps(&b, 14); /* across the epoch boundary */
    assert_int_equal(ds_alloc_count(), before);
    assert_int_equal(ds_trainer_step_count(b.t), 16);
    double e = excess(ds_graph_params(b.g), ds_graph_params(a.g), 1e-6, 1e-5);
    if (e > 0) fail_msg("case %d: accumulated SAM differs from the large batch by %g", k, e);
    setup_free(&a);
    setup_free(&b);
  }
}

static void test_bad_options(void **state) {
  (void)state;
  ds_trainer_options o = sam_options(-0.1, false, 0);
  ds_dataset *tr, *te;
  ds_data_options d = ds_data_options_default();
  d.n_train = 64;
  assert_int_equal(ds_dataset_load("blobs", &d, &tr, &te), DS_OK);
  ds_graph *g = ds_graph_new(8);
  ds_node x = ds_input(g, "x", tr->sample_shape), y = ds_input(g, "y", ds_shape_scalar());
  ds_node z = ds_nn_linear(g, "fc", x, 3, true);
  assert_int_equal(ds_graph_compile(g, ds_cross_entropy(g, z, y, 0)), DS_OK);
  ds_optim *opt = ds_optim_new("sgd", ds_graph_params(g));
  ds_sched *sc = ds_sched_new("constant", 0.1);
  assert_int_equal(ds_sched_validate(sc), DS_OK);
  ds_loader_options lo = ds_loader_options_default();
  lo.batch = 8;
  ds_loader *l = ds_loader_new(tr, &lo);
  ds_trainer_parts ok = {g, x, y, z, opt, sc, l};
  ds_trainer *good = ds_trainer_new(&ok, NULL);
  assert_non_null(good); /* the parts are fine: only the SAM options below are not */
  ds_trainer_free(good);
  ds_trainer_parts p = {g, x, y, z, opt, sc, l};
  assert_null(ds_trainer_new(&p, &o));
  assert_non_null(strstr(ds_last_error(), "sam.rho"));
  o = sam_options(0.1, false, -3);
  assert_null(ds_trainer_new(&p, &o));
  assert_non_null(strstr(ds_last_error(), "sam.m"));
  ds_objective *an = ds_objective_new("tilted");
  ds_objective_set(an, "tilt_end", 1);
  o = ds_trainer_options_default();
  o.objective = an; /* annealing without the run's length */
  assert_null(ds_trainer_new(&p, &o));
  assert_non_null(strstr(ds_last_error(), "total_steps"));
  ds_objective_free(an);
  /* with accumulation (or processes) sam.m must divide the micro-batch of 8 */
  o = sam_options(0.05, false, 3);
  o.accumulate = 2;
  assert_null(ds_trainer_new(&p, &o));
  assert_non_null(
      strstr(ds_last_error(), "sam.m 3 does not divide this process's micro-batch of 8"));
  o.sam.m = 4;
  good = ds_trainer_new(&p, &o);
  assert_non_null(good);
  ds_trainer_free(good);
  ds_loader_free(l);
  ds_sched_free(sc);
  ds_optim_free(opt);
  ds_graph_free(g);
  ds_dataset_free(tr);
  ds_dataset_free(te);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bn_updated_once),
      cmocka_unit_test(test_same_dropout_mask),
      cmocka_unit_test(test_m_equal_batch),
      cmocka_unit_test(test_no_allocation),
      cmocka_unit_test(test_zero_tilt_bitwise_erm),
      cmocka_unit_test(test_resume_bitwise),
      cmocka_unit_test(test_bad_options),
      cmocka_unit_test(test_accumulation_equals_large_batch),
      cmocka_unit_test(test_dataset_groups),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
