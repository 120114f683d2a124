/* descent — the static computation graph.
 *
 * A model is a DAG built once by builder functions (ops.h, nn.h), then compiled: shapes are
 * checked, the topological order is fixed and all activation and activation-gradient memory is
 * planned into one arena. Running the graph then allocates nothing.
 *
 * Nodes are ids (ds_node >= 0). Builders return a negative ds_status on error and pass an
 * erroneous input id through unchanged, so a chain of builders reports the first error.
 * The batch is dimension 0 of every input; the graph is sized for max_batch and can run any
 * batch n <= max_batch (ds_graph_set_batch).
 *
 * Example (given seed):
 *   ds_graph *g = ds_graph_new(128);
 *   ds_node x = ds_input(g, "x", ds_shape1(784));          // (B, 784)
 *   ds_node y = ds_input(g, "y", ds_shape_scalar());        // (B) class indices as floats
 *   ds_node h = ds_relu(g, ds_nn_linear(g, "fc1", x, 256, true));         // nn.h builders
 *   ds_node loss = ds_cross_entropy(g, ds_nn_linear(g, "fc2", h, 10, true), y, 0.0f);
 *   ds_graph_compile(g, loss);
 *   ds_graph_init_params(g, seed);
 *   // ... fill ds_graph_value(g, x) and ds_graph_value(g, y), then:
 *   ds_graph_forward(g); ds_graph_backward(g, NULL);       // grads in ds_graph_params(g)->grad
 */
#ifndef DESCENT_GRAPH_H
#define DESCENT_GRAPH_H
#include "export.h"
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "rng.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

typedef struct ds_graph ds_graph;
typedef int32_t ds_node;
/* "No node": for optional inputs such as a linear layer without bias. */
#define DS_NONE ((ds_node)INT32_MIN)
/* The one test of a builder's result: an error status (negative, with a message) — anything
 * negative except DS_NONE. */
static inline bool ds_node_failed(ds_node n) { return n < 0 && n != DS_NONE; }
/* Most nodes a graph may have (a builder beyond it fails with DS_EINVAL). */
#define DS_GRAPH_MAX_NODES (1 << 24)

/* Rank-0 shape, for per-sample scalars such as labels. */
static inline ds_shape ds_shape_scalar(void) { return (ds_shape){0, {1, 1, 1, 1}}; }

/* A new, empty graph for batches of at most max_batch samples. NULL on error. Free with
 * ds_graph_free. */
ds_graph *ds_graph_new(int64_t max_batch);
void ds_graph_free(ds_graph *g);

/* A data input of per-sample shape sample_shape; the node's shape is (B, sample_shape...).
 * The caller fills ds_graph_value(g, node) before each forward. */
ds_node ds_input(ds_graph *g, const char *name, ds_shape sample_shape);
/* Makes backward also compute the gradient with respect to an input (off by default). */
ds_status ds_input_requires_grad(ds_graph *g, ds_node input, bool on);

/* A trainable parameter of the given shape and role, stored in the graph's flat parameter set.
 * Its initialisation is set with ds_param_set_init (default: from the role; see nn.h). */
ds_node ds_param(ds_graph *g, const char *name, ds_shape shape, ds_role role);

/* Parameter initialisations applied by ds_graph_init_params. */
typedef enum {
  DS_INIT_DEFAULT = 0, /* PyTorch's default: weights and biases U(-1/sqrt(fan_in), +) */
  DS_INIT_ZEROS,
  DS_INIT_ONES,
  DS_INIT_CONSTANT,       /* a */
  DS_INIT_UNIFORM,        /* U(a, b) */
  DS_INIT_NORMAL,         /* N(a, b^2) */
  DS_INIT_KAIMING_NORMAL, /* N(0, gain^2 / fan_in), a = gain */
  DS_INIT_KAIMING_UNIFORM,
  DS_INIT_XAVIER_NORMAL, /* N(0, gain^2 * 2 / (fan_in + fan_out)), a = gain */
  DS_INIT_XAVIER_UNIFORM,
  DS_INIT_ORTHOGONAL,       /* QR of a Gaussian, scaled by a = gain */
  DS_INIT_DELTA_ORTHOGONAL, /* conv (O, I, k, k): an orthogonal (O, I) matrix times a = gain at
                               the kernel centre, zero elsewhere (Xiao et al. 2018); rank 2: as
                               orthogonal. The model builders draw biases from N(0, b^2) */
  DS_INIT_MEANFIELD /* weights N(0, a^2/fan_in) (a = sigma_w), biases N(0, b^2) (b = sigma_b) */
} ds_init_kind;
typedef struct {
  ds_init_kind kind;
  double a, b;
} ds_init;
ds_status ds_param_set_init(ds_graph *g, ds_node param, ds_init init);

