/*
 * jobs.c - job sources: opening, dispatch by format, command-line URLs,
 * and what the readers share (URL and header checks, messages, UTF-8, the
 * capped line reader).
 *
 * A jobs_src is one struct for every format (jobs_internal.h); `kind`
 * picks jobs_text_next, jobs_json_next, jobs_json_lines_next or the
 * argument reader here.  Files are read through a bare file descriptor
 * with our own 64 KiB chunk, not stdio: read(2) returns what a pipe has,
 * so jobs stream as a producer writes them, and rewinding is one lseek.
 *
 * The line reader keeps at most one line: a line over its cap is read to
 * its end and dropped, so a 10 GB line costs 64 KiB, never 10 GB.  Lines
 * lose "\n" and one "\r" before it (CRLF files).
 *
 * URL checks are ours first (no scheme://, a scheme other than http(s),
 * spaces and control characters, an empty host), then libcurl's URL API
 * (curl_url_set with CURLU_NON_SUPPORT_SCHEME, so that even an odd scheme
 * is parsed and named).  We check "scheme://" ourselves because libcurl
 * forgives "http:/x" and "http:///x", which would then fetch host "x".
 *
 * Messages are one line: user text goes through jobs_quote, which escapes
 * quotes, control characters and invalid UTF-8 and cuts long text, and
 * the source name had its control characters replaced at open.
 *
 * Invariants: s->index is the index the next job entry gets; a source
 * with `dead` set only returns 0 (after a read error, reported once).
 */
#include "jobs_internal.h"
#include "redact.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum { URL_OK, URL_BAD, URL_NOSCHEME, URL_SCHEME };

/* ---- messages ------------------------------------------------------- */

__attribute__((format(printf, 5, 0))) static int
jobs_vdiag(struct diag *d, const char *name, uint64_t line, uint64_t col,
           const char *fmt, va_list ap) {
  char msg[sizeof d->text];
  int n;

  vsnprintf(msg, sizeof msg, fmt, ap);
  if (line && col)
    n = snprintf(d->text, sizeof d->text, "%s:%" PRIu64 ":%" PRIu64 ": ", name,
                 line, col);
  else if (line)
    n = snprintf(d->text, sizeof d->text, "%s:%" PRIu64 ": ", name, line);
  else
    n = snprintf(d->text, sizeof d->text, "%s: ", name);
  if (n >= 0 && (size_t)n < sizeof d->text)
    snprintf(d->text + n, sizeof d->text - (size_t)n, "%s", msg);
  for (char *p = d->text; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  return -1;
}

int jobs_diag(struct diag *d, const char *name, uint64_t line, uint64_t col,
              const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  jobs_vdiag(d, name, line, col, fmt, ap);
  va_end(ap);
  return -1;
}

/* Writes s[0..n) as a double-quoted string: '"' and '\' escaped, control
 * bytes and invalid UTF-8 as \xNN, cut with "..." past JOBS_QUOTE_MAX
 * output bytes.  cap should be at least JOBS_QUOTE_MAX + 16. */
const char *jobs_quote(char *buf, size_t cap, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t o = 0, i = 0;

  buf[o++] = '"';
  while (i < n) {
    size_t k = u[i] < 0x80 ? 1 : jobs_utf8_seq(u + i, n - i);
    if (o > JOBS_QUOTE_MAX || o + 10 >= cap) {
      memcpy(buf + o, "...", 3);
      o += 3;
      break;
    }
    if (u[i] == '"' || u[i] == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)u[i];
    } else if (u[i] < 0x20 || u[i] == 0x7f || k == 0) {
      o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", u[i]);
      k = 1;
    } else {
      memcpy(buf + o, u + i, k);
      o += k;
    }
    i += k;
  }
  buf[o++] = '"';
  buf[o] = '\0';
  return buf;
}

int jobs_read_error(jobs_src *s, struct diag *d, int err) {
  s->dead = 1;
  return jobs_diag(d, s->name, 0, 0, "read error: %s", strerror(err));
}

