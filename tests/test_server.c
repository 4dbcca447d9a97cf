/* test_server.c: em_server (runtime/server.c, server.h): starting (names,
 * init's outcomes, links, from a thread), the callbacks and their
 * results, deferred replies, stopping and terminate, the parent's exit,
 * the sys messages, em_cast. */
#include <pthread.h>
#include <string.h>

#include "rttest.h"

#define A(s) em_atom(s)

/* ---- a counter server ----
 * state: a counter and a kept From.  Calls: get -> N; {add, K} -> N + K;
 * wait -> no reply now, answered N by the next `release` cast; {stop, R}
 * -> stops with R replying stopping; {nested, Srv, T} -> em_call(Srv,
 * get) then replies {T, Answer} (T built before the nested call);
 * anything else -> {unknown, Req}.  Casts: {set, N}; release; {stop, R}.
 * Info: any message counts in `infos`.  init: arg "stop" stops with
 * init_failed, "ignore" ignores, "trap" traps exits. */

typedef struct counter {
    long n;
    em_term waiting; /* a From, or EM_NONE */
} counter;

static _Atomic int terminated, infos;
static _Atomic em_term term_reason;

static void c_free(void *state)
{
    counter *c = state;
    em_drop(c->waiting);
    free(c);
}

static int c_init(void *arg, void **state, em_term *reason)
{
    const char *how = arg;
    if (how && strcmp(how, "stop") == 0) {
        *reason = A("init_failed");
        return EM_SERVER_STOP;
    }
    if (how && strcmp(how, "ignore") == 0)
        return EM_SERVER_IGNORE;
    if (how && strcmp(how, "trap") == 0)
        em_trap_exit(true);
    counter *c = calloc(1, sizeof *c);
    c->waiting = EM_NONE;
    *state = c;
    /* freed however the server ends (terminate runs only for a stop) */
    em_on_exit(c_free, c);
    return EM_SERVER_OK;
}

static int c_call(void *state, em_term req, em_term from, em_term *reply, em_term *reason)
{
    counter *c = state;
    em_term a, b;
    int64_t k;
    if (req == A("get")) {
        *reply = em_int(c->n);
    } else if (em_match("{add, K}", req, &a) == 1 && em_int_get(a, &k) == 0) {
        c->n += k;
        *reply = em_int(c->n);
    } else if (req == A("wait")) {
        em_drop(c->waiting);
        c->waiting = em_dup(from);
        return EM_SERVER_NOREPLY;
    } else if (em_match("{stop, R}", req, &a) == 1) {
        *reason = em_dup(a);
        *reply = A("stopping");
        return EM_SERVER_STOP;
    } else if (em_match("{nested, Srv, T}", req, &a, &b) == 1) {
        em_term got;
        int rc = em_call(a, A("get"), 1000, &got);
        /* req and its parts are still ours after the nested receive */
        *reply = em_tuple(2, em_dup(b), rc == 0 ? got : A("failed"));
    } else {
        *reply = em_tuple(2, A("unknown"), em_dup(req));
    }
    return EM_SERVER_REPLY;
}

static int c_cast(void *state, em_term req, em_term *reason)
{
    counter *c = state;
    em_term a;
    int64_t k;
    if (em_match("{set, N}", req, &a) == 1 && em_int_get(a, &k) == 0) {
        c->n = k;
    } else if (req == A("release") && c->waiting != EM_NONE) {
        em_reply(c->waiting, em_int(c->n));
        em_drop(c->waiting);
        c->waiting = EM_NONE;
    } else if (em_match("{stop, R}", req, &a) == 1) {
        *reason = em_dup(a);
        return EM_SERVER_STOP;
    }
    return EM_SERVER_OK;
}

static int c_info(void *state, em_term msg, em_term *reason)
{
    (void)state;
    (void)msg;
    atomic_fetch_add(&infos, 1);
    return EM_SERVER_OK;
}

static void c_terminate(void *state, em_term reason)
{
    (void)state;
    em_drop(atomic_exchange(&term_reason, em_dup(reason)));
    atomic_fetch_add(&terminated, 1);
}

static void c_get_state(void *state, em_term *term)
{
    counter *c = state;
    *term = em_tuple(2, A("count"), em_int(c->n));
}

static const em_server_ops counter_ops = {
    .init = c_init,
    .handle_call = c_call,
    .handle_cast = c_cast,
    .handle_info = c_info,
    .terminate = c_terminate,
    .get_state = c_get_state,
};

