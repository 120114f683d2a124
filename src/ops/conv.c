/* 2-D convolution, NCHW, PyTorch semantics (cross-correlation, zero padding, groups).
 *
 *   x (B, C, H, W), w (O, C/G, KH, KW), b (O) -> y (B, O, OH, OW),
 *   OH = (H + 2P - KH) / S + 1, OW = (W + 2P - KW) / S + 1 (floor).
 *
 * Per sample: col = im2col(x_b) (C*KH*KW, OH*OW), then for each group g one sgemm
 *   y_b[g] (O/G, OH*OW) = b[g] + w[g] (O/G, C/G*KH*KW) col[g] (C/G*KH*KW, OH*OW)
 * (the bias is written first and the GEMM adds to it). Backward, per sample:
 *   dw[g] += dy_b[g] col[g]^T, and either (stride 1, O/G <= C/G, see is_transposable)
 *   dx_b[g] += wt[g] im2col(dy_b)[g] with wt the flipped, transposed weight, or
 *   dcol[g] = w[g]^T dy_b[g], dx_b += col2im(dcol).
 * Samples are spread over OpenMP threads (static schedule); inside the parallel region OpenBLAS
 * runs single-threaded, so each thread does cache-sized GEMMs on its own im2col slice. The weight
 * gradient is accumulated per thread and summed in thread order: the result is bitwise
 * reproducible for a given thread count. Small convs, batch 1 and one thread run without the
 * region (OpenBLAS may then use its own threads). 1x1 convolutions with stride 1 and no padding
 * skip im2col; stride-1 convs that keep the width build im2col rows by shifted copies. Convs with
 * at least 8 input and output channels and one group (every conv of the cnn and resnet models but
 * the first) skip im2col altogether: conv_shift.c runs them as sums of shifted GEMMs.
 * tests/test_conv_paths.c checks every route against a naive loop. */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "ops/conv_internal.h"
#include "ops/op_list.h"
#include "ops/reduce.h"

/* iattr: [0] stride, [1] padding, [2] groups, [3] threads the scratch is planned for */
enum { A_STRIDE, A_PAD, A_GROUPS, A_THREADS };

static conv_dims dims_of(ds_graph *g, const ds_nodedata *n) {
  const ds_nodedata *x = ds__in(g, n, 0), *w = ds__in(g, n, 1);
  conv_dims d;
  d.B = x->shape.dim[0], d.C = x->shape.dim[1], d.H = x->shape.dim[2], d.W = x->shape.dim[3];
  d.O = w->shape.dim[0], d.KH = w->shape.dim[2], d.KW = w->shape.dim[3];
  d.S = n->iattr[A_STRIDE], d.P = n->iattr[A_PAD], d.G = n->iattr[A_GROUPS];
  d.PH = d.PW = d.P;
  d.OH = (d.H + 2 * d.P - d.KH) / d.S + 1;
  d.OW = (d.W + 2 * d.P - d.KW) / d.S + 1;
  d.ohw = d.OH * d.OW;
  d.ckk = d.C * d.KH * d.KW;
  d.cgkk = d.ckk / d.G;
  d.og = d.O / d.G;
  return d;
}

static bool is_pointwise(const conv_dims *d) {
  return d->KH == 1 && d->KW == 1 && d->S == 1 && d->P == 0;
}

/* Stride-1 convs with no more output than input channels take the input gradient as a
 * convolution of dy with the flipped, transposed weight (padding K-1-P):
 *   dx_b[g] += wt[g] (C/G, O/G*KH*KW) im2col(dy_b)[g].
 * Its GEMM sums over O/G*KH*KW terms where the col2im route (dcol = w^T dy, then col2im) sums
 * over only O/G (16 in a narrow ResNet stage, a poor shape for the GEMM), and it adds into dx
 * directly. With more output than input channels im2col(dy) is the larger matrix and the col2im
 * route is as fast (measured on the cnn's 32 -> 64 conv). */
static bool is_transposable(const conv_dims *d) {
  return d->S == 1 && !is_pointwise(d) && d->P <= d->KH - 1 && d->P <= d->KW - 1 &&
         d->og <= d->C / d->G;
}

