/*
 * rt.h - the jfetch task runtime: the one public header.
 *
 * A C counterpart of Tokio's spawn / JoinHandle / JoinError / JoinSet on a
 * pool of worker threads, each with its own libev loop (and, for transfers,
 * its own libcurl multi handle).
 *
 * Tasks are stackless.  A task is a poll function, a block of state the
 * runtime owns (copied in at spawn), and an optional drop function.  The poll
 * function is called on a worker thread whenever the task has been woken; it
 * returns RT_READY with an output, or RT_PENDING after some waitable (a timer,
 * a semaphore, a channel, another task's handle, a transfer) has registered
 * the task to be woken.  RT_BEGIN / RT_AWAIT / RT_END below let a poll
 * function read like sequential code.
 *
 * Registrations are renewed by polling.  Each waitable poll function
 * (rt_sleep_until, rt_sem_acquire, rt_chan_recv, rt_notify_wait, ...) either
 * completes at once or registers the current task with the waitable.  A
 * registration lives as long as the task keeps polling that waitable: after
 * each poll that returns RT_PENDING, the runtime drops every registration the
 * poll did not touch, and when the task ends (ready, panicked or cancelled)
 * it drops them all.  So a "select" is just polling several waitables in one
 * poll, a timeout is polling the operation and then a timer, and a cancelled
 * task never leaves a stale waiter behind.  The same waitable may be polled
 * at most once per poll.
 *
 * Return codes: 0 (RT_READY) means done or success, RT_PENDING (1) means the
 * caller was registered and will be woken, and negative values are errors.
 * rt_strerror() names them.
 *
 * Contracts: every function says
 *   - Threads: which may call it.  "Any thread" includes threads outside
 *     the runtime.  "Task context" means inside a poll function, with its
 *     rt_cx (a drop function is not task context).  "Not a worker" means
 *     any thread but the runtime's worker threads.
 *   - Blocks: whether it may put the calling thread to sleep.  "Locks"
 *     means it takes a runtime mutex for a bounded, short time (never
 *     while running user code), which is not counted as blocking.
 *   - Cost: O(...) in what, heap allocations, and whether it wakes another
 *     thread (an ev_async write or a condition-variable signal).
 *   - Errors: the codes it returns; "none" means it cannot fail.
 * Nothing here calls exit() or abort() on a recoverable condition.  Misuse
 * of the API is checked with assert() (Debug builds; NDEBUG, as in Release
 * and RelWithDebInfo, compiles the checks out): a NULL where an object is
 * required, a waitable polled outside its task's poll, a handle used after
 * it was consumed, a blocking call on a worker, a primitive destroyed while
 * a task waits on it, shutdown from one of the runtime's own threads.
 */
#ifndef RT_H
#define RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- return codes ------------------------------------------------------ */

enum {
  RT_READY = 0,       /* done / success */
  RT_PENDING = 1,     /* registered for a wake-up; poll again when woken */
  RT_ENOMEM = -1,     /* out of memory */
  RT_EINVAL = -2,     /* invalid argument */
  RT_ESHUTDOWN = -3,  /* the runtime is shutting down */
  RT_ECLOSED = -4,    /* the semaphore, channel or token is closed */
  RT_ETIMEDOUT = -5,  /* a deadline passed */
  RT_EEMPTY = -6,     /* nothing to take: empty JoinSet, empty channel */
  RT_EFULL = -7,      /* a bounded channel is full (try_send) */
  RT_ESYS = -8,       /* an OS call failed (errno is kept) */
  RT_ENORUNTIME = -9, /* this thread has not entered a runtime */
  RT_ECURL = -10      /* libcurl refused (see the transfer's message) */
};

/* A static string naming a code (unknown codes included).  Never NULL.
 * Any thread; never blocks; O(1); errors: none. */
const char *rt_strerror(int code);

/* ---- types ------------------------------------------------------------- */

typedef struct rt_runtime rt_runtime;
typedef struct rt_handle rt_handle; /* a JoinHandle */
typedef struct rt_joinset rt_joinset;
typedef struct rt_cx rt_cx; /* a poll's context */
typedef struct rt_waker rt_waker;
typedef struct rt_sem rt_sem;
typedef struct rt_notify rt_notify;
typedef struct rt_chan rt_chan;
typedef struct rt_token rt_token;

