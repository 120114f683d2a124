/* Signal propagation through a network, measured on real inputs: the mean-field length q^l (mean
 * square activation) per depth, and the singular values of the input-output Jacobian, exactly from
 * vector-Jacobian products (ds_graph_backward_from): for K outputs, K products per batch give every
 * sample's Jacobian J (K x D), and the eigenvalues of the K x K matrix J J^T are the squared
 * singular values. Poole et al. 2016, Pennington et al. 2017 (dynamical isometry), Xiao et al.
 * 2018. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "analysis/analysis_internal.h"
#include "descent/alloc.h"

static bool is_act(const char *op) {
  static const char *const acts[] = {"relu", "tanh", "gelu", "sigmoid", "leaky_relu", "identity"};
  for (size_t i = 0; i < sizeof acts / sizeof *acts; i++)
    if (!strcmp(op, acts[i])) return true;
  return false;
}

ds_status ds_signal_layers(const ds_graph *g, ds_signal_layer *layers, int cap, int *count) {
  if (!g || !count || (cap > 0 && !layers))
    return ds_set_error(DS_EINVAL, "signal layers: NULL argument");
  int found = 0, depth = 0;
  for (ds_node i = 0; i < ds_graph_node_count(g); i++) {
    const char *op = ds_graph_node_op(g, i);
    bool pre = !strcmp(op, "linear") || !strcmp(op, "conv2d"), post = is_act(op);
    if (!pre && !post) continue;
    if (pre) depth++;
    if (found < cap) layers[found] = (ds_signal_layer){.node = i, .depth = depth, .post = post};
    found++;
  }
  *count = found;
  return DS_OK;
}

/* Checks the arguments common to the statistics and the Jacobian. */
static ds_status check_args(const char *what, ds_graph *g, ds_node x, ds_node y,
                            const ds_dataset *d) {
  if (!g || !d || !ds_graph_is_compiled(g))
    return ds_set_error(DS_EINVAL, "%s: needs a compiled graph and a dataset", what);
  if (!ds_graph_is_input(g, x) || !ds_graph_is_input(g, y))
    return ds_set_error(DS_EINVAL, "%s: x and y must be data inputs of the graph", what);
  ds_shape xs = ds_graph_shape(g, x);
  if (ds_shape_numel(&xs) / xs.dim[0] != ds_shape_numel(&d->sample_shape))
    return ds_set_error(DS_ESHAPE, "%s: dataset '%s' does not fit the model's input '%s'", what,
                        d->name, ds_graph_node_name(g, x));
  return DS_OK;
}

/* Samples [s, s + b) of d into x and y, then a forward pass. */
static ds_status load_batch(ds_graph *g, ds_node x, ds_node y, const ds_dataset *d, int64_t s,
                            int64_t b, int64_t *idx) {
  for (int64_t i = 0; i < b; i++)
    idx[i] = s + i;
  ds_status st = ds_graph_set_batch(g, b);
  if (!st) st = ds_dataset_get(d, idx, b, ds_graph_value(g, x), ds_graph_value(g, y));
  if (!st) st = ds_graph_forward(g);
  return st;
}

