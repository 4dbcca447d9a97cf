/* test_epmd_proto.c: the EPMD codec: framing, request parsing and
 * validation (as real epmd does it), reply encoding and decoding, and
 * robustness against truncated, oversized and random input. */
#include <stdio.h>
#include <string.h>

#include "emtest.h"
#include "epmd_proto.h"

/* ALIVE2 sent by `erl -sname foo` (OTP 25.2.3), with its length prefix. */
static const uint8_t erl_alive2[] = {0x00, 0x10, 0x78, 0xa5, 0x9b, 0x4d,
                                     0x00, 0x00, 0x06, 0x00, 0x05, 0x00,
                                     0x03, 'f',  'o',  'o',  0x00, 0x00};

static size_t mk_alive2(uint8_t *out, const char *name, size_t nlen,
                        uint16_t elen_field, size_t extra_bytes)
{
    size_t i = 0;
    out[i++] = EM__EPMD_ALIVE2_REQ;
    out[i++] = 0x12, out[i++] = 0x34; /* port */
    out[i++] = 77, out[i++] = 0;
    out[i++] = 0, out[i++] = 6, out[i++] = 0, out[i++] = 5;
    out[i++] = (uint8_t)(nlen >> 8), out[i++] = (uint8_t)nlen;
    memcpy(out + i, name, nlen);
    i += nlen;
    out[i++] = (uint8_t)(elen_field >> 8), out[i++] = (uint8_t)elen_field;
    memset(out + i, 'e', extra_bytes);
    return i + extra_bytes;
}

START_TEST(test_frame_needs_header_then_body)
{
    size_t want = 99;
    ck_assert_int_eq(em__epmd_frame(erl_alive2, 0, &want), 0);
    ck_assert_int_eq(em__epmd_frame(erl_alive2, 1, &want), 0);
    ck_assert_uint_eq(want, 0);
    for (size_t n = 2; n < sizeof erl_alive2; n++) {
        ck_assert_int_eq(em__epmd_frame(erl_alive2, n, &want), 0);
        ck_assert_uint_eq(want, sizeof erl_alive2);
    }
    ck_assert_int_eq(em__epmd_frame(erl_alive2, sizeof erl_alive2, &want),
                     (int)sizeof erl_alive2);
}
END_TEST

START_TEST(test_frame_rejects_zero_length_oversize_and_excess)
{
    uint8_t b[4] = {0, 0, 'n', 0};
    ck_assert_int_eq(em__epmd_frame(b, 2, NULL), EM_EPROTO);
    /* The largest accepted Len is 3057 (epmd: Len + 2 < 3060). */
    b[0] = (uint8_t)(EM__EPMD_REQ_MAX >> 8);
    b[1] = (uint8_t)EM__EPMD_REQ_MAX;
    ck_assert_int_eq(em__epmd_frame(b, 2, NULL), 0);
    b[1]++;
    ck_assert_int_eq(em__epmd_frame(b, 2, NULL), EM_EPROTO);
    b[0] = 0xff, b[1] = 0xff;
    ck_assert_int_eq(em__epmd_frame(b, 4, NULL), EM_EPROTO);
    /* More bytes than announced. */
    b[0] = 0, b[1] = 1;
    ck_assert_int_eq(em__epmd_frame(b, 3, NULL), 3);
    ck_assert_int_eq(em__epmd_frame(b, 4, NULL), EM_EPROTO);
}
END_TEST

START_TEST(test_parse_alive2_from_real_erl)
{
    em__epmd_req r;
    ck_assert_int_eq(em__epmd_parse_req(erl_alive2 + 2, sizeof erl_alive2 - 2,
                                        &r), 0);
    ck_assert_uint_eq(r.tag, EM__EPMD_ALIVE2_REQ);
    ck_assert_uint_eq(r.port, 0xa59b);
    ck_assert_uint_eq(r.node_type, 77);
    ck_assert_uint_eq(r.protocol, 0);
    ck_assert_uint_eq(r.high, 6);
    ck_assert_uint_eq(r.low, 5);
    ck_assert_uint_eq(r.name_len, 3);
    ck_assert(memcmp(r.name, "foo", 3) == 0);
    ck_assert_uint_eq(r.extra_len, 0);
    ck_assert_int_eq(em__epmd_alive2_valid(&r), 0);
}
END_TEST

