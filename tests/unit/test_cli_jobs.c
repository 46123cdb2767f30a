/*
 * test_cli_jobs.c - job sources: command-line URLs, URL lists, JSON
 * budget: over 800 lines of test tables, one suite per job source.
 * documents and JSON Lines.  Every key, every error class with its exact
 * "file:line:col: message", defaults, CRLF, comments, rewind, indices,
 * standard input, a 100,000-line list streamed in bounded memory, and the
 * hostile inputs (NUL bytes, \u0000, invalid UTF-8, lone surrogates, deep
 * nesting, huge strings, unsafe outputs, other schemes, header injection).
 *
 * Inputs go to temporary files (mkstemps); messages have the file's path
 * replaced by "F" so that expected texts are literal.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs.h"

#define T_SHORT 10
#define T_LONG 120

/* ---- helpers ---------------------------------------------------------- */

static const char *suffix_of(enum jobs_format fmt) {
  return fmt == JOBS_JSON ? ".json" : fmt == JOBS_JSONL ? ".jsonl" : ".txt";
}

/* A temporary file holding data[0..len); the caller unlinks and frees. */
static char *tmp_file(const void *data, size_t len, const char *suffix) {
  char *path = NULL;
  int fd;

  cr_assert(asprintf(&path, "/tmp/jobs-test-XXXXXX%s", suffix) > 0);
  fd = mkstemps(path, (int)strlen(suffix));
  cr_assert(fd >= 0);
  for (size_t off = 0; off < len;) {
    ssize_t n = write(fd, (const char *)data + off, len - off);
    cr_assert(n > 0);
    off += (size_t)n;
  }
  close(fd);
  return path;
}

/* s with every occurrence of path replaced by "F" (caller frees). */
static char *unpath(const char *s, const char *path) {
  size_t pl = strlen(path);
  char *out = malloc(strlen(s) + 1), *o = out;

  while (*s) {
    if (strncmp(s, path, pl) == 0) {
      *o++ = 'F';
      s += pl;
    } else {
      *o++ = *s++;
    }
  }
  *o = '\0';
  return out;
}

static void append(char **log, size_t *len, const char *fmt, ...) {
  va_list ap;
  char line[1400];
  int n;

  va_start(ap, fmt);
  n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  *log = realloc(*log, *len + (size_t)n + 1);
  memcpy(*log + *len, line, (size_t)n + 1);
  *len += (size_t)n;
}

/* Reads s to the end: "index:line url" per job, "E message" per error. */
static char *drain(jobs_src *s, const char *path) {
  char *log = calloc(1, 1);
  size_t len = 0;
  struct diag d;
  struct job j;
  int r, guard = 0;

  while ((r = jobs_src_next(s, &j, &d)) != 0 && guard++ < 1000) {
    if (r > 0) {
      append(&log, &len, "%" PRIu64 ":%" PRIu32 " %s\n", j.index, j.line,
             j.url);
      job_free(&j);
    } else {
      char *m = unpath(d.text, path);
      append(&log, &len, "E %s\n", m);
      free(m);
    }
  }
  return log;
}

/* Opens data as fmt and drains it; "OPEN message" if open fails. */
static char *run_len(enum jobs_format fmt, const char *data, size_t n) {
  char *path = tmp_file(data, n, suffix_of(fmt)), *log;
  struct diag d;
  jobs_src *s;

  if (jobs_src_open(path, fmt, &s, &d) < 0) {
    char *m = unpath(d.text, path);
    log = NULL;
    cr_assert(asprintf(&log, "OPEN %s\n", m) > 0);
    free(m);
  } else {
    log = drain(s, path);
    jobs_src_close(s);
  }
  unlink(path);
  free(path);
  return log;
}

static char *run(enum jobs_format fmt, const char *data) {
  return run_len(fmt, data, strlen(data));
}

#define EXPECT_RUN(fmt, data, want)                                            \
  do {                                                                         \
    char *got_ = run(fmt, data);                                               \
    cr_assert_str_eq(got_, want, "input: %s\ngot: %s", data, got_);            \
    free(got_);                                                                \
  } while (0)

/* The first job of a one-job document (asserts it parses). */
static void one_job(enum jobs_format fmt, const char *data, struct job *j) {
  char *path = tmp_file(data, strlen(data), suffix_of(fmt));
  struct diag d;
  jobs_src *s;

  cr_assert_eq(jobs_src_open(path, fmt, &s, &d), 0, "%s", d.text);
  cr_assert_eq(jobs_src_next(s, j, &d), 1, "%s", d.text);
  jobs_src_close(s);
  unlink(path);
  free(path);
}

/* Drains data as fmt twice, with a rewind in between: both passes must
 * give want. */
static void expect_rewind_same(enum jobs_format fmt, const char *data,
                               const char *want) {
  char *path = tmp_file(data, strlen(data), suffix_of(fmt));
  struct diag d;
  jobs_src *s;

  cr_assert_eq(jobs_src_open(path, fmt, &s, &d), 0);
  char *first = drain(s, path);
  cr_assert_eq(jobs_src_rewind(s), 0);
  char *second = drain(s, path);
  cr_assert_str_eq(first, want);
  cr_assert_str_eq(first, second);
  free(first);
  free(second);
  jobs_src_close(s);
  unlink(path);
  free(path);
}

static const char *data_dir(void) {
  static char dir[4096];
  const char *f = __FILE__, *slash = strrchr(f, '/');

  snprintf(dir, sizeof dir, "%.*s/../data/jobs", (int)(slash - f), f);
  return dir;
}

/* ---- command-line URLs ------------------------------------------------- */

Test(jobs_args, urls_in_order, .timeout = T_SHORT) {
  char *urls[] = {"http://a.example/", "HTTPS://b.example:8443/x?y#z"};
  jobs_src *s;

  cr_assert_eq(jobs_src_open_args(urls, 2, &s), 0);
  cr_assert_str_eq(jobs_src_name(s), "<args>");
  cr_assert(jobs_src_seekable(s));
  char *log = drain(s, "<none>");
  cr_assert_str_eq(log, "0:0 http://a.example/\n"
                        "1:0 HTTPS://b.example:8443/x?y#z\n");
  free(log);
  cr_assert_eq(jobs_src_rewind(s), 0);
  log = drain(s, "<none>");
  cr_assert_str_eq(log, "0:0 http://a.example/\n"
                        "1:0 HTTPS://b.example:8443/x?y#z\n");
  free(log);
  jobs_src_close(s);
}

Test(jobs_args, errors_name_the_argument, .timeout = T_SHORT) {
  char *urls[] = {"http://ok/", "ftp://x", "example.com/x",
                  "http://a b", "",        "http://ok2/"};
  jobs_src *s;

  cr_assert_eq(jobs_src_open_args(urls, 6, &s), 0);
  char *log = drain(s, "<none>");
  cr_assert_str_eq(
      log, "0:0 http://ok/\n"
           "E <args>:2: invalid URL \"ftp://x\": scheme \"ftp\" not allowed "
           "(only http and https)\n"
           "E <args>:3: invalid URL \"example.com/x\": no scheme (did you mean "
           "\"http://example.com/x\"?)\n"
           "E <args>:4: invalid URL \"http://a b\": contains a space or a "
           "control character\n"
           "E <args>:5: invalid URL \"\": empty\n"
           "5:0 http://ok2/\n");
  free(log);
  jobs_src_close(s);
}

/* ---- checks ------------------------------------------------------------ */

