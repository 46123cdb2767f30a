/*
 * fuzz_jobs.c - libFuzzer target: the job sources.
 *
 * The first byte picks the format (text, JSON document, JSON Lines); the
 * rest is the file, handed to jobs_src_open through a memfd so the real
 * streaming code runs.  Every job is read to the end (errors do not stop a
 * source), rewound once and read again, and every string a job carries is
 * checked against what the parser promises: URLs are http(s), outputs are
 * safe relative paths, headers hold no line breaks.
 */
#include "job.h"
#include "jobs.h"
#include "output.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void check_job(const struct job *j) {
  const char *why;
  if (!j->url || jobs_check_url(j->url, &why) != 0)
    abort();
  if (j->output && output_check_relpath(j->output, &why) != 0)
    abort();
  for (size_t i = 0; i < j->nheaders; i++)
    if (strpbrk(j->headers[i], "\r\n"))
      abort();
}

static void drain(jobs_src *s) {
  struct diag d;
  struct job j;
  int rc;
  for (int guard = 0; guard < 100000 && (rc = jobs_src_next(s, &j, &d)) != 0;
       guard++) {
    if (rc == 1) {
      check_job(&j);
      job_free(&j);
    } else if (!memchr(d.text, '\0', sizeof(d.text)) || strchr(d.text, '\n')) {
      abort(); /* an error message is one NUL-terminated line */
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  enum jobs_format fmt = (enum jobs_format)(data[0] % 3);
  int fd = memfd_create("jobs", MFD_CLOEXEC);
  if (fd < 0)
    return 0;
  if (write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
    close(fd);
    return 0;
  }
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  jobs_src *s;
  struct diag d;
  if (jobs_src_open(path, fmt, &s, &d) == 0) {
    drain(s);
    if (jobs_src_rewind(s) == 0)
      drain(s);
    jobs_src_close(s);
  }
  close(fd);
  return 0;
}
