/* Shapes and the flat parameter set. */
#include <stdio.h>
#include <string.h>

#include "core/graph_internal.h"
#include "descent/alloc.h"
#include "descent/tensor.h"

ds_shape ds_shape_make(int rank, const int64_t *dims) {
  ds_shape s = {rank, {1, 1, 1, 1}};
  for (int i = 0; i < rank && i < DS_MAX_RANK; i++)
    s.dim[i] = dims[i];
  return s;
}
ds_shape ds_shape1(int64_t a) { return (ds_shape){1, {a, 1, 1, 1}}; }
ds_shape ds_shape2(int64_t a, int64_t b) { return (ds_shape){2, {a, b, 1, 1}}; }
ds_shape ds_shape3(int64_t a, int64_t b, int64_t c) { return (ds_shape){3, {a, b, c, 1}}; }
ds_shape ds_shape4(int64_t a, int64_t b, int64_t c, int64_t d) {
  return (ds_shape){4, {a, b, c, d}};
}

int64_t ds_shape_numel(const ds_shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++)
    n *= s->dim[i];
  return n;
}

ds_status ds_shape_numel_checked(const ds_shape *s, int64_t *numel) {
  if (!s || !numel) return ds_set_error(DS_EINVAL, "ds_shape_numel_checked: NULL argument");
  if (s->rank < 0 || s->rank > DS_MAX_RANK)
    return ds_set_error(DS_EINVAL, "shape of rank %d (must be 0..%d)", s->rank, DS_MAX_RANK);
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) {
    char buf[128];
    if (s->dim[i] < 0)
      return ds_set_error(DS_EINVAL, "shape %s has a negative dimension",
                          ds_shape_str(s, buf, sizeof buf));
    if (__builtin_mul_overflow(n, s->dim[i], &n) || n > DS_MAX_NUMEL)
      return ds_set_error(DS_EINVAL, "shape %s has more than %lld elements",
                          ds_shape_str(s, buf, sizeof buf), (long long)DS_MAX_NUMEL);
  }
  *numel = n;
  return DS_OK;
}

bool ds_shape_equal(const ds_shape *a, const ds_shape *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dim[i] != b->dim[i]) return false;
  return true;
}

char *ds_shape_str(const ds_shape *s, char *buf, int size) {
  int n = snprintf(buf, (size_t)size, "(");
  for (int i = 0; i < s->rank && n < size; i++)
    n += snprintf(buf + n, (size_t)(size - n), i ? ", %lld" : "%lld", (long long)s->dim[i]);
  if (n < size) snprintf(buf + n, (size_t)(size - n), ")");
  return buf;
}

ds_paramset *ds_paramset_new(void) { return ds_calloc(1, sizeof(ds_paramset)); }

void ds_paramset_free(ds_paramset *ps) {
  if (!ps) return;
  ds_free(ps->data);
  ds_free(ps->grad);
  ds_free(ps->info);
  ds_free(ps);
}

int ds_paramset_find(const ds_paramset *ps, const char *name) {
  for (int i = 0; ps && name && i < ps->count; i++)
    if (strcmp(ps->info[i].name, name) == 0) return i;
  return ds_set_error(DS_ENOTFOUND, "no parameter named '%s'", name ? name : "(null)");
}

/* Moves *buf (old_n floats) into a new allocation of cap floats. Only the old floats are
 * written: the slack is never touched until used, so its pages cost no memory. */
static ds_status move_buffer(float **buf, int64_t old_n, int64_t cap) {
  float *b = ds_malloc((size_t)cap * sizeof(float));
  if (!b) return DS_ENOMEM;
  if (*buf) memcpy(b, *buf, (size_t)old_n * sizeof(float));
  ds_free(*buf);
  *buf = b;
  return DS_OK;
}

/* Makes room for new_n floats in data and grad, doubling the capacity as needed so that adding
 * n parameters copies O(total) floats (exact-size growth made deep models quadratic to build);
 * the floats [numel, new_n) are zeroed. */
static ds_status reserve(ds_paramset *ps, int64_t new_n) {
  if (new_n > ps->numel_capacity) {
    int64_t cap = ps->numel_capacity > DS_MAX_NUMEL / 2 ? DS_MAX_NUMEL : 2 * ps->numel_capacity;
    if (cap < new_n) cap = new_n;
    if (move_buffer(&ps->data, ps->numel, cap) || move_buffer(&ps->grad, ps->numel, cap))
      return DS_ENOMEM;
    ps->numel_capacity = cap;
  }
  memset(ps->data + ps->numel, 0, (size_t)(new_n - ps->numel) * sizeof(float));
  memset(ps->grad + ps->numel, 0, (size_t)(new_n - ps->numel) * sizeof(float));
  return DS_OK;
}

int ds_paramset_add(ds_paramset *ps, const char *name, ds_shape shape, ds_role role) {
  if (ps && name && ds_paramset_find(ps, name) >= 0)
    return ds_set_error(DS_EINVAL, "parameter '%s' is defined twice", name);
  return ds__paramset_append(ps, name, shape, role);
}

int ds__paramset_append(ds_paramset *ps, const char *name, ds_shape shape, ds_role role) {
  if (!ps || !name) return ds_set_error(DS_EINVAL, "ds_paramset_add: NULL argument");
  if (strlen(name) >= DS_NAME_MAX)
    return ds_set_error(DS_EINVAL, "parameter name '%s' is longer than %d characters", name,
                        DS_NAME_MAX - 1);
  if (shape.rank < 0 || shape.rank > DS_MAX_RANK)
    return ds_set_error(DS_EINVAL, "parameter '%s': rank %d is not in 0..4", name, shape.rank);
  for (int i = 0; i < shape.rank; i++)
    if (shape.dim[i] <= 0)
      return ds_set_error(DS_EINVAL, "parameter '%s': dimension %d is %lld, must be > 0", name, i,
                          (long long)shape.dim[i]);
  int64_t numel;
  if (ds_shape_numel_checked(&shape, &numel) || numel > DS_MAX_NUMEL - ps->numel)
    return ds_set_error(DS_EINVAL, "parameter '%s': too many elements", name);
  if (ps->count == ps->capacity) {
    int cap = ps->capacity ? 2 * ps->capacity : 16;
    ds_param_info *info = ds_calloc((size_t)cap, sizeof *info);
    if (!info) return DS_ENOMEM;
    if (ps->info) memcpy(info, ps->info, (size_t)ps->count * sizeof *info);
    ds_free(ps->info);
    ps->info = info;
    ps->capacity = cap;
  }
  if (reserve(ps, ps->numel + numel)) return DS_ENOMEM;
  ds_param_info *p = &ps->info[ps->count];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  p->role = role;
  p->shape = shape;
  p->offset = ps->numel;
  p->numel = numel;
  if ((role == DS_ROLE_WEIGHT || role == DS_ROLE_EMBEDDING) && shape.rank >= 2) {
    int64_t receptive = 1;
    for (int i = 2; i < shape.rank; i++)
      receptive *= shape.dim[i];
    p->fan_in = shape.dim[1] * receptive;
    p->fan_out = shape.dim[0] * receptive;
  }
  p->no_decay = role == DS_ROLE_BIAS || role == DS_ROLE_NORM_GAIN || role == DS_ROLE_NORM_BIAS;
  p->no_adapt = p->no_decay;
  ps->numel += numel;
  return ps->count++;
}

void ds_paramset_zero_grad(ds_paramset *ps) {
  if (ps && ps->grad) memset(ps->grad, 0, (size_t)ps->numel * sizeof(float));
}