Test(jobs_check, urls, .timeout = T_SHORT) {
  static const struct {
    const char *url, *why;
  } cases[] = {
      {"http://example.com", NULL},
      {"https://example.com:8443/a/b?c=d#e", NULL},
      {"HtTp://Example.COM/", NULL},
      {"http://[::1]:8080/", NULL},
      {"http://user:pw@host/", NULL},
      {"ftp://x", "scheme not allowed (only http and https)"},
      {"file:///etc/passwd", "scheme not allowed (only http and https)"},
      {"gopher://x/", "scheme not allowed (only http and https)"},
      {"javascript:alert(1)", "scheme not allowed (only http and https)"},
      {"mailto:a@b", "scheme not allowed (only http and https)"},
      {"example.com", "no scheme (http:// or https://)"},
      {"localhost:8080/x", "no scheme (http:// or https://)"},
      {"//cdn.example/x", "no scheme (http:// or https://)"},
      {"http:/x.com", "\"//\" must follow the scheme"},
      {"http:///x", "no host"},
      {"http://", "no host"},
      {"http://?q", "no host"},
      {"http://x.com:99999/", "bad port number"},
      {"http://[::1/", "bad IPv6 address"},
      {"http://a b/", "contains a space or a control character"},
      {"http://a/\r\nHost: evil", "contains a space or a control character"},
      {"http://a/\x7f", "contains a space or a control character"},
      {"", "empty"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *why = NULL;
    int rc = jobs_check_url(cases[i].url, &why);
    if (!cases[i].why) {
      cr_expect_eq(rc, 0, "%s: %s", cases[i].url, why);
    } else {
      cr_expect_eq(rc, -1, "%s accepted", cases[i].url);
      cr_expect_str_eq(why ? why : "(null)", cases[i].why, "%s", cases[i].url);
    }
  }
}

Test(jobs_check, long_url, .timeout = T_SHORT) {
  size_t n = JOB_MAX_URL + 1;
  char *u = malloc(n + 1);
  const char *why;

  memcpy(u, "http://x/", 9);
  memset(u + 9, 'a', n - 9);
  u[n] = '\0';
  cr_assert_eq(jobs_check_url(u, &why), -1);
  cr_assert_str_eq(why, "longer than 65536 bytes");
  u[n - 1] = '\0'; /* exactly JOB_MAX_URL */
  cr_assert_eq(jobs_check_url(u, &why), 0);
  free(u);
}

/* A job's "output" and a job file's "output_dir" go through the output
 * module's one path rule (output_check_relpath), NAME_MAX per component
 * included: the reader refuses what the writer could not create, with
 * the file, line and column. */
Test(jobs_json, output_paths_share_the_output_rule, .timeout = T_SHORT) {
  char comp[300], in[800], want[800];
  memset(comp, 'c', 256);
  comp[256] = '\0';
  snprintf(in, sizeof in, "[{\"url\":\"http://a\",\"output\":\"d/%s/x\"}]",
           comp);
  char *got = run(JOBS_JSON, in);
  cr_expect_str_eq(got, "E F:1:29: job #0: \"output\" has a component longer "
                        "than 255 bytes (a relative path under the output "
                        "directory is needed)\n");
  free(got);
  comp[255] = '\0'; /* 255 bytes: a valid name */
  snprintf(in, sizeof in, "[{\"url\":\"http://a\",\"output\":\"%s\"}]", comp);
  snprintf(want, sizeof want, "0:1 http://a\n");
  got = run(JOBS_JSON, in);
  cr_expect_str_eq(got, want);
  free(got);
  static const char *const dirs[][2] = {
      {"/abs", "is an absolute path"},
      {"a/../..", "has a \"..\" component"},
      {"out/", "ends with \"/\""},
      {"a\\\\b", "contains a backslash"},
  };
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    snprintf(in, sizeof in,
             "{\"defaults\": {\"output_dir\": \"%s\"},\n"
             " \"jobs\": [{\"url\": \"http://a/x\"}]}",
             dirs[i][0]);
    snprintf(want, sizeof want,
             "OPEN F:1:29: defaults: \"output_dir\" %s (a job file may only "
             "name a directory below the current one)\n",
             dirs[i][1]);
    got = run(JOBS_JSON, in);
    cr_expect_str_eq(got, want, "output_dir %s: %s", dirs[i][0], got);
    free(got);
  }
  memset(comp, 'c', 256);
  comp[256] = '\0';
  snprintf(in, sizeof in,
           "{\"defaults\": {\"output_dir\": \"%s\"}, \"jobs\": []}", comp);
  got = run(JOBS_JSON, in);
  cr_expect_not_null(strstr(got, "longer than 255 bytes"), "%s", got);
  free(got);
}

Test(jobs_check, headers, .timeout = T_SHORT) {
  const char *why;

  cr_expect_eq(jobs_check_header("X-Token", "a\tb c", &why), 0);
  cr_expect_eq(jobs_check_header("X-A", "", &why), 0);
  cr_expect_eq(jobs_check_header("X-A", "a\r\nEvil: 1", &why), -1);
  cr_expect_str_eq(why, "has CR or LF in its value");
  cr_expect_eq(jobs_check_header("X-A", "a\nb", &why), -1);
  cr_expect_eq(jobs_check_header("X-A", "a\x01", &why), -1);
  cr_expect_str_eq(why, "has a control character in its value");
  cr_expect_eq(jobs_check_header("X A", "v", &why), -1);
  cr_expect_str_eq(why, "has a name that is not an HTTP token");
  cr_expect_eq(jobs_check_header("X:A", "v", &why), -1);
  cr_expect_eq(jobs_check_header("", "v", &why), -1);
  cr_expect_str_eq(why, "has an empty name");
}

Test(jobs_check, format_from_name, .timeout = T_SHORT) {
  cr_expect_eq(jobs_format_from_name("a.json"), JOBS_JSON);
  cr_expect_eq(jobs_format_from_name("dir/A.JSON"), JOBS_JSON);
  cr_expect_eq(jobs_format_from_name("a.jsonl"), JOBS_JSONL);
  cr_expect_eq(jobs_format_from_name("a.ndjson"), JOBS_JSONL);
  cr_expect_eq(jobs_format_from_name("a.txt"), -1);
  cr_expect_eq(jobs_format_from_name("json"), -1);
  cr_expect_eq(jobs_format_from_name("-"), -1);
  cr_expect_eq(jobs_format_from_name(""), -1);
}

/* ---- URL lists --------------------------------------------------------- */

Test(jobs_text, comments_blanks_trim_crlf, .timeout = T_SHORT) {
  EXPECT_RUN(JOBS_TEXT,
             "\xEF\xBB\xBFhttp://a/1\n"
             "# comment\n"
             "\n"
             "   \t\n"
             "  \t# indented comment with \xc3\xa9\n"
             "  http://a/2  \r\n"
             "\thttp://a/3\t\r\n"
             "http://a/4",
             "0:1 http://a/1\n1:6 http://a/2\n2:7 http://a/3\n"
             "3:8 http://a/4\n");
  EXPECT_RUN(JOBS_TEXT, "", "");
  EXPECT_RUN(JOBS_TEXT, "\n\n# only comments\n", "");
}

Test(jobs_text, data_file, .timeout = T_SHORT) {
  char path[4200];
  struct diag d;
  jobs_src *s;

  snprintf(path, sizeof path, "%s/urls.txt", data_dir());
  cr_assert_eq(jobs_src_open(path, JOBS_TEXT, &s, &d), 0, "%s", d.text);
  char *log = drain(s, path);
  cr_assert_str_eq(log, "0:3 https://example.com/one\n"
                        "1:5 http://example.com/two\n"
                        "2:6 HTTPS://EXAMPLE.COM/three\n");
  free(log);
  jobs_src_close(s);
}

Test(jobs_text, errors_with_columns, .timeout = T_SHORT) {
  EXPECT_RUN(JOBS_TEXT,
             "http://ok/1\n"
             "   ftp://x\n"
             "  example.com/x\n"
             "http://a/b c\n"
             "file:///etc/passwd\n"
             "http://ok/2\n",
             "0:1 http://ok/1\n"
             "E F:2:4: invalid URL \"ftp://x\": scheme \"ftp\" not allowed "
             "(only http and https)\n"
             "E F:3:3: invalid URL \"example.com/x\": no scheme (did you "
             "mean \"http://example.com/x\"?)\n"
             "E F:4:1: invalid URL \"http://a/b c\": contains a space or a "
             "control character\n"
             "E F:5:1: invalid URL \"file:///etc/passwd\": scheme \"file\" "
             "not allowed (only http and https)\n"
             "5:6 http://ok/2\n");
}

