/* descent replay, training cases (../shared/REPLAY.md "Training case"): k whole training steps of
 * an MLP — forward, per-sample losses, objective, backward, SAM's second pass, optimizer — run by
 * the library's own trainer (ds_trainer_step) on the case's batches, which are laid out as one
 * in-memory dataset read in order. Prints {"params": [...], "buffers": [...], "losses": [...]}
 * (losses: the objective's value before each step). Every step must use the same batch size and
 * learning rate (the trainer's schedule here is constant). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "descent/descent.h"
#include "replay.h"

#define MAX_LAYERS 16

static int fail(const char *msg) {
  ds_set_error(DS_EFORMAT, "%s", msg);
  return cli_fail("replay");
}

static bool key_in(const char *key, const char *const *allowed) {
  for (; *allowed; allowed++)
    if (!strcmp(key, *allowed)) return true;
  return false;
}

/* Rejects keys of obj outside allowed, naming the key and where it was. */
static int check_keys(const cJSON *obj, const char *const *allowed, const char *where) {
  for (const cJSON *k = obj ? obj->child : NULL; k; k = k->next)
    if (!key_in(k->string, allowed)) {
      ds_set_error(DS_EINVAL, "unknown key '%s' in %s", k->string, where);
      return cli_fail("replay");
    }
  return 0;
}

typedef struct {
  ds_dataset *data;
  ds_graph *g;
  ds_node x, y, logits;
  ds_optim *opt;
  ds_sched *sched;
  ds_loader *loader;
  ds_objective *objective;
  ds_trainer *trainer;
} replay_run;

static void run_free(replay_run *r) {
  ds_trainer_free(r->trainer);
  ds_objective_free(r->objective);
  ds_loader_free(r->loader);
  ds_sched_free(r->sched);
  ds_optim_free(r->opt);
  ds_graph_free(r->g);
  ds_dataset_free(r->data);
}

/* The model: Linear fc1.. (+ norm1.. + activation) per hidden size, Linear head; cross-entropy. */
static int build_model(replay_run *r, const cJSON *model, int64_t batch, float smoothing) {
  static const char *const keys[] = {"sizes", "act", "norm", NULL};
  if (!cJSON_IsObject(model)) return fail("a training case needs \"model\": {sizes, act, norm}");
  if (check_keys(model, keys, "\"model\"")) return 1;
  const cJSON *sizes = cJSON_GetObjectItemCaseSensitive(model, "sizes");
  const cJSON *act = cJSON_GetObjectItemCaseSensitive(model, "act");
  const cJSON *norm = cJSON_GetObjectItemCaseSensitive(model, "norm");
  int n = cJSON_GetArraySize(sizes);
  int64_t s[MAX_LAYERS + 2];
  if (!cJSON_IsArray(sizes) || n < 2 || n > MAX_LAYERS + 2)
    return fail("\"model\": \"sizes\" must list 2 to 18 layer sizes (input, hidden..., classes)");
  for (int i = 0; i < n; i++) {
    const cJSON *v = cJSON_GetArrayItem(sizes, i);
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble != floor(v->valuedouble))
      return fail("\"model\": \"sizes\" must hold positive integers");
    s[i] = (int64_t)v->valuedouble;
  }
  ds_act a = DS_ACT_RELU;
  ds_norm_kind nk = DS_NORM_NONE;
  if (act && (!cJSON_IsString(act) || ds_act_parse(act->valuestring, &a)))
    return cli_fail("replay: model.act");
  if (norm && (!cJSON_IsString(norm) || ds_norm_parse(norm->valuestring, &nk)))
    return cli_fail("replay: model.norm");
  r->g = ds_graph_new(batch);
  if (!r->g) return cli_fail("replay");
  ds_node h = r->x = ds_input(r->g, "x", ds_shape1(s[0]));
  r->y = ds_input(r->g, "y", ds_shape_scalar());
  char name[32];
  for (int i = 1; i < n - 1 && h >= 0; i++) {
    snprintf(name, sizeof name, "fc%d", i);
    h = ds_nn_linear(r->g, name, h, s[i], true);
    snprintf(name, sizeof name, "norm%d", i);
    h = ds_nn_act(r->g, ds_nn_norm(r->g, name, h, nk, 1), a);
  }
  r->logits = ds_nn_linear(r->g, "head", h, s[n - 1], true);
  ds_node loss = ds_cross_entropy(r->g, r->logits, r->y, smoothing);
  if (loss < 0 || ds_graph_compile(r->g, loss)) return cli_fail("replay: model");
  return 0;
}

