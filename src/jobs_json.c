/*
 * jobs_json.c - JSON job documents and JSON Lines: cJSON parses, the
 * budget: over 800 lines; one concern (JSON job input) whose split into
 * document and JSON Lines readers is to be decided (issue 11).
 * position scanner (jobs_json_scan.c) says where each node sits and
 * refuses what cJSON should not take, and the key checkers turn objects
 * into jobs.
 *
 * From cJSON node to position: the scanner's nodes are in cJSON's
 * pre-order, so the root is node 0, a container's first child is its
 * index + 1, and the next sibling is `skip`.  Walking a cJSON child list
 * carries the node index along in O(1) a step, with no map from cJSON
 * pointers.  Offsets become line:col (1-based, col in bytes) through a
 * cursor that only moves forward while jobs are read in order, so a
 * document costs O(size) to position, not O(size) per job.
 *
 * cJSON_ParseWithLengthOpts gets length + 1 and require_null_terminated,
 * which makes it refuse trailing data; its return_parse_end is
 * cJSON_GetErrorPtr's position without reading cJSON's global.  That
 * position is where cJSON stopped, which may be a byte past the culprit
 * (a missing key) or the very end (for {"a":1,}), so when cJSON fails the
 * scanner runs anyway and names the culprit; cJSON's pointer remains for
 * nesting past CJSON_NESTING_LIMIT (1000), which only cJSON refuses.
 *
 * Keys: one table of names and checkers; a job's keys are known, so a bit
 * set finds duplicates (cJSON keeps both) in O(1) and an unknown key gets
 * the nearest known one within edit distance 2.  Defaults go through the
 * same checkers, plus "output_dir", and job_apply_defaults merges them.
 *
 * A document stays in memory (text, tree, nodes) until close; JSON Lines
 * hold one line, its tree and its nodes at a time.
 */
#include "hex.h"
#include "jobs_internal.h"
#include "output.h"
#include "pace.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOBS_MAX_EXPECT 500
#define JOBS_MAX_METHOD 32

struct jtext {
  const char *text; /* NUL-terminated at len */
  size_t len;
  const struct jobs_jnode *n;
  size_t nn;
  uint64_t line0; /* line of text[0] */
  size_t cur_off, cur_ls;
  uint64_t cur_line;
};

struct jctx {
  jobs_src *s;
  struct jtext *t;
  struct diag *d;
  uint64_t job; /* if is_job, messages start "job #N: " */
  int is_job;
  int defaults; /* parsing "defaults": "defaults: ", output_dir allowed */
  int jsonl;
};

struct jobs_json {
  char *text;
  size_t len;
  cJSON *root;
  struct jobs_jscan sc;
  struct jtext t;
  const cJSON *first, *next;
  uint32_t first_i, next_i;
};

struct jobs_json_lines {
  struct jobs_jscan sc;
  int pending; /* the reader holds the first job's line, not yet parsed */
};

typedef int jkey_fn(struct jctx *c, const cJSON *v, uint32_t vi, struct job *j);

/* ---- positions and messages ----------------------------------------- */

static void jtext_init(struct jtext *t, const char *text, size_t len,
                       uint64_t line0) {
  memset(t, 0, sizeof(*t));
  t->text = text;
  t->len = len;
  t->line0 = t->cur_line = line0;
}

static void jtext_pos(struct jtext *t, size_t off, uint64_t *line,
                      uint64_t *col) {
  if (off > t->len)
    off = t->len;
  if (off < t->cur_off) {
    t->cur_off = t->cur_ls = 0;
    t->cur_line = t->line0;
  }
  while (t->cur_off < off) {
    const char *nl = memchr(t->text + t->cur_off, '\n', off - t->cur_off);
    if (!nl) {
      t->cur_off = off;
      break;
    }
    t->cur_line++;
    t->cur_off = t->cur_ls = (size_t)(nl - t->text) + 1;
  }
  *line = t->cur_line;
  *col = off - t->cur_ls + 1;
}

static size_t jval(const struct jtext *t, uint32_t i) {
  return i < t->nn ? t->n[i].val : 0;
}

static size_t jkeyoff(const struct jtext *t, uint32_t i) {
  return i < t->nn && t->n[i].key != JOBS_JNOKEY ? t->n[i].key : jval(t, i);
}

static uint32_t jnext(const struct jtext *t, uint32_t i) {
  return i < t->nn ? t->n[i].skip : i + 1;
}

