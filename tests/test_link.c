/* test_link.c: exit signals, links, monitors, trap_exit and cancellation of
 * blocked processes (runtime/link.c). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "rttest.h"

static _Atomic int hooks_run;

static void count_hook(void *arg)
{
    (void)arg;
    atomic_fetch_add(&hooks_run, 1);
}

static void wait_forever(void *arg)
{
    (void)arg;
    em_on_exit(count_hook, NULL);
    em_term m;
    for (;;)
        em_receive_any(EM_INFINITY, &m);
}

static void crash_with(void *arg)
{
    em_exit(em_atom((const char *)arg));
}

static void return_normally(void *arg)
{
    (void)arg;
}

/* Wait (yielding) until pid is blocked, e.g. after its exit hook is set. */
static void await_waiting(em_term pid)
{
    em_proc_info info;
    while (em_process_info(pid, &info) == 0 && info.status != EM_STATUS_WAITING)
        em_yield();
}

static em_term spawn_linked_pair_and_wait(em_proc_fn fn, void *arg, em_term *child)
{
    *child = em_spawn_link(fn, arg);
    em_term reason = EM_NONE;
    em_term from;
    if (em_receive(2000, "{'EXIT', From, Reason}", &from, &reason) < 0)
        return EM_NONE;
    return reason;
}

static void trapper(void *arg)
{
    (void)arg;
    em_trap_exit(true);
    em_term child;
    em_term r = spawn_linked_pair_and_wait(crash_with, "boom", &child);
    CHECK(r == em_atom("boom"));
    r = spawn_linked_pair_and_wait(return_normally, NULL, &child);
    CHECK(r == em_atom("normal"));
}

START_TEST(a_trapping_process_gets_exit_messages_from_its_links)
{
    rt_start(2);
    em_spawn(trapper, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 2);
}
END_TEST

static void link_then_wait(void *arg)
{
    em_link(*(em_term *)arg);
    em_on_exit(count_hook, NULL);
    em_term m;
    em_receive_any(EM_INFINITY, &m);
    atomic_store(&ok_count, -100); /* must not get here */
}

static void linked_crasher(void *arg)
{
    (void)arg;
    em_receive(EM_INFINITY, "crash");
    em_exit(em_atom("boom"));
}

START_TEST(an_abnormal_exit_kills_a_non_trapping_linked_process)
{
    static em_term crasher;
    rt_start(2);
    crasher = em_spawn(linked_crasher, NULL);
    em_term partner = em_spawn(link_then_wait, &crasher);
    em_proc_info info;
    do
        ck_assert_em_ok(em_process_info(partner, &info));
    while (info.status != EM_STATUS_WAITING);
    em_send(crasher, em_atom("crash"));
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&hooks_run), 1);
    ck_assert_int_eq(atomic_load(&ok_count), 0);
}
END_TEST

static void normal_link_survivor(void *arg)
{
    (void)arg;
    em_term c = em_spawn_link(return_normally, NULL);
    em_term mref = em_monitor(c);
    em_term ref, who, reason;
    CHECK(em_receive(2000, "{'DOWN', Ref, process, Who, Reason}", &ref, &who, &reason) == 0);
    CHECK(reason == em_atom("normal"));
    em_drop(mref);
    em_sleep(20); /* still alive: normal from a link is ignored */
    CHECK(true);
}

START_TEST(a_normal_exit_does_not_kill_linked_processes)
{
    rt_start(2);
    em_spawn(normal_link_survivor, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 3);
}
END_TEST

static void link_to_dead(void *arg)
{
    (void)arg;
    em_term dead = em_spawn(return_normally, NULL);
    while (em_is_alive(dead))
        em_yield();
    CHECK(em_link(dead) == EM_ENOPROC);
    em_trap_exit(true);
    CHECK(em_link(dead) == 0);
    em_term from, reason;
    CHECK(em_receive(0, "{'EXIT', From, Reason}", &from, &reason) == 0 && em_equal(from, dead) &&
          reason == em_atom("noproc"));
}

START_TEST(linking_to_a_dead_process_gives_noproc)
{
    rt_start(1);
    em_spawn(link_to_dead, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 3);
}
END_TEST

