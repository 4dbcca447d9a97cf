/* test_etf_msg.c: encoding a distribution message into a sink
 * (em__etf_encode_msg_size, em__etf_encode_msg: term/etf_encode.h), the
 * encoder's seam with the distribution's out-queue.
 *
 * A recording sink here plays the out-queue: it gives one room, and keeps
 * the output as a list of pieces (runs of the room, and binaries by
 * reference), so a test can check the bytes, the size given in advance,
 * the room asked for, and which binaries were referenced, not copied. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emtest.h"
#include "etf_encode.h"
#include "term_int.h"

static em_term A(const char *s)
{
    em_term a;
    ck_assert_em_ok(em_atom_new(s, strlen(s), &a));
    return a;
}

#define MAX_PIECES 64

typedef struct piece {
    const uint8_t *data; /* into the room, or a referenced binary's bytes */
    size_t n;
    em_term bin;         /* the binary (a reference held), or EM_NONE */
} piece;

typedef struct rec {
    uint8_t *room;
    size_t room_n;
    int rooms;           /* room calls */
    size_t used;         /* bytes of the room committed */
    piece p[MAX_PIECES];
    int np;
    /* Fault injection: fail the call of this kind once this many of its
     * kind have succeeded (-1: never). */
    int fail_room, fail_commit, fail_ref;
    int commits, refs;
} rec;

static uint8_t *rec_room(void *ud, size_t n)
{
    rec *r = ud;
    ck_assert_int_gt(n, 0);
    if (r->fail_room == r->rooms++)
        return NULL;
    r->room = malloc(n);
    r->room_n = n;
    ck_assert_ptr_nonnull(r->room);
    return r->room;
}

static int rec_commit(void *ud, size_t n)
{
    rec *r = ud;
    ck_assert_int_gt(n, 0);
    ck_assert_uint_le(r->used + n, r->room_n);
    if (r->fail_commit == r->commits++)
        return EM_ENOMEM;
    ck_assert_int_lt(r->np, MAX_PIECES);
    r->p[r->np++] = (piece){r->room + r->used, n, EM_NONE};
    r->used += n;
    return 0;
}

static int rec_ref(void *ud, em_term bin, const uint8_t *data, size_t n)
{
    rec *r = ud;
    if (r->fail_ref == r->refs++)
        return EM_ECLOSED;
    ck_assert_int_lt(r->np, MAX_PIECES);
    r->p[r->np++] = (piece){data, n, em_dup(bin)};
    return 0;
}

static void rec_init(rec *r)
{
    memset(r, 0, sizeof *r);
    r->fail_room = r->fail_commit = r->fail_ref = -1;
}

static void rec_fini(rec *r)
{
    for (int i = 0; i < r->np; i++)
        em_drop(r->p[i].bin);
    free(r->room);
}

/* The output, pieces joined. */
static size_t rec_bytes(const rec *r, em_buf *out)
{
    for (int i = 0; i < r->np; i++)
        ck_assert_em_ok(em_buf_append(out, r->p[i].data, r->p[i].n));
    return out->len;
}

/* head ++ em_etf_encode(ctl, DIST) ++ em_etf_encode(msg, DIST). */
static void expected(const uint8_t *head, size_t nhead, em_term ctl, em_term msg, em_buf *want)
{
    ck_assert_em_ok(em_buf_append(want, head, nhead));
    ck_assert_em_ok(em_etf_encode(want, ctl, EM_ETF_DIST));
    if (msg != EM_NONE)
        ck_assert_em_ok(em_etf_encode(want, msg, EM_ETF_DIST));
}

/* Encode ctl, msg through a recording sink with a 5-byte header and check
 * everything the contract says; returns the number of references. */
