/*
 * test_rt_join.c - JoinHandle abort: before the first poll, after
 * completion, while waiting on a timer or a notify, while running (READY
 * wins, PENDING is cancelled), from a task, idempotence.
 */
#include "rt_test_util.h"

/* Abort before the first poll: the only worker is blocked, so the task is
 * still queued when aborted.  It must end CANCELLED without ever being
 * polled, and its drop function must still run exactly once. */
Test(join, abort_before_first_poll_never_polls, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  held_worker w;
  hold_worker(&w);
  enum { N = 20 };
  atomic_int polled = 0, drops = 0;
  rt_handle *hs[N];
  for (int i = 0; i < N; i++) {
    value_st v = {.value = i, .polled = &polled, .drops = &drops};
    hs[i] = spawn_ok(&value_type, &v, sizeof v);
  }
  for (int i = 0; i < N; i++) {
    rt_handle_abort(hs[i]);
    rt_handle_abort(hs[i]); /* idempotent */
  }
  release_worker(&w);
  for (int i = 0; i < N; i++)
    join_expect(hs[i], RT_JOIN_CANCELLED, 0);
  cr_assert_eq(atomic_load(&polled), 0,
               "aborted unpolled tasks were polled %d times",
               atomic_load(&polled));
  cr_assert_eq(atomic_load(&drops), N, "drops %d, expected %d",
               atomic_load(&drops), N);
  env_finish(&e, true);
}

/* Same on a 2-worker runtime with both workers blocked. */
Test(join, abort_before_first_poll_two_workers, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  gate g;
  gate_init(&g);
  rt_handle *b1 = occupy_worker(&g);
  rt_handle *b2 = occupy_worker(&g);
  atomic_int polled = 0, drops = 0;
  value_st v = {.value = 3, .polled = &polled, .drops = &drops};
  rt_handle *h = spawn_ok(&value_type, &v, sizeof v);
  rt_handle_abort(h);
  gate_open(&g);
  join_expect(h, RT_JOIN_CANCELLED, 0);
  join_expect(b1, RT_JOIN_OK, 0);
  join_expect(b2, RT_JOIN_OK, 0);
  cr_assert_eq(atomic_load(&polled), 0);
  cr_assert_eq(atomic_load(&drops), 1);
  gate_destroy(&g);
  env_finish(&e, true);
}

/* Abort after completion: the join still gives OK with the value. */
Test(join, abort_after_completion_keeps_value, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  atomic_int polled = 0, drops = 0;
  value_st v = {.value = 777, .polled = &polled, .drops = &drops};
  rt_handle *h = spawn_ok(&value_type, &v, sizeof v);
  WAIT_FOR(rt_handle_is_finished(h), 10, "task never finished");
  rt_handle_abort(h);
  rt_handle_abort(h);
  join_expect(h, RT_JOIN_OK, 777);
  cr_assert_eq(atomic_load(&polled), 1);
  cr_assert_eq(atomic_load(&drops), 1);
  env_finish(&e, true);
}

/* Abort while waiting on a far timer: CANCELLED promptly, drop ran once. */
Test(join, abort_while_sleeping_is_prompt, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  enum { N = 10 };
  atomic_int polled = 0, drops = 0;
  rt_handle *hs[N];
  for (int i = 0; i < N; i++) {
    sleeper_st s = {
        .deadline = far_deadline(), .polled = &polled, .drops = &drops};
    hs[i] = spawn_ok(&sleeper_type, &s, sizeof s);
  }
  WAIT_FOR(atomic_load(&polled) == N, 10, "sleepers polled %d",
           atomic_load(&polled));
  cr_assert_eq(atomic_load(&drops), 0);
  for (int i = 0; i < N; i++) {
    uint64_t t0 = rt_now();
    rt_handle_abort(hs[i]);
    join_expect(hs[i], RT_JOIN_CANCELLED, 0);
    uint64_t dt = rt_now() - t0;
    cr_assert_lt(dt, MS(2000), "abort of a sleeper took %.1f ms", dt / 1e6);
    cr_assert_eq(atomic_load(&drops), i + 1, "drops %d after %d aborts",
                 atomic_load(&drops), i + 1);
  }
  cr_assert_eq(atomic_load(&polled), N, "a cancelled sleeper was polled again");
  env_finish(&e, true);
}

