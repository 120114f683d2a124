/* Whole-model builders by name: mlp, cnn, plain_cnn (deep vanilla convs for signal-propagation
 * experiments), resnet (BasicBlocks with a choice of normalization), nf_resnet (normalizer-free:
 * scaled WS convs, alpha/beta residuals, stochastic depth). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "descent/kv.h"
#include "descent/meanfield.h"
#include "descent/nn.h"
#include "nn/nn_internal.h"

/* The model table: name, defaults, builder. Adding a model: one builder and one row. */
static ds_node build_mlp(ds_graph *g, ds_node x, int64_t n_classes, const ds_model_options *o);
static ds_node build_cnn(ds_graph *g, ds_node x, int64_t n_classes, const ds_model_options *o);
static ds_node build_plain_cnn(ds_graph *g, ds_node x, int64_t n_classes,
                               const ds_model_options *o);
static ds_node build_resnet(ds_graph *g, ds_node x, int64_t n_classes, const ds_model_options *o);
static ds_node build_nf_resnet(ds_graph *g, ds_node x, int64_t n_classes,
                               const ds_model_options *o);
static const struct {
  const char *name;
  int depth;     /* mlp: hidden layers; resnets: blocks per stage */
  int64_t width; /* mlp: units; conv nets: channels of the first stage */
  ds_norm_kind norm;
  int min_depth;
  ds_node (*build)(ds_graph *g, ds_node x, int64_t n_classes, const ds_model_options *o);
} models[] = {
    {"mlp", 2, 512, DS_NORM_NONE, 0, build_mlp}, /* the demo's 784-512-512-10 */
    {"cnn", 0, 32, DS_NORM_NONE, 0, build_cnn},
    {"plain_cnn", 8, 32, DS_NORM_NONE, 1, build_plain_cnn},
    {"resnet", 1, 16, DS_NORM_BATCH, 1, build_resnet},
    {"nf_resnet", 2, 16, DS_NORM_NONE, 1, build_nf_resnet},
    {"vit", 4, 128, DS_NORM_LAYER, 1, ds__build_vit},
    {"mixer", 4, 128, DS_NORM_LAYER, 1, ds__build_mixer},
    {"gpt", 4, 128, DS_NORM_LAYER, 1, ds__build_gpt},
};
#define N_MODELS (int)(sizeof models / sizeof *models)

static int find_model(const char *name) {
  for (int i = 0; name && i < N_MODELS; i++)
    if (!strcmp(models[i].name, name)) return i;
  return -1;
}

const char *const *ds_model_names(int *count) {
  static const char *names[N_MODELS + 1];
  for (int i = 0; i < N_MODELS; i++)
    names[i] = models[i].name;
  if (count) *count = N_MODELS;
  return names;
}

ds_model_options ds_model_options_default(const char *name) {
  ds_model_options o;
  memset(&o, 0, sizeof o);
  o.name = name ? name : "mlp";
  o.act = DS_ACT_RELU;
  o.groups = 8;
  o.alpha = 0.2f;
  int m = find_model(o.name);
  m = m < 0 ? 0 : m;
  o.depth = models[m].depth;
  o.width = models[m].width;
  o.norm = models[m].norm;
  if (!strcmp(o.name, "vit") || !strcmp(o.name, "mixer") || !strcmp(o.name, "gpt")) {
    o.act = DS_ACT_GELU;
    o.heads = 4;
    o.mlp_ratio = 4;
    o.patch = 7;
    o.pooling = DS_POOL_MEAN;
  }
  return o;
}

/* Applies o->init to the weight of a linear/conv node (its input 1, or the weight under a WS op);
 * the mean-field inits (meanfield, delta_orthogonal) also draw its bias (input 2) from
 * N(0, sigma_b^2), sigma_b = o->init.b. */
void ds__set_weight_init(ds_graph *g, ds_node layer, const ds_model_options *o) {
  if (layer < 0 || o->init.kind == DS_INIT_DEFAULT) return;
  ds_node w = ds_graph_node_input(g, layer, 1);
  if (!strcmp(ds_graph_node_op(g, w), "weight_std")) w = ds_graph_node_input(g, w, 0);
  ds_param_set_init(g, w, o->init);
  ds_node b = ds_graph_node_input(g, layer, 2);
  bool meanfield = o->init.kind == DS_INIT_MEANFIELD || o->init.kind == DS_INIT_DELTA_ORTHOGONAL;
  if (meanfield && b >= 0 && !strcmp(ds_graph_node_op(g, b), "param"))
    ds_param_set_init(g, b, (ds_init){DS_INIT_NORMAL, 0, o->init.b});
}

