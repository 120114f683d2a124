/* descent signal RUN_DIR|CHECKPOINT, or descent signal [model settings] — signal propagation
 * through a network on real inputs: the mean square activation q per depth (pre- and
 * post-activation) and the singular values of a Jacobian: d logits / d x exactly from 10 (=
 * classes) vector-Jacobian products per batch, or between the first and the last activation by
 * stochastic Lanczos quadrature (--jacobian hidden). At initialisation (model settings as for
 * descent train) or at a checkpoint. One line on stdout; signal.json, signal.png and signal.svg. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_load.h"
#include "commands.h"
#include "descent/analysis.h"
#include "opts.h"
#include "plot.h"
#include "progress.h"
#include "run_dir.h"

#define MAX_LAYERS 65536
#define MAX_OVERLAYS 7

static int usage(FILE *f, int rc) {
  fprintf(
      f,
      "usage: descent signal RUN_DIR|CHECKPOINT [options]\n"
      "       descent signal [model and data settings of descent train] [options]\n\n"
      "Signal propagation through the network, on the first N samples of the training split:\n"
      "  q = mean of h^2 over samples and units, per depth, of every linear/conv output (pre-\n"
      "      activation) and activation output (post-activation): the length q^l of mean-field\n"
      "      theory (descent meanfield gives its fixed point q*);\n"
      "  the singular values of the input-output Jacobian J = d logits / d x of each sample,\n"
      "      exact: K vector-Jacobian products per batch (K = classes) give every J (K x D), and\n"
      "      the eigenvalues of J J^T (K x K) are the squared singular values.\n"
      "With a run directory or checkpoint: its weights; otherwise the model built from the\n"
      "settings at initialisation (e.g. --model=plain_cnn --model.depth=32 --model.act=tanh\n"
      "--model.init=delta_orthogonal; descent train --help lists them). Models with batch norm:\n"
      "q with batch statistics, the Jacobian in evaluation mode (a per-sample function).\n\n"
      "  --samples N       samples for q (default 1000; 0: all)\n"
      "  --jacobian J      logits (default): the exact spectrum of d logits / d x per sample, as\n"
      "                    above; hidden: the Jacobian between the first and the last activation\n"
      "                    (the deep part of the network, C x H x W square for a plain CNN), its\n"
      "                    singular-value density by stochastic Lanczos quadrature: Lanczos on\n"
      "                    J^T J over one batch of samples, J v by central differences of forward\n"
      "                    passes, J^T u by backward\n"
      "  --iterations N    Lanczos steps of --jacobian hidden (default 80, at most 500)\n"
      "  --jacobian-samples N  samples whose Jacobian is taken (default 64; hidden: at most\n"
      "                    --batch)\n"
      "  --batch N         samples per pass (default 100)\n"
      "  --out DIR         where signal.json, signal.png and signal.svg go (default: the run\n"
      "                    directory; the current directory for a model from settings)\n"
      "  --label TEXT      the name of this result in the figure (default: model, act, init)\n"
      "  --overlay FILE    draw an earlier signal.json into the same figure (up to %d times)\n"
      "  --replot          only redraw DIR/signal.png and .svg from DIR/signal.json (DIR: --out, "
      "or\n"
      "                    the run directory) and the overlays\n"
      "  --help\n",
      MAX_OVERLAYS);
  return rc;
}

/* ---- the figure: every result read back from its signal.json -------------------------------- */

typedef struct {
  char label[160];
  char what[300]; /* which Jacobian */
  double dpre[MAX_LAYERS / 64], qpre[MAX_LAYERS / 64], dpost[MAX_LAYERS / 64],
      qpost[MAX_LAYERS / 64];
  int npre, npost;
  double q_star; /* NAN without a mean-field init */
  double *sv;    /* singular values */
  double *w;     /* their weights (Lanczos quadrature), or NULL: equal */
  int nsv;
} result;

