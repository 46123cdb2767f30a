/*
 * bench_runtime.c - the jfetch runtime side of the runtime benchmark
 * (tests/bench/run_runtime_bench.sh; the Tokio side is tests/bench/tokio).
 *
 * The same scenarios with the same logic as tokio/src/main.rs: a runtime
 * with 2 workers, every scenario run as the root task of rt_block_on, so
 * every spawn comes from the main (block_on) thread.  One scenario per
 * process:
 *
 *     bench_runtime a|a2|b|c|d
 *
 *   a   1,000,000 trivial tasks (each bumps a counter and returns its
 *       index), handles kept in an array, joined in order: ns per task
 *       (spawn + wait until all finished + join, all timed except the RSS
 *       read) and RSS bytes per finished task held by its handle.
 *   a2  the same tasks through a JoinSet: ns per task.
 *   b   1,000,000 tasks pending on one notify that is never notified: RSS
 *       bytes per pending task, then ns per abort + join.
 *   c   100,000 tasks, every tenth panics: ns per task.
 *   d   two tasks ping-ponging over two channels of capacity 1, 1,000,000
 *       round trips: ns per round trip.
 *
 * Each measurement is printed as one line `<scenario> <metric> <value>`;
 * lines starting with `#` are comments.  A wrong result prints a message
 * and exits with status 1.  RSS figures include the handle array (8 bytes
 * per task), as on the Tokio side.
 */
#include "rt.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
  N_TASKS = 1000000, /* a, a2, b */
  N_PANIC = 100000,  /* c */
  N_ROUNDS = 1000000 /* d */
};

/* Incremented by every task of a / a2 when it runs, and by every task of b
 * just before its first wait. */
static atomic_size_t g_counter;

static _Noreturn void fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bench_runtime: FAILED: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* Resident set size in bytes, from /proc/self/statm (resident pages x page
 * size).  No stdio, so no allocation. */
