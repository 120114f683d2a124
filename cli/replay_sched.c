/* descent replay, schedule cases (../shared/REPLAY.md "Schedule case"):
 *   {"kind": "schedule", "schedule": NAME, "hyper": {PyTorch keywords, "lr": base lr},
 *    "steps": N, "warmup": {"steps": W, "kind": "linear"|"exponential", "start_factor": f},
 *    "steps_per_epoch": S}
 * ("warmup" and "steps_per_epoch" optional) prints {"lr": [lr at steps 0 .. N-1]}. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "commands.h"
#include "descent/descent.h"
#include "replay.h"

#define MAX_VALUES 256

/* Sets one "hyper" entry on s: number, list of numbers, bool, string or null. */
static ds_status set_hyper(ds_sched *s, const cJSON *item) {
  const char *key = item->string;
  if (!replay_name_ok(key, "schedule keyword")) return DS_EFORMAT;
  if (cJSON_IsNumber(item)) return ds_sched_set(s, key, &item->valuedouble, 1);
  if (cJSON_IsBool(item)) return ds_sched_set(s, key, (double[]){cJSON_IsTrue(item) ? 1 : 0}, 1);
  if (cJSON_IsString(item) && replay_scalar_text(item->valuestring)) {
    char q[40];
    return ds_set_error(DS_EINVAL,
                        "schedule '%s': '%s' must be a JSON number, bool or null, not the string "
                        "\"%s\"",
                        ds_sched_name(s), key, ds_excerpt(item->valuestring, q, sizeof q));
  }
  if (cJSON_IsString(item)) /* a choice such as "triangular2": a name, quoted safely if wrong */
    return replay_name_ok(item->valuestring, "schedule value")
               ? ds_sched_set_str(s, key, item->valuestring)
               : DS_EFORMAT;
  if (cJSON_IsNull(item)) return ds_sched_set(s, key, NULL, 0);
  if (cJSON_IsArray(item)) {
    double v[MAX_VALUES];
    int n = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, item) {
      if (!cJSON_IsNumber(x) || n == MAX_VALUES)
        return ds_set_error(DS_EINVAL, "schedule '%s': '%s' must be a list of at most %d numbers",
                            ds_sched_name(s), key, MAX_VALUES);
      v[n++] = x->valuedouble;
    }
    return ds_sched_set(s, key, v, n);
  }
  return ds_set_error(DS_EINVAL, "schedule '%s': '%s' has an unsupported JSON type",
                      ds_sched_name(s), key);
}

static ds_status set_warmup(ds_sched *s, const cJSON *w) {
  if (!cJSON_IsObject(w)) return ds_set_error(DS_EFORMAT, "'warmup' must be an object");
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(w, "steps");
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(w, "kind");
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(w, "start_factor");
  const cJSON *x;
  char q[40];
  cJSON_ArrayForEach(x, w) {
    if (strcmp(x->string, "steps") && strcmp(x->string, "kind") &&
        strcmp(x->string, "start_factor"))
      return ds_set_error(DS_ENOTFOUND,
                          "warm-up: unknown key '%s' (known: steps, kind, "
                          "start_factor)",
                          ds_excerpt(x->string, q, sizeof q));
  }
  if (!cJSON_IsNumber(steps) || steps->valuedouble != floor(steps->valuedouble) ||
      !(steps->valuedouble >= 0 && steps->valuedouble <= 1e15))
    return ds_set_error(DS_EINVAL, "warm-up: 'steps' must be an integer >= 0");
  ds_warmup_kind k = DS_WARMUP_LINEAR;
  if (kind) {
    if (!cJSON_IsString(kind)) return ds_set_error(DS_EINVAL, "warm-up: 'kind' must be a string");
    if (!strcmp(kind->valuestring, "exponential"))
      k = DS_WARMUP_EXPONENTIAL;
    else if (strcmp(kind->valuestring, "linear"))
      return ds_set_error(DS_ENOTFOUND, "warm-up: unknown kind '%s' (linear, exponential)",
                          ds_excerpt(kind->valuestring, q, sizeof q));
  }
  if (f && !cJSON_IsNumber(f))
    return ds_set_error(DS_EINVAL, "warm-up: 'start_factor' must be a number");
  return ds_sched_set_warmup(s, (int64_t)steps->valuedouble, k, f ? f->valuedouble : 0.0);
}

