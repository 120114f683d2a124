/* Convolutions as sums of shifted GEMMs, without im2col.
 *
 * Stride 1: with the input padded into planes of Hp x Wp (Hp = H + 2P, Wp = W + 2P), output
 * (oh, ow) sits at flat position q = oh Wp + ow of a "wide" output whose rows are Wp long, and
 * kernel tap (i, j) reads the padded input at q + i Wp + j. So for one sample
 *   ywide (O, n) = sum over taps (i, j) of W_ij (O, C) . xpad[:, i Wp + j ...] (C, n),
 * n = (OH - 1) Wp + OW: KH*KW GEMMs whose second operand is the padded input itself, read with
 * row stride Hp Wp and a constant offset. The columns ow >= OW of ywide are discarded when it is
 * copied into y (with the bias added on the way). im2col writes KH*KW copies of the input and the
 * GEMM then packs them again; here the input is copied once (padding) and only packed.
 *
 * Stride S > 1: the padded input is split into S*S phase planes, phase (a, b) holding
 * xpad[u S + a][v S + b] on a grid of Hq x Wq. Tap (i, j) reads phase (i mod S, j mod S) at
 * (oh + i / S, ow + j / S): the same shifted GEMMs, on the phase's planes with rows of Wq.
 *
 * The backward reads the same sums the other way:
 *   dW_ij (O, C) += dywide (O, n) . phase[:, shift_ij ...]^T, with dy spread on rows of Wq and
 *       zero in the discarded columns;
 *   dx, stride 1 (padding at most K-1): the transposed conv, a stride-1 conv of dy padded by
 *       K-1-P with the flipped, transposed weight, tap (i, j) using W_{KH-1-i, KW-1-j}^T (C, O).
 *       When its padded width equals Wp ("same" padding, P = (K-1)/2), its padded dy is dywide
 *       itself and is used in place for dW;
 *   dx, stride S > 1: each tap adds W_ij^T (C, O) . dywide into the phase planes of dx at its
 *       shift (GEMMs with beta 1), and the phases are then added back into dx.
 * tests/test_conv_paths.c checks this route against a naive loop. */
#include <cblas.h>
#include <string.h>

#include "ops/conv_internal.h"

typedef struct {
  int64_t S, Hq, Wq; /* stride; rows and columns of a (phase) plane */
  int64_t plane, n;  /* Hq Wq; length of a wide output row block: (OH - 1) Wq + OW */
} geom;

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

static geom geom_of(const conv_dims *d) {
  geom q;
  q.S = d->S;
  q.Hq = cdiv(d->H + 2 * d->PH, d->S), q.Wq = cdiv(d->W + 2 * d->PW, d->S);
  if (q.Hq < d->OH + (d->KH - 1) / d->S) q.Hq = d->OH + (d->KH - 1) / d->S;
  if (q.Wq < d->OW + (d->KW - 1) / d->S) q.Wq = d->OW + (d->KW - 1) / d->S;
  q.plane = q.Hq * q.Wq;
  q.n = (d->OH - 1) * q.Wq + d->OW;
  return q;
}

/* Offset of tap (i, j)'s operand in the phase planes (S*S blocks of C planes). */
static int64_t tap_offset(const conv_dims *d, const geom *q, int64_t i, int64_t j) {
  const int64_t phase = (i % q->S) * q->S + j % q->S;
  return phase * d->C * q->plane + (i / q->S) * q->Wq + j / q->S;
}

static bool same_dx(const conv_dims *d) { return d->S == 1; }

bool ds__conv_shift_ok(const conv_dims *d) {
  if (d->G != 1 || d->C < 8 || d->O < 8) return false;
  if (d->S == 1) return d->KH * d->KW > 1 && d->P <= d->KH - 1 && d->P <= d->KW - 1;
  return true;
}

int64_t ds__conv_shift_shared(const conv_dims *d) { return ds__align16(d->O * d->ckk); }

