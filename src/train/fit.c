/* The run over epochs (ggml-opt's fit, in descent's terms): steps with running statistics, a
 * metrics record every log_every steps and per epoch, evaluation, memorisation, checkpoint
 * cadence, snapshots, and the stop conditions. Built only on the step (trainer.c), the evaluation
 * (evaluate.c), checkpoints (checkpoint.c) and snapshots (snapshot.c). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "descent/alloc.h"
#include "descent/io.h"
#include "trainer_internal.h"

ds_fit_options ds_fit_options_default(void) {
  ds_fit_options o;
  memset(&o, 0, sizeof o);
  o.epochs = 1;
  o.memorization = true;
  o.log_every = 50;
  return o;
}

static void report_free(ds_epoch_report *e) {
  ds_eval_result_free(&e->val);
  ds_eval_result_free(&e->test);
}

void ds_fit_result_free(ds_fit_result *r) {
  if (!r) return;
  report_free(&r->last);
  ds_eval_result_free(&r->ensemble.ens);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Drops the records of path logged after `step` (an interrupted run's tail), so that a resumed run
 * continues the file exactly as an uninterrupted one writes it. No file: nothing to do. */
static ds_status trim_metrics(const char *path, int64_t step) {
  size_t n;
  FILE *probe = fopen(path, "rb");
  if (!probe) return DS_OK;
  fclose(probe);
  char *text = ds_read_file(path, &n);
  if (!text) return ds_last_status();
  ds_atomic_file *a = ds_atomic_open(path);
  if (!a) {
    ds_free(text);
    return ds_last_status();
  }
  for (char *p = text, *nl; p && *p; p = nl ? nl + 1 : NULL) {
    nl = strchr(p, '\n');
    if (nl) *nl = '\0';
    cJSON *o = cJSON_Parse(p);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "step");
    if (cJSON_IsNumber(st) && st->valuedouble <= (double)step)
      fprintf(ds_atomic_stream(a), "%s\n", p);
    cJSON_Delete(o);
  }
  ds_free(text);
  return ds_atomic_commit(a);
}

/* bits: the mean loss (nats per token of a language model) is also written in bits, "<split>_bpc"
 * (bits per character on character-level text). */
static void log_eval(ds_metrics *m, const char *split, const ds_eval_result *r, bool bits) {
  char key[48];
  snprintf(key, sizeof key, "%s_loss", split);
  ds_metrics_num(m, key, r->loss);
  if (bits) {
    snprintf(key, sizeof key, "%s_bpc", split);
    ds_metrics_num(m, key, r->loss / log(2.0));
  }
  snprintf(key, sizeof key, "%s_acc", split);
  ds_metrics_num(m, key, r->acc);
  if (r->classes) {
    snprintf(key, sizeof key, "%s_worst_class_acc", split);
    ds_metrics_num(m, key, r->worst_class_acc);
  }
  if (r->groups) {
    snprintf(key, sizeof key, "%s_worst_group_acc", split);
    ds_metrics_num(m, key, r->worst_group_acc);
  }
}

static ds_status log_epoch(ds_metrics *m, const ds_epoch_report *e, bool bits) {
  ds_metrics_begin(m);
  ds_metrics_str(m, "kind", "epoch");
  ds_metrics_int(m, "epoch", e->train.epoch);
  ds_metrics_int(m, "step", e->train.step);
  ds_metrics_num(m, "lr", e->train.lr);
  ds_metrics_num(m, "train_loss", e->train.train_loss);
  ds_metrics_num(m, "train_acc", e->train.train_acc);
  if (e->val.n) log_eval(m, "val", &e->val, bits);
  if (e->test.n) log_eval(m, "test", &e->test, bits);
  if (e->memo.noisy) {
    ds_metrics_int(m, "noisy_labels", e->memo.noisy);
    ds_metrics_num(m, "noisy_memorized", e->memo.memorized);
    ds_metrics_num(m, "noisy_clean_acc", e->memo.clean_acc);
  }
  ds_metrics_num(m, "seconds", e->train.seconds);
  return ds_metrics_end(m);
}

