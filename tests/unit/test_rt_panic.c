/*
 * test_rt_panic.c - rt_panic: the message arrives intact (formatted, long),
 * siblings are unaffected, panics in drop functions, rt_panic_resume, the
 * worker survives many panics, a panicking task's registrations are
 * dropped, panics in blocking jobs.
 */
#include "rt_test_util.h"

typedef struct panicker_st {
  int id;
  const char *text; /* NULL: short formatted message */
  atomic_int *polls, *drops;
} panicker_st;

static int panicker_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  (void)out;
  panicker_st *st = s;
  if (st->polls)
    atomic_fetch_add(st->polls, 1);
  if (st->text)
    rt_panic("long %d: %s", st->id, st->text);
  rt_panic("task %d failed: %s (%.2f, %#x)", st->id, "bad input", 1.5, 255);
}
static void panicker_drop(void *s) {
  panicker_st *st = s;
  if (st->drops)
    atomic_fetch_add(st->drops, 1);
}
static const rt_task_type panicker_type = {"panicker", panicker_poll,
                                           panicker_drop, NULL};

static void expect_panic(rt_handle *h, const char *msg) {
  rt_join j = join_blocking(h);
  REQUIRE(j.status == RT_JOIN_PANICKED, "status %s, expected PANICKED",
          join_status_name(j.status));
  REQUIRE(j.panic != NULL, "no panic message");
  REQUIRE(strcmp(j.panic, msg) == 0, "message \"%s\", expected \"%s\"", j.panic,
          msg);
  REQUIRE(j.value == NULL, "a panicked task has a value");
  rt_join_clear(&j);
  REQUIRE(j.panic == NULL, "rt_join_clear left the message");
}

Test(panic, formatted_message_and_siblings_finish, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  atomic_int polls = 0, drops = 0, sib_polls = 0, sib_drops = 0;
  enum { SIBS = 100 };
  rt_handle *sib[SIBS];
  for (int i = 0; i < SIBS / 2; i++) {
    sleeper_st s = {.deadline = rt_now() + MS(i % 20),
                    .value = i,
                    .polled = &sib_polls,
                    .drops = &sib_drops};
    sib[i] = spawn_ok(&sleeper_type, &s, sizeof s);
  }
  panicker_st p = {.id = 7, .polls = &polls, .drops = &drops};
  rt_handle *h = spawn_ok(&panicker_type, &p, sizeof p);
  for (int i = SIBS / 2; i < SIBS; i++) {
    value_st v = {.value = i, .drops = &sib_drops};
    sib[i] = spawn_ok(&value_type, &v, sizeof v);
  }
  expect_panic(h, "task 7 failed: bad input (1.50, 0xff)");
  cr_assert_eq(atomic_load(&polls), 1);
  cr_assert_eq(atomic_load(&drops), 1, "drop after a panic ran %d times",
               atomic_load(&drops));
  for (int i = 0; i < SIBS; i++)
    join_expect(sib[i], RT_JOIN_OK, i);
  cr_assert_eq(atomic_load(&sib_drops), SIBS);
  env_finish(&e, true);
}

Test(panic, long_message_intact, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  enum { LEN = 10 * 1024 };
  char *text = malloc(LEN + 1);
  for (int i = 0; i < LEN; i++)
    text[i] = (char)('a' + (i * 7 + i / 26) % 26);
  text[LEN] = 0;
  char *expect = malloc(LEN + 64);
  snprintf(expect, LEN + 64, "long %d: %s", 3, text);
  enum { N = 8 };
  rt_handle *hs[N];
  atomic_int drops = 0;
  for (int i = 0; i < N; i++) {
    panicker_st p = {.id = 3, .text = text, .drops = &drops};
    hs[i] = spawn_ok(&panicker_type, &p, sizeof p);
  }
  for (int i = 0; i < N; i++) {
    rt_join j = join_blocking(hs[i]);
    cr_assert_eq(j.status, RT_JOIN_PANICKED);
    cr_assert_eq(strlen(j.panic), strlen(expect), "length %zu, expected %zu",
                 strlen(j.panic), strlen(expect));
    cr_assert(strcmp(j.panic, expect) == 0, "long message altered");
    rt_join_clear(&j);
  }
  cr_assert_eq(atomic_load(&drops), N);
  free(expect);
  free(text);
  env_finish(&e, true);
}

