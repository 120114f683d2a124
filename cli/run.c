/* Assembling a run from settings: data, model + objective, optimizer, schedule, loader. */
#include "run.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Re-sets the current error message with a prefix naming the setting at fault. */
static int fail_key(int st, const char *key) {
  char msg[900];
  snprintf(msg, sizeof msg, "%s", ds_last_error());
  return ds_set_error(st ? st : DS_EINVAL, "%s: %s", key, msg);
}

int run_set_threads(run *r) {
  int t = (int)set_int(&r->cfg, S_TRAIN_THREADS);
  if (t <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    t = n > 0 ? (int)n : 1;
    /* All cores. Measured on 2 idle cores, the demo MLP: 1.9 s/epoch on 1 thread, 1.0 s on 2
     * (with the CLI's short OpenMP spin, cli/main.c). On cores shared with another busy process
     * one thread is faster: set train.threads=1 there. */
    char v[16];
    snprintf(v, sizeof v, "%d", t);
    settings_set(&r->cfg, "train.threads", v); /* the resolved count goes into config.ini */
  }
  omp_set_num_threads(t);
  openblas_set_num_threads(t);
  r->threads = t;
  return t;
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
  o.seed = seed;
  o.context = set_int(c, S_DATA_CONTEXT);
  ds_dataset *train = NULL, *test = NULL;
  int st = ds_dataset_load(set_str(c, S_DATA_NAME), &o, &train, &test);
  if (st) return st;
  r->train = train;
  r->test = test;
  r->regression = train->labels == NULL;
  r->n_classes = train->n_classes;
  double rho = set_num(c, S_DATA_IMBALANCE);
  if (rho > 1) {
    if (r->regression)
      return ds_set_error(DS_EINVAL, "data.imbalance: dataset '%s' has no classes", train->name);
    double *ratios = ds_malloc(sizeof(double) * (size_t)r->n_classes);
    if (!ratios) return DS_ENOMEM;
    st = ds_imbalance_ratios(set_str(c, S_DATA_IMBALANCE_PROFILE), rho, r->n_classes, ratios);
    if (!st) st = ds_dataset_imbalance(r->train, ratios, r->n_classes, seed);
    ds_free(ratios);
    if (st) return fail_key(st, "data.imbalance");
  }
  double vf = set_num(c, S_DATA_VAL_FRACTION);
  if (vf > 0) {
    ds_dataset *rest = NULL, *held = NULL;
    st = ds_dataset_split(r->train, vf, seed, &rest, &held);
    if (st) return fail_key(st, "data.val_fraction");
    ds_dataset_free(r->train);
    r->train = rest;
    r->val = held;
  }
  double noise = set_num(c, S_DATA_LABEL_NOISE);
  if (noise > 0) {
    ds_noise_kind kind;
    st = ds_noise_kind_parse(set_str(c, S_DATA_LABEL_NOISE_KIND), &kind);
    if (st) return fail_key(st, "data.label_noise_kind");
    st = ds_dataset_add_label_noise(r->train, kind, noise, seed);
    if (st) return fail_key(st, "data.label_noise");
  }
  if (set_bool(c, S_DATA_NORMALIZE) && strcmp(set_str(c, S_DATA_NAME), "text")) { /* ids stay ids */
    st = ds_dataset_compute_norm(r->train);
    if (!st) st = ds_dataset_copy_norm(r->test, r->train);
    if (!st && r->val) st = ds_dataset_copy_norm(r->val, r->train);
    if (st) return fail_key(st, "data.normalize");
  }
  return 0;
}

