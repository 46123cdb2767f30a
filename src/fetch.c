/*
 * fetch.c - the fetch task: one job, from output file to result.
 * budget: over 800 lines; the split (retry policy, easy-handle cache,
 * spool) is pending (issue 11 item 1).
 *
 * A resumable poll function (RT_BEGIN in rt.h) with these steps:
 *   1. --skip-existing: a final file already there ends the job (skipped);
 *   2. open NAME.part under the output directory (with --continue keeping
 *      what it holds), or spool (memory, then a file), or standard output;
 *      build the easy handle;
 *   3. attempts: take a --per-host slot, then a -j slot (when tasks can
 *      outnumber them), run the transfer on this worker's multi handle,
 *      give both slots back, classify; a transient failure (fetch_transient)
 *      sleeps a full-jitter backoff or the server's Retry-After, on a
 *      runtime timer, and tries again while retries and --retry-max-time
 *      allow.  An attempt after a partial body asks for the rest with a
 *      Range (If-Range on the ETag when there was one); a server that
 *      answers 200 instead gets the file rewritten from the start;
 *   4. verify the digests (sha256, sha512, md5: digest.c) computed while
 *      the body streamed in (see "hashing" below);
 *   5. on success rename NAME.part to NAME; otherwise remove NAME.part.
 *      An accepted 304, 204 or 205 has no body: NAME stays as it was (a
 *      304 says the copy there is current) and only the .part goes.
 * With -O FILE, step 2 follows FILE's links and writes a device, FIFO or
 * socket in place (output_target_open): a FIFO with no reader yet is
 * retried on a 50 ms timer; what such a target got cannot be taken back,
 * so, as on stdout, no Range resumes it and an attempt that wrote part of
 * the body is not retried.
 * The drop function releases whatever is still held, whatever the task's
 * fate: slots are given back, a cancelled job keeps its .part (for a later
 * --continue), a panicked one does not.  It runs on the worker that owns
 * the transfer, after the runtime has taken the easy handle out of the
 * multi.
 *
 * Pacing (pace.h): an attempt first waits for its --rate / --per-host-rate
 * start slot (holding its -j slot); while it runs, --limit-rate and
 * --limit-rate-total pause it from the write callback and the poll resumes
 * it on a runtime timer (see "pacing" below).
 *
 * The write callback sees the status on the first chunk: unexpected
 * responses (a 404 page) are not written; --max-filesize is enforced on
 * bytes actually received, not only on Content-Length.
 *
 * Hashing.  A body going to a .part is hashed from the file, behind the
 * writes, on the blocking pool: once HASH_BATCH bytes wait unhashed (a
 * resumed prefix counts), on_body hands [hashed, written) to a batch and
 * goes on receiving; the next batch starts when that one is done.  So the
 * worker only writes, and the hash runs on the other core at the same
 * time (hashing in the write callback made a 256 MiB download with
 * sha512 take 1.7 times as long; see tests/bench/results/checksum.md).
 * After the last attempt the task awaits the batch in flight and hashes
 * what is left, in one more batch or inline when under HASH_BATCH.  The
 * batch owns the digest while it runs; the batch state is shared with the
 * task by a reference count, with its own dup of the .part's fd, so a
 * task cancelled mid-batch frees nothing the batch still reads.  A
 * restart (the server ignored our Range) while a batch runs marks the
 * digest stale; it is reset when the batch is back.  Bodies that go to
 * standard output or the spool are hashed in the write callback.
 *
 * Diagnostics: a job named in JFETCH_PANIC_JOB pauses its transfer at the
 * first chunk of body and wakes its task, which then calls rt_panic with
 * the transfer still in flight; one in JFETCH_HANG_JOB pauses the same way
 * and waits until cancelled.
 */
#include "fetch.h"

#include "digest.h"
#include "pace.h"
#include "progress.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKOFF_CAP_MS (10u * 60u * 1000u) /* 10 minutes, as curl */
#define FIFO_POLL_NS (50u * 1000000u)      /* -O fifo: look for a reader */

enum { DIAG_NONE = 0, DIAG_PANIC, DIAG_HANG };

struct fetch {
  int pc;
  struct job_run *run;
  CURL *easy;
  rt_xfer *xfer;
  struct curl_slist *hdrs;  /* request headers (job + -H) */
  struct curl_slist *range; /* hdrs + If-Range for a resumed attempt */
  struct output_file f;
  bool f_open;
  int out_fd; /* bodies not going to f: spool or stdout */
  int code;   /* CURLcode of the last attempt */
  int rc;
  uint64_t t0;
  uint64_t written;       /* bytes of body in the output */
  uint64_t attempt_bytes; /* body bytes this attempt */
  int write_errno;
  bool discard; /* unexpected status: do not keep the body */
  bool checked_status;
  bool ranged;   /* this attempt asked for a Range */
  bool range_ok; /* ... and the server answered 206 */
  bool too_big;
  digest *dg;            /* the job's digests, or NULL */
  struct hash_batch *hb; /* hashing from the .part (f_open), or NULL */
  rt_handle *hb_job;     /* the batch in flight, or NULL */
  bool hash_stale;       /* restarted while a batch ran: reset when back */
  int hash_errno;        /* a batch could not read the .part */
  char etag[256];
  uint64_t range_total; /* from a 416's Content-Range: bytes star/N */
  bool hold_host, hold_slot;
  bool active;      /* counted in progress_live.active */
  uint64_t wake_at; /* backoff timer */
  uint32_t rnd;
  int diag;
  bool diag_armed;
  bool panicking;
  bool pacing;             /* a byte-rate cap applies (pace.h) */
  bool paused;             /* the write callback paused for the cap */
  bool resuming;           /* inside our curl_easy_pause(CONT) */
  int pause_code;          /* a CURLcode curl_easy_pause returned */
  uint64_t ready_at;       /* the next chunk may be taken from then */
  uint64_t start_at;       /* --rate: this attempt starts then */
  uint64_t rate;           /* --limit-rate or the job's limit_rate; 0: none */
  struct pace_meter meter; /* ... its bucket */
  char errbuf[CURL_ERROR_SIZE];
};

