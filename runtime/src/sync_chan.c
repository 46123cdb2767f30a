/*
 * sync_chan.c - a bounded FIFO channel of void* items.
 *
 * One mutex guards a ring of `cap` slots, a count of free slots, and two
 * waiter lists.  Capacity works like a semaphore of slots (as Tokio's
 * bounded mpsc does): a sender takes a free slot or queues; when the
 * receiver frees a slot it hands it straight to the head sender (FIRED, the
 * slot reserved), so senders are served in order and a try_send cannot jump
 * a waiting sender.  A reserved slot whose sender is dropped passes on.
 * Receivers are woken (FIRED = "look again") when an item arrives or the
 * channel closes.  Items left in a destroyed channel are not freed: the
 * channel does not know what they are.
 */
#include "rt_internal.h"

#include <assert.h>
#include <stdlib.h>

struct rt_chan {
  pthread_mutex_t mu;
  void **buf;
  size_t cap, head, len, free_slots;
  bool closed;
  struct rt__wait *sh, *st;  /* senders waiting for a slot */
  struct rt__wait *rh, *rtl; /* receivers waiting for an item */
};

int rt_chan_create(size_t capacity, rt_chan **out) {
  if (capacity == 0)
    return RT_EINVAL;
  rt_chan *c = calloc(1, sizeof(*c));
  if (!c)
    return RT_ENOMEM;
  c->buf = malloc(capacity * sizeof(void *));
  if (!c->buf) {
    free(c);
    return RT_ENOMEM;
  }
  pthread_mutex_init(&c->mu, NULL);
  c->cap = c->free_slots = capacity;
  *out = c;
  return 0;
}

void rt_chan_destroy(rt_chan *c) {
  if (!c)
    return;
  assert(!c->sh && !c->rh); /* destroyed while a task waits */
  pthread_mutex_destroy(&c->mu);
  free(c->buf);
  free(c);
}

/* Under the lock: puts an item in a slot the caller holds. */
static void enqueue_locked(rt_chan *c, void *item) {
  c->buf[(c->head + c->len) % c->cap] = item;
  c->len++;
  if (c->rh)
    rt__wlist_fire(&c->rh, &c->rtl, c->rh);
}

/* Under the lock: a slot became free; the head sender gets it. */
static void slot_freed_locked(rt_chan *c) {
  if (c->sh)
    rt__wlist_fire(&c->sh, &c->st, c->sh);
  else
    c->free_slots++;
}

int rt_chan_send(rt_cx *cx, rt_chan *c, void *item) {
  struct rt__wait *w = rt__wait_find(cx, RT__W_CHAN_SEND, c);
  int rc = RT_PENDING;
  pthread_mutex_lock(&c->mu);
  if (w) {
    if (w->st & RT__WS_FIRED) {
      enqueue_locked(c, item);
      rc = RT_READY;
    } else if (c->closed) {
      rt__wlist_unlink(&c->sh, &c->st, w);
      rc = RT_ECLOSED;
    }
  } else if (c->closed) {
    rc = RT_ECLOSED;
  } else if (!c->sh && c->free_slots > 0) {
    if (rt__coop(cx)) {
      c->free_slots--;
      enqueue_locked(c, item);
      rc = RT_READY;
    }
  } else if ((w = rt__wait_new(cx, RT__W_CHAN_SEND, c))) {
    rt__wlist_push(&c->sh, &c->st, w);
  } else {
    rc = RT_ENOMEM;
  }
  pthread_mutex_unlock(&c->mu);
  if (rc != RT_PENDING && w)
    rt__wait_release(cx->task, w);
  return rc;
}

int rt_chan_try_send(rt_chan *c, void *item) {
  int rc = RT_EFULL;
  pthread_mutex_lock(&c->mu);
  if (c->closed) {
    rc = RT_ECLOSED;
  } else if (!c->sh && c->free_slots > 0) {
    c->free_slots--;
    enqueue_locked(c, item);
    rc = 0;
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

static void *dequeue_locked(rt_chan *c) {
  void *item = c->buf[c->head];
  c->head = (c->head + 1) % c->cap;
  c->len--;
  slot_freed_locked(c);
  return item;
}

int rt_chan_recv(rt_cx *cx, rt_chan *c, void **item) {
  struct rt__wait *w = rt__wait_find(cx, RT__W_CHAN_RECV, c);
  int rc = RT_PENDING;
  pthread_mutex_lock(&c->mu);
  if (c->len > 0) {
    if (rt__coop(cx)) {
      *item = dequeue_locked(c);
      rc = RT_READY;
    }
  } else if (c->closed) {
    rc = RT_ECLOSED;
  } else if (w) {
    if (!(w->st & RT__WS_LINKED)) { /* woken but nothing left: queue again */
      w->st &= (uint8_t)~RT__WS_FIRED;
      rt__wlist_push(&c->rh, &c->rtl, w);
    }
  } else if ((w = rt__wait_new(cx, RT__W_CHAN_RECV, c))) {
    rt__wlist_push(&c->rh, &c->rtl, w);
  } else {
    rc = RT_ENOMEM;
  }
  if (rc != RT_PENDING && w && (w->st & RT__WS_LINKED))
    rt__wlist_unlink(&c->rh, &c->rtl, w);
  pthread_mutex_unlock(&c->mu);
  if (rc != RT_PENDING && w)
    rt__wait_release(cx->task, w);
  return rc;
}

int rt_chan_try_recv(rt_chan *c, void **item) {
  int rc = RT_EEMPTY;
  pthread_mutex_lock(&c->mu);
  if (c->len > 0) {
    *item = dequeue_locked(c);
    rc = 0;
  } else if (c->closed) {
    rc = RT_ECLOSED;
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

void rt_chan_close(rt_chan *c) {
  pthread_mutex_lock(&c->mu);
  c->closed = true;
  /* Waiting senders are only woken, not FIRED (that would grant them a
   * slot): they stay queued, see `closed` on their next poll and fail.
   * Senders already granted a slot may still complete (Tokio's permits). */
  rt__wlist_wake_all(c->sh);
  rt__wlist_fire_all(&c->rh, &c->rtl); /* they drain what is left, then fail */
  pthread_mutex_unlock(&c->mu);
}

size_t rt_chan_len(const rt_chan *c) {
  rt_chan *m = (rt_chan *)c;
  pthread_mutex_lock(&m->mu);
  size_t n = m->len;
  pthread_mutex_unlock(&m->mu);
  return n;
}

void rt__chan_wait_cancel(struct rt__wait *w) {
  rt_chan *c = w->obj;
  pthread_mutex_lock(&c->mu);
  if (w->kind == RT__W_CHAN_SEND) {
    if (w->st & RT__WS_LINKED)
      rt__wlist_unlink(&c->sh, &c->st, w);
    else if (w->st & RT__WS_FIRED)
      slot_freed_locked(c); /* the reserved slot passes on */
  } else {
    if (w->st & RT__WS_LINKED)
      rt__wlist_unlink(&c->rh, &c->rtl, w);
    else if ((w->st & RT__WS_FIRED) && c->len > 0 && c->rh)
      rt__wlist_fire(&c->rh, &c->rtl, c->rh); /* another may take it */
  }
  pthread_mutex_unlock(&c->mu);
}
