/* descent CLI — one training run from settings, in its run directory: what descent train does,
 * and what descent experiment does for every arm and seed. */
#ifndef DESCENT_CLI_TRAIN_RUN_H
#define DESCENT_CLI_TRAIN_RUN_H
#include <stdbool.h>

#include "run.h"

/* How a caller takes part in a run. All optional. */
typedef struct {
  const char *resume_dir; /* continue this run from its checkpoint (descent train --resume) */
  bool overwrite;         /* the run directory may hold an earlier run's files (--overwrite) */
  bool quiet;             /* no header, warnings, progress, epoch lines, plots */
  ds_dist *dist;          /* the processes of mpirun (NULL: one): every rank trains its share of
                             each batch, rank 0 alone prints and writes the run directory */
  void *ctx;
  /* after every epoch's evaluation */
  int (*on_epoch)(void *ctx, const ds_epoch_report *e);
  /* after every step; nonzero stops the run there (resumable) */
  int (*on_step)(void *ctx, const ds_step_result *r, int64_t step, int64_t epoch);
  /* once the run is set up, before training (e.g. to record the initial weights) */
  int (*before_fit)(void *ctx, run *r);
  /* after training, with the fit's result; status is DS_ENUMERIC for a run that diverged */
  int (*after_fit)(void *ctx, run *r, const ds_fit_result *fr, int status);
} train_hooks;

/* Trains the run cfg describes in train.run_dir (empty: runs/<stamp>-<name>), writing config.ini,
 * metrics.jsonl, checkpoints, summary.json and (unless quiet) plots there. Returns the process exit
 * status: 0, 1 runtime failure (a diverged run included), 2 a bad setting, 130/143 interrupted. */
int train_from_settings(const settings *cfg, const train_hooks *h);

#endif
