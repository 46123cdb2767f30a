/*
 * fetch.c - the fetch task: one job, from output file to result.
 * budget: over 800 lines; the split (retry policy, easy-handle cache,
 * spool) is pending (issue 11 item 1).
 *
 * A resumable poll function (RT_BEGIN in rt.h) with these steps:
 *   1. --skip-existing: a final file already there ends the job (skipped);
 *   2. open NAME.part under the output directory (with --continue keeping
 *      what it holds), or spool (memory, then a file), or standard output;
 *      build the
 *      easy handle; if a sha256 must be checked and the .part already has
 *      bytes, hash them first, on this worker, 1 MiB per poll with a yield
 *      between steps (hash_step), so other tasks on the worker keep going;
 *   3. attempts: take a --per-host slot, then a -j slot (when tasks can
 *      outnumber them), run the transfer on this worker's multi handle,
 *      give both slots back, classify; a transient failure (fetch_transient)
 *      sleeps a full-jitter backoff or the server's Retry-After, on a
 *      runtime timer, and tries again while retries and --retry-max-time
 *      allow.  An attempt after a partial body asks for the rest with a
 *      Range (If-Range on the ETag when there was one); a server that
 *      answers 200 instead gets the file rewritten from the start;
 *   4. verify the sha256 computed while the body streamed in;
 *   5. on success rename NAME.part to NAME; otherwise remove NAME.part.
 * The drop function releases whatever is still held, whatever the task's
 * fate: slots are given back, a cancelled job keeps its .part (for a later
 * --continue), a panicked one does not.  It runs on the worker that owns
 * the transfer, after the runtime has taken the easy handle out of the
 * multi.
 *
 * The write callback sees the status on the first chunk: unexpected
 * responses (a 404 page) are not written; --max-filesize is enforced on
 * bytes actually received, not only on Content-Length.
 *
 * Diagnostics: a job named in JFETCH_PANIC_JOB pauses its transfer at the
 * first chunk of body and wakes its task, which then calls rt_panic with
 * the transfer still in flight; one in JFETCH_HANG_JOB pauses the same way
 * and waits until cancelled.
 */
#include "fetch.h"

#include "progress.h"
#include "sha256.h"

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
  bool hashing;
  struct sha256 sha;
  char etag[256];
  uint64_t range_total; /* from a 416's Content-Range: bytes star/N */
  bool hold_host, hold_slot;
  bool active;      /* counted in progress_live.active */
  uint64_t wake_at; /* backoff timer */
  uint32_t rnd;
  uint64_t hash_off; /* hashing a resumed .part's prefix */
  bool yielded;
  int diag;
  bool diag_armed;
  bool panicking;
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

/* Empties the output (a server ignored our Range, or a retry restarts). */
static int restart_output(struct fetch *st) {
  struct job_run *run = st->run;
  int fd = st->f_open ? st->f.fd : run->cfg->spool ? run->spool_fd : st->out_fd;
  if (fd == STDOUT_FILENO && st->written) {
    errno = ESPIPE; /* cannot take back what stdout already got */
    return -1;
  }
  run->spool_len = 0;
  if (fd >= 0 && fd != STDOUT_FILENO &&
      (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0))
    return -1;
  st->written = 0;
  if (st->hashing)
    sha256_init(&st->sha);
  return 0;
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

static int write_out(struct fetch *st, const char *p, size_t n) {
  if (st->f_open)
    return output_file_write(&st->f, p, n);
  if (st->run->cfg->spool)
    return spool_write(st->run, p, n);
  return output_write_all(st->out_fd, p, n);
}

/* ---- libcurl callbacks (run inside socket_action on the task's worker) ----
 */

/* The first chunk of an attempt's body: decide what to do with it. */
static int first_chunk(struct fetch *st) {
  long status = 0;
  curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &status);
  st->checked_status = true;
  st->range_ok = st->ranged && status == 206;
  if (st->ranged && !st->range_ok && restart_output(st) < 0)
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
  if (st->hashing)
    sha256_update(&st->sha, p, n);
  st->written += n;
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

static int open_output(struct fetch *st) {
  const struct fetch_cfg *cfg = st->run->cfg;
  if (!cfg->od) {
    st->out_fd = cfg->spool ? -1 : STDOUT_FILENO; /* spool: see spool_write */
    return 0;
  }
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
  if (cfg->limit_rate)
    curl_easy_setopt(e, CURLOPT_MAX_RECV_SPEED_LARGE,
                     (curl_off_t)cfg->limit_rate);
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
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, easy_buffer_size(cfg->easy));
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
  if (!cfg->skip_existing || !cfg->od || !output_exists(cfg->od, st->run->rel))
    return false;
  struct job_result *r = &st->run->res;
  succeed(st);
  r->skipped = true;
  r->bytes = output_size(cfg->od, st->run->rel);
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
  st->hashing = j->has_sha256;
  if (st->hashing)
    sha256_init(&st->sha);
  if (open_output(st) < 0)
    return -1;
  if (build_easy(st) < 0) {
    fail(st, "other", fmt("out of memory setting up the transfer"));
    return -1;
  }
  return 0;
}

