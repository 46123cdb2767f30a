/*
 * jobs_json_scan.c - the position scanner: one iterative pass over a JSON
 * text that checks it against RFC 8259 and records where every value and
 * every object key starts, for jobs_json.c's messages.
 *
 * Output: one jobs_jnode per JSON value, in document order (pre-order):
 * the byte offset of the value, the offset of its key if it is an object
 * member (JOBS_JNOKEY if not), and `skip`, the index of the first node
 * after its subtree.  A container's first child is its index + 1 and its
 * next sibling is `skip`; cJSON links its tree in the same order, so the
 * k-th node of a pre-order walk of the cJSON tree is the k-th jnode.
 *
 * Iteration, not recursion: a grammar state (enum jexpect) says what may
 * come next, and a growable stack holds the open containers' node
 * indices.  Nesting depth costs 4 bytes a level, never C stack.
 *
 * What it refuses that cJSON takes: NUL bytes and other control bytes
 * outside strings (cJSON skips any byte <= 32 as blank), raw control
 * characters in strings, "\u0000" (cJSON would cut the C string), lone
 * surrogate escapes, invalid UTF-8 (overlong, surrogates, > U+10FFFF, cut
 * short: jobs_utf8_seq), and numbers such as "01", "1.", "1.e5".
 *
 * Costs: O(len) time; 12 bytes per value plus the stack.  The arrays are
 * kept between runs (JSON Lines reuse them line after line) and freed by
 * jobs_json_scan_free.  Offsets are 32-bit: texts are capped at
 * JOBS_MAX_JSON (1 GiB).
 */
#include "hex.h"
#include "jobs_internal.h"

#include <stdlib.h>
#include <string.h>

static int jscan_fail(struct jobs_jscan *sc, size_t at, const char *why) {
  sc->err = at;
  sc->why = why;
  return -1;
}

static int jscan_add(struct jobs_jscan *sc, size_t key, size_t at) {
  if (sc->len == sc->cap) {
    size_t cap = sc->cap ? sc->cap * 2 : 64;
    struct jobs_jnode *n = realloc(sc->n, cap * sizeof(*n));
    if (!n)
      return jscan_fail(sc, at, "out of memory");
    sc->n = n;
    sc->cap = cap;
  }
  sc->n[sc->len].key = (uint32_t)key;
  sc->n[sc->len].val = (uint32_t)at;
  sc->n[sc->len].skip = (uint32_t)(sc->len + 1);
  sc->len++;
  return 0;
}

static int jscan_push(struct jobs_jscan *sc, size_t at) {
  if (sc->depth == sc->scap) {
    size_t cap = sc->scap ? sc->scap * 2 : 32;
    uint32_t *st = realloc(sc->stack, cap * sizeof(*st));
    if (!st)
      return jscan_fail(sc, at, "out of memory");
    sc->stack = st;
    sc->scap = cap;
  }
  sc->stack[sc->depth++] = (uint32_t)(sc->len - 1);
  return 0;
}

static int jscan_open_is(const struct jobs_jscan *sc, const unsigned char *t,
                         unsigned char c) {
  return sc->depth && t[sc->n[sc->stack[sc->depth - 1]].val] == c;
}

static int jscan_close(struct jobs_jscan *sc, const unsigned char *t,
                       size_t p) {
  if (!jscan_open_is(sc, t, t[p] == '}' ? '{' : '['))
    return jscan_fail(sc, p, "unexpected closing bracket");
  sc->n[sc->stack[--sc->depth]].skip = (uint32_t)sc->len;
  return 0;
}

static int jscan_ws(struct jobs_jscan *sc, const unsigned char *t, size_t len,
                    size_t *p) {
  for (; *p < len; (*p)++) {
    unsigned char c = t[*p];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
      continue;
    if (c < 0x20)
      return jscan_fail(sc, *p, c ? "control character" : "NUL byte");
    break;
  }
  return 0;
}

