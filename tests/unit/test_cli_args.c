/*
 * test_cli_args.c - cli_args.c, the command line.
 *
 * The option table must be sorted for bsearch: every long option that
 * --help lists must parse (with a value where it takes one), and within a
 * help group (printed in table order) the names must be in order.  Then:
 * the accepted forms (--name=value, --name value, -jN, -j N, bundles),
 * every numeric, duration and size option's checks with a message naming
 * the flag, unknown options with a suggestion, the refused combinations,
 * --shard (K/N and auto from Slurm or Kubernetes variables), --report,
 * --progress, --help and --version.
 *
 * budget: one test file per module (STYLE.md); it grows with every flag.
 * To split by help group (output, HTTP, run) when cli_args.c is split.
 */
#include "cli_test_util.h"

#include "cli_args.h"

#include <stdarg.h>

/* Parses a NULL-terminated argument list (argv[0] "jfetch" added). */
static int parse_list(struct cli_opts *o, struct diag *d,
                      const char *const *args) {
  int argc = 1;
  while (args[argc - 1])
    argc++;
  char **argv = calloc((size_t)argc + 1, sizeof(char *));
  argv[0] = (char *)"jfetch";
  for (int i = 1; i < argc; i++)
    argv[i] = (char *)args[i - 1];
  d->text[0] = '\0';
  int rc = cli_args_parse(argc, argv, o, d);
  free(argv); /* o points at the strings, not at the array */
  return rc;
}

#define PARSE(o, d, ...)                                                       \
  parse_list(o, d, (const char *const[]){__VA_ARGS__, NULL})

/* Asserts the arguments parse (rc 0); the caller frees o. */
#define PARSE_OK(o, ...)                                                       \
  do {                                                                         \
    struct diag d_;                                                            \
    int rc_ = PARSE(o, &d_, __VA_ARGS__);                                      \
    cr_assert_eq(rc_, 0, "rc %d: %s", rc_, d_.text);                           \
  } while (0)

/* Asserts the arguments are refused with a message holding every one of
 * the given parts. */
static void refused(const char *const *args, ...) {
  struct cli_opts o;
  struct diag d;
  int rc = parse_list(&o, &d, args);
  cli_args_free(&o);
  char line[512] = "";
  for (const char *const *a = args; *a; a++)
    snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s", *a);
  cr_assert_eq(rc, -1, "accepted:%s", line);
  va_list ap;
  va_start(ap, args);
  for (const char *part; (part = va_arg(ap, const char *));)
    cr_assert_not_null(strstr(d.text, part), "%s:\n  message '%s' lacks '%s'",
                       line, d.text, part);
  va_end(ap);
}

#define REFUSED(args, ...)                                                     \
  refused((const char *const[]){args, NULL}, __VA_ARGS__, NULL)
#define ARGS(...) __VA_ARGS__

/* Asserts "flag bad[k] rest..." is refused for every k < n, with a message
 * naming the flag, the quoted value and `what` (unless NULL).  rest is
 * NULL-terminated, at most 5 arguments. */
static void refused_values(const char *flag, const char *const *bad, size_t n,
                           const char *what, const char *const *rest) {
  for (size_t k = 0; k < n; k++) {
    char quoted[64];
    snprintf(quoted, sizeof(quoted), "'%s'", bad[k]);
    const char *args[8] = {flag, bad[k]};
    for (size_t i = 0; rest[i]; i++)
      args[2 + i] = rest[i];
    refused(args, flag, quoted, what, NULL);
  }
}
#define ONLY_U ((const char *const[]){"u", NULL})

/* ---- the table and --help --------------------------------------------- */

/* A valid value for each option that takes one. */
static const struct {
  const char *name, *value;
} values[] = {
    {"cacert", "ca.pem"},      {"checksum", "sums.txt"},
    {"concurrency", "3"},      {"connect-timeout", "5"},
    {"deadline", "60"},        {"format", "%{id}\\n"},
    {"header", "X-A: b"},      {"input-file", "list.txt"},
    {"jobs", "jobs.json"},     {"jobs-format", "jsonl"},
    {"limit-rate", "10K"},     {"limit-rate-total", "1M"},
    {"per-host-rate", "5/s"},  {"rate", "20/m"},
    {"max-filesize", "1M"},    {"max-redirs", "3"},
    {"output", "file.out"},    {"output-dir", "dir"},
    {"per-host", "2"},         {"progress", "plain"},
    {"report", "junit=r.xml"}, {"retries", "3"},
    {"retry-delay", "2"},      {"retry-max-time", "30"},
    {"shard", "0/2"},          {"speed-limit", "100"},
    {"speed-time", "5"},       {"threads", "2"},
    {"timeout", "10"},         {"user-agent", "ua/1"},
    {"write-out", "%{url}"},
};

static const char *value_for(const char *name) {
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
    if (!strcmp(values[i].name, name))
      return values[i].value;
  return NULL;
}

struct helpopt {
  char name[64];
  char letter;
  int group;
};

