/*
 * join.c - JoinHandle: join from a task or a thread, abort, detach.
 *
 * An rt_handle is the task itself (one reference plus JOIN_INTEREST).  The
 * joiner leaves a waker in the task's join_waker word, tagged with what it
 * is: a task (holding a reference), a blocked thread (a mutex+condvar on the
 * joiner's stack, valid until woken), or a JoinSet core (see joinset.c).
 *
 * Who owns join_waker (Tokio's rules, runtime/task/mod.rs):
 *   - while COMPLETE is clear and JOIN_WAKER is clear: the joiner may write;
 *   - after the joiner sets JOIN_WAKER (CAS that fails if COMPLETE): the
 *     completer may read it once it sets COMPLETE, and then consumes it;
 *   - to replace it, the joiner first clears JOIN_WAKER (CAS that fails if
 *     COMPLETE) and drops the old one.
 * Dropping a handle clears JOIN_INTEREST and, if the task is not complete,
 * JOIN_WAKER too; it then owns and drops the waker.  If the task already
 * completed, the handle owns the output and drops it.
 *
 * Asserted (Debug builds): a handle is used only while JOIN_INTEREST is set
 * (joined or detached once), results are taken only after COMPLETE, a task
 * join waits from task context, a blocking join never runs on a worker.
 */
#include "rt_internal.h"

#include <assert.h>
#include <stdlib.h>

struct thread_waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;
};

static void thread_waiter_wake(struct thread_waiter *tw) {
  pthread_mutex_lock(&tw->mu);
  tw->done = true;
  pthread_cond_signal(&tw->cv);
  pthread_mutex_unlock(&tw->mu);
}

void rt__join_waker_wake(rt_task *t, uintptr_t jw) {
  void *p = (void *)(jw & ~(uintptr_t)RT__JW_MASK);
  switch (jw & RT__JW_MASK) {
  case RT__JW_TASK: rt__task_wake_val(p); break;
  case RT__JW_THREAD: thread_waiter_wake(p); break;
  default: rt__joinset_member_done(p, t); break;
  }
}

void rt__join_waker_drop(uintptr_t jw) {
  void *p = (void *)(jw & ~(uintptr_t)RT__JW_MASK);
  switch (jw & RT__JW_MASK) {
  case RT__JW_TASK: rt__task_unref(p); break;
  case RT__JW_THREAD: break;
  default: rt__joinset_core_unref(p); break;
  }
}

/* Installs jw as the join waker.  Returns false if the task completed first
 * (jw then still belongs to the caller). */
bool rt__join_waker_set(rt_task *t, uintptr_t jw) {
  uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
  if (s & RT__COMPLETE)
    return false;
  if (s & RT__JOIN_WAKER) {
    if (atomic_load_explicit(&t->join_waker, memory_order_relaxed) == jw)
      return true;
    /* take the old waker back */
    do {
      if (s & RT__COMPLETE)
        return false;
    } while (!atomic_compare_exchange_weak_explicit(
        &t->state, &s, s & ~(uint64_t)RT__JOIN_WAKER, memory_order_acq_rel,
        memory_order_acquire));
    rt__join_waker_drop(
        atomic_load_explicit(&t->join_waker, memory_order_relaxed));
  }
  atomic_store_explicit(&t->join_waker, jw, memory_order_relaxed);
  s = atomic_load_explicit(&t->state, memory_order_acquire);
  do {
    if (s & RT__COMPLETE) {
      atomic_store_explicit(&t->join_waker, 0, memory_order_relaxed);
      return false;
    }
  } while (!atomic_compare_exchange_weak_explicit(
      &t->state, &s, s | RT__JOIN_WAKER, memory_order_acq_rel,
      memory_order_acquire));
  return true;
}

/* Moves a completed task's result into *out and drops the handle's
 * reference.  The output now belongs to the caller. */
void rt__join_take(rt_task *t, rt_join *out) {
  assert(atomic_load(&t->state) & RT__COMPLETE);
  assert(atomic_load(&t->state) & RT__JOIN_INTEREST);
  int result = rt__task_result(t);
  rt_join j = {.status = result, .value = NULL, .panic = NULL, .tag = 0};
  if (result == RT_JOIN_OK)
    j.value = t->out.value;
  else if (result == RT_JOIN_PANICKED)
    j.panic = t->out.panic;
  t->out.value = NULL;
  if (out)
    *out = j;
  else
    free(j.panic);
  rt__task_unref(t);
}

