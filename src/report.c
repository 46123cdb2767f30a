/*
 * report.c - one JSON Lines record per job, and the closing summary.
 *
 * Records go out in completion order, each with its input index, so a
 * consumer can restore input order (sort_by(.index)) or concatenate the
 * records of several shards.  Every key is always present, null where it
 * does not apply, so jq filters need no guards.  Records are buffered by
 * stdio and flushed whenever the run is about to wait (report_flush), so
 * output is prompt without a write per record.
 *
 * The summary keeps the first MAX_LISTED failures (one line each) and
 * counts the rest, so a million failures cost no memory.
 */
#include "report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LISTED 20

struct report {
  struct report_cfg cfg;
  struct report_counts n;
  char *listed[MAX_LISTED];
  size_t nlisted;
};

static const char *const outcome_names[] = {"ok", "app_error", "panicked",
                                            "cancelled"};

const char *report_outcome_name(int o) { return outcome_names[o]; }

struct report *report_create(const struct report_cfg *cfg) {
  struct report *r = calloc(1, sizeof(*r));
  if (r)
    r->cfg = *cfg;
  return r;
}

void report_destroy(struct report *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->nlisted; i++)
    free(r->listed[i]);
  free(r);
}

void report_json_string(FILE *f, const char *s) {
  if (!s) {
    fputs("null", f);
    return;
  }
  putc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default:
      if (*p < 0x20 || *p == 0x7f)
        fprintf(f, "\\u%04x", *p);
      else
        putc(*p, f);
    }
  }
  putc('"', f);
}

static void write_path(struct report *r, FILE *f, const struct job_run *run) {
  if (run->res.outcome != OUT_OK) {
    fputs("null", f);
    return;
  }
  if (r->cfg.stdout_path || !run->rel) {
    report_json_string(f, r->cfg.stdout_path ? r->cfg.stdout_path : "-");
    return;
  }
  const char *base = r->cfg.path_base;
  if (!base || !strcmp(base, ".")) {
    report_json_string(f, run->rel);
    return;
  }
  size_t n = strlen(base);
  char *p = NULL;
  if (asprintf(&p, "%s%s%s", base, base[n - 1] == '/' ? "" : "/",
               run->rel) < 0)
    p = NULL;
  report_json_string(f, p);
  free(p);
}

static void write_json(struct report *r, const struct job_run *run) {
  FILE *f = r->cfg.json;
  const struct job_result *res = &run->res;
  fprintf(f, "{\"index\":%" PRIu64 ",\"id\":", run->job.index);
  report_json_string(f, run->job.id);
  fputs(",\"url\":", f);
  report_json_string(f, run->job.url);
  fputs(",\"effective_url\":", f);
  report_json_string(f, res->effective_url);
  fprintf(f, ",\"outcome\":\"%s\",\"error_kind\":",
          outcome_names[res->outcome]);
  report_json_string(f, res->error_kind);
  fputs(",\"error\":", f);
  report_json_string(f, res->error);
  if (res->http_status)
    fprintf(f, ",\"http_status\":%ld", res->http_status);
  else
    fputs(",\"http_status\":null", f);
  fprintf(f, ",\"bytes\":%" PRIu64 ",\"path\":", res->bytes);
  write_path(r, f, run);
  fprintf(f, ",\"elapsed_ms\":%" PRIu64 ",\"attempts\":%u,\"skipped\":%s}\n",
          res->elapsed_ms, res->attempts, res->skipped ? "true" : "false");
}

static void remember(struct report *r, const struct job_run *run) {
  if (r->nlisted >= MAX_LISTED)
    return;
  const struct job_result *res = &run->res;
  char *line = NULL;
  if (asprintf(&line, "  %-9s #%" PRIu64 "%s%s%s %s: %s%s%s",
               outcome_names[res->outcome], run->job.index,
               run->job.id ? " (" : "", run->job.id ? run->job.id : "",
               run->job.id ? ")" : "", run->job.url,
               res->error_kind ? res->error_kind : "error",
               res->error ? ": " : "", res->error ? res->error : "") < 0)
    return;
  r->listed[r->nlisted++] = line;
}

void report_record(struct report *r, const struct job_run *run) {
  switch (run->res.outcome) {
  case OUT_OK: r->n.ok++; break;
  case OUT_APP_ERROR: r->n.app_error++; break;
  case OUT_PANICKED: r->n.panicked++; break;
  default: r->n.cancelled++; break;
  }
  if (run->res.outcome != OUT_OK)
    remember(r, run);
  if (r->cfg.json)
    write_json(r, run);
}

void report_flush(struct report *r) {
  if (r->cfg.json)
    fflush(r->cfg.json);
}

void report_counts(const struct report *r, struct report_counts *c) {
  *c = r->n;
}

void report_summary(const struct report *r, FILE *f, double wall_s) {
  uint64_t total = r->n.ok + r->n.app_error + r->n.panicked + r->n.cancelled;
  fprintf(f, "jfetch: %" PRIu64 " job%s in %.2f s: %" PRIu64 " ok, %" PRIu64
             " failed, %" PRIu64 " panicked, %" PRIu64 " cancelled\n",
          total, total == 1 ? "" : "s", wall_s, r->n.ok, r->n.app_error,
          r->n.panicked, r->n.cancelled);
  for (size_t i = 0; i < r->nlisted; i++)
    fprintf(f, "%s\n", r->listed[i]);
  uint64_t bad = total - r->n.ok;
  if (bad > r->nlisted)
    fprintf(f, "  ... and %" PRIu64 " more (--json lists every job)\n",
            bad - r->nlisted);
}