/* The options --help lists, in order, with their group number. */
static size_t help_options(const char *help, struct helpopt *out, size_t max) {
  size_t n = 0;
  int group = -1;
  for (const char *line = help; *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    if (len > 0 && line[0] != ' ' && line[len - 1] == ':')
      group++;
    const char *name = NULL;
    char letter = 0;
    if (len > 8 && !strncmp(line, "      --", 8)) {
      name = line + 8;
    } else if (len > 8 && !strncmp(line, "  -", 3) &&
               !strncmp(line + 4, ", --", 4)) {
      letter = line[3];
      name = line + 8;
    }
    if (name) {
      cr_assert_lt(n, max);
      size_t k = strcspn(name, " \n");
      cr_assert_lt(k, sizeof(out[n].name));
      memcpy(out[n].name, name, k);
      out[n].name[k] = '\0';
      out[n].letter = letter;
      out[n].group = group;
      n++;
    }
    line += len + (end != NULL);
  }
  return n;
}

static char *help_text(void) {
  struct tu_mem m;
  tu_mem_open(&m);
  cli_args_help(m.f);
  return tu_mem_close(&m);
}

Test(cli_args_table, every_listed_option_parses, .timeout = T_SHORT) {
  char *help = help_text();
  struct helpopt opts[128];
  size_t n = help_options(help, opts, 128);
  cr_assert_geq(n, 40, "only %zu options in --help", n);
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < i; j++)
      cr_assert(strcmp(opts[i].name, opts[j].name) != 0, "--%s listed twice",
                opts[i].name);
    const char *name = opts[i].name;
    const char *v = value_for(name);
    bool info = !strcmp(name, "help") || !strcmp(name, "version");
    char *flag = NULL, *joined = NULL, *shortf = NULL;
    cr_assert(asprintf(&flag, "--%s", name) > 0);
    cr_assert(asprintf(&joined, "--%s=%s", name, v ? v : "") > 0);
    cr_assert(asprintf(&shortf, "-%c", opts[i].letter) > 0);
    /* forms: --name [value], --name=value, -x [value] */
    for (int form = 0; form < 3; form++) {
      if (form == 1 && !v)
        continue;
      if (form == 2 && !opts[i].letter)
        continue;
      const char *args[8];
      int k = 0;
      args[k++] = form == 1 ? joined : form == 2 ? shortf : flag;
      if (v && form != 1)
        args[k++] = v;
      args[k++] = "--speed-time"; /* --speed-limit needs it */
      args[k++] = "9";
      args[k++] = "http://h/x";
      args[k] = NULL;
      struct cli_opts o;
      struct diag d;
      struct tu_capture cap;
      if (info)
        tu_stdout_begin(&cap);
      int rc = parse_list(&o, &d, args);
      if (info)
        free(tu_stdout_end(&cap));
      cli_args_free(&o);
      cr_assert_eq(rc, info ? 1 : 0, "%s (form %d): rc %d: %s", name, form, rc,
                   d.text);
    }
    free(flag);
    free(joined);
    free(shortf);
  }
  /* every option that takes a value was found taking one */
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
    bool listed = false;
    for (size_t j = 0; j < n; j++)
      listed |= !strcmp(values[i].name, opts[j].name);
    cr_assert(listed, "--%s missing from --help", values[i].name);
  }
  free(help);
}

Test(cli_args_table, sorted_within_help_groups, .timeout = T_SHORT) {
  char *help = help_text();
  struct helpopt opts[128];
  size_t n = help_options(help, opts, 128);
  for (size_t i = 1; i < n; i++)
    if (opts[i].group == opts[i - 1].group)
      cr_assert_lt(strcmp(opts[i - 1].name, opts[i].name), 0,
                   "table not sorted: --%s before --%s", opts[i - 1].name,
                   opts[i].name);
  free(help);
}

Test(cli_args_table, help_columns_separated, .timeout = T_SHORT) {
  /* "  " + a 28-column left part + the help; a longer left part goes on a
   * line of its own.  Either way the argument and help never touch. */
  char *help = help_text();
  cr_assert_eq(strncmp(help, "Usage: jfetch", 13), 0);
  char bad[1024] = "";
  int nbad = 0;
  for (char *line = help; *line;) {
    char *end = strchr(line, '\n');
    cr_assert_not_null(end);
    bool opt = !strncmp(line, "      --", 8) ||
               (!strncmp(line, "  -", 3) && !strncmp(line + 4, ", --", 4));
    size_t len = (size_t)(end - line);
    bool wrapped = !strncmp(end + 1, "                              ", 30);
    if (opt && !wrapped && !(len > 30 && line[29] == ' ')) {
      nbad++;
      snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad), "\n  '%.*s'",
               (int)(len < 50 ? len : 50), line);
    }
    line = end + 1;
  }
  cr_assert_eq(nbad, 0, "%d --help lines run the argument into the help:%s",
               nbad, bad);
  free(help);
}

/* ---- defaults and forms ------------------------------------------------ */

Test(cli_args_forms, defaults, .timeout = T_SHORT) {
  struct cli_opts o;
  PARSE_OK(&o, "http://h/a", "-", "http://h/b");
  cr_assert_eq(o.nurls, 3);
  cr_assert_str_eq(o.urls[0], "http://h/a");
  cr_assert_str_eq(o.urls[1], "-");
  cr_assert_str_eq(o.urls[2], "http://h/b");
  cr_assert_eq(o.concurrency, 16);
  cr_assert_eq(o.max_redirs, 20);
  cr_assert_eq(o.retry_delay_ms, 1000);
  cr_assert_eq(o.retries, 0);
  cr_assert_eq(o.jobs_format, -1);
  cr_assert_eq(o.progress, PROGRESS_AUTO);
  cr_assert_eq(o.verbosity, 0);
  cr_assert_eq(o.threads, 0);
  cr_assert_eq(o.shard_n, 0);
  cr_assert_null(o.output_dir);
  cr_assert_null(o.output);
  cr_assert_not(o.json);
  cr_assert_not(o.insecure);
  cli_args_free(&o);
  cr_assert_null(o.urls);
}

