/* Numeric CSV files (plain or gzipped): the `csv` dataset and scikit-learn's `digits`.
 * Every row must have the same number of fields and every field must be a finite number, except in
 * the group column (ds_data_options.group_column, named by the header row), which may hold any
 * text; an optional header row is skipped. No quoting: a quoted field is a non-numeric field. */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "descent/alloc.h"

#define DIGITS_PATH "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
#define CSV_MAX_CLASSES 65536

typedef struct {
  int64_t rows, cols;
  double *v;     /* (rows, cols); the group column holds indices into the texts below */
  int64_t group; /* the group column, or -1 */
} table;

static void table_free(table *t) {
  ds_free(t->v);
  t->v = NULL;
}

/* The distinct texts of the group column over the files read, in order of first appearance. */
typedef struct {
  const char *name; /* the column's header name; NULL: no group column */
  char *text[DS_MAX_GROUPS];
  int count;
} group_texts;

static void texts_free(group_texts *g) {
  for (int i = 0; i < g->count; i++)
    ds_free(g->text[i]);
  g->count = 0;
}

/* [*s, *e) without surrounding white space. */
static void trim(const char **s, const char **e) {
  while (*s < *e && isspace((unsigned char)**s))
    (*s)++;
  while (*e > *s && isspace((unsigned char)(*e)[-1]))
    (*e)--;
}

/* The index of text [s, e) among g's texts, added if new; negative status beyond DS_MAX_GROUPS. */
static int text_index(group_texts *g, const char *s, const char *e, const char *path) {
  trim(&s, &e);
  for (int i = 0; i < g->count; i++)
    if (strlen(g->text[i]) == (size_t)(e - s) && !memcmp(g->text[i], s, (size_t)(e - s))) return i;
  if (g->count == DS_MAX_GROUPS)
    return ds_set_error(DS_EFORMAT, "file '%s': group column '%s' has more than %d distinct values",
                        path, g->name, DS_MAX_GROUPS);
  char *t = ds_malloc((size_t)(e - s) + 1);
  if (!t) return DS_ENOMEM;
  memcpy(t, s, (size_t)(e - s));
  t[e - s] = '\0';
  g->text[g->count] = t;
  return g->count++;
}

/* The column of header line [s, e) named g->name, or an error listing the columns. */
static int64_t find_column(const group_texts *g, const char *s, const char *e, char delim,
                           const char *path) {
  char names[400] = "";
  size_t used = 0;
  int64_t c = 0;
  for (const char *f = s; f <= e; c++) {
    const char *fe = memchr(f, delim, (size_t)(e - f));
    if (!fe) fe = e;
    const char *a = f, *b = fe;
    trim(&a, &b);
    if (strlen(g->name) == (size_t)(b - a) && !memcmp(g->name, a, (size_t)(b - a))) return c;
    if (used + 4 < sizeof names)
      used += (size_t)snprintf(names + used, sizeof names - used, "%s%.*s", c ? ", " : "",
                               (int)(b - a), a);
    f = fe + 1;
  }
  return ds_set_error(DS_EINVAL, "file '%s': no column named '%s' (columns: %s)", path, g->name,
                      names);
}

/* Group ids of g's texts: the numbers themselves when every text is a whole number in
 * 0..DS_MAX_GROUPS-1, otherwise each text's rank in sorted (strcmp) order. */
static void group_ids(const group_texts *g, int32_t *id) {
  bool numbers = true;
  for (int i = 0; i < g->count && numbers; i++) {
    char *end;
    long v = strtol(g->text[i], &end, 10);
    numbers = *g->text[i] && !*end && v >= 0 && v < DS_MAX_GROUPS;
    id[i] = (int32_t)v;
  }
  for (int i = 0; i < g->count && !numbers; i++) {
    id[i] = 0;
    for (int j = 0; j < g->count; j++)
      id[i] += strcmp(g->text[j], g->text[i]) < 0;
  }
}

/* What a field is: a float32 number, or why not. */
typedef enum { FIELD_NUMBER, FIELD_NOT_NUMBER, FIELD_TOO_LONG, FIELD_OUT_OF_RANGE } field_kind;

#define CSV_NUMBER_MAX 63 /* characters of one number (the parse buffer) */

/* Parses one field [s, e): a finite number within float32's range is FIELD_NUMBER (in *out);
 * values that round to float32 zero (1e-50) are numbers too, as in PyTorch. */
