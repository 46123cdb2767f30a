/*
 * progress.c - what a person at a terminal sees while a run goes.
 *
 * Bar mode: one status line on stderr, redrawn at most every 100 ms by
 * the root task's timer: carriage return, the text, erase to end of line,
 * written with a single write() so no partial frame ever shows and
 * nothing scrolls (no flicker).  It shows jobs done of the total (when the
 * input was counted up front), percent, bytes received, the transfer rate
 * over the last few seconds, an ETA from the job completion rate, the
 * transfers active now, failures so far and, once there are any, the
 * cancelled jobs (counted apart: a cancelled job is not done, so an
 * interrupted run never reaches 100%; after a stop the ETA field says
 * why).  Fitted to the terminal's width (TIOCGWINSZ, else $COLUMNS, else
 * 80): active, bytes, rate and ETA are dropped in that order before jobs
 * and failures are ever cut.
 *
 * When stdout is the same terminal (the same character device as
 * stderr), whatever the run writes to stdout is bracketed by
 * progress_hold (erase the bar) and progress_release (draw it again),
 * so a record line never has a frame glued to it.
 *
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
#include <sys/stat.h>
#include <unistd.h>

#define TICK_NS 100000000u /* 10 redraws a second at most */
#define RATE_WINDOW 30     /* ticks of history for the rate (3 s) */

struct progress {
  int mode;
  int fd;
  bool color;
  uint64_t total; /* 0: unknown */
  const struct progress_live *live;
  uint64_t done, failed, cancelled; /* done: finished, not cancelled */
  uint64_t t0, last_draw;
  uint64_t hist_bytes[RATE_WINDOW], hist_t[RATE_WINDOW];
  unsigned hist_n, hist_i;
  double last_rate;
  const char *stopped; /* why the run stopped early, or NULL */
  bool shares_stdout;  /* stdout is the terminal the bar is on */
  bool drawn;          /* the bar is in use (a frame was drawn) */
};

bool progress_same_tty(void) {
  struct stat a, b;
  return fstat(STDOUT_FILENO, &a) == 0 && fstat(STDERR_FILENO, &b) == 0 &&
         S_ISCHR(a.st_mode) && S_ISCHR(b.st_mode) && a.st_rdev == b.st_rdev &&
         isatty(STDOUT_FILENO);
}

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
  p->shares_stdout = mode == PROGRESS_BAR && progress_same_tty();
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
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  const char *cols = getenv("COLUMNS");
  char *end;
  unsigned long n = cols ? strtoul(cols, &end, 10) : 0;
  if (n > 0 && n < 10000 && *end == '\0')
    return (unsigned)n;
  return 80;
}

/* The fields of a frame, left to right.  drop_rank: when the line is too
 * wide, rank 1 goes first, then 2, ...; rank 0 is never dropped (jobs,
 * failed, cancelled: what a narrow terminal must still show). */
enum { F_JOBS, F_BYTES, F_RATE, F_ETA, F_ACTIVE, F_FAILED, F_CANCELLED, F_N };
static const unsigned drop_rank[F_N] = {0, 2, 3, 4, 1, 0, 0};

static void fields(struct progress *p, uint64_t now, char f[F_N][48]) {
  uint64_t bytes = atomic_load_explicit(&p->live->bytes, memory_order_relaxed);
  unsigned active =
      atomic_load_explicit(&p->live->active, memory_order_relaxed);
  char b[24], r[24], eta[24];
  human_bytes(b, sizeof(b), (double)bytes);
  human_bytes(r, sizeof(r), p->last_rate);
  double el = (double)(now - p->t0) / 1e9;
  double per = p->done ? el / (double)p->done : 0;
  if (p->total) {
    unsigned pct = (unsigned)(100 * p->done / p->total);
    if (p->stopped && pct == 100)
      pct = 99; /* an interrupted run is not complete */
    human_time(eta, sizeof(eta),
               p->done ? per * (double)(p->total - p->done) : -1);
    snprintf(f[F_JOBS], 48, "[%" PRIu64 "/%" PRIu64 " %3u%%]", p->done,
             p->total, pct);
  } else {
    snprintf(eta, sizeof(eta), "--:--");
    snprintf(f[F_JOBS], 48, "[%" PRIu64 " done]", p->done);
  }
  snprintf(f[F_BYTES], 48, "%s", b);
  snprintf(f[F_RATE], 48, "%s/s", r);
  if (p->stopped)
    snprintf(f[F_ETA], 48, "%s", p->stopped);
  else
    snprintf(f[F_ETA], 48, "ETA %s", eta);
  snprintf(f[F_ACTIVE], 48, "active %u", active);
  snprintf(f[F_FAILED], 48, "failed %" PRIu64, p->failed);
  f[F_CANCELLED][0] = '\0';
  if (p->cancelled)
    snprintf(f[F_CANCELLED], 48, "cancelled %" PRIu64, p->cancelled);
}

