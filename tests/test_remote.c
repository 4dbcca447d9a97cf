/* test_remote.c: the runtime's side of the seam with the distribution
 * (runtime/remote.c), with a fake table of ops in place of net/: how a
 * destination is classified, what reaches the ops and with which
 * destination, what a process gets when a node is unreachable or goes
 * down, what a process's death sends, and the deferred flush. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "remote.h"
#include "rttest.h"
#include "rt.h"

#define A(s) em_atom(s)

/* ---- a fake distribution layer ---- */

enum { F_SEND, F_LINK, F_UNLINK, F_EXIT, F_MONITOR, F_DEMONITOR, F_DOWN, F_N };

/* What the last call of each op received (dup'd), and how many calls. */
typedef struct call {
    _Atomic int n;
    em_term from, pid, name, node, ref, reason, msg, alias;
    bool exit2;
} call;

static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static call calls[F_N];
static int fake_rc; /* what link and monitor answer */

static void record(int op, em_term from, const em__dest *to, em_term ref, em_term reason, em_term msg, bool exit2)
{
    pthread_mutex_lock(&fake_lock);
    call *c = &calls[op];
    em_drop(c->from); /* the previous call's (0, EM_NONE: nothing) */
    em_drop(c->pid);
    em_drop(c->ref);
    em_drop(c->reason);
    em_drop(c->msg);
    em_drop(c->alias);
    c->from = em_dup(from);
    c->alias = em_dup(to->alias);
    c->pid = em_dup(to->pid);
    c->name = to->name;
    c->node = to->node;
    c->ref = em_dup(ref);
    c->reason = em_dup(reason);
    c->msg = msg; /* taken */
    c->exit2 = exit2;
    atomic_fetch_add(&c->n, 1);
    pthread_mutex_unlock(&fake_lock);
}

static int f_send(const em__dest *to, em_term msg)
{
    record(F_SEND, EM_NONE, to, EM_NONE, EM_NONE, msg, false);
    return 0;
}
static int f_link(em_term from, const em__dest *to)
{
    record(F_LINK, from, to, EM_NONE, EM_NONE, EM_NONE, false);
    return fake_rc;
}
static int f_unlink(em_term from, const em__dest *to)
{
    record(F_UNLINK, from, to, EM_NONE, EM_NONE, EM_NONE, false);
    return 0;
}
static void *defer_at_exit; /* f_exit defers it (as net's exit at death does) */
static _Atomic int defer_at_exit_rc;
static _Atomic int flushed_at_exit; /* nflushed when f_exit ran */
static _Atomic int nflushed;

static int f_exit(em_term from, const em__dest *to, em_term reason, bool exit2)
{
    record(F_EXIT, from, to, EM_NONE, reason, EM_NONE, exit2);
    if (defer_at_exit) {
        atomic_store(&flushed_at_exit, atomic_load(&nflushed));
        atomic_store(&defer_at_exit_rc, em__remote_defer(defer_at_exit));
    }
    return 0;
}
static int f_monitor(em_term from, const em__dest *target, em_term ref)
{
    record(F_MONITOR, from, target, ref, EM_NONE, EM_NONE, false);
    return fake_rc;
}
static int f_demonitor(em_term from, const em__dest *target, em_term ref)
{
    record(F_DEMONITOR, from, target, ref, EM_NONE, EM_NONE, false);
    return 0;
}
static int f_down(em_term from, const em__dest *to, em_term ref, em_term reason)
{
    record(F_DOWN, from, to, ref, reason, EM_NONE, false);
    return 0;
}

/* Flushes: which connection, in which process, in order. */
static void *flushed[64];
static em_term flushed_in[64];

static void f_flush(void *conn)
{
    int i = atomic_fetch_add(&nflushed, 1);
    if (i < 64) {
        flushed[i] = conn;
        flushed_in[i] = em_self();
    }
}

/* Designated: the ops the runtime may leave NULL stay NULL here. */
static const em__remote_ops fake = {.send = f_send, .link = f_link, .unlink = f_unlink, .exit = f_exit,
                                    .monitor = f_monitor, .demonitor = f_demonitor, .down = f_down,
                                    .flush = f_flush};

static em_term other_node(void)
{
    return A("other@host");
}

