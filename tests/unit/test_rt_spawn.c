/*
 * test_rt_spawn.c - rt_spawn and JoinHandles: spawn never polls
 * synchronously, spawn without a runtime returns RT_ENORUNTIME, state is
 * copied, detached tasks still run, joining from a thread and from a task.
 */
#include "rt_test_util.h"

#include <errno.h>
#include <signal.h>

/* ---- spawn does not poll synchronously ------------------------------------
 */

/* The probe takes the spawner's error-checking mutex.  Polled synchronously
 * inside rt_spawn (same thread, mutex held), the lock fails with EDEADLK and
 * the probe records it instead of deadlocking. */
typedef struct probe_st {
  pthread_mutex_t *mu;
  atomic_int *ran;
  atomic_int *sync;
} probe_st;

static int probe_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  probe_st *st = s;
  int rc = pthread_mutex_lock(st->mu);
  if (rc == EDEADLK) {
    atomic_fetch_add(st->sync, 1);
    atomic_fetch_add(st->ran, 1);
    return RT_READY;
  }
  CHECK(rc == 0);
  atomic_fetch_add(st->ran, 1);
  pthread_mutex_unlock(st->mu);
  *out = (void *)(intptr_t)42;
  return RT_READY;
}
static const rt_task_type probe_type = {"probe", probe_poll, NULL, NULL};

static void errorcheck_mutex_init(pthread_mutex_t *mu) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(mu, &a);
  pthread_mutexattr_destroy(&a);
}

Test(spawn, from_thread_does_not_poll_synchronously, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  pthread_mutex_t mu;
  errorcheck_mutex_init(&mu);
  for (int i = 0; i < 200; i++) {
    atomic_int ran = 0, sync = 0;
    probe_st p = {&mu, &ran, &sync};
    REQUIRE(pthread_mutex_lock(&mu) == 0, "lock");
    rt_handle *h = NULL;
    int rc = rt_spawn(&probe_type, &p, sizeof p, &h);
    int ran_at_return = atomic_load(&ran);
    pthread_mutex_unlock(&mu);
    REQUIRE(rc == 0, "rt_spawn: %s", rt_strerror(rc));
    REQUIRE(ran_at_return == 0,
            "iteration %d: the poll ran before rt_spawn returned", i);
    join_expect(h, RT_JOIN_OK, 42);
    REQUIRE(atomic_load(&sync) == 0,
            "iteration %d: polled synchronously inside rt_spawn", i);
    REQUIRE(atomic_load(&ran) == 1, "iteration %d: polls %d", i,
            atomic_load(&ran));
  }
  pthread_mutex_destroy(&mu);
  env_finish(&e, true);
}

/* A parent task holds its own mutex across rt_spawn of a probe. */
typedef struct spawner_st {
  int pc;
  pthread_mutex_t mu;
  atomic_int ran, sync;
  int ran_at_return;
  rt_handle *child;
  rt_join j;
  atomic_int *bad;  /* ran_at_return != 0 or sync */
  atomic_int *good; /* child joined OK with 42 and ran once */
} spawner_st;

static int spawner_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  spawner_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  errorcheck_mutex_init(&st->mu);
  atomic_init(&st->ran, 0);
  atomic_init(&st->sync, 0);
  {
    probe_st p = {&st->mu, &st->ran, &st->sync};
    CHECK(pthread_mutex_lock(&st->mu) == 0);
    rc = rt_spawn(&probe_type, &p, sizeof p, &st->child);
    st->ran_at_return = atomic_load(&st->ran);
    pthread_mutex_unlock(&st->mu);
    CHECK(rc == 0);
    if (st->ran_at_return != 0)
      atomic_fetch_add(st->bad, 1);
  }
  RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->child, &st->j));
  CHECK(rc == 0);
  if (atomic_load(&st->sync) != 0)
    atomic_fetch_add(st->bad, 1);
  if (st->j.status == RT_JOIN_OK && (intptr_t)st->j.value == 42 &&
      atomic_load(&st->ran) == 1)
    atomic_fetch_add(st->good, 1);
  pthread_mutex_destroy(&st->mu);
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type spawner_type = {"spawner", spawner_poll, NULL, NULL};

Test(spawn, from_task_does_not_poll_synchronously, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  enum { N = 200 };
  atomic_int bad = 0, good = 0;
  rt_handle *hs[N];
  for (int i = 0; i < N; i++) {
    spawner_st st = {.pc = 0, .bad = &bad, .good = &good};
    hs[i] = spawn_ok(&spawner_type, &st, sizeof st);
  }
  for (int i = 0; i < N; i++)
    join_expect(hs[i], RT_JOIN_OK, 0);
  cr_assert_eq(atomic_load(&bad), 0,
               "%d spawns from a task polled the child before returning",
               atomic_load(&bad));
  cr_assert_eq(atomic_load(&good), N);
  env_finish(&e, true);
}

