/* Optimizers against reference trajectories and as an interface:
 *  - every case in fixtures/optim/ (PyTorch 1.13 runs, and reference re-implementations of timm,
 *    schedule_free and Muon, see fixtures/gen_optim.py) replayed through the library;
 *  - errors name the optimizer and key; hyperparameter listing and parsing;
 *  - checkpoint round trip (state buffers + scalars) continues bitwise-identically, for every
 *    optimizer; steps after the first allocate nothing; 1 and 2 threads give identical bits;
 *  - large multi-chunk parameter sets against naive reference loops (AdamW, LAMB, AdamP). */
#include <dirent.h>
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "descent/descent.h"
#include "testutil.h"

static void expect_error(ds_status got, ds_status code, const char *a, const char *b) {
  assert_int_equal(got, code);
  if (!strstr(ds_last_error(), a) || (b && !strstr(ds_last_error(), b)))
    fail_msg("message '%s' does not name '%s' / '%s'", ds_last_error(), a, b ? b : "");
}

/* ---- replay of the fixtures ---------------------------------------------------------------- */

static void set_hyper(ds_optim *o, const cJSON *h) {
  double v[2] = {0, 0};
  int n = 0;
  if (cJSON_IsNumber(h)) v[n++] = h->valuedouble;
  if (cJSON_IsBool(h)) v[n++] = cJSON_IsTrue(h);
  for (int i = 0; cJSON_IsArray(h) && i < cJSON_GetArraySize(h); i++)
    v[n++] = cJSON_GetArrayItem(h, i)->valuedouble;
  if (ds_optim_set(o, h->string, v, n)) fail_msg("%s", ds_last_error());
}

/* Replays one case file; returns the number of elements outside the REPLAY tolerance. */
static int64_t replay(const char *path) {
  cJSON *c = tu_load_json(path);
  assert_non_null(c);
  ds_paramset *ps = ds_paramset_new();
  const cJSON *p;
  cJSON_ArrayForEach(p, cJSON_GetObjectItem(c, "params")) {
    const cJSON *shape = cJSON_GetObjectItem(p, "shape");
    int64_t dims[4];
    int rank = cJSON_GetArraySize(shape);
    for (int i = 0; i < rank; i++)
      dims[i] = (int64_t)cJSON_GetArrayItem(shape, i)->valuedouble;
    bool no_decay = cJSON_IsTrue(cJSON_GetObjectItem(p, "no_decay"));
    int k =
        ds_paramset_add(ps, cJSON_GetObjectItem(p, "name")->valuestring, ds_shape_make(rank, dims),
                        rank >= 2  ? DS_ROLE_WEIGHT
                        : no_decay ? DS_ROLE_BIAS
                                   : DS_ROLE_OTHER);
    assert_true(k >= 0);
    ds_param_info *info = &ps->info[k];
    info->no_decay = info->no_adapt = no_decay;
    info->is_head = cJSON_IsTrue(cJSON_GetObjectItem(p, "is_head"));
    assert_int_equal(
        tu_json_floats(cJSON_GetObjectItem(p, "data"), ps->data + info->offset, info->numel),
        info->numel);
  }
  ds_optim *o = ds_optim_new(cJSON_GetObjectItem(c, "optimizer")->valuestring, ps);
  assert_non_null(o);
  const cJSON *h;
  cJSON_ArrayForEach(h, cJSON_GetObjectItem(c, "hyper")) set_hyper(o, h);
  const cJSON *s;
  cJSON_ArrayForEach(s, cJSON_GetObjectItem(c, "steps")) {
    const cJSON *grads = cJSON_GetObjectItem(s, "grads");
    for (int i = 0; i < ps->count; i++)
      tu_json_floats(cJSON_GetArrayItem(grads, i), ps->grad + ps->info[i].offset,
                     ps->info[i].numel);
    assert_int_equal(ds_optim_step(o, (float)cJSON_GetObjectItem(s, "lr")->valuedouble), DS_OK);
  }
  assert_int_equal(ds_optim_eval_mode(o, true), DS_OK);
  int64_t bad = 0;
  float *want = malloc((size_t)ps->numel * sizeof(float));
  const cJSON *e = cJSON_GetObjectItem(c, "expected");
  for (int i = 0; i < ps->count; i++) {
    const ds_param_info *info = &ps->info[i];
    tu_json_floats(cJSON_GetArrayItem(e, i), want, info->numel);
    char what[640];
    snprintf(what, sizeof what, "%s %s", path, info->name);
    /* REPLAY.md tolerance: float32 arithmetic in a different order than torch, over 12-20 steps */
    bad += tu_mismatches(what, ps->data + info->offset, want, info->numel, 1e-5, 1e-4);
  }
  free(want);
  ds_optim_free(o);
  ds_paramset_free(ps);
  cJSON_Delete(c);
  return bad;
}

