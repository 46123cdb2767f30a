/*
 * cli_args.c - the option table, parsing, --help, --version.
 *
 * Table rows are sorted by long name (asserted on the first lookup in
 * debug builds, table_sorted, and checked by test_cli_args.c) and found with
 * bsearch, curl's aliases[] way.  Each row has an enum value, the short letter
 * if any, the argument's name (NULL for a flag), its help group and one line of
 * help.  Accepted forms:
 * --name VALUE, --name=VALUE, -x VALUE, -xVALUE, and bundled flags (-qk).
 * "--" ends options.  Every value is checked here, so that bad input stops
 * the run before anything is fetched, with a message naming the flag.
 */
#include "cli_args.h"

#include "pace.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opt_id {
  O_CACERT,
  O_CHECK,
  O_CHECKSUM,
  O_CONCURRENCY,
  O_CONNECT_TIMEOUT,
  O_CONTINUE,
  O_CREATE_DIRS,
  O_DEADLINE,
  O_FORMAT,
  O_FSYNC,
  O_HEADER,
  O_HELP,
  O_INPUT_FILE,
  O_INSECURE,
  O_JOBS,
  O_JOBS_FORMAT,
  O_JSON,
  O_LIMIT_RATE,
  O_LIMIT_RATE_TOTAL,
  O_MAX_FILESIZE,
  O_MAX_REDIRS,
  O_NO_PROGRESS,
  O_OUTPUT,
  O_OUTPUT_DIR,
  O_PER_HOST,
  O_PER_HOST_RATE,
  O_PROGRESS,
  O_QUIET,
  O_RATE,
  O_REPORT,
  O_RETRIES,
  O_RETRY_DELAY,
  O_RETRY_MAX_TIME,
  O_SHARD,
  O_SKIP_EXISTING,
  O_SPEED_LIMIT,
  O_SPEED_TIME,
  O_THREADS,
  O_TIMEOUT,
  O_USER_AGENT,
  O_VERBOSE,
  O_VERSION,
  O_WRITE_OUT
};

enum group { G_INPUT, G_RUN, G_RETRY, G_OUTPUT, G_HTTP, G_INFO, G_COUNT };
static const char *const group_title[G_COUNT] = {
    "Input", "Running",    "Retries and timeouts", "Output and results",
    "HTTP",  "Information"};

struct opt {
  const char *name;
  char letter;
  enum opt_id id;
  const char *arg; /* NULL: a flag */
  enum group group;
  const char *help;
};

