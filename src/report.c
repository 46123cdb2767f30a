/*
 * report.c - one record per job, wherever records go, and the summary.
 *
 * Records go out in completion order, each with its input index, so a
 * consumer can restore input order (sort_by(.index)) or concatenate the
 * records of several shards.  Every key is always present, null where it
 * does not apply, so jq filters need no guards.  Records on stdout are
 * buffered by stdio and flushed whenever the run is about to wait
 * (report_flush), so output is prompt without a write per record.
 *
 * Report files (--report junit=FILE, json=FILE) need the totals in their
 * first lines, so their bodies are streamed to an unlinked temporary file
 * during the run and assembled into FILE.tmp at the end, then renamed:
 * a CI system never reads a half-written report, and a run of a million
 * jobs holds none of them in memory.  JUnit cases go out in input order
 * with unique names (see "JUnit test cases"), which costs 40 bytes of
 * memory per job for where each case sits, and 64 to 128 at the end for
 * the name table.
 *
 * Every URL written (url, effective_url, JUnit names, the summary) goes
 * through redact_url: the password never leaves the request.
 *
 * The summary keeps the first MAX_LISTED failures (one line each) and
 * counts the rest.  With -q there is no summary: every failure gets its
 * line on stderr as its record is made (cfg.failures).
 */
#include "report.h"
#include "redact.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTED 20
#define MAX_FILES 8

enum { REP_JUNIT, REP_JSON };

/* Where one JUnit test case sits in its file's body: nlen bytes of raw
 * name at off, then blen bytes of the rest; hash is the name's. */
struct jcase {
  uint64_t index, hash, nlen, blen;
  off_t off;
};

struct rfile {
  int kind;
  char *path;
  FILE *body; /* unlinked temporary file */
  uint64_t n;
  struct jcase *cases; /* JUnit: one per job, in completion order */
  size_t ncases, cap;
  uint64_t end;  /* bytes in body */
  FILE *mem;     /* JUnit: one case is put together here, then copied */
  char *mem_buf; /* mem's bytes (open_memstream) */
  size_t mem_len;
  bool broken; /* out of memory for cases: the file cannot be written */
};

struct report {
  struct report_cfg cfg;
  struct report_counts n;
  char *listed[MAX_LISTED];
  size_t nlisted;
  struct rfile files[MAX_FILES];
  size_t nfiles;
  char started[32]; /* ISO 8601, for JUnit's timestamp */
};

static const char *const outcome_names[] = {"ok", "app_error", "panicked",
                                            "cancelled"};

const char *report_outcome_name(int o) { return outcome_names[o]; }

struct report *report_create(const struct report_cfg *cfg) {
  struct report *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  r->cfg = *cfg;
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(r->started, sizeof(r->started), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return r;
}

void report_destroy(struct report *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->nlisted; i++)
    free(r->listed[i]);
  for (size_t i = 0; i < r->nfiles; i++) {
    if (r->files[i].body)
      fclose(r->files[i].body);
    free(r->files[i].path);
    free(r->files[i].cases);
    if (r->files[i].mem)
      fclose(r->files[i].mem);
    free(r->files[i].mem_buf);
  }
  free(r);
}

int report_add_file(struct report *r, const char *spec, struct diag *d) {
  struct rfile *f = &r->files[r->nfiles];
  f->kind = !strncmp(spec, "junit=", 6) ? REP_JUNIT : REP_JSON;
  f->path = strdup(strchr(spec, '=') + 1);
  f->body = tmpfile();
  if (!f->path || !f->body) {
    snprintf(d->text, sizeof(d->text),
             "--report %s: cannot make a "
             "temporary file: %s",
             spec, strerror(errno));
    free(f->path);
    if (f->body)
      fclose(f->body);
    return -1;
  }
  r->nfiles++;
  return 0;
}

/* ---- escaping ------------------------------------------------------------ */

/* Both escapers write the runs of bytes that need no escape with one
 * fwrite each: stdio takes the stream's lock per call, and a putc per
 * byte made escaping the bulk of a record's cost. */
static bool json_plain(unsigned char c) {
  return c >= 0x20 && c != '"' && c != '\\' && c != 0x7f;
}

void report_json_string(FILE *f, const char *s) {
  if (!s) {
    fputs("null", f);
    return;
  }
  putc('"', f);
  for (;;) {
    size_t n = 0;
    while (json_plain((unsigned char)s[n]))
      n++;
    fwrite(s, 1, n, f);
    s += n;
    if (!*s)
      break;
    unsigned char c = (unsigned char)*s++;
    switch (c) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default: fprintf(f, "\\u%04x", c);
    }
  }
  putc('"', f);
}

