/*
 * test_cli_digest.c - digest.c (libcrypto EVP): known answers for each
 * algorithm (the empty string, "abc", the two-block FIPS message, a
 * million 'a's whole and in uneven pieces, a 131-byte message split at
 * every offset), SHA-256's padding edges (55..120 bytes, digests from
 * Python's hashlib), several algorithms at once, reset, digest_fd_range
 * on a temporary file, names, hex lengths, and hex in and out.
 */
#include "cli_test_util.h"

#include "digest.h"

#define MSG2 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"

struct kat {
  const char *empty, *abc, *two_block, *million, *msg131;
};

static const struct kat kats[DIGEST_ALGS] = {
    [DIGEST_SHA256] =
        {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
         "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
         "4c14830d5f17552093a46de0f6884f8f3010789462dab3db3d1cc679575e01ad"},
    [DIGEST_SHA512] =
        {"cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
         "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
         "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
         "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
         "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
         "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445",
         "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
         "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b",
         "e72371db34577988c8a668e6ed3104d2fdfcefc039296ab105f677358aba2e74"
         "2c26e9cea5f10ffd2f6b388cec9745b3a708be0bd2e36361a381490a9197ea5f"},
    [DIGEST_MD5] = {"d41d8cd98f00b204e9800998ecf8427e",
                    "900150983cd24fb0d6963f7d28e17f72",
                    "8215ef0796a20bcaaae116d3876c664a",
                    "7707d6ae4e027c70eea2a935c2296f21",
                    "ac4f81cb9d470ac167db2297e32b8385"},
};

/* The hex digest of d's algorithm a, after digest_final. */
static void final_hex(digest *d, enum digest_alg a, char *out) {
  uint8_t got[DIGEST_ALGS][DIGEST_MAX];
  cr_assert_eq(digest_final(d, got), 0);
  digest_hex(got[a], digest_size(a), out);
}

static void hex_of(enum digest_alg a, const void *m, size_t n, char *out) {
  digest *d = NULL;
  cr_assert_eq(digest_create(1u << a, &d), 0);
  cr_assert_eq(digest_update(d, m, n), 0);
  cr_assert_eq(digest_length(d), n);
  final_hex(d, a, out);
  digest_destroy(d);
}

static void msg131(uint8_t m[131]) {
  for (size_t i = 0; i < 131; i++)
    m[i] = (uint8_t)(i * 7 + 3);
}

Test(digest, known_answers, .timeout = T_SHORT) {
  char hex[DIGEST_HEX_MAX];
  uint8_t m[131];
  msg131(m);
  for (int a = 0; a < DIGEST_ALGS; a++) {
    const char *name = digest_name(a);
    hex_of(a, "", 0, hex);
    cr_assert_str_eq(hex, kats[a].empty, "%s(\"\")", name);
    hex_of(a, "abc", 3, hex);
    cr_assert_str_eq(hex, kats[a].abc, "%s(abc)", name);
    hex_of(a, MSG2, strlen(MSG2), hex);
    cr_assert_str_eq(hex, kats[a].two_block, "%s(two blocks)", name);
    hex_of(a, m, sizeof(m), hex);
    cr_assert_str_eq(hex, kats[a].msg131, "%s(131 bytes)", name);
    cr_assert_eq(strlen(hex), 2 * digest_size(a));
  }
}

Test(digest, one_million_a, .timeout = T_SHORT) {
  char *m = malloc(1000000), hex[DIGEST_HEX_MAX];
  memset(m, 'a', 1000000);
  for (int a = 0; a < DIGEST_ALGS; a++) {
    hex_of(a, m, 1000000, hex);
    cr_assert_str_eq(hex, kats[a].million, "%s", digest_name(a));
    /* and in uneven pieces */
    digest *d = NULL;
    cr_assert_eq(digest_create(1u << a, &d), 0);
    size_t off = 0, step = 1;
    while (off < 1000000) {
      size_t k = step < 1000000 - off ? step : 1000000 - off;
      cr_assert_eq(digest_update(d, m + off, k), 0);
      off += k;
      step = step * 7 % 1013 + 1;
    }
    cr_assert_eq(digest_length(d), 1000000);
    final_hex(d, a, hex);
    cr_assert_str_eq(hex, kats[a].million, "%s in pieces", digest_name(a));
    digest_destroy(d);
  }
  free(m);
}

