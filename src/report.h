/*
 * report.h - result records (JSON Lines) and the human summary.
 */
#ifndef JFETCH_REPORT_H
#define JFETCH_REPORT_H

#include "fetch.h"

#include <stdio.h>

struct report;

struct report_cfg {
  FILE *json;            /* JSON Lines destination, or NULL */
  const char *path_base; /* output dir as the user named it, or NULL */
  const char *stdout_path; /* "-" when bodies go to stdout, or a -O file */
};

struct report *report_create(const struct report_cfg *cfg);
void report_destroy(struct report *r);

/* Writes one record (and remembers a failure for the summary). */
void report_record(struct report *r, const struct job_run *run);

/* Flushes buffered records. */
void report_flush(struct report *r);

/* Counts by outcome. */
struct report_counts {
  uint64_t ok, app_error, panicked, cancelled;
};
void report_counts(const struct report *r, struct report_counts *c);

/* The summary on f: counts per outcome, the failed jobs with reasons. */
void report_summary(const struct report *r, FILE *f, double wall_s);

/* JSON string escaping into f (quotes included); NULL prints null. */
void report_json_string(FILE *f, const char *s);

const char *report_outcome_name(int outcome);

#endif
