/* The experiments of `descent experiment`: each claim of the lecture as data (experiment.h).
 * Budgets: quick runs in seconds (CI checks the schema), default in minutes on two cores, full is
 * a bigger version for users with time. Fashion-MNIST subsets are stratified (data.train_subset).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "descent/analysis.h"
#include "experiment.h"

#define FMNIST(train, test)                                                                        \
  "data.name=fashion-mnist data.train_subset=" #train " data.test_subset=" #test
#define CONSTANT_LR "sched.name=constant sched.factor=1 sched.warmup_steps=0"

static const char *pct(double v, char *buf, size_t n) {
  if (isnan(v))
    snprintf(buf, n, "n/a");
  else
    snprintf(buf, n, "%.2f%%", 100 * v);
  return buf;
}

/* Copies arm `from`'s values (every metric, every seed) into arm `to`. */
static void copy_arm(exp_results *r, const char *from, const char *to) {
  int a = exp_arm_index(r, from), b = exp_arm_index(r, to);
  if (a < 0 || b < 0) return;
  memcpy(r->v[b], r->v[a], sizeof r->v[a]);
}

/* Among the arms "<prefix>@lr=<lr[k]>" (k < n), the one with the best mean of metric (the lowest,
 * or the highest when !lower): its name goes to arm (empty if none has a value) and its values to
 * the derived arm "<prefix>". Returns that mean, +-INFINITY if none. */
static double best_of_grid(exp_results *r, const char *prefix, const double *lr, int n,
                           const char *metric, bool lower, char *arm, size_t cap) {
  double best = lower ? INFINITY : -INFINITY;
  arm[0] = 0;
  for (int k = 0; k < n; k++) {
    char name[64];
    if (snprintf(name, sizeof name, "%s@lr=%g", prefix, lr[k]) >= (int)sizeof name) continue;
    double v = exp_mean(r, name, metric);
    if (!isnan(v) && (lower ? v < best : v > best)) best = v, snprintf(arm, cap, "%s", name);
  }
  copy_arm(r, arm, prefix);
  return best;
}

/* ---- adam-cnn: Kingma & Ba's figure ---------------------------------------------------------- */

static const struct {
  const char *name, *settings;
  double lr[3];
} adam_cnn_opts[] = {
    {"sgd", "optim.name=sgd", {0.03, 0.1, 0.3}},
    {"momentum", "optim.name=sgd optim.momentum=0.9", {0.01, 0.03, 0.1}},
    {"adagrad", "optim.name=adagrad", {0.003, 0.01, 0.03}},
    {"rmsprop", "optim.name=rmsprop", {1e-4, 3e-4, 1e-3}},
    {"adam", "optim.name=adam", {3e-4, 1e-3, 3e-3}},
};

static int adam_cnn_arms(exp_scale s, exp_arm *a, int cap) {
  int n = 0;
  for (int i = 0; i < 5; i++)
    for (int k = s == EXP_QUICK ? 1 : 0; k < (s == EXP_QUICK ? 2 : 3); k++) {
      char name[64];
      snprintf(name, sizeof name, "%s@lr=%g", adam_cnn_opts[i].name, adam_cnn_opts[i].lr[k]);
      n = exp_add_arm(a, n, cap, true, name, "%s optim.lr=%g", adam_cnn_opts[i].settings,
                      adam_cnn_opts[i].lr[k]);
    }
  for (int i = 0; i < 5; i++)
    n = exp_add_arm(a, n, cap, false, adam_cnn_opts[i].name,
                    "the grid's lr with the lowest final training loss");
  return n;
}

static void adam_cnn_judge(const exp_def *e, exp_results *r) {
  (void)e;
  double best[5];
  char text[5][96];
  for (int i = 0; i < 5; i++) {
    char arm[64];
    best[i] = best_of_grid(r, adam_cnn_opts[i].name, adam_cnn_opts[i].lr, 3, "train_loss", true,
                           arm, sizeof arm);
    snprintf(text[i], sizeof text[i], "%s %.3f (%s)", adam_cnn_opts[i].name, best[i], arm);
  }
  int winner = 0;
  for (int i = 1; i < 5; i++)
    if (best[i] < best[winner]) winner = i;
  r->holds = winner == 4;
  snprintf(r->summary, sizeof r->summary,
           "Final training loss at each optimizer's best lr: %s, %s, %s, %s, %s; "
           "lowest: %s.",
           text[0], text[1], text[2], text[3], text[4], adam_cnn_opts[winner].name);
}

static const exp_def adam_cnn = {
    "adam-cnn",
    "Adam lowers the training loss of a small CNN fastest (Kingma & Ba 2015, figure 3).",
    "CNN (two conv layers, width 8) on Fashion-MNIST, batch 64, constant lr; each optimizer at the "
    "best lr "
    "of a 3-point grid (lowest final training loss).",
    {FMNIST(600,
            500) " model.name=cnn model.width=8 train.epochs=1 train.batch_size=64 " CONSTANT_LR,
     FMNIST(6000,
            2000) " model.name=cnn model.width=8 train.epochs=4 train.batch_size=64 " CONSTANT_LR,
     FMNIST(0,
            0) " model.name=cnn model.width=32 train.epochs=10 train.batch_size=128 " CONSTANT_LR},
    adam_cnn_arms,
    {"train_loss", "test_acc", NULL},
    NULL,
    NULL,
    NULL,
    adam_cnn_judge,
};

/* ---- lr-schedule -------------------------------------------------------------------------------
 */

static int lr_schedule_arms(exp_scale s, exp_arm *a, int cap) {
  (void)s;
  int n = 0;
  n = exp_add_arm(a, n, cap, true, "constant", CONSTANT_LR);
  n = exp_add_arm(a, n, cap, true, "step", "sched.name=step");
  n = exp_add_arm(a, n, cap, true, "exponential", "sched.name=exponential");
  n = exp_add_arm(a, n, cap, true, "cosine", "sched.name=cosine");
  n = exp_add_arm(a, n, cap, true, "cosine_restarts",
                  "sched.name=cosine_restarts sched.snapshots=3");
  n = exp_add_arm(a, n, cap, true, "too_high", CONSTANT_LR " optim.lr=20");
  n = exp_add_arm(a, n, cap, true, "too_low", CONSTANT_LR " optim.lr=0.0005");
  return n;
}

static void lr_schedule_judge(const exp_def *e, exp_results *r) {
  (void)e;
  double c = exp_mean(r, "constant", "test_acc"), st = exp_mean(r, "step", "test_acc"),
         ex = exp_mean(r, "exponential", "test_acc"), co = exp_mean(r, "cosine", "test_acc"),
         hi = exp_mean(r, "too_high", "diverged"), lo = exp_mean(r, "too_low", "test_acc"),
         ens = exp_mean(r, "cosine_restarts", "ensemble_acc"),
         one = exp_mean(r, "cosine_restarts", "best_single_acc");
  double decay = fmax(st, fmax(ex, co));
  bool a = decay > c, b = hi >= 0.5, d = lo < c, f = ens >= one - 1e-9;
  r->holds = a && b && d && f;
  char p[6][16];
  snprintf(r->summary, sizeof r->summary,
           "Best decay %s vs constant %s (%s); too high diverged in %.0f%% of seeds (%s); too low "
           "%s (%s); "
           "snapshot ensemble %s vs best snapshot %s (%s).",
           pct(decay, p[0], 16), pct(c, p[1], 16), a ? "held" : "did not hold", 100 * hi,
           b ? "held" : "did not hold", pct(lo, p[2], 16), d ? "underfits: held" : "did not hold",
           pct(ens, p[3], 16), pct(one, p[4], 16), f ? "held" : "did not hold");
}

