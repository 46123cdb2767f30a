/*
 * panic.c - rt_panic, the panic landing, error strings.
 *
 * rt_panic formats the message on the heap and siglongjmps to the pad of
 * the thread's driver (or pool thread), which is armed only while user code
 * of a task runs (its poll or its drop function).  With no armed pad, as on
 * the main thread or inside a drop_output callback, a panic is fatal: the
 * message is printed and the process aborts, like an uncaught panic in a
 * Rust main.  sigsetjmp(env, 0) does not save the signal mask, so arming
 * costs no syscall; and it is armed once per driver loop, not per poll.
 */
#include "rt_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Thread_local rt_runtime *rt__tls_rt;
_Thread_local struct rt__driver *rt__tls_driver;
_Thread_local struct rt__pad *rt__tls_pad;

char *rt__vformat(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0)
    n = 0;
  char *s = malloc((size_t)n + 1);
  if (s)
    vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

char *rt__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

static _Noreturn void land(char *msg) {
  struct rt__pad *pad = rt__tls_pad;
  if (!pad || !pad->task) {
    fprintf(stderr, "panic outside a task: %s\n", msg ? msg : "(no memory)");
    abort();
  }
  pad->msg = msg ? msg : rt__strdup("panic (out of memory for message)");
  siglongjmp(pad->jb, 1);
}

bool rt_panicking(void) {
  /* rt__task_finish_panic keeps the message in `first` while the drop of
   * the task that panicked in its poll runs */
  const struct rt__pad *pad = rt__tls_pad;
  return pad && pad->task && pad->phase == RT__PHASE_DROP && pad->first;
}

void rt_panic(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = rt__vformat(fmt, ap);
  va_end(ap);
  land(msg);
}

void rt_panic_resume(rt_join *j) {
  char *msg = j->panic;
  j->panic = NULL;
  land(msg ? msg : rt__strdup("panic"));
}

const char *rt_strerror(int code) {
  switch (code) {
  case RT_READY: return "ok";
  case RT_PENDING: return "pending";
  case RT_ENOMEM: return "out of memory";
  case RT_EINVAL: return "invalid argument";
  case RT_ESHUTDOWN: return "runtime is shutting down";
  case RT_ECLOSED: return "closed";
  case RT_ETIMEDOUT: return "timed out";
  case RT_EEMPTY: return "empty";
  case RT_EFULL: return "full";
  case RT_ESYS: return "system call failed";
  case RT_ENORUNTIME: return "no runtime entered on this thread";
  case RT_ECURL: return "libcurl error";
  default: return "unknown error";
  }
}
