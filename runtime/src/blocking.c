/*
 * blocking.c - spawn_blocking: a bounded pool of threads of its own.
 *
 * A blocking job is an ordinary task (same header, same JoinHandle) whose
 * type is rt__blocking_type and whose state holds fn and arg.  Workers
 * never see it: spawn puts it on the pool's queue (mutex + condvar) and
 * starts a thread if none is idle and fewer than max exist.  Idle threads
 * exit after keepalive_ms; their slots are joined by the next spawn or by
 * shutdown, so no thread is ever left unjoined.
 *
 * Cancellation only stops work that has not started (Tokio's rule): abort
 * sets CANCELLED, and a thread that pops a cancelled job completes it as
 * CANCELLED without calling fn.  At shutdown the queue is emptied the same
 * way, and running jobs are waited for until the deadline.
 *
 * A panic in fn lands on the pool thread's own pad and completes the job as
 * PANICKED; the thread goes on.
 */
#include "rt_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

struct job {
  void *(*fn)(void *);
  void *arg;
};

static int never_polled(rt_cx *cx, void *st, void **out) {
  (void)cx;
  (void)st;
  (void)out;
  return RT_READY;
}
const rt_task_type rt__blocking_type = {"blocking", never_polled, NULL, NULL};

/* What a pool thread owns, allocated before the thread starts so that a
 * thread that exists can always run jobs.  The pad is on the heap: an
 * automatic object changed between sigsetjmp and siglongjmp would be
 * indeterminate after the jump. */
struct pool_thread {
  rt_runtime *rt;
  unsigned slot;
  struct rt__pad pad;
};

static void run_job(rt_task *t, struct rt__pad *pad) {
  uint64_t s = rt__task_transition_to_running(t);
  if (s & RT__CANCELLED) {
    rt__task_complete(t, RT_JOIN_CANCELLED, NULL);
    return;
  }
  struct job *j = (struct job *)t->data;
  pad->task = t;
  pad->phase = RT__PHASE_BLOCKING;
  void *v = j->fn(j->arg);
  pad->task = NULL;
  rt__task_complete(t, RT_JOIN_OK, v);
}

static void *pool_main(void *arg) {
  struct pool_thread *pt = arg;
  rt_runtime *rt = pt->rt;
  unsigned slot = pt->slot;
  struct rt__pool *p = &rt->pool;
  struct rt__pad *pad = &pt->pad;
  rt__tls_rt = rt;
  rt__tls_pad = pad;
  if (sigsetjmp(pad->jb, 0)) {
    rt_task *t = pad->task;
    pad->task = NULL;
    rt__task_complete(t, RT_JOIN_PANICKED, pad->msg);
    pad->msg = NULL;
  }
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->head && !p->stop) {
      struct timespec ts;
      rt__realtime_after(&ts, (uint64_t)p->keepalive_ms * 1000000u);
      p->nidle++;
      int rc = pthread_cond_timedwait(&p->cv, &p->mu, &ts);
      p->nidle--;
      if (rc == ETIMEDOUT && !p->head)
        goto out;
    }
    if (!p->head)
      break; /* stopping and nothing queued */
    rt_task *t = rt__tlist_pop(&p->head, &p->tail);
    pthread_mutex_unlock(&p->mu);
    run_job(t, pad);
    pthread_mutex_lock(&p->mu);
  }
out:
  p->nthreads--;
  p->slot_exited[slot] = true;
  pthread_cond_broadcast(&p->done_cv);
  pthread_mutex_unlock(&p->mu);
  free(pt);
  rt__tls_pad = NULL;
  rt__tls_rt = NULL;
  return NULL;
}

/* Under the lock: join threads that exited, freeing their slots. */
static void reap_locked(struct rt__pool *p) {
  for (unsigned i = 0; i < p->max; i++) {
    if (p->slot_used[i] && p->slot_exited[i]) {
      pthread_join(p->threads[i], NULL);
      p->slot_used[i] = p->slot_exited[i] = false;
    }
  }
}

/* Under the lock: 0 when a thread was started, else RT_ENOMEM or RT_ESYS
 * (the queued jobs then wait for a thread that exists, if any does). */
static int start_thread_locked(rt_runtime *rt) {
  struct rt__pool *p = &rt->pool;
  reap_locked(p);
  for (unsigned i = 0; i < p->max; i++) {
    if (p->slot_used[i])
      continue;
    struct pool_thread *pt = calloc(1, sizeof(*pt));
    if (!pt)
      return RT_ENOMEM;
    pt->rt = rt;
    pt->slot = i;
    if (pthread_create(&p->threads[i], NULL, pool_main, pt) != 0) {
      free(pt);
      return RT_ESYS;
    }
    p->slot_used[i] = true;
    p->slot_exited[i] = false;
    p->nthreads++;
    return 0;
  }
  return 0; /* unreachable: nthreads < max means a free slot */
}