/*
 * A task's poll function.  `state` is the runtime's copy of the state given
 * at spawn, 16-byte aligned, stable for the task's life.  Return RT_READY and
 * set *out (the task's output, NULL by default), or RT_PENDING.  Returning
 * RT_PENDING without having registered anywhere is allowed but the task then
 * sleeps until aborted or woken through an rt_waker.
 */
typedef int (*rt_poll_fn)(rt_cx *cx, void *state, void **out);

/*
 * What a task is.  Define one `static const rt_task_type` per kind of task.
 * - name: shown in panic messages; may be NULL.
 * - poll: required.
 * - drop: optional; runs exactly once when the task ends, however it ends
 *   (after a READY poll, after a panic, on cancellation, or at shutdown,
 *   including a task that was never polled), on the thread that polled it.
 *   It must release what the state owns (semaphore permits, buffers).  It
 *   may call rt_panic; that is reported as the task's panic.
 * - drop_output: optional; frees an output that nobody will join (the handle
 *   was detached, or the JoinSet destroyed).
 */
typedef struct rt_task_type {
  const char *name;
  rt_poll_fn poll;
  void (*drop)(void *state);
  void (*drop_output)(void *output);
} rt_task_type;

/* How a task ended.  RT_JOIN_PANICKED and RT_JOIN_CANCELLED are the two
 * kinds of Tokio's JoinError. */
enum rt_join_status {
  RT_JOIN_OK = 0,       /* the poll returned READY; `value` is its output */
  RT_JOIN_PANICKED = 1, /* rt_panic was called; `panic` has the message */
  RT_JOIN_CANCELLED = 2 /* aborted, or cancelled by shutdown */
};

/* A join result.  `panic` is malloc'd and owned by the receiver: free it
 * with rt_join_clear (or free()). `tag` is the JoinSet tag (0 otherwise). */
typedef struct rt_join {
  int status;
  void *value;
  char *panic;
  uint64_t tag;
} rt_join;

/* Frees what a join result owns (the panic message) and zeroes its value
 * and panic (the value itself is the caller's to free).  NULL does
 * nothing.  Any thread; never blocks; O(1), one free(); errors: none. */
void rt_join_clear(rt_join *j);

/* ---- the runtime ------------------------------------------------------- */

typedef struct rt_config {
  unsigned workers;               /* worker threads; 0 = number of CPUs */
  unsigned max_blocking;          /* spawn_blocking threads at most; 0 = 64 */
  unsigned blocking_keepalive_ms; /* idle blocking thread lifetime; 0 = 10000 */
  unsigned event_interval;        /* polls between event-loop checks; 0 = 61 */
  unsigned global_queue_interval; /* polls between injection-queue checks;
                                     0 = 31 */
  unsigned budget;                /* coop budget per poll; 0 = 128 */
  unsigned max_idle_connections;  /* idle connections each worker's multi
                                     keeps for reuse; 0 = 512 */
} rt_config;

/* Fills *cfg with the defaults (all zero, meaning "choose").  Any thread;
 * never blocks; O(1); errors: none. */
void rt_config_init(rt_config *cfg);

/*
 * Creates a runtime and starts its worker threads.  cfg may be NULL.
 * On success *out owns the runtime; free it with rt_runtime_destroy; on
 * failure *out is untouched and nothing is left allocated or running.
 * Errors: RT_ENOMEM, RT_ESYS (thread or event-loop creation failed).
 * Any thread; blocks only while starting the threads.  Cost: O(workers):
 * per worker one thread, one ev loop (an epoll fd and an eventfd) and its
 * allocations, plus the registry's chunk table (512 KiB of pointers,
 * calloc'd) and the blocking pool's slot arrays; no blocking thread is
 * started yet.
 */
int rt_runtime_create(const rt_config *cfg, rt_runtime **out);

/*
 * Stops accepting spawns (rt_spawn then returns RT_ESHUTDOWN), cancels every
 * outstanding task (each one's drop function runs once, on its worker),
 * waits for running spawn_blocking work, and joins the threads.  Waits at
 * most timeout_ms (UINT32_MAX: forever); on timeout the stragglers are left
 * running detached, as Tokio's shutdown_timeout does, and RT_ETIMEDOUT is
 * returned.  Calling it twice is harmless (the second returns what the
 * first did).  Threads: not one of rt's own (a worker, a blocking-pool
 * thread, or rt's rt_block_on thread; asserted).  Blocks: yes, up to
 * timeout_ms.  Cost: O(live tasks) aborts, registry rescans every 1-20 ms
 * until none is left (each O(peak tasks)), one wake-up per worker.
 * Errors: RT_ETIMEDOUT.
 */
