/* The transformer family: token-wise layers, multi-head self-attention, pre-norm blocks, and the
 * three models built from them: vit (Dosovitskiy et al. 2021), mixer (MLP-Mixer, Tolstikhin et
 * al. 2021) and gpt (a causal character-level language model, nanoGPT's layout).
 *
 * Shapes: B batch, T tokens, C width, V vocabulary. Parameter names follow timm / nanoGPT
 * ("blocks.0.attn.q.weight"), so the PyTorch reference (tests/fixtures/gen_transformer.py) loads
 * descent's checkpoints by name. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "descent/nn.h"
#include "nn/nn_internal.h"

/* Weight std of the transformer layers and embeddings (timm's trunc_normal_(std=.02), nanoGPT). */
#define DS_TF_STD 0.02

ds_status ds_pooling_parse(const char *name, ds_pooling *out) {
  if (name && !strcmp(name, "mean")) return (*out = DS_POOL_MEAN), DS_OK;
  if (name && !strcmp(name, "cls")) return (*out = DS_POOL_CLS), DS_OK;
  return ds_set_error(DS_ENOTFOUND, "unknown pooling '%s' (mean, cls)", name ? name : "(null)");
}

ds_node ds_nn_dense(ds_graph *g, const char *name, ds_node x, int64_t out, bool bias, double std) {
  if (x < 0) return x;
  if (!g || !name) return ds_set_error(DS_EINVAL, "nn_dense: NULL argument");
  ds_shape xs = ds_graph_shape(g, x);
  ds_node w =
      ds__layer_param(g, name, "weight", ds_shape2(out, xs.dim[xs.rank - 1]), DS_ROLE_WEIGHT);
  if (w < 0) return w;
  if (std > 0) ds_param_set_init(g, w, (ds_init){DS_INIT_NORMAL, 0, std});
  ds_node b = DS_NONE;
  if (bias) {
    b = ds__layer_param(g, name, "bias", ds_shape1(out), DS_ROLE_BIAS);
    if (b < 0) return b;
    ds_param_set_init(g, b, (ds_init){DS_INIT_ZEROS, 0, 0});
  }
  ds_node y = ds_dense(g, x, w, b);
  if (y >= 0) ds_graph_set_node_name(g, y, name);
  return y;
}

ds_node ds_nn_layernorm(ds_graph *g, const char *name, ds_node x) {
  if (x < 0) return x;
  if (!g || !name) return ds_set_error(DS_EINVAL, "nn_layernorm: NULL argument");
  ds_shape xs = ds_graph_shape(g, x);
  ds_shape ps = ds_shape1(xs.dim[xs.rank - 1]);
  ds_node gain = ds__layer_param(g, name, "weight", ps, DS_ROLE_NORM_GAIN);
  if (gain < 0) return gain;
  ds_node bias = ds__layer_param(g, name, "bias", ps, DS_ROLE_NORM_BIAS);
  if (bias < 0) return bias;
  ds_node y = ds_layernorm(g, x, gain, bias, 1, 1e-5f);
  if (y >= 0) ds_graph_set_node_name(g, y, name);
  return y;
}

/* Room for "prefix.suffix" names: longer than DS_NAME_MAX, so a name that does not fit reaches
 * the layer builders whole and they report it. */
#define NAME_BUF (4 * DS_NAME_MAX)

/* "prefix.suffix" into buf (NAME_BUF chars). */
static const char *sub(char *buf, const char *prefix, const char *suffix) {
  snprintf(buf, NAME_BUF, "%.*s.%.*s", DS_NAME_MAX, prefix, DS_NAME_MAX, suffix);
  return buf;
}

/* A dense layer of a model: N(0, 0.02^2) weights unless o->init is set. */
static ds_node model_dense(ds_graph *g, const char *name, ds_node x, int64_t out, bool bias,
                           const ds_model_options *o) {
  ds_node y = ds_nn_dense(g, name, x, out, bias, DS_TF_STD);
  ds__set_weight_init(g, y, o);
  return y;
}

/* Multi-head attention on (B, T, C) without the fused op: heads split by reshape + transpose. */
static ds_node attention_unfused(ds_graph *g, ds_node q, ds_node k, ds_node v, int H, bool causal) {
  ds_shape s = ds_graph_shape(g, q);
  int64_t T = s.dim[1], C = s.dim[2], D = C / H;
  ds_node qh = ds_transpose(g, ds_reshape(g, q, ds_shape3(T, H, D)), 1, 2); /* (B, H, T, D) */
  ds_node kh = ds_transpose(g, ds_reshape(g, k, ds_shape3(T, H, D)), 1, 2);
  ds_node vh = ds_transpose(g, ds_reshape(g, v, ds_shape3(T, H, D)), 1, 2);
  ds_node sc = ds_scale(g, ds_bmm(g, qh, kh, false, true), (float)(1.0 / sqrt((double)D)));
  ds_node o = ds_bmm(g, ds_softmax(g, sc, causal), vh, false, false);
  return ds_reshape(g, ds_transpose(g, o, 1, 2), ds_shape2(T, C));
}

