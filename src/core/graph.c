/* The static graph: building, compiling (order + memory plan), running forward and backward. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/graph_internal.h"
#include "core/memplan.h"
#include "descent/alloc.h"

ds_status ds__node_error(const ds_nodedata *n, ds_status code, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ds_set_error(code, "node '%s': %s", n->name, msg);
}

ds_graph *ds_graph_new(int64_t max_batch) {
  if (max_batch < 1) {
    ds_set_error(DS_EINVAL, "graph: max_batch must be >= 1, got %lld", (long long)max_batch);
    return NULL;
  }
  ds_graph *g = ds_calloc(1, sizeof *g);
  if (!g) return NULL;
  g->max_batch = g->batch = max_batch;
  g->training = true;
  g->update_buffers = true;
  g->loss = -1;
  g->params = ds_paramset_new();
  g->buffers = ds_paramset_new();
  if (!g->params || !g->buffers) {
    ds_graph_free(g);
    return NULL;
  }
  ds_rng_seed(&g->rng, 0, DS_RNG_DROPOUT);
  return g;
}

void ds_graph_free(ds_graph *g) {
  if (!g) return;
  ds_free(g->nodes);
  ds_free(g->name_buckets);
  ds_paramset_free(g->params);
  ds_paramset_free(g->buffers);
  ds_free(g->arena);
  ds_free(g->param_final);
  ds_free(g);
}

static ds_status check_graph(const ds_graph *g, const char *what) {
  if (!g) return ds_set_error(DS_EINVAL, "%s: graph is NULL", what);
  return DS_OK;
}

static ds_status check_node(const ds_graph *g, ds_node id, const char *what) {
  if (check_graph(g, what)) return DS_EINVAL;
  if (id < 0 || id >= g->n_nodes)
    return ds_set_error(DS_EINVAL, "%s: node id %d does not exist in this graph", what, id);
  return DS_OK;
}

/* ---- node names: a hash of chains over the nodes, so that building a graph of n nodes does
 * O(n) name work (a linear scan per new name made deep models quadratic) ---- */

