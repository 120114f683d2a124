/* Schedules beyond the PyTorch fixtures: warm-up composition, steps per epoch, cycle ends, the
 * large-batch rules, keyword parsing and the errors on unknown names and invalid values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "descent/descent.h"

/* Values computed by the same double formula on both sides: only rounding of a few operations
 * differs, so 1e-12 relative is ample. */
#define assert_close(a, b) assert_true(fabs((a) - (b)) <= 1e-15 + 1e-12 * fabs(b))

static ds_sched *make(const char *name, double lr, const char *const *kv) {
  ds_sched *s = ds_sched_new(name, lr);
  assert_non_null(s);
  for (int i = 0; kv && kv[i]; i += 2)
    if (ds_sched_set_str(s, kv[i], kv[i + 1])) fail_msg("%s", ds_last_error());
  return s;
}

#define expect_error(st, code, needle) expect_error_at(st, code, needle, __LINE__)
static void expect_error_at(ds_status st, ds_status code, const char *needle, int line) {
  if (st != code) fail_msg("line %d: status %d, want %d (%s)", line, st, code, ds_last_error());
  assert_int_equal(st, code);
  if (!strstr(ds_last_error(), needle))
    fail_msg("error '%s' does not mention '%s'", ds_last_error(), needle);
}

/* Linear warm-up of W steps then cosine over T: rises monotonically by equal increments to the
 * base lr, reaches it exactly at k = W (the cosine's step 0), and the jump at the boundary is no
 * larger than one warm-up increment; afterwards lr(k) = cosine(k - W). */
static void test_warmup_then_cosine_is_continuous(void **state) {
  (void)state;
  const double base = 0.4, f = 0.05;
  const int64_t W = 20, T = 100;
  ds_sched *s = make("cosine", base, (const char *[]){"T_max", "100", "eta_min", "0.001", NULL});
  ds_sched *plain =
      make("cosine", base, (const char *[]){"T_max", "100", "eta_min", "0.001", NULL});
  assert_int_equal(ds_sched_set_warmup(s, W, DS_WARMUP_LINEAR, f), DS_OK);
  assert_int_equal(ds_sched_validate(s), DS_OK);
  assert_int_equal(ds_sched_validate(plain), DS_OK);
  const double inc = base * (1 - f) / (double)W;
  assert_close(ds_sched_lr(s, 0), base * f);
  for (int64_t k = 1; k < W; k++)
    assert_close(ds_sched_lr(s, k) - ds_sched_lr(s, k - 1), inc);
  assert_close(ds_sched_lr(s, W), base);
  assert_true(fabs(ds_sched_lr(s, W) - ds_sched_lr(s, W - 1)) <= inc * (1 + 1e-12));
  for (int64_t k = W; k < W + T; k++)
    assert_close(ds_sched_lr(s, k), ds_sched_lr(plain, k - W));
  ds_sched_free(s);
  ds_sched_free(plain);
}

/* Exponential warm-up: geometric from f * base to base, constant ratio f^(1/W) per step. */
static void test_exponential_warmup(void **state) {
  (void)state;
  ds_sched *s = make("step", 0.2, (const char *[]){"step_size", "1000", NULL});
  assert_int_equal(ds_sched_set_warmup(s, 10, DS_WARMUP_EXPONENTIAL, 1e-3), DS_OK);
  assert_int_equal(ds_sched_validate(s), DS_OK);
  assert_close(ds_sched_lr(s, 0), 0.2e-3);
  for (int k = 1; k <= 10; k++)
    assert_close(ds_sched_lr(s, k) / ds_sched_lr(s, k - 1), pow(1e-3, -0.1));
  assert_close(ds_sched_lr(s, 10), 0.2);
  expect_error(ds_sched_set_warmup(s, 10, DS_WARMUP_EXPONENTIAL, 0), DS_EINVAL, "start_factor");
  expect_error(ds_sched_set_warmup(s, 10, DS_WARMUP_LINEAR, 1.5), DS_EINVAL, "start_factor");
  expect_error(ds_sched_set_warmup(s, -1, DS_WARMUP_LINEAR, 0.5), DS_EINVAL, "steps");
  ds_sched_free(s);
}

