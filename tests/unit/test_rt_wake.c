/*
 * test_rt_wake.c - wake-up paths: rt_waker from a plain thread, a pinned
 * (sleeping) task woken from another worker through its driver's inbox, a
 * block_on root woken from a plain thread, two block_on roots at once, two
 * runtimes waking each other's tasks, a block_on root cancelled by a
 * shutdown from another thread.  A lost wake-up shows as a timeout (the
 * waits are bounded) or a hang.
 */
#include "rt_test_util.h"

/* ---- rt_waker from outside the runtime ------------------------------------
 */

typedef struct extw_st {
  _Atomic(rt_waker *) *slot; /* handed to the outside thread */
  atomic_int *polls;
  atomic_int *signalled;
  int rounds, seen;
} extw_st;
/* Each poll: if the outside thread signalled, count a round; else hand a
 * fresh waker out and wait. */
static int extw_poll(rt_cx *cx, void *s, void **out) {
  extw_st *st = s;
  atomic_fetch_add(st->polls, 1);
  while (atomic_load(st->signalled) > st->seen)
    st->seen++;
  if (st->seen >= st->rounds) {
    *out = (void *)(intptr_t)st->seen;
    return RT_READY;
  }
  rt_waker *w = rt_waker_current(cx);
  rt_waker *old = atomic_exchange(st->slot, w);
  if (old)
    rt_waker_drop(old);
  return RT_PENDING;
}
static const rt_task_type extw_type = {"extw", extw_poll, NULL, NULL};

Test(wake, waker_from_plain_thread, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  enum { ROUNDS = 500 };
  _Atomic(rt_waker *) slot = NULL;
  atomic_int polls = 0, signalled = 0;
  extw_st st = {&slot, &polls, &signalled, ROUNDS, 0};
  rt_handle *h = spawn_ok(&extw_type, &st, sizeof st);
  for (int i = 0; i < ROUNDS; i++) {
    rt_waker *w = NULL;
    uint64_t dl = rt_now() + 10ull * 1000000000ull;
    while (!(w = atomic_exchange(&slot, NULL)) && rt_now() < dl)
      sleep_ns(US(20));
    REQUIRE(w != NULL, "round %d: no waker handed out", i);
    atomic_fetch_add(&signalled, 1);
    rt_waker_wake(w);
  }
  join_expect(h, RT_JOIN_OK, ROUNDS);
  rt_waker *left = atomic_exchange(&slot, NULL);
  if (left)
    rt_waker_drop(left);
  env_finish(&e, true);
}

/* A waker that outlives its task: waking and dropping it after the task
 * ended is harmless (ASan checks the memory). */
typedef struct keepw_st {
  rt_waker **out_w;
} keepw_st;
static int keepw_poll(rt_cx *cx, void *s, void **out) {
  keepw_st *st = s;
  *st->out_w = rt_waker_current(cx);
  *out = (void *)(intptr_t)8;
  return RT_READY;
}
static const rt_task_type keepw_type = {"keepw", keepw_poll, NULL, NULL};

Test(wake, waker_outliving_task_is_harmless, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_waker *w1 = NULL, *w2 = NULL;
  keepw_st a = {&w1}, b = {&w2};
  join_expect(spawn_ok(&keepw_type, &a, sizeof a), RT_JOIN_OK, 8);
  join_expect(spawn_ok(&keepw_type, &b, sizeof b), RT_JOIN_OK, 8);
  cr_assert_not_null(w1);
  cr_assert_not_null(w2);
  rt_waker_wake(w1); /* the task is complete: nothing to do */
  rt_waker_drop(w2);
  env_finish(&e, true);
}

/* ---- a pinned task woken from another worker
 * --------------------------------- */

/* Waits on a notify with a 10 s timer (so it is pinned to its worker's
 * loop); output 1 if the notify won. */
typedef struct pinw_st {
  int pc;
  rt_notify *n;
  uint64_t deadline;
  atomic_int *polled;
  int rc;
} pinw_st;
static int pinw_poll(rt_cx *cx, void *s, void **out) {
  pinw_st *st = s;
  RT_BEGIN(st->pc);
  RT_AWAIT(st->pc,
           st->rc = (st->rc = rt_timeout(cx, st->deadline, op_notify, st->n),
                     atomic_fetch_add(st->polled, 1), st->rc));
  *out = (void *)(intptr_t)(st->rc == 0);
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type pinw_type = {"pinw", pinw_poll, NULL, NULL};

/* Notifies from a task (on whichever worker runs it). */
typedef struct notifier_st {
  rt_notify *n;
} notifier_st;
static int notifier_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  (void)out;
  rt_notify_one(((notifier_st *)s)->n);
  return RT_READY;
}
static const rt_task_type notifier_type = {"notifier", notifier_poll, NULL,
                                           NULL};

