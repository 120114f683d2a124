/* descent CLI — `descent experiment`: the lecture's claims as data. An experiment is a claim, base
 * settings per scale, a list of arms (settings overrides on top of the base), the metrics to
 * report, and a judge that says whether the claimed direction held. Every arm runs through the
 * same training path as `descent train` (train_run.h), once per seed, in its own run directory. */
#ifndef DESCENT_CLI_EXPERIMENT_H
#define DESCENT_CLI_EXPERIMENT_H
#include <stdbool.h>
#include <stddef.h>

#include "run.h"

#define EXP_MAX_ARMS 64
#define EXP_MAX_METRICS 8
#define EXP_MAX_SEEDS 10
#define EXP_MAX_EPOCHS 64

typedef enum { EXP_QUICK = 0, EXP_DEFAULT, EXP_FULL } exp_scale;

/* One arm: its name in results.json ("sgd", "batch@2") and its settings over the base, as
 * "key=value key=value". Arms with run = false are not trained: the judge derives their values
 * from other arms (e.g. each optimizer at its best lr of a grid). */
typedef struct {
  char name[64];
  char overrides[512];
  bool run;
} exp_arm;

/* What the harness observes of every run, from which the metrics are read. */
typedef struct {
  int status; /* 0, or DS_ENUMERIC if the run diverged */
  double test_acc, test_loss, train_loss, train_acc, worst_class_acc;
  double memorised; /* share of corrupted labels predicted as the corrupted label */
  double ensemble_acc, best_single_acc;
  double early_max_loss; /* largest training loss of the first 200 steps */
  double norm0,
      norm1; /* norm of the conv weights (scale-invariant under batch norm) before and after */
  double custom[4]; /* experiment-specific measurements (measure hook) */
  int epochs;
  double epoch_train_loss[EXP_MAX_EPOCHS];
} exp_obs;

/* Values of every metric of every arm for every seed; NAN where not measured. */
typedef struct {
  exp_scale scale;
  int n_arms, n_metrics, n_seeds;
  exp_arm arms[EXP_MAX_ARMS];
  const char *metrics[EXP_MAX_METRICS];
  double v[EXP_MAX_ARMS][EXP_MAX_METRICS][EXP_MAX_SEEDS];
  exp_obs obs[EXP_MAX_ARMS][EXP_MAX_SEEDS];
  bool holds;
  char summary[1024];
} exp_results;

typedef struct exp_def {
  const char *name;
  const char *claim;
  const char *setup;   /* one paragraph for the report: model, data, budget */
  const char *base[3]; /* settings of quick, default, full scale */
  /* Writes the arms for a scale into arms (at most cap); returns their number. */
  int (*arms)(exp_scale scale, exp_arm *arms, int cap);
  const char *metrics[EXP_MAX_METRICS]; /* names in results.json, NULL-terminated */
  /* Optional: measurements of the run before training (initial state) and after it. */
  int (*before)(const struct exp_def *e, run *r, exp_obs *o);
  int (*after)(const struct exp_def *e, run *r, exp_obs *o);
  /* Reads metric m of an arm from its observation (NULL: the harness's standard names). */
  double (*metric)(const struct exp_def *e, const exp_arm *arm, const char *m, const exp_obs *o);
  /* Fills derived arms and decides: res->holds and a one-sentence res->summary. */
  void (*judge)(const struct exp_def *e, exp_results *res);
} exp_def;

/* The table of experiments (experiments.c), NULL-terminated. */
extern const exp_def *const experiments[];

/* ---- helpers for the definitions ---- */
/* Appends an arm; returns the new count. */
int exp_add_arm(exp_arm *arms, int n, int cap, bool run, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Index of arm `name` / metric `m`, or -1. */
int exp_arm_index(const exp_results *r, const char *name);
int exp_metric_index(const exp_results *r, const char *m);
/* Mean over seeds of metric m of arm `name` (NAN values skipped; NAN if none). */
double exp_mean(const exp_results *r, const char *name, const char *m);

#endif
