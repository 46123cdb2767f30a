/*
 * curl_driver.c - one libcurl multi handle per driver, on its ev loop.
 *
 * Wiring (libcurl's multi_socket API, as curl's evhiperfifo.c shows it,
 * minus that example's pitfalls):
 *   - CURLMOPT_SOCKETFUNCTION starts, changes or stops one ev_io per socket
 *     (the record hangs off the socket with curl_multi_assign);
 *   - CURLMOPT_TIMERFUNCTION (re)arms the driver's single ev_timer, with the
 *     delay in floating-point seconds (an integer division would turn every
 *     sub-second timeout into "now"), and never calls libcurl itself;
 *   - ev_io and ev_timer callbacks call curl_multi_socket_action with
 *     CURL_CSELECT_* bits (not CURL_POLL_*), then drain curl_multi_info_read:
 *     each CURLMSG_DONE removes its easy handle, stores the result in its
 *     rt_xfer and wakes the task.
 * A transfer pins its task to the driver whose multi holds it, so every
 * libcurl call on a multi and its easy handles happens on that driver's
 * thread (libcurl has no locking of its own).  The multi is created on the
 * driver's thread on first use and cleaned up at runtime destroy, after the
 * threads are joined; the socket callback can fire during that cleanup,
 * so the records and the loop stay valid until it returns.
 *
 * Sharing: one CURLSH per runtime shares the DNS and TLS-session caches
 * across workers, with a mutex per data kind.  Connection caches are not
 * shared: libcurl documents that as unsupported across threads, so each
 * multi keeps its own (HTTP/2 multiplexing works within one multi).
 *
 * n_watchers counts this driver's in-flight transfers, sockets and armed
 * timer, so a busy worker still runs its loop every event_interval polls.
 */
#include "rt_internal.h"

#include <curl/curl.h>
#include <stdlib.h>

enum { XF_IDLE = 0, XF_RUNNING, XF_DONE };

struct rt_xfer {
  CURL *easy;
  struct rt__xwait *reg; /* the waiting registration, if any */
  struct rt__driver *d;  /* whose multi holds it while RUNNING */
  int state;
  bool moved; /* migrated to d, counted in d->xfers, not yet started */
  CURLcode result;
};

struct rt__curl {
  CURLM *multi;
  struct rt__driver *d;
  ev_timer timer;
  bool timer_armed;
};

struct sock {
  ev_io io;
  struct rt__curl *c;
  curl_socket_t fd;
};

/* ---- the runtime-wide share handle ------------------------------------- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access a,
                       void *userp) {
  (void)h;
  (void)a;
  rt_runtime *rt = userp;
  pthread_mutex_lock(&rt->share_mu[data % RT__SHARE_LOCKS]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userp) {
  (void)h;
  rt_runtime *rt = userp;
  pthread_mutex_unlock(&rt->share_mu[data % RT__SHARE_LOCKS]);
}

int rt__curl_share_init(rt_runtime *rt) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return RT_ECURL;
  for (unsigned i = 0; i < RT__SHARE_LOCKS; i++)
    pthread_mutex_init(&rt->share_mu[i], NULL);
  CURLSH *sh = curl_share_init();
  if (!sh) {
    curl_global_cleanup();
    return RT_ENOMEM;
  }
  curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt(sh, CURLSHOPT_USERDATA, rt);
  curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  rt->share = sh;
  return 0;
}

void rt__curl_share_fini(rt_runtime *rt) {
  if (!rt->share)
    return;
  curl_share_cleanup(rt->share);
  rt->share = NULL;
  for (unsigned i = 0; i < RT__SHARE_LOCKS; i++)
    pthread_mutex_destroy(&rt->share_mu[i]);
  curl_global_cleanup();
}

/* ---- multi wiring ----------------------------------------------------------
 */

/* Takes a RUNNING transfer's easy handle out of its driver's multi (on that
 * driver's thread) and out of the driver's counts. */
static void leave_multi(rt_xfer *x) {
  curl_multi_remove_handle(((struct rt__curl *)x->d->curl)->multi, x->easy);
  x->d->n_watchers--;
  atomic_fetch_sub_explicit(&x->d->xfers, 1, memory_order_relaxed);
}

