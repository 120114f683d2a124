/* descent toy — optimizer races on 2-D test surfaces: a contour plot with every racer's path, a
 * CSV of every position, a table of steps to the target and final loss, and optional frames for
 * an animation. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "descent/analysis.h"
#include "descent/descent.h"
#include "opts.h"
#include "plot.h"

#define MAX_RACERS 8
#define DEFAULT_RACERS "sgd,momentum,nesterov,adagrad,rmsprop,adadelta,adam"

static int usage(FILE *f, int rc) {
  fprintf(
      f,
      "usage: descent toy [options]\n\n"
      "Races optimizers on a 2-D test surface. Every racer is descent's own optimizer (the same\n"
      "fused step as in training) over a 2-element parameter (x, y), with weight decay 0.\n\n"
      "  --surface NAME    %s (default rosenbrock)\n"
      "  --kappa X         quadratic: condition number, >= 1 (default 10)\n"
      "  --optims LIST     racers, comma-separated, at most %d (default %s);\n"
      "                    momentum = sgd with momentum 0.9, nesterov = the same with nesterov;\n"
      "                    any other optimizer name runs with its defaults\n"
      "  --lr R=X,...      learning rate of racer R (default: a table per surface, printed)\n"
      "  --start X,Y       start point (default: per surface, printed)\n"
      "  --steps N         steps per racer (default: per surface)\n"
      "  --eps X           target: within X of the minimum (default 0.01); saddle: |y| > 1\n"
      "  --out PREFIX      writes PREFIX.png, PREFIX.svg, PREFIX.csv (default toy-SURFACE)\n"
      "  --frames DIR      also writes DIR/frame-0000.png ... for an animation\n"
      "  --frame-count N   number of frames (default 60, 2..1000)\n"
      "  --help\n\n"
      "The CSV has one row per racer and step: racer,step,x,y,loss. An animation from the\n"
      "frames, e.g.: ffmpeg -framerate 12 -i DIR/frame-%%04d.png race.mp4\n",
      ds_toy_names(), MAX_RACERS, DEFAULT_RACERS);
  return rc;
}

static int bad(const char *what, const char *value) {
  fprintf(stderr, "descent: toy: %s: '%s'\n", what, value);
  return 2;
}

static int parse_pair(const char *flag, const char *s, double out[2]) {
  char *end;
  double a = strtod(s, &end);
  if (end == s || *end != ',') return bad(flag, s);
  char *e2;
  double b = strtod(end + 1, &e2);
  if (e2 == end + 1 || *e2 || !isfinite(a) || !isfinite(b)) return bad(flag, s);
  out[0] = a;
  out[1] = b;
  return 0;
}

typedef struct {
  char name[32];
  double lr;
  double *path; /* (steps + 1) x 2 */
  ds_toy_result res;
} racer;

/* Writes every position: racer,step,x,y,loss. */
static int write_csv(const char *path, const ds_toy_surface *s, const racer *r, int n,
                     int64_t steps) {
  ds_atomic_file *af = ds_atomic_open(path);
  if (!af) return cli_fail("toy");
  FILE *f = ds_atomic_stream(af);
  fprintf(f, "racer,step,x,y,loss\n");
  for (int k = 0; k < n; k++)
    for (int64_t t = 0; t <= steps; t++) {
      double x = r[k].path[2 * t], y = r[k].path[2 * t + 1];
      fprintf(f, "%s,%lld,%.9g,%.9g,%.9g\n", r[k].name, (long long)t, x, y,
              ds_toy_eval(s, x, y, NULL, NULL));
    }
  return ds_atomic_commit(af) ? cli_fail("toy") : 0;
}

/* The surface on a grid for the contour plot: log10(f - f_min + 1e-3) where f has a minimum (the
 * valleys of Rosenbrock and Beale disappear on a linear scale), f itself on the saddle. */
