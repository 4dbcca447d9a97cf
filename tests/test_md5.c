/* test_md5.c: MD5 (RFC 1321 test suite) and the handshake digest
 * (vectors verified with erlang:md5 on OTP 25.2.3). */
#include <stdio.h>
#include <string.h>

#include "dist_int.h"
#include "emtest.h"
#include "md5.h"

static void hex(const uint8_t d[16], char out[33])
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check(const char *in, const char *want)
{
    uint8_t d[16];
    char h[33];
    em__md5_sum(in, strlen(in), d);
    hex(d, h);
    ck_assert_str_eq(h, want);
}

START_TEST(rfc1321)
{
    check("", "d41d8cd98f00b204e9800998ecf8427e");
    check("a", "0cc175b9c0f1b6a831c399e269772661");
    check("abc", "900150983cd24fb0d6963f7d28e17f72");
    check("message digest", "f96b697d7cb7938d525a2f31aaf161d0");
    check("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b");
    check("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
          "d174ab98d277d9f5a5611c2c9f419d9f");
    check("12345678901234567890123456789012345678901234567890123456789012345678901234567890",
          "57edf4a22be3c955ac49da2e2107b67a");
}
END_TEST

START_TEST(incremental)
{
    /* Every split of a 200-byte input gives the one-shot digest. */
    uint8_t buf[200], one[16], two[16];
    for (int i = 0; i < 200; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    em__md5_sum(buf, sizeof buf, one);
    for (size_t cut = 0; cut <= sizeof buf; cut++) {
        em__md5 c;
        em__md5_init(&c);
        em__md5_update(&c, buf, cut);
        em__md5_update(&c, buf + cut, sizeof buf - cut);
        em__md5_final(&c, two);
        ck_assert(memcmp(one, two, 16) == 0);
    }
}
END_TEST

START_TEST(digest_vectors)
{
    struct {
        const char *cookie;
        uint32_t ch;
        const char *want;
    } v[] = {{"abc", 3141592653u, "5272af57d3bb088f796b8976c093c53b"},
             {"abc", 0, "577571be4de9dcce85a041ba0410f29f"},
             {"secretcookie", 4294967295u, "fbf4996d1d673d18152a8d6477996cb1"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t d[16];
        char h[33];
        em__dist_digest(v[i].cookie, v[i].ch, d);
        hex(d, h);
        ck_assert_str_eq(h, v[i].want);
    }
}
END_TEST

START_TEST(ct_equal)
{
    uint8_t a[16] = {1, 2, 3}, b[16] = {1, 2, 3};
    ck_assert(em__ct_equal(a, b, 16));
    b[15] = 1;
    ck_assert(!em__ct_equal(a, b, 16));
}
END_TEST

static Suite *md5_suite(void)
{
    Suite *s = suite_create("md5");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, rfc1321);
    tcase_add_test(tc, incremental);
    tcase_add_test(tc, digest_vectors);
    tcase_add_test(tc, ct_equal);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(md5_suite)
