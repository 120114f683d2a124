/* One training run from settings (run.c) through the library's ds_trainer_fit: run directory,
 * progress and epoch lines through the fit's hooks, summary.json and plots; shared by descent train
 * and descent experiment. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "commands.h"
#include "plot.h"
#include "progress.h"
#include "run.h"
#include "run_dir.h"
#include "signals.h"
#include "train_run.h"

static int write_config(const settings *c, const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/config.ini", dir);
  ds_atomic_file *a = ds_atomic_open(path);
  if (!a) return DS_EIO;
  settings_write_ini(c, ds_atomic_stream(a));
  return ds_atomic_commit(a);
}

static void fmt_pct(char *buf, size_t n, double acc) {
  if (isnan(acc))
    snprintf(buf, n, "-");
  else
    snprintf(buf, n, "%.2f%%", 100 * acc);
}

static void json_num(FILE *f, const char *key, double v) {
  fprintf(f, ",\n  \"%s\": ", key);
  if (isfinite(v))
    fprintf(f, "%.9g", v);
  else
    fprintf(f, "null");
}

/* Loss, accuracy and per-class accuracies of one split as summary fields "<split>_...". */
/* ",\n  \"<key>\": [correct[i] / count[i] for each i]" (null where count[i] is 0). */
static void json_shares(FILE *f, const char *key, const int64_t *count, const int64_t *correct,
                        int n) {
  fprintf(f, ",\n  \"%s\": [", key);
  for (int c = 0; c < n; c++) {
    double a = count[c] ? (double)correct[c] / (double)count[c] : NAN;
    fprintf(f, c ? ", " : "");
    if (isfinite(a))
      fprintf(f, "%.6g", a);
    else
      fprintf(f, "null");
  }
  fprintf(f, "]");
}

static void json_eval(FILE *f, const char *split, const ds_eval_result *e) {
  char key[64];
  snprintf(key, sizeof key, "%s_loss", split);
  json_num(f, key, e->n ? e->loss : NAN);
  snprintf(key, sizeof key, "%s_acc", split);
  json_num(f, key, e->n ? e->acc : NAN);
  if (!e->n || !e->classes) return;
  snprintf(key, sizeof key, "%s_worst_class_acc", split);
  json_num(f, key, e->worst_class_acc);
  snprintf(key, sizeof key, "%s_mean_class_acc", split);
  json_num(f, key, e->mean_class_acc);
  snprintf(key, sizeof key, "%s_class_acc", split);
  json_shares(f, key, e->class_count, e->class_correct, e->classes);
  if (!e->groups) return;
  snprintf(key, sizeof key, "%s_worst_group_acc", split);
  json_num(f, key, e->worst_group_acc);
  snprintf(key, sizeof key, "%s_group_acc", split);
  json_shares(f, key, e->group_count, e->group_correct, e->groups);
}

static int write_summary(const char *dir, const run *r, const ds_fit_result *fr, int64_t steps) {
  char path[4200];
  snprintf(path, sizeof path, "%s/summary.json", dir);
  ds_atomic_file *a = ds_atomic_open(path);
  if (!a) return DS_EIO;
  FILE *f = ds_atomic_stream(a);
  const ds_epoch_report *e = &fr->last;
  fprintf(f, "{\n  \"complete\": %s,\n  \"run_dir\": ", fr->complete ? "true" : "false");
  ds_json_write_string(f, dir);
  const set_id names[] = {S_MODEL_NAME, S_DATA_NAME, S_OPTIM_NAME, S_SCHED_NAME};
  const char *keys[] = {"model", "data", "optim", "sched"};
  for (int i = 0; i < 4; i++) {
    fprintf(f, ",\n  \"%s\": ", keys[i]);
    ds_json_write_string(f, set_str(&r->cfg, names[i]));
  }
  fprintf(f, ",\n  \"params\": %lld,\n  \"threads\": %d,\n  \"epochs\": %lld,\n  \"steps\": %lld",
          (long long)ds_graph_params(r->g)->numel, r->threads,
          (long long)ds_trainer_epoch(r->trainer), (long long)steps);
  json_num(f, "train_loss", e->train.train_loss);
  json_num(f, "train_acc", e->train.train_acc);
  json_eval(f, "val", &e->val);
  json_eval(f, "test", &e->test);
  json_num(f, "seconds", fr->seconds);
  json_num(f, "samples_per_s", fr->seconds > 0 ? (double)fr->samples / fr->seconds : NAN);
  if (e->memo.noisy)
    fprintf(
        f,
        ",\n  \"noisy_labels\": %lld,\n  \"noisy_memorized\": %.9g,\n  \"noisy_clean_acc\": %.9g",
        (long long)e->memo.noisy, e->memo.memorized, e->memo.clean_acc);
  const ds_ensemble_report *sn = &fr->ensemble;
  if (sn->count)
    fprintf(
        f,
        ",\n  \"snapshots\": %d,\n  \"ensemble_test_loss\": %.9g,\n  \"ensemble_test_acc\": %.9g,"
        "\n  \"snapshot_mean_test_loss\": %.9g,\n  \"snapshot_mean_test_acc\": %.9g",
        sn->count, sn->ens.loss, sn->ens.acc, sn->mean_loss, sn->mean_acc);
  fprintf(f, "\n}\n");
  return ds_atomic_commit(a);
}