static void test_fixtures(void **state) {
  (void)state;
  DIR *d = opendir("fixtures/optim");
  assert_non_null(d);
  int cases = 0, failed = 0;
  bool seen[32] = {false};
  int nnames;
  const char *const *names = ds_optim_names(&nnames);
  struct dirent *ent;
  while ((ent = readdir(d))) {
    size_t len = strlen(ent->d_name);
    if (len < 6 || strcmp(ent->d_name + len - 5, ".json")) continue;
    char path[512];
    snprintf(path, sizeof path, "fixtures/optim/%s", ent->d_name);
    if (replay(path)) failed++;
    cases++;
    for (int i = 0; i < nnames; i++) {
      size_t n = strlen(names[i]);
      if (!strncmp(ent->d_name, names[i], n) && ent->d_name[n] == '_') seen[i] = true;
    }
  }
  closedir(d);
  if (failed) fail_msg("%d of %d replay cases outside tolerance", failed, cases);
  assert_true(cases >= 51);
  for (int i = 0; i < nnames; i++)
    if (!seen[i]) fail_msg("no fixture for optimizer '%s'", names[i]);
}

/* ---- a small parameter set with deterministic values ---------------------------------------- */

static ds_paramset *make_set(const int64_t *sizes, int n, uint64_t seed) {
  ds_paramset *ps = ds_paramset_new();
  for (int i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof name, "p%d", i);
    ds_shape s =
        sizes[2 * i + 1] > 0 ? ds_shape2(sizes[2 * i], sizes[2 * i + 1]) : ds_shape1(sizes[2 * i]);
    assert_true(ds_paramset_add(ps, name, s, s.rank == 2 ? DS_ROLE_WEIGHT : DS_ROLE_BIAS) >= 0);
  }
  ds_rng r;
  ds_rng_seed(&r, seed, 1);
  for (int64_t i = 0; i < ps->numel; i++)
    ps->data[i] = (float)(0.5 * ds_rng_normal(&r));
  return ps;
}

static void fill_grads(ds_paramset *ps, uint64_t seed) {
  ds_rng r;
  ds_rng_seed(&r, seed, 2);
  for (int64_t i = 0; i < ps->numel; i++)
    ps->grad[i] = (float)ds_rng_normal(&r);
}

/* Hyperparameters that switch on each optimizer's optional state and branches. */
static void configure(ds_optim *o) {
  const char *n = ds_optim_name(o);
  const double mom = 0.9, wd = 0.01, one = 1;
  if (!strcmp(n, "sgd") || !strcmp(n, "sgdw") || !strcmp(n, "lars") || !strcmp(n, "sgdp") ||
      !strcmp(n, "rmsprop"))
    assert_int_equal(ds_optim_set(o, "momentum", &mom, 1), DS_OK);
  if (!strcmp(n, "rmsprop")) assert_int_equal(ds_optim_set(o, "centered", &one, 1), DS_OK);
  if (!strcmp(n, "adam") || !strcmp(n, "adamw"))
    assert_int_equal(ds_optim_set(o, "amsgrad", &one, 1), DS_OK);
  if (ds_optim_set(o, "weight_decay", &wd, 1) != DS_OK) fail_msg("%s", ds_last_error());
}

static const int64_t SMALL[] = {6, 5, 6, 0, 3, 4, 4, 0};

/* ---- interface ------------------------------------------------------------------------------ */

