/* Normalisation statistics and the conversion of raw samples (bytes or floats) to normalised,
 * optionally augmented floats. Conversion is x = raw * scale[c] + shift[c] per channel c.
 *
 * Augmentation follows torchvision's RandomCrop(padding=p) then RandomHorizontalFlip: the image
 * is zero-padded by p on every side, an H x W window at offset (p + dy, p + dx) is cut, and the
 * result is mirrored: out(y, x) = img(y + dy, x' + dx) with x' = W-1-x when flipped, else x;
 * positions outside the image are a raw 0 (shift[c] after normalisation). */
#include <math.h>
#include <string.h>

#include "data_internal.h"
#include "descent/alloc.h"

/* ---- statistics ---- */

ds_status ds_dataset_compute_norm(ds_dataset *d) {
  if (!d) return ds_set_error(DS_EINVAL, "compute norm: NULL dataset");
  if (d->n < 1) return ds_set_error(DS_EINVAL, "dataset '%s': norm of an empty dataset", d->name);
  int C = d->channels;
  int64_t plane = d->sample_numel / C;
  double count = (double)d->n * (double)plane;
  float *mean = ds_malloc(2 * (size_t)C * sizeof(float));
  if (!mean) return DS_ENOMEM;
  float *std = mean + C;
  for (int c = 0; c < C; c++) {
    double m, var;
    if (d->u8) { /* integer sums are exact */
      uint64_t s = 0, s2 = 0;
      for (int64_t i = 0; i < d->n; i++) {
        const uint8_t *p = d->u8 + i * d->sample_numel + c * plane;
        uint64_t a = 0, a2 = 0;
        for (int64_t j = 0; j < plane; j++)
          a += p[j], a2 += (uint64_t)p[j] * p[j];
        s += a, s2 += a2;
      }
      double u = d->u8_max;
      m = (double)s / count / u;
      var = (double)s2 / count / (u * u) - m * m;
    } else { /* two passes in double */
      double s = 0.0, s2 = 0.0;
      for (int64_t i = 0; i < d->n; i++) {
        const float *p = d->f32 + i * d->sample_numel + c * plane;
        for (int64_t j = 0; j < plane; j++)
          s += p[j];
      }
      m = s / count;
      for (int64_t i = 0; i < d->n; i++) {
        const float *p = d->f32 + i * d->sample_numel + c * plane;
        for (int64_t j = 0; j < plane; j++)
          s2 += (p[j] - m) * (p[j] - m);
      }
      var = s2 / count;
    }
    double sd = var > 0.0 ? sqrt(var) : 0.0;
    mean[c] = (float)m;
    std[c] = sd > 1e-12 ? (float)sd : 1.0f; /* constant channel: centre only */
  }
  ds_status st = ds_dataset_set_norm(d, mean, std, C);
  ds_free(mean);
  return st;
}

ds_status ds_dataset_set_norm(ds_dataset *d, const float *mean, const float *std, int channels) {
  if (!d) return ds_set_error(DS_EINVAL, "set norm: NULL dataset");
  if (!mean && !std) {
    for (int c = 0; c < d->channels; c++)
      d->mean[c] = 0.0f, d->std[c] = 1.0f;
    d->normalized = false;
    ds__dataset_update_affine(d);
    return DS_OK;
  }
  if (!mean || !std)
    return ds_set_error(DS_EINVAL, "dataset '%s': norm needs both mean and std", d->name);
  if (channels != d->channels)
    return ds_set_error(DS_EINVAL, "dataset '%s': norm for %d channels, dataset has %d", d->name,
                        channels, d->channels);
  for (int c = 0; c < channels; c++)
    if (!isfinite(mean[c]) || !isfinite(std[c]) || !(std[c] > 0.0f))
      return ds_set_error(DS_EINVAL,
                          "dataset '%s': norm channel %d: mean %g, std %g (need finite, std > 0)",
                          d->name, c, (double)mean[c], (double)std[c]);
  memcpy(d->mean, mean, (size_t)channels * sizeof(float));
  memcpy(d->std, std, (size_t)channels * sizeof(float));
  d->normalized = true;
  ds__dataset_update_affine(d);
  return DS_OK;
}

ds_status ds_dataset_copy_norm(ds_dataset *dst, const ds_dataset *src) {
  if (!dst || !src) return ds_set_error(DS_EINVAL, "copy norm: NULL dataset");
  if (!src->normalized) return ds_dataset_set_norm(dst, NULL, NULL, 0);
  return ds_dataset_set_norm(dst, src->mean, src->std, src->channels);
}

/* ---- conversion ---- */