void job_result_free(struct job_result *r) {
  free(r->error);
  free(r->effective_url);
  r->error = r->effective_url = NULL;
}

bool fetch_status_expected(const struct job *j, long status) {
  if (!j->expect_status)
    return status >= 200 && status < 300;
  for (size_t i = 0; i < j->nexpect; i++)
    if (j->expect_status[i] == status)
      return true;
  return false;
}

bool fetch_job_listed(const char *list, const struct job *j) {
  if (!list || !*list)
    return false;
  char idx[24];
  const char *key = j->id;
  if (!key) {
    snprintf(idx, sizeof(idx), "%" PRIu64, j->index);
    key = idx;
  }
  size_t n = strlen(key);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && !memcmp(p, key, n))
      return true;
    if (!e)
      break;
    p = e + 1;
  }
  return false;
}

const char *fetch_error_kind(int code) {
  switch (code) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY: return "dns";
  case CURLE_COULDNT_CONNECT: return "connect";
  case CURLE_OPERATION_TIMEDOUT: return "timeout";
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_USE_SSL_FAILED: return "tls";
  case CURLE_TOO_MANY_REDIRECTS: return "redirect";
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_BAD_CONTENT_ENCODING:
  case CURLE_URL_MALFORMAT:
  case CURLE_RANGE_ERROR: return "protocol";
  case CURLE_WRITE_ERROR: return "io";
  case CURLE_FILESIZE_EXCEEDED: return "size";
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_GOT_NOTHING:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_HTTP3: return "network";
  default: return "other";
  }
}

bool fetch_transient(int code, long status) {
  switch (code) {
  case CURLE_OK:
    return status == 408 || status == 429 || status == 500 || status == 502 ||
           status == 503 || status == 504;
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_GOT_NOTHING:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM: return true;
  default: return false;
  }
}