/* sorted by name */
static const struct opt opts_table[] = {
    {"cacert", 0, O_CACERT, "FILE", G_HTTP,
     "CA certificates to verify peers with"},
    {"check", 0, O_CHECK, NULL, G_INPUT,
     "check the input, list every error, fetch nothing"},
    {"checksum", 0, O_CHECKSUM, "ALGO=HEX|[ALGO=]FILE", G_OUTPUT,
     "verify sha256/sha512/md5: a digest or *sum file"},
    {"concurrency", 'j', O_CONCURRENCY, "N", G_RUN,
     "transfers at once (default 16)"},
    {"connect-timeout", 0, O_CONNECT_TIMEOUT, "SECONDS", G_RETRY,
     "give up connecting after this long"},
    {"continue", 'c', O_CONTINUE, NULL, G_OUTPUT,
     "resume from an existing NAME.part"},
    {"create-dirs", 0, O_CREATE_DIRS, NULL, G_OUTPUT,
     "create the directories an output path names"},
    {"deadline", 0, O_DEADLINE, "SECONDS", G_RUN,
     "cancel what still runs after this long"},
    {"format", 0, O_FORMAT, "FORMAT", G_OUTPUT,
     "a line per job on stdout, e.g. '%{id} %{path}\\n'"},
    {"fsync", 0, O_FSYNC, NULL, G_OUTPUT,
     "fsync each file before it is renamed into place"},
    {"header", 'H', O_HEADER, "'NAME: VALUE'", G_HTTP,
     "add a request header (repeatable)"},
    {"help", 'h', O_HELP, NULL, G_INFO, "show this help and exit"},
    {"input-file", 'i', O_INPUT_FILE, "FILE", G_INPUT,
     "URLs from FILE, one a line ('-': stdin)"},
    {"insecure", 'k', O_INSECURE, NULL, G_HTTP,
     "do not verify TLS certificates"},
    {"jobs", 0, O_JOBS, "FILE", G_INPUT,
     "jobs from a JSON / JSON Lines file ('-': stdin)"},
    {"jobs-format", 0, O_JOBS_FORMAT, "json|jsonl", G_INPUT,
     "format of --jobs (default: from its name)"},
    {"json", 0, O_JSON, NULL, G_OUTPUT,
     "one JSON result record per job on stdout"},
    {"limit-rate", 0, O_LIMIT_RATE, "RATE", G_HTTP,
     "cap each transfer at RATE bytes/s (K, M, G)"},
    {"limit-rate-total", 0, O_LIMIT_RATE_TOTAL, "RATE", G_HTTP,
     "cap all transfers together at RATE bytes/s"},
    {"max-filesize", 0, O_MAX_FILESIZE, "SIZE", G_OUTPUT,
     "fail a job whose body exceeds SIZE (K, M, G)"},
    {"max-redirs", 0, O_MAX_REDIRS, "N", G_HTTP,
     "follow at most N redirects (default 20)"},
    {"no-progress", 0, O_NO_PROGRESS, NULL, G_OUTPUT,
     "no live progress display"},
    {"output", 'O', O_OUTPUT, "FILE", G_OUTPUT,
     "one job's body to FILE ('-': all to stdout)"},
    {"output-dir", 'o', O_OUTPUT_DIR, "DIR", G_OUTPUT,
     "save files under DIR (default .)"},
    {"per-host", 0, O_PER_HOST, "N", G_RUN,
     "at most N transfers to one host at once"},
    {"per-host-rate", 0, O_PER_HOST_RATE, "N/s|N/m|N/h", G_RUN,
     "at most N transfer starts to one host per unit"},
    {"progress", 0, O_PROGRESS, "bar|plain|none", G_OUTPUT,
     "live bar or a line per job (default: tty: bar)"},
    {"quiet", 'q', O_QUIET, NULL, G_OUTPUT,
     "no progress or summary; a line per failed job"},
    {"rate", 0, O_RATE, "N/s|N/m|N/h", G_RUN,
     "at most N transfer starts per unit (retries too)"},
    {"report", 0, O_REPORT, "junit|json=FILE", G_OUTPUT,
     "write a JUnit XML or JSON report (repeatable)"},
    {"retries", 0, O_RETRIES, "N", G_RETRY,
     "retry transient failures N times (default 0)"},
    {"retry-delay", 0, O_RETRY_DELAY, "SECONDS", G_RETRY,
     "backoff base: waits double from it (default 1)"},
    {"retry-max-time", 0, O_RETRY_MAX_TIME, "SECONDS", G_RETRY,
     "start no retry after this long"},
    {"shard", 0, O_SHARD, "K/N|auto[/N]", G_INPUT,
     "run only shard K of N (0-based); auto: from env"},
    {"skip-existing", 0, O_SKIP_EXISTING, NULL, G_OUTPUT,
     "skip jobs whose file already exists"},
    {"speed-limit", 0, O_SPEED_LIMIT, "BYTES", G_RETRY,
     "a transfer slower than this is stalled ..."},
    {"speed-time", 0, O_SPEED_TIME, "SECONDS", G_RETRY,
     "... after this long (a timeout)"},
    {"threads", 0, O_THREADS, "N", G_RUN,
     "worker threads (default: one per CPU)"},
    {"timeout", 0, O_TIMEOUT, "SECONDS", G_RETRY,
     "give up on an attempt after this long"},
    {"user-agent", 'A', O_USER_AGENT, "STRING", G_HTTP,
     "User-Agent header (default jfetch/VERSION)"},
    {"verbose", 'v', O_VERBOSE, NULL, G_OUTPUT,
     "a line per attempt on stderr (also with -q)"},
    {"version", 0, O_VERSION, NULL, G_INFO,
     "show versions and features, and exit"},
    {"write-out", 'w', O_WRITE_OUT, "FORMAT", G_OUTPUT, "the same as --format"},
};
#define NOPTS (sizeof(opts_table) / sizeof(opts_table[0]))

static int diag_set(struct diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int diag_set(struct diag *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->text, sizeof(d->text), fmt, ap);
  va_end(ap);
  return -1;
}