static bool call_is(em_term srv, em_term req, const char *want)
{
    em_term r, w = em_parse(want);
    int rc = em_call(srv, req, 2000, &r);
    bool ok = rc == 0 && em_equal(r, w);
    if (!ok)
        em_fprintf(stderr, "call: ~s ~p, want ~s~n", em_err_name(rc), r != EM_NONE ? r : A("none"), want);
    em_drop(r);
    em_drop(w);
    return ok;
}

static em_term down_reason(em_term mref)
{
    em_term r;
    return em_receive_ref(2000, mref, "{'DOWN', Ref, process, _, R}", &r) == 0 ? r : EM_NONE;
}

/* ---- tests ---- */

static void basics(void *arg)
{
    (void)arg;
    em_term pid;
    CHECK(em_server_start(&counter_ops, NULL, A("counter"), &pid) == 0 && em_whereis(A("counter")) == pid);
    CHECK(call_is(A("counter"), A("get"), "0"));
    CHECK(call_is(pid, em_parse("{add, 5}"), "5"));
    CHECK(em_cast(A("counter"), em_parse("{set, 40}")) == 0);
    CHECK(call_is(pid, em_parse("{add, 2}"), "42"));
    em_send(pid, A("hello"));
    em_send(pid, em_parse("{'$gen_call', not_a_from, x}")); /* not a call: info */
    CHECK(call_is(pid, A("get"), "42") && atomic_load(&infos) == 2);
    CHECK(call_is(pid, A("what"), "{unknown, what}"));
    /* unregistered, and a second one */
    em_term p2;
    CHECK(em_server_start(&counter_ops, NULL, EM_NONE, &p2) == 0 && p2 != pid);
    CHECK(call_is(p2, A("get"), "0"));
    /* a callback that receives keeps its request */
    CHECK(call_is(p2, em_tuple(3, A("nested"), pid, em_parse("{tag, [1, 2]}")), "{{tag, [1, 2]}, 42}"));
    CHECK(em_cast(A("nobody"), A("x")) == 0);
    CHECK(em_cast(em_int(1), A("x")) == EM_EBADARG);
    em_cast(pid, em_parse("{stop, normal}"));
    em_cast(p2, em_parse("{stop, normal}"));
}

/* A server keeps its state across calls, casts and other messages, by
 * pid or by name. */
START_TEST(a_server_serves_calls_casts_and_infos)
{
    rt_start(2);
    em_spawn(basics, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 12);
    ck_assert_int_eq(terminated, 2);
}
END_TEST

static void deferring(void *arg)
{
    (void)arg;
    em_term pid;
    em_server_start(&counter_ops, NULL, EM_NONE, &pid);
    em_cast(pid, em_parse("{set, 7}"));
    /* a helper releases the waiting call in 100 ms */
    em_drop(em_send_after(100, pid, em_parse("{'$gen_cast', release}")));
    int64_t t0 = rt_now_ms();
    CHECK(call_is(pid, A("wait"), "7"));
    CHECK(rt_now_ms() - t0 >= 90);
    em_cast(pid, em_parse("{stop, normal}"));
}

/* handle_call may not reply now and reply later (em_reply with the kept
 * from). */
START_TEST(a_reply_can_come_later)
{
    rt_start(2);
    em_spawn(deferring, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 2);
}
END_TEST

static void stopping(void *arg)
{
    (void)arg;
    em_term pid, mref;
    em_server_start(&counter_ops, NULL, A("counter"), &pid);
    mref = em_monitor(pid);
    CHECK(call_is(pid, em_parse("{stop, {shutdown, done}}"), "stopping"));
    em_term r = down_reason(mref);
    CHECK(em_match("{shutdown, done}", r) == 1);
    CHECK(atomic_load(&terminated) == 1 && em_equal(atomic_load(&term_reason), r));
    CHECK(em_whereis(A("counter")) == EM_NONE);
    em_drop(mref);
    em_server_start(&counter_ops, NULL, EM_NONE, &pid);
    mref = em_monitor(pid);
    em_cast(pid, em_parse("{stop, bye}"));
    CHECK(down_reason(mref) == A("bye") && atomic_load(&terminated) == 2);
    em_drop(mref);
    /* a call to a server that stops without replying: its exit reason */
    em_server_start(&counter_ops, NULL, EM_NONE, &pid);
    em_term rr;
    em_drop(em_send_after(50, pid, em_parse("{'$gen_cast', {stop, gone}}")));
    CHECK(em_call(pid, A("wait"), 2000, &rr) == EM_EEXIT && rr == A("gone"));
}

/* EM_SERVER_STOP ends the server: terminate with the reason, the reply
 * (from handle_call) after it, the name released, the process's exit
 * reason. */
