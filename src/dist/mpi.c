/* Data parallelism over Open MPI (built with DESCENT_MPI): the communicator, small reductions, and
 * the bucketed gradient allreduce that overlaps backward (dist.h). A watchdog thread turns a
 * reduction that waits longer than timeout_s into an exit with a message, never a hang. */
#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "descent/alloc.h"
#include "descent/dist.h"

struct ds_dist {
  MPI_Comm comm;
  int rank, size;
  bool owns_mpi; /* ds_dist_init called MPI_Init */
  ds_dist_options o;
  /* the step's gradient reduction: buckets from the end of the buffer, bucket j covering
   * [max(0, n - (j+1) cap), n - j cap) */
  float *grad;
  int64_t n, buckets, started;
  MPI_Request *req;
  int64_t req_cap;
  int err; /* first MPI error of the step's reduction */
  double wait_s;
  int64_t reduced;
  /* watchdog: time a blocking wait began (0: not waiting), what it is */
  _Atomic double waiting_since;
  const char *_Atomic waiting_for;
  atomic_bool quit;
  pthread_t watchdog;
  bool has_watchdog;
};

ds_dist_options ds_dist_options_default(void) {
  return (ds_dist_options){.bucket_floats = 262144, .timeout_s = 300};
}

bool ds_dist_available(void) { return true; }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ds_status mpi_error(const ds_dist *d, int code, const char *what) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, msg, &len);
  return ds_set_error(DS_EIO, "rank %d of %d: %s failed: %s", d->rank, d->size, what, msg);
}

/* Marks the start and end of a blocking wait for the watchdog. */
static void wait_begin(ds_dist *d, const char *what) {
  atomic_store(&d->waiting_for, what);
  atomic_store(&d->waiting_since, now());
}
static void wait_end(ds_dist *d) { atomic_store(&d->waiting_since, 0.0); }

static void *watchdog(void *arg) {
  ds_dist *d = arg;
  while (!atomic_load(&d->quit)) {
    usleep(200000);
    double since = atomic_load(&d->waiting_since);
    if (since > 0 && now() - since > d->o.timeout_s) {
      fprintf(
          stderr,
          "descent: rank %d of %d: waited %.0f s for the other ranks in %s (dist timeout); a rank "
          "has failed or hangs. Stopping.\n",
          d->rank, d->size, now() - since, atomic_load(&d->waiting_for));
      fflush(stderr);
      _exit(3); /* the launcher sees a rank fail and stops the job */
    }
  }
  return NULL;
}

static bool launched(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

ds_dist *ds_dist_init(int *argc, char ***argv, const ds_dist_options *o) {
  ds_dist *d = ds_calloc(1, sizeof *d);
  if (!d) return NULL;
  d->o = o ? *o : ds_dist_options_default();
  d->size = 1;
  if (d->o.bucket_floats < 1) {
    ds_free(d);
    ds_set_error(DS_EINVAL, "dist: bucket_floats %lld must be >= 1", (long long)d->o.bucket_floats);
    return NULL;
  }
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited && !launched()) return d; /* not under mpirun: one process, MPI untouched */
  if (!inited) {
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
      ds_free(d);
      ds_set_error(DS_EIO, "dist: MPI_Init failed");
      return NULL;
    }
    d->owns_mpi = true;
  }
  MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
  MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(d->comm, &d->rank);
  MPI_Comm_size(d->comm, &d->size);
  if (d->size > 1 && d->o.timeout_s > 0)
    d->has_watchdog = pthread_create(&d->watchdog, NULL, watchdog, d) == 0;
  return d;
}

void ds_dist_finalize(ds_dist *d) {
  if (!d) return;
  if (d->has_watchdog) {
    atomic_store(&d->quit, true);
    pthread_join(d->watchdog, NULL);
  }
  if (d->comm != MPI_COMM_NULL && d->comm) MPI_Comm_free(&d->comm);
  if (d->owns_mpi) MPI_Finalize();
  ds_free(d->req);
  ds_free(d);
}

void ds_dist_abort(ds_dist *d, int code) {
  if (d && d->comm) MPI_Abort(d->comm, code);
  exit(code);
}

int ds_dist_rank(const ds_dist *d) { return d ? d->rank : 0; }
int ds_dist_size(const ds_dist *d) { return d ? d->size : 1; }

/* A blocking in-place sum, chunked below INT_MAX elements, watched by the watchdog. */
static ds_status sum(ds_dist *d, void *x, int64_t n, MPI_Datatype t, size_t esize,
                     const char *what) {
  if (!d || d->size == 1 || n <= 0) return DS_OK;
  wait_begin(d, what);
  for (int64_t i = 0; i < n; i += 1 << 30) {
    int c = (int)(n - i < (1 << 30) ? n - i : (1 << 30));
    int e = MPI_Allreduce(MPI_IN_PLACE, (char *)x + (size_t)i * esize, c, t, MPI_SUM, d->comm);
    if (e != MPI_SUCCESS) {
      wait_end(d);
      return mpi_error(d, e, what);
    }
  }
  wait_end(d);
  return DS_OK;
}

ds_status ds_dist_sum_f32(ds_dist *d, float *x, int64_t n) {
  return sum(d, x, n, MPI_FLOAT, sizeof *x, "a sum of floats");
}
ds_status ds_dist_sum_f64(ds_dist *d, double *x, int64_t n) {
  return sum(d, x, n, MPI_DOUBLE, sizeof *x, "a sum of doubles");
}

