/* Normalization layers: batch norm, layer norm, group norm, instance norm (PyTorch semantics).
 *
 * Shapes: x (B, C[, H, W]) for batch/group/instance norm, (B, ...) for layer norm; S = H*W (or the
 * product of the dims after C). Statistics accumulate in double; the population variance
 * normalises, eps inside the square root: y = (x - mean) / sqrt(var + eps) * gain + bias.
 *
 * Layer, group and instance norm share one kernel: each sample is cut into R contiguous rows of M
 * elements that are normalized on their own (layer norm: the trailing dims; group norm: C/G
 * channels x S; instance norm: one channel x S). The affine index of element j of row r is
 * (r % G) * (M / S) + j / S, which is j for layer norm (G = S = 1) and the channel otherwise.
 *
 * Inputs: in[0] = x, in[1] = gain, in[2] = bias (both or neither; gain and bias of batch/group/
 * instance norm are (C), of layer norm the normalized shape). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/op_list.h"
#include "ops/reduce.h"

/* Checks the optional affine inputs against the expected shape. */
static ds_status check_affine(ds_graph *g, ds_nodedata *n, ds_shape want) {
  char s1[64], s2[64];
  if (n->n_in != 1 && n->n_in != 3)
    return ds__node_error(n, DS_EINVAL, "give both gain and bias or neither");
  for (int k = 1; k < n->n_in; k++) {
    ds_nodedata *p = ds__in(g, n, k);
    if (!ds_shape_equal(&p->shape, &want))
      return ds__node_error(n, DS_ESHAPE, "%s '%s' has shape %s; expected %s",
                            k == 1 ? "gain" : "bias", p->name, ds_shape_str(&p->shape, s1, 64),
                            ds_shape_str(&want, s2, 64));
  }
  return DS_OK;
}

static const float *gain_of(ds_graph *g, ds_nodedata *n) {
  return n->n_in == 3 ? ds__in(g, n, 1)->val : NULL;
}
static const float *bias_of(ds_graph *g, ds_nodedata *n) {
  return n->n_in == 3 ? ds__in(g, n, 2)->val : NULL;
}
static float *dgain_of(ds_graph *g, ds_nodedata *n) {
  return n->n_in == 3 ? ds__in(g, n, 1)->grad : NULL;
}
static float *dbias_of(ds_graph *g, ds_nodedata *n) {
  return n->n_in == 3 ? ds__in(g, n, 2)->grad : NULL;
}

/* ================================ batch norm ================================================ */
/* iattr[0] = running-mean buffer, iattr[1] = running-var buffer; fattr[0] = momentum, fattr[1] =
 * eps. aux = mean (C), rstd (C) used by the last forward, then a flag: 1 if it used batch stats. */

static ds_status bn_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  char s1[64];
  if (x->shape.rank < 2)
    return ds__node_error(n, DS_ESHAPE, "input '%s' has shape %s; expected (B, C[, H, W])", x->name,
                          ds_shape_str(&x->shape, s1, 64));
  int64_t C = x->shape.dim[1];
  if (g->buffers->info[n->iattr[0]].numel != C || g->buffers->info[n->iattr[1]].numel != C)
    return ds__node_error(n, DS_ESHAPE, "running statistics do not have %lld channels",
                          (long long)C);
  if (!(n->fattr[0] >= 0.0f && n->fattr[0] <= 1.0f))
    return ds__node_error(n, DS_EINVAL, "momentum %g is not in [0, 1]", n->fattr[0]);
  if (!(n->fattr[1] > 0.0f)) return ds__node_error(n, DS_EINVAL, "eps %g must be > 0", n->fattr[1]);
  ds_status st = check_affine(g, n, ds_shape1(C));
  if (st) return st;
  n->shape = x->shape;
  n->aux_size = 2 * C + 1;
  return DS_OK;
}

static void bn_forward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  const float *gain = gain_of(g, n), *bias = bias_of(g, n);
  int64_t B = x->shape.dim[0], C = x->shape.dim[1], S = ds__numel(x) / (B * C), cnt = B * S;
  float *rm = g->buffers->data + g->buffers->info[n->iattr[0]].offset;
  float *rv = g->buffers->data + g->buffers->info[n->iattr[1]].offset;
  float *mean = n->aux, *rstd = n->aux + C;
  const double mom = n->fattr[0], eps = n->fattr[1];
  bool batch_stats = g->training;
  if (batch_stats && cnt < 2) { /* reported unless an earlier node already failed */
    char s1[64];
    if (g->run_status == DS_OK)
      g->run_status = ds__node_error(
          n, DS_EINVAL,
          "batch norm in training needs more than one value per channel; input '%s' is %s (use a "
          "batch of >= 2, or group/layer norm)",
          x->name, ds_shape_str(&x->shape, s1, 64));
    batch_stats = false; /* keep the output finite; the step is reported as failed */
  }
  n->aux[2 * C] = batch_stats ? 1.0f : 0.0f;
