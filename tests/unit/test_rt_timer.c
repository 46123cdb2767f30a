/*
 * test_rt_timer.c - time and scheduling: rt_sleep_until never returns
 * early, rt_timeout (op wins / deadline wins / op error passes through),
 * rt_yield_now interleaves tasks on one worker, fairness on one worker (a
 * yield loop, an always-ready channel, an always-ready semaphore do not
 * starve another task or a timer), rt_block_on (sleep, await, values).
 */
#include "rt_test_util.h"

/* ---- sleep never returns early --------------------------------------------
 */

typedef struct early_st {
  int pc;
  uint64_t deadline;
  atomic_int *early, *done;
} early_st;
static int early_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  early_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  RT_AWAIT(st->pc, rc = rt_sleep_until(cx, st->deadline));
  CHECK(rc == 0);
  if (rt_now() < st->deadline)
    atomic_fetch_add(st->early, 1);
  atomic_fetch_add(st->done, 1);
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type early_type = {"early", early_poll, NULL, NULL};

static void sleep_never_early(unsigned workers) {
  tenv e;
  env_start(&e, workers, 0);
  enum { N = 400 };
  static rt_handle *hs[N];
  atomic_int early = 0, done = 0;
  uint64_t t0 = rt_now();
  for (int i = 0; i < N; i++) {
    /* sub-millisecond and odd deadlines, some already past */
    uint64_t d = (i % 5 == 0) ? 0 : US((i * 137) % 40000);
    early_st st = {.deadline = t0 + d, .early = &early, .done = &done};
    hs[i] = spawn_ok(&early_type, &st, sizeof st);
  }
  for (int i = 0; i < N; i++)
    join_expect(hs[i], RT_JOIN_OK, 0);
  cr_assert_eq(atomic_load(&done), N);
  cr_assert_eq(atomic_load(&early), 0,
               "%d sleeps returned before their deadline", atomic_load(&early));
  env_finish(&e, true);
}

Test(timer, sleep_until_never_early_2_workers, .timeout = T_SHORT) {
  sleep_never_early(2);
}
Test(timer, sleep_until_never_early_1_worker, .timeout = T_SHORT) {
  sleep_never_early(1);
}

/* A sleep in a loop: each step's deadline is honoured and the total time
 * is at least the sum. */
