/* test_parse.c: em_parse_term / em_parse.  What is accepted, and the value
 * it gives, follows erl_scan + erl_parse:parse_term in OTP 25 (checked with
 * erl); printing back uses ~w, itself checked against OTP. */
#include <string.h>

#include "emtest.h"

/* Parse text and compare its ~w form with want. */
static void check_w(const char *text, const char *want)
{
    em_parse_error e;
    em_term t;
    int rc = em_parse_term(text, strlen(text), &t, &e);
    ck_assert_msg(rc == 0, "parse of %s failed: %s at %d:%d", text, e.reason, e.line, e.column);
    char *s = em_print_alloc(t, EM_PRINT_W);
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strcmp(s, want) == 0, "%s parsed as %s, want %s", text, s, want);
    free(s);
    em_drop(t);
}

/* Parse text and compare with a constructed term (consumed) by =:=. */
static void check_eq(const char *text, em_term want)
{
    em_term t = em_parse(text);
    ck_assert_msg(t != EM_NONE, "parse of %s failed", text);
    ck_assert_msg(em_equal(t, want), "%s: not the expected term", text);
    em_drop(t);
    em_drop(want);
}

/* Parsing text fails with ESYNTAX at line:col. */
static void check_err(const char *text, int line, int col)
{
    em_parse_error e;
    memset(&e, 0, sizeof e);
    em_term t = 12345;
    int rc = em_parse_term(text, strlen(text), &t, &e);
    ck_assert_msg(rc == EM_ESYNTAX, "%s: expected ESYNTAX, got %d", text, rc);
    ck_assert(t == EM_NONE);
    ck_assert_msg(e.line == line && e.column == col, "%s: error at %d:%d (%s), want %d:%d",
                  text, e.line, e.column, e.reason, line, col);
    ck_assert_msg(e.reason[0] != '\0', "%s: empty reason", text);
    ck_assert(e.offset <= strlen(text));
}

START_TEST(atoms_bare_and_quoted)
{
    check_eq("ok", em_atom("ok"));
    check_eq("aBc@d_9", em_atom("aBc@d_9"));
    check_eq("'Hello world'", em_atom("Hello world"));
    check_eq("''", em_atom(""));
    check_eq("'case'", em_atom("case"));
    check_eq("\xc3\xa9t\xc3\xa9", em_atom("\xc3\xa9t\xc3\xa9")); /* été: Latin-1 letters */
    check_eq("'\xce\xa9'", em_atom("\xce\xa9"));
    check_eq("'\\x{3A9}'", em_atom("\xce\xa9"));
    check_eq("'a\\'b\\\\c\\n'", em_atom("a'b\\c\n"));
}
END_TEST

START_TEST(reserved_words_need_quotes)
{
    check_err("case", 1, 1);
    check_err("{a, end}", 1, 5);
    check_w("'end'", "'end'");
    check_w("maybe", "maybe"); /* not reserved in OTP 25 */
}
END_TEST

START_TEST(integers_in_all_notations)
{
    check_eq("42", em_int(42));
    check_eq("-42", em_int(-42));
    check_eq("- 42", em_int(-42));
    check_eq("+7", em_int(7));
    check_eq("00012", em_int(12));
    check_eq("1_000_000", em_int(1000000));
    check_eq("16#ff", em_int(255));
    check_eq("16#FF_FF", em_int(65535));
    check_eq("-16#ff", em_int(-255));
    check_eq("2#1010", em_int(10));
    check_eq("36#zZ", em_int(35 * 36 + 35));
    check_eq("$a", em_int('a'));
    check_eq("$\\n", em_int('\n'));
    check_eq("$\\s", em_int(' '));
    check_eq("$\\^a", em_int(1));
    check_eq("$\\x{3A9}", em_int(0x3a9));
    check_eq("$\xce\xa9", em_int(0x3a9));
    check_eq("-$a", em_int(-97));
    check_eq("9223372036854775807", em_int(INT64_MAX));
    check_eq("-9223372036854775808", em_int(INT64_MIN));
    check_eq("18446744073709551615", em_uint(UINT64_MAX));
}
END_TEST

