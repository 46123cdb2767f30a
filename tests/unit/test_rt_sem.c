/*
 * test_rt_sem.c - the semaphore: contention from all workers never exceeds
 * the permits, FIFO fairness (a big request at the head holds back smaller
 * ones, try_acquire cannot jump the queue), a dropped waiter (timeout,
 * select, abort) gives back what it was granted, close -> RT_ECLOSED.
 */
#include "rt_test_util.h"

/* ---- contention
 * -------------------------------------------------------------- */

typedef struct holder_st {
  int pc, i, iters;
  size_t n;
  bool y;
  rt_sem *s;
  atomic_int *holders, *max_holders, *violations, *acquired;
  atomic_uint *worker_mask;
  int permits;
  pthread_barrier_t *bar; /* first poll: one such holder per worker */
} holder_st;
static int holder_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  holder_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  if (st->bar)
    pthread_barrier_wait(st->bar);
  for (st->i = 0; st->i < st->iters; st->i++) {
    RT_AWAIT(st->pc, rc = (note_worker(st->worker_mask),
                           rt_sem_acquire(cx, st->s, st->n)));
    CHECK(rc == 0);
    {
      int h = atomic_fetch_add(st->holders, (int)st->n) + (int)st->n;
      if (h > st->permits)
        atomic_fetch_add(st->violations, 1);
      int m = atomic_load(st->max_holders);
      while (h > m && !atomic_compare_exchange_weak(st->max_holders, &m, h)) {
      }
      atomic_fetch_add(st->acquired, 1);
    }
    /* hold the permits across a yield so others contend */
    RT_AWAIT(st->pc, rc = rt_yield_now(cx, &st->y));
    atomic_fetch_sub(st->holders, (int)st->n);
    rt_sem_release(st->s, st->n);
  }
  RT_END(st->pc);
  return RT_READY;
}
static void holder_drop(void *s) { (void)s; }
static const rt_task_type holder_type = {"holder", holder_poll, holder_drop,
                                         NULL};

Test(sem, contention_never_exceeds_permits, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 4, 0);
  enum { PERMITS = 3, TASKS = 24, ITERS = 1500 };
  rt_sem *s;
  cr_assert_eq(rt_sem_create(PERMITS, &s), 0);
  atomic_int holders = 0, max_holders = 0, violations = 0, acquired = 0;
  atomic_uint mask = 0;
  rt_handle *hs[TASKS];
  /* the first 4 holders start together, one on each worker */
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, 4);
  for (int i = 0; i < TASKS; i++) {
    holder_st st = {.iters = ITERS,
                    .n = (i % 4 == 3) ? 2 : 1,
                    .s = s,
                    .holders = &holders,
                    .max_holders = &max_holders,
                    .violations = &violations,
                    .acquired = &acquired,
                    .worker_mask = &mask,
                    .permits = PERMITS,
                    .bar = i < 4 ? &bar : NULL};
    hs[i] = spawn_ok(&holder_type, &st, sizeof st);
  }
  for (int i = 0; i < TASKS; i++)
    join_expect(hs[i], RT_JOIN_OK, 0);
  pthread_barrier_destroy(&bar);
  cr_assert_eq(atomic_load(&violations), 0,
               "%d times more than %d permits were held (max %d)",
               atomic_load(&violations), PERMITS, atomic_load(&max_holders));
  cr_assert_leq(atomic_load(&max_holders), PERMITS);
  cr_assert_geq(atomic_load(&max_holders), 2, "no contention happened");
  cr_assert_eq(atomic_load(&acquired), TASKS * ITERS);
  cr_assert_eq(atomic_load(&holders), 0);
  cr_assert_eq(rt_sem_available(s), PERMITS);
  /* acquires came from every worker */
  cr_assert_eq(atomic_load(&mask), 0xfu, "worker mask %#x", atomic_load(&mask));
  rt_sem_destroy(s);
  env_finish(&e, true);
}