/* The fit's hooks: the progress bar after every step, one line per epoch. */
typedef struct {
  progress pr;
  int64_t epochs;
  bool text; /* character-level text: losses also in bits per character */
  const train_hooks *h;
} train_view;

/* " (1.2345 bits/char)" after a loss on text data: nats per character / ln 2. */
static void print_bpc(const train_view *v, double loss) {
  if (v->text) printf(" (%.4f bits/char)", loss / log(2.0));
}

static int on_step(void *ctx, const ds_step_result *r, int64_t step, int64_t epoch) {
  train_view *v = ctx;
  progress_step(&v->pr, step - 1, epoch, r->batch, r->loss, r->lr);
  return v->h->on_step ? v->h->on_step(v->h->ctx, r, step, epoch) : 0;
}

static int on_epoch(void *ctx, const ds_epoch_report *e) {
  train_view *v = ctx;
  if (v->h->on_epoch && v->h->on_epoch(v->h->ctx, e)) return 1;
  if (v->h->quiet) return 0;
  char a[32], b[32], c[32];
  progress_clear(&v->pr);
  fmt_pct(a, sizeof a, e->train.train_acc);
  fmt_pct(b, sizeof b, e->val.acc);
  fmt_pct(c, sizeof c, e->test.acc);
  printf("epoch %lld/%lld  train loss %.4f acc %s", (long long)e->train.epoch, (long long)v->epochs,
         e->train.train_loss, a);
  if (e->val.n) {
    printf("  val loss %.4f", e->val.loss);
    print_bpc(v, e->val.loss);
    printf(" acc %s", b);
  }
  printf("  test loss %.4f", e->test.loss);
  print_bpc(v, e->test.loss);
  printf(" acc %s", c);
  if (e->memo.noisy)
    printf("  noisy labels: memorised %.2f%% (clean %.2f%%)", 100 * e->memo.memorized,
           100 * e->memo.clean_acc);
  printf("  %.1f s\n", e->train.seconds);
  fflush(stdout);
  return 0;
}

/* Copies the metrics of the run being forked (resume_dir) into dir, unless they are the same. */
static int fork_metrics(const char *resume_dir, const char *dir) {
  char from[4200], to[4200];
  snprintf(from, sizeof from, "%s/metrics.jsonl", resume_dir);
  snprintf(to, sizeof to, "%s/metrics.jsonl", dir);
  if (!strcmp(from, to)) return 0;
  size_t n;
  char *old = ds_read_file(from, &n);
  int st = old ? ds_write_file_atomic(to, old, n) : 0;
  ds_free(old);
  return st;
}

static void run_warnings(run *r, const char *resume_dir);

/* The run's files and the fit options that point at them. */
typedef struct {
  char ckpt[4200], metrics[4200];
  const char *meta[2];
  train_view view;
  ds_fit_options fo;
} train_plan;

