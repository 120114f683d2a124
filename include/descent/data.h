/* descent — datasets and the batch loader.
 *
 * A dataset is one split held in memory: images as bytes (converted per batch), tabular features
 * as float32, class labels (current and clean) or regression targets. The usual pipeline:
 *
 * Example (given seed, ratios, xb, yb):
 *   ds_dataset *train, *test, *tr, *val;
 *   ds_dataset_load("fashion-mnist", NULL, &train, &test);        // or digits, csv, moons, ...
 *   ds_dataset_imbalance(train, ratios, 10, seed);                // optional: subsample classes
 *   ds_dataset_split(train, 0.1, seed, &tr, &val);                // optional: validation split
 *   ds_dataset_add_label_noise(tr, DS_NOISE_SYMMETRIC, 0.4, seed); // optional: corrupt labels
 *   ds_dataset_compute_norm(tr);                                  // mean/std of the training split
 *   ds_dataset_copy_norm(test, tr);                               // ... applied to every split
 *   ds_loader *l = ds_loader_new(tr, &(ds_loader_options){.batch = 128, .shuffle = true});
 *   for (int64_t b; (b = ds_loader_next(l, xb, yb)) > 0;) {}      // one epoch; xb (b, sample), yb
 * (b)
 *
 * All randomness comes from ds_rng streams seeded by (seed, purpose): synthetic generation
 * (DS_RNG_DATA), label noise (DS_RNG_NOISE), shuffling (DS_RNG_SHUFFLE), augmentation, splits
 * and imbalance (DS_RNG_AUGMENT, DS_RNG_SPLIT, DS_RNG_IMBALANCE below). Same seed, same data. */
#ifndef DESCENT_DATA_H
#define DESCENT_DATA_H
#include "export.h"
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "rng.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

/* Group ids of samples (ds_dataset.groups) lie in 0..DS_MAX_GROUPS-1. */
#define DS_MAX_GROUPS 4096

/* Purposes of the data layer's generators beyond those in rng.h. */
enum { DS_RNG_AUGMENT = 101, DS_RNG_SPLIT = 102, DS_RNG_IMBALANCE = 103 };

/* ---- datasets ---------------------------------------------------------------------------- */

/* One split, in memory. Exactly one of u8 / f32 holds the samples, exactly one of labels /
 * targets the supervision. Samples are row-major (n, sample_shape). The normalisation maps a raw
 * value v of channel c to (v / u8_max - mean[c]) / std[c] (bytes) or (v - mean[c]) / std[c]
 * (floats); scale/shift hold the same map as v * scale[c] + shift[c]. Channels are dimension 0
 * of the sample: C for (C, H, W) images, every feature for (K) tabular data. Owned by the caller
 * of the function that created it; release with ds_dataset_free. Treat fields as read-only and
 * change them through the functions below. */
typedef struct ds_dataset {
  char name[DS_NAME_MAX]; /* "fashion-mnist/train", "digits/test", ... */
  int64_t n;              /* samples */
  ds_shape sample_shape;  /* (C, H, W) images, (K) tabular */
  int64_t sample_numel;   /* elements per sample */
  uint8_t *u8;            /* (n, sample) bytes, or NULL */
  float u8_max;           /* the byte value that converts to 1.0 (255 images, 16 digits) */
  float *f32;             /* (n, sample) features, or NULL */
  int n_classes;          /* classes, 0 for regression */
  int32_t *labels;        /* (n) current labels, maybe noisy; NULL for regression */
  int32_t *clean_labels;  /* (n) labels before noise injection */
  float *targets;         /* (n) regression targets, or NULL */
  int32_t *groups;        /* (n) each sample's group (e.g. a protected attribute: hierarchical
                             TERM's groups, per-group accuracy), or NULL; ds_dataset_set_groups */
  int n_groups;           /* 1 + the largest group id; 0 without groups */
  int channels;           /* normalisation channels = sample_shape.dim[0] */
  bool normalized;        /* mean/std set (otherwise mean 0, std 1) */
  float *mean, *std;      /* (channels) in converted units: bytes divided by u8_max */
  float *scale, *shift;   /* (channels) derived: x = raw * scale + shift */
} ds_dataset;

