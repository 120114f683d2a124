/* Pooling, NCHW, PyTorch semantics (ceil_mode=False, dilation 1):
 *   x (B, C, H, W) -> y (B, C, OH, OW), OH = (H + 2P - K) / S + 1, OW likewise (floor).
 * maxpool2d: padding acts as -inf; ties and NaN as PyTorch (first maximum wins, a NaN wins).
 * avgpool2d: padded positions count in the divisor (count_include_pad=True), which with floor
 * output sizes is always K*K.
 * global_avgpool: (B, C, H, W) -> (B, C), the mean over H*W.
 * Planes (b, c) are independent, so loops run over planes in parallel when there is enough work. */
#include <math.h>
#include <string.h>

#include "ops/op_list.h"
#include "ops/reduce.h"

#define DS_POOL_PAR_MIN 32768

/* iattr: [0] kernel, [1] stride, [2] padding */
typedef struct {
  int64_t planes, H, W, OH, OW, K, S, P;
} pool_dims;

static pool_dims pool_dims_of(ds_graph *g, const ds_nodedata *n) {
  const ds_nodedata *x = ds__in(g, n, 0);
  pool_dims d;
  d.planes = x->shape.dim[0] * x->shape.dim[1];
  d.H = x->shape.dim[2], d.W = x->shape.dim[3];
  d.K = n->iattr[0], d.S = n->iattr[1], d.P = n->iattr[2];
  d.OH = (d.H + 2 * d.P - d.K) / d.S + 1;
  d.OW = (d.W + 2 * d.P - d.K) / d.S + 1;
  return d;
}

static ds_status pool_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  char s1[64];
  int64_t K = n->iattr[0], S = n->iattr[1], P = n->iattr[2];
  if (x->shape.rank != 4)
    return ds__node_error(n, DS_ESHAPE, "input '%s' has shape %s; expected (B, C, H, W)", x->name,
                          ds_shape_str(&x->shape, s1, 64));
  if (K < 1 || S < 1 || P < 0)
    return ds__node_error(n, DS_EINVAL,
                          "kernel %lld, stride %lld, padding %lld: need kernel >= 1, "
                          "stride >= 1, padding >= 0",
                          (long long)K, (long long)S, (long long)P);
  if (2 * P > K)
    return ds__node_error(n, DS_EINVAL, "padding %lld is more than half the kernel %lld",
                          (long long)P, (long long)K);
  if (K > x->shape.dim[2] + 2 * P || K > x->shape.dim[3] + 2 * P)
    return ds__node_error(n, DS_ESHAPE, "kernel %lld is larger than input '%s' %s padded by %lld",
                          (long long)K, x->name, ds_shape_str(&x->shape, s1, 64), (long long)P);
  pool_dims d = pool_dims_of(g, n);
  n->shape = ds_shape4(x->shape.dim[0], x->shape.dim[1], d.OH, d.OW);
  /* maxpool keeps the arg max (int32, within the plane) in aux: the arena is allocated memory,
   * so storing int32 there gives it that type */
  if (n->op == DS_OP_MAXPOOL2D) n->aux_size = ds__numel(n);
  return DS_OK;
}

/* Input rows [h0, h1) covered by output row oh. */
static void window_rows(const pool_dims *d, int64_t oh, int64_t *h0, int64_t *h1) {
  *h0 = oh * d->S - d->P, *h1 = *h0 + d->K;
  if (*h0 < 0) *h0 = 0;
  if (*h1 > d->H) *h1 = d->H;
}

/* Output columns [lo, hi) whose input column ow*S - P + kw lies inside [0, W). */
static void valid_cols(const pool_dims *d, int64_t kw, int64_t *lo, int64_t *hi) {
  int64_t a = d->P - kw, b = d->W - 1 + d->P - kw; /* need a <= ow*S <= b */
  *lo = a > 0 ? (a + d->S - 1) / d->S : 0;
  *hi = b < 0 ? 0 : b / d->S + 1;
  if (*hi > d->OW) *hi = d->OW;
  if (*lo > *hi) *lo = *hi;
}

/* ---- maxpool2d; aux holds the int32 index of each maximum within its (H, W) plane ---- */

/* Bits of a float, for exact integer comparisons (no parity branches, no signed-zero ambiguity). */
static inline uint32_t bits_of(float v) {
  uint32_t b;
  memcpy(&b, &v, sizeof b);
  return b;
}

