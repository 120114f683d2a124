/* descent — model builders: layers that create their own named parameters, and whole models.
 * Parameter names follow PyTorch's state_dict style ("fc1.weight", "layers.0.bias"). */
#ifndef DESCENT_NN_H
#define DESCENT_NN_H
#include "export.h"
#include <stdbool.h>

#include "graph.h"
#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

typedef enum {
  DS_ACT_RELU = 0,
  DS_ACT_TANH,
  DS_ACT_GELU,
  DS_ACT_SIGMOID,
  DS_ACT_LEAKY_RELU,
  DS_ACT_IDENTITY
} ds_act;

/* Normalization layer kinds of the builders (ds_nn_norm). */
typedef enum {
  DS_NORM_NONE = 0,
  DS_NORM_BATCH,
  DS_NORM_GROUP,
  DS_NORM_LAYER,
  DS_NORM_INSTANCE
} ds_norm_kind;

/* Parses "relu", "tanh", "gelu", "sigmoid", "leaky_relu", "identity"; error naming the value. */
ds_status ds_act_parse(const char *name, ds_act *out);
const char *ds_act_name(ds_act act);
/* Applies an activation node. */
ds_node ds_nn_act(ds_graph *g, ds_node x, ds_act act);

/* A linear layer "name.weight" (out, in) [+ "name.bias" (out)] applied to x (B, in...). */
ds_node ds_nn_linear(ds_graph *g, const char *name, ds_node x, int64_t out, bool bias);

/* Multilayer perceptron options (ds_mlp_options_default: 2 hidden layers of 256, ReLU, PyTorch
 * default init, no dropout). */
typedef struct {
  int depth;     /* hidden layers */
  int64_t width; /* units per hidden layer */
  ds_act act;
  float dropout;     /* after each hidden activation; 0 = none */
  ds_init init;      /* weight init of the hidden and output layers; DS_INIT_DEFAULT = PyTorch's */
  ds_init bias_init; /* DS_INIT_DEFAULT: PyTorch's, or N(0, init.b^2) if init is meanfield or
                        delta_orthogonal */
  ds_norm_kind norm; /* after each hidden linear (before the activation); default none */
  int groups;        /* groups of DS_NORM_GROUP */
} ds_mlp_options;
ds_mlp_options ds_mlp_options_default(void);

/* x (B, ...) -> flatten -> depth x [linear "fcN", norm "normN", act, (dropout)] -> linear "head".
 * Returns the logits node. The head's weight is marked is_head. */
ds_node ds_nn_mlp(ds_graph *g, ds_node x, int64_t n_out, const ds_mlp_options *o);

/* ---- initialisation helpers ---- */
/* The recommended gain of an activation, as torch.nn.init.calculate_gain: identity and sigmoid 1,
 * tanh 5/3, relu sqrt(2), leaky_relu (slope 0.01) sqrt(2 / (1 + 0.01^2)); gelu (which PyTorch does
 * not list) gets sqrt(2) like relu. Use as `a` of the Kaiming / Xavier / orthogonal inits. */
double ds_init_gain(ds_act act);

/* ---- normalization and convolution layers ---- */
/* Parses "none", "batch", "group", "layer", "instance"; DS_ENOTFOUND naming the value. */
ds_status ds_norm_parse(const char *name, ds_norm_kind *out);
const char *ds_norm_name(ds_norm_kind kind);

/* A normalization layer with gain "name.weight" (ones, DS_ROLE_NORM_GAIN) and bias "name.bias"
 * (zeros, DS_ROLE_NORM_BIAS), eps 1e-5: batch norm (momentum 0.1, buffers "name.running_mean" and
 * "name.running_var"), group norm with `groups` groups, layer norm over all non-batch dims (PyTorch
 * LayerNorm(x.shape[1:]), gain of that shape), instance norm. DS_NORM_NONE returns x unchanged. */
ds_node ds_nn_norm(ds_graph *g, const char *name, ds_node x, ds_norm_kind kind, int groups);

/* A conv layer "name.weight" (out, C, k, k) [+ "name.bias"] on x (B, C, H, W). */
ds_node ds_nn_conv2d(ds_graph *g, const char *name, ds_node x, int64_t out, int k, int stride,
                     int padding, bool bias);
/* Scaled weight-standardized conv (NF-ResNets): weight "name.weight" reparameterised by
 * ds_weight_std with gain "name.gain" (ones) and the constant gamma (the gain of the activation
 * in front of it, ds_act_nf_gamma, or 1), bias "name.bias". */
ds_node ds_nn_ws_conv2d(ds_graph *g, const char *name, ds_node x, int64_t out, int k, int stride,
                        int padding, float gamma);
/* Scaled weight-standardized linear layer (same parameters as ds_nn_ws_conv2d). */
ds_node ds_nn_ws_linear(ds_graph *g, const char *name, ds_node x, int64_t out, float gamma);

/* ---- transformer layers (src/nn/transformer.c); x (B, T, C) token sequences ---- */
/* Token pooling of the classifiers: mean over the tokens, or a learned class token. */
typedef enum { DS_POOL_MEAN = 0, DS_POOL_CLS } ds_pooling;
/* Parses "mean", "cls"; DS_ENOTFOUND naming the value. */
ds_status ds_pooling_parse(const char *name, ds_pooling *out);
/* A token-wise linear layer "name.weight" (out, C) [+ "name.bias" (zeros)] on x (B, ..., C),
 * weight N(0, std^2) (std <= 0: PyTorch's default init). */