#pragma omp parallel for if (B * C * S > 32768) schedule(static)
  for (int64_t c = 0; c < C; c++) {
    double m, v;
    if (batch_stats) {
      /* one pass of shifted sums (shift: the channel's first value, so the sums stay small and
       * var = E[d^2] - E[d]^2 does not cancel), in float lanes per plane, double across planes */
      const float k0 = x->val[c * S];
      double s = 0, ss = 0;
      for (int64_t b = 0; b < B; b++) {
        double ps, pss;
        ds__shifted_sums16(x->val + (b * C + c) * S, S, k0, &ps, &pss);
        s += ps, ss += pss;
      }
      double md = s / (double)cnt;
      m = k0 + md;
      v = ss / (double)cnt - md * md;
      if (v < 0) v = 0;
      /* PyTorch: running = (1 - momentum) running + momentum batch, with the unbiased variance */
      if (g->update_buffers) {
        rm[c] = (float)((1.0 - mom) * rm[c] + mom * m);
        rv[c] = (float)((1.0 - mom) * rv[c] + mom * v * (double)cnt / (double)(cnt - 1));
      }
    } else {
      m = rm[c];
      v = rv[c];
    }
    mean[c] = (float)m;
    rstd[c] = (float)(1.0 / sqrt(v + eps));
    /* (x - mean) first: folding the mean into the shift would cancel when |mean| >> std */
    const float a = rstd[c] * (gain ? gain[c] : 1.0f), sh = bias ? bias[c] : 0.0f, mu = mean[c];
    for (int64_t b = 0; b < B; b++) {
      const float *restrict p = x->val + (b * C + c) * S;
      float *restrict y = n->val + (b * C + c) * S;
      for (int64_t k = 0; k < S; k++)
        y[k] = (p[k] - mu) * a + sh;
    }
  }
}

static void bn_backward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  const float *gain = gain_of(g, n);
  float *dgain = dgain_of(g, n), *dbias = dbias_of(g, n), *dx = x->grad;
  int64_t B = x->shape.dim[0], C = x->shape.dim[1], S = ds__numel(x) / (B * C), cnt = B * S;
  const float *mean = n->aux, *rstd = n->aux + C;
  const bool batch_stats = n->aux[2 * C] != 0.0f, fresh = x->grad_fresh;
#pragma omp parallel for if (B * C * S > 32768) schedule(static)
  for (int64_t c = 0; c < C; c++) {
    double sdy = 0, sdyx = 0; /* sum dy, sum dy (x - mean); times rstd below: sum dy xhat */
    for (int64_t b = 0; b < B; b++) {
      double p1, p2;
      ds__dot_sums16(n->grad + (b * C + c) * S, x->val + (b * C + c) * S, S, mean[c], &p1, &p2);
      sdy += p1, sdyx += p2;
    }
    sdyx *= rstd[c];
    if (dgain) dgain[c] += (float)sdyx;
    if (dbias) dbias[c] += (float)sdy;
    if (!dx) continue;
    const float a = rstd[c] * (gain ? gain[c] : 1.0f);
    /* batch stats: dx = a (dy - mean(dy) - xhat mean(dy xhat)); running stats: dx = a dy.
     * As dx += a dy + k1 (x - mean) + k0 with k1 = -a rstd mean(dy xhat), k0 = -a mean(dy). */
    const float mdy = batch_stats ? (float)(sdy / (double)cnt) : 0.0f;
    const float mdyx = batch_stats ? (float)(sdyx / (double)cnt) : 0.0f;
    const float k1 = -a * rstd[c] * mdyx, k0 = -a * mdy, mu = mean[c];
    for (int64_t b = 0; b < B; b++) {
      const float *restrict p = x->val + (b * C + c) * S, *restrict dy = n->grad + (b * C + c) * S;
      float *restrict d = dx + (b * C + c) * S;
      if (fresh)
        for (int64_t k = 0; k < S; k++)
          d[k] = a * dy[k] + (k1 * (p[k] - mu) + k0);
      else
        for (int64_t k = 0; k < S; k++)
          d[k] += a * dy[k] + (k1 * (p[k] - mu) + k0);
    }
  }
}

