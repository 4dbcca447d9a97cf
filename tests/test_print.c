/* test_print.c: em_print (~p / ~w) and em_format.  Every expected string
 * was produced by OTP 25: io_lib:format("~p", [T]) and "~w". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "term_int.h"
#include "emtest.h"

/* Check both modes of a term given as a constructed term (consumed). */
static void check_pw(em_term t, const char *p, const char *w)
{
    ck_assert_msg(t != EM_NONE, "term construction failed");
    char *sp = em_print_alloc(t, EM_PRINT_P);
    char *sw = em_print_alloc(t, EM_PRINT_W);
    ck_assert_ptr_nonnull(sp);
    ck_assert_ptr_nonnull(sw);
    ck_assert_str_eq(sp, p);
    ck_assert_str_eq(sw, w);
    free(sp);
    free(sw);
    em_drop(t);
}

/* The same for a term written in Erlang syntax. */
static void check_text(const char *text, const char *p, const char *w)
{
    em_term t = em_parse(text);
    ck_assert_msg(t != EM_NONE, "could not parse %s", text);
    check_pw(t, p, w);
}

START_TEST(atoms_are_quoted_only_when_needed)
{
    check_pw(em_atom("ok"), "ok", "ok");
    check_pw(em_atom("aBc"), "aBc", "aBc");
    check_pw(em_atom("a@b"), "a@b", "a@b");
    check_pw(em_atom("a_B9"), "a_B9", "a_B9");
    check_pw(em_atom("Abc"), "'Abc'", "'Abc'");
    check_pw(em_atom("_a"), "'_a'", "'_a'");
    check_pw(em_atom("_"), "'_'", "'_'");
    check_pw(em_atom(""), "''", "''");
    check_pw(em_atom("a.b"), "'a.b'", "'a.b'");
    check_pw(em_atom("a b"), "'a b'", "'a b'");
    check_pw(em_atom("node@host.com"), "'node@host.com'", "'node@host.com'");
    check_pw(em_atom("a-b"), "'a-b'", "'a-b'");
    check_pw(em_atom("1a"), "'1a'", "'1a'");
}
END_TEST

START_TEST(reserved_words_are_quoted)
{
    static const char *const rw[] = {
        "after", "and", "andalso", "band", "begin", "bnot", "bor", "bsl", "bsr",
        "bxor", "case", "catch", "cond", "div", "end", "fun", "if", "let", "not",
        "of", "or", "orelse", "receive", "rem", "try", "when", "xor"};
    for (size_t i = 0; i < sizeof rw / sizeof rw[0]; i++) {
        char want[32];
        snprintf(want, sizeof want, "'%s'", rw[i]);
        check_pw(em_atom(rw[i]), want, want);
    }
    /* not reserved in OTP 25 (maybe/else only with the maybe feature) */
    check_pw(em_atom("maybe"), "maybe", "maybe");
    check_pw(em_atom("else"), "else", "else");
    check_pw(em_atom("query"), "query", "query");
    check_pw(em_atom("spec"), "spec", "spec");
}
END_TEST

START_TEST(atom_escapes_match_io_lib)
{
    check_pw(em_atom("\n"), "'\\n'", "'\\n'");
    check_pw(em_atom("a\tb"), "'a\\tb'", "'a\\tb'");
    check_pw(em_atom("a'b"), "'a\\'b'", "'a\\'b'");
    check_pw(em_atom("a\"b"), "'a\"b'", "'a\"b'");
    check_pw(em_atom("a\\b"), "'a\\\\b'", "'a\\\\b'");
    check_pw(em_atom("\r\v\b\f\x1b\x7f"), "'\\r\\v\\b\\f\\e\\d'", "'\\r\\v\\b\\f\\e\\d'");
    /* other control characters in three-digit octal */
    em_term a;
    ck_assert_em_ok(em_atom_new("\0", 1, &a));
    check_pw(a, "'\\000'", "'\\000'");
    check_pw(em_atom("\x01\x1f\x07"), "'\\001\\037\\007'", "'\\001\\037\\007'");
    check_pw(em_atom("\xc2\x80" "a"), "'\\200a'", "'\\200a'");
    check_pw(em_atom("\xc2\x9f"), "'\\237'", "'\\237'");
}
END_TEST

