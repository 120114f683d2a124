/* Loss / accuracy / lr curves of runs, from their metrics.jsonl, drawn with PLplot to PNG and SVG.
 * Panel 1: loss against step (solid: training loss of the logged steps, dashed: test loss at the
 * end of each epoch). Panel 2: accuracy against epoch (solid: test, dashed: train). Panel 3: lr
 * against step. One colour per run, named in the legend. */
#include "plot.h"
#include "plot_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <plplot/plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "descent/descent.h"

typedef struct {
  char name[128];
  plot_series step, loss, lr;                                                /* step records */
  plot_series estep, epoch, test_loss, test_acc, train_acc, train_loss, elr; /* epoch records */
} curves;

int plot_push(plot_series *s, double v) {
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 256;
    double *p = ds_realloc(s->v, sizeof(double) * (size_t)cap);
    if (!p) return DS_ENOMEM;
    s->v = p;
    s->cap = cap;
  }
  s->v[s->n++] = v;
  return 0;
}

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void curves_free(curves *c) {
  plot_series *all[] = {&c->step,      &c->loss,     &c->lr,        &c->estep,      &c->epoch,
                        &c->test_loss, &c->test_acc, &c->train_acc, &c->train_loss, &c->elr};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++)
    ds_free(all[i]->v);
}

int plot_read_records(const char *dir, plot_record_fn fn, void *ctx) {
  char path[4200];
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  char *text = ds_read_file(path, NULL);
  if (!text) return DS_EIO;
  int st = 0, line = 0;
  for (char *p = text, *nl; p && *p && !st; p = nl ? nl + 1 : NULL) {
    nl = strchr(p, '\n');
    if (nl) *nl = '\0';
    line++;
    if (!*p) continue;
    cJSON *o = cJSON_Parse(p);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    if (!cJSON_IsString(kind))
      st = ds_set_error(DS_EFORMAT, "metrics file '%s': line %d is not a metrics record", path,
                        line);
    else
      st = fn(ctx, kind->valuestring, o);
    cJSON_Delete(o);
  }
  ds_free(text);
  return st;
}

static int add_record(void *ctx, const char *kind, const cJSON *o) {
  curves *c = ctx;
  int st = 0;
  if (!strcmp(kind, "step")) {
    st = plot_push(&c->step, num(o, "step"));
    if (!st) st = plot_push(&c->loss, num(o, "loss"));
    if (!st) st = plot_push(&c->lr, num(o, "lr"));
  } else if (!strcmp(kind, "epoch")) {
    st = plot_push(&c->estep, num(o, "step"));
    if (!st) st = plot_push(&c->epoch, num(o, "epoch"));
    if (!st) st = plot_push(&c->test_loss, num(o, "test_loss"));
    if (!st) st = plot_push(&c->test_acc, num(o, "test_acc"));
    if (!st) st = plot_push(&c->train_acc, num(o, "train_acc"));
    if (!st) st = plot_push(&c->train_loss, num(o, "train_loss"));
    if (!st) st = plot_push(&c->elr, num(o, "lr"));
  }
  return st;
}

static int read_run(const char *dir, curves *c) {
  const char *base = strrchr(dir, '/');
  while (base && !base[1] && base > dir) { /* trailing slash */
    const char *p = base - 1;
    while (p > dir && *p != '/')
      p--;
    base = p;
  }
  snprintf(c->name, sizeof c->name, "%s", base && base[1] ? base + (*base == '/') : dir);
  char *slash = strchr(c->name, '/');
  if (slash) *slash = '\0';
  /* default run directories are <YYYYMMDD-HHMMSS>-<name>: the legend shows the name */
  int y, m, d, hh, mm, ss, used = 0;
  if (sscanf(c->name, "%4d%2d%2d-%2d%2d%2d-%n", &y, &m, &d, &hh, &mm, &ss, &used) == 6 &&
      used == 16 && c->name[used])
    memmove(c->name, c->name + used, strlen(c->name + used) + 1);
  int st = plot_read_records(dir, add_record, c);
  if (!st && c->step.n == 0 && c->epoch.n == 0)
    st = ds_set_error(DS_EFORMAT, "metrics file '%s/metrics.jsonl': no step or epoch records", dir);
  /* a run shorter than train.log_every: fall back to the per-epoch training loss and lr */
  if (!st && c->step.n == 0) {
    for (int i = 0; i < c->estep.n && !st; i++) {
      st = plot_push(&c->step, c->estep.v[i]);
      if (!st) st = plot_push(&c->loss, c->train_loss.v[i]);
      if (!st) st = plot_push(&c->lr, c->elr.v[i]);
    }
  }
  return st;
}

