/* descent replay FILE.json — runs descent's optimizer or schedule on a reference case and prints
 * the result as one JSON object (format: docs/optimizers.md, "Replay files"). Optimizer cases go
 * through the same library calls as training: ds_paramset, ds_optim_set, ds_optim_step. With
 * --check the result is also compared with the case's "expected" values at the agreed tolerance. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "descent/descent.h"
#include "replay.h"

static void usage(FILE *f) {
  fprintf(
      f, "usage: descent replay [--check] FILE.json\n\n"
         "Runs descent's optimizer or schedule on the reference case in FILE.json and prints\n"
         "{\"params\": [[...], ...]} (optimizer cases), {\"lr\": [...]} (schedule cases) or\n"
         "{\"params\", \"buffers\", \"losses\"} (training cases: whole steps with objective and "
         "SAM).\n\n"
         "  --check   also compare with the case's expected values and exit 1 on a mismatch;\n"
         "            tolerance |a-b| <= 1e-5 + 1e-4|b| (optimizers), 1e-9 + 1e-6|b| (schedules),\n"
         "            1e-4 + 1e-3|b| (training)\n"
         "  --help    this text\n\n"
         "optimizers:");
  int n;
  const char *const *names = ds_optim_names(&n);
  for (int i = 0; i < n; i++)
    fprintf(f, " %s", names[i]);
  fprintf(f, "\n");
}

/* ---- optimizer cases ------------------------------------------------------------------------ */

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "descent: replay: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  return 1;
}

/* A finite JSON number within float32's range (converting a larger double to float is
 * undefined). */
static bool float_number(const cJSON *x) {
  return cJSON_IsNumber(x) && fabs(x->valuedouble) <= FLT_MAX;
}

/* Sets one hyperparameter from its JSON value: number, [numbers], true/false or null (none of
 * PyTorch's optimizer hyperparameters is text, so a string is a type error). */
ds_status replay_optim_hyper(ds_optim *o, const cJSON *item) {
  double v[2] = {0, 0};
  const char *key = item->string;
  if (!replay_name_ok(key, "hyperparameter")) return DS_EFORMAT;
  if (cJSON_IsNumber(item)) return ds_optim_set(o, key, (v[0] = item->valuedouble, v), 1);
  if (cJSON_IsBool(item)) return ds_optim_set(o, key, (v[0] = cJSON_IsTrue(item), v), 1);
  if (cJSON_IsNull(item)) return ds_optim_set(o, key, v, 0);
  if (cJSON_IsString(item)) {
    char q[40];
    return ds_set_error(DS_EINVAL,
                        "optimizer '%s': hyperparameter '%s' must be a JSON number, bool, null or "
                        "list, not the string \"%s\"",
                        ds_optim_name(o), key, ds_excerpt(item->valuestring, q, sizeof q));
  }
  if (cJSON_IsArray(item)) {
    int n = cJSON_GetArraySize(item);
    if (n < 1 || n > 2)
      return ds_set_error(DS_EINVAL, "optimizer '%s': hyperparameter '%s' has %d values",
                          ds_optim_name(o), key, n);
    for (int i = 0; i < n; i++) {
      const cJSON *x = cJSON_GetArrayItem(item, i);
      if (!cJSON_IsNumber(x))
        return ds_set_error(DS_EINVAL, "optimizer '%s': hyperparameter '%s' must hold numbers",
                            ds_optim_name(o), key);
      v[i] = x->valuedouble;
    }
    return ds_optim_set(o, key, v, n);
  }
  return ds_set_error(DS_EINVAL, "optimizer '%s': hyperparameter '%s' has an unsupported type",
                      ds_optim_name(o), key);
}

/* Number of items of a JSON array (counted: cJSON's own count is an int), -1 if not an array. */
static int64_t array_length(const cJSON *arr) {
  if (!cJSON_IsArray(arr)) return -1;
  int64_t n = 0;
  for (const cJSON *x = arr->child; x; x = x->next)
    n++;
  return n;
}