static void jctx_init(struct jctx *c, jobs_src *s, struct jtext *t,
                      struct diag *d) {
  memset(c, 0, sizeof(*c));
  c->s = s;
  c->t = t;
  c->d = d;
  c->jsonl = s->kind == JOBS_KIND_JSONL;
}

__attribute__((format(printf, 3, 4))) static int
jerr(struct jctx *c, size_t off, const char *fmt, ...) {
  char msg[sizeof c->d->text], who[32] = "";
  uint64_t line, col;
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* formatted here, not per job: most jobs never have a message */
  if (c->defaults)
    snprintf(who, sizeof who, "defaults: ");
  else if (c->is_job)
    snprintf(who, sizeof who, "job #%" PRIu64 ": ", c->job);
  jtext_pos(c->t, off, &line, &col);
  return jobs_diag(c->d, c->s->name, line, col, "%s%s", who, msg);
}

static const char *json_type(const cJSON *v) {
  if (cJSON_IsString(v))
    return "a string";
  if (cJSON_IsNumber(v))
    return "a number";
  if (cJSON_IsObject(v))
    return "an object";
  if (cJSON_IsArray(v))
    return "an array";
  return cJSON_IsBool(v) ? "a boolean" : "null";
}

static int jtype(struct jctx *c, const cJSON *v, uint32_t vi, const char *key,
                 const char *want) {
  return jerr(c, jval(c->t, vi), "\"%s\" must be %s, got %s", key, want,
              json_type(v));
}

static int jnomem(struct jctx *c, uint32_t vi) {
  return jerr(c, jval(c->t, vi), "out of memory");
}

/* Levenshtein distance, for keys of at most 16 bytes. */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), row[18];

  if (la > 16 || lb > 16)
    return SIZE_MAX;
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
      best = up + 1 < best ? up + 1 : best;
      best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
      diag = up;
      row[j] = best;
    }
  }
  return row[lb];
}

static int junknown(struct jctx *c, const char *key, uint32_t ki,
                    const char *const *names, size_t n) {
  char q[JOBS_QUOTE_MAX + 16];
  const char *best = NULL;
  size_t dist = 3;

  jobs_quote(q, sizeof q, key, strlen(key));
  if (c->jsonl && !c->defaults && strcmp(key, "defaults") == 0)
    return jerr(c, jkeyoff(c->t, ki),
                "unknown key %s (\"defaults\" can "
                "only be the first line)",
                q);
  if (c->is_job && strcmp(key, "output_dir") == 0)
    return jerr(c, jkeyoff(c->t, ki),
                "unknown key %s (it belongs in "
                "\"defaults\")",
                q);
  for (size_t i = 0; i < n; i++) {
    size_t e = edit_distance(key, names[i]);
    if (e < dist) {
      dist = e;
      best = names[i];
    }
  }
  if (best)
    return jerr(c, jkeyoff(c->t, ki),
                "unknown key %s (did you mean "
                "\"%s\"?)",
                q, best);
  return jerr(c, jkeyoff(c->t, ki), "unknown key %s", q);
}

static int jdupkey(struct jctx *c, const char *key, uint32_t ki,
                   uint32_t first) {
  char q[JOBS_QUOTE_MAX + 16];
  uint64_t line, col;

  jtext_pos(c->t, jkeyoff(c->t, first), &line, &col);
  return jerr(c, jkeyoff(c->t, ki),
              "duplicate key %s (first at %" PRIu64 ":%" PRIu64 ")",
              jobs_quote(q, sizeof q, key, strlen(key)), line, col);
}

/* ---- job keys --------------------------------------------------------- */

/* A string value of min..max bytes; its length in *n. */
static int jstring(struct jctx *c, const cJSON *v, uint32_t vi, size_t min,
                   size_t max, size_t *n) {
  if (!cJSON_IsString(v))
    return jtype(c, v, vi, v->string, "a string");
  *n = strlen(v->valuestring);
  if (*n < min)
    return jerr(c, jval(c->t, vi), "\"%s\" must not be empty", v->string);
  if (*n > max)
    return jerr(c, jval(c->t, vi), "\"%s\" is longer than %zu bytes", v->string,
                max);
  return 0;
}

