/*
 * stats.c - the counters behind /stats, /flaky and /retry-after.
 *
 * A stats_table maps a key (any bytes, at most FS_KEY_MAX) to the number of
 * requests that named it.  It is an open-addressing hash table with linear
 * probing and FNV-1a hashing, kept at most half full and doubled when it
 * would pass that, so a bump is amortised O(1).  Keys are never removed one
 * by one, only all at once by stats_reset, so there are no tombstones.
 *
 * The tables belong to the fs_server and are reached only through it.  The
 * JSON is written in table order, which is arbitrary: readers look keys up.
 */
#include "faultsrv.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct stats_slot {
  char *key; /* NULL: empty slot */
  size_t klen;
  uint64_t count;
};

static uint64_t fnv1a(const char *s, size_t n) {
  uint64_t h = 1469598103934665603u;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211u;
  }
  return h;
}

static struct stats_slot *table_find(struct stats_slot *slots, size_t cap,
                                     const char *key, size_t n) {
  size_t i = (size_t)fnv1a(key, n) & (cap - 1);
  while (slots[i].key &&
         !(slots[i].klen == n && memcmp(slots[i].key, key, n) == 0))
    i = (i + 1) & (cap - 1);
  return &slots[i];
}

static int table_grow(struct stats_table *t) {
  size_t cap = t->cap ? t->cap * 2 : 16;
  struct stats_slot *slots = calloc(cap, sizeof *slots);
  if (!slots)
    return -1;
  for (size_t i = 0; i < t->cap; i++) {
    struct stats_slot *s = &t->slots[i];
    if (s->key)
      *table_find(slots, cap, s->key, s->klen) = *s;
  }
  free(t->slots);
  t->slots = slots;
  t->cap = cap;
  return 0;
}

uint64_t stats_table_bump(struct stats_table *t, const char *key, size_t n) {
  if ((t->used + 1) * 2 > t->cap && table_grow(t) != 0)
    return 0;
  struct stats_slot *s = table_find(t->slots, t->cap, key, n);
  if (!s->key) {
    s->key = malloc(n ? n : 1);
    if (!s->key)
      return 0;
    memcpy(s->key, key, n);
    s->klen = n;
    s->count = 0;
    t->used++;
  }
  return ++s->count;
}

static void table_clear(struct stats_table *t) {
  for (size_t i = 0; i < t->cap; i++)
    free(t->slots[i].key);
  free(t->slots);
  t->slots = NULL;
  t->cap = t->used = 0;
}

static void table_json(const struct stats_table *t, struct buf *out) {
  buf_puts(out, "{");
  const char *sep = "";
  for (size_t i = 0; i < t->cap; i++) {
    const struct stats_slot *s = &t->slots[i];
    if (!s->key)
      continue;
    buf_puts(out, sep);
    buf_append_json(out, s->key, s->klen);
    buf_printf(out, ":%" PRIu64, s->count);
    sep = ",";
  }
  buf_puts(out, "}");
}

void stats_reset(struct stats *s) {
  s->requests = 0;
  s->accepted = 0; /* open is a gauge and stays */
  table_clear(&s->flaky);
  table_clear(&s->retry);
}

void stats_json(const struct stats *s, struct buf *out) {
  buf_printf(out,
             "{\"requests\":%" PRIu64 ",\"connections\":{\"accepted\":%" PRIu64
             ",\"open\":%" PRIu64 "},\"flaky\":",
             s->requests, s->accepted, s->open);
  table_json(&s->flaky, out);
  buf_puts(out, ",\"retry_after\":");
  table_json(&s->retry, out);
  buf_puts(out, "}\n");
}

void stats_free(struct stats *s) { stats_reset(s); }
