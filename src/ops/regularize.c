/* Stochastic regularisers: dropout (inverted). Train/eval from the graph flag; randomness from
 * the graph's dropout generator. aux holds the mask scaled by 1/(1-p). */
#include "ops/op_list.h"

static ds_status dropout_infer(ds_graph *g, ds_nodedata *n) {
  if (!(n->fattr[0] >= 0.0f && n->fattr[0] < 1.0f))
    return ds__node_error(n, DS_EINVAL, "dropout probability %g is not in [0, 1)", n->fattr[0]);
  n->shape = ds__in(g, n, 0)->shape;
  n->aux_size = ds__numel(n);
  return DS_OK;
}
static void dropout_forward(ds_graph *g, ds_nodedata *n) {
  const float *x = ds__in(g, n, 0)->val;
  int64_t m = ds__numel(n);
  float p = n->fattr[0], keep = 1.0f / (1.0f - p);
  for (int64_t i = 0; i < m; i++) {
    n->aux[i] = (!g->training || p == 0.0f) ? 1.0f : (ds_rng_uniform(&g->rng) >= p ? keep : 0.0f);
    n->val[i] = x[i] * n->aux[i];
  }
}
static void dropout_backward(ds_graph *g, ds_nodedata *n) {
  float *dx = ds__in(g, n, 0)->grad;
  if (!dx) return;
  int64_t m = ds__numel(n);
  for (int64_t i = 0; i < m; i++)
    dx[i] += n->grad[i] * n->aux[i];
}
const ds_opdef ds__op_dropout = {"dropout", dropout_infer, dropout_forward, dropout_backward, 0};

ds_node ds_dropout(ds_graph *g, ds_node x, float p) {
  return ds__add_node(g, DS_OP_DROPOUT, 1, &x, NULL, 0, &p, 1);
}
