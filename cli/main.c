/* descent — command-line entry point: dispatches to one subcommand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "descent/descent.h"

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *help;
} command;

static const command commands[] = {
    {"train", cmd_train, "train a model (descent train --help lists every setting)"},
    {"eval", cmd_eval, "evaluate a checkpoint on a data split"},
    {"sample", cmd_sample, "generate text from a trained gpt"},
    {"plot", cmd_plot, "plot loss, accuracy and lr curves of one or more runs"},
    {"replay", cmd_replay, "run an optimizer or schedule on a reference trajectory file"},
    {"bench", cmd_bench, "benchmarks (descent bench optim)"},
    {"meanfield", cmd_meanfield, "critical initialisation from mean-field theory"},
    {"experiment", cmd_experiment, "reproduce a claim of the lecture (descent experiment --list)"},
    {"sharpness", cmd_sharpness,
     "top Hessian eigenvalues, trace and epsilon-sharpness of a checkpoint"},
    {"landscape", cmd_landscape,
     "loss on a filter-normalised plane or along a line through a checkpoint"},
    {"signal", cmd_signal,
     "activation length per depth and input-output Jacobian spectrum (init or checkpoint)"},
    {"toy", cmd_toy, "race optimizers on 2-D test surfaces (saddle, Rosenbrock, ...)"},
};

int cli_parse_options(int argc, char **argv, const char *cmd, const char *const *names,
                      const char **const *values, int n, const char **target) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
    int k = -1;
    for (int j = 0; j < n && k < 0; j++) {
      size_t m = strlen(names[j]);
      if (!strncmp(a, names[j], m) && (!a[m] || a[m] == '=')) k = j;
    }
    if (k >= 0) {
      const char *eq = strchr(a, '=');
      if (eq) {
        *values[k] = eq + 1;
      } else if (i + 1 < argc) {
        *values[k] = argv[++i];
      } else {
        fprintf(stderr, "descent: %s: option '%s' needs a value\n", cmd, a);
        return 2;
      }
    } else if (!strncmp(a, "--", 2)) {
      fprintf(stderr, "descent: %s: unknown option '%s'\n", cmd, a);
      return 2;
    } else if (!*target) {
      *target = a;
    } else {
      fprintf(stderr, "descent: %s: unexpected argument '%s'\n", cmd, a);
      return 2;
    }
  }
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "descent %s — deep-learning optimization toolbox\n\nusage: descent <command> "
          "[options]\n\ncommands:\n",
          ds_version());
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "\n'descent <command> --help' describes each command.\n");
}

/* OpenMP threads that busy-wait at barriers turn a shared machine's spare core into a stall. MLP
 * epoch on 2 threads (bench_mlp), quiet machine / one other busy process: default spinning
 * 0.37 s / 7-30 s, passive waiting 0.45-0.75 s / 1.19 s, a spin count of 1000 0.39 s / 1.24 s.
 * libgomp reads these settings once, when it loads, so the CLI re-executes itself once with the
 * short spin; a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins. */
static void prefer_short_spin(char **argv) {
  if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
  setenv("GOMP_SPINCOUNT", "1000", 1);
  execv("/proc/self/exe", argv); /* returns only on failure: then carry on as we are */
}

int main(int argc, char **argv) {
  prefer_short_spin(argv);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("descent %s\n", ds_version());
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "descent: unknown command '%s' (see 'descent --help')\n", argv[1]);
  return 2;
}
