/*
 * registry.c - the set of live tasks, for shutdown and diagnostics.
 *
 * Shutdown must reach tasks nothing else can (a detached task waiting on a
 * notify), so every live task is registered.  Registering must cost next to
 * nothing: it happens twice per task.
 *
 * Structure: a slot array in chunks of 4096 pointers that never move, each
 * live task holding one slot (t->reg_slot).  Free slot numbers circulate in
 * per-driver caches (owner-only, no atomics) and a global pool under `mu`;
 * a cache refills or spills half its size at a time, so the mutex is taken
 * once per ~128 spawns or completions.  Add = take a slot, store the task
 * pointer.  Remove = store NULL, return the slot.
 *
 * Scanning (shutdown's abort-all, live counts) walks every slot holding
 * `mu`, with `scanning` raised.  A task found in a slot must not be freed
 * while the scanner uses it: the remover stores NULL, fences, and reads
 * `scanning`; the scanner raises `scanning`, fences, and reads the slots
 * (Dekker, both seq_cst).  So either the scanner sees NULL, or the remover
 * sees the scan and waits for `mu` before its caller drops the task's last
 * runtime reference.  A spawn races the start of shutdown the same way:
 * it publishes its slot, fences, and reads shutting_down, which shutdown
 * raises before its first scan; so a spawn either fails with RT_ESHUTDOWN
 * or is seen (and aborted) by every later scan.  Shutdown rescans until
 * no task is left; abort is idempotent.
 *
 * Dropped: sharded mutex-protected intrusive lists (two lock round trips
 * per task, and the main thread's spawns fought the workers' completions
 * for the same locks: 20-40 ns a task in the spawn benchmark).
 */
#include "rt_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK_BITS 12u
#define CHUNK (1u << CHUNK_BITS)
#define MAX_CHUNKS 65536u /* 268 million live tasks */

static _Atomic(rt_task *) *slot_ptr(struct rt__registry *r, uint32_t s) {
  return &r->chunks[s >> CHUNK_BITS][s & (CHUNK - 1)];
}

int rt__registry_init(rt_runtime *rt) {
  struct rt__registry *r = &rt->reg;
  r->chunks = calloc(MAX_CHUNKS, sizeof(*r->chunks));
  if (!r->chunks)
    return RT_ENOMEM;
  r->max_chunks = MAX_CHUNKS;
  pthread_mutex_init(&r->mu, NULL);
  atomic_init(&r->scanning, 0);
  return 0;
}

void rt__registry_limit(rt_runtime *rt, uint32_t max_chunks) {
  struct rt__registry *r = &rt->reg;
  pthread_mutex_lock(&r->mu);
  r->max_chunks = max_chunks < MAX_CHUNKS ? max_chunks : MAX_CHUNKS;
  pthread_mutex_unlock(&r->mu);
}

void rt__registry_fini(rt_runtime *rt) {
  struct rt__registry *r = &rt->reg;
  if (!r->chunks)
    return;
  for (uint32_t i = 0; i < r->nchunks; i++)
    free(r->chunks[i]);
  free(r->chunks);
  free(r->pool);
  r->chunks = NULL;
  pthread_mutex_destroy(&r->mu);
}

/* Under mu: makes sure the pool holds at least one slot. */
static int pool_fill_locked(struct rt__registry *r) {
  if (r->pool_n)
    return 0;
  if (r->nchunks >= r->max_chunks)
    return RT_ENOMEM;
  _Atomic(rt_task *) *c = calloc(CHUNK, sizeof(*c));
  if (!c)
    return RT_ENOMEM;
  if (r->pool_cap < CHUNK) {
    uint32_t *p = realloc(r->pool, CHUNK * sizeof(*p));
    if (!p) {
      free(c);
      return RT_ENOMEM;
    }
    r->pool = p;
    r->pool_cap = CHUNK;
  }
  uint32_t base = r->nchunks << CHUNK_BITS;
  r->chunks[r->nchunks++] = c;
  for (uint32_t i = 0; i < CHUNK; i++)
    r->pool[r->pool_n++] = base + CHUNK - 1 - i;
  return 0;
}

static int pool_push_locked(struct rt__registry *r, const uint32_t *v,
                            size_t n) {
  if (r->pool_n + n > r->pool_cap) {
    size_t cap = r->pool_cap ? r->pool_cap * 2 : CHUNK;
    while (cap < r->pool_n + n)
      cap *= 2;
    uint32_t *p = realloc(r->pool, cap * sizeof(*p));
    if (!p)
      return RT_ENOMEM; /* the slots are lost, not reused: harmless */
    r->pool = p;
    r->pool_cap = cap;
  }
  memcpy(r->pool + r->pool_n, v, n * sizeof(*v));
  r->pool_n += n;
  return 0;
}

