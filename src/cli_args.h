/*
 * cli_args.h - the command line.
 *
 * One sorted option table (cli_args.c) is the single source of the
 * options: parsing finds long names in it with bsearch, and --help is
 * printed from it.  The manual page and the shell completions are checked
 * against --help by a test (tests/docs_check.sh).
 */
#ifndef JFETCH_CLI_ARGS_H
#define JFETCH_CLI_ARGS_H

#include "jobs.h"

#include <stdio.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cli_opts {
  char **urls; /* positional URLs (point into argv) */
  size_t nurls;
  const char *input_file; /* -i: URL list, "-" = stdin */
  const char *jobs_file;  /* --jobs: JSON / JSON Lines job file */
  int jobs_format;        /* enum jobs_format, or -1: from the name */
  unsigned concurrency;   /* -j */
  unsigned threads;       /* --threads; 0: one per CPU */
  const char *output_dir; /* -o; NULL: the job file's, else "." */
  const char *output;     /* -O: a file or "-" */
  bool json;              /* --json */
  double deadline_s;      /* --deadline; 0: none */
  char **headers;         /* -H, point into argv */
  size_t nheaders;
  const char *user_agent;    /* -A */
  bool insecure;             /* -k */
  const char *cacert;        /* --cacert */
  long connect_timeout_ms;   /* --connect-timeout; 0: libcurl's 300 s */
  long timeout_ms;           /* --timeout; 0: none */
  long max_redirs;           /* --max-redirs */
  int retries;               /* --retries */
  long retry_delay_ms;       /* --retry-delay: backoff base */
  long retry_max_time_ms;    /* --retry-max-time; 0: none */
  long speed_limit;          /* --speed-limit: bytes/s ... */
  long speed_time;           /* --speed-time: ... for this many seconds */
  bool resume;               /* -c/--continue */
  bool skip_existing;        /* --skip-existing */
  bool do_fsync;             /* --fsync */
  bool create_dirs;          /* --create-dirs */
  const char *checksum;      /* --checksum: ALGO=HEX, [ALGO=]FILE */
  uint64_t max_filesize;     /* --max-filesize; 0: none */
  uint64_t limit_rate;       /* --limit-rate, bytes/s; 0: none */
  uint64_t limit_rate_total; /* --limit-rate-total, bytes/s; 0: none */
  double rate;               /* --rate, starts/s; 0: none */
  double per_host_rate;      /* --per-host-rate, starts/s per host */
  unsigned per_host;         /* --per-host; 0: no limit */
  int progress;              /* PROGRESS_*: --progress, --no-progress */
  int verbosity;             /* 1 with -v: a line per attempt */
  bool quiet;                /* -q: no progress, no summary (-v apart) */
  const char *reports[8];    /* --report KIND=FILE, as given */
  size_t nreports;
  const char *format;        /* --format / -w: a line per job on stdout */
  bool check;                /* --check: validate only */
  const char *shard;         /* --shard K/N or auto[/N], as given */
  unsigned shard_k, shard_n; /* resolved; shard_n 0: no sharding */
  bool help, version;
};

enum { PROGRESS_AUTO = 0, PROGRESS_BAR, PROGRESS_PLAIN, PROGRESS_NONE };

/* Parses argv.  0: run; 1: --help or --version was handled (exit 0);
 * -1: usage error, one line in d (exit 2).  opts->urls and ->headers are
 * malloc'd arrays: free with cli_args_free. */
int cli_args_parse(int argc, char **argv, struct cli_opts *opts,
                   struct diag *d);
void cli_args_free(struct cli_opts *opts);

/* Writes --help to f. */
void cli_args_help(FILE *f);

#endif
