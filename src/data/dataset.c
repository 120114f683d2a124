/* Datasets: allocation, subsets, stratified splits, and the dispatch of ds_dataset_load. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "data_internal.h"
#include "descent/alloc.h"
#include "descent/kv.h"

ds_data_options ds_data_options_default(void) {
  return (ds_data_options){.path = NULL,
                           .test_path = NULL,
                           .test_fraction = 0.2,
                           .label_column = -1,
                           .header = -1,
                           .delimiter = ',',
                           .regression = false,
                           .n_train = 1000,
                           .n_test = 1000,
                           .n_classes = 3,
                           .n_features = 2,
                           .noise = -1.0,
                           .outlier_fraction = 0.0,
                           .seed = 0,
                           .context = 128};
}

/* The dataset table: name -> loader. Adding a dataset: one loader and one row. */
typedef ds_status (*loader_fn)(const char *name, const ds_data_options *opt, ds_dataset **train,
                               ds_dataset **test);
static const struct {
  const char *name;
  loader_fn load;
} datasets[] = {
    {"fashion-mnist", ds__load_mnist},
    {"mnist", ds__load_mnist},
    {"digits", ds__load_digits},
    {"csv", ds__load_csv},
    {"text", ds__load_text},
    {"moons", ds__load_synthetic},
    {"spirals", ds__load_synthetic},
    {"blobs", ds__load_synthetic},
    {"regression", ds__load_synthetic},
};

#define N_DATASETS (int)(sizeof datasets / sizeof *datasets)

const char *const *ds_dataset_names(int *count) {
  static const char *names[N_DATASETS + 1];
  for (int i = 0; i < N_DATASETS; i++)
    names[i] = datasets[i].name;
  if (count) *count = N_DATASETS;
  return names;
}

ds_dataset *ds__dataset_new(const char *name, int64_t n, ds_shape shape, bool u8, int n_classes) {
  int64_t numel = 1; /* capped at 2^40 total elements, checked without overflow */
  bool dims_ok = shape.rank >= 1 && shape.rank <= DS_MAX_RANK;
  for (int i = 0; dims_ok && i < shape.rank; i++) {
    dims_ok = shape.dim[i] >= 1 && shape.dim[i] <= INT32_MAX &&
              numel <= (INT64_C(1) << 40) / shape.dim[i];
    if (dims_ok) numel *= shape.dim[i];
  }
  if (n < 0 || !dims_ok || (n > 0 && numel > (INT64_C(1) << 40) / n)) {
    ds_set_error(DS_EINVAL, "dataset '%s': bad size (n=%lld, sample rank %d, %lld elements)", name,
                 (long long)n, shape.rank, (long long)numel);
    return NULL;
  }
  ds_dataset *d = ds_calloc(1, sizeof *d);
  if (!d) return NULL;
  snprintf(d->name, sizeof d->name, "%s", name);
  d->n = n;
  d->sample_shape = shape;
  d->sample_numel = numel;
  d->u8_max = 255.0f;
  d->n_classes = n_classes;
  d->channels = (int)shape.dim[0];
  size_t cells = (size_t)(n ? n : 1) * (size_t)numel;
  if (u8)
    d->u8 = ds_malloc(cells);
  else
    d->f32 = ds_malloc(cells * sizeof(float));
  bool ok = u8 ? d->u8 != NULL : d->f32 != NULL;
  if (n_classes > 0) {
    d->labels = ds_malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    d->clean_labels = ds_malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    ok = ok && d->labels && d->clean_labels;
  } else {
    d->targets = ds_malloc((size_t)(n ? n : 1) * sizeof(float));
    ok = ok && d->targets;
  }
  d->mean = ds_malloc(4 * (size_t)d->channels * sizeof(float));
  if (!ok || !d->mean) {
    ds_dataset_free(d);
    return NULL;
  }
  d->std = d->mean + d->channels;
  d->scale = d->std + d->channels;
  d->shift = d->scale + d->channels;
  for (int c = 0; c < d->channels; c++)
    d->mean[c] = 0.0f, d->std[c] = 1.0f;
  ds__dataset_update_affine(d);
  return d;
}