static void unlinker(void *arg)
{
    (void)arg;
    em_term c = em_spawn_link(linked_crasher, NULL);
    em_unlink(c);
    em_term mref = em_monitor(c);
    em_send(c, em_atom("crash"));
    em_term ref, who, reason;
    CHECK(em_receive(2000, "{'DOWN', Ref, process, Who, Reason}", &ref, &who, &reason) == 0 &&
          reason == em_atom("boom"));
    em_drop(mref);
    em_trap_exit(true);
    em_term m;
    CHECK(em_receive_any(50, &m) == EM_ETIMEDOUT); /* no EXIT after unlink */
}

START_TEST(no_exit_signal_arrives_after_unlink)
{
    rt_start(2);
    em_spawn(unlinker, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 2);
}
END_TEST

static void exit2_user(void *arg)
{
    (void)arg;
    em_term a = em_spawn(wait_forever, NULL);
    em_term ma = em_monitor(a);
    await_waiting(a);
    em_exit_pid(a, em_atom("normal")); /* ignored: not trapping */
    em_exit_pid(a, em_atom("shutdown"));
    em_term ref, who, reason;
    CHECK(em_receive(2000, "{'DOWN', Ref, process, Who, Reason}", &ref, &who, &reason) == 0 &&
          reason == em_atom("shutdown"));
    em_drop(ma);
}

START_TEST(exit_to_another_process_kills_it_unless_normal)
{
    rt_start(2);
    em_spawn(exit2_user, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 1);
    ck_assert_int_eq(atomic_load(&hooks_run), 1);
}
END_TEST

static void trapping_target(void *arg)
{
    (void)arg;
    em_trap_exit(true);
    em_on_exit(count_hook, NULL);
    em_term m;
    for (;;)
        em_receive_any(EM_INFINITY, &m);
}

static void killer(void *arg)
{
    (void)arg;
    em_trap_exit(true);
    em_term t = em_spawn(trapping_target, NULL);
    await_waiting(t);
    em_link(t);
    em_term mt = em_monitor(t);
    em_exit_pid(t, em_atom("kill"));
    em_term ref, who, reason, from;
    CHECK(em_receive(2000, "{'DOWN', Ref, process, Who, Reason}", &ref, &who, &reason) == 0 &&
          reason == em_atom("killed"));
    CHECK(em_receive(2000, "{'EXIT', From, Reason}", &from, &reason) == 0 && reason == em_atom("killed"));
    em_drop(mt);
}

START_TEST(kill_cannot_be_trapped_and_others_see_killed)
{
    rt_start(2);
    em_spawn(killer, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 2);
    ck_assert_int_eq(atomic_load(&hooks_run), 1);
}
END_TEST

static void monitor_user(void *arg)
{
    (void)arg;
    em_term t = em_spawn(linked_crasher, NULL);
    em_term r1 = em_monitor(t);
    em_send(t, em_atom("crash"));
    em_term ref, who, reason;
    CHECK(em_receive(2000, "{'DOWN', Ref, process, Who, Reason}", &ref, &who, &reason) == 0 &&
          em_equal(ref, r1) && em_equal(who, t) && reason == em_atom("boom"));
    em_term m;
    CHECK(em_receive_any(30, &m) == EM_ETIMEDOUT); /* exactly once */
    /* A dead process: DOWN noproc at once. */
    em_term r2 = em_monitor(t);
    CHECK(em_receive(0, "{'DOWN', _, process, _, noproc}") == 0);
    /* By name: reported as {Name, Node}. */
    em_term w = em_spawn(wait_forever, NULL);
    em_register(em_atom("watched"), w);
    em_term r3 = em_monitor(em_atom("watched"));
    em_exit_pid(w, em_atom("kill"));
    em_term name, node;
    CHECK(em_receive(2000, "{'DOWN', _, process, {Name, Node}, killed}", &name, &node) == 0 &&
          name == em_atom("watched") && node == em_atom("nonode@nohost"));
    /* Unregistered name: noproc. */
    em_term r4 = em_monitor(em_atom("nobody"));
    CHECK(em_receive(0, "{'DOWN', _, process, {nobody, _}, noproc}") == 0);
    em_drop(r1);
    em_drop(r2);
    em_drop(r3);
    em_drop(r4);
}

