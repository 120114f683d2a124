/* Offsets for buffers that are live over intervals of time, so that buffers live at the same time
 * never share memory: the graph's planner of activation-gradient memory (graph.c). Internal. */
#ifndef DESCENT_MEMPLAN_H
#define DESCENT_MEMPLAN_H
#include <stdint.h>

#include "descent/error.h"

/* One buffer: size in floats, live from step first to step last (inclusive, first <= last);
 * offset is the planner's answer. */
typedef struct {
  int64_t size;
  int32_t first, last;
  int64_t offset;
} ds__membuf;

/* Greedy placement as in the heap planners of TFLite and XLA: buffers one by one, each in the
 * smallest gap between the buffers already placed whose lives overlap its own that fits it, or
 * above all of them. Three orders are tried (decreasing size, decreasing size x life, increasing
 * first step; ties by size, life, index) and the smallest region kept. Sets every offset and
 * *total (floats of the region, the highest offset + size). Offsets are sums of sizes, so sizes
 * that are multiples of 16 give offsets that are. Time about n times the longest short life plus
 * the long-lived buffers' share; allocates scratch (DS_ENOMEM). Deterministic. */
ds_status ds__memplan_greedy(ds__membuf *b, int n, int64_t *total);

#endif