/* ---- UTF-8 ---------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1 for ASCII), or 0 if it is
 * invalid: overlong, a surrogate, above U+10FFFF, or cut short. */
size_t jobs_utf8_seq(const unsigned char *s, size_t n) {
  unsigned lo = 0x80, hi = 0xBF;
  size_t len;

  if (s[0] < 0x80)
    return 1;
  if (s[0] < 0xC2 || s[0] > 0xF4)
    return 0;
  if (s[0] < 0xE0) {
    len = 2;
  } else if (s[0] < 0xF0) {
    len = 3;
    lo = s[0] == 0xE0 ? 0xA0 : lo;
    hi = s[0] == 0xED ? 0x9F : hi;
  } else {
    len = 4;
    lo = s[0] == 0xF0 ? 0x90 : lo;
    hi = s[0] == 0xF4 ? 0x8F : hi;
  }
  if (n < len || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < len; i++)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  return len;
}

/* Offset of the first NUL byte or invalid UTF-8 in s[0..n), or n. */
size_t jobs_utf8_check(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;

  while (i < n) {
    size_t k = u[i] ? jobs_utf8_seq(u + i, n - i) : 0;
    if (!k)
      return i;
    i += k;
  }
  return n;
}

/* ---- the line reader ------------------------------------------------ */

static int reader_init(struct jobs_reader *r, int fd) {
  memset(r, 0, sizeof(*r));
  r->fd = fd;
  r->chunk = malloc(JOBS_CHUNK);
  r->cap = 256;
  r->line = malloc(r->cap);
  return r->chunk && r->line ? 0 : -1;
}

static void reader_reset(struct jobs_reader *r) {
  r->cpos = r->clen = r->len = 0;
  r->lineno = 0;
  r->eof = 0;
}

static int reader_fill(struct jobs_reader *r) {
  ssize_t n;

  do
    n = read(r->fd, r->chunk, JOBS_CHUNK);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -1;
  r->cpos = 0;
  r->clen = (size_t)n;
  r->eof = n == 0;
  return 0;
}

/* Appends p[0..n) to the line: 0, 1 if that would pass limit, -1 ENOMEM */
static int reader_keep(struct jobs_reader *r, const char *p, size_t n,
                       size_t limit) {
  if (n > limit - r->len)
    return 1;
  if (r->len + n + 1 > r->cap) {
    size_t cap = r->cap * 2 > r->len + n + 1 ? r->cap * 2 : r->len + n + 1;
    char *line = realloc(r->line, cap);
    if (!line)
      return -1;
    r->line = line;
    r->cap = cap;
  }
  memcpy(r->line + r->len, p, n);
  r->len += n;
  return 0;
}

/* Reads the next line (at most max bytes once "\r" is dropped): 1 with
 * r->line and r->len set, 0 at the end, -1 with errno set on a read or
 * allocation error, -2 if the line was too long (it is skipped). */
int jobs_read_line(struct jobs_reader *r, size_t max) {
  int over = 0, got = 0;

  r->len = 0;
  for (;;) {
    if (r->cpos == r->clen) {
      if (!r->eof && reader_fill(r) < 0)
        return -1; /* even mid-line: a cut line is no line */
      if (r->eof)
        break;
    }
    const char *p = r->chunk + r->cpos;
    const char *nl = memchr(p, '\n', r->clen - r->cpos);
    size_t take = nl ? (size_t)(nl - p) : r->clen - r->cpos;
    int k = over ? 1 : reader_keep(r, p, take, max + 1);
    if (k < 0)
      return (errno = ENOMEM), -1;
    over |= k;
    got = 1;
    r->cpos += take + (nl != NULL);
    if (nl)
      break;
  }
  if (!got)
    return 0;
  r->lineno++;
  if (r->len && r->line[r->len - 1] == '\r')
    r->len--;
  r->line[r->len] = '\0';
  return over || r->len > max ? -2 : 1;
}

/* ---- URLs ------------------------------------------------------------ */

