/*
 * test_cli_checksums.c - checksums.c, --checksum: "sha256=HEX" (valid,
 * wrong length, non-hex), sha256sum files ("HEX  name", "HEX *name",
 * "./name", blank lines, CRLF), a bad line reported as FILE:LINE, and
 * checksums_apply, which only fills jobs without a digest of their own
 * and, for rel NULL (standard output), only from the single-digest form.
 */
#include "cli_test_util.h"

#include "checksums.h"
#include "sha256.h"

#define HEX_A "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HEX_B "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
#define HEX_C "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define HEX_D "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define HEX_E "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"

static void bytes_of(const char *hex, uint8_t out[32]) {
  cr_assert_eq(checksums_parse_hex(hex, strlen(hex), out), 0, "%s", hex);
}

/* A temporary sha256sum file holding text; returns its path. */
static char *sums_file(const char *text) {
  char *path = strdup("/tmp/jfetch-sums-XXXXXX");
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return path;
}

/* The digest apply gives a fresh job for rel, as hex; "" if none. */
static void applied(const checksums *c, const char *rel, char out[65]) {
  struct job j;
  job_init(&j);
  checksums_apply(c, rel, &j);
  if (j.has_sha256)
    sha256_hex(j.sha256, out);
  else
    out[0] = '\0';
  job_free(&j);
}

static char *lower(const char *s) {
  char *d = strdup(s);
  for (char *p = d; *p; p++)
    if (*p >= 'A' && *p <= 'F')
      *p = (char)(*p - 'A' + 'a');
  return d;
}

static void expect_applied(const checksums *c, const char *rel,
                           const char *hex) {
  char got[65];
  char *want = lower(hex);
  applied(c, rel, got);
  cr_assert_str_eq(got, want, "rel '%s'", rel ? rel : "(null)");
  free(want);
}
#define EXPECT_APPLIED expect_applied

Test(checksums, parse_hex, .timeout = T_SHORT) {
  uint8_t d[32];
  cr_assert_eq(checksums_parse_hex(HEX_E, 64, d), 0);
  for (int i = 0; i < 16; i++) {
    cr_assert_eq(d[i], (uint8_t)(i * 0x11), "byte %d", i);
    cr_assert_eq(d[16 + i], (uint8_t)(i * 0x11), "byte %d", 16 + i);
  }
  cr_assert_eq(checksums_parse_hex(HEX_A, 63, d), -1);
  cr_assert_eq(checksums_parse_hex(HEX_A "0", 65, d), -1);
  cr_assert_eq(checksums_parse_hex("", 0, d), -1);
  char bad[65];
  for (int pos = 0; pos < 64; pos += 7) {
    memcpy(bad, HEX_A, 65);
    bad[pos] = 'g';
    cr_assert_eq(checksums_parse_hex(bad, 64, d), -1, "'g' at %d", pos);
    bad[pos] = ' ';
    cr_assert_eq(checksums_parse_hex(bad, 64, d), -1, "' ' at %d", pos);
  }
  memcpy(bad, HEX_A, 65);
  bad[63] = '\0';
  cr_assert_eq(checksums_parse_hex(bad, 64, d), -1, "NUL accepted");
}

Test(checksums, single_digest, .timeout = T_SHORT) {
  checksums *c = NULL;
  struct diag d = {{0}};
  cr_assert_eq(checksums_load("sha256=" HEX_B, &c, &d), 0, "%s", d.text);
  cr_assert_not_null(c);
  EXPECT_APPLIED(c, "any/name.bin", HEX_B);
  EXPECT_APPLIED(c, "other", HEX_B);
  EXPECT_APPLIED(c, NULL, HEX_B);
  checksums_free(c);
  checksums_free(NULL);
}

