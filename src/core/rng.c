/* xoshiro256** (Blackman & Vigna) seeded with splitmix64 from (seed, purpose). */
#include <math.h>

#include "descent/rng.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void ds_rng_seed(ds_rng *r, uint64_t seed, uint64_t purpose) {
  uint64_t x = seed ^ (purpose * 0xd1b54a32d192ed03ULL);
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&x);
}

uint64_t ds_rng_u64(ds_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

float ds_rng_uniform(ds_rng *r) { return (float)(ds_rng_u64(r) >> 40) * 0x1.0p-24f; }

double ds_rng_uniform_d(ds_rng *r) { return (double)(ds_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t ds_rng_below(ds_rng *r, uint64_t n) {
  /* Lemire's nearly-divisionless method with rejection for exact uniformity. */
  uint64_t x = ds_rng_u64(r);
  __uint128_t m = (__uint128_t)x * n;
  uint64_t l = (uint64_t)m;
  if (l < n) {
    uint64_t t = -n % n;
    while (l < t) {
      x = ds_rng_u64(r);
      m = (__uint128_t)x * n;
      l = (uint64_t)m;
    }
  }
  return (uint64_t)(m >> 64);
}

double ds_rng_normal(ds_rng *r) {
  double u1 = ds_rng_uniform_d(r), u2 = ds_rng_uniform_d(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void ds_rng_shuffle(ds_rng *r, int64_t *idx, int64_t n) {
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)ds_rng_below(r, (uint64_t)i + 1);
    int64_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}
