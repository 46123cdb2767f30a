/*
 * test_rt_allocfail.c - every allocation of the runtime may fail cleanly.
 *
 * Linked with tests/fault/alloc_fault.c and -Wl,--wrap=malloc,... (see
 * tests/CMakeLists.txt), so alloc_fault_set(N) makes the Nth allocation
 * made by the runtime (or by this file) fail.  A scenario that touches the
 * main paths (create, block_on, spawn with and without a handle, a JoinSet
 * of three, spawn_blocking, timers, a semaphore, joins, shutdown) is run
 * once to count its allocations, then once per N over that count: each
 * run must end without a crash, with every call returning 0 or one of its
 * documented errors, with the fds it opened closed again, and (in the ASan
 * build) without a leak.  Counts vary a little between runs (threads race
 * for the injection queue and registry caches), so the walk goes past the
 * count.  ALLOCFAIL_TRACE=1 prints each N (to find the one that hangs).
 */
#include "rt_test_util.h"

#include "fault/alloc_fault.h"

static void *blocking_fn(void *arg) {
  (void)arg;
  return (void *)(uintptr_t)42;
}

typedef struct child_st {
  int pc;
  uint64_t dl;
  rt_sem *sem; /* NULL for the detached child */
} child_st;

static atomic_int g_bad_rc; /* an undocumented return code seen in a task */

static void note_rc(int rc, bool may_nomem) {
  if (!(rc == 0 || (may_nomem && rc == RT_ENOMEM)))
    atomic_store(&g_bad_rc, rc ? rc : 12345);
}

static int child_poll(rt_cx *cx, void *state, void **out) {
  (void)out;
  child_st *c = state;
  int rc = 0;
  RT_BEGIN(c->pc);
  c->dl = rt_now() + US(300);
  RT_AWAIT(c->pc, rc = rt_sleep_until(cx, c->dl));
  note_rc(rc, true);
  if (c->sem) {
    RT_AWAIT(c->pc, rc = rt_sem_acquire(cx, c->sem, 1));
    note_rc(rc, true);
    if (rc == 0)
      rt_sem_release(c->sem, 1);
  }
  RT_END(c->pc);
  return RT_READY;
}
static const rt_task_type child_type = {"child", child_poll, NULL, NULL};

typedef struct root_st {
  int pc;
  rt_sem *sem;
  rt_joinset *set;
  rt_handle *h, *hb;
} root_st;

static void spawn_all(root_st *r) {
  child_st c = {.sem = r->sem};
  int rc = rt_joinset_create(&r->set);
  note_rc(rc, true);
  for (int i = 0; r->set && i < 3; i++)
    note_rc(rt_joinset_spawn(r->set, &child_type, &c, sizeof c, (uint64_t)i),
            true);
  note_rc(rt_spawn(&child_type, &c, sizeof c, &r->h), true);
  child_st d = {.sem = NULL};
  note_rc(rt_spawn(&child_type, &d, sizeof d, NULL), true);
  note_rc(rt_spawn_blocking(blocking_fn, NULL, &r->hb), true);
}

static int root_poll(rt_cx *cx, void *state, void **out) {
  (void)out;
  root_st *r = state;
  int rc = 0;
  rt_join j = {0};
  RT_BEGIN(r->pc);
  spawn_all(r);
  while (r->set) {
    RT_AWAIT(r->pc, rc = rt_joinset_join_next(cx, r->set, &j));
    if (rc != 0)
      break;
    if (j.status == RT_JOIN_PANICKED)
      atomic_store(&g_bad_rc, -100);
    rt_join_clear(&j);
  }
  if (rc != RT_EEMPTY && r->set)
    atomic_store(&g_bad_rc, rc);
  if (r->h) {
    RT_AWAIT(r->pc, rc = rt_handle_join(cx, r->h, &j));
    r->h = NULL;
    rt_join_clear(&j);
  }
  if (r->hb) {
    RT_AWAIT(r->pc, rc = rt_handle_join(cx, r->hb, &j));
    r->hb = NULL;
    if (j.status != RT_JOIN_OK || j.value != (void *)(uintptr_t)42)
      atomic_store(&g_bad_rc, -101);
    rt_join_clear(&j);
  }
  RT_END(r->pc);
  return RT_READY;
}

static void root_drop(void *state) {
  root_st *r = state;
  if (r->h)
    rt_handle_detach(r->h);
  if (r->hb)
    rt_handle_detach(r->hb);
  rt_joinset_destroy(r->set);
}
static const rt_task_type root_type = {"root", root_poll, root_drop, NULL};

/* One run of the scenario; returns what rt_runtime_create returned. */
static int scenario(void) {
  rt_sem *sem;
  int rc = rt_sem_create(1, &sem);
  if (rc != 0) {
    note_rc(rc, true);
    return rc;
  }
  rt_config c;
  rt_config_init(&c);
  c.workers = 2;
  c.max_blocking = 2;
  rt_runtime *rt;
  rc = rt_runtime_create(&c, &rt);
  if (rc == 0) {
    root_st r = {.sem = sem};
    rt_join j = {0};
    int brc = rt_block_on(rt, &root_type, &r, sizeof r, &j);
    if (!(brc == 0 || brc == RT_ENOMEM))
      atomic_store(&g_bad_rc, brc);
    rt_join_clear(&j);
    note_rc(rt_runtime_shutdown(rt, 10000), false);
    rt_runtime_destroy(rt);
  } else if (rc != RT_ENOMEM) {
    atomic_store(&g_bad_rc, rc);
  }
  rt_sem_destroy(sem);
  return rc;
}

Test(allocfail, walk_every_allocation, .timeout = T_LONG) {
  int fds = count_fds();
  alloc_fault_set(0);
  cr_assert_eq(scenario(), 0, "the scenario fails without faults");
  cr_assert_eq(atomic_load(&g_bad_rc), 0);
  unsigned long count = alloc_fault_calls();
  cr_assert_gt(count, 20, "only %lu allocations counted: not wrapped?", count);
  unsigned long created = 0;
  for (unsigned long n = 1; n <= count + 20; n++) {
    if (getenv("ALLOCFAIL_TRACE"))
      fprintf(stderr, "N=%lu of %lu\n", n, count);
    alloc_fault_set(n);
    if (scenario() == 0)
      created++;
    REQUIRE(atomic_load(&g_bad_rc) == 0, "N=%lu: return code %d", n,
            atomic_load(&g_bad_rc));
    REQUIRE(count_fds() == fds, "N=%lu: %d fds open, %d before", n, count_fds(),
            fds);
  }
  alloc_fault_set(0);
  /* the first allocations are the runtime's own set-up */
  cr_assert_lt(created, count + 20, "no failure ever reached create");
  cr_assert_gt(created, 0, "the runtime never got created");
}