static const exp_def lr_schedule = {
    "lr-schedule",
    "Decaying the lr beats a constant one; a too high lr diverges, a too low one underfits; a "
    "snapshot "
    "ensemble is at least as good as its best snapshot.",
    "MLP 784-256-256-10 with SGD momentum 0.9 at lr 0.05 on Fashion-MNIST, batch 128, no warm-up; "
    "schedule "
    "lengths from the run (cosine over the run, step at thirds, exponential to 1%, cosine_restarts "
    "with 4 "
    "cycles and the last 3 as an ensemble).",
    {FMNIST(1000, 500) " model.width=64 train.epochs=2 optim.name=sgd optim.lr=0.05 "
                       "optim.momentum=0.9 sched.warmup_steps=0",
     FMNIST(10000, 2000) " model.width=256 train.epochs=8 optim.name=sgd optim.lr=0.05 "
                         "optim.momentum=0.9 sched.warmup_steps=0",
     FMNIST(0, 0) " model.width=512 train.epochs=40 optim.name=sgd optim.lr=0.05 "
                  "optim.momentum=0.9 sched.warmup_steps=0"},
    lr_schedule_arms,
    {"test_acc", "diverged", "ensemble_acc", "best_single_acc", NULL},
    NULL,
    NULL,
    NULL,
    lr_schedule_judge,
};

/* ---- warmup --------------------------------------------------------------------------------- */

static int warmup_arms(exp_scale s, exp_arm *a, int cap) {
  int n = 0, big = s == EXP_QUICK ? 256 : 1024;
  double small_lr = 0.02, big_lr = small_lr * big / 32; /* the linear scaling rule */
  int warm = s == EXP_QUICK ? 4 : 20;
  n = exp_add_arm(a, n, cap, true, "small_batch",
                  "optim.name=sgd optim.momentum=0.9 train.batch_size=32 optim.lr=%g "
                  "sched.warmup_steps=0",
                  small_lr);
  n = exp_add_arm(a, n, cap, true, "large_batch",
                  "optim.name=sgd optim.momentum=0.9 train.batch_size=%d optim.lr=%g "
                  "sched.warmup_steps=0",
                  big, big_lr);
  n = exp_add_arm(a, n, cap, true, "large_batch_warmup",
                  "optim.name=sgd optim.momentum=0.9 train.batch_size=%d "
                  "optim.lr=%g sched.warmup_steps=%d",
                  big, big_lr, warm);
  n = exp_add_arm(a, n, cap, true, "adam",
                  "optim.name=adam optim.lr=0.01 train.batch_size=128 sched.warmup_steps=0");
  n = exp_add_arm(a, n, cap, true, "adam_warmup",
                  "optim.name=adam optim.lr=0.01 train.batch_size=128 "
                  "sched.warmup_steps=200");
  n = exp_add_arm(a, n, cap, true, "radam",
                  "optim.name=radam optim.lr=0.01 train.batch_size=128 sched.warmup_steps=0");
  return n;
}

static void warmup_judge(const exp_def *e, exp_results *r) {
  (void)e;
  double sb = exp_mean(r, "small_batch", "test_acc"), lb = exp_mean(r, "large_batch", "test_acc"),
         lw = exp_mean(r, "large_batch_warmup", "test_acc");
  double ad = exp_mean(r, "adam", "early_max_loss"),
         aw = exp_mean(r, "adam_warmup", "early_max_loss"),
         ra = exp_mean(r, "radam", "early_max_loss");
  bool a = lw > lb && (sb <= lb || lw - lb >= 0.5 * (sb - lb));
  bool b = aw < ad && ra < ad;
  r->holds = a && b;
  char p[3][16];
  snprintf(r->summary, sizeof r->summary,
           "(a) test accuracy small batch %s, large batch with the scaled lr %s, with warm-up %s "
           "(%s); (b) largest "
           "training loss of the first 200 steps: Adam %.3f, with warm-up %.3f, RAdam %.3f (%s).",
           pct(sb, p[0], 16), pct(lb, p[1], 16), pct(lw, p[2], 16),
           a ? "warm-up recovers most: held" : "did not hold", ad, aw, ra,
           b ? "no early spike: held" : "did not hold");
}

static const exp_def warmup = {
    "warmup",
    "(a) With the linear scaling rule a large batch needs gradual warm-up to recover small-batch "
    "accuracy "
    "(Goyal et al. 2017); (b) warm-up and RAdam remove Adam's early loss spike at a high lr (Liu "
    "et al. 2020).",
    "MLP 784-256-256-10 on Fashion-MNIST with a cosine schedule. (a) SGD momentum 0.9, batch 32 at "
    "lr 0.02 "
    "against batch 1024 at lr 0.64 (x32), without and with a 20-step linear warm-up. (b) Adam and "
    "RAdam at lr "
    "0.01, batch 128, Adam also with a 200-step warm-up.",
    {FMNIST(1000, 500) " model.width=64 train.epochs=1",
     FMNIST(10000, 2000) " model.width=256 train.epochs=5",
     FMNIST(0, 0) " model.width=512 train.epochs=20"},
    warmup_arms,
    {"test_acc", "early_max_loss", NULL},
    NULL,
    NULL,
    NULL,
    warmup_judge,
};

/* ---- norm-batch-size ------------------------------------------------------------------------- */

static const char *const norm_kinds[] = {"batch", "group", "layer", "instance", "none"};

static int norm_batch_arms(exp_scale s, exp_arm *a, int cap) {
  (void)s;
  int n = 0;
  const int batches[2] = {2, 64};
  for (int b = 0; b < 2; b++)
    for (int k = 0; k < 5; k++) {
      char name[64];
      snprintf(name, sizeof name, "%s@%d", norm_kinds[k], batches[b]);
      n = exp_add_arm(a, n, cap, true, name, "model.norm=%s train.batch_size=%d", norm_kinds[k],
                      batches[b]);
    }
  return n;
}

static void norm_batch_judge(const exp_def *e, exp_results *r) {
  (void)e;
  double drop[5];
  char text[5][64];
  for (int k = 0; k < 5; k++) {
    char small[32], large[32];
    snprintf(small, sizeof small, "%s@2", norm_kinds[k]);
    snprintf(large, sizeof large, "%s@64", norm_kinds[k]);
    drop[k] = exp_mean(r, large, "test_acc") - exp_mean(r, small, "test_acc");
    snprintf(text[k], sizeof text[k], "%s %+.2f", norm_kinds[k], -100 * drop[k]);
  }
  r->holds = drop[1] < drop[0] && drop[0] > 0.01;
  snprintf(r->summary, sizeof r->summary,
           "Change of test accuracy from batch 64 to batch 2, in points: %s, %s, %s, "
           "%s, %s. Group norm %s batch norm.",
           text[0], text[1], text[2], text[3], text[4],
           r->holds ? "holds better than" : "does not hold better than");
}

static const exp_def norm_batch_size = {
    "norm-batch-size",
    "Group normalization keeps its accuracy at tiny batches; batch normalization does not (Wu & He "
    "2018).",
    "CNN (two conv layers, width 8, with the normalization after each conv) on Fashion-MNIST, "
    "AdamW lr 1e-3, "
    "the same number of epochs at batch 2 and at batch 64 (batch statistics over 2 samples).",
    {FMNIST(300, 500) " model.name=cnn model.width=8 model.groups=4 train.epochs=1 optim.lr=1e-3 "
                      "sched.warmup_steps=0",
     FMNIST(2000, 2000) " model.name=cnn model.width=8 model.groups=4 train.epochs=2 optim.lr=1e-3 "
                        "sched.warmup_steps=0",
     FMNIST(10000, 0) " model.name=cnn model.width=16 model.groups=4 train.epochs=5 optim.lr=1e-3 "
                      "sched.warmup_steps=0"},
    norm_batch_arms,
    {"test_acc", "train_loss", NULL},
    NULL,
    NULL,
    NULL,
    norm_batch_judge,
};

/* ---- nf-resnet ----------------------------------------------------------------------------- */

