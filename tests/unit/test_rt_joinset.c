/*
 * test_rt_joinset.c - JoinSet: completion order, nothing twice, tags,
 * RT_EEMPTY, abort_all, destroy with running tasks (drops and outputs),
 * join_next_blocking from a plain thread, a set owned by a task.
 */
#include "rt_test_util.h"

static const int durations[5] = {50, 40, 30, 20, 10};

/* From the test thread: tasks sleep 50,40,30,20,10 ms (deadlines from one
 * base time); results come shortest first, each once, then RT_EEMPTY. */
Test(joinset, completion_order_blocking, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0); /* one timer loop: order is exact */
  rt_joinset *set;
  cr_assert_eq(rt_joinset_create(&set), 0);
  rt_join j;
  cr_assert_eq(rt_joinset_join_next_blocking(set, &j), RT_EEMPTY);
  uint64_t t0 = rt_now();
  for (int i = 0; i < 5; i++) {
    sleeper_st s = {.deadline = t0 + MS(durations[i]), .value = durations[i]};
    cr_assert_eq(
        rt_joinset_spawn(set, &sleeper_type, &s, sizeof s, (uint64_t)(100 + i)),
        0);
  }
  cr_assert_eq(rt_joinset_len(set), 5);
  int prev = 0;
  for (int k = 0; k < 5; k++) {
    j = (rt_join){.status = -1};
    cr_assert_eq(rt_joinset_join_next_blocking(set, &j), 0);
    cr_assert_eq(j.status, RT_JOIN_OK);
    int d = (int)(intptr_t)j.value;
    cr_assert_eq(d, 10 * (k + 1), "result %d is the %d ms task, expected %d ms",
                 k, d, 10 * (k + 1));
    cr_assert_gt(d, prev);
    prev = d;
    /* the tag is the spawn index of the task with that duration */
    cr_assert_eq(j.tag, (uint64_t)(100 + (50 - d) / 10), "tag %lu for %d ms",
                 (unsigned long)j.tag, d);
    cr_assert_eq(rt_joinset_len(set), (size_t)(4 - k));
  }
  cr_assert_geq(rt_now() - t0, MS(50));
  cr_assert_eq(rt_joinset_join_next_blocking(set, &j), RT_EEMPTY);
  cr_assert_eq(rt_joinset_join_next_blocking(set, &j), RT_EEMPTY);
  rt_joinset_destroy(set);
  env_finish(&e, true);
}

/* The ready list keeps completion order when nobody was waiting: all five
 * finish before the first join_next. */
Test(joinset, completion_order_kept_while_nobody_joins, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0); /* one timer loop: order is exact */
  rt_joinset *set;
  cr_assert_eq(rt_joinset_create(&set), 0);
  atomic_int drops = 0;
  uint64_t t0 = rt_now();
  for (int i = 0; i < 5; i++) {
    sleeper_st s = {.deadline = t0 + MS(durations[i]),
                    .value = durations[i],
                    .drops = &drops};
    cr_assert_eq(rt_joinset_spawn(set, &sleeper_type, &s, sizeof s, i), 0);
  }
  WAIT_FOR(atomic_load(&drops) == 5, 10, "finished %d", atomic_load(&drops));
  sleep_ms(5);
  for (int k = 0; k < 5; k++) {
    rt_join j;
    cr_assert_eq(rt_joinset_join_next_blocking(set, &j), 0);
    cr_assert_eq((intptr_t)j.value, 10 * (k + 1),
                 "result %d is the %ld ms task", k, (long)(intptr_t)j.value);
  }
  rt_join j;
  cr_assert_eq(rt_joinset_join_next_blocking(set, &j), RT_EEMPTY);
  rt_joinset_destroy(set);
  env_finish(&e, true);
}

