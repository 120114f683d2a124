/* descent landscape RUN_DIR|CHECKPOINT — the loss around a trained model: on a plane spanned by two
 * filter-normalised random directions (Li et al. 2018; default) or by the principal directions of
 * the run's path (--directions=pca, landscape_pca.c), or along the line between two weight
 * vectors (Goodfellow et al. 2015; --line): the run's initial weights and the checkpoint, or two
 * checkpoints. CSV, contour or curve plots (PNG, SVG). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis_load.h"
#include "commands.h"
#include "descent/analysis.h"
#include "landscape.h"
#include "opts.h"
#include "plot.h"
#include "progress.h"

static int usage(FILE *f, int rc) {
  fprintf(
      f,
      "usage: descent landscape RUN_DIR|CHECKPOINT [options]\n\n"
      "The training loss around a checkpoint (RUN_DIR means RUN_DIR/checkpoint.safetensors).\n\n"
      "Plane (default): L(w + a d1 + b d2) on a grid, d1 and d2 Gaussian directions normalised "
      "per\n"
      "filter to the weights' filter norms (Li et al. 2018); biases and norm parameters are not\n"
      "moved unless --include-bn. Batch norm uses the batch statistics of each evaluation batch "
      "of\n"
      "the subset (running statistics would belong to the unperturbed weights); other models are\n"
      "evaluated in eval mode.\n"
      "  --grid N | NXxNY  grid points (default 25x25)\n"
      "  --range R         a, b in [-R, R] (default 1)\n"
      "  --include-bn      move biases and norm parameters too (direction = the weights there)\n"
      "  --workers N       grid points evaluated in parallel, one thread each (default: "
      "threads)\n"
      "  --directions pca  the plane of the two principal directions of the run's path instead\n"
      "                    (Li et al. 2018, section 7): PCA of the run's trajectory-<step>\n"
      "                    checkpoints (train with --train.trajectory=true) relative to the\n"
      "                    checkpoint, the path projected and drawn on the contour, the share of\n"
      "                    the path's variance along each direction reported; the grid spans\n"
      "                    the path (or --range); also writes PREFIX-path.csv (step,a,b)\n\n"
      "Line (--line): L((1 - alpha) w_A + alpha w_B), alpha from --alpha-min to --alpha-max; w_A "
      "the\n"
      "run's initial weights (regenerated from its seed) or --from CHECKPOINT, w_B the "
      "checkpoint.\n"
      "Train and test loss and accuracy in eval mode; batch-norm running statistics interpolated\n"
      "alike.\n"
      "  --line            the 1-D interpolation instead of the plane\n"
      "  --from CKPT       the alpha = 0 end (default: the run's initial weights)\n"
      "  --points N        alphas (default 41)\n"
      "  --alpha-min X     (default -0.5)    --alpha-max X   (default 1.5)\n\n"
      "Both:\n"
      "  --samples N       first N training (and, for --line, test) samples (default 2048; 0: "
      "all)\n"
      "  --seed N          seed of the directions (default 0)\n"
      "  --batch N         samples per forward pass (default 512)\n"
      "  --threads N       threads (default: the run's setting)\n"
      "  --out PREFIX      PREFIX.csv, .png, .svg (default RUN_DIR/landscape-plane, -pca or "
      "-line)\n"
      "  --progress MODE   auto (a bar on a terminal), bar, plain, none (default auto)\n"
      "  --zrange LO,HI    plane: colour scale of log10 loss (to compare figures side by side)\n"
      "  --replot          plane: redraw PREFIX.png/.svg from PREFIX.csv without evaluating\n"
      "  --help\n");
  return rc;
}

typedef struct {
  progress p;
} bar_ctx;

static void on_progress(void *ctx, int64_t done, int64_t total) {
  (void)total;
  progress_units(&((bar_ctx *)ctx)->p, done, "grid points");
}

/* ---- the plane ---------------------------------------------------------------------------- */

