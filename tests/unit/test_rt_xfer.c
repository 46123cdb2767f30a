/*
 * test_rt_xfer.c - the curl driver: transfers as futures on the workers'
 * multi handles, against faultsrv on 127.0.0.1.
 *
 * Pins: many concurrent transfers complete on every worker with the right
 * bytes; a task stays on one worker while its transfer runs; transfers
 * started in a burst on one worker spread to the other; aborting mid-transfer
 * removes the easy handle on its worker and runs the drop once; a
 * transfer that completes while its task is aborted ends either OK (all
 * bytes) or CANCELLED, never both or neither; an rt_xfer can be polled
 * again for a retry; libcurl's timeout surfaces as its CURLcode; keep-alive
 * connections are reused within a worker.
 */
#include "rt_test_util.h"
#include "srv_util.h"

#include <curl/curl.h>

static srv g_srv;

static void setup(void) { cr_assert_eq(srv_start(&g_srv), 0, "faultsrv"); }
static void teardown(void) { srv_stop(&g_srv); }

static uint8_t pattern(uint64_t i) {
  return (uint8_t)((i * 31 + 7) ^ (i >> 8));
}

/* ---- a task that fetches one URL ------------------------------------- */

typedef struct fetch_st {
  int pc;
  char url[128];
  CURL *easy;
  rt_xfer *x;
  int code;
  uint64_t got;  /* bytes over all transfers */
  uint64_t base; /* `got` when the current transfer started */
  bool bad_byte;
  int worker_start;   /* worker the first transfer ran on */
  int body_worker;    /* worker of the last body callback, -1 before any */
  bool moved;         /* polled on another worker while transferring */
  atomic_int *polled; /* counts first polls */
  long timeout_ms;
  int repeat; /* how many transfers in a row (keep-alive) */
  atomic_int *drops;
  atomic_int *first_bytes; /* set when the first body bytes arrive */
  int drop_worker;
  long connects;
  bool keep; /* drop leaves a copy of the state in g_done */
  int slot;
} fetch_st;

static fetch_st *g_done[256];

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  fetch_st *st = ud;
  for (size_t i = 0; i < sz * n; i++)
    if ((uint8_t)p[i] != pattern(st->got - st->base + i))
      st->bad_byte = true;
  st->got += sz * n;
  int w = rt_current_worker();
  if (st->body_worker >= 0 && w != st->body_worker)
    st->moved = true;
  st->body_worker = w;
  if (st->first_bytes)
    atomic_store(st->first_bytes, 1);
  return sz * n;
}