Test(cli_args_forms, value_forms, .timeout = T_SHORT) {
  const char *const forms[][3] = {{"--concurrency=8", NULL, NULL},
                                  {"--concurrency", "8", NULL},
                                  {"-j8", NULL, NULL},
                                  {"-j", "8", NULL}};
  for (size_t i = 0; i < 4; i++) {
    const char *args[5] = {forms[i][0], forms[i][1] ? forms[i][1] : "u",
                           forms[i][1] ? "u" : NULL, NULL};
    struct cli_opts o;
    struct diag d;
    cr_assert_eq(parse_list(&o, &d, args), 0, "%s: %s", forms[i][0], d.text);
    cr_assert_eq(o.concurrency, 8, "form %zu", i);
    cr_assert_eq(o.nurls, 1, "form %zu", i);
    cr_assert_str_eq(o.urls[0], "u");
    cli_args_free(&o);
  }
  /* a value may itself start with '-' or hold '=' */
  struct cli_opts o;
  PARSE_OK(&o, "-O", "-", "--user-agent=a=b", "u");
  cr_assert_str_eq(o.output, "-");
  cr_assert_str_eq(o.user_agent, "a=b");
  cli_args_free(&o);
  PARSE_OK(&o, "-O-", "u");
  cr_assert_str_eq(o.output, "-");
  cli_args_free(&o);
  PARSE_OK(&o, "--user-agent=", "-A", "x y", "-w", "%{id}", "u");
  cr_assert_str_eq(o.format, "%{id}");
  cr_assert_str_eq(o.user_agent, "x y", "the last one wins");
  cli_args_free(&o);
}

/* -q and -v are two axes, as curl's -s and -v: -q takes away the
 * progress and the summary, -v adds a line per attempt; their order does
 * not matter (the last one used to win). */
Test(cli_args_forms, quiet_and_verbose_are_independent, .timeout = T_SHORT) {
  const char *forms[][3] = {{"-qv", NULL},
                            {"-vq", NULL},
                            {"-q", "-v"},
                            {"-v", "-q"},
                            {"--verbose", "--quiet"}};
  for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
    struct cli_opts o;
    if (forms[i][1])
      PARSE_OK(&o, forms[i][0], forms[i][1], "u");
    else
      PARSE_OK(&o, forms[i][0], "u");
    cr_assert(o.quiet, "%s %s: quiet", forms[i][0], forms[i][1]);
    cr_assert_eq(o.verbosity, 1, "%s %s: verbose", forms[i][0], forms[i][1]);
    cli_args_free(&o);
  }
  struct cli_opts o;
  PARSE_OK(&o, "-q", "u");
  cr_assert(o.quiet);
  cr_assert_eq(o.verbosity, 0);
  cli_args_free(&o);
}

Test(cli_args_forms, bundled_flags, .timeout = T_SHORT) {
  struct cli_opts o;
  PARSE_OK(&o, "-qk", "u");
  cr_assert(o.quiet);
  cr_assert(o.insecure);
  cr_assert_eq(o.nurls, 1);
  cli_args_free(&o);
  PARSE_OK(&o, "-kcj4", "u");
  cr_assert(o.insecure);
  cr_assert(o.resume);
  cr_assert_eq(o.concurrency, 4);
  cli_args_free(&o);
  PARSE_OK(&o, "-kj", "5", "u");
  cr_assert(o.insecure);
  cr_assert_eq(o.concurrency, 5);
  cli_args_free(&o);
  PARSE_OK(&o, "-vH", "X-Y: z", "-Hx-a: 1", "u");
  cr_assert_eq(o.verbosity, 1);
  cr_assert_eq(o.nheaders, 2);
  cr_assert_str_eq(o.headers[0], "X-Y: z");
  cr_assert_str_eq(o.headers[1], "x-a: 1");
  cli_args_free(&o);
  cr_assert_null(o.headers);
  REFUSED(ARGS("-qZ", "u"), "'-Z'");
  REFUSED(ARGS("-jq", "u"), "--concurrency", "'q'");
}

Test(cli_args_forms, double_dash_ends_options, .timeout = T_SHORT) {
  struct cli_opts o;
  PARSE_OK(&o, "-k", "--", "-j", "--json", "u");
  cr_assert(o.insecure);
  cr_assert_not(o.json);
  cr_assert_eq(o.concurrency, 16);
  cr_assert_eq(o.nurls, 3);
  cr_assert_str_eq(o.urls[0], "-j");
  cr_assert_str_eq(o.urls[1], "--json");
  cr_assert_str_eq(o.urls[2], "u");
  cli_args_free(&o);
}

