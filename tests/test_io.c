/* test_io.c: waiting on file descriptors and blocking calls (runtime/io.c)
 * without stalling a scheduler. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "rttest.h"

static _Atomic int ticks;
static int pfd[2];

static void reader(void *arg)
{
    (void)arg;
    CHECK(em_wait_fd(pfd[0], EM_READABLE, 30) == EM_ETIMEDOUT);
    int r = em_wait_fd(pfd[0], EM_READABLE, 2000);
    CHECK(r == EM_READABLE);
    char c;
    CHECK(read(pfd[0], &c, 1) == 1 && c == 'x');
    CHECK(em_wait_fd(pfd[1], EM_WRITABLE, 0) == EM_WRITABLE);
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
    CHECK(r == 42);
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

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* ---- a parked scheduler sleeps in its epoll set ---- */

static _Atomic int got_fd, got_msg;

static void fd_waiter(void *arg)
{
    (void)arg;
    int r = em_wait_fd(pfd[0], EM_READABLE, EM_INFINITY);
    char c = 0;
    CHECK(r == EM_READABLE && read(pfd[0], &c, 1) == 1 && c == 'y');
    atomic_store(&got_fd, 1);
}

static void msg_waiter(void *arg)
{
    (void)arg;
    em_term m;
    CHECK(em_receive_any(EM_INFINITY, &m) == 0 && m == em_atom("hello"));
    atomic_store(&got_msg, 1);
}

START_TEST(a_scheduler_parked_on_fds_uses_no_cpu_and_wakes_for_messages_and_fds)
{
    /* One scheduler, one process waiting on a pipe, another on its mailbox:
     * the idle scheduler sleeps in epoll_wait.  A message from a foreign
     * thread must kick it out of there, and a byte on the pipe must wake the
     * fd waiter, each within the test's timeout (a lost kick hangs it). */
    ck_assert_int_eq(pipe(pfd), 0);
    rt_start(1);
    em_spawn(fd_waiter, NULL);
    em_term mw = em_spawn(msg_waiter, NULL);
    msleep(200);
    double c0 = cpu_seconds();
    msleep(1000);
    double used = cpu_seconds() - c0;
    ck_assert_msg(used < 0.05, "a runtime idle on an fd used %.3f s of CPU in 1 s", used);
    ck_assert_int_eq(em_send(mw, em_atom("hello")), 0);
    for (int i = 0; i < 500 && !atomic_load(&got_msg); i++)
        msleep(2);
    ck_assert_int_eq(atomic_load(&got_msg), 1);
    ck_assert_int_eq(atomic_load(&got_fd), 0);
    ck_assert_int_eq(write(pfd[1], "y", 1), 1);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&got_fd), 1);
    ck_assert_int_eq(atomic_load(&ok_count), 2);
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

/* ---- a busy scheduler still delivers fd events ---- */

static _Atomic int stop_spinning;

static void spinner(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_spinning))
        em_yield();
}

static void timed_reader(void *arg)
{
    (void)arg;
    int r = em_wait_fd(pfd[0], EM_READABLE, 5000);
    CHECK(r == EM_READABLE);
    atomic_store(&stop_spinning, 1);
}

static void *write_later(void *arg)
{
    (void)arg;
    msleep(50);
    ssize_t w = write(pfd[1], "z", 1);
    (void)w;
    return NULL;
}

