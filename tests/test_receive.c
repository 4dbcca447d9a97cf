/* test_receive.c: selective receive (runtime/receive.c, mbox.c, send.c):
 * patterns, order, `after`, the call pattern and its marker. */
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rttest.h"

static void selective(void *arg)
{
    (void)arg;
    em_term self = em_self();
    em_send(self, em_atom("first"));
    em_send(self, em_tuple(2, em_atom("ok"), em_int(1)));
    em_send(self, em_atom("second"));
    em_send(self, em_tuple(2, em_atom("ok"), em_int(2)));
    em_term v;
    /* A pattern skips non-matching messages and leaves them in order. */
    CHECK(em_receive(0, "{ok, V}", &v) == 0 && em_equal(v, em_int(1)));
    CHECK(em_receive(0, "{ok, V}", &v) == 0 && em_equal(v, em_int(2)));
    CHECK(em_receive(0, "{ok, V}", &v) == EM_ETIMEDOUT);
    em_term m;
    CHECK(em_receive_any(0, &m) == 0 && m == em_atom("first"));
    CHECK(em_receive_any(0, &m) == 0 && m == em_atom("second"));
    CHECK(em_receive_any(0, &m) == EM_ETIMEDOUT);
}

START_TEST(unmatched_messages_stay_in_the_mailbox_in_order)
{
    rt_start(1);
    em_spawn(selective, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 6);
}
END_TEST

static void literals(void *arg)
{
    (void)arg;
    em_term self = em_self();
    em_send(self, em_float(1.0));
    em_send(self, em_atom("pong"));
    em_send(self, em_int(1));
    em_send(self, EM_NIL);
    em_send(self, em_tuple(1, em_atom("pong")));
    em_term m;
    /* A pattern that is one atom, integer or [] matches exactly that term:
     * 1 does not match 1.0 (=:=), and other messages keep their order. */
    CHECK(em_receive(0, "1") == 0);
    CHECK(em_receive(0, "[]") == 0);
    CHECK(em_receive(0, "pong") == 0);
    CHECK(em_receive(0, "pong") == EM_ETIMEDOUT);
    CHECK(em_receive_any(0, &m) == 0 && em_typeof(m) == EM_TYPE_FLOAT);
    CHECK(em_receive_any(0, &m) == 0 && em_tuple_size(m) == 1);
}

static void flat_patterns(void *arg)
{
    (void)arg;
    em_term self = em_self();
    em_pattern *pat = NULL;
    CHECK(em_pattern_compile("{tag, X, stop, _}", &pat, NULL) == 0);
    /* Messages that pass the quick filter (arity, first element) but not
     * the pattern: the constant after the first element differs, or the
     * arity does; they stay, in order. */
    em_send(self, em_tuple(4, em_atom("tag"), em_int(1), em_atom("go"), em_int(9)));
    em_send(self, em_tuple(3, em_atom("tag"), em_int(2), em_atom("stop")));
    em_send(self, em_tuple(4, em_atom("tag"), em_int(3), em_atom("stop"), em_int(9)));
    em_send(self, em_tuple(4, em_atom("tag"), em_int(4), em_atom("stop"), EM_NIL));
    em_term b[1];
    CHECK(em_receive_pattern(0, pat, b) == 0 && em_equal(b[0], em_int(3)));
    em_term x;
    CHECK(em_receive(0, "{tag, X, stop, _}", &x) == 0 && em_equal(x, em_int(4)));
    CHECK(em_receive_pattern(0, pat, b) == EM_ETIMEDOUT);
    CHECK(em_receive(0, "{tag, X, stop, _}", &x) == EM_ETIMEDOUT);
    em_term m;
    CHECK(em_receive_any(0, &m) == 0 && em_tuple_size(m) == 4);
    CHECK(em_receive_any(0, &m) == 0 && em_tuple_size(m) == 3);
    CHECK(em_receive_any(0, &m) == EM_ETIMEDOUT);
    em_pattern_free(pat);
}

