/* Small reductions shared by the ops. */
#ifndef DESCENT_OPS_REDUCE_H
#define DESCENT_OPS_REDUCE_H
#include <stdint.h>

/* Sum of n floats in 16 float lanes (vectorised; each lane adds n/16 terms), lanes added in
 * double: a plain double loop would be bound by the latency of one long chain of additions. */
static inline double ds__sum16(const float *x, int64_t n) {
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; k++) acc[k] += x[i + k];
  double s = 0;
  for (int k = 0; k < 16; k++) s += acc[k];
  for (; i < n; i++) s += x[i];
  return s;
}

#endif
