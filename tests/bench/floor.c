/* floor: the least a libcurl program can do to fetch a URL list (issue 15).
 *
 * It is the yardstick for jfetch's own cost per job: whatever jfetch spends
 * beyond this program is jfetch's, not libcurl's or the kernel's.  Shape:
 * THREADS threads (default 2), each with one CURLM and HANDLES easy handles
 * (default 32) made once and reused for every job, so the connection cache
 * of each multi keeps its connections.  Each thread loops on
 * curl_multi_perform + curl_multi_info_read + curl_multi_poll; a finished
 * handle gets the next URL at once (only CURLOPT_URL changes between jobs)
 * and goes back into its multi.
 *
 * The list is streamed: the threads take the next line from one shared
 * FILE under a mutex (one lock a job), so memory does not grow with the
 * list.  Bodies go, by mode:
 *   -o DIR  to DIR/NAME, NAME the URL's last path segment: openat when the
 *           job starts, write per chunk, close when it ends (no .part);
 *           with -r, to DIR/NAME.part, renamed to NAME when the job ends
 *           well (jfetch's promise, so its cost can be told apart);
 *   -O -    to stdout, write per chunk as it arrives;
 *   neither discarded (the write callback only counts the bytes).
 * -b BYTES sets CURLOPT_BUFFERSIZE (libcurl's default is 16 KiB; jfetch
 * uses 128 KiB for large bodies, so the runner gives the floor the same for
 * them: otherwise the floor does 8 recv() where jfetch does 1; libcurl
 * hands bodies to the write callback 16 KiB at a time either way).
 * A job fails on a curl error or an HTTP status >= 400; the failures are
 * counted, named on stderr, and make the exit status 1.  No retries, no
 * records, no progress: that is the point.
 *
 *   floor [-t THREADS] [-n HANDLES] [-b BYTES] [-o DIR [-r] | -O -] LIST
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum sink { SINK_DISCARD, SINK_FILES, SINK_STDOUT };

struct shared {
  FILE *list;
  pthread_mutex_t lock;
  enum sink sink;
  int dirfd;
  int handles;
  long buffer; /* CURLOPT_BUFFERSIZE, 0: libcurl's default */
  int rename;  /* -r: write NAME.part, rename to NAME */
  long failed; /* under lock */
};

struct slot {
  CURL *easy;
  struct shared *sh;
  int fd;
  char *url; /* getline's buffer, reused */
  size_t cap;
  char part[512]; /* -r: NAME.part of the current job */
};

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  struct slot *s = arg;
  if (s->fd >= 0 && write_all(s->fd, p, size * n) < 0)
    return 0; /* a short count fails the transfer */
  return size * n;
}

/* The next URL into s->url, without its newline; 0 when the list is done. */
static int next_url(struct slot *s) {
  struct shared *sh = s->sh;
  ssize_t n;
  do {
    pthread_mutex_lock(&sh->lock);
    n = getline(&s->url, &s->cap, sh->list);
    pthread_mutex_unlock(&sh->lock);
    if (n < 0)
      return 0;
    while (n > 0 && (s->url[n - 1] == '\n' || s->url[n - 1] == '\r'))
      s->url[--n] = '\0';
  } while (n == 0);
  return 1;
}

static int open_output(struct slot *s) {
  const char *name = strrchr(s->url, '/');
  name = name ? name + 1 : s->url;
  if (s->sh->sink == SINK_STDOUT)
    s->fd = STDOUT_FILENO;
  if (s->sh->sink != SINK_FILES)
    return 0;
  if (s->sh->rename) {
    if ((size_t)snprintf(s->part, sizeof s->part, "%s.part", name) >=
        sizeof s->part)
      return errno = ENAMETOOLONG, -1;
    name = s->part;
  }
  s->fd = openat(s->sh->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                 0644);
  return s->fd < 0 ? -1 : 0;
}

static void fail(struct slot *s, const char *why) {
  pthread_mutex_lock(&s->sh->lock);
  s->sh->failed++;
  pthread_mutex_unlock(&s->sh->lock);
  fprintf(stderr, "floor: %s: %s\n", s->url, why);
}

/* Give s the next job and put it into m; 0 when there is none left. */
static int start(CURLM *m, struct slot *s) {
  while (next_url(s)) {
    if (open_output(s) < 0) {
      fail(s, strerror(errno));
      continue;
    }
    curl_easy_setopt(s->easy, CURLOPT_URL, s->url);
    curl_multi_add_handle(m, s->easy);
    return 1;
  }
  return 0;
}

/* -r: NAME.part becomes NAME (on success) or goes. */
static int commit(struct slot *s, int ok) {
  size_t n = strlen(s->part) - strlen(".part");
  char name[sizeof s->part];
  memcpy(name, s->part, n);
  name[n] = '\0';
  if (ok)
    return renameat(s->sh->dirfd, s->part, s->sh->dirfd, name);
  unlinkat(s->sh->dirfd, s->part, 0);
  return 0;
}

