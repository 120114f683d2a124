/* Layer builders that own their parameters: normalization, conv, scaled-WS conv/linear; the
 * activation gain table. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "descent/nn.h"
#include "nn/nn_internal.h"

double ds_init_gain(ds_act act) {
  switch (act) {
  case DS_ACT_TANH: return 5.0 / 3.0;
  case DS_ACT_RELU:
  case DS_ACT_GELU: return sqrt(2.0);
  case DS_ACT_LEAKY_RELU: return sqrt(2.0 / (1.0 + 0.01 * 0.01));
  case DS_ACT_SIGMOID:
  case DS_ACT_IDENTITY:
  default: return 1.0;
  }
}

static const char *const norm_names[] = {"none", "batch", "group", "layer", "instance"};

ds_status ds_norm_parse(const char *name, ds_norm_kind *out) {
  for (int i = 0; name && i < (int)(sizeof norm_names / sizeof *norm_names); i++)
    if (!strcmp(name, norm_names[i])) {
      *out = (ds_norm_kind)i;
      return DS_OK;
    }
  return ds_set_error(DS_ENOTFOUND,
                      "unknown normalization '%s' (none, batch, group, layer, instance)",
                      name ? name : "(null)");
}

const char *ds_norm_name(ds_norm_kind k) {
  return (unsigned)k < sizeof norm_names / sizeof *norm_names ? norm_names[k] : "?";
}

ds_node ds__layer_param(ds_graph *g, const char *layer, const char *suffix, ds_shape shape,
                        ds_role role) {
  char buf[DS_NAME_MAX];
  if (snprintf(buf, DS_NAME_MAX, "%s.%s", layer, suffix) >= DS_NAME_MAX)
    return ds_set_error(DS_EINVAL, "layer name '%s.%s' is longer than %d characters", layer, suffix,
                        DS_NAME_MAX - 1);
  return ds_param(g, buf, shape, role);
}

/* The zero-initialised bias "layer.bias" of out units. */
static ds_node zero_bias(ds_graph *g, const char *layer, int64_t out) {
  ds_node b = ds__layer_param(g, layer, "bias", ds_shape1(out), DS_ROLE_BIAS);
  if (b >= 0) ds_param_set_init(g, b, (ds_init){DS_INIT_ZEROS, 0, 0});
  return b;
}

/* Checks that x is an image batch (B, C, H, W) for conv layer `layer`; *xs gets its shape. */
static ds_status conv_input(ds_graph *g, const char *layer, ds_node x, ds_shape *xs) {
  *xs = ds_graph_shape(g, x);
  if (xs->rank != 4)
    return ds_set_error(DS_ESHAPE, "conv '%s': input '%s' must be (B, C, H, W)", layer,
                        ds_graph_node_name(g, x));
  return DS_OK;
}

ds_node ds_nn_norm(ds_graph *g, const char *name, ds_node x, ds_norm_kind kind, int groups) {
  if (x < 0) return x;
  if (!g || !name) return ds_set_error(DS_EINVAL, "nn_norm: NULL argument");
  if (kind == DS_NORM_NONE) return x;
  if ((unsigned)kind > DS_NORM_INSTANCE)
    return ds_set_error(DS_EINVAL, "norm '%s': unknown kind %d", name, (int)kind);
  ds_shape xs = ds_graph_shape(g, x);
  if (xs.rank < 2)
    return ds_set_error(DS_ESHAPE, "norm '%s': input needs a feature dimension", name);
  ds_shape ps = ds_shape1(xs.dim[1]);
  if (kind == DS_NORM_LAYER) { /* all non-batch dims */
    ps.rank = xs.rank - 1;
    for (int i = 0; i < DS_MAX_RANK; i++)
      ps.dim[i] = i < ps.rank ? xs.dim[i + 1] : 1;
  }
  ds_node gain = ds__layer_param(g, name, "weight", ps, DS_ROLE_NORM_GAIN);
  if (gain < 0) return gain;
  ds_node bias = ds__layer_param(g, name, "bias", ps, DS_ROLE_NORM_BIAS);
  if (bias < 0) return bias;
  ds_node y;
  switch (kind) {
  case DS_NORM_BATCH: y = ds_batchnorm(g, name, x, gain, bias, 0.1f, 1e-5f); break;
  case DS_NORM_GROUP: y = ds_groupnorm(g, x, gain, bias, groups, 1e-5f); break;
  case DS_NORM_LAYER: y = ds_layernorm(g, x, gain, bias, xs.rank - 1, 1e-5f); break;
  default: y = ds_instancenorm(g, x, gain, bias, 1e-5f); break;
  }
  if (y >= 0) ds_graph_set_node_name(g, y, name);
  return y;
}

