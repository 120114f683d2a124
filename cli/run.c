/* Assembling a run from settings: data, model + objective, optimizer, schedule, loader. */
#include "run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Re-sets the current error message with a prefix naming the setting at fault. */
int run_fail_key(int st, const char *key) {
  char msg[900];
  snprintf(msg, sizeof msg, "%s", ds_last_error());
  return ds_set_error(st ? st : DS_EINVAL, "%s: %s", key, msg);
}

int run_set_threads(run *r) {
  int t = ds_threads_set((int)set_int(&r->cfg, S_TRAIN_THREADS));
  const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE"); /* mpirun's ranks on this host */
  if (set_int(&r->cfg, S_TRAIN_THREADS) <= 0 && local && atoi(local) > 1)
    t = ds_threads_set(t / atoi(local) > 1 ? t / atoi(local) : 1); /* all cores, shared */
  if (set_int(&r->cfg, S_TRAIN_THREADS) <= 0) {
    /* All cores. Measured on 2 idle cores, the demo MLP: 1.9 s/epoch on 1 thread, 1.0 s on 2
     * (with the CLI's short OpenMP spin, cli/main.c). On cores shared with another busy process
     * one thread is faster: set train.threads=1 there. */
    char v[16];
    snprintf(v, sizeof v, "%d", t);
    settings_set(&r->cfg, "train.threads", v); /* the resolved count goes into config.ini */
  }
  r->threads = t;
  return t;
}

/* Image datasets read from files are the same for every run of a process (descent experiment runs
 * many): the first load is kept and later runs get copies (ds_dataset_subset of all samples). */
static struct {
  char key[600];
  ds_dataset *train, *test;
  bool on;
} cache;

void run_cache_enable(bool on) {
  if (!on) {
    ds_dataset_free(cache.train);
    ds_dataset_free(cache.test);
    memset(&cache, 0, sizeof cache);
  }
  cache.on = on;
}

static ds_dataset *copy_all(const ds_dataset *d) {
  int64_t *idx = ds_malloc(sizeof(int64_t) * (size_t)d->n);
  if (!idx) return NULL;
  for (int64_t i = 0; i < d->n; i++)
    idx[i] = i;
  ds_dataset *c = ds_dataset_subset(d, idx, d->n, NULL);
  ds_free(idx);
  return c;
}

static int load_data(const char *name, const ds_data_options *o, ds_dataset **train,
                     ds_dataset **test) {
  bool cacheable = cache.on && (!strcmp(name, "fashion-mnist") || !strcmp(name, "mnist"));
  if (!cacheable) return ds_dataset_load(name, o, train, test);
  char key[600];
  snprintf(key, sizeof key, "%s|%s", name, o->path ? o->path : "");
  if (strcmp(key, cache.key)) {
    run_cache_enable(false);
    cache.on = true;
    int st = ds_dataset_load(name, o, &cache.train, &cache.test);
    if (st) return st;
    snprintf(cache.key, sizeof cache.key, "%s", key);
  }
  *train = copy_all(cache.train);
  *test = copy_all(cache.test);
  if (*train && *test) return 0;
  ds_dataset_free(*train);
  ds_dataset_free(*test);
  *train = *test = NULL;
  return DS_ENOMEM;
}

