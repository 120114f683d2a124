/* Synthetic datasets: sizes, class balance, geometry in the noise-free limit, determinism
 * (same seed, same bytes; another seed, other data), and regression outliers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "descent/data.h"

static void load(const char *name, ds_data_options *o, ds_dataset **tr, ds_dataset **te) {
  ds_status st = ds_dataset_load(name, o, tr, te);
  if (st) fail_msg("%s: %s", name, ds_last_error());
}

static bool same_data(const ds_dataset *a, const ds_dataset *b) {
  if (a->n != b->n || a->sample_numel != b->sample_numel) return false;
  size_t m = (size_t)(a->n * a->sample_numel);
  if (memcmp(a->f32, b->f32, m * sizeof(float))) return false;
  if (a->labels) return !memcmp(a->labels, b->labels, (size_t)a->n * sizeof(int32_t));
  return !memcmp(a->targets, b->targets, (size_t)a->n * sizeof(float));
}

static void test_determinism(void **state) {
  (void)state;
  const char *names[] = {"moons", "spirals", "blobs", "regression"};
  for (int k = 0; k < 4; k++) {
    ds_data_options o = ds_data_options_default();
    o.seed = 42;
    o.outlier_fraction = 0.1;
    ds_dataset *a, *b, *c, *d, *e, *f;
    load(names[k], &o, &a, &b);
    load(names[k], &o, &c, &d);
    o.seed = 43;
    load(names[k], &o, &e, &f);
    assert_true(same_data(a, c));
    assert_true(same_data(b, d));
    assert_false(same_data(a, e));
    assert_false(same_data(a, b)); /* train and test are different draws */
    assert_int_equal(a->n, 1000);
    assert_int_equal(b->n, 1000);
    ds_dataset *all[] = {a, b, c, d, e, f};
    for (int i = 0; i < 6; i++)
      ds_dataset_free(all[i]);
  }
}

static void test_moons_and_spirals_geometry(void **state) {
  (void)state;
  ds_data_options o = ds_data_options_default();
  o.noise = 0.0;
  o.n_train = 301;
  o.n_test = 10;
  ds_dataset *tr, *te;
  load("moons", &o, &tr, &te);
  assert_int_equal(tr->n_classes, 2);
  assert_int_equal(tr->sample_shape.dim[0], 2);
  int64_t cnt[2];
  ds_dataset_class_counts(tr, cnt);
  assert_true(cnt[0] == 151 && cnt[1] == 150);
  for (int64_t i = 0; i < tr->n;
       i++) { /* upper unit half circle / the lower one shifted by (1, 0.5) */
    double x = tr->f32[2 * i], y = tr->f32[2 * i + 1];
    double cx = tr->labels[i] ? 1.0 : 0.0, cy = tr->labels[i] ? 0.5 : 0.0;
    assert_true(fabs(hypot(x - cx, y - cy) - 1.0) < 1e-6); /* float32 coordinates */
    assert_true(tr->labels[i] ? y <= 0.5 + 1e-6 : y >= -1e-6);
  }
  ds_dataset_free(tr);
  ds_dataset_free(te);
  o.n_classes = 4;
  load("spirals", &o, &tr, &te);
  assert_int_equal(tr->n_classes, 4);
  for (int64_t i = 0; i < tr->n; i++) { /* angle = 2 pi (k / C + r) with r the radius */
    double x = tr->f32[2 * i], y = tr->f32[2 * i + 1], r = hypot(x, y);
    if (r < 0.05) continue; /* float32 coordinates: angle error ~1e-7 / r */
    double want = 2 * M_PI * (tr->labels[i] / 4.0 + r), got = atan2(y, x);
    double diff = remainder(got - want, 2 * M_PI);
    assert_true(fabs(diff) < 1e-5);
  }
  ds_dataset_free(tr);
  ds_dataset_free(te);
}

