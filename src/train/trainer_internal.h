/* Private state of a ds_trainer, shared by trainer.c and checkpoint.c. */
#ifndef DESCENT_TRAINER_INTERNAL_H
#define DESCENT_TRAINER_INTERNAL_H
#include "descent/train.h"

struct ds_trainer {
  ds_trainer_parts p;
  ds_trainer_options o;
  int64_t step, epoch;
  float *weights;  /* (max_batch) objective weights */
  int64_t *idx;    /* (max_batch) evaluation indices */
  int64_t classes; /* logits per sample; 0 without logits */
  int momentum_key; /* where a cycling schedule's momentum goes: 0 nowhere, 1 "momentum", 2 "betas"[0] */
  double objective;  /* objective value of the last ds__trainer_grad */
  /* SAM (sam.c): w saved during the ascent, chunk-gradient sum (m-sharpness), training accuracy
   * counted at w, and whether the pass running is the second (objective state frozen) */
  float *sam_w, *sam_acc;
  int64_t sam_correct;
  bool second_pass;
};

/* Gradient of the batch of b samples already in inputs x and y: sets the batch, forward, checks
 * the loss is finite, objective weights, backward. *loss = the mean loss; t->objective = the
 * objective's value. */
ds_status ds__trainer_grad(ds_trainer *t, int64_t b, double *loss);
/* Rows among the first b whose argmax logit equals the label (0 without classes). */
int64_t ds__trainer_count_correct(ds_trainer *t, int64_t b);

/* SAM (sam.c): the same contract as ds__trainer_grad, with the gradient taken at w + e. */
ds_status ds__sam_grad(ds_trainer *t, int64_t b, double *loss);
/* Allocates SAM's buffers when t->o.sam.rho > 0 (validating the options); frees them. */
ds_status ds__sam_init(ds_trainer *t);
void ds__sam_free(ds_trainer *t);

#endif
