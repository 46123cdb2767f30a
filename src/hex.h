/*
 * hex.h - hexadecimal digits, shared by percent-decoding, JSON \u escapes
 * and message digests (digest.c).
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

#endif
