/* Thread-local error message and status strings. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "descent/error.h"

static _Thread_local char last_error[1024];
static _Thread_local ds_status last_status;

const char *ds_last_error(void) { return last_error; }
ds_status ds_last_status(void) { return last_status; }

void ds_clear_error(void) {
  last_error[0] = '\0';
  last_status = DS_OK;
}

ds_status ds_set_error(ds_status code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  last_status = code;
  return code;
}

const char *ds_strerror(ds_status code) {
  switch (code) {
  case DS_OK: return "ok";
  case DS_EINVAL: return "invalid argument";
  case DS_ENOMEM: return "out of memory";
  case DS_EIO: return "input/output error";
  case DS_EFORMAT: return "malformed file";
  case DS_ESHAPE: return "shape mismatch";
  case DS_ESTATE: return "invalid state";
  case DS_ENOTFOUND: return "unknown name";
  case DS_ENUMERIC: return "non-finite value";
  case DS_EUNSUPPORTED: return "unsupported";
  case DS_EINTERRUPTED: return "interrupted";
  default: return "unknown error";
  }
}

/* The escaped form of byte c into esc (at least 5 bytes); returns its length. */
static size_t escape_byte(unsigned char c, char *esc) {
  if (c == '\n') return (size_t)snprintf(esc, 5, "\\n");
  if (c == '\'' || c == '"' || c == '\\') return (size_t)snprintf(esc, 5, "\\%c", c);
  if (c < 0x20 || c >= 0x7f) return (size_t)snprintf(esc, 5, "\\x%02x", c);
  esc[0] = (char)c;
  return 1;
}

char *ds_excerpt(const char *s, char *buf, size_t size) {
  if (!buf || size == 0) return buf;
  if (!s) s = "(null)";
  char esc[5];
  size_t full = 0; /* escaped length of the whole text, counted until it cannot fit */
  for (const char *p = s; *p && full < size; p++)
    full += escape_byte((unsigned char)*p, esc);
  size_t limit = full < size ? size - 1 : size >= 4 ? size - 4 : 0, n = 0;
  for (; *s; s++) {
    size_t k = escape_byte((unsigned char)*s, esc);
    if (n + k > limit) break;
    memcpy(buf + n, esc, k);
    n += k;
  }
  if (full >= size && size >= 4) {
    memcpy(buf + n, "...", 3);
    n += 3;
  }
  buf[n] = '\0';
  return buf;
}
