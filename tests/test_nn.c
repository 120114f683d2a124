/* Model builders: mlp/cnn/resnet/nf_resnet by name, parameter names and roles, finite-difference
 * checks of whole small models for every normalization, NF-ResNet beta bookkeeping and signal
 * propagation at init, option errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "descent/analysis.h"
#include "ops/op_list.h"
#include "testutil.h"

static ds_graph *build(ds_model_options *o, int64_t B, int64_t C, int64_t H, ds_node *x) {
  ds_graph *g = ds_graph_new(B);
  *x = ds_input(g, "x", ds_shape3(C, H, H));
  ds_node y = ds_input(g, "y", ds_shape_scalar());
  ds_node logits;
  ds_status st = ds_model_build(g, o, *x, 3, &logits);
  if (st) fprintf(stderr, "%s\n", ds_last_error());
  assert_int_equal(st, DS_OK);
  assert_int_equal(ds_graph_compile(g, ds_cross_entropy(g, logits, y, 0)), DS_OK);
  assert_int_equal(ds_graph_init_params(g, 1), DS_OK);
  tu_fill_uniform(ds_graph_value(g, *x), B * C * H * H, -1, 1, 2);
  float *yv = ds_graph_value(g, y);
  for (int64_t i = 0; i < B; i++)
    yv[i] = (float)(i % 3);
  return g;
}

static int64_t gradcheck_model(const char *name, ds_norm_kind norm, int depth) {
  ds_model_options o = ds_model_options_default(name);
  o.norm = norm;
  o.groups = 2;
  o.width = 4;
  o.depth = depth;
  o.act = DS_ACT_TANH; /* smooth: no kinks under the finite differences */
  ds_node x;
  /* batch norm over an mlp's features sees B values per unit: B = 8 keeps the variance away from 0
   */
  ds_graph *g = build(&o, !strcmp(name, "mlp") ? 8 : 3, 2, 6, &x);
  /* float32 forward through ~10 layers: eps 2e-3 balances rounding (~1e-7 / eps relative) and
   * truncation (~eps^2 * third derivative), which is large where a norm sees few values (instance
   * norm over 2x2 planes, layer norm over 4 units); a few elements per tensor */
  int64_t bad = tu_gradcheck(g, 2e-3, 1e-3, 3e-2, 5);
  if (bad)
    fprintf(stderr, "model %s norm %s: %lld mismatches\n", name, ds_norm_name(norm),
            (long long)bad);
  ds_graph_free(g);
  return bad;
}

static void test_gradcheck_models(void **s) {
  (void)s;
  for (int k = DS_NORM_NONE; k <= DS_NORM_INSTANCE; k++) {
    assert_int_equal(gradcheck_model("resnet", (ds_norm_kind)k, 1), 0);
  }
  assert_int_equal(gradcheck_model("cnn", DS_NORM_BATCH, 0), 0);
  assert_int_equal(gradcheck_model("cnn", DS_NORM_NONE, 0), 0);
  assert_int_equal(gradcheck_model("nf_resnet", DS_NORM_NONE, 1), 0);
  assert_int_equal(gradcheck_model("mlp", DS_NORM_LAYER, 2), 0);
  assert_int_equal(gradcheck_model("mlp", DS_NORM_BATCH, 2), 0);
}

static void test_names_and_roles(void **s) {
  (void)s;
  ds_model_options o = ds_model_options_default("resnet");
  ds_node x;
  ds_graph *g = build(&o, 2, 1, 8, &x);
  ds_paramset *ps = ds_graph_params(g);
  const char *names[] = {"conv1.weight",
                         "norm1.weight",
                         "layer1.0.conv1.weight",
                         "layer1.0.norm2.bias",
                         "layer2.0.shortcut.conv.weight",
                         "layer3.0.shortcut.norm.weight",
                         "head.weight"};
  for (int i = 0; i < 7; i++) {
    if (ds_paramset_find(ps, names[i]) < 0) fprintf(stderr, "missing %s\n", names[i]);
    assert_true(ds_paramset_find(ps, names[i]) >= 0);
  }
  assert_true(ds_paramset_find(ps, "layer1.0.conv1.bias") < 0); /* no bias before a norm */
  const ds_param_info *gn = &ps->info[ds_paramset_find(ps, "norm1.weight")];
  assert_int_equal(gn->role, DS_ROLE_NORM_GAIN);
  assert_true(gn->no_decay);
  assert_true(ps->info[ds_paramset_find(ps, "head.weight")].is_head);
  assert_true(ds_paramset_find(ds_graph_buffers(g), "layer2.0.norm1.running_var") >= 0);
  ds_graph_free(g);
}