/* Coordinate i of n evenly spaced over [lo, hi], as ds_loss_plane computes it. */
static double grid_at(double lo, double hi, int i, int n) { return lo + (hi - lo) * i / (n - 1); }

int landscape_draw(const ds_plane_grid *g, const double *loss, const landscape_figure *f,
                   const char *out) {
  int nx = g->nx, ny = g->ny;
  double *z = ds_malloc(sizeof(double) * (size_t)nx * ny);
  if (!z) return DS_ENOMEM;
  int best = 0;
  for (int i = 0; i < nx * ny; i++) {
    z[i] = log10(loss[i]);
    if (loss[i] < loss[best]) best = i;
  }
  plot_contour_spec spec = {.nx = nx,
                            .ny = ny,
                            .x0 = g->a0,
                            .x1 = g->a1,
                            .y0 = g->b0,
                            .y1 = g->b1,
                            .z = z,
                            .title = f->title,
                            .xlabel = f->xlabel,
                            .ylabel = f->ylabel,
                            .zlabel = "log#d10#u train loss",
                            .mark = true,
                            .mark_x = grid_at(g->a0, g->a1, best / ny, nx),
                            .mark_y = grid_at(g->b0, g->b1, best % ny, ny),
                            .mark_label = "grid minimum",
                            .paths = f->path,
                            .n_paths = f->path ? 1 : 0,
                            .zmin = f->zrange ? f->zrange[0] : 0,
                            .zmax = f->zrange ? f->zrange[1] : 0};
  int st = plot_contour(&spec, out, true);
  ds_free(z);
  return st;
}

/* The figure of a filter-normalised plane of `samples` samples. */
static int draw_plane(const ds_plane_grid *g, const double *loss, int64_t samples,
                      const double *zrange, const char *out) {
  char title[200];
  snprintf(title, sizeof title, "train loss, %lld samples, filter-normalised plane",
           (long long)samples);
  landscape_figure f = {title, "a (direction 1)", "b (direction 2)", NULL, zrange};
  return landscape_draw(g, loss, &f, out) ? cli_fail("landscape") : 0;
}

/* Redraws PREFIX.png/.svg from PREFIX.csv (a,b,train_loss rows, a-major as written by plane()). */
static int replot(const char *out, int64_t samples, const double *zrange) {
  char file[4500];
  snprintf(file, sizeof file, "%s.csv", out);
  char *text = ds_read_file(file, NULL);
  if (!text) return cli_fail("landscape");
  int cap = 1024, n = 0, rc = 0;
  double *a = ds_malloc(sizeof(double) * (size_t)cap), *b = ds_malloc(sizeof(double) * (size_t)cap),
         *l = ds_malloc(sizeof(double) * (size_t)cap);
  char *save = NULL, *row = strtok_r(text, "\n", &save); /* header */
  if (!row || strcmp(row, "a,b,train_loss"))
    rc = ds_set_error(DS_EFORMAT, "'%s' is not a landscape plane CSV", file);
  while (!rc && a && b && l && (row = strtok_r(NULL, "\n", &save))) {
    if (n == cap) {
      cap *= 2;
      double *na = ds_realloc(a, sizeof(double) * (size_t)cap),
             *nb = na ? ds_realloc(b, sizeof(double) * (size_t)cap) : NULL,
             *nl = nb ? ds_realloc(l, sizeof(double) * (size_t)cap) : NULL;
      if (na) a = na;
      if (nb) b = nb;
      if (nl) l = nl;
      if (!nl) rc = DS_ENOMEM;
    }
    if (!rc && sscanf(row, "%lf,%lf,%lf", &a[n], &b[n], &l[n]) != 3)
      rc = ds_set_error(DS_EFORMAT, "'%s' line %d is not a,b,train_loss", file, n + 2);
    n++;
  }
  int ny = 1;
  while (!rc && ny < n && a[ny] == a[0])
    ny++;
  int nx = ny ? n / ny : 0;
  if (!rc && (nx < 2 || ny < 2 || nx * ny != n || a[0] != b[0] || a[n - 1] != b[n - 1]))
    rc = ds_set_error(DS_EFORMAT, "'%s' does not hold a full square-range grid", file);
  if (rc) rc = cli_fail("landscape");
  ds_plane_grid g = {nx, ny, a[0], -a[0], a[0], -a[0]};
  if (!rc) rc = draw_plane(&g, l, samples, zrange, out);
  if (!rc) printf("wrote %s.png, %s.svg from %s\n", out, out, file);
  ds_free(text);
  ds_free(a);
  ds_free(b);
  ds_free(l);
  return rc;
}