static inline void assert_handle(const rt_task *t) {
  assert(t && (atomic_load(&t->state) & RT__JOIN_INTEREST)); /* not consumed */
  (void)t;
}

int rt_handle_join(rt_cx *cx, rt_handle *h, rt_join *out) {
  rt_task *t = (rt_task *)h;
  assert(cx && cx->task && cx->task != t); /* task context, not itself */
  assert_handle(t);
  if (atomic_load_explicit(&t->state, memory_order_acquire) & RT__COMPLETE) {
    if (!rt__coop(cx))
      return RT_PENDING;
  } else {
    uintptr_t jw = (uintptr_t)cx->task | RT__JW_TASK;
    uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    bool same =
        (s & RT__JOIN_WAKER) &&
        atomic_load_explicit(&t->join_waker, memory_order_relaxed) == jw;
    if (same)
      return RT_PENDING;
    rt__task_ref(cx->task);
    if (rt__join_waker_set(t, jw))
      return RT_PENDING;
    rt__task_unref(cx->task);
  }
  rt__join_take(t, out);
  return RT_READY;
}

int rt_handle_join_blocking(rt_handle *h, rt_join *out) {
  rt_task *t = (rt_task *)h;
  assert(rt_current_worker() < 0); /* would block the worker */
  assert_handle(t);
  if (!(atomic_load_explicit(&t->state, memory_order_acquire) & RT__COMPLETE)) {
    struct thread_waiter tw = {.done = false};
    pthread_mutex_init(&tw.mu, NULL);
    pthread_cond_init(&tw.cv, NULL);
    if (rt__join_waker_set(t, (uintptr_t)&tw | RT__JW_THREAD)) {
      pthread_mutex_lock(&tw.mu);
      while (!tw.done)
        pthread_cond_wait(&tw.cv, &tw.mu);
      pthread_mutex_unlock(&tw.mu);
    }
    pthread_cond_destroy(&tw.cv);
    pthread_mutex_destroy(&tw.mu);
  }
  rt__join_take(t, out);
  return RT_READY;
}

bool rt_handle_is_finished(const rt_handle *h) {
  rt_task *t = (rt_task *)h;
  assert_handle(t);
  return atomic_load_explicit(&t->state, memory_order_acquire) & RT__COMPLETE;
}

void rt__task_abort(rt_task *t) {
  uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
  do {
    if (s & (RT__COMPLETE | RT__CANCELLED))
      return;
  } while (!atomic_compare_exchange_weak_explicit(
      &t->state, &s, s | RT__CANCELLED | RT__NOTIFIED, memory_order_acq_rel,
      memory_order_acquire));
  /* idle: queue it, and the runner cancels instead of polling; running or
   * already queued: whoever holds it sees CANCELLED */
  if (!(s & (RT__RUNNING | RT__NOTIFIED)))
    rt__schedule(t, false);
}

void rt_handle_abort(rt_handle *h) {
  assert_handle((rt_task *)h);
  rt__task_abort((rt_task *)h);
}

void rt__handle_drop(rt_task *t) {
  uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
  uint64_t ns;
  assert(s & RT__JOIN_INTEREST); /* dropped once */
  do {
    ns = s & ~(uint64_t)RT__JOIN_INTEREST;
    if (!(s & RT__COMPLETE))
      ns &= ~(uint64_t)RT__JOIN_WAKER;
  } while (!atomic_compare_exchange_weak_explicit(
      &t->state, &s, ns, memory_order_acq_rel, memory_order_acquire));
  if (s & RT__COMPLETE)
    rt__output_drop(t);
  else if (s & RT__JOIN_WAKER)
    rt__join_waker_drop(
        atomic_load_explicit(&t->join_waker, memory_order_relaxed));
  rt__task_unref(t);
}

void rt_handle_detach(rt_handle *h) { rt__handle_drop((rt_task *)h); }

void rt_join_clear(rt_join *j) {
  if (!j)
    return;
  free(j->panic);
  j->panic = NULL;
  j->value = NULL;
}