static uint32_t xorshift(uint32_t *s) {
  uint32_t x = *s ? *s : 0x9e3779b9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

uint64_t fetch_backoff_ms(uint64_t base_ms, unsigned attempt,
                          uint64_t retry_after_ms, uint32_t *rnd) {
  uint64_t span = base_ms;
  for (unsigned k = 2; k < attempt && span < BACKOFF_CAP_MS; k++)
    span *= 2;
  if (span > BACKOFF_CAP_MS)
    span = BACKOFF_CAP_MS;
  uint64_t r = ((uint64_t)xorshift(rnd) << 32) | xorshift(rnd);
  uint64_t wait = span ? r % (span + 1) : 0;
  if (retry_after_ms > BACKOFF_CAP_MS)
    retry_after_ms = BACKOFF_CAP_MS;
  return retry_after_ms > wait ? retry_after_ms : wait;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  char *s = NULL;
  if (vasprintf(&s, f, ap) < 0)
    s = NULL;
  va_end(ap);
  return s;
}

static void fail(struct fetch *st, const char *kind, char *msg) {
  struct job_result *r = &st->run->res;
  r->outcome = OUT_APP_ERROR;
  r->error_kind = kind;
  free(r->error);
  r->error = msg;
}

static void succeed(struct fetch *st) {
  struct job_result *r = &st->run->res;
  r->outcome = OUT_OK;
  r->error_kind = NULL;
  free(r->error);
  r->error = NULL;
}

/* ---- the body's destination -----------------------------------------------
 */

/* Bytes written cannot be taken back: standard output, or a device, FIFO
 * or socket given with -O. */
static bool unseekable(const struct fetch *st) {
  return st->f_open ? st->f.direct : st->out_fd == STDOUT_FILENO;
}

/* Empties the output (a server ignored our Range, or a retry restarts). */
static int restart_output(struct fetch *st) {
  struct job_run *run = st->run;
  int fd = st->f_open ? st->f.fd : run->cfg->spool ? run->spool_fd : st->out_fd;
  if (unseekable(st)) {
    if (!st->written)
      return 0;
    errno = ESPIPE; /* cannot take back what the reader already got */
    return -1;
  }
  run->spool_len = 0;
  if (fd >= 0 && fd != STDOUT_FILENO &&
      (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0))
    return -1;
  st->written = 0;
  if (st->hb_job) {
    st->hash_stale = true;
    return 0;
  }
  return st->dg ? digest_reset(st->dg) : 0;
}

/* Stdout with several jobs: each body is kept until its job ends, in
 * memory up to SPOOL_MEM (a tiny body costs no file and no syscall), in
 * an unlinked temporary file beyond. */
#define SPOOL_MEM (64u * 1024u)

static int spill(struct job_run *run) {
  int fd = open(run->cfg->spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 || output_write_all(fd, run->spool_buf, run->spool_len) < 0) {
    int e = errno;
    if (fd >= 0)
      close(fd);
    errno = e;
    return -1;
  }
  run->spool_fd = fd;
  free(run->spool_buf);
  run->spool_buf = NULL;
  run->spool_len = run->spool_cap = 0;
  return 0;
}

static int spool_write(struct job_run *run, const char *p, size_t n) {
  if (run->spool_fd < 0 && run->spool_len + n > SPOOL_MEM && spill(run) < 0)
    return -1;
  if (run->spool_fd >= 0)
    return output_write_all(run->spool_fd, p, n);
  if (run->spool_len + n > run->spool_cap) {
    size_t cap = run->spool_cap ? run->spool_cap * 2 : 4096;
    while (cap < run->spool_len + n)
      cap *= 2;
    char *b = realloc(run->spool_buf, cap);
    if (!b)
      return -1;
    run->spool_buf = b;
    run->spool_cap = cap;
  }
  memcpy(run->spool_buf + run->spool_len, p, n);
  run->spool_len += n;
  return 0;
}

/* A body in a .part is hashed by reading the file back (below); one
 * written elsewhere (stdout, the spool, a device or FIFO given with -O)
 * cannot be read back and is hashed as it is written. */
static bool hashed_from_file(const struct fetch *st) {
  return st->f_open && !st->f.direct;
}

static int write_out(struct fetch *st, const char *p, size_t n) {
  if (st->f_open)
    return output_file_write(&st->f, p, n);
  if (st->run->cfg->spool)
    return spool_write(st->run, p, n);
  return output_write_all(st->out_fd, p, n);
}

/* ---- hashing behind the writes ---------------------------------------------
 */

#define HASH_BATCH (1u << 20) /* unhashed bytes that start a batch */

/* Shared by the task and its batch in flight; the last to let go frees
 * it.  The task touches dg, from and to only while no batch runs. */
struct hash_batch {
  atomic_int refs;
  int fd; /* a dup of the .part's */
  digest *dg;
  uint64_t from, to;
  int err; /* errno of a failed read, or 0 */
};

static void hash_batch_unref(struct hash_batch *b) {
  if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
    return;
  close(b->fd);
  digest_destroy(b->dg);
  free(b);
}

static void *hash_batch_run(void *arg) {
  struct hash_batch *b = arg;
  b->err = digest_fd_range(b->dg, b->fd, b->from, b->to) < 0 ? errno : 0;
  hash_batch_unref(b);
  return NULL;
}

/* The batch is back (joined or seen finished): take its outcome. */
static void hash_collect(struct fetch *st) {
  if (st->hash_stale) {
    st->hash_stale = false; /* the file was cut under the batch */
    if (digest_reset(st->dg) < 0)
      st->hash_errno = EIO;
  } else if (st->hb->err && !st->hash_errno) {
    st->hash_errno = st->hb->err;
  }
}

static int hash_share(struct fetch *st) {
  struct hash_batch *b = calloc(1, sizeof(*b));
  if (!b || (b->fd = fcntl(st->f.fd, F_DUPFD_CLOEXEC, 0)) < 0) {
    free(b);
    return -1;
  }
  atomic_init(&b->refs, 1);
  b->dg = st->dg; /* the batch state owns the digest from now on */
  st->hb = b;
  return 0;
}

/* Hashes [hashed, written) of the .part: on the blocking pool if it is
 * HASH_BATCH or more (or, with all, anything), else leaves it for later.
 * A batch that cannot be spawned is done here, on the worker. */
static void hash_behind(struct fetch *st, bool all) {
  if (st->hb_job) {
    if (!rt_handle_is_finished(st->hb_job))
      return;
    rt_handle_detach(st->hb_job);
    st->hb_job = NULL;
    hash_collect(st);
  }
  uint64_t from = digest_length(st->dg);
  if (st->hash_errno || from >= st->written ||
      (!all && st->written - from < HASH_BATCH))
    return;
  if (!st->hb && hash_share(st) < 0) {
    st->hash_errno = ENOMEM;
    return;
  }
  st->hb->from = from;
  st->hb->to = st->written;
  atomic_fetch_add_explicit(&st->hb->refs, 1, memory_order_relaxed);
  if (rt_spawn_blocking(hash_batch_run, st->hb, &st->hb_job) != 0) {
    st->hb_job = NULL;
    hash_batch_run(st->hb); /* drops the reference taken above */
    hash_collect(st);
  }
}

/* After the last attempt: 0 when every byte of the .part is hashed, else
 * RT_PENDING while a batch runs. */
static int hash_done(rt_cx *cx, struct fetch *st) {
  for (;;) {
    if (st->hb_job) {
      rt_join j;
      if (rt_handle_join(cx, st->hb_job, &j) == RT_PENDING)
        return RT_PENDING;
      st->hb_job = NULL;
      if (j.status != RT_JOIN_OK)
        st->hash_errno = EIO;
      rt_join_clear(&j);
      hash_collect(st);
    }
    uint64_t from = digest_length(st->dg);
    if (st->hash_errno || from >= st->written)
      return 0;
    if (st->written - from < HASH_BATCH) {
      if (digest_fd_range(st->dg, st->f.fd, from, st->written) < 0)
        st->hash_errno = errno;
      return 0;
    }
    hash_behind(st, true);
  }
}

/* ---- pacing: --limit-rate, the job's limit_rate, --limit-rate-total -------
 *
 * The write callback takes a chunk whole and charges it to the transfer's
 * meter and the shared one (pace.h); a chunk that arrives before the time
 * they leave is refused with CURL_WRITEFUNC_PAUSE (libcurl keeps it and
 * delivers it again after curl_easy_pause(CONT)) and the task is woken.
 * The task then sleeps on a runtime timer, on its own worker (a running
 * transfer pins it there, and only that thread may touch the multi), and
 * unpauses.  libcurl's CURLOPT_MAX_RECV_SPEED_LARGE is not set: 7.88 reads
 * what the socket holds before it checks it, and its own waits, added to
 * ours, would make the rate lower than the cap.
 */

static void pace_setup(struct fetch *st) {
  const struct job *j = &st->run->job;
  st->rate = j->limit_rate ? j->limit_rate : st->run->cfg->limit_rate;
  st->pacing = st->rate || pace_total(st->run->cfg->pace);
  if (st->rate) /* 50 ms of burst absorbs a late timer */
    pace_meter_init(&st->meter, (double)st->rate, 50000000u);
}

/* The receive buffer: a slice of the transfer's cap, or of its share of
 * the total cap (-j transfers at once), so a read overshoots by little. */
static long pace_buffer(const struct fetch *st, long dflt) {
  const struct fetch_cfg *cfg = st->run->cfg;
  uint64_t r = st->rate;
  if (cfg->limit_rate_total) {
    uint64_t share =
        cfg->limit_rate_total / (cfg->concurrency ? cfg->concurrency : 1);
    if (!r || share < r)
      r = share;
  }
  if (!st->pacing)
    return dflt;
  long b = pace_buffer_size(r);
  return b < dflt ? b : dflt;
}

/* In the write callback: true if the chunk must wait. */
static bool pace_hold(struct fetch *st, uint64_t now) {
  if (now >= st->ready_at)
    return false;
  st->paused = true;
  if (!st->resuming)
    rt_xfer_wake(st->xfer);
  return true;
}

static void pace_took(struct fetch *st, size_t n, uint64_t now) {
  uint64_t at = st->rate ? pace_meter_charge(&st->meter, n, now) : 0;
  struct pace_meter *total = pace_total(st->run->cfg->pace);
  if (total) {
    uint64_t t = pace_meter_charge(total, n, now);
    at = t > at ? t : at;
  }
  st->ready_at = at;
}

/* In the task, while the transfer runs: sleeps out a pause, then resumes
 * the transfer (which may pause again at once).  RT_PENDING, or an error
 * of rt_sleep_until. */
static int pace_wait(rt_cx *cx, struct fetch *st) {
  while (st->paused) {
    int rc = rt_sleep_until(cx, st->ready_at);
    if (rc != RT_READY)
      return rc;
    st->paused = false;
    st->resuming = true;
    CURLcode c = curl_easy_pause(st->easy, CURLPAUSE_CONT);
    st->resuming = false;
    /* 7.88 does not fail the transfer when the redelivered chunk's write
     * fails: remember it and end the attempt (pace_abort) */
    if (c != CURLE_OK && !st->pause_code)
      st->pause_code = (int)c;
  }
  return RT_PENDING;
}

/* A write that failed inside curl_easy_pause(CONT): libcurl 7.88 neither
 * fails the transfer nor reads on, so it would hang; the attempt ends here
 * with that code (the transfer leaves its multi, on this worker). */
static int pace_abort(struct fetch *st) {
  rt_xfer_destroy(st->xfer);
  st->xfer = NULL;
  st->code = st->pause_code;
  return rt_xfer_create(st->easy, &st->xfer);
}

/* ---- libcurl callbacks (run inside socket_action on the task's worker) ----
 */

/* The first chunk of an attempt's body: decide what to do with it. */
static int first_chunk(struct fetch *st) {
  long status = 0;
  curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &status);
  st->checked_status = true;
  st->range_ok = st->ranged && status == 206;
  /* a 416's page is no body: the .part may be whole already (classify) */
  if (st->ranged && !st->range_ok && status != 416 && restart_output(st) < 0)
    return -1;
  st->discard = !st->range_ok && !fetch_status_expected(&st->run->job, status);
  return 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
  struct fetch *st = ud;
  size_t n = size * nmemb;
  if (st->diag && !st->diag_armed) {
    st->diag_armed = true;
    rt_xfer_wake(st->xfer);
    return CURL_WRITEFUNC_PAUSE;
  }
  if (st->pause_code)
    return 0; /* see pace_wait */
  if (st->pacing && n) {
    uint64_t now = rt_now();
    if (pace_hold(st, now))
      return CURL_WRITEFUNC_PAUSE;
    pace_took(st, n, now);
  }
  if (!st->checked_status && first_chunk(st) < 0) {
    st->write_errno = errno;
    return 0;
  }
  if (st->discard || n == 0)
    return n;
  uint64_t max = st->run->cfg->max_filesize;
  if (max && st->written + n > max) {
    st->too_big = true;
    return 0;
  }
  if (write_out(st, p, n) < 0) {
    st->write_errno = errno;
    return 0; /* CURLE_WRITE_ERROR */
  }
  if (st->dg && !hashed_from_file(st) && digest_update(st->dg, p, n) < 0) {
    st->write_errno = EIO;
    return 0;
  }
  st->written += n;
  if (st->dg && hashed_from_file(st))
    hash_behind(st, false);
  st->attempt_bytes += n;
  atomic_fetch_add_explicit(&st->run->cfg->live->bytes, n,
                            memory_order_relaxed);
  return n;
}

