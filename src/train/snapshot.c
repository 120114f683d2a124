/* Snapshot ensembles (Huang et al. 2017, "Snapshot Ensembles: Train 1, get M for free"): the
 * complete state saved where a cycle of the schedule ends, as files of the run directory so that
 * a resumed run keeps them, and the ensemble's averaged softmax evaluated at the end. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "descent/alloc.h"
#include "trainer_internal.h"

#define SNAP_MAX 256

void ds_run_file_path(char *buf, size_t size, const char *dir, const char *prefix, int64_t step) {
  snprintf(buf, size, "%s/%s-%08lld.safetensors", dir, prefix, (long long)step);
}

int ds_run_file_steps(const char *dir, const char *prefix, int64_t *steps, int cap) {
  if (!dir || !prefix || (cap > 0 && !steps))
    return ds_set_error(DS_EINVAL, "run files: NULL directory, prefix or steps");
  DIR *d = opendir(dir);
  if (!d) return ds_set_error(DS_EIO, "run files: cannot list directory '%s'", dir);
  int n = 0, kept = 0;
  size_t plen = strlen(prefix);
  struct dirent *e;
  while ((e = readdir(d))) {
    long long k;
    char tail[32];
    if (strncmp(e->d_name, prefix, plen) || e->d_name[plen] != '-') continue;
    if (sscanf(e->d_name + plen + 1, "%lld.%31s", &k, tail) == 2 && !strcmp(tail, "safetensors")) {
      if (kept < cap) steps[kept++] = k;
      n++;
    }
  }
  closedir(d);
  for (int i = 1; i < kept; i++) /* insertion sort: a handful of entries */
    for (int j = i; j > 0 && steps[j - 1] > steps[j]; j--) {
      int64_t s = steps[j];
      steps[j] = steps[j - 1];
      steps[j - 1] = s;
    }
  return n;
}

ds_status ds__trainer_save_numbered(ds_trainer *t, const char *dir, const char *prefix, int keep,
                                    const char *const *meta, int n_meta) {
  char path[4200];
  ds_run_file_path(path, sizeof path, dir, prefix, t->step);
  ds_status st = ds_trainer_save(t, path, meta, n_meta);
  if (st || keep == 0) return st;
  int64_t have[SNAP_MAX + 1];
  int n = ds_run_file_steps(dir, prefix, have, SNAP_MAX + 1);
  if (n < 0) return n;
  n = n < SNAP_MAX + 1 ? n : SNAP_MAX + 1;
  for (int i = 0; i < n - keep; i++) {
    ds_run_file_path(path, sizeof path, dir, prefix, have[i]);
    if (remove(path) != 0) return ds_set_error(DS_EIO, "%s: cannot remove '%s'", prefix, path);
  }
  return DS_OK;
}

ds_status ds_trainer_snapshot(ds_trainer *t, const char *dir, int keep, const char *const *meta,
                              int n_meta) {
  if (!t || !dir || keep < 1 || keep > SNAP_MAX)
    return ds_set_error(DS_EINVAL, "snapshot: need a trainer, a directory and 1 <= keep <= %d",
                        SNAP_MAX);
  return ds__trainer_save_numbered(t, dir, "snapshot", keep, meta, n_meta);
}

/* The trainer's model and optimizer state, kept in memory while snapshots are loaded. */
#define MAX_SCALARS 16
typedef struct {
  float *params, *buffers, **optim;
  int n_optim, n_scalars;
  double scalars[MAX_SCALARS];
} backup;

