/* Loss ops. Each produces per-sample losses (B); the objective (mean, tilted, ...) weights them
 * through the seed gradient of ds_graph_backward. */
#include <math.h>

#include "ops/op_list.h"

/* ---- softmax cross-entropy: logits (B, [T,] C), labels (B[, T]) -> (B); aux = softmax ----
 * With positions (a language model's tokens) a sample's loss is the mean over its T positions,
 * so per-sample objectives keep weighting samples: loss_i = (1/T) sum_t ce(z_it, y_it). */

static ds_status ce_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *z = ds__in(g, n, 0), *y = ds__in(g, n, 1);
  char s1[64], s2[64];
  if (z->shape.rank < 2 || z->shape.rank > 3)
    return ds__node_error(n, DS_ESHAPE,
                          "logits '%s' have shape %s; expected (B, classes) or "
                          "(B, T, classes)",
                          z->name, ds_shape_str(&z->shape, s1, 64));
  int64_t C = z->shape.dim[z->shape.rank - 1];
  if (ds__numel(y) != ds__numel(z) / C || y->shape.dim[0] != z->shape.dim[0])
    return ds__node_error(
        n, DS_ESHAPE, "labels '%s' %s do not match the positions of logits '%s' %s", y->name,
        ds_shape_str(&y->shape, s1, 64), z->name, ds_shape_str(&z->shape, s2, 64));
  if (!(n->fattr[0] >= 0.0f && n->fattr[0] < 1.0f))
    return ds__node_error(n, DS_EINVAL, "label_smoothing %g is not in [0, 1)", n->fattr[0]);
  n->shape = ds_shape1(z->shape.dim[0]);
  n->aux_size = ds__numel(z);
  return DS_OK;
}

/* B samples, T positions per sample, C classes. */
static void ce_dims(ds_graph *g, const ds_nodedata *n, int64_t *B, int64_t *T, int64_t *C) {
  const ds_nodedata *z = ds__in(g, n, 0);
  *B = z->shape.dim[0];
  *C = z->shape.dim[z->shape.rank - 1];
  *T = ds__numel(z) / (*B * *C);
}

static void ce_forward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *z = ds__in(g, n, 0), *y = ds__in(g, n, 1);
  int64_t B, T, C;
  ce_dims(g, n, &B, &T, &C);
  const float s = n->fattr[0];
  int64_t bad = -1;
#pragma omp parallel for schedule(static) if (B * T * C > 32768)
  for (int64_t i = 0; i < B; i++) {
    double li = 0;
    for (int64_t r = i * T; r < (i + 1) * T; r++) {
      const float *zi = z->val + r * C;
      float *p = n->aux + r * C;
      float label = y->val[r];
      int64_t t = (int64_t)label;
      if (!(label >= 0.0f && label < (float)C) || (float)t != label) {
#pragma omp critical
        if (bad < 0 || r < bad) bad = r;
        t = 0;
      }
      float mx = zi[0];
      for (int64_t c = 1; c < C; c++)
        mx = zi[c] > mx ? zi[c] : mx;
      double sum = 0, zsum = 0;
      for (int64_t c = 0; c < C; c++) {
        p[c] = expf(zi[c] - mx);
        sum += p[c];
        zsum += zi[c];
      }
      float inv = (float)(1.0 / sum);
      for (int64_t c = 0; c < C; c++)
        p[c] *= inv;
      double lse = mx + log(sum);
      /* loss = lse - (1-s) z_t - (s/C) sum_c z_c */
      li += lse - (1.0 - s) * zi[t] - (s / (double)C) * zsum;
    }
    n->val[i] = (float)(li / (double)T);
  }
  if (bad >= 0)
    g->run_status =
        ds__node_error(n, DS_EINVAL, "label %g of sample %lld is not a class in 0..%lld",
                       y->val[bad], (long long)(bad / T), (long long)C - 1);
}

static void ce_backward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *z = ds__in(g, n, 0), *y = ds__in(g, n, 1);
  if (!z->grad) return;
  int64_t B, T, C;
  ce_dims(g, n, &B, &T, &C);
  const float s = n->fattr[0], off = s / (float)C;
#pragma omp parallel for schedule(static) if (B * T * C > 32768)
  for (int64_t r = 0; r < B * T; r++) {
    const float *p = n->aux + r * C;
    float *dz = z->grad + r * C, w = n->grad[r / T] / (float)T;
    int64_t t = (int64_t)y->val[r];
    if (t < 0 || t >= C) t = 0;
    for (int64_t c = 0; c < C; c++)
      dz[c] += w * (p[c] - off);
    dz[t] -= w * (1.0f - s);
  }
}

const ds_opdef ds__op_cross_entropy = {"cross_entropy", ce_infer, ce_forward, ce_backward, 0};

ds_node ds_cross_entropy(ds_graph *g, ds_node logits, ds_node labels, float label_smoothing) {
  ds_node in[2] = {logits, labels};
  return ds__add_node(g, DS_OP_CROSS_ENTROPY, 2, in, NULL, 0, &label_smoothing, 1);
}

/* ---- regression losses: prediction and target of the same size per sample ---- */

