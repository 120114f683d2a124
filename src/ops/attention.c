/* Attention ops: batched matmul, softmax over the last axis (optional causal mask), and fused
 * multi-head scaled dot-product attention.
 *
 * Letters: B batch, H heads, T tokens (queries Tq, keys Tk), D = C / H head width, C width.
 *
 *   bmm        a (..., M, K) [stored (..., K, M) if trans_a], b (..., K, N) [(..., N, K) if
 *              trans_b] -> (..., M, N); the leading dims (batch included) must be equal.
 *   softmax    y = softmax(x) along the last axis; causal: entry (i, j) of each (Tq, Tk) matrix
 *              is masked (y = 0) when j > i + Tk - Tq.
 *   attention  q, k, v (B, T, C), H heads: per head h, S = Q_h K_h^T / sqrt(D), P = softmax(S)
 *              (causal or not), O_h = P V_h; out (B, T, C) holds the heads side by side (the
 *              layout of PyTorch's MultiheadAttention before its output projection).
 *
 * The unfused path (bmm, scale, softmax, bmm with transposes around them) and the fused op
 * compute the same function; both are tested against finite differences and PyTorch. The fused
 * op reads each head of q/k/v in place (leading dimension C), so no transposes are needed; it
 * keeps P (B, H, T, T) in aux for the backward and uses a (T, T) scratch per thread:
 *   dV_h += P^T dO_h,  dP = dO_h V_h^T,  dS = P * (dP - rowsum(dP * P)),
 *   dQ_h += dS K_h / sqrt(D),  dK_h += dS^T Q_h / sqrt(D).
 * (b, h) pairs are spread over OpenMP threads; each writes its own columns of the outputs, so
 * the result does not depend on the thread count. Inside the region OpenBLAS runs one thread. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ops/op_list.h"

/* Below this many multiply-adds a batched op runs on one thread (a region costs microseconds). */
#define DS_ATT_PAR_MIN (1 << 16)

/* ---- softmax rows (shared by softmax and attention) ---- */

/* y = softmax(x) over L entries, the first `valid` of which take part (the rest get 0). */
static void softmax_row(const float *x, float *y, int64_t L, int64_t valid) {
  float mx = x[0];
  for (int64_t j = 1; j < valid; j++)
    mx = x[j] > mx ? x[j] : mx;
  float sum = 0;
  for (int64_t j = 0; j < valid; j++)
    sum += (y[j] = expf(x[j] - mx));
  float inv = 1.0f / sum;
  for (int64_t j = 0; j < valid; j++)
    y[j] *= inv;
  for (int64_t j = valid; j < L; j++)
    y[j] = 0.0f;
}

/* dx += y * (dy - sum_j dy_j y_j) over the first `valid` entries (masked ones have y = 0). */
static void softmax_row_backward(const float *y, const float *dy, float *dx, int64_t valid) {
  float s = 0;
  for (int64_t j = 0; j < valid; j++)
    s += dy[j] * y[j];
  for (int64_t j = 0; j < valid; j++)
    dx[j] += y[j] * (dy[j] - s);
}

/* Entries of row i of a (Tq, Tk) matrix that take part: all, or j <= i + Tk - Tq if causal. */
static int64_t valid_of(int64_t i, int64_t Tq, int64_t Tk, bool causal) {
  if (!causal) return Tk;
  int64_t v = i + Tk - Tq + 1;
  return v < 0 ? 0 : v > Tk ? Tk : v;
}

/* ---- bmm: iattr[0] trans_a, iattr[1] trans_b ---- */

typedef struct {
  int64_t nb, M, K, N;
  bool ta, tb;
} bmm_dims;

static bmm_dims bmm_dims_of(ds_graph *g, const ds_nodedata *n) {
  const ds_nodedata *a = ds__in(g, n, 0), *b = ds__in(g, n, 1);
  int r = a->shape.rank;
  bmm_dims d;
  d.ta = n->iattr[0] != 0, d.tb = n->iattr[1] != 0;
  int64_t a0 = a->shape.dim[r - 2], a1 = a->shape.dim[r - 1];
  int64_t b0 = b->shape.dim[r - 2], b1 = b->shape.dim[r - 1];
  d.M = d.ta ? a1 : a0, d.K = d.ta ? a0 : a1;
  d.N = d.tb ? b0 : b1;
  d.nb = ds__numel(a) / (a0 * a1);
  return d;
}

