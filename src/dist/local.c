/* Data parallelism without MPI (a build with DESCENT_MPI off): one process, rank 0 of 1; every
 * reduction is the identity (dist.h). */
#include <stdlib.h>

#include "descent/alloc.h"
#include "descent/dist.h"

struct ds_dist {
  ds_dist_options o;
};

ds_dist_options ds_dist_options_default(void) {
  return (ds_dist_options){.bucket_floats = 262144, .timeout_s = 300};
}
bool ds_dist_available(void) { return false; }

ds_dist *ds_dist_init(int *argc, char ***argv, const ds_dist_options *o) {
  (void)argc;
  (void)argv;
  ds_dist *d = ds_calloc(1, sizeof *d);
  if (d) d->o = o ? *o : ds_dist_options_default();
  return d;
}

void ds_dist_finalize(ds_dist *d) { ds_free(d); }
void ds_dist_abort(ds_dist *d, int code) {
  (void)d;
  exit(code);
}
int ds_dist_rank(const ds_dist *d) { return (void)d, 0; }
int ds_dist_size(const ds_dist *d) { return (void)d, 1; }
ds_status ds_dist_sum_f32(ds_dist *d, float *x, int64_t n) {
  return (void)d, (void)x, (void)n, DS_OK;
}
ds_status ds_dist_sum_f64(ds_dist *d, double *x, int64_t n) {
  return (void)d, (void)x, (void)n, DS_OK;
}
ds_status ds_dist_broadcast(ds_dist *d, void *x, size_t bytes) {
  return (void)d, (void)x, (void)bytes, DS_OK;
}
ds_status ds_dist_agree(ds_dist *d, ds_status st) { return (void)d, st; }
bool ds_dist_any(ds_dist *d, bool flag) { return (void)d, flag; }
ds_status ds_dist_check_same(ds_dist *d, const void *data, size_t n, const char *what) {
  return (void)d, (void)data, (void)n, (void)what, DS_OK;
}
ds_status ds_dist_grad_begin(ds_dist *d, float *grad, int64_t n) {
  return (void)d, (void)grad, (void)n, DS_OK;
}
void ds_dist_grad_ready(void *ctx, int64_t offset) { (void)ctx, (void)offset; }
ds_status ds_dist_grad_finish(ds_dist *d) { return (void)d, DS_OK; }
double ds_dist_wait_seconds(const ds_dist *d, int64_t *steps) {
  (void)d;
  if (steps) *steps = 0;
  return 0;
}
void ds_dist_reset_stats(ds_dist *d) { (void)d; }
