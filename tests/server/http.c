/*
 * http.c - request-head parsing and small HTTP/1.1 helpers.
 *
 * The parser works on a complete head (request line, header lines, blank
 * line) that conn.c has already found with http_find_head_end, so it never
 * suspends and keeps no state: a head is parsed again from scratch when the
 * connection comes back to it (while its body arrives), which costs little
 * next to a read.  Results point into the input; nothing is copied.
 *
 * It is strict where leniency would let framing go wrong (RFC 7230 3.3.3:
 * conflicting Content-Length, Transfer-Encoding, obsolete line folding,
 * whitespace before a colon, control bytes) and lenient where it cannot:
 * bare LF line ends, absolute-form targets, empty lines before a request.
 * Anything refused is answered by a status and a close, never a crash.
 */
#include "faultsrv.h"

#include <string.h>

static int is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z'))
    return 1;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int http_is_token(const char *s, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!is_tchar((unsigned char)s[i]))
      return 0;
  return 1;
}

int http_has_ctl(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return 1;
  }
  return 0;
}

void http_trim_ows(const char **s, size_t *n) {
  while (*n && (**s == ' ' || **s == '\t'))
    (*s)++, (*n)--;
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
    (*n)--;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

int http_equal_nocase(const char *a, size_t an, const char *b) {
  size_t bn = strlen(b);
  if (an != bn)
    return 0;
  for (size_t i = 0; i < an; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
      return 0;
  return 1;
}

int http_find_head_end(const char *p, size_t len, size_t *scan,
                       size_t *head_len) {
  size_t i = *scan;
  while (i < len) {
    const char *nl = memchr(p + i, '\n', len - i);
    if (!nl)
      break;
    i = (size_t)(nl - p);
    if ((i >= 1 && p[i - 1] == '\n') ||
        (i >= 2 && p[i - 1] == '\r' && p[i - 2] == '\n')) {
      *head_len = i + 1;
      return 1;
    }
    i++;
  }
  *scan = len;
  return 0;
}

/* Splits off the next line of p[*pos, end): sets *ls, *ln without its line
 * end.  Returns 0 at the end. */
static int next_line(const char *p, size_t end, size_t *pos, const char **ls,
                     size_t *ln) {
  if (*pos >= end)
    return 0;
  const char *nl = memchr(p + *pos, '\n', end - *pos);
  size_t e = nl ? (size_t)(nl - p) : end;
  *ls = p + *pos;
  *ln = e - *pos;
  if (*ln > 0 && (*ls)[*ln - 1] == '\r')
    (*ln)--;
  *pos = e + 1;
  return 1;
}

static int parse_target(struct http_req *rq) {
  const char *t = rq->target;
  size_t n = rq->tlen;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)t[i];
    if (c <= 0x20 || c == 0x7f)
      return 400;
  }
  rq->path = t;
  rq->plen = n;
  if (n > 7 &&
      (memcmp(t, "http://", 7) == 0 || memcmp(t, "https://", 8) == 0)) {
    const char *auth = memchr(t, '/', n) + 2;
    const char *slash = memchr(auth, '/', (size_t)(t + n - auth));
    const char *q = memchr(auth, '?', (size_t)(t + n - auth));
    if (!slash || (q && q < slash)) {
      rq->path = "/";
      rq->plen = 1;
      rq->query = q ? q + 1 : NULL;
      rq->qlen = q ? (size_t)(t + n - q - 1) : 0;
      return 0;
    }
    rq->path = slash;
    rq->plen = (size_t)(t + n - slash);
  } else if (t[0] != '/' && !(n == 1 && t[0] == '*')) {
    return 400;
  }
  const char *q = memchr(rq->path, '?', rq->plen);
  if (q) {
    rq->query = q + 1;
    rq->qlen = (size_t)(rq->path + rq->plen - q - 1);
    rq->plen = (size_t)(q - rq->path);
  }
  return 0;
}

