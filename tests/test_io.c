/* src/io: safetensors round trip and validation, atomic writes, metrics JSON lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "descent/descent.h"

static char tmpdir[256];

static const char *tmp_path(const char *name) {
  static char buf[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
  return buf[k];
}

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/descent_test_io_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  fclose(f);
}

/* Three tensors (2-D, 1-D, scalar) and two metadata pairs. */
static const char *write_sample(float *w, float *b, float *s) {
  for (int i = 0; i < 6; i++)
    w[i] = 0.5f * (float)i - 1.25f;
  for (int i = 0; i < 3; i++)
    b[i] = 1e-30f * (float)(i + 1);
  *s = -7.0f;
  ds_st_tensor t[] = {{"fc.weight", ds_shape2(2, 3), w},
                      {"fc.bias", ds_shape1(3), b},
                      {"scale", ds_shape_scalar(), s}};
  const char *meta[] = {"step", "42", "note", "quote \" and \\ and\nnewline"};
  const char *path = tmp_path("sample.safetensors");
  assert_int_equal(ds_safetensors_write(path, t, 3, meta, 2), DS_OK);
  return path;
}

static void test_safetensors_roundtrip(void **state) {
  (void)state;
  float w[6], b[3], s;
  const char *path = write_sample(w, b, &s);
  ds_safetensors *st = ds_safetensors_read(path);
  assert_non_null(st);
  assert_int_equal(ds_safetensors_count(st), 3);
  assert_string_equal(ds_safetensors_name(st, 0), "fc.weight");
  ds_shape shape;
  const float *data;
  assert_int_equal(ds_safetensors_get(st, "fc.weight", &shape, &data), DS_OK);
  assert_int_equal(shape.rank, 2);
  assert_int_equal(shape.dim[0], 2);
  assert_int_equal(shape.dim[1], 3);
  assert_memory_equal(data, w, sizeof w); /* bitwise: raw float32 */
  float out[3];
  assert_int_equal(ds_safetensors_copy(st, "fc.bias", ds_shape1(3), out), DS_OK);
  assert_memory_equal(out, b, sizeof b);
  assert_int_equal(ds_safetensors_get(st, "scale", &shape, &data), DS_OK);
  assert_int_equal(shape.rank, 0);
  assert_true(data[0] == s);
  assert_string_equal(ds_safetensors_meta(st, "step"), "42");
  assert_string_equal(ds_safetensors_meta(st, "note"), "quote \" and \\ and\nnewline");
  assert_null(ds_safetensors_meta(st, "absent"));
  /* wrong shape and missing tensor name the tensor */
  assert_int_equal(ds_safetensors_copy(st, "fc.bias", ds_shape1(4), out), DS_ESHAPE);
  assert_non_null(strstr(ds_last_error(), "fc.bias"));
  assert_int_equal(ds_safetensors_get(st, "nope", NULL, NULL), DS_ENOTFOUND);
  assert_non_null(strstr(ds_last_error(), "nope"));
  ds_safetensors_free(st);

  /* layout: u64 little-endian header length, multiple of 8; data right after it */
  size_t n;
  char *raw = ds_read_file(path, &n);
  assert_non_null(raw);
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++)
    hl |= (uint64_t)(unsigned char)raw[i] << (8 * i);
  assert_int_equal(hl % 8, 0);
  assert_int_equal(n, 8 + hl + sizeof w + sizeof b + sizeof s);
  cJSON *h = cJSON_ParseWithLength(raw + 8, hl);
  assert_non_null(h);
  cJSON *e = cJSON_GetObjectItem(h, "fc.bias");
  assert_string_equal(cJSON_GetObjectItem(e, "dtype")->valuestring, "F32");
  cJSON *offs = cJSON_GetObjectItem(e, "data_offsets");
  assert_int_equal((int)cJSON_GetArrayItem(offs, 0)->valuedouble, 24);
  assert_int_equal((int)cJSON_GetArrayItem(offs, 1)->valuedouble, 36);
  assert_memory_equal(raw + 8 + hl + 24, b, sizeof b);
  cJSON_Delete(h);
  ds_free(raw);
}

/* Every truncation of a valid file is rejected with an error naming the file; none crashes. */
static void test_safetensors_truncated(void **state) {
  (void)state;
  float w[6], b[3], s;
  const char *path = write_sample(w, b, &s);
  size_t n;
  char *raw = ds_read_file(path, &n);
  assert_non_null(raw);
  const char *cut = tmp_path("cut.safetensors");
  for (size_t k = 0; k < n; k++) {
    write_bytes(cut, raw, k);
    ds_safetensors *st = ds_safetensors_read(cut);
    if (st) fail_msg("truncation to %zu of %zu bytes was accepted", k, n);
    assert_non_null(strstr(ds_last_error(), "cut.safetensors"));
  }
  ds_free(raw);
}

