/* descent bench — micro-benchmarks, one table entry per benchmark (descent bench NAME [options]).
 *
 * bench optim: the time of one optimizer step, in ns per parameter, for every optimizer at 1M and
 * 16M parameters (four weight matrices of 1024 columns plus their biases), next to a fused
 * streaming bound measured by this program: one OpenMP pass that reads p, g and S state buffers and
 * writes p and the S states, with trivial arithmetic, for the S state buffers the optimizer keeps.
 * An optimizer at 1.0x of its bound moves no more memory than it must. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "descent/descent.h"

typedef struct {
  const char *name;
  const char *help;
  int (*run)(int argc, char **argv);
} bench;

/* ---- timing --------------------------------------------------------------------------------- */

/* Seconds per call of fn(ctx): one warm-up call, then calls until budget seconds have passed (at
 * least min_calls, at most MAX_CALLS). The machine is shared, so the time reported is the 10th
 * percentile of the calls: the least disturbed ones, without trusting a single outlier. Returns a
 * negative value if fn fails. */
#define MAX_CALLS 1000

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double time_calls(int (*fn)(void *), void *ctx, double budget, int min_calls) {
  static double t[MAX_CALLS];
  if (fn(ctx)) return -1;
  int k = 0;
  double start = omp_get_wtime();
  while (k < MAX_CALLS && (k < min_calls || omp_get_wtime() - start < budget)) {
    double t0 = omp_get_wtime();
    if (fn(ctx)) return -1;
    t[k++] = omp_get_wtime() - t0;
  }
  qsort(t, (size_t)k, sizeof *t, cmp_double);
  return t[k / 10];
}

/* ---- the streaming bound ------------------------------------------------------------------- */

typedef struct {
  float *p, *g, *s[3];
  int64_t n;
  int states;
} stream_ctx;

/* Reads p, g and the states, writes p and the states: (3 + 2S)·4 bytes per element. */
static int stream_pass(void *vctx) {
  stream_ctx *c = vctx;
  float *restrict p = c->p, *restrict s0 = c->s[0], *restrict s1 = c->s[1], *restrict s2 = c->s[2];
  const float *restrict g = c->g;
  const int64_t n = c->n;
  switch (c->states) {
  case 0:
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++)
      p[i] -= 1e-3f * g[i];
    break;
  case 1:
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
      float a = 0.9f * s0[i] + g[i];
      s0[i] = a;
      p[i] -= 1e-3f * a;
    }
    break;
  case 2:
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
      float gi = g[i], a = 0.9f * s0[i] + 0.1f * gi, b = 0.999f * s1[i] + 1e-3f * gi * gi;
      s0[i] = a;
      s1[i] = b;
      p[i] -= 1e-3f * a * b;
    }
    break;
  default:
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
      float gi = g[i], a = 0.9f * s0[i] + 0.1f * gi, b = 0.999f * s1[i] + 1e-3f * gi * gi;
      float c2 = b > s2[i] ? b : s2[i];
      s0[i] = a;
      s1[i] = b;
      s2[i] = c2;
      p[i] -= 1e-3f * a * c2;
    }
  }
  return 0;
}

/* ---- optimizer steps ------------------------------------------------------------------------ */

typedef struct {
  const char *label, *optimizer;
  const char *hyper[6]; /* key, value pairs, NULL-terminated */
} optim_case;

static const optim_case optim_cases[] = {
    {"sgd", "sgd", {NULL}},
    {"sgd-momentum", "sgd", {"momentum", "0.9", NULL}},
    {"sgdw-momentum", "sgdw", {"momentum", "0.9", "weight_decay", "1e-4", NULL}},
    {"adagrad", "adagrad", {NULL}},
    {"rmsprop", "rmsprop", {NULL}},
    {"adadelta", "adadelta", {NULL}},
    {"adam", "adam", {NULL}},
    {"adamw", "adamw", {NULL}},
    {"adamw-amsgrad", "adamw", {"amsgrad", "true", NULL}},
    {"adamax", "adamax", {NULL}},
    {"nadam", "nadam", {NULL}},
    {"radam", "radam", {NULL}},
    {"lion", "lion", {NULL}},
    {"schedulefree_adamw", "schedulefree_adamw", {NULL}},
    {"lars", "lars", {"momentum", "0.9", "weight_decay", "1e-4", NULL}},
    {"lamb", "lamb", {NULL}},
    {"adamp", "adamp", {"weight_decay", "1e-4", NULL}},
    {"sgdp", "sgdp", {"momentum", "0.9", "weight_decay", "1e-4", NULL}},
    {"muon", "muon", {NULL}},
};

