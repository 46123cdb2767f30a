/*
 * test_rt_stress.c - volume: a million tasks spawned and joined with every
 * result checked (from a plain thread, from an rt_block_on root, through a
 * JoinSet), a spawn tree, and wake-up ping-pong between tasks (lost
 * wake-ups hang it).
 */
#include "rt_test_util.h"

enum { MILLION = 1000000 };

static int sq_poll(rt_cx *cx, void *s, void **out) {
  (void)cx;
  uint32_t i = *(uint32_t *)s;
  *out = (void *)(uintptr_t)((uint64_t)i * 3 + 1);
  return RT_READY;
}
static const rt_task_type sq_type = {"sq", sq_poll, NULL, NULL};

static rt_handle **g_handles;

Test(stress, million_tasks_from_thread, .timeout = T_LONG) {
  tenv e;
  env_start(&e, 2, 0);
  g_handles = malloc(sizeof(rt_handle *) * MILLION);
  cr_assert_not_null(g_handles);
  for (uint32_t i = 0; i < MILLION; i++) {
    int rc = rt_spawn(&sq_type, &i, sizeof i, &g_handles[i]);
    if (rc != 0)
      cr_assert_fail("spawn %u: %s", i, rt_strerror(rc));
  }
  long bad = 0;
  for (uint32_t i = 0; i < MILLION; i++) {
    rt_join j;
    rt_handle_join_blocking(g_handles[i], &j);
    if (j.status != RT_JOIN_OK ||
        (uintptr_t)j.value != (uintptr_t)((uint64_t)i * 3 + 1))
      bad++;
  }
  cr_assert_eq(bad, 0, "%ld wrong results", bad);
  free(g_handles);
  env_finish(&e, true);
}

/* The root spawns a million tasks and awaits each. */
typedef struct mroot_st {
  int pc;
  uint32_t i;
  rt_join j;
  long bad;
} mroot_st;
static int mroot_poll(rt_cx *cx, void *s, void **out) {
  mroot_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  for (st->i = 0; st->i < MILLION; st->i++) {
    rc = rt_spawn(&sq_type, &st->i, sizeof st->i, &g_handles[st->i]);
    if (rc != 0)
      rt_panic("spawn %u: %s", st->i, rt_strerror(rc));
  }
  for (st->i = 0; st->i < MILLION; st->i++) {
    RT_AWAIT(st->pc, rc = rt_handle_join(cx, g_handles[st->i], &st->j));
    if (rc != 0 || st->j.status != RT_JOIN_OK ||
        (uintptr_t)st->j.value != (uintptr_t)((uint64_t)st->i * 3 + 1))
      st->bad++;
  }
  *out = (void *)(intptr_t)st->bad;
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type mroot_type = {"mroot", mroot_poll, NULL, NULL};

Test(stress, million_tasks_from_block_on_root, .timeout = T_LONG) {
  tenv e;
  rt_runtime *rt = env_start(&e, 2, 0);
  g_handles = malloc(sizeof(rt_handle *) * MILLION);
  cr_assert_not_null(g_handles);
  mroot_st st = {.pc = 0};
  rt_join j = {.status = -1};
  cr_assert_eq(rt_block_on(rt, &mroot_type, &st, sizeof st, &j), 0);
  cr_assert_eq(j.status, RT_JOIN_OK, "root: %s %s", join_status_name(j.status),
               j.panic ? j.panic : "");
  cr_assert_eq((intptr_t)j.value, 0, "%ld wrong results",
               (long)(intptr_t)j.value);
  free(g_handles);
  env_finish(&e, true);
}

Test(stress, million_tasks_through_joinset, .timeout = T_LONG) {
  tenv e;
  env_start(&e, 2, 0);
  rt_joinset *set;
  cr_assert_eq(rt_joinset_create(&set), 0);
  for (uint32_t i = 0; i < MILLION; i++) {
    int rc = rt_joinset_spawn(set, &sq_type, &i, sizeof i, i);
    if (rc != 0)
      cr_assert_fail("spawn %u: %s", i, rt_strerror(rc));
  }
  cr_assert_eq(rt_joinset_len(set), MILLION);
  unsigned char *seen = calloc(MILLION, 1);
  long bad = 0, dup = 0, n = 0;
  rt_join j;
  int rc;
  while ((rc = rt_joinset_join_next_blocking(set, &j)) == 0) {
    n++;
    if (j.tag >= MILLION) {
      bad++;
      continue;
    }
    if (seen[j.tag]++)
      dup++;
    if (j.status != RT_JOIN_OK ||
        (uintptr_t)j.value != (uintptr_t)(j.tag * 3 + 1))
      bad++;
  }
  cr_assert_eq(rc, RT_EEMPTY);
  cr_assert_eq(n, MILLION);
  cr_assert_eq(dup, 0, "%ld results twice", dup);
  cr_assert_eq(bad, 0, "%ld wrong results", bad);
  free(seen);
  rt_joinset_destroy(set);
  env_finish(&e, true);
}

/* A binary spawn tree: each node spawns two children and sums their
 * results (depth 15: 65535 tasks). */
typedef struct node_st {
  int pc, depth;
  rt_handle *l, *r;
  rt_join j;
  intptr_t sum;
} node_st;
static const rt_task_type node_type;
static int node_poll(rt_cx *cx, void *s, void **out) {
  node_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  st->sum = 1;
  if (st->depth > 1) {
    node_st c = {.depth = st->depth - 1};
    CHECK(rt_spawn(&node_type, &c, sizeof c, &st->l) == 0);
    CHECK(rt_spawn(&node_type, &c, sizeof c, &st->r) == 0);
    RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->l, &st->j));
    CHECK(rc == 0 && st->j.status == RT_JOIN_OK);
    st->sum += (intptr_t)st->j.value;
    RT_AWAIT(st->pc, rc = rt_handle_join(cx, st->r, &st->j));
    CHECK(rc == 0 && st->j.status == RT_JOIN_OK);
    st->sum += (intptr_t)st->j.value;
  }
  *out = (void *)st->sum;
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type node_type = {"node", node_poll, NULL, NULL};