static ds_status mse_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *p = ds__in(g, n, 0), *t = ds__in(g, n, 1);
  char s1[64], s2[64];
  if (p->shape.rank < 1 || ds__numel(p) != ds__numel(t) || t->shape.dim[0] != p->shape.dim[0])
    return ds__node_error(n, DS_ESHAPE, "prediction '%s' %s and target '%s' %s differ", p->name,
                          ds_shape_str(&p->shape, s1, 64), t->name,
                          ds_shape_str(&t->shape, s2, 64));
  n->shape = ds_shape1(p->shape.dim[0]);
  return DS_OK;
}

/* ---- regression losses: loss_i = mean_j rho(pred_ij - target_ij) over the K outputs ----
 *   mse    rho(d) = d^2                                   rho'(d) = 2 d
 *   l1     rho(d) = |d|                                   rho'(d) = sign(d) (0 at 0, as PyTorch)
 *   huber  rho(d) = d^2/2 if |d| < delta, else delta (|d| - delta/2)   rho'(d) = clamp(d, -delta,
 * delta) (torch.nn.MSELoss, L1Loss, HuberLoss(delta) with reduction='none', averaged per sample).
 */

typedef enum { REG_MSE, REG_L1, REG_HUBER } reg_kind;

static inline double reg_rho(reg_kind k, double d, double delta) {
  double a = fabs(d);
  switch (k) {
  case REG_MSE: return d * d;
  case REG_L1: return a;
  default: return a < delta ? 0.5 * d * d : delta * (a - 0.5 * delta);
  }
}

static inline float reg_drho(reg_kind k, float d, float delta) {
  switch (k) {
  case REG_MSE: return 2.0f * d;
  case REG_L1: return (float)((d > 0) - (d < 0));
  default: return d < -delta ? -delta : d > delta ? delta : d;
  }
}

static void reg_forward(ds_graph *g, ds_nodedata *n, reg_kind k) {
  ds_nodedata *p = ds__in(g, n, 0), *t = ds__in(g, n, 1);
  int64_t B = n->shape.dim[0], K = ds__numel(p) / B;
  for (int64_t i = 0; i < B; i++) {
    double s = 0;
    for (int64_t j = 0; j < K; j++)
      s += reg_rho(k, (double)p->val[i * K + j] - t->val[i * K + j], n->fattr[0]);
    n->val[i] = (float)(s / (double)K);
  }
}

static void reg_backward(ds_graph *g, ds_nodedata *n, reg_kind k) {
  ds_nodedata *p = ds__in(g, n, 0), *t = ds__in(g, n, 1);
  int64_t B = n->shape.dim[0], K = ds__numel(p) / B;
  for (int64_t i = 0; i < B; i++) {
    float c = n->grad[i] / (float)K;
    for (int64_t j = 0; j < K; j++) {
      float d = reg_drho(k, p->val[i * K + j] - t->val[i * K + j], n->fattr[0]);
      if (p->grad) p->grad[i * K + j] += c * d;
      if (t->grad) t->grad[i * K + j] -= c * d;
    }
  }
}

static void mse_forward(ds_graph *g, ds_nodedata *n) { reg_forward(g, n, REG_MSE); }
static void mse_backward(ds_graph *g, ds_nodedata *n) { reg_backward(g, n, REG_MSE); }
const ds_opdef ds__op_mse = {"mse", mse_infer, mse_forward, mse_backward, 0};

static void l1_forward(ds_graph *g, ds_nodedata *n) { reg_forward(g, n, REG_L1); }
static void l1_backward(ds_graph *g, ds_nodedata *n) { reg_backward(g, n, REG_L1); }
const ds_opdef ds__op_l1 = {"l1", mse_infer, l1_forward, l1_backward, 0};

static ds_status huber_infer(ds_graph *g, ds_nodedata *n) {
  if (!(n->fattr[0] > 0.0f) || !isfinite(n->fattr[0]))
    return ds__node_error(n, DS_EINVAL, "huber delta %g must be > 0", n->fattr[0]);
  return mse_infer(g, n);
}
static void huber_forward(ds_graph *g, ds_nodedata *n) { reg_forward(g, n, REG_HUBER); }
static void huber_backward(ds_graph *g, ds_nodedata *n) { reg_backward(g, n, REG_HUBER); }
const ds_opdef ds__op_huber = {"huber", huber_infer, huber_forward, huber_backward, 0};

ds_node ds_mse(ds_graph *g, ds_node pred, ds_node target) {
  ds_node in[2] = {pred, target};
  return ds__add_node(g, DS_OP_MSE, 2, in, NULL, 0, NULL, 0);
}

ds_node ds_l1(ds_graph *g, ds_node pred, ds_node target) {
  ds_node in[2] = {pred, target};
  return ds__add_node(g, DS_OP_L1, 2, in, NULL, 0, NULL, 0);
}

ds_node ds_huber(ds_graph *g, ds_node pred, ds_node target, float delta) {
  ds_node in[2] = {pred, target};
  return ds__add_node(g, DS_OP_HUBER, 2, in, NULL, 0, &delta, 1);
}