static int is_alpha(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* Length of the scheme if url starts with "scheme:", else 0. */
static size_t url_scheme(const char *url) {
  size_t i = 0;

  if (!is_alpha(url[0]))
    return 0;
  while (is_alpha(url[i]) || is_digit(url[i]) || url[i] == '+' ||
         url[i] == '-' || url[i] == '.')
    i++;
  return url[i] == ':' ? i : 0;
}

static int url_is_http(const char *url, size_t slen) {
  return (slen == 4 && strncasecmp(url, "http", 4) == 0) ||
         (slen == 5 && strncasecmp(url, "https", 5) == 0);
}

/* "x:..." without "//": a missing scheme ("host:8080", "a.b:c") or
 * another scheme ("mailto:"), or a broken http URL ("http:/x"). */
static int url_no_slashes(const char *url, size_t slen, const char **why) {
  if (!slen || memchr(url, '.', slen) || is_digit(url[slen + 1])) {
    *why = "no scheme (http:// or https://)";
    return URL_NOSCHEME;
  }
  if (url_is_http(url, slen)) {
    *why = "\"//\" must follow the scheme";
    return URL_BAD;
  }
  *why = "scheme not allowed (only http and https)";
  return URL_SCHEME;
}

static const char *url_curl_why(CURLUcode rc) {
  switch (rc) {
  case CURLUE_BAD_PORT_NUMBER: return "bad port number";
  case CURLUE_BAD_HOSTNAME: return "bad host name";
  case CURLUE_BAD_IPV6: return "bad IPv6 address";
  case CURLUE_NO_HOST: return "no host";
  case CURLUE_OUT_OF_MEMORY: return "out of memory";
  default: return curl_url_strerror(rc);
  }
}

static int url_curl(const char *url, const char **why) {
  CURLU *h = curl_url();
  char *host = NULL;
  CURLUcode rc = CURLUE_OUT_OF_MEMORY;

  if (h) {
    rc = curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    if (rc == CURLUE_OK)
      rc = curl_url_get(h, CURLUPART_HOST, &host, 0);
  }
  if (rc == CURLUE_OK && (!host || !*host))
    rc = CURLUE_NO_HOST;
  curl_free(host);
  curl_url_cleanup(h);
  if (rc == CURLUE_OK)
    return URL_OK;
  *why = url_curl_why(rc);
  return URL_BAD;
}

static int url_verdict(const char *url, const char **why, size_t *slen) {
  size_t n = strlen(url);

  *slen = 0;
  *why = n ? "longer than 65536 bytes" : "empty";
  if (!n || n > JOB_MAX_URL)
    return URL_BAD;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f) {
      *why = "contains a space or a control character";
      return URL_BAD;
    }
  *slen = url_scheme(url);
  if (!*slen || strncmp(url + *slen, "://", 3) != 0)
    return url_no_slashes(url, *slen, why);
  if (!url_is_http(url, *slen)) {
    *why = "scheme not allowed (only http and https)";
    return URL_SCHEME;
  }
  if (strchr("/?#", url[*slen + 3])) { /* also the final NUL */
    *why = "no host";
    return URL_BAD;
  }
  return url_curl(url, why);
}

int jobs_check_url(const char *url, const char **why) {
  size_t slen;

  return url_verdict(url, why, &slen) == URL_OK ? 0 : -1;
}

/* 0 if url is fine, else -1 with msg = 'invalid URL "...": reason'. */
int jobs_url_message(const char *url, char *msg, size_t cap) {
  char q[JOBS_QUOTE_MAX + 16], q2[JOBS_QUOTE_MAX + 16], fix[128];
  const char *why;
  size_t slen;
  int rc = url_verdict(url, &why, &slen);

  if (rc == URL_OK)
    return 0;
  char *own;
  const char *shown = redact_url(url, &own);
  jobs_quote(q, sizeof q, shown, strlen(shown));
  free(own);
  if (rc == URL_SCHEME) {
    snprintf(msg, cap,
             "invalid URL %s: scheme %s not allowed (only http "
             "and https)",
             q, jobs_quote(q2, sizeof q2, url, slen));
  } else if (rc == URL_NOSCHEME) {
    /* redacted before it is cut, so that no cut keeps a password */
    char *full = NULL;
    if (asprintf(&full, "%s%s",
                 url[0] == '/' && url[1] == '/' ? "http:" : "http://", url) < 0)
      full = NULL;
    shown = full ? redact_url(full, &own) : "";
    snprintf(fix, sizeof fix, "%.100s", shown);
    free(own);
    free(full);
    snprintf(msg, cap, "invalid URL %s: no scheme (did you mean %s?)", q,
             jobs_quote(q2, sizeof q2, fix, strlen(fix)));
  } else {
    snprintf(msg, cap, "invalid URL %s: %s", q, why);
  }
  return -1;
}