static void test_errors(void **state) {
  (void)state;
  ds_paramset *ps = make_set(SMALL, 4, 1);
  assert_null(ds_optim_new("adamm", ps));
  expect_error(DS_ENOTFOUND, DS_ENOTFOUND, "adamm", NULL);
  ds_optim *o = ds_optim_new("adam", ps);
  assert_non_null(o);
  double v[2] = {0.9, 0.999};
  expect_error(ds_optim_set(o, "momentum", v, 1), DS_ENOTFOUND, "adam", "momentum");
  expect_error(ds_optim_set(o, "betas", v, 1), DS_EINVAL, "betas", "2 values");
  v[1] = 1.0;
  expect_error(ds_optim_set(o, "betas", v, 2), DS_EINVAL, "betas", "outside");
  v[0] = 0.5;
  expect_error(ds_optim_set(o, "amsgrad", v, 1), DS_EINVAL, "amsgrad", "boolean");
  expect_error(ds_optim_set(o, "lr", v, 0), DS_EINVAL, "lr", "none");
  v[0] = NAN;
  expect_error(ds_optim_set(o, "eps", v, 1), DS_EINVAL, "eps", "finite");
  expect_error(ds_optim_set_str(o, "betas", "0.9;0.99"), DS_EINVAL, "betas", "0.9;0.99");
  expect_error(ds_optim_set_str(o, "betas", "0.9,0.99,0.5"), DS_EINVAL, "betas", "0.9,0.99,0.5");
  /* failed sets leave the value alone */
  double got[2];
  int n;
  bool is_bool;
  assert_int_equal(ds_optim_hyper(o, 1, NULL, got, &n, &is_bool), DS_OK);
  assert_true(got[0] == 0.9 && got[1] == 0.999 && n == 2 && !is_bool);
  assert_int_equal(ds_optim_set_str(o, "betas", "0.8, 0.95"), DS_OK);
  assert_int_equal(ds_optim_hyper(o, 1, NULL, got, &n, NULL), DS_OK);
  assert_true(got[0] == 0.8 && got[1] == 0.95);
  expect_error(ds_optim_step(o, -1.0f), DS_EINVAL, "adam", "learning rate");
  expect_error(ds_optim_step(o, INFINITY), DS_EINVAL, "adam", "learning rate");
  assert_int_equal(ds_optim_step(o, 0.01f), DS_OK);
  /* amsgrad would add a state buffer after the state exists */
  expect_error(ds_optim_set_str(o, "amsgrad", "true"), DS_ESTATE, "adam", "amsgrad");
  assert_int_equal(ds_optim_set_str(o, "amsgrad", "false"), DS_OK);
  assert_true(ds_paramset_add(ps, "late", ds_shape1(3), DS_ROLE_BIAS) >= 0);
  expect_error(ds_optim_step(o, 0.01f), DS_ESTATE, "adam", "parameter set changed");
  ds_optim_free(o);

  o = ds_optim_new("sgd", ps);
  assert_int_equal(ds_optim_set_str(o, "nesterov", "true"), DS_OK);
  expect_error(ds_optim_step(o, 0.1f), DS_EINVAL, "sgd", "nesterov");
  assert_int_equal(ds_optim_step_count(o), 0);
  ds_optim_free(o);

  o = ds_optim_new("lamb", ps);
  assert_int_equal(ds_optim_set_str(o, "max_grad_norm", "none"), DS_OK);
  assert_int_equal(ds_optim_hyper(o, ds_optim_hyper_count(o) - 3, NULL, got, &n, NULL), DS_OK);
  assert_int_equal(n, 0);
  ds_optim_free(o);

  o = ds_optim_new("schedulefree_adamw", ps);
  assert_int_equal(ds_optim_eval_mode(o, true), DS_OK);
  assert_true(ds_optim_in_eval_mode(o));
  expect_error(ds_optim_step(o, 0.01f), DS_ESTATE, "schedulefree_adamw", "eval mode");
  ds_optim_free(o);
  ds_paramset_free(ps);
}

/* Every optimizer: created by its name, defaults listed, default lr as in the reference. */
static void test_names_and_defaults(void **state) {
  (void)state;
  int n;
  const char *const *names = ds_optim_names(&n);
  assert_int_equal(n, 17);
  ds_paramset *ps = make_set(SMALL, 4, 2);
  static const struct {
    const char *name;
    double lr;
  } lrs[] = {{"sgd", 1e-3},     {"adagrad", 1e-2},
             {"rmsprop", 1e-2}, {"adadelta", 1.0},
             {"adam", 1e-3},    {"adamw", 1e-3},
             {"adamax", 2e-3},  {"nadam", 2e-3},
             {"radam", 1e-3},   {"lars", 1.0},
             {"lamb", 1e-3},    {"lion", 1e-4},
             {"muon", 0.02},    {"schedulefree_adamw", 0.0025}};
  for (int i = 0; i < n; i++) {
    ds_optim *o = ds_optim_new(names[i], ps);
    assert_non_null(o);
    assert_string_equal(ds_optim_name(o), names[i]);
    assert_true(strlen(ds_optim_reference(o)) > 10);
    assert_true(ds_optim_hyper_count(o) >= 3);
    const char *key;
    assert_int_equal(ds_optim_hyper(o, 0, &key, NULL, NULL, NULL), DS_OK);
    assert_string_equal(key, "lr");
    for (size_t j = 0; j < sizeof lrs / sizeof *lrs; j++)
      if (!strcmp(lrs[j].name, names[i])) assert_true(ds_optim_default_lr(o) == lrs[j].lr);
    ds_optim_free(o);
  }
  ds_optim *o = ds_optim_new("adamw", ps);
  double v[2];
  const char *key;
  assert_int_equal(ds_optim_hyper(o, 3, &key, v, NULL, NULL), DS_OK);
  assert_string_equal(key, "weight_decay");
  assert_true(v[0] == 1e-2);
  ds_optim_free(o);
  ds_paramset_free(ps);
}