static int encode_checked(em_term ctl, em_term msg, size_t ref_min, rec *r)
{
    static const uint8_t head[5] = {1, 2, 3, 4, 'p'};
    em__etf_msg m;
    ck_assert_em_ok(em__etf_encode_msg_size(&m, ctl, msg, ref_min));
    rec_init(r);
    em__etf_sink s = {rec_room, rec_commit, rec_ref, r};
    ck_assert_em_ok(em__etf_encode_msg(&m, head, sizeof head, &s));

    em_buf want = {0}, got = {0};
    expected(head, sizeof head, ctl, msg, &want);
    rec_bytes(r, &got);
    ck_assert_uint_eq(got.len, want.len);
    ck_assert(memcmp(got.data, want.data, want.len) == 0);
    /* The size in advance is the size written, and the one room asked
     * for is exactly the bytes copied. */
    ck_assert_uint_eq(m.size, want.len - sizeof head);
    ck_assert_int_eq(r->rooms, 1);
    ck_assert_uint_eq(r->room_n, sizeof head + m.copied);
    ck_assert_uint_eq(r->used, r->room_n);
    int refs = 0;
    size_t refd = 0;
    for (int i = 0; i < r->np; i++) {
        if (r->p[i].bin == EM_NONE)
            continue;
        refs++;
        refd += r->p[i].n;
        /* A reference is the binary's own bytes, at least ref_min. */
        size_t nbits;
        const uint8_t *d = em_binary_data(r->p[i].bin, &nbits);
        ck_assert_ptr_eq(d, r->p[i].data);
        ck_assert_uint_eq((nbits + 7) / 8, r->p[i].n);
        ck_assert_uint_ge(r->p[i].n, ref_min);
        /* Pieces of the room and references alternate: runs between
         * references are committed as one. */
        if (i > 0)
            ck_assert(r->p[i - 1].bin == EM_NONE);
    }
    ck_assert_uint_eq(m.size - m.copied, refd);
    em_buf_free(&want);
    em_buf_free(&got);
    return refs;
}

static em_term big_bin(size_t n, uint8_t seed)
{
    uint8_t *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed + i * 7);
    em_term t = em_binary(b, n);
    free(b);
    ck_assert(t != EM_NONE);
    return t;
}

START_TEST(test_small_message_is_one_run)
{
    em_term ctl = em_tuple(3, em_int(2), A(""), em_pid(A("a@b"), 5, 0, 1));
    em_term msg = em_tuple(2, A("hello"), em_string("world"));
    rec r;
    ck_assert_int_eq(encode_checked(ctl, msg, 4096, &r), 0);
    ck_assert_int_eq(r.np, 1);
    rec_fini(&r);
    /* No message: the control tuple alone. */
    ck_assert_int_eq(encode_checked(ctl, EM_NONE, 4096, &r), 0);
    ck_assert_int_eq(r.np, 1);
    rec_fini(&r);
    em_drop(ctl);
    em_drop(msg);
}
END_TEST

START_TEST(test_large_binary_is_referenced_not_copied)
{
    em_term ctl = em_tuple(3, em_int(6), em_pid(A("a@b"), 5, 0, 1), A("sink"));
    em_term bin = big_bin(65536, 1);
    rec r;
    ck_assert_int_eq(encode_checked(ctl, bin, 4096, &r), 1);
    /* The header, the control tuple, 131 and the BINARY_EXT header, then
     * the binary: nothing after it. */
    ck_assert_int_eq(r.np, 2);
    ck_assert(r.p[1].bin == bin);
    ck_assert_ptr_eq(r.p[1].data, em_binary_data(bin, NULL));
    ck_assert_uint_lt(r.room_n, 100);
    rec_fini(&r);
    em_drop(ctl);
    em_drop(bin);
}
END_TEST

START_TEST(test_ref_min_is_the_threshold)
{
    em_term ctl = em_tuple(1, em_int(2));
    em_term below = big_bin(4095, 2), at = big_bin(4096, 3);
    rec r;
    ck_assert_int_eq(encode_checked(ctl, below, 4096, &r), 0);
    rec_fini(&r);
    ck_assert_int_eq(encode_checked(ctl, at, 4096, &r), 1);
    rec_fini(&r);
    /* SIZE_MAX: nothing referenced, one run. */
    ck_assert_int_eq(encode_checked(ctl, at, SIZE_MAX, &r), 0);
    ck_assert_int_eq(r.np, 1);
    rec_fini(&r);
    /* A binary in the control tuple counts too. */
    em_term ctl2 = em_tuple(2, em_int(3), em_dup(at));
    ck_assert_int_eq(encode_checked(ctl2, em_int(1), 4096, &r), 1);
    rec_fini(&r);
    em_drop(ctl2);
    em_drop(ctl);
    em_drop(below);
    em_drop(at);
}
END_TEST