/* A resumed run (a fresh object asked from step k0) sees exactly the values an uninterrupted
 * one does, for every schedule, with warm-up and steps per epoch in play. */
static void test_resume_is_exact(void **state) {
  (void)state;
  static const char *const cfg[][9] = {
      {"constant", "factor", "0.5", "total_iters", "7", NULL},
      {"step", "step_size", "5", "gamma", "0.3", NULL},
      {"multistep", "milestones", "4,9,9,30", NULL},
      {"exponential", "gamma", "0.97", NULL},
      {"cosine", "T_max", "17", "eta_min", "0.01", NULL},
      {"cosine_restarts", "T_0", "3", "T_mult", "2", NULL},
      {"cyclic", "base_lr", "0.01", "max_lr", "0.3", "step_size_up", "6", NULL},
      {"onecycle", "max_lr", "0.9", "total_steps", "40", NULL},
      {"linear", "start_factor", "0.2", "total_iters", "9", NULL},
      {"polynomial", "total_iters", "20", "power", "1.5", NULL},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
    for (int variant = 0; variant < 3; variant++) {
      ds_sched *a = make(cfg[c][0], 0.1, cfg[c] + 1);
      if (variant >= 1) assert_int_equal(ds_sched_set_warmup(a, 4, DS_WARMUP_LINEAR, 0.1), DS_OK);
      if (variant == 2) assert_int_equal(ds_sched_set_steps_per_epoch(a, 3), DS_OK);
      assert_int_equal(ds_sched_validate(a), DS_OK);
      int64_t n = ds_sched_max_steps(a) < 150 ? ds_sched_max_steps(a) : 150;
      double seq[150];
      for (int64_t k = 0; k < n; k++) {
        seq[k] = ds_sched_lr(a, k);
        assert_true(isfinite(seq[k]) && seq[k] >= 0);
      }
      for (int64_t k0 = 0; k0 < n; k0 += 13) {
        ds_sched *b = make(cfg[c][0], 0.1, cfg[c] + 1);
        if (variant >= 1) assert_int_equal(ds_sched_set_warmup(b, 4, DS_WARMUP_LINEAR, 0.1), DS_OK);
        if (variant == 2) assert_int_equal(ds_sched_set_steps_per_epoch(b, 3), DS_OK);
        assert_int_equal(ds_sched_validate(b), DS_OK);
        for (int64_t k = k0; k < n; k++)
          if (ds_sched_lr(b, k) != seq[k])
            fail_msg("%s variant %d: step %lld differs after resume at %lld", cfg[c][0], variant,
                     (long long)k, (long long)k0);
        ds_sched_free(b);
      }
      ds_sched_free(a);
    }
  }
}

/* Per-epoch evaluation: constant within an epoch, and epoch e takes the per-step value at e. */
static void test_steps_per_epoch(void **state) {
  (void)state;
  ds_sched *e = make("exponential", 1.0, (const char *[]){"gamma", "0.5", NULL});
  ds_sched *p = make("exponential", 1.0, (const char *[]){"gamma", "0.5", NULL});
  assert_int_equal(ds_sched_set_steps_per_epoch(e, 4), DS_OK);
  assert_int_equal(ds_sched_validate(e), DS_OK);
  assert_int_equal(ds_sched_validate(p), DS_OK);
  for (int64_t k = 0; k < 40; k++)
    assert_close(ds_sched_lr(e, k), ds_sched_lr(p, k / 4));
  expect_error(ds_sched_set_steps_per_epoch(e, 0), DS_EINVAL, "steps_per_epoch");
  ds_sched_free(e);
  ds_sched_free(p);
}

/* SGDR cycle ends: T_0 = 3, T_mult = 2 gives cycles [0,3) [3,9) [9,21) [21,45): ends after
 * steps 2, 8, 20, 44; shifted by a warm-up; in epochs, at the last step of the closing epoch. */