static double *surface_grid(const ds_toy_surface *s, int n, const char **label) {
  double *z = ds_malloc(sizeof(double) * (size_t)n * (size_t)n);
  if (!z) return NULL;
  bool lin = s->kind == DS_TOY_SADDLE;
  *label = lin ? "f(x, y)" : "log#d10#u(f - f#dmin#u + 10#u-3#d)";
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double x = s->window[0] + (s->window[1] - s->window[0]) * i / (n - 1);
      double y = s->window[2] + (s->window[3] - s->window[2]) * j / (n - 1);
      double f = ds_toy_eval(s, x, y, NULL, NULL);
      z[i * n + j] = lin ? f : log10(f - s->f_min + 1e-3);
    }
  return z;
}

static int draw(const ds_toy_surface *s, const racer *r, int n, int upto, const double *z, int grid,
                const char *zlabel, const char *out, bool svg) {
  plot_path paths[MAX_RACERS];
  for (int k = 0; k < n; k++)
    paths[k] = (plot_path){r[k].name, r[k].path, upto + 1, false};
  char title[160];
  if (s->kind == DS_TOY_QUADRATIC)
    snprintf(title, sizeof title, "quadratic, kappa = %g: step %d", s->kappa, upto);
  else
    snprintf(title, sizeof title, "%s: step %d", ds_toy_name(s->kind), upto);
  plot_contour_spec spec = {.nx = grid,
                            .ny = grid,
                            .x0 = s->window[0],
                            .x1 = s->window[1],
                            .y0 = s->window[2],
                            .y1 = s->window[3],
                            .z = z,
                            .title = title,
                            .xlabel = "x",
                            .ylabel = "y",
                            .zlabel = zlabel,
                            .mark = true,
                            .mark_x = s->minimum[0],
                            .mark_y = s->minimum[1],
                            .mark_label = s->kind == DS_TOY_SADDLE ? "saddle point" : "minimum",
                            .paths = paths,
                            .n_paths = n};
  return plot_contour(&spec, out, svg) ? cli_fail("toy") : 0;
}

