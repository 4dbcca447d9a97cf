/* test_etf.c: the external term format codec (etf_encode.c, etf_decode.c,
 * inflate.c).
 *
 * The byte vectors named otp_* were produced by a real OTP 25.2.3 node with
 * `erl -noshell -eval 'io:format("~w~n", [term_to_binary(T)])'` (the term T
 * is given above each one); the encoder must reproduce them byte for byte
 * and the decoder must read them back. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "term_int.h"
#include "emtest.h"
#include "inflate.h"
#include "rttest.h"

/* ---- vectors from OTP 25.2.3 ---- */

/* {self(), "Hello from sender"} on a non-distributed node (<0.9.0>). */
static const uint8_t otp_pid_msg[] = {
    131, 104, 2, 88, 100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111,
    104, 111, 115, 116, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 107, 0, 17, 72,
    101, 108, 108, 111, 32, 102, 114, 111, 109, 32, 115, 101, 110, 100, 101,
    114};

/* make_ref() on a non-distributed node. */
static const uint8_t otp_ref[] = {
    131, 90, 0, 3, 100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111,
    104, 111, 115, 116, 0, 0, 0, 0, 0, 3, 180, 204, 210, 108, 0, 1, 29, 9,
    161, 244};

/* hd(erlang:ports()) on a non-distributed node. */
static const uint8_t otp_port[] = {
    131, 89, 100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111, 104,
    111, 115, 116, 0, 0, 0, 0, 0, 0, 0, 0};

/* fun erlang:node/0. */
static const uint8_t otp_fun_export[] = {
    131, 113, 100, 0, 6, 101, 114, 108, 97, 110, 103, 100, 0, 4, 110, 111,
    100, 101, 97, 0};

/* fun(Y) -> {X, Y} end with X = 42 (module etfgen). */
static const uint8_t otp_fun_closure[] = {
    131, 112, 0, 0, 0, 74, 1, 88, 169, 212, 52, 162, 174, 208, 169, 116,
    197, 146, 167, 10, 139, 218, 98, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 6, 101,
    116, 102, 103, 101, 110, 97, 0, 98, 2, 197, 78, 161, 88, 100, 0, 13,
    110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115, 116, 0, 0, 0,
    9, 0, 0, 0, 0, 0, 0, 0, 0};

/* maps:from_list([{I, 2 * I} || I <- lists:seq(1, 33)]): a hash map,
 * written in hash order. */
static const uint8_t otp_map33[] = {
    131, 116, 0, 0, 0, 33, 97, 33, 97, 66, 97, 12, 97, 24, 97, 23, 97, 46,
    97, 29, 97, 58, 97, 30, 97, 60, 97, 26, 97, 52, 97, 31, 97, 62, 97, 11,
    97, 22, 97, 9, 97, 18, 97, 32, 97, 64, 97, 25, 97, 50, 97, 28, 97, 56,
    97, 6, 97, 12, 97, 13, 97, 26, 97, 20, 97, 40, 97, 15, 97, 30, 97, 14,
    97, 28, 97, 2, 97, 4, 97, 7, 97, 14, 97, 1, 97, 2, 97, 8, 97, 16, 97, 3,
    97, 6, 97, 17, 97, 34, 97, 22, 97, 44, 97, 21, 97, 42, 97, 4, 97, 8, 97,
    24, 97, 48, 97, 10, 97, 20, 97, 27, 97, 54, 97, 19, 97, 38, 97, 5, 97,
    10, 97, 18, 97, 36, 97, 16, 97, 32};

/* The same map with [deterministic]: keys in term order. */
static const uint8_t otp_map33_det[] = {
    131, 116, 0, 0, 0, 33, 97, 1, 97, 2, 97, 2, 97, 4, 97, 3, 97, 6, 97, 4,
    97, 8, 97, 5, 97, 10, 97, 6, 97, 12, 97, 7, 97, 14, 97, 8, 97, 16, 97,
    9, 97, 18, 97, 10, 97, 20, 97, 11, 97, 22, 97, 12, 97, 24, 97, 13, 97,
    26, 97, 14, 97, 28, 97, 15, 97, 30, 97, 16, 97, 32, 97, 17, 97, 34, 97,
    18, 97, 36, 97, 19, 97, 38, 97, 20, 97, 40, 97, 21, 97, 42, 97, 22, 97,
    44, 97, 23, 97, 46, 97, 24, 97, 48, 97, 25, 97, 50, 97, 26, 97, 52, 97,
    27, 97, 54, 97, 28, 97, 56, 97, 29, 97, 58, 97, 30, 97, 60, 97, 31, 97,
    62, 97, 32, 97, 64, 97, 33, 97, 66};

/* term_to_binary({lists:seq(1,200), binary:copy(<<"abc">>,100),
 * "hello hello hello hello"}, [compressed]). */
static const uint8_t otp_compressed[] = {
    131, 80, 0, 0, 2, 24, 120, 156, 203, 96, 206, 102, 56, 193, 200, 196,
    204, 194, 202, 198, 206, 193, 201, 197, 205, 195, 203, 199, 47, 32, 40,
    36, 44, 34, 42, 38, 46, 33, 41, 37, 45, 35, 43, 39, 175, 160, 168, 164,
    172, 162, 170, 166, 174, 161, 169, 165, 173, 163, 171, 167, 111, 96,
    104, 100, 108, 98, 106, 102, 110, 97, 105, 101, 109, 99, 107, 103, 239,
    224, 232, 228, 236, 226, 234, 230, 238, 225, 233, 229, 237, 227, 235,
    231, 31, 16, 24, 20, 28, 18, 26, 22, 30, 17, 25, 21, 29, 19, 27, 23,
    159, 144, 152, 148, 156, 146, 154, 150, 158, 145, 153, 149, 157, 147,
    155, 151, 95, 80, 88, 84, 92, 82, 90, 86, 94, 81, 89, 85, 93, 83, 91,
    87, 223, 208, 216, 212, 220, 210, 218, 214, 222, 209, 217, 213, 221,
    211, 219, 215, 63, 97, 226, 164, 201, 83, 166, 78, 155, 62, 99, 230,
    172, 217, 115, 230, 206, 155, 191, 96, 225, 162, 197, 75, 150, 46, 91,
    190, 98, 229, 170, 213, 107, 214, 174, 91, 191, 97, 227, 166, 205, 91,
    182, 110, 219, 190, 99, 231, 174, 221, 123, 246, 238, 219, 127, 224,
    224, 161, 195, 71, 142, 30, 59, 126, 34, 151, 129, 129, 81, 7, 104, 217,
    40, 34, 18, 101, 51, 136, 103, 164, 230, 228, 228, 43, 96, 144, 0, 0,
    230, 204, 199};

/* term_to_binary(lists:duplicate(2000, {atom, 1.5, <<"bin">>}),
 * [compressed]). */
static const uint8_t otp_compressed_big[] = {
    131, 80, 0, 0, 203, 38, 120, 156, 237, 201, 177, 9, 128, 48, 20, 64,
    193, 15, 17, 50, 86, 58, 247, 80, 82, 168, 24, 109, 28, 212, 113, 44,
    35, 46, 97, 115, 15, 94, 117, 123, 68, 190, 151, 84, 99, 152, 174, 179,
    141, 229, 137, 175, 246, 158, 230, 245, 32, 132, 16, 66, 8, 33, 132, 16,
    66, 8, 33, 132, 16, 66, 8, 33, 132, 16, 66, 8, 33, 132, 16, 66, 8, 33,
    132, 16, 66, 8, 33, 132, 16, 66, 8, 33, 132, 16, 66, 8, 33, 132, 16, 66,
    8, 33, 132, 16, 66, 8, 33, 132, 16, 66, 8, 33, 132, 16, 66, 8, 33, 132,
    16, 66, 8, 33, 132, 16, 66, 8, 33, 132, 16, 66, 8, 33, 132, 16, 66, 8,
    33, 132, 16, 66, 8, 33, 132, 16, 66, 8, 33, 132, 16, 66, 8, 33, 132, 16,
    66, 8, 33, 132, 16, 66, 8, 33, 132, 16, 66, 8, 33, 132, 16, 66, 8, 33,
    132, 16, 66, 8, 33, 132, 16, 66, 8, 33, 127, 200, 214, 1, 133, 83, 68,
    98};