int run_setup_data(run *r) {
  const settings *c = &r->cfg;
  uint64_t seed = (uint64_t)set_int(c, S_TRAIN_SEED);
  ds_data_options o = ds_data_options_default();
  o.path = *set_str(c, S_DATA_PATH) ? set_str(c, S_DATA_PATH) : NULL;
  o.test_path = *set_str(c, S_DATA_TEST_PATH) ? set_str(c, S_DATA_TEST_PATH) : NULL;
  o.test_fraction = set_num(c, S_DATA_TEST_FRACTION);
  o.label_column = (int)set_int(c, S_DATA_LABEL_COLUMN);
  o.regression = set_bool(c, S_DATA_REGRESSION);
  o.n_train = set_int(c, S_DATA_N_TRAIN);
  o.n_test = set_int(c, S_DATA_N_TEST);
  o.n_classes = (int)set_int(c, S_DATA_N_CLASSES);
  o.n_features = (int)set_int(c, S_DATA_N_FEATURES);
  o.noise = set_num(c, S_DATA_NOISE);
  o.outlier_fraction = set_num(c, S_DATA_OUTLIER_FRACTION);
  o.seed = seed;
  o.context = set_int(c, S_DATA_CONTEXT);
  const char *groups = set_str(c, S_OBJECTIVE_GROUPS);
  if (strcmp(groups, "class")) {
    if (strcmp(set_str(c, S_DATA_NAME), "csv"))
      return ds_set_error(DS_EINVAL,
                          "objective.groups: '%s' names a column of a CSV file; dataset '%s' is "
                          "not data=csv (its groups can only be 'class')",
                          groups, set_str(c, S_DATA_NAME));
    o.group_column = groups;
  }
  ds_dataset *train = NULL, *test = NULL;
  int st = load_data(set_str(c, S_DATA_NAME), &o, &train, &test);
  if (st) return st;
  r->train = train;
  r->test = test;
  r->regression = train->labels == NULL;
  r->n_classes = train->n_classes;
  /* subsets first: the rest of the pipeline (imbalance, noise, statistics) sees only them */
  const set_id subset_ids[2] = {S_DATA_TRAIN_SUBSET, S_DATA_TEST_SUBSET};
  ds_dataset **splits[2] = {&r->train, &r->test};
  for (int k = 0; k < 2; k++) {
    int64_t m = set_int(c, subset_ids[k]);
    if (m <= 0 || m >= (*splits[k])->n) continue;
    ds_dataset *rest = NULL, *part = NULL;
    st = ds_dataset_split(*splits[k], (double)m / (double)(*splits[k])->n, seed + 7u * (uint64_t)k,
                          &rest, &part);
    if (st) return run_fail_key(st, set_key(subset_ids[k]));
    ds_dataset_free(rest);
    ds_dataset_free(*splits[k]);
    *splits[k] = part;
  }
  double rho = set_num(c, S_DATA_IMBALANCE);
  if (rho > 1) {
    if (r->regression)
      return ds_set_error(DS_EINVAL, "data.imbalance: dataset '%s' has no classes", train->name);
    double *ratios = ds_malloc(sizeof(double) * (size_t)r->n_classes);
    if (!ratios) return DS_ENOMEM;
    st = ds_imbalance_ratios(set_str(c, S_DATA_IMBALANCE_PROFILE), rho, r->n_classes, ratios);
    if (!st) st = ds_dataset_imbalance(r->train, ratios, r->n_classes, seed);
    ds_free(ratios);
    if (st) return run_fail_key(st, "data.imbalance");
  }
  double vf = set_num(c, S_DATA_VAL_FRACTION);
  if (vf > 0) {
    ds_dataset *rest = NULL, *held = NULL;
    st = ds_dataset_split(r->train, vf, seed, &rest, &held);
    if (st) return run_fail_key(st, "data.val_fraction");
    ds_dataset_free(r->train);
    r->train = rest;
    r->val = held;
  }
  double noise = set_num(c, S_DATA_LABEL_NOISE);
  if (noise > 0) {
    ds_noise_kind kind;
    st = ds_noise_kind_parse(set_str(c, S_DATA_LABEL_NOISE_KIND), &kind);
    if (st) return run_fail_key(st, "data.label_noise_kind");
    st = ds_dataset_add_label_noise(r->train, kind, noise, seed);
    if (st) return run_fail_key(st, "data.label_noise");
  }
  if (set_bool(c, S_DATA_NORMALIZE) && strcmp(set_str(c, S_DATA_NAME), "text")) { /* ids stay ids */
    st = ds_dataset_compute_norm(r->train);
    if (!st) st = ds_dataset_copy_norm(r->test, r->train);
    if (!st && r->val) st = ds_dataset_copy_norm(r->val, r->train);
    if (st) return run_fail_key(st, "data.normalize");
  }
  return 0;
}

/* model.init with its gain: PyTorch's gains for Kaiming, model.sigma_w for orthogonal, meanfield
 * and delta_orthogonal (empty: 1 for orthogonal, the critical sigma_w of the activation at
 * model.sigma_b for the other two; "Mx": M times that critical value). */
