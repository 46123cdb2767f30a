/*
 * conn.c - one client connection: read requests, send replies, inject
 * faults.
 *
 * States (c->st) and the watchers active in each:
 *   READ    waiting for the rest of a request          rio (unless EOF)
 *   DELAY   /delay: a timer runs before the reply      tm
 *   SEND    headers and body are going out             wio when blocked,
 *                                                      tm when paced
 *   STALL   /stall: discard input until the client     rio
 *           goes
 *   LINGER  after shutdown(SHUT_WR): drain input until rio, tm (2 s)
 *           EOF, so that close() sends FIN and not RST
 *   RESET   /reset: waiting for the send queue to      tm (polls)
 *           empty before an RST would discard it
 * One request is answered at a time; pipelined requests wait in the input
 * buffer and input is not read while a reply is out (that is the back
 * pressure).  conn_process() loops over buffered requests, so a burst of
 * pipelined small requests costs no recursion and one read per burst.
 *
 * Sending: the header block and as much body as fits in SEND_CHUNK go into
 * c->out, which is written at once, so a small reply is one send().  The
 * body is produced on demand (route_body_copy), so /bytes/N costs no
 * memory for any N.  Pacing (/slow) computes an allowance from the time
 * since the headers went out, and sleeps on the timer when it is used up.
 * A fault fires once the body has reached fault_at bytes and c->out is
 * empty.  An RST (SO_LINGER 0) would discard bytes still in the kernel's
 * send queue, so /reset polls SIOCOUTQ until it is empty (or 5 s pass).
 *
 * Lifetime: conn_destroy() frees at once.  Every function that may call
 * it returns 0 ("stop, c may be gone") or 1 ("c is alive, carry on"), and
 * callers stop touching c on 0.
 */
#include "faultsrv.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_MAX (FS_HEAD_MAX + FS_BODY_MAX + 4096u)
#define SEND_CHUNK (64u * 1024u) /* body bytes queued per fill */
#define SEND_LOW (16u * 1024u)   /* refill below this many pending */
#define LINGER_SECS 2.0
#define RESET_WAIT_SECS 5.0
#define PACE_MIN_SECS 0.01

enum conn_state { CS_READ, CS_DELAY, CS_SEND, CS_STALL, CS_LINGER, CS_RESET };

struct conn {
  struct fs_server *srv;
  struct conn *prev, *next;
  uint64_t id;
  int fd;
  enum conn_state st;
  int eof;       /* the client shut its side */
  int continued; /* sent "100 Continue" for this request */
  ev_io rio, wio;
  ev_timer tm;
  struct buf in, out;
  size_t scan;      /* head-end search resumes here (relative to in.off) */
  size_t head_len;  /* of the current request, 0 until complete */
  uint64_t req_len; /* head + body of the current request */
  struct reply rp;
  uint64_t sent;  /* body bytes queued so far */
  uint64_t limit; /* body bytes to send: all, or up to the fault */
  uint64_t total; /* body bytes the headers announce */
  int trailer;    /* the last chunk is (to be) queued */
  ev_tstamp t0;   /* when the headers went out: pacing, reset wait */
};

static void conn_process(struct conn *c);

static void conn_destroy(struct conn *c) {
  struct fs_server *srv = c->srv;
  ev_io_stop(srv->loop, &c->rio);
  ev_io_stop(srv->loop, &c->wio);
  ev_timer_stop(srv->loop, &c->tm);
  if (c->fd >= 0)
    close(c->fd);
  buf_free(&c->in);
  buf_free(&c->out);
  route_reply_free(&c->rp);
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  srv->stats.open--;
  free(c);
}

void conn_destroy_all(struct fs_server *srv) {
  while (srv->conns)
    conn_destroy(srv->conns);
}

static void conn_reading(struct conn *c, int on) {
  if (on && !c->eof)
    ev_io_start(c->srv->loop, &c->rio);
  else
    ev_io_stop(c->srv->loop, &c->rio);
}

static void conn_timer(struct conn *c, ev_tstamp after) {
  ev_timer_stop(c->srv->loop, &c->tm);
  ev_timer_set(&c->tm, after, 0.);
  ev_timer_start(c->srv->loop, &c->tm);
}

/* Half-closes, then drains input until EOF or LINGER_SECS. */
static int conn_linger(struct conn *c) {
  if (c->eof) {
    conn_destroy(c);
    return 0;
  }
  shutdown(c->fd, SHUT_WR);
  c->st = CS_LINGER;
  ev_io_stop(c->srv->loop, &c->wio);
  conn_reading(c, 1);
  conn_timer(c, LINGER_SECS);
  return 0;
}