ds_dataset *ds_dataset_new(const char *name, int64_t n, ds_shape sample_shape, bool u8,
                           int n_classes) {
  if (!name) name = "dataset";
  if (n_classes == 1 || n_classes < 0) {
    ds_set_error(DS_EINVAL, "dataset '%s': %d classes (need >= 2, or 0 for regression)", name,
                 n_classes);
    return NULL;
  }
  ds_dataset *d = ds__dataset_new(name, n, sample_shape, u8, n_classes);
  if (!d) return NULL;
  size_t cells = (size_t)n * (size_t)d->sample_numel;
  if (u8)
    memset(d->u8, 0, cells);
  else
    memset(d->f32, 0, cells * sizeof(float));
  if (n_classes) {
    memset(d->labels, 0, (size_t)n * sizeof(int32_t));
    memset(d->clean_labels, 0, (size_t)n * sizeof(int32_t));
  } else {
    memset(d->targets, 0, (size_t)n * sizeof(float));
  }
  return d;
}

void ds__dataset_update_affine(ds_dataset *d) {
  float unit = d->u8 ? 1.0f / d->u8_max : 1.0f;
  for (int c = 0; c < d->channels; c++) {
    d->scale[c] = unit / d->std[c];
    d->shift[c] = -d->mean[c] / d->std[c];
  }
}

void ds_dataset_free(ds_dataset *d) {
  if (!d) return;
  ds_free(d->u8);
  ds_free(d->f32);
  ds_free(d->labels);
  ds_free(d->clean_labels);
  ds_free(d->targets);
  ds_free(d->groups);
  ds_free(d->mean); /* std, scale, shift live in the same block */
  ds_free(d);
}

ds_dataset *ds_dataset_subset(const ds_dataset *d, const int64_t *idx, int64_t count,
                              const char *name) {
  if (!d || (count > 0 && !idx) || count < 0) {
    ds_set_error(DS_EINVAL, "dataset subset: NULL dataset or indices, or negative count");
    return NULL;
  }
  for (int64_t k = 0; k < count; k++)
    if (idx[k] < 0 || idx[k] >= d->n) {
      ds_set_error(DS_EINVAL, "dataset '%s': subset index %lld out of range [0, %lld)", d->name,
                   (long long)idx[k], (long long)d->n);
      return NULL;
    }
  ds_dataset *s =
      ds__dataset_new(name ? name : d->name, count, d->sample_shape, d->u8 != NULL, d->n_classes);
  if (!s) return NULL;
  s->u8_max = d->u8_max;
  int64_t m = d->sample_numel;
  for (int64_t k = 0; k < count; k++) {
    int64_t i = idx[k];
    if (d->u8)
      memcpy(s->u8 + k * m, d->u8 + i * m, (size_t)m);
    else
      memcpy(s->f32 + k * m, d->f32 + i * m, (size_t)m * sizeof(float));
    if (d->labels) {
      s->labels[k] = d->labels[i];
      s->clean_labels[k] = d->clean_labels[i];
    } else {
      s->targets[k] = d->targets[i];
    }
  }
  if (d->groups) {
    s->groups = ds_malloc((size_t)(count ? count : 1) * sizeof(int32_t));
    if (!s->groups) {
      ds_dataset_free(s);
      return NULL;
    }
    for (int64_t k = 0; k < count; k++)
      s->groups[k] = d->groups[idx[k]];
    s->n_groups = d->n_groups;
  }
  s->normalized = d->normalized;
  memcpy(s->mean, d->mean, (size_t)d->channels * sizeof(float));
  memcpy(s->std, d->std, (size_t)d->channels * sizeof(float));
  ds__dataset_update_affine(s);
  return s;
}

