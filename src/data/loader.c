/* The batch loader: a per-epoch sample order (Fisher-Yates from the shuffle stream, like
 * PyTorch's RandomSampler drawing a fresh permutation each epoch), conversion into caller
 * buffers, and per-sample augmentation draws (dy, dx, flip, in that order) from its own stream.
 * Its state is a few numbers: the order is regenerated from the shuffle stream's state at the
 * start of the epoch. */
#include <string.h>

#include "descent/alloc.h"
#include "descent/data.h"

struct ds_loader {
  const ds_dataset *d;
  ds_loader_options opt;
  int64_t n, limit; /* samples in the dataset; samples served per epoch */
  int64_t *order;   /* (n) this epoch's order */
  int64_t epoch, position;
  int64_t last_start; /* first position of the last batch */
  int64_t last_lo;    /* this shard's first sample within the last batch */
  int shard, shards;  /* shard_rank, shard_count (>= 1) */
  ds_rng order_start; /* shuffle stream before drawing this epoch's order */
  ds_rng order_rng;   /* shuffle stream after it */
  ds_rng aug_rng;
};

ds_loader_options ds_loader_options_default(void) {
  return (ds_loader_options){.batch = 128,
                             .shuffle = true,
                             .drop_last = false,
                             .crop_padding = 0,
                             .hflip = false,
                             .seed = 0,
                             .shard_rank = 0,
                             .shard_count = 1};
}

/* Draws the order of the epoch from order_rng (saved first as order_start). */
static void begin_epoch(ds_loader *l) {
  l->order_start = l->order_rng;
  for (int64_t i = 0; i < l->n; i++)
    l->order[i] = i;
  if (l->opt.shuffle) ds_rng_shuffle(&l->order_rng, l->order, l->n);
  l->position = 0;
  l->last_start = 0;
  l->last_lo = 0;
}

/* This shard's share [lo, hi) of a global batch of b samples. */
static void share(const ds_loader *l, int64_t b, int64_t *lo, int64_t *hi) {
  *lo = b * l->shard / l->shards;
  *hi = b * (l->shard + 1) / l->shards;
}

ds_loader *ds_loader_new(const ds_dataset *d, const ds_loader_options *opt) {
  ds_loader_options def = ds_loader_options_default();
  if (!opt) opt = &def;
  if (!d) {
    ds_set_error(DS_EINVAL, "loader: NULL dataset");
    return NULL;
  }
  if (d->n < 1) {
    ds_set_error(DS_EINVAL, "loader: dataset '%s' is empty", d->name);
    return NULL;
  }
  if (opt->batch < 1) {
    ds_set_error(DS_EINVAL, "loader for '%s': batch %lld must be >= 1", d->name,
                 (long long)opt->batch);
    return NULL;
  }
  if (opt->drop_last && opt->batch > d->n) {
    ds_set_error(DS_EINVAL, "loader for '%s': batch %lld exceeds the %lld samples with drop_last",
                 d->name, (long long)opt->batch, (long long)d->n);
    return NULL;
  }
  if (opt->crop_padding || opt->hflip) {
    char buf[64];
    if (d->sample_shape.rank != 3) {
      ds_set_error(DS_EINVAL, "loader for '%s': augmentation needs (C, H, W) samples, not %s",
                   d->name, ds_shape_str(&d->sample_shape, buf, sizeof buf));
      return NULL;
    }
    int64_t lim = d->sample_shape.dim[1] < d->sample_shape.dim[2] ? d->sample_shape.dim[1]
                                                                  : d->sample_shape.dim[2];
    if (opt->crop_padding < 0 || opt->crop_padding > lim) {
      ds_set_error(DS_EINVAL, "loader for '%s': crop padding %d not in 0..%lld", d->name,
                   opt->crop_padding, (long long)lim);
      return NULL;
    }
  }
  int shards = opt->shard_count > 1 ? opt->shard_count : 1;
  if (opt->shard_count < 0 || opt->shard_rank < 0 ||
      (opt->shard_rank >= shards && opt->shard_rank)) {
    ds_set_error(DS_EINVAL, "loader for '%s': shard %d of %d is not a shard", d->name,
                 opt->shard_rank, opt->shard_count);
    return NULL;
  }
  if (opt->batch % shards) {
    ds_set_error(DS_EINVAL,
                 "loader for '%s': the global batch of %lld is not divisible by the %d processes",
                 d->name, (long long)opt->batch, shards);
    return NULL;
  }
  ds_loader *l = ds_calloc(1, sizeof *l);
  if (!l) return NULL;
  l->shard = opt->shard_rank;
  l->shards = shards;
  l->order = ds_malloc((size_t)d->n * sizeof(int64_t));
  if (!l->order) {
    ds_free(l);
    return NULL;
  }
  l->d = d;
  l->opt = *opt;
  l->n = d->n;
  l->limit = opt->drop_last ? d->n - d->n % opt->batch : d->n;
  if (l->limit % opt->batch < shards)
    l->limit -= l->limit % opt->batch; /* a tail some shard lacks */
  ds_rng_seed(&l->order_rng, opt->seed, DS_RNG_SHUFFLE);
  ds_rng_seed(&l->aug_rng, opt->seed, DS_RNG_AUGMENT);
  begin_epoch(l);
  return l;
}

