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
 * continues bitwise-identically. Three layers, each built on the one before:
 *
 *   step   ds_trainer_step: one batch
 *   epoch  the loader's batches with running statistics (inside the fit)
 *   fit    ds_trainer_fit: epochs, evaluation, memorisation, metrics.jsonl, checkpoint cadence,
 *          snapshot ensembles, stop conditions (stop_after, a stop flag for signals, hooks)
 *
 * The CLI's `descent train` and `descent experiment` are thin drivers around ds_trainer_fit.
 *
 * Example (given g, x, y, logits, opt, sched, loader, test):
 *   ds_trainer *t = ds_trainer_new(&(ds_trainer_parts){g, x, y, logits, opt, sched, loader}, NULL);
 *   ds_fit_options fo = ds_fit_options_default();
 *   fo.epochs = 10; fo.test = test; fo.checkpoint = "ckpt.safetensors";
 *   ds_fit_result res;
 *   if (ds_trainer_fit(t, &fo, &res)) fprintf(stderr, "%s\n", ds_last_error());
 *   printf("%.4f\n", res.last.test.acc);
 *   ds_fit_result_free(&res);
 */
#ifndef DESCENT_TRAIN_H
#define DESCENT_TRAIN_H
#include "export.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "dist.h"
#include "error.h"
#include "graph.h"
#include "objective.h"
#include "optim.h"
#include "sched.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

/* Sharpness-aware minimisation around the optimizer (Foret et al. 2021, "Sharpness-Aware
 * Minimization for Efficiently Improving Generalization"; ASAM: Kwon et al. 2021). With rho > 0
 * each step computes g = grad L(w), climbs to w + e with
 *   SAM   e = rho g / (||g|| + 1e-12)
 *   ASAM  e = rho T^2 g / (||T g|| + 1e-12), T = |w| + eta on weights and norm gains, 1 on biases
 * (norms global over all parameters), takes the gradient there (batch norm uses batch statistics
 * and leaves its running statistics alone; dropout draws the same masks as the first pass),
 * restores w and lets the optimizer step with that gradient (clipping applies to it). m > 0 cuts
 * the batch into consecutive chunks of m samples, each with its own e; the optimizer receives the
 * mean of the chunks' gradients (m-sharpness).
 * With data parallelism or accumulation the step is that of its N samples over all micro-batches
 * and processes: m = 0 takes e from the reduced gradient of all N (the same e on every process),
 * and both passes run every micro-batch (the loader serves them twice); m > 0 must divide each
 * process's micro-batch, every chunk ascends on its own local gradient, and the chunks' second-pass
 * gradients are averaged over all N samples. */
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
  int64_t total_steps;     /* steps of the whole run; required by annealed objectives (tilt_end) */
  ds_sam_options sam;      /* SAM (also with dist and accumulate) */
  /* Data parallelism (dist.h): NULL or a single process = none. With K processes every rank's
   * loader must serve its shard of the same global batch (ds_loader_options.shard_*); a step then
   * reduces the batch loss, accuracy counts and (bucketed, overlapping backward) the gradient, so
   * that the mean over the global batch drives an identical optimizer step on every rank; batch
   * norm running statistics are averaged over the ranks after every step. The initial parameters
   * and buffers are rank 0's. Needs the mean objective. */
  ds_dist *dist;
  /* Gradient accumulation: micro-batches (loader batches) per optimizer step, their gradients
   * summed with weights 1/(samples of the step), so the step equals one of the large batch
   * (without batch norm). 0 or 1: off. Needs the mean objective. */
  int accumulate;
  /* Per-parameter statistics (ds_trainer_layer_stats): the norms of every parameter tensor and of
   * the gradient the optimizer receives, and the trust ratio of lars / lamb, measured at every
   * step of ds_trainer_step and at the log steps of ds_trainer_fit (which writes them into the
   * metrics' step records). Off: nothing is measured or written. */
  bool log_layers;
} ds_trainer_options;