int landscape_grid(analysis_model *m, const float *w0, const float *d1, const float *d2,
                   const ds_plane_grid *grid, const landscape_eval *e, double *loss,
                   landscape_stats *out) {
  bool bn = ds_graph_buffers(m->r.g)->numel > 0; /* batch statistics when the model has them */
  ds_graph *graphs[LANDSCAPE_MAX_WORKERS] = {0};
  ds_lossfn *f[LANDSCAPE_MAX_WORKERS] = {0};
  int st = 0, workers = e->workers;
  for (int k = 0; k < workers && !st; k++) {
    ds_node x = m->r.x, y = m->r.y;
    graphs[k] = k == 0 ? m->r.g : NULL;
    if (k > 0) st = analysis_worker(m, &graphs[k], &x, &y);
    if (!st && !(f[k] = ds_lossfn_new(graphs[k], x, y, m->r.train, e->samples, bn)))
      st = ds_last_status();
  }
  double t0 = progress_now();
  bar_ctx bc;
  progress_init(&bc.p, e->progress, 0, (int64_t)grid->nx * grid->ny, grid->nx);
  if (!st) st = ds_loss_plane(f, workers, w0, d1, d2, grid, loss, on_progress, &bc);
  progress_clear(&bc.p);
  out->seconds = progress_now() - t0;
  out->samples = f[0] ? ds_lossfn_samples(f[0]) : 0;
  out->batch_stats = bn;
  for (int k = 0; k < workers; k++) {
    ds_lossfn_free(f[k]);
    if (k > 0) ds_graph_free(graphs[k]);
  }
  return st;
}

int landscape_write_grid(const char *out, const ds_plane_grid *g, const double *loss) {
  char file[4500];
  snprintf(file, sizeof file, "%s.csv", out);
  ds_atomic_file *af = ds_atomic_open(file);
  if (!af) return ds_last_status();
  FILE *fo = ds_atomic_stream(af);
  fprintf(fo, "a,b,train_loss\n");
  for (int i = 0; i < g->nx; i++)
    for (int j = 0; j < g->ny; j++)
      fprintf(fo, "%.6g,%.6g,%.9g\n", grid_at(g->a0, g->a1, i, g->nx),
              grid_at(g->b0, g->b1, j, g->ny), loss[i * g->ny + j]);
  return ds_atomic_commit(af);
}

void landscape_report(const ds_plane_grid *g, const double *loss, double centre_a,
                      double centre_b) {
  int best = 0, worst = 0, nx = g->nx, ny = g->ny;
  for (int i = 0; i < nx * ny; i++) {
    if (loss[i] < loss[best]) best = i;
    if (loss[i] > loss[worst]) worst = i;
  }
  /* the grid point nearest to the weights */
  int ci = (int)lround((centre_a - g->a0) / (g->a1 - g->a0) * (nx - 1)),
      cj = (int)lround((centre_b - g->b0) / (g->b1 - g->b0) * (ny - 1));
  ci = ci < 0 ? 0 : ci >= nx ? nx - 1 : ci;
  cj = cj < 0 ? 0 : cj >= ny ? ny - 1 : cj;
  printf("  loss at the weights %.6g, grid minimum %.6g at (%.3g, %.3g), maximum %.6g\n",
         loss[ci * ny + cj], loss[best], grid_at(g->a0, g->a1, best / ny, nx),
         grid_at(g->b0, g->b1, best % ny, ny), loss[worst]);
}

