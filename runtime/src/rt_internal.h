/*
 * rt_internal.h - structures shared inside the runtime, never installed.
 *
 * Object map
 *   rt_runtime   config, workers[], the injection queue, the task registry
 *                (a slot array of live tasks, for shutdown), blocking pool.
 *   rt__driver   what polls tasks on one thread: an ev loop, an ev_async for
 *                cross-thread wake-ups, an inbox (mutex list) for tasks that
 *                must run here, an owner-only local list, the poll context.
 *                Every worker has one; rt_block_on makes a temporary one for
 *                the root task on the calling thread.
 *   rt__worker   a driver plus a stealable ring (SPMC, lock-free), a LIFO
 *                slot, the thread, and the panic landing pad.
 *   rt_task      header + state.  96 bytes of header; see the state word.
 *
 * A task is "pinned" while it holds a registration that lives on an event
 * loop (a timer, a transfer) and always when it is a block_on root: it is
 * then polled only by its home driver.  Unpinned tasks may run anywhere and
 * may be stolen.  Pinned/home change only while the task is RUNNING, by the
 * polling thread, so a waker that sees the task idle reads stable values.
 *
 * Lock order (outer first): token tree / semaphore / notify / channel /
 * joinset core locks, then the registry lock, then queue locks (inject,
 * inbox, pool).  Nothing takes a primitive lock while holding a queue lock,
 * and no user code runs under any runtime lock.
 */
#ifndef RT_INTERNAL_H
#define RT_INTERNAL_H

#include "rt.h"

#include <ev.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>

#define RT__CACHELINE 64
#define RT__RING_CAP 256u
#define RT__RING_MASK (RT__RING_CAP - 1)
#define RT__SLOT_CACHE 256u
#define RT__MAX_LIFO_POLLS 3u
#define RT__SHARE_LOCKS 8u

/* ---- the task state word (after Tokio's runtime/task/state.rs) --------- */
#define RT__RUNNING (1u << 0)       /* a thread is polling or dropping it */
#define RT__COMPLETE (1u << 1)      /* ended; result fields are set */
#define RT__NOTIFIED (1u << 2)      /* queued, or to be re-queued */
#define RT__JOIN_INTEREST (1u << 3) /* a JoinHandle still exists */
#define RT__JOIN_WAKER (1u << 4)    /* join_waker field is set */
#define RT__CANCELLED (1u << 5)     /* abort requested */
/* the join status (enum rt_join_status), set in the same step as COMPLETE */
#define RT__RESULT_SHIFT 6
#define RT__RESULT_MASK (3u << RT__RESULT_SHIFT)
/* count of loop-bound registrations (timers, transfers; +1 for a block_on
 * root): the task is pinned to its home driver while it is not zero */
#define RT__PIN_ONE (1u << 8)
#define RT__PIN_MAX 4095u
#define RT__PIN_MASK (RT__PIN_MAX << 8)
#define RT__REF_ONE (1u << 20)
#define RT__FLAGS ((uint64_t)RT__REF_ONE - 1)

/* join_waker tags: a task (holds a ref), a blocked thread, a JoinSet core */
#define RT__JW_TASK 0u
#define RT__JW_THREAD 1u
#define RT__JW_SET 2u
#define RT__JW_MASK 3u

typedef struct rt_task rt_task;
struct rt__driver;
struct rt__worker;

/* ---- registrations (wait.c) ------------------------------------------- */
enum {
  RT__W_NONE = 0,
  RT__W_NOTIFY,
  RT__W_SEM,
  RT__W_CHAN_SEND,
  RT__W_CHAN_RECV,
  RT__W_TOKEN, /* list waiters above; below need an extended node */
  RT__W_TIMER,
  RT__W_XFER,
  RT__W_KINDS
};
#define RT__W_EXTENDED RT__W_TIMER /* kinds >= this never use w0 */

/* wait->st bits, written under the waitable's lock */
#define RT__WS_LINKED 1u /* in the waitable's waiter list */
#define RT__WS_FIRED 2u  /* granted / notified, not yet consumed */

struct rt__wait {
  struct rt__wait *prev, *next; /* waitable's list, under its lock */
  void *obj;                    /* the waitable (key with kind) */
  uint32_t n;                   /* semaphore: permits wanted */
  uint8_t kind;
  uint8_t st;       /* RT__WS_*, under the waitable's lock */
  uint8_t touched;  /* polled during the current poll; task-owned */
  uint8_t embedded; /* is the task's w0 */
};