static em_term remote_pid(void)
{
    return em_pid(other_node(), 7, 1, 3);
}

/* ---- classification ---- */

START_TEST(a_destination_is_classified_by_what_it_names)
{
    uint32_t cr;
    em_term here = em_local_node(&cr);
    em__dest d;
    em_term lp = em_pid(here, 5, 1, cr);
    ck_assert_int_eq(em__dest_classify(lp, &d), EM__DEST_LOCAL_PID);
    ck_assert(d.pid == lp && d.name == EM_NONE && d.node == EM_NONE);

    ck_assert_int_eq(em__dest_classify(A("srv"), &d), EM__DEST_LOCAL_NAME);
    ck_assert(d.name == A("srv") && d.pid == EM_NONE);

    em_term t = em_tuple(2, A("srv"), here);
    ck_assert_int_eq(em__dest_classify(t, &d), EM__DEST_LOCAL_NAME);
    ck_assert(d.name == A("srv") && d.node == EM_NONE);
    em_drop(t);

    t = em_tuple(2, A("srv"), other_node());
    ck_assert_int_eq(em__dest_classify(t, &d), EM__DEST_REMOTE_NAME);
    ck_assert(d.name == A("srv") && d.node == other_node() && d.pid == EM_NONE);
    em_drop(t);

    em_term rp = remote_pid();
    ck_assert_int_eq(em__dest_classify(rp, &d), EM__DEST_REMOTE_PID);
    ck_assert(d.pid == rp && d.node == other_node() && d.name == EM_NONE);
    em_drop(rp);

    /* References: aliases, of this node or another, or of an earlier
     * incarnation of this node (remote, with this node's name: stale). */
    uint32_t w[5] = {1, 2, 3, 4, 5};
    em_term lr = em_ref(here, cr, w, 5);
    ck_assert_int_eq(em__dest_classify(lr, &d), EM__DEST_LOCAL_ALIAS);
    ck_assert(d.alias == lr && d.pid == EM_NONE && d.node == EM_NONE);
    em_term rr = em_ref(other_node(), 4, w, 3);
    ck_assert_int_eq(em__dest_classify(rr, &d), EM__DEST_REMOTE_ALIAS);
    ck_assert(d.alias == rr && d.node == other_node() && d.pid == EM_NONE);
    em_term sr = em_ref(here, cr + 1, w, 5);
    ck_assert_int_eq(em__dest_classify(sr, &d), EM__DEST_REMOTE_ALIAS);
    ck_assert(d.node == here);
    em_drop(lr);
    em_drop(rr);
    em_drop(sr);

    em_term bad[] = {em_int(42), em_tuple(1, A("srv")), em_tuple(2, em_int(1), other_node()),
                     em_tuple(3, A("srv"), other_node(), A("x")), em_tuple(2, lp, here)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(em__dest_classify(bad[i], &d), EM__DEST_BAD);
        em_drop(bad[i]);
    }
}
END_TEST

/* ---- outbound ---- */

static void no_node(void *arg)
{
    (void)arg;
    em_term rp = remote_pid(), rn = em_tuple(2, A("srv"), other_node());
    CHECK(em_send(rp, A("x")) == EM_ENOTSUP);
    CHECK(em_send(rn, A("x")) == EM_ENOTSUP);
    CHECK(em_link(rp) == EM_ENOTSUP);
    CHECK(em_monitor(rn) == EM_NONE);
    CHECK(em_exit_pid(rp, A("bye")) == EM_ENOTSUP);
    CHECK(em__remote_defer(&rp) == -1); /* nothing to flush with */
    em_drop(rp);
    em_drop(rn);
}

START_TEST(without_ops_a_remote_destination_is_not_supported)
{
    rt_start(1);
    em_spawn(no_node, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 6);
    for (int i = 0; i < F_N; i++)
        ck_assert_int_eq(calls[i].n, 0);
}
END_TEST