static int cmp_name(const void *key, const void *elem) {
  return strcmp(key, ((const struct opt *)elem)->name);
}

#ifndef NDEBUG
static bool table_sorted(void) {
  for (size_t i = 1; i < NOPTS; i++)
    if (strcmp(opts_table[i - 1].name, opts_table[i].name) >= 0)
      return false;
  return true;
}
#endif

static const struct opt *find_long(const char *name) {
#ifndef NDEBUG
  static bool checked;
  if (!checked) {
    assert(table_sorted() && "opts_table must be sorted for bsearch");
    checked = true;
  }
#endif
  return bsearch(name, opts_table, NOPTS, sizeof(opts_table[0]), cmp_name);
}

static const struct opt *find_short(char c) {
  for (size_t i = 0; i < NOPTS; i++)
    if (opts_table[i].letter == c)
      return &opts_table[i];
  return NULL;
}

static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 40 || lb > 40)
    return 99;
  size_t row[41];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (row[j] + 1 < best)
        best = row[j] + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static int unknown_long(const char *name, struct diag *d) {
  const struct opt *best = NULL;
  size_t bd = 3;
  for (size_t i = 0; i < NOPTS; i++) {
    size_t e = edit_distance(name, opts_table[i].name);
    if (e < bd) {
      bd = e;
      best = &opts_table[i];
    }
  }
  if (best)
    return diag_set(d, "unknown option '--%s' (did you mean '--%s'?)", name,
                    best->name);
  return diag_set(d, "unknown option '--%s' (see jfetch --help)", name);
}

/* ---- values ----------------------------------------------------------------
 */

static int parse_uint(const struct opt *o, const char *v, unsigned long lo,
                      unsigned long hi, unsigned long *out, struct diag *d) {
  char *end;
  errno = 0;
  unsigned long n = strtoul(v, &end, 10);
  if (!*v || *end || errno || *v == '-' || n < lo || n > hi)
    return diag_set(d,
                    "--%s: expected a whole number from %lu to %lu, got "
                    "'%s'",
                    o->name, lo, hi, v);
  *out = n;
  return 0;
}

/* Seconds as a decimal number, with an optional unit: ms, s, m, h. */
static int parse_seconds(const struct opt *o, const char *v, double *out,
                         struct diag *d) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  double mul = 1;
  if (!strcmp(end, "ms"))
    mul = 0.001;
  else if (!strcmp(end, "m"))
    mul = 60;
  else if (!strcmp(end, "h"))
    mul = 3600;
  else if (*end && strcmp(end, "s"))
    x = NAN;
  x *= mul;
  if (end == v || errno || !isfinite(x) || x <= 0 || x > 1e7)
    return diag_set(d,
                    "--%s: expected a positive duration in seconds "
                    "(e.g. 30, 2.5, 500ms, 5m), got '%s'",
                    o->name, v);
  *out = x;
  return 0;
}

static int parse_ms(const struct opt *o, const char *v, long *out,
                    struct diag *d) {
  double s = 0;
  if (parse_seconds(o, v, &s, d) < 0)
    return -1;
  *out = (long)ceil(s * 1000.0);
  return 0;
}

/* A byte count with an optional K, M or G suffix (powers of 1024). */
static int parse_size(const struct opt *o, const char *v, uint64_t *out,
                      struct diag *d) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  double mul = 1;
  switch (*end) {
  case 'k':
  case 'K':
    mul = 1024.0;
    end++;
    break;
  case 'm':
  case 'M':
    mul = 1048576.0;
    end++;
    break;
  case 'g':
  case 'G':
    mul = 1073741824.0;
    end++;
    break;
  default: break;
  }
  if (*end == 'B' || *end == 'b')
    end++;
  x *= mul;
  if (end == v || *end || errno || !isfinite(x) || x < 1 || x > 1e18)
    return diag_set(d,
                    "--%s: expected a size in bytes (e.g. 500000, 64K, "
                    "10M, 2G), got '%s'",
                    o->name, v);
  *out = (uint64_t)x;
  return 0;
}

/* Transfer starts per unit of time: N/s, N/m or N/h (pace.h). */
static int parse_rate(const struct opt *o, const char *v, double *out,
                      struct diag *d) {
  if (pace_parse_rate(v, out) < 0)
    return diag_set(d,
                    "--%s: expected N/s, N/m or N/h with N from 1 (e.g. "
                    "20/s, 100/m), got '%s'",
                    o->name, v);
  return 0;
}