/* Run colours (colour map 0 entries 1..8); 0 is the white background, 15 the black foreground. */
static const int palette[8][3] = {{31, 119, 180},  {214, 39, 40}, {44, 160, 44},   {255, 127, 14},
                                  {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};

void plot_range(const plot_series *s, double *lo, double *hi) {
  for (int i = 0; i < s->n; i++)
    if (isfinite(s->v[i])) {
      if (s->v[i] < *lo) *lo = s->v[i];
      if (s->v[i] > *hi) *hi = s->v[i];
    }
}

/* Draws the finite points of (x, y) as one polyline per finite stretch; short series (a few
 * epochs, a single point) also get a marker at every point, so that they stay visible. */
void plot_line(const plot_series *x, const plot_series *y) {
  int n = x->n < y->n ? x->n : y->n, start = 0;
  plssym(0, n <= 25 ? 0.9 : 0.6);
  for (int i = 0; i <= n; i++)
    if (i == n || !isfinite(y->v[i]) || !isfinite(x->v[i])) {
      if (i - start >= 2) plline(i - start, x->v + start, y->v + start);
      if (i - start >= 1 && (i - start == 1 || n <= 25))
        plpoin(i - start, x->v + start, y->v + start, 17);
      start = i + 1;
    }
}

/* A tick spacing of 1, 2 or 5 times a power of ten giving at most 5 intervals. */
static double nice_tick(double span) {
  double raw = span / 5, p = pow(10, floor(log10(raw)));
  return raw <= p ? p : raw <= 2 * p ? 2 * p : raw <= 5 * p ? 5 * p : 10 * p;
}

void plot_frame(double x0, double x1, double y0, double y1, const char *xl, const char *yl,
                const char *title, unsigned flags) {
  bool logy = flags & PLOT_LOG_Y;
  if (!(x1 > x0)) x1 = x0 + 1;
  if (!(y1 > y0)) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  double pad = 0.04 * (y1 - y0);
  pladv(0);
  /* room for the axis labels, and (unless told otherwise) rows below for the legend */
  plvpor(0.21, 0.94, flags & PLOT_NO_LEGEND_ROOM ? 0.2 : 0.4, 0.88);
  plwind(x0, x1, y0 - pad, y1 + pad);
  double xt = nice_tick(x1 - x0);
  plcol0(14);
  plwidth(0.5);
  plbox("g", xt, 0, logy ? "gl" : "g", 0, 0);
  plcol0(15);
  plwidth(1);
  plbox("bcnst", xt, 0, logy ? "bcnstvl" : "bcnstv", 0, 0);
  pllab(xl, yl, title);
}

/* Fills the line legend arrays for n runs of colours 1.. (at most 8). */
static int legend_entries(int n, PLINT *opts, PLINT *colors, PLINT *styles, PLFLT *widths) {
  int nl = n < 8 ? n : 8;
  for (int r = 0; r < nl; r++) {
    opts[r] = PL_LEGEND_LINE;
    colors[r] = 1 + r;
    styles[r] = 1;
    widths[r] = 2;
  }
  plcol0(15);
  return nl;
}

/* Draws a legend naming n lines of colours 1.. in corner `pos` (PL_POSITION_TOP | _RIGHT, ...) of
 * the current panel. */
/* Draws a legend naming n lines of colours 1.. below the current panel, outside the data. */
static void legend(const char *const *names, int n) {
  PLINT opts[8], colors[8], styles[8];
  PLFLT widths[8], lw, lh;
  int nl = legend_entries(n, opts, colors, styles, widths);
  int cols = nl < 2 ? nl : 2, rows = (nl + cols - 1) / cols; /* fits under the first panel */
  size_t longest = 0;
  for (int r = 0; r < nl; r++)
    longest = strlen(names[r]) > longest ? strlen(names[r]) : longest;
  double scale = longest > 12 ? 0.75 * 12 / (double)longest : 0.75; /* long names: smaller text */
  pllegend(&lw, &lh, 0, PL_POSITION_BOTTOM | PL_POSITION_OUTSIDE, 0.0, 0.28, 0.06, 0, 15, 1, rows,
           cols, nl, opts, 0.6, scale, 1.5, 0, colors, names, NULL, NULL, NULL, NULL, colors,
           styles, widths, NULL, NULL, NULL, NULL);
}

static void draw(const curves *c, int n) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  /* loss */
  for (int r = 0; r < n; r++) {
    plot_range(&c[r].step, &x0, &x1);
    plot_range(&c[r].estep, &x0, &x1);
    plot_range(&c[r].loss, &y0, &y1);
    plot_range(&c[r].test_loss, &y0, &y1);
  }
  if (x0 > 0) x0 = 0;
  plot_frame(x0, x1, y0 < 0 ? y0 : 0, y1, "step", "loss", "loss (solid: train, dashed: test)", 0);
  for (int r = 0; r < n; r++) {
    plcol0(1 + r % 8);
    plwidth(2);
    pllsty(1);
    plot_line(&c[r].step, &c[r].loss);
    pllsty(2);
    plot_line(&c[r].estep, &c[r].test_loss);
    pllsty(1);
  }
  /* legend of the runs, on the loss panel */
  const char *names[8];
  for (int r = 0; r < n && r < 8; r++)
    names[r] = c[r].name;
  legend(names, n);
  /* accuracy */
  x0 = 0;
  x1 = 1;
  y0 = INFINITY;
  y1 = -INFINITY;
  for (int r = 0; r < n; r++) {
    plot_range(&c[r].epoch, &x0, &x1);
    plot_range(&c[r].test_acc, &y0, &y1);
    plot_range(&c[r].train_acc, &y0, &y1);
  }
  if (!isfinite(y0)) y0 = 0, y1 = 1;
  plot_frame(x0, x1, y0, y1, "epoch", "accuracy", "accuracy (solid: test, dashed: train)", 0);
  for (int r = 0; r < n; r++) {
    plcol0(1 + r % 8);
    plwidth(2);
    plot_line(&c[r].epoch, &c[r].test_acc);
    pllsty(2);
    plot_line(&c[r].epoch, &c[r].train_acc);
    pllsty(1);
  }
  /* learning rate */
  x0 = 0;
  x1 = -INFINITY;
  y0 = 0;
  y1 = -INFINITY;
  for (int r = 0; r < n; r++) {
    plot_range(&c[r].step, &x0, &x1);
    plot_range(&c[r].lr, &y0, &y1);
  }
  if (!isfinite(y1)) y1 = 1;
  plot_frame(x0, x1, y0, y1, "step", "lr", "learning rate", 0);
  for (int r = 0; r < n; r++) {
    plcol0(1 + r % 8);
    plwidth(2);
    plot_line(&c[r].step, &c[r].lr);
  }
}