START_TEST(latin1_atoms_print_as_characters)
{
    /* 'é' and 'ÿ' start unquoted atoms; 'À' (upper case) needs quotes,
     * U+00A0 is printed as itself inside quotes */
    check_pw(em_atom("\xc3\xa9"), "\xc3\xa9", "\xc3\xa9");
    check_pw(em_atom("a\xc3\xbf"), "a\xc3\xbf", "a\xc3\xbf");
    check_pw(em_atom("\xc3\x9f"), "\xc3\x9f", "\xc3\x9f");
    check_pw(em_atom("a\xc3\x80"), "a\xc3\x80", "a\xc3\x80");
    check_pw(em_atom("\xc3\x80" "B"), "'\xc3\x80" "B'", "'\xc3\x80" "B'");
    check_pw(em_atom("a\xc3\xb7"), "'a\xc3\xb7'", "'a\xc3\xb7'");   /* a÷ */
    check_pw(em_atom("a\xc3\x97"), "'a\xc3\x97'", "'a\xc3\x97'");   /* a× */
    check_pw(em_atom("\xc2\xa0" "b"), "'\xc2\xa0" "b'", "'\xc2\xa0" "b'");
}
END_TEST

START_TEST(unicode_atoms_use_hex_escapes)
{
    check_pw(em_atom("\xce\xa9"), "'\\x{3A9}'", "'\\x{3A9}'");           /* Ω */
    check_pw(em_atom("a\xce\xa9"), "'a\\x{3A9}'", "'a\\x{3A9}'");
    check_pw(em_atom("\xc4\x80"), "'\\x{100}'", "'\\x{100}'");
    check_pw(em_atom("\xef\xbf\xbd"), "'\\x{FFFD}'", "'\\x{FFFD}'");
    check_pw(em_atom("a\xf0\x9f\x98\x80"), "'a\\x{1F600}'", "'a\\x{1F600}'");
    check_pw(em_atom("\xf4\x8f\xbf\xbf"), "'\\x{10FFFF}'", "'\\x{10FFFF}'");
}
END_TEST

START_TEST(printable_lists_print_as_strings_with_p_only)
{
    check_text("\"abc\"", "\"abc\"", "[97,98,99]");
    check_text("\"\\n\"", "\"\\n\"", "[10]");
    check_text("\"abc\\t\\\"\\\\'\"", "\"abc\\t\\\"\\\\'\"", "[97,98,99,9,34,92,39]");
    check_text("\" \"", "\" \"", "[32]");
    check_text("\"\\e\\v\\f\\b\\r\"", "\"\\e\\v\\f\\b\\r\"", "[27,11,12,8,13]");
    check_text("[160,255]", "\"\xc2\xa0\xc3\xbf\"", "[160,255]");
    check_text("[$a|\"bc\"]", "\"abc\"", "[97,98,99]");
    check_text("[\"ab\",\"cd\"]", "[\"ab\",\"cd\"]", "[[97,98],[99,100]]");
    check_text("[{a,\"abc\"},<<\"x\">>]", "[{a,\"abc\"},<<\"x\">>]", "[{a,[97,98,99]},<<120>>]");
}
END_TEST

