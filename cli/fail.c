/* The CLI's one way of reporting a library error. */
#include <stdio.h>

#include "commands.h"
#include "descent/descent.h"

int cli_rank = -1;

int cli_fail(const char *context) {
  const char *msg = ds_last_error();
  char who[32] = "";
  if (cli_rank >= 0) snprintf(who, sizeof who, "rank %d: ", cli_rank);
  if (context && *context)
    fprintf(stderr, "descent: %s%s: %s\n", who, context, *msg ? msg : "failed");
  else
    fprintf(stderr, "descent: %s%s\n", who, *msg ? msg : "failed");
  return 1;
}

int cli_exit(int status, const char *context) {
  cli_fail(context);
  return status == DS_EINVAL || status == DS_ENOTFOUND ? 2 : 1;
}
