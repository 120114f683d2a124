/* Private helpers shared by the layer builders. */
#ifndef DESCENT_NN_INTERNAL_H
#define DESCENT_NN_INTERNAL_H
#include "descent/graph.h"

/* The parameter "layer.suffix" of the given shape and role; an error naming it if the name does
 * not fit in DS_NAME_MAX. */
ds_node ds__layer_param(ds_graph *g, const char *layer, const char *suffix, ds_shape shape,
                        ds_role role);

/* Shared by the model builders (models.c, transformer.c). */
#include "descent/nn.h"
/* Applies o->init to the weight of a linear/conv node (unless it is DS_INIT_DEFAULT). */
void ds__set_weight_init(ds_graph *g, ds_node layer, const ds_model_options *o);
/* The classifier "head" (n_classes) on h (B, K), after o->dropout; weight and bias is_head. */
ds_node ds__model_head(ds_graph *g, ds_node h, int64_t n_classes, const ds_model_options *o);
/* DS_ESHAPE naming model and input unless x is (B, C, H, W). */
ds_status ds__need_image(ds_graph *g, ds_node x, const char *model);
/* The transformer family (transformer.c): logits of vit and mixer (B, n_classes), of gpt
 * (B, T, vocab) for x (B, T + 1) token windows. */
ds_node ds__build_vit(ds_graph *g, ds_node x, int64_t n_classes, const ds_model_options *o);
ds_node ds__build_mixer(ds_graph *g, ds_node x, int64_t n_classes, const ds_model_options *o);
ds_node ds__build_gpt(ds_graph *g, ds_node x, int64_t vocab, const ds_model_options *o);

#endif
