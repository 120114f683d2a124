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
 * the saved w (and the chunk-gradient sum) are allocated by ds__sam_init with the trainer.
 *
 * Under data parallelism and accumulation (parallel.c) the same step is made exact for the step's
 * N samples over all micro-batches and ranks (what davda54/sam users get under DDP):
 *   sam.m = 0  pass 1 runs every micro-batch (seeds 1/N, gradient allreduce): g is the reduced
 *              gradient of the whole step, so e is the same on every rank; the loader is rewound to
 *              the step's start (same batches, same augmentation) and pass 2 runs them again at
 *              w + e, reduced the same way; w restored. The step's totals are pass 1's.
 *   sam.m > 0  each chunk of m of a rank's samples (m divides the rank's micro-batch) runs both
 *              passes alone, e from its own local gradient; its pass-2 gradient is seeded n/N and
 *              summed over chunks and micro-batches (sam_acc), then over ranks.
 * Clipping, AGC and the optimizer then see the reduced pass-2 gradient, identical on every rank. */
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
  bool chunks = s->m > 0; /* also m = the batch: the chunk sum of parallel steps */
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

/* Swaps rows [0, n) with rows [at, at + n) of the data inputs x and y (and of the groups). */
static void swap_rows(ds_trainer *t, int64_t at, int64_t n) {
  if (at == 0) return;
  for (int64_t j = 0; t->groups && j < n; j++) {
    float tmp = t->groups[j];
    t->groups[j] = t->groups[at + j];
    t->groups[at + j] = tmp;
  }
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

ds_status ds__sam_check_parallel(const ds_trainer *t) {
  int64_t m = t->o.sam.m, b = ds_loader_batch(t->p.loader);
  if (t->o.sam.rho <= 0 || m <= 0 || b % m == 0) return DS_OK;
  return ds_set_error(DS_EINVAL,
                      "trainer: sam.m %lld does not divide this process's micro-batch of %lld: "
                      "under data parallelism or accumulation each chunk of sam.m samples of a "
                      "process takes its own ascent (sam.m = 0: one ascent from the whole step)",
                      (long long)m, (long long)b);
}

/* All micro-batches of the step from the one loaded (b samples): gradient seeds 1/N, reduced. */
static ds_status whole_pass(ds_trainer *t, int64_t b) {
  double l;
  ds_status st = ds__trainer_grad(t, b, &l);
  return st ? st : ds__parallel_more(t);
}

/* sam.m = 0: one ascent from the gradient of the step's N samples over all ranks. */
static ds_status global_ascent(ds_trainer *t, int64_t b) {
  ds_graph *g = t->p.g;
  ds_paramset *ps = ds_graph_params(g);
  ds_rng rng = *ds_graph_rng(g);
  ds_status st = whole_pass(t, b);
  if (st) return st;
  double loss = t->step_loss;
  int64_t samples = t->step_samples, correct = t->step_correct;
  ascend(t); /* the same e on every rank: g and w are */
  *ds_graph_rng(g) = rng;
  ds_graph_set_update_buffers(g, false);
  t->second_pass = true;
  t->micro = 0;
  t->step_loss = 0;
  t->step_samples = t->step_correct = 0;
  st = ds_loader_set_state(t->p.loader, &t->sam_loader); /* the step's batches again */
  int64_t n = st ? 0 : ds__trainer_load(t);
  if (n < 0) st = (ds_status)n;
  if (!st) st = whole_pass(t, n);
  t->second_pass = false;
  ds_graph_set_update_buffers(g, true);
  memcpy(ps->data, t->sam_w, sizeof(float) * (size_t)ps->numel);
  t->step_loss = loss;
  t->step_samples = samples;
  t->step_correct = correct;
  return st;
}

/* Both passes over the n samples in the front rows, locally: e from their own mean gradient, the
 * gradient at w + e seeded 1/N (N = the step's samples over all ranks) left in the gradient buffer,
 * w restored. Adds the first pass's loss sum and hits; *bad on a non-finite loss. */
static ds_status local_chunk(ds_trainer *t, int64_t n, double *loss_sum, int64_t *correct,
                             bool *bad) {
  ds_graph *g = t->p.g;
  ds_rng rng = *ds_graph_rng(g);
  ds_status st = ds_graph_set_batch(g, n);
  if (!st) st = ds_graph_forward(g);
  if (st) return st;
  double l = ds_graph_loss_mean(g);
  *loss_sum += l * (double)n;
  if (!isfinite(l)) return (*bad = true, DS_OK);
  if (t->classes >= 2) *correct += ds__count_correct(g, t->p.logits, t->p.y, n);
  for (int64_t i = 0; i < n; i++)
    t->weights[i] = 1.0f / (float)n;
  if ((st = ds_graph_backward(g, t->weights))) return st;
  ascend(t);
  *ds_graph_rng(g) = rng;
  ds_graph_set_update_buffers(g, false);
  st = ds_graph_forward(g);
  if (!st && !isfinite(ds_graph_loss_mean(g))) *bad = true;
  if (!st && !*bad) {
    for (int64_t i = 0; i < n; i++)
      t->weights[i] = 1.0f / (float)t->step_n;
    st = ds_graph_backward(g, t->weights);
  }
  ds_graph_set_update_buffers(g, true);
  ds_paramset *ps = ds_graph_params(g);
  memcpy(ps->data, t->sam_w, sizeof(float) * (size_t)ps->numel);
  return st;
}

/* sam.m > 0: every chunk of m of this rank's samples with its own ascent; the micro-batches' totals
 * are reduced one by one (a non-finite loss anywhere stops every rank there), the summed pass-2
 * gradient once at the end. */
static ds_status local_chunks(ds_trainer *t, int64_t b) {
  ds_graph *g = t->p.g;
  ds_paramset *ps = ds_graph_params(g);
  int64_t m = t->o.sam.m, chunks = 0;
  for (;;) {
    double loss_sum = 0, mean;
    int64_t correct = 0;
    bool bad = false;
    for (int64_t at = 0; at < b && !bad; at += m, chunks++) {
      int64_t n = b - at < m ? b - at : m;
      swap_rows(t, at, n);
      ds_status st = local_chunk(t, n, &loss_sum, &correct, &bad);
      swap_rows(t, at, n);
      if (st) return st;
      if (bad) break;
      if (chunks == 0)
        memcpy(t->sam_acc, ps->grad, sizeof(float) * (size_t)ps->numel);
      else
        for (int64_t j = 0; j < ps->numel; j++)
          t->sam_acc[j] += ps->grad[j];
    }
    ds_status st = ds_graph_set_batch(g, b); /* as loaded */
    if (!st) st = ds__parallel_totals(t, bad ? NAN : loss_sum, b, correct, &mean);
    if (!st) st = ds__check_loss(t, mean);
    if (st) return st;
    if (t->step_samples >= t->step_n || ds_loader_next_size(t->p.loader) <= 0) break;
    b = ds__trainer_load(t);
    if (b < 0) return (ds_status)b;
    t->micro++;
  }
  memcpy(ps->grad, t->sam_acc, sizeof(float) * (size_t)ps->numel);
  return t->dist ? ds_dist_sum_f32(t->dist, ps->grad, ps->numel) : DS_OK;
}

ds_status ds__sam_parallel_grad(ds_trainer *t, int64_t b) {
  return t->o.sam.m > 0 ? local_chunks(t, b) : global_ascent(t, b);
}
