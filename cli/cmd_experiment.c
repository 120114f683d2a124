/* descent experiment --list | NAME [--seeds N] [--scale quick|default|full] [--out DIR]
 * [--threads N] — runs every arm of an experiment (experiments.c) for each seed through the
 * training path of descent train, then writes results.json, report.md and a figure. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "commands.h"
#include "experiment.h"
#include "plot.h"
#include "progress.h"
#include "run_dir.h"
#include "train_run.h"

static const char *const scale_names[] = {"quick", "default", "full"};

int exp_add_arm(exp_arm *arms, int n, int cap, bool run, const char *name, const char *fmt, ...) {
  if (n >= cap) return n;
  snprintf(arms[n].name, sizeof arms[n].name, "%s", name);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(arms[n].overrides, sizeof arms[n].overrides, fmt, ap);
  va_end(ap);
  arms[n].run = run;
  return n + 1;
}

int exp_arm_index(const exp_results *r, const char *name) {
  for (int i = 0; i < r->n_arms; i++)
    if (!strcmp(r->arms[i].name, name)) return i;
  return -1;
}

int exp_metric_index(const exp_results *r, const char *m) {
  for (int i = 0; i < r->n_metrics; i++)
    if (!strcmp(r->metrics[i], m)) return i;
  return -1;
}

double exp_mean(const exp_results *r, const char *name, const char *m) {
  int a = exp_arm_index(r, name), k = exp_metric_index(r, m), n = 0;
  if (a < 0 || k < 0) return NAN;
  double sum = 0;
  for (int s = 0; s < r->n_seeds; s++)
    if (!isnan(r->v[a][k][s])) sum += r->v[a][k][s], n++;
  return n ? sum / n : NAN;
}

/* Applies "key=value key=value ..." to cfg; errors name the experiment's setting. */
static int apply(settings *cfg, const char *text) {
  char buf[4800];
  snprintf(buf, sizeof buf, "%s", text ? text : "");
  char *save = NULL;
  for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq) return ds_set_error(DS_EINVAL, "experiment setting '%s' is not key=value", tok);
    *eq = '\0';
    int st = settings_set(cfg, tok, eq + 1);
    if (st) return st;
  }
  return 0;
}

/* The standard metrics, read from a run's observation. */
static double standard_metric(const char *m, const exp_obs *o) {
  bool diverged = o->status != 0;
  if (!strcmp(m, "diverged")) return diverged ? 1 : 0;
  if (!strcmp(m, "early_max_loss")) return o->early_max_loss;
  if (diverged) return NAN;
  const struct {
    const char *name;
    double v;
  } t[] = {{"test_acc", o->test_acc},
           {"test_loss", o->test_loss},
           {"train_loss", o->train_loss},
           {"train_acc", o->train_acc},
           {"worst_class_acc", o->worst_class_acc},
           {"memorised", o->memorised},
           {"ensemble_acc", o->ensemble_acc},
           {"best_single_acc", o->best_single_acc},
           {"norm_ratio", o->norm0 > 0 ? o->norm1 / o->norm0 : NAN}};
  for (size_t i = 0; i < sizeof t / sizeof *t; i++)
    if (!strcmp(m, t[i].name)) return t[i].v;
  return NAN;
}

/* Norm of the weights that a batch norm follows (conv layers), the scale-invariant ones. */
static double conv_weight_norm(run *r) {
  const ds_paramset *ps = ds_graph_params(r->g);
  double s = 0;
  for (int i = 0; i < ps->count; i++) {
    const ds_param_info *p = &ps->info[i];
    if (p->role != DS_ROLE_WEIGHT || p->shape.rank != 4) continue;
    for (int64_t j = 0; j < p->numel; j++)
      s += (double)ps->data[p->offset + j] * ps->data[p->offset + j];
  }
  return sqrt(s);
}

typedef struct {
  const exp_def *e;
  exp_obs *o;
  int64_t steps;
} arm_ctx;