START_TEST(bignums)
{
    check_w("123456789012345678901234567890", "123456789012345678901234567890");
    check_w("-123456789012345678901234567890", "-123456789012345678901234567890");
    check_w("-16#FFFFFFFFFFFFFFFFFFFFFFFF", "-79228162514264337593543950335");
    check_w("18446744073709551616", "18446744073709551616");
    check_w("-18446744073709551616", "-18446744073709551616");
}
END_TEST

START_TEST(floats)
{
    check_eq("1.5", em_float(1.5));
    check_eq("-1.5", em_float(-1.5));
    check_eq("2.0e-3", em_float(2.0e-3));
    check_eq("1.0e10", em_float(1.0e10));
    check_eq("1.5E+3", em_float(1500.0));
    check_eq("0.0e0", em_float(0.0));
    check_eq("1_0.5_5e1_0", em_float(1.055e11));
    check_eq("1.0e-400", em_float(0.0)); /* underflows to 0.0, as in erl */
    check_eq("0.30000000000000004", em_float(0.1 + 0.2));
    check_eq("1.7976931348623157e308", em_float(1.7976931348623157e308));
    check_eq("4.9406564584124654e-324", em_float(5e-324));
    check_w("-0.0", "-0.0");
}
END_TEST

START_TEST(strings_escapes_and_concatenation)
{
    check_w("\"abc\"", "[97,98,99]");
    check_w("\"\"", "[]");
    check_w("\"\\x{41}\\x41\\101\\7\\^G\\q\"", "[65,65,65,7,7,113]");
    check_w("\"\\b\\d\\e\\f\\n\\r\\s\\t\\v\\'\\\"\\\\\"", "[8,127,27,12,10,13,32,9,11,39,34,92]");
    check_w("\"\xce\xa9x\"", "[937,120]");
    check_w("\"a\" \"b\"  \"c\"", "[97,98,99]");
    check_w("\"a\" % comment\n \"b\"", "[97,98]");
    check_w("[$\\x{10FFFF}]", "[1114111]");
}
END_TEST

START_TEST(tuples_lists_and_tails)
{
    check_w("{}", "{}");
    check_w("{a, {b, c}, []}", "{a,{b,c},[]}");
    check_w("[]", "[]");
    check_w("[1, 2, 3]", "[1,2,3]");
    check_w("[1 | 2]", "[1|2]");
    check_w("[1, 2 | [3]]", "[1,2,3]");
    check_w("[a, b | c]", "[a,b|c]");
    check_w("[[[]]]", "[[[]]]");
    check_w("[$a | \"bc\"]", "[97,98,99]");
}
END_TEST

START_TEST(binaries)
{
    check_w("<<>>", "<<>>");
    check_w("<<1, 2, 3>>", "<<1,2,3>>");
    check_w("<<\"abc\">>", "<<97,98,99>>");
    check_w("<<\"a\" \"b\", 0>>", "<<97,98,0>>");
    check_w("<<1:3>>", "<<1:3>>");
    check_w("<<1, 2:3>>", "<<1,2:3>>");
    check_w("<<256>>", "<<0>>");
    check_w("<<-1>>", "<<255>>");
    check_w("<<-1:16>>", "<<255,255>>");
    check_w("<<1:0>>", "<<>>");
    check_w("<<\"a\":8>>", "<<97>>");
    check_w("<<255:8, 256:16, -1:4, 1:1>>", "<<255,1,0,31:5>>");
    check_w("<<1:64>>", "<<0,0,0,0,0,0,0,1>>");
    check_w("<<5:3, 1:1, 255:12>>", "<<176,255>>");
    check_w("<<$a, $b>>", "<<97,98>>");
    check_w("<<16#123456789ABCDEF0123:72>>", "<<35,69,103,137,171,205,239,1,35>>");
}
END_TEST

