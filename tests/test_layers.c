/* Layer statistics of the trainer (ds_trainer_options.log_layers) and the trust ratios of lars and
 * lamb (ds_optim_trust_ratios): the norms match ones recomputed from θ and g, LARS's trust ratio
 * matches its rule and the update it made, the fit writes a "layers" object per step record with
 * every parameter, and with log_layers off nothing changes but the missing object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "descent/descent.h"

typedef struct {
  ds_dataset *train, *test;
  ds_graph *g;
  ds_node x, y, logits;
  ds_optim *opt;
  ds_sched *sched;
  ds_loader *loader;
  ds_trainer *t;
} rig;

/* A 2-hidden-layer MLP on blobs with optimizer `optim` at a constant lr. */
static void rig_make(rig *r, const char *optim, double lr, bool log_layers) {
  memset(r, 0, sizeof *r);
  ds_data_options d = ds_data_options_default();
  d.n_train = 200;
  d.n_test = 50;
  d.seed = 4;
  assert_int_equal(ds_dataset_load("blobs", &d, &r->train, &r->test), DS_OK);
  r->g = ds_graph_new(32);
  r->x = ds_input(r->g, "x", r->train->sample_shape);
  r->y = ds_input(r->g, "y", ds_shape_scalar());
  ds_mlp_options mo = ds_mlp_options_default();
  mo.width = 16;
  mo.depth = 2;
  r->logits = ds_nn_mlp(r->g, r->x, r->train->n_classes, &mo);
  ds_node loss = ds_cross_entropy(r->g, r->logits, r->y, 0.0f);
  assert_int_equal(ds_graph_compile(r->g, loss), DS_OK);
  assert_int_equal(ds_graph_init_params(r->g, 5), DS_OK);
  r->opt = ds_optim_new(optim, ds_graph_params(r->g));
  assert_non_null(r->opt);
  r->sched = ds_sched_new("constant", lr);
  assert_int_equal(ds_sched_validate(r->sched), DS_OK);
  ds_loader_options lo = ds_loader_options_default();
  lo.batch = 32;
  lo.seed = 5;
  r->loader = ds_loader_new(r->train, &lo);
  assert_non_null(r->loader);
  ds_trainer_options to = ds_trainer_options_default();
  to.log_layers = log_layers;
  to.clip_norm = 0.5; /* the statistics see the clipped gradient */
  ds_trainer_parts p = {r->g, r->x, r->y, r->logits, r->opt, r->sched, r->loader};
  r->t = ds_trainer_new(&p, &to);
  assert_non_null(r->t);
}

static void rig_free(rig *r) {
  ds_trainer_free(r->t);
  ds_loader_free(r->loader);
  ds_sched_free(r->sched);
  ds_optim_free(r->opt);
  ds_graph_free(r->g);
  ds_dataset_free(r->train);
  ds_dataset_free(r->test);
}

static double norm2(const float *x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++)
    s += (double)x[i] * x[i];
  return sqrt(s);
}

static void set(ds_optim *o, const char *key, double v) {
  assert_int_equal(ds_optim_set(o, key, &v, 1), DS_OK);
}

/* LARS without momentum: every tensor's statistics against θ (copied before the step) and g (the
 * gradient buffer the step read), the trust ratio against the rule trust_coeff ||θ|| / (||g|| +
 * λ||θ|| + eps) within 1e-5 relative, and against the update it made, θ_old - θ_new = lr r (g +
 * λθ), within float rounding (1e-4). Biases are not adapted: NaN. */
