/* descent CLI — the settings of `descent train`: ONE table of {key, type, default, help} from
 * which the command-line parser, the INI reader, validation, --help and config.ini are derived.
 *
 * Keys are dotted ("optim.lr"); the part before the dot is the INI section. Besides the table,
 * any "optim.<keyword>" or "sched.<keyword>" is accepted as an extra hyperparameter passed by its
 * PyTorch name to the optimizer or schedule, which validates it (errors name the key). */
#ifndef DESCENT_CLI_SETTINGS_H
#define DESCENT_CLI_SETTINGS_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
  SET_STR,   /* any text */
  SET_INT,   /* integer */
  SET_FLOAT, /* finite real number */
  SET_BOOL,  /* true/false, 1/0, yes/no, on/off */
  SET_OPT    /* empty (= the component's own default) or a value passed on as text */
} set_type;

/* X(id, key, type, default, help) — the one settings table. */
#define CLI_SETTINGS(X)                                                                            \
  X(DATA_NAME, "data.name", SET_STR, "fashion-mnist",                                              \
    "dataset: fashion-mnist, mnist, digits, csv, text, moons, spirals, blobs, regression")         \
  X(DATA_PATH, "data.path", SET_STR, "",                                                           \
    "dataset file or directory (empty: its default location)")                                     \
  X(DATA_TEST_PATH, "data.test_path", SET_STR, "",                                                 \
    "csv: separate test file (empty: hold out data.test_fraction)")                                \
  X(DATA_TEST_FRACTION, "data.test_fraction", SET_FLOAT, "0.2",                                    \
    "csv, digits, text: share held out as the test split (text: the end of the corpus)")           \
  X(DATA_LABEL_COLUMN, "data.label_column", SET_INT, "-1",                                         \
    "csv: column of the label or target (-1: last)")                                               \
  X(DATA_REGRESSION, "data.regression", SET_BOOL, "false",                                         \
    "csv: real-valued target (MSE loss) instead of classes")                                       \
  X(DATA_N_TRAIN, "data.n_train", SET_INT, "1000", "synthetic datasets: training samples")         \
  X(DATA_N_TEST, "data.n_test", SET_INT, "1000", "synthetic datasets: test samples")               \
  X(DATA_N_CLASSES, "data.n_classes", SET_INT, "3", "blobs, spirals: classes")                     \
  X(DATA_N_FEATURES, "data.n_features", SET_INT, "2", "blobs, regression: input dimensions")       \
  X(DATA_NOISE, "data.noise", SET_FLOAT, "-1",                                                     \
    "synthetic datasets: noise std (-1: the dataset's default)")                                   \
  X(DATA_TRAIN_SUBSET, "data.train_subset", SET_INT, "0",                                          \
    "use a stratified random subset of this many training samples (0: all)")                       \
  X(DATA_TEST_SUBSET, "data.test_subset", SET_INT, "0",                                            \
    "use a stratified random subset of this many test samples (0: all)")                           \
  X(DATA_VAL_FRACTION, "data.val_fraction", SET_FLOAT, "0",                                        \
    "share of the training split held out for validation (stratified; 0: none)")                   \
  X(DATA_NORMALIZE, "data.normalize", SET_BOOL, "true",                                            \
    "standardise inputs per channel with the training split's mean and std")                       \
  X(DATA_LABEL_NOISE, "data.label_noise", SET_FLOAT, "0",                                          \
    "share of training labels corrupted (0..1)")                                                   \
  X(DATA_LABEL_NOISE_KIND, "data.label_noise_kind", SET_STR, "symmetric",                          \
    "label noise: symmetric, pair, uniform")                                                       \
  X(DATA_OUTLIER_FRACTION, "data.outlier_fraction", SET_FLOAT, "0",                                \
    "regression: share of training targets given a gross error (0..1)")                            \
  X(DATA_IMBALANCE, "data.imbalance", SET_FLOAT, "1",                                              \
    "class imbalance factor n_max/n_min of the training split (1: as loaded)")                     \
  X(DATA_IMBALANCE_PROFILE, "data.imbalance_profile", SET_STR, "exp",                              \
    "imbalance profile: exp, step")                                                                \
  X(DATA_CROP_PADDING, "data.crop_padding", SET_INT, "0",                                          \
    "augmentation: random crop after padding by this many pixels (0: off)")                        \
  X(DATA_HFLIP, "data.hflip", SET_BOOL, "false", "augmentation: random horizontal flips")          \
  X(DATA_CONTEXT, "data.context", SET_INT, "128",                                                  \
    "text: characters per sample (the gpt's context length)")                                      \
  X(MODEL_NAME, "model.name", SET_STR, "mlp",                                                      \
    "model: mlp, cnn, plain_cnn, resnet, nf_resnet, vit, mixer, gpt (on data.name=text)")          \
  X(MODEL_DEPTH, "model.depth", SET_OPT, "",                                                       \
    "mlp: hidden layers; plain_cnn: conv layers (default 8); resnet, nf_resnet: blocks per stage " \
    "(empty: the model's default)")                                                                \
  X(MODEL_WIDTH, "model.width", SET_OPT, "",                                                       \
    "mlp: units per hidden layer (default 512); cnn, resnets: channels of the first stage; "       \
    "plain_cnn: channels of every conv (default 32) (empty: the model's default)")                 \
  X(MODEL_ACT, "model.act", SET_STR, "relu",                                                       \
    "activation: relu, tanh, gelu, sigmoid, leaky_relu, identity")                                 \
  X(MODEL_NORM, "model.norm", SET_OPT, "",                                                         \
    "normalization layers: none, batch, group, layer, instance (empty: the model's default)")      \
  X(MODEL_GROUPS, "model.groups", SET_INT, "8", "groups of group normalization")                   \
  X(MODEL_BN_MOMENTUM, "model.bn_momentum", SET_FLOAT, "0.1",                                      \
    "batch norm: running-statistics momentum (PyTorch's)")                                         \
  X(MODEL_BN_EPS, "model.bn_eps", SET_FLOAT, "1e-5", "batch norm: eps inside the square root")     \
  X(MODEL_GHOST_BATCH, "model.ghost_batch", SET_INT, "0",                                          \
    "ghost batch norm: batch-norm statistics over chunks of this many samples (Hoffer et al. "     \
    "2017; 0: off)")                                                                               \
  X(MODEL_SYNC_BN, "model.sync_bn", SET_BOOL, "false",                                             \
    "mpirun: batch-norm statistics over the global batch of all processes (default: per process, " \
    "as DDP)")                                                                                     \
  X(MODEL_ZERO_INIT_RESIDUAL, "model.zero_init_residual", SET_BOOL, "false",                       \
    "resnet: the last norm gain of every block starts at 0 (Goyal et al. 2017)")                   \
  X(MODEL_DROPOUT, "model.dropout", SET_FLOAT, "0",                                                \
    "dropout probability (mlp: after hidden activations; conv nets: before the head)")             \
  X(MODEL_STOCHASTIC_DEPTH, "model.stochastic_depth", SET_FLOAT, "0",                              \
    "resnets: drop rate of the last block (linear in depth)")                                      \
  X(MODEL_ALPHA, "model.alpha", SET_FLOAT, "0.2", "nf_resnet: residual branch scale")              \
  X(MODEL_PATCH, "model.patch", SET_INT, "7", "vit, mixer: patch size (divides the image)")        \
  X(MODEL_HEADS, "model.heads", SET_INT, "4", "vit, gpt: attention heads (divide the width)")      \
  X(MODEL_MLP_RATIO, "model.mlp_ratio", SET_INT, "4",                                              \
    "vit, mixer, gpt: MLP hidden units per unit of width")                                         \
  X(MODEL_POOLING, "model.pooling", SET_STR, "mean",                                               \
    "vit: token pooling: mean, cls (class token)")                                                 \
  X(MODEL_ATTENTION, "model.attention", SET_STR, "fused",                                          \
    "vit, gpt: attention as the fused op or unfused (bmm, softmax)")                               \
  X(MODEL_INIT, "model.init", SET_STR, "default",                                                  \
    "weight init: default (PyTorch's), kaiming_normal, kaiming_uniform, xavier_normal, "           \
    "xavier_uniform, orthogonal, meanfield, delta_orthogonal (convs: orthogonal at the kernel "    \
    "centre; Xiao et al. 2018)")                                                                   \
  X(MODEL_SIGMA_W, "model.sigma_w", SET_OPT, "",                                                   \
    "meanfield: weight std x sqrt(fan_in); orthogonal, delta_orthogonal: gain; \"Mx\": M times "   \
    "the critical value (empty: the critical value of model.act from mean-field theory; 1 for "    \
    "orthogonal)")                                                                                 \
  X(MODEL_SIGMA_B, "model.sigma_b", SET_FLOAT, "0.05",                                             \
    "meanfield, delta_orthogonal: bias std (and the sigma_b of the critical point)")               \
  X(OBJECTIVE_NAME, "objective.name", SET_STR, "mean",                                             \
    "objective over per-sample losses: mean (ERM), tilted (TERM), hierarchical (TERM over "        \
    "groups)")                                                                                     \
  X(OBJECTIVE_TILT, "objective.tilt", SET_FLOAT, "1",                                              \
    "tilted: t (> 0 emphasises high losses, < 0 suppresses them); hierarchical: t within each "    \
    "group")                                                                                       \
  X(OBJECTIVE_TILT_END, "objective.tilt_end", SET_OPT, "",                                         \
    "tilted, hierarchical: anneal t linearly to this value at the last step (empty: constant)")    \
  X(OBJECTIVE_TILT_AVERAGE, "objective.tilt_average", SET_FLOAT, "0",                              \
    "tilted: stochastic TERM, running normaliser Z <- (1-a) Z + a mean exp(t l) (0: per batch)")   \
  X(OBJECTIVE_GROUP_TILT, "objective.group_tilt", SET_FLOAT, "0",                                  \
    "hierarchical: tilt across groups")                                                            \
  X(OBJECTIVE_GROUPS, "objective.groups", SET_STR, "class",                                        \
    "the groups of samples: class, or a column name of data=csv (taken out of the features; "      \
    "hierarchical tilts across them, evaluation reports per-group accuracy)")                      \
  X(OBJECTIVE_LOSS, "objective.loss", SET_OPT, "",                                                 \
    "per-sample loss: cross_entropy (classes); mse, l1, huber (regression) (empty: cross_entropy " \
    "or mse)")                                                                                     \
  X(OBJECTIVE_HUBER_DELTA, "objective.huber_delta", SET_FLOAT, "1",                                \
    "huber: |error| where the loss turns linear")                                                  \
  X(OBJECTIVE_LABEL_SMOOTHING, "objective.label_smoothing", SET_FLOAT, "0",                        \
    "cross-entropy label smoothing in [0, 1)")                                                     \
  X(OPTIM_NAME, "optim.name", SET_STR, "adamw", "optimizer (descent train --help lists them)")     \
  X(OPTIM_LR, "optim.lr", SET_FLOAT, "1e-3", "base learning rate (peak of the schedule)")          \
  X(OPTIM_WEIGHT_DECAY, "optim.weight_decay", SET_OPT, "",                                         \
    "weight decay (empty: the optimizer's default, e.g. AdamW 0.01)")                              \
  X(OPTIM_MOMENTUM, "optim.momentum", SET_OPT, "",                                                 \
    "momentum (SGD, RMSprop, LARS; empty: default)")                                               \
  X(OPTIM_BETAS, "optim.betas", SET_OPT, "", "Adam-family betas \"b1,b2\" (empty: default)")       \
  X(OPTIM_EPS, "optim.eps", SET_OPT, "", "epsilon of adaptive optimizers (empty: default)")        \
  X(OPTIM_NESTEROV, "optim.nesterov", SET_OPT, "",                                                 \
    "SGD Nesterov momentum true/false (empty: default)")                                           \
  X(OPTIM_DECAY_NORM_BIAS, "optim.decay_norm_bias", SET_BOOL, "false",                             \
    "weight decay also on biases and norm gains/biases (default: excluded; LARS/LAMB never adapt " \
    "them)")                                                                                       \
  X(OPTIM_CLIP_NORM, "optim.clip_norm", SET_FLOAT, "0",                                            \
    "clip the global gradient norm to this (0: off)")                                              \
  X(OPTIM_CLIP_VALUE, "optim.clip_value", SET_FLOAT, "0",                                          \
    "clamp every gradient element to +-this (0: off)")                                             \
  X(OPTIM_AGC, "optim.agc", SET_FLOAT, "0",                                                        \
    "adaptive gradient clipping factor, e.g. 0.01 (0: off)")                                       \
  X(OPTIM_AGC_EPS, "optim.agc_eps", SET_FLOAT, "1e-3",                                             \
    "adaptive gradient clipping: weight-norm floor")                                               \
  X(SAM_RHO, "sam.rho", SET_OPT, "",                                                               \
    "SAM around the optimizer: ascent radius, e.g. 0.05 (empty: off; 0.5 with sam.adaptive)")      \
  X(SAM_ADAPTIVE, "sam.adaptive", SET_BOOL, "false",                                               \
    "ASAM: ascent scaled by T = |w| + sam.eta on weights")                                         \
  X(SAM_ETA, "sam.eta", SET_FLOAT, "0.01", "ASAM: eta of T = |w| + eta")                           \
  X(SAM_M, "sam.m", SET_INT, "0",                                                                  \
    "m-sharpness: chunks of m samples, each with its own ascent (0: whole batch)")                 \
  X(SCHED_NAME, "sched.name", SET_STR, "cosine", "lr schedule (descent train --help lists them)")  \
  X(SCHED_WARMUP_STEPS, "sched.warmup_steps", SET_INT, "400", "warm-up steps (0: none)")           \
  X(SCHED_WARMUP, "sched.warmup", SET_STR, "linear", "warm-up shape: linear, exponential")         \
  X(SCHED_WARMUP_START, "sched.warmup_start", SET_FLOAT, "0.01",                                   \
    "warm-up starts at this fraction of the lr")                                                   \
  X(SCHED_PER_EPOCH, "sched.per_epoch", SET_BOOL, "false",                                         \
    "step the schedule once per epoch (warm-up stays in steps); lengths count epochs")             \
  X(SCHED_SCALE_LR, "sched.scale_lr", SET_STR, "none",                                             \
    "scale the lr (whole schedule) with the batch per step: none, linear (x batch/base_batch, "    \
    "Goyal et al. 2017), sqrt")                                                                    \
  X(SCHED_BASE_BATCH, "sched.base_batch", SET_INT, "256",                                          \
    "sched.scale_lr: the batch the lr is given for")                                               \
  X(SCHED_SNAPSHOTS, "sched.snapshots", SET_INT, "0",                                              \
    "snapshot ensemble: keep the parameters at the last M cycle ends of cosine_restarts/cyclic "   \
    "and report the ensemble (0: off)")                                                            \
  X(TRAIN_EPOCHS, "train.epochs", SET_INT, "12", "epochs")                                         \
  X(TRAIN_BATCH_SIZE, "train.batch_size", SET_INT, "128",                                          \
    "mini-batch size, global: split in equal shares over the processes of mpirun -np K")           \
  X(TRAIN_ACCUMULATE, "train.accumulate", SET_INT, "1",                                            \
    "gradient accumulation: batches per optimizer step (the step's batch is accumulate x "         \
    "batch_size)")                                                                                 \
  X(TRAIN_BATCH_GROWTH, "train.batch_growth", SET_STR, "",                                         \
    "batch-size schedule (Smith et al. 2018): epochs \"e1,e2,...\" at which the batch grows by "   \
    "train.batch_factor, by accumulation (empty: off)")                                            \
  X(TRAIN_BATCH_FACTOR, "train.batch_factor", SET_FLOAT, "5",                                      \
    "batch-size schedule: growth factor per milestone")                                            \
  X(TRAIN_BATCH_MAX, "train.batch_max", SET_INT, "0",                                              \
    "batch-size schedule: largest batch; beyond it the lr decays by the factor instead (0: the "   \
    "dataset size)")                                                                               \
  X(TRAIN_SEED, "train.seed", SET_INT, "0",                                                        \
    "seed of every random stream (init, data, shuffle, dropout)")                                  \
  X(TRAIN_THREADS, "train.threads", SET_INT, "0",                                                  \
    "threads for OpenMP and OpenBLAS (0: all cores; use 1 on cores shared with other busy "        \
    "processes; the resolved count is saved)")                                                     \
  X(TRAIN_RUN_DIR, "train.run_dir", SET_STR, "", "run directory (empty: runs/<timestamp>-<name>)") \
  X(TRAIN_NAME, "train.name", SET_STR, "", "run name (empty: <model>-<data>-<optim>)")             \
  X(TRAIN_LOG_EVERY, "train.log_every", SET_INT, "50",                                             \
    "steps between metrics lines (and plain progress lines)")                                      \
  X(TRAIN_LOG_LAYERS, "train.log_layers", SET_BOOL, "false",                                       \
    "per parameter tensor in every metrics step line: ||w||, ||g||, ||w||/||g||, LARS/LAMB trust " \
    "ratio (descent plot draws layers.png)")                                                       \
  X(TRAIN_CHECKPOINT_EVERY, "train.checkpoint_every", SET_INT, "1",                                \
    "epochs between checkpoints (0: only at the end)")                                             \
  X(TRAIN_TRAJECTORY, "train.trajectory", SET_BOOL, "false",                                       \
    "keep the model at the start and at every checkpoint as trajectory-<step>.safetensors (for "   \
    "descent landscape --directions=pca)")                                                         \
  X(TRAIN_STOP_AFTER, "train.stop_after", SET_INT, "0",                                            \
    "stop after this many epochs in this invocation, resumable with --resume (0: run all)")        \
  X(TRAIN_PROGRESS, "train.progress", SET_STR, "auto", "progress output: auto, bar, plain, none")  \
  X(DIST_BUCKET_MB, "dist.bucket_mb", SET_FLOAT, "1",                                              \
    "mpirun: MiB of gradients per allreduce bucket")                                               \
  X(DIST_TIMEOUT, "dist.timeout", SET_FLOAT, "300",                                                \
    "mpirun: a rank waiting this many seconds for the others stops the job with a message (0: "    \
    "never)")