START_TEST(maps)
{
    check_w("#{}", "#{}");
    check_w("#{b => 1, a => 2}", "#{a => 2,b => 1}");
    check_w("#{a => 1, a => 2}", "#{a => 2}"); /* the later value wins */
    check_w("#{{k} => [v], 1 => #{}}", "#{1 => #{},{k} => [v]}");
}
END_TEST

START_TEST(local_pids)
{
    uint32_t cr;
    em_term node = em_local_node(&cr);
    check_eq("<0.85.7>", em_pid(node, 85, 7, cr));
    check_eq("{<0.1.0>, x}", em_tuple(2, em_pid(node, 1, 0, cr), em_atom("x")));
    check_err("<1.2.3>", 1, 1);
    check_err("<0.2>", 1, 1);
}
END_TEST

START_TEST(whitespace_comments_and_final_dot)
{
    check_w("  {a}  ", "{a}");
    check_w("{a}.", "{a}");
    check_w("{a} .", "{a}");
    check_w("{a}. % done\n", "{a}");
    check_w("% leading comment\n{a, % inner\n b}", "{a,b}");
    check_w("\t[\r\n1\n]\n", "[1]");
}
END_TEST

START_TEST(syntax_errors_report_position)
{
    check_err("", 1, 1);
    check_err("% only a comment", 1, 17);
    check_err("{a,}", 1, 4);
    check_err("{,}", 1, 2);
    check_err("[1|2|3]", 1, 5);
    check_err("[|1]", 1, 2);
    check_err("#{a}", 1, 4);
    check_err("#{a => 1,}", 1, 10);
    check_err("<<1,>>", 1, 5);
    check_err("{a\n", 2, 1);
    check_err("{a,\n  b c}", 2, 5);
    check_err("\"abc", 1, 1);
    check_err("'abc", 1, 1);
    check_err("abc def", 1, 5);
    check_err("1 2", 1, 3);
    check_err("1.e5", 1, 3);
    check_err("1.0e400", 1, 1);
    check_err("16#", 1, 1);
    check_err("37#1", 1, 1);
    check_err("1__0", 1, 2);
    check_err("X", 1, 1);
    check_err("_", 1, 1);
    check_err("{a, \xce\xa9x}", 1, 5);
    check_err("\"\\x{110000}\"", 1, 2);
    check_err("\"\\x{D800}\"", 1, 2);
    check_err("'\xff'", 1, 2); /* not UTF-8 */
    check_err("<<\"abc\"/binary>>", 1, 8);
    check_err("{a}.b", 1, 5);
    /* column counts characters, not bytes */
    check_err("{'\xc3\xa9', ]", 1, 7);
}
END_TEST

START_TEST(error_reason_is_readable)
{
    em_parse_error e;
    em_term t;
    ck_assert_em_err(em_parse_term("{a, b", 5, &t, &e), EM_ESYNTAX);
    ck_assert_str_eq(e.reason, "unexpected end of input: expected ',' or '}'");
    ck_assert_uint_eq(e.offset, 5);
    ck_assert_em_err(em_parse_term("[1 2]", 5, &t, &e), EM_ESYNTAX);
    ck_assert_str_eq(e.reason, "expected ',', '|' or ']'");
    ck_assert_uint_eq(e.offset, 3);
    /* err may be NULL */
    ck_assert_em_err(em_parse_term("{", 1, &t, NULL), EM_ESYNTAX);
    ck_assert(em_parse("{") == EM_NONE);
    ck_assert(em_parse(NULL) == EM_NONE);
}
END_TEST