START_TEST(monitors_deliver_down_exactly_once)
{
    rt_start(2);
    em_spawn(monitor_user, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 5);
}
END_TEST

static void demonitor_user(void *arg)
{
    (void)arg;
    em_term t = em_spawn(linked_crasher, NULL);
    em_term r = em_monitor(t);
    em_send(t, em_atom("crash"));
    while (em_is_alive(t))
        em_yield();
    em_sleep(10);
    CHECK(em_demonitor(r, EM_DEMONITOR_FLUSH) == 0); /* already fired... */
    em_term m;
    CHECK(em_receive_any(0, &m) == EM_ETIMEDOUT);     /* ...and flushed */
    em_term t2 = em_spawn(wait_forever, NULL);
    em_term r2 = em_monitor(t2);
    CHECK(em_demonitor(r2, 0) == 1);
    em_exit_pid(t2, em_atom("kill"));
    CHECK(em_receive_any(30, &m) == EM_ETIMEDOUT); /* no DOWN after demonitor */
    em_drop(r);
    em_drop(r2);
}

START_TEST(demonitor_with_flush_removes_a_queued_down)
{
    rt_start(2);
    em_spawn(demonitor_user, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 4);
}
END_TEST

/* Count the DOWN messages for ref: wait up to ms for the first. */
static int downs_for(em_term ref, int64_t ms)
{
    int n = 0;
    while (em_receive_ref(n ? 0 : ms, ref, "{'DOWN', Ref, process, _, _}") == 0)
        n++;
    return n;
}

static void remonitor_user(void *arg)
{
    (void)arg;
    em_term m;
    /* Removed, then monitored again: one DOWN, for the new monitor. */
    em_term t = em_spawn(wait_forever, NULL);
    em_term r1 = em_monitor(t);
    CHECK(em_demonitor(r1, 0) == 1);
    em_term r2 = em_monitor(t);
    CHECK(em_demonitor(r1, 0) == 0); /* gone for good */
    em_exit_pid(t, em_atom("kill"));
    CHECK(downs_for(r2, 2000) == 1);
    CHECK(em_receive_any(30, &m) == EM_ETIMEDOUT);
    /* Removed, then another process monitored: the first one's death
     * says nothing, the second's exactly once. */
    em_term t1 = em_spawn(wait_forever, NULL), t2 = em_spawn(wait_forever, NULL);
    em_term r3 = em_monitor(t1);
    CHECK(em_demonitor(r3, 0) == 1);
    em_term r4 = em_monitor(t2);
    em_exit_pid(t1, em_atom("kill"));
    while (em_is_alive(t1))
        em_yield();
    CHECK(em_receive_any(30, &m) == EM_ETIMEDOUT);
    em_exit_pid(t2, em_atom("kill"));
    CHECK(downs_for(r4, 2000) == 1);
    CHECK(em_receive_any(30, &m) == EM_ETIMEDOUT);
    em_drop(r1);
    em_drop(r2);
    em_drop(r3);
    em_drop(r4);
}

START_TEST(a_removed_monitor_stays_silent_and_a_new_one_fires_once)
{
    rt_start(2);
    em_spawn(remonitor_user, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 8);
}
END_TEST