/* Compiles the graph with `loss` as the objective node: shape (B) per-sample losses, or a
 * scalar. Fixes the order and plans the arena. Errors name the node at fault. The gradient of an
 * activation lives only from the backward of its last consumer to its own backward, and buffers
 * whose lives do not overlap share memory: after ds_graph_backward the gradients of parameters
 * and of inputs are valid, those of other nodes are not (see ds_graph_keep_grads). */
ds_status ds_graph_compile(ds_graph *g, ds_node loss);
bool ds_graph_is_compiled(const ds_graph *g);
/* on: every node's gradient gets a buffer of its own, so that all of them can still be read
 * after backward (tests comparing intermediate gradients); more memory, the same results.
 * Default off. Set before ds_graph_compile (DS_ESTATE after). */
ds_status ds_graph_keep_grads(ds_graph *g, bool on);
/* Whether ds_graph_keep_grads is on. */
bool ds_graph_keeps_grads(const ds_graph *g);

/* Fills every parameter by its init spec, from the DS_RNG_INIT stream of seed. */
ds_status ds_graph_init_params(ds_graph *g, uint64_t seed);

/* Sets the batch size of the next forward/backward: 1 <= n <= max_batch. No allocation. */
ds_status ds_graph_set_batch(ds_graph *g, int64_t n);
int64_t ds_graph_batch(const ds_graph *g);
int64_t ds_graph_max_batch(const ds_graph *g);

/* Train/eval mode: honoured by dropout, batch norm and stochastic depth. Default: training. */
void ds_graph_set_training(ds_graph *g, bool training);
bool ds_graph_training(const ds_graph *g);
/* Whether a training-mode forward updates non-trainable state (batch norm's running statistics).
 * Default true; SAM's second pass turns it off so that one step updates the statistics once. */
void ds_graph_set_update_buffers(ds_graph *g, bool on);
bool ds_graph_update_buffers(const ds_graph *g);
/* Seeds the graph's dropout / stochastic-depth generator (DS_RNG_DROPOUT stream of seed). */
void ds_graph_seed(ds_graph *g, uint64_t seed);
/* The generator used by stochastic ops; callers may save and restore it (checkpoints). */
ds_rng *ds_graph_rng(ds_graph *g);

/* Runs the forward pass over the current batch. */
ds_status ds_graph_forward(ds_graph *g);
/* Zeroes all gradients, seeds d(objective)/d(loss_i) = weights[i] (weights NULL: 1/B for a
 * per-sample loss, 1 for a scalar loss) and runs the backward pass. Parameter gradients land in
 * ds_graph_params(g)->grad. */
ds_status ds_graph_backward(ds_graph *g, const float *weights);
/* As ds_graph_backward but adds to the existing parameter gradients (gradient accumulation). */
ds_status ds_graph_backward_accumulate(ds_graph *g, const float *weights);
/* Re-runs the forward pass of the nodes after `node` only, from the current values of the nodes up
 * to it: after the caller changed the value of node (a perturbation for a Jacobian-vector product
 * by differences), everything downstream is recomputed. */