/* On a 1-worker runtime the spawning task occupies the only worker: the
 * child must not have run when rt_spawn returns, nor until the parent's
 * poll returns. */
typedef struct one_worker_parent_st {
  int pc;
  atomic_int ran;
  rt_handle *child;
  rt_join j;
  int ran_after_spawn, ran_after_spin;
} one_worker_parent_st;

static int counting_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  atomic_int *ran = *(atomic_int **)s;
  atomic_fetch_add(ran, 1);
  *out = (void *)(intptr_t)7;
  return RT_READY;
}
static const rt_task_type counting_type = {"counting", counting_poll, NULL,
                                           NULL};

static int one_worker_parent_poll(rt_cx *cx, void *s, void **out) {
  one_worker_parent_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  atomic_init(&st->ran, 0);
  {
    atomic_int *p = &st->ran;
    rc = rt_spawn(&counting_type, &p, sizeof p, &st->child);
    CHECK(rc == 0);
    st->ran_after_spawn = atomic_load(&st->ran);
    uint64_t until = rt_now() + MS(20);
    while (rt_now() < until) {
    }
    st->ran_after_spin = atomic_load(&st->ran);
  }
  RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->child, &st->j));
  CHECK(rc == 0);
  CHECK(st->j.status == RT_JOIN_OK && (intptr_t)st->j.value == 7);
  CHECK(atomic_load(&st->ran) == 1);
  *out = (void *)(intptr_t)(st->ran_after_spawn * 10 + st->ran_after_spin);
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type one_worker_parent_type = {
    "one_worker_parent", one_worker_parent_poll, NULL, NULL};

Test(spawn, from_task_on_busy_single_worker_is_queued, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  one_worker_parent_st st = {.pc = 0};
  rt_handle *h = spawn_ok(&one_worker_parent_type, &st, sizeof st);
  /* value 0: the child had run neither at rt_spawn's return nor 20 ms
   * later, while the parent's poll still held the only worker */
  join_expect(h, RT_JOIN_OK, 0);
  env_finish(&e, true);
}

/* ---- spawn from a thread without a runtime ------------------------------ */

static atomic_int spawn_returned_rc = 12345;

static void *spawn_from_plain_thread(void *arg) {
  (void)arg;
  value_st v = {.value = 1};
  rt_handle *h = NULL;
  atomic_store(&spawn_returned_rc, rt_spawn(&value_type, &v, sizeof v, &h));
  return NULL;
}

/* Spawning outside a runtime is an error the caller handles, as
 * rt_spawn_blocking has always returned it: RT_ENORUNTIME, nothing
 * allocated, the handle untouched. */
Test(spawn, from_thread_that_never_entered_fails, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0); /* a runtime exists; the new thread never entered */
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, spawn_from_plain_thread, NULL), 0);
  pthread_join(th, NULL);
  cr_assert_eq(atomic_load(&spawn_returned_rc), RT_ENORUNTIME,
               "rt_spawn returned %d on a thread without a runtime",
               atomic_load(&spawn_returned_rc));
  env_finish(&e, true);
}

Test(spawn, without_any_runtime_fails, .timeout = T_SHORT) {
  value_st v = {.value = 1};
  rt_handle *h = (rt_handle *)&v;
  int rc = rt_spawn(&value_type, &v, sizeof v, &h);
  cr_assert_eq(rc, RT_ENORUNTIME, "rt_spawn returned %d without a runtime", rc);
  cr_assert_eq(h, (rt_handle *)&v, "the handle was written");
  rt_joinset *set;
  cr_assert_eq(rt_joinset_create(&set), 0);
  rc = rt_joinset_spawn(set, &value_type, &v, sizeof v, 7);
  cr_assert_eq(rc, RT_ENORUNTIME, "rt_joinset_spawn returned %d", rc);
  cr_assert_eq(rt_joinset_len(set), 0);
  rt_joinset_destroy(set);
}

Test(spawn, after_runtime_exit_fails, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_runtime_exit();
  value_st v = {.value = 1};
  rt_handle *h = NULL;
  int rc = rt_spawn(&value_type, &v, sizeof v, &h);
  cr_assert_eq(rc, RT_ENORUNTIME, "rt_spawn returned %d after exit", rc);
  cr_assert_eq(rt_runtime_live_tasks(e.rt), 0);
  rt_runtime_enter(e.rt);
  env_finish(&e, true);
}

/* ---- state is copied, aligned; size 0 -------------------------------------
 */

typedef struct big_st {
  unsigned char bytes[200];
  atomic_int *bad;
} big_st;