static void test_cycle_ends(void **state) {
  (void)state;
  ds_sched *s = make("cosine_restarts", 0.1, (const char *[]){"T_0", "3", "T_mult", "2", NULL});
  assert_int_equal(ds_sched_validate(s), DS_OK);
  int64_t ends[8], n = 0;
  for (int64_t k = 0; k < 50; k++)
    if (ds_sched_cycle_ends(s, k)) ends[n++] = k;
  assert_int_equal(n, 4);
  assert_int_equal(ends[0], 2);
  assert_int_equal(ends[1], 8);
  assert_int_equal(ends[2], 20);
  assert_int_equal(ends[3], 44);
  /* the lr right after an end is back at the base lr (a restart) */
  for (int i = 0; i < 4; i++)
    assert_close(ds_sched_lr(s, ends[i] + 1), 0.1);

  assert_int_equal(ds_sched_set_warmup(s, 5, DS_WARMUP_LINEAR, 0.1), DS_OK);
  assert_int_equal(ds_sched_set_steps_per_epoch(s, 4), DS_OK);
  assert_int_equal(ds_sched_validate(s), DS_OK);
  n = 0;
  for (int64_t k = 0; k < 5 + 4 * 21; k++)
    if (ds_sched_cycle_ends(s, k)) ends[n++] = k;
  assert_int_equal(n, 3); /* epochs 2, 8, 20 end at steps 5 + 4 (e + 1) - 1 */
  assert_int_equal(ends[0], 5 + 4 * 3 - 1);
  assert_int_equal(ends[1], 5 + 4 * 9 - 1);
  assert_int_equal(ends[2], 5 + 4 * 21 - 1);
  ds_sched_free(s);

  /* cyclic: a cycle is step_size_up + step_size_down steps; cosine never ends a cycle. */
  ds_sched *c = make("cyclic", NAN,
                     (const char *[]){"base_lr", "0.1", "max_lr", "1", "step_size_up", "2",
                                      "step_size_down", "3", NULL});
  assert_int_equal(ds_sched_validate(c), DS_OK);
  for (int64_t k = 0; k < 30; k++)
    assert_int_equal(ds_sched_cycle_ends(c, k), k % 5 == 4);
  ds_sched *cos = make("cosine", 0.1, (const char *[]){"T_max", "3", NULL});
  assert_int_equal(ds_sched_validate(cos), DS_OK);
  for (int64_t k = 0; k < 30; k++)
    assert_false(ds_sched_cycle_ends(cos, k));
  ds_sched_free(c);
  ds_sched_free(cos);
}

/* Linear scaling rule with Goyal et al.'s warm-up: batch 1024 against 256 multiplies the whole
 * curve by 4 and starts the warm-up at the unscaled lr. */
static void test_linear_scaling(void **state) {
  (void)state;
  assert_close(ds_linear_scaling_lr(0.1, 1024, 256), 0.4);
  assert_close(ds_linear_scaling_lr(0.1, 64, 256), 0.025);
  assert_true(isnan(ds_linear_scaling_lr(0.1, 0, 256)));
  ds_sched *s = make("multistep", 0.1, (const char *[]){"milestones", "30,60", NULL});
  assert_int_equal(ds_sched_set_linear_scaling(s, 1024, 256, 10), DS_OK);
  assert_int_equal(ds_sched_validate(s), DS_OK);
  assert_close(ds_sched_lr(s, 0), 0.1);
  for (int k = 1; k < 10; k++)
    assert_close(ds_sched_lr(s, k) - ds_sched_lr(s, k - 1), 0.3 / 10);
  assert_close(ds_sched_lr(s, 10), 0.4);            /* multistep step 0, scaled */
  assert_close(ds_sched_lr(s, 10 + 30), 0.4 * 0.1); /* first milestone, scaled */
  /* smaller batch: scaled down, no warm-up */
  assert_int_equal(ds_sched_set_linear_scaling(s, 128, 256, 10), DS_OK);
  assert_int_equal(ds_sched_validate(s), DS_OK);
  assert_close(ds_sched_lr(s, 0), 0.05);
  assert_close(ds_sched_lr(s, 30), 0.005);
  expect_error(ds_sched_set_linear_scaling(s, 0, 256, 10), DS_EINVAL, "batch");
  ds_sched_free(s);
}