START_TEST(a_flat_tuple_pattern_checks_every_constant_and_binds)
{
    rt_start(1);
    em_spawn(flat_patterns, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 8);
}
END_TEST

START_TEST(a_literal_pattern_matches_exactly_that_term)
{
    rt_start(1);
    em_spawn(literals, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 6);
}
END_TEST

/* Messages from one sender keep their order when the receiver starts
 * between them: the first ones wait in its inbox (it had not run yet), the
 * later ones are sent while it runs on the same scheduler, when a message
 * could go straight into its private queue (send.c). */
static void late_starter(void *arg)
{
    (void)arg;
    em_sleep(30); /* started, but its inbox not looked at yet */
    bool in_order = true;
    for (long i = 1; i <= 10; i++) {
        em_term m;
        int64_t v;
        if (em_receive_any(1000, &m) != 0 || em_int_get(m, &v) < 0 || v != i)
            in_order = false;
    }
    CHECK(in_order);
}

static void early_sender(void *arg)
{
    (void)arg;
    em_term r = em_spawn(late_starter, NULL);
    for (long i = 1; i <= 5; i++)
        em_send(r, em_int(i));
    em_sleep(10); /* r starts meanwhile */
    for (long i = 6; i <= 10; i++)
        em_send(r, em_int(i));
}

START_TEST(order_is_kept_when_the_receiver_starts_between_two_sends)
{
    rt_start(1);
    em_spawn(early_sender, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 1);
}
END_TEST

static void repeated_vars(void *arg)
{
    (void)arg;
    em_term self = em_self();
    em_send(self, em_tuple(2, em_int(1), em_int(2)));
    em_send(self, em_tuple(2, em_int(3), em_int(3)));
    em_term x;
    CHECK(em_receive(0, "{X, X}", &x) == 0 && em_equal(x, em_int(3)));
    em_term a, b;
    CHECK(em_receive(0, "{A, B}", &a, &b) == 0 && em_equal(a, em_int(1)) && em_equal(b, em_int(2)));
    CHECK(em_receive(0, "{bad", &a) == EM_ESYNTAX);
}

START_TEST(repeated_variables_must_bind_equal_terms)
{
    rt_start(1);
    em_spawn(repeated_vars, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 3);
}
END_TEST

static void after_timeout(void *arg)
{
    (void)arg;
    int64_t t0 = rt_now_ms();
    em_term m;
    int rc = em_receive(100, "never", NULL);
    int64_t dt = rt_now_ms() - t0;
    CHECK(rc == EM_ETIMEDOUT && dt >= 100 && dt < 1000);
    /* A message that does not match does not end the wait early. */
    em_send(em_self(), em_atom("noise"));
    t0 = rt_now_ms();
    rc = em_receive(50, "never");
    CHECK(rc == EM_ETIMEDOUT && rt_now_ms() - t0 >= 50);
    CHECK(em_receive_any(0, &m) == 0 && m == em_atom("noise"));
}

START_TEST(after_n_times_out_once_after_n_ms)
{
    rt_start(2);
    em_spawn(after_timeout, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 3);
}
END_TEST

static void infinite_receiver(void *arg)
{
    (void)arg;
    em_term v;
    CHECK(em_receive(EM_INFINITY, "{hello, V}", &v) == 0 && em_equal(v, em_int(42)));
}

static void late_sender(void *arg)
{
    em_sleep(50);
    em_send(*(em_term *)arg, em_atom("noise"));
    em_send(*(em_term *)arg, em_tuple(2, em_atom("hello"), em_int(42)));
}

START_TEST(infinity_waits_until_a_matching_message_arrives)
{
    static em_term r;
    rt_start(2);
    r = em_spawn(infinite_receiver, NULL);
    em_spawn(late_sender, &r);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 1);
}
END_TEST

