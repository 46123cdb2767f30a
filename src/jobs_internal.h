/*
 * jobs_internal.h - what jobs.c, jobs_text.c and jobs_json.c share: the
 * source object, the capped line reader, message helpers, the JSON
 * position scanner and the JSON entry points.  Nothing outside the jobs_*.c
 * files includes this.
 */
#ifndef JFETCH_JOBS_INTERNAL_H
#define JFETCH_JOBS_INTERNAL_H

#include <stdint.h>

#include "jobs.h"

/* A JSON document, or one JSON Lines line, is at most this long. */
#define JOBS_MAX_JSON ((size_t)1 << 30)
#define JOBS_CHUNK 65536 /* read(2) size */

enum jobs_kind {
  JOBS_KIND_TEXT,
  JOBS_KIND_JSON,
  JOBS_KIND_JSONL,
  JOBS_KIND_ARGS
};

/* Reads one line at a time from a file descriptor, never holding more
 * than the current line (at most max + 1 bytes) and one chunk. */
struct jobs_reader {
  int fd;
  char *chunk;
  size_t cpos, clen;
  char *line; /* current line, NUL-terminated, without "\n" or "\r\n" */
  size_t len, cap;
  uint64_t lineno; /* 1-based number of the current line */
  int eof;
};

struct jobs_json;       /* jobs_json.c: a parsed document */
struct jobs_json_lines; /* jobs_json.c: JSON Lines state */

struct jobs_src {
  enum jobs_kind kind;
  char *name; /* for messages, control characters replaced */
  int fd;     /* -1 for arguments */
  int is_stdin;
  int seekable;
  int dead; /* a read error was reported: the source is at its end */
  char *const *args;
  size_t nargs;
  uint64_t index; /* index of the next job entry */
  struct jobs_reader rd;
  struct job defaults; /* from a JSON "defaults" object */
  char *output_dir;
  struct jobs_json *json;
  struct jobs_json_lines *jsonl;
};

/* jobs.c */
int jobs_diag(struct diag *d, const char *name, uint64_t line, uint64_t col,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
size_t jobs_utf8_seq(const unsigned char *s, size_t n);
size_t jobs_utf8_check(const char *s, size_t n);
int jobs_url_message(const char *url, char *msg, size_t cap);
int jobs_read_line(struct jobs_reader *r, size_t max);
int jobs_read_error(jobs_src *s, struct diag *d, int err);

/* jobs_text.c */
int jobs_text_next(jobs_src *s, struct job *j, struct diag *d);

/* jobs_json_scan.c: where each JSON value and key starts (see there) */
#define JOBS_JNOKEY UINT32_MAX
struct jobs_jnode {
  uint32_t key;  /* offset of the member's key, JOBS_JNOKEY if none */
  uint32_t val;  /* offset of the value */
  uint32_t skip; /* index of the node after this subtree */
};
struct jobs_jscan {
  struct jobs_jnode *n; /* the nodes, in document order */
  size_t len, cap;
  uint32_t *stack; /* open containers, as node indices */
  size_t depth, scap;
  size_t err; /* on failure: where, and why (static text) */
  const char *why;
};
int jobs_json_scan_run(struct jobs_jscan *sc, const char *text, size_t len,
                       size_t start);
void jobs_json_scan_free(struct jobs_jscan *sc);

/* jobs_json.c */
int jobs_json_open(jobs_src *s, struct diag *d);
int jobs_json_next(jobs_src *s, struct job *j, struct diag *d);
void jobs_json_rewind(jobs_src *s);
void jobs_json_close(jobs_src *s);
int jobs_json_lines_open(jobs_src *s, struct diag *d);
int jobs_json_lines_next(jobs_src *s, struct job *j, struct diag *d);
int jobs_json_lines_rewind(jobs_src *s);
void jobs_json_lines_close(jobs_src *s);

#endif
