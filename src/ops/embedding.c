/* Embedding ops: token lookup, a learned per-position table added to every sample, and a learned
 * token prepended to every sample (ViT's class token).
 *
 *   embedding      ids (B, ...) holding integer token ids as floats, table (V, C)
 *                  -> (B, ..., C): row ids[i] of the table; backward scatters (adds) each output
 *                  row's gradient into row ids[i] of the table's gradient (ids get none).
 *   add_broadcast  x (B, S...) + p (S...): p added to every sample (positional embeddings);
 *                  dp += sum_b dy_b.
 *   token_prepend  x (B, T, C), t (C) -> (B, T + 1, C) with t as token 0 of every sample. */
#include <string.h>

#include "ops/op_list.h"

/* ---- embedding: in = (ids, table) ---- */

static ds_status embedding_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *ids = ds__in(g, n, 0), *w = ds__in(g, n, 1);
  char s1[64], s2[64];
  if (w->shape.rank != 2 || ids->shape.rank < 1 || ids->shape.rank > DS_MAX_RANK - 1)
    return ds__node_error(n, DS_ESHAPE,
                          "ids '%s' %s and table '%s' %s: need ids (B[, T]) and a "
                          "table (V, C)",
                          ids->name, ds_shape_str(&ids->shape, s1, 64), w->name,
                          ds_shape_str(&w->shape, s2, 64));
  n->shape = ids->shape;
  n->shape.dim[n->shape.rank++] = w->shape.dim[1];
  return DS_OK;
}

static void embedding_forward(ds_graph *g, ds_nodedata *n) {
  const ds_nodedata *ids = ds__in(g, n, 0), *w = ds__in(g, n, 1);
  int64_t m = ds__numel(ids), V = w->shape.dim[0], C = w->shape.dim[1];
  for (int64_t i = 0; i < m; i++) {
    float f = ids->val[i];
    int64_t t = (int64_t)f;
    if (!(f >= 0.0f && f < (float)V) || (float)t != f) {
      g->run_status = ds__node_error(n, DS_EINVAL, "token id %g at position %lld is not in 0..%lld",
                                     f, (long long)i, (long long)V - 1);
      t = 0;
    }
    memcpy(n->val + i * C, w->val + t * C, (size_t)C * sizeof(float));
  }
}

static void embedding_backward(ds_graph *g, ds_nodedata *n) {
  const ds_nodedata *ids = ds__in(g, n, 0), *w = ds__in(g, n, 1);
  if (!w->grad) return;
  int64_t m = ds__numel(ids), V = w->shape.dim[0], C = w->shape.dim[1];
  for (int64_t i = 0; i < m; i++) { /* serial: tokens repeat, rows collide */
    int64_t t = (int64_t)ids->val[i];
    if (t < 0 || t >= V) continue;
    float *dw = w->grad + t * C;
    const float *dy = n->grad + i * C;
    for (int64_t c = 0; c < C; c++)
      dw[c] += dy[c];
  }
}

const ds_opdef ds__op_embedding = {"embedding", embedding_infer, embedding_forward,
                                   embedding_backward, 0};

ds_node ds_embedding(ds_graph *g, ds_node ids, ds_node table) {
  ds_node in[2] = {ids, table};
  return ds__add_node(g, DS_OP_EMBEDDING, 2, in, NULL, 0, NULL, 0);
}

/* ---- add_broadcast: in = (x, p) ---- */

static ds_status add_broadcast_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0), *p = ds__in(g, n, 1);
  char s1[64], s2[64];
  bool ok = x->shape.rank == p->shape.rank + 1;
  for (int i = 0; ok && i < p->shape.rank; i++)
    ok = p->shape.dim[i] == x->shape.dim[i + 1];
  if (!ok)
    return ds__node_error(n, DS_ESHAPE, "'%s' %s is not the per-sample shape of '%s' %s", p->name,
                          ds_shape_str(&p->shape, s1, 64), x->name,
                          ds_shape_str(&x->shape, s2, 64));
  n->shape = x->shape;
  return DS_OK;
}