const ds_opdef ds__op_batchnorm = {"batchnorm", bn_infer, bn_forward, bn_backward, 1};

ds_node ds_batchnorm(ds_graph *g, const char *name, ds_node x, ds_node gain, ds_node bias,
                     float momentum, float eps) {
  if (!g) return ds_set_error(DS_EINVAL, "batchnorm: graph is NULL");
  if (ds_node_failed(x)) return x; /* an earlier builder failed */
  if (x < 0 || x >= g->n_nodes)
    return ds_set_error(DS_EINVAL, "batchnorm: node %d does not exist", x);
  if ((gain == DS_NONE) != (bias == DS_NONE))
    return ds_set_error(DS_EINVAL, "batchnorm '%s': give both gain and bias or neither",
                        name ? name : "");
  if (g->compiled)
    return ds_set_error(DS_ESTATE, "batchnorm '%s': the graph is already compiled",
                        name ? name : "");
  ds_shape xs = g->nodes[x].shape;
  if (xs.rank < 2)
    return ds_set_error(DS_ESHAPE, "batchnorm '%s': input '%s' needs shape (B, C[, H, W])",
                        name ? name : "", g->nodes[x].name);
  for (int k = 0; k < 2 && gain != DS_NONE; k++) { /* checked before the buffers are created */
    ds_node p = k ? bias : gain;
    if (ds_node_failed(p)) return p;
    if (p < 0 || p >= g->n_nodes)
      return ds_set_error(DS_EINVAL, "batchnorm '%s': node %d does not exist", name ? name : "", p);
    ds_shape ps = g->nodes[p].shape, want = ds_shape1(xs.dim[1]);
    char s1[64], s2[64];
    if (!ds_shape_equal(&ps, &want))
      return ds_set_error(DS_ESHAPE, "batchnorm '%s': %s '%s' has shape %s; expected %s",
                          name ? name : "", k ? "bias" : "gain", g->nodes[p].name,
                          ds_shape_str(&ps, s1, 64), ds_shape_str(&want, s2, 64));
  }
  char bname[DS_NAME_MAX + 16];
  snprintf(bname, sizeof bname, "%s.running_mean", name ? name : "batchnorm");
  if (ds_paramset_find(g->buffers, bname) >= 0)
    return ds_set_error(DS_EINVAL, "batchnorm: buffer name '%s' is used twice", bname);
  int rm = ds__graph_add_buffer(g, bname, ds_shape1(xs.dim[1]), 0.0f);
  if (rm < 0) return rm;
  snprintf(bname, sizeof bname, "%s.running_var", name ? name : "batchnorm");
  int rv = ds__graph_add_buffer(g, bname, ds_shape1(xs.dim[1]), 1.0f);
  if (rv < 0) return rv;
  ds_node in[3] = {x, gain, bias};
  int64_t ia[2] = {rm, rv};
  float fa[2] = {momentum, eps};
  return ds__add_node(g, DS_OP_BATCHNORM, gain == DS_NONE ? 1 : 3, in, ia, 2, fa, 2);
}

/* ============================ row kernel (layer / group / instance) ========================= */

typedef struct {
  int64_t R, M, G, S; /* rows, row length, groups (row r is group r % G), spatial stride */
} rows_t;

/* Index of the affine entry of element j of a row: j / S after a0; S == 1 (layer norm over the
 * last axis: a transformer's tokens) without the division, which would dominate the loop. */
static inline int64_t affine_at(int64_t a0, int64_t j, int64_t S) {
  return S == 1 ? a0 + j : a0 + j / S;
}

static void rows_forward(ds_graph *g, ds_nodedata *n, rows_t k, float eps) {
  const float *x = ds__in(g, n, 0)->val, *gain = gain_of(g, n), *bias = bias_of(g, n);
  float *mean = n->aux, *rstd = n->aux + k.R;
  int64_t per = k.M / k.S;
#pragma omp parallel for if (k.R * k.M > 32768) schedule(static)
  for (int64_t r = 0; r < k.R; r++) {
    const float *p = x + r * k.M;
    float *y = n->val + r * k.M;
    double s = 0, ss = 0;
    for (int64_t j = 0; j < k.M; j++)
      s += p[j];
    double m = s / (double)k.M;
    for (int64_t j = 0; j < k.M; j++)
      ss += (p[j] - m) * (p[j] - m);
    mean[r] = (float)m;
    rstd[r] = (float)(1.0 / sqrt(ss / (double)k.M + eps));
    int64_t a0 = (r % k.G) * per;
    for (int64_t j = 0; j < k.M; j++) {
      float xh = (p[j] - mean[r]) * rstd[r];
      int64_t a = affine_at(a0, j, k.S);
      y[j] = gain ? xh * gain[a] + bias[a] : xh;
    }
  }
}