static void multi_monitor_user(void *arg)
{
    (void)arg;
    em_term m;
    /* Three monitors on one process, one of them by name, one removed:
     * the other two fire once each. */
    em_term t = em_spawn(wait_forever, NULL);
    em_register(em_atom("multi"), t);
    em_term r1 = em_monitor(t), r2 = em_monitor(em_atom("multi")), r3 = em_monitor(t);
    CHECK(em_demonitor(r1, 0) == 1);
    em_exit_pid(t, em_atom("kill"));
    CHECK(downs_for(r2, 2000) == 1);
    CHECK(downs_for(r3, 2000) == 1);
    CHECK(downs_for(r1, 0) == 0);
    CHECK(em_receive_any(30, &m) == EM_ETIMEDOUT);
    /* Monitored and removed, then found dead: a new monitor says noproc,
     * not the reason it died with. */
    em_term t2 = em_spawn(wait_forever, NULL);
    em_term r4 = em_monitor(t2);
    CHECK(em_demonitor(r4, 0) == 1);
    em_exit_pid(t2, em_atom("kill"));
    while (em_is_alive(t2))
        em_yield();
    em_term r5 = em_monitor(t2);
    CHECK(em_receive_ref(2000, r5, "{'DOWN', Ref, process, _, noproc}") == 0);
    CHECK(em_receive_any(30, &m) == EM_ETIMEDOUT);
    /* Removed from one process, then from another: neither's death says
     * anything; a third monitored all along fires once. */
    em_term a = em_spawn(wait_forever, NULL), b = em_spawn(wait_forever, NULL);
    em_term c = em_spawn(wait_forever, NULL);
    em_term rc = em_monitor(c);
    em_term ra = em_monitor(a);
    CHECK(em_demonitor(ra, 0) == 1);
    em_term rb = em_monitor(b);
    CHECK(em_demonitor(rb, 0) == 1);
    em_exit_pid(a, em_atom("kill"));
    em_exit_pid(b, em_atom("kill"));
    em_exit_pid(c, em_atom("kill"));
    CHECK(downs_for(rc, 2000) == 1);
    CHECK(em_receive_any(30, &m) == EM_ETIMEDOUT);
    em_term refs[] = {r1, r2, r3, r4, r5, ra, rb, rc};
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
        em_drop(refs[i]);
}

START_TEST(several_monitors_on_one_process_fire_once_each)
{
    rt_start(2);
    em_spawn(multi_monitor_user, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 12);
}
END_TEST

/* Holders monitor and demonitor one target while it is killed, then exit
 * (some with a monitor removed last): a monitor removed while active
 * (em_demonitor 1) never delivers a DOWN, every other exactly one. */
#define CHURN_HOLDERS 4
#define CHURN_ROUNDS 3000
static em_term churn_target;

static void churn_holder(void *arg)
{
    long id = (long)arg;
    em_term *refs = malloc(CHURN_ROUNDS * sizeof *refs);
    int *want = malloc(CHURN_ROUNDS * sizeof *want);
    if (refs == NULL || want == NULL)
        abort();
    for (int i = 0; i < CHURN_ROUNDS; i++) {
        refs[i] = em_monitor(churn_target);
        want[i] = 1;
        if ((i + id) % 97 != 0) /* keep a few */
            want[i] = em_demonitor(refs[i], 0) == 1 ? 0 : 1;
        if (i == CHURN_ROUNDS / 4)
            em_send(em_atom("churn_killer"), em_atom("started"));
        if (i % 64 == 0)
            em_yield();
    }
    /* A removal left pending on a process that may outlive this one. */
    em_term k = em_whereis(em_atom("churn_killer"));
    em_term rk = em_monitor(k);
    em_demonitor(rk, 0);
    em_drop(rk);
    em_send(k, em_atom("done"));
    bool ok = true;
    for (int i = 0; i < CHURN_ROUNDS; i++) {
        int n = downs_for(refs[i], want[i] ? 5000 : 0);
        ok = ok && n == want[i];
        em_drop(refs[i]);
    }
    CHECK(ok);
    free(refs);
    free(want);
}

static void churn_killer(void *arg)
{
    (void)arg;
    em_register(em_atom("churn_killer"), em_self());
    for (long i = 0; i < CHURN_HOLDERS; i++)
        em_spawn(churn_holder, (void *)i);
    em_receive(EM_INFINITY, "started"); /* kill in the middle of the churn */
    em_exit_pid(churn_target, em_atom("kill"));
    for (int i = 0; i < CHURN_HOLDERS; i++)
        em_receive(EM_INFINITY, "done");
    em_term m;
    while (em_receive_any(0, &m) == 0) /* the other holders' "started" */
        ;
}

START_TEST(monitor_churn_on_one_target_keeps_down_exactly_once)
{
    rt_start(4);
    churn_target = em_spawn(wait_forever, NULL);
    em_spawn(churn_killer, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), CHURN_HOLDERS);
}
END_TEST

static void replier(void *arg)
{
    (void)arg;
    em_term from;
    em_receive(EM_INFINITY, "{req, From}", &from);
    em_send(from, em_atom("reply"));
    em_exit(em_atom("done"));
}