static void sends(void *arg)
{
    (void)arg;
    uint32_t cr;
    em_term here = em_local_node(&cr);
    em_term rp = remote_pid(), rn = em_tuple(2, A("srv"), other_node());
    CHECK(em_send(rn, A("by_name")) == 0);
    CHECK(calls[F_SEND].n == 1 && calls[F_SEND].name == A("srv") && calls[F_SEND].pid == EM_NONE &&
          calls[F_SEND].node == other_node() && calls[F_SEND].msg == A("by_name"));
    CHECK(em_send(rp, A("by_pid")) == 0);
    CHECK(calls[F_SEND].n == 2 && em_equal(calls[F_SEND].pid, rp) && calls[F_SEND].node == other_node());
    uint32_t w[5] = {1, 2, 3, 4, 5};
    em_term rr = em_ref(other_node(), 4, w, 3);
    CHECK(em_send(rr, A("by_alias")) == 0);
    CHECK(calls[F_SEND].n == 3 && em_equal(calls[F_SEND].alias, rr) && calls[F_SEND].node == other_node() &&
          calls[F_SEND].pid == EM_NONE && calls[F_SEND].name == EM_NONE);
    em_drop(rr);
    /* An alias of an earlier incarnation of this node: nobody to send to. */
    em_term sr = em_ref(here, cr + 1, w, 5);
    CHECK(em_send(sr, A("lost")) == 0 && calls[F_SEND].n == 3);
    em_drop(sr);
    /* A pid of an earlier incarnation of this node: nobody to send to; a
     * link or a monitor gets noproc, as for any process that is gone. */
    em_term stale = em_pid(here, 9, 1, cr + 1);
    CHECK(em_send(stale, A("lost")) == 0);
    CHECK(em_link(stale) == EM_ENOPROC);
    em_term smref = em_monitor(stale), why;
    CHECK(em_receive_ref(1000, smref, "{'DOWN', Ref, process, _, Why}", &why) == 0 && why == A("noproc"));
    em_drop(smref);
    CHECK(calls[F_SEND].n == 3 && calls[F_LINK].n == 0 && calls[F_MONITOR].n == 0);
    em_drop(stale);

    CHECK(em_link(rp) == 0);
    CHECK(calls[F_LINK].n == 1 && calls[F_LINK].from == em_self() && em_equal(calls[F_LINK].pid, rp));
    CHECK(em_unlink(rp) == 0);
    CHECK(calls[F_UNLINK].n == 1 && em_equal(calls[F_UNLINK].pid, rp));
    CHECK(em_exit_pid(rp, A("bye")) == 0);
    CHECK(calls[F_EXIT].n == 1 && calls[F_EXIT].exit2 && calls[F_EXIT].reason == A("bye"));

    em_term ref = em_monitor(rn);
    CHECK(ref != EM_NONE);
    CHECK(calls[F_MONITOR].n == 1 && calls[F_MONITOR].name == A("srv") && calls[F_MONITOR].node == other_node() &&
          em_equal(calls[F_MONITOR].ref, ref));
    CHECK(em_demonitor(ref, 0) == 1);
    CHECK(calls[F_DEMONITOR].n == 1 && calls[F_DEMONITOR].name == A("srv") &&
          em_equal(calls[F_DEMONITOR].ref, ref));
    em_drop(ref);
    em_drop(rp);
    em_drop(rn);
}

START_TEST(what_goes_to_another_node_reaches_the_ops_classified)
{
    rt_start(1);
    em__remote_install(&fake);
    em_spawn(sends, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 21);
    /* Nothing else was sent, and the process's death told nobody (it
     * unlinked, demonitored). */
    ck_assert_int_eq(calls[F_EXIT].n, 1);
    ck_assert_int_eq(calls[F_DOWN].n, 0);
}
END_TEST

static void unreachable(void *arg)
{
    (void)arg;
    em_term rp = remote_pid();
    CHECK(em_link(rp) == EM_ENOPROC); /* not trapping: the error */
    em_trap_exit(true);
    CHECK(em_link(rp) == 0);
    em_term who, r;
    CHECK(em_receive(1000, "{'EXIT', P, noconnection}", &who) == 0 && em_equal(who, rp));
    em_term ref = em_monitor(rp);
    CHECK(ref != EM_NONE);
    CHECK(em_receive(1000, "{'DOWN', R, process, P, noconnection}", &r, &who) == 0 && em_equal(r, ref) &&
          em_equal(who, rp));
    em_drop(ref);
    em_drop(rp);
}

