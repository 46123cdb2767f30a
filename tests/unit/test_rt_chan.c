/*
 * test_rt_chan.c - the bounded channel: many producers on all workers to
 * one consumer (every item exactly once, per-producer order kept), the
 * capacity is never exceeded, close semantics (drain then RT_ECLOSED,
 * senders fail, waiting senders and receivers are woken), try_send /
 * try_recv, a dropped receiver or sender passes its wake-up / slot on.
 */
#include "rt_test_util.h"

#define ITEM(p, i) ((void *)(uintptr_t)(((uint64_t)(p) << 32) | (uint64_t)(i)))
#define ITEM_P(x) ((int)((uint64_t)(uintptr_t)(x) >> 32))
#define ITEM_I(x) ((int)((uint64_t)(uintptr_t)(x)&0xffffffffu))

/* ---- many producers, one consumer
 * ---------------------------------------------- */

typedef struct prod_st {
  int pc, id, i, n;
  rt_chan *c;
  size_t cap;
  atomic_int *over_cap;
  atomic_uint *worker_mask;
  pthread_barrier_t *bar; /* first poll: meet the other workers' producers */
} prod_st;
static int prod_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  prod_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  if (st->bar)
    pthread_barrier_wait(st->bar); /* one such producer on each worker */
  for (st->i = 0; st->i < st->n; st->i++) {
    /* every send poll records the worker it runs on */
    RT_AWAIT(st->pc, rc = (note_worker(st->worker_mask),
                           rt_chan_send(cx, st->c, ITEM(st->id + 1, st->i))));
    CHECK(rc == 0);
    if (rt_chan_len(st->c) > st->cap)
      atomic_fetch_add(st->over_cap, 1);
  }
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type prod_type = {"prod", prod_poll, NULL, NULL};

enum { MAXP = 16 };
typedef struct cons_st {
  int pc, nprod;
  long total, expect;
  rt_chan *c;
  size_t cap;
  void *item;
  int next[MAXP];
  atomic_int *over_cap, *bad;
} cons_st;
static int cons_poll(rt_cx *cx, void *s, void **out) {
  cons_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  while (st->total < st->expect) {
    RT_AWAIT(st->pc, rc = rt_chan_recv(cx, st->c, &st->item));
    CHECK(rc == 0);
    if (rc != 0)
      break;
    if (rt_chan_len(st->c) > st->cap)
      atomic_fetch_add(st->over_cap, 1);
    {
      int p = ITEM_P(st->item) - 1, i = ITEM_I(st->item);
      if (p < 0 || p >= st->nprod || st->next[p] != i)
        atomic_fetch_add(st->bad, 1); /* duplicate, loss or reorder */
      else
        st->next[p]++;
    }
    st->total++;
  }
  *out = (void *)(intptr_t)st->total;
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type cons_type = {"cons", cons_poll, NULL, NULL};

static void mpsc(unsigned workers, int nprod, int per, size_t cap) {
  tenv e;
  env_start(&e, workers, 0);
  rt_chan *c;
  cr_assert_eq(rt_chan_create(cap, &c), 0);
  atomic_int over_cap = 0, bad = 0;
  atomic_uint mask = 0;
  cons_st cs = {.nprod = nprod,
                .expect = (long)nprod * per,
                .c = c,
                .cap = cap,
                .over_cap = &over_cap,
                .bad = &bad};
  rt_handle *hc = spawn_ok(&cons_type, &cs, sizeof cs);
  rt_handle *hp[MAXP];
  /* the first `workers` producers start together, one per worker, so the
   * sends come from every worker */
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, workers);
  for (int p = 0; p < nprod; p++) {
    prod_st ps = {.id = p,
                  .n = per,
                  .c = c,
                  .cap = cap,
                  .over_cap = &over_cap,
                  .worker_mask = &mask,
                  .bar = p < (int)workers ? &bar : NULL};
    hp[p] = spawn_ok(&prod_type, &ps, sizeof ps);
  }
  for (int p = 0; p < nprod; p++)
    join_expect(hp[p], RT_JOIN_OK, 0);
  pthread_barrier_destroy(&bar);
  join_expect(hc, RT_JOIN_OK, (intptr_t)nprod * per);
  cr_assert_eq(atomic_load(&bad), 0,
               "%d items duplicated, lost or out of producer order",
               atomic_load(&bad));
  cr_assert_eq(atomic_load(&over_cap), 0, "the channel held more than %zu",
               cap);
  cr_assert_eq(rt_chan_len(c), 0);
  void *x;
  cr_assert_eq(rt_chan_try_recv(c, &x), RT_EEMPTY);
  cr_assert_eq(atomic_load(&mask), (1u << workers) - 1,
               "producers did not send from every worker (mask %#x)",
               atomic_load(&mask));
  rt_chan_destroy(c);
  env_finish(&e, true);
}

