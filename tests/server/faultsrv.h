/*
 * faultsrv.h - declarations shared by the fault-injecting test server.
 *
 * Object map
 *   fs_server   the one ev loop, the listening socket, the list of open
 *               connections, the counters, the optional log.  main.c owns
 *               it; every other file gets it through a pointer.
 *   conn        one accepted socket: input and output buffers, the reply
 *               being sent, one read watcher, one write watcher and one
 *               timer (delay, pacing, reset wait, lingering close).
 *               Opaque outside conn.c.
 *   http_req    a parsed request head.  Its pointers point into the
 *               connection's input buffer, which does not move while the
 *               request is being answered.
 *   reply       what route.c decided: status, headers, body source,
 *               framing, and the faults to inject while sending.
 *
 * Everything runs on the one thread that runs the loop; nothing locks.
 */
#ifndef FAULTSRV_H
#define FAULTSRV_H

#include <ev.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define FS_HEAD_MAX (64u * 1024u)   /* request line + headers, else 431 */
#define FS_BODY_MAX (1024u * 1024u) /* request body, else 413 */
#define FS_HEADERS_MAX 128u         /* header lines, else 431 */
#define FS_KEY_MAX 256u             /* flaky / retry-after key bytes */

/* ---- buf.c: growable byte buffer with a sticky allocation error -------- */

/* Bytes live in p[off, len).  After an allocation failure `oom` is set and
 * every later append does nothing, so a builder checks once at the end. */
struct buf {
  char *p;
  size_t off, len, cap;
  int oom;
};

/* Makes room for `extra` more bytes after len, first sliding the live
 * bytes to the front.  Returns 0, or -1 (and sets oom).  O(len) at worst. */
int buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s[0, n) as a JSON string with its quotes.  Valid UTF-8 passes
 * through; any other byte >= 0x80 becomes \u00XX. */
void buf_append_json(struct buf *b, const char *s, size_t n);
/* Drops n bytes from the front; an emptied buffer rewinds to offset 0. */
void buf_consume(struct buf *b, size_t n);
/* Empties b and frees its memory when it grew past `keep` bytes. */
void buf_clear(struct buf *b, size_t keep);
void buf_free(struct buf *b);

static inline size_t buf_size(const struct buf *b) { return b->len - b->off; }
/* The live bytes, owned by b and valid until it next grows; never NULL,
 * even before the first allocation. */
static inline char *buf_data(const struct buf *b) {
  static char empty[1];
  return b->p ? b->p + b->off : empty;
}

/* ---- stats.c: request counter and per-key counters -------------------- */

struct stats_slot;
struct stats_table {
  struct stats_slot *slots; /* open addressing, linear probing */
  size_t cap, used;         /* cap is 0 or a power of two */
};

struct stats {
  uint64_t requests;        /* every request answered, errors too */
  uint64_t accepted, open;  /* connections */
  struct stats_table flaky; /* /flaky/KEY/... */
  struct stats_table retry; /* /retry-after{,-date}/KEY/... */
};

/* Counts one more request for key[0, n) and returns the new count, or 0
 * when memory ran out.  Amortised O(1). */
uint64_t stats_table_bump(struct stats_table *t, const char *key, size_t n);
/* Zeroes the request and accepted-connection totals and forgets every
 * key. */
void stats_reset(struct stats *s);
/* Appends {"requests":..,"connections":{..},"flaky":{..},"retry_after":{..}}
 * to out.  O(keys). */
void stats_json(const struct stats *s, struct buf *out);
void stats_free(struct stats *s);

/* ---- the server (main.c) ----------------------------------------------- */

struct conn;

struct fs_server {
  struct ev_loop *loop;
  int lfd;
  ev_io accept_w;
  ev_timer accept_retry; /* re-arms accept after EMFILE */
  ev_signal sig_term, sig_int;
  struct conn *conns; /* doubly linked list of open connections */
  uint64_t next_id;
  struct stats stats;
  FILE *log; /* one line per request, or NULL */
};

/* ---- conn.c ----------------------------------------------------------- */

/* Takes ownership of the non-blocking socket fd.  Returns 0, or -1 when
 * memory ran out (fd is then still the caller's). */
int conn_accept(struct fs_server *srv, int fd);
/* Closes every connection at once (shutdown). */
void conn_destroy_all(struct fs_server *srv);

/* ---- http.c: request parsing and small HTTP helpers ------------------- */

struct http_header {
  const char *name, *value;
  size_t nlen, vlen;
};