typedef enum {
#define CLI_SET_ENUM(id, key, type, def, help) S_##id,
  CLI_SETTINGS(CLI_SET_ENUM)
#undef CLI_SET_ENUM
      S_COUNT
} set_id;

#define CLI_MAX_EXTRA 32
#define CLI_VALUE_MAX 512

/* Resolved settings: one text value per table entry plus extra optim./sched. keywords. */
typedef struct {
  char value[S_COUNT][CLI_VALUE_MAX];
  int n_extra;
  char extra_key[CLI_MAX_EXTRA][64];
  char extra_value[CLI_MAX_EXTRA][CLI_VALUE_MAX];
} settings;

/* All defaults. */
void settings_init(settings *s);
/* Sets key to value after checking the value against the key's type. Errors (ds_last_error)
 * name the key: unknown key, invalid number, ... Returns 0 or a negative status. */
int settings_set(settings *s, const char *key, const char *value);
/* Reads an INI file ([section] key = value) into s. Errors name the file, line and key. */
int settings_load_ini(settings *s, const char *path);
/* Parses settings from a string holding INI text (checkpoint metadata). */
int settings_load_ini_string(settings *s, const char *text, const char *what);
/* Writes s as INI text with a comment per key (the help). */
void settings_write_ini(const settings *s, FILE *f);
/* Prints every key with its type, default and meaning. */
void settings_help(FILE *f);

/* Typed accessors (values were validated when set). */
const char *set_str(const settings *s, set_id id);
int64_t set_int(const settings *s, set_id id);
double set_num(const settings *s, set_id id);
bool set_bool(const settings *s, set_id id);
const char *set_key(set_id id);

/* Command-line parsing: --key=value, --key value, short aliases (--lr, --opt, --epochs, ...),
 * plus --config FILE and --resume RUN_DIR (returned, not stored). Flags override the file:
 * resume's config, then --config, then the flags. help is set for --help/-h. */
typedef struct {
  const char *config;
  const char *resume;
  bool help;
  bool overwrite; /* --overwrite: an existing run directory may be written into */
} cli_flags;
int settings_parse_args(settings *s, int argc, char **argv, cli_flags *flags);

#endif