/* Copies the case's tensors (by name, all of them) into the flat set ps. */
static int load_tensors(const cJSON *arr, ds_paramset *ps, const char *what) {
  static const char *const keys[] = {"name", "shape", "data", NULL};
  int count = ps ? ps->count : 0;
  if (arr && !cJSON_IsArray(arr)) return fail("\"params\" and \"buffers\" must be arrays");
  if (cJSON_GetArraySize(arr) != count) {
    ds_set_error(DS_EINVAL, "the model has %d %s, the case gives %d", count, what,
                 cJSON_GetArraySize(arr));
    return cli_fail("replay");
  }
  const cJSON *p;
  cJSON_ArrayForEach(p, arr) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
    if (!cJSON_IsString(name)) return fail("a parameter or buffer has no \"name\"");
    if (check_keys(p, keys, name->valuestring)) return 1;
    int i = 0;
    while (i < count && strcmp(ps->info[i].name, name->valuestring))
      i++;
    if (i == count) {
      ds_set_error(DS_ENOTFOUND, "the model has no %s '%s'", what, name->valuestring);
      return cli_fail("replay");
    }
    const ds_param_info *info = &ps->info[i];
    if (replay_read_floats(cJSON_GetObjectItemCaseSensitive(p, "data"), ps->data + info->offset,
                           info->numel)) {
      ds_set_error(DS_EINVAL, "'%s': \"data\" must hold %lld numbers", info->name,
                   (long long)info->numel);
      return cli_fail("replay");
    }
  }
  return 0;
}

/* "objective": {"name", "tilt", "tilt_end", "tilt_average", "group_tilt", "label_smoothing"}. */
static int build_objective(replay_run *r, const cJSON *obj) {
  static const char *const keys[] = {
      "name", "tilt", "tilt_end", "tilt_average", "group_tilt", "label_smoothing", NULL};
  if (!obj) return 0;
  if (!cJSON_IsObject(obj) || check_keys(obj, keys, "\"objective\""))
    return obj && !cJSON_IsObject(obj) ? fail("\"objective\" must be an object") : 1;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
  if (name && !cJSON_IsString(name)) return fail("\"objective\": \"name\" must be a string");
  if (!name || !strcmp(name->valuestring, "mean")) {
    for (int i = 1; keys[i]; i++)
      if (strcmp(keys[i], "label_smoothing") && cJSON_GetObjectItemCaseSensitive(obj, keys[i])) {
        ds_set_error(DS_EINVAL, "objective 'mean' has no '%s'", keys[i]);
        return cli_fail("replay");
      }
    return 0;
  }
  r->objective = ds_objective_new(name->valuestring);
  if (!r->objective) return cli_fail("replay");
  for (const cJSON *k = obj->child; k; k = k->next) {
    if (!strcmp(k->string, "name") || !strcmp(k->string, "label_smoothing")) continue;
    if (!cJSON_IsNumber(k)) {
      ds_set_error(DS_EINVAL, "objective: '%s' must be a number", k->string);
      return cli_fail("replay");
    }
    if (ds_objective_set(r->objective, k->string, k->valuedouble)) return cli_fail("replay");
  }
  return 0;
}