static void server(void *arg)
{
    (void)arg;
    for (;;) {
        em_term from, ref, req;
        em_receive(EM_INFINITY, "{call, From, Ref, Req}", &from, &ref, &req);
        if (req == em_atom("stop"))
            return;
        em_send(from, em_tuple(2, em_dup(ref), em_tuple(2, em_atom("reply"), em_dup(req))));
    }
}

static void caller(void *arg)
{
    em_term srv = *(em_term *)arg;
    em_term self = em_self();
    for (int i = 0; i < 1000; i++)
        em_send(self, em_tuple(2, em_atom("unrelated"), em_int(i)));
    for (int i = 0; i < 100; i++) {
        em_term ref = em_make_ref();
        em_send(srv, em_tuple(4, em_atom("call"), self, em_dup(ref), em_int(i)));
        em_term reply;
        int rc = em_receive_ref(1000, ref, "{Ref, {reply, R}}", &reply);
        CHECK(rc == 0 && em_equal(reply, em_int(i)));
        em_drop(ref);
    }
    em_term m;
    int n = 0;
    while (em_receive(0, "{unrelated, _}") == 0)
        n++;
    CHECK(n == 1000 && em_receive_any(0, &m) == EM_ETIMEDOUT);
    em_send(srv, em_tuple(4, em_atom("call"), self, em_atom("x"), em_atom("stop")));
}

START_TEST(reference_call_finds_its_reply_behind_a_deep_queue)
{
    static em_term srv;
    rt_start(2);
    srv = em_spawn(server, NULL);
    em_spawn(caller, &srv);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 101);
}
END_TEST

static bool is_even_int(em_term m, void *arg)
{
    (void)arg;
    int64_t v;
    return em_int_get(m, &v) == 0 && v % 2 == 0;
}

static void predicate(void *arg)
{
    (void)arg;
    for (int i = 1; i <= 4; i++)
        em_send(em_self(), em_int(i));
    em_term m;
    CHECK(em_receive_match(0, is_even_int, NULL, &m) == 0 && em_equal(m, em_int(2)));
    CHECK(em_receive_match(0, is_even_int, NULL, &m) == 0 && em_equal(m, em_int(4)));
    CHECK(em_receive_match(0, is_even_int, NULL, &m) == EM_ETIMEDOUT);
}

START_TEST(receive_with_a_c_predicate)
{
    rt_start(1);
    em_spawn(predicate, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 3);
}
END_TEST

/* Pattern texts are cached by address: a text rewritten in place (longer,
 * shorter, same length) is a new pattern, and a text that ends at the very
 * end of a page followed by an unmapped page is read without a fault. */
static char *page_end_text; /* "{p, X}" ending at a page boundary */

static void texts(void *arg)
{
    (void)arg;
    em_term self = em_self();
    char buf[64];
    static const char *const pats[] = {"{a, X}", "{ab, X}", "{b, X}", "{abcdefghij, X}", "{abcdefgh, X}"};
    static const char *const tags[] = {"a", "ab", "b", "abcdefghij", "abcdefgh"};
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 5; i++)
            em_send(self, em_tuple(2, em_atom(tags[i]), em_int(i)));
        for (int i = 0; i < 5; i++)
            em_send(self, em_tuple(2, em_atom(tags[i]), em_int(-1)));
        for (int i = 0; i < 5; i++) {
            snprintf(buf, sizeof buf, "%s", pats[i]);
            em_term x;
            CHECK(em_receive(0, buf, &x) == 0 && em_equal(x, em_int(i)));
        }
        em_term m;
        for (int i = 0; i < 5; i++)
            CHECK(em_receive_any(0, &m) == 0 && em_equal(em_tuple_get(m, 1), em_int(-1)));
    }
    em_send(self, em_tuple(2, em_atom("p"), em_int(7)));
    em_term x;
    CHECK(em_receive(0, page_end_text, &x) == 0 && em_equal(x, em_int(7)));
    em_send(self, em_tuple(2, em_atom("p"), em_int(8)));
    CHECK(em_receive(0, page_end_text, &x) == 0 && em_equal(x, em_int(8)));
}