static ds_node build_mlp(ds_graph *g, ds_node x, int64_t n_classes, const ds_model_options *o) {
  ds_mlp_options m = ds_mlp_options_default();
  m.depth = o->depth;
  m.width = o->width;
  m.act = o->act;
  m.dropout = o->dropout;
  m.init = o->init;
  m.norm = o->norm;
  m.groups = o->groups;
  return ds_nn_mlp(g, x, n_classes, &m);
}

/* Flatten-free head "head" (n_classes), marked is_head. */
ds_node ds__model_head(ds_graph *g, ds_node h, int64_t n_classes, const ds_model_options *o) {
  if (o->dropout > 0) h = ds_dropout(g, h, o->dropout);
  h = ds_nn_linear(g, "head", h, n_classes, true);
  if (h < 0) return h;
  ds__set_weight_init(g, h, o);
  ds_graph_param_info(g, ds_graph_node_input(g, h, 1))->is_head = true;
  ds_graph_param_info(g, ds_graph_node_input(g, h, 2))->is_head = true;
  return h;
}

ds_status ds__need_image(ds_graph *g, ds_node x, const char *model) {
  ds_shape s = ds_graph_shape(g, x);
  char buf[64];
  if (s.rank != 4)
    return ds_set_error(DS_ESHAPE, "model '%s': input '%s' is %s; expected images (B, C, H, W)",
                        model, ds_graph_node_name(g, x), ds_shape_str(&s, buf, sizeof buf));
  return DS_OK;
}

/* ---- cnn: conv(w)-norm-act-pool, conv(2w)-norm-act-pool, fc(4w)-act, head ---- */
static ds_node build_cnn(ds_graph *g, ds_node x, int64_t n_classes, const ds_model_options *o) {
  if (ds__need_image(g, x, "cnn")) return DS_ESHAPE;
  ds_node h = x;
  bool bias = o->norm == DS_NORM_NONE;
  for (int i = 0; i < 2; i++) {
    char cname[16], nname[16];
    snprintf(cname, sizeof cname, "conv%d", i + 1);
    snprintf(nname, sizeof nname, "norm%d", i + 1);
    h = ds_nn_conv2d(g, cname, h, o->width << i, 3, 1, 1, bias);
    ds__set_weight_init(g, h, o);
    h = ds_nn_norm(g, nname, h, o->norm, o->groups);
    /* ReLU commutes with max pooling, in value and in gradient: pool first, and the activation
     * reads and writes a quarter of the elements. */
    if (o->act == DS_ACT_RELU)
      h = ds_nn_act(g, ds_maxpool2d(g, h, 2, 2, 0), o->act);
    else
      h = ds_maxpool2d(g, ds_nn_act(g, h, o->act), 2, 2, 0);
  }
  h = ds_nn_linear(g, "fc1", h, 4 * o->width, true);
  ds__set_weight_init(g, h, o);
  h = ds_nn_act(g, h, o->act);
  return ds__model_head(g, h, n_classes, o);
}

/* ---- plain_cnn: depth x [conv3x3(w), act], global average pool, head ----
 * No normalization and no skip connections: the vanilla deep CNN of Xiao et al. (2018), trainable
 * at great depth only from a critical initialisation (model.init=delta_orthogonal). Every conv
 * keeps the image size (stride 1, padding 1) and has a bias. */
static ds_node build_plain_cnn(ds_graph *g, ds_node x, int64_t n_classes,
                               const ds_model_options *o) {
  if (ds__need_image(g, x, "plain_cnn")) return DS_ESHAPE;
  if (o->norm != DS_NORM_NONE)
    return ds_set_error(DS_EINVAL, "model 'plain_cnn' has no normalization layers (norm '%s')",
                        ds_norm_name(o->norm));
  ds_node h = x;
  for (int i = 0; i < o->depth && !ds_node_failed(h); i++) {
    char name[24];
    snprintf(name, sizeof name, "conv%d", i + 1);
    h = ds_nn_conv2d(g, name, h, o->width, 3, 1, 1, true);
    ds__set_weight_init(g, h, o);
    h = ds_nn_act(g, h, o->act);
  }
  return ds__model_head(g, ds_global_avgpool(g, h), n_classes, o);
}

/* drop rate of block i of n: linear from 0 to the option (timm's linspace). */
static float block_drop(const ds_model_options *o, int i, int n) {
  return n > 1 ? o->stochastic_depth * (float)i / (float)(n - 1) : 0.0f;
}