static void check_done(struct rt__curl *c) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(c->multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    CURL *e = msg->easy_handle;
    CURLcode res = msg->data.result;
    rt_xfer *x = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
    leave_multi(x); /* msg is invalid from here */
    x->state = XF_DONE;
    x->result = res;
    if (x->reg) {
      x->reg->w.st |= RT__WS_FIRED;
      rt__task_wake(x->reg->task);
    }
  }
}

static void io_cb(struct ev_loop *loop, ev_io *io, int revents) {
  (void)loop;
  struct sock *sk = io->data;
  struct rt__curl *c = sk->c;
  int action = 0;
  if (revents & EV_READ)
    action |= CURL_CSELECT_IN;
  if (revents & EV_WRITE)
    action |= CURL_CSELECT_OUT;
  if (revents & EV_ERROR)
    action |= CURL_CSELECT_ERR;
  int running;
  /* may free sk through sock_cb(CURL_POLL_REMOVE): not used after */
  curl_multi_socket_action(c->multi, sk->fd, action, &running);
  check_done(c);
}

static void timer_fired(struct ev_loop *loop, ev_timer *tm, int revents) {
  (void)loop;
  (void)revents;
  struct rt__curl *c = tm->data;
  c->timer_armed = false;
  c->d->n_watchers--;
  int running;
  curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(c);
}

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp,
                   void *socketp) {
  (void)e;
  struct rt__curl *c = userp;
  struct sock *sk = socketp;
  struct ev_loop *loop = c->d->loop;
  if (what == CURL_POLL_REMOVE) {
    if (sk) {
      if (ev_is_active(&sk->io))
        ev_io_stop(loop, &sk->io);
      c->d->n_watchers--;
      free(sk);
    }
    return 0;
  }
  int events = ((what & CURL_POLL_IN) ? EV_READ : 0) |
               ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
  if (!sk) {
    sk = malloc(sizeof(*sk));
    if (!sk)
      return -1;
    sk->c = c;
    sk->fd = fd;
    ev_init(&sk->io, io_cb);
    sk->io.data = sk;
    c->d->n_watchers++;
    curl_multi_assign(c->multi, fd, sk);
  } else if (ev_is_active(&sk->io)) {
    ev_io_stop(loop, &sk->io);
  }
  if (events) {
    ev_io_set(&sk->io, fd, events);
    ev_io_start(loop, &sk->io);
  }
  return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp) {
  (void)m;
  struct rt__curl *c = userp;
  if (c->timer_armed) {
    ev_timer_stop(c->d->loop, &c->timer);
    c->timer_armed = false;
    c->d->n_watchers--;
  }
  if (timeout_ms >= 0) {
    ev_timer_set(&c->timer, (double)timeout_ms / 1000.0, 0.);
    ev_timer_start(c->d->loop, &c->timer);
    c->timer_armed = true;
    c->d->n_watchers++;
  }
  return 0;
}

static struct rt__curl *curl_of(struct rt__driver *d) {
  if (d->curl)
    return d->curl;
  struct rt__curl *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  c->multi = curl_multi_init();
  if (!c->multi) {
    free(c);
    return NULL;
  }
  c->d = d;
  ev_init(&c->timer, timer_fired);
  c->timer.data = c;
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  /* libcurl's default keeps 4 idle connections per easy handle currently
   * added: a worker that has a moment with few transfers closes the
   * connections it will want again a moment later, and every job pays a
   * connect.  A fixed cap keeps them. */
  curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS,
                    (long)d->rt->cfg.max_idle_connections);
  d->curl = c;
  return c;
}

void rt__curl_driver_fini(struct rt__driver *d) {
  struct rt__curl *c = d->curl;
  if (!c)
    return;
  curl_multi_cleanup(c->multi); /* may call sock_cb: loop still valid */
  if (c->timer_armed)
    ev_timer_stop(d->loop, &c->timer);
  free(c);
  d->curl = NULL;
}

/* ---- transfers -------------------------------------------------------------
 */

int rt_xfer_create(void *easy, rt_xfer **out) {
  rt_xfer *x = calloc(1, sizeof(*x));
  if (!x)
    return RT_ENOMEM;
  x->easy = easy;
  *out = x;
  return 0;
}

static void xfer_unregister(rt_xfer *x) {
  if (x->state == XF_RUNNING)
    leave_multi(x);
  else if (x->moved)
    atomic_fetch_sub_explicit(&x->d->xfers, 1, memory_order_relaxed);
  x->moved = false;
  x->state = XF_IDLE;
  if (x->reg) {
    x->reg->u.xfer = NULL;
    x->reg = NULL;
  }
}

