/*
 * seen.c - an exact string set: open addressing, linear probing, FNV-1a
 * hashes, keys copied into 64 KiB arena chunks that never move (so slots
 * can point into them).  Grows by doubling at 50% load.  No deletion: a
 * run only ever adds.
 */
#include "seen.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK (64u * 1024u)

struct slot {
  uint64_t hash;
  const char *key; /* NULL: empty */
  uint64_t tag;
};

struct chunk {
  struct chunk *next;
  size_t used, cap;
  char data[];
};

struct seen {
  struct slot *slots;
  size_t cap, n;
  struct chunk *chunks;
};

static uint64_t fnv1a(const char *s) {
  uint64_t h = 0xcbf29ce484222325u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 0x100000001b3u;
  return h ? h : 1;
}

seen *seen_create(void) {
  seen *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->cap = 64;
  s->slots = calloc(s->cap, sizeof(*s->slots));
  if (!s->slots) {
    free(s);
    return NULL;
  }
  return s;
}

void seen_destroy(seen *s) {
  if (!s)
    return;
  while (s->chunks) {
    struct chunk *c = s->chunks;
    s->chunks = c->next;
    free(c);
  }
  free(s->slots);
  free(s);
}

static const char *copy_key(seen *s, const char *key) {
  size_t n = strlen(key) + 1;
  struct chunk *c = s->chunks;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > CHUNK ? n : CHUNK;
    c = malloc(sizeof(*c) + cap);
    if (!c)
      return NULL;
    c->used = 0;
    c->cap = cap;
    c->next = s->chunks;
    s->chunks = c;
  }
  char *p = c->data + c->used;
  memcpy(p, key, n);
  c->used += n;
  return p;
}

static struct slot *probe(const seen *s, uint64_t h, const char *key) {
  size_t mask = s->cap - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    struct slot *sl = &s->slots[i];
    if (!sl->key || (sl->hash == h && !strcmp(sl->key, key)))
      return sl;
  }
}

static int grow(seen *s) {
  size_t cap = s->cap * 2;
  struct slot *old = s->slots;
  size_t ocap = s->cap;
  s->slots = calloc(cap, sizeof(*s->slots));
  if (!s->slots) {
    s->slots = old;
    return -1;
  }
  s->cap = cap;
  for (size_t i = 0; i < ocap; i++)
    if (old[i].key)
      *probe(s, old[i].hash, old[i].key) = old[i];
  free(old);
  return 0;
}

int seen_add(seen *s, const char *key, uint64_t tag, uint64_t *first) {
  if ((s->n + 1) * 2 > s->cap && grow(s) < 0)
    return -1;
  uint64_t h = fnv1a(key);
  struct slot *sl = probe(s, h, key);
  if (sl->key) {
    if (first)
      *first = sl->tag;
    return 1;
  }
  const char *k = copy_key(s, key);
  if (!k)
    return -1;
  sl->hash = h;
  sl->key = k;
  sl->tag = tag;
  s->n++;
  return 0;
}

int seen_find(const seen *s, const char *key, uint64_t *tag) {
  struct slot *sl = probe(s, fnv1a(key), key);
  if (!sl->key)
    return 0;
  if (tag)
    *tag = sl->tag;
  return 1;
}