/* Abort while waiting on a notify: CANCELLED, and the cancelled wait leaves
 * no stale waiter behind (a later notify_one reaches a new waiter). */
Test(join, abort_while_waiting_leaves_no_waiter, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int polled = 0, drops = 0, done = 0;
  nwait_st st = {.n = n, .polled = &polled, .drops = &drops, .done = &done};
  rt_handle *h = spawn_ok(&nwait_type, &st, sizeof st);
  WAIT_FOR(atomic_load(&polled) == 1, 10, "never polled");
  rt_handle_abort(h);
  join_expect(h, RT_JOIN_CANCELLED, 0);
  cr_assert_eq(atomic_load(&drops), 1);
  cr_assert_eq(atomic_load(&done), 0);
  /* the notification must go to the new waiter, not the cancelled one */
  atomic_int polled2 = 0, done2 = 0;
  nwait_st st2 = {.n = n, .polled = &polled2, .done = &done2, .value = 9};
  rt_handle *h2 = spawn_ok(&nwait_type, &st2, sizeof st2);
  WAIT_FOR(atomic_load(&polled2) == 1, 10, "second waiter never polled");
  rt_notify_one(n);
  join_expect(h2, RT_JOIN_OK, 9);
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* A task aborted while its poll runs: READY anyway wins (OK), PENDING is
 * cancelled (drop once, no further poll). */
typedef struct running_st {
  gate *g;
  atomic_int *polls, *drops;
  bool ready;
} running_st;

static int running_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  running_st *st = s;
  int n = atomic_fetch_add(st->polls, 1);
  if (n == 0)
    gate_wait(st->g);
  if (st->ready) {
    *out = (void *)(intptr_t)55;
    return RT_READY;
  }
  return RT_PENDING; /* registered nowhere */
}
static void running_drop(void *s) {
  atomic_fetch_add(((running_st *)s)->drops, 1);
}
static const rt_task_type running_type = {"running", running_poll, running_drop,
                                          NULL};

/* Aborts a running_st task inside its first poll; the join must give
 * status (and value); the task is polled once and dropped once. */
static void abort_while_running(bool ready, int status, intptr_t value) {
  tenv e;
  env_start(&e, 2, 0);
  gate g;
  gate_init(&g);
  atomic_int polls = 0, drops = 0;
  running_st st = {&g, &polls, &drops, ready};
  rt_handle *h = spawn_ok(&running_type, &st, sizeof st);
  WAIT_FOR(atomic_load(&g.entered) == 1, 10, "never polled");
  rt_handle_abort(h);
  gate_open(&g);
  join_expect(h, status, value);
  cr_assert_eq(atomic_load(&polls), 1, "polled again after abort: %d",
               atomic_load(&polls));
  cr_assert_eq(atomic_load(&drops), 1);
  gate_destroy(&g);
  env_finish(&e, true);
}

Test(join, abort_while_running_ready_wins, .timeout = T_SHORT) {
  abort_while_running(true, RT_JOIN_OK, 55);
}

Test(join, abort_while_running_pending_cancels, .timeout = T_SHORT) {
  abort_while_running(false, RT_JOIN_CANCELLED, 0);
}

/* A task that returned PENDING without registering sleeps until aborted. */
Test(join, unregistered_pending_sleeps_until_aborted, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  gate g;
  gate_init(&g);
  gate_open(&g);
  atomic_int polls = 0, drops = 0;
  running_st st = {&g, &polls, &drops, false};
  rt_handle *h = spawn_ok(&running_type, &st, sizeof st);
  WAIT_FOR(atomic_load(&polls) == 1, 10, "never polled");
  sleep_ms(20);
  cr_assert_eq(atomic_load(&polls), 1, "woken without a waker");
  cr_assert(!rt_handle_is_finished(h));
  rt_handle_abort(h);
  join_expect(h, RT_JOIN_CANCELLED, 0);
  cr_assert_eq(atomic_load(&drops), 1);
  gate_destroy(&g);
  env_finish(&e, true);
}