Test(cli_args_forms, flags_and_strings, .timeout = T_SHORT) {
  struct cli_opts o;
  PARSE_OK(&o, "--check", "--checksum", "sha256=ab", "--cacert", "ca",
           "--create-dirs", "--fsync", "--skip-existing", "--continue",
           "--json", "-o", "out", "-i", "list", "--jobs", "j.jsonl",
           "--jobs-format", "ndjson", "-A", "ua");
  cr_assert(o.check);
  cr_assert_str_eq(o.checksum, "sha256=ab");
  cr_assert_str_eq(o.cacert, "ca");
  cr_assert(o.create_dirs);
  cr_assert(o.do_fsync);
  cr_assert(o.skip_existing);
  cr_assert(o.resume);
  cr_assert(o.json);
  cr_assert_str_eq(o.output_dir, "out");
  cr_assert_str_eq(o.input_file, "list");
  cr_assert_str_eq(o.jobs_file, "j.jsonl");
  cr_assert_eq(o.jobs_format, JOBS_JSONL);
  cr_assert_str_eq(o.user_agent, "ua");
  cr_assert_eq(o.nurls, 0);
  cli_args_free(&o);
  PARSE_OK(&o, "--jobs-format=json", "--jobs", "x");
  cr_assert_eq(o.jobs_format, JOBS_JSON);
  cli_args_free(&o);
  PARSE_OK(&o, "-w", "%{url}", "u");
  cr_assert_str_eq(o.format, "%{url}");
  cli_args_free(&o);
  REFUSED(ARGS("--jobs-format", "yaml", "u"), "--jobs-format", "'yaml'");
  REFUSED(ARGS("--insecure=yes", "u"), "--insecure", "takes no value");
  REFUSED(ARGS("u", "--timeout"), "--timeout", "needs a value");
  REFUSED(ARGS("u", "-j"), "--concurrency", "needs a value");
}

Test(cli_args_forms, headers_checked, .timeout = T_SHORT) {
  struct cli_opts o;
  PARSE_OK(&o, "-H", "X-Tok: a:b", "--header=Accept:", "u");
  cr_assert_eq(o.nheaders, 2);
  cr_assert_str_eq(o.headers[0], "X-Tok: a:b");
  cr_assert_str_eq(o.headers[1], "Accept:");
  cli_args_free(&o);
  REFUSED(ARGS("-H", "NoColon", "u"), "--header", "\"NoColon\"");
  REFUSED(ARGS("-H", ": v", "u"), "--header");
  REFUSED(ARGS("-H", "Bad Name: v", "u"), "--header", "\"Bad Name\"",
          "HTTP token");
  REFUSED(ARGS("-H", "X(y): v", "u"), "--header");
  REFUSED(ARGS("-H", "X: a\r\nInjected: b", "u"), "--header", "CR or LF");
  REFUSED(ARGS("-H", "X: a\nb", "u"), "--header", "CR or LF");
}

/* -H and a job file's "headers" share one rule (jobs_check_header_line):
 * every control byte but tab is refused in the value, and the line is at
 * most 64 KiB, with a one-line message naming the flag. */
Test(cli_args_forms, headers_same_rule_as_job_files, .timeout = T_SHORT) {
  struct cli_opts o;
  PARSE_OK(&o, "-H", "X-A:\tb c", "-H", "X-B: caf\xc3\xa9", "u");
  cli_args_free(&o);
  static const char *const ctl[] = {"X: a\x01", "X: a\x1f", "X: a\x7f",
                                    "X: \x1b[31mred", "X: a\x0b"};
  for (size_t i = 0; i < sizeof(ctl) / sizeof(ctl[0]); i++) {
    const char *args[] = {"-H", ctl[i], "u", NULL};
    refused(args, "--header", "\"X\"", "control character", NULL);
    struct cli_opts o2;
    struct diag d;
    parse_list(&o2, &d, args);
    cli_args_free(&o2);
    cr_assert_null(strpbrk(d.text, "\x01\x1f\x7f\x1b\x0b\n"),
                   "raw control byte in '%s'", d.text);
  }
  size_t max = JOB_MAX_HEADER;
  char *big = malloc(max + 2);
  memcpy(big, "X-Big: ", 7);
  memset(big + 7, 'v', max - 7);
  big[max] = '\0'; /* exactly 64 KiB: accepted */
  PARSE_OK(&o, "-H", big, "u");
  cli_args_free(&o);
  big[max] = 'v';
  big[max + 1] = '\0';
  REFUSED(ARGS("-H", big, "u"), "--header", "\"X-Big\"", "65536 bytes");
  free(big);
  /* the User-Agent is a header too */
  REFUSED(ARGS("-A", "a\r\nX-Evil: 1", "u"), "--user-agent", "CR or LF");
  REFUSED(ARGS("-A", "a\x01", "u"), "--user-agent", "control character");
  PARSE_OK(&o, "-A", "jfetch-test/1.0 (tab\tok)", "u");
  cli_args_free(&o);
}

/* ---- numbers, durations, sizes ------------------------------------------ */

static const struct {
  const char *name;
  unsigned long lo, hi;
} uints[] = {{"concurrency", 1, 100000}, {"threads", 1, 1024},
             {"per-host", 1, 100000},    {"retries", 0, 100},
             {"max-redirs", 0, 1000},    {"speed-limit", 1, 1000000000000ul}};

static unsigned long uint_field(const struct cli_opts *o, const char *name) {
  if (!strcmp(name, "concurrency"))
    return o->concurrency;
  if (!strcmp(name, "threads"))
    return o->threads;
  if (!strcmp(name, "per-host"))
    return o->per_host;
  if (!strcmp(name, "retries"))
    return (unsigned long)o->retries;
  if (!strcmp(name, "max-redirs"))
    return (unsigned long)o->max_redirs;
  return (unsigned long)o->speed_limit;
}

