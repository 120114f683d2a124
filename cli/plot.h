/* descent CLI — curves of one or more runs (loss, accuracy, lr) drawn with PLplot. */
#ifndef DESCENT_CLI_PLOT_H
#define DESCENT_CLI_PLOT_H
#include <stdbool.h>

#include "descent/io.h"

/* Starts a PLplot figure on `device` ("pngcairo", "svgcairo") that is written atomically to
 * `file`: PLplot draws into the stream of a temporary file (and closes it). NULL + error message
 * if the file cannot be created. Then set page and colours, plinit(), draw, and finish with
 * plot_file_end. */
ds_atomic_file *plot_file_begin(const char *device, const char *file);
/* Ends the figure (plend) and commits the file: 0, or a negative status naming the file and the
 * cause of a failed write (a full disk), the previous file left intact. */
int plot_file_end(ds_atomic_file *a);

/* Reads RUN_DIR/metrics.jsonl of n runs and writes <out>.png and <out>.svg (three panels: loss,
 * accuracy, learning rate; one colour per run). Returns 0 or a negative status. */
int plot_runs(const char *const *run_dirs, int n, const char *out);
/* As plot_runs with legend labels names[i] (NULL: each run directory's name). */
int plot_runs_named(const char *const *run_dirs, const char *const *names, int n, const char *out);

/* Reads RUN_DIR/metrics.jsonl and, when its step records hold layer statistics
 * (train.log_layers), writes <out>.png and <out>.svg: per parameter tensor ||θ||, ||g||,
 * ||θ||/||g|| and, for lars and lamb, the trust ratio against the step on log axes, the legend in a
 * panel of its own (at most 24 tensors; with more, the weights spread over depth). *drawn tells
 * whether the run had any. Returns 0 or a negative status. */
int plot_layers(const char *run_dir, const char *out, bool *drawn);

/* Reads a CSV file (header row; column 0 is x, each other column a curve, at most 8) and writes
 * <out>.png and <out>.svg with one line per column. Returns 0 or a negative status. */
int plot_csv(const char *path, const char *out);

/* One curve of a panel: n points (x[i], y[i]) (non-finite points break the line), in run colour
 * `colour` (0..7, the palette of plot_runs), PLplot line style `style` (1 solid, 2 dashed, 3 long
 * dashes; 0 means 1), named in the legend unless label is NULL. */
typedef struct {
  const double *x, *y;
  int n;
  int colour;
  int style;
  const char *label;
} plot_curve;

/* A panel of curves; log_y: a logarithmic y axis (values <= 0 are left out). */
typedef struct {
  const char *title, *xlabel, *ylabel;
  bool log_y;
  const plot_curve *curves;
  int n_curves;
} plot_panel;

/* Writes <out>.png and <out>.svg with n (1..4) panels side by side, each with its legend below
 * it. 0 or a negative status. */
int plot_panels(const plot_panel *p, int n, const char *out);

/* One path drawn over a contour plot: n points, x and y interleaved; markers: a dot at every
 * point (e.g. checkpoints), not only at the end. */
typedef struct {
  const char *label;
  const double *xy;
  int n;
  bool markers;
} plot_path;

/* A filled contour of z over a regular grid (z[i * ny + j] at x = x0 + i (x1 - x0) / (nx - 1),
 * y = y0 + j (y1 - y0) / (ny - 1); non-finite values drawn in the top colour) in a viridis-like
 * colour map with a colour bar labelled zlabel, optional paths (legend below the plot) and an
 * optional marked point (mark_label in the legend). Transform z before (e.g. log10) and say so in
 * zlabel. */
typedef struct {
  int nx, ny;
  double x0, x1, y0, y1;
  const double *z;
  const char *title, *xlabel, *ylabel, *zlabel;
  bool mark;
  double mark_x, mark_y;
  const char *mark_label;
  const plot_path *paths;
  int n_paths;
  double zmin, zmax; /* zmax > zmin: the colour scale (values beyond take the end colours) */
} plot_contour_spec;

/* Writes <out>.png and, with svg, <out>.svg (each atomically). 0 or a negative status. */
int plot_contour(const plot_contour_spec *s, const char *out, bool svg);

#endif
