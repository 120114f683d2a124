/* A stop flag for SIGINT / SIGTERM; the second signal takes the default action. */
#include "signals.h"

#include <string.h>

static volatile sig_atomic_t received;
static struct sigaction old_int, old_term;

static void on_signal(int sig) {
  received = sig;
  signal(sig, SIG_DFL); /* a second one ends the process at once */
}

volatile sig_atomic_t *signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGINT, NULL, &old_int) == 0 && old_int.sa_handler != SIG_IGN)
    sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, &old_term);
  received = 0;
  return &received;
}

void signals_restore(void) {
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
}