ds_status ds_dist_broadcast(ds_dist *d, void *x, size_t bytes) {
  if (!d || d->size == 1 || !bytes) return DS_OK;
  wait_begin(d, "a broadcast");
  for (size_t i = 0; i < bytes; i += 1 << 30) {
    int c = (int)(bytes - i < (1u << 30) ? bytes - i : (1u << 30));
    int e = MPI_Bcast((char *)x + i, c, MPI_BYTE, 0, d->comm);
    if (e != MPI_SUCCESS) {
      wait_end(d);
      return mpi_error(d, e, "broadcast");
    }
  }
  wait_end(d);
  return DS_OK;
}

ds_status ds_dist_agree(ds_dist *d, ds_status st) {
  if (!d || d->size == 1) return st;
  int in[2] = {st, d->rank}, out[2];
  wait_begin(d, "an agreement on a status");
  int e = MPI_Allreduce(in, out, 1, MPI_2INT, MPI_MINLOC, d->comm);
  wait_end(d);
  if (e != MPI_SUCCESS) return mpi_error(d, e, "status agreement");
  if (st || !out[0]) return st;
  return ds_set_error(DS_EINTERRUPTED,
                      "rank %d of %d stops: rank %d failed (status %d, see its message)", d->rank,
                      d->size, out[1], out[0]);
}

bool ds_dist_any(ds_dist *d, bool flag) {
  if (!d || d->size == 1) return flag;
  int v = flag, r = 0;
  wait_begin(d, "a stop flag");
  int e = MPI_Allreduce(&v, &r, 1, MPI_INT, MPI_MAX, d->comm);
  wait_end(d);
  return e != MPI_SUCCESS ? true : r != 0;
}

ds_status ds_dist_check_same(ds_dist *d, const void *data, size_t n, const char *what) {
  if (!d || d->size == 1) return DS_OK;
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  uint64_t *all = ds_malloc(sizeof(uint64_t) * (size_t)d->size);
  if (!all) return DS_ENOMEM;
  wait_begin(d, "the settings check");
  int e = MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, d->comm);
  wait_end(d);
  ds_status st = DS_OK;
  if (e != MPI_SUCCESS) st = mpi_error(d, e, "settings check");
  for (int r = 1; !st && r < d->size; r++)
    if (all[r] != all[0])
      st = ds_set_error(DS_EINVAL,
                        "%s differ between rank 0 and rank %d (every rank must be given the same)",
                        what, r);
  ds_free(all);
  return st;
}

/* ---- the bucketed gradient allreduce ---- */

ds_status ds_dist_grad_begin(ds_dist *d, float *grad, int64_t n) {
  if (!d || d->size == 1) return DS_OK;
  int64_t cap = d->o.bucket_floats, nb = (n + cap - 1) / cap;
  if (nb > d->req_cap) { /* the first step only: the model's size does not change */
    MPI_Request *r = ds_malloc(sizeof *r * (size_t)nb);
    if (!r) return DS_ENOMEM;
    ds_free(d->req);
    d->req = r;
    d->req_cap = nb;
  }
  d->grad = grad;
  d->n = n;
  d->buckets = nb;
  d->started = 0;
  d->err = MPI_SUCCESS;
  return DS_OK;
}

void ds_dist_grad_ready(void *ctx, int64_t offset) {
  ds_dist *d = ctx;
  if (!d || d->size == 1 || !d->grad) return;
  int64_t cap = d->o.bucket_floats;
  while (d->started < d->buckets) {
    int64_t j = d->started, hi = d->n - j * cap, lo = hi - cap < 0 ? 0 : hi - cap;
    if (lo < offset) break;
    int e = MPI_Iallreduce(MPI_IN_PLACE, d->grad + lo, (int)(hi - lo), MPI_FLOAT, MPI_SUM, d->comm,
                           &d->req[j]);
    if (e != MPI_SUCCESS && d->err == MPI_SUCCESS) d->err = e;
    if (e != MPI_SUCCESS) d->req[j] = MPI_REQUEST_NULL;
    d->started++;
  }
  /* Open MPI progresses non-blocking collectives only inside MPI calls: poke the ones in flight */
  int flag;
  if (d->started) MPI_Testall((int)d->started, d->req, &flag, MPI_STATUSES_IGNORE);
}

ds_status ds_dist_grad_finish(ds_dist *d) {
  if (!d || d->size == 1 || !d->grad) return DS_OK;
  ds_dist_grad_ready(d, 0);
  double t0 = now();
  wait_begin(d, "the gradient allreduce");
  int e = MPI_Waitall((int)d->buckets, d->req, MPI_STATUSES_IGNORE);
  wait_end(d);
  d->wait_s += now() - t0;
  d->reduced++;
  d->grad = NULL;
  if (d->err != MPI_SUCCESS) return mpi_error(d, d->err, "gradient allreduce");
  if (e != MPI_SUCCESS) return mpi_error(d, e, "gradient allreduce");
  return DS_OK;
}

double ds_dist_wait_seconds(const ds_dist *d, int64_t *steps) {
  if (steps) *steps = d ? d->reduced : 0;
  return d ? d->wait_s : 0;
}

void ds_dist_reset_stats(ds_dist *d) {
  if (!d) return;
  d->wait_s = 0;
  d->reduced = 0;
}
