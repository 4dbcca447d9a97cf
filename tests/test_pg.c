/* test_pg.c: process groups (net/pg.c, <ember/pg.h>): the member table
 * through the public calls on one node (joins, leaves, not_joined, a
 * member's exit, readers on other threads), and a scope's side of pg.erl's
 * protocol with a peer scope of the test's own that sends hand-made
 * packets (peertest.h): discover (both forms), sync, join, leave, what the
 * scope sends back and when, malformed messages dropped, and a lost
 * connection taking the peer's members away. */
#include <pthread.h>

#include "peertest.h"
#include "rttest.h"

#define A(s) em_atom(s)

static long len(em_term l)
{
    long n = em_list_length(l);
    em_drop(l);
    return n;
}

/* Whether list l (borrowed) holds x exactly k times. */
static bool holds(em_term l, em_term x, int k)
{
    int n = 0;
    for (; em_typeof(l) == EM_TYPE_LIST; l = em_tl(l))
        n += em_equal(em_hd(l), x);
    return n == k;
}

static bool members_hold(em_term scope, em_term group, em_term x, int k)
{
    em_term l = em_pg_get_members(scope, group);
    bool r = holds(l, x, k);
    em_drop(l);
    return r;
}

/* em_pg_join / em_pg_leave taking their pids (a list made for the call). */
static int join_t(em_term scope, em_term group, em_term pids)
{
    int rc = em_pg_join(scope, group, pids);
    em_drop(pids);
    return rc;
}

static int leave_t(em_term scope, em_term group, em_term pids)
{
    int rc = em_pg_leave(scope, group, pids);
    em_drop(pids);
    return rc;
}

/* Waits for a message and ends (a member that exits when told). */
static void member_main(void *arg)
{
    (void)arg;
    em_term m;
    em_receive_any(30000, &m);
}

static void noop_main(void *arg)
{
    (void)arg;
}

/* ---- one node, no distribution ---- */

static _Atomic int thread_ok;

static int reader_thread(void *arg)
{
    em_term member = (em_term)(uintptr_t)arg;
    /* a thread that is not a process: it joins (blocking) and reads */
    int ok = em_pg_join(A("s1"), A("from_thread"), member) == 0 &&
             members_hold(A("s1"), A("from_thread"), member, 1);
    atomic_store(&thread_ok, ok);
    return 0;
}

static void local_main(void *arg)
{
    (void)arg;
    em_term s1 = A("s1"), g = A("g"), g2 = em_tuple(2, A("any"), em_int(1));
    CHECK(em_pg_start(s1) == 0);
    CHECK(em_pg_start(s1) == EM_EEXIST);
    CHECK(em_pg_start(em_int(1)) == EM_EBADARG);
    CHECK(len(em_pg_which_groups(s1)) == 0);
    em_term a = em_spawn(member_main, NULL), b = em_spawn(member_main, NULL);
    CHECK(em_pg_join(s1, g, a) == 0);
    CHECK(join_t(s1, g, em_list(2, a, b)) == 0); /* a twice */
    CHECK(members_hold(s1, g, a, 2) && members_hold(s1, g, b, 1));
    em_term loc = em_pg_get_local_members(s1, g);
    CHECK(em_list_length(loc) == 3);
    em_drop(loc);
    CHECK(em_pg_join(s1, g2, b) == 0);
    CHECK(len(em_pg_which_groups(s1)) == 2);
    /* errors */
    em_term remote = em_pid(A("other@host"), 5, 0, 3);
    CHECK(em_pg_join(s1, g, remote) == EM_EBADARG);
    CHECK(join_t(s1, g, em_list(2, a, A("x"))) == EM_EBADARG);
    CHECK(join_t(s1, g, em_list(1, em_list(1, a))) == EM_EBADARG); /* a list of lists */
    CHECK(em_pg_join(A("nosuchscope"), g, a) == EM_ENOPROC);
    CHECK(len(em_pg_get_members(A("nosuchscope"), g)) == 0);
    CHECK(em_pg_join(s1, A("empty"), EM_NIL) == 0);
    CHECK(len(em_pg_get_members(s1, A("empty"))) == 0 && len(em_pg_which_groups(s1)) == 2);
    /* leaves: once per join; not_joined */
    CHECK(em_pg_leave(s1, g, a) == 0);
    CHECK(members_hold(s1, g, a, 1));
    CHECK(len(em_pg_get_local_members(s1, g)) == 2);
    CHECK(em_pg_leave(s1, A("never"), a) == EM_ENOTFOUND);
    CHECK(em_pg_leave(s1, g2, a) == EM_ENOTFOUND);
    CHECK(leave_t(s1, g, em_list(2, a, b)) == 0);
    CHECK(len(em_pg_get_members(s1, g)) == 0);
    CHECK(em_pg_leave(s1, g, a) == EM_ENOTFOUND);
    CHECK(len(em_pg_which_groups(s1)) == 1); /* g is gone, g2 stays */
    /* a member that exits leaves every group, each join */
    CHECK(join_t(s1, g, em_list(2, b, b)) == 0);
    CHECK(members_hold(s1, g, b, 2));
    em_send(b, A("stop"));
    int64_t end = rt_now_ms() + 5000;
    while (len(em_pg_which_groups(s1)) != 0 && rt_now_ms() < end)
        em_sleep(5);
    CHECK(len(em_pg_which_groups(s1)) == 0);
    /* a pid that is not alive joins and is gone at once */
    em_term dead = em_spawn(noop_main, NULL);
    em_sleep(20);
    CHECK(em_pg_join(s1, g, dead) == 0);
    end = rt_now_ms() + 5000;
    while (len(em_pg_get_members(s1, g)) != 0 && rt_now_ms() < end)
        em_sleep(5);
    CHECK(len(em_pg_get_members(s1, g)) == 0);
    /* another thread joins and reads */
    CHECK(em_blocking(reader_thread, (void *)(uintptr_t)a) == 0);
    CHECK(atomic_load(&thread_ok) == 1);
    /* the scope ends: its table with it */
    em_term sp = em_whereis(s1);
    em_exit_pid(sp, A("kill"));
    em_sleep(50);
    CHECK(len(em_pg_get_members(s1, A("from_thread"))) == 0);
    CHECK(em_pg_start(s1) == 0); /* and starts again */
    CHECK(len(em_pg_which_groups(s1)) == 0);
    em_exit_pid(em_whereis(s1), A("kill"));
    em_send(a, A("stop"));
    em_drop(remote);
    em_drop(g2);
}