/* One channel plane (H x W) of an image, with shift (dy, dx) and optional flip. T is the raw type.
 */
#define DEFINE_PLANE(NAME, T)                                                                      \
  static void NAME(const T *src, int64_t H, int64_t W, const ds_augment *a, float sc, float sh,    \
                   float *out) {                                                                   \
    for (int64_t y = 0; y < H; y++) {                                                              \
      float *o = out + y * W;                                                                      \
      int64_t sy = y + a->dy;                                                                      \
      if (sy < 0 || sy >= H) {                                                                     \
        for (int64_t x = 0; x < W; x++)                                                            \
          o[x] = sh;                                                                               \
        continue;                                                                                  \
      }                                                                                            \
      const T *r = src + sy * W;                                                                   \
      /* valid x: source column sx = x + dx (or W-1-x + dx when flipped) inside [0, W) */          \
      int64_t lo = a->flip ? (a->dx > 0 ? a->dx : 0) : (a->dx < 0 ? -a->dx : 0);                   \
      int64_t hi = a->flip ? (a->dx < 0 ? W + a->dx : W) : (a->dx > 0 ? W - a->dx : W);            \
      if (lo > W) lo = W;                                                                          \
      if (hi < lo) hi = lo;                                                                        \
      for (int64_t x = 0; x < lo; x++)                                                             \
        o[x] = sh;                                                                                 \
      if (a->flip) {                                                                               \
        int64_t base = W - 1 + a->dx;                                                              \
        for (int64_t x = lo; x < hi; x++)                                                          \
          o[x] = (float)r[base - x] * sc + sh;                                                     \
      } else {                                                                                     \
        for (int64_t x = lo; x < hi; x++)                                                          \
          o[x] = (float)r[x + a->dx] * sc + sh;                                                    \
      }                                                                                            \
      for (int64_t x = hi; x < W; x++)                                                             \
        o[x] = sh;                                                                                 \
    }                                                                                              \
  }
DEFINE_PLANE(plane_u8, uint8_t)
DEFINE_PLANE(plane_f32, float)

void ds_dataset_convert(const ds_dataset *d, int64_t i, const ds_augment *aug, float *x) {
  int C = d->channels;
  int64_t plane = d->sample_numel / C;
  const float *sc = d->scale, *sh = d->shift;
  if (aug) {
    int64_t H = d->sample_shape.dim[1], W = d->sample_shape.dim[2];
    for (int c = 0; c < C; c++) {
      if (d->u8)
        plane_u8(d->u8 + i * d->sample_numel + c * plane, H, W, aug, sc[c], sh[c], x + c * plane);
      else
        plane_f32(d->f32 + i * d->sample_numel + c * plane, H, W, aug, sc[c], sh[c], x + c * plane);
    }
    return;
  }
  if (plane == 1) { /* tabular: one channel per feature */
    if (d->u8) {
      const uint8_t *p = d->u8 + i * d->sample_numel;
      for (int c = 0; c < C; c++)
        x[c] = (float)p[c] * sc[c] + sh[c];
    } else {
      const float *p = d->f32 + i * d->sample_numel;
      for (int c = 0; c < C; c++)
        x[c] = p[c] * sc[c] + sh[c];
    }
    return;
  }
  for (int c = 0; c < C; c++) {
    float a = sc[c], b = sh[c];
    float *o = x + c * plane;
    if (d->u8) {
      const uint8_t *p = d->u8 + i * d->sample_numel + c * plane;
      for (int64_t j = 0; j < plane; j++)
        o[j] = (float)p[j] * a + b;
    } else {
      const float *p = d->f32 + i * d->sample_numel + c * plane;
      for (int64_t j = 0; j < plane; j++)
        o[j] = p[j] * a + b;
    }
  }
}

ds_status ds_dataset_get(const ds_dataset *d, const int64_t *idx, int64_t count, float *x,
                         float *y) {
  if (!d || (count > 0 && !idx) || count < 0)
    return ds_set_error(DS_EINVAL, "dataset get: NULL dataset or indices, or negative count");
  for (int64_t k = 0; k < count; k++)
    if (idx[k] < 0 || idx[k] >= d->n)
      return ds_set_error(DS_EINVAL, "dataset '%s': index %lld out of range [0, %lld)", d->name,
                          (long long)idx[k], (long long)d->n);
  for (int64_t k = 0; k < count; k++) {
    if (x) ds_dataset_convert(d, idx[k], NULL, x + k * d->sample_numel);
    if (y) y[k] = d->labels ? (float)d->labels[idx[k]] : d->targets[idx[k]];
  }
  return DS_OK;
}
