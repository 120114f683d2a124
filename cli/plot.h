/* descent CLI — curves of one or more runs (loss, accuracy, lr) drawn with PLplot. */
#ifndef DESCENT_CLI_PLOT_H
#define DESCENT_CLI_PLOT_H

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

/* Reads a CSV file (header row; column 0 is x, each other column a curve, at most 8) and writes
 * <out>.png and <out>.svg with one line per column. Returns 0 or a negative status. */
int plot_csv(const char *path, const char *out);

#endif
