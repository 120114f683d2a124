/* Synthetic datasets, generated from the (seed, DS_RNG_DATA) stream. Train and test are drawn
 * from the same distribution (train first). Sample i of a classification set has class i mod C.
 *   moons       x = (cos t, sin t) for class 0, (1 - cos t, 0.5 - sin t) for class 1,
 *               t ~ U(0, pi), plus N(0, noise^2) per coordinate (default 0.1; sklearn make_moons)
 *   spirals     arm k of C: r ~ U(0, 1), theta = 2 pi k / C + 2 pi r (one turn),
 *               x = r (cos theta, sin theta) + N(0, noise^2) (default 0.05)
 *   blobs       C centres ~ U(-10, 10)^K, x = centre + N(0, noise^2 I) (default 1; make_blobs)
 *   regression  x ~ N(0, I_K), y = w.x + b + N(0, noise^2) (default 0.1), w ~ N(0, I), b ~ N(0, 1);
 *               a fraction outlier_fraction of the training targets (exact count, random choice)
 *               get a gross error of +-(5 + 5u) sd(y), u ~ U(0, 1), sd(y) = sqrt(|w|^2 + noise^2).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data_internal.h"
#include "descent/alloc.h"

#define PI 3.14159265358979323846

static double pick_noise(double noise, double def) { return noise < 0.0 ? def : noise; }

static ds_status make_split(const char *base, const char *split, int64_t n, int64_t k,
                            int n_classes, ds_dataset **out) {
  char name[DS_NAME_MAX];
  snprintf(name, sizeof name, "%s/%s", base, split);
  *out = ds__dataset_new(name, n, ds_shape1(k), false, n_classes);
  return *out ? DS_OK : DS_ENOMEM;
}

/* Fills sample i (class c) of a 2-D classification set. */
static void moons_point(ds_rng *r, int c, double noise, float *x) {
  double t = PI * ds_rng_uniform_d(r);
  double a = c == 0 ? cos(t) : 1.0 - cos(t);
  double b = c == 0 ? sin(t) : 0.5 - sin(t);
  x[0] = (float)(a + noise * ds_rng_normal(r));
  x[1] = (float)(b + noise * ds_rng_normal(r));
}

static void spiral_point(ds_rng *r, int c, int n_classes, double noise, float *x) {
  double rad = ds_rng_uniform_d(r);
  double th = 2.0 * PI * (double)c / n_classes + 2.0 * PI * rad;
  x[0] = (float)(rad * cos(th) + noise * ds_rng_normal(r));
  x[1] = (float)(rad * sin(th) + noise * ds_rng_normal(r));
}

static ds_status check_options(const char *name, const ds_data_options *o) {
  if (o->n_train < 1 || o->n_test < 1 || o->n_train > (INT64_C(1) << 31) ||
      o->n_test > (INT64_C(1) << 31))
    return ds_set_error(DS_EINVAL, "dataset '%s': n_train %lld / n_test %lld must be in 1..2^31",
                        name, (long long)o->n_train, (long long)o->n_test);
  if (strcmp(name, "moons") && (o->n_classes < 2 || o->n_classes > 1000) &&
      strcmp(name, "regression"))
    return ds_set_error(DS_EINVAL, "dataset '%s': n_classes %d not in 2..1000", name, o->n_classes);
  if (o->n_features < 1 || o->n_features > 65536)
    return ds_set_error(DS_EINVAL, "dataset '%s': n_features %d not in 1..65536", name,
                        o->n_features);
  if (!isfinite(o->noise))
    return ds_set_error(DS_EINVAL, "dataset '%s': noise %g not finite", name, o->noise);
  if (!(o->outlier_fraction >= 0.0 && o->outlier_fraction <= 1.0))
    return ds_set_error(DS_EINVAL, "dataset '%s': outlier_fraction %g not in [0, 1]", name,
                        o->outlier_fraction);
  return DS_OK;
}

