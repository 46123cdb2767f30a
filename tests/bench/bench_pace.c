/*
 * bench_pace.c - what one read costs the shared byte cap.
 *
 * Every read of every transfer under --limit-rate-total charges one meter
 * shared by all workers.  This measures, for 1 and N threads charging as
 * fast as they can (a worst case: real transfers charge once per 1-128 KiB
 * read, a few thousand times a second), the nanoseconds per charge of
 *   cas:   pace_meter_charge, one compare-and-swap (what jfetch uses);
 *   mutex: the same GCRA step under a pthread mutex (the design dropped).
 * Prints one markdown row per (kind, threads).
 *   bench_pace [THREADS [CHARGES_PER_THREAD]]
 */
#include "pace.h"

#include <pthread.h>
#include <rt.h>
#include <stdio.h>
#include <stdlib.h>

struct locked {
  pthread_mutex_t mu;
  uint64_t tat;
  double ns_per_unit;
};

struct arg {
  struct pace_meter *m;
  struct locked *l;
  long n;
};

static void *run_cas(void *p) {
  struct arg *a = p;
  uint64_t sink = 0;
  for (long i = 0; i < a->n; i++)
    sink += pace_meter_charge(a->m, 4096, rt_now());
  return (void *)(uintptr_t)sink;
}

static void *run_mutex(void *p) {
  struct arg *a = p;
  uint64_t sink = 0;
  for (long i = 0; i < a->n; i++) {
    uint64_t now = rt_now();
    pthread_mutex_lock(&a->l->mu);
    uint64_t base = a->l->tat > now ? a->l->tat : now;
    a->l->tat = base + (uint64_t)(4096.0 * a->l->ns_per_unit);
    sink += a->l->tat;
    pthread_mutex_unlock(&a->l->mu);
  }
  return (void *)(uintptr_t)sink;
}

static double measure(void *(*fn)(void *), int threads, long n) {
  struct pace_meter m;
  pace_meter_init(&m, 4194304.0, 50000000u);
  struct locked l = {PTHREAD_MUTEX_INITIALIZER, 0, 1e9 / 4194304.0};
  struct arg a = {&m, &l, n};
  pthread_t t[64];
  uint64_t t0 = rt_now();
  for (int i = 0; i < threads; i++)
    if (pthread_create(&t[i], NULL, fn, &a) != 0)
      return -1;
  for (int i = 0; i < threads; i++)
    pthread_join(t[i], NULL);
  /* wall time per charge of one thread: what a worker pays per read */
  return (double)(rt_now() - t0) / (double)n;
}

int main(int argc, char **argv) {
  int maxt = argc > 1 ? atoi(argv[1]) : 2;
  long n = argc > 2 ? atol(argv[2]) : 2000000;
  if (maxt < 1 || maxt > 64 || n < 1)
    return 2;
  printf("| threads | cas ns/charge | mutex ns/charge |\n|---|---|---|\n");
  for (int t = 1; t <= maxt; t *= 2)
    printf("| %d | %.1f | %.1f |\n", t, measure(run_cas, t, n),
           measure(run_mutex, t, n));
  return 0;
}
