/* Fuzzes the safetensors reader (src/io/safetensors.c) and checkpoint loading into a fixed small
 * model (ds_trainer_load, src/train/checkpoint.c). The first byte picks a full or a
 * parameters-only load; the rest is the file.
 * DESCENT_FUZZ_WRITE_SEED=PATH makes the harness write its model's checkpoint to PATH (how the
 * seed corpus was made). */
#include <stdlib.h>
#include <string.h>

#include "descent/descent.h"
#include "descent/train.h"
#include "fuzz.h"

/* An MLP 2-8-3 with AdamW and a cosine schedule on 64 blobs samples. */
typedef struct {
  ds_dataset *train, *test;
  ds_graph *g;
  ds_optim *opt;
  ds_sched *sched;
  ds_loader *loader;
  ds_trainer *t;
} model;

static void model_free(model *m) {
  ds_trainer_free(m->t);
  ds_loader_free(m->loader);
  ds_sched_free(m->sched);
  ds_optim_free(m->opt);
  ds_graph_free(m->g);
  ds_dataset_free(m->train);
  ds_dataset_free(m->test);
  memset(m, 0, sizeof *m);
}

static void model_make(model *m) {
  memset(m, 0, sizeof *m);
  ds_data_options d = ds_data_options_default();
  d.n_train = d.n_test = 64;
  if (ds_dataset_load("blobs", &d, &m->train, &m->test)) abort();
  m->g = ds_graph_new(16);
  ds_node x = ds_input(m->g, "x", m->train->sample_shape);
  ds_node y = ds_input(m->g, "y", ds_shape_scalar());
  ds_mlp_options mo = ds_mlp_options_default();
  mo.depth = 1;
  mo.width = 8;
  ds_node logits = ds_nn_mlp(m->g, x, m->train->n_classes, &mo);
  if (ds_graph_compile(m->g, ds_cross_entropy(m->g, logits, y, 0.0f)) ||
      ds_graph_init_params(m->g, 1))
    abort();
  m->opt = ds_optim_new("adamw", ds_graph_params(m->g));
  m->sched = ds_sched_new("cosine", 1e-3);
  ds_loader_options lo = ds_loader_options_default();
  lo.batch = 16;
  m->loader = ds_loader_new(m->train, &lo);
  if (!m->opt || !m->sched || ds_sched_set(m->sched, "T_max", (double[]){10}, 1) ||
      ds_sched_validate(m->sched) || !m->loader)
    abort();
  m->t = ds_trainer_new(&(ds_trainer_parts){m->g, x, y, logits, m->opt, m->sched, m->loader}, NULL);
  if (!m->t) abort();
}

static volatile float checksum;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static model m;
  static bool ready;
  if (!ready) {
    model_make(&m);
    ready = true;
    const char *seed = getenv("DESCENT_FUZZ_WRITE_SEED");
    if (seed) {
      ds_step_result r;
      for (int i = 0; i < 3; i++)
        ds_trainer_step(m.t, &r);
      const char *meta[] = {"config", "[model]\nname = mlp\n"};
      if (ds_trainer_save(m.t, seed, meta, 1)) abort();
    }
  }
  if (size < 1) return 0;
  const char *path = fuzz_scratch_file(data + 1, size - 1, ".safetensors");
  ds_safetensors *st = ds_safetensors_read(path);
  if (st) {
    for (int i = 0; i < ds_safetensors_count(st); i++) {
      ds_shape shape;
      const float *v;
      if (ds_safetensors_get(st, ds_safetensors_name(st, i), &shape, &v) == DS_OK) {
        float sum = 0; /* every byte of every tensor is readable */
        for (int64_t k = 0, n = ds_shape_numel(&shape); k < n; k++)
          sum += v[k];
        checksum += sum;
      }
    }
    ds_safetensors_meta(st, "config");
    ds_safetensors_free(st);
  }
  if (ds_trainer_load(m.t, path, data[0] & 1) == DS_OK) {
    ds_step_result r;
    ds_trainer_step(m.t, &r); /* the loaded state must be usable */
    model_free(&m);
    model_make(&m); /* every input starts from the same state */
  }
  return 0;
}