/* The layer statistics of the step just logged as the step record's "layers" object: per
 * parameter tensor by name, ||θ|| "w", ||g|| "g", their ratio "w_g", and for lars / lamb the trust
 * ratio "trust" (null where the tensor is not adapted). */
static void log_layers(ds_metrics *m, const ds_trainer *t) {
  const ds_paramset *ps = ds_graph_params(t->p.g);
  bool trust = ds_optim_trust_ratios(t->p.opt) != NULL;
  ds_metrics_object_begin(m, "layers");
  for (int i = 0; i < ps->count; i++) {
    const ds_layer_stats *l = &t->layers[i];
    ds_metrics_object_begin(m, ps->info[i].name);
    ds_metrics_num(m, "w", l->param_norm);
    ds_metrics_num(m, "g", l->grad_norm);
    ds_metrics_num(m, "w_g", l->param_norm / l->grad_norm);
    if (trust) ds_metrics_num(m, "trust", l->trust_ratio);
    ds_metrics_object_end(m);
  }
  ds_metrics_object_end(m);
}

/* Micro-batches per step in epoch e of a batch-size schedule; errors name the epoch. */
static ds_status batch_accumulation(const ds_trainer *t, const ds_batch_sched *b, int64_t e,
                                    int *acc) {
  if (t->o.objective)
    return ds_set_error(DS_EINVAL,
                        "batch schedule: a custom objective sees one micro-batch's losses only");
  int64_t want = ds_batch_sched_batch(b, e),
          micro = ds_loader_batch(t->p.loader) * ds_dist_size(t->dist);
  if (want < micro || want % micro)
    return ds_set_error(
        DS_EINVAL,
        "batch schedule: epoch %lld's batch of %lld is not a multiple of the batch of %lld",
        (long long)e + 1, (long long)want, (long long)micro);
  *acc = (int)(want / micro);
  return DS_OK;
}

ds_status ds_fit_check(const ds_trainer *t, const ds_fit_options *o) {
  if (!t || !o) return ds_set_error(DS_EINVAL, "fit: NULL trainer or options");
  if (o->epochs < 1)
    return ds_set_error(DS_EINVAL, "fit: epochs must be >= 1, got %lld", (long long)o->epochs);
  if (o->log_every < 1)
    return ds_set_error(DS_EINVAL, "fit: log_every must be >= 1, got %lld",
                        (long long)o->log_every);
  if (o->stop_after < 0 || o->checkpoint_every < 0 || o->snapshots < 0 || o->n_meta < 0)
    return ds_set_error(DS_EINVAL,
                        "fit: stop_after, checkpoint_every, snapshots and n_meta must be >= 0");
  if (o->snapshots > 0) {
    const char *s = ds_sched_name(t->p.sched);
    if (strcmp(s, "cosine_restarts") && strcmp(s, "cyclic"))
      return ds_set_error(DS_EINVAL,
                          "snapshots: snapshot ensembles need a schedule with cycles "
                          "(cosine_restarts or cyclic), not '%s'",
                          s);
    if (t->classes < 2)
      return ds_set_error(DS_EINVAL, "snapshots: snapshot ensembles need a classification task");
    if (!o->snapshot_dir)
      return ds_set_error(DS_EINVAL, "snapshots: snapshot ensembles need snapshot_dir");
    if (o->snapshots > 256)
      return ds_set_error(DS_EINVAL, "snapshots: at most 256, not %d", o->snapshots);
  }
  ds_status sst = o->batch_sched ? ds__sam_check_parallel(t) : DS_OK; /* micro-batches */
  if (sst) return sst;
  for (int64_t e = 0; o->batch_sched && e < o->epochs; e++) {
    int a;
    ds_status st = batch_accumulation(t, o->batch_sched, e, &a);
    if (st) return st;
  }
  return DS_OK;
}

