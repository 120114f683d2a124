/* Metrics as JSON lines: one object per record, flushed at once so a crash loses nothing. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "descent/alloc.h"
#include "descent/io.h"

#define MAX_DEPTH 4 /* nested objects */

struct ds_metrics {
  FILE *f;
  char *path;
  int fields[MAX_DEPTH + 1]; /* fields written in the current record and each open object */
  int depth;                 /* objects open inside the record */
  int err;                   /* errno of the first failed write, 0 if none */
};

void ds_json_write_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default:
      if (*p < 0x20)
        fprintf(f, "\\u%04x", *p);
      else
        fputc(*p, f);
    }
  }
  fputc('"', f);
}

ds_metrics *ds_metrics_open(const char *path, bool append) {
  FILE *f = path ? fopen(path, append ? "ab" : "wb") : NULL;
  if (!f) {
    ds_set_error(DS_EIO, "metrics file '%s': cannot open (%s)", path ? path : "(null)",
                 strerror(errno));
    return NULL;
  }
  ds_metrics *m = ds_calloc(1, sizeof *m);
  if (!m || !(m->path = ds_strdup(path))) {
    fclose(f);
    ds_free(m);
    return NULL;
  }
  m->f = f;
  return m;
}

/* Records the cause of a failed write (errno as the failing call left it). */
static void note_failure(ds_metrics *m) {
  if (!m->err) m->err = errno ? errno : EIO;
}

ds_status ds_metrics_close(ds_metrics *m) {
  if (!m) return DS_OK;
  errno = 0;
  if (fflush(m->f) != 0 || ferror(m->f)) note_failure(m);
  errno = 0;
  if (fclose(m->f) != 0) note_failure(m);
  ds_status st = m->err ? ds_set_error(DS_EIO, "metrics file '%s': write failed (%s)", m->path,
                                       strerror(m->err))
                        : DS_OK;
  ds_free(m->path);
  ds_free(m);
  return st;
}

void ds_metrics_begin(ds_metrics *m) {
  m->fields[0] = 0;
  m->depth = 0;
  fputc('{', m->f);
}

static void key(ds_metrics *m, const char *k) {
  if (m->fields[m->depth]++) fputc(',', m->f);
  ds_json_write_string(m->f, k);
  fputc(':', m->f);
}

void ds_metrics_object_begin(ds_metrics *m, const char *k) {
  if (m->depth == MAX_DEPTH) return;
  key(m, k);
  m->fields[++m->depth] = 0;
  fputc('{', m->f);
}

void ds_metrics_object_end(ds_metrics *m) {
  if (m->depth == 0) return;
  m->depth--;
  fputc('}', m->f);
}

void ds_metrics_int(ds_metrics *m, const char *k, int64_t v) {
  key(m, k);
  fprintf(m->f, "%" PRId64, v);
}

void ds_metrics_num(ds_metrics *m, const char *k, double v) {
  key(m, k);
  if (isfinite(v))
    fprintf(m->f, "%.9g", v);
  else
    fputs("null", m->f);
}

void ds_metrics_str(ds_metrics *m, const char *k, const char *v) {
  key(m, k);
  ds_json_write_string(m->f, v);
}

ds_status ds_metrics_end(ds_metrics *m) {
  while (m->depth > 0)
    ds_metrics_object_end(m);
  fputs("}\n", m->f);
  errno = 0;
  if (fflush(m->f) != 0 || ferror(m->f)) {
    note_failure(m);
    return ds_set_error(DS_EIO, "metrics file '%s': write failed (%s)", m->path, strerror(m->err));
  }
  return DS_OK;
}