static int fetch_poll(rt_cx *cx, void *s, void **out) {
  fetch_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  st->worker_start = -1;
  st->body_worker = -1;
  if (st->polled)
    atomic_fetch_add(st->polled, 1);
  st->easy = curl_easy_init();
  CHECK(st->easy && rt_xfer_create(st->easy, &st->x) == 0);
  curl_easy_setopt(st->easy, CURLOPT_URL, st->url);
  curl_easy_setopt(st->easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(st->easy, CURLOPT_WRITEDATA, st);
  if (st->timeout_ms)
    curl_easy_setopt(st->easy, CURLOPT_TIMEOUT_MS, st->timeout_ms);
  for (;;) {
    st->base = st->got;
    RT_AWAIT(st->pc, rc = rt_xfer_poll(cx, st->x, &st->code));
    CHECK(rc == 0);
    if (st->body_worker >= 0 && rt_current_worker() != st->body_worker)
      st->moved = true;
    if (st->worker_start < 0)
      st->worker_start = rt_current_worker();
    st->body_worker = -1;
    long c = 0;
    curl_easy_getinfo(st->easy, CURLINFO_NUM_CONNECTS, &c);
    st->connects += c;
    if (--st->repeat <= 0)
      break;
  }
  *out = (void *)(uintptr_t)st->got;
  RT_END(st->pc);
  return RT_READY;
}

/* The drop runs on the transfer's worker; with keep it leaves a copy of
 * the final state for the test thread (handed over by the join). */
static void fetch_drop(void *s) {
  fetch_st *st = s;
  st->drop_worker = rt_current_worker();
  rt_xfer_destroy(st->x);
  curl_easy_cleanup(st->easy);
  if (st->drops)
    atomic_fetch_add(st->drops, 1);
  if (st->keep) {
    fetch_st *copy = malloc(sizeof(*copy));
    *copy = *st;
    g_done[st->slot] = copy;
  }
}

static const rt_task_type fetch_type = {"fetch", fetch_poll, fetch_drop, NULL};

static fetch_st make(const char *path) {
  fetch_st st;
  memset(&st, 0, sizeof(st));
  snprintf(st.url, sizeof(st.url), "%s%s", g_srv.base, path);
  st.repeat = 1;
  return st;
}

Test(xfer, many_concurrent_on_every_worker, .init = setup, .fini = teardown,
     .timeout = T_LONG) {
  tenv e;
  env_start(&e, 2, 0);
  enum { N = 400 };
  rt_handle *h[N];
  for (int i = 0; i < N; i++) {
    char path[64];
    snprintf(path, sizeof(path), "/delay/%d/bytes/%d", i % 7 * 5,
             1000 + i * 97);
    fetch_st st = make(path);
    st.keep = i < 256;
    st.slot = i % 256;
    h[i] = spawn_ok(&fetch_type, &st, sizeof(st));
  }
  for (int i = 0; i < N; i++) {
    rt_join j = join_blocking(h[i]);
    cr_assert_eq(j.status, RT_JOIN_OK);
    cr_assert_eq((uint64_t)(uintptr_t)j.value, (uint64_t)(1000 + i * 97),
                 "task %d got %lu bytes", i, (unsigned long)(uintptr_t)j.value);
  }
  bool seen[2] = {false, false};
  for (int i = 0; i < 256; i++) {
    fetch_st *st = g_done[i];
    cr_assert_not_null(st);
    cr_assert_eq(st->code, CURLE_OK);
    cr_assert(!st->bad_byte, "task %d: wrong bytes", i);
    cr_assert(!st->moved, "task %d moved workers mid-transfer", i);
    cr_assert(st->worker_start == 0 || st->worker_start == 1);
    cr_assert_eq(st->drop_worker, st->worker_start,
                 "drop ran off the transfer's worker");
    seen[st->worker_start] = true;
    free(st);
    g_done[i] = NULL;
  }
  cr_assert(seen[0] && seen[1], "transfers ran on only one worker");
  env_finish(&e, true);
}

/* A task that keeps its worker busy (no yields) until every child has
 * been polled once, so the other worker cannot steal them. */
typedef struct spin_st {
  atomic_int *worker;
  atomic_int *polled;
  int want;
} spin_st;

static int spin_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  (void)out;
  spin_st *st = s;
  atomic_store(st->worker, rt_current_worker());
  uint64_t dl = rt_now() + MS(5000);
  while (atomic_load(st->polled) < st->want && rt_now() < dl)
    ;
  return RT_READY;
}

static const rt_task_type spin_type = {"spin", spin_poll, NULL, NULL};

typedef struct burst_st {
  int n;
  atomic_int *polled;
  rt_handle **kids;
} burst_st;

static int burst_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  (void)out;
  burst_st *st = s;
  for (int i = 0; i < st->n; i++) {
    fetch_st f = make("/delay/300/bytes/5000");
    f.polled = st->polled;
    f.keep = true;
    f.slot = i;
    if (rt_spawn(&fetch_type, &f, sizeof(f), &st->kids[i]) != 0)
      st->kids[i] = NULL; /* the test thread fails on it */
  }
  return RT_READY;
}

static const rt_task_type burst_type = {"burst", burst_poll, NULL, NULL};