Test(jobs_text, nul_and_invalid_utf8, .timeout = T_SHORT) {
  static const char in[] = "http://ok/1\n"
                           "http://a/\0x\n"
                           "http://a/\xc0\xaf\n"         /* overlong '/' */
                           "http://a/\xed\xa0\x80\n"     /* surrogate */
                           "http://a/\xf4\x90\x80\x80\n" /* > U+10FFFF */
                           "http://a/\xe2\x82\n"         /* truncated */
                           "# comment \xff\n"
                           "http://ok/2\n";
  char *got = run_len(JOBS_TEXT, in, sizeof in - 1);
  cr_assert_str_eq(got, "0:1 http://ok/1\n"
                        "E F:2:10: NUL byte\n"
                        "E F:3:10: invalid UTF-8\n"
                        "E F:4:10: invalid UTF-8\n"
                        "E F:5:10: invalid UTF-8\n"
                        "E F:6:10: invalid UTF-8\n"
                        "E F:7:11: invalid UTF-8\n"
                        "6:8 http://ok/2\n");
  free(got);
}

Test(jobs_text, line_too_long, .timeout = T_SHORT) {
  size_t n = 3 * JOB_MAX_URL;
  char *in = malloc(n + 64);
  size_t len = 0;

  len += (size_t)sprintf(in, "http://ok/1\n");
  memcpy(in + len, "http://x/", 9);
  memset(in + len + 9, 'a', n);
  len += 9 + n;
  len += (size_t)sprintf(in + len, "\nhttp://ok/2\n");
  char *got = run_len(JOBS_TEXT, in, len);
  cr_assert_str_eq(got, "0:1 http://ok/1\n"
                        "E F:2:65537: line longer than 65536 bytes\n"
                        "2:3 http://ok/2\n");
  free(got);
  free(in);
}

Test(jobs_text, rewind_same_sequence, .timeout = T_SHORT) {
  const char *in = "http://a/1\n# c\nhttp://a/2\nbad\nhttp://a/3\n";
  char *path = tmp_file(in, strlen(in), ".txt");
  struct diag d;
  jobs_src *s;

  cr_assert_eq(jobs_src_open(path, JOBS_TEXT, &s, &d), 0);
  cr_assert(jobs_src_seekable(s));
  char *first = drain(s, path);
  cr_assert_eq(jobs_src_rewind(s), 0);
  char *second = drain(s, path);
  cr_assert_str_eq(first, second);
  cr_assert_str_eq(first, "0:1 http://a/1\n1:3 http://a/2\n"
                          "E F:4:1: invalid URL \"bad\": no scheme (did you "
                          "mean \"http://bad\"?)\n3:5 http://a/3\n");
  /* rewind in the middle, too */
  cr_assert_eq(jobs_src_rewind(s), 0);
  struct job j;
  cr_assert_eq(jobs_src_next(s, &j, &d), 1);
  job_free(&j);
  cr_assert_eq(jobs_src_rewind(s), 0);
  char *third = drain(s, path);
  cr_assert_str_eq(first, third);
  free(first);
  free(second);
  free(third);
  jobs_src_close(s);
  unlink(path);
  free(path);
}

static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks;
}

Test(jobs_text, streams_100k_lines, .timeout = T_LONG) {
  enum { N = 100000 };
  char *path = NULL;
  FILE *f;

  cr_assert(asprintf(&path, "/tmp/jobs-test-big-%d.txt", (int)getpid()) > 0);
  cr_assert((f = fopen(path, "w")) != NULL);
  for (int i = 0; i < N; i++)
    fprintf(f, "%shttps://example.com/file/%07d.bin\n",
            i % 1000 == 0 ? "# block\n\n" : "", i);
  fclose(f);

  struct diag d;
  struct job j;
  jobs_src *s;
  size_t base = 0, peak = 0;
  uint64_t count = 0, wrong = 0;
  cr_assert_eq(jobs_src_open(path, JOBS_TEXT, &s, &d), 0);
  int r;
  /* no assertion in the loop: --full-stats reports each one */
  while ((r = jobs_src_next(s, &j, &d)) == 1) {
    wrong += j.index != count || j.line != count + 3 + count / 1000 * 2;
    if (count == 1000)
      base = heap_in_use();
    if (count > 1000 && heap_in_use() > peak)
      peak = heap_in_use();
    count++;
    job_free(&j);
  }
  cr_assert_eq(r, 0, "%s", d.text);
  cr_assert_eq(count, N);
  cr_assert_eq(wrong, 0, "%" PRIu64 " jobs had a wrong index or line", wrong);
  /* mallinfo2 says 0 under ASan, which replaces malloc */
  if (base)
    cr_assert_lt(peak, base + 4096, "heap grew from %zu to %zu", base, peak);
  jobs_src_close(s);
  unlink(path);
  free(path);
}

Test(jobs_text, missing_file_and_directory, .timeout = T_SHORT) {
  struct diag d;
  jobs_src *s = (jobs_src *)1;

  cr_assert_eq(jobs_src_open("/nonexistent/x.txt", JOBS_TEXT, &s, &d), -1);
  cr_assert_null(s);
  cr_assert_str_eq(d.text, "/nonexistent/x.txt: cannot open: No such file or "
                           "directory");
  cr_assert_eq(jobs_src_open("/tmp", JOBS_TEXT, &s, &d), -1);
  cr_assert_str_eq(d.text, "/tmp: cannot open: Is a directory");
}

/* Standard input: "<stdin>", not seekable, rewind refused. */
static jobs_src *open_stdin(const char *data, enum jobs_format fmt) {
  char *path = tmp_file(data, strlen(data), ".in");
  int fd = open(path, O_RDONLY);
  struct diag d;
  jobs_src *s;

  cr_assert(fd >= 0 && dup2(fd, 0) == 0);
  close(fd);
  unlink(path);
  free(path);
  cr_assert_eq(jobs_src_open("-", fmt, &s, &d), 0, "%s", d.text);
  cr_assert_str_eq(jobs_src_name(s), "<stdin>");
  cr_assert_not(jobs_src_seekable(s));
  return s;
}

Test(jobs_text, stdin_source, .timeout = T_SHORT) {
  jobs_src *s = open_stdin("http://a/1\nnope\nhttp://a/2\n", JOBS_TEXT);
  char *log = drain(s, "<unused>");

  cr_assert_str_eq(log, "0:1 http://a/1\n"
                        "E <stdin>:2:1: invalid URL \"nope\": no scheme "
                        "(did you mean \"http://nope\"?)\n"
                        "2:3 http://a/2\n");
  cr_assert_eq(jobs_src_rewind(s), -1);
  free(log);
  jobs_src_close(s);
  cr_assert(fcntl(0, F_GETFD) >= 0, "closing the source closed stdin");
}

/* ---- JSON documents: good input ------------------------------------------ */

Test(jobs_json, every_key, .timeout = T_SHORT) {
  struct job j;

  one_job(JOBS_JSON,
          "{\"jobs\": [{\"url\": \"https://h/x\", \"id\": \"job-1\",\n"
          " \"output\": \"sub/dir/x.bin\", \"method\": \"patch\",\n"
          " \"headers\": {\"X-A\": \"1\", \"Accept\": \"text/*\"},\n"
          " \"body\": \"{\\\"k\\\": \\\"\\u00e9\\ud83d\\ude00\\\"}\",\n"
          " \"timeout\": 2.5, \"retries\": 7,\n"
          " \"sha256\": \"00ff00FF00ff00ff00ff00ff00ff00ff"
          "00ff00ff00ff00ff00ff00ff00ff00aB\",\n"
          " \"expect_status\": [200, 204, 599, 100]}]}",
          &j);
  cr_assert_eq(j.index, 0);
  cr_assert_eq(j.line, 1);
  cr_assert_str_eq(j.url, "https://h/x");
  cr_assert_str_eq(j.id, "job-1");
  cr_assert_str_eq(j.output, "sub/dir/x.bin");
  cr_assert_str_eq(j.method, "PATCH");
  cr_assert_eq(j.nheaders, 2);
  cr_assert_str_eq(j.headers[0], "X-A: 1");
  cr_assert_str_eq(j.headers[1], "Accept: text/*");
  cr_assert_str_eq(j.body, "{\"k\": \"\xc3\xa9\xf0\x9f\x98\x80\"}");
  cr_assert_eq(j.body_len, strlen(j.body));
  cr_assert_eq(j.timeout_ms, 2500);
  cr_assert_eq(j.retries, 7);
  cr_assert(j.digests >> DIGEST_SHA256 & 1);
  cr_assert_eq(j.digest[DIGEST_SHA256][0], 0x00);
  cr_assert_eq(j.digest[DIGEST_SHA256][1], 0xff);
  cr_assert_eq(j.digest[DIGEST_SHA256][3], 0xff);
  cr_assert_eq(j.digest[DIGEST_SHA256][31], 0xab);
  cr_assert_eq(j.nexpect, 4);
  cr_assert_eq(j.expect_status[0], 200);
  cr_assert_eq(j.expect_status[3], 100);
  job_free(&j);
}

