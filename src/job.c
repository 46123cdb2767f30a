/* job.c - the job record: init, free, defaults. */
#include "job.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void job_init(struct job *j) {
  memset(j, 0, sizeof(*j));
  j->timeout_ms = -1;
  j->retries = -1;
}

void job_free(struct job *j) {
  free(j->id);
  free(j->url);
  free(j->output);
  free(j->method);
  for (size_t i = 0; i < j->nheaders; i++)
    free(j->headers[i]);
  free(j->headers);
  free(j->body);
  free(j->expect_status);
  job_init(j);
}

static int dup_str(char **dst, const char *src) {
  if (*dst || !src)
    return 0;
  *dst = strdup(src);
  return *dst ? 0 : -1;
}

/* True if one of the first n headers of j has h's name (any case). */
static bool has_header(const struct job *j, size_t n, const char *h) {
  size_t len = strcspn(h, ":");
  for (size_t i = 0; i < n; i++)
    if (strcspn(j->headers[i], ":") == len &&
        !strncasecmp(j->headers[i], h, len))
      return true;
  return false;
}

bool job_has_header(const struct job *j, const char *h) {
  return has_header(j, j->nheaders, h);
}

/* Adds the default headers the job does not set itself. */
static int merge_headers(struct job *dst, const struct job *src) {
  char **h =
      realloc(dst->headers, (dst->nheaders + src->nheaders) * sizeof(char *));
  if (!h)
    return -1;
  dst->headers = h;
  size_t own = dst->nheaders;
  for (size_t i = 0; i < src->nheaders; i++) {
    if (has_header(dst, own, src->headers[i]))
      continue;
    if (!(dst->headers[dst->nheaders] = strdup(src->headers[i])))
      return -1;
    dst->nheaders++;
  }
  return 0;
}

int job_apply_defaults(struct job *dst, const struct job *src) {
  if (dup_str(&dst->id, src->id) || dup_str(&dst->url, src->url) ||
      dup_str(&dst->output, src->output) || dup_str(&dst->method, src->method))
    return -1;
  if (!dst->body && src->body) {
    dst->body = malloc(src->body_len + 1);
    if (!dst->body)
      return -1;
    memcpy(dst->body, src->body, src->body_len + 1);
    dst->body_len = src->body_len;
  }
  if (src->nheaders && merge_headers(dst, src) < 0)
    return -1;
  if (dst->timeout_ms < 0)
    dst->timeout_ms = src->timeout_ms;
  if (dst->retries < 0)
    dst->retries = src->retries;
  if (!dst->limit_rate)
    dst->limit_rate = src->limit_rate;
  for (int a = 0; a < DIGEST_ALGS; a++)
    if (!(dst->digests >> a & 1) && (src->digests >> a & 1)) {
      dst->digests |= 1u << a;
      memcpy(dst->digest[a], src->digest[a], digest_size(a));
    }
  if (!dst->expect_status && src->nexpect) {
    size_t n = src->nexpect * sizeof(uint16_t);
    if (!(dst->expect_status = malloc(n)))
      return -1;
    memcpy(dst->expect_status, src->expect_status, n);
    dst->nexpect = src->nexpect;
  }
  return 0;
}
