/*
 * progress.c - what a person at a terminal sees while a run goes.
 *
 * Bar mode: one status line on stderr, redrawn at most every 100 ms by
 * the root task's timer: carriage return, the text, erase to end of line,
 * written with a single write() so no partial frame ever shows and
 * nothing scrolls (no flicker).  It shows jobs done of the total (when the
 * input was counted up front), percent, bytes received, the transfer rate
 * over the last few seconds, an ETA from the job completion rate, the
 * transfers active now, and failures so far.  Cut to the terminal's width.
 * Plain mode (logs): one line per finished job instead.  Colour only on a
 * terminal and without NO_COLOR.
 *
 * Counters the workers move (bytes, active transfers) are atomics in
 * struct progress_live; the rest is touched by the root only.
 */
#include "progress.h"

#include "redact.h"
#include "report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TICK_NS 100000000u /* 10 redraws a second at most */
#define RATE_WINDOW 30     /* ticks of history for the rate (3 s) */

struct progress {
  int mode;
  int fd;
  bool color;
  uint64_t total; /* 0: unknown */
  const struct progress_live *live;
  uint64_t done, failed;
  uint64_t t0, last_draw;
  uint64_t hist_bytes[RATE_WINDOW], hist_t[RATE_WINDOW];
  unsigned hist_n, hist_i;
  bool drawn;
};

struct progress *progress_create(int mode, bool color, uint64_t total,
                                 const struct progress_live *live) {
  struct progress *p = calloc(1, sizeof(*p));
  if (!p)
    return NULL;
  p->mode = mode;
  p->fd = STDERR_FILENO;
  p->color = color;
  p->total = total;
  p->live = live;
  p->t0 = rt_now();
  return p;
}

void progress_destroy(struct progress *p) { free(p); }

static void human_bytes(char *out, size_t n, double b) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    u++;
  }
  snprintf(out, n, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

static void human_time(char *out, size_t n, double s) {
  if (s < 0 || s > 360000) {
    snprintf(out, n, "--:--");
    return;
  }
  unsigned t = (unsigned)(s + 0.5);
  if (t >= 3600)
    snprintf(out, n, "%u:%02u:%02u", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(out, n, "%u:%02u", t / 60, t % 60);
}

static double rate(struct progress *p, uint64_t now, uint64_t bytes) {
  p->hist_bytes[p->hist_i] = bytes;
  p->hist_t[p->hist_i] = now;
  p->hist_i = (p->hist_i + 1) % RATE_WINDOW;
  if (p->hist_n < RATE_WINDOW)
    p->hist_n++;
  unsigned oldest = (p->hist_i + RATE_WINDOW - p->hist_n) % RATE_WINDOW;
  double dt = (double)(now - p->hist_t[oldest]) / 1e9;
  return dt > 0 ? (double)(bytes - p->hist_bytes[oldest]) / dt : 0;
}

static unsigned width(int fd) {
  struct winsize ws;
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
    return ws.ws_col;
  return 80;
}

static void draw(struct progress *p, uint64_t now) {
  uint64_t bytes = atomic_load_explicit(&p->live->bytes, memory_order_relaxed);
  unsigned active =
      atomic_load_explicit(&p->live->active, memory_order_relaxed);
  char b[32], r[32], eta[32], jobs[64], line[512];
  human_bytes(b, sizeof(b), (double)bytes);
  human_bytes(r, sizeof(r), rate(p, now, bytes));
  double el = (double)(now - p->t0) / 1e9;
  double per = p->done ? el / (double)p->done : 0;
  if (p->total) {
    human_time(eta, sizeof(eta),
               p->done ? per * (double)(p->total - p->done) : -1);
    snprintf(jobs, sizeof(jobs), "%" PRIu64 "/%" PRIu64 " %3u%%", p->done,
             p->total, (unsigned)(100 * p->done / p->total));
  } else {
    snprintf(eta, sizeof(eta), "--:--");
    snprintf(jobs, sizeof(jobs), "%" PRIu64 " done", p->done);
  }
  const char *red = p->color && p->failed ? "\x1b[31m" : "";
  const char *off = p->color && p->failed ? "\x1b[0m" : "";
  int n = snprintf(line, sizeof(line),
                   "\r[%s] %s  %s/s  ETA %s  active %u"
                   "  %sfailed %" PRIu64 "%s",
                   jobs, b, r, eta, active, red, p->failed, off);
  unsigned w = width(p->fd) - 1; /* never touch the last column: no wrap */
  size_t visible = (size_t)n - 1 - strlen(red) - strlen(off);
  if (visible > w)
    n = (int)w + 1; /* cut (colour codes sit at the end, dropped too) */
  memcpy(line + n, "\x1b[K", 4);
  if (write(p->fd, line, (size_t)n + 3) < 0)
    return;
  p->drawn = true;
}

void progress_tick(struct progress *p, bool force) {
  if (!p || p->mode != PROGRESS_BAR)
    return;
  uint64_t now = rt_now();
  if (!force && now - p->last_draw < TICK_NS)
    return;
  p->last_draw = now;
  draw(p, now);
}

uint64_t progress_next_tick(const struct progress *p) {
  if (!p || p->mode != PROGRESS_BAR)
    return 0;
  return p->last_draw + TICK_NS;
}

static void plain_line(struct progress *p, const struct job_run *run) {
  const struct job_result *r = &run->res;
  bool ok = r->outcome == OUT_OK;
  const char *col = !p->color ? "" : ok ? "\x1b[32m" : "\x1b[31m";
  char line[1024], b[32], total[32];
  human_bytes(b, sizeof(b), (double)r->bytes);
  if (p->total)
    snprintf(total, sizeof(total), "%" PRIu64, p->total);
  else
    snprintf(total, sizeof(total), "?");
  char *own;
  const char *url = redact_url(run->job.url, &own);
  int n = snprintf(line, sizeof(line),
                   "[%" PRIu64 "/%s] %s%s%s #%" PRIu64 " %s %s%s%s\n", p->done,
                   total, col,
                   r->skipped ? "skipped" : report_outcome_name(r->outcome),
                   p->color ? "\x1b[0m" : "", run->job.index, url,
                   ok ? b : (r->error_kind ? r->error_kind : ""),
                   ok ? "" : ": ", ok ? "" : (r->error ? r->error : ""));
  free(own);
  if (n > (int)sizeof(line) - 1)
    n = (int)sizeof(line) - 1, line[n - 1] = '\n';
  if (write(p->fd, line, (size_t)n) < 0)
    return;
}

void progress_job_done(struct progress *p, const struct job_run *run) {
  if (!p)
    return;
  p->done++;
  if (run->res.outcome != OUT_OK)
    p->failed++;
  if (p->mode == PROGRESS_PLAIN)
    plain_line(p, run);
}

void progress_finish(struct progress *p) {
  if (!p || !p->drawn)
    return;
  /* leave the last frame, with its final numbers, above the summary */
  draw(p, rt_now());
  if (write(p->fd, "\n", 1) < 0)
    return;
}

int progress_mode_resolve(int asked, int verbosity) {
  if (verbosity < 0)
    return PROGRESS_NONE;
  if (asked != PROGRESS_AUTO)
    return asked;
  if (!isatty(STDERR_FILENO))
    return PROGRESS_NONE;
  const char *ci = getenv("CI");
  if (ci && *ci)
    return PROGRESS_NONE;
  return verbosity > 0 ? PROGRESS_PLAIN : PROGRESS_BAR;
}

bool progress_color(void) {
  const char *nc = getenv("NO_COLOR");
  return isatty(STDERR_FILENO) && !(nc && *nc);
}