Test(jobs_json, unset_fields_stay_unset, .timeout = T_SHORT) {
  struct job j;

  one_job(JOBS_JSON, "[{\"url\": \"http://h/\"}]", &j);
  cr_assert_null(j.id);
  cr_assert_null(j.output);
  cr_assert_null(j.method);
  cr_assert_null(j.headers);
  cr_assert_null(j.body);
  cr_assert_eq(j.timeout_ms, -1);
  cr_assert_eq(j.retries, -1);
  cr_assert_not(j.digests >> DIGEST_SHA256 & 1);
  cr_assert_null(j.expect_status);
  job_free(&j);
}

Test(jobs_json, id_forms_and_timeouts, .timeout = T_SHORT) {
  static const struct {
    const char *frag;
    const char *id;
    long ms;
  } cases[] = {
      {"\"id\": 42", "42", -1},
      {"\"id\": -7", "-7", -1},
      {"\"id\": 12345678901234567890123", "12345678901234567890123", -1},
      {"\"id\": \"\xe2\x9c\x93\"", "\xe2\x9c\x93", -1},
      {"\"timeout\": 0.007", NULL, 7},
      {"\"timeout\": 0.0071", NULL, 8},
      {"\"timeout\": 1e-9", NULL, 1},
      {"\"timeout\": 1", NULL, 1000},
      {"\"timeout\": 0.25", NULL, 250},
      {"\"timeout\": 1000000", NULL, 1000000000},
      {"\"timeout\": 1E2", NULL, 100000},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char doc[256];
    struct job j;
    snprintf(doc, sizeof doc, "[{\"url\": \"http://h/\", %s}]", cases[i].frag);
    one_job(JOBS_JSON, doc, &j);
    if (cases[i].id)
      cr_expect_str_eq(j.id, cases[i].id, "%s", doc);
    cr_expect_eq(j.timeout_ms, cases[i].ms, "%s: %ld", doc, j.timeout_ms);
    job_free(&j);
  }
}

Test(jobs_json, defaults_apply_and_output_dir, .timeout = T_SHORT) {
  char path[4200];
  struct diag d;
  struct job j;
  jobs_src *s;

  snprintf(path, sizeof path, "%s/sample.json", data_dir());
  cr_assert_eq(jobs_src_open(path, JOBS_JSON, &s, &d), 0, "%s", d.text);
  cr_assert_str_eq(jobs_src_output_dir(s), "downloads");
  cr_assert_eq(jobs_src_next(s, &j, &d), 1, "%s", d.text);
  cr_assert_eq(j.index, 0);
  cr_assert_eq(j.line, 9);
  cr_assert_str_eq(j.id, "a");
  cr_assert_eq(j.timeout_ms, 30000);
  cr_assert_eq(j.retries, 2);
  cr_assert_eq(j.nheaders, 1);
  cr_assert_str_eq(j.headers[0], "User-Agent: jfetch-test");
  job_free(&j);
  cr_assert_eq(jobs_src_next(s, &j, &d), 1, "%s", d.text);
  cr_assert_eq(j.index, 1);
  cr_assert_eq(j.line, 10);
  cr_assert_str_eq(j.id, "42");
  cr_assert_str_eq(j.method, "POST");
  cr_assert_eq(j.timeout_ms, 250);
  cr_assert_eq(j.retries, 0); /* 0 set beats the default 2 */
  /* a job's headers are merged with the defaults' (the job's own win
   * over a default of the same name) */
  cr_assert_eq(j.nheaders, 2);
  cr_assert_str_eq(j.headers[0], "Content-Type: text/plain");
  cr_assert_str_eq(j.headers[1], "User-Agent: jfetch-test");
  cr_assert_eq(j.digest[DIGEST_SHA256][0], 0xe3);
  cr_assert_eq(j.nexpect, 2);
  job_free(&j);
  cr_assert_eq(jobs_src_next(s, &j, &d), 0);
  cr_assert_eq(jobs_src_next(s, &j, &d), 0);
  jobs_src_close(s);
}

Test(jobs_json, defaults_may_give_the_url, .timeout = T_SHORT) {
  EXPECT_RUN(JOBS_JSON,
             "{\"defaults\": {\"url\": \"http://mirror/f\"},\n"
             " \"jobs\": [{\"output\": \"a\"}, {\"url\": \"http://x/\"}]}",
             "0:2 http://mirror/f\n1:2 http://x/\n");
}

Test(jobs_json, bare_array_lines_and_empty, .timeout = T_SHORT) {
  EXPECT_RUN(JOBS_JSON,
             "[\n  {\"url\": \"http://a/\"},\n\n  {\"url\": \"http://b/\"}\n]",
             "0:2 http://a/\n1:4 http://b/\n");
  EXPECT_RUN(JOBS_JSON, "[]", "");
  EXPECT_RUN(JOBS_JSON, "{\"jobs\": []}", "");
  EXPECT_RUN(JOBS_JSON, "\xEF\xBB\xBF [{\"url\": \"http://a/\"}]",
             "0:1 http://a/\n");
  EXPECT_RUN(JOBS_JSON, "\r\n[\r\n{\"url\": \"http://a/\"}\r\n]\r\n",
             "0:3 http://a/\n");
}

Test(jobs_json, rewind_same_sequence, .timeout = T_SHORT) {
  expect_rewind_same(JOBS_JSON,
                     "[{\"url\": \"http://a/\"}, {\"url\": 1},\n"
                     " {\"url\": \"http://c/\"}]",
                     "0:1 http://a/\n"
                     "E F:1:32: job #1: \"url\" must be a string, got "
                     "a number\n"
                     "2:2 http://c/\n");
}

/* ---- JSON documents: errors ---------------------------------------------- */

struct err_case {
  const char *in, *want;
};

static void expect_errors(enum jobs_format fmt, const struct err_case *c,
                          size_t n) {
  for (size_t i = 0; i < n; i++) {
    char *got = run(fmt, c[i].in);
    cr_expect_str_eq(got, c[i].want, "input: %s\ngot: %s", c[i].in, got);
    free(got);
  }
}

#define EXPECT_ERRORS(fmt, cases)                                              \
  expect_errors(fmt, cases, sizeof(cases) / sizeof((cases)[0]))

Test(jobs_json, key_errors, .timeout = T_SHORT) {
  static const struct err_case cases[] = {
      {"[{\"url\":\"http://a\",\"urll\":1}]",
       "E F:1:20: job #0: unknown key \"urll\" (did you mean \"url\"?)\n"},
      {"[{\"url\":\"http://a\",\"ouptut\":\"x\"}]",
       "E F:1:20: job #0: unknown key \"ouptut\" (did you mean "
       "\"output\"?)\n"},
      {"[{\"url\":\"http://a\",\"colour\":\"x\"}]",
       "E F:1:20: job #0: unknown key \"colour\"\n"},
      {"[{\"url\":\"http://a\",\"output_dir\":\"x\"}]",
       "E F:1:20: job #0: unknown key \"output_dir\" (it belongs in "
       "\"defaults\")\n"},
      {"[{\"url\":\"http://a\",\"url\":\"http://b\"}]",
       "E F:1:20: job #0: duplicate key \"url\" (first at 1:3)\n"},
      {"[{\"id\":\"x\"}]", "E F:1:2: job #0: missing \"url\"\n"},
      {"[{}]", "E F:1:2: job #0: missing \"url\"\n"},
      {"[\"http://a\"]",
       "E F:1:2: job #0: expected a job object, got a string\n"},
      {"[{\"url\":\"http://a\"},\n 7,\n null]",
       "0:1 http://a\n"
       "E F:2:2: job #1: expected a job object, got a number\n"
       "E F:3:2: job #2: expected a job object, got null\n"},
  };
  EXPECT_ERRORS(JOBS_JSON, cases);
}

