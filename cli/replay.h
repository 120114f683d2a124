/* descent replay — shared between the optimizer and schedule halves (see ../shared/REPLAY.md).
 * Each takes the parsed case and writes the result JSON object to out; returns an exit status
 * (0 ok, 1 error with the message already printed to stderr). */
#ifndef DESCENT_CLI_REPLAY_H
#define DESCENT_CLI_REPLAY_H
#include <stdio.h>

#include <cjson/cJSON.h>

int replay_optimizer(const cJSON *root, FILE *out); /* cli/cmd_replay.c */
int replay_schedule(const cJSON *root, FILE *out);  /* cli/replay_sched.c */

#endif