START_TEST(a_server_stops_with_terminate)
{
    rt_start(2);
    em_spawn(stopping, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 6);
    ck_assert_int_eq(terminated, 3);
    em_drop(term_reason);
}
END_TEST

static void starts(void *arg)
{
    (void)arg;
    em_term r;
    em_trap_exit(true);
    CHECK(em_server_start(&counter_ops, "stop", A("counter"), &r) == EM_EEXIT && r == A("init_failed"));
    CHECK(em_whereis(A("counter")) == EM_NONE);
    CHECK(em_server_start(&counter_ops, "ignore", A("counter"), &r) == 1 && r == EM_NONE);
    em_term pid;
    CHECK(em_server_start(&counter_ops, NULL, A("counter"), &pid) == 0);
    CHECK(em_server_start(&counter_ops, NULL, A("counter"), &r) == EM_EEXIST && r == pid);
    /* start_link and an init that stops: the exit signal comes (trapped) */
    CHECK(em_server_start_link(&counter_ops, "stop", EM_NONE, &r) == EM_EEXIT && r == A("init_failed"));
    CHECK(em_receive(1000, "{'EXIT', _, init_failed}") == 0);
    CHECK(em_server_start(NULL, NULL, EM_NONE, &r) == EM_EINVAL);
    static const em_server_ops no_call = {.init = c_init};
    CHECK(em_server_start(&no_call, NULL, EM_NONE, &r) == EM_EINVAL);
    CHECK(em_server_start(&counter_ops, NULL, em_int(3), &r) == EM_EINVAL);
    CHECK(em_server_start(&counter_ops, NULL, A("undefined"), &r) == EM_EINVAL && r == EM_NONE);
    CHECK(atomic_load(&terminated) == 0); /* init's outcomes are no terminate */
    em_cast(pid, em_parse("{stop, normal}"));
}

/* The start's outcomes: running, init stopped (its reason), ignored, the
 * name taken (its holder); bad arguments. */
START_TEST(a_start_says_what_init_did)
{
    rt_start(2);
    em_spawn(starts, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 12);
}
END_TEST

static em_term test_pid;

/* start_link of a server whose init stops, by a process that does not
 * trap exits: it tells test_pid if the start returned before it died. */
static void doomed_starter(void *arg)
{
    (void)arg;
    em_term r;
    int rc = em_server_start_link(&counter_ops, "stop", A("doomed"), &r);
    em_drop(r);
    em_send(test_pid, em_tuple(2, A("returned"), em_int(rc)));
    em_receive(EM_INFINITY, "never");
}

static void doomed(void *arg)
{
    (void)arg;
    test_pid = em_self();
    em_term mref, rc;
    em_spawn_opts o = {.monitor = &mref};
    em_spawn_opt(doomed_starter, NULL, &o);
    CHECK(down_reason(mref) == A("init_failed"));
    em_drop(mref);
    CHECK(em_receive(0, "{returned, Rc}", &rc) < 0 || rc == em_int(EM_EEXIT));
    CHECK(em_whereis(A("doomed")) == EM_NONE);
}

/* A starter that does not trap exits, linked to a server whose init
 * stops, dies of init's reason, as in Erlang: perhaps inside the start,
 * which then does not return (run under ASan, the test also shows nothing
 * of the start is lost then). */
START_TEST(a_linked_starter_dies_of_inits_reason)
{
    rt_start(2);
    em_spawn(doomed, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 3);
}
END_TEST


/* Starts a linked server (init arg: arg), tells test_pid {srv, Pid},
 * exits with parent_gone on go. */
static void parent_of(void *arg)
{
    em_term pid;
    CHECK(em_server_start_link(&counter_ops, arg, EM_NONE, &pid) == 0);
    em_send(test_pid, em_tuple(2, A("srv"), pid));
    em_receive(5000, "go");
    em_exit(A("parent_gone"));
}

/* The server of a new parent_of, monitored; the parent then exits. */
static em_term linked_server(const char *init_arg)
{
    em_term parent = em_spawn(parent_of, (void *)init_arg), srv;
    em_receive(5000, "{srv, Pid}", &srv);
    em_term m = em_monitor(srv);
    em_send(parent, A("go"));
    return m;
}

static void parents(void *arg)
{
    (void)arg;
    test_pid = em_self();
    /* trapping: the parent's exit is terminate + exit with its reason */
    em_term m = linked_server("trap");
    CHECK(down_reason(m) == A("parent_gone") && atomic_load(&terminated) == 1 &&
          atomic_load(&term_reason) == A("parent_gone"));
    em_drop(m);
    /* not trapping: killed with it, no terminate */
    m = linked_server(NULL);
    CHECK(down_reason(m) == A("parent_gone") && atomic_load(&terminated) == 1);
    em_drop(m);
    em_drop(term_reason);
}

