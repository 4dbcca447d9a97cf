/* test_term.c: terms (term.c), bignums (big.c), order and hashing
 * (compare.c), the atom table (atom.c) and the error table (err.c). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "emtest.h"
#include "term_int.h"

START_TEST(small_ints_round_trip_and_large_ones_become_bignums)
{
    int64_t vals[] = {0, 1, -1, 255, 256, (1LL << 60) - 1, -(1LL << 60), (1LL << 61) - 1,
                      -(1LL << 61), 1LL << 61, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        em_term t = em_int(vals[i]);
        int64_t back;
        ck_assert_int_eq(em_typeof(t), EM_TYPE_INTEGER);
        ck_assert_em_ok(em_int_get(t, &back));
        ck_assert_int_eq(back, vals[i]);
        em_drop(t);
    }
    em_term big = em_uint(UINT64_MAX);
    int64_t v;
    ck_assert_em_err(em_int_get(big, &v), EM_ETOOBIG);
    uint8_t le[16];
    bool neg;
    ck_assert_int_eq(em_bigint_bytes(big, &neg, le, sizeof le), 8);
    ck_assert(!neg && le[0] == 0xff && le[7] == 0xff);
    em_drop(big);
}
END_TEST

START_TEST(bigint_from_bytes_is_normalised_to_small_when_it_fits)
{
    uint8_t le[9] = {5, 0, 0, 0, 0, 0, 0, 0, 0};
    em_term t = em_bigint(true, le, sizeof le);
    int64_t v;
    ck_assert_em_ok(em_int_get(t, &v));
    ck_assert_int_eq(v, -5);
    ck_assert(em_equal(t, em_int(-5)));
    em_term z = em_bigint(true, le, 0);
    ck_assert(em_equal(z, em_int(0)));
}
END_TEST

START_TEST(floats_reject_nan_and_infinity)
{
    ck_assert(em_float(0.0 / 0.0) == EM_NONE);
    ck_assert(em_float(1.0 / 0.0) == EM_NONE);
    em_term f = em_float(2.5);
    double d;
    ck_assert_em_ok(em_float_get(f, &d));
    ck_assert(d == 2.5);
    em_drop(f);
}
END_TEST

START_TEST(atoms_are_interned_once_and_validated)
{
    em_term a = em_atom("hello"), b = em_atom("hello"), c = em_atom("world");
    ck_assert(a != EM_NONE && a == b && a != c);
    size_t len;
    ck_assert_str_eq(em_atom_text(a, &len), "hello");
    ck_assert_uint_eq(len, 5);
    ck_assert(em_atom("true") == em_bool(true));
    em_term x;
    ck_assert_em_err(em_atom_new("\xff", 1, &x), EM_EBADATOM);
    char long_name[257];
    memset(long_name, 'a', 256);
    long_name[256] = 0;
    ck_assert_em_err(em_atom_new(long_name, 256, &x), EM_EATOMLEN);
    ck_assert_em_ok(em_atom_new(long_name, 255, &x));
    /* 255 two-byte characters are fine: the limit is on characters. */
    char u[511];
    for (int i = 0; i < 255; i++) {
        u[2 * i] = (char)0xc3;
        u[2 * i + 1] = (char)0xa4;
    }
    ck_assert_em_ok(em_atom_new(u, 510, &x));
}
END_TEST

static void *intern_many(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < 20000; i++) {
        char name[32];
        snprintf(name, sizeof name, "atom_%d", i % 5000);
        em_term a = em_atom(name);
        if (a == EM_NONE || strcmp(em_atom_text(a, NULL), name) != 0)
            return (void *)1;
    }
    (void)id;
    return NULL;
}

static pthread_barrier_t first_use;

static void *first_atom(void *arg)
{
    pthread_barrier_wait(&first_use);
    em_term a = em_atom((const char *)arg);
    return (void *)(uintptr_t)(a == EM_NONE || strcmp(em_atom_text(em_bool(true), NULL), "true") != 0);
}

START_TEST(first_use_of_the_atom_table_from_many_threads_keeps_predefined_atoms)
{
    /* Nothing has touched the table in this (forked) test process yet. */
    static const char *names[8] = {"stop", "go", "a", "b", "c", "d", "e", "f"};
    pthread_t th[8];
    pthread_barrier_init(&first_use, NULL, 8);
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, first_atom, (void *)names[i]);
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(th[i], &r);
        ck_assert_ptr_null(r);
    }
    pthread_barrier_destroy(&first_use);
    ck_assert_str_eq(em_atom_text(em_bool(false), NULL), "false");
}
END_TEST

START_TEST(atom_table_is_consistent_under_concurrent_interning)
{
    size_t before = em_atom_count();
    pthread_t th[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, intern_many, (void *)i);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        ck_assert_ptr_null(r);
    }
    ck_assert_uint_eq(em_atom_count(), before + 5000);
}
END_TEST

