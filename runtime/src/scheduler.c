/*
 * scheduler.c - run queues, the worker loop, parking, stealing.
 *
 * Queues, for an unpinned task: the current worker's LIFO slot (a task woken
 * by the task this worker is polling; owner-only, never stolen, at most
 * RT__MAX_LIFO_POLLS in a row so two ping-ponging tasks cannot starve the
 * rest), the worker's ring (bounded SPMC FIFO: the owner pushes at the tail,
 * the owner pops and thieves steal half at the head, with 64-bit counters so
 * there is no ABA; on overflow half of it moves to the injection queue), or
 * the global injection queue (mutex list) when woken or spawned from a
 * thread that is not a worker.  A pinned task goes to its home driver's
 * owner-only local list, through the home's inbox (mutex list + ev_async)
 * when the waker is another thread; so does a task whose transfer was moved
 * to a lighter worker's multi (curl_driver.c), pushed to that worker's
 * inbox at the end of the poll that decided the move.
 *
 * Worker loop: take a task (every global_queue_interval ticks the injection
 * queue first, for fairness; then LIFO, inbox, local list and ring
 * alternating, injection batch, stealing), poll it, and every event_interval
 * ticks run the ev loop once without blocking if it has watchers.  With no
 * task, park in ev_run(EVRUN_ONCE): only epoll, timers or the ev_async wake
 * it.
 *
 * Parking without lost wake-ups (Tokio's idle protocol): a parking worker
 * sets parked=1 and n_idle++, then re-checks for work after a seq_cst
 * fence; a notifier publishes work, fences, and if no worker is searching
 * claims one parked worker by CAS 1->2 and sends its ev_async.  A claimed
 * worker counts as "searching" until it finds a task; the last searcher to
 * find one wakes another, so a burst of spawns fans out without a syscall
 * per spawn.  An inbox push claims its driver with 1->3 (not searching).
 *
 * Dropped: a Chase-Lev deque (LIFO for the owner, unfair under yield_now)
 * and per-worker mutex queues (a lock per push/pop on the hottest path).
 */
#include "rt_internal.h"

#include <stdlib.h>

/* ---- the ring
 * ---------------------------------------------------------------- */

static size_t ring_len(struct rt__worker *w) {
  uint64_t h = atomic_load_explicit(&w->head, memory_order_acquire);
  uint64_t t = atomic_load_explicit(&w->tail, memory_order_acquire);
  return (size_t)(t - h);
}

static bool ring_push(struct rt__worker *w, rt_task *t) {
  uint64_t tail = atomic_load_explicit(&w->tail, memory_order_relaxed);
  uint64_t head = atomic_load_explicit(&w->head, memory_order_acquire);
  if (tail - head >= RT__RING_CAP)
    return false;
  atomic_store_explicit(&w->buf[tail & RT__RING_MASK], t, memory_order_relaxed);
  atomic_store_explicit(&w->tail, tail + 1, memory_order_release);
  return true;
}

static rt_task *ring_pop(struct rt__worker *w) {
  uint64_t head = atomic_load_explicit(&w->head, memory_order_acquire);
  for (;;) {
    uint64_t tail = atomic_load_explicit(&w->tail, memory_order_relaxed);
    if (head == tail)
      return NULL;
    rt_task *t = atomic_load_explicit(&w->buf[head & RT__RING_MASK],
                                      memory_order_relaxed);
    if (atomic_compare_exchange_weak_explicit(&w->head, &head, head + 1,
                                              memory_order_acq_rel,
                                              memory_order_acquire))
      return t;
  }
}

/* Claims up to max tasks from the head of v's ring into out[]. */
static size_t ring_grab(struct rt__worker *v, rt_task **out, size_t max,
                        bool half) {
  uint64_t head = atomic_load_explicit(&v->head, memory_order_acquire);
  for (;;) {
    uint64_t tail = atomic_load_explicit(&v->tail, memory_order_acquire);
    size_t n = (size_t)(tail - head);
    if (half)
      n -= n / 2;
    if (n > max)
      n = max;
    if (n == 0)
      return 0;
    for (size_t i = 0; i < n; i++)
      out[i] = atomic_load_explicit(&v->buf[(head + i) & RT__RING_MASK],
                                    memory_order_relaxed);
    if (atomic_compare_exchange_weak_explicit(&v->head, &head, head + n,
                                              memory_order_acq_rel,
                                              memory_order_acquire))
      return n;
  }
}

/* ---- the injection queue
 * ----------------------------------------------------- */

/* task->next doubles as the MPSC link; it is accessed with __atomic
 * builtins here because producers and the consumer race on it only in
 * this queue (everywhere else one thread owns it). */
