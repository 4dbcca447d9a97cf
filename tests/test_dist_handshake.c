/* test_dist_handshake.c: the handshake state machine (both roles against
 * each other and against hand-made OTP messages), and the control-message
 * parser.  No sockets: em__hs_step is pure. */
#include <string.h>

#include "dist_int.h"
#include "emtest.h"

#define MYFLAGS EM__DF_MINE

/* Split out[] (2-byte framed messages) and feed each to `to`; returns the
 * last em__hs_step result (EM__HS_CONT if nothing was fed). */
static int feed(em__hs *to, em_buf *out, em_buf *reply)
{
    int rc = EM__HS_CONT;
    size_t pos = 0;
    while (pos + 2 <= out->len && rc >= 0) {
        size_t n = (size_t)out->data[pos] << 8 | out->data[pos + 1];
        ck_assert(pos + 2 + n <= out->len);
        rc = em__hs_step(to, out->data + pos + 2, n, reply);
        pos += 2 + n;
    }
    out->len = 0;
    return rc;
}

static int st_result = EM__HS_ST_OK;
static int status_cb(void *ud, const char *peer, size_t len)
{
    (void)ud;
    (void)peer;
    (void)len;
    return st_result;
}

static bool pending_answer = true;
static bool pending_cb(void *ud)
{
    (void)ud;
    return pending_answer;
}

/* Run A (initiator) against B (acceptor); return A's and B's final
 * results in *ra, *rb. */
static void run_pair(const char *ca, const char *cb, const char *dialled, int *ra, int *rb)
{
    em__hs a, b;
    em_buf ab = EM_BUF_INIT, ba = EM_BUF_INIT;
    em__hs_init(&a, EM__HS_INITIATOR, "a@localhost", MYFLAGS, 11, ca);
    em__hs_init(&b, EM__HS_ACCEPTOR, "b@localhost", MYFLAGS, 22, cb);
    a.dialled = dialled;
    a.pending_cb = pending_cb;
    b.status_cb = status_cb;
    ck_assert_int_eq(em__hs_start(&a, &ab), 0);
    ck_assert_int_eq(em__hs_start(&b, &ba), 0);
    *ra = *rb = EM__HS_CONT;
    for (int round = 0; round < 10; round++) {
        if (ab.len && *rb == EM__HS_CONT)
            *rb = feed(&b, &ab, &ba);
        if (ba.len && *ra >= 0 && *ra != EM__HS_DONE)
            *ra = feed(&a, &ba, &ab);
        if ((*ra != EM__HS_CONT) && (*rb != EM__HS_CONT))
            break;
        if (!ab.len && !ba.len)
            break;
    }
    if (*ra == EM__HS_DONE) {
        ck_assert_int_eq(a.peer_creation, 22);
        ck_assert_str_eq(a.peer_name, "b@localhost");
    }
    if (*rb == EM__HS_DONE) {
        ck_assert_int_eq(b.peer_creation, 11);
        ck_assert_str_eq(b.peer_name, "a@localhost");
        ck_assert((b.peer_flags & MYFLAGS) == MYFLAGS);
    }
    em_buf_free(&ab);
    em_buf_free(&ba);
}

START_TEST(pair_ok)
{
    int ra, rb;
    st_result = EM__HS_ST_OK;
    run_pair("abc", "abc", "b@localhost", &ra, &rb);
    ck_assert_int_eq(ra, EM__HS_DONE);
    ck_assert_int_eq(rb, EM__HS_DONE);
}
END_TEST

START_TEST(pair_bad_cookie)
{
    int ra, rb;
    st_result = EM__HS_ST_OK;
    run_pair("abc", "xyz", "b@localhost", &ra, &rb);
    ck_assert_int_eq(rb, EM_EAUTH); /* B checks A's digest first */
    ck_assert_int_ne(ra, EM__HS_DONE);
}
END_TEST

