/*
 * jobs_text.c - URL lists: one URL a line.
 *
 * Each line comes from the capped line reader in jobs.c (one line held at
 * a time, at most JOB_MAX_URL bytes; longer lines are skipped whole and
 * reported).  A line is trimmed of blanks (space, tab, CR, VT, FF); an
 * empty line or one whose first non-blank byte is '#' is no job.  A UTF-8
 * byte order mark is dropped from line 1.
 *
 * Every line, comments included, must be free of NUL bytes and valid
 * UTF-8: a list with binary bytes in it is the wrong file, and saying so
 * beats fetching garbage.  The column in those errors is the offending
 * byte's (1-based, in bytes, counting the BOM if there is one).
 *
 * Index: every job line takes the next index, good or bad, so that the
 * indices of the good ones do not depend on whether a bad line before
 * them was reported.  Comment and blank lines take none; a line too long
 * to read is taken for a job (a 64 KiB comment is not worth a special
 * case).
 *
 * Dropped: inline comments after a URL ("http://x # note") - a URL may
 * hold '#', and a space inside the line already makes it an invalid URL.
 */
#include "jobs_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The current line: 1 with *j filled, 0 if it is no job, -1 if bad. */
static int text_line(jobs_src *s, struct job *j, struct diag *d) {
  char msg[sizeof d->text];
  char *line = s->rd.line;
  uint64_t lineno = s->rd.lineno;
  size_t len = s->rd.len, b = 0, e = len, bad;

  if (lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
    b = 3;
  while (b < e && is_blank(line[b]))
    b++;
  while (e > b && is_blank(line[e - 1]))
    e--;
  int is_job = b < e && line[b] != '#';
  if ((bad = jobs_utf8_check(line, len)) < len) {
    s->index += (uint64_t)is_job;
    return jobs_diag(d, s->name, lineno, bad + 1, "%s",
                     line[bad] ? "invalid UTF-8" : "NUL byte");
  }
  if (!is_job)
    return 0;
  uint64_t index = s->index++;
  line[e] = '\0';
  if (jobs_url_message(line + b, msg, sizeof msg) < 0)
    return jobs_diag(d, s->name, lineno, b + 1, "%s", msg);
  if (!(j->url = strdup(line + b)))
    return jobs_diag(d, s->name, lineno, b + 1, "out of memory");
  j->index = index;
  j->line = lineno > UINT32_MAX ? UINT32_MAX : (uint32_t)lineno;
  j->col = b + 1 > UINT32_MAX ? UINT32_MAX : (uint32_t)(b + 1);
  return 1;
}

int jobs_text_next(jobs_src *s, struct job *j, struct diag *d) {
  for (;;) {
    int r = jobs_read_line(&s->rd, JOB_MAX_URL);
    if (r == 0)
      return 0;
    if (r == -1)
      return jobs_read_error(s, d, errno);
    if (r == -2) {
      s->index++;
      return jobs_diag(d, s->name, s->rd.lineno, JOB_MAX_URL + 1,
                       "line longer than %d bytes", JOB_MAX_URL);
    }
    if ((r = text_line(s, j, d)) != 0)
      return r;
  }
}
