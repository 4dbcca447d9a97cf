/* test_call.c: em_call and em_reply (runtime/call.c, call.h): the
 * outcomes of a call, the tags and where replies go, deferred and late
 * replies, what stays in the caller's mailbox, calls from a thread that is
 * not a process, and calls across the wire to a peer of the test's own
 * (peertest.h) that answers as an Erlang gen_server does. */
#include <pthread.h>

#include "peertest.h"
#include "rttest.h"

#define A(s) em_atom(s)

static bool nothing_within(int64_t ms)
{
    em_term m;
    return em_receive_any(ms, &m) == EM_ETIMEDOUT;
}

/* ---- servers ---- */

static _Atomic int tags_alias, tags_plain;

/* Answers {'$gen_call', From, Req}: Req {sleep, Ms, R} replies R after
 * Ms; {exit, R} exits with R; {defer, Pid} hands From to Pid, which
 * replies; {direct, R} replies {Tag, R} to the caller's pid itself (as
 * net_kernel does), not to the alias; {first, M, R} sends M to the caller
 * before replying R; anything else is echoed as {echo, Req}.  Counts the
 * tags it saw by form.  Stops on stop. */
static void server(void *arg)
{
    (void)arg;
    for (;;) {
        em_term m, from, req, a, b;
        if (em_receive_any(EM_INFINITY, &m) < 0 || m == A("stop"))
            return;
        if (em_match("{'$gen_call', From, Req}", m, &from, &req) != 1)
            continue;
        em_term tag = em_tuple_get(from, 1);
        if (em_typeof(tag) == EM_TYPE_LIST)
            atomic_fetch_add(&tags_alias, 1);
        else if (em_typeof(tag) == EM_TYPE_REF)
            atomic_fetch_add(&tags_plain, 1);
        int64_t ms;
        if (em_match("{sleep, Ms, R}", req, &a, &b) == 1 && em_int_get(a, &ms) == 0) {
            em_sleep(ms);
            em_reply(from, em_dup(b));
        } else if (em_match("{exit, R}", req, &a) == 1) {
            em_exit(em_dup(a));
        } else if (em_match("{defer, Pid}", req, &a) == 1) {
            em_send(a, em_dup(from));
        } else if (em_match("{direct, R}", req, &a) == 1) {
            em_send(em_tuple_get(from, 0), em_tuple(2, em_dup(tag), em_dup(a)));
        } else if (em_match("{first, M, R}", req, &a, &b) == 1) {
            em_send(em_tuple_get(from, 0), em_dup(a));
            em_reply(from, em_dup(b));
        } else {
            em_reply(from, em_tuple(2, A("echo"), em_dup(req)));
        }
    }
}

/* Given a From, replies deferred to it. */
static void deferred_replier(void *arg)
{
    (void)arg;
    em_term from;
    if (em_receive_any(5000, &from) == 0)
        em_reply(from, A("deferred"));
}

/* Whether the call answered want (the term's text). */
static bool call_is(em_term srv, em_term req, int64_t timeout_ms, const char *want);

static bool is_reply(int rc, em_term r, const char *want)
{
    em_term w = em_parse(want);
    bool ok = rc == 0 && em_equal(r, w);
    if (!ok) {
        char *t = em_print_alloc(r, EM_PRINT_P);
        fprintf(stderr, "call: rc %s reply %s, want %s\n", em_err_name(rc), t ? t : "-", want);
        free(t);
    }
    em_drop(w);
    em_drop(r);
    return ok;
}

static bool call_is(em_term srv, em_term req, int64_t timeout_ms, const char *want)
{
    em_term r;
    int rc = em_call(srv, req, timeout_ms, &r);
    return is_reply(rc, r, want);
}

/* ---- one node ---- */

