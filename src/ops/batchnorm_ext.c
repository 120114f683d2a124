/* Batch norm with its statistics over other sets of samples than the local batch (ops.h,
 * ds_graph_batchnorm_options):
 *  - ghost batch norm (Hoffer, Hubara, Soudry 2017): the batch is cut into chunks of G samples,
 *    each normalised with its own statistics and updating the running ones in turn (as calling
 *    PyTorch's BatchNorm on every chunk does);
 *  - synchronised batch norm (PyTorch SyncBatchNorm): the statistics of the batch of all processes,
 *    through the graph's reducer (ds_graph_set_reducer): forward reduces sum x, then
 *    sum (x - mean)^2; backward reduces sum dy and sum dy xhat. The parameter gradients stay local
 *    (the gradient allreduce sums them).
 * Same inputs and attributes as batchnorm (norm.c) plus iattr[2] = G (0: the whole batch),
 * iattr[3] = sync. aux = mean (K, C), rstd (K, C) of the K chunks, a flag (batch statistics used),
 * then 2C + 2 doubles of reduction space. Eval mode uses the running statistics, as batchnorm. */
#include <math.h>
#include <string.h>

#include "ops/op_list.h"

/* Chunks of the batch: K and the samples [b0, b1) of chunk q; a remainder too small for a
 * variance joins the previous chunk. */
static int64_t chunks(const ds_nodedata *n, int64_t B, int64_t S) {
  int64_t G = n->iattr[2] > 0 && n->iattr[2] < B ? n->iattr[2] : B, K = (B + G - 1) / G;
  if (K > 1 && (B - (K - 1) * G) * S < 2) K--;
  return K;
}
static void chunk(const ds_nodedata *n, int64_t B, int64_t K, int64_t q, int64_t *b0, int64_t *b1) {
  int64_t G = n->iattr[2] > 0 && n->iattr[2] < B ? n->iattr[2] : B;
  *b0 = q * G;
  *b1 = q == K - 1 ? B : (q + 1) * G;
}

static double *red_of(const ds_nodedata *n, int64_t KC) {
  int64_t off = (2 * KC + 1 + 1) & ~(int64_t)1; /* doubles at an even float offset */
  return (double *)(void *)(n->aux + off);
}

static ds_status bnx_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  if (x->shape.rank < 2)
    return ds__node_error(n, DS_ESHAPE, "input '%s' needs shape (B, C[, H, W])", x->name);
  int64_t B = x->shape.dim[0], C = x->shape.dim[1], S = ds_shape_numel(&x->shape) / (B * C);
  if (n->iattr[2] < 0)
    return ds__node_error(n, DS_EINVAL, "ghost batch %lld must be >= 0", (long long)n->iattr[2]);
  n->shape = x->shape;
  int64_t KC = chunks(n, B, S) * C;
  n->aux_size = ((2 * KC + 2) & ~(int64_t)1) + 2 * (2 * C + 2);
  return DS_OK;
}

/* Sums x[0..m) over the processes in place (sync only); a failure is the step's status. */
static void reduce(ds_graph *g, ds_nodedata *n, double *x, int64_t m) {
  if (!n->iattr[3] || !g->reducer) return;
  ds_status st = g->reducer(g->reducer_ctx, x, m);
  if (st && g->run_status == DS_OK) g->run_status = st;
}

