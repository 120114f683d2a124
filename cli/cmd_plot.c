/* descent plot — placeholder until the subcommand lands. */
#include <stdio.h>

#include "commands.h"

int cmd_plot(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "descent: 'plot' is not available in this build yet\n");
  return 2;
}