static int plane(analysis_model *m, int nx, int ny, double range, bool include_bn,
                 const landscape_eval *e, uint64_t seed, const char *out, const double *zrange) {
  ds_paramset *ps = ds_graph_params(m->r.g);
  int64_t n = ps->numel;
  float *w0 = ds_malloc(sizeof(float) * (size_t)n), *d1 = ds_malloc(sizeof(float) * (size_t)n),
        *d2 = ds_malloc(sizeof(float) * (size_t)n);
  double *loss = ds_malloc(sizeof(double) * (size_t)nx * (size_t)ny);
  int rc = w0 && d1 && d2 && loss ? 0 : cli_fail("landscape");
  if (!rc) {
    analysis_copy(w0, ps->data, n);
    if (ds_filter_normalized_direction(ps, seed, include_bn, d1) ||
        ds_filter_normalized_direction(ps, seed + 1, include_bn, d2))
      rc = cli_fail("landscape");
  }
  ds_plane_grid grid = {nx, ny, -range, range, -range, range};
  landscape_stats ls;
  if (!rc && landscape_grid(m, w0, d1, d2, &grid, e, loss, &ls)) rc = cli_fail("landscape");
  if (!rc && landscape_write_grid(out, &grid, loss)) rc = cli_fail("landscape");
  if (!rc) rc = draw_plane(&grid, loss, ls.samples, zrange, out);
  if (!rc) {
    printf("%s: plane %dx%d over [-%g, %g]^2, %lld training samples (%s), %d worker%s, %.1f s\n",
           m->ckpt, nx, ny, range, range, (long long)ls.samples,
           ls.batch_stats ? "batch statistics" : "eval mode", e->workers, e->workers > 1 ? "s" : "",
           ls.seconds);
    landscape_report(&grid, loss, 0, 0);
    printf("wrote %s.csv, %s.png, %s.svg\n", out, out, out);
  }
  ds_free(w0);
  ds_free(d1);
  ds_free(d2);
  ds_free(loss);
  return rc;
}

/* ---- the line ------------------------------------------------------------------------------ */

/* dst = (1 - t) a + t b over n floats. */
static void lerp(float *dst, const float *a, const float *b, double t, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    dst[i] = (float)((1 - t) * a[i] + t * b[i]);
}

