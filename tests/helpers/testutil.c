#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *tu_load_json(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open fixture %s\n", path);
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  size_t got = fread(buf, 1, (size_t)n, f);
  fclose(f);
  buf[got] = 0;
  cJSON *j = cJSON_Parse(buf);
  free(buf);
  if (!j) fprintf(stderr, "fixture %s is not valid JSON\n", path);
  return j;
}

int64_t tu_json_floats(const cJSON *arr, float *out, int64_t n) {
  if (!cJSON_IsArray(arr)) return -1;
  int64_t i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    if (i >= n) break;
    out[i++] = (float)it->valuedouble;
  }
  return i;
}

int64_t tu_mismatches(const char *what, const float *a, const float *b, int64_t n, double atol,
                      double rtol) {
  int64_t bad = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    if (!(d <= atol + rtol * fabs((double)b[i]))) {
      if (bad < 5)
        fprintf(stderr, "%s[%lld]: got %.8g expected %.8g (|diff| %.3g)\n", what, (long long)i,
                a[i], b[i], d);
      bad++;
    }
  }
  if (bad)
    fprintf(stderr, "%s: %lld of %lld elements differ\n", what, (long long)bad, (long long)n);
  return bad;
}

void tu_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed) {
  ds_rng r;
  ds_rng_seed(&r, seed, 99);
  for (int64_t i = 0; i < n; i++)
    x[i] = lo + (hi - lo) * ds_rng_uniform(&r);
}

/* Objective sum_i w_i loss_i in double from the last forward. */
static double objective(ds_graph *g, const float *w) {
  ds_node L = ds_graph_loss(g);
  ds_shape s = ds_graph_shape(g, L);
  const float *v = ds_graph_value(g, L);
  double f = 0;
  for (int64_t i = 0; i < ds_shape_numel(&s); i++)
    f += (double)w[i] * v[i];
  return f;
}

static int64_t check_tensor(ds_graph *g, const char *name, float *x, const float *analytic,
                            int64_t n, const float *w, double eps, double atol, double rtol,
                            int64_t max_n) {
  int64_t bad = 0, stride = (max_n > 0 && n > max_n) ? n / max_n : 1;
  for (int64_t i = 0; i < n; i += stride) {
    float keep = x[i];
    x[i] = keep + (float)eps;
    ds_graph_forward(g);
    double fp = objective(g, w);
    x[i] = keep - (float)eps;
    ds_graph_forward(g);
    double fm = objective(g, w);
    x[i] = keep;
    /* the perturbation actually applied in float */
    double h = ((double)(keep + (float)eps) - (double)(keep - (float)eps));
    double fd = (fp - fm) / h;
    double d = fabs(fd - analytic[i]);
    if (!(d <= atol + rtol * fabs(fd))) {
      if (bad < 5)
        fprintf(stderr, "gradcheck %s[%lld]: analytic %.7g, finite difference %.7g\n", name,
                (long long)i, analytic[i], fd);
      bad++;
    }
  }
  return bad;
}

int64_t tu_gradcheck(ds_graph *g, double eps, double atol, double rtol, int64_t max_per_tensor) {
  ds_node L = ds_graph_loss(g);
  ds_shape s = ds_graph_shape(g, L);
  int64_t m = ds_shape_numel(&s);
  float *w = malloc((size_t)m * sizeof *w);
  tu_fill_uniform(w, m, 0.5f, 1.5f, 1234);
  if (ds_graph_forward(g) || ds_graph_backward(g, w)) {
    fprintf(stderr, "gradcheck: %s\n", ds_last_error());
    free(w);
    return 1;
  }
  /* Copy the analytic gradients: the perturbed forwards do not touch them, but be safe. */
  ds_paramset *ps = ds_graph_params(g);
  float *pg = malloc((size_t)(ps->numel ? ps->numel : 1) * sizeof *pg);
  if (ps->numel)
    memcpy(pg, ps->grad, (size_t)ps->numel * sizeof *pg); /* graphs may have no params */
  int64_t bad = 0;
  for (int k = 0; k < ps->count; k++) {
    const ds_param_info *p = &ps->info[k];
    bad += check_tensor(g, p->name, ps->data + p->offset, pg + p->offset, p->numel, w, eps, atol,
                        rtol, max_per_tensor);
  }
  for (int id = 0; id < ds_graph_node_count(g); id++) {
    float *gr = ds_graph_grad(g, id);
    if (!gr || !ds_graph_is_input(g, id)) continue; /* inputs that require grad */
    ds_shape sh = ds_graph_shape(g, id);
    const char *nm = ds_graph_node_name(g, id);
    int64_t n = ds_shape_numel(&sh);
    float *ag = malloc((size_t)n * sizeof *ag);
    memcpy(ag, gr, (size_t)n * sizeof *ag);
    bad += check_tensor(g, nm, ds_graph_value(g, id), ag, n, w, eps, atol, rtol, max_per_tensor);
    free(ag);
  }
  free(pg);
  free(w);
  return bad;
}

static char tmpdir[96];

int tu_tmpdir_make(const char *tag) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/ds_test_%s_XXXXXX", tag);
  return mkdtemp(tmpdir) ? 0 : -1;
}

const char *tu_tmpdir(void) { return tmpdir; }

int tu_tmpdir_remove(void) {
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}
