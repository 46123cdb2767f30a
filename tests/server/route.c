/*
 * route.c - from a parsed request to a reply plan.
 *
 * A path is read left to right, one segment at a time, and each segment
 * name is looked up in one sorted table (bsearch).  Two kinds of entries:
 *   modifiers  take their arguments, change the plan (delay, fault, pacing,
 *              framing, an extra header) and hand over to the rest of the
 *              path: /delay/50/bytes/1000 is "wait 50 ms, then /bytes/1000";
 *   terminals  set the status and the body and end the walk; whatever
 *              follows them is ignored, so /bytes/10/name.bin works.
 * /faulty/KEY/K/FAULT/N injects a fault into the first K requests only.
 * /redirect/N, /flaky and /retry-after are modifiers that may turn into
 * terminals.  Modifiers before a terminal apply to whatever it answers,
 * a 404 included.  An empty rest after a modifier answers 200 "ok".
 *
 * Arguments are raw path segments (empty segments are skipped); keys,
 * header names and values are percent-decoded, so a value holding '/' is
 * written %2F.  Decoded values land straight in the reply's header buffer,
 * and are refused (400) if they hold control bytes, which would otherwise
 * allow header injection.
 *
 * Nothing here does I/O or keeps the request: conn.c renders the plan.
 * Running out of memory anywhere turns the reply into a 500.
 */
#include "faultsrv.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define BYTES_MAX (UINT64_C(1) << 44) /* 16 TiB */
#define DELAY_MAX UINT64_C(3600000)   /* one hour, in ms */
#define COUNT_MAX UINT64_C(1000000000000)

enum { R_NEXT, R_DONE };

struct route {
  struct fs_server *srv;
  const struct http_req *rq;
  struct reply *rp;
  const char *seg_at;    /* the '/' before the current segment */
  const char *cur, *end; /* unread rest of the path */
  int own_ctype;         /* a /header/ set Content-Type */
};

/* The next non-empty segment of the path, or 0 at its end. */
static int seg_next(struct route *r, const char **s, size_t *n) {
  while (r->cur < r->end) {
    const char *b = r->cur + 1;
    const char *e = memchr(b, '/', (size_t)(r->end - b));
    if (!e)
      e = r->end;
    r->cur = e;
    if (e > b) {
      r->seg_at = b - 1;
      *s = b;
      *n = (size_t)(e - b);
      return 1;
    }
  }
  return 0;
}

static int arg_u64(struct route *r, uint64_t min, uint64_t max, uint64_t *v) {
  const char *s;
  size_t n;
  return seg_next(r, &s, &n) && http_parse_u64(s, n, max, v) && *v >= min;
}

/* Percent-decodes s[0, n) onto the end of b.  Returns 0 if the escapes are
 * broken or the result holds a control byte (b is then unchanged). */
static int append_decoded(struct buf *b, const char *s, size_t n) {
  if (buf_reserve(b, n) != 0)
    return 1; /* oom is sticky: the reply becomes a 500 */
  char *dst = b->p + b->len;
  long m = http_pct_decode(s, n, dst);
  if (m < 0 || http_has_ctl(dst, (size_t)m))
    return 0;
  b->len += (size_t)m;
  return 1;
}

/* Decodes the next segment into key[FS_KEY_MAX].  Returns its length, or
 * -1 if it is missing, broken or too long. */
static long arg_key(struct route *r, char *key) {
  const char *s;
  size_t n;
  if (!seg_next(r, &s, &n) || n > FS_KEY_MAX)
    return -1;
  return http_pct_decode(s, n, key);
}

/* Ends the walk with rp->mem as the body. */
static int reply_mem(struct reply *rp, int status, const char *ctype) {
  rp->status = status;
  rp->ctype = ctype;
  rp->body = BODY_MEM;
  rp->blen = buf_size(&rp->mem);
  return R_DONE;
}

static int reply_text(struct reply *rp, int status, const char *text) {
  rp->mem.off = rp->mem.len = 0;
  buf_puts(&rp->mem, text);
  return reply_mem(rp, status, "text/plain");
}

static int bad(struct route *r) {
  return reply_text(r->rp, 400, "bad request\n");
}

/* ---- /bytes ------------------------------------------------------------ */

/* Strips a weak-validator prefix, for If-None-Match's weak comparison. */
static void strip_weak(const char **s, size_t *n) {
  if (*n >= 2 && (*s)[0] == 'W' && (*s)[1] == '/')
    *s += 2, *n -= 2;
}

