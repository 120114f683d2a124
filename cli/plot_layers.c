/* The per-layer figure of `descent plot` for runs trained with --train.log_layers=true: from the
 * "layers" object of the step records, per parameter tensor ||θ||, ||g||, ||θ||/||g|| and (lars,
 * lamb) the trust ratio applied, against the step on logarithmic axes: the lecture's LARS "local
 * learning rate" plot and AdamP's weight-norm growth. One colour and line style per tensor, named
 * in a legend panel of its own, beside the data. */
#include <math.h>
#include <plplot/plplot.h>
#include <stdio.h>
#include <string.h>

#include "descent/descent.h"
#include "plot.h"
#include "plot_internal.h"

#define MAX_SHOWN 24 /* tensors drawn (beyond: the weights only, evenly spread over depth) */
#define MAX_TENSORS 4096

enum { W, G, RATIO, TRUST, NSTAT };
static const char *const keys[NSTAT] = {"w", "g", "w_g", "trust"};

typedef struct {
  char name[64];
  plot_series y[NSTAT]; /* log10 of each statistic, NAN where absent */
} tensor_curves;

typedef struct {
  plot_series step;
  tensor_curves *t;
  int n, cap;
  bool trust; /* the optimizer has trust ratios */
  int shown[MAX_SHOWN], n_shown;
} layer_curves;

/* The curves of tensor `name`, added (with NAN for the steps before) when new; NULL on no memory.
 */
static tensor_curves *tensor(layer_curves *c, const char *name, int hint) {
  if (hint < c->n && !strcmp(c->t[hint].name, name)) return &c->t[hint];
  for (int i = 0; i < c->n; i++)
    if (!strcmp(c->t[i].name, name)) return &c->t[i];
  if (c->n == MAX_TENSORS) return NULL;
  if (c->n == c->cap) {
    int cap = c->cap ? 2 * c->cap : 16;
    tensor_curves *p = ds_realloc(c->t, sizeof *p * (size_t)cap);
    if (!p) return NULL;
    c->t = p;
    c->cap = cap;
  }
  tensor_curves *t = &c->t[c->n++];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  for (int k = 0; k < NSTAT; k++)
    for (int i = 0; i < c->step.n - 1; i++)
      if (plot_push(&t->y[k], NAN)) return NULL;
  return t;
}

static double log_of(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) && v->valuedouble > 0 && isfinite(v->valuedouble) ? log10(v->valuedouble)
                                                                             : NAN;
}

static int add_layers(void *ctx, const char *kind, const cJSON *o) {
  layer_curves *c = ctx;
  const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers");
  if (strcmp(kind, "step") || !cJSON_IsObject(layers)) return 0;
  const cJSON *step = cJSON_GetObjectItemCaseSensitive(o, "step");
  if (plot_push(&c->step, cJSON_IsNumber(step) ? step->valuedouble : NAN)) return DS_ENOMEM;
  int i = 0;
  for (const cJSON *l = layers->child; l; l = l->next, i++) {
    tensor_curves *t = l->string ? tensor(c, l->string, i) : NULL;
    if (!t) return ds_set_error(DS_ENOMEM, "layers figure: out of memory");
    for (int k = 0; k < NSTAT; k++)
      if (t->y[k].n < c->step.n && plot_push(&t->y[k], log_of(l, keys[k]))) return DS_ENOMEM;
    c->trust = c->trust || cJSON_GetObjectItemCaseSensitive(l, "trust");
  }
  for (int j = 0; j < c->n; j++) /* tensors missing from this record */
    for (int k = 0; k < NSTAT; k++)
      if (c->t[j].y[k].n < c->step.n && plot_push(&c->t[j].y[k], NAN)) return DS_ENOMEM;
  return 0;
}

static bool is_weight(const char *name) {
  size_t n = strlen(name);
  return n >= 6 && !strcmp(name + n - 6, "weight");
}

/* Which tensors are drawn: all, or with more than MAX_SHOWN the weights, evenly spread. */
static void choose(layer_curves *c) {
  int cand[MAX_TENSORS], n = 0;
  for (int i = 0; i < c->n; i++)
    if (c->n <= MAX_SHOWN || is_weight(c->t[i].name)) cand[n++] = i;
  c->n_shown = n < MAX_SHOWN ? n : MAX_SHOWN;
  for (int j = 0; j < c->n_shown; j++)
    c->shown[j] = cand[n <= MAX_SHOWN ? j : (int)((long long)j * (n - 1) / (MAX_SHOWN - 1))];
}