/* Scratch: the flipped weight of a transposable conv (O * C/G floats, shared), then per thread an
 * im2col slice (of x, or of dy for the transposed input gradient), a private weight gradient
 * (O, C/G*KH*KW) and private bias-gradient sums (O doubles). */
static int64_t wt_floats(const conv_dims *d) {
  if (ds__conv_shift_ok(d)) return ds__conv_shift_shared(d);
  return is_transposable(d) ? ds__align16(d->O * d->cgkk) : 0;
}
static int64_t col_floats(const conv_dims *d) {
  if (ds__conv_shift_ok(d)) return ds__conv_shift_slice(d);
  if (is_pointwise(d)) return 0;
  int64_t n = d->ckk * d->ohw;
  if (is_transposable(d) && d->O * d->KH * d->KW * d->H * d->W > n)
    n = d->O * d->KH * d->KW * d->H * d->W;
  return ds__align16(n);
}
static int64_t slice_floats(const conv_dims *d) {
  return col_floats(d) + ds__align16(d->O * d->cgkk) + ds__align16(2 * d->O);
}

/* OpenBLAS's Zen sgemm kernel prefetches past the packed panels into its buffer; in pages of the
 * buffer that no call has touched yet, each such prefetch costs a page walk (very slow under a
 * hypervisor), and GEMMs with N < 512, as every per-sample conv GEMM here, never touch them: they
 * then ran at a third of the speed they reach once one larger GEMM has used the buffer. Each
 * thread's buffer is warmed by one (64 x 512 x 512) GEMM on zeroed scratch, once per node and
 * thread count (aux[0] records the count); this costs about a millisecond. */
enum { WARM_M = 64, WARM_N = 512, WARM_K = 512 };
static int64_t warm_floats(int nt) {
  return (int64_t)WARM_M * WARM_K + (int64_t)WARM_K * WARM_N + (int64_t)nt * WARM_M * WARM_N;
}
static void warm_blas(ds_graph *g, ds_nodedata *n, int nt) {
  if (n->aux[0] >= (float)nt) return;
  float *a = g->scratch, *b = a + WARM_M * WARM_K;
  memset(a, 0, (size_t)(WARM_M * WARM_K + WARM_K * WARM_N) * sizeof *a);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    float *c = b + WARM_K * WARM_N + (int64_t)omp_get_thread_num() * WARM_M * WARM_N;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, WARM_M, WARM_N, WARM_K, 1.0f, a, WARM_K,
                b, WARM_N, 0.0f, c, WARM_N);
  }
  n->aux[0] = (float)nt;
}

/* Below this many multiply-adds per pass a conv runs on one thread: a parallel region costs
 * microseconds (much more when the cores are shared), a small conv less. */
#define DS_CONV_PAR_MIN (1 << 20)

/* Threads for the current batch: never more than planned at build time, than available, or than
 * samples; one for small convs. */
static int threads_for(const ds_nodedata *n, const conv_dims *d) {
  int64_t t = n->iattr[A_THREADS], avail = omp_get_max_threads();
  if (d->B * d->O * d->ohw * d->cgkk < DS_CONV_PAR_MIN) return 1;
  if (t > avail) t = avail;
  if (t > d->B) t = d->B;
  return t < 1 ? 1 : (int)t;
}