START_TEST(test_binaries_anywhere_in_the_message)
{
    /* In tuples, lists (elements and an improper tail), maps (keys and
     * values), deep down, beside small things, and a bitstring. */
    em_term b1 = big_bin(5000, 1), b2 = big_bin(10000, 2), b3 = big_bin(4096, 3),
            b4 = big_bin(70000, 4), b5 = big_bin(8192, 5);
    em_term bits = em_bitstring(em_binary_data(b2, NULL), 8 * 6000 + 3);
    ck_assert(bits != EM_NONE);
    em_term deep = em_dup(b5);
    for (int i = 0; i < 40; i++)
        deep = em_tuple(2, em_int(i), deep);
    em_term msg = em_tuple(6, em_dup(b1),
                           em_listv_tail(3, (em_term[]){em_int(1), em_dup(b2), em_string("x")},
                                         em_dup(b3)),
                           em_map(2, A("k"), em_dup(b4), em_dup(b1), em_int(7)),
                           em_binary("small", 5), deep, bits);
    ck_assert(msg != EM_NONE);
    em_term ctl = em_tuple(4, em_int(22), em_pid(A("a@b"), 5, 0, 1), A("x"), A("y"));
    rec r;
    ck_assert_int_eq(encode_checked(ctl, msg, 4096, &r), 7);
    rec_fini(&r);
    /* With a smaller threshold the small binary goes too. */
    ck_assert_int_eq(encode_checked(ctl, msg, 5, &r), 8);
    rec_fini(&r);
    em_drop(ctl);
    em_drop(msg);
    em_drop(b1);
    em_drop(b2);
    em_drop(b3);
    em_drop(b4);
    em_drop(b5);
}
END_TEST

START_TEST(test_shared_binary_of_a_decoded_message)
{
    /* A large binary of a message decoded from a binary points into it
     * (em_etf_decode_bin): the reference is to those bytes. */
    em_term inner = em_tuple(2, A("data"), big_bin(20000, 9));
    em_buf b = {0};
    ck_assert_em_ok(em_etf_encode(&b, inner, 0));
    em_term wire = em_binary(b.data, b.len);
    em_term msg;
    ck_assert_em_ok(em_etf_decode_bin(wire, NULL, NULL, &msg));
    em_drop(wire);
    em_term ctl = em_tuple(1, em_int(2));
    rec r;
    ck_assert_int_eq(encode_checked(ctl, msg, 4096, &r), 1);
    rec_fini(&r);
    em_drop(ctl);
    em_drop(msg);
    em_drop(inner);
    em_buf_free(&b);
}
END_TEST

