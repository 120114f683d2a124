/* descent train — placeholder until the subcommand lands. */
#include <stdio.h>

#include "commands.h"

int cmd_train(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "descent: 'train' is not available in this build yet\n");
  return 2;
}
