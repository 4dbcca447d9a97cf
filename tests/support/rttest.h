/* rttest.h: helpers for tests that run the runtime.  Each Check test runs in
 * its own forked child, so a test starts a runtime, runs it to completion
 * with em_run(), then asserts on what the processes recorded. */
#ifndef EM_TESTS_RTTEST_H
#define EM_TESTS_RTTEST_H

#include <stdatomic.h>
#include <time.h>
#include "emtest.h"

/* Start a runtime with n schedulers (0 = default). */
static inline void rt_start(unsigned n)
{
    em_rt_opts o = {.schedulers = n};
    ck_assert_em_ok(em_init(&o));
}

static inline int64_t rt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif /* EM_TESTS_RTTEST_H */