static void expect_bad_header(const char *json, const char *what) {
  char buf[1024];
  size_t len = strlen(json);
  for (int i = 0; i < 8; i++)
    buf[i] = (char)((uint64_t)len >> (8 * i));
  memcpy(buf + 8, json, len);
  memset(buf + 8 + len, 0, 16); /* 16 data bytes */
  const char *path = tmp_path("bad.safetensors");
  write_bytes(path, buf, 8 + len + 16);
  ds_safetensors *st = ds_safetensors_read(path);
  if (st) fail_msg("accepted: %s", json);
  if (!strstr(ds_last_error(), what)) fail_msg("message '%s' lacks '%s'", ds_last_error(), what);
}

static void test_safetensors_malformed(void **state) {
  (void)state;
  expect_bad_header("[1, 2]", "not a JSON object");
  expect_bad_header("{\"a\": ", "not a JSON object");
  expect_bad_header("{\"a\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [0, 4]}}",
                    "F16");
  expect_bad_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [5], \"data_offsets\": [0, 20]}}",
                    "'a'");
  expect_bad_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 12]}}",
                    "'a'");
  expect_bad_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}",
                    "shape entry 0");
  expect_bad_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", "malformed");
  expect_bad_header("{\"__metadata__\": {\"k\": 3}}", "'k'");
  /* a well-formed header is accepted by the same helper's layout */
  const char *ok = "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}";
  char buf[256];
  size_t len = strlen(ok);
  for (int i = 0; i < 8; i++)
    buf[i] = (char)((uint64_t)len >> (8 * i));
  memcpy(buf + 8, ok, len);
  memset(buf + 8 + len, 0, 16);
  write_bytes(tmp_path("ok.safetensors"), buf, 8 + len + 16);
  ds_safetensors *st = ds_safetensors_read(tmp_path("ok.safetensors"));
  assert_non_null(st);
  ds_safetensors_free(st);
}

/* Writes a safetensors file: header length (hl, or the JSON's length if 0), the JSON, data_len
 * zero bytes. Returns its path. */
static const char *write_st(const char *json, uint64_t hl, size_t data_len) {
  static char buf[1 << 16];
  size_t len = strlen(json);
  if (!hl) hl = len;
  for (int i = 0; i < 8; i++)
    buf[i] = (char)(hl >> (8 * i));
  memcpy(buf + 8, json, len);
  memset(buf + 8 + len, 0, data_len);
  const char *path = tmp_path("hostile.safetensors");
  write_bytes(path, buf, 8 + len + data_len);
  return path;
}

static void expect_rejected(const char *json, uint64_t hl, size_t data_len, const char *what) {
  ds_safetensors *st = ds_safetensors_read(write_st(json, hl, data_len));
  if (st) fail_msg("accepted: %.200s", json);
  if (!strstr(ds_last_error(), what)) fail_msg("message '%s' lacks '%s'", ds_last_error(), what);
  if (!strstr(ds_last_error(), "hostile.safetensors"))
    fail_msg("no file name: %s", ds_last_error());
}

#define T(name, shape, b, e)                                                                       \
  "\"" name "\": {\"dtype\": \"F32\", \"shape\": " shape ", \"data_offsets\": [" b ", " e "]}"

/* Crafted files: sizes that overflow, offsets that overlap or leave bytes unaccounted for,
 * garbage after the header, duplicates. Each is rejected with a message saying why. */
