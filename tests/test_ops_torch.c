/* Every op against PyTorch 1.13: forward outputs and input/parameter gradients for fixed inputs.
 * Fixtures: the JSON files in tests/fixtures/ops/, written by tests/fixtures/gen_ops.py (its
 * docstring describes the case format). Each case builds a one-op graph (plus an mse head against a
 * fixed target for ops that are not losses), seeds the backward with the fixture's per-sample
 * weights (PyTorch computed sum_i w_i loss_i) and compares. */
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

/* Tolerance atol + rtol |ref|: both sides compute in float32 but sum in different orders
 * (OpenBLAS blocking vs PyTorch's kernels); sums here have at most a few hundred O(1) terms,
 * whose reordering moves a result by ~1e-6 relative. 1e-4 relative leaves margin while an
 * error in any term of a sum (a wrong index, sign or scale) shows up far above it. */
#define ATOL 1e-5
#define RTOL 1e-4

#define MAX_T 4

typedef struct {
  const char *name;
  bool param, grad;
  ds_shape shape;
  const cJSON *data;
  ds_node node;
} tensor_spec;

static ds_shape shape_of(const cJSON *arr) {
  ds_shape s = {0, {1, 1, 1, 1}};
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) s.dim[s.rank++] = (int64_t)it->valuedouble;
  return s;
}

/* The per-sample shape of a batched shape: drop dim 0. */
static ds_shape sample_shape(ds_shape s) {
  ds_shape r = {s.rank - 1, {1, 1, 1, 1}};
  for (int i = 1; i < s.rank; i++)
    r.dim[i - 1] = s.dim[i];
  return r;
}

static double arg(const cJSON *args, int i) {
  const cJSON *a = cJSON_GetArrayItem(args, i);
  assert_non_null(a);
  return a->valuedouble;
}

/* Adds the case's op; t[] are the tensor nodes in the builder's order. */
static ds_node build_op(ds_graph *g, const char *op, const cJSON *args, const ds_node *t, int nt) {
  ds_node opt = nt > 2 ? t[2] : DS_NONE;
  if (!strcmp(op, "linear")) return ds_linear(g, t[0], t[1], opt);
  if (!strcmp(op, "matmul")) return ds_matmul(g, t[0], t[1]);
  if (!strcmp(op, "bias_add")) return ds_bias_add(g, t[0], t[1]);
  if (!strcmp(op, "add")) return ds_add(g, t[0], t[1]);
  if (!strcmp(op, "scale")) return ds_scale(g, t[0], (float)arg(args, 0));
  if (!strcmp(op, "identity")) return ds_identity(g, t[0]);
  if (!strcmp(op, "relu")) return ds_relu(g, t[0]);
  if (!strcmp(op, "leaky_relu")) return ds_leaky_relu(g, t[0], (float)arg(args, 0));
  if (!strcmp(op, "tanh")) return ds_tanh(g, t[0]);
  if (!strcmp(op, "sigmoid")) return ds_sigmoid(g, t[0]);
  if (!strcmp(op, "gelu")) return ds_gelu(g, t[0]);
  if (!strcmp(op, "cross_entropy")) return ds_cross_entropy(g, t[0], t[1], (float)arg(args, 0));
  if (!strcmp(op, "mse")) return ds_mse(g, t[0], t[1]);
  if (!strcmp(op, "l1")) return ds_l1(g, t[0], t[1]);
  if (!strcmp(op, "huber")) return ds_huber(g, t[0], t[1], (float)arg(args, 0));
  if (!strcmp(op, "conv2d"))
    return ds_conv2d(g, t[0], t[1], opt, (int)arg(args, 0), (int)arg(args, 1), (int)arg(args, 2));
  if (!strcmp(op, "maxpool2d"))
    return ds_maxpool2d(g, t[0], (int)arg(args, 0), (int)arg(args, 1), (int)arg(args, 2));
  if (!strcmp(op, "avgpool2d"))
    return ds_avgpool2d(g, t[0], (int)arg(args, 0), (int)arg(args, 1), (int)arg(args, 2));
  if (!strcmp(op, "global_avgpool")) return ds_global_avgpool(g, t[0]);
  if (!strcmp(op, "flatten")) return ds_flatten(g, t[0]);
  if (!strcmp(op, "reshape")) {
    ds_shape s = {cJSON_GetArraySize(args), {1, 1, 1, 1}};
    for (int i = 0; i < s.rank; i++)
      s.dim[i] = (int64_t)arg(args, i);
    return ds_reshape(g, t[0], s);
  }
  if (!strcmp(op, "dropout")) return ds_dropout(g, t[0], (float)arg(args, 0));
  if (!strcmp(op, "dense")) return ds_dense(g, t[0], t[1], opt);
  if (!strcmp(op, "bmm")) return ds_bmm(g, t[0], t[1], arg(args, 0) != 0, arg(args, 1) != 0);
  if (!strcmp(op, "softmax")) return ds_softmax(g, t[0], arg(args, 0) != 0);
  if (!strcmp(op, "attention"))
    return ds_attention(g, t[0], t[1], t[2], (int)arg(args, 0), arg(args, 1) != 0);
  if (!strcmp(op, "embedding")) return ds_embedding(g, t[0], t[1]);
  if (!strcmp(op, "add_broadcast")) return ds_add_broadcast(g, t[0], t[1]);
  if (!strcmp(op, "token_prepend")) return ds_token_prepend(g, t[0], t[1]);
  if (!strcmp(op, "token_mean")) return ds_token_mean(g, t[0]);
  if (!strcmp(op, "slice")) return ds_slice(g, t[0], (int64_t)arg(args, 0), (int64_t)arg(args, 1));
  if (!strcmp(op, "transpose")) return ds_transpose(g, t[0], (int)arg(args, 0), (int)arg(args, 1));
  fail_msg("fixture names unknown op '%s'", op);
  return DS_NONE;
}

