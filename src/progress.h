/*
 * progress.h - the live progress display and plain per-job lines.
 */
#ifndef JFETCH_PROGRESS_H
#define JFETCH_PROGRESS_H

#include "cli_args.h"
#include "fetch.h"

#include <stdatomic.h>

/* Moved by the fetch tasks on the workers. */
struct progress_live {
  _Atomic uint64_t bytes;  /* body bytes received, all jobs */
  _Atomic unsigned active; /* transfers in flight now */
};

struct progress;

/* mode: PROGRESS_BAR, PROGRESS_PLAIN or PROGRESS_NONE (then nothing is
 * shown, but calls are still allowed).  total 0: unknown. */
struct progress *progress_create(int mode, bool color, uint64_t total,
                                 const struct progress_live *live);
void progress_destroy(struct progress *p);

/* A job finished (counts it; plain mode prints its line). */
void progress_job_done(struct progress *p, const struct job_run *run);

/* Redraws the bar if 100 ms passed since the last frame (or if force). */
void progress_tick(struct progress *p, bool force);

/* When the next redraw is due (rt_now() clock), 0 if there is no bar. */
uint64_t progress_next_tick(const struct progress *p);

/* Around anything written to stdout: if stdout is the terminal the bar
 * is drawn on, progress_hold erases the bar and returns true; the caller
 * then writes, flushes stdout and calls progress_release, which draws the
 * bar again.  False (and nothing to do) otherwise.  Root only. */
bool progress_hold(struct progress *p);
void progress_release(struct progress *p);

/* The run stops early (why: "interrupted", "deadline"): the bar says so
 * instead of an ETA and never shows 100%.  why must outlive p. */
void progress_stop(struct progress *p, const char *why);

/* Leaves the final frame on its own line before the summary. */
void progress_finish(struct progress *p);

/* The mode to use: off with -q, off when stderr is no terminal or CI is
 * set (unless asked for explicitly), plain with -v. */
int progress_mode_resolve(int asked, bool quiet, bool verbose);

/* stdout and stderr are one terminal (the same character device). */
bool progress_same_tty(void);

/* Colour on a terminal unless NO_COLOR is set. */
bool progress_color(void);

#endif