static double json_num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int read_result(const char *path, result *r) {
  memset(r, 0, sizeof *r);
  r->q_star = NAN;
  char *text = ds_read_file(path, NULL);
  if (!text) return DS_EIO;
  cJSON *o = cJSON_Parse(text);
  ds_free(text);
  const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers"),
              *jac = cJSON_GetObjectItemCaseSensitive(o, "jacobian"),
              *label = cJSON_GetObjectItemCaseSensitive(o, "label");
  const cJSON *sv = cJSON_GetObjectItemCaseSensitive(jac, "singular_values");
  if (!cJSON_IsArray(layers) || !cJSON_IsArray(sv) || !cJSON_IsString(label)) {
    cJSON_Delete(o);
    return ds_set_error(DS_EFORMAT, "'%s' is not a signal.json of descent signal", path);
  }
  snprintf(r->label, sizeof r->label, "%s", label->valuestring);
  const cJSON *what = cJSON_GetObjectItemCaseSensitive(jac, "jacobian");
  snprintf(r->what, sizeof r->what, "%s", cJSON_IsString(what) ? what->valuestring : "?");
  r->q_star = json_num(o, "q_star");
  const cJSON *l;
  int cap = MAX_LAYERS / 64;
  cJSON_ArrayForEach(l, layers) {
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(l, "kind");
    bool post = cJSON_IsString(kind) && !strcmp(kind->valuestring, "post");
    if (post && r->npost < cap) {
      r->dpost[r->npost] = json_num(l, "depth");
      r->qpost[r->npost++] = json_num(l, "q");
    } else if (!post && r->npre < cap) {
      r->dpre[r->npre] = json_num(l, "depth");
      r->qpre[r->npre++] = json_num(l, "q");
    }
  }
  const cJSON *wts = cJSON_GetObjectItemCaseSensitive(jac, "weights");
  r->nsv = cJSON_GetArraySize(sv);
  if (cJSON_IsArray(wts) && cJSON_GetArraySize(wts) == r->nsv) {
    r->w = ds_malloc(sizeof(double) * (size_t)(r->nsv ? r->nsv : 1));
    if (!r->w) {
      cJSON_Delete(o);
      return DS_ENOMEM;
    }
    int i = 0;
    cJSON_ArrayForEach(l, wts) r->w[i++] = cJSON_IsNumber(l) ? l->valuedouble : 0;
  }
  r->sv = ds_malloc(sizeof(double) * (size_t)(r->nsv ? r->nsv : 1));
  if (!r->sv) {
    cJSON_Delete(o);
    return DS_ENOMEM;
  }
  int i = 0;
  cJSON_ArrayForEach(l, sv) r->sv[i++] = cJSON_IsNumber(l) ? l->valuedouble : NAN;
  cJSON_Delete(o);
  return 0;
}

#define BINS 30

/* Two panels: q per depth (log axis; solid pre-, dashed post-activation, grey q*), and the
 * density of log10 of the Jacobian's singular values. */
