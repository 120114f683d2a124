/* Fuzzes `descent replay` (cli/cmd_replay.c, cli/replay_sched.c): optimizer and schedule cases
 * read from JSON, with --check (the comparison with "expected") when the input's length is odd. */
#include "commands.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = (char *)fuzz_scratch_file(data, size, ".json");
  if (size & 1)
    cmd_replay(3, (char *[]){"replay", "--check", path, NULL});
  else
    cmd_replay(2, (char *[]){"replay", path, NULL});
  return 0;
}
