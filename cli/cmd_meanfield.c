/* descent meanfield — critical initialisation from mean-field theory: sigma_w*, q*, chi1 and the
 * depth scales for an activation and sigma_b; a given point with --sigma-w; the order-to-chaos
 * phase diagram as CSV (and PNG through PLplot) with --plot. */
#include <math.h>
#include <plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "descent/analysis.h"
#include "descent/descent.h"
#include "plot.h"

static void usage(FILE *f) {
  fprintf(
      f, "usage: descent meanfield [options]\n\n"
         "Mean-field signal propagation in a deep fully connected network with weights\n"
         "N(0, sigma_w^2/fan_in) and biases N(0, sigma_b^2) (Poole et al. 2016, Schoenholz et al.\n"
         "2017). Prints the critical sigma_w* (chi1 = 1) for the activation and sigma_b.\n\n"
         "  --act NAME      relu, tanh, gelu, sigmoid, leaky_relu, identity (default tanh)\n"
         "  --sigma-b X     bias standard deviation, >= 0 (default 0.05)\n"
         "  --sigma-w X     evaluate this point instead of searching for the critical one\n"
         "  --plot FILE     write the phase diagram: FILE (.csv grid: sigma_w, sigma_b, q*, chi1,\n"
         "                  c*, xi_c), FILE with _critical.csv (the critical line) and, if FILE\n"
         "                  ends in .csv, the same name with .png\n"
         "  --grid N        grid points per axis of the phase diagram (default 30, 2..200)\n"
         "  --sw-max X      sigma_w range [0.5, X] of the diagram (default 4)\n"
         "  --sb-max X      sigma_b range [0, X] of the diagram (default 0.3)\n"
         "  --help\n\n"
         "Use the result as the meanfield init of a model (DS_INIT_MEANFIELD, a = sigma_w,\n"
         "b = sigma_b).\n");
}

static int parse_num(const char *flag, const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (!*s || *end || !isfinite(v)) {
    fprintf(stderr, "descent meanfield: %s expects a number, got '%s'\n", flag, s);
    return 2;
  }
  *out = v;
  return 0;
}

static const char *phase_of(const ds_meanfield *m) {
  if (fabs(m->chi1 - 1) < 1e-6) return "critical (edge of chaos)";
  return m->chi1 < 1 ? "ordered (chi1 < 1: inputs converge)"
                     : "chaotic (chi1 > 1: inputs decorrelate)";
}

static void print_point(const ds_meanfield *m) {
  printf("  q*    = %.6g%s\n", m->q_star, isinf(m->q_star) ? " (the length map diverges)" : "");
  printf("  chi1  = %.6f\n", m->chi1);
  printf("  c*    = %.6f\n", m->c_star);
  printf("  chi_c = %.6f\n", m->chi_c);
  printf("  xi_c  = %.6g (correlation depth scale, -1/ln chi_c)\n", m->xi_c);
  printf("  xi_q  = %.6g (length depth scale)\n", m->xi_q);
  printf("  phase: %s\n", phase_of(m));
}

/* Filled contour of log10(xi_c) (capped) with the critical line, into a PNG. */
static int plot_png(const char *png, ds_act act, const double *sw, const double *sb, int n,
                    PLFLT **z, const double *crit_sw, const double *crit_sb, int nc) {
  ds_atomic_file *a = plot_file_begin("pngcairo", png);
  if (!a) return DS_EIO;
  plspage(0, 0, 800, 600, 0, 0);
  plscol0(0, 255, 255, 255); /* white background, black ink */
  plscol0(15, 0, 0, 0);
  plscol0(1, 0, 0, 0);
  plinit();
  plcol0(1);
  plenv(sw[0], sw[n - 1], sb[0], sb[n - 1], 0, 0);
  char title[128];
  snprintf(title, sizeof title, "%s: log10 depth scale xi_c, critical line chi1 = 1",
           ds_act_name(act));
  pllab("sigma_w", "sigma_b", title);
  PLFLT clev[21];
  for (int i = 0; i < 21; i++)
    clev[i] = -0.5 + 3.0 * i / 20.0;
  PLFLT xg[256], yg[256];
  for (int i = 0; i < n; i++) {
    xg[i] = sw[i];
    yg[i] = sb[i];
  }
  PLcGrid cg = {xg, yg, NULL, n, n, 0};
  plshades((PLFLT_MATRIX)z, n, n, NULL, sw[0], sw[n - 1], sb[0], sb[n - 1], clev, 21, 1, 0, 0,
           plfill, 1, pltr1, &cg);
  plcol0(1);
  plwidth(3);
  PLFLT cx[256], cy[256];
  for (int i = 0; i < nc; i++) {
    cx[i] = crit_sw[i];
    cy[i] = crit_sb[i];
  }
  if (nc > 1) plline(nc, cx, cy);
  return plot_file_end(a);
}

