/* descent — optimizers and gradient transforms over a flat parameter set.
 *
 * An optimizer is created by name over a ds_paramset and configured with hyperparameters named as
 * in the reference implementation (PyTorch 1.13 keyword names for torch.optim optimizers, timm's
 * for adamp/sgdp/lars/lamb/lion/sgdw, schedule_free's for schedulefree_adamw, KellerJordan/Muon's
 * for muon). Each step reads ps->grad and updates ps->data in place; the learning rate in force is
 * passed to every step, so schedules live outside the optimizer.
 *
 * Per-parameter behaviour comes from the parameter metadata (ds_param_info): no_decay parameters
 * get no weight decay (like a PyTorch parameter group with weight_decay=0); for lars/lamb, no_adapt
 * parameters (and all parameters when weight_decay is 0) get no trust-ratio adaptation unless
 * always_adapt is set; muon orthogonalises rank >= 2 weights that are not is_head and runs AdamW on
 * the rest. docs/optimizers.md gives every update rule as implemented.
 *
 * State (moment buffers) is flat, numel floats per buffer, allocated at the first step (or at the
 * first ds_optim_state call); after that, steps allocate nothing. The parameter set must be
 * complete when the optimizer is created and must outlive it.
 *
 * Example (given ps):
 *   ds_optim *o = ds_optim_new("adamw", ps);
 *   ds_optim_set_str(o, "betas", "0.9,0.95");
 *   for (int k = 0; k < 100; k++)
 *     ds_optim_step(o, 1e-3f); // after forward/backward have filled ps->grad
 *   ds_optim_free(o);
 */
#ifndef DESCENT_OPTIM_H
#define DESCENT_OPTIM_H
#include "export.h"
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

typedef struct ds_optim ds_optim;

/* Names of every optimizer, in a fixed order, NULL-terminated; *count (if not NULL) receives their
 * number. Static storage. */
const char *const *ds_optim_names(int *count);

/* A new optimizer called name over ps, all hyperparameters at their defaults. Returns NULL and sets
 * ds_last_error() (DS_ENOTFOUND naming it) on an unknown name. ps is borrowed: it must outlive the
 * optimizer and keep its layout. Caller owns the result; release with ds_optim_free. */
ds_optim *ds_optim_new(const char *name, ds_paramset *ps);
void ds_optim_free(ds_optim *o);

/* The parameter set it updates (borrowed). */
ds_paramset *ds_optim_params(const ds_optim *o);

/* The optimizer's name ("adamw") and a one-line reference of the rule it implements. Static
 * storage. */
const char *ds_optim_name(const ds_optim *o);
const char *ds_optim_reference(const ds_optim *o);

/* Sets hyperparameter key to n values: n = 1 for scalars and booleans (0 or 1), n = 2 for pairs
 * ("betas"), n = 0 for "none" where allowed (lamb's max_grad_norm). Unknown keys are DS_ENOTFOUND,
 * wrong arity or out-of-range values DS_EINVAL, each naming optimizer and key. A change that would
 * add or remove a state buffer after the state exists (e.g. momentum 0 -> 0.9) is DS_ESTATE.
 * On failure the optimizer is unchanged. */
ds_status ds_optim_set(ds_optim *o, const char *key, const double *values, int n);
/* As ds_optim_set with the value parsed from text: "0.01", "0.9,0.999", "true"/"false", "none". */
ds_status ds_optim_set_str(ds_optim *o, const char *key, const char *value);

/* Hyperparameters, for listing and echoing: the i-th key (0 <= i < count), its current values and
 * arity (*n = 0 when set to none), and whether it is a boolean. Key is static storage. */
int ds_optim_hyper_count(const ds_optim *o);
ds_status ds_optim_hyper(const ds_optim *o, int i, const char **key, double values[2], int *n,
                         bool *is_bool);
/* The current value of hyperparameter "lr" (its default unless set): the base learning rate. */
double ds_optim_default_lr(const ds_optim *o);