START_TEST(pair_wrong_name)
{
    int ra, rb;
    st_result = EM__HS_ST_OK;
    run_pair("abc", "abc", "b@127.0.0.1", &ra, &rb);
    ck_assert_int_eq(ra, EM_EPROTO);
}
END_TEST

START_TEST(pair_statuses)
{
    int ra, rb;
    st_result = EM__HS_ST_NOK;
    run_pair("abc", "abc", "b@localhost", &ra, &rb);
    ck_assert_int_eq(rb, EM_ECANCELED);
    ck_assert_int_eq(ra, EM_ECANCELED);
    st_result = EM__HS_ST_NOT_ALLOWED;
    run_pair("abc", "abc", "b@localhost", &ra, &rb);
    ck_assert_int_eq(ra, EM_ECONNREFUSED);
    st_result = EM__HS_ST_OK_SIMULTANEOUS;
    run_pair("abc", "abc", "b@localhost", &ra, &rb);
    ck_assert_int_eq(ra, EM__HS_DONE);
    ck_assert_int_eq(rb, EM__HS_DONE);
    st_result = EM__HS_ST_ALIVE; /* A is still pending: strue, B goes on */
    run_pair("abc", "abc", "b@localhost", &ra, &rb);
    ck_assert_int_eq(ra, EM__HS_DONE);
    ck_assert_int_eq(rb, EM__HS_DONE);
    pending_answer = false; /* A was superseded: sfalse, both give up */
    run_pair("abc", "abc", "b@localhost", &ra, &rb);
    ck_assert_int_eq(ra, EM_ECANCELED);
    ck_assert_int_lt(rb, 0);
    pending_answer = true;
    st_result = EM__HS_ST_OK;
}
END_TEST

/* OTP 25.2.3's own send_name (dist_util:send_name). */
START_TEST(otp_send_name)
{
    static const uint8_t m[] = {'N', 0, 0, 0, 0x0d, 0x07, 0xdf, 0x7f, 0xbd, 0x6b, 0x05, 0x27, 0x15,
                                0, 5, 'e', '1', '@', 'v', 'm'};
    em__hs b;
    em_buf out = EM_BUF_INIT;
    em__hs_init(&b, EM__HS_ACCEPTOR, "c@localhost", MYFLAGS, 5, "abc");
    b.my_challenge = 3141592653u;
    em__hs_start(&b, &out);
    ck_assert_int_eq(em__hs_step(&b, m, sizeof m, &out), EM__HS_CONT);
    ck_assert_str_eq(b.peer_name, "e1@vm");
    ck_assert_uint_eq(b.peer_flags, 0xD07DF7FBDULL | EM__DF_MANDATORY_25);
    ck_assert_uint_eq(b.peer_creation, 0x6b052715u);
    /* sok, then the challenge with our exact name */
    ck_assert_int_eq(out.data[0], 0);
    ck_assert_int_eq(out.data[1], 3);
    ck_assert(memcmp(out.data + 2, "sok", 3) == 0);
    const uint8_t *ch = out.data + 5 + 2;
    ck_assert_int_eq(ch[0], 'N');
    ck_assert_int_eq(ch[17] << 8 | ch[18], 11);
    ck_assert(memcmp(ch + 19, "c@localhost", 11) == 0);
    /* a reply with the right digest is acked */
    uint8_t r[21] = {'r', 0, 0, 0, 42};
    em__dist_digest("abc", 3141592653u, r + 5);
    out.len = 0;
    ck_assert_int_eq(em__hs_step(&b, r, sizeof r, &out), EM__HS_DONE);
    ck_assert_int_eq(out.data[2], 'a');
    uint8_t want[16];
    em__dist_digest("abc", 42, want);
    ck_assert(memcmp(out.data + 3, want, 16) == 0);
    em_buf_free(&out);
}
END_TEST

