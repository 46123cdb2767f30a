/*
 * checksums.c - the --checksum list: per algorithm, the digests in one
 * array and the names in a seen set whose tag is the digest's index.  A
 * list of a million sha256 names costs its bytes plus 56 bytes a name
 * (88 for sha512); an algorithm the list does not use costs nothing.
 *
 * A line is either GNU style, "HEX  NAME" or "HEX *NAME" (the digit count
 * names the algorithm), or BSD style, "ALGO (NAME) = HEX" (the tag names
 * it; OpenSSL 3's "SHA2-256(NAME)= HEX" too).  A name listed twice for
 * one algorithm keeps its first digest; listed under two algorithms it
 * gets both, and both must match.  Names with backslash escapes (GNU's
 * "\HEX  NAME" lines) are not decoded: such a line is an error.
 */
#include "checksums.h"

#include "seen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct list {
  seen *names;
  uint8_t *digests; /* n digests of digest_size(alg) bytes */
  size_t n, cap;
};

struct checksums {
  unsigned single; /* ALGO=HEX: the bit of ALGO */
  uint8_t one[DIGEST_MAX];
  int only; /* ALGO=FILE: ALGO; else -1 */
  struct list l[DIGEST_ALGS];
};

static int add(checksums *c, enum digest_alg a, const char *name,
               const uint8_t *d) {
  struct list *l = &c->l[a];
  size_t sz = digest_size(a);
  if (!l->names && !(l->names = seen_create()))
    return -1;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    void *p = realloc(l->digests, cap * sz);
    if (!p)
      return -1;
    l->digests = p;
    l->cap = cap;
  }
  memcpy(l->digests + l->n * sz, d, sz);
  int r = seen_add(l->names, name, l->n, NULL);
  if (r == 0)
    l->n++;
  return r < 0 ? -1 : 0; /* a repeated name keeps its first digest */
}