START_TEST(test_parse_alive2_every_truncation_is_malformed)
{
    uint8_t b[64];
    size_t n = mk_alive2(b, "node", 4, 3, 3);
    em__epmd_req r;
    ck_assert_int_eq(em__epmd_parse_req(b, n, &r), 0);
    ck_assert_uint_eq(r.extra_len, 3);
    for (size_t k = 0; k < n; k++)
        ck_assert_int_eq(em__epmd_parse_req(b, k, &r), EM_EPROTO);
    /* Bytes after Extra are ignored, as epmd does. */
    b[n] = 'x';
    ck_assert_int_eq(em__epmd_parse_req(b, n + 1, &r), 0);
}
END_TEST

START_TEST(test_parse_alive2_rejects_bad_lengths_and_nul)
{
    uint8_t b[64];
    em__epmd_req r;
    size_t n = mk_alive2(b, "node", 4, 0, 0);
    b[10] = 5; /* Nlen one past the name: Elen would overlap the end */
    ck_assert_int_eq(em__epmd_parse_req(b, n, &r), EM_EPROTO);
    b[10] = 200;
    ck_assert_int_eq(em__epmd_parse_req(b, n, &r), EM_EPROTO);
    n = mk_alive2(b, "node", 4, 9, 0); /* Elen beyond the body */
    ck_assert_int_eq(em__epmd_parse_req(b, n, &r), EM_EPROTO);
    n = mk_alive2(b, "no\0e", 4, 0, 0);
    ck_assert_int_eq(em__epmd_parse_req(b, n, &r), EM_EPROTO);
    n = mk_alive2(b, "", 0, 0, 1); /* 14 bytes but an empty name */
    ck_assert_int_eq(em__epmd_parse_req(b, n, &r), EM_EPROTO);
}
END_TEST

START_TEST(test_alive2_name_limits_are_255_chars_valid_utf8)
{
    static uint8_t b[EM__EPMD_INBUF];
    char name[1100];
    em__epmd_req r;
    /* 255 four-byte characters (1020 bytes) is the maximum. */
    for (int i = 0; i < 255; i++)
        memcpy(name + 4 * i, "\xf0\x9f\x98\x80", 4);
    size_t n = mk_alive2(b, name, 1020, 0, 0);
    ck_assert_int_eq(em__epmd_parse_req(b, n, &r), 0);
    ck_assert_int_eq(em__epmd_alive2_valid(&r), 0);
    memset(name, 'a', 256);
    n = mk_alive2(b, name, 256, 0, 0);
    ck_assert_int_eq(em__epmd_parse_req(b, n, &r), 0);
    ck_assert_int_eq(em__epmd_alive2_valid(&r), EM_EINVAL);
    n = mk_alive2(b, name, 255, 0, 0);
    ck_assert_int_eq(em__epmd_parse_req(b, n, &r), 0);
    ck_assert_int_eq(em__epmd_alive2_valid(&r), 0);
    n = mk_alive2(b, "a\xc0\x80", 3, 0, 0); /* overlong NUL */
    ck_assert_int_eq(em__epmd_parse_req(b, n, &r), 0);
    ck_assert_int_eq(em__epmd_alive2_valid(&r), EM_EINVAL);
    n = mk_alive2(b, "a", 1, EM_EPMD_EXTRA_MAX + 1, EM_EPMD_EXTRA_MAX + 1);
    ck_assert_int_eq(em__epmd_parse_req(b, n, &r), 0);
    ck_assert_int_eq(em__epmd_alive2_valid(&r), EM_EINVAL);
}
END_TEST