START_TEST(the_member_table_follows_joins_leaves_and_exits)
{
    rt_start(2);
    em_spawn(local_main, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 36);
}
END_TEST

/* ---- a peer scope on the wire ---- */

#define PEER "peer@localhost"

static void send_to(int fd, em_term to, em_term msg)
{
    em_term ctl = em_typeof(to) == EM_TYPE_ATOM ? em_tuple(4, em_int(6), peer_pid(PEER, 9), A(""), to)
                                                : em_tuple(3, em_int(2), A(""), em_dup(to));
    ck_assert_int_eq(peer_send(fd, ctl, msg), 0);
    em_drop(ctl);
    em_drop(msg);
}

/* The next frame whose message matches pattern (frames before it are
 * skipped; their control messages are counted in *skipped when not NULL):
 * its message (owned), with its control message in *ctl (owned) if ctl is
 * not NULL. */
static em_term expect_msg(int fd, const char *pattern, em_term *ctl, int *skipped)
{
    for (int i = 0; i < 20; i++) {
        em_term c, m;
        ck_assert_msg(peer_recv(fd, &c, &m) == 0, "no frame matching %s", pattern);
        if (m != EM_NONE && em_match(pattern, m) == 1) {
            if (ctl)
                *ctl = c;
            else
                em_drop(c);
            return m;
        }
        if (skipped)
            (*skipped)++;
        em_drop(c);
        em_drop(m);
    }
    ck_abort_msg("no frame matching %s", pattern);
    return EM_NONE;
}

/* No frame comes within ms (reads with a short timeout). */
static bool quiet_for(int fd, int ms)
{
    struct timeval tv = {0, ms * 1000}, back = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    em_term c, m;
    int rc = peer_recv(fd, &c, &m);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &back, sizeof back);
    if (rc == 0) {
        em_drop(c);
        em_drop(m);
    }
    return rc != 0;
}

static bool wait_for(em_term scope, em_term group, em_term x, int k)
{
    int64_t end = rt_now_ms() + 5000;
    while (!members_hold(scope, group, x, k) && rt_now_ms() < end)
        usleep(2000);
    return members_hold(scope, group, x, k);
}

