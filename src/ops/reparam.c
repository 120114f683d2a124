/* Scaled weight standardization (Brock et al. 2021a, NF-ResNets; the NFNet reference code's
 * WSConv2D): a differentiable reparameterisation of a weight w (O, ...) with fan-in N = numel/O,
 * standardized per output row o:
 *
 *   w_hat[o, i] = gamma * gain[o] * (w[o, i] - mean_o) * s_o,   s_o = 1 / sqrt(max(var_o * N, eps))
 *
 * var is the population variance over the row; eps = 1e-4 in the reference; gamma is the
 * activation's gain constant (fixed), gain a learnable per-row scale (optional).
 * Inputs: in[0] = w, in[1] = gain (O) or absent. fattr[0] = gamma, fattr[1] = eps.
 * aux = mean (O), s (O), clamped flag (O). */
#include <math.h>

#include "ops/op_list.h"

static ds_status ws_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *w = ds__in(g, n, 0);
  char s1[64], s2[64];
  if (w->shape.rank < 2)
    return ds__node_error(n, DS_ESHAPE, "weight '%s' has shape %s; expected (out, in[, kh, kw])",
                          w->name, ds_shape_str(&w->shape, s1, 64));
  int64_t O = w->shape.dim[0];
  if (n->n_in == 2) {
    ds_nodedata *gn = ds__in(g, n, 1);
    if (gn->shape.rank != 1 || gn->shape.dim[0] != O)
      return ds__node_error(n, DS_ESHAPE, "gain '%s' %s does not match the %lld rows of '%s' %s",
                            gn->name, ds_shape_str(&gn->shape, s1, 64), (long long)O, w->name,
                            ds_shape_str(&w->shape, s2, 64));
  }
  if (!(n->fattr[1] > 0.0f)) return ds__node_error(n, DS_EINVAL, "eps %g must be > 0", n->fattr[1]);
  n->shape = w->shape;
  n->aux_size = 3 * O;
  return DS_OK;
}

static void ws_forward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *w = ds__in(g, n, 0);
  const float *gain = n->n_in == 2 ? ds__in(g, n, 1)->val : NULL;
  int64_t O = w->shape.dim[0], N = ds__numel(w) / O;
  float *mean = n->aux, *s = n->aux + O, *clamped = n->aux + 2 * O;
  for (int64_t o = 0; o < O; o++) {
    const float *p = w->val + o * N;
    double sum = 0, ss = 0;
    for (int64_t i = 0; i < N; i++)
      sum += p[i];
    double m = sum / (double)N;
    for (int64_t i = 0; i < N; i++)
      ss += (p[i] - m) * (p[i] - m);
    double vn = ss; /* var * N */
    clamped[o] = vn < n->fattr[1] ? 1.0f : 0.0f;
    mean[o] = (float)m;
    s[o] = (float)(1.0 / sqrt(vn < n->fattr[1] ? (double)n->fattr[1] : vn));
    float a = n->fattr[0] * (gain ? gain[o] : 1.0f) * s[o];
    for (int64_t i = 0; i < N; i++)
      n->val[o * N + i] = (p[i] - mean[o]) * a;
  }
}

static void ws_backward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *w = ds__in(g, n, 0);
  const float *gain = n->n_in == 2 ? ds__in(g, n, 1)->val : NULL;
  float *dgain = n->n_in == 2 ? ds__in(g, n, 1)->grad : NULL;
  int64_t O = w->shape.dim[0], N = ds__numel(w) / O;
  const float *mean = n->aux, *s = n->aux + O, *clamped = n->aux + 2 * O;
  const float gamma = n->fattr[0];
  for (int64_t o = 0; o < O; o++) {
    const float *p = w->val + o * N, *dy = n->grad + o * N;
    double sdy = 0, sdyu = 0; /* u = (w - mean) s, so w_hat = gamma gain u */
    for (int64_t i = 0; i < N; i++) {
      sdy += dy[i];
      sdyu += dy[i] * ((p[i] - mean[o]) * s[o]);
    }
    if (dgain) dgain[o] += (float)(gamma * sdyu);
    if (!w->grad) continue;
    /* unclamped: dw = gamma gain s (dy - mean(dy) - u sum(dy u)); clamped: s is a constant */
    float a = gamma * (gain ? gain[o] : 1.0f) * s[o], mdy = (float)(sdy / (double)N);
    float k = clamped[o] != 0.0f ? 0.0f : (float)sdyu;
    float *d = w->grad + o * N;
    for (int64_t i = 0; i < N; i++)
      d[i] += a * (dy[i] - mdy - (p[i] - mean[o]) * s[o] * k);
  }
}

const ds_opdef ds__op_weight_std = {"weight_std", ws_infer, ws_forward, ws_backward, 0};

ds_node ds_weight_std(ds_graph *g, ds_node w, ds_node gain, float gamma, float eps) {
  ds_node in[2] = {w, gain};
  float fa[2] = {gamma, eps};
  return ds__add_node(g, DS_OP_WEIGHT_STD, gain == DS_NONE ? 1 : 2, in, NULL, 0, fa, 2);
}
