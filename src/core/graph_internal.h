/* Private view of the graph: node records and the op table. Included by src/core and src/ops. */
#ifndef DESCENT_GRAPH_INTERNAL_H
#define DESCENT_GRAPH_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "descent/graph.h"

#define DS_MAX_INPUTS 4
#define DS_MAX_IATTR 8
#define DS_MAX_FATTR 4

typedef struct ds_nodedata {
  int op; /* ds_op_kind */
  char name[DS_NAME_MAX];
  int n_in;
  ds_node in[DS_MAX_INPUTS];
  ds_shape shape;       /* at the current batch */
  int param;            /* DS_OP_PARAM: index into the graph's parameter set, else -1 */
  ds_init init;         /* DS_OP_PARAM only */
  bool requires_grad;   /* some ancestor is a parameter or an input that requires grad */
  bool needs_grad;      /* requires_grad and an ancestor of the loss: gets a gradient buffer */
  float *val;           /* output, numel(shape) floats */
  float *grad;          /* d objective / d output, or NULL */
  float *aux;           /* per-node state kept from forward to backward (mask, argmax, stats) */
  int64_t aux_size;     /* floats of aux needed at the current batch (set by infer) */
  int64_t scratch_size; /* floats of shared scratch needed at the current batch (set by infer) */
  int64_t aux_cap, val_cap; /* planned at max batch */
  ds_node last_consumer;    /* highest-id node reading this one: its backward runs first */
  bool grad_fresh; /* set while last_consumer's backward runs, if its op writes this gradient
                      (ds_opdef.writes_grad): grad holds stale values and must be written whole */
  int64_t iattr[DS_MAX_IATTR];
  float fattr[DS_MAX_FATTR];
  int name_next; /* next node in the same name-hash bucket, -1 at the end */
} ds_nodedata;

struct ds_graph {
  ds_nodedata *nodes;
  int n_nodes, cap_nodes;
  int *name_buckets; /* cap_nodes * 2 heads of node chains by name hash (-1: empty), for
                        constant-time name lookups and uniqueness checks */
  int64_t max_batch, batch;
  bool compiled, training;
  bool update_buffers; /* training forwards update running statistics (default true) */
  bool keep_grads;     /* every gradient its own buffer, readable after backward (default off) */
  ds_node loss;
  ds_paramset *params;  /* trainable parameters */
  ds_paramset *buffers; /* non-trainable state (running statistics) */
  float *arena;         /* values, aux, then gradients (lives planned in compile), then scratch */
  int64_t arena_floats, grad_floats;
  float *scratch; /* shared scratch for ops (im2col), max over nodes */
  int64_t scratch_floats;
  ds_rng rng; /* dropout, stochastic depth */
  double loss_mean;
  ds_status run_status; /* set by an op's forward on bad data (e.g. a label out of range) */
  /* gradient-ready hook (dist.h's bucketed allreduce): param_final[k] is the lowest id of a node
   * whose backward writes parameter k's gradient (-1: none, final from the start) */
  int *param_final;
  ds_grad_ready_fn grad_ready;
  void *grad_ready_ctx;
  ds_reduce_fn reducer; /* sums over processes (sync batch norm), or NULL */
  void *reducer_ctx;
};

/* n rounded up to a multiple of 16 floats (64 bytes): offsets of arena and scratch blocks. */
static inline int64_t ds__align16(int64_t n) { return (n + 15) & ~(int64_t)15; }

/* An op: shape inference + forward + backward, kept together. infer sets n->shape (from the
 * inputs' shapes at the current batch), aux_size and scratch_size, and returns an error naming the
 * node on bad input. backward accumulates (+=) into the gradients of inputs whose grad != NULL,
 * except where writes_grad has input k's bit and that input's grad_fresh is set: then it must
 * write (=) every element of that gradient (the engine skips zeroing it first). */
typedef struct {
  const char *name;
  ds_status (*infer)(ds_graph *g, ds_nodedata *n);
  void (*forward)(ds_graph *g, ds_nodedata *n);
  void (*backward)(ds_graph *g, ds_nodedata *n);
  unsigned writes_grad; /* bit k: backward can write input k's gradient when it is fresh */
} ds_opdef;

/* The two ops the engine itself defines (src/core/graph.c); every other op is registered in the op
 * table of src/ops/op_list.h, which the engine reaches only through ds__opdef. */
enum { DS_OP_INPUT = 0, DS_OP_PARAM = 1 };
extern const ds_opdef ds__op_input, ds__op_param;

/* The record of op kind `op`, or NULL if there is none (src/ops/registry.c). */
const ds_opdef *ds__opdef(int op);

/* Adds a node of kind op with the given inputs and attributes, runs its shape inference and
 * returns its id; on error removes it and returns the status. Passes a negative input id through.
 */
ds_node ds__add_node(ds_graph *g, int op, int n_in, const ds_node *in, const int64_t *iattr,
                     int n_iattr, const float *fattr, int n_fattr);
/* Registers a non-trainable buffer (e.g. running mean) of shape; returns its index in g->buffers.
 */
int ds__graph_add_buffer(ds_graph *g, const char *name, ds_shape shape, float fill);
/* ds_paramset_add without its linear search for a duplicate name: for callers that know the
 * name is new (ds_param checks it against the graph's hashed node names, which include every
 * parameter's), so that building a model of n parameters stays linear. */
int ds__paramset_append(ds_paramset *ps, const char *name, ds_shape shape, ds_role role);

static inline ds_nodedata *ds__node(ds_graph *g, ds_node id) { return &g->nodes[id]; }
static inline ds_nodedata *ds__in(ds_graph *g, const ds_nodedata *n, int i) {
  return &g->nodes[n->in[i]];
}
static inline int64_t ds__numel(const ds_nodedata *n) { return ds_shape_numel(&n->shape); }

/* Error helper for infer functions: "node 'linear#3': <message>". */
ds_status ds__node_error(const ds_nodedata *n, ds_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