static bool xml_plain(unsigned char c) {
  return (c >= 0x20 || c == '\t' || c == '\n') && c != '&' && c != '<' &&
         c != '>' && c != '"' && c != '\'';
}

/* XML attribute/text escaping; control bytes XML 1.0 forbids become '?'. */
static void xml_string(FILE *f, const char *s) {
  if (!s)
    s = "";
  for (;;) {
    size_t n = 0;
    while (xml_plain((unsigned char)s[n]))
      n++;
    fwrite(s, 1, n, f);
    s += n;
    if (!*s)
      break;
    switch (*s++) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&apos;", f); break;
    default: putc('?', f);
    }
  }
}

/* ---- one record ------------------------------------------------------------
 */

/* The path a successful job wrote to; NULL if none.  *own is set to what
 * the caller frees (NULL unless the path had to be put together). */
static const char *result_path(const struct report *r,
                               const struct job_run *run, char **own) {
  *own = NULL;
  if (run->res.outcome != OUT_OK)
    return NULL;
  if (r->cfg.stdout_path || !run->rel)
    return r->cfg.stdout_path ? r->cfg.stdout_path : "-";
  const char *base = r->cfg.path_base;
  if (!base || !strcmp(base, "."))
    return run->rel;
  size_t n = strlen(base);
  if (asprintf(own, "%s%s%s", base, base[n - 1] == '/' ? "" : "/", run->rel) <
      0)
    *own = NULL;
  return *own;
}

static void write_json(const struct report *r, FILE *f,
                       const struct job_run *run, const char *path) {
  const struct job_result *res = &run->res;
  fprintf(f, "{\"index\":%" PRIu64 ",\"id\":", run->job.index);
  report_json_string(f, run->job.id);
  char *own;
  fputs(",\"url\":", f);
  report_json_string(f, redact_url(run->job.url, &own));
  free(own);
  fputs(",\"effective_url\":", f);
  report_json_string(f, redact_url(res->effective_url, &own));
  free(own);
  fprintf(f,
          ",\"outcome\":\"%s\",\"error_kind\":", outcome_names[res->outcome]);
  report_json_string(f, res->error_kind);
  fputs(",\"error\":", f);
  report_json_string(f, res->error);
  if (res->http_status)
    fprintf(f, ",\"http_status\":%ld", res->http_status);
  else
    fputs(",\"http_status\":null", f);
  fprintf(f, ",\"bytes\":%" PRIu64 ",\"path\":", res->bytes);
  report_json_string(f, path);
  fprintf(f, ",\"elapsed_ms\":%" PRIu64 ",\"attempts\":%u,\"skipped\":%s",
          res->elapsed_ms, res->attempts, res->skipped ? "true" : "false");
  if (r->cfg.shard_n)
    fprintf(f, ",\"shard\":\"%u/%u\"}", r->cfg.shard_k, r->cfg.shard_n);
  else
    fputs(",\"shard\":null}", f);
}

/* ---- JUnit test cases ------------------------------------------------------
 *
 * CI servers key test history on classname + name, so a name must not
 * depend on completion order or on a job's index: it is the job's id, else
 * its redacted URL.  Cases are spooled in completion order and put in
 * input order at the end (qsort on the index), where names are also made
 * unique: the first job with a name keeps it, a later one gets " (2)",
 * " (3)"... the smallest number whose name no job has and none took
 * before it.  Names are compared by their 64-bit FNV-1a hash, held in an
 * open-addressed table with room for twice the distinct names; a hash
 * collision (odds about n^2 / 2^65) only adds a needless suffix. */

#define JUNIT_FNV_BASIS UINT64_C(0xcbf29ce484222325)

static uint64_t junit_hash(uint64_t h, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * UINT64_C(0x100000001b3);
  return h;
}

enum { J_SOME = 1, J_TAKEN = 2 }; /* some job's base name; given out */

struct jslot {
  uint64_t key;  /* 0: empty */
  uint32_t next; /* the next suffix number to try for this base name */
  uint8_t flags;
};

struct jnames {
  struct jslot *s;
  size_t mask;
};

/* The slot of name hash h, claimed if it was empty. */
static struct jslot *jnames_at(struct jnames *t, uint64_t h) {
  uint64_t key = h ? h : 1;
  size_t i = (size_t)(key ^ (key >> 29)) & t->mask;
  while (t->s[i].key && t->s[i].key != key)
    i = (i + 1) & t->mask;
  t->s[i].key = key;
  return &t->s[i];
}