static int if_none_match(const struct http_req *rq, const char *etag,
                         size_t elen) {
  const struct http_header *h = http_header_get(rq, "if-none-match");
  if (!h)
    return 0;
  strip_weak(&etag, &elen);
  const char *v = h->value, *end = h->value + h->vlen;
  while (v < end) {
    const char *c = memchr(v, ',', (size_t)(end - v));
    const char *e = c ? c : end;
    size_t n = (size_t)(e - v);
    http_trim_ows(&v, &n);
    strip_weak(&v, &n);
    if ((n == 1 && *v == '*') || (n == elen && memcmp(v, etag, n) == 0))
      return 1;
    v = e + 1;
  }
  return 0;
}

/* Appends "ETag: ..." from ?etag=X, quoted unless X already is.  Sets
 * *at and *elen to where the value as sent sits in xhdr (an offset: the bytes
 * move when xhdr grows).  Returns 0 on a bad value. */
static int bytes_etag(struct route *r, size_t *at, size_t *elen) {
  const char *v;
  size_t n;
  *elen = 0;
  if (!http_query_get(r->rq, "etag", &v, &n) || n == 0)
    return 1;
  struct buf *x = &r->rp->xhdr;
  size_t mark = x->len;
  buf_puts(x, "ETag: ");
  *at = x->len;
  if (!append_decoded(x, v, n)) {
    x->len = mark;
    return 0;
  }
  if (buf_reserve(x, 4) != 0)
    return 1; /* oom: the reply becomes a 500 */
  char *e = x->p + *at;
  size_t en = x->len - *at;
  int quoted = e[0] == '"' || (en > 2 && memcmp(e, "W/\"", 3) == 0);
  if (!quoted) {
    memmove(e + 1, e, en);
    e[0] = e[en + 1] = '"';
    x->len += 2;
  }
  *elen = x->len - *at;
  buf_append(x, "\r\n", 2);
  return 1;
}

static void bytes_range(struct route *r, uint64_t size, size_t eat,
                        size_t elen) {
  const struct http_header *h = http_header_get(r->rq, "range");
  if (!h)
    return;
  struct reply *rp = r->rp;
  const char *etag = rp->xhdr.p + eat;
  const struct http_header *ir = http_header_get(r->rq, "if-range");
  if (ir && !(elen && etag[0] == '"' && ir->vlen == elen &&
              memcmp(ir->value, etag, elen) == 0))
    return; /* the validator changed (or there is none): send it all */
  uint64_t a, b;
  switch (http_range_parse(h->value, h->vlen, size, &a, &b)) {
  case HTTP_RANGE_OK:
    rp->status = 206;
    rp->first = a;
    rp->blen = b - a + 1;
    buf_printf(&rp->xhdr,
               "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n",
               a, b, size);
    break;
  case HTTP_RANGE_BAD:
    reply_text(rp, 416, "range not satisfiable\n");
    buf_printf(&rp->xhdr, "Content-Range: bytes */%" PRIu64 "\r\n", size);
    break;
  default: break;
  }
}

/* /bytes/N: N bytes of the pattern, 200.  ?etag=X sends "ETag: X" (quoted
 * unless it already is) and makes the reply conditional: a request whose
 * If-None-Match lists X (weakly compared, or "*") gets 304 with that ETag
 * and no body; If-Range on X allows a Range (206), another If-Range gets
 * all of it (200).  ?norange=1 ignores Range. */
static int h_bytes(struct route *r, int arg) {
  (void)arg;
  uint64_t n;
  if (!arg_u64(r, 0, BYTES_MAX, &n))
    return bad(r);
  struct reply *rp = r->rp;
  rp->status = 200;
  rp->ctype = "application/octet-stream";
  rp->body = BODY_BYTES;
  rp->first = 0;
  rp->blen = n;
  size_t eat = 0, elen;
  if (!bytes_etag(r, &eat, &elen))
    return bad(r);
  if (rp->xhdr.oom)
    return R_DONE;
  if (elen && if_none_match(r->rq, rp->xhdr.p + eat, elen)) {
    rp->status = 304;
    return R_DONE;
  }
  const char *v;
  size_t vn;
  if (http_query_get(r->rq, "norange", &v, &vn) && !(vn == 1 && *v == '0'))
    return R_DONE;
  buf_puts(&rp->xhdr, "Accept-Ranges: bytes\r\n");
  if (!rp->xhdr.oom)
    bytes_range(r, n, eat, elen);
  return R_DONE;
}