static int draw(const result *res, int n, const char *out) {
  static double qx[MAX_OVERLAYS + 1][2], qy[MAX_OVERLAYS + 1][2];
  static double hx[MAX_OVERLAYS + 1][BINS], hy[MAX_OVERLAYS + 1][BINS];
  static char star_label[MAX_OVERLAYS + 1][200];
  plot_curve q[3 * (MAX_OVERLAYS + 1)], h[MAX_OVERLAYS + 1];
  int nq = 0;
  double lo = INFINITY, hi = -INFINITY;
  for (int r = 0; r < n; r++)
    for (int i = 0; i < res[r].nsv; i++)
      if (res[r].sv[i] > 0) {
        lo = fmin(lo, log10(res[r].sv[i]));
        hi = fmax(hi, log10(res[r].sv[i]));
      }
  if (!isfinite(lo)) lo = -1, hi = 1;
  if (hi - lo < 0.2) lo -= 0.1, hi += 0.1;
  double w = (hi - lo) / BINS;
  for (int r = 0; r < n; r++) {
    const result *s = &res[r];
    q[nq++] = (plot_curve){s->dpre, s->qpre, s->npre, r, 1, s->label};
    q[nq++] = (plot_curve){s->dpost, s->qpost, s->npost, r, 2, NULL};
    bool same = r > 0 && s->q_star == res[r - 1].q_star; /* one line for equal fixed points */
    if (isfinite(s->q_star) && !same) {
      double dmax = 1;
      for (int i = 0; i < s->npre; i++)
        dmax = fmax(dmax, s->dpre[i]);
      qx[r][0] = 1, qx[r][1] = dmax, qy[r][0] = qy[r][1] = s->q_star;
      snprintf(star_label[r], sizeof star_label[r], "q* = %.3g", s->q_star);
      q[nq++] = (plot_curve){qx[r], qy[r], 2, 7, 1, star_label[r]};
    }
    double counts[BINS] = {0}, total = 0;
    for (int i = 0; i < s->nsv; i++)
      if (s->sv[i] > 0) {
        int b = (int)((log10(s->sv[i]) - lo) / w);
        double wi = s->w ? s->w[i] : 1.0;
        counts[b < 0 ? 0 : b >= BINS ? BINS - 1 : b] += wi;
        total += wi;
      }
    for (int b = 0; b < BINS; b++) {
      hx[r][b] = lo + (b + 0.5) * w;
      hy[r][b] = total ? counts[b] / (total * w) : 0;
    }
    h[r] = (plot_curve){hx[r], hy[r], BINS, r, 1, s->label};
  }
  char title[400];
  snprintf(title, sizeof title, "singular values of %.300s", res[0].what);
  plot_panel panels[2] = {{"q per depth (solid: pre-, dashed: post-activation)",
                           "depth (linear/conv layer)", "q = mean h#u2#d", true, q, nq},
                          {title, "log#d10#u singular value", "density", false, h, n}};
  return plot_panels(panels, 2, out);
}

/* ---- measuring ----------------------------------------------------------------------------- */