static field_kind parse_number(const char *s, const char *e, double *out) {
  while (s < e && isspace((unsigned char)*s))
    s++;
  while (e > s && isspace((unsigned char)e[-1]))
    e--;
  if (s == e || memchr(s, '\0', (size_t)(e - s))) return FIELD_NOT_NUMBER; /* binary junk */
  if (e - s > CSV_NUMBER_MAX) return FIELD_TOO_LONG;
  char tmp[CSV_NUMBER_MAX + 1];
  memcpy(tmp, s, (size_t)(e - s));
  tmp[e - s] = '\0';
  char *end;
  errno = 0;
  double v = strtod(tmp, &end);
  if (end == tmp || *end != '\0' || isnan(v) || (isinf(v) && errno != ERANGE))
    return FIELD_NOT_NUMBER;                                    /* including "nan" and "inf" */
  if (isinf(v) || fabs(v) > FLT_MAX) return FIELD_OUT_OF_RANGE; /* 1e39, and 1e400 (ERANGE) */
  *out = v;
  return FIELD_NUMBER;
}

/* Counts the fields of line [s, e). */
static int64_t count_fields(const char *s, const char *e, char delim) {
  int64_t n = 1;
  for (const char *p = s; p < e; p++)
    n += *p == delim;
  return n;
}

static bool blank(const char *s, const char *e) {
  for (; s < e; s++)
    if (!isspace((unsigned char)*s)) return false;
  return true;
}

/* Reads path into a table. header: 1 skip the first row, 0 keep it, -1 skip it iff none of its
 * fields is a number. With g->name, the header's column of that name is the group column: its
 * fields are texts, collected in g. */
static ds_status read_table(const char *path, char delim, int header, group_texts *g, table *t) {
  memset(t, 0, sizeof *t);
  t->group = -1;
  char *buf;
  int64_t len;
  ds_status st = ds__read_file(path, &buf, &len);
  if (st) return st;
  int64_t cap = 0, rows = 0, cols = 0, line = 0;
  double *v = NULL;
  bool first = true;
  char tmp[48];
  for (char *s = buf; s < buf + len;) {
    char *e = memchr(s, '\n', (size_t)(buf + len - s));
    if (!e) e = buf + len;
    char *next = e + 1;
    line++;
    if (e > s && e[-1] == '\r') e--;
    if (blank(s, e)) {
      s = next;
      continue;
    }
    int64_t nf = count_fields(s, e, delim);
    if (first) {
      first = false;
      bool skip = header == 1;
      if (header == -1) {
        skip = true;
        for (char *f = s; f <= e && skip;) {
          char *fe = memchr(f, delim, (size_t)(e - f));
          if (!fe) fe = e;
          double x;
          field_kind k = parse_number(f, fe, &x);
          if (k == FIELD_NUMBER || k == FIELD_OUT_OF_RANGE) skip = false; /* data, refused below */
          f = fe + 1;
        }
      }
      cols = nf;
      if (g && g->name && !skip) {
        st = ds_set_error(DS_EINVAL,
                          "file '%s': group column '%s' needs a header row naming the columns",
                          path, g->name);
        goto fail;
      }
      if (g && g->name && (t->group = find_column(g, s, e, delim, path)) < 0) {
        st = (ds_status)t->group;
        goto fail;
      }
      if (skip) {
        s = next;
        continue;
      }
    }
    if (nf != cols) {
      st = ds_set_error(DS_EFORMAT, "file '%s', line %lld: %lld fields, expected %lld (ragged row)",
                        path, (long long)line, (long long)nf, (long long)cols);
      goto fail;
    }
    if ((rows + 1) * cols > cap) {
      int64_t ncap = cap ? 2 * cap : 1024 * cols;
      double *nv = ds_realloc(v, (size_t)ncap * sizeof(double));
      if (!nv) {
        st = DS_ENOMEM;
        goto fail;
      }
      v = nv;
      cap = ncap;
    }
    char *f = s;
    for (int64_t c = 0; c < cols; c++) {
      char *fe = memchr(f, delim, (size_t)(e - f));
      if (!fe) fe = e;
      if (c == t->group) {
        int k = text_index(g, f, fe, path);
        if (k < 0) {
          st = (ds_status)k;
          goto fail;
        }
        v[rows * cols + c] = k;
        f = fe + 1;
        continue;
      }
      field_kind k = parse_number(f, fe, &v[rows * cols + c]);
      if (k != FIELD_NUMBER) {
        char text[48];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(fe - f < 40 ? fe - f : 40), f);
        ds_excerpt(tmp, text, sizeof text);
        if (k == FIELD_TOO_LONG)
          st = ds_set_error(DS_EFORMAT,
                            "file '%s', line %lld, column %lld: number too long (%lld characters, "
                            "at most %d): '%s'",
                            path, (long long)line, (long long)c + 1, (long long)(fe - f),
                            CSV_NUMBER_MAX, text);
        else if (k == FIELD_OUT_OF_RANGE)
          st = ds_set_error(DS_EFORMAT,
                            "file '%s', line %lld, column %lld: '%s' is outside the float32 range "
                            "(|x| <= %g)",
                            path, (long long)line, (long long)c + 1, text, (double)FLT_MAX);
        else
          st = ds_set_error(DS_EFORMAT,
                            "file '%s', line %lld, column %lld: '%s' is not a finite number", path,
                            (long long)line, (long long)c + 1, text);
        goto fail;
      }
      f = fe + 1;
    }
    rows++;
    s = next;
  }
  if (rows == 0) {
    st = ds_set_error(DS_EFORMAT, "file '%s': no data rows", path);
    goto fail;
  }
  ds_free(buf);
  t->rows = rows;
  t->cols = cols;
  t->v = v;
  return DS_OK;