/* Copies a JSON array of exactly n float32 numbers into dst; 0 on success. */
int replay_read_floats(const cJSON *arr, float *dst, int64_t n) {
  if (array_length(arr) != n) return -1;
  int64_t i = 0;
  const cJSON *x;
  cJSON_ArrayForEach(x, arr) {
    if (!float_number(x)) return -1;
    dst[i++] = (float)x->valuedouble;
  }
  return 0;
}

static bool key_in(const char *key, const char *const *allowed) {
  for (; *allowed; allowed++)
    if (!strcmp(key, *allowed)) return true;
  return false;
}

/* A JSON bool, or absent (false); anything else is a type error. */
static bool read_flag(const cJSON *p, const char *key, const char *param, bool *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, key);
  *out = cJSON_IsTrue(v);
  if (!v || cJSON_IsBool(v)) return true;
  fail("parameter '%s': \"%s\" must be true or false", param, key);
  return false;
}

/* Adds the case's parameters to ps: name, shape, data, no_decay, is_head. Every size is checked
 * against the data actually present before anything is allocated. */
static int load_params(const cJSON *params, ds_paramset *ps) {
  static const char *const keys[] = {"name", "shape", "data", "no_decay", "is_head", NULL};
  if (!cJSON_IsArray(params) || !params->child) return fail("\"params\" must be a non-empty array");
  const cJSON *p;
  cJSON_ArrayForEach(p, params) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(p, "shape");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(p, "data");
    if (!cJSON_IsObject(p)) return fail("\"params\" must hold objects");
    if (!cJSON_IsString(name)) return fail("a parameter has no \"name\"");
    if (!replay_name_ok(name->valuestring, "parameter name")) return cli_fail("replay");
    const char *pn = name->valuestring;
    char q[40];
    for (const cJSON *k = p->child; k; k = k->next)
      if (!key_in(k->string, keys))
        return fail("parameter '%s': unknown key '%s'", pn, ds_excerpt(k->string, q, sizeof q));
    int64_t rank = array_length(shape);
    if (rank < 0 || rank > DS_MAX_RANK)
      return fail("parameter '%s': \"shape\" must be an array of at most 4 sizes", pn);
    int64_t dims[DS_MAX_RANK];
    for (int i = 0; i < rank; i++) {
      const cJSON *d = cJSON_GetArrayItem(shape, i);
      if (!cJSON_IsNumber(d) || !(d->valuedouble >= 1 && d->valuedouble <= 1e15) ||
          d->valuedouble != floor(d->valuedouble))
        return fail("parameter '%s': shape entry %d must be an integer >= 1", pn, i);
      dims[i] = (int64_t)d->valuedouble;
    }
    ds_shape sh = ds_shape_make((int)rank, dims);
    int64_t numel = -1, have = array_length(data);
    if (ds_shape_numel_checked(&sh, &numel) || numel != have) {
      char s1[96];
      return fail("parameter '%s': shape %s needs %lld numbers in \"data\", it has %lld", pn,
                  ds_shape_str(&sh, s1, sizeof s1), (long long)numel, (long long)have);
    }
    bool no_decay, is_head;
    if (!read_flag(p, "no_decay", pn, &no_decay) || !read_flag(p, "is_head", pn, &is_head))
      return 1;
    ds_role role = rank >= 2 ? DS_ROLE_WEIGHT : no_decay ? DS_ROLE_BIAS : DS_ROLE_OTHER;
    int idx = ds_paramset_add(ps, pn, sh, role);
    if (idx < 0) return cli_fail("replay");
    ds_param_info *info = &ps->info[idx];
    info->no_decay = info->no_adapt = no_decay;
    info->is_head = is_head;
    if (replay_read_floats(data, ps->data + info->offset, info->numel))
      return fail("parameter '%s': \"data\" must hold %lld float32 numbers", pn,
                  (long long)info->numel);
  }
  return 0;
}