/* Copies a JSON array into a node's buffer, checking the element count. */
static void fill(float *dst, const cJSON *arr, int64_t n, const char *what) {
  assert_non_null(dst);
  if (cJSON_GetArraySize(arr) != n)
    fail_msg("%s: fixture has %d values, graph %lld", what, cJSON_GetArraySize(arr), (long long)n);
  tu_json_floats(arr, dst, n);
}

/* Compares a graph buffer with a fixture array; returns the mismatch count, tracks max |diff|. */
static int64_t compare(const char *what, const float *got, const cJSON *ref, int64_t n,
                       double *maxdiff) {
  if (cJSON_GetArraySize(ref) != n) {
    fprintf(stderr, "%s: fixture has %d values, graph %lld\n", what, cJSON_GetArraySize(ref),
            (long long)n);
    return 1;
  }
  float *r = malloc((size_t)n * sizeof *r);
  tu_json_floats(ref, r, n);
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - r[i]) / (1.0 + fabs((double)r[i]));
    if (d > *maxdiff) *maxdiff = d;
  }
  int64_t bad = tu_mismatches(what, got, r, n, ATOL, RTOL);
  free(r);
  return bad;
}

/* Runs one case; returns the number of mismatching elements. */
static int64_t run_case(const cJSON *c, double *maxdiff) {
  const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
  const char *op = cJSON_GetObjectItem(c, "op")->valuestring;
  const cJSON *args = cJSON_GetObjectItem(c, "args");
  const cJSON *tensors = cJSON_GetObjectItem(c, "tensors");
  const char *head = cJSON_GetObjectItem(c, "head")->valuestring;
  bool training = cJSON_IsTrue(cJSON_GetObjectItem(c, "training"));
  tensor_spec ts[MAX_T];
  int nt = 0;
  int64_t B = -1;
  const cJSON *it;
  cJSON_ArrayForEach(it, tensors) {
    assert_true(nt < MAX_T);
    tensor_spec *t = &ts[nt++];
    t->name = cJSON_GetObjectItem(it, "name")->valuestring;
    t->param = !strcmp(cJSON_GetObjectItem(it, "kind")->valuestring, "param");
    t->grad = t->param || cJSON_IsTrue(cJSON_GetObjectItem(it, "grad"));
    t->shape = shape_of(cJSON_GetObjectItem(it, "shape"));
    t->data = cJSON_GetObjectItem(it, "data");
    if (!t->param && B < 0) B = t->shape.dim[0];
  }
  assert_true(B > 0);
  ds_graph *g = ds_graph_new(B);
  ds_node nodes[MAX_T];
  for (int i = 0; i < nt; i++) {
    tensor_spec *t = &ts[i];
    if (t->param) {
      t->node = ds_param(g, t->name, t->shape, t->shape.rank == 1 ? DS_ROLE_BIAS : DS_ROLE_WEIGHT);
    } else {
      t->node = ds_input(g, t->name, sample_shape(t->shape));
      if (t->node >= 0 && t->grad)
        assert_int_equal(ds_input_requires_grad(g, t->node, true), DS_OK);
    }
    if (t->node < 0) fail_msg("%s: tensor '%s': %s", name, t->name, ds_last_error());
    nodes[i] = t->node;
  }
  ds_node out = build_op(g, op, args, nodes, nt), target = DS_NONE, loss = out;
  if (out < 0) fail_msg("%s: %s", name, ds_last_error());
  const cJSON *tj = cJSON_GetObjectItem(c, "target");
  if (!strcmp(head, "mse")) {
    target = ds_input(g, "target", sample_shape(shape_of(cJSON_GetObjectItem(tj, "shape"))));
    loss = ds_mse(g, out, target);
  }
  if (ds_graph_compile(g, loss)) fail_msg("%s: %s", name, ds_last_error());
  ds_graph_set_training(g, training);
  for (int i = 0; i < nt; i++)
    fill(ds_graph_value(g, ts[i].node), ts[i].data, ds_shape_numel(&ts[i].shape), ts[i].name);
  if (target != DS_NONE) {
    ds_shape s = ds_graph_shape(g, target);
    fill(ds_graph_value(g, target), cJSON_GetObjectItem(tj, "data"), ds_shape_numel(&s), "target");
  }
  float w[256];
  int64_t nw = tu_json_floats(cJSON_GetObjectItem(c, "weights"), w, 256);
  assert_int_equal(nw, B);
  if (ds_graph_forward(g) || ds_graph_backward(g, w)) fail_msg("%s: %s", name, ds_last_error());

  char what[160];
  int64_t bad = 0;
  ds_shape os = ds_graph_shape(g, out);
  snprintf(what, sizeof what, "%s: output", name);
  bad += compare(what, ds_graph_value(g, out), cJSON_GetObjectItem(c, "out"), ds_shape_numel(&os),
                 maxdiff);
  const cJSON *grads = cJSON_GetObjectItem(c, "grads");
  for (int i = 0; i < nt; i++) {
    if (!ts[i].grad) continue;
    const cJSON *ref = cJSON_GetObjectItem(grads, ts[i].name);
    assert_non_null(ref);
    snprintf(what, sizeof what, "%s: d/d%s", name, ts[i].name);
    bad += compare(what, ds_graph_grad(g, ts[i].node), ref, ds_shape_numel(&ts[i].shape), maxdiff);
  }
  ds_graph_free(g);
  return bad;
}

