/* Sharpness-aware minimisation as a gradient wrapper of the training step (train.h,
 * ds_sam_options). Semantics of davda54/sam (SAM.first_step / second_step) with ASAM's T = |w| +
 * eta on weights and norm gains only (the ASAM authors' code), one global norm over all parameters:
 *
 *   g = grad L(w)                     first pass: batch norm updates its running statistics
 *   e = rho T^2 g / (||T g|| + 1e-12) T = 1 for plain SAM
 *   w <- w + e; g' = grad L(w)        second pass: running statistics untouched, same dropout
 *                                     masks, the objective's running state (stochastic TERM) frozen
 *   w <- saved w; gradient = g'       the optimizer (with clipping, weight decay) steps with g'
 *
 * m-sharpness: the batch is cut into consecutive chunks of m samples, each runs both passes with
 * its own e and objective; the gradient is the mean of the chunks' g'. A chunk is moved to the
 * front rows of the inputs by swapping, and swapped back afterwards. Nothing is allocated here:
 * the saved w (and the chunk-gradient sum) are allocated by ds__sam_init with the trainer. */
#include <math.h>
#include <string.h>

#include "descent/alloc.h"
#include "trainer_internal.h"

ds_status ds__sam_init(ds_trainer *t) {
  const ds_sam_options *s = &t->o.sam;
  if (!(s->rho >= 0) || !isfinite(s->rho))
    return ds_set_error(DS_EINVAL, "trainer: sam.rho %g must be >= 0", s->rho);
  if (s->rho == 0) return DS_OK;
  if (!(s->eta >= 0) || !isfinite(s->eta))
    return ds_set_error(DS_EINVAL, "trainer: sam.eta %g must be >= 0", s->eta);
  if (s->m < 0) return ds_set_error(DS_EINVAL, "trainer: sam.m %lld must be >= 0", (long long)s->m);
  ds_paramset *ps = ds_graph_params(t->p.g);
  bool chunks = s->m > 0 && s->m < ds_graph_max_batch(t->p.g);
  t->sam_w = ds_malloc(sizeof(float) * (size_t)ps->numel);
  t->sam_acc = chunks ? ds_malloc(sizeof(float) * (size_t)ps->numel) : NULL;
  if (!t->sam_w || (chunks && !t->sam_acc)) return DS_ENOMEM;
  return DS_OK;
}

void ds__sam_free(ds_trainer *t) {
  ds_free(t->sam_w);
  ds_free(t->sam_acc);
  t->sam_w = t->sam_acc = NULL;
}

/* ASAM's T applies to weights and norm gains; biases (and other tensors) keep T = 1. */
static bool scaled(const ds_param_info *p) {
  return p->role == DS_ROLE_WEIGHT || p->role == DS_ROLE_NORM_GAIN;
}

/* Saves w and moves it to w + e (e from the current gradient). */
static void ascend(ds_trainer *t) {
  ds_paramset *ps = ds_graph_params(t->p.g);
  const ds_sam_options *s = &t->o.sam;
  double ss = 0;
  for (int i = 0; i < ps->count; i++) {
    const ds_param_info *p = &ps->info[i];
    const float *w = ps->data + p->offset, *g = ps->grad + p->offset;
    bool a = s->adaptive && scaled(p);
    double part = 0;
    for (int64_t j = 0; j < p->numel; j++) {
      double tg = a ? (fabs((double)w[j]) + s->eta) * g[j] : g[j];
      part += tg * tg;
    }
    ss += part;
  }
  double scale = s->rho / (sqrt(ss) + 1e-12);
  memcpy(t->sam_w, ps->data, sizeof(float) * (size_t)ps->numel);
  for (int i = 0; i < ps->count; i++) {
    const ds_param_info *p = &ps->info[i];
    float *w = ps->data + p->offset;
    const float *g = ps->grad + p->offset;
    bool a = s->adaptive && scaled(p);
    for (int64_t j = 0; j < p->numel; j++) {
      double tt = a ? (fabs((double)t->sam_w[p->offset + j]) + s->eta) : 1.0;
      w[j] = (float)((double)w[j] + scale * tt * tt * g[j]);
    }
  }
}

/* Swaps rows [0, n) with rows [at, at + n) of the data inputs x and y. */
static void swap_rows(ds_trainer *t, int64_t at, int64_t n) {
  if (at == 0) return;
  ds_node in[2] = {t->p.x, t->p.y};
  for (int k = 0; k < 2; k++) {
    ds_shape s = ds_graph_shape(t->p.g, in[k]);
    int64_t row = ds_shape_numel(&s) / s.dim[0];
    float *v = ds_graph_value(t->p.g, in[k]);
    for (int64_t j = 0; j < n * row; j++) {
      float tmp = v[j];
      v[j] = v[at * row + j];
      v[at * row + j] = tmp;
    }
  }
}

/* Both passes over the n samples in the front rows: gradient at w + e in the gradient buffer, w
 * restored. Adds the first pass's mean loss, objective and correct count to the sums. */
static ds_status chunk(ds_trainer *t, int64_t n, double *loss, double *objective,
                       int64_t *correct) {
  ds_graph *g = t->p.g;
  ds_rng rng = *ds_graph_rng(g); /* the second pass draws the same dropout masks */
  double l;
  ds_status st = ds_graph_set_batch(g, n);
  if (!st) st = ds__trainer_grad(t, n, &l);
  if (st) return st;
  *loss += l;
  *objective += t->objective;
  if (t->classes >= 2) *correct += ds__count_correct(g, t->p.logits, t->p.y, n);
  ascend(t);
  *ds_graph_rng(g) = rng;
  ds_graph_set_update_buffers(g, false);
  t->second_pass = true;
  st = ds__trainer_grad(t, n, &l);
  t->second_pass = false;
  ds_graph_set_update_buffers(g, true);
  ds_paramset *ps = ds_graph_params(g);
  memcpy(ps->data, t->sam_w, sizeof(float) * (size_t)ps->numel);
  return st;
}

ds_status ds__sam_grad(ds_trainer *t, int64_t b, double *loss) {
  ds_paramset *ps = ds_graph_params(t->p.g);
  int64_t m = t->o.sam.m > 0 && t->o.sam.m < b ? t->o.sam.m : b, k = 0;
  double loss_sum = 0, obj_sum = 0;
  int64_t correct = 0;
  ds_status st = DS_OK;
  for (int64_t at = 0; at < b && !st; at += m, k++) {
    int64_t n = b - at < m ? b - at : m;
    swap_rows(t, at, n);
    st = chunk(t, n, &loss_sum, &obj_sum, &correct);
    swap_rows(t, at, n);
    if (st || m == b) break;
    if (k == 0)
      memcpy(t->sam_acc, ps->grad, sizeof(float) * (size_t)ps->numel);
    else
      for (int64_t j = 0; j < ps->numel; j++)
        t->sam_acc[j] += ps->grad[j];
  }
  if (!st && m < b) st = ds_graph_set_batch(t->p.g, b); /* as the step found it */
  if (st) return st;
  if (m < b) {
    float inv = 1.0f / (float)k;
    for (int64_t j = 0; j < ps->numel; j++)
      ps->grad[j] = t->sam_acc[j] * inv;
  }
  int64_t chunks = m < b ? k : 1;
  *loss = loss_sum / (double)chunks;
  t->objective = obj_sum / (double)chunks;
  t->sam_correct = correct;
  return DS_OK;
}
