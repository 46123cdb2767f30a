/*
 * run.c - a run: the validation pass, the reader, the root task.
 * budget: over 800 lines, six concerns; the split by concern is pending
 * (issue 11 item 1).
 *
 *   main thread: validate every re-readable source in a first streaming
 *     pass (parse errors, file names, duplicate ids and outputs), so bad
 *     input stops the run with exit 2 before anything is fetched; then
 *     start the runtime and block on the root task.
 *   reader thread: reads the jobs again (or for the first time, from
 *     stdin, validating as it goes) and hands them to the root through a
 *     bounded queue; blocking reads never stall the root.
 *   root task (on the main thread, in rt_block_on): keeps up to -j fetch
 *     tasks in a JoinSet, tagged with their job_run, and waits on whichever
 *     comes first: a finished task (join_next), a new job, an interrupt
 *     (a token the signal thread cancels), the --deadline timer.
 *
 * Exactly one record per job: a finished task's record comes from its
 * job_run, which the root owns, so a panicked or cancelled task is still
 * reported with its job's details.  When the run stops early (interrupt,
 * deadline) the jobs that never started are read to the end (for files)
 * and recorded as cancelled too.  From stdin a bad job stops the reading,
 * the jobs already started finish and are reported, and the exit is 2.
 */
#include "run.h"

#include "checksums.h"
#include "fetch.h"
#include "hosts.h"
#include "pace.h"
#include "progress.h"
#include "redact.h"
#include "report.h"
#include "seen.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FEED_CAP 1024

enum stop { STOP_NONE = 0, STOP_INTERRUPT, STOP_DEADLINE, STOP_BAD_INPUT };

/* The sources of a run, in order: command-line URLs, -i, --jobs. */
struct sources {
  jobs_src *src[3];
  size_t n;
};

struct checker {
  seen *ids;
  seen *outputs;
  bool derive;   /* outputs go to files: every job needs a name */
  uint64_t base; /* index of the current source's first job */
  uint64_t next; /* one past the highest index seen so far */
};

struct feed {
  pthread_mutex_t mu;
  pthread_cond_t room;
  struct job_run *q[FEED_CAP];
  size_t head, len;
  bool done, failed, stop;
  bool reader_waiting; /* on `room` */
  struct diag err;
  rt_notify *ready;
};

struct ctx {
  const struct cli_opts *o;
  struct sources srcs;
  bool validated; /* every source was checked by the first pass */
  struct checker chk;
  struct fetch_cfg cfg;
  struct feed feed;
  struct report *rep;
  rt_joinset *set;
  rt_token *stop_tok;
  size_t inflight;
  size_t window;   /* tasks in flight at most (> -j with --per-host) */
  hosts *hosts;    /* --per-host semaphores, or NULL */
  checksums *sums; /* --checksum, or NULL */
  struct progress *prog;
  struct progress_live live;
  uint64_t total; /* jobs counted by the first pass (this shard) */
  bool unflushed; /* stdout holds records or bodies not yet written */
  uint64_t flushed_at;
  enum stop stop;
  uint64_t deadline_ns;
  pthread_t reader;
  bool reader_started;
  pthread_t sig; /* waits for SIGINT/SIGTERM */
  bool sig_started;
  char *fixed_rel;      /* --output FILE: the leaf name of FILE */
  unsigned long errors; /* --check: input errors listed so far */
};

/* ---- checking a job -------------------------------------------------------
 */

static int check_fail(struct diag *d, const char *src, const struct job *j,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int check_fail(struct diag *d, const char *src, const struct job *j,
                      const char *fmt, ...) {
  /* FILE:LINE:COL where the job starts; <args>:N for the Nth URL */
  int n = j->line && j->col ? snprintf(d->text, sizeof(d->text),
                                       "%s:%u:%u: ", src, j->line, j->col)
          : j->line
              ? snprintf(d->text, sizeof(d->text), "%s:%u: ", src, j->line)
              : snprintf(d->text, sizeof(d->text), "%s:%" PRIu64 ": ", src,
                         j->index + 1);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->text + n, sizeof(d->text) - (size_t)n, fmt, ap);
  va_end(ap);
  return -1;
}

/* A job's index is its position in the input: its source's own index
 * (which counts bad jobs too, as the source's messages do) offset by the
 * jobs of the sources before it. */
static void number(struct checker *c, struct job *j) {
  j->index += c->base;
  if (j->index + 1 > c->next)
    c->next = j->index + 1;
}

static void next_source(struct checker *c) { c->base = c->next; }

/* --shard K/N: the job belongs to shard fnv1a64(id, else url) mod N.
 * The hash is fixed (FNV-1a, 64 bits, over the string's bytes), so every
 * machine splits the same input the same way. */
static bool in_shard(const struct cli_opts *o, const struct job *j) {
  if (!o->shard_n)
    return true;
  uint64_t h = 0xcbf29ce484222325u;
  for (const char *p = j->id ? j->id : j->url; *p; p++)
    h = (h ^ (unsigned char)*p) * 0x100000001b3u;
  return h % o->shard_n == o->shard_k;
}

/* Works out a job's output path and checks it and its id for clashes.
 * On success *rel is malloc'd (or NULL when bodies go to stdout). */
