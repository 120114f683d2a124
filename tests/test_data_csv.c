/* The csv dataset: parsing (header detection, label column, regression, separate test file,
 * gzipped input, a named group column) and bad input (ragged rows, non-numeric or non-finite
 * fields, labels that are not class indices, missing or truncated files), each error naming the
 * file and place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "descent/data.h"
#include "testutil.h"

static const char *dir; /* this program's temporary directory */

static int setup(void **state) {
  (void)state;
  int st = tu_tmpdir_make("csv");
  dir = tu_tmpdir();
  return st;
}

static int teardown(void **state) {
  (void)state;
  return tu_tmpdir_remove();
}

static const char *write_file(const char *name, const char *text) {
  static char p[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
  FILE *f = fopen(p[k], "wb");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return p[k];
}

static void expect_error(ds_status got, ds_status code, const char *needle) {
  assert_int_equal(got, code);
  if (!strstr(ds_last_error(), needle))
    fail_msg("message '%s' does not name '%s'", ds_last_error(), needle);
}

/* 10 rows "a,b,label" with label = i % 3 and a = i, b = -i / 2. */
static const char *TEN_ROWS = "x1, x2 ,y\n"
                              "0,0,0\n1,-0.5,1\n2,-1,2\n3,-1.5,0\n4,-2,1\r\n"
                              "5,-2.5,2\n6,-3,0\n7,-3.5,1\n8,-4,2\n9,-4.5e0,0\n\n";

static void test_classification_with_header(void **state) {
  (void)state;
  ds_data_options o = ds_data_options_default();
  o.path = write_file("ten.csv", TEN_ROWS);
  o.test_fraction = 0.3;
  ds_dataset *tr, *te;
  ds_status st = ds_dataset_load("csv", &o, &tr, &te);
  if (st) fail_msg("%s", ds_last_error());
  assert_int_equal(tr->n + te->n, 10);
  assert_int_equal(te->n, 3);
  assert_int_equal(tr->n_classes, 3);
  assert_int_equal(tr->sample_shape.rank, 1);
  assert_int_equal(tr->sample_shape.dim[0], 2);
  assert_int_equal(tr->channels, 2);
  assert_non_null(tr->f32);
  assert_null(tr->targets);
  /* every row is where the split put it, intact: b = -a / 2, label = a mod 3; order kept */
  const ds_dataset *sp[2] = {tr, te};
  int seen = 0;
  for (int s = 0; s < 2; s++)
    for (int64_t i = 0; i < sp[s]->n; i++) {
      float a = sp[s]->f32[2 * i], b = sp[s]->f32[2 * i + 1];
      assert_true(b == -a / 2.0f);
      assert_int_equal(sp[s]->labels[i], (int)a % 3);
      if (i) assert_true(a > sp[s]->f32[2 * i - 2]);
      seen |= 1 << (int)a;
    }
  assert_int_equal(seen, 0x3ff);
  /* stratified: the 3 held-out rows are one per class */
  int64_t c[3];
  ds_dataset_class_counts(te, c);
  assert_true(c[0] == 1 && c[1] == 1 && c[2] == 1);
  ds_dataset_free(tr);
  ds_dataset_free(te);
}

static void test_label_column_regression_and_test_file(void **state) {
  (void)state;
  ds_data_options o = ds_data_options_default();
  o.path = write_file("reg.csv", "1.5;10;2\n2.5;20;3\n-1;30;4\n0;40;5\n");
  o.test_path = write_file("reg_test.csv", "7;50;6\n");
  o.delimiter = ';';
  o.label_column = 0;
  o.regression = true;
  o.header = 0;
  ds_dataset *tr, *te;
  ds_status st = ds_dataset_load("csv", &o, &tr, &te);
  if (st) fail_msg("%s", ds_last_error());
  assert_int_equal(tr->n, 4);
  assert_int_equal(te->n, 1);
  assert_null(tr->labels);
  assert_int_equal(tr->n_classes, 0);
  assert_true(tr->targets[0] == 1.5f && tr->targets[2] == -1.0f && te->targets[0] == 7.0f);
  assert_true(tr->f32[0] == 10.0f && tr->f32[1] == 2.0f && te->f32[1] == 6.0f);
  float x[8], y[4];
  assert_int_equal(ds_dataset_get(tr, (int64_t[]){3, 1}, 2, x, y), DS_OK);
  assert_true(y[0] == 0.0f && y[1] == 2.5f && x[0] == 40.0f && x[3] == 3.0f);
  ds_dataset_free(tr);
  ds_dataset_free(te);
}

static void test_gzipped_csv(void **state) {
  (void)state;
  char path[256];
  snprintf(path, sizeof path, "%s/t.csv.gz", dir);
  gzFile f = gzopen(path, "wb");
  for (int i = 0; i < 200; i++)
    gzprintf(f, "%d,%d,%d\n", i, 2 * i, i % 2);
  gzclose(f);
  ds_data_options o = ds_data_options_default();
  o.path = path;
  ds_dataset *tr, *te;
  assert_int_equal(ds_dataset_load("csv", &o, &tr, &te), DS_OK);
  assert_int_equal(tr->n, 160);
  assert_int_equal(te->n, 40);
  ds_dataset_free(tr);
  ds_dataset_free(te);
  /* the same file cut short: an error, not 150 rows */
  FILE *g = fopen(path, "rb");
  char buf[4096];
  size_t n = fread(buf, 1, sizeof buf, g);
  fclose(g);
  g = fopen(path, "wb");
  fwrite(buf, 1, n - 12, g);
  fclose(g);
  ds_dataset *a = (ds_dataset *)1, *b = (ds_dataset *)1;
  expect_error(ds_dataset_load("csv", &o, &a, &b), DS_EFORMAT, path);
  assert_null(a);
  assert_null(b);
}

static void test_bad_csv(void **state) {
  (void)state;
  ds_data_options o = ds_data_options_default();
  ds_dataset *tr, *te;
  o.path = write_file("ragged.csv", "1,2,0\n3,4,1\n5,6\n7,8,1\n");
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EFORMAT, o.path);
  assert_non_null(strstr(ds_last_error(), "line 3"));
  assert_non_null(strstr(ds_last_error(), "ragged"));
  o.path = write_file("ragged2.csv", "1,2,0\n3,4,1,9\n");
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EFORMAT, "line 2: 4 fields, expected 3");
  o.path = write_file("text.csv", "a,b,y\n1,2,0\n3,abc,1\n");
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EFORMAT, o.path);
  assert_non_null(strstr(ds_last_error(), "line 3, column 2"));
  assert_non_null(strstr(ds_last_error(), "'abc'"));
  /* beyond float32 (they would become inf and NaN losses) */
  const char *huge[] = {"1e39", "1e300", "-1e39", "3.5e38", "1e400"};
  for (int i = 0; i < 5; i++) {
    char text[64];
    snprintf(text, sizeof text, "1,2,0\n3,%s,1\n", huge[i]);
    o.path = write_file("huge.csv", text);
    expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EFORMAT, "line 2, column 2");
    assert_non_null(strstr(ds_last_error(), "outside the float32 range"));
    assert_non_null(strstr(ds_last_error(), huge[i]));
    assert_non_null(strstr(ds_last_error(), "huge.csv"));
  }
  /* the largest float32 and values that round to zero are numbers */
  o.path = write_file("edge.csv", "3.4e38,1e-50,0\n-3.4e38,2,1\n1,2,0\n3,4,1\n5,6,0\n");
  assert_int_equal(ds_dataset_load("csv", &o, &tr, &te), DS_OK);
  ds_dataset_free(tr);
  ds_dataset_free(te);
  /* a number longer than the parse buffer says so */
  char longnum[200] = "1,2,0\n1,0.";
  memset(longnum + strlen(longnum), '1', 100);
  strcat(longnum, ",1\n");
  o.path = write_file("long.csv", longnum);
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EFORMAT,
               "line 2, column 2: number too long");
  assert_null(strstr(ds_last_error(), "not a finite number"));
  assert_true(strlen(ds_last_error()) < 300);
  /* "inf" is refused as not finite; binary bytes are quoted escaped */
  o.path = write_file("inf.csv", "1,2,0\n1,inf,1\n");
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EFORMAT, "'inf' is not a finite number");
  o.path = write_file("bin.csv", "1,2,0\n1,\x01\x7f,1\n");
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EFORMAT, "'\\x01\\x7f'");
  o.path = write_file("empty-field.csv", "1,2,0\n1,,1\n");
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EFORMAT, "line 2, column 2");
  o.path = write_file("nan.csv", "1,2,0\n1,nan,1\n4,5,0\n");
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EFORMAT, "'nan'");
  o.path = write_file("half.csv", "1,2,0\n1,2,0.5\n4,5,0\n");
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EFORMAT, "0.5 is not a class index");
  assert_non_null(strstr(ds_last_error(), o.path));
  o.path = write_file("neg.csv", "1,2,0\n1,2,-1\n4,5,0\n");
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EFORMAT, "-1 is not a class index");
  o.path = write_file("header-only.csv", "a,b,c\n");
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EFORMAT, "no data rows");
  o.path = write_file("ok.csv", "1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,9,0\n");
  o.label_column = 3;
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EINVAL, "label column 3");
  o.label_column = -1;
  o.test_path = write_file("narrow.csv", "1,0\n");
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EFORMAT, o.test_path);
  o.test_path = NULL;
  o.path = "/nonexistent/file.csv";
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EIO, "/nonexistent/file.csv");
  o.path = NULL;
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EINVAL, "csv");
  o.path = write_file("ok2.csv", "1,2,0\n3,4,1\n");
  o.test_fraction = 1.5;
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EINVAL, "test_fraction");
  o = ds_data_options_default();
  o.path = write_file("digits-bad.csv", "1,2,3\n");
  expect_error(ds_dataset_load("digits", &o, &tr, &te), DS_EFORMAT, o.path);
}