/* Tensor j's colour (1..8 of colour map 0) and line style (1..8). */
static int colour_of(int j) { return 1 + j % 8; }
static int style_of(int j) { return 1 + (j / 8) % 8; }

static void panel(const layer_curves *c, int k, const char *ylabel, const char *title) {
  double x0 = 0, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  plot_range(&c->step, &x0, &x1);
  for (int j = 0; j < c->n_shown; j++)
    plot_range(&c->t[c->shown[j]].y[k], &y0, &y1);
  if (!isfinite(y0)) y0 = 0, y1 = 1;
  if (y1 - y0 < 0.3) { /* at least a third of a decade, so that the log axis gets labels */
    double mid = 0.5 * (y0 + y1);
    y0 = mid - 0.15;
    y1 = mid + 0.15;
  }
  plot_frame(x0, x1, y0, y1, "step", ylabel, title, PLOT_LOG_Y | PLOT_NO_LEGEND_ROOM);
  for (int j = 0; j < c->n_shown; j++) {
    plcol0(colour_of(j));
    pllsty(style_of(j));
    plwidth(2);
    plot_line(&c->step, &c->t[c->shown[j]].y[k]);
  }
  pllsty(1);
  plwidth(1);
}

/* The legend, alone in the last panel. */
static void legend_panel(const layer_curves *c) {
  PLINT opts[MAX_SHOWN], colors[MAX_SHOWN], styles[MAX_SHOWN];
  PLFLT widths[MAX_SHOWN], lw, lh;
  const char *names[MAX_SHOWN];
  for (int j = 0; j < c->n_shown; j++) {
    opts[j] = PL_LEGEND_LINE;
    colors[j] = colour_of(j);
    styles[j] = style_of(j);
    widths[j] = 2;
    names[j] = c->t[c->shown[j]].name;
  }
  pladv(0);
  plvpor(0.02, 0.98, 0.14, 0.88);
  plwind(0, 1, 0, 1);
  plcol0(15);
  int cols = c->n_shown > 12 ? 2 : 1;
  pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           PL_POSITION_TOP | PL_POSITION_LEFT | PL_POSITION_INSIDE, 0.02, 0.0, 0.1, 0, 15, 1, 0,
           cols, c->n_shown, opts, 0.5, cols > 1 ? 0.45 : 0.55, 1.6, 0, colors, names, NULL, NULL,
           NULL, NULL, colors, styles, widths, NULL, NULL, NULL, NULL);
}

/* Page sizes of the figure, and the character scale that gives its panels the text size of the
 * curves figure (PLplot scales text with the mean of the page's width and height). */
#define PANEL_W 500
#define PANEL_H 520
#define CURVES_W_PLUS_H (3 * PANEL_W + PANEL_H)

static void draw_layers(const void *ctx) {
  const layer_curves *c = ctx;
  int panels = c->trust ? 5 : 4;
  plschr(0, 0.9 * CURVES_W_PLUS_H / (panels * PANEL_W + PANEL_H));
  panel(c, W, "‖θ‖", "parameter norm ‖θ‖");
  panel(c, G, "‖g‖", "gradient norm ‖g‖ (after clipping)");
  panel(c, RATIO, "‖θ‖ / ‖g‖", "‖θ‖ / ‖g‖");
  if (c->trust) panel(c, TRUST, "trust ratio", "trust ratio (local lr = lr × ratio)");
  legend_panel(c);
}

int plot_layers(const char *run_dir, const char *out, bool *drawn) {
  layer_curves c;
  memset(&c, 0, sizeof c);
  *drawn = false;
  int st = plot_read_records(run_dir, add_layers, &c);
  if (!st && c.n > 0 && c.step.n > 0) {
    choose(&c);
    int panels = c.trust ? 5 : 4;
    char geometry[32];
    snprintf(geometry, sizeof geometry, "%dx%d", panels * PANEL_W, PANEL_H);
    st = plot_render_both(draw_layers, &c, panels, out, geometry);
    *drawn = !st;
  }
  for (int i = 0; i < c.n; i++)
    for (int k = 0; k < NSTAT; k++)
      ds_free(c.t[i].y[k].v);
  ds_free(c.t);
  ds_free(c.step.v);
  return st;
}
