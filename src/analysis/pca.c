/* Principal directions of an optimizer's path (Li et al. 2018, "Visualizing the Loss Landscape of
 * Neural Nets", section 7): PCA of the checkpoints relative to the final weights through the small
 * k x k Gram matrix of the centred rows, mapped back to the parameter space. */
#include <math.h>
#include <string.h>

#include "analysis/analysis_internal.h"
#include "descent/alloc.h"

#define PCA_MAX_POINTS 500 /* the eigensolver's size limit */

/* <w_i - f, w_j - f> for all pairs, in double: G (k x k, symmetric). */
static void gram(const float *const *w, int k, const float *f, int64_t n, double *G) {
  for (int i = 0; i < k; i++)
    for (int j = 0; j <= i; j++) {
      const float *a = w[i], *b = w[j];
      double s = 0;
      for (int64_t e = 0; e < n; e++)
        s += ((double)a[e] - f[e]) * ((double)b[e] - f[e]);
      G[i * k + j] = G[j * k + i] = s;
    }
}

/* H G H with H = I - 1 1^T / k: the Gram matrix of the rows minus their mean. */
static void centre(double *G, int k) {
  double all = 0;
  double row[PCA_MAX_POINTS];
  for (int i = 0; i < k; i++) {
    row[i] = 0;
    for (int j = 0; j < k; j++)
      row[i] += G[i * k + j];
    row[i] /= k;
    all += row[i];
  }
  all /= k;
  for (int i = 0; i < k; i++)
    for (int j = 0; j < k; j++)
      G[i * k + j] += all - row[i] - row[j];
}

/* d = sum_i c_i (w_i - f), normalised to unit length (c sums to 0: the mean row drops out). */
static void combine(const float *const *w, int k, const float *f, int64_t n, const double *c,
                    float *d) {
  double norm2 = 0;
  for (int64_t e = 0; e < n; e++) {
    double s = 0;
    for (int i = 0; i < k; i++)
      s += c[i] * ((double)w[i][e] - f[e]);
    d[e] = (float)s;
    norm2 += s * s;
  }
  double inv = norm2 > 0 ? 1 / sqrt(norm2) : 0;
  for (int64_t e = 0; e < n; e++)
    d[e] = (float)(d[e] * inv);
}

static double dot_diff(const float *w, const float *f, const float *d, int64_t n) {
  double s = 0;
  for (int64_t e = 0; e < n; e++)
    s += ((double)w[e] - f[e]) * d[e];
  return s;
}

/* Removes from d its component along the unit vector u and normalises it again. */
static void orthonormalise(float *d, const float *u, int64_t n) {
  double p = 0, norm2 = 0;
  for (int64_t e = 0; e < n; e++)
    p += (double)d[e] * u[e];
  for (int64_t e = 0; e < n; e++) {
    d[e] = (float)(d[e] - p * u[e]);
    norm2 += (double)d[e] * d[e];
  }
  double inv = norm2 > 0 ? 1 / sqrt(norm2) : 0;
  for (int64_t e = 0; e < n; e++)
    d[e] = (float)(d[e] * inv);
}

ds_status ds_pca_directions(const float *const *w, int k, const float *final, int64_t n, float *d1,
                            float *d2, double explained[2], double *path) {
  if (!w || !final || !d1 || !d2 || !explained || n < 1)
    return ds_set_error(DS_EINVAL, "PCA directions: NULL argument or no parameters");
  if (k < 3 || k > PCA_MAX_POINTS)
    return ds_set_error(DS_EINVAL,
                        "PCA directions: need 3 to %d points along the path, got %d (two centred "
                        "points span one direction only)",
                        PCA_MAX_POINTS, k);
  for (int i = 0; i < k; i++)
    if (!w[i]) return ds_set_error(DS_EINVAL, "PCA directions: point %d is NULL", i);
  size_t kk = (size_t)k * (size_t)k;
  double *G = ds_malloc(sizeof(double) * kk), *vec = ds_malloc(sizeof(double) * kk),
         *ev = ds_malloc(sizeof(double) * (size_t)k), *c = ds_malloc(sizeof(double) * (size_t)k);
  ds_status st = G && vec && ev && c ? DS_OK : DS_ENOMEM;
  if (!st) {
    gram(w, k, final, n, G);
    centre(G, k);
    double trace = 0;
    for (int i = 0; i < k; i++)
      trace += G[i * k + i];
    ds__sym_eig(G, k, ev, vec);
    int a = 0, b = -1; /* the two largest eigenvalues */
    for (int i = 1; i < k; i++)
      if (ev[i] > ev[a]) a = i;
    for (int i = 0; i < k; i++)
      if (i != a && (b < 0 || ev[i] > ev[b])) b = i;
    if (!(trace > 0) || !(ev[a] > 0) || !(ev[b] > 1e-9 * ev[a]))
      st = ds_set_error(DS_EINVAL,
                        "PCA directions: the %d points do not span two directions (variance "
                        "%.3g along the first, %.3g along the second)",
                        k, ev[a], ev[b]);
    for (int j = 0; j < 2 && !st; j++) {
      int col = j ? b : a;
      float *d = j ? d2 : d1;
      double mean = 0;
      for (int i = 0; i < k; i++)
        mean += vec[i * k + col] / k;
      for (int i = 0; i < k; i++)
        c[i] = vec[i * k + col] - mean;
      combine(w, k, final, n, c, d);
      if (j) orthonormalise(d2, d1, n);
      explained[j] = ev[col] / trace;
      /* sign: the path's first point has a non-negative coordinate */
      double first = dot_diff(w[0], final, d, n);
      if (first < 0)
        for (int64_t e = 0; e < n; e++)
          d[e] = -d[e];
      for (int i = 0; path && i < k; i++)
        path[2 * i + j] = dot_diff(w[i], final, d, n);
    }
  }
  ds_free(G);
  ds_free(vec);
  ds_free(ev);
  ds_free(c);
  return st;
}