static int big_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  big_st *st = s;
  if (((uintptr_t)s & 15u) != 0)
    atomic_fetch_add(st->bad, 1);
  for (int i = 0; i < 200; i++)
    if (st->bytes[i] != (unsigned char)(i * 7 + 3))
      atomic_fetch_add(st->bad, 1);
  memset(st->bytes, 0xEE, sizeof st->bytes); /* the runtime's copy */
  *out = (void *)(intptr_t)1;
  return RT_READY;
}
static const rt_task_type big_type = {"big", big_poll, NULL, NULL};

static int nostate_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  (void)s;
  *out = (void *)(intptr_t)99;
  return RT_READY;
}
static const rt_task_type nostate_type = {"nostate", nostate_poll, NULL, NULL};

Test(spawn, state_is_copied_and_aligned, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  held_worker w;
  hold_worker(&w); /* the tasks cannot run yet */
  atomic_int bad = 0;
  enum { N = 16 };
  rt_handle *hs[N];
  big_st st;
  for (int k = 0; k < N; k++) {
    for (int i = 0; i < 200; i++)
      st.bytes[i] = (unsigned char)(i * 7 + 3);
    st.bad = &bad;
    hs[k] = spawn_ok(&big_type, &st, sizeof st);
    memset(st.bytes, 0, sizeof st.bytes); /* must not reach the task */
  }
  rt_handle *z = NULL;
  cr_assert_eq(rt_spawn(&nostate_type, NULL, 0, &z), 0);
  release_worker(&w);
  for (int k = 0; k < N; k++)
    join_expect(hs[k], RT_JOIN_OK, 1);
  join_expect(z, RT_JOIN_OK, 99);
  cr_assert_eq(atomic_load(&bad), 0, "state mismatches/misalignment: %d",
               atomic_load(&bad));
  env_finish(&e, true);
}

/* ---- detached tasks still run
 * ------------------------------------------------ */

static atomic_int g_out_drops;
static void count_free_output(void *o) {
  CHECK(*(int *)o == 1234);
  free(o);
  atomic_fetch_add(&g_out_drops, 1);
}

typedef struct det_st {
  rt_notify *n; /* NULL: do not wait */
  atomic_int *polled, *done, *drops;
} det_st;

static int det_poll(rt_cx *cx, void *s, void **out) {
  det_st *st = s;
  atomic_fetch_add(st->polled, 1);
  if (st->n) {
    int rc = rt_notify_wait(cx, st->n);
    if (rc == RT_PENDING)
      return RT_PENDING;
    CHECK(rc == 0);
  }
  int *o = malloc(sizeof *o);
  *o = 1234;
  *out = o;
  atomic_fetch_add(st->done, 1);
  return RT_READY;
}
static void det_drop(void *s) { atomic_fetch_add(((det_st *)s)->drops, 1); }
static const rt_task_type det_type = {"detached", det_poll, det_drop,
                                      count_free_output};

Test(spawn, detach_while_waiting_still_runs, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  atomic_store(&g_out_drops, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  enum { N = 50 };
  atomic_int polled = 0, done = 0, drops = 0;
  rt_handle *hs[N];
  for (int i = 0; i < N; i++) {
    det_st st = {n, &polled, &done, &drops};
    hs[i] = spawn_ok(&det_type, &st, sizeof st);
  }
  WAIT_FOR(atomic_load(&polled) == N, 10, "polled %d", atomic_load(&polled));
  for (int i = 0; i < N; i++) {
    cr_assert(!rt_handle_is_finished(hs[i]));
    rt_handle_detach(hs[i]);
  }
  cr_assert_eq(atomic_load(&done), 0);
  for (int i = 0; i < N; i++)
    rt_notify_one(n);
  WAIT_FOR(atomic_load(&done) == N, 10, "done %d of %d", atomic_load(&done), N);
  WAIT_FOR(atomic_load(&g_out_drops) == N, 10, "outputs dropped: %d",
           atomic_load(&g_out_drops));
  env_wait_idle(&e, 10);
  cr_assert_eq(atomic_load(&drops), N);
  rt_notify_destroy(n);
  env_finish(&e, true);
  cr_assert_eq(atomic_load(&g_out_drops), N);
}

Test(spawn, spawn_with_null_handle_runs, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  atomic_store(&g_out_drops, 0);
  enum { N = 1000 };
  atomic_int polled = 0, done = 0, drops = 0;
  for (int i = 0; i < N; i++) {
    det_st st = {NULL, &polled, &done, &drops};
    REQUIRE(rt_spawn(&det_type, &st, sizeof st, NULL) == 0, "spawn %d", i);
  }
  WAIT_FOR(atomic_load(&done) == N, 20, "done %d", atomic_load(&done));
  WAIT_FOR(atomic_load(&g_out_drops) == N, 10, "outputs dropped %d",
           atomic_load(&g_out_drops));
  env_wait_idle(&e, 10);
  cr_assert_eq(atomic_load(&drops), N);
  cr_assert_eq(atomic_load(&polled), N);
  env_finish(&e, true);
}

/* A detached task spawned from a task (out == NULL inside a poll). */
typedef struct det_parent_st {
  atomic_int *polled, *done, *drops;
} det_parent_st;
static int det_parent_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  (void)out;
  det_parent_st *p = s;
  for (int i = 0; i < 100; i++) {
    det_st st = {NULL, p->polled, p->done, p->drops};
    CHECK(rt_spawn(&det_type, &st, sizeof st, NULL) == 0);
  }
  return RT_READY;
}
static const rt_task_type det_parent_type = {"det_parent", det_parent_poll,
                                             NULL, NULL};