/* The value below which a share p of the weight lies: v ascending with weights w (NULL: equal). */
static double quantile(const double *v, const double *w, int64_t n, double p) {
  double total = 0, acc = 0;
  for (int64_t i = 0; i < n; i++)
    total += w ? w[i] : 1.0;
  for (int64_t i = 0; i < n; i++) {
    acc += w ? w[i] : 1.0;
    if (acc >= p * total) return v[i];
  }
  return v[n - 1];
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct {
  int64_t samples, jac_samples;
  const char *label, *source;
  ds_init init;
  const settings *cfg;
  bool hidden;    /* the Jacobian between the first and the last activation, by Lanczos */
  int iterations; /* its Lanczos steps */
} measure_opts;

/* The singular values of the Jacobian: *vals ascending, *wts their weights (NULL: equal), *n their
 * number; the JSON fields of the method go into jo. Exact d logits / d x, or the stochastic Lanczos
 * quadrature between the first and the last activation (mo->hidden). */
static int jacobian(ds_graph *g, ds_node x, ds_node y, ds_node logits, const ds_dataset *d,
                    const measure_opts *mo, const ds_signal_layer *layers, int count, double **vals,
                    double **wts, int64_t *n, cJSON *jo) {
  int64_t nj = mo->jac_samples <= 0 || mo->jac_samples > d->n ? d->n : mo->jac_samples;
  if (mo->hidden) {
    ds_node from = -1, to = -1;
    for (int l = 0; l < count; l++)
      if (layers[l].post) {
        if (from < 0) from = layers[l].node;
        to = layers[l].node;
      }
    if (from < 0 || from == to)
      return ds_set_error(DS_EINVAL, "--jacobian hidden: the model needs two activation layers");
    *vals = ds_malloc(sizeof(double) * (size_t)mo->iterations);
    *wts = ds_malloc(sizeof(double) * (size_t)mo->iterations);
    if (!*vals || !*wts) return DS_ENOMEM;
    if (nj > ds_graph_max_batch(g)) nj = ds_graph_max_batch(g);
    int steps = 0;
    int st =
        ds_signal_jacobian_slq(g, x, y, from, to, d, nj, mo->iterations, 0, *vals, *wts, &steps);
    if (st) return st;
    *n = steps;
    char what[300];
    snprintf(what, sizeof what, "d %.120s / d %.120s", ds_graph_node_name(g, to),
             ds_graph_node_name(g, from));
    cJSON_AddStringToObject(jo, "jacobian", what);
    cJSON_AddStringToObject(jo, "method",
                            "stochastic Lanczos quadrature on J^T J (J v by differences of "
                            "forward passes, J^T u by backward)");
    cJSON_AddNumberToObject(jo, "samples", (double)nj);
    cJSON_AddNumberToObject(jo, "lanczos_steps", steps);
    cJSON *wa = cJSON_CreateArray();
    for (int i = 0; i < steps; i++)
      cJSON_AddItemToArray(wa, cJSON_CreateNumber((*wts)[i]));
    cJSON_AddItemToObject(jo, "weights", wa);
    return 0;
  }
  ds_shape os = ds_graph_shape(g, logits);
  int64_t K = ds_shape_numel(&os) / os.dim[0];
  double *sv = ds_malloc(sizeof(double) * (size_t)(nj * K));
  *vals = ds_malloc(sizeof(double) * (size_t)(nj * K));
  if (!sv || !*vals) {
    ds_free(sv);
    return DS_ENOMEM;
  }
  int st = ds_signal_jacobian(g, x, y, logits, d, nj, sv);
  if (!st) {
    cJSON_AddStringToObject(jo, "jacobian", "d logits / d x");
    cJSON_AddStringToObject(jo, "method",
                            "exact: eigenvalues of J J^T from K vector-Jacobian "
                            "products per batch");
    cJSON_AddNumberToObject(jo, "samples", (double)nj);
    cJSON_AddNumberToObject(jo, "outputs", (double)K);
    cJSON *mean = cJSON_CreateArray();
    for (int64_t k = 0; k < K; k++) {
      double m = 0;
      for (int64_t i = 0; i < nj; i++)
        m += sv[i * K + k];
      cJSON_AddItemToArray(mean, cJSON_CreateNumber(m / (double)nj));
    }
    cJSON_AddItemToObject(jo, "mean_by_rank", mean);
    memcpy(*vals, sv, sizeof(double) * (size_t)(nj * K));
    qsort(*vals, (size_t)(nj * K), sizeof(double), cmp_double);
    *n = nj * K;
  }
  ds_free(sv);
  return st;
}

/* Measures g (inputs x, y; output logits) on d and writes json_path; prints the summary. */
static int measure(ds_graph *g, ds_node x, ds_node y, ds_node logits, const ds_dataset *d,
                   const measure_opts *mo, const char *json_path) {
  static ds_signal_layer layers[MAX_LAYERS];
  int count = 0;
  double t0 = progress_now();
  if (ds_signal_layers(g, layers, MAX_LAYERS, &count)) return cli_fail("signal");
  if (count > MAX_LAYERS) count = MAX_LAYERS;
  if (ds_signal_stats(g, x, y, d, mo->samples, layers, count)) return cli_fail("signal");
  double *vals = NULL, *wts = NULL;
  int64_t nv = 0;
  cJSON *o = cJSON_CreateObject(), *jo = cJSON_CreateObject();
  int rc = jacobian(g, x, y, logits, d, mo, layers, count, &vals, &wts, &nv, jo)
               ? cli_fail("signal")
               : 0;
  double secs = progress_now() - t0;
  if (!rc) {
    double p10 = quantile(vals, wts, nv, 0.1), p50 = quantile(vals, wts, nv, 0.5),
           p90 = quantile(vals, wts, nv, 0.9);
    /* the moments of lambda = sigma^2, which Gauss quadrature gets right from few Lanczos steps
     * (exact for polynomials up to degree 2 steps - 1), unlike quantiles of its discrete nodes:
     * spread = Var(lambda) / E[lambda]^2, 0 for an isometry up to scale */
    double m0 = 0, m1 = 0, m2 = 0;
    for (int64_t i = 0; i < nv; i++) {
      double wi = wts ? wts[i] : 1.0, l = vals[i] * vals[i];
      m0 += wi, m1 += wi * l, m2 += wi * l * l;
    }
    m1 /= m0, m2 /= m0;
    double spread = m2 / (m1 * m1) - 1, ratio = p10 > 0 ? p90 / p10 : INFINITY;
    const char *act = set_str(mo->cfg, S_MODEL_ACT), *init = set_str(mo->cfg, S_MODEL_INIT);
    bool mf_init = mo->init.kind == DS_INIT_MEANFIELD || mo->init.kind == DS_INIT_DELTA_ORTHOGONAL;
    double q_star = NAN;
    ds_act a;
    if (mf_init && !ds_act_parse(act, &a)) {
      ds_meanfield mf;
      if (!ds_meanfield_eval(a, mo->init.a, mo->init.b, &mf)) q_star = mf.q_star;
    }
    char label[160];
    if (mo->label)
      snprintf(label, sizeof label, "%s", mo->label);
    else if (mf_init || mo->init.kind == DS_INIT_ORTHOGONAL)
      snprintf(label, sizeof label, "%s %s %s sw=%.3g", set_str(mo->cfg, S_MODEL_NAME), act, init,
               mo->init.a);
    else
      snprintf(label, sizeof label, "%s %s %s", set_str(mo->cfg, S_MODEL_NAME), act, init);
    int last_pre = -1, last_post = -1, first_pre = -1;
    for (int l = 0; l < count; l++) {
      if (!layers[l].post && first_pre < 0) first_pre = l;
      if (layers[l].post)
        last_post = l;
      else
        last_pre = l;
    }
    int64_t ns = mo->samples <= 0 || mo->samples > d->n ? d->n : mo->samples;
    const cJSON *what = cJSON_GetObjectItem(jo, "jacobian");
    printf("%s: %s; q pre-activation %.4g (depth 1) -> %.4g (depth %d)", mo->source, label,
           first_pre >= 0 ? layers[first_pre].q : NAN, last_pre >= 0 ? layers[last_pre].q : NAN,
           last_pre >= 0 ? layers[last_pre].depth : 0);
    if (last_post >= 0) printf(", post %.4g", layers[last_post].q);
    if (isfinite(q_star)) printf(", q* %.4g", q_star);
    printf("; singular values of %s: p10 %.4g median %.4g p90 %.4g (p90/p10 %.3g), max %.4g, "
           "mean sigma^2 %.4g, spread Var/E^2 of sigma^2 %.3g; %.1f s\n",
           what->valuestring, p10, p50, p90, ratio, vals[nv - 1], m1, spread, secs);

    cJSON *ls = cJSON_CreateArray(), *all = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "source", mo->source);
    cJSON_AddStringToObject(o, "label", label);
    cJSON_AddStringToObject(o, "model", set_str(mo->cfg, S_MODEL_NAME));
    cJSON_AddStringToObject(o, "act", act);
    cJSON_AddStringToObject(o, "init", init);
    cJSON_AddNumberToObject(o, "init_a", mo->init.a);
    cJSON_AddNumberToObject(o, "init_b", mo->init.b);
    if (isfinite(q_star)) cJSON_AddNumberToObject(o, "q_star", q_star);
    cJSON_AddStringToObject(o, "data", d->name);
    cJSON_AddNumberToObject(o, "samples", (double)ns);
    for (int l = 0; l < count; l++) {
      cJSON *e = cJSON_CreateObject();
      cJSON_AddStringToObject(e, "node", ds_graph_node_name(g, layers[l].node));
      cJSON_AddNumberToObject(e, "depth", layers[l].depth);
      cJSON_AddStringToObject(e, "kind", layers[l].post ? "post" : "pre");
      cJSON_AddNumberToObject(e, "q", layers[l].q);
      cJSON_AddNumberToObject(e, "mean", layers[l].mean);
      cJSON_AddNumberToObject(e, "var", layers[l].var);
      cJSON_AddItemToArray(ls, e);
    }
    cJSON_AddItemToObject(o, "layers", ls);
    cJSON_AddNumberToObject(jo, "p10", p10);
    cJSON_AddNumberToObject(jo, "median", p50);
    cJSON_AddNumberToObject(jo, "p90", p90);
    cJSON_AddNumberToObject(jo, "p90_over_p10", ratio); /* null when infinite */
    cJSON_AddNumberToObject(jo, "mean_sq", m1);
    cJSON_AddNumberToObject(jo, "spread", spread);
    cJSON_AddNumberToObject(jo, "min", vals[0]);
    cJSON_AddNumberToObject(jo, "max", vals[nv - 1]);
    for (int64_t i = 0; i < nv; i++)
      cJSON_AddItemToArray(all, cJSON_CreateNumber(vals[i]));
    cJSON_AddItemToObject(jo, "singular_values", all);
    cJSON_AddItemToObject(o, "jacobian", jo);
    jo = NULL;
    cJSON_AddNumberToObject(o, "seconds", secs);
    if (analysis_write_json(json_path, o)) rc = cli_fail("signal");
  }
  cJSON_Delete(jo);
  cJSON_Delete(o);
  ds_free(vals);
  ds_free(wts);
  return rc;
}