static void requester(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++) {
        em_term s = em_spawn(replier, NULL);
        em_term r = em_monitor(s);
        em_send(s, em_tuple(2, em_atom("req"), em_self()));
        em_term m;
        /* The first thing to arrive must be the reply, never the DOWN. */
        em_receive_any(2000, &m);
        if (m != em_atom("reply"))
            return;
        em_receive(2000, "{'DOWN', _, _, _, done}");
        em_drop(r);
    }
    CHECK(true);
}

START_TEST(a_reply_always_precedes_the_down_of_its_sender)
{
    rt_start(2);
    em_spawn(requester, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 1);
}
END_TEST

/* Signals and messages from one sender stay in the order they were sent,
 * also when both processes run on one scheduler (where messages can skip
 * the inbox, send.c): a trapped exit signal sent before a message must
 * arrive as {'EXIT', ...} before it, and one sent after it, after it. */
static em_term order_trapper_pid;

static void order_trapper(void *arg)
{
    (void)arg;
    em_trap_exit(true);
    bool good = true;
    for (int i = 0; i < 100; i++) {
        em_term m;
        /* expect: {'EXIT', _, first}, msg, {'EXIT', _, last} */
        good &= em_receive_any(2000, &m) == 0 && em_tuple_size(m) == 3 &&
                em_tuple_get(m, 2) == em_atom("first");
        good &= em_receive_any(2000, &m) == 0 && m == em_atom("msg");
        good &= em_receive_any(2000, &m) == 0 && em_tuple_size(m) == 3 &&
                em_tuple_get(m, 2) == em_atom("last");
    }
    CHECK(good);
}

static void order_signaller(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) {
        em_exit_pid(order_trapper_pid, em_atom("first"));
        em_send(order_trapper_pid, em_atom("msg"));
        em_exit_pid(order_trapper_pid, em_atom("last"));
        if (i % 3 == 0)
            em_yield(); /* let the trapper drain with some still queued */
    }
}

START_TEST(an_exit_signal_and_a_message_from_one_sender_keep_their_order)
{
    rt_start(1); /* one scheduler: the direct path of local sends */
    order_trapper_pid = em_spawn(order_trapper, NULL);
    em_spawn(order_signaller, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 1);
}
END_TEST

static int pfd[2];

static void fd_waiter(void *arg)
{
    (void)arg;
    em_on_exit(count_hook, NULL);
    em_wait_fd(pfd[0], EM_READABLE, EM_INFINITY);
    atomic_store(&ok_count, -100);
}

static void sleeper(void *arg)
{
    (void)arg;
    em_on_exit(count_hook, NULL);
    em_sleep(100000);
    atomic_store(&ok_count, -100);
}

START_TEST(killing_blocked_processes_runs_their_exit_hooks)
{
    ck_assert_int_eq(pipe(pfd), 0);
    rt_start(2);
    em_term a = em_spawn(wait_forever, NULL), b = em_spawn(fd_waiter, NULL),
            c = em_spawn(sleeper, NULL);
    em_term all[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        em_proc_info info;
        do
            ck_assert_em_ok(em_process_info(all[i], &info));
        while (info.status != EM_STATUS_WAITING);
    }
    for (int i = 0; i < 3; i++)
        em_exit_pid(all[i], em_atom("kill"));
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&hooks_run), 3);
    ck_assert_int_eq(atomic_load(&ok_count), 0);
    /* The fd is no longer in the poller: it can be closed and reused. */
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

/* A chain: each process spawn_links the next; killing the last takes the
 * whole chain down. */
static void chain_link(void *arg)
{
    long n = (long)arg;
    if (n > 0)
        em_spawn_link(chain_link, (void *)(n - 1));
    else
        em_register(em_atom("chain_end"), em_self());
    em_term m;
    for (;;)
        em_receive_any(EM_INFINITY, &m);
}

START_TEST(killing_the_end_of_a_linked_chain_kills_every_process)
{
    const long n = EM_TEST_UNDER_TSAN ? 2000 : 10000;
    rt_start(2);
    em_spawn(chain_link, (void *)(n - 1));
    while (em_whereis(em_atom("chain_end")) == EM_NONE)
        ;
    ck_assert_uint_eq(em_process_count(), (size_t)n);
    em_exit_pid(em_whereis(em_atom("chain_end")), em_atom("kill"));
    ck_assert_int_eq(em_run(), 0); /* returns: nobody is left */
    ck_assert_uint_eq(em_process_count(), 0);
}
END_TEST