/* Batch-size schedule: every epoch covers exactly N samples in ceil(N/B) steps; the batch grows
 * by `factor` at each milestone until the cap, after which the lr takes the remaining decay. */
static void test_batch_schedule(void **state) {
  (void)state;
  const int64_t N = 50000, ms[] = {60, 20, 40, 20};
  ds_batch_sched *b = ds_batch_sched_new(N, 128, 5, ms, 4, 10000);
  assert_non_null(b);
  const int64_t want[] = {128, 3200, 10000, 10000}; /* epochs 0, 20 (twice), 40, 60 */
  assert_int_equal(ds_batch_sched_batch(b, 0), want[0]);
  assert_int_equal(ds_batch_sched_batch(b, 19), 128);
  assert_int_equal(ds_batch_sched_batch(b, 20), want[1]); /* duplicate milestone compounds */
  assert_int_equal(ds_batch_sched_batch(b, 40), want[2]); /* 16000 capped at 10000 */
  assert_int_equal(ds_batch_sched_batch(b, 60), want[3]);
  assert_close(ds_batch_sched_lr_factor(b, 20), 1.0);
  assert_close(ds_batch_sched_lr_factor(b, 40), 10000.0 / 16000.0);
  assert_close(ds_batch_sched_lr_factor(b, 60), 10000.0 / 80000.0);
  int64_t k = 0;
  for (int64_t e = 0; e < 70; e++) {
    int64_t steps = ds_batch_sched_steps(b, e), bs = ds_batch_sched_batch(b, e), seen = 0;
    assert_int_equal(steps, (N + bs - 1) / bs);
    for (int64_t i = 0; i < steps; i++, k++) {
      int64_t sz = ds_batch_sched_step_size(b, e, i), in;
      assert_true(sz > 0 && sz <= bs);
      seen += sz;
      assert_int_equal(ds_batch_sched_epoch_of(b, k, &in), e); /* global step -> (epoch, index) */
      assert_int_equal(in, i);
    }
    assert_int_equal(seen, N); /* samples per epoch preserved */
    assert_int_equal(ds_batch_sched_step_size(b, e, steps), 0);
  }
  ds_batch_sched_free(b);
  assert_null(ds_batch_sched_new(N, 128, 0.5, ms, 4, 0));
  assert_non_null(strstr(ds_last_error(), "factor"));
  assert_null(ds_batch_sched_new(100, 128, 2, NULL, 0, 0));
  assert_non_null(strstr(ds_last_error(), "batch0"));
  assert_null(ds_batch_sched_new(N, 128, 2, (int64_t[]){-1}, 1, 0));
  assert_non_null(strstr(ds_last_error(), "milestone"));
}

