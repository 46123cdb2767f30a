/*
 * test_cli_fetch.c - fetch.c's pure helpers: which failures are transient,
 * the full-jitter backoff (bounds over many draws, growth with the attempt
 * number, Retry-After, the 10-minute cap), expected statuses, the
 * JFETCH_PANIC_JOB / JFETCH_HANG_JOB list match, and error kinds.
 */
#include "cli_test_util.h"

#include "fetch.h"

#include <curl/curl.h>

#define CAP_MS (10ull * 60 * 1000)

Test(fetch_transient, statuses, .timeout = T_SHORT) {
  const long yes[] = {408, 429, 500, 502, 503, 504};
  const long no[] = {0,   100, 200, 204, 206, 301, 304, 400, 401, 403,
                     404, 409, 410, 416, 499, 501, 505, 511, 599};
  for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
    cr_assert(fetch_transient(CURLE_OK, yes[i]), "HTTP %ld", yes[i]);
  for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
    cr_assert_not(fetch_transient(CURLE_OK, no[i]), "HTTP %ld", no[i]);
}

Test(fetch_transient, curl_codes, .timeout = T_SHORT) {
  const int yes[] = {CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT,
                     CURLE_RECV_ERROR,      CURLE_SEND_ERROR,
                     CURLE_PARTIAL_FILE,    CURLE_GOT_NOTHING,
                     CURLE_HTTP2,           CURLE_HTTP2_STREAM};
  const int no[] = {CURLE_URL_MALFORMAT,
                    CURLE_UNSUPPORTED_PROTOCOL,
                    CURLE_PEER_FAILED_VERIFICATION,
                    CURLE_SSL_CACERT_BADFILE,
                    CURLE_TOO_MANY_REDIRECTS,
                    CURLE_WRITE_ERROR,
                    CURLE_FILESIZE_EXCEEDED,
                    CURLE_ABORTED_BY_CALLBACK,
                    CURLE_OUT_OF_MEMORY,
                    CURLE_BAD_CONTENT_ENCODING,
                    CURLE_RANGE_ERROR};
  for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
    cr_assert(fetch_transient(yes[i], 0), "%s", curl_easy_strerror(yes[i]));
    /* whatever status a partial response had */
    cr_assert(fetch_transient(yes[i], 200), "%s", curl_easy_strerror(yes[i]));
  }
  for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
    cr_assert_not(fetch_transient(no[i], 0), "%s", curl_easy_strerror(no[i]));
    /* a transient status does not make a local failure transient */
    cr_assert_not(fetch_transient(no[i], 503), "%s", curl_easy_strerror(no[i]));
  }
}

/* Bound of attempt k's wait with base b: min(cap, b * 2^(k-2)). */
static uint64_t span(uint64_t b, unsigned k) {
  uint64_t s = b;
  for (unsigned i = 2; i < k && s < CAP_MS; i++)
    s *= 2;
  return s < CAP_MS ? s : CAP_MS;
}

Test(fetch_backoff, bounds_and_spread, .timeout = T_SHORT) {
  const uint64_t bases[] = {1, 3, 100, 1000, 250000, 600000, 10000000};
  uint32_t rnd = 12345;
  for (size_t bi = 0; bi < sizeof(bases) / sizeof(bases[0]); bi++)
    for (unsigned k = 2; k <= 24; k++) {
      uint64_t hi = span(bases[bi], k), mx = 0, mn = UINT64_MAX;
      double sum = 0;
      int draws = 2000;
      for (int i = 0; i < draws; i++) {
        uint64_t w = fetch_backoff_ms(bases[bi], k, 0, &rnd);
        TU_CHECK(w <= hi, "base %llu attempt %u: %llu > %llu",
                 (unsigned long long)bases[bi], k, (unsigned long long)w,
                 (unsigned long long)hi);
        mx = w > mx ? w : mx;
        mn = w < mn ? w : mn;
        sum += (double)w;
      }
      if (hi >= 100) {
        /* full jitter: uniform over [0, hi] */
        double mean = sum / draws;
        cr_assert(mx > hi * 9 / 10, "base %llu attempt %u: max %llu of %llu",
                  (unsigned long long)bases[bi], k, (unsigned long long)mx,
                  (unsigned long long)hi);
        cr_assert(mn < hi / 10, "base %llu attempt %u: min %llu",
                  (unsigned long long)bases[bi], k, (unsigned long long)mn);
        cr_assert(mean > hi * 0.4 && mean < hi * 0.6,
                  "base %llu attempt %u: mean %.0f of %llu",
                  (unsigned long long)bases[bi], k, mean,
                  (unsigned long long)hi);
      } else {
        cr_assert_eq(mx, hi, "every value in [0, %llu] is drawn",
                     (unsigned long long)hi);
        cr_assert_eq(mn, 0);
      }
    }
}