static size_t rss_bytes(void) {
  char buf[256];
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail("open /proc/self/statm");
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    fail("read /proc/self/statm");
  buf[n] = '\0';
  unsigned long size = 0, resident = 0;
  if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
    fail("parse /proc/self/statm");
  return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static double per(uint64_t ns, size_t n) { return (double)ns / (double)n; }

static double rss_per(size_t before, size_t after, size_t n) {
  return ((double)after - (double)before) / (double)n;
}

/* ---- the tasks --------------------------------------------------------- */

/* a, a2: bump the counter, return the index. */
struct trivial_st {
  size_t i;
};

static int trivial_poll(rt_cx *cx, void *state, void **out) {
  (void)cx;
  struct trivial_st *st = state;
  atomic_fetch_add_explicit(&g_counter, 1, memory_order_relaxed);
  *out = (void *)(uintptr_t)st->i;
  return RT_READY;
}

static const rt_task_type trivial_type = {.name = "trivial",
                                          .poll = trivial_poll};

/* b: bump the counter, then wait on the notify forever. */
struct pending_st {
  int pc;
  rt_notify *n;
};

static int pending_poll(rt_cx *cx, void *state, void **out) {
  (void)out;
  struct pending_st *st = state;
  int rc;
  RT_BEGIN(st->pc);
  atomic_fetch_add_explicit(&g_counter, 1, memory_order_relaxed);
  RT_AWAIT(st->pc, rc = rt_notify_wait(cx, st->n));
  if (rc != RT_READY)
    fail("b: rt_notify_wait: %s", rt_strerror(rc));
  RT_END(st->pc);
  return RT_READY;
}

static const rt_task_type pending_type = {.name = "pending",
                                          .poll = pending_poll};

/* c: every tenth panics, the others return the index. */
static int maybe_panic_poll(rt_cx *cx, void *state, void **out) {
  (void)cx;
  struct trivial_st *st = state;
  if (st->i % 10 == 0)
    rt_panic("task %d", (int)st->i);
  *out = (void *)(uintptr_t)st->i;
  return RT_READY;
}

static const rt_task_type maybe_panic_type = {.name = "maybe_panic",
                                              .poll = maybe_panic_poll};

/* d: ping sends i, expects i + 1 back; pong answers v + 1. */
struct pingpong_st {
  int pc;
  size_t i;
  rt_chan *out_ch, *in_ch;
  void *item;
};

static int ping_poll(rt_cx *cx, void *state, void **out) {
  (void)out;
  struct pingpong_st *st = state;
  int rc;
  RT_BEGIN(st->pc);
  for (st->i = 0; st->i < N_ROUNDS; st->i++) {
    RT_AWAIT(st->pc,
             rc = rt_chan_send(cx, st->out_ch, (void *)(uintptr_t)st->i));
    if (rc != RT_READY)
      fail("ping: send: %s", rt_strerror(rc));
    RT_AWAIT(st->pc, rc = rt_chan_recv(cx, st->in_ch, &st->item));
    if (rc != RT_READY)
      fail("ping: recv: %s", rt_strerror(rc));
    if ((uintptr_t)st->item != st->i + 1)
      fail("ping: wrong reply %" PRIuPTR " to %zu", (uintptr_t)st->item, st->i);
  }
  RT_END(st->pc);
  return RT_READY;
}

static int pong_poll(rt_cx *cx, void *state, void **out) {
  (void)out;
  struct pingpong_st *st = state;
  int rc;
  RT_BEGIN(st->pc);
  for (st->i = 0; st->i < N_ROUNDS; st->i++) {
    RT_AWAIT(st->pc, rc = rt_chan_recv(cx, st->in_ch, &st->item));
    if (rc != RT_READY)
      fail("pong: recv: %s", rt_strerror(rc));
    RT_AWAIT(st->pc, rc = rt_chan_send(cx, st->out_ch,
                                       (void *)((uintptr_t)st->item + 1)));
    if (rc != RT_READY)
      fail("pong: send: %s", rt_strerror(rc));
  }
  RT_END(st->pc);
  return RT_READY;
}

static const rt_task_type ping_type = {.name = "ping", .poll = ping_poll};
static const rt_task_type pong_type = {.name = "pong", .poll = pong_poll};

/* ---- the root tasks ------------------------------------------------------ */

/* Waiting for g_counter to reach a target, from a root task: yield to the
 * runtime and to the OS (the root runs on the main thread; Tokio's side does
 * yield_now + sched_yield too). */
#define WAIT_COUNTER(st, target)                                               \
  while (atomic_load_explicit(&g_counter, memory_order_acquire) < (target)) {  \
    (st)->yielded = false;                                                     \
    RT_AWAIT((st)->pc, rt_yield_now(cx, &(st)->yielded));                      \
    sched_yield();                                                             \
  }

struct root_st {
  int pc;
  bool yielded;
  size_t i, got;
  rt_handle **h;
  rt_joinset *set;
  bool *seen;
  rt_notify *notify;
  rt_chan *c1, *c2;
  rt_handle *ping, *pong;
  size_t rss0, rss1;
  uint64_t t0, t_spawned, t_finished, t_join0, t_aborted;
  size_t panicked;
  rt_join j;
};

static void spawn_or_fail(const rt_task_type *type, const void *state,
                          size_t size, rt_handle **h) {
  int rc = rt_spawn(type, state, size, h);
  if (rc != 0)
    fail("rt_spawn: %s", rt_strerror(rc));
}

/* a */
static int root_a(rt_cx *cx, void *state, void **out) {
  (void)out;
  struct root_st *st = state;
  int rc;
  RT_BEGIN(st->pc);
  atomic_store(&g_counter, 0);
  st->rss0 = rss_bytes();
  st->t0 = rt_now();
  st->h = malloc(N_TASKS * sizeof(*st->h));
  if (!st->h)
    fail("out of memory");
  for (st->i = 0; st->i < N_TASKS; st->i++) {
    struct trivial_st t = {.i = st->i};
    spawn_or_fail(&trivial_type, &t, sizeof(t), &st->h[st->i]);
  }
  st->t_spawned = rt_now();
  WAIT_COUNTER(st, N_TASKS);
  st->t_finished = rt_now();
  /* reading the RSS is the only part not timed */
  st->rss1 = rss_bytes();
  st->t_join0 = rt_now();
  for (st->i = 0; st->i < N_TASKS; st->i++) {
    RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->h[st->i], &st->j));
    if (st->j.status != RT_JOIN_OK || (uintptr_t)st->j.value != st->i)
      fail("a: task %zu: status %d value %" PRIuPTR, st->i, st->j.status,
           (uintptr_t)st->j.value);
  }
  uint64_t t_end = rt_now();
  free(st->h);
  uint64_t spawn = st->t_spawned - st->t0;
  uint64_t wait = st->t_finished - st->t_spawned;
  uint64_t join = t_end - st->t_join0;
  printf("# a: spawn %.1f ms, then wait until all finished %.1f ms, "
         "join %.1f ms\n",
         spawn / 1e6, wait / 1e6, join / 1e6);
  printf("a ns_per_task %.1f\n", per(spawn + wait + join, N_TASKS));
  printf("a bytes_per_finished_task %.1f\n",
         rss_per(st->rss0, st->rss1, N_TASKS));
  RT_END(st->pc);
  return RT_READY;
}

