/* test_alias.c: process aliases (runtime/alias.c; runtime.h's em_alias,
 * em_unalias, em_monitor_alias, em_send to a reference) on one node, and
 * on the wire (net/dist_ctl.c, net/dist_ops.c): ALIAS_SEND and
 * ALIAS_SEND_TT both ways, OTP 28's ALTACT_SIG_SEND parsed and acted on,
 * with hand-made packets from a peer of the test's own (peertest.h). */
#include <pthread.h>

#include "dist_ctl.h"
#include "peertest.h"
#include "rttest.h"

#define A(s) em_atom(s)

static size_t ref_words(em_term ref)
{
    uint32_t w[5];
    int n = em_ref_parts(ref, NULL, NULL, w);
    return n < 0 ? 0 : (size_t)n;
}

/* Whether the next message (within ms) is `want`; the mailbox then holds
 * nothing that came before it. */
static bool next_is(em_term want, int64_t ms)
{
    em_term m;
    return em_receive_any(ms, &m) == 0 && em_equal(m, want);
}

static bool nothing_within(int64_t ms)
{
    em_term m;
    return em_receive_any(ms, &m) == EM_ETIMEDOUT;
}

/* ---- one node ---- */

static void alias_basics(void *arg)
{
    (void)arg;
    em_term a = em_alias();
    CHECK(a != EM_NONE && ref_words(a) == 5); /* it names its process */
    em_term r = em_make_ref();
    CHECK(ref_words(r) == 3);
    CHECK(em_send(a, A("one")) == 0);
    CHECK(next_is(A("one"), 1000));
    CHECK(em_unalias(a) == 1);
    CHECK(em_unalias(a) == 0); /* inactive already */
    CHECK(em_send(a, A("two")) == 0);   /* dropped */
    CHECK(em_send(r, A("three")) == 0); /* not an alias: dropped */
    CHECK(em_send(em_self(), A("mark")) == 0);
    CHECK(next_is(A("mark"), 1000));
    CHECK(nothing_within(50));
    CHECK(em_unalias(r) == 0);
    CHECK(em_unalias(A("x")) == 0);
    CHECK(em_alias_opt(EM_ALIAS_DEMONITOR) == EM_NONE); /* a monitor's mode */
    em_drop(a);
    em_drop(r);
}

/* An alias delivers while it is active; em_unalias says whether it was;
 * a message to an inactive alias or a plain reference is dropped. */
START_TEST(an_alias_delivers_until_unaliased)
{
    rt_start(2);
    ck_assert(em_alias() == EM_NONE); /* not a process */
    ck_assert_int_eq(em_unalias(A("x")), EM_ESTATE);
    em_spawn(alias_basics, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 14);
}
END_TEST

static em_term shared_alias;
static em_term shared_pid;
static _Atomic int stage;

static void reply_sender(void *arg)
{
    (void)arg;
    em_send(shared_alias, A("first"));
    em_send(shared_alias, A("second"));
    em_send(shared_pid, A("done"));
}

static void reply_owner(void *arg)
{
    (void)arg;
    shared_pid = em_self();
    shared_alias = em_alias_opt(EM_ALIAS_REPLY);
    em_spawn(reply_sender, NULL);
    CHECK(next_is(A("first"), 2000));
    CHECK(next_is(A("done"), 2000)); /* "second" found the alias gone */
    CHECK(em_unalias(shared_alias) == 0);
    em_drop(shared_alias);
}

/* EM_ALIAS_REPLY: the first message through the alias deactivates it. */
START_TEST(a_reply_alias_takes_one_message)
{
    rt_start(2);
    em_spawn(reply_owner, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 3);
}
END_TEST

static void spinning_owner(void *arg)
{
    (void)arg;
    em_term a = em_alias();
    shared_alias = a;
    atomic_store(&stage, 1);
    /* No runtime call: the message sent meanwhile stays on its way. */
    while (atomic_load(&stage) != 2)
        ;
    CHECK(em_unalias(a) == 1);
    CHECK(nothing_within(200));
    em_drop(a);
}

/* A message sent to an alias but not yet taken in when the alias is
 * deactivated never enters the mailbox (OTP's semantics: the alias is
 * checked on arrival, not on sending). */
