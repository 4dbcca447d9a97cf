/* test_export.c: exported C functions (runtime/export.c) and the spawn
 * requests that run them (runtime/remote.c's side of SPAWN_REQUEST /
 * SPAWN_REPLY), with a fake table of ops in place of net/: the export
 * table's contract, what the spawned process sets up and answers, and the
 * reason it ends with, which is what OTP's callers decode (erpc.erl's
 * execute_call/4 and execute_cast/3, and a plain spawn's crash reasons). */
#include <pthread.h>
#include <string.h>

#include "remote.h"
#include "rttest.h"
#include "rt.h"

#define A(s) em_atom(s)

/* ---- a fake distribution layer: what reached it, in order ---- */

enum { F_EXIT, F_DOWN, F_REPLY, F_REQUEST, F_DEMONITOR, F_N };

typedef struct call {
    _Atomic int n;
    int seq;                  /* order of the last call among all */
    em_term pid, ref, reason; /* to, ref/reqid, reason/result */
    unsigned flags;
    em_term from, node, gl, mfa, opts, args; /* spawn_request's */
} call;

static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static call calls[F_N];
static int seq;
static int reply_rc; /* what spawn_reply answers */

static void record(int op, const em__dest *to, em_term ref, em_term reason, unsigned flags)
{
    pthread_mutex_lock(&fake_lock);
    call *c = &calls[op];
    em_drop(c->pid);
    em_drop(c->ref);
    em_drop(c->reason);
    c->pid = em_dup(to->pid);
    c->ref = em_dup(ref);
    c->reason = em_dup(reason);
    c->flags = flags;
    c->seq = ++seq;
    atomic_fetch_add(&c->n, 1);
    pthread_mutex_unlock(&fake_lock);
}

static int f_send(const em__dest *to, em_term msg)
{
    (void)to;
    em_drop(msg);
    return 0;
}
static int f_sig(em_term from, const em__dest *to)
{
    (void)from;
    (void)to;
    return 0;
}
static int f_exit(em_term from, const em__dest *to, em_term reason, bool exit2)
{
    (void)from;
    (void)exit2;
    record(F_EXIT, to, EM_NONE, reason, 0);
    return 0;
}
static int f_mon(em_term from, const em__dest *target, em_term ref)
{
    (void)from;
    (void)target;
    (void)ref;
    return 0;
}
static int f_demon(em_term from, const em__dest *target, em_term ref)
{
    (void)from;
    record(F_DEMONITOR, target, ref, EM_NONE, 0);
    return 0;
}
static int request_rc; /* what spawn_request answers */
static int f_request(em_term from, const em__dest *to, em_term reqid, em_term gl, em_term mfa, em_term opts,
                     em_term args)
{
    /* Before record: readers look at the fields once they see n grow. */
    pthread_mutex_lock(&fake_lock);
    call *c = &calls[F_REQUEST];
    em_drop(c->from), em_drop(c->gl), em_drop(c->mfa), em_drop(c->opts), em_drop(c->args);
    c->from = em_dup(from);
    c->node = to->node;
    c->gl = em_dup(gl);
    c->mfa = em_dup(mfa);
    c->opts = em_dup(opts);
    c->args = args; /* taken */
    pthread_mutex_unlock(&fake_lock);
    record(F_REQUEST, to, reqid, EM_NONE, 0);
    return request_rc;
}
static int f_down(em_term from, const em__dest *to, em_term ref, em_term reason)
{
    (void)from;
    record(F_DOWN, to, ref, reason, 0);
    return 0;
}
static void f_flush(void *conn)
{
    (void)conn;
}
static int f_reply(const em__dest *to, em_term reqid, unsigned flags, em_term result)
{
    record(F_REPLY, to, reqid, result, flags);
    return reply_rc;
}

static const em__remote_ops fake = {
    .send = f_send, .link = f_sig, .unlink = f_sig, .exit = f_exit, .monitor = f_mon,
    .demonitor = f_demon, .down = f_down, .flush = f_flush, .spawn_reply = f_reply,
    .spawn_request = f_request,
};

static em_term remote_pid(void)
{
    return em_pid(A("caller@host"), 7, 1, 3);
}

/* A reference of the caller's node (a request id, erpc's result ref). */
static em_term remote_ref(uint32_t w)
{
    uint32_t words[3] = {w, 2, 3};
    return em_ref(A("caller@host"), 3, words, 3);
}

/* ---- exported functions the tests call ---- */

static _Atomic int ran;
static em_term seen_gl;