START_TEST(pattern_texts_are_compared_not_just_their_addresses)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *two = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(two, MAP_FAILED);
    ck_assert_int_eq(mprotect(two + pg, (size_t)pg, PROT_NONE), 0);
    page_end_text = two + pg - 7;
    memcpy(page_end_text, "{p, X}", 7);
    rt_start(1);
    em_spawn(texts, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 22);
    munmap(two, 2 * (size_t)pg);
}
END_TEST

START_TEST(receive_outside_a_process_is_an_error)
{
    em_term m;
    ck_assert_em_err(em_receive_any(0, &m), EM_ESTATE);
    ck_assert_em_err(em_sleep(1), EM_ESTATE);
}
END_TEST

/* Many senders, each sending 0..N-1: per-sender order must hold. */
#define SENDERS 8
#define PER 20000
static em_term sink;

static void ordered_sender(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < PER; i++)
        em_send(sink, em_tuple(2, em_int(id), em_int(i)));
}

static void ordered_sink(void *arg)
{
    (void)arg;
    int next[SENDERS] = {0};
    bool good = true;
    for (int n = 0; n < SENDERS * PER; n++) {
        em_term id, i;
        em_receive(EM_INFINITY, "{Id, I}", &id, &i);
        int64_t a, b;
        em_int_get(id, &a);
        em_int_get(i, &b);
        if (b != next[a])
            good = false;
        next[a]++;
    }
    CHECK(good);
}

static void *foreign_sender(void *arg)
{
    ordered_sender(arg);
    return NULL;
}

START_TEST(order_is_kept_per_sender_with_many_concurrent_senders)
{
    rt_start(2);
    sink = em_spawn(ordered_sink, NULL);
    for (long i = 0; i < SENDERS / 2; i++)
        em_spawn(ordered_sender, (void *)i);
    pthread_t th[SENDERS / 2];
    for (long i = 0; i < SENDERS / 2; i++) /* foreign threads post too */
        pthread_create(&th[i], NULL, foreign_sender, (void *)(i + SENDERS / 2));
    for (int i = 0; i < SENDERS / 2; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 1);
}
END_TEST

/* A process woken by a message of its own thread's sender (which goes
 * straight to its private queue) scans that queue before it looks at its
 * inbox (receive.c): when that message does not match, what another
 * thread pushed into the inbox meanwhile must still be found, without any
 * further message.  One scheduler: the waiter waits first; the second
 * process has a foreign thread push {b, 1} (inbox, a wake request), then
 * sends `nomatch` itself (private queue, the wake). */
static em_term inbox_waiter_pid;

static void inbox_waiter(void *arg)
{
    (void)arg;
    em_pattern *pat = NULL;
    CHECK(em_pattern_compile("{b, X}", &pat, NULL) == 0);
    em_term b[1];
    CHECK(em_receive_pattern(EM_INFINITY, pat, b) == 0 && em_equal(b[0], em_int(1)));
    em_term m;
    CHECK(em_receive_any(0, &m) == 0 && m == em_atom("nomatch"));
    /* Without a wait (the message is there): the receive returns with a
     * `ret` on x86-64, with a jump after a wait (receive_x86_64.S); the
     * return code and the bindings are the same either way. */
    em_send(em_self(), em_tuple(2, em_atom("b"), em_int(2)));
    CHECK(em_receive_pattern(EM_INFINITY, pat, b) == 0 && em_equal(b[0], em_int(2)));
    CHECK(em_receive_pattern(EM_INFINITY, NULL, b) == EM_EINVAL);
    em_pattern_free(pat);
}

