/*
 * runtime.c - create and destroy, spawn, block_on, the registry, shutdown.
 *
 * Shutdown: raise shutting_down (new spawns fail), stop the blocking pool
 * (queued jobs cancelled, running ones awaited), then abort every task in
 * the registry (registry.c) and rescan until none is left, then stop and
 * join the workers.  Past the deadline the stragglers are left running
 * detached and the runtime's memory is leaked rather than freed under
 * them, as Tokio's shutdown_timeout leaks.
 *
 * rt_block_on builds a temporary driver on the calling thread and runs the
 * root task there, pinned, so the root can sleep and wait like any task;
 * its wake-ups from workers arrive through that driver's inbox.
 */
#include "rt_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

void rt_config_init(rt_config *cfg) { *cfg = (rt_config){0}; }

static void config_normalize(rt_config *c) {
  if (c->workers == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->workers = n > 0 ? (unsigned)n : 1;
  }
  if (c->max_blocking == 0)
    c->max_blocking = 64;
  if (c->blocking_keepalive_ms == 0)
    c->blocking_keepalive_ms = 10000;
  if (c->event_interval == 0)
    c->event_interval = 61;
  if (c->global_queue_interval == 0)
    c->global_queue_interval = 31;
  if (c->budget == 0)
    c->budget = 128;
  if (c->max_idle_connections == 0)
    c->max_idle_connections = 512;
}

rt_runtime *rt__task_runtime(rt_task *t) {
  return atomic_load_explicit(&t->home, memory_order_relaxed)->rt;
}

unsigned rt_runtime_workers(const rt_runtime *rt) { return rt->nworkers; }

int rt_current_worker(void) {
  struct rt__driver *d = rt__tls_driver;
  return d ? d->index : -1;
}

void rt_runtime_enter(rt_runtime *rt) { rt__tls_rt = rt; }
void rt_runtime_exit(void) { rt__tls_rt = NULL; }

/* ---- create / destroy ------------------------------------------------------
 */

static void free_workers(rt_runtime *rt, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    rt__driver_fini(&rt->workers[i]->d);
    free(rt->workers[i]);
  }
  free(rt->workers);
  rt->workers = NULL;
}

static int alloc_workers(rt_runtime *rt) {
  unsigned n = rt->cfg.workers;
  rt->workers = calloc(n, sizeof(*rt->workers));
  if (!rt->workers)
    return RT_ENOMEM;
  for (unsigned i = 0; i < n; i++) {
    void *mem = NULL;
    if (posix_memalign(&mem, RT__CACHELINE, sizeof(struct rt__worker))) {
      free_workers(rt, i);
      return RT_ENOMEM;
    }
    struct rt__worker *w = mem;
    *w = (struct rt__worker){.rng = 0x9e3779b9u * (i + 1)};
    atomic_init(&w->head, 0);
    atomic_init(&w->tail, 0);
    atomic_init(&w->exited, false);
    rt->workers[i] = w;
    int rc = rt__driver_init(&w->d, rt, (int)i);
    if (rc) {
      free(w);
      free_workers(rt, i);
      return rc;
    }
  }
  rt->nworkers = n;
  return 0;
}

static int start_workers(rt_runtime *rt) {
  for (unsigned i = 0; i < rt->nworkers; i++) {
    if (pthread_create(&rt->workers[i]->thread, NULL, rt__worker_main,
                       rt->workers[i]) != 0) {
      atomic_store(&rt->stop, true);
      for (unsigned k = 0; k < i; k++) {
        ev_async_send(rt->workers[k]->d.loop, &rt->workers[k]->d.async);
        pthread_join(rt->workers[k]->thread, NULL);
      }
      return RT_ESYS;
    }
  }
  return 0;
}