/* A group column named in the header: taken out of the features into groups; text values are
 * numbered in sorted order over train and test files together, whole numbers are the ids; the
 * groups follow the samples through splits, subsets and imbalance; errors name the column. */
static void test_group_column(void **state) {
  (void)state;
  ds_data_options o = ds_data_options_default();
  o.path = write_file("g_train.csv", "x1,region,x2,y\n"
                                     "0,north,1,0\n1, south ,2,1\n2,east,3,0\n3,north,4,1\n");
  o.test_path = write_file("g_test.csv", "x1,region,x2,y\n5,west,6,1\n6,east,7,0\n");
  o.group_column = "region";
  ds_dataset *tr, *te;
  assert_int_equal(ds_dataset_load("csv", &o, &tr, &te), DS_OK);
  assert_int_equal(tr->sample_numel, 2); /* x1, x2 */
  assert_true(tr->f32[2] == 1.0f && tr->f32[3] == 2.0f);
  assert_non_null(tr->groups);
  /* sorted over both files: east 0, north 1, south 2, west 3 */
  const int32_t want[4] = {1, 2, 0, 1};
  assert_memory_equal(tr->groups, want, sizeof want);
  assert_int_equal(te->groups[0], 3);
  assert_int_equal(te->groups[1], 0);
  assert_int_equal(tr->n_groups, 3);
  assert_int_equal(te->n_groups, 4);
  int64_t pick[2] = {3, 1};
  ds_dataset *sub = ds_dataset_subset(tr, pick, 2, NULL);
  assert_int_equal(sub->groups[0], 1);
  assert_int_equal(sub->groups[1], 2);
  ds_dataset_free(sub);
  ds_dataset_free(tr);
  ds_dataset_free(te);
  /* whole numbers are the ids themselves; a split keeps each sample's group */
  o.test_path = NULL;
  o.test_fraction = 0.5;
  o.path = write_file("g_num.csv", "a,g,y\n0,7,0\n1,7,1\n2,3,0\n3,3,1\n");
  o.group_column = "g";
  assert_int_equal(ds_dataset_load("csv", &o, &tr, &te), DS_OK);
  for (int64_t i = 0; i < tr->n; i++)
    assert_int_equal(tr->groups[i], tr->f32[i] < 1.5f ? 7 : 3);
  assert_int_equal(tr->n_groups, 8);
  ds_dataset_free(tr);
  ds_dataset_free(te);
  /* errors */
  o.group_column = "regoin";
  o.path = write_file("g_bad.csv", "x1,region,y\n0,a,0\n1,b,1\n");
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EINVAL, "no column named 'regoin'");
  assert_non_null(strstr(ds_last_error(), "columns: x1, region, y"));
  o.group_column = "y";
  o.path = write_file("g_bad1.csv", "x1,g,y\n0,1,0\n1,2,1\n");
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EINVAL, "is the label column");
  o.group_column = "region";
  o.path = write_file("g_bad.csv", "x1,region,y\n0,a,0\n1,b,1\n");
  o.header = 0;
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EINVAL, "needs a header row");
  o.header = -1;
  o.path = write_file("g_bad2.csv", "x1,region,y\n0,a,0\nz,b,1\n");
  expect_error(ds_dataset_load("csv", &o, &tr, &te), DS_EFORMAT, "'z' is not a finite number");
  expect_error(ds_dataset_load("digits", &o, &tr, &te), DS_EINVAL, "needs a csv dataset");
  /* ds_dataset_set_groups checks the range and leaves d unchanged on error */
  ds_dataset *d = ds_dataset_new("g", 2, ds_shape1(1), false, 2);
  assert_int_equal(ds_dataset_set_groups(d, (const int32_t[]){0, 5}), DS_OK);
  assert_int_equal(d->n_groups, 6);
  expect_error(ds_dataset_set_groups(d, (const int32_t[]){0, DS_MAX_GROUPS}), DS_EINVAL,
               "sample 1");
  assert_int_equal(d->groups[1], 5);
  assert_int_equal(ds_dataset_set_groups(d, NULL), DS_OK);
  assert_null(d->groups);
  assert_int_equal(d->n_groups, 0);
  ds_dataset_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classification_with_header),
      cmocka_unit_test(test_label_column_regression_and_test_file),
      cmocka_unit_test(test_gzipped_csv),
      cmocka_unit_test(test_bad_csv),
      cmocka_unit_test(test_group_column),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