void ds_loader_free(ds_loader *l) {
  if (!l) return;
  ds_free(l->order);
  ds_free(l);
}

int64_t ds_loader_next(ds_loader *l, float *x, float *y) {
  if (!l) return ds_set_error(DS_EINVAL, "loader next: NULL loader");
  const ds_dataset *d = l->d;
  if (d->n != l->n)
    return ds_set_error(DS_ESTATE, "loader for '%s': dataset changed size (%lld -> %lld samples)",
                        d->name, (long long)l->n, (long long)d->n);
  if (l->position >= l->limit) {
    l->epoch++;
    begin_epoch(l);
    return 0;
  }
  int64_t b = l->limit - l->position < l->opt.batch ? l->limit - l->position : l->opt.batch;
  const int64_t *idx = l->order + l->position;
  bool augment = l->opt.crop_padding > 0 || l->opt.hflip;
  int p = l->opt.crop_padding;
  int64_t lo, hi;
  share(l, b, &lo, &hi);
  /* every shard draws the augmentation of the whole batch, so the stream is shard-independent */
  for (int64_t k = augment ? 0 : lo; k < hi; k++) {
    float *xk = x && k >= lo ? x + (k - lo) * d->sample_numel : NULL;
    if (augment) {
      ds_augment a = {0, 0, false};
      if (p > 0) {
        a.dy = (int)ds_rng_below(&l->aug_rng, 2 * (uint64_t)p + 1) - p;
        a.dx = (int)ds_rng_below(&l->aug_rng, 2 * (uint64_t)p + 1) - p;
      }
      if (l->opt.hflip) a.flip = ds_rng_below(&l->aug_rng, 2) == 1;
      if (xk) ds_dataset_convert(d, idx[k], &a, xk);
    } else if (xk) {
      ds_dataset_convert(d, idx[k], NULL, xk);
    }
    if (y && k >= lo) y[k - lo] = d->labels ? (float)d->labels[idx[k]] : d->targets[idx[k]];
  }
  for (int64_t k = hi; augment && k < b; k++) { /* the later shards' draws */
    if (p > 0) {
      ds_rng_below(&l->aug_rng, 2 * (uint64_t)p + 1);
      ds_rng_below(&l->aug_rng, 2 * (uint64_t)p + 1);
    }
    if (l->opt.hflip) ds_rng_below(&l->aug_rng, 2);
  }
  l->last_start = l->position;
  l->last_lo = lo;
  l->position += b;
  return hi - lo;
}

const int64_t *ds_loader_indices(const ds_loader *l) {
  return l ? l->order + l->last_start + l->last_lo : NULL;
}

const int64_t *ds_loader_order(const ds_loader *l) { return l ? l->order : NULL; }

int64_t ds_loader_batch(const ds_loader *l) { return l ? l->opt.batch / l->shards : 0; }
const ds_dataset *ds_loader_dataset(const ds_loader *l) { return l ? l->d : NULL; }
int64_t ds_loader_left(const ds_loader *l) {
  return !l || l->position >= l->limit ? 0 : l->limit - l->position;
}

int64_t ds_loader_next_size(const ds_loader *l) {
  if (!l) return 0;
  int64_t left = l->limit - l->position, lo, hi;
  share(l, left <= 0 ? 0 : left < l->opt.batch ? left : l->opt.batch, &lo, &hi);
  return hi - lo;
}

int64_t ds_loader_batches_per_epoch(const ds_loader *l) {
  return l ? (l->limit + l->opt.batch - 1) / l->opt.batch : 0;
}

void ds_loader_get_state(const ds_loader *l, ds_loader_state *s) {
  if (!l || !s) return;
  s->epoch = l->epoch;
  s->position = l->position;
  s->order_rng = l->order_start;
  s->augment_rng = l->aug_rng;
}

ds_status ds_loader_check_state(const ds_loader *l, const ds_loader_state *s) {
  if (!l || !s) return ds_set_error(DS_EINVAL, "loader state: NULL argument");
  if (s->epoch < 0 || s->position < 0 || s->position > l->limit)
    return ds_set_error(
        DS_EINVAL, "loader for '%s': state epoch %lld position %lld outside 0..%lld", l->d->name,
        (long long)s->epoch, (long long)s->position, (long long)l->limit);
  if (s->position % l->opt.batch != 0 && s->position != l->limit)
    return ds_set_error(DS_EINVAL,
                        "loader for '%s': state position %lld is not a batch boundary (batch %lld)",
                        l->d->name, (long long)s->position, (long long)l->opt.batch);
  return DS_OK;
}

ds_status ds_loader_set_state(ds_loader *l, const ds_loader_state *s) {
  ds_status st = ds_loader_check_state(l, s);
  if (st) return st;
  if (s->epoch != l->epoch || memcmp(&s->order_rng, &l->order_start, sizeof(ds_rng))) {
    l->order_rng = s->order_rng;
    begin_epoch(l); /* a state of the current epoch keeps its order: a cheap rewind */
  }
  l->epoch = s->epoch;
  l->position = s->position;
  l->aug_rng = s->augment_rng;
  return DS_OK;
}