int run_parse_init(const settings *c, ds_act act, ds_init *out) {
  static const struct {
    const char *name;
    ds_init_kind kind;
  } kinds[] = {{"default", DS_INIT_DEFAULT},
               {"kaiming_normal", DS_INIT_KAIMING_NORMAL},
               {"kaiming_uniform", DS_INIT_KAIMING_UNIFORM},
               {"xavier_normal", DS_INIT_XAVIER_NORMAL},
               {"xavier_uniform", DS_INIT_XAVIER_UNIFORM},
               {"orthogonal", DS_INIT_ORTHOGONAL},
               {"meanfield", DS_INIT_MEANFIELD},
               {"delta_orthogonal", DS_INIT_DELTA_ORTHOGONAL}};
  const char *name = set_str(c, S_MODEL_INIT);
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
    if (strcmp(name, kinds[i].name)) continue;
    ds_init_kind k = kinds[i].kind;
    out->kind = k;
    out->a = k == DS_INIT_KAIMING_NORMAL || k == DS_INIT_KAIMING_UNIFORM ? ds_init_gain(act) : 1.0;
    out->b = 0;
    if (k == DS_INIT_ORTHOGONAL || k == DS_INIT_MEANFIELD || k == DS_INIT_DELTA_ORTHOGONAL) {
      out->b = set_num(c, S_MODEL_SIGMA_B);
      const char *text = set_str(c, S_MODEL_SIGMA_W);
      size_t len = strlen(text);
      bool times = len > 0 && text[len - 1] == 'x'; /* a multiple of the critical value */
      double sw = 1.0, mult = 1.0;
      if (len > 0) {
        char num[CLI_VALUE_MAX];
        snprintf(num, sizeof num, "%.*s", (int)(times ? len - 1 : len), text);
        int st = ds_kv_number("model.sigma_w", num, times ? &mult : &sw);
        if (st) return st;
        if (!(sw > 0 && mult > 0))
          return ds_set_error(DS_EINVAL, "model.sigma_w: '%s' must be > 0", text);
      }
      if (times || (len == 0 && k != DS_INIT_ORTHOGONAL)) {
        ds_meanfield mf;
        int st = ds_meanfield_critical(act, out->b, &mf);
        if (st) return run_fail_key(st, "model.init");
        sw = mult * mf.sigma_w;
      }
      out->a = sw;
    }
    return 0;
  }
  return ds_set_error(DS_ENOTFOUND,
                      "model.init: unknown init '%s' (default, kaiming_normal, kaiming_uniform, "
                      "xavier_normal, xavier_uniform, orthogonal, meanfield, delta_orthogonal)",
                      name);
}

/* The model named by model.name on input x, with n_out outputs (nn.h's ds_model_build). */
static ds_node build_model(run *r, int64_t n_out) {
  const settings *c = &r->cfg;
  const char *name = set_str(c, S_MODEL_NAME);
  ds_model_options o = ds_model_options_default(name);
  int st = ds_act_parse(set_str(c, S_MODEL_ACT), &o.act);
  if (st) return run_fail_key(st, "model.act");
  st = run_parse_init(c, o.act, &o.init);
  if (st) return st;
  if (*set_str(c, S_MODEL_DEPTH)) o.depth = (int)set_int(c, S_MODEL_DEPTH);
  if (*set_str(c, S_MODEL_WIDTH)) o.width = set_int(c, S_MODEL_WIDTH);
  if (*set_str(c, S_MODEL_NORM)) {
    st = ds_norm_parse(set_str(c, S_MODEL_NORM), &o.norm);
    if (st) return run_fail_key(st, "model.norm");
  }
  o.groups = (int)set_int(c, S_MODEL_GROUPS);
  o.dropout = (float)set_num(c, S_MODEL_DROPOUT);
  o.stochastic_depth = (float)set_num(c, S_MODEL_STOCHASTIC_DEPTH);
  o.alpha = (float)set_num(c, S_MODEL_ALPHA);
  o.zero_init_residual = set_bool(c, S_MODEL_ZERO_INIT_RESIDUAL);
  o.patch = (int)set_int(c, S_MODEL_PATCH);
  o.heads = (int)set_int(c, S_MODEL_HEADS);
  o.mlp_ratio = (int)set_int(c, S_MODEL_MLP_RATIO);
  st = ds_pooling_parse(set_str(c, S_MODEL_POOLING), &o.pooling);
  if (st) return run_fail_key(st, "model.pooling");
  o.unfused_attention = !strcmp(set_str(c, S_MODEL_ATTENTION), "unfused");
  if (!o.unfused_attention && strcmp(set_str(c, S_MODEL_ATTENTION), "fused"))
    return ds_set_error(DS_EINVAL, "model.attention: '%s' is not fused or unfused",
                        set_str(c, S_MODEL_ATTENTION));
  ds_node logits = -1;
  st = ds_model_build(r->g, &o, r->x, n_out, &logits);
  if (st) return run_fail_key(st, st == DS_ENOTFOUND ? "model.name" : "model");
  return logits;
}

