/* Objectives over per-sample losses: the backward seeds d objective / d loss_i. */
#include <math.h>

#include "descent/train.h"

/* TERM (Li et al. 2021, eq. 2 and Lemma 1): d R_t / d l_i = exp(t l_i) / sum_j exp(t l_j). */
ds_status ds_objective_tilted(void *ctx, const float *losses, int64_t b, float *weights) {
  if (!ctx || !losses || !weights || b < 1) return ds_set_error(DS_EINVAL, "objective 'tilted': invalid arguments");
  double t = *(const double *)ctx;
  if (!isfinite(t)) return ds_set_error(DS_EINVAL, "objective 'tilted': tilt %g is not finite", t);
  if (t == 0) {
    for (int64_t i = 0; i < b; i++) weights[i] = (float)(1.0 / (double)b);
    return DS_OK;
  }
  double top = -INFINITY;
  for (int64_t i = 0; i < b; i++)
    if (t * losses[i] > top) top = t * (double)losses[i];
  double sum = 0;
  for (int64_t i = 0; i < b; i++) sum += exp(t * (double)losses[i] - top);
  for (int64_t i = 0; i < b; i++) weights[i] = (float)(exp(t * (double)losses[i] - top) / sum);
  return DS_OK;
}