static int parse_init(const char *name, ds_act act, ds_init *out) {
  static const struct {
    const char *name;
    ds_init_kind kind;
  } kinds[] = {{"default", DS_INIT_DEFAULT},           {"kaiming_normal", DS_INIT_KAIMING_NORMAL},
               {"kaiming_uniform", DS_INIT_KAIMING_UNIFORM}, {"xavier_normal", DS_INIT_XAVIER_NORMAL},
               {"xavier_uniform", DS_INIT_XAVIER_UNIFORM}, {"orthogonal", DS_INIT_ORTHOGONAL}};
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
    if (!strcmp(name, kinds[i].name)) {
      out->kind = kinds[i].kind;
      /* gain: torch.nn.init.calculate_gain of the activation for Kaiming, 1 otherwise */
      bool kaiming = kinds[i].kind == DS_INIT_KAIMING_NORMAL || kinds[i].kind == DS_INIT_KAIMING_UNIFORM;
      out->a = kaiming ? ds_init_gain(act) : 1.0;
      out->b = 0;
      return 0;
    }
  return ds_set_error(DS_ENOTFOUND,
                      "model.init: unknown init '%s' (default, kaiming_normal, kaiming_uniform, "
                      "xavier_normal, xavier_uniform, orthogonal)",
                      name);
}

/* The model named by model.name on input x, with n_out outputs (nn.h's ds_model_build). */
static ds_node build_model(run *r, int64_t n_out) {
  const settings *c = &r->cfg;
  const char *name = set_str(c, S_MODEL_NAME);
  ds_model_options o = ds_model_options_default(name);
  int st = ds_act_parse(set_str(c, S_MODEL_ACT), &o.act);
  if (st) return fail_key(st, "model.act");
  st = parse_init(set_str(c, S_MODEL_INIT), o.act, &o.init);
  if (st) return st;
  if (*set_str(c, S_MODEL_DEPTH)) o.depth = (int)set_int(c, S_MODEL_DEPTH);
  if (*set_str(c, S_MODEL_WIDTH))
    o.width = set_int(c, S_MODEL_WIDTH);
  else if (!strcmp(name, "mlp"))
    o.width = 512; /* the demo's MLP: 784-512-512-10 */
  if (*set_str(c, S_MODEL_NORM)) {
    st = ds_norm_parse(set_str(c, S_MODEL_NORM), &o.norm);
    if (st) return fail_key(st, "model.norm");
  }
  o.groups = (int)set_int(c, S_MODEL_GROUPS);
  o.dropout = (float)set_num(c, S_MODEL_DROPOUT);
  o.stochastic_depth = (float)set_num(c, S_MODEL_STOCHASTIC_DEPTH);
  o.alpha = (float)set_num(c, S_MODEL_ALPHA);
  o.patch = (int)set_int(c, S_MODEL_PATCH);
  o.heads = (int)set_int(c, S_MODEL_HEADS);
  o.mlp_ratio = (int)set_int(c, S_MODEL_MLP_RATIO);
  st = ds_pooling_parse(set_str(c, S_MODEL_POOLING), &o.pooling);
  if (st) return fail_key(st, "model.pooling");
  o.unfused_attention = !strcmp(set_str(c, S_MODEL_ATTENTION), "unfused");
  if (!o.unfused_attention && strcmp(set_str(c, S_MODEL_ATTENTION), "fused"))
    return ds_set_error(DS_EINVAL, "model.attention: '%s' is not fused or unfused",
                        set_str(c, S_MODEL_ATTENTION));
  ds_node logits = -1;
  st = ds_model_build(r->g, &o, r->x, n_out, &logits);
  if (st) return fail_key(st, st == DS_ENOTFOUND ? "model.name" : "model");
  return logits;
}

int run_setup_model(run *r) {
  const settings *c = &r->cfg;
  int64_t batch = set_int(c, S_TRAIN_BATCH_SIZE);
  r->g = ds_graph_new(batch);
  if (!r->g) return DS_ENOMEM;
  r->x = ds_input(r->g, "x", r->train->sample_shape);
  r->y = ds_input(r->g, "y", ds_shape_scalar());
  if (r->x < 0 || r->y < 0) return r->x < 0 ? r->x : r->y;
  r->logits = build_model(r, r->regression ? 1 : r->n_classes);
  if (r->logits < 0) return r->logits;
  if (!strcmp(set_str(c, S_MODEL_NAME), "gpt")) {
    /* next-character targets x[:, 1:]; no class accuracy: a language model's measure is its
     * loss in nats per character, which the regression path reports alone */
    r->loss = ds_cross_entropy(r->g, r->logits, ds_slice(r->g, r->x, 1, r->train->sample_shape.dim[0] - 1), 0.0f);
    r->regression = true;
  } else if (r->regression) {
    ds_node t = ds_reshape(r->g, r->y, ds_shape1(1));
    r->loss = ds_mse(r->g, r->logits, t);
  } else {
    r->loss = ds_cross_entropy(r->g, r->logits, r->y, (float)set_num(c, S_OBJECTIVE_LABEL_SMOOTHING));
  }
  if (r->loss < 0) return r->loss;
  int st = ds_graph_compile(r->g, r->loss);
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
  return st ? fail_key(st, key) : 0;
}