static void test_safetensors_hostile(void **state) {
  (void)state;
  /* 2^25 * 2^39 wraps to 0 elements in int64: zero data bytes would "fit" */
  expect_rejected("{" T("a", "[33554432, 549755813888]", "0", "0") "}", 0, 0, "shape too large");
  expect_rejected("{" T("a", "[4294967296, 4294967296, 4294967296, 4294967296]", "0", "0") "}", 0,
                  0, "shape too large");
  expect_rejected("{" T("a", "[2.5]", "0", "8") "}", 0, 8, "shape entry 0");
  expect_rejected("{" T("a", "[\"2\"]", "0", "8") "}", 0, 8, "shape entry 0");
  expect_rejected("{" T("a", "[2]", "1e300", "1e300") "}", 0, 8, "data_offsets");
  expect_rejected("{" T("a", "[2]", "-8", "0") "}", 0, 8, "data_offsets");
  /* header lengths beyond the file or any sane size, before any arithmetic with them */
  expect_rejected("{}", UINT64_MAX, 0, "header length");
  expect_rejected("{}", UINT64_MAX - 7, 0, "header length");
  expect_rejected("{}", (uint64_t)1 << 63, 0, "header length");
  /* the tensors must tile the data section: overlap, hole, trailing bytes */
  expect_rejected("{" T("a", "[2]", "0", "8") ", " T("b", "[2]", "4", "12") "}", 0, 12,
                  "'a' and 'b' overlap");
  expect_rejected("{" T("a", "[4]", "0", "16") ", " T("b", "[1]", "4", "8") "}", 0, 16, "overlap");
  expect_rejected("{" T("a", "[2]", "0", "8") ", " T("b", "[2]", "12", "20") "}", 0, 20,
                  "[8, 12) belong to no tensor");
  expect_rejected("{" T("a", "[2]", "0", "8") "}", 0, 16, "8 trailing bytes");
  expect_rejected("{" T("a", "[2]", "8", "16") "}", 0, 16, "[0, 8) belong to no tensor");
  /* garbage after the JSON object (spaces are the format's padding and are fine) */
  expect_rejected("{" T("a", "[2]", "0", "8") "}  x", 0, 8, "after the JSON header");
  expect_rejected("{" T("a", "[2]", "0", "8") "}{}", 0, 8, "after the JSON header");
  /* duplicates are named as such */
  expect_rejected("{" T("a", "[2]", "0", "8") ", " T("a", "[2]", "8", "16") "}", 0, 16,
                  "duplicate tensor name 'a'");
  expect_rejected("{\"__metadata__\": {\"k\": \"1\", \"k\": \"2\"}}", 0, 0,
                  "duplicate metadata key 'k'");
  expect_rejected("{\"__metadata__\": {}, \"__metadata__\": {}}", 0, 0,
                  "__metadata__ appears twice");
  /* a hostile name is quoted as a short escaped excerpt */
  char json[8192], name[4000];
  memset(name, 'n', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  name[3] = '\n';
  name[4] = 1;
  snprintf(json, sizeof json,
           "{\"%s\": {\"dtype\": \"F16\", \"shape\": [], \"data_offsets\": [0, 4]}}", name);
  memcpy(strstr(json, "\n"), "\\n\\u0001", 8); /* JSON escapes in place of the raw bytes */
  expect_rejected(json, 0, 4, "'nnn\\n\\x01nnn");
  assert_true(strlen(ds_last_error()) < 300);
  /* the same shapes laid out properly are accepted: padding spaces, out-of-order offsets */
  ds_safetensors *st =
      ds_safetensors_read(write_st("{" T("b", "[2]", "8", "16") ", " T("a", "[2]", "0", "8") ", " T(
                                       "c", "[0]", "16", "16") "}    ",
                                   0, 16));
  assert_non_null(st);
  assert_int_equal(ds_safetensors_count(st), 3);
  assert_int_equal(ds_safetensors_get(st, "a", NULL, NULL), DS_OK);
  assert_int_equal(ds_safetensors_get(st, "c", NULL, NULL), DS_OK);
  assert_int_equal(ds_safetensors_get(st, "d", NULL, NULL), DS_ENOTFOUND);
  ds_safetensors_free(st);
}
#undef T

static void test_shape_numel_checked(void **state) {
  (void)state;
  int64_t n = -1;
  ds_shape s = ds_shape2(3, 4);
  assert_int_equal(ds_shape_numel_checked(&s, &n), DS_OK);
  assert_int_equal(n, 12);
  s = ds_shape_make(0, NULL);
  assert_int_equal(ds_shape_numel_checked(&s, &n), DS_OK);
  assert_int_equal(n, 1);
  s = ds_shape4(INT64_C(1) << 20, INT64_C(1) << 20, INT64_C(1) << 20, INT64_C(1) << 20);
  n = 7;
  assert_int_equal(ds_shape_numel_checked(&s, &n), DS_EINVAL);
  assert_int_equal(n, 7);
  assert_non_null(strstr(ds_last_error(), "1048576"));
  s = ds_shape2(INT64_MAX, 2);
  assert_int_equal(ds_shape_numel_checked(&s, &n), DS_EINVAL);
  s = ds_shape2(-1, 2);
  assert_int_equal(ds_shape_numel_checked(&s, &n), DS_EINVAL);
  s = ds_shape2(0, INT64_MAX);
  assert_int_equal(ds_shape_numel_checked(&s, &n), DS_OK);
  assert_int_equal(n, 0);
  s.rank = 9;
  assert_int_equal(ds_shape_numel_checked(&s, &n), DS_EINVAL);
  /* the parameter set refuses shapes whose size overflows */
  ds_paramset *ps = ds_paramset_new();
  assert_true(ds_paramset_add(ps, "w", ds_shape3(INT64_C(1) << 31, INT64_C(1) << 31, 4),
                              DS_ROLE_WEIGHT) < 0);
  assert_non_null(strstr(ds_last_error(), "'w'"));
  ds_paramset_free(ps);
}

static void test_excerpt(void **state) {
  (void)state;
  char buf[16];
  assert_string_equal(ds_excerpt("abc", buf, sizeof buf), "abc");
  assert_string_equal(ds_excerpt("a'b\n\x7f", buf, sizeof buf), "a\\'b\\n\\x7f");
  assert_string_equal(ds_excerpt("0123456789abcdefghij", buf, sizeof buf), "0123456789ab...");
  assert_string_equal(ds_excerpt("0123456789abcde", buf, sizeof buf), "0123456789abcde");
  assert_string_equal(ds_excerpt(NULL, buf, sizeof buf), "(null)");
  char small[4];
  assert_string_equal(ds_excerpt("abcdef", small, sizeof small), "...");
  assert_string_equal(ds_excerpt("ab", small, sizeof small), "ab");
}

static void test_safetensors_write_errors(void **state) {
  (void)state;
  float x[2] = {1, 2};
  ds_st_tensor dup[] = {{"a", ds_shape1(2), x}, {"a", ds_shape1(2), x}};
  assert_int_equal(ds_safetensors_write(tmp_path("dup.safetensors"), dup, 2, NULL, 0), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "'a'"));
  assert_int_equal(ds_safetensors_write("/nonexistent-dir/x.safetensors", dup, 1, NULL, 0), DS_EIO);
  assert_non_null(strstr(ds_last_error(), "/nonexistent-dir/x.safetensors"));
}

