/* Option scanning for the analysis commands. */
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int opt_next(const char *cmd, const opt_spec *specs, int n, int argc, char **argv, int *i,
             const char **value) {
  const char *a = argv[*i];
  if (strncmp(a, "--", 2)) {
    *value = a;
    return -1;
  }
  for (int k = 0; k < n; k++) {
    size_t len = strlen(specs[k].name);
    if (strncmp(a, specs[k].name, len) || (a[len] && a[len] != '=')) continue;
    if (!specs[k].valued) {
      if (a[len] == '=') break; /* a switch takes no value */
      *value = NULL;
      return k;
    }
    if (a[len] == '=') {
      *value = a + len + 1;
    } else if (*i + 1 < argc) {
      *value = argv[++*i];
    } else {
      fprintf(stderr, "descent: %s: option '%s' needs a value\n", cmd, a);
      return -2;
    }
    return k;
  }
  fprintf(stderr, "descent: %s: unknown option '%s' (see --help)\n", cmd, a);
  return -2;
}

int opt_double(const char *cmd, const char *flag, const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (!*s || *end || errno || !isfinite(v)) {
    fprintf(stderr, "descent: %s: %s expects a number, got '%s'\n", cmd, flag, s);
    return 2;
  }
  *out = v;
  return 0;
}

int opt_int(const char *cmd, const char *flag, const char *s, int64_t lo, int64_t hi,
            int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || errno || v < lo || v > hi) {
    fprintf(stderr, "descent: %s: %s expects an integer in %lld..%lld, got '%s'\n", cmd, flag,
            (long long)lo, (long long)hi, s);
    return 2;
  }
  *out = v;
  return 0;
}