/* Keeps the ETag (for If-Range) and a 416's total size. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
  struct fetch *st = ud;
  size_t n = size * nmemb;
  if (n > 5 && !strncasecmp(p, "ETag:", 5)) {
    size_t a = 5, b = n;
    while (a < b && (p[a] == ' ' || p[a] == '\t'))
      a++;
    while (b > a && (p[b - 1] == '\r' || p[b - 1] == '\n' || p[b - 1] == ' '))
      b--;
    if (b - a < sizeof(st->etag)) {
      memcpy(st->etag, p + a, b - a);
      st->etag[b - a] = '\0';
    }
  } else if (n > 14 && !strncasecmp(p, "Content-Range:", 14)) {
    const char *star = memchr(p, '*', n);
    if (star && star + 2 < p + n && star[1] == '/')
      st->range_total = strtoull(star + 2, NULL, 10);
  }
  return n;
}

/* ---- setup ------------------------------------------------------------------
 */

/* -O FILE: links followed, devices and FIFOs written in place.  1: a
 * FIFO has no reader yet, try again later. */
static int open_target(struct fetch *st) {
  const struct fetch_cfg *cfg = st->run->cfg;
  if (output_target_open(cfg->od, st->run->rel, cfg->resume, &st->f) < 0) {
    int e = errno;
    if (e == EAGAIN)
      return 1;
    fail(st, "io", fmt("cannot write %s: %s", cfg->target, strerror(e)));
    return -1;
  }
  st->f_open = true;
  st->written = (uint64_t)st->f.offset;
  return 0;
}

