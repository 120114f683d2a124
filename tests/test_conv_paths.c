/* The fast kernel paths of conv2d, maxpool2d and batchnorm against naive references written out
 * here as plain loops (double accumulation):
 * - conv2d forward and backward on every route (im2col by shifting or by rows, pointwise, the
 *   transposed-conv input gradient and the col2im one), odd shapes, stride, padding, groups,
 *   batch 1, one and two threads;
 * - maxpool2d's 2x2 stride-2 kernel with ties, -inf and NaN (PyTorch's rule: a later value wins
 *   if it is greater or NaN), odd sizes;
 * - batchnorm's one-pass shifted statistics on data whose mean is large against its spread.
 * Each op's backward is run on its own, with dy set here, through the op table. */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/graph_internal.h"
#include "testutil.h"

/* A graph around one op: x (B, sample) with gradient, the op's node, a loss to compile it. */
typedef struct {
  ds_graph *g;
  ds_node x, y;
} one_op;

static void compile_one(one_op *o) {
  ds_node t = ds_input(o->g, "t", ds_shape1(1));
  ds_shape ys = ds_graph_shape(o->g, o->y);
  ds_node flat = ds_reshape(o->g, o->y, ds_shape1(ds_shape_numel(&ys) / ys.dim[0]));
  ds_node head = ds_linear(
      o->g, flat,
      ds_param(o->g, "head", ds_shape2(1, ds_shape_numel(&ys) / ys.dim[0]), DS_ROLE_WEIGHT),
      DS_NONE);
  assert_true(head >= 0);
  assert_int_equal(ds_graph_compile(o->g, ds_mse(o->g, head, t)), DS_OK);
}

/* Sets the op's dy to dy, zeroes the gradients of its inputs and runs its backward alone. */
static void run_backward(one_op *o, const float *dy) {
  ds_nodedata *n = ds__node(o->g, o->y);
  memcpy(n->grad, dy, (size_t)ds__numel(n) * sizeof(float));
  for (int k = 0; k < n->n_in; k++) {
    ds_nodedata *in = ds__in(o->g, n, k);
    if (in->grad) memset(in->grad, 0, (size_t)ds__numel(in) * sizeof(float));
  }
  ds__opdef(n->op)->backward(o->g, n);
}

/* ---- conv2d ---- */

typedef struct {
  int64_t B, C, H, W, O, KH, KW;
  int S, P, G;
  bool bias;
  const char *what;
} conv_case;

/* y[b][o][oh][ow] = bias[o] + sum over c in o's group, i, j of x[b][c][oh S - P + i][ow S - P + j]
 * w[o][c - g C/G][i][j]; the backward is the same sum read the other way. */
static void naive_conv(const conv_case *c, const float *x, const float *w, const float *bias,
                       const float *dy, double *y, double *dx, double *dw, double *db) {
  const int64_t OH = (c->H + 2 * c->P - c->KH) / c->S + 1,
                OW = (c->W + 2 * c->P - c->KW) / c->S + 1;
  const int64_t cg = c->C / c->G, og = c->O / c->G;
  for (int64_t b = 0; b < c->B; b++)
    for (int64_t o = 0; o < c->O; o++)
      for (int64_t oh = 0; oh < OH; oh++)
        for (int64_t ow = 0; ow < OW; ow++) {
          const int64_t yi = ((b * c->O + o) * OH + oh) * OW + ow;
          double s = bias ? bias[o] : 0.0, g = dy[yi];
          if (db) db[o] += g;
          for (int64_t ci = 0; ci < cg; ci++)
            for (int64_t i = 0; i < c->KH; i++)
              for (int64_t j = 0; j < c->KW; j++) {
                int64_t ih = oh * c->S - c->P + i, iw = ow * c->S - c->P + j;
                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                int64_t xc = (o / og) * cg + ci;
                int64_t xi = ((b * c->C + xc) * c->H + ih) * c->W + iw;
                int64_t wi = ((o * cg + ci) * c->KH + i) * c->KW + j;
                s += (double)x[xi] * w[wi];
                dx[xi] += g * w[wi];
                dw[wi] += g * x[xi];
              }
          y[yi] = s;
        }
}