static void rows_backward(ds_graph *g, ds_nodedata *n, rows_t k) {
  ds_nodedata *xn = ds__in(g, n, 0);
  const float *x = xn->val, *gain = gain_of(g, n);
  float *dx = xn->grad, *dgain = dgain_of(g, n), *dbias = dbias_of(g, n);
  const float *mean = n->aux, *rstd = n->aux + k.R;
  int64_t per = k.M / k.S;
  if (dgain || dbias) /* serial: rows share affine entries */
    for (int64_t r = 0; r < k.R; r++) {
      const float *p = x + r * k.M, *dy = n->grad + r * k.M;
      int64_t a0 = (r % k.G) * per;
      for (int64_t j = 0; j < k.M; j++) {
        int64_t a = affine_at(a0, j, k.S);
        if (dgain) dgain[a] += dy[j] * (p[j] - mean[r]) * rstd[r];
        if (dbias) dbias[a] += dy[j];
      }
    }
  if (!dx) return;
#pragma omp parallel for if (k.R * k.M > 32768) schedule(static)
  for (int64_t r = 0; r < k.R; r++) {
    const float *p = x + r * k.M, *dy = n->grad + r * k.M;
    int64_t a0 = (r % k.G) * per;
    double s1 = 0, s2 = 0; /* sum dxhat, sum dxhat * xhat, dxhat = dy * gain */
    for (int64_t j = 0; j < k.M; j++) {
      float d = gain ? dy[j] * gain[affine_at(a0, j, k.S)] : dy[j];
      s1 += d;
      s2 += d * (p[j] - mean[r]) * rstd[r];
    }
    float m1 = (float)(s1 / (double)k.M), m2 = (float)(s2 / (double)k.M);
    float *d = dx + r * k.M;
    for (int64_t j = 0; j < k.M; j++) {
      float dxh = gain ? dy[j] * gain[affine_at(a0, j, k.S)] : dy[j];
      d[j] += rstd[r] * (dxh - m1 - (p[j] - mean[r]) * rstd[r] * m2);
    }
  }
}

/* ================================ layer norm ================================================ */
/* iattr[0] = number of trailing dims normalized (PyTorch LayerNorm(normalized_shape)); fattr[0] =
 * eps. Gain and bias have the normalized shape. */

static ds_status ln_rows(ds_graph *g, ds_nodedata *n, rows_t *k, ds_shape *norm_shape) {
  ds_nodedata *x = ds__in(g, n, 0);
  int nd = (int)n->iattr[0];
  char s1[64];
  if (nd < 1 || nd > x->shape.rank - 1)
    return ds__node_error(n, DS_ESHAPE,
                          "cannot normalize the last %d dims of '%s' %s (1..rank-1 allowed)", nd,
                          x->name, ds_shape_str(&x->shape, s1, 64));
  int64_t M = 1, dims[DS_MAX_RANK];
  for (int i = 0; i < nd; i++)
    M *= (dims[i] = x->shape.dim[x->shape.rank - nd + i]);
  *norm_shape = ds_shape_make(nd, dims);
  *k = (rows_t){ds__numel(x) / M, M, 1, 1};
  return DS_OK;
}

/* The common end of the row-normalising infers (layer, group, instance): eps > 0, output shaped as
 * the input, aux for the mean and inverse std of each of the k.R rows. */
static ds_status rows_infer_finish(ds_graph *g, ds_nodedata *n, rows_t k) {
  if (!(n->fattr[0] > 0.0f)) return ds__node_error(n, DS_EINVAL, "eps %g must be > 0", n->fattr[0]);
  n->shape = ds__in(g, n, 0)->shape;
  n->aux_size = 2 * k.R;
  return DS_OK;
}

