/*
 * main.c - jfetch's entry point: parse the command line, run, and turn the
 * run's result into the exit status (the only place that does).
 */
#include "cli_args.h"
#include "run.h"

#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
  struct cli_opts o;
  struct diag d = {{0}};
  int rc = cli_args_parse(argc, argv, &o, &d);
  if (rc != 0) {
    if (rc < 0)
      fprintf(stderr, "jfetch: %s\n", d.text);
    cli_args_free(&o);
    return rc < 0 ? EXIT_BAD_INPUT : EXIT_ALL_OK;
  }
  bool abandoned;
  int status = run_main(&o, &abandoned);
  cli_args_free(&o);
  if (abandoned) {
    fflush(stdout);
    fflush(stderr);
    _exit(status);
  }
  return status;
}
