/*
 * cli_test_util.h - small helpers shared by the CLI's Criterion tests
 * (tests/unit/test_cli_*.c): temporary directories removed afterwards,
 * whole-file reads and writes, an in-memory FILE, standard output
 * captured into a string, and an open-descriptor count so that a test
 * can end by checking that it left no descriptor open (STYLE.md "Tests").
 *
 * Helpers assert with Criterion, so call them on the test thread only.
 */
#ifndef CLI_TEST_UTIL_H
#define CLI_TEST_UTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TU_UNUSED __attribute__((unused))

/* Criterion timeouts, in seconds (the sanitizer builds are slower). */
#define T_SHORT 10
#define T_LONG 60

/* An assertion for hot loops: ctest runs the tests with --full-stats, which
 * reports every passing cr_assert to the runner, so a loop of a million
 * asserts takes minutes.  This one costs nothing until it fails. */
#define TU_CHECK(cond, ...)                                                    \
  do {                                                                         \
    if (!(cond))                                                               \
      cr_assert_fail(__VA_ARGS__);                                             \
  } while (0)

/* Open descriptors of this process (the /proc listing's own excluded). */
static TU_UNUSED int tu_count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  cr_assert_not_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1;
}

/* A new empty directory under /tmp; returns a malloc'd path. */
static TU_UNUSED char *tu_mkdtemp(void) {
  char *p = strdup("/tmp/jfetch-cli-test-XXXXXX");
  cr_assert_not_null(p);
  cr_assert_not_null(mkdtemp(p), "mkdtemp: %s", strerror(errno));
  return p;
}

static int tu_rm_one(const char *p, const struct stat *st, int flag,
                     struct FTW *ftw) {
  (void)st;
  (void)ftw;
  return flag == FTW_DP ? rmdir(p) : unlink(p);
}

/* rm -rf without following links; frees path. */
static TU_UNUSED void tu_rm_rf(char *path) {
  if (!path)
    return;
  nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(path);
}

/* dir + "/" + rel, malloc'd. */
static TU_UNUSED char *tu_join(const char *dir, const char *rel) {
  char *p = NULL;
  cr_assert(asprintf(&p, "%s/%s", dir, rel) > 0);
  return p;
}

/* The whole file at path (NUL-terminated, malloc'd), or NULL if it cannot
 * be opened; *len gets its size when len is not NULL. */
static TU_UNUSED char *tu_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (cap - n < 4096) {
      cap = cap ? cap * 2 : 8192;
      buf = realloc(buf, cap);
      cr_assert_not_null(buf);
    }
    size_t r = fread(buf + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0)
      break;
  }
  fclose(f);
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

static TU_UNUSED void tu_write_file(const char *path, const void *data,
                                    size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
  cr_assert_eq(fwrite(data, 1, n, f), n);
  cr_assert_eq(fclose(f), 0);
}

/* Entries in directory path other than "." and "..". */
static TU_UNUSED int tu_count_entries(const char *path) {
  DIR *d = opendir(path);
  cr_assert_not_null(d, "opendir %s: %s", path, strerror(errno));
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

/* lstat's file type of path: 'f', 'd', 'l', '?' or 0 if it is absent. */
static TU_UNUSED char tu_kind(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return 0;
  return S_ISREG(st.st_mode)   ? 'f'
         : S_ISDIR(st.st_mode) ? 'd'
         : S_ISLNK(st.st_mode) ? 'l'
                               : '?';
}

/* An in-memory FILE: write to ms.f, then tu_mem_close to get the text. */
struct tu_mem {
  FILE *f;
  char *buf;
  size_t len;
};

static TU_UNUSED void tu_mem_open(struct tu_mem *m) {
  m->buf = NULL;
  m->len = 0;
  m->f = open_memstream(&m->buf, &m->len);
  cr_assert_not_null(m->f);
}

/* Closes the stream; returns the text (malloc'd, caller frees). */
static TU_UNUSED char *tu_mem_close(struct tu_mem *m) {
  cr_assert_eq(fclose(m->f), 0);
  m->f = NULL;
  return m->buf;
}

/* Standard output redirected into a temporary file until tu_stdout_end. */
struct tu_capture {
  int saved;
  FILE *tmp;
};

static TU_UNUSED void tu_stdout_begin(struct tu_capture *c) {
  fflush(stdout);
  c->tmp = tmpfile();
  cr_assert_not_null(c->tmp);
  c->saved = dup(STDOUT_FILENO);
  cr_assert(c->saved >= 0);
  cr_assert(dup2(fileno(c->tmp), STDOUT_FILENO) >= 0);
}

/* Restores standard output; returns what was written (malloc'd). */
static TU_UNUSED char *tu_stdout_end(struct tu_capture *c) {
  fflush(stdout);
  cr_assert(dup2(c->saved, STDOUT_FILENO) >= 0);
  close(c->saved);
  off_t end = lseek(fileno(c->tmp), 0, SEEK_END);
  cr_assert(end >= 0);
  char *buf = malloc((size_t)end + 1);
  cr_assert_not_null(buf);
  cr_assert_eq(pread(fileno(c->tmp), buf, (size_t)end, 0), end);
  buf[end] = '\0';
  fclose(c->tmp);
  return buf;
}

/* Occurrences of needle in hay. */
static TU_UNUSED int tu_count_str(const char *hay, const char *needle) {
  int n = 0;
  size_t l = strlen(needle);
  for (const char *p = hay; (p = strstr(p, needle)); p += l)
    n++;
  return n;
}

#endif
