/*
 * rt_test_util.h - shared helpers for the runtime's Criterion tests.
 *
 * Conventions
 *   - Poll functions run on worker threads, where a Criterion assertion must
 *     not be used (it longjmps out of the test thread).  Inside tasks use
 *     CHECK(cond): it records the first failure in an atomic slot that
 *     env_finish() (on the test thread) turns into a test failure.
 *   - Every test builds its environment with env_start() (counts the open
 *     fds, creates the runtime, enters it on the test thread) and ends with
 *     env_finish() (optionally checks that no task is live, shuts down with a
 *     timeout expecting 0, destroys, and compares the fd count).
 *   - Everything shared between a task and the test thread is a C11 atomic,
 *     or is handed over through a join (which synchronizes).
 */
#ifndef RT_TEST_UTIL_H
#define RT_TEST_UTIL_H

#include "rt.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define UNUSED_ __attribute__((unused))

/* Criterion timeouts, in seconds: generous for the TSan build (~10x). */
#define T_SHORT 60
#define T_LONG 300

#define MS(n) ((uint64_t)(n)*1000000ull)
#define US(n) ((uint64_t)(n)*1000ull)

/* ---- cheap assertions ---------------------------------------------------- */

/* ctest runs every test with --full-stats, where each *passing* cr_assert
 * is reported to the runner (an IPC round trip): thousands of them in a
 * loop cost seconds.  REQUIRE only calls into Criterion when it fails, so
 * loops and the helpers below use it.  fmt must be a string literal. */
#define REQUIRE(cond, fmt, ...)                                                \
  do {                                                                         \
    if (!(cond))                                                               \
      cr_assert_fail("(%s) is false: " fmt, #cond, ##__VA_ARGS__);             \
  } while (0)

/* ---- in-task checks ---------------------------------------------------- */

static atomic_int g_check_failures;
static char g_check_msg[512];

static inline void check_fail_(const char *file, int line, const char *what) {
  if (atomic_fetch_add(&g_check_failures, 1) == 0)
    snprintf(g_check_msg, sizeof g_check_msg, "%s:%d: CHECK(%s) failed", file,
             line, what);
}

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      check_fail_(__FILE__, __LINE__, #cond);                                  \
  } while (0)

/* Asserts (test thread only) that no CHECK failed so far. */
static inline void assert_no_check_failures(void) {
  int n = atomic_load(&g_check_failures);
  cr_assert_eq(n, 0, "%d in-task check(s) failed; first: %s", n, g_check_msg);
}

/* ---- time -------------------------------------------------------------- */

static inline void sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}
static inline void sleep_ms(unsigned ms) { sleep_ns(MS(ms)); }

/* Polls `cond` every 200 us for up to `secs` seconds; asserts it became
 * true.  Test thread only. */
#define WAIT_FOR(cond, secs, ...)                                              \
  do {                                                                         \
    uint64_t wf_dl_ = rt_now() + (uint64_t)((secs)*1e9);                       \
    while (!(cond) && rt_now() < wf_dl_)                                       \
      sleep_ns(US(200));                                                       \
    REQUIRE((cond), __VA_ARGS__);                                              \
  } while (0)

/* A deadline an hour away: never reached while a test runs. */
static inline uint64_t far_deadline(void) {
  return rt_now() + 3600ull * 1000000000ull;
}

/* ---- fds and threads ----------------------------------------------------- */

static inline int count_dir(const char *path) {
  DIR *d = opendir(path);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}
static inline int count_fds(void) { return count_dir("/proc/self/fd"); }
static inline int count_threads(void) { return count_dir("/proc/self/task"); }

/* ---- the per-test environment ---------------------------------------------
 */

typedef struct tenv {
  rt_runtime *rt;
  int fds;
} tenv;

static inline rt_runtime *env_start_cfg(tenv *e, const rt_config *cfg) {
  atomic_store(&g_check_failures, 0);
  g_check_msg[0] = 0;
  e->fds = count_fds();
  cr_assert_gt(e->fds, 0, "cannot read /proc/self/fd");
  e->rt = NULL;
  int rc = rt_runtime_create(cfg, &e->rt);
  cr_assert_eq(rc, 0, "rt_runtime_create: %s", rt_strerror(rc));
  cr_assert_not_null(e->rt);
  if (cfg && cfg->workers)
    cr_assert_eq(rt_runtime_workers(e->rt), cfg->workers);
  rt_runtime_enter(e->rt);
  return e->rt;
}

