/* First end-to-end run: an MLP 784-256-256-10 (ReLU) trained with plain minibatch SGD on
 * Fashion-MNIST, using only the public API.
 *
 *   mlp_fashion [--epochs 3] [--batch 128] [--lr 0.1] [--momentum 0] [--subset N] [--seed 1]
 *               [--threads T] [--data DIR]
 *
 * Prints one line per epoch: mean training loss, test loss and test accuracy; the last line is
 * "final test_acc=<acc> train_loss_first=<..> train_loss_last=<..>" for scripts. */
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
  fprintf(stderr, "mlp_fashion: %s: %s\n", what, ds_last_error());
  return 1;
}

int main(int argc, char **argv) {
  int epochs = 3, threads = 0;
  int64_t batch = 128, subset = 0;
  double lr = 0.1, momentum = 0.0;
  uint64_t seed = 1;
  const char *dir = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      fprintf(stderr, "mlp_fashion: option %s needs a value\n", a);
      return 2;
    }
    if (!strcmp(a, "--epochs")) epochs = atoi(v);
    else if (!strcmp(a, "--batch")) batch = atoll(v);
    else if (!strcmp(a, "--lr")) lr = atof(v);
    else if (!strcmp(a, "--momentum")) momentum = atof(v);
    else if (!strcmp(a, "--subset")) subset = atoll(v);
    else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--threads")) threads = atoi(v);
    else if (!strcmp(a, "--data")) dir = v;
    else {
      fprintf(stderr, "mlp_fashion: unknown option %s\n", a);
      return 2;
    }
    i++;
  }
  if (epochs < 1 || batch < 1 || batch > 1024 || !(lr > 0)) {
    fprintf(stderr, "mlp_fashion: need epochs >= 1, 1 <= batch <= 1024, lr > 0\n");
    return 2;
  }
  if (threads > 0) omp_set_num_threads(threads);

  ds_data_options dopt = ds_data_options_default();
  dopt.path = dir;
  ds_dataset *train = NULL, *test = NULL;
  if (ds_dataset_load("fashion-mnist", &dopt, &train, &test)) return fail("loading data");
  if (subset > 0 && subset < train->n) { /* the first `subset` samples (the files are shuffled) */
    int64_t *idx = malloc((size_t)subset * sizeof *idx);
    for (int64_t i = 0; i < subset; i++) idx[i] = i;
    ds_dataset *s = ds_dataset_subset(train, idx, subset, NULL);
    free(idx);
    if (!s) return fail("subset");
    ds_dataset_free(train);
    train = s;
  }
  if (ds_dataset_compute_norm(train) || ds_dataset_copy_norm(test, train)) return fail("norm");

  ds_graph *g = ds_graph_new(batch);
  ds_node x = ds_input(g, "x", ds_shape1(784));
  ds_node y = ds_input(g, "y", ds_shape_scalar());
  ds_mlp_options mo = ds_mlp_options_default(); /* 2 hidden layers of 256, ReLU */
  ds_node logits = ds_nn_mlp(g, x, 10, &mo);
  ds_node loss = ds_cross_entropy(g, logits, y, 0.0f);
  if (ds_graph_compile(g, loss)) return fail("building the model");
  ds_graph_init_params(g, seed);

  ds_optim *opt = ds_optim_new("sgd", ds_graph_params(g));
  if (!opt) return fail("optimizer");
  if (ds_optim_set(opt, "momentum", &momentum, 1)) return fail("optimizer");

  ds_loader_options lo = ds_loader_options_default();
  lo.batch = batch;
  lo.seed = seed;
  lo.drop_last = true; /* a tiny last batch at lr 0.1 makes the end-of-epoch weights noisy */
  ds_loader *ld = ds_loader_new(train, &lo);
  if (!ld) return fail("loader");

  double first = NAN, last = NAN, test_loss = 0, test_acc = 0;
  for (int e = 0; e < epochs; e++) {
    double t0 = now(), sum = 0;
    int64_t seen = 0, b;
    while ((b = ds_loader_next(ld, ds_graph_value(g, x), ds_graph_value(g, y))) > 0) {
      if (ds_graph_set_batch(g, b) || ds_graph_forward(g) || ds_graph_backward(g, NULL) ||
          ds_optim_step(opt, (float)lr))
        return fail("training step");
      double l = ds_graph_loss_mean(g);
      if (isnan(first)) first = l;
      sum += l * (double)b;
      seen += b;
    }
    if (b < 0) return fail("loader");
    last = sum / (double)seen;
    double secs = now() - t0;
    if (ds_evaluate(g, x, y, logits, test, 0, NULL, &test_loss, &test_acc))
      return fail("evaluation");
    printf("epoch %d  train_loss %.4f  test_loss %.4f  test_acc %.4f  %.2f s\n", e + 1, last,
           test_loss, test_acc, secs);
    fflush(stdout);
  }
  printf("final test_acc=%.4f train_loss_first=%.4f train_loss_last=%.4f\n", test_acc, first, last);
  ds_loader_free(ld);
  ds_optim_free(opt);
  ds_graph_free(g);
  ds_dataset_free(train);
  ds_dataset_free(test);
  return 0;
}