static ds_status conv_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0), *w = ds__in(g, n, 1);
  char s1[64], s2[64];
  int64_t S = n->iattr[A_STRIDE], P = n->iattr[A_PAD], G = n->iattr[A_GROUPS];
  if (S < 1 || P < 0 || G < 1)
    return ds__node_error(n, DS_EINVAL,
                          "stride %lld, padding %lld, groups %lld: need stride >= 1, "
                          "padding >= 0, groups >= 1",
                          (long long)S, (long long)P, (long long)G);
  if (x->shape.rank != 4)
    return ds__node_error(n, DS_ESHAPE, "input '%s' has shape %s; expected (B, C, H, W)", x->name,
                          ds_shape_str(&x->shape, s1, 64));
  if (w->shape.rank != 4)
    return ds__node_error(n, DS_ESHAPE,
                          "weight '%s' has shape %s; expected (C_out, C_in/groups, "
                          "kh, kw)",
                          w->name, ds_shape_str(&w->shape, s1, 64));
  int64_t C = x->shape.dim[1], H = x->shape.dim[2], W = x->shape.dim[3];
  int64_t O = w->shape.dim[0], KH = w->shape.dim[2], KW = w->shape.dim[3];
  if (C % G || O % G)
    return ds__node_error(n, DS_ESHAPE,
                          "groups %lld must divide the %lld input channels of '%s' %s "
                          "and the %lld output channels of weight '%s' %s",
                          (long long)G, (long long)C, x->name, ds_shape_str(&x->shape, s1, 64),
                          (long long)O, w->name, ds_shape_str(&w->shape, s2, 64));
  if (w->shape.dim[1] * G != C)
    return ds__node_error(n, DS_ESHAPE,
                          "input '%s' %s has %lld channels but weight '%s' %s with "
                          "groups %lld expects %lld",
                          x->name, ds_shape_str(&x->shape, s1, 64), (long long)C, w->name,
                          ds_shape_str(&w->shape, s2, 64), (long long)G,
                          (long long)(w->shape.dim[1] * G));
  if (KH > H + 2 * P || KW > W + 2 * P)
    return ds__node_error(n, DS_ESHAPE,
                          "kernel %lldx%lld of weight '%s' %s is larger than input "
                          "'%s' %s padded by %lld",
                          (long long)KH, (long long)KW, w->name, ds_shape_str(&w->shape, s2, 64),
                          x->name, ds_shape_str(&x->shape, s1, 64), (long long)P);
  if (n->n_in == 3) {
    ds_nodedata *b = ds__in(g, n, 2);
    if (b->shape.rank != 1 || b->shape.dim[0] != O)
      return ds__node_error(n, DS_ESHAPE,
                            "bias '%s' %s does not match the %lld output channels of "
                            "weight '%s' %s",
                            b->name, ds_shape_str(&b->shape, s1, 64), (long long)O, w->name,
                            ds_shape_str(&w->shape, s2, 64));
  }
  conv_dims d = dims_of(g, n);
  n->shape = ds_shape4(d.B, d.O, d.OH, d.OW);
  const int nt = threads_for(n, &d);
  n->scratch_size = wt_floats(&d) + (int64_t)nt * slice_floats(&d);
  if (n->scratch_size < warm_floats(nt)) n->scratch_size = warm_floats(nt);
  n->aux_size = 1;
  return DS_OK;
}

/* Output columns [lo, hi) whose input column ow*S - P + j lies inside [0, W). */
static void valid_cols(const conv_dims *d, int64_t j, int64_t *lo, int64_t *hi) {
  int64_t a = d->PW - j, b = d->W - 1 + d->PW - j; /* need a <= ow*S <= b */
  *lo = a > 0 ? (a + d->S - 1) / d->S : 0;
  *hi = b < 0 ? 0 : b / d->S + 1;
  if (*hi > d->OW) *hi = d->OW;
  if (*lo > *hi) *lo = *hi;
}

/* Rows of one col row (c, i, j) that read inside the input: ih = oh*S - P + i in [0, H). */
static void valid_rows(const conv_dims *d, int64_t i, int64_t *lo, int64_t *hi) {
  int64_t a = d->PH - i, b = d->H - 1 + d->PH - i; /* need a <= oh*S <= b */
  *lo = a > 0 ? (a + d->S - 1) / d->S : 0;
  *hi = b < 0 ? 0 : b / d->S + 1;
  if (*hi > d->OH) *hi = d->OH;
  if (*lo > *hi) *lo = *hi;
}

/* With stride 1 and OW == W ("same" width), col row (c, i, j) is the input plane shifted by
 * delta = (i - P) W + (j - P): col[p] = x[p + delta], except in the padding (whole rows above and
 * below, |j - P| columns at the edges). One long copy plus edge fixes replaces OH short copies. */
static bool is_shift(const conv_dims *d) { return d->S == 1 && d->OW == d->W; }

static void copy_shift(const float *restrict src, float *restrict dst, int64_t n) {
  for (int64_t p = 0; p < n; p++)
    dst[p] = src[p];
}
static void add_shift(const float *restrict src, float *restrict dst, int64_t n) {
  for (int64_t p = 0; p < n; p++)
    dst[p] += src[p];
}

