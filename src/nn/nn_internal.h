/* Private helpers shared by the layer builders. */
#ifndef DESCENT_NN_INTERNAL_H
#define DESCENT_NN_INTERNAL_H
#include "descent/graph.h"

/* The parameter "layer.suffix" of the given shape and role; an error naming it if the name does
 * not fit in DS_NAME_MAX. */
ds_node ds__layer_param(ds_graph *g, const char *layer, const char *suffix, ds_shape shape,
                        ds_role role);

#endif