int rt_runtime_create(const rt_config *cfg, rt_runtime **out) {
  void *mem = NULL;
  if (posix_memalign(&mem, RT__CACHELINE, sizeof(rt_runtime)))
    return RT_ENOMEM;
  rt_runtime *rt = mem;
  *rt = (rt_runtime){.nworkers = 0};
  if (cfg)
    rt->cfg = *cfg;
  else
    rt_config_init(&rt->cfg);
  config_normalize(&rt->cfg);
  pthread_mutex_init(&rt->inj_mu, NULL);
  rt->inj_stub = calloc(1, sizeof(rt_task));
  if (!rt->inj_stub) {
    free(rt);
    return RT_ENOMEM;
  }
  rt->inj_head = rt->inj_stub;
  atomic_init(&rt->inj_tail, rt->inj_stub);
  int rc = rt__registry_init(rt);
  if (rc == 0)
    rc = rt__pool_init(rt);
  if (rc == 0)
    rc = rt__curl_share_init(rt);
  if (rc == 0)
    rc = alloc_workers(rt);
  if (rc == 0 && (rc = start_workers(rt)) != 0)
    free_workers(rt, rt->nworkers);
  if (rc) {
    rt__curl_share_fini(rt);
    rt__pool_fini(rt);
    rt__registry_fini(rt);
    free(rt->inj_stub);
    free(rt);
    return rc;
  }
  *out = rt;
  return 0;
}

static int join_workers(rt_runtime *rt, uint64_t deadline) {
  int rc = 0;
  for (unsigned i = 0; i < rt->nworkers; i++) {
    struct rt__worker *w = rt->workers[i];
    ev_async_send(w->d.loop, &w->d.async);
    if (deadline == UINT64_MAX) {
      pthread_join(w->thread, NULL);
      continue;
    }
    uint64_t now = rt_now();
    struct timespec ts;
    rt__realtime_after(&ts, deadline > now ? deadline - now : 0);
    if (pthread_timedjoin_np(w->thread, NULL, &ts) != 0) {
      pthread_detach(w->thread);
      rc = RT_ETIMEDOUT;
    }
  }
  return rc;
}

#ifndef NDEBUG
/* True when the calling thread is one of rt's workers or blocking-pool
 * threads (or rt's block_on thread): those must not shut rt down. */
static bool on_runtime_thread(const rt_runtime *rt) {
  struct rt__driver *d = rt__tls_driver;
  return (d && d->rt == rt) || (rt__tls_pad && rt__tls_rt == rt);
}
#endif

int rt_runtime_shutdown(rt_runtime *rt, uint32_t timeout_ms) {
  assert(rt && !on_runtime_thread(rt));
  if (rt->shut_done)
    return rt->leaked ? RT_ETIMEDOUT : 0;
  uint64_t deadline = timeout_ms == UINT32_MAX
                          ? UINT64_MAX
                          : rt_now() + (uint64_t)timeout_ms * 1000000u;
  atomic_store_explicit(&rt->shutting_down, true, memory_order_seq_cst);
  atomic_thread_fence(memory_order_seq_cst); /* see rt__registry_add */
  rt__registry_scan(rt, true); /* cancel async tasks while blocking work ends */
  int rc = rt__pool_shutdown(rt, deadline);
  if (rt__registry_drain(rt, deadline) != 0)
    rc = RT_ETIMEDOUT;
  atomic_store(&rt->stop, true);
  if (join_workers(rt, rc ? rt_now() : deadline) != 0)
    rc = RT_ETIMEDOUT;
  rt->shut_done = true;
  rt->leaked = rc != 0;
  return rc;
}

/* After a shutdown that timed out: true if nothing of rt runs any more
 * (every worker thread has left its loop and the stragglers of the blocking
 * pool have since returned), so it can be freed after all. */
static bool quiet_after_timeout(rt_runtime *rt) {
  for (unsigned i = 0; i < rt->nworkers; i++)
    if (!atomic_load_explicit(&rt->workers[i]->exited, memory_order_acquire))
      return false;
  pthread_mutex_lock(&rt->pool.mu);
  bool quiet = rt->pool.nthreads == 0;
  pthread_mutex_unlock(&rt->pool.mu);
  return quiet;
}

