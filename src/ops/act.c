/* Elementwise ops: add, scale, identity and the activations. y has x's shape. */
#include <math.h>
#include <string.h>

#include "ops/op_list.h"

/* The kernels never rely on floating-point exceptions; without this gcc will not turn the
 * comparisons of clamps and ReLU-like selects into vector blends (a compare may trap). */
#pragma GCC optimize("no-trapping-math")

/* Parallelise elementwise loops only when there is enough work to pay for the threads. */
#define DS_PAR_MIN 32768

static ds_status same_shape_infer(ds_graph *g, ds_nodedata *n) {
  n->shape = ds__in(g, n, 0)->shape;
  return DS_OK;
}

/* ---- add: a + b (same shape) ---- */

static ds_status add_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *a = ds__in(g, n, 0), *b = ds__in(g, n, 1);
  char s1[64], s2[64];
  if (!ds_shape_equal(&a->shape, &b->shape))
    return ds__node_error(n, DS_ESHAPE, "cannot add '%s' %s and '%s' %s", a->name,
                          ds_shape_str(&a->shape, s1, 64), b->name,
                          ds_shape_str(&b->shape, s2, 64));
  n->shape = a->shape;
  return DS_OK;
}
static void add_forward(ds_graph *g, ds_nodedata *n) {
  const float *a = ds__in(g, n, 0)->val, *b = ds__in(g, n, 1)->val;
  int64_t m = ds__numel(n);
  float *y = n->val;
#pragma omp parallel for simd if (m > DS_PAR_MIN) schedule(static)
  for (int64_t i = 0; i < m; i++)
    y[i] = a[i] + b[i];
}
static void add_backward(ds_graph *g, ds_nodedata *n) {
  int64_t m = ds__numel(n);
  for (int k = 0; k < 2; k++) {
    float *d = ds__in(g, n, k)->grad;
    if (!d) continue;
    const float *dy = n->grad;
    if (ds__in(g, n, k)->grad_fresh) {
#pragma omp parallel for simd if (m > DS_PAR_MIN) schedule(static)
      for (int64_t i = 0; i < m; i++)
        d[i] = dy[i];
      continue;
    }
#pragma omp parallel for simd if (m > DS_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < m; i++)
      d[i] += dy[i];
  }
}
const ds_opdef ds__op_add = {"add", add_infer, add_forward, add_backward, 3};
ds_node ds_add(ds_graph *g, ds_node a, ds_node b) {
  ds_node in[2] = {a, b};
  return ds__add_node(g, DS_OP_ADD, 2, in, NULL, 0, NULL, 0);
}

/* ---- unary ops: forward y = f(x; a), backward dx += g(x, y, dy; a) = dy * f'(x, y) ----
 * Each op is two restrict-qualified kernels over a contiguous range, which gcc vectorises (omp
 * simd: inlined into the parallel region's body the loops lose restrict and were left scalar);
 * the range is cut into chunks run in parallel only when there are enough of them to pay for it. */

#define DS_CHUNK 16384

#define DS_FOR_CHUNKS(m, BODY)                                                                     \
  do {                                                                                             \
    int64_t nch_ = ((m) + DS_CHUNK - 1) / DS_CHUNK;                                                \
    _Pragma("omp parallel for if (nch_ > 2) schedule(static)") for (int64_t c_ = 0; c_ < nch_;     \
                                                                    c_++) {                        \
      int64_t s = c_ * DS_CHUNK, len = (m)-s < DS_CHUNK ? (m)-s : DS_CHUNK;                        \
      BODY;                                                                                        \
    }                                                                                              \
  } while (0)

#define DS_UNARY_OP(NAME, ENUM, FWD, BWD)                                                          \
  static void NAME##_fwd_kernel(float *restrict y, const float *restrict x, float a, int64_t m) {  \
    (void)a;                                                                                       \
    _Pragma("omp simd") for (int64_t i = 0; i < m; i++) {                                          \
      float xi = x[i];                                                                             \
      y[i] = (FWD);                                                                                \
    }                                                                                              \
  }                                                                                                \
  static void NAME##_bwd_kernel(float *restrict dx, const float *restrict x,                       \
                                const float *restrict y, const float *restrict dy, float a,        \
                                int64_t m, bool write) {                                           \
    (void)a;                                                                                       \
    (void)x;                                                                                       \
    (void)y;                                                                                       \
    if (write) _Pragma("omp simd") for (int64_t i = 0; i < m; i++) {                               \
        float xi = x[i], yi = y[i], dyi = dy[i];                                                   \
        (void)xi;                                                                                  \
        (void)yi;                                                                                  \
        dx[i] = (BWD);                                                                             \
      }                                                                                            \
    else                                                                                           \
      _Pragma("omp simd") for (int64_t i = 0; i < m; i++) {                                        \
        float xi = x[i], yi = y[i], dyi = dy[i];                                                   \
        (void)xi;                                                                                  \
        (void)yi;                                                                                  \
        dx[i] += (BWD);                                                                            \
      }                                                                                            \
  }                                                                                                \
  static void NAME##_forward(ds_graph *g, ds_nodedata *n) {                                        \
    const float *x = ds__in(g, n, 0)->val;                                                         \
    float *y = n->val, a = n->fattr[0];                                                            \
    int64_t m = ds__numel(n);                                                                      \
    DS_FOR_CHUNKS(m, NAME##_fwd_kernel(y + s, x + s, a, len));                                     \
  }                                                                                                \
  static void NAME##_backward(ds_graph *g, ds_nodedata *n) {                                       \
    float *dx = ds__in(g, n, 0)->grad;                                                             \
    if (!dx) return;                                                                               \
    const float *x = ds__in(g, n, 0)->val, *y = n->val, *dy = n->grad;                             \
    float a = n->fattr[0];                                                                         \
    int64_t m = ds__numel(n);                                                                      \
    const bool w = ds__in(g, n, 0)->grad_fresh;                                                    \
    DS_FOR_CHUNKS(m, NAME##_bwd_kernel(dx + s, x + s, y + s, dy + s, a, len, w));                  \
  }                                                                                                \
  const ds_opdef ds__op_##NAME = {#NAME, same_shape_infer, NAME##_forward, NAME##_backward, 1};