typedef struct stepper_st {
  int pc, i;
  uint64_t t0, deadline;
  int early;
} stepper_st;
static int stepper_poll(rt_cx *cx, void *s, void **out) {
  stepper_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  st->t0 = rt_now();
  for (st->i = 0; st->i < 20; st->i++) {
    st->deadline = rt_now() + MS(2);
    RT_AWAIT(st->pc, rc = rt_sleep_until(cx, st->deadline));
    CHECK(rc == 0);
    if (rt_now() < st->deadline)
      st->early++;
  }
  *out = (void *)(intptr_t)(st->early * 1000000 +
                            (int)((rt_now() - st->t0) >= MS(40)));
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type stepper_type = {"stepper", stepper_poll, NULL, NULL};

Test(timer, repeated_sleeps_accumulate, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_handle *hs[10];
  for (int k = 0; k < 10; k++) {
    stepper_st st = {.pc = 0};
    hs[k] = spawn_ok(&stepper_type, &st, sizeof st);
  }
  for (int k = 0; k < 10; k++)
    join_expect(hs[k], RT_JOIN_OK, 1); /* no early step, total >= 40 ms */
  env_finish(&e, true);
}

/* ---- rt_timeout
 * ---------------------------------------------------------------- */

typedef struct chan_op {
  rt_chan *c;
  void *item;
} chan_op;
static int op_recv(rt_cx *cx, void *arg) {
  chan_op *o = arg;
  return rt_chan_recv(cx, o->c, &o->item);
}

typedef struct to_st {
  int pc;
  int kind; /* 0 notify op, 1 channel op */
  rt_notify *n;
  chan_op op;
  uint64_t start, deadline;
  int rc;
  uint64_t ended;
} to_st;
static to_st g_to_result[1];
static int to_poll(rt_cx *cx, void *s, void **out) {
  to_st *st = s;
  RT_BEGIN(st->pc);
  st->start = rt_now();
  if (st->kind == 0) {
    RT_AWAIT(st->pc, st->rc = rt_timeout(cx, st->deadline, op_notify, st->n));
  } else {
    RT_AWAIT(st->pc, st->rc = rt_timeout(cx, st->deadline, op_recv, &st->op));
  }
  st->ended = rt_now();
  RT_END(st->pc);
  g_to_result[0] = *st; /* the state is freed with the task */
  *out = &g_to_result[0];
  return RT_READY;
}
static const rt_task_type to_type = {"timeout", to_poll, NULL, NULL};

static to_st run_to(to_st st) {
  rt_handle *h = spawn_ok(&to_type, &st, sizeof st);
  rt_join j = join_blocking(h);
  cr_assert_eq(j.status, RT_JOIN_OK);
  return *(to_st *)j.value;
}

Test(timer, timeout_expires_when_op_never_finishes, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  for (int i = 0; i < 5; i++) {
    uint64_t dl = rt_now() + MS(30);
    to_st r = run_to((to_st){.kind = 0, .n = n, .deadline = dl});
    cr_assert_eq(r.rc, RT_ETIMEDOUT, "rt_timeout returned %d (%s)", r.rc,
                 rt_strerror(r.rc));
    cr_assert_geq(r.ended, dl, "timed out %.3f ms early", (dl - r.ended) / 1e6);
  }
  /* the abandoned notify wait is gone: a notify_one is stored, and the
   * next timeout-wrapped wait gets it at once */
  rt_notify_one(n);
  to_st r = run_to((to_st){.kind = 0, .n = n, .deadline = rt_now() + MS(5000)});
  cr_assert_eq(r.rc, 0);
  cr_assert_lt(r.ended - r.start, MS(1000));
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* The op finishes before the deadline: its result and value come back. */
typedef struct delayed_send_st {
  int pc;
  uint64_t deadline;
  rt_chan *c;
} delayed_send_st;
static int delayed_send_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  delayed_send_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  RT_AWAIT(st->pc, rc = rt_sleep_until(cx, st->deadline));
  RT_AWAIT(st->pc, rc = rt_chan_send(cx, st->c, (void *)(intptr_t)0xBEEF));
  CHECK(rc == 0);
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type delayed_send_type = {"delayed_send",
                                               delayed_send_poll, NULL, NULL};

Test(timer, timeout_returns_op_result_when_op_wins, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_chan *c;
  cr_assert_eq(rt_chan_create(1, &c), 0);
  delayed_send_st ds = {.deadline = rt_now() + MS(20), .c = c};
  rt_handle *sender = spawn_ok(&delayed_send_type, &ds, sizeof ds);
  to_st r = run_to(
      (to_st){.kind = 1, .op = {c, NULL}, .deadline = rt_now() + MS(10000)});
  cr_assert_eq(r.rc, 0, "rt_timeout returned %s", rt_strerror(r.rc));
  cr_assert_eq((intptr_t)r.op.item, 0xBEEF);
  cr_assert_lt(r.ended - r.start, MS(5000), "waited for the deadline");
  join_expect(sender, RT_JOIN_OK, 0);
  /* an op error passes through unchanged */
  rt_chan_close(c);
  r = run_to(
      (to_st){.kind = 1, .op = {c, NULL}, .deadline = rt_now() + MS(10000)});
  cr_assert_eq(r.rc, RT_ECLOSED, "rt_timeout returned %s", rt_strerror(r.rc));
  /* an op that is ready at once, with a deadline already past: the op's
   * result wins (it is polled first) */
  rt_chan *c2;
  cr_assert_eq(rt_chan_create(1, &c2), 0);
  cr_assert_eq(rt_chan_try_send(c2, (void *)(intptr_t)5), 0);
  r = run_to((to_st){.kind = 1, .op = {c2, NULL}, .deadline = 0});
  cr_assert_eq(r.rc, 0);
  cr_assert_eq((intptr_t)r.op.item, 5);
  rt_chan_destroy(c2);
  rt_chan_destroy(c);
  env_finish(&e, true);
}

/* ---- rt_yield_now interleaves
 * -------------------------------------------------- */

typedef struct order_rec {
  atomic_int n;
  int v[64];
} order_rec;
static void rec(order_rec *r, int x) {
  int i = atomic_fetch_add(&r->n, 1);
  if (i < 64)
    r->v[i] = x;
}

typedef struct yielder_st {
  int pc, i, id, rounds;
  bool y;
  order_rec *r;
} yielder_st;
static int yielder_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  yielder_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  for (st->i = 0; st->i < st->rounds; st->i++) {
    rec(st->r, st->id * 10 + st->i);
    RT_AWAIT(st->pc, rc = rt_yield_now(cx, &st->y));
    CHECK(rc == 0);
  }
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type yielder_type = {"yielder", yielder_poll, NULL, NULL};

/* The parent spawns A and B onto its (only) worker, then awaits both. */
typedef struct yparent_st {
  int pc;
  order_rec *r;
  rt_handle *a, *b;
  rt_join j;
} yparent_st;
static int yparent_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  yparent_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  {
    yielder_st a = {.id = 1, .rounds = 3, .r = st->r};
    yielder_st b = {.id = 2, .rounds = 3, .r = st->r};
    CHECK(rt_spawn(&yielder_type, &a, sizeof a, &st->a) == 0);
    CHECK(rt_spawn(&yielder_type, &b, sizeof b, &st->b) == 0);
  }
  RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->a, &st->j));
  CHECK(rc == 0 && st->j.status == RT_JOIN_OK);
  RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->b, &st->j));
  CHECK(rc == 0 && st->j.status == RT_JOIN_OK);
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type yparent_type = {"yparent", yparent_poll, NULL, NULL};