Test(chan, many_producers_one_consumer_4_workers, .timeout = T_SHORT) {
  mpsc(4, 12, 20000, 16);
}
Test(chan, many_producers_one_consumer_cap_1, .timeout = T_SHORT) {
  mpsc(2, 8, 5000, 1);
}

/* ---- capacity
 * ---------------------------------------------------------------- */

typedef struct slowcons_st {
  int pc, i, n;
  rt_chan *c;
  void *item;
  uint64_t deadline, give_up;
  size_t cap;
  atomic_int *over_cap, *bad;
  size_t max_len;
} slowcons_st;
static int slowcons_poll(rt_cx *cx, void *s, void **out) {
  slowcons_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  for (st->i = 0; st->i < st->n; st->i++) {
    /* every 10 items, let the producers fill it up (at most 2 s) */
    if (st->i % 10 == 0) {
      st->give_up = rt_now() + MS(2000);
      while (rt_chan_len(st->c) < st->cap && rt_now() < st->give_up) {
        st->deadline = rt_now() + US(500);
        RT_AWAIT(st->pc, rc = rt_sleep_until(cx, st->deadline));
      }
    }
    {
      size_t len = rt_chan_len(st->c);
      if (len > st->max_len)
        st->max_len = len;
      if (len > st->cap)
        atomic_fetch_add(st->over_cap, 1);
    }
    RT_AWAIT(st->pc, rc = rt_chan_recv(cx, st->c, &st->item));
    CHECK(rc == 0);
  }
  *out = (void *)st->max_len;
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type slowcons_type = {"slowcons", slowcons_poll, NULL,
                                           NULL};

Test(chan, capacity_is_respected, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  enum { CAP = 4, P = 4, PER = 100 };
  rt_chan *c;
  cr_assert_eq(rt_chan_create(CAP, &c), 0);
  atomic_int over_cap = 0, bad = 0;
  atomic_uint mask = 0;
  slowcons_st cs = {
      .n = P * PER, .c = c, .cap = CAP, .over_cap = &over_cap, .bad = &bad};
  rt_handle *hc = spawn_ok(&slowcons_type, &cs, sizeof cs);
  rt_handle *hp[P];
  for (int p = 0; p < P; p++) {
    prod_st ps = {.id = p,
                  .n = PER,
                  .c = c,
                  .cap = CAP,
                  .over_cap = &over_cap,
                  .worker_mask = &mask};
    hp[p] = spawn_ok(&prod_type, &ps, sizeof ps);
  }
  /* watch from outside, too */
  size_t seen_max = 0;
  while (!rt_handle_is_finished(hc)) {
    size_t len = rt_chan_len(c);
    cr_assert_leq(len, CAP, "rt_chan_len = %zu > capacity %d", len, CAP);
    if (len > seen_max)
      seen_max = len;
    sleep_ns(US(100));
  }
  for (int p = 0; p < P; p++)
    join_expect(hp[p], RT_JOIN_OK, 0);
  rt_join j = join_blocking(hc);
  cr_assert_eq(j.status, RT_JOIN_OK);
  cr_assert_eq(atomic_load(&over_cap), 0);
  cr_assert_eq((size_t)j.value, CAP, "the channel never filled (max %zu)",
               (size_t)j.value);
  cr_assert_eq(rt_chan_try_send(c, NULL), 0);
  rt_chan_destroy(c);
  env_finish(&e, true);
}

/* ---- try_send / try_recv
 * ------------------------------------------------------- */

Test(chan, try_send_try_recv, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  rt_chan *c;
  cr_assert_eq(rt_chan_create(0, &c), RT_EINVAL);
  cr_assert_eq(rt_chan_create(3, &c), 0);
  void *x = (void *)1;
  cr_assert_eq(rt_chan_try_recv(c, &x), RT_EEMPTY);
  cr_assert_eq(x, (void *)1, "try_recv wrote the item on EEMPTY");
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < 3; i++)
      cr_assert_eq(rt_chan_try_send(c, (void *)(intptr_t)(10 * round + i)), 0);
    cr_assert_eq(rt_chan_len(c), 3);
    cr_assert_eq(rt_chan_try_send(c, (void *)99), RT_EFULL);
    cr_assert_eq(rt_chan_len(c), 3);
    for (int i = 0; i < 3; i++) {
      cr_assert_eq(rt_chan_try_recv(c, &x), 0);
      cr_assert_eq((intptr_t)x, 10 * round + i, "FIFO broken");
    }
    cr_assert_eq(rt_chan_try_recv(c, &x), RT_EEMPTY);
    cr_assert_eq(rt_chan_len(c), 0);
  }
  /* NULL is an item like any other */
  cr_assert_eq(rt_chan_try_send(c, NULL), 0);
  x = (void *)1;
  cr_assert_eq(rt_chan_try_recv(c, &x), 0);
  cr_assert_null(x);
  rt_chan_destroy(c);
  env_finish(&e, true);
}

