/* src/io: safetensors round trip and validation, atomic writes, metrics JSON lines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
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
  for (int i = 0; i < 6; i++) w[i] = 0.5f * (float)i - 1.25f;
  for (int i = 0; i < 3; i++) b[i] = 1e-30f * (float)(i + 1);
  *s = -7.0f;
  ds_st_tensor t[] = {{"fc.weight", ds_shape2(2, 3), w}, {"fc.bias", ds_shape1(3), b},
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
  for (int i = 0; i < 8; i++) hl |= (uint64_t)(unsigned char)raw[i] << (8 * i);
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
  for (int i = 0; i < 8; i++) buf[i] = (char)((uint64_t)len >> (8 * i));
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
  expect_bad_header("{\"a\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [0, 4]}}", "F16");
  expect_bad_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [5], \"data_offsets\": [0, 20]}}", "'a'");
  expect_bad_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 12]}}", "'a'");
  expect_bad_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", "bad shape");
  expect_bad_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", "malformed");
  expect_bad_header("{\"__metadata__\": {\"k\": 3}}", "'k'");
  /* a well-formed header is accepted by the same helper's layout */
  const char *ok = "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}";
  char buf[256];
  size_t len = strlen(ok);
  for (int i = 0; i < 8; i++) buf[i] = (char)((uint64_t)len >> (8 * i));
  memcpy(buf + 8, ok, len);
  memset(buf + 8 + len, 0, 16);
  write_bytes(tmp_path("ok.safetensors"), buf, 8 + len + 16);
  ds_safetensors *st = ds_safetensors_read(tmp_path("ok.safetensors"));
  assert_non_null(st);
  ds_safetensors_free(st);
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
  assert_null(ds_metrics_open("/nonexistent-dir/m.jsonl", false));
  assert_non_null(strstr(ds_last_error(), "/nonexistent-dir/m.jsonl"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_safetensors_roundtrip), cmocka_unit_test(test_safetensors_truncated),
      cmocka_unit_test(test_safetensors_malformed), cmocka_unit_test(test_safetensors_write_errors),
      cmocka_unit_test(test_atomic),                cmocka_unit_test(test_metrics),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