/* Visible width of the fields still in, two spaces apart. */
static size_t fields_width(char f[F_N][48], const bool *in) {
  size_t n = 0;
  for (int i = 0; i < F_N; i++)
    if (in[i] && f[i][0])
      n += strlen(f[i]) + (n ? 2 : 0);
  return n;
}

/* Puts the frame in line: "\r", the fields that fit in w columns,
 * erase to the end of the line.  Returns its length in bytes. */
static size_t render(struct progress *p, uint64_t now, unsigned w, char *line,
                     size_t cap) {
  char f[F_N][48];
  bool in[F_N];
  fields(p, now, f);
  for (int i = 0; i < F_N; i++)
    in[i] = true;
  for (unsigned rank = 1; rank <= 4 && fields_width(f, in) > w; rank++)
    for (int i = 0; i < F_N; i++)
      if (drop_rank[i] == rank)
        in[i] = false;
  const char *red = p->color && p->failed ? "\x1b[31m" : "";
  const char *off = *red ? "\x1b[0m" : "";
  size_t n = 1, vis = 0;
  line[0] = '\r';
  for (int i = 0; i < F_N; i++) {
    if (!in[i] || !f[i][0])
      continue;
    size_t len = strlen(f[i]);
    const char *sep = vis ? "  " : "";
    size_t room = w > vis ? w - vis : 0;
    if (strlen(sep) + len > room) /* even the kept fields are too wide */
      len = room > strlen(sep) ? room - strlen(sep) : 0, red = off = "";
    bool col = i == F_FAILED && *red;
    n += (size_t)snprintf(line + n, cap - n, "%s%s%.*s%s", sep, col ? red : "",
                          (int)len, f[i], col ? off : "");
    vis += strlen(sep) + len;
    if (vis >= w)
      break;
  }
  n += (size_t)snprintf(line + n, cap - n, "\x1b[K");
  return n;
}

static void draw(struct progress *p, uint64_t now) {
  char line[512];
  unsigned w = width(p->fd) - 1; /* never touch the last column: no wrap */
  size_t n = render(p, now, w, line, sizeof(line));
  if (write(p->fd, line, n) < 0)
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
  uint64_t bytes = atomic_load_explicit(&p->live->bytes, memory_order_relaxed);
  p->last_rate = rate(p, now, bytes);
  draw(p, now);
}

bool progress_hold(struct progress *p) {
  if (!p || !p->shares_stdout)
    return false;
  static const char erase[] = "\r\x1b[K";
  if (p->drawn && write(p->fd, erase, sizeof(erase) - 1) < 0)
    p->drawn = false; /* stderr is gone: nothing to restore either */
  return true;
}

void progress_release(struct progress *p) {
  if (p && p->shares_stdout && p->drawn)
    draw(p, rt_now());
}

void progress_stop(struct progress *p, const char *why) {
  if (p)
    p->stopped = why;
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
                   "[%" PRIu64 "/%s] %s%s%s #%" PRIu64 " %s %s%s%s\n",
                   p->done + p->cancelled, total, col,
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
  if (run->res.outcome == OUT_CANCELLED)
    p->cancelled++;
  else
    p->done++;
  if (run->res.outcome == OUT_APP_ERROR || run->res.outcome == OUT_PANICKED)
    p->failed++;
  if (p->mode == PROGRESS_PLAIN)
    plain_line(p, run);
}

void progress_finish(struct progress *p) {
  if (!p || !p->drawn)
    return;
  /* leave the last frame, with its final numbers, above the summary */
  progress_tick(p, true);
  if (write(p->fd, "\n", 1) < 0)
    return;
}

int progress_mode_resolve(int asked, bool quiet, bool verbose) {
  if (quiet)
    return PROGRESS_NONE;
  if (asked != PROGRESS_AUTO)
    return asked;
  if (!isatty(STDERR_FILENO))
    return PROGRESS_NONE;
  const char *ci = getenv("CI");
  if (ci && *ci)
    return PROGRESS_NONE;
  return verbose ? PROGRESS_PLAIN : PROGRESS_BAR;
}

bool progress_color(void) {
  const char *nc = getenv("NO_COLOR");
  return isatty(STDERR_FILENO) && !(nc && *nc);
}