/* Max of one clipped window of plane xp (row stride W) and its index, as PyTorch picks them: the
 * first element strictly greater than all before it, except that a NaN always takes over (so the
 * last NaN wins). Written so the compiler emits maxss and cmov instead of unpredictable branches:
 * pass 1 takes the max (v > m ? v : m is maxss) and notes NaNs, pass 2 finds the first element
 * with the max's bits by scanning backwards. */
static inline float window_max(const float *xp, int64_t W, int64_t h0, int64_t h1, int64_t w0,
                               int64_t w1, int32_t *arg) {
  float m = -INFINITY;
  uint32_t nan = 0;
  for (int64_t ih = h0; ih < h1; ih++)
    for (int64_t iw = w0; iw < w1; iw++) {
      float v = xp[ih * W + iw];
      m = v > m ? v : m;
      nan |= (bits_of(v) & 0x7fffffffu) > 0x7f800000u;
    }
  int32_t best = (int32_t)(h0 * W + w0);
  if (nan) { /* rare: the last NaN */
    for (int64_t ih = h0; ih < h1; ih++)
      for (int64_t iw = w0; iw < w1; iw++)
        if (isnan(xp[ih * W + iw])) best = (int32_t)(ih * W + iw);
    *arg = best;
    return xp[best];
  }
  const uint32_t mb = bits_of(m);
  for (int64_t ih = h1 - 1; ih >= h0; ih--)
    for (int64_t iw = w1 - 1; iw >= w0; iw--) {
      int32_t i = (int32_t)(ih * W + iw);
      best = bits_of(xp[i]) == mb ? i : best;
    }
  *arg = best;
  return m;
}

/* One output row of the 2x2, stride-2 pool: rows r (input row 2 oh) and r + W; base is the index
 * of r[0] within the plane. PyTorch's rule in window order a b / c d: take the next value if it
 * is greater than the maximum so far or NaN. Written as selects over whole rows, which gcc
 * vectorises (the branchy window_max does not). */
static void max2x2_row(const float *restrict r, int64_t W, int64_t OW, int32_t base,
                       float *restrict y, int32_t *restrict arg) {
  const float *restrict r1 = r + W;
  const int32_t w = (int32_t)W;
  for (int64_t ow = 0; ow < OW; ow++) {
    float a = r[2 * ow], b = r[2 * ow + 1], c = r1[2 * ow], e = r1[2 * ow + 1];
    int32_t i = 0;
    float m = a;
    bool t = b > m || b != b;
    m = t ? b : m, i = t ? 1 : i;
    t = c > m || c != c;
    m = t ? c : m, i = t ? w : i;
    t = e > m || e != e;
    m = t ? e : m, i = t ? w + 1 : i;
    y[ow] = m;
    arg[ow] = base + 2 * (int32_t)ow + i;
  }
}

/* Largest plane max2x2_plane handles (its two stages keep H * W / 2 values on the stack). */
#define DS_POOL_PLANE_MAX 8192

/* The 2x2, stride-2 pool of a whole plane of even width W = 2 OW, in two passes that gcc
 * vectorises over long runs: each pair of neighbours in a row first (one loop over the plane,
 * since rows are contiguous), then each pair of rows. Same rule as max2x2_row: within a row pair
 * the right value wins if greater or NaN, then the lower row's winner if greater or NaN; for the
 * window a b / c d this picks exactly what scanning a, b, c, d in order does. */
static void max2x2_plane(const float *restrict xp, int64_t W, int64_t OH, int64_t OW,
                         float *restrict y, int32_t *restrict arg) {
  float hv[DS_POOL_PLANE_MAX];
  int32_t hi[DS_POOL_PLANE_MAX];
  const int64_t m = 2 * OH * OW;
  for (int64_t k = 0; k < m; k++) {
    float a = xp[2 * k], b = xp[2 * k + 1];
    bool t = b > a || b != b;
    hv[k] = t ? b : a, hi[k] = t;
  }
  for (int64_t oh = 0; oh < OH; oh++) {
    const float *restrict top = hv + 2 * oh * OW, *restrict bot = top + OW;
    const int32_t *restrict ti = hi + 2 * oh * OW, *restrict bi = ti + OW;
    const int32_t base = (int32_t)(2 * oh * W);
    float *restrict yr = y + oh * OW;
    int32_t *restrict ar = arg + oh * OW;
    for (int64_t ow = 0; ow < OW; ow++) {
      const float u = top[ow], v = bot[ow];
      const int32_t iu = ti[ow], iv = bi[ow] + (int32_t)W;
      const bool t = v > u || v != v;
      yr[ow] = t ? v : u;
      ar[ow] = base + (t ? iv : iu) + 2 * (int32_t)ow;
    }
  }
}