/* 0, -1 (failed), 1 (not yet: see open_target). */
static int open_output(struct fetch *st) {
  const struct fetch_cfg *cfg = st->run->cfg;
  if (!cfg->od) {
    st->out_fd = cfg->spool ? -1 : STDOUT_FILENO; /* spool: see spool_write */
    return 0;
  }
  if (cfg->target)
    return open_target(st);
  if (output_file_open(cfg->od, st->run->rel, cfg->create_dirs, cfg->resume,
                       &st->f) < 0) {
    int e = errno;
    fail(st, "io",
         fmt("cannot create %s/%s.part: %s", output_dir_path(cfg->od),
             st->run->rel,
             e == ELOOP    ? "a symbolic link is in the way (not followed)"
             : e == ENOENT ? "no such directory (see --create-dirs)"
                           : strerror(e)));
    return -1;
  }
  st->f_open = true;
  st->written = (uint64_t)st->f.offset;
  return 0;
}

static int add_header(struct curl_slist **l, const char *h) {
  struct curl_slist *n = curl_slist_append(*l, h);
  if (!n)
    return -1;
  *l = n;
  return 0;
}

static int set_request(struct fetch *st) {
  const struct job *j = &st->run->job;
  const struct fetch_cfg *cfg = st->run->cfg;
  CURL *e = st->easy;
  /* -H headers, unless the job sets one of the same name (the job wins,
   * as it does over its file's defaults) */
  for (size_t i = 0; i < cfg->nheaders; i++)
    if (!job_has_header(j, cfg->headers[i]) &&
        add_header(&st->hdrs, cfg->headers[i]))
      return -1;
  for (size_t i = 0; i < j->nheaders; i++)
    if (add_header(&st->hdrs, j->headers[i]))
      return -1;
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, st->hdrs);
  if (j->body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
  }
  if (j->method && !strcmp(j->method, "HEAD"))
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  else if (j->method && strcmp(j->method, j->body ? "POST" : "GET"))
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, j->method);
  return 0;
}

static void set_limits(CURL *e, const struct job *j,
                       const struct fetch_cfg *cfg) {
  long tmo = j->timeout_ms >= 0 ? j->timeout_ms : cfg->timeout_ms;
  if (tmo > 0)
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, tmo);
  if (cfg->connect_timeout_ms > 0)
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
  if (cfg->speed_time > 0) {
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT,
                     cfg->speed_limit > 0 ? cfg->speed_limit : 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, cfg->speed_time);
  }
  if (cfg->max_filesize)
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                     (curl_off_t)cfg->max_filesize);
}

/* ---- the easy-handle cache --------------------------------------------------
 */

#define EASY_CACHE 32
#define LARGE_BODY (256u * 1024u)

/* A worker's own: only its thread touches it, on cache lines of its own. */
struct easy_slot {
  _Alignas(64) CURL *h[EASY_CACHE];
  unsigned n;
  uint64_t avg_body; /* moving average of recent body sizes here */
};

struct fetch_easy_cache {
  unsigned workers;
  struct easy_slot slot[];
};

struct fetch_easy_cache *fetch_easy_cache_create(unsigned workers) {
  size_t size = sizeof(struct fetch_easy_cache) +
                (size_t)workers * sizeof(struct easy_slot);
  size = (size + 63) / 64 * 64;
  struct fetch_easy_cache *c = aligned_alloc(64, size);
  if (!c)
    return NULL;
  memset(c, 0, size);
  c->workers = workers;
  /* big bodies until small ones are seen: a few large downloads build
   * their handles before any body has arrived */
  for (unsigned w = 0; w < workers; w++)
    c->slot[w].avg_body = LARGE_BODY;
  return c;
}

void fetch_easy_cache_destroy(struct fetch_easy_cache *c) {
  if (!c)
    return;
  for (unsigned w = 0; w < c->workers; w++)
    for (unsigned i = 0; i < c->slot[w].n; i++)
      curl_easy_cleanup(c->slot[w].h[i]);
  free(c);
}

static struct easy_slot *my_slot(struct fetch_easy_cache *c) {
  int w = rt_current_worker();
  return c && w >= 0 && (unsigned)w < c->workers ? &c->slot[w] : NULL;
}

static CURL *easy_get(struct fetch_easy_cache *c) {
  struct easy_slot *s = my_slot(c);
  if (!s || !s->n)
    return curl_easy_init();
  CURL *e = s->h[--s->n];
  curl_easy_reset(e);
  return e;
}

/* The receive buffer: libcurl's 16 KiB makes a large body cost 8 recv()
 * and write() pairs where 128 KiB needs one (the curl tool uses 100 KiB),
 * but each handle's buffer costs its size, and tiny responses by the
 * thousand are better served small.  So a worker uses 128 KiB while the
 * bodies it sees average 256 KiB or more (as it assumes at the start). */
#define SMALL_BUFFER 16384L
#define LARGE_BUFFER 131072L

