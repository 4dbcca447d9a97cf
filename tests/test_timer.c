/* test_timer.c: timers (runtime/timer.c): send_after, cancel, sleep, FIFO
 * order of equal deadlines, sleep(infinity), 10,000 concurrent `after`
 * timeouts. */
#include "rttest.h"

static void after_user(void *arg)
{
    (void)arg;
    em_term self = em_self();
    int64_t t0 = rt_now_ms();
    em_term r = em_send_after(50, self, em_atom("tick"));
    CHECK(r != EM_NONE);
    em_term m;
    CHECK(em_receive_any(1000, &m) == 0 && m == em_atom("tick"));
    CHECK(rt_now_ms() - t0 >= 50);
    CHECK(em_cancel_timer(r) == EM_ENOTFOUND); /* already fired */
    em_drop(r);
    em_term r2 = em_send_after(10000, self, em_atom("late"));
    int64_t left = em_cancel_timer(r2);
    CHECK(left > 9000 && left <= 10000);
    CHECK(em_receive_any(100, &m) == EM_ETIMEDOUT); /* cancelled: never comes */
    em_drop(r2);
}

START_TEST(send_after_delivers_once_and_cancel_prevents_delivery)
{
    rt_start(2);
    em_spawn(after_user, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 6);
}
END_TEST

static void same_deadline(void *arg)
{
    (void)arg;
    em_term self = em_self();
    em_term refs[50];
    for (int i = 0; i < 50; i++)
        refs[i] = em_send_after(0, self, em_int(i));
    bool in_order = true;
    for (int i = 0; i < 50; i++) {
        em_term m;
        if (em_receive_any(1000, &m) != 0 || !em_equal(m, em_int(i)))
            in_order = false;
        em_drop(refs[i]);
    }
    CHECK(in_order);
}

START_TEST(equal_deadlines_fire_in_the_order_they_were_set)
{
    rt_start(1);
    em_spawn(same_deadline, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 1);
}
END_TEST

static void sleeper(void *arg)
{
    (void)arg;
    em_send(em_self(), em_atom("ignored"));
    int64_t t0 = rt_now_ms();
    CHECK(em_sleep(30) == 0);
    CHECK(rt_now_ms() - t0 >= 30); /* a message does not cut a sleep short */
}

START_TEST(sleep_is_not_woken_by_messages)
{
    rt_start(1);
    em_spawn(sleeper, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 2);
}
END_TEST

static _Atomic int sleep_returned;

static void sleeps_forever(void *arg)
{
    (void)arg;
    em_sleep(EM_INFINITY);
    atomic_store(&sleep_returned, 1); /* must not happen: killed while asleep */
}

static void wakes_the_sleeper_only_by_killing_it(void *arg)
{
    (void)arg;
    CHECK(em_sleep(-5) == EM_EINVAL); /* negative and not EM_INFINITY */
    em_term a = em_spawn(sleeps_forever, NULL);
    em_term mon = em_monitor(a);
    em_send(a, em_atom("ignored"));
    em_term ref, who, reason;
    /* Still asleep 100 ms later, a message notwithstanding. */
    CHECK(em_receive(100, "{'DOWN', Ref, process, Who, Reason}", &ref, &who, &reason) == EM_ETIMEDOUT);
    CHECK(em_exit_pid(a, em_atom("kill")) == 0);
    CHECK(em_receive(2000, "{'DOWN', Ref, process, Who, Reason}", &ref, &who, &reason) == 0 &&
          em_equal(ref, mon) && reason == em_atom("killed"));
    em_drop(mon);
}

START_TEST(sleep_infinity_lasts_until_the_process_is_killed)
{
    rt_start(2);
    em_spawn(wakes_the_sleeper_only_by_killing_it, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 4);
    ck_assert_int_eq(atomic_load(&sleep_returned), 0);
}
END_TEST

static void timeout_waiter(void *arg)
{
    (void)arg;
    CHECK(em_receive(50, "never") == EM_ETIMEDOUT);
}

START_TEST(ten_thousand_processes_time_out_each_exactly_once)
{
    rt_start(2);
    for (int i = 0; i < 10000; i++)
        em_spawn(timeout_waiter, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 10000);
}
END_TEST

static Suite *timer_suite(void)
{
    Suite *s = suite_create("timer");
    TCase *tc = tcase_create("timer");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, send_after_delivers_once_and_cancel_prevents_delivery);
    tcase_add_test(tc, equal_deadlines_fire_in_the_order_they_were_set);
    tcase_add_test(tc, sleep_is_not_woken_by_messages);
    tcase_add_test(tc, sleep_infinity_lasts_until_the_process_is_killed);
    tcase_add_test(tc, ten_thousand_processes_time_out_each_exactly_once);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(timer_suite)