static int line(analysis_model *m, const char *from, int points, double amin, double amax,
                int64_t samples, const char *out) {
  ds_paramset *ps = ds_graph_params(m->r.g), *bufs = ds_graph_buffers(m->r.g);
  int64_t n = ps->numel, nb = bufs->numel;
  size_t pb = sizeof(float) * (size_t)(n ? n : 1), bb = sizeof(float) * (size_t)(nb ? nb : 1);
  float *wa = ds_malloc(pb), *wb = ds_malloc(pb), *ba = ds_malloc(bb), *bbuf = ds_malloc(bb);
  int rc = wa && wb && ba && bbuf ? 0 : cli_fail("landscape");
  if (!rc) { /* B: the checkpoint as loaded; A: --from, or the initial weights */
    analysis_copy(wb, ps->data, n);
    analysis_copy(bbuf, bufs->data, nb);
    if (from) {
      if (analysis_load_weights(m, from)) rc = cli_fail("landscape");
      analysis_copy(wa, ps->data, n);
      analysis_copy(ba, bufs->data, nb);
    } else {
      analysis_copy(wa, m->init, n);
      analysis_copy(ba, m->init_buffers, nb);
    }
  }
  char file[4500];
  snprintf(file, sizeof file, "%s.csv", out);
  ds_atomic_file *af = rc ? NULL : ds_atomic_open(file);
  if (!rc && !af) rc = cli_fail("landscape");
  FILE *fo = af ? ds_atomic_stream(af) : NULL;
  if (fo) fprintf(fo, "alpha,train_loss,test_loss,train_acc,test_acc\n");
  ds_node logits = m->r.regression ? DS_NONE : m->r.logits;
  double t0 = progress_now(), best = INFINITY, best_a = 0;
  for (int k = 0; k < points && !rc; k++) {
    double t = amin + (amax - amin) * k / (points - 1), trl, tra, tel, tea;
    lerp(ps->data, wa, wb, t, n);
    lerp(bufs->data, ba, bbuf, t, nb);
    ds_eval_options eo = ds_eval_options_default();
    eo.n = samples;
    ds_eval_result tr, te;
    if (ds_evaluate(m->r.g, m->r.x, m->r.y, logits, m->r.train, &eo, &tr)) {
      rc = cli_fail("landscape");
      break;
    }
    trl = tr.loss, tra = tr.acc;
    ds_eval_result_free(&tr);
    if (ds_evaluate(m->r.g, m->r.x, m->r.y, logits, m->r.test, &eo, &te)) {
      rc = cli_fail("landscape");
      break;
    }
    tel = te.loss, tea = te.acc;
    ds_eval_result_free(&te);
    if (trl < best) best = trl, best_a = t;
    fprintf(fo, "%.6g,%.9g,%.9g,%.9g,%.9g\n", t, trl, tel, tra, tea);
  }
  if (!rc && ds_atomic_commit(af)) rc = cli_fail("landscape");
  if (rc) ds_atomic_abort(af);
  if (!rc && plot_csv(file, out)) rc = cli_fail("landscape");
  if (!rc) {
    printf(
        "%s: line from %s (alpha 0) to the checkpoint (alpha 1), %d points in [%g, %g], %.1f s\n",
        m->ckpt, from ? from : "the initial weights", points, amin, amax, progress_now() - t0);
    printf("  lowest train loss %.6g at alpha %.3g\n", best, best_a);
    printf("wrote %s.csv, %s.png, %s.svg\n", out, out, out);
  }
  if (wb) analysis_copy(ps->data, wb, n);
  if (bbuf) analysis_copy(bufs->data, bbuf, nb);
  ds_free(wa);
  ds_free(wb);
  ds_free(ba);
  ds_free(bbuf);
  return rc;
}