/* A linked server that traps exits ends with its parent: terminate, then
 * the parent's reason; one that does not trap simply dies. */
START_TEST(a_linked_server_ends_with_its_parent)
{
    rt_start(2);
    em_spawn(parents, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 4);
}
END_TEST

/* A sys message as gen:call(Server, system, Req) sends it. */
static int sys_call(em_term pid, em_term req, int64_t ms, em_term *reply)
{
    em_term mref = em_monitor(pid);
    em_send(pid, em_tuple(3, A("system"), em_tuple(2, em_self(), em_dup(mref)), req));
    em_term r;
    int rc = em_receive_ref(ms, mref, "{Ref, R}", &r);
    *reply = rc == 0 ? em_dup(r) : EM_NONE;
    em_demonitor(mref, EM_DEMONITOR_FLUSH);
    em_drop(mref);
    return rc;
}

static void sys(void *arg)
{
    (void)arg;
    em_term pid, r;
    em_server_start(&counter_ops, NULL, EM_NONE, &pid);
    em_cast(pid, em_parse("{set, 3}"));
    CHECK(sys_call(pid, A("get_state"), 1000, &r) == 0 && em_match("{count, 3}", r) == 1);
    em_drop(r);
    CHECK(sys_call(pid, A("suspend"), 1000, &r) == 0 && r == A("ok"));
    /* suspended: a call waits; system messages are still answered */
    CHECK(em_call(pid, A("get"), 100, &r) == EM_ETIMEDOUT);
    em_cast(pid, em_parse("{set, 9}"));
    CHECK(sys_call(pid, A("get_state"), 1000, &r) == 0 && em_match("{count, 3}", r) == 1);
    em_drop(r);
    CHECK(sys_call(pid, A("resume"), 1000, &r) == 0 && r == A("ok"));
    CHECK(call_is(pid, A("get"), "9")); /* the cast waited, in order */
    CHECK(sys_call(pid, A("get_status"), 1000, &r) == 0 &&
          em_match("{error, {unknown_system_msg, get_status}}", r) == 1);
    em_drop(r);
    em_term mref = em_monitor(pid);
    CHECK(sys_call(pid, em_parse("{terminate, sys_said}"), 1000, &r) == 0 && r == A("ok"));
    CHECK(down_reason(mref) == A("sys_said") && atomic_load(&terminated) == 1);
    em_drop(mref);
    static const em_server_ops no_state = {.handle_call = c_call};
    em_server_start(&no_state, NULL, EM_NONE, &pid);
    CHECK(sys_call(pid, A("get_state"), 1000, &r) == 0 && em_match("{error, no_get_state}", r) == 1);
    em_drop(r);
    em_exit_pid(pid, A("kill"));
}

/* The sys messages: get_state, suspend and resume, terminate; others are
 * unknown. */
START_TEST(a_server_answers_sys)
{
    rt_start(2);
    em_spawn(sys, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 10);
}
END_TEST

/* From a thread that is not a process: the start waits for init; calls
 * and casts work from here too. */
START_TEST(a_thread_can_start_and_call_a_server)
{
    rt_start(2);
    em_term pid, r;
    ck_assert_int_eq(em_server_start(&counter_ops, NULL, A("counter"), &pid), 0);
    ck_assert(em_whereis(A("counter")) == pid);
    ck_assert_int_eq(em_cast(A("counter"), em_parse("{set, 11}")), 0);
    ck_assert_int_eq(em_call(A("counter"), A("get"), 2000, &r), 0);
    ck_assert(r == em_int(11));
    ck_assert_int_eq(em_server_start(&counter_ops, "stop", EM_NONE, &r), EM_EEXIT);
    ck_assert(r == A("init_failed"));
    em_cast(pid, em_parse("{stop, normal}"));
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(terminated, 1);
}
END_TEST

static Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_server_serves_calls_casts_and_infos);
    tcase_add_test(tc, a_reply_can_come_later);
    tcase_add_test(tc, a_server_stops_with_terminate);
    tcase_add_test(tc, a_start_says_what_init_did);
    tcase_add_test(tc, a_linked_server_ends_with_its_parent);
    tcase_add_test(tc, a_linked_starter_dies_of_inits_reason);
    tcase_add_test(tc, a_server_answers_sys);
    tcase_add_test(tc, a_thread_can_start_and_call_a_server);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(server_suite)