ds_status ds_signal_stats(ds_graph *g, ds_node x, ds_node y, const ds_dataset *d, int64_t n,
                          ds_signal_layer *layers, int count) {
  ds_status st = check_args("signal statistics", g, x, y, d);
  if (st) return st;
  if (count < 0 || (count > 0 && !layers))
    return ds_set_error(DS_EINVAL, "signal statistics: no layers");
  n = n <= 0 || n > d->n ? d->n : n;
  int64_t mb = ds_graph_max_batch(g);
  ds_paramset *bufs = ds_graph_buffers(g);
  int64_t nbuf = bufs ? bufs->numel : 0;
  int64_t *idx = ds_malloc(sizeof(int64_t) * (size_t)mb);
  double *acc = ds_calloc((size_t)(3 * (count ? count : 1)), sizeof(double)); /* sum, sum sq, n */
  if (!idx || !acc) {
    ds_free(idx);
    ds_free(acc);
    return DS_ENOMEM;
  }
  /* batch statistics where the model has batch norm (its running statistics untouched), else
   * evaluation mode */
  bool was = ds_graph_training(g), upd = ds_graph_update_buffers(g);
  ds_graph_set_training(g, nbuf > 0);
  ds_graph_set_update_buffers(g, false);
  for (int64_t s = 0; s < n && !st; s += mb) {
    int64_t b = n - s < mb ? n - s : mb;
    st = load_batch(g, x, y, d, s, b, idx);
    for (int l = 0; l < count && !st; l++) {
      const float *v = ds_graph_value(g, layers[l].node);
      ds_shape sh = ds_graph_shape(g, layers[l].node);
      int64_t m = ds_shape_numel(&sh);
      double s1 = 0, s2 = 0;
      for (int64_t e = 0; e < m; e++) {
        s1 += v[e];
        s2 += (double)v[e] * v[e];
      }
      acc[3 * l] += s1;
      acc[3 * l + 1] += s2;
      acc[3 * l + 2] += (double)m;
    }
  }
  ds_graph_set_training(g, was);
  ds_graph_set_update_buffers(g, upd);
  for (int l = 0; l < count && !st; l++) {
    double m = acc[3 * l + 2];
    layers[l].mean = acc[3 * l] / m;
    layers[l].q = acc[3 * l + 1] / m;
    layers[l].var = fmax(layers[l].q - layers[l].mean * layers[l].mean, 0.0);
    if (!isfinite(layers[l].q))
      st = ds_set_error(DS_ENUMERIC, "signal statistics: node '%s' holds non-finite values",
                        ds_graph_node_name(g, layers[l].node));
  }
  ds_free(idx);
  ds_free(acc);
  return st;
}

ds_status ds_signal_jacobian(ds_graph *g, ds_node x, ds_node y, ds_node out, const ds_dataset *d,
                             int64_t n, double *sv) {
  ds_status st = check_args("input-output Jacobian", g, x, y, d);
  if (st) return st;
  if (!sv) return ds_set_error(DS_EINVAL, "input-output Jacobian: sv is NULL");
  if (!ds_graph_grad(g, x))
    return ds_set_error(DS_EINVAL,
                        "input-output Jacobian: input '%s' has no gradient (call "
                        "ds_input_requires_grad before compiling)",
                        ds_graph_node_name(g, x));
  if (out < 0 || out >= ds_graph_node_count(g) || !ds_graph_grad(g, out))
    return ds_set_error(DS_EINVAL, "input-output Jacobian: output node %d has no gradient", out);
  n = n <= 0 || n > d->n ? d->n : n;
  int64_t mb = ds_graph_max_batch(g);
  ds_shape os = ds_graph_shape(g, out), xs = ds_graph_shape(g, x);
  int64_t K = ds_shape_numel(&os) / os.dim[0], D = ds_shape_numel(&xs) / xs.dim[0];
  if (K > DS_SIGNAL_MAX_OUT)
    return ds_set_error(DS_EINVAL,
                        "input-output Jacobian: node '%s' has %lld outputs per sample; the exact "
                        "method takes at most %d",
                        ds_graph_node_name(g, out), (long long)K, DS_SIGNAL_MAX_OUT);
  int64_t *idx = ds_malloc(sizeof(int64_t) * (size_t)mb);
  float *seed = ds_malloc(sizeof(float) * (size_t)(mb * K));
  float *jac = ds_malloc(sizeof(float) * (size_t)(mb * K * D)); /* (b, K, D) */
  double *gram = ds_malloc(sizeof(double) * (size_t)(3 * K * K + K));
  if (!idx || !seed || !jac || !gram) {
    ds_free(idx);
    ds_free(seed);
    ds_free(jac);
    ds_free(gram);
    return DS_ENOMEM;
  }
  double *vec = gram + K * K, *ev = vec + K * K;
  bool was = ds_graph_training(g); /* a per-sample function: evaluation mode */
  ds_graph_set_training(g, false);
  for (int64_t s = 0; s < n && !st; s += mb) {
    int64_t b = n - s < mb ? n - s : mb;
    st = load_batch(g, x, y, d, s, b, idx);
    for (int64_t k = 0; k < K && !st; k++) {
      memset(seed, 0, sizeof(float) * (size_t)(b * K));
      for (int64_t i = 0; i < b; i++)
        seed[i * K + k] = 1.0f; /* row k of every sample's Jacobian */
      st = ds_graph_backward_from(g, out, seed);
      const float *gx = ds_graph_grad(g, x);
      for (int64_t i = 0; i < b && !st; i++)
        memcpy(jac + (i * K + k) * D, gx + i * D, sizeof(float) * (size_t)D);
    }
    for (int64_t i = 0; i < b && !st; i++) {
      const float *J = jac + i * K * D;
      for (int64_t p = 0; p < K; p++)
        for (int64_t q = 0; q <= p; q++) {
          double a = 0;
          for (int64_t e = 0; e < D; e++)
            a += (double)J[p * D + e] * J[q * D + e];
          gram[p * K + q] = gram[q * K + p] = a;
        }
      ds__sym_eig(gram, (int)K, ev, vec);
      double *o = sv + (s + i) * K;
      for (int64_t p = 0; p < K; p++) { /* descending */
        int64_t best = -1;
        for (int64_t r = 0; r < K; r++)
          if (!isnan(ev[r]) && (best < 0 || ev[r] > ev[best])) best = r;
        o[p] = sqrt(fmax(ev[best], 0.0));
        ev[best] = NAN;
      }
      if (!isfinite(o[0]))
        st = ds_set_error(DS_ENUMERIC, "input-output Jacobian: sample %lld is not finite",
                          (long long)(s + i));
    }
  }
  ds_graph_set_training(g, was);
  ds_free(idx);
  ds_free(seed);
  ds_free(jac);
  ds_free(gram);
  return st;
}