static long jscan_hex4(const unsigned char *t, size_t len, size_t p) {
  long v = 0;

  if (len - p < 4)
    return -1;
  for (size_t i = p; i < p + 4; i++) {
    int d = hex_digit((unsigned char)t[i]);
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

/* An escape at t[*p] == '\\'; *p moves past it. */
static int jscan_escape(struct jobs_jscan *sc, const unsigned char *t,
                        size_t len, size_t *p) {
  size_t at = *p;
  unsigned char c = at + 1 < len ? t[at + 1] : 0;
  long u, lo;

  if (c && strchr("\"\\/bfnrt", c)) {
    *p += 2;
    return 0;
  }
  if (c != 'u' || (u = jscan_hex4(t, len, at + 2)) < 0)
    return jscan_fail(sc, at, "invalid escape in a string");
  if (u == 0)
    return jscan_fail(sc, at, "\\u0000 in a string is not allowed");
  if (u >= 0xDC00 && u <= 0xDFFF)
    return jscan_fail(sc, at, "lone surrogate in a \\u escape");
  *p += 6;
  if (u < 0xD800 || u > 0xDBFF)
    return 0;
  if (len - *p < 6 || t[*p] != '\\' || t[*p + 1] != 'u' ||
      (lo = jscan_hex4(t, len, *p + 2)) < 0xDC00 || lo > 0xDFFF)
    return jscan_fail(sc, at, "lone surrogate in a \\u escape");
  *p += 6;
  return 0;
}

static int jscan_string(struct jobs_jscan *sc, const unsigned char *t,
                        size_t len, size_t *pp) {
  size_t p = *pp + 1, k;

  while (p < len) {
    unsigned char c = t[p];
    if (c == '"') {
      *pp = p + 1;
      return 0;
    }
    if (c == '\\') {
      if (jscan_escape(sc, t, len, &p) < 0)
        return -1;
    } else if (c < 0x20) {
      return jscan_fail(sc, p,
                        c ? "raw control character in a string" : "NUL byte");
    } else if (!(k = jobs_utf8_seq(t + p, len - p))) {
      return jscan_fail(sc, p, "invalid UTF-8 in a string");
    } else {
      p += k;
    }
  }
  return jscan_fail(sc, *pp, "unterminated string");
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static size_t jscan_digits(const unsigned char *t, size_t len, size_t p) {
  while (p < len && is_digit(t[p]))
    p++;
  return p;
}

/* RFC 8259 numbers only: no "01", "1.", ".5", "1.e5" or "1e". */
static int jscan_number(struct jobs_jscan *sc, const unsigned char *t,
                        size_t len, size_t *pp) {
  size_t p = *pp + (t[*pp] == '-'), q;

  if (p < len && t[p] == '0')
    p++;
  else if ((q = jscan_digits(t, len, p)) > p)
    p = q;
  else
    return jscan_fail(sc, *pp, "invalid number");
  if (p < len && t[p] == '.') {
    if ((q = jscan_digits(t, len, p + 1)) == p + 1)
      return jscan_fail(sc, *pp, "invalid number");
    p = q;
  }
  if (p < len && (t[p] == 'e' || t[p] == 'E')) {
    p += p + 1 < len && (t[p + 1] == '+' || t[p + 1] == '-');
    if ((q = jscan_digits(t, len, p + 1)) == p + 1)
      return jscan_fail(sc, *pp, "invalid number");
    p = q;
  }
  if (p < len && (is_digit(t[p]) || (t[p] && strchr(".eE+-", t[p]))))
    return jscan_fail(sc, *pp, "invalid number");
  *pp = p;
  return 0;
}

static int jscan_scalar(struct jobs_jscan *sc, const unsigned char *t,
                        size_t len, size_t *p) {
  static const char *const words[] = {"true", "false", "null"};
  unsigned char c = t[*p];

  if (c == '"')
    return jscan_string(sc, t, len, p);
  if (c == '-' || is_digit(c))
    return jscan_number(sc, t, len, p);
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(words[i]);
    if (len - *p >= n && memcmp(t + *p, words[i], n) == 0) {
      *p += n;
      return 0;
    }
  }
  return jscan_fail(sc, *p, "unexpected character");
}

/* What may come next. */
enum jexpect {
  X_VALUE,
  X_VALUE_OR_CLOSE,
  X_KEY,
  X_KEY_OR_CLOSE,
  X_COLON,
  X_COMMA_OR_CLOSE,
  X_END
};

static enum jexpect jscan_after_value(const struct jobs_jscan *sc) {
  return sc->depth ? X_COMMA_OR_CLOSE : X_END;
}

/* A value starts at t[*p]: its node, then the scalar or the push. */
static int jscan_value(struct jobs_jscan *sc, const unsigned char *t,
                       size_t len, size_t *p, size_t key, enum jexpect *x) {
  unsigned char c = t[*p];

  if (c == '}' || c == ']')
    return jscan_fail(sc, *p, "expected a value");
  if (jscan_add(sc, key, *p) < 0)
    return -1;
  if (c == '{' || c == '[') {
    *x = c == '{' ? X_KEY_OR_CLOSE : X_VALUE_OR_CLOSE;
    return jscan_push(sc, (*p)++);
  }
  if (jscan_scalar(sc, t, len, p) < 0)
    return -1;
  *x = jscan_after_value(sc);
  return 0;
}

static int jscan_key(struct jobs_jscan *sc, const unsigned char *t, size_t len,
                     size_t *p, size_t *key, enum jexpect *x) {
  if (t[*p] != '"')
    return jscan_fail(sc, *p, "expected a key (a string)");
  *key = *p;
  *x = X_COLON;
  return jscan_string(sc, t, len, p);
}

/* One step at t[*p] (not blank), following the grammar state *x. */
static int jscan_step(struct jobs_jscan *sc, const unsigned char *t, size_t len,
                      size_t *p, size_t *key, enum jexpect *x) {
  unsigned char c = t[*p];
  int obj = jscan_open_is(sc, t, '{');

  if ((c == '}' && (*x == X_KEY_OR_CLOSE || (*x == X_COMMA_OR_CLOSE && obj))) ||
      (c == ']' &&
       (*x == X_VALUE_OR_CLOSE || (*x == X_COMMA_OR_CLOSE && !obj)))) {
    if (jscan_close(sc, t, (*p)++) < 0)
      return -1;
    *x = jscan_after_value(sc);
    return 0;
  }
  switch (*x) {
  case X_KEY:
  case X_KEY_OR_CLOSE: return jscan_key(sc, t, len, p, key, x);
  case X_COLON:
    if (c != ':')
      return jscan_fail(sc, *p, "expected ':'");
    break;
  case X_COMMA_OR_CLOSE:
    if (c != ',')
      return jscan_fail(sc, *p,
                        obj ? "expected ',' or '}'" : "expected ',' or ']'");
    break;
  case X_END: return jscan_fail(sc, *p, "data after the JSON value");
  default:
    if (jscan_value(sc, t, len, p, *key, x) < 0)
      return -1;
    *key = JOBS_JNOKEY;
    return 0;
  }
  *x = c == ':' || !obj ? X_VALUE : X_KEY;
  (*p)++;
  return 0;
}

/* Checks text[0..len) from p against the JSON grammar (RFC 8259, UTF-8)
 * and records its nodes.  0, or -1 with sc->err and sc->why set.
 * Iterative; O(len) time, O(nodes + depth) memory. */
int jobs_json_scan_run(struct jobs_jscan *sc, const char *text, size_t len,
                       size_t p) {
  const unsigned char *t = (const unsigned char *)text;
  enum jexpect x = X_VALUE;
  size_t key = JOBS_JNOKEY;

  sc->len = sc->depth = 0;
  sc->why = NULL;
  for (;;) {
    if (jscan_ws(sc, t, len, &p) < 0)
      return -1;
    if (p >= len)
      break;
    if (jscan_step(sc, t, len, &p, &key, &x) < 0)
      return -1;
  }
  if (x != X_END)
    return jscan_fail(sc, p, "unexpected end of input");
  return 0;
}

void jobs_json_scan_free(struct jobs_jscan *sc) {
  free(sc->n);
  free(sc->stack);
  memset(sc, 0, sizeof(*sc));
}
