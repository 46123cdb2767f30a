/*
 * seen.h - a set of strings with a tag each, for duplicate detection
 * (job ids, output paths) over a streamed job list.
 *
 * Exact: keys are kept (packed in an arena), not just hashed.  Cost per
 * key: its bytes + 1 in the arena and a 24-byte slot at <= 50% load.
 */
#ifndef JFETCH_SEEN_H
#define JFETCH_SEEN_H

#include <stdint.h>

typedef struct seen seen;

seen *seen_create(void);
void seen_destroy(seen *s);

/* Adds key with tag.  0: added; 1: already present, *first = its tag;
 * -1: out of memory. */
int seen_add(seen *s, const char *key, uint64_t tag, uint64_t *first);

/* 1 with *tag if present, else 0. */
int seen_find(const seen *s, const char *key, uint64_t *tag);

#endif