int cmd_toy(int argc, char **argv) {
  const char *surface = "rosenbrock", *optims = DEFAULT_RACERS, *lrs = NULL, *start = NULL,
             *out = NULL, *frames = NULL;
  double kappa = 10, eps = 0.01;
  int64_t steps = -1, nframes = 60;
  static const opt_spec specs[] = {{"--surface", true},     {"--kappa", true}, {"--optims", true},
                                   {"--lr", true},          {"--start", true}, {"--steps", true},
                                   {"--eps", true},         {"--out", true},   {"--frames", true},
                                   {"--frame-count", true}, {"--help", false}};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-h")) return usage(stdout, 0);
    const char *v;
    int k = opt_next("toy", specs, (int)(sizeof specs / sizeof *specs), argc, argv, &i, &v), rc = 0;
    switch (k) {
    case -2: return 2;
    case -1: return bad("unexpected argument", v);
    case 0: surface = v; break;
    case 1: rc = opt_double("toy", "--kappa", v, &kappa); break;
    case 2: optims = v; break;
    case 3: lrs = v; break;
    case 4: start = v; break;
    case 5: rc = opt_int("toy", "--steps", v, 0, 1000000, &steps); break;
    case 6: rc = opt_double("toy", "--eps", v, &eps); break;
    case 7: out = v; break;
    case 8: frames = v; break;
    case 9: rc = opt_int("toy", "--frame-count", v, 2, 1000, &nframes); break;
    default: return usage(stdout, 0);
    }
    if (rc) return rc;
  }
  ds_toy_surface s;
  if (ds_toy_surface_get(surface, kappa, &s)) return cli_fail("toy");
  if (start && parse_pair("--start X,Y", start, s.start)) return 2;
  if (steps < 0) steps = s.steps;
  if (!(eps > 0)) return bad("--eps must be > 0", "");

  /* racers */
  racer r[MAX_RACERS];
  memset(r, 0, sizeof r);
  int n = 0;
  {
    char list[512];
    snprintf(list, sizeof list, "%s", optims);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      if (n == MAX_RACERS) return bad("--optims: too many racers (at most 8)", optims);
      snprintf(r[n].name, sizeof r[n].name, "%s", t);
      r[n].lr = ds_toy_default_lr(&s, t);
      if (!isfinite(r[n].lr))
        return bad("--optims: unknown racer (momentum, nesterov or an optimizer name)", t);
      n++;
    }
    if (n == 0) return bad("--optims: no racer", optims);
  }
  if (lrs) {
    char list[512];
    snprintf(list, sizeof list, "%s", lrs);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      char *eq = strchr(t, '=');
      if (!eq) return bad("--lr expects RACER=X,...", lrs);
      *eq = 0;
      int k = 0;
      while (k < n && strcmp(r[k].name, t))
        k++;
      if (k == n) return bad("--lr names a racer that is not in --optims", t);
      if (opt_double("toy", "--lr", eq + 1, &r[k].lr)) return 2;
      if (r[k].lr < 0) return bad("--lr must be >= 0", eq + 1);
    }
  }
  char prefix[1024];
  snprintf(prefix, sizeof prefix, "%s", out ? out : "");
  if (!out) snprintf(prefix, sizeof prefix, "toy-%s", ds_toy_name(s.kind));

  int rc = 0;
  for (int k = 0; k < n && !rc; k++) {
    r[k].path = ds_malloc(sizeof(double) * 2 * ((size_t)steps + 1));
    ds_paramset *ps = ds_toy_params(s.start[0], s.start[1]);
    ds_optim *o = ps && r[k].path ? ds_toy_optim_new(r[k].name, ps) : NULL;
    if (!o || ds_toy_run(&s, o, ps, r[k].lr, (int)steps, eps, r[k].path, &r[k].res))
      rc = cli_fail("toy");
    ds_optim_free(o);
    ds_paramset_free(ps);
  }

  if (!rc) {
    printf("%s", ds_toy_name(s.kind));
    if (s.kind == DS_TOY_QUADRATIC) printf(" (kappa %g)", s.kappa);
    printf(" from (%g, %g), %lld steps; target: %s\n", s.start[0], s.start[1], (long long)steps,
           s.kind == DS_TOY_SADDLE ? "escape the saddle, |y| > 1"
                                   : "distance to the minimum < eps");
    printf("  %-10s %10s %16s %14s  %s\n", "racer", "lr", "steps to target", "final loss",
           "final point");
    for (int k = 0; k < n; k++) {
      char st[32];
      if (r[k].res.steps_to_target >= 0)
        snprintf(st, sizeof st, "%d", r[k].res.steps_to_target);
      else
        snprintf(st, sizeof st, "%s", r[k].res.diverged ? "diverged" : "not reached");
      printf("  %-10s %10.4g %16s %14.6g  (%.4f, %.4f)\n", r[k].name, r[k].lr, st,
             r[k].res.final_loss, r[k].path[2 * steps], r[k].path[2 * steps + 1]);
    }
    char file[1100];
    snprintf(file, sizeof file, "%s.csv", prefix);
    rc = write_csv(file, &s, r, n, steps);
  }
  const char *zlabel = NULL;
  int grid = 200;
  double *z = rc ? NULL : surface_grid(&s, grid, &zlabel);
  if (!rc && !z) rc = cli_fail("toy");
  if (!rc) rc = draw(&s, r, n, (int)steps, z, grid, zlabel, prefix, true);
  if (!rc) printf("wrote %s.png, %s.svg, %s.csv\n", prefix, prefix, prefix);
  if (!rc && frames) {
    if (mkdir(frames, 0777) && errno != EEXIST) {
      fprintf(stderr, "descent: toy: cannot create the frames directory '%s': %s\n", frames,
              strerror(errno));
      rc = 1;
    }
    for (int f = 0; f < nframes && !rc; f++) {
      char file[1100];
      snprintf(file, sizeof file, "%s/frame-%04d", frames, f);
      rc = draw(&s, r, n, (int)(steps * f / (nframes - 1)), z, grid, zlabel, file, false);
    }
    if (!rc) printf("wrote %lld frames to %s/frame-NNNN.png\n", (long long)nframes, frames);
  }
  ds_free(z);
  for (int k = 0; k < n; k++)
    ds_free(r[k].path);
  return rc;
}
