/* Objectives (objective.h): the TERM family against closed forms computed here in long double,
 * numerical stability at t = +-50 with losses >= 100, the stochastic normaliser and its state,
 * hierarchical weights, annealing, and errors naming the culprit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "descent/descent.h"

static ds_objective *make(const char *name, double tilt) {
  ds_objective *o = ds_objective_new(name);
  assert_non_null(o);
  assert_int_equal(ds_objective_set(o, "tilt", tilt), DS_OK);
  return o;
}

/* (1/t) log mean exp(t l) and the softmax weights, by the definition in long double (fine for the
 * moderate t * l used with it). */
static long double direct(double t, const float *l, int n, long double *w) {
  long double z = 0;
  for (int i = 0; i < n; i++)
    z += expl((long double)t * l[i]);
  for (int i = 0; w && i < n; i++)
    w[i] = expl((long double)t * l[i]) / z;
  return logl(z / n) / t;
}

static void close_to(double got, long double want, double rtol) {
  if (!(fabs(got - (double)want) <= 1e-12 + rtol * fabsl(want)))
    fail_msg("got %.10g, want %.10Lg", got, want);
}

static void test_tilted_closed_form(void **state) {
  (void)state;
  const float l[5] = {0.3f, 1.7f, 0.05f, 2.4f, 0.9f};
  float w[5];
  long double ww[5];
  for (double t = -3; t <= 3; t += 1.5) {
    if (t == 0) continue;
    ds_objective *o = make("tilted", t);
    double v;
    assert_int_equal(ds_objective_weights(o, l, NULL, 5, 0, 0, true, w, &v), DS_OK);
    close_to(v, direct(t, l, 5, ww), 1e-12);
    for (int i = 0; i < 5; i++)
      close_to(w[i], ww[i], 1e-6); /* float weights */
    ds_objective_free(o);
  }
}

/* t = 0 is the mean: weights exactly 1/b (as ds_graph_backward's own), value the mean loss. */
static void test_zero_tilt_is_mean(void **state) {
  (void)state;
  const float l[3] = {1, 2, 4};
  float w[3];
  double v;
  const char *names[] = {"mean", "tilted", "hierarchical"};
  for (int k = 0; k < 3; k++) {
    ds_objective *o = make(names[k], 0);
    assert_true(ds_objective_is_mean(o));
    assert_int_equal(ds_objective_weights(o, l, (const float[]){0, 1, 0}, 3, 0, 0, true, w, &v),
                     DS_OK);
    for (int i = 0; i < 3; i++)
      assert_true(w[i] == 1.0f / 3.0f);
    close_to(v, 7.0L / 3, 1e-15);
    ds_objective_free(o);
  }
  ds_objective *o = make("tilted", 0);
  assert_int_equal(ds_objective_set(o, "tilt_end", 1), DS_OK);
  assert_false(ds_objective_is_mean(o)); /* annealed away from 0 */
  ds_objective_free(o);
}

