/* descent replay FILE.json — runs descent's optimizer or schedule on a reference case and prints
 * the result as one JSON object (format: docs/optimizers.md, "Replay files"). Optimizer cases go
 * through the same library calls as training: ds_paramset, ds_optim_set, ds_optim_step. With
 * --check the result is also compared with the case's "expected" values at the agreed tolerance. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "descent/descent.h"
#include "replay.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: descent replay [--check] FILE.json\n\n"
          "Runs descent's optimizer or schedule on the reference case in FILE.json and prints\n"
          "{\"params\": [[...], ...]} (optimizer cases), {\"lr\": [...]} (schedule cases) or\n"
          "{\"params\", \"buffers\", \"losses\"} (training cases: whole steps with objective and SAM).\n\n"
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

/* Sets one hyperparameter from its JSON value: number, [numbers], true/false, null, or a string. */
ds_status replay_optim_hyper(ds_optim *o, const cJSON *item) {
  double v[2] = {0, 0};
  const char *key = item->string;
  if (cJSON_IsNumber(item)) return ds_optim_set(o, key, (v[0] = item->valuedouble, v), 1);
  if (cJSON_IsBool(item)) return ds_optim_set(o, key, (v[0] = cJSON_IsTrue(item), v), 1);
  if (cJSON_IsNull(item)) return ds_optim_set(o, key, v, 0);
  if (cJSON_IsString(item)) return ds_optim_set_str(o, key, item->valuestring);
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

/* Copies a JSON array of numbers into dst (n floats); 0 on success. */
int replay_read_floats(const cJSON *arr, float *dst, int64_t n) {
  if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n) return -1;
  int64_t i = 0;
  const cJSON *x;
  cJSON_ArrayForEach(x, arr) {
    if (!cJSON_IsNumber(x)) return -1;
    dst[i++] = (float)x->valuedouble;
  }
  return 0;
}

static bool key_in(const char *key, const char *const *allowed) {
  for (; *allowed; allowed++)
    if (!strcmp(key, *allowed)) return true;
  return false;
}

/* Adds the case's parameters to ps: name, shape, data, no_decay, is_head. */
static int load_params(const cJSON *params, ds_paramset *ps) {
  static const char *const keys[] = {"name", "shape", "data", "no_decay", "is_head", NULL};
  if (!cJSON_IsArray(params) || cJSON_GetArraySize(params) == 0)
    return fail("\"params\" must be a non-empty array");
  const cJSON *p;
  cJSON_ArrayForEach(p, params) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(p, "shape");
    if (!cJSON_IsString(name)) return fail("a parameter has no \"name\"");
    for (const cJSON *k = p->child; k; k = k->next)
      if (!key_in(k->string, keys))
        return fail("parameter '%s': unknown key '%s'", name->valuestring, k->string);
    int rank = cJSON_GetArraySize(shape);
    if (!cJSON_IsArray(shape) || rank > DS_MAX_RANK)
      return fail("parameter '%s': \"shape\" must be an array of at most 4 sizes",
                  name->valuestring);
    int64_t dims[DS_MAX_RANK];
    for (int i = 0; i < rank; i++) {
      const cJSON *d = cJSON_GetArrayItem(shape, i);
      dims[i] = cJSON_IsNumber(d) ? (int64_t)d->valuedouble : -1;
    }
    bool no_decay = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "no_decay"));
    bool is_head = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "is_head"));
    ds_role role = rank >= 2 ? DS_ROLE_WEIGHT : no_decay ? DS_ROLE_BIAS : DS_ROLE_OTHER;
    int idx = ds_paramset_add(ps, name->valuestring, ds_shape_make(rank, dims), role);
    if (idx < 0) return cli_fail("replay");
    ds_param_info *info = &ps->info[idx];
    info->no_decay = info->no_adapt = no_decay;
    info->is_head = is_head;
    if (replay_read_floats(cJSON_GetObjectItemCaseSensitive(p, "data"), ps->data + info->offset,
                    info->numel))
      return fail("parameter '%s': \"data\" must hold %lld numbers", name->valuestring,
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
  for (const cJSON *k = root->child; k; k = k->next)
    if (!key_in(k->string, keys)) return fail("unknown key '%s' in an optimizer case", k->string);
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "optimizer");
  if (!cJSON_IsString(name)) return fail("an optimizer case needs \"optimizer\": \"NAME\"");
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
    t++;
    const cJSON *lr = cJSON_GetObjectItemCaseSensitive(s, "lr");
    const cJSON *grads = cJSON_GetObjectItemCaseSensitive(s, "grads");
    if (!cJSON_IsArray(grads) || cJSON_GetArraySize(grads) != ps->count)
      return fail("step %d: \"grads\" must hold %d arrays", t, ps->count);
    for (int i = 0; i < ps->count; i++) {
      const ds_param_info *p = &ps->info[i];
      if (replay_read_floats(cJSON_GetArrayItem(grads, i), ps->grad + p->offset, p->numel))
        return fail("step %d: gradient of '%s' must hold %lld numbers", t, p->name,
                    (long long)p->numel);
    }
    double rate = cJSON_IsNumber(lr) ? lr->valuedouble : ds_optim_default_lr(o);
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

/* Compares got with want element by element (arrays of numbers, or arrays of such arrays). */
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
  int m = cJSON_GetArraySize(want);
  if (cJSON_GetArraySize(got) != m) {
    (*bad)++;
    *worst = INFINITY;
    return;
  }
  for (int i = 0; i < m; i++)
    replay_compare(cJSON_GetArrayItem(got, i), cJSON_GetArrayItem(want, i), atol, rtol, n, bad, worst);
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

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf) buf[n] = '\0';
  fclose(f);
  return buf;
}

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
  char *text = read_file(file);
  if (!text) {
    fprintf(stderr, "descent: replay: cannot read '%s'\n", file);
    return 1;
  }
  cJSON *root = cJSON_Parse(text);
  free(text);
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
    fprintf(stderr, "descent: replay: '%s': \"kind\" must be \"optimizer\", \"schedule\" or \"training\"%s%s\n",
            file, cJSON_IsString(kind) ? ", not " : "",
            cJSON_IsString(kind) ? kind->valuestring : "");
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
