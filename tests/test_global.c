/* test_global.c: the node's global_name_server (net/global.c) against a
 * hand-made peer (peertest.h) that says it is a visible node: what it
 * sends on nodeup (init_connect of protocol version 8), the session and
 * call tags it echoes (bit for bit: a bignum session tag, a {Ref, Node}
 * call tag), its lock table, and that malformed messages are dropped with
 * one log line each while the server goes on answering. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "peertest.h"
#include "rttest.h"

#define A(s) em_atom(s)
#define PEER "peer@localhost"

/* stderr goes to a file the test reads (the node's log lines). */
static int log_fd = -1;

static void node_start_logging(void)
{
    char path[] = "/tmp/ember-test-global.XXXXXX";
    log_fd = mkstemp(path);
    ck_assert_int_ge(log_fd, 0);
    unlink(path);
    fflush(stderr);
    dup2(log_fd, 2);
    epmd_start();
    em_node_opts o;
    peertest_opts(&o);
    ck_assert(o.published && o.connect_all); /* the defaults: visible, as erl */
    o.quiet = false;                         /* the log is what is checked */
    ck_assert_em_ok(em_node_start_opts(&o));
}

/* Lines of the log holding needle. */
static int log_count(const char *needle)
{
    fflush(stderr);
    char buf[65536];
    ssize_t n = pread(log_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    int c = 0;
    for (char *p = buf; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        c++;
    return c;
}

static void node_stop(int fd)
{
    close(fd);
    ck_assert_em_ok(em_node_stop());
    em_stop(0);
    ck_assert_int_eq(em_run(), 0);
    epmd_stop();
}

/* The next message the node sends to the peer's global_name_server
 * (REG_SEND) or to pid `to` (SEND) that pred accepts; other frames are
 * skipped.  Owned by the caller; EM_NONE when the wire ends first. */
typedef bool (*msg_pred)(em_term msg, void *arg);
static em_term next_msg(int fd, em_term to, msg_pred pred, void *arg)
{
    for (;;) {
        em_term ctl, msg;
        if (peer_recv(fd, &ctl, &msg) < 0)
            return EM_NONE;
        int64_t op = -1;
        em_int_get(em_tuple_get(ctl, 0), &op);
        bool hit = to == EM_NONE ? op == 6 && em_tuple_get(ctl, 3) == A("global_name_server")
                                 : op == 2 && em_equal(em_tuple_get(ctl, 2), to);
        em_drop(ctl);
        if (hit && msg != EM_NONE && pred(msg, arg))
            return msg;
        em_drop(msg);
    }
}

static bool is_cast_of(em_term m, void *arg)
{
    return em_tuple_size(m) == 2 && em_tuple_get(m, 0) == A("$gen_cast") &&
           em_tuple_get(em_tuple_get(m, 1), 0) == A((const char *)arg);
}

static bool is_plain(em_term m, void *arg)
{
    return em_tuple_get(m, 0) == A((const char *)arg);
}

static bool is_reply_to(em_term m, void *arg)
{
    return em_tuple_size(m) == 2 && em_equal(em_tuple_get(m, 0), *(em_term *)arg);
}

static bool any(em_term m, void *arg)
{
    (void)m, (void)arg;
    return true;
}

static void to_gns(int fd, em_term msg)
{
    em_term ctl = em_tuple(4, em_int(6), peer_pid(PEER, 1), A(""), A("global_name_server"));
    ck_assert_int_eq(peer_send(fd, ctl, msg), 0);
    em_drop(ctl);
    em_drop(msg);
}

static bool same_bytes(em_term a, em_term b)
{
    em_buf x = EM_BUF_INIT, y = EM_BUF_INIT;
    em_etf_encode(&x, a, 0);
    em_etf_encode(&y, b, 0);
    bool same = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
    em_buf_free(&x);
    em_buf_free(&y);
    return same;
}

/* A gen_server:multi_call of the peer's process `id` with a {Ref, Node}
 * tag: the reply the node sends, or EM_NONE. */
static em_term call_gns(int fd, uint32_t id, em_term req)
{
    em_term pid = peer_pid(PEER, id);
    em_term tag = em_tuple(2, peer_ref(PEER, 900 + id, 3), A(PEERTEST_NODE));
    to_gns(fd, em_tuple(3, A("$gen_call"), em_tuple(2, em_dup(pid), em_dup(tag)), req));
    em_term r = next_msg(fd, pid, is_reply_to, &tag);
    em_term v = r != EM_NONE ? em_dup(em_tuple_get(r, 1)) : EM_NONE;
    em_drop(r);
    em_drop(pid);
    em_drop(tag);
    return v;
}

/* A session tag as OTP's: a bignum (here one that needs 9 bytes). */
static em_term big_tag(void)
{
    uint8_t mag[9] = {2, 0, 0, 0, 0, 0, 0, 0x80, 1};
    return em_bigint(true, mag, sizeof mag);
}

/* On nodeup the node sends init_connect of version 8 with its locker;
 * it answers the peer's init_connect with init_connect_ack echoing the
 * peer's bignum tag byte for byte and its own; it answers set_lock and
 * del_lock from its lock table, echoing the {Ref, Node} tag. */
START_TEST(init_connect_and_tags_echoed)
{
    node_start_logging();
    int fd = peer_dial(PEER, EM__DF_MINE | EM__DF_PUBLISHED);
    ck_assert_int_ge(fd, 0);
    em_term ic = next_msg(fd, EM_NONE, is_cast_of, "init_connect");
    ck_assert(ic != EM_NONE);
    em_term vsn, ct, node, locker;
    ck_assert_int_eq(em_match("{'$gen_cast', {init_connect, {Vsn, CT}, Node, {locker, no_longer_a_pid, [], L}}}", ic,
                              &vsn, &ct, &node, &locker),
                     1);
    ck_assert(vsn == em_int(8));
    ck_assert(node == A(PEERTEST_NODE));
    ck_assert(em_typeof(locker) == EM_TYPE_PID && em_typeof(ct) == EM_TYPE_INTEGER);
    ct = em_dup(ct);
    em_drop(ic);

    em_term et = big_tag();
    to_gns(fd, em_tuple(2, A("$gen_cast"),
                        em_tuple(4, A("init_connect"), em_tuple(2, em_int(8), em_dup(et)), A(PEER),
                                 em_tuple(4, A("locker"), A("no_longer_a_pid"), em_map(0), peer_pid(PEER, 7)))));
    em_term ack = next_msg(fd, EM_NONE, is_plain, "init_connect_ack");
    ck_assert(ack != EM_NONE);
    ck_assert_int_eq(em_tuple_size(ack), 4);
    ck_assert(em_tuple_get(ack, 1) == A(PEERTEST_NODE));
    ck_assert(same_bytes(em_tuple_get(ack, 2), et)); /* his tag, as he sent it */
    ck_assert(em_equal(em_tuple_get(ack, 3), ct));   /* ours */
    em_drop(ack);

    /* the lock table, as can_set_lock/1 and handle_set_lock/3 */
    em_term r = call_gns(fd, 20, em_tuple(2, A("set_lock"), em_tuple(2, A("res"), A("req1"))));
    ck_assert(r == A("true"));
    r = call_gns(fd, 21, em_tuple(2, A("set_lock"), em_tuple(2, A("res"), A("req1"))));
    ck_assert(r == A("true")); /* the same requester id: shared */
    r = call_gns(fd, 22, em_tuple(2, A("set_lock"), em_tuple(2, A("res"), A("req2"))));
    ck_assert(r == A("false"));
    r = call_gns(fd, 20, em_tuple(2, A("del_lock"), em_tuple(2, A("res"), A("req1"))));
    ck_assert(r == A("true"));
    r = call_gns(fd, 22, em_tuple(2, A("set_lock"), em_tuple(2, A("res"), A("req2"))));
    ck_assert(r == A("false")); /* 21 still holds it */
    r = call_gns(fd, 21, em_tuple(2, A("del_lock"), em_tuple(2, A("res"), A("req1"))));
    ck_assert(r == A("true"));
    r = call_gns(fd, 22, em_tuple(2, A("set_lock"), em_tuple(2, A("res"), A("req2"))));
    ck_assert(r == A("true"));
    r = call_gns(fd, 30, A("get_protocol_version"));
    ck_assert(r == em_int(8));

    /* register from the peer (a registrar's call): whereis sees it */
    em_term p = peer_pid(PEER, 40);
    r = call_gns(fd, 31, em_tuple(4, A("register"), A("pname"), em_dup(p), A("method_kept_as_is")));
    ck_assert(r == A("yes"));
    em_term w = em_global_whereis(A("pname"));
    ck_assert(em_equal(w, p));
    em_drop(w);
    r = call_gns(fd, 31, em_tuple(2, A("unregister"), A("pname")));
    ck_assert(r == A("ok"));
    ck_assert(em_global_whereis(A("pname")) == EM_NONE);
    em_drop(p);
    em_drop(ct);
    em_drop(et);
    ck_assert_int_eq(log_count("dropped a malformed message"), 0);
    node_stop(fd);
}
END_TEST

/* The node started (its log read by the test), the peer connected as a
 * visible node, and the node's init_connect to it read: its socket. */
static int peer_up(void)
{
    node_start_logging();
    int fd = peer_dial(PEER, EM__DF_MINE | EM__DF_PUBLISHED);
    ck_assert_int_ge(fd, 0);
    em_term ic = next_msg(fd, EM_NONE, is_cast_of, "init_connect");
    ck_assert(ic != EM_NONE);
    em_drop(ic);
    return fd;
}

/* Malformed messages to global_name_server: one log line each, nothing
 * answered, and the server goes on answering well-formed calls. */
START_TEST(malformed_messages_are_dropped_with_a_log_line)
{
    int fd = peer_up();
    em_term bad[] = {
        A("garbage"),
        /* protocol version 4: OTP's locker would assert on it */
        em_tuple(2, A("$gen_cast"),
                 em_tuple(4, A("init_connect"), em_tuple(2, em_int(4), em_int(1)), A(PEER),
                          em_tuple(4, A("locker"), A("no_longer_a_pid"), EM_NIL, peer_pid(PEER, 7)))),
        em_tuple(2, A("$gen_cast"), em_tuple(4, A("init_connect"), A("notatuple"), A(PEER), A("x"))),
        /* a locker that is no pid */
        em_tuple(2, A("$gen_cast"),
                 em_tuple(4, A("init_connect"), em_tuple(2, em_int(8), em_int(1)), A(PEER),
                          em_tuple(4, A("locker"), A("no_longer_a_pid"), EM_NIL, A("nopid")))),
        em_tuple(2, A("$gen_cast"), em_tuple(5, A("exchange"), A(PEER), A("notalist"), EM_NIL, em_int(1))),
        em_tuple(2, A("$gen_cast"), em_tuple(7, A("resolved"), A(PEER), em_list(1, em_tuple(2, A("insert"), A("bad"))),
                                             EM_NIL, A("unused"), EM_NIL, em_int(1))),
        em_tuple(2, A("$gen_cast"),
                 em_tuple(6, A("new_nodes"), A(PEER), EM_NIL, EM_NIL, em_list(1, em_int(123)), EM_NIL)),
        em_tuple(2, A("$gen_cast"), em_tuple(3, A("unknown_cast"), A(PEER), em_int(1))),
        em_tuple(3, A("$gen_call"), A("notfrom"), em_tuple(2, A("set_lock"), A("x"))),
        em_tuple(3, A("$gen_call"), em_tuple(2, peer_pid(PEER, 50), A("t")), em_tuple(2, A("set_lock"), A("x"))),
        em_tuple(5, A("lost_connection"), em_int(1), em_int(2), em_int(3), em_int(4)),
        em_tuple(2, A("remove_connection"), em_int(5)),
    };
    size_t n = sizeof bad / sizeof bad[0];
    for (size_t i = 0; i < n; i++)
        to_gns(fd, bad[i]);
    /* still serving: and no answer went to <peer.50> before this one */
    em_term r = call_gns(fd, 51, em_tuple(2, A("set_lock"), em_tuple(2, A("r"), A("q"))));
    ck_assert(r == A("true"));
    int64_t end = rt_now_ms() + 5000;
    while (log_count("dropped a malformed message") < (int)n && rt_now_ms() < end)
        usleep(10000);
    ck_assert_int_eq(log_count("global_name_server: dropped a malformed message"), (int)n);
    em_term p50 = peer_pid(PEER, 50);
    /* nothing was sent to <peer.50>: a last call of its own gets the
     * first message addressed to it */
    em_term tag = em_tuple(2, peer_ref(PEER, 950, 3), A(PEERTEST_NODE));
    to_gns(fd, em_tuple(3, A("$gen_call"), em_tuple(2, em_dup(p50), em_dup(tag)), A("get_protocol_version")));
    em_term first = next_msg(fd, p50, any, NULL);
    ck_assert(first != EM_NONE && is_reply_to(first, &tag));
    em_drop(first);
    em_drop(tag);
    em_drop(p50);
    node_stop(fd);
}
END_TEST

/* The locker's pid is known to other nodes (init_connect carries it):
 * what reaches it that is not the server's own (node names that are no
 * atoms, a locker that is no pid of another node) is dropped, and it
 * lives on; the server still answers. */
START_TEST(the_locker_drops_what_is_not_the_servers)
{
    node_start_logging();
    int fd = peer_dial(PEER, EM__DF_MINE | EM__DF_PUBLISHED);
    ck_assert_int_ge(fd, 0);
    em_term ic = next_msg(fd, EM_NONE, is_cast_of, "init_connect"), locker;
    ck_assert(ic != EM_NONE);
    ck_assert_int_eq(em_match("{'$gen_cast', {init_connect, _, _, {locker, _, _, L}}}", ic, &locker), 1);
    locker = em_dup(locker);
    em_drop(ic);
    em_term junk[] = {
        em_tuple(2, A("add_to_known"), em_list(2, em_tuple(1, A("x")), em_int(7))),
        em_tuple(5, A("his_the_locker"), em_int(0), em_int(8), em_int(0), em_int(0)),
        em_tuple(5, A("his_the_locker"), em_dup(locker), em_int(8), em_int(0), em_int(0)),
        em_tuple(2, A("remove_from_known"), em_tuple(1, A("y"))),
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        em_term ctl = em_tuple(3, em_int(2), A(""), em_dup(locker));
        ck_assert_int_eq(peer_send(fd, ctl, junk[i]), 0);
        em_drop(ctl);
        em_drop(junk[i]);
    }
    em_term r = call_gns(fd, 60, A("get_protocol_version"));
    ck_assert(r == em_int(8));
    usleep(1600000); /* past the locker's next turn (1.2 s with two known nodes) */
    ck_assert(em_is_alive(locker));
    em_drop(locker);
    node_stop(fd);
}
END_TEST

/* A hidden node runs no global_name_server, and its global calls say
 * so; -connect_all false and -hidden are parsed. */
START_TEST(a_hidden_node_runs_no_global)
{
    char *argv[] = {"prog", "-sname", "x", "-hidden", "-connect_all", "false", "rest", NULL};
    int argc = 7;
    em_node_opts o;
    em_node_opts_init(&o);
    ck_assert_em_ok(em_node_args(&argc, argv, &o));
    ck_assert(!o.published && !o.connect_all);
    ck_assert_int_eq(argc, 2);
    ck_assert_str_eq(argv[1], "rest");
    epmd_start();
    peertest_opts(&o);
    o.published = false;
    ck_assert_em_ok(em_node_start_opts(&o));
    ck_assert(em_whereis(A("global_name_server")) == EM_NONE);
    em_term other = em_pid(A(PEERTEST_NODE), 1, 0, 0);
    ck_assert_em_err(em_global_register(A("n"), other), EM_ESTATE);
    em_drop(other);
    ck_assert(em_global_whereis(A("n")) == EM_NONE);
    ck_assert_em_err(em_global_sync(100), EM_ESTATE);
    ck_assert_em_ok(em_node_stop());
    em_stop(0);
    ck_assert_int_eq(em_run(), 0);
    epmd_stop();
}
END_TEST

static void sleeper(void *arg)
{
    (void)arg;
    em_receive(EM_INFINITY, "never_sent");
}

/* A process that other nodes registered under two names (as a merge of
 * two clusters can leave it) is refused a third from C, with one log line
 * naming the process and one of its names (check_dupname/2); nothing of
 * the names found is kept (under ASan: the first name found leaked). */
START_TEST(a_process_with_two_names_is_refused_a_third)
{
    int fd = peer_up();
    em_term p = em_spawn(sleeper, NULL);
    /* boxed names: a leaked reference to one shows under ASan */
    em_term r = call_gns(fd, 31, em_tuple(4, A("register"), em_tuple(2, A("x"), em_int(1)), p, A("m")));
    ck_assert(r == A("yes"));
    r = call_gns(fd, 32, em_tuple(4, A("register"), em_tuple(2, A("y"), em_int(2)), p, A("m")));
    ck_assert(r == A("yes"));
    ck_assert_em_err(em_global_register(A("third"), p), EM_EEXIST);
    ck_assert_int_eq(log_count("registered under several names"), 1);
    ck_assert(em_global_whereis(A("third")) == EM_NONE);
    em_exit_pid(p, A("kill"));
    node_stop(fd);
}
END_TEST

/* Names registered from C are found at once, a name goes with its
 * process, and a node stopped and started again has a fresh global (an
 * immediate registration after the start included: the server takes
 * calls before it first runs). */
START_TEST(register_restart_register)
{
    for (int round = 0; round < 3; round++) {
        epmd_start();
        em_node_opts o;
        peertest_opts(&o);
        ck_assert_em_ok(em_node_start_opts(&o));
        em_term p = em_spawn(sleeper, NULL), q = em_spawn(sleeper, NULL);
        ck_assert(em_global_whereis(A("n1")) == EM_NONE); /* nothing left of the last round */
        ck_assert_em_ok(em_global_register(A("n1"), p));
        ck_assert(em_global_whereis(A("n1")) == p);
        ck_assert_em_err(em_global_register(A("n1"), q), EM_EEXIST);
        ck_assert_em_err(em_global_register(A("n2"), p), EM_EEXIST); /* one name a process */
        em_term names = em_global_registered_names();
        ck_assert_int_eq(em_list_length(names), 1);
        em_drop(names);
        ck_assert_em_ok(em_global_sync(5000)); /* no other node: at once */
        em_exit_pid(p, A("kill"));
        int64_t end = rt_now_ms() + 5000;
        while (em_global_whereis(A("n1")) != EM_NONE && rt_now_ms() < end)
            usleep(1000);
        ck_assert(em_global_whereis(A("n1")) == EM_NONE);
        ck_assert_em_ok(em_global_register(A("n1"), q));
        ck_assert_em_ok(em_global_unregister(A("n1")));
        ck_assert(em_global_whereis(A("n1")) == EM_NONE);
        em_exit_pid(q, A("kill"));
        ck_assert_em_ok(em_node_stop());
        epmd_stop();
    }
    em_stop(0);
    ck_assert_int_eq(em_run(), 0);
}
END_TEST

static Suite *global_suite(void)
{
    Suite *s = suite_create("global");
    TCase *tc = tcase_create("global");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, init_connect_and_tags_echoed);
    tcase_add_test(tc, the_locker_drops_what_is_not_the_servers);
    tcase_add_test(tc, malformed_messages_are_dropped_with_a_log_line);
    tcase_add_test(tc, a_hidden_node_runs_no_global);
    tcase_add_test(tc, register_restart_register);
    tcase_add_test(tc, a_process_with_two_names_is_refused_a_third);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(global_suite)