static int check_job(struct checker *c, const char *src, struct job *j,
                     char **rel, struct diag *d) {
  *rel = NULL;
  if (j->id) {
    uint64_t first;
    int r = seen_add(c->ids, j->id, j->index, &first);
    if (r == 1)
      return check_fail(d, src, j,
                        "job #%" PRIu64 ": id \"%s\" is already "
                        "job #%" PRIu64 "'s: ids must be unique",
                        j->index, j->id, first);
    if (r < 0)
      return check_fail(d, src, j, "out of memory");
  }
  if (!c->derive)
    return 0;
  const char *why;
  char *name =
      j->output ? strdup(j->output) : output_name_from_url(j->url, &why);
  if (!name && j->output)
    return check_fail(d, src, j, "out of memory");
  if (!name) {
    char *own;
    const char *url = redact_url(j->url, &own);
    check_fail(d, src, j,
               "job #%" PRIu64 ": cannot name a file "
               "after \"%s\": %s; give the job an \"output\"",
               j->index, url, why);
    free(own);
    return -1;
  }
  size_t n = strlen(name);
  bool is_part = n > 5 && !strcmp(name + n - 5, ".part");
  char alt[JOB_MAX_PATH + 8];
  if (is_part)
    snprintf(alt, sizeof(alt), "%.*s", (int)(n - 5), name);
  else
    snprintf(alt, sizeof(alt), "%s.part", name);
  uint64_t first;
  int r = seen_find(c->outputs, alt, &first)
              ? 1
              : seen_add(c->outputs, name, j->index, &first);
  if (r != 0) {
    if (r < 0)
      check_fail(d, src, j, "out of memory");
    else
      check_fail(d, src, j,
                 "job #%" PRIu64 ": \"%s\" is already written "
                 "by job #%" PRIu64 " (as its file or its .part): give one "
                 "of them another \"output\"",
                 j->index, name, first);
    free(name);
    return -1;
  }
  *rel = name;
  return 0;
}

/* Numbers and checks one job of a checking pass, then frees it: 1 if it
 * is valid and in this shard, 0 if valid and not, -1 with d set. */
static int check_next(struct ctx *c, jobs_src *s, struct job *j,
                      struct diag *d) {
  number(&c->chk, j);
  char *rel;
  int rc = check_job(&c->chk, jobs_src_name(s), j, &rel, d);
  if (rc == 0)
    rc = in_shard(c->o, j);
  free(rel);
  job_free(j);
  return rc;
}

/* The id and output sets of a checking pass.  -1 on ENOMEM. */
static int checker_init(struct checker *chk, bool derive) {
  chk->ids = seen_create();
  chk->outputs = seen_create();
  chk->derive = derive;
  return chk->ids && chk->outputs ? 0 : -1;
}

/* ---- sources ----------------------------------------------------------------
 */

/* Opens the next source into s->src[s->n]: kept only if it opened. */
static int open_one(struct sources *s, const char *path, int fmt,
                    struct diag *d) {
  if (jobs_src_open(path, fmt, &s->src[s->n], d) < 0)
    return -1;
  s->n++;
  return 0;
}

static int open_sources(struct ctx *c, struct diag *d) {
  const struct cli_opts *o = c->o;
  struct sources *s = &c->srcs;
  if (o->nurls && jobs_src_open_args(o->urls, o->nurls, &s->src[s->n]))
    return snprintf(d->text, sizeof(d->text), "out of memory"), -1;
  s->n += o->nurls ? 1 : 0;
  if (o->input_file && open_one(s, o->input_file, JOBS_TEXT, d) < 0)
    return -1;
  if (o->jobs_file) {
    int fmt = o->jobs_format;
    if (fmt < 0)
      fmt = jobs_format_from_name(o->jobs_file);
    if (fmt < 0)
      fmt = JOBS_JSON;
    if (open_one(s, o->jobs_file, fmt, d) < 0)
      return -1;
  }
  return 0;
}

static void close_sources(struct sources *s) {
  for (size_t i = 0; i < s->n; i++)
    jobs_src_close(s->src[i]);
  s->n = 0;
}

/* ---- the checking pass ----------------------------------------------------
 *
 * One code path decides what input is bad, for --check and for the run
 * alike, so that --check accepts exactly what the run accepts: the run
 * stops at the first error (exit 2, nothing fetched), --check lists each
 * one and reads on.  The order is the same in both, so the run's message
 * is --check's first.  Only jobs from a source that cannot be re-read
 * (stdin) differ in time: the run checks them as it reads them, by the
 * same check_job, while --check reads them here.
 */

#define CHECK_MAX_LISTED 1000

static void check_error(unsigned long *errors, const struct diag *d) {
  if (++*errors <= CHECK_MAX_LISTED)
    fprintf(stderr, "jfetch: %s\n", d->text);
}

/* An error of the pass: -1 for the run (stop), 0 for --check (listed). */
static int input_error(struct ctx *c, const struct diag *d) {
  if (!c->o->check)
    return -1;
  check_error(&c->errors, d);
  return 0;
}

/* Bodies go to stdout: -O -, or one URL argument and nothing else
 * naming where files go (curl's habit).  --format/-w and --json do not
 * change that: as with curl -w, the body comes first, then the record. */
static bool stdout_mode(const struct cli_opts *o) {
  if (o->output && !strcmp(o->output, "-"))
    return true;
  return !o->output && !o->output_dir && o->nurls == 1 && !o->input_file &&
         !o->jobs_file;
}

