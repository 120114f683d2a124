/* The training step: batch -> forward -> objective -> backward -> gradient transforms -> optimizer
 * step at the schedule's lr. */
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

/* The contracts of ds_trainer_parts, each failure naming what does not hold. */
static ds_status check_parts(const ds_trainer_parts *p) {
  if (!p || !p->g || !p->opt || !p->sched || !p->loader)
    return ds_set_error(DS_EINVAL, "trainer: graph, optimizer, schedule and loader are required");
  if (!ds_graph_is_compiled(p->g))
    return ds_set_error(DS_ESTATE, "trainer: compile the graph first");
  if (!ds_graph_is_input(p->g, p->x) || !ds_graph_is_input(p->g, p->y))
    return ds_set_error(DS_EINVAL, "trainer: x and y must be data inputs of the graph");
  if (p->logits != DS_NONE && (p->logits < 0 || p->logits >= ds_graph_node_count(p->g)))
    return ds_set_error(DS_EINVAL,
                        "trainer: logits %d is not a node of the graph (DS_NONE for none)",
                        (int)p->logits);
  int64_t lb = ds_loader_batch(p->loader), mb = ds_graph_max_batch(p->g);
  if (lb > mb)
    return ds_set_error(DS_EINVAL,
                        "trainer: the loader's batch of %lld exceeds the graph's max batch of %lld",
                        (long long)lb, (long long)mb);
  if (ds_optim_params(p->opt) != ds_graph_params(p->g))
    return ds_set_error(DS_EINVAL, "trainer: optimizer '%s' is not over this graph's parameters",
                        ds_optim_name(p->opt));
  if (!ds_sched_is_ready(p->sched))
    return ds_set_error(DS_ESTATE, "trainer: schedule '%s' is not validated (ds_sched_validate)",
                        ds_sched_name(p->sched));
  const ds_dataset *d = ds_loader_dataset(p->loader);
  ds_shape xs = ds_graph_shape(p->g, p->x);
  if (d && ds_shape_numel(&xs) / xs.dim[0] != d->sample_numel)
    return ds_set_error(DS_ESHAPE,
                        "trainer: dataset '%s' has %lld values per sample, input '%s' takes %lld",
                        d->name, (long long)d->sample_numel, ds_graph_node_name(p->g, p->x),
                        (long long)(ds_shape_numel(&xs) / xs.dim[0]));
  return DS_OK;
}