ds_atomic_file *plot_file_begin(const char *device, const char *file) {
  ds_atomic_file *a = ds_atomic_open(file);
  if (!a) return NULL;
  plsdev(device);
  plsfile(ds_atomic_stream(a));
  return a;
}

int plot_file_end(ds_atomic_file *a) {
  plend(); /* writes the figure and closes the stream */
  return ds_atomic_commit(a);
}

/* Draws `panels` side by side with the white-background palette (geometry "WxH"), running
 * draw_fn(ctx) to fill them, on `device` into `file`, atomically: a reader never sees a
 * half-written figure, and a failed write (a full disk) is reported with its cause. */
static int render(void (*draw_fn)(const void *), const void *ctx, int panels, const char *device,
                  const char *file, const char *geometry) {
  ds_atomic_file *a = plot_file_begin(device, file);
  if (!a) return DS_EIO;
  plsetopt("geometry", geometry);
  plscol0(0, 255, 255, 255);
  plscol0(15, 0, 0, 0);
  plscol0(14, 215, 215, 215);
  for (int i = 0; i < 8; i++)
    plscol0(1 + i, palette[i][0], palette[i][1], palette[i][2]);
  plssub(panels, 1);
  plinit();
  plschr(0, 0.9);
  draw_fn(ctx);
  return plot_file_end(a);
}