static em_term f_pair(const em_term *a, unsigned n)
{
    atomic_fetch_add(&ran, 1);
    seen_gl = em_dup(em_group_leader());
    return n == 2 ? em_tuple(2, em_dup(a[1]), em_dup(a[0])) : A("wrong");
}
static em_term f_error(const em_term *a, unsigned n)
{
    (void)n;
    em_raise(A("error"), em_dup(a[0]));
    return A("not_reached");
}
static em_term x_exit(const em_term *a, unsigned n)
{
    (void)n;
    em_raise(A("exit"), em_dup(a[0]));
    return A("not_reached");
}
static em_term f_throw(const em_term *a, unsigned n)
{
    (void)n;
    em_raise(A("throw"), em_dup(a[0]));
    return A("not_reached");
}
static em_term f_stack(const em_term *a, unsigned n)
{
    (void)a;
    (void)n;
    em_raise_stack(A("error"), A("oops"), em_list(1, em_tuple(4, A("m"), A("f"), em_int(9), EM_NIL)));
    return A("not_reached");
}
static em_term f_none(const em_term *a, unsigned n)
{
    (void)a;
    (void)n;
    return EM_NONE;
}

static void export_all(void)
{
    ck_assert_em_ok(em_export("t", "pair", 2, f_pair));
    ck_assert_em_ok(em_export("t", "error", 1, f_error));
    ck_assert_em_ok(em_export("t", "exit", 1, x_exit));
    ck_assert_em_ok(em_export("t", "throw", 1, f_throw));
    ck_assert_em_ok(em_export("t", "stack", 0, f_stack));
    ck_assert_em_ok(em_export("t", "none", 0, f_none));
}

/* ---- the table ---- */

/* em_export registers M:F/A once (EEXIST after), refuses what cannot be
 * an Erlang function (no fn, arity over 255, a name that is no atom), and
 * em_unexport removes exactly that one. */
START_TEST(an_export_is_registered_once_and_removed_by_name_and_arity)
{
    ck_assert_em_ok(em_export("m", "f", 1, f_pair));
    ck_assert_em_err(em_export("m", "f", 1, f_error), EM_EEXIST);
    ck_assert_em_ok(em_export("m", "f", 2, f_error)); /* another arity: another function */
    ck_assert_em_err(em_export("m", "f", 256, f_pair), EM_EINVAL);
    ck_assert_em_err(em_export("m", "g", 0, NULL), EM_EINVAL);
    ck_assert_em_err(em_export("m", "\xff", 0, f_pair), EM_EINVAL); /* not UTF-8 */
    ck_assert_em_err(em_export(NULL, "f", 0, f_pair), EM_EINVAL);
    ck_assert_em_err(em_unexport("m", "f", 3), EM_ENOTFOUND);
    ck_assert_em_ok(em_unexport("m", "f", 1));
    ck_assert_em_err(em_unexport("m", "f", 1), EM_ENOTFOUND);
    ck_assert_em_ok(em_export("m", "f", 1, f_error)); /* free again */
    ck_assert_em_ok(em_unexport("m", "f", 1));
    ck_assert_em_ok(em_unexport("m", "f", 2));
}
END_TEST

/* ---- spawn requests from another node ---- */

/* Runs a spawn request from remote_pid() for mfa/args with flags, as
 * dist_ctl.c's dispatch does, and the runtime to its end. */
static void request(em_term reqid, const char *m, const char *f, em_term args, unsigned flags)
{
    em_term from = remote_pid(), gl = em_pid(A("caller@host"), 70, 0, 3);
    em_term mfa = em_tuple(3, A(m), A(f), em_int(em_list_length(args)));
    ck_assert_em_ok(em__remote_spawn_request(reqid, from, gl, mfa, args, flags));
    em_drop(from);
    em_drop(gl);
    em_drop(mfa);
    ck_assert_int_eq(em_run(), 0);
}

/* What the requester remote_pid() was sent for request reqid with link
 * and monitor: one SPAWN_REPLY (flags as asked; the new pid, pid when
 * given), then one EXIT and one DOWN with reason. */
static void assert_answered(em_term reqid, em_term pid, const char *reason)
{
    em_term rp = remote_pid();
    ck_assert_int_eq(calls[F_REPLY].n, 1);
    ck_assert(em_equal(calls[F_REPLY].pid, rp) && em_equal(calls[F_REPLY].ref, reqid));
    ck_assert_uint_eq(calls[F_REPLY].flags, EM__SPAWN_LINK | EM__SPAWN_MONITOR);
    ck_assert_int_eq(em_typeof(calls[F_REPLY].reason), EM_TYPE_PID);
    ck_assert(pid == EM_NONE || em_equal(calls[F_REPLY].reason, pid));
    ck_assert_int_eq(calls[F_EXIT].n, 1);
    ck_assert(em_equal(calls[F_EXIT].pid, rp) && calls[F_EXIT].reason == A(reason));
    ck_assert_int_eq(calls[F_DOWN].n, 1);
    ck_assert(em_equal(calls[F_DOWN].ref, reqid) && calls[F_DOWN].reason == A(reason));
    ck_assert_int_lt(calls[F_REPLY].seq, calls[F_DOWN].seq);
    ck_assert_int_lt(calls[F_REPLY].seq, calls[F_EXIT].seq);
    em_drop(rp);
}