START_TEST(non_printable_lists_print_as_integers)
{
    check_text("[1,2,3]", "[1,2,3]", "[1,2,3]");
    check_text("[7]", "[7]", "[7]");             /* \a is not printable */
    check_text("[127]", "[127]", "[127]");
    check_text("[128,160,255]", "[128,160,255]", "[128,160,255]");
    check_text("[159]", "[159]", "[159]");
    check_text("[256]", "[256]", "[256]");
    check_text("[937,120]", "[937,120]", "[937,120]");  /* "Ωx": not Latin-1 */
    check_text("[0]", "[0]", "[0]");
    check_text("[10,1]", "[10,1]", "[10,1]");
    check_text("[-1]", "[-1]", "[-1]");
    check_text("\"abcdefghijklmnopqrstuvwxyz\\x{1}\"",
               "[97,98,99,100,101,102,103,104,105,106,107,108,109,110,111,112,113,"
               "114,115,116,117,118,119,120,121,122,1]",
               "[97,98,99,100,101,102,103,104,105,106,107,108,109,110,111,112,113,"
               "114,115,116,117,118,119,120,121,122,1]");
}
END_TEST

START_TEST(empty_and_improper_lists)
{
    check_pw(EM_NIL, "[]", "[]");
    check_text("\"\"", "[]", "[]");
    check_text("[[]]", "[[]]", "[[]]");
    check_text("[\"\"]", "[[]]", "[[]]");
    check_text("[1|2]", "[1|2]", "[1|2]");
    check_text("[$a|b]", "[97|b]", "[97|b]");
    check_text("[$a,$b|c]", "[97,98|c]", "[97,98|c]");
    check_text("[a,b|<<\"c\">>]", "[a,b|<<\"c\">>]", "[a,b|<<99>>]");
    check_text("[a|[b|[c|d]]]", "[a,b,c|d]", "[a,b,c|d]");
}
END_TEST

START_TEST(tuples_have_no_spaces)
{
    check_text("{}", "{}", "{}");
    check_text("{a, b}", "{a,b}", "{a,b}");
    check_text("{ {a}, [b, {}], -1 }", "{{a},[b,{}],-1}", "{{a},[b,{}],-1}");
    check_text("{{{{}}}}", "{{{{}}}}", "{{{{}}}}");
}
END_TEST

START_TEST(binaries_print_as_strings_with_p_when_printable)
{
    check_text("<<>>", "<<>>", "<<>>");
    check_text("<<\"abc\">>", "<<\"abc\">>", "<<97,98,99>>");
    check_text("<<\"a\">>", "<<\"a\">>", "<<97>>");
    check_text("<<\"ab\\n\">>", "<<\"ab\\n\">>", "<<97,98,10>>");
    check_text("<<\"\\e\\b\\v\\f\\r\\n\\t\">>", "<<\"\\e\\b\\v\\f\\r\\n\\t\">>",
               "<<27,8,11,12,13,10,9>>");
    check_text("<<\"\\\"\\\\'\">>", "<<\"\\\"\\\\'\">>", "<<34,92,39>>");
    /* Latin-1 bytes print as characters (UTF-8 bytes are two of them) */
    check_text("<<233>>", "<<\"\xc3\xa9\">>", "<<233>>");
    check_text("<<206,169>>", "<<\"\xc3\x8e\xc2\xa9\">>", "<<206,169>>");
}
END_TEST

START_TEST(non_printable_binaries_and_bitstrings)
{
    check_text("<<1,2,3>>", "<<1,2,3>>", "<<1,2,3>>");
    check_text("<<7>>", "<<7>>", "<<7>>");
    check_text("<<127>>", "<<127>>", "<<127>>");
    check_text("<<0>>", "<<0>>", "<<0>>");
    check_text("<<\"a\",0>>", "<<97,0>>", "<<97,0>>");
    check_text("<<255,128>>", "<<255,128>>", "<<255,128>>");
    check_text("<<133>>", "<<133>>", "<<133>>");
    check_text("<<1:3>>", "<<1:3>>", "<<1:3>>");
    check_text("<<1:1>>", "<<1:1>>", "<<1:1>>");
    check_text("<<1,2:3>>", "<<1,2:3>>", "<<1,2:3>>");
    check_text("<<\"abc\",1:1>>", "<<97,98,99,1:1>>", "<<97,98,99,1:1>>");
    check_text("<<\"abc\",10:4>>", "<<97,98,99,10:4>>", "<<97,98,99,10:4>>");
    uint8_t bits[] = {0xc3, 0x8b, 0x1e, 0x4c, 0xb9, 0xb3, 0x80};
    check_pw(em_bitstring(bits, 49), "<<195,139,30,76,185,179,1:1>>",
             "<<195,139,30,76,185,179,1:1>>");
}
END_TEST