/* ---- close
 * ------------------------------------------------------------------- */

typedef struct drain_st {
  int pc;
  rt_chan *c;
  void *item;
  int got[16];
  int n;
  int final_rc;
  atomic_int *polled;
} drain_st;
static drain_st g_drain;
static int drain_poll(rt_cx *cx, void *s, void **out) {
  drain_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  for (;;) {
    RT_AWAIT(st->pc, rc = (atomic_fetch_add(st->polled, 1),
                           rt_chan_recv(cx, st->c, &st->item)));
    if (rc != 0)
      break;
    if (st->n < 16)
      st->got[st->n] = (int)(intptr_t)st->item;
    st->n++;
  }
  st->final_rc = rc;
  g_drain = *st;
  *out = &g_drain;
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type drain_type = {"drain", drain_poll, NULL, NULL};

Test(chan, close_lets_receiver_drain_then_eclosed, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_chan *c;
  cr_assert_eq(rt_chan_create(8, &c), 0);
  for (int i = 0; i < 5; i++)
    cr_assert_eq(rt_chan_try_send(c, (void *)(intptr_t)(i + 1)), 0);
  rt_chan_close(c);
  cr_assert_eq(rt_chan_try_send(c, (void *)7), RT_ECLOSED);
  cr_assert_eq(rt_chan_len(c), 5);
  atomic_int polled = 0;
  drain_st d = {.c = c, .polled = &polled};
  rt_join j = join_blocking(spawn_ok(&drain_type, &d, sizeof d));
  drain_st *r = j.value;
  cr_assert_eq(r->n, 5);
  for (int i = 0; i < 5; i++)
    cr_assert_eq(r->got[i], i + 1);
  cr_assert_eq(r->final_rc, RT_ECLOSED, "after draining: %s",
               rt_strerror(r->final_rc));
  void *x;
  cr_assert_eq(rt_chan_try_recv(c, &x), RT_ECLOSED);
  rt_chan_destroy(c);
  env_finish(&e, true);
}

Test(chan, close_wakes_waiting_receiver, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_chan *c;
  cr_assert_eq(rt_chan_create(2, &c), 0);
  atomic_int polled = 0;
  drain_st d = {.c = c, .polled = &polled};
  rt_handle *h = spawn_ok(&drain_type, &d, sizeof d);
  WAIT_FOR(atomic_load(&polled) == 1, 10, "receiver never polled");
  cr_assert_eq(rt_chan_try_send(c, (void *)(intptr_t)3), 0);
  WAIT_FOR(atomic_load(&polled) >= 3, 10, "receiver not woken by the item");
  rt_chan_close(c);
  rt_join j = join_blocking(h);
  drain_st *r = j.value;
  cr_assert_eq(r->n, 1);
  cr_assert_eq(r->got[0], 3);
  cr_assert_eq(r->final_rc, RT_ECLOSED);
  rt_chan_destroy(c);
  env_finish(&e, true);
}

typedef struct sender_st {
  int pc;
  rt_chan *c;
  intptr_t v;
  atomic_int *polled;
} sender_st;
static int sender_poll(rt_cx *cx, void *s, void **out) {
  sender_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  RT_AWAIT(st->pc, rc = (atomic_fetch_add(st->polled, 1),
                         rt_chan_send(cx, st->c, (void *)st->v)));
  *out = (void *)(intptr_t)rc;
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type sender_type = {"sender", sender_poll, NULL, NULL};

Test(chan, close_fails_waiting_and_new_senders, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_chan *c;
  cr_assert_eq(rt_chan_create(2, &c), 0);
  cr_assert_eq(rt_chan_try_send(c, (void *)1), 0);
  cr_assert_eq(rt_chan_try_send(c, (void *)2), 0);
  atomic_int polled = 0;
  rt_handle *hs[6];
  for (int i = 0; i < 6; i++) {
    sender_st s = {.c = c, .v = 100 + i, .polled = &polled};
    hs[i] = spawn_ok(&sender_type, &s, sizeof s);
  }
  WAIT_FOR(atomic_load(&polled) == 6, 10, "senders polled %d",
           atomic_load(&polled));
  rt_chan_close(c);
  for (int i = 0; i < 6; i++)
    join_expect(hs[i], RT_JOIN_OK, RT_ECLOSED);
  sender_st s = {.c = c, .v = 1, .polled = &polled};
  join_expect(spawn_ok(&sender_type, &s, sizeof s), RT_JOIN_OK, RT_ECLOSED);
  /* the items sent before the close are still there */
  void *x;
  cr_assert_eq(rt_chan_try_recv(c, &x), 0);
  cr_assert_eq((intptr_t)x, 1);
  cr_assert_eq(rt_chan_try_recv(c, &x), 0);
  cr_assert_eq((intptr_t)x, 2);
  cr_assert_eq(rt_chan_try_recv(c, &x), RT_ECLOSED);
  rt_chan_destroy(c);
  env_finish(&e, true);
}

/* Blocked senders are served in order when slots free up. */
Test(chan, waiting_senders_served_in_order, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_chan *c;
  cr_assert_eq(rt_chan_create(1, &c), 0);
  cr_assert_eq(rt_chan_try_send(c, (void *)(intptr_t)0), 0);
  atomic_int polled = 0;
  rt_handle *hs[5];
  for (int i = 0; i < 5; i++) {
    sender_st s = {.c = c, .v = i + 1, .polled = &polled};
    hs[i] = spawn_ok(&sender_type, &s, sizeof s);
    WAIT_FOR(atomic_load(&polled) == i + 1, 10, "sender %d never polled", i);
  }
  /* a slot freed goes to the head sender, not to try_send */
  void *x;
  cr_assert_eq(rt_chan_try_recv(c, &x), 0);
  cr_assert_eq((intptr_t)x, 0);
  cr_assert_eq(rt_chan_try_send(c, (void *)99), RT_EFULL,
               "try_send jumped the waiting senders");
  for (int i = 0; i < 5; i++) {
    WAIT_FOR(rt_chan_len(c) == 1, 10, "sender %d never delivered", i);
    cr_assert_eq(rt_chan_try_recv(c, &x), 0);
    cr_assert_eq((intptr_t)x, i + 1, "sender order broken");
  }
  for (int i = 0; i < 5; i++)
    join_expect(hs[i], RT_JOIN_OK, 0);
  rt_chan_destroy(c);
  env_finish(&e, true);
}

/* A sender handed a slot and aborted before using it passes the slot on:
 * the next sender gets it.  The only worker is held so both happen before
 * the aborted sender could run. */
Test(chan, aborted_sender_passes_reserved_slot_on, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  rt_chan *c;
  cr_assert_eq(rt_chan_create(1, &c), 0);
  cr_assert_eq(rt_chan_try_send(c, (void *)(intptr_t)7), 0);
  atomic_int polled = 0;
  sender_st s1 = {.c = c, .v = 1, .polled = &polled};
  rt_handle *h1 = spawn_ok(&sender_type, &s1, sizeof s1);
  WAIT_FOR(atomic_load(&polled) == 1, 10, "sender 1 never polled");
  sender_st s2 = {.c = c, .v = 2, .polled = &polled};
  rt_handle *h2 = spawn_ok(&sender_type, &s2, sizeof s2);
  WAIT_FOR(atomic_load(&polled) == 2, 10, "sender 2 never polled");
  held_worker w;
  hold_worker(&w);
  void *x;
  cr_assert_eq(rt_chan_try_recv(c, &x), 0); /* slot handed to sender 1 */
  rt_handle_abort(h1);
  release_worker(&w);
  join_expect(h1, RT_JOIN_CANCELLED, 0);
  join_expect(h2, RT_JOIN_OK, 0);
  cr_assert_eq(rt_chan_try_recv(c, &x), 0);
  cr_assert_eq((intptr_t)x, 2);
  cr_assert_eq(rt_chan_try_send(c, (void *)3), 0, "a slot was lost");
  rt_chan_destroy(c);
  env_finish(&e, true);
}

/* One receiver at a time, but a receiver woken for an item and dropped
 * before taking it passes the wake-up to the next receiver. */
typedef struct selrecv_st {
  rt_chan *c;
  rt_notify *n;
  atomic_int *polled;
  void *item;
} selrecv_st;
static int selrecv_poll(rt_cx *cx, void *s, void **out) {
  selrecv_st *st = s;
  if (rt_notify_wait(cx, st->n) == 0) {
    *out = (void *)(intptr_t)-1; /* gave up */
    return RT_READY;
  }
  int rc = rt_chan_recv(cx, st->c, &st->item);
  atomic_fetch_add(st->polled, 1);
  if (rc == RT_PENDING)
    return RT_PENDING;
  *out = st->item;
  return RT_READY;
}
static const rt_task_type selrecv_type = {"selrecv", selrecv_poll, NULL, NULL};

Test(chan, dropped_woken_receiver_passes_wakeup_on, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  rt_chan *c;
  rt_notify *n1, *n2;
  cr_assert_eq(rt_chan_create(4, &c), 0);
  cr_assert_eq(rt_notify_create(&n1), 0);
  cr_assert_eq(rt_notify_create(&n2), 0);
  atomic_int p1 = 0, p2 = 0;
  selrecv_st r1 = {.c = c, .n = n1, .polled = &p1};
  rt_handle *h1 = spawn_ok(&selrecv_type, &r1, sizeof r1);
  WAIT_FOR(atomic_load(&p1) == 1, 10, "receiver 1 never polled");
  selrecv_st r2 = {.c = c, .n = n2, .polled = &p2};
  rt_handle *h2 = spawn_ok(&selrecv_type, &r2, sizeof r2);
  WAIT_FOR(atomic_load(&p2) == 1, 10, "receiver 2 never polled");
  held_worker w;
  hold_worker(&w);
  cr_assert_eq(rt_chan_try_send(c, (void *)(intptr_t)5), 0); /* wakes r1 */
  rt_notify_one(n1); /* r1 will give up */
  release_worker(&w);
  join_expect(h1, RT_JOIN_OK, -1);
  join_expect(h2, RT_JOIN_OK, 5);
  rt_notify_destroy(n1);
  rt_notify_destroy(n2);
  rt_chan_destroy(c);
  env_finish(&e, true);
}
