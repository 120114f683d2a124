/* The IDX reader and the MNIST-layout loader, on small files written here: well-formed ones, and
 * every kind of bad input (missing, truncated or corrupt gzip, wrong magic, sizes that disagree
 * with the header or with each other). Each error test checks the code and that the message
 * names the file at fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "descent/data.h"
#include "testutil.h"

static const char *dir; /* this program's temporary directory */

static int setup(void **state) {
  (void)state;
  int st = tu_tmpdir_make("idx");
  dir = tu_tmpdir();
  return st;
}

static int teardown(void **state) {
  (void)state;
  return tu_tmpdir_remove();
}

static const char *path_of(const char *name) {
  static char p[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
  return p[k];
}

/* An IDX image: magic, dims, then bytes = (i * 7 + 3) mod 256 (or the given labels). */
static size_t make_idx(uint8_t *buf, int type, int rank, const uint32_t *dims,
                       const uint8_t *data) {
  size_t n = 0, size = 1;
  buf[n++] = 0, buf[n++] = 0, buf[n++] = (uint8_t)type, buf[n++] = (uint8_t)rank;
  for (int i = 0; i < rank; i++) {
    buf[n++] = (uint8_t)(dims[i] >> 24), buf[n++] = (uint8_t)(dims[i] >> 16);
    buf[n++] = (uint8_t)(dims[i] >> 8), buf[n++] = (uint8_t)dims[i];
    size *= dims[i];
  }
  for (size_t i = 0; i < size; i++)
    buf[n++] = data ? data[i] : (uint8_t)(i * 7 + 3);
  return n;
}

static void write_plain(const char *path, const void *buf, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(buf, 1, n, f), n);
  fclose(f);
}

static void write_gz(const char *path, const void *buf, size_t n) {
  gzFile f = gzopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(gzwrite(f, buf, (unsigned)n), (int)n);
  assert_int_equal(gzclose(f), Z_OK);
}

static long file_size(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return (long)st.st_size;
}

static void expect_error(ds_status got, ds_status code, const char *needle) {
  assert_int_equal(got, code);
  if (!strstr(ds_last_error(), needle))
    fail_msg("message '%s' does not name '%s'", ds_last_error(), needle);
}

static uint8_t buf[1 << 16];

static void test_reads_gzip_and_plain(void **state) {
  (void)state;
  uint32_t dims[3] = {5, 4, 3};
  size_t n = make_idx(buf, 0x08, 3, dims, NULL);
  const char *gz = path_of("a.idx.gz"), *plain = path_of("a.idx");
  write_gz(gz, buf, n);
  write_plain(plain, buf, n);
  const char *paths[2] = {gz, plain};
  for (int k = 0; k < 2; k++) {
    ds_idx x;
    assert_int_equal(ds_idx_read(paths[k], &x), DS_OK);
    assert_int_equal(x.rank, 3);
    assert_int_equal(x.dim[0], 5);
    assert_int_equal(x.dim[1], 4);
    assert_int_equal(x.dim[2], 3);
    assert_int_equal(x.size, 60);
    for (int i = 0; i < 60; i++)
      assert_int_equal(x.data[i], (uint8_t)(i * 7 + 3));
    ds_idx_free(&x);
    assert_null(x.data);
  }
}

static void test_missing_file(void **state) {
  (void)state;
  ds_idx x;
  const char *p = path_of("does-not-exist.gz");
  expect_error(ds_idx_read(p, &x), DS_EIO, p);
  assert_null(x.data);
}

