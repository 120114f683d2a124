/* descent landscape --directions=pca: the loss on the plane of the two principal directions of
 * the run's path (Li et al. 2018, section 7), from the checkpoints the run kept
 * (--train.trajectory=true: trajectory-<step>.safetensors, the initial weights among them), with
 * the path projected onto the plane and drawn on the contour. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "landscape.h"

#define PCA_MAX_CHECKPOINTS 256

/* The kept checkpoints' parameters, w[i] for steps[i], each n floats; m's model is left with
 * its own checkpoint loaded again. */
static int load_path(analysis_model *m, const int64_t *steps, int k, float **w) {
  ds_paramset *ps = ds_graph_params(m->r.g);
  int st = 0;
  for (int i = 0; i < k && !st; i++) {
    char path[4400];
    ds_run_file_path(path, sizeof path, m->dir, "trajectory", steps[i]);
    if (!(w[i] = ds_malloc(sizeof(float) * (size_t)ps->numel)))
      st = DS_ENOMEM;
    else if (!(st = analysis_load_weights(m, path)))
      analysis_copy(w[i], ps->data, ps->numel);
  }
  int back = analysis_load_weights(m, m->ckpt);
  return st ? st : back;
}

/* Lower and upper end of coordinate j of the path and the origin, widened by a fifth of the span
 * on each side (the contour around the path, not just under it). */
static void path_box(const double *xy, int k, int j, double *lo, double *hi) {
  *lo = *hi = 0;
  for (int i = 0; i < k; i++) {
    *lo = fmin(*lo, xy[2 * i + j]);
    *hi = fmax(*hi, xy[2 * i + j]);
  }
  double pad = *hi > *lo ? 0.2 * (*hi - *lo) : 1;
  *lo -= pad;
  *hi += pad;
}

static int write_path(const char *out, const int64_t *steps, const double *xy, int k) {
  char file[4500];
  snprintf(file, sizeof file, "%s-path.csv", out);
  ds_atomic_file *af = ds_atomic_open(file);
  if (!af) return ds_last_status();
  FILE *fo = ds_atomic_stream(af);
  fprintf(fo, "step,a,b\n");
  for (int i = 0; i < k; i++)
    fprintf(fo, "%lld,%.9g,%.9g\n", (long long)steps[i], xy[2 * i], xy[2 * i + 1]);
  return ds_atomic_commit(af);
}

int landscape_pca(analysis_model *m, int nx, int ny, double range, const landscape_eval *e,
                  const char *out, const double *zrange) {
  int64_t steps[PCA_MAX_CHECKPOINTS];
  int k = ds_run_file_steps(m->dir, "trajectory", steps, PCA_MAX_CHECKPOINTS);
  if (k < 0) return cli_fail("landscape");
  if (k > PCA_MAX_CHECKPOINTS) {
    ds_set_error(DS_EINVAL,
                 "--directions=pca: '%s' holds %d trajectory checkpoints, more than %d (train "
                 "with a larger --train.checkpoint_every)",
                 m->dir, k, PCA_MAX_CHECKPOINTS);
    return cli_exit(DS_EINVAL, "landscape");
  }
  if (k < 3) {
    ds_set_error(DS_EINVAL,
                 "--directions=pca needs at least 3 checkpoints along the run, '%s' holds %d "
                 "(trajectory-<step>.safetensors); train with --train.trajectory=true, which "
                 "keeps the initial weights and every checkpoint (--train.checkpoint_every=1: "
                 "one per epoch), for 2 epochs or more",
                 m->dir, k);
    return cli_exit(DS_EINVAL, "landscape");
  }
  ds_paramset *ps = ds_graph_params(m->r.g);
  int64_t n = ps->numel;
  float *w[PCA_MAX_CHECKPOINTS] = {0};
  float *final = ds_malloc(sizeof(float) * (size_t)n), *d1 = ds_malloc(sizeof(float) * (size_t)n),
        *d2 = ds_malloc(sizeof(float) * (size_t)n);
  double *loss = ds_malloc(sizeof(double) * (size_t)nx * (size_t)ny),
         *xy = ds_malloc(sizeof(double) * 2 * k), explained[2];
  int rc = final && d1 && d2 && loss && xy ? 0 : cli_fail("landscape");
  if (!rc) analysis_copy(final, ps->data, n);
  if (!rc && load_path(m, steps, k, w)) rc = cli_fail("landscape");
  if (!rc && ds_pca_directions((const float *const *)w, k, final, n, d1, d2, explained, xy))
    rc = cli_fail("landscape");
  ds_plane_grid grid = {nx, ny, -range, range, -range, range};
  if (!rc && !(range > 0)) {
    path_box(xy, k, 0, &grid.a0, &grid.a1);
    path_box(xy, k, 1, &grid.b0, &grid.b1);
  }
  landscape_stats ls;
  if (!rc && landscape_grid(m, final, d1, d2, &grid, e, loss, &ls)) rc = cli_fail("landscape");
  if (!rc && (landscape_write_grid(out, &grid, loss) || write_path(out, steps, xy, k)))
    rc = cli_fail("landscape");
  if (!rc) {
    char title[200], xl[96], yl[96], label[64];
    snprintf(title, sizeof title,
             "train loss, %lld samples, plane of the path's principal "
             "directions",
             (long long)ls.samples);
    snprintf(xl, sizeof xl, "a (PC1: %.1f%% of the path's variance)", 100 * explained[0]);
    snprintf(yl, sizeof yl, "b (PC2: %.1f%%)", 100 * explained[1]);
    snprintf(label, sizeof label, "path, %d checkpoints (steps %lld to %lld)", k,
             (long long)steps[0], (long long)steps[k - 1]);
    plot_path p = {label, xy, k, true};
    landscape_figure f = {title, xl, yl, &p, zrange};
    if (landscape_draw(&grid, loss, &f, out)) rc = cli_fail("landscape");
  }
  if (!rc) {
    printf("%s: PCA plane of %d checkpoints (steps %lld to %lld), %dx%d over [%.3g, %.3g] x "
           "[%.3g, %.3g], %lld training samples (%s), %d worker%s, %.1f s\n",
           m->ckpt, k, (long long)steps[0], (long long)steps[k - 1], nx, ny, grid.a0, grid.a1,
           grid.b0, grid.b1, (long long)ls.samples,
           ls.batch_stats ? "batch statistics" : "eval mode", e->workers, e->workers > 1 ? "s" : "",
           ls.seconds);
    printf("  explained variance: PC1 %.4f, PC2 %.4f (together %.4f)\n", explained[0], explained[1],
           explained[0] + explained[1]);
    landscape_report(&grid, loss, 0, 0);
    printf("wrote %s.csv, %s-path.csv, %s.png, %s.svg\n", out, out, out, out);
  }
  for (int i = 0; i < k; i++)
    ds_free(w[i]);
  ds_free(final);
  ds_free(d1);
  ds_free(d2);
  ds_free(loss);
  ds_free(xy);
  return rc;
}
