/* descent replay — shared between the optimizer and schedule halves (see ../shared/REPLAY.md).
 * Each takes the parsed case and writes the result JSON object to out; returns an exit status
 * (0 ok, 1 error with the message already printed to stderr). */
#ifndef DESCENT_CLI_REPLAY_H
#define DESCENT_CLI_REPLAY_H
#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

int replay_optimizer(const cJSON *root, FILE *out); /* cli/cmd_replay.c */
int replay_schedule(const cJSON *root, FILE *out);  /* cli/replay_sched.c */

/* Input echoed in messages is quoted with ds_excerpt (short, escaped). */
/* True if s is a plausible name (optimizer, schedule, parameter, hyperparameter): 1..63 letters,
 * digits, '_', '.', '-'; otherwise false with an error message quoting an excerpt. */
bool replay_name_ok(const char *s, const char *what);
/* True if the string s holds what should have been a JSON number, bool or null ("0.1", "true",
 * "none"): such values must not be given as strings. */
bool replay_scalar_text(const char *s);

#endif