static ds_status bmm_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *a = ds__in(g, n, 0), *b = ds__in(g, n, 1);
  char s1[64], s2[64];
  int r = a->shape.rank;
  bool ok = r >= 3 && b->shape.rank == r;
  for (int i = 0; ok && i < r - 2; i++)
    ok = a->shape.dim[i] == b->shape.dim[i];
  if (ok) {
    bmm_dims d = bmm_dims_of(g, n);
    int64_t kb = d.tb ? b->shape.dim[r - 1] : b->shape.dim[r - 2];
    ok = kb == d.K;
    if (ok) {
      n->shape = a->shape;
      n->shape.dim[r - 2] = d.M;
      n->shape.dim[r - 1] = d.N;
    }
  }
  if (!ok)
    return ds__node_error(n, DS_ESHAPE,
                          "cannot batch-multiply '%s' %s%s by '%s' %s%s (batched matrices of rank "
                          ">= 3 with equal leading dims and matching inner dims)",
                          a->name, ds_shape_str(&a->shape, s1, 64), n->iattr[0] ? "^T" : "",
                          b->name, ds_shape_str(&b->shape, s2, 64), n->iattr[1] ? "^T" : "");
  return DS_OK;
}

static CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }

static void bmm_forward(ds_graph *g, ds_nodedata *n) {
  const ds_nodedata *a = ds__in(g, n, 0), *b = ds__in(g, n, 1);
  bmm_dims d = bmm_dims_of(g, n);
  int M = (int)d.M, K = (int)d.K, N = (int)d.N;
  int lda = d.ta ? M : K, ldb = d.tb ? K : N;
#pragma omp parallel for schedule(static) if (d.nb > 1 && d.nb * d.M * d.N * d.K > DS_ATT_PAR_MIN)
  for (int64_t i = 0; i < d.nb; i++)
    cblas_sgemm(CblasRowMajor, tr(d.ta), tr(d.tb), M, N, K, 1.0f, a->val + i * d.M * d.K, lda,
                b->val + i * d.K * d.N, ldb, 0.0f, n->val + i * d.M * d.N, N);
}

static void bmm_backward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *a = ds__in(g, n, 0), *b = ds__in(g, n, 1);
  bmm_dims d = bmm_dims_of(g, n);
  int M = (int)d.M, K = (int)d.K, N = (int)d.N;
  int lda = d.ta ? M : K, ldb = d.tb ? K : N;
#pragma omp parallel for schedule(static) if (d.nb > 1 && d.nb * d.M * d.N * d.K > DS_ATT_PAR_MIN)
  for (int64_t i = 0; i < d.nb; i++) {
    const float *A = a->val + i * d.M * d.K, *Bv = b->val + i * d.K * d.N;
    const float *dC = n->grad + i * d.M * d.N; /* (M, N) */
    if (a->grad) {
      float *dA = a->grad + i * d.M * d.K;
      if (!d.ta) /* dA (M, K) += dC op(B)^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, tr(!d.tb), M, K, N, 1.0f, dC, N, Bv, ldb, 1.0f, dA,
                    lda);
      else /* stored (K, M): += op(B) dC^T */
        cblas_sgemm(CblasRowMajor, tr(d.tb), CblasTrans, K, M, N, 1.0f, Bv, ldb, dC, N, 1.0f, dA,
                    lda);
    }
    if (b->grad) {
      float *dB = b->grad + i * d.K * d.N;
      if (!d.tb) /* dB (K, N) += op(A)^T dC */
        cblas_sgemm(CblasRowMajor, tr(!d.ta), CblasNoTrans, K, N, M, 1.0f, A, lda, dC, N, 1.0f, dB,
                    ldb);
      else /* stored (N, K): += dC^T op(A) */
        cblas_sgemm(CblasRowMajor, CblasTrans, tr(d.ta), N, K, M, 1.0f, dC, N, A, lda, 1.0f, dB,
                    ldb);
    }
  }
}

const ds_opdef ds__op_bmm = {"bmm", bmm_infer, bmm_forward, bmm_backward, 0};