static void add_broadcast_forward(ds_graph *g, ds_nodedata *n) {
  const float *x = ds__in(g, n, 0)->val, *p = ds__in(g, n, 1)->val;
  int64_t B = n->shape.dim[0], S = ds__numel(n) / B;
  for (int64_t b = 0; b < B; b++) {
    float *y = n->val + b * S;
    const float *xb = x + b * S;
    for (int64_t s = 0; s < S; s++)
      y[s] = xb[s] + p[s];
  }
}

static void add_broadcast_backward(ds_graph *g, ds_nodedata *n) {
  float *dx = ds__in(g, n, 0)->grad, *dp = ds__in(g, n, 1)->grad;
  int64_t B = n->shape.dim[0], S = ds__numel(n) / B;
  for (int64_t b = 0; b < B; b++) {
    const float *dy = n->grad + b * S;
    if (dx)
      for (int64_t s = 0; s < S; s++)
        dx[b * S + s] += dy[s];
    if (dp)
      for (int64_t s = 0; s < S; s++)
        dp[s] += dy[s];
  }
}

const ds_opdef ds__op_add_broadcast = {"add_broadcast", add_broadcast_infer, add_broadcast_forward,
                                       add_broadcast_backward, 0};

ds_node ds_add_broadcast(ds_graph *g, ds_node x, ds_node p) {
  ds_node in[2] = {x, p};
  return ds__add_node(g, DS_OP_ADD_BROADCAST, 2, in, NULL, 0, NULL, 0);
}

/* ---- token_prepend: in = (x, t) ---- */

static ds_status token_prepend_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0), *t = ds__in(g, n, 1);
  char s1[64], s2[64];
  if (x->shape.rank != 3 || t->shape.rank != 1 || t->shape.dim[0] != x->shape.dim[2])
    return ds__node_error(n, DS_ESHAPE, "token '%s' %s does not fit tokens '%s' %s (B, T, C)",
                          t->name, ds_shape_str(&t->shape, s1, 64), x->name,
                          ds_shape_str(&x->shape, s2, 64));
  n->shape = x->shape;
  n->shape.dim[1]++;
  return DS_OK;
}

static void token_prepend_forward(ds_graph *g, ds_nodedata *n) {
  const float *x = ds__in(g, n, 0)->val, *t = ds__in(g, n, 1)->val;
  int64_t B = n->shape.dim[0], T = n->shape.dim[1] - 1, C = n->shape.dim[2];
  for (int64_t b = 0; b < B; b++) {
    float *y = n->val + b * (T + 1) * C;
    memcpy(y, t, (size_t)C * sizeof(float));
    memcpy(y + C, x + b * T * C, (size_t)(T * C) * sizeof(float));
  }
}

static void token_prepend_backward(ds_graph *g, ds_nodedata *n) {
  float *dx = ds__in(g, n, 0)->grad, *dt = ds__in(g, n, 1)->grad;
  int64_t B = n->shape.dim[0], T = n->shape.dim[1] - 1, C = n->shape.dim[2];
  for (int64_t b = 0; b < B; b++) {
    const float *dy = n->grad + b * (T + 1) * C;
    if (dt)
      for (int64_t c = 0; c < C; c++)
        dt[c] += dy[c];
    if (dx)
      for (int64_t i = 0; i < T * C; i++)
        dx[b * T * C + i] += dy[C + i];
  }
}

const ds_opdef ds__op_token_prepend = {"token_prepend", token_prepend_infer, token_prepend_forward,
                                       token_prepend_backward, 0};

ds_node ds_token_prepend(ds_graph *g, ds_node x, ds_node token) {
  ds_node in[2] = {x, token};
  return ds__add_node(g, DS_OP_TOKEN_PREPEND, 2, in, NULL, 0, NULL, 0);
}
