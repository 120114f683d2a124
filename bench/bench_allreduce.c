/* Allreduce bandwidth of a flat gradient buffer (docs/distributed.md): the bucketed reduction of
 * the trainer (ds_dist_grad_begin / _ready / _finish, buckets of 1 MiB started from the end of the
 * buffer as backward would) against one raw MPI_Allreduce of the whole buffer (ds_dist_sum_f32),
 * at 1M and 16M floats. Run under mpirun:
 *   mpirun -np 2 build/bench_allreduce [reps] [out.json]
 * Prints, per size and method, the median time over reps (after 2 warm-up rounds), the algorithm
 * bandwidth bytes / t and the ring bus bandwidth 2 (K-1)/K bytes / t; rank 0 writes the JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "descent/alloc.h"
#include "descent/dist.h"
#include "descent/io.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* One reduction of x[0..n): raw (one allreduce) or bucketed (every bucket started in turn from the
 * end, as the gradient-ready hook does when backward finishes them, then waited for). */
static int reduce(ds_dist *d, float *x, int64_t n, int64_t bucket, int bucketed) {
  if (!bucketed) return ds_dist_sum_f32(d, x, n);
  int st = ds_dist_grad_begin(d, x, n);
  for (int64_t off = n - bucket; !st && off > 0; off -= bucket)
    ds_dist_grad_ready(d, off);
  return st ? st : ds_dist_grad_finish(d);
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 15;
  const char *out = argc > 2 ? argv[2] : NULL;
  ds_dist_options o = ds_dist_options_default();
  ds_dist *d = ds_dist_init(&argc, &argv, &o);
  if (!d) {
    fprintf(stderr, "bench_allreduce: %s\n", ds_last_error());
    return 1;
  }
  int k = ds_dist_size(d), rank = ds_dist_rank(d);
  if (k < 2) {
    if (rank == 0)
      printf("bench_allreduce: one process (%s): run it under mpirun -np 2\n",
             ds_dist_available() ? "not started by mpirun" : "built without MPI");
    ds_dist_finalize(d);
    return 0;
  }
  static const int64_t sizes[] = {1 << 20, 16 << 20};
  static const char *methods[] = {"raw MPI_Allreduce", "bucketed (1 MiB buckets)"};
  double *t = malloc(sizeof(double) * (size_t)(reps + 2));
  ds_atomic_file *af = out && rank == 0 ? ds_atomic_open(out) : NULL;
  FILE *f = af ? ds_atomic_stream(af) : NULL;
  if (f) fprintf(f, "{\"processes\": %d, \"reps\": %d, \"results\": [", k, reps);
  int first = 1, rc = 0;
  for (int si = 0; si < 2; si++) {
    int64_t n = sizes[si];
    float *x = ds_malloc(sizeof(float) * (size_t)n);
    if (!x) return 1;
    for (int m = 0; m < 2; m++) {
      for (int r = 0; r < reps + 2; r++) {
        for (int64_t i = 0; i < n; i++)
          x[i] = 1.0f / (float)(i % 97 + 1);
        ds_dist_any(d, false); /* a barrier: both ranks start together */
        double t0 = now();
        if (reduce(d, x, n, o.bucket_floats, m)) {
          fprintf(stderr, "bench_allreduce: %s\n", ds_last_error());
          rc = 1;
        }
        t[r] = now() - t0;
      }
      /* every element is k times its own value: the reduction really happened */
      if (x[5] != (float)k * (1.0f / 6.0f)) {
        fprintf(stderr, "bench_allreduce: wrong sum %g\n", x[5]);
        rc = 1;
      }
      qsort(t + 2, (size_t)reps, sizeof(double), cmp);
      double med = t[2 + reps / 2], bytes = 4.0 * (double)n;
      double algbw = bytes / med / 1e9, busbw = algbw * 2.0 * (k - 1) / k;
      if (rank == 0)
        printf("%9lld floats  %-26s median %8.3f ms  (min %8.3f)  algbw %6.2f GB/s  busbw %6.2f "
               "GB/s\n",
               (long long)n, methods[m], 1e3 * med, 1e3 * t[2], algbw, busbw);
      if (f)
        fprintf(
            f,
            "%s\n  {\"floats\": %lld, \"method\": \"%s\", \"median_ms\": %.4f, \"min_ms\": %.4f, "
            "\"algbw_GBps\": %.3f, \"busbw_GBps\": %.3f}",
            first ? "" : ",", (long long)n, m ? "bucketed" : "raw", 1e3 * med, 1e3 * t[2], algbw,
            busbw);
      first = 0;
    }
    ds_free(x);
  }
  if (f) {
    fprintf(f, "\n]}\n");
    if (ds_atomic_commit(af)) rc = 1;
  }
  free(t);
  ds_dist_finalize(d);
  return rc;
}