/* ---- headers -------------------------------------------------------- */

static int is_tchar(int c) {
  return is_alpha(c) || is_digit(c) ||
         (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *header_name_why(const char *name, size_t n) {
  if (!n)
    return "has an empty name";
  for (size_t i = 0; i < n; i++)
    if (!is_tchar((unsigned char)name[i]))
      return "has a name that is not an HTTP token";
  return NULL;
}

static const char *header_value_why(const char *value) {
  for (const char *p = value; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '\r' || c == '\n')
      return "has CR or LF in its value";
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return "has a control character in its value";
  }
  return NULL;
}

/* The one rule for a request header, whether a job file's "headers" or
 * -H gives it: the two entry points below differ only in how the name
 * and value arrive. */
static int header_verdict(const char *name, size_t n, const char *value,
                          size_t line_len, const char **why) {
  *why = header_name_why(name, n);
  if (!*why)
    *why = header_value_why(value);
  if (!*why && line_len > JOB_MAX_HEADER)
    *why = "is longer than 65536 bytes";
  return *why ? -1 : 0;
}

int jobs_check_header(const char *name, const char *value, const char **why) {
  size_t n = strlen(name);

  return header_verdict(name, n, value, n + 2 + strlen(value), why);
}

int jobs_check_header_line(const char *line, size_t *name_len,
                           const char **why) {
  const char *colon = strchr(line, ':');
  const char *v = colon ? colon + 1 : "";

  *name_len = colon ? (size_t)(colon - line) : strlen(line);
  if (!colon) {
    *why = "has no ':' (expected \"Name: value\")";
    return -1;
  }
  while (*v == ' ' || *v == '\t')
    v++;
  /* the line is sent as given: its length counts, blanks and all */
  return header_verdict(line, *name_len, v, strlen(line), why);
}

/* ---- sources ---------------------------------------------------------- */

static jobs_src *src_new(const char *name, enum jobs_kind kind) {
  jobs_src *s = calloc(1, sizeof(*s));

  if (!s || !(s->name = strdup(name))) {
    free(s);
    return NULL;
  }
  for (char *p = s->name; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = '?';
  s->kind = kind;
  s->fd = -1;
  s->rd.fd = -1;
  job_init(&s->defaults);
  return s;
}

static int src_open_fd(jobs_src *s, const char *path, struct diag *d) {
  struct stat st;

  if (strcmp(path, "-") == 0) {
    s->fd = 0;
    s->is_stdin = 1;
    return 0;
  }
  s->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (s->fd < 0 || fstat(s->fd, &st) < 0)
    return jobs_diag(d, s->name, 0, 0, "cannot open: %s", strerror(errno));
  if (S_ISDIR(st.st_mode))
    return jobs_diag(d, s->name, 0, 0, "cannot open: %s", strerror(EISDIR));
  s->seekable = S_ISREG(st.st_mode);
  return 0;
}

static int src_start(jobs_src *s, struct diag *d) {
  if (s->kind == JOBS_KIND_JSON)
    return jobs_json_open(s, d);
  if (reader_init(&s->rd, s->fd) < 0)
    return jobs_diag(d, s->name, 0, 0, "out of memory");
  return s->kind == JOBS_KIND_JSONL ? jobs_json_lines_open(s, d) : 0;
}

int jobs_src_open(const char *path, enum jobs_format fmt, jobs_src **out,
                  struct diag *d) {
  static const enum jobs_kind kinds[] = {[JOBS_TEXT] = JOBS_KIND_TEXT,
                                         [JOBS_JSON] = JOBS_KIND_JSON,
                                         [JOBS_JSONL] = JOBS_KIND_JSONL};
  int std = strcmp(path, "-") == 0;
  jobs_src *s;

  if ((unsigned)fmt > JOBS_JSONL)
    return jobs_diag(d, path, 0, 0, "unknown job file format");
  *out = NULL;
  s = src_new(std ? "<stdin>" : path, kinds[fmt]);
  if (!s)
    return jobs_diag(d, path, 0, 0, "out of memory");
  if (src_open_fd(s, path, d) < 0 || src_start(s, d) < 0) {
    jobs_src_close(s);
    return -1;
  }
  *out = s;
  return 0;
}

int jobs_src_open_args(char *const *urls, size_t n, jobs_src **out) {
  jobs_src *s = src_new("<args>", JOBS_KIND_ARGS);

  *out = s;
  if (!s)
    return -1;
  s->args = urls;
  s->nargs = n;
  s->seekable = 1;
  return 0;
}

static int args_next(jobs_src *s, struct job *j, struct diag *d) {
  char msg[sizeof d->text];
  uint64_t i = s->index;

  if (i >= s->nargs)
    return 0;
  s->index++;
  if (jobs_url_message(s->args[i], msg, sizeof msg) < 0)
    return jobs_diag(d, s->name, i + 1, 0, "%s", msg);
  if (!(j->url = strdup(s->args[i])))
    return jobs_diag(d, s->name, i + 1, 0, "out of memory");
  j->index = i;
  return 1;
}

int jobs_src_next(jobs_src *s, struct job *j, struct diag *d) {
  job_init(j);
  d->text[0] = '\0';
  if (s->dead)
    return 0;
  switch (s->kind) {
  case JOBS_KIND_TEXT: return jobs_text_next(s, j, d);
  case JOBS_KIND_JSON: return jobs_json_next(s, j, d);
  case JOBS_KIND_JSONL: return jobs_json_lines_next(s, j, d);
  default: return args_next(s, j, d);
  }
}

int jobs_src_rewind(jobs_src *s) {
  if (!s->seekable)
    return -1;
  s->index = 0;
  s->dead = 0;
  if (s->kind == JOBS_KIND_ARGS)
    return 0;
  if (s->kind == JOBS_KIND_JSON) {
    jobs_json_rewind(s);
    return 0;
  }
  if (lseek(s->fd, 0, SEEK_SET) < 0)
    return -1;
  reader_reset(&s->rd);
  return s->kind == JOBS_KIND_JSONL ? jobs_json_lines_rewind(s) : 0;
}

int jobs_src_seekable(const jobs_src *s) { return s->seekable; }

const char *jobs_src_output_dir(const jobs_src *s) { return s->output_dir; }

const char *jobs_src_name(const jobs_src *s) { return s->name; }

int jobs_src_is_job_file(const jobs_src *s) {
  return s->kind == JOBS_KIND_JSON || s->kind == JOBS_KIND_JSONL;
}

void jobs_src_close(jobs_src *s) {
  if (!s)
    return;
  jobs_json_close(s);
  jobs_json_lines_close(s);
  if (s->fd > 0 || (s->fd == 0 && !s->is_stdin))
    close(s->fd);
  free(s->rd.chunk);
  free(s->rd.line);
  job_free(&s->defaults);
  free(s->output_dir);
  free(s->name);
  free(s);
}

int jobs_format_from_name(const char *path) {
  size_t n = strlen(path);

  if (n >= 6 && strcasecmp(path + n - 6, ".jsonl") == 0)
    return JOBS_JSONL;
  if (n >= 7 && strcasecmp(path + n - 7, ".ndjson") == 0)
    return JOBS_JSONL;
  if (n >= 5 && strcasecmp(path + n - 5, ".json") == 0)
    return JOBS_JSON;
  return -1;
}
