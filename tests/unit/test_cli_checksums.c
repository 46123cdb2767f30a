/*
 * test_cli_checksums.c - checksums.c, --checksum: "sha256=HEX" (valid,
 * wrong length, non-hex), sha256sum files ("HEX  name", "HEX *name",
 * "./name", blank lines, CRLF), a bad line reported as FILE:LINE:COL,
 * sha512 and md5 (single, by length, tagged lines, ALGO=FILE), and
 * checksums_apply, which only fills algorithms a job has no digest of
 * and, for rel NULL (standard output), only from the single-digest form.
 */
#include "cli_test_util.h"

#include "checksums.h"

#define HEX_A "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HEX_B "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
#define HEX_C "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define HEX_D "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define HEX_E "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"

static void bytes_of(const char *hex, uint8_t out[32]) {
  cr_assert_eq(digest_parse_hex(DIGEST_SHA256, hex, strlen(hex), out), 0, "%s",
               hex);
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
static void applied_alg(const checksums *c, const char *rel, enum digest_alg a,
                        char *out) {
  struct job j;
  job_init(&j);
  checksums_apply(c, rel, &j);
  if (j.digests >> a & 1)
    digest_hex(j.digest[a], digest_size(a), out);
  else
    out[0] = '\0';
  job_free(&j);
}

static void applied(const checksums *c, const char *rel, char out[65]) {
  applied_alg(c, rel, DIGEST_SHA256, out);
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
  cr_assert(asprintf(&want, "%s:%u:", path, line) > 0);
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
    j.digests |= 1u << DIGEST_SHA256;
    memcpy(j.digest[DIGEST_SHA256], own, 32);
    checksums_apply(cs[i], "a.bin", &j);
    cr_assert(j.digests >> DIGEST_SHA256 & 1);
    cr_assert(memcmp(j.digest[DIGEST_SHA256], own, 32) == 0,
              "the job's own digest was "
              "replaced (%s)",
              i ? "single" : "list");
    checksums_apply(cs[i], NULL, &j);
    cr_assert(memcmp(j.digest[DIGEST_SHA256], own, 32) == 0);
  }
  /* NULL checksums: nothing happens */
  struct job j;
  job_init(&j);
  checksums_apply(NULL, "a.bin", &j);
  cr_assert_not(j.digests >> DIGEST_SHA256 & 1);
  /* and a job filled once keeps the first digest */
  checksums_apply(list, "a.bin", &j);
  checksums_apply(one, "a.bin", &j);
  bytes_of(HEX_A, want);
  cr_assert(memcmp(j.digest[DIGEST_SHA256], want, 32) == 0);
  checksums_free(list);
  checksums_free(one);
  unlink(path);
  free(path);
}

#define MD5_ABC "900150983cd24fb0d6963f7d28e17f72"
#define SHA512_ABC                                                             \
  "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"           \
  "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

static void expect_alg(const checksums *c, const char *rel, enum digest_alg a,
                       const char *hex) {
  char got[DIGEST_HEX_MAX];
  char *want = lower(hex);
  applied_alg(c, rel, a, got);
  cr_assert_str_eq(got, want, "%s of '%s'", digest_name(a),
                   rel ? rel : "(null)");
  free(want);
}

Test(checksums, single_digest_each_algorithm, .timeout = T_SHORT) {
  const struct {
    const char *arg;
    enum digest_alg a;
    const char *hex;
  } v[] = {{"sha512=" SHA512_ABC, DIGEST_SHA512, SHA512_ABC},
           {"md5=" MD5_ABC, DIGEST_MD5, MD5_ABC},
           {"MD5=" MD5_ABC, DIGEST_MD5, MD5_ABC},
           {"sha256=" HEX_A, DIGEST_SHA256, HEX_A}};
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    checksums *c = NULL;
    struct diag d = {{0}};
    cr_assert_eq(checksums_load(v[i].arg, &c, &d), 0, "%s", d.text);
    for (int a = 0; a < DIGEST_ALGS; a++)
      expect_alg(c, NULL, a, a == (int)v[i].a ? v[i].hex : "");
    checksums_free(c);
  }
  /* the length is the algorithm's: a sha256 length is no md5 */
  const char *bad[] = {"md5=" HEX_A, "sha512=" HEX_A, "md5=abc",
                       "sha512=" MD5_ABC};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    checksums *c = NULL;
    struct diag d = {{0}};
    cr_assert_eq(checksums_load(bad[i], &c, &d), -1, "'%s' accepted", bad[i]);
    cr_assert_not_null(strstr(d.text, bad[i]), "%s", d.text);
    cr_assert_not_null(strstr(d.text, "hex digits"), "%s", d.text);
  }
}