/* Many processes linking, unlinking and dying concurrently (run under TSan
 * by `make test SANITIZE=thread`), and the links they leave are exactly the
 * ones their last operations asked for.  Each pair {i, j}, i < j, is
 * touched only by i (so its final state is i's last operation on it, which
 * i records), while every process is at the same time the target of the
 * others' links and unlinks.  After all have finished, the odd processes
 * exit with `churned`; each even one (trapping exits) must then receive
 * {'EXIT', P, churned} from exactly the odd P it is still linked to, and
 * from no other (em_unlink's contract: no exit signal crosses a removed
 * link). */
#define CHURN_N 64
static em_term pool[CHURN_N];
static em_term churn_coord;
static _Atomic bool linked_to[CHURN_N][CHURN_N]; /* [i][j], i < j: set by i */
static _Atomic int churn_exits_ok, churn_exits_bad;

static void churner(void *arg)
{
    long id = (long)arg;
    unsigned seed = (unsigned)id * 2654435761u;
    em_trap_exit(true);
    em_receive(EM_INFINITY, "go"); /* pool[] is complete after this */
    for (int k = 0; k < 200 && id < CHURN_N - 1; k++) {
        long other = id + 1 + (long)(rand_r(&seed) % (unsigned)(CHURN_N - 1 - id));
        bool link = rand_r(&seed) % 2;
        int rc = link ? em_link(pool[other]) : em_unlink(pool[other]);
        if (rc != 0)
            atomic_fetch_add(&churn_exits_bad, 1);
        atomic_store(&linked_to[id][other], link);
        em_yield();
    }
    em_send(churn_coord, em_atom("done"));
    em_receive(EM_INFINITY, "die");
    if (id % 2)
        em_exit(em_atom("churned"));
    /* Even: collect the odd processes' exit signals, then any stray one. */
    int want = 0;
    for (long j = 1; j < CHURN_N; j += 2)
        if (j != id && atomic_load(&linked_to[id < j ? id : j][id < j ? j : id]))
            want++;
    bool got[CHURN_N] = {false};
    int n = 0;
    em_term from;
    while (em_receive(n < want ? 5000 : 200, "{'EXIT', From, churned}", &from) == 0) {
        long j = -1;
        for (long x = 0; x < CHURN_N; x++)
            if (em_equal(pool[x], from))
                j = x;
        bool linked = j > 0 && j % 2 && atomic_load(&linked_to[id < j ? id : j][id < j ? j : id]);
        if (!linked || got[j]) {
            fprintf(stderr, "churner %ld: unexpected exit signal from %ld\n", id, j);
            atomic_fetch_add(&churn_exits_bad, 1);
        } else {
            got[j] = true;
            n++;
        }
    }
    if (n != want) {
        fprintf(stderr, "churner %ld: %d of %d exit signals\n", id, n, want);
        atomic_fetch_add(&churn_exits_bad, 1);
    }
    atomic_fetch_add(&churn_exits_ok, n);
}

static void churn_coordinator(void *arg)
{
    (void)arg;
    churn_coord = em_self();
    for (long i = 0; i < CHURN_N; i++)
        pool[i] = em_spawn(churner, (void *)i);
    for (long i = 0; i < CHURN_N; i++)
        em_send(pool[i], em_atom("go"));
    for (long i = 0; i < CHURN_N; i++)
        em_receive(EM_INFINITY, "done");
    for (long i = 0; i < CHURN_N; i++)
        em_send(pool[i], em_atom("die"));
}