ds_node ds_nn_dense(ds_graph *g, const char *name, ds_node x, int64_t out, bool bias, double std);
/* Layer norm over the last axis, gain "name.weight" (ones), bias "name.bias" (zeros), eps 1e-5. */
ds_node ds_nn_layernorm(ds_graph *g, const char *name, ds_node x);
/* Multi-head self-attention "name": q, k, v projections "name.q/.k/.v" (C -> C, bias), attention
 * (fused op, or the unfused bmm/softmax path), output projection "name.proj". */
ds_node ds_nn_self_attention(ds_graph *g, const char *name, ds_node x, int heads, bool causal,
                             bool fused);

/* ---- whole models ---- */
/* Options of ds_model_build; ds_model_options_default(name) gives each model's defaults. */
typedef struct {
  const char *name; /* "mlp", "cnn", "plain_cnn", "resnet", "nf_resnet", "vit", "mixer", "gpt" */
  int depth;     /* mlp: hidden layers; plain_cnn: conv layers; resnet / nf_resnet: blocks per stage
                    (3 stages) */
  int64_t width; /* mlp: units; cnn: channels of the first conv; plain_cnn: of every conv; resnets:
                    of stage 1 */
  ds_act act;
  ds_norm_kind norm; /* mlp, cnn, resnet; nf_resnet has none by construction */
  int groups;        /* groups of DS_NORM_GROUP (must divide the channels) */
  ds_init init;      /* weights of linear/conv layers; DS_INIT_DEFAULT = PyTorch's. meanfield and
                        delta_orthogonal also draw the layers' biases from N(0, init.b^2) */
  float dropout;     /* mlp: after each hidden activation; cnn/resnets: before the head */
  float stochastic_depth;  /* resnets: drop rate of the last block, linear in the block index */
  float alpha;             /* nf_resnet: residual branch scale (default 0.2) */
  bool zero_init_residual; /* resnet: the gain of each block's last norm starts at 0, so every
                              block starts as the identity (Goyal et al. 2017); default off */
  int patch;               /* vit, mixer: patch size (default 7; divides H and W) */
  int heads;               /* vit, gpt: attention heads (default 4; divide the width) */
  int mlp_ratio;           /* vit, mixer, gpt: MLP hidden units = mlp_ratio * width (default 4) */
  ds_pooling pooling;      /* vit: mean over tokens (default) or class token */
  bool unfused_attention;  /* vit, gpt: bmm/softmax ops instead of the fused attention op */
} ds_model_options;
/* The defaults of model `name` (an unknown name gets the mlp's; ds_model_build rejects it):
 * mlp depth 2 width 512 (the demo's 784-512-512-10), cnn width 32, plain_cnn depth 8 width 32,
 * resnet depth 1 width 16 with
 * batch norm, nf_resnet depth 2 width 16; relu, 8 groups, alpha 0.2, no dropout. */
ds_model_options ds_model_options_default(const char *name);
/* The model names, NULL-terminated; *count (if not NULL) receives their number. Static. */
const char *const *ds_model_names(int *count);

/* Limits of ds_model_build and ds_nn_mlp, checked before anything is built, so that a mistyped
 * setting (depth 1000000000) fails at once instead of building for hours: at most
 * DS_MODEL_MAX_DEPTH hidden layers / blocks per stage, DS_MODEL_MAX_WIDTH units or channels. */
#define DS_MODEL_MAX_DEPTH 10000
#define DS_MODEL_MAX_WIDTH (1 << 20)

/* Builds model o->name on x and returns its logits (B, n_classes) in *logits. Errors name the
 * option at fault. mlp: flatten, depth x [linear, norm, act, dropout], head. cnn (Fashion-MNIST
 * size): conv(w)-norm-act-maxpool2, conv(2w)-norm-act-maxpool2, fc(4w)-act-dropout, head.
 * plain_cnn: depth x [conv3x3(w) "convN" (stride 1, padding 1, bias), act], global average pool,
 * head: no normalization (o->norm must be none), no skip connections (Xiao et al. 2018).
 * resnet: conv3x3(w)-norm-act stem, 3 stages of `depth` BasicBlocks (w, 2w, 4w channels, stride 2
 * between stages, 1x1 conv + norm projection shortcuts), global average pool, head. nf_resnet: the
 * same stages without normalization layers: scaled WS convs and blocks h = x + alpha f(x / beta)
 * with beta the analytically tracked std of x (beta^2 += alpha^2 per block, reset at a
 * transition). x is (B, C, H, W) for the conv nets.
 * The transformer family (pre-norm, GELU, weights N(0, 0.02^2) unless o->init is set, biases and
 * LayerNorm betas 0): vit: patch embedding (conv patch x patch, stride patch) "patch_embed",
 * [class token "cls_token"], positional table "pos_embed", depth blocks "blocks.i" of
 * x += attn(norm1(x)), x += mlp(norm2(x)) (mlp: fc1 (mlp_ratio width), GELU, fc2), final "norm",
 * pooling, head. mixer: the same patch embedding "stem", blocks of token mixing (a width/2 hidden
 * MLP across tokens) and channel mixing, "norm", mean pooling, head. gpt: x (B, T + 1) holds token
 * ids as floats; ids x[:, :T] -> token table "wte" (n_classes = vocabulary) + positions "wpe" ->
 * causal blocks -> "norm" -> head "head" (no bias) -> logits (B, T, vocab); the targets are
 * x[:, 1:] (ds_slice(g, x, 1, T)). Embedding tables are DS_ROLE_EMBEDDING. */
ds_status ds_model_build(ds_graph *g, const ds_model_options *o, ds_node x, int64_t n_classes,
                         ds_node *logits);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
