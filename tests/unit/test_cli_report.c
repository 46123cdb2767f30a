/*
 * test_cli_report.c - report.c: JSON string escaping, --format checks and
 * output, JSON Lines records (parsed back with cJSON: every key, nulls,
 * the shard), JUnit reports (every one valid against tests/data/junit-10.xsd
 * per xmllint --schema, the schema Jenkins' xunit plugin applies; failures,
 * errors and skips where they belong; escaping; the counts in <testsuite>;
 * cases in input order, named by id or redacted URL, unique names,
 * classname), JSON reports (parsed back, the summary counts), the human
 * summary, and credentials redacted in every one of them.
 *
 * budget: one test file per module (STYLE.md): records, --format, JUnit
 * and JSON reports share their fixtures; to split with report.c.
 */
#include "cli_test_util.h"

#include "report.h"

#include <cjson/cJSON.h>

/* ---- helpers ------------------------------------------------------------- */

/* A job_run with the given fields; strings are copied (free with
 * run_free). */
static void run_make(struct job_run *run, uint64_t index, const char *id,
                     const char *url, const char *rel, int outcome) {
  memset(run, 0, sizeof(*run));
  job_init(&run->job);
  run->job.index = index;
  run->job.id = id ? strdup(id) : NULL;
  run->job.url = strdup(url);
  run->rel = rel ? strdup(rel) : NULL;
  run->res.outcome = outcome;
  run->spool_fd = -1;
}

static void run_free(struct job_run *run) {
  job_free(&run->job);
  free(run->rel);
  job_result_free(&run->res);
}

/* One record of each kind: ok, app_error, panicked, cancelled, skipped. */
#define NRUNS 5
static void runs_make(struct job_run r[NRUNS]) {
  run_make(&r[0], 0, "first", "http://h/a?x=1&y=<2>", "a.bin", OUT_OK);
  r[0].res.http_status = 200;
  r[0].res.bytes = 1234;
  r[0].res.effective_url = strdup("http://h/a?x=1&y=<2>");
  r[0].res.elapsed_ms = 56;
  r[0].res.attempts = 1;

  run_make(&r[1], 1, "it's \"quoted\"", "http://h/missing&<>\"'", "m.bin",
           OUT_APP_ERROR);
  r[1].res.error_kind = "http";
  r[1].res.error = strdup("HTTP 404 & <Not Found> \"x\" 'y'\x01\ttab");
  r[1].res.http_status = 404;
  r[1].res.elapsed_ms = 7;
  r[1].res.attempts = 3;
  r[1].res.effective_url = strdup("http://h/missing&<>\"'");

  run_make(&r[2], 2, NULL, "http://h/boom", "boom.bin", OUT_PANICKED);
  r[2].res.error_kind = "panic";
  r[2].res.error = strdup("task panicked: <oops>");
  r[2].res.attempts = 1;

  run_make(&r[3], 3, "c", "http://h/slow", "slow.bin", OUT_CANCELLED);
  r[3].res.error_kind = "cancelled";
  r[3].res.error = strdup("cancelled by --deadline");

  run_make(&r[4], 4, "s", "http://h/there", "there.bin", OUT_OK);
  r[4].res.skipped = true;
}

static void runs_free(struct job_run r[NRUNS]) {
  for (int i = 0; i < NRUNS; i++)
    run_free(&r[i]);
}

static bool have(const char *tool) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
  return system(cmd) == 0;
}