/* "sam": {"rho", "adaptive", "eta", "m"} into the trainer options. */
static int read_sam(const cJSON *sam, ds_sam_options *o) {
  static const char *const keys[] = {"rho", "adaptive", "eta", "m", NULL};
  if (!sam) return 0;
  if (!cJSON_IsObject(sam)) return fail("\"sam\" must be an object");
  if (check_keys(sam, keys, "\"sam\"")) return 1;
  const cJSON *rho = cJSON_GetObjectItemCaseSensitive(sam, "rho"),
              *ad = cJSON_GetObjectItemCaseSensitive(sam, "adaptive");
  const cJSON *eta = cJSON_GetObjectItemCaseSensitive(sam, "eta"),
              *m = cJSON_GetObjectItemCaseSensitive(sam, "m");
  if (!cJSON_IsNumber(rho) || (ad && !cJSON_IsBool(ad)) || (eta && !cJSON_IsNumber(eta)) ||
      (m && !cJSON_IsNumber(m)))
    return fail("\"sam\": rho (number), adaptive (bool), eta (number), m (integer)");
  o->rho = rho->valuedouble;
  o->adaptive = cJSON_IsTrue(ad);
  if (eta) o->eta = eta->valuedouble;
  if (m) o->m = (int64_t)m->valuedouble;
  return 0;
}

/* The steps' batches as one dataset, in order; *batch and *lr shared by every step. */
static int load_batches(replay_run *r, const cJSON *steps, int64_t in, int classes, int64_t *batch,
                        double *lr) {
  int k = cJSON_GetArraySize(steps);
  if (!cJSON_IsArray(steps) || k < 1) return fail("\"steps\" must be a non-empty array");
  const cJSON *first = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(steps, 0), "x");
  *batch = cJSON_GetArraySize(first);
  if (*batch < 1) return fail("step 1: \"x\" must hold the batch's rows");
  r->data = ds_dataset_new("replay", *batch * k, ds_shape1(in), false, classes);
  if (!r->data) return cli_fail("replay");
  static const char *const keys[] = {"lr", "x", "y", "groups", NULL};
  int t = 0;
  const cJSON *s;
  /* optional "groups": every step's samples' group ids (hierarchical TERM over them) */
  bool grouped = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(steps, 0), "groups") != NULL;
  int32_t *groups = grouped ? ds_malloc(sizeof(int32_t) * (size_t)(*batch * k)) : NULL;
  if (grouped && !groups) return cli_fail("replay");
  cJSON_ArrayForEach(s, steps) {
    char where[32];
    snprintf(where, sizeof where, "step %d", t + 1);
    if (check_keys(s, keys, where)) {
      ds_free(groups);
      return 1;
    }
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(s, "groups");
    for (int64_t i = 0; i < *batch && grouped; i++) {
      const cJSON *gi = cJSON_GetArrayItem(gs, (int)i);
      if (cJSON_GetArraySize(gs) != *batch || !cJSON_IsNumber(gi) ||
          gi->valuedouble != floor(gi->valuedouble)) {
        ds_free(groups);
        ds_set_error(DS_EINVAL, "%s: \"groups\" must hold %lld whole numbers, as step 1", where,
                     (long long)*batch);
        return cli_fail("replay");
      }
      groups[(int64_t)t * *batch + i] = (int32_t)gi->valuedouble;
    }
    if (!grouped && gs) {
      ds_set_error(DS_EINVAL, "%s: \"groups\" must be in every step or in none", where);
      return cli_fail("replay");
    }
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(s, "x"),
                *y = cJSON_GetObjectItemCaseSensitive(s, "y");
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(s, "lr");
    if (!cJSON_IsNumber(l) || (t > 0 && l->valuedouble != *lr)) {
      ds_set_error(DS_EINVAL, "%s: \"lr\" must be a number, the same in every step", where);
      return cli_fail("replay");
    }
    *lr = l->valuedouble;
    if (cJSON_GetArraySize(x) != *batch || cJSON_GetArraySize(y) != *batch) {
      ds_free(groups);
      ds_set_error(DS_EINVAL, "%s: \"x\" and \"y\" must hold %lld samples, as step 1", where,
                   (long long)*batch);
      return cli_fail("replay");
    }
    for (int64_t i = 0; i < *batch; i++) {
      int64_t row = (int64_t)t * *batch + i;
      const cJSON *label = cJSON_GetArrayItem(y, (int)i);
      if (replay_read_floats(cJSON_GetArrayItem(x, (int)i), r->data->f32 + row * in, in) ||
          !cJSON_IsNumber(label) || label->valuedouble < 0 || label->valuedouble >= classes ||
          label->valuedouble != floor(label->valuedouble)) {
        ds_free(groups);
        ds_set_error(DS_EINVAL, "%s, sample %lld: %lld inputs and a class in 0..%d expected", where,
                     (long long)i, (long long)in, classes - 1);
        return cli_fail("replay");
      }
      r->data->labels[row] = r->data->clean_labels[row] = (int32_t)label->valuedouble;
    }
    t++;
  }
  int st = grouped ? ds_dataset_set_groups(r->data, groups) : 0;
  ds_free(groups);
  return st ? cli_fail("replay") : 0;
}

