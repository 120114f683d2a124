/* The op table: every op kind of the engine, in one X-macro list. Included by src/ops only; the
 * engine (src/core) looks ops up through ds__opdef. */
#ifndef DESCENT_OP_LIST_H
#define DESCENT_OP_LIST_H
#include "core/graph_internal.h"
#include "descent/ops.h"

/* The op list: X(ENUM, name). Adding an op: one file in src/ops/ defining `ds__op_<name>`, plus
 * one line here (docs/adding-an-op.md). The order is the serialisation id; append new ops at the
 * end. */
#define DS_OP_LIST(X)                                                                              \
  X(LINEAR, linear)                                                                                \
  X(MATMUL, matmul)                                                                                \
  X(BIAS_ADD, bias_add)                                                                            \
  X(ADD, add)                                                                                      \
  X(SCALE, scale)                                                                                  \
  X(IDENTITY, identity)                                                                            \
  X(RELU, relu)                                                                                    \
  X(LEAKY_RELU, leaky_relu)                                                                        \
  X(TANH, tanh)                                                                                    \
  X(SIGMOID, sigmoid)                                                                              \
  X(GELU, gelu)                                                                                    \
  X(CROSS_ENTROPY, cross_entropy)                                                                  \
  X(MSE, mse)                                                                                      \
  X(CONV2D, conv2d)                                                                                \
  X(MAXPOOL2D, maxpool2d)                                                                          \
  X(AVGPOOL2D, avgpool2d)                                                                          \
  X(GLOBAL_AVGPOOL, global_avgpool)                                                                \
  X(RESHAPE, reshape)                                                                              \
  X(DROPOUT, dropout)                                                                              \
  X(BATCHNORM, batchnorm)                                                                          \
  X(LAYERNORM, layernorm)                                                                          \
  X(GROUPNORM, groupnorm)                                                                          \
  X(INSTANCENORM, instancenorm)                                                                    \
  X(WEIGHT_STD, weight_std)                                                                        \
  X(STOCHASTIC_DEPTH, stochastic_depth)                                                            \
  X(L1, l1)                                                                                        \
  X(HUBER, huber)                                                                                  \
  X(BATCHNORM_EXT, batchnorm_ext)                                                                  \
  X(BMM, bmm)                                                                                      \
  X(SOFTMAX, softmax)                                                                              \
  X(ATTENTION, attention)                                                                          \
  X(EMBEDDING, embedding)                                                                          \
  X(ADD_BROADCAST, add_broadcast)                                                                  \
  X(TOKEN_PREPEND, token_prepend)                                                                  \
  X(TOKEN_MEAN, token_mean)                                                                        \
  X(SLICE, slice)                                                                                  \
  X(TRANSPOSE, transpose)

/* Ids 0 and 1 are the engine's input and param (graph_internal.h); the list continues from 2. */
typedef enum {
  DS__OP_ENGINE_LAST = DS_OP_PARAM,
#define DS__OP_ENUM(E, n) DS_OP_##E,
  DS_OP_LIST(DS__OP_ENUM)
#undef DS__OP_ENUM
      DS_OP_COUNT
} ds_op_kind;

#define DS__OP_DECL(E, n) extern const ds_opdef ds__op_##n;
DS_OP_LIST(DS__OP_DECL)
#undef DS__OP_DECL

#endif
