/* Internal state shared by the analysis files: the loss over a subset (lossfn.c), used by the
 * Hessian (hessian.c) and landscape (landscape.c) tools, and the symmetric eigensolver. */
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

/* Eigen-decomposition of the symmetric m x m matrix a (row-major, destroyed) by cyclic Jacobi
 * rotations (hessian.c): eigenvalues in ev (unordered), eigenvectors in the columns of vec. m is
 * small (<= 500). */
void ds__jacobi(double *a, int m, double *ev, double *vec);

#endif
