/* Shared test helpers: fixture loading, tolerant comparison, finite-difference gradient checks. */
#ifndef DESCENT_TESTUTIL_H
#define DESCENT_TESTUTIL_H
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "descent/descent.h"

/* Reads a whole JSON file (path relative to tests/); NULL and a printed message on failure. */
cJSON *tu_load_json(const char *path);
/* Copies a JSON number array into out (at most n); returns the count read, -1 if not an array. */
int64_t tu_json_floats(const cJSON *arr, float *out, int64_t n);
/* Counts |a_i - b_i| > atol + rtol |b_i|; prints the first few mismatches, prefixed by what. */
int64_t tu_mismatches(const char *what, const float *a, const float *b, int64_t n, double atol,
                      double rtol);

/* Finite-difference check of a compiled graph. Fills the seeding weights of the per-sample losses
 * with random values (so no symmetry hides an error), then for every parameter element and every
 * element of inputs that require grad compares the analytic gradient with the central difference
 * (f(x+eps) - f(x-eps)) / 2eps computed in double over the float forward. Returns the number of
 * mismatches beyond atol + rtol*|fd| (and prints the first). max_per_tensor > 0 samples that many
 * elements of each tensor, spread evenly. */
int64_t tu_gradcheck(ds_graph *g, double eps, double atol, double rtol, int64_t max_per_tensor);

/* A fresh directory /tmp/ds_test_<tag>_XXXXXX for a test program's files (tu_tmpdir: its path,
 * valid until tu_tmpdir_remove). cmocka group setup/teardown style: 0 on success. */
int tu_tmpdir_make(const char *tag);
const char *tu_tmpdir(void);
int tu_tmpdir_remove(void);

/* Fills n floats uniformly in [lo, hi) from a seeded stream. */
void tu_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed);

#endif