START_TEST(concurrent_links_unlinks_and_exits_leave_exactly_the_requested_links)
{
    rt_start(4);
    em_spawn(churn_coordinator, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_uint_eq(em_process_count(), 0);
    int bad = atomic_load(&churn_exits_bad), got = atomic_load(&churn_exits_ok);
    ck_assert_int_eq(bad, 0);
    int links = 0; /* the exit signals the evens were owed */
    for (long i = 0; i < CHURN_N; i += 2)
        for (long j = 1; j < CHURN_N; j += 2)
            links += atomic_load(&linked_to[i < j ? i : j][i < j ? j : i]);
    ck_assert_int_gt(links, 0); /* the workload really left links behind */
    ck_assert_int_eq(got, links);
}
END_TEST

static void spawn_monitor_user(void *arg)
{
    (void)arg;
    em_term ref = EM_NONE;
    em_spawn_opts o = {.monitor = &ref};
    em_term c = em_spawn_opt(crash_with, "early", &o);
    em_term r, who, reason;
    CHECK(em_receive(2000, "{'DOWN', R, process, Who, Reason}", &r, &who, &reason) == 0 &&
          em_equal(r, ref) && em_equal(who, c) && reason == em_atom("early"));
    em_drop(ref);
}

START_TEST(spawn_monitor_sees_even_an_immediate_exit)
{
    rt_start(2);
    em_spawn(spawn_monitor_user, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&ok_count), 1);
}
END_TEST

/* em_monitor of a process already gone takes in the mailbox (the DOWN
 * must follow what the target sent): a signal point.  A process killed
 * while busy in C code dies there, and the reference em_monitor was making
 * is not lost with its stack (made after the drain; under AddressSanitizer
 * a lost one is a reported leak). */
static _Atomic int mon_went_on, mon_victim_ready, mon_kill_sent;
static _Atomic em_term mon_victim, mon_dead;

static void exits_at_once(void *arg)
{
    (void)arg;
}

static void monitors_the_dead_after_a_kill(void *arg)
{
    (void)arg;
    atomic_store(&mon_victim, em_self());
    atomic_store(&mon_victim_ready, 1);
    while (!atomic_load(&mon_kill_sent)) {
        struct timespec t = {0, 1000000};
        nanosleep(&t, NULL); /* busy in C code, no signal point */
    }
    em_term ref = em_monitor(atomic_load(&mon_dead)); /* dies in here */
    em_drop(ref);
    atomic_store(&mon_went_on, 1);
}

static bool monitoring_ready(void)
{
    return atomic_load(&mon_victim_ready) && !em_is_alive(atomic_load(&mon_dead));
}

START_TEST(a_process_killed_in_em_monitor_of_the_dead_dies_there_and_loses_nothing)
{
    rt_start(2);
    atomic_store(&mon_dead, em_spawn(exits_at_once, NULL));
    em_spawn(monitors_the_dead_after_a_kill, NULL);
    ck_assert_int_eq(rt_run_killing(monitoring_ready, &mon_victim, &mon_kill_sent), 0);
    ck_assert_int_eq(atomic_load(&mon_went_on), 0);
}
END_TEST

static Suite *link_suite(void)
{
    Suite *s = suite_create("link");
    TCase *tc = tcase_create("link");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_trapping_process_gets_exit_messages_from_its_links);
    tcase_add_test(tc, an_abnormal_exit_kills_a_non_trapping_linked_process);
    tcase_add_test(tc, a_normal_exit_does_not_kill_linked_processes);
    tcase_add_test(tc, linking_to_a_dead_process_gives_noproc);
    tcase_add_test(tc, no_exit_signal_arrives_after_unlink);
    tcase_add_test(tc, exit_to_another_process_kills_it_unless_normal);
    tcase_add_test(tc, kill_cannot_be_trapped_and_others_see_killed);
    tcase_add_test(tc, monitors_deliver_down_exactly_once);
    tcase_add_test(tc, demonitor_with_flush_removes_a_queued_down);
    tcase_add_test(tc, a_removed_monitor_stays_silent_and_a_new_one_fires_once);
    tcase_add_test(tc, monitor_churn_on_one_target_keeps_down_exactly_once);
    tcase_add_test(tc, several_monitors_on_one_process_fire_once_each);
    tcase_add_test(tc, a_reply_always_precedes_the_down_of_its_sender);
    tcase_add_test(tc, killing_blocked_processes_runs_their_exit_hooks);
    tcase_add_test(tc, killing_the_end_of_a_linked_chain_kills_every_process);
    tcase_add_test(tc, concurrent_links_unlinks_and_exits_leave_exactly_the_requested_links);
    tcase_add_test(tc, spawn_monitor_sees_even_an_immediate_exit);
    tcase_add_test(tc, an_exit_signal_and_a_message_from_one_sender_keep_their_order);
    tcase_add_test(tc, a_process_killed_in_em_monitor_of_the_dead_dies_there_and_loses_nothing);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(link_suite)