ds_node ds_nn_conv2d(ds_graph *g, const char *name, ds_node x, int64_t out, int k, int stride,
                     int padding, bool bias) {
  if (x < 0) return x;
  if (!g || !name) return ds_set_error(DS_EINVAL, "nn_conv2d: NULL argument");
  ds_shape xs;
  if (conv_input(g, name, x, &xs)) return DS_ESHAPE;
  ds_node w = ds__layer_param(g, name, "weight", ds_shape4(out, xs.dim[1], k, k), DS_ROLE_WEIGHT);
  if (w < 0) return w;
  ds_node b = DS_NONE;
  if (bias) {
    b = ds__layer_param(g, name, "bias", ds_shape1(out), DS_ROLE_BIAS);
    if (b < 0) return b;
  }
  ds_node y = ds_conv2d(g, x, w, b, stride, padding, 1);
  if (y >= 0) ds_graph_set_node_name(g, y, name);
  return y;
}

/* weight (out, in...) standardized with gain "name.gain"; returns the w_hat node. */
static ds_node ws_weight(ds_graph *g, const char *name, ds_shape ws, float gamma) {
  ds_node w = ds__layer_param(g, name, "weight", ws, DS_ROLE_WEIGHT);
  if (w < 0) return w;
  ds_node gain = ds__layer_param(g, name, "gain", ds_shape1(ws.dim[0]), DS_ROLE_NORM_GAIN);
  if (gain < 0) return gain;
  return ds_weight_std(g, w, gain, gamma, 1e-4f);
}

ds_node ds_nn_ws_conv2d(ds_graph *g, const char *name, ds_node x, int64_t out, int k, int stride,
                        int padding, float gamma) {
  if (x < 0) return x;
  if (!g || !name) return ds_set_error(DS_EINVAL, "nn_ws_conv2d: NULL argument");
  ds_shape xs;
  if (conv_input(g, name, x, &xs)) return DS_ESHAPE;
  ds_node w = ws_weight(g, name, ds_shape4(out, xs.dim[1], k, k), gamma);
  if (w < 0) return w;
  ds_node b = zero_bias(g, name, out);
  if (b < 0) return b;
  ds_node y = ds_conv2d(g, x, w, b, stride, padding, 1);
  if (y >= 0) ds_graph_set_node_name(g, y, name);
  return y;
}

ds_node ds_nn_ws_linear(ds_graph *g, const char *name, ds_node x, int64_t out, float gamma) {
  if (x < 0) return x;
  if (!g || !name) return ds_set_error(DS_EINVAL, "nn_ws_linear: NULL argument");
  ds_shape xs = ds_graph_shape(g, x);
  ds_node w = ws_weight(g, name, ds_shape2(out, ds_shape_numel(&xs) / xs.dim[0]), gamma);
  if (w < 0) return w;
  ds_node b = zero_bias(g, name, out);
  if (b < 0) return b;
  ds_node y = ds_linear(g, x, w, b);
  if (y >= 0) ds_graph_set_node_name(g, y, name);
  return y;
}