/* ---- resnet: BasicBlock(x) = act(norm2(conv2(act(norm1(conv1(x))))) + shortcut(x)) ---- */
static ds_node basic_block(ds_graph *g, const char *p, ds_node x, int64_t out, int stride,
                           float drop, const ds_model_options *o) {
  char n[DS_NAME_MAX];
  bool bias = o->norm == DS_NORM_NONE;
  int64_t in = ds_graph_shape(g, x).dim[1];
  snprintf(n, sizeof n, "%s.conv1", p);
  ds_node h = ds_nn_conv2d(g, n, x, out, 3, stride, 1, bias);
  ds__set_weight_init(g, h, o);
  snprintf(n, sizeof n, "%s.norm1", p);
  h = ds_nn_act(g, ds_nn_norm(g, n, h, o->norm, o->groups), o->act);
  snprintf(n, sizeof n, "%s.conv2", p);
  h = ds_nn_conv2d(g, n, h, out, 3, 1, 1, bias);
  ds__set_weight_init(g, h, o);
  snprintf(n, sizeof n, "%s.norm2", p);
  h = ds_nn_norm(g, n, h, o->norm, o->groups);
  if (o->zero_init_residual && o->norm != DS_NORM_NONE && !ds_node_failed(h)) {
    char gn[DS_NAME_MAX + 8]; /* the block starts as the identity (Goyal et al. 2017, sec. 5.1) */
    snprintf(gn, sizeof gn, "%s.weight", n);
    ds_node gain = ds_graph_find(g, gn);
    if (gain < 0 || ds_param_set_init(g, gain, (ds_init){DS_INIT_ZEROS, 0, 0}))
      return gain < 0 ? gain : DS_EINVAL;
  }
  if (drop > 0) h = ds_stochastic_depth(g, h, drop);
  ds_node sc = x;
  if (stride != 1 || in != out) {
    snprintf(n, sizeof n, "%s.shortcut.conv", p);
    sc = ds_nn_conv2d(g, n, x, out, 1, stride, 0, bias);
    ds__set_weight_init(g, sc, o);
    snprintf(n, sizeof n, "%s.shortcut.norm", p);
    sc = ds_nn_norm(g, n, sc, o->norm, o->groups);
  }
  return ds_nn_act(g, ds_add(g, h, sc), o->act);
}

static ds_node build_resnet(ds_graph *g, ds_node x, int64_t n_classes, const ds_model_options *o) {
  if (ds__need_image(g, x, "resnet")) return DS_ESHAPE;
  bool bias = o->norm == DS_NORM_NONE;
  ds_node h = ds_nn_conv2d(g, "conv1", x, o->width, 3, 1, 1, bias);
  ds__set_weight_init(g, h, o);
  h = ds_nn_act(g, ds_nn_norm(g, "norm1", h, o->norm, o->groups), o->act);
  int nb = 3 * o->depth, k = 0;
  for (int s = 0; s < 3; s++)
    for (int b = 0; b < o->depth; b++, k++) {
      char p[32];
      snprintf(p, sizeof p, "layer%d.%d", s + 1, b);
      h = basic_block(g, p, h, o->width << s, (s > 0 && b == 0) ? 2 : 1, block_drop(o, k, nb), o);
    }
  return ds__model_head(g, ds_global_avgpool(g, h), n_classes, o);
}

/* ---- nf_resnet (Brock et al. 2021a): no normalization layers ----
 * block: out = act(x) * beta; shortcut = x (or ws_conv1x1(out) at a transition);
 *        h = x' = shortcut + alpha * drop_path(ws_conv3x3(act(ws_conv3x3(out))))
 * The activation gain gamma (ds_act_nf_gamma) is folded into the WS convs that follow an
 * activation. beta = 1 / expected std of x, with expected var += alpha^2 per block and reset to 1
 * at a transition (the NFNet reference's bookkeeping). */
