/*
 * timer.c - sleeping, deadlines and yielding.
 *
 * A sleeping task holds one extended registration keyed by its deadline,
 * with an ev_timer on the loop of the driver that polled it (the task is
 * pinned there until the registration goes).  libev keeps timers in a
 * 4-heap, so arming and stopping cost O(log n) in the loop's timers.
 *
 * libev measures a timer from its cached loop time, which can lag behind
 * the clock, so the delay is computed after ev_now_update and a timer that
 * fires early is simply re-armed: the poll compares rt_now() with the
 * deadline itself and never trusts the wake-up alone.  Delays are divided
 * in floating point (curl's evhiperfifo.c loses sub-second timeouts to an
 * integer division).
 */
#include "rt_internal.h"

#include <time.h>

uint64_t rt_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* pthread's timed waits take a CLOCK_REALTIME instant; the runtime counts
 * deadlines on rt_now()'s monotonic clock, so callers pass what is left. */
void rt__realtime_after(struct timespec *ts, uint64_t delay_ns) {
  clock_gettime(CLOCK_REALTIME, ts);
  uint64_t ns = (uint64_t)ts->tv_nsec + delay_ns % 1000000000u;
  ts->tv_sec += (time_t)(delay_ns / 1000000000u + ns / 1000000000u);
  ts->tv_nsec = (long)(ns % 1000000000u);
}

static void timer_cb(struct ev_loop *loop, ev_timer *tm, int revents) {
  (void)loop;
  (void)revents;
  struct rt__xwait *x = tm->data;
  x->w.st |= RT__WS_FIRED;
  x->d->n_watchers--;
  rt__task_wake(x->task);
}

static void timer_arm(struct rt__xwait *x, uint64_t deadline) {
  struct rt__driver *d = x->d;
  ev_now_update(d->loop);
  uint64_t now = rt_now();
  double delay = deadline > now ? (double)(deadline - now) / 1e9 : 0.0;
  ev_timer_set(&x->u.timer, delay, 0.);
  ev_timer_start(d->loop, &x->u.timer);
  d->n_watchers++;
  x->w.st &= (uint8_t)~RT__WS_FIRED;
}

void rt__timer_wait_cancel(struct rt__wait *w) {
  struct rt__xwait *x = rt__xwait_of(w);
  if (ev_is_active(&x->u.timer)) {
    ev_timer_stop(x->d->loop, &x->u.timer);
    x->d->n_watchers--;
  }
  rt__unpin(x->task);
}

int rt_sleep_until(rt_cx *cx, uint64_t deadline_ns) {
  void *key = (void *)(uintptr_t)deadline_ns;
  struct rt__wait *w = rt__wait_find(cx, RT__W_TIMER, key);
  if (rt_now() >= deadline_ns) {
    if (w) {
      rt__timer_wait_cancel(w);
      rt__wait_release(cx->task, w);
    }
    return RT_READY;
  }
  if (w) {
    if (w->st & RT__WS_FIRED) /* fired early: re-arm */
      timer_arm(rt__xwait_of(w), deadline_ns);
    return RT_PENDING;
  }
  w = rt__wait_new(cx, RT__W_TIMER, key);
  if (!w)
    return RT_ENOMEM;
  if (rt__pin(cx) != 0) {
    rt__wait_release(cx->task, w);
    return RT_EINVAL;
  }
  struct rt__xwait *x = rt__xwait_of(w);
  x->d = cx->d;
  ev_init(&x->u.timer, timer_cb);
  x->u.timer.data = x;
  timer_arm(x, deadline_ns);
  return RT_PENDING;
}

int rt_timeout(rt_cx *cx, uint64_t deadline_ns, int (*op)(rt_cx *cx, void *arg),
               void *arg) {
  int rc = op(cx, arg);
  if (rc != RT_PENDING)
    return rc;
  rc = rt_sleep_until(cx, deadline_ns);
  if (rc == RT_READY)
    return RT_ETIMEDOUT;
  return rc;
}

int rt_yield_now(rt_cx *cx, bool *yielded) {
  if (*yielded) {
    *yielded = false;
    return RT_READY;
  }
  *yielded = true;
  cx->self_notified = true;
  return RT_PENDING;
}
