/*
 * test_rt_shutdown.c - rt_runtime_shutdown: every pending task (waiting on
 * a notify, sleeping, queued and never polled, running, detached, in a
 * JoinSet, a queued blocking job) is cancelled with its drop function run
 * exactly once on a worker, and 0 is returned; spawns after shutdown began
 * fail with RT_ESHUTDOWN; a stuck blocking job makes a timed shutdown
 * return RT_ETIMEDOUT on time (and destroy still frees everything once the
 * job returns); shutdown twice is harmless; a self-spawning storm stops;
 * spawns and blocking spawns from plain threads racing the shutdown are
 * either refused or cancelled, never left behind.
 */
#include "rt_test_util.h"

/* Drop counters that also check the drop ran on a worker thread. */
typedef struct dcount {
  atomic_int n;
  atomic_int off_worker;
} dcount;
static void dcount_note(dcount *d) {
  atomic_fetch_add(&d->n, 1);
  if (rt_current_worker() < 0)
    atomic_fetch_add(&d->off_worker, 1);
}

typedef struct pend_st {
  int kind; /* 0 notify, 1 sleep, 2 ready at once */
  rt_notify *n;
  uint64_t deadline;
  atomic_int *polled;
  dcount *drops;
} pend_st;
static int pend_poll(rt_cx *cx, void *s, void **out) {
  pend_st *st = s;
  int rc = RT_READY;
  if (st->kind == 0)
    rc = rt_notify_wait(cx, st->n);
  else if (st->kind == 1)
    rc = rt_sleep_until(cx, st->deadline);
  atomic_fetch_add(st->polled, 1);
  if (rc == RT_PENDING)
    return RT_PENDING;
  *out = (void *)(intptr_t)5;
  return RT_READY;
}
static void pend_drop(void *s) { dcount_note(((pend_st *)s)->drops); }
static const rt_task_type pend_type = {"pend", pend_poll, pend_drop, NULL};

static pend_st pend(int kind, rt_notify *n, atomic_int *polled, dcount *d) {
  return (pend_st){.kind = kind,
                   .n = n,
                   .deadline = far_deadline(),
                   .polled = polled,
                   .drops = d};
}

/* Spawns count detached pend tasks, every other one waiting on n, the
 * rest sleeping, and waits until all were polled (*polled counts the
 * polls, d the drops). */
static void spawn_pending(int count, rt_notify *n, atomic_int *polled,
                          dcount *d) {
  for (int i = 0; i < count; i++) {
    pend_st st = pend(i % 2, n, polled, d);
    cr_assert_eq(rt_spawn(&pend_type, &st, sizeof st, NULL), 0);
  }
  WAIT_FOR(atomic_load(polled) == count, 10, "polled %d", atomic_load(polled));
}

/* ---- every kind of pending task, deterministically
 * ---------------------------- */

typedef struct zwatch {
  rt_handle *z;
  rt_join j;
  atomic_int done;
  atomic_int y_started;
} zwatch;
static void *zwatch_thread(void *a) {
  zwatch *zw = a;
  rt_handle_join_blocking(zw->z, &zw->j);
  atomic_store(&zw->done, 1);
  return NULL;
}

static void *wait_zdone_job(void *arg) {
  zwatch *zw = arg;
  atomic_store(&zw->y_started, 1);
  while (!atomic_load(&zw->done))
    sleep_ms(1);
  return (void *)(intptr_t)31;
}
static void *must_not_run_job(void *arg) {
  atomic_fetch_add((atomic_int *)arg, 1);
  return NULL;
}

/* Holds the only worker until the queued blocking job Z has been cancelled
 * by the shutdown (so every task was aborted by then), probes rt_spawn,
 * then returns PENDING (and is cancelled). */