static void test_atomic(void **state) {
  (void)state;
  const char *path = tmp_path("atomic.txt");
  assert_int_equal(ds_write_file_atomic(path, "old", 3), DS_OK);
  /* an aborted write leaves the old content and no temporary file */
  ds_atomic_file *a = ds_atomic_open(path);
  assert_non_null(a);
  fputs("partial new content", ds_atomic_stream(a));
  ds_atomic_abort(a);
  size_t n;
  char *text = ds_read_file(path, &n);
  assert_string_equal(text, "old");
  ds_free(text);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", tmpdir);
  assert_int_not_equal(system(cmd), 0);
  /* a committed write replaces it */
  assert_int_equal(ds_write_file_atomic(path, "new!", 4), DS_OK);
  text = ds_read_file(path, &n);
  assert_int_equal(n, 4);
  assert_string_equal(text, "new!");
  ds_free(text);
  /* unwritable location: error names the path */
  assert_null(ds_atomic_open("/nonexistent-dir/f"));
  assert_non_null(strstr(ds_last_error(), "/nonexistent-dir/f"));
  assert_null(ds_read_file(tmp_path("missing"), NULL));
  assert_non_null(strstr(ds_last_error(), "missing"));
}

/* Points the temporary file ds_atomic_open will create for path at /dev/full, whose writes fail
 * with ENOSPC: a full disk without root. */
static void full_disk_at(const char *path) {
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  assert_int_equal(symlink("/dev/full", tmp), 0);
}

static void expect_old_content(const char *path) {
  char *text = ds_read_file(path, NULL);
  assert_non_null(text);
  assert_string_equal(text, "old");
  ds_free(text);
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  assert_int_not_equal(access(tmp, F_OK), 0); /* the temporary file is gone */
}

/* A write to path failed with status st for lack of space, said so, and kept the old file. */
static void expect_no_space(const char *path, ds_status st) {
  assert_int_equal(st, DS_EIO);
  if (!strstr(ds_last_error(), "No space left on device") || !strstr(ds_last_error(), path))
    fail_msg("message lacks the cause or the file: %s", ds_last_error());
  expect_old_content(path);
}