static int arm_step(void *ctx, const ds_step_result *r, int64_t step, int64_t epoch) {
  arm_ctx *c = ctx;
  (void)epoch;
  if (step <= 200 && !(r->loss <= c->o->early_max_loss)) c->o->early_max_loss = r->loss;
  return 0;
}

static int arm_epoch(void *ctx, const ds_epoch_report *e) {
  arm_ctx *c = ctx;
  if (c->o->epochs < EXP_MAX_EPOCHS) c->o->epoch_train_loss[c->o->epochs++] = e->train.train_loss;
  return 0;
}

static int arm_before(void *ctx, run *r) {
  arm_ctx *c = ctx;
  c->o->norm0 = conv_weight_norm(r);
  return c->e->before ? c->e->before(c->e, r, c->o) : 0;
}

static int arm_after(void *ctx, run *r, const ds_fit_result *fr, int status) {
  arm_ctx *c = ctx;
  exp_obs *o = c->o;
  o->status = status;
  const ds_epoch_report *e = &fr->last;
  o->test_acc = e->test.acc;
  o->test_loss = e->test.loss;
  o->worst_class_acc = e->test.worst_class_acc;
  o->train_loss = e->train.train_loss;
  o->train_acc = e->train.train_acc;
  o->memorised = e->memo.noisy ? e->memo.memorized : NAN;
  o->ensemble_acc = fr->ensemble.count ? fr->ensemble.ens.acc : NAN;
  o->best_single_acc = fr->ensemble.count ? fr->ensemble.best_acc : NAN;
  o->norm1 = conv_weight_norm(r);
  return status == 0 && c->e->after ? c->e->after(c->e, r, o) : 0;
}

/* Trains one arm for one seed in dir; a diverged run is an observation, not an error. */
static int run_arm(const exp_def *e, exp_scale scale, const exp_arm *arm, int seed, const char *dir,
                   int threads, exp_obs *o) {
  static settings cfg;
  settings_init(&cfg);
  char extra[4600];
  snprintf(extra, sizeof extra,
           "train.seed=%d train.run_dir=%s train.progress=none train.threads=%d", seed, dir,
           threads);
  int st = apply(&cfg, e->base[scale]);
  if (!st) st = apply(&cfg, arm->overrides);
  if (!st) st = apply(&cfg, extra);
  if (st) {
    fprintf(stderr, "descent: experiment %s, arm %s: %s\n", e->name, arm->name, ds_last_error());
    return 2;
  }
  memset(o, 0, sizeof *o);
  o->early_max_loss = NAN;
  o->test_acc = o->test_loss = o->train_loss = o->train_acc = o->worst_class_acc = NAN;
  for (int i = 0; i < 4; i++)
    o->custom[i] = NAN;
  arm_ctx c = {e, o, 0};
  train_hooks h = {.quiet = true,
                   .overwrite = true,
                   .ctx = &c,
                   .on_epoch = arm_epoch,
                   .on_step = arm_step,
                   .before_fit = arm_before,
                   .after_fit = arm_after};
  int rc = train_from_settings(&cfg, &h);
  if (rc == 1 && o->status == DS_ENUMERIC) rc = 0; /* diverged: recorded */
  return rc;
}

static void json_value(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.6g", v);
  else
    fprintf(f, "null");
}

