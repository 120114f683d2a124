/* Large-batch rules: the linear scaling rule with gradual warm-up (Goyal et al. 2017, "Accurate,
 * Large Minibatch SGD") and a batch-size schedule that grows the batch where a step schedule
 * would decay the lr (Smith et al. 2018, "Don't Decay the Learning Rate, Increase the Batch
 * Size"), keeping every sample once per epoch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "descent/alloc.h"
#include "sched_internal.h"

double ds_linear_scaling_lr(double base_lr, int64_t batch, int64_t ref_batch) {
  if (batch <= 0 || ref_batch <= 0) return NAN;
  return base_lr * (double)batch / (double)ref_batch;
}

ds_status ds_sched_set_linear_scaling(ds_sched *s, int64_t batch, int64_t ref_batch,
                                      int64_t warmup_steps) {
  if (!s) return ds_set_error(DS_EINVAL, "ds_sched_set_linear_scaling: NULL schedule");
  if (batch <= 0 || ref_batch <= 0)
    return ds_set_error(DS_EINVAL,
                        "linear scaling rule: batch %lld and reference batch %lld must "
                        "be > 0",
                        (long long)batch, (long long)ref_batch);
  if (warmup_steps < 0)
    return ds_set_error(DS_EINVAL, "linear scaling rule: warm-up steps must be >= 0, got %lld",
                        (long long)warmup_steps);
  ds_status st = ds_sched_set_scale(s, (double)batch / (double)ref_batch);
  if (st) return st;
  /* Goyal et al.: start at the reference lr eta, reach k eta after the warm-up. */
  if (batch > ref_batch && warmup_steps > 0)
    return ds_sched_set_warmup(s, warmup_steps, DS_WARMUP_LINEAR,
                               (double)ref_batch / (double)batch);
  return ds_sched_set_warmup(s, 0, DS_WARMUP_NONE, 1);
}

struct ds_batch_sched {
  int64_t n;      /* dataset size N */
  int64_t batch0; /* B0 */
  double factor;
  int64_t cap;         /* min(max_batch, N) */
  int64_t *milestones; /* sorted */
  int count;
};

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

ds_batch_sched *ds_batch_sched_new(int64_t dataset_size, int64_t batch0, double factor,
                                   const int64_t *milestones, int n, int64_t max_batch) {
  if (dataset_size <= 0 || batch0 <= 0) {
    ds_set_error(DS_EINVAL, "batch-size schedule: dataset size %lld and batch0 %lld must be > 0",
                 (long long)dataset_size, (long long)batch0);
    return NULL;
  }
  if (!(factor >= 1) || !isfinite(factor)) {
    ds_set_error(DS_EINVAL, "batch-size schedule: factor must be finite and >= 1, got %g", factor);
    return NULL;
  }
  if (n < 0 || (n > 0 && !milestones) || max_batch < 0) {
    ds_set_error(DS_EINVAL, "batch-size schedule: bad milestones or max_batch");
    return NULL;
  }
  for (int i = 0; i < n; i++)
    if (milestones[i] < 0) {
      ds_set_error(DS_EINVAL, "batch-size schedule: milestone %d is %lld, must be >= 0", i,
                   (long long)milestones[i]);
      return NULL;
    }
  int64_t cap = max_batch > 0 && max_batch < dataset_size ? max_batch : dataset_size;
  if (batch0 > cap) {
    ds_set_error(DS_EINVAL,
                 "batch-size schedule: batch0 %lld exceeds the largest batch %lld "
                 "(max_batch or dataset size)",
                 (long long)batch0, (long long)cap);
    return NULL;
  }
  ds_batch_sched *b = ds_calloc(1, sizeof *b);
  if (!b) return NULL;
  if (n > 0) {
    b->milestones = ds_malloc((size_t)n * sizeof(int64_t));
    if (!b->milestones) {
      ds_free(b);
      return NULL;
    }
    memcpy(b->milestones, milestones, (size_t)n * sizeof(int64_t));
    qsort(b->milestones, (size_t)n, sizeof(int64_t), cmp_i64);
  }
  b->n = dataset_size;
  b->batch0 = batch0;
  b->factor = factor;
  b->cap = cap;
  b->count = n;
  return b;
}

void ds_batch_sched_free(ds_batch_sched *b) {
  if (!b) return;
  ds_free(b->milestones);
  ds_free(b);
}

static int passed(const ds_batch_sched *b, int64_t epoch) {
  int p = 0;
  while (p < b->count && b->milestones[p] <= epoch)
    p++;
  return p;
}

int64_t ds_batch_sched_batch(const ds_batch_sched *b, int64_t epoch) {
  if (!b || epoch < 0) return 0;
  double ideal = (double)b->batch0 * pow(b->factor, passed(b, epoch));
  return ideal >= (double)b->cap ? b->cap : (int64_t)llround(ideal);
}

int64_t ds_batch_sched_steps(const ds_batch_sched *b, int64_t epoch) {
  int64_t bs = ds_batch_sched_batch(b, epoch);
  return bs > 0 ? (b->n + bs - 1) / bs : 0;
}

int64_t ds_batch_sched_step_size(const ds_batch_sched *b, int64_t epoch, int64_t i) {
  int64_t bs = ds_batch_sched_batch(b, epoch), steps = ds_batch_sched_steps(b, epoch);
  if (bs <= 0 || i < 0 || i >= steps) return 0;
  return i < steps - 1 ? bs : b->n - (steps - 1) * bs;
}

int64_t ds_batch_sched_epoch_of(const ds_batch_sched *b, int64_t k, int64_t *step_in_epoch) {
  if (!b || k < 0) return -1;
  /* Walk segments between milestones: steps per epoch is constant inside one. */
  int64_t a = 0, rest = k, sp;
  int j = 0;
  for (;;) {
    while (j < b->count && b->milestones[j] <= a)
      j++;
    sp = ds_batch_sched_steps(b, a);
    if (j == b->count) break;
    int64_t len = b->milestones[j] - a; /* epochs until the next milestone */
    if (rest / sp < len) break;
    rest -= len * sp;
    a = b->milestones[j];
  }
  if (step_in_epoch) *step_in_epoch = rest % sp;
  return a + rest / sp;
}

double ds_batch_sched_lr_factor(const ds_batch_sched *b, int64_t epoch) {
  if (!b || epoch < 0) return NAN;
  double ideal = (double)b->batch0 * pow(b->factor, passed(b, epoch));
  return (double)ds_batch_sched_batch(b, epoch) / ideal;
}