/* Self-attention with weights of the given std (<= 0: PyTorch's default). */
static ds_node self_attention(ds_graph *g, const char *name, ds_node x, int heads, bool causal,
                              bool fused, double std) {
  if (x < 0) return x;
  char b[NAME_BUF];
  int64_t C = ds_graph_shape(g, x).dim[2];
  if (heads < 1 || C % heads)
    return ds_set_error(DS_EINVAL, "attention '%s': %d heads do not divide the width %lld", name,
                        heads, (long long)C);
  ds_node q = ds_nn_dense(g, sub(b, name, "q"), x, C, true, std);
  ds_node k = ds_nn_dense(g, sub(b, name, "k"), x, C, true, std);
  ds_node v = ds_nn_dense(g, sub(b, name, "v"), x, C, true, std);
  if (q < 0 || k < 0 || v < 0) return q < 0 ? q : k < 0 ? k : v;
  ds_node a = fused ? ds_attention(g, q, k, v, heads, causal)
                    : attention_unfused(g, q, k, v, heads, causal);
  return ds_nn_dense(g, sub(b, name, "proj"), a, C, true, std);
}

ds_node ds_nn_self_attention(ds_graph *g, const char *name, ds_node x, int heads, bool causal,
                             bool fused) {
  if (x < 0) return x;
  if (!g || !name) return ds_set_error(DS_EINVAL, "nn_self_attention: NULL argument");
  ds_shape s = ds_graph_shape(g, x);
  if (s.rank != 3)
    return ds_set_error(DS_ESHAPE, "attention '%s': input '%s' must be (B, T, C)", name,
                        ds_graph_node_name(g, x));
  return self_attention(g, name, x, heads, causal, fused, 0);
}

/* Applies o->init to the q/k/v/proj weights of an attention layer named `name`. */
static void attention_init(ds_graph *g, const char *name, const ds_model_options *o) {
  static const char *const parts[] = {"q", "k", "v", "proj"};
  char b[NAME_BUF];
  for (int i = 0; i < 4; i++)
    ds__set_weight_init(g, ds_graph_find(g, sub(b, name, parts[i])), o);
}

/* x + branch, with stochastic depth on the branch. */
static ds_node residual(ds_graph *g, ds_node x, ds_node branch, float drop) {
  if (drop > 0) branch = ds_stochastic_depth(g, branch, drop);
  return ds_add(g, x, branch);
}

/* MLP branch: fc1 (hidden), GELU, [dropout], fc2 (out). */
static ds_node mlp(ds_graph *g, const char *name, ds_node x, int64_t hidden, int64_t out,
                   const ds_model_options *o) {
  char b[NAME_BUF];
  ds_node h = ds_gelu(g, model_dense(g, sub(b, name, "fc1"), x, hidden, true, o));
  if (o->dropout > 0) h = ds_dropout(g, h, o->dropout);
  return model_dense(g, sub(b, name, "fc2"), h, out, true, o);
}

/* Pre-norm transformer block "blocks.i": x += attn(norm1(x)); x += mlp(norm2(x)). */
static ds_node block(ds_graph *g, int i, ds_node x, bool causal, float drop,
                     const ds_model_options *o) {
  char p[32], b[NAME_BUF];
  snprintf(p, sizeof p, "blocks.%d", i);
  int64_t C = ds_graph_shape(g, x).dim[2];
  ds_node h = ds_nn_layernorm(g, sub(b, p, "norm1"), x);
  h = self_attention(g, sub(b, p, "attn"), h, o->heads, causal, !o->unfused_attention, DS_TF_STD);
  if (h < 0) return h;
  attention_init(g, b, o);
  if (o->dropout > 0) h = ds_dropout(g, h, o->dropout);
  x = residual(g, x, h, drop);
  h = ds_nn_layernorm(g, sub(b, p, "norm2"), x);
  h = mlp(g, sub(b, p, "mlp"), h, (int64_t)o->mlp_ratio * C, C, o);
  return residual(g, x, h, drop);
}

/* drop rate of block i of n: linear from 0 to the option (timm's linspace). */
static float block_drop(const ds_model_options *o, int i) {
  return o->depth > 1 ? o->stochastic_depth * (float)i / (float)(o->depth - 1) : 0.0f;
}

static ds_status check_options(const char *model, const ds_model_options *o) {
  if (o->mlp_ratio < 1)
    return ds_set_error(DS_EINVAL, "model '%s': mlp_ratio must be >= 1, got %d", model,
                        o->mlp_ratio);
  if (o->heads < 1 || o->width % o->heads)
    return ds_set_error(DS_EINVAL, "model '%s': %d heads do not divide the width %lld", model,
                        o->heads, (long long)o->width);
  return DS_OK;
}