/* cnn defaults: conv32-conv64-fc128 on 28x28 (Fashion-MNIST). */
static void test_cnn_shapes(void **s) {
  (void)s;
  ds_graph *g = ds_graph_new(2);
  ds_node x = ds_input(g, "x", ds_shape3(1, 28, 28)), logits;
  ds_model_options o = ds_model_options_default("cnn");
  assert_int_equal(ds_model_build(g, &o, x, 10, &logits), DS_OK);
  ds_paramset *ps = ds_graph_params(g);
  const char *names[] = {"conv1.weight", "conv2.weight", "fc1.weight", "head.weight"};
  const ds_shape want[] = {ds_shape4(32, 1, 3, 3), ds_shape4(64, 32, 3, 3),
                           ds_shape2(128, 64 * 7 * 7), ds_shape2(10, 128)};
  for (int i = 0; i < 4; i++) {
    int k = ds_paramset_find(ps, names[i]);
    assert_true(k >= 0);
    assert_true(ds_shape_equal(&ps->info[k].shape, &want[i]));
  }
  ds_shape ls = ds_graph_shape(g, logits);
  assert_true(ls.rank == 2 && ls.dim[0] == 2 && ls.dim[1] == 10);
  ds_graph_free(g);
}

/* beta_i = 1 / sqrt(expected var), var += alpha^2 per block, reset to 1 at each transition. */
static void test_nf_beta_bookkeeping(void **s) {
  (void)s;
  ds_model_options o = ds_model_options_default("nf_resnet");
  o.depth = 3;
  o.alpha = 0.3f;
  ds_node x;
  ds_graph *g = build(&o, 2, 1, 8, &x);
  double want[9], var = 1;
  for (int st = 0, k = 0; st < 3; st++)
    for (int b = 0; b < 3; b++, k++) {
      want[k] = 1 / sqrt(var);
      if (b == 0 && st > 0) var = 1;
      var += 0.09;
    }
  /* scale nodes alternate: beta (after the activation), alpha (on the branch) */
  int nb = 0, na = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const ds_nodedata *n = &g->nodes[i];
    if (n->op != DS_OP_SCALE) continue;
    if (ds__in(g, n, 0)->op == DS_OP_RELU) {
      assert_true(nb < 9 && fabs(n->fattr[0] - want[nb]) < 1e-6);
      nb++;
    } else {
      assert_true(fabs(n->fattr[0] - 0.3f) < 1e-7);
      na++;
    }
  }
  assert_int_equal(nb, 9);
  assert_int_equal(na, 9);
  /* no normalization layer, no running statistics */
  assert_int_equal(ds_graph_buffers(g)->count, 0);
  for (int i = 0; i < g->n_nodes; i++)
    assert_true(g->nodes[i].op < DS_OP_BATCHNORM || g->nodes[i].op > DS_OP_INSTANCENORM);
  ds_graph_free(g);
}

/* At init the residual stream's variance follows the analytic expectation the betas assume. */
static void test_nf_signal_propagation(void **s) {
  (void)s;
  ds_model_options o = ds_model_options_default("nf_resnet");
  o.depth = 4;
  o.width = 16;
  o.alpha = 0.2f;
  ds_node x;
  ds_graph *g = build(&o, 16, 1, 12, &x);
  float *xv = ds_graph_value(g, x);
  ds_rng r;
  ds_rng_seed(&r, 3, 1);
  for (int64_t i = 0; i < 16 * 144; i++)
    xv[i] = (float)ds_rng_normal(&r);
  assert_int_equal(ds_graph_forward(g), DS_OK);
  double var_expected = 1;
  int k = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const ds_nodedata *n = &g->nodes[i];
    if (n->op != DS_OP_ADD) continue;
    if (k % 4 == 0 && k > 0) var_expected = 1;
    var_expected += 0.04;
    double s1 = 0, s2 = 0;
    int64_t m = ds__numel(n);
    for (int64_t j = 0; j < m; j++) {
      s1 += n->val[j];
      s2 += (double)n->val[j] * n->val[j];
    }
    double var = s2 / m - (s1 / m) * (s1 / m);
    printf("block %2d: var %.3f expected %.3f\n", k, var, var_expected);
    /* the stem is only roughly unit-variance (padding, WS on a random image): within a factor 2 */
    assert_true(var > 0.5 * var_expected && var < 2 * var_expected);
    k++;
  }
  assert_int_equal(k, 12);
  ds_graph_free(g);
}