static int write_phase(const char *file, ds_act act, int n, double sw_max, double sb_max) {
  ds_atomic_file *a = ds_atomic_open(file);
  if (!a) return cli_fail("meanfield");
  FILE *f = ds_atomic_stream(a);
  double sw[256], sb[256], crit_sw[256], crit_sb[256];
  PLFLT **z;
  plAlloc2dGrid(&z, n, n);
  for (int i = 0; i < n; i++) {
    sw[i] = 0.5 + (sw_max - 0.5) * i / (n - 1);
    sb[i] = sb_max * i / (n - 1);
  }
  fprintf(f, "sigma_w,sigma_b,q_star,chi1,c_star,xi_c\n");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      ds_meanfield m;
      if (ds_meanfield_eval(act, sw[i], sb[j], &m)) {
        ds_atomic_abort(a);
        plFree2dGrid(z, n, n);
        return cli_fail(NULL);
      }
      fprintf(f, "%.6g,%.6g,%.8g,%.8g,%.8g,%.8g\n", sw[i], sb[j], m.q_star, m.chi1, m.c_star,
              m.xi_c);
      z[i][j] = log10(fmin(fmax(m.xi_c, 0.5), 1000.0));
    }
  if (ds_atomic_commit(a)) {
    plFree2dGrid(z, n, n);
    return cli_fail("meanfield");
  }
  char name[1024];
  size_t len = strlen(file);
  bool csv = len > 4 && !strcmp(file + len - 4, ".csv");
  snprintf(name, sizeof name, "%.*s_critical.csv", (int)(csv ? len - 4 : len), file);
  if (!(a = ds_atomic_open(name))) {
    plFree2dGrid(z, n, n);
    return cli_fail("meanfield");
  }
  f = ds_atomic_stream(a);
  fprintf(f, "sigma_b,sigma_w_critical,q_star\n");
  int nc = 0;
  for (int j = 0; j < n; j++) {
    ds_meanfield m;
    if (ds_meanfield_critical(act, sb[j], &m)) continue; /* none in range: the line stops */
    fprintf(f, "%.6g,%.8g,%.8g\n", sb[j], m.sigma_w, m.q_star);
    crit_sw[nc] = m.sigma_w;
    crit_sb[nc++] = sb[j];
  }
  int rc = ds_atomic_commit(a) ? cli_fail("meanfield") : 0;
  if (!rc) printf("wrote %s (%d x %d grid) and %s\n", file, n, n, name);
  if (!rc && csv) {
    snprintf(name, sizeof name, "%.*s.png", (int)(len - 4), file);
    rc = plot_png(name, act, sw, sb, n, z, crit_sw, crit_sb, nc) ? cli_fail("meanfield") : 0;
    if (!rc) printf("wrote %s\n", name);
  }
  plFree2dGrid(z, n, n);
  return rc;
}

int cmd_meanfield(int argc, char **argv) {
  ds_act act = DS_ACT_TANH;
  double sigma_b = 0.05, sigma_w = -1, sw_max = 4, sb_max = 0.3, grid = 30;
  const char *plot = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "descent meanfield: unknown option or missing value: '%s' (see --help)\n", a);
      return 2;
    }
    const char *v = argv[++i];
    int rc = 0;
    if (!strcmp(a, "--act")) {
      if (ds_act_parse(v, &act)) {
        fprintf(stderr, "descent meanfield: --act: %s\n", ds_last_error());
        return 2;
      }
    } else if (!strcmp(a, "--sigma-b")) {
      rc = parse_num(a, v, &sigma_b);
    } else if (!strcmp(a, "--sigma-w")) {
      rc = parse_num(a, v, &sigma_w);
      if (!rc && !(sigma_w > 0)) {
        fprintf(stderr, "descent meanfield: --sigma-w must be > 0, got %s\n", v);
        return 2;
      }
    } else if (!strcmp(a, "--plot")) {
      plot = v;
    } else if (!strcmp(a, "--grid")) {
      rc = parse_num(a, v, &grid);
      if (!rc && !(grid >= 2 && grid <= 200 && grid == floor(grid))) {
        fprintf(stderr, "descent meanfield: --grid must be an integer in 2..200, got %s\n", v);
        return 2;
      }
    } else if (!strcmp(a, "--sw-max")) {
      rc = parse_num(a, v, &sw_max);
      if (!rc && !(sw_max > 0.5)) {
        fprintf(stderr, "descent meanfield: --sw-max must be > 0.5, got %s\n", v);
        return 2;
      }
    } else if (!strcmp(a, "--sb-max")) {
      rc = parse_num(a, v, &sb_max);
      if (!rc && !(sb_max > 0)) {
        fprintf(stderr, "descent meanfield: --sb-max must be > 0, got %s\n", v);
        return 2;
      }
    } else {
      fprintf(stderr, "descent meanfield: unknown option '%s' (see --help)\n", a);
      return 2;
    }
    if (rc) return rc;
  }
  if (!(sigma_b >= 0)) {
    fprintf(stderr, "descent meanfield: --sigma-b must be >= 0, got %g\n", sigma_b);
    return 2;
  }
  ds_meanfield m;
  if (sigma_w > 0) {
    if (ds_meanfield_eval(act, sigma_w, sigma_b, &m)) return cli_fail(NULL);
    printf("activation %s, sigma_w = %.6f, sigma_b = %.6f\n", ds_act_name(act), sigma_w, sigma_b);
    print_point(&m);
  } else {
    if (ds_meanfield_critical(act, sigma_b, &m)) return cli_fail(NULL);
    printf("activation %s, sigma_b = %.6f\n", ds_act_name(act), sigma_b);
    printf("  sigma_w* = %.6f (sigma_w*^2 = %.6f)\n", m.sigma_w, m.sigma_w * m.sigma_w);
    print_point(&m);
  }
  if (plot) return write_phase(plot, act, (int)grid, sw_max, sb_max);
  return 0;
}
