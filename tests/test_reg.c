/* test_reg.c: the registry (runtime/reg.c). */
#include "rttest.h"

static void waiter(void *arg)
{
    (void)arg;
    em_term m;
    em_receive_any(EM_INFINITY, &m);
}

static void quick(void *arg)
{
    (void)arg;
}

START_TEST(a_name_is_held_by_one_process_and_released_at_exit)
{
    rt_start(1);
    em_term a = em_spawn(waiter, NULL), b = em_spawn(waiter, NULL);
    em_term name = em_atom("server");
    ck_assert_em_ok(em_register(name, a));
    ck_assert(em_whereis(name) == a);
    ck_assert_em_err(em_register(name, b), EM_EBADARG);        /* taken */
    ck_assert_em_err(em_register(em_atom("other"), a), EM_EBADARG); /* a has a name */
    ck_assert_em_err(em_register(em_atom("undefined"), b), EM_EBADARG);
    ck_assert_em_err(em_register(em_int(1), b), EM_EBADARG);
    em_term l = em_registered();
    ck_assert_int_eq(em_list_length(l), 1);
    ck_assert(em_hd(l) == name);
    em_drop(l);
    ck_assert_em_ok(em_send(name, em_atom("bye"))); /* send by name */
    while (em_is_alive(a))
        ;
    while (em_whereis(name) != EM_NONE)
        ;
    ck_assert_em_err(em_send(name, em_atom("x")), EM_EBADARG); /* unregistered name */
    ck_assert_em_ok(em_register(name, b));
    ck_assert_em_ok(em_unregister(name));
    ck_assert_em_err(em_unregister(name), EM_EBADARG);
    ck_assert(em_whereis(name) == EM_NONE);
    em_send(b, em_atom("bye"));
    ck_assert_int_eq(em_run(), 0);
}
END_TEST

START_TEST(registering_a_dead_pid_is_an_error)
{
    rt_start(1);
    em_term a = em_spawn(quick, NULL);
    while (em_is_alive(a))
        ;
    ck_assert_em_err(em_register(em_atom("ghost"), a), EM_EBADARG);
    ck_assert_int_eq(em_run(), 0);
}
END_TEST

static Suite *reg_suite(void)
{
    Suite *s = suite_create("reg");
    TCase *tc = tcase_create("reg");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_name_is_held_by_one_process_and_released_at_exit);
    tcase_add_test(tc, registering_a_dead_pid_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(reg_suite)