static uint32_t name_hash(const char *s) { /* FNV-1a */
  uint32_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static int *bucket_of(const ds_graph *g, const char *name) {
  return &g->name_buckets[name_hash(name) & (uint32_t)(2 * g->cap_nodes - 1)];
}

static ds_node find_name(const ds_graph *g, const char *name) {
  if (!g->name_buckets) return -1;
  for (int i = *bucket_of(g, name); i >= 0; i = g->nodes[i].name_next)
    if (!strcmp(g->nodes[i].name, name)) return i;
  return -1;
}

static bool name_taken(const ds_graph *g, const char *name) { return find_name(g, name) >= 0; }

static void name_link(ds_graph *g, ds_node id) {
  int *b = bucket_of(g, g->nodes[id].name);
  g->nodes[id].name_next = *b;
  *b = id;
}

static void name_unlink(ds_graph *g, ds_node id) {
  for (int *p = bucket_of(g, g->nodes[id].name); *p >= 0; p = &g->nodes[*p].name_next)
    if (*p == id) {
      *p = g->nodes[id].name_next;
      return;
    }
}

/* Renames node id (its name must be unique; callers check). */
static void set_node_name(ds_graph *g, ds_node id, const char *name) {
  name_unlink(g, id);
  snprintf(g->nodes[id].name, DS_NAME_MAX, "%s", name);
  name_link(g, id);
}

/* Grows the node array to cap nodes (a power of two) and rebuilds the name hash. */
static ds_status grow_nodes(ds_graph *g, int cap) {
  ds_nodedata *nodes = ds_calloc((size_t)cap, sizeof *nodes);
  int *buckets = ds_malloc((size_t)cap * 2 * sizeof *buckets);
  if (!nodes || !buckets) {
    ds_free(nodes);
    ds_free(buckets);
    return DS_ENOMEM;
  }
  if (g->nodes) memcpy(nodes, g->nodes, (size_t)g->n_nodes * sizeof *nodes);
  ds_free(g->nodes);
  ds_free(g->name_buckets);
  g->nodes = nodes;
  g->name_buckets = buckets;
  g->cap_nodes = cap;
  for (int i = 0; i < 2 * cap; i++)
    buckets[i] = -1;
  for (ds_node i = 0; i < g->n_nodes; i++)
    name_link(g, i);
  return DS_OK;
}

ds_node ds__add_node(ds_graph *g, int op, int n_in, const ds_node *in, const int64_t *iattr,
                     int n_iattr, const float *fattr, int n_fattr) {
  const char *opname = ds__opdef(op)->name;
  if (!g) return ds_set_error(DS_EINVAL, "%s: graph is NULL", opname);
  for (int i = 0; i < n_in; i++) {
    if (ds_node_failed(in[i])) return in[i]; /* an earlier builder failed */
    if (in[i] < 0 || in[i] >= g->n_nodes)
      return ds_set_error(DS_EINVAL, "%s: input %d is node id %d, which does not exist", opname, i,
                          in[i]);
  }
  if (g->compiled)
    return ds_set_error(DS_ESTATE, "%s: the graph is already compiled; build all nodes first",
                        opname);
  if (g->n_nodes == DS_GRAPH_MAX_NODES)
    return ds_set_error(DS_EINVAL, "%s: the graph already has %d nodes, the most allowed", opname,
                        DS_GRAPH_MAX_NODES);
  if (g->n_nodes == g->cap_nodes && grow_nodes(g, g->cap_nodes ? 2 * g->cap_nodes : 32))
    return DS_ENOMEM;
  ds_node id = g->n_nodes;
  ds_nodedata *n = &g->nodes[id];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->param = -1;
  n->n_in = n_in;
  snprintf(n->name, sizeof n->name, "%s#%d", opname, id);
  for (int i = 0; i < n_in; i++) {
    n->in[i] = in[i];
    n->requires_grad |= g->nodes[in[i]].requires_grad;
  }
  for (int i = 0; i < n_iattr; i++)
    n->iattr[i] = iattr[i];
  for (int i = 0; i < n_fattr; i++)
    n->fattr[i] = fattr[i];
  g->n_nodes++;
  ds_status st = ds__opdef(op)->infer ? ds__opdef(op)->infer(g, n) : DS_OK;
  if (st == DS_OK) {
    for (int i = 0; i < n->shape.rank; i++)
      if (n->shape.dim[i] <= 0)
        st = ds__node_error(n, DS_ESHAPE, "output dimension %d is %lld (must be > 0)", i,
                            (long long)n->shape.dim[i]);
  }
  if (st != DS_OK) {
    g->n_nodes--;
    return st;
  }
  name_link(g, id);
  return id;
}

ds_status ds_graph_set_node_name(ds_graph *g, ds_node id, const char *name) {
  if (check_node(g, id, "set_name")) return DS_EINVAL;
  if (!name || !*name || strlen(name) >= DS_NAME_MAX)
    return ds_set_error(DS_EINVAL, "node name must have 1..%d characters", DS_NAME_MAX - 1);
  if (strcmp(g->nodes[id].name, name) && name_taken(g, name))
    return ds_set_error(DS_EINVAL, "node name '%s' is used twice", name);
  set_node_name(g, id, name);
  return DS_OK;
}

/* ---- inputs and parameters ---------------------------------------------------------------- */

static ds_status input_infer(ds_graph *g, ds_nodedata *n) {
  /* iattr[0] = per-sample rank, iattr[1..] = per-sample dims */
  int rank = (int)n->iattr[0];
  n->shape.rank = rank + 1;
  n->shape.dim[0] = g->batch;
  for (int i = 0; i < rank; i++)
    n->shape.dim[i + 1] = n->iattr[i + 1];
  for (int i = rank + 1; i < DS_MAX_RANK; i++)
    n->shape.dim[i] = 1;
  return DS_OK;
}
const ds_opdef ds__op_input = {"input", input_infer, NULL, NULL, 0};

static ds_status param_infer(ds_graph *g, ds_nodedata *n) {
  n->shape = g->params->info[n->param].shape;
  return DS_OK;
}
const ds_opdef ds__op_param = {"param", NULL, NULL, NULL, 0};

ds_node ds_input(ds_graph *g, const char *name, ds_shape s) {
  if (check_graph(g, "input")) return DS_EINVAL;
  if (!name || !*name || strlen(name) >= DS_NAME_MAX)
    return ds_set_error(DS_EINVAL, "input: name must have 1..%d characters", DS_NAME_MAX - 1);
  if (name_taken(g, name)) return ds_set_error(DS_EINVAL, "input '%s': name is used twice", name);
  if (s.rank < 0 || s.rank > DS_MAX_RANK - 1)
    return ds_set_error(DS_EINVAL, "input '%s': per-sample rank %d is not in 0..3", name, s.rank);
  for (int i = 0; i < s.rank; i++)
    if (s.dim[i] <= 0)
      return ds_set_error(DS_EINVAL, "input '%s': per-sample dimension %d is %lld (must be > 0)",
                          name, i, (long long)s.dim[i]);
  int64_t attr[4] = {s.rank, s.dim[0], s.dim[1], s.dim[2]};
  ds_node id = ds__add_node(g, DS_OP_INPUT, 0, NULL, attr, 4, NULL, 0);
  if (id >= 0) set_node_name(g, id, name);
  return id;
}

ds_status ds_input_requires_grad(ds_graph *g, ds_node id, bool on) {
  if (check_node(g, id, "input_requires_grad")) return DS_EINVAL;
  if (g->nodes[id].op != DS_OP_INPUT)
    return ds_set_error(DS_EINVAL, "node '%s' is not an input", g->nodes[id].name);
  if (g->compiled)
    return ds_set_error(DS_ESTATE, "input '%s': set requires_grad before compiling",
                        g->nodes[id].name);
  g->nodes[id].requires_grad = on;
  return DS_OK;
}

ds_node ds_param(ds_graph *g, const char *name, ds_shape shape, ds_role role) {
  if (check_graph(g, "param")) return DS_EINVAL;
  if (g->compiled)
    return ds_set_error(DS_ESTATE, "param '%s': the graph is already compiled", name ? name : "");
  if (name && name_taken(g, name))
    return ds_set_error(DS_EINVAL, "param '%s': name is used twice", name);
  int idx = ds__paramset_append(g->params, name, shape, role); /* name checked just above */
  if (idx < 0) return idx;
  ds_node id = ds__add_node(g, DS_OP_PARAM, 0, NULL, NULL, 0, NULL, 0);
  if (id < 0) return id;
  ds_nodedata *n = &g->nodes[id];
  n->param = idx;
  n->shape = shape;
  n->requires_grad = true;
  n->init.kind = DS_INIT_DEFAULT;
  set_node_name(g, id, name);
  return id;
}

ds_status ds_param_set_init(ds_graph *g, ds_node id, ds_init init) {
  if (check_node(g, id, "param_set_init")) return DS_EINVAL;
  if (g->nodes[id].op != DS_OP_PARAM)
    return ds_set_error(DS_EINVAL, "node '%s' is not a parameter", g->nodes[id].name);
  g->nodes[id].init = init;
  return DS_OK;
}

int ds__graph_add_buffer(ds_graph *g, const char *name, ds_shape shape, float fill) {
  int idx = ds_paramset_add(g->buffers, name, shape, DS_ROLE_OTHER);
  if (idx < 0) return idx;
  float *d = g->buffers->data + g->buffers->info[idx].offset;
  for (int64_t i = 0; i < g->buffers->info[idx].numel; i++)
    d[i] = fill;
  return idx;
}

/* ---- compile -------------------------------------------------------------------------------- */

/* Re-runs shape inference over all nodes for the current batch. Nothing is allocated. */
static ds_status infer_all(ds_graph *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    ds_nodedata *n = &g->nodes[i];
    const ds_opdef *def = ds__opdef(n->op);
    if (n->op == DS_OP_PARAM) {
      param_infer(g, n);
      continue;
    }
    if (def->infer) {
      ds_status st = def->infer(g, n);
      if (st) return st;
    }
  }
  return DS_OK;
}