START_TEST(length_bounds_the_text)
{
    em_term t;
    /* only the first 5 bytes count */
    ck_assert_em_ok(em_parse_term("{a,b}garbage", 5, &t, NULL));
    char *s = em_print_alloc(t, EM_PRINT_W);
    ck_assert_str_eq(s, "{a,b}");
    free(s);
    em_drop(t);
    /* a NUL inside the length is an error, not an end */
    ck_assert_em_err(em_parse_term("a\0b", 3, &t, NULL), EM_ESYNTAX);
}
END_TEST

START_TEST(atom_length_limit)
{
    char buf[300];
    buf[0] = '\'';
    memset(buf + 1, 'x', 256);
    buf[257] = '\'';
    buf[258] = '\0';
    check_err(buf, 1, 1);
    buf[256] = '\'';
    buf[257] = '\0';
    em_term t = em_parse(buf); /* 255 characters: fine */
    ck_assert(t != EM_NONE);
}
END_TEST

START_TEST(deep_nesting_parses_without_recursion)
{
    enum { D = 100000 };
    char *txt = malloc(4 * D + 8), *q = txt;
    for (int i = 0; i < D; i++) {
        *q++ = '[';
        *q++ = '{';
    }
    *q++ = 'x';
    for (int i = 0; i < D; i++) {
        *q++ = '}';
        *q++ = ']';
    }
    *q = '\0';
    em_term t = em_parse(txt);
    ck_assert(t != EM_NONE);
    em_term x = t;
    for (int i = 0; i < D; i++) {
        ck_assert_int_eq(em_list_length(x), 1);
        x = em_tuple_get(em_hd(x), 0);
    }
    ck_assert(x == em_atom("x"));
    em_drop(t);
    /* an unclosed deep text fails cleanly */
    txt[2 * D + 1] = '\0';
    em_parse_error e;
    ck_assert_em_err(em_parse_term(txt, strlen(txt), &t, &e), EM_ESYNTAX);
    free(txt);
}
END_TEST

START_TEST(print_parse_round_trip)
{
    static const char *const texts[] = {
        "{a,\"abc\",[1,2|3],<<\"ab\">>,<<1:3>>,1.5,-0.0,255,97,#{a => 2,b => 1},'hello world'}",
        "['\\x{3A9}','\\n',\"\\e\\\"\",<<\"\\\\\">>,-123456789012345678901234567890]",
        "[0.1,1.0e-5,1.0e100,123456789.0,9.007199254740992e15,5.0e-324]",
        "#{{} => #{},[1] => [2],\"a\" => <<\"b\">>}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        em_term t = em_parse(texts[i]);
        ck_assert_msg(t != EM_NONE, "parse %s", texts[i]);
        char *s = em_print_alloc(t, EM_PRINT_P);
        ck_assert_str_eq(s, texts[i]);
        em_term u = em_parse(s);
        ck_assert(em_equal(t, u));
        free(s);
        em_drop(t);
        em_drop(u);
    }
}
END_TEST

static Suite *parse_suite(void)
{
    Suite *s = suite_create("parse");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, atoms_bare_and_quoted);
    tcase_add_test(tc, reserved_words_need_quotes);
    tcase_add_test(tc, integers_in_all_notations);
    tcase_add_test(tc, bignums);
    tcase_add_test(tc, floats);
    tcase_add_test(tc, strings_escapes_and_concatenation);
    tcase_add_test(tc, tuples_lists_and_tails);
    tcase_add_test(tc, binaries);
    tcase_add_test(tc, maps);
    tcase_add_test(tc, local_pids);
    tcase_add_test(tc, whitespace_comments_and_final_dot);
    tcase_add_test(tc, syntax_errors_report_position);
    tcase_add_test(tc, error_reason_is_readable);
    tcase_add_test(tc, length_bounds_the_text);
    tcase_add_test(tc, atom_length_limit);
    tcase_add_test(tc, deep_nesting_parses_without_recursion);
    tcase_add_test(tc, print_parse_round_trip);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(parse_suite)
