/* The Lanczos method over any symmetric operator given as a matrix-vector product, and the small
 * symmetric eigensolver behind it: the Hessian's top eigenvalues (hessian.c) and the spectral
 * density of a Jacobian's singular values (signal.c) are both built on it. */
#include <math.h>
#include <string.h>

#include "analysis/analysis_internal.h"
#include "descent/alloc.h"

double ds__dot(const double *a, const double *b, int64_t n) {
  double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++)
    s += a[i] * b[i];
  return s;
}

void ds__sym_eig(double *a, int m, double *ev, double *vec) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < m; j++)
      vec[i * m + j] = i == j;
  for (int sweep = 0; sweep < 100; sweep++) {
    double off = 0, tot = 0;
    for (int i = 0; i < m; i++)
      for (int j = 0; j < m; j++) {
        tot += a[i * m + j] * a[i * m + j];
        if (i != j) off += a[i * m + j] * a[i * m + j];
      }
    if (off <= 1e-30 * tot || off == 0) break;
    for (int p = 0; p < m; p++)
      for (int q = p + 1; q < m; q++) {
        double apq = a[p * m + q];
        if (fabs(apq) < 1e-300) continue;
        double theta = (a[q * m + q] - a[p * m + p]) / (2 * apq);
        double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < m; k++) { /* columns p, q */
          double akp = a[k * m + p], akq = a[k * m + q];
          a[k * m + p] = c * akp - s * akq;
          a[k * m + q] = s * akp + c * akq;
        }
        for (int k = 0; k < m; k++) { /* rows p, q */
          double apk = a[p * m + k], aqk = a[q * m + k];
          a[p * m + k] = c * apk - s * aqk;
          a[q * m + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < m; k++) {
          double vkp = vec[k * m + p], vkq = vec[k * m + q];
          vec[k * m + p] = c * vkp - s * vkq;
          vec[k * m + q] = s * vkp + c * vkq;
        }
      }
  }
  for (int i = 0; i < m; i++)
    ev[i] = a[i * m + i];
}

ds_status ds__lanczos(int64_t n, ds__matvec_fn matvec, void *ctx, int m, uint64_t seed,
                      double *ritz, double *weight, double *residual, int *steps_out) {
  float *q = ds_malloc(sizeof(float) * (size_t)n * (size_t)m); /* Lanczos basis, m x n */
  double *v = ds_malloc(sizeof(double) * (size_t)n), *w = ds_malloc(sizeof(double) * (size_t)n);
  double *alpha = ds_calloc((size_t)m, sizeof(double)),
         *beta = ds_calloc((size_t)m + 1, sizeof(double));
  double *t = ds_calloc((size_t)m * (size_t)m, sizeof(double)),
         *ev = ds_malloc(sizeof(double) * (size_t)m);
  double *vec = ds_malloc(sizeof(double) * (size_t)m * (size_t)m);
  ds_status st = q && v && w && alpha && beta && t && ev && vec ? 0 : DS_ENOMEM;
  int steps = 0;
  if (!st) {
    ds_rng r;
    ds_rng_seed(&r, seed, DS_RNG_NOISE);
    for (int64_t i = 0; i < n; i++)
      v[i] = ds_rng_normal(&r);
    double vn = sqrt(ds__dot(v, v, n));
    for (int64_t i = 0; i < n; i++)
      v[i] /= vn;
  }
  for (int j = 0; j < m && !st; j++) {
    float *qj = q + (size_t)j * (size_t)n;
    for (int64_t i = 0; i < n; i++)
      qj[i] = (float)v[i];
    st = matvec(ctx, v, w);
    if (st) break;
    steps = j + 1;
    alpha[j] = ds__dot(v, w, n);
    /* w <- w - alpha_j q_j - beta_j q_{j-1}, then full reorthogonalisation against every q (twice,
     * "twice is enough"), which keeps the basis orthogonal in float storage */
    for (int pass = 0; pass < 2; pass++)
      for (int i = 0; i <= j; i++) {
        const float *qi = q + (size_t)i * (size_t)n;
        double c = 0;
#pragma omp parallel for reduction(+ : c) schedule(static) if (n > 65536)
        for (int64_t e = 0; e < n; e++)
          c += (double)qi[e] * w[e];
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t e = 0; e < n; e++)
          w[e] -= c * qi[e];
      }
    beta[j + 1] = sqrt(ds__dot(w, w, n));
    if (beta[j + 1] < 1e-10 * (fabs(alpha[j]) + 1e-30)) break; /* invariant subspace found */
    for (int64_t e = 0; e < n; e++)
      v[e] = w[e] / beta[j + 1];
  }
  if (!st && steps > 0) {
    int mm = steps;
    for (int i = 0; i < mm; i++) {
      t[i * mm + i] = alpha[i];
      if (i + 1 < mm) t[i * mm + i + 1] = t[(i + 1) * mm + i] = beta[i + 1];
    }
    ds__sym_eig(t, mm, ev, vec);
    /* ascending; weight: squared first component of the Ritz vector (the Gauss quadrature weight
     * of the start vector's spectral measure); residual beta_m |last component| */
    for (int c = 0; c < mm; c++) {
      int best = -1;
      for (int i = 0; i < mm; i++)
        if (!isnan(ev[i]) && (best < 0 || ev[i] < ev[best])) best = i;
      ritz[c] = ev[best];
      if (weight) weight[c] = vec[best] * vec[best];
      if (residual) residual[c] = beta[mm] * fabs(vec[(mm - 1) * mm + best]);
      ev[best] = NAN;
    }
  }
  *steps_out = steps;
  ds_free(q);
  ds_free(v);
  ds_free(w);
  ds_free(alpha);
  ds_free(beta);
  ds_free(t);
  ds_free(ev);
  ds_free(vec);
  return st;
}
