/* The CLI's side of checkpoints: the trainer writes the state (src/train/checkpoint.c); the
 * resolved settings ride along as the "config" metadata, so eval and resume rebuild the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    st = ds_set_error(DS_EFORMAT, "checkpoint '%s': not a descent training checkpoint (no config metadata)", path);
  char what[600];
  snprintf(what, sizeof what, "checkpoint '%s'", path);
  if (!st) st = settings_load_ini_string(cfg, text, what);
  ds_safetensors_free(s);
  return st;
}
