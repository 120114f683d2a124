/* descent CLI — training progress on stdout: a bar redrawn in place (at most 10 times a second)
 * when stdout is a terminal, one plain line every N steps otherwise. */
#ifndef DESCENT_CLI_PROGRESS_H
#define DESCENT_CLI_PROGRESS_H
#include <stdbool.h>
#include <stdint.h>

typedef enum { PROGRESS_NONE, PROGRESS_BAR, PROGRESS_PLAIN } progress_mode;

typedef struct {
  progress_mode mode;
  int64_t total;      /* steps of the whole run */
  int64_t every;      /* plain mode: steps between lines */
  int64_t first_step; /* step at which this invocation started */
  int64_t samples;    /* samples seen in this invocation */
  double t0, last_draw;
  bool drawn; /* a bar is on the current line */
} progress;

/* Monotonic wall-clock seconds. */
double progress_now(void);
/* mode: "auto" (bar on a terminal, plain otherwise), "bar", "plain", "none". */
void progress_init(progress *p, const char *mode, int64_t first_step, int64_t total, int64_t every);
/* Reports finished step `step` (0-based) of epoch `epoch` with `batch` samples. */
void progress_step(progress *p, int64_t step, int64_t epoch, int64_t batch, double loss, double lr);
/* Reports `done` of total units of work named unit ("grid points"): the same bar (or plain line
 * every `every` units) without the training fields. */
void progress_units(progress *p, int64_t done, const char *unit);
/* Clears the bar so that another line can be printed. */
void progress_clear(progress *p);

#endif
