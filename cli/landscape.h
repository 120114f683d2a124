/* descent CLI — the loss on a plane through a trained model, shared by the two kinds of plane of
 * `descent landscape`: filter-normalised random directions (cmd_landscape.c) and the principal
 * directions of the run's path (landscape_pca.c). */
#ifndef DESCENT_CLI_LANDSCAPE_H
#define DESCENT_CLI_LANDSCAPE_H
#include <stdbool.h>
#include <stdint.h>

#include "analysis_load.h"
#include "descent/analysis.h"
#include "plot.h"

#define LANDSCAPE_MAX_WORKERS 64

/* How the grid is evaluated: the first `samples` training samples (0: all), `workers` model
 * copies in parallel, progress mode ("auto", "bar", "plain", "none"). */
typedef struct {
  int64_t samples;
  int workers;
  const char *progress;
} landscape_eval;

/* What an evaluation used and took. */
typedef struct {
  int64_t samples;  /* samples evaluated */
  bool batch_stats; /* batch norm evaluated with batch statistics (else eval mode) */
  double seconds;
} landscape_stats;

/* The loss at every point of grid on the plane w0 + a d1 + b d2 (ds_loss_plane) of m's model,
 * with a progress bar; m's parameters are left at w0. 0 or a negative status. */
int landscape_grid(analysis_model *m, const float *w0, const float *d1, const float *d2,
                   const ds_plane_grid *grid, const landscape_eval *e, double *loss,
                   landscape_stats *out);

/* Writes <out>.csv (rows a,b,train_loss, a-major) atomically. 0 or a negative status. */
int landscape_write_grid(const char *out, const ds_plane_grid *grid, const double *loss);

/* Labels of a plane's figure; path (may be NULL) is drawn over the contour, zrange (may be NULL)
 * fixes the colour scale of log10 loss. */
typedef struct {
  const char *title, *xlabel, *ylabel;
  const plot_path *path;
  const double *zrange;
} landscape_figure;

/* <out>.png and <out>.svg: the contour of log10 loss over the grid, its minimum marked. */
int landscape_draw(const ds_plane_grid *grid, const double *loss, const landscape_figure *f,
                   const char *out);

/* Prints the loss at the grid point nearest to (centre_a, centre_b) (the weights), the grid's
 * minimum with its place, and its maximum. */
void landscape_report(const ds_plane_grid *grid, const double *loss, double centre_a,
                      double centre_b);

/* The plane of the principal directions of the run's kept trajectory (m->dir's
 * trajectory-<step>.safetensors, ds_pca_directions) around m's weights, nx x ny points over the
 * path's extent (range > 0: [-range, range]^2 instead), with the path drawn on it; writes
 * <out>.csv, <out>-path.csv, <out>.png and <out>.svg. Returns the exit status (errors printed). */
int landscape_pca(analysis_model *m, int nx, int ny, double range, const landscape_eval *e,
                  const char *out, const double *zrange);

#endif