/* ---- terminals ----------------------------------------------------------- */

/* Base64 (RFC 4648, padded) of s[0, n) onto the end of b. */
static void base64_append(struct buf *b, const char *s, size_t n) {
  static const char abc[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)(unsigned char)s[i + 1] << 8;
    if (i + 2 < n)
      v |= (unsigned char)s[i + 2];
    char q[4] = {abc[v >> 18], abc[(v >> 12) & 63],
                 i + 1 < n ? abc[(v >> 6) & 63] : '=',
                 i + 2 < n ? abc[v & 63] : '='};
    buf_append(b, q, 4);
  }
}

/* /basic-auth/USER/PASS: 200 "authorized" if the request carries
 * "Authorization: Basic base64(USER:PASS)" (USER and PASS percent-decoded,
 * so a test can write the password s%65cret and grep outputs for
 * "secret"), else 401 with a WWW-Authenticate challenge.  For the tests
 * that credentials in a URL reach the server and go nowhere else. */
static int h_basic_auth(struct route *r, int arg) {
  (void)arg;
  const char *user, *pass;
  size_t un, pn;
  if (!seg_next(r, &user, &un) || !seg_next(r, &pass, &pn))
    return bad(r);
  struct buf want = {0};
  buf_puts(&want, "Basic ");
  struct buf plain = {0};
  int decoded = append_decoded(&plain, user, un);
  buf_append(&plain, ":", 1);
  decoded = decoded && append_decoded(&plain, pass, pn);
  if (!decoded) {
    buf_free(&want);
    buf_free(&plain);
    return bad(r);
  }
  base64_append(&want, buf_data(&plain), buf_size(&plain));
  const struct http_header *h = http_header_get(r->rq, "authorization");
  const char *v = h ? h->value : NULL;
  size_t vn = h ? h->vlen : 0;
  if (v)
    http_trim_ows(&v, &vn);
  int ok = !want.oom && !plain.oom && v && vn == buf_size(&want) &&
           memcmp(v, buf_data(&want), vn) == 0;
  buf_free(&want);
  buf_free(&plain);
  if (ok)
    return reply_text(r->rp, 200, "authorized\n");
  buf_puts(&r->rp->xhdr, "WWW-Authenticate: Basic realm=\"faultsrv\"\r\n");
  return reply_text(r->rp, 401, "unauthorized\n");
}

static int h_status(struct route *r, int arg) {
  (void)arg;
  uint64_t code;
  if (!arg_u64(r, 100, 999, &code))
    return bad(r);
  char text[32];
  snprintf(text, sizeof text, "status %d\n", (int)code);
  return reply_text(r->rp, (int)code, text);
}

/* ASCII lower case: header names compare case-insensitively in ASCII
 * only (RFC 9110 5.1).  A bare "| 0x20" would also fold '^' into '~'
 * and '@' into '`'. */
static char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int same_name(const struct http_header *a, const struct http_header *b) {
  if (a->nlen != b->nlen)
    return 0;
  for (size_t i = 0; i < a->nlen; i++)
    if (ascii_lower(a->name[i]) != ascii_lower(b->name[i]))
      return 0;
  return 1;
}

/* Writes the headers as one JSON object: names in lower case, repeated
 * headers joined with ", " under the first one's position.  O(n^2) in the
 * number of headers, which FS_HEADERS_MAX bounds. */
static void echo_headers(const struct http_req *rq, struct buf *m) {
  struct buf joined = {0};
  buf_puts(m, "{");
  for (size_t i = 0; i < rq->nheaders; i++) {
    const struct http_header *h = &rq->headers[i];
    size_t j = 0;
    while (j < i && !same_name(&rq->headers[j], h))
      j++;
    if (j < i)
      continue; /* already written with the first of its name */
    joined.off = joined.len = 0;
    for (size_t k = i; k < rq->nheaders; k++) {
      if (!same_name(&rq->headers[k], h))
        continue;
      if (k > i)
        buf_append(&joined, ", ", 2);
      buf_append(&joined, rq->headers[k].value, rq->headers[k].vlen);
    }
    buf_puts(m, i ? "," : "");
    size_t at = m->len;
    buf_append_json(m, h->name, h->nlen);
    for (size_t k = at; !m->oom && k < m->len; k++)
      if (m->p[k] >= 'A' && m->p[k] <= 'Z')
        m->p[k] = (char)(m->p[k] + 32);
    buf_puts(m, ":");
    buf_append_json(m, buf_data(&joined), buf_size(&joined));
    m->oom |= joined.oom;
  }
  buf_puts(m, "}");
  buf_free(&joined);
}