/* ---- checkpoint round trip, no allocation, thread independence ------------------------------ */

/* Runs `steps` steps of optimizer name from the same start; when restore_at > 0 the optimizer is
 * rebuilt at that step from a saved copy of parameters, state buffers and scalars. */
static ds_paramset *run(const char *name, const int64_t *sizes, int nt, int steps, int restore_at,
                        int threads, bool check_alloc) {
  ds_paramset *ps = make_set(sizes, nt, 7);
  ds_optim *o = ds_optim_new(name, ps);
  assert_non_null(o);
  configure(o);
  omp_set_num_threads(threads);
  for (int t = 0; t < steps; t++) {
    if (t == restore_at) {
      int ns = ds_optim_state_count(o), nsc = ds_optim_scalar_count(o);
      float *saved[8];
      double scal[8];
      for (int i = 0; i < ns; i++) {
        float *data;
        int64_t numel;
        assert_int_equal(ds_optim_state(o, i, NULL, &data, &numel), DS_OK);
        saved[i] = malloc((size_t)numel * sizeof(float));
        memcpy(saved[i], data, (size_t)numel * sizeof(float));
      }
      for (int i = 0; i < nsc; i++) {
        double *x;
        assert_int_equal(ds_optim_scalar(o, i, NULL, &x), DS_OK);
        scal[i] = *x;
      }
      ds_optim_free(o);
      o = ds_optim_new(name, ps);
      configure(o);
      for (int i = 0; i < ns; i++) {
        float *data;
        int64_t numel;
        const char *sn;
        assert_int_equal(ds_optim_state(o, i, &sn, &data, &numel), DS_OK);
        assert_true(strlen(sn) > 0);
        memcpy(data, saved[i], (size_t)numel * sizeof(float));
        free(saved[i]);
      }
      for (int i = 0; i < nsc; i++) {
        double *x;
        const char *sn;
        assert_int_equal(ds_optim_scalar(o, i, &sn, &x), DS_OK);
        *x = scal[i];
      }
      assert_int_equal(ds_optim_step_count(o), t);
    }
    fill_grads(ps, 100 + (uint64_t)t);
    uint64_t before = ds_alloc_count();
    if (ds_optim_step(o, 0.01f * (1.0f + 0.1f * (float)t))) fail_msg("%s", ds_last_error());
    if (check_alloc && t > 0 && ds_alloc_count() != before)
      fail_msg("optimizer '%s' allocated during step %d", name, t + 1);
  }
  assert_int_equal(ds_optim_eval_mode(o, true), DS_OK);
  ds_optim_free(o);
  omp_set_num_threads(2);
  return ps;
}

/* a and b hold the same bits, and the steps moved every tensor away from its start (so the
 * comparison is not vacuous). */
static void expect_same(const char *name, const char *what, const ds_paramset *a,
                        const ds_paramset *b, const int64_t *sizes, int nt) {
  if (memcmp(a->data, b->data, (size_t)a->numel * sizeof(float)))
    fail_msg("optimizer '%s': %s changes the result", name, what);
  ds_paramset *start = make_set(sizes, nt, 7);
  for (int i = 0; i < a->count; i++) {
    const ds_param_info *p = &a->info[i];
    if (!memcmp(a->data + p->offset, start->data + p->offset, (size_t)p->numel * sizeof(float)))
      fail_msg("optimizer '%s': parameter '%s' did not move", name, p->name);
  }
  ds_paramset_free(start);
}

