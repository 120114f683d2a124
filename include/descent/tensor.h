/* descent — shapes and the flat parameter set.
 * Tensors are float32, row-major, rank <= 4 (images are NCHW). Every parameter of a model is a
 * named view (offset, shape) into ONE flat value buffer and ONE flat gradient buffer of identical
 * layout; optimizer states are flat buffers of the same length. */
#ifndef DESCENT_TENSOR_H
#define DESCENT_TENSOR_H
#include "export.h"
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

#define DS_MAX_RANK 4
#define DS_NAME_MAX 64

typedef struct {
  int rank;                 /* 0 (scalar) .. 4 */
  int64_t dim[DS_MAX_RANK]; /* unused trailing entries are 1 */
} ds_shape;

/* Shape constructors; ds_shape_make takes rank then that many dims. */
ds_shape ds_shape_make(int rank, const int64_t *dims);
ds_shape ds_shape1(int64_t a);
ds_shape ds_shape2(int64_t a, int64_t b);
ds_shape ds_shape3(int64_t a, int64_t b, int64_t c);
ds_shape ds_shape4(int64_t a, int64_t b, int64_t c, int64_t d);
/* Number of elements (1 for a scalar). For shapes built by the program; a shape read from a
 * file or any other untrusted source goes through ds_shape_numel_checked first. */
int64_t ds_shape_numel(const ds_shape *s);
/* Largest element count a tensor may have: its size in bytes, as doubles, still fits int64. */
#define DS_MAX_NUMEL (INT64_MAX / 8)
/* Number of elements of a shape from untrusted input, without overflow: DS_EINVAL (message names
 * the shape) if the rank is not in 0..4, a dimension is negative, or the product exceeds
 * DS_MAX_NUMEL. *numel is set only on success. */
ds_status ds_shape_numel_checked(const ds_shape *s, int64_t *numel);
bool ds_shape_equal(const ds_shape *a, const ds_shape *b);
/* Writes "(2, 3, 4)" into buf (always NUL-terminated); returns buf. */
char *ds_shape_str(const ds_shape *s, char *buf, int size);

/* What a parameter tensor is; decides defaults for weight decay, trust-ratio adaptation, init. */
typedef enum {
  DS_ROLE_WEIGHT = 0, /* linear / conv weight, (out, in[, kh, kw]) */
  DS_ROLE_BIAS,
  DS_ROLE_NORM_GAIN,
  DS_ROLE_NORM_BIAS,
  DS_ROLE_OTHER,
  DS_ROLE_EMBEDDING /* token / position tables, patch embeddings, class tokens: decayed and
                       adapted (LARS/LAMB) like weights, but not a hidden matrix (Muon: AdamW) */
} ds_role;

/* Metadata of one parameter tensor inside the flat buffers. */
typedef struct {
  char name[DS_NAME_MAX];
  ds_role role;
  ds_shape shape;
  int64_t offset; /* into ds_paramset.data / .grad, in floats */
  int64_t numel;
  int64_t fan_in;  /* inputs per output unit (in * kh * kw for weights), 0 if not meaningful */
  int64_t fan_out; /* outputs per input unit (out * kh * kw) */
  bool no_decay;   /* excluded from weight decay (default: true for biases and norm params) */
  bool no_adapt;   /* excluded from LARS/LAMB trust ratio (default: same as no_decay) */
  bool is_head;    /* final classifier: excluded from adaptive gradient clipping by default */
} ds_param_info;

/* A set of parameters in flat buffers. data and grad each hold numel floats (64-byte aligned).
 * Owned by whoever created it (a graph, or ds_paramset_new for standalone use). */
typedef struct {
  float *data;
  float *grad;
  int64_t numel;
  int count;
  ds_param_info *info;    /* count entries, offsets increasing */
  int capacity;           /* internal */
  int64_t numel_capacity; /* internal: floats allocated in data and grad (grown geometrically) */
} ds_paramset;

/* A standalone, empty parameter set (for replay, tests). Free with ds_paramset_free. */
ds_paramset *ds_paramset_new(void);
void ds_paramset_free(ds_paramset *ps);
/* Appends a parameter of the given shape and role (metadata defaults derived from the role:
 * no_decay/no_adapt for bias and norm roles, fan_in/fan_out from the shape). Reallocates the
 * buffers (existing values are kept; the new slot is zeroed). Returns its index or a negative
 * status. */
int ds_paramset_add(ds_paramset *ps, const char *name, ds_shape shape, ds_role role);
/* Index of the parameter called name, or DS_ENOTFOUND with a message naming it. */
int ds_paramset_find(const ds_paramset *ps, const char *name);
/* Sets all gradients to zero. */
void ds_paramset_zero_grad(ds_paramset *ps);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
