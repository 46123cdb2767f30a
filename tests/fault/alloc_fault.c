/*
 * alloc_fault.c - test-only allocation failure: fail the Nth allocation.
 *
 * Linked into test builds with -Wl,--wrap=malloc,... (tests/CMakeLists.txt),
 * which sends every call to these functions from our own objects and
 * static libraries (libjfetch_rt.a, libjfetch_core.a) here, but not calls
 * made inside shared libraries (libcurl, cJSON, libev, libc itself).
 *
 * JFETCH_FAIL_ALLOC=N   the Nth wrapped call (1-based, counted over all
 *                       threads) fails as the real function fails on
 *                       ENOMEM: NULL, or -1 / ENOMEM for asprintf and
 *                       posix_memalign's error return.  Only that one;
 *                       later calls succeed (a "transient" failure).
 * JFETCH_ALLOC_COUNT=P  at exit, the number of wrapped calls is written to
 *                       file P, so a driver knows how far to walk N.
 * JFETCH_FAIL_ALLOC_TRACE=1  prints a backtrace of the failing call on
 *                       stderr (link with -rdynamic for names), to find
 *                       the code behind a failing N.
 * Unset, the wrappers only count.  A program can also drive it directly
 * (the runtime's unit test): alloc_fault_set(n) and alloc_fault_calls().
 */
#include "alloc_fault.h"

#include <errno.h>
#include <execinfo.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_vasprintf(char **out, const char *fmt, va_list ap);

static atomic_ulong calls;
static atomic_ulong fail_at; /* 0: never */
static atomic_int inited;

static void write_count(void) {
  const char *p = getenv("JFETCH_ALLOC_COUNT");
  if (!p)
    return;
  FILE *f = fopen(p, "w");
  if (!f)
    return;
  fprintf(f, "%lu\n", atomic_load(&calls));
  fclose(f);
}

static void init_once(void) {
  int expect = 0;
  if (!atomic_compare_exchange_strong(&inited, &expect, 1))
    return;
  const char *n = getenv("JFETCH_FAIL_ALLOC");
  if (n && *n)
    atomic_store(&fail_at, strtoul(n, NULL, 10));
  if (getenv("JFETCH_ALLOC_COUNT"))
    atexit(write_count);
}

/* True when this call is the one to fail. */
static bool fail_now(void) {
  if (!atomic_load_explicit(&inited, memory_order_relaxed))
    init_once();
  unsigned long k = atomic_fetch_add(&calls, 1) + 1;
  if (k != atomic_load_explicit(&fail_at, memory_order_relaxed))
    return false;
  if (getenv("JFETCH_FAIL_ALLOC_TRACE")) {
    void *frames[16];
    int n = backtrace(frames, 16);
    backtrace_symbols_fd(frames, n, 2);
  }
  return true;
}

void alloc_fault_set(unsigned long n) {
  atomic_store(&inited, 1);
  atomic_store(&calls, 0);
  atomic_store(&fail_at, n);
}

unsigned long alloc_fault_calls(void) { return atomic_load(&calls); }

void *__wrap_malloc(size_t n) {
  if (fail_now()) {
    errno = ENOMEM;
    return NULL;
  }
  return __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n) {
  if (fail_now()) {
    errno = ENOMEM;
    return NULL;
  }
  return __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n) {
  if (fail_now()) {
    errno = ENOMEM;
    return NULL;
  }
  return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s) {
  if (fail_now()) {
    errno = ENOMEM;
    return NULL;
  }
  return __real_strdup(s);
}

int __wrap_posix_memalign(void **p, size_t align, size_t n) {
  if (fail_now())
    return ENOMEM;
  return __real_posix_memalign(p, align, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n) {
  if (fail_now()) {
    errno = ENOMEM;
    return NULL;
  }
  return __real_aligned_alloc(align, n);
}

int __wrap_vasprintf(char **out, const char *fmt, va_list ap) {
  if (fail_now()) {
    errno = ENOMEM;
    return -1;
  }
  return __real_vasprintf(out, fmt, ap);
}

int __wrap_asprintf(char **out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = __wrap_vasprintf(out, fmt, ap);
  va_end(ap);
  return rc;
}