/* 1 bsl 2040 (LARGE_BIG_EXT). */
static const uint8_t otp_big2040[] = {
    131, 111, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

/* {[1,2|3], <<1:3>>, -0.0, #{a=>1, 1=>a}, [256], 'Ω', 'ä', "", {}, <<>>,
 *  -(1 bsl 64), 1 bsl 31, -(1 bsl 31) - 1}. */
static const uint8_t otp_mixed[] = {
    131, 104, 13, 108, 0, 0, 0, 2, 97, 1, 97, 2, 97, 3, 77, 0, 0, 0, 1, 3,
    32, 70, 128, 0, 0, 0, 0, 0, 0, 0, 116, 0, 0, 0, 2, 97, 1, 100, 0, 1, 97,
    100, 0, 1, 97, 97, 1, 108, 0, 0, 0, 1, 98, 0, 0, 1, 0, 106, 119, 2, 206,
    169, 100, 0, 1, 228, 106, 104, 0, 109, 0, 0, 0, 0, 110, 9, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 1, 110, 4, 0, 0, 0, 0, 128, 110, 4, 1, 1, 0, 0, 128};

/* The term of otp_compressed, uncompressed. */
static const uint8_t otp_compressed_plain[] = {
    131, 104, 3, 107, 0, 200, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
    33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50,
    51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68,
    69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86,
    87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103,
    104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117,
    118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131,
    132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144, 145,
    146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159,
    160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173,
    174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187,
    188, 189, 190, 191, 192, 193, 194, 195, 196, 197, 198, 199, 200, 109, 0,
    0, 1, 44, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99,
    97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 97, 98, 99, 107, 0, 23,
    104, 101, 108, 108, 111, 32, 104, 101, 108, 108, 111, 32, 104, 101, 108,
    108, 111, 32, 104, 101, 108, 108, 111};

/* {stored, "abcabcabc", lists:seq(1, 50)} as tag 80 around a zlib stream
 * made with zlib:deflateInit(Z, none): stored blocks. */
static const uint8_t otp_stored[] = {
    131, 80, 0, 0, 0, 76, 120, 1, 1, 76, 0, 179, 255, 104, 3, 100, 0, 6,
    115, 116, 111, 114, 101, 100, 107, 0, 9, 97, 98, 99, 97, 98, 99, 97, 98,
    99, 107, 0, 50, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
    35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 74, 107,
    12, 229};

/* The same term uncompressed. */
static const uint8_t otp_stored_plain[] = {
    131, 104, 3, 100, 0, 6, 115, 116, 111, 114, 101, 100, 107, 0, 9, 97, 98,
    99, 97, 98, 99, 97, 98, 99, 107, 0, 50, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
    29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46,
    47, 48, 49, 50};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

static em_term A(const char *s)
{
    em_term a = em_atom(s);
    ck_assert(a != EM_NONE);
    return a;
}

static void print_bytes(const char *what, const uint8_t *b, size_t n)
{
    fprintf(stderr, "%s (%zu):", what, n);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", b[i]);
    fprintf(stderr, "\n");
}

/* Encode t every way there is (em_etf_encode, em_etf_size,
 * em_etf_encode_into) and check each gives exactly want[0 .. n). */
static void check_bytes(em_term t, int flags, const uint8_t *want, size_t n)
{
    em_buf b = EM_BUF_INIT;
    ck_assert_em_ok(em_etf_encode(&b, t, flags));
    if (b.len != n || memcmp(b.data, want, n) != 0) {
        print_bytes("got ", b.data, b.len);
        print_bytes("want", want, n);
        ck_abort_msg("encoding differs from OTP's");
    }
    size_t size = 0;
    ck_assert_em_ok(em_etf_size(t, flags, &size));
    ck_assert_uint_eq(size, n);
    uint8_t *fixed = malloc(n + 1);
    ck_assert_int_eq(em_etf_encode_into(fixed, n, t, flags), (long)n);
    ck_assert_mem_eq(fixed, want, n);
    if (n > 0)
        ck_assert_int_eq(em_etf_encode_into(fixed, n - 1, t, flags), EM_ETRUNC);
    free(fixed);
    em_buf_free(&b);
}

/* check_bytes, then release t. */
static void expect_bytes(em_term t, const uint8_t *want, size_t n)
{
    ck_assert(t != EM_NONE);
    check_bytes(t, 0, want, n);
    em_drop(t);
}
#define EXPECT(t, ...)                                                         \
    do {                                                                       \
        static const uint8_t want_[] = {__VA_ARGS__};                          \
        expect_bytes((t), want_, sizeof want_);                                \
    } while (0)

static em_term decode_ok(const uint8_t *buf, size_t len)
{
    em_term t = EM_NONE;
    ck_assert_em_ok(em_etf_decode(buf, len, NULL, NULL, &t));
    ck_assert(t != EM_NONE);
    return t;
}

static int decode_rc(const uint8_t *buf, size_t len)
{
    em_term t = EM_NONE;
    int rc = em_etf_decode(buf, len, NULL, NULL, &t);
    if (rc == 0)
        em_drop(t);
    else
        ck_assert(t == EM_NONE); /* untouched on error */
    return rc;
}
#define DECODE_ERR(code, ...)                                                  \
    do {                                                                       \
        static const uint8_t in_[] = {__VA_ARGS__};                            \
        ck_assert_em_err(decode_rc(in_, sizeof in_), (code));                  \
    } while (0)

/* Decode buf, encode the result, and expect buf back. */
static void check_reencodes(const uint8_t *buf, size_t len)
{
    em_term t = decode_ok(buf, len);
    check_bytes(t, 0, buf, len);
    em_drop(t);
}

/* Encode t (borrowed) with flags, decode it, expect an =:= term. */
static void check_roundtrip(em_term t, int flags)
{
    em_buf b = EM_BUF_INIT;
    ck_assert_em_ok(em_etf_encode(&b, t, flags));
    em_term back = EM_NONE;
    em_etf_opts o = {0};
    o.flags = flags & EM_ETF_NO_VERSION;
    ck_assert_em_ok(em_etf_decode(b.data, b.len, NULL, &o, &back));
    ck_assert_msg(em_equal(t, back), "round trip changed the term");
    ck_assert_int_eq(em_compare_exact(t, back), 0);
    em_drop(back);
    em_buf_free(&b);
}

/* ---- encoding: byte-identical to OTP 25 ---- */

START_TEST(test_encode_atoms_latin1_as_otp25)
{
    EXPECT(A("a"), 131, 100, 0, 1, 97);
    EXPECT(A("\xc3\xa4"), 131, 100, 0, 1, 0xe4);          /* 'ä': Latin-1 */
    EXPECT(A("\xce\xa9"), 131, 119, 2, 0xce, 0xa9);       /* 'Ω': UTF-8 */
    EXPECT(A(""), 131, 100, 0, 0);
    EXPECT(em_bool(true), 131, 100, 0, 4, 't', 'r', 'u', 'e');
}
END_TEST

START_TEST(test_encode_dist_mode_writes_utf8_atom_tags)
{
    static const uint8_t nk[] = {119, 10, 'n', 'e', 't', '_', 'k', 'e', 'r', 'n', 'e', 'l'};
    check_bytes(A("net_kernel"), EM_ETF_DIST | EM_ETF_NO_VERSION, nk, sizeof nk);
    static const uint8_t empty[] = {131, 119, 0};
    check_bytes(A(""), EM_ETF_DIST, empty, sizeof empty);
    static const uint8_t auml[] = {131, 119, 2, 0xc3, 0xa4};
    check_bytes(A("\xc3\xa4"), EM_ETF_DIST, auml, sizeof auml);

    /* 255 three-byte characters: 765 bytes, ATOM_UTF8_EXT with Len:16. */
    char name[766];
    for (int i = 0; i < 255; i++)
        memcpy(name + 3 * i, "\xe2\x82\xac", 3); /* '€' */
    name[765] = 0;
    em_term euro = A(name);
    size_t size;
    ck_assert_em_ok(em_etf_size(euro, 0, &size));
    ck_assert_uint_eq(size, 1 + 3 + 765);
    em_buf b = EM_BUF_INIT;
    ck_assert_em_ok(em_etf_encode(&b, euro, EM_ETF_DIST));
    ck_assert_uint_eq(b.data[1], 118);
    ck_assert_uint_eq(b.data[2] << 8 | b.data[3], 765);
    em_buf_free(&b);
    check_roundtrip(euro, 0);
    check_roundtrip(euro, EM_ETF_DIST);
}
END_TEST

START_TEST(test_encode_integers_as_otp25)
{
    EXPECT(em_int(0), 131, 97, 0);
    EXPECT(em_int(255), 131, 97, 255);
    EXPECT(em_int(256), 131, 98, 0, 0, 1, 0);
    EXPECT(em_int(-1), 131, 98, 255, 255, 255, 255);
    EXPECT(em_int(INT32_MAX), 131, 98, 127, 255, 255, 255);
    EXPECT(em_int(INT32_MIN), 131, 98, 128, 0, 0, 0);
    EXPECT(em_int((int64_t)1 << 31), 131, 110, 4, 0, 0, 0, 0, 128);
    EXPECT(em_int(-((int64_t)1 << 31) - 1), 131, 110, 4, 1, 1, 0, 0, 128);
    /* Around the end of the small range (2^61): small and boxed integers
     * must encode alike. */
    EXPECT(em_int(((int64_t)1 << 61) - 1), 131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 31);
    EXPECT(em_int((int64_t)1 << 61), 131, 110, 8, 0, 0, 0, 0, 0, 0, 0, 0, 32);
    EXPECT(em_int(-((int64_t)1 << 61)), 131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 32);
    EXPECT(em_int(INT64_MIN), 131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128);
    EXPECT(em_uint(UINT64_MAX), 131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 255);
    static const uint8_t two64[] = {0, 0, 0, 0, 0, 0, 0, 0, 1};
    EXPECT(em_bigint(true, two64, sizeof two64), 131, 110, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1);
}
END_TEST

START_TEST(test_encode_large_big_as_otp25)
{
    uint8_t mag[256] = {0};
    mag[255] = 1; /* 1 bsl 2040 */
    expect_bytes(em_bigint(false, mag, sizeof mag), otp_big2040, sizeof otp_big2040);
}
END_TEST

START_TEST(test_encode_floats_as_otp25)
{
    EXPECT(em_float(1.5), 131, 70, 63, 248, 0, 0, 0, 0, 0, 0);
    EXPECT(em_float(-0.0), 131, 70, 128, 0, 0, 0, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_encode_lists_and_strings_as_otp25)
{
    EXPECT(em_string("abc"), 131, 107, 0, 3, 'a', 'b', 'c');
    EXPECT(em_list(1, em_int(256)), 131, 108, 0, 0, 0, 1, 98, 0, 0, 1, 0, 106);
    EXPECT(em_cons(em_int(1), em_cons(em_int(2), em_int(3))),
           131, 108, 0, 0, 0, 2, 97, 1, 97, 2, 97, 3);
    EXPECT(EM_NIL, 131, 106);
    /* A byte list with an improper tail is not a string. */
    EXPECT(em_cons(em_int(1), A("t")), 131, 108, 0, 0, 0, 1, 97, 1, 100, 0, 1, 't');
    /* Nested: [[1], "a"] */
    EXPECT(em_list(2, em_list(1, em_int(1)), em_string("a")),
           131, 108, 0, 0, 0, 2, 107, 0, 1, 1, 107, 0, 1, 'a', 106);
}
END_TEST

/* Build a proper list of n copies of the integer v. */
static em_term int_list(size_t n, int v)
{
    em_term *e = malloc(n * sizeof *e);
    for (size_t i = 0; i < n; i++)
        e[i] = em_int(v);
    em_term l = em_listv(n, e);
    free(e);
    return l;
}

START_TEST(test_encode_string_limit_65535)
{
    em_buf b = EM_BUF_INIT;
    em_term s = int_list(65535, 7);
    ck_assert_em_ok(em_etf_encode(&b, s, 0));
    ck_assert_uint_eq(b.len, 1 + 3 + 65535);
    ck_assert_uint_eq(b.data[1], 107);
    check_roundtrip(s, 0);
    em_drop(s);
    b.len = 0;
    em_term l = int_list(65536, 7);
    ck_assert_em_ok(em_etf_encode(&b, l, 0));
    ck_assert_uint_eq(b.len, 1 + 5 + 2 * 65536 + 1);
    ck_assert_uint_eq(b.data[1], 108);
    ck_assert_uint_eq(b.data[b.len - 1], 106);
    check_roundtrip(l, 0);
    em_drop(l);
    em_buf_free(&b);
}
END_TEST

/* The encoder writes a list in one walk into a growing buffer (growing it
 * at any point of the list), and in two into a fixed buffer or when
 * sizing; all must give the same bytes. */
START_TEST(test_encode_lists_identical_whatever_the_room)
{
    em_term e[1200];
    for (int i = 0; i < 1200; i++)
        e[i] = em_int(i % 7 == 0 ? -i : i % 5 == 0 ? (int64_t)i << 40 : i);
    em_term bytes[3] = {em_int(1), em_int(2), em_int(255)};
    em_term lists[] = {
        em_string("abc"),
        em_cons(em_int(1), em_cons(em_int(2), em_int(3))),
        em_listv_tail(3, bytes, A("tail")),
        em_list(2, em_int(256), em_int(1)),
        em_list(3, em_int(1), A("a"), em_int(2)),
        em_list(3, em_int(1), em_int(2), em_int(300)),
        em_listv(1200, e),
        em_listv_tail(1200, e, em_float(1.5)),
        int_list(65535, 200),
        int_list(65536, 200),
        em_cons(em_int(-1), EM_NIL),
    };
    for (size_t i = 0; i < N(lists); i++) {
        em_term t = lists[i];
        ck_assert(t != EM_NONE);
        size_t n;
        ck_assert_em_ok(em_etf_size(t, 0, &n));
        uint8_t *ref = malloc(n + 100);
        ck_assert_int_eq(em_etf_encode_into(ref, n, t, 0), (long)n);
        uint8_t *roomy = malloc(n + 100);
        ck_assert_int_eq(em_etf_encode_into(roomy, n + 100, t, 0), (long)n);
        ck_assert_mem_eq(roomy, ref, n);
        for (size_t cap = n > 8 ? n - 8 : 0; cap < n; cap++)
            ck_assert_int_eq(em_etf_encode_into(roomy, cap, t, 0), EM_ETRUNC);
        em_buf fresh = EM_BUF_INIT, big = EM_BUF_INIT;
        ck_assert_em_ok(em_etf_encode(&fresh, t, 0));
        ck_assert_em_ok(em_buf_reserve(&big, n + 4096));
        ck_assert_em_ok(em_etf_encode(&big, t, 0));
        ck_assert_uint_eq(fresh.len, n);
        ck_assert_uint_eq(big.len, n);
        ck_assert_mem_eq(fresh.data, ref, n);
        ck_assert_mem_eq(big.data, ref, n);
        /* A buffer that has to grow at every possible point: after 3
         * bytes already in it, room for 0 .. n + 8 more (every room for
         * small lists, a few for large ones). */
        size_t step = n < 2000 ? 1 : n / 7;
        for (size_t room = 0; room <= n + 8; room += step) {
            em_buf g = {malloc(3 + room + 1), 3, 3 + room};
            memcpy(g.data, "abc", 3);
            ck_assert_em_ok(em_etf_encode(&g, t, 0));
            ck_assert_uint_eq(g.len, 3 + n);
            ck_assert_mem_eq(g.data, "abc", 3);
            ck_assert_mem_eq(g.data + 3, ref, n);
            em_buf_free(&g);
        }
        check_roundtrip(t, 0);
        em_buf_free(&fresh);
        em_buf_free(&big);
        free(ref);
        free(roomy);
        em_drop(t);
    }
}
END_TEST

START_TEST(test_encode_tuples_as_otp25)
{
    EXPECT(em_tuple(0), 131, 104, 0);
    EXPECT(em_tuple(2, A("a"), em_int(1)), 131, 104, 2, 100, 0, 1, 'a', 97, 1);
    em_term e[256];
    for (int i = 0; i < 256; i++)
        e[i] = EM_NIL;
    em_term big = em_tuplev(256, e);
    em_buf b = EM_BUF_INIT;
    ck_assert_em_ok(em_etf_encode(&b, big, 0));
    static const uint8_t head[] = {131, 105, 0, 0, 1, 0, 106};
    ck_assert_uint_eq(b.len, 6 + 256);
    ck_assert_mem_eq(b.data, head, sizeof head);
    check_roundtrip(big, 0);
    em_drop(big);
    em_buf_free(&b);
}
END_TEST

START_TEST(test_encode_binaries_as_otp25)
{
    EXPECT(em_binary("", 0), 131, 109, 0, 0, 0, 0);
    EXPECT(em_binary("\1\2\3", 3), 131, 109, 0, 0, 0, 3, 1, 2, 3);
    static const uint8_t three_bits[] = {0x20};
    EXPECT(em_bitstring(three_bits, 3), 131, 77, 0, 0, 0, 1, 3, 0x20);
    EXPECT(em_bitstring("\xff\xff", 9), 131, 77, 0, 0, 0, 2, 1, 0xff, 0x80);
}
END_TEST

START_TEST(test_encode_maps_in_exact_key_order)
{
    /* #{b=>1,a=>2}: a first. */
    EXPECT(em_map(2, A("b"), em_int(1), A("a"), em_int(2)),
           131, 116, 0, 0, 0, 2, 100, 0, 1, 'a', 97, 2, 100, 0, 1, 'b', 97, 1);
    /* #{2=>a,1.5=>b,1=>c,1.0=>d}: every integer before every float. */
    EXPECT(em_map(4, em_int(2), A("a"), em_float(1.5), A("b"), em_int(1), A("c"),
                  em_float(1.0), A("d")),
           131, 116, 0, 0, 0, 4, 97, 1, 100, 0, 1, 99, 97, 2, 100, 0, 1, 97, 70, 63,
           240, 0, 0, 0, 0, 0, 0, 100, 0, 1, 100, 70, 63, 248, 0, 0, 0, 0, 0, 0, 100,
           0, 1, 98);
    EXPECT(em_map(0), 131, 116, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_encode_pid_message_as_otp25)
{
    /* The local node is nonode@nohost, creation 0: <0.9.0> is a local
     * (immediate) pid and takes the local node's name. */
    em_term pid = em_pid(A("nonode@nohost"), 9, 0, 0);
    ck_assert(em_typeof(pid) == EM_TYPE_PID);
    expect_bytes(em_tuple(2, pid, em_string("Hello from sender")), otp_pid_msg,
                 sizeof otp_pid_msg);
}
END_TEST

START_TEST(test_encode_ref_and_port_as_otp25)
{
    static const uint32_t w[3] = {0x3b4cc, 0xd26c0001, 0x1d09a1f4};
    expect_bytes(em_ref(A("nonode@nohost"), 0, w, 3), otp_ref, sizeof otp_ref);
    expect_bytes(em_port(A("nonode@nohost"), 0, 0), otp_port, sizeof otp_port);
    /* Ports above 28 bits go out as V4_PORT_EXT (OTP 25.2.3 does so). */
    EXPECT(em_port(A("a"), 0x0fffffff, 1), 131, 89, 100, 0, 1, 'a', 15, 255, 255, 255, 0, 0, 0, 1);
    EXPECT(em_port(A("a"), 0x10000000, 1), 131, 120, 100, 0, 1, 'a', 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 1);
    EXPECT(em_port(A("a"), 0x100000000, 1), 131, 120, 100, 0, 1, 'a', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1);
    /* A remote pid whose id needs 32 bits. */
    EXPECT(em_pid(A("a"), 0xffffffff, 0xffffffff, 1),
           131, 88, 100, 0, 1, 'a', 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 1);
}
END_TEST

START_TEST(test_encode_mixed_term_as_otp25)
{
    static const uint8_t three_bits[] = {0x20};
    static const uint8_t two64[] = {0, 0, 0, 0, 0, 0, 0, 0, 1};
    em_term t = em_tuple(
        13, em_cons(em_int(1), em_cons(em_int(2), em_int(3))), em_bitstring(three_bits, 3),
        em_float(-0.0), em_map(2, A("a"), em_int(1), em_int(1), A("a")),
        em_list(1, em_int(256)), A("\xce\xa9"), A("\xc3\xa4"), EM_NIL, em_tuple(0),
        em_binary("", 0), em_bigint(true, two64, sizeof two64), em_int((int64_t)1 << 31),
        em_int(-((int64_t)1 << 31) - 1));
    expect_bytes(t, otp_mixed, sizeof otp_mixed);
}
END_TEST

START_TEST(test_encode_into_and_size_agree)
{
    em_term t = em_tuple(3, em_string("x"), em_map(1, A("k"), em_float(2.5)),
                         em_list(2, em_int(-5), em_binary("abc", 3)));
    size_t size;
    ck_assert_em_ok(em_etf_size(t, 0, &size));
    uint8_t buf[128];
    for (size_t cap = 0; cap < size; cap++)
        ck_assert_int_eq(em_etf_encode_into(buf, cap, t, 0), EM_ETRUNC);
    ck_assert_int_eq(em_etf_encode_into(buf, sizeof buf, t, 0), (long)size);
    size_t size2;
    ck_assert_em_ok(em_etf_size(t, EM_ETF_NO_VERSION, &size2));
    ck_assert_uint_eq(size2, size - 1);
    /* Appending keeps what the buffer held. */
    em_buf b = EM_BUF_INIT;
    ck_assert_em_ok(em_buf_append(&b, "xy", 2));
    ck_assert_em_ok(em_etf_encode(&b, t, 0));
    ck_assert_uint_eq(b.len, 2 + size);
    ck_assert_mem_eq(b.data, "xy", 2);
    ck_assert_mem_eq(b.data + 2, buf, size);
    em_buf_free(&b);
    ck_assert_em_err(em_etf_encode(&b, EM_NONE, 0), EM_EINVAL);
    ck_assert_em_err(em_etf_size(EM_NONE, 0, &size), EM_EINVAL);
    em_drop(t);
}
END_TEST

/* ---- decoding ---- */

START_TEST(test_decode_otp_terms_reencode_identically)
{
    check_reencodes(otp_pid_msg, sizeof otp_pid_msg);
    check_reencodes(otp_ref, sizeof otp_ref);
    check_reencodes(otp_port, sizeof otp_port);
    check_reencodes(otp_fun_export, sizeof otp_fun_export);
    check_reencodes(otp_fun_closure, sizeof otp_fun_closure);
    check_reencodes(otp_map33_det, sizeof otp_map33_det);
    check_reencodes(otp_big2040, sizeof otp_big2040);
    check_reencodes(otp_mixed, sizeof otp_mixed);
    check_reencodes(otp_compressed_plain, sizeof otp_compressed_plain);
}
END_TEST

START_TEST(test_decode_pid_of_local_node_is_immediate)
{
    em_term t = decode_ok(otp_pid_msg, sizeof otp_pid_msg);
    em_term pid = em_tuple_get(t, 0);
    em_term node;
    uint32_t id, serial, cr;
    ck_assert_em_ok(em_pid_parts(pid, &node, &id, &serial, &cr));
    ck_assert_uint_eq(id, 9);
    ck_assert(node == A("nonode@nohost"));
    em_term same = em_pid(node, 9, 0, 0);
    ck_assert(pid == same); /* the immediate form: equal words */
    em_drop(t);

    /* Another node's pid stays a box, and equals a constructed one. */
    static const uint8_t remote[] = {131, 88, 100, 0, 1, 'n', 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3};
    t = decode_ok(remote, sizeof remote);
    em_term want = em_pid(A("n"), 1, 2, 3);
    ck_assert(em_equal(t, want));
    em_drop(want);
    em_drop(t);
}
END_TEST

/* Once the node has a name, local pids carry it (and its creation) on the
 * wire, and such pids decode back to the immediate form. */
START_TEST(test_local_pid_follows_local_node)
{
    em_term node = A("ember@host");
    em_local_node_set(node, 7);
    em_term pid = em_pid(node, 42, 3, 7);
    static const uint8_t want[] = {131, 88, 100, 0, 10, 'e', 'm', 'b', 'e', 'r', '@', 'h', 'o', 's', 't',
                                   0, 0, 0, 42, 0, 0, 0, 3, 0, 0, 0, 7};
    check_bytes(pid, 0, want, sizeof want);
    em_term back = decode_ok(want, sizeof want);
    ck_assert(back == pid);
    /* Same node, other creation: a different (boxed) pid. */
    uint8_t old[sizeof want];
    memcpy(old, want, sizeof want);
    old[sizeof old - 1] = 6;
    back = decode_ok(old, sizeof old);
    ck_assert(back != pid && em__is_box(back));
    ck_assert(!em_equal(back, pid));
    em_drop(back);
}
END_TEST

START_TEST(test_decode_hash_order_map_sorts_keys)
{
    em_term m = decode_ok(otp_map33, sizeof otp_map33);
    ck_assert_int_eq(em_map_size(m), 33);
    for (int i = 1; i <= 33; i++) {
        ck_assert(em_map_key(m, (size_t)i - 1) == em_int(i));
        ck_assert(em_map_get(m, em_int(i)) == em_int(2 * i));
    }
    /* Re-encoded in term order: what OTP's [deterministic] writes. */
    check_bytes(m, 0, otp_map33_det, sizeof otp_map33_det);
    em_drop(m);
}
END_TEST

START_TEST(test_decode_latin1_and_utf8_atoms)
{
    static const uint8_t latin1[] = {131, 100, 0, 2, 206, 169}; /* 'Î©' */
    em_term t = decode_ok(latin1, sizeof latin1);
    ck_assert(t == A("\xc3\x8e\xc2\xa9"));
    static const uint8_t small_latin1[] = {131, 115, 1, 0xe4};
    t = decode_ok(small_latin1, sizeof small_latin1);
    ck_assert(t == A("\xc3\xa4"));
    static const uint8_t utf8[] = {131, 118, 0, 2, 206, 169};
    t = decode_ok(utf8, sizeof utf8);
    ck_assert(t == A("\xce\xa9"));
    static const uint8_t empty[] = {131, 119, 0};
    ck_assert(decode_ok(empty, sizeof empty) == A(""));
    /* 255 characters is the limit, counted in characters not bytes. */
    uint8_t a255[4 + 255 * 2] = {131, 118, 0x01, 0xfe};
    for (int i = 0; i < 255; i++)
        memcpy(a255 + 4 + 2 * i, "\xc3\xa4", 2);
    t = decode_ok(a255, sizeof a255);
    size_t len;
    em_atom_text(t, &len);
    ck_assert_uint_eq(len, 510);
}
END_TEST

START_TEST(test_decode_legacy_tags)
{
    /* FLOAT_EXT: "%.20e" text. */
    uint8_t fl[2 + 31] = {131, 99};
    memcpy(fl + 2, "1.50000000000000000000e+00", 26);
    em_term t = decode_ok(fl, sizeof fl);
    double d;
    ck_assert_em_ok(em_float_get(t, &d));
    ck_assert(d == 1.5);
    em_drop(t);
    memset(fl + 2, 0, 31);
    memcpy(fl + 2, "-1.5e-3", 7);
    t = decode_ok(fl, sizeof fl);
    ck_assert_em_ok(em_float_get(t, &d));
    ck_assert(d == -0.0015);
    em_drop(t);

    /* What OTP 25.2.3 writes back for each legacy form. */
    static const uint8_t pid_ext[] = {131, 103, 100, 0, 1, 'a', 0, 0, 0, 1, 0, 0, 0, 2, 3};
    static const uint8_t pid_new[] = {131, 88, 100, 0, 1, 'a', 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3};
    static const uint8_t ref_ext[] = {131, 101, 100, 0, 1, 'a', 0, 0, 0, 1, 3};
    static const uint8_t ref_new1[] = {131, 90, 0, 1, 100, 0, 1, 'a', 0, 0, 0, 3, 0, 0, 0, 1};
    static const uint8_t nref_ext[] = {131, 114, 0, 2, 100, 0, 1, 'a', 3, 0, 0, 0, 1, 0, 0, 0, 2};
    static const uint8_t ref_new2[] = {131, 90, 0, 2, 100, 0, 1, 'a', 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2};
    static const uint8_t port_ext[] = {131, 102, 100, 0, 1, 'a', 0, 0, 0, 1, 3};
    static const uint8_t port_new[] = {131, 89, 100, 0, 1, 'a', 0, 0, 0, 1, 0, 0, 0, 3};
    static const uint8_t v4_small[] = {131, 120, 100, 0, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1};
    static const uint8_t v4_small_new[] = {131, 89, 100, 0, 1, 'a', 0, 0, 0, 5, 0, 0, 0, 1};
    const struct {
        const uint8_t *in, *out;
        size_t inlen, outlen;
    } cases[] = {
        {pid_ext, pid_new, sizeof pid_ext, sizeof pid_new},
        {ref_ext, ref_new1, sizeof ref_ext, sizeof ref_new1},
        {nref_ext, ref_new2, sizeof nref_ext, sizeof ref_new2},
        {port_ext, port_new, sizeof port_ext, sizeof port_new},
        {v4_small, v4_small_new, sizeof v4_small, sizeof v4_small_new},
    };
    for (size_t i = 0; i < N(cases); i++) {
        t = decode_ok(cases[i].in, cases[i].inlen);
        check_bytes(t, 0, cases[i].out, cases[i].outlen);
        em_drop(t);
    }
}
END_TEST

START_TEST(test_decode_odd_but_valid_forms)
{
    /* LIST_EXT with no elements is its tail (OTP agrees). */
    static const uint8_t list0[] = {131, 108, 0, 0, 0, 0, 97, 1};
    ck_assert(decode_ok(list0, sizeof list0) == em_int(1));
    /* STRING_EXT of length 0 is []. */
    static const uint8_t str0[] = {131, 107, 0, 0};
    ck_assert(decode_ok(str0, sizeof str0) == EM_NIL);
    /* Unnormalised bignums become small integers; any non-zero sign byte
     * is minus; -0 is 0. */
    static const uint8_t big5[] = {131, 110, 3, 0, 5, 0, 0};
    ck_assert(decode_ok(big5, sizeof big5) == em_int(5));
    static const uint8_t bigm5[] = {131, 110, 1, 2, 5};
    ck_assert(decode_ok(bigm5, sizeof bigm5) == em_int(-5));
    static const uint8_t negzero[] = {131, 110, 0, 1};
    ck_assert(decode_ok(negzero, sizeof negzero) == em_int(0));
    /* A 2^64 with padding zero bytes is one limb longer, not more. */
    static const uint8_t padded[] = {131, 110, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
    em_term t = decode_ok(padded, sizeof padded);
    static const uint8_t two64[] = {131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    check_bytes(t, 0, two64, sizeof two64);
    em_drop(t);
    /* BIT_BINARY_EXT with 8 bits is a binary; garbage bits are cleared. */
    static const uint8_t bits8[] = {131, 77, 0, 0, 0, 1, 8, 255};
    t = decode_ok(bits8, sizeof bits8);
    static const uint8_t bin1[] = {131, 109, 0, 0, 0, 1, 255};
    check_bytes(t, 0, bin1, sizeof bin1);
    em_drop(t);
    static const uint8_t bits3[] = {131, 77, 0, 0, 0, 1, 3, 255};
    t = decode_ok(bits3, sizeof bits3);
    size_t nbits;
    const uint8_t *data = em_binary_data(t, &nbits);
    ck_assert_uint_eq(nbits, 3);
    ck_assert_uint_eq(data[0], 0xe0);
    em_drop(t);
    /* Maps written out of order are sorted. */
    static const uint8_t unsorted[] = {131, 116, 0, 0, 0, 3, 97, 3, 106, 97, 1, 106, 97, 2, 106};
    t = decode_ok(unsorted, sizeof unsorted);
    static const uint8_t sorted[] = {131, 116, 0, 0, 0, 3, 97, 1, 106, 97, 2, 106, 97, 3, 106};
    check_bytes(t, 0, sorted, sizeof sorted);
    em_drop(t);
    /* An export fun whose arity is an INTEGER_EXT is kept verbatim. */
    static const uint8_t export98[] = {131, 113, 100, 0, 1, 'a', 100, 0, 1, 'b', 98, 0, 0, 0, 1};
    check_reencodes(export98, sizeof export98);
}
END_TEST

/* Maps arrive in any key order; the decoder sorts them as em_map does. */
START_TEST(test_decode_unsorted_map_matches_constructed)
{
    const char *names[] = {"b", "ab", "a", "\xc3\xa4", "abc", "", "B", "zz", "z"};
    em_term want = em_map(0);
    em_buf b = EM_BUF_INIT;
    uint8_t head[] = {131, 116, 0, 0, 0, (uint8_t)(N(names) + 3)};
    ck_assert_em_ok(em_buf_append(&b, head, sizeof head));
    em_term keys[N(names) + 3], vals[N(names) + 3];
    size_t k = 0;
    for (size_t i = 0; i < N(names); i++, k++) {
        keys[k] = A(names[i]);
        vals[k] = em_int((int64_t)i);
    }
    keys[k] = em_int(-3), vals[k++] = EM_NIL;
    keys[k] = em_float(-3.0), vals[k++] = EM_NIL;
    keys[k] = em_tuple(1, A("t")), vals[k++] = EM_NIL;
    for (size_t i = 0; i < k; i++) {
        ck_assert_em_ok(em_etf_encode(&b, keys[i], EM_ETF_NO_VERSION));
        ck_assert_em_ok(em_etf_encode(&b, vals[i], EM_ETF_NO_VERSION));
    }
    em_drop(want);
    want = em_mapv(k, keys, vals);
    em_term got = decode_ok(b.data, b.len);
    ck_assert(em_equal(got, want));
    for (size_t i = 1; i < k; i++)
        ck_assert_int_lt(em_compare_exact(em_map_key(got, i - 1), em_map_key(got, i)), 0);
    em_drop(got);
    em_drop(want);
    em_buf_free(&b);
}
END_TEST

START_TEST(test_decode_advances_offset_and_allows_no_version)
{
    /* Two terms back to back, the second without 131 after a header. */
    static const uint8_t two[] = {131, 97, 7, 131, 100, 0, 1, 'x', 106};
    size_t off = 0;
    em_term t;
    ck_assert_em_ok(em_etf_decode(two, sizeof two, &off, NULL, &t));
    ck_assert(t == em_int(7));
    ck_assert_uint_eq(off, 3);
    ck_assert_em_ok(em_etf_decode(two, sizeof two, &off, NULL, &t));
    ck_assert(t == A("x"));
    ck_assert_uint_eq(off, 8);
    ck_assert_em_err(em_etf_decode(two, sizeof two, &off, NULL, &t), EM_EBADVER);
    ck_assert_uint_eq(off, 8); /* not advanced on error */
    em_etf_opts o = {.flags = EM_ETF_NO_VERSION};
    ck_assert_em_ok(em_etf_decode(two, sizeof two, &off, &o, &t));
    ck_assert(t == EM_NIL);
    ck_assert_uint_eq(off, 9);
    ck_assert_em_err(em_etf_decode(two, sizeof two, &off, &o, &t), EM_ETRUNC);
}
END_TEST

/* ---- round trips ---- */

START_TEST(test_roundtrip_every_type)
{
    static const uint8_t mag[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
    static const uint32_t w5[5] = {1, 2, 3, 4, 5};
    em_term local = em_pid(em_local_node(NULL), 77, 3, 0);
    em_term fun = decode_ok(otp_fun_closure, sizeof otp_fun_closure);
    em_term items[] = {
        em_int(0), em_int(-7), em_int(1000000), em_int(INT64_MAX), em_int(INT64_MIN),
        em_bigint(false, mag, sizeof mag), em_bigint(true, mag, sizeof mag),
        em_float(3.25), em_float(-1e300), em_float(5e-324),
        A("plain"), A("\xc3\xa4\xc3\xb6"), A("\xe6\x97\xa5\xe6\x9c\xac"), A(""),
        em_ref(A("n@h"), 7, w5, 5), em_ref(A("n@h"), 0xffffffff, w5, 1),
        em_port(A("n@h"), 123, 4), em_port(A("n@h"), UINT64_MAX, 4),
        local, em_pid(A("n@h"), 1, 2, 3), em_pid(em_local_node(NULL), 0x10000000, 1, 0),
        em_tuple(0), em_tuple(2, em_int(1), em_tuple(1, EM_NIL)),
        em_map(0), em_map(2, em_string("k"), em_map(1, A("x"), em_int(1)), A("a"), em_float(0.5)),
        EM_NIL, em_string("hello"), em_list(3, em_int(300), A("z"), em_string("")),
        em_cons(em_int(1), em_binary("t", 1)),
        em_binary("", 0), em_binary("\0\1\2", 3), em_bitstring("\xff", 7), em_bitstring("\xa5\x5a", 12),
        fun, em_dup(fun),
    };
    em_term all = em_tuplev(N(items), items);
    ck_assert(all != EM_NONE);
    for (size_t i = 0; i < N(items); i++) {
        check_roundtrip(em_tuple_get(all, i), 0);
        check_roundtrip(em_tuple_get(all, i), EM_ETF_DIST);
        check_roundtrip(em_tuple_get(all, i), EM_ETF_DIST | EM_ETF_NO_VERSION);
    }
    check_roundtrip(all, 0);
    check_roundtrip(all, EM_ETF_DIST);
    em_drop(all);
}
END_TEST

START_TEST(test_roundtrip_list_and_tuple_100000_deep)
{
    em_term l = EM_NIL, t = A("leaf");
    for (int i = 0; i < 100000; i++) {
        l = em_list(1, l);
        t = em_tuple(2, em_int(i), t);
    }
    ck_assert(l != EM_NONE && t != EM_NONE);
    check_roundtrip(l, 0);
    check_roundtrip(t, 0);
    em_term both = em_map(1, l, t); /* deep key and value together */
    check_roundtrip(both, EM_ETF_DIST);
    em_drop(both);
}
END_TEST

/* ---- deep terms on a process's small stack ---- */

#define DEEP_N 1000000
static atomic_int deep_ok;

/* Encode t, check em_etf_size agrees, decode the bytes, check the result
 * =:= t and encodes to the same bytes, release the copy.  Counts a pass
 * in deep_ok. */
static void deep_roundtrip(em_term t)
{
    em_buf b = EM_BUF_INIT, b2 = EM_BUF_INIT;
    size_t size = 0;
    em_term d = EM_NONE;
    if (em_etf_encode(&b, t, EM_ETF_DIST) == 0 && em_etf_size(t, EM_ETF_DIST, &size) == 0 &&
        size == b.len && em_etf_decode(b.data, b.len, NULL, NULL, &d) == 0 &&
        em_compare_exact(d, t) == 0 && em_etf_encode(&b2, d, EM_ETF_DIST) == 0 &&
        b2.len == b.len && memcmp(b.data, b2.data, b.len) == 0)
        atomic_fetch_add(&deep_ok, 1);
    em_drop(d);
    em_buf_free(&b);
    em_buf_free(&b2);
    em_yield(); /* a switch-out: a process over its stack limit dies here */
}

/* A process with a 32 KiB stack: a list, a tuple and a mix nested DEEP_N
 * levels deep, built, encoded, sized, decoded, compared, re-encoded and
 * released (a decoded term in one free, a constructed one box by box).
 * Anything here recursing per level would need megabytes of stack: the
 * process would die of stack_overflow or the scheduler hit its guard
 * page. */
static void deep_proc(void *arg)
{
    (void)arg;
    em_term l = EM_NIL, t = em_tuple(0), m = EM_NIL;
    for (int i = 0; i < DEEP_N; i++) {
        l = em_list(1, l);                                      /* [[[...]]] */
        t = em_tuple(1, t);                                     /* {{{...}}} */
        m = i % 2 ? em_tuple(2, m, em_int(i)) : em_list(1, m);  /* [{[{...}]}] */
    }
    deep_roundtrip(l);
    deep_roundtrip(t);
    deep_roundtrip(m);
    em_drop(l);
    em_drop(t);
    em_drop(m);
    em_yield();
    atomic_fetch_add(&deep_ok, 1);
}

START_TEST(test_deep_terms_on_a_small_process_stack)
{
    rt_start(1);
    em_spawn_opts o = {.stack_size = 32 * 1024};
    ck_assert(em_spawn_opt(deep_proc, NULL, &o) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(atomic_load(&deep_ok), 4);
}
END_TEST

/* The depth limit counts levels exactly, also where the decoder folds a
 * chain of containers into one frame or keeps none: 1,000,000 nested
 * lists, tuples, or lists and tuples in turn (the list in first position,
 * the tuple in last) pass a limit of 1,000,000 and fail one of 999,999;
 * without a limit (the default) they decode. */
START_TEST(test_depth_limit_exact_on_deep_chains)
{
    em_term terms[3] = {EM_NIL, em_tuple(0), em_atom("x")};
    for (int i = 0; i < DEEP_N; i++) {
        terms[0] = em_list(1, terms[0]);
        terms[1] = em_tuple(1, terms[1]);
        terms[2] = i % 2 ? em_tuple(2, em_int(i), terms[2]) : em_list(1, terms[2]);
    }
    /* The innermost {} and 'x' open no level: DEEP_N levels of items. */
    for (int k = 0; k < 3; k++) {
        em_buf b = EM_BUF_INIT;
        ck_assert_em_ok(em_etf_encode(&b, terms[k], 0));
        em_term d;
        em_etf_opts o = {.max_depth = DEEP_N};
        ck_assert_em_ok(em_etf_decode(b.data, b.len, NULL, &o, &d));
        ck_assert_int_eq(em_compare_exact(d, terms[k]), 0);
        em_drop(d);
        o.max_depth = DEEP_N - 1;
        ck_assert_em_err(em_etf_decode(b.data, b.len, NULL, &o, &d), EM_EDEPTH);
        ck_assert_em_ok(em_etf_decode(b.data, b.len, NULL, NULL, &d));
        em_drop(d);
        em_buf_free(&b);
        em_drop(terms[k]);
    }
}
END_TEST

/* Tuples of 65535 elements and more keep their arity outside the box
 * header (term_seam.h): sizes, elements, order, encoding and decoding agree on
 * both sides of that line. */
START_TEST(test_long_tuples)
{
    static const size_t sizes[] = {65534, 65535, 65536, 70000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        em_term *e = malloc(n * sizeof *e);
        for (size_t i = 0; i < n; i++)
            e[i] = em_int((int64_t)i);
        e[n - 1] = em_tuple(1, em_atom("last"));
        em_term t = em_tuplev(n, e);
        ck_assert_int_eq(em_tuple_size(t), (long)n);
        ck_assert(em_tuple_get(t, 0) == em_int(0));
        ck_assert(em_tuple_get(t, n - 2) == em_int((int64_t)n - 2));
        ck_assert(em_tuple_get(t, n) == EM_NONE);
        check_roundtrip(t, 0);
        em_buf b = EM_BUF_INIT;
        ck_assert_em_ok(em_etf_encode(&b, t, 0));
        ck_assert_uint_eq(b.data[1], 105); /* LARGE_TUPLE_EXT */
        em_term d;
        ck_assert_em_ok(em_etf_decode(b.data, b.len, NULL, NULL, &d));
        ck_assert_int_eq(em_tuple_size(d), (long)n);
        ck_assert_int_eq(em_tuple_size(em_tuple_get(d, n - 1)), 1);
        ck_assert_int_eq(em_compare(d, t), 0);
        em_drop(d);
        em_buf_free(&b);
        em_drop(t);
        free(e);
    }
}
END_TEST

START_TEST(test_roundtrip_large_binary_and_list)
{
    size_t n = 1 << 20;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 31 + 7);
    em_term b = em_binary(data, n);
    check_roundtrip(b, 0);
    em_drop(b);
    free(data);
    em_term e[1000];
    for (int i = 0; i < 1000; i++)
        e[i] = em_int(i * 1000);
    em_term l = em_listv(1000, e);
    check_roundtrip(l, 0);
    em_drop(l);
}
END_TEST

/* ---- errors ---- */

/* Every proper prefix of a valid encoding must fail cleanly with ETRUNC or
 * ELENGTH (which one depends on where the cut falls: inside a fixed field,
 * or after a length that now exceeds what is left). */
static void check_prefixes(const uint8_t *buf, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        /* An exact-size copy, so ASan sees any read past the end. */
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, buf, k);
        int rc = decode_rc(cut, k);
        ck_assert_msg(rc == EM_ETRUNC || rc == EM_ELENGTH,
                      "prefix of %zu of %zu bytes: %s", k, len, em_err_name(rc));
        size_t off = 0;
        em_term t = EM_NONE;
        rc = em_etf_decode(cut, k, &off, NULL, &t);
        ck_assert(rc == EM_ETRUNC || rc == EM_ELENGTH);
        ck_assert_uint_eq(off, 0);
        ck_assert(t == EM_NONE);
        free(cut);
    }
    ck_assert_em_ok(decode_rc(buf, len));
}

START_TEST(test_truncated_input_at_every_prefix)
{
    check_prefixes(otp_pid_msg, sizeof otp_pid_msg);
    check_prefixes(otp_ref, sizeof otp_ref);
    check_prefixes(otp_fun_closure, sizeof otp_fun_closure);
    check_prefixes(otp_fun_export, sizeof otp_fun_export);
    check_prefixes(otp_mixed, sizeof otp_mixed);
    check_prefixes(otp_map33, sizeof otp_map33);
    check_prefixes(otp_big2040, sizeof otp_big2040);
    uint8_t fl[2 + 31] = {131, 99};
    memcpy(fl + 2, "1.5", 3);
    check_prefixes(fl, sizeof fl);
    /* Integer lists take a shortcut in the decoder; cut them everywhere. */
    static const uint8_t ints[] = {131, 104, 2, 108, 0, 0, 0, 3, 97, 1, 98, 0, 0, 1, 0, 97, 3,
                                   106, 108, 0, 0, 0, 2, 97, 1, 97, 2, 97, 3};
    check_prefixes(ints, sizeof ints);
    ck_assert_em_err(decode_rc(NULL, 0), EM_ETRUNC);
}
END_TEST

START_TEST(test_unknown_and_refused_tags)
{
    DECODE_ERR(EM_EBADTAG, 131, 1);
    DECODE_ERR(EM_EBADTAG, 131, 255);
    DECODE_ERR(EM_EBADTAG, 131, 82, 0);              /* ATOM_CACHE_REF */
    DECODE_ERR(EM_EBADTAG, 131, 117, 0, 0, 0, 0);    /* FUN_EXT */
    DECODE_ERR(EM_EBADTAG, 131, 121, 0, 0, 0, 0);    /* LOCAL_EXT */
    DECODE_ERR(EM_EBADTAG, 131, 104, 1, 80, 0, 0, 0, 1, 0); /* nested 80 */
    DECODE_ERR(EM_EBADTAG, 131, 108, 0, 0, 0, 1, 97, 1, 68); /* bad tail tag */
    DECODE_ERR(EM_EBADTAG, 131, 88, 82, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    DECODE_ERR(EM_EBADVER, 130, 97, 1);
    DECODE_ERR(EM_EBADVER, 97, 1);
}
END_TEST

START_TEST(test_bad_atoms)
{
    DECODE_ERR(EM_EBADATOM, 131, 119, 1, 255);
    DECODE_ERR(EM_EBADATOM, 131, 118, 0, 2, 0xc0, 0x80);          /* overlong */
    DECODE_ERR(EM_EBADATOM, 131, 119, 3, 0xed, 0xa0, 0x80);       /* surrogate */
    DECODE_ERR(EM_EBADATOM, 131, 119, 2, 'a', 0xc3);              /* cut */
    DECODE_ERR(EM_EBADATOM, 131, 88, 119, 1, 0x80, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0);

    uint8_t big[4 + 300 * 2];
    big[0] = 131;
    big[1] = 100;
    big[2] = 1;
    big[3] = 0; /* 256 Latin-1 characters */
    memset(big + 4, 'a', 256);
    ck_assert_em_err(decode_rc(big, 4 + 256), EM_EATOMLEN);
    big[2] = 0;
    big[3] = 255;
    ck_assert_em_ok(decode_rc(big, 4 + 255));
    big[2] = 1;
    big[1] = 118;
    big[3] = 0;
    ck_assert_em_err(decode_rc(big, 4 + 256), EM_EATOMLEN);
    big[2] = 2;
    big[3] = 0; /* 256 two-byte characters */
    for (int i = 0; i < 256; i++)
        memcpy(big + 4 + 2 * i, "\xc3\xa4", 2);
    ck_assert_em_err(decode_rc(big, 4 + 512), EM_EATOMLEN);
}
END_TEST

START_TEST(test_duplicate_map_keys)
{
    DECODE_ERR(EM_EDUPKEY, 131, 116, 0, 0, 0, 2, 97, 1, 97, 1, 97, 1, 97, 2);
    /* Out of order, the duplicate only shows after sorting. */
    DECODE_ERR(EM_EDUPKEY, 131, 116, 0, 0, 0, 3, 97, 1, 106, 97, 2, 106, 97, 1, 106);
    /* 1 and 1.0 are different keys. */
    static const uint8_t ok[] = {131, 116, 0, 0, 0, 2, 70, 63, 240, 0, 0, 0, 0, 0, 0, 106, 97, 1, 106};
    em_term m = decode_ok(ok, sizeof ok);
    ck_assert(em_map_key(m, 0) == em_int(1));
    em_drop(m);
    /* Duplicates nested inside a list inside a tuple. */
    DECODE_ERR(EM_EDUPKEY, 131, 104, 1, 108, 0, 0, 0, 1, 116, 0, 0, 0, 2, 106, 97, 1, 106, 97, 2, 106);
}
END_TEST

START_TEST(test_depth_limit)
{
    /* {{{a}}}: three nested containers. */
    static const uint8_t three[] = {131, 104, 1, 104, 1, 104, 1, 97, 1};
    em_etf_opts o = {.max_depth = 3};
    em_term t;
    ck_assert_em_ok(em_etf_decode(three, sizeof three, NULL, &o, &t));
    em_drop(t);
    o.max_depth = 2;
    ck_assert_em_err(em_etf_decode(three, sizeof three, NULL, &o, &t), EM_EDEPTH);
    /* Lists, maps and fun free variables count too. */
    static const uint8_t lists[] = {131, 108, 0, 0, 0, 1, 108, 0, 0, 0, 1, 116, 0, 0, 0, 1, 106, 106, 106, 106};
    ck_assert_em_err(em_etf_decode(lists, sizeof lists, NULL, &o, &t), EM_EDEPTH);
    o.max_depth = 3;
    ck_assert_em_ok(em_etf_decode(lists, sizeof lists, NULL, &o, &t));
    em_drop(t);

    /* 100,000 nested lists under a limit of 50,000. */
    size_t n = 100000;
    uint8_t *deep = malloc(1 + 6 * n + 1 + n);
    size_t k = 0;
    deep[k++] = 131;
    for (size_t i = 0; i < n; i++) {
        memcpy(deep + k, "\x6c\0\0\0\1", 5);
        k += 5;
    }
    deep[k++] = 106;
    for (size_t i = 0; i < n; i++)
        deep[k++] = 106;
    o.max_depth = 50000;
    ck_assert_em_err(em_etf_decode(deep, k, NULL, &o, &t), EM_EDEPTH);
    ck_assert_em_ok(em_etf_decode(deep, k, NULL, NULL, &t));
    ck_assert_int_eq(em_list_length(t), 1);
    em_drop(t);
    free(deep);
}
END_TEST

START_TEST(test_huge_length_fields)
{
    DECODE_ERR(EM_ELENGTH, 131, 108, 255, 255, 255, 255, 106);
    DECODE_ERR(EM_ELENGTH, 131, 105, 255, 255, 255, 255, 106);
    DECODE_ERR(EM_ELENGTH, 131, 116, 128, 0, 0, 0, 106, 106);
    DECODE_ERR(EM_ELENGTH, 131, 109, 255, 255, 255, 255, 1);
    DECODE_ERR(EM_ELENGTH, 131, 77, 255, 255, 255, 255, 3, 1);
    DECODE_ERR(EM_ELENGTH, 131, 107, 255, 255, 1);
    DECODE_ERR(EM_ELENGTH, 131, 111, 255, 255, 255, 255, 0, 1);
    DECODE_ERR(EM_ELENGTH, 131, 110, 9, 0, 1);
    DECODE_ERR(EM_ELENGTH, 131, 100, 255, 255, 'a');
    DECODE_ERR(EM_ELENGTH, 131, 104, 3, 97, 1);
    DECODE_ERR(EM_ELENGTH, 131, 112, 255, 255, 255, 255, 0);
    /* A compressed term claiming 4 GB from 20 bytes is refused up front. */
    DECODE_ERR(EM_EZLIB, 131, 80, 255, 255, 255, 255, 120, 156, 3, 0, 0, 0, 0, 1);
}
END_TEST

START_TEST(test_trailing_bytes)
{
    DECODE_ERR(EM_ETRAILING, 131, 97, 1, 0);
    DECODE_ERR(EM_ETRAILING, 131, 106, 106);
    size_t len = sizeof otp_compressed + 1;
    uint8_t *c = malloc(len);
    memcpy(c, otp_compressed, sizeof otp_compressed);
    c[len - 1] = 0;
    ck_assert_em_err(decode_rc(c, len), EM_ETRAILING);
    size_t off = 0;
    em_term t;
    ck_assert_em_ok(em_etf_decode(c, len, &off, NULL, &t));
    ck_assert_uint_eq(off, sizeof otp_compressed);
    em_drop(t);
    free(c);
}
END_TEST

START_TEST(test_malformed_terms)
{
    DECODE_ERR(EM_EBADTERM, 131, 70, 127, 248, 0, 0, 0, 0, 0, 0);   /* NaN */
    DECODE_ERR(EM_EBADTERM, 131, 70, 255, 240, 0, 0, 0, 0, 0, 0);   /* -inf */
    DECODE_ERR(EM_EBADTERM, 131, 77, 0, 0, 0, 1, 0, 255);           /* 0 bits */
    DECODE_ERR(EM_EBADTERM, 131, 77, 0, 0, 0, 1, 9, 255);           /* 9 bits */
    DECODE_ERR(EM_EBADTERM, 131, 77, 0, 0, 0, 0, 3);                /* empty, 3 bits */
    DECODE_ERR(EM_EBADTERM, 131, 88, 97, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1); /* node 1 */
    DECODE_ERR(EM_EBADTERM, 131, 90, 0, 0, 100, 0, 1, 'a', 0, 0, 0, 0); /* 0 words */
    DECODE_ERR(EM_EBADTERM, 131, 90, 0, 6, 100, 0, 1, 'a', 0, 0, 0, 0,
               0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    DECODE_ERR(EM_EBADTERM, 131, 113, 100, 0, 1, 'a', 100, 0, 1, 'b', 106); /* arity [] */
    DECODE_ERR(EM_EBADTERM, 131, 113, 97, 1, 100, 0, 1, 'b', 97, 1);        /* module 1 */
    /* A fun whose Size does not match its contents. */
    uint8_t fun[sizeof otp_fun_closure];
    memcpy(fun, otp_fun_closure, sizeof fun);
    fun[5]--; /* Size one short: the free variable overruns it */
    ck_assert_em_err(decode_rc(fun, sizeof fun), EM_EBADTERM);
    /* FLOAT_EXT text OTP refuses. */
    const char *bad[] = {"1", "  1.5", "1.5 ", "1e5", ".5", "inf", "nan", "1.", "0x1p3", "1.5e400", ""};
    for (size_t i = 0; i < N(bad); i++) {
        uint8_t fl[2 + 31] = {131, 99};
        memcpy(fl + 2, bad[i], strlen(bad[i]));
        ck_assert_msg(decode_rc(fl, sizeof fl) == EM_EBADTERM, "FLOAT_EXT \"%s\"", bad[i]);
    }
}
END_TEST

START_TEST(test_invalid_arguments)
{
    em_term t;
    ck_assert_em_err(em_etf_decode(otp_mixed, sizeof otp_mixed, NULL, NULL, NULL), EM_EINVAL);
    ck_assert_em_err(em_etf_decode(NULL, 5, NULL, NULL, &t), EM_EINVAL);
    size_t off = sizeof otp_mixed + 1;
    ck_assert_em_err(em_etf_decode(otp_mixed, sizeof otp_mixed, &off, NULL, &t), EM_EINVAL);
    ck_assert_em_err(em_etf_encode_into(NULL, 0, em_int(1), 0), EM_ETRUNC);
    ck_assert_em_err(em_etf_encode_into(NULL, 0, em_int(1), EM_ETF_NO_VERSION), EM_ETRUNC);
    ck_assert_em_err(em_etf_encode_into(NULL, 5, em_int(1), 0), EM_EINVAL);
}
END_TEST

/* ---- compressed terms ---- */

START_TEST(test_decode_compressed_from_erl)
{
    em_term c = decode_ok(otp_compressed, sizeof otp_compressed);
    em_term p = decode_ok(otp_compressed_plain, sizeof otp_compressed_plain);
    ck_assert(em_equal(c, p));
    em_drop(c);
    em_drop(p);
    c = decode_ok(otp_stored, sizeof otp_stored);
    p = decode_ok(otp_stored_plain, sizeof otp_stored_plain);
    ck_assert(em_equal(c, p));
    em_drop(c);
    em_drop(p);
    c = decode_ok(otp_compressed_big, sizeof otp_compressed_big);
    ck_assert_int_eq(em_list_length(c), 2000);
    em_term e = em_tuple(3, A("atom"), em_float(1.5), em_binary("bin", 3));
    for (em_term l = c; l != EM_NIL; l = em_tl(l))
        ck_assert(em_equal(em_hd(l), e));
    em_drop(e);
    em_drop(c);
}
END_TEST

START_TEST(test_corrupt_compressed_rejected)
{
    size_t n = sizeof otp_compressed;
    uint8_t *c = malloc(n);
    /* Every single-byte corruption of the zlib stream fails with EZLIB (the
     * Adler-32 check catches what the Huffman decoding does not) or, if
     * the size field was hit, a size mismatch. */
    for (size_t i = 2; i < n; i++) {
        memcpy(c, otp_compressed, n);
        c[i] ^= 0x21;
        int rc = decode_rc(c, n);
        ck_assert_msg(rc == EM_EZLIB, "byte %zu: %s", i, em_err_name(rc));
    }
    /* The stated size one more or one less than the real one. */
    memcpy(c, otp_compressed, n);
    c[5]++;
    ck_assert_em_err(decode_rc(c, n), EM_EZLIB);
    c[5] -= 2;
    ck_assert_em_err(decode_rc(c, n), EM_EZLIB);
    /* Truncated anywhere. */
    for (size_t k = 2; k < n; k++) {
        int rc = decode_rc(otp_compressed, k);
        ck_assert_msg(rc == EM_EZLIB || rc == EM_ETRUNC, "prefix %zu: %s", k, em_err_name(rc));
    }
    /* Larger than the caller accepts. */
    em_etf_opts o = {.max_inflate = 100};
    em_term t;
    ck_assert_em_err(em_etf_decode(otp_compressed, n, NULL, &o, &t), EM_EZLIB);
    o.max_inflate = 1 << 20;
    ck_assert_em_ok(em_etf_decode(otp_compressed, n, NULL, &o, &t));
    em_drop(t);
    free(c);
    /* A stream that inflates to bytes that are not one whole term. */
    DECODE_ERR(EM_ETRUNC, 131, 80, 0, 0, 0, 0, 120, 156, 3, 0, 0, 0, 0, 1);
}
END_TEST

START_TEST(test_adler32_known_value)
{
    ck_assert_uint_eq(em__adler32(1, (const uint8_t *)"Wikipedia", 9), 0x11e60398u);
    ck_assert_uint_eq(em__adler32(1, NULL, 0), 1);
}
END_TEST

/* ---- decoding from a binary term (em_etf_decode_bin) ---- */

/* Whether p points into the bytes of binary b. */
static bool points_into(const uint8_t *p, em_term b)
{
    size_t nbits;
    const uint8_t *d = em_binary_data(b, &nbits);
    return d != NULL && p >= d && p < d + nbits / 8;
}

/* The encoding of t as a binary term. */
static em_term encoded(em_term t)
{
    em_buf b = EM_BUF_INIT;
    ck_assert_em_ok(em_etf_encode(&b, t, 0));
    em_term bin = em_binary(b.data, b.len);
    em_buf_free(&b);
    ck_assert(bin != EM_NONE);
    return bin;
}

static em_term filled_binary(size_t n, uint8_t seed)
{
    uint8_t *d = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)(seed + i * 7);
    em_term b = em_binary(d, n);
    free(d);
    return b;
}

/* Atoms go through a small per-thread cache; many atoms sharing its sets
 * (more than it holds), decoded over and over in changing orders, must
 * still all come out right. */
START_TEST(test_decode_atoms_through_the_cache)
{
    enum { NA = 700 };
    em_term atoms[NA];
    char name[32];
    for (int i = 0; i < NA; i++) {
        snprintf(name, sizeof name, i % 3 ? "k%d" : "key_number_%d", i);
        atoms[i] = em_atom(name);
        ck_assert(atoms[i] != EM_NONE);
    }
    em_term l = em_listv(NA, atoms);
    em_buf b = EM_BUF_INIT;
    ck_assert_em_ok(em_etf_encode(&b, l, 0));
    for (int round = 0; round < 3; round++) {
        em_term d = decode_ok(b.data, b.len);
        ck_assert(em_equal(d, l));
        em_drop(d);
        /* Every second atom alone, to reorder the cache's ways. */
        for (int i = round; i < NA; i += 2) {
            em_buf one = EM_BUF_INIT;
            ck_assert_em_ok(em_etf_encode(&one, atoms[i], 0));
            ck_assert(decode_ok(one.data, one.len) == atoms[i]);
            em_buf_free(&one);
        }
    }
    /* name and age share a set, with one way they evicted each other. */
    em_term m = em_parse("#{name => 1, age => 2, id => 3, web => 4}");
    em_term mb = encoded(m);
    for (int i = 0; i < 3; i++) {
        em_term d;
        ck_assert_em_ok(em_etf_decode_bin(mb, NULL, NULL, &d));
        ck_assert(em_equal(d, m));
        em_drop(d);
    }
    em_drop(mb);
    em_drop(m);
    em_buf_free(&b);
    em_drop(l);
}
END_TEST

START_TEST(test_decode_bin_shares_large_binaries_and_keeps_input_alive)
{
    em_term big = filled_binary(1000, 3), small = filled_binary(64, 5);
    em_term t = em_tuple(3, em_dup(big), em_dup(small), A("x"));
    em_term bin = encoded(t);
    em_term d = EM_NONE;
    ck_assert_em_ok(em_etf_decode_bin(bin, NULL, NULL, &d));
    ck_assert(em_equal(d, t));
    /* The 1000-byte binary points into the input, the 64-byte one is a
     * copy (64 is the limit). */
    ck_assert(points_into(em_binary_data(em_tuple_get(d, 0), NULL), bin));
    ck_assert(!points_into(em_binary_data(em_tuple_get(d, 1), NULL), bin));
    /* The caller's reference goes; the result keeps the input alive
     * (ASan would see a use after free otherwise). */
    em_drop(bin);
    ck_assert(em_equal(d, t));
    /* So does a part of the result alone. */
    em_term part = em_dup(em_tuple_get(d, 0));
    em_drop(d);
    ck_assert(em_equal(part, big));
    em_drop(part);
    em_drop(t);
    em_drop(big);
    em_drop(small);
}
END_TEST

START_TEST(test_decode_bin_copies_what_would_keep_too_much_alive)
{
    /* 65 bytes alone: shared.  100 bytes next to a 1000-byte string (less
     * than a quarter of the input): copied. */
    em_term b65 = filled_binary(65, 1);
    em_term bin = encoded(b65), d;
    ck_assert_em_ok(em_etf_decode_bin(bin, NULL, NULL, &d));
    ck_assert(points_into(em_binary_data(d, NULL), bin));
    ck_assert(em_equal(d, b65));
    em_drop(d);
    em_drop(bin);
    em_term t = em_tuple(2, filled_binary(100, 2), int_list(1000, 9));
    bin = encoded(t);
    ck_assert_em_ok(em_etf_decode_bin(bin, NULL, NULL, &d));
    ck_assert(!points_into(em_binary_data(em_tuple_get(d, 0), NULL), bin));
    ck_assert(em_equal(d, t));
    em_drop(d);
    em_drop(bin);
    em_drop(t);
    /* Bitstrings are always copied (their last byte is masked). */
    uint8_t bits[200];
    memset(bits, 0xff, sizeof bits);
    em_term bs = em_bitstring(bits, 8 * sizeof bits - 3);
    bin = encoded(bs);
    ck_assert_em_ok(em_etf_decode_bin(bin, NULL, NULL, &d));
    ck_assert(!points_into(em_binary_data(d, NULL), bin));
    ck_assert(em_equal(d, bs));
    em_drop(d);
    em_drop(bin);
    em_drop(bs);
    em_drop(b65);
}
END_TEST

START_TEST(test_decode_bin_from_a_decoded_binary_and_with_offsets)
{
    /* Two terms back to back, the input itself a binary inside a decoded
     * term (its storage an arena). */
    em_term b1 = filled_binary(3000, 4), b2 = filled_binary(5000, 6);
    em_buf two = EM_BUF_INIT;
    ck_assert_em_ok(em_etf_encode(&two, b1, 0));
    ck_assert_em_ok(em_etf_encode(&two, b2, 0));
    em_term outer = em_tuple(1, em_binary(two.data, two.len));
    em_term outer_bin = encoded(outer), outer_d;
    ck_assert_em_ok(em_etf_decode(em_binary_data(outer_bin, NULL),
                                  (size_t)em_binary_size(outer_bin), NULL, NULL,
                                  &outer_d));
    em_term in = em_dup(em_tuple_get(outer_d, 0));
    em_drop(outer_d);
    size_t off = 0;
    em_term d1, d2, none = A("untouched");
    ck_assert_em_ok(em_etf_decode_bin(in, &off, NULL, &d1));
    ck_assert_uint_eq(off, 1 + 5 + 3000);
    ck_assert_em_ok(em_etf_decode_bin(in, &off, NULL, &d2));
    ck_assert_uint_eq(off, two.len);
    /* At the end: nothing left, *out and *off untouched. */
    em_term d3 = none;
    ck_assert_em_err(em_etf_decode_bin(in, &off, NULL, &d3), EM_ETRUNC);
    ck_assert(d3 == none && off == two.len);
    /* The whole-input form refuses trailing bytes, as em_etf_decode. */
    ck_assert_em_err(em_etf_decode_bin(in, NULL, NULL, &d3), EM_ETRAILING);
    ck_assert(points_into(em_binary_data(d1, NULL), in));
    ck_assert(points_into(em_binary_data(d2, NULL), in));
    em_drop(in);
    ck_assert(em_equal(d1, b1) && em_equal(d2, b2));
    em_drop(d1);
    em_drop(d2);
    em_buf_free(&two);
    em_drop(outer);
    em_drop(outer_bin);
    em_drop(b1);
    em_drop(b2);
}
END_TEST

START_TEST(test_decode_bin_errors)
{
    em_term d = A("untouched");
    ck_assert_em_err(em_etf_decode_bin(em_int(1), NULL, NULL, &d), EM_EINVAL);
    ck_assert_em_err(em_etf_decode_bin(EM_NONE, NULL, NULL, &d), EM_EINVAL);
    uint8_t b[2] = {131, 106};
    em_term bits = em_bitstring(b, 15);
    ck_assert_em_err(em_etf_decode_bin(bits, NULL, NULL, &d), EM_EINVAL);
    em_drop(bits);
    em_term ok = em_binary(b, 2);
    ck_assert_em_err(em_etf_decode_bin(ok, NULL, NULL, NULL), EM_EINVAL);
    ck_assert(d == A("untouched"));
    ck_assert_em_ok(em_etf_decode_bin(ok, NULL, NULL, &d));
    ck_assert(d == EM_NIL);
    em_drop(ok);
    /* Every cut of a term with a shared binary fails cleanly, and a
     * failure after the binary was laid out (a duplicate map key) leaves
     * nothing behind (ASan's leak check). */
    em_term big = filled_binary(500, 8);
    em_term t = em_tuple(2, em_dup(big), A("y"));
    em_buf e = EM_BUF_INIT;
    ck_assert_em_ok(em_etf_encode(&e, t, 0));
    for (size_t k = 0; k < e.len; k++) {
        em_term cut = em_binary(e.data, k);
        int rc = em_etf_decode_bin(cut, NULL, NULL, &d);
        ck_assert_msg(rc == EM_ETRUNC || rc == EM_ELENGTH || rc == EM_EBADVER,
                      "cut %zu: %s", k, em_err_name(rc));
        em_drop(cut);
    }
    em_buf_free(&e);
    /* #{1 => Big, 1 => x}: the map is checked after its values exist. */
    uint8_t hdr[] = {131, 116, 0, 0, 0, 2, 97, 1, 109, 0, 0, 1, 244};
    uint8_t tail[] = {97, 1, 100, 0, 1, 'x'};
    em_buf m = EM_BUF_INIT;
    ck_assert_em_ok(em_buf_append(&m, hdr, sizeof hdr));
    ck_assert_em_ok(em_buf_append(&m, em_binary_data(big, NULL), 500));
    ck_assert_em_ok(em_buf_append(&m, tail, sizeof tail));
    em_term mb = em_binary(m.data, m.len);
    ck_assert_em_err(em_etf_decode_bin(mb, NULL, NULL, &d), EM_EDUPKEY);
    em_drop(mb);
    em_buf_free(&m);
    em_drop(t);
    em_drop(big);
}
END_TEST

Suite *etf_suite(void);
Suite *etf_suite(void)
{
    Suite *s = suite_create("etf");
    TCase *enc = tcase_create("encode");
    tcase_add_test(enc, test_encode_atoms_latin1_as_otp25);
    tcase_add_test(enc, test_encode_dist_mode_writes_utf8_atom_tags);
    tcase_add_test(enc, test_encode_integers_as_otp25);
    tcase_add_test(enc, test_encode_large_big_as_otp25);
    tcase_add_test(enc, test_encode_floats_as_otp25);
    tcase_add_test(enc, test_encode_lists_and_strings_as_otp25);
    tcase_add_test(enc, test_encode_string_limit_65535);
    tcase_add_test(enc, test_encode_lists_identical_whatever_the_room);
    tcase_add_test(enc, test_encode_tuples_as_otp25);
    tcase_add_test(enc, test_encode_binaries_as_otp25);
    tcase_add_test(enc, test_encode_maps_in_exact_key_order);
    tcase_add_test(enc, test_encode_pid_message_as_otp25);
    tcase_add_test(enc, test_encode_ref_and_port_as_otp25);
    tcase_add_test(enc, test_encode_mixed_term_as_otp25);
    tcase_add_test(enc, test_encode_into_and_size_agree);
    suite_add_tcase(s, enc);

    TCase *dec = tcase_create("decode");
    tcase_add_test(dec, test_decode_otp_terms_reencode_identically);
    tcase_add_test(dec, test_decode_pid_of_local_node_is_immediate);
    tcase_add_test(dec, test_local_pid_follows_local_node);
    tcase_add_test(dec, test_decode_hash_order_map_sorts_keys);
    tcase_add_test(dec, test_decode_latin1_and_utf8_atoms);
    tcase_add_test(dec, test_decode_legacy_tags);
    tcase_add_test(dec, test_decode_odd_but_valid_forms);
    tcase_add_test(dec, test_decode_unsorted_map_matches_constructed);
    tcase_add_test(dec, test_decode_advances_offset_and_allows_no_version);
    tcase_add_test(dec, test_decode_atoms_through_the_cache);
    tcase_add_test(dec, test_decode_bin_shares_large_binaries_and_keeps_input_alive);
    tcase_add_test(dec, test_decode_bin_copies_what_would_keep_too_much_alive);
    tcase_add_test(dec, test_decode_bin_from_a_decoded_binary_and_with_offsets);
    tcase_add_test(dec, test_decode_bin_errors);
    suite_add_tcase(s, dec);

    TCase *rt = tcase_create("roundtrip");
    tcase_set_timeout(rt, 60);
    tcase_add_test(rt, test_roundtrip_every_type);
    tcase_add_test(rt, test_roundtrip_list_and_tuple_100000_deep);
    tcase_add_test(rt, test_roundtrip_large_binary_and_list);
    tcase_add_test(rt, test_deep_terms_on_a_small_process_stack);
    tcase_add_test(rt, test_depth_limit_exact_on_deep_chains);
    tcase_add_test(rt, test_long_tuples);
    suite_add_tcase(s, rt);

    TCase *err = tcase_create("errors");
    tcase_set_timeout(err, 60);
    tcase_add_test(err, test_truncated_input_at_every_prefix);
    tcase_add_test(err, test_unknown_and_refused_tags);
    tcase_add_test(err, test_bad_atoms);
    tcase_add_test(err, test_duplicate_map_keys);
    tcase_add_test(err, test_depth_limit);
    tcase_add_test(err, test_huge_length_fields);
    tcase_add_test(err, test_trailing_bytes);
    tcase_add_test(err, test_malformed_terms);
    tcase_add_test(err, test_invalid_arguments);
    suite_add_tcase(s, err);

    TCase *z = tcase_create("compressed");
    tcase_add_test(z, test_decode_compressed_from_erl);
    tcase_add_test(z, test_corrupt_compressed_rejected);
    tcase_add_test(z, test_adler32_known_value);
    suite_add_tcase(s, z);
    return s;
}

EM_TEST_MAIN(etf_suite)