/* Options of ds_dataset_load; fields a dataset does not use are ignored. */
typedef struct {
  const char *path;        /* file or directory; NULL: the dataset's default location */
  const char *test_path;   /* csv: separate test file; NULL: hold out test_fraction of path */
  double test_fraction;    /* csv, digits: share held out as the test split (default 0.2) */
  int label_column;        /* csv: column of the label or target, -1 = last (default) */
  int header;              /* csv: 1 first row is a header, 0 it is data, -1 auto (default) */
  char delimiter;          /* csv: field separator (default ',') */
  bool regression;         /* csv: the target is real-valued, not a class index */
  int64_t n_train, n_test; /* synthetic: samples per split (default 1000 and 1000) */
  int n_classes;           /* blobs, spirals: classes (default 3); moons always has 2 */
  int n_features;          /* blobs, regression: input dimensions (default 2) */
  double noise;            /* synthetic: noise standard deviation; < 0: the dataset's default */
  double
      outlier_fraction; /* regression: share of training targets given a gross error (default 0) */
  uint64_t seed;        /* synthetic generation and csv/digits test split (default 0) */
  const char *group_column; /* csv: the header name of a column holding each sample's group,
                               taken out of the features into ds_dataset.groups: whole numbers
                               0..DS_MAX_GROUPS-1 are the ids, any other values are numbered in
                               sorted (byte) order. NULL: none (other datasets: must be NULL) */
  int64_t context;          /* text: characters a model sees per sample (default 128) */
} ds_data_options;

/* The defaults listed above. */
ds_data_options ds_data_options_default(void);

/* The dataset names, NULL-terminated; *count (if not NULL) receives their number. Static. */
const char *const *ds_dataset_names(int *count);

/* Loads dataset `name` (see ds_dataset_names) into a train and a test split.
 *   fashion-mnist  IDX files in opt->path (default /usr/share/datasets/fashion-mnist), 1x28x28 u8
 *   mnist          the same layout (default /usr/share/datasets/mnist)
 *   digits         scikit-learn's 8x8 digits CSV (default its Debian location), 1x8x8 u8 in 0..16
 *   csv            opt->path (plain or gzipped), numeric fields; label/target column; regression;
 *                  optionally a named group column (opt->group_column, any text)
 *   text           a character corpus: opt->path is files and/or directories separated by commas
 *                  (a directory contributes its files without '.' in the name, in name order;
 *                  default /usr/share/games/fortunes, Debian's fortunes). Vocabulary: the
 *                  corpus's distinct bytes in increasing order (ds_text_vocab), n_classes = their
 *                  count. Test split: the last test_fraction of the corpus, contiguous. Samples:
 *                  windows of context + 1 vocabulary indices (u8, u8_max 1: the loader yields
 *                  the indices as floats) starting every context characters; labels 0.
 *   moons, spirals, blobs, regression  synthetic, generated from opt->seed
 * opt NULL means defaults. On success the caller owns *train and *test (ds_dataset_free); on
 * failure both are left NULL and the message names the file, line or option at fault. */
ds_status ds_dataset_load(const char *name, const ds_data_options *opt, ds_dataset **train,
                          ds_dataset **test);

/* The vocabulary of the text dataset at path (as ds_data_options.path for "text"; NULL: the
 * default corpus): its distinct bytes in increasing order in chars[0..*count); sample value v
 * stands for byte chars[v]. */
ds_status ds_text_vocab(const char *path, uint8_t chars[256], int *count);

/* A new dataset of n samples of sample_shape for the caller to fill: bytes (u8 true; u8_max 255:
 * to change it, set it and then call ds_dataset_set_norm, which refreshes scale) or floats (f32),
 * classification with n_classes >= 2 (fill labels and an identical clean_labels) or regression with
 * n_classes = 0 (fill targets). Storage is zeroed; normalisation is the identity. NULL on error.
 * Caller owns it. */
ds_dataset *ds_dataset_new(const char *name, int64_t n, ds_shape sample_shape, bool u8,
                           int n_classes);

/* Sets d's per-sample groups to a copy of groups[0..d->n) (ids in 0..DS_MAX_GROUPS-1; n_groups
 * becomes 1 + the largest), or removes them (groups NULL). Subsets, splits and imbalance keep
 * them. An id out of range is DS_EINVAL naming the sample; d is then unchanged. */
ds_status ds_dataset_set_groups(ds_dataset *d, const int32_t *groups);

/* Releases a dataset (NULL is fine). */
void ds_dataset_free(ds_dataset *d);

/* A new dataset holding samples idx[0..count) of d, in that order (labels, clean labels, targets
 * and normalisation copied), named `name` (NULL: d's name). NULL on error. Caller owns it. */
ds_dataset *ds_dataset_subset(const ds_dataset *d, const int64_t *idx, int64_t count,
                              const char *name);

/* Splits d into *rest and *held_out (fraction of the samples; stratified per class, exact total
 * round(fraction * n) by largest remainders). Both keep d's sample order; names get "/split" and
 * "/held" suffixes. Random choice from (seed, DS_RNG_SPLIT). d is unchanged. Caller owns both. */
