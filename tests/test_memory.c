/* test_memory.c: idle memory goes back to the kernel (runtime/mem.c, the
 * idle trim of runtime/sched.c): after a burst of messages queued to one
 * process and drained, after repeated bursts, and after a process ran
 * deep on its stack, the resident set (VmRSS of /proc/self/status) comes
 * back down within a few idle seconds.
 *
 * Under AddressSanitizer and ThreadSanitizer RSS says little (shadow
 * memory, quarantine, nothing cached): the bursts run (smaller) and take
 * the same paths, and the RSS assertions are skipped with a printed note. */
#include <stdio.h>
#include <string.h>

#include "rttest.h"

#if defined(__SANITIZE_ADDRESS__) || EM_TEST_UNDER_TSAN
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define MIB 1024L                 /* in KiB, VmRSS's unit */
#define ALLOWANCE (64 * MIB)      /* what a drained burst may leave resident */
#define BURST (SANITIZED ? 200000L : 2000000L)
#define CYCLES 5
/* How long a test waits for RSS to come down (sanitizers: it does not). */
#define SETTLE_MS (SANITIZED ? 1500 : 10000)

static void skip_note(const char *test)
{
    printf("test_memory: %s: sanitizer build, RSS assertions skipped (the code paths ran)\n", test);
    fflush(stdout);
}

/* The resident set of this process in KiB, or -1. */
static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = atol(line + 6);
    fclose(f);
    return v;
}

/* Wait (sleeping, so the schedulers go idle) until RSS is at most
 * limit_kb, for at most max_ms; returns the RSS last read. */
static long rss_wait_below(long limit_kb, int64_t max_ms)
{
    int64_t end = rt_now_ms() + max_ms;
    long r = rss_kb();
    while (r > limit_kb && rt_now_ms() < end) {
        em_sleep(200);
        r = rss_kb();
    }
    return r;
}

/* ---- bursts ---- */

static em_term burst_parent;

/* A slow receiver: receives nothing until `go`, then drains `n` messages,
 * answers `drained`, and waits for `stop`. */
static void drainer(void *arg)
{
    long n = (long)(intptr_t)arg;
    em_term m;
    em_receive(EM_INFINITY, "go");
    for (long k = 0; k < n; k++)
        ck_assert_em_ok(em_receive_any(EM_INFINITY, &m));
    em_send(burst_parent, em_atom("drained"));
    em_receive(EM_INFINITY, "stop");
}

/* Queue n messages {msg, I} to a new drainer, take the RSS (the peak), let
 * it drain them, and return the peak. */
static long burst(long n)
{
    burst_parent = em_self();
    em_term d = em_spawn(drainer, (void *)(intptr_t)n);
    for (long i = 0; i < n; i++)
        ck_assert_em_ok(em_send(d, em_tuple(2, em_atom("msg"), em_int(i))));
    long peak = rss_kb();
    em_send(d, em_atom("go"));
    ck_assert_em_ok(em_receive(EM_INFINITY, "drained"));
    em_send(d, em_atom("stop"));
    return peak;
}

static long before_kb, peak_kb, idle_kb, idle_ms;

static void one_burst(void *arg)
{
    (void)arg;
    em_sleep(100); /* the runtime's own start-up settles */
    before_kb = rss_kb();
    peak_kb = burst(BURST);
    int64_t t0 = rt_now_ms();
    idle_kb = rss_wait_below(before_kb + ALLOWANCE, SETTLE_MS);
    idle_ms = rt_now_ms() - t0;
}

/* 2M messages queued to one process (about 170 MB here), then drained:
 * within a few idle seconds RSS is back within 64 MB of where it was. */
START_TEST(a_drained_burst_gives_its_memory_back)
{
    rt_start(0);
    em_spawn(one_burst, NULL);
    ck_assert_int_eq(em_run(), 0);
    printf("test_memory: burst of %ld: RSS before %ld KiB, peak %ld KiB, %ld KiB %ld ms after the drain\n",
           BURST, before_kb, peak_kb, idle_kb, idle_ms);
    fflush(stdout);
    if (SANITIZED) {
        skip_note("a_drained_burst_gives_its_memory_back");
        return;
    }
    ck_assert_int_gt(before_kb, 0);
    /* Else the burst proves nothing. */
    ck_assert_msg(peak_kb > before_kb + ALLOWANCE, "the burst took only %ld KiB", peak_kb - before_kb);
    ck_assert_msg(idle_kb <= before_kb + ALLOWANCE,
                  "RSS %ld KiB %ld ms after the drain, %ld KiB before the burst", idle_kb, idle_ms, before_kb);
}
END_TEST

