/* descent CLI — the run directory: its default name, creation, and the rules that keep a run from
 * overwriting another one's files. */
#ifndef DESCENT_CLI_RUN_DIR_H
#define DESCENT_CLI_RUN_DIR_H
#include <stdbool.h>
#include <stddef.h>

#include "settings.h"

/* runs/<UTC timestamp>-<train.name or model-data-optim>, made unique with a -2, -3, ... suffix. */
void run_dir_default(const settings *c, char *out, size_t n);

/* mkdir -p dir; errors name the directory. */
int run_dir_make(const char *dir);

/* Prepares dir for a run: creates it (mkdir -p) if missing; refuses a directory that is not empty
 * unless it is the run being resumed (resume) or overwrite is set, in which case descent's own run
 * files there are removed first (other files are left alone). In every case, temporary files
 * "*.tmp.<pid>" left by a process that no longer runs are removed. Errors name the directory. */
int run_dir_prepare(const char *dir, bool resume, bool overwrite);

#endif
