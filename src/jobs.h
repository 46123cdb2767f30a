/*
 * jobs.h - job sources: command-line URLs, URL lists, JSON documents and
 * JSON Lines, all read through one streaming interface.
 *
 * Errors are one line, "FILE:LINE:COL: message" (FILE is "-" or "<stdin>"
 * for standard input, "<args>" for command-line URLs; JSON Lines and URL
 * lists give the column where it is known), written into a struct diag.
 * JSON messages name a job as "job #N", N being its 0-based index (the
 * same number as job.index and the subscript in "jobs": [...]).
 *
 * Use all sources from one thread: cJSON records its last error in a
 * global, so two JSON sources must not parse at once.  Reading blocks on
 * the file descriptor (a pipe or terminal may wait for its writer).
 */
#ifndef JFETCH_JOBS_H
#define JFETCH_JOBS_H

#include "job.h"

struct diag {
  char text[1024];
};

enum jobs_format {
  JOBS_TEXT = 0, /* one URL a line; blank lines and '#' comments skipped */
  JOBS_JSON,     /* {"defaults": {...}, "jobs": [...]} or a bare array */
  JOBS_JSONL     /* one job object a line */
};

typedef struct jobs_src jobs_src;

/* Opens a source.  path "-" is standard input.  Errors: -1 with *d set
 * (cannot open, or, for a JSON document, any syntax error). */
int jobs_src_open(const char *path, enum jobs_format fmt, jobs_src **out,
                  struct diag *d);

/* Command-line URLs as a source (the array must outlive the source). */
int jobs_src_open_args(char *const *urls, size_t n, jobs_src **out);

/* The next job: 1 with *j filled (caller frees with job_free), 0 at the
 * end, -1 with *d set on bad input.  Jobs come with index = position in
 * the input (0-based, counting only jobs) and defaults already applied.
 * After -1 the next call goes on with the following job (a bad job still
 * takes its index), except after a read error, after which calls return
 * 0.  *j is initialised by the call; on 0 and -1 it holds nothing.
 * Memory: a URL list or JSON Lines source holds one line at a time. */
int jobs_src_next(jobs_src *s, struct job *j, struct diag *d);

/* Back to the first job, for a second pass over a file (validation, then
 * the run).  -1 if the source cannot be re-read (standard input). */
int jobs_src_rewind(jobs_src *s);

/* True if the source can be rewound (a regular file or arguments). */
int jobs_src_seekable(const jobs_src *s);

/* "output_dir" from a JSON document's defaults, or NULL.  Owned by s. */
const char *jobs_src_output_dir(const jobs_src *s);

/* The name used in messages ("jobs.json", "<stdin>", "<args>"). */
const char *jobs_src_name(const jobs_src *s);

/* True for a job file (--jobs: JSON or JSON Lines), false for URL lists
 * and command-line URLs. */
int jobs_src_is_job_file(const jobs_src *s);

void jobs_src_close(jobs_src *s);

/* Format from a file name: ".jsonl"/".ndjson" -> JSONL, ".json" -> JSON,
 * anything else -> -1 (the caller decides). */
int jobs_format_from_name(const char *path);

/* Checks a URL: parses with libcurl's URL API, scheme http or https, a
 * host.  0 or -1 with a reason in why (static string). */
int jobs_check_url(const char *url, const char **why);

/* Checks one request header: name an HTTP token, value free of CR, LF and
 * other control characters (tab allowed), "Name: value" at most
 * JOB_MAX_HEADER bytes.  0 or -1 with a reason in why (static string). */
int jobs_check_header(const char *name, const char *value, const char **why);

/* The same rule for a "Name: value" line as -H gives it: the name is what
 * comes before the first ':' (its length goes to *name_len, for the
 * message), the value what follows, less leading blanks; the whole line
 * is at most JOB_MAX_HEADER bytes.  A line without ':' is refused. */
int jobs_check_header_line(const char *line, size_t *name_len,
                           const char **why);

/* Bytes of user text a message shows (jobs_quote cuts after them). */
#define JOBS_QUOTE_MAX 80

/* Writes s[0..n) into buf as a double-quoted string that stays on one
 * line: '"' and '\\' escaped, control bytes and invalid UTF-8 as \\xNN,
 * cut with "..." past JOBS_QUOTE_MAX bytes.  cap >= JOBS_QUOTE_MAX + 16.
 * Returns buf. */
const char *jobs_quote(char *buf, size_t cap, const char *s, size_t n);

#endif