Test(spawn, detached_from_task_runs, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  atomic_store(&g_out_drops, 0);
  atomic_int polled = 0, done = 0, drops = 0;
  det_parent_st p = {&polled, &done, &drops};
  for (int i = 0; i < 10; i++)
    cr_assert_eq(rt_spawn(&det_parent_type, &p, sizeof p, NULL), 0);
  WAIT_FOR(atomic_load(&done) == 1000, 20, "done %d", atomic_load(&done));
  env_wait_idle(&e, 10);
  cr_assert_eq(atomic_load(&drops), 1000);
  cr_assert_eq(atomic_load(&g_out_drops), 1000);
  env_finish(&e, true);
}

/* ---- joining
 * -------------------------------------------------------------------- */

typedef struct joiner_st {
  int pc, i;
  rt_handle *h[100];
  rt_join j;
  intptr_t sum;
} joiner_st;

static int joiner_poll(rt_cx *cx, void *s, void **out) {
  joiner_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  for (st->i = 0; st->i < 100; st->i++) {
    value_st v = {.value = st->i * 3};
    CHECK(rt_spawn(&value_type, &v, sizeof v, &st->h[st->i]) == 0);
  }
  for (st->i = 0; st->i < 100; st->i++) {
    RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->h[st->i], &st->j));
    CHECK(rc == 0);
    CHECK(st->j.status == RT_JOIN_OK);
    CHECK((intptr_t)st->j.value == st->i * 3);
    st->sum += (intptr_t)st->j.value;
  }
  *out = (void *)st->sum;
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type joiner_type = {"joiner", joiner_poll, NULL, NULL};

Test(spawn, join_from_task_gets_values, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_handle *hs[8];
  for (int k = 0; k < 8; k++) {
    joiner_st st = {.pc = 0};
    hs[k] = spawn_ok(&joiner_type, &st, sizeof st);
  }
  for (int k = 0; k < 8; k++)
    join_expect(hs[k], RT_JOIN_OK, 3 * 99 * 100 / 2);
  env_finish(&e, true);
}

Test(spawn, is_finished_tracks_completion, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int polled = 0, done = 0;
  nwait_st st = {.n = n, .polled = &polled, .done = &done, .value = 5};
  rt_handle *h = spawn_ok(&nwait_type, &st, sizeof st);
  WAIT_FOR(atomic_load(&polled) >= 1, 10, "never polled");
  cr_assert(!rt_handle_is_finished(h));
  sleep_ms(10);
  cr_assert(!rt_handle_is_finished(h), "finished without a notification");
  rt_notify_one(n);
  WAIT_FOR(rt_handle_is_finished(h), 10, "never finished");
  cr_assert_eq(atomic_load(&done), 1);
  join_expect(h, RT_JOIN_OK, 5);
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* Joining from many threads at once (each its own handle). */
typedef struct jt_arg {
  rt_handle *h[64];
  atomic_int *ok;
} jt_arg;
static void *join_thread(void *a) {
  jt_arg *ja = a;
  for (int i = 0; i < 64; i++) {
    rt_join j;
    rt_handle_join_blocking(ja->h[i], &j);
    if (j.status == RT_JOIN_OK && (intptr_t)j.value == i)
      atomic_fetch_add(ja->ok, 1);
  }
  return NULL;
}

Test(spawn, join_blocking_from_several_threads, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  atomic_int ok = 0;
  jt_arg args[4];
  pthread_t th[4];
  for (int t = 0; t < 4; t++) {
    args[t].ok = &ok;
    for (int i = 0; i < 64; i++) {
      sleeper_st s = {.deadline = rt_now() + MS(i % 5), .value = i};
      args[t].h[i] = spawn_ok(&sleeper_type, &s, sizeof s);
    }
    cr_assert_eq(pthread_create(&th[t], NULL, join_thread, &args[t]), 0);
  }
  for (int t = 0; t < 4; t++)
    pthread_join(th[t], NULL);
  cr_assert_eq(atomic_load(&ok), 4 * 64);
  env_finish(&e, true);
}