/* -O FILE (not "-"): one named file, whatever the jobs' URLs say. */
static bool fixed_output(const struct cli_opts *o) {
  return o->output && strcmp(o->output, "-");
}

/* Names are derived (and checked for clashes) only when files are
 * written under an output directory: not for stdout or -O FILE. */
static bool derives_names(const struct cli_opts *o) {
  return !stdout_mode(o) && !fixed_output(o);
}

static int one_job_only(struct diag *d) {
  snprintf(d->text, sizeof(d->text),
           "--output FILE takes exactly one job (use --output-dir for "
           "more)");
  return -1;
}

/* What -O FILE needs before any job is read: a file name, and sources
 * that can be counted before the run (not stdin). */
static int check_fixed_output(struct ctx *c, struct diag *d) {
  const char *o = c->o->output;
  if (!fixed_output(c->o))
    return 0;
  const char *slash = strrchr(o, '/');
  if (!(slash ? slash[1] : o[0])) {
    char q[JOBS_QUOTE_MAX + 16];
    snprintf(d->text, sizeof(d->text), "--output: %s names no file",
             jobs_quote(q, sizeof(q), o, strlen(o)));
    return -1;
  }
  for (size_t i = 0; i < c->srcs.n; i++)
    if (!jobs_src_seekable(c->srcs.src[i]))
      return one_job_only(d);
  return 0;
}

/* Checks every job of one source, counting those of this shard. */
static int validate_source(struct ctx *c, jobs_src *s, uint64_t *total,
                           struct diag *d) {
  struct job j;
  int rc;
  while ((rc = jobs_src_next(s, &j, d)) != 0) {
    if (rc > 0)
      rc = check_next(c, s, &j, d);
    if (rc >= 0)
      *total += (uint64_t)rc;
    else if (input_error(c, d) < 0)
      return -1;
  }
  return 0;
}

/* Reads the sources through, counting jobs into *total: the run reads
 * the re-readable ones (then rewinds them for the reader thread), --check
 * all of them. */
static int validate(struct ctx *c, uint64_t *total, struct diag *d) {
  c->validated = true;
  for (size_t i = 0; i < c->srcs.n; i++) {
    jobs_src *s = c->srcs.src[i];
    if (!jobs_src_seekable(s)) {
      c->validated = false;
      if (!c->o->check)
        continue; /* checked as the reader thread reads it */
    }
    if (validate_source(c, s, total, d) < 0)
      return -1;
    if (!c->o->check && jobs_src_rewind(s) < 0)
      return snprintf(d->text, sizeof(d->text), "%s: cannot read it again",
                      jobs_src_name(s)),
             -1;
    next_source(&c->chk);
  }
  c->chk.base = c->chk.next = 0;
  return 0;
}

/* Everything the input decides, in one order for --check and the run:
 * -1 with d set where the run stops (for --check: only when out of
 * memory), else 0, with --check's errors counted in c->errors. */
static int check_input(struct ctx *c, uint64_t *total, struct diag *d) {
  const struct cli_opts *o = c->o;
  if (checker_init(&c->chk, derives_names(o)) < 0)
    return snprintf(d->text, sizeof(d->text), "out of memory"), -1;
  if (o->format && report_format_check(o->format, d) < 0 &&
      input_error(c, d) < 0)
    return -1;
  if (o->checksum && checksums_load(o->checksum, &c->sums, d) < 0 &&
      input_error(c, d) < 0)
    return -1;
  if (open_sources(c, d) < 0)
    return input_error(c, d); /* --check too reads no further */
  if (check_fixed_output(c, d) < 0 && input_error(c, d) < 0)
    return -1;
  if (validate(c, total, d) < 0)
    return -1;
  if (fixed_output(o) && c->validated && *total != 1 &&
      input_error(c, (one_job_only(d), d)) < 0)
    return -1;
  return 0;
}

/* ---- the reader thread
 * -------------------------------------------------------- */

/* The reader hands jobs over in batches, and the root wakes it only when
 * the queue has drained to half: a job costs no lock round trip and no
 * wake-up of its own (one each per job made the queue the bottleneck of a
 * run of tiny responses). */
#define FEED_BATCH 64

static bool feed_push(struct feed *f, struct job_run **batch, size_t n) {
  pthread_mutex_lock(&f->mu);
  while (FEED_CAP - f->len < n && !f->stop) {
    f->reader_waiting = true;
    pthread_cond_wait(&f->room, &f->mu);
  }
  f->reader_waiting = false;
  bool ok = !f->stop;
  for (size_t i = 0; ok && i < n; i++)
    f->q[(f->head + f->len++) % FEED_CAP] = batch[i];
  pthread_mutex_unlock(&f->mu);
  if (ok)
    rt_notify_one(f->ready);
  return ok;
}

/* Takes up to max queued jobs. */
static size_t feed_pop(struct feed *f, struct job_run **out, size_t max) {
  pthread_mutex_lock(&f->mu);
  size_t n = f->len < max ? f->len : max;
  for (size_t i = 0; i < n; i++) {
    out[i] = f->q[f->head];
    f->head = (f->head + 1) % FEED_CAP;
  }
  f->len -= n;
  if (n && f->reader_waiting && f->len <= FEED_CAP / 2)
    pthread_cond_signal(&f->room);
  pthread_mutex_unlock(&f->mu);
  return n;
}

