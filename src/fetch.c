/*
 * fetch.c - the fetch task: one job from output file to result.
 *
 * Steps (a resumable poll function, see RT_BEGIN in rt.h):
 *   1. open NAME.part under the output directory (or a spool file, or
 *      standard output), build the easy handle;
 *   2. await the transfer on this worker's multi (rt_xfer_poll);
 *   3. classify: libcurl's code into an error_kind, the HTTP status
 *      against expect_status (default 2xx);
 *   4. on success rename NAME.part to NAME; otherwise remove NAME.part.
 * The drop function releases whatever is still held, whatever the task's
 * fate: a cancelled job keeps its .part (for a later --continue), a
 * panicked one does not.  It runs on the worker that owns the transfer,
 * after the runtime has already taken the easy handle out of the multi.
 *
 * Bodies of responses that are not expected (a 404 page) are not written:
 * the write callback checks the status on the first chunk.
 *
 * Diagnostics: a job named in JFETCH_PANIC_JOB pauses its transfer at the
 * first chunk of body and wakes its task, which then calls rt_panic with
 * the transfer still in flight; one in JFETCH_HANG_JOB pauses the same way
 * and waits until cancelled.  Both exist so the task-failure paths can be
 * driven through the real binary.
 */
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { DIAG_NONE = 0, DIAG_PANIC, DIAG_HANG };

struct fetch {
  int pc;
  struct job_run *run;
  CURL *easy;
  rt_xfer *xfer;
  struct curl_slist *hdrs;
  struct output_file f;
  bool f_open;
  int out_fd;       /* where bodies go when not f: spool or stdout */
  int code;         /* CURLcode of the attempt */
  int rc;
  uint64_t t0;
  uint64_t bytes;
  int write_errno;
  bool discard;
  bool checked_status;
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
  case CURLE_COULDNT_RESOLVE_PROXY:
    return "dns";
  case CURLE_COULDNT_CONNECT:
    return "connect";
  case CURLE_OPERATION_TIMEDOUT:
    return "timeout";
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_USE_SSL_FAILED:
    return "tls";
  case CURLE_TOO_MANY_REDIRECTS:
    return "redirect";
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_BAD_CONTENT_ENCODING:
  case CURLE_URL_MALFORMAT:
    return "protocol";
  case CURLE_WRITE_ERROR:
    return "io";
  case CURLE_FILESIZE_EXCEEDED:
    return "size";
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_GOT_NOTHING:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_HTTP3:
    return "network";
  default:
    return "other";
  }
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

/* ---- libcurl callbacks (run inside socket_action on the task's worker) -- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
  struct fetch *st = ud;
  size_t n = size * nmemb;
  if (st->diag && !st->diag_armed) {
    st->diag_armed = true;
    rt_xfer_wake(st->xfer);
    return CURL_WRITEFUNC_PAUSE;
  }
  if (!st->checked_status) {
    long status = 0;
    curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &status);
    st->discard = !fetch_status_expected(&st->run->job, status);
    st->checked_status = true;
  }
  if (st->discard || n == 0)
    return n;
  int rc;
  if (st->f_open) {
    rc = output_file_write(&st->f, p, n);
  } else {
    rc = 0;
    for (size_t off = 0; off < n && rc == 0;) {
      ssize_t w = write(st->out_fd, p + off, n - off);
      if (w < 0 && errno != EINTR)
        rc = -1;
      else if (w > 0)
        off += (size_t)w;
    }
  }
  if (rc < 0) {
    st->write_errno = errno;
    return 0; /* CURLE_WRITE_ERROR */
  }
  st->bytes += n;
  return n;
}

/* ---- setup ------------------------------------------------------------------ */

static int open_output(struct fetch *st) {
  const struct fetch_cfg *cfg = st->run->cfg;
  if (cfg->od) {
    if (output_file_open(cfg->od, st->run->rel, cfg->create_dirs, false,
                         &st->f) < 0) {
      int e = errno;
      fail(st, "io",
           fmt("cannot create %s/%s.part: %s", output_dir_path(cfg->od),
               st->run->rel,
               e == ELOOP ? "refusing to follow a symbolic link"
                          : strerror(e)));
      return -1;
    }
    st->f_open = true;
    return 0;
  }
  if (!cfg->spool) {
    st->out_fd = STDOUT_FILENO;
    return 0;
  }
  const char *tmp = getenv("TMPDIR");
  int fd = open(tmp && *tmp ? tmp : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC,
                0600);
  if (fd < 0) {
    fail(st, "io", fmt("cannot create a spool file: %s", strerror(errno)));
    return -1;
  }
  st->out_fd = st->run->spool_fd = fd;
  return 0;
}

static int add_header(struct fetch *st, const char *h) {
  struct curl_slist *n = curl_slist_append(st->hdrs, h);
  if (!n)
    return -1;
  st->hdrs = n;
  return 0;
}

