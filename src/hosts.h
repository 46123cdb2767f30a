/*
 * hosts.h - --per-host: one runtime semaphore per host (scheme, host and
 * port), shared by that host's jobs in flight.  Used by the root task only.
 */
#ifndef JFETCH_HOSTS_H
#define JFETCH_HOSTS_H

#include <rt.h>

typedef struct hosts hosts;
struct host;

hosts *hosts_create(unsigned per_host);
void hosts_destroy(hosts *h);

/* The entry for url's host, created with per_host permits on first use
 * and referenced once more.  NULL if the URL has no host or on ENOMEM. */
struct host *hosts_get(hosts *h, const char *url);
rt_sem *hosts_sem(const struct host *e);
/* Drops one reference; the entry and its semaphore go with the last. */
void hosts_put(hosts *h, struct host *e);

#endif