Test(stress, spawn_tree, .timeout = T_LONG) {
  for (unsigned w = 1; w <= 4; w *= 2) {
    tenv e;
    env_start(&e, w, 0);
    node_st root = {.depth = 15};
    join_expect(spawn_ok(&node_type, &root, sizeof root), RT_JOIN_OK,
                (1 << 15) - 1);
    env_finish(&e, true);
  }
}

/* Ping-pong through two capacity-1 channels: every hand-off needs a
 * cross-task (often cross-worker) wake-up; a lost one hangs the test. */
typedef struct pp_st {
  int pc, i, n;
  rt_chan *in, *out;
  bool starts;
  void *item;
  intptr_t expect;
  int bad;
} pp_st;
static int pp_poll(rt_cx *cx, void *s, void **out) {
  pp_st *st = s;
  int rc;
  RT_BEGIN(st->pc);
  if (st->starts) {
    RT_AWAIT(st->pc, rc = rt_chan_send(cx, st->out, (void *)(intptr_t)0));
    CHECK(rc == 0);
  }
  for (st->i = 0; st->i < st->n; st->i++) {
    RT_AWAIT(st->pc, rc = rt_chan_recv(cx, st->in, &st->item));
    CHECK(rc == 0);
    if ((intptr_t)st->item != st->expect)
      st->bad++;
    st->expect = (intptr_t)st->item + 2;
    if (st->starts && st->i == st->n - 1)
      break; /* the last ball stays here */
    RT_AWAIT(st->pc,
             rc = rt_chan_send(cx, st->out, (void *)((intptr_t)st->item + 1)));
    CHECK(rc == 0);
  }
  *out = (void *)(intptr_t)st->bad;
  RT_END(st->pc);
  return RT_READY;
}
static const rt_task_type pp_type = {"pp", pp_poll, NULL, NULL};

Test(stress, channel_ping_pong, .timeout = T_LONG) {
  for (unsigned w = 1; w <= 4; w *= 2) {
    tenv e;
    env_start(&e, w, 0);
    enum { PAIRS = 4, N = 20000 };
    rt_chan *a[PAIRS], *b[PAIRS];
    rt_handle *h[2 * PAIRS];
    for (int p = 0; p < PAIRS; p++) {
      cr_assert_eq(rt_chan_create(1, &a[p]), 0);
      cr_assert_eq(rt_chan_create(1, &b[p]), 0);
      pp_st x = {.n = N, .in = a[p], .out = b[p], .starts = true, .expect = 1};
      pp_st y = {.n = N, .in = b[p], .out = a[p], .starts = false, .expect = 0};
      h[2 * p] = spawn_ok(&pp_type, &x, sizeof x);
      h[2 * p + 1] = spawn_ok(&pp_type, &y, sizeof y);
    }
    for (int k = 0; k < 2 * PAIRS; k++)
      join_expect(h[k], RT_JOIN_OK, 0);
    for (int p = 0; p < PAIRS; p++) {
      rt_chan_destroy(a[p]);
      rt_chan_destroy(b[p]);
    }
    env_finish(&e, true);
  }
}

/* Ping-pong through notifies (pingpong_type), from tasks and from the
 * test thread. */
Test(stress, notify_ping_pong, .timeout = T_LONG) {
  tenv e;
  env_start(&e, 2, 0);
  enum { N = 50000 };
  rt_notify *a, *b;
  cr_assert_eq(rt_notify_create(&a), 0);
  cr_assert_eq(rt_notify_create(&b), 0);
  atomic_int count = 0;
  pingpong_st x = {.n = N, .mine = a, .theirs = b, .count = &count};
  pingpong_st y = {.n = N, .mine = b, .theirs = a, .count = &count};
  rt_handle *hx = spawn_ok(&pingpong_type, &x, sizeof x);
  rt_handle *hy = spawn_ok(&pingpong_type, &y, sizeof y);
  rt_notify_one(a);
  join_expect(hx, RT_JOIN_OK, 0);
  join_expect(hy, RT_JOIN_OK, 0);
  cr_assert_eq(atomic_load(&count), 2 * N);
  rt_notify_destroy(a);
  rt_notify_destroy(b);
  env_finish(&e, true);
}