START_TEST(maps_print_in_key_order)
{
    check_text("#{}", "#{}", "#{}");
    check_text("#{b => 1, a => 2}", "#{a => 2,b => 1}", "#{a => 2,b => 1}");
    /* integers before floats, then term order */
    check_text("#{2 => a, 1.0 => b}", "#{2 => a,1.0 => b}", "#{2 => a,1.0 => b}");
    check_text("#{1.0 => a, 2 => b, -1 => c, foo => d, {} => e, [] => f, \"a\" => g}",
               "#{-1 => c,2 => b,1.0 => a,foo => d,{} => e,[] => f,\"a\" => g}",
               "#{-1 => c,2 => b,1.0 => a,foo => d,{} => e,[] => f,[97] => g}");
    check_text("#{\"a\" => <<\"b\">>, [1] => [2]}", "#{[1] => [2],\"a\" => <<\"b\">>}",
               "#{[1] => [2],[97] => <<98>>}");
    check_text("#{a => #{b => {}}}", "#{a => #{b => {}}}", "#{a => #{b => {}}}");
}
END_TEST

START_TEST(integers_small_and_big)
{
    check_pw(em_int(0), "0", "0");
    check_pw(em_int(-5), "-5", "-5");
    check_pw(em_int(INT64_MAX), "9223372036854775807", "9223372036854775807");
    check_pw(em_int(INT64_MIN), "-9223372036854775808", "-9223372036854775808");
    check_pw(em_uint(UINT64_MAX), "18446744073709551615", "18446744073709551615");
    check_text("123456789012345678901234567890", "123456789012345678901234567890",
               "123456789012345678901234567890");
    check_text("-123456789012345678901234567890", "-123456789012345678901234567890",
               "-123456789012345678901234567890");
}
END_TEST

static void check_float(double v, const char *want)
{
    check_pw(em_float(v), want, want);
}

START_TEST(floats_use_shortest_round_trip_digits)
{
    check_float(0.0, "0.0");
    check_float(-0.0, "-0.0");
    check_float(1.0, "1.0");
    check_float(-1.5, "-1.5");
    check_float(0.1, "0.1");
    check_float(0.1 + 0.2, "0.30000000000000004");
    check_float(2.0 / 3.0, "0.6666666666666666");
    check_float(123.456, "123.456");
    check_float(4.35, "4.35");
    check_float(5e-324, "5.0e-324");
    check_float(1.7976931348623157e308, "1.7976931348623157e308");
    check_float(2.2250738585072014e-308, "2.2250738585072014e-308");
    check_float(1e308, "1.0e308");
}
END_TEST

START_TEST(floats_choose_fixed_or_scientific_like_fwrite_g)
{
    check_float(100.0, "100.0");
    check_float(500.0, "500.0");
    check_float(1e3, "1.0e3");
    check_float(5000.0, "5.0e3");
    check_float(1230.0, "1230.0");
    check_float(1250.0, "1250.0");
    check_float(1.2e3, "1.2e3");
    check_float(2.5e4, "2.5e4");
    check_float(1e10, "1.0e10");
    check_float(123456789.0, "123456789.0");
    check_float(123456789012.0, "123456789012.0");
    check_float(1e15, "1.0e15");
    check_float(1e16, "1.0e16");
    check_float(1e100, "1.0e100");
    check_float(0.01, "0.01");
    check_float(0.0012, "0.0012");
    check_float(0.0015, "0.0015");
    check_float(0.0001, "0.0001");
    check_float(1.2e-4, "1.2e-4");
    check_float(1.234e-4, "1.234e-4");
    check_float(1e-5, "1.0e-5");
    check_float(3e-10, "3.0e-10");
    /* from 2^53 up always scientific */
    check_float(9007199254740991.0, "9007199254740991.0");
    check_float(9007199254740990.0, "9007199254740990.0");
    check_float(9007199254740992.0, "9.007199254740992e15");
    check_float(12345678901234567.0, "1.2345678901234568e16");
    check_float(4503599627370496.0, "4503599627370496.0");
    check_float(1234567890123456.0, "1234567890123456.0");
}
END_TEST

