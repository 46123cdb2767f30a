/*
 * job.h - one fetch job, as read from any source.
 *
 * A job owns all its strings (malloc'd); job_free releases them.  Fields a
 * source did not set keep the "unset" value noted beside them, so that the
 * command line's defaults can be applied afterwards (job_apply_defaults).
 */
#ifndef JFETCH_JOB_H
#define JFETCH_JOB_H

#include "digest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOB_MAX_URL 65536 /* bytes */
#define JOB_MAX_ID 1024
#define JOB_MAX_PATH 4096
#define JOB_MAX_HEADER 65536
#define JOB_MAX_HEADERS 256
#define JOB_MAX_BODY (64u << 20)
#define JOB_MAX_RETRIES 100
#define JOB_MAX_TIMEOUT_S 1000000.0

struct job {
  uint64_t index; /* 0-based position in the input */
  uint32_t line;  /* 1-based source line; 0 for a command-line URL */
  uint32_t col;   /* 1-based column where the job starts; 0 if none */
  char *id;       /* NULL: none */
  char *url;      /* required */
  char *output;   /* relative path under the output dir; NULL: derive */
  char *method;   /* NULL: GET (POST if a body is given) */
  char **headers; /* "Name: value" each */
  size_t nheaders;
  char *body; /* NULL: none */
  size_t body_len;
  long timeout_ms;     /* -1: unset */
  int retries;         /* -1: unset */
  uint64_t limit_rate; /* bytes/s; 0: unset */
  unsigned digests;    /* bit 1u << enum digest_alg per expected digest */
  uint8_t digest[DIGEST_ALGS][DIGEST_MAX]; /* digest_size(a) bytes each */
  uint16_t *expect_status;                 /* NULL: any 2xx */
  size_t nexpect;
};

void job_init(struct job *j);
void job_free(struct job *j);
/* True if j sets a header named like h's ("Name: value"), in any case. */
bool job_has_header(const struct job *j, const char *h);

/* Copies into dst every field that dst leaves unset and src sets. */
int job_apply_defaults(struct job *dst, const struct job *src);

#endif
