/* descent sharpness RUN_DIR|CHECKPOINT — the top Hessian eigenvalues of the training loss (Lanczos
 * on finite-difference Hessian-vector products), optionally its trace (Hutchinson) and Keskar's
 * epsilon-sharpness, over a fixed subset of the training split, in evaluation mode. One line on
 * stdout, sharpness.json in the run directory. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analysis_load.h"
#include "commands.h"
#include "descent/analysis.h"
#include "opts.h"
#include "progress.h"

#define MAX_K 16

static int usage(FILE *f, int rc) {
  fprintf(
      f,
      "usage: descent sharpness RUN_DIR|CHECKPOINT [options]\n\n"
      "Curvature of the training loss at a checkpoint (RUN_DIR means "
      "RUN_DIR/checkpoint.safetensors),\n"
      "over the first N samples of the training split, with the model in evaluation mode (batch\n"
      "norm uses its running statistics, dropout is off). Hessian-vector products are central\n"
      "differences of gradients (step sqrt(float eps) (1 + ||w||)); eigenvalues by Lanczos.\n\n"
      "  --samples N       training samples (default 4096; 0: all)\n"
      "  --k K             largest eigenvalues to report (default 1, at most %d)\n"
      "  --iterations N    Lanczos iterations = Hessian-vector products (default 20)\n"
      "  --trace           also estimate the trace (Hutchinson, Rademacher probes)\n"
      "  --trace-probes N  probes of the trace estimate (default 20)\n"
      "  --epsilon X       also Keskar's epsilon-sharpness with box size X (e.g. 1e-3)\n"
      "  --ascent-steps N  projected gradient-ascent steps of epsilon-sharpness (default 10)\n"
      "  --batch N         samples per forward/backward pass (default 1024)\n"
      "  --seed N          seed of the random start and probe vectors (default 0)\n"
      "  --threads N       threads (default: the run's setting)\n"
      "  --help\n\n"
      "Writes RUN_DIR/sharpness.json (or next to CHECKPOINT) and prints one line.\n",
      MAX_K);
  return rc;
}

int cmd_sharpness(int argc, char **argv) {
  const char *target = NULL, *threads = NULL;
  int64_t samples = 4096, k = 1, iters = 20, probes = 20, steps = 10, batch = 1024, seed = 0;
  double eps = 0;
  bool trace = false;
  static const opt_spec specs[] = {
      {"--samples", true},      {"--k", true},       {"--iterations", true},   {"--trace", false},
      {"--trace-probes", true}, {"--epsilon", true}, {"--ascent-steps", true}, {"--batch", true},
      {"--seed", true},         {"--threads", true}, {"--help", false}};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-h")) return usage(stdout, 0);
    const char *v;
    int o = opt_next("sharpness", specs, (int)(sizeof specs / sizeof *specs), argc, argv, &i, &v),
        rc = 0;
    switch (o) {
    case -2: return 2;
    case -1:
      if (target) {
        fprintf(stderr, "descent: sharpness: unexpected argument '%s'\n", v);
        return 2;
      }
      target = v;
      break;
    case 0: rc = opt_int("sharpness", "--samples", v, 0, INT64_MAX, &samples); break;
    case 1: rc = opt_int("sharpness", "--k", v, 1, MAX_K, &k); break;
    case 2: rc = opt_int("sharpness", "--iterations", v, 1, 500, &iters); break;
    case 3: trace = true; break;
    case 4: rc = opt_int("sharpness", "--trace-probes", v, 1, 100000, &probes); break;
    case 5:
      rc = opt_double("sharpness", "--epsilon", v, &eps);
      if (!rc && !(eps > 0)) {
        fprintf(stderr, "descent: sharpness: --epsilon must be > 0, got '%s'\n", v);
        rc = 2;
      }
      break;
    case 6: rc = opt_int("sharpness", "--ascent-steps", v, 1, 10000, &steps); break;
    case 7: rc = opt_int("sharpness", "--batch", v, 1, 1 << 20, &batch); break;
    case 8: rc = opt_int("sharpness", "--seed", v, 0, INT64_MAX, &seed); break;
    case 9: threads = v; break;
    default: return usage(stdout, 0);
    }
    if (rc) return rc;
  }
  if (!target) return usage(stderr, 2);
  if (k > iters) {
    fprintf(stderr, "descent: sharpness: --k %lld exceeds --iterations %lld\n", (long long)k,
            (long long)iters);
    return 2;
  }
  if (samples > 0 && batch > samples) batch = samples;

  analysis_model m;
  int rc = 0;
  ds_lossfn *f = NULL;
  if (analysis_load(target, batch, threads, &m)) {
    rc = cli_fail("sharpness");
  } else if (!(f = ds_lossfn_new(m.r.g, m.r.x, m.r.y, m.r.train, samples, false))) {
    rc = cli_fail("sharpness");
  }
  double eig[MAX_K], res[MAX_K], tr = NAN, tr_se = NAN, sharp = NAN, l0 = NAN, lmax = NAN,
                                 loss = NAN;
  double t0 = progress_now(), t_eig = 0, t_tr = 0, t_eps = 0, h = 0;
  if (!rc) {
    h = ds_hvp_step(f);
    if (ds_lossfn_eval(f, &loss, NULL) ||
        ds_hessian_top(f, (int)k, (int)iters, (uint64_t)seed, eig, res))
      rc = cli_fail("sharpness");
    t_eig = progress_now() - t0;
  }
  if (!rc && trace) {
    double t = progress_now();
    if (ds_hessian_trace(f, (int)probes, (uint64_t)seed + 1, &tr, &tr_se))
      rc = cli_fail("sharpness");
    t_tr = progress_now() - t;
  }
  if (!rc && eps > 0) {
    double t = progress_now();
    if (ds_eps_sharpness(f, eps, (int)steps, &sharp, &l0, &lmax)) rc = cli_fail("sharpness");
    t_eps = progress_now() - t;
  }
  if (!rc) {
    int64_t n = ds_lossfn_samples(f);
    printf("%s: lambda_max %.6g", m.ckpt, eig[0]);
    for (int i = 1; i < k; i++)
      printf("%s%.6g", i == 1 ? " (next: " : ", ", eig[i]);
    if (k > 1) printf(")");
    if (trace) printf("  trace %.6g +- %.2g", tr, tr_se);
    if (eps > 0) printf("  eps-sharpness(%g) %.4g", eps, sharp);
    printf("  loss %.6f  on %lld training samples, eval mode  (%.1f s)\n", loss, (long long)n,
           progress_now() - t0);

    cJSON *o = cJSON_CreateObject(), *ev = cJSON_CreateArray(), *rs = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "checkpoint", m.ckpt);
    cJSON_AddNumberToObject(o, "samples", (double)n);
    cJSON_AddStringToObject(o, "mode", "eval");
    cJSON_AddNumberToObject(o, "loss", loss);
    for (int i = 0; i < k; i++) {
      cJSON_AddItemToArray(ev, cJSON_CreateNumber(eig[i]));
      cJSON_AddItemToArray(rs, cJSON_CreateNumber(res[i]));
    }
    cJSON_AddNumberToObject(o, "lambda_max", eig[0]);
    cJSON_AddItemToObject(o, "eigenvalues", ev);
    cJSON_AddItemToObject(o, "lanczos_residuals", rs);
    cJSON_AddNumberToObject(o, "lanczos_iterations", (double)iters);
    cJSON_AddNumberToObject(o, "hvp_step", h);
    cJSON_AddNumberToObject(o, "seed", (double)seed);
    cJSON_AddNumberToObject(o, "seconds_eigenvalues", t_eig);
    if (trace) {
      cJSON_AddNumberToObject(o, "trace", tr);
      cJSON_AddNumberToObject(o, "trace_std_err", tr_se);
      cJSON_AddNumberToObject(o, "trace_probes", (double)probes);
      cJSON_AddNumberToObject(o, "seconds_trace", t_tr);
    }
    if (eps > 0) {
      cJSON_AddNumberToObject(o, "epsilon", eps);
      cJSON_AddNumberToObject(o, "eps_sharpness", sharp);
      cJSON_AddNumberToObject(o, "eps_loss_max", lmax);
      cJSON_AddNumberToObject(o, "ascent_steps", (double)steps);
      cJSON_AddNumberToObject(o, "seconds_eps_sharpness", t_eps);
    }
    cJSON_AddNumberToObject(o, "threads", m.r.threads);
    char path[4300];
    snprintf(path, sizeof path, "%s/sharpness.json", m.dir);
    if (analysis_write_json(path, o)) rc = cli_fail("sharpness");
    cJSON_Delete(o);
  }
  ds_lossfn_free(f);
  analysis_free(&m);
  return rc;
}