/* Output of a shell command (malloc'd), or NULL if it failed. */
static char *run_cmd(const char *cmd) {
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  char *buf = NULL;
  size_t cap = 0, n = 0;
  int c;
  while ((c = fgetc(p)) != EOF) {
    if (n + 2 > cap) {
      cap = cap ? cap * 2 : 256;
      buf = realloc(buf, cap);
    }
    buf[n++] = (char)c;
  }
  if (!buf)
    buf = malloc(1);
  buf[n] = '\0';
  if (pclose(p) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* ---- report_json_string ---------------------------------------------- */

static char *json_str(const char *s) {
  struct tu_mem m;
  tu_mem_open(&m);
  report_json_string(m.f, s);
  return tu_mem_close(&m);
}

Test(report_json, escaping, .timeout = T_SHORT) {
  static const struct {
    const char *in, *out;
  } v[] = {
      {"", "\"\""},
      {"plain", "\"plain\""},
      {"a\"b", "\"a\\\"b\""},
      {"back\\slash", "\"back\\\\slash\""},
      {"\n\r\t", "\"\\n\\r\\t\""},
      {"\x01", "\"\\u0001\""},
      {"\x1f", "\"\\u001f\""},
      {"a\x08"
       "b\x0c"
       "c",
       "\"a\\u0008b\\u000cc\""},
      {"\x7f", "\"\\u007f\""},
      {"/", "\"/\""},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
       "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
  };
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    char *got = json_str(v[i].in);
    cr_assert_eq(strcasecmp(got, v[i].out), 0, "'%s' -> %s, want %s", v[i].in,
                 got, v[i].out);
    /* and nothing but the \u escapes' hex differs in case */
    cr_assert_eq(strlen(got), strlen(v[i].out));
    free(got);
  }
  char *n = json_str(NULL);
  cr_assert_str_eq(n, "null");
  free(n);
}

Test(report_json, every_byte_round_trips, .timeout = T_SHORT) {
  char in[256];
  for (int i = 1; i < 256; i++)
    in[i - 1] = (char)i;
  in[255] = '\0';
  char *got = json_str(in);
  for (const unsigned char *p = (const unsigned char *)got; *p; p++)
    cr_assert(*p >= 0x20 && *p != 0x7f, "raw control byte 0x%02x", *p);
  cJSON *j = cJSON_Parse(got);
  cr_assert_not_null(j, "not JSON: %s", got);
  cr_assert(cJSON_IsString(j));
  cr_assert_str_eq(j->valuestring, in);
  cJSON_Delete(j);
  free(got);
}

/* ---- --format ---------------------------------------------------------- */

Test(report_format, check, .timeout = T_SHORT) {
  struct diag d;
  const char *ok[] = {"",
                      "plain text",
                      "%{id} %{path}\\n",
                      "%{attempts}%{bytes}%{effective_url}%{elapsed_ms}"
                      "%{error}%{error_kind}%{http_status}%{id}%{index}"
                      "%{outcome}%{path}%{shard}%{skipped}%{url}",
                      "100%",
                      "%",
                      "%x",
                      "{id}",
                      "%%",
                      "a%%b"};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
    cr_assert_eq(report_format_check(ok[i], &d), 0, "'%s': %s", ok[i], d.text);
  static const struct {
    const char *fmt, *part;
  } bad[] = {{"%{nope}", "%{nope}"},
             {"x %{id} %{Id}", "%{Id}"},
             {"%{}", "%{}"},
             {"%{url", "without a closing"},
             {"%{id} %{", "without a closing"},
             {"%{ id}", "%{ id}"}};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    d.text[0] = '\0';
    cr_assert_eq(report_format_check(bad[i].fmt, &d), -1, "'%s' accepted",
                 bad[i].fmt);
    cr_assert_not_null(strstr(d.text, "--format"), "%s", d.text);
    cr_assert_not_null(strstr(d.text, bad[i].part), "'%s': '%s' lacks '%s'",
                       bad[i].fmt, d.text, bad[i].part);
  }
  /* the unknown-variable message lists the known ones */
  cr_assert_eq(report_format_check("%{x}", &d), -1);
  cr_assert_not_null(strstr(d.text, "effective_url"));
}

/* The --format line a record prints on stdout. */
static char *format_line(const struct report_cfg *cfg,
                         const struct job_run *run) {
  struct diag d;
  cr_assert_eq(report_format_check(cfg->format, &d), 0, "%s", d.text);
  struct report *r = report_create(cfg);
  struct tu_capture cap;
  tu_stdout_begin(&cap);
  report_record(r, run);
  report_flush(r);
  char *out = tu_stdout_end(&cap);
  report_destroy(r);
  return out;
}

#define ALL_VARS                                                               \
  "%{attempts}|%{bytes}|%{effective_url}|%{elapsed_ms}|%{error}|"              \
  "%{error_kind}|%{http_status}|%{id}|%{index}|%{outcome}|%{path}|"            \
  "%{shard}|%{skipped}|%{url}"

Test(report_format, escaped_percent_is_literal_in_check, .timeout = T_SHORT) {
  /* jfetch(1): "%%" prints '%'.  So "%%{id}" prints "%{id}" ... */
  struct job_run run;
  run_make(&run, 0, "the-id", "http://h/x", "x", OUT_OK);
  struct report_cfg cfg = {.format = "%%{id} %{id}"};
  char *got = format_line(&cfg, &run);
  cr_assert_str_eq(got, "%{id} the-id");
  free(got);
  run_free(&run);
  /* ... and "%%{x}" prints "%{x}": there is no variable to check */
  struct diag d = {{0}};
  cr_assert_eq(report_format_check("%%{literal}", &d), 0,
               "'%%%%{literal}' refused: %s", d.text);
  cr_assert_eq(report_format_check("100%%{", &d), 0, "'100%%%%{' refused: %s",
               d.text);
}

Test(report_format, every_variable, .timeout = T_SHORT) {
  struct job_run runs[NRUNS];
  runs_make(runs);
  struct report_cfg cfg = {.format = ALL_VARS "|%%|\\n\\t\\r\\\\\\x",
                           .path_base = "out",
                           .shard_k = 1,
                           .shard_n = 4};
  char *got = format_line(&cfg, &runs[0]);
  cr_assert_str_eq(got, "1|1234|http://h/a?x=1&y=<2>|56|||200|first|0|ok|"
                        "out/a.bin|1/4|false|http://h/a?x=1&y=<2>|%|\n\t\r"
                        "\\x");
  free(got);
  /* a failure: empty strings, no path; not sharded */
  cfg.shard_n = 0;
  cfg.format = ALL_VARS "\\n";
  got = format_line(&cfg, &runs[1]);
  cr_assert_str_eq(got, "3|0|http://h/missing&<>\"'|7|HTTP 404 & <Not Found> "
                        "\"x\" 'y'\x01\ttab|http|404|it's \"quoted\"|1|"
                        "app_error|||false|http://h/missing&<>\"'\n");
  free(got);
  /* no id, no response */
  cfg.format = "[%{id}][%{http_status}][%{effective_url}][%{outcome}]";
  got = format_line(&cfg, &runs[2]);
  cr_assert_str_eq(got, "[][0][][panicked]");
  free(got);
  cfg.format = "%{outcome} %{skipped} %{path}";
  got = format_line(&cfg, &runs[4]);
  cr_assert_str_eq(got, "ok true out/there.bin");
  free(got);
  runs_free(runs);
}

