/*
 * fuzz_naming.c - libFuzzer target: file names from URLs and the check of
 * relative output paths, the two gates between a job file and the disk.
 *
 * Properties: a name derived from a URL is one path component (no '/',
 * no '\\', no NUL or control byte, not "." or "..", at most 255 bytes);
 * a path output_check_relpath accepts is relative and has no empty, "."
 * or ".." component.  A violation aborts, which libFuzzer reports.
 */
#include "output.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_name(const char *n) {
  size_t len = strlen(n);
  if (!len || len > NAME_MAX || !strcmp(n, ".") || !strcmp(n, ".."))
    abort();
  for (const unsigned char *p = (const unsigned char *)n; *p; p++)
    if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\')
      abort();
}

static void check_relpath(const char *p) {
  if (p[0] == '/')
    abort();
  const char *seg = p;
  for (const char *c = p;; c++) {
    if (*c == '/' || !*c) {
      size_t n = (size_t)(c - seg);
      if (!n || (n == 1 && seg[0] == '.') ||
          (n == 2 && seg[0] == '.' && seg[1] == '.'))
        abort();
      if (!*c)
        return;
      seg = c + 1;
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  const char *why;
  char *name = output_name_from_url(s, &why);
  if (name) {
    check_name(name);
    free(name);
  } else if (!why) {
    abort();
  }
  if (output_check_relpath(s, &why) == 0)
    check_relpath(s);
  free(s);
  return 0;
}
