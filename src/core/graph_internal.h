/* Private view of the graph: node records and the op table. Included by src/core and src/ops. */
#ifndef DESCENT_GRAPH_INTERNAL_H
#define DESCENT_GRAPH_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "descent/graph.h"
#include "descent/ops.h"

#define DS_MAX_INPUTS 4
#define DS_MAX_IATTR 8
#define DS_MAX_FATTR 4

typedef struct ds_nodedata {
  int op; /* ds_op_kind */
  char name[DS_NAME_MAX];
  int n_in;
  ds_node in[DS_MAX_INPUTS];
  ds_shape shape;     /* at the current batch */
  int param;          /* DS_OP_PARAM: index into the graph's parameter set, else -1 */
  ds_init init;       /* DS_OP_PARAM only */
  bool requires_grad; /* some ancestor is a parameter or an input that requires grad */
  bool needs_grad;    /* requires_grad and an ancestor of the loss: gets a gradient buffer */
  float *val;         /* output, numel(shape) floats */
  float *grad;        /* d objective / d output, or NULL */
  float *aux;         /* per-node state kept from forward to backward (mask, argmax, stats) */
  int64_t aux_size;     /* floats of aux needed at the current batch (set by infer) */
  int64_t scratch_size; /* floats of shared scratch needed at the current batch (set by infer) */
  int64_t aux_cap, val_cap; /* planned at max batch */
  ds_node last_consumer;     /* highest-id node reading this one: its backward runs first */
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
  ds_node loss;
  ds_paramset *params;  /* trainable parameters */
  ds_paramset *buffers; /* non-trainable state (running statistics) */
  float *arena;         /* values, aux, then gradients */
  int64_t arena_floats, grad_floats;
  float *scratch; /* shared scratch for ops (im2col), max over nodes */
  int64_t scratch_floats;
  ds_rng rng; /* dropout, stochastic depth */
  double loss_mean;
  ds_status run_status; /* set by an op's forward on bad data (e.g. a label out of range) */
};

/* An op: shape inference + forward + backward, kept together. infer sets n->shape (from the
 * inputs' shapes at the current batch), aux_size and scratch_size, and returns an error naming the
 * node on bad input. backward accumulates (+=) into the gradients of inputs whose grad != NULL. */
typedef struct {
  const char *name;
  ds_status (*infer)(ds_graph *g, ds_nodedata *n);
  void (*forward)(ds_graph *g, ds_nodedata *n);
  void (*backward)(ds_graph *g, ds_nodedata *n);
} ds_opdef;

/* The op list: X(ENUM, name). Adding an op: one file in src/ops/ defining `ds__op_<name>`, plus
 * one line here. The order is the serialisation id; append new ops at the end. */
#define DS_OP_LIST(X)                                                                             \
  X(INPUT, input)                                                                                 \
  X(PARAM, param)                                                                                 \
  X(LINEAR, linear)                                                                               \
  X(MATMUL, matmul)                                                                               \
  X(BIAS_ADD, bias_add)                                                                           \
  X(ADD, add)                                                                                     \
  X(SCALE, scale)                                                                                 \
  X(IDENTITY, identity)                                                                           \
  X(RELU, relu)                                                                                   \
  X(LEAKY_RELU, leaky_relu)                                                                       \
  X(TANH, tanh)                                                                                   \
  X(SIGMOID, sigmoid)                                                                             \
  X(GELU, gelu)                                                                                   \
  X(CROSS_ENTROPY, cross_entropy)                                                                 \
  X(MSE, mse)                                                                                     \
  X(CONV2D, conv2d)                                                                               \
  X(MAXPOOL2D, maxpool2d)                                                                         \
  X(AVGPOOL2D, avgpool2d)                                                                         \
  X(GLOBAL_AVGPOOL, global_avgpool)                                                               \
  X(RESHAPE, reshape)                                                                             \
  X(DROPOUT, dropout)                                                                             \
  X(BATCHNORM, batchnorm)                                                                         \
  X(LAYERNORM, layernorm)                                                                         \
  X(GROUPNORM, groupnorm)                                                                         \
  X(INSTANCENORM, instancenorm)                                                                   \
  X(WEIGHT_STD, weight_std)                                                                       \
  X(STOCHASTIC_DEPTH, stochastic_depth)

typedef enum {
#define DS__OP_ENUM(E, n) DS_OP_##E,
  DS_OP_LIST(DS__OP_ENUM)
#undef DS__OP_ENUM
      DS_OP_COUNT
} ds_op_kind;

#define DS__OP_DECL(E, n) extern const ds_opdef ds__op_##n;
DS_OP_LIST(DS__OP_DECL)
#undef DS__OP_DECL

const ds_opdef *ds__opdef(int op);

/* Adds a node of kind op with the given inputs and attributes, runs its shape inference and
 * returns its id; on error removes it and returns the status. Passes a negative input id through. */
ds_node ds__add_node(ds_graph *g, int op, int n_in, const ds_node *in, const int64_t *iattr,
                     int n_iattr, const float *fattr, int n_fattr);
/* Registers a non-trainable buffer (e.g. running mean) of shape; returns its index in g->buffers. */
int ds__graph_add_buffer(ds_graph *g, const char *name, ds_shape shape, float fill);
/* ds_paramset_add without its linear search for a duplicate name: for callers that know the
 * name is new (ds_param checks it against the graph's hashed node names, which include every
 * parameter's), so that building a model of n parameters stays linear. */
int ds__paramset_append(ds_paramset *ps, const char *name, ds_shape shape, ds_role role);
/* Renames a node (used by the nn builders); names must be unique. */
ds_status ds__graph_set_name(ds_graph *g, ds_node n, const char *name);

static inline ds_nodedata *ds__node(ds_graph *g, ds_node id) { return &g->nodes[id]; }
static inline ds_nodedata *ds__in(ds_graph *g, const ds_nodedata *n, int i) {
  return &g->nodes[n->in[i]];
}
static inline int64_t ds__numel(const ds_nodedata *n) { return ds_shape_numel(&n->shape); }

/* Error helper for infer functions: "node 'linear#3': <message>". */
ds_status ds__node_error(const ds_nodedata *n, ds_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