/* A request with link and monitor: the new process answers SPAWN_REPLY
 * (flags as asked, its own pid) before anything else reaches the
 * requester, runs the export (with the requester's group leader), and at
 * its end tells the link (EXIT) and the monitor (MONITOR_P_EXIT with the
 * request id as reference) its reason: normal for a plain spawn. */
START_TEST(a_spawn_request_answers_first_then_runs_and_tells_link_and_monitor)
{
    rt_start(1);
    em__remote_install(&fake);
    export_all();
    em_term reqid = remote_ref(1);
    request(reqid, "t", "pair", em_list(2, A("a"), A("b")), EM__SPAWN_LINK | EM__SPAWN_MONITOR);
    ck_assert_int_eq(ran, 1);
    em_term gl = em_pid(A("caller@host"), 70, 0, 3);
    ck_assert(em_equal(seen_gl, gl));
    assert_answered(reqid, EM_NONE, "normal");
    em_drop(gl);
    em_drop(reqid);
    em_drop(seen_gl);
}
END_TEST

/* Without link and monitor options the reply's flags are 0 and the
 * process's end reaches nobody. */
START_TEST(a_spawn_request_without_options_sets_up_nothing)
{
    rt_start(1);
    em__remote_install(&fake);
    export_all();
    em_term reqid = remote_ref(2);
    request(reqid, "t", "pair", em_list(2, A("a"), A("b")), 0);
    ck_assert_int_eq(ran, 1);
    ck_assert_int_eq(calls[F_REPLY].n, 1);
    ck_assert_uint_eq(calls[F_REPLY].flags, 0);
    ck_assert_int_eq(calls[F_DOWN].n, 0);
    ck_assert_int_eq(calls[F_EXIT].n, 0);
    em_drop(reqid);
    em_drop(seen_gl);
}
END_TEST

/* The reason a monitored plain spawn ends with, per outcome, is Erlang's
 * for an uncaught raise: error {R, [{M, F, Arity, []}]} (or the stack
 * given), exit R, throw {{nocatch, T}, Stack}; a function not exported is
 * undef with the arguments in the stack, as OTP's apply gives. */
static em_term down_reason_of(const char *m, const char *f, em_term args)
{
    calls[F_DOWN].n = 0;
    rt_start(1);
    em__remote_install(&fake);
    em_term reqid = remote_ref(3);
    request(reqid, m, f, args, EM__SPAWN_MONITOR);
    ck_assert_int_eq(calls[F_DOWN].n, 1);
    ck_assert(em_equal(calls[F_DOWN].ref, reqid));
    em_drop(reqid);
    return calls[F_DOWN].reason;
}

static void assert_term(em_term got, const char *want)
{
    em_term w = em_parse(want);
    ck_assert(w != EM_NONE);
    if (!em_equal(got, w)) {
        char *s = em_print_alloc(got, EM_PRINT_W);
        ck_abort_msg("got %s, want %s", s, want);
    }
    em_drop(w);
}

START_TEST(a_plain_spawn_ends_as_an_uncaught_raise_ends_in_erlang)
{
    export_all();
    assert_term(down_reason_of("t", "error", em_list(1, A("bad"))), "{bad, [{t, error, 1, []}]}");
    assert_term(down_reason_of("t", "exit", em_list(1, A("bye"))), "bye");
    assert_term(down_reason_of("t", "throw", em_list(1, A("ball"))), "{{nocatch, ball}, [{t, throw, 1, []}]}");
    assert_term(down_reason_of("t", "stack", EM_NIL), "{oops, [{m, f, 9, []}]}");
    assert_term(down_reason_of("t", "nofun", em_list(2, em_int(1), em_int(2))), "{undef, [{t, nofun, [1, 2], []}]}");
    assert_term(down_reason_of("t", "pair", em_list(1, A("one"))), "{undef, [{t, pair, [one], []}]}");
    assert_term(down_reason_of("t", "none", EM_NIL), "{system_limit, [{t, none, 0, []}]}");
}
END_TEST

/* erpc:execute_call(Ref, M, F, Args), what erpc:call and rpc:call spawn:
 * the process ends with the tuple erpc's caller decodes, exactly as
 * erpc.erl's execute_call/4 builds it. */
static em_term call_reason(const char *f, em_term args)
{
    em_term res = remote_ref(99);
    return down_reason_of("erpc", "execute_call", em_list(4, res, A("t"), A(f), args));
}

