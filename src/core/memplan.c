/* Greedy-by-size placement of buffers with lives over intervals of steps (memplan.h). */
#include "core/memplan.h"

#include <stdbool.h>
#include <stdlib.h>

#include "descent/alloc.h"

/* Buffers living at most SHORT_LIFE steps are found through the step their life starts at (a
 * buffer overlapping one that starts at step s starts no earlier than s - SHORT_LIFE); the longer
 * lived, few in a graph (inputs' gradients, long skip connections), are all checked. */
#define SHORT_LIFE 64

typedef struct {
  int64_t size;
  int32_t life, idx;
} order_key;

typedef struct {
  int64_t begin, end; /* floats [begin, end) of a buffer already placed */
} span;

static int by_size(const void *pa, const void *pb) {
  const order_key *a = pa, *b = pb;
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
  order_key *order = ds_malloc((size_t)n * sizeof *order);
  int *by_first = ds_malloc((size_t)n * sizeof *by_first),
      *longs = ds_malloc((size_t)n * sizeof *longs);
  int *bucket = ds_calloc((size_t)steps + 2, sizeof *bucket);
  span *near = ds_malloc((size_t)n * sizeof *near);
  bool *placed = ds_calloc((size_t)n, sizeof *placed);
  ds_status st = DS_OK;
  if (!order || !by_first || !longs || !bucket || !near || !placed) {
    st = DS_ENOMEM;
    goto done;
  }
  for (int i = 0; i < n; i++)
    order[i] = (order_key){b[i].size, b[i].last - b[i].first, i};
  qsort(order, (size_t)n, sizeof *order, by_size);
  /* counting sort by first step: buffers starting at step s are by_first[bucket[s] .. bucket[s+1])
   */
  for (int i = 0; i < n; i++)
    bucket[b[i].first + 2]++;
  for (int32_t s = 2; s <= steps + 1; s++)
    bucket[s] += bucket[s - 1];
  for (int i = 0; i < n; i++)
    by_first[bucket[b[i].first + 1]++] = i;
  int n_long = 0;
  for (int k = 0; k < n; k++) {
    int i = order[k].idx;
    ds__membuf *x = &b[i];
    int m = 0;
    int32_t from = x->first > SHORT_LIFE ? x->first - SHORT_LIFE : 0;
    for (int j = bucket[from]; j < bucket[x->last + 1]; j++) {
      const ds__membuf *p = &b[by_first[j]];
      if (placed[by_first[j]] && !is_long(p) && p->last >= x->first)
        near[m++] = (span){p->offset, p->offset + p->size};
    }
    for (int j = 0; j < n_long; j++) {
      const ds__membuf *p = &b[longs[j]];
      if (p->first <= x->last && p->last >= x->first)
        near[m++] = (span){p->offset, p->offset + p->size};
    }
    qsort(near, (size_t)m, sizeof *near, by_begin);
    x->offset = best_fit(near, m, x->size);
    if (x->offset + x->size > *total) *total = x->offset + x->size;
    placed[i] = true;
    if (is_long(x)) longs[n_long++] = i;
  }
done:
  ds_free(order);
  ds_free(by_first);
  ds_free(longs);
  ds_free(bucket);
  ds_free(near);
  ds_free(placed);
  return st;
}
