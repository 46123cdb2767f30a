/*
 * checksums.h - --checksum: expected SHA-256 digests for jobs that do not
 * give their own "sha256".
 *   --checksum sha256=HEX    one digest, for every job (meant for one)
 *   --checksum FILE          a sha256sum list ("HEX  NAME" or "HEX *NAME"
 *                            lines), matched against each job's output
 *                            path under the output directory
 */
#ifndef JFETCH_CHECKSUMS_H
#define JFETCH_CHECKSUMS_H

#include "jobs.h"

typedef struct checksums checksums;

/* -1 with d set on a bad argument or a bad line (FILE:LINE: ...). */
int checksums_load(const char *arg, checksums **out, struct diag *d);
void checksums_free(checksums *c);

/* Gives j the digest listed for rel, unless j has its own.  rel may be
 * NULL (stdout): only the single-digest form applies then. */
void checksums_apply(const checksums *c, const char *rel, struct job *j);

/* Parses 64 hex digits into out[32]; -1 if s is not exactly that. */
int checksums_parse_hex(const char *s, size_t n, uint8_t out[32]);

#endif