static void test_blobs(void **state) {
  (void)state;
  ds_data_options o = ds_data_options_default();
  o.n_classes = 5;
  o.n_features = 3;
  o.noise = 0.5;
  o.n_train = 5000;
  ds_dataset *tr, *te;
  load("blobs", &o, &tr, &te);
  assert_int_equal(tr->sample_shape.dim[0], 3);
  /* per-class mean near a centre in [-10, 10]^3, per-coordinate std near 0.5 */
  for (int c = 0; c < 5; c++) {
    double s[3] = {0}, ss[3] = {0};
    int64_t n = 0;
    for (int64_t i = 0; i < tr->n; i++)
      if (tr->labels[i] == c) {
        for (int j = 0; j < 3; j++)
          s[j] += tr->f32[3 * i + j], ss[j] += tr->f32[3 * i + j] * tr->f32[3 * i + j];
        n++;
      }
    assert_int_equal(n, 1000);
    for (int j = 0; j < 3; j++) {
      double m = s[j] / n, sd = sqrt(ss[j] / n - m * m);
      assert_true(fabs(m) <= 10.1);
      assert_true(fabs(sd - 0.5) < 0.05); /* 1000 samples: std error of sd ~ 0.011 */
    }
  }
  ds_dataset_free(tr);
  ds_dataset_free(te);
}

/* Least-squares fit of y on (x, 1) for 2 features, by the normal equations. */
static void fit2(const ds_dataset *d, double beta[3]) {
  double A[3][4] = {{0}};
  for (int64_t i = 0; i < d->n; i++) {
    double z[3] = {d->f32[2 * i], d->f32[2 * i + 1], 1.0};
    for (int a = 0; a < 3; a++) {
      for (int b = 0; b < 3; b++)
        A[a][b] += z[a] * z[b];
      A[a][3] += z[a] * d->targets[i];
    }
  }
  for (int p = 0; p < 3; p++) /* Gauss-Jordan, SPD so no pivoting needed */
    for (int r = 0; r < 3; r++) {
      if (r == p) continue;
      double f = A[r][p] / A[p][p];
      for (int c = 0; c < 4; c++)
        A[r][c] -= f * A[p][c];
    }
  for (int p = 0; p < 3; p++)
    beta[p] = A[p][3] / A[p][p];
}

static void test_regression_outliers(void **state) {
  (void)state;
  ds_data_options o = ds_data_options_default();
  o.noise = 0.0;
  o.outlier_fraction = 0.0;
  ds_dataset *tr, *te;
  load("regression", &o, &tr, &te);
  assert_null(tr->labels);
  assert_int_equal(tr->n_classes, 0);
  double beta[3];
  fit2(tr, beta);
  double sd = sqrt(beta[0] * beta[0] + beta[1] * beta[1]);
  for (int64_t i = 0; i < te->n; i++) { /* noise-free: exactly linear, up to float32 storage */
    double pred = beta[0] * te->f32[2 * i] + beta[1] * te->f32[2 * i + 1] + beta[2];
    assert_true(fabs(pred - te->targets[i]) < 1e-5 * (1 + fabs(te->targets[i])));
  }
  ds_dataset_free(tr);
  ds_dataset_free(te);
  /* 7% outliers: exactly 70 training targets off the line by 5..10 sd(y); test set clean */
  o.outlier_fraction = 0.07;
  load("regression", &o, &tr, &te);
  int64_t off = 0;
  for (int64_t i = 0; i < tr->n; i++) {
    double r =
        fabs(beta[0] * tr->f32[2 * i] + beta[1] * tr->f32[2 * i + 1] + beta[2] - tr->targets[i]);
    if (r > 1e-3) {
      off++;
      assert_true(r > 4.99 * sd && r < 10.01 * sd);
    }
  }
  assert_int_equal(off, 70);
  for (int64_t i = 0; i < te->n; i++) {
    double pred = beta[0] * te->f32[2 * i] + beta[1] * te->f32[2 * i + 1] + beta[2];
    assert_true(fabs(pred - te->targets[i]) < 1e-5 * (1 + fabs(te->targets[i])));
  }
  ds_dataset_free(tr);
  ds_dataset_free(te);
}

static void test_bad_options(void **state) {
  (void)state;
  ds_dataset *tr, *te;
  ds_data_options o = ds_data_options_default();
  o.n_classes = 1;
  assert_int_equal(ds_dataset_load("blobs", &o, &tr, &te), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "n_classes"));
  o = ds_data_options_default();
  o.n_train = 0;
  assert_int_equal(ds_dataset_load("moons", &o, &tr, &te), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "n_train"));
  o = ds_data_options_default();
  o.outlier_fraction = 1.5;
  assert_int_equal(ds_dataset_load("regression", &o, &tr, &te), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "outlier_fraction"));
  assert_null(tr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_determinism), cmocka_unit_test(test_moons_and_spirals_geometry),
      cmocka_unit_test(test_blobs),       cmocka_unit_test(test_regression_outliers),
      cmocka_unit_test(test_bad_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