static void run_free(struct job_run *run) {
  job_free(&run->job);
  job_result_free(&run->res);
  if (run->spool_fd >= 0)
    close(run->spool_fd);
  free(run->spool_buf);
  free(run->rel);
  free(run);
}

/* Names a job's output without the duplicate checks (for jobs the first
 * pass already checked). */
static int name_only(struct ctx *c, jobs_src *s, struct job *j, char **rel,
                     struct diag *d) {
  const char *why = "out of memory";
  *rel = NULL;
  if (c->fixed_rel)
    *rel = strdup(c->fixed_rel);
  else if (!c->chk.derive)
    return 0;
  else if (j->output)
    *rel = strdup(j->output);
  else
    *rel = output_name_from_url(j->url, &why);
  if (!*rel) {
    char *own;
    const char *url = redact_url(j->url, &own);
    check_fail(d, jobs_src_name(s), j, "cannot name a file after \"%s\": %s",
               url, why);
    free(own);
    return -1;
  }
  return 0;
}

static struct job_run *make_run(struct ctx *c, jobs_src *s, struct job *j,
                                struct diag *d) {
  number(&c->chk, j);
  char *rel = NULL;
  int rc = jobs_src_seekable(s) || c->fixed_rel
               ? name_only(c, s, j, &rel, d)
               : check_job(&c->chk, jobs_src_name(s), j, &rel, d);
  if (rc < 0)
    return NULL;
  struct job_run *run = calloc(1, sizeof(*run));
  if (!run) {
    free(rel);
    snprintf(d->text, sizeof(d->text), "out of memory");
    return NULL;
  }
  run->job = *j;
  job_init(j);
  run->rel = rel;
  run->origin = jobs_src_is_job_file(s) ? jobs_src_name(s) : NULL;
  run->spool_fd = -1;
  run->cfg = &c->cfg;
  checksums_apply(c->sums, rel, &run->job);
  return run;
}

/* Reads every source, handing jobs to the root in batches; from a source
 * that can block (stdin) one at a time, so a slow producer's jobs start at
 * once. */
static void *reader_main(void *arg) {
  struct ctx *c = arg;
  struct feed *f = &c->feed;
  struct diag d = {{0}};
  bool failed = false;
  struct job_run *batch[FEED_BATCH];
  size_t n = 0;
  for (size_t i = 0; i < c->srcs.n && !failed && !f->stop; i++) {
    jobs_src *s = c->srcs.src[i];
    size_t want = jobs_src_seekable(s) ? FEED_BATCH : 1;
    struct job j;
    int rc;
    while ((rc = jobs_src_next(s, &j, &d)) == 1) {
      struct job_run *run = make_run(c, s, &j, &d);
      job_free(&j);
      if (!run) {
        failed = true;
        break;
      }
      if (!in_shard(c->o, &run->job)) {
        run_free(run);
        continue;
      }
      batch[n++] = run;
      if (n == want && !feed_push(f, batch, n))
        break;
      n = n == want ? 0 : n;
    }
    if (rc < 0)
      failed = true;
    next_source(&c->chk);
  }
  if (n && !feed_push(f, batch, n))
    for (size_t k = 0; k < n; k++)
      run_free(batch[k]);
  pthread_mutex_lock(&f->mu);
  f->done = true;
  f->failed = failed;
  f->err = d;
  pthread_mutex_unlock(&f->mu);
  rt_notify_one(f->ready);
  return NULL;
}

/* ---- the root task
 * --------------------------------------------------------------- */

static const char *stop_reason(enum stop s, bool started) {
  switch (s) {
  case STOP_INTERRUPT:
    return started ? "interrupted" : "interrupted before it started";
  case STOP_DEADLINE:
    return started ? "the --deadline passed"
                   : "the --deadline passed before "
                     "it started";
  case STOP_BAD_INPUT: return "the input had an error";
  default: return "cancelled";
  }
}

/* Writes a finished job's spooled body to stdout, whole: from memory, or
 * from the temporary file it spilled into. */
static void copy_spool(struct job_run *run) {
  if (run->spool_buf) {
    if (fwrite(run->spool_buf, 1, run->spool_len, stdout) != run->spool_len)
      return;
  } else if (run->spool_fd >= 0 && lseek(run->spool_fd, 0, SEEK_SET) == 0) {
    char buf[65536];
    ssize_t n;
    while ((n = read(run->spool_fd, buf, sizeof(buf))) > 0)
      if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
        break;
  }
  /* no flush: stdout is flushed whenever the root is about to wait */
}

static void record(struct ctx *c, struct job_run *run) {
  bool to_stdout = c->o->json || c->o->format ||
                   (run->res.outcome == OUT_OK && c->cfg.spool);
  /* no bar glued to what goes to stdout */
  bool held = to_stdout && progress_hold(c->prog);
  if (run->res.outcome == OUT_OK && c->cfg.spool)
    copy_spool(run);
  report_record(c->rep, run);
  c->unflushed = true;
  progress_job_done(c->prog, run);
  if (held) {
    report_flush(c->rep);
    progress_release(c->prog);
  }
  /* once stopping, a second signal exits at once: keep nothing buffered */
  if (c->stop)
    report_flush(c->rep);
  run_free(run);
}

