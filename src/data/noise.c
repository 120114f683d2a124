/* Label noise and class imbalance. Both choose samples per clean class with an exact count, so
 * a rate or ratio is met exactly rather than in expectation.
 * Label noise as in the noisy-label literature: symmetric flips to another class uniformly
 * (e.g. Han et al. 2018, Co-teaching), pair flips class c to c+1 mod C (ibid.), uniform redraws
 * from all classes (Zhang et al. 2017's random labels at rate 1). */
#include <math.h>
#include <string.h>

#include "data_internal.h"
#include "descent/alloc.h"

ds_status ds_noise_kind_parse(const char *s, ds_noise_kind *out) {
  if (!s || !out) return ds_set_error(DS_EINVAL, "label noise: NULL name");
  if (!strcmp(s, "symmetric") || !strcmp(s, "sym"))
    *out = DS_NOISE_SYMMETRIC;
  else if (!strcmp(s, "pair") || !strcmp(s, "asymmetric") || !strcmp(s, "asym"))
    *out = DS_NOISE_PAIR;
  else if (!strcmp(s, "uniform") || !strcmp(s, "random"))
    *out = DS_NOISE_UNIFORM;
  else
    return ds_set_error(DS_ENOTFOUND, "label noise '%s': unknown (known: symmetric, pair, uniform)",
                        s);
  return DS_OK;
}

/* idx[0..m) = the samples of clean class c, in order. */
static int64_t class_members(const ds_dataset *d, int c, int64_t *idx) {
  int64_t m = 0;
  for (int64_t i = 0; i < d->n; i++)
    if (d->clean_labels[i] == c) idx[m++] = i;
  return m;
}

ds_status ds_dataset_add_label_noise(ds_dataset *d, ds_noise_kind kind, double rate,
                                     uint64_t seed) {
  if (!d) return ds_set_error(DS_EINVAL, "label noise: NULL dataset");
  if (!d->labels)
    return ds_set_error(DS_EINVAL, "dataset '%s': label noise on a regression dataset", d->name);
  if (!(rate >= 0.0 && rate <= 1.0))
    return ds_set_error(DS_EINVAL, "dataset '%s': label noise rate %g not in [0, 1]", d->name,
                        rate);
  if (kind != DS_NOISE_SYMMETRIC && kind != DS_NOISE_PAIR && kind != DS_NOISE_UNIFORM)
    return ds_set_error(DS_EINVAL, "dataset '%s': label noise kind %d unknown", d->name, (int)kind);
  int C = d->n_classes;
  if (C < 2)
    return ds_set_error(DS_EINVAL, "dataset '%s': label noise needs >= 2 classes", d->name);
  int64_t *idx = ds_malloc((size_t)(d->n ? d->n : 1) * sizeof(int64_t));
  if (!idx) return DS_ENOMEM;
  memcpy(d->labels, d->clean_labels, (size_t)d->n * sizeof(int32_t));
  ds_rng r;
  ds_rng_seed(&r, seed, DS_RNG_NOISE);
  for (int c = 0; c < C; c++) {
    int64_t m = class_members(d, c, idx);
    int64_t k = (int64_t)llround(rate * (double)m);
    ds_rng_shuffle(&r, idx, m);
    for (int64_t j = 0; j < k; j++) {
      int32_t y;
      if (kind == DS_NOISE_PAIR)
        y = (c + 1) % C;
      else if (kind == DS_NOISE_UNIFORM)
        y = (int32_t)ds_rng_below(&r, (uint64_t)C);
      else { /* one of the other C-1 classes */
        y = (int32_t)ds_rng_below(&r, (uint64_t)C - 1);
        if (y >= c) y++;
      }
      d->labels[idx[j]] = y;
    }
  }
  ds_free(idx);
  return DS_OK;
}

int64_t ds_dataset_noisy_count(const ds_dataset *d) {
  if (!d || !d->labels) return 0;
  int64_t k = 0;
  for (int64_t i = 0; i < d->n; i++)
    k += d->labels[i] != d->clean_labels[i];
  return k;
}