Test(timer, yield_now_lets_other_task_run, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  for (int round = 0; round < 20; round++) {
    order_rec r;
    memset(&r, 0, sizeof r);
    yparent_st st = {.pc = 0, .r = &r};
    join_expect(spawn_ok(&yparent_type, &st, sizeof st), RT_JOIN_OK, 0);
    static const int want[6] = {10, 20, 11, 21, 12, 22};
    cr_assert_eq(atomic_load(&r.n), 6);
    for (int i = 0; i < 6; i++)
      cr_assert_eq(r.v[i], want[i],
                   "round %d: order %d %d %d %d %d %d, expected interleaved",
                   round, r.v[0], r.v[1], r.v[2], r.v[3], r.v[4], r.v[5]);
  }
  env_finish(&e, true);
}

/* ---- fairness on one worker
 * ---------------------------------------------------- */

typedef struct hog_st {
  int kind; /* 0 yield loop, 1 chan recv/send loop, 2 sem loop, 3 notify */
  bool y;
  rt_chan *c;
  rt_sem *sem;
  rt_notify *n;
  atomic_int *stop;
  atomic_long *progress;
  long iters;
} hog_st;
static int hog_poll(rt_cx *cx, void *s, void **out) {
  hog_st *st = s;
  while (!atomic_load(st->stop)) {
    int rc;
    switch (st->kind) {
    case 0:
      rc = rt_yield_now(cx, &st->y);
      if (rc == RT_PENDING)
        return RT_PENDING;
      break;
    case 1: {
      void *item;
      rc = rt_chan_recv(cx, st->c, &item);
      if (rc == RT_PENDING)
        return RT_PENDING;
      CHECK(rc == 0);
      CHECK(rt_chan_try_send(st->c, item) == 0); /* keep it full */
      break;
    }
    case 2:
      rc = rt_sem_acquire(cx, st->sem, 1);
      if (rc == RT_PENDING)
        return RT_PENDING;
      CHECK(rc == 0);
      rt_sem_release(st->sem, 1);
      break;
    default:
      rc = rt_notify_wait(cx, st->n);
      if (rc == RT_PENDING)
        return RT_PENDING;
      rt_notify_one(st->n); /* permit always stored again */
      break;
    }
    st->iters++;
    atomic_fetch_add(st->progress, 1);
  }
  *out = (void *)(intptr_t)(st->iters > 0);
  return RT_READY;
}
static const rt_task_type hog_type = {"hog", hog_poll, NULL, NULL};

typedef struct stopper_st {
  int pc;
  uint64_t deadline; /* 0: stop on first poll */
  atomic_int *stop;
} stopper_st;
static int stopper_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  stopper_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  if (st->deadline) {
    RT_AWAIT(st->pc, rc = rt_sleep_until(cx, st->deadline));
    CHECK(rc == 0);
  }
  atomic_store(st->stop, 1);
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type stopper_type = {"stopper", stopper_poll, NULL, NULL};

