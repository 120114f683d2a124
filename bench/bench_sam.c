/* SAM step cost: milliseconds per training step (ds_trainer_step: batch, forward, objective,
 * backward, optimizer) of the MLP 784-256-256-10 (ReLU), batch 128, SGD momentum 0.9 on the first
 * 12800 Fashion-MNIST images, plain and wrapped in SAM, ASAM and m-sharpness (m = 32); best of
 * `reps` passes of 100 steps each. Prints one JSON object with the ratios to the plain step.
 *   bench_sam [reps=5] [threads=1] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "descent/descent.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best seconds per step over reps passes of one epoch (100 steps) with the given SAM settings. */
static double step_seconds(const ds_dataset *d, ds_sam_options sam, int reps) {
  ds_graph *g = ds_graph_new(128);
  ds_node x = ds_input(g, "x", ds_shape1(784)), y = ds_input(g, "y", ds_shape_scalar());
  ds_node logits = ds_nn_mlp(g, x, 10, NULL);
  if (ds_graph_compile(g, ds_cross_entropy(g, logits, y, 0.0f)) || ds_graph_init_params(g, 0))
    return -1;
  ds_optim *opt = ds_optim_new("sgd", ds_graph_params(g));
  ds_optim_set(opt, "momentum", (double[]){0.9}, 1);
  ds_sched *s = ds_sched_new("constant", 0.01);
  ds_sched_set(s, "factor", (double[]){1.0}, 1);
  if (ds_sched_validate(s)) return -1;
  ds_loader_options lo = ds_loader_options_default();
  lo.batch = 128;
  ds_loader *l = ds_loader_new(d, &lo);
  ds_trainer_options to = ds_trainer_options_default();
  to.sam = sam;
  ds_trainer_parts p = {g, x, y, logits, opt, s, l};
  ds_trainer *t = ds_trainer_new(&p, &to);
  if (!t) return -1;
  double best = 1e30;
  ds_step_result r;
  for (int rep = 0; rep <= reps; rep++) { /* pass 0 warms up (first-step optimizer state) */
    double t0 = now();
    int64_t n = 0;
    int k;
    while ((k = ds_trainer_step(t, &r)) > 0)
      n++;
    if (k < 0) return -1;
    double dt = (now() - t0) / (double)n;
    if (rep > 0 && dt < best) best = dt;
  }
  ds_trainer_free(t);
  ds_loader_free(l);
  ds_sched_free(s);
  ds_optim_free(opt);
  ds_graph_free(g);
  return best;
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 5, threads = argc > 2 ? atoi(argv[2]) : 1;
  omp_set_num_threads(threads);
  ds_dataset *train = NULL, *test = NULL;
  if (ds_dataset_load("fashion-mnist", NULL, &train, &test) || ds_dataset_compute_norm(train)) {
    fprintf(stderr, "bench_sam: %s\n", ds_last_error());
    return 1;
  }
  int64_t n = 12800, *idx = malloc(sizeof(int64_t) * (size_t)n);
  for (int64_t i = 0; i < n; i++)
    idx[i] = i;
  ds_dataset *d = ds_dataset_subset(train, idx, n, NULL);
  free(idx);
  const struct {
    const char *name;
    ds_sam_options sam;
  } arms[] = {{"plain", {0, false, 0.01, 0}},
              {"sam", {0.05, false, 0.01, 0}},
              {"asam", {0.5, true, 0.01, 0}},
              {"sam_m32", {0.05, false, 0.01, 32}}};
  double base = 0;
  printf("{\"threads\": %d, \"batch\": 128, \"model\": \"mlp 784-256-256-10\", \"reps\": %d",
         threads, reps);
  for (int i = 0; i < 4; i++) {
    double s = step_seconds(d, arms[i].sam, reps);
    if (s < 0) {
      fprintf(stderr, "bench_sam: %s\n", ds_last_error());
      return 1;
    }
    if (i == 0) base = s;
    printf(", \"%s_ms\": %.3f, \"%s_ratio\": %.3f", arms[i].name, 1e3 * s, arms[i].name, s / base);
  }
  printf("}\n");
  ds_dataset_free(d);
  ds_dataset_free(train);
  ds_dataset_free(test);
  return 0;
}
