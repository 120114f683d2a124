/* One evaluation loop: loss, accuracy, per-class counts, predictions and probabilities over a
 * dataset, in eval mode; the trainer's evaluation, memorisation and ensembles are built on it. */
#include <math.h>
#include <string.h>

#include "descent/alloc.h"
#include "trainer_internal.h"

ds_eval_options ds_eval_options_default(void) {
  ds_eval_options o;
  memset(&o, 0, sizeof o);
  o.probs_weight = 1.0f;
  return o;
}

void ds_eval_result_free(ds_eval_result *r) {
  if (!r) return;
  ds_free(r->class_count);
  ds_free(r->class_correct);
  ds_free(r->group_count);
  ds_free(r->group_correct);
  memset(r, 0, sizeof *r);
  r->loss = r->acc = r->worst_class_acc = r->mean_class_acc = r->worst_group_acc = NAN;
}

/* The lowest of correct[i] / count[i] over the n entries with count[i] > 0 (NAN if none). */
static double worst_share(const int64_t *count, const int64_t *correct, int n) {
  double worst = NAN;
  for (int i = 0; i < n; i++)
    if (count[i]) {
      double a = (double)correct[i] / (double)count[i];
      worst = isnan(worst) || a < worst ? a : worst;
    }
  return worst;
}

/* Fills acc, worst and mean per-class accuracy from the counts. */
static void finish_classes(ds_eval_result *r, int64_t labels, int64_t correct) {
  r->acc = r->worst_class_acc = r->mean_class_acc = r->worst_group_acc = NAN;
  if (r->classes < 2 || labels == 0) return;
  r->acc = (double)correct / (double)labels;
  double sum = 0;
  int present = 0;
  for (int c = 0; c < r->classes; c++) {
    if (!r->class_count[c]) continue;
    sum += (double)r->class_correct[c] / (double)r->class_count[c];
    present++;
  }
  r->worst_class_acc = worst_share(r->class_count, r->class_correct, r->classes);
  r->mean_class_acc = sum / present;
  if (r->groups) r->worst_group_acc = worst_share(r->group_count, r->group_correct, r->groups);
}

/* Zeroed counts for classes (and groups: with classes only). */
static ds_status alloc_classes(ds_eval_result *r, int classes, int groups) {
  memset(r, 0, sizeof *r);
  r->classes = classes >= 2 ? classes : 0;
  if (!r->classes) return DS_OK;
  r->groups = groups;
  r->class_count = ds_calloc((size_t)classes, sizeof(int64_t));
  r->class_correct = ds_calloc((size_t)classes, sizeof(int64_t));
  if (groups) {
    r->group_count = ds_calloc((size_t)groups, sizeof(int64_t));
    r->group_correct = ds_calloc((size_t)groups, sizeof(int64_t));
  }
  return r->class_count && r->class_correct && (!groups || (r->group_count && r->group_correct))
             ? DS_OK
             : DS_ENOMEM;
}

/* Per-row argmax and counts of one batch; softmax into probs when asked; group counts when grp
 * (the rows' groups) is given. */
static void score_batch(const float *z, const float *y, int64_t rows, int64_t k, ds_eval_result *r,
                        const int32_t *grp, int32_t *pred, float *probs, float w,
                        int64_t *correct) {
  for (int64_t i = 0; i < rows; i++) {
    const float *zi = z + i * k;
    int64_t best = 0;
    for (int64_t c = 1; c < k; c++)
      if (zi[c] > zi[best]) best = c;
    int64_t label = (int64_t)y[i];
    if (label >= 0 && label < k) {
      r->class_count[label]++;
      r->class_correct[label] += best == label;
    }
    *correct += best == label;
    if (grp) {
      r->group_count[grp[i]]++;
      r->group_correct[grp[i]] += best == label;
    }
    if (pred) pred[i] = (int32_t)best;
    if (probs) { /* softmax in double, shifted by the max */
      double sum = 0;
      for (int64_t c = 0; c < k; c++)
        sum += exp((double)zi[c] - zi[best]);
      for (int64_t c = 0; c < k; c++)
        probs[i * k + c] += w * (float)(exp((double)zi[c] - zi[best]) / sum);
    }
  }
}