static ds_status plan_grad_ready(ds_graph *g);

/* The activation-gradient region: off[i] (floats from the region's start) for every non-parameter
 * node that needs a gradient, *floats its size. Backward runs node i's backward at step loss - i.
 * The gradient of node i is zeroed and first accumulated into at its last consumer's step, and
 * last read by its own backward; a node without a backward (an input) keeps it to the end, so
 * that it can be read after backward. Buffers whose lives overlap never share memory
 * (ds__memplan_greedy). keep_grads: every gradient lives all the time, one after the other in node
 * order, so that all can be read after backward. */
static ds_status plan_grads(ds_graph *g, ds_node loss, int64_t *off, int64_t *floats) {
  int n = 0;
  *floats = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const ds_nodedata *nd = &g->nodes[i];
    off[i] = -1;
    if (!nd->needs_grad || nd->op == DS_OP_PARAM) continue;
    if (g->keep_grads) off[i] = *floats, *floats += nd->val_cap;
    n++;
  }
  if (g->keep_grads || n == 0) return DS_OK;
  ds__membuf *b = ds_malloc((size_t)n * sizeof *b);
  if (!b) return DS_ENOMEM;
  const int32_t end = loss + 1; /* after the last step */
  n = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const ds_nodedata *nd = &g->nodes[i];
    if (!nd->needs_grad || nd->op == DS_OP_PARAM) continue;
    /* the loss's gradient is seeded before step 0; a gradient that no backward writes (none
     * today: every consumer of a node has a backward) must stay the zeros of the fresh arena */
    bool written = nd->last_consumer >= 0 || i == loss;
    b[n++] = (ds__membuf){nd->val_cap, nd->last_consumer >= 0 ? loss - nd->last_consumer : 0,
                          written && ds__opdef(nd->op)->backward ? loss - i : end, 0};
  }
  ds_status st = ds__memplan_greedy(b, n, floats);
  n = 0;
  for (int i = 0; !st && i < g->n_nodes; i++)
    if (g->nodes[i].needs_grad && g->nodes[i].op != DS_OP_PARAM) off[i] = b[n++].offset;
  ds_free(b);
  return st;
}