START_TEST(a_message_on_its_way_when_unaliased_is_dropped)
{
    rt_start(2);
    em_spawn(spinning_owner, NULL);
    int64_t end = rt_now_ms() + 10000;
    while (atomic_load(&stage) != 1 && rt_now_ms() < end)
        usleep(100);
    ck_assert_int_eq(stage, 1);
    ck_assert_em_ok(em_send(shared_alias, A("late"))); /* from a foreign thread */
    atomic_store(&stage, 2);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 2);
}
END_TEST

static void not_mine(void *arg)
{
    (void)arg;
    CHECK(em_unalias(shared_alias) == 0); /* another process's */
    em_send(shared_alias, A("still"));
}

static void short_lived(void *arg)
{
    (void)arg;
    *(em_term *)arg = em_alias();
}

static void owner_of_one(void *arg)
{
    (void)arg;
    shared_alias = em_alias();
    em_spawn(not_mine, NULL);
    CHECK(next_is(A("still"), 2000)); /* the other's unalias changed nothing */
    /* The alias of a process that is gone: dropped. */
    static em_term dead_alias;
    em_term ref;
    em_spawn_opts so = {.monitor = &ref};
    em_spawn_opt(short_lived, &dead_alias, &so);
    CHECK(em_receive_ref(2000, ref, "{'DOWN', Ref, process, _, normal}") == 0);
    CHECK(dead_alias != EM_NONE && em_send(dead_alias, A("lost")) == 0);
    CHECK(nothing_within(50));
    em_drop(dead_alias);
    em_drop(ref);
    em_drop(shared_alias);
}

/* Only the owner can deactivate its alias; an alias whose process is gone
 * takes messages nowhere. */
START_TEST(an_alias_belongs_to_its_process)
{
    rt_start(2);
    em_spawn(owner_of_one, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 5);
}
END_TEST

static void waits_go(void *arg)
{
    (void)arg;
    em_receive(10000, "go");
}

static void monitor_aliases(void *arg)
{
    (void)arg;
    em_term t = em_spawn(waits_go, NULL);
    /* demonitor: gone with em_demonitor */
    em_term r = em_monitor_alias(t, EM_ALIAS_DEMONITOR);
    CHECK(r != EM_NONE && ref_words(r) == 5);
    em_send(r, A("m1"));
    CHECK(next_is(A("m1"), 1000));
    CHECK(em_demonitor(r, 0) == 1);
    em_send(r, A("m2"));
    CHECK(nothing_within(50));
    em_drop(r);
    /* demonitor: gone with the DOWN; explicit: stays */
    em_term r2 = em_monitor_alias(t, EM_ALIAS_DEMONITOR);
    em_term r3 = em_monitor_alias(t, EM_ALIAS_EXPLICIT);
    em_send(t, A("go"));
    CHECK(em_receive_ref(2000, r2, "{'DOWN', Ref, process, _, normal}") == 0);
    CHECK(em_receive_ref(2000, r3, "{'DOWN', Ref, process, _, normal}") == 0);
    em_send(r2, A("m3"));
    em_send(r3, A("m4"));
    CHECK(next_is(A("m4"), 1000));
    CHECK(em_unalias(r3) == 1);
    em_drop(r2);
    em_drop(r3);
    /* a target gone already: DOWN noproc at once, no active alias */
    em_term r4 = em_monitor_alias(t, EM_ALIAS_DEMONITOR);
    CHECK(em_receive_ref(0, r4, "{'DOWN', Ref, process, _, noproc}") == 0);
    CHECK(em_unalias(r4) == 0);
    em_drop(r4);
    CHECK(em_monitor_alias(em_int(3), EM_ALIAS_DEMONITOR) == EM_NONE);
    CHECK(em_monitor_alias(t, EM_ALIAS_REPLY) == EM_NONE);
}

/* em_monitor_alias: a DEMONITOR alias ends with its monitor (em_demonitor
 * or the DOWN), an EXPLICIT one outlives it. */
START_TEST(a_monitor_alias_ends_with_its_monitor_or_not)
{
    rt_start(2);
    em_spawn(monitor_aliases, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 12);
}
END_TEST

static void reply_to_shared(void *arg)
{
    (void)arg;
    em_send(shared_alias, A("reply"));
}