/* No clipping, mean objective, agc_eps 1e-3, head excluded from AGC, SAM off (eta 0.01), one
 * process, no accumulation, no layer statistics. */
ds_trainer_options ds_trainer_options_default(void);

/* The borrowed parts a trainer drives; all must outlive it. g is compiled with a loss node of
 * per-sample losses (B) and has data inputs x and y (targets, (B)); logits is the node whose
 * argmax is compared with y for accuracy (DS_NONE for regression); opt is over
 * ds_graph_params(g); sched is validated; loader's batch size is at most the graph's max batch.
 * ds_trainer_new checks each of these and names the one that does not hold. */
typedef struct {
  ds_graph *g;
  ds_node x, y, logits;
  ds_optim *opt;
  ds_sched *sched;
  ds_loader *loader;
} ds_trainer_parts;

typedef struct ds_trainer ds_trainer;

/* A trainer at step 0, epoch 0. opt NULL: defaults. NULL + error on inconsistent parts: a loader
 * batch larger than the graph's max batch, an optimizer over another parameter set, a schedule
 * that is not validated, x or y not data inputs, logits not a node. Caller owns the result;
 * release with ds_trainer_free (which frees none of the parts). Allocates a (max_batch) weight
 * buffer, and with SAM one flat parameter-sized buffer (two with m-sharpness), with log_layers one
 * record per parameter tensor; steps allocate nothing beyond the optimizer's first-step state. */
ds_trainer *ds_trainer_new(const ds_trainer_parts *parts, const ds_trainer_options *opt);
void ds_trainer_free(ds_trainer *t);

/* What one step did. */
typedef struct {
  int64_t batch;    /* samples (of all micro-batches and all ranks) */
  double loss;      /* mean per-sample loss of the batch (before the step) */
  double objective; /* the objective's value there (tilted risk; the mean loss for ERM) */
  double lr;        /* learning rate used */
  int64_t correct;  /* argmax(logits) == label, 0 for regression */
} ds_step_result;

/* Trains on the next batch: returns 1 after a step, 0 when the loader's epoch has ended (the
 * epoch counter advances; the next call starts the next epoch), or a negative status. A
 * non-finite loss returns DS_ENUMERIC naming the step and epoch, before backward: parameters and
 * optimizer state are untouched. */
int ds_trainer_step(ds_trainer *t, ds_step_result *r);

/* Optimizer steps and completed epochs so far. */
int64_t ds_trainer_step_count(const ds_trainer *t);
int64_t ds_trainer_epoch(const ds_trainer *t);

/* One parameter tensor at one step, norms in double. The step's update used both: LARS's local
 * learning rate is lr times the trust ratio, about trust_coeff ||θ|| / ||g|| (You et al. 2017). */
typedef struct {
  double param_norm;  /* ||θ||, before the step */
  double grad_norm;   /* ||g||, the gradient the optimizer received (after clipping and AGC) */
  double trust_ratio; /* lars, lamb: the ratio the step applied (ds_optim_trust_ratios); NAN for
                         other optimizers and for parameters the rule does not adapt */
} ds_layer_stats;

/* With options.log_layers: the statistics of the last measured step, one per parameter tensor of
 * ds_graph_params(g) (same order; the names are its info[i].name, as in checkpoints), and in *step
 * (may be NULL) that step's number (0: none measured yet). NULL when log_layers is off. Owned by
 * the trainer, overwritten by the next measured step (preallocated: steps allocate nothing). */
const ds_layer_stats *ds_trainer_layer_stats(const ds_trainer *t, int64_t *step);

/* ---- evaluation: one accumulator for test accuracy, per-class accuracy, memorisation,
 * ensembles and `descent eval` ---------------------------------------------------------------- */

/* What to evaluate and what to hand back besides the totals. */
typedef struct {
  const int64_t *indices; /* samples indices[0..n) of the dataset; NULL: the first n */
  int64_t n;              /* samples (<= 0 with indices NULL: all) */
  int32_t *pred;          /* optional out, one argmax class per label (n, or n x tokens) */
  float *probs;           /* optional (n, classes): softmax probabilities are ADDED, times */
  float probs_weight;     /* this weight (ensembles average several evaluations) */
} ds_eval_options;