START_TEST(erpc_execute_call_ends_with_what_erpc_decodes)
{
    export_all();
    em_term res = remote_ref(99); /* what call_reason passes */
    em_term got = call_reason("pair", em_list(2, em_int(1), em_int(2)));
    ck_assert(em_tuple_size(got) == 3 && em_equal(em_tuple_get(got, 0), res) &&
              em_tuple_get(got, 1) == A("return"));
    assert_term(em_tuple_get(got, 2), "{2, 1}");
    got = call_reason("throw", em_list(1, A("ball")));
    ck_assert(em_tuple_size(got) == 3 && em_equal(em_tuple_get(got, 0), res) && em_tuple_get(got, 1) == A("throw") &&
              em_tuple_get(got, 2) == A("ball"));
    got = call_reason("exit", em_list(1, A("bye")));
    ck_assert(em_tuple_size(got) == 3 && em_tuple_get(got, 1) == A("exit") && em_tuple_get(got, 2) == A("bye"));
    got = call_reason("error", em_list(1, A("bad")));
    ck_assert(em_tuple_size(got) == 4 && em_equal(em_tuple_get(got, 0), res) && em_tuple_get(got, 1) == A("error") &&
              em_tuple_get(got, 2) == A("bad"));
    assert_term(em_tuple_get(got, 3), "[{t, error, 1, []}]");
    got = call_reason("nofun", em_list(1, em_int(7)));
    ck_assert(em_tuple_size(got) == 4 && em_tuple_get(got, 2) == A("undef"));
    assert_term(em_tuple_get(got, 3), "[{t, nofun, [7], []}]");
    /* More than 255 arguments: no function has as many, undef (OTP 25's
     * apply says so, erpc:call raises {exception, undef, ...}). */
    em_term many = EM_NIL;
    for (int i = 0; i < 256; i++)
        many = em_cons(em_int(i), many);
    got = call_reason("pair", many);
    ck_assert(em_tuple_size(got) == 4 && em_tuple_get(got, 2) == A("undef"));
    em_term top = em_hd(em_tuple_get(got, 3));
    ck_assert(em_tuple_size(top) == 4 && em_tuple_get(top, 1) == A("pair") &&
              em_list_length(em_tuple_get(top, 2)) == 256);
    /* 1024 and more: apply's system_limit, which erpc's is_arg_error
     * makes {Res, error, {erpc, system_limit}} */
    em_term more = EM_NIL;
    for (int i = 0; i < 1024; i++)
        more = em_cons(em_int(i), more);
    got = call_reason("pair", more);
    ck_assert(em_tuple_size(got) == 3 && em_equal(em_tuple_get(got, 0), res) && em_tuple_get(got, 1) == A("error"));
    assert_term(em_tuple_get(got, 2), "{erpc, system_limit}");
    /* An argument list that is no list: apply's badarg. */
    got = call_reason("pair", A("notalist"));
    ck_assert(em_tuple_size(got) == 4 && em_tuple_get(got, 2) == A("badarg"));
    assert_term(em_tuple_get(got, 3), "[{erlang, apply, [t, pair, notalist], []}]");
    em_drop(res);
}
END_TEST

/* erpc:execute_cast(M, F, Args), what rpc:cast and erpc:cast spawn: a
 * return ends the process normally, an error as execute_cast re-raises
 * it ({exception, {R, Stack}}, in execute_cast). */
START_TEST(erpc_execute_cast_ends_normally_or_with_its_exception)
{
    export_all();
    assert_term(down_reason_of("erpc", "execute_cast", em_list(3, A("t"), A("pair"), em_list(2, A("a"), A("b")))),
                "normal");
    assert_term(down_reason_of("erpc", "execute_cast", em_list(3, A("t"), A("error"), em_list(1, A("bad")))),
                "{{exception, {bad, [{t, error, 1, []}]}}, [{erpc, execute_cast, 3, []}]}");
    assert_term(down_reason_of("erpc", "execute_cast", em_list(3, A("t"), A("exit"), em_list(1, A("bye")))), "bye");
    /* execute_call with a wrong number of arguments is no erpc call:
     * erpc:execute_call/2 is undef, as on an OTP node. */
    assert_term(down_reason_of("erpc", "execute_call", em_list(2, A("t"), A("pair"))),
                "{undef, [{erpc, execute_call, [t, pair], []}]}");
}
END_TEST

/* The reply cannot go out (the request's connection went down): a
 * process asked to link ends with noconnection without running the
 * function, as OTP's link to a lost connection breaks. */
START_TEST(a_reply_that_cannot_be_sent_breaks_the_link)
{
    rt_start(1);
    reply_rc = EM_ECLOSED;
    em__remote_install(&fake);
    export_all();
    em_term reqid = remote_ref(4);
    request(reqid, "t", "pair", em_list(2, A("a"), A("b")), EM__SPAWN_LINK);
    ck_assert_int_eq(ran, 0);
    ck_assert_int_eq(calls[F_REPLY].n, 1);
    ck_assert_int_eq(calls[F_EXIT].n, 1);
    ck_assert(calls[F_EXIT].reason == A("noconnection"));
    em_drop(reqid);
}
END_TEST

/* Inside a process of the one scheduler: a spawn request as dist_ctl.c's
 * dispatch makes it, then an exit signal to the new pid (found among the
 * processes), all before the new process can first run. */
static em_term killed_pid; /* the process request_then_kill killed */