ds_status ds_dataset_imbalance(ds_dataset *d, const double *ratios, int n_ratios, uint64_t seed) {
  if (!d || !ratios) return ds_set_error(DS_EINVAL, "imbalance: NULL dataset or ratios");
  if (!d->labels)
    return ds_set_error(DS_EINVAL, "dataset '%s': class imbalance on a regression dataset",
                        d->name);
  if (n_ratios != d->n_classes)
    return ds_set_error(DS_EINVAL, "dataset '%s': %d imbalance ratios for %d classes", d->name,
                        n_ratios, d->n_classes);
  for (int c = 0; c < n_ratios; c++)
    if (!(ratios[c] >= 0.0 && ratios[c] <= 1.0))
      return ds_set_error(DS_EINVAL,
                          "dataset '%s': imbalance ratio of class %d is %g, not in [0, 1]", d->name,
                          c, ratios[c]);
  int64_t *idx = ds_malloc((size_t)(d->n ? d->n : 1) * sizeof(int64_t));
  uint8_t *keep = ds_calloc((size_t)(d->n ? d->n : 1), 1);
  if (!idx || !keep) {
    ds_free(idx);
    ds_free(keep);
    return DS_ENOMEM;
  }
  ds_rng r;
  ds_rng_seed(&r, seed, DS_RNG_IMBALANCE);
  int64_t kept = 0;
  for (int c = 0; c < d->n_classes; c++) {
    int64_t m = class_members(d, c, idx);
    int64_t k = (int64_t)llround(ratios[c] * (double)m);
    if (k == 0 && ratios[c] > 0.0 && m > 0) k = 1;
    ds_rng_shuffle(&r, idx, m);
    for (int64_t j = 0; j < k; j++)
      keep[idx[j]] = 1;
    kept += k;
  }
  if (kept == 0) {
    ds_free(idx);
    ds_free(keep);
    return ds_set_error(DS_EINVAL, "dataset '%s': imbalance ratios keep no sample", d->name);
  }
  /* compact in place, keeping the order */
  int64_t m = d->sample_numel, o = 0;
  for (int64_t i = 0; i < d->n; i++) {
    if (!keep[i]) continue;
    if (o != i) {
      if (d->u8)
        memcpy(d->u8 + o * m, d->u8 + i * m, (size_t)m);
      else
        memcpy(d->f32 + o * m, d->f32 + i * m, (size_t)m * sizeof(float));
      d->labels[o] = d->labels[i];
      d->clean_labels[o] = d->clean_labels[i];
      if (d->groups) d->groups[o] = d->groups[i];
    }
    o++;
  }
  d->n = o;
  ds_free(idx);
  ds_free(keep);
  return DS_OK;
}

ds_status ds_imbalance_ratios(const char *profile, double rho, int n_classes, double *ratios) {
  if (!profile || !ratios) return ds_set_error(DS_EINVAL, "imbalance profile: NULL argument");
  if (!(rho >= 1.0) || !isfinite(rho))
    return ds_set_error(DS_EINVAL, "imbalance profile '%s': factor %g must be >= 1", profile, rho);
  if (n_classes < 2)
    return ds_set_error(DS_EINVAL, "imbalance profile '%s': %d classes (need >= 2)", profile,
                        n_classes);
  if (!strcmp(profile, "exp")) {
    for (int c = 0; c < n_classes; c++)
      ratios[c] = pow(rho, -(double)c / (n_classes - 1));
  } else if (!strcmp(profile, "step")) {
    for (int c = 0; c < n_classes; c++)
      ratios[c] = c < n_classes / 2 ? 1.0 : 1.0 / rho;
  } else {
    return ds_set_error(DS_ENOTFOUND, "imbalance profile '%s': unknown (known: exp, step)",
                        profile);
  }
  return DS_OK;
}