Test(fetch_backoff, grows_with_attempt, .timeout = T_SHORT) {
  uint32_t rnd = 7;
  double prev = 0;
  for (unsigned k = 2; k <= 12; k++) {
    double sum = 0;
    for (int i = 0; i < 4000; i++)
      sum += (double)fetch_backoff_ms(100, k, 0, &rnd);
    double mean = sum / 4000;
    if (k > 2)
      cr_assert(mean > prev * 1.6, "attempt %u: mean %.0f, before %.0f", k,
                mean, prev);
    prev = mean;
  }
  /* 100 * 2^11 = 204800; from attempt 16 on the cap holds */
  for (unsigned k = 15; k <= 40; k++)
    for (int i = 0; i < 200; i++)
      TU_CHECK(fetch_backoff_ms(100, k, 0, &rnd) <= CAP_MS, "attempt %u", k);
  uint64_t mx = 0;
  for (int i = 0; i < 4000; i++) {
    uint64_t w = fetch_backoff_ms(100, 4000000000u, 0, &rnd);
    TU_CHECK(w <= CAP_MS, "%llu", (unsigned long long)w);
    mx = w > mx ? w : mx;
  }
  cr_assert_gt(mx, CAP_MS * 9 / 10, "a huge attempt number waits ~the cap");
}

Test(fetch_backoff, retry_after, .timeout = T_SHORT) {
  uint32_t rnd = 99;
  for (int i = 0; i < 1000; i++) {
    /* longer than any jitter: it wins */
    TU_CHECK(fetch_backoff_ms(1000, 2, 5000, &rnd) == 5000, "draw %d", i);
    TU_CHECK(fetch_backoff_ms(1000, 3, 2001, &rnd) == 2001, "draw %d", i);
    /* shorter: the wait is at least Retry-After, at most the span */
    uint64_t w = fetch_backoff_ms(1000, 2, 500, &rnd);
    TU_CHECK(w >= 500 && w <= 1000, "%llu", (unsigned long long)w);
    /* capped at 10 minutes */
    TU_CHECK(fetch_backoff_ms(1000, 2, 3600000, &rnd) == CAP_MS, "uncapped");
    TU_CHECK(fetch_backoff_ms(1000, 30, UINT64_MAX, &rnd) == CAP_MS,
             "uncapped");
    TU_CHECK(fetch_backoff_ms(0, 2, 42, &rnd) == 42, "base 0");
  }
}

Test(fetch_backoff, degenerate_inputs, .timeout = T_SHORT) {
  uint32_t rnd = 0; /* a zero state still draws */
  for (int i = 0; i < 100; i++)
    TU_CHECK(fetch_backoff_ms(0, 5, 0, &rnd) == 0, "base 0 waited");
  bool nonzero = false;
  for (int i = 0; i < 100; i++) {
    uint64_t w = fetch_backoff_ms(1000, 2, 0, &rnd);
    TU_CHECK(w <= 1000, "%llu", (unsigned long long)w);
    nonzero |= w != 0;
  }
  cr_assert(nonzero);
  cr_assert_neq(rnd, 0, "the state advances");
  /* a huge base does not overflow past the cap */
  for (int i = 0; i < 100; i++) {
    TU_CHECK(fetch_backoff_ms(UINT64_MAX / 2, 9, 0, &rnd) <= CAP_MS, "huge");
    TU_CHECK(fetch_backoff_ms(UINT64_MAX, 2, 0, &rnd) <= CAP_MS, "huge");
    TU_CHECK(fetch_backoff_ms(400000, 3, 0, &rnd) <= CAP_MS, "doubled");
  }
  /* attempts 0 and 1 are treated as the first retry, not a crash */
  for (int i = 0; i < 100; i++) {
    TU_CHECK(fetch_backoff_ms(1000, 0, 0, &rnd) <= 1000, "attempt 0");
    TU_CHECK(fetch_backoff_ms(1000, 1, 0, &rnd) <= 1000, "attempt 1");
  }
  /* deterministic for a given state */
  uint32_t a = 4242, b = 4242;
  for (int i = 0; i < 50; i++)
    TU_CHECK(fetch_backoff_ms(5000, 4, 0, &a) ==
                 fetch_backoff_ms(5000, 4, 0, &b),
             "draw %d differs", i);
}

Test(fetch_status, expected, .timeout = T_SHORT) {
  struct job j;
  job_init(&j);
  const long ok[] = {200, 201, 204, 206, 299};
  const long bad[] = {0, 100, 199, 300, 301, 304, 404, 500, -200};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
    cr_assert(fetch_status_expected(&j, ok[i]), "%ld", ok[i]);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_assert_not(fetch_status_expected(&j, bad[i]), "%ld", bad[i]);
  j.expect_status = malloc(2 * sizeof(uint16_t));
  j.expect_status[0] = 200;
  j.expect_status[1] = 404;
  j.nexpect = 2;
  cr_assert(fetch_status_expected(&j, 200));
  cr_assert(fetch_status_expected(&j, 404));
  cr_assert_not(fetch_status_expected(&j, 201), "2xx outside the list");
  cr_assert_not(fetch_status_expected(&j, 204));
  cr_assert_not(fetch_status_expected(&j, 500));
  cr_assert_not(fetch_status_expected(&j, 0));
  cr_assert_not(fetch_status_expected(&j, 404 + 65536), "truncated compare");
  j.expect_status[0] = 304;
  j.nexpect = 1;
  cr_assert(fetch_status_expected(&j, 304));
  cr_assert_not(fetch_status_expected(&j, 404), "beyond nexpect");
  cr_assert_not(fetch_status_expected(&j, 200));
  job_free(&j);
}