ds_status ds_dataset_set_groups(ds_dataset *d, const int32_t *groups) {
  if (!d) return ds_set_error(DS_EINVAL, "dataset groups: NULL dataset");
  int32_t top = -1;
  for (int64_t i = 0; groups && i < d->n; i++) {
    if (groups[i] < 0 || groups[i] >= DS_MAX_GROUPS)
      return ds_set_error(DS_EINVAL, "dataset '%s': group %d of sample %lld is not in 0..%d",
                          d->name, (int)groups[i], (long long)i, DS_MAX_GROUPS - 1);
    top = groups[i] > top ? groups[i] : top;
  }
  int32_t *g = groups ? ds_malloc((size_t)(d->n ? d->n : 1) * sizeof(int32_t)) : NULL;
  if (groups && !g) return DS_ENOMEM;
  if (g) memcpy(g, groups, (size_t)d->n * sizeof(int32_t));
  ds_free(d->groups);
  d->groups = g;
  d->n_groups = groups ? top + 1 : 0;
  return DS_OK;
}

int ds_dataset_class_counts(const ds_dataset *d, int64_t *counts) {
  if (!d || !counts) return ds_set_error(DS_EINVAL, "class counts: NULL dataset or counts");
  if (!d->labels)
    return ds_set_error(DS_EINVAL, "dataset '%s': class counts of a regression dataset", d->name);
  memset(counts, 0, (size_t)d->n_classes * sizeof(int64_t));
  for (int64_t i = 0; i < d->n; i++)
    counts[d->labels[i]]++;
  return d->n_classes;
}

/* ---- splits ---- */

ds_status ds__split_mask(const ds_dataset *d, double fraction, uint64_t seed, uint8_t *held) {
  /* Strata: the clean classes (one stratum for regression). Stratum s of size n_s holds out
   * floor(f n_s) samples plus one more for the strata with the largest remainders, so the total
   * is exactly round(f n). Within a stratum the held-out samples are a random choice. */
  int strata = d->labels ? d->n_classes : 1;
  int64_t *count = ds_calloc((size_t)strata, sizeof(int64_t));
  int64_t *take = ds_calloc((size_t)strata, sizeof(int64_t));
  int64_t *idx = ds_malloc((size_t)(d->n ? d->n : 1) * sizeof(int64_t));
  double *rem = ds_calloc((size_t)strata, sizeof(double));
  ds_status st = (count && take && idx && rem) ? DS_OK : DS_ENOMEM;
  if (st) goto done;
  for (int64_t i = 0; i < d->n; i++)
    count[d->labels ? d->clean_labels[i] : 0]++;
  int64_t total = (int64_t)llround(fraction * (double)d->n), given = 0;
  for (int s = 0; s < strata; s++) {
    double want = fraction * (double)count[s];
    take[s] = (int64_t)floor(want);
    rem[s] = want - (double)take[s];
    given += take[s];
  }
  while (given < total) { /* largest remainder first, ties to the lower class */
    int best = -1;
    for (int s = 0; s < strata; s++)
      if (take[s] < count[s] && (best < 0 || rem[s] > rem[best])) best = s;
    if (best < 0) break;
    take[best]++;
    rem[best] = -1.0;
    given++;
  }
  ds_rng rng;
  ds_rng_seed(&rng, seed, DS_RNG_SPLIT);
  memset(held, 0, (size_t)d->n);
  for (int s = 0; s < strata; s++) {
    int64_t m = 0;
    for (int64_t i = 0; i < d->n; i++)
      if ((d->labels ? d->clean_labels[i] : 0) == s) idx[m++] = i;
    ds_rng_shuffle(&rng, idx, m);
    for (int64_t k = 0; k < take[s]; k++)
      held[idx[k]] = 1;
  }
done:
  ds_free(count);
  ds_free(take);
  ds_free(idx);
  ds_free(rem);
  return st;
}

