/*
 * test_rt_misuse.c - the caller-misuse asserts rt.h promises fire.
 *
 * Each test commits one misuse and expects the process to die of SIGABRT
 * (assert).  They exist only where asserts are compiled in (the Debug
 * build CI runs; NDEBUG, as in RelWithDebInfo, removes both the checks
 * and these tests, and the file then holds only the NDEBUG note test).
 */
#include "rt_test_util.h"

#include <assert.h>
#include <signal.h>

#ifndef NDEBUG

static int ready_poll(rt_cx *cx, void *st, void **out) {
  (void)cx;
  (void)st;
  (void)out;
  return RT_READY;
}
static const rt_task_type ready_type = {"ready", ready_poll, NULL, NULL};

Test(misuse, spawn_without_poll_function, .signal = SIGABRT,
     .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  static const rt_task_type no_poll = {"no poll", NULL, NULL, NULL};
  rt_spawn(&no_poll, NULL, 0, NULL);
  cr_assert_fail("rt_spawn accepted a type without a poll function");
}

/* A task that calls the blocking join on its worker. */
typedef struct joiner_st {
  rt_handle *other;
} joiner_st;

static int joiner_poll(rt_cx *cx, void *st, void **out) {
  (void)cx;
  (void)out;
  joiner_st *b = st;
  rt_handle_join_blocking(b->other, NULL);
  return RT_READY;
}
static const rt_task_type joiner_type = {"joiner", joiner_poll, NULL, NULL};

Test(misuse, blocking_join_on_a_worker, .signal = SIGABRT, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  joiner_st b;
  cr_assert_eq(rt_spawn(&ready_type, NULL, 0, &b.other), 0);
  rt_handle *h;
  cr_assert_eq(rt_spawn(&joiner_type, &b, sizeof b, &h), 0);
  rt_handle_join_blocking(h, NULL);
  cr_assert_fail("a worker blocked in rt_handle_join_blocking");
}

/* A task waiting on a semaphore that the test thread destroys. */
typedef struct sem_st {
  rt_sem *s;
  atomic_int *waiting;
} sem_st;

static int sem_poll(rt_cx *cx, void *st, void **out) {
  (void)out;
  sem_st *w = st;
  atomic_store(w->waiting, 1);
  return rt_sem_acquire(cx, w->s, 1);
}
static const rt_task_type sem_type = {"sem", sem_poll, NULL, NULL};

Test(misuse, destroy_semaphore_with_a_waiter, .signal = SIGABRT,
     .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  atomic_int waiting = 0;
  sem_st w = {.waiting = &waiting};
  cr_assert_eq(rt_sem_create(0, &w.s), 0);
  cr_assert_eq(rt_spawn(&sem_type, &w, sizeof w, NULL), 0);
  WAIT_FOR(atomic_load(&waiting), 10, "the task never waited");
  sleep_ms(50); /* its poll has returned RT_PENDING */
  rt_sem_destroy(w.s);
  cr_assert_fail("a semaphore was destroyed under its waiter");
}

/* Shutting the runtime down from one of its own workers. */
static int shutdown_poll(rt_cx *cx, void *st, void **out) {
  (void)cx;
  (void)out;
  rt_runtime_shutdown(*(rt_runtime **)st, 0);
  return RT_READY;
}
static const rt_task_type shutdown_type = {"shutdown", shutdown_poll, NULL,
                                           NULL};

Test(misuse, shutdown_from_a_worker, .signal = SIGABRT, .timeout = T_SHORT) {
  tenv e;
  rt_runtime *rt = env_start(&e, 1, 0);
  rt_handle *h;
  cr_assert_eq(rt_spawn(&shutdown_type, &rt, sizeof rt, &h), 0);
  rt_handle_join_blocking(h, NULL);
  cr_assert_fail("a worker shut its own runtime down");
}

/* A waitable polled with a context that is not the current poll's. */
Test(misuse, waitable_polled_outside_its_task, .signal = SIGABRT,
     .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  rt_notify_wait(NULL, n);
  cr_assert_fail("rt_notify_wait ran without a task context");
}

#else

/* Release builds compile the asserts out; the Debug CI step runs the
 * tests above.  This one keeps the binary honest about which it is. */
Test(misuse, built_with_ndebug, .timeout = T_SHORT) {
  int checked = 0;
  assert((checked = 1));
  cr_assert_eq(checked, 0, "NDEBUG is set but assert() evaluated");
}

#endif