Test(checksums, single_digest_refused, .timeout = T_SHORT) {
  const char *bad[] = {
      "sha256=",
      "sha256=" HEX_A "0",
      "sha256=abc",
      "sha256="
      "zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      "sha256= "
      "a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  };
  char short_[7 + 63 + 1];
  snprintf(short_, sizeof(short_), "sha256=%.63s", HEX_A);
  for (size_t i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
    const char *arg = i < sizeof(bad) / sizeof(bad[0]) ? bad[i] : short_;
    checksums *c = (checksums *)0x1;
    struct diag d = {{0}};
    cr_assert_eq(checksums_load(arg, &c, &d), -1, "'%s' accepted", arg);
    cr_assert_eq(c, (checksums *)0x1, "*out written on failure");
    cr_assert_not_null(strstr(d.text, "--checksum"), "%s", d.text);
    cr_assert_not_null(strstr(d.text, arg), "%s", d.text);
  }
}

Test(checksums, sha256sum_file, .timeout = T_SHORT) {
  char *path =
      sums_file(HEX_A "  a.bin\n"
                      "\n" HEX_B " *b.bin\n" HEX_C "  ./c/d.bin\n"
                      "\r\n" HEX_D "  e.bin\r\n" HEX_E "  my file.bin\n" HEX_C
                      "  a.bin\n" /* repeated: first one wins */
                      "\n");
  checksums *c = NULL;
  struct diag d = {{0}};
  cr_assert_eq(checksums_load(path, &c, &d), 0, "%s", d.text);
  EXPECT_APPLIED(c, "a.bin", HEX_A);
  EXPECT_APPLIED(c, "b.bin", HEX_B);
  EXPECT_APPLIED(c, "c/d.bin", HEX_C);
  EXPECT_APPLIED(c, "e.bin", HEX_D);
  EXPECT_APPLIED(c, "my file.bin", HEX_E);
  /* not listed, or not the same path */
  EXPECT_APPLIED(c, "z.bin", "");
  EXPECT_APPLIED(c, "d.bin", "");
  EXPECT_APPLIED(c, "./c/d.bin", "");
  EXPECT_APPLIED(c, "*b.bin", "");
  EXPECT_APPLIED(c, "A.BIN", "");
  /* standard output: a list has nothing to match */
  EXPECT_APPLIED(c, NULL, "");
  checksums_free(c);
  unlink(path);
  free(path);
}

Test(checksums, empty_file, .timeout = T_SHORT) {
  char *path = sums_file("");
  checksums *c = NULL;
  struct diag d = {{0}};
  cr_assert_eq(checksums_load(path, &c, &d), 0, "%s", d.text);
  EXPECT_APPLIED(c, "a.bin", "");
  checksums_free(c);
  unlink(path);
  free(path);
}

Test(checksums, many_names, .timeout = T_SHORT) {
  size_t n = 5000;
  char *text = malloc(n * 90), *p = text;
  for (size_t i = 0; i < n; i++)
    p += sprintf(p, "%064zx  f/%zu\n", i, i);
  char *path = sums_file(text);
  checksums *c = NULL;
  struct diag d = {{0}};
  cr_assert_eq(checksums_load(path, &c, &d), 0, "%s", d.text);
  for (size_t i = 0; i < n; i += 499) {
    char rel[32], want[65];
    snprintf(rel, sizeof(rel), "f/%zu", i);
    snprintf(want, sizeof(want), "%064zx", i);
    EXPECT_APPLIED(c, rel, want);
  }
  checksums_free(c);
  unlink(path);
  free(path);
  free(text);
}

/* Loads text as a file; asserts it fails with "PATH:line: ..." */
static void bad_file(const char *text, unsigned line) {
  char *path = sums_file(text);
  checksums *c = (checksums *)0x1;
  struct diag d = {{0}};
  cr_assert_eq(checksums_load(path, &c, &d), -1, "accepted:\n%s", text);
  cr_assert_eq(c, (checksums *)0x1);
  char *want = NULL;
  cr_assert(asprintf(&want, "%s:%u: ", path, line) > 0);
  cr_assert_eq(strncmp(d.text, want, strlen(want)), 0,
               "'%s' does not start with '%s'", d.text, want);
  cr_assert_not_null(strstr(d.text, "sha256sum"), "%s", d.text);
  free(want);
  unlink(path);
  free(path);
}

Test(checksums, bad_lines_named, .timeout = T_SHORT) {
  bad_file("nothex  x\n", 1);
  bad_file(HEX_A "  a\n\n" HEX_B "\n", 3);   /* no name */
  bad_file(HEX_A "  a\n" HEX_B " b\n", 2);   /* one space */
  bad_file(HEX_A "  a\n" HEX_B "\tb\n", 2);  /* a tab */
  bad_file(HEX_A "  a\n" HEX_B "  \n", 2);   /* empty name */
  bad_file(HEX_A "  a\n" HEX_B "  ./\n", 2); /* only "./" */
  bad_file(HEX_A "0  a\n", 1);               /* 65 digits */
  bad_file("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f200"
           "15a  a\n",
           1); /* 63 digits */
  bad_file("zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f200"
           "15ad  a\n",
           1); /* not hex */
  bad_file("\n\n\n\n# a comment\n", 5);
  bad_file("   \n", 1); /* only spaces is not blank */
}

Test(checksums, missing_file, .timeout = T_SHORT) {
  checksums *c = (checksums *)0x1;
  struct diag d = {{0}};
  cr_assert_eq(checksums_load("/nonexistent/jfetch/SUMS", &c, &d), -1);
  cr_assert_eq(c, (checksums *)0x1);
  cr_assert_not_null(strstr(d.text, "--checksum"), "%s", d.text);
  cr_assert_not_null(strstr(d.text, "/nonexistent/jfetch/SUMS"), "%s", d.text);
  cr_assert_not_null(strstr(d.text, strerror(ENOENT)), "%s", d.text);
}

Test(checksums, job_digest_wins, .timeout = T_SHORT) {
  char *path = sums_file(HEX_A "  a.bin\n");
  checksums *list = NULL, *one = NULL;
  struct diag d = {{0}};
  cr_assert_eq(checksums_load(path, &list, &d), 0, "%s", d.text);
  cr_assert_eq(checksums_load("sha256=" HEX_B, &one, &d), 0, "%s", d.text);
  uint8_t own[32], want[32];
  bytes_of(HEX_C, own);
  const checksums *cs[] = {list, one};
  for (int i = 0; i < 2; i++) {
    struct job j;
    job_init(&j);
    j.has_sha256 = true;
    memcpy(j.sha256, own, 32);
    checksums_apply(cs[i], "a.bin", &j);
    cr_assert(j.has_sha256);
    cr_assert(memcmp(j.sha256, own, 32) == 0,
              "the job's own digest was "
              "replaced (%s)",
              i ? "single" : "list");
    checksums_apply(cs[i], NULL, &j);
    cr_assert(memcmp(j.sha256, own, 32) == 0);
  }
  /* NULL checksums: nothing happens */
  struct job j;
  job_init(&j);
  checksums_apply(NULL, "a.bin", &j);
  cr_assert_not(j.has_sha256);
  /* and a job filled once keeps the first digest */
  checksums_apply(list, "a.bin", &j);
  checksums_apply(one, "a.bin", &j);
  bytes_of(HEX_A, want);
  cr_assert(memcmp(j.sha256, want, 32) == 0);
  checksums_free(list);
  checksums_free(one);
  unlink(path);
  free(path);
}