static void reply_demonitor(void *arg)
{
    (void)arg;
    em_term t = em_spawn(waits_go, NULL);
    em_term r = em_monitor_alias(t, EM_ALIAS_REPLY_DEMONITOR);
    shared_alias = r;
    em_spawn(reply_to_shared, NULL);
    CHECK(next_is(A("reply"), 2000));
    em_send(t, A("go"));
    CHECK(nothing_within(200));     /* the monitor went with the reply: no DOWN */
    CHECK(em_demonitor(r, 0) == 0); /* not active */
    em_send(r, A("again"));
    CHECK(nothing_within(50));
    em_drop(r);
}

/* EM_ALIAS_REPLY_DEMONITOR: the first message through the alias ends the
 * alias and the monitor. */
START_TEST(a_reply_demonitor_alias_ends_both_at_the_reply)
{
    rt_start(2);
    em_spawn(reply_demonitor, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 4);
}
END_TEST

#define ORDER_ROUNDS 200

static void order_sender(void *arg)
{
    em_term a = (em_term)(uintptr_t)arg;
    em_send(shared_pid, em_int(1));
    em_send(a, em_int(2));
    em_send(shared_pid, em_int(3));
}

static void order_owner(void *arg)
{
    (void)arg;
    shared_pid = em_self();
    int ok = 0;
    for (int i = 0; i < ORDER_ROUNDS; i++) {
        em_term a = em_alias();
        em_spawn(order_sender, (void *)(uintptr_t)a);
        ok += next_is(em_int(1), 2000) && next_is(em_int(2), 2000) && next_is(em_int(3), 2000);
        em_unalias(a);
        em_drop(a);
    }
    CHECK(ok == ORDER_ROUNDS);
}

/* A sender's messages keep their order whether they go to the pid or
 * through an alias (on this scheduler or another). */
START_TEST(messages_through_an_alias_keep_their_order)
{
    rt_start(2);
    em_spawn(order_owner, NULL);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 1);
}
END_TEST

/* ---- the wire: parsing hand-made packets ---- */

/* 'p', ctl, and msg unless EM_NONE (both taken). */
static int parse_of(em_term ctl, em_term msg, em__ctl *k)
{
    em_buf b = EM_BUF_INIT;
    em_buf_append(&b, "p", 1);
    em_etf_encode(&b, ctl, EM_ETF_DIST);
    if (msg != EM_NONE)
        em_etf_encode(&b, msg, EM_ETF_DIST);
    em_drop(ctl);
    em_drop(msg);
    int rc = em__ctl_parse(b.data, b.len, k);
    em_buf_free(&b);
    return rc;
}

static em_term big_flags(uint8_t low)
{
    uint8_t le[10] = {low, 0, 0, 0, 0, 0, 0, 0, 0, 0x40}; /* 2^78 + low */
    return em_bigint(false, le, sizeof le);
}

/* ALIAS_SEND, ALIAS_SEND_TT and ALTACT_SIG_SEND are parsed as OTP's
 * dist.c does: a SEND, REG_SEND or EXIT2 to a pid, name or reference by
 * the flags; a longer tuple and unknown flag bits are accepted, malformed
 * ones refused (EM_EBADARG). */
