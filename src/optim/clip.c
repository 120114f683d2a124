/* Gradient transforms applied before the optimizer step: global-norm clipping
 * (torch.nn.utils.clip_grad_norm_), value clipping, and adaptive gradient clipping (Brock et al.
 * 2021, timm.utils.adaptive_clip_grad). Sums are taken in double over fixed pieces and added in a
 * fixed order, so results do not depend on thread timing; nothing is allocated. */
#include <math.h>

#include "optim/optim_internal.h"

#define PIECES 64

/* ||x||² over n floats, split into PIECES parallel parts summed in order. */
static double sumsq_par(const float *x, int64_t n) {
  if (n < DS__PAR_MIN) return ds__sumsq(x, n);
  double part[PIECES];
  int64_t step = (n + PIECES - 1) / PIECES;
#pragma omp parallel for schedule(static)
  for (int k = 0; k < PIECES; k++) {
    int64_t b = k * step, e = b + step < n ? b + step : n;
    part[k] = b < e ? ds__sumsq(x + b, e - b) : 0.0;
  }
  double s = 0;
  for (int k = 0; k < PIECES; k++)
    s += part[k];
  return s;
}

static void scale(float *x, int64_t n, float s) {
#pragma omp parallel for simd schedule(static) if (n >= DS__PAR_MIN)
  for (int64_t i = 0; i < n; i++)
    x[i] *= s;
}

ds_status ds_clip_grad_norm(ds_paramset *ps, double max_norm, double *norm_out) {
  if (!ps) return ds_set_error(DS_EINVAL, "ds_clip_grad_norm: NULL parameter set");
  if (!(max_norm > 0) || !isfinite(max_norm))
    return ds_set_error(DS_EINVAL, "gradient clipping: max_norm %g must be finite and > 0",
                        max_norm);
  double norm = sqrt(sumsq_par(ps->grad, ps->numel));
  if (norm_out) *norm_out = norm;
  if (!isfinite(norm))
    return ds_set_error(DS_ENUMERIC, "gradient clipping: the gradient norm is %g", norm);
  double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) scale(ps->grad, ps->numel, (float)coef);
  return DS_OK;
}

ds_status ds_clip_grad_value(ds_paramset *ps, double clip) {
  if (!ps) return ds_set_error(DS_EINVAL, "ds_clip_grad_value: NULL parameter set");
  if (!(clip >= 0) || !isfinite(clip))
    return ds_set_error(DS_EINVAL, "gradient value clipping: clip %g must be finite and >= 0",
                        clip);
  float *g = ps->grad;
  const float c = (float)clip;
  const int64_t n = ps->numel;
#pragma omp parallel for simd schedule(static) if (n >= DS__PAR_MIN)
  for (int64_t i = 0; i < n; i++)
    g[i] = fminf(fmaxf(g[i], -c), c);
  return DS_OK;
}

/* Clips one unit (w, g of n floats): m = clip·max(||w||, eps); if ||g|| >= m, g *= m / max(||g||,
 * 1e-6). */
static void agc_unit(const float *w, float *g, int64_t n, double clip, double eps, bool par) {
  double wn = sqrt(par ? sumsq_par(w, n) : ds__sumsq(w, n));
  double gn = sqrt(par ? sumsq_par(g, n) : ds__sumsq(g, n));
  double max_norm = clip * fmax(wn, eps);
  if (gn < max_norm) return;
  float s = (float)(max_norm / fmax(gn, 1e-6));
  if (par)
    scale(g, n, s);
  else
    for (int64_t i = 0; i < n; i++)
      g[i] *= s;
}

ds_status ds_agc(ds_paramset *ps, double clipping, double eps, bool exclude_head) {
  if (!ps) return ds_set_error(DS_EINVAL, "ds_agc: NULL parameter set");
  if (!(clipping > 0) || !isfinite(clipping) || !(eps >= 0) || !isfinite(eps))
    return ds_set_error(DS_EINVAL,
                        "adaptive gradient clipping: clipping %g must be > 0 and eps %g >= 0",
                        clipping, eps);
  for (int i = 0; i < ps->count; i++) {
    const ds_param_info *p = &ps->info[i];
    if (exclude_head && p->is_head) continue;
    const float *w = ps->data + p->offset;
    float *g = ps->grad + p->offset;
    if (p->shape.rank < 2) { /* one unit: the whole tensor */
      agc_unit(w, g, p->numel, clipping, eps, p->numel >= DS__PAR_MIN);
      continue;
    }
    const int64_t rows = p->shape.dim[0], len = p->numel / rows;
#pragma omp parallel for schedule(static) if (p->numel >= DS__PAR_MIN)
    for (int64_t r = 0; r < rows; r++)
      agc_unit(w + r * len, g + r * len, len, clipping, eps, false);
  }
  return DS_OK;
}
