/* The settings table of `descent train`: parsing (flags, INI), validation, help and saving. */
#include "settings.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "descent/descent.h"

typedef struct {
  const char *key;
  set_type type;
  const char *def;
  const char *help;
} set_def;

static const set_def table[S_COUNT] = {
#define CLI_SET_ROW(id, key, type, def, help) {key, type, def, help},
    CLI_SETTINGS(CLI_SET_ROW)
#undef CLI_SET_ROW
};

/* Short aliases of the common keys. */
static const struct {
  const char *alias, *key;
} aliases[] = {
    {"opt", "optim.name"},        {"optim", "optim.name"},      {"lr", "optim.lr"},
    {"wd", "optim.weight_decay"}, {"epochs", "train.epochs"},   {"batch", "train.batch_size"},
    {"seed", "train.seed"},       {"threads", "train.threads"}, {"data", "data.name"},
    {"model", "model.name"},      {"sched", "sched.name"},      {"warmup", "sched.warmup_steps"},
    {"run-dir", "train.run_dir"}, {"name", "train.name"},       {"progress", "train.progress"},
};

void settings_init(settings *s) {
  memset(s, 0, sizeof *s);
  for (int i = 0; i < S_COUNT; i++)
    snprintf(s->value[i], CLI_VALUE_MAX, "%s", table[i].def);
}

const char *set_key(set_id id) { return table[id].key; }
const char *set_str(const settings *s, set_id id) { return s->value[id]; }
int64_t set_int(const settings *s, set_id id) { return strtoll(s->value[id], NULL, 10); }
double set_num(const settings *s, set_id id) { return strtod(s->value[id], NULL); }

bool set_bool(const settings *s, set_id id) {
  bool b = false;
  ds_kv_bool(table[id].key, s->value[id], &b);
  return b;
}

/* The value's type, through the library's one parser of text values (kv.h). */
static int check_value(const set_def *d, const char *v) {
  char what[96];
  snprintf(what, sizeof what, "setting '%s'", d->key);
  int64_t i;
  double x;
  bool b;
  switch (d->type) {
  case SET_INT: return ds_kv_int(what, v, &i);
  case SET_FLOAT: return ds_kv_number(what, v, &x);
  case SET_BOOL: return ds_kv_bool(what, v, &b);
  case SET_STR:
  case SET_OPT: return 0;
  }
  return 0;
}

/* Range checks that do not depend on another component. */
static int check_range(set_id id, const char *key, const char *v) {
  double x = strtod(v, NULL);
  switch (id) {
  case S_TRAIN_EPOCHS:
  case S_TRAIN_BATCH_SIZE:
  case S_TRAIN_LOG_EVERY:
    if (x < 1) return ds_set_error(DS_EINVAL, "setting '%s': %s must be >= 1", key, v);
    break;
  case S_TRAIN_THREADS:
  case S_MODEL_GROUPS:
  case S_TRAIN_CHECKPOINT_EVERY:
  case S_TRAIN_STOP_AFTER:
  case S_SCHED_WARMUP_STEPS:
  case S_SCHED_SNAPSHOTS:
  case S_OPTIM_LR:
  case S_OPTIM_CLIP_NORM:
  case S_OPTIM_CLIP_VALUE:
  case S_OPTIM_AGC:
  case S_DATA_CROP_PADDING:
  case S_SAM_ETA:
  case S_SAM_M:
  case S_DATA_TRAIN_SUBSET:
  case S_DATA_TEST_SUBSET:
  case S_TRAIN_SEED:
    if (x < 0) return ds_set_error(DS_EINVAL, "setting '%s': %s must be >= 0", key, v);
    break;
  case S_DATA_VAL_FRACTION:
  case S_MODEL_DROPOUT:
  case S_MODEL_STOCHASTIC_DEPTH:
  case S_OBJECTIVE_LABEL_SMOOTHING:
    if (x < 0 || x >= 1)
      return ds_set_error(DS_EINVAL, "setting '%s': %s must be in [0, 1)", key, v);
    break;
  case S_DATA_LABEL_NOISE:
  case S_DATA_OUTLIER_FRACTION:
  case S_OBJECTIVE_TILT_AVERAGE:
  case S_SCHED_WARMUP_START:
  case S_DATA_TEST_FRACTION:
    if (x < 0 || x > 1)
      return ds_set_error(DS_EINVAL, "setting '%s': %s must be in [0, 1]", key, v);
    break;
  case S_DATA_IMBALANCE:
    if (x < 1) return ds_set_error(DS_EINVAL, "setting '%s': %s must be >= 1", key, v);
    break;
  case S_MODEL_DEPTH:
  case S_MODEL_WIDTH: {
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*v && (*end || n < (id == S_MODEL_WIDTH ? 1 : 0)))
      return ds_set_error(DS_EINVAL, "setting '%s': '%s' is not an integer >= %d", key, v,
                          id == S_MODEL_WIDTH ? 1 : 0);
    break;
  }
  case S_TRAIN_PROGRESS:
    if (strcmp(v, "auto") && strcmp(v, "bar") && strcmp(v, "plain") && strcmp(v, "none"))
      return ds_set_error(DS_EINVAL, "setting '%s': '%s' is not one of auto, bar, plain, none", key,
                          v);
    break;
  case S_OBJECTIVE_NAME: {
    ds_objective *o = ds_objective_new(v);
    if (!o)
      return ds_set_error(DS_ENOTFOUND, "setting '%s': unknown objective '%s' (known: %s)", key, v,
                          ds_objective_names());
    ds_objective_free(o);
    break;
  }
  default: break;
  }
  return 0;
}