static void plan_fit(run *r, const char *dir, train_plan *p) {
  const settings *c = &r->cfg;
  snprintf(p->ckpt, sizeof p->ckpt, "%s/checkpoint.safetensors", dir);
  snprintf(p->metrics, sizeof p->metrics, "%s/metrics.jsonl", dir);
  p->meta[0] = "config";
  p->meta[1] = NULL; /* run_config_text, once the settings are final */
  p->view.epochs = set_int(c, S_TRAIN_EPOCHS);
  p->view.text = !strcmp(set_str(c, S_DATA_NAME), "text");
  ds_fit_options *fo = &p->fo;
  *fo = ds_fit_options_default();
  fo->epochs = set_int(c, S_TRAIN_EPOCHS);
  fo->stop_after = set_int(c, S_TRAIN_STOP_AFTER);
  fo->val = r->val;
  fo->test = r->test;
  fo->checkpoint = p->ckpt;
  fo->checkpoint_every = set_int(c, S_TRAIN_CHECKPOINT_EVERY);
  fo->meta = p->meta;
  fo->n_meta = 1;
  fo->metrics = p->metrics;
  fo->bits_per_token = p->view.text;
  fo->log_every = set_int(c, S_TRAIN_LOG_EVERY);
  fo->snapshots = (int)set_int(c, S_SCHED_SNAPSHOTS);
  fo->snapshot_dir = dir;
  fo->trajectory_dir = set_bool(c, S_TRAIN_TRAJECTORY) ? dir : NULL;
  fo->batch_sched = r->batch_sched;
  fo->hooks = (ds_fit_hooks){&p->view, on_step, on_epoch};
}

/* Trains in dir; resume_dir (or NULL) is the run to continue: the same directory, or another one
 * when --run-dir is also given (the run forks: its metrics are copied, the original is kept). */
static int train(run *r, const char *dir, const char *resume_dir, train_plan *plan,
                 const train_hooks *h) {
  const settings *c = &r->cfg;
  bool lead = ds_dist_rank(r->dist) == 0; /* rank 0 alone writes the run directory */
  char from[4200];
  int64_t epochs = set_int(c, S_TRAIN_EPOCHS);
  if (resume_dir) {
    snprintf(from, sizeof from, "%s/checkpoint.safetensors", resume_dir);
    if (ds_trainer_load(r->trainer, from, true)) return cli_fail("resume");
    if (lead && fork_metrics(resume_dir, dir)) return cli_fail(NULL);
    int64_t done = ds_trainer_epoch(r->trainer);
    if (lead)
      printf("resuming %s at epoch %lld, step %lld\n", dir, (long long)done,
             (long long)ds_trainer_step_count(r->trainer));
    if (done >= epochs) {
      if (lead)
        printf("the run is complete (train.epochs = %lld); nothing to do\n", (long long)epochs);
      return 0;
    }
  }
  if (!h->quiet) run_warnings(r, resume_dir);
  if (lead && write_config(c, dir)) return cli_fail(NULL);
  if (!(plan->meta[1] = run_config_text(r))) return cli_fail(NULL);
  progress_init(&plan->view.pr, h->quiet ? "none" : set_str(c, S_TRAIN_PROGRESS),
                ds_trainer_step_count(r->trainer), r->total_steps, set_int(c, S_TRAIN_LOG_EVERY));
  plan->view.h = h;
  if (h->before_fit && h->before_fit(h->ctx, r)) return cli_fail("experiment");
  ds_fit_options fo = plan->fo;
  bool had_checkpoint = resume_dir != NULL;
  volatile sig_atomic_t *sig = signals_install();
  fo.stop = sig;
  ds_fit_result fr;
  int st = ds_trainer_fit(r->trainer, &fo, &fr);
  signals_restore();
  progress_clear(&plan->view.pr);
  if (h->after_fit && (st == DS_OK || st == DS_ENUMERIC) && h->after_fit(h->ctx, r, &fr, st)) {
    ds_fit_result_free(&fr);
    return cli_fail("experiment");
  }
  if (!lead && (st == DS_OK || st == DS_EINTERRUPTED)) { /* rank 0 writes the summary */
    ds_fit_result_free(&fr);
    return st ? 128 + (int)*sig : 0;
  }
  if (st == DS_EINTERRUPTED) {
    int64_t steps = ds_trainer_step_count(r->trainer);
    int ws = write_summary(dir, r, &fr, steps);
    ds_fit_result_free(&fr);
    if (ws) return cli_fail(NULL);
    printf("interrupted at step %lld; resume with: descent train --resume %s\n", (long long)steps,
           dir);
    fflush(stdout);
    return 128 + (int)*sig;
  }
  if (st == DS_ENUMERIC) {
    if (h->quiet) {
      ds_fit_result_free(&fr);
      return 1;
    }
    fprintf(stderr, "descent: %s; stopping. %s\n", ds_last_error(),
            had_checkpoint || fr.epochs_run > 0 ? "The last good checkpoint is kept."
                                                : "No checkpoint was written.");
    ds_fit_result_free(&fr);
    return 1;
  }
  if (st) {
    ds_fit_result_free(&fr);
    return cli_fail("training");
  }
  if (h->quiet) {
    st = write_summary(dir, r, &fr, ds_trainer_step_count(r->trainer));
    ds_fit_result_free(&fr);
    return st ? cli_fail(NULL) : 0;
  }
  if (!fr.complete)
    printf("stopped after %lld epoch(s); continue with: descent train --resume %s\n",
           (long long)fr.epochs_run, dir);
  const ds_ensemble_report *sn = &fr.ensemble;
  if (sn->count)
    printf("snapshot ensemble of %d: test loss %.4f acc %.2f%%  (single snapshots: mean test loss "
           "%.4f acc %.2f%%)\n",
           sn->count, sn->ens.loss, 100 * sn->ens.acc, sn->mean_loss, 100 * sn->mean_acc);
  int64_t steps = ds_trainer_step_count(r->trainer);
  st = fr.epochs_run > 0 ? write_summary(dir, r, &fr, steps) : 0;
  double rate = fr.seconds > 0 ? (double)fr.samples / fr.seconds : 0;
  bool complete = fr.complete;
  ds_fit_result_free(&fr);
  if (st) return cli_fail(NULL);
  printf("done in %.1f s (%.0f samples/s, %d threads", fr.seconds, rate, r->threads);
  if (ds_dist_size(r->dist) > 1) {
    int64_t n;
    double w = ds_dist_wait_seconds(r->dist, &n);
    printf(" x %d processes; gradient allreduce waits %.2f ms per step, %.1f%% of the time",
           ds_dist_size(r->dist), n ? 1e3 * w / (double)n : 0.0,
           fr.seconds > 0 ? 100 * w / fr.seconds : 0.0);
  }
  printf(")\nrun directory: %s\n", dir);
  if (complete) {
    char out[4200];
    snprintf(out, sizeof out, "%s/curves", dir);
    const char *dirs[1] = {dir};
    bool layers = false;
    if (plot_runs(dirs, 1, out) == 0)
      printf("plots: %s.png %s.svg\n", out, out);
    else
      fprintf(stderr, "descent: warning: plots not written: %s\n", ds_last_error());
    snprintf(out, sizeof out, "%s/layers", dir);
    if (set_bool(c, S_TRAIN_LOG_LAYERS) && plot_layers(dir, out, &layers))
      fprintf(stderr, "descent: warning: layers plot not written: %s\n", ds_last_error());
    else if (layers)
      printf("plots: %s.png %s.svg\n", out, out);
  }
  return 0;
}