/* The sums of an evaluation before its averages: the result's counts plus these. */
typedef struct {
  double loss;             /* sum of per-sample losses */
  int64_t labels, correct; /* labels seen, argmax hits */
} eval_sums;

/* ds_evaluate up to the sums: out gets n, classes and the per-class counts. */
static ds_status eval_sum(ds_graph *g, ds_node x, ds_node y, ds_node logits, const ds_dataset *d,
                          const ds_eval_options *opt, ds_eval_result *out, eval_sums *sums) {
  if (!g || !d || !out) return ds_set_error(DS_EINVAL, "evaluate: NULL graph, dataset or result");
  ds_eval_options o = opt ? *opt : ds_eval_options_default();
  int64_t n = o.n;
  if (o.indices) {
    if (n < 0) return ds_set_error(DS_EINVAL, "evaluate: %lld indices", (long long)n);
    for (int64_t i = 0; i < n; i++)
      if (o.indices[i] < 0 || o.indices[i] >= d->n)
        return ds_set_error(DS_EINVAL,
                            "evaluate: index %lld is outside dataset '%s' (%lld samples)",
                            (long long)o.indices[i], d->name, (long long)d->n);
  } else if (n <= 0 || n > d->n) {
    n = d->n;
  }
  int64_t k = 0;
  if (logits != DS_NONE) {
    ds_shape s = ds_graph_shape(g, logits);
    k = s.rank >= 2 ? s.dim[s.rank - 1] : 1;
  }
  ds_shape ys = ds_graph_shape(g, y);
  int64_t per = ds_shape_numel(&ys) / ys.dim[0]; /* labels per sample */
  if ((o.probs || o.pred) && k < 2)
    return ds_set_error(DS_EINVAL, "evaluate: predictions need class logits");
  bool groups = d->groups && per == 1; /* groups of samples, not of tokens */
  ds_status st = alloc_classes(out, (int)(k >= 2 ? k : 0), groups ? d->n_groups : 0);
  int64_t mb = ds_graph_max_batch(g);
  int64_t *idx = ds_malloc(sizeof(int64_t) * (size_t)mb);
  int32_t *grp = groups ? ds_malloc(sizeof(int32_t) * (size_t)mb) : NULL;
  if (!st && (!idx || (groups && !grp))) st = DS_ENOMEM;
  bool was_training = ds_graph_training(g);
  ds_graph_set_training(g, false);
  double loss = 0;
  int64_t correct = 0;
  for (int64_t s = 0; s < n && !st; s += mb) {
    int64_t b = n - s < mb ? n - s : mb;
    for (int64_t i = 0; i < b; i++) {
      idx[i] = o.indices ? o.indices[s + i] : s + i;
      if (grp) grp[i] = d->groups[idx[i]];
    }
    st = ds_graph_set_batch(g, b);
    if (!st) st = ds_dataset_get(d, idx, b, ds_graph_value(g, x), ds_graph_value(g, y));
    if (!st) st = ds_graph_forward(g);
    if (st) break;
    loss += ds_graph_loss_mean(g) * (double)b;
    if (out->classes)
      score_batch(ds_graph_value(g, logits), ds_graph_value(g, y), b * per, k, out,
                  out->groups ? grp : NULL, o.pred ? o.pred + s * per : NULL,
                  o.probs ? o.probs + s * per * k : NULL, o.probs_weight, &correct);
  }
  ds_graph_set_training(g, was_training);
  ds_free(idx);
  ds_free(grp);
  if (st) {
    ds_eval_result_free(out);
    return st;
  }
  out->n = n;
  *sums = (eval_sums){loss, n * per, correct};
  return DS_OK;
}

