/* descent — one parser for values given as text: optimizer and schedule hyperparameters
 * (ds_optim_set_str, ds_sched_set_str), the CLI's settings and INI files all read text through
 * these functions, so the same spellings are accepted everywhere with the same errors:
 *
 *   booleans   true/false, yes/no, on/off, 1/0 (any letter case)
 *   none       none, null (any letter case), for optional values
 *   numbers    finite decimal or exponent notation ("3e-4"); inf, nan, out-of-range and trailing
 *              text are errors
 *   lists      numbers separated by commas ("0.9,0.999", "30, 60, 80")
 *
 * Errors are DS_EINVAL with a message "<what>: '<text>' is not ..." where `what` names the
 * setting ("optimizer 'adamw': hyperparameter 'betas'"); the text is quoted in a short excerpt. */
#ifndef DESCENT_KV_H
#define DESCENT_KV_H
#include "export.h"
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

/* Writes the NULL-terminated name list joined by ", " into buf (truncated to size, always
 * NUL-terminated) and returns buf: the "known: ..." part of messages about unknown names. */
const char *ds_kv_join(const char *const *names, char *buf, int size);

/* True if text spells "none" (none, null; any case). */
bool ds_kv_is_none(const char *text);
/* A boolean word (see above) into *out. */
ds_status ds_kv_bool(const char *what, const char *text, bool *out);
/* A finite number into *out. */
ds_status ds_kv_number(const char *what, const char *text, double *out);
/* An integer (no fraction, no exponent) in int64 range into *out. */
ds_status ds_kv_int(const char *what, const char *text, int64_t *out);
/* The values of a numeric hyperparameter: "none" gives *n = 0; a boolean word gives one value,
 * 1 or 0; otherwise a list of 1..cap finite numbers. */
ds_status ds_kv_values(const char *what, const char *text, double *out, int cap, int *n);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
