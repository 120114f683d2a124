/* The csv dataset: parsing (header detection, label column, regression, separate test file,
 * gzipped input) and bad input (ragged rows, non-numeric or non-finite fields, labels that are
 * not class indices, missing or truncated files), each error naming the file and place. */
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classification_with_header),
      cmocka_unit_test(test_label_column_regression_and_test_file),
      cmocka_unit_test(test_gzipped_csv),
      cmocka_unit_test(test_bad_csv),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