/* An extra registration: a second list wait in one poll, or a loop-bound
 * one (timer, transfer) that needs more room. */
struct rt__xwait {
  struct rt__wait w;
  struct rt__xwait *tnext;
  rt_task *task;
  struct rt__driver *d; /* loop-bound kinds: the driver they live on */
  union {
    ev_timer timer;
    void *xfer;
  } u;
};

/* ---- tasks --------------------------------------------------------------- */
struct rt_task {
  _Atomic uint64_t state;
  rt_task *next; /* run queues, inbox, JoinSet ready list */
  const rt_task_type *type;
  _Atomic(struct rt__driver *) home;
  union {
    void *value;
    char *panic;
  } out;
  _Atomic uintptr_t join_waker;
  struct rt__wait w0;
  struct rt__xwait *xw;
  uint32_t set_index;
  uint32_t reg_slot; /* registry slot while live */
  _Alignas(16) unsigned char data[];
};

/* ---- the poll context -------------------------------------------------- */
struct rt_cx {
  struct rt__driver *d;
  rt_task *task;
  unsigned budget;
  bool self_notified; /* woken during its own poll: re-queue at the back */
  struct rt__driver *migrate_to; /* after this poll, run there instead */
};

/* ---- panic landing ------------------------------------------------------ */
enum { RT__PHASE_POLL = 1, RT__PHASE_DROP = 2, RT__PHASE_BLOCKING = 3 };
struct rt__pad {
  sigjmp_buf jb;
  rt_task *task; /* non-NULL while user code of this task runs */
  int phase;
  char *msg;   /* the message being delivered */
  char *first; /* POLL panic kept while the drop runs */
};

/* ---- drivers and workers ---------------------------------------------- */
/* rt__driver.parked (scheduler.c has the protocol) */
enum {
  RT__PARK_RUNNING = 0,
  RT__PARK_PARKED = 1,
  RT__PARK_SEARCH = 2, /* claimed by a notifier: search for work */
  RT__PARK_INBOX = 3   /* claimed by an inbox push */
};

struct rt__driver {
  rt_runtime *rt;
  struct ev_loop *loop;
  ev_async async;
  int index; /* worker index, -1 for a block_on driver */
  /* owner-only FIFO: tasks that must run here (pinned, or moved here with
   * a transfer that migrated to this driver's multi) */
  rt_task *local_head, *local_tail;
  /* remote pushes of such tasks */
  pthread_mutex_t inbox_mu;
  rt_task *inbox_head, *inbox_tail;
  _Atomic size_t inbox_len;
  _Atomic int parked;
  unsigned n_watchers;    /* active timers, ios and transfers on the loop */
  _Atomic unsigned xfers; /* transfers in this driver's multi */
  unsigned tick;          /* polls so far (the worker loop's clock) */
  struct rt_cx cx;
  struct rt__pad pad;
  void *curl;      /* struct rt__curl, created on first transfer */
  unsigned slot_n; /* free registry slots cached here (owner-only) */
  uint32_t slots[RT__SLOT_CACHE];
};

struct rt__worker {
  struct rt__driver d;
  pthread_t thread;
  rt_task *lifo;
  unsigned lifo_polls;
  uint32_t rng;
  bool searching;
  _Atomic bool exited; /* the thread's last touch of the runtime */
  _Alignas(RT__CACHELINE) _Atomic uint64_t head;
  _Alignas(RT__CACHELINE) _Atomic uint64_t tail;
  _Alignas(RT__CACHELINE) _Atomic(rt_task *) buf[RT__RING_CAP];
};

struct rt__registry {
  _Atomic(rt_task *) **chunks; /* MAX_CHUNKS pointers, chunks of 4096 */
  uint32_t nchunks;            /* under mu */
  uint32_t max_chunks;         /* under mu: MAX_CHUNKS, lower in tests */
  pthread_mutex_t mu;          /* pool, growth, scans */
  uint32_t *pool;              /* free slots not in any driver cache */
  size_t pool_n, pool_cap;
  _Atomic int scanning;
};