static int write_results(const char *out, const exp_def *e, exp_scale scale, const int *seeds,
                         const exp_results *r) {
  char path[4200];
  snprintf(path, sizeof path, "%s/results.json", out);
  ds_atomic_file *a = ds_atomic_open(path);
  if (!a) return ds_last_status();
  FILE *f = ds_atomic_stream(a);
  fprintf(f, "{\n  \"experiment\": ");
  ds_json_write_string(f, e->name);
  fprintf(f, ",\n  \"claim\": ");
  ds_json_write_string(f, e->claim);
  fprintf(f, ",\n  \"scale\": \"%s\",\n  \"seeds\": [", scale_names[scale]);
  for (int s = 0; s < r->n_seeds; s++)
    fprintf(f, "%s%d", s ? ", " : "", seeds[s]);
  fprintf(f, "],\n  \"arms\": {");
  for (int i = 0; i < r->n_arms; i++) {
    fprintf(f, "%s\n    ", i ? "," : "");
    ds_json_write_string(f, r->arms[i].name);
    fprintf(f, ": {");
    int shown = 0;
    for (int k = 0; k < r->n_metrics; k++) {
      bool any = false;
      for (int s = 0; s < r->n_seeds; s++)
        any |= !isnan(r->v[i][k][s]);
      if (!any) continue;
      fprintf(f, "%s\"%s\": [", shown++ ? ", " : "", r->metrics[k]);
      for (int s = 0; s < r->n_seeds; s++) {
        if (s) fprintf(f, ", ");
        json_value(f, r->v[i][k][s]);
      }
      fprintf(f, "]");
    }
    fprintf(f, "}");
  }
  fprintf(f, "\n  },\n  \"curves\": {");
  int shown = 0;
  for (int i = 0; i < r->n_arms; i++) {
    if (!r->arms[i].run) continue;
    fprintf(f, "%s\n    ", shown++ ? "," : "");
    ds_json_write_string(f, r->arms[i].name);
    fprintf(f, ": {\"train_loss_per_epoch\": [");
    for (int s = 0; s < r->n_seeds; s++) {
      fprintf(f, "%s[", s ? ", " : "");
      for (int t = 0; t < r->obs[i][s].epochs; t++) {
        if (t) fprintf(f, ", ");
        json_value(f, r->obs[i][s].epoch_train_loss[t]);
      }
      fprintf(f, "]");
    }
    fprintf(f, "]}");
  }
  fprintf(f, "\n  },\n  \"holds\": %s,\n  \"summary\": ", r->holds ? "true" : "false");
  ds_json_write_string(f, r->summary);
  fprintf(f, "\n}\n");
  return ds_atomic_commit(a);
}

static void mean_spread(const exp_results *r, int a, int k, double *mean, double *sd, int *n) {
  double s = 0, s2 = 0;
  *n = 0;
  for (int i = 0; i < r->n_seeds; i++)
    if (!isnan(r->v[a][k][i])) s += r->v[a][k][i], (*n)++;
  *mean = *n ? s / *n : NAN;
  for (int i = 0; i < r->n_seeds; i++)
    if (!isnan(r->v[a][k][i])) s2 += (r->v[a][k][i] - *mean) * (r->v[a][k][i] - *mean);
  *sd = *n > 1 ? sqrt(s2 / (*n - 1)) : 0;
}

static int write_report(const char *out, const exp_def *e, exp_scale scale, const exp_results *r,
                        double secs, bool figure) {
  char path[4200];
  snprintf(path, sizeof path, "%s/report.md", out);
  ds_atomic_file *a = ds_atomic_open(path);
  if (!a) return ds_last_status();
  FILE *f = ds_atomic_stream(a);
  fprintf(f, "# %s\n\n**Claim.** %s\n\n**Setup.** %s Scale `%s`, %d seed%s; %.0f s on %s.\n\n",
          e->name, e->claim, e->setup, scale_names[scale], r->n_seeds, r->n_seeds == 1 ? "" : "s",
          secs, "this machine");
  fprintf(f, "Base settings: `%s`\n\n| arm | settings over the base |\n|---|---|\n",
          e->base[scale]);
  for (int i = 0; i < r->n_arms; i++)
    fprintf(f, "| %s | %s%s |\n", r->arms[i].name, r->arms[i].run ? "" : "derived: ",
            *r->arms[i].overrides ? r->arms[i].overrides : "(base)");
  fprintf(
      f,
      "\n**Results** (mean ± standard deviation over seeds; n = seeds with a value):\n\n| arm |");
  for (int k = 0; k < r->n_metrics; k++)
    fprintf(f, " %s |", r->metrics[k]);
  fprintf(f, "\n|---|");
  for (int k = 0; k < r->n_metrics; k++)
    fprintf(f, "---|");
  fprintf(f, "\n");
  for (int i = 0; i < r->n_arms; i++) {
    fprintf(f, "| %s |", r->arms[i].name);
    for (int k = 0; k < r->n_metrics; k++) {
      double m, sd;
      int n;
      mean_spread(r, i, k, &m, &sd, &n);
      if (!n)
        fprintf(f, " – |");
      else if (n == r->n_seeds)
        fprintf(f, " %.4g ± %.2g |", m, sd);
      else
        fprintf(f, " %.4g ± %.2g (n=%d) |", m, sd, n);
    }
    fprintf(f, "\n");
  }
  fprintf(f, "\n**Verdict: %s.** %s\n\n",
          r->holds ? "the claimed direction held" : "the claimed direction did not hold",
          r->summary);
  if (figure) fprintf(f, "![training curves of the arms (seed %d)](curves.png)\n\n", 1);
  fprintf(f, "Reproduce: `descent experiment %s --scale %s --seeds %d`\n", e->name,
          scale_names[scale], r->n_seeds);
  return ds_atomic_commit(a);
}