static ds_status backup_take(ds_trainer *t, backup *b) {
  memset(b, 0, sizeof *b);
  ds_paramset *ps = ds_graph_params(t->p.g), *bs = ds_graph_buffers(t->p.g);
  b->n_optim = ds_optim_state_count(t->p.opt);
  b->params = ds_malloc(sizeof(float) * (size_t)ps->numel);
  b->buffers = ds_malloc(sizeof(float) * (size_t)(bs->numel + 1));
  b->optim = ds_calloc((size_t)b->n_optim + 1, sizeof(float *));
  if (!b->params || !b->buffers || !b->optim) return DS_ENOMEM;
  memcpy(b->params, ps->data, sizeof(float) * (size_t)ps->numel);
  if (bs->numel) memcpy(b->buffers, bs->data, sizeof(float) * (size_t)bs->numel);
  for (int i = 0; i < b->n_optim; i++) {
    const char *name;
    float *data;
    int64_t numel;
    ds_status st = ds_optim_state(t->p.opt, i, &name, &data, &numel);
    if (st) return st;
    if (!(b->optim[i] = ds_malloc(sizeof(float) * (size_t)numel))) return DS_ENOMEM;
    memcpy(b->optim[i], data, sizeof(float) * (size_t)numel);
  }
  b->n_scalars = ds_optim_scalar_count(t->p.opt);
  if (b->n_scalars > MAX_SCALARS)
    return ds_set_error(DS_EINVAL, "snapshot ensemble: too many optimizer scalars");
  for (int i = 0; i < b->n_scalars; i++) {
    const char *name;
    double *v;
    ds_status st = ds_optim_scalar(t->p.opt, i, &name, &v);
    if (st) return st;
    b->scalars[i] = *v;
  }
  return DS_OK;
}

static void backup_restore(ds_trainer *t, const backup *b) {
  ds_paramset *ps = ds_graph_params(t->p.g), *bs = ds_graph_buffers(t->p.g);
  memcpy(ps->data, b->params, sizeof(float) * (size_t)ps->numel);
  if (bs->numel) memcpy(bs->data, b->buffers, sizeof(float) * (size_t)bs->numel);
  for (int i = 0; i < b->n_optim; i++) {
    const char *name;
    float *data;
    int64_t numel;
    if (!ds_optim_state(t->p.opt, i, &name, &data, &numel))
      memcpy(data, b->optim[i], sizeof(float) * (size_t)numel);
  }
  for (int i = 0; i < b->n_scalars; i++) {
    const char *name;
    double *v;
    if (!ds_optim_scalar(t->p.opt, i, &name, &v)) *v = b->scalars[i];
  }
}

static void backup_free(backup *b) {
  ds_free(b->params);
  ds_free(b->buffers);
  for (int i = 0; b->optim && i < b->n_optim; i++)
    ds_free(b->optim[i]);
  ds_free(b->optim);
}

ds_status ds_trainer_snapshot_ensemble(ds_trainer *t, const char *dir, const ds_dataset *d,
                                       ds_ensemble_report *out) {
  if (!t || !dir || !d || !out) return ds_set_error(DS_EINVAL, "snapshot ensemble: NULL argument");
  memset(out, 0, sizeof *out);
  if (t->classes < 2 || !d->labels)
    return ds_set_error(DS_EINVAL, "snapshot ensemble: needs a classification task");
  int64_t steps[SNAP_MAX];
  int n = ds_run_file_steps(dir, "snapshot", steps, SNAP_MAX);
  if (n <= 0) return n;
  n = n < SNAP_MAX ? n : SNAP_MAX;
  float *probs = ds_calloc((size_t)(d->n * t->classes), sizeof(float));
  backup b;
  memset(&b, 0, sizeof b);
  ds_status st = probs ? backup_take(t, &b) : DS_ENOMEM;
  bool taken = !st;
  /* the step counter and the optimizer's scalars are not touched by a partial load */
  int64_t step = t->step, epoch = t->epoch;
  for (int i = 0; i < n && !st; i++) {
    char path[4200];
    ds_run_file_path(path, sizeof path, dir, "snapshot", steps[i]);
    ds_eval_options o = ds_eval_options_default();
    o.probs = probs;
    o.probs_weight = 1.0f / (float)n;
    ds_eval_result r;
    st = ds_trainer_load(t, path, false);
    if (!st) st = ds_trainer_evaluate(t, d, &o, &r);
    if (st) break;
    out->mean_loss += r.loss / n;
    out->mean_acc += r.acc / n;
    out->best_acc = i == 0 || r.acc > out->best_acc ? r.acc : out->best_acc;
    ds_eval_result_free(&r);
  }
  if (probs && !st) {
    st = ds_eval_probs(probs, d, &out->ens);
    if (!st) out->count = n;
  }
  if (taken) backup_restore(t, &b);
  t->step = step;
  t->epoch = epoch;
  backup_free(&b);
  ds_free(probs);
  return st;
}