static int nf_arms(exp_scale s, exp_arm *a, int cap) {
  (void)s;
  int n = 0;
  n = exp_add_arm(a, n, cap, true, "bn_resnet", "model.name=resnet model.norm=batch");
  n = exp_add_arm(a, n, cap, true, "nf_resnet", "model.name=nf_resnet optim.agc=0.01");
  n = exp_add_arm(a, n, cap, true, "plain_resnet", "model.name=resnet model.norm=none");
  return n;
}

static void nf_judge(const exp_def *e, exp_results *r) {
  (void)e;
  double bn = exp_mean(r, "bn_resnet", "test_acc"), nf = exp_mean(r, "nf_resnet", "test_acc"),
         pl = exp_mean(r, "plain_resnet", "test_acc"),
         div = exp_mean(r, "plain_resnet", "diverged");
  bool match = fabs(nf - bn) <= 0.02 || nf > bn, worse = div > 0 || isnan(pl) || pl < fmin(nf, bn);
  r->holds = match && worse;
  char p[3][16];
  snprintf(r->summary, sizeof r->summary,
           "Test accuracy: batch norm %s, normalizer-free %s (%s), plain %s with %.0f%% "
           "of seeds diverged (%s).",
           pct(bn, p[0], 16), pct(nf, p[1], 16), match ? "matches: held" : "does not match",
           pct(pl, p[2], 16), 100 * div, worse ? "worse: held" : "not worse");
}

static const exp_def nf_resnet = {
    "nf-resnet",
    "A normalizer-free ResNet (scaled weight standardization, alpha/beta residuals, AGC) matches "
    "its batch-norm "
    "twin; the same ResNet without normalization trains worse or diverges (Brock et al. 2021).",
    "ResNets of three stages on Fashion-MNIST, SGD momentum 0.9 at lr 0.1 with warm-up and cosine "
    "decay, "
    "batch 128.",
    {FMNIST(500, 500) " model.depth=1 model.width=8 train.epochs=1 optim.name=sgd "
                      "optim.momentum=0.9 optim.lr=0.1 sched.warmup_steps=4",
     FMNIST(5000, 2000) " model.depth=2 model.width=8 train.epochs=4 optim.name=sgd "
                        "optim.momentum=0.9 optim.lr=0.1 sched.warmup_steps=40",
     FMNIST(0, 0) " model.depth=4 model.width=16 train.epochs=15 optim.name=sgd optim.momentum=0.9 "
                  "optim.lr=0.1 sched.warmup_steps=400"},
    nf_arms,
    {"test_acc", "diverged", NULL},
    NULL,
    NULL,
    NULL,
    nf_judge,
};

/* ---- decoupled-wd ------------------------------------------------------------------------------
 */

static const double dwd_lr[3] = {3e-4, 1e-3, 3e-3};
static const double dwd_l2[4] = {1e-5, 1e-4, 1e-3, 1e-2};
static const double dwd_w[4] = {1e-3, 1e-2, 1e-1, 1};

static int dwd_arms(exp_scale s, exp_arm *a, int cap) {
  int n = 0, nl = s == EXP_QUICK ? 2 : 3, nw = s == EXP_QUICK ? 2 : 4;
  for (int opt = 0; opt < 2; opt++)
    for (int i = 0; i < nl; i++)
      for (int k = 0; k < nw; k++) {
        char name[64];
        double wd = opt ? dwd_w[k] : dwd_l2[k];
        snprintf(name, sizeof name, "%s@lr=%g,wd=%g", opt ? "adamw" : "adam_l2", dwd_lr[i], wd);
        n = exp_add_arm(a, n, cap, true, name, "optim.name=%s optim.lr=%g optim.weight_decay=%g",
                        opt ? "adamw" : "adam", dwd_lr[i], wd);
      }
  for (int opt = 0; opt < 2; opt++) {
    for (int i = 0; i < nl; i++) {
      char name[64];
      snprintf(name, sizeof name, "%s@lr=%g", opt ? "adamw" : "adam_l2", dwd_lr[i]);
      n = exp_add_arm(a, n, cap, false, name,
                      "the weight decay with the best test accuracy at this lr");
    }
    n = exp_add_arm(a, n, cap, false, opt ? "adamw" : "adam_l2",
                    "best_wd_range: decades spanned by the best weight "
                    "decays of the lrs");
  }
  return n;
}

static void dwd_judge(const exp_def *e, exp_results *r) {
  (void)e;
  int bw = exp_metric_index(r, "best_wd"), rg = exp_metric_index(r, "best_wd_range"),
      ta = exp_metric_index(r, "test_acc");
  double range[2] = {0, 0};
  for (int opt = 0; opt < 2; opt++) {
    const char *o = opt ? "adamw" : "adam_l2";
    const double *grid = opt ? dwd_w : dwd_l2;
    int agg = exp_arm_index(r, o);
    for (int s = 0; s < r->n_seeds; s++) {
      double lo = INFINITY, hi = -INFINITY;
      for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s@lr=%g", o, dwd_lr[i]);
        int d = exp_arm_index(r, name);
        if (d < 0) continue;
        double best = -1, wd = NAN;
        for (int k = 0; k < 4; k++) {
          char arm[64];
          snprintf(arm, sizeof arm, "%s@lr=%g,wd=%g", o, dwd_lr[i], grid[k]);
          int x = exp_arm_index(r, arm);
          if (x >= 0 && !isnan(r->v[x][ta][s]) && r->v[x][ta][s] > best)
            best = r->v[x][ta][s], wd = grid[k];
        }
        r->v[d][bw][s] = wd;
        if (!isnan(wd)) lo = fmin(lo, log10(wd)), hi = fmax(hi, log10(wd));
      }
      if (agg >= 0 && hi >= lo) r->v[agg][rg][s] = hi - lo;
    }
    range[opt] = exp_mean(r, o, "best_wd_range");
  }
  r->holds = range[1] < range[0];
  snprintf(r->summary, sizeof r->summary,
           "The best weight decay moves by %.2f decades across the lrs for Adam with L2 "
           "and by %.2f for AdamW (mean over seeds): AdamW's %s.",
           range[0], range[1],
           r->holds ? "depends less on the lr: held" : "does not depend less on the lr here");
}

static double dwd_metric(const exp_def *e, const exp_arm *arm, const char *m, const exp_obs *o) {
  (void)e, (void)arm, (void)o, (void)m;
  return NAN; /* best_wd and best_wd_range are derived by the judge */
}

static const exp_def decoupled_wd = {
    "decoupled-wd",
    "With decoupled weight decay (AdamW) the best weight decay depends much less on the lr than "
    "with an L2 "
    "penalty in Adam (Loshchilov & Hutter 2019).",
    "MLP 784-256-256-10 on Fashion-MNIST, batch 128, warm-up and cosine decay; a grid of 3 lrs x 4 "
    "weight decays "
    "for each (L2: 1e-5..1e-2, decoupled: 1e-3..1); best = highest test accuracy, per seed.",
    {FMNIST(1000, 500) " model.width=64 train.epochs=1 sched.warmup_steps=10",
     FMNIST(5000, 2000) " model.width=256 train.epochs=4 sched.warmup_steps=40",
     FMNIST(0, 0) " model.width=512 train.epochs=20 sched.warmup_steps=400"},
    dwd_arms,
    {"test_acc", "best_wd", "best_wd_range", NULL},
    NULL,
    NULL,
    dwd_metric,
    dwd_judge,
};

/* ---- adamp-norm ------------------------------------------------------------------------------ */

static int adamp_arms(exp_scale s, exp_arm *a, int cap) {
  (void)s;
  int n = 0;
  n = exp_add_arm(a, n, cap, true, "sgd",
                  "optim.name=sgd optim.momentum=0.9 optim.nesterov=true optim.lr=0.1");
  n = exp_add_arm(a, n, cap, true, "sgdp",
                  "optim.name=sgdp optim.momentum=0.9 optim.nesterov=true optim.lr=0.1");
  n = exp_add_arm(a, n, cap, true, "adam", "optim.name=adam optim.lr=1e-3");
  n = exp_add_arm(a, n, cap, true, "adamp", "optim.name=adamp optim.lr=1e-3");
  return n;
}