static int usage(FILE *f, int rc) {
  fprintf(
      f,
      "usage: descent experiment --list\n"
      "       descent experiment NAME [--seeds N] [--scale quick|default|full] [--out DIR] "
      "[--threads N]\n\n"
      "Runs every arm of experiment NAME for seeds 1..N (default 3) and writes DIR/results.json,\n"
      "DIR/report.md, DIR/curves.png and one run directory per arm and seed (default DIR:\n"
      "runs/<timestamp>-experiment-NAME). --scale default takes minutes, quick seconds.\n");
  return rc;
}

static const exp_def *find_experiment(const char *name) {
  for (int i = 0; experiments[i]; i++)
    if (!strcmp(experiments[i]->name, name)) return experiments[i];
  return NULL;
}

int cmd_experiment(int argc, char **argv) {
  const char *name = NULL, *out_arg = NULL;
  int64_t n_seeds = 3, threads = 0;
  exp_scale scale = EXP_DEFAULT;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout, 0);
    if (!strcmp(a, "--list")) {
      for (int k = 0; experiments[k]; k++)
        printf("%-16s %s\n", experiments[k]->name, experiments[k]->claim);
      return 0;
    }
    bool takes = !strcmp(a, "--seeds") || !strcmp(a, "--scale") || !strcmp(a, "--out") ||
                 !strcmp(a, "--threads");
    if (takes && !v) {
      fprintf(stderr, "descent: experiment: option '%s' needs a value\n", a);
      return 2;
    }
    if (!strcmp(a, "--seeds")) {
      if (ds_kv_int("--seeds", v, &n_seeds) || n_seeds < 1 || n_seeds > EXP_MAX_SEEDS) {
        fprintf(stderr, "descent: experiment: --seeds must be an integer in 1..%d\n",
                EXP_MAX_SEEDS);
        return 2;
      }
    } else if (!strcmp(a, "--threads")) {
      if (ds_kv_int("--threads", v, &threads) || threads < 0) {
        fprintf(stderr, "descent: experiment: --threads must be an integer >= 0\n");
        return 2;
      }
    } else if (!strcmp(a, "--scale")) {
      int k = 0;
      while (k < 3 && strcmp(v, scale_names[k]))
        k++;
      if (k == 3) {
        fprintf(stderr, "descent: experiment: --scale '%s' is not one of quick, default, full\n",
                v);
        return 2;
      }
      scale = (exp_scale)k;
    } else if (!strcmp(a, "--out")) {
      out_arg = v;
    } else if (!strncmp(a, "--", 2) || name) {
      fprintf(stderr, "descent: experiment: unexpected argument '%s'\n", a);
      return 2;
    } else {
      name = a;
      continue;
    }
    i++;
  }
  if (!name) return usage(stderr, 2);
  const exp_def *e = find_experiment(name);
  if (!e) {
    fprintf(stderr, "descent: experiment: unknown experiment '%s' (descent experiment --list)\n",
            name);
    return 2;
  }
  char out[4096];
  if (out_arg) {
    snprintf(out, sizeof out, "%s", out_arg);
  } else {
    static settings cfg;
    settings_init(&cfg);
    char label[128];
    snprintf(label, sizeof label, "experiment-%s", name);
    settings_set(&cfg, "train.name", label);
    run_dir_default(&cfg, out, sizeof out);
  }
  if (run_dir_prepare(out, false, true)) return cli_fail("experiment");
  static exp_results res;
  memset(&res, 0, sizeof res);
  res.n_seeds = (int)n_seeds;
  res.scale = scale;
  res.n_arms = e->arms(scale, res.arms, EXP_MAX_ARMS);
  for (int k = 0; k < EXP_MAX_METRICS && e->metrics[k]; k++)
    res.metrics[res.n_metrics++] = e->metrics[k];
  for (int i = 0; i < res.n_arms; i++)
    for (int k = 0; k < EXP_MAX_METRICS; k++)
      for (int s = 0; s < EXP_MAX_SEEDS; s++)
        res.v[i][k][s] = NAN;
  int seeds[EXP_MAX_SEEDS], runs = 0, done = 0;
  for (int s = 0; s < res.n_seeds; s++)
    seeds[s] = s + 1;
  for (int i = 0; i < res.n_arms; i++)
    runs += res.arms[i].run ? res.n_seeds : 0;
  printf("descent experiment %s (%s scale, %d seed%s, %d runs): %s\noutput: %s\n", name,
         scale_names[scale], res.n_seeds, res.n_seeds == 1 ? "" : "s", runs, e->claim, out);
  fflush(stdout);
  double t0 = progress_now();
  run_cache_enable(true);
  for (int i = 0; i < res.n_arms; i++) {
    if (!res.arms[i].run) continue;
    for (int s = 0; s < res.n_seeds; s++) {
      char dir[4400];
      snprintf(dir, sizeof dir, "%s/%s/seed-%d", out, res.arms[i].name, seeds[s]);
      double t1 = progress_now();
      int rc = run_arm(e, scale, &res.arms[i], seeds[s], dir, (int)threads, &res.obs[i][s]);
      if (rc) {
        fprintf(stderr, "descent: experiment %s: arm %s (seed %d) failed\n", name, res.arms[i].name,
                seeds[s]);
        run_cache_enable(false);
        return rc;
      }
      for (int k = 0; k < res.n_metrics; k++) {
        double v = e->metric ? e->metric(e, &res.arms[i], res.metrics[k], &res.obs[i][s]) : NAN;
        res.v[i][k][s] = isnan(v) ? standard_metric(res.metrics[k], &res.obs[i][s]) : v;
      }
      const exp_obs *o = &res.obs[i][s];
      printf("[%d/%d] %-24s seed %d: %s  %.1f s\n", ++done, runs, res.arms[i].name, seeds[s],
             o->status ? "diverged" : "done", progress_now() - t1);
      if (!o->status && isfinite(o->test_acc))
        printf("        test_acc %.4f  train_loss %.4f\n", o->test_acc, o->train_loss);
      fflush(stdout);
    }
  }
  run_cache_enable(false);
  e->judge(e, &res);
  double secs = progress_now() - t0;
  /* the figure: training curves of up to 8 trained arms, first seed */
  const char *dirs[8], *labels[8];
  static char dirbuf[8][4400];
  char fig[4200];
  int nd = 0;
  for (int i = 0; i < res.n_arms && nd < 8; i++)
    if (res.arms[i].run && res.obs[i][0].status == 0) {
      snprintf(dirbuf[nd], sizeof dirbuf[nd], "%s/%s/seed-%d", out, res.arms[i].name, seeds[0]);
      dirs[nd] = dirbuf[nd];
      labels[nd++] = res.arms[i].name;
    }
  snprintf(fig, sizeof fig, "%s/curves", out);
  bool figure = nd > 0 && plot_runs_named(dirs, labels, nd, fig) == 0;
  if (write_results(out, e, scale, seeds, &res) || write_report(out, e, scale, &res, secs, figure))
    return cli_fail("experiment");
  printf("%s: %s. %s\nresults: %s/results.json, report: %s/report.md (%.0f s)\n", name,
         res.holds ? "the claimed direction held" : "the claimed direction did not hold",
         res.summary, out, out, secs);
  return 0;
}