Test(cli_args_values, whole_numbers, .timeout = T_SHORT) {
  for (size_t i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
    char flag[64], lo[32], hi[32], over[32], under[32];
    snprintf(flag, sizeof(flag), "--%s", uints[i].name);
    snprintf(lo, sizeof(lo), "%lu", uints[i].lo);
    snprintf(hi, sizeof(hi), "%lu", uints[i].hi);
    snprintf(over, sizeof(over), "%lu", uints[i].hi + 1);
    snprintf(under, sizeof(under), "%ld", (long)uints[i].lo - 1);
    const char *ok[] = {lo, hi};
    for (int k = 0; k < 2; k++) {
      struct cli_opts o;
      struct diag d;
      const char *args[] = {"--speed-time", "7", flag, ok[k], "u", NULL};
      int rc = parse_list(&o, &d, args);
      cr_assert_eq(rc, 0, "%s %s: %s", flag, ok[k], d.text);
      cr_assert_eq(uint_field(&o, uints[i].name), strtoul(ok[k], NULL, 10),
                   "%s %s", flag, ok[k]);
      cli_args_free(&o);
    }
    const char *bad[] = {"abc",
                         "",
                         "5x",
                         "x5",
                         "-1",
                         "-0",
                         "1.5",
                         over,
                         "99999999999999999999999",
                         uints[i].lo ? under : "-5"};
    refused_values(flag, bad, sizeof(bad) / sizeof(bad[0]), "whole number",
                   (const char *const[]){"--speed-time", "7", "u", NULL});
  }
}

struct dur {
  const char *text;
  long ms;
};
static const struct dur durs[] = {
    {"30", 30000},   {"2.5", 2500},  {"500ms", 500}, {"5m", 300000},
    {"1h", 3600000}, {"10s", 10000}, {"0.001", 1},   {"1.5m", 90000}};

Test(cli_args_values, durations, .timeout = T_SHORT) {
  const char *names[] = {"timeout", "connect-timeout", "retry-delay",
                         "retry-max-time", "deadline"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    char flag[64];
    snprintf(flag, sizeof(flag), "--%s", names[i]);
    for (size_t k = 0; k < sizeof(durs) / sizeof(durs[0]); k++) {
      struct cli_opts o;
      struct diag d;
      const char *args[] = {flag, durs[k].text, "u", NULL};
      cr_assert_eq(parse_list(&o, &d, args), 0, "%s %s: %s", flag, durs[k].text,
                   d.text);
      long got = i == 0   ? o.timeout_ms
                 : i == 1 ? o.connect_timeout_ms
                 : i == 2 ? o.retry_delay_ms
                 : i == 3 ? o.retry_max_time_ms
                          : (long)(o.deadline_s * 1000.0 + 0.5);
      cr_assert_eq(got, durs[k].ms, "%s %s: %ld ms", flag, durs[k].text, got);
      cli_args_free(&o);
    }
    const char *bad[] = {"0",   "-1",  "",    "abc", "5x", "5 m", "1d",
                         "nan", "inf", "1e8", "0ms", "ms", "-5m"};
    refused_values(flag, bad, sizeof(bad) / sizeof(bad[0]), "duration", ONLY_U);
  }
}

Test(cli_args_values, speed_time_whole_seconds, .timeout = T_SHORT) {
  /* a duration, rounded up to libcurl's whole seconds */
  const long want[] = {30, 3, 1, 300, 3600, 10, 1, 90};
  for (size_t k = 0; k < sizeof(durs) / sizeof(durs[0]); k++) {
    struct cli_opts o;
    struct diag d;
    const char *args[] = {"--speed-time", durs[k].text, "u", NULL};
    cr_assert_eq(parse_list(&o, &d, args), 0, "%s: %s", durs[k].text, d.text);
    cr_assert_eq(o.speed_time, want[k], "--speed-time %s: %ld", durs[k].text,
                 o.speed_time);
    cli_args_free(&o);
  }
  const char *bad[] = {"0", "-1", "", "abc", "5x", "nan", "inf", "1e8"};
  refused_values("--speed-time", bad, sizeof(bad) / sizeof(bad[0]), NULL,
                 ONLY_U);
}

Test(cli_args_values, sizes, .timeout = T_SHORT) {
  static const struct {
    const char *text;
    uint64_t n;
  } ok[] = {
      {"500000", 500000},    {"64K", 65536}, {"64k", 65536},  {"10M", 10485760},
      {"2G", 2147483648ull}, {"1.5K", 1536}, {"64KB", 65536}, {"1", 1}};
  const char *names[] = {"max-filesize", "limit-rate", "limit-rate-total"};
  for (int i = 0; i < 3; i++) {
    char flag[64];
    snprintf(flag, sizeof(flag), "--%s", names[i]);
    for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
      struct cli_opts o;
      struct diag d;
      const char *args[] = {flag, ok[k].text, "u", NULL};
      cr_assert_eq(parse_list(&o, &d, args), 0, "%s %s: %s", flag, ok[k].text,
                   d.text);
      uint64_t got = i == 2 ? o.limit_rate_total
                     : i    ? o.limit_rate
                            : o.max_filesize;
      cr_assert_eq(got, ok[k].n, "%s %s: %llu", flag, ok[k].text,
                   (unsigned long long)got);
      cli_args_free(&o);
    }
    const char *bad[] = {"",  "abc", "0",    "-5",  "10X", "1T",
                         "K", "0.5", "10 M", "inf", "nan", "1e19"};
    refused_values(flag, bad, sizeof(bad) / sizeof(bad[0]), "size", ONLY_U);
  }
}