struct rt__pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;      /* work or stop, for idle threads */
  pthread_cond_t done_cv; /* a thread exited */
  rt_task *head, *tail;
  unsigned nthreads, nidle, max;
  unsigned keepalive_ms;
  bool stop;
  pthread_t *threads; /* max slots */
  bool *slot_used, *slot_exited;
};

struct rt_runtime {
  rt_config cfg;
  unsigned nworkers;
  struct rt__worker **workers;
  /* injection queue: Vyukov's intrusive MPSC list through task->next;
   * producers only exchange inj_tail, consumers serialise on inj_mu */
  _Alignas(RT__CACHELINE) _Atomic(rt_task *) inj_tail;
  _Alignas(RT__CACHELINE) pthread_mutex_t inj_mu;
  rt_task *inj_head;
  rt_task *inj_stub;
  _Atomic size_t inj_len;
  _Alignas(RT__CACHELINE) _Atomic unsigned n_idle;
  _Atomic unsigned n_searching;
  _Atomic unsigned wake_rr;
  _Atomic bool shutting_down;
  _Atomic bool stop;
  bool shut_done;
  bool leaked; /* shutdown timed out */
  struct rt__pool pool;
  void *share; /* CURLSH: DNS + TLS sessions shared by all workers */
  pthread_mutex_t share_mu[RT__SHARE_LOCKS];
  struct rt__registry reg;
};

/* ---- thread-local context ---------------------------------------------- */
extern _Thread_local rt_runtime *rt__tls_rt;
extern _Thread_local struct rt__driver *rt__tls_driver;
extern _Thread_local struct rt__pad *rt__tls_pad;

static inline int rt__task_result(rt_task *t) {
  uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
  return (int)((s & RT__RESULT_MASK) >> RT__RESULT_SHIFT);
}

static inline bool rt__task_pinned(rt_task *t) {
  return atomic_load_explicit(&t->state, memory_order_relaxed) & RT__PIN_MASK;
}

static inline struct rt__worker *rt__worker_of(struct rt__driver *d) {
  return d && d->index >= 0 ? (struct rt__worker *)d : NULL;
}

/* ---- task.c ------------------------------------------------------------- */
rt_task *rt__task_alloc(const rt_task_type *type, const void *state,
                        size_t size, bool handle);
void rt__task_unref(rt_task *t);
void rt__task_ref(rt_task *t);
void rt__task_wake(rt_task *t);     /* by reference: keeps the caller's */
void rt__task_wake_val(rt_task *t); /* consumes one reference */
void rt__task_run(struct rt__driver *d, rt_task *t);
uint64_t rt__task_transition_to_running(rt_task *t); /* NOTIFIED->RUNNING */
void rt__task_complete(rt_task *t, int status, void *payload);
void rt__task_finish_panic(struct rt__driver *d); /* at a landing pad */
void rt__output_drop(rt_task *t);
void rt__join_waker_wake(rt_task *t, uintptr_t jw);
void rt__join_waker_drop(uintptr_t jw);

/* ---- join.c / joinset.c -------------------------------------------------- */
struct rt__set_core;
bool rt__join_waker_set(rt_task *t, uintptr_t jw);
void rt__join_take(rt_task *t, rt_join *out);
void rt__task_abort(rt_task *t);
void rt__handle_drop(rt_task *t);
void rt__joinset_member_done(struct rt__set_core *c, rt_task *t);
void rt__joinset_core_unref(struct rt__set_core *c);

/* ---- registry.c ------------------------------------------------------------
 */
int rt__registry_init(rt_runtime *rt);
void rt__registry_fini(rt_runtime *rt);
int rt__registry_add(rt_runtime *rt, rt_task *t);
void rt__registry_remove(rt_runtime *rt, rt_task *t);
size_t rt__registry_scan(rt_runtime *rt, bool abort);
int rt__registry_drain(rt_runtime *rt, uint64_t deadline);
void rt__registry_cache_flush(struct rt__driver *d);
/* For tests: caps the registry at max_chunks chunks of 4096 slots (never
 * above its built-in 65536), so that running out of slots, the RT_ENOMEM
 * a spawn or rt_block_on then returns, can be reached on purpose.  Chunks
 * already made stay.  Any thread; takes the registry's mutex. */
void rt__registry_limit(rt_runtime *rt, uint32_t max_chunks);

/* ---- runtime.c
 * ---------------------------------------------------------------- */
rt_runtime *rt__task_runtime(rt_task *t);