static int push(char ***arr, size_t *n, char *v) {
  char **a = realloc(*arr, (*n + 1) * sizeof(*a));
  if (!a)
    return -1;
  a[(*n)++] = v;
  *arr = a;
  return 0;
}

/* -H 'Name: value': the same rule as a job file's "headers"
 * (jobs_check_header_line), so that neither source lets through what the
 * other refuses.  User text is quoted, control bytes escaped: the message
 * stays one line. */
static int check_header(const char *h, struct diag *d) {
  char q[JOBS_QUOTE_MAX + 16];
  const char *why;
  size_t n;
  if (jobs_check_header_line(h, &n, &why) == 0)
    return 0;
  /* only the first word: the rest may be a credential that lost its ':' */
  if (!strchr(h, ':'))
    return diag_set(d, "--header: expected 'Name: value', got %s%s",
                    jobs_quote(q, sizeof(q), h, strcspn(h, " \t")),
                    h[strcspn(h, " \t")] ? " followed by a value (not shown)"
                                         : "");
  return diag_set(d, "--header: header %s %s", jobs_quote(q, sizeof(q), h, n),
                  why);
}

/* -A is sent as a header: the header rule holds for it too. */
static int check_user_agent(const char *v, struct diag *d) {
  const char *why;
  if (jobs_check_header("User-Agent", v, &why) < 0)
    return diag_set(d, "--user-agent: header \"User-Agent\" %s", why);
  return 0;
}

/* budget: one case per option; issue 11 item 6 moves the value kinds into
 * the option table, which shrinks this switch. */
