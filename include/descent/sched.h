/* descent — learning-rate schedules, warm-up and large-batch rules. (Snapshot ensembles, which
 * save the model where a cycle ends, belong to the training run: train.h.)
 *
 * A schedule is a closed-form function of the step index: ds_sched_lr(s, k) depends on k only,
 * so resuming at step k gives exactly the lr an uninterrupted run has. Names and hyperparameter
 * keywords are those of torch.optim.lr_scheduler (PyTorch 1.13); the values match what PyTorch
 * produces when stepped once per step (optimizer.step() then scheduler.step()). docs/schedules.md
 * gives each formula and the few places where PyTorch's recursive form is followed on purpose.
 *
 * Example:
 *   ds_sched *s = ds_sched_new("cosine", 0.1);
 *   ds_sched_set(s, "T_max", (double[]){1000}, 1);
 *   ds_sched_set_warmup(s, 50, DS_WARMUP_LINEAR, 0.01);
 *   if (ds_sched_validate(s)) fprintf(stderr, "%s\n", ds_last_error());
 *   for (int64_t k = 0; k < 1050; k++) printf("%g\n", ds_sched_lr(s, k));
 *
 * lr(k) = scale * (k < W ? base_lr * warmup(k) : inner(epoch)),  epoch = floor((k - W) / S)
 * with W warm-up steps and S steps per epoch (1 unless set). */
#ifndef DESCENT_SCHED_H
#define DESCENT_SCHED_H
#include "export.h"
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

typedef struct ds_sched ds_sched;

/* A schedule by name (see ds_sched_names) with base learning rate base_lr (the optimizer's lr,
 * PyTorch's initial_lr; ignored by "cyclic" and "onecycle", which take base_lr/max_lr keywords;
 * may be NAN there). Hyperparameters start at PyTorch's defaults. NULL + DS_ENOTFOUND on an
 * unknown name. Caller owns the result; free with ds_sched_free. */
ds_sched *ds_sched_new(const char *name, double base_lr);
void ds_sched_free(ds_sched *s);

/* The schedule names, NULL-terminated; *count (if not NULL) receives their number. Static. */
const char *const *ds_sched_names(int *count);

/* Writes the keywords of schedule `name` with their defaults into buf, e.g.
 * "step_size (required), gamma=0.1". DS_ENOTFOUND on an unknown name. */
ds_status ds_sched_describe(const char *name, char *buf, int size);

/* Sets a hyperparameter by PyTorch keyword: n values (n > 1 only for "milestones"; n = 0 on an
 * optional key such as "step_size_down" resets it to None). "lr" sets the base lr. Booleans
 * ("three_phase", "cycle_momentum") take 0 or 1. Errors name the schedule and key: unknown key
 * (DS_ENOTFOUND), non-integer where an integer is needed, out of range (DS_EINVAL). */
ds_status ds_sched_set(ds_sched *s, const char *key, const double *v, int n);
/* Same from text: numbers ("0.5", "30,60,80"), booleans ("true"/"false"), choices
 * ("mode"="triangular2", "anneal_strategy"="linear") and "none" for optional keys. */
ds_status ds_sched_set_str(ds_sched *s, const char *key, const char *value);

typedef enum { DS_WARMUP_NONE = 0, DS_WARMUP_LINEAR, DS_WARMUP_EXPONENTIAL } ds_warmup_kind;
/* Warm-up over the first `steps` steps, then the schedule, which sees step k - steps (PyTorch's
 * SequentialLR(LinearLR(start_factor, total_iters=steps), inner, milestones=[steps])).
 * linear: base_lr * (f + (1 - f) k / W); exponential: base_lr * f^((W - k) / W), f > 0.
 * start_factor in [0, 1] ((0, 1] for exponential). steps = 0 removes the warm-up. */
ds_status ds_sched_set_warmup(ds_sched *s, int64_t steps, ds_warmup_kind kind, double start_factor);
/* Counts the schedule in epochs of steps_per_epoch steps: lr is constant within an epoch, as with
 * PyTorch's scheduler.step() once per epoch. Warm-up stays counted in steps. Default 1. */
ds_status ds_sched_set_steps_per_epoch(ds_sched *s, int64_t steps_per_epoch);
/* Multiplies the whole curve (eta_min, cyclic bounds, warm-up included) by factor > 0. */
ds_status ds_sched_set_scale(ds_sched *s, double factor);

/* Fills the run-dependent hyperparameters the caller left unset (ds_sched_set marks a key as set)
 * from the run's total optimizer steps; R = total_steps less the warm-up (or total_steps / S when
 * counted in epochs of S steps): cosine T_max = R; linear, polynomial total_iters = R; onecycle
 * total_steps = R, max_lr = the base lr; step step_size = R/3; multistep milestones R/2, 3R/4;
 * exponential gamma = 0.01^(1/R) (the lr falls 100-fold); cosine_restarts T_0 = R/4 (four cycles);
 * cyclic max_lr = base lr, base_lr = base lr / 10, step_size_up = R/8 (four cycles). Call after
 * the warm-up and steps per epoch are set; other schedules are unchanged. */