ds_status ds_graph_compile(ds_graph *g, ds_node loss) {
  if (check_graph(g, "compile")) return DS_EINVAL;
  if (g->compiled) return ds_set_error(DS_ESTATE, "compile: the graph is already compiled");
  if (g->n_nodes == 0) return ds_set_error(DS_EINVAL, "compile: the graph has no nodes");
  if (ds_node_failed(loss)) return loss;
  if (loss < 0 || loss >= g->n_nodes)
    return ds_set_error(DS_EINVAL, "compile: the graph has no loss (loss node id %d)", loss);
  ds_nodedata *L = &g->nodes[loss];
  bool per_sample = L->shape.rank == 1 && L->shape.dim[0] == g->batch && L->op != DS_OP_PARAM &&
                    L->op != DS_OP_INPUT;
  bool scalar = ds_shape_numel(&L->shape) == 1 && L->shape.rank <= 1;
  if (!per_sample && !scalar) {
    char buf[64];
    return ds_set_error(DS_ESHAPE,
                        "compile: loss node '%s' has shape %s; expected per-sample losses (B) or a "
                        "scalar",
                        L->name, ds_shape_str(&L->shape, buf, sizeof buf));
  }
  if (!L->requires_grad)
    return ds_set_error(DS_EINVAL, "compile: loss node '%s' does not depend on any parameter",
                        L->name);
  /* Node ids are a topological order by construction (inputs exist before their users).
   * Mark ancestors of the loss: only they get gradient buffers. */
  bool *anc = ds_calloc((size_t)g->n_nodes, sizeof *anc);
  if (!anc) return DS_ENOMEM;
  anc[loss] = true;
  for (int i = loss; i >= 0; i--)
    if (anc[i])
      for (int k = 0; k < g->nodes[i].n_in; k++)
        anc[g->nodes[i].in[k]] = true;
  /* Plan at max batch: values and aux first, then the activation gradients (plan_grads), then the
   * ops' shared scratch. */
  g->batch = g->max_batch;
  ds_status st = infer_all(g);
  if (st) {
    ds_free(anc);
    return st;
  }
  int64_t vals = 0, grads = 0, scratch = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    ds_nodedata *n = &g->nodes[i];
    n->needs_grad = n->requires_grad && anc[i];
    n->last_consumer = -1;
  }
  ds_free(anc);
  /* The consumer whose backward runs first (highest id, among those that run backward). */
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].needs_grad && ds__opdef(g->nodes[i].op)->backward)
      for (int k = 0; k < g->nodes[i].n_in; k++)
        g->nodes[g->nodes[i].in[k]].last_consumer = i;
  for (int i = 0; i < g->n_nodes; i++) {
    ds_nodedata *n = &g->nodes[i];
    n->aux_cap = ds__align16(n->aux_size);
    if (n->scratch_size > scratch) scratch = n->scratch_size;
    if (n->op == DS_OP_PARAM) continue;
    n->val_cap = ds__align16(ds__numel(n));
    vals += n->val_cap + n->aux_cap;
  }
  int64_t *grad_off = ds_malloc((size_t)g->n_nodes * sizeof *grad_off);
  if (!grad_off) return DS_ENOMEM;
  st = plan_grads(g, loss, grad_off, &grads);
  if (st) {
    ds_free(grad_off);
    return st;
  }
  scratch = ds__align16(scratch);
  g->arena_floats = vals + grads + scratch;
  g->grad_floats = grads;
  g->arena = ds_calloc((size_t)(g->arena_floats ? g->arena_floats : 1), sizeof(float));
  if (!g->arena) {
    ds_free(grad_off);
    return DS_ENOMEM;
  }
  float *p = g->arena;
  for (int i = 0; i < g->n_nodes; i++) {
    ds_nodedata *n = &g->nodes[i];
    if (n->op == DS_OP_PARAM) {
      const ds_param_info *pi = &g->params->info[n->param];
      n->val = g->params->data + pi->offset;
      n->grad = g->params->grad + pi->offset;
      continue;
    }
    n->val = p;
    p += n->val_cap;
    n->aux = n->aux_cap ? p : NULL;
    p += n->aux_cap;
  }
  for (int i = 0; i < g->n_nodes; i++) {
    ds_nodedata *n = &g->nodes[i];
    if (n->op != DS_OP_PARAM) n->grad = n->needs_grad ? p + grad_off[i] : NULL;
  }
  ds_free(grad_off);
  p += grads;
  g->scratch = scratch ? p : NULL;
  g->scratch_floats = scratch;
  st = plan_grad_ready(g);
  if (st) return st;
  g->loss = loss;
  g->compiled = true;
  return DS_OK;
}

