/* Rebuilding a trained model for the analysis commands: the run assembly of cli/run.c (as
 * `descent eval` uses it), the initial weights regenerated from the run's seed, the checkpoint's
 * weights loaded. */
#include "analysis_load.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"

/* path, or path/checkpoint.safetensors if path is a directory, into out. */
static void checkpoint_path(const char *path, char *out, size_t n) {
  struct stat sb;
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
    snprintf(out, n, "%s/checkpoint.safetensors", path);
  else
    snprintf(out, n, "%s", path);
}

int analysis_load(const char *target, int64_t batch, const char *threads, analysis_model *m) {
  memset(m, 0, sizeof *m);
  settings_init(&m->r.cfg);
  struct stat sb;
  if (stat(target, &sb) != 0)
    return ds_set_error(DS_EIO, "'%s': no such run directory or checkpoint", target);
  checkpoint_path(target, m->ckpt, sizeof m->ckpt);
  if (S_ISDIR(sb.st_mode)) {
    snprintf(m->dir, sizeof m->dir, "%s", target);
  } else {
    const char *slash = strrchr(target, '/');
    snprintf(m->dir, sizeof m->dir, "%.*s", slash ? (int)(slash - target) : 1,
             slash ? target : ".");
    if (!m->dir[0]) snprintf(m->dir, sizeof m->dir, "/");
  }
  int st = checkpoint_read_config(m->ckpt, &m->r.cfg);
  if (!st && threads) st = settings_set(&m->r.cfg, "train.threads", threads);
  if (!st && batch > 0) {
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)batch);
    st = settings_set(&m->r.cfg, "train.batch_size", v);
  }
  if (st) return st;
  run_set_threads(&m->r);
  st = run_setup_data(&m->r);
  if (!st) st = run_setup_model(&m->r);
  if (st) return st;
  ds_paramset *ps = ds_graph_params(m->r.g), *bufs = ds_graph_buffers(m->r.g);
  m->init = ds_malloc(sizeof(float) * (size_t)(ps->numel ? ps->numel : 1));
  m->init_buffers = ds_malloc(sizeof(float) * (size_t)(bufs->numel ? bufs->numel : 1));
  if (!m->init || !m->init_buffers) return DS_ENOMEM;
  analysis_copy(m->init, ps->data, ps->numel);
  analysis_copy(m->init_buffers, bufs->data, bufs->numel);
  st = run_setup_training(&m->r);
  if (!st) st = analysis_load_weights(m, m->ckpt);
  return st;
}

int analysis_load_weights(analysis_model *m, const char *path) {
  char file[4200];
  checkpoint_path(path, file, sizeof file);
  int st = ds_trainer_load(m->r.trainer, file, false);
  if (!st) st = ds_optim_eval_mode(m->r.opt, true); /* schedule-free: the averaged weights */
  return st;
}

int analysis_worker(analysis_model *m, ds_graph **g, ds_node *x, ds_node *y) {
  run w = m->r; /* shares the datasets and settings; only the graph is new */
  w.g = NULL;
  int st = run_setup_model(&w);
  if (st) {
    ds_graph_free(w.g);
    return st;
  }
  ds_paramset *src = ds_graph_params(m->r.g), *dst = ds_graph_params(w.g);
  analysis_copy(dst->data, src->data, src->numel);
  src = ds_graph_buffers(m->r.g);
  dst = ds_graph_buffers(w.g);
  analysis_copy(dst->data, src->data, src->numel);
  *g = w.g;
  *x = w.x;
  *y = w.y;
  return 0;
}

void analysis_free(analysis_model *m) {
  run_free(&m->r);
  ds_free(m->init);
  ds_free(m->init_buffers);
}

void analysis_copy(float *dst, const float *src, int64_t n) {
  if (n > 0) memcpy(dst, src, sizeof(float) * (size_t)n);
}

int analysis_write_json(const char *path, const cJSON *o) {
  char *text = cJSON_Print(o);
  if (!text) return ds_set_error(DS_ENOMEM, "'%s': out of memory", path);
  size_t n = strlen(text);
  text[n] = '\n'; /* replaces the NUL: written with its length */
  int st = ds_write_file_atomic(path, text, n + 1);
  cJSON_free(text);
  return st;
}
