/* descent replay — placeholder until the subcommand lands. */
#include <stdio.h>

#include "commands.h"

int cmd_replay(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "descent: 'replay' is not available in this build yet\n");
  return 2;
}