/* ---- the Jacobian between two inner nodes: stochastic Lanczos quadrature on J^T J ------------ */

typedef struct {
  ds_graph *g;
  ds_node from, to;
  int64_t nf, nt; /* values of from and to over the batch */
  float *h0;      /* (nf) from's value at the point */
  float *tp;      /* (nt) to's value on the plus side */
  float *seed;    /* (nt) J v, the seed of the vector-Jacobian product */
  double step;    /* the difference step along the unit direction */
} jac_ctx;

/* from <- h0 + t u (t = 0: h0 itself), then the nodes downstream. */
static ds_status move(jac_ctx *c, const double *u, double t) {
  float *h = ds_graph_value(c->g, c->from);
  for (int64_t i = 0; i < c->nf; i++)
    h[i] = (float)((double)c->h0[i] + t * (u ? u[i] : 0));
  return ds_graph_forward_from(c->g, c->from);
}

/* out = J^T J v: J v by central differences of forward passes from `from`, then J^T (J v) by a
 * vector-Jacobian product at the point itself. */
static ds_status jtj(void *ctx, const double *v, double *out) {
  jac_ctx *c = ctx;
  double vn = 0;
  for (int64_t i = 0; i < c->nf; i++)
    vn += v[i] * v[i];
  vn = sqrt(vn);
  if (!(vn > 0)) {
    memset(out, 0, sizeof(double) * (size_t)c->nf);
    return isfinite(vn) ? 0 : ds_set_error(DS_ENUMERIC, "Jacobian spectrum: vector not finite");
  }
  double *u = out; /* the unit direction, overwritten by the result at the end */
  for (int64_t i = 0; i < c->nf; i++)
    u[i] = v[i] / vn;
  ds_status st = move(c, u, c->step);
  if (!st) memcpy(c->tp, ds_graph_value(c->g, c->to), sizeof(float) * (size_t)c->nt);
  if (!st) st = move(c, u, -c->step);
  if (!st) {
    const float *tm = ds_graph_value(c->g, c->to);
    double k = vn / (2 * c->step);
    for (int64_t i = 0; i < c->nt; i++)
      c->seed[i] = (float)(((double)c->tp[i] - tm[i]) * k);
    st = move(c, NULL, 0); /* back to the point: J^T at h0 */
  }
  if (!st) st = ds_graph_backward_from(c->g, c->to, c->seed);
  if (st) return st;
  const float *gf = ds_graph_grad(c->g, c->from);
  for (int64_t i = 0; i < c->nf; i++)
    out[i] = gf[i];
  return 0;
}