START_TEST(an_unreachable_node_gives_noconnection)
{
    rt_start(1);
    fake_rc = EM_ECLOSED;
    em__remote_install(&fake);
    em_spawn(unreachable, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 5);
    ck_assert_int_eq(calls[F_LINK].n, 2);
    ck_assert_int_eq(calls[F_MONITOR].n, 1);
}
END_TEST

/* ---- inbound ---- */

static void linked_from_afar(void *arg)
{
    (void)arg;
    em_term m;
    CHECK(em_receive_any(5000, &m) == 0 && m == A("go")); /* the LINK and MONITOR came before */
    em_exit(A("bye"));
}

START_TEST(a_death_tells_the_remote_links_and_monitors)
{
    rt_start(1);
    em__remote_install(&fake);
    em_term p = em_spawn(linked_from_afar, NULL);
    em_term rp = remote_pid();
    em_term ref = em_make_ref();
    ck_assert_em_ok(em__remote_deliver(p, EM__RSIG_LINK, em_dup(rp), EM_NONE, EM_NONE));
    ck_assert_em_ok(em__remote_deliver(p, EM__RSIG_MONITOR, em_dup(rp), em_dup(ref), EM_NONE));
    /* Not a local process: refused, so that net answers noproc. */
    ck_assert_em_err(em__remote_deliver(rp, EM__RSIG_LINK, em_dup(rp), EM_NONE, EM_NONE), EM_ENOPROC);
    ck_assert_em_err(em__remote_deliver(A("nobody"), EM__RSIG_MONITOR, em_dup(rp), em_dup(ref), EM_NONE),
                     EM_ENOPROC);
    em_send(p, A("go"));
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 1);
    /* At its death, on the scheduler's stack: EXIT to the link, DOWN to
     * the monitor. */
    ck_assert_int_eq(calls[F_EXIT].n, 1);
    ck_assert(calls[F_EXIT].from == p && em_equal(calls[F_EXIT].pid, rp) && !calls[F_EXIT].exit2 &&
              calls[F_EXIT].reason == A("bye"));
    ck_assert_int_eq(calls[F_DOWN].n, 1);
    ck_assert(calls[F_DOWN].from == p && em_equal(calls[F_DOWN].pid, rp) && em_equal(calls[F_DOWN].ref, ref) &&
              calls[F_DOWN].reason == A("bye"));
    em_drop(rp);
    em_drop(ref);
}
END_TEST

static void named_from_afar(void *arg)
{
    (void)arg;
    em_register(A("named"), em_self());
    em_receive(5000, "go");
    em_exit(A("bye"));
}

/* A remote monitor by name is told by name (MONITOR_P_EXIT's first
 * element the atom, as OTP sends it: the holder's DOWN then says {Name,
 * Node}); one by pid of the same process, by pid. */
START_TEST(a_monitor_by_name_is_told_by_name)
{
    rt_start(1);
    em__remote_install(&fake);
    em_term p = em_spawn(named_from_afar, NULL);
    while (em_whereis(A("named")) == EM_NONE)
        ;
    em_term rp = remote_pid();
    em_term ref = em_make_ref();
    ck_assert_em_ok(em__remote_deliver(A("named"), EM__RSIG_MONITOR, em_dup(rp), em_dup(ref), EM_NONE));
    em_send(p, A("go"));
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(calls[F_DOWN].n, 1);
    ck_assert(calls[F_DOWN].from == A("named") && em_equal(calls[F_DOWN].pid, rp) &&
              em_equal(calls[F_DOWN].ref, ref) && calls[F_DOWN].reason == A("bye"));
    em_drop(rp);
    em_drop(ref);
}
END_TEST

static void node_goes_down(void *arg)
{
    (void)arg;
    em_term rp = remote_pid(), rn = em_tuple(2, A("srv"), other_node());
    em_trap_exit(true);
    CHECK(em_link(rp) == 0);
    em_term ref = em_monitor(rn);
    CHECK(ref != EM_NONE);
    em__remote_node_down(A("elsewhere@host")); /* not ours: nothing */
    em__remote_node_down(other_node());
    em_term who, r, node;
    CHECK(em_receive(1000, "{'EXIT', P, noconnection}", &who) == 0 && em_equal(who, rp));
    CHECK(em_receive(1000, "{'DOWN', R, process, {srv, N}, noconnection}", &r, &node) == 0 && em_equal(r, ref) &&
          node == other_node());
    em_term m;
    CHECK(em_receive_any(50, &m) == EM_ETIMEDOUT); /* once each */
    em_drop(ref);
    em_drop(rp);
    em_drop(rn);
}