static void test_lars_trust_ratio(void **state) {
  (void)state;
  rig r;
  rig_make(&r, "lars", 0.5, true);
  const double wd = 1e-3, coeff = 0.02, eps = 1e-8;
  set(r.opt, "weight_decay", wd);
  set(r.opt, "trust_coeff", coeff);
  ds_paramset *ps = ds_graph_params(r.g);
  float *before = malloc(sizeof(float) * (size_t)ps->numel);
  assert_non_null(before);
  int64_t at = -1;
  assert_non_null(ds_trainer_layer_stats(r.t, &at)); /* allocated, nothing measured yet */
  assert_int_equal(at, 0);
  ds_step_result sr;
  for (int s = 0; s < 3; s++) { /* the third step is checked */
    memcpy(before, ps->data, sizeof(float) * (size_t)ps->numel);
    assert_int_equal(ds_trainer_step(r.t, &sr), 1);
  }
  const ds_layer_stats *ls = ds_trainer_layer_stats(r.t, &at);
  assert_non_null(ls);
  assert_int_equal(at, 3);
  const double *tr = ds_optim_trust_ratios(r.opt);
  assert_non_null(tr);
  int adapted = 0;
  for (int i = 0; i < ps->count; i++) {
    const ds_param_info *in = &ps->info[i];
    const float *w = before + in->offset, *g = ps->grad + in->offset;
    double wn = norm2(w, in->numel), gn = norm2(g, in->numel);
    assert_true(isfinite(ls[i].param_norm) && ls[i].param_norm > 0);
    assert_true(isfinite(ls[i].grad_norm) && ls[i].grad_norm > 0);
    assert_true(fabs(ls[i].param_norm - wn) <= 1e-9 * wn);
    assert_true(fabs(ls[i].grad_norm - gn) <= 1e-9 * gn);
    assert_true(ls[i].trust_ratio == tr[i] || (isnan(ls[i].trust_ratio) && isnan(tr[i])));
    if (in->no_adapt) {
      assert_true(isnan(ls[i].trust_ratio));
      continue;
    }
    adapted++;
    double rule = coeff * wn / (gn + wd * wn + eps);
    if (fabs(ls[i].trust_ratio - rule) > 1e-5 * rule)
      fail_msg("%s: trust ratio %.9g, the rule gives %.9g", in->name, ls[i].trust_ratio, rule);
    /* the ratio the update used: ||θ_old - θ_new|| / (lr ||g + λθ||) */
    double du = 0, dd = 0;
    for (int64_t e = 0; e < in->numel; e++) {
      double d = (double)g[e] + wd * (double)w[e], step = (double)w[e] - ps->data[in->offset + e];
      du += step * step;
      dd += d * d;
    }
    double applied = sqrt(du) / (sr.lr * sqrt(dd));
    if (fabs(applied - rule) > 1e-4 * rule)
      fail_msg("%s: the update applied a ratio of %.9g, the rule gives %.9g", in->name, applied,
               rule);
  }
  assert_int_equal(adapted, 3); /* the three weight matrices */
  free(before);
  rig_free(&r);
}

/* lamb has trust ratios (weights adapted, biases NaN); adamw has none; off, nothing is measured. */
static void test_other_optimizers(void **state) {
  (void)state;
  rig r;
  rig_make(&r, "lamb", 1e-2, true);
  ds_step_result sr;
  assert_int_equal(ds_trainer_step(r.t, &sr), 1);
  const ds_layer_stats *ls = ds_trainer_layer_stats(r.t, NULL);
  const ds_paramset *ps = ds_graph_params(r.g);
  for (int i = 0; i < ps->count; i++)
    if (ps->info[i].no_adapt)
      assert_true(isnan(ls[i].trust_ratio));
    else
      assert_true(isfinite(ls[i].trust_ratio) && ls[i].trust_ratio > 0);
  rig_free(&r);
  rig_make(&r, "adamw", 1e-2, true);
  assert_null(ds_optim_trust_ratios(r.opt));
  assert_int_equal(ds_trainer_step(r.t, &sr), 1);
  ls = ds_trainer_layer_stats(r.t, NULL);
  assert_non_null(ls);
  assert_true(isnan(ls[0].trust_ratio) && ls[0].param_norm > 0);
  rig_free(&r);
  rig_make(&r, "lars", 1e-2, false);
  assert_int_equal(ds_trainer_step(r.t, &sr), 1);
  int64_t at = -1;
  assert_null(ds_trainer_layer_stats(r.t, &at));
  assert_int_equal(at, 0);
  rig_free(&r);
}

static const char *tmp_path(const char *tag) {
  static char path[2][256];
  static int k;
  k ^= 1;
  snprintf(path[k], sizeof path[k], "/tmp/descent_test_layers_%ld.%s", (long)getpid(), tag);
  return path[k];
}