static rt_task *link_load(rt_task *t) {
  return __atomic_load_n(&t->next, __ATOMIC_ACQUIRE);
}

static void inject_push_list(rt_runtime *rt, rt_task *first, rt_task *last,
                             size_t n) {
  __atomic_store_n(&last->next, NULL, __ATOMIC_RELAXED);
  atomic_fetch_add_explicit(&rt->inj_len, n, memory_order_relaxed);
  rt_task *prev =
      atomic_exchange_explicit(&rt->inj_tail, last, memory_order_acq_rel);
  __atomic_store_n(&prev->next, first, __ATOMIC_RELEASE);
}

static void inject_push(rt_runtime *rt, rt_task *t) {
  inject_push_list(rt, t, t, 1);
}

/* Under inj_mu.  NULL when empty, or for the instant a producer has
 * swapped the tail but not yet linked its node (the caller retries). */
static rt_task *inject_pop_locked(rt_runtime *rt) {
  rt_task *head = rt->inj_head;
  rt_task *next = link_load(head);
  if (head == rt->inj_stub) {
    if (!next)
      return NULL;
    rt->inj_head = head = next;
    next = link_load(next);
  }
  if (next) {
    rt->inj_head = next;
    return head;
  }
  if (head != atomic_load_explicit(&rt->inj_tail, memory_order_acquire))
    return NULL;
  inject_push_list(rt, rt->inj_stub, rt->inj_stub, 0);
  next = link_load(head);
  if (!next)
    return NULL;
  rt->inj_head = next;
  return head;
}

/* Takes a batch from the injection queue: returns one task and puts the
 * rest on w's ring. */
static rt_task *inject_pop_batch(struct rt__worker *w, bool batch) {
  rt_runtime *rt = w->d.rt;
  size_t len = atomic_load_explicit(&rt->inj_len, memory_order_relaxed);
  if (len == 0)
    return NULL;
  size_t want = 1;
  if (batch) {
    size_t room = RT__RING_CAP - ring_len(w);
    want = len / rt->nworkers + 1;
    if (want > RT__RING_CAP / 2)
      want = RT__RING_CAP / 2;
    if (want > room + 1)
      want = room + 1;
  }
  pthread_mutex_lock(&rt->inj_mu);
  rt_task *first = inject_pop_locked(rt);
  size_t got = first ? 1 : 0;
  for (rt_task *t; got < want && (t = inject_pop_locked(rt)); got++)
    ring_push(w, t); /* room was reserved above */
  pthread_mutex_unlock(&rt->inj_mu);
  if (got)
    atomic_fetch_sub_explicit(&rt->inj_len, got, memory_order_relaxed);
  return first;
}

/* Ring full: move half of it and t to the injection queue. */
static void ring_overflow(struct rt__worker *w, rt_task *t) {
  rt_task *batch[RT__RING_CAP / 2];
  size_t n = ring_grab(w, batch, RT__RING_CAP / 2, false);
  rt_task *first = t, *last = t;
  for (size_t i = 0; i < n; i++) {
    last->next = batch[i];
    last = batch[i];
  }
  inject_push_list(w->d.rt, first, last, n + 1);
}

static void ring_push_or_overflow(struct rt__worker *w, rt_task *t) {
  if (!ring_push(w, t))
    ring_overflow(w, t);
}

/* ---- driver lists
 * --------------------------------------------------------------- */

void rt__driver_local_push(struct rt__driver *d, rt_task *t) {
  rt__tlist_push(&d->local_head, &d->local_tail, t);
}

rt_task *rt__driver_local_pop(struct rt__driver *d) {
  return rt__tlist_pop(&d->local_head, &d->local_tail);
}

void rt__driver_drain_inbox(struct rt__driver *d) {
  if (atomic_load_explicit(&d->inbox_len, memory_order_acquire) == 0)
    return;
  pthread_mutex_lock(&d->inbox_mu);
  rt_task *head = d->inbox_head, *tail = d->inbox_tail;
  d->inbox_head = d->inbox_tail = NULL;
  atomic_store_explicit(&d->inbox_len, 0, memory_order_relaxed);
  pthread_mutex_unlock(&d->inbox_mu);
  if (!head)
    return;
  if (d->local_tail)
    d->local_tail->next = head;
  else
    d->local_head = head;
  d->local_tail = tail;
}

