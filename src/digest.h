/*
 * digest.h - message digests (SHA-256, SHA-512, MD5) through libcrypto's
 * EVP interface, incremental, several algorithms at once: a job may give
 * more than one digest and every one must match.
 */
#ifndef JFETCH_DIGEST_H
#define JFETCH_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum digest_alg { DIGEST_SHA256 = 0, DIGEST_SHA512, DIGEST_MD5, DIGEST_ALGS };

#define DIGEST_MAX 64 /* bytes in the longest digest (SHA-512) */
#define DIGEST_HEX_MAX (2 * DIGEST_MAX + 1)

/* An incremental digest over a set of algorithms (a bit mask of
 * 1u << enum digest_alg).  Not thread-safe: one thread at a time. */
typedef struct digest digest;

/* "sha256", "sha512", "md5". */
const char *digest_name(enum digest_alg a);
/* The digest's length in bytes: 32, 64, 16. */
size_t digest_size(enum digest_alg a);
/* The algorithm named by s[0..n) (lower or upper case, "SHA-256" too):
 * 0, or -1. */
int digest_from_name(const char *s, size_t n, enum digest_alg *out);
/* The algorithm whose hex digest has n digits: 0, or -1. */
int digest_from_hex_len(size_t n, enum digest_alg *out);

/* Starts a digest over algs (nonzero).  0, or -1 (out of memory, or
 * libcrypto refused an algorithm).  The caller frees with digest_destroy.
 * Cost: one EVP context per algorithm. */
int digest_create(unsigned algs, digest **out);
void digest_destroy(digest *d);
/* Starts over, as if just created.  0, or -1. */
int digest_reset(digest *d);
/* The algorithms d computes. */
unsigned digest_algs(const digest *d);
/* Hashes n more bytes.  0, or -1 (libcrypto failed). */
int digest_update(digest *d, const void *data, size_t n);
/* Bytes hashed so far. */
uint64_t digest_length(const digest *d);
/* Ends the digest: each algorithm's value into out[a] (digest_size(a)
 * bytes).  d may then only be reset or destroyed.  0, or -1. */
int digest_final(digest *d, uint8_t out[DIGEST_ALGS][DIGEST_MAX]);

/* Hashes bytes [from, to) of the file open on fd (pread; the file offset
 * is untouched).  0, or -1 with errno set (EIO from libcrypto, ENODATA if
 * the file ends before `to`).  Blocks on the file: a large range belongs
 * on the blocking pool. */
int digest_fd_range(digest *d, int fd, uint64_t from, uint64_t to);

/* Lower-case hex of n bytes into out[2n+1]. */
void digest_hex(const uint8_t *bytes, size_t n, char *out);
/* Exactly 2*digest_size(a) hex digits (either case) into out: 0, or -1. */
int digest_parse_hex(enum digest_alg a, const char *s, size_t n, uint8_t *out);

#endif