typedef struct holdb_st {
  zwatch *zw;
  atomic_int *running, *spawn_rc, *polls;
  dcount *drops;
} holdb_st;
static int holdb_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  (void)out;
  holdb_st *st = s;
  atomic_fetch_add(st->polls, 1);
  atomic_store(st->running, 1);
  while (!atomic_load(&st->zw->done))
    sleep_ms(1);
  value_st v = {.value = 1};
  rt_handle *h = NULL;
  atomic_store(st->spawn_rc, rt_spawn(&value_type, &v, sizeof v, &h));
  return RT_PENDING;
}
static void holdb_drop(void *s) { dcount_note(((holdb_st *)s)->drops); }
static const rt_task_type holdb_type = {"holdb", holdb_poll, holdb_drop, NULL};

/* budget: one runtime holding every kind of pending task at once */
Test(shutdown, cancels_every_kind_of_pending_task, .timeout = T_SHORT) {
  tenv e;
  rt_runtime *rt = env_start(&e, 1, 1);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int polled = 0;
  dcount d_sleep = {0}, d_notify = {0}, d_det = {0}, d_null = {0}, d_q = {0},
         d_qnull = {0}, d_hold = {0};
  /* waiting tasks: sleeping, on a notify, detached, spawned detached */
  pend_st s1 = pend(1, n, &polled, &d_sleep);
  rt_handle *h_sleep = spawn_ok(&pend_type, &s1, sizeof s1);
  pend_st s2 = pend(0, n, &polled, &d_notify);
  rt_handle *h_notify = spawn_ok(&pend_type, &s2, sizeof s2);
  pend_st s3 = pend(0, n, &polled, &d_det);
  rt_handle *h_det = spawn_ok(&pend_type, &s3, sizeof s3);
  pend_st s4 = pend(1, n, &polled, &d_null);
  cr_assert_eq(rt_spawn(&pend_type, &s4, sizeof s4, NULL), 0);
  WAIT_FOR(atomic_load(&polled) == 4, 10, "polled %d", atomic_load(&polled));
  rt_handle_detach(h_det);
  /* a running blocking job Y and a queued one Z (max_blocking = 1) */
  zwatch zw = {.z = NULL};
  atomic_init(&zw.done, 0);
  atomic_init(&zw.y_started, 0);
  rt_handle *h_y;
  cr_assert_eq(rt_spawn_blocking(wait_zdone_job, &zw, &h_y), 0);
  WAIT_FOR(atomic_load(&zw.y_started) == 1, 10, "job Y never started");
  atomic_int z_ran = 0;
  cr_assert_eq(rt_spawn_blocking(must_not_run_job, &z_ran, &zw.z), 0);
  pthread_t zth;
  cr_assert_eq(pthread_create(&zth, NULL, zwatch_thread, &zw), 0);
  /* hold the only worker */
  atomic_int running = 0, spawn_rc = 12345, hold_polls = 0;
  holdb_st hb = {&zw, &running, &spawn_rc, &hold_polls, &d_hold};
  rt_handle *h_hold = spawn_ok(&holdb_type, &hb, sizeof hb);
  WAIT_FOR(atomic_load(&running) == 1, 10, "holder never ran");
  /* queued and never polled: with a handle and detached */
  atomic_int qpolled = 0;
  pend_st s5 = pend(2, n, &qpolled, &d_q);
  rt_handle *h_q = spawn_ok(&pend_type, &s5, sizeof s5);
  pend_st s6 = pend(2, n, &qpolled, &d_qnull);
  cr_assert_eq(rt_spawn(&pend_type, &s6, sizeof s6, NULL), 0);
  cr_assert_eq(rt_runtime_live_tasks(rt), 9);

  uint64_t t0 = rt_now();
  int rc = rt_runtime_shutdown(rt, 10000);
  uint64_t dt = rt_now() - t0;
  cr_assert_eq(rc, 0, "shutdown: %s after %.1f ms", rt_strerror(rc), dt / 1e6);
  cr_assert_lt(dt, MS(5000), "shutdown took %.1f ms", dt / 1e6);
  pthread_join(zth, NULL);
  cr_assert_eq(rt_runtime_live_tasks(rt), 0);

  dcount *all[] = {&d_sleep, &d_notify, &d_det, &d_null,
                   &d_q,     &d_qnull,  &d_hold};
  const char *names[] = {"sleeping",         "notify", "detached",
                         "spawned detached", "queued", "queued detached",
                         "running"};
  for (int i = 0; i < 7; i++) {
    cr_assert_eq(atomic_load(&all[i]->n), 1, "%s task: drop ran %d times",
                 names[i], atomic_load(&all[i]->n));
    cr_assert_eq(atomic_load(&all[i]->off_worker), 0,
                 "%s task: drop ran off the workers", names[i]);
  }
  cr_assert_eq(atomic_load(&qpolled), 0, "queued tasks were polled");
  cr_assert_eq(atomic_load(&hold_polls), 1);
  cr_assert_eq(atomic_load(&z_ran), 0, "a queued blocking job ran");
  cr_assert_eq(zw.j.status, RT_JOIN_CANCELLED);
  cr_assert_eq(atomic_load(&spawn_rc), RT_ESHUTDOWN,
               "rt_spawn from a task during shutdown returned %d",
               atomic_load(&spawn_rc));
  join_expect(h_sleep, RT_JOIN_CANCELLED, 0);
  join_expect(h_notify, RT_JOIN_CANCELLED, 0);
  join_expect(h_hold, RT_JOIN_CANCELLED, 0);
  join_expect(h_q, RT_JOIN_CANCELLED, 0);
  join_expect(h_y, RT_JOIN_OK, 31); /* a running job finishes */

  /* spawns after shutdown fail, and leave nothing behind */
  value_st v = {.value = 1};
  rt_handle *h = (rt_handle *)1;
  cr_assert_eq(rt_spawn(&value_type, &v, sizeof v, &h), RT_ESHUTDOWN);
  cr_assert_eq(rt_spawn(&value_type, &v, sizeof v, NULL), RT_ESHUTDOWN);
  cr_assert_eq(rt_spawn_blocking(must_not_run_job, &z_ran, &h), RT_ESHUTDOWN);
  rt_joinset *set;
  cr_assert_eq(rt_joinset_create(&set), 0);
  cr_assert_eq(rt_joinset_spawn(set, &value_type, &v, sizeof v, 1),
               RT_ESHUTDOWN);
  cr_assert_eq(rt_joinset_len(set), 0);
  rt_join j;
  cr_assert_eq(rt_joinset_join_next_blocking(set, &j), RT_EEMPTY);
  rt_joinset_destroy(set);
  cr_assert_eq(rt_block_on(rt, &value_type, &v, sizeof v, &j), RT_ESHUTDOWN);
  cr_assert_eq(rt_runtime_live_tasks(rt), 0);
  cr_assert_eq(rt_runtime_shutdown(rt, 10000), 0, "second shutdown");
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* ---- many pending tasks on 2 workers, each dropped exactly once
 * ---------------- */

enum { MANY = 3000 };
static atomic_int g_drop_of[MANY];

typedef struct idx_st {
  int kind, idx;
  rt_notify *n;
  uint64_t deadline;
  atomic_int *polled;
} idx_st;
static int idx_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  idx_st *st = s;
  int rc = st->kind == 0 ? rt_notify_wait(cx, st->n)
                         : rt_sleep_until(cx, st->deadline);
  atomic_fetch_add(st->polled, 1);
  return rc == RT_PENDING ? RT_PENDING : RT_READY;
}
static void idx_drop(void *s) {
  idx_st *st = s;
  atomic_fetch_add(&g_drop_of[st->idx], 1);
}
static const rt_task_type idx_type = {"idx", idx_poll, idx_drop, NULL};