bool ds_graph_is_compiled(const ds_graph *g) { return g && g->compiled; }

ds_status ds_graph_keep_grads(ds_graph *g, bool on) {
  if (check_graph(g, "keep_grads")) return DS_EINVAL;
  if (g->compiled) return ds_set_error(DS_ESTATE, "keep_grads: set it before compiling the graph");
  g->keep_grads = on;
  return DS_OK;
}
bool ds_graph_keeps_grads(const ds_graph *g) { return g && g->keep_grads; }

static ds_status check_compiled(const ds_graph *g, const char *what) {
  if (check_graph(g, what)) return DS_EINVAL;
  if (!g->compiled) return ds_set_error(DS_ESTATE, "%s: compile the graph first", what);
  return DS_OK;
}

/* param_final: where each parameter's gradient becomes final in backward (the gradient-ready hook).
 */
static ds_status plan_grad_ready(ds_graph *g) {
  int count = g->params->count;
  ds_free(g->param_final);
  g->param_final = ds_malloc(sizeof(int) * (size_t)(count ? count : 1));
  if (!g->param_final) return DS_ENOMEM;
  for (int k = 0; k < count; k++)
    g->param_final[k] = -1;
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    const ds_nodedata *n = &g->nodes[i];
    if (!n->needs_grad || !ds__opdef(n->op)->backward) continue;
    for (int k = 0; k < n->n_in; k++) {
      const ds_nodedata *in = &g->nodes[n->in[k]];
      if (in->op == DS_OP_PARAM && in->needs_grad) g->param_final[in->param] = i;
    }
  }
  return DS_OK;
}

