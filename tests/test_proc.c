/* test_proc.c: processes (runtime/proc.c, stack.c): spawn, exit, pids and
 * generations, exit hooks, stack copying and overflow, a million processes,
 * shutdown releasing everything. */
#include <string.h>
#include <signal.h>
#include <stdlib.h>

#include "rttest.h"

static _Atomic int counter;

static void bump(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1);
}

START_TEST(run_returns_when_every_process_has_exited)
{
    rt_start(2);
    for (int i = 0; i < 100; i++)
        ck_assert(em_spawn(bump, NULL) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&counter), 100);
    ck_assert_uint_eq(em_process_count(), 0);
}
END_TEST

static void waiter(void *arg)
{
    (void)arg;
    em_term m;
    em_receive_any(EM_INFINITY, &m);
}

START_TEST(stale_pid_never_reaches_a_new_process_in_the_same_slot)
{
    rt_start(1);
    em_term a = em_spawn(bump, NULL);
    while (em_process_count() != 0) /* a has exited and its slot is free */
        ;
    em_term b = em_spawn(waiter, NULL); /* reuses a's slot */
    uint32_t ida, idb, sa, sb;
    em_pid_parts(a, NULL, &ida, &sa, NULL);
    em_pid_parts(b, NULL, &idb, &sb, NULL);
    ck_assert_uint_eq(ida, idb);
    ck_assert_uint_ne(sa, sb);
    ck_assert(!em_is_alive(a));
    ck_assert_int_eq(em_send(a, em_atom("stale")), 0); /* dropped silently */
    em_proc_info info;
    ck_assert_em_ok(em_process_info(b, &info));
    ck_assert_uint_eq(info.message_queue_len, 0);
    em_send(b, em_atom("go"));
    ck_assert_int_eq(em_run(), 0);
}
END_TEST

static void hook(void *arg)
{
    atomic_fetch_add((_Atomic int *)arg, 10);
}

static void exits_with_reason(void *arg)
{
    em_on_exit(hook, arg);
    em_exit(em_tuple(2, em_atom("shutdown"), em_string("some reason")));
    atomic_store(&counter, -1); /* never reached */
}

START_TEST(em_exit_ends_the_process_and_runs_its_exit_hooks)
{
    static _Atomic int hooked;
    rt_start(1);
    em_spawn(exits_with_reason, (void *)&hooked);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&hooked), 10);
    ck_assert_int_eq(atomic_load(&counter), 0);
}
END_TEST

static void hooked_waiter(void *arg)
{
    em_on_exit(hook, arg);
    char *buf = malloc(100);
    em_on_exit(free, buf);
    em_term m;
    em_receive_any(EM_INFINITY, &m);
}

START_TEST(stop_kills_waiting_processes_and_runs_their_hooks)
{
    static _Atomic int hooked;
    rt_start(2);
    em_term pids[10];
    for (int i = 0; i < 10; i++)
        pids[i] = em_spawn(hooked_waiter, (void *)&hooked);
    for (int i = 0; i < 10; i++) { /* let each register its hooks */
        em_proc_info info;
        do
            ck_assert_em_ok(em_process_info(pids[i], &info));
        while (info.status != EM_STATUS_WAITING);
    }
    em_stop(7);
    ck_assert_int_eq(em_run(), 7);
    ck_assert_int_eq(atomic_load(&hooked), 100);
    ck_assert_uint_eq(em_process_count(), 0);
}
END_TEST

/* ---- an exit hook given at spawn (em_spawn_opts.on_exit) ---- */

static _Atomic int spawn_hooked, spawn_ran;

static void count_hook(void *arg)
{
    atomic_fetch_add((_Atomic int *)arg, 1);
}

static void runs_once(void *arg)
{
    (void)arg;
    atomic_fetch_add(&spawn_ran, 1);
}

static void spawns_two_kills_one(void *arg)
{
    (void)arg;
    em_spawn_opts o = {.on_exit = count_hook};
    CHECK(em_spawn_opt(runs_once, (void *)&spawn_hooked, &o) != EM_NONE);
    em_term b = em_spawn_opt(runs_once, (void *)&spawn_hooked, &o);
    CHECK(b != EM_NONE);
    /* One scheduler, and this process has not yielded: b never ran. */
    CHECK(em_exit_pid(b, em_atom("kill")) == 0);
}

/* The hook given at spawn is called with the spawn's argument once,
 * however the process ends: after its function returns, and when it is
 * killed before it ever ran (em_on_exit, called by the process, could not
 * have been registered yet). */
