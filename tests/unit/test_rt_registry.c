/*
 * test_rt_registry.c - running out of task slots: rt_block_on and rt_spawn
 * return RT_ENOMEM (the real cause), not RT_ESHUTDOWN, the root is never
 * polled or dropped (a call that fails runs no callback), nothing is left
 * live, and once slots are there again the same runtime runs a root.
 *
 * The registry's limit (65536 chunks of 4096 slots) cannot be exhausted
 * in a test, so the test lowers it through rt__registry_limit
 * (rt_internal.h): a white-box test, built with runtime/src on its include
 * path.  A fresh runtime has made no chunk yet, so a limit of 0 chunks
 * leaves no slot for the first task.
 */
#include "rt_test_util.h"

#include "rt_internal.h"

Test(registry, block_on_reports_enomem, .timeout = T_SHORT) {
  tenv e;
  rt_runtime *rt = env_start(&e, 2, 4);
  atomic_int polled = 0, drops = 0;
  value_st v = {.value = 7, .polled = &polled, .drops = &drops};
  rt_join j = {.status = -1};
  rt__registry_limit(rt, 0);
  int rc = rt_block_on(rt, &value_type, &v, sizeof v, &j);
  cr_assert_eq(rc, RT_ENOMEM, "rt_block_on: %s (want RT_ENOMEM)",
               rt_strerror(rc));
  rt_handle *h = NULL;
  rc = rt_spawn(&value_type, &v, sizeof v, &h);
  cr_assert_eq(rc, RT_ENOMEM, "rt_spawn: %s", rt_strerror(rc));
  cr_assert_null(h);
  cr_assert_eq(atomic_load(&polled), 0, "a root that never started ran");
  cr_assert_eq(atomic_load(&drops), 0, "a root that never started dropped");
  cr_assert_eq(rt_runtime_live_tasks(rt), 0);
  /* slots again: the same runtime runs a root to its end */
  rt__registry_limit(rt, UINT32_MAX);
  cr_assert_eq(rt_block_on(rt, &value_type, &v, sizeof v, &j), 0);
  cr_assert_eq(j.status, RT_JOIN_OK);
  cr_assert_eq((intptr_t)j.value, 7);
  cr_assert_eq(atomic_load(&polled), 1);
  rt_join_clear(&j);
  env_finish(&e, true);
}

/* After shutdown the cause is the shutdown, and it is still said so. */
Test(registry, block_on_after_shutdown_says_shutdown, .timeout = T_SHORT) {
  tenv e;
  rt_runtime *rt = env_start(&e, 1, 4);
  cr_assert_eq(rt_runtime_shutdown(rt, 10000), 0);
  value_st v = {.value = 1};
  rt_join j;
  cr_assert_eq(rt_block_on(rt, &value_type, &v, sizeof v, &j), RT_ESHUTDOWN);
  env_finish(&e, true);
}