static int h_echo(struct route *r, int arg) {
  (void)arg;
  const struct http_req *rq = r->rq;
  struct reply *rp = r->rp;
  struct buf *m = &rp->mem;
  m->off = m->len = 0;
  buf_puts(m, "{\"method\":");
  buf_append_json(m, rq->method, rq->mlen);
  buf_puts(m, ",\"path\":");
  buf_append_json(m, rq->path, rq->plen);
  buf_puts(m, ",\"target\":");
  buf_append_json(m, rq->target, rq->tlen);
  buf_puts(m, ",\"query\":");
  buf_append_json(m, rq->query ? rq->query : "", rq->qlen);
  buf_puts(m, ",\"headers\":");
  echo_headers(rq, m);
  buf_puts(m, ",\"body\":");
  buf_append_json(m, rq->body ? rq->body : "", rq->body_len);
  buf_printf(m, ",\"body_length\":%zu}\n", rq->body_len);
  return reply_mem(rp, 200, "application/json");
}

static int h_stats(struct route *r, int arg) {
  (void)arg;
  const char *save = r->cur, *s;
  size_t n;
  if (seg_next(r, &s, &n) && n == 5 && memcmp(s, "reset", 5) == 0)
    stats_reset(&r->srv->stats);
  else
    r->cur = save;
  struct reply *rp = r->rp;
  rp->mem.off = rp->mem.len = 0;
  stats_json(&r->srv->stats, &rp->mem);
  return reply_mem(rp, 200, "application/json");
}

/* ---- redirects ------------------------------------------------------------
 */

/* Finishes a redirect whose "Location: ..." is already in xhdr. */
static int redirect_done(struct route *r) {
  const char *v;
  size_t n;
  uint64_t code = 302;
  if (http_query_get(r->rq, "status", &v, &n) &&
      (!http_parse_u64(v, n, 399, &code) || code < 300))
    code = 302;
  buf_puts(&r->rp->xhdr, "\r\n");
  return reply_text(r->rp, (int)code, "redirect\n");
}

static void append_query(struct route *r) {
  if (r->rq->query) {
    buf_append(&r->rp->xhdr, "?", 1);
    buf_append(&r->rp->xhdr, r->rq->query, r->rq->qlen);
  }
}

static int h_redirect(struct route *r, int arg) {
  (void)arg;
  const char *at = r->seg_at;
  uint64_t n;
  if (!arg_u64(r, 0, COUNT_MAX, &n))
    return bad(r);
  if (n == 0)
    return R_NEXT;
  struct buf *x = &r->rp->xhdr;
  buf_puts(x, "Location: ");
  buf_append(x, r->rq->path, (size_t)(at - r->rq->path));
  buf_printf(x, "/redirect/%" PRIu64, n - 1);
  buf_append(x, r->cur, (size_t)(r->end - r->cur));
  append_query(r);
  return redirect_done(r);
}

static int h_redirect_loop(struct route *r, int arg) {
  (void)arg;
  buf_puts(&r->rp->xhdr, "Location: ");
  buf_append(&r->rp->xhdr, r->rq->path, r->rq->plen);
  append_query(r);
  return redirect_done(r);
}

static int h_redirect_to(struct route *r, int arg) {
  (void)arg;
  const char *v;
  size_t n;
  if (!http_query_get(r->rq, "url", &v, &n) || n == 0)
    return bad(r);
  size_t mark = r->rp->xhdr.len;
  buf_puts(&r->rp->xhdr, "Location: ");
  if (!append_decoded(&r->rp->xhdr, v, n)) {
    r->rp->xhdr.len = mark;
    return bad(r);
  }
  return redirect_done(r);
}

/* ---- modifiers ------------------------------------------------------------
 */

static int h_delay(struct route *r, int arg) {
  (void)arg;
  uint64_t ms;
  if (!arg_u64(r, 0, DELAY_MAX, &ms))
    return bad(r);
  r->rp->delay_ms += ms;
  if (r->rp->delay_ms > DELAY_MAX)
    r->rp->delay_ms = DELAY_MAX;
  return R_NEXT;
}