int run_setup_model(run *r) {
  const settings *c = &r->cfg;
  int64_t k = ds_dist_size(r->dist), batch = (set_int(c, S_TRAIN_BATCH_SIZE) + k - 1) / k;
  r->g = ds_graph_new(batch); /* this rank's share of the global batch */
  if (!r->g) return DS_ENOMEM;
  r->x = ds_input(r->g, "x", r->train->sample_shape);
  r->y = ds_input(r->g, "y", ds_shape_scalar());
  if (r->x < 0 || r->y < 0) return r->x < 0 ? r->x : r->y;
  if (r->input_grad) { /* descent signal: Jacobians read the input's and inner gradients */
    int st = ds_input_requires_grad(r->g, r->x, true);
    if (!st) st = ds_graph_keep_grads(r->g, true);
    if (st) return st;
  }
  r->logits = build_model(r, r->regression ? 1 : r->n_classes);
  if (r->logits < 0) return r->logits;
  if (!strcmp(set_str(c, S_MODEL_NAME), "gpt")) {
    /* next-character targets x[:, 1:]; no class accuracy: a language model's measure is its
     * loss in nats per character, which the regression path reports alone */
    r->loss = ds_cross_entropy(r->g, r->logits,
                               ds_slice(r->g, r->x, 1, r->train->sample_shape.dim[0] - 1), 0.0f);
    r->regression = true;
  } else {
    r->loss = run_build_loss(r);
  }
  if (r->loss < 0) return r->loss;
  ds_batchnorm_options bo = ds_batchnorm_options_default();
  bo.momentum = (float)set_num(c, S_MODEL_BN_MOMENTUM);
  bo.eps = (float)set_num(c, S_MODEL_BN_EPS);
  bo.ghost_batch = set_int(c, S_MODEL_GHOST_BATCH);
  bo.sync = set_bool(c, S_MODEL_SYNC_BN);
  int st = ds_graph_batchnorm_options(r->g, &bo);
  if (st) return run_fail_key(st, "model.bn");
  st = ds_graph_compile(r->g, r->loss);
  if (st) return st;
  uint64_t seed = (uint64_t)set_int(c, S_TRAIN_SEED);
  st = ds_graph_init_params(r->g, seed);
  if (st) return st;
  ds_graph_seed(r->g, seed);
  return 0;
}

/* Sets an optional optimizer hyperparameter given as text; errors name the setting. */
static int optim_set(run *r, const char *key, const char *hyper, const char *value) {
  if (!*value) return 0;
  int st = ds_optim_set_str(r->opt, hyper, value);
  return st ? run_fail_key(st, key) : 0;
}

/* sched.scale_lr: the whole schedule times batch/base_batch (linear) or its square root, batch
 * being the samples per optimizer step (train.batch_size x train.accumulate); the warm-up is
 * sched.warmup_steps as without scaling. */
static int run_scale_lr(run *r) {
  const settings *c = &r->cfg;
  const char *rule = set_str(c, S_SCHED_SCALE_LR);
  double ratio = (double)(set_int(c, S_TRAIN_BATCH_SIZE) * set_int(c, S_TRAIN_ACCUMULATE)) /
                 (double)set_int(c, S_SCHED_BASE_BATCH);
  if (!strcmp(rule, "none")) return 0;
  if (set_int(c, S_SCHED_BASE_BATCH) < 1)
    return ds_set_error(DS_EINVAL, "sched.base_batch: %lld must be >= 1",
                        (long long)set_int(c, S_SCHED_BASE_BATCH));
  if (strcmp(rule, "linear") && strcmp(rule, "sqrt"))
    return ds_set_error(DS_EINVAL, "sched.scale_lr: unknown rule '%s' (none, linear, sqrt)", rule);
  int st = ds_sched_set_scale(r->sched, !strcmp(rule, "linear") ? ratio : sqrt(ratio));
  return st ? run_fail_key(st, "sched.scale_lr") : 0;
}

/* LARS adapts only tensors with weight decay (timm's rule): with the optimizer's default of 0 it
 * would silently run as SGD with momentum. An unset weight decay becomes 1e-4 (Goyal et al.'s
 * ResNet-50 value, also used by the LARS runs of You et al.); run_warnings says so, and warns about
 * an explicit 0. */