START_TEST(an_exit_hook_given_at_spawn_runs_even_if_the_process_never_ran)
{
    rt_start(1);
    ck_assert(em_spawn(spawns_two_kills_one, NULL) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 3);
    ck_assert_int_eq(atomic_load(&spawn_ran), 1);
    ck_assert_int_eq(atomic_load(&spawn_hooked), 2);
}
END_TEST

/* Recursion that keeps a local array live across a yield at every level,
 * so the copied stack must restore it exactly. */
static long deep(int n, long acc)
{
    volatile char pad[512];
    memset((char *)pad, n & 0xff, sizeof pad);
    if (n == 0) {
        em_yield();
        return acc;
    }
    long r = deep(n - 1, acc + n);
    em_yield();
    for (size_t i = 0; i < sizeof pad; i++)
        if (pad[i] != (char)(n & 0xff))
            return -1;
    return r;
}

static _Atomic long results[4];

static void deep_proc(void *arg)
{
    long i = (long)arg;
    atomic_store(&results[i], deep(100 + (int)i * 10, 0));
}

START_TEST(stacks_survive_being_copied_out_and_back_between_processes)
{
    rt_start(1);
    for (long i = 0; i < 4; i++)
        em_spawn(deep_proc, (void *)i);
    ck_assert_int_eq(em_run(), 0);
    for (long i = 0; i < 4; i++) {
        long n = 100 + i * 10;
        ck_assert_int_eq(atomic_load(&results[i]), n * (n + 1) / 2);
    }
}
END_TEST

static volatile int depth_limit = 1 << 30; /* never reached in practice */

static int recurse_forever(int n)
{
    volatile char pad[1024];
    rt_keep(pad);
    pad[0] = (char)n;
    if (n % 8 == 0)
        em_yield();
    if (n >= depth_limit)
        return 0;
    return recurse_forever(n + 1) + pad[0];
}

static void overflower(void *arg)
{
    (void)arg;
    recurse_forever(1);
}

static int recurse_no_yield(int n)
{
    volatile char pad[1024];
    rt_keep(pad);
    pad[0] = (char)n;
    if (n >= depth_limit)
        return 0;
    return recurse_no_yield(n + 1) + pad[0];
}

static void silent_overflower(void *arg)
{
    (void)arg;
    recurse_no_yield(1);
}

START_TEST(stack_overflow_kills_only_the_offending_process)
{
    rt_start(1);
    em_spawn_opts o = {.stack_size = 32 * 1024};
    em_term bad = em_spawn_opt(overflower, NULL, &o);
    em_term good = em_spawn(waiter, NULL);
    ck_assert(bad != EM_NONE && good != EM_NONE);
    while (em_is_alive(bad))
        ;
    ck_assert(em_is_alive(good));
    em_send(good, em_atom("go"));
    ck_assert_int_eq(em_run(), 0);
}
END_TEST

/* A pong server and a client that recurses, making a round trip with it
 * at every level: each time the client waits, the server is ready to run,
 * the case where a scheduler hands the core straight to it. */
static void pong_server(void *arg)
{
    (void)arg;
    for (;;) {
        em_term from;
        if (em_receive(EM_INFINITY, "{From, ping}", &from) < 0)
            return;
        em_send(from, em_atom("pong"));
    }
}

static em_term pong_pid;

static int recurse_with_round_trips(int n)
{
    volatile char pad[512];
    rt_keep(pad);
    pad[0] = (char)n;
    em_send(pong_pid, em_tuple(2, em_self(), em_atom("ping")));
    if (em_receive(EM_INFINITY, "pong") < 0 || n >= depth_limit)
        return 0;
    return recurse_with_round_trips(n + 1) + pad[0];
}

static void waiting_overflower(void *arg)
{
    (void)arg;
    recurse_with_round_trips(1);
}

static _Atomic int overflow_seen, pong_survived;

static void overflow_watcher(void *arg)
{
    (void)arg;
    pong_pid = em_spawn(pong_server, NULL);
    em_spawn_opts o = {.stack_size = 32 * 1024};
    em_term bad = em_spawn_opt(waiting_overflower, NULL, &o);
    em_term ref = em_monitor(bad);
    em_term reason;
    if (em_receive(20000, "{'DOWN', _, process, _, Reason}", &reason) == 0 &&
        reason == em_atom("stack_overflow"))
        atomic_store(&overflow_seen, 1);
    atomic_store(&pong_survived, em_is_alive(pong_pid));
    em_exit_pid(pong_pid, em_atom("kill"));
    em_drop(ref);
}

