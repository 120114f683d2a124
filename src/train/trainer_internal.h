/* Private state of a ds_trainer, shared by the files of src/train/. */
#ifndef DESCENT_TRAINER_INTERNAL_H
#define DESCENT_TRAINER_INTERNAL_H
#include "descent/train.h"

/* Running sums that a checkpoint carries, so that a resumed run logs exactly what an
 * uninterrupted one does: the current epoch's training statistics and the metrics window. */
typedef struct {
  double epoch_loss;       /* sum over the epoch's batches of loss * batch */
  int64_t epoch_samples;   /* samples of the epoch so far */
  int64_t epoch_correct;   /* argmax hits of the epoch so far */
  double window_loss;      /* sum of the batch losses since the last "step" record */
  int64_t window_steps;    /* steps since the last "step" record */
  double window_objective; /* sum of the objective's values (tilted risk) since then */
} ds__run_sums;

struct ds_trainer {
  ds_trainer_parts p;
  ds_trainer_options o;
  int64_t step, epoch;
  ds__run_sums sums;
  float *weights;   /* (max_batch) objective weights */
  float *groups;    /* (max_batch) the batch's groups when the dataset has them (ds__trainer_load),
                       else NULL: hierarchical TERM then groups by class */
  int64_t classes;  /* logits per label (the logits' last dimension); 0 without logits */
  int momentum_key; /* where a cycling schedule's momentum goes: 0 nowhere, 1 "momentum", 2
                       "betas"[0] */
  double objective; /* objective value of the last ds__trainer_grad */
  /* SAM (sam.c): w saved during the ascent, chunk-gradient sum (m-sharpness), training accuracy
   * counted at w, and whether the pass running is the second (objective state frozen) */
  float *sam_w, *sam_acc;
  int64_t sam_correct;
  bool second_pass;
  ds_loader_state sam_loader; /* the loader before the step (SAM's second pass over the
                                 micro-batches of a parallel step re-reads them from here) */
  /* data parallelism and accumulation (parallel.c): the step's samples over all micro-batches and
   * ranks, the micro-batch being computed, and the step's running totals */
  ds_dist *dist;   /* NULL for one process */
  double lr_scale; /* multiplies the schedule's lr (a capped batch schedule), 1 by default */
  bool parallel;   /* dist or accumulation: the path of parallel.c */
  int64_t step_n, micro;
  double step_loss; /* sum of per-sample losses of the step so far */
  int64_t step_samples, step_correct;
  /* layer statistics (options.log_layers): (count) records of the step layers_step, measured at
   * steps that are multiples of layers_every (1; the fit sets its log_every) */
  ds_layer_stats *layers;
  int64_t layers_step, layers_every;
};

/* Loads the loader's next (micro-)batch into the graph's inputs x and y, the graph's batch set to
 * its size; returns that size, 0 at the end of the epoch (the loader starts the next), or a
 * negative status. */
int64_t ds__trainer_load(ds_trainer *t);

/* DS_OK for a finite loss, else DS_ENUMERIC naming the step, the epoch and the lr. */
ds_status ds__check_loss(const ds_trainer *t, double loss);

/* The gradient of the objective on the batch of b samples already written into the graph's inputs
 * x and y (graph batch set): forward, finite-loss check, objective weights, backward into
 * ds_graph_params(g)->grad. *loss receives the batch's mean per-sample loss; t->objective the
 * objective's value (the tilted risk; the mean loss for ERM). */
ds_status ds__trainer_grad(ds_trainer *t, int64_t b, double *loss);

/* Data parallelism and accumulation (parallel.c), used by the step when t->parallel:
 * begin: before the step's first batch is loaded, fixes step_n and clears the totals;
 * reduce: after the forward of a micro-batch of b local samples, adds its loss and hits to the
 *   totals over all ranks (one small allreduce) and writes the objective weights 1/step_n into
 *   t->weights; *loss becomes the micro-batch's global mean loss;
 * backward: the micro-batch's backward, accumulating after the first, with the bucketed gradient
 *   allreduce on the step's last micro-batch;
 * rest: the step's further micro-batches (load, ds__trainer_grad) and the averaging of the
 *   buffers; *b, *loss and *correct become the step's totals. */
void ds__parallel_begin(ds_trainer *t);
ds_status ds__parallel_reduce(ds_trainer *t, int64_t b, double *loss);
/* The part of reduce that adds a micro-batch's local loss sum, samples and hits to the step's
 * totals over all ranks (one small allreduce); *mean becomes the micro-batch's global mean loss. */
ds_status ds__parallel_totals(ds_trainer *t, double loss_sum, int64_t b, int64_t correct,
                              double *mean);
/* The step's micro-batches after the one computed (load, ds__trainer_grad), until step_n samples.
 */
ds_status ds__parallel_more(ds_trainer *t);
ds_status ds__parallel_backward(ds_trainer *t);
ds_status ds__parallel_rest(ds_trainer *t, int64_t *b, double *loss, int64_t *correct);
/* The trainer's checks and set-up for parallel steps (ds_trainer_new): options, initial state from
 * rank 0. */
ds_status ds__parallel_init(ds_trainer *t);

/* Argmax hits of the first b rows of the logits against the labels in y (0 without classes). */
int64_t ds__count_correct(ds_graph *g, ds_node logits, ds_node y, int64_t b);

/* Saves the trainer as dir/<prefix>-<step>.safetensors (ds_run_file_path) and deletes the oldest
 * such files of dir beyond `keep` (0: none deleted). */
ds_status ds__trainer_save_numbered(ds_trainer *t, const char *dir, const char *prefix, int keep,
                                    const char *const *meta, int n_meta);

/* SAM (sam.c): the same contract as ds__trainer_grad (the graph's batch set to b), with the
 * gradient taken at w + e; t->sam_correct gets the argmax hits at w. */
ds_status ds__sam_grad(ds_trainer *t, int64_t b, double *loss);
/* SAM of a parallel step (data parallelism or accumulation, t->parallel): the whole step's
 * micro-batches twice, the ascent from the reduced gradient (sam.m = 0), or every chunk of sam.m of
 * this rank's samples with its own ascent; b is the first micro-batch's size, already loaded. The
 * step's totals are those of the first pass. */
ds_status ds__sam_parallel_grad(ds_trainer *t, int64_t b);
/* Under parallelism sam.m must divide this rank's micro-batch: an error naming both otherwise. */
ds_status ds__sam_check_parallel(const ds_trainer *t);
/* Allocates SAM's buffers when t->o.sam.rho > 0 (validating the options); frees them. */
ds_status ds__sam_init(ds_trainer *t);
void ds__sam_free(ds_trainer *t);

#endif