static int lars_defaults(run *r) {
  if (strcmp(set_str(&r->cfg, S_OPTIM_NAME), "lars") || *set_str(&r->cfg, S_OPTIM_WEIGHT_DECAY))
    return 0;
  return ds_optim_set_str(r->opt, "weight_decay", "1e-4")
             ? run_fail_key(DS_EINVAL, "optim.weight_decay")
             : 0;
}

/* train.batch_growth: the batch of every epoch (sched.h's ds_batch_sched), realised by the fit as
 * accumulation of train.batch_size batches; the schedule's horizon counts the steps of every epoch.
 */
static int run_batch_schedule(run *r) {
  const settings *c = &r->cfg;
  if (!*set_str(c, S_TRAIN_BATCH_GROWTH)) return 0;
  if (set_int(c, S_TRAIN_ACCUMULATE) != 1)
    return ds_set_error(
        DS_EINVAL, "train.batch_growth: sets the accumulation itself; leave train.accumulate at 1");
  double v[64];
  int n = 0;
  int st = ds_kv_values("train.batch_growth", set_str(c, S_TRAIN_BATCH_GROWTH), v, 64, &n);
  if (st) return st;
  int64_t ms[64];
  for (int i = 0; i < n; i++)
    ms[i] = (int64_t)v[i];
  r->batch_sched =
      ds_batch_sched_new(r->train->n, set_int(c, S_TRAIN_BATCH_SIZE),
                         set_num(c, S_TRAIN_BATCH_FACTOR), ms, n, set_int(c, S_TRAIN_BATCH_MAX));
  if (!r->batch_sched) return run_fail_key(DS_EINVAL, "train.batch_growth");
  r->total_steps = 0;
  for (int64_t e = 0; e < set_int(c, S_TRAIN_EPOCHS); e++)
    r->total_steps += ds_batch_sched_steps(r->batch_sched, e);
  return 0;
}

