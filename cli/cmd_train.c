/* descent train — settings -> data -> model -> objective -> optimizer/schedule -> steps, with
 * progress, metrics.jsonl, per-epoch checkpoints, summary.json and plots in a run directory. */
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
#include "snapshots.h"

/* mkdir -p; errors name the directory. */
static int make_dirs(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s", dir);
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
      return ds_set_error(DS_EIO, "run directory '%s': cannot create '%s' (%s)", dir, path, strerror(errno));
    *p = '/';
  }
  if (mkdir(path, 0777) != 0 && errno != EEXIST)
    return ds_set_error(DS_EIO, "run directory '%s': cannot create (%s)", dir, strerror(errno));
  struct stat sb;
  if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return ds_set_error(DS_EIO, "run directory '%s': not a directory", dir);
  return 0;
}

static void default_run_dir(const settings *c, char *out, size_t n) {
  char name[256];
  if (*set_str(c, S_TRAIN_NAME))
    snprintf(name, sizeof name, "%s", set_str(c, S_TRAIN_NAME));
  else
    snprintf(name, sizeof name, "%s-%s-%s", set_str(c, S_MODEL_NAME), set_str(c, S_DATA_NAME),
             set_str(c, S_OPTIM_NAME));
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  snprintf(out, n, "runs/%s-%s", stamp, name);
  /* two runs started in the same second get distinct directories */
  size_t len = strlen(out);
  struct stat sb;
  for (int k = 2; stat(out, &sb) == 0 && k < 1000; k++) snprintf(out + len, n - len, "-%d", k);
}

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

typedef struct {
  double train_loss, train_acc;
  run_eval val, test;
  double seconds;
  int64_t step, epoch;
  int64_t noisy;                   /* corrupted training labels (0: no label noise) */
  double memorized, noisy_clean_acc; /* share of them predicted as the noisy / the clean label */
} epoch_stats;

static int write_summary(const char *dir, const run *r, const epoch_stats *e, double seconds,
                         double rate, bool complete, const snapshot_report *sn) {
  char path[4200];
  snprintf(path, sizeof path, "%s/summary.json", dir);
  ds_atomic_file *a = ds_atomic_open(path);
  if (!a) return DS_EIO;
  FILE *f = ds_atomic_stream(a);
  fprintf(f, "{\n  \"complete\": %s,\n  \"run_dir\": ", complete ? "true" : "false");
  ds_json_write_string(f, dir);
  fprintf(f, ",\n  \"model\": ");
  ds_json_write_string(f, set_str(&r->cfg, S_MODEL_NAME));
  fprintf(f, ",\n  \"data\": ");
  ds_json_write_string(f, set_str(&r->cfg, S_DATA_NAME));
  fprintf(f, ",\n  \"optim\": ");
  ds_json_write_string(f, set_str(&r->cfg, S_OPTIM_NAME));
  fprintf(f, ",\n  \"sched\": ");
  ds_json_write_string(f, set_str(&r->cfg, S_SCHED_NAME));
  fprintf(f, ",\n  \"params\": %lld,\n  \"threads\": %d,\n  \"epochs\": %lld,\n  \"steps\": %lld",
          (long long)ds_graph_params(r->g)->numel, r->threads, (long long)e->epoch, (long long)e->step);
  const struct {
    const char *k;
    double v;
  } nums[] = {{"train_loss", e->train_loss}, {"train_acc", e->train_acc}, {"val_loss", e->val.loss},
              {"val_acc", e->val.acc},       {"test_loss", e->test.loss},   {"test_acc", e->test.acc},
              {"seconds", seconds},           {"samples_per_s", rate}};
  for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
    fprintf(f, ",\n  \"%s\": ", nums[i].k);
    if (isfinite(nums[i].v))
      fprintf(f, "%.9g", nums[i].v);
    else
      fprintf(f, "null");
  }
  if (e->noisy)
    fprintf(f, ",\n  \"noisy_labels\": %lld,\n  \"noisy_memorized\": %.9g,\n  \"noisy_clean_acc\": %.9g",
            (long long)e->noisy, e->memorized, e->noisy_clean_acc);
  if (sn->count)
    fprintf(f, ",\n  \"snapshots\": %d,\n  \"ensemble_test_loss\": %.9g,\n  \"ensemble_test_acc\": %.9g,"
               "\n  \"snapshot_mean_test_loss\": %.9g,\n  \"snapshot_mean_test_acc\": %.9g",
            sn->count, sn->ens_loss, sn->ens_acc, sn->mean_loss, sn->mean_acc);
  fprintf(f, "\n}\n");
  return ds_atomic_commit(a);
}