static inline rt_runtime *env_start(tenv *e, unsigned workers,
                                    unsigned max_blocking) {
  rt_config c;
  rt_config_init(&c);
  c.workers = workers;
  c.max_blocking = max_blocking;
  return env_start_cfg(e, &c);
}

/* Waits (bounded) until every task has ended. */
static inline void env_wait_idle(tenv *e, double secs) {
  WAIT_FOR(rt_runtime_live_tasks(e->rt) == 0, secs,
           "tasks still live after %.1f s: %zu", secs,
           rt_runtime_live_tasks(e->rt));
}

/* all_joined: every task was joined or observed finished, so no task may be
 * live before shutdown. */
static inline void env_finish(tenv *e, bool all_joined) {
  if (all_joined) {
    size_t live = rt_runtime_live_tasks(e->rt);
    cr_assert_eq(live, 0, "live tasks before shutdown: %zu", live);
  }
  int rc = rt_runtime_shutdown(e->rt, 20000);
  cr_assert_eq(rc, 0, "rt_runtime_shutdown: %s", rt_strerror(rc));
  size_t live = rt_runtime_live_tasks(e->rt);
  cr_assert_eq(live, 0, "live tasks after shutdown: %zu", live);
  rt_runtime_destroy(e->rt);
  rt_runtime_exit();
  e->rt = NULL;
  assert_no_check_failures();
  int fds = count_fds();
  cr_assert_eq(fds, e->fds, "open fds: %d before the runtime, %d after", e->fds,
               fds);
}

/* ---- a gate: blocks a thread (a worker, a pool thread) until opened ------ */

typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool open;
  atomic_int entered; /* threads that reached gate_wait */
} gate;

static inline void gate_init(gate *g) {
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  g->open = false;
  atomic_init(&g->entered, 0);
}
static inline void gate_open(gate *g) {
  pthread_mutex_lock(&g->mu);
  g->open = true;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}
static inline void gate_wait(gate *g) {
  atomic_fetch_add(&g->entered, 1);
  pthread_mutex_lock(&g->mu);
  while (!g->open)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}
static inline void gate_destroy(gate *g) {
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
}

/* ---- common task types ------------------------------------------------------
 */

/* Blocks the worker thread that polls it until the gate opens; READY. */
typedef struct blocker_st {
  gate *g;
} blocker_st;
static inline int blocker_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  (void)out;
  blocker_st *st = s;
  gate_wait(st->g);
  return RT_READY;
}
static const rt_task_type blocker_type UNUSED_ = {"blocker", blocker_poll, NULL,
                                                  NULL};

/* Spawns a blocker and waits until a worker is inside it. */
static inline rt_handle *occupy_worker(gate *g) {
  int before = atomic_load(&g->entered);
  blocker_st b = {g};
  rt_handle *h = NULL;
  int rc = rt_spawn(&blocker_type, &b, sizeof b, &h);
  REQUIRE(rc == 0, "spawn blocker: %s", rt_strerror(rc));
  WAIT_FOR(atomic_load(&g->entered) > before, 10, "blocker never polled");
  return h;
}

/* Waits on a notify (forever if nobody notifies it).  `polled` counts polls
 * (incremented after the wait registered), `drops` counts drop calls. */
typedef struct nwait_st {
  rt_notify *n;
  atomic_int *polled;
  atomic_int *drops;
  atomic_int *done; /* set when the wait completed */
  intptr_t value;
} nwait_st;
static inline int nwait_poll(rt_cx *cx, void *s, void **out) {
  nwait_st *st = s;
  int rc = rt_notify_wait(cx, st->n);
  if (st->polled)
    atomic_fetch_add(st->polled, 1);
  if (rc == RT_PENDING)
    return RT_PENDING;
  CHECK(rc == 0);
  if (st->done)
    atomic_fetch_add(st->done, 1);
  *out = (void *)st->value;
  return RT_READY;
}
static inline void nwait_drop(void *s) {
  nwait_st *st = s;
  if (st->drops)
    atomic_fetch_add(st->drops, 1);
}
static const rt_task_type nwait_type UNUSED_ = {"nwait", nwait_poll, nwait_drop,
                                                NULL};