/* Large binaries (the sizes term.c keeps freed blocks of for reuse, and
 * just outside them) made on one thread and dropped on another keep their
 * size and bytes, however often blocks are recycled. */
static const size_t big_sizes[] = {16 * 1024 - 41, 16 * 1024, 65536, 65536 + 1, 1024 * 1024 - 40,
                                   1024 * 1024 + 1};
#define NBIG (sizeof big_sizes / sizeof big_sizes[0])

static void *drop_all_bins(void *arg)
{
    em_term *v = arg;
    for (size_t i = 0; i < NBIG; i++)
        em_drop(v[i]);
    return NULL;
}

START_TEST(large_binaries_keep_their_bytes_when_blocks_are_reused_across_threads)
{
    static uint8_t buf[1024 * 1024 + 1];
    for (int round = 0; round < 40; round++) {
        em_term v[NBIG];
        for (size_t i = 0; i < NBIG; i++) {
            memset(buf, (int)(round * 7 + i), big_sizes[i]);
            v[i] = em_binary(buf, big_sizes[i]);
            ck_assert_uint_ne(v[i], EM_NONE);
        }
        for (size_t i = 0; i < NBIG; i++) {
            size_t bits;
            const uint8_t *d = em_binary_data(v[i], &bits);
            ck_assert_uint_eq(bits, big_sizes[i] * 8);
            memset(buf, (int)(round * 7 + i), big_sizes[i]);
            ck_assert_int_eq(memcmp(d, buf, big_sizes[i]), 0);
        }
        if (round % 2) {
            pthread_t th;
            pthread_create(&th, NULL, drop_all_bins, v);
            pthread_join(th, NULL);
        } else {
            drop_all_bins(v);
        }
    }
}
END_TEST

START_TEST(constructors_take_arguments_and_propagate_none)
{
    em_term t = em_tuple(3, em_atom("a"), em_int(1), em_string("xy"));
    ck_assert_int_eq(em_tuple_size(t), 3);
    ck_assert(em_tuple_get(t, 0) == em_atom("a"));
    ck_assert_int_eq(em_list_length(em_tuple_get(t, 2)), 2);
    ck_assert(em_tuple_get(t, 3) == EM_NONE);
    em_drop(t);
    /* A failed inner constructor poisons the outer one, which releases the
     * other arguments (ASan/LSan would report a leak otherwise). */
    em_term bad = em_tuple(2, em_string("ok"), em_float(1.0 / 0.0));
    ck_assert(bad == EM_NONE);
    em_term l = em_list(2, em_int(1), em_int(2));
    ck_assert_int_eq(em_list_length(l), 2);
    em_term improper = em_cons(em_int(1), em_int(2));
    ck_assert_int_eq(em_list_length(improper), -1);
    em_drop(l);
    em_drop(improper);
}
END_TEST

/* em_tuple is a macro passing its arguments in an array (em_tuple_packed);
 * (em_tuple) is the variadic function: the same tuples, the same arguments
 * taken, the same EM_NONE, for small tuples and those past the box cache's
 * sizes (ASan/LSan report a leaked or doubly released argument). */
START_TEST(tuple_macro_and_function_build_the_same)
{
    for (int f = 0; f < 2; f++) {
        em_term e = f ? (em_tuple)(0) : em_tuple(0);
        ck_assert_int_eq(em_tuple_size(e), 0);
        em_drop(e);
        em_term t2 = f ? (em_tuple)(2, em_string("ab"), em_atom("x"))
                       : em_tuple(2, em_string("ab"), em_atom("x"));
        em_term want2 = em_tuplev(2, (const em_term[]){em_string("ab"), em_atom("x")});
        ck_assert(em_equal(t2, want2));
        em_term big = f ? (em_tuple)(9, em_int(1), em_int(2), em_int(3), em_int(4), em_string("5"), em_int(6),
                                     em_int(7), em_int(8), em_dup(t2))
                        : em_tuple(9, em_int(1), em_int(2), em_int(3), em_int(4), em_string("5"), em_int(6),
                                   em_int(7), em_int(8), em_dup(t2));
        ck_assert_int_eq(em_tuple_size(big), 9);
        ck_assert(em_equal(em_tuple_get(big, 8), want2));
        ck_assert_int_eq(em_list_length(em_tuple_get(big, 4)), 1);
        em_drop(big);
        em_drop(want2);
        em_drop(t2);
        /* EM_NONE anywhere: EM_NONE, the other arguments released. */
        ck_assert(em_tuple(3, em_string("a"), EM_NONE, em_binary("b", 1)) == EM_NONE);
        ck_assert((em_tuple)(3, em_string("a"), em_binary("b", 1), EM_NONE) == EM_NONE);
        ck_assert(em_tuple(8, em_string("a"), em_int(2), em_int(3), em_int(4), em_int(5), em_int(6), em_int(7),
                           EM_NONE) == EM_NONE);
        /* Elements past n are not read (nor taken). */
        em_term one = em_tuple_packed((const em_term[]){1, em_atom("only"), EM_NONE});
        ck_assert_int_eq(em_tuple_size(one), 1);
        ck_assert(em_tuple_get(one, 0) == em_atom("only"));
        em_drop(one);
    }
}
END_TEST

