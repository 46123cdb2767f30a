/*
 * wait.c - a task's registrations with waitables, renewed by polling.
 *
 * A registration is an rt__wait node: linked into the waitable's waiter list
 * (under the waitable's lock) and owned by the task.  The first list-type
 * registration uses the node embedded in the task header (w0), so the usual
 * task that waits on one thing costs no allocation; a second one in the same
 * poll, and every timer or transfer (which need more room and live on an
 * event loop), take an rt__xwait from malloc, chained on t->xw.
 *
 * Protocol: a waitable's poll function calls rt__wait_find(kind, obj); if
 * that finds last poll's node it marks it touched.  After a poll that
 * returned RT_PENDING, rt__waits_sweep cancels every node not touched
 * (the task stopped waiting on it: a select's losing branch, an abandoned
 * timer) and clears the marks.  When the task ends, rt__waits_drop_all
 * cancels the rest.  Cancelling is the waitable's business (unlink, give
 * back a permit or a notification it was handed); it runs on the thread
 * that polls the task, which for loop-bound kinds is their own loop's.
 *
 * Loop-bound registrations pin the task to the driver that polled it.
 *
 * Dropped: user-visible future structs embedded in task state with explicit
 * drop calls (Rust's model); in C every forgotten drop is a use-after-free,
 * and the sweep makes forgetting impossible.
 */
#include "rt_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef void (*cancel_fn)(struct rt__wait *w);
static const cancel_fn cancel_of[RT__W_KINDS] = {
    [RT__W_NOTIFY] = rt__notify_wait_cancel,
    [RT__W_SEM] = rt__sem_wait_cancel,
    [RT__W_CHAN_SEND] = rt__chan_wait_cancel,
    [RT__W_CHAN_RECV] = rt__chan_wait_cancel,
    [RT__W_TOKEN] = rt__token_wait_cancel,
    [RT__W_TIMER] = rt__timer_wait_cancel,
    [RT__W_XFER] = rt__xfer_wait_cancel,
};

rt_task *rt__wait_task(struct rt__wait *w) {
  if (w->embedded)
    return RT__CONTAINER_OF(w, rt_task, w0);
  return RT__CONTAINER_OF(w, struct rt__xwait, w)->task;
}

struct rt__xwait *rt__xwait_of(struct rt__wait *w) {
  return w->embedded ? NULL : RT__CONTAINER_OF(w, struct rt__xwait, w);
}

/* Every waitable poll function comes here first: a poll called outside its
 * task (another thread, or after its poll returned) is caller misuse. */
static inline void assert_task_context(const rt_cx *cx, const void *obj) {
  assert(cx && cx->task && obj);
  assert(cx->d == rt__tls_driver && cx == &rt__tls_driver->cx);
  (void)cx;
  (void)obj;
}

struct rt__wait *rt__wait_find(rt_cx *cx, int kind, void *obj) {
  assert_task_context(cx, obj);
  rt_task *t = cx->task;
  if (t->w0.kind == kind && t->w0.obj == obj) {
    t->w0.touched = 1;
    return &t->w0;
  }
  for (struct rt__xwait *x = t->xw; x; x = x->tnext) {
    if (x->w.kind == kind && x->w.obj == obj) {
      x->w.touched = 1;
      return &x->w;
    }
  }
  return NULL;
}

struct rt__wait *rt__wait_new(rt_cx *cx, int kind, void *obj) {
  assert_task_context(cx, obj);
  rt_task *t = cx->task;
  struct rt__wait *w;
  if (kind < RT__W_EXTENDED && t->w0.kind == RT__W_NONE) {
    w = &t->w0;
  } else {
    struct rt__xwait *x = calloc(1, sizeof(*x));
    if (!x)
      return NULL;
    x->task = t;
    x->tnext = t->xw;
    t->xw = x;
    w = &x->w;
  }
  w->prev = w->next = NULL;
  w->obj = obj;
  w->n = 0;
  w->kind = (uint8_t)kind;
  w->st = 0;
  w->touched = 1;
  return w;
}

