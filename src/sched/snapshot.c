/* Snapshot ensembles (Huang et al. 2017, "Snapshot Ensembles: Train 1, get M for free"): copies
 * of the flat parameter buffer taken at the end of each cosine cycle, and prediction by averaging
 * the snapshots' softmax outputs. */
#include <math.h>
#include <string.h>

#include "descent/alloc.h"
#include "descent/sched.h"

struct ds_snapshots {
  ds_param_info *layout; /* count entries, copied from the model */
  int count;
  int64_t numel;
  int capacity; /* M */
  int held;
  int oldest; /* ring index of snapshot 0 */
  float *buf; /* capacity * numel */
  int64_t *steps;
};

ds_snapshots *ds_snapshots_new(const ds_paramset *layout, int capacity) {
  if (!layout || capacity < 1) {
    ds_set_error(DS_EINVAL, "snapshots: need a parameter set and capacity >= 1 (got %d)", capacity);
    return NULL;
  }
  if (layout->numel <= 0 || layout->count <= 0) {
    ds_set_error(DS_EINVAL, "snapshots: the parameter set is empty");
    return NULL;
  }
  ds_snapshots *s = ds_calloc(1, sizeof *s);
  if (!s) return NULL;
  s->layout = ds_malloc((size_t)layout->count * sizeof *s->layout);
  s->buf = ds_malloc((size_t)capacity * (size_t)layout->numel * sizeof(float));
  s->steps = ds_malloc((size_t)capacity * sizeof *s->steps);
  if (!s->layout || !s->buf || !s->steps) {
    ds_snapshots_free(s);
    return NULL;
  }
  memcpy(s->layout, layout->info, (size_t)layout->count * sizeof *s->layout);
  s->count = layout->count;
  s->numel = layout->numel;
  s->capacity = capacity;
  return s;
}

void ds_snapshots_free(ds_snapshots *s) {
  if (!s) return;
  ds_free(s->layout);
  ds_free(s->buf);
  ds_free(s->steps);
  ds_free(s);
}

/* DS_ESHAPE naming the first difference between ps and the recorded layout. */
static ds_status check_layout(const ds_snapshots *s, const ds_paramset *ps) {
  if (!ps || !ps->data) return ds_set_error(DS_EINVAL, "snapshots: NULL parameter set");
  int common = ps->count < s->count ? ps->count : s->count;
  for (int i = 0; i < common; i++) {
    const ds_param_info *a = &ps->info[i], *b = &s->layout[i];
    if (strcmp(a->name, b->name) != 0 || !ds_shape_equal(&a->shape, &b->shape) ||
        a->offset != b->offset) {
      char sa[64], sb[64];
      return ds_set_error(DS_ESHAPE,
                          "snapshots: parameter %d is '%s' %s at offset %lld in the "
                          "model but '%s' %s at offset %lld in the store",
                          i, a->name, ds_shape_str(&a->shape, sa, sizeof sa), (long long)a->offset,
                          b->name, ds_shape_str(&b->shape, sb, sizeof sb), (long long)b->offset);
    }
  }
  if (ps->count != s->count || ps->numel != s->numel)
    return ds_set_error(DS_ESHAPE,
                        "snapshots: the model has %d parameters (%lld values), the "
                        "store was made for %d (%lld values)",
                        ps->count, (long long)ps->numel, s->count, (long long)s->numel);
  return DS_OK;
}

static float *slot(const ds_snapshots *s, int i) {
  return s->buf + (size_t)((s->oldest + i) % s->capacity) * (size_t)s->numel;
}

ds_status ds_snapshots_add(ds_snapshots *s, const ds_paramset *ps, int64_t step) {
  if (!s) return ds_set_error(DS_EINVAL, "snapshots: NULL store");
  ds_status st = check_layout(s, ps);
  if (st) return st;
  if (s->held == s->capacity) { /* drop the oldest */
    s->oldest = (s->oldest + 1) % s->capacity;
    s->held--;
  }
  int at = (s->oldest + s->held) % s->capacity;
  memcpy(s->buf + (size_t)at * (size_t)s->numel, ps->data, (size_t)s->numel * sizeof(float));
  s->steps[at] = step;
  s->held++;
  return DS_OK;
}

int ds_snapshots_count(const ds_snapshots *s) { return s ? s->held : 0; }

int64_t ds_snapshots_step(const ds_snapshots *s, int i) {
  if (!s || i < 0 || i >= s->held) return -1;
  return s->steps[(s->oldest + i) % s->capacity];
}

ds_status ds_snapshots_load(const ds_snapshots *s, int i, ds_paramset *ps) {
  if (!s) return ds_set_error(DS_EINVAL, "snapshots: NULL store");
  if (i < 0 || i >= s->held)
    return ds_set_error(DS_EINVAL, "snapshots: no snapshot %d (%d held)", i, s->held);
  ds_status st = check_layout(s, ps);
  if (st) return st;
  memcpy(ps->data, slot(s, i), (size_t)s->numel * sizeof(float));
  return DS_OK;
}

ds_status ds_snapshots_predict(const ds_snapshots *s, ds_paramset *ps, ds_logits_fn fn, void *ctx,
                               int64_t n, int64_t classes, float *probs) {
  if (!s || !fn || !probs || n <= 0 || classes <= 0)
    return ds_set_error(DS_EINVAL, "snapshots: predict needs a store, a logits function, n > 0, "
                                   "classes > 0 and an output buffer");
  if (s->held == 0) return ds_set_error(DS_ESTATE, "snapshots: the store holds no snapshot");
  ds_status st = check_layout(s, ps);
  if (st) return st;
  size_t nc = (size_t)n * (size_t)classes;
  float *logits = ds_malloc(nc * sizeof *logits);
  float *saved = ds_malloc((size_t)s->numel * sizeof *saved);
  double *acc = ds_calloc(nc, sizeof *acc);
  if (!logits || !saved || !acc) {
    st = DS_ENOMEM;
    goto done;
  }
  memcpy(saved, ps->data, (size_t)s->numel * sizeof *saved);
  for (int m = 0; m < s->held; m++) {
    memcpy(ps->data, slot(s, m), (size_t)s->numel * sizeof(float));
    st = fn(ctx, ps, logits);
    if (st) break;
    for (int64_t i = 0; i < n; i++) { /* softmax of row i, in double */
      const float *z = logits + i * classes;
      double mx = z[0], sum = 0;
      for (int64_t c = 1; c < classes; c++) mx = z[c] > mx ? z[c] : mx;
      for (int64_t c = 0; c < classes; c++) sum += exp((double)z[c] - mx);
      for (int64_t c = 0; c < classes; c++) acc[i * classes + c] += exp((double)z[c] - mx) / sum;
    }
  }
  memcpy(ps->data, saved, (size_t)s->numel * sizeof *saved);
  if (!st)
    for (size_t j = 0; j < nc; j++) probs[j] = (float)(acc[j] / s->held);
done:
  ds_free(logits);
  ds_free(saved);
  ds_free(acc);
  return st;
}
