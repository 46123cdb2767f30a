/*
 * pace.c - traffic control: GCRA meters, rate parsing, start pacing.
 *
 * A meter keeps one time, tat (the "theoretical arrival time" of the
 * generic cell rate algorithm): charging n units moves it to
 * max(tat, now) + n * interval, and the caller may send the next unit once
 * tat - tau <= now.  That is a token bucket of depth tau * rate whose
 * level is implied by the clock, so no timer refills it and a charge is
 * one compare-and-swap.  Bytes are charged after they are taken (the
 * chunk libcurl delivered is consumed whole and the meter may run a chunk
 * past tau): the debt makes the wait before the next chunk longer, so
 * the long-run rate is exact whatever the chunk sizes.  tau (50 ms)
 * absorbs late timers: a transfer woken late finds the credit still there.
 * A fresh meter starts tau ahead, so there is no burst at the first byte:
 * when 64 transfers start under one total cap, the first to arrive would
 * otherwise take all of tau (200 KiB at 4M) and end seconds before the
 * others (seen: 1.9 s against 4.9 s for 320 KiB each).
 *
 * The shared cap (--limit-rate-total) is one meter charged by every
 * transfer on every worker.  A transfer that charged a chunk waits until
 * the meter's time it left behind, so transfers take turns in the order
 * they charged: fair by chunks (their buffers are sized alike), with no
 * lock and no rebalancing.  Tried on paper and dropped: per-worker shares
 * rebalanced by a timer (a worker whose transfers finish holds share it
 * cannot use until the next rebalance, and the rate dips); a mutex-guarded
 * bucket (one lock per 4 KiB chunk at 64 transfers).
 *
 * Starts (--rate, --per-host-rate) reserve a slot on a meter with no
 * burst: each start is 1/rate after the one before.  Per-host meters live
 * in a small chained hash table under one mutex, taken once per attempt.
 */
#include "pace.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void pace_meter_init(struct pace_meter *m, double per_second, uint64_t tau_ns) {
  atomic_init(&m->tat, 0);
  m->ns_per_unit = 1e9 / per_second;
  m->tau_ns = tau_ns;
}

uint64_t pace_meter_charge(struct pace_meter *m, uint64_t n, uint64_t now) {
  uint64_t old = atomic_load_explicit(&m->tat, memory_order_relaxed), nw;
  do {
    /* a fresh meter starts a full tau ahead: no burst from the first
     * byte, and the first transfer of many does not take it all */
    uint64_t base = !old ? now + m->tau_ns : old > now ? old : now;
    nw = base + (uint64_t)((double)n * m->ns_per_unit);
  } while (!atomic_compare_exchange_weak_explicit(
      &m->tat, &old, nw, memory_order_relaxed, memory_order_relaxed));
  return nw > m->tau_ns ? nw - m->tau_ns : 0;
}

uint64_t pace_meter_reserve(struct pace_meter *m, uint64_t now) {
  uint64_t old = atomic_load_explicit(&m->tat, memory_order_relaxed), base;
  do {
    base = old > now ? old : now;
  } while (!atomic_compare_exchange_weak_explicit(
      &m->tat, &old, base + (uint64_t)m->ns_per_unit, memory_order_relaxed,
      memory_order_relaxed));
  return base;
}

int pace_parse_bytes(const char *v, uint64_t *out) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  const char *suffix = "kKmMgG";
  const char *s = *end ? strchr(suffix, *end) : NULL;
  if (s) {
    x *= pow(1024.0, (double)((s - suffix) / 2 + 1));
    end++;
  }
  if (*end == 'B' || *end == 'b')
    end++;
  if (end == v || *end || errno || !isfinite(x) || x < 1 || x > 1e18 ||
      !isdigit((unsigned char)*v))
    return -1;
  *out = (uint64_t)x;
  return 0;
}

int pace_parse_rate(const char *v, double *per_s) {
  char *end;
  if (!isdigit((unsigned char)*v))
    return -1;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (errno || n < 1 || n > 1000000000ull || *end != '/' || !end[1] || end[2])
    return -1;
  double unit = end[1] == 's'   ? 1
                : end[1] == 'm' ? 60
                : end[1] == 'h' ? 3600
                                : 0;
  if (!unit)
    return -1;
  *per_s = (double)n / unit;
  return 0;
}

long pace_buffer_size(uint64_t rate) {
  uint64_t b = rate / 16;
  return b < 1024 ? 1024L : b > 131072 ? 131072L : (long)b;
}

/* ---- start pacing --------------------------------------------------------
 */

#define HOST_BUCKETS 256

struct host_meter {
  struct host_meter *next;
  struct pace_meter m;
  char key[]; /* scheme://authority */
};

struct pace {
  _Alignas(64) struct pace_meter total; /* own cache line: every read */
  bool has_total;
  _Alignas(64) struct pace_meter all;
  bool has_all;
  double host_rate;
  pthread_mutex_t mu; /* guards hosts */
  struct host_meter *hosts[HOST_BUCKETS];
};

pace *pace_create(double rate, double host_rate, uint64_t total) {
  if (rate <= 0 && host_rate <= 0 && !total)
    return NULL;
  pace *p = aligned_alloc(64, (sizeof(*p) + 63) / 64 * 64);
  if (!p)
    return NULL;
  memset(p, 0, sizeof(*p));
  p->has_all = rate > 0;
  if (p->has_all)
    pace_meter_init(&p->all, rate, 0);
  p->has_total = total > 0;
  if (p->has_total) /* 50 ms of burst: absorbs late timers, not a spike */
    pace_meter_init(&p->total, (double)total, 50000000u);
  p->host_rate = host_rate;
  pthread_mutex_init(&p->mu, NULL);
  return p;
}

void pace_destroy(pace *p) {
  if (!p)
    return;
  for (unsigned i = 0; i < HOST_BUCKETS; i++)
    for (struct host_meter *h = p->hosts[i], *n; h; h = n) {
      n = h->next;
      free(h);
    }
  pthread_mutex_destroy(&p->mu);
  free(p);
}

struct pace_meter *pace_total(pace *p) {
  return p && p->has_total ? &p->total : NULL;
}

/* Length of url's scheme://[user@]host[:port] prefix. */
static size_t authority_len(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  return (size_t)(p - url) + strcspn(p, "/?#");
}

static struct host_meter *host_find(pace *p, const char *url) {
  size_t n = authority_len(url);
  uint32_t hash = 2166136261u;
  for (size_t i = 0; i < n; i++)
    hash = (hash ^ (uint32_t)tolower((unsigned char)url[i])) * 16777619u;
  struct host_meter **b = &p->hosts[hash % HOST_BUCKETS];
  for (struct host_meter *h = *b; h; h = h->next)
    if (strlen(h->key) == n && !strncasecmp(h->key, url, n))
      return h;
  struct host_meter *h = aligned_alloc(64, (sizeof(*h) + n + 1 + 63) / 64 * 64);
  if (!h)
    return NULL;
  pace_meter_init(&h->m, p->host_rate, 0);
  memcpy(h->key, url, n);
  h->key[n] = '\0';
  h->next = *b;
  *b = h;
  return h;
}

uint64_t pace_start_at(pace *p, const char *url, uint64_t now) {
  if (!p)
    return now;
  uint64_t at = p->has_all ? pace_meter_reserve(&p->all, now) : now;
  if (p->host_rate <= 0)
    return at;
  pthread_mutex_lock(&p->mu);
  struct host_meter *h = host_find(p, url);
  uint64_t hat = h ? pace_meter_reserve(&h->m, now) : now;
  pthread_mutex_unlock(&p->mu);
  return hat > at ? hat : at;
}