static void run_file(const char *file) {
  char path[256];
  snprintf(path, sizeof path, "fixtures/ops/%s.json", file);
  cJSON *j = tu_load_json(path);
  assert_non_null(j);
  const cJSON *cases = cJSON_GetObjectItem(j, "cases"), *c;
  assert_true(cJSON_GetArraySize(cases) > 0);
  int64_t bad = 0;
  double maxdiff = 0;
  cJSON_ArrayForEach(c, cases) bad += run_case(c, &maxdiff);
  printf("%s: %d cases, max |diff| / (1 + |ref|) = %.2g\n", path, cJSON_GetArraySize(cases),
         maxdiff);
  cJSON_Delete(j);
  assert_int_equal(bad, 0);
}

static void test_dense(void **s) { (void)s, run_file("dense"); }
static void test_act(void **s) { (void)s, run_file("act"); }
static void test_loss(void **s) { (void)s, run_file("loss"); }
static void test_conv(void **s) { (void)s, run_file("conv"); }
static void test_pool(void **s) { (void)s, run_file("pool"); }
static void test_shape_dropout(void **s) { (void)s, run_file("shape"); }
static void test_transformer(void **s) { (void)s, run_file("transformer"); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dense),       cmocka_unit_test(test_act),
      cmocka_unit_test(test_loss),        cmocka_unit_test(test_conv),
      cmocka_unit_test(test_pool),        cmocka_unit_test(test_shape_dropout),
      cmocka_unit_test(test_transformer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