Test(xfer, burst_on_one_worker_spreads, .init = setup, .fini = teardown,
     .timeout = T_LONG) {
  tenv e;
  env_start(&e, 2, 0);
  enum { N = 8 };
  atomic_int spin_worker = -1, polled = 0;
  spin_st sp = {&spin_worker, &polled, N};
  rt_handle *spin = spawn_ok(&spin_type, &sp, sizeof(sp));
  WAIT_FOR(atomic_load(&spin_worker) >= 0, 10, "spinner never ran");
  rt_handle *kids[N];
  burst_st b = {N, &polled, kids};
  rt_join jb = join_blocking(spawn_ok(&burst_type, &b, sizeof(b)));
  cr_assert_eq(jb.status, RT_JOIN_OK);
  cr_assert_eq(join_blocking(spin).status, RT_JOIN_OK);
  int on[2] = {0, 0};
  for (int i = 0; i < N; i++) {
    cr_assert_not_null(kids[i], "spawn %d failed", i);
    rt_join j = join_blocking(kids[i]);
    cr_assert_eq(j.status, RT_JOIN_OK);
    cr_assert_eq((uint64_t)(uintptr_t)j.value, 5000u);
    fetch_st *st = g_done[i];
    cr_assert_not_null(st);
    cr_assert(!st->moved, "child %d moved workers mid-transfer", i);
    cr_assert(st->worker_start == 0 || st->worker_start == 1);
    on[st->worker_start]++;
    free(st);
    g_done[i] = NULL;
  }
  int spun = atomic_load(&spin_worker);
  cr_assert_geq(on[spun], N / 2 - 1,
                "%d of %d transfers moved to the spinner's worker, %d stayed",
                on[spun], N, on[1 - spun]);
  env_finish(&e, true);
}

/* A task whose transfer is moved to the idle worker but which then arms
 * a timer in the same poll is pinned here: it must stay, and start the
 * transfer here on its next poll (polled on the other worker, its timer
 * would be touched from the wrong thread). */
typedef struct movepin_st {
  char url[128];
  CURL *easy;
  rt_xfer *x;
  int code;
  bool xdone, tdone;
  uint64_t deadline;
  atomic_int *polls;
  unsigned mask; /* workers it was polled on */
} movepin_st;

static size_t discard(char *p, size_t sz, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return sz * n;
}

static int movepin_poll(rt_cx *cx, void *s, void **out) {
  movepin_st *st = s;
  st->mask |= 1u << rt_current_worker();
  atomic_fetch_add(st->polls, 1);
  if (!st->easy) {
    st->easy = curl_easy_init();
    if (!st->easy || rt_xfer_create(st->easy, &st->x) != 0)
      return RT_READY; /* mask 0: the test fails */
    curl_easy_setopt(st->easy, CURLOPT_URL, st->url);
    curl_easy_setopt(st->easy, CURLOPT_WRITEFUNCTION, discard);
    st->deadline = rt_now() + MS(30);
  }
  if (!st->xdone && rt_xfer_poll(cx, st->x, &st->code) != RT_PENDING)
    st->xdone = true;
  if (!st->tdone && rt_sleep_until(cx, st->deadline) != RT_PENDING)
    st->tdone = true;
  if (!st->xdone || !st->tdone)
    return RT_PENDING;
  *out = (void *)(uintptr_t)st->mask;
  return RT_READY;
}

static void movepin_drop(void *s) {
  movepin_st *st = s;
  rt_xfer_destroy(st->x);
  curl_easy_cleanup(st->easy);
}

static const rt_task_type movepin_type = {"movepin", movepin_poll, movepin_drop,
                                          NULL};

Test(xfer, moved_then_pinned_stays, .init = setup, .fini = teardown,
     .timeout = T_LONG) {
  tenv e;
  env_start(&e, 2, 0);
  atomic_int spin_worker = -1, polls = 0, first = 0;
  /* the spinner holds one worker until the task's second poll */
  spin_st sp = {&spin_worker, &polls, 2};
  rt_handle *spin = spawn_ok(&spin_type, &sp, sizeof(sp));
  WAIT_FOR(atomic_load(&spin_worker) >= 0, 10, "spinner never ran");
  /* a transfer on the other worker, so the next one is worth moving */
  fetch_st f = make("/delay/300/bytes/100");
  f.polled = &first;
  rt_handle *busy = spawn_ok(&fetch_type, &f, sizeof(f));
  WAIT_FOR(atomic_load(&first) == 1, 10, "first transfer never started");
  sleep_ms(20);
  movepin_st mp;
  memset(&mp, 0, sizeof(mp));
  snprintf(mp.url, sizeof(mp.url), "%s/bytes/1000", g_srv.base);
  mp.polls = &polls;
  rt_join j = join_blocking(spawn_ok(&movepin_type, &mp, sizeof(mp)));
  cr_assert_eq(j.status, RT_JOIN_OK);
  cr_assert_eq(join_blocking(spin).status, RT_JOIN_OK);
  cr_assert_eq(join_blocking(busy).status, RT_JOIN_OK);
  unsigned mask = (unsigned)(uintptr_t)j.value;
  int other = 1 - atomic_load(&spin_worker);
  cr_assert_eq(mask, 1u << other, "polled on workers %#x; pinned to worker %d",
               mask, other);
  env_finish(&e, true);
}

