/* Loss / accuracy / lr curves of runs, from their metrics.jsonl, drawn with PLplot to PNG and SVG.
 * Panel 1: loss against step (solid: training loss of the logged steps, dashed: test loss at the
 * end of each epoch). Panel 2: accuracy against epoch (solid: test, dashed: train). Panel 3: lr
 * against step. One colour per run, named in the legend. */
#include "plot.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <plplot/plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "descent/descent.h"

typedef struct {
  double *v;
  int n, cap;
} series;

typedef struct {
  char name[128];
  series step, loss, lr;                                  /* step records */
  series estep, epoch, test_loss, test_acc, train_acc, train_loss, elr; /* epoch records */
} curves;

static int push(series *s, double v) {
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
  series *all[] = {&c->step,     &c->loss,      &c->lr,         &c->estep, &c->epoch,
                   &c->test_loss, &c->test_acc, &c->train_acc, &c->train_loss, &c->elr};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) ds_free(all[i]->v);
}

static int read_run(const char *dir, curves *c) {
  char path[4200];
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  char *text = ds_read_file(path, NULL);
  if (!text) return DS_EIO;
  const char *base = strrchr(dir, '/');
  while (base && !base[1] && base > dir) { /* trailing slash */
    const char *p = base - 1;
    while (p > dir && *p != '/') p--;
    base = p;
  }
  snprintf(c->name, sizeof c->name, "%s", base && base[1] ? base + (*base == '/') : dir);
  char *slash = strchr(c->name, '/');
  if (slash) *slash = '\0';
  int st = 0, line = 0;
  for (char *p = text, *nl; p && *p && !st; p = nl ? nl + 1 : NULL) {
    nl = strchr(p, '\n');
    if (nl) *nl = '\0';
    line++;
    if (!*p) continue;
    cJSON *o = cJSON_Parse(p);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    if (!cJSON_IsString(kind)) {
      cJSON_Delete(o);
      st = ds_set_error(DS_EFORMAT, "metrics file '%s': line %d is not a metrics record", path, line);
      break;
    }
    if (!strcmp(kind->valuestring, "step")) {
      st = push(&c->step, num(o, "step"));
      if (!st) st = push(&c->loss, num(o, "loss"));
      if (!st) st = push(&c->lr, num(o, "lr"));
    } else if (!strcmp(kind->valuestring, "epoch")) {
      st = push(&c->estep, num(o, "step"));
      if (!st) st = push(&c->epoch, num(o, "epoch"));
      if (!st) st = push(&c->test_loss, num(o, "test_loss"));
      if (!st) st = push(&c->test_acc, num(o, "test_acc"));
      if (!st) st = push(&c->train_acc, num(o, "train_acc"));
      if (!st) st = push(&c->train_loss, num(o, "train_loss"));
      if (!st) st = push(&c->elr, num(o, "lr"));
    }
    cJSON_Delete(o);
  }
  ds_free(text);
  if (!st && c->step.n == 0 && c->epoch.n == 0)
    st = ds_set_error(DS_EFORMAT, "metrics file '%s': no step or epoch records", path);
  /* a run shorter than train.log_every: fall back to the per-epoch training loss and lr */
  if (!st && c->step.n == 0) {
    for (int i = 0; i < c->estep.n && !st; i++) {
      st = push(&c->step, c->estep.v[i]);
      if (!st) st = push(&c->loss, c->train_loss.v[i]);
      if (!st) st = push(&c->lr, c->elr.v[i]);
    }
  }
  return st;
}