/* t = +-50 with losses >= 100: exp(t l) over/underflows double; log-sum-exp keeps it finite. */
static void test_stable_at_large_tilt(void **state) {
  (void)state;
  const float l[4] = {100.0f, 101.0f, 140.0f, 120.0f};
  const float grp[4] = {0, 0, 1, 1};
  float w[4];
  double v;
  ds_objective *o = make("tilted", 50);
  assert_int_equal(ds_objective_weights(o, l, NULL, 4, 0, 0, true, w, &v), DS_OK);
  close_to(v, 140.0L + logl(0.25L) / 50, 1e-12); /* the max dominates */
  assert_true(w[2] == 1.0f && w[0] == 0.0f && w[3] == 0.0f);
  ds_objective_free(o);
  o = make("tilted", -50);
  assert_int_equal(ds_objective_weights(o, l, NULL, 4, 0, 0, true, w, &v), DS_OK);
  /* the min dominates: (1/t) log((e^{-5000} + e^{-5050} + ...)/4) */
  close_to(v, 100.0L + logl((1 + expl(-50.0L)) / 4) / -50, 1e-12);
  assert_true(fabsf(w[0] - 1.0f) < 1e-6f && w[2] == 0.0f);
  ds_objective_free(o);
  o = make("tilted", 50); /* stochastic: the running normaliser in log space */
  assert_int_equal(ds_objective_set(o, "tilt_average", 0.1), DS_OK);
  for (int k = 0; k < 3; k++) {
    float shifted[4];
    for (int i = 0; i < 4; i++)
      shifted[i] = l[i] + 10.0f * (float)k;
    assert_int_equal(ds_objective_weights(o, shifted, NULL, 4, k, 3, true, w, &v), DS_OK);
    for (int i = 0; i < 4; i++)
      assert_true(isfinite(w[i]) && w[i] >= 0);
  }
  ds_objective_free(o);
  for (double T = -50; T <= 50; T += 100) {
    o = make("hierarchical", T);
    assert_int_equal(ds_objective_set(o, "group_tilt", T), DS_OK);
    assert_int_equal(ds_objective_weights(o, l, grp, 4, 0, 0, true, w, &v), DS_OK);
    double sum = 0;
    for (int i = 0; i < 4; i++)
      sum += w[i];
    assert_true(isfinite(v) && fabs(sum - 1) < 1e-6);
    if (T > 0) assert_true(fabsf(w[2] - 1.0f) < 1e-6f); /* the worst sample of the worst group */
    if (T < 0) assert_true(fabsf(w[0] - 1.0f) < 1e-6f);
    ds_objective_free(o);
  }
}

/* Stochastic TERM (Li et al. 2021, Algorithm 2): Z_1 = the first batch's mean exp(t l) (weights =
 * batch softmax), then Z <- (1-a) Z + a mean exp(t l), w_i = exp(t l_i) / (b Z). */
static void test_stochastic_normaliser(void **state) {
  (void)state;
  const float b1[3] = {0.5f, 1.0f, 2.0f}, b2[3] = {0.2f, 0.4f, 3.0f};
  const double t = 1.2, a = 0.3;
  ds_objective *o = make("tilted", t);
  assert_int_equal(ds_objective_set(o, "tilt_average", a), DS_OK);
  assert_int_equal(ds_objective_state_count(o), 2);
  float w[3];
  long double ww[3];
  double v;
  assert_int_equal(ds_objective_weights(o, b1, NULL, 3, 0, 0, true, w, &v), DS_OK);
  direct(t, b1, 3, ww);
  for (int i = 0; i < 3; i++)
    close_to(w[i], ww[i], 1e-6);
  long double z1 = 0, z2 = 0;
  for (int i = 0; i < 3; i++)
    z1 += expl(t * b1[i]) / 3, z2 += expl(t * b2[i]) / 3;
  long double z = (1 - a) * z1 + a * z2;
  /* update = false: weights with the would-be normaliser, state kept */
  const char *name;
  double *st;
  assert_int_equal(ds_objective_state(o, 0, &name, &st), DS_OK);
  assert_string_equal(name, "log_normaliser");
  double before = *st;
  assert_int_equal(ds_objective_weights(o, b2, NULL, 3, 1, 0, false, w, &v), DS_OK);
  assert_true(*st == before);
  assert_int_equal(ds_objective_weights(o, b2, NULL, 3, 1, 0, true, w, &v), DS_OK);
  for (int i = 0; i < 3; i++)
    close_to(w[i], expl(t * b2[i]) / (3 * z), 1e-6);
  close_to(*st, logl(z), 1e-12);
  close_to(v, direct(t, b2, 3, NULL), 1e-12); /* the reported value is the batch's tilted risk */
  ds_objective_reset(o);
  assert_true(*st == 0);
  ds_objective_free(o);
}