/* The same from a task that owns the set. */
typedef struct owner_st {
  int pc, k;
  rt_joinset *set;
  rt_join j;
  int order[5];
  uint64_t tags[5];
  int eempty_first, eempty_last;
} owner_st;
static int owner_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  owner_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  CHECK(rt_joinset_create(&st->set) == 0);
  st->eempty_first = rt_joinset_join_next(cx, st->set, &st->j);
  {
    uint64_t t0 = rt_now();
    for (int i = 0; i < 5; i++) {
      sleeper_st sl = {.deadline = t0 + MS(durations[i]),
                       .value = durations[i]};
      CHECK(rt_joinset_spawn(st->set, &sleeper_type, &sl, sizeof sl,
                             (uint64_t)i) == 0);
    }
  }
  for (st->k = 0; st->k < 5; st->k++) {
    RT_AWAIT(st->pc, rc = rt_joinset_join_next(cx, st->set, &st->j));
    CHECK(rc == 0);
    CHECK(st->j.status == RT_JOIN_OK);
    st->order[st->k] = (int)(intptr_t)st->j.value;
    st->tags[st->k] = st->j.tag;
  }
  st->eempty_last = rt_joinset_join_next(cx, st->set, &st->j);
  rt_joinset_destroy(st->set);
  st->set = NULL;
  RT_END(st->pc);
  return RT_READY;
}

/* The owner's state is reported back through a pointer kept in a static:
 * the output is the address of a copy. */
static owner_st g_owner_result;
static int owner_report_poll(rt_cx *cx, void *s, void **out) {
  int r = owner_poll(cx, s, out);
  if (r == RT_READY) {
    g_owner_result = *(owner_st *)s;
    *out = &g_owner_result;
  }
  return r;
}
static const rt_task_type owner_report_type = {"owner_report",
                                               owner_report_poll, NULL, NULL};

Test(joinset, completion_order_in_task, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0); /* one timer loop: order is exact */
  owner_st st = {.pc = 0};
  rt_handle *h = spawn_ok(&owner_report_type, &st, sizeof st);
  rt_join j = join_blocking(h);
  cr_assert_eq(j.status, RT_JOIN_OK);
  owner_st *r = j.value;
  cr_assert_eq(r->eempty_first, RT_EEMPTY);
  cr_assert_eq(r->eempty_last, RT_EEMPTY);
  for (int k = 0; k < 5; k++) {
    cr_assert_eq(r->order[k], 10 * (k + 1), "position %d: %d ms", k,
                 r->order[k]);
    cr_assert_eq(r->tags[k], (uint64_t)(4 - k));
  }
  assert_no_check_failures();
  env_finish(&e, true);
}

/* Tags come back with every kind of result; nothing twice. */
typedef struct mixed_st {
  int kind; /* 0 ok, 1 panic, 2 wait forever (aborted later) */
  int id;
  rt_notify *n;
  atomic_int *polled;
} mixed_st;
static int mixed_poll(rt_cx *cx, void *s, void **out) {
  mixed_st *st = s;
  if (st->kind == 1)
    rt_panic("m%d", st->id);
  if (st->kind == 2) {
    int rc = rt_notify_wait(cx, st->n);
    atomic_fetch_add(st->polled, 1);
    if (rc == RT_PENDING)
      return RT_PENDING;
  }
  *out = (void *)(intptr_t)(st->id * 10);
  return RT_READY;
}
static const rt_task_type mixed_type = {"mixed", mixed_poll, NULL, NULL};

