/* Atomic file writes (temporary file, fflush, fsync, rename) and whole-file reads. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "descent/alloc.h"
#include "descent/io.h"

struct ds_atomic_file {
  FILE *f;
  char *path; /* final name */
  char *tmp;  /* "<path>.tmp.<pid>" */
};

ds_atomic_file *ds_atomic_open(const char *path) {
  if (!path || !*path) {
    ds_set_error(DS_EINVAL, "atomic write: empty path");
    return NULL;
  }
  ds_atomic_file *a = ds_calloc(1, sizeof *a);
  if (!a) return NULL;
  size_t n = strlen(path) + 32;
  a->path = ds_strdup(path);
  a->tmp = ds_malloc(n);
  if (!a->path || !a->tmp) goto fail;
  snprintf(a->tmp, n, "%s.tmp.%ld", path, (long)getpid());
  a->f = fopen(a->tmp, "wb");
  if (!a->f) {
    ds_set_error(DS_EIO, "file '%s': cannot create (%s)", path, strerror(errno));
    goto fail;
  }
  return a;
fail:
  ds_free(a->path);
  ds_free(a->tmp);
  ds_free(a);
  return NULL;
}

FILE *ds_atomic_stream(ds_atomic_file *f) { return f ? f->f : NULL; }

static void release(ds_atomic_file *a) {
  ds_free(a->path);
  ds_free(a->tmp);
  ds_free(a);
}

void ds_atomic_abort(ds_atomic_file *a) {
  if (!a) return;
  if (a->f) fclose(a->f);
  remove(a->tmp);
  release(a);
}

/* fsync of the directory holding path, so the rename itself is durable. Best effort. */
static void sync_dir(const char *path) {
  char *copy = ds_strdup(path);
  if (!copy) return;
  int fd = open(dirname(copy), O_RDONLY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  ds_free(copy);
}

ds_status ds_atomic_commit(ds_atomic_file *a) {
  if (!a) return ds_set_error(DS_EINVAL, "atomic commit: NULL handle");
  int err = ferror(a->f);
  if (!err && fflush(a->f) != 0) err = errno ? errno : EIO;
  if (!err && fsync(fileno(a->f)) != 0) err = errno;
  if (fclose(a->f) != 0 && !err) err = errno ? errno : EIO;
  a->f = NULL;
  if (!err && rename(a->tmp, a->path) != 0) err = errno;
  if (err) {
    ds_status st = ds_set_error(DS_EIO, "file '%s': write failed (%s)", a->path,
                                strerror(err > 0 ? err : EIO));
    remove(a->tmp);
    release(a);
    return st;
  }
  sync_dir(a->path);
  release(a);
  return DS_OK;
}

ds_status ds_write_file_atomic(const char *path, const void *data, size_t n) {
  ds_atomic_file *a = ds_atomic_open(path);
  if (!a) return DS_EIO;
  if (n && fwrite(data, 1, n, a->f) != n) {
    ds_atomic_abort(a);
    return ds_set_error(DS_EIO, "file '%s': write failed (%s)", path, strerror(errno));
  }
  return ds_atomic_commit(a);
}

char *ds_read_file(const char *path, size_t *n) {
  FILE *f = path ? fopen(path, "rb") : NULL;
  if (!f) {
    ds_set_error(DS_EIO, "file '%s': cannot open (%s)", path ? path : "(null)", strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, len = 0;
  char *buf = ds_malloc(cap);
  while (buf) {
    if (len + 1 >= cap) {
      char *b = ds_realloc(buf, cap * 2);
      if (!b) {
        ds_free(buf);
        buf = NULL;
        break;
      }
      buf = b;
      cap *= 2;
    }
    size_t got = fread(buf + len, 1, cap - 1 - len, f);
    len += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (!buf) return NULL;
  if (bad) {
    ds_free(buf);
    ds_set_error(DS_EIO, "file '%s': read failed", path);
    return NULL;
  }
  buf[len] = '\0';
  if (n) *n = len;
  return buf;
}