static int set_request(struct fetch *st) {
  const struct job *j = &st->run->job;
  const struct fetch_cfg *cfg = st->run->cfg;
  CURL *e = st->easy;
  for (size_t i = 0; i < cfg->nheaders; i++)
    if (add_header(st, cfg->headers[i]))
      return -1;
  for (size_t i = 0; i < j->nheaders; i++)
    if (add_header(st, j->headers[i]))
      return -1;
  if (st->hdrs)
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

static int build_easy(struct fetch *st) {
  const struct job *j = &st->run->job;
  const struct fetch_cfg *cfg = st->run->cfg;
  CURL *e = st->easy = curl_easy_init();
  if (!e || rt_xfer_create(e, &st->xfer) != 0)
    return -1;
  curl_easy_setopt(e, CURLOPT_URL, j->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, cfg->max_redirs);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, st);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, st->errbuf);
  curl_easy_setopt(e, CURLOPT_USERAGENT, cfg->user_agent);
  long tmo = j->timeout_ms >= 0 ? j->timeout_ms : cfg->timeout_ms;
  if (tmo > 0)
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, tmo);
  if (cfg->connect_timeout_ms > 0)
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
  if (cfg->insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (cfg->cacert)
    curl_easy_setopt(e, CURLOPT_CAINFO, cfg->cacert);
  return set_request(st);
}

static int prepare(struct fetch *st) {
  const struct fetch_cfg *cfg = st->run->cfg;
  const struct job *j = &st->run->job;
  if (fetch_job_listed(cfg->panic_ids, j))
    st->diag = DIAG_PANIC;
  else if (fetch_job_listed(cfg->hang_ids, j))
    st->diag = DIAG_HANG;
  if (open_output(st) < 0)
    return -1;
  if (build_easy(st) < 0) {
    fail(st, "other", fmt("out of memory setting up the transfer"));
    return -1;
  }
  return 0;
}

/* ---- the transfer and its outcome --------------------------------------------- */

static int await_xfer(rt_cx *cx, struct fetch *st) {
  int rc = rt_xfer_poll(cx, st->xfer, &st->code);
  if (rc == RT_PENDING && st->diag_armed && st->diag == DIAG_PANIC) {
    st->panicking = true;
    const struct job *j = &st->run->job;
    if (j->id)
      rt_panic("injected panic (JFETCH_PANIC_JOB) in job \"%s\", "
               "mid-transfer", j->id);
    rt_panic("injected panic (JFETCH_PANIC_JOB) in job %" PRIu64
             ", mid-transfer", j->index);
  }
  return rc;
}

static void classify(struct fetch *st) {
  struct job_result *r = &st->run->res;
  char *url = NULL;
  curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &r->http_status);
  curl_easy_getinfo(st->easy, CURLINFO_EFFECTIVE_URL, &url);
  free(r->effective_url);
  r->effective_url = url ? strdup(url) : NULL;
  r->bytes = st->bytes;
  if (st->code == CURLE_OK) {
    if (fetch_status_expected(&st->run->job, r->http_status)) {
      r->outcome = OUT_OK;
      r->error_kind = NULL;
      free(r->error);
      r->error = NULL;
    } else {
      r->bytes = 0;
      fail(st, "http_status", fmt("HTTP %ld", r->http_status));
    }
    return;
  }
  if (st->code == CURLE_WRITE_ERROR && st->write_errno) {
    fail(st, "io", fmt("writing the body: %s", strerror(st->write_errno)));
    return;
  }
  const char *msg = st->errbuf[0] ? st->errbuf : curl_easy_strerror(st->code);
  fail(st, fetch_error_kind(st->code), fmt("%s", msg));
}

static void finish(struct fetch *st) {
  struct job_result *r = &st->run->res;
  if (!st->f_open)
    return;
  st->f_open = false;
  if (r->outcome != OUT_OK) {
    output_file_abort(&st->f, false);
    return;
  }
  if (output_file_commit(&st->f, false) < 0)
    fail(st, "io", fmt("cannot move %s.part into place: %s", st->run->rel,
                       strerror(errno)));
}

static int fetch_poll(rt_cx *cx, void *p, void **out) {
  struct fetch *st = p;
  struct job_result *r = &st->run->res;
  (void)out;
  RT_BEGIN(st->pc);
  st->t0 = rt_now();
  if (prepare(st) == 0) {
    r->attempts = 1;
    st->errbuf[0] = '\0';
    RT_AWAIT(st->pc, st->rc = await_xfer(cx, st));
    if (st->rc != 0)
      fail(st, "other", fmt("the transfer could not start: %s",
                            rt_strerror(st->rc)));
    else
      classify(st);
  }
  finish(st);
  r->elapsed_ms = (rt_now() - st->t0) / 1000000u;
  RT_END(st->pc);
  return RT_READY;
}

static void fetch_drop(void *p) {
  struct fetch *st = p;
  if (st->f_open)
    output_file_abort(&st->f, !st->panicking);
  rt_xfer_destroy(st->xfer);
  curl_easy_cleanup(st->easy);
  curl_slist_free_all(st->hdrs);
}

const rt_task_type fetch_task_type = {"fetch", fetch_poll, fetch_drop, NULL};

size_t fetch_task_state_size(void) { return sizeof(struct fetch); }

void fetch_task_state(struct job_run *run, void *state, size_t *size) {
  struct fetch *st = state;
  memset(st, 0, sizeof(*st));
  st->run = run;
  st->out_fd = -1;
  st->f.fd = st->f.dirfd = -1;
  *size = sizeof(*st);
}