static int take_slot(rt_runtime *rt, struct rt__driver *d, uint32_t *slot) {
  struct rt__registry *r = &rt->reg;
  if (d && d->slot_n) {
    *slot = d->slots[--d->slot_n];
    return 0;
  }
  pthread_mutex_lock(&r->mu);
  int rc = pool_fill_locked(r);
  if (rc == 0) {
    *slot = r->pool[--r->pool_n];
    while (d && d->slot_n < RT__SLOT_CACHE / 2 && r->pool_n)
      d->slots[d->slot_n++] = r->pool[--r->pool_n];
  }
  pthread_mutex_unlock(&r->mu);
  return rc;
}

static void give_slot(rt_runtime *rt, struct rt__driver *d, uint32_t slot) {
  struct rt__registry *r = &rt->reg;
  if (d && d->slot_n < RT__SLOT_CACHE) {
    d->slots[d->slot_n++] = slot;
    return;
  }
  pthread_mutex_lock(&r->mu);
  pool_push_locked(r, &slot, 1);
  if (d) {
    d->slot_n -= RT__SLOT_CACHE / 2;
    pool_push_locked(r, d->slots + d->slot_n, RT__SLOT_CACHE / 2);
  }
  pthread_mutex_unlock(&r->mu);
}

static struct rt__driver *own_driver(rt_runtime *rt) {
  struct rt__driver *d = rt__tls_driver;
  return d && d->rt == rt ? d : NULL;
}

int rt__registry_add(rt_runtime *rt, rt_task *t) {
  if (atomic_load_explicit(&rt->shutting_down, memory_order_relaxed))
    return RT_ESHUTDOWN; /* the cheap early answer; the real check is below */
  uint32_t slot;
  int rc = take_slot(rt, own_driver(rt), &slot);
  if (rc)
    return rc;
  t->reg_slot = slot;
  /* Publish, then look at the flag (shutdown does the reverse: flag, then
   * scans): either shutdown's scans see this task, or this spawn sees
   * shutdown and takes itself back out, waiting for any scan that might
   * hold the pointer before the caller frees the task. */
  atomic_store_explicit(slot_ptr(&rt->reg, slot), t, memory_order_seq_cst);
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&rt->shutting_down, memory_order_seq_cst)) {
    rt__registry_remove(rt, t);
    return RT_ESHUTDOWN;
  }
  return 0;
}

void rt__registry_remove(rt_runtime *rt, rt_task *t) {
  struct rt__registry *r = &rt->reg;
  atomic_store_explicit(slot_ptr(r, t->reg_slot), NULL, memory_order_seq_cst);
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&r->scanning, memory_order_seq_cst)) {
    pthread_mutex_lock(&r->mu); /* wait out the scan: t must live */
    pthread_mutex_unlock(&r->mu);
  }
  give_slot(rt, own_driver(rt), t->reg_slot);
}

/* Under mu. */
static size_t scan_locked(struct rt__registry *r, bool abort) {
  atomic_store_explicit(&r->scanning, 1, memory_order_seq_cst);
  atomic_thread_fence(memory_order_seq_cst);
  size_t live = 0;
  for (uint32_t c = 0; c < r->nchunks; c++) {
    for (uint32_t i = 0; i < CHUNK; i++) {
      rt_task *t = atomic_load_explicit(&r->chunks[c][i], memory_order_seq_cst);
      if (!t)
        continue;
      live++;
      if (abort)
        rt__task_abort(t);
    }
  }
  atomic_store_explicit(&r->scanning, 0, memory_order_seq_cst);
  return live;
}

size_t rt__registry_scan(rt_runtime *rt, bool abort) {
  struct rt__registry *r = &rt->reg;
  pthread_mutex_lock(&r->mu);
  size_t live = scan_locked(r, abort);
  pthread_mutex_unlock(&r->mu);
  return live;
}

/* Aborts every live task until none is left or the deadline passes.
 * Polls with a growing pause (1 ms doubling to 20 ms) rather than being
 * woken by each completion: a wake-up per completion made every one of
 * them trigger a full scan, quadratic in the tasks left. */
int rt__registry_drain(rt_runtime *rt, uint64_t deadline) {
  uint64_t pause = 1000000u;
  while (rt__registry_scan(rt, true) > 0) {
    uint64_t now = rt_now();
    if (now >= deadline)
      return RT_ETIMEDOUT;
    uint64_t wait = deadline - now < pause ? deadline - now : pause;
    struct timespec ts = {(time_t)(wait / 1000000000u),
                          (long)(wait % 1000000000u)};
    nanosleep(&ts, NULL);
    if (pause < 20000000u)
      pause *= 2;
  }
  return 0;
}

void rt__registry_cache_flush(struct rt__driver *d) {
  if (!d->slot_n)
    return;
  struct rt__registry *r = &d->rt->reg;
  pthread_mutex_lock(&r->mu);
  pool_push_locked(r, d->slots, d->slot_n);
  pthread_mutex_unlock(&r->mu);
  d->slot_n = 0;
}

size_t rt_runtime_live_tasks(rt_runtime *rt) {
  return rt__registry_scan(rt, false);
}