struct http_req {
  const char *method, *target, *path, *query;
  size_t mlen, tlen, plen, qlen; /* query is NULL when there is no '?' */
  int minor;                     /* HTTP/1.minor */
  int keep_alive, head, has_te, has_cl;
  uint64_t content_length;
  const char *expect; /* value of Expect, or NULL */
  size_t expect_len;
  const char *body; /* set by conn.c once the body is in */
  size_t body_len;
  size_t nheaders;
  struct http_header headers[FS_HEADERS_MAX];
};

/* Looks for the blank line that ends a head in p[0, len), resuming at
 * *scan (0 at first) so that a head arriving byte by byte costs O(len) in
 * all.  Returns 1 and sets *head_len (through the blank line), or 0. */
int http_find_head_end(const char *p, size_t len, size_t *scan,
                       size_t *head_len);
/* Parses a complete head.  Returns 0, or the status to answer with (400,
 * 431, 505) before closing. */
int http_parse_head(const char *p, size_t len, struct http_req *rq);
/* The first header named `name` (case-insensitive), or NULL.  The result
 * belongs to rq and lives as long as it does.  O(headers). */
const struct http_header *http_header_get(const struct http_req *rq,
                                          const char *name);
/* Finds parameter `name` in the raw query; sets *v and *vlen to its raw value
 * (empty when there is no '=').  Returns 1 if found. */
int http_query_get(const struct http_req *rq, const char *name, const char **v,
                   size_t *vlen);
/* Decodes %XX escapes of s[0, n) into out (room for n bytes).  Returns the
 * decoded length, or -1 on a broken escape. */
long http_pct_decode(const char *s, size_t n, char *out);
/* Strict decimal: digits only, no sign, value <= max.  Returns 1 if ok. */
int http_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out);

enum { HTTP_RANGE_NONE, HTTP_RANGE_OK, HTTP_RANGE_BAD };
/* Parses one Range value against a body of `size` bytes.  NONE: ignore it
 * (absent, several ranges, not bytes, malformed); OK: serve [*first,
 * *last]; BAD: answer 416. */
int http_range_parse(const char *v, size_t n, uint64_t size, uint64_t *first,
                     uint64_t *last);
/* Formats t as an RFC 7231 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"). */
void http_imf_date(time_t t, char out[64]);
/* The reason phrase for a status code (never NULL). */
const char *http_reason(int status);
/* 1 if a response with this status carries no body (1xx, 204, 304). */
int http_status_bodyless(int status);
/* 1 if s[0, n) is a non-empty RFC 7230 token. */
int http_is_token(const char *s, size_t n);
/* 1 if s[0, n) holds a control byte other than HTAB (none may stand in a
 * header value). */
int http_has_ctl(const char *s, size_t n);
/* Drops the spaces and tabs around s[0, n) (optional whitespace). */
void http_trim_ows(const char **s, size_t *n);
int http_equal_nocase(const char *a, size_t an, const char *b);

/* ---- route.c: what to answer ------------------------------------------ */

enum reply_fault { FAULT_NONE, FAULT_RESET, FAULT_TRUNCATE, FAULT_STALL };
enum reply_body { BODY_MEM, BODY_BYTES };

struct reply {
  int status;
  const char *ctype; /* NULL: no Content-Type */
  struct buf xhdr;   /* further header lines, each ending in CRLF */
  enum reply_body body;
  struct buf mem;       /* BODY_MEM */
  uint64_t first, blen; /* BODY_BYTES: index of byte 0, body length */
  uint64_t delay_ms;
  uint64_t bps;       /* 0: not paced */
  uint64_t chunk_max; /* 0: Content-Length framing */
  enum reply_fault fault;
  uint64_t fault_at;  /* body bytes sent before the fault */
  int head_only;      /* HEAD: headers only */
  int close;          /* Connection: close, then close */
  int keep_alive_hdr; /* HTTP/1.0 keep-alive: say so */
};

/* Fills rp (already cleared) with the answer to rq.  Bumps the counters in
 * srv.  Never fails: running out of memory gives a 500. */
void route_request(struct fs_server *srv, const struct http_req *rq,
                   struct reply *rp);
/* Fills rp with a plain error answer that closes the connection. */
void route_error(struct reply *rp, int status);
/* Resets rp for the next request, keeping small buffers. */
void route_reply_clear(struct reply *rp);
void route_reply_free(struct reply *rp);
/* Writes body bytes [pos, pos + n) of rp into dst. */
void route_body_copy(const struct reply *rp, uint64_t pos, char *dst, size_t n);

#endif
