/* Counted allocation. Aligned to 64 bytes so flat buffers suit AVX-512 loads. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "descent/alloc.h"
#include "descent/error.h"

static atomic_uint_fast64_t n_allocs;

uint64_t ds_alloc_count(void) { return atomic_load(&n_allocs); }

void *ds_malloc(size_t bytes) {
  void *p = NULL;
  if (bytes == 0) bytes = 1;
  size_t rounded = (bytes + 63) & ~(size_t)63;
  if (rounded < bytes || posix_memalign(&p, 64, rounded) != 0) {
    ds_set_error(DS_ENOMEM, "out of memory allocating %zu bytes", bytes);
    return NULL;
  }
  atomic_fetch_add(&n_allocs, 1);
  return p;
}

void *ds_calloc(size_t count, size_t size) {
  if (size && count > SIZE_MAX / size) {
    ds_set_error(DS_ENOMEM, "allocation of %zu x %zu bytes overflows", count, size);
    return NULL;
  }
  void *p = ds_malloc(count * size);
  if (p) memset(p, 0, count * size);
  return p;
}

void *ds_realloc(void *ptr, size_t bytes) {
  void *p = realloc(ptr, bytes ? bytes : 1);
  if (!p) {
    ds_set_error(DS_ENOMEM, "out of memory reallocating %zu bytes", bytes);
    return NULL;
  }
  atomic_fetch_add(&n_allocs, 1);
  return p;
}

void ds_free(void *ptr) { free(ptr); }

char *ds_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = ds_malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}