/* Writes <out>.png and <out>.svg. */
int plot_render_both(void (*draw_fn)(const void *), const void *ctx, int panels, const char *out,
                     const char *geometry) {
  char file[4300];
  snprintf(file, sizeof file, "%s.png", out);
  int st = render(draw_fn, ctx, panels, "pngcairo", file, geometry);
  if (st) return st;
  snprintf(file, sizeof file, "%s.svg", out);
  return render(draw_fn, ctx, panels, "svgcairo", file, geometry);
}

typedef struct {
  const curves *c;
  int n;
} runs_ctx;

static void draw_runs(const void *ctx) {
  const runs_ctx *r = ctx;
  draw(r->c, r->n);
}

int plot_runs(const char *const *dirs, int n, const char *out) {
  return plot_runs_named(dirs, NULL, n, out);
}

int plot_runs_named(const char *const *dirs, const char *const *names, int n, const char *out) {
  if (n < 1) return ds_set_error(DS_EINVAL, "no run directory");
  curves *c = ds_calloc((size_t)n, sizeof *c);
  if (!c) return DS_ENOMEM;
  int st = 0;
  for (int i = 0; i < n && !st; i++) {
    st = read_run(dirs[i], &c[i]);
    if (!st && names && names[i]) snprintf(c[i].name, sizeof c[i].name, "%s", names[i]);
  }
  runs_ctx ctx = {c, n};
  if (!st) st = plot_render_both(draw_runs, &ctx, 3, out, "1500x520");
  for (int i = 0; i < n; i++)
    curves_free(&c[i]);
  ds_free(c);
  return st;
}

/* ---- CSV curves: a header row, then numbers; column 0 is x, every other column one line ---- */

#define CSV_MAX_COLS 9

typedef struct {
  char title[256];
  char names[CSV_MAX_COLS][64];
  int cols;
  plot_series col[CSV_MAX_COLS];
} csv_curves;

static void draw_csv(const void *ctx) {
  const csv_curves *t = ctx;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  plot_range(&t->col[0], &x0, &x1);
  for (int k = 1; k < t->cols; k++)
    plot_range(&t->col[k], &y0, &y1);
  if (y0 > 0) y0 = 0;
  if (!isfinite(x0)) x0 = 0, x1 = 1;
  if (!isfinite(y1)) y1 = 1;
  plot_frame(x0, x1, y0, y1, t->names[0], "", t->title, 0);
  const char *names[CSV_MAX_COLS];
  for (int k = 1; k < t->cols; k++) {
    plcol0(1 + (k - 1) % 8);
    plwidth(2);
    plot_line(&t->col[0], &t->col[k]);
    names[k - 1] = t->names[k];
  }
  legend(names, t->cols - 1); /* below the panel: it never hides a curve */
}