/* A panic in the drop function after a READY poll is the task's panic; the
 * drop function is entered once. */
typedef struct droppanic_st {
  int mode; /* 0: poll READY, drop panics; 1: both panic */
  atomic_int *drop_entered;
} droppanic_st;
static int droppanic_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  droppanic_st *st = s;
  if (st->mode == 1)
    rt_panic("poll boom %d", 1);
  *out = NULL;
  return RT_READY;
}
static void droppanic_drop(void *s) {
  droppanic_st *st = s;
  atomic_fetch_add(st->drop_entered, 1);
  rt_panic("drop boom %d", st->mode);
}
static const rt_task_type droppanic_type = {"droppanic", droppanic_poll,
                                            droppanic_drop, NULL};

/* Runs a droppanic task in `mode`: it panics with msg, its drop is
 * entered once, and the worker still works. */
static void drop_panics(int mode, const char *msg) {
  tenv e;
  env_start(&e, 2, 0);
  atomic_int entered = 0;
  droppanic_st st = {mode, &entered};
  rt_handle *h = spawn_ok(&droppanic_type, &st, sizeof st);
  expect_panic(h, msg);
  cr_assert_eq(atomic_load(&entered), 1);
  value_st v = {.value = 4};
  join_expect(spawn_ok(&value_type, &v, sizeof v), RT_JOIN_OK, 4);
  env_finish(&e, true);
}

Test(panic, in_drop_function, .timeout = T_SHORT) {
  drop_panics(0, "drop boom 0");
}

Test(panic, in_poll_then_in_drop_keeps_first, .timeout = T_SHORT) {
  drop_panics(1, "poll boom 1");
}

/* A drop that panics while the task is cancelled (abort). */
Test(panic, in_drop_of_cancelled_task, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  held_worker w;
  hold_worker(&w);
  atomic_int entered = 0;
  droppanic_st st = {0, &entered};
  rt_handle *h = spawn_ok(&droppanic_type, &st, sizeof st);
  rt_handle_abort(h);
  release_worker(&w);
  rt_join j = join_blocking(h);
  /* the abort won (never polled); the drop's panic is what is reported */
  cr_assert(j.status == RT_JOIN_PANICKED, "status %s",
            join_status_name(j.status));
  cr_assert_str_eq(j.panic, "drop boom 0");
  rt_join_clear(&j);
  cr_assert_eq(atomic_load(&entered), 1);
  value_st v = {.value = 4};
  join_expect(spawn_ok(&value_type, &v, sizeof v), RT_JOIN_OK, 4);
  env_finish(&e, true);
}

/* rt_panicking: true in the drop of a task that panicked, false in the
 * drop of an aborted or finished one, in poll functions and on plain
 * threads.  mode 0 panics, 1 sleeps until aborted, 2 returns. */
typedef struct pk_st {
  int mode;
  atomic_int *polled;
  atomic_int *seen; /* 0: drop not run, 1: panicking, 2: not */
} pk_st;

static int pk_poll(rt_cx *cx, void *s, void **out) {
  pk_st *st = s;
  (void)out;
  CHECK(!rt_panicking());
  atomic_store(st->polled, 1);
  if (st->mode == 0)
    rt_panic("pk");
  if (st->mode == 1)
    return rt_sleep_until(cx, rt_now() + MS(600000));
  return RT_READY;
}
static void pk_drop(void *s) {
  pk_st *st = s;
  atomic_store(st->seen, rt_panicking() ? 1 : 2);
}
static const rt_task_type pk_type = {"pk", pk_poll, pk_drop, NULL};