int rt_runtime_shutdown(rt_runtime *rt, uint32_t timeout_ms);

/* Shuts down (without a time limit) if that was not done, then frees the
 * runtime; after a shutdown that timed out, the memory is leaked instead
 * while a straggler thread may still use it.  NULL does nothing.  Threads
 * and blocking as rt_runtime_shutdown.  Errors: none. */
void rt_runtime_destroy(rt_runtime *rt);

/* Number of worker threads.  Any thread; never blocks; O(1). */
unsigned rt_runtime_workers(const rt_runtime *rt);

/* Number of tasks spawned on rt that have not ended yet (blocking jobs
 * and a running rt_block_on root included).  For tests and diagnostics:
 * it holds the registry mutex while it walks every slot ever allocated,
 * so it costs O(peak live tasks, rounded up to 4096) and stalls spawns and
 * completions that need that mutex meanwhile.  Any thread; locks; no
 * allocation; errors: none. */
size_t rt_runtime_live_tasks(rt_runtime *rt);

/*
 * Makes rt the current runtime of the calling thread, so that rt_spawn and
 * the sync primitives' blocking calls work from it.  Worker threads and a
 * thread inside rt_block_on are already inside.  rt_runtime_exit leaves
 * (the thread then has no runtime).  Any thread; never blocks; O(1), a
 * thread-local store; errors: none.
 */
void rt_runtime_enter(rt_runtime *rt);
void rt_runtime_exit(void);

/*
 * Runs a root task on the calling thread until it ends, driving the
 * thread's own event loop meanwhile (the root may sleep, wait and transfer
 * like any task; tasks it spawns run on the workers).  The result goes to
 * *out (which may be NULL).  Returns 0, or RT_ENOMEM / RT_ESHUTDOWN / RT_ESYS
 * if the root could not start (the drop function then does not run, and
 * *out holds status RT_JOIN_CANCELLED and nothing to free).
 * Threads: not a worker (asserted).  Blocks: yes, until the root ends.
 * Cost: one temporary driver (an ev loop, two fds) and the root's
 * allocation.  The thread's current runtime is restored on return.
 */
int rt_block_on(rt_runtime *rt, const rt_task_type *type, const void *state,
                size_t state_size, rt_join *out);

/* Index of the worker running the calling thread, or -1 on any other
 * thread (the main thread, a blocking-pool thread, an rt_block_on thread).
 * Any thread; never blocks; O(1). */
int rt_current_worker(void);

/* ---- spawning and JoinHandles ----------------------------------------- */

/*
 * Spawns a task onto the current runtime.  The state (state_size bytes,
 * which may be 0) is copied in.  If out is non-NULL it receives the
 * JoinHandle; with out == NULL the task is detached from the start.
 *
 * Never polls the task before returning, so it is safe under a lock.
 * Called from a task, the new task goes on this worker's queue; from any
 * other thread that entered the runtime, on the global injection queue.
 * Threads: any thread inside a runtime (a task, rt_block_on, a blocking-pool
 * thread, or after rt_runtime_enter).  Never blocks.
 * Errors: RT_ENORUNTIME (the thread has no runtime: as rt_spawn_blocking,
 * the caller decides; not an abort), RT_ENOMEM, RT_ESHUTDOWN.  On any error
 * nothing is allocated, *out is untouched and the drop function does not
 * run.  Cost: O(1): one malloc (header + state_size), a registry slot
 * (a mutex once per ~128 spawns), a queue push, and a wake-up of an idle
 * worker if one is parked.  type must not be NULL (asserted).
 */
int rt_spawn(const rt_task_type *type, const void *state, size_t state_size,
             rt_handle **out);

/*
 * Awaits a task from task context.  RT_PENDING until the task ends; then
 * fills *out (which may be NULL: the result is then dropped), consumes
 * the handle (do not use it again: asserted while the memory lives) and
 * returns 0.  A task must not join itself (asserted).  Threads: task
 * context.  Never blocks.  Cost: O(1); the first PENDING takes a reference
 * on the joiner; a ready result costs one unit of the coop budget (out of
 * budget it returns RT_PENDING and re-queues the joiner).  Errors: none.
 */
int rt_handle_join(rt_cx *cx, rt_handle *h, rt_join *out);