void ds_graph_set_grad_ready(ds_graph *g, ds_grad_ready_fn fn, void *ctx) {
  if (!g) return;
  g->grad_ready = fn;
  g->grad_ready_ctx = ctx;
}

void ds_graph_set_reducer(ds_graph *g, ds_reduce_fn fn, void *ctx) {
  if (!g) return;
  g->reducer = fn;
  g->reducer_ctx = ctx;
}

ds_status ds_graph_set_batch(ds_graph *g, int64_t n) {
  ds_status cst = check_compiled(g, "set_batch");
  if (cst) return cst;
  if (n < 1 || n > g->max_batch)
    return ds_set_error(DS_EINVAL, "set_batch: batch %lld is outside 1..%lld (max_batch)",
                        (long long)n, (long long)g->max_batch);
  if (n == g->batch) return DS_OK;
  g->batch = n;
  return infer_all(g);
}

int64_t ds_graph_batch(const ds_graph *g) { return g ? g->batch : 0; }
int64_t ds_graph_max_batch(const ds_graph *g) { return g ? g->max_batch : 0; }
void ds_graph_set_training(ds_graph *g, bool training) {
  if (g) g->training = training;
}
bool ds_graph_training(const ds_graph *g) { return g && g->training; }
void ds_graph_set_update_buffers(ds_graph *g, bool on) {
  if (g) g->update_buffers = on;
}
bool ds_graph_update_buffers(const ds_graph *g) { return g && g->update_buffers; }
void ds_graph_seed(ds_graph *g, uint64_t seed) {
  if (g) ds_rng_seed(&g->rng, seed, DS_RNG_DROPOUT);
}
ds_rng *ds_graph_rng(ds_graph *g) { return g ? &g->rng : NULL; }

/* ---- run ------------------------------------------------------------------------------------ */

/* Runs the forward functions of the nodes after `from` (all: from = -1), then the mean loss. */
static ds_status forward_nodes(ds_graph *g, int from) {
  g->run_status = DS_OK;
  for (int i = from + 1; i < g->n_nodes; i++) {
    ds_nodedata *n = &g->nodes[i];
    const ds_opdef *def = ds__opdef(n->op);
    if (def->forward) def->forward(g, n);
  }
  if (g->run_status) return g->run_status;
  const ds_nodedata *L = &g->nodes[g->loss];
  int64_t m = ds__numel(L);
  double s = 0;
  for (int64_t i = 0; i < m; i++)
    s += L->val[i];
  g->loss_mean = s / (double)m;
  return DS_OK;
}

