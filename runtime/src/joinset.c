/*
 * joinset.c - JoinSet: many tasks, joined in completion order.
 *
 * The set owns its members' handles in an array (members[i], tags[i]; the
 * task keeps its index in set_index, so removal is a swap with the last
 * entry).  Only the set's owner touches the array.  Completion reaches the
 * set through the member's join waker, tagged RT__JW_SET, which points at a
 * small core shared with the completing threads: a mutex, the ready list
 * (completed members linked through task->next, which a completed task no
 * longer needs), the owner's waker, and a reference count (one for the set,
 * one per member whose join waker still points here).  The count lives
 * under the mutex because every completion takes the mutex anyway.
 *
 * Destroying the set closes the core and drops every member's handle:
 * running members are aborted and detached; a member that completed after
 * the core closed is simply not queued.  The core goes when its last
 * reference does, so a member completing concurrently never touches freed
 * memory.
 *
 * Asserted (Debug builds): the core's count never goes below zero; a
 * member's set_index names its own slot; a member queues at most once and
 * only after it completed; join_next runs in task context and the blocking
 * form off the workers.
 */
#include "rt_internal.h"

#include <assert.h>
#include <stdlib.h>

struct rt__set_core {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* for a blocked thread in join_next_blocking */
  rt_task *ready_head, *ready_tail;
  rt_task *waiter; /* task waker (a reference), or NULL */
  bool thread_waiting;
  bool closed;
  size_t refs;
};

struct rt_joinset {
  struct rt__set_core *core;
  rt_task **members;
  uint64_t *tags;
  size_t n, cap;
};

int rt_joinset_create(rt_joinset **out) {
  rt_joinset *s = calloc(1, sizeof(*s));
  struct rt__set_core *c = calloc(1, sizeof(*c));
  if (!s || !c) {
    free(s);
    free(c);
    return RT_ENOMEM;
  }
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  c->refs = 1;
  s->core = c;
  *out = s;
  return 0;
}

static void core_free(struct rt__set_core *c) {
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

void rt__joinset_core_unref(struct rt__set_core *c) {
  pthread_mutex_lock(&c->mu);
  assert(c->refs > 0);
  bool last = --c->refs == 0;
  pthread_mutex_unlock(&c->mu);
  if (last)
    core_free(c);
}

/* A member completed (called by its completer, which owns the waker). */
void rt__joinset_member_done(struct rt__set_core *c, rt_task *t) {
  rt_task *waiter = NULL;
  assert(atomic_load(&t->state) & RT__COMPLETE);
  pthread_mutex_lock(&c->mu);
  assert(c->refs > 0 && c->ready_tail != t);
  if (!c->closed) {
    rt__tlist_push(&c->ready_head, &c->ready_tail, t);
    waiter = c->waiter;
    c->waiter = NULL;
    if (c->thread_waiting)
      pthread_cond_signal(&c->cv);
  }
  bool last = --c->refs == 0;
  pthread_mutex_unlock(&c->mu);
  if (waiter)
    rt__task_wake_val(waiter);
  if (last)
    core_free(c);
}

static int grow(rt_joinset *s) {
  size_t cap = s->cap ? s->cap * 2 : 16;
  rt_task **m = realloc(s->members, cap * sizeof(*m));
  if (!m)
    return RT_ENOMEM;
  s->members = m;
  uint64_t *tg = realloc(s->tags, cap * sizeof(*tg));
  if (!tg)
    return RT_ENOMEM;
  s->tags = tg;
  s->cap = cap;
  return 0;
}

int rt_joinset_spawn(rt_joinset *s, const rt_task_type *type, const void *state,
                     size_t state_size, uint64_t tag) {
  assert(s && s->core);
  if (s->n == s->cap && grow(s) != 0)
    return RT_ENOMEM;
  rt_handle *h;
  int rc = rt_spawn(type, state, state_size, &h);
  if (rc != 0)
    return rc;
  rt_task *t = (rt_task *)h;
  t->set_index = (uint32_t)s->n;
  s->members[s->n] = t;
  s->tags[s->n] = tag;
  s->n++;
  pthread_mutex_lock(&s->core->mu);
  s->core->refs++;
  pthread_mutex_unlock(&s->core->mu);
  if (!rt__join_waker_set(t, (uintptr_t)s->core | RT__JW_SET)) {
    /* completed already: queue it ourselves; the waker ref is ours */
    rt__joinset_member_done(s->core, t);
  }
  return 0;
}

/* Removes a completed member and moves its result into *out. */
static void take(rt_joinset *s, rt_task *t, rt_join *out) {
  uint32_t i = t->set_index;
  assert(i < s->n && s->members[i] == t); /* a member of this set */
  uint64_t tag = s->tags[i];
  s->n--;
  if (i != s->n) {
    s->members[i] = s->members[s->n];
    s->tags[i] = s->tags[s->n];
    s->members[i]->set_index = i;
  }
  rt__join_take(t, out);
  if (out)
    out->tag = tag;
}

static rt_task *pop_ready_locked(struct rt__set_core *c) {
  return rt__tlist_pop(&c->ready_head, &c->ready_tail);
}

int rt_joinset_join_next(rt_cx *cx, rt_joinset *s, rt_join *out) {
  assert(cx && cx->task && s); /* task context */
  struct rt__set_core *c = s->core;
  rt_task *old = NULL;
  pthread_mutex_lock(&c->mu);
  rt_task *t = pop_ready_locked(c);
  if (t && !rt__coop(cx)) {
    /* out of budget: put it back at the front and yield */
    t->next = c->ready_head;
    c->ready_head = t;
    if (!c->ready_tail)
      c->ready_tail = t;
    t = NULL;
  } else if (!t && s->n > 0 && c->waiter != cx->task) {
    old = c->waiter;
    rt__task_ref(cx->task);
    c->waiter = cx->task;
  }
  pthread_mutex_unlock(&c->mu);
  if (old)
    rt__task_unref(old);
  if (t) {
    take(s, t, out);
    return RT_READY;
  }
  return s->n == 0 ? RT_EEMPTY : RT_PENDING;
}

int rt_joinset_join_next_blocking(rt_joinset *s, rt_join *out) {
  assert(s && rt_current_worker() < 0); /* would block the worker */
  struct rt__set_core *c = s->core;
  if (s->n == 0)
    return RT_EEMPTY;
  pthread_mutex_lock(&c->mu);
  rt_task *t;
  while (!(t = pop_ready_locked(c))) {
    c->thread_waiting = true;
    pthread_cond_wait(&c->cv, &c->mu);
  }
  c->thread_waiting = false;
  pthread_mutex_unlock(&c->mu);
  take(s, t, out);
  return RT_READY;
}

void rt_joinset_abort_all(rt_joinset *s) {
  for (size_t i = 0; i < s->n; i++)
    rt__task_abort(s->members[i]);
}

size_t rt_joinset_len(const rt_joinset *s) { return s->n; }

void rt_joinset_destroy(rt_joinset *s) {
  if (!s)
    return;
  struct rt__set_core *c = s->core;
  pthread_mutex_lock(&c->mu);
  c->closed = true;
  rt_task *waiter = c->waiter;
  c->waiter = NULL;
  c->ready_head = c->ready_tail = NULL;
  pthread_mutex_unlock(&c->mu);
  if (waiter)
    rt__task_unref(waiter);
  for (size_t i = 0; i < s->n; i++) {
    rt__task_abort(s->members[i]);
    rt__handle_drop(s->members[i]);
  }
  free(s->members);
  free(s->tags);
  free(s);
  rt__joinset_core_unref(c);
}
