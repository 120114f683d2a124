/* descent — the one place memory is allocated, so it can be counted (tests assert that a
 * training step allocates nothing) and swapped. All library allocations go through here. */
#ifndef DESCENT_ALLOC_H
#define DESCENT_ALLOC_H
#include "export.h"
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

/* malloc/calloc/realloc/free counterparts; ds_malloc returns 64-byte aligned memory.
 * On failure they return NULL and set ds_last_error(). Caller owns the result; release with
 * ds_free. */
void *ds_malloc(size_t bytes);
void *ds_calloc(size_t count, size_t size);
void *ds_realloc(void *ptr, size_t bytes); /* not aligned beyond malloc's guarantee */
void ds_free(void *ptr);
char *ds_strdup(const char *s);

/* Number of successful allocations (malloc, calloc, realloc) since the program started. */
uint64_t ds_alloc_count(void);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
