/*
 * redact.h - what jfetch writes about a URL, without its credentials.
 */
#ifndef JFETCH_REDACT_H
#define JFETCH_REDACT_H

/* The form of url that jfetch writes anywhere (records, reports, the
 * summary, progress and error lines): the userinfo of its authority
 * becomes "user:***@" when it has a password and "***@" when it has only a
 * user name (often a token, as in https://TOKEN@host/).  The query string
 * stays as it is.  Returns url itself when there is nothing to hide, else
 * a copy in *own that the caller frees; *own is NULL otherwise.  Out of
 * memory returns a placeholder that hides the whole URL.  Thread-safe,
 * O(length of url). */
const char *redact_url(const char *url, char **own);

#endif