static void log_epoch(ds_metrics *m, const epoch_stats *e, double lr) {
  ds_metrics_begin(m);
  ds_metrics_str(m, "kind", "epoch");
  ds_metrics_int(m, "epoch", e->epoch);
  ds_metrics_int(m, "step", e->step);
  ds_metrics_num(m, "lr", lr);
  ds_metrics_num(m, "train_loss", e->train_loss);
  ds_metrics_num(m, "train_acc", e->train_acc);
  if (e->val.n) {
    ds_metrics_num(m, "val_loss", e->val.loss);
    ds_metrics_num(m, "val_acc", e->val.acc);
  }
  ds_metrics_num(m, "test_loss", e->test.loss);
  ds_metrics_num(m, "test_acc", e->test.acc);
  if (e->noisy) {
    ds_metrics_int(m, "noisy_labels", e->noisy);
    ds_metrics_num(m, "noisy_memorized", e->memorized);
    ds_metrics_num(m, "noisy_clean_acc", e->noisy_clean_acc);
  }
  ds_metrics_num(m, "seconds", e->seconds);
  ds_metrics_end(m);
}

static void print_epoch(const epoch_stats *e, int64_t epochs) {
  char a[32], b[32], c[32];
  fmt_pct(a, sizeof a, e->train_acc);
  fmt_pct(b, sizeof b, e->val.acc);
  fmt_pct(c, sizeof c, e->test.acc);
  printf("epoch %lld/%lld  train loss %.4f acc %s", (long long)e->epoch, (long long)epochs, e->train_loss, a);
  if (e->val.n) printf("  val loss %.4f acc %s", e->val.loss, b);
  printf("  test loss %.4f acc %s", e->test.loss, c);
  if (e->noisy)
    printf("  noisy labels: memorised %.2f%% (clean %.2f%%)", 100 * e->memorized,
           100 * e->noisy_clean_acc);
  printf("  %.1f s\n", e->seconds);
  fflush(stdout);
}

/* On resume: drops the metrics records logged after the checkpoint's step (an interrupted epoch),
 * so the file continues as if the run had never stopped. */
static int trim_metrics(const char *path, int64_t step) {
  size_t n;
  char *text = ds_read_file(path, &n);
  if (!text) return 0; /* nothing logged yet */
  ds_atomic_file *a = ds_atomic_open(path);
  if (!a) {
    ds_free(text);
    return DS_EIO;
  }
  for (char *p = text, *nl; p && *p; p = nl ? nl + 1 : NULL) {
    nl = strchr(p, '\n');
    if (nl) *nl = '\0';
    cJSON *o = cJSON_Parse(p);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "step");
    if (cJSON_IsNumber(st) && st->valuedouble <= (double)step) fprintf(ds_atomic_stream(a), "%s\n", p);
    cJSON_Delete(o);
  }
  ds_free(text);
  return ds_atomic_commit(a);
}

/* Trains in dir; resume_dir (or NULL) is the run to continue: the same directory, or another one
 * when --run-dir is also given (the run forks: its metrics are copied, the original is kept). */