START_TEST(a_node_down_breaks_the_links_and_monitors_across_it)
{
    rt_start(1);
    em__remote_install(&fake);
    em_spawn(node_goes_down, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 5);
    ck_assert_int_eq(calls[F_EXIT].n, 0); /* the link was gone at death */
}
END_TEST

static em_term inbox_alias;

static void receiver(void *arg)
{
    (void)arg;
    inbox_alias = em_alias();
    em_register(A("inbox"), em_self());
    CHECK(em_receive(5000, "by_name") == 0);
    CHECK(em_receive(5000, "by_pid") == 0);
    CHECK(em_receive(5000, "by_alias") == 0);
    em_drop(inbox_alias);
}

START_TEST(a_message_from_afar_reaches_a_local_pid_or_name_only)
{
    rt_start(1);
    em_term p = em_spawn(receiver, NULL);
    while (em_whereis(A("inbox")) == EM_NONE)
        ;
    em_term rp = remote_pid();
    ck_assert_em_err(em__remote_deliver_msg(rp, A("lost")), EM_ENOPROC);
    ck_assert_em_err(em__remote_deliver_msg(A("nobody"), A("lost")), EM_ENOPROC);
    ck_assert_em_ok(em__remote_deliver_msg(A("inbox"), A("by_name")));
    ck_assert_em_ok(em__remote_deliver_msg(p, A("by_pid")));
    /* an alias of a process here; a reference of another node is not for
     * this node to forward */
    ck_assert_em_ok(em__remote_deliver_msg(inbox_alias, A("by_alias")));
    uint32_t w[5] = {1, 2, 3, 4, 5};
    em_term rr = em_ref(other_node(), 4, w, 5);
    ck_assert_em_err(em__remote_deliver_msg(rr, A("lost")), EM_ENOPROC);
    em_drop(rr);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 3);
    em_drop(rp);
}
END_TEST

/* ---- the deferred flush ---- */

static int conns[12];

static void defers(void *arg)
{
    (void)arg;
    CHECK(em__remote_defer(&conns[0]) == 1);
    CHECK(em__remote_defer(&conns[0]) == 0); /* once on the list */
    CHECK(em__remote_defer(&conns[1]) == 1);
    CHECK(nflushed == 0); /* not while it runs */
    em_term m;
    CHECK(em_receive_any(10, &m) == EM_ETIMEDOUT); /* it waited */
    CHECK(nflushed == 2 && flushed[0] == &conns[0] && flushed[1] == &conns[1]);
    CHECK(flushed_in[0] == em_self() && flushed_in[1] == em_self()); /* in its context */
    /* A full list: the next connection is written at once. */
    for (int i = 0; i < EM__DEFER_MAX; i++)
        CHECK(em__remote_defer(&conns[2 + i]) == 1);
    CHECK(em__remote_defer(&conns[11]) == -1);
    em_yield();
    CHECK(nflushed == 2 + EM__DEFER_MAX);
    /* Deferred while the node runs, flushed though it stopped meanwhile. */
    CHECK(em__remote_defer(&conns[0]) == 1);
    em__remote_install(NULL);
    CHECK(em__remote_defer(&conns[0]) == 0);  /* on the list still */
    CHECK(em__remote_defer(&conns[1]) == -1); /* no ops: at once */
    em_sleep(1);
    CHECK(nflushed == 3 + EM__DEFER_MAX && flushed[2 + EM__DEFER_MAX] == &conns[0]);
}

START_TEST(output_deferred_in_a_run_is_flushed_as_the_process_stops)
{
    rt_start(1);
    em__remote_install(&fake);
    ck_assert_int_eq(em__remote_defer(&conns[0]), -1); /* not a process */
    em_spawn(defers, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 21);
}
END_TEST