/* budget: one table of value errors, a row per key */
Test(jobs_json, value_errors, .timeout = T_SHORT) {
  static const struct err_case cases[] = {
      {"[{\"url\":5}]",
       "E F:1:9: job #0: \"url\" must be a string, got a number\n"},
      {"[{\"url\":\"ftp://x\"}]",
       "E F:1:9: job #0: invalid URL \"ftp://x\": scheme \"ftp\" not "
       "allowed (only http and https)\n"},
      {"[{\"url\":\"http://a\",\"id\":\"\"}]",
       "E F:1:25: job #0: \"id\" must not be empty\n"},
      {"[{\"url\":\"http://a\",\"id\":1.5}]",
       "E F:1:25: job #0: \"id\" must be a string or an integer, got a "
       "fraction or exponent\n"},
      {"[{\"url\":\"http://a\",\"id\":true}]",
       "E F:1:25: job #0: \"id\" must be a string or an integer, got a "
       "boolean\n"},
      {"[{\"url\":\"http://a\",\"id\":\"a\\tb\"}]",
       "E F:1:25: job #0: \"id\" contains a control character\n"},
      {"[{\"url\":\"http://a\",\"method\":\"GE T\"}]",
       "E F:1:29: job #0: \"method\" must be an HTTP token (letters, digits "
       "and !#$%&'*+-.^_`|~)\n"},
      {"[{\"url\":\"http://a\",\"method\":[]}]",
       "E F:1:29: job #0: \"method\" must be a string, got an array\n"},
      {"[{\"url\":\"http://a\",\"headers\":[]}]",
       "E F:1:30: job #0: \"headers\" must be an object of strings, got an "
       "array\n"},
      {"[{\"url\":\"http://a\",\"headers\":{\"X\":1}}]",
       "E F:1:35: job #0: header \"X\" must be a string, got a number\n"},
      {"[{\"url\":\"http://a\",\"body\":{}}]",
       "E F:1:27: job #0: \"body\" must be a string, got an object\n"},
      {"[{\"url\":\"http://a\",\"timeout\":\"5\"}]",
       "E F:1:30: job #0: \"timeout\" must be a number of seconds, got a "
       "string\n"},
      {"[{\"url\":\"http://a\",\"timeout\":0}]",
       "E F:1:30: job #0: \"timeout\" must be more than 0 and at most "
       "1000000 seconds\n"},
      {"[{\"url\":\"http://a\",\"timeout\":-1}]",
       "E F:1:30: job #0: \"timeout\" must be more than 0 and at most "
       "1000000 seconds\n"},
      {"[{\"url\":\"http://a\",\"timeout\":1000001}]",
       "E F:1:30: job #0: \"timeout\" must be more than 0 and at most "
       "1000000 seconds\n"},
      {"[{\"url\":\"http://a\",\"timeout\":1e999}]",
       "E F:1:30: job #0: \"timeout\" must be more than 0 and at most "
       "1000000 seconds\n"},
      {"[{\"url\":\"http://a\",\"retries\":101}]",
       "E F:1:30: job #0: \"retries\" must be an integer from 0 to 100\n"},
      {"[{\"url\":\"http://a\",\"retries\":1.5}]",
       "E F:1:30: job #0: \"retries\" must be an integer from 0 to 100\n"},
      {"[{\"url\":\"http://a\",\"retries\":-1}]",
       "E F:1:30: job #0: \"retries\" must be an integer from 0 to 100\n"},
      {"[{\"url\":\"http://a\",\"retries\":\"3\"}]",
       "E F:1:30: job #0: \"retries\" must be an integer, got a string\n"},
      {"[{\"url\":\"http://a\",\"sha256\":\"abc\"}]",
       "E F:1:29: job #0: \"sha256\" must be 64 hex digits\n"},
      {"[{\"url\":\"http://a\",\"sha256\":\"0000000000000000000000000000000"
       "00000000000000000000000000000000g\"}]",
       "E F:1:29: job #0: \"sha256\" must be 64 hex digits\n"},
      {"[{\"url\":\"http://a\",\"sha256\":\"0000000000000000000000000000000"
       "0000000000000000000000000000000000\"}]",
       "E F:1:29: job #0: \"sha256\" must be 64 hex digits\n"},
      {"[{\"url\":\"http://a\",\"sha256\":null}]",
       "E F:1:29: job #0: \"sha256\" must be a string of 64 hex digits, got "
       "null\n"},
      {"[{\"url\":\"http://a\",\"expect_status\":[]}]",
       "E F:1:36: job #0: \"expect_status\" must hold 1 to 500 status "
       "codes\n"},
      {"[{\"url\":\"http://a\",\"expect_status\":[200,99]}]",
       "E F:1:41: job #0: \"expect_status\" entries must be integers from "
       "100 to 599\n"},
      {"[{\"url\":\"http://a\",\"expect_status\":[200.5]}]",
       "E F:1:37: job #0: \"expect_status\" entries must be integers from "
       "100 to 599\n"},
      {"[{\"url\":\"http://a\",\"expect_status\":[\"200\"]}]",
       "E F:1:37: job #0: \"expect_status\" entries must be integers from "
       "100 to 599\n"},
      {"[{\"url\":\"http://a\",\"expect_status\":200}]",
       "E F:1:36: job #0: \"expect_status\" must be an array of status "
       "codes, got a number\n"},
  };
  EXPECT_ERRORS(JOBS_JSON, cases);
}

Test(jobs_json, unsafe_outputs, .timeout = T_SHORT) {
  static const struct err_case cases[] = {
      {"[{\"url\":\"http://a\",\"output\":\"../x\"}]",
       "E F:1:29: job #0: \"output\" has a \"..\" component (a relative path "
       "under the output directory is needed)\n"},
      {"[{\"url\":\"http://a\",\"output\":\"/etc/passwd\"}]",
       "E F:1:29: job #0: \"output\" is an absolute path (a relative path "
       "under the output directory is needed)\n"},
      {"[{\"url\":\"http://a\",\"output\":\"a//b\"}]",
       "E F:1:29: job #0: \"output\" has an empty component (\"//\") (a "
       "relative path under the output directory is needed)\n"},
      {"[{\"url\":\"http://a\",\"output\":\"a/./b\"}]",
       "E F:1:29: job #0: \"output\" has a \".\" component (a relative path "
       "under the output directory is needed)\n"},
      {"[{\"url\":\"http://a\",\"output\":\"a\\\\..\\\\b\"}]",
       "E F:1:29: job #0: \"output\" contains a backslash (a relative path "
       "under the output directory is needed)\n"},
      {"[{\"url\":\"http://a\",\"output\":\"dir/\"}]",
       "E F:1:29: job #0: \"output\" ends with \"/\" (a relative path "
       "under the output directory is needed)\n"},
      {"[{\"url\":\"http://a\",\"output\":\"\"}]",
       "E F:1:29: job #0: \"output\" is empty (a relative path under the "
       "output directory is needed)\n"},
      {"[{\"url\":\"http://a\",\"output\":\"a\\u0001b\"}]",
       "E F:1:29: job #0: \"output\" contains a control character (a "
       "relative path under the output directory is needed)\n"},
      {"[{\"url\":\"http://a\",\"output\":\"a/\\u002e\\u002e/b\"}]",
       "E F:1:29: job #0: \"output\" has a \"..\" component (a relative path "
       "under the output directory is needed)\n"},
      /* cJSON would cut this to "a.txt": the scanner refuses it */
      {"[{\"url\":\"http://a\",\"output\":\"a.txt\\u0000../x\"}]",
       "OPEN F:1:35: invalid JSON: \\u0000 in a string is not allowed\n"},
  };
  EXPECT_ERRORS(JOBS_JSON, cases);
}