Test(report_format, paths, .timeout = T_SHORT) {
  struct job_run run;
  run_make(&run, 9, NULL, "http://h/x", "d/x.bin", OUT_OK);
  struct report_cfg cfg = {.format = "%{path}"};
  static const struct {
    const char *base, *stdout_path, *want;
  } v[] = {{NULL, NULL, "d/x.bin"},
           {".", NULL, "d/x.bin"},
           {"out", NULL, "out/d/x.bin"},
           {"out/", NULL, "out/d/x.bin"},
           {"/abs/o", NULL, "/abs/o/d/x.bin"},
           {"out", "-", "-"},
           {NULL, "file.out", "file.out"}};
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    cfg.path_base = v[i].base;
    cfg.stdout_path = v[i].stdout_path;
    char *got = format_line(&cfg, &run);
    cr_assert_str_eq(got, v[i].want, "base %s stdout %s", v[i].base,
                     v[i].stdout_path);
    free(got);
  }
  /* no rel (a body on stdout): "-" */
  free(run.rel);
  run.rel = NULL;
  cfg.path_base = "out";
  cfg.stdout_path = NULL;
  char *got = format_line(&cfg, &run);
  cr_assert_str_eq(got, "-");
  free(got);
  run_free(&run);
}

/* ---- JSON Lines records -------------------------------------------------- */

static const char *const keys[] = {
    "index",      "id",       "url",         "effective_url", "outcome",
    "error_kind", "error",    "http_status", "bytes",         "path",
    "elapsed_ms", "attempts", "skipped",     "shard"};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* The one JSON line report_record writes for run, parsed. */
static cJSON *record_json(const struct report_cfg *base,
                          const struct job_run *run) {
  struct report_cfg cfg = *base;
  struct tu_mem m;
  tu_mem_open(&m);
  cfg.json = m.f;
  struct report *r = report_create(&cfg);
  report_record(r, run);
  report_destroy(r);
  char *text = tu_mem_close(&m);
  size_t len = strlen(text);
  cr_assert_gt(len, 1);
  cr_assert_eq(text[len - 1], '\n', "not a line: %s", text);
  cr_assert_eq(strchr(text, '\n'), text + len - 1, "more than one line: %s",
               text);
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithOpts(text, &end, false);
  cr_assert_not_null(j, "not JSON: %s", text);
  cr_assert_eq(*end, '\n', "trailing bytes after the object: %s", end);
  cr_assert(cJSON_IsObject(j));
  int n = 0;
  for (cJSON *it = j->child; it; it = it->next, n++) {
    bool known = false;
    for (size_t k = 0; k < NKEYS; k++)
      known |= !strcmp(it->string, keys[k]);
    cr_assert(known, "unexpected key '%s'", it->string);
  }
  cr_assert_eq(n, (int)NKEYS, "%d keys in %s", n, text);
  for (size_t k = 0; k < NKEYS; k++)
    cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(j, keys[k]),
                       "key %s missing: %s", keys[k], text);
  free(text);
  return j;
}

static const char *str(cJSON *j, const char *k) {
  cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
  cr_assert(cJSON_IsString(v), "%s is not a string", k);
  return v->valuestring;
}

static double num(cJSON *j, const char *k) {
  cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
  cr_assert(cJSON_IsNumber(v), "%s is not a number", k);
  return v->valuedouble;
}

static bool is_null(cJSON *j, const char *k) {
  return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, k));
}

Test(report_record, json_line_ok, .timeout = T_SHORT) {
  struct job_run runs[NRUNS];
  runs_make(runs);
  struct report_cfg cfg = {.path_base = "out", .shard_k = 2, .shard_n = 3};
  cJSON *j = record_json(&cfg, &runs[0]);
  cr_assert_eq(num(j, "index"), 0);
  cr_assert_str_eq(str(j, "id"), "first");
  cr_assert_str_eq(str(j, "url"), "http://h/a?x=1&y=<2>");
  cr_assert_str_eq(str(j, "effective_url"), "http://h/a?x=1&y=<2>");
  cr_assert_str_eq(str(j, "outcome"), "ok");
  cr_assert(is_null(j, "error_kind"));
  cr_assert(is_null(j, "error"));
  cr_assert_eq(num(j, "http_status"), 200);
  cr_assert_eq(num(j, "bytes"), 1234);
  cr_assert_str_eq(str(j, "path"), "out/a.bin");
  cr_assert_eq(num(j, "elapsed_ms"), 56);
  cr_assert_eq(num(j, "attempts"), 1);
  cr_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "skipped")));
  cr_assert_str_eq(str(j, "shard"), "2/3");
  cJSON_Delete(j);
  runs_free(runs);
}

