/* descent CLI — a trained model rebuilt for the analysis commands (sharpness, landscape): the
 * data, graph and weights of a run directory or checkpoint, through the same run assembly as
 * `descent eval` (run.h). The one place the analysis commands touch run.h. */
#ifndef DESCENT_CLI_ANALYSIS_LOAD_H
#define DESCENT_CLI_ANALYSIS_LOAD_H
#include <stdbool.h>
#include <stdint.h>

#include "run.h"

typedef struct {
  run r;               /* datasets r.train / r.test, graph r.g with inputs r.x, r.y, r.logits */
  char ckpt[4200];     /* the checkpoint read */
  char dir[4200];      /* where results go: RUN_DIR, or the checkpoint's directory */
  float *init;         /* (numel parameters) the weights at initialisation, from the run's seed */
  float *init_buffers; /* (numel buffers) the buffers at initialisation (batch-norm statistics) */
} analysis_model;

/* Rebuilds the run of target (RUN_DIR or a checkpoint file) with graph batches of at most batch
 * samples (0: the run's batch size) and threads (NULL: the run's setting), and loads the
 * checkpoint's weights (schedule-free: its averaged evaluation weights). Errors name the file. */
int analysis_load(const char *target, int64_t batch, const char *threads, analysis_model *m);

/* Loads the weights of another checkpoint into m's graph; a checkpoint of a different model is
 * an error naming the first tensor that does not fit. */
int analysis_load_weights(analysis_model *m, const char *path);

/* A second graph of the same model (a parallel worker), compiled, with m's current parameters
 * and buffers. The caller frees *g with ds_graph_free. */
int analysis_worker(analysis_model *m, ds_graph **g, ds_node *x, ds_node *y);

void analysis_free(analysis_model *m);

/* Writes o as indented JSON text to path, atomically (sharpness.json, signal.json). */
struct cJSON;
int analysis_write_json(const char *path, const struct cJSON *o);

/* Copies n floats (n may be 0, where a model without buffers has NULL data). */
void analysis_copy(float *dst, const float *src, int64_t n);

#endif
