/*
 * report.h - what a run tells afterwards: result records (JSON Lines on
 * stdout, a --format line per job), report files (JUnit XML, JSON), and
 * the human summary.
 */
#ifndef JFETCH_REPORT_H
#define JFETCH_REPORT_H

#include "fetch.h"
#include "jobs.h"

#include <stdio.h>

struct report;

struct report_cfg {
  FILE *json;                /* JSON Lines destination, or NULL */
  const char *format;        /* --format line per job on stdout, or NULL */
  const char *path_base;     /* output dir as the user named it, or NULL */
  const char *stdout_path;   /* "-" when bodies go to stdout, or a -O file */
  unsigned shard_k, shard_n; /* shard_n 0: not sharded */
  FILE *failures; /* -q: a line per failed job here at once, or NULL */
};

struct report *report_create(const struct report_cfg *cfg);
void report_destroy(struct report *r);

/* Adds a report file, "junit=FILE" or "json=FILE": -1 with d set if its
 * temporary file cannot be made. */
int report_add_file(struct report *r, const char *spec, struct diag *d);

/* Checks a --format string: 0, or -1 with d naming what is wrong. */
int report_format_check(const char *fmt, struct diag *d);

/* Writes one record everywhere it goes (and remembers a failure). */
void report_record(struct report *r, const struct job_run *run);

/* Flushes buffered records. */
void report_flush(struct report *r);

/* Finishes the report files (each renamed into place whole).  Prints a
 * line on stderr for a file it could not write; returns -1 then. */
int report_close(struct report *r, double wall_s, int exit_status);

struct report_counts {
  uint64_t ok, app_error, panicked, cancelled, skipped;
};
void report_counts(const struct report *r, struct report_counts *c);

/* The summary on f: counts per outcome, the failed jobs with reasons. */
void report_summary(const struct report *r, FILE *f, double wall_s);

/* JSON string escaping into f (quotes included); NULL prints null. */
void report_json_string(FILE *f, const char *s);

const char *report_outcome_name(int outcome);

/* The JUnit classname of a job from the job file named origin (see
 * jobs_src_name; NULL for command-line URLs and URL lists): the file's
 * base name, "jfetch" for none or stdin.  The result points into origin
 * or is static. */
const char *report_junit_classname(const char *origin);

#endif