/* All samples, no outputs, probs_weight 1. */
ds_eval_options ds_eval_options_default(void);

/* Totals of one evaluation. Labels are the graph's y input: one per sample, or one per token when
 * logits are (B, T, K) and y is (B, T); accuracies count labels. */
typedef struct {
  int64_t n;            /* samples */
  double loss;          /* mean per-sample loss */
  double acc;           /* share of labels equal to the argmax of the logits; NAN without classes */
  int classes;          /* K, the last dimension of the logits; 0 for regression */
  int64_t *class_count; /* (classes) labels of each class among the evaluated samples */
  int64_t *class_correct; /* (classes) of those, predicted right */
  double worst_class_acc; /* lowest per-class accuracy over classes present; NAN without classes */
  double mean_class_acc;  /* mean per-class accuracy (balanced accuracy); NAN without classes */
  int groups;             /* the dataset's n_groups (ds_dataset.groups), with classes; else 0 */
  int64_t *group_count;   /* (groups) samples of each group among those evaluated */
  int64_t *group_correct; /* (groups) of those, predicted right */
  double worst_group_acc; /* lowest per-group accuracy over groups present; NAN without groups */
} ds_eval_result;

/* Releases the per-class arrays and zeroes *r. NULL is fine. */
void ds_eval_result_free(ds_eval_result *r);

/* Evaluates d (or the samples o selects) in batches of the graph's max_batch, in eval mode (the
 * graph's mode is restored afterwards), fed through inputs x and y. logits: the node whose argmax
 * is compared with y (DS_NONE, or a single column, for regression: no accuracy). o NULL: all
 * samples. *out is overwritten (free it with ds_eval_result_free). Allocates its per-class arrays
 * and a batch of indices. */
ds_status ds_evaluate(ds_graph *g, ds_node x, ds_node y, ds_node logits, const ds_dataset *d,
                      const ds_eval_options *o, ds_eval_result *out);

/* The loss (mean negative log-likelihood) and accuracies of given class probabilities probs
 * (d->n, d->n_classes), e.g. an ensemble's averaged softmax, against d's labels. */
ds_status ds_eval_probs(const float *probs, const ds_dataset *d, ds_eval_result *out);

/* Evaluation of the trainer's model on all of d (ds_evaluate), in eval mode with the optimizer's
 * evaluation weights (schedule-free); training mode is restored afterwards. With data parallelism
 * (options.dist) and no pred / probs outputs, every rank evaluates a contiguous 1/K share and the
 * counts and loss sums are reduced: a collective call (every rank calls it) whose result on every
 * rank equals the one-process evaluation (counts exactly, the loss to double rounding). */
ds_status ds_trainer_evaluate(ds_trainer *t, const ds_dataset *d, const ds_eval_options *o,
                              ds_eval_result *out);

/* Memorisation of label noise (Zhang et al. 2017; Arpit et al. 2017): over the samples of d whose
 * label was corrupted (labels != clean_labels), the share the model predicts as the noisy label
 * and the share it predicts as the clean one. noisy = 0 (and NANs) without label noise. */
typedef struct {
  int64_t noisy;
  double memorized, clean_acc;
} ds_memorization;
/* Under data parallelism each rank predicts a 1/K share and the counts are reduced (collective). */
ds_status ds_trainer_memorization(ds_trainer *t, const ds_dataset *d, ds_memorization *out);

/* Writes the complete state to path atomically (safetensors, see docs/training.md): parameters
 * and buffers by name, optimizer buffers as "optim.<name>", and metadata: format, step, epoch,
 * optimizer name and scalars, dropout RNG, loader state; plus n_meta caller pairs meta[2i] = key,
 * meta[2i+1] = value (e.g. "config"). */