Test(report_record, json_line_nulls, .timeout = T_SHORT) {
  struct job_run runs[NRUNS];
  runs_make(runs);
  struct report_cfg cfg = {.path_base = "out"};
  /* panicked, no id, no response, no effective URL, not sharded */
  cJSON *j = record_json(&cfg, &runs[2]);
  cr_assert_eq(num(j, "index"), 2);
  cr_assert(is_null(j, "id"));
  cr_assert(is_null(j, "effective_url"));
  cr_assert_str_eq(str(j, "outcome"), "panicked");
  cr_assert_str_eq(str(j, "error_kind"), "panic");
  cr_assert_str_eq(str(j, "error"), "task panicked: <oops>");
  cr_assert(is_null(j, "http_status"));
  cr_assert_eq(num(j, "bytes"), 0);
  cr_assert(is_null(j, "path"), "a failed job has no path");
  cr_assert(is_null(j, "shard"));
  cJSON_Delete(j);
  /* strings with quotes and control bytes come back intact */
  j = record_json(&cfg, &runs[1]);
  cr_assert_str_eq(str(j, "id"), "it's \"quoted\"");
  cr_assert_str_eq(str(j, "url"), "http://h/missing&<>\"'");
  cr_assert_str_eq(str(j, "error"),
                   "HTTP 404 & <Not Found> \"x\" 'y'\x01\ttab");
  cr_assert_str_eq(str(j, "outcome"), "app_error");
  cr_assert_eq(num(j, "http_status"), 404);
  cr_assert_eq(num(j, "attempts"), 3);
  cJSON_Delete(j);
  /* skipped */
  j = record_json(&cfg, &runs[4]);
  cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "skipped")));
  cr_assert_str_eq(str(j, "outcome"), "ok");
  cr_assert_str_eq(str(j, "path"), "out/there.bin");
  cJSON_Delete(j);
  cr_assert_str_eq(report_outcome_name(OUT_CANCELLED), "cancelled");
  runs_free(runs);
}

Test(report_record, large_index_and_bytes, .timeout = T_SHORT) {
  struct job_run run;
  run_make(&run, 123456789012ull, "big", "http://h/x", "x", OUT_OK);
  run.res.bytes = 5000000000ull;
  run.res.attempts = 101;
  struct tu_mem m;
  tu_mem_open(&m);
  struct report_cfg cfg = {.json = m.f};
  struct report *r = report_create(&cfg);
  report_record(r, &run);
  report_destroy(r);
  char *text = tu_mem_close(&m);
  cr_assert_not_null(strstr(text, "\"index\":123456789012,"), "%s", text);
  cr_assert_not_null(strstr(text, "\"bytes\":5000000000,"), "%s", text);
  cr_assert_not_null(strstr(text, "\"attempts\":101,"), "%s", text);
  free(text);
  run_free(&run);
}

/* ---- report files ------------------------------------------------------- */

/* Writes every run to a report of kind ("junit" or "json") at dir/name;
 * returns the file's text. */
static char *report_file(const char *dir, const char *kind,
                         struct job_run *runs, int n,
                         const struct report_cfg *cfg, char **path_out) {
  char *path = NULL, *spec = NULL;
  cr_assert(asprintf(&path, "%s/report.%s", dir, kind) > 0);
  cr_assert(asprintf(&spec, "%s=%s", kind, path) > 0);
  struct report *r = report_create(cfg);
  struct diag d;
  cr_assert_eq(report_add_file(r, spec, &d), 0, "%s", d.text);
  for (int i = 0; i < n; i++)
    report_record(r, &runs[i]);
  cr_assert_eq(tu_count_entries(dir), 0, "the report appeared early");
  cr_assert_eq(report_close(r, 1.5, 1), 0);
  report_destroy(r);
  cr_assert_eq(tu_count_entries(dir), 1, "a temporary file was left");
  char *text = tu_read_file(path, NULL);
  cr_assert_not_null(text);
  free(spec);
  if (path_out)
    *path_out = path;
  else
    free(path);
  return text;
}

/* Asserts the JUnit file is valid against junit-10.xsd (JUNIT_XSD). */
static void junit_valid(const char *path) {
  cr_assert(have("xmllint"), "xmllint is needed to validate JUnit files");
  char *cmd = NULL;
  cr_assert(asprintf(&cmd, "xmllint --noout --schema '%s' '%s'", JUNIT_XSD,
                     path) > 0);
  cr_assert_eq(system(cmd), 0, "not valid per junit-10.xsd: %s", path);
  free(cmd);
}