Test(fetch_listed, by_id, .timeout = T_SHORT) {
  struct job j;
  job_init(&j);
  j.id = strdup("abc");
  j.index = 3;
  cr_assert(fetch_job_listed("abc", &j));
  cr_assert(fetch_job_listed("x,abc", &j));
  cr_assert(fetch_job_listed("abc,x", &j));
  cr_assert(fetch_job_listed("x,abc,y", &j));
  cr_assert(fetch_job_listed(",abc,", &j));
  cr_assert_not(fetch_job_listed(NULL, &j));
  cr_assert_not(fetch_job_listed("", &j));
  cr_assert_not(fetch_job_listed("ab", &j));
  cr_assert_not(fetch_job_listed("abcd", &j));
  cr_assert_not(fetch_job_listed("xabc", &j));
  cr_assert_not(fetch_job_listed("ab,c", &j));
  cr_assert_not(fetch_job_listed("ABC", &j));
  cr_assert_not(fetch_job_listed("abc ", &j));
  cr_assert_not(fetch_job_listed(" abc", &j));
  cr_assert_not(fetch_job_listed("3", &j), "a job with an id is matched "
                                           "by index");
  job_free(&j);
}

Test(fetch_listed, by_index, .timeout = T_SHORT) {
  struct job j;
  job_init(&j);
  j.index = 7;
  cr_assert(fetch_job_listed("7", &j));
  cr_assert(fetch_job_listed("3,7", &j));
  cr_assert(fetch_job_listed("7,3", &j));
  cr_assert_not(fetch_job_listed("17", &j));
  cr_assert_not(fetch_job_listed("70", &j));
  cr_assert_not(fetch_job_listed("07", &j));
  cr_assert_not(fetch_job_listed("1,2,3", &j));
  cr_assert_not(fetch_job_listed(",", &j));
  j.index = 0;
  cr_assert(fetch_job_listed("0", &j));
  cr_assert_not(fetch_job_listed("00", &j));
  j.index = UINT64_MAX;
  cr_assert(fetch_job_listed("1,18446744073709551615", &j));
  cr_assert_not(fetch_job_listed("1844674407370955161", &j));
  job_free(&j);
}

Test(fetch_error_kind, classes, .timeout = T_SHORT) {
  static const struct {
    int code;
    const char *kind;
  } v[] = {
      {CURLE_COULDNT_RESOLVE_HOST, "dns"},
      {CURLE_COULDNT_RESOLVE_PROXY, "dns"},
      {CURLE_COULDNT_CONNECT, "connect"},
      {CURLE_OPERATION_TIMEDOUT, "timeout"},
      {CURLE_SSL_CONNECT_ERROR, "tls"},
      {CURLE_PEER_FAILED_VERIFICATION, "tls"},
      {CURLE_SSL_CACERT_BADFILE, "tls"},
      {CURLE_SSL_CERTPROBLEM, "tls"},
      {CURLE_USE_SSL_FAILED, "tls"},
      {CURLE_TOO_MANY_REDIRECTS, "redirect"},
      {CURLE_UNSUPPORTED_PROTOCOL, "protocol"},
      {CURLE_WEIRD_SERVER_REPLY, "protocol"},
      {CURLE_URL_MALFORMAT, "protocol"},
      {CURLE_BAD_CONTENT_ENCODING, "protocol"},
      {CURLE_RANGE_ERROR, "protocol"},
      {CURLE_WRITE_ERROR, "io"},
      {CURLE_FILESIZE_EXCEEDED, "size"},
      {CURLE_RECV_ERROR, "network"},
      {CURLE_SEND_ERROR, "network"},
      {CURLE_PARTIAL_FILE, "network"},
      {CURLE_GOT_NOTHING, "network"},
      {CURLE_HTTP2, "network"},
      {CURLE_HTTP2_STREAM, "network"},
      {CURLE_OUT_OF_MEMORY, "other"},
      {CURLE_ABORTED_BY_CALLBACK, "other"},
      {9999, "other"},
      {-1, "other"},
  };
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
    cr_assert_str_eq(fetch_error_kind(v[i].code), v[i].kind, "code %d",
                     v[i].code);
}

Test(fetch_result, free_resets, .timeout = T_SHORT) {
  struct job_result r = {0};
  r.error = strdup("boom");
  r.effective_url = strdup("http://h/");
  job_result_free(&r);
  cr_assert_null(r.error);
  cr_assert_null(r.effective_url);
  job_result_free(&r); /* twice is harmless */
}
