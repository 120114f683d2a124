/* The real datasets on this machine: Fashion-MNIST (gzipped IDX) and scikit-learn's digits
 * (gzipped CSV), checked against values computed independently by fixtures/gen_data.py. Also
 * times the gzip load of Fashion-MNIST (must take well under a second). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "descent/data.h"

static cJSON *ref;

static int setup(void **state) {
  (void)state;
  FILE *f = fopen("fixtures/data_reference.json", "rb");
  if (!f) return -1;
  static char text[1 << 16];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  ref = cJSON_Parse(text);
  return ref ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  cJSON_Delete(ref);
  return 0;
}

static cJSON *at(cJSON *o, const char *path) { /* "a.b.c" */
  char buf[128];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *k = strtok(buf, "."); k && o; k = strtok(NULL, "."))
    o = cJSON_GetObjectItem(o, k);
  if (!o) fail_msg("fixture key '%s' missing", path);
  return o;
}

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void check_split(const ds_dataset *d, cJSON *r) {
  assert_int_equal(d->n, (int64_t)at(r, "n")->valuedouble);
  assert_int_equal(d->sample_shape.rank, 3);
  assert_int_equal(d->sample_shape.dim[0], 1);
  assert_int_equal(d->sample_shape.dim[1], 28);
  assert_int_equal(d->sample_shape.dim[2], 28);
  assert_int_equal(d->n_classes, 10);
  assert_non_null(d->u8);
  assert_null(d->f32);
  int64_t counts[10];
  assert_int_equal(ds_dataset_class_counts(d, counts), 10);
  for (int c = 0; c < 10; c++)
    assert_int_equal(counts[c], (int64_t)cJSON_GetArrayItem(at(r, "label_hist"), c)->valuedouble);
  cJSON *first = at(r, "first_labels");
  for (int i = 0; i < cJSON_GetArraySize(first); i++)
    assert_int_equal(d->labels[i], (int)cJSON_GetArrayItem(first, i)->valuedouble);
  uint64_t sum = 0, sum0 = 0;
  uint8_t lo = 255, hi = 0;
  for (int64_t i = 0; i < d->n * 784; i++) {
    uint8_t v = d->u8[i];
    sum += v;
    if (i < 784) sum0 += v;
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  assert_int_equal(lo, 0);
  assert_int_equal(hi, 255);
  assert_true(sum == (uint64_t)at(r, "pixel_sum")->valuedouble); /* exact in a double (< 2^53) */
  assert_int_equal(sum0, (uint64_t)at(r, "image0_sum")->valuedouble);
  cJSON *row = at(r, "image0_row14");
  for (int x = 0; x < 28; x++)
    assert_int_equal(d->u8[14 * 28 + x], (int)cJSON_GetArrayItem(row, x)->valuedouble);
}

/* Machines without the dataset skip (this project's machines all have it). */
static void need(const char *path) {
  if (access(path, R_OK) != 0) {
    printf("skipped: %s not present\n", path);
    skip();
  }
}

static void test_fashion_mnist(void **state) {
  (void)state;
  need("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
  ds_dataset *tr, *te;
  double t0 = seconds();
  ds_status st = ds_dataset_load("fashion-mnist", NULL, &tr, &te);
  double dt = seconds() - t0;
  if (st) fail_msg("load failed: %s", ds_last_error());
  /* for information only: speed is measured by the benches, never asserted in a test */
  printf("fashion-mnist: 70000 images read and inflated in %.3f s\n", dt);
  check_split(tr, at(ref, "fashion_mnist.train"));
  check_split(te, at(ref, "fashion_mnist.test"));
  assert_string_equal(tr->name, "fashion-mnist/train");
  assert_string_equal(te->name, "fashion-mnist/test");
  assert_true(tr->u8_max == 255.0f);

  /* per-channel statistics: integer sums are exact, so only float rounding of the result differs */
  assert_int_equal(ds_dataset_compute_norm(tr), DS_OK);
  double m = at(ref, "fashion_mnist.train.mean")->valuedouble;
  double s = at(ref, "fashion_mnist.train.std")->valuedouble;
  assert_true(fabs(tr->mean[0] - m) <= 1e-7 + 1e-6 * m); /* float32 rounding of a double result */
  assert_true(fabs(tr->std[0] - s) <= 1e-7 + 1e-6 * s);
  assert_int_equal(ds_dataset_copy_norm(te, tr), DS_OK);
  assert_true(te->mean[0] == tr->mean[0] && te->std[0] == tr->std[0]);

  /* one epoch of conversion: mean ~0 and std ~1 over the training set */
  ds_loader_options lo = ds_loader_options_default();
  lo.batch = 1000;
  lo.seed = 3;
  ds_loader *l = ds_loader_new(tr, &lo);
  assert_non_null(l);
  float *x = malloc(1000 * 784 * sizeof(float)), y[1000];
  double sx = 0, sxx = 0, sy = 0;
  int64_t b, total = 0;
  t0 = seconds();
  while ((b = ds_loader_next(l, x, y)) > 0) {
    for (int64_t i = 0; i < b * 784; i++)
      sx += x[i], sxx += (double)x[i] * x[i];
    for (int64_t i = 0; i < b; i++)
      sy += y[i];
    total += b;
  }
  printf("fashion-mnist: one shuffled epoch converted (+ summed) in %.3f s\n", seconds() - t0);
  assert_int_equal(total, 60000);
  double cnt = 60000.0 * 784.0, mean = sx / cnt, var = sxx / cnt - mean * mean;
  assert_true(fabs(mean) < 1e-4);              /* float32 products summed in double: ~1e-6 */
  assert_true(fabs(var - 1.0) < 1e-4);         /* same */
  assert_true(fabs(sy - 6000.0 * 45.0) < 0.5); /* every label once: 6000 * (0 + ... + 9) */
  free(x);
  ds_loader_free(l);
  ds_dataset_free(tr);
  ds_dataset_free(te);
}

static void test_digits(void **state) {
  (void)state;
  need("/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz");
  ds_data_options o = ds_data_options_default();
  o.test_fraction = 0.25;
  o.seed = 11;
  ds_dataset *tr, *te;
  ds_status st = ds_dataset_load("digits", &o, &tr, &te);
  if (st) fail_msg("load failed: %s", ds_last_error());
  cJSON *r = at(ref, "digits");
  int64_t n = (int64_t)at(r, "n")->valuedouble;
  assert_int_equal(tr->n + te->n, n);
  assert_int_equal(te->n, (int64_t)llround(0.25 * (double)n)); /* exact held-out total */
  assert_int_equal(tr->sample_shape.rank, 3);
  assert_int_equal(tr->sample_shape.dim[1], 8);
  assert_true(tr->u8_max == 16.0f);
  int64_t a[10], b[10];
  ds_dataset_class_counts(tr, a);
  ds_dataset_class_counts(te, b);
  uint64_t sum = 0;
  for (int64_t i = 0; i < tr->n * 64; i++)
    sum += tr->u8[i];
  for (int64_t i = 0; i < te->n * 64; i++)
    sum += te->u8[i];
  assert_int_equal(sum, (uint64_t)at(r, "pixel_sum")->valuedouble);
  for (int c = 0; c < 10; c++) {
    int64_t nc = (int64_t)cJSON_GetArrayItem(at(r, "label_hist"), c)->valuedouble;
    assert_int_equal(a[c] + b[c], nc);
    assert_true(llabs(b[c] - (int64_t)llround(0.25 * (double)nc)) <= 1); /* stratified */
  }
  /* the split keeps file order: row 0 of the file is the first sample of one of the splits */
  cJSON *row0 = at(r, "row0");
  int in_tr = 1, in_te = 1;
  for (int j = 0; j < 64; j++) {
    int v = (int)cJSON_GetArrayItem(row0, j)->valuedouble;
    in_tr &= tr->u8[j] == v;
    in_te &= te->u8[j] == v;
  }
  assert_true(in_tr || in_te);
  /* pixels convert to [0, 1] without normalisation */
  float x[64];
  assert_int_equal(ds_dataset_get(tr, (int64_t[]){0}, 1, x, NULL), DS_OK);
  for (int j = 0; j < 64; j++)
    assert_true(x[j] == (float)tr->u8[j] / 16.0f);
  ds_dataset_free(tr);
  ds_dataset_free(te);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_fashion_mnist),
                                     cmocka_unit_test(test_digits)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