/* Keyword parsing: lists, choices, booleans, None; the same values through ds_sched_set. */
static void test_keywords(void **state) {
  (void)state;
  ds_sched *a =
      make("onecycle", NAN,
           (const char *[]){"max_lr", "1.0", "total_steps", "100", "anneal_strategy", "linear",
                            "three_phase", "true", "cycle_momentum", "false", NULL});
  ds_sched *b = ds_sched_new("onecycle", NAN);
  assert_int_equal(ds_sched_set(b, "max_lr", (double[]){1}, 1), DS_OK);
  assert_int_equal(ds_sched_set(b, "total_steps", (double[]){100}, 1), DS_OK);
  assert_int_equal(ds_sched_set(b, "anneal_strategy", (double[]){1}, 1), DS_OK);
  assert_int_equal(ds_sched_set(b, "three_phase", (double[]){1}, 1), DS_OK);
  assert_int_equal(ds_sched_validate(a), DS_OK);
  assert_int_equal(ds_sched_validate(b), DS_OK);
  for (int k = 0; k < 100; k++)
    assert_true(ds_sched_lr(a, k) == ds_sched_lr(b, k));
  assert_close(ds_sched_lr(a, 0), 1.0 / 25);
  assert_close(ds_sched_lr(a, 29), 1.0); /* three phases: peak at pct_start T - 1 */
  assert_close(ds_sched_lr(a, 58), 1.0 / 25);
  assert_close(ds_sched_lr(a, 99), 1.0 / 25 / 1e4);
  assert_close(ds_sched_lr(a, 500), ds_sched_lr(a, 99)); /* held past total_steps */
  assert_int_equal(ds_sched_max_steps(a), 100);
  double m;
  assert_false(ds_sched_momentum(a, 3, &m));
  assert_true(ds_sched_momentum(b, 0, &m));
  assert_close(m, 0.95);
  ds_sched_free(a);
  ds_sched_free(b);

  ds_sched *c = make("cyclic", NAN,
                     (const char *[]){"base_lr", "1", "max_lr", "3", "step_size_up", "2",
                                      "step_size_down", "6", "step_size_down", "none", NULL});
  assert_int_equal(ds_sched_validate(c), DS_OK);
  assert_close(ds_sched_lr(c, 2), 3.0); /* down = up again: period 4 */
  assert_close(ds_sched_lr(c, 4), 1.0);
  ds_sched_free(c);

  ds_sched *ms =
      make("multistep", 1.0, (const char *[]){"milestones", "8, 2,5", "gamma", "0.5", NULL});
  assert_int_equal(ds_sched_validate(ms), DS_OK);
  assert_close(ds_sched_lr(ms, 1), 1.0);
  assert_close(ds_sched_lr(ms, 2), 0.5);
  assert_close(ds_sched_lr(ms, 7), 0.25);
  assert_close(ds_sched_lr(ms, 8), 0.125);
  ds_sched_free(ms);

  char buf[256];
  assert_int_equal(ds_sched_describe("step", buf, sizeof buf), DS_OK);
  assert_non_null(strstr(buf, "step_size (required)"));
  assert_non_null(strstr(buf, "gamma=0.1"));
  int count;
  const char *const *names = ds_sched_names(&count);
  for (int i = 0; i < count; i++)
    assert_int_equal(ds_sched_describe(names[i], buf, sizeof buf), DS_OK);
  assert_null(names[count]);
}

