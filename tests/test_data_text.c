/* The text dataset: vocabulary = the corpus's distinct bytes in order, windows of context + 1
 * indices every context characters, a contiguous test split at the end, files and directories
 * (without fortune's .dat indices) in the comma-separated path, and errors naming the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "testutil.h"

static void write_file(const char *name, const char *text, char *path, size_t n) {
  snprintf(path, n, "%s/%s", tu_tmpdir(), name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_windows_and_split(void **s) {
  (void)s;
  char a[512], b[512], paths[1100];
  write_file("a", "abcabcabcabcabcabcab", a, sizeof a); /* 20 chars */
  write_file("b", "cbacbacbac", b, sizeof b);           /* 10 chars: corpus 30 */
  snprintf(paths, sizeof paths, "%s,%s", a, b);
  uint8_t chars[256];
  int n = 0;
  assert_int_equal(ds_text_vocab(paths, chars, &n), DS_OK);
  assert_int_equal(n, 3);
  assert_memory_equal(chars, "abc", 3);
  ds_data_options o = ds_data_options_default();
  o.path = paths;
  o.context = 4;
  o.test_fraction = 0.4; /* test: the last 12 characters, train: the first 18 */
  ds_dataset *tr, *te;
  assert_int_equal(ds_dataset_load("text", &o, &tr, &te), DS_OK);
  assert_int_equal(tr->n_classes, 3);
  assert_int_equal(tr->sample_numel, 5);
  assert_int_equal(tr->n, (18 - 1) / 4);
  assert_int_equal(te->n, (12 - 1) / 4);
  float x[5];
  int64_t idx = 1; /* train window 1 starts at character 4: "bcabc" */
  assert_int_equal(ds_dataset_get(tr, &idx, 1, x, NULL), DS_OK);
  const float want[5] = {1, 2, 0, 1, 2};
  assert_memory_equal(x, want, sizeof want);
  idx = 0; /* test starts at character 18: "abcbacbac..." -> a b c b a */
  assert_int_equal(ds_dataset_get(te, &idx, 1, x, NULL), DS_OK);
  const float want_t[5] = {0, 1, 2, 1, 0};
  assert_memory_equal(x, want_t, sizeof want_t);
  ds_dataset_free(tr);
  ds_dataset_free(te);
}

static void test_directory_and_errors(void **s) {
  (void)s;
  char dir[512], p[600];
  snprintf(dir, sizeof dir, "%s/corpus", tu_tmpdir());
  assert_int_equal(mkdir(dir, 0700), 0);
  write_file("corpus/z", "zz", p, sizeof p);
  write_file("corpus/y", "yy", p, sizeof p);
  write_file("corpus/y.dat", "\x01\x02", p, sizeof p);
  uint8_t chars[256];
  int n = 0;
  assert_int_equal(ds_text_vocab(dir, chars, &n), DS_OK);
  assert_int_equal(n, 2); /* .dat skipped */
  assert_memory_equal(chars, "yz", 2);
  ds_data_options o = ds_data_options_default();
  o.path = dir;
  ds_dataset *tr, *te;
  assert_int_equal(ds_dataset_load("text", &o, &tr, &te), DS_EINVAL); /* 4 chars < context */
  assert_non_null(strstr(ds_last_error(), "too small"));
  assert_null(tr);
  o.path = "/nonexistent/corpus.txt";
  assert_int_equal(ds_dataset_load("text", &o, &tr, &te), DS_EIO);
  assert_non_null(strstr(ds_last_error(), "/nonexistent/corpus.txt"));
}

static int setup(void **s) {
  (void)s;
  return tu_tmpdir_make("text");
}
static int teardown(void **s) {
  (void)s;
  return tu_tmpdir_remove();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_windows_and_split),
      cmocka_unit_test(test_directory_and_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
