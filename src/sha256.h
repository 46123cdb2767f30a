/*
 * sha256.h - SHA-256 (FIPS 180-4), incremental.  Used to verify a job's
 * "sha256" while its body streams to disk, so no second read is needed.
 */
#ifndef JFETCH_SHA256_H
#define JFETCH_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
  uint32_t h[8];
  uint64_t len; /* bytes hashed so far */
  uint8_t buf[64];
  size_t nbuf;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t n);
void sha256_final(struct sha256 *s, uint8_t out[32]);

/* Hashes the first `len` bytes of the file open on fd (pread; the file
 * offset is untouched).  0, or -1 with errno set. */
int sha256_fd_prefix(int fd, uint64_t len, struct sha256 *s);

/* Lower-case hex of 32 bytes into out[65]. */
void sha256_hex(const uint8_t d[32], char out[65]);

#endif
