/*
 * checksums.c - the --checksum list: digests in an array, names in a
 * seen set whose tag is the digest's index.  A list of a million names
 * costs its bytes plus 56 bytes a name.
 */
#include "checksums.h"

#include "hex.h"
#include "seen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct checksums {
  bool single;
  uint8_t one[32];
  seen *names;
  uint8_t (*digests)[32];
  size_t n, cap;
};

int checksums_parse_hex(const char *s, size_t n, uint8_t out[32]) {
  return hex_sha256(s, n, out);
}

static int add(checksums *c, const char *name, const uint8_t d[32]) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    void *p = realloc(c->digests, cap * sizeof(*c->digests));
    if (!p)
      return -1;
    c->digests = p;
    c->cap = cap;
  }
  memcpy(c->digests[c->n], d, 32);
  int r = seen_add(c->names, name, c->n, NULL);
  if (r == 0)
    c->n++;
  return r < 0 ? -1 : 0; /* a repeated name keeps its first digest */
}

/* "HEX  NAME" / "HEX *NAME"; 0, 1 for a blank line, -1 if malformed. */
static int parse_line(checksums *c, char *line) {
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  if (!n)
    return 1;
  uint8_t d[32];
  if (n < 67 || checksums_parse_hex(line, 64, d) < 0 || line[64] != ' ' ||
      (line[65] != ' ' && line[65] != '*'))
    return -1;
  const char *name = line + 66;
  while (name[0] == '.' && name[1] == '/')
    name += 2;
  return *name ? add(c, name, d) : -1;
}

static int load_file(checksums *c, const char *path, struct diag *d) {
  FILE *f = fopen(path, "r");
  if (!f)
    return snprintf(d->text, sizeof(d->text),
                    "--checksum: cannot open "
                    "'%s': %s",
                    path, strerror(errno)),
           -1;
  char *line = NULL;
  size_t cap = 0;
  unsigned no = 0;
  int rc = 0;
  while (rc == 0 && getline(&line, &cap, f) >= 0) {
    no++;
    if (parse_line(c, line) < 0) {
      snprintf(d->text, sizeof(d->text),
               "%s:%u: expected a sha256sum "
               "line, \"<64 hex digits>  <name>\"",
               path, no);
      rc = -1;
    }
  }
  free(line);
  fclose(f);
  return rc;
}

int checksums_load(const char *arg, checksums **out, struct diag *d) {
  checksums *c = calloc(1, sizeof(*c));
  if (!c || !(c->names = seen_create())) {
    free(c);
    return snprintf(d->text, sizeof(d->text), "out of memory"), -1;
  }
  int rc;
  if (!strncmp(arg, "sha256=", 7)) {
    c->single = true;
    rc = checksums_parse_hex(arg + 7, strlen(arg + 7), c->one);
    if (rc < 0)
      snprintf(d->text, sizeof(d->text),
               "--checksum: expected sha256= "
               "and 64 hex digits, got '%s'",
               arg);
  } else {
    rc = load_file(c, arg, d);
  }
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
  seen_destroy(c->names);
  free(c->digests);
  free(c);
}

void checksums_apply(const checksums *c, const char *rel, struct job *j) {
  uint64_t i;
  if (!c || j->has_sha256)
    return;
  if (c->single) {
    memcpy(j->sha256, c->one, 32);
    j->has_sha256 = true;
  } else if (rel && seen_find(c->names, rel, &i)) {
    memcpy(j->sha256, c->digests[i], 32);
    j->has_sha256 = true;
  }
}