static int64_t mismatch_d(const char *what, const float *a, const double *ref, int64_t n,
                          double atol, double rtol) {
  float *r = malloc((size_t)n * sizeof *r);
  for (int64_t i = 0; i < n; i++)
    r[i] = (float)ref[i];
  int64_t bad = tu_mismatches(what, a, r, n, atol, rtol);
  free(r);
  return bad;
}

static void check_conv(const conv_case *c, int threads) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads); /* read when the node is built: its scratch is planned for it */
  one_op o = {ds_graph_new(c->B), 0, 0};
  o.x = ds_input(o.g, "x", ds_shape3(c->C, c->H, c->W));
  ds_input_requires_grad(o.g, o.x, true);
  ds_node w = ds_param(o.g, "w", ds_shape4(c->O, c->C / c->G, c->KH, c->KW), DS_ROLE_WEIGHT);
  ds_node b = c->bias ? ds_param(o.g, "b", ds_shape1(c->O), DS_ROLE_BIAS) : DS_NONE;
  o.y = ds_conv2d(o.g, o.x, w, b, c->S, c->P, c->G);
  assert_true(o.y >= 0);
  compile_one(&o);
  const int64_t nx = c->B * c->C * c->H * c->W, nw = c->O * (c->C / c->G) * c->KH * c->KW;
  ds_shape ys = ds_graph_shape(o.g, o.y);
  const int64_t ny = ds_shape_numel(&ys);
  float *xv = ds_graph_value(o.g, o.x), *wv = ds_graph_value(o.g, w);
  float *bv = c->bias ? ds_graph_value(o.g, b) : NULL, *dy = malloc((size_t)ny * sizeof *dy);
  tu_fill_uniform(xv, nx, -1, 1, 1);
  tu_fill_uniform(wv, nw, -1, 1, 2);
  if (bv) tu_fill_uniform(bv, c->O, -1, 1, 3);
  tu_fill_uniform(dy, ny, -1, 1, 4);
  double *y = calloc((size_t)ny, sizeof *y), *dx = calloc((size_t)nx, sizeof *dx);
  double *dw = calloc((size_t)nw, sizeof *dw), *db = calloc((size_t)c->O, sizeof *db);
  naive_conv(c, xv, wv, bv, dy, y, dx, dw, c->bias ? db : NULL);
  assert_int_equal(ds_graph_forward(o.g), DS_OK);
  run_backward(&o, dy);
  /* float sums of up to a few hundred O(1) products against double ones */
  const double atol = 1e-4, rtol = 1e-4;
  int64_t bad = mismatch_d("y", ds_graph_value(o.g, o.y), y, ny, atol, rtol) +
                mismatch_d("dx", ds_graph_grad(o.g, o.x), dx, nx, atol, rtol) +
                mismatch_d("dw", ds_graph_grad(o.g, w), dw, nw, atol, rtol);
  if (c->bias) bad += mismatch_d("db", ds_graph_grad(o.g, b), db, c->O, atol, rtol);
  if (bad) fail_msg("conv2d %s, %d threads: %lld mismatches", c->what, threads, (long long)bad);
  free(dy), free(y), free(dx), free(dw), free(db);
  ds_graph_free(o.g);
  omp_set_num_threads(before);
}

