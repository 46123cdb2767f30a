/*
 * test_cli_job.c - job.c: job_init's "unset" values, job_free, and
 * job_apply_defaults, which fills only what the job leaves unset: strings,
 * the body (binary-safe), timeout and retries (0 is a setting), headers
 * merged by name without regard to case (the job's own win), the expected
 * statuses and the sha256.  Every copy is the job's own memory.
 */
#include "cli_test_util.h"

#include "job.h"

static char **strv(size_t n, const char *const *s) {
  char **v = calloc(n ? n : 1, sizeof(char *));
  for (size_t i = 0; i < n; i++)
    v[i] = strdup(s[i]);
  return v;
}

static void set_headers(struct job *j, size_t n, const char *const *h) {
  j->headers = strv(n, h);
  j->nheaders = n;
}

/* Asserts j's headers are want[0..n), in order. */
static void expect_headers(const struct job *j, size_t n,
                           const char *const *want) {
  cr_assert_eq(j->nheaders, n, "%zu headers", j->nheaders);
  for (size_t i = 0; i < n; i++)
    cr_assert_str_eq(j->headers[i], want[i], "header %zu", i);
}

/* A defaults record with every field set. */
static void full_defaults(struct job *src) {
  job_init(src);
  src->id = strdup("sid");
  src->url = strdup("http://h/default");
  src->output = strdup("dflt/out.bin");
  src->method = strdup("POST");
  src->body = malloc(6);
  memcpy(src->body, "a\0b\0c", 6); /* 5 bytes and the NUL */
  src->body_len = 5;
  src->timeout_ms = 5000;
  src->retries = 3;
  src->digests |= 1u << DIGEST_SHA256;
  for (int i = 0; i < 32; i++)
    src->digest[DIGEST_SHA256][i] = (uint8_t)i;
  src->expect_status = malloc(2 * sizeof(uint16_t));
  src->expect_status[0] = 200;
  src->expect_status[1] = 404;
  src->nexpect = 2;
  const char *h[] = {"X-Token: default", "User-Agent: ua/1", "ACCEPT: */*",
                     "X-New: 1"};
  set_headers(src, 4, h);
}

Test(job, init_and_free, .timeout = T_SHORT) {
  struct job j;
  memset(&j, 0xab, sizeof(j));
  job_init(&j);
  cr_assert_eq(j.timeout_ms, -1);
  cr_assert_eq(j.retries, -1);
  cr_assert_null(j.id);
  cr_assert_null(j.url);
  cr_assert_null(j.output);
  cr_assert_null(j.method);
  cr_assert_null(j.headers);
  cr_assert_eq(j.nheaders, 0);
  cr_assert_null(j.body);
  cr_assert_eq(j.body_len, 0);
  cr_assert_not(j.digests >> DIGEST_SHA256 & 1);
  cr_assert_null(j.expect_status);
  cr_assert_eq(j.nexpect, 0);
  cr_assert_eq(j.index, 0);
  cr_assert_eq(j.line, 0);
  struct job src;
  full_defaults(&src);
  job_free(&src);
  /* back to the unset state, safe to free again */
  cr_assert_null(src.url);
  cr_assert_null(src.headers);
  cr_assert_eq(src.nheaders, 0);
  cr_assert_eq(src.retries, -1);
  cr_assert_eq(src.timeout_ms, -1);
  cr_assert_not(src.digests >> DIGEST_SHA256 & 1);
  job_free(&src);
}