/* What xmllint --xpath expr prints for the file, trailing space cut. */
static char *xpath(const char *path, const char *expr) {
  char *cmd = NULL;
  cr_assert(asprintf(&cmd, "xmllint --xpath \"%s\" '%s'", expr, path) > 0);
  char *out = run_cmd(cmd);
  cr_assert_not_null(out, "%s failed", cmd);
  size_t n = strlen(out);
  while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
    out[--n] = '\0';
  free(cmd);
  return out;
}

/* The value of attribute name in the first element that starts at tag. */
static long attr_num(const char *xml, const char *tag, const char *name) {
  const char *t = strstr(xml, tag);
  cr_assert_not_null(t, "no %s", tag);
  const char *close = strchr(t, '>');
  char pat[64];
  snprintf(pat, sizeof(pat), " %s=\"", name);
  const char *a = strstr(t, pat);
  cr_assert(a && a < close, "%s has no %s", tag, name);
  return strtol(a + strlen(pat), NULL, 10);
}

/* budget: one JUnit document checked element by element */
Test(report_junit, structure_counts_escaping, .timeout = T_SHORT) {
  char *dir = tu_mkdtemp();
  struct job_run runs[NRUNS];
  runs_make(runs);
  struct report_cfg cfg = {.path_base = "out"};
  char *path = NULL;
  char *xml = report_file(dir, "junit", runs, NRUNS, &cfg, &path);
  junit_valid(path);
  cr_assert_eq(strncmp(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39),
               0);
  cr_assert_eq(tu_count_str(xml, "<testsuites "), 1);
  cr_assert_eq(tu_count_str(xml, "<testsuite "), 1);
  cr_assert_eq(tu_count_str(xml, "</testsuite>"), 1);
  cr_assert_eq(tu_count_str(xml, "<testcase "), NRUNS);
  cr_assert_eq(tu_count_str(xml, "</testcase>"), NRUNS);
  cr_assert_eq(tu_count_str(xml, "<failure "), 1, "app_error: a failure");
  cr_assert_eq(tu_count_str(xml, "<error "), 2, "panicked, cancelled: errors");
  cr_assert_eq(tu_count_str(xml, "<skipped "), 1);
  const char *tags[] = {"<testsuites ", "<testsuite "};
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(attr_num(xml, tags[i], "tests"), NRUNS);
    cr_assert_eq(attr_num(xml, tags[i], "failures"), 1);
    cr_assert_eq(attr_num(xml, tags[i], "errors"), 2);
  }
  /* junit-10.xsd has skipped on <testsuite> only */
  cr_assert_eq(attr_num(xml, "<testsuite ", "skipped"), 1);
  cr_assert_eq(tu_count_str(xml, "skipped=\""), 1);
  /* escaping: URLs and messages, in names and attributes */
  cr_assert_null(strstr(xml, "<2>"), "raw '<' or '>' from a URL");
  cr_assert_null(strstr(xml, "<Not Found>"), "raw '<' from a message");
  cr_assert_null(strstr(xml, "<oops>"));
  cr_assert_null(strstr(xml, "\x01"), "a control byte XML forbids");
  cr_assert_not_null(strstr(xml, "it&apos;s &quot;quoted&quot;"));
  cr_assert_not_null(strstr(xml, "HTTP 404 &amp; &lt;Not Found&gt; "
                                 "&quot;x&quot; &apos;y&apos;"));
  /* each outcome under its own test case */
  const char *fail = strstr(xml, "<failure ");
  cr_assert_gt(fail, strstr(xml, "name=\"it&apos;s "));
  cr_assert_lt(fail, strstr(xml, "name=\"http://h/boom\""));
  cr_assert_not_null(strstr(xml, "<failure type=\"http\""));
  cr_assert_not_null(strstr(xml, "<error type=\"panic\""));
  cr_assert_not_null(strstr(xml, "<error type=\"cancelled\""));
  cr_assert_not_null(strstr(xml, "out/a.bin"), "the ok job's path");
  free(xml);
  if (have("xmllint")) {
    /* what a JUnit consumer reads back */
    static const struct {
      const char *xpath, *want;
    } q[] = {
        {"count(//testsuite/testcase)", "5"},
        {"count(//testcase/failure)", "1"},
        {"count(//testcase/error)", "2"},
        {"count(//testcase/skipped)", "1"},
        {"count(//testcase[1]/*[self::failure or self::error])", "0"},
        /* (a tab in an attribute reads back as a space) */
        {"substring-before(//testcase[2]/failure/@message, 'tab')",
         "HTTP 404 & <Not Found> \"x\" 'y'?"},
        {"string(//testcase[2]/@name)", "it's \"quoted\""},
        {"string(//testcase[1]/@name)", "first"},
        {"string(//testcase[3]/@name)", "http://h/boom"},
        {"string(//testcase[3]/@classname)", "jfetch"},
        {"string(//testcase[5]/skipped/@message)", "already present"},
    };
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
      char *out = xpath(path, q[i].xpath);
      cr_assert_str_eq(out, q[i].want, "%s", q[i].xpath);
      free(out);
    }
  }
  free(path);
  runs_free(runs);
  tu_rm_rf(dir);
}