static void fit(const char *optim, bool log_layers, const char *metrics) {
  rig r;
  rig_make(&r, optim, 0.1, log_layers);
  set(r.opt, "weight_decay", 1e-4);
  ds_fit_options o = ds_fit_options_default();
  o.epochs = 2;
  o.test = r.test;
  o.metrics = metrics;
  o.log_every = 3;
  remove(metrics);
  assert_int_equal(ds_trainer_fit(r.t, &o, NULL), DS_OK);
  rig_free(&r);
}

/* Every step record of a log_layers fit has a "layers" object naming every parameter, with finite
 * positive norms, their ratio, and a trust ratio (null for biases). */
static void test_fit_records(void **state) {
  (void)state;
  const char *path = tmp_path("on.jsonl");
  fit("lars", true, path);
  char *text = ds_read_file(path, NULL);
  assert_non_null(text);
  int steps = 0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    cJSON *o = cJSON_Parse(line);
    assert_non_null(o);
    const char *kind = cJSON_GetObjectItemCaseSensitive(o, "kind")->valuestring;
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers");
    if (strcmp(kind, "step")) {
      assert_null(layers);
      cJSON_Delete(o);
      continue;
    }
    steps++;
    assert_true(cJSON_IsObject(layers));
    const char *names[] = {"fc1.weight", "fc1.bias",    "fc2.weight",
                           "fc2.bias",   "head.weight", "head.bias"};
    assert_int_equal(cJSON_GetArraySize(layers), 6);
    for (int i = 0; i < 6; i++) {
      const cJSON *l = cJSON_GetObjectItemCaseSensitive(layers, names[i]);
      if (!l) fail_msg("no layer statistics of %s in: %s", names[i], line);
      double w = cJSON_GetObjectItemCaseSensitive(l, "w")->valuedouble,
             g = cJSON_GetObjectItemCaseSensitive(l, "g")->valuedouble,
             wg = cJSON_GetObjectItemCaseSensitive(l, "w_g")->valuedouble;
      assert_true(isfinite(w) && w > 0 && isfinite(g) && g > 0);
      assert_true(fabs(wg - w / g) <= 1e-6 * wg);
      const cJSON *tr = cJSON_GetObjectItemCaseSensitive(l, "trust");
      assert_non_null(tr);
      if (strstr(names[i], "bias"))
        assert_true(cJSON_IsNull(tr));
      else
        assert_true(cJSON_IsNumber(tr) && tr->valuedouble > 0);
    }
    cJSON_Delete(o);
  }
  assert_int_equal(steps, 4); /* 2 epochs x 7 steps, one record every 3 */
  ds_free(text);
  remove(path);
}

/* Off, the metrics of the same fit have no "layers" and, timing aside, the same records as on. */
static void test_off_unchanged(void **state) {
  (void)state;
  const char *on = tmp_path("on.jsonl"), *off = tmp_path("off.jsonl");
  fit("lars", true, on);
  fit("lars", false, off);
  char *a = ds_read_file(on, NULL), *b = ds_read_file(off, NULL);
  assert_non_null(a);
  assert_non_null(b);
  assert_null(strstr(b, "layers"));
  char *sa = NULL, *sb = NULL, *la, *lb;
  int lines = 0;
  for (la = strtok_r(a, "\n", &sa), lb = strtok_r(b, "\n", &sb); la && lb;
       la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb), lines++) {
    const char *cuts[] = {"\"samples_per_s\"", "\"seconds\""}; /* timing, and what follows */
    for (int c = 0; c < 2; c++) {
      char *pa = strstr(la, cuts[c]), *pb = strstr(lb, cuts[c]);
      if (pa) *pa = '\0';
      if (pb) *pb = '\0';
    }
    assert_string_equal(la, lb);
  }
  assert_null(la);
  assert_null(lb);
  assert_int_equal(lines, 6);
  ds_free(a);
  ds_free(b);
  remove(on);
  remove(off);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lars_trust_ratio),
      cmocka_unit_test(test_other_optimizers),
      cmocka_unit_test(test_fit_records),
      cmocka_unit_test(test_off_unchanged),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