Test(digest, sha256_padding_edges, .timeout = T_SHORT) {
  static const struct {
    size_t n;
    const char *hex;
  } v[] = {
      {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
      {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
      {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
      {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
      {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
  };
  char a[128], hex[DIGEST_HEX_MAX];
  memset(a, 'a', sizeof(a));
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    hex_of(DIGEST_SHA256, a, v[i].n, hex);
    cr_assert_str_eq(hex, v[i].hex, "%zu bytes of 'a'", v[i].n);
  }
}

Test(digest, split_at_every_offset, .timeout = T_SHORT) {
  uint8_t m[131];
  char hex[DIGEST_HEX_MAX];
  msg131(m);
  for (int a = 0; a < DIGEST_ALGS; a++)
    for (size_t cut = 0; cut <= sizeof(m); cut++) {
      /* three pieces: [0,cut) [cut,mid) [mid,131), and an empty one */
      size_t mid = cut + (sizeof(m) - cut) / 3;
      digest *d = NULL;
      cr_assert_eq(digest_create(1u << a, &d), 0);
      digest_update(d, m, cut);
      digest_update(d, m + cut, mid - cut);
      digest_update(d, m + mid, 0);
      digest_update(d, m + mid, sizeof(m) - mid);
      final_hex(d, a, hex);
      cr_assert_str_eq(hex, kats[a].msg131, "%s split at %zu and %zu",
                       digest_name(a), cut, mid);
      digest_destroy(d);
    }
}

Test(digest, all_at_once_and_reset, .timeout = T_SHORT) {
  digest *d = NULL;
  uint8_t got[DIGEST_ALGS][DIGEST_MAX];
  char hex[DIGEST_HEX_MAX];
  unsigned all = (1u << DIGEST_ALGS) - 1;
  cr_assert_eq(digest_create(all, &d), 0);
  cr_assert_eq(digest_algs(d), all);
  digest_update(d, "garbage", 7);
  cr_assert_eq(digest_reset(d), 0);
  cr_assert_eq(digest_length(d), 0);
  digest_update(d, "ab", 2);
  digest_update(d, "c", 1);
  cr_assert_eq(digest_final(d, got), 0);
  for (int a = 0; a < DIGEST_ALGS; a++) {
    digest_hex(got[a], digest_size(a), hex);
    cr_assert_str_eq(hex, kats[a].abc, "%s", digest_name(a));
  }
  /* reset after final starts a new digest */
  cr_assert_eq(digest_reset(d), 0);
  final_hex(d, DIGEST_MD5, hex);
  cr_assert_str_eq(hex, kats[DIGEST_MD5].empty);
  digest_destroy(d);
  digest_destroy(NULL);
  /* an empty set is refused, out untouched */
  d = (digest *)0x1;
  cr_assert_eq(digest_create(0, &d), -1);
  cr_assert_eq(d, (digest *)0x1);
}

/* The sha256 of buf[from, to), and digest_fd_range's, must agree. */
static void check_range(int fd, const uint8_t *buf, uint64_t from,
                        uint64_t to) {
  char got[DIGEST_HEX_MAX], want[DIGEST_HEX_MAX];
  digest *d = NULL;
  cr_assert_eq(digest_create(1u << DIGEST_SHA256, &d), 0);
  cr_assert_eq(digest_fd_range(d, fd, from, to), 0, "%s", strerror(errno));
  cr_assert_eq(digest_length(d), to - from);
  final_hex(d, DIGEST_SHA256, got);
  digest_destroy(d);
  hex_of(DIGEST_SHA256, buf + from, (size_t)(to - from), want);
  cr_assert_str_eq(got, want, "range %llu-%llu", (unsigned long long)from,
                   (unsigned long long)to);
  cr_assert_eq(lseek(fd, 0, SEEK_CUR), 7, "the file offset moved");
}

Test(digest, fd_range, .timeout = T_SHORT) {
  int fds = tu_count_fds();
  size_t n = 400000;
  uint8_t *buf = malloc(n);
  for (size_t i = 0; i < n; i++)
    buf[i] = (uint8_t)(i * 31 + i / 256);
  char path[] = "/tmp/jfetch-digest-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  unlink(path);
  cr_assert_eq(write(fd, buf, n), (ssize_t)n);
  cr_assert_eq(lseek(fd, 7, SEEK_SET), 7);
  const uint64_t lens[] = {0,      1,      63,     64,     65535, 131071,
                           131072, 131073, 262145, 399999, 400000};
  for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
    check_range(fd, buf, 0, lens[i]);
    check_range(fd, buf, lens[i] / 3, lens[i]);
  }
  /* past the end of the file: ENODATA */
  digest *d = NULL;
  cr_assert_eq(digest_create(1u << DIGEST_MD5, &d), 0);
  errno = 0;
  cr_assert_eq(digest_fd_range(d, fd, 0, n + 1), -1);
  cr_assert_eq(errno, ENODATA, "errno %d", errno);
  close(fd);
  /* a bad descriptor: -1 with errno */
  errno = 0;
  cr_assert_eq(digest_fd_range(d, fd, 0, 10), -1);
  cr_assert_eq(errno, EBADF);
  digest_destroy(d);
  cr_assert_eq(tu_count_fds(), fds);
  free(buf);
}

Test(digest, names_and_lengths, .timeout = T_SHORT) {
  enum digest_alg a;
  const struct {
    const char *s;
    int alg;
  } v[] = {{"sha256", DIGEST_SHA256},
           {"SHA256", DIGEST_SHA256},
           {"SHA-256", DIGEST_SHA256},
           {"SHA2-256", DIGEST_SHA256},
           {"sha512", DIGEST_SHA512},
           {"SHA2-512", DIGEST_SHA512},
           {"md5", DIGEST_MD5},
           {"MD5", DIGEST_MD5},
           {"sha1", -1},
           {"sha", -1},
           {"sha2566", -1},
           {"", -1}};
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    int rc = digest_from_name(v[i].s, strlen(v[i].s), &a);
    cr_assert_eq(rc, v[i].alg < 0 ? -1 : 0, "%s", v[i].s);
    if (!rc)
      cr_assert_eq((int)a, v[i].alg, "%s", v[i].s);
  }
  cr_assert_eq(digest_from_name("sha256=", 6, &a), 0, "a prefix of n");
  cr_assert_eq(digest_from_hex_len(32, &a), 0);
  cr_assert_eq(a, DIGEST_MD5);
  cr_assert_eq(digest_from_hex_len(64, &a), 0);
  cr_assert_eq(a, DIGEST_SHA256);
  cr_assert_eq(digest_from_hex_len(128, &a), 0);
  cr_assert_eq(a, DIGEST_SHA512);
  cr_assert_eq(digest_from_hex_len(40, &a), -1);
  cr_assert_eq(digest_from_hex_len(0, &a), -1);
}

Test(digest, hex_in_and_out, .timeout = T_SHORT) {
  uint8_t d[DIGEST_MAX], again[DIGEST_MAX];
  char hex[DIGEST_HEX_MAX], bad[DIGEST_HEX_MAX];
  for (int a = 0; a < DIGEST_ALGS; a++) {
    size_t n = 2 * digest_size(a);
    const char *k = kats[a].abc;
    cr_assert_eq(digest_parse_hex(a, k, n, d), 0);
    digest_hex(d, digest_size(a), hex);
    cr_assert_str_eq(hex, k);
    for (size_t i = 0; i < n; i++) /* upper case too */
      bad[i] = (char)(k[i] >= 'a' ? k[i] - 32 : k[i]);
    cr_assert_eq(digest_parse_hex(a, bad, n, again), 0);
    cr_assert(!memcmp(d, again, digest_size(a)));
    cr_assert_eq(digest_parse_hex(a, k, n - 1, d), -1);
    cr_assert_eq(digest_parse_hex(a, k, n + 1, d), -1);
    cr_assert_eq(digest_parse_hex(a, "", 0, d), -1);
    for (size_t pos = 0; pos < n; pos += 7) {
      memcpy(bad, k, n);
      bad[pos] = 'g';
      cr_assert_eq(digest_parse_hex(a, bad, n, d), -1, "'g' at %zu", pos);
      bad[pos] = ' ';
      cr_assert_eq(digest_parse_hex(a, bad, n, d), -1, "' ' at %zu", pos);
    }
  }
  const uint8_t b[] = {0x00, 0x0f, 0xf0, 0xff, 0xa5};
  digest_hex(b, sizeof(b), hex);
  cr_assert_str_eq(hex, "000ff0ffa5");
}