Test(panic, panicking_only_in_the_drop_of_a_panic, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  atomic_int polled[3] = {0, 0, 0}, seen[3] = {0, 0, 0};
  rt_handle *h[3];
  for (int m = 0; m < 3; m++) {
    pk_st st = {m, &polled[m], &seen[m]};
    h[m] = spawn_ok(&pk_type, &st, sizeof st);
  }
  while (!atomic_load(&polled[1]))
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  rt_handle_abort(h[1]);
  static const enum rt_join_status want[3] = {RT_JOIN_PANICKED,
                                              RT_JOIN_CANCELLED, RT_JOIN_OK};
  for (int m = 0; m < 3; m++) {
    rt_join j = join_blocking(h[m]);
    cr_assert(j.status == (int)want[m], "mode %d: status %s", m,
              join_status_name(j.status));
    rt_join_clear(&j);
  }
  cr_assert_eq(atomic_load(&seen[0]), 1, "drop after a panic");
  cr_assert_eq(atomic_load(&seen[1]), 2, "drop after an abort");
  cr_assert_eq(atomic_load(&seen[2]), 2, "drop after a normal end");
  cr_assert(!rt_panicking(), "on the test thread");
  env_finish(&e, true);
}

/* rt_panic_resume re-raises a child's panic in the parent. */
typedef struct resumer_st {
  int pc;
  rt_handle *child;
  rt_join j;
  atomic_int *drops;
} resumer_st;
static int resumer_poll(rt_cx *cx, void *s, void **out) {
  resumer_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  {
    panicker_st p = {.id = 42};
    CHECK(rt_spawn(&panicker_type, &p, sizeof p, &st->child) == 0);
  }
  RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->child, &st->j));
  CHECK(rc == 0);
  CHECK(st->j.status == RT_JOIN_PANICKED);
  if (st->j.status == RT_JOIN_PANICKED)
    rt_panic_resume(&st->j);
  *out = (void *)(intptr_t)1;
  RT_END(st->pc);
  return RT_READY;
}
static void resumer_drop(void *s) {
  resumer_st *st = s;
  CHECK(st->j.panic == NULL); /* ownership moved to the resumed panic */
  atomic_fetch_add(st->drops, 1);
}
static const rt_task_type resumer_type = {"resumer", resumer_poll, resumer_drop,
                                          NULL};

Test(panic, resume_reraises_child_panic_in_parent, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  atomic_int drops = 0;
  resumer_st st = {.pc = 0, .drops = &drops};
  rt_handle *h = spawn_ok(&resumer_type, &st, sizeof st);
  expect_panic(h, "task 42 failed: bad input (1.50, 0xff)");
  cr_assert_eq(atomic_load(&drops), 1);
  env_finish(&e, true);
}

/* Many panics on a 1-worker runtime: the worker keeps working. */
Test(panic, worker_survives_many_panics, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  enum { N = 2000 };
  static rt_handle *hs[N];
  atomic_int polls = 0, drops = 0;
  for (int i = 0; i < N; i++) {
    if (i % 2 == 0) {
      panicker_st p = {.id = i, .polls = &polls, .drops = &drops};
      hs[i] = spawn_ok(&panicker_type, &p, sizeof p);
    } else {
      value_st v = {.value = i, .drops = &drops};
      hs[i] = spawn_ok(&value_type, &v, sizeof v);
    }
  }
  char buf[128];
  for (int i = 0; i < N; i++) {
    if (i % 2 == 0) {
      snprintf(buf, sizeof buf, "task %d failed: bad input (1.50, 0xff)", i);
      expect_panic(hs[i], buf);
    } else {
      join_expect(hs[i], RT_JOIN_OK, i);
    }
  }
  cr_assert_eq(atomic_load(&polls), N / 2);
  cr_assert_eq(atomic_load(&drops), N);
  /* and sleeping still works on that worker */
  sleeper_st s = {.deadline = rt_now() + MS(5), .value = 8};
  join_expect(spawn_ok(&sleeper_type, &s, sizeof s), RT_JOIN_OK, 8);
  env_finish(&e, true);
}