static int read_csv(const char *path, csv_curves *t) {
  char *text = ds_read_file(path, NULL);
  if (!text) return DS_EIO;
  int st = 0, line_no = 1;
  char *save = NULL, *row = strtok_r(text, "\n", &save);
  if (!row) st = ds_set_error(DS_EFORMAT, "'%s' is empty", path);
  for (char *f = row, *next; !st && f; f = next, t->cols++) { /* header; names may be quoted */
    if (*f == '"') {
      char *q = strchr(++f, '"');
      if (q) *q++ = 0;
      next = q ? strchr(q, ',') : NULL;
    } else {
      next = strchr(f, ',');
    }
    if (next) *next++ = 0;
    f[strcspn(f, "\r")] = 0;
    if (t->cols == CSV_MAX_COLS)
      st = ds_set_error(DS_EFORMAT, "'%s' has more than %d columns", path, CSV_MAX_COLS);
    else
      snprintf(t->names[t->cols], sizeof t->names[0], "%s", f);
  }
  if (!st && t->cols < 2) st = ds_set_error(DS_EFORMAT, "'%s' needs at least 2 columns", path);
  while (!st && (row = strtok_r(NULL, "\n", &save))) {
    line_no++;
    int k = 0;
    for (char *f = row, *end; !st && *f; k++) {
      double v = strtod(f, &end);
      if (end == f || (*end && *end != ',' && *end != '\r') || k >= t->cols)
        st = ds_set_error(DS_EFORMAT, "'%s' line %d: field %d is not a number or too many fields",
                          path, line_no, k + 1);
      else
        st = plot_push(&t->col[k], v);
      f = *end == ',' ? end + 1 : end + strlen(end);
    }
    if (!st && k != t->cols)
      st = ds_set_error(DS_EFORMAT, "'%s' line %d has %d fields, the header %d", path, line_no, k,
                        t->cols);
  }
  ds_free(text);
  return st;
}

int plot_csv(const char *path, const char *out) {
  csv_curves *t = ds_calloc(1, sizeof *t);
  if (!t) return DS_ENOMEM;
  const char *base = strrchr(path, '/');
  snprintf(t->title, sizeof t->title, "%s", base ? base + 1 : path);
  int st = read_csv(path, t);
  if (!st) st = plot_render_both(draw_csv, t, 1, out, "700x560");
  for (int k = 0; k < CSV_MAX_COLS; k++)
    ds_free(t->col[k].v);
  ds_free(t);
  return st;
}

/* ---- panels of curves with explicit colours and styles -------------------------------------- */

typedef struct {
  const plot_panel *p;
  int n;
} panels_ctx;