static void test_checkpoint_roundtrip(void **state) {
  (void)state;
  int n;
  const char *const *names = ds_optim_names(&n);
  for (int i = 0; i < n; i++) {
    ds_paramset *a = run(names[i], SMALL, 4, 6, -1, 1, true);
    ds_paramset *b = run(names[i], SMALL, 4, 6, 3, 1, false);
    expect_same(names[i], "saving and restoring the state at step 3", a, b, SMALL, 4);
    ds_paramset_free(a);
    ds_paramset_free(b);
  }
}

/* Large enough for the parallel path: rows longer than a chunk, many chunks, a 1-D tensor split. */
static const int64_t LARGE[] = {3, 40000, 70000, 0, 64, 900, 7, 0};

static void test_threads_bitwise(void **state) {
  (void)state;
  int n;
  const char *const *names = ds_optim_names(&n);
  for (int i = 0; i < n; i++) {
    ds_paramset *a = run(names[i], LARGE, 4, 3, -1, 1, true);
    ds_paramset *b = run(names[i], LARGE, 4, 3, -1, 2, true);
    if (strcmp(names[i], "muon")) {
      expect_same(names[i], "the thread count", a, b, LARGE, 4);
    } else {
      /* OpenBLAS sgemm may sum in another order on another thread count: bitwise equality holds
       * only for a fixed count, checked here; across counts, float rounding of 3 small steps */
      ds_paramset *c = run(names[i], LARGE, 4, 3, -1, 2, true);
      expect_same(names[i], "a second run with the same thread count", b, c, LARGE, 4);
      assert_int_equal(tu_mismatches("muon threads", a->data, b->data, a->numel, 1e-6, 1e-5), 0);
      ds_paramset_free(c);
    }
    ds_paramset_free(a);
    ds_paramset_free(b);
  }
}

/* ---- large sets against naive loops ---------------------------------------------------------- */

static double norm2(const float *x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++)
    s += (double)x[i] * x[i];
  return sqrt(s);
}

/* Runs 3 steps of name (hyperparameters given as "key=value" strings) on LARGE and returns the
 * set; ref receives the initial parameters and the gradients of every step. */
static ds_paramset *large_set(void) {
  ds_paramset *ps = make_set(LARGE, 4, 11);
  ps->info[1].no_decay = ps->info[1].no_adapt = false; /* the 1-D giant is decayed, p3 is not */
  return ps;
}

static ds_paramset *run_large(const char *name, const char *const *hyper, float *grads[3]) {
  ds_paramset *ps = large_set();
  ds_optim *o = ds_optim_new(name, ps);
  for (; *hyper; hyper += 2)
    assert_int_equal(ds_optim_set_str(o, hyper[0], hyper[1]), DS_OK);
  for (int t = 0; t < 3; t++) {
    fill_grads(ps, 50 + (uint64_t)t);
    memcpy(grads[t], ps->grad, (size_t)ps->numel * sizeof(float));
    assert_int_equal(ds_optim_step(o, 0.01f), DS_OK);
  }
  ds_optim_free(o);
  return ps;
}

static void test_large_adamw(void **state) {
  (void)state;
  ds_paramset *init = large_set();
  int64_t n = init->numel;
  float *g[3], *m = calloc((size_t)n, 4), *v = calloc((size_t)n, 4), *p = init->data;
  for (int t = 0; t < 3; t++)
    g[t] = malloc((size_t)n * 4);
  static const char *const hyper[] = {"weight_decay", "0.1", NULL};
  ds_paramset *ps = run_large("adamw", hyper, g);
  for (int t = 1; t <= 3; t++) { /* the textbook loop, in double */
    double bc1 = 1 - pow(0.9, t), bc2 = 1 - pow(0.999, t);
    for (int64_t i = 0; i < n; i++) {
      double gi = g[t - 1][i], wd = i >= init->info[3].offset ? 0.0 : 0.1; /* p3 is no_decay */
      m[i] = (float)(0.9 * m[i] + 0.1 * gi);
      v[i] = (float)(0.999 * v[i] + 0.001 * gi * gi);
      double pi = p[i] * (1 - 0.01 * wd);
      p[i] = (float)(pi - 0.01 / bc1 * m[i] / (sqrt(v[i] / bc2) + 1e-8));
    }
  }
  /* float32 kernel vs double reference: a few ulps of the 1e-2 steps */
  assert_int_equal(tu_mismatches("adamw large", ps->data, p, n, 1e-6, 1e-5), 0);
  for (int t = 0; t < 3; t++)
    free(g[t]);
  free(m);
  free(v);
  ds_paramset_free(ps);
  ds_paramset_free(init);
}