static cJSON *floats_json(const float *v, int64_t n) {
  cJSON *a = cJSON_CreateArray();
  for (int64_t i = 0; a && i < n; i++)
    cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateNumber((double)v[i]) : cJSON_CreateNull());
  return a;
}

static cJSON *set_json(const ds_paramset *ps) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; ps && i < ps->count; i++)
    cJSON_AddItemToArray(a, floats_json(ps->data + ps->info[i].offset, ps->info[i].numel));
  return a;
}

static int run_case(const cJSON *root, replay_run *r, cJSON *result) {
  static const char *const keys[] = {
      "kind",  "model",    "params", "buffers",     "objective", "optimizer", "hyper", "sam",
      "steps", "expected", "note",   "description", "generator", "torch",     NULL};
  if (check_keys(root, keys, "a training case")) return 1;
  const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "objective");
  const cJSON *ls =
      cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, "label_smoothing") : NULL;
  if (ls && !cJSON_IsNumber(ls)) return fail("\"objective\": \"label_smoothing\" must be a number");
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
  const cJSON *sizes =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"), "sizes");
  int ns = cJSON_GetArraySize(sizes);
  const cJSON *in = cJSON_GetArrayItem(sizes, 0), *classes = cJSON_GetArrayItem(sizes, ns - 1);
  if (ns < 2 || !cJSON_IsNumber(in) || !cJSON_IsNumber(classes) || in->valuedouble < 1 ||
      classes->valuedouble < 2)
    return fail("a training case needs \"model\": {\"sizes\": [inputs, ..., classes >= 2]}");
  int64_t batch = 0;
  double lr = 0;
  if (load_batches(r, steps, (int64_t)in->valuedouble, (int)classes->valuedouble, &batch, &lr))
    return 1;
  if (build_model(r, cJSON_GetObjectItemCaseSensitive(root, "model"), batch,
                  ls ? (float)ls->valuedouble : 0.0f))
    return 1;
  if (load_tensors(cJSON_GetObjectItemCaseSensitive(root, "params"), ds_graph_params(r->g),
                   "parameters") ||
      load_tensors(cJSON_GetObjectItemCaseSensitive(root, "buffers"), ds_graph_buffers(r->g),
                   "buffers"))
    return 1;
  const cJSON *oname = cJSON_GetObjectItemCaseSensitive(root, "optimizer");
  if (!cJSON_IsString(oname)) return fail("a training case needs \"optimizer\": \"NAME\"");
  r->opt = ds_optim_new(oname->valuestring, ds_graph_params(r->g));
  if (!r->opt) return cli_fail("replay");
  const cJSON *hyper = cJSON_GetObjectItemCaseSensitive(root, "hyper");
  if (hyper && !cJSON_IsObject(hyper)) return fail("\"hyper\" must be an object");
  for (const cJSON *h = hyper ? hyper->child : NULL; h; h = h->next)
    if (replay_optim_hyper(r->opt, h)) return cli_fail("replay");
  if (build_objective(r, obj)) return 1;
  ds_trainer_options to = ds_trainer_options_default();
  to.objective = r->objective;
  to.total_steps = cJSON_GetArraySize(steps);
  if (read_sam(cJSON_GetObjectItemCaseSensitive(root, "sam"), &to.sam)) return 1;
  r->sched = ds_sched_new("constant", lr); /* ConstantLR with factor 1: lr throughout */
  if (r->sched && ds_sched_set(r->sched, "factor", (double[]){1.0}, 1)) return cli_fail("replay");
  ds_loader_options lo = ds_loader_options_default();
  lo.batch = batch;
  lo.shuffle = false;
  r->loader = ds_loader_new(r->data, &lo);
  if (!r->sched || ds_sched_validate(r->sched) || !r->loader) return cli_fail("replay");
  ds_trainer_parts parts = {r->g, r->x, r->y, r->logits, r->opt, r->sched, r->loader};
  r->trainer = ds_trainer_new(&parts, &to);
  if (!r->trainer) return cli_fail("replay");
  cJSON *losses = cJSON_CreateArray();
  for (int64_t k = 0; k < to.total_steps; k++) {
    ds_step_result sr;
    if (ds_trainer_step(r->trainer, &sr) != 1) {
      char msg[600];
      snprintf(msg, sizeof msg, "%s", ds_last_error());
      ds_set_error(DS_EINVAL, "step %lld: %s", (long long)k + 1, msg);
      cJSON_Delete(losses);
      return cli_fail("replay");
    }
    cJSON_AddItemToArray(losses, cJSON_CreateNumber(sr.objective));
  }
  cJSON_AddItemToObject(result, "params", set_json(ds_graph_params(r->g)));
  cJSON_AddItemToObject(result, "buffers", set_json(ds_graph_buffers(r->g)));
  cJSON_AddItemToObject(result, "losses", losses);
  if (ds_optim_eval_mode(r->opt, true)) return cli_fail("replay"); /* schedule-free: report x */
  return 0;
}