START_TEST(alias_and_altact_packets_parse_as_otp_reads_them)
{
    em_term from = peer_pid("peer@localhost", 5);
    em_term ref = peer_ref(PEERTEST_NODE, 1, 5);
    em_term pid = em_pid(A(PEERTEST_NODE), 9, 1, 0);
    em__ctl k;
#define OK(ctl, msg, act_, to_)                                                                                \
    do {                                                                                                      \
        ck_assert_int_eq(parse_of(ctl, msg, &k), 0);                                                         \
        ck_assert_int_eq(k.act, act_);                                                                        \
        ck_assert(em_equal(k.to, to_) && em_equal(k.from, from));                                            \
        em__ctl_free(&k);                                                                                     \
    } while (0)
#define BAD(ctl, msg) ck_assert_int_eq(parse_of(ctl, msg, &k), EM_EBADARG); em__ctl_free(&k)
#define D em_dup
    OK(em_tuple(3, em_int(33), D(from), D(ref)), A("m"), EM__ACT_SEND, ref);
    OK(em_tuple(4, em_int(34), D(from), D(ref), A("token")), A("m"), EM__ACT_SEND, ref);
    BAD(em_tuple(3, em_int(33), D(from), D(pid)), A("m"));   /* not a reference */
    BAD(em_tuple(3, em_int(33), D(from), D(ref)), EM_NONE);  /* no message */
    BAD(em_tuple(4, em_int(33), D(from), D(ref), A("t")), A("m"));
    OK(em_tuple(4, em_int(37), em_int(0), D(from), D(pid)), A("m"), EM__ACT_SEND, pid);
    OK(em_tuple(4, em_int(37), em_int(4), D(from), D(ref)), A("m"), EM__ACT_SEND, ref);
    OK(em_tuple(4, em_int(37), em_int(8), D(from), A("srv")), A("m"), EM__ACT_REG_SEND, A("srv"));
    OK(em_tuple(4, em_int(37), em_int(1 | 8), D(from), A("srv")), A("m"), EM__ACT_REG_SEND, A("srv"));
    OK(em_tuple(5, em_int(37), em_int(2 | 4), D(from), D(ref), A("token")), A("m"), EM__ACT_SEND, ref);
    OK(em_tuple(4, em_int(37), em_int(16), D(from), D(pid)), A("r"), EM__ACT_EXIT2, pid);
    OK(em_tuple(4, em_int(37), em_int(16 | 8), D(from), A("srv")), A("r"), EM__ACT_EXIT2, A("srv"));
    OK(em_tuple(4, em_int(37), em_int(16 | 4), D(from), D(ref)), A("r"), EM__ACT_EXIT2, ref);
    OK(em_tuple(4, em_int(37), em_int(0x100 | 4), D(from), D(ref)), A("m"), EM__ACT_SEND, ref);
    OK(em_tuple(4, em_int(37), big_flags(4), D(from), D(ref)), A("m"), EM__ACT_SEND, ref);
    OK(em_tuple(6, em_int(37), em_int(4), D(from), D(ref), A("later"), A("fields")), A("m"), EM__ACT_SEND, ref);
    /* the exit reason is the message */
    ck_assert_int_eq(parse_of(em_tuple(4, em_int(37), em_int(16), D(from), D(pid)), A("why"), &k), 0);
    ck_assert(k.reason == A("why"));
    em__ctl_free(&k);
    BAD(em_tuple(3, em_int(37), em_int(0), D(from)), A("m"));               /* too short */
    BAD(em_tuple(4, em_int(37), em_int(-4), D(from), D(ref)), A("m"));      /* negative */
    BAD(em_tuple(4, em_int(37), em_bigint(true, (const uint8_t *)"\4\0\0\0\0\0\0\0\1", 9), D(from), D(ref)),
        A("m"));
    BAD(em_tuple(4, em_int(37), A("four"), D(from), D(ref)), A("m"));       /* not an integer */
    BAD(em_tuple(4, em_int(37), em_int(4 | 8), D(from), D(ref)), A("m"));   /* alias and name */
    BAD(em_tuple(4, em_int(37), em_int(4), D(from), D(pid)), A("m"));       /* alias, not a ref */
    BAD(em_tuple(4, em_int(37), em_int(8), D(from), D(pid)), A("m"));       /* name, not an atom */
    BAD(em_tuple(4, em_int(37), em_int(0), D(from), D(ref)), A("m"));       /* pid expected */
    BAD(em_tuple(4, em_int(37), em_int(2), D(from), D(pid)), A("m"));       /* token flag, no token */
    BAD(em_tuple(4, em_int(37), em_int(0), A("x"), D(pid)), A("m"));        /* from not a pid */
    BAD(em_tuple(4, em_int(37), em_int(0), D(from), D(pid)), EM_NONE);      /* no message */
#undef OK
#undef BAD
#undef D
    em_drop(from);
    em_drop(ref);
    em_drop(pid);
}
END_TEST

/* ---- the wire: a peer of the test's own ---- */

static em_term got; /* what `b` received, as a list, newest first */
static _Atomic int b_ready, b_done;
static em_term b_alias, b_old;

