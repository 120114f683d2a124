/* The training step: batch -> forward -> objective -> backward -> gradient transforms -> optimizer
 * step at the schedule's lr; and evaluation over a dataset. */
#include <math.h>
#include <string.h>

#include "descent/alloc.h"
#include "trainer_internal.h"

ds_trainer_options ds_trainer_options_default(void) {
  ds_trainer_options o;
  memset(&o, 0, sizeof o);
  o.agc_eps = 1e-3;
  o.agc_exclude_head = true;
  o.sam.eta = 0.01;
  return o;
}

ds_trainer *ds_trainer_new(const ds_trainer_parts *parts, const ds_trainer_options *opt) {
  if (!parts || !parts->g || !parts->opt || !parts->sched || !parts->loader) {
    ds_set_error(DS_EINVAL, "trainer: graph, optimizer, schedule and loader are required");
    return NULL;
  }
  if (!ds_graph_is_compiled(parts->g)) {
    ds_set_error(DS_ESTATE, "trainer: compile the graph first");
    return NULL;
  }
  if (!ds_graph_is_input(parts->g, parts->x) || !ds_graph_is_input(parts->g, parts->y)) {
    ds_set_error(DS_EINVAL, "trainer: x and y must be data inputs of the graph");
    return NULL;
  }
  int64_t mb = ds_graph_max_batch(parts->g);
  ds_trainer *t = ds_calloc(1, sizeof *t);
  if (!t) return NULL;
  t->p = *parts;
  t->o = opt ? *opt : ds_trainer_options_default();
  t->weights = ds_malloc(sizeof(float) * (size_t)mb);
  t->idx = ds_malloc(sizeof(int64_t) * (size_t)mb);
  if (!t->weights || !t->idx || ds__sam_init(t)) {
    ds_trainer_free(t);
    return NULL;
  }
  /* cyclic / onecycle with cycle_momentum drive the optimizer's momentum (PyTorch writes it into
   * param_groups: "momentum", or betas[0] for the Adam family) */
  for (int i = 0; i < ds_optim_hyper_count(parts->opt); i++) {
    const char *key;
    double v[2];
    int n;
    bool is_bool;
    if (ds_optim_hyper(parts->opt, i, &key, v, &n, &is_bool)) continue;
    if (!strcmp(key, "momentum")) t->momentum_key = 1;
    if (!strcmp(key, "betas") && !t->momentum_key) t->momentum_key = 2;
  }
  if (parts->logits >= 0) {
    ds_shape s = ds_graph_shape(parts->g, parts->logits);
    t->classes = ds_shape_numel(&s) / s.dim[0];
  }
  return t;
}

void ds_trainer_free(ds_trainer *t) {
  if (!t) return;
  ds_free(t->weights);
  ds_free(t->idx);
  ds__sam_free(t);
  ds_free(t);
}

int64_t ds_trainer_step_count(const ds_trainer *t) { return t ? t->step : 0; }
int64_t ds_trainer_epoch(const ds_trainer *t) { return t ? t->epoch : 0; }

/* Samples of the current batch whose argmax logit equals the label. */
/* Rows among the first b of logits whose argmax equals the label in y; 0 without logits
 * (DS_NONE) or with fewer than 2 classes. */
static int64_t batch_correct(ds_graph *g, ds_node logits, ds_node y, int64_t b) {
  if (logits < 0) return 0;
  ds_shape s = ds_graph_shape(g, logits);
  int64_t k = ds_shape_numel(&s) / s.dim[0], correct = 0;
  if (k < 2) return 0;
  const float *z = ds_graph_value(g, logits), *yv = ds_graph_value(g, y);
  for (int64_t i = 0; i < b; i++) {
    const float *row = z + i * k;
    int64_t best = 0;
    for (int64_t j = 1; j < k; j++)
      if (row[j] > row[best]) best = j;
    correct += best == (int64_t)yv[i];
  }
  return correct;
}

int64_t ds__trainer_count_correct(ds_trainer *t, int64_t b) {
  return t->classes < 2 ? 0 : batch_correct(t->p.g, t->p.logits, t->p.y, b);
}

ds_status ds_evaluate(ds_graph *g, ds_node x, ds_node y, ds_node logits, const ds_dataset *d,
                      int64_t n, int64_t *idx, double *loss_out, double *acc_out) {
  if (!g || !d) return ds_set_error(DS_EINVAL, "evaluate: NULL graph or dataset");
  if (n <= 0 || n > d->n) n = d->n;
  int64_t mb = ds_graph_max_batch(g);
  int64_t *own = idx ? NULL : ds_malloc(sizeof(int64_t) * (size_t)mb);
  if (!idx && !(idx = own)) return DS_ENOMEM;
  bool was_training = ds_graph_training(g);
  ds_graph_set_training(g, false);
  ds_status st = DS_OK;
  double loss = 0;
  int64_t correct = 0;
  for (int64_t s = 0; s < n && !st; s += mb) {
    int64_t b = n - s < mb ? n - s : mb;
    for (int64_t i = 0; i < b; i++) idx[i] = s + i;
    st = ds_graph_set_batch(g, b);
    if (!st) st = ds_dataset_get(d, idx, b, ds_graph_value(g, x), ds_graph_value(g, y));
    if (!st) st = ds_graph_forward(g);
    if (st) break;
    loss += ds_graph_loss_mean(g) * (double)b;
    correct += batch_correct(g, logits, y, b);
  }
  ds_graph_set_training(g, was_training);
  ds_free(own);
  if (st) return st;
  bool classify = false;
  if (logits >= 0) {
    ds_shape s = ds_graph_shape(g, logits);
    classify = ds_shape_numel(&s) / s.dim[0] >= 2;
  }
  if (loss_out) *loss_out = n ? loss / (double)n : NAN;
  if (acc_out) *acc_out = !classify || !n ? NAN : (double)correct / (double)n;
  return DS_OK;
}

