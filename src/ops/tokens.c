/* Token ops on (B, T, ...) sequences: mean over the tokens, and a window of tokens.
 *
 *   token_mean  x (B, T, C) -> (B, C): the mean over T (ViT / Mixer pooling); dx = dy / T.
 *   slice       x (B, T, ...) -> (B, len, ...): tokens start .. start+len-1 along dim 1 (a
 *               language model's inputs x[:, :-1] and targets x[:, 1:], a class token x[:, 0]). */
#include <string.h>

#include "ops/op_list.h"

/* ---- token_mean ---- */

static ds_status token_mean_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  char s1[64];
  if (x->shape.rank != 3)
    return ds__node_error(n, DS_ESHAPE, "input '%s' %s is not (B, T, C)", x->name,
                          ds_shape_str(&x->shape, s1, 64));
  n->shape = ds_shape2(x->shape.dim[0], x->shape.dim[2]);
  return DS_OK;
}

static void token_mean_forward(ds_graph *g, ds_nodedata *n) {
  const ds_nodedata *x = ds__in(g, n, 0);
  int64_t B = x->shape.dim[0], T = x->shape.dim[1], C = x->shape.dim[2];
  float inv = 1.0f / (float)T;
  for (int64_t b = 0; b < B; b++) {
    float *y = n->val + b * C;
    const float *xb = x->val + b * T * C;
    memcpy(y, xb, (size_t)C * sizeof(float));
    for (int64_t t = 1; t < T; t++)
      for (int64_t c = 0; c < C; c++)
        y[c] += xb[t * C + c];
    for (int64_t c = 0; c < C; c++)
      y[c] *= inv;
  }
}

static void token_mean_backward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  if (!x->grad) return;
  int64_t B = x->shape.dim[0], T = x->shape.dim[1], C = x->shape.dim[2];
  float inv = 1.0f / (float)T;
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T; t++)
      for (int64_t c = 0; c < C; c++)
        x->grad[(b * T + t) * C + c] += n->grad[b * C + c] * inv;
}

const ds_opdef ds__op_token_mean = {"token_mean", token_mean_infer, token_mean_forward,
                                    token_mean_backward, 0};

ds_node ds_token_mean(ds_graph *g, ds_node x) {
  return ds__add_node(g, DS_OP_TOKEN_MEAN, 1, &x, NULL, 0, NULL, 0);
}

/* ---- slice: iattr[0] start, iattr[1] len ---- */

static ds_status slice_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  char s1[64];
  int64_t start = n->iattr[0], len = n->iattr[1];
  if (x->shape.rank < 2 || start < 0 || len < 1 || start + len > x->shape.dim[1])
    return ds__node_error(n, DS_EINVAL, "tokens %lld..%lld are not inside dim 1 of '%s' %s",
                          (long long)start, (long long)(start + len - 1), x->name,
                          ds_shape_str(&x->shape, s1, 64));
  n->shape = x->shape;
  n->shape.dim[1] = len;
  return DS_OK;
}

/* Copies (or, backward, adds) each sample's window: rows of `inner` floats. */
static void slice_walk(ds_graph *g, ds_nodedata *n, bool backward) {
  ds_nodedata *x = ds__in(g, n, 0);
  int64_t B = x->shape.dim[0], T = x->shape.dim[1], len = n->shape.dim[1];
  int64_t inner = ds__numel(x) / (B * T), start = n->iattr[0];
  for (int64_t b = 0; b < B; b++) {
    float *xs = (backward ? x->grad : x->val) + (b * T + start) * inner;
    float *ys = (backward ? n->grad : n->val) + b * len * inner;
    if (backward)
      for (int64_t i = 0; i < len * inner; i++)
        xs[i] += ys[i];
    else
      memcpy(ys, xs, (size_t)(len * inner) * sizeof(float));
  }
}
static void slice_forward(ds_graph *g, ds_nodedata *n) { slice_walk(g, n, false); }
static void slice_backward(ds_graph *g, ds_nodedata *n) {
  if (ds__in(g, n, 0)->grad) slice_walk(g, n, true);
}

const ds_opdef ds__op_slice = {"slice", slice_infer, slice_forward, slice_backward, 0};

ds_node ds_slice(ds_graph *g, ds_node x, int64_t start, int64_t len) {
  int64_t attr[2] = {start, len};
  return ds__add_node(g, DS_OP_SLICE, 1, &x, attr, 2, NULL, 0);
}
