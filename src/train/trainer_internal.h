/* Private state of a ds_trainer, shared by the files of src/train/. */
#ifndef DESCENT_TRAINER_INTERNAL_H
#define DESCENT_TRAINER_INTERNAL_H
#include "descent/train.h"

/* Running sums that a checkpoint carries, so that a resumed run logs exactly what an
 * uninterrupted one does: the current epoch's training statistics and the metrics window. */
typedef struct {
  double epoch_loss;     /* sum over the epoch's batches of loss * batch */
  int64_t epoch_samples; /* samples of the epoch so far */
  int64_t epoch_correct; /* argmax hits of the epoch so far */
  double window_loss;    /* sum of the batch losses since the last "step" record */
  int64_t window_steps;  /* steps since the last "step" record */
  double window_objective; /* sum of the objective's values (tilted risk) since then */
} ds__run_sums;

struct ds_trainer {
  ds_trainer_parts p;
  ds_trainer_options o;
  int64_t step, epoch;
  ds__run_sums sums;
  float *weights;  /* (max_batch) objective weights */
  int64_t classes; /* logits per label (the logits' last dimension); 0 without logits */
  int momentum_key; /* where a cycling schedule's momentum goes: 0 nowhere, 1 "momentum", 2 "betas"[0] */
  double objective;  /* objective value of the last ds__trainer_grad */
  /* SAM (sam.c): w saved during the ascent, chunk-gradient sum (m-sharpness), training accuracy
   * counted at w, and whether the pass running is the second (objective state frozen) */
  float *sam_w, *sam_acc;
  int64_t sam_correct;
  bool second_pass;
};

/* The gradient of the objective on the batch of b samples already written into the graph's inputs
 * x and y (graph batch set): forward, finite-loss check, objective weights, backward into
 * ds_graph_params(g)->grad. *loss receives the batch's mean per-sample loss; t->objective the
 * objective's value (the tilted risk; the mean loss for ERM). */
ds_status ds__trainer_grad(ds_trainer *t, int64_t b, double *loss);

/* Argmax hits of the first b rows of the logits against the labels in y (0 without classes). */
int64_t ds__count_correct(ds_graph *g, ds_node logits, ds_node y, int64_t b);

/* SAM (sam.c): the same contract as ds__trainer_grad (the graph's batch set to b), with the
 * gradient taken at w + e; t->sam_correct gets the argmax hits at w. */
ds_status ds__sam_grad(ds_trainer *t, int64_t b, double *loss);
/* Allocates SAM's buffers when t->o.sam.rho > 0 (validating the options); frees them. */
ds_status ds__sam_init(ds_trainer *t);
void ds__sam_free(ds_trainer *t);

#endif