int64_t ds__conv_shift_slice(const conv_dims *d) {
  const geom q = geom_of(d);
  const int64_t xph = ds__align16(d->S * d->S * d->C * q.plane);
  const int64_t dywide = ds__align16(d->O * d->OH * q.Wq);
  const int64_t fwd = xph + ds__align16(d->O * q.n);
  int64_t bwd = xph + dywide + xph; /* stride > 1: phase planes of dx */
  if (same_dx(d)) {
    const conv_dims t = ds__conv_transposed(d);
    const geom qt = geom_of(&t);
    bwd = xph + dywide + ds__align16(d->O * qt.plane) + ds__align16(d->C * qt.n);
  }
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

/* Range [lo, hi) of phase coordinates u (u S + a - P in [0, N)), clipped to [0, Nq). */
static void phase_range(int64_t a, int64_t P, int64_t S, int64_t N, int64_t Nq, int64_t *lo,
                        int64_t *hi) {
  *lo = P > a ? cdiv(P - a, S) : 0;
  *hi = N - 1 + P - a < 0 ? 0 : (N - 1 + P - a) / S + 1;
  if (*hi > Nq) *hi = Nq;
  if (*lo > *hi) *lo = *hi;
}

/* Stride S > 1, between an image (C, H, W) and its phase planes padded by P. With src: fill the
 * phase planes that some tap reads from it (zero outside the image); otherwise dst += those
 * planes (the adjoint). */
static void move_phases(const conv_dims *d, const geom *q, float *xph, const float *src,
                        float *dst) {
  const bool split = src != NULL;
  const int64_t S = q->S;
  for (int64_t a = 0; a < S && a < d->KH; a++)
    for (int64_t b = 0; b < S && b < d->KW; b++) {
      int64_t u0, u1, v0, v1;
      phase_range(a, d->PH, S, d->H, q->Hq, &u0, &u1);
      phase_range(b, d->PW, S, d->W, q->Wq, &v0, &v1);
      for (int64_t c = 0; c < d->C; c++) {
        float *p = xph + (a * S + b) * d->C * q->plane + c * q->plane;
        const int64_t img = c * d->H * d->W;
        if (split) {
          memset(p, 0, (size_t)(u0 * q->Wq) * sizeof *p);
          memset(p + u1 * q->Wq, 0, (size_t)((q->Hq - u1) * q->Wq) * sizeof *p);
        }
        for (int64_t u = u0; u < u1; u++) {
          float *restrict r = p + u * q->Wq;
          /* image index of phase column v0 (columns before it lie in the padding) */
          const int64_t at = img + (u * S + a - d->PH) * d->W + v0 * S + b - d->PW;
          if (!split) {
            float *restrict xr = dst + at;
            const float *restrict rv = r + v0;
            if (S == 2) /* a constant stride, which gcc vectorises */
              for (int64_t v = 0; v < v1 - v0; v++)
                xr[2 * v] += rv[v];
            else
              for (int64_t v = 0; v < v1 - v0; v++)
                xr[v * S] += rv[v];
            continue;
          }
          const float *restrict xr = src + at;
          float *restrict rv = r + v0;
          for (int64_t v = 0; v < v0; v++)
            r[v] = 0.0f;
          if (S == 2)
            for (int64_t v = 0; v < v1 - v0; v++)
              rv[v] = xr[2 * v];
          else
            for (int64_t v = 0; v < v1 - v0; v++)
              rv[v] = xr[v * S];
          for (int64_t v = v1; v < q->Wq; v++)
            r[v] = 0.0f;
        }
      }
    }
}

/* The planes taps read from x (C, H, W) padded by P: the padded planes for stride 1, the phase
 * planes otherwise. */
static void split_phases(const conv_dims *d, const geom *q, const float *x, float *xph) {
  if (q->S == 1)
    pad_planes(d->C, d->H, d->W, d->PH, d->PW, x, xph);
  else
    move_phases(d, q, xph, x, NULL);
}

/* ywide (M, n) = sum over taps of A_tap (M, K) . phases[tap offset ...]; A_tap = wr[tap] (O, C)
 * for the forward (M = O, K = C), wr[KH*KW - 1 - tap]^T (C, O) for the transposed conv. */
static void shift_gemms(const conv_dims *d, const geom *q, const float *wr, bool flip,
                        const float *xph, float *ywide) {
  const int64_t kk = d->KH * d->KW, M = d->O, K = d->C;
  for (int64_t i = 0; i < d->KH; i++)
    for (int64_t j = 0; j < d->KW; j++) {
      const int64_t t = i * d->KW + j;
      const float *a = wr + (flip ? kk - 1 - t : t) * M * K;
      cblas_sgemm(CblasRowMajor, flip ? CblasTrans : CblasNoTrans, CblasNoTrans, (int)M, (int)q->n,
                  (int)K, 1.0f, a, flip ? (int)M : (int)K, xph + tap_offset(d, q, i, j),
                  (int)q->plane, t ? 1.0f : 0.0f, ywide, (int)q->n);
    }
}

/* out (M, OH, OW) = ywide's first OW columns of each row of Wq (+ bias[m]), or out += them. */
static void unwiden(int64_t M, int64_t OH, int64_t OW, const geom *q, const float *ywide,
                    const float *bias, float *out, bool add) {
  for (int64_t m = 0; m < M; m++)
    for (int64_t oh = 0; oh < OH; oh++) {
      const float *restrict s = ywide + m * q->n + oh * q->Wq;
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
  float *xph = s, *ywide = s + ds__align16(d->S * d->S * d->C * q.plane);
  split_phases(d, &q, xb, xph);
  shift_gemms(d, &q, wr, false, xph, ywide);
  unwiden(d->O, d->OH, d->OW, &q, ywide, bias, yb, false);
}

/* dywide (O, OH Wq): dy on rows of Wq, zero in the discarded columns. */
static void widen(const conv_dims *d, const geom *q, const float *dyb, float *dywide) {
  for (int64_t o = 0; o < d->O; o++)
    for (int64_t oh = 0; oh < d->OH; oh++) {
      float *r = dywide + (o * d->OH + oh) * q->Wq;
      memcpy(r, dyb + (o * d->OH + oh) * d->OW, (size_t)d->OW * sizeof *r);
      memset(r + d->OW, 0, (size_t)(q->Wq - d->OW) * sizeof *r);
    }
}

void ds__conv_shift_backward(const conv_dims *d, const float *wr, const float *xb, const float *dyb,
                             float *dws, float *dxb, bool write_dx, float *s) {
  const geom q = geom_of(d);
  float *xph = s, *dywide = xph + ds__align16(d->S * d->S * d->C * q.plane);
  float *rest = dywide + ds__align16(d->O * d->OH * q.Wq);
  const float *a = NULL; /* dW's first operand: dy on rows of Wq */
  int64_t lda = d->OH * q.Wq;
  if (dxb && same_dx(d)) {
    const conv_dims t = ds__conv_transposed(d);
    const geom qt = geom_of(&t);
    float *dypad = rest, *dxwide = rest + ds__align16(d->O * qt.plane);
    pad_planes(d->O, d->OH, d->OW, t.PH, t.PW, dyb, dypad);
    shift_gemms(&t, &qt, wr, true, dypad, dxwide);
    unwiden(d->C, d->H, d->W, &qt, dxwide, NULL, dxb, !write_dx);
    if (qt.Wq == q.Wq) a = dypad + t.PH * qt.Wq + t.PW, lda = qt.plane;
  }
  if (!a && (dws || (dxb && !same_dx(d)))) widen(d, &q, dyb, dywide), a = dywide;
  if (dxb && !same_dx(d)) {
    float *dxph = rest;
    memset(dxph, 0, (size_t)(d->S * d->S * d->C * q.plane) * sizeof *dxph);
    for (int64_t i = 0; i < d->KH; i++)
      for (int64_t j = 0; j < d->KW; j++)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d->C, (int)q.n, (int)d->O, 1.0f,
                    wr + (i * d->KW + j) * d->O * d->C, (int)d->C, a, (int)lda, 1.0f,
                    dxph + tap_offset(d, &q, i, j), (int)q.plane);
    if (write_dx) memset(dxb, 0, (size_t)(d->C * d->H * d->W) * sizeof *dxb);
    move_phases(d, &q, dxph, NULL, dxb);
  }
  if (!dws) return;
  split_phases(d, &q, xb, xph);
  for (int64_t i = 0; i < d->KH; i++)
    for (int64_t j = 0; j < d->KW; j++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d->O, (int)d->C, (int)q.n, 1.0f, a,
                  (int)lda, xph + tap_offset(d, &q, i, j), (int)q.plane, 1.0f,
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
