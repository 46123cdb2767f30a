/*
 * criterion.h (shim) - the subset of Criterion's API our tests use, for the
 * ThreadSanitizer build only.
 *
 * Why: Criterion cannot start under TSan ("Could not initialize inheritable
 * arena: Resource temporarily unavailable"; upstream Snaipe/Criterion#274,
 * open since 2018): its BoxFort arena and TSan's memory layout collide.  So
 * the TSan build compiles the very same test sources against this header
 * (CMake puts tests/shim first on the include path and does not link
 * libcriterion), and every other build uses real Criterion.
 *
 * What it does: Test() registers a test through a constructor; main() runs
 * each test in a forked child (as Criterion does), with .init/.fini, a
 * .timeout enforced by alarm(), and .signal meaning "must die by this
 * signal".  A failed cr_assert_* prints the place and ends the child with
 * status 1; cr_expect_* prints and goes on, failing the test at the end.
 * TSan reports make the child exit 66 (its default), which fails the test.
 * The summary line has Criterion's form.
 */
#ifndef JFETCH_CRITERION_SHIM_H
#define JFETCH_CRITERION_SHIM_H

/* an assertion without a message expands to an empty format string */
#pragma GCC diagnostic ignored "-Wformat-zero-length"

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shim_test {
  const char *suite, *name;
  void (*fn)(void);
  void (*init)(void);
  void (*fini)(void);
  double timeout;
  int signal;
  int exit_code;
  bool disabled;
  const char *description;
  struct shim_test *next;
};

static struct shim_test *shim_tests, **shim_tail = &shim_tests;
static int shim_expect_failed;

static inline void shim_register(struct shim_test *t) {
  *shim_tail = t;
  shim_tail = &t->next;
}

#define Test(S_, N_, ...)                                                      \
  static void S_##_##N_##_impl(void);                                          \
  static struct shim_test S_##_##N_##_desc = {                                 \
      .suite = #S_, .name = #N_, .fn = S_##_##N_##_impl, __VA_ARGS__};         \
  __attribute__((constructor)) static void S_##_##N_##_reg(void) {             \
    shim_register(&S_##_##N_##_desc);                                          \
  }                                                                            \
  static void S_##_##N_##_impl(void)

__attribute__((format(printf, 5, 6))) static inline void
shim_fail(bool fatal, const char *file, int line, const char *expr,
          const char *fmt, ...) {
  fflush(stdout);
  fprintf(stderr, "[----] %s:%d: Assertion failed: %s", file, line, expr);
  if (fmt && *fmt) {
    va_list ap;
    va_start(ap, fmt);
    fputs(": ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
  }
  fputc('\n', stderr);
  fflush(stderr);
  if (fatal)
    _exit(1);
  shim_expect_failed = 1;
}

#define SHIM_CHECK_(fatal, cond, expr, ...)                                    \
  do {                                                                         \
    if (!(cond))                                                               \
      shim_fail(fatal, __FILE__, __LINE__, expr, "" __VA_ARGS__);              \
  } while (0)

#define cr_assert(c, ...) SHIM_CHECK_(1, (c), #c, __VA_ARGS__)
#define cr_assert_not(c, ...) SHIM_CHECK_(1, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_null(p, ...)                                                 \
  SHIM_CHECK_(1, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...)                                             \
  SHIM_CHECK_(1, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_eq(a, b, ...)                                                \
  SHIM_CHECK_(1, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...)                                               \
  SHIM_CHECK_(1, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...)                                                \
  SHIM_CHECK_(1, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...)                                               \
  SHIM_CHECK_(1, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...)                                                \
  SHIM_CHECK_(1, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...)                                               \
  SHIM_CHECK_(1, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...)                                            \
  SHIM_CHECK_(1, strcmp((a), (b)) == 0, #a " equals " #b, __VA_ARGS__)
#define cr_assert_fail(...) SHIM_CHECK_(1, 0, "failure", __VA_ARGS__)
#define cr_expect(c, ...) SHIM_CHECK_(0, (c), #c, __VA_ARGS__)
#define cr_expect_eq(a, b, ...)                                                \
  SHIM_CHECK_(0, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...)                                            \
  SHIM_CHECK_(0, strcmp((a), (b)) == 0, #a " equals " #b, __VA_ARGS__)

#define cr_log_info(...)                                                       \
  do {                                                                         \
    fprintf(stderr, "[----] ");                                                \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
  } while (0)

static inline int shim_run_child(struct shim_test *t) {
  if (t->timeout > 0)
    alarm((unsigned)t->timeout + 1);
  if (t->init)
    t->init();
  t->fn();
  if (t->fini)
    t->fini();
  fflush(stdout);
  fflush(stderr);
  return shim_expect_failed ? 1 : 0;
}

/* Runs one test in a child: 0 pass, 1 fail, 2 crash. */
static inline int shim_run(struct shim_test *t) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0)
    return 2;
  if (pid == 0)
    exit(shim_run_child(t));
  int st = 0;
  waitpid(pid, &st, 0);
  if (WIFSIGNALED(st)) {
    if (t->signal && WTERMSIG(st) == t->signal)
      return 0;
    fprintf(stderr, "[----] %s::%s: %s by signal %d\n", t->suite, t->name,
            WTERMSIG(st) == SIGALRM ? "timed out, killed" : "killed",
            WTERMSIG(st));
    return 2;
  }
  if (t->signal) {
    fprintf(stderr, "[----] %s::%s: expected signal %d, exited %d\n", t->suite,
            t->name, t->signal, WEXITSTATUS(st));
    return 1;
  }
  return WEXITSTATUS(st) == t->exit_code ? 0 : 1;
}

int main(int argc, char **argv) {
  const char *only = NULL; /* --filter suite::name substring */
  for (int i = 1; i < argc; i++)
    if (!strncmp(argv[i], "--filter=", 9))
      only = argv[i] + 9;
  int tested = 0, passed = 0, failed = 0, crashed = 0;
  for (struct shim_test *t = shim_tests; t; t = t->next) {
    char full[256];
    snprintf(full, sizeof(full), "%s::%s", t->suite, t->name);
    if (t->disabled || (only && !strstr(full, only)))
      continue;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int r = shim_run(t);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s =
        (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    tested++;
    passed += r == 0;
    failed += r == 1;
    crashed += r == 2;
    printf("[%s] %s: (%.2fs)\n",
           r == 0   ? "PASS"
           : r == 1 ? "FAIL"
                    : "CRASH",
           full, s);
    fflush(stdout);
  }
  printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | "
         "Crashing: %d \n",
         tested, passed, failed, crashed);
  return (failed || crashed) ? 1 : 0;
}

#endif