/* The span [p0, p1) of a shifted row whose source lies in the plane; rows [r0, r1) are valid. */
static void shift_span(const conv_dims *d, int64_t delta, int64_t r0, int64_t r1, int64_t *p0,
                       int64_t *p1) {
  *p0 = r0 * d->OW, *p1 = r1 * d->OW;
  if (*p0 < -delta) *p0 = -delta;
  if (*p1 > d->H * d->W - delta) *p1 = d->H * d->W - delta;
  if (*p1 < *p0) *p1 = *p0;
}

/* Zeroes the padding columns [0, lo) and [hi, OW) of rows [r0, r1) of a col row. */
static void zero_edges(const conv_dims *d, float *row, int64_t r0, int64_t r1, int64_t lo,
                       int64_t hi) {
  if (lo == 0 && hi == d->OW) return;
  for (int64_t oh = r0; oh < r1; oh++) {
    float *r = row + oh * d->OW;
    for (int64_t ow = 0; ow < lo; ow++)
      r[ow] = 0.0f;
    for (int64_t ow = hi; ow < d->OW; ow++)
      r[ow] = 0.0f;
  }
}

/* col (C*KH*KW, OH*OW) from one sample x (C, H, W); zero where the window is in the padding. */
static void im2col(const conv_dims *d, const float *x, float *col) {
  const bool shift = is_shift(d);
  for (int64_t c = 0; c < d->C; c++)
    for (int64_t i = 0; i < d->KH; i++)
      for (int64_t j = 0; j < d->KW; j++) {
        float *row = col + ((c * d->KH + i) * d->KW + j) * d->ohw;
        const float *plane = x + c * d->H * d->W;
        int64_t lo, hi, r0, r1, off = j - d->PW;
        valid_cols(d, j, &lo, &hi);
        valid_rows(d, i, &r0, &r1);
        for (int64_t p = 0; p < r0 * d->OW; p++)
          row[p] = 0.0f;
        for (int64_t p = r1 * d->OW; p < d->ohw; p++)
          row[p] = 0.0f;
        if (shift) {
          int64_t delta = (i - d->PH) * d->W + off, p0, p1;
          shift_span(d, delta, r0, r1, &p0, &p1);
          copy_shift(plane + p0 + delta, row + p0, p1 - p0);
          zero_edges(d, row, r0, r1, lo, hi); /* also covers [r0 OW, p0) and [p1, r1 OW) */
          continue;
        }
        for (int64_t oh = r0; oh < r1; oh++) {
          float *r = row + oh * d->OW;
          const float *xr = plane + (oh * d->S - d->PH + i) * d->W;
          for (int64_t ow = 0; ow < lo; ow++)
            r[ow] = 0.0f;
          if (d->S == 1)
            for (int64_t ow = lo; ow < hi; ow++)
              r[ow] = xr[ow + off];
          else
            for (int64_t ow = lo; ow < hi; ow++)
              r[ow] = xr[ow * d->S + off];
          for (int64_t ow = hi; ow < d->OW; ow++)
            r[ow] = 0.0f;
        }
      }
}

/* dx (C, H, W) += col2im(dcol): the adjoint of im2col. dcol is scratch: its padding entries may
 * be zeroed on the way. */
static void col2im_add(const conv_dims *d, float *dcol, float *dx) {
  const bool shift = is_shift(d);
  for (int64_t c = 0; c < d->C; c++)
    for (int64_t i = 0; i < d->KH; i++)
      for (int64_t j = 0; j < d->KW; j++) {
        float *row = dcol + ((c * d->KH + i) * d->KW + j) * d->ohw;
        float *plane = dx + c * d->H * d->W;
        int64_t lo, hi, r0, r1, off = j - d->PW;
        valid_cols(d, j, &lo, &hi);
        valid_rows(d, i, &r0, &r1);
        if (shift) { /* zero the padding columns, then one long shifted add */
          int64_t delta = (i - d->PH) * d->W + off, p0, p1;
          shift_span(d, delta, r0, r1, &p0, &p1);
          zero_edges(d, row, r0, r1, lo, hi);
          add_shift(row + p0, plane + p0 + delta, p1 - p0);
          continue;
        }
        for (int64_t oh = r0; oh < r1; oh++) {
          const float *r = row + oh * d->OW;
          float *xr = plane + (oh * d->S - d->PH + i) * d->W;
          if (d->S == 1)
            for (int64_t ow = lo; ow < hi; ow++)
              xr[ow + off] += r[ow];
          else
            for (int64_t ow = lo; ow < hi; ow++)
              xr[ow * d->S + off] += r[ow];
        }
      }
}