ds_node ds_bmm(ds_graph *g, ds_node a, ds_node b, bool trans_a, bool trans_b) {
  ds_node in[2] = {a, b};
  int64_t attr[2] = {trans_a, trans_b};
  return ds__add_node(g, DS_OP_BMM, 2, in, attr, 2, NULL, 0);
}

/* ---- softmax over the last axis: iattr[0] causal ---- */

static ds_status softmax_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *x = ds__in(g, n, 0);
  char s1[64];
  if (x->shape.rank < (n->iattr[0] ? 3 : 2))
    return ds__node_error(n, DS_ESHAPE, "input '%s' %s needs %s", x->name,
                          ds_shape_str(&x->shape, s1, 64),
                          n->iattr[0] ? "(B, ..., Tq, Tk) for a causal mask" : "(B, ..., L)");
  n->shape = x->shape;
  return DS_OK;
}

static void softmax_geom(const ds_nodedata *n, int64_t *R, int64_t *L, int64_t *Tq) {
  int r = n->shape.rank;
  *L = n->shape.dim[r - 1];
  *R = ds__numel(n) / *L;
  *Tq = r >= 3 ? n->shape.dim[r - 2] : 1;
}

static void softmax_forward(ds_graph *g, ds_nodedata *n) {
  const float *x = ds__in(g, n, 0)->val;
  int64_t R, L, Tq;
  softmax_geom(n, &R, &L, &Tq);
  bool causal = n->iattr[0] != 0;
#pragma omp parallel for schedule(static) if (R * L > 32768)
  for (int64_t r = 0; r < R; r++)
    softmax_row(x + r * L, n->val + r * L, L, valid_of(r % Tq, Tq, L, causal));
}

static void softmax_backward(ds_graph *g, ds_nodedata *n) {
  float *dx = ds__in(g, n, 0)->grad;
  if (!dx) return;
  int64_t R, L, Tq;
  softmax_geom(n, &R, &L, &Tq);
  bool causal = n->iattr[0] != 0;
#pragma omp parallel for schedule(static) if (R * L > 32768)
  for (int64_t r = 0; r < R; r++)
    softmax_row_backward(n->val + r * L, n->grad + r * L, dx + r * L,
                         valid_of(r % Tq, Tq, L, causal));
}

const ds_opdef ds__op_softmax = {"softmax", softmax_infer, softmax_forward, softmax_backward, 0};

ds_node ds_softmax(ds_graph *g, ds_node x, bool causal) {
  int64_t attr = causal;
  return ds__add_node(g, DS_OP_SOFTMAX, 1, &x, &attr, 1, NULL, 0);
}

/* ---- fused attention: iattr[0] heads, [1] causal, [2] threads the scratch is planned for ---- */

enum { A_HEADS, A_CAUSAL, A_THREADS };

static ds_status attention_infer(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *q = ds__in(g, n, 0), *k = ds__in(g, n, 1), *v = ds__in(g, n, 2);
  char s1[64], s2[64], s3[64];
  int64_t H = n->iattr[A_HEADS];
  if (q->shape.rank != 3 || !ds_shape_equal(&q->shape, &k->shape) ||
      !ds_shape_equal(&q->shape, &v->shape))
    return ds__node_error(n, DS_ESHAPE, "q '%s' %s, k '%s' %s, v '%s' %s must all be (B, T, C)",
                          q->name, ds_shape_str(&q->shape, s1, 64), k->name,
                          ds_shape_str(&k->shape, s2, 64), v->name,
                          ds_shape_str(&v->shape, s3, 64));
  if (H < 1 || q->shape.dim[2] % H)
    return ds__node_error(n, DS_EINVAL, "%lld heads do not divide the width %lld", (long long)H,
                          (long long)q->shape.dim[2]);
  int64_t B = q->shape.dim[0], T = q->shape.dim[1];
  n->shape = q->shape;
  n->aux_size = B * H * T * T;
  n->scratch_size = ds__align16(T * T) * n->iattr[A_THREADS];
  return DS_OK;
}

typedef struct {
  int64_t B, T, C, H, D;
  float scale;
  bool causal;
} att_dims;

