/* descent CLI — one function per subcommand, each in its own cli/cmd_<name>.c.
 * Each takes the arguments after the subcommand name (argv[0] is the subcommand) and returns the
 * process exit status: 0 ok, 1 runtime failure, 2 usage error. Errors go to stderr. */
#ifndef DESCENT_CLI_COMMANDS_H
#define DESCENT_CLI_COMMANDS_H

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_meanfield(int argc, char **argv);
int cmd_experiment(int argc, char **argv);
int cmd_toy(int argc, char **argv);
int cmd_sharpness(int argc, char **argv);
int cmd_landscape(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_signal(int argc, char **argv);

/* Parses `descent <cmd> [TARGET] [--name VALUE | --name=VALUE]...`: each of the n option names
 * (e.g. "--seed") sets *values[i]; the one positional argument goes to *target. Returns 0, 1 after
 * --help (the caller prints its usage), or 2 after printing a usage error. */
int cli_parse_options(int argc, char **argv, const char *cmd, const char *const *names,
                      const char **const *values, int n, const char **target);

/* Prints "descent: <msg>" to stderr, where msg is ds_last_error() prefixed by context. Returns 1.
 */
int cli_fail(const char *context);
/* As cli_fail, returning the exit status that fits the error: 2 for a bad value or name (DS_EINVAL,
 * DS_ENOTFOUND: a flag, a setting, a hyperparameter), 1 for everything else (I/O, numerics). */
int cli_exit(int status, const char *context);
/* This process's rank under mpirun (-1 otherwise): cli_fail's messages name it. */
extern int cli_rank;

#endif
