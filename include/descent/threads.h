/* descent — threads. Every parallel part of descent (OpenMP loops in the ops and optimizers,
 * OpenBLAS's GEMMs, which share the OpenMP pool) runs on one process-wide thread count. Programs
 * set it here instead of calling OpenMP and OpenBLAS themselves.
 *
 * Behaviour: results are bitwise reproducible for a given thread count (reductions split work
 * the same way every run); a different count can change the last bits of sums. On cores shared
 * with other busy processes one thread is often faster than two (docs/performance.md). */
#ifndef DESCENT_THREADS_H
#define DESCENT_THREADS_H
#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

/* Sets the thread count: n >= 1, or 0 for every online core. Returns the count now in force. */
int ds_threads_set(int n);
/* The thread count in force. */
int ds_threads_get(void);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
