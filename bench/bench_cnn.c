/* Convolutional training benchmark: seconds per training epoch of one of the conv nets of
 * `descent train` on Fashion-MNIST with SGD momentum 0.9, batch 128 (the whole step: batch
 * conversion, forward, backward, optimizer; evaluation is timed apart), the FLOPs of each conv and
 * linear layer, and the sgemm peak of this machine measured by the same program at the same
 * thread count. Prints the layer table on stderr and one JSON object on stdout: wall-clock and
 * process CPU seconds per epoch (on a shared machine the CPU time of a 1-thread run is the
 * steadier measure of work; with threads it also counts time spun at barriers).
 *   bench_cnn MODEL [epochs=1] [threads=0 (all)] [steps=0 (whole epochs; a smaller number times
 *             that many steps per epoch, for profiling)] [keep_grads=0 (1: every gradient in a
 *             buffer of its own, the arena before gradient lives were planned, for memory
 *             comparisons)]
 * MODEL: cnn (norm none), cnn_bn (batch norm), resnet (the default resnet: width 16, depth 1, BN).
 * The sample order (i * 7919 mod N) is the one bench/torch_cnn.py uses. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "descent/descent.h"

/* FLOPs per sample of the conv and linear layers, found through their weights: the node named
 * "<layer>" computes with parameter "<layer>.weight". Forward 2 * outputs * fan-in; backward the
 * same twice (weight gradient, input gradient) except that the first layer has no input
 * gradient. Returns the total of one training step per sample; prints the table on stderr. */