/* y_b (O, OH*OW): the bias, then the GEMM adds w col to it (beta = 1), so neither OpenBLAS's
 * beta = 0 pass nor a bias pass touches y_b a second time. */
static void conv_forward(ds_graph *g, ds_nodedata *n) {
  const conv_dims d = dims_of(g, n);
  const float *x = ds__in(g, n, 0)->val, *w = ds__in(g, n, 1)->val;
  const float *bias = n->n_in == 3 ? ds__in(g, n, 2)->val : NULL;
  float *y = n->val;
  const int nt = threads_for(n, &d);
  const int64_t slice = slice_floats(&d), base = wt_floats(&d);
  const bool pw = is_pointwise(&d), shift = ds__conv_shift_ok(&d);
  warm_blas(g, n, nt);
  if (shift) ds__conv_shift_weight(&d, w, g->scratch);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    float *col = g->scratch + base + (int64_t)omp_get_thread_num() * slice;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < d.B; b++) {
      const float *xb = x + b * d.C * d.H * d.W;
      float *yb = y + b * d.O * d.ohw; /* (O, OH*OW) */
      if (shift) {
        ds__conv_shift_forward(&d, g->scratch, xb, bias, yb, col);
        continue;
      }
      const float *cb = xb;
      if (!pw) {
        im2col(&d, xb, col);
        cb = col;
      }
      if (bias)
        for (int64_t o = 0; o < d.O; o++) {
          float *r = yb + o * d.ohw, bo = bias[o];
          for (int64_t p = 0; p < d.ohw; p++)
            r[p] = bo;
        }
      for (int64_t k = 0; k < d.G; k++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d.og, (int)d.ohw, (int)d.cgkk,
                    1.0f, w + k * d.og * d.cgkk, (int)d.cgkk, cb + k * d.cgkk * d.ohw, (int)d.ohw,
                    bias ? 1.0f : 0.0f, yb + k * d.og * d.ohw, (int)d.ohw);
    }
  }
}

/* wt (G, C/G, O/G*KH*KW): wt[g][c][o][KH-1-i][KW-1-j] = w[g*O/G + o][c][i][j]. */
static void flip_weight(const conv_dims *d, const float *w, float *wt) {
  const int64_t cg = d->C / d->G, kk = d->KH * d->KW;
  for (int64_t k = 0; k < d->G; k++)
    for (int64_t o = 0; o < d->og; o++)
      for (int64_t c = 0; c < cg; c++) {
        const float *src = w + ((k * d->og + o) * cg + c) * kk;
        float *dst = wt + ((k * cg + c) * d->og + o) * kk;
        for (int64_t q = 0; q < kk; q++)
          dst[kk - 1 - q] = src[q];
      }
}

