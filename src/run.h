/*
 * run.h - a whole run: validate the input, fetch every job, report.
 */
#ifndef JFETCH_RUN_H
#define JFETCH_RUN_H

#include "cli_args.h"

/* Exit statuses (DESIGN.md): only main turns them into the process's. */
enum {
  EXIT_ALL_OK = 0,
  EXIT_APP_ERRORS = 1,
  EXIT_BAD_INPUT = 2,
  EXIT_TASK_FAILURES = 3,
  EXIT_INTERRUPTED = 130
};

/* Runs the jobs the options name; returns the exit status.  *abandoned is
 * set when a thread is left blocked reading stdin: the process must then
 * end with _exit after flushing stdout and stderr, because exit() would
 * wait for that thread's lock on stdin. */
int run_main(const struct cli_opts *o, bool *abandoned);

#endif
