/* Shape ops: flatten and reshape (keep the batch, regroup the rest). Copies, so views stay simple.
 */
#include <string.h>

#include "ops/op_list.h"

/* iattr[0] = per-sample rank (-1: flatten), iattr[1..3] = per-sample dims */
static ds_status reshape_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  int64_t B = x->shape.dim[0], per = ds__numel(x) / B;
  char s1[64];
  if (x->shape.rank < 1)
    return ds__node_error(n, DS_ESHAPE, "input '%s' is a scalar; nothing to reshape", x->name);
  if (n->iattr[0] < 0) {
    n->shape = ds_shape2(B, per);
    return DS_OK;
  }
  int rank = (int)n->iattr[0];
  int64_t m = 1;
  n->shape.rank = rank + 1;
  n->shape.dim[0] = B;
  for (int i = 0; i < rank; i++)
    m *= (n->shape.dim[i + 1] = n->iattr[i + 1]);
  for (int i = rank + 1; i < DS_MAX_RANK; i++)
    n->shape.dim[i] = 1;
  if (m != per)
    return ds__node_error(n, DS_ESHAPE,
                          "cannot reshape '%s' %s (%lld per sample) to %lld per sample", x->name,
                          ds_shape_str(&x->shape, s1, 64), (long long)per, (long long)m);
  return DS_OK;
}
static void reshape_forward(ds_graph *g, ds_nodedata *n) {
  memcpy(n->val, ds__in(g, n, 0)->val, (size_t)ds__numel(n) * sizeof(float));
}
static void reshape_backward(ds_graph *g, ds_nodedata *n) {
  float *dx = ds__in(g, n, 0)->grad;
  if (!dx) return;
  int64_t m = ds__numel(n);
  for (int64_t i = 0; i < m; i++)
    dx[i] += n->grad[i];
}
const ds_opdef ds__op_reshape = {"reshape", reshape_infer, reshape_forward, reshape_backward, 0};

ds_node ds_flatten(ds_graph *g, ds_node x) {
  int64_t attr = -1;
  return ds__add_node(g, DS_OP_RESHAPE, 1, &x, &attr, 1, NULL, 0);
}
ds_node ds_reshape(ds_graph *g, ds_node x, ds_shape s) {
  if (s.rank < 0 || s.rank > DS_MAX_RANK - 1)
    return ds_set_error(DS_EINVAL, "reshape: per-sample rank %d is not in 0..3", s.rank);
  int64_t attr[4] = {s.rank, s.dim[0], s.dim[1], s.dim[2]};
  return ds__add_node(g, DS_OP_RESHAPE, 1, &x, attr, 4, NULL, 0);
}

/* ---- transpose: swaps dims d1 and d2 (both >= 1: the batch stays) ----
 * Heads: (B, T, H, D) -> transpose(1, 2) -> (B, H, T, D). The input is viewed as rank 4 (trailing
 * dims 1) and the output written in order, reading x through permuted strides. */

static void transpose_perm(const ds_nodedata *n, int perm[DS_MAX_RANK]) {
  for (int i = 0; i < DS_MAX_RANK; i++)
    perm[i] = i;
  perm[n->iattr[0]] = (int)n->iattr[1];
  perm[n->iattr[1]] = (int)n->iattr[0];
}

static ds_status transpose_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  int r = x->shape.rank;
  char s1[64];
  if (n->iattr[0] < 1 || n->iattr[1] < 1 || n->iattr[0] >= r || n->iattr[1] >= r)
    return ds__node_error(n, DS_EINVAL, "cannot swap dims %lld and %lld of '%s' %s (dims 1..%d)",
                          (long long)n->iattr[0], (long long)n->iattr[1], x->name,
                          ds_shape_str(&x->shape, s1, 64), r - 1);
  int perm[DS_MAX_RANK];
  transpose_perm(n, perm);
  n->shape = x->shape;
  for (int i = 0; i < DS_MAX_RANK; i++)
    n->shape.dim[i] = x->shape.dim[perm[i]];
  return DS_OK;
}

/* y[i0,i1,i2,i3] (+)= x at the permuted index; backward runs the same walk the other way. */
static void transpose_walk(ds_graph *g, ds_nodedata *n, bool backward) {
  ds_nodedata *x = ds__in(g, n, 0);
  int perm[DS_MAX_RANK];
  transpose_perm(n, perm);
  int64_t xs[DS_MAX_RANK], st[DS_MAX_RANK]; /* x's strides, and x's stride of each output dim */
  xs[3] = 1;
  for (int i = 2; i >= 0; i--)
    xs[i] = xs[i + 1] * x->shape.dim[i + 1];
  for (int i = 0; i < DS_MAX_RANK; i++)
    st[i] = xs[perm[i]];
  const int64_t *d = n->shape.dim;
  float *y = backward ? n->grad : n->val, *xv = backward ? x->grad : x->val;
#pragma omp parallel for schedule(static) if (ds__numel(n) > 32768)
  for (int64_t i0 = 0; i0 < d[0]; i0++)
    for (int64_t i1 = 0; i1 < d[1]; i1++)
      for (int64_t i2 = 0; i2 < d[2]; i2++) {
        int64_t o = ((i0 * d[1] + i1) * d[2] + i2) * d[3], s = i0 * st[0] + i1 * st[1] + i2 * st[2];
        if (backward)
          for (int64_t i3 = 0; i3 < d[3]; i3++)
            xv[s + i3 * st[3]] += y[o + i3];
        else
          for (int64_t i3 = 0; i3 < d[3]; i3++)
            y[o + i3] = xv[s + i3 * st[3]];
      }
}
static void transpose_forward(ds_graph *g, ds_nodedata *n) { transpose_walk(g, n, false); }
static void transpose_backward(ds_graph *g, ds_nodedata *n) {
  if (ds__in(g, n, 0)->grad) transpose_walk(g, n, true);
}
const ds_opdef ds__op_transpose = {"transpose", transpose_infer, transpose_forward,
                                   transpose_backward, 0};

ds_node ds_transpose(ds_graph *g, ds_node x, int d1, int d2) {
  int64_t attr[2] = {d1, d2};
  return ds__add_node(g, DS_OP_TRANSPOSE, 1, &x, attr, 2, NULL, 0);
}
