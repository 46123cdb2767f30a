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

/* Runs the jobs the options name; returns the exit status. */
int run_main(const struct cli_opts *o);

#endif