int run_setup_training(run *r) {
  const settings *c = &r->cfg;
  ds_paramset *ps = ds_graph_params(r->g);
  for (int i = 0; i < ps->count && set_bool(c, S_OPTIM_DECAY_NORM_BIAS); i++)
    ps->info[i].no_decay = false; /* no_adapt stays: LARS/LAMB still skip them */
  r->opt = ds_optim_new(set_str(c, S_OPTIM_NAME), ps);
  if (!r->opt) return run_fail_key(DS_ENOTFOUND, "optim.name");
  static const struct {
    set_id id;
    const char *hyper;
  } hypers[] = {{S_OPTIM_WEIGHT_DECAY, "weight_decay"},
                {S_OPTIM_MOMENTUM, "momentum"},
                {S_OPTIM_BETAS, "betas"},
                {S_OPTIM_EPS, "eps"},
                {S_OPTIM_NESTEROV, "nesterov"}};
  for (size_t i = 0; i < sizeof hypers / sizeof *hypers; i++) {
    int st = optim_set(r, set_key(hypers[i].id), hypers[i].hyper, set_str(c, hypers[i].id));
    if (st) return st;
  }
  for (int i = 0; i < c->n_extra; i++)
    if (!strncmp(c->extra_key[i], "optim.", 6)) {
      int st = optim_set(r, c->extra_key[i], c->extra_key[i] + 6, c->extra_value[i]);
      if (st) return st;
    }
  if (lars_defaults(r)) return DS_EINVAL;

  ds_loader_options lo = ds_loader_options_default();
  lo.batch = set_int(c, S_TRAIN_BATCH_SIZE);
  lo.seed = (uint64_t)set_int(c, S_TRAIN_SEED);
  lo.crop_padding = (int)set_int(c, S_DATA_CROP_PADDING);
  lo.hflip = set_bool(c, S_DATA_HFLIP);
  lo.shard_rank = ds_dist_rank(r->dist);
  lo.shard_count = ds_dist_size(r->dist);
  r->loader = ds_loader_new(r->train, &lo);
  if (!r->loader) return run_fail_key(DS_EINVAL, "train.batch_size");
  int64_t acc = set_int(c, S_TRAIN_ACCUMULATE);
  if (acc < 1)
    return ds_set_error(DS_EINVAL, "train.accumulate: %lld must be >= 1", (long long)acc);
  r->steps_per_epoch = (ds_loader_batches_per_epoch(r->loader) + acc - 1) / acc;
  int64_t epochs = set_int(c, S_TRAIN_EPOCHS);
  r->total_steps = r->steps_per_epoch * epochs;
  int st = run_batch_schedule(r);
  if (st) return st;

  double lr = set_num(c, S_OPTIM_LR);
  const char *sname = set_str(c, S_SCHED_NAME);
  r->sched = ds_sched_new(sname, lr);
  if (!r->sched) return run_fail_key(DS_ENOTFOUND, "sched.name");
  bool per_epoch = set_bool(c, S_SCHED_PER_EPOCH);
  int64_t warm = set_int(c, S_SCHED_WARMUP_STEPS);
  if (per_epoch && r->batch_sched)
    return ds_set_error(
        DS_EINVAL, "sched.per_epoch: epochs of a batch-size schedule have different step counts");
  if (per_epoch) st = ds_sched_set_steps_per_epoch(r->sched, r->steps_per_epoch);
  if (st) return run_fail_key(st, "sched.per_epoch");
  for (int i = 0; i < c->n_extra; i++)
    if (!strncmp(c->extra_key[i], "sched.", 6)) {
      st = ds_sched_set_str(r->sched, c->extra_key[i] + 6, c->extra_value[i]);
      if (st) return run_fail_key(st, c->extra_key[i]);
    }
  if (warm > 0) {
    const char *wk = set_str(c, S_SCHED_WARMUP);
    ds_warmup_kind kind = !strcmp(wk, "linear")        ? DS_WARMUP_LINEAR
                          : !strcmp(wk, "exponential") ? DS_WARMUP_EXPONENTIAL
                                                       : DS_WARMUP_NONE;
    if (kind == DS_WARMUP_NONE)
      return ds_set_error(DS_EINVAL, "sched.warmup: unknown warm-up '%s' (linear, exponential)",
                          wk);
    st = ds_sched_set_warmup(r->sched, warm, kind, set_num(c, S_SCHED_WARMUP_START));
    if (st) return run_fail_key(st, "sched.warmup");
  }
  /* lengths and other run-dependent defaults the user left unset (sched.h) */
  st = run_scale_lr(r);
  if (st) return st;
  st = ds_sched_set_horizon(r->sched, r->total_steps);
  if (st) return run_fail_key(st, "sched");
  st = ds_sched_validate(r->sched);
  if (st) return run_fail_key(st, "sched");
  ds_trainer_options to = ds_trainer_options_default();
  to.clip_norm = set_num(c, S_OPTIM_CLIP_NORM);
  to.clip_value = set_num(c, S_OPTIM_CLIP_VALUE);
  to.agc = set_num(c, S_OPTIM_AGC);
  to.agc_eps = set_num(c, S_OPTIM_AGC_EPS);
  to.log_layers = set_bool(c, S_TRAIN_LOG_LAYERS);
  st = run_setup_objective(r, &to);
  if (st) return st;
  to.dist = r->dist;
  to.accumulate = (int)acc;
  ds_trainer_parts parts = {r->g,   r->x,     r->y,     r->regression ? DS_NONE : r->logits,
                            r->opt, r->sched, r->loader};
  r->trainer = ds_trainer_new(&parts, &to);
  return r->trainer ? 0 : run_fail_key(DS_EINVAL, "train");
}

const char *run_config_text(run *r) {
  if (r->config_text) return r->config_text;
  size_t len = 0;
  FILE *f = open_memstream(&r->config_text, &len);
  if (!f) return NULL;
  settings_write_ini(&r->cfg, f);
  fclose(f);
  return r->config_text;
}

void run_free(run *r) {
  ds_trainer_free(r->trainer);
  ds_objective_free(r->objective);
  r->objective = NULL;
  ds_batch_sched_free(r->batch_sched);
  r->batch_sched = NULL;
  ds_loader_free(r->loader);
  ds_sched_free(r->sched);
  ds_optim_free(r->opt);
  ds_graph_free(r->g);
  ds_dataset_free(r->train);
  ds_dataset_free(r->val);
  ds_dataset_free(r->test);
  r->trainer = NULL;
  r->loader = NULL;
  r->sched = NULL;
  r->opt = NULL;
  r->g = NULL;
  r->train = r->val = r->test = NULL;
  free(r->config_text);
  r->config_text = NULL;
}
