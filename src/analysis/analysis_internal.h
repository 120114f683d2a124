/* Internal state shared by the analysis files: the loss over a subset (lossfn.c), used by the
 * Hessian (hessian.c) and landscape (landscape.c) tools; Lanczos and the symmetric eigensolver. */
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

/* ---- lanczos.c ---- */
/* Eigen-decomposition of the symmetric m x m matrix a (row-major, destroyed) by cyclic Jacobi
 * rotations: eigenvalues in ev, eigenvectors in the columns of vec. m is small (<= 500). */
void ds__sym_eig(double *a, int m, double *ev, double *vec);
/* The dot product of two vectors of n doubles (parallel for long ones). */
double ds__dot(const double *a, const double *b, int64_t n);
/* out = A v for a symmetric operator A on n doubles. */
typedef ds_status (*ds__matvec_fn)(void *ctx, const double *v, double *out);
/* m Lanczos steps on A with full reorthogonalisation (basis stored in float, m x n) from a unit
 * Gaussian start vector of seed (DS_RNG_NOISE); stops early at an invariant subspace. *steps
 * receives the steps made, s <= m; ritz[0..s) the Ritz values ascending, weight (may be NULL) their
 * quadrature weights (squared first components of the Ritz vectors, summing to 1: the start
 * vector's spectral measure), residual (may be NULL) the estimates beta_s |last component|. */
ds_status ds__lanczos(int64_t n, ds__matvec_fn matvec, void *ctx, int m, uint64_t seed,
                      double *ritz, double *weight, double *residual, int *steps);

#endif