START_TEST(old_n_with_complement)
{
    /* 'n' v5 + flags32 (the 25 set) + name; then complement 'c'. */
    uint8_t m[7 + 5] = {'n', 0, 5};
    uint32_t f = (uint32_t)EM__DF_MANDATORY_25;
    m[3] = (uint8_t)(f >> 24);
    m[4] = (uint8_t)(f >> 16);
    m[5] = (uint8_t)(f >> 8);
    m[6] = (uint8_t)f;
    memcpy(m + 7, "o@old", 5);
    em__hs b;
    em_buf out = EM_BUF_INIT;
    em__hs_init(&b, EM__HS_ACCEPTOR, "c@localhost", MYFLAGS, 5, "abc");
    em__hs_start(&b, &out);
    ck_assert_int_eq(em__hs_step(&b, m, sizeof m, &out), EM__HS_CONT);
    ck_assert_int_eq(b.peer_version, 5);
    static const uint8_t c[] = {'c', 0, 0, 0, 4, 0, 0, 0, 9};
    ck_assert_int_eq(em__hs_step(&b, c, sizeof c, &out), EM__HS_CONT);
    ck_assert_uint_eq(b.peer_creation, 9);
    ck_assert(b.peer_flags & EM__DF_V4_NC);
    em_buf_free(&out);
}
END_TEST

START_TEST(refusals)
{
    em__hs b;
    em_buf out = EM_BUF_INIT;
    /* missing mandatory flags -> snot_allowed */
    uint8_t m[20] = {'N', 0, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 1, 0, 5, 'x', '@', 'y', 'z', 'w'};
    em__hs_init(&b, EM__HS_ACCEPTOR, "c@h", MYFLAGS, 5, "abc");
    em__hs_start(&b, &out);
    ck_assert_int_eq(em__hs_step(&b, m, sizeof m, &out), EM_ENOTSUP);
    ck_assert(out.len == 2 + 12 && memcmp(out.data + 2, "snot_allowed", 12) == 0);
    /* bad names, truncation, wrong message, empty message */
    static const char *names[] = {"noat", "@h", "a@", "a@b@c"};
    for (int i = 0; i < 4; i++) {
        uint8_t n[40] = {'N', 0, 0, 0, 0, 0x04, 0x07, 0x0f, 0x94, 0, 0, 0, 1};
        size_t l = strlen(names[i]);
        n[14] = (uint8_t)l;
        memcpy(n + 15, names[i], l);
        em__hs_init(&b, EM__HS_ACCEPTOR, "c@h", MYFLAGS, 5, "abc");
        em__hs_start(&b, &out);
        ck_assert_int_eq(em__hs_step(&b, n, 15 + l, &out), EM_EPROTO);
    }
    em__hs_init(&b, EM__HS_ACCEPTOR, "c@h", MYFLAGS, 5, "abc");
    em__hs_start(&b, &out);
    ck_assert_int_eq(em__hs_step(&b, m, 10, &out), EM_EPROTO);
    ck_assert_int_eq(em__hs_step(&b, (const uint8_t *)"x", 0, &out), EM_EPROTO);
    /* a reply of the wrong length */
    em__hs a;
    em__hs_init(&a, EM__HS_INITIATOR, "a@h", MYFLAGS, 5, "abc");
    a.dialled = "c@h";
    em__hs_start(&a, &out);
    ck_assert_int_eq(em__hs_step(&a, (const uint8_t *)"sbogus", 6, &out), EM_EPROTO);
    em_buf_free(&out);
}
END_TEST

START_TEST(flags)
{
    ck_assert_uint_eq(EM__DF_MINE & EM__DF_PUBLISHED, 0);
    ck_assert_uint_eq(EM__DF_MINE & (EM__DF_DIST_HDR_ATOM_CACHE | EM__DF_FRAGMENTS), 0);
    ck_assert_uint_eq(EM__DF_MANDATORY_26, 0x403070F94ULL);
    ck_assert_uint_eq(EM__DF_MINE & EM__DF_MANDATORY_26, EM__DF_MANDATORY_26);
    ck_assert_uint_eq(em__dist_expand_flags(EM__DF_MANDATORY_25_DIGEST) & EM__DF_MANDATORY_25,
                      EM__DF_MANDATORY_25);
}
END_TEST

