/* Counted allocation. Aligned to 64 bytes so flat buffers suit AVX-512 loads. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "descent/alloc.h"
#include "descent/error.h"

static atomic_uint_fast64_t n_allocs;

uint64_t ds_alloc_count(void) { return atomic_load(&n_allocs); }

/* Blocks of at least this size (activation arenas, flat parameter and optimizer buffers) are
 * aligned to 2 MiB and offered to the kernel for transparent huge pages: a training step sweeps
 * hundreds of MiB, and with 4 KiB pages every sweep misses the TLB every 1024 floats. */
#define DS_HUGE_MIN ((size_t)8 << 20)
#define DS_HUGE_PAGE ((size_t)2 << 20)

void *ds_malloc(size_t bytes) {
  void *p = NULL;
  if (bytes == 0) bytes = 1;
  const bool huge = bytes >= DS_HUGE_MIN;
  const size_t align = huge ? DS_HUGE_PAGE : 64;
  size_t rounded = (bytes + align - 1) & ~(align - 1);
  if (rounded < bytes || posix_memalign(&p, align, rounded) != 0) {
    ds_set_error(DS_ENOMEM, "out of memory allocating %zu bytes", bytes);
    return NULL;
  }
#ifdef MADV_HUGEPAGE
  if (huge) (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
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