/* Blocks a thread that is not a worker until the task ends, fills *out
 * (may be NULL) and consumes the handle.  Returns 0.  Threads: not a worker
 * (asserted; a blocking-pool thread may).  Blocks: yes.  Cost: O(1), a
 * mutex and condvar on the caller's stack.  Errors: none. */
int rt_handle_join_blocking(rt_handle *h, rt_join *out);

/*
 * Requests cancellation.  A task that has not been polled yet never is; a
 * waiting task is cancelled at once (its registrations dropped, its drop
 * function run on its worker); a running task is cancelled when its poll
 * returns RT_PENDING (a task that returns RT_READY anyway ends OK).  A task
 * that already ended is unaffected.  A blocking job is cancelled only if
 * it has not started.  Returns at once; idempotent; the handle stays
 * valid.  Any thread; never blocks.  Cost: O(1): one atomic operation,
 * plus a queue push and maybe a worker wake-up if the task waits.
 * Errors: none.
 */
void rt_handle_abort(rt_handle *h);

/* True once the task has ended (output or failure ready to join).  Any
 * thread holding the handle; never blocks; O(1), one atomic load. */
bool rt_handle_is_finished(const rt_handle *h);

/* Drops the handle; a running task keeps running, detached, and its output
 * is dropped with drop_output when it ends (at once, here, if it already
 * ended).  Consumes the handle.  Any thread; never blocks; O(1), may free
 * the task.  Errors: none. */
void rt_handle_detach(rt_handle *h);

/* ---- panics ------------------------------------------------------------ */

/*
 * Ends the current task as PANICKED with the formatted message: unwinds to
 * the worker (longjmp), drops the task's registrations, runs its drop
 * function, and delivers the message to its joiner.  The worker, the
 * runtime and other tasks go on.  Locks the poll function holds are NOT
 * released, and cleanup the poll function would have done does not happen
 * except through the drop function.  From fn of rt_spawn_blocking it ends
 * that job as PANICKED the same way.  Outside any task (main thread), it
 * prints the message and aborts, like an uncaught panic; inside a drop
 * function that runs after a panic, the first message is kept.  Threads:
 * any.  Cost: one allocation for the message (if that and a fallback
 * fail, the task still ends PANICKED, with a NULL panic message).
 */