/* /reset/N, /truncate/N, /stall/N: arg is the fault.  The last one wins. */
static int h_fault(struct route *r, int arg) {
  uint64_t n;
  if (!arg_u64(r, 0, BYTES_MAX, &n))
    return bad(r);
  r->rp->fault = (enum reply_fault)arg;
  r->rp->fault_at = n;
  return R_NEXT;
}

static int h_slow(struct route *r, int arg) {
  (void)arg;
  return arg_u64(r, 1, BYTES_MAX, &r->rp->bps) ? R_NEXT : bad(r);
}

static int h_chunked(struct route *r, int arg) {
  (void)arg;
  return arg_u64(r, 1, 1u << 30, &r->rp->chunk_max) ? R_NEXT : bad(r);
}

static int h_header(struct route *r, int arg) {
  (void)arg;
  const char *name, *value;
  size_t nn, vn;
  struct buf *x = &r->rp->xhdr;
  size_t mark = x->len;
  if (!seg_next(r, &name, &nn) || !seg_next(r, &value, &vn) ||
      !append_decoded(x, name, nn))
    return bad(r);
  if (!x->oom && !http_is_token(x->p + mark, x->len - mark)) {
    x->len = mark;
    return bad(r);
  }
  if (!x->oom && http_equal_nocase(x->p + mark, x->len - mark, "content-type"))
    r->own_ctype = 1;
  buf_puts(x, ": ");
  if (!append_decoded(x, value, vn)) {
    x->len = mark;
    return bad(r);
  }
  buf_puts(x, "\r\n");
  return R_NEXT;
}

/* /flaky/KEY/K/CODE: the first K requests for KEY answer CODE. */
static int h_flaky(struct route *r, int arg) {
  (void)arg;
  char key[FS_KEY_MAX];
  long kn = arg_key(r, key);
  uint64_t k, code;
  if (kn < 0 || !arg_u64(r, 0, COUNT_MAX, &k) || !arg_u64(r, 100, 999, &code))
    return bad(r);
  uint64_t seen = stats_table_bump(&r->srv->stats.flaky, key, (size_t)kn);
  if (seen == 0)
    return reply_text(r->rp, 500, "out of memory\n");
  return seen <= k ? reply_text(r->rp, (int)code, "flaky\n") : R_NEXT;
}

static enum reply_fault fault_named(const char *s, size_t n);

/* /faulty/KEY/K/FAULT/N: the first K requests for KEY get FAULT (reset,
 * truncate or stall) after N body bytes; later ones are served clean.
 * Counts share the /flaky table under the key "faulty:KEY". */
static int h_faulty(struct route *r, int arg) {
  (void)arg;
  char key[FS_KEY_MAX + 8];
  memcpy(key, "faulty:", 7);
  long kn = arg_key(r, key + 7);
  const char *f;
  size_t fn;
  uint64_t k, n;
  if (kn < 0 || !arg_u64(r, 0, COUNT_MAX, &k) || !seg_next(r, &f, &fn) ||
      !arg_u64(r, 0, BYTES_MAX, &n))
    return bad(r);
  enum reply_fault fault = fault_named(f, fn);
  if (fault == FAULT_NONE)
    return bad(r);
  uint64_t seen = stats_table_bump(&r->srv->stats.flaky, key, (size_t)kn + 7);
  if (seen == 0)
    return reply_text(r->rp, 500, "out of memory\n");
  if (seen <= k) {
    r->rp->fault = fault;
    r->rp->fault_at = n;
  }
  return R_NEXT;
}

/* /retry-after{,-date}/KEY/K/SECS: arg says whether to send a date. */
static int h_retry(struct route *r, int arg) {
  char key[FS_KEY_MAX];
  long kn = arg_key(r, key);
  uint64_t k, secs;
  if (kn < 0 || !arg_u64(r, 0, COUNT_MAX, &k) ||
      !arg_u64(r, 0, UINT64_C(100000000), &secs))
    return bad(r);
  uint64_t seen = stats_table_bump(&r->srv->stats.retry, key, (size_t)kn);
  if (seen == 0)
    return reply_text(r->rp, 500, "out of memory\n");
  if (seen > k)
    return R_NEXT;
  if (arg) {
    char date[64];
    http_imf_date(time(NULL) + (time_t)secs, date);
    buf_printf(&r->rp->xhdr, "Retry-After: %s\r\n", date);
  } else {
    buf_printf(&r->rp->xhdr, "Retry-After: %" PRIu64 "\r\n", secs);
  }
  return reply_text(r->rp, 429, "retry later\n");
}

/* ---- the walk -------------------------------------------------------------
 */