typedef struct {
  ds_optim *o;
} step_ctx;

static int optim_step(void *vctx) {
  step_ctx *c = vctx;
  return ds_optim_step(c->o, (float)(0.1 * ds_optim_default_lr(c->o)));
}

/* Four (rows x 1024) weights and four biases, about n parameters in all; values and gradients
 * small and deterministic. */
static ds_paramset *bench_params(int64_t n) {
  ds_paramset *ps = ds_paramset_new();
  int64_t rows = n / 4 / 1024;
  if (rows < 1) rows = 1;
  char name[32];
  for (int i = 0; i < 4 && ps; i++) {
    snprintf(name, sizeof name, "layer%d.weight", i);
    if (ds_paramset_add(ps, name, ds_shape2(rows, 1024), DS_ROLE_WEIGHT) < 0) goto fail;
    snprintf(name, sizeof name, "layer%d.bias", i);
    if (ds_paramset_add(ps, name, ds_shape1(rows), DS_ROLE_BIAS) < 0) goto fail;
  }
  if (!ps) return NULL;
  ds_rng r;
  ds_rng_seed(&r, 1, 0);
  for (int64_t i = 0; i < ps->numel; i++) {
    ps->data[i] = 0.02f * (ds_rng_uniform(&r) - 0.5f);
    ps->grad[i] = 0.01f * (ds_rng_uniform(&r) - 0.5f);
  }
  return ps;
fail:
  ds_paramset_free(ps);
  return NULL;
}

static int64_t parse_size(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (end == s) return -1;
  if (*end == 'k' || *end == 'K')
    v *= 1 << 10, end++;
  else if (*end == 'M' || *end == 'm')
    v *= 1 << 20, end++;
  else if (*end == 'G' || *end == 'g')
    v *= 1 << 30, end++;
  return *end || v < 1024 || v > 4e9 ? -1 : (int64_t)v;
}

static bool wanted(const char *label, const char *list) {
  if (!list) return true;
  size_t n = strlen(label);
  for (const char *s = list; (s = strstr(s, label)); s += n)
    if ((s == list || s[-1] == ',') && (s[n] == ',' || s[n] == '\0')) return true;
  return false;
}

static void optim_usage(FILE *f) {
  fprintf(
      f,
      "usage: descent bench optim [--sizes 1M,16M] [--only LIST] [--time SEC] [--json FILE]\n\n"
      "Times one optimizer step (ns per parameter) for every optimizer, next to the fused\n"
      "streaming bound for the same number of state buffers.\n\n"
      "  --sizes LIST  parameter counts, comma-separated, suffixes k/M/G (default 1M,16M)\n"
      "  --only LIST   only these cases (labels as printed, comma-separated)\n"
      "  --time SEC    time budget per measurement; its 10th-percentile step counts (default 0.5)\n"
      "  --json FILE   also write the results as JSON\n"
      "Threads: OMP_NUM_THREADS (now %d).\n",
      omp_get_max_threads());
}