Test(joinset, tags_come_back_for_every_status, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  rt_joinset *set;
  cr_assert_eq(rt_joinset_create(&set), 0);
  enum { N = 300 };
  atomic_int polled = 0;
  for (int i = 0; i < N; i++) {
    mixed_st st = {i % 3, i, n, &polled};
    REQUIRE(rt_joinset_spawn(set, &mixed_type, &st, sizeof st,
                             (uint64_t)i * 1000003u) == 0,
            "spawn %d", i);
  }
  WAIT_FOR(atomic_load(&polled) == N / 3, 10, "waiters polled %d",
           atomic_load(&polled));
  static bool seen[N];
  memset(seen, 0, sizeof seen);
  int got = 0;
  /* first the finished ones (2/3), then abort the rest */
  for (; got < 2 * N / 3; got++) {
    rt_join j;
    REQUIRE(rt_joinset_join_next_blocking(set, &j) == 0, "join %d", got);
    REQUIRE(j.tag % 1000003u == 0, "bogus tag %lu", (unsigned long)j.tag);
    int i = (int)(j.tag / 1000003u);
    REQUIRE(i >= 0 && i < N && !seen[i], "tag %lu twice or bogus",
            (unsigned long)j.tag);
    seen[i] = true;
    if (i % 3 == 0) {
      REQUIRE(j.status == RT_JOIN_OK && (intptr_t)j.value == i * 10,
              "task %d: %s %ld", i, join_status_name(j.status),
              (long)(intptr_t)j.value);
    } else {
      REQUIRE(i % 3 == 1, "task %d (a waiter) finished unaborted", i);
      REQUIRE(j.status == RT_JOIN_PANICKED, "task %d: %s", i,
              join_status_name(j.status));
      char buf[32];
      snprintf(buf, sizeof buf, "m%d", i);
      REQUIRE(strcmp(j.panic, buf) == 0, "task %d: message %s", i, j.panic);
    }
    rt_join_clear(&j);
  }
  cr_assert_eq(rt_joinset_len(set), N / 3);
  rt_joinset_abort_all(set);
  for (; got < N; got++) {
    rt_join j;
    REQUIRE(rt_joinset_join_next_blocking(set, &j) == 0, "join %d", got);
    int i = (int)(j.tag / 1000003u);
    REQUIRE(i % 3 == 2 && !seen[i], "tag %d", i);
    seen[i] = true;
    REQUIRE(j.status == RT_JOIN_CANCELLED, "task %d: %s", i,
            join_status_name(j.status));
  }
  rt_join j;
  cr_assert_eq(rt_joinset_join_next_blocking(set, &j), RT_EEMPTY);
  cr_assert_eq(rt_joinset_len(set), 0);
  rt_joinset_destroy(set);
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* abort_all: every pending task comes out CANCELLED, drops run, and a
 * task that was already finished keeps its OK result. */
Test(joinset, abort_all_gives_cancelled, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  rt_joinset *set;
  cr_assert_eq(rt_joinset_create(&set), 0);
  enum { N = 50 };
  atomic_int polled = 0, drops = 0;
  for (int i = 0; i < N; i++) {
    if (i % 2) {
      nwait_st st = {.n = n, .polled = &polled, .drops = &drops};
      cr_assert_eq(rt_joinset_spawn(set, &nwait_type, &st, sizeof st, i), 0);
    } else {
      sleeper_st st = {
          .deadline = far_deadline(), .polled = &polled, .drops = &drops};
      cr_assert_eq(rt_joinset_spawn(set, &sleeper_type, &st, sizeof st, i), 0);
    }
  }
  value_st v = {.value = 11, .drops = &drops};
  cr_assert_eq(rt_joinset_spawn(set, &value_type, &v, sizeof v, 999), 0);
  WAIT_FOR(atomic_load(&polled) == N && atomic_load(&drops) == 1, 10,
           "polled %d", atomic_load(&polled));
  rt_joinset_abort_all(set);
  rt_joinset_abort_all(set);
  static bool seen[N];
  memset(seen, 0, sizeof seen);
  bool seen_ok = false;
  for (int k = 0; k < N + 1; k++) {
    rt_join j;
    cr_assert_eq(rt_joinset_join_next_blocking(set, &j), 0);
    if (j.tag == 999) {
      cr_assert(!seen_ok);
      seen_ok = true;
      cr_assert_eq(j.status, RT_JOIN_OK);
      cr_assert_eq((intptr_t)j.value, 11);
      continue;
    }
    cr_assert(j.tag < N && !seen[j.tag]);
    seen[j.tag] = true;
    cr_assert_eq(j.status, RT_JOIN_CANCELLED, "tag %lu: %s",
                 (unsigned long)j.tag, join_status_name(j.status));
  }
  cr_assert(seen_ok);
  rt_join j;
  cr_assert_eq(rt_joinset_join_next_blocking(set, &j), RT_EEMPTY);
  cr_assert_eq(atomic_load(&drops), N + 1);
  rt_joinset_destroy(set);
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* Destroying a set with running tasks cancels them (drops counted), drops
 * finished-but-unjoined outputs, and leaks nothing (ASan checks). */
static atomic_int g_outputs_freed;
static void free_output(void *o) {
  free(o);
  atomic_fetch_add(&g_outputs_freed, 1);
}
typedef struct heapout_st {
  atomic_int *drops;
  atomic_int *produced;
} heapout_st;
static int heapout_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  heapout_st *st = s;
  *out = malloc(64);
  if (st->produced)
    atomic_fetch_add(st->produced, 1);
  return RT_READY;
}
static void heapout_drop(void *s) {
  atomic_fetch_add(((heapout_st *)s)->drops, 1);
}
static const rt_task_type heapout_type = {"heapout", heapout_poll, heapout_drop,
                                          free_output};

Test(joinset, destroy_cancels_running_tasks, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  atomic_store(&g_outputs_freed, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  for (int round = 0; round < 5; round++) {
    rt_joinset *set;
    cr_assert_eq(rt_joinset_create(&set), 0);
    enum { W = 100, S = 100, F = 50 };
    atomic_int polled = 0, drops = 0, fdrops = 0;
    for (int i = 0; i < W; i++) {
      nwait_st st = {.n = n, .polled = &polled, .drops = &drops};
      REQUIRE(rt_joinset_spawn(set, &nwait_type, &st, sizeof st, i) == 0,
              "spawn");
    }
    for (int i = 0; i < S; i++) {
      sleeper_st st = {
          .deadline = far_deadline(), .polled = &polled, .drops = &drops};
      REQUIRE(rt_joinset_spawn(set, &sleeper_type, &st, sizeof st, i) == 0,
              "spawn");
    }
    for (int i = 0; i < F; i++) {
      heapout_st st = {&fdrops, NULL};
      REQUIRE(rt_joinset_spawn(set, &heapout_type, &st, sizeof st, i) == 0,
              "spawn");
    }
    WAIT_FOR(atomic_load(&polled) == W + S && atomic_load(&fdrops) == F, 10,
             "polled %d, finished %d", atomic_load(&polled),
             atomic_load(&fdrops));
    int before = atomic_load(&g_outputs_freed);
    rt_joinset_destroy(set);
    WAIT_FOR(atomic_load(&drops) == W + S, 10, "drops %d of %d",
             atomic_load(&drops), W + S);
    WAIT_FOR(atomic_load(&g_outputs_freed) - before == F, 10,
             "outputs freed %d of %d", atomic_load(&g_outputs_freed) - before,
             F);
    env_wait_idle(&e, 10);
    sleep_ms(2);
    cr_assert_eq(atomic_load(&drops), W + S, "drops ran twice");
    cr_assert_eq(atomic_load(&g_outputs_freed) - before, F);
  }
  /* the waiters were cancelled: a notify_one is stored for a new waiter */
  rt_notify_one(n);
  atomic_int p2 = 0;
  nwait_st w = {.n = n, .polled = &p2, .value = 3};
  join_expect(spawn_ok(&nwait_type, &w, sizeof w), RT_JOIN_OK, 3);
  cr_assert_eq(atomic_load(&p2), 1);
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* Destroy while members are completing concurrently (races the core). */
Test(joinset, destroy_while_completing, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  atomic_store(&g_outputs_freed, 0);
  atomic_int drops = 0, produced = 0;
  int spawned = 0;
  for (int round = 0; round < 200; round++) {
    rt_joinset *set;
    cr_assert_eq(rt_joinset_create(&set), 0);
    for (int i = 0; i < 20; i++) {
      heapout_st st = {&drops, &produced};
      REQUIRE(rt_joinset_spawn(set, &heapout_type, &st, sizeof st, i) == 0,
              "spawn");
      spawned++;
    }
    if (round % 2) {
      rt_join j;
      REQUIRE(rt_joinset_join_next_blocking(set, &j) == 0, "join");
      free(j.value);
      atomic_fetch_add(&g_outputs_freed, 1);
    }
    rt_joinset_destroy(set);
  }
  WAIT_FOR(atomic_load(&drops) == spawned, 10, "drops %d of %d",
           atomic_load(&drops), spawned);
  env_wait_idle(&e, 10);
  /* every output produced was freed once: joined, or dropped by the set
   * or by its detached task (aborted unpolled tasks produce none) */
  cr_assert_eq(atomic_load(&g_outputs_freed), atomic_load(&produced),
               "outputs: %d produced, %d freed", atomic_load(&produced),
               atomic_load(&g_outputs_freed));
  cr_assert_geq(atomic_load(&produced), 100);
  env_finish(&e, true);
}

/* join_next_blocking from a plain thread that never entered the runtime
 * (the test thread spawned everything and hands the set over). */
typedef struct drain_arg {
  rt_joinset *set;
  int n;
  long sum;
  int eempty;
  bool dup;
} drain_arg;
static void *drain_thread(void *a) {
  drain_arg *d = a;
  static bool seen[1000];
  memset(seen, 0, sizeof seen);
  for (;;) {
    rt_join j;
    int rc = rt_joinset_join_next_blocking(d->set, &j);
    if (rc == RT_EEMPTY) {
      d->eempty = 1;
      break;
    }
    if (rc != 0 || j.status != RT_JOIN_OK || j.tag >= 1000 || seen[j.tag] ||
        (intptr_t)j.value != (intptr_t)j.tag * 2) {
      d->dup = true;
      break;
    }
    seen[j.tag] = true;
    d->n++;
    d->sum += (long)(intptr_t)j.value;
  }
  return NULL;
}

Test(joinset, join_next_blocking_from_plain_thread, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_joinset *set;
  cr_assert_eq(rt_joinset_create(&set), 0);
  for (int i = 0; i < 1000; i++) {
    int rc;
    if (i % 4 == 0) {
      sleeper_st st = {.deadline = rt_now() + MS(i % 30), .value = 2 * i};
      rc = rt_joinset_spawn(set, &sleeper_type, &st, sizeof st, i);
    } else {
      value_st st = {.value = 2 * i};
      rc = rt_joinset_spawn(set, &value_type, &st, sizeof st, i);
    }
    REQUIRE(rc == 0, "spawn %d: %s", i, rt_strerror(rc));
  }
  drain_arg d = {.set = set};
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, drain_thread, &d), 0);
  pthread_join(th, NULL);
  cr_assert(!d.dup, "bad or duplicated result");
  cr_assert_eq(d.n, 1000);
  cr_assert_eq(d.sum, 999L * 1000L);
  cr_assert_eq(d.eempty, 1);
  rt_joinset_destroy(set);
  env_finish(&e, true);
}

/* A plain thread blocks in join_next_blocking before anything finishes. */
Test(joinset, join_next_blocking_waits_for_completion, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  rt_joinset *set;
  cr_assert_eq(rt_joinset_create(&set), 0);
  atomic_int polled = 0;
  for (int i = 0; i < 10; i++) {
    nwait_st st = {.n = n, .polled = &polled, .value = i};
    cr_assert_eq(rt_joinset_spawn(set, &nwait_type, &st, sizeof st, i), 0);
  }
  WAIT_FOR(atomic_load(&polled) == 10, 10, "polled %d", atomic_load(&polled));
  for (int k = 0; k < 10; k++) {
    rt_notify_one(n);
    rt_join j;
    cr_assert_eq(rt_joinset_join_next_blocking(set, &j), 0);
    cr_assert_eq(j.status, RT_JOIN_OK);
    cr_assert_eq((intptr_t)j.value, (intptr_t)j.tag);
  }
  rt_join j;
  cr_assert_eq(rt_joinset_join_next_blocking(set, &j), RT_EEMPTY);
  rt_joinset_destroy(set);
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* A task owns a set of 2000 children and drains it. */
typedef struct bigowner_st {
  int pc, count;
  rt_joinset *set;
  rt_join j;
  long sum;
  unsigned char seen[2000];
} bigowner_st;
static int bigowner_poll(rt_cx *cx, void *s, void **out) {
  bigowner_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  CHECK(rt_joinset_create(&st->set) == 0);
  for (int i = 0; i < 2000; i++) {
    value_st v = {.value = i};
    CHECK(rt_joinset_spawn(st->set, &value_type, &v, sizeof v, i) == 0);
  }
  for (;;) {
    RT_AWAIT(st->pc, rc = rt_joinset_join_next(cx, st->set, &st->j));
    if (rc == RT_EEMPTY)
      break;
    CHECK(rc == 0);
    CHECK(st->j.status == RT_JOIN_OK);
    CHECK(st->j.tag < 2000 && !st->seen[st->j.tag]);
    CHECK((intptr_t)st->j.value == (intptr_t)st->j.tag);
    if (st->j.tag < 2000)
      st->seen[st->j.tag] = 1;
    st->count++;
    st->sum += (long)(intptr_t)st->j.value;
  }
  CHECK(st->count == 2000);
  CHECK(rt_joinset_len(st->set) == 0);
  rt_joinset_destroy(st->set);
  *out = (void *)(intptr_t)st->sum;
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type bigowner_type = {"bigowner", bigowner_poll, NULL,
                                           NULL};

Test(joinset, owned_by_task_drains_all, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_handle *hs[4];
  for (int k = 0; k < 4; k++) {
    bigowner_st st;
    memset(&st, 0, sizeof st);
    hs[k] = spawn_ok(&bigowner_type, &st, sizeof st);
  }
  for (int k = 0; k < 4; k++)
    join_expect(hs[k], RT_JOIN_OK, 1999L * 2000L / 2);
  env_finish(&e, true);
}

/* A set destroyed by its owner task while its members wait. */
typedef struct destroyer_st {
  rt_notify *n;
  atomic_int *polled, *drops;
} destroyer_st;
static int destroyer_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  (void)out;
  destroyer_st *st = s;
  rt_joinset *set;
  CHECK(rt_joinset_create(&set) == 0);
  for (int i = 0; i < 100; i++) {
    nwait_st w = {.n = st->n, .polled = st->polled, .drops = st->drops};
    CHECK(rt_joinset_spawn(set, &nwait_type, &w, sizeof w, i) == 0);
  }
  rt_joinset_destroy(set);
  return RT_READY;
}
static const rt_task_type destroyer_type = {"destroyer", destroyer_poll, NULL,
                                            NULL};

Test(joinset, destroy_from_owner_task, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int polled = 0, drops = 0;
  destroyer_st st = {n, &polled, &drops};
  rt_handle *hs[10];
  for (int k = 0; k < 10; k++)
    hs[k] = spawn_ok(&destroyer_type, &st, sizeof st);
  for (int k = 0; k < 10; k++)
    join_expect(hs[k], RT_JOIN_OK, 0);
  WAIT_FOR(atomic_load(&drops) == 1000, 10, "drops %d", atomic_load(&drops));
  env_wait_idle(&e, 10);
  /* members aborted before their first poll were never polled */
  cr_assert_leq(atomic_load(&polled), 1000);
  rt_notify_destroy(n);
  env_finish(&e, true);
}