static void test_batchnorm_model_modes(void **s) {
  (void)s;
  ds_model_options o = ds_model_options_default("resnet");
  o.width = 4;
  o.groups = 2;
  ds_node x;
  ds_graph *g = build(&o, 4, 1, 6, &x);
  assert_int_equal(ds_graph_forward(g), DS_OK);
  double train_loss = ds_graph_loss_mean(g);
  ds_graph_set_training(g, false);
  assert_int_equal(ds_graph_forward(g), DS_OK);
  assert_true(fabs(ds_graph_loss_mean(g) - train_loss) > 1e-6); /* running stats differ */
  /* batch of one: eval fine, training refused naming a batch norm node */
  assert_int_equal(ds_graph_set_batch(g, 1), DS_OK);
  assert_int_equal(ds_graph_forward(g), DS_OK);
  ds_graph_set_training(g, true);
  ds_graph_free(g);
  /* the same model with (B, C) features: a batch-norm mlp refuses B = 1 in training */
  ds_graph *m = ds_graph_new(4);
  ds_node xi = ds_input(m, "x", ds_shape1(5)), y = ds_input(m, "y", ds_shape_scalar()), logits;
  ds_model_options mo = ds_model_options_default("mlp");
  mo.norm = DS_NORM_BATCH;
  mo.width = 6;
  assert_int_equal(ds_model_build(m, &mo, xi, 3, &logits), DS_OK);
  assert_int_equal(ds_graph_compile(m, ds_cross_entropy(m, logits, y, 0)), DS_OK);
  ds_graph_init_params(m, 1);
  ds_graph_set_batch(m, 1);
  assert_int_equal(ds_graph_forward(m), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "norm1"));
  ds_graph_free(m);
}

static void test_option_errors(void **s) {
  (void)s;
  ds_graph *g = ds_graph_new(2);
  ds_node x = ds_input(g, "x", ds_shape3(1, 8, 8)), v = ds_input(g, "v", ds_shape1(8)), logits;
  ds_model_options o = ds_model_options_default("vgg");
  assert_int_equal(ds_model_build(g, &o, x, 10, &logits), DS_ENOTFOUND);
  assert_non_null(strstr(ds_last_error(), "'vgg'"));
  o = ds_model_options_default("resnet");
  o.norm = DS_NORM_GROUP;
  o.groups = 5;
  assert_int_equal(ds_model_build(g, &o, x, 10, &logits), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "5 groups"));
  o = ds_model_options_default("cnn");
  assert_int_equal(ds_model_build(g, &o, v, 10, &logits), DS_ESHAPE);
  assert_non_null(strstr(ds_last_error(), "'v'"));
  ds_norm_kind k;
  assert_int_equal(ds_norm_parse("group", &k), DS_OK);
  assert_int_equal(k, DS_NORM_GROUP);
  assert_int_equal(ds_norm_parse("batchnorm", &k), DS_ENOTFOUND);
  ds_graph_free(g);
}

/* Model settings beyond the limits fail before anything is built; large graphs name their nodes
 * in linear time (a linear scan per name made building quadratic). */
static void test_model_limits(void **state) {
  (void)state;
  const char *models[] = {"mlp", "cnn", "resnet", "nf_resnet"};
  for (int m = 0; m < 4; m++) {
    ds_graph *g = ds_graph_new(2);
    ds_node x = ds_input(g, "x", ds_shape3(1, 8, 8));
    ds_model_options o = ds_model_options_default(models[m]);
    ds_node logits;
    int before = ds_graph_node_count(g);
    o.depth = 1000000000;
    assert_int_equal(ds_model_build(g, &o, x, 10, &logits), DS_EINVAL);
    assert_non_null(strstr(ds_last_error(), "depth 1000000000"));
    o = ds_model_options_default(models[m]);
    o.width = INT64_C(1) << 40;
    assert_int_equal(ds_model_build(g, &o, x, 10, &logits), DS_EINVAL);
    assert_non_null(strstr(ds_last_error(), "width"));
    assert_int_equal(ds_graph_node_count(g), before); /* nothing was built */
    ds_graph_free(g);
  }
  ds_graph *g = ds_graph_new(2);
  ds_mlp_options mo = ds_mlp_options_default();
  mo.depth = DS_MODEL_MAX_DEPTH + 1;
  assert_true(ds_nn_mlp(g, ds_input(g, "x", ds_shape1(4)), 2, &mo) < 0);
  ds_graph_free(g);
}