static void draw_panels(const void *ctx) {
  const panels_ctx *pc = ctx;
  for (int k = 0; k < pc->n; k++) {
    const plot_panel *p = &pc->p[k];
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int c = 0; c < p->n_curves; c++)
      for (int i = 0; i < p->curves[c].n; i++) {
        double x = p->curves[c].x[i], y = p->curves[c].y[i];
        if (p->log_y) y = y > 0 ? log10(y) : NAN;
        if (!isfinite(x) || !isfinite(y)) continue;
        x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
      }
    if (!isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (p->log_y && y1 - y0 < 1) { /* at least one decade, centred */
      double m = (y0 + y1) / 2;
      y0 = m - 0.5, y1 = m + 0.5;
    }
    plot_frame(x0, x1, y0, y1, p->xlabel, p->ylabel, p->title, p->log_y ? PLOT_LOG_Y : 0);
    PLINT opts[8], colors[8], styles[8], sym_colors[8], sym_numbers[8];
    PLFLT widths[8], sym_scales[8];
    const char *names[8], *symbols[8];
    int e = 0;
    for (int c = 0; c < p->n_curves; c++) {
      const plot_curve *cv = &p->curves[c];
      plot_series xs = {(double *)cv->x, cv->n, cv->n}, ys = {NULL, cv->n, cv->n};
      double *ly = ds_malloc(sizeof(double) * (size_t)(cv->n ? cv->n : 1));
      if (!ly) continue;
      for (int i = 0; i < cv->n; i++)
        ly[i] = !p->log_y ? cv->y[i] : cv->y[i] > 0 ? log10(cv->y[i]) : NAN;
      ys.v = ly;
      plcol0(1 + cv->colour % 8);
      plwidth(2);
      pllsty(cv->style > 0 ? cv->style : 1);
      plot_line(&xs, &ys);
      pllsty(1);
      ds_free(ly);
      if (cv->label && e < 8) {
        opts[e] = PL_LEGEND_LINE;
        colors[e] = sym_colors[e] = 1 + cv->colour % 8;
        styles[e] = cv->style > 0 ? cv->style : 1;
        widths[e] = 2;
        sym_scales[e] = 1;
        sym_numbers[e] = 1;
        symbols[e] = "";
        names[e++] = cv->label;
      }
    }
    if (e > 0) { /* below the panel, outside the data; one column for long labels */
      PLFLT lw, lh;
      size_t longest = 0;
      for (int i = 0; i < e; i++)
        longest = strlen(names[i]) > longest ? strlen(names[i]) : longest;
      int cols = e < 2 || (longest > 20 && e <= 4) ? 1 : 2;
      plcol0(15);
      pllegend(&lw, &lh, 0, PL_POSITION_BOTTOM | PL_POSITION_OUTSIDE, 0.0, 0.28, 0.06, 0, 15, 1,
               (e + cols - 1) / cols, cols, e, opts, 0.6, 0.7, 1.5, 0, colors, names, NULL, NULL,
               NULL, NULL, colors, styles, widths, sym_colors, sym_scales, sym_numbers, symbols);
    }
  }
}

int plot_panels(const plot_panel *p, int n, const char *out) {
  if (!p || n < 1 || n > 4) return ds_set_error(DS_EINVAL, "plot '%s': 1 to 4 panels", out);
  panels_ctx ctx = {p, n};
  return plot_render_both(draw_panels, &ctx, n, out, n == 1 ? "700x520" : "1200x560");
}

/* ---- filled contours with a colour bar, paths and a marked point ---------------------------- */

/* A viridis-like perceptual, colour-blind-safe map (matplotlib's viridis at nine stops) as PLplot's
 * colour map 1. */
static void viridis(void) {
  static const PLFLT pos[9] = {0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1};
  static const int rgb[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 82, 139},
                                {44, 114, 142}, {33, 145, 140}, {39, 173, 129},
                                {94, 201, 98},  {170, 220, 50}, {253, 231, 37}};
  PLFLT r[9], g[9], b[9];
  for (int i = 0; i < 9; i++) {
    r[i] = rgb[i][0] / 255.0;
    g[i] = rgb[i][1] / 255.0;
    b[i] = rgb[i][2] / 255.0;
  }
  plscmap1n(256);
  plscmap1l(1, 9, pos, r, g, b, NULL);
}

#define CONTOUR_LEVELS 24