Test(xfer, abort_mid_transfer, .init = setup, .fini = teardown,
     .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  atomic_int drops = 0, first = 0;
  fetch_st st = make("/stall/1000/bytes/100000000");
  st.drops = &drops;
  st.first_bytes = &first;
  rt_handle *h = spawn_ok(&fetch_type, &st, sizeof(st));
  WAIT_FOR(atomic_load(&first), 10, "no bytes arrived");
  sleep_ms(20);
  cr_assert(!rt_handle_is_finished(h));
  uint64_t t0 = rt_now();
  rt_handle_abort(h);
  rt_join j = join_blocking(h);
  cr_assert_eq(j.status, RT_JOIN_CANCELLED);
  cr_assert_lt(rt_now() - t0, MS(2000), "abort was not prompt");
  cr_assert_eq(atomic_load(&drops), 1);
  env_finish(&e, true);
}

Test(xfer, complete_while_aborted, .init = setup, .fini = teardown,
     .timeout = T_LONG) {
  tenv e;
  env_start(&e, 2, 0);
  int ok = 0, cancelled = 0;
  for (int i = 0; i < 300; i++) {
    atomic_int drops = 0;
    /* the server answers after 1 ms; aborts land 0 .. 2 ms after the
     * spawn, so some come before the end and some after */
    fetch_st st = make("/delay/1/bytes/5000");
    st.drops = &drops;
    rt_handle *h = spawn_ok(&fetch_type, &st, sizeof(st));
    sleep_ns(US(i % 40 * 50));
    rt_handle_abort(h);
    rt_join j = join_blocking(h);
    if (j.status == RT_JOIN_OK) {
      cr_assert_eq((uint64_t)(uintptr_t)j.value, 5000u);
      ok++;
    } else {
      cr_assert_eq(j.status, RT_JOIN_CANCELLED);
      cancelled++;
    }
    cr_assert_eq(atomic_load(&drops), 1, "round %d: %d drops", i,
                 atomic_load(&drops));
  }
  cr_log_info("complete_while_aborted: %d ok, %d cancelled", ok, cancelled);
  cr_assert_gt(cancelled, 0, "never aborted in time: the race was not run");
  cr_assert_gt(ok, 0, "never completed: the race was not run");
  env_finish(&e, true);
}

Test(xfer, poll_again_for_retry_reuses_connection, .init = setup,
     .fini = teardown, .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 1, 0);
  fetch_st st = make("/bytes/2000");
  st.repeat = 20;
  st.keep = true;
  rt_handle *h = spawn_ok(&fetch_type, &st, sizeof(st));
  rt_join j = join_blocking(h);
  cr_assert_eq(j.status, RT_JOIN_OK);
  cr_assert_eq((uint64_t)(uintptr_t)j.value, 20u * 2000u);
  fetch_st *done = g_done[0];
  cr_assert_eq(done->code, CURLE_OK);
  cr_assert(!done->bad_byte);
  cr_assert_eq(done->connects, 1, "20 transfers made %ld connections",
               done->connects);
  free(done);
  g_done[0] = NULL;
  env_finish(&e, true);
}

Test(xfer, timeout_is_a_curl_code, .init = setup, .fini = teardown,
     .timeout = T_SHORT) {
  tenv e;
  env_start(&e, 2, 0);
  fetch_st st = make("/delay/5000/bytes/10");
  st.timeout_ms = 200;
  st.keep = true;
  uint64_t t0 = rt_now();
  rt_handle *h = spawn_ok(&fetch_type, &st, sizeof(st));
  rt_join j = join_blocking(h);
  uint64_t took = rt_now() - t0;
  cr_assert_eq(j.status, RT_JOIN_OK);
  cr_assert_eq(g_done[0]->code, CURLE_OPERATION_TIMEDOUT);
  cr_assert_geq(took, MS(190));
  cr_assert_lt(took, MS(3000));
  free(g_done[0]);
  g_done[0] = NULL;
  env_finish(&e, true);
}