START_TEST(test_parse_port2_strips_one_trailing_nul)
{
    em__epmd_req r;
    ck_assert_int_eq(em__epmd_parse_req((const uint8_t *)"zfoo", 4, &r), 0);
    ck_assert_uint_eq(r.name_len, 3);
    ck_assert_int_eq(em__epmd_parse_req((const uint8_t *)"zfoo\0", 5, &r), 0);
    ck_assert_uint_eq(r.name_len, 3);
    ck_assert_int_eq(em__epmd_parse_req((const uint8_t *)"zfoo\0\0", 6, &r),
                     EM_EPROTO);
    ck_assert_int_eq(em__epmd_parse_req((const uint8_t *)"zf\0o", 4, &r),
                     EM_EPROTO);
    ck_assert_int_eq(em__epmd_parse_req((const uint8_t *)"z", 1, &r),
                     EM_EPROTO);
    ck_assert_int_eq(em__epmd_parse_req((const uint8_t *)"z\0", 2, &r),
                     EM_EPROTO);
    ck_assert_int_eq(em__epmd_parse_req((const uint8_t *)"z\xff", 2, &r),
                     EM_EPROTO);
    uint8_t big[1 + 256];
    big[0] = 'z';
    memset(big + 1, 'a', 256);
    ck_assert_int_eq(em__epmd_parse_req(big, sizeof big, &r), EM_EPROTO);
    ck_assert_int_eq(em__epmd_parse_req(big, sizeof big - 1, &r), 0);
}
END_TEST

START_TEST(test_parse_one_byte_requests_and_stop)
{
    em__epmd_req r;
    ck_assert_int_eq(em__epmd_parse_req((const uint8_t *)"n", 1, &r), 0);
    ck_assert_int_eq(em__epmd_parse_req((const uint8_t *)"d", 1, &r), 0);
    ck_assert_int_eq(em__epmd_parse_req((const uint8_t *)"k", 1, &r), 0);
    ck_assert_int_eq(em__epmd_parse_req((const uint8_t *)"s", 1, &r),
                     EM_EPROTO);
    ck_assert_int_eq(em__epmd_parse_req((const uint8_t *)"sab\0c", 5, &r), 0);
    ck_assert_uint_eq(r.name_len, 2);
}
END_TEST

START_TEST(test_obsolete_and_unknown_tags_are_not_supported)
{
    const char *tags = "apYAZ\x00\xff\x01v";
    em__epmd_req r;
    for (size_t i = 0; i < 9; i++) {
        uint8_t b[4] = {(uint8_t)tags[i], 'a', 'b', 'c'};
        ck_assert_int_eq(em__epmd_parse_req(b, sizeof b, &r), EM_ENOTSUP);
    }
    ck_assert_int_eq(em__epmd_parse_req((const uint8_t *)"", 0, &r),
                     EM_EPROTO);
}
END_TEST

START_TEST(test_utf8_validation_matches_epmd)
{
#define U(s) em__epmd_utf8_chars((const uint8_t *)(s), sizeof(s) - 1)
    ck_assert_int_eq(U("abc"), 3);
    ck_assert_int_eq(U("\xc3\xa9"), 1);
    ck_assert_int_eq(U("\xe2\x82\xac"), 1);
    ck_assert_int_eq(U("\xf4\x8f\xbf\xbf"), 1);    /* U+10FFFF */
    ck_assert_int_eq(U("\xf4\x90\x80\x80"), -1);   /* > U+10FFFF */
    ck_assert_int_eq(U("\xed\xa0\x80"), -1);       /* surrogate */
    ck_assert_int_eq(U("\xe0\x80\xaf"), -1);       /* overlong */
    ck_assert_int_eq(U("\xf0\x80\x80\xaf"), -1);   /* overlong */
    ck_assert_int_eq(U("\xc1\xbf"), -1);           /* overlong */
    ck_assert_int_eq(U("\x80"), -1);               /* lone continuation */
    ck_assert_int_eq(U("\xe2\x82"), -1);           /* truncated */
    ck_assert_int_eq(U("\xf8\x88\x80\x80\x80"), -1);
#undef U
}
END_TEST

