/* rttest.h: helpers for tests that run the runtime.  Each Check test runs in
 * its own forked child, so a test starts a runtime, runs it to completion
 * with em_run(), then asserts on what the processes recorded. */
#ifndef EM_TESTS_RTTEST_H
#define EM_TESTS_RTTEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include "emtest.h"

/* Checks made inside processes.  Assertions stay in the test's own thread
 * (after em_run() returns, not on a process's stack on a scheduler
 * thread): a process counts in ok_count each CHECK that held, and prints
 * the ones that did not; the test then asserts ok_count is the number of
 * checks its processes make. */
static _Atomic int ok_count __attribute__((unused));

static inline void rt_check(bool c, const char *what, const char *file, int line)
{
    if (c)
        atomic_fetch_add(&ok_count, 1);
    else
        fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
}

#define CHECK(c) rt_check((c), #c, __FILE__, __LINE__)

/* Start a runtime with n schedulers (0 = default). */
static inline void rt_start(unsigned n)
{
    em_rt_opts o = {.schedulers = n};
    ck_assert_em_ok(em_init(&o));
}

/* em_run() with a thread of the test's own running fn(NULL) beside the
 * runtime (to write to a pipe, post or kill from outside any process),
 * joined after em_run returns; em_run's result. */
static inline int rt_run_beside(void *(*fn)(void *))
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fn, NULL), 0);
    int rc = em_run();
    pthread_join(t, NULL);
    return rc;
}

/* em_run() with a thread beside it that waits until ready() holds, kills
 * the process *victim (exit reason kill), then sets *sent: a kill from
 * outside any process at the moment a test's process is where the test
 * means it to be.  em_run's result. */
static bool (*rt_kill_ready)(void) __attribute__((unused));
static _Atomic em_term *rt_kill_victim __attribute__((unused));
static _Atomic int *rt_kill_sent __attribute__((unused));

static inline void *rt_kill_when_ready(void *arg)
{
    (void)arg;
    while (!rt_kill_ready()) {
        struct timespec t = {0, 1000000};
        nanosleep(&t, NULL);
    }
    em_exit_pid(atomic_load(rt_kill_victim), em_atom("kill"));
    atomic_store(rt_kill_sent, 1);
    return NULL;
}

static inline __attribute__((unused)) int rt_run_killing(bool (*ready)(void), _Atomic em_term *victim,
                                                         _Atomic int *sent)
{
    rt_kill_ready = ready;
    rt_kill_victim = victim;
    rt_kill_sent = sent;
    return rt_run_beside(rt_kill_when_ready);
}

/* Keeps every byte of a local array in its frame, for tests that mean to
 * use stack: the compiler must assume the empty asm reads and writes all of
 * it.  `volatile` alone does not do that: clang gives an array only the
 * elements the code touches (a `volatile char pad[1024]` of which pad[0]
 * is used took 1 byte, and an 8 MiB one 2), so a recursion meant to
 * overflow a process's stack stayed shallow. */
static inline void rt_keep(volatile void *a)
{
    __asm__ volatile("" : : "r"(a) : "memory");
}

static inline int64_t rt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif /* EM_TESTS_RTTEST_H */
