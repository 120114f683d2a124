/* The CLI's side of checkpoints: the trainer writes the state (src/train/checkpoint.c); the
 * resolved settings ride along as the "config" metadata, so eval and resume rebuild the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "run.h"

static char *config_text(const settings *cfg) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return NULL;
  settings_write_ini(cfg, f);
  fclose(f);
  return text;
}

int checkpoint_save(run *r, const char *path) {
  char *cfg = config_text(&r->cfg);
  if (!cfg) return ds_set_error(DS_ENOMEM, "checkpoint '%s': out of memory", path);
  const char *meta[2] = {"config", cfg};
  int st = ds_trainer_save(r->trainer, path, meta, 1);
  free(cfg);
  return st;
}

int checkpoint_read_config(const char *path, settings *cfg) {
  ds_safetensors *s = ds_safetensors_read(path);
  if (!s) return DS_EFORMAT;
  const char *text = ds_safetensors_meta(s, "config");
  int st = 0;
  if (!text)
    st = ds_set_error(DS_EFORMAT,
                      "checkpoint '%s': not a descent training checkpoint (no config metadata)",
                      path);
  char what[600];
  snprintf(what, sizeof what, "checkpoint '%s'", path);
  if (!st) st = settings_load_ini_string(cfg, text, what);
  ds_safetensors_free(s);
  return st;
}

int checkpoint_open_run(run *r, const char *target, const char *model, const char *threads) {
  char path[512];
  struct stat sb;
  bool dir = stat(target, &sb) == 0 && S_ISDIR(sb.st_mode);
  if (snprintf(path, sizeof path, dir ? "%s/checkpoint.safetensors" : "%s", target) >=
      (int)sizeof path)
    return ds_set_error(DS_EINVAL, "checkpoint path '%.100s...' is too long", target);
  memset(r, 0, sizeof *r);
  settings_init(&r->cfg);
  int st = checkpoint_read_config(path, &r->cfg);
  if (!st && model && strcmp(set_str(&r->cfg, S_MODEL_NAME), model))
    st = ds_set_error(DS_EINVAL, "checkpoint '%s' holds a %s, not a %s", path,
                      set_str(&r->cfg, S_MODEL_NAME), model);
  if (!st && threads) st = settings_set(&r->cfg, "train.threads", threads);
  if (st) return st;
  run_set_threads(r);
  st = run_setup_data(r);
  if (!st) st = run_setup_model(r);
  if (!st) st = run_setup_training(r);
  if (!st) st = ds_trainer_load(r->trainer, path, false);
  return st;
}