static bool is_extra_key(const char *key) {
  const char *dot = strchr(key, '.');
  if (!dot || !dot[1] || strchr(dot + 1, '.') || strlen(key) >= 64) return false;
  if (strncmp(key, "optim.", 6) && strncmp(key, "sched.", 6)) return false;
  for (const char *p = dot + 1; *p; p++)
    if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9')))
      return false;
  return true;
}

/* True if key names a setting (a table entry or an optimizer/schedule hyperparameter). */
static bool is_known_key(const char *key) {
  for (int i = 0; i < S_COUNT; i++)
    if (!strcmp(table[i].key, key)) return true;
  return is_extra_key(key);
}

int settings_set(settings *s, const char *key, const char *value) {
  if (strlen(value) >= CLI_VALUE_MAX)
    return ds_set_error(DS_EINVAL, "setting '%s': value too long", key);
  for (int i = 0; i < S_COUNT; i++)
    if (!strcmp(table[i].key, key)) {
      int st = check_value(&table[i], value);
      if (!st) st = check_range((set_id)i, key, value);
      if (st) return st;
      snprintf(s->value[i], CLI_VALUE_MAX, "%s", value);
      return 0;
    }
  if (is_extra_key(key)) {
    for (int i = 0; i < s->n_extra; i++)
      if (!strcmp(s->extra_key[i], key)) {
        snprintf(s->extra_value[i], CLI_VALUE_MAX, "%s", value);
        return 0;
      }
    if (s->n_extra == CLI_MAX_EXTRA)
      return ds_set_error(DS_EINVAL, "setting '%s': too many extra hyperparameters", key);
    snprintf(s->extra_key[s->n_extra], 64, "%s", key);
    snprintf(s->extra_value[s->n_extra], CLI_VALUE_MAX, "%s", value);
    s->n_extra++;
    return 0;
  }
  return ds_set_error(DS_ENOTFOUND, "unknown setting '%s' (descent train --help lists them)", key);
}

typedef struct {
  settings *s;
  const char *what;
  int status;
  int line;
} ini_ctx;

static int on_ini_entry(void *user, const char *section, const char *name, const char *value) {
  ini_ctx *c = user;
  char key[256];
  if (!*section) {
    c->status = ds_set_error(DS_EINVAL, "%s: key '%s' outside a [section]", c->what, name);
    return 0;
  }
  snprintf(key, sizeof key, "%s.%s", section, name);
  c->status = settings_set(c->s, key, value);
  if (c->status) {
    char msg[768];
    snprintf(msg, sizeof msg, "%s", ds_last_error());
    ds_set_error(c->status, "%s: %s", c->what, msg);
    return 0;
  }
  return 1;
}