static void conn_rst(struct conn *c) {
  struct linger lg = {1, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  conn_destroy(c);
}

/* Sends the RST once the kernel has sent what we wrote, polling. */
static int conn_reset_poll(struct conn *c) {
  int queued = 0;
  if (ioctl(c->fd, SIOCOUTQ, &queued) != 0 || queued <= 0 ||
      ev_now(c->srv->loop) - c->t0 > RESET_WAIT_SECS) {
    conn_rst(c);
    return 0;
  }
  c->st = CS_RESET;
  conn_timer(c, 0.002);
  return 0;
}

/* The body reached its limit and c->out is empty: the fault, if any. */
static int conn_after_body(struct conn *c) {
  switch (c->rp.fault) {
  case FAULT_RESET: c->t0 = ev_now(c->srv->loop); return conn_reset_poll(c);
  case FAULT_TRUNCATE: return conn_linger(c);
  case FAULT_STALL:
    c->st = CS_STALL;
    conn_reading(c, 1);
    return 0;
  default: return 1;
  }
}

/* ---- filling c->out -------------------------------------------------- */

static void conn_render_head(struct conn *c) {
  struct reply *rp = &c->rp;
  struct buf *o = &c->out;
  int bodyless = http_status_bodyless(rp->status);
  buf_printf(o, "HTTP/1.1 %d %s\r\n", rp->status, http_reason(rp->status));
  if (rp->ctype && !bodyless)
    buf_printf(o, "Content-Type: %s\r\n", rp->ctype);
  if (!bodyless && rp->chunk_max)
    buf_puts(o, "Transfer-Encoding: chunked\r\n");
  else if (!bodyless)
    buf_printf(o, "Content-Length: %" PRIu64 "\r\n", rp->blen);
  buf_append(o, buf_data(&rp->xhdr), buf_size(&rp->xhdr));
  if (rp->close)
    buf_puts(o, "Connection: close\r\n");
  else if (rp->keep_alive_hdr)
    buf_puts(o, "Connection: keep-alive\r\n");
  buf_puts(o, "\r\n");
  c->total = bodyless ? 0 : rp->blen;
  c->limit = rp->head_only ? 0 : c->total;
  if (rp->fault != FAULT_NONE && rp->fault_at < c->limit)
    c->limit = rp->fault_at;
  c->sent = 0;
  c->trailer = !rp->chunk_max || rp->head_only || bodyless;
  c->t0 = ev_now(c->srv->loop);
}

/* How many body bytes /slow allows now (all of them when not paced). */
static uint64_t conn_allowance(const struct conn *c) {
  if (!c->rp.bps)
    return UINT64_MAX;
  double el = ev_now(c->srv->loop) - c->t0;
  double ok = el * (double)c->rp.bps;
  if (ok >= 1.8e19)
    return UINT64_MAX;
  uint64_t allowed = (uint64_t)ok;
  return allowed > c->sent ? allowed - c->sent : 0;
}

static void conn_fill_chunked(struct conn *c, uint64_t want) {
  struct buf *o = &c->out;
  while (want > 0 && !o->oom) {
    size_t n = (size_t)(want < c->rp.chunk_max ? want : c->rp.chunk_max);
    if (buf_size(o) > 0 && buf_size(o) + n > SEND_CHUNK)
      break;
    buf_printf(o, "%zx\r\n", n);
    if (buf_reserve(o, n + 2) != 0)
      break;
    route_body_copy(&c->rp, c->sent, o->p + o->len, n);
    o->len += n;
    buf_append(o, "\r\n", 2);
    c->sent += n;
    want -= n;
  }
}

/* Queues more body when c->out runs low.  Returns -1 when out of memory. */
static int conn_fill(struct conn *c) {
  struct buf *o = &c->out;
  if (c->sent < c->limit && buf_size(o) < SEND_LOW) {
    uint64_t want = c->limit - c->sent, allow = conn_allowance(c);
    if (want > allow)
      want = allow;
    if (want > SEND_CHUNK)
      want = SEND_CHUNK;
    if (c->rp.chunk_max) {
      conn_fill_chunked(c, want);
    } else if (want > 0 && buf_reserve(o, (size_t)want) == 0) {
      route_body_copy(&c->rp, c->sent, o->p + o->len, (size_t)want);
      o->len += (size_t)want;
      c->sent += want;
    }
  }
  if (!c->trailer && c->sent == c->total) {
    buf_puts(o, "0\r\n\r\n");
    c->trailer = 1;
  }
  return o->oom ? -1 : 0;
}

/* ---- sending ------------------------------------------------------------ */

/* Writes what it can.  Returns 1 when the reply is complete, else 0 (c is
 * waiting for the socket or a timer, or it is gone). */
static int conn_send(struct conn *c) {
  struct ev_loop *loop = c->srv->loop;
  for (;;) {
    if (conn_fill(c) != 0) {
      conn_destroy(c);
      return 0;
    }
    size_t pend = buf_size(&c->out);
    if (pend) {
      ssize_t n = send(c->fd, buf_data(&c->out), pend, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        conn_destroy(c);
        return 0;
      }
      if (n > 0)
        buf_consume(&c->out, (size_t)n);
      if (n < 0 || (size_t)n < pend) {
        ev_io_start(loop, &c->wio);
        return 0;
      }
      continue;
    }
    ev_io_stop(loop, &c->wio);
    if (c->sent < c->limit) { /* paced: sleep until the next byte is due */
      double due = (double)(c->sent + 1) / (double)c->rp.bps;
      double wait = due - (ev_now(loop) - c->t0);
      conn_timer(c, wait > PACE_MIN_SECS ? wait : PACE_MIN_SECS);
      return 0;
    }
    return conn_after_body(c);
  }
}

static void conn_log(struct conn *c, const struct http_req *rq) {
  FILE *log = c->srv->log;
  if (!log)
    return;
  if (rq)
    fprintf(log, "%" PRIu64 " %.*s %.*s %d\n", c->id, (int)rq->mlen, rq->method,
            (int)rq->tlen, rq->target, c->rp.status);
  else
    fprintf(log, "%" PRIu64 " - - %d\n", c->id, c->rp.status);
}

/* Starts the planned reply: now, or after its delay. */
static void conn_begin(struct conn *c, const struct http_req *rq) {
  conn_log(c, rq);
  conn_reading(c, 0);
  if (c->rp.delay_ms) {
    c->st = CS_DELAY;
    conn_timer(c, (double)c->rp.delay_ms / 1000.0);
    return;
  }
  c->st = CS_SEND;
  conn_render_head(c);
}

/* Answers with an error status, then closes. */
static void conn_error(struct conn *c, int status) {
  c->srv->stats.requests++;
  route_reply_clear(&c->rp);
  route_error(&c->rp, status);
  conn_begin(c, NULL);
}

/* The reply went out: forget the request, get ready for the next.
 * Returns 1 if c stays open and reads again. */
static int conn_finish(struct conn *c) {
  int close = c->rp.close;
  buf_consume(&c->in, (size_t)c->req_len);
  c->req_len = c->head_len = c->scan = 0;
  c->continued = 0;
  route_reply_clear(&c->rp);
  if (buf_size(&c->in) == 0)
    buf_clear(&c->in, 65536); /* give back what a big body took */
  buf_clear(&c->out, 256 * 1024);
  if (close)
    return conn_linger(c);
  c->st = CS_READ;
  conn_reading(c, 1);
  return 1;
}

/* Best-effort write of c->out outside a reply (the 100 Continue). */
static void conn_flush(struct conn *c) {
  size_t pend = buf_size(&c->out);
  ssize_t n = pend ? send(c->fd, buf_data(&c->out), pend, MSG_NOSIGNAL) : 0;
  if (n > 0)
    buf_consume(&c->out, (size_t)n);
  if (buf_size(&c->out) == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
    ev_io_stop(c->srv->loop, &c->wio); /* errors show up on the next read */
  else
    ev_io_start(c->srv->loop, &c->wio);
}

/* The head is in but not the whole body: answer Expect: 100-continue. */
static void conn_continue(struct conn *c, const struct http_req *rq) {
  if (!rq->expect || c->continued || rq->minor < 1)
    return;
  c->continued = 1;
  buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
  conn_flush(c);
}

/* Finds the end of the head; skips empty lines before a request line
 * (RFC 7230 3.5).  Returns 1 when the head is complete. */
static int conn_head(struct conn *c) {
  while (buf_size(&c->in) > 0 && c->scan == 0 &&
         (buf_data(&c->in)[0] == '\r' || buf_data(&c->in)[0] == '\n'))
    buf_consume(&c->in, 1);
  size_t hl;
  if (!http_find_head_end(buf_data(&c->in), buf_size(&c->in), &c->scan, &hl))
    return 0;
  c->head_len = hl;
  return 1;
}

/* Parses the request waiting in c->in, if it is all there, and starts its
 * reply.  Returns 1 when a reply was started, 0 when input is missing. */
static int conn_next_request(struct conn *c) {
  if (!c->head_len && !conn_head(c)) {
    if (buf_size(&c->in) < FS_HEAD_MAX)
      return 0;
    conn_error(c, 431);
    return 1;
  }
  struct http_req rq;
  const char *p = buf_data(&c->in);
  int st =
      c->head_len > FS_HEAD_MAX ? 431 : http_parse_head(p, c->head_len, &rq);
  if (!st && rq.has_te)
    st = 501; /* chunked request bodies are not supported */
  if (!st && rq.content_length > FS_BODY_MAX)
    st = 413;
  if (!st && rq.expect &&
      !http_equal_nocase(rq.expect, rq.expect_len, "100-continue"))
    st = 417;
  if (st) {
    conn_error(c, st);
    return 1;
  }
  c->req_len = c->head_len + rq.content_length;
  if (buf_size(&c->in) < c->req_len) {
    conn_continue(c, &rq);
    return 0;
  }
  rq.body = p + c->head_len;
  rq.body_len = (size_t)rq.content_length;
  route_request(c->srv, &rq, &c->rp);
  conn_begin(c, &rq);
  return 1;
}

/* Answers buffered requests one after another while replies complete
 * at once; stops when one has to wait, or input runs out. */
static void conn_process(struct conn *c) {
  while (c->st == CS_READ) {
    if (!conn_next_request(c)) {
      if (c->eof)
        conn_destroy(c);
      return;
    }
    if (c->st != CS_SEND || !conn_send(c) || !conn_finish(c))
      return;
  }
}

/* ---- watchers ------------------------------------------------------------ */

/* Reads what is there into c->in.  Returns 0 if c is gone. */
static int conn_read(struct conn *c) {
  struct buf *in = &c->in;
  for (;;) {
    if (in->cap - in->len < 2048 && buf_size(in) < IN_MAX &&
        buf_reserve(in, 4096) != 0) {
      conn_destroy(c);
      return 0;
    }
    size_t room = in->cap - in->len;
    if (room > IN_MAX - buf_size(in))
      room = IN_MAX - buf_size(in);
    if (room == 0)
      return 1;
    ssize_t n = recv(c->fd, in->p + in->len, room, 0);
    if (n > 0) {
      in->len += (size_t)n;
      if ((size_t)n < room)
        return 1;
    } else if (n == 0) {
      c->eof = 1;
      conn_reading(c, 0);
      return 1;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return 1;
    } else if (errno != EINTR) {
      conn_destroy(c);
      return 0;
    }
  }
}

/* STALL and LINGER: throw input away; the client leaving ends c. */
static void conn_drain(struct conn *c) {
  char tmp[16384];
  for (int i = 0; i < 16; i++) {
    ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
    if (n > 0 || (n < 0 && errno == EINTR))
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    conn_destroy(c);
    return;
  }
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents) {
  (void)loop;
  (void)revents;
  struct conn *c = w->data;
  if (c->st == CS_STALL || c->st == CS_LINGER)
    conn_drain(c);
  else if (conn_read(c))
    conn_process(c);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents) {
  (void)loop;
  (void)revents;
  struct conn *c = w->data;
  if (c->st != CS_SEND)
    conn_flush(c);
  else if (conn_send(c) && conn_finish(c))
    conn_process(c);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct conn *c = w->data;
  if (c->st == CS_DELAY) {
    c->st = CS_SEND;
    conn_render_head(c);
  }
  if (c->st == CS_SEND) {
    if (conn_send(c) && conn_finish(c))
      conn_process(c);
  } else if (c->st == CS_RESET) {
    conn_reset_poll(c);
  } else if (c->st == CS_LINGER) {
    conn_destroy(c); /* the client never closed */
  }
}

int conn_accept(struct fs_server *srv, int fd) {
  struct conn *c = calloc(1, sizeof *c);
  if (!c)
    return -1;
  c->srv = srv;
  c->fd = fd;
  c->id = ++srv->next_id;
  c->st = CS_READ;
  ev_io_init(&c->rio, on_read, fd, EV_READ);
  ev_io_init(&c->wio, on_write, fd, EV_WRITE);
  ev_timer_init(&c->tm, on_timer, 0., 0.);
  c->rio.data = c->wio.data = c->tm.data = c;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->next = srv->conns;
  if (c->next)
    c->next->prev = c;
  srv->conns = c;
  srv->stats.accepted++;
  srv->stats.open++;
  ev_io_start(srv->loop, &c->rio);
  return 0;
}
