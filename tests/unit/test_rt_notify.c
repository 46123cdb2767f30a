/*
 * test_rt_notify.c - Notify and the cancellation token.
 *   notify_one with no waiter stores exactly one permit; notify_one wakes
 *   one waiter (the first); notify_waiters wakes all current waiters and
 *   stores nothing; a notified waiter that is dropped passes the
 *   notification on.
 *   A token's cancel wakes its waiters; a child is cancelled with its parent,
 *   never the reverse; a child of a cancelled parent starts cancelled.
 */
#include "rt_test_util.h"

/* Waits (with a timeout) `count` times; output: number of waits that
 * succeeded before the first timeout. */
typedef struct nw_st {
  int pc, i, count, ok;
  rt_notify *n;
  uint64_t timeout_ns, deadline;
  atomic_int *polled;
} nw_st;
static int nw_poll(rt_cx *cx, void *s, void **out) {
  nw_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  for (st->i = 0; st->i < st->count; st->i++) {
    st->deadline = rt_now() + st->timeout_ns;
    RT_AWAIT(st->pc, rc = (st->polled ? atomic_fetch_add(st->polled, 1) : 0,
                           rt_timeout(cx, st->deadline, op_notify, st->n)));
    if (rc == RT_ETIMEDOUT)
      break;
    CHECK(rc == 0);
    st->ok++;
  }
  *out = (void *)(intptr_t)st->ok;
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type nw_type = {"nw", nw_poll, NULL, NULL};

static rt_handle *spawn_nw(rt_notify *n, int count, unsigned timeout_ms,
                           atomic_int *polled) {
  nw_st st = {
      .count = count, .n = n, .timeout_ns = MS(timeout_ms), .polled = polled};
  return spawn_ok(&nw_type, &st, sizeof st);
}

Test(notify, one_without_waiter_stores_one_permit, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  rt_notify_one(n);
  rt_notify_one(n); /* still one permit */
  rt_notify_one(n);
  /* the first wait takes the permit at once, the second times out */
  uint64_t t0 = rt_now();
  join_expect(spawn_nw(n, 2, 50, NULL), RT_JOIN_OK, 1);
  cr_assert_geq(rt_now() - t0, MS(50));
  /* consumed: a new waiter gets nothing */
  join_expect(spawn_nw(n, 1, 30, NULL), RT_JOIN_OK, 0);
  rt_notify_destroy(n);
  env_finish(&e, true);
}

Test(notify, one_wakes_exactly_one_waiter_fifo, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  enum { N = 6 };
  atomic_int polled[N], done[N];
  rt_handle *hs[N];
  for (int i = 0; i < N; i++) {
    atomic_init(&polled[i], 0);
    atomic_init(&done[i], 0);
    nwait_st st = {.n = n, .polled = &polled[i], .done = &done[i], .value = i};
    hs[i] = spawn_ok(&nwait_type, &st, sizeof st);
    WAIT_FOR(atomic_load(&polled[i]) == 1, 10, "waiter %d never polled", i);
  }
  for (int k = 0; k < N; k++) {
    rt_notify_one(n);
    join_expect(hs[k], RT_JOIN_OK, k); /* the first registered goes first */
    sleep_ms(2);
    for (int i = k + 1; i < N; i++)
      cr_assert_eq(atomic_load(&done[i]), 0,
                   "notify_one %d also woke waiter %d", k, i);
  }
  rt_notify_destroy(n);
  env_finish(&e, true);
}

Test(notify, waiters_wakes_all_and_stores_nothing, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  /* with nobody waiting, notify_waiters stores nothing */
  rt_notify_waiters(n);
  join_expect(spawn_nw(n, 1, 30, NULL), RT_JOIN_OK, 0);
  enum { N = 20 };
  atomic_int polled = 0, done = 0;
  rt_handle *hs[N];
  for (int i = 0; i < N; i++) {
    nwait_st st = {.n = n, .polled = &polled, .done = &done, .value = i};
    hs[i] = spawn_ok(&nwait_type, &st, sizeof st);
  }
  WAIT_FOR(atomic_load(&polled) == N, 10, "waiters polled %d",
           atomic_load(&polled));
  rt_notify_waiters(n);
  for (int i = 0; i < N; i++)
    join_expect(hs[i], RT_JOIN_OK, i);
  cr_assert_eq(atomic_load(&done), N);
  /* and it left no permit for a later waiter */
  join_expect(spawn_nw(n, 1, 30, NULL), RT_JOIN_OK, 0);
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* A waiter that was handed a notify_one notification and is then dropped
 * (here: its select picks another branch) passes it to the next waiter.
 * The only worker is held so that both events land before it runs. */
typedef struct sel2_st {
  rt_notify *cancel, *n;
  atomic_int *polled;
} sel2_st;
static int sel2_poll(rt_cx *cx, void *s, void **out) {
  sel2_st *st = s;
  if (rt_notify_wait(cx, st->cancel) == 0) {
    *out = (void *)(intptr_t)1; /* dropped its wait on n */
    return RT_READY;
  }
  int rc = rt_notify_wait(cx, st->n);
  atomic_fetch_add(st->polled, 1);
  if (rc == RT_PENDING)
    return RT_PENDING;
  *out = (void *)(intptr_t)2;
  return RT_READY;
}
static const rt_task_type sel2_type = {"sel2", sel2_poll, NULL, NULL};

Test(notify, dropped_notified_waiter_passes_it_on, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  rt_notify *n, *cancel;
  cr_assert_eq(rt_notify_create(&n), 0);
  cr_assert_eq(rt_notify_create(&cancel), 0);
  atomic_int pa = 0, pb = 0;
  sel2_st a = {cancel, n, &pa};
  rt_handle *ha = spawn_ok(&sel2_type, &a, sizeof a);
  WAIT_FOR(atomic_load(&pa) == 1, 10, "A never polled");
  /* B waits (with a long timeout so a lost notification shows as 0) */
  rt_handle *hb = spawn_nw(n, 1, 3000, &pb);
  WAIT_FOR(atomic_load(&pb) == 1, 10, "B never polled");
  held_worker w;
  hold_worker(&w);
  rt_notify_one(n);      /* goes to A, the first waiter */
  rt_notify_one(cancel); /* A will take this branch and drop its wait */
  release_worker(&w);
  join_expect(ha, RT_JOIN_OK, 1);
  join_expect(hb, RT_JOIN_OK, 1); /* B got the notification A dropped */
  /* nothing extra was created: no permit left */
  join_expect(spawn_nw(n, 1, 20, NULL), RT_JOIN_OK, 0);
  rt_notify_destroy(n);
  rt_notify_destroy(cancel);
  env_finish(&e, true);
}

/* With no other waiter, the dropped notification becomes the permit. */
Test(notify, dropped_notified_sole_waiter_stores_permit, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int polled = 0, drops = 0;
  nwait_st st = {.n = n, .polled = &polled, .drops = &drops};
  rt_handle *h = spawn_ok(&nwait_type, &st, sizeof st);
  WAIT_FOR(atomic_load(&polled) == 1, 10, "never polled");
  held_worker w;
  hold_worker(&w);
  rt_notify_one(n); /* handed to h */
  rt_handle_abort(h);
  release_worker(&w);
  join_expect(h, RT_JOIN_CANCELLED, 0);
  cr_assert_eq(atomic_load(&drops), 1);
  join_expect(spawn_nw(n, 2, 30, NULL), RT_JOIN_OK, 1);
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* A notify_waiters notification is not passed on when dropped. */
Test(notify, dropped_waiters_notification_not_passed_on, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int polled = 0;
  nwait_st st = {.n = n, .polled = &polled};
  rt_handle *h = spawn_ok(&nwait_type, &st, sizeof st);
  WAIT_FOR(atomic_load(&polled) == 1, 10, "never polled");
  held_worker w;
  hold_worker(&w);
  rt_notify_waiters(n);
  rt_handle_abort(h);
  release_worker(&w);
  join_expect(h, RT_JOIN_CANCELLED, 0);
  join_expect(spawn_nw(n, 1, 30, NULL), RT_JOIN_OK, 0);
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* ---- cancellation token -----------------------------------------------------
 */

typedef struct tw_st {
  int pc;
  rt_token *t;
  uint64_t deadline;
  atomic_int *polled;
} tw_st;
static int op_token(rt_cx *cx, void *arg) {
  return rt_token_wait(cx, (rt_token *)arg);
}
/* output: 1 woken by the token, 0 timed out */
static int tw_poll(rt_cx *cx, void *s, void **out) {
  tw_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  RT_AWAIT(st->pc, rc = (atomic_fetch_add(st->polled, 1),
                         rt_timeout(cx, st->deadline, op_token, st->t)));
  CHECK(rc == 0 || rc == RT_ETIMEDOUT);
  *out = (void *)(intptr_t)(rc == 0);
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type tw_type = {"tw", tw_poll, NULL, NULL};

static rt_handle *spawn_tw(rt_token *t, unsigned ms, atomic_int *polled) {
  tw_st st = {.t = t, .deadline = rt_now() + MS(ms), .polled = polled};
  return spawn_ok(&tw_type, &st, sizeof st);
}

Test(token, cancel_wakes_waiters, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_token *t;
  cr_assert_eq(rt_token_create(NULL, &t), 0);
  cr_assert(!rt_token_is_cancelled(t));
  enum { N = 30 };
  atomic_int polled = 0;
  rt_handle *hs[N];
  for (int i = 0; i < N; i++)
    hs[i] = spawn_tw(t, 20000, &polled);
  WAIT_FOR(atomic_load(&polled) == N, 10, "polled %d", atomic_load(&polled));
  uint64_t t0 = rt_now();
  rt_token_cancel(t);
  cr_assert(rt_token_is_cancelled(t));
  for (int i = 0; i < N; i++)
    join_expect(hs[i], RT_JOIN_OK, 1);
  cr_assert_lt(rt_now() - t0, MS(10000));
  /* a wait after the cancel completes at once; cancel again is harmless */
  rt_token_cancel(t);
  join_expect(spawn_tw(t, 20000, &polled), RT_JOIN_OK, 1);
  rt_token_destroy(t);
  env_finish(&e, true);
}

Test(token, child_cancelled_with_parent_not_reverse, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_token *root, *child, *grandchild, *sibling;
  cr_assert_eq(rt_token_create(NULL, &root), 0);
  cr_assert_eq(rt_token_create(root, &child), 0);
  cr_assert_eq(rt_token_create(child, &grandchild), 0);
  cr_assert_eq(rt_token_create(root, &sibling), 0);
  atomic_int polled = 0;
  /* cancelling the child: child and grandchild, never root or sibling */
  rt_handle *h_root = spawn_tw(root, 300, &polled);
  rt_handle *h_sib = spawn_tw(sibling, 300, &polled);
  rt_handle *h_child = spawn_tw(child, 20000, &polled);
  rt_handle *h_gc = spawn_tw(grandchild, 20000, &polled);
  WAIT_FOR(atomic_load(&polled) >= 4, 10, "polled %d", atomic_load(&polled));
  rt_token_cancel(child);
  cr_assert(rt_token_is_cancelled(child));
  cr_assert(rt_token_is_cancelled(grandchild));
  cr_assert(!rt_token_is_cancelled(root), "a child cancelled its parent");
  cr_assert(!rt_token_is_cancelled(sibling));
  join_expect(h_child, RT_JOIN_OK, 1);
  join_expect(h_gc, RT_JOIN_OK, 1);
  join_expect(h_root, RT_JOIN_OK, 0); /* timed out: not woken */
  join_expect(h_sib, RT_JOIN_OK, 0);
  /* cancelling the root reaches the remaining subtree */
  rt_token *late;
  cr_assert_eq(rt_token_create(sibling, &late), 0);
  atomic_int polled2 = 0;
  h_sib = spawn_tw(sibling, 20000, &polled2);
  rt_handle *h_late = spawn_tw(late, 20000, &polled2);
  h_root = spawn_tw(root, 20000, &polled2);
  WAIT_FOR(atomic_load(&polled2) == 3, 10, "polled %d", atomic_load(&polled2));
  rt_token_cancel(root);
  cr_assert(rt_token_is_cancelled(root));
  cr_assert(rt_token_is_cancelled(sibling));
  cr_assert(rt_token_is_cancelled(late));
  join_expect(h_sib, RT_JOIN_OK, 1);
  join_expect(h_late, RT_JOIN_OK, 1);
  join_expect(h_root, RT_JOIN_OK, 1);
  /* a child created under a cancelled parent starts cancelled */
  rt_token *after;
  cr_assert_eq(rt_token_create(root, &after), 0);
  cr_assert(rt_token_is_cancelled(after));
  join_expect(spawn_tw(after, 20000, &polled2), RT_JOIN_OK, 1);
  rt_token_destroy(after);
  rt_token_destroy(late);
  rt_token_destroy(grandchild);
  rt_token_destroy(child);
  rt_token_destroy(sibling);
  rt_token_destroy(root);
  env_finish(&e, true);
}

/* A token waiter that is aborted leaves no stale waiter (cancel later must
 * not touch freed memory: ASan/TSan check this). */
Test(token, aborted_waiter_is_unlinked, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_token *t;
  cr_assert_eq(rt_token_create(NULL, &t), 0);
  atomic_int polled = 0;
  rt_handle *hs[10];
  for (int i = 0; i < 10; i++)
    hs[i] = spawn_tw(t, 20000, &polled);
  WAIT_FOR(atomic_load(&polled) == 10, 10, "polled %d", atomic_load(&polled));
  for (int i = 0; i < 10; i += 2)
    rt_handle_abort(hs[i]);
  for (int i = 0; i < 10; i += 2)
    join_expect(hs[i], RT_JOIN_CANCELLED, 0);
  rt_token_cancel(t);
  for (int i = 1; i < 10; i += 2)
    join_expect(hs[i], RT_JOIN_OK, 1);
  rt_token_destroy(t);
  env_finish(&e, true);
}
