/* descent train — parses the flags and settings (settings.c) and trains (train_run.c). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "train_run.h"

int cmd_train(int argc, char **argv) {
  static settings cfg; /* the settings are large: not on the stack */
  settings_init(&cfg);
  cli_flags flags;
  if (settings_parse_args(&cfg, argc, argv, &flags)) {
    cli_fail(NULL);
    return 2;
  }
  if (flags.help) {
    settings_help(stdout);
    return 0;
  }
  train_hooks h = {.resume_dir = flags.resume, .overwrite = flags.overwrite};
  return train_from_settings(&cfg, &h);
}