/* Builds and validates the schedule a case describes. NULL + error message on failure. */
static ds_sched *build(const cJSON *root) {
  static const char *const keys[] = {
      "kind",        "schedule",          "hyper",     "steps", "warmup",     "steps_per_epoch",
      "expected_lr", "expected_momentum", "reference", "note",  "description"};
  char q[40];
  for (const cJSON *k = root->child; k; k = k->next) {
    size_t i = 0;
    while (i < sizeof keys / sizeof *keys && strcmp(k->string, keys[i]))
      i++;
    if (i == sizeof keys / sizeof *keys) {
      ds_set_error(DS_EFORMAT, "unknown key '%s' in a schedule case",
                   ds_excerpt(k->string, q, sizeof q));
      return NULL;
    }
  }
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "schedule");
  if (!cJSON_IsString(name)) {
    ds_set_error(DS_EFORMAT, "a schedule case needs \"schedule\": NAME");
    return NULL;
  }
  if (!replay_name_ok(name->valuestring, "schedule")) return NULL;
  const cJSON *hyper = cJSON_GetObjectItemCaseSensitive(root, "hyper");
  if (hyper && !cJSON_IsObject(hyper)) {
    ds_set_error(DS_EFORMAT, "\"hyper\" must be an object");
    return NULL;
  }
  ds_sched *s = ds_sched_new(name->valuestring, NAN);
  if (!s) return NULL;
  const cJSON *item;
  cJSON_ArrayForEach(item, hyper) {
    if (set_hyper(s, item)) goto fail;
  }
  const cJSON *w = cJSON_GetObjectItemCaseSensitive(root, "warmup");
  if (w && set_warmup(s, w)) goto fail;
  const cJSON *spe = cJSON_GetObjectItemCaseSensitive(root, "steps_per_epoch");
  if (spe) {
    if (!cJSON_IsNumber(spe) || spe->valuedouble != floor(spe->valuedouble) ||
        spe->valuedouble < 1 || spe->valuedouble > 9e15) {
      ds_set_error(DS_EINVAL, "\"steps_per_epoch\" must be an integer >= 1");
      goto fail;
    }
    if (ds_sched_set_steps_per_epoch(s, (int64_t)spe->valuedouble)) goto fail;
  }
  if (ds_sched_validate(s)) goto fail;
  return s;
fail:
  ds_sched_free(s);
  return NULL;
}

int replay_schedule(const cJSON *root, FILE *out) {
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
  if (!cJSON_IsNumber(steps) || steps->valuedouble != floor(steps->valuedouble) ||
      steps->valuedouble < 0 || steps->valuedouble > 1e8) {
    ds_set_error(DS_EFORMAT, "a schedule case needs \"steps\": an integer in [0, 1e8]");
    return cli_fail("replay");
  }
  int64_t n = (int64_t)steps->valuedouble;
  ds_sched *s = build(root);
  if (!s) return cli_fail("replay");
  if (n > ds_sched_max_steps(s)) {
    ds_set_error(DS_EINVAL, "schedule '%s': %lld steps requested but it is defined for %lld",
                 ds_sched_name(s), (long long)n, (long long)ds_sched_max_steps(s));
    ds_sched_free(s);
    return cli_fail("replay");
  }
  fputs("{\"lr\": [", out);
  for (int64_t k = 0; k < n; k++)
    fprintf(out, k ? ", %.17g" : "%.17g", ds_sched_lr(s, k));
  fputs("]}\n", out);
  ds_sched_free(s);
  return 0;
}
