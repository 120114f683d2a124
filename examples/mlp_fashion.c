/* A complete training program on the public API: an MLP 784-256-256-10 trained with SGD on
 * Fashion-MNIST by the library's trainer (train.h). Options: --epochs 3 --batch 128 --lr 0.1
 * --momentum 0 --subset N --seed 1 --data DIR (threads: OMP_NUM_THREADS). The last line, for
 * scripts: "final test_acc=.. train_loss_first=.. train_loss_last=..". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "descent/descent.h"

static int fail(const char *what) {
  fprintf(stderr, "mlp_fashion: %s: %s\n", what, ds_last_error());
  return 1;
}

static double first_loss = NAN;

static int on_step(void *ctx, const ds_step_result *r, int64_t step, int64_t epoch) {
  (void)ctx, (void)epoch;
  if (step == 1) first_loss = r->loss;
  return 0;
}
static int on_epoch(void *ctx, const ds_epoch_report *e) {
  (void)ctx;
  printf("epoch %lld  train_loss %.4f  test_loss %.4f  test_acc %.4f  %.2f s\n",
         (long long)e->train.epoch, e->train.train_loss, e->test.loss, e->test.acc,
         e->train.seconds);
  fflush(stdout);
  return 0;
}
int main(int argc, char **argv) {
  double epochs = 3, batch = 128, lr = 0.1, momentum = 0, subset = 0, seed = 1;
  const char *dir = NULL,
             *names[] = {"--epochs", "--batch", "--lr", "--momentum", "--subset", "--seed"};
  double *slots[] = {&epochs, &batch, &lr, &momentum, &subset, &seed};
  for (int i = 1; i < argc; i += 2) { /* --name value pairs */
    int k = 0;
    while (k < 6 && strcmp(argv[i], names[k]))
      k++;
    if (i + 1 == argc || (k == 6 && strcmp(argv[i], "--data")))
      return fprintf(stderr, "mlp_fashion: bad option '%s' (see the file's header)\n", argv[i]), 2;
    if (k == 6)
      dir = argv[i + 1];
    else if (ds_kv_number(argv[i], argv[i + 1], slots[k]))
      return fail("options");
  }
  ds_data_options dopt = ds_data_options_default();
  dopt.path = dir;
  ds_dataset *train = NULL, *test = NULL, *rest = NULL, *part = NULL;
  if (ds_dataset_load("fashion-mnist", &dopt, &train, &test)) return fail("loading data");
  if (subset > 0 && subset < train->n) { /* a stratified share of the training split */
    if (ds_dataset_split(train, subset / (double)train->n, (uint64_t)seed, &rest, &part))
      return fail("subset");
    ds_dataset_free(train);
    ds_dataset_free(rest);
    train = part;
  }
  if (ds_dataset_compute_norm(train) || ds_dataset_copy_norm(test, train))
    return fail("normalisation");
  ds_graph *g = ds_graph_new((int64_t)batch);
  ds_node x = ds_input(g, "x", ds_shape1(784)), y = ds_input(g, "y", ds_shape_scalar());
  ds_mlp_options mo = ds_mlp_options_default(); /* 2 hidden layers of 256, ReLU */
  ds_node logits = ds_nn_mlp(g, x, 10, &mo);
  if (ds_graph_compile(g, ds_cross_entropy(g, logits, y, 0.0f)) ||
      ds_graph_init_params(g, (uint64_t)seed))
    return fail("building the model");
  ds_optim *opt = ds_optim_new("sgd", ds_graph_params(g));
  ds_sched *sched = ds_sched_new("constant", lr);
  /* drop_last: a tiny last batch at lr 0.1 makes the end-of-epoch weights noisy */
  ds_loader *ld = ds_loader_new(train, &(ds_loader_options){.batch = (int64_t)batch,
                                                            .shuffle = true,
                                                            .seed = (uint64_t)seed,
                                                            .drop_last = true});
  if (!opt || !sched || !ld || ds_optim_set(opt, "momentum", &momentum, 1) ||
      ds_sched_set(sched, "factor", (double[]){1}, 1) || ds_sched_validate(sched))
    return fail("optimizer, schedule or loader");
  ds_trainer *t = ds_trainer_new(&(ds_trainer_parts){g, x, y, logits, opt, sched, ld}, NULL);
  if (!t) return fail("trainer");
  ds_fit_options fo = ds_fit_options_default();
  fo.epochs = (int64_t)epochs;
  fo.test = test;
  fo.hooks = (ds_fit_hooks){NULL, on_step, on_epoch};
  ds_fit_result res;
  if (ds_trainer_fit(t, &fo, &res)) return fail("training");
  printf("final test_acc=%.4f train_loss_first=%.4f train_loss_last=%.4f\n", res.last.test.acc,
         first_loss, res.last.train.train_loss);
  ds_fit_result_free(&res);
  ds_trainer_free(t);
  ds_loader_free(ld);
  ds_sched_free(sched);
  ds_optim_free(opt);
  ds_graph_free(g);
  ds_dataset_free(train);
  ds_dataset_free(test);
  return 0;
}
