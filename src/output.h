/*
 * output.h - where a job's bytes go: names, the output directory, and the
 * .part-then-rename discipline.
 */
#ifndef JFETCH_OUTPUT_H
#define JFETCH_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Derives a file name from a URL: the last non-empty segment of its path,
 * percent-decoded.  Returns a malloc'd name, or NULL with *why set (a
 * static sentence) when none can be derived: the path ends in '/', or the
 * decoded name holds '/', a NUL or control byte, or is "." or "..", or is
 * longer than NAME_MAX.
 */
char *output_name_from_url(const char *url, const char **why);

/* Checks a relative path under the output directory: a job's "output",
 * a job file's "output_dir".  The one rule for both (and what the walk
 * below relies on): not empty, under PATH_MAX bytes, not absolute, no
 * trailing "/", no control byte or backslash, no empty, "." or ".."
 * component, no component over NAME_MAX bytes.  0, or -1 with *why a
 * static phrase such as "is an absolute path". */
int output_check_relpath(const char *path, const char **why);

/*
 * An open output directory.  Every file a job writes is opened relative to
 * it, one path component at a time with O_NOFOLLOW, so neither a ".."
 * (already refused) nor a symbolic link planted inside the directory can
 * lead a write outside it.
 */
typedef struct output_dir output_dir;

/* Opens (creating it and its parents if needed, mode 0755) the directory.
 * -1 with errno set on failure. */
int output_dir_open(const char *path, output_dir **out);
void output_dir_close(output_dir *od);
const char *output_dir_path(const output_dir *od);

/*
 * A file being written: NAME.part in NAME's directory, renamed to NAME
 * only by output_file_commit.  output_file_abort removes the .part (or,
 * with keep, leaves it for a later --continue).
 */
struct output_file {
  int dirfd;      /* directory holding the file */
  int fd;         /* the .part file (owned) */
  bool own_dirfd; /* dirfd was opened for this file (else the output dir's) */
  char *name;     /* final base name */
  char *part;     /* base name + ".part" */
  off_t offset;   /* bytes already in the .part when opened (resume) */
  bool direct;    /* a device, FIFO or socket written in place: no .part */
};

/*
 * Opens rel's directory under od (creating missing directories when
 * create_dirs, else failing with ENOENT) and its .part file.  With resume,
 * an existing .part is kept and appended to (offset = its size); without,
 * it is truncated.  -1 with errno set.
 */
int output_file_open(output_dir *od, const char *rel, bool create_dirs,
                     bool resume, struct output_file *f);

/*
 * Opens -O FILE's target: leaf under od (FILE's directory), following
 * symbolic links there as open() would.  A regular file (or nothing) at
 * the end of the links is written through TARGET.part beside it, as
 * output_file_open does (resume keeps that .part); a character or block
 * device, FIFO or socket is opened (connected, for a socket) for writing
 * in place, f->direct set, never resumed.  -1 with errno set: EISDIR for a
 * directory, EAGAIN when a FIFO has no reader yet (or a socket's backlog
 * is full): nothing is held then, try again later.  Never blocks.
 */
int output_target_open(output_dir *od, const char *leaf, bool resume,
                       struct output_file *f);

/* True if leaf under od is, following links, a regular file; its size in
 * *size (--skip-existing with -O FILE). */
bool output_target_exists(output_dir *od, const char *leaf, uint64_t *size);

/* Writes all of buf; -1 with errno set. */
int output_file_write(struct output_file *f, const void *buf, size_t n);

/* Writes all of buf to fd, retrying short writes and EINTR; -1 with errno
 * set. */
int output_write_all(int fd, const void *buf, size_t n);

/* Optionally fsyncs the file, closes it and renames .part to the final
 * name (then fsyncs the directory if do_fsync); a direct target is only
 * closed.  -1 with errno set. */
int output_file_commit(struct output_file *f, bool do_fsync);

/* Closes the file and removes the .part unless keep.  Never fails. */
void output_file_abort(struct output_file *f, bool keep);

/* True if rel already exists under od as a regular file (--skip-existing). */
bool output_exists(output_dir *od, const char *rel);

/* Size of rel under od, or 0 if it is not a regular file there. */
uint64_t output_size(output_dir *od, const char *rel);

#endif