ds_status ds_graph_forward(ds_graph *g) {
  ds_status cst = check_compiled(g, "forward");
  return cst ? cst : forward_nodes(g, -1);
}

ds_status ds_graph_forward_from(ds_graph *g, ds_node node) {
  ds_status cst = check_compiled(g, "forward_from");
  if (cst) return cst;
  if (check_node(g, node, "forward_from")) return DS_EINVAL;
  return forward_nodes(g, node);
}

/* p[0..n) = 0; large gradients (a conv layer's output: megabytes) by all threads. */
static void zero_floats(float *p, int64_t n) {
  enum { CHUNK = 1 << 14 };
  if (n < 16 * CHUNK) {
    memset(p, 0, (size_t)n * sizeof *p);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i += CHUNK)
    memset(p + i, 0, (size_t)(n - i < CHUNK ? n - i : CHUNK) * sizeof *p);
}

/* True when node n reads its input k in no other slot (add(x, x) must accumulate both halves). */
static bool reads_once(const ds_nodedata *n, int k) {
  for (int j = 0; j < n->n_in; j++)
    if (j != k && n->in[j] == n->in[k]) return false;
  return true;
}

/* Runs the backward functions of the nodes from..0. Activation gradients are zeroed just before
 * their first accumulation (the backward of their highest-id consumer runs first), while they are
 * about to be touched anyway: no separate pass over the whole gradient region. Ops that can write
 * a gradient instead of adding to it (ds_opdef.writes_grad) are told so and skip even that. hook:
 * call the gradient-ready hook (a full backward from the loss). */
static void backward_nodes(ds_graph *g, int from, bool hook) {
  /* ready: parameters ready..count-1 have final gradients (the hook's suffix of the buffer) */
  const ds_paramset *ps = g->params;
  int ready = ps->count;
  for (int i = from; i >= 0; i--) {
    ds_nodedata *n = &g->nodes[i];
    const ds_opdef *def = ds__opdef(n->op);
    if (!n->needs_grad || !def->backward) continue;
    for (int k = 0; k < n->n_in; k++) {
      ds_nodedata *in = &g->nodes[n->in[k]];
      if (!in->grad || in->op == DS_OP_PARAM || in->last_consumer != i) continue;
      if (def->writes_grad >> k & 1u && reads_once(n, k))
        in->grad_fresh = true;
      else
        zero_floats(in->grad, ds__numel(in));
    }
    def->backward(g, n);
    for (int k = 0; k < n->n_in; k++)
      g->nodes[n->in[k]].grad_fresh = false;
    if (!hook || !g->grad_ready) continue;
    int was = ready;
    while (ready > 0 && g->param_final[ready - 1] >= i)
      ready--;
    if (ready < was && ready > 0) g->grad_ready(g->grad_ready_ctx, ps->info[ready].offset);
  }
  if (hook && g->grad_ready) g->grad_ready(g->grad_ready_ctx, 0);
}

static ds_status backward(ds_graph *g, const float *weights, bool zero_params) {
  ds_status cst = check_compiled(g, "backward");
  if (cst) return cst;
  if (zero_params) ds_paramset_zero_grad(g->params);
  ds_nodedata *L = &g->nodes[g->loss];
  int64_t m = ds__numel(L);
  for (int64_t i = 0; i < m; i++)
    L->grad[i] = weights ? weights[i] : 1.0f / (float)m;
  backward_nodes(g, g->loss, true);
  return DS_OK;
}

ds_status ds_graph_backward(ds_graph *g, const float *w) { return backward(g, w, true); }
ds_status ds_graph_backward_accumulate(ds_graph *g, const float *w) {
  return backward(g, w, false);
}