static void test_many_names(void **state) {
  (void)state;
  enum { N = 100000 };
  clock_t t0 = clock();
  ds_graph *g = ds_graph_new(1);
  ds_node h = ds_input(g, "x", ds_shape1(1));
  char name[32];
  for (int i = 0; i < N; i++) {
    h = ds_identity(g, h);
    snprintf(name, sizeof name, "n%d", i);
    assert_int_equal(ds_graph_set_node_name(g, h, name), DS_OK);
  }
  for (int i = 0; i < N; i += 997) {
    snprintf(name, sizeof name, "n%d", i);
    assert_int_equal(ds_graph_find(g, name), i + 1);
  }
  /* uniqueness still holds, renaming frees the old name, automatic names are found */
  assert_int_equal(ds_graph_set_node_name(g, 5, "n7"), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "'n7'"));
  assert_int_equal(ds_graph_set_node_name(g, 5, "renamed"), DS_OK);
  assert_int_equal(ds_graph_find(g, "n4"), DS_ENOTFOUND);
  assert_int_equal(ds_graph_find(g, "renamed"), 5);
  assert_int_equal(ds_graph_set_node_name(g, 9, "n4"), DS_OK);
  assert_int_equal(ds_graph_find(g, "n4"), 9);
  assert_int_equal(ds_graph_find(g, "x"), 0);
  ds_node r = ds_relu(g, h);
  assert_int_equal(ds_graph_find(g, ds_graph_node_name(g, r)), r);
  assert_int_equal(ds_input(g, "n100", ds_shape1(1)), DS_EINVAL);
  ds_graph_free(g);
  double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
  if (secs > 5) fail_msg("naming %d nodes took %.1f s", N, secs);
}

/* A model at the depth limit builds, compiles, initialises and saves in linear time (quadratic
 * name checks, bias fan-in searches, buffer growth and header building made this minutes). */
static void test_deepest_model_is_fast(void **state) {
  (void)state;
  clock_t t0 = clock();
  ds_graph *g = ds_graph_new(2);
  ds_node x = ds_input(g, "x", ds_shape1(4)), y = ds_input(g, "y", ds_shape_scalar());
  ds_model_options o = ds_model_options_default("mlp");
  o.depth = DS_MODEL_MAX_DEPTH;
  o.width = 4;
  ds_node logits;
  assert_int_equal(ds_model_build(g, &o, x, 3, &logits), DS_OK);
  assert_int_equal(ds_graph_compile(g, ds_cross_entropy(g, logits, y, 0.0f)), DS_OK);
  assert_int_equal(ds_graph_init_params(g, 1), DS_OK);
  ds_paramset *ps = ds_graph_params(g);
  assert_int_equal(ps->count, 2 * (DS_MODEL_MAX_DEPTH + 1));
  /* as in a checkpoint with two optimizer states: three tensors per parameter */
  int n = 3 * ps->count;
  ds_st_tensor *t = test_malloc((size_t)n * sizeof *t);
  char(*names)[DS_NAME_MAX + 8] = test_malloc((size_t)n * sizeof *names);
  for (int i = 0; i < n; i++) {
    const ds_param_info *p = &ps->info[i % ps->count];
    snprintf(names[i], sizeof names[i], "%s%s",
             i < ps->count       ? ""
             : i < 2 * ps->count ? "m."
                                 : "v.",
             p->name);
    t[i] = (ds_st_tensor){names[i], p->shape, ps->data + p->offset};
  }
  char path[] = "/tmp/descent_deep_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(ds_safetensors_write(path, t, n, NULL, 0), DS_OK);
  ds_safetensors *st = ds_safetensors_read(path);
  assert_non_null(st);
  assert_int_equal(ds_safetensors_count(st), n);
  assert_int_equal(ds_safetensors_get(st, "v.fc5000.weight", NULL, NULL), DS_OK);
  ds_safetensors_free(st);
  remove(path);
  test_free(t);
  test_free(names);
  ds_graph_free(g);
  double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
  if (secs > 10) fail_msg("depth %d took %.1f s", DS_MODEL_MAX_DEPTH, secs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradcheck_models),
      cmocka_unit_test(test_names_and_roles),
      cmocka_unit_test(test_nf_beta_bookkeeping),
      cmocka_unit_test(test_nf_signal_propagation),
      cmocka_unit_test(test_batchnorm_model_modes),
      cmocka_unit_test(test_option_errors),
      cmocka_unit_test(test_cnn_shapes),
      cmocka_unit_test(test_model_limits),
      cmocka_unit_test(test_many_names),
      cmocka_unit_test(test_deepest_model_is_fast),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