_Noreturn void rt_panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Re-raises a joined panic in the current task (Tokio's resume_unwind):
 * takes ownership of j->panic.  Threads and cost as rt_panic. */
_Noreturn void rt_panic_resume(rt_join *j);

/* True inside a drop function that runs because its task panicked, false
 * anywhere else (a drop after an abort or a normal end, a poll function,
 * a plain thread): like Rust's std::thread::panicking, so that a drop can
 * tell a failure from a cancellation.  Any thread; O(1). */
bool rt_panicking(void);

/* ---- JoinSet ----------------------------------------------------------- */

/*
 * A set of tasks joined in completion order.  A JoinSet belongs to one owner
 * (a task or a thread) at a time: spawn, join_next, abort_all and destroy
 * must not run concurrently on the same set.  The tasks in it may run and
 * complete on any worker.
 *
 * Creates an empty set.  Any thread (no runtime needed); never blocks;
 * two allocations.  Errors: RT_ENOMEM (*out untouched).
 */
int rt_joinset_create(rt_joinset **out);

/* Aborts every task still in the set, drops their handles and any unjoined
 * outputs.  The aborted tasks finish cancelling in the background (their
 * drop functions still run).  NULL does nothing.  The owner; never blocks;
 * O(tasks in the set), with queue pushes and wake-ups for waiting ones. */
void rt_joinset_destroy(rt_joinset *set);

/* Spawns a task into the set (as rt_spawn).  `tag` comes back in the
 * rt_join of this task, so a caller can tell which task a panic or a
 * cancellation belongs to.  The owner, on a thread inside a runtime;
 * never blocks.  Cost: as rt_spawn, plus a lock of the set and, every
 * doubling, a realloc of its arrays.  Errors as rt_spawn (RT_ENORUNTIME,
 * RT_ENOMEM, RT_ESHUTDOWN); on error the set is unchanged. */
int rt_joinset_spawn(rt_joinset *set, const rt_task_type *type,
                     const void *state, size_t state_size, uint64_t tag);

/*
 * Takes the result of the next task to end, in completion order: 0 with
 * *out filled, RT_EEMPTY when the set holds no task, RT_PENDING otherwise.
 * Cancel-safe: not polling it again loses nothing.  The owner, in task
 * context (asserted); never blocks (locks).  Cost: O(1); a result costs
 * one unit of the coop budget (out of budget: RT_PENDING, re-queued).
 * out may be NULL (the result is dropped).
 */
int rt_joinset_join_next(rt_cx *cx, rt_joinset *set, rt_join *out);

/* The same from a thread that is not a worker (asserted): blocks until a
 * task ends; 0 or RT_EEMPTY (at once).  O(1). */
int rt_joinset_join_next_blocking(rt_joinset *set, rt_join *out);

/* Requests abort of every task in the set; their results (mostly
 * CANCELLED) still come out of join_next.  The owner; never blocks;
 * O(tasks in the set), each as rt_handle_abort.  Errors: none. */
void rt_joinset_abort_all(rt_joinset *set);

/* Number of tasks in the set not yet taken by join_next.  The owner;
 * O(1). */
size_t rt_joinset_len(const rt_joinset *set);

/* ---- wakers: for building waitables outside the runtime ---------------- */

/* A new reference to the current task's waker (keeps the task's memory,
 * not the task, alive).  Task context (asserted); O(1), one atomic; no
 * allocation.  Every reference must be woken or dropped exactly once. */
rt_waker *rt_waker_current(rt_cx *cx);
/* Wakes the task (no effect if it ended) and consumes the reference.  Any
 * thread; never blocks; O(1): a queue push and maybe a worker wake-up; may
 * free the task. */
void rt_waker_wake(rt_waker *w);
/* Drops the reference without waking.  Any thread; O(1); may free. */
void rt_waker_drop(rt_waker *w);

/* ---- time, yielding ---------------------------------------------------- */

/* Monotonic clock in nanoseconds.  Any thread.  Cost: one vDSO call. */
uint64_t rt_now(void);

/* 0 once rt_now() >= deadline_ns; otherwise RT_PENDING, with a timer on
 * this worker's event loop (the task stays on this worker while the timer
 * is registered).  Task context.  Cost: O(log n) in the worker's timers.
 * Errors: RT_ENOMEM; RT_EINVAL past 4095 timers and transfers registered
 * by one task at once.  The first wait on a deadline allocates a timer
 * node; later polls reuse it. */
int rt_sleep_until(rt_cx *cx, uint64_t deadline_ns);

/*
 * The deadline wrapper: polls op(cx, arg) and returns what it returns if
 * that is not RT_PENDING; otherwise returns RT_ETIMEDOUT if the deadline
 * has passed, else RT_PENDING (waiting on both).  When the operation wins,
 * the timer is dropped at the end of the poll.  Task context.  Cost and
 * errors: op's, plus rt_sleep_until's.
 */
int rt_timeout(rt_cx *cx, uint64_t deadline_ns, int (*op)(rt_cx *cx, void *arg),
               void *arg);

/* Yields once: the first call returns RT_PENDING and puts the task at the
 * back of its worker's queue, the next returns 0.  *yielded keeps the
 * state between the two calls (start it false).  Task context; O(1), no
 * allocation; errors: none. */
int rt_yield_now(rt_cx *cx, bool *yielded);

/*
 * Resumable poll functions.  The state keeps the resume point in an int
 * field (start it at 0); RT_AWAIT evaluates `expr` (typically an assignment
 * of a poll call's result) and returns RT_PENDING from the poll function if
 * it is RT_PENDING, resuming there on the next poll.  Locals do not survive
 * an RT_AWAIT; keep what must survive in the state.  One RT_AWAIT per line.
 *
 *   RT_BEGIN(st->pc);
 *   RT_AWAIT(st->pc, rc = rt_sleep_until(cx, st->deadline));
 *   ...
 *   RT_END(st->pc);
 */
#define RT_BEGIN(pc)                                                           \
  switch (pc) {                                                                \
  case 0:
#define RT_AWAIT(pc, expr)                                                     \
  do {                                                                         \
    (pc) = __LINE__;                                                           \
    __attribute__((fallthrough));                                              \
  case __LINE__:                                                               \
    if ((expr) == RT_PENDING)                                                  \
      return RT_PENDING;                                                       \
  } while (0)
#define RT_END(pc)                                                             \
  }                                                                            \
  (pc) = -1

/* ---- spawn_blocking ----------------------------------------------------- */

/*
 * Runs fn(arg) on the runtime's blocking pool (its own threads, never the
 * workers; at most max_blocking at once, the rest queue) and returns a
 * JoinHandle whose output is fn's return value.  fn may call rt_panic.
 * Abort only stops work that has not started.  Any thread inside a runtime;
 * never blocks (locks the pool).  Cost: one allocation, a condvar signal
 * to an idle pool thread or, with none idle and fewer than max_blocking,
 * a new thread.  Errors: RT_ENORUNTIME (no runtime on this thread, as
 * rt_spawn), RT_ENOMEM, RT_ESHUTDOWN, and RT_ENOMEM / RT_ESYS when no pool
 * thread exists and none could be started (a job is never left queued
 * with no thread to run it); then nothing is allocated and *out is
 * untouched.
 */
int rt_spawn_blocking(void *(*fn)(void *arg), void *arg, rt_handle **out);

/* ---- semaphore --------------------------------------------------------- */

/* A counting semaphore, fair (FIFO): a large request at the head of the
 * queue holds back smaller ones behind it.  Any thread may create, release,
 * close or destroy (destroy only when nobody waits: asserted; NULL does
 * nothing).  create: one allocation, RT_ENOMEM.  Nothing here blocks;
 * every call locks the semaphore once. */
int rt_sem_create(size_t permits, rt_sem **out);
void rt_sem_destroy(rt_sem *s);
/* Acquires n permits: 0 when they are the task's, RT_PENDING, or
 * RT_ECLOSED.  Dropping the wait (not polling again, cancellation) gives
 * back whatever was assigned.  Task context.  Cost: one lock; a second
 * list wait in the same poll allocates a node (RT_ENOMEM).  RT_EINVAL for
 * n > UINT32_MAX. */
int rt_sem_acquire(rt_cx *cx, rt_sem *s, size_t n);
/* Without waiting: 0 or RT_EFULL (not enough now, or someone waits) or
 * RT_ECLOSED.  Any thread; O(1). */
int rt_sem_try_acquire(rt_sem *s, size_t n);
/* Gives n permits back, waking waiters in order.  Any thread; O(waiters
 * granted), a wake-up each. */
void rt_sem_release(rt_sem *s, size_t n);
/* Fails every current and future acquire with RT_ECLOSED.  Any thread;
 * O(waiters), a wake-up each. */
void rt_sem_close(rt_sem *s);
size_t rt_sem_available(const rt_sem *s);

/* ---- notify ------------------------------------------------------------ */

/* Tokio's Notify: notify_one wakes one waiter or, with none, stores one
 * permit for the next wait; notify_waiters wakes all current waiters and
 * stores nothing.  create: any thread, one allocation, RT_ENOMEM.
 * destroy: any thread, only when nobody waits (asserted); NULL does
 * nothing.  notify_one: any thread, O(1), at most one wake-up.
 * notify_waiters: any thread, O(waiters), a wake-up each.  None blocks. */
int rt_notify_create(rt_notify **out);
void rt_notify_destroy(rt_notify *n);
/* 0 once notified (or a stored permit was taken), else RT_PENDING. A
 * notification that reached a wait that is then dropped passes to the next
 * waiter.  Task context; locks; a second list wait in one poll allocates
 * a node (RT_ENOMEM). */
int rt_notify_wait(rt_cx *cx, rt_notify *n);
void rt_notify_one(rt_notify *n);
void rt_notify_waiters(rt_notify *n);

/* ---- bounded channel --------------------------------------------------- */

/* A bounded FIFO of void* items (capacity >= 1), many senders, one
 * receiver at a time.  After rt_chan_close, sends fail with RT_ECLOSED and
 * the receiver drains what is left, then gets RT_ECLOSED.  destroy only when
 * nobody waits (asserted); remaining items are not freed.  create: any
 * thread, two allocations, RT_EINVAL (capacity 0) or RT_ENOMEM.  Nothing
 * here blocks; every call locks the channel once and is O(1) plus a
 * wake-up of one waiter (close: of all waiters). */
int rt_chan_create(size_t capacity, rt_chan **out);
void rt_chan_destroy(rt_chan *c);
/* 0 when queued, RT_PENDING while full, RT_ECLOSED.  Task context;
 * RT_ENOMEM for a second list wait in one poll. */
int rt_chan_send(rt_cx *cx, rt_chan *c, void *item);
/* 0, RT_EFULL or RT_ECLOSED.  Any thread. */
int rt_chan_try_send(rt_chan *c, void *item);
/* 0 with *item, RT_PENDING while empty, RT_ECLOSED once closed and empty.
 * Task context; RT_ENOMEM as rt_chan_send. */
int rt_chan_recv(rt_cx *cx, rt_chan *c, void **item);
/* 0, RT_EEMPTY or RT_ECLOSED.  Any thread. */
int rt_chan_try_recv(rt_chan *c, void **item);
void rt_chan_close(rt_chan *c);
size_t rt_chan_len(const rt_chan *c);

/* ---- transfers: libcurl easy handles on the worker's multi handle ------- */

/*
 * A transfer drives one configured libcurl easy handle (passed as void* so
 * this header does not need curl.h) on one worker's multi handle, wired to
 * that worker's ev loop the multi_socket way.  Which worker: each start
 * (the first poll, and the first poll after an end or an abort) balances
 * transfers: if the task is not pinned (no timer or other transfer held)
 * and another worker's multi holds fewer transfers than this one's, the
 * task migrates there (that poll returns RT_PENDING and the task is
 * re-queued on the chosen worker, where the transfer starts).  From the
 * start until the transfer ends or is dropped, the task is pinned to that
 * worker; a retry may start on another one.  An rt_block_on root never
 * migrates: its transfers run on its own thread's multi.
 *
 * The runtime sets CURLOPT_PRIVATE (do not use it), CURLOPT_NOSIGNAL and
 * CURLOPT_SHARE (DNS and TLS-session caches shared by all workers, with
 * locks; connections stay per worker, as libcurl requires).  Each worker's
 * multi has HTTP/2 multiplexing on.  Protocol limits and everything else
 * are the caller's options.  rt_runtime_create calls curl_global_init.
 */
typedef struct rt_xfer rt_xfer;

/* Wraps an easy handle.  The caller keeps owning the easy handle; it must
 * outlive the rt_xfer.  Any thread; one allocation; errors: RT_ENOMEM. */
int rt_xfer_create(void *easy, rt_xfer **out);

/*
 * Starts the transfer on the first poll, then returns RT_PENDING until it
 * ends; then 0 with *curl_code set to its CURLcode.  Dropping the
 * registration (not polling again, abort, panic) removes the easy handle
 * from the multi at once, on its worker: the transfer is aborted.  Once a
 * transfer has ended (its 0 returned) or been aborted, the next poll starts
 * a new one with the easy handle as it is then configured: that is how a
 * retry is made.  Task context; never blocks.  Cost: a start allocates a
 * registration node and, on a worker's first transfer, its multi handle;
 * O(workers) to pick the lightest worker.  Errors: RT_ENOMEM, RT_ECURL (the
 * multi refused the handle), RT_EINVAL (past 4095 timers and transfers
 * held by one task at once).
 */
int rt_xfer_poll(rt_cx *cx, rt_xfer *x, int *curl_code);

/*
 * Wakes the task waiting on x without ending the transfer, e.g. from a
 * write or progress callback that wants the task to look at its state (it
 * then re-polls rt_xfer_poll to keep waiting).  Only from libcurl
 * callbacks of this transfer (they run on the transfer's worker).  O(1).
 */
void rt_xfer_wake(rt_xfer *x);

/* Frees x.  A transfer still in flight is removed from its multi, which is
 * only allowed on its worker: call this from the owning task's poll or drop
 * function.  NULL does nothing.  Never blocks; O(1). */
void rt_xfer_destroy(rt_xfer *x);

/* ---- cancellation token ------------------------------------------------ */

/* A token that is cancelled once, by rt_token_cancel or by its parent's
 * cancellation (a child never cancels its parent).  Destroy children before
 * parents, and only when nobody waits (both asserted).  create: any
 * thread, one allocation, RT_ENOMEM.  cancel: any thread, O(subtree +
 * waiters), a wake-up per waiter; idempotent.  is_cancelled: any thread,
 * O(1), no lock.  A tree shares one mutex; nothing here blocks. */
int rt_token_create(rt_token *parent, rt_token **out);
void rt_token_destroy(rt_token *t);
void rt_token_cancel(rt_token *t);
bool rt_token_is_cancelled(const rt_token *t);
/* 0 once cancelled, else RT_PENDING.  Task context; RT_ENOMEM for a
 * second list wait in one poll. */
int rt_token_wait(rt_cx *cx, rt_token *t);

#ifdef __cplusplus
}
#endif
#endif /* RT_H */