int settings_load_ini(settings *s, const char *path) {
  char what[600];
  snprintf(what, sizeof what, "config '%s'", path);
  ini_ctx c = {s, what, 0, 0};
  struct stat sb;
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
    return ds_set_error(DS_EINVAL, "config file '%s' is a directory (did you mean %s/config.ini?)",
                        path, path);
  FILE *f = fopen(path, "r");
  if (!f) return ds_set_error(DS_EIO, "config file '%s': cannot open (%s)", path, strerror(errno));
  int r = ini_parse_file(f, on_ini_entry, &c);
  fclose(f);
  if (c.status) return c.status;
  if (r) return ds_set_error(DS_EFORMAT, "config file '%s': syntax error on line %d", path, r);
  return 0;
}

int settings_load_ini_string(settings *s, const char *text, const char *what) {
  ini_ctx c = {s, what, 0, 0};
  int r = ini_parse_string(text, on_ini_entry, &c);
  if (c.status) return c.status;
  if (r) return ds_set_error(DS_EFORMAT, "%s: config syntax error on line %d", what, r);
  return 0;
}

static int section_len(const char *key) { return (int)(strchr(key, '.') - key); }

void settings_write_ini(const settings *s, FILE *f) {
  fprintf(
      f,
      "; descent %s — resolved settings; repeat the run with: descent train --config <this file>\n",
      ds_version());
  for (int i = 0; i < S_COUNT; i++) {
    int sl = section_len(table[i].key);
    if (i == 0 || sl != section_len(table[i - 1].key) ||
        strncmp(table[i].key, table[i - 1].key, (size_t)sl))
      fprintf(f, "\n[%.*s]\n", sl, table[i].key);
    if (i ==
        S_TRAIN_RUN_DIR) /* a repeated config must not write into this run: a fresh directory */
      fprintf(f, "; %s (not saved: repeating this config makes a new run; this run: %s)\n%s =\n",
              table[i].help, *s->value[i] ? s->value[i] : "default", table[i].key + sl + 1);
    else
      fprintf(f, "; %s\n%s =%s%s\n", table[i].help, table[i].key + sl + 1, *s->value[i] ? " " : "",
              s->value[i]);
    bool last_of_section = i + 1 == S_COUNT || section_len(table[i + 1].key) != sl ||
                           strncmp(table[i].key, table[i + 1].key, (size_t)sl);
    if (last_of_section)
      for (int e = 0; e < s->n_extra; e++)
        if (!strncmp(s->extra_key[e], table[i].key, (size_t)sl + 1))
          fprintf(f, "%s = %s\n", s->extra_key[e] + sl + 1, s->extra_value[e]);
  }
}

static const char *type_name(set_type t) {
  switch (t) {
  case SET_STR: return "text";
  case SET_INT: return "int";
  case SET_FLOAT: return "real";
  case SET_BOOL: return "bool";
  case SET_OPT: return "opt";
  }
  return "?";
}

