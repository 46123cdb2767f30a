/*
 * test_cli_seen.c - seen.c, the exact string set behind duplicate
 * detection: add and find, a repeated key answering with the first tag,
 * 200,000 keys through many doublings, keys longer than an arena chunk
 * (64 KiB), and keys that differ only in their last byte.
 */
#include "cli_test_util.h"

#include "seen.h"

#include <inttypes.h>

/* Asserts key is in s, with tag want. */
static void expect_tag(seen *s, const char *key, uint64_t want) {
  uint64_t tag = 0;
  cr_assert_eq(seen_find(s, key, &tag), 1, "%.40s not found", key);
  cr_assert_eq(tag, want, "%.40s: tag %" PRIu64, key, tag);
}

Test(seen, add_and_find, .timeout = T_SHORT) {
  seen *s = seen_create();
  cr_assert_not_null(s);
  uint64_t tag = 99, first = 99;
  cr_assert_eq(seen_find(s, "a", &tag), 0);
  cr_assert_eq(tag, 99, "tag written for a missing key");
  cr_assert_eq(seen_add(s, "a", 1, &first), 0);
  cr_assert_eq(first, 99, "first written for a new key");
  cr_assert_eq(seen_add(s, "b", 2, NULL), 0);
  cr_assert_eq(seen_add(s, "", 3, NULL), 0);
  cr_assert_eq(seen_add(s, "ab", 4, NULL), 0);
  expect_tag(s, "a", 1);
  expect_tag(s, "b", 2);
  expect_tag(s, "", 3);
  expect_tag(s, "ab", 4);
  cr_assert_eq(seen_find(s, "ab", NULL), 1);
  cr_assert_eq(seen_find(s, "A", &tag), 0, "keys are case-sensitive");
  cr_assert_eq(seen_find(s, "abc", NULL), 0);
  cr_assert_eq(seen_find(s, "c", NULL), 0);
  seen_destroy(s);
  seen_destroy(NULL);
}

Test(seen, duplicate_keeps_first_tag, .timeout = T_SHORT) {
  seen *s = seen_create();
  uint64_t first = 0;
  cr_assert_eq(seen_add(s, "out/x.bin", 7, &first), 0);
  cr_assert_eq(seen_add(s, "out/x.bin", 8, &first), 1);
  cr_assert_eq(first, 7);
  cr_assert_eq(seen_add(s, "out/x.bin", 9, &first), 1);
  cr_assert_eq(first, 7, "a later duplicate replaced the first tag");
  cr_assert_eq(seen_add(s, "out/x.bin", 10, NULL), 1);
  expect_tag(s, "out/x.bin", 7);
  /* the caller's buffer may change after the add: the key was copied */
  char buf[16];
  strcpy(buf, "key");
  cr_assert_eq(seen_add(s, buf, UINT64_MAX, NULL), 0);
  strcpy(buf, "zzz");
  expect_tag(s, "key", UINT64_MAX);
  cr_assert_eq(seen_find(s, "zzz", NULL), 0);
  seen_destroy(s);
}

Test(seen, many_keys_with_growth, .timeout = T_LONG) {
  enum { N = 200000 };
  seen *s = seen_create();
  char key[64];
  for (uint64_t i = 0; i < N; i++) {
    snprintf(key, sizeof(key), "dir/%" PRIu64 "/file-%" PRIu64 ".bin", i % 97,
             i);
    TU_CHECK(seen_add(s, key, i * 3, NULL) == 0, "add %s", key);
  }
  for (uint64_t i = 0; i < N; i++) {
    uint64_t tag = 0, first = 0;
    snprintf(key, sizeof(key), "dir/%" PRIu64 "/file-%" PRIu64 ".bin", i % 97,
             i);
    TU_CHECK(seen_find(s, key, &tag) == 1, "%s lost", key);
    TU_CHECK(tag == i * 3, "%s: tag %" PRIu64, key, tag);
    TU_CHECK(seen_add(s, key, 1, &first) == 1, "%s added twice", key);
    TU_CHECK(first == i * 3, "%s: first %" PRIu64, key, first);
    /* near misses are absent */
    snprintf(key, sizeof(key), "dir/%" PRIu64 "/file-%" PRIu64 ".bin",
             (i + 1) % 97, i);
    TU_CHECK(seen_find(s, key, NULL) == 0, "%s found", key);
  }
  seen_destroy(s);
}

Test(seen, keys_longer_than_a_chunk, .timeout = T_SHORT) {
  size_t n = 100000; /* > 64 KiB */
  char *a = malloc(n + 1), *b = malloc(n + 1);
  memset(a, 'k', n);
  a[n] = '\0';
  memcpy(b, a, n + 1);
  b[n - 1] = 'j'; /* differs only in the last byte */
  seen *s = seen_create();
  uint64_t tag = 0;
  cr_assert_eq(seen_add(s, "small-before", 1, NULL), 0);
  cr_assert_eq(seen_add(s, a, 2, NULL), 0);
  cr_assert_eq(seen_add(s, b, 3, NULL), 0);
  cr_assert_eq(seen_add(s, "small-after", 4, NULL), 0);
  /* exactly one chunk's worth with its NUL, then more */
  size_t c = 64 * 1024 - 1;
  char *e = malloc(c + 1);
  memset(e, 'e', c);
  e[c] = '\0';
  cr_assert_eq(seen_add(s, e, 5, NULL), 0);
  for (int i = 0; i < 1000; i++) {
    char k[32];
    snprintf(k, sizeof(k), "k%d", i);
    TU_CHECK(seen_add(s, k, 100 + (uint64_t)i, NULL) == 0, "add %s", k);
  }
  expect_tag(s, a, 2);
  expect_tag(s, b, 3);
  expect_tag(s, e, 5);
  expect_tag(s, "small-before", 1);
  expect_tag(s, "small-after", 4);
  expect_tag(s, "k999", 1099);
  cr_assert_eq(seen_add(s, a, 9, &tag), 1);
  cr_assert_eq(tag, 2);
  a[n - 1] = 'x';
  cr_assert_eq(seen_find(s, a, NULL), 0);
  a[n / 2] = '\0'; /* a prefix of a stored key */
  cr_assert_eq(seen_find(s, a, NULL), 0);
  seen_destroy(s);
  free(e);
  free(a);
  free(b);
}