ds_status ds_trainer_save(ds_trainer *t, const char *path, const char *const *meta, int n_meta);

/* Restores from path: parameters and buffers always (a tensor missing, misshaped or left over is
 * DS_ESHAPE naming it; a non-finite value DS_ENUMERIC naming the tensor); with full, also the
 * optimizer state (same optimizer required), dropout RNG, loader state, step, epoch and the
 * running epoch/metrics accumulators. Without full, optimizer state is loaded only if the
 * optimizer matches (schedule-free evaluation needs it). Two phases: everything is read and
 * checked first, then copied, so on any error the trainer, model and optimizer are untouched.
 * Errors keep their cause: DS_EIO (cannot read), DS_EFORMAT (malformed), DS_ESHAPE, DS_ENUMERIC. */
ds_status ds_trainer_load(ds_trainer *t, const char *path, bool full);

/* ---- the run: epochs, evaluation and checkpoint cadence, snapshots, stop conditions -------- */

/* Training statistics of one epoch (training mode, each batch measured before its step). */
typedef struct {
  int64_t epoch;     /* number of the completed epoch, from 1 */
  int64_t step;      /* optimizer steps after it */
  int64_t samples;   /* samples of the epoch */
  double train_loss; /* mean per-sample loss */
  double train_acc;  /* NAN without classes */
  double lr;         /* lr of the epoch's last step */
  double seconds;    /* wall time of the epoch, evaluation included */
} ds_epoch_stats;

/* Everything known at the end of an epoch. val / test have n = 0 when not evaluated. */
typedef struct {
  ds_epoch_stats train;
  ds_eval_result val, test;
  ds_memorization memo; /* noisy = 0 without label noise */
} ds_epoch_report;

/* Snapshot ensembles (Huang et al. 2017): the averaged softmax of the snapshots held. */
typedef struct {
  int count;                  /* snapshots in the ensemble (0: none) */
  ds_eval_result ens;         /* of the averaged probabilities */
  double mean_loss, mean_acc; /* mean over the single snapshots */
  double best_acc;            /* the best single snapshot's accuracy */
} ds_ensemble_report;

/* Callbacks of a fit; each may be NULL. A nonzero return asks the fit to stop after this point
 * as if *stop were set (checkpoint, DS_EINTERRUPTED). */
typedef struct {
  void *ctx;
  int (*on_step)(void *ctx, const ds_step_result *r, int64_t step, int64_t epoch);
  int (*on_epoch)(void *ctx, const ds_epoch_report *e);
} ds_fit_hooks;

typedef struct {
  int64_t epochs;           /* train until this many epochs are complete (>= 1) */
  int64_t stop_after;       /* return after this many epochs of this call, resumable (0: off) */
  const ds_dataset *val;    /* evaluated after every epoch, or NULL */
  const ds_dataset *test;   /* evaluated after every epoch, or NULL */
  bool memorization;        /* report label-noise memorisation of the training set (default) */
  const char *checkpoint;   /* the rolling checkpoint file, or NULL for none */
  int64_t checkpoint_every; /* epochs between checkpoints (0: at the end and at stops only) */
  const char *const *meta;  /* extra checkpoint metadata pairs key, value (e.g. the config) */
  int n_meta;
  const char *metrics;        /* metrics.jsonl path, or NULL; on resume, records after the
                                 checkpoint's step are dropped and the file continues */
  int64_t log_every;          /* steps between "step" records (default 50) */
  bool bits_per_token;        /* a language model: epoch records add val_bpc / test_bpc, the mean
                                 per-token cross-entropy in bits (nats / ln 2; bits per character
                                 on character-level text) */
  int snapshots;              /* snapshot ensemble of the last M cycle ends (0: off; needs a
                                 cycling schedule, classes, snapshot_dir) */
  const char *snapshot_dir;   /* snapshot-<step>.safetensors files live here, so they survive
                                 resumes; the ensemble is evaluated on `test` at the end */
  const char *trajectory_dir; /* the path of the run, kept (e.g. for PCA landscapes, analysis.h):
                                 the state at step 0 and at every epoch-end checkpoint (the
                                 checkpoint_every cadence, the last epoch, stop_after) saved as
                                 trajectory-<step>.safetensors here, never deleted; NULL: off */
  /* Batch-size schedule (Smith et al. 2018, "Don't decay the learning rate, increase the batch
   * size"; sched.h): in epoch e every optimizer step takes ds_batch_sched_batch(b, e) samples, as
   * that many / (loader batch x processes) accumulated micro-batches (which must divide it; batch
   * norm then sees micro-batches, as ghost batch norm), and the lr is multiplied by
   * ds_batch_sched_lr_factor(b, e) (the decay a capped batch can no longer provide). The samples
   * per epoch stay the same. NULL: off. Needs the mean objective. */
  const ds_batch_sched *batch_sched;
  volatile const int *stop; /* polled after every step: nonzero stops the run there */
  ds_fit_hooks hooks;
} ds_fit_options;