/* ---- control messages ---- */

static size_t packet(uint8_t *buf, em_term ctl, em_term msg)
{
    buf[0] = 'p';
    long n = em_etf_encode_into(buf + 1, 4096, ctl, EM_ETF_DIST);
    ck_assert(n > 0);
    size_t len = 1 + (size_t)n;
    if (msg != EM_NONE) {
        n = em_etf_encode_into(buf + len, 4096, msg, EM_ETF_DIST);
        ck_assert(n > 0);
        len += (size_t)n;
    }
    em_drop(ctl);
    em_drop(msg);
    return len;
}

START_TEST(ctl_parse)
{
    uint8_t buf[8192];
    em_term node = em_atom("e1@vm");
    em_term pid = em_pid(node, 5, 0, 7), me = em_pid(em_atom("c@h"), 1, 0, 3);
    uint32_t w[3] = {1, 2, 3};
    em_term ref = em_ref(node, 7, w, 3);
    em__ctl k;
    size_t n;
    n = packet(buf, em_tuple(3, em_int(2), em_atom(""), em_dup(me)), em_atom("hi"));
    ck_assert_int_eq(em__ctl_parse(buf, n, &k), 0);
    ck_assert_int_eq(k.act, EM__ACT_SEND);
    ck_assert(k.msg == em_atom("hi"));
    em__ctl_free(&k);
    n = packet(buf, em_tuple(4, em_int(6), em_dup(pid), em_atom(""), em_atom("net_kernel")), em_int(1));
    ck_assert_int_eq(em__ctl_parse(buf, n, &k), 0);
    ck_assert_int_eq(k.act, EM__ACT_REG_SEND);
    em__ctl_free(&k);
    n = packet(buf, em_tuple(3, em_int(24), em_dup(pid), em_dup(me)), em_atom("boom"));
    ck_assert_int_eq(em__ctl_parse(buf, n, &k), 0);
    ck_assert_int_eq(k.act, EM__ACT_EXIT);
    ck_assert(k.reason == em_atom("boom"));
    em__ctl_free(&k);
    n = packet(buf, em_tuple(5, em_int(21), em_atom("name"), em_dup(me), em_dup(ref), em_atom("noproc")), EM_NONE);
    ck_assert_int_eq(em__ctl_parse(buf, n, &k), 0);
    ck_assert_int_eq(k.act, EM__ACT_DOWN);
    em__ctl_free(&k);
    n = packet(buf, em_tuple(4, em_int(35), em_int(9), em_dup(pid), em_dup(me)), EM_NONE);
    ck_assert_int_eq(em__ctl_parse(buf, n, &k), 0);
    ck_assert_int_eq(k.act, EM__ACT_UNLINK_ID);
    em__ctl_free(&k);
    /* unknown op, bad shape: EBADARG (logged, connection stays) */
    n = packet(buf, em_tuple(2, em_int(99), em_dup(pid)), EM_NONE);
    ck_assert_int_eq(em__ctl_parse(buf, n, &k), EM_EBADARG);
    em__ctl_free(&k);
    n = packet(buf, em_tuple(3, em_int(2), em_atom(""), em_atom("notapid")), em_int(1));
    ck_assert_int_eq(em__ctl_parse(buf, n, &k), EM_EBADARG);
    em__ctl_free(&k);
    /* not pass-through, truncated, trailing garbage: EPROTO */
    n = packet(buf, em_tuple(3, em_int(2), em_atom(""), em_dup(me)), em_atom("hi"));
    buf[0] = 131;
    ck_assert_int_eq(em__ctl_parse(buf, n, &k), EM_EPROTO);
    buf[0] = 'p';
    ck_assert_int_eq(em__ctl_parse(buf, n - 1, &k), EM_EPROTO);
    buf[n] = 0;
    ck_assert_int_eq(em__ctl_parse(buf, n + 1, &k), EM_EPROTO);
    em_drop(pid);
    em_drop(me);
    em_drop(ref);
}
END_TEST