static void maxpool_forward(ds_graph *g, ds_nodedata *n) {
  const pool_dims d = pool_dims_of(g, n);
  const float *x = ds__in(g, n, 0)->val;
  const int64_t per = d.OH * d.OW;
#pragma omp parallel for schedule(static) if (ds__numel(n) * d.K * d.K > DS_POOL_PAR_MIN)
  for (int64_t pl = 0; pl < d.planes; pl++) {
    const float *xp = x + pl * d.H * d.W;
    float *yp = n->val + pl * per;
    int32_t *ap = (int32_t *)n->aux + pl * per;
    if (d.K == 2 && d.S == 2 && d.P == 0 && d.W == 2 * d.OW &&
        d.OH * d.W <= DS_POOL_PLANE_MAX) { /* the common 2x2 pool, even width */
      max2x2_plane(xp, d.W, d.OH, d.OW, yp, ap);
      continue;
    }
    if (d.K == 2 && d.S == 2 && d.P == 0) { /* the common 2x2 pool */
      for (int64_t oh = 0; oh < d.OH; oh++)
        max2x2_row(xp + 2 * oh * d.W, d.W, d.OW, (int32_t)(2 * oh * d.W), yp + oh * d.OW,
                   ap + oh * d.OW);
      continue;
    }
    if (d.K == 2 && d.P == 0) { /* 2x2 with another stride: constant trip counts, unrolled */
      for (int64_t oh = 0; oh < d.OH; oh++)
        for (int64_t ow = 0; ow < d.OW; ow++) {
          int64_t h0 = oh * d.S, w0 = ow * d.S;
          yp[oh * d.OW + ow] = window_max(xp, d.W, h0, h0 + 2, w0, w0 + 2, &ap[oh * d.OW + ow]);
        }
      continue;
    }
    for (int64_t oh = 0; oh < d.OH; oh++) {
      int64_t h0, h1;
      window_rows(&d, oh, &h0, &h1); /* never empty: padding <= kernel / 2 */
      for (int64_t ow = 0; ow < d.OW; ow++) {
        int64_t w0 = ow * d.S - d.P, w1 = w0 + d.K;
        w0 = w0 < 0 ? 0 : w0;
        w1 = w1 > d.W ? d.W : w1;
        yp[oh * d.OW + ow] = window_max(xp, d.W, h0, h1, w0, w1, &ap[oh * d.OW + ow]);
      }
    }
  }
}

static void maxpool_backward(ds_graph *g, ds_nodedata *n) {
  float *dx = ds__in(g, n, 0)->grad;
  if (!dx) return;
  const pool_dims d = pool_dims_of(g, n);
  const int64_t per = d.OH * d.OW;
  const bool fresh = ds__in(g, n, 0)->grad_fresh;
#pragma omp parallel for schedule(static) if (ds__numel(n) > DS_POOL_PAR_MIN)
  for (int64_t pl = 0; pl < d.planes; pl++) {
    float *dxp = dx + pl * d.H * d.W;
    const float *dy = n->grad + pl * per;
    const int32_t *arg = (const int32_t *)n->aux + pl * per;
    if (fresh) memset(dxp, 0, (size_t)(d.H * d.W) * sizeof *dxp); /* while the plane is at hand */
    for (int64_t o = 0; o < per; o++)
      dxp[arg[o]] += dy[o];
  }
}

const ds_opdef ds__op_maxpool2d = {"maxpool2d", pool_infer, maxpool_forward, maxpool_backward, 1};

/* ---- avgpool2d: y = sum over the window / K^2 (padding counts as zeros) ----
 * The loops run over window offsets (ih, kw) outside and output columns ow inside, so the inner
 * loop is a plain strided sweep the compiler vectorises; every output still adds its window in
 * row-major order, as PyTorch does. */

static void avgpool_forward(ds_graph *g, ds_nodedata *n) {
  const pool_dims d = pool_dims_of(g, n);
  const float *x = ds__in(g, n, 0)->val;
  const float inv = 1.0f / (float)(d.K * d.K);
#pragma omp parallel for schedule(static) if (ds__numel(n) * d.K * d.K > DS_POOL_PAR_MIN)
  for (int64_t pl = 0; pl < d.planes; pl++) {
    const float *xp = x + pl * d.H * d.W;
    for (int64_t oh = 0; oh < d.OH; oh++) {
      float *yr = n->val + (pl * d.OH + oh) * d.OW;
      int64_t h0, h1;
      window_rows(&d, oh, &h0, &h1);
      for (int64_t ow = 0; ow < d.OW; ow++)
        yr[ow] = 0.0f;
      for (int64_t ih = h0; ih < h1; ih++)
        for (int64_t kw = 0; kw < d.K; kw++) {
          int64_t lo, hi, off = ih * d.W + kw - d.P;
          valid_cols(&d, kw, &lo, &hi);
          for (int64_t ow = lo; ow < hi; ow++)
            yr[ow] += xp[off + ow * d.S];
        }
      for (int64_t ow = 0; ow < d.OW; ow++)
        yr[ow] *= inv;
    }
  }
}

