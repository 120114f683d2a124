/* descent replay — shared between the optimizer and schedule halves (see ../shared/REPLAY.md).
 * Each takes the parsed case and writes the result JSON object to out; returns an exit status
 * (0 ok, 1 error with the message already printed to stderr). */
#ifndef DESCENT_CLI_REPLAY_H
#define DESCENT_CLI_REPLAY_H
#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "descent/descent.h"

int replay_optimizer(const cJSON *root, FILE *out); /* cli/cmd_replay.c */
int replay_schedule(const cJSON *root, FILE *out);  /* cli/replay_sched.c */
/* Training cases (cli/replay_train.c); check_file non-NULL: also compare with "expected" at
 * |a-b| <= 1e-4 + 1e-3|b| and report on stderr naming check_file. */
int replay_training(const cJSON *root, FILE *out, const char *check_file);

/* Helpers of cli/cmd_replay.c shared by the halves. */
ds_status replay_optim_hyper(ds_optim *o, const cJSON *item);    /* one "hyper" entry */
int replay_read_floats(const cJSON *arr, float *dst, int64_t n); /* 0 when arr holds n numbers */
/* Counts the numbers of want (nested arrays), those of got outside atol + rtol |want|, the worst
 * ratio of |got - want| to that bound. */
void replay_compare(const cJSON *got, const cJSON *want, double atol, double rtol, int64_t *n,
                    int64_t *bad, double *worst);

/* Input echoed in messages is quoted with ds_excerpt (short, escaped). */
/* True if s is a plausible name (optimizer, schedule, parameter, hyperparameter): 1..63 letters,
 * digits, '_', '.', '-'; otherwise false with an error message quoting an excerpt. */
bool replay_name_ok(const char *s, const char *what);
/* True if the string s holds what should have been a JSON number, bool or null ("0.1", "true",
 * "none"): such values must not be given as strings. */
bool replay_scalar_text(const char *s);

#endif