static long cycle_idle_kb[CYCLES];

static void bursts(void *arg)
{
    (void)arg;
    em_sleep(100);
    before_kb = rss_kb();
    for (int c = 0; c < CYCLES; c++) {
        burst(BURST / 2);
        rss_wait_below(before_kb + ALLOWANCE, SETTLE_MS);
        em_sleep(1500); /* whatever else is to go has gone */
        cycle_idle_kb[c] = rss_kb();
    }
}

/* Five bursts of 1M messages in a row: the idle RSS after the last is
 * within 8 MB of that after the second (no growth from cycle to cycle),
 * and every one within 64 MB of the start. */
START_TEST(repeated_bursts_do_not_grow_the_idle_memory)
{
    rt_start(0);
    em_spawn(bursts, NULL);
    ck_assert_int_eq(em_run(), 0);
    printf("test_memory: idle RSS after each of %d bursts of %ld (KiB; %ld before):", CYCLES, BURST / 2,
           before_kb);
    for (int c = 0; c < CYCLES; c++)
        printf(" %ld", cycle_idle_kb[c]);
    printf("\n");
    fflush(stdout);
    if (SANITIZED) {
        skip_note("repeated_bursts_do_not_grow_the_idle_memory");
        return;
    }
    for (int c = 0; c < CYCLES; c++)
        ck_assert_msg(cycle_idle_kb[c] <= before_kb + ALLOWANCE, "cycle %d: idle RSS %ld KiB, %ld before", c,
                      cycle_idle_kb[c], before_kb);
    ck_assert_msg(cycle_idle_kb[CYCLES - 1] <= cycle_idle_kb[1] + 8 * MIB,
                  "idle RSS grew from %ld KiB (cycle 1) to %ld KiB (cycle %d)", cycle_idle_kb[1],
                  cycle_idle_kb[CYCLES - 1], CYCLES - 1);
}
END_TEST

/* ---- a deep stack ---- */

#define FRAME (64 * 1024)
#define DEPTH 80 /* about 5 MiB */

static long deep_peak_kb;

__attribute__((noinline)) static int deep(int depth)
{
    volatile char buf[FRAME];
    rt_keep(buf);
    for (size_t i = 0; i < sizeof buf; i += 4096)
        buf[i] = (char)depth;
    if (depth == 0) {
        deep_peak_kb = rss_kb();
        return buf[0];
    }
    return deep(depth - 1) + buf[4096];
}

static void runs_deep(void *arg)
{
    (void)arg;
    em_sleep(100);
    before_kb = rss_kb();
    ck_assert_int_eq(deep(DEPTH), DEPTH * (DEPTH + 1) / 2);
    /* Still alive and on its stack slot, with shallow frames now. */
    int64_t t0 = rt_now_ms();
    idle_kb = rss_wait_below(before_kb + 2 * MIB, SETTLE_MS / 2);
    idle_ms = rt_now_ms() - t0;
}

/* A process that ran 5 MiB deep and came back: the slot's pages below its
 * frames go back to the kernel while it waits, although it keeps the
 * slot. */
START_TEST(stack_pages_below_a_waiting_process_go_back)
{
    rt_start(1);
    em_spawn_opts o = {.stack_size = 7 * 1024 * 1024};
    ck_assert(em_spawn_opt(runs_deep, NULL, &o) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    printf("test_memory: deep stack: RSS before %ld KiB, at the bottom %ld KiB, %ld KiB %ld ms after\n",
           before_kb, deep_peak_kb, idle_kb, idle_ms);
    fflush(stdout);
    if (SANITIZED) {
        skip_note("stack_pages_below_a_waiting_process_go_back");
        return;
    }
    ck_assert_msg(deep_peak_kb >= before_kb + 4 * MIB, "the recursion touched only %ld KiB",
                  deep_peak_kb - before_kb);
    ck_assert_msg(idle_kb <= before_kb + 2 * MIB, "RSS %ld KiB %ld ms after, %ld KiB before", idle_kb, idle_ms,
                  before_kb);
}
END_TEST

static Suite *memory_suite(void)
{
    Suite *s = suite_create("memory");
    TCase *tc = tcase_create("memory");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, a_drained_burst_gives_its_memory_back);
    tcase_add_test(tc, repeated_bursts_do_not_grow_the_idle_memory);
    tcase_add_test(tc, stack_pages_below_a_waiting_process_go_back);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(memory_suite)