static void request_then_kill(void *arg)
{
    em_term reqid = *(em_term *)arg;
    em_term from = remote_pid(), gl = em_pid(A("caller@host"), 70, 0, 3);
    em_term mfa = em_tuple(3, A("t"), A("pair"), em_int(2));
    CHECK(em__remote_spawn_request(reqid, from, gl, mfa, em_list(2, A("a"), A("b")),
                                   EM__SPAWN_LINK | EM__SPAWN_MONITOR) == 0);
    em_term all = em_processes(), victim = EM_NONE;
    for (em_term x = all; x != EM_NIL; x = em_tl(x))
        if (!em_equal(em_hd(x), em_self()))
            victim = em_dup(em_hd(x));
    CHECK(victim != EM_NONE);
    CHECK(em_exit_pid(victim, A("boom")) == 0);
    killed_pid = victim;
    em_drop(all);
    em_drop(from);
    em_drop(gl);
    em_drop(mfa);
}

/* A spawn request whose process is killed before it first runs still
 * answers the requester, as OTP's (whose reply goes out as the process is
 * made): SPAWN_REPLY with the new pid and the flags asked for, then the
 * link's EXIT and the monitor's DOWN with the reason it died of.  The
 * export never runs.  (Before, nothing was sent: the requester's
 * spawn_request waited for good.) */
START_TEST(a_spawn_request_killed_before_it_runs_still_answers)
{
    rt_start(1);
    em__remote_install(&fake);
    export_all();
    em_term reqid = remote_ref(5);
    ck_assert(em_spawn(request_then_kill, &reqid) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 3);
    ck_assert_int_eq(ran, 0);
    assert_answered(reqid, killed_pid, "boom");
    em_drop(killed_pid);
    em_drop(reqid);
}
END_TEST

/* ---- raising outside an export ---- */

static void raiser(void *arg)
{
    em_raise(A((const char *)arg), A("why"));
}

static void watch_raise(void *arg)
{
    (void)arg;
    static const char *const cls[] = {"error", "exit", "throw", "bogus"};
    static const char *const want[] = {"{why, []}", "why", "{{nocatch, why}, []}", "{badarg, []}"};
    for (int i = 0; i < 4; i++) {
        em_term ref = EM_NONE;
        em_spawn_opts o = {.monitor = &ref};
        em_spawn_opt(raiser, (void *)cls[i], &o);
        em_term r;
        CHECK(em_receive_ref(5000, ref, "{'DOWN', Ref, process, _, R}", &r) == 0);
        em_term w = em_parse(want[i]);
        CHECK(em_equal(r, w));
        em_drop(w);
        em_drop(ref);
    }
    CHECK(em_group_leader() == EM_NONE);
}

/* In a process that runs no export, em_raise ends it with what an
 * uncaught raise gives in Erlang (no stack known: []); a class that is no
 * class raises error badarg; em_group_leader is EM_NONE. */
START_TEST(em_raise_in_a_plain_process_ends_it_as_erlang_does)
{
    rt_start(1);
    em_spawn(watch_raise, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 9);
    em_raise(A("error"), A("outside")); /* not a process: nothing */
    ck_assert(em_group_leader() == EM_NONE);
}
END_TEST

/* ---- em_rpc: calling another node ---- */

/* What the other node does with the request, played by `node_side`. */
enum { DO_RETURN, DO_ERROR, DO_THROW, DO_EXIT, DO_KILLED, DO_BADOPT, DO_NOTSUP, DO_DOWN_EARLY, DO_DOWN_LATE,
       DO_NOTHING };
static int scenario;
static em_term rpc_result;
static int rpc_rc;
static _Atomic int rpc_done;

static em_term other(void)
{
    return A("other@host");
}

/* The other node: waits for the request, answers it as scenario says. */
static void node_side(void *arg)
{
    (void)arg;
    while (atomic_load(&calls[F_REQUEST].n) == 0)
        em_sleep(1);
    em_term caller = calls[F_REQUEST].from, reqid = calls[F_REQUEST].ref;
    em_term res = em_hd(calls[F_REQUEST].args);
    em_term child = em_pid(other(), 50, 1, 3);
    switch (scenario) {
    case DO_BADOPT:
    case DO_NOTSUP:
        em__remote_spawn_reply(caller, reqid, 0, A(scenario == DO_BADOPT ? "badopt" : "notsup"));
        break;
    case DO_DOWN_EARLY:
        em__remote_node_down(other());
        break;
    case DO_NOTHING:
        break;
    default:
        em__remote_spawn_reply(caller, reqid, EM__SPAWN_MONITOR, child);
        if (scenario == DO_DOWN_LATE) {
            em__remote_node_down(other());
            break;
        }
        em_term why = scenario == DO_RETURN  ? em_tuple(3, em_dup(res), A("return"), em_int(42))
                      : scenario == DO_ERROR ? em_tuple(4, em_dup(res), A("error"), A("bad"), em_list(1, A("frame")))
                      : scenario == DO_THROW ? em_tuple(3, em_dup(res), A("throw"), A("ball"))
                      : scenario == DO_EXIT  ? em_tuple(3, em_dup(res), A("exit"), A("bye"))
                                             : A("killed");
        em__remote_deliver(caller, EM__RSIG_DOWN, em_dup(child), em_dup(reqid), why);
    }
    em_drop(child);
}