static void test_large_lamb(void **state) {
  (void)state;
  ds_paramset *init = large_set();
  int64_t n = init->numel;
  float *g[3], *m = calloc((size_t)n, 4), *v = calloc((size_t)n, 4), *u = malloc((size_t)n * 4);
  for (int t = 0; t < 3; t++)
    g[t] = malloc((size_t)n * 4);
  static const char *const hyper[] = {"weight_decay", "0.05", "max_grad_norm", "100", NULL};
  ds_paramset *ps = run_large("lamb", hyper, g);
  float *p = init->data;
  for (int t = 1; t <= 3; t++) {
    double clip = fmax(norm2(g[t - 1], n) / 100.0, 1.0);
    double bc1 = 1 - pow(0.9, t), bc2 = 1 - pow(0.999, t);
    for (int k = 0; k < init->count; k++) {
      const ds_param_info *info = &init->info[k];
      double wd = info->no_decay ? 0 : 0.05;
      int64_t o = info->offset;
      for (int64_t i = o; i < o + info->numel; i++) {
        double gi = g[t - 1][i] / clip;
        m[i] = (float)(0.9 * m[i] + 0.1 * gi);
        v[i] = (float)(0.999 * v[i] + 0.001 * gi * gi);
        u[i] = (float)(m[i] / bc1 / (sqrt(v[i] / bc2) + 1e-6) + wd * p[i]);
      }
      double r = 1;
      if (wd != 0) r = norm2(p + o, info->numel) / norm2(u + o, info->numel);
      for (int64_t i = o; i < o + info->numel; i++)
        p[i] = (float)(p[i] - 0.01 * r * u[i]);
    }
  }
  assert_int_equal(tu_mismatches("lamb large", ps->data, p, n, 1e-6, 1e-5), 0);
  for (int t = 0; t < 3; t++)
    free(g[t]);
  free(m);
  free(v);
  free(u);
  ds_paramset_free(ps);
  ds_paramset_free(init);
}

/* AdamP on LARGE with gradients orthogonal to each row of the first tensor (rows of 40000 span two
 * segments), so the channel-view projection must use whole-row sums. */
static void test_large_adamp_projection(void **state) {
  (void)state;
  ds_paramset *ps = make_set(LARGE, 4, 11);
  ds_optim *o = ds_optim_new("adamp", ps);
  const int64_t len = 40000;
  fill_grads(ps, 77);
  for (int r = 0; r < 3; r++) { /* g_r -= w_r <w_r, g_r> / |w_r|² */
    float *w = ps->data + r * len, *g = ps->grad + r * len;
    double wg = 0, ww = 0;
    for (int64_t i = 0; i < len; i++)
      wg += (double)w[i] * g[i], ww += (double)w[i] * w[i];
    for (int64_t i = 0; i < len; i++)
      g[i] -= (float)(w[i] * wg / ww);
  }
  float *before = malloc((size_t)ps->numel * 4);
  memcpy(before, ps->data, (size_t)ps->numel * 4);
  assert_int_equal(ds_optim_step(o, 0.01f), DS_OK);
  for (int r = 0; r < 3; r++) { /* the step is orthogonal to each row */
    double dw = 0, dd = 0, ww = 0;
    for (int64_t i = r * len; i < (r + 1) * len; i++) {
      double d = (double)ps->data[i] - before[i];
      dw += d * before[i];
      dd += d * d;
      ww += (double)before[i] * before[i];
    }
    double cos = fabs(dw) / sqrt(dd * ww);
    if (!(cos < 1e-4)) fail_msg("row %d: cos(step, w) = %g after projection", r, cos);
  }
  /* the 64 x 900 tensor has random gradients: no projection, a plain Adam first step -lr·sign(g) */
  int64_t off = ps->info[2].offset;
  for (int64_t i = off; i < off + 64 * 900; i += 97)
    assert_float_equal(ps->data[i] - before[i], -0.01f * copysignf(1.0f, ps->grad[i]), 1e-6);
  free(before);
  ds_optim_free(o);
  ds_paramset_free(ps);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixtures),           cmocka_unit_test(test_errors),
      cmocka_unit_test(test_names_and_defaults), cmocka_unit_test(test_checkpoint_roundtrip),
      cmocka_unit_test(test_threads_bitwise),    cmocka_unit_test(test_large_adamw),
      cmocka_unit_test(test_large_lamb),         cmocka_unit_test(test_large_adamp_projection),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
