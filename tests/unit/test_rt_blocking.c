/*
 * test_rt_blocking.c - spawn_blocking: runs off the workers, its value
 * arrives (to a thread and to a task), the pool is bounded by
 * max_blocking, abort before start cancels without running, abort after
 * start does not stop it, no runtime -> RT_ENORUNTIME, idle threads expire
 * after keepalive and the pool restarts.
 */
#include "rt_test_util.h"

/* ---- runs off the workers ---------------------------------------------------
 */

typedef struct tid_st {
  pthread_barrier_t *bar;
  pthread_t *tids;
  atomic_int *idx;
  int *workers;
} tid_st;
static int tid_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  (void)out;
  tid_st *st = s;
  int i = atomic_fetch_add(st->idx, 1);
  st->tids[i] = pthread_self();
  st->workers[i] = rt_current_worker();
  /* every worker must be inside one of these at once */
  pthread_barrier_wait(st->bar);
  return RT_READY;
}
static const rt_task_type tid_type = {"tid", tid_poll, NULL, NULL};

typedef struct job_rec {
  pthread_t tid;
  int worker;
  int arg;
} job_rec;
static void *record_job(void *arg) {
  job_rec *r = arg;
  r->tid = pthread_self();
  r->worker = rt_current_worker();
  return (void *)(intptr_t)(r->arg * 2);
}

Test(blocking, runs_off_the_workers, .timeout = T_SHORT) {
  tenv e;
  rt_runtime *rt = env_start(&e, 2, 0);
  unsigned nw = rt_runtime_workers(rt);
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, nw);
  pthread_t tids[8];
  int workers[8];
  atomic_int idx = 0;
  rt_handle *hs[8];
  for (unsigned i = 0; i < nw; i++) {
    tid_st st = {&bar, tids, &idx, workers};
    hs[i] = spawn_ok(&tid_type, &st, sizeof st);
  }
  for (unsigned i = 0; i < nw; i++)
    join_expect(hs[i], RT_JOIN_OK, 0);
  pthread_barrier_destroy(&bar);
  /* the tasks ran on nw distinct workers */
  for (unsigned i = 0; i < nw; i++) {
    cr_assert(workers[i] >= 0 && workers[i] < (int)nw);
    for (unsigned k = 0; k < i; k++) {
      cr_assert_neq(workers[i], workers[k]);
      cr_assert(!pthread_equal(tids[i], tids[k]));
    }
  }
  enum { J = 32 };
  job_rec recs[J];
  rt_handle *jh[J];
  for (int i = 0; i < J; i++) {
    recs[i] = (job_rec){.worker = 12345, .arg = i};
    cr_assert_eq(rt_spawn_blocking(record_job, &recs[i], &jh[i]), 0);
  }
  for (int i = 0; i < J; i++) {
    join_expect(jh[i], RT_JOIN_OK, 2 * i);
    cr_assert_eq(recs[i].worker, -1, "job %d: rt_current_worker() = %d", i,
                 recs[i].worker);
    cr_assert(!pthread_equal(recs[i].tid, pthread_self()),
              "job ran on the test thread");
    for (unsigned k = 0; k < nw; k++)
      cr_assert(!pthread_equal(recs[i].tid, tids[k]),
                "job %d ran on worker %d's thread", i, workers[k]);
  }
  env_finish(&e, true);
}

/* ---- the value arrives, to a task too ---------------------------------------
 */

typedef struct bjoin_st {
  int pc, i;
  rt_handle *h[20];
  job_rec recs[20];
  rt_join j;
  long sum;
} bjoin_st;
static int bjoin_poll(rt_cx *cx, void *s, void **out) {
  bjoin_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  for (st->i = 0; st->i < 20; st->i++) {
    st->recs[st->i] = (job_rec){.worker = 12345, .arg = st->i + 1};
    CHECK(rt_spawn_blocking(record_job, &st->recs[st->i], &st->h[st->i]) == 0);
  }
  for (st->i = 0; st->i < 20; st->i++) {
    RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->h[st->i], &st->j));
    CHECK(rc == 0);
    CHECK(st->j.status == RT_JOIN_OK);
    CHECK((intptr_t)st->j.value == 2 * (st->i + 1));
    CHECK(st->recs[st->i].worker == -1);
    st->sum += (long)(intptr_t)st->j.value;
  }
  *out = (void *)(intptr_t)st->sum;
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type bjoin_type = {"bjoin", bjoin_poll, NULL, NULL};