Test(wake, pinned_task_woken_from_other_worker, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  enum { ROUNDS = 300, PAR = 4 };
  rt_notify *n[PAR];
  for (int k = 0; k < PAR; k++)
    cr_assert_eq(rt_notify_create(&n[k]), 0);
  uint64_t worst = 0;
  for (int r = 0; r < ROUNDS; r++) {
    atomic_int polled = 0;
    rt_handle *hw[PAR], *hn[PAR];
    for (int k = 0; k < PAR; k++) {
      pinw_st st = {.n = n[k],
                    .deadline = rt_now() + 10ull * 1000000000ull,
                    .polled = &polled};
      hw[k] = spawn_ok(&pinw_type, &st, sizeof st);
    }
    WAIT_FOR(atomic_load(&polled) == PAR, 10, "round %d: waiters polled %d", r,
             atomic_load(&polled));
    if (r % 2)
      sleep_ns(US(300)); /* let the workers park */
    uint64_t t0 = rt_now();
    for (int k = 0; k < PAR; k++) {
      notifier_st ns = {n[k]};
      hn[k] = spawn_ok(&notifier_type, &ns, sizeof ns);
    }
    for (int k = 0; k < PAR; k++) {
      join_expect(hn[k], RT_JOIN_OK, 0);
      join_expect(hw[k], RT_JOIN_OK, 1); /* woken by the notify, not timer */
    }
    uint64_t dt = rt_now() - t0;
    if (dt > worst)
      worst = dt;
  }
  cr_assert_lt(worst, MS(5000), "slowest wake-up %.1f ms", worst / 1e6);
  for (int k = 0; k < PAR; k++)
    rt_notify_destroy(n[k]);
  env_finish(&e, true);
}

/* ---- block_on roots woken from outside
 * --------------------------------------------- */

typedef struct late_notify_arg {
  rt_notify *n;
  unsigned delay_ms;
} late_notify_arg;
static void *late_notify(void *a) {
  late_notify_arg *ln = a;
  sleep_ms(ln->delay_ms);
  rt_notify_one(ln->n);
  return NULL;
}

typedef struct rootwait_st {
  int pc;
  rt_notify *n;
  int rc;
} rootwait_st;
static int rootwait_poll(rt_cx *cx, void *s, void **out) {
  rootwait_st *st = s;
  RT_BEGIN(st->pc);
  RT_AWAIT(st->pc, st->rc = rt_notify_wait(cx, st->n));
  *out = (void *)(intptr_t)(st->rc == 0 ? 77 : st->rc);
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type rootwait_type = {"rootwait", rootwait_poll, NULL,
                                           NULL};

Test(wake, block_on_root_woken_from_plain_thread, .timeout = T_SHORT) {
  tenv e;
  rt_runtime *rt = env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  for (int i = 0; i < 20; i++) {
    late_notify_arg ln = {n, (unsigned)(i % 4) * 5};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, late_notify, &ln), 0);
    rootwait_st st = {.n = n};
    rt_join j = {.status = -1};
    cr_assert_eq(rt_block_on(rt, &rootwait_type, &st, sizeof st, &j), 0);
    pthread_join(th, NULL);
    cr_assert_eq(j.status, RT_JOIN_OK);
    cr_assert_eq((intptr_t)j.value, 77);
  }
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* Two threads in rt_block_on at once, each root spawning and joining. */
typedef struct spawner_root_st {
  int pc, i;
  rt_handle *h[200];
  rt_join j;
  long sum;
} spawner_root_st;
static int spawner_root_poll(rt_cx *cx, void *s, void **out) {
  spawner_root_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  for (st->i = 0; st->i < 200; st->i++) {
    sleeper_st sl = {.deadline = rt_now() + US((st->i % 7) * 300),
                     .value = st->i};
    CHECK(rt_spawn(&sleeper_type, &sl, sizeof sl, &st->h[st->i]) == 0);
  }
  for (st->i = 0; st->i < 200; st->i++) {
    RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->h[st->i], &st->j));
    CHECK(rc == 0 && st->j.status == RT_JOIN_OK);
    st->sum += (long)(intptr_t)st->j.value;
  }
  *out = (void *)(intptr_t)st->sum;
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type spawner_root_type = {"spawner_root",
                                               spawner_root_poll, NULL, NULL};