static int apply(const struct opt *o, char *v, struct cli_opts *c,
                 struct diag *d) {
  unsigned long n = 0;
  double s = 0;
  switch (o->id) {
  case O_CACERT: c->cacert = v; return 0;
  case O_CHECK: c->check = true; return 0;
  case O_FORMAT:
  case O_WRITE_OUT: c->format = v; return 0;
  case O_NO_PROGRESS: c->progress = PROGRESS_NONE; return 0;
  case O_PROGRESS:
    if (!strcmp(v, "bar"))
      c->progress = PROGRESS_BAR;
    else if (!strcmp(v, "plain"))
      c->progress = PROGRESS_PLAIN;
    else if (!strcmp(v, "none"))
      c->progress = PROGRESS_NONE;
    else
      return diag_set(d,
                      "--progress: expected bar, plain or none, got "
                      "'%s'",
                      v);
    return 0;
  case O_QUIET: c->quiet = true; return 0;
  case O_VERBOSE: c->verbosity = 1; return 0;
  case O_REPORT:
    if (strncmp(v, "junit=", 6) && strncmp(v, "json=", 5))
      return diag_set(d,
                      "--report: expected junit=FILE or json=FILE, got "
                      "'%s'",
                      v);
    if (!strchr(v, '=')[1])
      return diag_set(d, "--report: '%s' names no file", v);
    if (c->nreports == sizeof(c->reports) / sizeof(c->reports[0]))
      return diag_set(d, "--report: at most 8 reports");
    c->reports[c->nreports++] = v;
    return 0;
  case O_SHARD: c->shard = v; return 0;
  case O_CHECKSUM: c->checksum = v; return 0;
  case O_CONTINUE: c->resume = true; return 0;
  case O_CREATE_DIRS: c->create_dirs = true; return 0;
  case O_FSYNC: c->do_fsync = true; return 0;
  case O_LIMIT_RATE: return parse_size(o, v, &c->limit_rate, d);
  case O_LIMIT_RATE_TOTAL: return parse_size(o, v, &c->limit_rate_total, d);
  case O_RATE: return parse_rate(o, v, &c->rate, d);
  case O_PER_HOST_RATE: return parse_rate(o, v, &c->per_host_rate, d);
  case O_MAX_FILESIZE: return parse_size(o, v, &c->max_filesize, d);
  case O_PER_HOST:
    if (parse_uint(o, v, 1, 100000, &n, d) < 0)
      return -1;
    c->per_host = (unsigned)n;
    return 0;
  case O_RETRIES:
    if (parse_uint(o, v, 0, 100, &n, d) < 0)
      return -1;
    c->retries = (int)n;
    return 0;
  case O_RETRY_DELAY: return parse_ms(o, v, &c->retry_delay_ms, d);
  case O_RETRY_MAX_TIME: return parse_ms(o, v, &c->retry_max_time_ms, d);
  case O_SKIP_EXISTING: c->skip_existing = true; return 0;
  case O_SPEED_LIMIT:
    if (parse_uint(o, v, 1, 1000000000000ul, &n, d) < 0)
      return -1;
    c->speed_limit = (long)n;
    return 0;
  case O_SPEED_TIME:
    if (parse_seconds(o, v, &s, d) < 0)
      return -1;
    c->speed_time = (long)ceil(s); /* libcurl counts whole seconds */
    return 0;
  case O_CONCURRENCY:
    if (parse_uint(o, v, 1, 100000, &n, d) < 0)
      return -1;
    c->concurrency = (unsigned)n;
    return 0;
  case O_CONNECT_TIMEOUT: return parse_ms(o, v, &c->connect_timeout_ms, d);
  case O_DEADLINE:
    if (parse_seconds(o, v, &s, d) < 0)
      return -1;
    c->deadline_s = s;
    return 0;
  case O_HEADER:
    if (check_header(v, d) < 0)
      return -1;
    return push(&c->headers, &c->nheaders, v) ? diag_set(d, "out of memory")
                                              : 0;
  case O_HELP: c->help = true; return 0;
  case O_INPUT_FILE: c->input_file = v; return 0;
  case O_INSECURE: c->insecure = true; return 0;
  case O_JOBS: c->jobs_file = v; return 0;
  case O_JOBS_FORMAT:
    if (!strcmp(v, "json"))
      c->jobs_format = JOBS_JSON;
    else if (!strcmp(v, "jsonl") || !strcmp(v, "ndjson"))
      c->jobs_format = JOBS_JSONL;
    else
      return diag_set(d,
                      "--jobs-format: expected 'json' or 'jsonl', got "
                      "'%s'",
                      v);
    return 0;
  case O_JSON: c->json = true; return 0;
  case O_MAX_REDIRS:
    if (parse_uint(o, v, 0, 1000, &n, d) < 0)
      return -1;
    c->max_redirs = (long)n;
    return 0;
  case O_OUTPUT: c->output = v; return 0;
  case O_OUTPUT_DIR: c->output_dir = v; return 0;
  case O_THREADS:
    if (parse_uint(o, v, 1, 1024, &n, d) < 0)
      return -1;
    c->threads = (unsigned)n;
    return 0;
  case O_TIMEOUT: return parse_ms(o, v, &c->timeout_ms, d);
  case O_USER_AGENT: c->user_agent = v; return check_user_agent(v, d);
  case O_VERSION: c->version = true; return 0;
  }
  return diag_set(d, "internal error: option without handler");
}

/* ---- argv ------------------------------------------------------------------
 */

static int take_value(const struct opt *o, char *inline_v, int argc,
                      char **argv, int *i, char **v, struct diag *d) {
  if (inline_v) {
    *v = inline_v;
    return 0;
  }
  if (*i + 1 >= argc)
    return diag_set(d, "--%s needs a value (%s)", o->name, o->arg);
  *v = argv[++*i];
  return 0;
}

static int long_opt(int argc, char **argv, int *i, struct cli_opts *c,
                    struct diag *d) {
  char name[64];
  char *arg = argv[*i] + 2;
  char *eq = strchr(arg, '=');
  size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
  if (len >= sizeof(name))
    return unknown_long(arg, d);
  memcpy(name, arg, len);
  name[len] = '\0';
  const struct opt *o = find_long(name);
  if (!o)
    return unknown_long(name, d);
  if (!o->arg) {
    if (eq)
      return diag_set(d, "--%s takes no value", o->name);
    return apply(o, NULL, c, d);
  }
  char *v = NULL;
  if (take_value(o, eq ? eq + 1 : NULL, argc, argv, i, &v, d) < 0)
    return -1;
  return apply(o, v, c, d);
}