Test(report_junit, empty_run, .timeout = T_SHORT) {
  char *dir = tu_mkdtemp();
  struct report_cfg cfg = {0};
  char *path = NULL;
  char *xml = report_file(dir, "junit", NULL, 0, &cfg, &path);
  junit_valid(path);
  cr_assert_eq(attr_num(xml, "<testsuite ", "tests"), 0);
  cr_assert_eq(tu_count_str(xml, "<testcase"), 0);
  free(xml);
  free(path);
  tu_rm_rf(dir);
}

/* Jobs whose names collide, with and without ids, from two sources;
 * first is the index of the first one (to test an inserted job). */
#define NNAMED 7
static void named_runs(struct job_run r[NNAMED], uint64_t first) {
  static const struct {
    const char *id, *url, *origin;
  } j[NNAMED] = {
      {"a", "http://h/a", "some/dir/jobs.json"},
      {NULL, "http://h/same", "some/dir/jobs.json"},
      {NULL, "http://h/same", "<args>"},
      {"http://h/same (2)", "http://h/other", "<stdin>"},
      {NULL, "http://h/same", NULL},
      {NULL, "http://u:pw@h/x&<y>?k=v", "x/more.jsonl"},
      {NULL, "http://tok@h/t", "x/more.jsonl"},
  };
  for (int i = 0; i < NNAMED; i++) {
    run_make(&r[i], first + (uint64_t)i, j[i].id, j[i].url, NULL,
             i == 1 ? OUT_APP_ERROR : OUT_OK);
    r[i].origin = j[i].origin;
    if (i == 1) {
      r[i].res.error_kind = "http_status";
      r[i].res.error = strdup("HTTP 404");
    }
  }
}

/* Writes the runs to a JUnit file in a scrambled completion order and
 * returns its path (in dir). */
static char *junit_scrambled(const char *dir, struct job_run *runs, int n) {
  char *path = tu_join(dir, "named.xml"), *spec = NULL;
  cr_assert(asprintf(&spec, "junit=%s", path) > 0);
  struct report_cfg cfg = {0};
  struct report *r = report_create(&cfg);
  struct diag d;
  cr_assert_eq(report_add_file(r, spec, &d), 0, "%s", d.text);
  for (int i = 0; i < n; i++)
    report_record(r, &runs[(i * 5 + 3) % n]); /* 5 is prime to 7, 8 */
  cr_assert_eq(report_close(r, 0.5, 1), 0);
  report_destroy(r);
  free(spec);
  junit_valid(path);
  return path;
}

static void names_are(const char *path, const char *const *want, int n,
                      int from) {
  for (int i = 0; i < n; i++) {
    char expr[64];
    snprintf(expr, sizeof(expr), "string(//testcase[%d]/@name)", from + i + 1);
    char *got = xpath(path, expr);
    cr_assert_str_eq(got, want[i], "test case %d", from + i + 1);
    free(got);
  }
}

static const char *const named_want[NNAMED] = {
    "a",
    "http://h/same",
    "http://h/same (3)", /* " (2)" is the next job's id */
    "http://h/same (2)",
    "http://h/same (4)",
    "http://u:***@h/x&<y>?k=v",
    "http://***@h/t",
};

Test(report_junit, input_order_unique_names_classname, .timeout = T_SHORT) {
  char *dir = tu_mkdtemp();
  struct job_run runs[NNAMED];
  named_runs(runs, 0);
  char *path = junit_scrambled(dir, runs, NNAMED);
  names_are(path, named_want, NNAMED, 0);
  static const char *const cls[NNAMED] = {
      "jobs.json", "jobs.json",  "jfetch",    "jfetch",
      "jfetch",    "more.jsonl", "more.jsonl"};
  for (int i = 0; i < NNAMED; i++) {
    char expr[64];
    snprintf(expr, sizeof(expr), "string(//testcase[%d]/@classname)", i + 1);
    char *got = xpath(path, expr);
    cr_assert_str_eq(got, cls[i], "classname of test case %d", i + 1);
    free(got);
  }
  char *got = xpath(path, "count(//testcase[2]/failure)");
  cr_assert_str_eq(got, "1", "the failure stays with its job");
  free(got);
  char *xml = tu_read_file(path, NULL);
  cr_assert_null(strstr(xml, "pw"), "a password in the report");
  cr_assert_null(strstr(xml, "tok"), "a user-name token in the report");
  cr_assert_null(strstr(xml, "#"), "an index in a name");
  free(xml);
  free(path);
  for (int i = 0; i < NNAMED; i++)
    run_free(&runs[i]);
  tu_rm_rf(dir);
}

Test(report_junit, inserting_a_job_renames_nothing, .timeout = T_SHORT) {
  char *dir = tu_mkdtemp();
  struct job_run runs[NNAMED + 1];
  run_make(&runs[0], 0, NULL, "http://h/new", NULL, OUT_OK);
  named_runs(runs + 1, 1);
  char *path = junit_scrambled(dir, runs, NNAMED + 1);
  const char *first[] = {"http://h/new"};
  names_are(path, first, 1, 0);
  names_are(path, named_want, NNAMED, 1);
  free(path);
  for (int i = 0; i < NNAMED + 1; i++)
    run_free(&runs[i]);
  tu_rm_rf(dir);
}

