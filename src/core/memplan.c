/* Greedy-by-size placement of buffers with lives over intervals of steps (memplan.h). */
#include "core/memplan.h"

#include <stdbool.h>
#include <stdlib.h>

#include "descent/alloc.h"

/* Buffers living at most SHORT_LIFE steps are found through the step their life starts at (a
 * buffer overlapping one that starts at step s starts no earlier than s - SHORT_LIFE); the longer
 * lived, few in a graph (inputs' gradients, long skip connections), are all checked. */
#define SHORT_LIFE 64

/* A placement order: by key, then size, then life (all decreasing), then index. */
typedef struct {
  int64_t key, size;
  int32_t life, idx;
} order_key;

typedef struct {
  int64_t begin, end; /* floats [begin, end) of a buffer already placed */
} span;

/* Scratch of one planning: the buffers by first step (those starting at step s are
 * by_first[bucket[s] .. bucket[s+1])), the placed long-lived ones, the placed neighbours of the
 * buffer being placed. */
typedef struct {
  order_key *order;
  int *by_first, *bucket, *longs;
  span *near;
  bool *placed;
  int64_t *best;
} plan_scratch;

static int by_key(const void *pa, const void *pb) {
  const order_key *a = pa, *b = pb;
  if (a->key != b->key) return a->key > b->key ? -1 : 1;
  if (a->size != b->size) return a->size > b->size ? -1 : 1;
  if (a->life != b->life) return a->life > b->life ? -1 : 1;
  return (a->idx > b->idx) - (a->idx < b->idx);
}
static int by_begin(const void *pa, const void *pb) {
  const span *a = pa, *b = pb;
  if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
  return (a->end > b->end) - (a->end < b->end);
}

static bool is_long(const ds__membuf *b) { return b->last - b->first > SHORT_LIFE; }

/* The offset of x: the smallest gap below the top of the placed buffers near[0..m) (sorted by
 * begin) that holds x->size floats, else that top. */
static int64_t best_fit(const span *near, int m, int64_t size) {
  int64_t best = -1, best_gap = 0, top = 0;
  for (int j = 0; j < m; j++) {
    int64_t gap = near[j].begin - top;
    if (gap >= size && (best < 0 || gap < best_gap)) best = top, best_gap = gap;
    if (near[j].end > top) top = near[j].end;
  }
  return best >= 0 ? best : top;
}

/* Places the buffers in the order of w->order; returns the region's size. */
static int64_t place(ds__membuf *b, int n, plan_scratch *w) {
  int64_t total = 0;
  int n_long = 0;
  for (int i = 0; i < n; i++)
    w->placed[i] = false;
  for (int k = 0; k < n; k++) {
    int i = w->order[k].idx;
    ds__membuf *x = &b[i];
    int m = 0;
    int32_t from = x->first > SHORT_LIFE ? x->first - SHORT_LIFE : 0;
    for (int j = w->bucket[from]; j < w->bucket[x->last + 1]; j++) {
      const ds__membuf *p = &b[w->by_first[j]];
      if (w->placed[w->by_first[j]] && !is_long(p) && p->last >= x->first)
        w->near[m++] = (span){p->offset, p->offset + p->size};
    }
    for (int j = 0; j < n_long; j++) {
      const ds__membuf *p = &b[w->longs[j]];
      if (p->first <= x->last && p->last >= x->first)
        w->near[m++] = (span){p->offset, p->offset + p->size};
    }
    qsort(w->near, (size_t)m, sizeof *w->near, by_begin);
    x->offset = best_fit(w->near, m, x->size);
    if (x->offset + x->size > total) total = x->offset + x->size;
    w->placed[i] = true;
    if (is_long(x)) w->longs[n_long++] = i;
  }
  return total;
}

ds_status ds__memplan_greedy(ds__membuf *b, int n, int64_t *total) {
  *total = 0;
  int32_t steps = 0;
  for (int i = 0; i < n; i++) {
    if (b[i].first < 0 || b[i].last < b[i].first || b[i].size < 0)
      return ds_set_error(DS_EINVAL,
                          "memory plan: buffer %d of %lld floats lives from step %d to %d", i,
                          (long long)b[i].size, b[i].first, b[i].last);
    if (b[i].last + 1 > steps) steps = b[i].last + 1;
  }
  if (n <= 0) return DS_OK;
  plan_scratch w = {
      ds_malloc((size_t)n * sizeof *w.order),         ds_malloc((size_t)n * sizeof *w.by_first),
      ds_calloc((size_t)steps + 2, sizeof *w.bucket), ds_malloc((size_t)n * sizeof *w.longs),
      ds_malloc((size_t)n * sizeof *w.near),          ds_malloc((size_t)n * sizeof *w.placed),
      ds_malloc((size_t)n * sizeof *w.best)};
  ds_status st = DS_OK;
  if (!w.order || !w.by_first || !w.bucket || !w.longs || !w.near || !w.placed || !w.best) {
    st = DS_ENOMEM;
    goto done;
  }
  for (int i = 0; i < n; i++)
    w.bucket[b[i].first + 2]++;
  for (int32_t s = 2; s <= steps + 1; s++)
    w.bucket[s] += w.bucket[s - 1];
  for (int i = 0; i < n; i++)
    w.by_first[w.bucket[b[i].first + 1]++] = i;
  /* orders: by size (TFLite's greedy by size), by size x life, by first step (a sweep over time) */
  for (int strategy = 0; strategy < 3; strategy++) {
    for (int i = 0; i < n; i++) {
      int32_t life = b[i].last - b[i].first;
      int64_t key = strategy == 0   ? b[i].size
                    : strategy == 1 ? b[i].size * (life + 1)
                                    : -(int64_t)b[i].first;
      w.order[i] = (order_key){key, b[i].size, life, i};
    }
    qsort(w.order, (size_t)n, sizeof *w.order, by_key);
    int64_t t = place(b, n, &w);
    if (strategy > 0 && t >= *total) continue;
    *total = t;
    for (int i = 0; i < n; i++)
      w.best[i] = b[i].offset;
  }
  for (int i = 0; i < n; i++)
    b[i].offset = w.best[i];
done:
  ds_free(w.order);
  ds_free(w.by_first);
  ds_free(w.bucket);
  ds_free(w.longs);
  ds_free(w.near);
  ds_free(w.placed);
  ds_free(w.best);
  return st;
}