static double count_flops(ds_graph *g, char *json, size_t cap) {
  ds_paramset *ps = ds_graph_params(g);
  double total = 0;
  size_t len = 0;
  bool first = true;
  fprintf(stderr, "%-24s %-18s %12s %12s\n", "layer", "weight", "fwd MFLOP", "step MFLOP");
  len += (size_t)snprintf(json + len, cap - len, "[");
  for (int i = 0; i < ps->count; i++) {
    const ds_param_info *p = &ps->info[i];
    size_t nl = strlen(p->name);
    if (nl < 8 || strcmp(p->name + nl - 7, ".weight") || (p->shape.rank != 4 && p->shape.rank != 2))
      continue;
    char layer[DS_NAME_MAX];
    snprintf(layer, sizeof layer, "%.*s", (int)(nl - 7), p->name);
    ds_node n = ds_graph_find(g, layer);
    if (n < 0) continue;
    ds_shape ys = ds_graph_shape(g, n), ws = p->shape;
    int64_t outputs = ds_shape_numel(&ys) / ys.dim[0];
    double fwd = 2.0 * (double)outputs *
                 (double)(ws.rank == 4 ? ws.dim[1] * ws.dim[2] * ws.dim[3] : ws.dim[1]);
    double step = fwd * (first ? 2 : 3);
    first = false;
    total += step;
    char s[64];
    fprintf(stderr, "%-24s %-18s %12.3f %12.3f\n", layer, ds_shape_str(&ws, s, sizeof s),
            fwd * 1e-6, step * 1e-6);
    len += (size_t)snprintf(json + len, cap - len,
                            "%s{\"layer\": \"%s\", \"fwd_mflop\": %.4f, \"step_mflop\": %.4f}",
                            len > 1 ? ", " : "", layer, fwd * 1e-6, step * 1e-6);
  }
  snprintf(json + len, cap - len, "]");
  fprintf(stderr, "%-24s %-18s %12s %12.3f  (per sample)\n", "total", "", "", total * 1e-6);
  return total;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int fail(void) {
  fprintf(stderr, "bench_cnn: %s\n", ds_last_error());
  return 1;
}

int main(int argc, char **argv) {
  const char *model = argc > 1 ? argv[1] : "cnn";
  int epochs = argc > 2 ? atoi(argv[2]) : 1, threads = argc > 3 ? atoi(argv[3]) : 0;
  int64_t steps = argc > 4 ? atoll(argv[4]) : 0;
  bool keep_grads = argc > 5 && atoi(argv[5]) != 0;
  if (epochs < 1 || epochs > 100) epochs = 1;
  if (threads > 0) omp_set_num_threads(threads);
  ds_model_options mo;
  if (!strcmp(model, "cnn") || !strcmp(model, "cnn_bn")) {
    mo = ds_model_options_default("cnn");
    mo.norm = strcmp(model, "cnn") ? DS_NORM_BATCH : DS_NORM_NONE;
  } else if (!strcmp(model, "resnet")) {
    mo = ds_model_options_default("resnet");
  } else {
    fprintf(stderr, "bench_cnn: unknown model '%s' (cnn, cnn_bn, resnet)\n", model);
    return 2;
  }
  ds_dataset *train = NULL, *test = NULL;
  if (ds_dataset_load("fashion-mnist", NULL, &train, &test) || ds_dataset_compute_norm(train))
    return fail();
  ds_dataset_copy_norm(test, train);
  const int64_t B = 128;
  int64_t n = train->n;
  if (steps > 0 && steps * B < n) n = steps * B;
  ds_graph *g = ds_graph_new(B);
  ds_node x = ds_input(g, "x", train->sample_shape), y = ds_input(g, "y", ds_shape_scalar()),
          logits;
  if (ds_model_build(g, &mo, x, 10, &logits)) return fail();
  ds_node loss = ds_cross_entropy(g, logits, y, 0.0f);
  if (ds_graph_keep_grads(g, keep_grads) || ds_graph_compile(g, loss) || ds_graph_init_params(g, 0))
    return fail();
  ds_optim *opt = ds_optim_new("sgd", ds_graph_params(g));
  double mom = 0.9;
  if (!opt || ds_optim_set(opt, "momentum", &mom, 1)) return fail();
  static char layers[8192];
  double sample_flop = count_flops(g, layers, sizeof layers);

  int64_t *order = malloc((size_t)n * sizeof *order);
  for (int64_t i = 0; i < n; i++)
    order[i] = (i * 7919) % train->n; /* as torch_cnn.py */
  double times[100], cpu[100], last_loss = 0;
  for (int e = 0; e < epochs; e++) {
    double t0 = now(), c0 = cpu_now();
    for (int64_t s = 0; s < n; s += B) {
      int64_t b = n - s < B ? n - s : B;
      if (ds_graph_set_batch(g, b) ||
          ds_dataset_get(train, order + s, b, ds_graph_value(g, x), ds_graph_value(g, y)) ||
          ds_graph_forward(g) || ds_graph_backward(g, NULL) || ds_optim_step(opt, 0.01f))
        return fail();
    }
    times[e] = now() - t0;
    cpu[e] = cpu_now() - c0;
    last_loss = ds_graph_loss_mean(g);
  }
  double t0 = now(), test_acc;
  ds_eval_options eo = ds_eval_options_default();
  eo.n = steps > 0 ? steps * B : 0;
  ds_eval_result er;
  if (ds_evaluate(g, x, y, logits, test, &eo, &er)) return fail();
  test_acc = er.acc;
  ds_eval_result_free(&er);
  double eval_s = now() - t0;
  qsort(times, (size_t)epochs, sizeof *times, cmp_double);
  qsort(cpu, (size_t)epochs, sizeof *cpu, cmp_double);
  double epoch_s = times[(epochs - 1) / 2]; /* median */
  double peak = sgemm_gflops(2048, 2048, 2048, 3);
  double gflops = sample_flop * (double)n / epoch_s * 1e-9;
  printf("{\"model\": \"%s\", \"threads\": %d, \"epochs\": %d, \"epoch_s\": %.3f, \"epoch_s_min\": "
         "%.3f, "
         "\"epoch_s_max\": %.3f, \"epoch_cpu_s\": %.3f, \"eval_s\": %.3f, \"eval_samples\": %lld, "
         "\"gflop_per_epoch\": %.1f, "
         "\"achieved_gflops\": %.1f, \"sgemm_peak_gflops_2048\": %.1f, \"share_of_peak\": %.3f, "
         "\"final_train_loss\": %.4f, \"test_acc\": %.4f, \"layers\": %s}\n",
         model, omp_get_max_threads(), epochs, epoch_s, times[0], times[epochs - 1],
         cpu[(epochs - 1) / 2], eval_s,
         (long long)(steps > 0 && steps * B < test->n ? steps * B : test->n),
         sample_flop * (double)n * 1e-9, gflops, peak, gflops / peak, last_loss, test_acc, layers);
  free(order);
  ds_optim_free(opt);
  ds_graph_free(g);
  ds_dataset_free(train);
  ds_dataset_free(test);
  return 0;
}