static void test_conv_paths(void **state) {
  (void)state;
  const conv_case cases[] = {
      {1, 3, 7, 5, 3, 3, 3, 1, 1, 1, true, "batch 1, same size: shifted im2col, transposed dx"},
      {2, 4, 6, 6, 8, 3, 3, 1, 1, 1, false, "more outputs than inputs: col2im dx"},
      {3, 4, 5, 7, 4, 3, 3, 1, 1, 2, true, "groups 2, transposed dx per group"},
      {2, 3, 5, 6, 3, 3, 3, 1, 1, 3, false, "depthwise"},
      {2, 3, 6, 5, 2, 5, 3, 1, 1, 1, true, "rectangular kernel: unequal transposed paddings"},
      {2, 3, 6, 5, 3, 3, 2, 1, 0, 1, true, "no padding, narrower output: row im2col"},
      {2, 5, 7, 6, 4, 3, 3, 2, 1, 1, true, "stride 2"},
      {1, 2, 9, 8, 2, 3, 3, 3, 2, 1, false, "stride 3, padding 2"},
      {2, 3, 4, 5, 3, 1, 1, 1, 0, 1, true, "pointwise"},
      {2, 3, 4, 5, 3, 1, 1, 1, 1, 1, true, "1x1 with padding: padding > kernel - 1"},
      {1, 1, 8, 8, 6, 3, 3, 1, 1, 1, true, "one input channel (first layer)"},
      {5, 16, 12, 12, 16, 3, 3, 1, 1, 1, true, "large enough for two threads"},
      {4, 16, 10, 10, 32, 3, 3, 2, 1, 2, false, "two threads, stride 2, groups"},
      {3, 8, 7, 6, 9, 3, 3, 1, 1, 1, true, "shifted GEMMs, same padding"},
      {2, 9, 6, 7, 8, 3, 3, 1, 0, 1, false, "shifted GEMMs, no padding: dy spread for dW"},
      {2, 8, 8, 9, 10, 5, 3, 1, 1, 1, true, "shifted GEMMs, rectangular kernel, padding 1"},
      {2, 12, 9, 8, 8, 5, 5, 1, 2, 1, true, "shifted GEMMs, 5x5 same padding"},
      {1, 8, 3, 3, 8, 3, 3, 1, 2, 1, false, "shifted GEMMs, padding K-1 on a 3x3 input"},
      {6, 16, 14, 14, 32, 3, 3, 1, 1, 1, true, "shifted GEMMs, two threads"},
      {2, 8, 9, 8, 8, 3, 3, 2, 1, 1, true, "shifted GEMMs, stride 2: phase planes"},
      {2, 8, 10, 11, 12, 1, 1, 2, 0, 1, true, "shifted GEMMs, 1x1 stride 2 (a shortcut)"},
      {2, 9, 11, 10, 8, 5, 3, 3, 2, 1, false, "shifted GEMMs, stride 3, padding 2"},
      {2, 8, 8, 8, 8, 2, 2, 2, 0, 1, true, "shifted GEMMs, 2x2 stride 2"},
      {1, 8, 7, 7, 8, 3, 3, 4, 1, 1, true, "shifted GEMMs, stride above the kernel"},
      {1, 8, 5, 5, 8, 3, 3, 1, 3, 1, true, "stride 1, padding 3 > K-1: im2col"},
      {6, 16, 14, 14, 32, 3, 3, 2, 1, 1, false, "shifted GEMMs, stride 2, two threads"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    check_conv(&cases[i], 1);
    check_conv(&cases[i], 2);
  }
}

/* ---- maxpool2d 2x2 stride 2 ---- */

static void test_maxpool_2x2(void **state) {
  (void)state;
  const float vals[6] = {-1.0f, 0.0f, 1.0f, 1.0f, -INFINITY, NAN}; /* ties, -inf and NaN */
  const int64_t shapes[6][4] = {{1, 1, 4, 4}, {2, 3, 5, 7}, {3, 2, 6, 9},
                                {1, 2, 2, 2}, {2, 2, 7, 6}, {2, 3, 28, 28}};
  uint64_t seed = 7;
  for (int s = 0; s < 6; s++) {
    const int64_t B = shapes[s][0], C = shapes[s][1], H = shapes[s][2], W = shapes[s][3];
    const int64_t OH = H / 2, OW = W / 2, nx = B * C * H * W, ny = B * C * OH * OW;
    one_op o = {ds_graph_new(B), 0, 0};
    o.x = ds_input(o.g, "x", ds_shape3(C, H, W));
    ds_input_requires_grad(o.g, o.x, true);
    o.y = ds_maxpool2d(o.g, o.x, 2, 2, 0);
    compile_one(&o);
    float *x = ds_graph_value(o.g, o.x), *dy = malloc((size_t)ny * sizeof *dy);
    float *ry = malloc((size_t)ny * sizeof *ry), *rdx = calloc((size_t)nx, sizeof *rdx);
    for (int64_t i = 0; i < nx; i++) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      x[i] = vals[(seed >> 33) % 6];
    }
    tu_fill_uniform(dy, ny, 0.5f, 1.5f, 8);
    /* PyTorch's loop: start at the window's first value, take a later one if greater or NaN */
    for (int64_t pl = 0; pl < B * C; pl++)
      for (int64_t oh = 0; oh < OH; oh++)
        for (int64_t ow = 0; ow < OW; ow++) {
          int64_t best = -1;
          float m = -INFINITY;
          for (int64_t i = 0; i < 2; i++)
            for (int64_t j = 0; j < 2; j++) {
              int64_t k = pl * H * W + (2 * oh + i) * W + 2 * ow + j;
              if (best < 0 || x[k] > m || isnan(x[k])) m = x[k], best = k;
            }
          int64_t yi = (pl * OH + oh) * OW + ow;
          ry[yi] = m;
          rdx[best] += dy[yi];
        }
    assert_int_equal(ds_graph_forward(o.g), DS_OK);
    run_backward(&o, dy);
    const float *y = ds_graph_value(o.g, o.y), *dx = ds_graph_grad(o.g, o.x);
    for (int64_t i = 0; i < ny; i++)
      if (!(y[i] == ry[i] || (isnan(y[i]) && isnan(ry[i]))))
        fail_msg("maxpool 2x2 shape %d: y[%lld] = %g, expected %g", s, (long long)i, y[i], ry[i]);
    assert_memory_equal(dx, rdx, (size_t)nx * sizeof *dx); /* the same argmax: exact */
    free(dy), free(ry), free(rdx);
    ds_graph_free(o.g);
  }
}

