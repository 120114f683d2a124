/* Snapshot ensembles in a training run: files at cycle ends, averaged softmax at the end. */
#include "snapshots.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_MAX 64

int snapshot_check(const run *r) {
  int64_t m = set_int(&r->cfg, S_SCHED_SNAPSHOTS);
  if (m == 0) return 0;
  const char *s = set_str(&r->cfg, S_SCHED_NAME);
  if (strcmp(s, "cosine_restarts") && strcmp(s, "cyclic"))
    return ds_set_error(DS_EINVAL,
                        "sched.snapshots: snapshot ensembles need a schedule with cycles "
                        "(cosine_restarts or cyclic), not '%s'", s);
  if (r->regression || r->logits < 0)
    return ds_set_error(DS_EINVAL, "sched.snapshots: snapshot ensembles need a classification task");
  if (m > SNAP_MAX)
    return ds_set_error(DS_EINVAL, "sched.snapshots: at most %d snapshots, not %lld", SNAP_MAX,
                        (long long)m);
  return 0;
}

/* Steps of the snapshot files in dir, ascending; returns their count (at most cap). */
static int list_snapshots(const char *dir, int64_t *steps, int cap) {
  DIR *d = opendir(dir);
  if (!d) return ds_set_error(DS_EIO, "run directory '%s': cannot list", dir);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    long long k;
    char tail[32];
    if (sscanf(e->d_name, "snapshot-%lld.%31s", &k, tail) == 2 && !strcmp(tail, "safetensors") &&
        n < cap)
      steps[n++] = k;
  }
  closedir(d);
  for (int i = 1; i < n; i++) /* insertion sort: a handful of entries */
    for (int j = i; j > 0 && steps[j - 1] > steps[j]; j--) {
      int64_t t = steps[j];
      steps[j] = steps[j - 1];
      steps[j - 1] = t;
    }
  return n;
}

static void snapshot_path(char *buf, size_t size, const char *dir, int64_t step) {
  snprintf(buf, size, "%s/snapshot-%08lld.safetensors", dir, (long long)step);
}

int snapshot_after_step(run *r, const char *dir, int64_t steps) {
  int64_t keep = set_int(&r->cfg, S_SCHED_SNAPSHOTS);
  if (keep == 0 || !ds_sched_cycle_ends(r->sched, steps - 1)) return 0;
  char path[4300];
  snapshot_path(path, sizeof path, dir, steps);
  int st = checkpoint_save(r, path);
  if (st) return st;
  int64_t have[SNAP_MAX + 1];
  int n = list_snapshots(dir, have, SNAP_MAX + 1);
  for (int i = 0; i < n - keep; i++) {
    snapshot_path(path, sizeof path, dir, have[i]);
    remove(path);
  }
  return n < 0 ? n : 0;
}

/* Softmax probabilities of the current parameters on every sample of d, in eval mode, added with
 * weight w into acc (n x C); also the mean loss and accuracy of these probabilities alone. */
static int predict(run *r, const ds_dataset *d, float w, float *acc, int64_t *idx, double *loss,
                   double *accuracy) {
  ds_graph *g = r->g;
  int64_t B = ds_graph_max_batch(g), C = r->n_classes, correct = 0;
  double nll = 0;
  ds_graph_set_training(g, false);
  int st = 0;
  for (int64_t s = 0; s < d->n && !st; s += B) {
    int64_t b = d->n - s < B ? d->n - s : B;
    for (int64_t i = 0; i < b; i++) idx[i] = s + i;
    st = ds_graph_set_batch(g, b);
    if (!st) st = ds_dataset_get(d, idx, b, ds_graph_value(g, r->x), ds_graph_value(g, r->y));
    if (!st) st = ds_graph_forward(g);
    if (st) break;
    const float *z = ds_graph_value(g, r->logits);
    for (int64_t i = 0; i < b; i++) {
      const float *zi = z + i * C;
      int64_t best = 0, label = d->labels[s + i];
      double mx = zi[0], sum = 0;
      for (int64_t c = 1; c < C; c++) mx = zi[c] > mx ? zi[c] : mx;
      for (int64_t c = 0; c < C; c++) sum += exp(zi[c] - mx);
      for (int64_t c = 0; c < C; c++) {
        double p = exp(zi[c] - mx) / sum;
        acc[(s + i) * C + c] += w * (float)p;
        if (zi[c] > zi[best]) best = c;
      }
      nll += mx + log(sum) - zi[label];
      correct += best == label;
    }
  }
  ds_graph_set_training(g, true);
  *loss = nll / (double)d->n;
  *accuracy = (double)correct / (double)d->n;
  return st;
}

int snapshot_ensemble(run *r, const char *dir, const char *ckpt, snapshot_report *out) {
  memset(out, 0, sizeof *out);
  if (set_int(&r->cfg, S_SCHED_SNAPSHOTS) == 0) return 0;
  int64_t steps[SNAP_MAX];
  int n = list_snapshots(dir, steps, SNAP_MAX);
  if (n <= 0) return n;
  const ds_dataset *d = r->test;
  int64_t C = r->n_classes;
  float *probs = ds_calloc((size_t)(d->n * C), sizeof(float));
  int64_t *idx = ds_malloc((size_t)ds_graph_max_batch(r->g) * sizeof(int64_t));
  int st = probs && idx ? 0 : DS_ENOMEM;
  for (int i = 0; i < n && !st; i++) {
    char path[4300];
    double l = 0, a = 0;
    snapshot_path(path, sizeof path, dir, steps[i]);
    st = ds_trainer_load(r->trainer, path, false);
    if (!st) st = predict(r, d, 1.0f / (float)n, probs, idx, &l, &a);
    out->mean_loss += l / n;
    out->mean_acc += a / n;
  }
  if (!st) {
    double nll = 0;
    int64_t correct = 0;
    for (int64_t i = 0; i < d->n; i++) {
      const float *p = probs + i * C;
      int64_t best = 0;
      for (int64_t c = 1; c < C; c++)
        if (p[c] > p[best]) best = c;
      correct += best == d->labels[i];
      nll -= log(p[d->labels[i]] > 1e-30f ? (double)p[d->labels[i]] : 1e-30);
    }
    out->count = n;
    out->ens_loss = nll / (double)d->n;
    out->ens_acc = (double)correct / (double)d->n;
  }
  ds_free(probs);
  ds_free(idx);
  int st2 = ds_trainer_load(r->trainer, ckpt, true); /* back to the end of the run */
  return st ? st : st2;
}
