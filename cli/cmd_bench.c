/* descent bench — placeholder until the subcommand lands. */
#include <stdio.h>

#include "commands.h"

int cmd_bench(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "descent: 'bench' is not available in this build yet\n");
  return 2;
}