Test(cli_args_values, rates, .timeout = T_SHORT) {
  static const struct {
    const char *text;
    double per_s;
  } ok[] = {{"20/s", 20}, {"1/s", 1}, {"120/m", 2}, {"7200/h", 2}};
  const char *names[] = {"rate", "per-host-rate"};
  for (int i = 0; i < 2; i++) {
    char flag[64];
    snprintf(flag, sizeof(flag), "--%s", names[i]);
    for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
      struct cli_opts o;
      struct diag d;
      const char *args[] = {flag, ok[k].text, "u", NULL};
      cr_assert_eq(parse_list(&o, &d, args), 0, "%s %s: %s", flag, ok[k].text,
                   d.text);
      double got = i ? o.per_host_rate : o.rate;
      cr_assert_float_eq(got, ok[k].per_s, 1e-9, "%s %s: %g", flag, ok[k].text,
                         got);
      cli_args_free(&o);
    }
    const char *bad[] = {"",      "10",    "10/d", "0/s",   "-1/s",
                         "1.5/s", "10/",   "/s",   "10/ss", "10/S",
                         "x/s",   "10/s/", " 1/s", "1e3/s"};
    refused_values(flag, bad, sizeof(bad) / sizeof(bad[0]), "N/s", ONLY_U);
  }
}

/* ---- unknown options -------------------------------------------------------
 */

Test(cli_args_unknown, suggestions, .timeout = T_SHORT) {
  REFUSED(ARGS("--retires", "3", "u"), "'--retires'",
          "did you mean '--retries'");
  REFUSED(ARGS("--jsn", "u"), "'--jsn'", "did you mean '--json'");
  REFUSED(ARGS("--time-out=5", "u"), "'--time-out'",
          "did you mean '--timeout'");
  REFUSED(ARGS("--outputdir", "d", "u"), "did you mean '--output-dir'");
  REFUSED(ARGS("--frobnicate", "u"), "'--frobnicate'", "jfetch --help");
  REFUSED(ARGS("--"), "nothing to fetch"); /* "--" is not unknown */
  char longopt[200] = "--";
  memset(longopt + 2, 'x', 150);
  longopt[152] = '\0';
  REFUSED(ARGS(longopt, "u"), "unknown option");
  REFUSED(ARGS("-Z", "u"), "unknown option '-Z'");
  /* no prefix matching */
  REFUSED(ARGS("--conc", "4", "u"), "unknown option '--conc'");
  REFUSED(ARGS("--JSON", "u"), "unknown option '--JSON'");
}

/* ---- combinations -----------------------------------------------------------
 */

Test(cli_args_combos, refused, .timeout = T_SHORT) {
  REFUSED(ARGS("--json", "-O", "-", "u"), "--json", "--output -");
  REFUSED(ARGS("-O", "-", "--json", "u"), "--json", "--output -");
  REFUSED(ARGS("--format", "%{id}", "--json", "u"), "--format", "--json");
  REFUSED(ARGS("-w", "%{id}", "-O", "-", "u"), "--format", "--output -");
  REFUSED(ARGS("--output", "f", "--output-dir", "d", "u"), "--output",
          "--output-dir");
  REFUSED(ARGS("-O", "f", "-o", "d", "u"), "--output", "--output-dir");
  REFUSED(ARGS("--speed-limit", "100", "u"), "--speed-limit", "--speed-time");
  REFUSED(ARGS("--continue", "-O", "-", "u"), "--continue", "stdout");
  REFUSED(ARGS("-c", "-O-", "u"), "--continue");
  REFUSED(ARGS("-k"), "nothing to fetch");
  REFUSED(ARGS("-o", "dir", "--json"), "nothing to fetch");
  REFUSED(ARGS("-i", "-", "--jobs", "-"), "--input-file", "--jobs", "stdin");
}

Test(cli_args_combos, accepted, .timeout = T_SHORT) {
  struct cli_opts o;
  PARSE_OK(&o, "--json", "-O", "file", "u");
  cli_args_free(&o);
  PARSE_OK(&o, "--speed-limit", "100", "--speed-time", "5", "u");
  cr_assert_eq(o.speed_limit, 100);
  cr_assert_eq(o.speed_time, 5);
  cli_args_free(&o);
  PARSE_OK(&o, "--speed-time", "5", "u");
  cli_args_free(&o);
  PARSE_OK(&o, "-c", "-O", "file", "u");
  cli_args_free(&o);
  PARSE_OK(&o, "-O", "-", "u", "v");
  cli_args_free(&o);
  PARSE_OK(&o, "-i", "-", "--jobs", "j.json");
  cli_args_free(&o);
  PARSE_OK(&o, "-i", "list");
  cli_args_free(&o);
  PARSE_OK(&o, "--jobs", "-");
  cli_args_free(&o);
}

/* ---- --shard ---------------------------------------------------------------
 */

static void clear_env(void) {
  unsetenv("SLURM_ARRAY_TASK_ID");
  unsetenv("SLURM_ARRAY_TASK_MIN");
  unsetenv("SLURM_ARRAY_TASK_COUNT");
  unsetenv("JOB_COMPLETION_INDEX");
}

static void shard_is(const char *v, unsigned k, unsigned n) {
  struct cli_opts o;
  struct diag d;
  const char *args[] = {"--shard", v, "u", NULL};
  cr_assert_eq(parse_list(&o, &d, args), 0, "--shard %s: %s", v, d.text);
  cr_assert_eq(o.shard_k, k, "--shard %s: k %u", v, o.shard_k);
  cr_assert_eq(o.shard_n, n, "--shard %s: n %u", v, o.shard_n);
  cr_assert_str_eq(o.shard, v);
  cli_args_free(&o);
}

