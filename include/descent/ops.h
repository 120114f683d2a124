/* descent — op builders. Each adds one node to a graph and returns its id (or a negative status).
 * Shapes in comments: B batch, C channels, H/W height/width, K features. Every op has a forward
 * and a backward, side by side in src/ops/<family>.c, registered in DS_OP_LIST (src/ops/op_list.h).
 * Gradient checks: tests/test_ops_fd.c (finite differences), tests/test_ops_torch.c (PyTorch). */
#ifndef DESCENT_OPS_H
#define DESCENT_OPS_H
#include "export.h"
#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

/* ---- dense ---- */
/* y = x W^T + b. x (B, K_in) [or (B, ...) flattened], w (K_out, K_in), b (K_out) or DS_NONE. */
ds_node ds_linear(ds_graph *g, ds_node x, ds_node w, ds_node b);
/* y = x W^T + b over the last axis: x (B, ..., K), w (K_out, K), b (K_out) or DS_NONE
 * -> (B, ..., K_out) (a token-wise linear layer; the rows are all leading positions). */
ds_node ds_dense(ds_graph *g, ds_node x, ds_node w, ds_node b);
/* c = a b. a (M, K), b (K, N) -> (M, N). Either may be batched. */
ds_node ds_matmul(ds_graph *g, ds_node a, ds_node b);
/* y = x + b broadcast over dim 1 (channels / features): x (B, C[, ...]), b (C). */
ds_node ds_bias_add(ds_graph *g, ds_node x, ds_node b);

/* ---- elementwise ---- */
ds_node ds_add(ds_graph *g, ds_node a, ds_node b); /* same shapes */
ds_node ds_scale(ds_graph *g, ds_node x, float s); /* y = s x */
ds_node ds_identity(ds_graph *g, ds_node x);
ds_node ds_relu(ds_graph *g, ds_node x);
ds_node ds_leaky_relu(ds_graph *g, ds_node x, float negative_slope);
ds_node ds_tanh(ds_graph *g, ds_node x);
ds_node ds_sigmoid(ds_graph *g, ds_node x);
ds_node ds_gelu(ds_graph *g, ds_node x); /* exact: x * Phi(x) (PyTorch's default) */

/* ---- losses: per-sample vectors (B) ---- */
/* Softmax cross-entropy. logits (B, C), labels (B) holding class indices as floats; or per token,
 * logits (B, T, C), labels (B, T), with a sample's loss the mean over its T tokens.
 * label_smoothing in [0, 1): target = (1 - s) onehot + s / C (PyTorch's convention). */
ds_node ds_cross_entropy(ds_graph *g, ds_node logits, ds_node labels, float label_smoothing);
/* Squared error averaged over the non-batch dims: loss_i = mean_j (pred_ij - target_ij)^2. */
ds_node ds_mse(ds_graph *g, ds_node pred, ds_node target);
/* Absolute error averaged the same way: loss_i = mean_j |pred_ij - target_ij| (torch L1Loss). */
ds_node ds_l1(ds_graph *g, ds_node pred, ds_node target);
/* Huber loss averaged the same way: d^2/2 for |d| < delta, delta (|d| - delta/2) beyond
 * (torch HuberLoss(delta)); delta > 0. */
ds_node ds_huber(ds_graph *g, ds_node pred, ds_node target, float delta);

/* ---- convolution and pooling (NCHW) ---- */
/* x (B, C_in, H, W), w (C_out, C_in/groups, kh, kw), b (C_out) or DS_NONE. */
ds_node ds_conv2d(ds_graph *g, ds_node x, ds_node w, ds_node b, int stride, int padding,
                  int groups);
ds_node ds_maxpool2d(ds_graph *g, ds_node x, int kernel, int stride, int padding);
/* Average pooling; padded positions count in the divisor (PyTorch count_include_pad=True). */
ds_node ds_avgpool2d(ds_graph *g, ds_node x, int kernel, int stride, int padding);
/* (B, C, H, W) -> (B, C). */
ds_node ds_global_avgpool(ds_graph *g, ds_node x);

/* ---- shape ---- */
/* (B, ...) -> (B, prod(...)). */
ds_node ds_flatten(ds_graph *g, ds_node x);
/* Reshape keeping the batch: sample_shape is the new per-sample shape (same element count). */
ds_node ds_reshape(ds_graph *g, ds_node x, ds_shape sample_shape);

/* Swaps dims d1 and d2 (1 <= d < rank; the batch stays): (B, T, H, D) -> (B, H, T, D). */
ds_node ds_transpose(ds_graph *g, ds_node x, int d1, int d2);

/* ---- sequences of tokens (src/ops/attention.c, embedding.c, tokens.c) ---- */
/* T tokens, C width, H heads, D = C / H, V vocabulary. */
/* Batched matmul over all leading dims: a (..., M, K), b (..., K, N) -> (..., M, N); trans_a /
 * trans_b: the operand is stored transposed, (..., K, M) / (..., N, K). Rank >= 3 (batch first),
 * equal leading dims. */
ds_node ds_bmm(ds_graph *g, ds_node a, ds_node b, bool trans_a, bool trans_b);
/* Softmax over the last axis of x (B, ..., L). causal: x is (B, ..., Tq, Tk) and entry (i, j) is
 * masked out (output 0) when j > i + Tk - Tq. */