static void print_params(FILE *out, const ds_paramset *ps) {
  fprintf(out, "{\"params\": [");
  for (int i = 0; i < ps->count; i++) {
    const ds_param_info *p = &ps->info[i];
    fprintf(out, i ? ", [" : "[");
    for (int64_t j = 0; j < p->numel; j++) {
      float v = ps->data[p->offset + j];
      if (isfinite(v))
        fprintf(out, j ? ", %.9g" : "%.9g", (double)v);
      else
        fprintf(out, j ? ", null" : "null");
    }
    fprintf(out, "]");
  }
  fprintf(out, "]}\n");
}

static int run_optimizer(const cJSON *root, FILE *out, ds_paramset *ps, ds_optim **op) {
  static const char *const keys[] = {"kind",     "optimizer", "hyper",       "params", "steps",
                                     "expected", "note",      "description", NULL};
  char q[40];
  for (const cJSON *k = root->child; k; k = k->next)
    if (!key_in(k->string, keys))
      return fail("unknown key '%s' in an optimizer case", ds_excerpt(k->string, q, sizeof q));
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "optimizer");
  if (!cJSON_IsString(name)) return fail("an optimizer case needs \"optimizer\": \"NAME\"");
  if (!replay_name_ok(name->valuestring, "optimizer")) return cli_fail("replay");
  if (load_params(cJSON_GetObjectItemCaseSensitive(root, "params"), ps)) return 1;
  ds_optim *o = *op = ds_optim_new(name->valuestring, ps);
  if (!o) return cli_fail("replay");
  const cJSON *hyper = cJSON_GetObjectItemCaseSensitive(root, "hyper");
  if (hyper && !cJSON_IsObject(hyper)) return fail("\"hyper\" must be an object");
  for (const cJSON *h = hyper ? hyper->child : NULL; h; h = h->next)
    if (replay_optim_hyper(o, h)) return cli_fail("replay");
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
  if (!cJSON_IsArray(steps)) return fail("\"steps\" must be an array");
  int t = 0;
  const cJSON *s;
  cJSON_ArrayForEach(s, steps) {
    static const char *const step_keys[] = {"lr", "grads", NULL};
    t++;
    if (!cJSON_IsObject(s))
      return fail("step %d must be an object {\"lr\": ..., \"grads\": ...}", t);
    char q[40];
    for (const cJSON *k = s->child; k; k = k->next)
      if (!key_in(k->string, step_keys))
        return fail("step %d: unknown key '%s'", t, ds_excerpt(k->string, q, sizeof q));
    const cJSON *lr = cJSON_GetObjectItemCaseSensitive(s, "lr");
    const cJSON *grads = cJSON_GetObjectItemCaseSensitive(s, "grads");
    if (lr && !float_number(lr)) return fail("step %d: \"lr\" must be a number", t);
    if (array_length(grads) != ps->count)
      return fail("step %d: \"grads\" must hold %d arrays", t, ps->count);
    for (int i = 0; i < ps->count; i++) {
      const ds_param_info *p = &ps->info[i];
      if (replay_read_floats(cJSON_GetArrayItem(grads, i), ps->grad + p->offset, p->numel))
        return fail("step %d: gradient of '%s' must hold %lld float32 numbers", t, p->name,
                    (long long)p->numel);
    }
    double rate = lr ? lr->valuedouble : ds_optim_default_lr(o);
    if (ds_optim_step(o, (float)rate)) return fail("step %d: %s", t, ds_last_error());
  }
  if (ds_optim_eval_mode(o, true)) return cli_fail("replay"); /* schedule-free: report x */
  print_params(out, ps);
  return 0;
}

int replay_optimizer(const cJSON *root, FILE *out) {
  ds_paramset *ps = ds_paramset_new();
  ds_optim *o = NULL;
  int rc = ps ? run_optimizer(root, out, ps, &o) : cli_fail("replay");
  ds_optim_free(o);
  ds_paramset_free(ps);
  return rc;
}

/* ---- --check -------------------------------------------------------------------------------- */

/* Compares got with want element by element (arrays of numbers, or arrays of such arrays),
 * walking both lists side by side (indexing a cJSON list is linear). */
