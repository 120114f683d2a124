/* Parameter initialisation, per parameter from its ds_init spec, from the DS_RNG_INIT stream. */
#include <math.h>

#include "core/graph_internal.h"

/* Fan-in of parameter p for the default (PyTorch) rule: weights (out, in, ...) -> in*receptive;
 * a bias gets the fan-in of the weight of the same layer, passed in. */
static void fill_uniform(ds_rng *r, float *d, int64_t m, double lo, double hi) {
  for (int64_t i = 0; i < m; i++)
    d[i] = (float)(lo + (hi - lo) * ds_rng_uniform_d(r));
}
static void fill_normal(ds_rng *r, float *d, int64_t m, double mean, double std) {
  for (int64_t i = 0; i < m; i++)
    d[i] = (float)(mean + std * ds_rng_normal(r));
}

ds_status ds__init_orthogonal(ds_rng *r, float *w, const ds_param_info *p, double gain, bool delta);

/* The fan-in a bias node uses: that of the weight feeding the same consumer (linear/conv). The
 * consumer comes after the bias (node ids are a topological order), usually right after it. */
static int64_t bias_fan_in(const ds_graph *g, ds_node bias) {
  for (int i = bias + 1; i < g->n_nodes; i++) {
    const ds_nodedata *n = &g->nodes[i];
    if (n->n_in == 3 && n->in[2] == bias) {
      const ds_nodedata *w = &g->nodes[n->in[1]];
      if (w->op == DS_OP_PARAM) return g->params->info[w->param].fan_in;
    }
  }
  return 0;
}

ds_status ds_graph_init_params(ds_graph *g, uint64_t seed) {
  if (!g) return ds_set_error(DS_EINVAL, "init_params: graph is NULL");
  if (!g->compiled) return ds_set_error(DS_ESTATE, "init_params: compile the graph first");
  ds_rng r;
  ds_rng_seed(&r, seed, DS_RNG_INIT);
  for (int i = 0; i < g->n_nodes; i++) {
    ds_nodedata *n = &g->nodes[i];
    if (n->op != DS_OP_PARAM) continue;
    const ds_param_info *p = &g->params->info[n->param];
    float *d = g->params->data + p->offset;
    int64_t m = p->numel, fan_in = p->fan_in, fan_out = p->fan_out;
    double a = n->init.a, b = n->init.b;
    switch (n->init.kind) {
    case DS_INIT_DEFAULT:
      if (p->role == DS_ROLE_NORM_GAIN) {
        fill_uniform(&r, d, m, 1, 1);
      } else if (p->role == DS_ROLE_NORM_BIAS) {
        fill_uniform(&r, d, m, 0, 0);
      } else {
        int64_t f = p->role == DS_ROLE_BIAS ? bias_fan_in(g, i) : fan_in;
        double bound = f > 0 ? 1.0 / sqrt((double)f) : 0.0;
        fill_uniform(&r, d, m, -bound, bound);
      }
      break;
    case DS_INIT_ZEROS: fill_uniform(&r, d, m, 0, 0); break;
    case DS_INIT_ONES: fill_uniform(&r, d, m, 1, 1); break;
    case DS_INIT_CONSTANT: fill_uniform(&r, d, m, a, a); break;
    case DS_INIT_UNIFORM: fill_uniform(&r, d, m, a, b); break;
    case DS_INIT_NORMAL: fill_normal(&r, d, m, a, b); break;
    case DS_INIT_KAIMING_NORMAL:
    case DS_INIT_KAIMING_UNIFORM:
    case DS_INIT_XAVIER_NORMAL:
    case DS_INIT_XAVIER_UNIFORM: {
      if (fan_in <= 0)
        return ds_set_error(DS_EINVAL, "init of parameter '%s': needs a weight of rank >= 2",
                            p->name);
      bool xavier = n->init.kind == DS_INIT_XAVIER_NORMAL || n->init.kind == DS_INIT_XAVIER_UNIFORM;
      double std = xavier ? a * sqrt(2.0 / (double)(fan_in + fan_out)) : a / sqrt((double)fan_in);
      if (n->init.kind == DS_INIT_KAIMING_NORMAL || n->init.kind == DS_INIT_XAVIER_NORMAL)
        fill_normal(&r, d, m, 0, std);
      else
        fill_uniform(&r, d, m, -sqrt(3.0) * std, sqrt(3.0) * std);
      break;
    }
    case DS_INIT_MEANFIELD:
      if (p->role == DS_ROLE_WEIGHT && fan_in > 0)
        fill_normal(&r, d, m, 0, a / sqrt((double)fan_in));
      else
        fill_normal(&r, d, m, 0, b);
      break;
    case DS_INIT_ORTHOGONAL:
    case DS_INIT_DELTA_ORTHOGONAL: {
      ds_status st = ds__init_orthogonal(&r, d, p, a, n->init.kind == DS_INIT_DELTA_ORTHOGONAL);
      if (st) return st;
      break;
    }
    default:
      return ds_set_error(DS_EINVAL, "init of parameter '%s': unknown init kind %d", p->name,
                          (int)n->init.kind);
    }
  }
  return DS_OK;
}