/* The reader's cache of the last control tuple: equal bytes give the same
 * term (and the message after them), other bytes are decoded and replace
 * it; a control message that does not decode is refused either way. */
START_TEST(ctl_parse_cached)
{
    uint8_t buf[8192];
    em_term pid = em_pid(em_atom("e1@vm"), 5, 0, 7), me = em_pid(em_atom("c@h"), 1, 0, 3);
    em__ctl_cache cache = {.len = 0, .ctl = EM_NONE};
    em__ctl k;
    size_t n = packet(buf, em_tuple(4, em_int(6), em_dup(pid), em_atom(""), em_atom("sink")), em_int(1));
    ck_assert_int_eq(em__ctl_parse_cached(buf, n, &k, &cache, EM_NONE), 0);
    ck_assert(cache.len > 0 && cache.ctl == k.ctl);
    em_term first = k.ctl;
    em__ctl_free(&k);
    n = packet(buf, em_tuple(4, em_int(6), em_dup(pid), em_atom(""), em_atom("sink")), em_atom("second"));
    ck_assert_int_eq(em__ctl_parse_cached(buf, n, &k, &cache, EM_NONE), 0);
    ck_assert(k.ctl == first); /* reused, not decoded */
    ck_assert_int_eq(k.act, EM__ACT_REG_SEND);
    ck_assert(k.to == em_atom("sink") && k.msg == em_atom("second"));
    em__ctl_free(&k);
    /* the same prefix, another name: decoded, and cached instead */
    n = packet(buf, em_tuple(4, em_int(6), em_dup(pid), em_atom(""), em_atom("sinks")), em_int(2));
    ck_assert_int_eq(em__ctl_parse_cached(buf, n, &k, &cache, EM_NONE), 0);
    ck_assert(k.to == em_atom("sinks") && k.ctl != first);
    ck_assert(cache.ctl == k.ctl);
    em__ctl_free(&k);
    /* a control message alone, then the cached bytes followed by garbage */
    n = packet(buf, em_tuple(3, em_int(1), em_dup(pid), em_dup(me)), EM_NONE);
    ck_assert_int_eq(em__ctl_parse_cached(buf, n, &k, &cache, EM_NONE), 0);
    ck_assert_int_eq(k.act, EM__ACT_LINK);
    em__ctl_free(&k);
    ck_assert_int_eq(em__ctl_parse_cached(buf, n, &k, &cache, EM_NONE), 0);
    ck_assert_int_eq(k.act, EM__ACT_LINK);
    em__ctl_free(&k);
    buf[n] = 0;
    ck_assert_int_eq(em__ctl_parse_cached(buf, n + 1, &k, &cache, EM_NONE), EM_EPROTO);
    em__ctl_cache_clear(&cache);
    ck_assert(cache.len == 0 && cache.ctl == EM_NONE);
    em_drop(pid);
    em_drop(me);
}
END_TEST

static Suite *dist_handshake_suite(void)
{
    Suite *s = suite_create("dist_handshake");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, pair_ok);
    tcase_add_test(tc, pair_bad_cookie);
    tcase_add_test(tc, pair_wrong_name);
    tcase_add_test(tc, pair_statuses);
    tcase_add_test(tc, otp_send_name);
    tcase_add_test(tc, old_n_with_complement);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, flags);
    tcase_add_test(tc, ctl_parse);
    tcase_add_test(tc, ctl_parse_cached);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(dist_handshake_suite)
