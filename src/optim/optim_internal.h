/* Internals shared by the optimizer files: the optimizer object, the per-kind table entry, the
 * chunked parallel loop over the flat buffers and per-row/per-tensor statistics.
 *
 * Work division. At creation the flat buffer is cut into segments and chunks:
 *   unit    = what a per-unit norm is taken over: one output row of a rank >= 2 parameter, the
 * whole tensor for rank <= 1; segment = a piece of one unit, at most DS__CHUNK elements; chunk   =
 * consecutive segments of ONE parameter, about DS__CHUNK elements in all. An elementwise optimizer
 * runs one OpenMP loop over chunks (each chunk an inner vectorised loop with that parameter's
 * constants); optimizers that need norms write one partial sum per segment and reduce them serially
 * in a fixed order (so results do not depend on thread timing). */
#ifndef DESCENT_OPTIM_INTERNAL_H
#define DESCENT_OPTIM_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "descent/optim.h"

#define DS__CHUNK 32768   /* elements per chunk: large enough to amortise scheduling */
#define DS__PAR_MIN 65536 /* below this many parameters the loops run on one thread */
#define DS__MAX_HYPER 12
#define DS__MAX_STATE 4
#define DS__MAX_SCALAR 6
#define DS__MAX_STAT 4 /* statistics per segment */

typedef enum { DS__REAL, DS__PAIR, DS__BOOL, DS__INT, DS__REAL_OR_NONE } ds__htype;

/* One hyperparameter: key, type, default, allowed range [lo, hi] (hi excluded if hi_open). */
typedef struct {
  const char *key;
  ds__htype type;
  double def[2];
  double lo, hi;
  bool hi_open;
} ds__hyper;

typedef struct {
  int64_t begin, n; /* range in the flat buffer */
  int param;
  int64_t seg0, nseg; /* its segments */
} ds__chunk;

typedef struct {
  int64_t begin, n;
  int64_t unit;
} ds__segment;

typedef struct ds__kind ds__kind;

struct ds_optim {
  const ds__kind *kind;
  ds_paramset *ps;
  int64_t numel; /* layout when created, to detect changes */
  int count;
  double h[DS__MAX_HYPER][2];
  bool hnone[DS__MAX_HYPER];
  /* scalars: [0] is the step counter, the rest per kind */
  double scalar[DS__MAX_SCALAR];
  float *state[DS__MAX_STATE];
  int nstate; /* allocated buffers (0 before allocation) */
  const char *state_names[DS__MAX_STATE];
  bool allocated;
  /* work division */
  ds__chunk *chunks;
  int64_t nchunks;
  ds__segment *segs;
  int64_t nsegs;
  int64_t *unit0; /* per parameter: its first unit; units are numbered over all parameters */
  int64_t nunits;
  double *seg_stat, *unit_stat, *param_stat; /* nstat doubles each, when the kind needs them */
  float *scratch;                            /* kind-specific work memory (muon) */
  double *trust; /* (count) trust ratios of the last step, for kinds with trust_ratios */
};

struct ds__kind {
  const char *name;
  const char *reference;
  const ds__hyper *hypers;    /* terminated by key == NULL */
  const char *const *scalars; /* names of scalar[1..], terminated by NULL */
  int nstat;                  /* doubles of statistics per segment (0: none) */
  bool trust_ratios;          /* fills o->trust every step (ds_optim_trust_ratios) */
  /* Names of the state buffers the current hyperparameters need; returns how many. */
  int (*states)(const ds_optim *o, const char **names);
  /* Cross-hyperparameter checks before a step (NULL: none). */
  ds_status (*check)(const ds_optim *o);
  /* After the state is allocated (zeros): fill initial values (NULL: keep zeros). */
  void (*init_state)(ds_optim *o);
  /* Sets scalar defaults at creation (NULL: zeros). */
  void (*init_scalars)(ds_optim *o);
  /* Floats of scratch memory needed (NULL: none). */
  int64_t (*scratch_floats)(const ds_optim *o);
  /* One step; o->scalar[0] already counts this step. */
  void (*step)(ds_optim *o, float lr);
  /* Schedule-free train/eval swap (NULL: no-op). */
  ds_status (*eval_mode)(ds_optim *o, bool eval);
};

/* The kinds, each defined in its own file. */
extern const ds__kind ds__sgd, ds__sgdw, ds__adagrad, ds__rmsprop, ds__adadelta, ds__adam,
    ds__adamw, ds__adamax, ds__nadam, ds__radam, ds__adamp, ds__sgdp, ds__lars, ds__lamb, ds__lion,
    ds__schedfree_adamw, ds__muon;

/* Index of hyperparameter key in the kind's table, or -1. */
int ds__hyper_index(const ds__kind *k, const char *key);

/* The current step t (1 during the first step). */
static inline int64_t ds__t(const ds_optim *o) { return (int64_t)o->scalar[0]; }

/* Effective weight decay of parameter i: 0 for no_decay parameters. */
static inline double ds__wd(const ds_optim *o, int i, double wd) {
  return o->ps->info[i].no_decay ? 0.0 : wd;
}

/* Runs fn on every chunk, in parallel when the set is large. fn must only touch its chunk's range
 * and its segments' statistics. */
typedef void (*ds__chunk_fn)(ds_optim *o, const ds__chunk *c, const void *ctx);
void ds__for_chunks(ds_optim *o, ds__chunk_fn fn, const void *ctx);
/* The states of Adam-like optimizers: "exp_avg", "exp_avg_sq" (a ds__kind.states function). */
int ds__states_adam_like(const ds_optim *o, const char **names);

/* Sums o->seg_stat into o->unit_stat (per unit) and o->param_stat (per parameter), in order. */
void ds__reduce_stats(ds_optim *o);

/* The Adam/AdamW element update (adam.c), shared with muon's auxiliary AdamW:
 * d = g + l2·θ; m, v updated; θ = θ·decay − step·m / (sqrt(v)·ibc2 + eps). */
void ds__adam_kernel(int64_t n, float *restrict p, const float *restrict g, float *restrict m,
                     float *restrict v, float l2, float decay, float b1, float b2, float eps,
                     float step, float ibc2);

/* Sum of squares of x[0..n) in double. */
double ds__sumsq(const float *x, int64_t n);

#endif