static void adamp_judge(const exp_def *e, exp_results *r) {
  (void)e;
  double s = exp_mean(r, "sgd", "norm_ratio"), sp = exp_mean(r, "sgdp", "norm_ratio"),
         a = exp_mean(r, "adam", "norm_ratio"), ap = exp_mean(r, "adamp", "norm_ratio");
  r->holds = sp < s && ap < a;
  snprintf(
      r->summary, sizeof r->summary,
      "Final / initial norm of the conv weights (scale-invariant under batch "
      "norm): SGD %.3f vs SGDP %.3f, Adam %.3f vs AdamP %.3f: the projection %s the norm growth.",
      s, sp, a, ap, r->holds ? "stops" : "does not stop");
}

static const exp_def adamp_norm = {
    "adamp-norm",
    "On scale-invariant weights (followed by batch norm) momentum optimizers grow the weight norm; "
    "AdamP and "
    "SGDP remove the radial component of the update and stop that growth (Heo et al. 2021).",
    "CNN (two conv layers with batch norm, width 16) on Fashion-MNIST without weight decay, batch "
    "128, warm-up "
    "and cosine decay; norm over all conv weights.",
    {FMNIST(
         500,
         500) " model.name=cnn model.width=8 model.norm=batch train.epochs=1 sched.warmup_steps=4",
     FMNIST(5000, 2000) " model.name=cnn model.width=16 model.norm=batch train.epochs=4 "
                        "sched.warmup_steps=40",
     FMNIST(0, 0) " model.name=cnn model.width=32 model.norm=batch train.epochs=20 "
                  "sched.warmup_steps=400"},
    adamp_arms,
    {"norm_ratio", "test_acc", NULL},
    NULL,
    NULL,
    NULL,
    adamp_judge,
};

/* ---- large-batch ------------------------------------------------------------------------------
 */

static const int lb_batches[5] = {128, 512, 2048, 8192, 0};

static int lb_arms(exp_scale s, exp_arm *a, int cap) {
  int n = 0;
  static const struct {
    const char *name, *settings;
    double lr;
    bool sqrt_rule;
  } opts[] = {
      {"sgd_nesterov", "optim.name=sgd optim.momentum=0.9 optim.nesterov=true", 0.05, false},
      {"lars", "optim.name=lars optim.momentum=0.9 optim.weight_decay=1e-4", 0.05, false},
      {"adam", "optim.name=adam", 1e-3, true},
      {"lamb", "optim.name=lamb optim.weight_decay=0.01", 1e-3, true}};
  for (int o = 0; o < 4; o++)
    for (int b = 0; lb_batches[b] && (s != EXP_QUICK || lb_batches[b] <= 512); b++) {
      char name[64];
      double k = (double)lb_batches[b] / 128, lr = opts[o].lr * (opts[o].sqrt_rule ? sqrt(k) : k);
      snprintf(name, sizeof name, "%s@%d", opts[o].name, lb_batches[b]);
      n = exp_add_arm(a, n, cap, true, name, "%s train.batch_size=%d optim.lr=%g", opts[o].settings,
                      lb_batches[b], lr);
    }
  return n;
}

static void lb_judge(const exp_def *e, exp_results *r) {
  (void)e;
  int big = 128;
  for (int b = 0; lb_batches[b]; b++) {
    char arm[32];
    snprintf(arm, sizeof arm, "lars@%d", lb_batches[b]);
    if (exp_arm_index(r, arm) >= 0) big = lb_batches[b];
  }
  char n[4][32];
  const char *names[4] = {"sgd_nesterov", "lars", "adam", "lamb"};
  double acc[4];
  for (int i = 0; i < 4; i++) {
    snprintf(n[i], sizeof n[i], "%s@%d", names[i], big);
    acc[i] = exp_mean(r, n[i], "test_acc");
  }
  /* a baseline that diverged (no accuracy) counts as beaten */
  r->holds = acc[1] > (isnan(acc[0]) ? -1 : acc[0]) && acc[3] > (isnan(acc[2]) ? -1 : acc[2]);
  char p[4][16];
  snprintf(r->summary, sizeof r->summary,
           "At batch %d: SGD Nesterov %s, LARS %s, Adam %s, LAMB %s. LARS/LAMB %s their "
           "baselines here (Nado et al. 2021 found well-tuned baselines match them).",
           big, pct(acc[0], p[0], 16), pct(acc[1], p[1], 16), pct(acc[2], p[2], 16),
           pct(acc[3], p[3], 16), r->holds ? "beat" : "do not beat");
}

static const exp_def large_batch = {
    "large-batch",
    "At a fixed epoch budget, LARS and LAMB keep accuracy at large batches where SGD and Adam lose "
    "it "
    "(You et al. 2017, 2020) — or, as Nado et al. 2021 report, well-tuned baselines do as well.",
    "MLP 784-256-256-10 on Fashion-MNIST, a fixed budget of epochs for every batch size; lr scaled "
    "linearly "
    "(SGD, LARS) or by the square root (Adam, LAMB) from batch 128, linear warm-up over the first "
    "epoch, "
    "cosine decay; LARS weight decay 1e-4 (LARS adapts only parameters with weight decay), LAMB "
    "0.01.",
    {FMNIST(2048, 500) " model.width=64 train.epochs=1 sched.warmup_steps=2",
     FMNIST(0, 2000) " model.width=256 train.epochs=3 sched.warmup_steps=8",
     FMNIST(0, 0) " model.width=512 train.epochs=20 sched.warmup_steps=8"},
    lb_arms,
    {"test_acc", "train_loss", NULL},
    NULL,
    NULL,
    NULL,
    lb_judge,
};

/* ---- term-noise -------------------------------------------------------------------------------
 */

static int term_noise_arms(exp_scale s, exp_arm *a, int cap) {
  (void)s;
  int n = 0;
  n = exp_add_arm(a, n, cap, true, "erm", "objective.name=mean");
  n = exp_add_arm(a, n, cap, true, "term", "objective.name=tilted objective.tilt=-2");
  return n;
}

static void term_noise_judge(const exp_def *e, exp_results *r) {
  (void)e;
  double ea = exp_mean(r, "erm", "test_acc"), ta = exp_mean(r, "term", "test_acc"),
         em = exp_mean(r, "erm", "memorised"), tm = exp_mean(r, "term", "memorised");
  r->holds = ta > ea && tm < em;
  char p[4][16];
  snprintf(r->summary, sizeof r->summary,
           "Clean test accuracy ERM %s, TERM (t = -2) %s; share of corrupted training "
           "labels memorised ERM %s, TERM %s.",
           pct(ea, p[0], 16), pct(ta, p[1], 16), pct(em, p[2], 16), pct(tm, p[3], 16));
}

static const exp_def term_noise = {
    "term-noise",
    "A negative tilt resists label noise: tilted ERM with t < 0 down-weights the high-loss "
    "(mislabelled) samples "
    "and memorises fewer of them (Li et al. 2021).",
    "MLP 784-256-256-10 on Fashion-MNIST with 40% of the training labels replaced by random other "
    "classes, "
    "AdamW with warm-up and cosine decay, batch 128; test labels are clean.",
    {FMNIST(1000, 500) " model.width=64 train.epochs=2 data.label_noise=0.4 sched.warmup_steps=10",
     FMNIST(10000,
            2000) " model.width=256 train.epochs=10 data.label_noise=0.4 sched.warmup_steps=100",
     FMNIST(0, 0) " model.width=512 train.epochs=30 data.label_noise=0.4"},
    term_noise_arms,
    {"test_acc", "memorised", NULL},
    NULL,
    NULL,
    NULL,
    term_noise_judge,
};

/* ---- critical-init -----------------------------------------------------------------------------
 */

/* The measured depth over which the correlation of two inputs is lost, and the mean-field depth
 * scale xi_c at the arm's sigma_w, from the initial network (before training). */
