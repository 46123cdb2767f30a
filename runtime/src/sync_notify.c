/*
 * sync_notify.c - Tokio's Notify, and the cancellation token.
 *
 * Notify: a mutex, one stored permit, and a FIFO of waiters.  notify_one
 * fires the head waiter (n = 1) or stores the permit; notify_waiters fires
 * every current waiter (n = 2) and stores nothing.  A waiter fired by
 * notify_one that is dropped before it consumes the notification hands it
 * on (to the next waiter, else back to the permit), as Tokio's Notified
 * does on drop; one fired by notify_waiters just goes.
 *
 * Token: a tree of tokens shares its root's mutex, so cancelling a subtree
 * is one locked depth-first walk that marks every node and fires its
 * waiters.  `cancelled` is atomic so rt_token_is_cancelled takes no lock.
 */
#include "rt_internal.h"

#include <assert.h>
#include <stdlib.h>

struct rt_notify {
  pthread_mutex_t mu;
  bool permit;
  struct rt__wait *head, *tail;
};

int rt_notify_create(rt_notify **out) {
  rt_notify *n = calloc(1, sizeof(*n));
  if (!n)
    return RT_ENOMEM;
  pthread_mutex_init(&n->mu, NULL);
  *out = n;
  return 0;
}

void rt_notify_destroy(rt_notify *n) {
  if (!n)
    return;
  assert(!n->head); /* destroyed while a task waits */
  pthread_mutex_destroy(&n->mu);
  free(n);
}

static void fire_locked(rt_notify *n, struct rt__wait *w, uint32_t how) {
  w->n = how;
  rt__wlist_fire(&n->head, &n->tail, w);
}

int rt_notify_wait(rt_cx *cx, rt_notify *n) {
  struct rt__wait *w = rt__wait_find(cx, RT__W_NOTIFY, n);
  int rc = RT_PENDING;
  pthread_mutex_lock(&n->mu);
  if (w) {
    if (w->st & RT__WS_FIRED)
      rc = RT_READY;
  } else if (n->permit) {
    if (rt__coop(cx)) {
      n->permit = false;
      rc = RT_READY;
    }
  } else if ((w = rt__wait_new(cx, RT__W_NOTIFY, n))) {
    rt__wlist_push(&n->head, &n->tail, w);
  } else {
    rc = RT_ENOMEM;
  }
  pthread_mutex_unlock(&n->mu);
  if (rc == RT_READY && w)
    rt__wait_release(cx->task, w);
  return rc;
}

void rt_notify_one(rt_notify *n) {
  pthread_mutex_lock(&n->mu);
  if (n->head)
    fire_locked(n, n->head, 1);
  else
    n->permit = true;
  pthread_mutex_unlock(&n->mu);
}

void rt_notify_waiters(rt_notify *n) {
  pthread_mutex_lock(&n->mu);
  while (n->head)
    fire_locked(n, n->head, 2);
  pthread_mutex_unlock(&n->mu);
}

void rt__notify_wait_cancel(struct rt__wait *w) {
  rt_notify *n = w->obj;
  pthread_mutex_lock(&n->mu);
  if (w->st & RT__WS_LINKED) {
    rt__wlist_unlink(&n->head, &n->tail, w);
  } else if ((w->st & RT__WS_FIRED) && w->n == 1) {
    if (n->head)
      fire_locked(n, n->head, 1);
    else
      n->permit = true;
  }
  pthread_mutex_unlock(&n->mu);
}

/* ---- cancellation token ------------------------------------------------ */

struct rt_token {
  pthread_mutex_t mu; /* used on the root only */
  rt_token *root, *parent, *first_child, *next_sib, *prev_sib;
  _Atomic bool cancelled;
  struct rt__wait *head, *tail;
};

int rt_token_create(rt_token *parent, rt_token **out) {
  rt_token *t = calloc(1, sizeof(*t));
  if (!t)
    return RT_ENOMEM;
  if (!parent) {
    pthread_mutex_init(&t->mu, NULL);
    t->root = t;
    *out = t;
    return 0;
  }
  t->root = parent->root;
  t->parent = parent;
  pthread_mutex_lock(&t->root->mu);
  t->next_sib = parent->first_child;
  if (parent->first_child)
    parent->first_child->prev_sib = t;
  parent->first_child = t;
  if (atomic_load(&parent->cancelled))
    atomic_store(&t->cancelled, true);
  pthread_mutex_unlock(&t->root->mu);
  *out = t;
  return 0;
}

void rt_token_destroy(rt_token *t) {
  if (!t)
    return;
  assert(!t->first_child && !t->head); /* children first; nobody waits */
  if (t->root == t) {
    pthread_mutex_destroy(&t->mu);
    free(t);
    return;
  }
  pthread_mutex_lock(&t->root->mu);
  if (t->prev_sib)
    t->prev_sib->next_sib = t->next_sib;
  else
    t->parent->first_child = t->next_sib;
  if (t->next_sib)
    t->next_sib->prev_sib = t->prev_sib;
  pthread_mutex_unlock(&t->root->mu);
  free(t);
}

static void token_fire_locked(rt_token *t) {
  atomic_store(&t->cancelled, true);
  rt__wlist_fire_all(&t->head, &t->tail);
}

void rt_token_cancel(rt_token *t) {
  pthread_mutex_lock(&t->root->mu);
  /* iterative pre-order walk of t's subtree */
  rt_token *x = t;
  while (x) {
    if (!atomic_load_explicit(&x->cancelled, memory_order_relaxed) || x->head)
      token_fire_locked(x);
    if (x->first_child) {
      x = x->first_child;
      continue;
    }
    while (x != t && !x->next_sib)
      x = x->parent;
    x = (x == t) ? NULL : x->next_sib;
  }
  pthread_mutex_unlock(&t->root->mu);
}

bool rt_token_is_cancelled(const rt_token *t) {
  return atomic_load_explicit(&t->cancelled, memory_order_acquire);
}

int rt_token_wait(rt_cx *cx, rt_token *t) {
  struct rt__wait *w = rt__wait_find(cx, RT__W_TOKEN, t);
  int rc = RT_PENDING;
  pthread_mutex_lock(&t->root->mu);
  if (atomic_load_explicit(&t->cancelled, memory_order_relaxed)) {
    if (w && (w->st & RT__WS_LINKED))
      rt__wlist_unlink(&t->head, &t->tail, w);
    rc = RT_READY;
  } else if (!w) {
    if ((w = rt__wait_new(cx, RT__W_TOKEN, t)))
      rt__wlist_push(&t->head, &t->tail, w);
    else
      rc = RT_ENOMEM;
  }
  pthread_mutex_unlock(&t->root->mu);
  if (rc == RT_READY && w)
    rt__wait_release(cx->task, w);
  return rc;
}

void rt__token_wait_cancel(struct rt__wait *w) {
  rt_token *t = w->obj;
  pthread_mutex_lock(&t->root->mu);
  if (w->st & RT__WS_LINKED)
    rt__wlist_unlink(&t->head, &t->tail, w);
  pthread_mutex_unlock(&t->root->mu);
}