START_TEST(local_pids_ports_and_refs)
{
    uint32_t cr;
    em_term node = em_local_node(&cr);
    check_pw(em_pid(node, 9, 0, cr), "<0.9.0>", "<0.9.0>");
    check_pw(em_pid(node, 85, 7, cr), "<0.85.7>", "<0.85.7>");
    check_pw(em_port(node, 5, cr), "#Port<0.5>", "#Port<0.5>");
    uint32_t w3[] = {176360, 306970625, 114865344};
    check_pw(em_ref(node, cr, w3, 3), "#Ref<0.114865344.306970625.176360>",
             "#Ref<0.114865344.306970625.176360>");
    /* local references are padded to three words */
    uint32_t w1[] = {1};
    check_pw(em_ref(node, cr, w1, 1), "#Ref<0.0.0.1>", "#Ref<0.0.0.1>");
}
END_TEST

START_TEST(remote_identifiers_print_the_node_atom_index_plus_one)
{
    em_term node = em_atom("foo@bar");
    char n[16], want[64];
    snprintf(n, sizeof n, "%u", (unsigned)(em__atom_ix(node) + 1));
    snprintf(want, sizeof want, "<%s.85.7>", n);
    check_pw(em_pid(node, 85, 7, 1), want, want);
    snprintf(want, sizeof want, "#Port<%s.4294967301>", n);
    check_pw(em_port(node, 4294967301u, 1), want, want);
    uint32_t w[] = {1, 2, 3, 4};
    snprintf(want, sizeof want, "#Ref<%s.4.3.2.1>", n);
    check_pw(em_ref(node, 1, w, 4), want, want);
    snprintf(want, sizeof want, "#Ref<%s.1>", n); /* remote: no padding */
    check_pw(em_ref(node, 1, w, 1), want, want);
}
END_TEST

static em_term make_fun(const uint8_t *b, size_t n)
{
    em__fun *f = em__box_alloc(sizeof *f + n, EM__K_FUN);
    ck_assert_ptr_nonnull(f);
    f->len = n;
    memcpy(f->b, b, n);
    return em__box_term(f);
}

START_TEST(funs_print_as_erts_writes_them)
{
    /* term_to_binary(fun erlang:node/0) without the version byte */
    static const uint8_t exp[] = {113, 100, 0, 6, 101, 114, 108, 97, 110, 103, 100, 0, 4,
                                  110, 111, 100, 101, 97, 0};
    check_pw(make_fun(exp, sizeof exp), "fun erlang:node/0", "fun erlang:node/0");
    /* fun 'a b':'C'/3 */
    static const uint8_t exp2[] = {113, 119, 3, 'a', ' ', 'b', 119, 1, 'C', 97, 3};
    check_pw(make_fun(exp2, sizeof exp2), "fun 'a b':'C'/3", "fun 'a b':'C'/3");
    /* a closure of module 'my mod' (OTP prints #Fun<my mod.0.21266685>) */
    static const uint8_t clo[] = {
        112, 0, 0, 0, 76, 1, 40, 144, 31, 179, 66, 230, 81, 122, 222, 68, 196, 70, 145,
        140, 236, 137, 0, 0, 0, 0, 0, 0, 0, 1, 100, 0, 6, 109, 121, 32, 109, 111, 100,
        97, 0, 98, 1, 68, 128, 253, 88, 100, 0, 13, 110, 111, 110, 111, 100, 101, 64,
        110, 111, 104, 111, 115, 116, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 97, 1};
    check_pw(make_fun(clo, sizeof clo), "#Fun<my mod.0.21266685>", "#Fun<my mod.0.21266685>");
}
END_TEST