static int parse_request_line(const char *l, size_t n, struct http_req *rq) {
  const char *sp1 = memchr(l, ' ', n);
  if (!sp1)
    return 400;
  const char *rest = sp1 + 1;
  const char *sp2 = memchr(rest, ' ', (size_t)(l + n - rest));
  if (!sp2)
    return 400;
  rq->method = l;
  rq->mlen = (size_t)(sp1 - l);
  rq->target = rest;
  rq->tlen = (size_t)(sp2 - rest);
  const char *v = sp2 + 1;
  size_t vn = (size_t)(l + n - v);
  if (!http_is_token(rq->method, rq->mlen) || rq->mlen > 32 || rq->tlen == 0)
    return 400;
  if (vn != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' ||
      v[5] > '9' || v[7] < '0' || v[7] > '9')
    return 400;
  if (v[5] != '1')
    return 505;
  rq->minor = v[7] - '0';
  rq->head = rq->mlen == 4 && memcmp(rq->method, "HEAD", 4) == 0;
  return parse_target(rq);
}

/* Content-Length: digits only; a repeat must agree (RFC 7230 3.3.2). */
static int parse_content_length(const char *v, size_t n, struct http_req *rq) {
  uint64_t cl;
  if (!http_parse_u64(v, n, UINT64_MAX / 2, &cl))
    return 400;
  if (rq->has_cl && rq->content_length != cl)
    return 400;
  rq->has_cl = 1;
  rq->content_length = cl;
  return 0;
}

/* Notes the "close" and "keep-alive" tokens of a Connection header. */
static void parse_connection(const char *v, size_t n, int *close, int *ka) {
  size_t i = 0;
  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    size_t s = i;
    while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
      i++;
    if (http_equal_nocase(v + s, i - s, "close"))
      *close = 1;
    else if (http_equal_nocase(v + s, i - s, "keep-alive"))
      *ka = 1;
  }
}

static int parse_header(const char *l, size_t n, struct http_req *rq,
                        int *close, int *ka) {
  if (l[0] == ' ' || l[0] == '\t')
    return 400; /* obsolete line folding */
  const char *colon = memchr(l, ':', n);
  if (!colon || !http_is_token(l, (size_t)(colon - l)))
    return 400;
  if (rq->nheaders == FS_HEADERS_MAX)
    return 431;
  const char *v = colon + 1;
  size_t vn = (size_t)(l + n - v);
  http_trim_ows(&v, &vn);
  if (http_has_ctl(v, vn))
    return 400;
  struct http_header *h = &rq->headers[rq->nheaders++];
  h->name = l;
  h->nlen = (size_t)(colon - l);
  h->value = v;
  h->vlen = vn;
  if (http_equal_nocase(h->name, h->nlen, "content-length"))
    return parse_content_length(h->value, h->vlen, rq);
  if (http_equal_nocase(h->name, h->nlen, "transfer-encoding"))
    rq->has_te = 1;
  else if (http_equal_nocase(h->name, h->nlen, "connection"))
    parse_connection(h->value, h->vlen, close, ka);
  else if (http_equal_nocase(h->name, h->nlen, "expect"))
    rq->expect = h->value, rq->expect_len = h->vlen;
  return 0;
}

int http_parse_head(const char *p, size_t len, struct http_req *rq) {
  memset(rq, 0, offsetof(struct http_req, headers));
  size_t pos = 0, n;
  const char *l;
  if (!next_line(p, len, &pos, &l, &n) || n == 0)
    return 400;
  int st = parse_request_line(l, n, rq);
  if (st)
    return st;
  int close = 0, ka = 0;
  while (next_line(p, len, &pos, &l, &n) && n > 0) {
    st = parse_header(l, n, rq, &close, &ka);
    if (st)
      return st;
  }
  rq->keep_alive = rq->minor >= 1 ? !close : (ka && !close);
  return 0;
}