void rt_runtime_destroy(rt_runtime *rt) {
  if (!rt)
    return;
  rt_runtime_shutdown(rt, UINT32_MAX);
  if (rt->leaked && !quiet_after_timeout(rt))
    return; /* threads may still use it: leave it to them */
  free_workers(rt, rt->nworkers);
  rt__curl_share_fini(rt);
  rt__pool_fini(rt);
  rt__registry_fini(rt);
  pthread_mutex_destroy(&rt->inj_mu);
  free(rt->inj_stub);
  if (rt__tls_rt == rt)
    rt__tls_rt = NULL;
  free(rt);
}

/* ---- spawn -----------------------------------------------------------------
 */

int rt_spawn(const rt_task_type *type, const void *state, size_t state_size,
             rt_handle **out) {
  assert(type && type->poll && (state || state_size == 0));
  rt_runtime *rt = rt__tls_rt;
  if (!rt)
    return RT_ENORUNTIME; /* as rt_spawn_blocking: the caller decides */
  rt_task *t = rt__task_alloc(type, state, state_size, out != NULL);
  if (!t)
    return RT_ENOMEM;
  struct rt__driver *d = rt__tls_driver;
  struct rt__driver *home =
      (d && d->index >= 0 && d->rt == rt) ? d : &rt->workers[0]->d;
  atomic_store_explicit(&t->home, home, memory_order_relaxed);
  int rc = rt__registry_add(rt, t);
  if (rc != 0) {
    free(t);
    return rc;
  }
  if (out)
    *out = (rt_handle *)t;
  rt__schedule_new(rt, t);
  return 0;
}

/* ---- block_on
 * ---------------------------------------------------------------- */

static void drive(struct rt__driver *d, rt_task *root) {
  if (sigsetjmp(d->pad.jb, 0))
    rt__task_finish_panic(d);
  while (!(atomic_load_explicit(&root->state, memory_order_acquire) &
           RT__COMPLETE)) {
    rt__driver_drain_inbox(d);
    rt_task *t = rt__driver_local_pop(d);
    if (t) {
      rt__task_run(d, t);
      if (++d->tick % d->rt->cfg.event_interval == 0 && d->n_watchers)
        ev_run(d->loop, EVRUN_NOWAIT);
      continue;
    }
    atomic_store(&d->parked, RT__PARK_PARKED);
    atomic_thread_fence(memory_order_seq_cst);
    if (!atomic_load(&d->inbox_len))
      ev_run(d->loop, EVRUN_ONCE);
    atomic_store(&d->parked, RT__PARK_RUNNING);
  }
}

int rt_block_on(rt_runtime *rt, const rt_task_type *type, const void *state,
                size_t state_size, rt_join *out) {
  assert(rt && type && type->poll && (state || state_size == 0));
  if (out) /* what a caller that ignores the error finds: nothing to free */
    *out = (rt_join){.status = RT_JOIN_CANCELLED};
  assert(rt_current_worker() < 0); /* not from a worker */
  struct rt__driver *d = calloc(1, sizeof(*d));
  if (!d)
    return RT_ENOMEM;
  int rc = rt__driver_init(d, rt, -1);
  if (rc) {
    free(d);
    return rc;
  }
  rt_task *t = rt__task_alloc(type, state, state_size, true);
  if (!t) {
    rc = RT_ENOMEM;
    goto out;
  }
  atomic_store(&t->home, d);
  atomic_fetch_add(&t->state, RT__PIN_ONE); /* a root never leaves */
  rc = rt__registry_add(rt, t); /* RT_ESHUTDOWN, or RT_ENOMEM: no slot */
  if (rc != 0) {
    free(t);
    goto out;
  }
  rt_runtime *prev_rt = rt__tls_rt;
  struct rt__driver *prev_d = rt__tls_driver;
  struct rt__pad *prev_pad = rt__tls_pad;
  rt__tls_rt = rt;
  rt__tls_driver = d;
  rt__tls_pad = &d->pad;
  rt__driver_local_push(d, t);
  drive(d, t);
  rt__tls_rt = prev_rt;
  rt__tls_driver = prev_d;
  rt__tls_pad = prev_pad;
  rt__join_take(t, out);
  rt__registry_cache_flush(d);
out:
  rt__driver_fini(d);
  free(d);
  return rc;
}