static att_dims att_dims_of(const ds_nodedata *n) {
  att_dims d;
  d.B = n->shape.dim[0], d.T = n->shape.dim[1], d.C = n->shape.dim[2];
  d.H = n->iattr[A_HEADS], d.D = d.C / d.H;
  d.scale = (float)(1.0 / sqrt((double)d.D));
  d.causal = n->iattr[A_CAUSAL] != 0;
  return d;
}

static int att_threads(const ds_nodedata *n, const att_dims *d) {
  int64_t t = n->iattr[A_THREADS], avail = omp_get_max_threads();
  if (d->B * d->H * d->T * d->T * d->D < DS_ATT_PAR_MIN) return 1;
  if (t > avail) t = avail;
  if (t > d->B * d->H) t = d->B * d->H;
  return t < 1 ? 1 : (int)t;
}

static void attention_forward(ds_graph *g, ds_nodedata *n) {
  const float *q = ds__in(g, n, 0)->val, *k = ds__in(g, n, 1)->val, *v = ds__in(g, n, 2)->val;
  att_dims d = att_dims_of(n);
  int T = (int)d.T, C = (int)d.C, D = (int)d.D;
  int nt = att_threads(n, &d);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t bh = 0; bh < d.B * d.H; bh++) {
    int64_t b = bh / d.H, h = bh % d.H, off = b * d.T * d.C + h * d.D;
    float *P = n->aux + bh * d.T * d.T; /* (T, T) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, d.scale, q + off, C, k + off, C,
                0.0f, P, T);
    for (int64_t i = 0; i < d.T; i++)
      softmax_row(P + i * d.T, P + i * d.T, d.T, valid_of(i, d.T, d.T, d.causal));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, P, T, v + off, C, 0.0f,
                n->val + off, C);
  }
}

static void attention_backward(ds_graph *g, ds_nodedata *n) {
  ds_nodedata *qn = ds__in(g, n, 0), *kn = ds__in(g, n, 1), *vn = ds__in(g, n, 2);
  att_dims d = att_dims_of(n);
  int T = (int)d.T, C = (int)d.C, D = (int)d.D;
  int nt = att_threads(n, &d);
  int64_t slice = ds__align16(d.T * d.T);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    float *dS = g->scratch + (int64_t)omp_get_thread_num() * slice; /* (T, T) */
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < d.B * d.H; bh++) {
      int64_t b = bh / d.H, h = bh % d.H, off = b * d.T * d.C + h * d.D;
      const float *P = n->aux + bh * d.T * d.T, *dO = n->grad + off;
      if (vn->grad) /* dV_h += P^T dO_h */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1.0f, P, T, dO, C, 1.0f,
                    vn->grad + off, C);
      if (!qn->grad && !kn->grad) continue;
      /* dP = dO_h V_h^T, then dS = P * (dP - rowsum(dP * P)) in place */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, 1.0f, dO, C, vn->val + off, C,
                  0.0f, dS, T);
      for (int64_t i = 0; i < d.T; i++) {
        float *row = dS + i * d.T;
        const float *p = P + i * d.T;
        int64_t valid = valid_of(i, d.T, d.T, d.causal);
        float s = 0;
        for (int64_t j = 0; j < valid; j++)
          s += row[j] * p[j];
        for (int64_t j = 0; j < valid; j++)
          row[j] = p[j] * (row[j] - s);
        for (int64_t j = valid; j < d.T; j++)
          row[j] = 0.0f;
      }
      if (qn->grad) /* dQ_h += scale dS K_h */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, d.scale, dS, T,
                    kn->val + off, C, 1.0f, qn->grad + off, C);
      if (kn->grad) /* dK_h += scale dS^T Q_h */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, d.scale, dS, T, qn->val + off,
                    C, 1.0f, kn->grad + off, C);
    }
  }
}

const ds_opdef ds__op_attention = {"attention", attention_infer, attention_forward,
                                   attention_backward, 0};

ds_node ds_attention(ds_graph *g, ds_node q, ds_node k, ds_node v, int heads, bool causal) {
  ds_node in[3] = {q, k, v};
  int64_t attr[3] = {heads, causal, omp_get_max_threads()};
  return ds__add_node(g, DS_OP_ATTENTION, 3, in, attr, 3, NULL, 0);
}
