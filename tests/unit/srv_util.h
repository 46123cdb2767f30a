/*
 * srv_util.h - start and stop the fault-injecting test server (faultsrv)
 * from a test: on 127.0.0.1, on a port the kernel picks, stopped by pid.
 * FAULTSRV is the server's path, given by CMake.
 */
#ifndef SRV_UTIL_H
#define SRV_UTIL_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct srv {
  pid_t pid;
  int port;
  char base[64]; /* "http://127.0.0.1:PORT" */
} srv;

/* 0 on success.  Reads the "PORT n" line the server prints when ready. */
static inline int srv_start(srv *s) {
  int fds[2];
  if (pipe(fds) < 0)
    return -1;
  s->pid = fork();
  if (s->pid < 0)
    return -1;
  if (s->pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(FAULTSRV, FAULTSRV, "--port", "0", (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  FILE *f = fdopen(fds[0], "r");
  s->port = 0;
  char line[64];
  if (f && fgets(line, sizeof(line), f))
    sscanf(line, "PORT %d", &s->port);
  if (f)
    fclose(f);
  snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
  return s->port > 0 ? 0 : -1;
}

static inline void srv_stop(srv *s) {
  if (s->pid > 0) {
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
  }
}

#endif