static int short_opts(int argc, char **argv, int *i, struct cli_opts *c,
                      struct diag *d) {
  for (char *p = argv[*i] + 1; *p; p++) {
    const struct opt *o = find_short(*p);
    if (!o)
      return diag_set(d, "unknown option '-%c' (see jfetch --help)", *p);
    if (!o->arg) {
      if (apply(o, NULL, c, d) < 0)
        return -1;
      continue;
    }
    char *v = NULL;
    if (take_value(o, p[1] ? p + 1 : NULL, argc, argv, i, &v, d) < 0)
      return -1;
    return apply(o, v, c, d);
  }
  return 0;
}

static void defaults(struct cli_opts *c) {
  memset(c, 0, sizeof(*c));
  c->jobs_format = -1;
  c->concurrency = 16;
  c->max_redirs = 20;
  c->retry_delay_ms = 1000;
}

/* A whole number from the environment: 0 if the variable is unset (or
 * empty), 1 with *v set, -1 with d naming the variable if it holds
 * anything but decimal digits (or overflows).  *v is written only on
 * success. */
static int env_uint(const char *name, unsigned long *v, struct diag *d) {
  const char *s = getenv(name);
  char *end;
  if (!s || !*s)
    return 0;
  errno = 0;
  unsigned long n = strtoul(s, &end, 10);
  if (*s < '0' || *s > '9' || *end || errno) {
    char q[JOBS_QUOTE_MAX + 16];
    return diag_set(d, "--shard auto: %s=%s is not a whole number", name,
                    jobs_quote(q, sizeof(q), s, strlen(s)));
  }
  *v = n;
  return 1;
}

/* Slurm: SLURM_ARRAY_TASK_ID less SLURM_ARRAY_TASK_MIN (0 if unset) of
 * SLURM_ARRAY_TASK_COUNT (unless N was given).  0, or -1 with d set. */
static int shard_slurm(unsigned long *k, unsigned long *n, struct diag *d) {
  unsigned long min = 0;
  int got_min = env_uint("SLURM_ARRAY_TASK_MIN", &min, d);
  if (got_min < 0)
    return -1;
  if (*k < min)
    return diag_set(d,
                    "--shard auto: SLURM_ARRAY_TASK_ID %lu is below "
                    "SLURM_ARRAY_TASK_MIN %lu",
                    *k, min);
  *k -= min;
  if (*n)
    return 0;
  int got = env_uint("SLURM_ARRAY_TASK_COUNT", n, d);
  if (got < 0)
    return -1;
  if (!got)
    return diag_set(d, "--shard auto: SLURM_ARRAY_TASK_COUNT is not set");
  return 0;
}

/* --shard auto[/N]: Slurm's array variables, else Kubernetes'
 * JOB_COMPLETION_INDEX with N given after "auto/".  A variable that is
 * set but malformed is an error naming it, never skipped or half read. */
static int shard_auto(unsigned long *k, unsigned long *n, struct diag *d) {
  int got = env_uint("SLURM_ARRAY_TASK_ID", k, d);
  if (got)
    return got < 0 ? -1 : shard_slurm(k, n, d);
  got = env_uint("JOB_COMPLETION_INDEX", k, d);
  if (got < 0)
    return -1;
  if (!got)
    return diag_set(d, "--shard auto: neither SLURM_ARRAY_TASK_ID nor "
                       "JOB_COMPLETION_INDEX is set");
  if (!*n)
    return diag_set(d, "--shard auto: JOB_COMPLETION_INDEX is set but "
                       "not the count: use --shard auto/N");
  return 0;
}

/* --shard K/N, or auto[/N] (shard_auto). */
static int resolve_shard(struct cli_opts *c, struct diag *d) {
  unsigned long k = 0, n = 0;
  const char *v = c->shard;
  const char *slash = strchr(v, '/');
  char *end;
  if (slash) {
    errno = 0;
    n = strtoul(slash + 1, &end, 10);
    if (*end || errno || !n || slash[1] == '-')
      return diag_set(d, "--shard: expected K/N or auto[/N], got '%s'", v);
  }
  if (!strncmp(v, "auto", 4) && (v[4] == '\0' || v[4] == '/')) {
    if (shard_auto(&k, &n, d) < 0)
      return -1;
  } else {
    errno = 0;
    k = strtoul(v, &end, 10);
    if (end == v || end != slash || errno || !slash || *v == '-')
      return diag_set(d, "--shard: expected K/N or auto[/N], got '%s'", v);
  }
  if (k >= n || n > 1000000)
    return diag_set(d,
                    "--shard: shard %lu of %lu does not exist (K counts "
                    "from 0 to N-1)",
                    k, n);
  c->shard_k = (unsigned)k;
  c->shard_n = (unsigned)n;
  return 0;
}