/* Patch embedding "name": conv (C, in, p, p) stride p, then (B, C, h, w) -> tokens (B, h*w, C). */
static ds_node patch_embed(ds_graph *g, const char *model, const char *name, ds_node x,
                           const ds_model_options *o) {
  ds_status st = ds__need_image(g, x, model);
  if (st) return st;
  ds_shape s = ds_graph_shape(g, x);
  int p = o->patch;
  if (p < 1 || s.dim[2] % p || s.dim[3] % p)
    return ds_set_error(DS_EINVAL, "model '%s': patch %d does not divide the image %lldx%lld",
                        model, p, (long long)s.dim[2], (long long)s.dim[3]);
  ds_node h = ds_nn_conv2d(g, name, x, o->width, p, p, 0, true);
  if (h < 0) return h;
  ds_graph_param_info(g, ds_graph_node_input(g, h, 1))->role = DS_ROLE_EMBEDDING;
  ds__set_weight_init(g, h, o);
  int64_t n = (s.dim[2] / p) * (s.dim[3] / p);
  return ds_transpose(g, ds_reshape(g, h, ds_shape2(o->width, n)), 1, 2); /* (B, n, C) */
}

/* A learned embedding parameter N(0, 0.02^2) of the given shape. */
static ds_node embed_param(ds_graph *g, const char *name, ds_shape shape) {
  ds_node p = ds_param(g, name, shape, DS_ROLE_EMBEDDING);
  if (p >= 0) ds_param_set_init(g, p, (ds_init){DS_INIT_NORMAL, 0, DS_TF_STD});
  return p;
}

ds_node ds__build_vit(ds_graph *g, ds_node x, int64_t n_classes, const ds_model_options *o) {
  ds_status st = check_options("vit", o);
  if (st) return st;
  ds_node h = patch_embed(g, "vit", "patch_embed", x, o);
  if (h < 0) return h;
  if (o->pooling == DS_POOL_CLS)
    h = ds_token_prepend(g, h, embed_param(g, "cls_token", ds_shape1(o->width)));
  ds_shape s = ds_graph_shape(g, h);
  h = ds_add_broadcast(g, h, embed_param(g, "pos_embed", ds_shape2(s.dim[1], s.dim[2])));
  for (int i = 0; i < o->depth; i++)
    h = block(g, i, h, false, block_drop(o, i), o);
  h = ds_nn_layernorm(g, "norm", h);
  if (o->pooling == DS_POOL_CLS)
    h = ds_reshape(g, ds_slice(g, h, 0, 1), ds_shape1(o->width));
  else
    h = ds_token_mean(g, h);
  return ds__model_head(g, h, n_classes, o);
}

ds_node ds__build_mixer(ds_graph *g, ds_node x, int64_t n_classes, const ds_model_options *o) {
  if (o->mlp_ratio < 1)
    return ds_set_error(DS_EINVAL, "model 'mixer': mlp_ratio must be >= 1, got %d", o->mlp_ratio);
  ds_node h = patch_embed(g, "mixer", "stem", x, o);
  if (h < 0) return h;
  int64_t n = ds_graph_shape(g, h).dim[1], C = o->width;
  int64_t token_hidden = C / 2 > 0 ? C / 2 : 1; /* Mixer-S/16: D_S = C / 2, D_C = 4 C */
  for (int i = 0; i < o->depth; i++) {
    char p[32], b[NAME_BUF];
    snprintf(p, sizeof p, "blocks.%d", i);
    ds_node t = ds_transpose(g, ds_nn_layernorm(g, sub(b, p, "norm1"), h), 1, 2); /* (B, C, n) */
    t = ds_transpose(g, mlp(g, sub(b, p, "token_mix"), t, token_hidden, n, o), 1, 2);
    h = residual(g, h, t, block_drop(o, i));
    ds_node c = ds_nn_layernorm(g, sub(b, p, "norm2"), h);
    c = mlp(g, sub(b, p, "channel_mix"), c, (int64_t)o->mlp_ratio * C, C, o);
    h = residual(g, h, c, block_drop(o, i));
  }
  h = ds_token_mean(g, ds_nn_layernorm(g, "norm", h));
  return ds__model_head(g, h, n_classes, o);
}

ds_node ds__build_gpt(ds_graph *g, ds_node x, int64_t vocab, const ds_model_options *o) {
  ds_status st = check_options("gpt", o);
  if (st) return st;
  ds_shape s = ds_graph_shape(g, x);
  char buf[64];
  if (s.rank != 2 || s.dim[1] < 2)
    return ds_set_error(DS_ESHAPE,
                        "model 'gpt': input '%s' is %s; expected token windows (B, T + 1)",
                        ds_graph_node_name(g, x), ds_shape_str(&s, buf, sizeof buf));
  int64_t T = s.dim[1] - 1;
  ds_node h = ds_embedding(g, ds_slice(g, x, 0, T),
                           embed_param(g, "wte.weight", ds_shape2(vocab, o->width)));
  h = ds_add_broadcast(g, h, embed_param(g, "wpe.weight", ds_shape2(T, o->width)));
  if (o->dropout > 0) h = ds_dropout(g, h, o->dropout);
  for (int i = 0; i < o->depth; i++)
    h = block(g, i, h, true, block_drop(o, i), o);
  h = ds_nn_layernorm(g, "norm", h);
  h = model_dense(g, "head", h, vocab, false, o);
  if (h < 0) return h;
  ds_graph_param_info(g, ds_graph_node_input(g, h, 1))->is_head = true;
  return h;
}
