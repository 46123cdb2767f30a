/*
 * fetch.h - the fetch task: one job, one task.
 *
 * The root task (run.c) owns a job_run per job in flight and lends it to
 * the job's fetch task, which fills `res` and never touches the run after
 * it ends (its drop function has run by then).  So whatever the task's
 * fate (OK, PANICKED, CANCELLED), the root still has the job and whatever
 * the task recorded, and writes exactly one record for it.
 */
#ifndef JFETCH_FETCH_H
#define JFETCH_FETCH_H

#include "job.h"
#include "output.h"

#include <rt.h>

struct progress_live;
struct pace;

enum outcome { OUT_OK = 0, OUT_APP_ERROR, OUT_PANICKED, OUT_CANCELLED };

struct job_result {
  int outcome;
  const char *error_kind; /* static; NULL when ok */
  char *error;            /* malloc'd; NULL when ok */
  long http_status;       /* 0: no response */
  uint64_t bytes;         /* body bytes received and kept */
  char *effective_url;    /* malloc'd; NULL: never connected */
  uint64_t elapsed_ms;
  unsigned attempts;
  bool skipped; /* --skip-existing found the file there */
};

/* Settings shared by every fetch task of a run (read-only while it runs). */
struct fetch_cfg {
  output_dir *od;             /* NULL: bodies go to standard output */
  const char *target;         /* -O FILE (the job's rel is its last component
                                 under od): links followed, devices written in
                                 place; NULL otherwise */
  bool spool;                 /* stdout with several jobs: spool each body */
  long connect_timeout_ms;    /* 0: libcurl's default */
  long timeout_ms;            /* per attempt, when the job sets none; 0: none */
  int retries;                /* when the job sets none */
  uint64_t retry_delay_ms;    /* backoff base: attempt k waits up to base*2^k */
  uint64_t retry_max_time_ms; /* no retry starts later than this; 0: none */
  long speed_limit;           /* bytes/s below which ... */
  long speed_time;            /* ... for this many seconds is a stall */
  long max_redirs;
  uint64_t max_filesize;     /* 0: none */
  uint64_t limit_rate;       /* bytes/s per transfer; 0: none */
  uint64_t limit_rate_total; /* bytes/s, all transfers; 0: none */
  unsigned concurrency;      /* -j: transfers sharing limit_rate_total */
  struct pace *pace;         /* --rate, --per-host-rate, the total meter */
  const char *user_agent;
  char *const *headers; /* -H, "Name: value" */
  size_t nheaders;
  bool insecure;
  const char *cacert;
  bool create_dirs;
  bool resume; /* --continue: append to an existing .part */
  bool skip_existing;
  bool do_fsync;
  const char *spool_dir;         /* spooled bodies spill here: $TMPDIR */
  rt_sem *slots;                 /* -j slots, when tasks may outnumber them */
  struct progress_live *live;    /* counters for the progress display */
  struct fetch_easy_cache *easy; /* reusable easy handles, per worker */
  bool verbose;                  /* -v: a line per attempt on stderr */
  const char *panic_ids;         /* JFETCH_PANIC_JOB, comma-separated */
  const char *hang_ids;          /* JFETCH_HANG_JOB */
};

struct job_run {
  struct job job;
  char *rel;          /* output path under od; NULL for stdout */
  const char *origin; /* its job file's name (jobs_src_name), or NULL */
  struct job_result res;
  int spool_fd;    /* stdout spool spilled to a file, -1 if none */
  char *spool_buf; /* stdout spool in memory (up to SPOOL_MEM) */
  size_t spool_len, spool_cap;
  uint64_t start_ns; /* when the root spawned its task */
  rt_sem *host_sem;  /* --per-host slots of its host, or NULL */
  struct host *host; /* the root's reference to that host entry */
  const struct fetch_cfg *cfg;
};

extern const rt_task_type fetch_task_type;

/* The state to spawn a fetch task with (copied in by rt_spawn), written
 * into state, which holds FETCH_STATE_MAX bytes aligned for any type. */
#define FETCH_STATE_MAX 1024
void fetch_task_state(struct job_run *run, void *state, size_t *size);

/* Names a CURLcode's class for error_kind. */
const char *fetch_error_kind(int curl_code);

/* True if a failure is worth another attempt: connection failures,
 * timeouts, resets and truncations; HTTP 408, 429, 500, 502, 503, 504. */
bool fetch_transient(int curl_code, long http_status);

/* The wait before attempt number `attempt` (2, 3, ...): uniformly random
 * in [0, min(cap, base * 2^(attempt-2))] (full jitter), or the server's
 * Retry-After if that is longer (capped too).  rnd is a caller-kept
 * xorshift state. */
uint64_t fetch_backoff_ms(uint64_t base_ms, unsigned attempt,
                          uint64_t retry_after_ms, uint32_t *rnd);

/* True if status is acceptable for job j (expect_status, else 2xx). */
bool fetch_status_expected(const struct job *j, long status);

/* True if id (or, for a job without an id, its decimal index) is listed
 * in the comma-separated list. */
bool fetch_job_listed(const char *list, const struct job *j);

void job_result_free(struct job_result *r);

/*
 * Easy handles kept per worker for the next job (curl_easy_reset between
 * jobs keeps their buffers and caches; connections live in the worker's
 * multi either way).  Slot w is used only by worker w's thread.  Destroy
 * after the runtime is gone.
 */
struct fetch_easy_cache *fetch_easy_cache_create(unsigned workers);
void fetch_easy_cache_destroy(struct fetch_easy_cache *c);

#endif