static void set_cancelled(struct ctx *c, struct job_result *r, bool started) {
  free(r->error);
  r->outcome = OUT_CANCELLED;
  r->error_kind = "cancelled";
  r->error = strdup(stop_reason(c->stop, started));
}

static void record_unstarted(struct ctx *c, struct job_run *run) {
  set_cancelled(c, &run->res, false);
  record(c, run);
}

static void finished(struct ctx *c, rt_join *j) {
  struct job_run *run = (struct job_run *)(uintptr_t)j->tag;
  struct job_result *r = &run->res;
  c->inflight--;
  if (run->host)
    hosts_put(c->hosts, run->host);
  if (j->status != RT_JOIN_OK) {
    if (j->status == RT_JOIN_PANICKED) {
      free(r->error);
      r->outcome = OUT_PANICKED;
      r->error_kind = "panic";
      r->error = j->panic;
      j->panic = NULL;
    } else {
      set_cancelled(c, r, true);
    }
    r->bytes = 0;
    r->elapsed_ms = (rt_now() - run->start_ns) / 1000000u;
  }
  record(c, run);
}

static void spawn_one(struct ctx *c, struct job_run *run) {
  if (c->stop) {
    record_unstarted(c, run);
    return;
  }
  if (c->hosts && (run->host = hosts_get(c->hosts, run->job.url)))
    run->host_sem = hosts_sem(run->host);
  _Alignas(max_align_t) unsigned char state[FETCH_STATE_MAX];
  size_t size;
  fetch_task_state(run, state, &size);
  run->start_ns = rt_now();
  int rc =
      rt_joinset_spawn(c->set, &fetch_task_type, state, size, (uintptr_t)run);
  if (rc != 0) {
    if (run->host)
      hosts_put(c->hosts, run->host);
    run->res.outcome = OUT_APP_ERROR;
    run->res.error_kind = "other";
    run->res.error = strdup(rt_strerror(rc));
    record(c, run);
    return;
  }
  c->inflight++;
}

static void spawn_ready(struct ctx *c) {
  struct job_run *batch[FEED_BATCH];
  for (;;) {
    size_t room = c->stop                   ? FEED_BATCH
                  : c->window > c->inflight ? c->window - c->inflight
                                            : 0;
    size_t n =
        room ? feed_pop(&c->feed, batch, room < FEED_BATCH ? room : FEED_BATCH)
             : 0;
    if (n == 0)
      return;
    for (size_t i = 0; i < n; i++)
      spawn_one(c, batch[i]);
  }
}

static void stop_now(struct ctx *c, enum stop why) {
  c->stop = why;
  progress_stop(c->prog, why == STOP_DEADLINE ? "deadline" : "interrupted");
  rt_joinset_abort_all(c->set);
  /* stdin may never end: stop reading it (the run no longer waits for the
   * reader, which may sit in read() until the process exits); files are
   * read to the end so every job gets its record */
  pthread_mutex_lock(&c->feed.mu);
  if (!c->validated)
    c->feed.stop = true;
  pthread_cond_broadcast(&c->feed.room);
  pthread_mutex_unlock(&c->feed.mu);
}

static bool feed_finished(struct ctx *c) {
  pthread_mutex_lock(&c->feed.mu);
  bool fin = (c->feed.done || c->feed.stop) && c->feed.len == 0;
  bool failed = c->feed.done && c->feed.failed;
  pthread_mutex_unlock(&c->feed.mu);
  if (failed && c->stop == STOP_NONE)
    c->stop = STOP_BAD_INPUT;
  return fin;
}

/* stdout is flushed at most every FLUSH_NS while output is pending:
 * prompt for a reader, and no write() per record when jobs finish by the
 * thousand. */
#define FLUSH_NS 100000000u

static void maybe_flush(struct ctx *c, bool now) {
  if (!c->unflushed)
    return;
  uint64_t t = rt_now();
  if (now || t - c->flushed_at >= FLUSH_NS) {
    report_flush(c->rep);
    c->unflushed = false;
    c->flushed_at = t;
  }
}

static int wait_any(rt_cx *cx, struct ctx *c) {
  rt_join j;
  if (c->inflight && rt_joinset_join_next(cx, c->set, &j) == 0) {
    finished(c, &j);
    rt_join_clear(&j);
    return RT_READY;
  }
  if (!c->stop && rt_token_wait(cx, c->stop_tok) == 0) {
    stop_now(c, STOP_INTERRUPT);
    return RT_READY;
  }
  if (!c->stop && c->deadline_ns &&
      rt_sleep_until(cx, c->deadline_ns) == RT_READY) {
    stop_now(c, STOP_DEADLINE);
    return RT_READY;
  }
  if (c->stop || c->inflight < c->window) {
    if (rt_notify_wait(cx, c->feed.ready) == RT_READY)
      return RT_READY;
  }
  uint64_t tick = progress_next_tick(c->prog);
  if (tick && rt_sleep_until(cx, tick) == RT_READY)
    return RT_READY;
  if (c->unflushed && rt_sleep_until(cx, c->flushed_at + FLUSH_NS) == RT_READY)
    return RT_READY;
  return RT_PENDING;
}

struct root {
  int pc;
  struct ctx *c;
};