/* Hierarchical TERM against its definition: groups {0: l0, l1, l3}, {2: l2}. */
static void test_hierarchical_closed_form(void **state) {
  (void)state;
  const float l[4] = {0.4f, 1.1f, 2.0f, 0.7f}, grp[4] = {0, 0, 2, 0};
  const double t = -0.8, T = 1.7;
  ds_objective *o = make("hierarchical", t);
  assert_int_equal(ds_objective_set(o, "group_tilt", T), DS_OK);
  float w[4];
  double v;
  assert_int_equal(ds_objective_weights(o, l, grp, 4, 0, 0, true, w, &v), DS_OK);
  const float g0[3] = {l[0], l[1], l[3]};
  long double u0[3], r0 = direct(t, g0, 3, u0), r2 = l[2];
  long double s = 3 * expl(T * r0) + 1 * expl(T * r2);
  close_to(v, logl(s / 4) / T, 1e-12);
  close_to(w[0], 3 * expl(T * r0) / s * u0[0], 1e-6);
  close_to(w[1], 3 * expl(T * r0) / s * u0[1], 1e-6);
  close_to(w[3], 3 * expl(T * r0) / s * u0[2], 1e-6);
  close_to(w[2], expl(T * r2) / s, 1e-6);
  ds_objective_free(o);
}

static void test_anneal(void **state) {
  (void)state;
  ds_objective *o = make("tilted", -2);
  assert_true(ds_objective_tilt_at(o, 5, 11) == -2); /* no tilt_end: constant */
  assert_int_equal(ds_objective_set(o, "tilt_end", 1), DS_OK);
  assert_true(ds_objective_tilt_at(o, 0, 11) == -2);
  assert_true(fabs(ds_objective_tilt_at(o, 5, 11) + 0.5) < 1e-15);
  assert_true(ds_objective_tilt_at(o, 10, 11) == 1);
  assert_true(ds_objective_tilt_at(o, 20, 11) == 1);
  const float l[2] = {1, 3};
  float w0[2], w1[2];
  assert_int_equal(ds_objective_weights(o, l, NULL, 2, 0, 11, true, w0, NULL), DS_OK);
  assert_int_equal(ds_objective_weights(o, l, NULL, 2, 10, 11, true, w1, NULL), DS_OK);
  assert_true(w0[0] > w0[1] && w1[1] > w1[0]); /* t < 0 at the start, t > 0 at the end */
  ds_objective_free(o);
}

static void expect_error(ds_status st, ds_status want, const char *text) {
  assert_int_equal(st, want);
  if (!strstr(ds_last_error(), text)) fail_msg("message '%s' lacks '%s'", ds_last_error(), text);
}

static void test_errors(void **state) {
  (void)state;
  assert_null(ds_objective_new("tilded"));
  assert_non_null(strstr(ds_last_error(), "tilded"));
  ds_objective *o = ds_objective_new("tilted");
  expect_error(ds_objective_set(o, "tlit", 1), DS_ENOTFOUND, "tlit");
  expect_error(ds_objective_set(o, "group_tilt", 1), DS_EINVAL, "group_tilt");
  expect_error(ds_objective_set(o, "tilt_average", 1.5), DS_EINVAL, "tilt_average");
  expect_error(ds_objective_set(o, "tilt", INFINITY), DS_EINVAL, "tilt");
  const float bad[2] = {1, NAN};
  float w[2];
  expect_error(ds_objective_weights(o, bad, NULL, 2, 0, 0, true, w, NULL), DS_ENUMERIC,
               "not finite");
  ds_objective_free(o);
  o = make("hierarchical", 1);
  expect_error(ds_objective_set(o, "tilt_average", 0.5), DS_EINVAL, "tilt_average");
  const float l[2] = {1, 2};
  expect_error(ds_objective_weights(o, l, NULL, 2, 0, 0, true, w, NULL), DS_EINVAL, "groups");
  expect_error(ds_objective_weights(o, l, (const float[]){0, 1.5f}, 2, 0, 0, true, w, NULL),
               DS_EINVAL, "sample 1");
  assert_int_equal(ds_objective_state_count(o), 0);
  ds_objective_free(o);
  o = ds_objective_new("mean");
  expect_error(ds_objective_set(o, "tilt", 1), DS_EINVAL, "tilt");
  ds_objective_free(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tilted_closed_form),
      cmocka_unit_test(test_zero_tilt_is_mean),
      cmocka_unit_test(test_stable_at_large_tilt),
      cmocka_unit_test(test_stochastic_normaliser),
      cmocka_unit_test(test_hierarchical_closed_form),
      cmocka_unit_test(test_anneal),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
