/* descent eval — placeholder until the subcommand lands. */
#include <stdio.h>

#include "commands.h"

int cmd_eval(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "descent: 'eval' is not available in this build yet\n");
  return 2;
}