/* Registered `b`: traps exits, makes an active alias (b_alias) and an
 * inactive one (b_old), then records every message until `stop`. */
static void b_main(void *arg)
{
    (void)arg;
    em_trap_exit(true);
    em_register(A("b"), em_self());
    b_alias = em_alias();
    b_old = em_alias();
    em_unalias(b_old);
    shared_pid = em_self();
    atomic_store(&b_ready, 1);
    got = EM_NIL;
    em_term m;
    while (em_receive_any(20000, &m) == 0) {
        got = em_cons(em_dup(m), got);
        if (m == A("stop"))
            break;
    }
    atomic_store(&b_done, 1);
}

static void wait_flag(_Atomic int *f)
{
    int64_t end = rt_now_ms() + 20000;
    while (!atomic_load(f) && rt_now_ms() < end)
        usleep(1000);
    ck_assert(atomic_load(f));
}

static void send_frame(int fd, em_term ctl, em_term msg)
{
    ck_assert_int_eq(peer_send(fd, ctl, msg), 0);
    em_drop(ctl);
    em_drop(msg);
}

/* From a peer: ALIAS_SEND, ALIAS_SEND_TT and every form of
 * ALTACT_SIG_SEND reach the local process (a message, or with the EXIT
 * flag an exit signal) through a pid, a name or an active alias; through
 * an inactive alias nothing arrives. */
START_TEST(a_peer_reaches_a_process_through_its_alias)
{
    peertest_node_start();
    em_spawn(b_main, NULL);
    wait_flag(&b_ready);
    int fd = peer_dial("peer@localhost", EM__DF_MINE);
    ck_assert_int_ge(fd, 0);
    em_term from = peer_pid("peer@localhost", 5);
#define D em_dup
    send_frame(fd, em_tuple(3, em_int(33), D(from), D(b_alias)), A("m1"));
    send_frame(fd, em_tuple(4, em_int(34), D(from), D(b_alias), A("token")), A("m2"));
    send_frame(fd, em_tuple(4, em_int(37), em_int(4), D(from), D(b_alias)), A("m3"));
    send_frame(fd, em_tuple(4, em_int(37), em_int(0), D(from), D(shared_pid)), A("m4"));
    send_frame(fd, em_tuple(4, em_int(37), em_int(8), D(from), A("b")), A("m5"));
    send_frame(fd, em_tuple(4, em_int(37), em_int(1 | 8), D(from), A("b")), A("m6"));
    send_frame(fd, em_tuple(5, em_int(37), em_int(2 | 4), D(from), D(b_alias), A("token")), A("m7"));
    send_frame(fd, em_tuple(4, em_int(37), big_flags(4), D(from), D(b_alias)), A("m8"));
    send_frame(fd, em_tuple(6, em_int(37), em_int(4), D(from), D(b_alias), A("x"), A("y")), A("m9"));
    send_frame(fd, em_tuple(3, em_int(33), D(from), D(b_old)), A("lost1"));
    send_frame(fd, em_tuple(4, em_int(37), em_int(4), D(from), D(b_old)), A("lost2"));
    send_frame(fd, em_tuple(4, em_int(37), em_int(8), D(from), A("nobody")), A("lost3"));
    send_frame(fd, em_tuple(4, em_int(37), em_int(16 | 8), D(from), A("b")), A("r1"));
    send_frame(fd, em_tuple(4, em_int(37), em_int(16 | 4), D(from), D(b_alias)), A("r2"));
    send_frame(fd, em_tuple(4, em_int(37), em_int(16 | 4), D(from), D(b_old)), A("r3"));
    send_frame(fd, em_tuple(4, em_int(37), em_int(16), D(from), D(shared_pid)), A("r4"));
    send_frame(fd, em_tuple(3, em_int(2), A(""), D(shared_pid)), A("stop"));
#undef D
    wait_flag(&b_done);
    char *text = em_print_alloc(got, EM_PRINT_P);
    em_term want = em_parse("[stop, {'EXIT', p, r4}, {'EXIT', p, r2}, {'EXIT', p, r1},"
                            " m9, m8, m7, m6, m5, m4, m3, m2, m1]");
    ck_assert_int_eq(em_list_length(got), em_list_length(want));
    em_term g = got, w = want;
    for (; g != EM_NIL; g = em_tl(g), w = em_tl(w)) {
        em_term gh = em_hd(g), wh = em_hd(w);
        if (em_typeof(wh) == EM_TYPE_TUPLE)
            ck_assert_msg(em_tuple_size(gh) == 3 && em_tuple_get(gh, 0) == A("EXIT") &&
                              em_equal(em_tuple_get(gh, 1), from) && em_tuple_get(gh, 2) == em_tuple_get(wh, 2),
                          "got %s", text);
        else
            ck_assert_msg(gh == wh, "got %s", text);
    }
    free(text);
    em_drop(want);
    em_drop(got);
    em_drop(from);
    close(fd);
    em_drop(b_alias);
    em_drop(b_old);
    ck_assert_em_ok(em_node_stop());
    ck_assert_int_eq(em_run(), 0);
    epmd_stop();
}
END_TEST