static void *push_b(void *arg)
{
    (void)arg;
    em_send(inbox_waiter_pid, em_tuple(2, em_atom("b"), em_int(1)));
    return NULL;
}

static void foreign_then_local(void *arg)
{
    (void)arg;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, push_b, NULL) == 0);
    pthread_join(th, NULL);
    CHECK(em_send(inbox_waiter_pid, em_atom("nomatch")) == 0);
}

START_TEST(the_inbox_is_found_after_a_local_wake_up_that_does_not_match)
{
    rt_start(1);
    inbox_waiter_pid = em_spawn(inbox_waiter, NULL);
    em_spawn(foreign_then_local, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 7);
}
END_TEST

/* Patterns with more than 8 variables (their slots live in a frame of
 * their own, not in the 8-slot array): every variable is bound, up to the
 * 32 allowed; 33 is EM_EINVAL; em_receive_ref with such a pattern and no
 * `Ref` variable is EM_EINVAL.  Run under ASan, the EM_EINVAL returns and
 * a process killed while it waits in such a receive must leak nothing. */
static const char nine[] = "{A, B, C, D, E, F, G, H, I}";
static const char many32[] =
    "{V0, V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15, "
    "V16, V17, V18, V19, V20, V21, V22, V23, V24, V25, V26, V27, V28, V29, V30, V31}";
static const char many33[] =
    "{V0, V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15, "
    "V16, V17, V18, V19, V20, V21, V22, V23, V24, V25, V26, V27, V28, V29, V30, V31, V32}";

static void many_vars(void *arg)
{
    (void)arg;
    em_term self = em_self();
    em_term v[33];
    em_send(self, em_tuple(9, em_int(0), em_int(1), em_int(2), em_int(3), em_int(4), em_int(5),
                           em_int(6), em_int(7), em_int(8)));
    int rc = em_receive(0, nine, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]);
    bool all = rc == 0;
    for (int i = 0; all && i < 9; i++)
        all = em_equal(v[i], em_int(i));
    CHECK(all);

    em_term els[32];
    for (int i = 0; i < 32; i++)
        els[i] = em_int(100 + i);
    em_send(self, em_tuplev(32, els));
    rc = em_receive(0, many32, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
                    &v[9], &v[10], &v[11], &v[12], &v[13], &v[14], &v[15], &v[16], &v[17], &v[18],
                    &v[19], &v[20], &v[21], &v[22], &v[23], &v[24], &v[25], &v[26], &v[27], &v[28],
                    &v[29], &v[30], &v[31]);
    all = rc == 0;
    for (int i = 0; all && i < 32; i++)
        all = em_equal(v[i], em_int(100 + i));
    CHECK(all);

    CHECK(em_receive(0, many33, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
                     &v[9], &v[10], &v[11], &v[12], &v[13], &v[14], &v[15], &v[16], &v[17], &v[18],
                     &v[19], &v[20], &v[21], &v[22], &v[23], &v[24], &v[25], &v[26], &v[27],
                     &v[28], &v[29], &v[30], &v[31], &v[32]) == EM_EINVAL);
    em_term ref = em_make_ref();
    int einval = 0;
    for (int i = 0; i < 100; i++)
        einval += em_receive_ref(0, ref, nine, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                                 &v[7], &v[8]) == EM_EINVAL;
    em_drop(ref);
    CHECK(einval == 100);
}

START_TEST(patterns_with_more_than_8_variables_bind_all_and_fail_cleanly)
{
    rt_start(1);
    em_spawn(many_vars, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 4);
}
END_TEST

static void nine_var_waiter(void *arg)
{
    (void)arg;
    em_term v[9];
    atomic_fetch_add(&ok_count, 1); /* it got as far as the receive */
    em_receive(EM_INFINITY, nine, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]);
    atomic_fetch_add(&ok_count, 100); /* never: it is killed while waiting */
}

