/*
 * task.c - the task state machine: allocation, poll, wake, completion.
 *
 * One atomic word holds the lifecycle flags and the reference count, after
 * Tokio's state.rs.  References: one "runtime" reference from spawn until
 * the task completes (it also covers the task's time in a run queue, since a
 * queued task is never complete), one for the JoinHandle while it exists,
 * and one per outstanding rt_waker / task-typed join waker.
 *
 * Invariants
 *   - NOTIFIED set and RUNNING clear <=> the task sits in exactly one queue
 *     (or is about to be pushed by whoever set NOTIFIED).
 *   - Only the thread that set RUNNING polls, drops or completes the task.
 *   - A waker that finds RUNNING only sets NOTIFIED; the polling thread
 *     re-queues the task at the back when the poll returns RT_PENDING.
 *   - After COMPLETE, the output belongs to the JoinHandle if JOIN_INTEREST
 *     was still set at that instant, else it is dropped by the completer;
 *     the join waker (if JOIN_WAKER) belongs to the completer, which wakes
 *     and consumes it.
 *   - Registrations are dropped before the drop function runs, and both
 *     before COMPLETE, so nothing can wake a freed task through a waitable.
 *
 * Cancellation is observed at the next suspension point: when the task is
 * idle (abort queues it and the runner cancels instead of polling) or when
 * its current poll returns RT_PENDING.  A poll that returns RT_READY wins.
 *
 * Each transition asserts its precondition (Debug builds; NDEBUG compiles
 * the checks out): to RUNNING only from NOTIFIED and not RUNNING or
 * COMPLETE; to idle and to COMPLETE only from RUNNING; a reference count
 * never goes below zero or is taken on a freed task.
 *
 * Panics land in the driver loop (sigsetjmp there, not per poll): the pad
 * names the task whose user code was running and whether it was the poll or
 * the drop; rt__task_finish_panic completes it.
 */
#include "rt_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rt_task *rt__task_alloc(const rt_task_type *type, const void *state,
                        size_t size, bool handle) {
  rt_task *t = malloc(sizeof(*t) + size);
  if (!t)
    return NULL;
  uint64_t refs = handle ? 2 : 1;
  uint64_t flags = RT__NOTIFIED | (handle ? RT__JOIN_INTEREST : 0);
  atomic_init(&t->state, refs * RT__REF_ONE | flags);
  t->next = NULL;
  t->type = type;
  atomic_init(&t->home, (struct rt__driver *)NULL);
  t->out.value = NULL;
  atomic_init(&t->join_waker, (uintptr_t)0);
  memset(&t->w0, 0, sizeof(t->w0));
  t->w0.embedded = 1;
  t->xw = NULL;
  t->set_index = 0;
  t->reg_slot = 0;
  if (size)
    memcpy(t->data, state, size);
  return t;
}

void rt__task_ref(rt_task *t) {
  uint64_t prev =
      atomic_fetch_add_explicit(&t->state, RT__REF_ONE, memory_order_relaxed);
  assert((prev & ~RT__FLAGS) >= RT__REF_ONE); /* a live reference exists */
  (void)prev;
}

void rt__task_unref(rt_task *t) {
  uint64_t prev =
      atomic_fetch_sub_explicit(&t->state, RT__REF_ONE, memory_order_acq_rel);
  assert((prev & ~RT__FLAGS) >= RT__REF_ONE); /* not released twice */
  if ((prev & ~RT__FLAGS) == RT__REF_ONE)
    free(t);
}

/* Sets NOTIFIED; returns true if the caller must now queue the task. */
static bool transition_to_notified(rt_task *t) {
  uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
  for (;;) {
    if (s & (RT__COMPLETE | RT__NOTIFIED))
      return false;
    uint64_t ns = s | RT__NOTIFIED;
    if (atomic_compare_exchange_weak_explicit(
            &t->state, &s, ns, memory_order_acq_rel, memory_order_acquire))
      return !(s & RT__RUNNING);
  }
}

void rt__task_wake(rt_task *t) {
  struct rt__driver *d = rt__tls_driver;
  /* A task waking itself during its own poll: no atomics, the runner
   * re-queues it at the back. */
  if (d && d->cx.task == t) {
    d->cx.self_notified = true;
    return;
  }
  if (transition_to_notified(t))
    rt__schedule(t, false);
}

void rt__task_wake_val(rt_task *t) {
  rt__task_wake(t);
  rt__task_unref(t);
}

/* ---- completion --------------------------------------------------------- */

void rt__output_drop(rt_task *t) {
  int result = rt__task_result(t);
  if (result == RT_JOIN_PANICKED) {
    free(t->out.panic);
  } else if (result == RT_JOIN_OK && t->type->drop_output && t->out.value) {
    t->type->drop_output(t->out.value);
  }
  t->out.value = NULL;
}