ds_status ds_sched_set_horizon(ds_sched *s, int64_t total_steps);

/* Checks required keywords and cross-key constraints (e.g. onecycle phases of zero length) and
 * makes the schedule ready. Must succeed before ds_sched_lr; any setter makes it unready again. */
ds_status ds_sched_validate(ds_sched *s);

/* True once ds_sched_validate has succeeded and no setter has been called since. */
bool ds_sched_is_ready(const ds_sched *s);

/* Learning rate in force at step k >= 0 (the optimizer step with index k). Pure function of k.
 * NAN if the schedule is not validated or k < 0. */
double ds_sched_lr(const ds_sched *s, int64_t k);
/* Momentum set by "cyclic" and "onecycle" with cycle_momentum (PyTorch writes it into the
 * optimizer's momentum or betas[0]) at step k: true and *momentum set; false for other
 * schedules or with cycle_momentum false. During warm-up: the value at the schedule's step 0. */
bool ds_sched_momentum(const ds_sched *s, int64_t k, double *momentum);
/* True if a cycle of "cosine_restarts" or "cyclic" ends after step k (step k + 1 starts a new
 * cycle): the moment a snapshot ensemble saves the parameters. False for other schedules. */
bool ds_sched_cycle_ends(const ds_sched *s, int64_t k);
/* Number of steps the schedule is defined for: total_steps (+ warm-up, in steps) for "onecycle"
 * (PyTorch raises beyond; descent holds the last value), INT64_MAX for the others. */
int64_t ds_sched_max_steps(const ds_sched *s);
/* The schedule's name ("cosine", ...). Static string. */
const char *ds_sched_name(const ds_sched *s);

/* ---- large-batch rules ---- */

/* Linear scaling rule (Goyal et al. 2017): base_lr * batch / ref_batch. NAN if a batch <= 0. */
double ds_linear_scaling_lr(double base_lr, int64_t batch, int64_t ref_batch);
/* Applies the linear scaling rule to the whole schedule (scale = batch / ref_batch) with Goyal et
 * al.'s gradual warm-up: linear over warmup_steps from the unscaled lr (start_factor =
 * ref_batch / batch) to the scaled one. Replaces any scale and warm-up set before; no warm-up
 * when batch <= ref_batch or warmup_steps = 0. */
ds_status ds_sched_set_linear_scaling(ds_sched *s, int64_t batch, int64_t ref_batch,
                                      int64_t warmup_steps);

/* Batch-size schedule (Smith et al. 2018, "Don't decay the learning rate, increase the batch
 * size"): at epoch e the batch is batch0 * factor^(milestones <= e), capped at max_batch and at
 * the dataset size; each epoch still covers all N samples: ceil(N / B) steps, the last one
 * holding the remainder. Where the cap stops the batch from growing, the rest of the decay goes
 * to the lr (ds_batch_sched_lr_factor). */
typedef struct ds_batch_sched ds_batch_sched;
/* dataset_size N > 0, batch0 > 0, factor >= 1, milestones: n >= 0 epochs >= 0 (copied; any
 * order), max_batch: 0 for no cap other than N. Caller owns the result; free with
 * ds_batch_sched_free. NULL + error naming the bad value. */
ds_batch_sched *ds_batch_sched_new(int64_t dataset_size, int64_t batch0, double factor,
                                   const int64_t *milestones, int n, int64_t max_batch);
void ds_batch_sched_free(ds_batch_sched *b);
/* Batch size used in epoch e >= 0 (the size of every step but possibly the last). */
int64_t ds_batch_sched_batch(const ds_batch_sched *b, int64_t epoch);
/* Steps in epoch e: ceil(N / batch). */
int64_t ds_batch_sched_steps(const ds_batch_sched *b, int64_t epoch);
/* Samples in step i (0 <= i < steps) of epoch e: batch, or the remainder for the last step. */
int64_t ds_batch_sched_step_size(const ds_batch_sched *b, int64_t epoch, int64_t i);
/* The epoch that global step k >= 0 falls in, and (if step_in_epoch) its index in that epoch. */
int64_t ds_batch_sched_epoch_of(const ds_batch_sched *b, int64_t k, int64_t *step_in_epoch);
/* lr multiplier at epoch e: batch(e) / (batch0 * factor^passed) — 1 while the batch grows freely,
 * 1/factor per milestone once it is capped (the decay the batch can no longer provide). */
double ds_batch_sched_lr_factor(const ds_batch_sched *b, int64_t epoch);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
