/* Orthogonal initialisation — placeholder until the init work lands. */
#include "core/graph_internal.h"

ds_status ds__init_orthogonal(ds_rng *r, float *w, const ds_param_info *p, double gain, bool delta) {
  (void)r;
  (void)w;
  (void)gain;
  (void)delta;
  return ds_set_error(DS_EUNSUPPORTED, "init of parameter '%s': orthogonal init not available yet",
                      p->name);
}
