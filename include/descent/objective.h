/* descent — objectives over per-sample losses: ERM and the TERM family.
 *
 * An objective reduces the per-sample losses l_0..l_{b-1} of a batch to one number and gives the
 * backward seeds w_i = d objective / d l_i (ds_graph_backward's weights). Tilted objectives follow
 * Li, Beirami, Sanjabi, Smith, "Tilted Empirical Risk Minimization" (ICLR 2021):
 *
 *   mean          R = mean_i l_i                                      w_i = 1/b
 *   tilted        R_t = (1/t) log mean_i exp(t l_i)                   w_i = exp(t l_i) / sum_j
 * exp(t l_j) with tilt_average = a > 0 (stochastic TERM, the paper's minibatch algorithm): a
 * running normaliser Z <- (1-a) Z + a mean_i exp(t l_i) across batches (Z = the first batch's mean
 * at the start) and w_i = exp(t l_i) / (b Z) hierarchical  groups g (classes by default), tilt t
 * within, group_tilt T across: R_g = (1/t) log mean_{i in g} exp(t l_i),  R = (1/T) log sum_g
 * (n_g/b) exp(T R_g) w_i = [n_g exp(T R_g) / sum_h n_h exp(T R_h)] * [exp(t l_i) / sum_{j in g}
 * exp(t l_j)]
 *
 * A tilt of 0 is the mean in every formula (the limit). tilt_end anneals t linearly from tilt at
 * step 0 to tilt_end at the last step. Everything is computed in double with log-sum-exp shifts,
 * so t = +-50 with losses >= 100 stays finite. The reported value is the tilted risk of the batch.
 *
 *   ds_objective *o = ds_objective_new("tilted");
 *   ds_objective_set(o, "tilt", -2.0);
 *   ds_objective_weights(o, losses, labels, b, step, total_steps, true, weights, &risk);
 */
#ifndef DESCENT_OBJECTIVE_H
#define DESCENT_OBJECTIVE_H
#include "export.h"
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

typedef struct ds_objective ds_objective;

/* A user-defined objective: writes weights[0..b) from losses[0..b) (groups may be NULL). */
typedef ds_status (*ds_objective_fn)(void *ctx, const float *losses, const float *groups, int64_t b,
                                     float *weights);

/* A new objective by name: "mean", "tilted", "hierarchical" (ds_objective_names). NULL + error
 * naming the name if unknown. Hyperparameters start at: tilt 0, tilt_end NAN (no annealing),
 * tilt_average 0 (batch-level), group_tilt 0. Caller owns it; release with ds_objective_free. */
ds_objective *ds_objective_new(const char *name);
/* An objective that calls fn(ctx, ...) for the weights; its reported value is the mean loss. */
ds_objective *ds_objective_new_custom(ds_objective_fn fn, void *ctx);
void ds_objective_free(ds_objective *o);

/* "mean, tilted, hierarchical" (for help texts). */
const char *ds_objective_names(void);
const char *ds_objective_name(const ds_objective *o);

/* Sets a hyperparameter: "tilt", "tilt_end" (NAN: off), "tilt_average" (in [0, 1], tilted only),
 * "group_tilt" (hierarchical only). Errors name the key and the objective. */
ds_status ds_objective_set(ds_objective *o, const char *key, double value);
double ds_objective_get(const ds_objective *o, const char *key);

/* True when the weights are exactly the mean's (1/b) whatever the losses: "mean", or a tilt of 0
 * everywhere without annealing. */
bool ds_objective_is_mean(const ds_objective *o);
/* True when the weights depend on groups (hierarchical). */
bool ds_objective_needs_groups(const ds_objective *o);

/* The tilt in force at step of total_steps (annealed when tilt_end is set). */
double ds_objective_tilt_at(const ds_objective *o, int64_t step, int64_t total_steps);

/* Writes weights[0..b) and *value (the objective of the batch; may be NULL) from losses[0..b);
 * groups[0..b) holds each sample's group as a whole number (class labels), needed by hierarchical.
 * update false leaves the running state (stochastic TERM's normaliser) unchanged: the weights
 * then use the state as it is (SAM's second pass). Non-finite losses or weights: DS_ENUMERIC. */
ds_status ds_objective_weights(ds_objective *o, const float *losses, const float *groups, int64_t b,
                               int64_t step, int64_t total_steps, bool update, float *weights,
                               double *value);

/* The running state as named doubles (checkpoints store and restore them for bitwise resume):
 * count, then the i-th name and a pointer to its value. */
int ds_objective_state_count(const ds_objective *o);
ds_status ds_objective_state(ds_objective *o, int i, const char **name, double **value);
/* Back to the state of a new objective (no batch seen). */
void ds_objective_reset(ds_objective *o);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