static void draw_contour(const void *ctx) {
  const plot_contour_spec *s = ctx;
  double z0 = INFINITY, z1 = -INFINITY;
  for (int i = 0; i < s->nx * s->ny; i++)
    if (isfinite(s->z[i])) {
      if (s->z[i] < z0) z0 = s->z[i];
      if (s->z[i] > z1) z1 = s->z[i];
    }
  if (!isfinite(z0)) z0 = 0, z1 = 1;
  if (!(z1 > z0)) z1 = z0 + 1;
  if (s->zmax > s->zmin) z0 = s->zmin, z1 = s->zmax; /* a fixed scale, to compare figures */
  PLFLT **z;
  plAlloc2dGrid(&z, s->nx, s->ny);
  for (int i = 0; i < s->nx; i++)
    for (int j = 0; j < s->ny; j++) {
      double v = s->z[(int64_t)i * s->ny + j];
      z[i][j] = isfinite(v) ? fmin(fmax(v, z0), z1) : z1; /* out of range: the end colours */
    }
  PLFLT *xg = ds_malloc(sizeof(PLFLT) * (size_t)s->nx),
        *yg = ds_malloc(sizeof(PLFLT) * (size_t)s->ny);
  if (!xg || !yg) {
    ds_free(xg);
    ds_free(yg);
    plFree2dGrid(z, s->nx, s->ny);
    return;
  }
  for (int i = 0; i < s->nx; i++)
    xg[i] = s->x0 + (s->x1 - s->x0) * i / (s->nx > 1 ? s->nx - 1 : 1);
  for (int j = 0; j < s->ny; j++)
    yg[j] = s->y0 + (s->y1 - s->y0) * j / (s->ny > 1 ? s->ny - 1 : 1);
  PLFLT clev[CONTOUR_LEVELS + 1];
  for (int k = 0; k <= CONTOUR_LEVELS; k++)
    clev[k] = z0 + (z1 - z0) * k / CONTOUR_LEVELS;

  pladv(0);
  plvpor(0.1, 0.8, s->n_paths > 0 ? 0.27 : s->mark && s->mark_label ? 0.2 : 0.12, 0.92);
  plwind(s->x0, s->x1, s->y0, s->y1);
  viridis();
  PLcGrid cg = {xg, yg, NULL, s->nx, s->ny, 0};
  plshades((PLFLT_MATRIX)z, s->nx, s->ny, NULL, s->x0, s->x1, s->y0, s->y1, clev,
           CONTOUR_LEVELS + 1, 1, 0, 0, plfill, 1, pltr1, &cg);
  /* thin contour lines every other level, so that the shape reads in greyscale too */
  PLFLT lines[CONTOUR_LEVELS / 2];
  for (int k = 0; k < CONTOUR_LEVELS / 2; k++)
    lines[k] = clev[2 * k + 1];
  plcol0(14);
  plwidth(0.5);
  plcont((PLFLT_MATRIX)z, s->nx, s->ny, 1, s->nx, 1, s->ny, lines, CONTOUR_LEVELS / 2, pltr1, &cg);
  plcol0(15);
  plwidth(1);
  plbox("bcnst", 0, 0, "bcnstv", 0, 0);
  pllab(s->xlabel, s->ylabel, s->title);

  /* colour bar, labelled, right of the plot */
  {
    PLFLT w, h;
    PLINT label_opts[1] = {PL_COLORBAR_LABEL_RIGHT};
    const char *labels[1] = {s->zlabel ? s->zlabel : ""};
    const char *axis_opts[1] = {"bcvtm"};
    PLFLT ticks[1] = {0};
    PLINT sub_ticks[1] = {0}, n_values[1] = {CONTOUR_LEVELS + 1};
    PLFLT *values[1] = {clev};
    plcolorbar(&w, &h, PL_COLORBAR_SHADE,
               PL_POSITION_RIGHT | PL_POSITION_OUTSIDE | PL_POSITION_VIEWPORT, 0.03, 0, 0.035, 0.9,
               0, 1, 1, 0, 0, 0, 0, 1, label_opts, labels, 1, axis_opts, ticks, sub_ticks, n_values,
               (PLFLT_MATRIX)values);
  }

  /* paths: a white casing under each coloured line so that it reads on every colour of the map;
   * a filled circle at the start, a larger one at the current end */
  for (int p = 0; p < s->n_paths; p++) {
    const plot_path *pt = &s->paths[p];
    int n = pt->n;
    if (n < 1) continue;
    PLFLT *px = ds_malloc(sizeof(PLFLT) * (size_t)n), *py = ds_malloc(sizeof(PLFLT) * (size_t)n);
    if (!px || !py) {
      ds_free(px);
      ds_free(py);
      continue;
    }
    int m = 0;
    for (int i = 0; i < n; i++) /* clip far excursions to the frame (diverging racers) */
      if (isfinite(pt->xy[2 * i]) && isfinite(pt->xy[2 * i + 1])) {
        px[m] = fmin(fmax(pt->xy[2 * i], s->x0), s->x1);
        py[m++] = fmin(fmax(pt->xy[2 * i + 1], s->y0), s->y1);
      }
    if (m >= 2) {
      plcol0(0);
      plwidth(4);
      plline(m, px, py);
      plcol0(1 + p % 8);
      plwidth(2);
      plline(m, px, py);
    }
    if (m >= 1) {
      plcol0(1 + p % 8);
      if (pt->markers) { /* every point, white-cased like the line */
        plcol0(0);
        plssym(0, 2.4);
        plpoin(m, px, py, 17);
        plcol0(1 + p % 8);
        plssym(0, 1.6);
        plpoin(m, px, py, 17);
      }
      plssym(0, 1.1);
      plpoin(1, px + m - 1, py + m - 1, 17);
    }
    ds_free(px);
    ds_free(py);
  }
  if (s->n_paths > 0) {
    plcol0(15);
    plssym(0, 1.0);
    plpoin(1, (PLFLT[]){s->paths[0].xy[0]}, (PLFLT[]){s->paths[0].xy[1]},
           4); /* the start: an open circle */
  }
  if (s->mark) {
    plcol0(0);
    plssym(0, 2.2);
    plwidth(4);
    plpoin(1, (PLFLT[]){s->mark_x}, (PLFLT[]){s->mark_y}, 5);
    plcol0(2);
    plssym(0, 1.8);
    plwidth(2);
    plpoin(1, (PLFLT[]){s->mark_x}, (PLFLT[]){s->mark_y}, 5);
    plwidth(1);
  }

  /* legend below the plot, outside the data: the paths, then the marked point */
  int nl = s->n_paths < 8 ? s->n_paths : 8;
  if (nl > 0 || (s->mark && s->mark_label)) {
    PLINT opts[9], colors[9], text_colors[9], styles[9], sym_colors[9], sym_numbers[9];
    PLFLT widths[9], sym_scales[9], lw, lh;
    const char *names[9], *symbols[9];
    int e = 0;
    for (int r = 0; r < nl; r++, e++) {
      opts[e] = PL_LEGEND_LINE;
      text_colors[e] = 15;
      colors[e] = sym_colors[e] = 1 + r;
      styles[e] = 1;
      widths[e] = 2;
      sym_scales[e] = 1;
      sym_numbers[e] = 1;
      symbols[e] = "";
      names[e] = s->paths[r].label;
    }
    if (s->mark && s->mark_label) {
      opts[e] = PL_LEGEND_SYMBOL;
      text_colors[e] = 15;
      colors[e] = sym_colors[e] = 2;
      styles[e] = 1;
      widths[e] = 1;
      sym_scales[e] = 2;
      sym_numbers[e] = 1;
      symbols[e] = "×";
      names[e++] = s->mark_label;
    }
    plcol0(15);
    plssym(0, 1.0);
    pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_BOTTOM | PL_POSITION_OUTSIDE, 0, 0.11, 0.1, 0, 15, 1, 0, (e + 3) / 4, e,
             opts, 0.5, 0.6, 1.4, 0, text_colors, names, NULL, NULL, NULL, NULL, colors, styles,
             widths, sym_colors, sym_scales, sym_numbers, symbols);
  }
  ds_free(xg);
  ds_free(yg);
  plFree2dGrid(z, s->nx, s->ny);
}

int plot_contour(const plot_contour_spec *s, const char *out, bool svg) {
  if (!s || s->nx < 2 || s->ny < 2 || !s->z || !(s->x1 > s->x0) || !(s->y1 > s->y0))
    return ds_set_error(DS_EINVAL, "contour plot '%s': needs a grid of at least 2 x 2 points", out);
  char file[4300];
  snprintf(file, sizeof file, "%s.png", out);
  int st = render(draw_contour, s, 1, "pngcairo", file, "760x720");
  if (st || !svg) return st;
  snprintf(file, sizeof file, "%s.svg", out);
  return render(draw_contour, s, 1, "svgcairo", file, "760x720");
}