/* Compares result with the case's "expected" (params, and buffers and losses where given). */
static int check(const cJSON *root, const cJSON *result, const char *file) {
  const cJSON *want = cJSON_GetObjectItemCaseSensitive(root, "expected");
  if (!cJSON_IsObject(want)) {
    fprintf(stderr, "descent: replay --check: %s has no \"expected\" object\n", file);
    return 1;
  }
  /* whole float32 training steps: rounding differs (summation order, double vs float
   * objectives) and is amplified through a few steps, hence a looser bound than one optimizer step
   */
  const double atol = 1e-4, rtol = 1e-3;
  double worst = 0;
  int64_t n = 0, bad = 0;
  static const char *const parts[] = {"params", "buffers", "losses"};
  for (int i = 0; i < 3; i++) {
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(want, parts[i]);
    if (w)
      replay_compare(cJSON_GetObjectItemCaseSensitive(result, parts[i]), w, atol, rtol, &n, &bad,
                     &worst);
  }
  fprintf(stderr,
          "%s: %lld values, %lld outside |a-b| <= %g + %g|b| (worst at %.3g of the bound)\n", file,
          (long long)n, (long long)bad, atol, rtol, worst);
  return bad || n == 0 ? 1 : 0;
}

int replay_training(const cJSON *root, FILE *out, const char *check_file) {
  replay_run r;
  memset(&r, 0, sizeof r);
  cJSON *result = cJSON_CreateObject();
  int rc = result ? run_case(root, &r, result) : cli_fail("replay");
  if (!rc) {
    char *text = cJSON_PrintUnformatted(result);
    if (text) fprintf(out, "%s\n", text);
    free(text);
    if (check_file) rc = check(root, result, check_file);
  }
  cJSON_Delete(result);
  run_free(&r);
  return rc;
}