static bool has_extra(const settings *c, const char *key) {
  for (int i = 0; i < c->n_extra; i++)
    if (!strcmp(c->extra_key[i], key)) return true;
  return false;
}

int run_setup_training(run *r) {
  const settings *c = &r->cfg;
  ds_paramset *ps = ds_graph_params(r->g);
  r->opt = ds_optim_new(set_str(c, S_OPTIM_NAME), ps);
  if (!r->opt) return fail_key(DS_ENOTFOUND, "optim.name");
  static const struct {
    set_id id;
    const char *hyper;
  } hypers[] = {{S_OPTIM_LR, "lr"},
                {S_OPTIM_WEIGHT_DECAY, "weight_decay"},
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

  ds_loader_options lo = ds_loader_options_default();
  lo.batch = set_int(c, S_TRAIN_BATCH_SIZE);
  lo.seed = (uint64_t)set_int(c, S_TRAIN_SEED);
  lo.crop_padding = (int)set_int(c, S_DATA_CROP_PADDING);
  lo.hflip = set_bool(c, S_DATA_HFLIP);
  r->loader = ds_loader_new(r->train, &lo);
  if (!r->loader) return fail_key(DS_EINVAL, "data");
  r->steps_per_epoch = ds_loader_batches_per_epoch(r->loader);
  int64_t epochs = set_int(c, S_TRAIN_EPOCHS);
  r->total_steps = r->steps_per_epoch * epochs;

  double lr = set_num(c, S_OPTIM_LR);
  const char *sname = set_str(c, S_SCHED_NAME);
  r->sched = ds_sched_new(sname, lr);
  if (!r->sched) return fail_key(DS_ENOTFOUND, "sched.name");
  bool per_epoch = set_bool(c, S_SCHED_PER_EPOCH);
  int64_t warm = set_int(c, S_SCHED_WARMUP_STEPS);
  int st = 0;
  if (per_epoch) st = ds_sched_set_steps_per_epoch(r->sched, r->steps_per_epoch);
  if (st) return fail_key(st, "sched.per_epoch");
  /* The length of decaying schedules defaults to the whole run after the warm-up. */
  int64_t rest = per_epoch ? epochs : r->total_steps - warm;
  if (rest < 1) rest = 1;
  static const char *const length_keys[][2] = {
      {"cosine", "T_max"}, {"linear", "total_iters"}, {"polynomial", "total_iters"}, {"onecycle", "total_steps"}};
  for (size_t i = 0; i < sizeof length_keys / sizeof *length_keys; i++) {
    char key[80];
    snprintf(key, sizeof key, "sched.%s", length_keys[i][1]);
    if (!strcmp(sname, length_keys[i][0]) && !has_extra(c, key)) {
      double v = (double)rest;
      st = ds_sched_set(r->sched, length_keys[i][1], &v, 1);
      if (st) return fail_key(st, key);
    }
  }
  if (!strcmp(sname, "onecycle") && !has_extra(c, "sched.max_lr")) {
    st = ds_sched_set(r->sched, "max_lr", &lr, 1);
    if (st) return fail_key(st, "optim.lr");
  }
  for (int i = 0; i < c->n_extra; i++)
    if (!strncmp(c->extra_key[i], "sched.", 6)) {
      st = ds_sched_set_str(r->sched, c->extra_key[i] + 6, c->extra_value[i]);
      if (st) return fail_key(st, c->extra_key[i]);
    }
  if (warm > 0) {
    const char *wk = set_str(c, S_SCHED_WARMUP);
    ds_warmup_kind kind = !strcmp(wk, "linear") ? DS_WARMUP_LINEAR
                          : !strcmp(wk, "exponential") ? DS_WARMUP_EXPONENTIAL : DS_WARMUP_NONE;
    if (kind == DS_WARMUP_NONE)
      return ds_set_error(DS_EINVAL, "sched.warmup: unknown warm-up '%s' (linear, exponential)", wk);
    st = ds_sched_set_warmup(r->sched, warm, kind, set_num(c, S_SCHED_WARMUP_START));
    if (st) return fail_key(st, "sched.warmup");
  }
  st = ds_sched_validate(r->sched);
  if (st) return fail_key(st, "sched");
  ds_trainer_options to = ds_trainer_options_default();
  to.clip_norm = set_num(c, S_OPTIM_CLIP_NORM);
  to.clip_value = set_num(c, S_OPTIM_CLIP_VALUE);
  to.agc = set_num(c, S_OPTIM_AGC);
  to.agc_eps = set_num(c, S_OPTIM_AGC_EPS);
  /* objective.name: mean is the trainer's default (weights 1/B) */
  if (!strcmp(set_str(c, S_OBJECTIVE_NAME), "tilted")) {
    r->tilt = set_num(c, S_OBJECTIVE_TILT);
    to.objective = ds_objective_tilted;
    to.objective_ctx = &r->tilt;
  }
  ds_trainer_parts parts = {r->g, r->x, r->y, r->regression ? DS_NONE : r->logits, r->opt, r->sched, r->loader};
  r->trainer = ds_trainer_new(&parts, &to);
  return r->trainer ? 0 : fail_key(DS_EINVAL, "train");
}

int run_memorization(run *r, double *memorized, double *clean_acc, int64_t *n_noisy) {
  const ds_dataset *d = r->train;
  *memorized = *clean_acc = NAN;
  *n_noisy = 0;
  if (r->regression || !d->labels || ds_dataset_noisy_count(d) == 0) return 0;
  ds_graph *g = r->g;
  int64_t B = ds_graph_max_batch(g), C = r->n_classes, noisy = 0, as_noisy = 0, as_clean = 0;
  int64_t *idx = ds_malloc((size_t)B * sizeof *idx);
  if (!idx) return DS_ENOMEM;
  int st = ds_optim_eval_mode(r->opt, true);
  ds_graph_set_training(g, false);
  for (int64_t i = 0; i < d->n && !st;) {
    int64_t b = 0;
    for (; i < d->n && b < B; i++)
      if (d->labels[i] != d->clean_labels[i]) idx[b++] = i;
    if (b == 0) break;
    st = ds_graph_set_batch(g, b);
    if (!st) st = ds_dataset_get(d, idx, b, ds_graph_value(g, r->x), ds_graph_value(g, r->y));
    if (!st) st = ds_graph_forward(g);
    const float *z = ds_graph_value(g, r->logits);
    for (int64_t k = 0; k < b && !st; k++) {
      int64_t best = 0;
      for (int64_t c = 1; c < C; c++)
        if (z[k * C + c] > z[k * C + best]) best = c;
      as_noisy += best == d->labels[idx[k]];
      as_clean += best == d->clean_labels[idx[k]];
    }
    noisy += b;
  }
  ds_graph_set_training(g, true);
  int st2 = ds_optim_eval_mode(r->opt, false);
  ds_free(idx);
  if (st || st2) return st ? st : st2;
  *n_noisy = noisy;
  *memorized = (double)as_noisy / (double)noisy;
  *clean_acc = (double)as_clean / (double)noisy;
  return 0;
}

int run_evaluate(run *r, const ds_dataset *d, run_eval *out) {
  int st = ds_trainer_evaluate(r->trainer, d, &out->loss, &out->acc);
  out->n = st ? 0 : d->n;
  return st;
}

void run_free(run *r) {
  ds_trainer_free(r->trainer);
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
}