static long easy_buffer_size(struct fetch_easy_cache *c) {
  struct easy_slot *s = my_slot(c);
  return s && s->avg_body >= LARGE_BODY ? LARGE_BUFFER : SMALL_BUFFER;
}

static void easy_saw_body(struct fetch_easy_cache *c, uint64_t bytes) {
  struct easy_slot *s = my_slot(c);
  if (s)
    s->avg_body = (s->avg_body * 7 + bytes) / 8;
}

static void easy_put(struct fetch_easy_cache *c, CURL *e) {
  struct easy_slot *s = my_slot(c);
  if (e && s && s->n < EASY_CACHE)
    s->h[s->n++] = e;
  else
    curl_easy_cleanup(e);
}

static int build_easy(struct fetch *st) {
  const struct job *j = &st->run->job;
  const struct fetch_cfg *cfg = st->run->cfg;
  CURL *e = st->easy = easy_get(cfg->easy);
  if (!e || rt_xfer_create(e, &st->xfer) != 0)
    return -1;
  curl_easy_setopt(e, CURLOPT_URL, j->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, cfg->max_redirs);
  /* over TLS, a burst of jobs to one host waits for the first connection's
   * ALPN answer and then multiplexes on it (HTTP/2), as curl -Z does,
   * instead of opening one connection per job; once the answer is HTTP/1.1
   * libcurl opens the others at once */
  curl_easy_setopt(e, CURLOPT_PIPEWAIT,
                   strncasecmp(j->url, "https:", 6) == 0 ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, st);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, st);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, st->errbuf);
  curl_easy_setopt(e, CURLOPT_USERAGENT, cfg->user_agent);
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE,
                   pace_buffer(st, easy_buffer_size(cfg->easy)));
  if (cfg->insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (cfg->cacert)
    curl_easy_setopt(e, CURLOPT_CAINFO, cfg->cacert);
  set_limits(e, j, cfg);
  return set_request(st);
}

/* Job already done by an earlier run? */
static bool skip_existing(struct fetch *st) {
  const struct fetch_cfg *cfg = st->run->cfg;
  uint64_t size = 0;
  if (!cfg->skip_existing || !cfg->od)
    return false;
  /* -O FILE: a regular file at the end of its links; a FIFO or device
   * there is no earlier download and is written */
  if (cfg->target ? !output_target_exists(cfg->od, st->run->rel, &size)
                  : !output_exists(cfg->od, st->run->rel))
    return false;
  struct job_result *r = &st->run->res;
  succeed(st);
  r->skipped = true;
  r->bytes = cfg->target ? size : output_size(cfg->od, st->run->rel);
  return true;
}

static int prepare(struct fetch *st) {
  const struct fetch_cfg *cfg = st->run->cfg;
  const struct job *j = &st->run->job;
  st->rnd = (uint32_t)(j->index * 2654435761u) ^ (uint32_t)st->t0;
  if (fetch_job_listed(cfg->panic_ids, j))
    st->diag = DIAG_PANIC;
  else if (fetch_job_listed(cfg->hang_ids, j))
    st->diag = DIAG_HANG;
  pace_setup(st);
  if (j->digests && digest_create(j->digests, &st->dg) < 0) {
    fail(st, "other", fmt("out of memory setting up the digests"));
    return -1;
  }
  if (build_easy(st) < 0) {
    fail(st, "other", fmt("out of memory setting up the transfer"));
    return -1;
  }
  return 0;
}

/* ---- attempts
 * ------------------------------------------------------------------ */

static void set_active(struct fetch *st, bool on) {
  if (st->active == on)
    return;
  st->active = on;
  if (on)
    atomic_fetch_add_explicit(&st->run->cfg->live->active, 1,
                              memory_order_relaxed);
  else
    atomic_fetch_sub_explicit(&st->run->cfg->live->active, 1,
                              memory_order_relaxed);
}

/* -v: one line on stderr, written with one write() so lines from several
 * workers never interleave. */
static void note(struct fetch *st, const char *f, ...)
    __attribute__((format(printf, 2, 3)));
static void note(struct fetch *st, const char *f, ...) {
  if (!st->run->cfg->verbose)
    return;
  char line[1024];
  int n = snprintf(line, sizeof(line),
                   "jfetch: #%" PRIu64 " attempt %u: ", st->run->job.index,
                   st->run->res.attempts);
  va_list ap;
  va_start(ap, f);
  n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, f, ap);
  va_end(ap);
  if (n > (int)sizeof(line) - 2)
    n = (int)sizeof(line) - 2;
  line[n++] = '\n';
  if (write(STDERR_FILENO, line, (size_t)n) < 0)
    return;
}

static void begin_attempt(struct fetch *st) {
  set_active(st, true);
  st->run->res.attempts++;
  st->errbuf[0] = '\0';
  st->checked_status = st->discard = st->too_big = false;
  st->write_errno = 0;
  st->paused = false;
  st->pause_code = 0;
  st->attempt_bytes = 0;
  st->range_total = 0;
  st->ranged = st->written > 0 && !unseekable(st);
  /* CURLOPT_RANGE rather than RESUME_FROM: libcurl fails a RESUME_FROM
   * transfer whose server ignores the range, where we want to see its 200
   * and start the file again */
  char range[32];
  snprintf(range, sizeof(range), "%" PRIu64 "-", st->written);
  curl_easy_setopt(st->easy, CURLOPT_RANGE, st->ranged ? range : NULL);
  curl_slist_free_all(st->range);
  st->range = NULL;
  if (st->ranged && st->etag[0]) {
    char h[300];
    snprintf(h, sizeof(h), "If-Range: %s", st->etag);
    for (struct curl_slist *x = st->hdrs; x; x = x->next)
      add_header(&st->range, x->data);
    add_header(&st->range, h);
  }
  curl_easy_setopt(st->easy, CURLOPT_HTTPHEADER,
                   st->range ? st->range : st->hdrs);
}