static void caller(void *arg)
{
    (void)arg;
    em_term srv = em_spawn(server, NULL);
    em_register(A("srv"), srv);
    CHECK(call_is(srv, A("hi"), 1000, "{echo, hi}"));
    CHECK(call_is(A("srv"), A("by_name"), 1000, "{echo, by_name}"));
    em_term here = em_tuple(2, A("srv"), em_local_node(NULL));
    CHECK(call_is(here, A("here"), EM_INFINITY, "{echo, here}"));
    em_drop(here);
    /* the tags: [alias|Mref] with a timeout, the plain Mref without one */
    CHECK(atomic_load(&tags_alias) == 2 && atomic_load(&tags_plain) == 1);
    CHECK(call_is(srv, A("inf"), EM_INFINITY, "{echo, inf}"));
    CHECK(atomic_load(&tags_plain) == 2);
    /* a deferred reply, from another process */
    em_term d = em_spawn(deferred_replier, NULL);
    CHECK(call_is(srv, em_tuple(2, A("defer"), d), 2000, "deferred"));
    em_term d2 = em_spawn(deferred_replier, NULL);
    CHECK(call_is(srv, em_tuple(2, A("defer"), d2), EM_INFINITY, "deferred"));
    /* a reply to the pid rather than the alias counts too */
    CHECK(call_is(srv, em_parse("{direct, yes}"), 1000, "yes"));
    CHECK(em_call(srv, A("no_reply_slot"), 1000, NULL) == 0);
    em_send(srv, A("stop"));
    CHECK(nothing_within(50)); /* no stray reply or DOWN left behind */
}

/* A call gets the reply: to a pid, a name, {Name, node()}; with the tag
 * [alias|Mref] when there is a timeout, Mref when there is none; the
 * reply may come later from another process, or to the pid. */
START_TEST(a_call_gets_its_reply)
{
    rt_start(2);
    em_spawn(caller, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 11);
}
END_TEST

static void late_caller(void *arg)
{
    (void)arg;
    em_term srv = em_spawn(server, NULL);
    em_term r = A("untouched");
    int64_t t0 = rt_now_ms();
    CHECK(em_call(srv, em_parse("{sleep, 300, late}"), 100, &r) == EM_ETIMEDOUT && r == EM_NONE);
    int64_t dt = rt_now_ms() - t0;
    CHECK(dt >= 100 && dt < 290);
    /* The reply comes 200 ms later, through the alias, which is gone. */
    CHECK(nothing_within(500));
    /* the server is fine, and so is the next call */
    CHECK(call_is(srv, A("later"), 1000, "{echo, later}"));
    /* 0: only a reply already here would do */
    CHECK(em_call(srv, em_parse("{sleep, 50, late}"), 0, &r) == EM_ETIMEDOUT);
    CHECK(nothing_within(200));
    em_send(srv, A("stop"));
}

/* A reply after the caller's timeout never reaches its mailbox. */
START_TEST(a_late_reply_is_dropped)
{
    rt_start(2);
    em_spawn(late_caller, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 6);
}
END_TEST

static void dies_at_once(void *arg)
{
    (void)arg;
}

static void failing_caller(void *arg)
{
    (void)arg;
    em_term r = A("untouched");
    CHECK(em_call(A("nobody"), A("x"), 1000, &r) == EM_ENOPROC && r == EM_NONE);
    em_term ref;
    em_spawn_opts so = {.monitor = &ref};
    em_term dead = em_spawn_opt(dies_at_once, NULL, &so);
    em_receive_ref(2000, ref, "{'DOWN', Ref, _, _, _}");
    em_drop(ref);
    CHECK(em_call(dead, A("x"), 1000, &r) == EM_ENOPROC);
    CHECK(em_call(dead, A("x"), EM_INFINITY, &r) == EM_ENOPROC);
    em_term srv = em_spawn(server, NULL);
    CHECK(em_call(srv, em_parse("{exit, boom}"), 1000, &r) == EM_EEXIT && r == A("boom"));
    srv = em_spawn(server, NULL);
    CHECK(em_call(srv, em_parse("{exit, {shutdown, 1}}"), EM_INFINITY, &r) == EM_EEXIT);
    CHECK(is_reply(0, r, "{shutdown, 1}"));
    srv = em_spawn(server, NULL);
    CHECK(em_call(srv, em_parse("{exit, normal}"), 1000, &r) == EM_EEXIT && r == A("normal"));
    CHECK(em_call(em_self(), A("x"), 1000, &r) == EM_EINVAL);
    CHECK(em_call(em_int(7), A("x"), 1000, &r) == EM_EBADARG);
    CHECK(em_call(dead, EM_NONE, 1000, &r) == EM_EINVAL);
    CHECK(em_call(dead, A("x"), -5, &r) == EM_EINVAL);
    /* a remote server and no node running: as gen, nodedown */
    em_term rn = em_tuple(2, A("srv"), A("other@host"));
    CHECK(em_call(rn, A("x"), 1000, &r) == EM_ENOCONN);
    em_drop(rn);
    CHECK(nothing_within(50)); /* every DOWN was taken */
}

/* The outcomes besides a reply: noproc, the server's exit reason (normal
 * included), nodedown, and the argument errors. */