void rt__task_complete(rt_task *t, int status, void *payload) {
  rt__registry_remove(rt__task_runtime(t), t);
  t->out.value = payload;
  uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
  uint64_t ns;
  assert(s & RT__RUNNING);     /* only the polling thread completes */
  assert(!(s & RT__COMPLETE)); /* and only once */
  assert(status >= RT_JOIN_OK && status <= RT_JOIN_CANCELLED);
  do {
    ns = (s & ~(uint64_t)RT__RUNNING) | RT__COMPLETE |
         ((uint64_t)status << RT__RESULT_SHIFT);
  } while (!atomic_compare_exchange_weak_explicit(
      &t->state, &s, ns, memory_order_acq_rel, memory_order_relaxed));
  if (!(s & RT__JOIN_INTEREST))
    rt__output_drop(t);
  else if (s & RT__JOIN_WAKER)
    rt__join_waker_wake(
        t, atomic_load_explicit(&t->join_waker, memory_order_relaxed));
  rt__task_unref(t); /* the runtime's reference */
}

/* Runs the drop function with the panic pad armed. */
static void call_drop(struct rt__pad *pad, rt_task *t) {
  if (!t->type->drop)
    return;
  if (pad) {
    pad->task = t;
    pad->phase = RT__PHASE_DROP;
  }
  t->type->drop(t->data);
  if (pad)
    pad->task = NULL;
}

static void cancel_running(struct rt__driver *d, rt_task *t) {
  rt__waits_drop_all(t);
  call_drop(&d->pad, t);
  rt__task_complete(t, RT_JOIN_CANCELLED, NULL);
}

void rt__task_finish_panic(struct rt__driver *d) {
  struct rt__pad *pad = &d->pad;
  rt_task *t = pad->task;
  char *msg = pad->msg;
  assert(t); /* landed from rt_panic inside this task's code */
  pad->task = NULL;
  pad->msg = NULL;
  d->cx.task = NULL;
  if (pad->phase == RT__PHASE_POLL) {
    rt__waits_drop_all(t);
    pad->first = msg;
    call_drop(pad, t); /* may land here again, in phase DROP */
  } else if (pad->first) {
    free(msg); /* a panic in the drop after a panic: keep the first */
  } else {
    pad->first = msg;
  }
  msg = pad->first;
  pad->first = NULL;
  rt__task_complete(t, RT_JOIN_PANICKED, msg);
}

/* ---- polling ---------------------------------------------------------------
 */

/* NOTIFIED -> RUNNING.  Returns the previous state. */
uint64_t rt__task_transition_to_running(rt_task *t) {
  uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
  uint64_t ns;
  do {
    /* queued exactly once, by whoever set NOTIFIED; never after COMPLETE */
    assert(s & RT__NOTIFIED);
    assert(!(s & (RT__RUNNING | RT__COMPLETE)));
    ns = (s & ~(uint64_t)RT__NOTIFIED) | RT__RUNNING;
  } while (!atomic_compare_exchange_weak_explicit(
      &t->state, &s, ns, memory_order_acq_rel, memory_order_acquire));
  return s;
}

/* RUNNING -> idle after a PENDING poll.  Returns: 0 idle, 1 re-queue,
 * 2 cancel now (still RUNNING). */
static int transition_to_idle(rt_task *t, bool self_notified) {
  uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
  uint64_t ns;
  do {
    assert((s & RT__RUNNING) && !(s & RT__COMPLETE));
    if (s & RT__CANCELLED)
      return 2;
    ns = s & ~(uint64_t)RT__RUNNING;
    if (self_notified)
      ns |= RT__NOTIFIED;
  } while (!atomic_compare_exchange_weak_explicit(
      &t->state, &s, ns, memory_order_acq_rel, memory_order_acquire));
  return (ns & RT__NOTIFIED) ? 1 : 0;
}

void rt__task_run(struct rt__driver *d, rt_task *t) {
  uint64_t s = rt__task_transition_to_running(t);
  if (s & RT__CANCELLED) {
    cancel_running(d, t);
    return;
  }
  rt_cx *cx = &d->cx;
  cx->task = t;
  cx->budget = d->rt->cfg.budget;
  cx->self_notified = false;
  cx->migrate_to = NULL;
  d->pad.task = t;
  d->pad.phase = RT__PHASE_POLL;
  void *out = NULL;
  int r = t->type->poll(cx, t->data, &out);
  d->pad.task = NULL;
  cx->task = NULL;
  if (r == RT_READY) {
    rt__waits_drop_all(t);
    call_drop(&d->pad, t);
    rt__task_complete(t, RT_JOIN_OK, out);
    return;
  }
  rt__waits_sweep(t);
  struct rt__driver *to = cx->migrate_to;
  cx->migrate_to = NULL;
  bool again = cx->self_notified || to;
  /* a move is a self-wake whose queue is the chosen driver's inbox.  If
   * the poll went on to pin the task here (a timer armed after the move
   * was decided), it stays, and the moved transfer starts here when it
   * is polled again */
  if (to && rt__task_pinned(t))
    to = NULL;
  switch (transition_to_idle(t, again)) {
  case 1:
    if (to)
      rt__inbox_push(to, t);
    else
      rt__schedule(t, true);
    break;
  case 2: cancel_running(d, t); break;
  default: break;
  }
}

/* ---- public wakers
 * -------------------------------------------------------------- */

rt_waker *rt_waker_current(rt_cx *cx) {
  assert(cx && cx->task); /* task context */
  rt__task_ref(cx->task);
  return (rt_waker *)cx->task;
}

void rt_waker_wake(rt_waker *w) {
  assert(w);
  rt__task_wake_val((rt_task *)w);
}

void rt_waker_drop(rt_waker *w) {
  assert(w);
  rt__task_unref((rt_task *)w);
}