/* One optimizer step with learning rate lr (>= 0, finite), reading ps->grad, updating ps->data and
 * the state. The first call allocates the state; later calls allocate nothing. Errors: DS_ESTATE if
 * the parameter set changed layout, or (schedule-free) the optimizer is in eval mode; DS_EINVAL for
 * inconsistent hyperparameters (e.g. nesterov without momentum). */
ds_status ds_optim_step(ds_optim *o, float lr);

/* Number of steps taken (the step counter t of the update rules). */
int64_t ds_optim_step_count(const ds_optim *o);

/* Checkpoint state. Buffers: count, then the i-th buffer's name ("exp_avg", ...), its data (numel
 * floats, the same layout as ps->data) and numel. ds_optim_state allocates the state if needed (so
 * a loader can write into it before the first step). Pointers stay valid until ds_optim_free. */
int ds_optim_state_count(const ds_optim *o);
/* The i-th buffer's name and numel without allocating the state (to check a checkpoint first). */
ds_status ds_optim_state_info(const ds_optim *o, int i, const char **name, int64_t *numel);
ds_status ds_optim_state(ds_optim *o, int i, const char **name, float **data, int64_t *numel);
/* Scalar state: "step" first, then per-optimizer scalars (nadam "mu_product", schedule-free
 * "weight_sum", "lr_max", "eval_mode"). *value points into the optimizer: read it to save, write
 * it to restore (step must stay a non-negative integer). */
int ds_optim_scalar_count(const ds_optim *o);
ds_status ds_optim_scalar(ds_optim *o, int i, const char **name, double **value);

/* Schedule-free optimizers keep the gradient point y in ps->data while training. eval = true swaps
 * the averaged weights x into ps->data (use for evaluation and checkpoints), eval = false swaps y
 * back. Idempotent; a no-op for every other optimizer. */
ds_status ds_optim_eval_mode(ds_optim *o, bool eval);
bool ds_optim_in_eval_mode(const ds_optim *o);

/* The trust ratios of the layer-wise adaptive optimizers (lars, lamb) at their last step: ratios[i]
 * is the factor that step applied to parameter i's update (lars: trust_coeff ||θ|| / (||g|| +
 * λ||θ|| + eps), lamb: ||θ|| / ||u||; after trust_clip; 1 where a norm is 0), NaN for a parameter
 * the rule does not adapt (no_adapt, or no weight decay without always_adapt) and before the first
 * step. (ps->count) doubles in ps->info's order, owned by the optimizer (valid until ds_optim_free,
 * overwritten by each step, which allocates nothing for them). NULL for every other optimizer. */
const double *ds_optim_trust_ratios(const ds_optim *o);

/* ---- gradient transforms: apply to ps->grad before ds_optim_step --------------------------- */

/* Global-norm clipping (torch.nn.utils.clip_grad_norm_): N = ||all gradients||_2; if
 * N > max_norm, every gradient is scaled by max_norm / (N + 1e-6). *norm_out (may be NULL) receives
 * N before clipping. DS_ENUMERIC if N is not finite (gradients left untouched). */
ds_status ds_clip_grad_norm(ds_paramset *ps, double max_norm, double *norm_out);

/* Value clipping: every gradient element clamped to [-clip, clip]. */
ds_status ds_clip_grad_value(ds_paramset *ps, double clip);

/* Adaptive gradient clipping (Brock et al. 2021; timm.utils.adaptive_clip_grad). Per unit (output
 * row i of a rank >= 2 parameter, the whole tensor for rank <= 1): with m = clipping * max(||W_i||,
 * eps), if ||G_i|| >= m then G_i <- G_i * m / max(||G_i||, 1e-6). Parameters marked is_head are
 * skipped when exclude_head is true. Typical: clipping 0.01, eps 1e-3. */
ds_status ds_agc(ds_paramset *ps, double clipping, double eps, bool exclude_head);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