static ds_status split_names(const ds_dataset *d, double fraction, uint64_t seed,
                             const char *name_a, const char *name_b, ds_dataset **a,
                             ds_dataset **b) {
  *a = *b = NULL;
  if (!(fraction > 0.0 && fraction < 1.0))
    return ds_set_error(DS_EINVAL, "dataset '%s': split fraction %g not in (0, 1)", d->name,
                        fraction);
  int64_t n_b = (int64_t)llround(fraction * (double)d->n);
  if (n_b < 1 || n_b > d->n - 1)
    return ds_set_error(DS_EINVAL,
                        "dataset '%s': split fraction %g of %lld samples leaves one side empty",
                        d->name, fraction, (long long)d->n);
  uint8_t *held = ds_malloc((size_t)d->n);
  int64_t *ia = ds_malloc((size_t)d->n * sizeof(int64_t));
  int64_t *ib = ds_malloc((size_t)d->n * sizeof(int64_t));
  ds_status st = (held && ia && ib) ? ds__split_mask(d, fraction, seed, held) : DS_ENOMEM;
  if (!st) {
    int64_t na = 0, nb = 0;
    for (int64_t i = 0; i < d->n; i++) {
      if (held[i])
        ib[nb++] = i;
      else
        ia[na++] = i;
    }
    *a = ds_dataset_subset(d, ia, na, name_a);
    *b = *a ? ds_dataset_subset(d, ib, nb, name_b) : NULL;
    if (!*b) {
      st = DS_ENOMEM;
      ds_dataset_free(*a);
      *a = NULL;
    }
  }
  ds_free(held);
  ds_free(ia);
  ds_free(ib);
  return st;
}

ds_status ds_dataset_split(const ds_dataset *d, double fraction, uint64_t seed, ds_dataset **rest,
                           ds_dataset **held_out) {
  if (!d || !rest || !held_out) return ds_set_error(DS_EINVAL, "dataset split: NULL argument");
  char na[DS_NAME_MAX], nb[DS_NAME_MAX];
  snprintf(na, sizeof na, "%.50s/split", d->name);
  snprintf(nb, sizeof nb, "%.50s/held", d->name);
  return split_names(d, fraction, seed, na, nb, rest, held_out);
}

ds_status ds__split_consume(ds_dataset *d, double fraction, uint64_t seed, const char *base,
                            ds_dataset **train, ds_dataset **test) {
  char na[DS_NAME_MAX], nb[DS_NAME_MAX];
  snprintf(na, sizeof na, "%.50s/train", base);
  snprintf(nb, sizeof nb, "%.50s/test", base);
  ds_status st = split_names(d, fraction, seed, na, nb, train, test);
  ds_dataset_free(d);
  return st;
}

/* ---- ds_dataset_load ---- */

ds_status ds_dataset_load(const char *name, const ds_data_options *opt, ds_dataset **train,
                          ds_dataset **test) {
  if (!train || !test) return ds_set_error(DS_EINVAL, "dataset load: NULL output pointer");
  *train = *test = NULL;
  if (!name) return ds_set_error(DS_EINVAL, "dataset load: NULL dataset name");
  ds_data_options def = ds_data_options_default();
  if (!opt) opt = &def;
  if (opt->group_column && strcmp(name, "csv"))
    return ds_set_error(DS_EINVAL,
                        "dataset '%s': group column '%s' needs a csv dataset (groups are a named "
                        "column of the CSV file)",
                        name, opt->group_column);
  int i = 0;
  while (i < N_DATASETS && strcmp(name, datasets[i].name))
    i++;
  char known[200];
  if (i == N_DATASETS)
    return ds_set_error(DS_ENOTFOUND, "dataset '%s': unknown (known: %s)", name,
                        ds_kv_join(ds_dataset_names(NULL), known, sizeof known));
  ds_status st = datasets[i].load(name, opt, train, test);
  if (st) {
    ds_dataset_free(*train);
    ds_dataset_free(*test);
    *train = *test = NULL;
  }
  return st;
}
