/* Shared by the benchmark programs: a monotonic clock and the sgemm peak probe. */
#ifndef DESCENT_BENCH_UTIL_H
#define DESCENT_BENCH_UTIL_H
#include <cblas.h>
#include <stdint.h>
#include <time.h>

#include "descent/descent.h"

static inline double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU seconds used by the process so far (all threads). */
static inline double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best-of-reps GFLOP/s of C = A B for (m x k) (k x n). */
static inline double sgemm_gflops(int m, int n, int k, int reps) {
  float *a = ds_calloc((size_t)m * k, 4), *b = ds_calloc((size_t)k * n, 4),
        *c = ds_calloc((size_t)m * n, 4);
  for (int64_t i = 0; i < (int64_t)m * k; i++)
    a[i] = (float)(i % 7) * 0.1f;
  for (int64_t i = 0; i < (int64_t)k * n; i++)
    b[i] = (float)(i % 5) * 0.1f;
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, k, b, n, 0, c, n);
    double t = now() - t0;
    best = t < best ? t : best;
  }
  ds_free(a);
  ds_free(b);
  ds_free(c);
  return 2.0 * m * n * k / best * 1e-9;
}

#endif