Test(jobs_json, header_injection, .timeout = T_SHORT) {
  static const struct err_case cases[] = {
      {"[{\"url\":\"http://a\",\"headers\":{\"X-A\":\"1\\r\\nHost: evil\"}}]",
       "E F:1:37: job #0: header \"X-A\" has CR or LF in its value\n"},
      {"[{\"url\":\"http://a\",\"headers\":{\"X-A\":\"1\\nB: 2\"}}]",
       "E F:1:37: job #0: header \"X-A\" has CR or LF in its value\n"},
      {"[{\"url\":\"http://a\",\"headers\":{\"X-A\\r\\nB\":\"1\"}}]",
       "E F:1:31: job #0: header \"X-A\\x0d\\x0aB\" has a name that is not "
       "an HTTP token\n"},
      {"[{\"url\":\"http://a\",\"headers\":{\"X A\":\"1\"}}]",
       "E F:1:31: job #0: header \"X A\" has a name that is not an HTTP "
       "token\n"},
      {"[{\"url\":\"http://a\",\"headers\":{\"\":\"1\"}}]",
       "E F:1:31: job #0: header \"\" has an empty name\n"},
      {"[{\"url\":\"http://a\",\"headers\":{\"Accept\":\"a\","
       "\"accept\":\"b\"}}]",
       "E F:1:44: job #0: duplicate header \"accept\"\n"},
      {"[{\"url\":\"http://a\",\"headers\":{\"X\":\"\\u0007\"}}]",
       "E F:1:35: job #0: header \"X\" has a control character in its "
       "value\n"},
  };
  EXPECT_ERRORS(JOBS_JSON, cases);
}

Test(jobs_json, other_schemes, .timeout = T_SHORT) {
  static const struct err_case cases[] = {
      {"[{\"url\":\"file:///etc/passwd\"}]",
       "E F:1:9: job #0: invalid URL \"file:///etc/passwd\": scheme \"file\" "
       "not allowed (only http and https)\n"},
      {"[{\"url\":\"gopher://x/\"}]",
       "E F:1:9: job #0: invalid URL \"gopher://x/\": scheme \"gopher\" not "
       "allowed (only http and https)\n"},
      {"[{\"url\":\"javascript:alert(1)\"}]",
       "E F:1:9: job #0: invalid URL \"javascript:alert(1)\": scheme "
       "\"javascript\" not allowed (only http and https)\n"},
      {"[{\"url\":\"www.example.com/x\"}]",
       "E F:1:9: job #0: invalid URL \"www.example.com/x\": no scheme (did "
       "you mean \"http://www.example.com/x\"?)\n"},
      {"[{\"url\":\"http:///etc/passwd\"}]",
       "E F:1:9: job #0: invalid URL \"http:///etc/passwd\": no host\n"},
  };
  EXPECT_ERRORS(JOBS_JSON, cases);
}

Test(jobs_json, top_level_errors, .timeout = T_SHORT) {
  static const struct err_case cases[] = {
      {"{\"job\": []}",
       "OPEN F:1:2: unknown key \"job\" (did you mean \"jobs\"?)\n"},
      {"{\"defaults\": {}}",
       "OPEN F:1:1: missing \"jobs\" (an array of job objects)\n"},
      {"{\"jobs\": {}}",
       "OPEN F:1:10: \"jobs\" must be an array of job objects, got an "
       "object\n"},
      {"{\"jobs\": [], \"jobs\": []}",
       "OPEN F:1:14: duplicate key \"jobs\" (first at 1:2)\n"},
      {"{\"defaults\": [], \"jobs\": []}",
       "OPEN F:1:14: \"defaults\" must be an object, got an array\n"},
      {"{\"defaults\": {\"retires\": 1}, \"jobs\": []}",
       "OPEN F:1:15: defaults: unknown key \"retires\" (did you mean "
       "\"retries\"?)\n"},
      {"{\"defaults\": {\"output_dir\": \"\"}, \"jobs\": []}",
       "OPEN F:1:29: defaults: \"output_dir\" must not be empty\n"},
      {"{\"defaults\": {\"timeout\": 0}, \"jobs\": []}",
       "OPEN F:1:26: defaults: \"timeout\" must be more than 0 and at most "
       "1000000 seconds\n"},
      {"\"http://a\"",
       "OPEN F:1:1: expected an object with \"jobs\" or an array of jobs, "
       "got a string\n"},
  };
  EXPECT_ERRORS(JOBS_JSON, cases);
}

Test(jobs_json, syntax_errors, .timeout = T_SHORT) {
  static const struct err_case cases[] = {
      {"[{\"url\": \"http://a\",}]",
       "OPEN F:1:21: invalid JSON: expected a key (a string) at \"}]\"\n"},
      {"{\"jobs\": [], }",
       "OPEN F:1:14: invalid JSON: expected a key (a string) at \"}\"\n"},
      {"{\"jobs\" []}", "OPEN F:1:9: invalid JSON: expected ':' at \"[]}\"\n"},
      {"[{\"url\": \"http://a\"}\n",
       "OPEN F:2:1: invalid JSON: unexpected end of input\n"},
      {"", "OPEN F:1:1: invalid JSON: unexpected end of input\n"},
      {"  \n ", "OPEN F:2:2: invalid JSON: unexpected end of input\n"},
      {"[] x",
       "OPEN F:1:4: invalid JSON: data after the JSON value at \"x\"\n"},
      {"[]\n[]",
       "OPEN F:2:1: invalid JSON: data after the JSON value at \"[]\"\n"},
      {"[1,]", "OPEN F:1:4: invalid JSON: expected a value at \"]\"\n"},
      {"[1 2]", "OPEN F:1:4: invalid JSON: expected ',' or ']' at \"2]\"\n"},
      {"[{\"url\":\n  'http://a'}]",
       "OPEN F:2:3: invalid JSON: unexpected character at \"'http://a'}]\"\n"},
      {"[{\"url\": \"http://a\"} /* c */]",
       "OPEN F:1:22: invalid JSON: expected ',' or ']' at \"/* c */]\"\n"},
      {"[{\"url\": \"http://a\\q\"}]",
       "OPEN F:1:19: invalid JSON: invalid escape in a string\n"},
      {"[{\"url\": \"http://a}]",
       "OPEN F:1:10: invalid JSON: unterminated string\n"},
      {"[tru]", "OPEN F:1:2: invalid JSON: unexpected character at "
                "\"tru]\"\n"},
      /* cJSON takes these; RFC 8259 does not */
      {"[01]", "OPEN F:1:2: invalid JSON: invalid number\n"},
      {"[1.]", "OPEN F:1:2: invalid JSON: invalid number\n"},
      {"[1.e5]", "OPEN F:1:2: invalid JSON: invalid number\n"},
      {"[-01]", "OPEN F:1:2: invalid JSON: invalid number\n"},
  };
  EXPECT_ERRORS(JOBS_JSON, cases);
}

