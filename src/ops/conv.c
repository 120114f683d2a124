/* Convolution and pooling — placeholder until the conv/pool ops land. */
#include "core/graph_internal.h"

static ds_status todo_infer(ds_graph *g, ds_nodedata *n) {
  (void)g;
  return ds__node_error(n, DS_EUNSUPPORTED, "op not implemented yet");
}
const ds_opdef ds__op_conv2d = {"conv2d", todo_infer, NULL, NULL};
const ds_opdef ds__op_maxpool2d = {"maxpool2d", todo_infer, NULL, NULL};
const ds_opdef ds__op_avgpool2d = {"avgpool2d", todo_infer, NULL, NULL};
const ds_opdef ds__op_global_avgpool = {"global_avgpool", todo_infer, NULL, NULL};
