/*
 * test_cli_sha256.c - sha256.c against the FIPS 180-4 examples (and the
 * padding edges 55/56/63/64/65/119/120 bytes, digests from Python's
 * hashlib), incremental updates split at every offset of a 131-byte
 * message, sha256_fd_prefix on a temporary file, and sha256_hex.
 */
#include "cli_test_util.h"

#include "sha256.h"

static void digest_hex(const void *data, size_t n, char out[65]) {
  struct sha256 s;
  uint8_t d[32];
  sha256_init(&s);
  sha256_update(&s, data, n);
  sha256_final(&s, d);
  sha256_hex(d, out);
}

static void expect(const char *msg, const char *want) {
  char hex[65];
  digest_hex(msg, strlen(msg), hex);
  cr_assert_str_eq(hex, want, "sha256(\"%.20s...\")", msg);
}

Test(sha256, fips_180_4_vectors, .timeout = T_SHORT) {
  expect("",
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  expect("abc",
         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  expect("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  expect("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
         "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

Test(sha256, one_million_a, .timeout = T_SHORT) {
  const char *want =
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  char *m = malloc(1000000);
  memset(m, 'a', 1000000);
  char hex[65];
  digest_hex(m, 1000000, hex);
  cr_assert_str_eq(hex, want);
  /* and in uneven pieces */
  struct sha256 s;
  uint8_t d[32];
  sha256_init(&s);
  size_t off = 0, step = 1;
  while (off < 1000000) {
    size_t k = step < 1000000 - off ? step : 1000000 - off;
    sha256_update(&s, m + off, k);
    off += k;
    step = step * 7 % 1013 + 1;
  }
  cr_assert_eq(s.len, 1000000);
  sha256_final(&s, d);
  sha256_hex(d, hex);
  cr_assert_str_eq(hex, want);
  free(m);
}

Test(sha256, padding_edges, .timeout = T_SHORT) {
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
  char a[128], hex[65];
  memset(a, 'a', sizeof(a));
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    digest_hex(a, v[i].n, hex);
    cr_assert_str_eq(hex, v[i].hex, "%zu bytes of 'a'", v[i].n);
  }
}

/* bytes (i*7+3) & 0xff, i = 0..130 */
#define MSG131_HEX                                                             \
  "4c14830d5f17552093a46de0f6884f8f3010789462dab3db3d1cc679575e01ad"

Test(sha256, split_at_every_offset, .timeout = T_SHORT) {
  uint8_t m[131];
  for (size_t i = 0; i < sizeof(m); i++)
    m[i] = (uint8_t)(i * 7 + 3);
  char hex[65];
  digest_hex(m, sizeof(m), hex);
  cr_assert_str_eq(hex, MSG131_HEX);
  for (size_t cut = 0; cut <= sizeof(m); cut++) {
    struct sha256 s;
    uint8_t d[32];
    sha256_init(&s);
    sha256_update(&s, m, cut);
    sha256_update(&s, m + cut, sizeof(m) - cut);
    sha256_final(&s, d);
    sha256_hex(d, hex);
    cr_assert_str_eq(hex, MSG131_HEX, "split at %zu", cut);
    /* three pieces: [0,cut) [cut,mid) [mid,131) */
    size_t mid = cut + (sizeof(m) - cut) / 3;
    sha256_init(&s);
    sha256_update(&s, m, cut);
    sha256_update(&s, m + cut, mid - cut);
    sha256_update(&s, m + mid, 0);
    sha256_update(&s, m + mid, sizeof(m) - mid);
    sha256_final(&s, d);
    sha256_hex(d, hex);
    cr_assert_str_eq(hex, MSG131_HEX, "split at %zu and %zu", cut, mid);
  }
  /* byte by byte */
  struct sha256 s;
  uint8_t d[32];
  sha256_init(&s);
  for (size_t i = 0; i < sizeof(m); i++)
    sha256_update(&s, m + i, 1);
  sha256_final(&s, d);
  sha256_hex(d, hex);
  cr_assert_str_eq(hex, MSG131_HEX);
}

Test(sha256, init_resets, .timeout = T_SHORT) {
  struct sha256 s;
  uint8_t d[32];
  char hex[65];
  sha256_init(&s);
  sha256_update(&s, "garbage", 7);
  sha256_init(&s);
  cr_assert_eq(s.len, 0);
  sha256_update(&s, "abc", 3);
  sha256_final(&s, d);
  sha256_hex(d, hex);
  cr_assert_str_eq(
      hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(sha256, fd_prefix, .timeout = T_SHORT) {
  int fds = tu_count_fds();
  size_t n = 200000;
  uint8_t *buf = malloc(n);
  for (size_t i = 0; i < n; i++)
    buf[i] = (uint8_t)(i * 31 + i / 256);
  char path[] = "/tmp/jfetch-sha-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  unlink(path);
  cr_assert_eq(write(fd, buf, n), (ssize_t)n);
  cr_assert_eq(lseek(fd, 7, SEEK_SET), 7);
  const uint64_t lens[] = {0,     1,     63,     64,     65535,
                           65536, 65537, 131072, 199999, 200000};
  for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
    struct sha256 s;
    uint8_t d[32];
    char got[65], want[65];
    sha256_init(&s);
    cr_assert_eq(sha256_fd_prefix(fd, lens[i], &s), 0, "%s", strerror(errno));
    cr_assert_eq(s.len, lens[i]);
    sha256_final(&s, d);
    sha256_hex(d, got);
    digest_hex(buf, (size_t)lens[i], want);
    cr_assert_str_eq(got, want, "prefix of %llu bytes",
                     (unsigned long long)lens[i]);
    cr_assert_eq(lseek(fd, 0, SEEK_CUR), 7, "the file offset moved");
  }
  /* continues a running hash: "xyz" then the file's first 1000 bytes */
  {
    struct sha256 s;
    uint8_t d[32];
    char got[65], want[65];
    uint8_t *cat = malloc(1003);
    memcpy(cat, "xyz", 3);
    memcpy(cat + 3, buf, 1000);
    sha256_init(&s);
    sha256_update(&s, "xyz", 3);
    cr_assert_eq(sha256_fd_prefix(fd, 1000, &s), 0);
    sha256_final(&s, d);
    sha256_hex(d, got);
    digest_hex(cat, 1003, want);
    cr_assert_str_eq(got, want);
    free(cat);
  }
  /* longer than the file: an error, EIO */
  struct sha256 s;
  sha256_init(&s);
  errno = 0;
  cr_assert_eq(sha256_fd_prefix(fd, n + 1, &s), -1);
  cr_assert_eq(errno, EIO, "errno %d", errno);
  close(fd);
  /* a bad descriptor: -1 with errno */
  sha256_init(&s);
  errno = 0;
  cr_assert_eq(sha256_fd_prefix(fd, 10, &s), -1);
  cr_assert_eq(errno, EBADF);
  cr_assert_eq(tu_count_fds(), fds);
  free(buf);
}

Test(sha256, hex, .timeout = T_SHORT) {
  uint8_t d[32];
  char out[66];
  for (int i = 0; i < 32; i++)
    d[i] = (uint8_t)(i * 8 + 7);
  memset(out, 'Z', sizeof(out));
  sha256_hex(d, out);
  cr_assert_str_eq(out, "070f171f272f373f474f575f676f777f"
                        "878f979fa7afb7bfc7cfd7dfe7eff7ff");
  cr_assert_eq(out[64], '\0');
  cr_assert_eq(out[65], 'Z', "wrote past out[64]");
  memset(d, 0, sizeof(d));
  sha256_hex(d, out);
  cr_assert_str_eq(out, "00000000000000000000000000000000"
                        "00000000000000000000000000000000");
  memset(d, 0xff, sizeof(d));
  d[0] = 0xab;
  d[31] = 0xcd;
  sha256_hex(d, out);
  cr_assert_str_eq(out, "abffffffffffffffffffffffffffffff"
                        "ffffffffffffffffffffffffffffffcd");
}