const struct http_header *http_header_get(const struct http_req *rq,
                                          const char *name) {
  for (size_t i = 0; i < rq->nheaders; i++)
    if (http_equal_nocase(rq->headers[i].name, rq->headers[i].nlen, name))
      return &rq->headers[i];
  return NULL;
}

int http_query_get(const struct http_req *rq, const char *name, const char **v,
                   size_t *vlen) {
  if (!rq->query)
    return 0;
  const char *q = rq->query, *end = q + rq->qlen;
  size_t nn = strlen(name);
  while (q && q < end) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    const char *pe = amp ? amp : end;
    const char *eq = memchr(q, '=', (size_t)(pe - q));
    const char *ne = eq ? eq : pe;
    if ((size_t)(ne - q) == nn && memcmp(q, name, nn) == 0) {
      *v = eq ? eq + 1 : pe;
      *vlen = (size_t)(pe - *v);
      return 1;
    }
    q = amp ? amp + 1 : NULL;
  }
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = (char)lower((unsigned char)c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

long http_pct_decode(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%') {
      out[o++] = s[i];
      continue;
    }
    if (i + 2 >= n)
      return -1;
    int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
    if (hi < 0 || lo < 0)
      return -1;
    out[o++] = (char)(hi * 16 + lo);
    i += 2;
  }
  return (long)o;
}

int http_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out) {
  if (n == 0 || n > 20)
    return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (max - d) / 10)
      return 0;
    v = v * 10 + d;
  }
  *out = v;
  return 1;
}

int http_range_parse(const char *v, size_t n, uint64_t size, uint64_t *first,
                     uint64_t *last) {
  if (n < 6 || !http_equal_nocase(v, 6, "bytes="))
    return HTTP_RANGE_NONE;
  v += 6, n -= 6;
  http_trim_ows(&v, &n);
  const char *dash = memchr(v, '-', n);
  if (!dash || memchr(v, ',', n))
    return HTTP_RANGE_NONE;
  size_t an = (size_t)(dash - v), bn = n - an - 1;
  uint64_t a, b;
  if (an == 0) { /* suffix: the last b bytes */
    if (!http_parse_u64(dash + 1, bn, UINT64_MAX, &b))
      return HTTP_RANGE_NONE;
    if (b == 0 || size == 0)
      return HTTP_RANGE_BAD;
    *first = size - (b < size ? b : size);
    *last = size - 1;
    return HTTP_RANGE_OK;
  }
  if (!http_parse_u64(v, an, UINT64_MAX, &a))
    return HTTP_RANGE_NONE;
  b = UINT64_MAX;
  if (bn > 0 && (!http_parse_u64(dash + 1, bn, UINT64_MAX, &b) || b < a))
    return HTTP_RANGE_NONE;
  if (a >= size)
    return HTTP_RANGE_BAD;
  *first = a;
  *last = b < size ? b : size - 1;
  return HTTP_RANGE_OK;
}

void http_imf_date(time_t t, char out[64]) {
  static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                  "Thu", "Fri", "Sat"};
  static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(out, 64, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
           tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
           tm.tm_min, tm.tm_sec);
}

int http_status_bodyless(int status) {
  return status < 200 || status == 204 || status == 304;
}

const char *http_reason(int status) {
  static const struct {
    int code;
    const char *text;
  } reasons[] = {
      {100, "Continue"},
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {204, "No Content"},
      {206, "Partial Content"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {303, "See Other"},
      {304, "Not Modified"},
      {307, "Temporary Redirect"},
      {308, "Permanent Redirect"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {408, "Request Timeout"},
      {410, "Gone"},
      {411, "Length Required"},
      {413, "Content Too Large"},
      {416, "Range Not Satisfiable"},
      {417, "Expectation Failed"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
      {505, "HTTP Version Not Supported"},
  };
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
    if (reasons[i].code == status)
      return reasons[i].text;
  return "Status";
}