/* Forgets a node the waitable has already let go of (consumed). */
void rt__wait_release(rt_task *t, struct rt__wait *w) {
  if (w->embedded) {
    w->kind = RT__W_NONE;
    w->obj = NULL;
    return;
  }
  struct rt__xwait **pp = &t->xw;
  while (*pp && &(*pp)->w != w)
    pp = &(*pp)->tnext;
  if (*pp) {
    struct rt__xwait *x = *pp;
    *pp = x->tnext;
    free(x);
  }
}

static void cancel_w0(rt_task *t) {
  cancel_of[t->w0.kind](&t->w0);
  rt__wait_release(t, &t->w0);
}

/* x is already off t->xw. */
static void cancel_x(struct rt__xwait *x) {
  cancel_of[x->w.kind](&x->w);
  free(x);
}

void rt__waits_sweep(rt_task *t) {
  if (t->w0.kind != RT__W_NONE) {
    if (t->w0.touched)
      t->w0.touched = 0;
    else
      cancel_w0(t);
  }
  struct rt__xwait **pp = &t->xw;
  while (*pp) {
    struct rt__xwait *x = *pp;
    if (x->w.touched) {
      x->w.touched = 0;
      pp = &x->tnext;
    } else {
      *pp = x->tnext;
      cancel_x(x);
    }
  }
}

void rt__waits_drop_all(rt_task *t) {
  if (t->w0.kind != RT__W_NONE)
    cancel_w0(t);
  while (t->xw) {
    struct rt__xwait *x = t->xw;
    t->xw = x->tnext;
    cancel_x(x);
  }
}

int rt__pin(rt_cx *cx) {
  rt_task *t = cx->task;
  uint64_t prev =
      atomic_fetch_add_explicit(&t->state, RT__PIN_ONE, memory_order_relaxed);
  if ((prev & RT__PIN_MASK) == RT__PIN_MASK) {
    atomic_fetch_sub_explicit(&t->state, RT__PIN_ONE, memory_order_relaxed);
    return RT_EINVAL; /* RT__PIN_MAX timers and transfers at once */
  }
  if (!(prev & RT__PIN_MASK))
    atomic_store_explicit(&t->home, cx->d, memory_order_relaxed);
  return 0;
}

void rt__unpin(rt_task *t) {
  uint64_t prev =
      atomic_fetch_sub_explicit(&t->state, RT__PIN_ONE, memory_order_relaxed);
  assert(prev & RT__PIN_MASK); /* every unpin matches a pin */
  (void)prev;
}

bool rt__coop(rt_cx *cx) {
  assert(cx && cx->task); /* task context */
  if (cx->budget == 0) {
    cx->self_notified = true;
    return false;
  }
  cx->budget--;
  return true;
}

void rt__wlist_push(struct rt__wait **head, struct rt__wait **tail,
                    struct rt__wait *w) {
  w->next = NULL;
  w->prev = *tail;
  if (*tail)
    (*tail)->next = w;
  else
    *head = w;
  *tail = w;
  w->st |= RT__WS_LINKED;
}

void rt__wlist_unlink(struct rt__wait **head, struct rt__wait **tail,
                      struct rt__wait *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    *head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    *tail = w->prev;
  w->prev = w->next = NULL;
  w->st &= (uint8_t)~RT__WS_LINKED;
}

/* The one way a waitable grants a waiter: unlinked, FIRED, woken, all
 * under the waitable's lock (the task cannot be freed meanwhile: dropping
 * its node needs that lock). */
void rt__wlist_fire(struct rt__wait **head, struct rt__wait **tail,
                    struct rt__wait *w) {
  rt__wlist_unlink(head, tail, w);
  w->st |= RT__WS_FIRED;
  rt__task_wake(rt__wait_task(w));
}

void rt__wlist_fire_all(struct rt__wait **head, struct rt__wait **tail) {
  while (*head)
    rt__wlist_fire(head, tail, *head);
}

void rt__wlist_wake_all(struct rt__wait *head) {
  for (struct rt__wait *w = head; w; w = w->next)
    rt__task_wake(rt__wait_task(w));
}