void rt__xfer_wait_cancel(struct rt__wait *w) {
  struct rt__xwait *xw = rt__xwait_of(w);
  rt_xfer *x = xw->u.xfer;
  if (x)
    xfer_unregister(x);
  rt__unpin(xw->task);
}

/* The worker with the fewest transfers, when it has fewer than this one:
 * a task free to move (nothing else holds it here) starts its transfer
 * there instead, so one worker's multi does not end up with every big
 * download while the other idles (tasks spawned in a burst all land on
 * whichever worker polled them first; four 256 MiB downloads split 2:2,
 * not 3:1 as "two fewer" gave).  Counts are read without locks; a stale
 * one only costs a worse choice. */
static struct rt__driver *lighter_worker(rt_cx *cx) {
  struct rt__driver *d = cx->d;
  rt_runtime *rt = d->rt;
  if (!rt__worker_of(d) || rt->nworkers < 2 || rt__task_pinned(cx->task))
    return NULL;
  unsigned mine = atomic_load_explicit(&d->xfers, memory_order_relaxed);
  if (mine == 0)
    return NULL;
  struct rt__driver *best = NULL;
  unsigned least = mine;
  for (unsigned i = 0; i < rt->nworkers; i++) {
    struct rt__driver *o = &rt->workers[i]->d;
    unsigned n = atomic_load_explicit(&o->xfers, memory_order_relaxed);
    if (o != d && n < least) {
      best = o;
      least = n;
    }
  }
  return best;
}

static int start(rt_cx *cx, rt_xfer *x) {
  bool counted = false;
  if (x->moved) { /* arrived: the count taken on the way is ours */
    x->moved = false;
    counted = x->d == cx->d;
    if (!counted)
      atomic_fetch_sub_explicit(&x->d->xfers, 1, memory_order_relaxed);
  }
  if (!counted) {
    /* a second transfer in the poll that moved the first goes with it */
    struct rt__driver *to =
        cx->migrate_to ? cx->migrate_to : lighter_worker(cx);
    if (to) {
      atomic_fetch_add_explicit(&to->xfers, 1, memory_order_relaxed);
      x->moved = true;
      x->d = to;
      cx->migrate_to = to;
      return RT_PENDING;
    }
    atomic_fetch_add_explicit(&cx->d->xfers, 1, memory_order_relaxed);
  }
  int rc = RT_ENOMEM;
  struct rt__curl *c = curl_of(cx->d);
  struct rt__wait *w = c ? rt__wait_new(cx, RT__W_XFER, x) : NULL;
  if (!w)
    goto uncount;
  if ((rc = rt__pin(cx)) != 0) /* RT_EINVAL */
    goto release;
  curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)x);
  curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(x->easy, CURLOPT_SHARE, cx->d->rt->share);
  if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
    rc = RT_ECURL;
    goto unpin;
  }
  x->reg = rt__xwait_of(w);
  x->reg->d = cx->d;
  x->reg->u.xfer = x;
  x->d = cx->d;
  x->state = XF_RUNNING;
  cx->d->n_watchers++;
  return RT_PENDING;
unpin:
  rt__unpin(cx->task);
release:
  rt__wait_release(cx->task, w);
uncount:
  atomic_fetch_sub_explicit(&cx->d->xfers, 1, memory_order_relaxed);
  return rc;
}

int rt_xfer_poll(rt_cx *cx, rt_xfer *x, int *curl_code) {
  struct rt__wait *w = rt__wait_find(cx, RT__W_XFER, x);
  if (x->state == XF_DONE) {
    *curl_code = (int)x->result;
    x->state = XF_IDLE;
    x->reg = NULL;
    if (w) {
      rt__unpin(cx->task);
      rt__wait_release(cx->task, w);
    }
    return RT_READY;
  }
  if (x->state == XF_RUNNING)
    return RT_PENDING;
  return start(cx, x);
}

void rt_xfer_wake(rt_xfer *x) {
  if (x->reg)
    rt__task_wake(x->reg->task);
}

void rt_xfer_destroy(rt_xfer *x) {
  if (!x)
    return;
  xfer_unregister(x);
  free(x);
}