ds_status ds_graph_forward_from(ds_graph *g, ds_node node);
/* Vector-Jacobian product of any node: zeroes all gradients, sets the gradient of node (an
 * activation that has one: on a path from a parameter, or from an input with requires_grad, to the
 * loss) to seed (its current shape, batch first) and runs backward from there. Parameter gradients
 * and the gradients of inputs with requires_grad then hold seed^T d node / d (them); with
 * per-sample seeds and no op mixing samples (batch norm in training mode does), row i of an input's
 * gradient is the product for sample i alone. The gradient-ready hook is not called. */
ds_status ds_graph_backward_from(ds_graph *g, ds_node node, const float *seed);
/* Gradient-ready hook: during ds_graph_backward(_accumulate), fn(ctx, offset) is called each time
 * the parameter gradients of the flat range [offset, numel) have become final, with offsets
 * decreasing and a last call with offset 0, so that their reduction across processes can start
 * while the rest of backward runs (dist.h). Parameters lie in the flat buffer in creation order
 * and backward runs in reverse, so the range grows from the end. fn NULL: none (default). */
typedef void (*ds_grad_ready_fn)(void *ctx, int64_t offset);
void ds_graph_set_grad_ready(ds_graph *g, ds_grad_ready_fn fn, void *ctx);
/* Reducer: sums x[0..n) over the processes of a data-parallel run in place (ops that need
 * statistics of the global batch call it, e.g. synchronised batch norm). NULL: one process. */
typedef ds_status (*ds_reduce_fn)(void *ctx, double *x, int64_t n);
void ds_graph_set_reducer(ds_graph *g, ds_reduce_fn fn, void *ctx);
/* Mean of the per-sample losses of the last forward (or the scalar loss). */
double ds_graph_loss_mean(const ds_graph *g);

/* Node accessors. Value/gradient pointers are valid after compile and hold the current batch
 * (row-major, shape ds_graph_shape). Gradients are NULL for nodes that need none; the gradient of
 * a node other than a parameter or an input holds its value after backward only with
 * ds_graph_keep_grads. */
float *ds_graph_value(ds_graph *g, ds_node n);
float *ds_graph_grad(ds_graph *g, ds_node n);
ds_shape ds_graph_shape(const ds_graph *g, ds_node n);
const char *ds_graph_node_name(const ds_graph *g, ds_node n);
/* Looks a node up by name: its id, or DS_ENOTFOUND with a message naming the name. */
ds_node ds_graph_find(const ds_graph *g, const char *name);
int ds_graph_node_count(const ds_graph *g);
/* True if node n is a data input (ds_input). */
bool ds_graph_is_input(const ds_graph *g, ds_node n);
ds_node ds_graph_loss(const ds_graph *g);

/* ---- the layer API: what layer builders (nn.h) need beyond the ops ---- */

/* Renames node n; layer builders name their output after the layer ("fc1"). Names are unique
 * (DS_EINVAL naming the name when it is taken) and shorter than DS_NAME_MAX. */
ds_status ds_graph_set_node_name(ds_graph *g, ds_node n, const char *name);
/* Input i of node n, or DS_NONE when n has no input i (or n is not a node). */
ds_node ds_graph_node_input(const ds_graph *g, ds_node n, int i);
/* The op of node n by name ("linear", "param", "input", ...); NULL if n is not a node. Static. */
const char *ds_graph_node_op(const ds_graph *g, ds_node n);
/* Metadata of parameter node n inside ds_graph_params(g) (role, flags such as is_head), or NULL
 * (with DS_EINVAL set) if n is not a parameter node. Owned by the graph; valid until the next
 * ds_param call. */
ds_param_info *ds_graph_param_info(ds_graph *g, ds_node n);

/* The graph's parameters (flat buffers + metadata). Owned by the graph. */
ds_paramset *ds_graph_params(ds_graph *g);
/* Non-trainable state tensors (e.g. batch-norm running statistics), in one flat buffer too. */
ds_paramset *ds_graph_buffers(ds_graph *g);
/* Bytes of the activation arena (values + gradients + op scratch) planned at compile. */
int64_t ds_graph_arena_bytes(const ds_graph *g);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