ds_status ds__trainer_grad(ds_trainer *t, int64_t b, double *loss_out) {
  ds_graph *g = t->p.g;
  ds_status st = ds_graph_set_batch(g, b);
  if (!st) st = ds_graph_forward(g);
  if (st) return st;
  double loss = ds_graph_loss_mean(g);
  if (!isfinite(loss))
    return ds_set_error(DS_ENUMERIC, "step %lld (epoch %lld): loss is %s (lr %.3g)", (long long)t->step + 1,
                        (long long)t->epoch + 1, isnan(loss) ? "NaN" : "Inf", ds_sched_lr(t->p.sched, t->step));
  const float *weights = NULL;
  t->objective = loss;
  if (!ds_objective_is_mean(t->o.objective)) {
    st = ds_objective_weights(t->o.objective, ds_graph_value(g, ds_graph_loss(g)), ds_graph_value(g, t->p.y), b,
                              t->step, t->o.total_steps, !t->second_pass, t->weights, &t->objective);
    if (st) return st;
    weights = t->weights;
  }
  *loss_out = loss;
  return ds_graph_backward(g, weights);
}

/* Sets the optimizer's momentum from the schedule at the current step, if the schedule cycles it. */
static ds_status apply_momentum(ds_trainer *t) {
  double m;
  if (!t->momentum_key || !ds_sched_momentum(t->p.sched, t->step, &m)) return DS_OK;
  if (t->momentum_key == 1) return ds_optim_set(t->p.opt, "momentum", &m, 1);
  for (int i = 0; i < ds_optim_hyper_count(t->p.opt); i++) {
    const char *key;
    double v[2];
    int n;
    bool is_bool;
    if (ds_optim_hyper(t->p.opt, i, &key, v, &n, &is_bool) || strcmp(key, "betas") || n != 2) continue;
    v[0] = m;
    return ds_optim_set(t->p.opt, "betas", v, 2);
  }
  return DS_OK;
}

static ds_status transform_grads(ds_trainer *t) {
  ds_paramset *ps = ds_graph_params(t->p.g);
  ds_status st = DS_OK;
  if (!st && t->o.clip_value > 0) st = ds_clip_grad_value(ps, t->o.clip_value);
  if (!st && t->o.agc > 0) st = ds_agc(ps, t->o.agc, t->o.agc_eps, t->o.agc_exclude_head);
  if (!st && t->o.clip_norm > 0) st = ds_clip_grad_norm(ps, t->o.clip_norm, NULL);
  return st;
}

int ds_trainer_step(ds_trainer *t, ds_step_result *r) {
  if (!t) return ds_set_error(DS_EINVAL, "trainer step: NULL trainer");
  ds_graph *g = t->p.g;
  int64_t b = ds_loader_next(t->p.loader, ds_graph_value(g, t->p.x), ds_graph_value(g, t->p.y));
  if (b < 0) return (int)b;
  if (b == 0) {
    t->epoch++;
    return 0;
  }
  double lr = ds_sched_lr(t->p.sched, t->step);
  if (!isfinite(lr) || lr < 0)
    return ds_set_error(DS_ENUMERIC, "step %lld: schedule '%s' gives lr %g", (long long)t->step + 1,
                        ds_sched_name(t->p.sched), lr);
  double loss;
  ds_status st = t->o.sam.rho > 0 ? ds__sam_grad(t, b, &loss) : ds__trainer_grad(t, b, &loss);
  if (!st) st = transform_grads(t);
  if (!st) st = apply_momentum(t);
  if (!st) st = ds_optim_step(t->p.opt, (float)lr);
  if (st) return st;
  t->step++;
  int64_t correct = t->o.sam.rho > 0 ? t->sam_correct : ds__trainer_count_correct(t, b);
  if (r) *r = (ds_step_result){b, loss, t->objective, lr, correct};
  return 1;
}

ds_status ds_trainer_evaluate(ds_trainer *t, const ds_dataset *d, double *loss_out, double *acc_out) {
  if (!t || !d) return ds_set_error(DS_EINVAL, "trainer evaluate: NULL argument");
  ds_graph *g = t->p.g;
  bool swap = !ds_optim_in_eval_mode(t->p.opt);
  ds_status st = swap ? ds_optim_eval_mode(t->p.opt, true) : DS_OK;
  if (st) return st;
  st = ds_evaluate(g, t->p.x, t->p.y, t->classes < 2 ? DS_NONE : t->p.logits, d, 0, t->idx,
                   loss_out, acc_out);
  if (swap) {
    ds_status st2 = ds_optim_eval_mode(t->p.opt, false);
    if (!st) st = st2;
  }
  return st;
}
