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
  ds_objective *objective;     /* NULL for the mean */
  ds_dist *dist;               /* the processes of mpirun (borrowed; rank 0 of 1 without) */
  ds_batch_sched *batch_sched; /* train.batch_growth, or NULL */
  char *config_text;           /* run_config_text's cache */
  bool input_grad;             /* run_setup_model: backward also computes d/d x (descent signal) */
} run;

/* Sets the library's thread count from train.threads (ds_threads_set); returns the count used
 * and writes it back into the settings (config.ini records the resolved count). */
int run_set_threads(run *r);
/* Keeps the image datasets read from files in memory across the runs of this process (on), or
 * releases them (off). Off by default. */
void run_cache_enable(bool on);
/* Loads and prepares the datasets (imbalance, validation split, label noise, normalisation). */
int run_setup_data(run *r);
/* Builds and compiles the model graph with its objective; initialises parameters from the seed. */
int run_setup_model(run *r);
/* Creates the optimizer (with its hyperparameters), the schedule, the loader and the trainer. */
int run_setup_training(run *r);
/* model.init with its parameters resolved (run.c): a = gain or sigma_w, b = sigma_b. Errors name
 * the setting. */
int run_parse_init(const settings *c, ds_act act, ds_init *out);
/* The per-sample loss node from objective.loss (cli/run_objective.c). */
ds_node run_build_loss(run *r);
/* The objective (objective.*) and SAM (sam.*) settings into the trainer options. */
int run_setup_objective(run *r, ds_trainer_options *to);
/* The settings as INI text (cached in r): the "config" metadata of every checkpoint. */
const char *run_config_text(run *r);
void run_free(run *r);

/* Re-sets the current error message with the prefix "<key>: ", naming the setting at fault;
 * returns st (DS_EINVAL if st is 0). */
int run_fail_key(int st, const char *key);

/* Reads path's settings (the config stored in its metadata) into cfg. */
int checkpoint_read_config(const char *path, settings *cfg);
/* Rebuilds the run stored in target (a checkpoint, or a run directory meaning its
 * checkpoint.safetensors): settings, data, model, training state. model non-NULL: the run must
 * hold that model. threads non-NULL overrides train.threads. Release with run_free (also on error).
 */
int checkpoint_open_run(run *r, const char *target, const char *model, const char *threads);

#endif