static int train(run *r, const char *dir, const char *resume_dir) {
  const settings *c = &r->cfg;
  bool resume = resume_dir != NULL;
  char ckpt[4200], mpath[4200], from[4200];
  snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
  snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", dir);
  if (resume) {
    snprintf(from, sizeof from, "%s/checkpoint.safetensors", resume_dir);
    if (ds_trainer_load(r->trainer, from, true)) return cli_fail("resume");
    snprintf(from, sizeof from, "%s/metrics.jsonl", resume_dir);
    if (strcmp(from, mpath)) {
      size_t n;
      char *old = ds_read_file(from, &n);
      int st = old ? ds_write_file_atomic(mpath, old, n) : 0;
      ds_free(old);
      if (st) return cli_fail(NULL);
    }
    int64_t done = ds_trainer_epoch(r->trainer);
    printf("resuming %s at epoch %lld, step %lld\n", dir, (long long)done,
           (long long)ds_trainer_step_count(r->trainer));
    if (done >= set_int(c, S_TRAIN_EPOCHS)) {
      printf("the run is complete (train.epochs = %lld); nothing to do\n", (long long)set_int(c, S_TRAIN_EPOCHS));
      return 0;
    }
  }
  if (write_config(c, dir)) return cli_fail(NULL);
  if (resume && trim_metrics(mpath, ds_trainer_step_count(r->trainer))) return cli_fail(NULL);
  ds_metrics *m = ds_metrics_open(mpath, resume);
  if (!m) return cli_fail(NULL);

  int64_t epochs = set_int(c, S_TRAIN_EPOCHS), log_every = set_int(c, S_TRAIN_LOG_EVERY);
  int64_t stop_after = set_int(c, S_TRAIN_STOP_AFTER), every = set_int(c, S_TRAIN_CHECKPOINT_EVERY);
  progress pr;
  int64_t step0 = ds_trainer_step_count(r->trainer), done_here = 0;
  progress_init(&pr, set_str(c, S_TRAIN_PROGRESS), step0, r->total_steps, log_every);
  double t_start = progress_now(), win_loss = 0, win_objective = 0, lr = ds_sched_lr(r->sched, step0);
  int64_t win_n = 0;
  epoch_stats es = {.train_loss = NAN, .train_acc = NAN, .val = {NAN, NAN, 0}, .test = {NAN, NAN, 0}};
  int rc = 0;
  bool saved_any = resume;
  while (ds_trainer_epoch(r->trainer) < epochs && !rc) {
    double t0 = progress_now(), loss_sum = 0;
    int64_t seen = 0, correct = 0, epoch = ds_trainer_epoch(r->trainer);
    ds_step_result sr;
    int k;
    while ((k = ds_trainer_step(r->trainer, &sr)) > 0) {
      int64_t step = ds_trainer_step_count(r->trainer);
      lr = sr.lr;
      loss_sum += sr.loss * (double)sr.batch;
      seen += sr.batch;
      correct += sr.correct;
      win_loss += sr.loss;
      win_objective += sr.objective;
      win_n++;
      progress_step(&pr, step - 1, epoch, sr.batch, sr.loss, lr);
      if (snapshot_after_step(r, dir, step)) {
        progress_clear(&pr);
        rc = cli_fail("snapshot");
        break;
      }
      if (step % log_every == 0) {
        ds_metrics_begin(m);
        ds_metrics_str(m, "kind", "step");
        ds_metrics_int(m, "step", step);
        ds_metrics_int(m, "epoch", epoch + 1);
        ds_metrics_num(m, "loss", win_loss / (double)win_n);
        if (r->objective) ds_metrics_num(m, "objective", win_objective / (double)win_n); /* tilted risk */
        ds_metrics_num(m, "lr", lr);
        ds_metrics_num(m, "samples_per_s", (double)pr.samples / (progress_now() - pr.t0));
        ds_metrics_end(m);
        win_loss = win_objective = 0;
        win_n = 0;
      }
    }
    if (rc) break;
    if (k < 0) {
      progress_clear(&pr);
      if (k == DS_ENUMERIC) {
        fprintf(stderr, "descent: %s; stopping. %s\n", ds_last_error(),
                saved_any ? "The last good checkpoint is kept." : "No checkpoint was written.");
        rc = 1;
      } else {
        rc = cli_fail("training");
      }
      break;
    }
    es.epoch = epoch + 1;
    es.step = ds_trainer_step_count(r->trainer);
    es.train_loss = seen ? loss_sum / (double)seen : NAN;
    es.train_acc = r->regression || !seen ? NAN : (double)correct / (double)seen;
    es.val = (run_eval){NAN, NAN, 0};
    int st = r->val ? run_evaluate(r, r->val, &es.val) : 0;
    if (!st) st = run_evaluate(r, r->test, &es.test);
    if (!st) st = run_memorization(r, &es.memorized, &es.noisy_clean_acc, &es.noisy);
    if (st) {
      rc = cli_fail("evaluation");
      break;
    }
    es.seconds = progress_now() - t0;
    progress_clear(&pr);
    print_epoch(&es, epochs);
    log_epoch(m, &es, lr);
    done_here++;
    bool stop = stop_after > 0 && done_here >= stop_after && es.epoch < epochs;
    if ((every > 0 && es.epoch % every == 0) || es.epoch == epochs || stop) {
      if (checkpoint_save(r, ckpt)) {
        rc = cli_fail("checkpoint");
        break;
      }
      saved_any = true;
    }
    if (stop) {
      printf("stopped after %lld epoch(s); continue with: descent train --resume %s\n", (long long)done_here, dir);
      break;
    }
  }
  double secs = progress_now() - t_start;
  double rate = secs > 0 ? (double)pr.samples / secs : 0;
  if (ds_metrics_close(m) && !rc) rc = cli_fail(NULL);
  if (rc) return rc;
  snapshot_report sn = {0};
  if (es.epoch == epochs) {
    if (snapshot_ensemble(r, dir, ckpt, &sn)) return cli_fail("snapshot ensemble");
    if (sn.count)
      printf("snapshot ensemble of %d: test loss %.4f acc %.2f%%  (single snapshots: mean test loss "
             "%.4f acc %.2f%%)\n",
             sn.count, sn.ens_loss, 100 * sn.ens_acc, sn.mean_loss, 100 * sn.mean_acc);
  }
  if (write_summary(dir, r, &es, secs, rate, es.epoch == epochs, &sn)) return cli_fail(NULL);
  printf("done in %.1f s (%.0f samples/s, %d threads)\nrun directory: %s\n", secs, rate, r->threads, dir);
  if (es.epoch == epochs) {
    char out[4200];
    snprintf(out, sizeof out, "%s/curves", dir);
    const char *dirs[1] = {dir};
    if (plot_runs(dirs, 1, out) == 0)
      printf("plots: %s.png %s.svg\n", out, out);
    else
      fprintf(stderr, "descent: warning: plots not written: %s\n", ds_last_error());
  }
  return 0;
}

