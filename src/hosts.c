/*
 * hosts.c - the --per-host semaphores: a chained hash map from
 * "scheme://host:port" to an rt_sem and a count of the jobs in flight
 * that use it.  An entry is freed when its last job is done, so memory
 * follows the hosts in flight, not every host the input ever named.
 * Only the root task touches the map; the semaphores are shared with the
 * fetch tasks, which keep them alive through the root's reference.
 */
#include "hosts.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct host {
  struct host *next;
  char *key;
  rt_sem *sem;
  unsigned refs;
};

struct hosts {
  struct host **b;
  size_t nb, n;
  unsigned per_host;
};

static uint64_t hash(const char *s) {
  uint64_t h = 0xcbf29ce484222325u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 0x100000001b3u;
  return h;
}

hosts *hosts_create(unsigned per_host) {
  hosts *h = calloc(1, sizeof(*h));
  if (!h)
    return NULL;
  h->nb = 64;
  h->b = calloc(h->nb, sizeof(*h->b));
  h->per_host = per_host;
  if (!h->b) {
    free(h);
    return NULL;
  }
  return h;
}

static void free_entry(struct host *e) {
  rt_sem_destroy(e->sem);
  free(e->key);
  free(e);
}

void hosts_destroy(hosts *h) {
  if (!h)
    return;
  for (size_t i = 0; i < h->nb; i++)
    while (h->b[i]) {
      struct host *e = h->b[i];
      h->b[i] = e->next;
      free_entry(e);
    }
  free(h->b);
  free(h);
}

/* "scheme://host:port", lower-cased, or NULL. */
static char *host_key(const char *url) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL, *key = NULL;
  if (u && !curl_url_set(u, CURLUPART_URL, url, 0) &&
      !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
      !curl_url_get(u, CURLUPART_HOST, &host, 0) &&
      !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) &&
      asprintf(&key, "%s://%s:%s", scheme, host, port) < 0)
    key = NULL;
  for (char *c = key; c && *c; c++)
    if (*c >= 'A' && *c <= 'Z')
      *c = (char)(*c - 'A' + 'a');
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return key;
}

static void grow(hosts *h) {
  size_t nb = h->nb * 2;
  struct host **b = calloc(nb, sizeof(*b));
  if (!b)
    return; /* keep the longer chains */
  for (size_t i = 0; i < h->nb; i++)
    while (h->b[i]) {
      struct host *e = h->b[i];
      h->b[i] = e->next;
      size_t k = hash(e->key) & (nb - 1);
      e->next = b[k];
      b[k] = e;
    }
  free(h->b);
  h->b = b;
  h->nb = nb;
}

struct host *hosts_get(hosts *h, const char *url) {
  char *key = host_key(url);
  if (!key)
    return NULL;
  size_t k = hash(key) & (h->nb - 1);
  for (struct host *e = h->b[k]; e; e = e->next)
    if (!strcmp(e->key, key)) {
      free(key);
      e->refs++;
      return e;
    }
  struct host *e = calloc(1, sizeof(*e));
  if (!e || rt_sem_create(h->per_host, &e->sem) != 0) {
    free(e);
    free(key);
    return NULL;
  }
  e->key = key;
  e->refs = 1;
  e->next = h->b[k];
  h->b[k] = e;
  if (++h->n > h->nb)
    grow(h);
  return e;
}

rt_sem *hosts_sem(const struct host *e) { return e->sem; }

void hosts_put(hosts *h, struct host *e) {
  if (--e->refs)
    return;
  struct host **pp = &h->b[hash(e->key) & (h->nb - 1)];
  while (*pp != e)
    pp = &(*pp)->next;
  *pp = e->next;
  h->n--;
  free_entry(e);
}