Test(jobs_json, hostile_bytes, .timeout = T_SHORT) {
  static const struct {
    const char *in;
    size_t len;
    const char *want;
  } cases[] = {
#define C(s, w) {s, sizeof(s) - 1, w}
      C("[{\"url\": \"http://a/\0\"}]",
        "OPEN F:1:20: invalid JSON: NUL byte\n"),
      C("[{\"url\": \"http://a/\"}]\0",
        "OPEN F:1:23: invalid JSON: NUL byte\n"),
      C("\0[]", "OPEN F:1:1: invalid JSON: NUL byte\n"),
      C("[\x01]", "OPEN F:1:2: invalid JSON: control character\n"),
      C("[{\"url\": \"http://a/\x01\"}]",
        "OPEN F:1:20: invalid JSON: raw control character in a string\n"),
      C("[{\"url\": \"http://a/\nb\"}]",
        "OPEN F:1:20: invalid JSON: raw control character in a string\n"),
      C("[{\"url\": \"http://a/\xc0\xaf\"}]",
        "OPEN F:1:20: invalid JSON: invalid UTF-8 in a string\n"),
      C("[{\"url\": \"http://a/\xed\xa0\x80\"}]",
        "OPEN F:1:20: invalid JSON: invalid UTF-8 in a string\n"),
      C("[{\"url\": \"http://a/\xf4\x90\x80\x80\"}]",
        "OPEN F:1:20: invalid JSON: invalid UTF-8 in a string\n"),
      C("[{\"url\": \"http://a/\xe2\x82\"}]",
        "OPEN F:1:20: invalid JSON: invalid UTF-8 in a string\n"),
      C("[{\"url\": \"http://a/\xff\"}]",
        "OPEN F:1:20: invalid JSON: invalid UTF-8 in a string\n"),
      C("[{\"u\xffrl\": \"http://a/\"}]",
        "OPEN F:1:5: invalid JSON: invalid UTF-8 in a string\n"),
      C("[{\"url\": \"\\u0000\"}]",
        "OPEN F:1:11: invalid JSON: \\u0000 in a string is not allowed\n"),
      /* cJSON refuses lone surrogates too; the scanner says why */
      C("[{\"url\": \"\\ud800\"}]",
        "OPEN F:1:11: invalid JSON: lone surrogate in a \\u escape\n"),
      C("[{\"url\": \"\\udc00x\"}]",
        "OPEN F:1:11: invalid JSON: lone surrogate in a \\u escape\n"),
      C("[{\"url\": \"\\ud800\\u0041\"}]",
        "OPEN F:1:11: invalid JSON: lone surrogate in a \\u escape\n"),
#undef C
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *got = run_len(JOBS_JSON, cases[i].in, cases[i].len);
    cr_expect_str_eq(got, cases[i].want, "case %zu: got %s", i, got);
    free(got);
  }
}

Test(jobs_json, deep_nesting, .timeout = T_SHORT) {
  enum { DEPTH = 100000 };
  char *in = malloc(2 * DEPTH);

  memset(in, '[', DEPTH);
  memset(in + DEPTH, ']', DEPTH);
  char *got = run_len(JOBS_JSON, in, 2 * DEPTH);
  cr_assert_str_eq(got, "OPEN F:1:1001: invalid JSON: nested deeper than "
                        "1000 levels\n");
  free(got);
  memset(in, '{', DEPTH); /* not even valid: still a clean error */
  got = run_len(JOBS_JSON, in, DEPTH);
  cr_assert_str_eq(got, "OPEN F:1:2: invalid JSON: expected a key (a "
                        "string) at \"{{{{{{{{{{{{{{{{\"\n");
  free(got);
  /* 990 levels inside a job parse, and the value is refused by type */
  size_t n = (size_t)sprintf(in, "[{\"url\": ");
  memset(in + n, '[', 990);
  memset(in + n + 990, ']', 990);
  strcpy(in + n + 1980, "}]");
  got = run(JOBS_JSON, in);
  cr_assert_str_eq(got, "E F:1:10: job #0: \"url\" must be a string, got an "
                        "array\n");
  free(got);
  free(in);
}

Test(jobs_json, huge_strings, .timeout = T_LONG) {
  size_t big = (size_t)JOB_MAX_BODY + 1;
  char *in = malloc(big + 64);
  size_t n = (size_t)sprintf(in, "[{\"url\":\"http://a/\",\"body\":\"");

  memset(in + n, 'b', big);
  n += big;
  n += (size_t)sprintf(in + n, "\"}]");
  char *got = run_len(JOBS_JSON, in, n);
  cr_assert_str_eq(got, "E F:1:28: job #0: \"body\" is longer than 67108864 "
                        "bytes\n");
  free(got);
  /* a 1 MiB URL: refused, and the message stays short */
  n = (size_t)sprintf(in, "[{\"url\":\"http://a/");
  memset(in + n, 'u', 1 << 20);
  n += 1 << 20;
  n += (size_t)sprintf(in + n, "\"}]");
  got = run_len(JOBS_JSON, in, n);
  /* the message shows the first 80 bytes */
  cr_assert_str_eq(got, "E F:1:9: job #0: invalid URL \"http://a/uuuuuuuuuu"
                        "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"
                        "uuuuuuuu...\": longer than 65536 bytes\n");
  free(got);
  free(in);
}

Test(jobs_json, size_cap, .timeout = T_SHORT) {
  char *path = tmp_file("[]", 2, ".json");
  struct diag d;
  jobs_src *s;

  /* sparse: 1 GiB + 1 byte costs nothing, and is refused unread */
  cr_assert_eq(truncate(path, ((off_t)1 << 30) + 1), 0);
  cr_assert_eq(jobs_src_open(path, JOBS_JSON, &s, &d), -1);
  char *m = unpath(d.text, path);
  cr_assert_str_eq(m, "F: larger than 1073741824 bytes (the limit for a "
                      "JSON document)");
  free(m);
  unlink(path);
  free(path);
}

Test(jobs_json, messages_stay_one_line, .timeout = T_SHORT) {
  char *got = run(JOBS_JSON, "[{\"url\":\"http://a\",\"x\\ny\\u2028\":1}]");

  cr_assert_str_eq(got, "E F:1:20: job #0: unknown key \"x\\x0ay\xe2\x80\xa8\""
                        "\n");
  free(got);
}

Test(jobs_json, errors_then_more_jobs, .timeout = T_SHORT) {
  EXPECT_RUN(JOBS_JSON,
             "[{\"url\": \"http://a/\"},\n"
             " {\"url\": \"http://b/\", \"retries\": 500},\n"
             " {\"url\": \"http://c/\", \"nope\": 1},\n"
             " {\"url\": \"http://d/\"}]",
             "0:1 http://a/\n"
             "E F:2:34: job #1: \"retries\" must be an integer from 0 to "
             "100\n"
             "E F:3:23: job #2: unknown key \"nope\"\n"
             "3:4 http://d/\n");
}

Test(jobs_json, too_many_headers, .timeout = T_SHORT) {
  size_t cap = 64 + 20 * (JOB_MAX_HEADERS + 1);
  char *in = malloc(cap);
  size_t n = (size_t)sprintf(in, "[{\"url\":\"http://a\",\"headers\":{");

  for (int i = 0; i <= JOB_MAX_HEADERS; i++)
    n += (size_t)sprintf(in + n, "%s\"H%d\":\"v\"", i ? "," : "", i);
  strcpy(in + n, "}}]");
  char *got = run(JOBS_JSON, in);
  /* key 257 sits at column 31 + 256 keys of 8 or 10 or 12 bytes... */
  cr_assert(strstr(got, ": job #0: \"headers\" has more than 256 entries\n"),
            "%s", got);
  free(got);
  free(in);
}

/* ---- JSON Lines -------------------------------------------------------- */

Test(jobs_jsonl, defaults_blank_lines_crlf, .timeout = T_SHORT) {
  char path[4200];
  struct diag d;
  struct job j;
  jobs_src *s;

  snprintf(path, sizeof path, "%s/sample.jsonl", data_dir());
  cr_assert_eq(jobs_src_open(path, JOBS_JSONL, &s, &d), 0, "%s", d.text);
  cr_assert_str_eq(jobs_src_output_dir(s), "out");
  cr_assert_eq(jobs_src_next(s, &j, &d), 1, "%s", d.text);
  cr_assert_eq(j.index, 0);
  cr_assert_eq(j.line, 2);
  cr_assert_eq(j.retries, 3);
  job_free(&j);
  cr_assert_eq(jobs_src_next(s, &j, &d), 1, "%s", d.text);
  cr_assert_eq(j.index, 1);
  cr_assert_eq(j.line, 4);
  cr_assert_eq(j.retries, 0);
  cr_assert_str_eq(j.id, "two");
  job_free(&j);
  cr_assert_eq(jobs_src_next(s, &j, &d), 0);
  jobs_src_close(s);

  EXPECT_RUN(JOBS_JSONL,
             "\r\n  \r\n{\"defaults\":{\"timeout\":1}}\r\n"
             "{\"url\":\"http://a/\"}\r\n\r\n{\"url\":\"http://b/\"}",
             "0:4 http://a/\n1:6 http://b/\n");
  EXPECT_RUN(JOBS_JSONL, "\xEF\xBB\xBF{\"url\":\"http://a/\"}\n",
             "0:1 http://a/\n");
  EXPECT_RUN(JOBS_JSONL, "", "");
}