static void fairness(int kind, bool timer) {
  tenv e;
  env_start(&e, 1, 0);
  atomic_int stop = 0;
  atomic_long progress = 0;
  hog_st h = {.kind = kind, .stop = &stop, .progress = &progress};
  if (kind == 1) {
    cr_assert_eq(rt_chan_create(4, &h.c), 0);
    for (int i = 0; i < 4; i++)
      cr_assert_eq(rt_chan_try_send(h.c, (void *)(intptr_t)(i + 1)), 0);
  } else if (kind == 2) {
    cr_assert_eq(rt_sem_create(1, &h.sem), 0);
  } else if (kind == 3) {
    cr_assert_eq(rt_notify_create(&h.n), 0);
    rt_notify_one(h.n);
  }
  rt_handle *hog = spawn_ok(&hog_type, &h, sizeof h);
  /* let the hog get going before the stopper exists */
  WAIT_FOR(atomic_load(&progress) >= 1000, 10, "the hog never got going");
  stopper_st s = {.deadline = timer ? rt_now() + MS(20) : 0, .stop = &stop};
  uint64_t t0 = rt_now();
  rt_handle *stopper = spawn_ok(&stopper_type, &s, sizeof s);
  /* a starved stopper would never run: the test's timeout would fire; give
   * a clear message well before it */
  WAIT_FOR(atomic_load(&stop) == 1, 20,
           "the %s was starved by a kind-%d loop on one worker",
           timer ? "timer" : "task", kind);
  uint64_t dt = rt_now() - t0;
  cr_assert_lt(dt, MS(5000), "stopper ran only after %.1f ms", dt / 1e6);
  join_expect(stopper, RT_JOIN_OK, 0);
  join_expect(hog, RT_JOIN_OK, 1);
  if (h.c)
    rt_chan_destroy(h.c);
  if (h.sem)
    rt_sem_destroy(h.sem);
  if (h.n)
    rt_notify_destroy(h.n);
  env_finish(&e, true);
}

Test(timer, fair_yield_loop_vs_task, .timeout = T_SHORT) { fairness(0, false); }
Test(timer, fair_yield_loop_vs_timer, .timeout = T_SHORT) { fairness(0, true); }
Test(timer, fair_full_channel_loop_vs_task, .timeout = T_SHORT) {
  fairness(1, false);
}
Test(timer, fair_full_channel_loop_vs_timer, .timeout = T_SHORT) {
  fairness(1, true);
}
Test(timer, fair_semaphore_loop_vs_task, .timeout = T_SHORT) {
  fairness(2, false);
}
Test(timer, fair_notify_loop_vs_timer, .timeout = T_SHORT) {
  fairness(3, true);
}

/* ---- rt_block_on
 * ------------------------------------------------------------------ */

typedef struct root_st {
  int pc;
  uint64_t t0, deadline;
  rt_handle *child;
  rt_join j;
  int worker;
  intptr_t result;
} root_st;
static int root_poll(rt_cx *cx, void *s, void **out) {
  root_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  st->worker = rt_current_worker();
  st->t0 = rt_now();
  st->deadline = st->t0 + MS(30);
  RT_AWAIT(st->pc, rc = rt_sleep_until(cx, st->deadline));
  CHECK(rc == 0);
  CHECK(rt_now() >= st->deadline);
  {
    sleeper_st sl = {.deadline = rt_now() + MS(10), .value = 21};
    CHECK(rt_spawn(&sleeper_type, &sl, sizeof sl, &st->child) == 0);
  }
  RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->child, &st->j));
  CHECK(rc == 0);
  CHECK(st->j.status == RT_JOIN_OK);
  st->result = 2 * (intptr_t)st->j.value;
  RT_END(st->pc);
  *out = (void *)st->result;
  return RT_READY;
}
static const rt_task_type root_type = {"root", root_poll, NULL, NULL};

Test(timer, block_on_root_sleeps_and_awaits, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  for (int i = 0; i < 3; i++) {
    root_st st = {.pc = 0};
    rt_join j = {.status = -1};
    uint64_t t0 = rt_now();
    cr_assert_eq(rt_block_on(e.rt, &root_type, &st, sizeof st, &j), 0);
    cr_assert_geq(rt_now() - t0, MS(40));
    cr_assert_eq(j.status, RT_JOIN_OK);
    cr_assert_eq((intptr_t)j.value, 42);
  }
  /* the root ran on the calling thread, not on a worker */
  root_st st = {.pc = 0};
  cr_assert_eq(rt_block_on(e.rt, &root_type, &st, sizeof st, NULL), 0);
  env_finish(&e, true);
}

/* The root's own thread is "not a worker". */
static int whoami_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  (void)s;
  *out = (void *)(intptr_t)(rt_current_worker() + 100);
  return RT_READY;
}
static const rt_task_type whoami_type = {"whoami", whoami_poll, NULL, NULL};

Test(timer, block_on_runs_root_on_calling_thread, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_join j;
  cr_assert_eq(rt_block_on(e.rt, &whoami_type, NULL, 0, &j), 0);
  cr_assert_eq(j.status, RT_JOIN_OK);
  cr_assert_eq((intptr_t)j.value, 99, "root ran on worker %ld",
               (long)(intptr_t)j.value - 100);
  /* and its spawned tasks run on workers */
  env_finish(&e, true);
}