static void caller_side(void *arg)
{
    (void)arg;
    rpc_rc = em_rpc(other(), "m", "f", em_list(1, em_int(1)), 500, &rpc_result);
    em_term m;
    /* nothing left behind: no reply, no DOWN */
    CHECK(em_receive_any(100, &m) == EM_ETIMEDOUT);
    atomic_store(&rpc_done, 1);
}

static void run_rpc(int what)
{
    scenario = what;
    rt_start(2);
    em__remote_install(&fake);
    em_spawn(caller_side, NULL);
    em_spawn(node_side, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert(atomic_load(&rpc_done));
}

/* em_rpc sends what erpc:call sends: SPAWN_REQUEST {erpc, execute_call,
 * 4}, [monitor], [Res, M, F, Args] to the node, with the caller's pid; the
 * value of a return comes back as 0 and *result. */
START_TEST(em_rpc_sends_what_erpc_sends_and_returns_the_value)
{
    run_rpc(DO_RETURN);
    ck_assert_int_eq(ok_count, 1);
    ck_assert_int_eq(rpc_rc, 0);
    ck_assert(rpc_result == em_int(42));
    ck_assert(calls[F_REQUEST].node == other());
    assert_term(calls[F_REQUEST].mfa, "{erpc, execute_call, 4}");
    assert_term(calls[F_REQUEST].opts, "[monitor]");
    em_term a = calls[F_REQUEST].args;
    ck_assert_int_eq(em_list_length(a), 4);
    ck_assert_int_eq(em_typeof(em_hd(a)), EM_TYPE_REF);
    assert_term(em_tl(a), "[m, f, [1]]");
    ck_assert_int_eq(em_typeof(calls[F_REQUEST].from), EM_TYPE_PID);
    ck_assert_int_eq(em_typeof(calls[F_REQUEST].gl), EM_TYPE_PID); /* no user here: the caller itself */
}
END_TEST

/* A raise comes back as EM_RPC_EXCEPTION with {Class, Reason, Stack};
 * a process killed otherwise as EM_RPC_SIGNAL with the reason. */
START_TEST(em_rpc_returns_the_exception_with_its_class)
{
    static const struct {
        int what, rc;
        const char *want;
    } cases[] = {
        {DO_ERROR, EM_RPC_EXCEPTION, "{error, bad, [frame]}"},
        {DO_THROW, EM_RPC_EXCEPTION, "{throw, ball, []}"},
        {DO_EXIT, EM_RPC_EXCEPTION, "{exit, bye, []}"},
        {DO_KILLED, EM_RPC_SIGNAL, "killed"},
        {DO_BADOPT, EM_RPC_EXCEPTION, "{error, {erpc, badopt}, []}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        atomic_store(&calls[F_REQUEST].n, 0);
        run_rpc(cases[i].what);
        ck_assert_int_eq(rpc_rc, cases[i].rc);
        assert_term(rpc_result, cases[i].want);
        em_drop(rpc_result);
    }
}
END_TEST

/* No outcome in time: EM_ETIMEDOUT and the call abandoned; a node lost
 * before or after the reply: EM_ECLOSED; a node that cannot spawn:
 * EM_ENOTSUP; a request that cannot be sent: its error at once. */
START_TEST(em_rpc_tells_timeouts_and_lost_nodes_apart)
{
    run_rpc(DO_NOTHING);
    ck_assert_int_eq(rpc_rc, EM_ETIMEDOUT);
    ck_assert(rpc_result == EM_NONE);
    atomic_store(&calls[F_REQUEST].n, 0);
    run_rpc(DO_DOWN_EARLY);
    ck_assert_int_eq(rpc_rc, EM_ECLOSED);
    atomic_store(&calls[F_REQUEST].n, 0);
    run_rpc(DO_DOWN_LATE);
    ck_assert_int_eq(rpc_rc, EM_ECLOSED);
    atomic_store(&calls[F_REQUEST].n, 0);
    run_rpc(DO_NOTSUP);
    ck_assert_int_eq(rpc_rc, EM_ENOTSUP);
    atomic_store(&calls[F_REQUEST].n, 0);
    request_rc = EM_ECLOSED;
    scenario = DO_NOTHING;
    rt_start(1);
    em__remote_install(&fake);
    em_spawn(caller_side, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(rpc_rc, EM_ECLOSED);
    ck_assert_int_eq(ok_count, 5);
}
END_TEST

static void late_caller(void *arg)
{
    (void)arg;
    rpc_rc = em_rpc(other(), "m", "f", EM_NIL, 50, &rpc_result);
    /* the reply and the DOWN come after the caller gave up */
    em__remote_spawn_reply(em_self(), calls[F_REQUEST].ref, EM__SPAWN_MONITOR | EM__SPAWN_LINK,
                           em_pid(other(), 51, 1, 3));
    em_term m;
    CHECK(em_receive_any(100, &m) == EM_ETIMEDOUT);
}

/* A reply that comes after em_rpc gave up is undone on the other node as
 * OTP undoes it (DEMONITOR_P; for a link, an unlink) and reaches nobody's
 * mailbox. */
START_TEST(a_late_spawn_reply_is_undone)
{
    rt_start(1);
    em__remote_install(&fake);
    em_spawn(late_caller, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 1);
    ck_assert_int_eq(rpc_rc, EM_ETIMEDOUT);
    ck_assert_int_eq(calls[F_DEMONITOR].n, 1);
    ck_assert(em_equal(calls[F_DEMONITOR].ref, calls[F_REQUEST].ref));
    em_term child = em_pid(other(), 51, 1, 3);
    ck_assert(em_equal(calls[F_DEMONITOR].pid, child));
    em_drop(child);
}
END_TEST

static _Atomic int say_rc;
static em_term f_say(const em_term *a, unsigned n);

static void rpc_forever(void *arg)
{
    (void)arg;
    rpc_rc = em_rpc(other(), "m", "f", EM_NIL, EM_INFINITY, &rpc_result);
    CHECK(!"em_rpc returned"); /* it never does: no answer comes */
}

static void rpc_killer(void *arg)
{
    (void)arg;
    em_term mref, reason;
    em_spawn_opts o = {.monitor = &mref};
    em_term caller = em_spawn_opt(rpc_forever, NULL, &o);
    while (atomic_load(&calls[F_REQUEST].n) == 0)
        em_sleep(1);
    em_exit_pid(caller, A("kill"));
    CHECK(em_receive_ref(5000, mref, "{'DOWN', Ref, process, _, Reason}", &reason) == 0 && reason == A("killed"));
    em_drop(mref);
    /* The fake's copies of the references go: a copy the call lost would
     * be unreachable now, and LeakSanitizer would report it. */
    pthread_mutex_lock(&fake_lock);
    em_drop(calls[F_REQUEST].ref), em_drop(calls[F_REQUEST].args);
    calls[F_REQUEST].ref = calls[F_REQUEST].args = EM_NONE;
    pthread_mutex_unlock(&fake_lock);
}

/* A caller killed while em_rpc waits for the other node dies there; run
 * under ASan, the test also shows the call's references are not lost. */
START_TEST(em_rpc_killed_while_it_waits_loses_nothing)
{
    rt_start(2);
    em__remote_install(&fake);
    em_spawn(rpc_killer, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 1);
}
END_TEST

static void local_caller(void *arg)
{
    (void)arg;
    em_term r;
    CHECK(em_rpc(em_local_node(NULL), "t", "pair", em_list(2, em_int(1), em_int(2)), 1000, &r) == 0);
    em_term w = em_parse("{2, 1}");
    CHECK(em_equal(r, w));
    em_drop(w);
    em_drop(r);
    CHECK(em_rpc(em_local_node(NULL), "t", "error", em_list(1, A("bad")), 1000, &r) == EM_RPC_EXCEPTION);
    w = em_parse("{error, bad, [{t, error, 1, []}]}");
    CHECK(em_equal(r, w));
    em_drop(w);
    em_drop(r);
    CHECK(em_rpc(em_local_node(NULL), "t", "nofun", EM_NIL, 1000, &r) == EM_RPC_EXCEPTION);
    w = em_parse("{error, undef, [{t, nofun, [], []}]}");
    CHECK(em_equal(r, w));
    em_drop(w);
    em_drop(r);
    CHECK(em_rpc(A("notanode"), "t", "pair", A("notalist"), 1000, &r) == EM_EBADARG && r == EM_NONE);
    CHECK(em_rpc(em_int(1), "t", "pair", EM_NIL, 1000, &r) == EM_EBADARG);
    /* no node, so no group leader: the export's output goes to stdout
     * (not to the caller, which would never answer it) */
    em_export("t", "say", 1, f_say);
    CHECK(em_rpc(em_local_node(NULL), "t", "say", em_list(1, A("hello")), 1000, &r) == 0 && r == A("ok") &&
          atomic_load(&say_rc) == 0);
}

/* To this node's own name em_rpc runs the export here, with the same
 * outcomes; bad arguments are EM_EBADARG; outside a process EM_ESTATE. */
START_TEST(em_rpc_to_this_node_runs_the_export_here)
{
    export_all();
    rt_start(1);
    em_spawn(local_caller, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 9);
    em_term r;
    ck_assert_em_err(em_rpc(em_local_node(NULL), "t", "pair", EM_NIL, 10, &r), EM_ESTATE);
}
END_TEST

/* ---- output to the group leader ---- */

static _Atomic int say_rc = 99; /* declared above */
static em_term said;

static em_term f_say(const em_term *a, unsigned n)
{
    (void)n;
    atomic_store(&say_rc, em_io_format("said ~p~n", a[0]));
    return A("ok");
}

/* A group leader of this node: takes one io request, keeps its request
 * part, answers ok. */
static void group_leader(void *arg)
{
    (void)arg;
    em_term from, ref, req;
    if (em_receive(5000, "{io_request, From, Ref, Req}", &from, &ref, &req) == 0) {
        said = em_dup(req);
        em_send(from, em_tuple(3, A("io_reply"), em_dup(ref), A("ok")));
    }
}

/* em_io_format in an exported function sends its text to the group
 * leader the request gave, as io:format does ({put_chars, unicode,
 * Binary}), and returns once it answered. */
/* A runtime where another node's spawn request runs t:say(hello) with
 * the group leader gl_main, run to its end. */
static void run_say(em_proc_fn gl_main)
{
    rt_start(1);
    em__remote_install(&fake);
    ck_assert_em_ok(em_export("t", "say", 1, f_say));
    em_term gl = em_spawn(gl_main, NULL);
    em_term from = remote_pid(), reqid = remote_ref(5), mfa = em_tuple(3, A("t"), A("say"), em_int(1));
    ck_assert_em_ok(em__remote_spawn_request(reqid, from, gl, mfa, em_list(1, A("hello")), 0));
    ck_assert_int_eq(em_run(), 0);
    em_drop(from);
    em_drop(reqid);
    em_drop(mfa);
}

START_TEST(em_io_format_writes_to_the_callers_group_leader)
{
    run_say(group_leader);
    ck_assert_int_eq(say_rc, 0);
    ck_assert_int_eq(em_tuple_size(said), 3);
    ck_assert(em_tuple_get(said, 0) == A("put_chars") && em_tuple_get(said, 1) == A("unicode"));
    size_t nbits;
    const uint8_t *d = em_binary_data(em_tuple_get(said, 2), &nbits);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(nbits, 8 * strlen("said hello\n"));
    ck_assert(memcmp(d, "said hello\n", nbits / 8) == 0);
    em_drop(said);
}
END_TEST

/* A group leader that never answers: it kills the process whose request
 * it got, and sees it die. */
static void deaf_group_leader(void *arg)
{
    (void)arg;
    em_term from, ref, req, reason;
    if (em_receive(5000, "{io_request, From, Ref, Req}", &from, &ref, &req) == 0) {
        em_term mref = em_monitor(from);
        em_exit_pid(from, A("kill"));
        CHECK(em_receive_ref(5000, mref, "{'DOWN', Ref, process, _, Reason}", &reason) == 0 &&
              reason == A("killed"));
        em_drop(mref);
    }
}

/* A process killed while em_io_format waits for its group leader dies
 * there; under ASan, the test also shows the wait's reference is not
 * lost. */
START_TEST(em_io_format_killed_while_it_waits_loses_nothing)
{
    run_say(deaf_group_leader);
    ck_assert_int_eq(ok_count, 1);
    ck_assert_int_eq(say_rc, 99); /* em_io_format never returned */
}
END_TEST

static Suite *export_suite(void)
{
    Suite *s = suite_create("export");
    TCase *tc = tcase_create("export");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, an_export_is_registered_once_and_removed_by_name_and_arity);
    tcase_add_test(tc, a_spawn_request_answers_first_then_runs_and_tells_link_and_monitor);
    tcase_add_test(tc, a_spawn_request_without_options_sets_up_nothing);
    tcase_add_test(tc, a_plain_spawn_ends_as_an_uncaught_raise_ends_in_erlang);
    tcase_add_test(tc, erpc_execute_call_ends_with_what_erpc_decodes);
    tcase_add_test(tc, erpc_execute_cast_ends_normally_or_with_its_exception);
    tcase_add_test(tc, a_reply_that_cannot_be_sent_breaks_the_link);
    tcase_add_test(tc, a_spawn_request_killed_before_it_runs_still_answers);
    tcase_add_test(tc, em_raise_in_a_plain_process_ends_it_as_erlang_does);
    tcase_add_test(tc, em_rpc_sends_what_erpc_sends_and_returns_the_value);
    tcase_add_test(tc, em_rpc_returns_the_exception_with_its_class);
    tcase_add_test(tc, em_rpc_tells_timeouts_and_lost_nodes_apart);
    tcase_add_test(tc, a_late_spawn_reply_is_undone);
    tcase_add_test(tc, em_rpc_to_this_node_runs_the_export_here);
    tcase_add_test(tc, em_rpc_killed_while_it_waits_loses_nothing);
    tcase_add_test(tc, em_io_format_writes_to_the_callers_group_leader);
    tcase_add_test(tc, em_io_format_killed_while_it_waits_loses_nothing);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(export_suite)
