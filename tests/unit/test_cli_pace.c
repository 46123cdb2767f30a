/*
 * test_cli_pace.c - pace.c: the GCRA meter (burst, debt, spacing of
 * starts), its lock-free use from several threads (no charge lost), the
 * rate and byte parsers, the receive-buffer size, and per-host start
 * pacing (hosts paced apart, the global rate over all of them).
 */
#include "cli_test_util.h"

#include "pace.h"

#include <pthread.h>

#define MS 1000000ull

Test(pace_meter, burst_then_debt, .timeout = T_SHORT) {
  struct pace_meter m;
  pace_meter_init(&m, 1000.0, 50 * MS); /* 1000 B/s, 50 ms of burst */
  uint64_t t0 = 1000 * MS;
  /* a fresh meter starts tau ahead: 40 bytes, the next at +40 ms */
  cr_assert_eq(pace_meter_charge(&m, 40, t0), t0 + 40 * MS);
  /* 100 more at once: the next at t0 + 140 ms */
  cr_assert_eq(pace_meter_charge(&m, 100, t0), t0 + 140 * MS);
  /* charging late keeps the debt: 1000 more bytes */
  cr_assert_eq(pace_meter_charge(&m, 1000, t0 + 90 * MS), t0 + 1140 * MS);
  /* woken 30 ms late (within tau): no credit lost */
  cr_assert_eq(pace_meter_charge(&m, 10, t0 + 1170 * MS), t0 + 1150 * MS);
  /* idle for a second: tau of burst, no more */
  cr_assert_eq(pace_meter_charge(&m, 10, t0 + 3000 * MS), t0 + 2960 * MS);
}

Test(pace_meter, idle_time_is_not_banked, .timeout = T_SHORT) {
  struct pace_meter m;
  pace_meter_init(&m, 1000.0, 0);
  uint64_t t0 = 5000 * MS;
  cr_assert_eq(pace_meter_charge(&m, 10, t0), t0 + 10 * MS);
  /* a minute idle: the next charge starts from now, not from t0 + 10 ms */
  uint64_t t1 = t0 + 60000 * MS;
  cr_assert_eq(pace_meter_charge(&m, 500, t1), t1 + 500 * MS);
}

Test(pace_meter, reserve_spaces_starts, .timeout = T_SHORT) {
  struct pace_meter m;
  pace_meter_init(&m, 20.0, 0); /* 20/s: 50 ms apart */
  uint64_t t0 = 1000 * MS;
  for (uint64_t k = 0; k < 40; k++)
    cr_assert_eq(pace_meter_reserve(&m, t0), t0 + k * 50 * MS, "start %llu",
                 (unsigned long long)k);
  /* after a pause, the next start is at once */
  cr_assert_eq(pace_meter_reserve(&m, t0 + 10000 * MS), t0 + 10000 * MS);
}

struct hammer {
  struct pace_meter *m;
  uint64_t now;
};

static void *hammer_main(void *arg) {
  struct hammer *h = arg;
  for (int i = 0; i < 100000; i++)
    pace_meter_charge(h->m, 10, h->now);
  return NULL;
}

Test(pace_meter, no_charge_lost_across_threads, .timeout = T_LONG) {
  struct pace_meter m;
  pace_meter_init(&m, 1e9, 0); /* 1 ns per unit */
  struct hammer h = {&m, 1};
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    cr_assert_eq(pthread_create(&t[i], NULL, hammer_main, &h), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  /* 4 threads x 100000 charges x 10 units, from time 1 */
  cr_assert_eq(atomic_load(&m.tat), 1 + 4000000ull);
}

Test(pace_parse, rates, .timeout = T_SHORT) {
  double r = 0;
  cr_assert_eq(pace_parse_rate("20/s", &r), 0);
  cr_assert_float_eq(r, 20.0, 1e-12);
  cr_assert_eq(pace_parse_rate("30/m", &r), 0);
  cr_assert_float_eq(r, 0.5, 1e-12);
  cr_assert_eq(pace_parse_rate("36/h", &r), 0);
  cr_assert_float_eq(r, 0.01, 1e-12);
  const char *bad[] = {"", "0/s", "10/d", "10", "1.5/s", "+1/s", "10/sec"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_assert_eq(pace_parse_rate(bad[i], &r), -1, "'%s' accepted", bad[i]);
}

Test(pace_parse, bytes, .timeout = T_SHORT) {
  uint64_t n = 0;
  cr_assert_eq(pace_parse_bytes("200K", &n), 0);
  cr_assert_eq(n, 204800);
  cr_assert_eq(pace_parse_bytes("1.5M", &n), 0);
  cr_assert_eq(n, 1572864);
  cr_assert_eq(pace_parse_bytes("2G", &n), 0);
  cr_assert_eq(n, 2147483648ull);
  cr_assert_eq(pace_parse_bytes("500000", &n), 0);
  cr_assert_eq(n, 500000);
  const char *bad[] = {"", "5X", "0", "K", "-1K", "1T", " 5", "0.5"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_assert_eq(pace_parse_bytes(bad[i], &n), -1, "'%s' accepted", bad[i]);
}

Test(pace_buffer, sixteenth_of_a_second, .timeout = T_SHORT) {
  cr_assert_eq(pace_buffer_size(204800), 12800);
  cr_assert_eq(pace_buffer_size(100), 1024);
  cr_assert_eq(pace_buffer_size(1ull << 30), 131072);
}

Test(pace_starts, per_host_and_global, .timeout = T_SHORT) {
  pace *p = pace_create(0, 10.0, 0); /* 10 starts/s per host */
  cr_assert_not_null(p);
  cr_assert_null(pace_total(p));
  uint64_t t0 = 1000 * MS;
  cr_assert_eq(pace_start_at(p, "http://a.example/x", t0), t0);
  cr_assert_eq(pace_start_at(p, "http://b.example/x", t0), t0);
  cr_assert_eq(pace_start_at(p, "HTTP://A.example/y?q", t0), t0 + 100 * MS);
  cr_assert_eq(pace_start_at(p, "http://a.example:8080/", t0), t0);
  pace_destroy(p);
  p = pace_create(4.0, 1.0, 1000); /* 4/s overall, 1/s per host */
  cr_assert_not_null(pace_total(p));
  cr_assert_eq(pace_start_at(p, "http://a/", t0), t0);
  cr_assert_eq(pace_start_at(p, "http://b/", t0), t0 + 250 * MS);
  cr_assert_eq(pace_start_at(p, "http://a/", t0), t0 + 1000 * MS);
  pace_destroy(p);
  cr_assert_null(pace_create(0, 0, 0));
  pace_destroy(NULL);
}
