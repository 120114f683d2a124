/* descent — the training loop as a library object.
 *
 * A trainer drives one compiled model graph with its optimizer, schedule and loader:
 *
 *   batch (loader) -> forward -> per-sample losses -> objective weights -> backward
 *     -> [clip value / AGC / clip norm] -> optimizer step with lr = ds_sched_lr(s, step)
 *        (and, for cyclic / onecycle with cycle_momentum, the optimizer's "momentum" or
 *        betas[0] set to ds_sched_momentum(s, step), as PyTorch's schedulers do)
 *
 * and saves or restores the whole state (parameters, buffers, optimizer state and scalars, dropout
 * RNG, loader state, step and epoch) as one safetensors checkpoint, so that a restored trainer
 * continues bitwise-identically. The CLI's `descent train` is a thin driver around it.
 *
 *   ds_trainer *t = ds_trainer_new(&(ds_trainer_parts){g, x, y, logits, opt, sched, loader}, NULL);
 *   ds_step_result r;
 *   for (int k; (k = ds_trainer_step(t, &r)) != 0;) { if (k < 0) error; ... }   // one epoch
 *   ds_trainer_save(t, "ckpt.safetensors", meta, n_meta);
 */
#ifndef DESCENT_TRAIN_H
#define DESCENT_TRAIN_H
#include <stdbool.h>
#include <stdint.h>

#include "data.h"
#include "error.h"
#include "graph.h"
#include "objective.h"
#include "optim.h"
#include "sched.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sharpness-aware minimisation around the optimizer (Foret et al. 2021, "Sharpness-Aware
 * Minimization for Efficiently Improving Generalization"; ASAM: Kwon et al. 2021). With rho > 0
 * each step computes g = grad L(w), climbs to w + e with
 *   SAM   e = rho g / (||g|| + 1e-12)
 *   ASAM  e = rho T^2 g / (||T g|| + 1e-12), T = |w| + eta on weights and norm gains, 1 on biases
 * (norms global over all parameters), takes the gradient there (batch norm uses batch statistics
 * and leaves its running statistics alone; dropout draws the same masks as the first pass),
 * restores w and lets the optimizer step with that gradient (clipping applies to it). m > 0 cuts
 * the batch into consecutive chunks of m samples, each with its own e; the optimizer receives the
 * mean of the chunks' gradients (m-sharpness). */
typedef struct {
  double rho;    /* neighbourhood radius; 0 = SAM off */
  bool adaptive; /* ASAM */
  double eta;    /* ASAM's T offset (default 0.01) */
  int64_t m;     /* m-sharpness chunk size; 0 (or >= batch) = the whole batch */
} ds_sam_options;

/* Gradient transforms applied between backward and the optimizer step, in this order:
 * value clipping, adaptive gradient clipping, global-norm clipping (see optim.h). 0 = off. */
typedef struct {
  double clip_value;
  double agc;     /* AGC clipping factor, e.g. 0.01 */
  double agc_eps; /* AGC weight-norm floor (default 1e-3) */
  bool agc_exclude_head;
  double clip_norm;
  ds_objective *objective; /* borrowed, outlives the trainer; NULL: the mean (objective.h) */
  int64_t total_steps;     /* steps of the whole run, for annealed objectives (0: unknown) */
  ds_sam_options sam;
} ds_trainer_options;

/* No clipping, mean objective, agc_eps 1e-3, head excluded from AGC, SAM off (eta 0.01). */
ds_trainer_options ds_trainer_options_default(void);

/* The borrowed parts a trainer drives; all must outlive it. g is compiled with a loss node of
 * per-sample losses (B) and has data inputs x and y (targets, (B)); logits is the node whose
 * argmax is compared with y for accuracy (DS_NONE for regression); opt is over
 * ds_graph_params(g); sched is validated; loader's batch size is at most the graph's max batch. */
typedef struct {
  ds_graph *g;
  ds_node x, y, logits;
  ds_optim *opt;
  ds_sched *sched;
  ds_loader *loader;
} ds_trainer_parts;

typedef struct ds_trainer ds_trainer;

/* A trainer at step 0, epoch 0. opt NULL: defaults. NULL + error on inconsistent parts. Caller
 * owns the result; release with ds_trainer_free (which frees none of the parts). Allocates a
 * (max_batch) weight buffer, and with SAM one flat parameter-sized buffer (two with m-sharpness);
 * steps allocate nothing beyond the optimizer's first-step state. */
ds_trainer *ds_trainer_new(const ds_trainer_parts *parts, const ds_trainer_options *opt);
void ds_trainer_free(ds_trainer *t);

/* What one step did. */
typedef struct {
  int64_t batch;   /* samples */
  double loss;     /* mean per-sample loss of the batch (before the step) */
  double objective; /* the objective's value there (tilted risk; the mean loss for ERM) */
  double lr;       /* learning rate used */
  int64_t correct; /* argmax(logits) == label, 0 for regression */
} ds_step_result;

/* Trains on the next batch: returns 1 after a step, 0 when the loader's epoch has ended (the
 * epoch counter advances; the next call starts the next epoch), or a negative status. A
 * non-finite loss returns DS_ENUMERIC naming the step and epoch, before backward: parameters and
 * optimizer state are untouched. */
int ds_trainer_step(ds_trainer *t, ds_step_result *r);

/* Optimizer steps and completed epochs so far. */
int64_t ds_trainer_step_count(const ds_trainer *t);
int64_t ds_trainer_epoch(const ds_trainer *t);

/* Mean per-sample loss and accuracy (argmax of logits against the labels; NAN when logits is
 * DS_NONE or has one column) over the first n samples of d (n <= 0: all), fed through inputs x and
 * y in batches of the graph's max_batch, in eval mode; the graph's mode is restored afterwards.
 * idx: scratch for max_batch indices, or NULL to have one allocated for the call. */
ds_status ds_evaluate(ds_graph *g, ds_node x, ds_node y, ds_node logits, const ds_dataset *d,
                      int64_t n, int64_t *idx, double *loss, double *acc);

/* Loss (mean per-sample loss) and accuracy (NAN without logits) over all of d, in eval mode with
 * the optimizer's evaluation weights (schedule-free); training mode is restored afterwards. */
ds_status ds_trainer_evaluate(ds_trainer *t, const ds_dataset *d, double *loss, double *acc);

/* Writes the complete state to path atomically (safetensors, see docs/training.md): parameters
 * and buffers by name, optimizer buffers as "optim.<name>", and metadata: format, step, epoch,
 * optimizer name and scalars, dropout RNG, loader state; plus n_meta caller pairs meta[2i] = key,
 * meta[2i+1] = value (e.g. "config"). */
ds_status ds_trainer_save(ds_trainer *t, const char *path, const char *const *meta, int n_meta);

/* Restores from path: parameters and buffers always (a tensor missing, misshaped or left over is
 * DS_ESHAPE naming it); with full, also the optimizer state (same optimizer required), dropout RNG,
 * loader state, step and epoch. Without full, optimizer state is loaded only if the optimizer
 * matches (schedule-free evaluation needs it). */
ds_status ds_trainer_load(ds_trainer *t, const char *path, bool full);

#ifdef __cplusplus
}
#endif
#endif