ds_trainer *ds_trainer_new(const ds_trainer_parts *parts, const ds_trainer_options *opt) {
  if (check_parts(parts)) return NULL;
  int64_t mb = ds_graph_max_batch(parts->g);
  ds_trainer *t = ds_calloc(1, sizeof *t);
  if (!t) return NULL;
  t->p = *parts;
  t->o = opt ? *opt : ds_trainer_options_default();
  t->lr_scale = 1;
  t->layers_every = 1;
  t->weights = ds_malloc(sizeof(float) * (size_t)mb);
  int np = ds_graph_params(parts->g)->count;
  if (t->o.log_layers && t->weights)
    t->layers = ds_calloc((size_t)(np ? np : 1), sizeof *t->layers);
  const ds_dataset *data = ds_loader_dataset(parts->loader);
  if (data && data->groups && !(t->groups = ds_malloc(sizeof(float) * (size_t)mb))) {
    ds_trainer_free(t);
    return NULL;
  }
  bool annealed =
      !isnan(ds_objective_get(t->o.objective, "tilt_end")); /* the tilt follows the step */
  if (annealed && t->o.total_steps < 1)
    ds_set_error(DS_EINVAL, "trainer: the annealed objective '%s' needs options.total_steps",
                 ds_objective_name(t->o.objective));
  if (!t->weights || (t->o.log_layers && !t->layers) || ds__sam_init(t) ||
      (annealed && t->o.total_steps < 1) || ds__parallel_init(t) ||
      (t->parallel && ds__sam_check_parallel(t))) {
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
  if (parts->logits != DS_NONE) {
    ds_shape s = ds_graph_shape(parts->g, parts->logits);
    t->classes = s.rank >= 2 ? s.dim[s.rank - 1] : 1;
  }
  return t;
}

void ds_trainer_free(ds_trainer *t) {
  if (!t) return;
  if (t->dist) ds_graph_set_reducer(t->p.g, NULL, NULL); /* set by ds__parallel_init */
  ds_free(t->weights);
  ds_free(t->layers);
  ds_free(t->groups);
  ds__sam_free(t);
  ds_free(t);
}

int64_t ds_trainer_step_count(const ds_trainer *t) { return t ? t->step : 0; }
int64_t ds_trainer_epoch(const ds_trainer *t) { return t ? t->epoch : 0; }

const ds_layer_stats *ds_trainer_layer_stats(const ds_trainer *t, int64_t *step) {
  if (step) *step = t && t->layers ? t->layers_step : 0;
  return t ? t->layers : NULL;
}

/* ||θ|| and ||g|| of every parameter tensor, in double, as the optimizer is about to see them. */
static void measure_layers(ds_trainer *t) {
  const ds_paramset *ps = ds_graph_params(t->p.g);
  for (int i = 0; i < ps->count; i++) {
    const float *w = ps->data + ps->info[i].offset, *g = ps->grad + ps->info[i].offset;
    double sw = 0, sg = 0;
    for (int64_t e = 0; e < ps->info[i].numel; e++) {
      sw += (double)w[e] * w[e];
      sg += (double)g[e] * g[e];
    }
    t->layers[i] = (ds_layer_stats){sqrt(sw), sqrt(sg), NAN};
  }
}

/* The trust ratios the optimizer step just applied (lars, lamb). */
static void record_trust(ds_trainer *t) {
  const double *r = ds_optim_trust_ratios(t->p.opt);
  for (int i = 0; r && i < ds_graph_params(t->p.g)->count; i++)
    t->layers[i].trust_ratio = r[i];
  t->layers_step = t->step;
}

int64_t ds__count_correct(ds_graph *g, ds_node logits, ds_node y, int64_t b) {
  if (logits == DS_NONE) return 0;
  ds_shape s = ds_graph_shape(g, logits), ys = ds_graph_shape(g, y);
  int64_t k = s.rank >= 2 ? s.dim[s.rank - 1] : 1, correct = 0;
  if (k < 2) return 0;
  int64_t rows = b * (ds_shape_numel(&ys) / ys.dim[0]); /* labels: one per sample or per token */
  const float *z = ds_graph_value(g, logits), *yv = ds_graph_value(g, y);
  for (int64_t i = 0; i < rows; i++) {
    const float *row = z + i * k;
    int64_t best = 0;
    for (int64_t j = 1; j < k; j++)
      if (row[j] > row[best]) best = j;
    correct += best == (int64_t)yv[i];
  }
  return correct;
}

/* Sets the optimizer's momentum from the schedule at the current step, if the schedule cycles it.
 */
static ds_status apply_momentum(ds_trainer *t) {
  double m;
  if (!t->momentum_key || !ds_sched_momentum(t->p.sched, t->step, &m)) return DS_OK;
  if (t->momentum_key == 1) return ds_optim_set(t->p.opt, "momentum", &m, 1);
  for (int i = 0; i < ds_optim_hyper_count(t->p.opt); i++) {
    const char *key;
    double v[2];
    int n;
    bool is_bool;
    if (ds_optim_hyper(t->p.opt, i, &key, v, &n, &is_bool) || strcmp(key, "betas") || n != 2)
      continue;
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

ds_status ds__check_loss(const ds_trainer *t, double loss) {
  if (isfinite(loss)) return DS_OK;
  return ds_set_error(DS_ENUMERIC, "step %lld (epoch %lld): loss is %s (lr %.3g)",
                      (long long)t->step + 1, (long long)t->epoch + 1, isnan(loss) ? "NaN" : "Inf",
                      ds_sched_lr(t->p.sched, t->step));
}

int64_t ds__trainer_load(ds_trainer *t) {
  ds_graph *g = t->p.g;
  int64_t next = ds_loader_next_size(t->p.loader);
  if (next > 0) {
    /* the graph's batch first, then the inputs are written at that batch */
    ds_status st = ds_graph_set_batch(g, next);
    if (st) return st;
  }
  int64_t b = ds_loader_next(t->p.loader, ds_graph_value(g, t->p.x), ds_graph_value(g, t->p.y));
  if (b > 0 && t->groups) {
    const int32_t *grp = ds_loader_dataset(t->p.loader)->groups;
    const int64_t *idx = ds_loader_indices(t->p.loader);
    for (int64_t i = 0; i < b; i++)
      t->groups[i] = (float)grp[idx[i]];
  }
  return b;
}

ds_status ds__trainer_grad(ds_trainer *t, int64_t b, double *loss_out) {
  ds_graph *g = t->p.g;
  ds_status st = ds_graph_forward(g);
  if (st) return st;
  double loss = ds_graph_loss_mean(g);
  if (t->parallel && (st = ds__parallel_reduce(t, b, &loss))) return st; /* loss over all ranks */
  if ((st = ds__check_loss(t, loss))) return st;
  const float *weights = NULL;
  t->objective = loss;
  if (!ds_objective_is_mean(t->o.objective)) {
    st = ds_objective_weights(t->o.objective, ds_graph_value(g, ds_graph_loss(g)),
                              t->groups ? t->groups : ds_graph_value(g, t->p.y), b, t->step,
                              t->o.total_steps, !t->second_pass, t->weights, &t->objective);
    if (st) return st;
    weights = t->weights;
  }
  *loss_out = loss;
  if (t->parallel) return ds__parallel_backward(t);
  return ds_graph_backward(g, weights);
}

int ds_trainer_step(ds_trainer *t, ds_step_result *r) {
  if (!t) return ds_set_error(DS_EINVAL, "trainer step: NULL trainer");
  ds_graph *g = t->p.g;
  if (t->parallel) ds__parallel_begin(t);
  int64_t b = ds__trainer_load(t);
  if (b < 0) return (int)b;
  if (b == 0) {
    t->epoch++;
    return 0;
  }
  double lr = ds_sched_lr(t->p.sched, t->step) * t->lr_scale, loss = 0;
  if (!isfinite(lr) || lr < 0)
    return ds_set_error(DS_ENUMERIC, "step %lld: schedule '%s' gives lr %g", (long long)t->step + 1,
                        ds_sched_name(t->p.sched), lr);
  ds_status st = t->o.sam.rho <= 0 ? ds__trainer_grad(t, b, &loss)
                 : t->parallel     ? ds__sam_parallel_grad(t, b)
                                   : ds__sam_grad(t, b, &loss);
  int64_t correct = -1; /* -1: count below */
  if (!st && t->parallel) st = ds__parallel_rest(t, &b, &loss, &correct);
  if (!st) st = transform_grads(t);
  if (!st) st = apply_momentum(t);
  bool measure = t->layers && (t->step + 1) % t->layers_every == 0;
  if (!st && measure) measure_layers(t);
  if (!st) st = ds_optim_step(t->p.opt, (float)lr);
  if (st) return st;
  t->step++;
  if (measure) record_trust(t);
  if (correct < 0)
    correct = t->o.sam.rho > 0 ? t->sam_correct /* counted at w by sam.c */
              : t->classes < 2 ? 0
                               : ds__count_correct(g, t->p.logits, t->p.y, b);
  if (r) *r = (ds_step_result){b, loss, t->objective, lr, correct};
  return 1;
}