static void bnx_forward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  const float *gain = n->n_in == 3 ? ds__in(g, n, 1)->val : NULL,
              *bias = n->n_in == 3 ? ds__in(g, n, 2)->val : NULL;
  int64_t B = x->shape.dim[0], C = x->shape.dim[1], S = ds__numel(x) / (B * C);
  float *rm = g->buffers->data + g->buffers->info[n->iattr[0]].offset;
  float *rv = g->buffers->data + g->buffers->info[n->iattr[1]].offset;
  const double mom = n->fattr[0], eps = n->fattr[1];
  bool batch_stats = g->training;
  int64_t K = batch_stats ? chunks(n, B, S) : 1;
  float *mean = n->aux, *rstd = n->aux + K * C;
  double *red = red_of(n, K * C);
  n->aux[2 * K * C] = batch_stats ? 1.0f : 0.0f;
  for (int64_t q = 0; q < K; q++) {
    int64_t b0, b1;
    chunk(n, B, K, q, &b0, &b1);
    float *mq = mean + q * C, *rq = rstd + q * C;
    if (batch_stats) {
#pragma omp parallel for if ((b1 - b0) * C * S > 32768) schedule(static)
      for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t b = b0; b < b1; b++)
          for (int64_t k = 0; k < S; k++)
            s += x->val[(b * C + c) * S + k];
        red[c] = s;
      }
      red[C] = (double)((b1 - b0) * S);
      reduce(g, n, red, C + 1);
      double cnt = red[C];
      if (cnt < 2 && g->run_status == DS_OK)
        g->run_status = ds__node_error(
            n, DS_EINVAL, "batch norm in training needs more than one value per channel");
#pragma omp parallel for if ((b1 - b0) * C * S > 32768) schedule(static)
      for (int64_t c = 0; c < C; c++) {
        double m = red[c] / cnt, ss = 0;
        for (int64_t b = b0; b < b1; b++)
          for (int64_t k = 0; k < S; k++) {
            double d = x->val[(b * C + c) * S + k] - m;
            ss += d * d;
          }
        red[C + 1 + c] = ss;
        mq[c] = (float)m;
      }
      reduce(g, n, red + C + 1, C);
      for (int64_t c = 0; c < C; c++) {
        double v = red[C + 1 + c] / cnt;
        rm[c] = (float)((1.0 - mom) * rm[c] + mom * (red[c] / cnt));
        rv[c] = (float)((1.0 - mom) * rv[c] + mom * v * cnt / (cnt > 1 ? cnt - 1 : 1));
        rq[c] = (float)(1.0 / sqrt(v + eps));
      }
    } else {
      for (int64_t c = 0; c < C; c++) {
        mq[c] = rm[c];
        rq[c] = (float)(1.0 / sqrt(rv[c] + eps));
      }
    }
#pragma omp parallel for if ((b1 - b0) * C * S > 32768) schedule(static)
    for (int64_t c = 0; c < C; c++) {
      float a = rq[c] * (gain ? gain[c] : 1.0f), sh = bias ? bias[c] : 0.0f, mu = mq[c];
      for (int64_t b = b0; b < b1; b++) {
        const float *p = x->val + (b * C + c) * S;
        float *y = n->val + (b * C + c) * S;
        for (int64_t k = 0; k < S; k++)
          y[k] = (p[k] - mu) * a + sh;
      }
    }
  }
}