/* A batch-size schedule's epoch: accumulation and lr factor for the trainer's current epoch. */
static ds_status batch_epoch(ds_trainer *t, const ds_batch_sched *b) {
  if (!b) return DS_OK;
  ds_status st = batch_accumulation(t, b, t->epoch, &t->o.accumulate);
  if (st) return st;
  t->parallel = true;
  t->lr_scale = ds_batch_sched_lr_factor(b, t->epoch);
  return DS_OK;
}

/* The end of an epoch: statistics from the running sums, evaluation, memorisation. */
static ds_status end_epoch(ds_trainer *t, const ds_fit_options *o, double t0, double lr,
                           ds_epoch_report *e) {
  ds__run_sums *s = &t->sums;
  report_free(e);
  e->train =
      (ds_epoch_stats){.epoch = t->epoch, .step = t->step, .samples = s->epoch_samples, .lr = lr};
  e->train.train_loss = s->epoch_samples ? s->epoch_loss / (double)s->epoch_samples : NAN;
  e->train.train_acc = t->classes < 2 || !s->epoch_samples
                           ? NAN
                           : (double)s->epoch_correct / (double)s->epoch_samples;
  s->epoch_loss = 0;
  s->epoch_samples = s->epoch_correct = 0;
  e->memo = (ds_memorization){0, NAN, NAN};
  ds_status st = DS_OK;
  if (o->val) st = ds_trainer_evaluate(t, o->val, NULL, &e->val);
  if (!st && o->test) st = ds_trainer_evaluate(t, o->test, NULL, &e->test);
  if (!st && o->memorization)
    st = ds_trainer_memorization(t, ds_loader_dataset(t->p.loader), &e->memo);
  e->train.seconds = now() - t0;
  return st;
}

/* Under data parallelism rank 0 alone writes the run's files; every rank learns whether it could.
 */
static bool lead(const ds_trainer *t) { return ds_dist_rank(t->dist) == 0; }

static ds_status save(ds_trainer *t, const ds_fit_options *o) {
  ds_status st =
      o->checkpoint && lead(t) ? ds_trainer_save(t, o->checkpoint, o->meta, o->n_meta) : DS_OK;
  return t->dist ? ds_dist_agree(t->dist, st) : st;
}

/* A point of the kept trajectory (o->trajectory_dir), if one is asked for. */
static ds_status save_trajectory(ds_trainer *t, const ds_fit_options *o) {
  if (!o->trajectory_dir) return DS_OK;
  ds_status st =
      lead(t) ? ds__trainer_save_numbered(t, o->trajectory_dir, "trajectory", 0, o->meta, o->n_meta)
              : DS_OK;
  return t->dist ? ds_dist_agree(t->dist, st) : st;
}

