/* MLP benchmark: seconds per epoch of an MLP 784-256-256-10 (ReLU), SGD momentum 0.9, batch 128,
 * on Fashion-MNIST (the whole training step: batch conversion, forward, backward, optimizer),
 * plus the sgemm peak of this machine measured by the same program. Prints one JSON object.
 *   bench_mlp [epochs=3] [threads=0 (all)] */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "descent/descent.h"

int main(int argc, char **argv) {
  int epochs = argc > 1 ? atoi(argv[1]) : 3, threads = argc > 2 ? atoi(argv[2]) : 0;
  if (threads > 0) omp_set_num_threads(threads);
  ds_dataset *train = NULL, *test = NULL;
  if (ds_dataset_load("fashion-mnist", NULL, &train, &test) || ds_dataset_compute_norm(train)) {
    fprintf(stderr, "bench_mlp: %s\n", ds_last_error());
    return 1;
  }
  const int64_t B = 128, n = train->n;
  ds_graph *g = ds_graph_new(B);
  ds_node x = ds_input(g, "x", ds_shape1(784)), y = ds_input(g, "y", ds_shape_scalar());
  ds_node loss = ds_cross_entropy(g, ds_nn_mlp(g, x, 10, NULL), y, 0.0f);
  if (ds_graph_compile(g, loss) || ds_graph_init_params(g, 0)) return 1;
  ds_optim *opt = ds_optim_new("sgd", ds_graph_params(g));
  double mom = 0.9;
  if (!opt || ds_optim_set(opt, "momentum", &mom, 1)) {
    fprintf(stderr, "bench_mlp: %s\n", ds_last_error());
    return 1;
  }
  int64_t *order = malloc((size_t)n * sizeof *order);
  for (int64_t i = 0; i < n; i++)
    order[i] = (i * 7919) % n; /* same order as torch_mlp.py */
  double best = 1e30, last_loss = 0;
  for (int e = 0; e < epochs; e++) {
    double t0 = now();
    for (int64_t s = 0; s < n; s += B) {
      int64_t b = n - s < B ? n - s : B;
      ds_graph_set_batch(g, b);
      ds_dataset_get(train, order + s, b, ds_graph_value(g, x), ds_graph_value(g, y));
      ds_graph_forward(g);
      ds_graph_backward(g, NULL);
      ds_optim_step(opt, 0.01f);
    }
    double t = now() - t0;
    best = t < best ? t : best;
    last_loss = ds_graph_loss_mean(g);
  }
  /* FLOPs of one full-batch step: forward 2*B*P, backward dW 2*B*P plus dx of layers 2 and 3. */
  const double P = 784.0 * 256 + 256.0 * 256 + 256.0 * 10, P23 = 256.0 * 256 + 256.0 * 10;
  double step_flop = 2 * B * P * 2 + 2 * B * P23;
  double steps = ceil((double)n / (double)B);
  double peak_big = sgemm_gflops(2048, 2048, 2048, 3), peak_mlp = sgemm_gflops(128, 256, 784, 50);
  printf("{\"threads\": %d, \"epoch_s\": %.4f, \"step_mflop\": %.1f, \"achieved_gflops\": %.1f, "
         "\"sgemm_peak_gflops_2048\": %.1f, \"sgemm_gflops_128x256x784\": %.1f, \"final_loss\": "
         "%.4f}\n",
         omp_get_max_threads(), best, step_flop * 1e-6, step_flop * steps / best * 1e-9, peak_big,
         peak_mlp, last_loss);
  free(order);
  ds_optim_free(opt);
  ds_graph_free(g);
  ds_dataset_free(train);
  ds_dataset_free(test);
  return 0;
}