void replay_compare(const cJSON *got, const cJSON *want, double atol, double rtol, int64_t *n,
                    int64_t *bad, double *worst) {
  if (cJSON_IsNumber(want)) {
    double b = want->valuedouble, a = cJSON_IsNumber(got) ? got->valuedouble : NAN;
    double excess = fabs(a - b) / (atol + rtol * fabs(b));
    (*n)++;
    if (!(excess <= 1.0)) (*bad)++;
    if (!(excess <= *worst)) *worst = excess; /* NaN sticks */
    return;
  }
  if (array_length(got) != array_length(want) || !cJSON_IsArray(want)) {
    (*bad)++;
    *worst = INFINITY;
    return;
  }
  for (const cJSON *g = got->child, *w = want->child; g && w; g = g->next, w = w->next)
    replay_compare(g, w, atol, rtol, n, bad, worst);
}

static int check(const cJSON *root, bool optimizer, const char *result, const char *file) {
  const cJSON *want =
      cJSON_GetObjectItemCaseSensitive(root, optimizer ? "expected" : "expected_lr");
  if (!want) {
    fprintf(stderr, "descent: replay --check: %s has no \"%s\"\n", file,
            optimizer ? "expected" : "expected_lr");
    return 1;
  }
  cJSON *res = cJSON_Parse(result);
  const cJSON *got = cJSON_GetObjectItemCaseSensitive(res, optimizer ? "params" : "lr");
  double atol = optimizer ? 1e-5 : 1e-9, rtol = optimizer ? 1e-4 : 1e-6, worst = 0;
  int64_t n = 0, bad = 0;
  replay_compare(got, want, atol, rtol, &n, &bad, &worst);
  cJSON_Delete(res);
  fprintf(stderr,
          "%s: %lld values, %lld outside |a-b| <= %g + %g|b| (worst at %.3g of the bound)\n", file,
          (long long)n, (long long)bad, atol, rtol, worst);
  return bad ? 1 : 0;
}

/* ---- entry ---------------------------------------------------------------------------------- */

int cmd_replay(int argc, char **argv) {
  bool want_check = false;
  const char *file = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--check")) {
      want_check = true;
    } else if (argv[i][0] == '-' || file) {
      fprintf(stderr, "descent: replay: unexpected argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    } else {
      file = argv[i];
    }
  }
  if (!file) {
    usage(stderr);
    return 2;
  }
  char *text = ds_read_file(file, NULL);
  if (!text) return cli_fail("replay");
  cJSON *root = cJSON_Parse(text);
  ds_free(text);
  if (!cJSON_IsObject(root)) {
    fprintf(stderr, "descent: replay: '%s' is not a JSON object\n", file);
    cJSON_Delete(root);
    return 1;
  }
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
  bool optimizer = cJSON_IsString(kind) && !strcmp(kind->valuestring, "optimizer");
  bool schedule = cJSON_IsString(kind) && !strcmp(kind->valuestring, "schedule");
  int rc;
  if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "training")) {
    rc = replay_training(root, stdout, want_check ? file : NULL);
  } else if (!optimizer && !schedule) {
    char q[40];
    fprintf(
        stderr,
        "descent: replay: '%s': \"kind\" must be \"optimizer\", \"schedule\" or \"training\"%s%s\n",
        file, cJSON_IsString(kind) ? ", not " : "",
        cJSON_IsString(kind) ? ds_excerpt(kind->valuestring, q, sizeof q) : "");
    rc = 1;
  } else if (!want_check) {
    rc = optimizer ? replay_optimizer(root, stdout) : replay_schedule(root, stdout);
  } else {
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    rc = mem ? (optimizer ? replay_optimizer(root, mem) : replay_schedule(root, mem)) : 1;
    if (mem) fclose(mem);
    if (rc == 0) {
      fputs(buf, stdout);
      rc = check(root, optimizer, buf, file);
    }
    free(buf);
  }
  cJSON_Delete(root);
  return rc;
}