ds_node ds_softmax(ds_graph *g, ds_node x, bool causal);
/* Fused multi-head scaled dot-product attention: q, k, v (B, T, C), heads dividing C; head h uses
 * columns h*D..(h+1)*D-1: out_h = softmax(q_h k_h^T / sqrt(D) [causal mask]) v_h -> (B, T, C).
 * Same function as the unfused bmm/softmax path; keeps the (B, H, T, T) probabilities. */
ds_node ds_attention(ds_graph *g, ds_node q, ds_node k, ds_node v, int heads, bool causal);
/* Token embedding: ids (B[, T]) holding integer ids as floats, table (V, C) -> (B[, T], C).
 * A forward with an id outside 0..V-1 fails with DS_EINVAL naming the node. */
ds_node ds_embedding(ds_graph *g, ds_node ids, ds_node table);
/* x (B, S...) + p (S...) for every sample (learned positional embeddings: p (T, C)). */
ds_node ds_add_broadcast(ds_graph *g, ds_node x, ds_node p);
/* x (B, T, C), token (C) -> (B, T + 1, C) with token first (ViT's class token). */
ds_node ds_token_prepend(ds_graph *g, ds_node x, ds_node token);
/* Mean over the tokens: x (B, T, C) -> (B, C). */
ds_node ds_token_mean(ds_graph *g, ds_node x);
/* Tokens start..start+len-1 along dim 1: x (B, T, ...) -> (B, len, ...). */
ds_node ds_slice(ds_graph *g, ds_node x, int64_t start, int64_t len);

/* ---- regularisation ---- */
/* Inverted dropout: in training zero with probability p and scale by 1/(1-p); identity in eval. */
ds_node ds_dropout(ds_graph *g, ds_node x, float p);

/* ---- normalization (src/ops/norm.c, reparam.c, stochdepth.c) ---- */
/* gain/bias: both DS_NONE (no affine) or both given. y = (x - mean) / sqrt(var + eps) gain + bias,
 * population variance, PyTorch semantics and defaults (eps 1e-5, momentum 0.1). */

/* Batch norm over (B, C[, H, W]): statistics per channel over batch and space. Training uses the
 * batch statistics and updates the running ones, running = (1 - momentum) running + momentum batch
 * with the unbiased batch variance; eval uses the running statistics. Creates the non-trainable
 * buffers "<name>.running_mean" (zeros) and "<name>.running_var" (ones) in ds_graph_buffers(g);
 * name NULL means "batchnorm". A training forward with one value per channel (B = 1 and no space)
 * fails with DS_EINVAL naming the node. gain, bias (C). */
ds_node ds_batchnorm(ds_graph *g, const char *name, ds_node x, ds_node gain, ds_node bias,
                     float momentum, float eps);
/* Options of every batch norm of a graph (ds_graph_batchnorm_options). */
typedef struct {
  float momentum, eps; /* as ds_batchnorm (PyTorch's 0.1, 1e-5) */
  int64_t ghost_batch; /* ghost batch norm (Hoffer et al. 2017): statistics over chunks of this
                          many samples of the batch, each chunk updating the running statistics
                          in turn; a remainder of one sample joins the previous chunk (0: off) */
  bool sync;           /* statistics over the batch of all processes, through the graph's reducer
                          (ds_graph_set_reducer; PyTorch's SyncBatchNorm) */
} ds_batchnorm_options;
/* momentum 0.1, eps 1e-5, no ghost batches, no sync. */
ds_batchnorm_options ds_batchnorm_options_default(void);
/* Applies o to every batch norm node of g (before compile). Ghost batches and sync do not combine
 * (DS_EINVAL); errors name the bad value. */
ds_status ds_graph_batchnorm_options(ds_graph *g, const ds_batchnorm_options *o);
/* Layer norm over the last ndims dims of x (PyTorch LayerNorm(x.shape[-ndims:])); gain and bias
 * have that normalized shape. Same in training and eval. */
ds_node ds_layernorm(ds_graph *g, ds_node x, ds_node gain, ds_node bias, int ndims, float eps);
/* Group norm: x (B, C[, H, W]), statistics per sample over C/groups channels and space; gain and
 * bias (C). groups must divide C. */
ds_node ds_groupnorm(ds_graph *g, ds_node x, ds_node gain, ds_node bias, int groups, float eps);
/* Instance norm (group norm with one channel per group; PyTorch InstanceNorm2d(affine=True),
 * no running statistics): needs H*W >= 2. */
ds_node ds_instancenorm(ds_graph *g, ds_node x, ds_node gain, ds_node bias, float eps);
/* Scaled weight standardization of w (O, ...), per row o over the fan-in N = numel / O:
 * w_hat = gamma gain[o] (w - mean_o) / sqrt(max(var_o N, eps)) (NFNet reference: eps 1e-4).
 * gain (O) or DS_NONE. The result is used as the weight of ds_linear / ds_conv2d. */
ds_node ds_weight_std(ds_graph *g, ds_node w, ds_node gain, float gamma, float eps);
/* Stochastic depth (timm drop_path): in training each sample is zeroed with probability drop,
 * else scaled by 1 / (1 - drop); identity in eval. Meant for a residual branch. drop in [0, 1). */
ds_node ds_stochastic_depth(ds_graph *g, ds_node x, float drop);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
