/* descent CLI — SIGINT and SIGTERM during training: the first asks the run to stop after the
 * current step (the library's fit then writes its checkpoint); a second one ends the process at
 * once with the default action. */
#ifndef DESCENT_CLI_SIGNALS_H
#define DESCENT_CLI_SIGNALS_H
#include <signal.h>

/* Installs the handlers (SIGINT only if it is not ignored, as in a background job). Returns the
 * flag the handlers set: 0, or the number of the first signal received. */
volatile sig_atomic_t *signals_install(void);
/* Restores the actions found at install. */
void signals_restore(void);

#endif