static int bench_optim(int argc, char **argv) {
  const char *sizes = "1M,16M", *only = NULL, *json_path = NULL;
  double budget = 0.5;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      optim_usage(stdout);
      return 0;
    } else if (v && !strcmp(a, "--sizes")) {
      sizes = v, i++;
    } else if (v && !strcmp(a, "--only")) {
      only = v, i++;
    } else if (v && !strcmp(a, "--json")) {
      json_path = v, i++;
    } else if (v && !strcmp(a, "--time")) {
      budget = atof(v), i++;
      if (!(budget > 0 && budget < 600)) {
        fprintf(stderr, "descent: bench optim: --time %s must be in (0, 600)\n", v);
        return 2;
      }
    } else {
      fprintf(stderr, "descent: bench optim: unknown or incomplete option '%s'\n", a);
      optim_usage(stderr);
      return 2;
    }
  }
  ds_atomic_file *out = json_path ? ds_atomic_open(json_path) : NULL;
  if (json_path && !out) return cli_fail("bench optim");
  FILE *json = ds_atomic_stream(out);
  if (json)
    fprintf(json, "{\"bench\": \"optim\", \"threads\": %d, \"results\": [", omp_get_max_threads());
  printf("descent bench optim: %d threads, 10th percentile of the steps in %.2g s\n",
         omp_get_max_threads(), budget);
  int rc = 0, nres = 0;
  char list[256];
  snprintf(list, sizeof list, "%s", sizes);
  for (char *tok = strtok(list, ","); tok && !rc; tok = strtok(NULL, ",")) {
    int64_t want = parse_size(tok);
    if (want < 0) {
      fprintf(stderr, "descent: bench optim: bad size '%s' (a count from 1k to 4G, e.g. 16M)\n",
              tok);
      rc = 2;
      break;
    }
    ds_paramset *ps = bench_params(want);
    if (!ps) {
      rc = cli_fail("bench optim");
      break;
    }
    const int64_t n = ps->numel;
    /* the bounds, for 0..3 state buffers */
    double bound[4];
    stream_ctx sc = {ps->data, ps->grad, {NULL, NULL, NULL}, n, 0};
    for (int k = 0; k < 3; k++)
      sc.s[k] = calloc((size_t)n, sizeof(float));
    for (int s = 0; s < 4; s++) {
      sc.states = s;
      bound[s] = sc.s[2] ? time_calls(stream_pass, &sc, budget, 5) / (double)n * 1e9 : NAN;
    }
    for (int k = 0; k < 3; k++)
      free(sc.s[k]);
    printf("\n%lld parameters (%d tensors)\n", (long long)n, ps->count);
    printf("  %-20s %9s %9s %7s %8s\n", "step", "ns/param", "bound", "x bound", "GB/s");
    for (int s = 0; s < 4; s++)
      printf("  stream, %d states    %9.3f %9.3f %7.2f %8.1f\n", s, bound[s], bound[s], 1.0,
             (3 + 2 * s) * 4.0 / bound[s]);
    for (size_t c = 0; c < sizeof optim_cases / sizeof *optim_cases; c++) {
      const optim_case *oc = &optim_cases[c];
      if (!wanted(oc->label, only)) continue;
      ds_optim *o = ds_optim_new(oc->optimizer, ps);
      for (int h = 0; o && oc->hyper[h]; h += 2)
        if (ds_optim_set_str(o, oc->hyper[h], oc->hyper[h + 1])) {
          ds_optim_free(o);
          o = NULL;
        }
      step_ctx ctx = {o};
      double sec = o ? time_calls(optim_step, &ctx, budget, 2) : -1;
      if (sec < 0) {
        rc = cli_fail(oc->label);
        ds_optim_free(o);
        break;
      }
      int states = ds_optim_state_count(o);
      double ns = sec / (double)n * 1e9, b = bound[states > 3 ? 3 : states];
      printf("  %-20s %9.3f %9.3f %7.2f %8.1f\n", oc->label, ns, b, ns / b,
             (3 + 2 * states) * 4.0 / ns);
      if (json)
        fprintf(json,
                "%s\n  {\"case\": \"%s\", \"optimizer\": \"%s\", \"numel\": %lld, \"states\": %d, "
                "\"ns_per_param\": %.4f, \"bound_ns_per_param\": %.4f, \"ratio\": %.3f}",
                nres++ ? "," : "", oc->label, oc->optimizer, (long long)n, states, ns, b, ns / b);
      ds_optim_free(o);
    }
    for (int s = 0; json && s < 4; s++)
      fprintf(
          json,
          "%s\n  {\"case\": \"stream%d\", \"optimizer\": null, \"numel\": %lld, \"states\": %d, "
          "\"ns_per_param\": %.4f, \"bound_ns_per_param\": %.4f, \"ratio\": 1}",
          nres++ ? "," : "", s, (long long)n, s, bound[s], bound[s]);
    ds_paramset_free(ps);
  }
  if (json) {
    fprintf(json, "\n]}\n");
    if (rc)
      ds_atomic_abort(out); /* no partial results over a previous file */
    else if (ds_atomic_commit(out))
      rc = cli_fail("bench optim");
  }
  return rc;
}

/* ---- the table ------------------------------------------------------------------------------ */

static const bench benches[] = {
    {"optim", "optimizer step time per parameter vs the streaming bound", bench_optim},
};

int cmd_bench(int argc, char **argv) {
  const size_t nb = sizeof benches / sizeof *benches;
  if (argc >= 2)
    for (size_t i = 0; i < nb; i++)
      if (!strcmp(argv[1], benches[i].name)) return benches[i].run(argc - 1, argv + 1);
  bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
  FILE *f = help ? stdout : stderr;
  if (argc >= 2 && !help) fprintf(stderr, "descent: bench: unknown benchmark '%s'\n", argv[1]);
  fprintf(f, "usage: descent bench NAME [options]   ('descent bench NAME --help' for options)\n\n");
  for (size_t i = 0; i < nb; i++)
    fprintf(f, "  %-10s %s\n", benches[i].name, benches[i].help);
  return help ? 0 : 2;
}