/* A task aborts other tasks through their handles, then joins them. */
typedef struct aborter_st {
  int pc, i;
  rt_handle *h[16];
  rt_join j;
  int cancelled;
} aborter_st;

static int aborter_poll(rt_cx *cx, void *s, void **out) {
  aborter_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  for (st->i = 0; st->i < 16; st->i++)
    rt_handle_abort(st->h[st->i]);
  for (st->i = 0; st->i < 16; st->i++) {
    RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->h[st->i], &st->j));
    CHECK(rc == 0);
    if (st->j.status == RT_JOIN_CANCELLED)
      st->cancelled++;
    rt_join_clear(&st->j);
  }
  *out = (void *)(intptr_t)st->cancelled;
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type aborter_type = {"aborter", aborter_poll, NULL, NULL};

Test(join, abort_from_task, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int polled = 0, drops = 0;
  aborter_st a = {.pc = 0};
  for (int i = 0; i < 16; i++) {
    if (i % 2) {
      nwait_st st = {.n = n, .polled = &polled, .drops = &drops};
      a.h[i] = spawn_ok(&nwait_type, &st, sizeof st);
    } else {
      sleeper_st st = {
          .deadline = far_deadline(), .polled = &polled, .drops = &drops};
      a.h[i] = spawn_ok(&sleeper_type, &st, sizeof st);
    }
  }
  WAIT_FOR(atomic_load(&polled) == 16, 10, "polled %d", atomic_load(&polled));
  rt_handle *h = spawn_ok(&aborter_type, &a, sizeof a);
  join_expect(h, RT_JOIN_OK, 16);
  cr_assert_eq(atomic_load(&drops), 16);
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* Abort racing with completion, many times: every join is OK or
 * CANCELLED, OK carries the right value, drops run exactly once each. */
typedef struct racer_st {
  int pc;
  uint64_t deadline;
  intptr_t value;
  atomic_int *drops;
} racer_st;
static int racer_poll(rt_cx *cx, void *s, void **out) {
  racer_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  RT_AWAIT(st->pc, rc = rt_sleep_until(cx, st->deadline));
  CHECK(rc == 0);
  *out = (void *)st->value;
  RT_END(st->pc);
  return RT_READY;
}
static void racer_drop(void *s) { atomic_fetch_add(((racer_st *)s)->drops, 1); }
static const rt_task_type racer_type = {"racer", racer_poll, racer_drop, NULL};

Test(join, abort_races_completion, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  enum { N = 2000 };
  static rt_handle *hs[N];
  atomic_int drops = 0;
  for (int i = 0; i < N; i++) {
    racer_st st = {
        .deadline = rt_now() + US(i % 300), .value = i, .drops = &drops};
    hs[i] = spawn_ok(&racer_type, &st, sizeof st);
    if (i % 3 == 0)
      rt_handle_abort(hs[i]);
  }
  int ok = 0, cancelled = 0;
  for (int i = 0; i < N; i++) {
    if (i % 3 == 1)
      rt_handle_abort(hs[i]);
    rt_join j = join_blocking(hs[i]);
    REQUIRE(j.status == RT_JOIN_OK || j.status == RT_JOIN_CANCELLED,
            "task %d: status %s", i, join_status_name(j.status));
    if (j.status == RT_JOIN_OK) {
      REQUIRE((intptr_t)j.value == i, "task %d: value %ld", i,
              (long)(intptr_t)j.value);
      ok++;
    } else {
      REQUIRE(i % 3 != 2, "task %d was never aborted but is CANCELLED", i);
      cancelled++;
    }
  }
  cr_assert_eq(atomic_load(&drops), N);
  cr_assert_geq(ok, N / 3);
  cr_assert_geq(cancelled, 1);
  env_finish(&e, true);
}