static void conv_backward(ds_graph *g, ds_nodedata *n) {
  const conv_dims d = dims_of(g, n);
  ds_nodedata *xn = ds__in(g, n, 0), *wn = ds__in(g, n, 1);
  const float *x = xn->val, *w = wn->val, *dy = n->grad;
  float *dx = xn->grad, *dw = wn->grad, *db = n->n_in == 3 ? ds__in(g, n, 2)->grad : NULL;
  const int nt = threads_for(n, &d);
  const int64_t slice = slice_floats(&d), cols = col_floats(&d), nw = d.O * d.cgkk;
  const int64_t base = wt_floats(&d);
  const int64_t dbo = cols + ds__align16(nw); /* offset of the per-thread bias sums (doubles) */
  const bool shift = ds__conv_shift_ok(&d), fresh = dx && xn->grad_fresh;
  const bool pw = is_pointwise(&d), tr = dx && !shift && is_transposable(&d);
  const conv_dims td = tr ? ds__conv_transposed(&d) : d;
  float *wt = g->scratch;
  if (tr) flip_weight(&d, w, wt);
  if (shift) ds__conv_shift_weight(&d, w, wt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    float *col = g->scratch + base + (int64_t)omp_get_thread_num() * slice;
    /* one thread accumulates straight into dw; several use private sums, added in order below */
    float *dwt = nt > 1 || shift ? col + cols : dw;
    double *dbt = (double *)(col + dbo);
    if (dw && (nt > 1 || shift)) memset(dwt, 0, (size_t)nw * sizeof *dwt);
    if (db) memset(dbt, 0, (size_t)d.O * sizeof *dbt);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < d.B; b++) {
      const float *xb = x + b * d.C * d.H * d.W, *dyb = dy + b * d.O * d.ohw;
      if (db)
        for (int64_t o = 0; o < d.O; o++)
          dbt[o] += ds__sum16(dyb + o * d.ohw, d.ohw);
      if (shift) {
        ds__conv_shift_backward(&d, wt, xb, dyb, dw ? dwt : NULL,
                                dx ? dx + b * d.C * d.H * d.W : NULL, fresh, col);
        continue;
      }
      if (dw) {
        const float *cb = xb;
        if (!pw) {
          im2col(&d, xb, col);
          cb = col;
        }
        for (int64_t k = 0; k < d.G; k++) /* dw[k] += dy_b[k] col[k]^T */
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d.og, (int)d.cgkk, (int)d.ohw,
                      1.0f, dyb + k * d.og * d.ohw, (int)d.ohw, cb + k * d.cgkk * d.ohw, (int)d.ohw,
                      1.0f, dwt + k * d.og * d.cgkk, (int)d.cgkk);
      }
      if (dx && tr) {
        /* dx_b[k] += wt[k] im2col(dy_b)[k], the transposed conv */
        float *dxb = dx + b * d.C * d.H * d.W;
        im2col(&td, dyb, col);
        for (int64_t k = 0; k < td.G; k++)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)td.og, (int)td.ohw,
                      (int)td.cgkk, 1.0f, wt + k * td.og * td.cgkk, (int)td.cgkk,
                      col + k * td.cgkk * td.ohw, (int)td.ohw, fresh ? 0.0f : 1.0f,
                      dxb + k * td.og * td.ohw, (int)td.ohw);
      } else if (dx) {
        float *dxb = dx + b * d.C * d.H * d.W;
        /* dcol[k] = w[k]^T dy_b[k]; a pointwise conv writes it straight into dx_b */
        float *dcol = pw ? dxb : col;
        if (fresh && !pw) memset(dxb, 0, (size_t)(d.C * d.H * d.W) * sizeof *dxb);
        for (int64_t k = 0; k < d.G; k++)
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d.cgkk, (int)d.ohw, (int)d.og,
                      1.0f, w + k * d.og * d.cgkk, (int)d.cgkk, dyb + k * d.og * d.ohw, (int)d.ohw,
                      pw && !fresh ? 1.0f : 0.0f, dcol + k * d.cgkk * d.ohw, (int)d.ohw);
        if (!pw) col2im_add(&d, col, dxb);
      }
    }
  }
  /* sum the per-thread partial gradients in thread order (reproducible for a thread count) */
  if (dw && shift)
    ds__conv_shift_weight_grad(&d, g->scratch + base + cols, slice, nt, dw);
  else if (dw && nt > 1) {
    const float *part = g->scratch + base + cols;
#pragma omp parallel for num_threads(nt) schedule(static) if (nw > 16384)
    for (int64_t i = 0; i < nw; i++) {
      float s = 0.0f;
      for (int t = 0; t < nt; t++)
        s += part[t * slice + i];
      dw[i] += s;
    }
  }
  if (db)
    for (int64_t o = 0; o < d.O; o++) {
      double s = 0;
      for (int t = 0; t < nt; t++)
        s += ((const double *)(g->scratch + base + t * slice + dbo))[o];
      db[o] += (float)s;
    }
}

const ds_opdef ds__op_conv2d = {"conv2d", conv_infer, conv_forward, conv_backward, 1};

ds_node ds_conv2d(ds_graph *g, ds_node x, ds_node w, ds_node b, int stride, int padding,
                  int groups) {
  ds_node in[3] = {x, w, b};
  int64_t attr[4] = {stride, padding, groups, omp_get_max_threads()};
  return ds__add_node(g, DS_OP_CONV2D, b == DS_NONE ? 2 : 3, in, attr, 4, NULL, 0);
}
