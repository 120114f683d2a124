/* Evidence runs for normalization, critical initialisation and normalizer-free networks on
 * Fashion-MNIST, using only the public API (docs/normalization.md, the scripts in experiments/).
 *
 *   norm_experiments --model mlp --act tanh --depth 50 --width 256 --init meanfield
 *                    --sigma-w 1.1225 --sigma-b 0.05 [--subset 20000] [--epochs 1] ...
 *   norm_experiments --model resnet --norm group --batch 2 --downsample 2 ...
 *   norm_experiments --model nf_resnet --depth 6 --agc 0.04 ...
 *
 * Options: --model mlp|cnn|resnet|nf_resnet, --act, --depth, --width, --norm, --groups, --alpha,
 * --sd (stochastic depth), --init default|meanfield|kaiming, --sigma-w, --sigma-b, --batch,
 * --epochs, --lr, --momentum (SGD with heavy-ball momentum, lr constant), --wd, --agc LAMBDA
 * (adaptive gradient clipping, Brock et al. 2021b, unit-wise on all but the head; 0 = off),
 * --subset N (first N training images), --test N (first N test images), --downsample 1|2|4
 * (average pooling of the images in the graph), --seed, --threads.
 * Prints one line per epoch; the last line is "result ..." with the final numbers. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "descent/descent.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what) {
  fprintf(stderr, "norm_experiments: %s: %s\n", what, ds_last_error());
  return 1;
}

/* Adaptive gradient clipping (Brock et al. 2021b): for each output unit i (row of a weight,
 * element of a vector), g_i *= min(1, lambda max(|w_i|, 1e-3) / |g_i|). The head is excluded. */
static void agc(ds_paramset *ps, double lambda) {
  for (int k = 0; k < ps->count; k++) {
    const ds_param_info *p = &ps->info[k];
    if (p->is_head) continue;
    int64_t rows = p->shape.rank >= 2 ? p->shape.dim[0] : p->numel, cols = p->numel / rows;
    float *w = ps->data + p->offset, *gr = ps->grad + p->offset;
    for (int64_t r = 0; r < rows; r++) {
      double wn = 0, gn = 0;
      for (int64_t c = 0; c < cols; c++) {
        wn += (double)w[r * cols + c] * w[r * cols + c];
        gn += (double)gr[r * cols + c] * gr[r * cols + c];
      }
      double maxn = lambda * fmax(sqrt(wn), 1e-3);
      if (sqrt(gn) > maxn) {
        float s = (float)(maxn / sqrt(gn));
        for (int64_t c = 0; c < cols; c++)
          gr[r * cols + c] *= s;
      }
    }
  }
}