Test(job_defaults, fills_unset_fields, .timeout = T_SHORT) {
  struct job src, dst;
  full_defaults(&src);
  job_init(&dst);
  dst.url = strdup("http://h/mine");
  dst.index = 17;
  dst.line = 4;
  cr_assert_eq(job_apply_defaults(&dst, &src), 0);
  cr_assert_str_eq(dst.url, "http://h/mine", "the job's URL was replaced");
  cr_assert_str_eq(dst.id, "sid");
  cr_assert_str_eq(dst.output, "dflt/out.bin");
  cr_assert_str_eq(dst.method, "POST");
  cr_assert_eq(dst.body_len, 5);
  cr_assert(memcmp(dst.body, "a\0b\0c", 6) == 0, "body (binary) differs");
  cr_assert_eq(dst.timeout_ms, 5000);
  cr_assert_eq(dst.retries, 3);
  cr_assert(dst.digests >> DIGEST_SHA256 & 1);
  cr_assert(memcmp(dst.digest[DIGEST_SHA256], src.digest[DIGEST_SHA256], 32) ==
            0);
  cr_assert_eq(dst.nexpect, 2);
  cr_assert_eq(dst.expect_status[0], 200);
  cr_assert_eq(dst.expect_status[1], 404);
  cr_assert_eq(dst.nheaders, 4);
  for (size_t i = 0; i < 4; i++)
    cr_assert_str_eq(dst.headers[i], src.headers[i]);
  cr_assert_eq(dst.index, 17, "index is not a default");
  cr_assert_eq(dst.line, 4);
  /* the copies are dst's own */
  cr_assert_neq(dst.id, src.id);
  cr_assert_neq(dst.output, src.output);
  cr_assert_neq(dst.method, src.method);
  cr_assert_neq(dst.body, src.body);
  cr_assert_neq((void *)dst.expect_status, (void *)src.expect_status);
  cr_assert_neq((void *)dst.headers, (void *)src.headers);
  for (size_t i = 0; i < 4; i++)
    cr_assert_neq(dst.headers[i], src.headers[i]);
  job_free(&src); /* dst must survive src (ASan would see a use after free) */
  cr_assert_str_eq(dst.id, "sid");
  cr_assert_str_eq(dst.headers[3], "X-New: 1");
  cr_assert_eq(dst.expect_status[1], 404);
  job_free(&dst);
}

Test(job_defaults, keeps_set_fields, .timeout = T_SHORT) {
  struct job src, dst;
  full_defaults(&src);
  job_init(&dst);
  dst.id = strdup("did");
  dst.url = strdup("http://h/mine");
  dst.output = strdup("mine.bin");
  dst.method = strdup("GET");
  dst.body = strdup("x");
  dst.body_len = 1;
  dst.timeout_ms = 0; /* set: no timeout */
  dst.retries = 0;    /* set: no retries */
  dst.digests |= 1u << DIGEST_SHA256;
  memset(dst.digest[DIGEST_SHA256], 0xee, 32);
  dst.expect_status = malloc(sizeof(uint16_t));
  dst.expect_status[0] = 201;
  dst.nexpect = 1;
  cr_assert_eq(job_apply_defaults(&dst, &src), 0);
  cr_assert_str_eq(dst.id, "did");
  cr_assert_str_eq(dst.url, "http://h/mine");
  cr_assert_str_eq(dst.output, "mine.bin");
  cr_assert_str_eq(dst.method, "GET");
  cr_assert_str_eq(dst.body, "x");
  cr_assert_eq(dst.body_len, 1);
  cr_assert_eq(dst.timeout_ms, 0, "an explicit 0 was replaced");
  cr_assert_eq(dst.retries, 0, "an explicit 0 was replaced");
  for (int i = 0; i < 32; i++)
    cr_assert_eq(dst.digest[DIGEST_SHA256][i], 0xee,
                 "the job's sha256 was replaced");
  cr_assert_eq(dst.nexpect, 1);
  cr_assert_eq(dst.expect_status[0], 201);
  job_free(&dst);
  job_free(&src);
}

Test(job_defaults, unset_defaults_change_nothing, .timeout = T_SHORT) {
  struct job src, dst;
  job_init(&src);
  job_init(&dst);
  dst.url = strdup("http://h/x");
  cr_assert_eq(job_apply_defaults(&dst, &src), 0);
  cr_assert_str_eq(dst.url, "http://h/x");
  cr_assert_null(dst.id);
  cr_assert_null(dst.output);
  cr_assert_null(dst.method);
  cr_assert_null(dst.body);
  cr_assert_eq(dst.nheaders, 0);
  cr_assert_eq(dst.timeout_ms, -1);
  cr_assert_eq(dst.retries, -1);
  cr_assert_not(dst.digests >> DIGEST_SHA256 & 1);
  cr_assert_null(dst.expect_status);
  cr_assert_eq(dst.nexpect, 0);
  job_free(&dst);
  job_free(&src);
}