static int ci_before(const exp_def *e, run *r, exp_obs *o) {
  (void)e;
  ds_graph *g = r->g;
  int depth = (int)set_int(&r->cfg, S_MODEL_DEPTH);
  /* two test images of different classes through the network at initialisation */
  int64_t idx[2] = {0, 1};
  for (int64_t i = 1; i < r->test->n && r->test->labels[i] == r->test->labels[0]; i++)
    idx[1] = i + 1;
  ds_status st = ds_graph_set_batch(g, 2);
  if (!st) st = ds_dataset_get(r->test, idx, 2, ds_graph_value(g, r->x), ds_graph_value(g, r->y));
  bool training = ds_graph_training(g);
  ds_graph_set_training(g, false);
  if (!st) st = ds_graph_forward(g);
  ds_graph_set_training(g, training);
  if (st) return st;
  double c[128] = {0};
  int n = 0;
  for (int l = 1; l <= depth && n < 128; l++) {
    char name[32];
    snprintf(name, sizeof name, "fc%d", l);
    ds_node h = ds_graph_find(g, name);
    if (h < 0) return h;
    ds_shape s = ds_graph_shape(g, h);
    int64_t w = s.dim[1];
    const float *v = ds_graph_value(g, h);
    double ab = 0, aa = 0, bb = 0;
    for (int64_t j = 0; j < w; j++)
      ab += (double)v[j] * v[w + j], aa += (double)v[j] * v[j], bb += (double)v[w + j] * v[w + j];
    c[n++] = ab / sqrt(aa * bb + 1e-300);
  }
  if (n == 0) return ds_set_error(DS_EINVAL, "critical-init: the model has no hidden layers");
  /* layers until |c_l - c_L| falls below 10% of |c_1 - c_L| (the limit taken at the last layer) */
  double lim = c[n - 1], first = fabs(c[0] - lim);
  int lost = n;
  for (int l = 0; l < n; l++)
    if (fabs(c[l] - lim) <= 0.1 * first) {
      lost = l + 1;
      break;
    }
  o->custom[0] = first < 1e-6 ? 1 : lost;
  ds_act act;
  ds_act_parse(set_str(&r->cfg, S_MODEL_ACT), &act);
  ds_meanfield mf;
  double sw = strtod(set_str(&r->cfg, S_MODEL_SIGMA_W), NULL);
  if (ds_meanfield_eval(act, sw, set_num(&r->cfg, S_MODEL_SIGMA_B), &mf)) return DS_EINVAL;
  o->custom[1] = mf.xi_c;
  return 0;
}

static double ci_metric(const exp_def *e, const exp_arm *arm, const char *m, const exp_obs *o) {
  (void)e, (void)arm;
  if (!strcmp(m, "corr_depth")) return o->custom[0];
  if (!strcmp(m, "xi_c")) return isfinite(o->custom[1]) ? o->custom[1] : 1e9;
  return NAN;
}

static int ci_arms(exp_scale s, exp_arm *a, int cap) {
  (void)s;
  ds_meanfield mf;
  ds_meanfield_critical(DS_ACT_TANH, 0.05, &mf);
  int n = 0;
  const double k[3] = {0.5, 1, 2};
  for (int i = 0; i < 3; i++) {
    char name[32];
    snprintf(name, sizeof name, "gaussian@%g", k[i]);
    n = exp_add_arm(a, n, cap, true, name, "model.init=meanfield model.sigma_w=%.6f",
                    k[i] * mf.sigma_w);
  }
  n = exp_add_arm(a, n, cap, true, "orthogonal@1", "model.init=orthogonal model.sigma_w=%.6f",
                  mf.sigma_w);
  return n;
}

static void ci_judge(const exp_def *e, exp_results *r) {
  (void)e;
  double lo = exp_mean(r, "gaussian@0.5", "train_loss"),
         cr = exp_mean(r, "gaussian@1", "train_loss"), hi = exp_mean(r, "gaussian@2", "train_loss"),
         orth = exp_mean(r, "orthogonal@1", "train_loss");
  double chance = log(10.0);
  bool trains = cr < 0.8 * chance, others = !(lo < 0.8 * chance) && !(hi < 0.8 * chance);
  r->holds = trains && others;
  snprintf(r->summary, sizeof r->summary,
           "Final training loss (chance is %.3f): 0.5x critical %.3f, critical %.3f, 2x "
           "critical %.3f, orthogonal at the critical gain %.3f; correlations are lost within %.0f "
           "/ %.0f / %.0f "
           "layers (mean-field depth scales %.1f / %.1f / %.1f).",
           chance, lo, cr, hi, orth, exp_mean(r, "gaussian@0.5", "corr_depth"),
           exp_mean(r, "gaussian@1", "corr_depth"), exp_mean(r, "gaussian@2", "corr_depth"),
           exp_mean(r, "gaussian@0.5", "xi_c"), exp_mean(r, "gaussian@1", "xi_c"),
           exp_mean(r, "gaussian@2", "xi_c"));
}

static const exp_def critical_init = {
    "critical-init",
    "A 50-layer tanh network trains only at the critical initialisation (edge of chaos), where "
    "input "
    "correlations survive through depth (Schoenholz et al. 2017).",
    "MLP of 50 tanh layers of width 128 on Fashion-MNIST, SGD lr 0.01 momentum 0.9, batch 128, "
    "weights N(0, "
    "sigma_w^2/fan_in) at multiples of the critical sigma_w = 1.1225 (sigma_b 0.05) from descent "
    "meanfield, and "
    "orthogonal weights at the critical gain. The correlation depth is measured on two test images "
    "at "
    "initialisation: layers until the correlation is within 10% of its limit.",
    {FMNIST(500, 500) " model.act=tanh model.depth=50 model.width=64 train.epochs=1 optim.name=sgd "
                      "optim.lr=0.01 "
                      "optim.momentum=0.9 sched.warmup_steps=0",
     FMNIST(5000, 2000) " model.act=tanh model.depth=50 model.width=128 train.epochs=3 "
                        "optim.name=sgd optim.lr=0.01 "
                        "optim.momentum=0.9 sched.warmup_steps=0",
     FMNIST(0, 0) " model.act=tanh model.depth=50 model.width=256 train.epochs=10 optim.name=sgd "
                  "optim.lr=0.01 "
                  "optim.momentum=0.9 sched.warmup_steps=0"},
    ci_arms,
    {"train_loss", "test_acc", "corr_depth", "xi_c", NULL},
    ci_before,
    NULL,
    ci_metric,
    ci_judge,
};

/* ---- toy-race ---------------------------------------------------------------------------------
 */

static const char *const toy_racers[] = {"sgd",     "momentum", "nesterov", "adagrad",
                                         "rmsprop", "adadelta", "adam"};

static int toy_arms(exp_scale s, exp_arm *a, int cap) {
  (void)s;
  int n = 0;
  for (int i = 0; i < 7; i++)
    n = exp_add_arm(a, n, cap, false, toy_racers[i], "descent toy racer '%s' at its default lr",
                    toy_racers[i]);
  return n;
}

/* Steps of racer on surface from its default start moved by seed's jitter; NAN if it never gets
 * there. */
static double toy_steps(const char *surface, const char *racer, int seed, exp_scale scale) {
  ds_toy_surface s;
  if (ds_toy_surface_get(surface, 10, &s)) return NAN;
  ds_rng rng;
  ds_rng_seed(&rng, (uint64_t)seed, DS_RNG_DATA);
  double jx = 0.02 * ds_rng_normal(&rng), jy = 0.02 * ds_rng_normal(&rng);
  if (s.kind == DS_TOY_SADDLE)
    jy = 1e-3 * (1 + fabs(jy)); /* a small push off the ridge, as the picture's */
  ds_paramset *ps = ds_toy_params(s.start[0] + jx, s.start[1] + jy);
  ds_optim *o = ps ? ds_toy_optim_new(racer, ps) : NULL;
  ds_toy_result r = {-1, NAN, false};
  int steps = scale == EXP_QUICK ? s.steps / 4 : scale == EXP_FULL ? 4 * s.steps : s.steps;
  if (o) ds_toy_run(&s, o, ps, ds_toy_default_lr(&s, racer), steps, 1e-2, NULL, &r);
  ds_optim_free(o);
  ds_paramset_free(ps);
  return r.steps_to_target >= 0 ? r.steps_to_target : NAN;
}