fail:
  ds_free(buf);
  ds_free(v);
  return st;
}

/* Builds a dataset from table rows: features = all columns but `label` and the group column,
 * float storage; groups (ids[] of the texts' indices) from the group column. */
static ds_status table_dataset(const table *t, const char *path, int64_t label, bool regression,
                               const int32_t *ids, const char *name, ds_dataset **out) {
  *out = NULL;
  int n_classes = 0;
  if (!regression) {
    double top = -1.0;
    for (int64_t r = 0; r < t->rows; r++) {
      double y = t->v[r * t->cols + label];
      if (y < 0.0 || y != floor(y) || y >= CSV_MAX_CLASSES)
        return ds_set_error(DS_EFORMAT,
                            "file '%s', data row %lld, label column %lld: %g is not a class index "
                            "(integer 0..%d); a real-valued target needs regression",
                            path, (long long)r + 1, (long long)label + 1, y, CSV_MAX_CLASSES - 1);
      if (y > top) top = y;
    }
    n_classes = (int)top + 1;
    if (n_classes < 2) n_classes = 2;
  }
  int64_t k = t->cols - 1 - (t->group >= 0);
  if (k < 1)
    return ds_set_error(DS_EFORMAT, "file '%s': no feature columns besides label and group", path);
  ds_dataset *d = ds__dataset_new(name, t->rows, ds_shape1(k), false, n_classes);
  int32_t *groups = t->group >= 0 ? ds_malloc(sizeof(int32_t) * (size_t)t->rows) : NULL;
  if (!d || (t->group >= 0 && !groups)) {
    ds_dataset_free(d);
    return DS_ENOMEM;
  }
  for (int64_t r = 0; r < t->rows; r++) {
    const double *row = t->v + r * t->cols;
    float *x = d->f32 + r * k;
    for (int64_t c = 0, j = 0; c < t->cols; c++)
      if (c != label && c != t->group) x[j++] = (float)row[c];
    if (groups) groups[r] = ids[(int)row[t->group]];
    if (regression)
      d->targets[r] = (float)row[label];
    else
      d->labels[r] = d->clean_labels[r] = (int32_t)row[label];
  }
  ds_status st = groups ? ds_dataset_set_groups(d, groups) : DS_OK;
  ds_free(groups);
  if (st) {
    ds_dataset_free(d);
    return st;
  }
  *out = d;
  return DS_OK;
}

