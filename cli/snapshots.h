/* descent CLI — snapshot ensembles (Huang et al. 2017) in a training run: with a cyclic schedule
 * (cosine_restarts, cyclic) the complete state is saved at the end of each cycle as
 * RUN_DIR/snapshot-<step>.safetensors, the last sched.snapshots of them kept; at the end of the
 * run the softmax outputs of the kept snapshots are averaged on the test split. Snapshots are
 * files, so an interrupted and resumed run keeps the ones it took before. */
#ifndef DESCENT_CLI_SNAPSHOTS_H
#define DESCENT_CLI_SNAPSHOTS_H
#include <stdint.h>

#include "run.h"

typedef struct {
  int count;                  /* snapshots in the ensemble */
  double ens_loss, ens_acc;   /* of the averaged probabilities */
  double mean_loss, mean_acc; /* mean over the single snapshots */
} snapshot_report;

/* Checks sched.snapshots against the run (a schedule with cycles, a classification task). */
int snapshot_check(const run *r);
/* After the step that brought the step count to `steps`: if a cycle ended there, saves a snapshot
 * in dir and deletes the oldest beyond sched.snapshots. */
int snapshot_after_step(run *r, const char *dir, int64_t steps);
/* Evaluates the ensemble of the snapshots in dir on the test split, then restores the run's state
 * from ckpt. out->count is 0 if there are none. */
int snapshot_ensemble(run *r, const char *dir, const char *ckpt, snapshot_report *out);

#endif