/* A full disk: every way of writing reports the real cause, and the old file survives. */
static void test_atomic_full_disk(void **state) {
  (void)state;
  const char *path = tmp_path("full.txt");
  assert_int_equal(ds_write_file_atomic(path, "old", 3), DS_OK);
  static char big[1 << 20];
  memset(big, 'x', sizeof big);
  /* a large write fails inside fwrite; the caller does not check it, commit does */
  full_disk_at(path);
  ds_atomic_file *a = ds_atomic_open(path);
  assert_non_null(a);
  fwrite(big, 1, sizeof big, ds_atomic_stream(a));
  fprintf(ds_atomic_stream(a), "more after the failure\n");
  expect_no_space(path, ds_atomic_commit(a));
  /* a small write stays buffered until the commit's flush */
  full_disk_at(path);
  a = ds_atomic_open(path);
  assert_non_null(a);
  fputs("new", ds_atomic_stream(a));
  expect_no_space(path, ds_atomic_commit(a));
  /* the one-call form */
  full_disk_at(path);
  expect_no_space(path, ds_write_file_atomic(path, big, sizeof big));
  /* a stream closed by its user (PLplot closes the FILE it is given) still commits or fails */
  a = ds_atomic_open(path);
  assert_non_null(a);
  fputs("closed early", ds_atomic_stream(a));
  assert_int_equal(fclose(ds_atomic_stream(a)), 0);
  assert_int_equal(ds_atomic_commit(a), DS_OK);
  char *text = ds_read_file(path, NULL);
  assert_string_equal(text, "closed early");
  ds_free(text);
  assert_int_equal(ds_write_file_atomic(path, "old", 3), DS_OK);
  full_disk_at(path);
  a = ds_atomic_open(path);
  assert_non_null(a);
  fputs("closed early", ds_atomic_stream(a));
  assert_int_not_equal(fclose(ds_atomic_stream(a)), 0);
  expect_no_space(path, ds_atomic_commit(a));
}

static void test_metrics(void **state) {
  (void)state;
  const char *path = tmp_path("metrics.jsonl");
  ds_metrics *m = ds_metrics_open(path, false);
  assert_non_null(m);
  ds_metrics_begin(m);
  ds_metrics_str(m, "kind", "step");
  ds_metrics_int(m, "step", 123456789012LL);
  ds_metrics_num(m, "loss", 0.25);
  ds_metrics_num(m, "bad", 0.0 / 0.0);
  assert_int_equal(ds_metrics_end(m), DS_OK);
  ds_metrics_begin(m);
  ds_metrics_str(m, "text", "a\"b\\c\n\x01");
  assert_int_equal(ds_metrics_end(m), DS_OK);
  assert_int_equal(ds_metrics_close(m), DS_OK);
  m = ds_metrics_open(path, true); /* append */
  ds_metrics_begin(m);
  ds_metrics_num(m, "x", 1e-300);
  ds_metrics_end(m);
  ds_metrics_close(m);

  char *text = ds_read_file(path, NULL);
  assert_non_null(text);
  char *l1 = strtok(text, "\n"), *l2 = strtok(NULL, "\n"), *l3 = strtok(NULL, "\n");
  assert_non_null(l3);
  assert_null(strtok(NULL, "\n"));
  cJSON *o = cJSON_Parse(l1);
  assert_non_null(o);
  assert_string_equal(cJSON_GetObjectItem(o, "kind")->valuestring, "step");
  assert_true(cJSON_GetObjectItem(o, "step")->valuedouble == 123456789012.0);
  assert_true(cJSON_GetObjectItem(o, "loss")->valuedouble == 0.25);
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "bad"))); /* NaN -> null */
  cJSON_Delete(o);
  o = cJSON_Parse(l2);
  assert_non_null(o);
  assert_string_equal(cJSON_GetObjectItem(o, "text")->valuestring, "a\"b\\c\n\x01");
  cJSON_Delete(o);
  o = cJSON_Parse(l3);
  assert_non_null(o);
  assert_true(cJSON_GetObjectItem(o, "x")->valuedouble == 1e-300);
  cJSON_Delete(o);
  ds_free(text);
  /* a full disk: the record's flush fails and says why, and so does the close */
  m = ds_metrics_open("/dev/full", false);
  assert_non_null(m);
  ds_metrics_begin(m);
  ds_metrics_int(m, "step", 1);
  assert_int_equal(ds_metrics_end(m), DS_EIO);
  assert_non_null(strstr(ds_last_error(), "No space left on device"));
  assert_int_equal(ds_metrics_close(m), DS_EIO);
  assert_non_null(strstr(ds_last_error(), "No space left on device"));
  assert_null(ds_metrics_open("/nonexistent-dir/m.jsonl", false));
  assert_non_null(strstr(ds_last_error(), "/nonexistent-dir/m.jsonl"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_safetensors_roundtrip),
      cmocka_unit_test(test_safetensors_truncated),
      cmocka_unit_test(test_safetensors_malformed),
      cmocka_unit_test(test_safetensors_write_errors),
      cmocka_unit_test(test_atomic),
      cmocka_unit_test(test_metrics),
      cmocka_unit_test(test_atomic_full_disk),
      cmocka_unit_test(test_safetensors_hostile),
      cmocka_unit_test(test_shape_numel_checked),
      cmocka_unit_test(test_excerpt),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
