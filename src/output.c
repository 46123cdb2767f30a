/*
 * output.c - file names from URLs, the output directory, .part files.
 *
 * Containment: the output directory is opened once; every job file is
 * reached from that descriptor with openat(), one component at a time,
 * each with O_NOFOLLOW (and O_DIRECTORY for directories).  Paths with "..",
 * "." or empty components are refused before that, so the walk can only
 * go down, and a symbolic link anywhere below the output directory (a
 * planted "out/sub -> /etc", or "out/x.part -> /etc/passwd") stops it with
 * ELOOP instead of being followed.  The final rename is renameat() within
 * one directory descriptor; rename never follows a link at the target.
 * (openat2's RESOLVE_BENEATH would do the same in one call, but it needs
 * Linux 5.6 and its headers; the walk works everywhere.)
 *
 * A job writes NAME.part and renames it to NAME only on success, so a
 * failed, cancelled or interrupted job never leaves a file at NAME.
 *
 * -O FILE is a path the user named, so it is taken as open() would take
 * it (output_target_open): a symbolic link there is followed, hop by hop
 * with readlinkat, to the name it finally points at, and TARGET.part goes
 * beside that target and is renamed onto it (the link stays a link).  A
 * character or block device, FIFO or socket there is written in place:
 * no .part, no rename (renaming over /dev/null would replace the device
 * with a file).  Such a target cannot be truncated or sought, so what was
 * written stays written, as on standard output.
 */
#include "output.h"

#include "hex.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct output_dir {
  int fd;
  char *path;
};

/* Percent-decodes [s, s+n) into a new string; NULL if it would hold a
 * NUL, '/', backslash or control byte. */
static char *decode_segment(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%' && i + 2 < n && hex_digit(s[i + 1]) >= 0 &&
        hex_digit(s[i + 2]) >= 0) {
      c = (unsigned char)(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    }
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') {
      free(d);
      return NULL;
    }
    d[k++] = (char)c;
  }
  d[k] = '\0';
  return d;
}

char *output_name_from_url(const char *url, const char **why) {
  CURLU *u = curl_url();
  char *path = NULL;
  if (!u || curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) ||
      curl_url_get(u, CURLUPART_PATH, &path, 0)) {
    curl_url_cleanup(u);
    *why = "the URL cannot be parsed";
    return NULL;
  }
  curl_url_cleanup(u);
  size_t len = strlen(path), start = len;
  while (start > 0 && path[start - 1] != '/')
    start--;
  char *name = NULL;
  /* a non-empty segment decodes to a non-empty name (a NUL is refused) */
  if (start == len)
    *why = "its path has no file name (it is empty or ends in '/')";
  else if (!(name = decode_segment(path + start, len - start)))
    *why = "its file name decodes to a '/', '\\' or control character";
  else if (strlen(name) > NAME_MAX || !strcmp(name, ".") ||
           !strcmp(name, "..")) {
    *why = strlen(name) > NAME_MAX ? "its file name is longer than 255 bytes"
                                   : "its file name is \".\" or \"..\"";
    free(name);
    name = NULL;
  }
  curl_free(path);
  return name;
}

/* Why component [p, p+n) cannot be one, or NULL. */
static const char *component_why(const char *p, size_t n) {
  if (n == 0)
    return "has an empty component (\"//\")";
  if (n == 1 && p[0] == '.')
    return "has a \".\" component";
  if (n == 2 && p[0] == '.' && p[1] == '.')
    return "has a \"..\" component";
  if (n > NAME_MAX)
    return "has a component longer than 255 bytes";
  return NULL;
}

static const char *relpath_why(const char *p, size_t n) {
  if (!n)
    return "is empty";
  if (n > PATH_MAX)
    return "is longer than 4096 bytes";
  if (p[0] == '/')
    return "is an absolute path";
  if (p[n - 1] == '/')
    return "ends with \"/\"";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c < 0x20 || c == 0x7f)
      return "contains a control character";
    if (c == '\\')
      return "contains a backslash";
  }
  for (const char *c = p;;) {
    size_t k = strcspn(c, "/");
    const char *why = component_why(c, k);
    if (why || !c[k])
      return why;
    c += k + 1;
  }
}

int output_check_relpath(const char *p, const char **why) {
  *why = relpath_why(p, strlen(p));
  return *why ? -1 : 0;
}

/* ---- the directory walk ---------------------------------------------- */

/* Opens directory `name` under dirfd without following links; creates it
 * first if asked.  Returns the new fd or -1 (errno). */
static int open_subdir(int dirfd, const char *name, bool create) {
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && create) {
    if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
      return -1;
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0 && errno == ENOTDIR) {
    /* O_NOFOLLOW|O_DIRECTORY on a symlink gives ENOTDIR on Linux */
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode))
      errno = ELOOP;
  }
  return fd;
}

/* Walks rel's directories under base.  Returns the fd of the last
 * directory and points *leaf at the final component, or -1. */
