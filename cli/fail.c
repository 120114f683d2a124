/* The CLI's one way of reporting a library error. */
#include <stdio.h>

#include "commands.h"
#include "descent/descent.h"

int cli_fail(const char *context) {
  const char *msg = ds_last_error();
  if (context && *context)
    fprintf(stderr, "descent: %s: %s\n", context, *msg ? msg : "failed");
  else
    fprintf(stderr, "descent: %s\n", *msg ? msg : "failed");
  return 1;
}
