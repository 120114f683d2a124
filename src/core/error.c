/* Thread-local error message and status strings. */
#include <stdarg.h>
#include <stdio.h>

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
