/* Loss landscapes: filter-normalised random directions (Li et al. 2018) and the loss on a plane
 * through the weights, evaluated in parallel over grid points. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "analysis/analysis_internal.h"
#include "descent/alloc.h"

ds_status ds_filter_normalized_direction(const ds_paramset *ps, uint64_t seed, bool include_bn,
                                         float *dir) {
  if (!ps || !dir) return ds_set_error(DS_EINVAL, "filter-normalised direction: NULL argument");
  ds_rng r;
  ds_rng_seed(&r, seed, DS_RNG_NOISE);
  for (int p = 0; p < ps->count; p++) {
    const ds_param_info *in = &ps->info[p];
    const float *w = ps->data + in->offset;
    float *d = dir + in->offset;
    if (in->role != DS_ROLE_WEIGHT) { /* biases, norm gains and biases */
      for (int64_t e = 0; e < in->numel; e++)
        d[e] = include_bn ? w[e] : 0.0f;
      continue;
    }
    int64_t rows = in->shape.rank >= 2 ? in->shape.dim[0] : 1, len = in->numel / rows;
    for (int64_t i = 0; i < rows; i++) {
      double dn = 0, wn = 0;
      for (int64_t e = 0; e < len; e++) {
        double g = ds_rng_normal(&r);
        d[i * len + e] = (float)g;
        dn += g * g;
        wn += (double)w[i * len + e] * w[i * len + e];
      }
      double c = dn > 0 ? sqrt(wn / dn) : 0;
      for (int64_t e = 0; e < len; e++)
        d[i * len + e] = (float)(d[i * len + e] * c);
    }
  }
  return 0;
}

/* Sets w = w0 + a d1 + b d2 and evaluates the loss of worker f. */
static ds_status plane_point(ds_lossfn *f, const float *w0, const float *d1, const float *d2,
                             double a, double b, double *loss) {
  ds_paramset *ps = ds_graph_params(f->g);
  float *w = ps->data;
  int64_t n = ps->numel;
  for (int64_t i = 0; i < n; i++)
    w[i] = (float)((double)w0[i] + a * d1[i] + b * d2[i]);
  ds_status st = ds_lossfn_eval(f, loss, NULL);
  if (st == DS_ENUMERIC) {
    *loss = INFINITY;
    st = 0;
  }
  return st;
}

ds_status ds_loss_plane(ds_lossfn *const *workers, int n_workers, const float *w0, const float *d1,
                        const float *d2, const ds_plane_grid *grid, double *loss,
                        ds_progress_fn progress, void *progress_ctx) {
  if (!workers || n_workers < 1 || !w0 || !d1 || !d2 || !grid || !loss)
    return ds_set_error(DS_EINVAL, "loss plane: NULL argument or no worker");
  if (grid->nx < 2 || grid->ny < 2 || !(grid->a1 > grid->a0) || !(grid->b1 > grid->b0))
    return ds_set_error(DS_EINVAL, "loss plane: grid %d x %d over [%g, %g] x [%g, %g] is empty",
                        grid->nx, grid->ny, grid->a0, grid->a1, grid->b0, grid->b1);
  int64_t numel = workers[0]->numel;
  for (int k = 1; k < n_workers; k++)
    if (workers[k]->numel != numel || workers[k]->n != workers[0]->n)
      return ds_set_error(DS_EINVAL, "loss plane: worker %d has another model or subset", k);
  int64_t total = (int64_t)grid->nx * grid->ny, done = 0;
  ds_status st = 0;
  char msg[512] = "";
#pragma omp parallel num_threads(n_workers) if (n_workers > 1)
  {
    ds_lossfn *f = workers[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 1)
    for (int64_t p = 0; p < total; p++) {
      ds_status failed;
#pragma omp atomic read
      failed = st;
      if (failed) continue; /* after a failure the remaining points are skipped */
      int64_t i = p / grid->ny, j = p % grid->ny;
      double a = grid->a0 + (grid->a1 - grid->a0) * (double)i / (grid->nx - 1);
      double b = grid->b0 + (grid->b1 - grid->b0) * (double)j / (grid->ny - 1);
      ds_status s = plane_point(f, w0, d1, d2, a, b, &loss[p]);
#pragma omp critical
      {
        if (s && !st) {
#pragma omp atomic write
          st = s;
          snprintf(msg, sizeof msg, "%s", ds_last_error()); /* the message is thread-local */
        }
        done++;
        if (progress) progress(progress_ctx, done, total);
      }
    }
    memcpy(ds_graph_params(f->g)->data, w0, sizeof(float) * (size_t)numel);
  }
  return st ? ds_set_error(st, "%s", msg) : 0;
}