START_TEST(nested_mixed_term)
{
    check_text("{a,\"abc\",[1,2|3],<<\"ab\">>,<<1:3>>,1.5,-0.0,16#ff,$a,#{b=>1,a=>2},'hello world'}",
               "{a,\"abc\",[1,2|3],<<\"ab\">>,<<1:3>>,1.5,-0.0,255,97,#{a => 2,b => 1},'hello world'}",
               "{a,[97,98,99],[1,2|3],<<97,98>>,<<1:3>>,1.5,-0.0,255,97,#{a => 2,b => 1},'hello world'}");
}
END_TEST

START_TEST(deep_nesting_prints_without_recursion)
{
    enum { D = 100000 };
    em_term t = EM_NIL;
    for (int i = 0; i < D; i++)
        t = em_list(1, t);
    ck_assert(t != EM_NONE);
    char *s = em_print_alloc(t, EM_PRINT_P);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(strlen(s), 2 * D + 2);
    for (int i = 0; i <= D; i++)
        ck_assert(s[i] == '[' && s[2 * D + 1 - i] == ']');
    free(s);
    em_drop(t);
    t = em_atom("x");
    for (int i = 0; i < D; i++)
        t = em_tuple(1, t);
    s = em_print_alloc(t, EM_PRINT_W);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(strlen(s), 2 * D + 1);
    ck_assert(s[0] == '{' && s[D] == 'x' && s[2 * D] == '}');
    free(s);
    em_drop(t);
}
END_TEST

START_TEST(print_into_fixed_buffer_truncates_like_snprintf)
{
    em_term t = em_parse("{hello,world}");
    char buf[8];
    ck_assert_int_eq(em_print(buf, sizeof buf, t, EM_PRINT_P), 13);
    ck_assert_str_eq(buf, "{hello,");
    ck_assert_int_eq(em_print(NULL, 0, t, EM_PRINT_P), 13);
    char big[32];
    ck_assert_int_eq(em_print(big, sizeof big, t, EM_PRINT_W), 13);
    ck_assert_str_eq(big, "{hello,world}");
    ck_assert_int_eq(em_print(big, 1, t, EM_PRINT_W), 13);
    ck_assert_str_eq(big, "");
    ck_assert_em_err(em_print(big, sizeof big, EM_NONE, EM_PRINT_P), EM_EINVAL);
    ck_assert_em_err(em_print(big, sizeof big, t, 7), EM_EINVAL);
    em_drop(t);
}
END_TEST

START_TEST(print_buf_appends)
{
    em_buf b = EM_BUF_INIT;
    ck_assert_em_ok(em_buf_append(&b, "x=", 2));
    em_term t = em_parse("[1,2]");
    ck_assert_em_ok(em_print_buf(&b, t, EM_PRINT_P));
    ck_assert_uint_eq(b.len, 7);
    ck_assert(memcmp(b.data, "x=[1,2]", 7) == 0);
    em_drop(t);
    em_buf_free(&b);
}
END_TEST

START_TEST(format_directives)
{
    em_buf b = EM_BUF_INIT;
    em_term s = em_string("hi");
    em_term a = em_atom("Ab");
    ck_assert_em_ok(em_format(&b, "p=~p w=~w s=~s~n~~ end", s, s, "txt"));
    ck_assert_em_ok(em_format(&b, "[~p]", a));
    ck_assert_em_ok(em_buf_append(&b, "", 1));
    ck_assert_str_eq((char *)b.data, "p=\"hi\" w=[104,105] s=txt\n~ end['Ab']");
    size_t len = b.len;
    ck_assert_em_err(em_format(&b, "bad ~x", s), EM_EINVAL);
    ck_assert_em_err(em_format(&b, "trailing ~"), EM_EINVAL);
    ck_assert_uint_eq(b.len, len); /* failed calls leave the buffer alone */
    em_drop(s);
    em_buf_free(&b);
}
END_TEST