/* A gzip file cut at several points: in the gzip header, in the deflate data, in the trailer. */
static void test_truncated_gzip(void **state) {
  (void)state;
  uint32_t dims[3] = {50, 28, 28}; /* ~39 KB of pseudo-random bytes */
  uint8_t *data = malloc(50 * 28 * 28);
  uint32_t s = 12345;
  for (int i = 0; i < 50 * 28 * 28; i++)
    s = s * 1103515245u + 12345u, data[i] = (uint8_t)(s >> 16);
  size_t n = make_idx(buf, 0x08, 3, dims, data);
  free(data);
  const char *full = path_of("full.gz");
  write_gz(full, buf, n);
  long size = file_size(full);
  FILE *f = fopen(full, "rb");
  uint8_t *gz = malloc((size_t)size);
  assert_int_equal(fread(gz, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  long cuts[] = {5, 30, size / 2, size - 9, size - 4, size - 1};
  for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
    const char *p = path_of("cut.gz");
    write_plain(p, gz, (size_t)cuts[k]);
    ds_idx x;
    ds_status st = ds_idx_read(p, &x);
    if (st != DS_EFORMAT)
      fail_msg("cut at %ld of %ld: status %d (%s)", cuts[k], size, st, ds_last_error());
    if (!strstr(ds_last_error(), p))
      fail_msg("message '%s' does not name the file", ds_last_error());
    if (cuts[k] >= size - 8 &&
        !strstr(ds_last_error(), "truncated gzip")) /* data complete, trailer cut */
      fail_msg("cut at %ld: '%s' does not say the gzip stream is truncated", cuts[k],
               ds_last_error());
    assert_null(x.data);
  }
  free(gz);
}

/* Bit flips in the deflate data or the CRC must not pass silently. */
static void test_corrupt_gzip(void **state) {
  (void)state;
  uint32_t dims[1] = {3000};
  size_t n = make_idx(buf, 0x08, 1, dims, NULL);
  const char *full = path_of("ok.gz");
  write_gz(full, buf, n);
  long size = file_size(full);
  FILE *f = fopen(full, "rb");
  uint8_t *gz = malloc((size_t)size);
  assert_int_equal(fread(gz, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  long where[] = {size / 2, size - 6 /* CRC-32 */, size - 2 /* ISIZE */};
  for (size_t k = 0; k < sizeof where / sizeof *where; k++) {
    uint8_t *bad = malloc((size_t)size);
    memcpy(bad, gz, (size_t)size);
    bad[where[k]] ^= 0x5a;
    const char *p = path_of("flip.gz");
    write_plain(p, bad, (size_t)size);
    free(bad);
    ds_idx x;
    ds_status st = ds_idx_read(p, &x);
    if (st != DS_EFORMAT)
      fail_msg("flip at %ld of %ld: status %d (%s)", where[k], size, st, ds_last_error());
    if (!strstr(ds_last_error(), p))
      fail_msg("message '%s' does not name the file", ds_last_error());
  }
  /* a file named .gz that is not gzip at all */
  const char *p = path_of("plain-named.gz");
  write_plain(p, buf, n);
  ds_idx x;
  expect_error(ds_idx_read(p, &x), DS_EFORMAT, p);
  assert_non_null(strstr(ds_last_error(), "gzip"));
  free(gz);
}

static void test_wrong_magic(void **state) {
  (void)state;
  uint32_t dims[1] = {10};
  size_t n = make_idx(buf, 0x08, 1, dims, NULL);
  ds_idx x;
  buf[0] = 0x1f; /* first byte must be zero */
  const char *p = path_of("magic1.gz");
  write_gz(p, buf, n);
  expect_error(ds_idx_read(p, &x), DS_EFORMAT, p);
  assert_non_null(strstr(ds_last_error(), "magic"));
  buf[0] = 0, buf[3] = 0; /* rank 0 */
  p = path_of("magic2.gz");
  write_gz(p, buf, n);
  expect_error(ds_idx_read(p, &x), DS_EFORMAT, p);
  buf[3] = 1, buf[2] = 0x0D; /* float data: valid IDX, not supported */
  p = path_of("float.gz");
  write_gz(p, buf, n);
  expect_error(ds_idx_read(p, &x), DS_EUNSUPPORTED, p);
  p = path_of("short.gz");
  write_gz(p, buf, 3);
  expect_error(ds_idx_read(p, &x), DS_EFORMAT, p);
  p = path_of("empty");
  write_plain(p, buf, 0);
  expect_error(ds_idx_read(p, &x), DS_EFORMAT, p);
}

static void test_sizes_disagree_with_header(void **state) {
  (void)state;
  uint32_t dims[3] = {6, 5, 4};
  size_t n = make_idx(buf, 0x08, 3, dims, NULL);
  ds_idx x;
  const char *p = path_of("short-data.gz");
  write_gz(p, buf, n - 1); /* one byte missing */
  expect_error(ds_idx_read(p, &x), DS_EFORMAT, p);
  assert_non_null(strstr(ds_last_error(), "(6, 5, 4)"));
  buf[n] = 7; /* one byte too many */
  p = path_of("long-data.gz");
  write_gz(p, buf, n + 1);
  expect_error(ds_idx_read(p, &x), DS_EFORMAT, p);
  /* a header claiming ~2^40 bytes in a tiny file: an error, not a huge allocation */
  uint32_t huge[3] = {0x7fffffff, 0x7fffffff, 0x100};
  n = make_idx(buf, 0x08, 3, (uint32_t[3]){1, 1, 1}, NULL);
  for (int i = 0; i < 3; i++) {
    buf[4 + 4 * i] = (uint8_t)(huge[i] >> 24), buf[5 + 4 * i] = (uint8_t)(huge[i] >> 16);
    buf[6 + 4 * i] = (uint8_t)(huge[i] >> 8), buf[7 + 4 * i] = (uint8_t)huge[i];
  }
  p = path_of("huge.gz");
  write_gz(p, buf, n);
  expect_error(ds_idx_read(p, &x), DS_EFORMAT, p);
  /* big but possible header, tiny file: the buffer only grows with data actually read */
  uint32_t big[3] = {100000, 100, 100}; /* 1 GB claimed */
  n = make_idx(buf, 0x08, 3, (uint32_t[3]){1, 1, 1}, NULL);
  for (int i = 0; i < 3; i++) {
    buf[4 + 4 * i] = (uint8_t)(big[i] >> 24), buf[5 + 4 * i] = (uint8_t)(big[i] >> 16);
    buf[6 + 4 * i] = (uint8_t)(big[i] >> 8), buf[7 + 4 * i] = (uint8_t)big[i];
  }
  p = path_of("big.gz");
  write_gz(p, buf, n);
  expect_error(ds_idx_read(p, &x), DS_EFORMAT, p);
}

/* ---- the MNIST-layout loader over a directory ---- */

static void write_split(const char *split, uint32_t n_img, uint32_t n_lab, int img_rank,
                        uint8_t bad_label) {
  char name[128];
  uint32_t dims[3] = {n_img, 4, 3};
  size_t m = img_rank == 3 ? make_idx(buf, 0x08, 3, dims, NULL)
                           : make_idx(buf, 0x08, 2, (uint32_t[2]){n_img, 12}, NULL);
  snprintf(name, sizeof name, "%s-images-idx3-ubyte.gz", split);
  write_gz(path_of(name), buf, m);
  uint8_t labels[64];
  for (uint32_t i = 0; i < n_lab; i++)
    labels[i] = (uint8_t)(i % 10);
  if (bad_label) labels[n_lab - 1] = bad_label;
  m = make_idx(buf, 0x08, 1, &n_lab, labels);
  snprintf(name, sizeof name, "%s-labels-idx1-ubyte.gz", split);
  write_gz(path_of(name), buf, m);
}

static void test_mnist_layout(void **state) {
  (void)state;
  write_split("train", 20, 20, 3, 0);
  write_split("t10k", 7, 7, 3, 0);
  ds_data_options o = ds_data_options_default();
  o.path = dir;
  ds_dataset *tr, *te;
  assert_int_equal(ds_dataset_load("mnist", &o, &tr, &te), DS_OK);
  assert_int_equal(tr->n, 20);
  assert_int_equal(te->n, 7);
  assert_int_equal(tr->sample_shape.rank, 3);
  assert_int_equal(tr->sample_shape.dim[0], 1);
  assert_int_equal(tr->sample_shape.dim[1], 4);
  assert_int_equal(tr->sample_shape.dim[2], 3);
  assert_int_equal(tr->n_classes, 10);
  assert_int_equal(tr->labels[13], 3);
  assert_int_equal(tr->clean_labels[13], 3);
  assert_int_equal(tr->u8[5], (uint8_t)(5 * 7 + 3));
  assert_string_equal(tr->name, "mnist/train");
  ds_dataset_free(tr);
  ds_dataset_free(te);
}

static void test_mnist_inconsistent(void **state) {
  (void)state;
  ds_data_options o = ds_data_options_default();
  o.path = dir;
  ds_dataset *tr = (ds_dataset *)1, *te = (ds_dataset *)1;
  write_split("train", 20, 19, 3, 0); /* label count != image count */
  write_split("t10k", 7, 7, 3, 0);
  expect_error(ds_dataset_load("mnist", &o, &tr, &te), DS_EFORMAT, "train-labels-idx1-ubyte.gz");
  assert_non_null(strstr(ds_last_error(), "train-images-idx3-ubyte.gz"));
  assert_null(tr);
  assert_null(te);
  write_split("train", 20, 20, 3, 12); /* label outside 0..9 */
  expect_error(ds_dataset_load("mnist", &o, &tr, &te), DS_EFORMAT, "train-labels-idx1-ubyte.gz");
  assert_non_null(strstr(ds_last_error(), "12"));
  write_split("train", 20, 20, 2, 0); /* images of rank 2 */
  expect_error(ds_dataset_load("mnist", &o, &tr, &te), DS_EFORMAT, "train-images-idx3-ubyte.gz");
  write_split("train", 20, 20, 3, 0);
  unlink(path_of("t10k-labels-idx1-ubyte.gz")); /* a missing file */
  expect_error(ds_dataset_load("mnist", &o, &tr, &te), DS_EIO, "t10k-labels-idx1-ubyte");
  assert_null(tr);
  o.path = "/nonexistent/dir";
  expect_error(ds_dataset_load("fashion-mnist", &o, &tr, &te), DS_EIO, "/nonexistent/dir");
  expect_error(ds_dataset_load("cifar-100", &o, &tr, &te), DS_ENOTFOUND, "cifar-100");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_gzip_and_plain),
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_truncated_gzip),
      cmocka_unit_test(test_corrupt_gzip),
      cmocka_unit_test(test_wrong_magic),
      cmocka_unit_test(test_sizes_disagree_with_header),
      cmocka_unit_test(test_mnist_layout),
      cmocka_unit_test(test_mnist_inconsistent),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
