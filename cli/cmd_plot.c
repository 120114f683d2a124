/* descent plot RUN_DIR [RUN_DIR...] [--out PREFIX] — loss, accuracy and lr curves to PNG and SVG,
 * and per-layer norms and trust ratios of runs trained with --train.log_layers=true.
 * descent plot --csv FILE [--out PREFIX] — the curves of a CSV file (e.g. docs/figures/lr_*.csv).
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "descent/descent.h"
#include "plot.h"

int cmd_plot(int argc, char **argv) {
  const char *out = NULL, *csv = NULL;
  const char *dirs[64];
  int n = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf(
          "usage: descent plot RUN_DIR [RUN_DIR...] [--out PREFIX]\n"
          "       descent plot --csv FILE.csv [--out PREFIX]\n\n"
          "Draws loss (train per logged step, test per epoch), accuracy and learning-rate curves\n"
          "of one or more runs on one figure, written to PREFIX.png and PREFIX.svg\n"
          "(default: RUN_DIR/curves for one run, ./compare for several).\n"
          "Runs trained with --train.log_layers=true also get RUN_DIR/layers.png and .svg (one\n"
          "run with --out: PREFIX-layers): per parameter tensor ||w||, ||g||, ||w||/||g|| and the\n"
          "LARS/LAMB trust ratio against the step, on log axes.\n"
          "With --csv: one line per column of FILE.csv against its first column (header row\n"
          "names them; at most 8 curves), to PREFIX.png/.svg (default: FILE without .csv).\n");
      return 0;
    }
    if (!strncmp(argv[i], "--out", 5)) {
      if (argv[i][5] == '=')
        out = argv[i] + 6;
      else if (!argv[i][5] && i + 1 < argc)
        out = argv[++i];
      else {
        fprintf(stderr, "descent: plot: option '%s' needs a value\n", argv[i]);
        return 2;
      }
      continue;
    }
    if (!strncmp(argv[i], "--csv", 5)) {
      if (argv[i][5] == '=')
        csv = argv[i] + 6;
      else if (!argv[i][5] && i + 1 < argc)
        csv = argv[++i];
      else {
        fprintf(stderr, "descent: plot: option '%s' needs a value\n", argv[i]);
        return 2;
      }
      continue;
    }
    if (!strncmp(argv[i], "--", 2)) {
      fprintf(stderr, "descent: plot: unknown option '%s'\n", argv[i]);
      return 2;
    }
    if (n == 64) {
      fprintf(stderr, "descent: plot: at most 64 runs\n");
      return 2;
    }
    dirs[n++] = argv[i];
  }
  char def[4200];
  if (csv) {
    if (n) {
      fprintf(stderr, "descent: plot: give either --csv FILE or run directories, not both\n");
      return 2;
    }
    if (!out) {
      size_t len = strlen(csv);
      snprintf(def, sizeof def, "%.*s",
               (int)(len > 4 && !strcmp(csv + len - 4, ".csv") ? len - 4 : len), csv);
      out = def;
    }
    if (plot_csv(csv, out)) return cli_fail("plot");
    printf("%s.png\n%s.svg\n", out, out);
    return 0;
  }
  if (n == 0) {
    fprintf(stderr, "descent: plot: no run directory (usage: descent plot RUN_DIR [RUN_DIR...])\n");
    return 2;
  }
  if (!out) {
    if (n == 1)
      snprintf(def, sizeof def, "%s/curves", dirs[0]);
    else
      snprintf(def, sizeof def, "compare");
    out = def;
  }
  if (plot_runs(dirs, n, out)) return cli_fail("plot");
  printf("%s.png\n%s.svg\n", out, out);
  for (int i = 0; i < n; i++) {
    char layers[4300];
    bool drawn;
    if (n == 1 && out != def)
      snprintf(layers, sizeof layers, "%s-layers", out);
    else
      snprintf(layers, sizeof layers, "%s/layers", dirs[i]);
    if (plot_layers(dirs[i], layers, &drawn)) return cli_fail("plot");
    if (drawn) printf("%s.png\n%s.svg\n", layers, layers);
  }
  return 0;
}