START_TEST(fprintf_writes_and_flushes)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    em_term t = em_parse("{ok,<<\"x\">>}");
    ck_assert_em_ok(em_fprintf(f, "got ~p~n", t));
    rewind(f);
    char line[64];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "got {ok,<<\"x\">>}\n");
    fclose(f);
    em_drop(t);
}
END_TEST

/* em__print_head, for log lines of terms from other nodes: a term that
 * fits is printed whole; one that does not is cut with "...", and only
 * its head is printed: a 16 MiB integer (its decimal digits cost its size
 * squared: hours) comes back at once. */
START_TEST(a_head_prints_what_fits_and_no_more)
{
    char buf[40];
    em_term t = em_parse("{ok, [1, 2, 3]}");
    ck_assert_uint_eq(em__print_head(buf, sizeof buf, t, EM_PRINT_W), strlen("{ok,[1,2,3]}"));
    ck_assert_str_eq(buf, "{ok,[1,2,3]}");
    em_drop(t);
    t = em_parse("[aaaaaaaaaa, bbbbbbbbbb, cccccccccc, dddddddddd]");
    size_t n = em__print_head(buf, sizeof buf, t, EM_PRINT_W);
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert_uint_lt(n, sizeof buf);
    ck_assert(strncmp(buf, "[aaaaaaaaaa,bbbbbbbbbb,", 23) == 0);
    ck_assert_str_eq(buf + n - 3, "...");
    em_drop(t);
    size_t big = (size_t)16 << 20;
    uint8_t *le = malloc(big);
    ck_assert_ptr_nonnull(le);
    memset(le, 0x5a, big);
    em_term b = em_bigint(false, le, big);
    free(le);
    ck_assert(b != EM_NONE);
    t = em_tuple(2, em_atom("n"), b);
    n = em__print_head(buf, sizeof buf, t, EM_PRINT_W);
    ck_assert_str_eq(buf, "{n,...");
    em_drop(t);
}
END_TEST

static Suite *print_suite(void)
{
    Suite *s = suite_create("print");
    TCase *tc = tcase_create("print");
    tcase_add_test(tc, atoms_are_quoted_only_when_needed);
    tcase_add_test(tc, reserved_words_are_quoted);
    tcase_add_test(tc, atom_escapes_match_io_lib);
    tcase_add_test(tc, latin1_atoms_print_as_characters);
    tcase_add_test(tc, unicode_atoms_use_hex_escapes);
    tcase_add_test(tc, printable_lists_print_as_strings_with_p_only);
    tcase_add_test(tc, non_printable_lists_print_as_integers);
    tcase_add_test(tc, empty_and_improper_lists);
    tcase_add_test(tc, tuples_have_no_spaces);
    tcase_add_test(tc, binaries_print_as_strings_with_p_when_printable);
    tcase_add_test(tc, non_printable_binaries_and_bitstrings);
    tcase_add_test(tc, maps_print_in_key_order);
    tcase_add_test(tc, integers_small_and_big);
    tcase_add_test(tc, floats_use_shortest_round_trip_digits);
    tcase_add_test(tc, floats_choose_fixed_or_scientific_like_fwrite_g);
    tcase_add_test(tc, local_pids_ports_and_refs);
    tcase_add_test(tc, remote_identifiers_print_the_node_atom_index_plus_one);
    tcase_add_test(tc, funs_print_as_erts_writes_them);
    tcase_add_test(tc, nested_mixed_term);
    tcase_add_test(tc, deep_nesting_prints_without_recursion);
    tcase_add_test(tc, print_into_fixed_buffer_truncates_like_snprintf);
    tcase_add_test(tc, print_buf_appends);
    tcase_add_test(tc, format_directives);
    tcase_add_test(tc, fprintf_writes_and_flushes);
    tcase_add_test(tc, a_head_prints_what_fits_and_no_more);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(print_suite)
