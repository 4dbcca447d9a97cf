/* test_io.c: waiting on file descriptors and blocking calls (runtime/io.c)
 * without stalling a scheduler. */
#include <stdio.h>
#include <unistd.h>

#include "rttest.h"

static _Atomic int ok_count, ticks;
static int pfd[2];

static void check(bool c)
{
    if (c)
        atomic_fetch_add(&ok_count, 1);
}

static void reader(void *arg)
{
    (void)arg;
    check(em_wait_fd(pfd[0], EM_READABLE, 30) == EM_ETIMEDOUT);
    int r = em_wait_fd(pfd[0], EM_READABLE, 2000);
    check(r == EM_READABLE);
    char c;
    check(read(pfd[0], &c, 1) == 1 && c == 'x');
    check(em_wait_fd(pfd[1], EM_WRITABLE, 0) == EM_WRITABLE);
}

static void ticker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++) {
        em_sleep(10);
        atomic_fetch_add(&ticks, 1);
    }
    ssize_t w = write(pfd[1], "x", 1);
    (void)w;
}

START_TEST(a_process_waits_for_a_readable_fd_without_blocking_its_scheduler)
{
    ck_assert_int_eq(pipe(pfd), 0);
    rt_start(1); /* one scheduler: the ticker must run while reader waits */
    em_spawn(reader, NULL);
    em_spawn(ticker, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 4);
    ck_assert_int_eq(atomic_load(&ticks), 5);
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

static int slow_call(void *arg)
{
    usleep(100 * 1000);
    return *(int *)arg + 1;
}

static void blocker(void *arg)
{
    (void)arg;
    /* Not a local variable: the process's stack is moved out while it
     * waits (runtime.h), so arg points to static storage. */
    static int x = 41;
    int r = em_blocking(slow_call, &x);
    if (r != 42)
        fprintf(stderr, "em_blocking returned %d\n", r);
    check(r == 42);
}

static void counter(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++) {
        em_sleep(5);
        atomic_fetch_add(&ticks, 1);
    }
}

START_TEST(a_blocking_call_runs_off_the_scheduler)
{
    rt_start(1);
    em_spawn(blocker, NULL);
    em_spawn(counter, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 1);
    ck_assert_int_eq(atomic_load(&ticks), 5);
}
END_TEST

static Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("io");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_process_waits_for_a_readable_fd_without_blocking_its_scheduler);
    tcase_add_test(tc, a_blocking_call_runs_off_the_scheduler);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(io_suite)