START_TEST(dup_and_drop_share_one_copy)
{
    em_term inner = em_binary("abc", 3);
    em_term outer = em_tuple(2, em_dup(inner), em_dup(inner));
    em_drop(inner);
    ck_assert(em_tuple_get(outer, 0) == em_tuple_get(outer, 1));
    size_t bits;
    ck_assert_int_eq(memcmp(em_binary_data(em_tuple_get(outer, 0), &bits), "abc", 3), 0);
    ck_assert_uint_eq(bits, 24);
    em_drop(outer);
}
END_TEST

START_TEST(deep_terms_are_built_compared_and_freed_without_recursion)
{
    em_term a = EM_NIL, b = EM_NIL;
    for (int i = 0; i < 200000; i++) {
        a = em_list(1, a);
        b = em_tuple(1, b);
    }
    em_term a2 = EM_NIL;
    for (int i = 0; i < 200000; i++)
        a2 = em_list(1, a2);
    ck_assert(em_equal(a, a2));
    ck_assert_uint_eq(em_hash(a), em_hash(a2));
    em_drop(a);
    em_drop(a2);
    em_drop(b);
}
END_TEST

START_TEST(term_order_follows_erlang)
{
    uint32_t w[3] = {1, 2, 3};
    /* number < atom < reference < fun < port < pid < tuple < map < [] <
     * list < bitstring */
    em_term seq[] = {em_int(1), em_atom("a"), em_ref(em_atom("n@h"), 1, w, 3),
                     em_port(em_atom("n@h"), 1, 1), em_pid(em_atom("n@h"), 1, 0, 1),
                     em_tuple(0), em_map(0), EM_NIL, em_list(1, em_int(1)), em_binary("", 0)};
    size_t n = sizeof seq / sizeof seq[0];
    for (size_t i = 0; i + 1 < n; i++)
        ck_assert_msg(em_compare(seq[i], seq[i + 1]) < 0, "pair %zu", i);
    for (size_t i = 0; i < n; i++)
        em_drop(seq[i]);
}
END_TEST

START_TEST(integers_and_floats_compare_by_value_but_are_not_exactly_equal)
{
    em_term one = em_int(1), onef = em_float(1.0);
    ck_assert_int_eq(em_compare(one, onef), 0);
    ck_assert(!em_equal(one, onef));
    ck_assert_int_lt(em_compare_exact(one, onef), 0);
    em_term two = em_int(2), onefive = em_float(1.5);
    ck_assert_int_lt(em_compare(onefive, two), 0);
    ck_assert_int_gt(em_compare_exact(onefive, two), 0); /* ints before floats */
    /* 1.0e30 is 1000000000000000019884624838656 as a double. */
    em_term e30 = em_float(1.0e30);
    const char *d30 = "1000000000000000000000000000000";
    em_term b30 = em__int_from_digits(false, d30, strlen(d30), 10);
    ck_assert_int_lt(em_compare(b30, e30), 0);
    em_term imax = em_int(INT64_MAX);
    ck_assert_int_gt(em_compare(b30, imax), 0);
    em_drop(imax);
    em_buf dec = EM_BUF_INIT;
    ck_assert_em_ok(em__int_to_decimal(b30, &dec));
    ck_assert_int_eq(memcmp(dec.data, d30, strlen(d30)), 0);
    ck_assert_uint_eq(dec.len, strlen(d30));
    em_buf_free(&dec);
    em_drop(b30);
    em_term negz = em_float(-0.0), z = em_float(0.0);
    ck_assert(em_equal(negz, z)); /* OTP 25: 0.0 =:= -0.0 */
    ck_assert_uint_eq(em_hash(negz), em_hash(z));
    em_drop(onef);
    em_drop(onefive);
    em_drop(e30);
    em_drop(negz);
    em_drop(z);
}
END_TEST

START_TEST(pids_order_by_serial_then_id_then_node)
{
    /* Observed on OTP 25.2.3: <a.5.0> < <a.1.1>, and equal numbers order by
     * node name. */
    em_term a5 = em_pid(em_atom("a@h"), 5, 0, 0), a11 = em_pid(em_atom("a@h"), 1, 1, 0);
    em_term b2 = em_pid(em_atom("b@h"), 2, 0, 0), a2 = em_pid(em_atom("a@h"), 2, 0, 0);
    ck_assert_int_lt(em_compare(a5, a11), 0);
    ck_assert_int_lt(em_compare(a2, b2), 0);
    ck_assert_int_lt(em_compare(b2, a5), 0);
    em_drop(a5);
    em_drop(a11);
    em_drop(b2);
    em_drop(a2);
}
END_TEST

