/*
 * pace.h - traffic control: byte-rate caps and request-rate limits.
 *
 * Every limit is a GCRA meter (a token bucket written as one "theoretical
 * arrival time"): charging n units pushes the meter's time forward by
 * n * interval; a unit may go once the meter's time is at most `tau`
 * ahead of the clock.  One atomic compare-and-swap per charge, no lock:
 * the same meter serves one transfer (--limit-rate), every transfer of
 * the run (--limit-rate-total), every transfer start (--rate) or the
 * starts to one host (--per-host-rate).
 */
#ifndef JFETCH_PACE_H
#define JFETCH_PACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct pace_meter {
  _Atomic uint64_t tat; /* ns on rt_now()'s clock */
  double ns_per_unit;
  uint64_t tau_ns; /* how far ahead of now the meter may run */
};

/* units per second; tau_ns: the burst allowed, in time. */
void pace_meter_init(struct pace_meter *m, double per_second, uint64_t tau_ns);

/* Charges n units at time now; returns the earliest time the next unit
 * may go (now or earlier: at once).  Any thread; lock-free (one CAS,
 * retried under contention). */
uint64_t pace_meter_charge(struct pace_meter *m, uint64_t n, uint64_t now);

/* Reserves one start: returns when it may happen (>= now), spacing starts
 * 1/rate apart.  Any thread; lock-free. */
uint64_t pace_meter_reserve(struct pace_meter *m, uint64_t now);

/* A byte rate ("200K", "1.5M", "500000"; K, M, G are powers of 1024, an
 * optional B after).  0, or -1 if v is not one (or is below 1 byte/s). */
int pace_parse_bytes(const char *v, uint64_t *out);

/* A request rate "N/s", "N/m" or "N/h" (N an integer from 1): *per_s gets
 * N per second.  0, or -1 if v is not one. */
int pace_parse_rate(const char *v, double *per_s);

/* ---- the run's policy (--rate, --per-host-rate, --limit-rate-total) --- */

typedef struct pace pace;

/* rate, host_rate: starts per second; total: bytes per second shared by
 * every transfer; 0 for none.  NULL on ENOMEM, or if all three are 0
 * (nothing to pace). */
pace *pace_create(double rate, double host_rate, uint64_t total);
void pace_destroy(pace *p);

/* The --limit-rate-total meter, or NULL (p NULL, or no total cap). */
struct pace_meter *pace_total(pace *p);

/* When the next attempt on url may start (>= now): the later of the
 * global and the host's reservation.  Any thread; a lock only when the
 * per-host form is on (once per attempt, never per read). */
uint64_t pace_start_at(pace *p, const char *url, uint64_t now);

/* The receive buffer for a transfer capped at `rate` bytes/s: about 1/16 s
 * of data, 1 KiB to 128 KiB, so one read overshoots the cap by little. */
long pace_buffer_size(uint64_t rate);

#endif
