/* Schedules against PyTorch 1.13 (the cases in tests/fixtures/sched/, written by gen_sched.py):
 * every case goes through `descent replay`'s schedule code (cli/replay_sched.c, compiled in here)
 * and its printed lr sequence is compared with expected_lr; the momentum cycled by cyclic/onecycle
 * is compared with expected_momentum; a schedule rebuilt at an arbitrary step (a resumed run)
 * continues the reference sequence. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../cli/fail.c"          /* cli_fail(), which the replay code calls */
#include "../cli/replay_common.c" /* its checks of names and types */
#include "../cli/replay_sched.c"  /* replay_schedule() and its static build() */
#include "testutil.h"

/* REPLAY.md's schedule tolerance: the values are computed in double on both sides, so only the
 * order of floating operations differs (PyTorch's recursive products vs closed forms):
 * |a - b| <= 1e-9 + 1e-6 |b|. */
static bool close_enough(double a, double b) { return fabs(a - b) <= 1e-9 + 1e-6 * fabs(b); }

#define MAX_CASES 64
static char case_names[MAX_CASES][64];
static int n_cases;

static int list_cases(void) {
  DIR *d = opendir("fixtures/sched");
  if (!d) return -1;
  struct dirent *e;
  n_cases = 0;
  while ((e = readdir(d)) && n_cases < MAX_CASES) {
    size_t len = strlen(e->d_name);
    if (len > 5 && len < 64 && strcmp(e->d_name + len - 5, ".json") == 0)
      strcpy(case_names[n_cases++], e->d_name);
  }
  closedir(d);
  return n_cases;
}

static cJSON *load_case(const char *name) {
  char path[128];
  if (snprintf(path, sizeof path, "fixtures/sched/%s", name) >= (int)sizeof path) return NULL;
  return tu_load_json(path);
}

/* Runs replay_schedule on root; returns the parsed output ({"lr": [...]}) or NULL. */
static cJSON *replay(const cJSON *root, int *rc) {
  FILE *f = tmpfile();
  assert_non_null(f);
  *rc = replay_schedule(root, f);
  long size = ftell(f);
  rewind(f);
  char *text = calloc((size_t)size + 1, 1);
  assert_non_null(text);
  assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  cJSON *out = cJSON_Parse(text);
  free(text);
  return out;
}

static void test_fixtures_cover_every_schedule(void **state) {
  (void)state;
  assert_true(list_cases() >= 20);
  int count;
  const char *const *names = ds_sched_names(&count);
  assert_int_equal(count, 10);
  for (int i = 0; i < count; i++) { /* >= 2 cases per schedule */
    int found = 0;
    for (int c = 0; c < n_cases; c++) {
      cJSON *root = load_case(case_names[c]);
      assert_non_null(root);
      const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "schedule");
      found += cJSON_IsString(s) && strcmp(s->valuestring, names[i]) == 0;
      cJSON_Delete(root);
    }
    if (found < 2) fail_msg("schedule '%s' has %d fixture cases, want >= 2", names[i], found);
  }
}

static void test_replay_matches_torch(void **state) {
  (void)state;
  assert_true(list_cases() > 0);
  int bad_cases = 0;
  for (int c = 0; c < n_cases; c++) {
    cJSON *root = load_case(case_names[c]);
    assert_non_null(root);
    int rc;
    cJSON *out = replay(root, &rc);
    if (rc != 0 || !out) {
      printf("%s: replay failed: %s\n", case_names[c], ds_last_error());
      bad_cases++;
      cJSON_Delete(root);
      cJSON_Delete(out);
      continue;
    }
    const cJSON *got = cJSON_GetObjectItemCaseSensitive(out, "lr");
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(root, "expected_lr");
    int n = cJSON_GetArraySize(want), bad = 0;
    assert_true(n > 0);
    assert_int_equal(cJSON_GetArraySize(got), n);
    for (int k = 0; k < n; k++) {
      double a = cJSON_GetArrayItem(got, k)->valuedouble,
             b = cJSON_GetArrayItem(want, k)->valuedouble;
      if (!close_enough(a, b) && bad++ < 3)
        printf("%s: step %d: lr %.17g, PyTorch %.17g\n", case_names[c], k, a, b);
    }
    bad_cases += bad > 0;
    cJSON_Delete(out);
    cJSON_Delete(root);
  }
  assert_int_equal(bad_cases, 0);
}

