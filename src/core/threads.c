/* The process-wide thread count of OpenMP and OpenBLAS (threads.h). */
#include <cblas.h>
#include <omp.h>
#include <unistd.h>

#include "descent/threads.h"

int ds_threads_set(int n) {
  if (n <= 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    n = cores > 0 ? (int)cores : 1;
  }
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  return n;
}

int ds_threads_get(void) { return omp_get_max_threads(); }
