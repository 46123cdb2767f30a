/*
 * redact.c - URLs without their credentials, for everything jfetch writes.
 *
 * A request keeps its URL whole; only what is written about it goes
 * through redact_url, the one helper that every writer of a URL calls:
 * the records (--json, --format, --report json=), the JUnit report, the
 * summary, the progress and -v lines and the error messages.
 *
 * The authority is what follows "scheme://" up to the first '/', '?' or
 * '#'; its userinfo ends at its last '@' (a password that holds an
 * unencoded '@' is then hidden whole, whichever '@' libcurl splits at).
 * "user:pass@" becomes "user:***@", and a userinfo without a ':' becomes
 * "***@", because tokens travel as the user name (https://TOKEN@host/).
 * Without a "scheme://" the authority starts after a leading "//", else
 * at the start (as libcurl reads "user:pass@host/"): such URLs are refused,
 * but the error message quotes them.
 * Query strings are left alone, as curl leaves them: a secret there is
 * the user's to keep out of URLs (the man page says so).
 */
#include "redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The userinfo of url: sets *b and *e around it (the '@' at *e); 0 if
 * there is none. */
static int userinfo(const char *url, const char **b, const char **e) {
  const char *s = strstr(url, "://");
  if (s && strcspn(url, "/?#") >= (size_t)(s - url))
    s += 3;
  else
    s = url[0] == '/' && url[1] == '/' ? url + 2 : url;
  size_t alen = strcspn(s, "/?#");
  const char *at = NULL;
  for (const char *p = s; p < s + alen; p++)
    if (*p == '@')
      at = p;
  if (!at)
    return 0;
  *b = s;
  *e = at;
  return 1;
}

const char *redact_url(const char *url, char **own) {
  const char *b, *e;
  *own = NULL;
  if (!url || !userinfo(url, &b, &e))
    return url;
  const char *colon = memchr(b, ':', (size_t)(e - b));
  size_t keep = colon ? (size_t)(colon - b) + 1 : 0; /* "user:" */
  if (asprintf(own, "%.*s***%s", (int)((size_t)(b - url) + keep), url, e) < 0) {
    *own = NULL;
    return "(URL withheld: out of memory)";
  }
  return *own;
}
