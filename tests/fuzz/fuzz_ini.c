/* Fuzzes the CLI's INI settings parser (cli/settings.c, settings_load_ini_string: the config
 * files and the configuration embedded in checkpoints). */
#include <stdlib.h>

#include "fuzz.h"
#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static settings s; /* large: keep it off the stack */
  char *text = fuzz_string(data, size);
  settings_init(&s);
  settings_load_ini_string(&s, text, "fuzz input");
  free(text);
  return 0;
}