static int root_poll(rt_cx *cx, void *p, void **out) {
  struct root *st = p;
  struct ctx *c = st->c;
  (void)out;
  RT_BEGIN(st->pc);
  for (;;) {
    spawn_ready(c);
    if (c->inflight == 0 && feed_finished(c))
      break;
    if (c->stop == STOP_BAD_INPUT && c->inflight == 0)
      break;
    maybe_flush(c, false);
    progress_tick(c->prog, false);
    RT_AWAIT(st->pc, wait_any(cx, c));
  }
  maybe_flush(c, true);
  RT_END(st->pc);
  return RT_READY;
}

static const rt_task_type root_type = {"root", root_poll, NULL, NULL};

/* ---- signals
 * ---------------------------------------------------------------------- */

/* The thread that takes SIGINT and SIGTERM: the first cancels the run's
 * token (jobs end as interrupted, reports are written), the second exits
 * at once.  The end of the run stops it with SIG_STOP_THREAD sent to it
 * alone (pthread_cancel would do, but unwinding a thread by cancellation
 * leaves sanitizers' stack bookkeeping stale). */
#define SIG_STOP_THREAD SIGRTMIN
static atomic_bool sig_stopping; /* so a stray SIGRTMIN from outside is
                                    ignored, not taken as the stop */

static void sigs_of(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIG_STOP_THREAD);
}

static void *signal_main(void *arg) {
  rt_token *tok = arg;
  sigset_t set;
  sigs_of(&set);
  int sig = 0;
  for (int got = 0; got < 2;) {
    if (sigwait(&set, &sig) != 0)
      return NULL;
    if (sig == SIG_STOP_THREAD) {
      if (atomic_load(&sig_stopping))
        return NULL;
      continue;
    }
    if (got++ == 0)
      rt_token_cancel(tok);
  }
  static const char msg[] = "jfetch: interrupted again, exiting now\n";
  if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
    _exit(EXIT_INTERRUPTED);
  _exit(EXIT_INTERRUPTED);
}

static void block_signals(void) {
  sigset_t set;
  sigs_of(&set);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* a write past the file-size limit then fails with EFBIG: one job's io
   * error, not the death of the whole run */
  signal(SIGXFSZ, SIG_IGN);
}

/* ---- setup
 * ------------------------------------------------------------------------- */

static void setup_output(struct ctx *c, uint64_t total, struct report_cfg *rc) {
  const struct cli_opts *o = c->o;
  bool to_stdout = stdout_mode(o);
  memset(rc, 0, sizeof(*rc));
  rc->json = o->json ? stdout : NULL;
  rc->format = o->format;
  rc->shard_k = o->shard_k;
  rc->shard_n = o->shard_n;
  rc->failures = o->quiet ? stderr : NULL;
  if (to_stdout) {
    c->cfg.spool = !(c->validated && total == 1);
    rc->stdout_path = "-";
    return;
  }
  const char *dir = o->output_dir;
  if (o->output) /* one job, from a re-readable source (check_input) */
    rc->stdout_path = o->output;
  /* a job file's output_dir was checked by its reader */
  for (size_t i = 0; i < c->srcs.n; i++) {
    const char *fdir = jobs_src_output_dir(c->srcs.src[i]);
    if (!dir && !o->output)
      dir = fdir;
  }
  if (!dir)
    dir = ".";
  rc->path_base = dir;
}

/* --check: would output_dir_open(dir) succeed?  It makes what is
 * missing, so every part of dir that exists must be a directory, and the
 * directory the first missing part goes in must be writable.  Creates
 * nothing.  0, or -1 with errno set. */