/* a2 */
static int root_a2(rt_cx *cx, void *state, void **out) {
  (void)out;
  struct root_st *st = state;
  int rc;
  RT_BEGIN(st->pc);
  atomic_store(&g_counter, 0);
  st->seen = calloc(N_TASKS, sizeof(*st->seen));
  if (!st->seen)
    fail("out of memory");
  st->t0 = rt_now();
  if ((rc = rt_joinset_create(&st->set)) != 0)
    fail("rt_joinset_create: %s", rt_strerror(rc));
  for (st->i = 0; st->i < N_TASKS; st->i++) {
    struct trivial_st t = {.i = st->i};
    rc = rt_joinset_spawn(st->set, &trivial_type, &t, sizeof(t), st->i);
    if (rc != 0)
      fail("rt_joinset_spawn: %s", rt_strerror(rc));
  }
  st->got = 0;
  for (;;) {
    RT_AWAIT(st->pc, rc = rt_joinset_join_next(cx, st->set, &st->j));
    if (rc == RT_EEMPTY)
      break;
    if (rc != RT_READY)
      fail("a2: join_next: %s", rt_strerror(rc));
    uintptr_t v = (uintptr_t)st->j.value;
    if (st->j.status != RT_JOIN_OK || v >= N_TASKS || st->seen[v] ||
        st->j.tag != v)
      fail("a2: status %d value %" PRIuPTR " tag %" PRIu64
           " (twice or out of range)",
           st->j.status, v, st->j.tag);
    st->seen[v] = true;
    st->got++;
  }
  uint64_t el = rt_now() - st->t0;
  rt_joinset_destroy(st->set);
  free(st->seen);
  if (st->got != N_TASKS)
    fail("a2: %zu results, expected %d", st->got, N_TASKS);
  printf("a2 ns_per_task %.1f\n", per(el, N_TASKS));
  RT_END(st->pc);
  return RT_READY;
}

/* b */
static int root_b(rt_cx *cx, void *state, void **out) {
  (void)out;
  struct root_st *st = state;
  int rc;
  RT_BEGIN(st->pc);
  atomic_store(&g_counter, 0);
  if ((rc = rt_notify_create(&st->notify)) != 0)
    fail("rt_notify_create: %s", rt_strerror(rc));
  st->rss0 = rss_bytes();
  st->h = malloc(N_TASKS * sizeof(*st->h));
  if (!st->h)
    fail("out of memory");
  for (st->i = 0; st->i < N_TASKS; st->i++) {
    struct pending_st t = {.pc = 0, .n = st->notify};
    spawn_or_fail(&pending_type, &t, sizeof(t), &st->h[st->i]);
  }
  WAIT_COUNTER(st, N_TASKS);
  st->rss1 = rss_bytes();
  st->t0 = rt_now();
  for (st->i = 0; st->i < N_TASKS; st->i++)
    rt_handle_abort(st->h[st->i]);
  st->t_aborted = rt_now();
  for (st->i = 0; st->i < N_TASKS; st->i++) {
    RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->h[st->i], &st->j));
    if (st->j.status != RT_JOIN_CANCELLED)
      fail("b: task %zu: status %d, expected CANCELLED", st->i, st->j.status);
    rt_join_clear(&st->j);
  }
  uint64_t t_end = rt_now();
  free(st->h);
  rt_notify_destroy(st->notify);
  printf("# b: abort loop %.1f ms, join loop %.1f ms\n",
         (st->t_aborted - st->t0) / 1e6, (t_end - st->t_aborted) / 1e6);
  printf("b bytes_per_pending_task %.1f\n",
         rss_per(st->rss0, st->rss1, N_TASKS));
  printf("b ns_per_abort_join %.1f\n", per(t_end - st->t0, N_TASKS));
  RT_END(st->pc);
  return RT_READY;
}