static void toy_judge(const exp_def *e, exp_results *r) {
  (void)e;
  exp_scale scale = r->scale;
  int esc = exp_metric_index(r, "steps_to_escape"), mn = exp_metric_index(r, "steps_to_min");
  for (int i = 0; i < r->n_arms; i++)
    for (int sd = 0; sd < r->n_seeds; sd++) {
      r->v[i][esc][sd] = toy_steps("saddle", r->arms[i].name, sd + 1, scale);
      r->v[i][mn][sd] = toy_steps("rosenbrock", r->arms[i].name, sd + 1, scale);
    }
    /* never = infinitely late */
#define LATE(x) (isnan(x) ? INFINITY : (x))
  double sgd_esc = LATE(exp_mean(r, "sgd", "steps_to_escape")),
         sgd_min = LATE(exp_mean(r, "sgd", "steps_to_min"));
  bool adaptive = true, momentum = true;
  const char *adaptive_names[] = {"adagrad", "rmsprop", "adam"},
             *momentum_names[] = {"momentum", "nesterov"};
  for (int i = 0; i < 3; i++)
    adaptive &= LATE(exp_mean(r, adaptive_names[i], "steps_to_escape")) < sgd_esc;
  for (int i = 0; i < 2; i++)
    momentum &= LATE(exp_mean(r, momentum_names[i], "steps_to_min")) < sgd_min;
  r->holds = adaptive && momentum;
  snprintf(
      r->summary, sizeof r->summary,
      "Saddle escape (steps, mean): SGD %.0f, AdaGrad %.0f, RMSProp %.0f, Adam %.0f "
      "(%s); Rosenbrock minimum: SGD %.0f, momentum %.0f, Nesterov %.0f (%s); inf = not within the "
      "budget.",
      sgd_esc, LATE(exp_mean(r, "adagrad", "steps_to_escape")),
      LATE(exp_mean(r, "rmsprop", "steps_to_escape")), LATE(exp_mean(r, "adam", "steps_to_escape")),
      adaptive ? "adaptive first: held" : "did not hold", sgd_min,
      LATE(exp_mean(r, "momentum", "steps_to_min")), LATE(exp_mean(r, "nesterov", "steps_to_min")),
      momentum ? "momentum first: held" : "did not hold");
#undef LATE
}

static const exp_def toy_race = {
    "toy-race",
    "Adaptive methods leave a saddle sooner than SGD; momentum methods reach the Rosenbrock "
    "minimum sooner "
    "than SGD (the lecture's optimizer races).",
    "descent toy's surfaces and per-racer learning rates (docs/landscape.md): the saddle x^2 - y^2 "
    "from "
    "near the ridge (escape: |y| > 1), Rosenbrock from (-1.5, 2) (arrival: within 0.01 of (1, 1)); "
    "each "
    "seed moves the start by a small Gaussian jitter. Pictures: descent toy --surface saddle.",
    {"", "", ""},
    toy_arms,
    {"steps_to_escape", "steps_to_min", NULL},
    NULL,
    NULL,
    NULL,
    toy_judge,
};

/* ---- batch-sharpness ----------------------------------------------------------------------------
 */

/* Top Hessian eigenvalue and epsilon-sharpness of the training loss at the end of training. */
static int sharp_after(const exp_def *e, run *r, exp_obs *o) {
  (void)e;
  int64_t n = r->train->n < 2048 ? r->train->n : 2048;
  ds_lossfn *f = ds_lossfn_new(r->g, r->x, r->y, r->train, n, false);
  if (!f) return ds_last_status();
  double eig = NAN, sharp = NAN;
  ds_status st = ds_hessian_top(f, 1, 20, 1, &eig, NULL);
  if (!st) st = ds_eps_sharpness(f, 1e-3, 10, &sharp, NULL, NULL);
  ds_lossfn_free(f);
  o->custom[0] = eig;
  o->custom[1] = sharp;
  return st;
}

static double sharp_metric(const exp_def *e, const exp_arm *arm, const char *m, const exp_obs *o) {
  (void)e, (void)arm;
  if (o->status) return NAN;
  if (!strcmp(m, "lambda_max")) return o->custom[0];
  if (!strcmp(m, "eps_sharpness")) return o->custom[1];
  return NAN;
}

static int sharp_arms(exp_scale s, exp_arm *a, int cap) {
  int n = 0, big = s == EXP_QUICK ? 512 : 4096;
  n = exp_add_arm(a, n, cap, true, "small_batch",
                  "train.batch_size=32 optim.lr=0.03 sched.warmup_steps=0");
  n = exp_add_arm(a, n, cap, true, "large_batch",
                  "train.batch_size=%d optim.lr=0.1 sched.warmup_steps=0", big);
  return n;
}

static void sharp_judge(const exp_def *e, exp_results *r) {
  (void)e;
  double ls = exp_mean(r, "small_batch", "lambda_max"),
         ll = exp_mean(r, "large_batch", "lambda_max"),
         es = exp_mean(r, "small_batch", "eps_sharpness"),
         el = exp_mean(r, "large_batch", "eps_sharpness"),
         ts = exp_mean(r, "small_batch", "test_acc"), tl = exp_mean(r, "large_batch", "test_acc"),
         as = exp_mean(r, "small_batch", "train_acc"), al = exp_mean(r, "large_batch", "train_acc");
  r->holds = ll > ls && tl < ts;
  char p[4][16];
  snprintf(r->summary, sizeof r->summary,
           "Top Hessian eigenvalue small batch %.3g vs large batch %.3g, epsilon-sharpness "
           "%.3g vs %.3g; test accuracy %s vs %s (train %s vs %s). %s",
           ls, ll, es, el, pct(ts, p[0], 16), pct(tl, p[1], 16), pct(as, p[2], 16),
           pct(al, p[3], 16),
           al < as - 0.02 ? "The large batch has also not fit the training set as well: its "
                            "minimum is not comparable."
                          : "");
}

static const exp_def batch_sharpness = {
    "batch-sharpness",
    "Large batches land in sharper minima and generalise worse (Keskar et al. 2017).",
    "MLP 784-256-256-10, SGD momentum 0.9 on Fashion-MNIST, batch 32 at lr 0.03 and batch 4096 at "
    "lr 0.1, the "
    "same number of epochs, cosine decay; sharpness of the training loss on 2048 training samples "
    "in eval mode: "
    "top Hessian eigenvalue (20 Lanczos steps) and Keskar's epsilon-sharpness (eps 1e-3, 10 ascent "
    "steps).",
    {FMNIST(1000, 500) " model.width=64 train.epochs=1 optim.name=sgd optim.momentum=0.9",
     FMNIST(12000, 2000) " model.width=256 train.epochs=8 optim.name=sgd optim.momentum=0.9",
     FMNIST(0, 0) " model.width=512 train.epochs=20 optim.name=sgd optim.momentum=0.9"},
    sharp_arms,
    {"lambda_max", "eps_sharpness", "train_acc", "test_acc", NULL},
    NULL,
    sharp_after,
    sharp_metric,
    sharp_judge,
};

/* ---- sam ------------------------------------------------------------------------------------- */

static int sam_arms(exp_scale s, exp_arm *a, int cap) {
  (void)s;
  int n = 0;
  const int noise[2] = {0, 40};
  for (int k = 0; k < 2; k++) {
    char name[32];
    double f = noise[k] / 100.0;
    snprintf(name, sizeof name, "sgd@noise%d", noise[k]);
    n = exp_add_arm(a, n, cap, true, name, "data.label_noise=%g", f);
    snprintf(name, sizeof name, "sam@noise%d", noise[k]);
    n = exp_add_arm(a, n, cap, true, name, "data.label_noise=%g sam.rho=0.05", f);
    snprintf(name, sizeof name, "asam@noise%d", noise[k]);
    n = exp_add_arm(a, n, cap, true, name, "data.label_noise=%g sam.rho=0.5 sam.adaptive=true", f);
  }
  return n;
}