START_TEST(stack_overflow_is_caught_when_the_process_waits_for_a_message)
{
    rt_start(1);
    em_spawn(overflow_watcher, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&overflow_seen), 1);
    ck_assert_int_eq(atomic_load(&pong_survived), 1);
}
END_TEST

START_TEST(stack_overflow_past_the_scheduler_stack_is_reported_not_silent)
{
    /* A process that recurses without ever yielding overflows the
     * scheduler's stack: the guard page catches it and ember aborts with
     * the pid (Check sees the SIGABRT). */
    rt_start(1);
    em_spawn_opts o = {.stack_size = 64 * 1024};
    em_spawn_opt(silent_overflower, NULL, &o);
    em_run();
}
END_TEST

static void no_yield_overflower(void *arg)
{
    (void)arg;
    volatile char big[EM_STACK_MAX];
    rt_keep(big);
    big[0] = 1;
    big[EM_STACK_MAX - 1] = big[0];
}

START_TEST(guard_page_catches_a_frame_larger_than_the_scheduler_stack)
{
    rt_start(1);
    em_spawn(no_yield_overflower, NULL);
    em_run();
}
END_TEST

static void idle_waiter(void *arg)
{
    (void)arg;
    em_term m;
    em_receive_any(EM_INFINITY, &m);
}

START_TEST(a_million_processes_fit_and_are_released)
{
    const int n = EM_TEST_UNDER_TSAN ? 4000 : 1000000;
    rt_start(0);
    for (int i = 0; i < n; i++)
        ck_assert(em_spawn(idle_waiter, NULL) != EM_NONE);
    ck_assert_uint_eq(em_process_count(), (size_t)n);
    em_term l = em_processes();
    ck_assert_int_eq(em_list_length(l), n);
    em_drop(l);
    em_stop(0);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_uint_eq(em_process_count(), 0);
}
END_TEST

START_TEST(introspection_reports_status_queue_and_stack)
{
    rt_start(1);
    em_term w = em_spawn(waiter, NULL);
    em_proc_info info;
    do {
        ck_assert_em_ok(em_process_info(w, &info));
    } while (info.status != EM_STATUS_WAITING);
    ck_assert_uint_gt(info.stack_used, 0);
    ck_assert_uint_lt(info.stack_used, 4096);
    ck_assert_uint_eq(info.stack_size, EM_STACK_DEFAULT);
    em_term l = em_processes();
    ck_assert_int_eq(em_list_length(l), 1);
    ck_assert(em_equal(em_hd(l), w));
    em_drop(l);
    em_send(w, em_atom("go"));
    ck_assert_int_eq(em_run(), 0);
    ck_assert_em_err(em_process_info(w, &info), EM_ENOPROC);
}
END_TEST

static Suite *proc_suite(void)
{
    Suite *s = suite_create("proc");
    TCase *tc = tcase_create("proc");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, run_returns_when_every_process_has_exited);
    tcase_add_test(tc, stale_pid_never_reaches_a_new_process_in_the_same_slot);
    tcase_add_test(tc, em_exit_ends_the_process_and_runs_its_exit_hooks);
    tcase_add_test(tc, an_exit_hook_given_at_spawn_runs_even_if_the_process_never_ran);
    tcase_add_test(tc, stop_kills_waiting_processes_and_runs_their_hooks);
    tcase_add_test(tc, stacks_survive_being_copied_out_and_back_between_processes);
    tcase_add_test(tc, stack_overflow_kills_only_the_offending_process);
    tcase_add_test(tc, stack_overflow_is_caught_when_the_process_waits_for_a_message);
    tcase_add_test_raise_signal(tc, stack_overflow_past_the_scheduler_stack_is_reported_not_silent, SIGABRT);
    tcase_add_test_raise_signal(tc, guard_page_catches_a_frame_larger_than_the_scheduler_stack, SIGABRT);
    tcase_add_test(tc, introspection_reports_status_queue_and_stack);
    suite_add_tcase(s, tc);
    TCase *big = tcase_create("million");
    tcase_set_timeout(big, 120);
    tcase_add_test(big, a_million_processes_fit_and_are_released);
    suite_add_tcase(s, big);
    return s;
}

EM_TEST_MAIN(proc_suite)
