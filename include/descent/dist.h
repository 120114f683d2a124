/* descent — data parallelism over processes (Open MPI).
 *
 * A ds_dist is this process's place among K processes started by `mpirun -np K`: its rank and the
 * communicator. The trainer takes one (ds_trainer_options.dist) and then runs synchronous data
 * parallelism as PyTorch DDP and Horovod do: every rank holds the whole model, the loader hands
 * each rank a disjoint equal share of every global batch (ds_loader_options.shard_*), and one
 * averaged allreduce of the flat gradient buffer per step makes the parameters identical on every
 * rank. The reduction runs in buckets: ds_dist_grad_ready, installed as the graph's gradient-ready
 * hook, starts an MPI_Iallreduce for every bucket whose gradients are final while backward goes on
 * (overlap), and ds_dist_grad_finish waits for the rest.
 *
 * Built without MPI (or run without mpirun) the same API is a single process: rank 0 of 1, every
 * reduction the identity. ds_dist_available says which build this is.
 *
 * Example (given argc, argv and a trainer's options to):
 *   ds_dist *d = ds_dist_init(&argc, &argv, NULL);     // MPI_Init when built with MPI
 *   to.dist = ds_dist_size(d) > 1 ? d : NULL;
 *   ...
 *   ds_dist_finalize(d);
 */
#ifndef DESCENT_DIST_H
#define DESCENT_DIST_H
#include "export.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

typedef struct ds_dist ds_dist;

typedef struct {
  int64_t bucket_floats; /* gradient floats per allreduce bucket (default 262144 = 1 MiB) */
  double timeout_s;      /* waiting longer than this inside one reduction ends this process with a
                            message instead of hanging (mpirun then stops the others); 0: off;
                            default 300 */
} ds_dist_options;

/* bucket_floats 262144, timeout_s 300. */
ds_dist_options ds_dist_options_default(void);

/* True when the library was built with MPI (CMake option DESCENT_MPI). */
bool ds_dist_available(void);

/* Joins the processes of this job: MPI_Init (funneled threads) unless MPI is already initialised,
 * over MPI_COMM_WORLD with errors returned rather than aborting. A process not started by a
 * launcher (no OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE in its environment) does not start MPI
 * at all and is a single process, as is every process of a build without MPI.
 * argc/argv may be NULL. NULL + error if MPI fails to start. Release with ds_dist_finalize. */
ds_dist *ds_dist_init(int *argc, char ***argv, const ds_dist_options *o);
/* Frees d and finalises MPI if ds_dist_init initialised it. NULL is fine. */
void ds_dist_finalize(ds_dist *d);
/* Ends every process of the job now with exit code `code` (MPI_Abort; exit without MPI). For a
 * program's fatal error on one rank when the others may be inside a collective. */
void ds_dist_abort(ds_dist *d, int code);

/* This process's rank (0..size-1) and the number of processes. NULL: rank 0 of 1. */
int ds_dist_rank(const ds_dist *d);
int ds_dist_size(const ds_dist *d);

/* In-place sums over all ranks (blocking): floats, doubles. */
ds_status ds_dist_sum_f32(ds_dist *d, float *x, int64_t n);
ds_status ds_dist_sum_f64(ds_dist *d, double *x, int64_t n);
/* In place: the `bytes` bytes at x become rank 0's. */
ds_status ds_dist_broadcast(ds_dist *d, void *x, size_t bytes);
/* The worst status over all ranks (the most negative; 0 if every rank passes st = 0). A rank that
 * passes 0 while another failed gets DS_EINTERRUPTED with a message naming the failed rank. */
ds_status ds_dist_agree(ds_dist *d, ds_status st);
/* True on every rank if flag is true on any. */
bool ds_dist_any(ds_dist *d, bool flag);
/* Checks that every rank holds the same n bytes (a 64-bit hash compared with rank 0's): DS_EINVAL
 * on every rank, naming `what` and the first rank that differs, on a mismatch. */
ds_status ds_dist_check_same(ds_dist *d, const void *data, size_t n, const char *what);

/* ---- the bucketed gradient allreduce of one step -------------------------------------------- */

/* Starts a step's reduction of grad[0..n) (the flat gradient buffer): nothing is sent yet. */
ds_status ds_dist_grad_begin(ds_dist *d, float *grad, int64_t n);
/* The graph's gradient-ready hook (graph.h): ctx is the ds_dist; starts MPI_Iallreduce (sum) of
 * each bucket lying inside [offset, n). */
void ds_dist_grad_ready(void *ctx, int64_t offset);
/* Starts the buckets not yet started and waits for all: grad holds the sum over ranks. Errors of
 * the whole reduction are returned here. */
ds_status ds_dist_grad_finish(ds_dist *d);
/* Seconds spent waiting in ds_dist_grad_finish (communication not overlapped with backward), and
 * reductions finished, since the last reset. */
double ds_dist_wait_seconds(const ds_dist *d, int64_t *steps);
void ds_dist_reset_stats(ds_dist *d);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