static void sam_judge(const exp_def *e, exp_results *r) {
  (void)e;
  double s0 = exp_mean(r, "sgd@noise0", "test_acc"), m0 = exp_mean(r, "sam@noise0", "test_acc"),
         a0 = exp_mean(r, "asam@noise0", "test_acc"), s4 = exp_mean(r, "sgd@noise40", "test_acc"),
         m4 = exp_mean(r, "sam@noise40", "test_acc"), a4 = exp_mean(r, "asam@noise40", "test_acc");
  double ls = exp_mean(r, "sgd@noise0", "lambda_max"), lm = exp_mean(r, "sam@noise0", "lambda_max"),
         la = exp_mean(r, "asam@noise0", "lambda_max");
  bool robust = m4 > s4, flat = lm < ls;
  r->holds = robust && flat;
  char p[6][16];
  snprintf(r->summary, sizeof r->summary,
           "Clean test accuracy without noise SGD %s, SAM %s, ASAM %s; with 40%% label "
           "noise SGD %s, SAM %s, ASAM %s (%s). Top Hessian eigenvalue without noise: SGD %.3g, "
           "SAM %.3g, ASAM %.3g "
           "(%s).",
           pct(s0, p[0], 16), pct(m0, p[1], 16), pct(a0, p[2], 16), pct(s4, p[3], 16),
           pct(m4, p[4], 16), pct(a4, p[5], 16), robust ? "more robust: held" : "not more robust",
           ls, lm, la, flat ? "flatter: held" : "not flatter");
}

static const exp_def sam_exp = {
    "sam",
    "Sharpness-aware minimisation is more robust to label noise and lands in flatter minima (Foret "
    "et al. "
    "2021; ASAM: Kwon et al. 2021).",
    "MLP 784-256-256-10 on Fashion-MNIST, SGD momentum 0.9 at lr 0.05 with warm-up and cosine "
    "decay, batch 128, "
    "0% or 40% symmetric label noise (test labels clean); SAM rho 0.05, ASAM rho 0.5 eta 0.01; "
    "sharpness as in "
    "batch-sharpness (top Hessian eigenvalue of the training loss on 2048 training samples).",
    {FMNIST(1000, 500) " model.width=64 train.epochs=1 optim.name=sgd optim.momentum=0.9 "
                       "optim.lr=0.05 sched.warmup_steps=4",
     FMNIST(8000, 2000) " model.width=256 train.epochs=6 optim.name=sgd optim.momentum=0.9 "
                        "optim.lr=0.05 sched.warmup_steps=40",
     FMNIST(0,
            0) " model.width=512 train.epochs=20 optim.name=sgd optim.momentum=0.9 optim.lr=0.05"},
    sam_arms,
    {"test_acc", "lambda_max", "memorised", NULL},
    NULL,
    sharp_after,
    sharp_metric,
    sam_judge,
};

/* ---- vit-sam: SAM helps the vision transformer more than the CNN (Chen et al. 2022) --------- */

static const char *const vit_sam_models[2] = {"vit", "cnn"};
static const char *const vit_sam_model_settings[2] = {
    "model.name=vit model.width=64 model.depth=2 model.patch=7", "model.name=cnn model.width=16"};
static const struct {
  const char *name, *settings;
  double lr[2];
} vit_sam_opts[] = {
    {"adamw", "optim.name=adamw optim.weight_decay=0.05", {1e-3, 3e-3}},
    {"adam_l2", "optim.name=adam optim.weight_decay=5e-4", {1e-3, 3e-3}},
    {"sgd_momentum", "optim.name=sgd optim.momentum=0.9 optim.weight_decay=5e-4", {0.03, 0.1}},
};

/* Arm names: "vit/adamw@lr=0.001" and "vit/adamw+sam@lr=0.001" (trained), "vit/adamw" and
 * "vit/adamw+sam" (each at the better lr of its grid). */
static int vit_sam_arms(exp_scale s, exp_arm *a, int cap) {
  int n = 0;
  for (int m = 0; m < 2; m++)
    for (int i = 0; i < 3; i++)
      for (int sam = 0; sam < 2; sam++)
        for (int k = s == EXP_QUICK ? 1 : 0; k < 2; k++) {
          char name[64];
          snprintf(name, sizeof name, "%s/%s%s@lr=%g", vit_sam_models[m], vit_sam_opts[i].name,
                   sam ? "+sam" : "", vit_sam_opts[i].lr[k]);
          n = exp_add_arm(a, n, cap, true, name, "%s %s optim.lr=%g%s", vit_sam_model_settings[m],
                          vit_sam_opts[i].settings, vit_sam_opts[i].lr[k],
                          sam ? " sam.rho=0.05" : "");
        }
  for (int m = 0; m < 2; m++)
    for (int i = 0; i < 3; i++)
      for (int sam = 0; sam < 2; sam++) {
        char name[64];
        snprintf(name, sizeof name, "%s/%s%s", vit_sam_models[m], vit_sam_opts[i].name,
                 sam ? "+sam" : "");
        n = exp_add_arm(a, n, cap, false, name, "the grid's lr with the higher test accuracy");
      }
  return n;
}

static void vit_sam_judge(const exp_def *e, exp_results *r) {
  (void)e;
  double gain[2] = {0, 0}, acc[2][3][2];
  for (int m = 0; m < 2; m++)
    for (int i = 0; i < 3; i++)
      for (int sam = 0; sam < 2; sam++) {
        char best[64], name[64];
        snprintf(name, sizeof name, "%s/%s%s", vit_sam_models[m], vit_sam_opts[i].name,
                 sam ? "+sam" : "");
        double b =
            best_of_grid(r, name, vit_sam_opts[i].lr, 2, "test_acc", false, best, sizeof best);
        acc[m][i][sam] = isfinite(b) ? b : NAN;
      }
  for (int m = 0; m < 2; m++) {
    for (int i = 0; i < 3; i++)
      gain[m] += (acc[m][i][1] - acc[m][i][0]) / 3;
  }
  r->holds = gain[0] > 0 && gain[0] > gain[1];
  char p[12][16];
  snprintf(r->summary, sizeof r->summary,
           "Test accuracy without / with SAM at each optimizer's better lr: vit AdamW %s / %s, "
           "Adam+L2 %s / %s, SGD-momentum %s / %s; cnn AdamW %s / %s, Adam+L2 %s / %s, "
           "SGD-momentum %s / %s. Mean gain from SAM: vit %+.2f points, cnn %+.2f points (%s).",
           pct(acc[0][0][0], p[0], 16), pct(acc[0][0][1], p[1], 16), pct(acc[0][1][0], p[2], 16),
           pct(acc[0][1][1], p[3], 16), pct(acc[0][2][0], p[4], 16), pct(acc[0][2][1], p[5], 16),
           pct(acc[1][0][0], p[6], 16), pct(acc[1][0][1], p[7], 16), pct(acc[1][1][0], p[8], 16),
           pct(acc[1][1][1], p[9], 16), pct(acc[1][2][0], p[10], 16), pct(acc[1][2][1], p[11], 16),
           100 * gain[0], 100 * gain[1],
           r->holds ? "SAM helps the vit, and more than the cnn: held" : "not held");
}