/* A task panicking while registered (notify + timer) leaves no stale
 * registration: a later notify_one is stored as a permit for a new waiter
 * instead of being swallowed by the dead task. */
typedef struct regpanic_st {
  int pc;
  rt_notify *n;
  uint64_t deadline;
  atomic_int *polls;
} regpanic_st;
static int regpanic_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  regpanic_st *st = s;
  atomic_fetch_add(st->polls, 1);
  int r1 = rt_notify_wait(cx, st->n);
  CHECK(r1 == RT_PENDING);
  int r2 = rt_sleep_until(cx, st->deadline);
  if (r2 == RT_PENDING)
    return RT_PENDING;
  rt_panic("timer fired while waiting");
}
static const rt_task_type regpanic_type = {"regpanic", regpanic_poll, NULL,
                                           NULL};

Test(panic, drops_registrations, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  rt_notify *n;
  cr_assert_eq(rt_notify_create(&n), 0);
  atomic_int polls = 0;
  regpanic_st st = {.n = n, .deadline = rt_now() + MS(20), .polls = &polls};
  rt_handle *h = spawn_ok(&regpanic_type, &st, sizeof st);
  expect_panic(h, "timer fired while waiting");
  rt_notify_one(n); /* no waiter left: must become the stored permit */
  atomic_int p2 = 0, d2 = 0;
  nwait_st w = {.n = n, .polled = &p2, .done = &d2, .value = 6};
  rt_handle *h2 = spawn_ok(&nwait_type, &w, sizeof w);
  join_expect(h2, RT_JOIN_OK, 6);
  cr_assert_eq(atomic_load(&p2), 1, "the permit was not stored");
  rt_notify_destroy(n);
  env_finish(&e, true);
}

/* Panics in blocking jobs: PANICKED with the message; the pool goes on. */
static void *panicking_job(void *arg) {
  rt_panic("job %d exploded", (int)(intptr_t)arg);
}
static void *plain_job(void *arg) { return arg; }

Test(panic, in_blocking_job, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 1);
  for (int i = 0; i < 20; i++) {
    rt_handle *h = NULL;
    cr_assert_eq(rt_spawn_blocking(panicking_job, (void *)(intptr_t)i, &h), 0);
    char buf[64];
    snprintf(buf, sizeof buf, "job %d exploded", i);
    expect_panic(h, buf);
    cr_assert_eq(rt_spawn_blocking(plain_job, (void *)(intptr_t)(i + 100), &h),
                 0);
    join_expect(h, RT_JOIN_OK, i + 100);
  }
  env_finish(&e, true);
}

/* A panic on the block_on root comes back as PANICKED. */
typedef struct rootpanic_st {
  int pc;
  uint64_t deadline;
} rootpanic_st;
static int rootpanic_poll(rt_cx *cx, void *s, void **out) {
  (void)out;
  rootpanic_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  RT_AWAIT(st->pc, rc = rt_sleep_until(cx, st->deadline));
  CHECK(rc == 0);
  rt_panic("root %s", "gave up");
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type rootpanic_type = {"rootpanic", rootpanic_poll, NULL,
                                            NULL};

Test(panic, block_on_root_panic, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  for (int i = 0; i < 3; i++) {
    rootpanic_st st = {.deadline = rt_now() + MS(5)};
    rt_join j = {.status = -1};
    cr_assert_eq(rt_block_on(e.rt, &rootpanic_type, &st, sizeof st, &j), 0);
    cr_assert_eq(j.status, RT_JOIN_PANICKED, "status %s",
                 join_status_name(j.status));
    cr_assert_str_eq(j.panic, "root gave up");
    rt_join_clear(&j);
  }
  env_finish(&e, true);
}