static void avgpool_backward(ds_graph *g, ds_nodedata *n) {
  float *dx = ds__in(g, n, 0)->grad;
  if (!dx) return;
  const pool_dims d = pool_dims_of(g, n);
  const float inv = 1.0f / (float)(d.K * d.K);
#pragma omp parallel for schedule(static) if (ds__numel(n) * d.K * d.K > DS_POOL_PAR_MIN)
  for (int64_t pl = 0; pl < d.planes; pl++) {
    float *dxp = dx + pl * d.H * d.W;
    for (int64_t oh = 0; oh < d.OH; oh++) {
      const float *dy = n->grad + (pl * d.OH + oh) * d.OW;
      int64_t h0, h1;
      window_rows(&d, oh, &h0, &h1);
      for (int64_t ih = h0; ih < h1; ih++)
        for (int64_t kw = 0; kw < d.K; kw++) {
          int64_t lo, hi, off = ih * d.W + kw - d.P;
          valid_cols(&d, kw, &lo, &hi);
          for (int64_t ow = lo; ow < hi; ow++)
            dxp[off + ow * d.S] += dy[ow] * inv;
        }
    }
  }
}

const ds_opdef ds__op_avgpool2d = {"avgpool2d", pool_infer, avgpool_forward, avgpool_backward, 0};

static ds_node pool(ds_graph *g, int op, ds_node x, int kernel, int stride, int padding) {
  int64_t attr[3] = {kernel, stride, padding};
  return ds__add_node(g, op, 1, &x, attr, 3, NULL, 0);
}
ds_node ds_maxpool2d(ds_graph *g, ds_node x, int kernel, int stride, int padding) {
  return pool(g, DS_OP_MAXPOOL2D, x, kernel, stride, padding);
}
ds_node ds_avgpool2d(ds_graph *g, ds_node x, int kernel, int stride, int padding) {
  return pool(g, DS_OP_AVGPOOL2D, x, kernel, stride, padding);
}

/* ---- global_avgpool: (B, C, H, W) -> (B, C), mean over the plane ---- */

static ds_status gap_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  char s1[64];
  if (x->shape.rank != 4)
    return ds__node_error(n, DS_ESHAPE, "input '%s' has shape %s; expected (B, C, H, W)", x->name,
                          ds_shape_str(&x->shape, s1, 64));
  n->shape = ds_shape2(x->shape.dim[0], x->shape.dim[1]);
  return DS_OK;
}

static void gap_forward(ds_graph *g, ds_nodedata *n) {
  const ds_nodedata *xn = ds__in(g, n, 0);
  const int64_t planes = ds__numel(n), hw = xn->shape.dim[2] * xn->shape.dim[3];
  const float *x = xn->val;
#pragma omp parallel for schedule(static) if (planes * hw > DS_POOL_PAR_MIN)
  for (int64_t pl = 0; pl < planes; pl++)
    n->val[pl] = (float)(ds__sum16(x + pl * hw, hw) / (double)hw);
}

static void gap_backward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *xn = ds__in(g, n, 0);
  if (!xn->grad) return;
  const int64_t planes = ds__numel(n), hw = xn->shape.dim[2] * xn->shape.dim[3];
  const float inv = 1.0f / (float)hw;
#pragma omp parallel for schedule(static) if (planes * hw > DS_POOL_PAR_MIN)
  for (int64_t pl = 0; pl < planes; pl++) {
    float v = n->grad[pl] * inv;
    for (int64_t i = 0; i < hw; i++)
      xn->grad[pl * hw + i] += v;
  }
}

const ds_opdef ds__op_global_avgpool = {"global_avgpool", gap_infer, gap_forward, gap_backward, 0};

ds_node ds_global_avgpool(ds_graph *g, ds_node x) {
  return ds__add_node(g, DS_OP_GLOBAL_AVGPOOL, 1, &x, NULL, 0, NULL, 0);
}