/* ---- batchnorm statistics with a large mean ---- */

static void test_batchnorm_large_mean(void **state) {
  (void)state;
  const int64_t B = 6, C = 3, S = 37, n = B * C * S;
  one_op o = {ds_graph_new(B), 0, 0};
  o.x = ds_input(o.g, "x", ds_shape3(C, S, 1));
  ds_input_requires_grad(o.g, o.x, true);
  o.y = ds_batchnorm(o.g, "bn", o.x, DS_NONE, DS_NONE, 0.1f, 1e-5f);
  compile_one(&o);
  float *x = ds_graph_value(o.g, o.x), *dy = malloc((size_t)n * sizeof *dy);
  tu_fill_uniform(x, n, -1, 1, 11);
  for (int64_t i = 0; i < n; i++)
    x[i] = 300.0f + 0.01f * x[i]; /* mean 300, std ~0.006 */
  tu_fill_uniform(dy, n, -1, 1, 12);
  double *ry = malloc((size_t)n * sizeof *ry), *rdx = malloc((size_t)n * sizeof *rdx);
  for (int64_t c = 0; c < C; c++) {
    double m = 0, v = 0, gy = 0, gyx = 0;
    for (int64_t b = 0; b < B; b++)
      for (int64_t k = 0; k < S; k++)
        m += x[(b * C + c) * S + k];
    m /= (double)(B * S);
    for (int64_t b = 0; b < B; b++)
      for (int64_t k = 0; k < S; k++)
        v += pow(x[(b * C + c) * S + k] - m, 2);
    v /= (double)(B * S);
    double r = 1 / sqrt(v + 1e-5);
    for (int64_t b = 0; b < B; b++)
      for (int64_t k = 0; k < S; k++) {
        int64_t i = (b * C + c) * S + k;
        ry[i] = (x[i] - m) * r;
        gy += dy[i], gyx += dy[i] * ry[i];
      }
    for (int64_t b = 0; b < B; b++)
      for (int64_t k = 0; k < S; k++) {
        int64_t i = (b * C + c) * S + k;
        rdx[i] = r * (dy[i] - gy / (double)(B * S) - ry[i] * gyx / (double)(B * S));
      }
  }
  assert_int_equal(ds_graph_forward(o.g), DS_OK);
  run_backward(&o, dy);
  /* float keeps the mean 300 to 1.5e-5 (half an ulp), which moves xhat = (x - mean) / 0.006 by
   * up to 2.6e-3 on any float implementation (PyTorch's too); dx ~ rstd O(1) ~ 170 likewise */
  assert_int_equal(mismatch_d("bn y", ds_graph_value(o.g, o.y), ry, n, 5e-3, 1e-3), 0);
  assert_int_equal(mismatch_d("bn dx", ds_graph_grad(o.g, o.x), rdx, n, 2e-1, 1e-3), 0);
  free(dy), free(ry), free(rdx);
  ds_graph_free(o.g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_paths),
      cmocka_unit_test(test_maxpool_2x2),
      cmocka_unit_test(test_batchnorm_large_mean),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
