/* descent CLI — curves of one or more runs (loss, accuracy, lr) drawn with PLplot. */
#ifndef DESCENT_CLI_PLOT_H
#define DESCENT_CLI_PLOT_H

/* Reads RUN_DIR/metrics.jsonl of n runs and writes <out>.png and <out>.svg (three panels: loss,
 * accuracy, learning rate; one colour per run). Returns 0 or a negative status. */
int plot_runs(const char *const *run_dirs, int n, const char *out);
/* As plot_runs with legend labels names[i] (NULL: each run directory's name). */
int plot_runs_named(const char *const *run_dirs, const char *const *names, int n, const char *out);

/* Reads a CSV file (header row; column 0 is x, each other column a curve, at most 8) and writes
 * <out>.png and <out>.svg with one line per column. Returns 0 or a negative status. */
int plot_csv(const char *path, const char *out);

#endif
