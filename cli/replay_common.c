/* descent replay: checks shared by the optimizer and schedule halves (input is untrusted: names
 * are checked before use, echoed input is a short escaped excerpt). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "descent/descent.h"
#include "replay.h"

bool replay_name_ok(const char *s, const char *what) {
  size_t n = 0;
  for (; s && s[n]; n++)
    if (!isalnum((unsigned char)s[n]) && !strchr("_.-", s[n])) break;
  if (s && n > 0 && n < 64 && !s[n]) return true;
  char q[40];
  ds_set_error(DS_EFORMAT, "%s '%s' is not a name (letters, digits, _ . -, at most 63)", what,
               ds_excerpt(s, q, sizeof q));
  return false;
}

bool replay_scalar_text(const char *s) {
  if (!strcmp(s, "true") || !strcmp(s, "false") || !strcmp(s, "True") || !strcmp(s, "False") ||
      !strcmp(s, "none") || !strcmp(s, "None") || !strcmp(s, "null"))
    return true;
  char *end;
  strtod(s, &end);
  return end != s; /* starts like a number (or a list of them) */
}
