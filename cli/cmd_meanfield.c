/* descent meanfield — placeholder until the subcommand lands. */
#include <stdio.h>

#include "commands.h"

int cmd_meanfield(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "descent: 'meanfield' is not available in this build yet\n");
  return 2;
}