Test(checksums, mixed_list_by_length_and_tag, .timeout = T_SHORT) {
  char *path =
      sums_file(MD5_ABC "  a.bin\n" HEX_A "  a.bin\n" SHA512_ABC " *b.bin\n"
                        "SHA256 (c.bin) = " HEX_B "\n"
                        "MD5 (d (1).bin) = " MD5_ABC "\n"
                        "SHA2-512(./e.bin)= " SHA512_ABC "\n");
  checksums *c = NULL;
  struct diag d = {{0}};
  cr_assert_eq(checksums_load(path, &c, &d), 0, "%s", d.text);
  expect_alg(c, "a.bin", DIGEST_MD5, MD5_ABC);
  expect_alg(c, "a.bin", DIGEST_SHA256, HEX_A);
  expect_alg(c, "a.bin", DIGEST_SHA512, "");
  expect_alg(c, "b.bin", DIGEST_SHA512, SHA512_ABC);
  expect_alg(c, "b.bin", DIGEST_SHA256, "");
  expect_alg(c, "c.bin", DIGEST_SHA256, HEX_B);
  expect_alg(c, "d (1).bin", DIGEST_MD5, MD5_ABC);
  expect_alg(c, "e.bin", DIGEST_SHA512, SHA512_ABC);
  /* a job's own md5 stays; the list's sha256 is added beside it */
  struct job j;
  job_init(&j);
  j.digests = 1u << DIGEST_MD5;
  memset(j.digest[DIGEST_MD5], 0x11, 16);
  checksums_apply(c, "a.bin", &j);
  cr_assert_eq(j.digests, 1u << DIGEST_MD5 | 1u << DIGEST_SHA256);
  cr_assert_eq(j.digest[DIGEST_MD5][15], 0x11);
  job_free(&j);
  checksums_free(c);
  unlink(path);
  free(path);
}

Test(checksums, algo_file, .timeout = T_SHORT) {
  char *path = sums_file(MD5_ABC "  a.bin\n");
  char *arg = NULL, *sha_arg = NULL;
  cr_assert(asprintf(&arg, "md5=%s", path) > 0);
  cr_assert(asprintf(&sha_arg, "sha256=%s", path) > 0);
  checksums *c = NULL;
  struct diag d = {{0}};
  cr_assert_eq(checksums_load(arg, &c, &d), 0, "%s", d.text);
  expect_alg(c, "a.bin", DIGEST_MD5, MD5_ABC);
  checksums_free(c);
  /* sha256=FILE: an md5 line is wrong there, named with its column */
  c = (checksums *)0x1;
  cr_assert_eq(checksums_load(sha_arg, &c, &d), -1);
  cr_assert_eq(c, (checksums *)0x1);
  char *want = NULL;
  cr_assert(asprintf(&want, "%s:1:1: expected a sha256sum line", path) > 0);
  cr_assert_eq(strncmp(d.text, want, strlen(want)), 0, "%s", d.text);
  /* ALGO=FILE that does not exist names the whole argument */
  cr_assert_eq(checksums_load("md5=/nonexistent/SUMS", &c, &d), -1);
  cr_assert_not_null(strstr(d.text, "'md5=/nonexistent/SUMS'"), "%s", d.text);
  free(want);
  free(arg);
  free(sha_arg);
  unlink(path);
  free(path);
}

/* Loads text; asserts it fails at "PATH:line:col: " */
static void bad_at(const char *text, unsigned line, unsigned col) {
  char *path = sums_file(text);
  checksums *c = NULL;
  struct diag d = {{0}};
  cr_assert_eq(checksums_load(path, &c, &d), -1, "accepted:\n%s", text);
  char *want = NULL;
  cr_assert(asprintf(&want, "%s:%u:%u: ", path, line, col) > 0);
  cr_assert_eq(strncmp(d.text, want, strlen(want)), 0,
               "'%s' does not start with '%s'", d.text, want);
  free(want);
  unlink(path);
  free(path);
}

Test(checksums, bad_columns, .timeout = T_SHORT) {
  bad_at("0123  x\n", 1, 1);                   /* 4 digits: no algorithm */
  bad_at(MD5_ABC " x\n", 1, 34);               /* one space */
  bad_at(HEX_A "  a\n" HEX_A "  ./\n", 2, 69); /* empty name */
  bad_at("SHA1 (x) = " MD5_ABC "\n", 1, 1);    /* unknown tag */
  bad_at("MD5 (x) = " HEX_A "\n", 1, 11);      /* sha256 length under MD5 */
  bad_at("MD5 (x) " MD5_ABC "\n", 1, 1);       /* no '=' */
}