ds_status ds_graph_backward_from(ds_graph *g, ds_node node, const float *seed) {
  ds_status cst = check_compiled(g, "backward_from");
  if (cst) return cst;
  if (check_node(g, node, "backward_from")) return DS_EINVAL;
  if (!seed) return ds_set_error(DS_EINVAL, "backward_from: seed is NULL");
  ds_nodedata *N = &g->nodes[node];
  if (!N->grad || N->op == DS_OP_PARAM)
    return ds_set_error(DS_EINVAL,
                        "backward_from: node '%s' has no gradient (not an activation on the path "
                        "from a parameter or gradient-requiring input to the loss)",
                        N->name);
  ds_paramset_zero_grad(g->params);
  /* gradients whose first consumer in backward order lies beyond `node` are never zeroed by
   * backward_nodes: zero them here */
  for (int i = 0; i < node; i++) {
    ds_nodedata *n = &g->nodes[i];
    if (n->grad && n->op != DS_OP_PARAM && n->last_consumer > node)
      zero_floats(n->grad, ds__numel(n));
  }
  memcpy(N->grad, seed, (size_t)ds__numel(N) * sizeof(float));
  backward_nodes(g, node, false);
  return DS_OK;
}

double ds_graph_loss_mean(const ds_graph *g) { return g ? g->loss_mean : NAN; }

/* ---- accessors ------------------------------------------------------------------------------ */

float *ds_graph_value(ds_graph *g, ds_node id) {
  if (check_node(g, id, "value") || !g->compiled) return NULL;
  return g->nodes[id].val;
}
float *ds_graph_grad(ds_graph *g, ds_node id) {
  if (check_node(g, id, "grad") || !g->compiled) return NULL;
  return g->nodes[id].grad;
}
ds_shape ds_graph_shape(const ds_graph *g, ds_node id) {
  if (check_node(g, id, "shape")) return (ds_shape){0, {0, 0, 0, 0}};
  return g->nodes[id].shape;
}
const char *ds_graph_node_name(const ds_graph *g, ds_node id) {
  return check_node(g, id, "node_name") ? NULL : g->nodes[id].name;
}
ds_node ds_graph_find(const ds_graph *g, const char *name) {
  ds_node id = g && name ? find_name(g, name) : -1;
  if (id >= 0) return id;
  return ds_set_error(DS_ENOTFOUND, "graph: no node named '%s'", name ? name : "(null)");
}
ds_node ds_graph_node_input(const ds_graph *g, ds_node id, int i) {
  if (!g || id < 0 || id >= g->n_nodes || i < 0 || i >= g->nodes[id].n_in) return DS_NONE;
  return g->nodes[id].in[i];
}
const char *ds_graph_node_op(const ds_graph *g, ds_node id) {
  if (!g || id < 0 || id >= g->n_nodes) return NULL;
  const ds_opdef *def = ds__opdef(g->nodes[id].op);
  return def ? def->name : NULL;
}
ds_param_info *ds_graph_param_info(ds_graph *g, ds_node id) {
  if (!g || id < 0 || id >= g->n_nodes || g->nodes[id].op != DS_OP_PARAM) {
    ds_set_error(DS_EINVAL, "graph: node %d is not a parameter", (int)id);
    return NULL;
  }
  return &g->params->info[g->nodes[id].param];
}
int ds_graph_node_count(const ds_graph *g) { return g ? g->n_nodes : 0; }
bool ds_graph_is_input(const ds_graph *g, ds_node id) {
  return g && id >= 0 && id < g->n_nodes && g->nodes[id].op == DS_OP_INPUT;
}
ds_node ds_graph_loss(const ds_graph *g) { return g ? g->loss : -1; }
ds_paramset *ds_graph_params(ds_graph *g) { return g ? g->params : NULL; }
ds_paramset *ds_graph_buffers(ds_graph *g) { return g ? g->buffers : NULL; }
int64_t ds_graph_arena_bytes(const ds_graph *g) {
  return g ? g->arena_floats * (int64_t)sizeof(float) : 0;
}