START_TEST(test_replies_encode_as_otp_sends_them)
{
    uint8_t b[EM__EPMD_PORT2_RESP_MAX];
    static const uint8_t x[] = {0x76, 0x00, 0x6b, 0x05, 0x26, 0xd5};
    ck_assert_uint_eq(em__epmd_put_alive2_resp(b, 0, 0x6b0526d5, 6), 6);
    ck_assert(memcmp(b, x, 6) == 0);
    static const uint8_t y[] = {0x79, 0x01, 0x00, 0x63};
    ck_assert_uint_eq(em__epmd_put_alive2_resp(b, 1, 99, 5), 4);
    ck_assert(memcmp(b, y, 4) == 0);

    em_epmd_node_info info;
    em_epmd_node_info_init(&info, "e1", 0xa80b);
    info.node_type = 77;
    static const uint8_t w[] = {0x77, 0x00, 0xa8, 0x0b, 0x4d, 0x00, 0x00, 0x06,
                                0x00, 0x05, 0x00, 0x02, 0x65, 0x31, 0x00, 0x00};
    ck_assert_uint_eq(em__epmd_put_port2_resp(b, &info), sizeof w);
    ck_assert(memcmp(b, w, sizeof w) == 0);
    ck_assert_uint_eq(em__epmd_put_port2_resp(b, NULL), 2);
    ck_assert(b[0] == 0x77 && b[1] == 1);
}
END_TEST

START_TEST(test_alive2_request_roundtrips_through_parser)
{
    em_epmd_node_info info;
    em_epmd_node_info_init(&info, "foo", 0xa59b);
    info.node_type = 77;
    uint8_t b[64];
    ck_assert_uint_eq(em__epmd_put_alive2_req(b, sizeof b, &info),
                      sizeof erl_alive2);
    ck_assert(memcmp(b, erl_alive2, sizeof erl_alive2) == 0);
    ck_assert_uint_eq(em__epmd_put_alive2_req(b, 10, &info), 0);
}
END_TEST

START_TEST(test_reply_decoders_are_incremental)
{
    static const uint8_t w[] = {0x77, 0x00, 0xa8, 0x0b, 0x4d, 0x00, 0x00, 0x06,
                                0x00, 0x05, 0x00, 0x02, 0x65, 0x31, 0x00, 0x01,
                                0x7a};
    em_epmd_node_info info;
    int found;
    for (size_t k = 0; k < sizeof w; k++)
        ck_assert_int_eq(em__epmd_parse_port2_resp(w, k, &found, &info), 0);
    ck_assert_int_eq(em__epmd_parse_port2_resp(w, sizeof w, &found, &info),
                     (int)sizeof w);
    ck_assert_int_eq(found, 1);
    ck_assert_uint_eq(info.port, 0xa80b);
    ck_assert_str_eq(info.name, "e1");
    ck_assert_uint_eq(info.extra_len, 1);
    ck_assert_int_eq(em__epmd_parse_port2_resp((const uint8_t *)"\x77\x01", 2,
                                               &found, &info), 2);
    ck_assert_int_eq(found, 0);
    ck_assert_int_eq(em__epmd_parse_port2_resp((const uint8_t *)"x", 1,
                                               &found, &info), EM_EPROTO);

    static const uint8_t x[] = {0x76, 0x00, 0x6b, 0x05, 0x26, 0xd5, 0x00};
    int res;
    uint32_t cr;
    for (size_t k = 0; k < 6; k++)
        ck_assert_int_eq(em__epmd_parse_alive2_resp(x, k, &res, &cr), 0);
    ck_assert_int_eq(em__epmd_parse_alive2_resp(x, 6, &res, &cr), 6);
    ck_assert_int_eq(res, 0);
    ck_assert_uint_eq(cr, 0x6b0526d5);
    ck_assert_int_eq(em__epmd_parse_alive2_resp(x, 7, &res, &cr), EM_EPROTO);
    ck_assert_int_eq(em__epmd_parse_alive2_resp((const uint8_t *)"y\0\0\3", 4,
                                                &res, &cr), 4);
    ck_assert_uint_eq(cr, 3);
}
END_TEST

