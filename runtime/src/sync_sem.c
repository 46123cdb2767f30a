/*
 * sync_sem.c - a fair async counting semaphore.
 *
 * One mutex guards the count and a FIFO of waiters.  Permits are granted
 * only to the head of the queue and only whole: release() hands permits to
 * waiters in order while the head's request fits, marking each FIRED (the
 * permits are then the waiter's even before it is polled again).  A waiter
 * dropped while FIRED gives its permits back through release, so nothing
 * is lost to cancellation; one dropped while still queued just unlinks, and
 * that may let the next waiter through.  try_acquire fails while anyone
 * waits, so it cannot jump the queue.
 *
 * Wake-ups happen under the lock (the woken task cannot be freed while its
 * node is linked, because freeing it needs this lock to unlink first).
 */
#include "rt_internal.h"

#include <assert.h>
#include <stdlib.h>

struct rt_sem {
  pthread_mutex_t mu;
  size_t permits;
  bool closed;
  struct rt__wait *head, *tail;
};

int rt_sem_create(size_t permits, rt_sem **out) {
  rt_sem *s = calloc(1, sizeof(*s));
  if (!s)
    return RT_ENOMEM;
  pthread_mutex_init(&s->mu, NULL);
  s->permits = permits;
  *out = s;
  return 0;
}

void rt_sem_destroy(rt_sem *s) {
  if (!s)
    return;
  assert(!s->head); /* destroyed while a task waits */
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* Under the lock: grant to waiters in order while they fit. */
static void grant_locked(rt_sem *s) {
  while (s->head && s->head->n <= s->permits) {
    s->permits -= s->head->n;
    rt__wlist_fire(&s->head, &s->tail, s->head);
  }
}

int rt_sem_acquire(rt_cx *cx, rt_sem *s, size_t n) {
  if (n > UINT32_MAX)
    return RT_EINVAL;
  struct rt__wait *w = rt__wait_find(cx, RT__W_SEM, s);
  int rc = RT_PENDING;
  pthread_mutex_lock(&s->mu);
  if (w) {
    if (w->st & RT__WS_FIRED) {
      rc = RT_READY;
    } else if (s->closed) {
      rt__wlist_unlink(&s->head, &s->tail, w);
      rc = RT_ECLOSED;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != RT_PENDING)
      rt__wait_release(cx->task, w);
    return rc;
  }
  if (s->closed) {
    rc = RT_ECLOSED;
  } else if (!s->head && s->permits >= n) {
    if (rt__coop(cx)) { /* else out of budget: retry after the yield */
      s->permits -= n;
      rc = RT_READY;
    }
  } else if ((w = rt__wait_new(cx, RT__W_SEM, s))) {
    w->n = (uint32_t)n;
    rt__wlist_push(&s->head, &s->tail, w);
  } else {
    rc = RT_ENOMEM;
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int rt_sem_try_acquire(rt_sem *s, size_t n) {
  int rc = RT_EFULL;
  pthread_mutex_lock(&s->mu);
  if (s->closed) {
    rc = RT_ECLOSED;
  } else if (!s->head && s->permits >= n) {
    s->permits -= n;
    rc = 0;
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

void rt_sem_release(rt_sem *s, size_t n) {
  pthread_mutex_lock(&s->mu);
  s->permits += n;
  grant_locked(s);
  pthread_mutex_unlock(&s->mu);
}

void rt_sem_close(rt_sem *s) {
  pthread_mutex_lock(&s->mu);
  s->closed = true;
  rt__wlist_wake_all(s->head); /* they see `closed` and unlink themselves */
  pthread_mutex_unlock(&s->mu);
}

size_t rt_sem_available(const rt_sem *s) {
  rt_sem *m = (rt_sem *)s;
  pthread_mutex_lock(&m->mu);
  size_t n = m->permits;
  pthread_mutex_unlock(&m->mu);
  return n;
}

void rt__sem_wait_cancel(struct rt__wait *w) {
  rt_sem *s = w->obj;
  pthread_mutex_lock(&s->mu);
  if (w->st & RT__WS_LINKED) {
    bool was_head = (s->head == w);
    rt__wlist_unlink(&s->head, &s->tail, w);
    if (was_head)
      grant_locked(s);
  } else if (w->st & RT__WS_FIRED) {
    s->permits += w->n;
    grant_locked(s);
  }
  pthread_mutex_unlock(&s->mu);
}