static int jcopy(struct jctx *c, uint32_t vi, char **dst, const char *src,
                 size_t n) {
  if (!(*dst = malloc(n + 1)))
    return jnomem(c, vi);
  memcpy(*dst, src, n);
  (*dst)[n] = '\0';
  return 0;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int has_ctl(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return 1;
  return 0;
}

static int jkey_url(struct jctx *c, const cJSON *v, uint32_t vi,
                    struct job *j) {
  char msg[sizeof c->d->text];

  if (!cJSON_IsString(v))
    return jtype(c, v, vi, "url", "a string");
  if (jobs_url_message(v->valuestring, msg, sizeof msg) < 0)
    return jerr(c, jval(c->t, vi), "%s", msg);
  return jcopy(c, vi, &j->url, v->valuestring, strlen(v->valuestring));
}

/* An integer id keeps its digits as written: 12345678901234567890 stays
 * exact, where valuedouble would round it. */
static int jkey_id_number(struct jctx *c, uint32_t vi, struct job *j) {
  const char *p = c->t->text + jval(c->t, vi);
  size_t n = (size_t)(*p == '-');

  while (is_digit(p[n]))
    n++;
  if (p[n] == '.' || p[n] == 'e' || p[n] == 'E')
    return jerr(c, jval(c->t, vi),
                "\"id\" must be a string or an "
                "integer, got a fraction or exponent");
  if (n > JOB_MAX_ID)
    return jerr(c, jval(c->t, vi), "\"id\" is longer than %d bytes",
                JOB_MAX_ID);
  return jcopy(c, vi, &j->id, p, n);
}

static int jkey_id(struct jctx *c, const cJSON *v, uint32_t vi, struct job *j) {
  size_t n = 0;

  if (cJSON_IsNumber(v))
    return jkey_id_number(c, vi, j);
  if (!cJSON_IsString(v))
    return jtype(c, v, vi, "id", "a string or an integer");
  if (jstring(c, v, vi, 1, JOB_MAX_ID, &n) < 0)
    return -1;
  if (has_ctl(v->valuestring))
    return jerr(c, jval(c->t, vi), "\"id\" contains a control character");
  return jcopy(c, vi, &j->id, v->valuestring, n);
}

static int jkey_output(struct jctx *c, const cJSON *v, uint32_t vi,
                       struct job *j) {
  const char *why;

  if (!cJSON_IsString(v))
    return jtype(c, v, vi, "output", "a string");
  if (output_check_relpath(v->valuestring, &why) < 0)
    return jerr(c, jval(c->t, vi),
                "\"output\" %s (a relative path under "
                "the output directory is needed)",
                why);
  return jcopy(c, vi, &j->output, v->valuestring, strlen(v->valuestring));
}

static int jkey_method(struct jctx *c, const cJSON *v, uint32_t vi,
                       struct job *j) {
  const char *why;
  size_t n = 0;

  if (jstring(c, v, vi, 1, JOBS_MAX_METHOD, &n) < 0)
    return -1;
  if (jobs_check_header(v->valuestring, "", &why) < 0)
    return jerr(c, jval(c->t, vi),
                "\"method\" must be an HTTP token "
                "(letters, digits and !#$%%&'*+-.^_`|~)");
  if (jcopy(c, vi, &j->method, v->valuestring, n) < 0)
    return -1;
  for (char *p = j->method; *p; p++)
    if (*p >= 'a' && *p <= 'z')
      *p = (char)(*p - 'a' + 'A');
  return 0;
}

/* The header's name, quoted for a message into q[JOBS_QUOTE_MAX + 16]. */
static const char *jhname(char *q, const cJSON *h) {
  return jobs_quote(q, JOBS_QUOTE_MAX + 16, h->string, strlen(h->string));
}

static int jheader(struct jctx *c, const cJSON *h, uint32_t hi, struct job *j) {
  char q[JOBS_QUOTE_MAX + 16], *line;
  const char *why;

  /* the name is a token (no ':') before job_has_header looks for it */
  if (jobs_check_header(h->string, "", &why) < 0)
    return jerr(c, jkeyoff(c->t, hi), "header %s %s", jhname(q, h), why);
  if (job_has_header(j, h->string))
    return jerr(c, jkeyoff(c->t, hi), "duplicate header %s", jhname(q, h));
  if (!cJSON_IsString(h))
    return jerr(c, jval(c->t, hi), "header %s must be a string, got %s",
                jhname(q, h), json_type(h));
  if (jobs_check_header(h->string, h->valuestring, &why) < 0)
    return jerr(c, jval(c->t, hi), "header %s %s", jhname(q, h), why);
  size_t nn = strlen(h->string), nv = strlen(h->valuestring);
  if (!(line = malloc(nn + 2 + nv + 1)))
    return jnomem(c, hi);
  memcpy(line, h->string, nn);
  memcpy(line + nn, ": ", 2);
  memcpy(line + nn + 2, h->valuestring, nv + 1);
  j->headers[j->nheaders++] = line;
  return 0;
}

static int jkey_headers(struct jctx *c, const cJSON *v, uint32_t vi,
                        struct job *j) {
  size_t n = 0;
  uint32_t hi = vi + 1;

  if (!cJSON_IsObject(v))
    return jtype(c, v, vi, "headers", "an object of strings");
  for (const cJSON *h = v->child; h && n <= JOB_MAX_HEADERS; h = h->next)
    n++;
  if (n && !(j->headers = calloc(n, sizeof(char *))))
    return jnomem(c, vi);
  for (const cJSON *h = v->child; h; h = h->next, hi = jnext(c->t, hi)) {
    if (j->nheaders == JOB_MAX_HEADERS)
      return jerr(c, jkeyoff(c->t, hi),
                  "\"headers\" has more than %d "
                  "entries",
                  JOB_MAX_HEADERS);
    if (jheader(c, h, hi, j) < 0)
      return -1;
  }
  return 0;
}

static int jkey_body(struct jctx *c, const cJSON *v, uint32_t vi,
                     struct job *j) {
  size_t n = 0;

  if (jstring(c, v, vi, 0, JOB_MAX_BODY, &n) < 0 ||
      jcopy(c, vi, &j->body, v->valuestring, n) < 0)
    return -1;
  j->body_len = n;
  return 0;
}

static int is_int_in(double d, double lo, double hi) {
  return d >= lo && d <= hi && d == (double)(long)d;
}

static int jkey_timeout(struct jctx *c, const cJSON *v, uint32_t vi,
                        struct job *j) {
  double s = v->valuedouble, ms;

  if (!cJSON_IsNumber(v))
    return jtype(c, v, vi, "timeout", "a number of seconds");
  if (!(s > 0 && s <= JOB_MAX_TIMEOUT_S))
    return jerr(c, jval(c->t, vi),
                "\"timeout\" must be more than 0 and "
                "at most %.0f seconds",
                JOB_MAX_TIMEOUT_S);
  /* round up, but not 0.007 s (7.000000000000001 ms) to 8 ms */
  ms = s * 1000.0;
  ms -= ms * 1e-12;
  j->timeout_ms = (long)ms;
  if ((double)j->timeout_ms < ms)
    j->timeout_ms++;
  return 0;
}

static int jkey_retries(struct jctx *c, const cJSON *v, uint32_t vi,
                        struct job *j) {
  if (!cJSON_IsNumber(v))
    return jtype(c, v, vi, "retries", "an integer");
  if (!is_int_in(v->valuedouble, 0, JOB_MAX_RETRIES))
    return jerr(c, jval(c->t, vi),
                "\"retries\" must be an integer from 0 "
                "to %d",
                JOB_MAX_RETRIES);
  j->retries = (int)v->valuedouble;
  return 0;
}

/* "limit_rate": bytes/s, a number or a string with K, M or G. */
static int jkey_limit_rate(struct jctx *c, const cJSON *v, uint32_t vi,
                           struct job *j) {
  char num[32];
  const char *t = num;
  if (cJSON_IsNumber(v))
    snprintf(num, sizeof(num), "%.17g", v->valuedouble);
  else if (cJSON_IsString(v))
    t = v->valuestring;
  else
    return jtype(c, v, vi, "limit_rate", "a rate such as 200K or 1048576");
  if (pace_parse_bytes(t, &j->limit_rate) < 0)
    return jerr(c, jval(c->t, vi),
                "\"limit_rate\" must be bytes per second from 1, with an "
                "optional K, M or G (e.g. 500K)");
  return 0;
}

/* "sha256", "sha512", "md5": the expected digest, in hex (either case). */
static int jdigest(struct jctx *c, const cJSON *v, uint32_t vi,
                   enum digest_alg a, struct job *j) {
  char want[48];
  const char *h;

  snprintf(want, sizeof(want), "a string of %zu hex digits",
           2 * digest_size(a));
  if (!cJSON_IsString(v))
    return jtype(c, v, vi, digest_name(a), want);
  h = v->valuestring;
  if (digest_parse_hex(a, h, strlen(h), j->digest[a]) < 0)
    return jerr(c, jval(c->t, vi), "\"%s\" must be %zu hex digits",
                digest_name(a), 2 * digest_size(a));
  j->digests |= 1u << a;
  return 0;
}

static int jkey_sha256(struct jctx *c, const cJSON *v, uint32_t vi,
                       struct job *j) {
  return jdigest(c, v, vi, DIGEST_SHA256, j);
}

static int jkey_sha512(struct jctx *c, const cJSON *v, uint32_t vi,
                       struct job *j) {
  return jdigest(c, v, vi, DIGEST_SHA512, j);
}

static int jkey_md5(struct jctx *c, const cJSON *v, uint32_t vi,
                    struct job *j) {
  return jdigest(c, v, vi, DIGEST_MD5, j);
}

static int jkey_expect(struct jctx *c, const cJSON *v, uint32_t vi,
                       struct job *j) {
  size_t n = 0;
  uint32_t ei = vi + 1;

  if (!cJSON_IsArray(v))
    return jtype(c, v, vi, "expect_status", "an array of status codes");
  for (const cJSON *e = v->child; e && n <= JOBS_MAX_EXPECT; e = e->next)
    n++;
  if (n == 0 || n > JOBS_MAX_EXPECT)
    return jerr(c, jval(c->t, vi),
                "\"expect_status\" must hold 1 to %d "
                "status codes",
                JOBS_MAX_EXPECT);
  if (!(j->expect_status = malloc(n * sizeof(uint16_t))))
    return jnomem(c, vi);
  for (const cJSON *e = v->child; e; e = e->next, ei = jnext(c->t, ei)) {
    if (!cJSON_IsNumber(e) || !is_int_in(e->valuedouble, 100, 599))
      return jerr(c, jval(c->t, ei),
                  "\"expect_status\" entries must be "
                  "integers from 100 to 599");
    j->expect_status[j->nexpect++] = (uint16_t)e->valuedouble;
  }
  return 0;
}

static int jkey_output_dir(struct jctx *c, const cJSON *v, uint32_t vi,
                           struct job *j) {
  size_t n = 0;
  const char *why;

  (void)j;
  if (jstring(c, v, vi, 1, JOB_MAX_PATH, &n) < 0)
    return -1;
  /* the same rule as "output" (even when -o overrides it) */
  if (output_check_relpath(v->valuestring, &why) < 0)
    return jerr(c, jval(c->t, vi),
                "\"output_dir\" %s (a job file may only name a "
                "directory below the current one)",
                why);
  return jcopy(c, vi, &c->s->output_dir, v->valuestring, n);
}

/* Job keys; "output_dir" (last) only in "defaults". */
static const char *const jkey_names[] = {
    "url",        "id",        "output", "method", "headers", "body",
    "timeout",    "retries",   "sha256", "sha512", "md5",     "expect_status",
    "limit_rate", "output_dir"};
static jkey_fn *const jkey_fns[] = {
    jkey_url,  jkey_id,      jkey_output,     jkey_method,    jkey_headers,
    jkey_body, jkey_timeout, jkey_retries,    jkey_sha256,    jkey_sha512,
    jkey_md5,  jkey_expect,  jkey_limit_rate, jkey_output_dir};
#define JKEYS_ALL (sizeof(jkey_names) / sizeof(jkey_names[0]))

/* The members of object obj (node oi) into j. */
static int jfields(struct jctx *c, const cJSON *obj, uint32_t oi,
                   struct job *j) {
  size_t nkeys = c->defaults ? JKEYS_ALL : JKEYS_ALL - 1;
  uint32_t first[JKEYS_ALL], mi = oi + 1;
  unsigned seen = 0;

  for (const cJSON *m = obj->child; m; m = m->next, mi = jnext(c->t, mi)) {
    size_t k = 0;
    while (k < nkeys && strcmp(m->string, jkey_names[k]) != 0)
      k++;
    if (k == nkeys)
      return junknown(c, m->string, mi, jkey_names, nkeys);
    if (seen & (1u << k))
      return jdupkey(c, m->string, mi, first[k]);
    seen |= 1u << k;
    first[k] = mi;
    if (jkey_fns[k](c, m, mi, j) < 0)
      return -1;
  }
  return 0;
}

static int jdefaults(struct jctx *c, const cJSON *v, uint32_t vi) {
  if (!cJSON_IsObject(v))
    return jtype(c, v, vi, "defaults", "an object");
  c->defaults = 1;
  return jfields(c, v, vi, &c->s->defaults);
}

/* Element e (node ei) as the next job. */
static int jjob(jobs_src *s, struct jtext *t, const cJSON *e, uint32_t ei,
                struct job *j, struct diag *d) {
  uint64_t index = s->index++, line, col;
  struct jctx c;

  jctx_init(&c, s, t, d);
  c.is_job = 1;
  c.job = index;
  if (!cJSON_IsObject(e))
    return jerr(&c, jval(t, ei), "expected a job object, got %s", json_type(e));
  if (jfields(&c, e, ei, j) < 0)
    goto fail;
  if (job_apply_defaults(j, &s->defaults) < 0) {
    jnomem(&c, ei);
    goto fail;
  }
  if (!j->url) {
    jerr(&c, jval(t, ei), "missing \"url\"");
    goto fail;
  }
  jtext_pos(t, jval(t, ei), &line, &col);
  j->index = index;
  j->line = line > UINT32_MAX ? UINT32_MAX : (uint32_t)line;
  j->col = col > UINT32_MAX ? UINT32_MAX : (uint32_t)col;
  return 1;
fail:
  job_free(j);
  return -1;
}

/* ---- parsing ---------------------------------------------------------- */

/* Nesting depth at text offset off (strings skipped). */
static size_t jdepth(const char *t, size_t off) {
  size_t depth = 0;
  int in_str = 0;

  for (size_t i = 0; i < off; i++) {
    if (in_str && t[i] == '\\')
      i++;
    else if (t[i] == '"')
      in_str = !in_str;
    else if (!in_str && (t[i] == '[' || t[i] == '{'))
      depth++;
    else if (!in_str && (t[i] == ']' || t[i] == '}') && depth)
      depth--;
  }
  return depth;
}

/* A scanner error; grammar errors show the text they stopped at. */
static int jscan_err(struct jctx *c, const struct jobs_jscan *sc) {
  char q[JOBS_QUOTE_MAX + 16];
  const char *t = c->t->text;
  size_t n = c->t->len - sc->err;

  if (strncmp(sc->why, "expected", 8) != 0 &&
      strcmp(sc->why, "data after the JSON value") != 0 &&
      strcmp(sc->why, "unexpected character") != 0)
    return jerr(c, sc->err, "invalid JSON: %s", sc->why);
  return jerr(c, sc->err, "invalid JSON: %s at %s", sc->why,
              jobs_quote(q, sizeof q, t + sc->err, n < 16 ? n : 16));
}

/* cJSON failed at off.  Its pointer is where it stopped, which may be a
 * byte past the culprit (a missing key) or the end (for {"a":1,}): the
 * scanner, a strict grammar check, says where and why.  cJSON's pointer
 * remains for what only cJSON refuses (nesting past its limit). */
static int jsyntax(struct jctx *c, struct jobs_jscan *sc, size_t start,
                   size_t off) {
  char q[JOBS_QUOTE_MAX + 16];
  const char *t = c->t->text;
  size_t len = c->t->len;

  if (off < len && (t[off] == '[' || t[off] == '{') &&
      jdepth(t, off) >= CJSON_NESTING_LIMIT)
    return jerr(c, off, "invalid JSON: nested deeper than %d levels",
                CJSON_NESTING_LIMIT);
  if (jobs_json_scan_run(sc, t, len, start) < 0)
    return jscan_err(c, sc);
  if (off >= len)
    return jerr(c, len, "invalid JSON: unexpected end of input");
  return jerr(
      c, off, "invalid JSON: syntax error at %s",
      jobs_quote(q, sizeof q, t + off, len - off < 16 ? len - off : 16));
}

/* Parses c->t's text from offset start (past a BOM): 0 with *root and the
 * nodes set, or -1 with *c->d set. */
static int jparse(struct jctx *c, struct jobs_jscan *sc, cJSON **root,
                  size_t start) {
  struct jtext *t = c->t;
  const char *end = NULL, *nul = memchr(t->text, '\0', t->len);

  if (nul)
    return jerr(c, (size_t)(nul - t->text), "invalid JSON: NUL byte");
  *root = cJSON_ParseWithLengthOpts(t->text, t->len + 1, &end, 1);
  if (!*root)
    return jsyntax(c, sc, start, end ? (size_t)(end - t->text) : 0);
  if (jobs_json_scan_run(sc, t->text, t->len, start) < 0) {
    cJSON_Delete(*root);
    *root = NULL;
    return jscan_err(c, sc);
  }
  t->n = sc->n;
  t->nn = sc->len;
  return 0;
}

static size_t bom_len(const char *s, size_t n) {
  return n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

/* ---- JSON documents ------------------------------------------------- */

static int jtoo_big(jobs_src *s, struct diag *d) {
  return jobs_diag(d, s->name, 0, 0,
                   "larger than %zu bytes (the limit "
                   "for a JSON document)",
                   JOBS_MAX_JSON);
}

static int jgrow(char **buf, size_t *cap) {
  size_t want = *cap * 2 < JOBS_MAX_JSON + 2 ? *cap * 2 : JOBS_MAX_JSON + 2;
  char *p = want > *cap ? realloc(*buf, want) : NULL;

  if (!p)
    return -1;
  *buf = p;
  *cap = want;
  return 0;
}

static int jread_all(jobs_src *s, struct jobs_json *js, struct diag *d) {
  struct stat st;
  size_t cap = 65536, len = 0;
  ssize_t n = 1;

  if (fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode)) {
    if ((uint64_t)st.st_size > JOBS_MAX_JSON)
      return jtoo_big(s, d);
    cap = (size_t)st.st_size + 2; /* one spare byte to see the end */
  }
  if (!(js->text = malloc(cap)))
    return jobs_diag(d, s->name, 0, 0, "out of memory");
  while (n != 0) {
    if (len + 1 == cap && len > JOBS_MAX_JSON)
      return jtoo_big(s, d);
    if (len + 1 == cap && jgrow(&js->text, &cap) < 0)
      return jobs_diag(d, s->name, 0, 0, "out of memory");
    n = read(s->fd, js->text + len, cap - 1 - len);
    if (n < 0 && errno != EINTR)
      return jobs_read_error(s, d, errno);
    len += n > 0 ? (size_t)n : 0;
  }
  if (len > JOBS_MAX_JSON)
    return jtoo_big(s, d);
  js->text[len] = '\0';
  js->len = len;
  return 0;
}

/* The top level: {"defaults": {...}, "jobs": [...]} or [...]. */
static int jtop(struct jctx *c, struct jobs_json *js) {
  static const char *const names[] = {"defaults", "jobs"};
  const cJSON *root = js->root, *jobs = NULL, *defs = NULL;
  uint32_t ji = 0, di = 0, mi = 1;

  if (cJSON_IsArray(root)) {
    js->first = root->child;
    js->first_i = 1;
    return 0;
  }
  if (!cJSON_IsObject(root))
    return jerr(c, jval(c->t, 0),
                "expected an object with \"jobs\" or an "
                "array of jobs, got %s",
                json_type(root));
  for (const cJSON *m = root->child; m; m = m->next, mi = jnext(c->t, mi)) {
    int is_jobs = strcmp(m->string, "jobs") == 0;
    if (!is_jobs && strcmp(m->string, "defaults") != 0)
      return junknown(c, m->string, mi, names, 2);
    if (is_jobs ? jobs != NULL : defs != NULL)
      return jdupkey(c, m->string, mi, is_jobs ? ji : di);
    *(is_jobs ? &jobs : &defs) = m;
    *(is_jobs ? &ji : &di) = mi;
  }
  if (!jobs)
    return jerr(c, jval(c->t, 0),
                "missing \"jobs\" (an array of job "
                "objects)");
  if (!cJSON_IsArray(jobs))
    return jtype(c, jobs, ji, "jobs", "an array of job objects");
  if (defs && jdefaults(c, defs, di) < 0)
    return -1;
  js->first = jobs->child;
  js->first_i = ji + 1;
  return 0;
}

int jobs_json_open(jobs_src *s, struct diag *d) {
  struct jobs_json *js = calloc(1, sizeof(*js));
  struct jctx c;

  if (!(s->json = js))
    return jobs_diag(d, s->name, 0, 0, "out of memory");
  if (jread_all(s, js, d) < 0)
    return -1;
  jtext_init(&js->t, js->text, js->len, 1);
  jctx_init(&c, s, &js->t, d);
  if (jparse(&c, &js->sc, &js->root, bom_len(js->text, js->len)) < 0 ||
      jtop(&c, js) < 0)
    return -1;
  jobs_json_rewind(s);
  return 0;
}

int jobs_json_next(jobs_src *s, struct job *j, struct diag *d) {
  struct jobs_json *js = s->json;
  const cJSON *e = js->next;
  uint32_t ei = js->next_i;

  if (!e)
    return 0;
  js->next = e->next;
  js->next_i = jnext(&js->t, ei);
  return jjob(s, &js->t, e, ei, j, d);
}

void jobs_json_rewind(jobs_src *s) {
  s->json->next = s->json->first;
  s->json->next_i = s->json->first_i;
}

void jobs_json_close(jobs_src *s) {
  if (!s->json)
    return;
  cJSON_Delete(s->json->root);
  jobs_json_scan_free(&s->json->sc);
  free(s->json->text);
  free(s->json);
  s->json = NULL;
}

/* ---- JSON Lines ------------------------------------------------------- */

static int jl_blank(const char *l, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (l[i] != ' ' && l[i] != '\t' && l[i] != '\r')
      return 0;
  return 1;
}

/* Reads up to the next non-blank line: 1, 0 at the end, -1 with *d set. */
static int jl_read(jobs_src *s, struct diag *d) {
  for (;;) {
    int r = jobs_read_line(&s->rd, JOBS_MAX_JSON);
    if (r == 0)
      return 0;
    if (r == -1)
      return jobs_read_error(s, d, errno);
    if (r == -2) {
      s->index++;
      return jobs_diag(d, s->name, s->rd.lineno, 1,
                       "line longer than %zu "
                       "bytes",
                       JOBS_MAX_JSON);
    }
    if (!jl_blank(s->rd.line, s->rd.len))
      return 1;
  }
}

static int jl_parse(jobs_src *s, struct jctx *c, cJSON **root) {
  struct jobs_reader *r = &s->rd;

  jtext_init(c->t, r->line, r->len, r->lineno);
  return jparse(c, &s->jsonl->sc, root,
                r->lineno == 1 ? bom_len(r->line, r->len) : 0);
}

/* Reads the first non-blank line: {"defaults": {...}} (applied if
 * `apply`), or the first job, left pending for jobs_json_lines_next. */
static int jl_prologue(jobs_src *s, struct diag *d, int apply) {
  struct jtext t;
  struct jctx c;
  cJSON *root = NULL;
  int r = jl_read(s, d);

  if (r <= 0)
    return r;
  jctx_init(&c, s, &t, d);
  s->jsonl->pending = 1;
  if (jl_parse(s, &c, &root) < 0)
    return 0; /* reported as the first job's error */
  if (cJSON_IsObject(root) && root->child && !root->child->next &&
      strcmp(root->child->string, "defaults") == 0) {
    s->jsonl->pending = 0;
    r = apply ? jdefaults(&c, root->child, 1) : 0;
  }
  cJSON_Delete(root);
  return r;
}

int jobs_json_lines_open(jobs_src *s, struct diag *d) {
  if (!(s->jsonl = calloc(1, sizeof(*s->jsonl))))
    return jobs_diag(d, s->name, 0, 0, "out of memory");
  return jl_prologue(s, d, 1);
}

int jobs_json_lines_rewind(jobs_src *s) {
  struct diag d;

  s->jsonl->pending = 0;
  return jl_prologue(s, &d, 0) < 0 ? -1 : 0;
}

int jobs_json_lines_next(jobs_src *s, struct job *j, struct diag *d) {
  struct jtext t;
  struct jctx c;
  cJSON *root = NULL;
  int r = s->jsonl->pending ? 1 : jl_read(s, d);

  s->jsonl->pending = 0;
  if (r <= 0)
    return r;
  jctx_init(&c, s, &t, d);
  c.is_job = 1;
  c.job = s->index;
  if (jl_parse(s, &c, &root) < 0) {
    s->index++;
    return -1;
  }
  r = jjob(s, &t, root, 0, j, d);
  cJSON_Delete(root);
  return r;
}

void jobs_json_lines_close(jobs_src *s) {
  if (!s->jsonl)
    return;
  jobs_json_scan_free(&s->jsonl->sc);
  free(s->jsonl);
  s->jsonl = NULL;
}