static int walk(int base, const char *rel, bool create, const char **leaf) {
  int fd = dup(base);
  if (fd < 0)
    return -1;
  char comp[NAME_MAX + 1];
  const char *p = rel;
  const char *slash;
  while ((slash = strchr(p, '/'))) {
    size_t n = (size_t)(slash - p);
    if (n > NAME_MAX) {
      close(fd);
      errno = ENAMETOOLONG;
      return -1;
    }
    memcpy(comp, p, n);
    comp[n] = '\0';
    int nfd = open_subdir(fd, comp, create);
    int e = errno;
    close(fd);
    if (nfd < 0) {
      errno = e;
      return -1;
    }
    fd = nfd;
    p = slash + 1;
  }
  *leaf = p;
  return fd;
}

int output_dir_open(const char *path, output_dir **out) {
  output_dir *od = calloc(1, sizeof(*od));
  if (!od)
    return -1;
  od->path = strdup(path);
  if (!od->path)
    goto fail;
  /* the user named this directory: follow links in it, create it */
  char *tmp = strdup(path);
  if (!tmp)
    goto fail;
  for (char *c = tmp + 1; *c; c++) {
    if (*c != '/')
      continue;
    *c = '\0';
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
      free(tmp);
      goto fail;
    }
    *c = '/';
  }
  free(tmp);
  if (mkdir(path, 0755) < 0 && errno != EEXIST)
    goto fail;
  od->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (od->fd < 0)
    goto fail;
  *out = od;
  return 0;
fail:;
  int e = errno;
  free(od->path);
  free(od);
  errno = e;
  return -1;
}

void output_dir_close(output_dir *od) {
  if (!od)
    return;
  close(od->fd);
  free(od->path);
  free(od);
}

const char *output_dir_path(const output_dir *od) { return od->path; }

/* ---- files --------------------------------------------------------------- */

/* Opens f->name's .part in f->dirfd (f->name and f->dirfd are set). */
static int open_part(struct output_file *f, bool resume) {
  size_t n = strlen(f->name);
  f->part = malloc(n + sizeof(".part"));
  if (!f->part)
    return -1;
  memcpy(f->part, f->name, n);
  memcpy(f->part + n, ".part", sizeof(".part"));
  /* read too: a resumed .part is hashed before the rest is appended */
  int flags = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
  if (!resume)
    flags |= O_TRUNC;
  f->fd = openat(f->dirfd, f->part, flags, 0644);
  if (f->fd < 0)
    return -1;
  if (resume) {
    f->offset = lseek(f->fd, 0, SEEK_END);
    if (f->offset < 0)
      return -1;
  }
  return 0;
}

int output_file_open(output_dir *od, const char *rel, bool create_dirs,
                     bool resume, struct output_file *f) {
  memset(f, 0, sizeof(*f));
  f->fd = f->dirfd = -1;
  const char *leaf = rel;
  if (strchr(rel, '/')) {
    f->dirfd = walk(od->fd, rel, create_dirs, &leaf);
    f->own_dirfd = true;
    if (f->dirfd < 0)
      return -1;
  } else {
    f->dirfd = od->fd; /* a flat name: no descriptor to open and close */
  }
  f->name = strdup(leaf);
  if (!f->name || open_part(f, resume) < 0) {
    int e = errno;
    output_file_abort(f, true);
    errno = e;
    return -1;
  }
  return 0;
}

/* ---- -O FILE: a path the user named ------------------------------------- */

/* Replaces f->dirfd/f->name by the target of the link there: its
 * directory opened (following links: the user's link chose it) and its
 * last component. */
static int hop(struct output_file *f) {
  char buf[PATH_MAX];
  ssize_t n = readlinkat(f->dirfd, f->name, buf, sizeof(buf));
  if (n < 0)
    return -1;
  if ((size_t)n == sizeof(buf)) {
    errno = ENAMETOOLONG; /* readlinkat cut it short */
    return -1;
  }
  buf[n] = '\0';
  char *slash = strrchr(buf, '/');
  const char *base = slash ? slash + 1 : buf;
  if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
    errno = EISDIR; /* "link -> dir/": a directory, not a file */
    return -1;
  }
  char *name = strdup(base);
  if (!name)
    return -1;
  if (slash) {
    if (slash > buf)
      *slash = '\0';
    int nfd = openat(f->dirfd, slash > buf ? buf : "/",
                     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (nfd < 0) {
      free(name);
      return -1;
    }
    if (f->own_dirfd)
      close(f->dirfd);
    f->dirfd = nfd;
    f->own_dirfd = true;
  }
  free(f->name);
  f->name = name;
  return 0;
}

/* Follows links at f->dirfd/f->name until something else (or nothing:
 * st_mode 0) is there, as open() would (at most 40 links). */