/* Sets sfx to what makes c's name unique ("" if the name is free). */
static void junit_suffix(struct jnames *t, const struct jcase *c, char *sfx,
                         size_t cap) {
  struct jslot *b = jnames_at(t, c->hash);
  sfx[0] = '\0';
  if (!(b->flags & J_TAKEN)) {
    b->flags |= J_TAKEN;
    return;
  }
  for (uint32_t k = b->next ? b->next : 2;; k++) {
    snprintf(sfx, cap, " (%" PRIu32 ")", k);
    struct jslot *x = jnames_at(t, junit_hash(c->hash, sfx, strlen(sfx)));
    if (!x->flags) {
      x->flags = J_TAKEN;
      b->next = k + 1;
      return;
    }
  }
}

/* The part of a test case after its name: written during the run, in
 * completion order, behind the raw name (see junit_case_out). */
static void write_junit_case(FILE *f, const struct job_run *run,
                             const char *path) {
  const struct job_result *res = &run->res;
  fputs("\" classname=\"", f);
  xml_string(f, report_junit_classname(run->origin));
  fprintf(f, "\" time=\"%.3f\">\n", (double)res->elapsed_ms / 1000.0);
  if (res->skipped) {
    fputs("      <skipped message=\"already present\"/>\n", f);
  } else if (res->outcome != OUT_OK) {
    /* an application error is a failure; a task failure an error */
    const char *tag = res->outcome == OUT_APP_ERROR ? "failure" : "error";
    fprintf(f, "      <%s type=\"", tag);
    xml_string(f, res->error_kind);
    fputs("\" message=\"", f);
    xml_string(f, res->error);
    fprintf(f, "\">outcome: %s; attempts: %u; http_status: %ld</%s>\n",
            outcome_names[res->outcome], res->attempts, res->http_status, tag);
  }
  if (path) {
    fputs("      <system-out>", f);
    xml_string(f, path);
    fprintf(f, " (%" PRIu64 " bytes, %u attempt%s)</system-out>\n", res->bytes,
            res->attempts, res->attempts == 1 ? "" : "s");
  }
  fputs("    </testcase>\n", f);
}

const char *report_junit_classname(const char *origin) {
  if (!origin || origin[0] == '<') /* "<args>", "<stdin>" */
    return "jfetch";
  const char *slash = strrchr(origin, '/');
  return slash && slash[1] ? slash + 1 : origin;
}

/* Spools one test case: its raw name (the job's id, else its redacted
 * URL), then the rest, and notes where both sit.  The case is put
 * together in memory first, so that its length is known without asking
 * the temporary file (ftello there costs an lseek). */
static void junit_spool(struct rfile *f, const struct job_run *run,
                        const char *path) {
  if (f->ncases == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 256;
    struct jcase *c = realloc(f->cases, cap * sizeof(*c));
    if (!c) {
      f->broken = true;
      return;
    }
    f->cases = c, f->cap = cap;
  }
  char *own;
  const char *name = run->job.id ? run->job.id : redact_url(run->job.url, &own);
  if (run->job.id)
    own = NULL;
  if (!f->mem && !(f->mem = open_memstream(&f->mem_buf, &f->mem_len))) {
    f->broken = true;
    free(own);
    return;
  }
  rewind(f->mem);
  fputs(name, f->mem);
  write_junit_case(f->mem, run, path);
  off_t len = fflush(f->mem) == 0 ? ftello(f->mem) : -1;
  struct jcase *c = &f->cases[f->ncases++];
  c->index = run->job.index;
  c->off = (off_t)f->end;
  c->nlen = strlen(name);
  c->hash = junit_hash(JUNIT_FNV_BASIS, name, c->nlen);
  if (len < (off_t)c->nlen ||
      fwrite(f->mem_buf, 1, (size_t)len, f->body) != (size_t)len)
    f->broken = true;
  else
    c->blen = (uint64_t)len - c->nlen, f->end += (uint64_t)len;
  free(own);
}

/* ---- --format
 * ----------------------------------------------------------------- */

static const char *const fmt_vars[] = {"attempts",    "bytes", "effective_url",
                                       "elapsed_ms",  "error", "error_kind",
                                       "http_status", "id",    "index",
                                       "outcome",     "path",  "shard",
                                       "skipped",     "url"};