static em_term out_ref, out_ref2, out_pid2;

static void sends_to_aliases(void *arg)
{
    (void)arg;
    CHECK(em_send(out_ref, A("out1")) == 0);
    CHECK(em_send(out_ref2, A("out2")) == 0); /* a peer without aliases: dropped */
    CHECK(em_send(out_pid2, A("out3")) == 0);
    /* A reference of this node's name from an earlier incarnation: no
     * process to reach, nothing goes out. */
    uint32_t cr, w[5] = {1, 2, 3, 4, 5};
    em_term stale = em_ref(em_local_node(&cr), cr + 1, w, 5);
    CHECK(em_send(stale, A("nowhere")) == 0);
    em_drop(stale);
}

/* To a peer: em_send to a reference of its node is ALIAS_SEND {33,
 * FromPid, Alias} + Msg when the connection has DFLAG_ALIAS, and nothing
 * when it has not. */
START_TEST(a_send_to_a_remote_alias_is_alias_send)
{
    peertest_node_start();
    int fd = peer_dial("peer@localhost", EM__DF_MINE);
    ck_assert_int_ge(fd, 0);
    int fd2 = peer_dial("old@localhost", EM__DF_MINE & ~EM__DF_ALIAS);
    ck_assert_int_ge(fd2, 0);
    out_ref = peer_ref("peer@localhost", 7, 5);
    out_ref2 = peer_ref("old@localhost", 8, 3);
    out_pid2 = peer_pid("old@localhost", 3);
    em_term sender = em_spawn(sends_to_aliases, NULL);
    em_term ctl, msg;
    ck_assert_int_eq(peer_recv(fd, &ctl, &msg), 0);
    ck_assert_int_eq(em_tuple_size(ctl), 3);
    ck_assert(em_tuple_get(ctl, 0) == em_int(33) && em_tuple_get(ctl, 1) == sender &&
              em_equal(em_tuple_get(ctl, 2), out_ref) && msg == A("out1"));
    em_drop(ctl);
    ck_assert_int_eq(peer_recv(fd2, &ctl, &msg), 0); /* the first frame old@ gets */
    ck_assert(msg == A("out3"));
    em_drop(ctl);
    close(fd);
    close(fd2);
    ck_assert_em_ok(em_node_stop());
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 4);
    em_drop(out_ref);
    em_drop(out_ref2);
    em_drop(out_pid2);
    epmd_stop();
}
END_TEST

static Suite *alias_suite(void)
{
    Suite *s = suite_create("alias");
    TCase *tc = tcase_create("local");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, an_alias_delivers_until_unaliased);
    tcase_add_test(tc, a_reply_alias_takes_one_message);
    tcase_add_test(tc, a_message_on_its_way_when_unaliased_is_dropped);
    tcase_add_test(tc, an_alias_belongs_to_its_process);
    tcase_add_test(tc, a_monitor_alias_ends_with_its_monitor_or_not);
    tcase_add_test(tc, a_reply_demonitor_alias_ends_both_at_the_reply);
    tcase_add_test(tc, messages_through_an_alias_keep_their_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("wire");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, alias_and_altact_packets_parse_as_otp_reads_them);
    tcase_add_test(tc, a_peer_reaches_a_process_through_its_alias);
    tcase_add_test(tc, a_send_to_a_remote_alias_is_alias_send);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(alias_suite)