static ds_node nf_block(ds_graph *g, const char *p, ds_node x, int64_t out, int stride, float beta,
                        float alpha, float gamma, float drop, const ds_model_options *o) {
  char n[DS_NAME_MAX];
  int64_t in = ds_graph_shape(g, x).dim[1];
  ds_node a = ds_scale(g, ds_nn_act(g, x, o->act), beta);
  ds_node sc = x;
  if (stride != 1 || in != out) {
    snprintf(n, sizeof n, "%s.shortcut.conv", p);
    sc = ds_nn_ws_conv2d(g, n, a, out, 1, stride, 0, gamma);
    ds__set_weight_init(g, sc, o);
  }
  snprintf(n, sizeof n, "%s.conv1", p);
  ds_node h = ds_nn_ws_conv2d(g, n, a, out, 3, stride, 1, gamma);
  ds__set_weight_init(g, h, o);
  snprintf(n, sizeof n, "%s.conv2", p);
  h = ds_nn_ws_conv2d(g, n, ds_nn_act(g, h, o->act), out, 3, 1, 1, gamma);
  ds__set_weight_init(g, h, o);
  if (drop > 0) h = ds_stochastic_depth(g, h, drop);
  return ds_add(g, ds_scale(g, h, alpha), sc);
}

static ds_node build_nf_resnet(ds_graph *g, ds_node x, int64_t n_classes,
                               const ds_model_options *o) {
  if (ds__need_image(g, x, "nf_resnet")) return DS_ESHAPE;
  if (!(o->alpha > 0))
    return ds_set_error(DS_EINVAL, "model 'nf_resnet': alpha must be > 0, got %g", o->alpha);
  float gamma = (float)ds_act_nf_gamma(o->act);
  ds_node h = ds_nn_ws_conv2d(g, "conv1", x, o->width, 3, 1, 1, 1.0f);
  ds__set_weight_init(g, h, o);
  int nb = 3 * o->depth, k = 0;
  double expected_var = 1.0;
  for (int s = 0; s < 3; s++)
    for (int b = 0; b < o->depth; b++, k++) {
      char p[32];
      snprintf(p, sizeof p, "layer%d.%d", s + 1, b);
      int stride = (s > 0 && b == 0) ? 2 : 1;
      bool transition = b == 0 && (s > 0 || ds_graph_shape(g, h).dim[1] != o->width);
      float beta = (float)(1.0 / sqrt(expected_var));
      h = nf_block(g, p, h, o->width << s, stride, beta, o->alpha, gamma, block_drop(o, k, nb), o);
      if (transition) expected_var = 1.0;
      expected_var += (double)o->alpha * o->alpha;
    }
  h = ds_nn_act(g, h, o->act);
  return ds__model_head(g, ds_global_avgpool(g, h), n_classes, o);
}

ds_status ds_model_build(ds_graph *g, const ds_model_options *o, ds_node x, int64_t n_classes,
                         ds_node *logits) {
  if (!g || !o || !logits) return ds_set_error(DS_EINVAL, "model_build: NULL argument");
  const char *name = o->name ? o->name : "(null)";
  if (ds_node_failed(x)) return x;
  if (n_classes < 1)
    return ds_set_error(DS_EINVAL, "model '%s': n_classes must be >= 1, got %lld", name,
                        (long long)n_classes);
  if (o->width < 1 || o->width > DS_MODEL_MAX_WIDTH)
    return ds_set_error(DS_EINVAL, "model '%s': width %lld is not in 1..%d", name,
                        (long long)o->width, DS_MODEL_MAX_WIDTH);
  if (o->depth < 0 || o->depth > DS_MODEL_MAX_DEPTH)
    return ds_set_error(DS_EINVAL, "model '%s': depth %d is not in 0..%d", name, o->depth,
                        DS_MODEL_MAX_DEPTH);
  if (!(o->dropout >= 0 && o->dropout < 1))
    return ds_set_error(DS_EINVAL, "model '%s': dropout %g is not in [0, 1)", name, o->dropout);
  if (!(o->stochastic_depth >= 0 && o->stochastic_depth < 1))
    return ds_set_error(DS_EINVAL, "model '%s': stochastic depth rate %g is not in [0, 1)", name,
                        o->stochastic_depth);
  if (o->norm == DS_NORM_GROUP && (o->groups < 1 || o->width % o->groups))
    return ds_set_error(DS_EINVAL, "model '%s': %d groups do not divide the width %lld", name,
                        o->groups, (long long)o->width);
  int m = find_model(name);
  char known[128];
  if (m < 0)
    return ds_set_error(DS_ENOTFOUND, "unknown model '%s' (%s)", name,
                        ds_kv_join(ds_model_names(NULL), known, sizeof known));
  if (o->depth < models[m].min_depth)
    return ds_set_error(DS_EINVAL, "model '%s': depth must be >= %d", name, models[m].min_depth);
  ds_node y = models[m].build(g, x, n_classes, o);
  if (y < 0) return y;
  *logits = y;
  return DS_OK;
}