/* ---- hashing a resumed .part ------------------------------------------------
 */

/* Hashes up to HASH_STEP more bytes of the .part's existing prefix; the
 * poll yields between steps, so a large prefix never holds the worker for
 * long.  1 if more remains, 0 when done, -1 on a read error. */
#define HASH_STEP (1u << 20)

static int hash_step(struct fetch *st) {
  uint8_t buf[65536];
  uint64_t stop = st->hash_off + HASH_STEP;
  if (stop > st->written)
    stop = st->written;
  while (st->hash_off < stop) {
    size_t want = stop - st->hash_off < sizeof(buf)
                      ? (size_t)(stop - st->hash_off)
                      : sizeof(buf);
    ssize_t n = pread(st->f.fd, buf, want, (off_t)st->hash_off);
    if (n <= 0) {
      if (n < 0 && errno == EINTR)
        continue;
      fail(st, "io",
           fmt("cannot read the existing %s.part: %s", st->run->rel,
               n ? strerror(errno) : "it shrank"));
      return -1;
    }
    sha256_update(&st->sha, buf, (size_t)n);
    st->hash_off += (uint64_t)n;
  }
  return st->hash_off < st->written;
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
  st->attempt_bytes = 0;
  st->range_total = 0;
  st->ranged = st->written > 0 && st->out_fd != STDOUT_FILENO;
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
  if (st->out_fd == STDOUT_FILENO && st->written)
    return 0; /* stdout already has part of the body */
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

static void verify(struct fetch *st) {
  const struct job *j = &st->run->job;
  if (!st->hashing || st->run->res.outcome != OUT_OK)
    return;
  uint8_t got[32];
  sha256_final(&st->sha, got);
  if (!memcmp(got, j->sha256, 32))
    return;
  char want_hex[65], got_hex[65];
  sha256_hex(j->sha256, want_hex);
  sha256_hex(got, got_hex);
  fail(st, "checksum",
       fmt("sha256 mismatch: expected %s, got %s", want_hex, got_hex));
}

static void finish(struct fetch *st) {
  struct job_result *r = &st->run->res;
  r->bytes = r->outcome == OUT_OK ? st->written : 0;
  if (!st->f_open)
    return;
  st->f_open = false;
  if (r->outcome != OUT_OK) {
    output_file_abort(&st->f, false);
    return;
  }
  if (output_file_commit(&st->f, st->run->cfg->do_fsync) < 0) {
    fail(st, "io",
         fmt("cannot move %s.part into place: %s", st->run->rel,
             strerror(errno)));
    r->bytes = 0;
  }
}

static int fetch_poll(rt_cx *cx, void *p, void **out) {
  struct fetch *st = p;
  struct job_result *r = &st->run->res;
  (void)out;
  RT_BEGIN(st->pc);
  st->t0 = rt_now();
  if (skip_existing(st) || prepare(st) < 0)
    goto done;
  while (st->hashing && st->hash_off < st->written) {
    if ((st->rc = hash_step(st)) < 0)
      goto end;
    RT_AWAIT(st->pc, rt_yield_now(cx, &st->yielded));
  }
  for (;;) {
    RT_AWAIT(st->pc, st->rc = take_slots(cx, st));
    if (st->rc != RT_READY) {
      fail(st, "other", fmt("waiting for a slot: %s", rt_strerror(st->rc)));
      break;
    }
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
