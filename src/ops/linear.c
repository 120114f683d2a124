/* Dense ops: linear (x W^T + b, on the flattened sample or on the last axis), matmul, bias add.
 * GEMMs through OpenBLAS. */
#include <cblas.h>
#include <string.h>

#include "ops/op_list.h"
#include "ops/reduce.h"

/* Rows of x: the batch; columns: everything else (a (B, C, H, W) input is flattened). */
static int64_t cols_of(const ds_nodedata *x) { return ds__numel(x) / x->shape.dim[0]; }

/* ---- linear: in = (x, w[, b]); x (B, K), w (O, K), b (O) -> (B, O) ----
 * iattr[0] = 1 (ds_dense): over the last axis, x (B, ..., K) -> (B, ..., O), the rows being all
 * leading positions (tokens). */

/* Features per row of x: the last dim (dense) or the flattened sample. */
static int64_t in_features(const ds_nodedata *n, const ds_nodedata *x) {
  return n->iattr[0] ? x->shape.dim[x->shape.rank - 1] : cols_of(x);
}

static ds_status linear_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0), *w = ds__in(g, n, 1);
  char a[64], b[64];
  if (x->shape.rank < 2)
    return ds__node_error(n, DS_ESHAPE, "input '%s' has shape %s; expected (B, features)", x->name,
                          ds_shape_str(&x->shape, a, 64));
  if (w->shape.rank != 2 || w->shape.dim[1] != in_features(n, x))
    return ds__node_error(
        n, DS_ESHAPE, "input '%s' %s has %lld features but weight '%s' %s expects %lld", x->name,
        ds_shape_str(&x->shape, a, 64), (long long)in_features(n, x), w->name,
        ds_shape_str(&w->shape, b, 64), (long long)(w->shape.rank == 2 ? w->shape.dim[1] : -1));
  if (n->n_in == 3) {
    ds_nodedata *bias = ds__in(g, n, 2);
    if (bias->shape.rank != 1 || bias->shape.dim[0] != w->shape.dim[0])
      return ds__node_error(n, DS_ESHAPE, "bias '%s' %s does not match weight '%s' %s", bias->name,
                            ds_shape_str(&bias->shape, a, 64), w->name,
                            ds_shape_str(&w->shape, b, 64));
  }
  if (n->iattr[0]) {
    n->shape = x->shape;
    n->shape.dim[x->shape.rank - 1] = w->shape.dim[0];
  } else {
    n->shape = ds_shape2(x->shape.dim[0], w->shape.dim[0]);
  }
  return DS_OK;
}

static void add_bias_rows(float *y, const float *b, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++)
      y[i * cols + j] += b[j];
}

static void linear_forward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0), *w = ds__in(g, n, 1);
  int64_t O = w->shape.dim[0], K = w->shape.dim[1], B = ds__numel(n) / O; /* B: rows */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)O, (int)K, 1.0f, x->val, (int)K,
              w->val, (int)K, 0.0f, n->val, (int)O);
  if (n->n_in == 3) add_bias_rows(n->val, ds__in(g, n, 2)->val, B, O);
}

static void linear_backward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0), *w = ds__in(g, n, 1);
  int64_t O = w->shape.dim[0], K = w->shape.dim[1], B = ds__numel(n) / O; /* B: rows */
  const float *dy = n->grad;                                              /* (B, O) */
  if (x->grad)                                                            /* dx += dy W */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)K, (int)O, 1.0f, dy, (int)O,
                w->val, (int)K, x->grad_fresh ? 0.0f : 1.0f, x->grad, (int)K);
  if (w->grad) /* dW += dy^T x */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)O, (int)K, (int)B, 1.0f, dy, (int)O,
                x->val, (int)K, 1.0f, w->grad, (int)K);
  if (n->n_in == 3 && ds__in(g, n, 2)->grad) { /* db += sum_b dy */
    float *db = ds__in(g, n, 2)->grad;
    for (int64_t i = 0; i < B; i++)
      for (int64_t j = 0; j < O; j++)
        db[j] += dy[i * O + j];
  }
}

const ds_opdef ds__op_linear = {"linear", linear_infer, linear_forward, linear_backward, 1};

ds_node ds_linear(ds_graph *g, ds_node x, ds_node w, ds_node b) {
  ds_node in[3] = {x, w, b};
  return ds__add_node(g, DS_OP_LINEAR, b == DS_NONE ? 2 : 3, in, NULL, 0, NULL, 0);
}