/* dir/signal.png and .svg from dir/signal.json and the overlays, all read back from their files. */
static int figure_from(const char *dir, const char *const *overlays, int n_overlays) {
  static result res[MAX_OVERLAYS + 1];
  char json[4400], figure[4400];
  snprintf(json, sizeof json, "%s/signal.json", dir);
  snprintf(figure, sizeof figure, "%s/signal", dir);
  int n = 0, rc = 0;
  if (read_result(json, &res[n++])) rc = cli_fail("signal");
  for (int k = 0; k < n_overlays && !rc; k++)
    if (read_result(overlays[k], &res[n++])) rc = cli_fail("signal");
  if (!rc && draw(res, n, figure)) rc = cli_fail("signal");
  for (int k = 0; k < n; k++) {
    ds_free(res[k].sv);
    ds_free(res[k].w);
  }
  if (!rc) printf("wrote %s.png, %s.svg\n", figure, figure);
  return rc;
}

int cmd_signal(int argc, char **argv) {
  const char *target = NULL, *out = NULL, *label = NULL, *overlays[MAX_OVERLAYS];
  int64_t samples = 1000, jac_samples = 64, batch = 100, iterations = 80;
  const char *jac = "logits";
  bool replot = false;
  int n_overlays = 0;
  static const opt_spec specs[] = {{"--samples", true},  {"--jacobian-samples", true},
                                   {"--batch", true},    {"--out", true},
                                   {"--label", true},    {"--overlay", true},
                                   {"--jacobian", true}, {"--iterations", true},
                                   {"--replot", false},  {"--help", false}};
  const int n_specs = (int)(sizeof specs / sizeof *specs);
  /* the command's own options; everything else goes to the settings parser */
  char **rest = ds_malloc(sizeof(char *) * (size_t)(argc + 1));
  if (!rest) return cli_fail("signal");
  int n_rest = 1;
  rest[0] = argv[0];
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h")) {
      ds_free(rest);
      return usage(stdout, 0);
    }
    bool own = false;
    for (int k = 0; k < n_specs && !own; k++) {
      size_t m = strlen(specs[k].name);
      own = !strncmp(a, specs[k].name, m) && (!a[m] || a[m] == '=');
    }
    if (!own && !strncmp(a, "--", 2)) { /* a setting, with its value */
      rest[n_rest++] = argv[i];
      if (!strchr(a, '=') && i + 1 < argc && strncmp(argv[i + 1], "--", 2))
        rest[n_rest++] = argv[++i];
      continue;
    }
    const char *v;
    int o = opt_next("signal", specs, n_specs, argc, argv, &i, &v), rc = 0;
    switch (o) {
    case -2: rc = 2; break;
    case -1:
      if (target) {
        fprintf(stderr, "descent: signal: unexpected argument '%s'\n", v);
        rc = 2;
      }
      target = v;
      break;
    case 0: rc = opt_int("signal", "--samples", v, 0, INT64_MAX, &samples); break;
    case 1: rc = opt_int("signal", "--jacobian-samples", v, 1, 1 << 20, &jac_samples); break;
    case 2: rc = opt_int("signal", "--batch", v, 1, 1 << 16, &batch); break;
    case 3: out = v; break;
    case 4: label = v; break;
    case 5:
      if (n_overlays == MAX_OVERLAYS) {
        fprintf(stderr, "descent: signal: at most %d --overlay files\n", MAX_OVERLAYS);
        rc = 2;
      } else {
        overlays[n_overlays++] = v;
      }
      break;
    case 6: jac = v; break;
    case 7: rc = opt_int("signal", "--iterations", v, 1, 500, &iterations); break;
    case 8: replot = true; break;
    default: ds_free(rest); return usage(stdout, 0);
    }
    if (rc) {
      ds_free(rest);
      return rc;
    }
  }
  if (strcmp(jac, "logits") && strcmp(jac, "hidden")) {
    fprintf(stderr, "descent: signal: --jacobian '%s' is not logits or hidden\n", jac);
    ds_free(rest);
    return 2;
  }
  if (replot) { /* the figure only, from DIR/signal.json (DIR: --out, or the run directory) */
    ds_free(rest);
    if (!out && !target) {
      fprintf(stderr, "descent: signal: --replot needs --out DIR or a run directory\n");
      return 2;
    }
    return figure_from(out ? out : target, overlays, n_overlays);
  }
  if (target && n_rest > 1) {
    fprintf(stderr,
            "descent: signal: settings such as '%s' build a model at initialisation; "
            "a run directory brings its own\n",
            rest[1]);
    ds_free(rest);
    return 2;
  }

  analysis_model m;
  memset(&m, 0, sizeof m);
  ds_graph *g = NULL;
  ds_node x = 0, y = 0, logits = 0;
  char dir[4200], bv[32], source[4300];
  snprintf(bv, sizeof bv, "%lld", (long long)batch);
  int rc = 0;
  if (target) { /* the run's model and weights, rebuilt with the input's gradient */
    if (analysis_load(target, batch, NULL, &m)) {
      rc = cli_fail("signal");
    } else {
      m.r.input_grad = true;
      if (analysis_worker(&m, &g, &x, &y)) rc = cli_fail("signal");
      logits = m.r.logits; /* the same build order: the same node ids */
    }
    snprintf(dir, sizeof dir, "%s", out ? out : m.dir);
    snprintf(source, sizeof source, "%s", m.ckpt);
  } else {
    settings_init(&m.r.cfg);
    cli_flags flags;
    int st = settings_parse_args(&m.r.cfg, n_rest, rest, &flags);
    if (flags.help) {
      ds_free(rest);
      return usage(stdout, 0);
    }
    if (!st) st = settings_set(&m.r.cfg, "train.batch_size", bv);
    if (st) {
      ds_free(rest);
      return cli_exit(st, "signal");
    }
    run_set_threads(&m.r);
    m.r.input_grad = true;
    if (run_setup_data(&m.r) || run_setup_model(&m.r)) rc = cli_fail("signal");
    g = m.r.g;
    x = m.r.x;
    y = m.r.y;
    logits = m.r.logits;
    snprintf(dir, sizeof dir, "%s", out ? out : ".");
    snprintf(source, sizeof source, "initialisation (seed %lld)",
             (long long)set_int(&m.r.cfg, S_TRAIN_SEED));
  }
  ds_free(rest);
  measure_opts mo = {
      samples, jac_samples, label, source, {0}, &m.r.cfg, !strcmp(jac, "hidden"), (int)iterations};
  ds_act act = DS_ACT_RELU;
  if (!rc && (ds_act_parse(set_str(&m.r.cfg, S_MODEL_ACT), &act) ||
              run_parse_init(&m.r.cfg, act, &mo.init)))
    rc = cli_fail("signal");
  if (!rc && run_dir_make(dir)) rc = cli_fail("signal");
  char json[4400];
  snprintf(json, sizeof json, "%s/signal.json", dir);
  if (!rc) rc = measure(g, x, y, logits, m.r.train, &mo, json);
  if (!rc) printf("wrote %s\n", json);
  if (!rc) rc = figure_from(dir, overlays, n_overlays);
  if (target && g) ds_graph_free(g);
  analysis_free(&m);
  return rc;
}