Test(blocking, value_arrives_to_task, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 4);
  rt_handle *hs[5];
  for (int k = 0; k < 5; k++) {
    bjoin_st st;
    memset(&st, 0, sizeof st);
    hs[k] = spawn_ok(&bjoin_type, &st, sizeof st);
  }
  for (int k = 0; k < 5; k++)
    join_expect(hs[k], RT_JOIN_OK, 2 * 20 * 21 / 2);
  env_finish(&e, true);
}

/* ---- bounded pool
 * ---------------------------------------------------------------- */

typedef struct conc {
  atomic_int cur, max, ran;
  int target; /* a job waits (up to 2 s) until this many ran at once */
} conc;
static void *conc_job(void *arg) {
  conc *c = arg;
  int now = atomic_fetch_add(&c->cur, 1) + 1;
  int m = atomic_load(&c->max);
  while (now > m && !atomic_compare_exchange_weak(&c->max, &m, now)) {
  }
  /* give the pool the chance to run `target` jobs at once, without
   * depending on thread start-up times */
  uint64_t dl = rt_now() + MS(2000);
  while (atomic_load(&c->max) < c->target && rt_now() < dl)
    sleep_ns(US(200));
  sleep_ms(5);
  atomic_fetch_sub(&c->cur, 1);
  atomic_fetch_add(&c->ran, 1);
  return NULL;
}

static void bounded(unsigned max, int jobs) {
  tenv e;
  env_start(&e, 2, max);
  conc c;
  atomic_init(&c.cur, 0);
  atomic_init(&c.max, 0);
  atomic_init(&c.ran, 0);
  c.target = (int)max;
  rt_handle *hs[16];
  int threads_before = count_threads();
  for (int i = 0; i < jobs; i++)
    cr_assert_eq(rt_spawn_blocking(conc_job, &c, &hs[i]), 0);
  int threads_peak = count_threads();
  for (int i = 0; i < jobs; i++)
    join_expect(hs[i], RT_JOIN_OK, 0);
  cr_assert_eq(atomic_load(&c.ran), jobs);
  cr_assert_leq(atomic_load(&c.max), (int)max,
                "%d jobs ran at once with max_blocking = %u",
                atomic_load(&c.max), max);
  /* they did run in parallel, up to the bound */
  cr_assert_eq(atomic_load(&c.max), (int)max,
               "only %d jobs ran at once (max_blocking = %u)",
               atomic_load(&c.max), max);
  cr_assert_leq(threads_peak - threads_before, (int)max,
                "%d pool threads started", threads_peak - threads_before);
  env_finish(&e, true);
}

Test(blocking, pool_bounded_2_of_4, .timeout = T_SHORT) { bounded(2, 4); }
Test(blocking, pool_bounded_3_of_12, .timeout = T_SHORT) { bounded(3, 12); }

/* ---- abort
 * -----------------------------------------------------------------------------
 */

typedef struct gated_job {
  gate *g;
  atomic_int ran;
  intptr_t value;
} gated_job;
static void *gated(void *arg) {
  gated_job *j = arg;
  atomic_fetch_add(&j->ran, 1);
  if (j->g)
    gate_wait(j->g);
  return (void *)j->value;
}