ds_status ds__load_csv(const char *name, const ds_data_options *opt, ds_dataset **train,
                       ds_dataset **test) {
  (void)name;
  if (!opt->path) return ds_set_error(DS_EINVAL, "dataset 'csv': needs a path (the CSV file)");
  if (!opt->delimiter || opt->delimiter == '\n' || opt->delimiter == '\r' ||
      opt->delimiter == '.' || opt->delimiter == '-')
    return ds_set_error(DS_EINVAL, "dataset 'csv': bad delimiter (code %d)", opt->delimiter);
  if (!opt->test_path && !(opt->test_fraction > 0.0 && opt->test_fraction < 1.0))
    return ds_set_error(DS_EINVAL, "dataset 'csv': test_fraction %g not in (0, 1)",
                        opt->test_fraction);
  table a, b = {0};
  group_texts *g = ds_calloc(1, sizeof *g);
  int32_t ids[DS_MAX_GROUPS];
  if (!g) return DS_ENOMEM;
  g->name = opt->group_column;
  ds_status st = read_table(opt->path, opt->delimiter, opt->header, g, &a);
  if (st) goto done;
  int64_t label = opt->label_column < 0 ? a.cols - 1 : opt->label_column;
  if (a.cols < 2 || label >= a.cols || opt->label_column < -1) {
    st = ds_set_error(DS_EINVAL,
                      "dataset 'csv': label column %d out of range for '%s' (%lld columns)",
                      opt->label_column, opt->path, (long long)a.cols);
    goto done;
  }
  if (label == a.group) {
    st = ds_set_error(DS_EINVAL, "dataset 'csv': group column '%s' is the label column of '%s'",
                      g->name, opt->path);
    goto done;
  }
  if (opt->test_path) {
    if ((st = read_table(opt->test_path, opt->delimiter, opt->header, g, &b))) goto done;
    if (b.cols != a.cols || b.group != a.group) {
      st = ds_set_error(DS_EFORMAT,
                        "dataset 'csv': test file '%s' has %lld columns (group column %lld), '%s' "
                        "has %lld (group column %lld)",
                        opt->test_path, (long long)b.cols, (long long)b.group + 1, opt->path,
                        (long long)a.cols, (long long)a.group + 1);
      goto done;
    }
    group_ids(g, ids); /* over both files: one numbering */
    if ((st = table_dataset(&a, opt->path, label, opt->regression, ids, "csv/train", train)))
      goto done;
    if ((st = table_dataset(&b, opt->test_path, label, opt->regression, ids, "csv/test", test)))
      goto done;
    if (!opt->regression) { /* one class count for both splits */
      int c = (*train)->n_classes > (*test)->n_classes ? (*train)->n_classes : (*test)->n_classes;
      (*train)->n_classes = (*test)->n_classes = c;
    }
  } else {
    ds_dataset *all;
    group_ids(g, ids);
    if ((st = table_dataset(&a, opt->path, label, opt->regression, ids, "csv", &all))) goto done;
    st = ds__split_consume(all, opt->test_fraction, opt->seed, "csv", train, test);
  }
done:
  table_free(&a);
  table_free(&b);
  texts_free(g);
  ds_free(g);
  return st;
}

ds_status ds__load_digits(const char *name, const ds_data_options *opt, ds_dataset **train,
                          ds_dataset **test) {
  (void)name;
  const char *path = opt->path ? opt->path : DIGITS_PATH;
  if (!(opt->test_fraction > 0.0 && opt->test_fraction < 1.0))
    return ds_set_error(DS_EINVAL, "dataset 'digits': test_fraction %g not in (0, 1)",
                        opt->test_fraction);
  table t;
  ds_status st = read_table(path, ',', 0, NULL, &t);
  if (st) return st;
  if (t.cols != 65) {
    st = ds_set_error(
        DS_EFORMAT,
        "dataset 'digits': file '%s' has %lld columns, expected 65 (8x8 pixels + label)", path,
        (long long)t.cols);
    goto done;
  }
  ds_dataset *all = ds__dataset_new("digits", t.rows, ds_shape3(1, 8, 8), true, 10);
  if (!all) {
    st = DS_ENOMEM;
    goto done;
  }
  all->u8_max = 16.0f;
  ds__dataset_update_affine(all);
  for (int64_t r = 0; r < t.rows; r++) {
    const double *row = t.v + r * 65;
    for (int c = 0; c < 65; c++) {
      double v = row[c], top = c < 64 ? 16.0 : 9.0;
      if (v < 0.0 || v > top || v != floor(v)) {
        st = ds_set_error(DS_EFORMAT,
                          "dataset 'digits': file '%s', data row %lld, column %d: %g outside 0..%g",
                          path, (long long)r + 1, c + 1, v, top);
        ds_dataset_free(all);
        goto done;
      }
    }
    for (int c = 0; c < 64; c++)
      all->u8[r * 64 + c] = (uint8_t)row[c];
    all->labels[r] = all->clean_labels[r] = (int32_t)row[64];
  }
  st = ds__split_consume(all, opt->test_fraction, opt->seed, "digits", train, test);
done:
  table_free(&t);
  return st;
}
