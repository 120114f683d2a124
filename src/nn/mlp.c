/* Layer and MLP builders. */
#include <stdio.h>
#include <string.h>

#include "descent/nn.h"
#include "nn/nn_internal.h"

static const char *const act_names[] = {"relu",    "tanh",       "gelu",
                                        "sigmoid", "leaky_relu", "identity"};

ds_status ds_act_parse(const char *name, ds_act *out) {
  for (int i = 0; name && i < (int)(sizeof act_names / sizeof *act_names); i++)
    if (!strcmp(name, act_names[i])) {
      *out = (ds_act)i;
      return DS_OK;
    }
  return ds_set_error(DS_ENOTFOUND,
                      "unknown activation '%s' (relu, tanh, gelu, sigmoid, leaky_relu, identity)",
                      name ? name : "(null)");
}

const char *ds_act_name(ds_act act) {
  return (unsigned)act < sizeof act_names / sizeof *act_names ? act_names[act] : "?";
}

ds_node ds_nn_act(ds_graph *g, ds_node x, ds_act act) {
  switch (act) {
  case DS_ACT_RELU: return ds_relu(g, x);
  case DS_ACT_TANH: return ds_tanh(g, x);
  case DS_ACT_GELU: return ds_gelu(g, x);
  case DS_ACT_SIGMOID: return ds_sigmoid(g, x);
  case DS_ACT_LEAKY_RELU: return ds_leaky_relu(g, x, 0.01f);
  case DS_ACT_IDENTITY: return ds_identity(g, x);
  }
  return ds_set_error(DS_EINVAL, "unknown activation %d", (int)act);
}

ds_node ds_nn_linear(ds_graph *g, const char *name, ds_node x, int64_t out, bool bias) {
  if (x < 0) return x;
  if (!g || !name) return ds_set_error(DS_EINVAL, "nn_linear: NULL argument");
  ds_shape xs = ds_graph_shape(g, x);
  int64_t in = ds_shape_numel(&xs) / xs.dim[0];
  ds_node w = ds__layer_param(g, name, "weight", ds_shape2(out, in), DS_ROLE_WEIGHT);
  if (w < 0) return w;
  ds_node b = DS_NONE;
  if (bias) {
    b = ds__layer_param(g, name, "bias", ds_shape1(out), DS_ROLE_BIAS);
    if (b < 0) return b;
  }
  ds_node y = ds_linear(g, x, w, b);
  if (y >= 0) ds_graph_set_node_name(g, y, name);
  return y;
}

ds_mlp_options ds_mlp_options_default(void) {
  ds_mlp_options o;
  memset(&o, 0, sizeof o);
  o.depth = 2;
  o.width = 256;
  o.act = DS_ACT_RELU;
  return o;
}

ds_node ds_nn_mlp(ds_graph *g, ds_node x, int64_t n_out, const ds_mlp_options *o) {
  ds_mlp_options def = ds_mlp_options_default();
  if (!o) o = &def;
  if (o->depth < 0 || o->depth > DS_MODEL_MAX_DEPTH || o->width < 1 ||
      o->width > DS_MODEL_MAX_WIDTH)
    return ds_set_error(DS_EINVAL, "mlp: depth %d / width %lld invalid (limits %d / %d)", o->depth,
                        (long long)o->width, DS_MODEL_MAX_DEPTH, DS_MODEL_MAX_WIDTH);
  if (n_out < 1) return ds_set_error(DS_EINVAL, "mlp: %lld outputs", (long long)n_out);
  ds_node h = x;
  char name[DS_NAME_MAX];
  for (int i = 0; i <= o->depth && h >= 0; i++) {
    bool head = i == o->depth;
    if (head)
      snprintf(name, sizeof name, "head");
    else
      snprintf(name, sizeof name, "fc%d", i + 1);
    h = ds_nn_linear(g, name, h, head ? n_out : o->width, true);
    if (h < 0) return h;
    ds_node w = ds_graph_node_input(g, h, 1), b = ds_graph_node_input(g, h, 2);
    if (o->init.kind != DS_INIT_DEFAULT) ds_param_set_init(g, w, o->init);
    if (o->bias_init.kind != DS_INIT_DEFAULT)
      ds_param_set_init(g, b, o->bias_init);
    else if (o->init.kind == DS_INIT_MEANFIELD) /* biases N(0, sigma_b^2) */
      ds_param_set_init(g, b, o->init);
    else if (o->init.kind == DS_INIT_DELTA_ORTHOGONAL) /* orthogonal weights, N(0, b^2) biases */
      ds_param_set_init(g, b, (ds_init){DS_INIT_NORMAL, 0, o->init.b});
    if (head) {
      ds_graph_param_info(g, w)->is_head = true;
      ds_graph_param_info(g, b)->is_head = true;
      break;
    }
    if (o->norm != DS_NORM_NONE) {
      snprintf(name, sizeof name, "norm%d", i + 1);
      h = ds_nn_norm(g, name, h, o->norm, o->groups);
    }
    h = ds_nn_act(g, h, o->act);
    if (o->dropout > 0) h = ds_dropout(g, h, o->dropout);
  }
  return h;
}