static int take_slots(rt_cx *cx, struct fetch *st) {
  rt_sem *host = st->run->host_sem, *slots = st->run->cfg->slots;
  if (host && !st->hold_host) {
    int rc = rt_sem_acquire(cx, host, 1);
    if (rc != RT_READY)
      return rc;
    st->hold_host = true;
  }
  if (slots && !st->hold_slot) {
    int rc = rt_sem_acquire(cx, slots, 1);
    if (rc != RT_READY)
      return rc;
    st->hold_slot = true;
  }
  return RT_READY;
}

static void give_slots(struct fetch *st) {
  if (st->hold_slot)
    rt_sem_release(st->run->cfg->slots, 1);
  if (st->hold_host)
    rt_sem_release(st->run->host_sem, 1);
  st->hold_slot = st->hold_host = false;
}

static int await_xfer(rt_cx *cx, struct fetch *st) {
  int rc = rt_xfer_poll(cx, st->xfer, &st->code);
  if (rc == RT_PENDING && st->diag_armed && st->diag == DIAG_PANIC) {
    const struct job *j = &st->run->job;
    st->panicking = true;
    if (j->id)
      rt_panic("injected panic (JFETCH_PANIC_JOB) in job \"%s\", "
               "mid-transfer",
               j->id);
    rt_panic("injected panic (JFETCH_PANIC_JOB) in job %" PRIu64
             ", mid-transfer",
             j->index);
  }
  if (rc == RT_PENDING && st->paused)
    rc = pace_wait(cx, st);
  if (rc == RT_PENDING && st->pause_code)
    return pace_abort(st);
  if (rc == RT_READY && st->pause_code && st->code == CURLE_OK)
    st->code = st->pause_code;
  return rc;
}

/* Records the attempt's outcome.  True if it may be retried. */
static bool classify(struct fetch *st) {
  struct job_result *r = &st->run->res;
  char *url = NULL;
  curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &r->http_status);
  curl_easy_getinfo(st->easy, CURLINFO_EFFECTIVE_URL, &url);
  free(r->effective_url);
  r->effective_url = url ? strdup(url) : NULL;
  long status = r->http_status;
  if (st->code == CURLE_OK) {
    if (st->ranged &&
        (st->range_ok || (status == 416 && st->range_total == st->written))) {
      succeed(st); /* the rest arrived, or there was no rest */
      return false;
    }
    if (fetch_status_expected(&st->run->job, status)) {
      succeed(st);
      return false;
    }
    fail(st, "http_status", fmt("HTTP %ld", status));
    return fetch_transient(CURLE_OK, status);
  }
  if (st->too_big || st->code == CURLE_FILESIZE_EXCEEDED) {
    fail(st, "size",
         fmt("larger than --max-filesize (%" PRIu64 " bytes)",
             st->run->cfg->max_filesize));
    return false;
  }
  if (st->code == CURLE_WRITE_ERROR && st->write_errno) {
    fail(st, "io", fmt("writing the body: %s", strerror(st->write_errno)));
    return false;
  }
  const char *msg = st->errbuf[0] ? st->errbuf : curl_easy_strerror(st->code);
  fail(st, fetch_error_kind(st->code), fmt("%s", msg));
  return fetch_transient(st->code, 0);
}

/* After a failed attempt: 1 and *wake set to try again, 0 to give up. */
static int plan_retry(struct fetch *st, bool transient) {
  const struct fetch_cfg *cfg = st->run->cfg;
  const struct job *j = &st->run->job;
  int retries = j->retries >= 0 ? j->retries : cfg->retries;
  unsigned next = st->run->res.attempts + 1;
  if (!transient || (int)next > retries + 1)
    return 0;
  if (unseekable(st) && st->written)
    return 0; /* stdout (or a FIFO, a device) already has part of it */
  curl_off_t ra = 0;
  curl_easy_getinfo(st->easy, CURLINFO_RETRY_AFTER, &ra);
  uint64_t wait = fetch_backoff_ms(cfg->retry_delay_ms, next,
                                   ra > 0 ? (uint64_t)ra * 1000u : 0, &st->rnd);
  uint64_t now = rt_now();
  if (cfg->retry_max_time_ms &&
      now + wait * 1000000u > st->t0 + cfg->retry_max_time_ms * 1000000u)
    return 0;
  st->wake_at = now + wait * 1000000u;
  return 1;
}

/* -v: what the attempt came to, and what happens next. */
static void report_attempt(struct fetch *st, uint64_t wake_at) {
  const struct job_result *r = &st->run->res;
  if (!st->run->cfg->verbose)
    return;
  if (r->outcome == OUT_OK) {
    note(st, "HTTP %ld, %" PRIu64 " bytes", r->http_status, st->attempt_bytes);
  } else if (wake_at) {
    note(st, "%s: %s; retrying in %.2f s", r->error_kind, r->error,
         (double)(wake_at - rt_now()) / 1e9);
  } else {
    note(st, "%s: %s; giving up", r->error_kind, r->error);
  }
}

/* An accepted answer that carries no body to save: 304 Not Modified (the
 * copy already there is current), 204 No Content, 205 Reset Content.
 * Whatever is at the final path stays as it is; nothing is created. */
static bool keeps_old(const struct job_result *r) {
  return r->outcome == OUT_OK &&
         (r->http_status == 304 || r->http_status == 204 ||
          r->http_status == 205);
}

