/* Transformer benchmark: training steps (batch conversion, forward, backward, AdamW) of
 *   vit: patch 7, width 128, depth 4, 4 heads, MLP ratio 4, mean pooling, on Fashion-MNIST at
 *        batch 128 -> seconds per epoch (469 steps; measured over `steps` steps and scaled);
 *   gpt: context 128, width 128, depth 4, 4 heads, MLP ratio 4, batch 64, on the fortunes corpus
 *        (data.name=text's default) -> training tokens per second.
 * The same models, data order and optimizer as bench/torch_transformer.py. Prints one JSON object.
 * keep_grads 1 compiles with every gradient in a buffer of its own (ds_graph_keep_grads: the arena
 * before gradient lives were planned), for memory comparisons.
 *   bench_transformer vit|gpt [steps=60] [threads=0 (all)] [keep_grads=0] */
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

/* CPU seconds of the whole process (all threads): on a machine shared with other jobs the wall
 * clock counts their time slices too, the CPU time much less. */
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(void) {
  fprintf(stderr, "bench_transformer: %s\n", ds_last_error());
  return 1;
}

int main(int argc, char **argv) {
  const char *name = argc > 1 ? argv[1] : "vit";
  int steps = argc > 2 ? atoi(argv[2]) : 60, threads = argc > 3 ? atoi(argv[3]) : 0;
  bool keep_grads = argc > 4 && atoi(argv[4]) != 0;
  if (threads > 0) omp_set_num_threads(threads);
  bool gpt = !strcmp(name, "gpt");
  ds_data_options dopt = ds_data_options_default();
  dopt.context = 128;
  ds_dataset *train = NULL, *test = NULL;
  if (ds_dataset_load(gpt ? "text" : "fashion-mnist", &dopt, &train, &test)) return fail();
  if (!gpt && ds_dataset_compute_norm(train)) return fail();
  const int64_t B = gpt ? 64 : 128, n = train->n;
  ds_graph *g = ds_graph_new(B);
  ds_node x = ds_input(g, "x", train->sample_shape), y = ds_input(g, "y", ds_shape_scalar()),
          logits;
  ds_model_options o = ds_model_options_default(name);
  if (ds_model_build(g, &o, x, train->n_classes, &logits)) return fail();
  ds_node loss = gpt ? ds_cross_entropy(g, logits, ds_slice(g, x, 1, 128), 0)
                     : ds_cross_entropy(g, logits, y, 0);
  if (ds_graph_keep_grads(g, keep_grads) || ds_graph_compile(g, loss) || ds_graph_init_params(g, 0))
    return fail();
  ds_optim *opt = ds_optim_new("adamw", ds_graph_params(g));
  if (!opt) return fail();
  int64_t *order = malloc((size_t)n * sizeof *order);
  for (int64_t i = 0; i < n; i++)
    order[i] = (i * 7919) % n; /* as torch_transformer.py */
  int64_t per_epoch = (n + B - 1) / B, done = 0;
  double t0 = 0, c0 = 0, first_loss = 0, last_loss = 0;
  for (int s = 0; s < steps + 3; s++) { /* 3 warm-up steps (first touch of the arena, threads) */
    if (s == 3) t0 = now(), c0 = cpu_now();
    int64_t start = (s % per_epoch) * B, b = n - start < B ? n - start : B;
    if (ds_graph_set_batch(g, b) ||
        ds_dataset_get(train, order + start, b, ds_graph_value(g, x), ds_graph_value(g, y)) ||
        ds_graph_forward(g) || ds_graph_backward(g, NULL) || ds_optim_step(opt, 1e-3f))
      return fail();
    if (s == 0) first_loss = ds_graph_loss_mean(g);
    last_loss = ds_graph_loss_mean(g);
    if (s >= 3) done += b;
  }
  double t = now() - t0, c = cpu_now() - c0, step_s = t / steps;
  printf("{\"model\": \"%s\", \"threads\": %d, \"batch\": %lld, \"steps\": %d, \"step_s\": %.5f, "
         "\"cpu_step_s\": %.5f, ",
         name, omp_get_max_threads(), (long long)B, steps, step_s, c / steps);
  if (gpt)
    printf("\"tokens_per_s\": %.0f, \"tokens_per_cpu_s\": %.0f, ", (double)done * 128 / t,
           (double)done * 128 / c);
  else
    printf("\"epoch_s\": %.2f, \"epoch_cpu_s\": %.2f, ", step_s * (double)per_epoch,
           c / steps * (double)per_epoch);
  printf("\"params\": %lld, \"arena_mb\": %.1f, \"first_loss\": %.4f, \"last_loss\": %.4f}\n",
         (long long)ds_graph_params(g)->numel, ds_graph_arena_bytes(g) / 1048576.0, first_loss,
         last_loss);
  free(order);
  ds_optim_free(opt);
  ds_graph_free(g);
  ds_dataset_free(train);
  ds_dataset_free(test);
  return 0;
}