Test(report_redact, no_password_anywhere, .timeout = T_SHORT) {
  char *dir = tu_mkdtemp();
  struct job_run run;
  run_make(&run, 0, NULL, "http://user:secret@h/p?q=1", NULL, OUT_APP_ERROR);
  run.res.effective_url = strdup("http://user:secret@h/final");
  run.res.error_kind = "http_status";
  run.res.error = strdup("HTTP 401");
  char *junit = tu_join(dir, "r.xml"), *json = tu_join(dir, "r.json");
  char *s1 = NULL, *s2 = NULL;
  cr_assert(asprintf(&s1, "junit=%s", junit) > 0);
  cr_assert(asprintf(&s2, "json=%s", json) > 0);
  struct tu_mem m, sum;
  tu_mem_open(&m);
  struct report_cfg cfg = {.json = m.f, .format = "%{url} %{effective_url}\n"};
  struct report *r = report_create(&cfg);
  struct diag d;
  cr_assert_eq(report_add_file(r, s1, &d), 0);
  cr_assert_eq(report_add_file(r, s2, &d), 0);
  struct tu_capture cap;
  tu_stdout_begin(&cap);
  report_record(r, &run);
  report_flush(r);
  char *fmt = tu_stdout_end(&cap);
  cr_assert_eq(report_close(r, 0.1, 1), 0);
  tu_mem_open(&sum);
  report_summary(r, sum.f, 0.1);
  report_destroy(r);
  char *texts[] = {tu_mem_close(&m), fmt, tu_mem_close(&sum),
                   tu_read_file(junit, NULL), tu_read_file(json, NULL)};
  const char *what[] = {"--json", "--format", "summary", "junit", "json"};
  for (int i = 0; i < 5; i++) {
    cr_assert_not_null(texts[i]);
    cr_assert_null(strstr(texts[i], "secret"), "%s: %s", what[i], texts[i]);
    cr_assert_not_null(strstr(texts[i], "user:***@h/"), "%s: %s", what[i],
                       texts[i]);
    free(texts[i]);
  }
  junit_valid(junit);
  free(s1);
  free(s2);
  free(junit);
  free(json);
  run_free(&run);
  tu_rm_rf(dir);
}

Test(report_json_file, parses_and_counts, .timeout = T_SHORT) {
  char *dir = tu_mkdtemp();
  struct job_run runs[NRUNS];
  runs_make(runs);
  struct report_cfg cfg = {.path_base = "out", .shard_k = 0, .shard_n = 2};
  char *text = report_file(dir, "json", runs, NRUNS, &cfg, NULL);
  cJSON *j = cJSON_Parse(text);
  cr_assert_not_null(j, "not JSON:\n%s", text);
  cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "summary");
  cr_assert(cJSON_IsObject(s));
  cr_assert_eq(num(s, "jobs"), 5);
  cr_assert_eq(num(s, "ok"), 2);
  cr_assert_eq(num(s, "app_error"), 1);
  cr_assert_eq(num(s, "panicked"), 1);
  cr_assert_eq(num(s, "cancelled"), 1);
  cr_assert_eq(num(s, "skipped"), 1);
  cr_assert_eq(num(s, "elapsed_ms"), 1500);
  cr_assert_eq(num(s, "exit_status"), 1);
  cr_assert_str_eq(str(s, "shard"), "0/2");
  cr_assert_eq(strlen(str(s, "started")), 20); /* YYYY-MM-DDTHH:MM:SSZ */
  cJSON *recs = cJSON_GetObjectItemCaseSensitive(j, "records");
  cr_assert(cJSON_IsArray(recs));
  cr_assert_eq(cJSON_GetArraySize(recs), NRUNS);
  for (int i = 0; i < NRUNS; i++) {
    cJSON *rec = cJSON_GetArrayItem(recs, i);
    cr_assert_eq(num(rec, "index"), i);
    for (size_t k = 0; k < NKEYS; k++)
      cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(rec, keys[k]));
    cr_assert_str_eq(str(rec, "shard"), "0/2");
  }
  cr_assert_str_eq(str(cJSON_GetArrayItem(recs, 1), "error"),
                   "HTTP 404 & <Not Found> \"x\" 'y'\x01\ttab");
  cJSON_Delete(j);
  free(text);
  runs_free(runs);
  tu_rm_rf(dir);
}

Test(report_json_file, empty_run, .timeout = T_SHORT) {
  char *dir = tu_mkdtemp();
  struct report_cfg cfg = {0};
  char *text = report_file(dir, "json", NULL, 0, &cfg, NULL);
  cJSON *j = cJSON_Parse(text);
  cr_assert_not_null(j, "not JSON:\n%s", text);
  cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "summary");
  cr_assert_eq(num(s, "jobs"), 0);
  cr_assert(is_null(s, "shard"));
  cJSON *recs = cJSON_GetObjectItemCaseSensitive(j, "records");
  cr_assert(cJSON_IsArray(recs));
  cr_assert_eq(cJSON_GetArraySize(recs), 0);
  cJSON_Delete(j);
  free(text);
  tu_rm_rf(dir);
}