START_TEST(a_call_that_fails_says_why)
{
    rt_start(2);
    em_spawn(failing_caller, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 13);
}
END_TEST

static void keeps_mailbox(void *arg)
{
    (void)arg;
    em_term srv = em_spawn(server, NULL);
    em_send(em_self(), A("m1"));
    em_send(em_self(), A("m2"));
    CHECK(call_is(srv, em_parse("{first, m3, done}"), 1000, "done"));
    em_term m;
    CHECK(em_receive_any(0, &m) == 0 && m == A("m1"));
    CHECK(em_receive_any(0, &m) == 0 && m == A("m2"));
    CHECK(em_receive_any(0, &m) == 0 && m == A("m3"));
    CHECK(nothing_within(0));
    em_send(srv, A("stop"));
}

/* A call takes only its reply: what the mailbox held before and what else
 * arrives meanwhile stay, in order. */
START_TEST(a_call_leaves_other_messages_in_order)
{
    rt_start(2);
    em_spawn(keeps_mailbox, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 5);
}
END_TEST

#define NCALLERS 20
#define NCALLS 10

static em_term many_srv;
static _Atomic int many_ok;

static void many_caller(void *arg)
{
    int me = (int)(intptr_t)arg;
    int ok = 0;
    for (int i = 0; i < NCALLS; i++) {
        em_term req = em_tuple(2, em_int(me), em_int(i)), r;
        em_term want = em_tuple(2, A("echo"), em_dup(req));
        ok += em_call(many_srv, req, 5000, &r) == 0 && em_equal(r, want);
        em_drop(r);
        em_drop(want);
    }
    atomic_fetch_add(&many_ok, ok);
}

static void many_main(void *arg)
{
    (void)arg;
    many_srv = em_spawn(server, NULL);
    em_term refs[NCALLERS];
    for (int i = 0; i < NCALLERS; i++) {
        em_spawn_opts so = {.monitor = &refs[i]};
        em_spawn_opt(many_caller, (void *)(intptr_t)i, &so);
    }
    for (int i = 0; i < NCALLERS; i++) {
        em_receive_ref(20000, refs[i], "{'DOWN', Ref, _, _, _}");
        em_drop(refs[i]);
    }
    CHECK(atomic_load(&many_ok) == NCALLERS * NCALLS);
    em_send(many_srv, A("stop"));
}

/* 200 calls from 20 processes at once: each gets its own reply. */
START_TEST(concurrent_callers_each_get_their_own_reply)
{
    rt_start(2);
    em_spawn(many_main, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 1);
}
END_TEST

/* ---- em_reply's routes ---- */

static _Atomic em_term route_alias;

static void alias_owner(void *arg)
{
    (void)arg;
    route_alias = em_alias();
    em_term m;
    int n = 0;
    while (em_receive_any(500, &m) == 0)
        n += em_tuple_size(m) == 2 && em_tuple_get(m, 1) == A("routed");
    CHECK(n == 2);
    em_drop(route_alias);
}

static void routes(void *arg)
{
    em_term owner = (em_term)(uintptr_t)arg;
    em_term self = em_self();
    /* [alias|A] and [[alias|A]|_]: to the alias, whatever the pid says */
    em_term f1 = em_tuple(2, self, em_cons(A("alias"), em_dup(route_alias)));
    em_term f2 = em_tuple(2, self, em_cons(em_cons(A("alias"), em_dup(route_alias)), A("more")));
    CHECK(em_reply(f1, A("routed")) == 0);
    CHECK(em_reply(f2, A("routed")) == 0);
    /* a plain tag: to the pid, the tag as it was */
    em_term tag = em_parse("{any, [term]}");
    em_term f3 = em_tuple(2, self, em_dup(tag));
    CHECK(em_reply(f3, A("plain")) == 0);
    em_term got;
    CHECK(em_receive_any(1000, &got) == 0 && em_tuple_size(got) == 2 && em_equal(em_tuple_get(got, 0), tag) &&
          em_tuple_get(got, 1) == A("plain"));
    CHECK(em_reply(A("nope"), A("x")) == EM_EBADARG);
    em_term f4 = em_tuple(2, A("notapid"), A("tag"));
    CHECK(em_reply(f4, A("x")) == EM_EBADARG);
    (void)owner;
    em_drop(f1);
    em_drop(f2);
    em_drop(f3);
    em_drop(f4);
    em_drop(tag);
}

