/* Mean-field calculator: ReLU in closed form, tanh against an independent computation written here
 * (composite Simpson quadrature + fixed-point iteration + bisection, sharing no code with the
 * library's Gauss-Hermite rule), phase structure, the NF gamma, and the `descent meanfield` CLI. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "descent/analysis.h"
#include "testutil.h"

/* E[g(sqrt(q) z)] by composite Simpson on [-12, 12] with 6000 intervals (error << 1e-9 for the
 * smooth integrands below at q <= 4). which: 0 tanh^2, 1 tanh'^2. */
static double simpson(double q, int which) {
  const int n = 6000;
  const double a = -12, b = 12, h = (b - a) / n;
  double s = 0;
  for (int i = 0; i <= n; i++) {
    double z = a + i * h, t = tanh(sqrt(q) * z);
    double f =
        (which == 0 ? t * t : (1 - t * t) * (1 - t * t)) * exp(-0.5 * z * z) / sqrt(2 * M_PI);
    s += f * (i == 0 || i == n ? 1 : (i % 2 ? 4 : 2));
  }
  return s * h / 3;
}

static double ref_qstar(double sw, double sb) {
  double q = 1;
  for (int it = 0; it < 2000; it++) {
    double qn = sw * sw * simpson(q, 0) + sb * sb;
    if (fabs(qn - q) < 1e-13) return qn;
    q = qn;
  }
  return q;
}

static double ref_chi1(double sw, double sb) { return sw * sw * simpson(ref_qstar(sw, sb), 1); }