static int check_combination(struct cli_opts *c, struct diag *d) {
  bool output_stdout = c->output && !strcmp(c->output, "-");
  if (c->shard && resolve_shard(c, d) < 0)
    return -1;
  if (c->format && c->json)
    return diag_set(d, "--format and --json both write to stdout; choose "
                       "one");
  if (c->format && output_stdout)
    return diag_set(d, "--format and --output - both write to stdout; "
                       "choose one");
  if (c->json && output_stdout)
    return diag_set(d, "--json and --output - both write to stdout; choose "
                       "one");
  if (c->speed_limit && !c->speed_time)
    return diag_set(d, "--speed-limit needs --speed-time (how long a "
                       "transfer may stay below it)");
  if (c->resume && output_stdout)
    return diag_set(d, "--continue cannot resume into stdout");
  if (c->output && c->output_dir)
    return diag_set(d, "--output and --output-dir cannot be combined");
  if (!c->nurls && !c->input_file && !c->jobs_file)
    return diag_set(d, "nothing to fetch: give URLs, --input-file or --jobs "
                       "(see jfetch --help)");
  if (c->input_file && c->jobs_file && !strcmp(c->input_file, "-") &&
      !strcmp(c->jobs_file, "-"))
    return diag_set(d, "--input-file and --jobs cannot both read stdin");
  return 0;
}

int cli_args_parse(int argc, char **argv, struct cli_opts *c, struct diag *d) {
  defaults(c);
  bool opts_done = false;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    int rc = 0;
    if (opts_done || a[0] != '-' || !strcmp(a, "-"))
      rc = push(&c->urls, &c->nurls, a) ? diag_set(d, "out of memory") : 0;
    else if (!strcmp(a, "--"))
      opts_done = true;
    else if (a[1] == '-')
      rc = long_opt(argc, argv, &i, c, d);
    else
      rc = short_opts(argc, argv, &i, c, d);
    if (rc < 0)
      return -1;
  }
  if (c->help) {
    cli_args_help(stdout);
    return 1;
  }
  if (c->version) {
    curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    printf("jfetch %s\nlibcurl %s (%s)%s%s\n", JFETCH_VERSION, v->version,
           v->ssl_version ? v->ssl_version : "no TLS",
           (v->features & CURL_VERSION_HTTP2) ? " HTTP/2" : "",
           (v->features & CURL_VERSION_HTTP3) ? " HTTP/3" : "");
    return 1;
  }
  return check_combination(c, d);
}

void cli_args_free(struct cli_opts *c) {
  free(c->urls);
  free(c->headers);
  c->urls = c->headers = NULL;
}

void cli_args_help(FILE *f) {
  fputs("Usage: jfetch [OPTIONS] [URL...]\n"
        "Fetch many URLs concurrently and report every job's outcome.\n"
        "One URL and none of -o, -O, -i, --jobs: the body goes to stdout,\n"
        "followed by its --format/-w or --json record (as curl -w).\n",
        f);
  for (int g = 0; g < G_COUNT; g++) {
    fprintf(f, "\n%s:\n", group_title[g]);
    for (size_t i = 0; i < NOPTS; i++) {
      const struct opt *o = &opts_table[i];
      if ((int)o->group != g)
        continue;
      char left[64];
      snprintf(left, sizeof(left), "%c%c%c --%s%s%s", o->letter ? '-' : ' ',
               o->letter ? o->letter : ' ', o->letter ? ',' : ' ', o->name,
               o->arg ? " " : "", o->arg ? o->arg : "");
      if (strlen(left) > 27) /* keep a space before the help */
        fprintf(f, "  %s\n  %28s%s\n", left, "", o->help);
      else
        fprintf(f, "  %-28s%s\n", left, o->help);
    }
  }
  fputs("\nExit status: 0 all jobs ok, 1 some jobs failed (HTTP, network, "
        "file\nerrors), 2 bad usage or input (nothing fetched), 3 some tasks "
        "panicked\nor were cancelled, 130 interrupted.  See jfetch(1).\n",
        f);
}