int main(int argc, char **argv) {
  const char *dir = NULL, *init = "default";
  ds_model_options mo = ds_model_options_default("mlp");
  int epochs = 1, threads = 0, downsample = 1;
  int64_t batch = 128, subset = 0, ntest = 0;
  double lr = 0.01, momentum = 0.9, wd = 0, agc_lambda = 0, sigma_w = 1, sigma_b = 0;
  uint64_t seed = 1;
  bool model_set = false;
  for (int i = 1; i + 1 < argc + 1; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      fprintf(stderr, "norm_experiments: option %s needs a value\n", a);
      return 2;
    }
    if (!strcmp(a, "--model")) {
      ds_model_options d = ds_model_options_default(v);
      if (!model_set) mo = d;
      mo.name = v;
      model_set = true;
    } else if (!strcmp(a, "--act")) {
      if (ds_act_parse(v, &mo.act)) return fail("--act");
    } else if (!strcmp(a, "--norm")) {
      if (ds_norm_parse(v, &mo.norm)) return fail("--norm");
    } else if (!strcmp(a, "--depth"))
      mo.depth = atoi(v);
    else if (!strcmp(a, "--width"))
      mo.width = atoll(v);
    else if (!strcmp(a, "--groups"))
      mo.groups = atoi(v);
    else if (!strcmp(a, "--alpha"))
      mo.alpha = (float)atof(v);
    else if (!strcmp(a, "--sd"))
      mo.stochastic_depth = (float)atof(v);
    else if (!strcmp(a, "--dropout"))
      mo.dropout = (float)atof(v);
    else if (!strcmp(a, "--init"))
      init = v;
    else if (!strcmp(a, "--sigma-w"))
      sigma_w = atof(v);
    else if (!strcmp(a, "--sigma-b"))
      sigma_b = atof(v);
    else if (!strcmp(a, "--batch"))
      batch = atoll(v);
    else if (!strcmp(a, "--epochs"))
      epochs = atoi(v);
    else if (!strcmp(a, "--lr"))
      lr = atof(v);
    else if (!strcmp(a, "--momentum"))
      momentum = atof(v);
    else if (!strcmp(a, "--wd"))
      wd = atof(v);
    else if (!strcmp(a, "--agc"))
      agc_lambda = atof(v);
    else if (!strcmp(a, "--subset"))
      subset = atoll(v);
    else if (!strcmp(a, "--test"))
      ntest = atoll(v);
    else if (!strcmp(a, "--downsample"))
      downsample = atoi(v);
    else if (!strcmp(a, "--seed"))
      seed = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--threads"))
      threads = atoi(v);
    else if (!strcmp(a, "--data"))
      dir = v;
    else {
      fprintf(stderr, "norm_experiments: unknown option %s\n", a);
      return 2;
    }
  }
  if (!strcmp(init, "meanfield"))
    mo.init = (ds_init){DS_INIT_MEANFIELD, sigma_w, sigma_b};
  else if (!strcmp(init, "kaiming"))
    mo.init = (ds_init){DS_INIT_KAIMING_NORMAL, ds_init_gain(mo.act), 0};
  else if (strcmp(init, "default")) {
    fprintf(stderr, "norm_experiments: unknown init %s\n", init);
    return 2;
  }
  if (epochs < 1 || batch < 1 || !(lr > 0) ||
      (downsample != 1 && downsample != 2 && downsample != 4)) {
    fprintf(stderr, "norm_experiments: need epochs >= 1, batch >= 1, lr > 0, downsample 1|2|4\n");
    return 2;
  }
  if (threads > 0) omp_set_num_threads(threads);

  ds_data_options dopt = ds_data_options_default();
  dopt.path = dir;
  ds_dataset *train = NULL, *test = NULL;
  if (ds_dataset_load("fashion-mnist", &dopt, &train, &test)) return fail("loading data");
  if (subset > 0 && subset < train->n) {
    int64_t *idx = malloc((size_t)subset * sizeof *idx);
    for (int64_t i = 0; i < subset; i++)
      idx[i] = i;
    ds_dataset *s = ds_dataset_subset(train, idx, subset, NULL);
    free(idx);
    if (!s) return fail("subset");
    ds_dataset_free(train);
    train = s;
  }
  if (ds_dataset_compute_norm(train) || ds_dataset_copy_norm(test, train)) return fail("norm");

  int64_t eval_batch = batch < 256 ? 256 : batch;
  ds_graph *g = ds_graph_new(eval_batch);
  ds_node x = ds_input(g, "x", ds_shape3(1, 28, 28));
  ds_node y = ds_input(g, "y", ds_shape_scalar());
  ds_node in = downsample > 1 ? ds_avgpool2d(g, x, downsample, downsample, 0) : x;
  ds_node logits;
  if (ds_model_build(g, &mo, in, 10, &logits)) return fail("building the model");
  if (ds_graph_compile(g, ds_cross_entropy(g, logits, y, 0.0f))) return fail("compiling");
  if (ds_graph_init_params(g, seed)) return fail("init");
  ds_graph_seed(g, seed);
  ds_paramset *ps = ds_graph_params(g);
  float *vel = calloc((size_t)ps->numel, sizeof *vel);

  ds_loader_options lo = ds_loader_options_default();
  lo.batch = batch;
  lo.seed = seed;
  lo.drop_last = true; /* a final batch of 1 would break batch norm */
  ds_loader *ld = ds_loader_new(train, &lo);
  if (!ld) return fail("loader");
  printf("model %s depth %d width %lld act %s norm %s init %s (%.4g, %.4g) batch %lld lr %g "
         "momentum %g agc %g params %lld train %lld\n",
         mo.name, mo.depth, (long long)mo.width, ds_act_name(mo.act), ds_norm_name(mo.norm), init,
         sigma_w, sigma_b, (long long)batch, lr, momentum, agc_lambda, (long long)ps->numel,
         (long long)train->n);

  double first = NAN, last = NAN, test_loss = 0, test_acc = 0, t_total = 0;
  int64_t nonfinite = 0;
  for (int e = 0; e < epochs; e++) {
    double t0 = now(), sum = 0;
    int64_t seen = 0, b;
    while ((b = ds_loader_next(ld, ds_graph_value(g, x), ds_graph_value(g, y))) > 0) {
      if (ds_graph_set_batch(g, b) || ds_graph_forward(g) || ds_graph_backward(g, NULL))
        return fail("training step");
      double l = ds_graph_loss_mean(g);
      if (!isfinite(l)) {
        nonfinite++;
        continue;
      }
      if (isnan(first)) first = l;
      sum += l * (double)b;
      seen += b;
      if (agc_lambda > 0) agc(ps, agc_lambda);
      for (int64_t i = 0; i < ps->numel; i++) { /* SGD, heavy-ball momentum (torch.optim.SGD) */
        float gr = ps->grad[i];
        if (wd > 0) gr += (float)wd * ps->data[i];
        vel[i] = (float)momentum * vel[i] + gr;
        ps->data[i] -= (float)lr * vel[i];
      }
    }
    if (b < 0) return fail("loader");
    last = seen ? sum / (double)seen : NAN;
    double secs = now() - t0;
    t_total += secs;
    ds_eval_options eo = ds_eval_options_default();
    eo.n = ntest;
    ds_eval_result er;
    if (ds_evaluate(g, x, y, logits, test, &eo, &er)) return fail("evaluation");
    test_loss = er.loss;
    test_acc = er.acc;
    ds_eval_result_free(&er);
    printf("epoch %d  train_loss %.4f  test_loss %.4f  test_acc %.4f  %.1f s\n", e + 1, last,
           test_loss, test_acc, secs);
    fflush(stdout);
  }
  printf("result model=%s norm=%s batch=%lld init=%s sigma_w=%.4g train_loss_first=%.4f "
         "train_loss_last=%.4f test_loss=%.4f test_acc=%.4f nonfinite_steps=%lld train_s=%.1f\n",
         mo.name, ds_norm_name(mo.norm), (long long)batch, init, sigma_w, first, last, test_loss,
         test_acc, (long long)nonfinite, t_total);
  free(vel);
  ds_loader_free(ld);
  ds_graph_free(g);
  ds_dataset_free(train);
  ds_dataset_free(test);
  return 0;
}
