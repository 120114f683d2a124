/* The objective.* and sam.* settings of a run: the per-sample loss node, the objective (mean or
 * the TERM family, objective.h) and SAM / ASAM around the optimizer (train.h ds_sam_options). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

ds_node run_build_loss(run *r) {
  const settings *c = &r->cfg;
  const char *name = set_str(c, S_OBJECTIVE_LOSS);
  if (!r->regression) {
    if (*name && strcmp(name, "cross_entropy"))
      return ds_set_error(
          DS_EINVAL, "objective.loss: '%s' needs regression targets; classes use cross_entropy",
          name);
    return ds_cross_entropy(r->g, r->logits, r->y, (float)set_num(c, S_OBJECTIVE_LABEL_SMOOTHING));
  }
  ds_node t = ds_reshape(r->g, r->y, ds_shape1(1));
  if (!*name || !strcmp(name, "mse")) return ds_mse(r->g, r->logits, t);
  if (!strcmp(name, "l1")) return ds_l1(r->g, r->logits, t);
  if (!strcmp(name, "huber")) {
    ds_node loss = ds_huber(r->g, r->logits, t, (float)set_num(c, S_OBJECTIVE_HUBER_DELTA));
    return loss < 0 ? run_fail_key(loss, "objective.huber_delta") : loss;
  }
  return ds_set_error(DS_ENOTFOUND,
                      "objective.loss: unknown loss '%s' (cross_entropy, mse, l1, huber)", name);
}

/* objective.name and its hyperparameters -> r->objective (NULL for the mean). */
static int setup_tilt(run *r) {
  const settings *c = &r->cfg;
  const char *name = set_str(c, S_OBJECTIVE_NAME);
  if (!strcmp(name, "mean")) return 0;
  r->objective = ds_objective_new(name);
  if (!r->objective) return run_fail_key(DS_ENOTFOUND, "objective.name");
  if (ds_objective_needs_groups(r->objective) && r->regression && !r->train->groups)
    return ds_set_error(DS_EINVAL,
                        "objective.name: hierarchical groups are classes; dataset '%s' has none",
                        r->train->name);
  static const struct {
    set_id id;
    const char *key;
  } keys[] = {{S_OBJECTIVE_TILT, "tilt"},
              {S_OBJECTIVE_TILT_AVERAGE, "tilt_average"},
              {S_OBJECTIVE_GROUP_TILT, "group_tilt"}};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    int st = ds_objective_set(r->objective, keys[i].key, set_num(c, keys[i].id));
    if (st) return run_fail_key(st, set_key(keys[i].id));
  }
  if (*set_str(c, S_OBJECTIVE_TILT_END)) {
    int st =
        ds_objective_set(r->objective, "tilt_end", strtod(set_str(c, S_OBJECTIVE_TILT_END), NULL));
    if (st) return run_fail_key(st, "objective.tilt_end");
  }
  return 0;
}

int run_setup_objective(run *r, ds_trainer_options *to) {
  const settings *c = &r->cfg;
  int st = setup_tilt(r);
  if (st) return st;
  to->objective = r->objective;
  to->total_steps = r->total_steps;
  const char *rho = set_str(c, S_SAM_RHO);
  to->sam.adaptive = set_bool(c, S_SAM_ADAPTIVE);
  to->sam.eta = set_num(c, S_SAM_ETA);
  to->sam.m = set_int(c, S_SAM_M);
  to->sam.rho = to->sam.adaptive ? 0.5 : 0; /* ASAM's default radius (Kwon et al. 2021) */
  if (*rho) {
    char *end;
    to->sam.rho = strtod(rho, &end);
    if (*end || !isfinite(to->sam.rho) || to->sam.rho < 0)
      return ds_set_error(DS_EINVAL, "sam.rho: '%s' is not a number >= 0", rho);
  }
  return 0;
}