START_TEST(a_scope_speaks_pg_with_a_peer_scope)
{
    peertest_node_start();
    em_term pg = A("pg"), g1 = A("g1"), g2 = A("g2"), g3 = A("g3");
    em_term S = EM_NONE;
    for (int i = 0; i < 500 && (S = em_whereis(pg)) == EM_NONE; i++)
        usleep(2000);
    ck_assert(S != EM_NONE);
    em_term L = em_spawn(member_main, NULL), L2 = em_spawn(member_main, NULL);
    ck_assert_em_ok(em_pg_join(pg, g1, L));

    /* a hidden peer (as erl_call) is sent nothing; a published one gets
     * the scope's discover by name */
    int hfd = peer_dial("hidden@localhost", EM__DF_MINE);
    ck_assert_int_ge(hfd, 0);
    ck_assert(quiet_for(hfd, 300));
    close(hfd);
    int fd = peer_dial(PEER, EM__DF_MINE | EM__DF_PUBLISHED);
    ck_assert_int_ge(fd, 0);
    em_term ctl, m = expect_msg(fd, "{discover, _}", &ctl, NULL);
    ck_assert(em_tuple_get(m, 1) == S);
    ck_assert(em_tuple_size(ctl) == 4 && em_tuple_get(ctl, 0) == em_int(6) && em_tuple_get(ctl, 3) == pg);
    em_drop(ctl);
    em_drop(m);

    /* our discover: the sync with the local groups, a monitor, the
     * scope's discover to our pid */
    em_term P = peer_pid(PEER, 1), P1 = peer_pid(PEER, 11), P2 = peer_pid(PEER, 12), P3 = peer_pid(PEER, 13),
            P4 = peer_pid(PEER, 14);
    send_to(fd, S, em_tuple(2, A("discover"), em_dup(P)));
    m = expect_msg(fd, "{'$gen_cast', {sync, _, _}}", &ctl, NULL);
    em_term want = em_list(1, em_tuple(2, g1, em_list(1, L)));
    ck_assert(em_equal(em_tuple_get(em_tuple_get(m, 1), 2), want));
    ck_assert(em_equal(em_tuple_get(ctl, 2), P)); /* to P */
    em_drop(want);
    em_drop(ctl);
    em_drop(m);
    em_drop(expect_msg(fd, "{discover, _}", &ctl, NULL));
    ck_assert(em_equal(em_tuple_get(ctl, 2), P));
    em_drop(ctl);

    /* its members */
    send_to(fd, S, em_tuple(2, A("$gen_cast"),
                            em_tuple(3, A("sync"), em_dup(P),
                                     em_list(2, em_tuple(2, g1, em_list(1, em_dup(P1))),
                                             em_tuple(2, g2, em_list(2, em_dup(P2), em_dup(P3)))))));
    ck_assert(wait_for(pg, g1, P1, 1) && members_hold(pg, g1, L, 1));
    ck_assert(members_hold(pg, g2, P2, 1) && members_hold(pg, g2, P3, 1));
    em_term loc = em_pg_get_local_members(pg, g1);
    ck_assert(em_list_length(loc) == 1 && em_hd(loc) == L);
    em_drop(loc);
    send_to(fd, S, em_tuple(4, A("join"), em_dup(P), g2, em_dup(P4)));
    ck_assert(wait_for(pg, g2, P4, 1));
    send_to(fd, S, em_tuple(4, A("leave"), em_dup(P), em_list(1, em_dup(P2)), em_list(1, g2)));
    ck_assert(wait_for(pg, g2, P2, 0) && members_hold(pg, g2, P3, 1));

    /* malformed or unknown: dropped, the scope lives on; a leave for a
     * group it never announced changes nothing */
    send_to(fd, S, em_tuple(2, A("discover"), A("notapid")));
    send_to(fd, S, em_tuple(4, A("join"), em_dup(P), g3, A("notapid")));
    send_to(fd, S, em_tuple(4, A("join"), em_dup(P), g3, em_list(1, em_int(1))));
    send_to(fd, S, em_tuple(4, A("join"), em_dup(P), g3, em_list(1, em_list(1, em_dup(P4)))));
    em_term deep = em_list(1, em_dup(P4)); /* [[[...[P4]...]]]: not walked */
    for (int i = 0; i < 200000; i++)
        deep = em_list(1, deep);
    send_to(fd, S, em_tuple(4, A("join"), em_dup(P), g3, deep));
    send_to(fd, S, em_tuple(4, A("leave"), em_dup(P), em_dup(P1), A("notalist")));
    send_to(fd, S, em_tuple(4, A("leave"), em_dup(P), em_dup(P1), em_list(1, A("nogroup"))));
    send_to(fd, S, em_tuple(2, A("$gen_cast"), em_tuple(3, A("sync"), em_dup(P), A("bad"))));
    send_to(fd, S, em_tuple(2, A("$gen_cast"), em_tuple(3, A("sync"), em_dup(P), em_list(1, A("bad")))));
    send_to(fd, S, em_tuple(2, A("$gen_cast"), A("whatever")));
    send_to(fd, S, em_tuple(3, A("$gen_call"), em_tuple(2, em_dup(P), A("tag")), A("monitor")));
    send_to(fd, S, A("garbage"));
    /* a call it does not answer is answered {error, badarg} */
    m = expect_msg(fd, "{tag, _}", NULL, NULL);
    ck_assert(em_match("{tag, {error, badarg}}", m) == 1);
    em_drop(m);
    /* OTP 26's discover: accepted (a known peer: the sync only) */
    send_to(fd, S, em_tuple(3, A("discover"), em_dup(P), em_int(1)));
    em_drop(expect_msg(fd, "{'$gen_cast', {sync, _, _}}", NULL, NULL));
    ck_assert(em_whereis(pg) == S);
    ck_assert(members_hold(pg, g1, P1, 1) && len(em_pg_get_members(pg, g3)) == 0);
    ck_assert(members_hold(pg, g2, P3, 1) && members_hold(pg, g2, P4, 1));

    /* local changes reach the peer as pg.erl sends them */
    ck_assert_em_ok(em_pg_join(pg, g3, L2));
    m = expect_msg(fd, "{join, _, _, _}", NULL, NULL);
    want = em_tuple(4, A("join"), S, g3, L2);
    ck_assert(em_equal(m, want));
    em_drop(want);
    em_drop(m);
    ck_assert_em_ok(leave_t(pg, g3, em_list(1, L2)));
    m = expect_msg(fd, "{leave, _, _, _}", NULL, NULL);
    want = em_tuple(4, A("leave"), S, em_list(1, L2), em_list(1, g3));
    ck_assert(em_equal(m, want));
    em_drop(want);
    em_drop(m);
    ck_assert_em_err(em_pg_leave(pg, g3, L2), EM_ENOTFOUND);
    ck_assert(quiet_for(fd, 200)); /* not_joined: nothing sent */
    em_send(L, A("stop")); /* a member exits */
    m = expect_msg(fd, "{leave, _, _, _}", NULL, NULL);
    want = em_tuple(4, A("leave"), S, L, em_list(1, g1));
    ck_assert(em_equal(m, want));
    em_drop(want);
    em_drop(m);

    /* a new sync replaces what the peer had */
    send_to(fd, S, em_tuple(2, A("$gen_cast"),
                            em_tuple(3, A("sync"), em_dup(P), em_list(1, em_tuple(2, g2, em_list(1, em_dup(P3)))))));
    ck_assert(wait_for(pg, g2, P4, 0));
    ck_assert(members_hold(pg, g2, P3, 1) && len(em_pg_get_members(pg, g1)) == 0);

    /* a second peer scope that syncs before any discover is sent our sync
     * at once (so a later leave never names a group it was not told of) */
    em_term Q = peer_pid(PEER, 2);
    send_to(fd, S, em_tuple(2, A("$gen_cast"), em_tuple(3, A("sync"), em_dup(Q), EM_NIL)));
    m = expect_msg(fd, "{'$gen_cast', {sync, _, _}}", &ctl, NULL);
    ck_assert(em_equal(em_tuple_get(ctl, 2), Q));
    em_drop(ctl);
    em_drop(m);

    /* the connection is lost: the peer's members go (noconnection) */
    close(fd);
    int64_t end = rt_now_ms() + 5000;
    while (len(em_pg_which_groups(pg)) != 0 && rt_now_ms() < end)
        usleep(2000);
    ck_assert_int_eq(len(em_pg_which_groups(pg)), 0);
    ck_assert(em_whereis(pg) == S);

    em_send(L2, A("stop"));
    ck_assert_em_ok(em_node_stop());
    ck_assert_int_eq(em_run(), 0);
    em_drop(P);
    em_drop(P1);
    em_drop(P2);
    em_drop(P3);
    em_drop(P4);
    em_drop(Q);
    epmd_stop();
}
END_TEST

static Suite *pg_suite(void)
{
    Suite *s = suite_create("pg");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, the_member_table_follows_joins_leaves_and_exits);
    suite_add_tcase(s, tc);
    tc = tcase_create("wire");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_scope_speaks_pg_with_a_peer_scope);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(pg_suite)