static void verify(struct fetch *st) {
  const struct job *j = &st->run->job;
  uint8_t got[DIGEST_ALGS][DIGEST_MAX];
  /* no body, nothing to check (the file kept was checked when saved) */
  if (!st->dg || st->run->res.outcome != OUT_OK || keeps_old(&st->run->res))
    return;
  if (st->hash_errno) {
    fail(st, "io",
         fmt("cannot read %s.part back to hash it: %s", st->run->rel,
             st->hash_errno == ENODATA ? "it shrank"
                                       : strerror(st->hash_errno)));
    return;
  }
  if (digest_final(st->dg, got) < 0) {
    fail(st, "other", fmt("the digest could not be computed (libcrypto)"));
    return;
  }
  for (int a = 0; a < DIGEST_ALGS; a++) {
    size_t n = digest_size(a);
    if (!(j->digests >> a & 1) || !memcmp(got[a], j->digest[a], n))
      continue;
    char want_hex[DIGEST_HEX_MAX], got_hex[DIGEST_HEX_MAX];
    digest_hex(j->digest[a], n, want_hex);
    digest_hex(got[a], n, got_hex);
    fail(st, "checksum",
         fmt("%s mismatch: expected %s, got %s", digest_name(a), want_hex,
             got_hex));
    return;
  }
}

static void finish(struct fetch *st) {
  struct job_result *r = &st->run->res;
  bool keep_old = keeps_old(r);
  r->bytes = r->outcome == OUT_OK && !keep_old ? st->written : 0;
  if (!st->f_open)
    return;
  st->f_open = false;
  if (r->outcome != OUT_OK || keep_old) {
    output_file_abort(&st->f, false); /* this attempt's .part goes */
    return;
  }
  bool direct = st->f.direct;
  if (output_file_commit(&st->f, st->run->cfg->do_fsync) < 0) {
    int e = errno;
    fail(st, "io",
         direct ? fmt("cannot finish writing %s: %s", st->run->cfg->target,
                      strerror(e))
                : fmt("cannot move %s.part into place: %s", st->run->rel,
                      strerror(e)));
    r->bytes = 0;
  }
}

static int fetch_poll(rt_cx *cx, void *p, void **out) {
  struct fetch *st = p;
  struct job_result *r = &st->run->res;
  (void)out;
  RT_BEGIN(st->pc);
  st->t0 = rt_now();
  if (skip_existing(st))
    goto done;
  /* a FIFO given with -O waits for its reader, as a shell's "> fifo"
   * would, but on a timer: the worker and an interrupt are not held up */
  while ((st->rc = open_output(st)) > 0) {
    st->wake_at = rt_now() + FIFO_POLL_NS;
    RT_AWAIT(st->pc, rt_sleep_until(cx, st->wake_at));
  }
  if (st->rc < 0 || prepare(st) < 0)
    goto end;
  for (;;) {
    RT_AWAIT(st->pc, st->rc = take_slots(cx, st));
    if (st->rc != RT_READY) {
      fail(st, "other", fmt("waiting for a slot: %s", rt_strerror(st->rc)));
      break;
    }
    /* --rate, --per-host-rate: every attempt takes a start slot */
    st->start_at =
        pace_start_at(st->run->cfg->pace, st->run->job.url, rt_now());
    RT_AWAIT(st->pc, rt_sleep_until(cx, st->start_at));
    begin_attempt(st);
    RT_AWAIT(st->pc, st->rc = await_xfer(cx, st));
    set_active(st, false);
    give_slots(st);
    if (st->rc != 0) {
      fail(st, "other",
           fmt("the transfer could not start: %s", rt_strerror(st->rc)));
      break;
    }
    if (!plan_retry(st, classify(st))) {
      report_attempt(st, 0);
      break;
    }
    report_attempt(st, st->wake_at);
    RT_AWAIT(st->pc, rt_sleep_until(cx, st->wake_at));
  }
  easy_saw_body(st->run->cfg->easy, st->attempt_bytes);
  if (st->dg && hashed_from_file(st) && r->outcome == OUT_OK)
    RT_AWAIT(st->pc, hash_done(cx, st));
  verify(st);
end:
  finish(st);
done:
  r->elapsed_ms = (rt_now() - st->t0) / 1000000u;
  RT_END(st->pc);
  return RT_READY;
}

static void fetch_drop(void *p) {
  struct fetch *st = p;
  set_active(st, false);
  give_slots(st);
  /* a cancelled job keeps its .part for --continue; a panicked one (the
   * injected panic, or any other: rt_panicking) does not */
  if (st->f_open)
    output_file_abort(&st->f, !(st->panicking || rt_panicking()));
  rt_xfer_destroy(st->xfer);
  easy_put(st->run->cfg->easy, st->easy);
  curl_slist_free_all(st->hdrs);
  curl_slist_free_all(st->range);
  if (st->hb_job)
    rt_handle_detach(st->hb_job); /* the batch lets go of hb when done */
  if (st->hb)
    hash_batch_unref(st->hb); /* and with it the digest */
  else
    digest_destroy(st->dg);
}

const rt_task_type fetch_task_type = {"fetch", fetch_poll, fetch_drop, NULL};

_Static_assert(sizeof(struct fetch) <= FETCH_STATE_MAX,
               "struct fetch outgrew FETCH_STATE_MAX");

void fetch_task_state(struct job_run *run, void *state, size_t *size) {
  struct fetch *st = state;
  memset(st, 0, sizeof(*st));
  st->run = run;
  st->out_fd = -1;
  st->f.fd = st->f.dirfd = -1;
  *size = sizeof(*st);
}