static void bnx_backward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  const float *gain = n->n_in == 3 ? ds__in(g, n, 1)->val : NULL;
  float *dgain = n->n_in == 3 ? ds__in(g, n, 1)->grad : NULL,
        *dbias = n->n_in == 3 ? ds__in(g, n, 2)->grad : NULL;
  float *dx = x->grad;
  int64_t B = x->shape.dim[0], C = x->shape.dim[1], S = ds__numel(x) / (B * C);
  bool batch_stats = g->training;
  int64_t K = batch_stats ? chunks(n, B, S) : 1;
  batch_stats = batch_stats && n->aux[2 * K * C] != 0.0f;
  const float *mean = n->aux, *rstd = n->aux + K * C;
  double *red = red_of(n, K * C);
  for (int64_t q = 0; q < K; q++) {
    int64_t b0, b1;
    chunk(n, B, K, q, &b0, &b1);
    const float *mq = mean + q * C, *rq = rstd + q * C;
#pragma omp parallel for if ((b1 - b0) * C * S > 32768) schedule(static)
    for (int64_t c = 0; c < C; c++) {
      double sdy = 0, sdyx = 0; /* sum dy, sum dy * xhat */
      for (int64_t b = b0; b < b1; b++)
        for (int64_t k = 0; k < S; k++) {
          float dy = n->grad[(b * C + c) * S + k];
          sdy += dy;
          sdyx += dy * ((x->val[(b * C + c) * S + k] - mq[c]) * rq[c]);
        }
      if (dgain) dgain[c] += (float)sdyx; /* local: the gradient allreduce sums the ranks */
      if (dbias) dbias[c] += (float)sdy;
      red[c] = sdy;
      red[C + c] = sdyx;
    }
    red[2 * C] = (double)((b1 - b0) * S);
    if (batch_stats) reduce(g, n, red, 2 * C + 1);
    if (!dx) continue;
    double cnt = red[2 * C];
#pragma omp parallel for if ((b1 - b0) * C * S > 32768) schedule(static)
    for (int64_t c = 0; c < C; c++) {
      float a = rq[c] * (gain ? gain[c] : 1.0f);
      /* batch stats: dx = a (dy - mean(dy) - xhat mean(dy xhat)); running stats: dx = a dy */
      float mdy = batch_stats ? (float)(red[c] / cnt) : 0.0f;
      float mdyx = batch_stats ? (float)(red[C + c] / cnt) : 0.0f;
      for (int64_t b = b0; b < b1; b++) {
        const float *p = x->val + (b * C + c) * S, *dy = n->grad + (b * C + c) * S;
        float *d = dx + (b * C + c) * S;
        for (int64_t k = 0; k < S; k++)
          d[k] += a * (dy[k] - mdy - (p[k] - mq[c]) * rq[c] * mdyx);
      }
    }
  }
}

const ds_opdef ds__op_batchnorm_ext = {"batchnorm_ext", bnx_infer, bnx_forward, bnx_backward, 0};

ds_batchnorm_options ds_batchnorm_options_default(void) {
  return (ds_batchnorm_options){.momentum = 0.1f, .eps = 1e-5f, .ghost_batch = 0, .sync = false};
}

ds_status ds_graph_batchnorm_options(ds_graph *g, const ds_batchnorm_options *o) {
  if (!g || !o) return ds_set_error(DS_EINVAL, "batchnorm options: NULL argument");
  if (g->compiled)
    return ds_set_error(DS_ESTATE, "batchnorm options: the graph is already compiled");
  if (!(o->momentum >= 0 && o->momentum <= 1))
    return ds_set_error(DS_EINVAL, "batchnorm options: momentum %g is not in [0, 1]", o->momentum);
  if (!(o->eps > 0))
    return ds_set_error(DS_EINVAL, "batchnorm options: eps %g must be > 0", o->eps);
  if (o->ghost_batch < 0 || o->ghost_batch == 1)
    return ds_set_error(DS_EINVAL, "batchnorm options: ghost batch %lld must be 0 (off) or >= 2",
                        (long long)o->ghost_batch);
  if (o->ghost_batch > 0 && o->sync)
    return ds_set_error(
        DS_EINVAL,
        "batchnorm options: ghost batches are per process; they do not combine with sync");
  for (int i = 0; i < g->n_nodes; i++) {
    ds_nodedata *n = &g->nodes[i];
    if (n->op != DS_OP_BATCHNORM && n->op != DS_OP_BATCHNORM_EXT) continue;
    n->fattr[0] = o->momentum;
    n->fattr[1] = o->eps;
    bool ext = o->ghost_batch > 0 || o->sync;
    n->op = ext ? DS_OP_BATCHNORM_EXT : DS_OP_BATCHNORM;
    n->iattr[2] = o->ghost_batch;
    n->iattr[3] = o->sync;
    ds_status st = ds__opdef(n->op)->infer(g, n);
    if (st) return st;
  }
  return DS_OK;
}