int rt_spawn_blocking(void *(*fn)(void *arg), void *arg, rt_handle **out) {
  rt_runtime *rt = rt__tls_rt;
  if (!rt)
    return RT_ENORUNTIME;
  struct job j = {fn, arg};
  rt_task *t = rt__task_alloc(&rt__blocking_type, &j, sizeof(j), out != NULL);
  if (!t)
    return RT_ENOMEM;
  atomic_store_explicit(&t->home, &rt->workers[0]->d, memory_order_relaxed);
  int rc = rt__registry_add(rt, t);
  if (rc != 0) {
    free(t);
    return rc;
  }
  struct rt__pool *p = &rt->pool;
  pthread_mutex_lock(&p->mu);
  if (p->stop) {
    /* shutdown stopped the pool after this spawn passed the registry: no
     * thread may start now, so take the job back out and refuse it */
    pthread_mutex_unlock(&p->mu);
    rt__registry_remove(rt, t);
    free(t);
    return RT_ESHUTDOWN;
  }
  rt__tlist_push(&p->head, &p->tail, t);
  if (p->nidle > 0) {
    pthread_cond_signal(&p->cv);
  } else if (p->nthreads < p->max && (rc = start_thread_locked(rt)) != 0 &&
             p->nthreads == 0) {
    /* no thread exists to run it, and none could start: refuse the job
     * (it is the queue's only entry: with no thread, every earlier job was
     * run or refused like this one) */
    assert(p->head == t && p->tail == t);
    p->head = p->tail = NULL;
    pthread_mutex_unlock(&p->mu);
    rt__registry_remove(rt, t);
    free(t);
    return rc;
  }
  pthread_mutex_unlock(&p->mu);
  if (out)
    *out = (rt_handle *)t;
  return 0;
}

int rt__pool_init(rt_runtime *rt) {
  struct rt__pool *p = &rt->pool;
  p->max = rt->cfg.max_blocking;
  p->keepalive_ms = rt->cfg.blocking_keepalive_ms;
  p->threads = calloc(p->max, sizeof(*p->threads));
  p->slot_used = calloc(p->max, sizeof(bool));
  p->slot_exited = calloc(p->max, sizeof(bool));
  if (!p->threads || !p->slot_used || !p->slot_exited) {
    /* all or nothing: rt__pool_fini keys on threads */
    free(p->threads);
    free(p->slot_used);
    free(p->slot_exited);
    p->threads = NULL;
    return RT_ENOMEM;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  pthread_cond_init(&p->done_cv, NULL);
  return 0;
}

/* Cancels queued jobs, waits for running ones until deadline_ns. */
int rt__pool_shutdown(rt_runtime *rt, uint64_t deadline_ns) {
  struct rt__pool *p = &rt->pool;
  pthread_mutex_lock(&p->mu);
  p->stop = true;
  rt_task *q = p->head;
  p->head = p->tail = NULL;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  while (q) {
    rt_task *nx = q->next;
    atomic_fetch_or(&q->state, RT__RUNNING);
    rt__task_complete(q, RT_JOIN_CANCELLED, NULL);
    q = nx;
  }
  int rc = 0;
  pthread_mutex_lock(&p->mu);
  while (p->nthreads > 0) {
    uint64_t now = rt_now();
    if (deadline_ns != UINT64_MAX && now >= deadline_ns) {
      rc = RT_ETIMEDOUT;
      break;
    }
    if (deadline_ns == UINT64_MAX) {
      pthread_cond_wait(&p->done_cv, &p->mu);
    } else {
      struct timespec ts;
      /* a ms past the deadline, so the wait does not end just short */
      rt__realtime_after(&ts, ((deadline_ns - now) / 1000000u + 1) * 1000000u);
      pthread_cond_timedwait(&p->done_cv, &p->mu, &ts);
    }
  }
  if (rc == 0)
    reap_locked(p);
  else
    for (unsigned i = 0; i < p->max; i++)
      if (p->slot_used[i] && !p->slot_exited[i])
        pthread_detach(p->threads[i]), p->slot_used[i] = false;
  pthread_mutex_unlock(&p->mu);
  return rc;
}

void rt__pool_fini(rt_runtime *rt) {
  struct rt__pool *p = &rt->pool;
  if (!p->threads)
    return;
  pthread_cond_destroy(&p->done_cv);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p->threads);
  free(p->slot_used);
  free(p->slot_exited);
  p->threads = NULL;
}
