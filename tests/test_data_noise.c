/* Label noise (exact per-class rates, the transition each kind promises, clean labels kept,
 * seeded), class imbalance (exact per-class counts, order kept, profiles) and stratified splits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "descent/data.h"

/* blobs with C classes and n samples per class in the training split. */
static ds_dataset *blobs(int C, int64_t per_class) {
  ds_data_options o = ds_data_options_default();
  o.n_classes = C;
  o.n_train = C * per_class;
  o.n_test = C;
  ds_dataset *tr, *te;
  if (ds_dataset_load("blobs", &o, &tr, &te)) fail_msg("%s", ds_last_error());
  ds_dataset_free(te);
  return tr;
}

static void test_symmetric_noise(void **state) {
  (void)state;
  ds_dataset *d = blobs(10, 500);
  assert_int_equal(ds_dataset_add_label_noise(d, DS_NOISE_SYMMETRIC, 0.4, 7), DS_OK);
  assert_int_equal(ds_dataset_noisy_count(d), 2000); /* exactly 200 in each of 10 classes */
  int64_t flips[10][10] = {{0}};
  for (int64_t i = 0; i < d->n; i++) {
    assert_int_equal(d->clean_labels[i], (int)(i % 10)); /* clean labels untouched */
    flips[d->clean_labels[i]][d->labels[i]]++;
  }
  for (int c = 0; c < 10; c++) {
    assert_int_equal(flips[c][c], 300);
    for (int k = 0; k < 10; k++) /* 200 spread over 9 classes: ~22 each, never all in one */
      if (k != c) assert_true(flips[c][k] > 0 && flips[c][k] < 60);
  }
  /* same seed, same noise; another seed, other noise; rate 0 restores the clean labels */
  int32_t first[5000];
  memcpy(first, d->labels, sizeof first);
  ds_dataset_add_label_noise(d, DS_NOISE_SYMMETRIC, 0.4, 7);
  assert_memory_equal(first, d->labels, sizeof first);
  ds_dataset_add_label_noise(d, DS_NOISE_SYMMETRIC, 0.4, 8);
  assert_memory_not_equal(first, d->labels, sizeof first);
  assert_int_equal(ds_dataset_noisy_count(d), 2000); /* replaces, never compounds */
  ds_dataset_add_label_noise(d, DS_NOISE_SYMMETRIC, 0.0, 8);
  assert_int_equal(ds_dataset_noisy_count(d), 0);
  ds_dataset_free(d);
}

static void test_pair_and_uniform_noise(void **state) {
  (void)state;
  ds_dataset *d = blobs(4, 101);
  assert_int_equal(ds_dataset_add_label_noise(d, DS_NOISE_PAIR, 0.3, 1), DS_OK);
  int64_t noisy = 0;
  for (int64_t i = 0; i < d->n; i++)
    if (d->labels[i] != d->clean_labels[i]) {
      assert_int_equal(d->labels[i], (d->clean_labels[i] + 1) % 4);
      noisy++;
    }
  assert_int_equal(noisy, 4 * 30); /* round(0.3 * 101) = 30 per class */
  /* uniform at rate 1: every label redrawn from all classes, about 1/C stay right */
  assert_int_equal(ds_dataset_add_label_noise(d, DS_NOISE_UNIFORM, 1.0, 1), DS_OK);
  int64_t wrong = ds_dataset_noisy_count(d);
  assert_true(wrong > 404 * 0.75 - 40 && wrong < 404 * 0.75 + 40); /* binomial sd ~ 9 */
  ds_dataset_free(d);
}

static void test_noise_errors(void **state) {
  (void)state;
  ds_dataset *d = blobs(3, 10);
  assert_int_equal(ds_dataset_add_label_noise(d, DS_NOISE_SYMMETRIC, 1.5, 1), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "rate"));
  assert_non_null(strstr(ds_last_error(), d->name));
  ds_noise_kind k;
  assert_int_equal(ds_noise_kind_parse("asymmetric", &k), DS_OK);
  assert_int_equal(k, DS_NOISE_PAIR);
  assert_int_equal(ds_noise_kind_parse("sym", &k), DS_OK);
  assert_int_equal(k, DS_NOISE_SYMMETRIC);
  assert_int_equal(ds_noise_kind_parse("gaussian", &k), DS_ENOTFOUND);
  assert_non_null(strstr(ds_last_error(), "gaussian"));
  ds_data_options o = ds_data_options_default();
  ds_dataset *tr, *te;
  ds_dataset_load("regression", &o, &tr, &te);
  assert_int_equal(ds_dataset_add_label_noise(tr, DS_NOISE_SYMMETRIC, 0.1, 1), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "regression/train"));
  ds_dataset_free(tr);
  ds_dataset_free(te);
  ds_dataset_free(d);
}

