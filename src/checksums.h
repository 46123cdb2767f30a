/*
 * checksums.h - --checksum: expected digests for jobs that do not give
 * their own of the same algorithm (sha256, sha512, md5).
 *   --checksum ALGO=HEX    one digest, for every job (meant for one)
 *   --checksum FILE        a checksum list, matched against each job's
 *                          output path under the output directory: lines
 *                          of sha256sum, sha512sum or md5sum output ("HEX
 *                          NAME" or "HEX *NAME"; the algorithm is told by
 *                          the number of digits: 32 md5, 64 sha256, 128
 *                          sha512) or tagged lines ("SHA256 (NAME) = HEX",
 *                          as from sha256sum --tag or openssl dgst)
 *   --checksum ALGO=FILE   the same, every line of that algorithm
 * After ALGO=, a value of hex digits only is a digest (and must have the
 * algorithm's length); anything else is a file (./NAME for a file whose
 * name looks like hex).
 */
#ifndef JFETCH_CHECKSUMS_H
#define JFETCH_CHECKSUMS_H

#include "jobs.h"

typedef struct checksums checksums;

/* -1 with d set on a bad argument or a bad line (FILE:LINE:COL: ...). */
int checksums_load(const char *arg, checksums **out, struct diag *d);
void checksums_free(checksums *c);

/* Gives j each digest listed for rel whose algorithm j has none of.  rel
 * may be NULL (stdout): only the single-digest form applies then. */
void checksums_apply(const checksums *c, const char *rel, struct job *j);

#endif