/* Sleeps until `deadline` (absolute rt_now() ns); output = value. */
typedef struct sleeper_st {
  uint64_t deadline;
  atomic_int *polled;
  atomic_int *drops;
  intptr_t value;
} sleeper_st;
static inline int sleeper_poll(rt_cx *cx, void *s, void **out) {
  sleeper_st *st = s;
  int rc = rt_sleep_until(cx, st->deadline);
  if (st->polled)
    atomic_fetch_add(st->polled, 1);
  if (rc == RT_PENDING)
    return RT_PENDING;
  CHECK(rc == 0);
  CHECK(rt_now() >= st->deadline);
  *out = (void *)st->value;
  return RT_READY;
}
static inline void sleeper_drop(void *s) {
  sleeper_st *st = s;
  if (st->drops)
    atomic_fetch_add(st->drops, 1);
}
static const rt_task_type sleeper_type UNUSED_ = {"sleeper", sleeper_poll,
                                                  sleeper_drop, NULL};

/* Returns `value` at once; counts polls and drops. */
typedef struct value_st {
  intptr_t value;
  atomic_int *polled;
  atomic_int *drops;
} value_st;
static inline int value_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  value_st *st = s;
  if (st->polled)
    atomic_fetch_add(st->polled, 1);
  *out = (void *)st->value;
  return RT_READY;
}
static inline void value_drop(void *s) {
  value_st *st = s;
  if (st->drops)
    atomic_fetch_add(st->drops, 1);
}
static const rt_task_type value_type UNUSED_ = {"value", value_poll, value_drop,
                                                NULL};

/* Sets bit w of *mask for the worker w running the caller (w < 32);
 * returns 0, so it can sit inside an RT_AWAIT expression. */
static inline int note_worker(atomic_uint *mask) {
  int w = rt_current_worker();
  if (w >= 0 && w < 32)
    atomic_fetch_or(mask, 1u << w);
  return 0;
}

/* An rt_timeout op: waits on the notify `arg`. */
static inline int op_notify(rt_cx *cx, void *arg) {
  return rt_notify_wait(cx, (rt_notify *)arg);
}

/* Ping-pong through two notifies: n times, waits on `mine`, counts, then
 * notifies `theirs`.  A lost wake-up hangs it. */
typedef struct pingpong_st {
  int pc, i, n;
  rt_notify *mine, *theirs;
  atomic_int *count;
} pingpong_st;
static inline int pingpong_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  pingpong_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  for (st->i = 0; st->i < st->n; st->i++) {
    RT_AWAIT(st->pc, rc = rt_notify_wait(cx, st->mine));
    CHECK(rc == 0);
    atomic_fetch_add(st->count, 1);
    rt_notify_one(st->theirs);
  }
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type pingpong_type UNUSED_ = {"pingpong", pingpong_poll,
                                                   NULL, NULL};

/* Spawn helpers for the test thread (which entered the runtime). */
static inline rt_handle *spawn_ok(const rt_task_type *type, const void *st,
                                  size_t size) {
  rt_handle *h = NULL;
  int rc = rt_spawn(type, st, size, &h);
  REQUIRE(rc == 0 && h, "rt_spawn: %s", rt_strerror(rc));
  return h;
}

static inline rt_join join_blocking(rt_handle *h) {
  rt_join j = {.status = -1};
  int rc = rt_handle_join_blocking(h, &j);
  REQUIRE(rc == 0, "rt_handle_join_blocking: %d", rc);
  return j;
}

static inline const char *join_status_name(int s) {
  switch (s) {
  case RT_JOIN_OK: return "OK";
  case RT_JOIN_PANICKED: return "PANICKED";
  case RT_JOIN_CANCELLED: return "CANCELLED";
  default: return "?";
  }
}

/* Joins and asserts the status (and for OK, the value). */
static inline void join_expect(rt_handle *h, int status, intptr_t value) {
  rt_join j = join_blocking(h);
  REQUIRE(j.status == status, "join status %s (panic: %s), expected %s",
          join_status_name(j.status), j.panic ? j.panic : "-",
          join_status_name(status));
  if (status == RT_JOIN_OK)
    REQUIRE((intptr_t)j.value == value, "join value %ld, expected %ld",
            (long)(intptr_t)j.value, (long)value);
  rt_join_clear(&j);
}

/* The only worker, held by a blocker from hold_worker to release_worker:
 * what is spawned, woken or aborted meanwhile waits for it. */
typedef struct held_worker {
  gate g;
  rt_handle *blocker;
} held_worker;
static inline void hold_worker(held_worker *w) {
  gate_init(&w->g);
  w->blocker = occupy_worker(&w->g);
}
/* Lets the blocker return, joins it and destroys the gate. */
static inline void release_worker(held_worker *w) {
  gate_open(&w->g);
  join_expect(w->blocker, RT_JOIN_OK, 0);
  gate_destroy(&w->g);
}

#endif /* RT_TEST_UTIL_H */