Test(shutdown, many_pending_tasks_each_dropped_once, .timeout = T_SHORT) {
  tenv e;
  rt_runtime *rt = env_start(&e, 2, 0);
  for (int i = 0; i < MANY; i++)
    atomic_store(&g_drop_of[i], 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int polled = 0;
  static rt_handle *hs[MANY];
  rt_joinset *set;
  cr_assert_eq(rt_joinset_create(&set), 0);
  int in_set = 0;
  for (int i = 0; i < MANY; i++) {
    idx_st st = {.kind = i % 2,
                 .idx = i,
                 .n = n,
                 .deadline = far_deadline(),
                 .polled = &polled};
    hs[i] = NULL;
    switch (i % 4) {
    case 0: hs[i] = spawn_ok(&idx_type, &st, sizeof st); break;
    case 1:
      REQUIRE(rt_spawn(&idx_type, &st, sizeof st, NULL) == 0, "spawn %d", i);
      break;
    case 2:
      REQUIRE(rt_joinset_spawn(set, &idx_type, &st, sizeof st, i) == 0,
              "spawn %d", i);
      in_set++;
      break;
    default: hs[i] = spawn_ok(&idx_type, &st, sizeof st); break;
    }
  }
  /* detach some after they started waiting; the rest may still be queued */
  for (int i = 3; i < MANY; i += 4) {
    rt_handle_detach(hs[i]);
    hs[i] = NULL;
  }
  int rc = rt_runtime_shutdown(rt, 20000);
  cr_assert_eq(rc, 0, "shutdown: %s", rt_strerror(rc));
  for (int i = 0; i < MANY; i++)
    REQUIRE(atomic_load(&g_drop_of[i]) == 1, "task %d dropped %d times", i,
            atomic_load(&g_drop_of[i]));
  for (int i = 0; i < MANY; i++)
    if (hs[i])
      join_expect(hs[i], RT_JOIN_CANCELLED, 0);
  for (int k = 0; k < in_set; k++) {
    rt_join j;
    REQUIRE(rt_joinset_join_next_blocking(set, &j) == 0, "join %d", k);
    REQUIRE(j.status == RT_JOIN_CANCELLED, "member %lu: %s",
            (unsigned long)j.tag, join_status_name(j.status));
  }
  rt_join j;
  cr_assert_eq(rt_joinset_join_next_blocking(set, &j), RT_EEMPTY);
  rt_joinset_destroy(set);
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* ---- spawning from a drop function during shutdown
 * ------------------------------- */

typedef struct dropspawn_st {
  rt_notify *n;
  atomic_int *polled, *rc_task, *rc_blocking, *drops;
} dropspawn_st;
static int dropspawn_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  dropspawn_st *st = s;
  int rc = rt_notify_wait(cx, st->n);
  atomic_fetch_add(st->polled, 1);
  return rc == RT_PENDING ? RT_PENDING : RT_READY;
}
static void *noop_job(void *a) { return a; }
static void dropspawn_drop(void *s) {
  dropspawn_st *st = s;
  value_st v = {.value = 1};
  rt_handle *h = NULL;
  int rc = rt_spawn(&value_type, &v, sizeof v, &h);
  if (rc != RT_ESHUTDOWN)
    atomic_store(st->rc_task, rc == 0 ? 1000 : rc);
  rc = rt_spawn_blocking(noop_job, NULL, &h);
  if (rc != RT_ESHUTDOWN)
    atomic_store(st->rc_blocking, rc == 0 ? 1000 : rc);
  atomic_fetch_add(st->drops, 1);
}
static const rt_task_type dropspawn_type = {"dropspawn", dropspawn_poll,
                                            dropspawn_drop, NULL};

Test(shutdown, spawn_from_drop_during_shutdown_fails, .timeout = T_SHORT) {
  tenv e;
  rt_runtime *rt = env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int polled = 0, rc_task = 0, rc_blocking = 0, drops = 0;
  for (int i = 0; i < 50; i++) {
    dropspawn_st st = {n, &polled, &rc_task, &rc_blocking, &drops};
    cr_assert_eq(rt_spawn(&dropspawn_type, &st, sizeof st, NULL), 0);
  }
  WAIT_FOR(atomic_load(&polled) == 50, 10, "polled %d", atomic_load(&polled));
  cr_assert_eq(rt_runtime_shutdown(rt, 10000), 0);
  cr_assert_eq(atomic_load(&drops), 50);
  cr_assert_eq(atomic_load(&rc_task), 0,
               "rt_spawn in a drop during shutdown returned %d (1000 = ok)",
               atomic_load(&rc_task));
  cr_assert_eq(atomic_load(&rc_blocking), 0,
               "rt_spawn_blocking in a drop during shutdown returned %d",
               atomic_load(&rc_blocking));
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* ---- a self-spawning storm stops at shutdown
 * ---------------------------------------- */

typedef struct storm_st {
  atomic_int *spawned, *drops, *failed;
} storm_st;
static const rt_task_type storm_type;
static int storm_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  (void)out;
  storm_st *st = s;
  for (int i = 0; i < 2; i++) {
    int rc = rt_spawn(&storm_type, st, sizeof *st, NULL);
    if (rc == 0)
      atomic_fetch_add(st->spawned, 1);
    else if (rc != RT_ESHUTDOWN)
      atomic_fetch_add(st->failed, 1);
  }
  return RT_READY;
}
static void storm_drop(void *s) { atomic_fetch_add(((storm_st *)s)->drops, 1); }
static const rt_task_type storm_type = {"storm", storm_poll, storm_drop, NULL};

Test(shutdown, self_spawning_storm_stops, .timeout = T_SHORT) {
  tenv e;
  rt_runtime *rt = env_start(&e, 2, 0);
  atomic_int spawned = 0, drops = 0, failed = 0;
  storm_st st = {&spawned, &drops, &failed};
  for (int i = 0; i < 4; i++)
    cr_assert_eq(rt_spawn(&storm_type, &st, sizeof st, NULL), 0);
  WAIT_FOR(atomic_load(&spawned) > 20000, 20, "storm did not grow: %d",
           atomic_load(&spawned));
  uint64_t t0 = rt_now();
  int rc = rt_runtime_shutdown(rt, 20000);
  cr_assert_eq(rc, 0, "shutdown: %s", rt_strerror(rc));
  cr_assert_lt(rt_now() - t0, MS(15000));
  cr_assert_eq(atomic_load(&failed), 0);
  cr_assert_eq(atomic_load(&drops), atomic_load(&spawned) + 4,
               "%d drops for %d tasks", atomic_load(&drops),
               atomic_load(&spawned) + 4);
  env_finish(&e, true);
}

/* ---- a stuck blocking job: shutdown times out on time
 * ------------------------------ */

typedef struct stuck_arg {
  gate g;
  atomic_int finished;
} stuck_arg;
static void *stuck_job(void *a) {
  stuck_arg *sa = a;
  gate_wait(&sa->g);
  atomic_store(&sa->finished, 1);
  return NULL;
}

Test(shutdown, stuck_blocking_job_times_out, .timeout = T_SHORT) {
  tenv e;
  rt_runtime *rt = env_start(&e, 2, 2);
  static stuck_arg sa; /* outlives the runtime's view of it */
  gate_init(&sa.g);
  atomic_init(&sa.finished, 0);
  rt_handle *h;
  cr_assert_eq(rt_spawn_blocking(stuck_job, &sa, &h), 0);
  rt_handle_detach(h);
  WAIT_FOR(atomic_load(&sa.g.entered) == 1, 10, "job never started");
  /* ordinary tasks are still cancelled */
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int polled = 0;
  dcount d = {0};
  spawn_pending(10, n, &polled, &d);
  uint64_t t0 = rt_now();
  int rc = rt_runtime_shutdown(rt, 300);
  uint64_t dt = rt_now() - t0;
  cr_assert_eq(rc, RT_ETIMEDOUT, "shutdown with a stuck job returned %s",
               rt_strerror(rc));
  cr_assert_geq(dt, MS(290), "returned after %.1f ms, before the timeout",
                dt / 1e6);
  cr_assert_lt(dt, MS(2500), "returned after %.1f ms for a 300 ms timeout",
               dt / 1e6);
  cr_assert_eq(atomic_load(&d.n), 10, "drops %d", atomic_load(&d.n));
  cr_assert_eq(rt_runtime_shutdown(rt, 300), RT_ETIMEDOUT);
  /* let the straggler finish, then destroy */
  gate_open(&sa.g);
  WAIT_FOR(atomic_load(&sa.finished) == 1, 10, "job never finished");
  rt_notify_destroy(n);
  sleep_ms(50); /* the pool thread exits */
  rt_runtime_destroy(rt);
  rt_runtime_exit();
  assert_no_check_failures();
  int fds = count_fds();
  cr_assert_eq(fds, e.fds, "open fds: %d before the runtime, %d after", e.fds,
               fds);
}

/* ---- idle shutdown, twice
 * -------------------------------------------------------- */

Test(shutdown, idle_runtime_is_quick_and_twice_is_harmless,
     .timeout = T_SHORT) {
  for (unsigned w = 1; w <= 4; w *= 2) {
    tenv e;
    rt_runtime *rt = env_start(&e, w, 0);
    value_st v = {.value = 3};
    join_expect(spawn_ok(&value_type, &v, sizeof v), RT_JOIN_OK, 3);
    sleep_ms(10); /* let the workers park */
    uint64_t t0 = rt_now();
    cr_assert_eq(rt_runtime_shutdown(rt, 10000), 0);
    cr_assert_lt(rt_now() - t0, MS(1000), "idle shutdown took %.1f ms",
                 (rt_now() - t0) / 1e6);
    cr_assert_eq(rt_runtime_shutdown(rt, 10000), 0);
    cr_assert_eq(rt_runtime_shutdown(rt, UINT32_MAX), 0);
    env_finish(&e, true);
  }
}

/* rt_runtime_destroy without an explicit shutdown cancels pending tasks. */
Test(shutdown, destroy_without_shutdown_cancels, .timeout = T_SHORT) {
  tenv e;
  rt_runtime *rt = env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int polled = 0;
  dcount d = {0};
  spawn_pending(100, n, &polled, &d);
  rt_runtime_destroy(rt);
  rt_runtime_exit();
  cr_assert_eq(atomic_load(&d.n), 100);
  cr_assert_eq(atomic_load(&d.off_worker), 0);
  rt_notify_destroy(n);
  assert_no_check_failures();
  cr_assert_eq(count_fds(), e.fds);
}

/* ---- spawns racing a shutdown
 * ------------------------------------------------------- */

/* Plain threads (inside the runtime) spawn detached tasks in a loop while
 * the test thread shuts down.  Every spawn must either fail with
 * RT_ESHUTDOWN or produce a task that the shutdown cancels (or that runs):
 * its drop function runs exactly once and nothing is left live. */
typedef struct racer_arg {
  rt_runtime *rt;
  atomic_int *drops;
  atomic_int *started;
  int ok, refused, other;
} racer_arg;
static void *spawn_racer(void *a) {
  racer_arg *r = a;
  rt_runtime_enter(r->rt);
  /* bounded, so a descheduled test thread cannot let it pile up forever;
   * the test thread starts the shutdown long before this */
  while (r->ok < 50000) {
    value_st v = {.value = 1, .drops = r->drops};
    int rc = rt_spawn(&value_type, &v, sizeof v, NULL);
    if (rc == 0) {
      r->ok++;
      atomic_fetch_add(r->started, 1);
    } else if (rc == RT_ESHUTDOWN) {
      r->refused++;
      break;
    } else {
      r->other++;
      break;
    }
  }
  rt_runtime_exit();
  return NULL;
}

Test(shutdown, racing_spawns_are_refused_or_cancelled, .timeout = T_LONG) {
  for (int round = 0; round < 40; round++) {
    tenv e;
    rt_runtime *rt = env_start(&e, round % 2 + 1, 0);
    /* a registry that has held many tasks makes each shutdown scan longer */
    if (round % 4 == 0) {
      rt_joinset *set;
      cr_assert_eq(rt_joinset_create(&set), 0);
      for (int i = 0; i < 20000; i++) {
        value_st v = {.value = i};
        REQUIRE(rt_joinset_spawn(set, &value_type, &v, sizeof v, 0) == 0,
                "spawn %d", i);
      }
      rt_joinset_destroy(set); /* cancels or drops them all */
      env_wait_idle(&e, 20);
    }
    atomic_int drops = 0, started = 0;
    enum { T = 2 };
    racer_arg ra[T];
    pthread_t th[T];
    for (int k = 0; k < T; k++) {
      ra[k] = (racer_arg){.rt = rt, .drops = &drops, .started = &started};
      cr_assert_eq(pthread_create(&th[k], NULL, spawn_racer, &ra[k]), 0);
    }
    WAIT_FOR(atomic_load(&started) >= 200 * (round % 4 + 1), 10,
             "spawners never got going");
    int rc = rt_runtime_shutdown(rt, 10000);
    for (int k = 0; k < T; k++)
      pthread_join(th[k], NULL);
    cr_assert_eq(rc, 0, "round %d: shutdown: %s", round, rt_strerror(rc));
    int ok = 0;
    for (int k = 0; k < T; k++) {
      cr_assert_eq(ra[k].other, 0);
      cr_assert_leq(ra[k].refused, 1);
      ok += ra[k].ok;
    }
    size_t live = rt_runtime_live_tasks(rt);
    cr_assert_eq(live, 0,
                 "round %d: %zu spawned task(s) still live after shutdown "
                 "returned 0 (%d spawns succeeded, %d drops)",
                 round, live, ok, atomic_load(&drops));
    cr_assert_eq(atomic_load(&drops), ok,
                 "round %d: %d spawns succeeded but %d drops ran", round, ok,
                 atomic_load(&drops));
    env_finish(&e, false);
  }
}

/* The same with spawn_blocking: every job whose spawn succeeded either ran
 * or was cancelled by the time shutdown returned 0; none is left. */
typedef struct bracer_arg {
  rt_runtime *rt;
  atomic_int *ran;
  rt_handle **hs;
  int cap, n, refused, other;
} bracer_arg;
static void *count_job(void *a) {
  atomic_fetch_add((atomic_int *)a, 1);
  return NULL;
}
static void *spawn_blocking_racer(void *a) {
  bracer_arg *r = a;
  rt_runtime_enter(r->rt);
  while (r->n < r->cap) {
    int rc = rt_spawn_blocking(count_job, r->ran, &r->hs[r->n]);
    if (rc == 0) {
      r->n++;
    } else {
      if (rc == RT_ESHUTDOWN)
        r->refused++;
      else
        r->other++;
      break;
    }
  }
  rt_runtime_exit();
  return NULL;
}

Test(shutdown, racing_spawn_blocking_refused_or_cancelled, .timeout = T_LONG) {
  enum { CAP = 50000 };
  rt_handle **hs = malloc(sizeof(rt_handle *) * CAP);
  for (int round = 0; round < 40; round++) {
    tenv e;
    rt_runtime *rt = env_start(&e, 1, 2);
    atomic_int ran = 0;
    bracer_arg ra = {.rt = rt, .ran = &ran, .hs = hs, .cap = CAP};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, spawn_blocking_racer, &ra), 0);
    WAIT_FOR(atomic_load(&ran) >= 50 * (round % 4 + 1), 10, "jobs never ran");
    int rc = rt_runtime_shutdown(rt, 10000);
    pthread_join(th, NULL);
    cr_assert_eq(rc, 0, "round %d: shutdown: %s", round, rt_strerror(rc));
    cr_assert_eq(ra.other, 0);
    size_t live = rt_runtime_live_tasks(rt);
    int unfinished = 0;
    for (int i = 0; i < ra.n; i++)
      if (!rt_handle_is_finished(hs[i]))
        unfinished++;
    cr_assert_eq(unfinished, 0,
                 "round %d: %d of %d jobs neither ran nor were cancelled "
                 "after shutdown returned 0 (live %zu)",
                 round, unfinished, ra.n, live);
    cr_assert_eq(live, 0, "round %d: %zu live after shutdown", round, live);
    int ok = 0, cancelled = 0;
    for (int i = 0; i < ra.n; i++) {
      rt_join j = join_blocking(hs[i]);
      REQUIRE(j.status == RT_JOIN_OK || j.status == RT_JOIN_CANCELLED,
              "job %d: %s", i, join_status_name(j.status));
      ok += j.status == RT_JOIN_OK;
      cancelled += j.status == RT_JOIN_CANCELLED;
    }
    cr_assert_eq(ok + cancelled, ra.n);
    cr_assert_eq(ok, atomic_load(&ran), "round %d: %d OK joins, %d jobs ran",
                 round, ok, atomic_load(&ran));
    env_finish(&e, false);
  }
  free(hs);
}