/* epochs 1, memorization on, log_every 50, the rest off. */
ds_fit_options ds_fit_options_default(void);

typedef struct {
  int64_t epochs_run;          /* epochs completed by this call */
  bool complete;               /* every epoch is done */
  bool interrupted;            /* stopped by *stop or a hook (returns DS_EINTERRUPTED) */
  ds_epoch_report last;        /* the last epoch completed by this call (ds_fit_result_free) */
  ds_ensemble_report ensemble; /* after the last epoch, with snapshots */
  double seconds;              /* wall time of this call */
  int64_t samples;             /* training samples processed by this call */
} ds_fit_result;

/* Trains epochs until o->epochs are complete (continuing from the trainer's epoch, e.g. after
 * ds_trainer_load), or until o->stop_after epochs of this call, or until stopped. After each
 * epoch: evaluation of val and test, memorisation, a metrics record, the checkpoint when due,
 * the on_epoch hook. A stop request finishes the current step, writes the checkpoint (mid-epoch
 * state included: a resume continues bitwise) and returns DS_EINTERRUPTED. A non-finite loss
 * returns DS_ENUMERIC before the step, leaving the last checkpoint as it was. *out (may be
 * NULL) receives what happened; free it with ds_fit_result_free. */
ds_status ds_trainer_fit(ds_trainer *t, const ds_fit_options *o, ds_fit_result *out);
/* The checks ds_trainer_fit makes of its options first (epochs, cadences, snapshot needs), for
 * callers that want to fail before creating files. Errors name the option. */
ds_status ds_fit_check(const ds_trainer *t, const ds_fit_options *o);
void ds_fit_result_free(ds_fit_result *r);

/* Numbered state files of a run directory, dir/<prefix>-<step>.safetensors with the step in at
 * least 8 digits: "snapshot" (snapshot ensembles) and "trajectory" (ds_fit_options). path writes
 * one file's path into buf (size bytes); steps lists dir's files of that prefix, ascending: it
 * returns how many there are, and steps[0..n) holds them when n <= cap (with more, cap of them);
 * DS_EIO naming dir if it cannot be listed. */
void ds_run_file_path(char *buf, size_t size, const char *dir, const char *prefix, int64_t step);
int ds_run_file_steps(const char *dir, const char *prefix, int64_t *steps, int cap);

/* Saves the trainer as dir/snapshot-<step>.safetensors and deletes the oldest snapshot files of
 * dir beyond `keep` (the fit calls this where the schedule's cycle ends). */
ds_status ds_trainer_snapshot(ds_trainer *t, const char *dir, int keep, const char *const *meta,
                              int n_meta);
/* The ensemble of the snapshot files in dir on d: each is loaded and evaluated, the softmax
 * outputs averaged; the trainer's state is restored afterwards. count = 0 if there are none. */
ds_status ds_trainer_snapshot_ensemble(ds_trainer *t, const char *dir, const ds_dataset *d,
                                       ds_ensemble_report *out);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