/* Run colours (colour map 0 entries 1..8); 0 is the white background, 15 the black foreground. */
static const int palette[8][3] = {{31, 119, 180}, {214, 39, 40},  {44, 160, 44},  {255, 127, 14},
                                  {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};

static void range(const series *s, double *lo, double *hi) {
  for (int i = 0; i < s->n; i++)
    if (isfinite(s->v[i])) {
      if (s->v[i] < *lo) *lo = s->v[i];
      if (s->v[i] > *hi) *hi = s->v[i];
    }
}

/* Draws the finite points of (x, y) as one polyline per finite stretch. */
static void line(const series *x, const series *y) {
  int n = x->n < y->n ? x->n : y->n, start = 0;
  for (int i = 0; i <= n; i++)
    if (i == n || !isfinite(y->v[i]) || !isfinite(x->v[i])) {
      if (i - start >= 2) plline(i - start, x->v + start, y->v + start);
      if (i - start == 1) plpoin(1, x->v + start, y->v + start, 17);
      start = i + 1;
    }
}

/* A tick spacing of 1, 2 or 5 times a power of ten giving at most 5 intervals. */
static double nice_tick(double span) {
  double raw = span / 5, p = pow(10, floor(log10(raw)));
  return raw <= p ? p : raw <= 2 * p ? 2 * p : raw <= 5 * p ? 5 * p : 10 * p;
}

static void frame(double x0, double x1, double y0, double y1, const char *xl, const char *yl, const char *title) {
  if (!(x1 > x0)) x1 = x0 + 1;
  if (!(y1 > y0)) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  double pad = 0.04 * (y1 - y0);
  pladv(0);
  plvsta();
  plwind(x0, x1, y0 - pad, y1 + pad);
  double xt = nice_tick(x1 - x0);
  plcol0(14);
  plwidth(0.5);
  plbox("g", xt, 0, "g", 0, 0);
  plcol0(15);
  plwidth(1);
  plbox("bcnst", xt, 0, "bcnstv", 0, 0);
  pllab(xl, yl, title);
}

/* Draws a legend naming n lines of colours 1.. in the top right corner of the current panel. */
static void legend(const char *const *names, int n) {
  PLINT opts[8], colors[8], styles[8];
  PLFLT widths[8], lw, lh;
  int nl = n < 8 ? n : 8;
  for (int r = 0; r < nl; r++) {
    opts[r] = PL_LEGEND_LINE;
    colors[r] = 1 + r;
    styles[r] = 1;
    widths[r] = 2;
  }
  plcol0(15);
  pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.02, 0.02, 0.08, 0, 15, 1, 0,
           0, nl, opts, 0.6, 0.7, 1.6, 0, colors, names, NULL, NULL, NULL, NULL, colors, styles,
           widths, NULL, NULL, NULL, NULL);
}