Test(jobs_jsonl, errors_per_line, .timeout = T_SHORT) {
  EXPECT_RUN(JOBS_JSONL,
             "{\"url\":\"http://a/\"}\n"
             "{\"url\":\"http://b/\",}\n"
             "[1]\n"
             "{\"defaults\":{\"retries\":1}}\n"
             "{\"url\":\"http://c/\",\"retries\":1,\"retries\":2}\n"
             "{\"url\":\"http://d/\\u0000\"}\n"
             "{\"url\":\"http://e/\"} {}\n"
             "{\"id\":\"no-url\"}\n"
             "{\"url\":\"http://f/\"}\n",
             "0:1 http://a/\n"
             "E F:2:20: job #1: invalid JSON: expected a key (a string) at "
             "\"}\"\n"
             "E F:3:1: job #2: expected a job object, got an array\n"
             "E F:4:2: job #3: unknown key \"defaults\" (\"defaults\" can "
             "only be the first line)\n"
             "E F:5:32: job #4: duplicate key \"retries\" (first at 5:20)\n"
             "E F:6:18: job #5: invalid JSON: \\u0000 in a string is not "
             "allowed\n"
             "E F:7:21: job #6: invalid JSON: data after the JSON value at "
             "\"{}\"\n"
             "E F:8:1: job #7: missing \"url\"\n"
             "8:9 http://f/\n");
}

Test(jobs_jsonl, bad_defaults_fail_open, .timeout = T_SHORT) {
  EXPECT_RUN(JOBS_JSONL,
             "{\"defaults\":{\"retries\":-1}}\n{\"url\":\"http://a/\"}\n",
             "OPEN F:1:24: defaults: \"retries\" must be an integer from 0 "
             "to 100\n");
  EXPECT_RUN(JOBS_JSONL, "{\"defaults\":3}\n",
             "OPEN F:1:13: \"defaults\" must be an object, got a number\n");
  /* not only "defaults": a job, and a bad one */
  EXPECT_RUN(
      JOBS_JSONL,
      "{\"defaults\":{},\"url\":\"http://a/\"}\n{\"url\":\"http://b/\"}\n",
      "E F:1:2: job #0: unknown key \"defaults\" (\"defaults\" can "
      "only be the first line)\n"
      "1:2 http://b/\n");
  /* a broken first line is the first job's error, not open's */
  EXPECT_RUN(JOBS_JSONL, "{\"url\":\n{\"url\":\"http://b/\"}\n",
             "E F:1:8: job #0: invalid JSON: unexpected end of input\n"
             "1:2 http://b/\n");
}

Test(jobs_jsonl, hostile_lines, .timeout = T_SHORT) {
  static const char in[] = "{\"url\":\"http://a/\"}\n"
                           "{\"url\":\"http://b/\0\"}\n"
                           "{\"url\":\"http://c/\xff\"}\n"
                           "{\"url\":\"http://d/\", \"output\":\"../../x\"}\n"
                           "{\"url\":\"http://e/\"}\n";
  char *got = run_len(JOBS_JSONL, in, sizeof in - 1);

  cr_assert_str_eq(got, "0:1 http://a/\n"
                        "E F:2:18: job #1: invalid JSON: NUL byte\n"
                        "E F:3:18: job #2: invalid JSON: invalid UTF-8 in a "
                        "string\n"
                        "E F:4:30: job #3: \"output\" has a \"..\" component "
                        "(a relative path under the output directory is "
                        "needed)\n"
                        "4:5 http://e/\n");
  free(got);
}

Test(jobs_jsonl, rewind_same_sequence, .timeout = T_SHORT) {
  const char *in = "\n{\"defaults\":{\"retries\":4}}\n"
                   "{\"url\":\"http://a/\"}\n{\"url\":2}\n"
                   "{\"url\":\"http://c/\"}\n";
  char *path = tmp_file(in, strlen(in), ".jsonl");
  struct diag d;
  struct job j;
  jobs_src *s;

  cr_assert_eq(jobs_src_open(path, JOBS_JSONL, &s, &d), 0);
  char *first = drain(s, path);
  cr_assert_eq(jobs_src_rewind(s), 0);
  cr_assert_eq(jobs_src_next(s, &j, &d), 1);
  cr_assert_eq(j.retries, 4);
  job_free(&j);
  cr_assert_eq(jobs_src_rewind(s), 0);
  char *second = drain(s, path);
  cr_assert_str_eq(first, "0:3 http://a/\n"
                          "E F:4:8: job #1: \"url\" must be a string, got a "
                          "number\n"
                          "2:5 http://c/\n");
  cr_assert_str_eq(first, second);
  free(first);
  free(second);
  jobs_src_close(s);
  unlink(path);
  free(path);

  /* without a defaults line: the first job is not lost on rewind */
  expect_rewind_same(JOBS_JSONL,
                     "{\"url\":\"http://a/\"}\n{\"url\":\"http://b/\"}\n",
                     "0:1 http://a/\n1:2 http://b/\n");
}

Test(jobs_jsonl, stdin_source, .timeout = T_SHORT) {
  jobs_src *s = open_stdin("{\"defaults\":{\"output_dir\":\"o\"}}\n"
                           "{\"url\":\"http://a/\"}\n{\"url\":\"http://b/\","
                           "\"timeot\":1}\n",
                           JOBS_JSONL);
  cr_assert_str_eq(jobs_src_output_dir(s), "o");
  char *log = drain(s, "<unused>");
  cr_assert_str_eq(log, "0:2 http://a/\n"
                        "E <stdin>:3:20: job #1: unknown key \"timeot\" "
                        "(did you mean \"timeout\"?)\n");
  cr_assert_eq(jobs_src_rewind(s), -1);
  free(log);
  jobs_src_close(s);
}

Test(jobs_jsonl, streams_many_lines, .timeout = T_LONG) {
  enum { N = 20000 };
  char *path = NULL;
  FILE *f;

  cr_assert(asprintf(&path, "/tmp/jobs-test-big-%d.jsonl", (int)getpid()) > 0);
  cr_assert((f = fopen(path, "w")) != NULL);
  fprintf(f, "{\"defaults\":{\"retries\":1}}\n");
  for (int i = 0; i < N; i++)
    fprintf(f, "{\"url\":\"https://example.com/%d\",\"id\":%d}\n", i, i);
  fclose(f);

  struct diag d;
  struct job j;
  jobs_src *s;
  size_t base = 0, peak = 0;
  uint64_t count = 0, wrong = 0;
  char want[32];
  cr_assert_eq(jobs_src_open(path, JOBS_JSONL, &s, &d), 0);
  while (jobs_src_next(s, &j, &d) == 1) {
    snprintf(want, sizeof want, "%" PRIu64, count);
    wrong += strcmp(j.id, want) != 0 || j.line != count + 2 || j.retries != 1 ||
             j.index != count;
    if (count == 100)
      base = heap_in_use();
    if (count > 100 && heap_in_use() > peak)
      peak = heap_in_use();
    count++;
    job_free(&j);
  }
  cr_assert_eq(count, N, "%s", d.text);
  cr_assert_eq(wrong, 0);
  if (base)
    cr_assert_lt(peak, base + 4096, "heap grew from %zu to %zu", base, peak);
  jobs_src_close(s);
  unlink(path);
  free(path);
}

/* A job's header replaces a default header of the same name (names
 * compare without regard to case); other defaults are kept. */
Test(jobs_json, job_header_overrides_default_of_same_name, .timeout = T_SHORT) {
  const char *doc =
      "{\"defaults\": {\"headers\": {\"User-Agent\": \"a\", \"X-A\": \"1\"}},\n"
      " \"jobs\": [{\"url\": \"http://x/f\", "
      "\"headers\": {\"user-agent\": \"b\"}}]}";
  struct job j;
  one_job(JOBS_JSON, doc, &j);
  cr_assert_eq(j.nheaders, 2);
  cr_assert_str_eq(j.headers[0], "user-agent: b");
  cr_assert_str_eq(j.headers[1], "X-A: 1");
  job_free(&j);
}