static void test_errors(void **state) {
  (void)state;
  assert_null(ds_sched_new("cosine_annealing", 0.1));
  assert_non_null(strstr(ds_last_error(), "'cosine_annealing'"));
  assert_non_null(strstr(ds_last_error(), "cosine_restarts")); /* lists the known ones */
  expect_error(ds_sched_describe("warmup", (char[8]){0}, 8), DS_ENOTFOUND, "warmup");

  ds_sched *s = ds_sched_new("cosine_restarts", 0.1);
  expect_error(ds_sched_set(s, "T0", (double[]){5}, 1), DS_ENOTFOUND, "'T0'");
  expect_error(ds_sched_set_str(s, "Tmax", "abc"), DS_ENOTFOUND, "'Tmax'");
  expect_error(ds_sched_set(s, "T_0", (double[]){0}, 1), DS_EINVAL, "'T_0' must be > 0");
  expect_error(ds_sched_set(s, "T_0", (double[]){-3}, 1), DS_EINVAL, "T_0");
  expect_error(ds_sched_set(s, "T_0", (double[]){2.5}, 1), DS_EINVAL, "integer");
  expect_error(ds_sched_set(s, "T_mult", (double[]){0}, 1), DS_EINVAL, "T_mult");
  expect_error(ds_sched_set(s, "eta_min", (double[]){NAN}, 1), DS_ENUMERIC, "eta_min");
  expect_error(ds_sched_set(s, "eta_min", (double[]){1, 2}, 2), DS_EINVAL, "one value");
  expect_error(ds_sched_set(s, "eta_min", NULL, 0), DS_EINVAL, "None");
  expect_error(ds_sched_set_str(s, "T_0", "5x"), DS_EINVAL, "T_0");
  expect_error(ds_sched_validate(s), DS_EINVAL, "'T_0' is required");
  assert_true(isnan(ds_sched_lr(s, 0))); /* not validated */
  assert_int_equal(ds_sched_set_str(s, "T_0", "5"), DS_OK);
  assert_int_equal(ds_sched_validate(s), DS_OK);
  assert_true(isnan(ds_sched_lr(s, -1)));
  assert_int_equal(ds_sched_set_str(s, "T_0", "6"), DS_OK); /* a setter unreadies it */
  assert_true(isnan(ds_sched_lr(s, 0)));
  ds_sched_free(s);

  s = ds_sched_new("step", NAN);
  assert_int_equal(ds_sched_set_str(s, "step_size", "3"), DS_OK);
  expect_error(ds_sched_validate(s), DS_EINVAL, "lr");
  expect_error(ds_sched_set(s, "lr", (double[]){-1}, 1), DS_EINVAL, "lr");
  expect_error(ds_sched_set(s, "gamma", (double[]){-0.5}, 1), DS_EINVAL, "gamma");
  expect_error(ds_sched_set_scale(s, 0), DS_EINVAL, "scale");
  ds_sched_free(s);

  s = ds_sched_new("cyclic", NAN);
  expect_error(ds_sched_set_str(s, "mode", "triangle"), DS_EINVAL, "triangular2");
  assert_int_equal(ds_sched_set_str(s, "cycle_momentum", "yes"), DS_OK); /* kv.h spellings */
  expect_error(ds_sched_set_str(s, "cycle_momentum", "maybe"), DS_EINVAL, "cycle_momentum");
  expect_error(ds_sched_set(s, "step_size_up", (double[]){0}, 1), DS_EINVAL, "step_size_up");
  expect_error(ds_sched_validate(s), DS_EINVAL, "base_lr");
  ds_sched_free(s);

  s = ds_sched_new("onecycle", NAN);
  assert_int_equal(ds_sched_set_str(s, "max_lr", "1"), DS_OK);
  assert_int_equal(ds_sched_set_str(s, "total_steps", "10"), DS_OK);
  assert_int_equal(ds_sched_set_str(s, "pct_start", "0.1"), DS_OK); /* first phase ends at step 0 */
  expect_error(ds_sched_validate(s), DS_EINVAL, "zero length");
  expect_error(ds_sched_set_str(s, "pct_start", "1.5"), DS_EINVAL, "pct_start");
  expect_error(ds_sched_set_str(s, "anneal_strategy", "cosine"), DS_EINVAL, "cos|linear");
  ds_sched_free(s);

  s = ds_sched_new("multistep", 0.1);
  expect_error(ds_sched_set_str(s, "milestones", "3,-1"), DS_EINVAL, "milestones");
  expect_error(ds_sched_set_str(s, "milestones", "3,4.5"), DS_EINVAL, "integer");
  ds_sched_free(s);

  s = ds_sched_new("constant", 0.1);
  assert_int_equal(ds_sched_set_str(s, "factor", "0"), DS_OK);
  expect_error(ds_sched_validate(s), DS_EINVAL, "factor");
  expect_error(ds_sched_set_str(s, "factor", "1.5"), DS_EINVAL, "factor");
  ds_sched_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_warmup_then_cosine_is_continuous),
      cmocka_unit_test(test_exponential_warmup),
      cmocka_unit_test(test_resume_is_exact),
      cmocka_unit_test(test_steps_per_epoch),
      cmocka_unit_test(test_cycle_ends),
      cmocka_unit_test(test_linear_scaling),
      cmocka_unit_test(test_batch_schedule),
      cmocka_unit_test(test_keywords),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