static void test_imbalance(void **state) {
  (void)state;
  ds_dataset *d = blobs(10, 200);
  double r[10];
  assert_int_equal(ds_imbalance_ratios("exp", 100.0, 10, r), DS_OK);
  assert_true(r[0] == 1.0 && fabs(r[9] - 0.01) < 1e-15 &&
              fabs(r[5] - pow(100.0, -5.0 / 9)) < 1e-15);
  assert_int_equal(ds_dataset_imbalance(d, r, 10, 5), DS_OK);
  int64_t c[10];
  ds_dataset_class_counts(d, c);
  int64_t total = 0;
  for (int k = 0; k < 10; k++) {
    int64_t want = llround(r[k] * 200);
    assert_int_equal(c[k], want ? want : 1);
    total += c[k];
  }
  assert_int_equal(d->n, total);
  for (int64_t i = 0; i < d->n; i++)
    assert_int_equal(d->labels[i], d->clean_labels[i]);
  assert_int_equal(ds_imbalance_ratios("step", 10.0, 4, r), DS_OK);
  assert_true(r[0] == 1.0 && r[1] == 1.0 && r[2] == 0.1 && r[3] == 0.1);
  assert_int_equal(ds_imbalance_ratios("zipf", 10.0, 4, r), DS_ENOTFOUND);
  assert_int_equal(ds_dataset_imbalance(d, r, 4, 5), DS_EINVAL); /* 4 ratios for 10 classes */
  assert_non_null(strstr(ds_last_error(), "4 imbalance ratios for 10 classes"));
  ds_dataset_free(d);
}

/* Imbalance keeps whole samples in their original order: each survivor equals some original
 * sample, and survivors appear in increasing original position. */
static void test_imbalance_keeps_samples(void **state) {
  (void)state;
  ds_dataset *d = blobs(3, 50), *orig;
  int64_t all[150];
  for (int i = 0; i < 150; i++)
    all[i] = i;
  orig = ds_dataset_subset(d, all, 150, "copy");
  assert_non_null(orig);
  assert_int_equal(ds_dataset_imbalance(d, (double[]){0.5, 0.0, 0.2}, 3, 9), DS_OK);
  assert_int_equal(d->n, 25 + 0 + 10);
  int64_t j = 0;
  for (int64_t i = 0; i < d->n; i++) {
    while (j < 150 && memcmp(orig->f32 + 2 * j, d->f32 + 2 * i, 2 * sizeof(float)))
      j++;
    assert_true(j < 150);
    assert_int_equal(orig->labels[j], d->labels[i]);
    assert_true(d->labels[i] != 1);
    j++;
  }
  ds_dataset_free(orig);
  ds_dataset_free(d);
}

static void test_split(void **state) {
  (void)state;
  ds_dataset *a, *b, *d = blobs(7, 13); /* 91 samples, 13 per class */
  ds_dataset_add_label_noise(d, DS_NOISE_SYMMETRIC, 0.5, 3);
  assert_int_equal(ds_dataset_split(d, 0.2, 4, &a, &b), DS_OK);
  assert_int_equal(b->n, 18); /* round(0.2 * 91) */
  assert_int_equal(a->n, 73);
  int64_t cb[7];
  for (int k = 0; k < 7; k++)
    cb[k] = 0;
  for (int64_t i = 0; i < b->n; i++)
    cb[b->clean_labels[i]]++; /* strata are the clean classes */
  for (int k = 0; k < 7; k++)
    assert_true(cb[k] == 2 || cb[k] == 3);
  assert_int_equal(ds_dataset_noisy_count(a) + ds_dataset_noisy_count(b),
                   ds_dataset_noisy_count(d));
  assert_string_equal(b->name, "blobs/train/held");
  /* same seed, same split */
  ds_dataset *a2, *b2;
  ds_dataset_split(d, 0.2, 4, &a2, &b2);
  assert_memory_equal(b->f32, b2->f32, (size_t)b->n * 2 * sizeof(float));
  ds_dataset_free(a2);
  ds_dataset_free(b2);
  ds_dataset_split(d, 0.2, 5, &a2, &b2);
  assert_memory_not_equal(b->f32, b2->f32, (size_t)b->n * 2 * sizeof(float));
  ds_dataset_free(a2);
  ds_dataset_free(b2);
  assert_int_equal(ds_dataset_split(d, 0.001, 4, &a2, &b2), DS_EINVAL); /* empty held-out part */
  assert_non_null(strstr(ds_last_error(), d->name));
  assert_int_equal(ds_dataset_split(d, 1.0, 4, &a2, &b2), DS_EINVAL);
  assert_null(a2);
  ds_dataset_free(a);
  ds_dataset_free(b);
  ds_dataset_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_symmetric_noise),
      cmocka_unit_test(test_pair_and_uniform_noise),
      cmocka_unit_test(test_noise_errors),
      cmocka_unit_test(test_imbalance),
      cmocka_unit_test(test_imbalance_keeps_samples),
      cmocka_unit_test(test_split),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