static void dies_linked(void *arg)
{
    (void)arg;
    em_term m;
    CHECK(em_receive_any(5000, &m) == 0); /* the link came first */
    CHECK(em__remote_defer(&conns[0]) == 1);
    em_exit(A("bye"));
}

/* A process that exits: what it deferred in its last run is not written
 * at its switch-out but with what its death sends (the exit signal of its
 * link, deferred too on the scheduler's stack): one flush per connection
 * after the death is settled. */
START_TEST(a_death_s_output_leaves_with_the_last_run_s)
{
    rt_start(1);
    em__remote_install(&fake);
    defer_at_exit = &conns[1];
    em_term p = em_spawn(dies_linked, NULL);
    em_term rp = remote_pid();
    ck_assert_em_ok(em__remote_deliver(p, EM__RSIG_LINK, em_dup(rp), EM_NONE, EM_NONE));
    em_send(p, A("go"));
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 2);
    ck_assert_int_eq(calls[F_EXIT].n, 1);
    ck_assert_int_eq(flushed_at_exit, 0); /* nothing was flushed before the death */
    ck_assert_int_eq(defer_at_exit_rc, 1); /* deferred at death */
    ck_assert_int_eq(nflushed, 2);
    ck_assert(flushed[0] == &conns[0] && flushed[1] == &conns[1]);
    em_drop(rp);
}
END_TEST

/* ---- what net may do in a caller's process without a signal point ----
 * em__send_quiet, em__yield_quiet and em__sleep_quiet do not let a
 * pending kill end the process inside them (net holds locks and terms
 * there); the process dies at its next real signal point.  A term kept
 * with em__proc_keep goes with a process that dies holding it (under
 * AddressSanitizer a lost one is a reported leak). */
static _Atomic int quiet_stage;
static _Atomic em_term quiet_victim;
static _Atomic int quiet_killed;

static void quiet_process(void *arg)
{
    (void)arg;
    atomic_store(&quiet_victim, em_self());
    while (!atomic_load(&quiet_killed)) {
        struct timespec t = {0, 1000000};
        nanosleep(&t, NULL); /* busy in C code until the kill is pending */
    }
    int64_t t0 = rt_now_ms();
    em__sleep_quiet(50);
    CHECK(rt_now_ms() - t0 >= 50); /* the kill did not end the sleep */
    CHECK(em__send_quiet(em_self(), A("still_here")) == 0);
    em__yield_quiet();
    atomic_store(&quiet_stage, 1);
    em__proc_keep(em_tuple(2, A("kept"), em_int(1)));
    em_yield(); /* a signal point: dies here, the kept tuple with it */
    atomic_store(&quiet_stage, 2);
}

static bool quiet_ready(void)
{
    return atomic_load(&quiet_victim) != 0;
}

START_TEST(quiet_sends_yields_and_sleeps_are_no_signal_points)
{
    rt_start(2);
    em_spawn(quiet_process, NULL);
    ck_assert_int_eq(rt_run_killing(quiet_ready, &quiet_victim, &quiet_killed), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 2);
    ck_assert_int_eq(atomic_load(&quiet_stage), 1);
}
END_TEST

static Suite *remote_suite(void)
{
    Suite *s = suite_create("remote");
    TCase *tc = tcase_create("remote");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_destination_is_classified_by_what_it_names);
    tcase_add_test(tc, without_ops_a_remote_destination_is_not_supported);
    tcase_add_test(tc, what_goes_to_another_node_reaches_the_ops_classified);
    tcase_add_test(tc, an_unreachable_node_gives_noconnection);
    tcase_add_test(tc, a_death_tells_the_remote_links_and_monitors);
    tcase_add_test(tc, a_monitor_by_name_is_told_by_name);
    tcase_add_test(tc, a_node_down_breaks_the_links_and_monitors_across_it);
    tcase_add_test(tc, a_message_from_afar_reaches_a_local_pid_or_name_only);
    tcase_add_test(tc, output_deferred_in_a_run_is_flushed_as_the_process_stops);
    tcase_add_test(tc, a_death_s_output_leaves_with_the_last_run_s);
    tcase_add_test(tc, quiet_sends_yields_and_sleeps_are_no_signal_points);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(remote_suite)