ds_status ds_dataset_split(const ds_dataset *d, double fraction, uint64_t seed, ds_dataset **rest,
                           ds_dataset **held_out);

/* Writes the per-class sample counts of the current labels into counts[0..n_classes).
 * Returns n_classes, or a negative status (regression data, NULL arguments). */
int ds_dataset_class_counts(const ds_dataset *d, int64_t *counts);

/* ---- label noise and class imbalance -------------------------------------------------------- */

typedef enum {
  DS_NOISE_SYMMETRIC = 0, /* a corrupted label becomes one of the other C-1 classes, uniformly */
  DS_NOISE_PAIR,          /* class c becomes c+1 mod C (pair flipping; "asymmetric") */
  DS_NOISE_UNIFORM        /* a corrupted label is redrawn from all C classes (may stay right) */
} ds_noise_kind;

/* Parses "symmetric" ("sym"), "pair" ("asymmetric", "asym"), "uniform" ("random"). */
ds_status ds_noise_kind_parse(const char *s, ds_noise_kind *out);

/* Corrupts exactly round(rate * n_c) labels of every clean class c, chosen from (seed,
 * DS_RNG_NOISE). Starts from the clean labels, so it replaces earlier noise; rate 0 restores them.
 * Clean labels are kept for clean-label metrics. rate in [0, 1]. */
ds_status ds_dataset_add_label_noise(ds_dataset *d, ds_noise_kind kind, double rate, uint64_t seed);

/* Number of samples whose label differs from the clean label (0 for regression). */
int64_t ds_dataset_noisy_count(const ds_dataset *d);

/* Subsamples class c to round(ratios[c] * n_c) samples (at least 1 when ratios[c] > 0), chosen
 * from (seed, DS_RNG_IMBALANCE); sample order is kept. ratios has n_ratios = n_classes entries
 * in [0, 1]. Shrinks d in place. */
ds_status ds_dataset_imbalance(ds_dataset *d, const double *ratios, int n_ratios, uint64_t seed);

/* Fills ratios[0..n_classes) with a standard long-tail profile of imbalance factor
 * rho = n_max / n_min >= 1: "exp" ratios[c] = rho^(-c / (C-1)) (Cui et al. 2019), "step" 1 for
 * the first half of the classes and 1/rho for the rest (Buda et al. 2018). */
ds_status ds_imbalance_ratios(const char *profile, double rho, int n_classes, double *ratios);

/* ---- normalisation ------------------------------------------------------------------------ */

/* Computes per-channel mean and (population) standard deviation over d, in converted units
 * (bytes / u8_max), accumulated in double, and sets them as d's normalisation. A channel with
 * std 0 gets std 1. */
ds_status ds_dataset_compute_norm(ds_dataset *d);

/* Sets d's normalisation to mean[0..channels), std[0..channels) (std > 0); channels must equal
 * d->channels. mean = std = NULL removes it (identity). */
ds_status ds_dataset_set_norm(ds_dataset *d, const float *mean, const float *std, int channels);

/* Copies src's normalisation to dst (same channel count), e.g. training statistics to test. */
ds_status ds_dataset_copy_norm(ds_dataset *dst, const ds_dataset *src);

/* Augmentation of one image sample: shift by (dy, dx) pixels (zero fill) and horizontal flip. */
typedef struct {
  int dy, dx;
  bool flip;
} ds_augment;
/* Converts sample i (0 <= i < d->n, unchecked: the batch loaders' inner loop) of d into x
 * (sample_numel floats) with d's normalisation; aug NULL: none (otherwise d holds images). */
void ds_dataset_convert(const ds_dataset *d, int64_t i, const ds_augment *aug, float *x);

/* Converts samples idx[0..count) to floats with d's normalisation, no augmentation:
 * x (count, sample_numel), y (count) class indices as floats or regression targets. Either output
 * may be NULL. Caller provides the buffers; nothing is allocated. */
ds_status ds_dataset_get(const ds_dataset *d, const int64_t *idx, int64_t count, float *x,
                         float *y);

/* ---- the IDX format (MNIST's files), public for tests and tools ---------------------------- */

/* An IDX array of unsigned bytes: rank 1..4, dims, and size = prod(dims) bytes of data. */
typedef struct {
  int rank;
  int64_t dim[DS_MAX_RANK];
  int64_t size;
  uint8_t *data; /* owned; release with ds_idx_free */
} ds_idx;