#define NVARS (sizeof(fmt_vars) / sizeof(fmt_vars[0]))

static int var_index(const char *name, size_t n) {
  for (size_t i = 0; i < NVARS; i++)
    if (strlen(fmt_vars[i]) == n && !memcmp(fmt_vars[i], name, n))
      return (int)i;
  return -1;
}

int report_format_check(const char *fmt, struct diag *d) {
  for (const char *p = fmt; *p; p++) {
    if (p[0] == '%' && p[1] == '%') {
      p++; /* a literal '%', as write_format prints it */
      continue;
    }
    if (p[0] != '%' || p[1] != '{')
      continue;
    const char *end = strchr(p + 2, '}');
    if (!end)
      return snprintf(d->text, sizeof(d->text),
                      "--format: '%%{' without "
                      "a closing '}'"),
             -1;
    if (var_index(p + 2, (size_t)(end - p - 2)) < 0)
      return snprintf(d->text, sizeof(d->text),
                      "--format: unknown "
                      "variable %%{%.*s} (known: attempts, bytes, "
                      "effective_url, elapsed_ms, error, error_kind, "
                      "http_status, id, index, outcome, path, shard, "
                      "skipped, url)",
                      (int)(end - p - 2), p + 2),
             -1;
    p = end;
  }
  return 0;
}

/* A URL as --format prints it: redacted, "" for none. */
static void put_url(FILE *f, const char *url) {
  char *own;
  const char *u = redact_url(url, &own);
  fputs(u ? u : "", f);
  free(own);
}

static void put_var(const struct report *r, FILE *f, int v,
                    const struct job_run *run, const char *path) {
  const struct job_result *res = &run->res;
  switch (v) {
  case 0: fprintf(f, "%u", res->attempts); break;
  case 1: fprintf(f, "%" PRIu64, res->bytes); break;
  case 2: put_url(f, res->effective_url); break;
  case 3: fprintf(f, "%" PRIu64, res->elapsed_ms); break;
  case 4: fputs(res->error ? res->error : "", f); break;
  case 5: fputs(res->error_kind ? res->error_kind : "", f); break;
  case 6: fprintf(f, "%ld", res->http_status); break;
  case 7: fputs(run->job.id ? run->job.id : "", f); break;
  case 8: fprintf(f, "%" PRIu64, run->job.index); break;
  case 9: fputs(outcome_names[res->outcome], f); break;
  case 10: fputs(path ? path : "", f); break;
  case 11:
    if (r->cfg.shard_n)
      fprintf(f, "%u/%u", r->cfg.shard_k, r->cfg.shard_n);
    break;
  case 12: fputs(res->skipped ? "true" : "false", f); break;
  default: put_url(f, run->job.url); break;
  }
}

static void write_format(const struct report *r, FILE *f,
                         const struct job_run *run, const char *path) {
  for (const char *p = r->cfg.format; *p; p++) {
    if (p[0] == '%' && p[1] == '{') {
      const char *end = strchr(p + 2, '}');
      put_var(r, f, var_index(p + 2, (size_t)(end - p - 2)), run, path);
      p = end;
    } else if (p[0] == '%' && p[1] == '%') {
      putc('%', f);
      p++;
    } else if (p[0] == '\\' && p[1]) {
      p++;
      putc(*p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : *p, f);
    } else {
      putc(*p, f);
    }
  }
}

/* ---- recording
 * -------------------------------------------------------------------- */

/* A failed job in one line: outcome, index, id, URL, kind and cause.
 * Malloc'd (the caller frees), NULL when out of memory. */
static char *failure_line(const struct job_run *run) {
  const struct job_result *res = &run->res;
  char *line = NULL, *own;
  const char *url = redact_url(run->job.url, &own);
  int n = asprintf(
      &line, "%-9s #%" PRIu64 "%s%s%s %s: %s%s%s", outcome_names[res->outcome],
      run->job.index, run->job.id ? " (" : "", run->job.id ? run->job.id : "",
      run->job.id ? ")" : "", url, res->error_kind ? res->error_kind : "error",
      res->error ? ": " : "", res->error ? res->error : "");
  free(own);
  if (n < 0)
    return NULL;
  return line;
}

static void remember(struct report *r, const struct job_run *run) {
  if (r->cfg.failures) {
    /* -q: every failure now, in one write, instead of the summary's list */
    char *line = failure_line(run);
    if (line)
      fprintf(r->cfg.failures, "jfetch: %s\n", line);
    free(line);
    return;
  }
  if (r->nlisted >= MAX_LISTED)
    return;
  char *line = failure_line(run);
  if (line)
    r->listed[r->nlisted++] = line;
}

