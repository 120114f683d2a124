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
    for (int k = 0; k < 16; k++)
      acc[k] += x[i + k];
  double s = 0;
  for (int k = 0; k < 16; k++)
    s += acc[k];
  for (; i < n; i++)
    s += x[i];
  return s;
}

/* Shifted sums of n floats: *s1 = sum (x - k), *s2 = sum (x - k)^2, in 16 float lanes added in
 * double (as ds__sum16). A shift near the mean keeps E[d^2] - E[d]^2 free of cancellation. Two
 * plain lane loops (the second reads from L1 for rows of a few thousand floats) vectorise
 * cleanly, where one loop carrying both sums does not. */
static inline void ds__shifted_sums16(const float *x, int64_t n, float k, double *s1, double *s2) {
  float a1[16] = {0}, a2[16] = {0};
  const int64_t m = n & ~(int64_t)15;
  for (int64_t i = 0; i < m; i += 16)
    for (int l = 0; l < 16; l++)
      a1[l] += x[i + l] - k;
  for (int64_t i = 0; i < m; i += 16)
    for (int l = 0; l < 16; l++)
      a2[l] += (x[i + l] - k) * (x[i + l] - k);
  double r1 = 0, r2 = 0;
  for (int l = 0; l < 16; l++)
    r1 += a1[l], r2 += a2[l];
  for (int64_t i = m; i < n; i++) {
    double d = (double)x[i] - k;
    r1 += d, r2 += d * d;
  }
  *s1 = r1, *s2 = r2;
}

/* *s1 = sum dy, *s2 = sum dy (x - m) over n floats, in 16 float lanes added in double. */
static inline void ds__dot_sums16(const float *dy, const float *x, int64_t n, float m, double *s1,
                                  double *s2) {
  float a1[16] = {0}, a2[16] = {0};
  const int64_t e = n & ~(int64_t)15;
  for (int64_t i = 0; i < e; i += 16)
    for (int l = 0; l < 16; l++)
      a1[l] += dy[i + l];
  for (int64_t i = 0; i < e; i += 16)
    for (int l = 0; l < 16; l++)
      a2[l] += dy[i + l] * (x[i + l] - m);
  double r1 = 0, r2 = 0;
  for (int l = 0; l < 16; l++)
    r1 += a1[l], r2 += a2[l];
  for (int64_t i = e; i < n; i++) {
    r1 += dy[i];
    r2 += (double)dy[i] * ((double)x[i] - m);
  }
  *s1 = r1, *s2 = r2;
}

#endif