static bool claim_parked(struct rt__driver *d, int why) {
  int exp = RT__PARK_PARKED;
  if (!atomic_compare_exchange_strong(&d->parked, &exp, why))
    return false;
  if (d->index >= 0)
    atomic_fetch_sub(&d->rt->n_idle, 1);
  if (why == RT__PARK_SEARCH)
    atomic_fetch_add(&d->rt->n_searching, 1);
  ev_async_send(d->loop, &d->async);
  return true;
}

static void driver_wake(struct rt__driver *d) {
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load(&d->parked) == RT__PARK_PARKED)
    claim_parked(d, RT__PARK_INBOX);
}

void rt__inbox_push(struct rt__driver *d, rt_task *t) {
  pthread_mutex_lock(&d->inbox_mu);
  rt__tlist_push(&d->inbox_head, &d->inbox_tail, t);
  atomic_fetch_add_explicit(&d->inbox_len, 1, memory_order_release);
  pthread_mutex_unlock(&d->inbox_mu);
  driver_wake(d);
}

/* ---- scheduling
 * ---------------------------------------------------------------- */

static void notify_idle(rt_runtime *rt) {
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load(&rt->n_searching) > 0 || atomic_load(&rt->n_idle) == 0)
    return;
  unsigned n = rt->nworkers;
  unsigned start =
      atomic_fetch_add_explicit(&rt->wake_rr, 1, memory_order_relaxed);
  for (unsigned i = 0; i < n; i++) {
    struct rt__worker *w = rt->workers[(start + i) % n];
    if (atomic_load_explicit(&w->d.parked, memory_order_relaxed) ==
            RT__PARK_PARKED &&
        claim_parked(&w->d, RT__PARK_SEARCH))
      return;
  }
}

void rt__schedule(rt_task *t, bool yield) {
  struct rt__driver *cur = rt__tls_driver;
  struct rt__driver *home =
      atomic_load_explicit(&t->home, memory_order_relaxed);
  if (rt__task_pinned(t)) {
    if (home == cur)
      rt__driver_local_push(cur, t);
    else
      rt__inbox_push(home, t);
    return;
  }
  struct rt__worker *w = rt__worker_of(cur);
  if (!w || cur->rt != home->rt) {
    inject_push(home->rt, t);
    notify_idle(home->rt);
    return;
  }
  if (!yield && cur->cx.task) {
    rt_task *prev = w->lifo;
    w->lifo = t;
    if (!prev)
      return;
    t = prev;
  }
  ring_push_or_overflow(w, t);
  notify_idle(cur->rt);
}

/* rt_spawn chose t->home (this worker, else worker 0) before publishing
 * the task in the registry; the queue follows the same choice. */
void rt__schedule_new(rt_runtime *rt, rt_task *t) {
  struct rt__worker *w = rt__worker_of(rt__tls_driver);
  if (w && w->d.rt == rt)
    ring_push_or_overflow(w, t);
  else
    inject_push(rt, t);
  notify_idle(rt);
}

/* ---- the worker loop
 * -------------------------------------------------------------- */

static rt_task *next_task(struct rt__worker *w) {
  rt_runtime *rt = w->d.rt;
  rt_task *t;
  w->d.tick++;
  if (w->d.tick % rt->cfg.global_queue_interval == 0 &&
      (t = inject_pop_batch(w, false)))
    return t;
  if (w->lifo) {
    t = w->lifo;
    w->lifo = NULL;
    if (w->lifo_polls < RT__MAX_LIFO_POLLS) {
      w->lifo_polls++;
      return t;
    }
    ring_push_or_overflow(w, t);
  }
  w->lifo_polls = 0;
  rt__driver_drain_inbox(&w->d);
  if ((w->d.tick & 1) && (t = rt__driver_local_pop(&w->d)))
    return t;
  if ((t = ring_pop(w)) || (t = rt__driver_local_pop(&w->d)))
    return t;
  return inject_pop_batch(w, true);
}