START_TEST(an_fd_event_reaches_a_process_whose_scheduler_never_idles)
{
    /* Two processes that yield to each other forever keep the only
     * scheduler's run queue from running dry; the reader must still be woken
     * by its pipe (the scheduler polls every few dozen runs), long before
     * its 5 s timeout. */
    ck_assert_int_eq(pipe(pfd), 0);
    rt_start(1);
    em_spawn(spinner, NULL);
    em_spawn(spinner, NULL);
    em_spawn(timed_reader, NULL);
    int64_t t0 = rt_now_ms();
    ck_assert_int_eq(rt_run_beside(write_later), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 1);
    ck_assert_msg(rt_now_ms() - t0 < 2000, "the reader waited %lld ms",
                  (long long)(rt_now_ms() - t0));
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

/* ---- many waiters across schedulers ---- */

#define NPIPES 64
static int pipes[NPIPES][2];
static _Atomic int woken_right;

static void pipe_reader(void *arg)
{
    int i = (int)(intptr_t)arg;
    for (int round = 0; round < 20; round++) {
        int r = em_wait_fd(pipes[i][0], EM_READABLE, 10000);
        unsigned char c = 0;
        if (r != EM_READABLE || read(pipes[i][0], &c, 1) != 1 || c != (unsigned char)round)
            return;
    }
    atomic_fetch_add(&woken_right, 1);
}

static void *pipe_writer(void *arg)
{
    (void)arg;
    unsigned seed = 7;
    for (int round = 0; round < 20; round++) {
        /* every pipe once per round, in a shuffled order */
        int order[NPIPES];
        for (int i = 0; i < NPIPES; i++)
            order[i] = i;
        for (int i = NPIPES - 1; i > 0; i--) {
            int j = (int)(rand_r(&seed) % (unsigned)(i + 1));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int i = 0; i < NPIPES; i++) {
            unsigned char c = (unsigned char)round;
            ssize_t w = write(pipes[order[i]][1], &c, 1);
            (void)w;
            if (i % 8 == 0)
                msleep(1);
        }
    }
    return NULL;
}

START_TEST(many_processes_on_several_schedulers_each_get_their_own_fd_events)
{
    /* 64 readers spread over 2 schedulers each wait 20 times on their own
     * pipe; a foreign thread writes one numbered byte per pipe per round.
     * Every reader must see its 20 bytes in order: an event delivered to
     * the wrong process or lost makes it return early or time out. */
    for (int i = 0; i < NPIPES; i++)
        ck_assert_int_eq(pipe(pipes[i]), 0);
    rt_start(2);
    for (int i = 0; i < NPIPES; i++)
        em_spawn(pipe_reader, (void *)(intptr_t)i);
    ck_assert_int_eq(rt_run_beside(pipe_writer), 0);
    ck_assert_int_eq(atomic_load(&woken_right), NPIPES);
    for (int i = 0; i < NPIPES; i++) {
        close(pipes[i][0]);
        close(pipes[i][1]);
    }
}
END_TEST

/* ---- a timeout fires while the scheduler sleeps in epoll ---- */

static void lone_timeout(void *arg)
{
    (void)arg;
    int64_t t0 = rt_now_ms();
    int r = em_wait_fd(pfd[0], EM_READABLE, 80);
    int64_t dt = rt_now_ms() - t0;
    if (r != EM_ETIMEDOUT || dt < 80 || dt > 1500)
        fprintf(stderr, "em_wait_fd: %d after %lld ms\n", r, (long long)dt);
    CHECK(r == EM_ETIMEDOUT && dt >= 80 && dt <= 1500);
}

START_TEST(a_wait_times_out_on_time_when_nothing_else_runs)
{
    /* The only process waits on a silent pipe with a timeout: its
     * scheduler parks in epoll_wait and must come out for the deadline,
     * not before it. */
    ck_assert_int_eq(pipe(pfd), 0);
    rt_start(1);
    em_spawn(lone_timeout, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 1);
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

/* ---- killed while waiting ---- */

static void doomed(void *arg)
{
    (void)arg;
    em_wait_fd(pfd[0], EM_READABLE, EM_INFINITY);
    CHECK(false); /* never reached: killed while waiting */
}

static void killer(void *arg)
{
    em_term victim = *(em_term *)arg;
    em_term ref = em_monitor(victim);
    em_sleep(20);
    em_exit_pid(victim, em_atom("kill"));
    em_term reason;
    CHECK(em_receive(2000, "{'DOWN', _, process, _, R}", &reason) == 0 &&
          reason == em_atom("killed"));
    em_drop(ref);
    /* The dead waiter's fd must be out of the set: data on the pipe now
     * must disturb nothing, and this process can wait on it itself. */
    ssize_t w = write(pfd[1], "k", 1);
    (void)w;
    CHECK(em_wait_fd(pfd[0], EM_READABLE, 2000) == EM_READABLE);
}

START_TEST(a_process_killed_while_waiting_on_an_fd_leaves_no_registration)
{
    ck_assert_int_eq(pipe(pfd), 0);
    rt_start(1);
    static em_term victim;
    victim = em_spawn(doomed, NULL);
    em_spawn(killer, &victim);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 2);
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

/* ---- registrations left in the set after a wait ---- */

static void reuse_waiter(void *arg)
{
    (void)arg;
    int keep = -1; /* a dup of the previous round's read end */
    for (int round = 0; round < 50; round++) {
        int a[2];
        if (pipe(a) != 0)
            return;
        if (keep >= 0) {
            close(keep);
            keep = -1;
        }
        ssize_t w = write(a[1], "r", 1);
        (void)w;
        char c;
        int r = em_wait_fd(a[0], EM_READABLE, 2000);
        if (r != EM_READABLE || read(a[0], &c, 1) != 1)
            return;
        /* Nothing to read now: the wait must time out, not see an old event. */
        if (em_wait_fd(a[0], EM_READABLE, 5) != EM_ETIMEDOUT)
            return;
        w = write(a[1], "s", 1);
        if (em_wait_fd(a[0], EM_READABLE, 2000) != EM_READABLE || read(a[0], &c, 1) != 1)
            return;
        if (round % 2)
            keep = dup(a[0]); /* the file outlives its number into the next round */
        close(a[0]);
        close(a[1]);
    }
    if (keep >= 0)
        close(keep);
    CHECK(true);
}

START_TEST(an_fd_number_reused_after_close_is_waited_on_afresh)
{
    /* Each round opens a pipe on the numbers the last one had, waits for a
     * byte, times out on the empty pipe, waits for another byte, then
     * closes it; every other round a dup keeps the old file open into the
     * next round, so its disarmed registration is still in the set under
     * the number the next pipe gets. */
    rt_start(1);
    em_spawn(reuse_waiter, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 1);
}
END_TEST

/* ---- a timer set from another thread while the scheduler sleeps in epoll ---- */

static _Atomic int64_t timer_got_ms;
static em_term timer_target;

static void timer_receiver(void *arg)
{
    (void)arg;
    em_term m;
    if (em_receive_any(3000, &m) == 0 && m == em_atom("tick"))
        atomic_store(&timer_got_ms, rt_now_ms());
}

static void pipe_sleeper(void *arg)
{
    (void)arg;
    em_wait_fd(pfd[0], EM_READABLE, 4000); /* keeps the scheduler in epoll */
}

START_TEST(a_timer_set_from_a_foreign_thread_fires_while_the_scheduler_polls)
{
    /* The only scheduler parks in epoll_wait (a process waits on a silent
     * pipe) with no timer due; a foreign thread then sets a 30 ms timer on
     * it.  The scheduler must wake for the new deadline. */
    ck_assert_int_eq(pipe(pfd), 0);
    rt_start(1);
    timer_target = em_spawn(timer_receiver, NULL);
    em_spawn(pipe_sleeper, NULL);
    msleep(200);
    int64_t t0 = rt_now_ms();
    em_term tref = em_send_after(30, timer_target, em_atom("tick"));
    ck_assert(tref != EM_NONE);
    em_drop(tref);
    for (int i = 0; i < 500 && atomic_load(&timer_got_ms) == 0; i++)
        msleep(2);
    int64_t got = atomic_load(&timer_got_ms);
    ck_assert_msg(got != 0 && got - t0 >= 30 && got - t0 < 800,
                  "the 30 ms timer fired after %lld ms", (long long)(got ? got - t0 : -1));
    ck_assert_int_eq(write(pfd[1], "w", 1), 1);
    ck_assert_int_eq(em_run(), 0);
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

/* ---- a process that dies inside em_wait_fd ---- */

/* How far below overflowing_waiter's frame deep_wait called em_wait_fd. */
static char *wait_base;
static _Atomic long wait_depth;

static int deep_wait(int n)
{
    volatile char pad[1024];
    rt_keep(pad);
    pad[0] = (char)n;
    if (n > 0)
        return deep_wait(n - 1) + pad[0];
    /* Deep enough that the switch-out finds the stack overflowed: the
     * process is killed there, inside em_wait_fd. */
    atomic_store(&wait_depth, (long)(wait_base - (char *)__builtin_frame_address(0)));
    return em_wait_fd(pfd[0], EM_READABLE, EM_INFINITY) + pad[0];
}

static void overflowing_waiter(void *arg)
{
    (void)arg;
    wait_base = __builtin_frame_address(0);
    deep_wait(48);
}

static int slow_42(void *arg)
{
    usleep(150 * 1000);
    return *(int *)arg + 1;
}

static void blocking_after(void *arg)
{
    (void)arg;
    static int x = 41;
    int r = em_blocking(slow_42, &x);
    if (r != 42)
        fprintf(stderr, "em_blocking returned %d, not 42\n", r);
    CHECK(r == 42);
}

static void *write_pipe_later(void *arg)
{
    (void)arg;
    msleep(50);
    ssize_t w = write(pfd[1], "q", 1);
    (void)w;
    return NULL;
}

START_TEST(a_process_killed_inside_em_wait_fd_leaves_no_armed_registration)
{
    /* A process overflows its 32 KiB stack as it waits on a pipe and is
     * killed at its switch-out, inside em_wait_fd.  Its registration must
     * go with it: processes spawned after it (in its slot, likely) wait in
     * em_blocking while the pipe becomes readable, and each must get its
     * call's result, not the dead process's fd event. */
    ck_assert_int_eq(pipe(pfd), 0);
    rt_start(1);
    em_spawn_opts o = {.stack_size = 32 * 1024};
    em_term bad = em_spawn_opt(overflowing_waiter, NULL, &o);
    int64_t give_up = rt_now_ms() + 5000;
    while (em_is_alive(bad) && rt_now_ms() < give_up)
        msleep(1);
    /* A compiler that shrinks deep_wait's frames leaves it waiting, alive,
     * inside its limit: say so rather than wait for the pipe forever. */
    ck_assert_msg(!em_is_alive(bad) && atomic_load(&wait_depth) > 32 * 1024,
                  "the waiter is %s, em_wait_fd called %ld bytes deep (stack size 32768)",
                  em_is_alive(bad) ? "alive" : "dead", atomic_load(&wait_depth));
    for (int i = 0; i < 4; i++)
        em_spawn(blocking_after, NULL);
    ck_assert_int_eq(rt_run_beside(write_pipe_later), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 4);
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

/* em_blocking and em_wait_fd(..., 0) are signal points (runtime.h): a
 * process killed while its blocking call runs dies when the call returns,
 * and one killed while busy in C code dies at its next poll of an fd. */
static _Atomic int went_on, poller_started, kill_sent;
static _Atomic em_term poller;

static void killed_in_blocking(void *arg)
{
    (void)arg;
    static int x = 41;
    em_blocking(slow_42, &x); /* killed meanwhile: does not return */
    atomic_store(&went_on, 1);
}

static void kills_the_blocked(void *arg)
{
    (void)arg;
    em_term v = em_spawn(killed_in_blocking, NULL);
    em_term mon = em_monitor(v);
    em_sleep(50); /* v is inside its blocking call (150 ms) */
    CHECK(em_exit_pid(v, em_atom("kill")) == 0);
    em_term ref, who, reason;
    CHECK(em_receive(2000, "{'DOWN', Ref, process, Who, Reason}", &ref, &who, &reason) == 0 &&
          reason == em_atom("killed"));
    em_drop(mon);
}

static void killed_polling(void *arg)
{
    (void)arg;
    atomic_store(&poller, em_self());
    atomic_store(&poller_started, 1);
    while (!atomic_load(&kill_sent))
        msleep(1); /* busy in C code, no signal point */
    em_wait_fd(pfd[0], EM_READABLE, 0); /* the kill is pending: dies here */
    atomic_store(&went_on, 1);
}

static bool poller_ready(void)
{
    return atomic_load(&poller_started);
}

START_TEST(em_blocking_and_a_polling_em_wait_fd_are_signal_points)
{
    ck_assert_int_eq(pipe(pfd), 0);
    rt_start(1);
    em_spawn(kills_the_blocked, NULL);
    em_spawn(killed_polling, NULL);
    ck_assert_int_eq(rt_run_killing(poller_ready, &poller, &kill_sent), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 2);
    ck_assert_int_eq(atomic_load(&went_on), 0);
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

static Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("io");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_process_waits_for_a_readable_fd_without_blocking_its_scheduler);
    tcase_add_test(tc, a_blocking_call_runs_off_the_scheduler);
    tcase_add_test(tc, a_scheduler_parked_on_fds_uses_no_cpu_and_wakes_for_messages_and_fds);
    tcase_add_test(tc, an_fd_event_reaches_a_process_whose_scheduler_never_idles);
    tcase_add_test(tc, many_processes_on_several_schedulers_each_get_their_own_fd_events);
    tcase_add_test(tc, a_wait_times_out_on_time_when_nothing_else_runs);
    tcase_add_test(tc, a_process_killed_while_waiting_on_an_fd_leaves_no_registration);
    tcase_add_test(tc, an_fd_number_reused_after_close_is_waited_on_afresh);
    tcase_add_test(tc, a_timer_set_from_a_foreign_thread_fires_while_the_scheduler_polls);
    tcase_add_test(tc, a_process_killed_inside_em_wait_fd_leaves_no_armed_registration);
    tcase_add_test(tc, em_blocking_and_a_polling_em_wait_fd_are_signal_points);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(io_suite)