ds_status ds_signal_jacobian_slq(ds_graph *g, ds_node x, ds_node y, ds_node from, ds_node to,
                                 const ds_dataset *d, int64_t n, int iterations, uint64_t seed,
                                 double *sv, double *weight, int *count) {
  ds_status st = check_args("Jacobian spectrum", g, x, y, d);
  if (st) return st;
  if (!sv || !weight || !count) return ds_set_error(DS_EINVAL, "Jacobian spectrum: NULL output");
  int nodes = ds_graph_node_count(g);
  if (from < 0 || to < 0 || from >= nodes || to >= nodes || from >= to)
    return ds_set_error(DS_EINVAL, "Jacobian spectrum: nodes %d -> %d are not in graph order", from,
                        to);
  if (!ds_graph_keeps_grads(g))
    return ds_set_error(DS_ESTATE,
                        "Jacobian spectrum: the gradient of inner node '%s' is read "
                        "after backward; call ds_graph_keep_grads before compiling",
                        ds_graph_node_name(g, from));
  if (!ds_graph_grad(g, from) || !ds_graph_grad(g, to))
    return ds_set_error(DS_EINVAL,
                        "Jacobian spectrum: nodes '%s' and '%s' need gradients (activations on "
                        "the path to the loss)",
                        ds_graph_node_name(g, from), ds_graph_node_name(g, to));
  int64_t mb = ds_graph_max_batch(g);
  n = n <= 0 || n > d->n ? d->n : n;
  if (n > mb) n = mb;
  if (iterations < 1 || iterations > 500)
    return ds_set_error(DS_EINVAL, "Jacobian spectrum: iterations %d is not in 1..500", iterations);
  int64_t *idx = ds_malloc(sizeof(int64_t) * (size_t)n);
  st = idx ? 0 : DS_ENOMEM;
  bool was = ds_graph_training(g);
  ds_graph_set_training(g, false);
  if (!st) st = load_batch(g, x, y, d, 0, n, idx);
  ds_free(idx);
  jac_ctx c = {g, from, to, 0, 0, NULL, NULL, NULL, 0};
  if (!st) {
    ds_shape fs = ds_graph_shape(g, from), ts = ds_graph_shape(g, to);
    c.nf = ds_shape_numel(&fs);
    c.nt = ds_shape_numel(&ts);
    c.h0 = ds_malloc(sizeof(float) * (size_t)c.nf);
    c.tp = ds_malloc(sizeof(float) * (size_t)c.nt);
    c.seed = ds_malloc(sizeof(float) * (size_t)c.nt);
    st = c.h0 && c.tp && c.seed ? 0 : DS_ENOMEM;
  }
  if (!st) {
    memcpy(c.h0, ds_graph_value(g, from), sizeof(float) * (size_t)c.nf);
    double hn = 0;
    for (int64_t i = 0; i < c.nf; i++)
      hn += (double)c.h0[i] * c.h0[i];
    /* as the Hessian-vector product's step (hessian.c): rounding of float32 values against the
     * curvature of the activations, in units of the point's scale */
    c.step = sqrt((double)FLT_EPSILON) * (1 + sqrt(hn));
    int m = iterations < c.nf ? iterations : (int)c.nf;
    st = ds__lanczos(c.nf, jtj, &c, m, seed, sv, weight, NULL, count);
    for (int i = 0; i < *count && !st; i++)
      sv[i] = sqrt(fmax(sv[i], 0.0));  /* eigenvalues of J^T J -> singular values, ascending */
    ds_status rst = move(&c, NULL, 0); /* the graph's values as they were */
    if (!st) st = rst;
  }
  ds_graph_set_training(g, was);
  ds_free(c.h0);
  ds_free(c.tp);
  ds_free(c.seed);
  return st;
}
