/* Checked reading of gzipped or plain files with zlib. gzread silently returns fewer bytes when a
 * gzip stream is cut short, so every short read is followed by gzerror, and gzclose_r's result
 * is checked: a truncated or corrupt file is an error, never a smaller dataset. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "data_internal.h"
#include "descent/alloc.h"

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

ds_status ds__gz_open(const char *path, gzFile *out) {
  *out = NULL;
  if (!path || !*path) return ds_set_error(DS_EINVAL, "data file: empty path");
  errno = 0;
  gzFile f = gzopen(path, "rb");
  if (!f)
    return ds_set_error(DS_EIO, "file '%s': cannot open (%s)", path,
                        errno ? strerror(errno) : "out of memory");
  gzbuffer(f, 1 << 17); /* larger than the 8 KiB default: inflate runs in fewer, longer calls */
  if (ends_with(path, ".gz") && gzdirect(f)) {
    int err;
    const char *msg = gzerror(f, &err);
    ds_status st =
        err == Z_ERRNO
            ? ds_set_error(DS_EIO, "file '%s': cannot read (%s)", path, strerror(errno))
            : ds_set_error(DS_EFORMAT, "file '%s': not a gzip stream (bad gzip header)%s%s", path,
                           err != Z_OK ? ": " : "", err != Z_OK ? msg : "");
    gzclose_r(f);
    return st;
  }
  *out = f;
  return DS_OK;
}

static ds_status stream_error(gzFile f, const char *path) {
  int err;
  const char *msg = gzerror(f, &err);
  switch (err) {
  case Z_OK: return DS_OK;
  case Z_ERRNO: return ds_set_error(DS_EIO, "file '%s': cannot read (%s)", path, strerror(errno));
  case Z_BUF_ERROR:
    return ds_set_error(DS_EFORMAT, "file '%s': truncated gzip stream (%s)", path, msg);
  case Z_MEM_ERROR: return ds_set_error(DS_ENOMEM, "file '%s': out of memory inflating", path);
  default: return ds_set_error(DS_EFORMAT, "file '%s': corrupt gzip stream (%s)", path, msg);
  }
}

ds_status ds__gz_read(gzFile f, const char *path, void *buf, int64_t len, int64_t *got) {
  char *p = buf;
  *got = 0;
  while (*got < len) {
    int64_t want = len - *got;
    if (want > (1 << 30)) want = 1 << 30; /* gzread counts in unsigned int, returns int */
    int r = gzread(f, p + *got, (unsigned)want);
    if (r < 0) {
      ds_status st = stream_error(f, path);
      return st ? st : ds_set_error(DS_EIO, "file '%s': read failed", path);
    }
    *got += r;
    if (r < want) { /* end of data, or a stream cut short: gzerror tells which */
      ds_status st = stream_error(f, path);
      if (st) return st;
      break;
    }
  }
  return DS_OK;
}

ds_status ds__gz_close(gzFile f, const char *path) {
  int r = gzclose_r(f);
  if (r == Z_OK) return DS_OK;
  if (r == Z_BUF_ERROR)
    return ds_set_error(DS_EFORMAT, "file '%s': truncated gzip stream (ends mid-stream)", path);
  if (r == Z_ERRNO)
    return ds_set_error(DS_EIO, "file '%s': close failed (%s)", path, strerror(errno));
  return ds_set_error(DS_EFORMAT, "file '%s': corrupt gzip stream (close returned %d)", path, r);
}

ds_status ds__read_file(const char *path, char **buf, int64_t *len) {
  *buf = NULL;
  *len = 0;
  gzFile f;
  ds_status st = ds__gz_open(path, &f);
  if (st) return st;
  int64_t cap = 1 << 16, n = 0;
  char *b = ds_malloc((size_t)cap + 1);
  if (!b) {
    gzclose_r(f);
    return DS_ENOMEM;
  }
  for (;;) {
    int64_t got;
    st = ds__gz_read(f, path, b + n, cap - n, &got);
    if (st) break;
    n += got;
    if (n < cap) break;
    char *nb = ds_realloc(b, (size_t)(2 * cap) + 1);
    if (!nb) {
      st = DS_ENOMEM;
      break;
    }
    b = nb;
    cap *= 2;
  }
  if (st) {
    gzclose_r(f);
    ds_free(b);
    return st;
  }
  if ((st = ds__gz_close(f, path))) {
    ds_free(b);
    return st;
  }
  b[n] = '\0';
  *buf = b;
  *len = n;
  return DS_OK;
}
