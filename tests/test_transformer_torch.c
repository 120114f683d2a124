/* Whole models against PyTorch 1.13: a small vit and a small gpt built by ds_model_build, with
 * the parameters of tests/fixtures/transformer/<model>.json loaded by name (written by
 * tests/fixtures/gen_transformer.py, whose own PyTorch models use descent's parameter names):
 * logits, the mean loss and every parameter gradient, then the parameters after five AdamW
 * steps (torch.optim.AdamW with descent's no-decay rule for biases and layer norms). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

/* Tolerances |got - ref| <= ATOL + RTOL |ref|. Both sides compute in float32 with different
 * summation orders through ~30 ops (GEMM blocking, softmax and layer-norm reductions); measured
 * relative differences stay near 1e-6. RTOL 1e-4 (the bar) leaves margin; ATOL 1e-6
 * covers gradients that are zero up to rounding (the key biases: softmax ignores a shift). */
#define ATOL 1e-6
#define RTOL 1e-4
/* After five AdamW steps of lr 1e-3 each parameter has moved by up to 5e-3; the updates
 * m / (sqrt(v) + eps) are ratios of gradients, so a 1e-6 relative gradient difference moves a
 * parameter by ~1e-8 absolute. 1e-6 absolute + 1e-4 relative again. The key biases are skipped:
 * their gradient is rounding noise, and Adam turns noise into steps of +-lr. */

static int64_t count_of(const cJSON *arr) { return cJSON_GetArraySize(arr); }

static float *floats(const cJSON *arr) {
  int64_t n = count_of(arr);
  float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  tu_json_floats(arr, v, n);
  return v;
}

static int64_t compare(const char *what, const float *got, const cJSON *ref, int64_t n) {
  assert_int_equal(count_of(ref), n);
  float *r = floats(ref);
  int64_t bad = tu_mismatches(what, got, r, n, ATOL, RTOL);
  free(r);
  return bad;
}

