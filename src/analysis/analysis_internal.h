/* Internal state shared by the analysis files: the loss over a subset (lossfn.c), used by the
 * Hessian (hessian.c) and landscape (landscape.c) tools. */
#ifndef DESCENT_ANALYSIS_INTERNAL_H
#define DESCENT_ANALYSIS_INTERNAL_H
#include "descent/analysis.h"

struct ds_lossfn {
  ds_graph *g;
  ds_node x, y;
  const ds_dataset *d;
  int64_t n;      /* samples: the first n of d */
  bool training;  /* batch statistics (true) or running statistics (false) */
  int64_t numel;  /* parameters */
  int64_t *idx;   /* (max_batch) sample indices */
  double *acc;    /* (numel) gradient accumulator */
  int64_t nbuf;   /* floats of the graph's buffers (batch-norm running statistics) */
  float *bufsave; /* (nbuf) their values, restored after each evaluation */
};

#endif
