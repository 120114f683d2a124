/* ds_pca_directions: points on a known plane give that plane back (unit, orthogonal directions,
 * all the variance, coordinates that rebuild the points), points off it explain less than all,
 * and too few or collinear points are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "descent/descent.h"
#include "testutil.h"

#define N 1000 /* parameters */
#define K 6    /* points along the path */

static double dot(const float *a, const float *b) {
  double s = 0;
  for (int i = 0; i < N; i++)
    s += (double)a[i] * b[i];
  return s;
}

/* Unit vectors u, v (orthogonal) and a third one t orthogonal to both, from uniform noise. */
static void basis(float *u, float *v, float *t) {
  float *b[3] = {u, v, t};
  for (int j = 0; j < 3; j++) {
    tu_fill_uniform(b[j], N, -1, 1, 11 + (uint64_t)j);
    for (int p = 0; p < j; p++) {
      double c = dot(b[j], b[p]);
      for (int i = 0; i < N; i++)
        b[j][i] -= (float)(c * b[p][i]);
    }
    double n = sqrt(dot(b[j], b[j]));
    for (int i = 0; i < N; i++)
      b[j][i] /= (float)n;
  }
}

/* w_i = final + a_i u + b_i v + off_i t: a spiral into final, off the plane by `off`. */
static void path_points(float **w, float *final, const float *u, const float *v, const float *t,
                        double off) {
  tu_fill_uniform(final, N, -0.5f, 0.5f, 3);
  for (int k = 0; k < K; k++) {
    double r = 3.0 * (K - 1 - k) / (K - 1), ang = 1.3 * k;
    double a = r * cos(ang), b = 0.4 * r * sin(ang), c = off * ((k % 2) ? 1 : -1);
    for (int i = 0; i < N; i++)
      w[k][i] = (float)(final[i] + a * u[i] + b * v[i] + c * t[i]);
  }
}

static void test_plane_recovered(void **state) {
  (void)state;
  float *u = malloc(sizeof(float) * N), *v = malloc(sizeof(float) * N),
        *t = malloc(sizeof(float) * N), *final = malloc(sizeof(float) * N),
        *d1 = malloc(sizeof(float) * N), *d2 = malloc(sizeof(float) * N), *w[K];
  for (int k = 0; k < K; k++)
    w[k] = malloc(sizeof(float) * N);
  basis(u, v, t);
  path_points(w, final, u, v, t, 0);
  double ex[2], xy[2 * K];
  assert_int_equal(ds_pca_directions((const float *const *)w, K, final, N, d1, d2, ex, xy), DS_OK);
  assert_true(fabs(dot(d1, d1) - 1) < 1e-5 && fabs(dot(d2, d2) - 1) < 1e-5);
  assert_true(fabs(dot(d1, d2)) < 1e-5);
  /* the directions span {u, v} */
  for (int j = 0; j < 2; j++) {
    const float *d = j ? d2 : d1;
    double in = dot(d, u) * dot(d, u) + dot(d, v) * dot(d, v);
    assert_true(fabs(in - 1) < 1e-4);
  }
  assert_true(ex[0] >= ex[1] && ex[1] > 0);
  assert_true(fabs(ex[0] + ex[1] - 1) < 1e-6);
  /* the coordinates rebuild every point; the first point's are non-negative */
  assert_true(xy[0] >= 0 && xy[1] >= 0);
  for (int k = 0; k < K; k++) {
    double err = 0, size = 0;
    for (int i = 0; i < N; i++) {
      double m = (double)w[k][i] - final[i], r = xy[2 * k] * d1[i] + xy[2 * k + 1] * d2[i];
      err += (m - r) * (m - r);
      size += m * m;
    }
    assert_true(sqrt(err) <= 1e-4 * (sqrt(size) + 1e-3));
  }
  /* off the plane: two directions explain less than all of it */
  path_points(w, final, u, v, t, 0.5);
  assert_int_equal(ds_pca_directions((const float *const *)w, K, final, N, d1, d2, ex, NULL),
                   DS_OK);
  assert_true(ex[0] >= ex[1] && ex[1] >= 0 && ex[0] <= 1);
  assert_true(ex[0] + ex[1] < 0.999 && ex[0] + ex[1] > 0.5);
  /* refused: two points; points on a line */
  assert_int_equal(ds_pca_directions((const float *const *)w, 2, final, N, d1, d2, ex, NULL),
                   DS_EINVAL);
  for (int k = 0; k < K; k++)
    for (int i = 0; i < N; i++)
      w[k][i] = final[i] + (float)k * u[i];
  assert_int_equal(ds_pca_directions((const float *const *)w, K, final, N, d1, d2, ex, NULL),
                   DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "two directions"));
  for (int k = 0; k < K; k++)
    free(w[k]);
  free(u);
  free(v);
  free(t);
  free(final);
  free(d1);
  free(d2);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_plane_recovered)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