Test(cli_args_shard, k_of_n, .timeout = T_SHORT) {
  clear_env();
  shard_is("0/1", 0, 1);
  shard_is("1/4", 1, 4);
  shard_is("3/4", 3, 4);
  shard_is("999999/1000000", 999999, 1000000);
  REFUSED(ARGS("--shard", "4/4", "u"), "--shard", "4 of 4",
          "does not "
          "exist");
  REFUSED(ARGS("--shard", "5/4", "u"), "--shard", "does not exist");
  REFUSED(ARGS("--shard", "0/1000001", "u"), "--shard");
  const char *bad[] = {"a/4",  "1/0",  "1/",    "/4", "-1/4",  "1/-4", "1",
                       "1/4x", "1x/4", "1/4/5", "",   "auto4", "1/04x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    const char *args[] = {"--shard", bad[i], "u", NULL};
    refused(args, "--shard", NULL);
  }
}

Test(cli_args_shard, auto_from_slurm, .timeout = T_SHORT) {
  clear_env();
  setenv("SLURM_ARRAY_TASK_ID", "2", 1);
  setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
  shard_is("auto", 2, 4);
  /* an array numbered from MIN */
  setenv("SLURM_ARRAY_TASK_ID", "5", 1);
  setenv("SLURM_ARRAY_TASK_MIN", "3", 1);
  shard_is("auto", 2, 4);
  /* auto/N overrides the count */
  shard_is("auto/10", 2, 10);
  /* Slurm wins over Kubernetes */
  setenv("JOB_COMPLETION_INDEX", "1", 1);
  shard_is("auto", 2, 4);
  /* an index past the count */
  setenv("SLURM_ARRAY_TASK_ID", "7", 1);
  REFUSED(ARGS("--shard", "auto", "u"), "--shard", "4 of 4");
  /* no count */
  setenv("SLURM_ARRAY_TASK_ID", "1", 1);
  unsetenv("SLURM_ARRAY_TASK_MIN");
  unsetenv("SLURM_ARRAY_TASK_COUNT");
  REFUSED(ARGS("--shard", "auto", "u"), "SLURM_ARRAY_TASK_COUNT");
  shard_is("auto/3", 1, 3);
  clear_env();
}

Test(cli_args_shard, auto_from_kubernetes, .timeout = T_SHORT) {
  clear_env();
  setenv("JOB_COMPLETION_INDEX", "2", 1);
  shard_is("auto/3", 2, 3);
  setenv("JOB_COMPLETION_INDEX", "0", 1);
  shard_is("auto/1", 0, 1);
  REFUSED(ARGS("--shard", "auto", "u"), "JOB_COMPLETION_INDEX", "auto/N");
  setenv("JOB_COMPLETION_INDEX", "3", 1);
  REFUSED(ARGS("--shard", "auto/3", "u"), "3 of 3");
  REFUSED(ARGS("--shard", "auto/0", "u"), "--shard");
  REFUSED(ARGS("--shard", "auto/x", "u"), "--shard");
  clear_env();
}

Test(cli_args_shard, auto_without_environment, .timeout = T_SHORT) {
  clear_env();
  REFUSED(ARGS("--shard", "auto", "u"), "SLURM_ARRAY_TASK_ID",
          "JOB_COMPLETION_INDEX");
  REFUSED(ARGS("--shard", "auto/4", "u"), "SLURM_ARRAY_TASK_ID",
          "JOB_COMPLETION_INDEX");
  setenv("JOB_COMPLETION_INDEX", "", 1);
  REFUSED(ARGS("--shard", "auto/4", "u"), "neither");
  clear_env();
}

/* A variable that is set but not a whole number is refused by name (it
 * was read as far as its digits went, or skipped for the next one). */