Test(job_defaults, headers_merge_by_name, .timeout = T_SHORT) {
  struct job src, dst;
  full_defaults(&src);
  job_init(&dst);
  const char *own[] = {"x-token: mine", "Accept: text/plain", "X-Tok: short"};
  set_headers(&dst, 3, own);
  cr_assert_eq(job_apply_defaults(&dst, &src), 0);
  /* the job's own, in order, then the defaults it does not name */
  const char *want[] = {"x-token: mine", "Accept: text/plain", "X-Tok: short",
                        "User-Agent: ua/1", "X-New: 1"};
  expect_headers(&dst, 5, want);
  job_free(&dst);
  job_free(&src);
}

Test(job_defaults, header_names_match_whole, .timeout = T_SHORT) {
  struct job src, dst;
  job_init(&src);
  job_init(&dst);
  const char *d[] = {"X-Token: d", "X: d", "X-Token-2: d", "Cookie:d"};
  const char *o[] = {"X-Tok: o", "X-Token-2-x: o", "cookie: o"};
  set_headers(&src, 4, d);
  set_headers(&dst, 3, o);
  cr_assert_eq(job_apply_defaults(&dst, &src), 0);
  /* "X-Tok" is not "X-Token", "X-Token-2-x" is not "X-Token-2", and
   * "cookie" is "Cookie" */
  const char *want[] = {"X-Tok: o",   "X-Token-2-x: o", "cookie: o",
                        "X-Token: d", "X: d",           "X-Token-2: d"};
  expect_headers(&dst, 6, want);
  job_free(&dst);
  job_free(&src);
}

Test(job_defaults, applied_twice_adds_nothing, .timeout = T_SHORT) {
  struct job src, dst;
  full_defaults(&src);
  job_init(&dst);
  dst.url = strdup("u");
  cr_assert_eq(job_apply_defaults(&dst, &src), 0);
  cr_assert_eq(job_apply_defaults(&dst, &src), 0);
  cr_assert_eq(dst.nheaders, 4, "headers added again: %zu", dst.nheaders);
  cr_assert_eq(dst.nexpect, 2);
  job_free(&dst);
  job_free(&src);
}

Test(job_defaults, many_headers, .timeout = T_SHORT) {
  struct job src, dst;
  job_init(&src);
  job_init(&dst);
  enum { N = JOB_MAX_HEADERS };
  char *d[N], *o[N / 2];
  for (int i = 0; i < N; i++)
    cr_assert(asprintf(&d[i], "H%d: default", i) > 0);
  for (int i = 0; i < N / 2; i++)
    cr_assert(asprintf(&o[i], "h%d: own", i * 2) > 0);
  set_headers(&src, N, (const char *const *)d);
  set_headers(&dst, N / 2, (const char *const *)o);
  cr_assert_eq(job_apply_defaults(&dst, &src), 0);
  /* own: even numbers; defaults add the odd ones */
  cr_assert_eq(dst.nheaders, N, "%zu", dst.nheaders);
  for (int i = 0; i < N / 2; i++) {
    cr_assert_str_eq(dst.headers[i], o[i]);
    char want[32];
    snprintf(want, sizeof(want), "H%d: default", 2 * i + 1);
    cr_assert_str_eq(dst.headers[N / 2 + i], want);
  }
  for (int i = 0; i < N; i++)
    free(d[i]);
  for (int i = 0; i < N / 2; i++)
    free(o[i]);
  job_free(&dst);
  job_free(&src);
}

Test(job, has_header, .timeout = T_SHORT) {
  struct job j;
  job_init(&j);
  cr_assert_not(job_has_header(&j, "Accept: x"));
  const char *h[] = {"Accept: text/plain", "x-token: a", "X-Empty:"};
  set_headers(&j, 3, h);
  cr_assert(job_has_header(&j, "Accept: */*"));
  cr_assert(job_has_header(&j, "ACCEPT: */*"));
  cr_assert(job_has_header(&j, "X-Token: b"));
  cr_assert(job_has_header(&j, "x-empty: v"));
  cr_assert_not(job_has_header(&j, "Accept-Encoding: gzip"));
  cr_assert_not(job_has_header(&j, "Accep: x"));
  cr_assert_not(job_has_header(&j, "X-Tok: a"));
  cr_assert_not(job_has_header(&j, "User-Agent: a"));
  job_free(&j);
}