static size_t hex_run(const char *s) {
  size_t n = 0;
  while ((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f') ||
         (s[n] >= 'A' && s[n] <= 'F'))
    n++;
  return n;
}

/* What a line says: its algorithm, name and digest; or the column (1-based)
 * where it goes wrong. */
struct entry {
  enum digest_alg alg;
  char *name;
  uint8_t d[DIGEST_MAX];
};

/* "HEX  NAME" / "HEX *NAME": 0, or the bad column. */
static size_t parse_gnu(char *line, struct entry *e) {
  size_t n = hex_run(line);
  if (digest_from_hex_len(n, &e->alg) < 0)
    return 1;
  digest_parse_hex(e->alg, line, n, e->d);
  if (line[n] != ' ')
    return n + 1;
  if (line[n + 1] != ' ' && line[n + 1] != '*')
    return n + 2;
  e->name = line + n + 2;
  return 0;
}

/* "ALGO (NAME) = HEX", "ALGO(NAME)= HEX": 0, or the bad column. */
static size_t parse_tag(char *line, struct entry *e) {
  char *open = strchr(line, '('), *eq = strrchr(line, '=');
  if (!open || !eq || eq < open)
    return 1;
  size_t tn = (size_t)(open - line);
  if (tn && line[tn - 1] == ' ')
    tn--;
  if (digest_from_name(line, tn, &e->alg) < 0)
    return 1;
  char *close = eq;
  while (close > open && *close != ')')
    close--;
  if (close == open ||
      (close + 1 != eq && !(close[1] == ' ' && close + 2 == eq)))
    return (size_t)(open - line) + 2;
  char *hex = eq + 1 + (eq[1] == ' ');
  if (digest_parse_hex(e->alg, hex, strlen(hex), e->d) < 0)
    return (size_t)(hex - line) + 1;
  *close = '\0';
  e->name = open + 1;
  return 0;
}

/* One line: 0, 1 for a blank line, or -(bad column). */
static long parse_line(checksums *c, char *line) {
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  if (!n)
    return 1;
  struct entry e = {0};
  size_t hn = hex_run(line);
  size_t col = hn && (line[hn] == ' ' || !line[hn]) ? parse_gnu(line, &e)
                                                    : parse_tag(line, &e);
  if (col)
    return -(long)col;
  if (c->only >= 0 && (int)e.alg != c->only)
    return -1;
  while (e.name[0] == '.' && e.name[1] == '/')
    e.name += 2;
  if (!*e.name)
    return -(long)(e.name - line + 1);
  return add(c, e.alg, e.name, e.d) < 0 ? -1 : 0;
}

static int bad_line(const checksums *c, const char *path, unsigned no, long col,
                    struct diag *d) {
  if (c->only >= 0)
    return snprintf(d->text, sizeof(d->text),
                    "%s:%u:%ld: expected a %ssum line, \"<%zu hex digits>  "
                    "<name>\"",
                    path, no, col, digest_name(c->only),
                    2 * digest_size(c->only)),
           -1;
  return snprintf(d->text, sizeof(d->text),
                  "%s:%u:%ld: expected a md5sum, sha256sum or sha512sum "
                  "line, \"<32, 64 or 128 hex digits>  <name>\", or "
                  "\"SHA256 (<name>) = <hex>\"",
                  path, no, col),
         -1;
}

static int load_file(checksums *c, const char *path, const char *arg,
                     struct diag *d) {
  FILE *f = fopen(path, "r");
  if (!f)
    return snprintf(d->text, sizeof(d->text),
                    "--checksum: cannot open '%s': %s", arg, strerror(errno)),
           -1;
  char *line = NULL;
  size_t cap = 0;
  unsigned no = 0;
  int rc = 0;
  while (rc == 0 && getline(&line, &cap, f) >= 0) {
    no++;
    long r = parse_line(c, line);
    if (r < 0)
      rc = bad_line(c, path, no, -r, d);
  }
  free(line);
  fclose(f);
  return rc;
}

/* "ALGO=HEX" or "ALGO=FILE" (ALGO known): 0, -1 with d set, or 1 if arg
 * is not of that form. */
static int load_algo(checksums *c, const char *arg, struct diag *d) {
  const char *eq = strchr(arg, '=');
  enum digest_alg a;
  if (!eq || digest_from_name(arg, (size_t)(eq - arg), &a) < 0)
    return 1;
  const char *v = eq + 1;
  size_t n = strlen(v);
  if (!n || hex_run(v) == n) {
    c->single = 1u << a;
    if (digest_parse_hex(a, v, n, c->one) == 0)
      return 0;
    return snprintf(d->text, sizeof(d->text),
                    "--checksum: expected %s= and %zu hex digits (or a "
                    "file), got '%s'",
                    digest_name(a), 2 * digest_size(a), arg),
           -1;
  }
  c->only = (int)a;
  return load_file(c, v, arg, d);
}

int checksums_load(const char *arg, checksums **out, struct diag *d) {
  checksums *c = calloc(1, sizeof(*c));
  if (!c)
    return snprintf(d->text, sizeof(d->text), "out of memory"), -1;
  c->only = -1;
  int rc = load_algo(c, arg, d);
  if (rc == 1)
    rc = load_file(c, arg, arg, d);
  if (rc < 0) {
    checksums_free(c);
    return -1;
  }
  *out = c;
  return 0;
}

void checksums_free(checksums *c) {
  if (!c)
    return;
  for (int a = 0; a < DIGEST_ALGS; a++) {
    seen_destroy(c->l[a].names);
    free(c->l[a].digests);
  }
  free(c);
}

void checksums_apply(const checksums *c, const char *rel, struct job *j) {
  if (!c)
    return;
  for (int a = 0; a < DIGEST_ALGS; a++) {
    uint64_t i;
    const uint8_t *src = NULL;
    if (j->digests >> a & 1)
      continue;
    if (c->single >> a & 1)
      src = c->one;
    else if (rel && c->l[a].names && seen_find(c->l[a].names, rel, &i))
      src = c->l[a].digests + i * digest_size(a);
    if (src) {
      memcpy(j->digest[a], src, digest_size(a));
      j->digests |= 1u << a;
    }
  }
}