/* Settings that are legal but probably not what the user meant: one warning line each. */
static void run_warnings(run *r, const char *resume_dir) {
  const settings *c = &r->cfg;
  const char *model = set_str(c, S_MODEL_NAME), *optim = set_str(c, S_OPTIM_NAME),
             *sched = set_str(c, S_SCHED_NAME);
  int64_t warm = set_int(c, S_SCHED_WARMUP_STEPS);
  if (warm >= r->total_steps)
    fprintf(stderr,
            "descent: warning: sched.warmup_steps = %lld is not shorter than the run (%lld steps): "
            "the lr never reaches its peak\n",
            (long long)warm, (long long)r->total_steps);
  if (set_num(c, S_MODEL_STOCHASTIC_DEPTH) > 0 && strcmp(model, "resnet") &&
      strcmp(model, "nf_resnet"))
    fprintf(
        stderr,
        "descent: warning: model.stochastic_depth applies to resnet and nf_resnet only, not '%s'\n",
        model);
  if (set_num(c, S_MODEL_ALPHA) != 0.2 && strcmp(model, "nf_resnet"))
    fprintf(stderr, "descent: warning: model.alpha applies to nf_resnet only, not '%s'\n", model);
  if ((!strcmp(optim, "sgdw") || !strcmp(optim, "sgdp")) && !*set_str(c, S_OPTIM_WEIGHT_DECAY))
    fprintf(
        stderr,
        "descent: warning: '%s' decouples weight decay, but its default decay is 0: this is plain "
        "SGD%s (set --wd, e.g. 5e-4)\n",
        optim, !strcmp(optim, "sgdp") ? " with projection" : "");
  if (!strcmp(optim, "lars") && !*set_str(c, S_OPTIM_WEIGHT_DECAY))
    fprintf(stderr, "descent: note: lars adapts only tensors with weight decay; optim.weight_decay "
                    "unset, using 1e-4\n");
  else if (!strcmp(optim, "lars") && set_num(c, S_OPTIM_WEIGHT_DECAY) == 0)
    fprintf(stderr,
            "descent: warning: lars with optim.weight_decay = 0 adapts no tensor: this is SGD with "
            "momentum (set optim.always_adapt=true to adapt anyway)\n");
  if (!strncmp(optim, "schedulefree", 12) && strcmp(sched, "constant"))
    fprintf(stderr,
            "descent: warning: '%s' replaces the lr schedule by its own averaging; '%s' decays it "
            "as well (use --sched=constant with warm-up)\n",
            optim, sched);
  if (resume_dir) {
    settings before;
    char path[4200];
    settings_init(&before);
    snprintf(path, sizeof path, "%s/config.ini", resume_dir);
    if (!settings_load_ini(&before, path) && set_int(&before, S_TRAIN_THREADS) != r->threads)
      fprintf(
          stderr,
          "descent: warning: resuming with %d threads where the run used %lld: the result is no "
          "longer bitwise identical to an uninterrupted run\n",
          r->threads, (long long)set_int(&before, S_TRAIN_THREADS));
  }
}

