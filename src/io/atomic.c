/* Atomic file writes (temporary file, flush, fsync, rename) and whole-file reads.
 * The stream handed to the caller is a cookie stream over the temporary file's descriptor: its
 * write hook records the first errno of a failed write(2), so a full disk is reported as
 * "No space left on device" at commit even when the caller never checked its fprintf calls. */
#define _GNU_SOURCE /* fopencookie */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "descent/alloc.h"
#include "descent/io.h"

struct ds_atomic_file {
  FILE *f;    /* cookie stream over fd; NULL once closed (by commit, abort or the caller) */
  int fd;     /* the temporary file; -1 once closed */
  int err;    /* first errno of a failed write or close; 0 if none */
  char *path; /* final name */
  char *tmp;  /* "<path>.tmp.<pid>" */
};

static ssize_t cookie_write(void *cookie, const char *buf, size_t n) {
  ds_atomic_file *a = cookie;
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(a->fd, buf + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (!a->err) a->err = w < 0 ? errno : EIO;
      return 0; /* "0 on error" (fopencookie(3)); -1 confuses glibc's fwrite */
    }
    done += (size_t)w;
  }
  return (ssize_t)n;
}

/* Called by fclose, from commit or abort, or from a caller that closed the stream itself (a
 * library that takes ownership of the FILE it is given): the descriptor stays open for the
 * commit's fsync. */
static int cookie_close(void *cookie) {
  ds_atomic_file *a = cookie;
  a->f = NULL;
  return a->err ? -1 : 0;
}

static void release(ds_atomic_file *a) {
  if (a->fd >= 0) close(a->fd);
  ds_free(a->path);
  ds_free(a->tmp);
  ds_free(a);
}

ds_atomic_file *ds_atomic_open(const char *path) {
  if (!path || !*path) {
    ds_set_error(DS_EINVAL, "atomic write: empty path");
    return NULL;
  }
  ds_atomic_file *a = ds_calloc(1, sizeof *a);
  if (!a) return NULL;
  a->fd = -1;
  size_t n = strlen(path) + 32;
  a->path = ds_strdup(path);
  a->tmp = ds_malloc(n);
  if (!a->path || !a->tmp) goto fail;
  snprintf(a->tmp, n, "%s.tmp.%ld", path, (long)getpid());
  a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (a->fd < 0) {
    ds_set_error(DS_EIO, "file '%s': cannot create (%s)", path, strerror(errno));
    goto fail;
  }
  a->f =
      fopencookie(a, "wb", (cookie_io_functions_t){.write = cookie_write, .close = cookie_close});
  if (!a->f) {
    ds_set_error(DS_ENOMEM, "file '%s': cannot create a stream", path);
    remove(a->tmp);
    goto fail;
  }
  return a;
fail:
  release(a);
  return NULL;
}

FILE *ds_atomic_stream(ds_atomic_file *f) { return f ? f->f : NULL; }

void ds_atomic_abort(ds_atomic_file *a) {
  if (!a) return;
  if (a->f) fclose(a->f);
  remove(a->tmp);
  release(a);
}

/* fsync of the directory holding path, so the rename itself is durable. 0 or an errno;
 * file systems that cannot sync a directory (EINVAL) are not an error. */
static int sync_dir(const char *path) {
  char *copy = ds_strdup(path);
  if (!copy) return ENOMEM;
  int err = 0, fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) err = errno;
  if (fd >= 0 && fsync(fd) != 0 && errno != EINVAL) err = errno;
  if (fd >= 0 && close(fd) != 0 && !err) err = errno;
  ds_free(copy);
  return err;
}

ds_status ds_atomic_commit(ds_atomic_file *a) {
  if (!a) return ds_set_error(DS_EINVAL, "atomic commit: NULL handle");
  int err = 0;
  /* fflush and fclose report a failed write through the hook (a->err); errno covers the rest */
  if (a->f && fflush(a->f) != 0) err = a->err ? a->err : errno ? errno : EIO;
  if (a->f && fclose(a->f) != 0 && !err) err = a->err ? a->err : errno ? errno : EIO;
  a->f = NULL;
  if (!err) err = a->err; /* the caller closed the stream after a failed write */
  if (!err && fsync(a->fd) != 0) err = errno;
  if (close(a->fd) != 0 && !err) err = errno;
  a->fd = -1;
  if (!err && rename(a->tmp, a->path) != 0) err = errno;
  if (err) {
    ds_status st = ds_set_error(DS_EIO, "file '%s': write failed (%s)", a->path, strerror(err));
    remove(a->tmp);
    release(a);
    return st;
  }
  err = sync_dir(a->path);
  ds_status st =
      err ? ds_set_error(DS_EIO, "file '%s': written, but syncing its directory failed (%s)",
                         a->path, strerror(err))
          : DS_OK;
  release(a);
  return st;
}

ds_status ds_write_file_atomic(const char *path, const void *data, size_t n) {
  ds_atomic_file *a = ds_atomic_open(path);
  if (!a) return DS_EIO;
  if (n) fwrite(data, 1, n, a->f); /* a failure is recorded and reported by the commit */
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