static int probe_dir(char *dir) {
  struct stat st;
  bool whole = true;
  for (;;) {
    if (stat(dir, &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        return (errno = ENOTDIR), -1;
      /* output_dir_open opens it O_RDONLY, or makes a directory in it */
      return access(dir, whole ? R_OK : W_OK | X_OK);
    }
    if (errno != ENOENT)
      return -1;
    char *slash = strrchr(dir, '/');
    while (slash && slash > dir && slash[-1] == '/')
      slash--;
    if (!slash)
      strcpy(dir, ".");
    else
      slash[slash == dir] = '\0'; /* "/x" -> "/" */
    whole = false;
  }
}

/* Opens (creates) the directory the files go in: -o, a job file's
 * output_dir, or -O FILE's directory; --check only probes it.  The run
 * and --check say the same. */
static int open_output_dir(struct ctx *c, const struct report_cfg *rc,
                           struct diag *d) {
  if (!rc->path_base)
    return 0;
  char *dir = strdup(c->o->output ? c->o->output : rc->path_base);
  if (dir && c->o->output) {
    char *slash = strrchr(dir, '/');
    if (!slash)
      strcpy(dir, ".");
    else
      slash[slash == dir] = '\0'; /* "/f" -> "/" */
  }
  if (!dir)
    return snprintf(d->text, sizeof(d->text), "out of memory"), -1;
  char *probe = c->o->check ? strdup(dir) : NULL;
  int rcode = c->o->check ? (probe ? probe_dir(probe) : (errno = ENOMEM, -1))
                          : output_dir_open(dir, &c->cfg.od);
  if (rcode < 0)
    snprintf(d->text, sizeof(d->text),
             "cannot create the output directory "
             "'%s': %s",
             dir, strerror(errno));
  free(probe);
  free(dir);
  return rcode;
}

/* All that --check and the run decide before the run: the checking pass,
 * then where the files go. */
static int check_pass(struct ctx *c, uint64_t *total, struct report_cfg *rc,
                      struct diag *d) {
  if (check_input(c, total, d) < 0)
    return -1;
  setup_output(c, *total, rc);
  if (open_output_dir(c, rc, d) < 0 && input_error(c, d) < 0)
    return -1;
  return 0;
}

static void fill_cfg(struct ctx *c) {
  const struct cli_opts *o = c->o;
  struct fetch_cfg *f = &c->cfg;
  f->connect_timeout_ms = o->connect_timeout_ms;
  f->timeout_ms = o->timeout_ms;
  f->retries = o->retries;
  f->retry_delay_ms = (uint64_t)o->retry_delay_ms;
  f->retry_max_time_ms = (uint64_t)o->retry_max_time_ms;
  f->speed_limit = o->speed_limit;
  f->speed_time = o->speed_time;
  f->max_redirs = o->max_redirs;
  f->max_filesize = o->max_filesize;
  f->limit_rate = o->limit_rate;
  f->limit_rate_total = o->limit_rate_total;
  f->concurrency = o->concurrency;
  f->create_dirs = o->create_dirs;
  f->resume = o->resume;
  f->skip_existing = o->skip_existing;
  f->target = o->output && strcmp(o->output, "-") ? o->output : NULL;
  f->do_fsync = o->do_fsync;
  f->live = &c->live;
  f->verbose = o->verbosity > 0;
  f->user_agent = o->user_agent ? o->user_agent : "jfetch/" JFETCH_VERSION;
  f->headers = o->headers;
  f->nheaders = o->nheaders;
  f->insecure = o->insecure;
  f->cacert = o->cacert;
  const char *tmp = getenv("TMPDIR");
  f->spool_dir = tmp && *tmp ? tmp : "/tmp";
  f->panic_ids = getenv("JFETCH_PANIC_JOB");
  f->hang_ids = getenv("JFETCH_HANG_JOB");
}

static int exit_status(struct ctx *c) {
  struct report_counts n;
  report_counts(c->rep, &n);
  if (c->stop == STOP_INTERRUPT)
    return EXIT_INTERRUPTED;
  if (c->stop == STOP_BAD_INPUT)
    return EXIT_BAD_INPUT;
  if (n.panicked || n.cancelled)
    return EXIT_TASK_FAILURES;
  return n.app_error ? EXIT_APP_ERRORS : EXIT_ALL_OK;
}

/* A body streamed straight to stdout (one job, not spooled) is written by
 * a worker, where the bar cannot step aside for it: on the terminal the
 * bar is on, the default is then no bar. */
static int progress_mode(const struct ctx *c) {
  const struct cli_opts *o = c->o;
  int mode = progress_mode_resolve(o->progress, o->quiet, o->verbosity > 0);
  if (mode == PROGRESS_BAR && o->progress == PROGRESS_AUTO && stdout_mode(o) &&
      !c->cfg.spool && progress_same_tty())
    return PROGRESS_NONE;
  return mode;
}

/* Prepares everything before the runtime starts.  -1: bad input. */
static int prepare(struct ctx *c, struct diag *d) {
  struct report_cfg rc;
  uint64_t total = 0;
  if (check_pass(c, &total, &rc, d) < 0)
    return -1;
  if (fixed_output(c->o)) {
    const char *slash = strrchr(c->o->output, '/');
    c->fixed_rel = strdup(slash ? slash + 1 : c->o->output);
    if (!c->fixed_rel)
      return snprintf(d->text, sizeof(d->text), "out of memory"), -1;
  }
  c->rep = report_create(&rc);
  if (!c->rep)
    return -1;
  for (size_t i = 0; i < c->o->nreports; i++)
    if (report_add_file(c->rep, c->o->reports[i], d) < 0)
      return -1;
  c->total = c->validated ? total : 0;
  c->prog =
      progress_create(progress_mode(c), progress_color(), c->total, &c->live);
  fill_cfg(c);
  return c->prog ? 0 : -1;
}

/* Frees what the context holds, once the runtime is gone.  False if the
 * reader thread is still blocked on stdin: it then keeps using the
 * context, which must not be freed (the process exits next). */
static bool cleanup(struct ctx *c) {
  if (c->reader_started) {
    pthread_mutex_lock(&c->feed.mu);
    bool done = c->feed.done;
    pthread_mutex_unlock(&c->feed.mu);
    if (!done && !c->validated) {
      pthread_detach(c->reader);
      return false;
    }
    pthread_join(c->reader, NULL);
  }
  struct job_run *left[FEED_BATCH];
  for (size_t n; (n = feed_pop(&c->feed, left, FEED_BATCH));)
    for (size_t i = 0; i < n; i++)
      run_free(left[i]);
  close_sources(&c->srcs);
  seen_destroy(c->chk.ids);
  seen_destroy(c->chk.outputs);
  checksums_free(c->sums);
  report_destroy(c->rep);
  progress_destroy(c->prog);
  output_dir_close(c->cfg.od);
  free(c->fixed_rel);
  hosts_destroy(c->hosts);
  pace_destroy(c->cfg.pace);
  rt_sem_destroy(c->cfg.slots);
  rt_notify_destroy(c->feed.ready);
  rt_token_destroy(c->stop_tok);
  return true;
}

/* With --per-host, more tasks than -j slots may be in flight (those
 * waiting for their host hold no slot), so -j becomes a semaphore and the
 * root keeps a wider window of tasks. */
static int setup_limits(struct ctx *c) {
  const struct cli_opts *o = c->o;
  c->window = o->concurrency;
  if ((o->rate > 0 || o->per_host_rate > 0 || o->limit_rate_total) &&
      !(c->cfg.pace =
            pace_create(o->rate, o->per_host_rate, o->limit_rate_total)))
    return -1;
  if (!o->per_host)
    return 0;
  c->window = o->concurrency * 4 > 256 ? o->concurrency * 4 : 256;
  c->hosts = hosts_create(o->per_host);
  if (!c->hosts || rt_sem_create(o->concurrency, &c->cfg.slots) != 0)
    return -1;
  return 0;
}

static int run_root(struct ctx *c, rt_runtime *rt) {
  if (rt_notify_create(&c->feed.ready) || rt_token_create(NULL, &c->stop_tok) ||
      rt_joinset_create(&c->set) || setup_limits(c) < 0)
    return -1;
  rt_runtime_enter(rt);
  c->sig_started = pthread_create(&c->sig, NULL, signal_main, c->stop_tok) == 0;
  c->cfg.easy = fetch_easy_cache_create(rt_runtime_workers(rt));
  if (pthread_create(&c->reader, NULL, reader_main, c) != 0)
    return -1;
  c->reader_started = true;
  if (c->o->deadline_s > 0)
    c->deadline_ns = rt_now() + (uint64_t)(c->o->deadline_s * 1e9);
  struct root st = {0, c};
  rt_join j = {0};
  int rc = rt_block_on(rt, &root_type, &st, sizeof(st), &j);
  rt_join_clear(&j);
  return rc == 0 ? 0 : -1;
}

/* ---- --check
 * ------------------------------------------------------------------- */

/* Reads every source to its end through the run's own checking pass
 * (check_pass), listing every error: syntax, keys and values, URLs,
 * names, duplicate ids and outputs, what -O FILE needs, an output
 * directory that cannot be made.  Fetches nothing, creates nothing. */
static int check_all(struct ctx *c) {
  struct diag d = {{0}};
  struct report_cfg rc;
  uint64_t jobs = 0;
  if (check_pass(c, &jobs, &rc, &d) < 0) {
    fprintf(stderr, "jfetch: %s\n", d.text);
    return EXIT_BAD_INPUT;
  }
  unsigned long errors = c->errors;
  if (errors > CHECK_MAX_LISTED)
    fprintf(stderr, "jfetch: ... and %lu more errors\n",
            errors - CHECK_MAX_LISTED);
  fprintf(stderr, "jfetch: --check: %" PRIu64 " valid job%s%s, %lu error%s\n",
          jobs, jobs == 1 ? "" : "s", c->o->shard_n ? " in this shard" : "",
          errors, errors == 1 ? "" : "s");
  return errors ? EXIT_BAD_INPUT : EXIT_ALL_OK;
}

int run_main(const struct cli_opts *o, bool *abandoned) {
  struct ctx *c = calloc(1, sizeof(*c));
  *abandoned = false;
  struct diag d = {{0}};
  if (!c)
    return EXIT_BAD_INPUT;
  c->o = o;
  pthread_mutex_init(&c->feed.mu, NULL);
  pthread_cond_init(&c->feed.room, NULL);
  if (o->check) {
    int status = check_all(c);
    cleanup(c);
    free(c);
    return status;
  }
  block_signals();
  if (prepare(c, &d) < 0) {
    fprintf(stderr, "jfetch: %s\n", d.text[0] ? d.text : "out of memory");
    cleanup(c);
    free(c);
    return EXIT_BAD_INPUT;
  }
  rt_config cfg;
  rt_config_init(&cfg);
  cfg.workers = o->threads;
  rt_runtime *rt;
  uint64_t t0 = rt_now();
  int status = EXIT_BAD_INPUT;
  if (rt_runtime_create(&cfg, &rt) != 0) {
    fprintf(stderr, "jfetch: cannot start the runtime\n");
  } else {
    if (run_root(c, rt) == 0) {
      double wall = (double)(rt_now() - t0) / 1e9;
      progress_finish(c->prog);
      if (c->stop == STOP_BAD_INPUT)
        fprintf(stderr, "jfetch: %s\n", c->feed.err.text);
      status = exit_status(c);
      if (!o->quiet)
        report_summary(c->rep, stderr, wall);
      if (report_close(c->rep, wall, status) < 0 && status == EXIT_ALL_OK)
        status = EXIT_APP_ERRORS;
    } else {
      fprintf(stderr, "jfetch: cannot start the run: out of memory\n");
    }
    if (c->sig_started) {
      atomic_store(&sig_stopping, true);
      if (pthread_kill(c->sig, SIG_STOP_THREAD) != 0)
        pthread_cancel(c->sig); /* not expected: the thread is alive */
      pthread_join(c->sig, NULL);
    }
    rt_joinset_destroy(c->set);
    /* the cached easy handles go after the workers (their only users) and
     * before the runtime's share handle, which they are still attached to */
    rt_runtime_shutdown(rt, UINT32_MAX);
    fetch_easy_cache_destroy(c->cfg.easy);
    rt_runtime_destroy(rt);
  }
  if (!cleanup(c)) {
    *abandoned = true; /* the reader still uses c and its checksums */
    return status;
  }
  free(c);
  return status;
}
