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
};

#endif