Test(blocking, abort_before_start_cancels, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 1);
  gate g;
  gate_init(&g);
  gated_job y = {.g = &g, .value = 1};
  atomic_init(&y.ran, 0);
  rt_handle *hy, *hz[5];
  cr_assert_eq(rt_spawn_blocking(gated, &y, &hy), 0);
  WAIT_FOR(atomic_load(&g.entered) == 1, 10, "job never started");
  gated_job z[5];
  for (int i = 0; i < 5; i++) {
    z[i] = (gated_job){.g = NULL, .value = 10 + i};
    atomic_init(&z[i].ran, 0);
    cr_assert_eq(rt_spawn_blocking(gated, &z[i], &hz[i]), 0);
  }
  for (int i = 0; i < 5; i += 2)
    rt_handle_abort(hz[i]); /* queued behind y: never started */
  gate_open(&g);
  join_expect(hy, RT_JOIN_OK, 1);
  for (int i = 0; i < 5; i++) {
    if (i % 2 == 0) {
      join_expect(hz[i], RT_JOIN_CANCELLED, 0);
      cr_assert_eq(atomic_load(&z[i].ran), 0, "aborted job %d ran", i);
    } else {
      join_expect(hz[i], RT_JOIN_OK, 10 + i);
      cr_assert_eq(atomic_load(&z[i].ran), 1);
    }
  }
  gate_destroy(&g);
  env_finish(&e, true);
}

Test(blocking, abort_after_start_does_not_stop, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 2);
  gate g;
  gate_init(&g);
  gated_job y = {.g = &g, .value = 77};
  atomic_init(&y.ran, 0);
  rt_handle *hy;
  cr_assert_eq(rt_spawn_blocking(gated, &y, &hy), 0);
  WAIT_FOR(atomic_load(&g.entered) == 1, 10, "job never started");
  rt_handle_abort(hy);
  gate_open(&g);
  join_expect(hy, RT_JOIN_OK, 77);
  gate_destroy(&g);
  env_finish(&e, true);
}

/* Detached blocking job (out == NULL) still runs. */
Test(blocking, detached_job_runs, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 2);
  gated_job j[10];
  for (int i = 0; i < 10; i++) {
    j[i] = (gated_job){.g = NULL};
    atomic_init(&j[i].ran, 0);
    cr_assert_eq(rt_spawn_blocking(gated, &j[i], NULL), 0);
  }
  for (int i = 0; i < 10; i++)
    WAIT_FOR(atomic_load(&j[i].ran) == 1, 10, "detached job %d never ran", i);
  env_wait_idle(&e, 10);
  env_finish(&e, true);
}

/* ---- no runtime
 * ----------------------------------------------------------------------------
 */

static void *spawn_blocking_no_rt(void *arg) {
  rt_handle *h = NULL;
  *(int *)arg = rt_spawn_blocking(record_job, NULL, &h);
  return NULL;
}

Test(blocking, without_runtime_is_enoruntime, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  int rc = 12345;
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, spawn_blocking_no_rt, &rc), 0);
  pthread_join(th, NULL);
  cr_assert_eq(rc, RT_ENORUNTIME, "rt_spawn_blocking returned %d", rc);
  env_finish(&e, true);
}

/* ---- keepalive
 * ------------------------------------------------------------------------------
 */

Test(blocking, idle_threads_expire_and_pool_restarts, .timeout = T_SHORT) {
  tenv e;
  rt_config c;
  rt_config_init(&c);
  c.workers = 2;
  c.max_blocking = 4;
  c.blocking_keepalive_ms = 50;
  env_start_cfg(&e, &c);
  int base = count_threads();
  for (int round = 0; round < 3; round++) {
    conc cc;
    atomic_init(&cc.cur, 0);
    atomic_init(&cc.max, 0);
    atomic_init(&cc.ran, 0);
    cc.target = 4;
    rt_handle *hs[4];
    for (int i = 0; i < 4; i++)
      cr_assert_eq(rt_spawn_blocking(conc_job, &cc, &hs[i]), 0);
    cr_assert_gt(count_threads(), base);
    for (int i = 0; i < 4; i++)
      join_expect(hs[i], RT_JOIN_OK, 0);
    cr_assert_eq(atomic_load(&cc.ran), 4);
    /* idle pool threads exit after the keepalive */
    WAIT_FOR(count_threads() == base, 10, "round %d: %d threads, %d expected",
             round, count_threads(), base);
  }
  env_finish(&e, true);
}
