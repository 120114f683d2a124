/* Text values: booleans, none, numbers, integers and lists, with one set of spellings (kv.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "descent/kv.h"

/* A short, printable excerpt of untrusted text for messages. */
static const char *excerpt(const char *text, char *buf, size_t size) {
  size_t j = 0;
  for (size_t i = 0; text[i] && j + 4 < size; i++)
    buf[j++] = text[i] >= 32 && text[i] < 127 ? text[i] : '?';
  if (strlen(text) > j) {
    buf[j > size - 4 ? size - 4 : j] = '\0';
    strcat(buf, "...");
  } else {
    buf[j] = '\0';
  }
  return buf;
}

static ds_status bad(const char *what, const char *text, const char *expected) {
  char ex[48];
  return ds_set_error(DS_EINVAL, "%s: '%s' is not %s", what, excerpt(text, ex, sizeof ex),
                      expected);
}

const char *ds_kv_join(const char *const *names, char *buf, int size) {
  if (!buf || size <= 0) return buf;
  buf[0] = '\0';
  for (int i = 0, n = 0; names && names[i] && n < size; i++)
    n += snprintf(buf + n, (size_t)(size - n), "%s%s", i ? ", " : "", names[i]);
  return buf;
}

bool ds_kv_is_none(const char *text) {
  return text && (!strcasecmp(text, "none") || !strcasecmp(text, "null"));
}

static int bool_word(const char *text) {
  static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off",
                                                                              "0"};
  for (int i = 0; i < 4; i++) {
    if (!strcasecmp(text, yes[i])) return 1;
    if (!strcasecmp(text, no[i])) return 0;
  }
  return -1;
}

ds_status ds_kv_bool(const char *what, const char *text, bool *out) {
  int b = text ? bool_word(text) : -1;
  if (b < 0) return bad(what, text ? text : "", "a boolean (true/false, yes/no, on/off, 1/0)");
  *out = b == 1;
  return DS_OK;
}

/* One finite number at *p, skipping spaces around it; *p moves past it. */
static bool scan_number(const char **p, double *out) {
  while (**p == ' ')
    (*p)++;
  char *end;
  errno = 0;
  double x = strtod(*p, &end);
  if (end == *p || errno == ERANGE || !isfinite(x)) return false;
  *p = end;
  while (**p == ' ')
    (*p)++;
  *out = x;
  return true;
}

ds_status ds_kv_number(const char *what, const char *text, double *out) {
  const char *p = text ? text : "";
  double x;
  if (!scan_number(&p, &x) || *p) return bad(what, text ? text : "", "a finite number");
  *out = x;
  return DS_OK;
}

ds_status ds_kv_int(const char *what, const char *text, int64_t *out) {
  const char *p = text ? text : "";
  while (*p == ' ')
    p++;
  char *end;
  errno = 0;
  long long x = strtoll(p, &end, 10);
  if (end == p || errno == ERANGE) return bad(what, text ? text : "", "an integer");
  while (*end == ' ')
    end++;
  if (*end) return bad(what, text, "an integer");
  *out = x;
  return DS_OK;
}

ds_status ds_kv_values(const char *what, const char *text, double *out, int cap, int *n) {
  if (!text) return bad(what, "", "a value");
  *n = 0;
  if (ds_kv_is_none(text)) return DS_OK;
  int b = bool_word(text);
  if (b >= 0 && cap >= 1) {
    out[0] = b;
    *n = 1;
    return DS_OK;
  }
  const char *p = text;
  for (;;) {
    double x;
    if (*n == cap) {
      char ex[48];
      return ds_set_error(DS_EINVAL, "%s: '%s' has more than %d value%s", what,
                          excerpt(text, ex, sizeof ex), cap, cap == 1 ? "" : "s");
    }
    if (!scan_number(&p, &x))
      return bad(what, text, cap == 1 ? "a finite number" : "a finite number or a list of them");
    out[(*n)++] = x;
    if (!*p) return DS_OK;
    if (*p != ',')
      return bad(what, text, cap == 1 ? "a finite number" : "a list of finite numbers");
    p++;
  }
}