ds_node ds_dense(ds_graph *g, ds_node x, ds_node w, ds_node b) {
  ds_node in[3] = {x, w, b};
  int64_t last_axis = 1;
  return ds__add_node(g, DS_OP_LINEAR, b == DS_NONE ? 2 : 3, in, &last_axis, 1, NULL, 0);
}

/* ---- matmul: a (M, K), b (K, N) -> (M, N) ---- */

static ds_status matmul_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *a = ds__in(g, n, 0), *b = ds__in(g, n, 1);
  char s1[64], s2[64];
  if (a->shape.rank != 2 || b->shape.rank != 2 || a->shape.dim[1] != b->shape.dim[0])
    return ds__node_error(n, DS_ESHAPE, "cannot multiply '%s' %s by '%s' %s", a->name,
                          ds_shape_str(&a->shape, s1, 64), b->name,
                          ds_shape_str(&b->shape, s2, 64));
  n->shape = ds_shape2(a->shape.dim[0], b->shape.dim[1]);
  return DS_OK;
}

static void matmul_forward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *a = ds__in(g, n, 0), *b = ds__in(g, n, 1);
  int M = (int)a->shape.dim[0], K = (int)a->shape.dim[1], N = (int)b->shape.dim[1];
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a->val, K, b->val, N, 0.0f,
              n->val, N);
}

static void matmul_backward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *a = ds__in(g, n, 0), *b = ds__in(g, n, 1);
  int M = (int)a->shape.dim[0], K = (int)a->shape.dim[1], N = (int)b->shape.dim[1];
  if (a->grad) /* dA += dC B^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, N, 1.0f, n->grad, N, b->val, N, 1.0f,
                a->grad, K);
  if (b->grad) /* dB += A^T dC */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, a->val, K, n->grad, N, 1.0f,
                b->grad, N);
}

const ds_opdef ds__op_matmul = {"matmul", matmul_infer, matmul_forward, matmul_backward, 0};

ds_node ds_matmul(ds_graph *g, ds_node a, ds_node b) {
  ds_node in[2] = {a, b};
  return ds__add_node(g, DS_OP_MATMUL, 2, in, NULL, 0, NULL, 0);
}

/* ---- bias_add: x (B, C, ...) + b (C) ---- */

static ds_status bias_add_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0), *b = ds__in(g, n, 1);
  char s1[64], s2[64];
  if (x->shape.rank < 2 || b->shape.rank != 1 || b->shape.dim[0] != x->shape.dim[1])
    return ds__node_error(n, DS_ESHAPE, "bias '%s' %s does not match dim 1 of '%s' %s", b->name,
                          ds_shape_str(&b->shape, s1, 64), x->name,
                          ds_shape_str(&x->shape, s2, 64));
  n->shape = x->shape;
  return DS_OK;
}

static void bias_add_forward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0), *b = ds__in(g, n, 1);
  int64_t B = n->shape.dim[0], C = n->shape.dim[1], S = ds__numel(n) / (B * C);
  for (int64_t i = 0; i < B; i++)
    for (int64_t c = 0; c < C; c++) {
      const float *xp = x->val + (i * C + c) * S;
      float *yp = n->val + (i * C + c) * S, bc = b->val[c];
      for (int64_t s = 0; s < S; s++)
        yp[s] = xp[s] + bc;
    }
}

static void bias_add_backward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0), *b = ds__in(g, n, 1);
  int64_t B = n->shape.dim[0], C = n->shape.dim[1], S = ds__numel(n) / (B * C);
  if (x->grad)
    for (int64_t i = 0; i < ds__numel(n); i++)
      x->grad[i] += n->grad[i];
  if (b->grad)
    for (int64_t i = 0; i < B; i++)
      for (int64_t c = 0; c < C; c++) {
        b->grad[c] += (float)ds__sum16(n->grad + (i * C + c) * S, S);
      }
}

const ds_opdef ds__op_bias_add = {"bias_add", bias_add_infer, bias_add_forward, bias_add_backward,
                                  0};

ds_node ds_bias_add(ds_graph *g, ds_node x, ds_node b) {
  ds_node in[2] = {x, b};
  return ds__add_node(g, DS_OP_BIAS_ADD, 2, in, NULL, 0, NULL, 0);
}
