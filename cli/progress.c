/* Progress bar / plain progress lines. */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

double progress_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void progress_init(progress *p, const char *mode, int64_t first_step, int64_t total,
                   int64_t every) {
  memset(p, 0, sizeof *p);
  if (!strcmp(mode, "none"))
    p->mode = PROGRESS_NONE;
  else if (!strcmp(mode, "bar") || (!strcmp(mode, "auto") && isatty(STDOUT_FILENO)))
    p->mode = PROGRESS_BAR;
  else
    p->mode = PROGRESS_PLAIN;
  p->total = total;
  p->every = every > 0 ? every : 50;
  p->first_step = first_step;
  p->t0 = progress_now();
}

/* Columns of the terminal on stdout (80 if unknown). */
static int terminal_columns(void) {
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
  return 80;
}

static void fmt_time(char *buf, size_t n, double s) {
  if (s < 0 || s > 1e7) s = 0;
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

/* Redraws the bar line: "[####....] done/total" and tail. */
static void draw_bar(progress *p, int64_t done, const char *tail) {
  char text[320];
  int len =
      snprintf(text, sizeof text, " %lld/%lld %s", (long long)done, (long long)p->total, tail);
  if (len >= (int)sizeof text) len = (int)sizeof text - 1;
  /* the line fits the terminal: the bar shrinks first (24 down to 8 cells), then the text is cut */
  int cols = terminal_columns(), w = 24;
  if (len + w + 3 > cols - 1) w = cols - 1 - 3 - len < 8 ? 8 : cols - 1 - 3 - len;
  if (len + w + 3 > cols - 1) len = cols - 1 - 3 - w > 0 ? cols - 1 - 3 - w : 0;
  int fill = p->total > 0 ? (int)(w * done / p->total) : w;
  char bar[32];
  for (int i = 0; i < w; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[w] = '\0';
  printf("\r[%s]%.*s\033[K", bar, len, text);
  fflush(stdout);
  p->drawn = true;
}

void progress_step(progress *p, int64_t step, int64_t epoch, int64_t batch, double loss,
                   double lr) {
  p->samples += batch;
  if (p->mode == PROGRESS_NONE) return;
  double now = progress_now(), el = now - p->t0;
  int64_t done = step + 1, here = done - p->first_step;
  bool last = done >= p->total;
  if (p->mode == PROGRESS_BAR && !last && now - p->last_draw < 0.1) return;
  if (p->mode == PROGRESS_PLAIN && !last && done % p->every) return;
  p->last_draw = now;
  double rate = el > 0 ? (double)p->samples / el : 0;
  double eta = here > 0 ? el / (double)here * (double)(p->total - done) : 0;
  char eta_s[32];
  fmt_time(eta_s, sizeof eta_s, eta);
  if (p->mode == PROGRESS_PLAIN) {
    printf("step %lld/%lld  epoch %lld  loss %.4f  lr %.3g  %.0f samples/s  eta %s\n",
           (long long)done, (long long)p->total, (long long)epoch + 1, loss, lr, rate, eta_s);
    fflush(stdout);
    return;
  }
  char tail[256];
  snprintf(tail, sizeof tail, " ep %lld  loss %.4f  lr %.3g  %.0f samples/s  ETA %s",
           (long long)epoch + 1, loss, lr, rate, eta_s);
  draw_bar(p, done, tail);
}

void progress_clear(progress *p) {
  if (p->mode == PROGRESS_BAR && p->drawn) {
    printf("\r\033[K");
    fflush(stdout);
  }
  p->drawn = false;
}

void progress_units(progress *p, int64_t done, const char *unit) {
  if (p->mode == PROGRESS_NONE) return;
  double now = progress_now(), el = now - p->t0;
  bool last = done >= p->total;
  if (p->mode == PROGRESS_BAR && !last && now - p->last_draw < 0.1) return;
  if (p->mode == PROGRESS_PLAIN && !last && done % p->every) return;
  p->last_draw = now;
  char eta_s[32];
  fmt_time(eta_s, sizeof eta_s, done > 0 ? el / (double)done * (double)(p->total - done) : 0);
  if (p->mode == PROGRESS_PLAIN) {
    printf("%lld/%lld %s  eta %s\n", (long long)done, (long long)p->total, unit, eta_s);
    fflush(stdout);
    return;
  }
  char tail[256];
  snprintf(tail, sizeof tail, "%s  ETA %s", unit, eta_s);
  draw_bar(p, done, tail);
}