/* em_reply sends to the alias of an [alias|A] tag (not the pid), and to
 * the pid for any other tag, echoing the tag. */
START_TEST(a_reply_goes_where_the_tag_says)
{
    rt_start(2);
    em_term owner = em_spawn(alias_owner, NULL);
    while (route_alias == EM_NONE)
        usleep(100);
    em_spawn(routes, (void *)(uintptr_t)owner);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 7);
}
END_TEST

/* ---- from a thread that is not a process ---- */

static void *thread_caller(void *arg)
{
    em_term srv = (em_term)(uintptr_t)arg;
    em_term r;
    int rc = em_call(srv, A("from_thread"), 2000, &r);
    bool ok = is_reply(rc, r, "{echo, from_thread}");
    rc = em_call(srv, em_parse("{sleep, 300, late}"), 50, &r);
    ok = ok && rc == EM_ETIMEDOUT && r == EM_NONE;
    rc = em_call(A("nobody"), A("x"), 1000, &r);
    ok = ok && rc == EM_ENOPROC;
    return (void *)(intptr_t)ok;
}

/* em_call from a thread of the application blocks it until the outcome,
 * as in a process. */
START_TEST(a_thread_that_is_no_process_can_call)
{
    rt_start(2);
    em_term srv = em_spawn(server, NULL);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, thread_caller, (void *)(uintptr_t)srv), 0);
    void *ok;
    pthread_join(th, &ok);
    ck_assert(ok);
    /* and from this very thread */
    em_term r;
    int rc = em_call(srv, A("main"), 2000, &r);
    ck_assert(is_reply(rc, r, "{echo, main}"));
    em_send(srv, A("stop"));
    ck_assert_int_eq(em_run(), 0);
}
END_TEST

static void *stuck_caller(void *arg)
{
    em_term srv = (em_term)(uintptr_t)arg;
    em_term r;
    return (void *)(intptr_t)em_call(srv, em_parse("{sleep, 60000, never}"), EM_INFINITY, &r);
}

/* A thread blocked in em_call is let go with EM_ECANCELED when the
 * runtime shuts down. */
START_TEST(a_thread_call_ends_with_the_runtime)
{
    rt_start(2);
    em_term srv = em_spawn(server, NULL);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, stuck_caller, (void *)(uintptr_t)srv), 0);
    usleep(200000);
    em_stop(0);
    ck_assert_int_eq(em_run(), 0);
    void *rc;
    pthread_join(th, &rc);
    ck_assert_int_eq((int)(intptr_t)rc, EM_ECANCELED);
}
END_TEST

/* ---- across the wire, with a hand-made gen_server ---- */

static _Atomic int wire_stage;
static int wire_fd = -1;

/* The peer's process <peer.5>: for each request that comes, a monitor
 * then a '$gen_call' (SEND to its pid or REG_SEND to its name): answers
 * `hello` with {Tag, world} through ALIAS_SEND; `late` the same but after
 * 400 ms; `gone` with MONITOR_P_EXIT {21, ..., Ref, gone_away}; `cut`
 * closes the connection. */
static void *wire_peer(void *arg)
{
    (void)arg;
    em_term self = peer_pid("peer@localhost", 5);
    for (;;) {
        em_term ctl, msg, mref = EM_NONE;
        if (peer_recv(wire_fd, &ctl, &msg) < 0)
            break;
        int64_t op = -1;
        em_int_get(em_tuple_get(ctl, 0), &op);
        if (op == 19) { /* MONITOR_P {19, From, To, Ref}: the call follows */
            mref = em_dup(em_tuple_get(ctl, 3));
            em_drop(ctl);
            if (peer_recv(wire_fd, &ctl, &msg) < 0)
                break;
        }
        em_term from, req;
        if (em_match("{'$gen_call', From, Req}", msg, &from, &req) == 1) {
            em_term tag = em_tuple_get(from, 1);
            em_term alias = em_typeof(tag) == EM_TYPE_LIST ? em_tl(tag) : EM_NONE;
            if (req == A("cut")) {
                shutdown(wire_fd, SHUT_RDWR);
            } else if (req == A("gone")) {
                em_term c = em_tuple(5, em_int(21), em_dup(self), em_dup(em_tuple_get(from, 0)), em_dup(mref),
                                     A("gone_away"));
                peer_send(wire_fd, c, EM_NONE);
                em_drop(c);
            } else {
                if (req == A("late"))
                    usleep(400000);
                em_term c = em_tuple(3, em_int(33), em_dup(self), em_dup(alias));
                em_term rep = em_tuple(2, em_dup(tag), A("world"));
                peer_send(wire_fd, c, rep);
                em_drop(c);
                em_drop(rep);
            }
        }
        em_drop(mref);
        em_drop(ctl);
        em_drop(msg);
    }
    em_drop(self);
    atomic_store(&wire_stage, 2);
    return NULL;
}