static int follow_links(struct output_file *f, struct stat *st) {
  for (int hops = 0;; hops++) {
    if (fstatat(f->dirfd, f->name, st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT)
        return -1;
      st->st_mode = 0;
      return 0;
    }
    if (!S_ISLNK(st->st_mode))
      return 0;
    if (hops == 40) {
      errno = ELOOP;
      return -1;
    }
    if (hop(f) < 0)
      return -1;
  }
}

/* A stream connection to the Unix socket f->dirfd/f->name, reached through
 * /proc/self/fd (sun_path is short, the directory has no path here). */
static int connect_socket(struct output_file *f) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s",
                   f->dirfd, f->name);
  if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    int e = errno;
    close(fd);
    errno = e == EINPROGRESS ? EAGAIN : e; /* its backlog is full */
    return -1;
  }
  return fd;
}

/* Opens the device, FIFO or socket st describes for writing, in place.
 * EAGAIN: nobody reads it yet, or it changed under us. */
static int open_direct(struct output_file *f, const struct stat *st) {
  f->direct = true;
  if (S_ISSOCK(st->st_mode)) {
    f->fd = connect_socket(f);
  } else {
    /* O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of
     * blocking the worker; a modem line does not wait for carrier */
    f->fd = openat(f->dirfd, f->name,
                   O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (f->fd < 0 && errno == ENXIO && S_ISFIFO(st->st_mode))
      errno = EAGAIN;
  }
  if (f->fd < 0)
    return -1;
  struct stat now;
  int fl = fcntl(f->fd, F_GETFL);
  if (fstat(f->fd, &now) < 0 || fl < 0 ||
      fcntl(f->fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
    return -1;
  if (!S_ISSOCK(st->st_mode) &&
      (now.st_dev != st->st_dev || now.st_ino != st->st_ino)) {
    errno = EAGAIN; /* replaced between the stat and the open: look again */
    return -1;
  }
  return 0;
}

int output_target_open(output_dir *od, const char *leaf, bool resume,
                       struct output_file *f) {
  memset(f, 0, sizeof(*f));
  f->fd = -1;
  f->dirfd = od->fd;
  struct stat st;
  int rc = -1;
  if (!(f->name = strdup(leaf)) || follow_links(f, &st) < 0)
    goto out;
  if (S_ISDIR(st.st_mode))
    errno = EISDIR;
  else if (st.st_mode == 0 || S_ISREG(st.st_mode))
    rc = open_part(f, resume);
  else
    rc = open_direct(f, &st);
out:
  if (rc < 0) {
    int e = errno;
    output_file_abort(f, true);
    errno = e;
  }
  return rc;
}

bool output_target_exists(output_dir *od, const char *leaf, uint64_t *size) {
  struct stat st;
  if (fstatat(od->fd, leaf, &st, 0) < 0 || !S_ISREG(st.st_mode))
    return false;
  *size = (uint64_t)st.st_size;
  return true;
}

int output_write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int output_file_write(struct output_file *f, const void *buf, size_t n) {
  return output_write_all(f->fd, buf, n);
}

int output_file_commit(struct output_file *f, bool do_fsync) {
  int rc = 0;
  /* a FIFO or socket cannot be synced (EINVAL): nothing is kept there */
  if (do_fsync && fsync(f->fd) < 0 && !(f->direct && errno == EINVAL))
    rc = -1;
  if (close(f->fd) < 0)
    rc = -1;
  f->fd = -1;
  if (f->direct) {
    int e = errno;
    output_file_abort(f, true);
    errno = e;
    return rc;
  }
  if (rc == 0 && renameat(f->dirfd, f->part, f->dirfd, f->name) < 0)
    rc = -1;
  if (rc == 0 && do_fsync && fsync(f->dirfd) < 0)
    rc = -1;
  int e = errno;
  output_file_abort(f, rc == 0); /* on failure the .part goes too */
  errno = e;
  return rc;
}

void output_file_abort(struct output_file *f, bool keep) {
  if (f->fd >= 0)
    close(f->fd);
  if (f->dirfd >= 0) {
    if (!keep && f->part)
      unlinkat(f->dirfd, f->part, 0);
    if (f->own_dirfd)
      close(f->dirfd);
  }
  f->fd = f->dirfd = -1;
  free(f->name);
  free(f->part);
  f->name = f->part = NULL;
}

/* fstatat of rel under od without following links; -1 if unreachable. */
static int stat_rel(output_dir *od, const char *rel, struct stat *st) {
  const char *leaf;
  int fd = walk(od->fd, rel, false, &leaf);
  if (fd < 0)
    return -1;
  int rc = fstatat(fd, leaf, st, AT_SYMLINK_NOFOLLOW);
  close(fd);
  return rc;
}

bool output_exists(output_dir *od, const char *rel) {
  struct stat st;
  return stat_rel(od, rel, &st) == 0 && S_ISREG(st.st_mode);
}

uint64_t output_size(output_dir *od, const char *rel) {
  struct stat st;
  if (stat_rel(od, rel, &st) < 0 || !S_ISREG(st.st_mode))
    return 0;
  return (uint64_t)st.st_size;
}