DS_UNARY_OP(scale, SCALE, a *xi, a *dyi)
DS_UNARY_OP(identity, IDENTITY, xi, dyi)
/* Derivatives as selects on the comparison, not branches: signs are random, so a branch
 * mispredicts half the time and keeps the loop from vectorising. NaN propagates as in PyTorch: the
 * comparisons are written so that a NaN input is passed through (x < 0 is false for NaN), and
 * ReLU's gradient follows PyTorch's threshold_backward: 0 where x <= 0 (not dy * 0, NaN for an
 * infinite dy), dy elsewhere, NaN inputs included; leaky ReLU's is slope * dy unless x > 0. */
DS_UNARY_OP(relu, RELU, xi < 0.0f ? 0.0f : xi, xi <= 0.0f ? 0.0f : dyi)
DS_UNARY_OP(leaky_relu, LEAKY_RELU, xi<0.0f ? a * xi : xi, xi> 0.0f ? dyi : a *dyi)
DS_UNARY_OP(tanh, TANH, tanhf(xi), dyi *(1.0f - yi * yi))
DS_UNARY_OP(sigmoid, SIGMOID, 1.0f / (1.0f + expf(-xi)), dyi *(yi *(1.0f - yi)))
/* erf(x) as x P(x^2) / Q(x^2) on [-4, 4] (beyond it erf is +-1 in float): Eigen's
 * generic_fast_erf_float coefficients, max |error| 6.5e-8 (checked against erf in double on a
 * 1e-3 grid). Branch-free arithmetic the compiler vectorises, unlike libm's scalar erff, which
 * took 8% of a vit training step. */
static inline float fast_erf(float x) {
  x = x > 4.0f ? 4.0f : x;
  x = x < -4.0f ? -4.0f : x;
  float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 - 2.10102402082508e-06f;
  p = p * x2 - 5.69250639462346e-05f;
  p = p * x2 - 7.34990630326855e-04f;
  p = p * x2 - 2.95459980854025e-03f;
  p = p * x2 - 1.60960333262415e-02f;
  float q = -1.45660718464996e-05f;
  q = q * x2 - 2.13374055278905e-04f;
  q = q * x2 - 1.68282697438203e-03f;
  q = q * x2 - 7.37332916720468e-03f;
  q = q * x2 - 1.42647390514189e-02f;
  return x * p / q;
}

/* exp(x) for x <= 0, branch-free so that it vectorises (libm's expf does not): x = n ln2 + r with
 * |r| <= ln2 / 2 (ln2 split in two for an exact product), e^r by its degree-6 Taylor polynomial
 * (remainder below 1.3e-7 relative), 2^n written into the exponent bits. Max relative error 2.5e-7
 * on [-87, 0] (checked against exp in double on a 1e-4 grid); 0 below -87 (where expf's result
 * is below 1.7e-38) and at -inf, NaN for NaN. */
static inline float fast_exp_neg(float x) {
  float c = x >= -87.0f ? x : -87.0f; /* NaN -> -87: the integer conversion below stays defined */
  c = c > 0.0f ? 0.0f : c;
  const float n = floorf(c * 1.44269504088896341f + 0.5f);
  const float r = (c - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = ((int32_t)n + 127) * (1 << 23);
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return x < -87.0f ? 0.0f : x != x ? x : p * scale;
}

/* GELU (exact): x Phi(x); d/dx = Phi(x) + x phi(x). */
DS_UNARY_OP(gelu, GELU, 0.5f * xi * (1.0f + fast_erf(xi * 0.70710678118654752f)),
            dyi *(0.5f * (1.0f + fast_erf(xi * 0.70710678118654752f)) +
                  xi * 0.39894228040143268f * fast_exp_neg(-0.5f * xi * xi)))

static ds_node unary(ds_graph *g, int op, ds_node x, float a) {
  return ds__add_node(g, op, 1, &x, NULL, 0, &a, 1);
}
ds_node ds_scale(ds_graph *g, ds_node x, float s) { return unary(g, DS_OP_SCALE, x, s); }
ds_node ds_identity(ds_graph *g, ds_node x) { return unary(g, DS_OP_IDENTITY, x, 0); }
ds_node ds_relu(ds_graph *g, ds_node x) { return unary(g, DS_OP_RELU, x, 0); }
ds_node ds_leaky_relu(ds_graph *g, ds_node x, float slope) {
  return unary(g, DS_OP_LEAKY_RELU, x, slope);
}
ds_node ds_tanh(ds_graph *g, ds_node x) { return unary(g, DS_OP_TANH, x, 0); }
ds_node ds_sigmoid(ds_graph *g, ds_node x) { return unary(g, DS_OP_SIGMOID, x, 0); }
ds_node ds_gelu(ds_graph *g, ds_node x) { return unary(g, DS_OP_GELU, x, 0); }
