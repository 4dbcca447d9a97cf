/* test_dist_spawn.c: SPAWN_REQUEST and SPAWN_REPLY on the wire
 * (net/dist_ctl.c, net/dist_ops.c): hand-made packets into the parser,
 * the shapes OTP's emulator accepts and the ones it refuses, and then a
 * node of ours answering a hand-made peer as OTP answers: the reply
 * first, then the monitor's MONITOR_P_EXIT with the reason erpc decodes;
 * badopt for an option OTP refuses. */
#include "peertest.h"

/* peer_send, taking ctl and msg. */
static int peer_send_take(int fd, em_term ctl, em_term msg)
{
    int rc = peer_send(fd, ctl, msg);
    em_drop(ctl);
    em_drop(msg);
    return rc;
}
#include "remote.h"
#include "rttest.h"

#define A(s) em_atom(s)
#define PEER "peer@localhost"

/* ---- the parser ---- */

/* A packet body ('p', ctl, and msg unless EM_NONE) into the parser.
 * Takes ctl and msg. */
static int parse(em_term ctl, em_term msg, em__ctl *k)
{
    em_buf b = EM_BUF_INIT;
    uint8_t p = 'p';
    em_buf_append(&b, &p, 1);
    ck_assert_em_ok(em_etf_encode(&b, ctl, EM_ETF_DIST));
    if (msg != EM_NONE)
        ck_assert_em_ok(em_etf_encode(&b, msg, EM_ETF_DIST));
    em_drop(ctl);
    em_drop(msg);
    int rc = em__ctl_parse(b.data, b.len, k);
    em_buf_free(&b);
    return rc;
}

static em_term from_pid(void)
{
    return peer_pid(PEER, 5);
}

/* {29, ReqId, From, GL, MFA, Opts}: the elements replaced where given. */
static em_term request_ctl(em_term reqid, em_term from, em_term gl, em_term mfa, em_term opts)
{
    return em_tuple(6, em_int(29), reqid != EM_NONE ? reqid : peer_ref(PEER, 1, 3),
                    from != EM_NONE ? from : from_pid(), gl != EM_NONE ? gl : peer_pid(PEER, 6),
                    mfa != EM_NONE ? mfa : em_tuple(3, A("m"), A("f"), em_int(1)), opts != EM_NONE ? opts : EM_NIL);
}

/* A well-formed request, as OTP sends it for spawn_link/spawn_monitor and
 * rpc:call, parses to SPAWN_REQUEST with its parts; its _TT form (a trace
 * token more) alike. */
START_TEST(a_spawn_request_parses_with_its_parts)
{
    em__ctl k;
    em_term reqid = peer_ref(PEER, 1, 3);
    ck_assert_em_ok(parse(request_ctl(em_dup(reqid), EM_NONE, EM_NONE, EM_NONE, em_list(2, A("monitor"), A("link"))),
                          em_list(1, A("x")), &k));
    ck_assert_int_eq(k.act, EM__ACT_SPAWN_REQUEST);
    ck_assert(em_equal(k.ref, reqid));
    em_term f = from_pid(), gl = peer_pid(PEER, 6);
    ck_assert(em_equal(k.from, f) && em_equal(k.gl, gl));
    ck_assert(em_tuple_get(k.mfa, 1) == A("f"));
    ck_assert_uint_eq(k.spawn_flags, EM__SPAWN_LINK | EM__SPAWN_MONITOR);
    ck_assert(!k.badopt);
    ck_assert_int_eq(em_list_length(k.msg), 1);
    em__ctl_free(&k);
    em_term tt = em_tuple(7, em_int(30), em_dup(reqid), em_dup(f), em_dup(gl), em_tuple(3, A("m"), A("f"), em_int(0)),
                          EM_NIL, A("token"));
    ck_assert_em_ok(parse(tt, EM_NIL, &k));
    ck_assert_int_eq(k.act, EM__ACT_SPAWN_REQUEST);
    ck_assert_uint_eq(k.spawn_flags, 0);
    em__ctl_free(&k);
    em_drop(reqid);
    em_drop(f);
    em_drop(gl);
}
END_TEST