static const exp_def vit_sam = {
    "vit-sam",
    "Sharpness-aware minimisation improves a vision transformer more than a CNN (Chen, Hsieh & "
    "Gong 2022).",
    "vit (patch 7: 16 tokens, width 64, depth 2, 4 heads, mean pooling) and cnn (width 16) on "
    "Fashion-MNIST, batch 128, warm-up and cosine decay; AdamW (decoupled weight decay 0.05), Adam "
    "with an L2 term 5e-4, SGD with momentum 0.9 and L2 5e-4, each without and with SAM (rho "
    "0.05) at the better of two lrs (AdamW and Adam 1e-3 / 3e-3, SGD 0.03 / 0.1) by mean test "
    "accuracy over seeds (the same selection for every arm).",
    {FMNIST(600, 500) " train.epochs=1 sched.warmup_steps=2",
     FMNIST(4000, 2000) " train.epochs=6 sched.warmup_steps=20",
     FMNIST(10000, 0) " train.epochs=10 sched.warmup_steps=40"},
    vit_sam_arms,
    {"test_acc", "train_loss", NULL},
    NULL,
    NULL,
    NULL,
    vit_sam_judge,
};

/* ---- gpt-race: AdamW, Lion, Muon and LAMB on a character-level GPT -------------------------- */

#define FORTUNES "/usr/share/games/fortunes/"
static const struct {
  const char *name, *settings;
  double lr[3];
} gpt_race_opts[] = {
    {"adamw", "optim.name=adamw optim.weight_decay=0.01", {1e-3, 3e-3, 1e-2}},
    {"lion", "optim.name=lion optim.weight_decay=0.1", {1e-4, 3e-4, 1e-3}},
    {"muon", "optim.name=muon optim.adam_lr=3e-3", {0.02, 0.05, 0.1}},
    {"lamb", "optim.name=lamb optim.weight_decay=0.01", {3e-3, 1e-2, 3e-2}},
};

static int gpt_race_arms(exp_scale s, exp_arm *a, int cap) {
  int n = 0;
  for (int i = 0; i < 4; i++)
    for (int k = s == EXP_QUICK ? 1 : 0; k < (s == EXP_QUICK ? 2 : 3); k++) {
      char name[64];
      snprintf(name, sizeof name, "%s@lr=%g", gpt_race_opts[i].name, gpt_race_opts[i].lr[k]);
      n = exp_add_arm(a, n, cap, true, name, "%s optim.lr=%g", gpt_race_opts[i].settings,
                      gpt_race_opts[i].lr[k]);
    }
  for (int i = 0; i < 4; i++)
    n = exp_add_arm(a, n, cap, false, gpt_race_opts[i].name,
                    "the grid's lr with the lowest test loss");
  return n;
}

static double gpt_race_metric(const exp_def *e, const exp_arm *arm, const char *m,
                              const exp_obs *o) {
  (void)e, (void)arm;
  if (!strcmp(m, "bits_per_char")) return o->status ? NAN : o->test_loss / log(2.0);
  return NAN;
}

static void gpt_race_judge(const exp_def *e, exp_results *r) {
  (void)e;
  double bits[4];
  char text[4][96];
  for (int i = 0; i < 4; i++) {
    char arm[64];
    bits[i] = best_of_grid(r, gpt_race_opts[i].name, gpt_race_opts[i].lr, 3, "bits_per_char", true,
                           arm, sizeof arm);
    snprintf(text[i], sizeof text[i], "%s %.3f (%s)", gpt_race_opts[i].name, bits[i], arm);
  }
  r->holds = bits[2] < bits[0];
  snprintf(r->summary, sizeof r->summary,
           "Test bits per character at each optimizer's best lr: %s, %s, %s, %s; %s.", text[0],
           text[1], text[2], text[3],
           r->holds ? "Muon beats AdamW at equal steps: held"
                    : "Muon does not beat AdamW at equal steps");
}

static const exp_def gpt_race = {
    "gpt-race",
    "At an equal number of steps Muon trains a small GPT to a lower loss than AdamW (Jordan et al. "
    "2024); Lion (Chen et al. 2023) and LAMB (You et al. 2020) are the other contenders.",
    "Character-level gpt (context 64, width 64, depth 2, 4 heads) on two fortune files (computers, "
    "science; the last 20% held out as the test split), batch 64, warm-up and cosine decay; each "
    "optimizer at the best of three lrs by mean test loss over seeds: AdamW 1e-3 / 3e-3 / 1e-2 "
    "(weight decay 0.01), Lion 1e-4 / 3e-4 / 1e-3 (0.1), Muon 0.02 / 0.05 / 0.1 (its AdamW at "
    "3e-3 for embeddings, head, gains and biases), LAMB 3e-3 / 1e-2 / 3e-2 (0.01).",
    {"data.name=text data.path=" FORTUNES "computers," FORTUNES
     "science data.train_subset=256 data.test_subset=128 data.context=16 model.name=gpt "
     "model.width=16 model.depth=1 train.batch_size=32 train.epochs=1 sched.warmup_steps=2",
     "data.name=text data.path=" FORTUNES "computers," FORTUNES
     "science data.context=64 model.name=gpt model.width=64 model.depth=2 train.batch_size=64 "
     "train.epochs=3 sched.warmup_steps=20",
     "data.name=text data.path=" FORTUNES "computers," FORTUNES
     "science data.context=128 model.name=gpt model.width=128 model.depth=4 "
     "train.batch_size=64 train.epochs=10 sched.warmup_steps=100"},
    gpt_race_arms,
    {"bits_per_char", "test_loss", "train_loss", NULL},
    NULL,
    NULL,
    gpt_race_metric,
    gpt_race_judge,
};

/* ---- term-fairness ----------------------------------------------------------------------------
 */

static int fair_arms(exp_scale s, exp_arm *a, int cap) {
  (void)s;
  int n = 0;
  n = exp_add_arm(a, n, cap, true, "erm", "objective.name=mean");
  n = exp_add_arm(a, n, cap, true, "term_hier",
                  "objective.name=hierarchical objective.tilt=0 objective.group_tilt=2");
  return n;
}

static void fair_judge(const exp_def *e, exp_results *r) {
  (void)e;
  double ew = exp_mean(r, "erm", "worst_class_acc"),
         tw = exp_mean(r, "term_hier", "worst_class_acc"), ea = exp_mean(r, "erm", "test_acc"),
         ta = exp_mean(r, "term_hier", "test_acc");
  r->holds = tw > ew;
  char p[4][16];
  snprintf(r->summary, sizeof r->summary,
           "Worst-class test accuracy ERM %s, hierarchical TERM (t = 2 across classes) %s "
           "(%s); mean test accuracy %s vs %s.",
           pct(ew, p[0], 16), pct(tw, p[1], 16), r->holds ? "raised: held" : "not raised",
           pct(ea, p[2], 16), pct(ta, p[3], 16));
}

static const exp_def term_fairness = {
    "term-fairness",
    "Tilting across groups (hierarchical TERM with t > 0 over classes) raises the accuracy of the "
    "worst class "
    "on imbalanced data (Li et al. 2021).",
    "MLP 784-256-256-10 on Fashion-MNIST whose training split is imbalanced tenfold (class sizes "
    "falling "
    "exponentially from 1 to 1/10), AdamW with warm-up and cosine decay, batch 128; the test split "
    "is balanced.",
    {FMNIST(2000, 500) " model.width=64 train.epochs=2 data.imbalance=10 sched.warmup_steps=10",
     FMNIST(20000, 2000) " model.width=256 train.epochs=6 data.imbalance=10 sched.warmup_steps=100",
     FMNIST(0, 0) " model.width=512 train.epochs=20 data.imbalance=10"},
    fair_arms,
    {"worst_class_acc", "test_acc", NULL},
    NULL,
    NULL,
    NULL,
    fair_judge,
};

const exp_def *const experiments[] = {&toy_race,
                                      &adam_cnn,
                                      &lr_schedule,
                                      &warmup,
                                      &norm_batch_size,
                                      &critical_init,
                                      &nf_resnet,
                                      &decoupled_wd,
                                      &adamp_norm,
                                      &large_batch,
                                      &term_noise,
                                      &term_fairness,
                                      &sam_exp,
                                      &batch_sharpness,
                                      &vit_sam,
                                      &gpt_race,
                                      NULL};