struct handler {
  const char *name;
  int (*fn)(struct route *r, int arg);
  int arg;
};

/* sorted by name (strcmp) for bsearch */
static const struct handler handlers[] = {
    {"basic-auth", h_basic_auth, 0},
    {"bytes", h_bytes, 0},
    {"chunked", h_chunked, 0},
    {"delay", h_delay, 0},
    {"echo", h_echo, 0},
    {"faulty", h_faulty, 0},
    {"flaky", h_flaky, 0},
    {"header", h_header, 0},
    {"redirect", h_redirect, 0},
    {"redirect-loop", h_redirect_loop, 0},
    {"redirect-to", h_redirect_to, 0},
    {"reset", h_fault, FAULT_RESET},
    {"retry-after", h_retry, 0},
    {"retry-after-date", h_retry, 1},
    {"slow", h_slow, 0},
    {"stall", h_fault, FAULT_STALL},
    {"stats", h_stats, 0},
    {"status", h_status, 0},
    {"truncate", h_fault, FAULT_TRUNCATE},
};

struct seg_key {
  const char *s;
  size_t n;
};

static int handler_cmp(const void *key, const void *elem) {
  const struct seg_key *k = key;
  const char *name = ((const struct handler *)elem)->name;
  size_t nl = strlen(name);
  int c = memcmp(k->s, name, k->n < nl ? k->n : nl);
  if (c)
    return c;
  return k->n < nl ? -1 : k->n > nl;
}

static const struct handler *handler_find(const char *s, size_t n) {
  struct seg_key k = {s, n};
  return bsearch(&k, handlers, sizeof handlers / sizeof handlers[0],
                 sizeof handlers[0], handler_cmp);
}

/* The fault a /reset, /truncate or /stall segment names, else FAULT_NONE
 * (for /faulty, which takes the same names). */
static enum reply_fault fault_named(const char *s, size_t n) {
  const struct handler *h = handler_find(s, n);
  return h && h->fn == h_fault ? (enum reply_fault)h->arg : FAULT_NONE;
}

static void route_walk(struct route *r) {
  int modifiers = 0;
  const char *s;
  size_t n;
  while (seg_next(r, &s, &n)) {
    const struct handler *h = handler_find(s, n);
    if (!h) {
      reply_text(r->rp, 404, "not found\n");
      return;
    }
    if (h->fn(r, h->arg) == R_DONE)
      return;
    modifiers++;
  }
  if (modifiers)
    reply_text(r->rp, 200, "ok\n");
  else
    reply_text(r->rp, 404, "not found\n");
}

void route_request(struct fs_server *srv, const struct http_req *rq,
                   struct reply *rp) {
  srv->stats.requests++;
  struct route r = {.srv = srv,
                    .rq = rq,
                    .rp = rp,
                    .cur = rq->path,
                    .end = rq->path + rq->plen};
  rp->head_only = rq->head;
  rp->close = !rq->keep_alive;
  rp->keep_alive_hdr = rq->keep_alive && rq->minor == 0;
  route_walk(&r);
  if (r.own_ctype)
    rp->ctype = NULL;
  if (rp->xhdr.oom || rp->mem.oom) {
    int head_only = rp->head_only, close = rp->close;
    route_reply_clear(rp);
    rp->head_only = head_only;
    rp->close = close;
    reply_text(rp, 500, "out of memory\n");
  }
}

void route_error(struct reply *rp, int status) {
  char text[80];
  snprintf(text, sizeof text, "%d %s\n", status, http_reason(status));
  reply_text(rp, status, text);
  rp->close = 1;
}

void route_reply_clear(struct reply *rp) {
  struct buf xhdr = rp->xhdr, mem = rp->mem;
  buf_clear(&xhdr, 4096);
  buf_clear(&mem, 65536);
  memset(rp, 0, sizeof *rp);
  rp->xhdr = xhdr;
  rp->mem = mem;
}

void route_reply_free(struct reply *rp) {
  buf_free(&rp->xhdr);
  buf_free(&rp->mem);
}

void route_body_copy(const struct reply *rp, uint64_t pos, char *dst,
                     size_t n) {
  if (rp->body == BODY_MEM) {
    memcpy(dst, buf_data(&rp->mem) + pos, n);
    return;
  }
  uint64_t i = rp->first + pos;
  for (size_t k = 0; k < n; k++, i++)
    dst[k] = (char)(uint8_t)((i * 31 + 7) ^ (i >> 8));
}