static void run_model(const char *name) {
  char path[128];
  snprintf(path, sizeof path, "fixtures/transformer/%s.json", name);
  cJSON *j = tu_load_json(path);
  assert_non_null(j);
  const cJSON *opt = cJSON_GetObjectItem(j, "options");
  ds_model_options o = ds_model_options_default(name);
  o.width = (int64_t)cJSON_GetObjectItem(opt, "width")->valuedouble;
  o.depth = (int)cJSON_GetObjectItem(opt, "depth")->valuedouble;
  o.heads = (int)cJSON_GetObjectItem(opt, "heads")->valuedouble;
  o.mlp_ratio = (int)cJSON_GetObjectItem(opt, "mlp_ratio")->valuedouble;
  if (cJSON_GetObjectItem(opt, "patch"))
    o.patch = (int)cJSON_GetObjectItem(opt, "patch")->valuedouble;
  if (cJSON_GetObjectItem(opt, "pooling"))
    assert_int_equal(ds_pooling_parse(cJSON_GetObjectItem(opt, "pooling")->valuestring, &o.pooling),
                     DS_OK);
  int64_t n_classes = (int64_t)cJSON_GetObjectItem(opt, "n_classes")->valuedouble;
  const cJSON *xs = cJSON_GetObjectItem(j, "x_shape");
  int rank = cJSON_GetArraySize(xs);
  int64_t B = (int64_t)cJSON_GetArrayItem(xs, 0)->valuedouble;
  ds_shape sample = {rank - 1, {1, 1, 1, 1}};
  for (int i = 1; i < rank; i++)
    sample.dim[i - 1] = (int64_t)cJSON_GetArrayItem(xs, i)->valuedouble;
  bool gpt = !strcmp(name, "gpt");

  ds_graph *g = ds_graph_new(B);
  ds_node x = ds_input(g, "x", sample), y = ds_input(g, "y", ds_shape_scalar()), logits;
  if (ds_model_build(g, &o, x, n_classes, &logits)) fail_msg("%s: %s", name, ds_last_error());
  ds_node loss = gpt ? ds_cross_entropy(g, logits, ds_slice(g, x, 1, sample.dim[0] - 1), 0)
                     : ds_cross_entropy(g, logits, y, 0);
  assert_int_equal(ds_graph_compile(g, loss), DS_OK);
  ds_paramset *ps = ds_graph_params(g);
  const cJSON *params = cJSON_GetObjectItem(j, "params"), *it;
  assert_int_equal(cJSON_GetArraySize(params), ps->count); /* the same set of names */
  cJSON_ArrayForEach(it, params) {
    int k = ds_paramset_find(ps, it->string);
    if (k < 0) fail_msg("%s: descent has no parameter '%s'", name, it->string);
    const cJSON *data = cJSON_GetObjectItem(it, "data");
    assert_int_equal(count_of(data), ps->info[k].numel);
    tu_json_floats(data, ps->data + ps->info[k].offset, ps->info[k].numel);
  }
  tu_json_floats(cJSON_GetObjectItem(j, "x"), ds_graph_value(g, x), B * ds_shape_numel(&sample));
  tu_json_floats(cJSON_GetObjectItem(j, "y"), ds_graph_value(g, y), B);
  assert_int_equal(ds_graph_forward(g), DS_OK);
  assert_int_equal(ds_graph_backward(g, NULL), DS_OK);
  int64_t bad = 0;
  char what[160];
  ds_shape ls = ds_graph_shape(g, logits);
  snprintf(what, sizeof what, "%s logits", name);
  bad += compare(what, ds_graph_value(g, logits), cJSON_GetObjectItem(j, "logits"),
                 ds_shape_numel(&ls));
  double ref_loss = cJSON_GetObjectItem(j, "loss")->valuedouble;
  assert_true(fabs(ds_graph_loss_mean(g) - ref_loss) <= 1e-5 * fabs(ref_loss));
  const cJSON *grads = cJSON_GetObjectItem(j, "grads");
  for (int k = 0; k < ps->count; k++) {
    snprintf(what, sizeof what, "%s d/d%s", name, ps->info[k].name);
    bad += compare(what, ps->grad + ps->info[k].offset,
                   cJSON_GetObjectItem(grads, ps->info[k].name), ps->info[k].numel);
  }

  const cJSON *aw = cJSON_GetObjectItem(j, "adamw");
  ds_optim *adamw = ds_optim_new("adamw", ps);
  double lr = cJSON_GetObjectItem(aw, "lr")->valuedouble;
  double betas[2] = {cJSON_GetArrayItem(cJSON_GetObjectItem(aw, "betas"), 0)->valuedouble,
                     cJSON_GetArrayItem(cJSON_GetObjectItem(aw, "betas"), 1)->valuedouble};
  double eps = cJSON_GetObjectItem(aw, "eps")->valuedouble,
         wd = cJSON_GetObjectItem(aw, "weight_decay")->valuedouble;
  assert_int_equal(ds_optim_set(adamw, "betas", betas, 2), DS_OK);
  assert_int_equal(ds_optim_set(adamw, "eps", &eps, 1), DS_OK);
  assert_int_equal(ds_optim_set(adamw, "weight_decay", &wd, 1), DS_OK);
  const cJSON *losses = cJSON_GetObjectItem(aw, "losses");
  int steps = (int)cJSON_GetObjectItem(aw, "steps")->valuedouble;
  for (int s = 0; s < steps; s++) {
    assert_int_equal(ds_graph_forward(g), DS_OK);
    double l = cJSON_GetArrayItem(losses, s)->valuedouble;
    if (fabs(ds_graph_loss_mean(g) - l) > 1e-5 * fabs(l))
      fail_msg("%s: AdamW step %d: loss %.8f, PyTorch %.8f", name, s, ds_graph_loss_mean(g), l);
    assert_int_equal(ds_graph_backward(g, NULL), DS_OK);
    assert_int_equal(ds_optim_step(adamw, (float)lr), DS_OK);
  }
  const cJSON *after = cJSON_GetObjectItem(aw, "params");
  for (int k = 0; k < ps->count; k++) {
    const char *pn = ps->info[k].name;
    size_t m = strlen(pn);
    if (m > 7 && !strcmp(pn + m - 7, ".k.bias")) continue;
    snprintf(what, sizeof what, "%s after %d AdamW steps: %s", name, steps, pn);
    bad += compare(what, ps->data + ps->info[k].offset, cJSON_GetObjectItem(after, pn),
                   ps->info[k].numel);
  }
  printf("%s: %d parameters, logits, gradients and %d AdamW steps checked\n", name, ps->count,
         steps);
  ds_optim_free(adamw);
  ds_graph_free(g);
  cJSON_Delete(j);
  assert_int_equal(bad, 0);
}

static void test_vit(void **s) { (void)s, run_model("vit"); }
static void test_gpt(void **s) { (void)s, run_model("gpt"); }

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_vit), cmocka_unit_test(test_gpt)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
