/* Activation arena of each model at its `descent train` defaults (batch 128; Fashion-MNIST
 * samples (1, 28, 28), 10 classes; gpt: context 128 on the text corpus's vocabulary), compiled
 * with every gradient in a buffer of its own (ds_graph_keep_grads: the layout before gradient
 * lives were planned) and with the planned layout. Prints one JSON object per model, MiB.
 *   bench_arena [batch=128] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "descent/descent.h"

static int fail(const char *what) {
  fprintf(stderr, "bench_arena: %s: %s\n", what, ds_last_error());
  return 1;
}

/* Arena bytes of model `name` (norm: batch norm instead of the default) at batch B. */
static int64_t arena(const char *name, bool bn, bool keep, int64_t B, int64_t vocab) {
  bool gpt = !strcmp(name, "gpt");
  ds_graph *g = ds_graph_new(B);
  ds_node x = ds_input(g, "x", gpt ? ds_shape1(129) : ds_shape3(1, 28, 28)),
          y = ds_input(g, "y", ds_shape_scalar()), logits;
  ds_model_options o = ds_model_options_default(name);
  if (bn) o.norm = DS_NORM_BATCH;
  int64_t bytes = -1;
  if (!ds_model_build(g, &o, x, gpt ? vocab : 10, &logits) && !ds_graph_keep_grads(g, keep) &&
      !ds_graph_compile(g, gpt ? ds_cross_entropy(g, logits, ds_slice(g, x, 1, 128), 0)
                               : ds_cross_entropy(g, logits, y, 0)))
    bytes = ds_graph_arena_bytes(g);
  ds_graph_free(g);
  return bytes;
}

int main(int argc, char **argv) {
  int64_t B = argc > 1 ? atoll(argv[1]) : 128;
  ds_data_options dopt = ds_data_options_default();
  dopt.context = 128;
  ds_dataset *train = NULL, *test = NULL;
  if (ds_dataset_load("text", &dopt, &train, &test)) return fail("text");
  int64_t vocab = train->n_classes;
  ds_dataset_free(train);
  ds_dataset_free(test);
  const struct {
    const char *label, *name;
    bool bn;
  } models[] = {{"mlp", "mlp", false},       {"cnn", "cnn", false}, {"cnn_bn", "cnn", true},
                {"resnet", "resnet", false}, {"vit", "vit", false}, {"gpt", "gpt", false}};
  for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
    int64_t before = arena(models[m].name, models[m].bn, true, B, vocab),
            after = arena(models[m].name, models[m].bn, false, B, vocab);
    if (before < 0 || after < 0) return fail(models[m].label);
    printf("{\"model\": \"%s\", \"batch\": %lld, \"arena_keep_grads_mib\": %.1f, "
           "\"arena_planned_mib\": %.1f, \"ratio\": %.3f}\n",
           models[m].label, (long long)B, before / 1048576.0, after / 1048576.0,
           (double)after / (double)before);
  }
  return 0;
}