/* Reads an IDX file of unsigned bytes (type 0x08), gzipped or plain. Checks the magic, the rank,
 * that the data length equals the header's dims exactly, and the gzip stream's integrity
 * (truncation and CRC). On success fills *out (caller frees with ds_idx_free); on error *out is
 * zeroed and the message names the file. */
ds_status ds_idx_read(const char *path, ds_idx *out);
/* Releases idx->data and zeroes *idx. */
void ds_idx_free(ds_idx *idx);

/* ---- the loader ------------------------------------------------------------------------- */

typedef struct ds_loader ds_loader;

typedef struct {
  int64_t batch;    /* samples per batch (default 128) */
  bool shuffle;     /* a new random order every epoch (default true) */
  bool drop_last;   /* skip the final partial batch (default false) */
  int crop_padding; /* random crop: pad by p zero pixels, crop back to H x W (0 = off, default) */
  bool hflip;       /* random horizontal flip with probability 1/2 (default false) */
  uint64_t seed;    /* seeds the (seed, DS_RNG_SHUFFLE) and (seed, DS_RNG_AUGMENT) streams */
  /* Data parallelism (dist.h): of every batch of `batch` samples (the global batch, divisible by
   * shard_count) this loader returns the shard_rank-th of shard_count equal, disjoint, contiguous
   * shares. Every shard draws the same order and the augmentation of every sample of the batch,
   * so the shards together are exactly the unsharded loader's batch, and the state (position in
   * global samples) is the same for any shard_count. A final partial batch is split as evenly as
   * possible; one smaller than shard_count is dropped. 0 or 1: no sharding. */
  int shard_rank, shard_count;
} ds_loader_options;

/* Defaults: batch 128, shuffle, keep the last partial batch, no augmentation, seed 0, no
 * sharding. */
ds_loader_options ds_loader_options_default(void);

/* A loader over d (which must outlive it and keep its size). Augmentation needs (C, H, W)
 * samples. The first epoch's order is drawn here. NULL on error. Free with ds_loader_free. */
ds_loader *ds_loader_new(const ds_dataset *d, const ds_loader_options *opt);
/* Releases the loader (not its dataset). NULL is fine. */
void ds_loader_free(ds_loader *l);

/* Writes the next batch: x (b, sample_numel) normalised (and augmented) floats, y (b) class
 * indices as floats or regression targets; either may be NULL. Returns b > 0, or 0 once at the
 * end of an epoch, after which the next call starts a new epoch (and a new order); negative
 * status on error. Buffers hold at least batch samples; nothing is allocated. */
int64_t ds_loader_next(ds_loader *l, float *x, float *y);

/* Dataset indices of the samples of the last batch (b of them, this shard's), valid until the next
 * call. For metrics that look up clean labels of noisy samples. */
const int64_t *ds_loader_indices(const ds_loader *l);

/* The current epoch's sample order (n entries). Owned by the loader. */
const int64_t *ds_loader_order(const ds_loader *l);

/* Batches returned per epoch. */
int64_t ds_loader_batches_per_epoch(const ds_loader *l);
/* The largest batch it returns: the batch size it was created with, divided by shard_count. */
int64_t ds_loader_batch(const ds_loader *l);
/* Samples of the current epoch not yet returned, over all shards (0 when the epoch has ended). */
int64_t ds_loader_left(const ds_loader *l);
/* Samples the next ds_loader_next call will return: 0 when the epoch has ended. */
int64_t ds_loader_next_size(const ds_loader *l);
/* The dataset it serves (borrowed). */
const ds_dataset *ds_loader_dataset(const ds_loader *l);

/* The loader's complete state, as plain numbers, for checkpoints. The epoch's order is
 * regenerated from order_rng, so no array needs saving. */
typedef struct {
  int64_t epoch;      /* completed epochs */
  int64_t position;   /* samples of the current epoch already returned */
  ds_rng order_rng;   /* shuffle generator as it was before drawing the current epoch's order */
  ds_rng augment_rng; /* augmentation generator, current */
} ds_loader_state;

/* Reads the state; a loader restored with it continues bitwise-identically. */
void ds_loader_get_state(const ds_loader *l, ds_loader_state *s);
/* Checks that s fits this loader (epoch >= 0, position a batch boundary within the epoch)
 * without changing anything; errors name the loader's dataset and the bad value. */
ds_status ds_loader_check_state(const ds_loader *l, const ds_loader_state *s);
/* Restores a state taken from a loader with the same dataset size and options. A state of the
 * current epoch (e.g. taken before the batches of a step, to serve them again) keeps the epoch's
 * order and costs nothing; another epoch's order is regenerated (O(n)). */
ds_status ds_loader_set_state(ds_loader *l, const ds_loader_state *s);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