void report_record(struct report *r, const struct job_run *run) {
  switch (run->res.outcome) {
  case OUT_OK: r->n.ok++; break;
  case OUT_APP_ERROR: r->n.app_error++; break;
  case OUT_PANICKED: r->n.panicked++; break;
  default: r->n.cancelled++; break;
  }
  if (run->res.skipped)
    r->n.skipped++;
  if (run->res.outcome != OUT_OK)
    remember(r, run);
  char *own = NULL;
  const char *path = r->cfg.json || r->cfg.format || r->nfiles
                         ? result_path(r, run, &own)
                         : NULL;
  if (r->cfg.json) {
    write_json(r, r->cfg.json, run, path);
    putc('\n', r->cfg.json);
  }
  if (r->cfg.format)
    write_format(r, stdout, run, path);
  for (size_t i = 0; i < r->nfiles; i++) {
    struct rfile *f = &r->files[i];
    if (f->kind == REP_JUNIT) {
      junit_spool(f, run, path);
    } else {
      fputs(f->n ? ",\n    " : "\n    ", f->body);
      write_json(r, f->body, run, path);
    }
    f->n++;
  }
  free(own);
}

void report_flush(struct report *r) {
  (void)r; /* records, --format lines and spooled bodies all use stdout */
  fflush(stdout);
}

void report_counts(const struct report *r, struct report_counts *c) {
  *c = r->n;
}

/* ---- report files
 * --------------------------------------------------------------- */

static uint64_t total_jobs(const struct report *r) {
  return r->n.ok + r->n.app_error + r->n.panicked + r->n.cancelled;
}

static void junit_head(const struct report *r, FILE *f, double wall_s) {
  uint64_t total = total_jobs(r);
  fprintf(f,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<testsuites name=\"jfetch\" tests=\"%" PRIu64
          "\" failures=\"%" PRIu64 "\" errors=\"%" PRIu64 "\" time=\""
          "%.3f\">\n  <testsuite name=\"jfetch\" tests=\"%" PRIu64 "\" "
          "failures=\"%" PRIu64 "\" errors=\"%" PRIu64 "\" skipped=\"%" PRIu64
          "\" time=\"%.3f\" timestamp=\"%s\">\n",
          total, r->n.app_error, r->n.panicked + r->n.cancelled, wall_s, total,
          r->n.app_error, r->n.panicked + r->n.cancelled, r->n.skipped, wall_s,
          r->started);
}

static void json_head(const struct report *r, FILE *f, double wall_s,
                      int exit_status) {
  uint64_t total = total_jobs(r);
  fprintf(f,
          "{\n  \"summary\": {\"jobs\": %" PRIu64 ", \"ok\": %" PRIu64
          ", \"app_error\": %" PRIu64 ", \"panicked\": %" PRIu64
          ", \"cancelled\": %" PRIu64 ", \"skipped\": %" PRIu64
          ", \"elapsed_ms\": %.0f, \"exit_status\": %d, \"started\": "
          "\"%s\", \"shard\": ",
          total, r->n.ok, r->n.app_error, r->n.panicked, r->n.cancelled,
          r->n.skipped, wall_s * 1000.0, exit_status, r->started);
  if (r->cfg.shard_n)
    fprintf(f, "\"%u/%u\"},\n", r->cfg.shard_k, r->cfg.shard_n);
  else
    fputs("null},\n", f);
  fputs("  \"records\": [", f);
}

static int copy_stream(FILE *from, FILE *to) {
  char buf[65536];
  size_t n;
  rewind(from);
  while ((n = fread(buf, 1, sizeof(buf), from)) > 0)
    if (fwrite(buf, 1, n, to) != n)
      return -1;
  return ferror(from) ? -1 : 0;
}

/* A read-ahead window over a report file's body: cases that finished in
 * input order are read in 64 KiB preads, others one pread each. */
struct window {
  char *p;
  uint64_t off;
  size_t len, cap;
};

/* The bytes [off, off + n) of the body, or NULL on a read error. */
static const char *body_at(FILE *body, struct window *w, uint64_t off,
                           size_t n) {
  if (off >= w->off && off + n <= w->off + w->len)
    return w->p + (off - w->off);
  size_t want = n > 65536 ? n : 65536;
  if (want > w->cap) {
    char *p = realloc(w->p, want);
    if (!p)
      return NULL;
    w->p = p, w->cap = want;
  }
  ssize_t got = pread(fileno(body), w->p, want, (off_t)off);
  if (got < 0 || (size_t)got < n)
    return NULL;
  w->off = off, w->len = (size_t)got;
  return w->p;
}