Test(cli_args_shard, auto_malformed_environment, .timeout = T_SHORT) {
  static const char *const bad[] = {
      "2x", "x1", "-1", "+1", " 1", "1 ", "1.5", "99999999999999999999999"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    clear_env();
    setenv("SLURM_ARRAY_TASK_ID", "3", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "8", 1);
    setenv("SLURM_ARRAY_TASK_MIN", bad[i], 1);
    REFUSED(ARGS("--shard", "auto", "u"), "--shard auto",
            "SLURM_ARRAY_TASK_MIN=", "not a whole number");
    unsetenv("SLURM_ARRAY_TASK_MIN");
    setenv("SLURM_ARRAY_TASK_ID", bad[i], 1);
    REFUSED(ARGS("--shard", "auto", "u"),
            "SLURM_ARRAY_TASK_ID=", "not a whole number");
    setenv("SLURM_ARRAY_TASK_ID", "3", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", bad[i], 1);
    REFUSED(ARGS("--shard", "auto", "u"),
            "SLURM_ARRAY_TASK_COUNT=", "not a whole number");
    clear_env();
    setenv("JOB_COMPLETION_INDEX", bad[i], 1);
    REFUSED(ARGS("--shard", "auto/4", "u"),
            "JOB_COMPLETION_INDEX=", "not a whole number");
  }
  /* the case of the report: MIN=2x was taken as 2, ID=3x got "neither" */
  clear_env();
  setenv("SLURM_ARRAY_TASK_ID", "3x", 1);
  setenv("JOB_COMPLETION_INDEX", "1", 1);
  REFUSED(ARGS("--shard", "auto/4", "u"), "SLURM_ARRAY_TASK_ID=\"3x\"");
  /* an id below the array's first is an inconsistent environment */
  clear_env();
  setenv("SLURM_ARRAY_TASK_ID", "1", 1);
  setenv("SLURM_ARRAY_TASK_MIN", "2", 1);
  setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
  REFUSED(ARGS("--shard", "auto", "u"), "SLURM_ARRAY_TASK_ID 1",
          "below SLURM_ARRAY_TASK_MIN 2");
  clear_env();
}

/* ---- --report, --progress
 * ------------------------------------------------------ */

Test(cli_args_misc, report_values, .timeout = T_SHORT) {
  struct cli_opts o;
  PARSE_OK(&o, "--report", "junit=r.xml", "--report=json=out/r.json", "u");
  cr_assert_eq(o.nreports, 2);
  cr_assert_str_eq(o.reports[0], "junit=r.xml");
  cr_assert_str_eq(o.reports[1], "json=out/r.json");
  cli_args_free(&o);
  PARSE_OK(&o, "--report", "junit=a", "--report", "junit=b", "--report",
           "json=c", "--report", "json=d", "--report", "junit=e", "--report",
           "junit=f", "--report", "junit=g", "--report", "junit=h", "u");
  cr_assert_eq(o.nreports, 8);
  cr_assert_str_eq(o.reports[7], "junit=h");
  cli_args_free(&o);
  REFUSED(ARGS("--report", "junit=a", "--report", "junit=b", "--report",
               "json=c", "--report", "json=d", "--report", "junit=e",
               "--report", "junit=f", "--report", "junit=g", "--report",
               "junit=h", "--report", "junit=i", "u"),
          "--report", "at most 8");
  REFUSED(ARGS("--report", "xml=r.xml", "u"), "--report", "'xml=r.xml'");
  REFUSED(ARGS("--report", "junit", "u"), "--report", "'junit'");
  REFUSED(ARGS("--report", "r.xml", "u"), "--report");
  REFUSED(ARGS("--report", "junit=", "u"), "--report", "names no file");
  REFUSED(ARGS("--report=json=", "u"), "--report", "names no file");
  REFUSED(ARGS("--report", "JUNIT=r", "u"), "--report");
}

Test(cli_args_misc, progress_values, .timeout = T_SHORT) {
  static const struct {
    const char *v;
    int p;
  } ok[] = {{"bar", PROGRESS_BAR},
            {"plain", PROGRESS_PLAIN},
            {"none", PROGRESS_NONE}};
  for (size_t i = 0; i < 3; i++) {
    struct cli_opts o;
    struct diag d;
    const char *args[] = {"--progress", ok[i].v, "u", NULL};
    cr_assert_eq(parse_list(&o, &d, args), 0, "%s", d.text);
    cr_assert_eq(o.progress, ok[i].p, "--progress %s", ok[i].v);
    cli_args_free(&o);
  }
  struct cli_opts o;
  PARSE_OK(&o, "--no-progress", "u");
  cr_assert_eq(o.progress, PROGRESS_NONE);
  cli_args_free(&o);
  PARSE_OK(&o, "--no-progress", "--progress=bar", "u");
  cr_assert_eq(o.progress, PROGRESS_BAR, "the last one wins");
  cli_args_free(&o);
  PARSE_OK(&o, "-q", "u");
  cr_assert(o.quiet);
  cli_args_free(&o);
  REFUSED(ARGS("--progress", "fancy", "u"), "--progress", "'fancy'");
  REFUSED(ARGS("--progress", "", "u"), "--progress");
  REFUSED(ARGS("--progress", "BAR", "u"), "--progress");
}

/* ---- --help, --version
 * ----------------------------------------------------------- */

Test(cli_args_info, help, .timeout = T_SHORT) {
  const char *const lists[][3] = {
      {"--help", NULL, NULL},
      {"-h", NULL, NULL},
      {"-qh", NULL, NULL},
      /* usage errors found after the loop do not matter with --help */
      {"--help", "--json", "-O-"}};
  char *want = help_text();
  for (size_t i = 0; i < 4; i++) {
    struct cli_opts o;
    struct diag d;
    struct tu_capture cap;
    const char *args[4] = {lists[i][0], lists[i][1], lists[i][2], NULL};
    tu_stdout_begin(&cap);
    int rc = parse_list(&o, &d, args);
    char *out = tu_stdout_end(&cap);
    cli_args_free(&o);
    cr_assert_eq(rc, 1, "%s: rc %d %s", args[0], rc, d.text);
    cr_assert_str_eq(out, want, "%s printed something else", args[0]);
    free(out);
  }
  free(want);
}

Test(cli_args_info, version, .timeout = T_SHORT) {
  struct cli_opts o;
  struct diag d;
  struct tu_capture cap;
  tu_stdout_begin(&cap);
  int rc = PARSE(&o, &d, "--version");
  char *out = tu_stdout_end(&cap);
  cli_args_free(&o);
  cr_assert_eq(rc, 1, "rc %d: %s", rc, d.text);
  cr_assert_eq(strncmp(out, "jfetch " JFETCH_VERSION "\nlibcurl ",
                       strlen("jfetch " JFETCH_VERSION "\nlibcurl ")),
               0, "'%s'", out);
  cr_assert_eq(out[strlen(out) - 1], '\n');
  free(out);
}