/* Waits for mref's DOWN, reason killed (one CHECK), and drops mref. */
static void await_killed(em_term mref)
{
    em_term reason;
    CHECK(em_receive_ref(5000, mref, "{'DOWN', Ref, process, _, Reason}", &reason) == 0 &&
          reason == em_atom("killed"));
    em_drop(mref);
}

static void killer(void *arg)
{
    (void)arg;
    em_term w = em_spawn(nine_var_waiter, NULL);
    em_term mref = em_monitor(w);
    /* One scheduler, no preemption: the waiter, queued first, runs to its
     * receive before this sleep can end. */
    em_sleep(50);
    em_exit_pid(w, em_atom("kill"));
    await_killed(mref);
}

START_TEST(a_process_killed_in_a_receive_with_more_than_8_variables_leaks_nothing)
{
    rt_start(1);
    em_spawn(killer, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 2);
}
END_TEST

/* em_make_ref takes in the inbox (its mark): a kill waiting there ends
 * the process inside the call, and the reference must not be made yet. */
static _Atomic int mr_ready, mr_go, mr_survived;
static _Atomic em_term mr_victim;

static void make_ref_victim(void *arg)
{
    (void)arg;
    atomic_store(&mr_victim, em_self());
    atomic_store(&mr_ready, 1);
    while (!atomic_load(&mr_go))
        ; /* no signal point: the kill stays in the inbox */
    em_term r = em_make_ref();
    atomic_store(&mr_survived, 1);
    em_drop(r);
}

static void make_ref_killer(void *arg)
{
    (void)arg;
    while (!atomic_load(&mr_ready))
        ;
    em_term v = atomic_load(&mr_victim);
    em_term mref = em_monitor(v);
    CHECK(em_exit_pid(v, em_atom("kill")) == 0);
    atomic_store(&mr_go, 1);
    await_killed(mref);
}

START_TEST(a_process_killed_as_it_makes_a_reference_leaks_nothing)
{
    /* Two schedulers, one process each (spawned from outside a process,
     * they go to the schedulers in turn): the victim spins while the
     * killer's signal arrives.  Under ASan a leaked reference fails the
     * test at exit. */
    rt_start(2);
    em_spawn(make_ref_victim, NULL);
    em_spawn(make_ref_killer, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 2);
    ck_assert_int_eq(atomic_load(&mr_survived), 0);
}
END_TEST

static Suite *receive_suite(void)
{
    Suite *s = suite_create("receive");
    TCase *tc = tcase_create("receive");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, unmatched_messages_stay_in_the_mailbox_in_order);
    tcase_add_test(tc, repeated_variables_must_bind_equal_terms);
    tcase_add_test(tc, after_n_times_out_once_after_n_ms);
    tcase_add_test(tc, infinity_waits_until_a_matching_message_arrives);
    tcase_add_test(tc, reference_call_finds_its_reply_behind_a_deep_queue);
    tcase_add_test(tc, receive_with_a_c_predicate);
    tcase_add_test(tc, receive_outside_a_process_is_an_error);
    tcase_add_test(tc, a_literal_pattern_matches_exactly_that_term);
    tcase_add_test(tc, a_flat_tuple_pattern_checks_every_constant_and_binds);
    tcase_add_test(tc, pattern_texts_are_compared_not_just_their_addresses);
    tcase_add_test(tc, order_is_kept_when_the_receiver_starts_between_two_sends);
    tcase_add_test(tc, order_is_kept_per_sender_with_many_concurrent_senders);
    tcase_add_test(tc, the_inbox_is_found_after_a_local_wake_up_that_does_not_match);
    tcase_add_test(tc, patterns_with_more_than_8_variables_bind_all_and_fail_cleanly);
    tcase_add_test(tc, a_process_killed_in_a_receive_with_more_than_8_variables_leaks_nothing);
    tcase_add_test(tc, a_process_killed_as_it_makes_a_reference_leaks_nothing);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(receive_suite)