/* ---- FIFO fairness
 * ------------------------------------------------------------- */

typedef struct acq_st {
  int pc;
  rt_sem *s;
  size_t n;
  int id;
  atomic_int *polled;
  atomic_int *order_n;
  int *order;
} acq_st;
static int acq_poll(rt_cx *cx, void *s, void **out) {
  acq_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  /* st->polled counts polls, after the acquire registered */
  RT_AWAIT(st->pc, rc = (rc = rt_sem_acquire(cx, st->s, st->n),
                         atomic_fetch_add(st->polled, 1), rc));
  *out = (void *)(intptr_t)rc;
  if (rc == 0) {
    int k = atomic_fetch_add(st->order_n, 1);
    st->order[k] = st->id;
  }
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type acq_type = {"acq", acq_poll, NULL, NULL};

/* Spawns an acq task: id asks for n permits of s, counts its polls in
 * *polled and, once granted, writes its id to order[(*order_n)++]. */
static rt_handle *spawn_acq(rt_sem *s, size_t n, int id, atomic_int *polled,
                            atomic_int *order_n, int *order) {
  acq_st st = {.s = s,
               .n = n,
               .id = id,
               .polled = polled,
               .order_n = order_n,
               .order = order};
  return spawn_ok(&acq_type, &st, sizeof st);
}

Test(sem, fifo_big_request_at_head_blocks_smaller, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_sem *s;
  cr_assert_eq(rt_sem_create(2, &s), 0);
  cr_assert_eq(rt_sem_try_acquire(s, 2), 0); /* the test holds both */
  cr_assert_eq(rt_sem_available(s), 0);
  int order[8];
  atomic_int order_n = 0, pb = 0, pc1 = 0, pc2 = 0;
  rt_handle *hb = spawn_acq(s, 2, 1, &pb, &order_n, order);
  WAIT_FOR(atomic_load(&pb) == 1, 10, "big never polled");
  rt_handle *h1 = spawn_acq(s, 1, 2, &pc1, &order_n, order);
  WAIT_FOR(atomic_load(&pc1) == 1, 10, "small never polled");
  rt_handle *h2 = spawn_acq(s, 1, 3, &pc2, &order_n, order);
  WAIT_FOR(atomic_load(&pc2) == 1, 10, "small never polled");
  /* one permit back: it fits the smaller waiters, but the big request is
   * at the head, so nobody gets it */
  rt_sem_release(s, 1);
  cr_assert_eq(rt_sem_available(s), 1,
               "a smaller request behind the head took the permit");
  /* and neither try_acquire nor a new acquire can jump the queue */
  cr_assert_eq(rt_sem_try_acquire(s, 1), RT_EFULL);
  atomic_int pc3 = 0;
  rt_handle *h3 = spawn_acq(s, 1, 4, &pc3, &order_n, order);
  WAIT_FOR(atomic_load(&pc3) == 1, 10, "small3 never polled");
  cr_assert_eq(rt_sem_available(s), 1, "a new acquire jumped the queue");
  sleep_ms(20);
  cr_assert_eq(atomic_load(&order_n), 0, "someone acquired out of order");
  cr_assert_eq(rt_sem_available(s), 1);
  /* the second permit completes the big request (it keeps both) */
  rt_sem_release(s, 1);
  cr_assert_eq(rt_sem_available(s), 0);
  join_expect(hb, RT_JOIN_OK, 0);
  cr_assert(!rt_handle_is_finished(h1) && !rt_handle_is_finished(h2));
  /* then one permit at a time: the smaller ones in their order */
  rt_sem_release(s, 1);
  cr_assert_eq(rt_sem_available(s), 0);
  join_expect(h1, RT_JOIN_OK, 0);
  sleep_ms(5);
  cr_assert(!rt_handle_is_finished(h2), "the later waiter went first");
  rt_sem_release(s, 1);
  join_expect(h2, RT_JOIN_OK, 0);
  rt_sem_release(s, 1);
  join_expect(h3, RT_JOIN_OK, 0);
  cr_assert_eq(atomic_load(&order_n), 4);
  cr_assert_eq(order[3], 4);
  cr_assert_eq(order[0], 1, "order %d %d %d", order[0], order[1], order[2]);
  cr_assert_eq(order[1], 2, "order %d %d %d", order[0], order[1], order[2]);
  cr_assert_eq(order[2], 3, "order %d %d %d", order[0], order[1], order[2]);
  cr_assert_eq(rt_sem_available(s), 0);
  rt_sem_release(s, 4);
  cr_assert_eq(rt_sem_available(s), 4);
  rt_sem_destroy(s);
  env_finish(&e, true);
}

/* A waiter at the head that is aborted lets the smaller ones through. */
Test(sem, aborted_head_waiter_unblocks_queue, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_sem *s;
  cr_assert_eq(rt_sem_create(1, &s), 0);
  int order[8];
  atomic_int order_n = 0, pb = 0, ps = 0;
  rt_handle *hb = spawn_acq(s, 5, 1, &pb, &order_n, order);
  WAIT_FOR(atomic_load(&pb) == 1, 10, "big never polled");
  rt_handle *hs = spawn_acq(s, 1, 2, &ps, &order_n, order);
  WAIT_FOR(atomic_load(&ps) == 1, 10, "small never polled");
  sleep_ms(5);
  cr_assert_eq(atomic_load(&order_n), 0);
  rt_handle_abort(hb);
  join_expect(hb, RT_JOIN_CANCELLED, 0);
  join_expect(hs, RT_JOIN_OK, 0);
  cr_assert_eq(rt_sem_available(s), 0); /* the small one keeps its permit */
  rt_sem_release(s, 1);
  cr_assert_eq(rt_sem_available(s), 1);
  rt_sem_destroy(s);
  env_finish(&e, true);
}

/* ---- dropped waiters give back what they were granted
 * ------------------------ */

static int op_acquire1(rt_cx *cx, void *arg) {
  return rt_sem_acquire(cx, (rt_sem *)arg, 1);
}

/* rt_timeout(acquire) times out; the task then waits on a notify, so the
 * acquire registration it polled in that last poll is only dropped at the
 * next poll.  A permit released in between is granted to the dead wait and
 * must come back when the wait is dropped. */
typedef struct tacq_st {
  int pc;
  rt_sem *s;
  rt_notify *n;
  uint64_t deadline;
  atomic_int *timed_out;
  int rc;
} tacq_st;
static int tacq_poll(rt_cx *cx, void *s, void **out) {
  tacq_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  RT_AWAIT(st->pc, st->rc = rt_timeout(cx, st->deadline, op_acquire1, st->s));
  if (st->rc == 0) {
    *out = (void *)(intptr_t)1; /* acquired: give it back */
    rt_sem_release(st->s, 1);
    return RT_READY;
  }
  CHECK(st->rc == RT_ETIMEDOUT);
  atomic_store(st->timed_out, 1);
  RT_AWAIT(st->pc, rc = rt_notify_wait(cx, st->n));
  CHECK(rc == 0);
  *out = (void *)(intptr_t)2;
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type tacq_type = {"tacq", tacq_poll, NULL, NULL};

Test(sem, timed_out_waiter_gives_back_late_grant, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_sem *s;
  rt_notify *n;
  cr_assert_eq(rt_sem_create(0, &s), 0);
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int timed_out = 0;
  tacq_st st = {
      .s = s, .n = n, .deadline = rt_now() + MS(20), .timed_out = &timed_out};
  rt_handle *h = spawn_ok(&tacq_type, &st, sizeof st);
  WAIT_FOR(atomic_load(&timed_out) == 1, 10, "never timed out");
  sleep_ms(2);
  rt_sem_release(s, 1);
  /* whether or not the stale wait was granted the permit, it must be
   * available again once the task has moved on */
  rt_notify_one(n);
  join_expect(h, RT_JOIN_OK, 2);
  cr_assert_eq(rt_sem_available(s), 1, "permit lost: %zu available",
               rt_sem_available(s));
  rt_sem_destroy(s);
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* Many tasks race short timeouts against releases; nothing is lost. */
typedef struct tloop_st {
  int pc, i, iters;
  rt_sem *s;
  uint64_t deadline;
  bool y;
  atomic_int *got, *timeouts;
} tloop_st;
static int tloop_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  tloop_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  for (st->i = 0; st->i < st->iters; st->i++) {
    st->deadline = rt_now() + US(20 + (st->i * 37) % 200);
    RT_AWAIT(st->pc, rc = rt_timeout(cx, st->deadline, op_acquire1, st->s));
    if (rc == 0) {
      atomic_fetch_add(st->got, 1);
      RT_AWAIT(st->pc, rc = rt_yield_now(cx, &st->y));
      rt_sem_release(st->s, 1);
    } else {
      CHECK(rc == RT_ETIMEDOUT);
      atomic_fetch_add(st->timeouts, 1);
      /* two yields: the second poll does not touch the acquire, so its
       * stale registration (maybe granted meanwhile) is swept there */
      RT_AWAIT(st->pc, rc = rt_yield_now(cx, &st->y));
      RT_AWAIT(st->pc, rc = rt_yield_now(cx, &st->y));
    }
  }
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type tloop_type = {"tloop", tloop_poll, NULL, NULL};

Test(sem, timeout_storm_loses_no_permit, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 4, 0);
  enum { PERMITS = 2, TASKS = 16, ITERS = 300 };
  rt_sem *s;
  cr_assert_eq(rt_sem_create(PERMITS, &s), 0);
  atomic_int got = 0, timeouts = 0;
  rt_handle *hs[TASKS];
  for (int i = 0; i < TASKS; i++) {
    tloop_st st = {.iters = ITERS, .s = s, .got = &got, .timeouts = &timeouts};
    hs[i] = spawn_ok(&tloop_type, &st, sizeof st);
  }
  for (int i = 0; i < TASKS; i++)
    join_expect(hs[i], RT_JOIN_OK, 0);
  cr_assert_eq(atomic_load(&got) + atomic_load(&timeouts), TASKS * ITERS);
  cr_assert_gt(atomic_load(&got), 0);
  cr_assert_eq(rt_sem_available(s), PERMITS,
               "permits lost or created: %zu available, %d initial (got %d, "
               "timeouts %d)",
               rt_sem_available(s), PERMITS, atomic_load(&got),
               atomic_load(&timeouts));
  rt_sem_destroy(s);
  env_finish(&e, true);
}

/* A select (notify first, then the semaphore): both fire before the task
 * is polled again; the notify wins, and the permit granted to the dropped
 * acquire goes back.  The only worker is held so both happen first. */
typedef struct sel_st {
  rt_sem *s;
  rt_notify *n;
  atomic_int *polled;
} sel_st;
static int sel_poll(rt_cx *cx, void *s, void **out) {
  sel_st *st = s;
  int r1 = rt_notify_wait(cx, st->n);
  if (r1 == 0) {
    *out = (void *)(intptr_t)1; /* notify won */
    return RT_READY;
  }
  int r2 = rt_sem_acquire(cx, st->s, 1);
  atomic_fetch_add(st->polled, 1);
  if (r2 == 0) {
    *out = (void *)(intptr_t)2;
    rt_sem_release(st->s, 1);
    return RT_READY;
  }
  return RT_PENDING;
}
static const rt_task_type sel_type = {"sel", sel_poll, NULL, NULL};

Test(sem, select_loser_gives_back_grant, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  rt_sem *s;
  rt_notify *n;
  cr_assert_eq(rt_sem_create(0, &s), 0);
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int polled = 0;
  sel_st st = {s, n, &polled};
  rt_handle *h = spawn_ok(&sel_type, &st, sizeof st);
  WAIT_FOR(atomic_load(&polled) == 1, 10, "never polled");
  held_worker w;
  hold_worker(&w);
  rt_sem_release(s, 1); /* granted to the waiting acquire */
  cr_assert_eq(rt_sem_available(s), 0, "the permit was not granted");
  rt_notify_one(n);
  release_worker(&w);
  join_expect(h, RT_JOIN_OK, 1);
  cr_assert_eq(rt_sem_available(s), 1, "granted permit lost by the select");
  rt_sem_destroy(s);
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* Abort of a waiter that was granted its permits but not polled again. */
Test(sem, aborted_granted_waiter_gives_back, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  rt_sem *s;
  cr_assert_eq(rt_sem_create(0, &s), 0);
  int order[4];
  atomic_int order_n = 0, polled = 0;
  rt_handle *h = spawn_acq(s, 3, 1, &polled, &order_n, order);
  WAIT_FOR(atomic_load(&polled) == 1, 10, "never polled");
  held_worker w;
  hold_worker(&w);
  rt_sem_release(s, 3);
  cr_assert_eq(rt_sem_available(s), 0);
  rt_handle_abort(h);
  release_worker(&w);
  join_expect(h, RT_JOIN_CANCELLED, 0);
  cr_assert_eq(atomic_load(&order_n), 0);
  cr_assert_eq(rt_sem_available(s), 3, "granted permits lost by abort: %zu",
               rt_sem_available(s));
  rt_sem_destroy(s);
  env_finish(&e, true);
}

/* ---- close
 * --------------------------------------------------------------------- */

Test(sem, close_fails_waiters_and_new_acquires, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_sem *s;
  cr_assert_eq(rt_sem_create(1, &s), 0);
  cr_assert_eq(rt_sem_try_acquire(s, 1), 0);
  cr_assert_eq(rt_sem_try_acquire(s, 1), RT_EFULL);
  int order[8];
  atomic_int order_n = 0, polled = 0;
  rt_handle *hs[5];
  for (int i = 0; i < 5; i++)
    hs[i] = spawn_acq(s, 1, i, &polled, &order_n, order);
  WAIT_FOR(atomic_load(&polled) == 5, 10, "polled %d", atomic_load(&polled));
  rt_sem_close(s);
  for (int i = 0; i < 5; i++)
    join_expect(hs[i], RT_JOIN_OK, RT_ECLOSED);
  cr_assert_eq(atomic_load(&order_n), 0);
  cr_assert_eq(rt_sem_try_acquire(s, 1), RT_ECLOSED);
  rt_sem_release(s, 1);
  cr_assert_eq(rt_sem_try_acquire(s, 1), RT_ECLOSED);
  join_expect(spawn_acq(s, 1, 9, &polled, &order_n, order), RT_JOIN_OK,
              RT_ECLOSED);
  rt_sem_destroy(s);
  env_finish(&e, true);
}

Test(sem, try_acquire_counts, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  rt_sem *s;
  cr_assert_eq(rt_sem_create(5, &s), 0);
  cr_assert_eq(rt_sem_try_acquire(s, 3), 0);
  cr_assert_eq(rt_sem_available(s), 2);
  cr_assert_eq(rt_sem_try_acquire(s, 3), RT_EFULL);
  cr_assert_eq(rt_sem_available(s), 2);
  cr_assert_eq(rt_sem_try_acquire(s, 2), 0);
  cr_assert_eq(rt_sem_available(s), 0);
  rt_sem_release(s, 5);
  cr_assert_eq(rt_sem_available(s), 5);
  rt_sem_destroy(s);
  env_finish(&e, true);
}