START_TEST(test_names_lines_parse_and_garbage_is_skipped)
{
    const char *nm;
    size_t nl;
    uint16_t port;
    const char *l = "name foo at port 42395";
    ck_assert_int_eq(em__epmd_parse_names_line(l, strlen(l), &nm, &nl, &port),
                     0);
    ck_assert_uint_eq(nl, 3);
    ck_assert(memcmp(nm, "foo", 3) == 0);
    ck_assert_uint_eq(port, 42395);
    const char *bad[] = {"name foo at port", "name  at port 1", "nam foo at port 1",
                         "name foo at port 99999", "name foo at port 1x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(em__epmd_parse_names_line(bad[i], strlen(bad[i]), &nm,
                                                   &nl, &port), EM_EPROTO);
}
END_TEST

START_TEST(test_random_input_never_breaks_the_parser)
{
    /* A deterministic generator, so a failure can be replayed. */
    uint32_t x = 0x12345678;
    static uint8_t b[EM__EPMD_INBUF];
    for (int iter = 0; iter < 200000; iter++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        size_t len = x % 64;
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            b[i] = (uint8_t)x;
        }
        if (len > 0 && (iter & 3) == 0)
            b[0] = "xznsdk"[iter % 6];
        em__epmd_req r;
        size_t want;
        (void)em__epmd_frame(b, len, &want);
        if (em__epmd_parse_req(b, len, &r) == 0) {
            ck_assert(r.name_len <= len);
            if (r.name_len)
                ck_assert(r.name >= b && r.name + r.name_len <= b + len);
            if (r.extra_len)
                ck_assert(r.extra >= b && r.extra + r.extra_len <= b + len);
        }
        em_epmd_node_info info;
        int found, res;
        uint32_t cr;
        (void)em__epmd_parse_port2_resp(b, len, &found, &info);
        (void)em__epmd_parse_alive2_resp(b, len, &res, &cr);
    }
}
END_TEST

static Suite *epmd_proto_suite(void)
{
    Suite *s = suite_create("epmd_proto");
    TCase *t = tcase_create("codec");
    tcase_add_test(t, test_frame_needs_header_then_body);
    tcase_add_test(t, test_frame_rejects_zero_length_oversize_and_excess);
    tcase_add_test(t, test_parse_alive2_from_real_erl);
    tcase_add_test(t, test_parse_alive2_every_truncation_is_malformed);
    tcase_add_test(t, test_parse_alive2_rejects_bad_lengths_and_nul);
    tcase_add_test(t, test_alive2_name_limits_are_255_chars_valid_utf8);
    tcase_add_test(t, test_parse_port2_strips_one_trailing_nul);
    tcase_add_test(t, test_parse_one_byte_requests_and_stop);
    tcase_add_test(t, test_obsolete_and_unknown_tags_are_not_supported);
    tcase_add_test(t, test_utf8_validation_matches_epmd);
    tcase_add_test(t, test_replies_encode_as_otp_sends_them);
    tcase_add_test(t, test_alive2_request_roundtrips_through_parser);
    tcase_add_test(t, test_reply_decoders_are_incremental);
    tcase_add_test(t, test_names_lines_parse_and_garbage_is_skipped);
    tcase_add_test(t, test_random_input_never_breaks_the_parser);
    tcase_set_timeout(t, 30);
    suite_add_tcase(s, t);
    return s;
}

EM_TEST_MAIN(epmd_proto_suite)
