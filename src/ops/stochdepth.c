/* Stochastic depth (Huang et al. 2016) as timm's drop_path: in training each sample's residual
 * branch is kept with probability p_keep = 1 - drop and then scaled by 1 / p_keep, else zeroed;
 * identity in eval. x (B, ...). fattr[0] = drop probability. aux (B) = per-sample factor.
 * Randomness from the graph's dropout generator (one draw per sample). */
#include "ops/op_list.h"

static ds_status sd_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  if (!(n->fattr[0] >= 0.0f && n->fattr[0] < 1.0f))
    return ds__node_error(n, DS_EINVAL, "drop probability %g is not in [0, 1)", n->fattr[0]);
  if (x->shape.rank < 1)
    return ds__node_error(n, DS_ESHAPE, "input '%s' has no batch dimension", x->name);
  n->shape = x->shape;
  n->aux_size = x->shape.dim[0];
  return DS_OK;
}

static void sd_forward(ds_graph *g, ds_nodedata *n) {
  const float *x = ds__in(g, n, 0)->val;
  int64_t B = n->shape.dim[0], S = ds__numel(n) / B;
  float p = n->fattr[0], keep = 1.0f / (1.0f - p);
  for (int64_t b = 0; b < B; b++) {
    float f = (!g->training || p == 0.0f) ? 1.0f : (ds_rng_uniform(&g->rng) >= p ? keep : 0.0f);
    n->aux[b] = f;
    for (int64_t k = 0; k < S; k++)
      n->val[b * S + k] = x[b * S + k] * f;
  }
}

static void sd_backward(ds_graph *g, ds_nodedata *n) {
  float *dx = ds__in(g, n, 0)->grad;
  if (!dx) return;
  int64_t B = n->shape.dim[0], S = ds__numel(n) / B;
  for (int64_t b = 0; b < B; b++)
    for (int64_t k = 0; k < S; k++)
      dx[b * S + k] += n->grad[b * S + k] * n->aux[b];
}

const ds_opdef ds__op_stochastic_depth = {"stochastic_depth", sd_infer, sd_forward, sd_backward, 0};

ds_node ds_stochastic_depth(ds_graph *g, ds_node x, float drop) {
  return ds__add_node(g, DS_OP_STOCHASTIC_DEPTH, 1, &x, NULL, 0, &drop, 1);
}
