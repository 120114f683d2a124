/* descent CLI — the drawing helpers of plot.c shared with the other figures of `descent plot`
 * (plot_layers.c): growable series, panels with framed axes, rendering to PNG and SVG. */
#ifndef DESCENT_CLI_PLOT_INTERNAL_H
#define DESCENT_CLI_PLOT_INTERNAL_H
#include <cjson/cJSON.h>
#include <stdbool.h>

/* A growable array of values (NAN: no value at that point). */
typedef struct {
  double *v;
  int n, cap;
} plot_series;

/* Appends v; DS_ENOMEM when the array cannot grow. */
int plot_push(plot_series *s, double v);
/* Widens [*lo, *hi] to the finite values of s. */
void plot_range(const plot_series *s, double *lo, double *hi);
/* Draws the finite points of (x, y) in the current colour and style, markers on short series. */
void plot_line(const plot_series *x, const plot_series *y);

/* Calls fn(ctx, kind, record) for every record of dir/metrics.jsonl, in order, until fn returns
 * nonzero (returned). DS_EIO if the file cannot be read, DS_EFORMAT naming the line of a record
 * without a "kind". */
typedef int (*plot_record_fn)(void *ctx, const char *kind, const cJSON *record);
int plot_read_records(const char *dir, plot_record_fn fn, void *ctx);

enum {
  PLOT_LOG_Y = 1,          /* y values are log10 of the data: a logarithmic axis */
  PLOT_NO_LEGEND_ROOM = 2, /* no rows kept free below the panel for a legend */
};
/* Starts the next panel: axes over [x0, x1] x [y0, y1] with a light grid, labels and title. */
void plot_frame(double x0, double x1, double y0, double y1, const char *xl, const char *yl,
                const char *title, unsigned flags);

/* Writes <out>.png and <out>.svg (atomically), `panels` side by side on a white background with
 * the run colours 1..8 of colour map 0, drawn by draw_fn(ctx); geometry "WxH" in pixels. */
int plot_render_both(void (*draw_fn)(const void *), const void *ctx, int panels, const char *out,
                     const char *geometry);

#endif
