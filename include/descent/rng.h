/* descent — deterministic random numbers. One generator per purpose (init, shuffle, dropout,
 * noise), each seeded from the run seed and the purpose, so changing one use of randomness never
 * shifts another. Algorithm: xoshiro256** seeded through splitmix64. */
#ifndef DESCENT_RNG_H
#define DESCENT_RNG_H
#include "export.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

typedef struct {
  uint64_t s[4];
} ds_rng;

enum { DS_RNG_INIT = 1, DS_RNG_SHUFFLE = 2, DS_RNG_DROPOUT = 3, DS_RNG_NOISE = 4, DS_RNG_DATA = 5 };

/* Seeds r from (seed, purpose). Same inputs, same stream. */
void ds_rng_seed(ds_rng *r, uint64_t seed, uint64_t purpose);
uint64_t ds_rng_u64(ds_rng *r);
/* Uniform in [0, 1) with 24 (float) or 53 (double) random bits. */
float ds_rng_uniform(ds_rng *r);
double ds_rng_uniform_d(ds_rng *r);
/* Uniform integer in [0, n), unbiased. n > 0. */
uint64_t ds_rng_below(ds_rng *r, uint64_t n);
/* Standard normal (Box-Muller, double precision internally). */
double ds_rng_normal(ds_rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void ds_rng_shuffle(ds_rng *r, int64_t *idx, int64_t n);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
