/* Data-parallel and accumulated steps (train.h: ds_trainer_options.dist, .accumulate).
 *
 * A step of N samples (all micro-batches, all ranks) seeds every per-sample loss with 1/N, so the
 * gradients summed over micro-batches (ds_graph_backward_accumulate) and over ranks (the bucketed
 * allreduce of dist.h, started by the graph's gradient-ready hook on the last micro-batch) are the
 * gradient of the mean loss over the step's N samples: the same step as one process on one batch
 * of N, up to the order of float additions. N is known before the first micro-batch is loaded:
 * min(samples left in the epoch, accumulate x global batch). */
#include <math.h>
#include <string.h>

#include "descent/alloc.h"
#include "trainer_internal.h"

static ds_status reduce_f64(void *ctx, double *x, int64_t n) { return ds_dist_sum_f64(ctx, x, n); }

ds_status ds__parallel_init(ds_trainer *t) {
  ds_dist *d = t->o.dist;
  if (t->o.accumulate < 0)
    return ds_set_error(DS_EINVAL, "trainer: accumulate must be >= 0, got %d", t->o.accumulate);
  t->dist = ds_dist_size(d) > 1 ? d : NULL;
  t->parallel = t->dist || t->o.accumulate > 1;
  if (!t->parallel) return DS_OK;
  if (t->o.objective)
    return ds_set_error(DS_EINVAL,
                        "trainer: a custom objective sees only one micro-batch or rank's "
                        "losses; data parallelism and accumulation need the mean objective");
  if (!t->dist) return DS_OK;
  ds_graph_set_reducer(t->p.g, reduce_f64, t->dist); /* for synchronised batch norm */
  /* every rank starts from rank 0's parameters and buffers (as DDP does) */
  ds_paramset *ps = ds_graph_params(t->p.g), *bs = ds_graph_buffers(t->p.g);
  ds_status st = ds_dist_broadcast(t->dist, ps->data, sizeof(float) * (size_t)ps->numel);
  if (!st && bs) st = ds_dist_broadcast(t->dist, bs->data, sizeof(float) * (size_t)bs->numel);
  return st;
}

void ds__parallel_begin(ds_trainer *t) {
  int64_t acc = t->o.accumulate > 1 ? t->o.accumulate : 1;
  int64_t global = ds_loader_batch(t->p.loader) * ds_dist_size(t->dist);
  int64_t left = ds_loader_left(t->p.loader);
  t->step_n = left < acc * global ? left : acc * global;
  t->micro = 0;
  t->step_loss = 0;
  t->step_samples = t->step_correct = 0;
  if (t->o.sam.rho > 0) ds_loader_get_state(t->p.loader, &t->sam_loader);
}

ds_status ds__parallel_totals(ds_trainer *t, double loss_sum, int64_t b, int64_t correct,
                              double *mean) {
  double s[3] = {loss_sum, (double)b, (double)correct};
  ds_status st = ds_dist_sum_f64(t->dist, s, 3);
  if (st) return st;
  *mean = s[0] / s[1]; /* NaN or Inf on any rank makes it non-finite on all */
  t->step_loss += s[0];
  t->step_samples += (int64_t)s[1];
  t->step_correct += (int64_t)s[2];
  return DS_OK;
}

ds_status ds__parallel_reduce(ds_trainer *t, int64_t b, double *loss) {
  ds_graph *g = t->p.g;
  int64_t correct = t->classes < 2 ? 0 : ds__count_correct(g, t->p.logits, t->p.y, b);
  ds_status st = ds__parallel_totals(t, *loss * (double)b, b, correct, loss);
  if (st) return st;
  float w = 1.0f / (float)(t->step_n > 0 ? t->step_n : 1);
  for (int64_t i = 0; i < b; i++)
    t->weights[i] = w;
  return DS_OK;
}

ds_status ds__parallel_backward(ds_trainer *t) {
  ds_graph *g = t->p.g;
  bool last = t->step_samples >= t->step_n; /* the step's last micro-batch */
  if (!t->dist || !last)
    return t->micro ? ds_graph_backward_accumulate(g, t->weights)
                    : ds_graph_backward(g, t->weights);
  ds_paramset *ps = ds_graph_params(g);
  ds_status st = ds_dist_grad_begin(t->dist, ps->grad, ps->numel);
  if (st) return st;
  ds_graph_set_grad_ready(g, ds_dist_grad_ready, t->dist);
  st = t->micro ? ds_graph_backward_accumulate(g, t->weights) : ds_graph_backward(g, t->weights);
  ds_graph_set_grad_ready(g, NULL, NULL);
  ds_status fst = ds_dist_grad_finish(t->dist); /* always: no reduction may stay in flight */
  return st ? st : fst;
}

ds_status ds__parallel_more(ds_trainer *t) {
  while (t->step_samples < t->step_n) {
    if (ds_loader_next_size(t->p.loader) <= 0)
      break; /* cannot happen: step_n counts what is left */
    int64_t n = ds__trainer_load(t);
    if (n < 0) return (ds_status)n;
    t->micro++;
    double l;
    ds_status st = ds__trainer_grad(t, n, &l);
    if (st) return st;
  }
  return DS_OK;
}

ds_status ds__parallel_rest(ds_trainer *t, int64_t *b, double *loss, int64_t *correct) {
  ds_graph *g = t->p.g;
  ds_status st = ds__parallel_more(t); /* nothing left after SAM's two passes */
  if (st) return st;
  if (t->dist) { /* batch-norm running statistics: the mean over the ranks */
    ds_paramset *bs = ds_graph_buffers(g);
    if (bs && bs->numel > 0) {
      st = ds_dist_sum_f32(t->dist, bs->data, bs->numel);
      if (st) return st;
      float k = 1.0f / (float)ds_dist_size(t->dist);
      for (int64_t i = 0; i < bs->numel; i++)
        bs->data[i] *= k;
    }
  }
  *b = t->step_samples;
  *loss = t->step_samples ? t->step_loss / (double)t->step_samples : NAN;
  t->objective = *loss; /* the mean objective: the step's mean loss */
  *correct = t->step_correct;
  return DS_OK;
}
