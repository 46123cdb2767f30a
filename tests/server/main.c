/*
 * main.c - faultsrv: the fault-injecting HTTP/1.1 server for jfetch's
 * integration tests.
 *
 *   faultsrv [--port N] [--port-file FILE] [--log FILE]
 *
 * Binds 127.0.0.1 only.  With port 0 (the default) the kernel picks the
 * port; once listening, the server prints "PORT <n>" on stdout and, with
 * --port-file, writes "<n>\n" to FILE atomically (a temporary file renamed
 * over it), so a test can wait for either.  --log appends one line per
 * request: "<conn id> <method> <target> <status>".  SIGTERM and SIGINT
 * close every connection and exit 0.  The endpoints are in route.c.
 *
 * One thread, one libev loop (the default loop: it owns the signals).
 * accept4 runs until EAGAIN on each wake-up.  When the process runs out of
 * descriptors (EMFILE) the listener pauses for 100 ms instead of spinning;
 * the descriptor limit is raised to its hard maximum at start so that
 * thousands of connections fit.
 */
#include "faultsrv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct options {
  unsigned port;
  const char *port_file, *log;
};

static void usage(FILE *to) {
  fputs("usage: faultsrv [--port N] [--port-file FILE] [--log FILE]\n", to);
}

/* Returns 0, 1 (--help shown) or 2 (usage error). */
static int parse_args(int argc, char **argv, struct options *o) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 1;
    }
    if (i + 1 >= argc)
      goto bad;
    const char *v = argv[++i];
    if (strcmp(a, "--port") == 0) {
      uint64_t p;
      if (!http_parse_u64(v, strlen(v), 65535, &p))
        goto bad;
      o->port = (unsigned)p;
    } else if (strcmp(a, "--port-file") == 0) {
      o->port_file = v;
    } else if (strcmp(a, "--log") == 0) {
      o->log = v;
    } else {
      goto bad;
    }
  }
  return 0;
bad:
  usage(stderr);
  return 2;
}

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* Writes "<port>\n" to path.tmp.<pid>, then renames it over path. */
static int write_port_file(const char *path, unsigned port) {
  char tmp[4096];
  int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  if (n < 0 || (size_t)n >= sizeof tmp)
    return -1;
  FILE *f = fopen(tmp, "w");
  if (!f)
    return -1;
  int bad = fprintf(f, "%u\n", port) < 0;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  struct fs_server *srv = w->data;
  for (;;) {
    int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        ev_io_stop(loop, &srv->accept_w);
        ev_timer_start(loop, &srv->accept_retry);
      }
      return;
    }
    if (conn_accept(srv, fd) != 0)
      close(fd);
  }
}

static void on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  struct fs_server *srv = w->data;
  ev_io_start(loop, &srv->accept_w);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents) {
  (void)w;
  (void)revents;
  ev_break(loop, EVBREAK_ALL);
}

/* Binds 127.0.0.1:port and listens.  Returns the fd and sets *bound, or
 * returns -1 with errno set. */
static int listen_on(unsigned port, unsigned *bound) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(fd, 4096) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  *bound = ntohs(sa.sin_port);
  return fd;
}

static void server_start(struct fs_server *srv) {
  struct ev_loop *loop = srv->loop;
  ev_io_init(&srv->accept_w, on_accept, srv->lfd, EV_READ);
  ev_timer_init(&srv->accept_retry, on_accept_retry, 0.1, 0.);
  ev_signal_init(&srv->sig_term, on_signal, SIGTERM);
  ev_signal_init(&srv->sig_int, on_signal, SIGINT);
  srv->accept_w.data = srv->accept_retry.data = srv;
  ev_io_start(loop, &srv->accept_w);
  ev_signal_start(loop, &srv->sig_term);
  ev_signal_start(loop, &srv->sig_int);
}

static void server_stop(struct fs_server *srv) {
  conn_destroy_all(srv);
  ev_io_stop(srv->loop, &srv->accept_w);
  ev_timer_stop(srv->loop, &srv->accept_retry);
  ev_signal_stop(srv->loop, &srv->sig_term);
  ev_signal_stop(srv->loop, &srv->sig_int);
  close(srv->lfd);
  stats_free(&srv->stats);
  if (srv->log)
    fclose(srv->log);
  ev_loop_destroy(srv->loop);
}

int main(int argc, char **argv) {
  struct options opt = {0};
  int rc = parse_args(argc, argv, &opt);
  if (rc)
    return rc == 1 ? 0 : 2;
  signal(SIGPIPE, SIG_IGN);
  raise_nofile();
  struct fs_server srv = {.lfd = -1};
  if (opt.log) {
    srv.log = fopen(opt.log, "a");
    if (!srv.log) {
      fprintf(stderr, "faultsrv: %s: %s\n", opt.log, strerror(errno));
      return 1;
    }
    setvbuf(srv.log, NULL, _IOLBF, 0); /* tests read it while we run */
  }
  unsigned port = 0;
  srv.lfd = listen_on(opt.port, &port);
  srv.loop = ev_default_loop(EVFLAG_AUTO);
  if (srv.lfd < 0 || !srv.loop) {
    fprintf(stderr, "faultsrv: listen on 127.0.0.1:%u: %s\n", opt.port,
            srv.loop ? strerror(errno) : "no event loop");
    return 1;
  }
  server_start(&srv);
  printf("PORT %u\n", port);
  fflush(stdout);
  if (opt.port_file && write_port_file(opt.port_file, port) != 0) {
    fprintf(stderr, "faultsrv: %s: %s\n", opt.port_file, strerror(errno));
    server_stop(&srv);
    return 1;
  }
  ev_run(srv.loop, 0);
  server_stop(&srv);
  return 0;
}
