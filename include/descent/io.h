/* descent — files: atomic writes, safetensors checkpoints, metrics as JSON lines.
 *
 * Atomic writes go to "<path>.tmp.<pid>", are flushed and fsync'ed, then renamed over path, so a
 * reader (or a crash) sees either the old file or the complete new one, never a partial file.
 *
 * Safetensors (https://github.com/huggingface/safetensors): 8-byte little-endian header length N,
 * N bytes of JSON {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
 * "__metadata__": {"key": "value", ...}} padded with spaces to a multiple of 8, then the raw
 * little-endian data; offsets are relative to the end of the header. */
#ifndef DESCENT_IO_H
#define DESCENT_IO_H
#include "export.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

/* ---- atomic files ---------------------------------------------------------------------------- */

typedef struct ds_atomic_file ds_atomic_file;

/* Opens a temporary file next to path for writing. NULL + DS_EIO naming the path on failure
 * (e.g. the directory is missing or not writable). Finish with ds_atomic_commit or
 * ds_atomic_abort, which both release the handle. */
ds_atomic_file *ds_atomic_open(const char *path);
/* The stream to write to (owned by the handle). */
FILE *ds_atomic_stream(ds_atomic_file *f);
/* Flushes, fsyncs, closes and renames the temporary file over the final path. On any failure
 * (including an earlier write error on the stream) the temporary file is removed, the final path
 * is left as it was, and DS_EIO names the path. Releases f either way. */
ds_status ds_atomic_commit(ds_atomic_file *f);
/* Removes the temporary file and releases f. NULL is fine. */
void ds_atomic_abort(ds_atomic_file *f);
/* Writes bytes [0, n) of data to path atomically. */
ds_status ds_write_file_atomic(const char *path, const void *data, size_t n);

/* Reads a whole file into a NUL-terminated buffer (caller frees with ds_free); *n (may be NULL)
 * receives its length without the NUL. NULL + DS_EIO naming the path on failure. */
char *ds_read_file(const char *path, size_t *n);

/* ---- safetensors ----------------------------------------------------------------------------- */

/* One float32 tensor to write: name, shape, data (shape's numel floats, borrowed). */
typedef struct {
  const char *name;
  ds_shape shape;
  const float *data;
} ds_st_tensor;

/* Writes n tensors (names unique, not "__metadata__") and n_meta metadata pairs
 * meta[2i] = key, meta[2i+1] = value (strings) to path, atomically. */
ds_status ds_safetensors_write(const char *path, const ds_st_tensor *tensors, int n,
                               const char *const *meta, int n_meta);

/* A safetensors file read into memory. */
typedef struct ds_safetensors ds_safetensors;

/* Reads and validates path: header length within the file, JSON well formed, every tensor of
 * dtype F32 with data_offsets inside the data section and matching its shape. NULL + DS_EIO or
 * DS_EFORMAT naming the file (and the tensor) on failure. Caller owns the result; release with
 * ds_safetensors_free. */
ds_safetensors *ds_safetensors_read(const char *path);
void ds_safetensors_free(ds_safetensors *st);
/* Number of tensors, and the i-th tensor's name (owned by st). */
int ds_safetensors_count(const ds_safetensors *st);
const char *ds_safetensors_name(const ds_safetensors *st, int i);
/* Looks a tensor up by name: *shape and *data (owned by st, aligned for float access) are set.
 * DS_ENOTFOUND naming the tensor and the file if absent. */
ds_status ds_safetensors_get(const ds_safetensors *st, const char *name, ds_shape *shape,
                             const float **data);
/* Copies tensor `name` into out, checking that its shape is `shape`; errors name the tensor and
 * both shapes. */
ds_status ds_safetensors_copy(const ds_safetensors *st, const char *name, ds_shape shape,
                              float *out);
/* The metadata value of key, or NULL (owned by st). */
const char *ds_safetensors_meta(const ds_safetensors *st, const char *key);

/* ---- metrics as JSON lines ------------------------------------------------------------------- */

/* A writer of one JSON object per line, flushed after each record, e.g.
 *   {"kind":"step","step":100,"epoch":0,"loss":0.512,"lr":0.001}
 * Non-finite numbers are written as null. */
typedef struct ds_metrics ds_metrics;

/* Opens path for writing (append = true keeps existing lines). NULL + DS_EIO naming the path.
 * Caller owns the result; release with ds_metrics_close. */
ds_metrics *ds_metrics_open(const char *path, bool append);
/* Flushes and closes; DS_EIO if a write failed. NULL is fine. */
ds_status ds_metrics_close(ds_metrics *m);
/* Starts a record, adds fields, ends it (ds_metrics_end writes the line). Keys are plain
 * identifiers; string values are escaped. */
void ds_metrics_begin(ds_metrics *m);
void ds_metrics_int(ds_metrics *m, const char *key, int64_t v);
void ds_metrics_num(ds_metrics *m, const char *key, double v);
void ds_metrics_str(ds_metrics *m, const char *key, const char *v);
/* A nested object as the value of key: the fields added until ds_metrics_object_end go into it
 * (at most 4 levels; ds_metrics_end closes any left open). Keys here may be any text (escaped). */
void ds_metrics_object_begin(ds_metrics *m, const char *key);
void ds_metrics_object_end(ds_metrics *m);
ds_status ds_metrics_end(ds_metrics *m);

/* Writes s as a JSON string literal (quotes and escapes) to f. */
void ds_json_write_string(FILE *f, const char *s);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
