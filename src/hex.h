/*
 * hex.h - hexadecimal digits, shared by percent-decoding, JSON \u escapes
 * and SHA-256 digests.
 */
#ifndef JFETCH_HEX_H
#define JFETCH_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The value of one hex digit (either case), or -1. */
static inline int hex_digit(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Exactly 64 hex digits into 32 bytes: 0, or -1 (out then undefined). */
static inline int hex_sha256(const char *s, size_t n, uint8_t out[32]) {
  if (n != 64)
    return -1;
  for (size_t i = 0; i < 32; i++) {
    int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return -1;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

#endif
