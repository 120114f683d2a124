/* Optimizer races on 2-D surfaces: gradients of every surface against central differences, the
 * lecture's claims at the default settings (momentum beats plain SGD down the Rosenbrock valley;
 * adaptive methods escape the saddle first; momentum carries over the ridge of two_minima), and
 * argument checks. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "descent/analysis.h"
#include "descent/descent.h"

static ds_toy_surface surface(const char *name) {
  ds_toy_surface s;
  assert_int_equal(ds_toy_surface_get(name, 10, &s), 0);
  return s;
}

/* Runs a racer with the surface's defaults; returns the result. */
static ds_toy_result race(const char *surf, const char *racer) {
  ds_toy_surface s = surface(surf);
  ds_paramset *ps = ds_toy_params(s.start[0], s.start[1]);
  assert_non_null(ps);
  ds_optim *o = ds_toy_optim_new(racer, ps);
  assert_non_null(o);
  ds_toy_result r;
  assert_int_equal(ds_toy_run(&s, o, ps, ds_toy_default_lr(&s, racer), s.steps, 0.01, NULL, &r), 0);
  ds_optim_free(o);
  ds_paramset_free(ps);
  return r;
}

static void test_gradients(void **state) {
  (void)state;
  const char *names[] = {"saddle", "rosenbrock", "beale", "quadratic", "two_minima"};
  const double pts[3][2] = {{0.3, -0.7}, {-1.2, 1.1}, {2.1, 0.4}};
  for (int k = 0; k < 5; k++) {
    ds_toy_surface s = surface(names[k]);
    for (int p = 0; p < 3; p++) {
      double x = pts[p][0], y = pts[p][1], gx, gy, h = 1e-6;
      ds_toy_eval(&s, x, y, &gx, &gy);
      double fx =
          (ds_toy_eval(&s, x + h, y, NULL, NULL) - ds_toy_eval(&s, x - h, y, NULL, NULL)) / (2 * h);
      double fy =
          (ds_toy_eval(&s, x, y + h, NULL, NULL) - ds_toy_eval(&s, x, y - h, NULL, NULL)) / (2 * h);
      /* tolerance: central differences in double at h = 1e-6 are good to ~1e-8 relative here */
      assert_true(fabs(gx - fx) <= 1e-5 * (1 + fabs(fx)));
      assert_true(fabs(gy - fy) <= 1e-5 * (1 + fabs(fy)));
    }
    /* the minimum is a stationary point with the stated value (not for the saddle's f_min) */
    double gx, gy, f = ds_toy_eval(&s, s.minimum[0], s.minimum[1], &gx, &gy);
    assert_true(fabs(gx) < 1e-9 && fabs(gy) < 1e-9);
    assert_true(fabs(f - s.f_min) < 1e-12);
  }
}

static void test_momentum_beats_sgd_on_rosenbrock(void **state) {
  (void)state;
  ds_toy_result sgd = race("rosenbrock", "sgd"), mom = race("rosenbrock", "momentum");
  assert_true(mom.steps_to_target > 0);
  assert_false(mom.diverged || sgd.diverged);
  /* SGD either never arrives within the default steps or arrives later */
  assert_true(sgd.steps_to_target < 0 || sgd.steps_to_target > mom.steps_to_target);
  assert_true(mom.final_loss < 1e-6 && sgd.final_loss > mom.final_loss);
}

static void test_adaptive_escapes_saddle_first(void **state) {
  (void)state;
  ds_toy_result sgd = race("saddle", "sgd"), adam = race("saddle", "adam"),
                rms = race("saddle", "rmsprop");
  assert_true(adam.steps_to_target > 0 && rms.steps_to_target > 0);
  assert_true(sgd.steps_to_target < 0 || sgd.steps_to_target > adam.steps_to_target);
}

static void test_momentum_crosses_the_ridge(void **state) {
  (void)state;
  ds_toy_result sgd = race("two_minima", "sgd"), mom = race("two_minima", "momentum");
  assert_true(mom.steps_to_target > 0);      /* the global minimum */
  assert_int_equal(sgd.steps_to_target, -1); /* stays in the local one */
}

static void test_bad_input(void **state) {
  (void)state;
  ds_toy_surface s;
  assert_int_equal(ds_toy_surface_get("himmelblau", 10, &s), DS_ENOTFOUND);
  assert_non_null(strstr(ds_last_error(), "himmelblau"));
  assert_int_equal(ds_toy_surface_get("quadratic", 0.5, &s), DS_EINVAL);
  ds_paramset *ps = ds_toy_params(0, 0);
  assert_null(ds_toy_optim_new("heavyball", ps));
  assert_non_null(strstr(ds_last_error(), "heavyball"));
  ds_optim *o = ds_toy_optim_new("adam", ps);
  ds_toy_result r;
  s = surface("saddle");
  assert_int_equal(ds_toy_run(&s, o, ps, -1, 10, 0.01, NULL, &r), DS_EINVAL);
  ds_optim_free(o);
  ds_paramset_free(ps);
  /* an optimizer outside the lecture's seven runs with its own default lr */
  assert_true(fabs(ds_toy_default_lr(&s, "lion") - 1e-4) < 1e-12);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradients),
      cmocka_unit_test(test_momentum_beats_sgd_on_rosenbrock),
      cmocka_unit_test(test_adaptive_escapes_saddle_first),
      cmocka_unit_test(test_momentum_crosses_the_ridge),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
