/* descent CLI — one training run assembled from settings: datasets, model graph, objective,
 * optimizer, schedule and loader; evaluation; checkpoints. Shared by train and eval. */
#ifndef DESCENT_CLI_RUN_H
#define DESCENT_CLI_RUN_H
#include <stdbool.h>
#include <stdint.h>

#include "descent/descent.h"
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
  int64_t steps_per_epoch, total_steps;
  int64_t *eval_idx; /* (max_batch) scratch for evaluation */
  int threads;
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
/* Creates the optimizer (with its hyperparameters), the schedule and the loader. */
int run_setup_training(run *r);
/* Evaluates on d in eval mode (training mode is restored afterwards). */
int run_evaluate(run *r, const ds_dataset *d, run_eval *out);
/* Accuracy of the current batch's logits against the labels in the graph (0 for regression). */
int64_t run_batch_correct(run *r, int64_t b);
void run_free(run *r);

/* Progress of a run saved in a checkpoint. */
typedef struct {
  int64_t step;  /* optimizer steps done */
  int64_t epoch; /* epochs done */
} run_pos;

/* Writes params, buffers, optimizer state, RNG and loader state, position and config to path
 * atomically. */
int checkpoint_save(run *r, const char *path, run_pos pos);
/* Reads path's settings (the config stored in its metadata) into cfg. */
int checkpoint_read_config(const char *path, settings *cfg);
/* Restores params and buffers (and, with full, optimizer state, RNG and loader state) from path
 * into a run set up from the same settings; *pos receives the position (may be NULL). Tensors
 * missing or of another shape are errors naming the tensor. */
int checkpoint_load(run *r, const char *path, bool full, run_pos *pos);

#endif
