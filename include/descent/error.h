/* descent — errors as values.
 * Every public function that can fail returns a ds_status (0 ok, negative error code) or NULL,
 * and leaves a message naming the node, file, key or shape at fault, readable with ds_last_error().
 * The message is thread-local. The library never prints, exits or aborts on user input. */
#ifndef DESCENT_ERROR_H
#define DESCENT_ERROR_H
#include "export.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

typedef int ds_status;

enum {
  DS_OK = 0,
  DS_EINVAL = -1,    /* invalid argument, NULL pointer, bad value */
  DS_ENOMEM = -2,    /* allocation failed */
  DS_EIO = -3,       /* file could not be opened, read or written */
  DS_EFORMAT = -4,   /* file content malformed (magic, sizes, JSON, gzip) */
  DS_ESHAPE = -5,    /* shape mismatch in the graph */
  DS_ESTATE = -6,    /* call made in the wrong state (not compiled, already compiled, ...) */
  DS_ENOTFOUND = -7, /* unknown name (optimizer, schedule, key, hyperparameter) */
  DS_ENUMERIC = -8,  /* NaN or Inf where a finite value is required */
  DS_EUNSUPPORTED = -9,
  DS_EINTERRUPTED = -10 /* a run stopped on request (a signal, a hook): state saved, resumable */
};

/* The one rule: a status is an error exactly when it is negative (every such value comes with a
 * message); 0 and positive values (counts, "a step was taken") are successes. */
static inline int ds_failed(ds_status s) { return s < 0; }

/* The message of the last error on this thread ("" if none). Valid until the next failing call. */
const char *ds_last_error(void);

/* The status of the last error set on this thread (DS_OK if none): lets a caller that received
 * NULL from a constructor tell, e.g., an I/O failure (DS_EIO) from a malformed file (DS_EFORMAT).
 */
ds_status ds_last_status(void);

/* A short fixed description of a status code ("invalid argument", ...). */
const char *ds_strerror(ds_status code);

/* Sets this thread's error message (printf-style) and returns code. For library and CLI code. */
ds_status ds_set_error(ds_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes a short, escaped excerpt of untrusted text s (a name or value read from a file) into
 * buf for an error message: quotes, backslashes and non-printable bytes escaped (\n, \x01), cut
 * with "..." to fit size bytes (NUL included); "(null)" for NULL. Returns buf. */
char *ds_excerpt(const char *s, char *buf, size_t size);

/* Clears this thread's error message. */
void ds_clear_error(void);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
