/* Orthogonal initialisation (Saxe et al. 2014) as torch.nn.init.orthogonal_: the weight flattened
 * to (rows = out, cols = numel / out) is the Q factor of a Gaussian matrix (QR of the transpose
 * when rows < cols), with columns signed by diag(R) so the distribution is uniform (Haar), times
 * gain. Householder QR in double.
 * Delta-orthogonal (Xiao et al. 2018) for a conv weight (O, I, kh, kw): an orthogonal (O, I)
 * matrix at the kernel centre, zero elsewhere. */
#include <math.h>
#include <string.h>

#include "core/graph_internal.h"
#include "descent/alloc.h"

/* a (m, n) row-major, m >= n, overwritten by the first n columns of Q, signed by diag(R).
 * v: scratch of m*n doubles (the Householder vectors), sgn: n doubles. */
static void householder_q(double *a, int64_t m, int64_t n, double *v, double *sgn) {
  for (int64_t k = 0; k < n; k++) {
    double *vk = v + k * m; /* vk[k..m) */
    double nx = 0;
    for (int64_t i = k; i < m; i++)
      nx += a[i * n + k] * a[i * n + k];
    nx = sqrt(nx);
    double x0 = a[k * n + k], alpha = x0 >= 0 ? -nx : nx; /* R_kk */
    sgn[k] = alpha >= 0 ? 1.0 : -1.0;
    if (nx == 0) sgn[k] = 1.0;
    for (int64_t i = k; i < m; i++)
      vk[i] = a[i * n + k];
    vk[k] -= alpha;
    double nv = 0;
    for (int64_t i = k; i < m; i++)
      nv += vk[i] * vk[i];
    nv = sqrt(nv);
    for (int64_t i = k; i < m; i++)
      vk[i] = nv > 0 ? vk[i] / nv : 0.0;
    /* A[k:, k:] -= 2 v (v^T A[k:, k:]) */
    for (int64_t j = k; j < n; j++) {
      double d = 0;
      for (int64_t i = k; i < m; i++)
        d += vk[i] * a[i * n + j];
      for (int64_t i = k; i < m; i++)
        a[i * n + j] -= 2 * vk[i] * d;
    }
  }
  /* Q E = H_0 H_1 ... H_{n-1} E: start from the first n columns of I, apply H_{n-1} first */
  memset(a, 0, (size_t)(m * n) * sizeof *a);
  for (int64_t j = 0; j < n; j++)
    a[j * n + j] = 1.0;
  for (int64_t k = n - 1; k >= 0; k--) {
    const double *vk = v + k * m;
    for (int64_t j = 0; j < n; j++) {
      double d = 0;
      for (int64_t i = k; i < m; i++)
        d += vk[i] * a[i * n + j];
      for (int64_t i = k; i < m; i++)
        a[i * n + j] -= 2 * vk[i] * d;
    }
  }
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++)
      a[i * n + j] *= sgn[j];
}

/* w (rows, cols) row-major := gain * a Haar-random matrix with orthonormal rows or columns. */
static ds_status orthogonal_matrix(ds_rng *r, float *w, int64_t rows, int64_t cols, double gain,
                                   const char *name) {
  int64_t m = rows >= cols ? rows : cols, n = rows >= cols ? cols : rows;
  double *a = ds_malloc((size_t)(m * n + m * n + n) * sizeof *a);
  if (!a)
    return ds_set_error(DS_ENOMEM, "init of parameter '%s': orthogonal init of (%lld, %lld)", name,
                        (long long)rows, (long long)cols);
  double *v = a + m * n, *sgn = v + m * n;
  /* Gaussian in w's row-major order; transposed when rows < cols (as PyTorch) */
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) {
      double z = ds_rng_normal(r);
      if (rows >= cols)
        a[i * n + j] = z;
      else
        a[j * n + i] = z;
    }
  householder_q(a, m, n, v, sgn);
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++)
      w[i * cols + j] = (float)(gain * (rows >= cols ? a[i * n + j] : a[j * n + i]));
  ds_free(a);
  return DS_OK;
}

ds_status ds__init_orthogonal(ds_rng *r, float *w, const ds_param_info *p, double gain,
                              bool delta) {
  if (p->shape.rank < 2)
    return ds_set_error(DS_EINVAL,
                        "init of parameter '%s': orthogonal init needs rank >= 2, got %d", p->name,
                        p->shape.rank);
  int64_t rows = p->shape.dim[0], cols = p->numel / rows;
  if (!delta || p->shape.rank == 2) return orthogonal_matrix(r, w, rows, cols, gain, p->name);
  if (p->shape.rank != 4)
    return ds_set_error(
        DS_EINVAL,
        "init of parameter '%s': delta-orthogonal init needs a conv weight (O, I, kh, "
        "kw), got rank %d",
        p->name, p->shape.rank);
  int64_t O = p->shape.dim[0], I = p->shape.dim[1], kh = p->shape.dim[2], kw = p->shape.dim[3];
  float *h = ds_malloc((size_t)(O * I) * sizeof *h);
  if (!h) return DS_ENOMEM;
  ds_status st = orthogonal_matrix(r, h, O, I, gain, p->name);
  if (!st) {
    memset(w, 0, (size_t)p->numel * sizeof *w);
    for (int64_t o = 0; o < O; o++)
      for (int64_t i = 0; i < I; i++)
        w[((o * I + i) * kh + kh / 2) * kw + kw / 2] = h[o * I + i];
  }
  ds_free(h);
  return st;
}
