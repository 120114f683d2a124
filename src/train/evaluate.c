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
  memset(r, 0, sizeof *r);
  r->loss = r->acc = r->worst_class_acc = r->mean_class_acc = NAN;
}

/* Fills acc, worst and mean per-class accuracy from the counts. */
static void finish_classes(ds_eval_result *r, int64_t labels, int64_t correct) {
  r->acc = r->worst_class_acc = r->mean_class_acc = NAN;
  if (r->classes < 2 || labels == 0) return;
  r->acc = (double)correct / (double)labels;
  double worst = INFINITY, sum = 0;
  int present = 0;
  for (int c = 0; c < r->classes; c++) {
    if (!r->class_count[c]) continue;
    double a = (double)r->class_correct[c] / (double)r->class_count[c];
    worst = a < worst ? a : worst;
    sum += a;
    present++;
  }
  r->worst_class_acc = worst;
  r->mean_class_acc = sum / present;
}

static ds_status alloc_classes(ds_eval_result *r, int classes) {
  memset(r, 0, sizeof *r);
  r->classes = classes >= 2 ? classes : 0;
  if (!r->classes) return DS_OK;
  r->class_count = ds_calloc((size_t)classes, sizeof(int64_t));
  r->class_correct = ds_calloc((size_t)classes, sizeof(int64_t));
  return r->class_count && r->class_correct ? DS_OK : DS_ENOMEM;
}

/* Per-row argmax and counts of one batch; softmax into probs when asked. */
static void score_batch(const float *z, const float *y, int64_t rows, int64_t k, ds_eval_result *r,
                        int32_t *pred, float *probs, float w, int64_t *correct) {
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

ds_status ds_evaluate(ds_graph *g, ds_node x, ds_node y, ds_node logits, const ds_dataset *d,
                      const ds_eval_options *opt, ds_eval_result *out) {
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
  ds_status st = alloc_classes(out, (int)(k >= 2 ? k : 0));
  int64_t mb = ds_graph_max_batch(g);
  int64_t *idx = ds_malloc(sizeof(int64_t) * (size_t)mb);
  if (!st && !idx) st = DS_ENOMEM;
  bool was_training = ds_graph_training(g);
  ds_graph_set_training(g, false);
  double loss = 0;
  int64_t correct = 0;
  for (int64_t s = 0; s < n && !st; s += mb) {
    int64_t b = n - s < mb ? n - s : mb;
    for (int64_t i = 0; i < b; i++)
      idx[i] = o.indices ? o.indices[s + i] : s + i;
    st = ds_graph_set_batch(g, b);
    if (!st) st = ds_dataset_get(d, idx, b, ds_graph_value(g, x), ds_graph_value(g, y));
    if (!st) st = ds_graph_forward(g);
    if (st) break;
    loss += ds_graph_loss_mean(g) * (double)b;
    if (out->classes)
      score_batch(ds_graph_value(g, logits), ds_graph_value(g, y), b * per, k, out,
                  o.pred ? o.pred + s * per : NULL, o.probs ? o.probs + s * per * k : NULL,
                  o.probs_weight, &correct);
  }
  ds_graph_set_training(g, was_training);
  ds_free(idx);
  if (st) {
    ds_eval_result_free(out);
    return st;
  }
  out->n = n;
  out->loss = n ? loss / (double)n : NAN;
  finish_classes(out, n * per, correct);
  return DS_OK;
}

ds_status ds_eval_probs(const float *probs, const ds_dataset *d, ds_eval_result *out) {
  if (!probs || !d || !out || !d->labels || d->n_classes < 2)
    return ds_set_error(DS_EINVAL,
                        "evaluate probabilities: need class probabilities and a labelled dataset");
  int64_t k = d->n_classes, correct = 0;
  ds_status st = alloc_classes(out, (int)k);
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
  ds_eval_options o = ds_eval_options_default();
  o.indices = idx;
  o.n = m;
  o.pred = pred;
  ds_eval_result r;
  if (!st) st = ds_trainer_evaluate(t, d, &o, &r);
  if (!st) {
    int64_t as_noisy = 0, as_clean = 0;
    for (int64_t i = 0; i < m; i++) {
      as_noisy += pred[i] == d->labels[idx[i]];
      as_clean += pred[i] == d->clean_labels[idx[i]];
    }
    *out = (ds_memorization){m, (double)as_noisy / (double)m, (double)as_clean / (double)m};
    ds_eval_result_free(&r);
  }
  ds_free(idx);
  ds_free(pred);
  return st;
}
