/*
 * curl_driver.c - one libcurl multi handle per driver, on its ev loop.
 * (Filled in by the transfer work; for now only the hooks the rest of the
 * runtime calls.)
 */
#include "rt_internal.h"

void rt__curl_driver_fini(struct rt__driver *d) { (void)d; }

void rt__xfer_wait_cancel(struct rt__wait *w) { (void)w; }
