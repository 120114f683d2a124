/* The training loss over a fixed subset of a dataset, and its gradient accumulated in double:
 * the function whose Hessian, sharpness and landscape the analysis tools measure. */
#include <math.h>
#include <string.h>

#include "analysis/analysis_internal.h"
#include "descent/alloc.h"

ds_lossfn *ds_lossfn_new(ds_graph *g, ds_node x, ds_node y, const ds_dataset *d, int64_t n,
                         bool training) {
  if (!g || !d || !ds_graph_is_compiled(g)) {
    ds_set_error(DS_EINVAL, "loss over a subset: needs a compiled graph and a dataset");
    return NULL;
  }
  if (!ds_graph_is_input(g, x) || !ds_graph_is_input(g, y)) {
    ds_set_error(DS_EINVAL, "loss over a subset: x and y must be data inputs of the graph");
    return NULL;
  }
  ds_shape xs = ds_graph_shape(g, x);
  int64_t per = ds_shape_numel(&xs) / xs.dim[0], dper = ds_shape_numel(&d->sample_shape);
  if (per != dper) {
    char a[64];
    ds_shape_str(&d->sample_shape, a, sizeof a);
    ds_set_error(DS_ESHAPE,
                 "loss over a subset: dataset '%s' has samples of shape %s, the model's input '%s' "
                 "takes %lld values per sample",
                 d->name, a, ds_graph_node_name(g, x), (long long)per);
    return NULL;
  }
  ds_lossfn *f = ds_calloc(1, sizeof *f);
  if (!f) return NULL;
  ds_paramset *ps = ds_graph_params(g), *bufs = ds_graph_buffers(g);
  f->g = g;
  f->x = x;
  f->y = y;
  f->d = d;
  f->n = n <= 0 || n > d->n ? d->n : n;
  f->training = training;
  f->numel = ps->numel;
  f->idx = ds_malloc(sizeof(int64_t) * (size_t)ds_graph_max_batch(g));
  f->acc = ds_malloc(sizeof(double) * (size_t)(ps->numel ? ps->numel : 1));
  f->nbuf = bufs ? bufs->numel : 0;
  f->bufsave = f->nbuf ? ds_malloc(sizeof(float) * (size_t)f->nbuf) : NULL;
  if (!f->idx || !f->acc || (f->nbuf && !f->bufsave)) {
    ds_lossfn_free(f);
    return NULL;
  }
  return f;
}

void ds_lossfn_free(ds_lossfn *f) {
  if (!f) return;
  ds_free(f->idx);
  ds_free(f->acc);
  ds_free(f->bufsave);
  ds_free(f);
}

ds_graph *ds_lossfn_graph(ds_lossfn *f) { return f ? f->g : NULL; }
int64_t ds_lossfn_samples(const ds_lossfn *f) { return f ? f->n : 0; }

ds_status ds_lossfn_eval(ds_lossfn *f, double *loss, double *grad) {
  if (!f || !loss) return ds_set_error(DS_EINVAL, "loss over a subset: NULL argument");
  ds_graph *g = f->g;
  ds_paramset *ps = ds_graph_params(g), *bufs = ds_graph_buffers(g);
  if (ps->numel != f->numel)
    return ds_set_error(DS_ESTATE, "loss over a subset: the graph's parameters changed size");
  bool was = ds_graph_training(g);
  ds_graph_set_training(g, f->training);
  if (f->nbuf) memcpy(f->bufsave, bufs->data, sizeof(float) * (size_t)f->nbuf);
  if (grad) memset(f->acc, 0, sizeof(double) * (size_t)f->numel);
  int64_t mb = ds_graph_max_batch(g);
  double sum = 0;
  ds_status st = 0;
  for (int64_t s = 0; s < f->n && !st; s += mb) {
    int64_t b = f->n - s < mb ? f->n - s : mb;
    for (int64_t i = 0; i < b; i++)
      f->idx[i] = s + i;
    st = ds_graph_set_batch(g, b);
    if (!st) st = ds_dataset_get(f->d, f->idx, b, ds_graph_value(g, f->x), ds_graph_value(g, f->y));
    if (!st) st = ds_graph_forward(g);
    if (st) break;
    sum += ds_graph_loss_mean(g) * (double)b;
    if (!grad) continue;
    st = ds_graph_backward(g, NULL); /* gradient of the batch mean: weight it by b / n */
    double wgt = (double)b / (double)f->n;
    const float *gr = ps->grad;
    double *acc = f->acc;
#pragma omp parallel for schedule(static) if (f->numel > 65536)
    for (int64_t i = 0; i < f->numel; i++)
      acc[i] += wgt * gr[i];
  }
  if (f->nbuf) memcpy(bufs->data, f->bufsave, sizeof(float) * (size_t)f->nbuf);
  ds_graph_set_training(g, was);
  if (st) return st;
  *loss = sum / (double)f->n;
  if (!isfinite(*loss))
    return ds_set_error(DS_ENUMERIC, "loss over %lld samples of '%s' is not finite",
                        (long long)f->n, f->d->name);
  if (grad) memcpy(grad, f->acc, sizeof(double) * (size_t)f->numel);
  return 0;
}