static void test_momentum_matches_torch(void **state) {
  (void)state;
  assert_true(list_cases() > 0);
  int checked = 0, bad = 0;
  for (int c = 0; c < n_cases; c++) {
    cJSON *root = load_case(case_names[c]);
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(root, "expected_momentum");
    ds_sched *s = build(root);
    assert_non_null(s);
    double m;
    if (want) {
      checked++;
      for (int k = 0; k < cJSON_GetArraySize(want); k++) {
        double b = cJSON_GetArrayItem(want, k)->valuedouble;
        if (!ds_sched_momentum(s, k, &m) || !close_enough(m, b)) {
          if (bad++ < 3)
            printf("%s: step %d: momentum %.17g, PyTorch %.17g\n", case_names[c], k, m, b);
        }
      }
    } else {
      /* No cycled momentum in the case (other schedules, cycle_momentum false): none reported. */
      assert_false(ds_sched_momentum(s, 0, &m));
    }
    ds_sched_free(s);
    cJSON_Delete(root);
  }
  assert_true(checked >= 6);
  assert_int_equal(bad, 0);
}

/* Resuming: a schedule built afresh (as after loading a checkpoint) and asked from step k on
 * reproduces PyTorch's uninterrupted sequence from k, for every case and several k. */
static void test_resume_continues_sequence(void **state) {
  (void)state;
  assert_true(list_cases() > 0);
  int bad = 0;
  for (int c = 0; c < n_cases; c++) {
    cJSON *root = load_case(case_names[c]);
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(root, "expected_lr");
    int n = cJSON_GetArraySize(want);
    for (int k0 = 1; k0 < n; k0 += 7) {
      ds_sched *s = build(root);
      assert_non_null(s);
      for (int k = k0; k < n; k++)
        if (!close_enough(ds_sched_lr(s, k), cJSON_GetArrayItem(want, k)->valuedouble)) bad++;
      ds_sched_free(s);
    }
    cJSON_Delete(root);
  }
  assert_int_equal(bad, 0);
}

/* Replay refuses what it cannot do faithfully, naming the culprit, with exit status 1. */
static void expect_replay_error(const char *json, const char *needle) {
  cJSON *root = cJSON_Parse(json);
  assert_non_null(root);
  int rc;
  cJSON *out = replay(root, &rc);
  assert_int_equal(rc, 1);
  if (!strstr(ds_last_error(), needle))
    fail_msg("error '%s' does not mention '%s'", ds_last_error(), needle);
  cJSON_Delete(out);
  cJSON_Delete(root);
}

static void test_replay_errors(void **state) {
  (void)state;
  expect_replay_error("{\"kind\":\"schedule\",\"schedule\":\"cosine_warm\",\"hyper\":{\"lr\":0.1},"
                      "\"steps\":3}",
                      "cosine_warm");
  expect_replay_error("{\"kind\":\"schedule\",\"schedule\":\"step\",\"hyper\":{\"lr\":0.1,"
                      "\"step_size\":3,\"gama\":0.5},\"steps\":3}",
                      "gama");
  expect_replay_error("{\"kind\":\"schedule\",\"schedule\":\"cosine_restarts\",\"hyper\":{\"lr\":"
                      "0.1,\"T_0\":0},\"steps\":3}",
                      "T_0");
  expect_replay_error("{\"kind\":\"schedule\",\"schedule\":\"cosine\",\"hyper\":{\"lr\":0.1},"
                      "\"steps\":3}",
                      "T_max");
  expect_replay_error("{\"kind\":\"schedule\",\"schedule\":\"cyclic\",\"hyper\":{\"base_lr\":0.1,"
                      "\"max_lr\":1,\"mode\":\"triangle\"},\"steps\":3}",
                      "mode");
  expect_replay_error("{\"kind\":\"schedule\",\"schedule\":\"onecycle\",\"hyper\":{\"max_lr\":1,"
                      "\"total_steps\":10},\"steps\":11}",
                      "onecycle");
  expect_replay_error("{\"kind\":\"schedule\",\"schedule\":\"step\",\"hyper\":{\"step_size\":3},"
                      "\"steps\":3}",
                      "lr");
  expect_replay_error("{\"kind\":\"schedule\",\"schedule\":\"step\",\"hyper\":{\"lr\":0.1,"
                      "\"step_size\":2},\"steps\":3,\"warmup\":{\"steps\":2,\"kind\":\"cubic\"}}",
                      "cubic");
  expect_replay_error("{\"kind\":\"schedule\",\"schedule\":\"step\",\"hyper\":{\"lr\":0.1,"
                      "\"step_size\":2}}",
                      "steps");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixtures_cover_every_schedule),
      cmocka_unit_test(test_replay_matches_torch),
      cmocka_unit_test(test_momentum_matches_torch),
      cmocka_unit_test(test_resume_continues_sequence),
      cmocka_unit_test(test_replay_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