/* The options: OTP's spawn_opt options are accepted ({monitor, Opts} is a
 * monitor; priority, heap and scheduler options have no effect here); an
 * unknown one, a value of the wrong type, and the requester's own
 * {reply, _} and {reply_tag, _} (never sent by OTP) parse with badopt set:
 * answered badopt, as OTP 25.2.3's emulator answers each of them (tried
 * with hand-made requests). */
START_TEST(spawn_options_are_read_as_otp_reads_them)
{
    static const struct {
        const char *opts;
        unsigned flags;
        bool badopt;
    } cases[] = {
        {"[]", 0, false},
        {"[link]", EM__SPAWN_LINK, false},
        {"[{monitor, [{tag, t}]}]", EM__SPAWN_MONITOR, false},
        {"[{priority, high}, {fullsweep_after, 3}, {min_heap_size, 10}, {min_bin_vheap_size, 10},"
         " {max_heap_size, #{size => 100}}, {message_queue_data, off_heap}, monitor]",
         EM__SPAWN_MONITOR, false},
        {"[{bogus, 1}]", 0, true},
        {"[bogus]", 0, true},
        {"[{priority, urgent}]", 0, true},
        {"[{fullsweep_after, -1}]", 0, true},
        {"[{reply, no}]", 0, true},
        {"[{reply_tag, t}, link]", EM__SPAWN_LINK, true},
        {"[{scheduler, 1}, {monitor, [{alias, demonitor}]}]", EM__SPAWN_MONITOR, false},
        {"[{async_dist, true}]", 0, true}, /* OTP 25.3's: 25.2.3 answers badopt */
        {"[{monitor, notalist}]", EM__SPAWN_MONITOR, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        em__ctl k;
        em_term opts = em_parse(cases[i].opts);
        ck_assert(opts != EM_NONE);
        ck_assert_msg(parse(request_ctl(EM_NONE, EM_NONE, EM_NONE, EM_NONE, opts), EM_NIL, &k) == 0, "%s",
                      cases[i].opts);
        ck_assert_msg(k.spawn_flags == cases[i].flags && k.badopt == cases[i].badopt, "%s: flags %u badopt %d",
                      cases[i].opts, k.spawn_flags, k.badopt);
        em__ctl_free(&k);
    }
}
END_TEST

/* Malformed requests are refused with EM_EBADARG (logged, the connection
 * stays) and no action: every shape OTP's emulator checks (dist.c) and
 * calls an invalid message.  Of the arity OTP checks only that it is a
 * small integer: 256, -1 and the largest small parse (OTP 25 spawns with
 * the argument list whatever the arity says). */
START_TEST(a_malformed_spawn_request_is_refused)
{
    int64_t odd[] = {256, -1, (INT64_C(1) << 59) - 1, -(INT64_C(1) << 59)};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        em__ctl k;
        ck_assert_em_ok(parse(request_ctl(EM_NONE, EM_NONE, EM_NONE, em_tuple(3, A("m"), A("f"), em_int(odd[i])), EM_NONE),
                              EM_NIL, &k));
        ck_assert_int_eq(k.act, EM__ACT_SPAWN_REQUEST);
        em__ctl_free(&k);
    }
    uint32_t w[3] = {1, 2, 3};
    struct {
        const char *what;
        em_term ctl, msg;
    } cases[] = {
        {"five elements", em_tuple(5, em_int(29), peer_ref(PEER, 1, 3), from_pid(), peer_pid(PEER, 6),
                                   em_tuple(3, A("m"), A("f"), em_int(0))),
         EM_NIL},
        {"a _TT of six", em_tuple(6, em_int(30), peer_ref(PEER, 1, 3), from_pid(), peer_pid(PEER, 6),
                                  em_tuple(3, A("m"), A("f"), em_int(0)), EM_NIL),
         EM_NIL},
        {"ReqId not a reference", request_ctl(em_int(1), EM_NONE, EM_NONE, EM_NONE, EM_NONE), EM_NIL},
        {"From not a pid", request_ctl(EM_NONE, A("someone"), EM_NONE, EM_NONE, EM_NONE), EM_NIL},
        {"From a pid of this node",
         request_ctl(EM_NONE, em_pid(em_local_node(NULL), 5, 0, 0), EM_NONE, EM_NONE, EM_NONE), EM_NIL},
        {"GroupLeader not a pid", request_ctl(EM_NONE, EM_NONE, em_ref(A(PEER), 1, w, 3), EM_NONE, EM_NONE),
         EM_NIL},
        {"MFA not a triple", request_ctl(EM_NONE, EM_NONE, EM_NONE, em_tuple(2, A("m"), A("f")), EM_NONE), EM_NIL},
        {"M not an atom",
         request_ctl(EM_NONE, EM_NONE, EM_NONE, em_tuple(3, em_string("m"), A("f"), em_int(0)), EM_NONE), EM_NIL},
        {"Arity not an integer",
         request_ctl(EM_NONE, EM_NONE, EM_NONE, em_tuple(3, A("m"), A("f"), A("one")), EM_NONE), EM_NIL},
        {"Arity not a small integer (60 bits)",
         request_ctl(EM_NONE, EM_NONE, EM_NONE, em_tuple(3, A("m"), A("f"), em_int(INT64_C(1) << 59)), EM_NONE),
         EM_NIL},
        {"options an improper list",
         request_ctl(EM_NONE, EM_NONE, EM_NONE, EM_NONE, em_cons(A("link"), A("monitor"))), EM_NIL},
        {"options not a list", request_ctl(EM_NONE, EM_NONE, EM_NONE, EM_NONE, A("link")), EM_NIL},
        {"no argument list", request_ctl(EM_NONE, EM_NONE, EM_NONE, EM_NONE, EM_NONE), EM_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        em__ctl k;
        ck_assert_msg(parse(cases[i].ctl, cases[i].msg, &k) == EM_EBADARG, "%s: not refused", cases[i].what);
        ck_assert_int_eq(k.act, EM__ACT_NONE);
        ck_assert(k.ctl != EM_NONE); /* decoded: the log line prints it */
        em__ctl_free(&k);
    }
}
END_TEST

/* SPAWN_REPLY parses with the request id, the requester, its flags and
 * the result (a pid or an error atom), in both forms; bad shapes (flags
 * out of OTP's range, a result that is neither, a message part, ...) are
 * refused. */
START_TEST(a_spawn_reply_parses_and_bad_ones_are_refused)
{
    em_term me = em_pid(A(PEER), 1, 0, 1);
    em__ctl k;
    ck_assert_em_ok(parse(em_tuple(5, em_int(31), peer_ref(PEER, 1, 3), em_dup(me), em_int(3), peer_pid(PEER, 9)),
                          EM_NONE, &k));
    ck_assert_int_eq(k.act, EM__ACT_SPAWN_REPLY);
    ck_assert_uint_eq(k.spawn_flags, 3);
    ck_assert(em_equal(k.to, me) && em_typeof(k.result) == EM_TYPE_PID);
    em__ctl_free(&k);
    ck_assert_em_ok(parse(em_tuple(6, em_int(32), peer_ref(PEER, 1, 3), em_dup(me), em_int(0), A("badopt"), A("tok")),
                          EM_NONE, &k));
    ck_assert(k.act == EM__ACT_SPAWN_REPLY && k.result == A("badopt"));
    em__ctl_free(&k);
    em_term bad[] = {
        em_tuple(5, em_int(31), peer_ref(PEER, 1, 3), em_dup(me), em_int(-1), A("x")),
        em_tuple(5, em_int(31), peer_ref(PEER, 1, 3), em_dup(me), em_int(1 << 27), A("x")),
        em_tuple(5, em_int(31), peer_ref(PEER, 1, 3), em_dup(me), em_int(0), em_int(5)),
        em_tuple(5, em_int(31), peer_ref(PEER, 1, 3), A("me"), em_int(0), A("x")),
        em_tuple(5, em_int(31), em_int(1), em_dup(me), em_int(0), A("x")),
        em_tuple(6, em_int(31), peer_ref(PEER, 1, 3), em_dup(me), em_int(0), A("x"), A("tok")),
        em_tuple(5, em_int(32), peer_ref(PEER, 1, 3), em_dup(me), em_int(0), A("x")),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(parse(bad[i], EM_NONE, &k) == EM_EBADARG, "case %zu", i);
        em__ctl_free(&k);
    }
    ck_assert_int_eq(parse(em_tuple(5, em_int(31), peer_ref(PEER, 1, 3), em_dup(me), em_int(0), A("x")), A("msg"), &k),
                     EM_EBADARG);
    em__ctl_free(&k);
    em_drop(me);
}
END_TEST

/* ---- a node answering a hand-made peer ---- */

static em_term f_pair(const em_term *a, unsigned n)
{
    (void)n;
    return em_tuple(2, em_dup(a[1]), em_dup(a[0]));
}

static em_term f_fail(const em_term *a, unsigned n)
{
    (void)n;
    em_raise(A("error"), em_dup(a[0]));
    return EM_NONE;
}

/* Send a SPAWN_REQUEST for m:f(args) with opts; takes the terms. */
static void peer_request(int fd, em_term reqid, const char *m, const char *f, em_term args, em_term opts)
{
    em_term mfa = em_tuple(3, A(m), A(f), em_int(em_list_length(args)));
    ck_assert_int_eq(peer_send_take(fd, em_tuple(6, em_int(29), reqid, from_pid(), peer_pid(PEER, 6), mfa, opts), args),
                     0);
}

static void expect(int fd, const char *what, bool (*ok)(em_term ctl, em_term msg, void *arg), void *arg)
{
    em_term ctl, msg;
    ck_assert_msg(peer_recv(fd, &ctl, &msg) == 0, "%s: nothing came", what);
    if (!ok(ctl, msg, arg)) {
        char *s = em_print_alloc(ctl, EM_PRINT_W);
        ck_abort_msg("%s: got %s", what, s);
    }
    em_drop(ctl);
    em_drop(msg);
}

typedef struct want {
    em_term reqid, pid, reason; /* reason: matched with em_match when a pattern */
    unsigned flags;
    const char *pattern;
} want;

static bool is_reply(em_term ctl, em_term msg, void *arg)
{
    want *w = arg;
    em_term me = from_pid();
    bool ok = msg == EM_NONE && em_tuple_size(ctl) == 5 && em_tuple_get(ctl, 0) == em_int(31) &&
              em_equal(em_tuple_get(ctl, 1), w->reqid) && em_equal(em_tuple_get(ctl, 2), me) &&
              em_tuple_get(ctl, 3) == em_int(w->flags);
    em_drop(me);
    if (ok && w->reason != EM_NONE)
        return em_tuple_get(ctl, 4) == w->reason;
    em_term pid = em_tuple_get(ctl, 4);
    em_term node;
    if (!ok || em_pid_parts(pid, &node, NULL, NULL, NULL) < 0 || node != A(PEERTEST_NODE))
        return false;
    em_drop(w->pid);
    w->pid = em_dup(pid);
    return true;
}

static bool is_down(em_term ctl, em_term msg, void *arg)
{
    want *w = arg;
    em_term me = from_pid();
    bool ok = msg == EM_NONE && em_tuple_size(ctl) == 5 && em_tuple_get(ctl, 0) == em_int(21) &&
              em_equal(em_tuple_get(ctl, 1), w->pid) && em_equal(em_tuple_get(ctl, 2), me) &&
              em_equal(em_tuple_get(ctl, 3), w->reqid);
    em_drop(me);
    if (!ok)
        return false;
    em_term r = em_tuple_get(ctl, 4);
    return w->pattern ? em_match(w->pattern, r) == 1 : r == w->reason;
}

static void nothing(void *arg)
{
    (void)arg;
}

static void idle(void *arg)
{
    (void)arg;
    em_sleep(30000);
}

typedef struct undo {
    em_term me, child, ref;
} undo;

/* DEMONITOR_P {20, Me, Child, Ref}, EXIT {3, Me, Child, noproc}, or an
 * unlink (UNLINK_ID {35, Id, Me, Child}). */
static bool is_undo(em_term ctl, em_term msg, void *arg)
{
    const undo *u = arg;
    long n = em_tuple_size(ctl);
    em_term op = em_tuple_get(ctl, 0);
    if (msg != EM_NONE)
        return false;
    if (n == 4 && op == em_int(20))
        return em_tuple_get(ctl, 1) == u->me && em_equal(em_tuple_get(ctl, 2), u->child) &&
               em_equal(em_tuple_get(ctl, 3), u->ref);
    if (n == 4 && op == em_int(3))
        return em_tuple_get(ctl, 1) == u->me && em_equal(em_tuple_get(ctl, 2), u->child) &&
               em_tuple_get(ctl, 3) == A("noproc");
    return n == 4 && op == em_int(35) && em_tuple_get(ctl, 2) == u->me && em_equal(em_tuple_get(ctl, 3), u->child);
}

/* A spawn request with monitor is answered SPAWN_REPLY {31, ReqId, From,
 * 2, Pid} (a pid of this node) and, when the process ends,
 * MONITOR_P_EXIT {21, Pid, From, ReqId, Reason}: normal for a plain spawn;
 * for erpc:execute_call the tuple erpc decodes ({Res, return, V}, {Res,
 * error, R, Stack}).  An option OTP refuses is answered {31, ReqId,
 * From, 0, badopt} with nothing spawned; a malformed request is not
 * answered, and the connection goes on serving.  A SPAWN_REPLY nobody
 * waits for is undone on the peer's side. */
START_TEST(the_node_answers_spawn_requests_as_otp_does)
{
    rt_start(2);
    peertest_node_start();
    ck_assert_em_ok(em_export("t", "pair", 2, f_pair));
    ck_assert_em_ok(em_export("t", "fail", 1, f_fail));
    int fd = peer_dial(PEER, EM__DF_MINE);
    ck_assert_int_ge(fd, 0);

    want w = {.reqid = peer_ref(PEER, 1, 3), .flags = EM__SPAWN_MONITOR, .reason = EM_NONE};
    peer_request(fd, em_dup(w.reqid), "t", "pair", em_list(2, A("a"), A("b")), em_list(1, A("monitor")));
    expect(fd, "reply to a plain spawn", is_reply, &w);
    w.reason = A("normal");
    expect(fd, "DOWN of a plain spawn", is_down, &w);

    /* malformed (no argument list): not answered; the next one is */
    ck_assert_int_eq(peer_send_take(fd, em_tuple(6, em_int(29), peer_ref(PEER, 9, 3), from_pid(), peer_pid(PEER, 6),
                                            em_tuple(3, A("t"), A("pair"), em_int(2)), EM_NIL),
                               EM_NONE),
                     0);

    em_drop(w.reqid);
    w.reqid = peer_ref(PEER, 2, 3);
    w.reason = EM_NONE;
    em_term res = peer_ref(PEER, 3, 3);
    peer_request(fd, em_dup(w.reqid), "erpc", "execute_call",
                 em_list(4, em_dup(res), A("t"), A("pair"), em_list(2, em_int(1), em_int(2))), em_list(1, A("monitor")));
    expect(fd, "reply to erpc:execute_call", is_reply, &w);
    w.pattern = "{_, return, {2, 1}}";
    expect(fd, "DOWN of erpc:execute_call: {Res, return, V}", is_down, &w);

    em_drop(w.reqid);
    w.reqid = peer_ref(PEER, 4, 3);
    w.pattern = NULL;
    peer_request(fd, em_dup(w.reqid), "erpc", "execute_call", em_list(4, em_dup(res), A("t"), A("fail"), em_list(1, A("bad"))),
                 em_list(1, A("monitor")));
    expect(fd, "reply to a failing erpc:execute_call", is_reply, &w);
    w.pattern = "{_, error, bad, [{t, fail, 1, []}]}";
    expect(fd, "DOWN of a failing erpc:execute_call: {Res, error, R, Stack}", is_down, &w);

    em_drop(w.reqid);
    w.reqid = peer_ref(PEER, 5, 3);
    w.pattern = NULL;
    w.flags = 0;
    w.reason = A("badopt");
    peer_request(fd, em_dup(w.reqid), "t", "pair", em_list(2, A("a"), A("b")),
                 em_list(2, A("monitor"), em_tuple(2, A("bogus"), em_int(1))));
    expect(fd, "badopt", is_reply, &w);

    /* A SPAWN_REPLY (link and monitor set up on the peer's side) for a
     * process of ours that is gone: undone as OTP undoes it, DEMONITOR_P
     * and EXIT noproc; for a live one that asked nothing: DEMONITOR_P and
     * an unlink. */
    em_term dead = em_spawn(nothing, NULL);
    while (em_is_alive(dead))
        usleep(1000);
    em_term child = peer_pid(PEER, 40);
    ck_assert_int_eq(peer_send_take(fd, em_tuple(5, em_int(31), peer_ref(PEER, 6, 3), dead, em_int(3), em_dup(child)), EM_NONE),
                     0);
    undo u = {dead, child, peer_ref(PEER, 6, 3)};
    expect(fd, "DEMONITOR_P for a dead requester", is_undo, &u);
    expect(fd, "EXIT noproc for a dead requester", is_undo, &u);
    em_term live = em_spawn(idle, NULL);
    ck_assert_int_eq(peer_send_take(fd, em_tuple(5, em_int(31), peer_ref(PEER, 7, 3), live, em_int(3), em_dup(child)), EM_NONE),
                     0);
    em_drop(u.ref);
    u = (undo){live, child, peer_ref(PEER, 7, 3)};
    expect(fd, "DEMONITOR_P for a requester that asked nothing", is_undo, &u);
    expect(fd, "UNLINK for a requester that asked nothing", is_undo, &u);
    em_exit_pid(live, A("kill"));
    em_drop(u.ref);
    em_drop(child);

    close(fd);
    em_drop(w.reqid);
    em_drop(w.pid);
    em_drop(res);
    ck_assert_em_ok(em_node_stop());
    em_stop(0);
    em_run();
    epmd_stop();
}
END_TEST

/* A message for `to` (a SEND or SEND_SENDER) matching pattern. */
static bool is_msg_to_peer(em_term ctl, em_term msg, void *arg)
{
    em_term me = from_pid();
    long n = em_tuple_size(ctl);
    bool ok = n >= 3 && (em_tuple_get(ctl, 0) == em_int(2) || em_tuple_get(ctl, 0) == em_int(22)) &&
              em_equal(em_tuple_get(ctl, n - 1), me) && em_match((const char *)arg, msg) == 1;
    em_drop(me);
    return ok;
}

/* The peer's connection closed, the node stopped, the runtime run to its
 * end, the port mapper stopped. */
static void node_down(int fd)
{
    close(fd);
    ck_assert_em_ok(em_node_stop());
    em_stop(0);
    em_run();
    epmd_stop();
}

/* The registered rex answers what erl_call and ei's rpc send,
 * {Pid, {call, M, F, A, user}}, with Pid ! {rex, Answer}, and a gen_server
 * call of {block_call, ...} with {Tag, Answer}: rpc's answers, the value
 * or {badrpc, {'EXIT', {Reason, Stack}}} for an error. */
START_TEST(rex_answers_c_nodes_and_block_calls)
{
    rt_start(2);
    peertest_node_start();
    ck_assert_em_ok(em_export("t", "pair", 2, f_pair));
    ck_assert_em_ok(em_export("t", "fail", 1, f_fail));
    int fd = peer_dial(PEER, EM__DF_MINE);
    ck_assert_int_ge(fd, 0);
    em_term reg = em_tuple(4, em_int(6), from_pid(), A(""), A("rex"));
    ck_assert_int_eq(peer_send_take(fd, em_dup(reg),
                               em_tuple(2, from_pid(), em_tuple(5, A("call"), A("t"), A("pair"),
                                                                em_list(2, A("a"), A("b")), A("user")))),
                     0);
    expect(fd, "{rex, {b, a}}", is_msg_to_peer, "{rex, {b, a}}");
    ck_assert_int_eq(peer_send_take(fd, em_dup(reg),
                               em_tuple(2, from_pid(), em_tuple(5, A("call"), A("t"), A("fail"),
                                                                em_list(1, A("bad")), A("user")))),
                     0);
    expect(fd, "{rex, {badrpc, ...}}", is_msg_to_peer, "{rex, {badrpc, {'EXIT', {bad, [{t, fail, 1, []}]}}}}");
    ck_assert_int_eq(peer_send_take(fd, em_dup(reg),
                               em_tuple(3, A("$gen_call"), em_tuple(2, from_pid(), A("tag1")),
                                        em_tuple(5, A("block_call"), A("t"), A("pair"), em_list(2, em_int(1), em_int(2)),
                                                 peer_pid(PEER, 6)))),
                     0);
    expect(fd, "{tag1, {2, 1}}", is_msg_to_peer, "{tag1, {2, 1}}");
    em_drop(reg);
    node_down(fd);
}
END_TEST

static _Atomic int waiting; /* f_wait has started */

static em_term f_wait(const em_term *a, unsigned n)
{
    (void)a, (void)n;
    atomic_store(&waiting, 1);
    em_receive(EM_INFINITY, "never_sent");
    return EM_NONE;
}

/* A node stopped while rex waits in a block_call (its export never
 * returns) kills rex there; rex loses nothing (under ASan: the wait's
 * monitor reference leaked). */
START_TEST(rex_killed_in_a_block_call_loses_nothing)
{
    rt_start(2);
    peertest_node_start();
    ck_assert_em_ok(em_export("t", "wait", 0, f_wait));
    int fd = peer_dial(PEER, EM__DF_MINE);
    ck_assert_int_ge(fd, 0);
    em_term reg = em_tuple(4, em_int(6), from_pid(), A(""), A("rex"));
    ck_assert_int_eq(peer_send_take(fd, em_dup(reg),
                                    em_tuple(3, A("$gen_call"), em_tuple(2, from_pid(), A("tag1")),
                                             em_tuple(5, A("block_call"), A("t"), A("wait"), EM_NIL,
                                                      peer_pid(PEER, 6)))),
                     0);
    /* the export runs; rex waits for it (it enters its wait right after
     * the spawn: the sleep covers the other scheduler) */
    for (int i = 0; i < 5000 && !atomic_load(&waiting); i++)
        usleep(1000);
    ck_assert(atomic_load(&waiting));
    usleep(100000);
    ck_assert(em_whereis(A("rex")) != EM_NONE);
    em_drop(reg);
    node_down(fd);
}
END_TEST

static Suite *dist_spawn_suite(void)
{
    Suite *s = suite_create("dist_spawn");
    TCase *tc = tcase_create("dist_spawn");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_spawn_request_parses_with_its_parts);
    tcase_add_test(tc, spawn_options_are_read_as_otp_reads_them);
    tcase_add_test(tc, a_malformed_spawn_request_is_refused);
    tcase_add_test(tc, a_spawn_reply_parses_and_bad_ones_are_refused);
    tcase_add_test(tc, the_node_answers_spawn_requests_as_otp_does);
    tcase_add_test(tc, rex_answers_c_nodes_and_block_calls);
    tcase_add_test(tc, rex_killed_in_a_block_call_loses_nothing);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(dist_spawn_suite)
