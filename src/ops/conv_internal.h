/* Shared by conv.c and conv_shift.c: the dimensions of one conv2d node and the shifted-GEMM
 * route. */
#ifndef DESCENT_OPS_CONV_INTERNAL_H
#define DESCENT_OPS_CONV_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>

#include "core/graph_internal.h"

typedef struct {
  int64_t B, C, H, W;    /* input */
  int64_t O, KH, KW;     /* weight (O, C/G, KH, KW) */
  int64_t OH, OW;        /* output plane */
  int64_t S, P, G;       /* stride, padding, groups */
  int64_t PH, PW;        /* padding of rows and columns: both P, except in transposed_dims */
  int64_t ckk, cgkk, og; /* C*KH*KW, C/G*KH*KW, O/G */
  int64_t ohw;           /* OH*OW */
} conv_dims;

/* The stride-1 conv that maps dy (B, O, OH, OW) to dx (B, C, H, W): dy padded by K-1-P with the
 * flipped, transposed weight (for stride 1 and padding at most K-1). */
static inline conv_dims ds__conv_transposed(const conv_dims *d) {
  conv_dims t = *d;
  t.C = d->O, t.H = d->OH, t.W = d->OW;
  t.O = d->C, t.OH = d->H, t.OW = d->W;
  t.PH = d->KH - 1 - d->P, t.PW = d->KW - 1 - d->P;
  t.ohw = t.OH * t.OW;
  t.ckk = t.C * t.KH * t.KW;
  t.cgkk = t.ckk / t.G;
  t.og = t.O / t.G;
  return t;
}

/* True when the conv takes the shifted-GEMM route (conv_shift.c): one group, at least 8 input and
 * 8 output channels, and either stride 1 with a kernel larger than 1x1 and padding at most
 * kernel - 1, or a stride above 1. */
bool ds__conv_shift_ok(const conv_dims *d);
/* Floats of the weight rearranged as (KH*KW, O, C), shared by the threads. */
int64_t ds__conv_shift_shared(const conv_dims *d);
/* Floats of one thread's scratch for the forward and the backward. */
int64_t ds__conv_shift_slice(const conv_dims *d);
/* wr (KH*KW, O, C) from w (O, C, KH, KW); once per pass, before the per-sample calls. */
void ds__conv_shift_weight(const conv_dims *d, const float *w, float *wr);
/* yb (O, OH, OW) = bias + conv(xb) for one sample; s: this thread's slice. */
void ds__conv_shift_forward(const conv_dims *d, const float *wr, const float *xb, const float *bias,
                            float *yb, float *s);
/* One sample's backward: dws (KH*KW, O, C) += its weight gradient (when dws), dxb += its input
 * gradient (when dxb; dxb = it when write_dx); s: this thread's slice. */
void ds__conv_shift_backward(const conv_dims *d, const float *wr, const float *xb, const float *dyb,
                             float *dws, float *dxb, bool write_dx, float *s);
/* dw (O, C, KH, KW) += the sum of nt per-thread sums dws_t (KH*KW, O, C), each stride floats
 * after the last, in thread order. */
void ds__conv_shift_weight_grad(const conv_dims *d, const float *dws, int64_t stride, int nt,
                                float *dw);
#endif
