/* descent CLI — one training run assembled from settings: datasets, model graph, objective,
 * optimizer, schedule and loader; evaluation; checkpoints. Shared by train and eval. */
#ifndef DESCENT_CLI_RUN_H
#define DESCENT_CLI_RUN_H
#include <stdbool.h>
#include <stdint.h>

#include "descent/descent.h"
#include "descent/train.h"
#include "settings.h"

typedef struct {
  settings cfg;
  ds_dataset *train, *val, *test; /* val NULL without data.val_fraction */
  ds_graph *g;
  ds_node x, y, logits, loss;
  bool regression;
  int n_classes;
  ds_optim *opt;
  ds_sched *sched;
  ds_loader *loader;
  ds_trainer *trainer; /* drives the parts above (train.h) */
  int64_t steps_per_epoch, total_steps;
  int threads;
  double tilt; /* objective.tilt, read by the tilted objective */
} run;

/* Loss and accuracy of one pass over a dataset (accuracy NAN for regression). */
typedef struct {
  double loss, acc;
  int64_t n;
} run_eval;

/* Sets the OpenMP and OpenBLAS thread counts from train.threads; returns the count used. */
int run_set_threads(run *r);
/* Loads and prepares the datasets (imbalance, validation split, label noise, normalisation). */
int run_setup_data(run *r);
/* Builds and compiles the model graph with its objective; initialises parameters from the seed. */
int run_setup_model(run *r);
/* Creates the optimizer (with its hyperparameters), the schedule, the loader and the trainer. */
int run_setup_training(run *r);
/* Memorisation of label noise: over the training samples whose label was corrupted, the share
 * the model (eval mode, evaluation weights) predicts as the noisy label and as the clean label.
 * *n_noisy = 0 (and NANs) without label noise. */
int run_memorization(run *r, double *memorized, double *clean_acc, int64_t *n_noisy);
/* Evaluates on d in eval mode (training mode is restored afterwards). */
int run_evaluate(run *r, const ds_dataset *d, run_eval *out);
void run_free(run *r);

/* Writes the trainer's complete state and the resolved settings (metadata "config") to path
 * atomically (ds_trainer_save). */
int checkpoint_save(run *r, const char *path);
/* Reads path's settings (the config stored in its metadata) into cfg. */
int checkpoint_read_config(const char *path, settings *cfg);
/* Rebuilds the run stored in target (a checkpoint, or a run directory meaning its
 * checkpoint.safetensors): settings, data, model, training state. model non-NULL: the run must
 * hold that model. threads non-NULL overrides train.threads. Release with run_free (also on error). */
int checkpoint_open_run(run *r, const char *target, const char *model, const char *threads);

#endif