ds_status ds_trainer_fit(ds_trainer *t, const ds_fit_options *opt, ds_fit_result *res) {
  if (!t || !opt) return ds_set_error(DS_EINVAL, "fit: NULL trainer or options");
  ds_fit_result local;
  ds_fit_result *out = res ? res : &local;
  memset(out, 0, sizeof *out);
  ds_status st = ds_fit_check(t, opt);
  if (st) return st;
  const ds_fit_options *o = opt;
  ds_metrics *m = NULL;
  if (o->metrics && lead(t)) {
    bool resumed = t->step > 0;
    if (resumed) st = trim_metrics(o->metrics, t->step);
    if (st) return st;
    m = ds_metrics_open(o->metrics, resumed);
    if (!m) return ds_last_status();
  }
  double start = now(), lr = ds_sched_lr(t->p.sched, t->step);
  bool stop = false;
  t->layers_every = o->log_every; /* layer statistics at the logged steps only */
  if (t->step == 0) st = save_trajectory(t, o);
  while (!st && !stop && t->epoch < o->epochs) {
    double t0 = now();
    if ((st = batch_epoch(t, o->batch_sched))) break;
    ds_step_result r;
    int k;
    while ((k = ds_trainer_step(t, &r)) > 0) {
      ds__run_sums *s = &t->sums;
      lr = r.lr;
      s->epoch_loss += r.loss * (double)r.batch;
      s->epoch_samples += r.batch;
      s->epoch_correct += r.correct;
      s->window_loss += r.loss;
      s->window_objective += r.objective;
      s->window_steps++;
      out->samples += r.batch;
      if (m && t->step % o->log_every == 0) {
        ds_metrics_begin(m);
        ds_metrics_str(m, "kind", "step");
        ds_metrics_int(m, "step", t->step);
        ds_metrics_int(m, "epoch", t->epoch + 1);
        ds_metrics_num(m, "loss", s->window_loss / (double)s->window_steps);
        if (!ds_objective_is_mean(t->o.objective)) /* the tilted risk beside the mean loss */
          ds_metrics_num(m, "objective", s->window_objective / (double)s->window_steps);
        ds_metrics_num(m, "lr", lr);
        ds_metrics_num(m, "samples_per_s", (double)out->samples / (now() - start));
        if (t->dist) /* time waiting for the gradient allreduce, not overlapped with backward */
          ds_metrics_num(m, "allreduce_wait_share",
                         ds_dist_wait_seconds(t->dist, NULL) / (now() - start));
        if (t->layers && t->layers_step == t->step) log_layers(m, t);
        st = ds_metrics_end(m);
        s->window_loss = s->window_objective = 0;
        s->window_steps = 0;
        if (st) break;
      }
      if (o->snapshots && ds_sched_cycle_ends(t->p.sched, t->step - 1)) {
        st = lead(t) ? ds_trainer_snapshot(t, o->snapshot_dir, o->snapshots, o->meta, o->n_meta)
                     : DS_OK;
        if (t->dist) st = ds_dist_agree(t->dist, st);
        if (st) break;
      }
      if (o->hooks.on_step && o->hooks.on_step(o->hooks.ctx, &r, t->step, t->epoch)) stop = true;
      if (o->stop && *o->stop) stop = true;
      if (t->dist) stop = ds_dist_any(t->dist, stop); /* every rank stops at the same step */
      if (stop) break;
    }
    if (!st && k < 0) st = k;
    if (st) break;
    if (stop) { /* mid-epoch: the checkpoint holds the loader position and the running sums */
      st = save(t, o);
      break;
    }
    st = end_epoch(t, o, t0, lr, &out->last);
    if (!st && m) st = log_epoch(m, &out->last, o->bits_per_token);
    if (st) break;
    out->epochs_run++;
    bool last = t->epoch >= o->epochs,
         pause = o->stop_after > 0 && out->epochs_run >= o->stop_after;
    if (o->hooks.on_epoch && o->hooks.on_epoch(o->hooks.ctx, &out->last)) stop = true;
    if (o->stop && *o->stop) stop = true;
    if (t->dist) stop = ds_dist_any(t->dist, stop);
    if (last || pause || stop || (o->checkpoint_every > 0 && t->epoch % o->checkpoint_every == 0)) {
      st = save(t, o);
      if (!st) st = save_trajectory(t, o);
    }
    if (pause) break;
  }
  t->layers_every = 1;
  out->complete = t->epoch >= o->epochs;
  out->interrupted = stop && !out->complete;
  if (!st && out->complete && o->snapshots && o->test && lead(t))
    st = ds_trainer_snapshot_ensemble(t, o->snapshot_dir, o->test, &out->ensemble);
  ds_status cst = ds_metrics_close(m);
  if (!st) st = cst;
  out->seconds = now() - start;
  if (!st && out->interrupted)
    st = ds_set_error(DS_EINTERRUPTED, "interrupted at step %lld (epoch %lld)", (long long)t->step,
                      (long long)t->epoch + 1);
  if (!res) ds_fit_result_free(&local);
  return st;
}