int cmd_train(int argc, char **argv) {
  run r;
  memset(&r, 0, sizeof r);
  settings_init(&r.cfg);
  cli_flags flags;
  if (settings_parse_args(&r.cfg, argc, argv, &flags)) {
    cli_fail(NULL);
    return 2;
  }
  if (flags.help) {
    settings_help(stdout);
    return 0;
  }
  run_set_threads(&r);
  char dir[4096];
  if (*set_str(&r.cfg, S_TRAIN_RUN_DIR))
    snprintf(dir, sizeof dir, "%s", set_str(&r.cfg, S_TRAIN_RUN_DIR));
  else
    default_run_dir(&r.cfg, dir, sizeof dir);
  int rc = 0;
  if (run_setup_data(&r) || run_setup_model(&r) || run_setup_training(&r) || snapshot_check(&r))
    rc = cli_fail(NULL);
  else if (make_dirs(dir))
    rc = cli_fail(NULL);
  else {
    printf("descent train: %s on %s (%lld train / %lld test samples), %lld parameters, %s + %s, "
           "%lld epochs x %lld steps, %d threads\nrun directory: %s\n",
           set_str(&r.cfg, S_MODEL_NAME), set_str(&r.cfg, S_DATA_NAME), (long long)r.train->n,
           (long long)r.test->n, (long long)ds_graph_params(r.g)->numel, set_str(&r.cfg, S_OPTIM_NAME),
           set_str(&r.cfg, S_SCHED_NAME), (long long)set_int(&r.cfg, S_TRAIN_EPOCHS),
           (long long)r.steps_per_epoch, r.threads, dir);
    fflush(stdout);
    rc = train(&r, dir, flags.resume);
  }
  run_free(&r);
  return rc;
}
