/* Stride-1 convolutions as sums of shifted GEMMs, without im2col.
 *
 * With the input padded into planes of Hp x Wp (Hp = H + 2P, Wp = W + 2P), output (oh, ow) sits
 * at flat position q = oh Wp + ow of a "wide" output whose rows are Wp long, and kernel tap (i, j)
 * reads the padded input at q + i Wp + j. So for one sample
 *   ywide (O, n) = sum over taps (i, j) of W_ij (O, C) . xpad[:, i Wp + j ...] (C, n),
 * n = (OH - 1) Wp + OW: KH*KW GEMMs whose second operand is the padded input itself, read with
 * row stride Hp Wp and a constant offset. The columns ow >= OW of ywide are discarded when it is
 * copied into y (with the bias added on the way). im2col writes KH*KW copies of the input and the
 * GEMM then packs them again; here the input is copied once (padding) and only packed.
 *
 * The backward is the same idea read two ways:
 *   dx: the transposed conv, a stride-1 conv of dy padded by K-1-P with the flipped, transposed
 *       weight: tap (i, j) uses W_{KH-1-i, KW-1-j}^T (C, O);
 *   dW_ij (O, C) += dywide (O, n) . xpad[:, i Wp + j ...]^T, with dy spread on rows of Wp and zero
 *       in the discarded columns. When the transposed conv's padded width equals Wp ("same"
 *       padding, P = (K-1)/2), its padded dy is exactly that and is used in place.
 * tests/test_conv_paths.c checks this route against a naive loop. */
#include <cblas.h>
#include <string.h>

#include "ops/conv_internal.h"

typedef struct {
  int64_t Wp, plane, n; /* padded row length, padded plane, length of a wide output row */
} geom;

static geom geom_of(const conv_dims *d) {
  geom q;
  q.Wp = d->W + 2 * d->PW;
  q.plane = (d->H + 2 * d->PH) * q.Wp;
  q.n = (d->OH - 1) * q.Wp + d->OW;
  return q;
}

bool ds__conv_shift_ok(const conv_dims *d) {
  return d->S == 1 && d->G == 1 && d->KH * d->KW > 1 && d->P <= d->KH - 1 && d->P <= d->KW - 1 &&
         d->C >= 8 && d->O >= 8;
}

int64_t ds__conv_shift_shared(const conv_dims *d) { return ds__align16(d->O * d->ckk); }

int64_t ds__conv_shift_slice(const conv_dims *d) {
  const conv_dims t = ds__conv_transposed(d);
  const geom q = geom_of(d), qt = geom_of(&t);
  const int64_t xpad = ds__align16(d->C * q.plane);
  const int64_t fwd = xpad + ds__align16(d->O * q.n);
  const int64_t bwd = xpad + ds__align16(d->O * qt.plane) + ds__align16(d->C * qt.n) +
                      ds__align16(d->O * d->OH * q.Wp);
  return fwd > bwd ? fwd : bwd;
}

void ds__conv_shift_weight(const conv_dims *d, const float *w, float *wr) {
  const int64_t kk = d->KH * d->KW;
  for (int64_t o = 0; o < d->O; o++)
    for (int64_t c = 0; c < d->C; c++)
      for (int64_t t = 0; t < kk; t++)
        wr[(t * d->O + o) * d->C + c] = w[(o * d->C + c) * kk + t];
}

/* dst (C, H + 2 PH, W + 2 PW): src (C, H, W) framed by zeros. */
static void pad_planes(int64_t C, int64_t H, int64_t W, int64_t PH, int64_t PW, const float *src,
                       float *dst) {
  const int64_t Wp = W + 2 * PW, plane = (H + 2 * PH) * Wp;
  for (int64_t c = 0; c < C; c++) {
    float *p = dst + c * plane;
    const float *s = src + c * H * W;
    memset(p, 0, (size_t)(PH * Wp + PW) * sizeof *p); /* rows above, left edge of the first row */
    for (int64_t h = 0; h < H; h++) {
      float *r = p + (PH + h) * Wp + PW;
      memcpy(r, s + h * W, (size_t)W * sizeof *r);
      memset(r + W, 0, (size_t)(2 * PW) * sizeof *r); /* right edge, left edge of the next row */
    }
    const int64_t done = (PH + H) * Wp + PW;
    memset(p + done, 0, (size_t)(plane - done) * sizeof *p);
  }
}

/* ywide (M, n) = sum over taps of A_tap (M, K) . xpad[:, tap offset ...]; A_tap = wr[tap] (O, C)
 * for the forward (M = O, K = C), wr[KH*KW - 1 - tap]^T (C, O) for the transposed conv. */