/* ---- scheduler.c --------------------------------------------------------- */
void rt__schedule(rt_task *t, bool yield); /* t is NOTIFIED, not queued */
void rt__schedule_new(rt_runtime *rt, rt_task *t); /* t->home is set */
int rt__driver_init(struct rt__driver *d, rt_runtime *rt, int index);
void rt__driver_fini(struct rt__driver *d);
void rt__inbox_push(struct rt__driver *d, rt_task *t); /* + wake */
void *rt__worker_main(void *arg);
void rt__driver_local_push(struct rt__driver *d, rt_task *t);
rt_task *rt__driver_local_pop(struct rt__driver *d);
void rt__driver_drain_inbox(struct rt__driver *d);

/* ---- wait.c ---------------------------------------------------------------
 */
struct rt__wait *rt__wait_find(rt_cx *cx, int kind, void *obj);
struct rt__wait *rt__wait_new(rt_cx *cx, int kind, void *obj);
void rt__wait_release(rt_task *t, struct rt__wait *w); /* forget, no cancel */
void rt__waits_sweep(rt_task *t);                      /* after PENDING */
void rt__waits_drop_all(rt_task *t);                   /* task ends */
rt_task *rt__wait_task(struct rt__wait *w);
struct rt__xwait *rt__xwait_of(struct rt__wait *w);
int rt__pin(rt_cx *cx); /* 0, or RT_EINVAL past RT__PIN_MAX */
void rt__unpin(rt_task *t);
bool rt__coop(rt_cx *cx);
/* waiter list helpers, under the waitable's lock */
void rt__wlist_push(struct rt__wait **head, struct rt__wait **tail,
                    struct rt__wait *w);
void rt__wlist_unlink(struct rt__wait **head, struct rt__wait **tail,
                      struct rt__wait *w);
/* unlinks w, marks it FIRED (granted) and wakes its task */
void rt__wlist_fire(struct rt__wait **head, struct rt__wait **tail,
                    struct rt__wait *w);
void rt__wlist_fire_all(struct rt__wait **head, struct rt__wait **tail);
/* wakes every waiter, leaving them linked and unfired ("look again") */
void rt__wlist_wake_all(struct rt__wait *head);
/* per-kind cancellation, implemented by each waitable's module */
void rt__sem_wait_cancel(struct rt__wait *w);
void rt__notify_wait_cancel(struct rt__wait *w);
void rt__chan_wait_cancel(struct rt__wait *w);
void rt__token_wait_cancel(struct rt__wait *w);
void rt__timer_wait_cancel(struct rt__wait *w);
void rt__xfer_wait_cancel(struct rt__wait *w);

/* ---- timer.c ------------------------------------------------------------- */
/* *ts = CLOCK_REALTIME now + delay_ns, for pthread timed waits */
void rt__realtime_after(struct timespec *ts, uint64_t delay_ns);

/* ---- blocking.c ------------------------------------------------------------
 */
int rt__pool_init(rt_runtime *rt);
int rt__pool_shutdown(rt_runtime *rt, uint64_t deadline_ns);
void rt__pool_fini(rt_runtime *rt);
extern const rt_task_type rt__blocking_type;

/* ---- panic.c ---------------------------------------------------------------
 */
char *rt__vformat(const char *fmt, va_list ap);
char *rt__strdup(const char *s);

/* ---- curl_driver.c ----------------------------------------------------------
 */
void rt__curl_driver_fini(struct rt__driver *d);
int rt__curl_share_init(rt_runtime *rt);
void rt__curl_share_fini(rt_runtime *rt);

/* ---- small helpers ----------------------------------------------------------
 */
#define RT__CONTAINER_OF(p, type, member)                                      \
  ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* A FIFO of tasks linked through task->next (run lists, the inbox, a
 * JoinSet's ready list, the blocking queue): its owner or its lock guards
 * it.  Pop leaves the popped task's next as it was. */
static inline void rt__tlist_push(rt_task **head, rt_task **tail, rt_task *t) {
  t->next = NULL;
  if (*tail)
    (*tail)->next = t;
  else
    *head = t;
  *tail = t;
}

static inline rt_task *rt__tlist_pop(rt_task **head, rt_task **tail) {
  rt_task *t = *head;
  if (t) {
    *head = t->next;
    if (!*head)
      *tail = NULL;
  }
  return t;
}

#endif /* RT_INTERNAL_H */