ds_status ds_evaluate(ds_graph *g, ds_node x, ds_node y, ds_node logits, const ds_dataset *d,
                      const ds_eval_options *o, ds_eval_result *out) {
  eval_sums s;
  ds_status st = eval_sum(g, x, y, logits, d, o, out, &s);
  if (st) return st;
  out->loss = out->n ? s.loss / (double)out->n : NAN;
  finish_classes(out, s.labels, s.correct);
  return DS_OK;
}

/* Under data parallelism (t->dist) an evaluation without per-sample outputs is sharded: rank r
 * evaluates the contiguous share [n r / K, n (r + 1) / K) of the samples and one allreduce sums the
 * counts and loss sums, so every rank gets the one-process result (counts exactly, the loss up to
 * the order of its double sums) for 1/K of the work. */
static ds_status eval_sharded(ds_trainer *t, const ds_dataset *d, const ds_eval_options *opt,
                              ds_eval_result *out) {
  ds_eval_options o = opt ? *opt : ds_eval_options_default();
  int64_t n = o.indices ? o.n : o.n <= 0 || o.n > d->n ? d->n : o.n;
  int64_t K = ds_dist_size(t->dist), r = ds_dist_rank(t->dist);
  int64_t lo = n * r / K, hi = n * (r + 1) / K;
  int64_t *idx = o.indices ? NULL : ds_malloc(sizeof(int64_t) * (size_t)(hi > lo ? hi - lo : 1));
  if (!o.indices && !idx) return DS_ENOMEM;
  for (int64_t i = lo; idx && i < hi; i++)
    idx[i - lo] = i;
  o.indices = idx ? idx : o.indices + lo;
  o.n = hi - lo;
  eval_sums s;
  ds_status st =
      eval_sum(t->p.g, t->p.x, t->p.y, t->classes < 2 ? DS_NONE : t->p.logits, d, &o, out, &s);
  ds_free(idx);
  /* n, loss sum, labels, hits, per-class and per-group counts and hits: exact in double */
  int64_t *counts[4] = {out->class_count, out->class_correct, out->group_count, out->group_correct};
  int len[4] = {out->classes, out->classes, out->groups, out->groups}, total = 4;
  for (int a = 0; a < 4; a++)
    total += len[a];
  double *v = st ? NULL : ds_malloc(sizeof(double) * (size_t)total);
  if (!st && !v) st = DS_ENOMEM;
  st = ds_dist_agree(t->dist, st); /* a failure on any rank fails all: none waits in the sum */
  if (!st) {
    v[0] = (double)out->n, v[1] = s.loss, v[2] = (double)s.labels, v[3] = (double)s.correct;
    for (int a = 0, at = 4; a < 4; at += len[a++])
      for (int c = 0; c < len[a]; c++)
        v[at + c] = (double)counts[a][c];
    st = ds_dist_sum_f64(t->dist, v, total);
  }
  if (!st) {
    out->n = (int64_t)v[0];
    for (int a = 0, at = 4; a < 4; at += len[a++])
      for (int c = 0; c < len[a]; c++)
        counts[a][c] = (int64_t)v[at + c];
    out->loss = out->n ? v[1] / v[0] : NAN;
    finish_classes(out, (int64_t)v[2], (int64_t)v[3]);
  }
  ds_free(v);
  if (st) ds_eval_result_free(out);
  return st;
}

ds_status ds_eval_probs(const float *probs, const ds_dataset *d, ds_eval_result *out) {
  if (!probs || !d || !out || !d->labels || d->n_classes < 2)
    return ds_set_error(DS_EINVAL,
                        "evaluate probabilities: need class probabilities and a labelled dataset");
  int64_t k = d->n_classes, correct = 0;
  ds_status st = alloc_classes(out, (int)k, 0);
  if (st) return st;
  double nll = 0;
  for (int64_t i = 0; i < d->n; i++) {
    const float *p = probs + i * k;
    int64_t best = 0, label = d->labels[i];
    for (int64_t c = 1; c < k; c++)
      if (p[c] > p[best]) best = c;
    out->class_count[label]++;
    out->class_correct[label] += best == label;
    correct += best == label;
    nll -= log(p[label] > 1e-30f ? (double)p[label] : 1e-30);
  }
  out->n = d->n;
  out->loss = d->n ? nll / (double)d->n : NAN;
  finish_classes(out, d->n, correct);
  return DS_OK;
}