static double ref_critical(double sb) {
  double lo = 0.5, hi = 3.0;
  for (int it = 0; it < 40; it++) {
    double mid = 0.5 * (lo + hi);
    if (ref_chi1(mid, sb) < 1)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

/* Correlation map of tanh by a 2-D composite Simpson rule on [-8, 8]^2 (600 intervals per axis):
 * value (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q and slope sigma_w^2 E[phi'(u1) phi'(u2)]. */
static void ref_cmap(double q, double c, double sw, double sb, double *val, double *slope) {
  const int n = 600;
  const double a = -8, h = 16.0 / n, sc = sqrt(1 - c * c), sq = sqrt(q);
  double e = 0, d = 0;
  for (int i = 0; i <= n; i++) {
    double z1 = a + i * h, w1 = (i == 0 || i == n ? 1 : (i % 2 ? 4 : 2)) * exp(-0.5 * z1 * z1);
    double t1 = tanh(sq * z1);
    for (int j = 0; j <= n; j++) {
      double z2 = a + j * h, w2 = (j == 0 || j == n ? 1 : (j % 2 ? 4 : 2)) * exp(-0.5 * z2 * z2);
      double t2 = tanh(sq * (c * z1 + sc * z2));
      e += w1 * w2 * t1 * t2;
      d += w1 * w2 * (1 - t1 * t1) * (1 - t2 * t2);
    }
  }
  double norm = (h / 3) * (h / 3) / (2 * M_PI);
  *val = (sw * sw * e * norm + sb * sb) / q;
  *slope = sw * sw * d * norm;
}

static void test_correlation_fixed_point(void **s) {
  (void)s;
  ds_meanfield m;
  assert_int_equal(ds_meanfield_eval(DS_ACT_TANH, 1.5, 0.2, &m), DS_OK);
  double val, slope;
  ref_cmap(m.q_star, m.c_star, 1.5, 0.2, &val, &slope);
  printf("c* %.8f: reference map gives %.8f, chi_c %.8f vs %.8f\n", m.c_star, val, m.chi_c, slope);
  assert_true(fabs(val - m.c_star) < 1e-6); /* c* is a fixed point of the independent map */
  assert_true(fabs(slope - m.chi_c) < 1e-6);
}

static void test_relu_exact(void **s) {
  (void)s;
  ds_meanfield m;
  assert_int_equal(ds_meanfield_critical(DS_ACT_RELU, 0.0, &m), DS_OK);
  assert_true(fabs(m.sigma_w - sqrt(2.0)) < 1e-12);
  assert_true(fabs(m.chi1 - 1.0) < 1e-12);
  assert_true(fabs(m.q_star - 1.0) < 1e-9); /* every q is fixed; the iteration stays at q = 1 */
  /* chi1 = sigma_w^2 / 2 exactly for ReLU, whatever q */
  assert_int_equal(ds_meanfield_eval(DS_ACT_RELU, 1.0, 0.1, &m), DS_OK);
  assert_true(fabs(m.chi1 - 0.5) < 1e-12);
  /* q* = sigma_b^2 / (1 - sigma_w^2 / 2) in the ordered phase */
  assert_true(fabs(m.q_star - 0.01 / 0.5) < 1e-9);
  assert_true(m.c_star == 1.0);
  assert_true(fabs(m.xi_c + 1.0 / log(0.5)) < 1e-9);
  /* chaotic ReLU with a bias: the length map diverges */
  assert_int_equal(ds_meanfield_eval(DS_ACT_RELU, 2.0, 0.1, &m), DS_OK);
  assert_true(isinf(m.q_star));
  /* E[relu(z)^2] = 1/2 exactly: the rule has no node at the kink */
  assert_true(fabs(ds_meanfield_expect(DS_ACT_RELU, 1, 1.0) - 0.5) < 1e-13);
}

static void test_tanh_critical_vs_simpson(void **s) {
  (void)s;
  const double sbs[] = {0.05, 0.1, 0.2, 0.3};
  for (int i = 0; i < 4; i++) {
    ds_meanfield m;
    assert_int_equal(ds_meanfield_critical(DS_ACT_TANH, sbs[i], &m), DS_OK);
    double ref = ref_critical(sbs[i]);
    printf("tanh sigma_b %.2f: sigma_w* %.6f (reference %.6f), q* %.6f, chi1 %.6f\n", sbs[i],
           m.sigma_w, ref, m.q_star, m.chi1);
    assert_true(fabs(m.sigma_w - ref) < 1e-3); /* the bound on sigma_w */
    assert_true(fabs(m.chi1 - 1.0) < 1e-6);
    assert_true(fabs(m.q_star - ref_qstar(m.sigma_w, sbs[i])) < 1e-6);
    assert_true(m.c_star == 1.0);
    assert_true(m.xi_c > 1000); /* depth scale diverges at criticality */
  }
}

static void test_tanh_point_and_phases(void **s) {
  (void)s;
  ds_meanfield m;
  assert_int_equal(ds_meanfield_eval(DS_ACT_TANH, 1.5, 0.2, &m), DS_OK);
  assert_true(fabs(m.q_star - ref_qstar(1.5, 0.2)) < 1e-8);
  assert_true(fabs(m.chi1 - ref_chi1(1.5, 0.2)) < 1e-8);
  /* chaotic: chi1 > 1, correlations settle below 1 with a stable slope */
  assert_true(m.chi1 > 1 && m.c_star < 1 && m.c_star > 0 && m.chi_c < 1);
  assert_true(isfinite(m.xi_c) && m.xi_c > 0);
  /* ordered: chi1 < 1, c* = 1 and xi_c = -1 / ln chi1 */
  assert_int_equal(ds_meanfield_eval(DS_ACT_TANH, 0.7, 0.2, &m), DS_OK);
  assert_true(m.chi1 < 1 && m.c_star == 1.0);
  assert_true(fabs(m.xi_c + 1.0 / log(m.chi1)) < 1e-12);
  /* sigmoid is never critical at small sigma_w but is somewhere */
  assert_int_equal(ds_meanfield_critical(DS_ACT_SIGMOID, 0.1, &m), DS_OK);
  assert_true(m.sigma_w > 4 && fabs(m.chi1 - 1) < 1e-6);
  /* errors name the value */
  assert_int_equal(ds_meanfield_eval(DS_ACT_TANH, -1, 0, &m), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "sigma_w"));
}

static void test_nf_gamma(void **s) {
  (void)s;
  /* relu: 1 / sqrt(1/2 - 1/(2 pi)) exactly */
  assert_true(fabs(ds_act_nf_gamma(DS_ACT_RELU) - 1.0 / sqrt(0.5 - 0.5 / M_PI)) < 1e-10);
  /* the NFNet reference values were estimated by sampling: agree within 2e-3 */
  assert_true(fabs(ds_act_nf_gamma(DS_ACT_TANH) - 1.5939) < 2e-3);
  assert_true(fabs(ds_act_nf_gamma(DS_ACT_GELU) - 1.7015) < 2e-3);
}

/* env: prefix such as "ASAN_OPTIONS=detect_leaks=0" (PLplot's font cache stays allocated at exit
 * under sanitizer builds), or "". */
static int run_cli_env(const char *env, const char *args, char *out, int size) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s %s meanfield %s 2>&1", env, DS_CLI, args);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t got = fread(out, 1, (size_t)size - 1, p);
  out[got] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
static int run_cli(const char *args, char *out, int size) {
  return run_cli_env("", args, out, size);
}

static void test_cli(void **s) {
  (void)s;
  char out[4096];
  assert_int_equal(run_cli("--act relu --sigma-b 0", out, sizeof out), 0);
  assert_non_null(strstr(out, "sigma_w* = 1.414214"));
  assert_int_equal(run_cli("--act tanh --sigma-b 0.05 --sigma-w 1.5", out, sizeof out), 0);
  assert_non_null(strstr(out, "chaotic"));
  assert_int_equal(run_cli("--act nope", out, sizeof out), 2);
  assert_non_null(strstr(out, "nope"));
  assert_int_equal(run_cli("--act tanh --sigma-b -1", out, sizeof out), 2);
  assert_int_equal(run_cli("--act tanh --sigma-w abc", out, sizeof out), 2);
  assert_non_null(strstr(out, "'abc'"));
  /* GELU has no sigma_w where chi1 crosses 1 continuously from q = 1: a clear runtime error */
  assert_int_equal(run_cli("--act gelu --sigma-b 0.1", out, sizeof out), 1);
  assert_non_null(strstr(out, "'gelu'"));
  assert_int_equal(run_cli_env("ASAN_OPTIONS=detect_leaks=0",
                               "--act tanh --plot /tmp/ds_test_meanfield_phase.csv --grid 6", out,
                               sizeof out),
                   0);
  FILE *f = fopen("/tmp/ds_test_meanfield_phase.csv", "r");
  assert_non_null(f);
  char line[256];
  assert_non_null(fgets(line, sizeof line, f));
  assert_non_null(strstr(line, "sigma_w,sigma_b,q_star,chi1"));
  int rows = 0;
  while (fgets(line, sizeof line, f))
    rows++;
  fclose(f);
  assert_int_equal(rows, 36);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_relu_exact),
      cmocka_unit_test(test_tanh_critical_vs_simpson),
      cmocka_unit_test(test_tanh_point_and_phases),
      cmocka_unit_test(test_nf_gamma),
      cmocka_unit_test(test_correlation_fixed_point),
      cmocka_unit_test(test_cli),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