static ds_status gen_regression(const ds_data_options *o, ds_rng *r, ds_dataset *sp[2]) {
  int64_t k = o->n_features;
  double noise = pick_noise(o->noise, 0.1);
  double *w = ds_malloc((size_t)k * sizeof(double));
  if (!w) return DS_ENOMEM;
  double w2 = 0.0;
  for (int64_t j = 0; j < k; j++)
    w[j] = ds_rng_normal(r), w2 += w[j] * w[j];
  double b = ds_rng_normal(r);
  for (int s = 0; s < 2; s++)
    for (int64_t i = 0; i < sp[s]->n; i++) {
      float *x = sp[s]->f32 + i * k;
      double y = b;
      for (int64_t j = 0; j < k; j++) {
        x[j] = (float)ds_rng_normal(r);
        y += w[j] * x[j];
      }
      sp[s]->targets[i] = (float)(y + noise * ds_rng_normal(r));
    }
  ds_free(w);
  /* outliers: an exact number of training samples, chosen by a partial Fisher-Yates */
  ds_dataset *tr = sp[0];
  int64_t n_out = (int64_t)llround(o->outlier_fraction * (double)tr->n);
  if (n_out == 0) return DS_OK;
  int64_t *idx = ds_malloc((size_t)tr->n * sizeof(int64_t));
  if (!idx) return DS_ENOMEM;
  for (int64_t i = 0; i < tr->n; i++)
    idx[i] = i;
  double sd = sqrt(w2 + noise * noise);
  for (int64_t i = 0; i < n_out; i++) {
    int64_t j = i + (int64_t)ds_rng_below(r, (uint64_t)(tr->n - i));
    int64_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
    double mag = (5.0 + 5.0 * ds_rng_uniform_d(r)) * sd;
    tr->targets[idx[i]] += (float)(ds_rng_below(r, 2) ? mag : -mag);
  }
  ds_free(idx);
  return DS_OK;
}

ds_status ds__load_synthetic(const char *name, const ds_data_options *o, ds_dataset **train,
                             ds_dataset **test) {
  ds_status st = check_options(name, o);
  if (st) return st;
  bool moons = !strcmp(name, "moons"), spirals = !strcmp(name, "spirals");
  bool regression = !strcmp(name, "regression");
  int C = regression ? 0 : moons ? 2 : o->n_classes;
  int64_t k = moons || spirals ? 2 : o->n_features;
  if ((st = make_split(name, "train", o->n_train, k, C, train))) return st;
  if ((st = make_split(name, "test", o->n_test, k, C, test))) return st;
  ds_rng r;
  ds_rng_seed(&r, o->seed, DS_RNG_DATA);
  ds_dataset *sp[2] = {*train, *test};
  if (regression) return gen_regression(o, &r, sp);
  double *centres = NULL;
  if (!moons && !spirals) { /* blobs */
    centres = ds_malloc((size_t)C * (size_t)k * sizeof(double));
    if (!centres) return DS_ENOMEM;
    for (int64_t j = 0; j < C * k; j++)
      centres[j] = -10.0 + 20.0 * ds_rng_uniform_d(&r);
  }
  for (int s = 0; s < 2; s++)
    for (int64_t i = 0; i < sp[s]->n; i++) {
      int c = (int)(i % C);
      float *x = sp[s]->f32 + i * k;
      sp[s]->labels[i] = sp[s]->clean_labels[i] = c;
      if (moons)
        moons_point(&r, c, pick_noise(o->noise, 0.1), x);
      else if (spirals)
        spiral_point(&r, c, C, pick_noise(o->noise, 0.05), x);
      else
        for (int64_t j = 0; j < k; j++)
          x[j] = (float)(centres[c * k + j] + pick_noise(o->noise, 1.0) * ds_rng_normal(&r));
    }
  ds_free(centres);
  return DS_OK;
}