static uint32_t xorshift(uint32_t *s) {
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

static rt_task *steal(struct rt__worker *w) {
  rt_runtime *rt = w->d.rt;
  unsigned n = rt->nworkers;
  if (n < 2)
    return NULL;
  /* at most half the workers search at once (Tokio's rule) */
  if (!w->searching) {
    if (2 * atomic_load(&rt->n_searching) >= n)
      return NULL;
    w->searching = true;
    atomic_fetch_add(&rt->n_searching, 1);
  }
  rt_task *batch[RT__RING_CAP / 2];
  unsigned start = xorshift(&w->rng) % n;
  for (unsigned i = 0; i < n; i++) {
    struct rt__worker *v = rt->workers[(start + i) % n];
    if (v == w)
      continue;
    size_t room = RT__RING_CAP - ring_len(w);
    size_t got = ring_grab(
        v, batch, room < RT__RING_CAP / 2 ? room : RT__RING_CAP / 2, true);
    if (got == 0)
      continue;
    for (size_t k = 1; k < got; k++)
      ring_push(w, batch[k]);
    return batch[0];
  }
  return inject_pop_batch(w, true);
}

static void end_search(struct rt__worker *w) {
  w->searching = false;
  if (atomic_fetch_sub(&w->d.rt->n_searching, 1) == 1)
    notify_idle(w->d.rt); /* the last searcher hands the baton on */
}

static bool has_work(struct rt__worker *w) {
  rt_runtime *rt = w->d.rt;
  if (atomic_load(&rt->inj_len) || atomic_load(&w->d.inbox_len) ||
      w->d.local_head || w->lifo || atomic_load(&rt->stop))
    return true;
  for (unsigned i = 0; i < rt->nworkers; i++)
    if (ring_len(rt->workers[i]))
      return true;
  return false;
}

static void park(struct rt__worker *w) {
  rt_runtime *rt = w->d.rt;
  atomic_store(&w->d.parked, RT__PARK_PARKED);
  atomic_fetch_add(&rt->n_idle, 1);
  if (w->searching) {
    w->searching = false;
    atomic_fetch_sub(&rt->n_searching, 1);
  }
  atomic_thread_fence(memory_order_seq_cst);
  if (!has_work(w))
    ev_run(w->d.loop, EVRUN_ONCE);
  int why = atomic_exchange(&w->d.parked, RT__PARK_RUNNING);
  if (why == RT__PARK_PARKED)
    atomic_fetch_sub(&rt->n_idle, 1);
  else if (why == RT__PARK_SEARCH)
    w->searching = true;
}

static void maintenance(struct rt__worker *w) {
  if (w->d.n_watchers)
    ev_run(w->d.loop, EVRUN_NOWAIT);
}

void *rt__worker_main(void *arg) {
  struct rt__worker *w = arg;
  rt_runtime *rt = w->d.rt;
  rt__tls_rt = rt;
  rt__tls_driver = &w->d;
  rt__tls_pad = &w->d.pad;
  if (sigsetjmp(w->d.pad.jb, 0))
    rt__task_finish_panic(&w->d);
  for (;;) {
    if (atomic_load_explicit(&rt->stop, memory_order_acquire))
      break;
    rt_task *t = next_task(w);
    if (!t)
      t = steal(w);
    if (!t) {
      maintenance(w);
      if (!w->d.local_head && !atomic_load(&w->d.inbox_len))
        park(w);
      continue;
    }
    if (w->searching)
      end_search(w);
    rt__task_run(&w->d, t);
    if (w->d.tick % rt->cfg.event_interval == 0)
      maintenance(w);
  }
  rt__tls_driver = NULL;
  rt__tls_pad = NULL;
  rt__tls_rt = NULL;
  atomic_store_explicit(&w->exited, true, memory_order_release);
  return NULL;
}

/* ---- driver setup
 * ------------------------------------------------------------------- */

static void async_cb(struct ev_loop *loop, ev_async *a, int revents) {
  (void)loop;
  (void)a;
  (void)revents; /* the wake-up is the point; queues are checked after */
}

int rt__driver_init(struct rt__driver *d, rt_runtime *rt, int index) {
  d->rt = rt;
  d->index = index;
  d->local_head = d->local_tail = NULL;
  d->inbox_head = d->inbox_tail = NULL;
  atomic_init(&d->inbox_len, 0);
  atomic_init(&d->parked, RT__PARK_RUNNING);
  atomic_init(&d->xfers, 0);
  d->cx.migrate_to = NULL;
  d->n_watchers = 0;
  d->cx.d = d;
  d->cx.task = NULL;
  d->pad.task = NULL;
  d->pad.msg = d->pad.first = NULL;
  d->curl = NULL;
  d->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV | EVFLAG_NOSIGMASK);
  if (!d->loop)
    return RT_ESYS;
  if (pthread_mutex_init(&d->inbox_mu, NULL) != 0) {
    ev_loop_destroy(d->loop);
    return RT_ESYS;
  }
  ev_async_init(&d->async, async_cb);
  ev_async_start(d->loop, &d->async);
  return 0;
}

void rt__driver_fini(struct rt__driver *d) {
  if (!d->loop)
    return;
  rt__curl_driver_fini(d);
  ev_async_stop(d->loop, &d->async);
  ev_loop_destroy(d->loop);
  d->loop = NULL;
  pthread_mutex_destroy(&d->inbox_mu);
}