static void wire_caller(void *arg)
{
    (void)arg;
    em_term pid = peer_pid("peer@localhost", 5);
    em_term name = em_tuple(2, A("srv"), A("peer@localhost"));
    em_term r;
    CHECK(call_is(pid, A("hello"), 5000, "world"));
    CHECK(call_is(name, A("hello"), EM_INFINITY, "world"));
    CHECK(em_call(name, A("late"), 100, &r) == EM_ETIMEDOUT);
    CHECK(nothing_within(700)); /* the ALIAS_SEND came and was dropped */
    CHECK(em_call(pid, A("gone"), 5000, &r) == EM_EEXIT && r == A("gone_away"));
    CHECK(em_call(name, A("cut"), 5000, &r) == EM_ENOCONN);
    CHECK(nothing_within(50));
    em_drop(pid);
    em_drop(name);
}

/* ---- a kill pending when a call starts ---- */

static _Atomic em_term kc_victim;
static _Atomic int kc_kill_sent, kc_went_on;

static void kc_quiet_server(void *arg)
{
    (void)arg;
    em_term m;
    em_receive_any(300, &m); /* never answers; ends on its own */
}

static void kc_caller(void *arg)
{
    em_term server = *(em_term *)arg;
    atomic_store(&kc_victim, em_self());
    while (!atomic_load(&kc_kill_sent))
        ; /* busy in C: no signal point until the call */
    em_call(server, em_list(2, em_binary("heap", 4), em_binary("more", 4)), 1000, NULL);
    atomic_store(&kc_went_on, 1);
}

static bool kc_ready(void)
{
    return atomic_load(&kc_victim) != 0;
}

/* A process with a kill pending dies at the call's first signal point
 * (its mark), before anything is sent; under ASan the test also shows the
 * request it gave em_call is not lost. */
START_TEST(a_caller_with_a_kill_pending_dies_in_the_call_and_loses_nothing)
{
    rt_start(2);
    static em_term server;
    server = em_spawn(kc_quiet_server, NULL);
    em_spawn(kc_caller, &server);
    ck_assert_int_eq(rt_run_killing(kc_ready, &kc_victim, &kc_kill_sent), 0);
    ck_assert_int_eq(atomic_load(&kc_went_on), 0);
}
END_TEST

/* A call to a remote pid or {Name, Node} is MONITOR_P + '$gen_call' with
 * the [alias|Mref] tag; the reply comes by ALIAS_SEND; a late one is
 * dropped; the monitor's DOWN is the server's exit, a lost connection
 * nodedown (EM_ENOCONN). */
START_TEST(a_remote_call_over_the_wire)
{
    peertest_node_start();
    wire_fd = peer_dial("peer@localhost", EM__DF_MINE);
    ck_assert_int_ge(wire_fd, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, wire_peer, NULL), 0);
    em_term c = em_spawn(wire_caller, NULL);
    ck_assert(c != EM_NONE);
    int64_t end = rt_now_ms() + 20000;
    while (em_is_alive(c) && rt_now_ms() < end)
        usleep(1000);
    pthread_join(th, NULL);
    close(wire_fd);
    ck_assert_em_ok(em_node_stop());
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 7);
    epmd_stop();
}
END_TEST

static Suite *call_suite(void)
{
    Suite *s = suite_create("call");
    TCase *tc = tcase_create("call");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_call_gets_its_reply);
    tcase_add_test(tc, a_late_reply_is_dropped);
    tcase_add_test(tc, a_call_that_fails_says_why);
    tcase_add_test(tc, a_call_leaves_other_messages_in_order);
    tcase_add_test(tc, concurrent_callers_each_get_their_own_reply);
    tcase_add_test(tc, a_reply_goes_where_the_tag_says);
    tcase_add_test(tc, a_thread_that_is_no_process_can_call);
    tcase_add_test(tc, a_thread_call_ends_with_the_runtime);
    tcase_add_test(tc, a_caller_with_a_kill_pending_dies_in_the_call_and_loses_nothing);
    tcase_add_test(tc, a_remote_call_over_the_wire);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(call_suite)