/* c */
static int root_c(rt_cx *cx, void *state, void **out) {
  (void)out;
  struct root_st *st = state;
  int rc;
  RT_BEGIN(st->pc);
  st->t0 = rt_now();
  st->h = malloc(N_PANIC * sizeof(*st->h));
  if (!st->h)
    fail("out of memory");
  for (st->i = 0; st->i < N_PANIC; st->i++) {
    struct trivial_st t = {.i = st->i};
    spawn_or_fail(&maybe_panic_type, &t, sizeof(t), &st->h[st->i]);
  }
  st->panicked = 0;
  for (st->i = 0; st->i < N_PANIC; st->i++) {
    RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->h[st->i], &st->j));
    if (st->j.status == RT_JOIN_PANICKED && st->i % 10 == 0) {
      st->panicked++;
    } else if (st->j.status != RT_JOIN_OK || st->i % 10 == 0 ||
               (uintptr_t)st->j.value != st->i) {
      fail("c: task %zu: status %d value %" PRIuPTR, st->i, st->j.status,
           (uintptr_t)st->j.value);
    }
    rt_join_clear(&st->j);
  }
  uint64_t el = rt_now() - st->t0;
  free(st->h);
  if (st->panicked != N_PANIC / 10)
    fail("c: %zu panics, expected %d", st->panicked, N_PANIC / 10);
  printf("c ns_per_task %.1f\n", per(el, N_PANIC));
  RT_END(st->pc);
  return RT_READY;
}

/* d */
static int root_d(rt_cx *cx, void *state, void **out) {
  (void)out;
  struct root_st *st = state;
  int rc;
  RT_BEGIN(st->pc);
  if ((rc = rt_chan_create(1, &st->c1)) != 0 ||
      (rc = rt_chan_create(1, &st->c2)) != 0)
    fail("rt_chan_create: %s", rt_strerror(rc));
  st->t0 = rt_now();
  {
    struct pingpong_st ping = {.out_ch = st->c1, .in_ch = st->c2};
    struct pingpong_st pong = {.out_ch = st->c2, .in_ch = st->c1};
    spawn_or_fail(&ping_type, &ping, sizeof(ping), &st->ping);
    spawn_or_fail(&pong_type, &pong, sizeof(pong), &st->pong);
  }
  RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->ping, &st->j));
  if (st->j.status != RT_JOIN_OK)
    fail("d: ping ended with status %d", st->j.status);
  RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->pong, &st->j));
  if (st->j.status != RT_JOIN_OK)
    fail("d: pong ended with status %d", st->j.status);
  uint64_t el = rt_now() - st->t0;
  rt_chan_destroy(st->c1);
  rt_chan_destroy(st->c2);
  printf("d ns_per_round_trip %.1f\n", per(el, N_ROUNDS));
  RT_END(st->pc);
  return RT_READY;
}

/* ---- main ------------------------------------------------------------------
 */

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    rt_task_type type;
  } scenarios[] = {
      {"a", {.name = "root_a", .poll = root_a}},
      {"a2", {.name = "root_a2", .poll = root_a2}},
      {"b", {.name = "root_b", .poll = root_b}},
      {"c", {.name = "root_c", .poll = root_c}},
      {"d", {.name = "root_d", .poll = root_d}},
  };
  const rt_task_type *type = NULL;
  for (size_t k = 0; argc == 2 && k < sizeof(scenarios) / sizeof(*scenarios);
       k++)
    if (strcmp(argv[1], scenarios[k].name) == 0)
      type = &scenarios[k].type;
  if (!type) {
    fputs("usage: bench_runtime a|a2|b|c|d\n", stderr);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);

  rt_config cfg;
  rt_config_init(&cfg);
  cfg.workers = 2;
  rt_runtime *rt;
  int rc = rt_runtime_create(&cfg, &rt);
  if (rc != 0)
    fail("rt_runtime_create: %s", rt_strerror(rc));
  struct root_st root = {.pc = 0};
  rt_join j = {0};
  rc = rt_block_on(rt, type, &root, sizeof(root), &j);
  if (rc != 0)
    fail("rt_block_on: %s", rt_strerror(rc));
  if (j.status != RT_JOIN_OK)
    fail("root task ended with status %d (%s)", j.status,
         j.panic ? j.panic : "");
  rt_join_clear(&j);
  rt_runtime_destroy(rt);
  return 0;
}
