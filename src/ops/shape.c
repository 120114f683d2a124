/* Shape ops: flatten and reshape (keep the batch, regroup the rest). Copies, so views stay simple. */
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
  for (int i = 0; i < rank; i++) m *= (n->shape.dim[i + 1] = n->iattr[i + 1]);
  for (int i = rank + 1; i < DS_MAX_RANK; i++) n->shape.dim[i] = 1;
  if (m != per)
    return ds__node_error(n, DS_ESHAPE, "cannot reshape '%s' %s (%lld per sample) to %lld per sample",
                          x->name, ds_shape_str(&x->shape, s1, 64), (long long)per, (long long)m);
  return DS_OK;
}
static void reshape_forward(ds_graph *g, ds_nodedata *n) {
  memcpy(n->val, ds__in(g, n, 0)->val, (size_t)ds__numel(n) * sizeof(float));
}
static void reshape_backward(ds_graph *g, ds_nodedata *n) {
  float *dx = ds__in(g, n, 0)->grad;
  if (!dx) return;
  int64_t m = ds__numel(n);
  for (int64_t i = 0; i < m; i++) dx[i] += n->grad[i];
}
const ds_opdef ds__op_reshape = {"reshape", reshape_infer, reshape_forward, reshape_backward};

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