int cmd_landscape(int argc, char **argv) {
  const char *target = NULL, *threads = NULL, *from = NULL, *out = NULL, *grid = "25x25",
             *pmode = "auto";
  const char *directions = "random";
  int64_t samples = 2048, seed = 0, batch = 512, points = 41, workers = 0;
  double range = 1, amin = -0.5, amax = 1.5;
  bool include_bn = false, is_line = false, has_zr = false, do_replot = false, has_range = false;
  double zr[2] = {0, 0};
  static const opt_spec specs[] = {
      {"--grid", true},      {"--range", true},   {"--include-bn", false}, {"--workers", true},
      {"--line", false},     {"--from", true},    {"--points", true},      {"--alpha-min", true},
      {"--alpha-max", true}, {"--samples", true}, {"--seed", true},        {"--batch", true},
      {"--threads", true},   {"--out", true},     {"--progress", true},    {"--zrange", true},
      {"--replot", false},   {"--help", false},   {"--directions", true}};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-h")) return usage(stdout, 0);
    const char *v;
    int o = opt_next("landscape", specs, (int)(sizeof specs / sizeof *specs), argc, argv, &i, &v),
        rc = 0;
    switch (o) {
    case -2: return 2;
    case -1:
      if (target) {
        fprintf(stderr, "descent: landscape: unexpected argument '%s'\n", v);
        return 2;
      }
      target = v;
      break;
    case 0: grid = v; break;
    case 1:
      rc = opt_double("landscape", "--range", v, &range);
      has_range = true;
      break;
    case 2: include_bn = true; break;
    case 3: rc = opt_int("landscape", "--workers", v, 1, LANDSCAPE_MAX_WORKERS, &workers); break;
    case 4: is_line = true; break;
    case 5: from = v; break;
    case 6: rc = opt_int("landscape", "--points", v, 2, 10000, &points); break;
    case 7: rc = opt_double("landscape", "--alpha-min", v, &amin); break;
    case 8: rc = opt_double("landscape", "--alpha-max", v, &amax); break;
    case 9: rc = opt_int("landscape", "--samples", v, 0, INT64_MAX, &samples); break;
    case 10: rc = opt_int("landscape", "--seed", v, 0, INT64_MAX, &seed); break;
    case 11: rc = opt_int("landscape", "--batch", v, 1, 1 << 20, &batch); break;
    case 12: threads = v; break;
    case 13: out = v; break;
    case 14: pmode = v; break;
    case 15: {
      char *end;
      zr[0] = strtod(v, &end);
      if (*end != ',' || (zr[1] = strtod(end + 1, &end), *end) || !(zr[1] > zr[0])) {
        fprintf(stderr, "descent: landscape: --zrange expects LO,HI with LO < HI, got '%s'\n", v);
        return 2;
      }
      has_zr = true;
    } break;
    case 16: do_replot = true; break;
    case 18: directions = v; break;
    default: return usage(stdout, 0);
    }
    if (rc) return rc;
  }
  if (!target) return usage(stderr, 2);
  int nx = 0, ny = 0;
  {
    char *end;
    long a = strtol(grid, &end, 10), b = a;
    if (*end == 'x') b = strtol(end + 1, &end, 10);
    if (*end || a < 2 || b < 2 || a > 1000 || b > 1000) {
      fprintf(stderr,
              "descent: landscape: --grid expects N or NXxNY with 2..1000 points, got '%s'\n",
              grid);
      return 2;
    }
    nx = (int)a;
    ny = (int)b;
  }
  if (!(range > 0) || !(amax > amin)) {
    fprintf(stderr, "descent: landscape: need --range > 0 and --alpha-max > --alpha-min\n");
    return 2;
  }
  if (strcmp(pmode, "auto") && strcmp(pmode, "bar") && strcmp(pmode, "plain") &&
      strcmp(pmode, "none")) {
    fprintf(stderr, "descent: landscape: --progress '%s' is not one of auto, bar, plain, none\n",
            pmode);
    return 2;
  }
  if (from && !is_line) {
    fprintf(stderr, "descent: landscape: --from needs --line\n");
    return 2;
  }
  bool pca = !strcmp(directions, "pca");
  if (!pca && strcmp(directions, "random")) {
    fprintf(stderr, "descent: landscape: --directions '%s' is not one of random, pca\n",
            directions);
    return 2;
  }
  if (pca && (is_line || do_replot || include_bn)) {
    fprintf(stderr, "descent: landscape: --directions=pca makes a plane: it takes no --line, "
                    "--replot or --include-bn\n");
    return 2;
  }
  if (samples > 0 && batch > samples) batch = samples;
  if (do_replot) {
    if (is_line) {
      fprintf(stderr,
              "descent: landscape: --replot redraws a plane; for a line use descent plot --csv\n");
      return 2;
    }
    char prefix[4400];
    snprintf(prefix, sizeof prefix, out ? "%s" : "%s/landscape-plane", out ? out : target);
    return replot(prefix, samples, has_zr ? zr : NULL);
  }
  analysis_model m;
  int rc = analysis_load(target, batch, threads, &m) ? cli_fail("landscape") : 0;
  if (!rc) {
    char prefix[4400];
    if (out)
      snprintf(prefix, sizeof prefix, "%s", out);
    else
      snprintf(prefix, sizeof prefix, "%s/landscape-%s", m.dir,
               is_line ? "line"
               : pca   ? "pca"
                       : "plane");
    landscape_eval e = {samples, workers ? (int)workers : m.r.threads, pmode};
    if (is_line)
      rc = line(&m, from, (int)points, amin, amax, samples, prefix);
    else if (pca)
      rc = landscape_pca(&m, nx, ny, has_range ? range : 0, &e, prefix, has_zr ? zr : NULL);
    else
      rc = plane(&m, nx, ny, range, include_bn, &e, (uint64_t)seed, prefix, has_zr ? zr : NULL);
  }
  analysis_free(&m);
  return rc;
}