/* Under mpirun: every rank must run the same settings (a hash compared with rank 0's) and the run
 * directory is rank 0's choice (its timestamp). */
static int agree_on_run(run *r, char *dir, size_t n) {
  if (ds_dist_size(r->dist) <= 1) return 0;
  const char *text = run_config_text(r);
  if (!text) return DS_ENOMEM;
  int st = ds_dist_check_same(r->dist, text, strlen(text), "the settings");
  free(r->config_text); /* recomputed once the resolved thread count is in */
  r->config_text = NULL;
  return st ? st : ds_dist_broadcast(r->dist, dir, n);
}

int train_from_settings(const settings *cfg, const train_hooks *h) {
  run r;
  memset(&r, 0, sizeof r);
  r.cfg = *cfg;
  train_hooks none = {0};
  if (!h) h = &none;
  r.dist = h->dist;
  bool lead = ds_dist_rank(r.dist) == 0;
  train_hooks quiet = *h; /* ranks other than 0 print nothing but errors */
  if (!lead) quiet.quiet = true, h = &quiet;
  static char dir[4096];
  if (*set_str(&r.cfg, S_TRAIN_RUN_DIR))
    snprintf(dir, sizeof dir, "%s", set_str(&r.cfg, S_TRAIN_RUN_DIR));
  else
    run_dir_default(&r.cfg, dir, sizeof dir);
  int rc = 0, st;
  if ((st = agree_on_run(&r, dir, sizeof dir))) {
    run_free(&r);
    return cli_exit(st, NULL);
  }
  run_set_threads(&r);
  static train_plan plan; /* large path buffers: not on the stack */
  bool same_dir = h->resume_dir && !strcmp(h->resume_dir, dir);
  if ((st = run_setup_data(&r)) || (st = run_setup_model(&r)) || (st = run_setup_training(&r)))
    rc = cli_exit(st, NULL);
  else if ((plan_fit(&r, dir, &plan), st = ds_fit_check(r.trainer, &plan.fo)))
    rc = cli_exit(st, plan.fo.snapshots ? "sched.snapshots" : "train");
  else if ((st = ds_dist_agree(r.dist, lead ? run_dir_prepare(dir, same_dir, h->overwrite) : 0)))
    rc = cli_exit(st, NULL);
  else {
    if (!h->quiet) {
      printf("descent train: %s on %s (%lld train / %lld test samples), %lld parameters, %s + %s, "
             "%lld epochs x %lld steps, %d threads",
             set_str(&r.cfg, S_MODEL_NAME), set_str(&r.cfg, S_DATA_NAME), (long long)r.train->n,
             (long long)r.test->n, (long long)ds_graph_params(r.g)->numel,
             set_str(&r.cfg, S_OPTIM_NAME), set_str(&r.cfg, S_SCHED_NAME),
             (long long)set_int(&r.cfg, S_TRAIN_EPOCHS), (long long)r.steps_per_epoch, r.threads);
      if (ds_dist_size(r.dist) > 1)
        printf(" x %d processes (batch %lld per process)", ds_dist_size(r.dist),
               (long long)ds_loader_batch(r.loader));
      printf("\nrun directory: %s\n", dir);
    }
    fflush(stdout);
    rc = train(&r, dir, h->resume_dir, &plan, h);
  }
  run_free(&r);
  return rc;
}