typedef struct bo_arg {
  rt_runtime *rt;
  int rc;
  rt_join j;
} bo_arg;
static void *block_on_thread(void *a) {
  bo_arg *b = a;
  spawner_root_st st;
  memset(&st, 0, sizeof st);
  b->rc = rt_block_on(b->rt, &spawner_root_type, &st, sizeof st, &b->j);
  return NULL;
}

Test(wake, two_block_on_roots_at_once, .timeout = T_SHORT) {
  tenv e;
  rt_runtime *rt = env_start(&e, 2, 0);
  for (int round = 0; round < 5; round++) {
    bo_arg a[3];
    pthread_t th[3];
    for (int k = 0; k < 3; k++) {
      a[k] = (bo_arg){.rt = rt, .rc = 12345};
      cr_assert_eq(pthread_create(&th[k], NULL, block_on_thread, &a[k]), 0);
    }
    for (int k = 0; k < 3; k++) {
      pthread_join(th[k], NULL);
      cr_assert_eq(a[k].rc, 0);
      cr_assert_eq(a[k].j.status, RT_JOIN_OK);
      cr_assert_eq((intptr_t)a[k].j.value, 199 * 200 / 2);
    }
  }
  env_finish(&e, true);
}

/* Shutdown from the test thread while another thread is inside
 * rt_block_on with a root waiting forever: the root is cancelled and
 * rt_block_on returns. */
typedef struct bo_wait_arg {
  rt_runtime *rt;
  rt_notify *n;
  atomic_int *polled;
  int rc;
  rt_join j;
} bo_wait_arg;
static void *block_on_wait_thread(void *a) {
  bo_wait_arg *b = a;
  nwait_st st = {.n = b->n, .polled = b->polled};
  b->rc = rt_block_on(b->rt, &nwait_type, &st, sizeof st, &b->j);
  return NULL;
}

Test(wake, shutdown_cancels_block_on_root, .timeout = T_SHORT) {
  tenv e;
  rt_runtime *rt = env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int polled = 0;
  bo_wait_arg a = {.rt = rt, .n = n, .polled = &polled, .rc = 12345};
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, block_on_wait_thread, &a), 0);
  WAIT_FOR(atomic_load(&polled) == 1, 10, "root never polled");
  int rc = rt_runtime_shutdown(rt, 10000);
  pthread_join(th, NULL);
  cr_assert_eq(rc, 0, "shutdown: %s", rt_strerror(rc));
  cr_assert_eq(a.rc, 0);
  cr_assert_eq(a.j.status, RT_JOIN_CANCELLED, "root: %s",
               join_status_name(a.j.status));
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* ---- two runtimes
 * -------------------------------------------------------------------- */

/* A task on runtime A notifies a waiter on runtime B and the other way
 * round, many times (ping-pong across runtimes, pingpong_type). */

Test(wake, two_runtimes_wake_each_other, .timeout = T_SHORT) {
  int fds = count_fds();
  tenv ea, eb;
  rt_runtime *ra = env_start(&ea, 2, 0);
  rt_runtime *rb = env_start(&eb, 1, 0);
  enum { N = 5000 };
  rt_notify *a, *b;
  cr_assert_eq(rt_notify_create(&a), 0);
  cr_assert_eq(rt_notify_create(&b), 0);
  atomic_int count = 0;
  pingpong_st x = {.n = N, .mine = a, .theirs = b, .count = &count};
  pingpong_st y = {.n = N, .mine = b, .theirs = a, .count = &count};
  rt_runtime_enter(ra);
  rt_handle *hx = spawn_ok(&pingpong_type, &x, sizeof x);
  rt_runtime_enter(rb);
  rt_handle *hy = spawn_ok(&pingpong_type, &y, sizeof y);
  rt_notify_one(a);
  join_expect(hx, RT_JOIN_OK, 0);
  join_expect(hy, RT_JOIN_OK, 0);
  cr_assert_eq(atomic_load(&count), 2 * N);
  rt_notify_destroy(a);
  rt_notify_destroy(b);
  rt_runtime_enter(rb);
  env_finish(&eb, true);
  rt_runtime_enter(ra);
  ea.fds = fds;
  env_finish(&ea, true);
}