Test(report_files, both_kinds_and_stdout_json, .timeout = T_SHORT) {
  char *dir = tu_mkdtemp();
  struct job_run runs[NRUNS];
  runs_make(runs);
  char *junit = tu_join(dir, "r.xml"), *json = tu_join(dir, "r.json");
  char *s1 = NULL, *s2 = NULL;
  cr_assert(asprintf(&s1, "junit=%s", junit) > 0);
  cr_assert(asprintf(&s2, "json=%s", json) > 0);
  struct tu_mem m;
  tu_mem_open(&m);
  struct report_cfg cfg = {.json = m.f};
  struct report *r = report_create(&cfg);
  struct diag d;
  cr_assert_eq(report_add_file(r, s1, &d), 0);
  cr_assert_eq(report_add_file(r, s2, &d), 0);
  for (int i = 0; i < NRUNS; i++)
    report_record(r, &runs[i]);
  struct report_counts c;
  report_counts(r, &c);
  cr_assert_eq(c.ok, 2);
  cr_assert_eq(c.app_error, 1);
  cr_assert_eq(c.panicked, 1);
  cr_assert_eq(c.cancelled, 1);
  cr_assert_eq(c.skipped, 1);
  cr_assert_eq(report_close(r, 0.25, 3), 0);
  report_destroy(r);
  char *lines = tu_mem_close(&m);
  cr_assert_eq(tu_count_str(lines, "\n"), NRUNS);
  /* every line parses on its own */
  for (char *p = lines, *e; (e = strchr(p, '\n')); p = e + 1) {
    *e = '\0';
    cJSON *j = cJSON_Parse(p);
    cr_assert_not_null(j, "%s", p);
    cJSON_Delete(j);
  }
  free(lines);
  junit_valid(junit);
  char *text = tu_read_file(json, NULL);
  cJSON *j = cJSON_Parse(text);
  cr_assert_not_null(j);
  cr_assert_eq(
      num(cJSON_GetObjectItemCaseSensitive(j, "summary"), "exit_status"), 3);
  cJSON_Delete(j);
  free(text);
  cr_assert_eq(tu_count_entries(dir), 2);
  free(s1);
  free(s2);
  free(junit);
  free(json);
  runs_free(runs);
  tu_rm_rf(dir);
}

Test(report_files, unwritable_path, .timeout = T_SHORT) {
  struct report_cfg cfg = {0};
  struct report *r = report_create(&cfg);
  struct diag d;
  cr_assert_eq(report_add_file(r, "junit=/nonexistent-jfetch-dir/r.xml", &d), 0,
               "%s", d.text);
  struct job_run run;
  run_make(&run, 0, NULL, "http://h/x", "x", OUT_OK);
  report_record(r, &run);
  /* it says so on stderr: keep that out of the test log */
  fflush(stderr);
  int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);
  cr_assert(saved >= 0 && null >= 0);
  dup2(null, STDERR_FILENO);
  int rc = report_close(r, 0, 0);
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(null);
  cr_assert_eq(rc, -1);
  report_destroy(r);
  run_free(&run);
}

Test(report_summary, counts_and_failures, .timeout = T_SHORT) {
  struct job_run runs[NRUNS];
  runs_make(runs);
  struct report_cfg cfg = {0};
  struct report *r = report_create(&cfg);
  for (int i = 0; i < NRUNS; i++)
    report_record(r, &runs[i]);
  struct tu_mem m;
  tu_mem_open(&m);
  report_summary(r, m.f, 1.5);
  char *s = tu_mem_close(&m);
  const char *head = "jfetch: 5 jobs in 1.50 s: 2 ok (1 skipped), 1 failed, "
                     "1 panicked, 1 cancelled\n";
  cr_assert_eq(strncmp(s, head, strlen(head)), 0, "%s", s);
  cr_assert_eq(tu_count_str(s, "\n"), 4, "%s", s);
  cr_assert_not_null(strstr(s, "#1 (it's \"quoted\") http://h/missing"));
  cr_assert_not_null(strstr(s, "#2 http://h/boom: panic: task panicked"));
  cr_assert_not_null(strstr(s, "#3 (c) http://h/slow: cancelled: cancelled"));
  cr_assert_null(strstr(s, "#0"), "an ok job listed");
  free(s);
  report_destroy(r);
  /* past 20 failures the rest are counted */
  r = report_create(&cfg);
  for (int i = 0; i < 25; i++)
    report_record(r, &runs[1]);
  tu_mem_open(&m);
  report_summary(r, m.f, 0);
  s = tu_mem_close(&m);
  cr_assert_eq(tu_count_str(s, "app_error #1"), 20, "%s", s);
  cr_assert_not_null(strstr(s, "... and 5 more"), "%s", s);
  free(s);
  report_destroy(r);
  runs_free(runs);
}