static ds_status ln_infer(ds_graph *g, ds_nodedata *n) {
  rows_t k = {1, 1, 1, 1};
  ds_shape ns;
  ds_status st = ln_rows(g, n, &k, &ns);
  if (!st) st = check_affine(g, n, ns);
  if (st) return st;
  return rows_infer_finish(g, n, k);
}
static void ln_forward(ds_graph *g, ds_nodedata *n) {
  rows_t k = {1, 1, 1, 1};
  ds_shape ns;
  ln_rows(g, n, &k, &ns);
  rows_forward(g, n, k, n->fattr[0]);
}
static void ln_backward(ds_graph *g, ds_nodedata *n) {
  rows_t k = {1, 1, 1, 1};
  ds_shape ns;
  ln_rows(g, n, &k, &ns);
  rows_backward(g, n, k);
}
const ds_opdef ds__op_layernorm = {"layernorm", ln_infer, ln_forward, ln_backward, 0};

ds_node ds_layernorm(ds_graph *g, ds_node x, ds_node gain, ds_node bias, int ndims, float eps) {
  if ((gain == DS_NONE) != (bias == DS_NONE))
    return ds_set_error(DS_EINVAL, "layernorm: give both gain and bias or neither");
  ds_node in[3] = {x, gain, bias};
  int64_t ia = ndims;
  return ds__add_node(g, DS_OP_LAYERNORM, gain == DS_NONE ? 1 : 3, in, &ia, 1, &eps, 1);
}

/* ============================ group norm / instance norm ==================================== */
/* groupnorm: iattr[0] = G; instancenorm: G = C. fattr[0] = eps. Gain and bias (C). */

static ds_status gn_rows(ds_graph *g, ds_nodedata *n, rows_t *k) {
  ds_nodedata *x = ds__in(g, n, 0);
  char s1[64];
  if (x->shape.rank < 2)
    return ds__node_error(n, DS_ESHAPE, "input '%s' has shape %s; expected (B, C[, H, W])", x->name,
                          ds_shape_str(&x->shape, s1, 64));
  int64_t B = x->shape.dim[0], C = x->shape.dim[1], S = ds__numel(x) / (B * C);
  int64_t G = n->op == DS_OP_INSTANCENORM ? C : n->iattr[0];
  if (G < 1 || C % G)
    return ds__node_error(n, DS_EINVAL, "%lld groups do not divide the %lld channels of '%s'",
                          (long long)G, (long long)C, x->name);
  if (n->op == DS_OP_INSTANCENORM && S < 2)
    return ds__node_error(n, DS_ESHAPE,
                          "instance norm needs more than one spatial element; '%s' is %s", x->name,
                          ds_shape_str(&x->shape, s1, 64));
  *k = (rows_t){B * G, (C / G) * S, G, S};
  return DS_OK;
}

static ds_status gn_infer(ds_graph *g, ds_nodedata *n) {
  rows_t k = {1, 1, 1, 1};
  ds_status st = gn_rows(g, n, &k);
  if (!st) st = check_affine(g, n, ds_shape1(ds__in(g, n, 0)->shape.dim[1]));
  if (st) return st;
  return rows_infer_finish(g, n, k);
}
static void gn_forward(ds_graph *g, ds_nodedata *n) {
  rows_t k = {1, 1, 1, 1};
  gn_rows(g, n, &k);
  rows_forward(g, n, k, n->fattr[0]);
}
static void gn_backward(ds_graph *g, ds_nodedata *n) {
  rows_t k = {1, 1, 1, 1};
  gn_rows(g, n, &k);
  rows_backward(g, n, k);
}
const ds_opdef ds__op_groupnorm = {"groupnorm", gn_infer, gn_forward, gn_backward, 0};
const ds_opdef ds__op_instancenorm = {"instancenorm", gn_infer, gn_forward, gn_backward, 0};

ds_node ds_groupnorm(ds_graph *g, ds_node x, ds_node gain, ds_node bias, int groups, float eps) {
  if ((gain == DS_NONE) != (bias == DS_NONE))
    return ds_set_error(DS_EINVAL, "groupnorm: give both gain and bias or neither");
  ds_node in[3] = {x, gain, bias};
  int64_t ia = groups;
  return ds__add_node(g, DS_OP_GROUPNORM, gain == DS_NONE ? 1 : 3, in, &ia, 1, &eps, 1);
}

ds_node ds_instancenorm(ds_graph *g, ds_node x, ds_node gain, ds_node bias, float eps) {
  if ((gain == DS_NONE) != (bias == DS_NONE))
    return ds_set_error(DS_EINVAL, "instancenorm: give both gain and bias or neither");
  ds_node in[3] = {x, gain, bias};
  int64_t ia = 0;
  return ds__add_node(g, DS_OP_INSTANCENORM, gain == DS_NONE ? 1 : 3, in, &ia, 1, &eps, 1);
}