START_TEST(test_every_kind_and_deep_nesting)
{
    /* Strings and integer lists (the encoder's one-walk list writer, which
     * the exact room makes take its counted path), a long string, atoms in
     * UTF-8, numbers, refs, ports, and nesting past the inline stack. */
    char longs[70000];
    memset(longs, 'z', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    em_term ints[300];
    for (int i = 0; i < 300; i++)
        ints[i] = em_int(i * 1000 - 5);
    em_term nest = em_list(1, em_int(1));
    for (int i = 0; i < 100; i++)
        nest = em_list(2, nest, em_tuple(1, em_int(i)));
    em_term msg = em_tuple(9, em_string("hello"), em_string(longs), em_listv(300, ints),
                           A("\xce\xa9mega"), em_float(2.5), em_int(INT64_C(1) << 62),
                           em_ref(A("a@b"), 3, (uint32_t[]){1, 2, 3}, 3),
                           em_port(A("a@b"), 77, 2), nest);
    ck_assert(msg != EM_NONE);
    em_term ctl = em_tuple(2, em_int(2), A("to"));
    rec r;
    ck_assert_int_eq(encode_checked(ctl, msg, 4096, &r), 0);
    rec_fini(&r);
    em_drop(ctl);
    em_drop(msg);
}
END_TEST

START_TEST(test_local_node_is_the_measured_one)
{
    /* A local pid is written with the local node: the one the size was
     * measured with, even if the node changed in between (the size must
     * stay the size written). */
    em_term node = A("one@host");
    em_local_node_set(node, 1);
    em_term pid = em_pid(node, 9, 0, 1);
    ck_assert(!em__is_box(pid)); /* an immediate */
    em_term ctl = em_tuple(2, em_int(2), pid);
    em_buf want = {0};
    ck_assert_em_ok(em_etf_encode(&want, ctl, EM_ETF_DIST));
    em__etf_msg m;
    ck_assert_em_ok(em__etf_encode_msg_size(&m, ctl, EM_NONE, SIZE_MAX));
    em_local_node_set(A("a_much_longer_name@host"), 2);
    rec r;
    rec_init(&r);
    em__etf_sink s = {rec_room, rec_commit, rec_ref, &r};
    ck_assert_em_ok(em__etf_encode_msg(&m, NULL, 0, &s));
    em_buf got = {0};
    rec_bytes(&r, &got);
    ck_assert_uint_eq(got.len, m.size);
    ck_assert_uint_eq(got.len, want.len);
    ck_assert(memcmp(got.data, want.data, want.len) == 0);
    rec_fini(&r);
    em_buf_free(&want);
    em_buf_free(&got);
    em_drop(ctl);
}
END_TEST

START_TEST(test_errors)
{
    em__etf_msg m;
    ck_assert_em_err(em__etf_encode_msg_size(&m, EM_NONE, em_int(1), 4096), EM_EINVAL);
    ck_assert_em_err(em__etf_encode_msg_size(NULL, em_int(1), EM_NONE, 4096), EM_EINVAL);
    /* Not a term (a word with no valid tag). */
    ck_assert_em_err(em__etf_encode_msg_size(&m, em_int(1), (em_term)0xfff3, 4096), EM_EINVAL);

    em_term bin = big_bin(10000, 1);
    em_term ctl = em_tuple(1, em_int(2));
    em_term msg = em_tuple(3, em_dup(bin), em_int(5), em_dup(bin));
    ck_assert_em_ok(em__etf_encode_msg_size(&m, ctl, msg, 4096));
    rec r;
    em__etf_sink s = {rec_room, rec_commit, rec_ref, &r};
    ck_assert_em_err(em__etf_encode_msg(NULL, NULL, 0, &s), EM_EINVAL);
    ck_assert_em_err(em__etf_encode_msg(&m, NULL, 0, NULL), EM_EINVAL);
    ck_assert_em_err(em__etf_encode_msg(&m, NULL, 3, &s), EM_EINVAL);
    /* The sink's failures come back, and stop the encoding there. */
    rec_init(&r);
    r.fail_room = 0;
    ck_assert_em_err(em__etf_encode_msg(&m, NULL, 0, &s), EM_ENOMEM);
    ck_assert_int_eq(r.np, 0);
    rec_fini(&r);
    rec_init(&r);
    r.fail_commit = 1;
    ck_assert_em_err(em__etf_encode_msg(&m, NULL, 0, &s), EM_ENOMEM);
    ck_assert_int_eq(r.np, 2); /* a run, the first binary */
    rec_fini(&r);
    rec_init(&r);
    r.fail_ref = 1;
    ck_assert_em_err(em__etf_encode_msg(&m, NULL, 0, &s), EM_ECLOSED);
    ck_assert_int_eq(r.np, 3);
    rec_fini(&r);
    /* And all goes through when nothing fails. */
    rec_init(&r);
    ck_assert_em_ok(em__etf_encode_msg(&m, NULL, 0, &s));
    ck_assert_int_eq(r.np, 4); /* run, binary, run, binary */
    rec_fini(&r);
    em_drop(ctl);
    em_drop(msg);
    em_drop(bin);
}
END_TEST

static Suite *etf_msg_suite(void)
{
    Suite *s = suite_create("etf_msg");
    TCase *tc = tcase_create("encode_msg");
    tcase_add_test(tc, test_small_message_is_one_run);
    tcase_add_test(tc, test_large_binary_is_referenced_not_copied);
    tcase_add_test(tc, test_ref_min_is_the_threshold);
    tcase_add_test(tc, test_binaries_anywhere_in_the_message);
    tcase_add_test(tc, test_shared_binary_of_a_decoded_message);
    tcase_add_test(tc, test_every_kind_and_deep_nesting);
    tcase_add_test(tc, test_local_node_is_the_measured_one);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(etf_msg_suite)
