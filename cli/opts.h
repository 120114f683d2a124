/* descent CLI — option scanning shared by the analysis commands (toy, sharpness, landscape):
 * "--name VALUE" or "--name=VALUE" for valued options, "--name" for switches, and number parsing
 * with the flag named in the error. */
#ifndef DESCENT_CLI_OPTS_H
#define DESCENT_CLI_OPTS_H
#include <stdbool.h>
#include <stdint.h>

/* One option: its name ("--samples") and whether it takes a value. */
typedef struct {
  const char *name;
  bool valued;
} opt_spec;

/* Matches argv[*i] against specs. Returns the index of the option (advancing *i past a separate
 * value, *value set to the value or NULL for a switch), -1 for a positional argument (*value =
 * argv[*i]), or -2 after printing "descent: <cmd>: ..." for an unknown option or a missing value.
 */
int opt_next(const char *cmd, const opt_spec *specs, int n, int argc, char **argv, int *i,
             const char **value);

/* Parses a finite number / an integer in [lo, hi]; on failure prints the flag and value and
 * returns 2 (the usage-error exit status). */
int opt_double(const char *cmd, const char *flag, const char *s, double *out);
int opt_int(const char *cmd, const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out);

#endif