static int junit_case_out(struct rfile *f, struct jnames *t, struct window *w,
                          const struct jcase *c, FILE *out) {
  char sfx[16];
  junit_suffix(t, c, sfx, sizeof(sfx));
  const char *p = body_at(f->body, w, (uint64_t)c->off, c->nlen + c->blen);
  char *name = p ? strndup(p, c->nlen) : NULL;
  if (!name)
    return -1;
  fputs("    <testcase name=\"", out);
  xml_string(out, name);
  fputs(sfx, out);
  free(name);
  return fwrite(p + c->nlen, 1, c->blen, out) == c->blen ? 0 : -1;
}

static int case_cmp(const void *a, const void *b) {
  uint64_t x = ((const struct jcase *)a)->index;
  uint64_t y = ((const struct jcase *)b)->index;
  return x < y ? -1 : x > y;
}

/* The test cases, in input order, with unique names. */
static int junit_body(struct rfile *f, FILE *out) {
  if (f->broken || fflush(f->body) != 0)
    return errno = errno ? errno : ENOMEM, -1;
  if (f->ncases) /* qsort(NULL, 0, ...) is undefined */
    qsort(f->cases, f->ncases, sizeof(*f->cases), case_cmp);
  size_t size = 16;
  while (size < 4 * f->ncases)
    size *= 2;
  struct jnames t = {calloc(size, sizeof(*t.s)), size - 1};
  if (!t.s)
    return errno = ENOMEM, -1;
  for (size_t i = 0; i < f->ncases; i++)
    jnames_at(&t, f->cases[i].hash)->flags |= J_SOME;
  struct window w = {0};
  int rc = 0;
  for (size_t i = 0; i < f->ncases && rc == 0; i++)
    rc = junit_case_out(f, &t, &w, &f->cases[i], out);
  free(w.p);
  free(t.s);
  return rc;
}

static int finish_file(struct report *r, struct rfile *f, double wall_s,
                       int exit_status) {
  char *tmp = NULL;
  if (asprintf(&tmp, "%s.tmp", f->path) < 0)
    return -1;
  FILE *out = fopen(tmp, "w");
  int rc = out ? 0 : -1;
  if (out) {
    if (f->kind == REP_JUNIT) {
      junit_head(r, out, wall_s);
      rc = junit_body(f, out);
    } else {
      json_head(r, out, wall_s, exit_status);
      rc = copy_stream(f->body, out);
    }
    fputs(f->kind == REP_JUNIT ? "  </testsuite>\n</testsuites>\n"
                               : (f->n ? "\n  ]\n}\n" : "]\n}\n"),
          out);
    if (fclose(out) != 0)
      rc = -1;
  }
  if (rc == 0 && rename(tmp, f->path) != 0)
    rc = -1;
  if (rc != 0) {
    fprintf(stderr, "jfetch: cannot write the report %s: %s\n", f->path,
            strerror(errno));
    remove(tmp);
  }
  free(tmp);
  return rc;
}

int report_close(struct report *r, double wall_s, int exit_status) {
  int rc = 0;
  for (size_t i = 0; i < r->nfiles; i++)
    if (finish_file(r, &r->files[i], wall_s, exit_status) < 0)
      rc = -1;
  return rc;
}

void report_summary(const struct report *r, FILE *f, double wall_s) {
  uint64_t total = total_jobs(r);
  fprintf(f, "jfetch: %" PRIu64 " job%s in %.2f s: %" PRIu64 " ok", total,
          total == 1 ? "" : "s", wall_s, r->n.ok);
  if (r->n.skipped)
    fprintf(f, " (%" PRIu64 " skipped)", r->n.skipped);
  fprintf(f,
          ", %" PRIu64 " failed, %" PRIu64 " panicked, %" PRIu64 " cancelled\n",
          r->n.app_error, r->n.panicked, r->n.cancelled);
  for (size_t i = 0; i < r->nlisted; i++)
    fprintf(f, "  %s\n", r->listed[i]);
  uint64_t bad = total - r->n.ok;
  if (bad > r->nlisted)
    fprintf(f, "  ... and %" PRIu64 " more (--json lists every job)\n",
            bad - r->nlisted);
}