static void finish(CURLM *m, struct slot *s, CURLcode rc) {
  long code = 0;
  int files = s->sh->sink == SINK_FILES, ok = 0;
  curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
  curl_multi_remove_handle(m, s->easy);
  if (files && close(s->fd) < 0 && rc == CURLE_OK)
    fail(s, strerror(errno));
  else if (rc != CURLE_OK)
    fail(s, curl_easy_strerror(rc));
  else if (code >= 400)
    fail(s, "HTTP error status");
  else
    ok = 1;
  if (files && s->sh->rename && commit(s, ok) < 0)
    fail(s, strerror(errno));
  s->fd = -1;
}

static int slot_init(struct slot *s, struct shared *sh) {
  memset(s, 0, sizeof *s);
  s->sh = sh;
  s->fd = -1;
  s->easy = curl_easy_init();
  if (!s->easy)
    return -1;
  curl_easy_setopt(s->easy, CURLOPT_PRIVATE, (char *)s);
  curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
  if (sh->buffer)
    curl_easy_setopt(s->easy, CURLOPT_BUFFERSIZE, sh->buffer);
  return 0;
}

/* Completed transfers: finish each and start the next job on its handle.
 * Returns how many handles went back in. */
static int reap(CURLM *m) {
  CURLMsg *msg;
  int left, again = 0;
  while ((msg = curl_multi_info_read(m, &left))) {
    struct slot *s;
    if (msg->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
    finish(m, s, msg->data.result);
    again += start(m, s);
  }
  return again;
}

static void drive(CURLM *m) {
  int running = 1;
  while (running) {
    if (curl_multi_perform(m, &running) != CURLM_OK)
      break;
    if (reap(m) > 0) {
      running = 1;
      continue; /* perform the new ones before waiting */
    }
    if (running)
      curl_multi_poll(m, NULL, 0, 1000, NULL);
  }
}

static void *worker(void *arg) {
  struct shared *sh = arg;
  struct slot *slots = calloc((size_t)sh->handles, sizeof *slots);
  CURLM *m = curl_multi_init();
  int i, n = 0;
  if (!slots || !m) {
    fprintf(stderr, "floor: out of memory\n");
    exit(2);
  }
  for (i = 0; i < sh->handles && slot_init(&slots[i], sh) == 0; i++)
    n++;
  for (i = 0; i < n && start(m, &slots[i]); i++)
    ;
  drive(m);
  for (i = 0; i < n; i++) {
    curl_easy_cleanup(slots[i].easy);
    free(slots[i].url);
  }
  curl_multi_cleanup(m);
  free(slots);
  return NULL;
}

static int usage(void) {
  fprintf(stderr, "usage: floor [-t THREADS] [-n HANDLES] [-b BYTES]"
                  " [-o DIR [-r] | -O -] LIST\n");
  return 2;
}

static int parse(int argc, char **argv, struct shared *sh, int *threads) {
  const char *dir = NULL;
  int c;
  while ((c = getopt(argc, argv, "t:n:b:o:O:r")) != -1) {
    if (c == 't')
      *threads = atoi(optarg);
    else if (c == 'n')
      sh->handles = atoi(optarg);
    else if (c == 'r')
      sh->rename = 1;
    else if (c == 'b')
      sh->buffer = atol(optarg);
    else if (c == 'o')
      dir = optarg;
    else if (c == 'O' && strcmp(optarg, "-") == 0)
      sh->sink = SINK_STDOUT;
    else
      return -1;
  }
  if (optind != argc - 1 || *threads < 1 || sh->handles < 1)
    return -1;
  if (dir) {
    sh->sink = SINK_FILES;
    sh->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sh->dirfd < 0)
      return fprintf(stderr, "floor: %s: %s\n", dir, strerror(errno)), -2;
  }
  sh->list = fopen(argv[optind], "r");
  if (!sh->list)
    return fprintf(stderr, "floor: %s: %s\n", argv[optind], strerror(errno)),
           -2;
  return 0;
}

int main(int argc, char **argv) {
  struct shared sh = {.handles = 32, .dirfd = -1};
  pthread_t tids[256];
  int threads = 2, i, rc = parse(argc, argv, &sh, &threads);
  if (rc == -1 || threads > 256)
    return usage();
  if (rc < 0)
    return 2;
  pthread_mutex_init(&sh.lock, NULL);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return 2;
  for (i = 0; i < threads; i++)
    if (pthread_create(&tids[i], NULL, worker, &sh) != 0)
      return fprintf(stderr, "floor: cannot start a thread\n"), 2;
  for (i = 0; i < threads; i++)
    pthread_join(tids[i], NULL);
  curl_global_cleanup();
  fclose(sh.list);
  if (sh.failed)
    fprintf(stderr, "floor: %ld jobs failed\n", sh.failed);
  return sh.failed ? 1 : 0;
}