/* Runs f with the optimizer's evaluation weights in the model (schedule-free), restoring after. */
static ds_status with_eval_weights(ds_trainer *t, ds_status (*f)(ds_trainer *, void *), void *ctx) {
  bool swap = !ds_optim_in_eval_mode(t->p.opt);
  ds_status st = swap ? ds_optim_eval_mode(t->p.opt, true) : DS_OK;
  if (st) return st;
  st = f(t, ctx);
  if (swap) {
    ds_status st2 = ds_optim_eval_mode(t->p.opt, false);
    if (!st) st = st2;
  }
  return st;
}

typedef struct {
  const ds_dataset *d;
  const ds_eval_options *o;
  ds_eval_result *out;
} eval_call;

static ds_status eval_now(ds_trainer *t, void *ctx) {
  eval_call *c = ctx;
  if (t->dist && !(c->o && (c->o->pred || c->o->probs))) return eval_sharded(t, c->d, c->o, c->out);
  return ds_evaluate(t->p.g, t->p.x, t->p.y, t->classes < 2 ? DS_NONE : t->p.logits, c->d, c->o,
                     c->out);
}

ds_status ds_trainer_evaluate(ds_trainer *t, const ds_dataset *d, const ds_eval_options *o,
                              ds_eval_result *out) {
  if (!t || !d || !out) return ds_set_error(DS_EINVAL, "trainer evaluate: NULL argument");
  eval_call c = {d, o, out};
  return with_eval_weights(t, eval_now, &c);
}

ds_status ds_trainer_memorization(ds_trainer *t, const ds_dataset *d, ds_memorization *out) {
  if (!t || !d || !out) return ds_set_error(DS_EINVAL, "memorization: NULL argument");
  *out = (ds_memorization){0, NAN, NAN};
  int64_t noisy = d->labels && t->classes >= 2 ? ds_dataset_noisy_count(d) : 0;
  if (noisy == 0) return DS_OK;
  int64_t *idx = ds_malloc(sizeof(int64_t) * (size_t)noisy);
  int32_t *pred = ds_malloc(sizeof(int32_t) * (size_t)noisy);
  ds_status st = idx && pred ? DS_OK : DS_ENOMEM;
  int64_t m = 0;
  for (int64_t i = 0; !st && i < d->n; i++)
    if (d->labels[i] != d->clean_labels[i]) idx[m++] = i;
  /* under data parallelism each rank predicts its contiguous share of the noisy samples */
  int64_t K = ds_dist_size(t->dist), rank = ds_dist_rank(t->dist), lo = m * rank / K,
          hi = m * (rank + 1) / K;
  ds_eval_options o = ds_eval_options_default();
  o.indices = idx + lo;
  o.n = hi - lo;
  o.pred = pred;
  ds_eval_result r;
  ds_status local = st ? st : ds_trainer_evaluate(t, d, &o, &r);
  st = t->dist ? ds_dist_agree(t->dist, local) : local; /* all ranks fail together */
  double hits[2] = {0, 0}; /* predicted as the noisy label, as the clean one */
  if (!local) {
    for (int64_t i = lo; i < hi; i++) {
      hits[0] += pred[i - lo] == d->labels[idx[i]];
      hits[1] += pred[i - lo] == d->clean_labels[idx[i]];
    }
    ds_eval_result_free(&r);
  }
  if (!st && t->dist) st = ds_dist_sum_f64(t->dist, hits, 2);
  if (!st) *out = (ds_memorization){m, hits[0] / (double)m, hits[1] / (double)m};
  ds_free(idx);
  ds_free(pred);
  return st;
}