static void draw(const curves *c, int n) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  /* loss */
  for (int r = 0; r < n; r++) {
    range(&c[r].step, &x0, &x1);
    range(&c[r].estep, &x0, &x1);
    range(&c[r].loss, &y0, &y1);
    range(&c[r].test_loss, &y0, &y1);
  }
  if (x0 > 0) x0 = 0;
  frame(x0, x1, y0 < 0 ? y0 : 0, y1, "step", "loss", "loss (solid: train, dashed: test)");
  for (int r = 0; r < n; r++) {
    plcol0(1 + r % 8);
    plwidth(2);
    pllsty(1);
    line(&c[r].step, &c[r].loss);
    pllsty(2);
    line(&c[r].estep, &c[r].test_loss);
    pllsty(1);
  }
  /* legend of the runs, on the loss panel */
  const char *names[8];
  for (int r = 0; r < n && r < 8; r++) names[r] = c[r].name;
  legend(names, n);
  /* accuracy */
  x0 = 0;
  x1 = 1;
  y0 = INFINITY;
  y1 = -INFINITY;
  for (int r = 0; r < n; r++) {
    range(&c[r].epoch, &x0, &x1);
    range(&c[r].test_acc, &y0, &y1);
    range(&c[r].train_acc, &y0, &y1);
  }
  if (!isfinite(y0)) y0 = 0, y1 = 1;
  frame(x0, x1, y0, y1, "epoch", "accuracy", "accuracy (solid: test, dashed: train)");
  for (int r = 0; r < n; r++) {
    plcol0(1 + r % 8);
    plwidth(2);
    line(&c[r].epoch, &c[r].test_acc);
    pllsty(2);
    line(&c[r].epoch, &c[r].train_acc);
    pllsty(1);
  }
  /* learning rate */
  x0 = 0;
  x1 = -INFINITY;
  y0 = 0;
  y1 = -INFINITY;
  for (int r = 0; r < n; r++) {
    range(&c[r].step, &x0, &x1);
    range(&c[r].lr, &y0, &y1);
  }
  if (!isfinite(y1)) y1 = 1;
  frame(x0, x1, y0, y1, "step", "lr", "learning rate");
  for (int r = 0; r < n; r++) {
    plcol0(1 + r % 8);
    plwidth(2);
    line(&c[r].step, &c[r].lr);
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

/* Draws `panels` side by side with the white-background palette, running draw_fn(ctx) to fill
 * them, on `device` into `file`. */
static int render(void (*draw_fn)(const void *), const void *ctx, int panels, const char *device,
                  const char *file) {
  ds_atomic_file *a = plot_file_begin(device, file);
  if (!a) return DS_EIO;
  plsetopt("geometry", panels == 3 ? "1500x450" : "700x450");
  plscol0(0, 255, 255, 255);
  plscol0(15, 0, 0, 0);
  plscol0(14, 215, 215, 215);
  for (int i = 0; i < 8; i++) plscol0(1 + i, palette[i][0], palette[i][1], palette[i][2]);
  plssub(panels, 1);
  plinit();
  plschr(0, 0.9);
  draw_fn(ctx);
  return plot_file_end(a);
}

/* Writes <out>.png and <out>.svg. */
static int render_both(void (*draw_fn)(const void *), const void *ctx, int panels, const char *out) {
  char file[4300];
  snprintf(file, sizeof file, "%s.png", out);
  int st = render(draw_fn, ctx, panels, "pngcairo", file);
  if (st) return st;
  snprintf(file, sizeof file, "%s.svg", out);
  return render(draw_fn, ctx, panels, "svgcairo", file);
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
  if (n < 1) return ds_set_error(DS_EINVAL, "no run directory");
  curves *c = ds_calloc((size_t)n, sizeof *c);
  if (!c) return DS_ENOMEM;
  int st = 0;
  for (int i = 0; i < n && !st; i++) st = read_run(dirs[i], &c[i]);
  runs_ctx ctx = {c, n};
  if (!st) st = render_both(draw_runs, &ctx, 3, out);
  for (int i = 0; i < n; i++) curves_free(&c[i]);
  ds_free(c);
  return st;
}

/* ---- CSV curves: a header row, then numbers; column 0 is x, every other column one line ---- */

#define CSV_MAX_COLS 9

typedef struct {
  char title[256];
  char names[CSV_MAX_COLS][64];
  int cols;
  series col[CSV_MAX_COLS];
} csv_curves;

static void draw_csv(const void *ctx) {
  const csv_curves *t = ctx;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  range(&t->col[0], &x0, &x1);
  for (int k = 1; k < t->cols; k++) range(&t->col[k], &y0, &y1);
  if (y0 > 0) y0 = 0;
  if (!isfinite(x0)) x0 = 0, x1 = 1;
  if (!isfinite(y1)) y1 = 1;
  frame(x0, x1, y0, y1, t->names[0], "", t->title);
  const char *names[CSV_MAX_COLS];
  for (int k = 1; k < t->cols; k++) {
    plcol0(1 + (k - 1) % 8);
    plwidth(2);
    line(&t->col[0], &t->col[k]);
    names[k - 1] = t->names[k];
  }
  legend(names, t->cols - 1);
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
        st = push(&t->col[k], v);
      f = *end == ',' ? end + 1 : end + strlen(end);
    }
    if (!st && k != t->cols)
      st = ds_set_error(DS_EFORMAT, "'%s' line %d has %d fields, the header %d", path,
                        line_no, k, t->cols);
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
  if (!st) st = render_both(draw_csv, t, 1, out);
  for (int k = 0; k < CSV_MAX_COLS; k++) ds_free(t->col[k].v);
  ds_free(t);
  return st;
}