START_TEST(bitstrings_compare_bit_by_bit_prefix_first)
{
    uint8_t one = 1, zero = 0, top = 0x20;
    em_term e = em_binary("", 0), z1 = em_bitstring(&zero, 1), z8 = em_binary(&zero, 1),
            o8 = em_binary(&one, 1), o3 = em_bitstring(&top, 3);
    em_term seq[] = {e, z1, z8, o8, o3};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(em_compare(seq[i], seq[i + 1]) < 0, "pair %d", i);
    for (int i = 0; i < 5; i++)
        em_drop(seq[i]);
}
END_TEST

START_TEST(maps_sort_keys_exactly_and_later_duplicates_win)
{
    em_term m = em_map(4, em_int(2), em_atom("x"), em_float(1.5), em_atom("y"), em_int(1),
                       em_atom("z"), em_int(2), em_atom("w"));
    ck_assert_int_eq(em_map_size(m), 3);
    ck_assert(em_equal(em_map_key(m, 0), em_int(1)));
    ck_assert(em_equal(em_map_key(m, 1), em_int(2)));
    ck_assert_int_eq(em_typeof(em_map_key(m, 2)), EM_TYPE_FLOAT);
    ck_assert(em_map_get(m, em_int(2)) == em_atom("w"));
    em_term k = em_float(2.0);
    ck_assert(em_map_get(m, k) == EM_NONE); /* 2.0 is not the key 2 */
    em_drop(k);
    em_drop(m);
}
END_TEST

START_TEST(strings_decode_utf8_into_code_points)
{
    em_term s = em_string("h\xc3\xa4");
    ck_assert_int_eq(em_list_length(s), 2);
    int64_t v;
    ck_assert_em_ok(em_int_get(em_hd(em_tl(s)), &v));
    ck_assert_int_eq(v, 0xe4);
    em_drop(s);
    ck_assert(em_string("\xc3") == EM_NONE);
}
END_TEST

START_TEST(local_pids_are_immediates_of_the_local_node)
{
    em_term p = em_pid(em_atom("nonode@nohost"), 42, 3, 0);
    em_term node;
    uint32_t id, serial, cr;
    ck_assert_em_ok(em_pid_parts(p, &node, &id, &serial, &cr));
    ck_assert(node == em_atom("nonode@nohost") && id == 42 && serial == 3 && cr == 0);
    em_term q = em_pid(em_atom("other@host"), 42, 3, 7);
    ck_assert(!em_equal(p, q));
    em_drop(q);
}
END_TEST

START_TEST(error_table_names_every_code)
{
    ck_assert_str_eq(em_err_name(EM_ENOMEM), "ENOMEM");
    ck_assert_str_eq(em_strerror(EM_ETRUNC), "input ends inside a term");
    ck_assert_str_eq(em_strerror(0), "success");
    ck_assert_str_eq(em_strerror(-10000), "unknown error");
}
END_TEST

static Suite *term_suite(void)
{
    Suite *s = suite_create("term");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, small_ints_round_trip_and_large_ones_become_bignums);
    tcase_add_test(tc, bigint_from_bytes_is_normalised_to_small_when_it_fits);
    tcase_add_test(tc, floats_reject_nan_and_infinity);
    tcase_add_test(tc, atoms_are_interned_once_and_validated);
    tcase_add_test(tc, first_use_of_the_atom_table_from_many_threads_keeps_predefined_atoms);
    tcase_add_test(tc, atom_table_is_consistent_under_concurrent_interning);
    tcase_add_test(tc, constructors_take_arguments_and_propagate_none);
    tcase_add_test(tc, tuple_macro_and_function_build_the_same);
    tcase_add_test(tc, dup_and_drop_share_one_copy);
    tcase_add_test(tc, deep_terms_are_built_compared_and_freed_without_recursion);
    tcase_add_test(tc, term_order_follows_erlang);
    tcase_add_test(tc, integers_and_floats_compare_by_value_but_are_not_exactly_equal);
    tcase_add_test(tc, pids_order_by_serial_then_id_then_node);
    tcase_add_test(tc, bitstrings_compare_bit_by_bit_prefix_first);
    tcase_add_test(tc, maps_sort_keys_exactly_and_later_duplicates_win);
    tcase_add_test(tc, strings_decode_utf8_into_code_points);
    tcase_add_test(tc, local_pids_are_immediates_of_the_local_node);
    tcase_add_test(tc, error_table_names_every_code);
    tcase_add_test(tc, large_binaries_keep_their_bytes_when_blocks_are_reused_across_threads);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(term_suite)