static void shift_gemms(const conv_dims *d, const geom *q, const float *wr, bool flip,
                        const float *xpad, float *ywide) {
  const int64_t kk = d->KH * d->KW, M = d->O, K = d->C;
  for (int64_t i = 0; i < d->KH; i++)
    for (int64_t j = 0; j < d->KW; j++) {
      const int64_t t = i * d->KW + j;
      const float *a = wr + (flip ? kk - 1 - t : t) * M * K;
      cblas_sgemm(CblasRowMajor, flip ? CblasTrans : CblasNoTrans, CblasNoTrans, (int)M, (int)q->n,
                  (int)K, 1.0f, a, flip ? (int)M : (int)K, xpad + i * q->Wp + j, (int)q->plane,
                  t ? 1.0f : 0.0f, ywide, (int)q->n);
    }
}

/* out (M, OH, OW) = ywide's first OW columns of each row of Wp (+ bias[m]), or out += them. */
static void unwiden(int64_t M, int64_t OH, int64_t OW, const geom *q, const float *ywide,
                    const float *bias, float *out, bool add) {
  for (int64_t m = 0; m < M; m++)
    for (int64_t oh = 0; oh < OH; oh++) {
      const float *restrict s = ywide + m * q->n + oh * q->Wp;
      float *restrict o = out + (m * OH + oh) * OW;
      if (add)
        for (int64_t ow = 0; ow < OW; ow++)
          o[ow] += s[ow];
      else {
        const float b = bias ? bias[m] : 0.0f;
        for (int64_t ow = 0; ow < OW; ow++)
          o[ow] = s[ow] + b;
      }
    }
}

void ds__conv_shift_forward(const conv_dims *d, const float *wr, const float *xb, const float *bias,
                            float *yb, float *s) {
  const geom q = geom_of(d);
  float *xpad = s, *ywide = s + ds__align16(d->C * q.plane);
  pad_planes(d->C, d->H, d->W, d->PH, d->PW, xb, xpad);
  shift_gemms(d, &q, wr, false, xpad, ywide);
  unwiden(d->O, d->OH, d->OW, &q, ywide, bias, yb, false);
}

void ds__conv_shift_backward(const conv_dims *d, const float *wr, const float *xb, const float *dyb,
                             float *dws, float *dxb, float *s) {
  const conv_dims t = ds__conv_transposed(d);
  const geom q = geom_of(d), qt = geom_of(&t);
  float *xpad = s, *dypad = xpad + ds__align16(d->C * q.plane);
  float *dxwide = dypad + ds__align16(d->O * qt.plane);
  float *dywide = dxwide + ds__align16(d->C * qt.n);
  if (dxb) {
    pad_planes(d->O, d->OH, d->OW, t.PH, t.PW, dyb, dypad);
    shift_gemms(&t, &qt, wr, true, dypad, dxwide);
    unwiden(d->C, d->H, d->W, &qt, dxwide, NULL, dxb, true);
  }
  if (!dws) return;
  const float *a = dywide; /* dy on rows of Wp, zero in the discarded columns */
  int64_t lda = d->OH * q.Wp;
  if (dxb && qt.Wp == q.Wp) {
    a = dypad + t.PH * qt.Wp + t.PW, lda = qt.plane;
  } else
    for (int64_t o = 0; o < d->O; o++)
      for (int64_t oh = 0; oh < d->OH; oh++) {
        float *r = dywide + o * lda + oh * q.Wp;
        memcpy(r, dyb + (o * d->OH + oh) * d->OW, (size_t)d->OW * sizeof *r);
        memset(r + d->OW, 0, (size_t)(q.Wp - d->OW) * sizeof *r);
      }
  pad_planes(d->C, d->H, d->W, d->PH, d->PW, xb, xpad);
  for (int64_t i = 0; i < d->KH; i++)
    for (int64_t j = 0; j < d->KW; j++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d->O, (int)d->C, (int)q.n, 1.0f, a,
                  (int)lda, xpad + i * q.Wp + j, (int)q.plane, 1.0f,
                  dws + (i * d->KW + j) * d->O * d->C, (int)d->C);
}

void ds__conv_shift_weight_grad(const conv_dims *d, const float *dws, int64_t stride, int nt,
                                float *dw) {
  const int64_t kk = d->KH * d->KW, oc = d->O * d->C;
  for (int64_t o = 0; o < d->O; o++)
    for (int64_t c = 0; c < d->C; c++)
      for (int64_t t = 0; t < kk; t++) {
        float s = 0.0f;
        for (int k = 0; k < nt; k++)
          s += dws[k * stride + t * oc + o * d->C + c];
        dw[(o * d->C + c) * kk + t] += s;
      }
}
