/*
 * buf.c - the growable byte buffer used for input, output and replies.
 *
 * A buffer holds live bytes in p[off, len) so that consuming from the front
 * (a written response, an answered request) is O(1); the bytes slide back
 * to offset 0 only when more room is needed, or when the buffer empties.
 * Capacity doubles, so appending is amortised O(1).
 *
 * Allocation failure is sticky: `oom` is set and later appends do nothing.
 * Builders (a JSON body, a header block) append freely and check `oom`
 * once, instead of threading an error through every call.
 */
#include "faultsrv.h"

#include <stdlib.h>
#include <string.h>

int buf_reserve(struct buf *b, size_t extra) {
  if (b->oom)
    return -1;
  if (b->cap - b->len >= extra)
    return 0;
  if (b->off > 0) {
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    if (b->cap - b->len >= extra)
      return 0;
  }
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < extra) {
    if (cap > SIZE_MAX / 2) {
      b->oom = 1;
      return -1;
    }
    cap *= 2;
  }
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

void buf_append(struct buf *b, const void *data, size_t n) {
  if (n == 0 || buf_reserve(b, n) != 0)
    return;
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

void buf_puts(struct buf *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_printf(struct buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || buf_reserve(b, (size_t)n + 1) != 0)
    return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s[0, n), or 0 if there is none.
 * Rejects overlong forms, surrogates and code points past U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  unsigned cp = c & (0x3fu >> (len - 1));
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3fu);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

void buf_append_json(struct buf *b, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  buf_append(b, "\"", 1);
  size_t i = 0;
  while (i < n) {
    size_t run = i;
    while (run < n && u[run] >= 0x20 && u[run] < 0x7f && u[run] != '"' &&
           u[run] != '\\')
      run++;
    buf_append(b, s + i, run - i);
    if (run == n)
      break;
    i = run;
    unsigned c = u[i];
    size_t ul = c >= 0x80 ? utf8_len(u + i, n - i) : 0;
    if (ul) {
      buf_append(b, s + i, ul);
      i += ul;
      continue;
    }
    if (c == '"' || c == '\\')
      buf_printf(b, "\\%c", (int)c);
    else if (c == '\n')
      buf_puts(b, "\\n");
    else if (c == '\r')
      buf_puts(b, "\\r");
    else if (c == '\t')
      buf_puts(b, "\\t");
    else
      buf_printf(b, "\\u%04x", c);
    i++;
  }
  buf_append(b, "\"", 1);
}

void buf_consume(struct buf *b, size_t n) {
  b->off += n;
  if (b->off >= b->len)
    b->off = b->len = 0;
}

void buf_clear(struct buf *b, size_t keep) {
  b->off = b->len = 0;
  b->oom = 0;
  if (b->cap > keep) {
    free(b->p);
    b->p = NULL;
    b->cap = 0;
  }
}

void buf_free(struct buf *b) { buf_clear(b, 0); }