void settings_help(FILE *f) {
  fprintf(
      f,
      "usage: descent train [--config FILE] [--resume RUN_DIR] [--KEY=VALUE | --KEY VALUE ...]\n\n"
      "Trains a model and writes a run directory (config.ini, metrics.jsonl, summary.json,\n"
      "checkpoint.safetensors). Settings come from their defaults, then --resume's config.ini,\n"
      "then --config FILE (INI: [optim] lr = 3e-4), then the command line.\n\n"
      "  --config FILE      read settings from an INI file (e.g. a run's config.ini)\n"
      "  --resume RUN_DIR   continue the run in RUN_DIR from its checkpoint (bitwise-identical)\n"
      "  --overwrite        replace the run files of an existing run directory (otherwise a run\n"
      "                     never writes into a directory that is not empty)\n"
      "  --help             this text\n\nsettings (key, type, default, meaning):\n");
  for (int i = 0; i < S_COUNT; i++) {
    char def[80];
    snprintf(def, sizeof def, "%s", *table[i].def ? table[i].def : "\"\"");
    fprintf(f, "  %-26s %-5s %-14s %s\n", table[i].key, type_name(table[i].type), def,
            table[i].help);
  }
  fprintf(f, "  %-26s %-5s %-14s %s\n", "optim.<keyword>", "opt", "",
          "any other optimizer hyperparameter by its PyTorch name");
  fprintf(f, "  %-26s %-5s %-14s %s\n", "sched.<keyword>", "opt", "",
          "any schedule hyperparameter by its PyTorch name (T_max, eta_min, gamma, ...)");
  fprintf(f, "\naliases:");
  for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
    fprintf(f, "%s --%s=%s", i % 4 ? "," : "\n ", aliases[i].alias, aliases[i].key);
  int n;
  const char *const *on = ds_optim_names(&n);
  fprintf(f, "\n\noptimizers:");
  for (int i = 0; i < n; i++)
    fprintf(f, " %s", on[i]);
  const char *const *sn = ds_sched_names(&n);
  fprintf(f, "\nschedules: ");
  for (int i = 0; i < n; i++)
    fprintf(f, " %s", sn[i]);
  const char *const *dn = ds_dataset_names(&n);
  fprintf(f, "\ndatasets:  ");
  for (int i = 0; i < n; i++)
    fprintf(f, " %s", dn[i]);
  const char *const *mn = ds_model_names(&n);
  fprintf(f, "\nmodels:    ");
  for (int i = 0; i < n; i++)
    fprintf(f, " %s", mn[i]);
  fprintf(f, "\n");
}

static const char *resolve_alias(const char *name) {
  for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
    if (!strcmp(name, aliases[i].alias)) return aliases[i].key;
  return name;
}

int settings_parse_args(settings *s, int argc, char **argv, cli_flags *flags) {
  memset(flags, 0, sizeof *flags);
  /* Pass 1: --help, --config, --resume. */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) flags->help = true;
    if (!strcmp(a, "--overwrite")) flags->overwrite = true;
    const char **slot = !strncmp(a, "--config", 8)   ? &flags->config
                        : !strncmp(a, "--resume", 8) ? &flags->resume
                                                     : NULL;
    if (!slot || (a[8] != '\0' && a[8] != '=')) continue;
    if (a[8] == '=')
      *slot = a + 9;
    else if (i + 1 < argc)
      *slot = argv[++i];
    else
      return ds_set_error(DS_EINVAL, "option '%s' needs a value", a);
  }
  if (flags->help) return 0;
  if (flags->resume) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.ini", flags->resume);
    int st = settings_load_ini(s, path);
    if (st) return st;
    st = settings_set(s, "train.run_dir", flags->resume);
    if (!st) st = settings_set(s, "train.stop_after", "0"); /* per invocation, not inherited */
    if (st) return st;
  }
  if (flags->config) {
    int st = settings_load_ini(s, flags->config);
    if (st) return st;
  }
  /* Pass 2: settings. */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2) || !a[2])
      return ds_set_error(DS_EINVAL, "unexpected argument '%s' (settings are --key=value)", a);
    if ((!strncmp(a, "--config", 8) || !strncmp(a, "--resume", 8)) &&
        (a[8] == '\0' || a[8] == '=')) {
      if (a[8] == '\0') i++;
      continue;
    }
    if (!strcmp(a, "--overwrite")) continue;
    char name[256];
    const char *eq = strchr(a + 2, '='), *value;
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (len >= sizeof name) return ds_set_error(DS_EINVAL, "option '%s' too long", a);
    memcpy(name, a + 2, len);
    name[len] = '\0';
    if (eq)
      value = eq + 1;
    else if (i + 1 < argc)
      value = argv[++i];
    else if (!is_known_key(resolve_alias(name)))
      return ds_set_error(DS_ENOTFOUND, "unknown option '--%s' (descent train --help lists them)",
                          name);
    else
      return ds_set_error(DS_EINVAL, "option '--%s' needs a value", name);
    int st = settings_set(s, resolve_alias(name), value);
    if (st) return st;
  }
  return 0;
}
