/* test_pattern.c: compiled patterns (em_pattern_*, em_match), with the
 * semantics of Erlang pattern matching: =:= for literals and repeated
 * variables, `_` and `_Name` take no slot, map patterns match any map that
 * has the keys. */
#include <pthread.h>
#include <string.h>

#include "emtest.h"

/* Match pattern against a term written in Erlang syntax; returns the result
 * and fills binds (up to 8). */
static bool match(const char *pattern, const char *term, em_term *binds, em_term *keep)
{
    em_pattern *p;
    em_parse_error e;
    int rc = em_pattern_compile(pattern, &p, &e);
    ck_assert_msg(rc == 0, "compile %s: %s", pattern, e.reason);
    em_term t = em_parse(term);
    ck_assert_msg(t != EM_NONE, "parse %s", term);
    bool ok = em_pattern_match(p, t, binds);
    em_pattern_free(p);
    *keep = t; /* bindings borrow from t: the caller drops it */
    return ok;
}

static void expect_match(const char *pattern, const char *term)
{
    em_term b[8], t;
    ck_assert_msg(match(pattern, term, b, &t), "%s should match %s", pattern, term);
    em_drop(t);
}

static void expect_no_match(const char *pattern, const char *term)
{
    em_term b[8], t;
    ck_assert_msg(!match(pattern, term, b, &t), "%s should not match %s", pattern, term);
    em_drop(t);
}

/* The binding of slot i printed with ~p. */
static void expect_bind(const em_term *b, size_t i, const char *want)
{
    char *s = em_print_alloc(b[i], EM_PRINT_P);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, want);
    free(s);
}

START_TEST(variables_bind_in_order_of_appearance)
{
    em_term b[8], t;
    ck_assert(match("{From, {ok, Value}}", "{<0.1.2>, {ok, 42}}", b, &t));
    expect_bind(b, 0, "<0.1.2>");
    expect_bind(b, 1, "42");
    em_drop(t);
    ck_assert(match("{A, B, C, D, E}", "{1,2,3,4,5}", b, &t));
    for (int i = 0; i < 5; i++) {
        char want[2] = {(char)('1' + i), 0};
        expect_bind(b, (size_t)i, want);
    }
    em_drop(t);
    /* slots follow the text, even when matching visits them in another order */
    ck_assert(match("{{{{Deep}}}, Shallow}", "{{{{1}}}, 2}", b, &t));
    expect_bind(b, 0, "1");
    expect_bind(b, 1, "2");
    em_drop(t);
}
END_TEST

START_TEST(var_names_and_slot_count)
{
    em_pattern *p;
    ck_assert_em_ok(em_pattern_compile("{Pid, _, _Ignored, [H | T], Pid}", &p, NULL));
    ck_assert_uint_eq(em_pattern_nvars(p), 3);
    ck_assert_str_eq(em_pattern_var_name(p, 0), "Pid");
    ck_assert_str_eq(em_pattern_var_name(p, 1), "H");
    ck_assert_str_eq(em_pattern_var_name(p, 2), "T");
    ck_assert_ptr_null(em_pattern_var_name(p, 3));
    em_pattern_free(p);
    ck_assert_em_ok(em_pattern_compile("{ok, _}", &p, NULL));
    ck_assert_uint_eq(em_pattern_nvars(p), 0);
    em_term t = em_tuple(0);
    ck_assert(em_pattern_match(p, t, NULL) == false);
    em_drop(t);
    t = em_parse("{ok, 1}");
    ck_assert(em_pattern_match(p, t, NULL)); /* binds may be NULL without slots */
    em_drop(t);
    em_pattern_free(p);
}
END_TEST

START_TEST(repeated_variables_must_be_exactly_equal)
{
    expect_match("{X, X}", "{a, a}");
    expect_no_match("{X, X}", "{a, b}");
    expect_no_match("{X, X}", "{1, 1.0}"); /* =:=, not == */
    expect_match("{X, Y, X, Y}", "{1, 2, 1, 2}");
    expect_no_match("{X, Y, X, Y}", "{1, 2, 1, 3}");
    expect_match("[X, [Y, [Z | _]] | X]", "[1, [2, [3, 4]] | 1]");
    expect_no_match("[X, [Y, [Z | _]] | X]", "[1, [2, [3, 4]] | 2]");
    expect_match("{{{{X}}}, X}", "{{{{[a, {b}]}}}, [a, {b}]}");
    expect_no_match("{{{{X}}}, X}", "{{{{1}}}, 2}");
}
END_TEST

START_TEST(underscore_variables_take_no_slot_but_must_agree)
{
    em_term b[8], t;
    ck_assert(match("{_A, _A, B}", "{1, 1, 2}", b, &t));
    expect_bind(b, 0, "2");
    em_drop(t);
    expect_no_match("{_A, _A, B}", "{1, 2, 2}");
    expect_match("{_A, {_A, [_B, _B]}}", "{x, {x, [1, 1]}}");
    expect_no_match("{_A, {_A, [_B, _B]}}", "{x, {x, [1, 2]}}");
    expect_match("#{k := _V, j := _V}", "#{k => 7, j => 7}");
    expect_no_match("#{k := _V, j := _V}", "#{k => 7, j => 8}");
    expect_match("{_, _}", "{1, 2}"); /* `_` never has to agree */
    expect_match("{_Once, x}", "{1, x}");
}
END_TEST

START_TEST(literals_match_exactly)
{
    expect_match("{ok, \"abc\", <<1,2>>, 1.0, -5, 123456789012345678901234567890}",
                 "{ok, [$a,$b,$c], <<1,2>>, 1.0, -5, 123456789012345678901234567890}");
    expect_no_match("1", "1.0");
    expect_no_match("1.0", "1");
    expect_no_match("{ok, \"abc\"}", "{ok, \"abd\"}");
    expect_no_match("<<1,2>>", "<<1,2,3>>");
    expect_no_match("a", "b");
    expect_no_match("[]", "[a]");
    expect_match("<0.5.6>", "<0.5.6>");
    expect_no_match("<0.5.6>", "<0.5.7>");
    expect_match("[a, _, c]", "[a, b, c]");
    expect_no_match("[a, _, c]", "[a, b, c, d]");
    expect_no_match("[a, _, c]", "[a, b]");
    expect_match("[a | _]", "[a, b, c]");
}
END_TEST

START_TEST(lists_heads_and_tails)
{
    em_term b[8], t;
    ck_assert(match("[H | T]", "[1, 2, 3]", b, &t));
    expect_bind(b, 0, "1");
    expect_bind(b, 1, "[2,3]");
    em_drop(t);
    expect_no_match("[H | T]", "[]");
    ck_assert(match("[A, B | Rest]", "\"hello\"", b, &t));
    expect_bind(b, 2, "\"llo\"");
    em_drop(t);
    ck_assert(match("[X | Y]", "[a | b]", b, &t));
    expect_bind(b, 1, "b");
    em_drop(t);
}
END_TEST

START_TEST(maps_match_by_subset_of_keys)
{
    em_term b[8], t;
    ck_assert(match("#{k := V}", "#{k => 1, j => 2}", b, &t));
    expect_bind(b, 0, "1");
    em_drop(t);
    expect_no_match("#{k := V}", "#{j => 2}");
    expect_match("#{}", "#{a => 1}");
    expect_no_match("#{}", "[]");
    expect_match("#{a => 1}", "#{a => 1, b => 2}"); /* => accepted as := */
    ck_assert(match("#{a := {X, _Y}, \"k\" := [X]}", "#{a => {1, 2}, \"k\" => [1], z => 0}", b, &t));
    expect_bind(b, 0, "1");
    em_drop(t);
    expect_no_match("#{a := {X, _Y}, \"k\" := [X]}", "#{a => {1, 2}, \"k\" => [2]}");
    expect_match("#{1 := x}", "#{1 => x}");
    expect_no_match("#{1 := x}", "#{1.0 => x}"); /* keys match with =:= */
    expect_match("{#{a := _}, #{}}", "{#{a => 1}, #{}}");
}
END_TEST

START_TEST(whole_term_variable_and_underscore)
{
    em_term b[8], t;
    ck_assert(match("X", "\"hello\"", b, &t));
    expect_bind(b, 0, "\"hello\"");
    em_drop(t);
    expect_match("_", "anything");
    expect_match("_", "{deep, [nested, #{}]}");
}
END_TEST

/* Flat tuple patterns (each element a variable, `_` or an immediate)
 * take a fast path: the same answers as any other pattern. */
START_TEST(flat_tuple_patterns_match_like_any_other)
{
    expect_match("{From, ping}", "{self, ping}");
    expect_no_match("{From, ping}", "{self, pong}");
    expect_no_match("{From, ping}", "{self, ping, x}");
    expect_no_match("{From, ping}", "{ping}");
    expect_no_match("{From, ping}", "[self, ping]");
    expect_no_match("{From, 1}", "{a, 1.0}");
    expect_match("{_, _Name, 7, []}", "{{x}, \"s\", 7, []}");
    expect_no_match("{_, _Name, 7, []}", "{{x}, \"s\", 7, [1]}");
    expect_no_match("{X, X}", "{1, 2}"); /* repeated: not flat, still right */
    expect_match("{X, X}", "{2, 2}");
    expect_match("{}", "{}");
    expect_no_match("{}", "{a}");
    em_term b[8], t;
    ck_assert(match("{call, From, Ref, Req}", "{call, a, b, {c, d}}", b, &t));
    ck_assert(b[0] == em_atom("a") && b[1] == em_atom("b"));
    ck_assert_int_eq(em_tuple_size(b[2]), 2);
    em_drop(t);
}
END_TEST

START_TEST(bindings_are_borrowed_from_the_term)
{
    em_pattern *p;
    ck_assert_em_ok(em_pattern_compile("{_, Payload}", &p, NULL));
    em_term t = em_parse("{msg, {big, [1,2,3], <<\"data\">>}}");
    em_term b[1];
    ck_assert(em_pattern_match(p, t, b));
    ck_assert(b[0] == em_tuple_get(t, 1)); /* the very same term, no copy */
    em_pattern_free(p);
    em_drop(t);
}
END_TEST

START_TEST(em_match_convenience)
{
    em_term t = em_parse("{reply, 7, [x]}");
    em_term n = EM_NONE, l = EM_NONE;
    ck_assert_int_eq(em_match("{reply, N, L}", t, &n, &l), 1);
    ck_assert(n == em_int(7));
    ck_assert(em_equal(l, em_tuple_get(t, 2)));
    ck_assert_int_eq(em_match("{noreply, N, L}", t, &n, &l), 0);
    ck_assert_int_eq(em_match("{_, _, _}", t), 1);
    ck_assert_em_err(em_match("{reply, N", t, &n), EM_ESYNTAX);
    em_drop(t);
}
END_TEST

START_TEST(compile_errors)
{
    em_pattern *p = (em_pattern *)1;
    em_parse_error e;
    ck_assert_em_err(em_pattern_compile("{a, ", &p, &e), EM_ESYNTAX);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(e.line, 1);
    ck_assert_int_eq(e.column, 5);
    ck_assert_em_err(em_pattern_compile("#{K := 1}", &p, &e), EM_ESYNTAX);
    ck_assert_str_eq(e.reason, "map keys in a pattern must be literal terms");
    ck_assert_int_eq(e.column, 1);
    ck_assert_em_err(em_pattern_compile("<<X>>", &p, &e), EM_ESYNTAX);
    ck_assert_int_eq(e.column, 3);
    ck_assert_em_err(em_pattern_compile("{a,\n b c}", &p, &e), EM_ESYNTAX);
    ck_assert_int_eq(e.line, 2);
    ck_assert_int_eq(e.column, 4);
    ck_assert_em_err(em_pattern_compile("{a}", NULL, NULL), EM_EINVAL);
    ck_assert_em_err(em_pattern_compile("", &p, NULL), EM_ESYNTAX);
    em_pattern_free(NULL);
}
END_TEST

START_TEST(deep_patterns_compile_and_match_without_recursion)
{
    enum { D = 100000 };
    char *pat = malloc(4 * D + 8), *q = pat;
    for (int i = 0; i < D; i++) {
        *q++ = '[';
        *q++ = '{';
    }
    *q++ = 'X';
    for (int i = 0; i < D; i++) {
        *q++ = '}';
        *q++ = ']';
    }
    *q = '\0';
    em_pattern *p;
    ck_assert_em_ok(em_pattern_compile(pat, &p, NULL));
    pat[2 * D] = 'x';
    em_term t = em_parse(pat);
    ck_assert(t != EM_NONE);
    em_term b[1];
    ck_assert(em_pattern_match(p, t, b));
    ck_assert(b[0] == em_atom("x"));
    em_drop(t);
    em_pattern_free(p);
    free(pat);
    /* a long flat list with a repeated variable at both ends */
    char *flat = malloc(3 * D + 16);
    q = flat;
    *q++ = '[';
    *q++ = 'X';
    for (int i = 0; i < D; i++) {
        *q++ = ',';
        *q++ = '_';
    }
    strcpy(q, ",X]");
    ck_assert_em_ok(em_pattern_compile(flat, &p, NULL));
    /* the term: [a,0,0,...,0,a], then [a,0,...,0,b] */
    for (char *c = flat; *c; c++)
        if (*c == '_')
            *c = '0';
    flat[1] = 'a';
    q[1] = 'a';
    t = em_parse(flat);
    ck_assert(t != EM_NONE);
    ck_assert(em_pattern_match(p, t, b));
    ck_assert(b[0] == em_atom("a"));
    em_drop(t);
    q[1] = 'b';
    t = em_parse(flat);
    ck_assert(!em_pattern_match(p, t, b));
    em_drop(t);
    em_pattern_free(p);
    free(flat);
}
END_TEST

START_TEST(bushy_patterns_stay_within_the_match_stack)
{
    /* a full binary tree of 2-tuples, depth 12, with a variable at every
     * leaf: every subtree needs code, so the matcher needs 12 stack levels
     * (the deepest a pattern of this size can need) */
    em_buf b = EM_BUF_INIT;
    em_buf tb = EM_BUF_INIT;
    int depth = 12, leaves = 1 << depth;
    /* build both texts iteratively: leaf i is _L (pattern) / i (term) */
    for (int i = 0; i < leaves; i++) {
        int opens = 0;
        for (int k = i; k % 2 == 0 && opens < depth; k /= 2)
            opens++;
        if (i == 0)
            opens = depth;
        for (int k = 0; k < opens; k++) {
            ck_assert_em_ok(em_buf_append(&b, "{", 1));
            ck_assert_em_ok(em_buf_append(&tb, "{", 1));
        }
        char leaf[32];
        int n = snprintf(leaf, sizeof leaf, "V%d", i);
        ck_assert_em_ok(em_buf_append(&b, leaf, (size_t)n));
        n = snprintf(leaf, sizeof leaf, "%d", i);
        ck_assert_em_ok(em_buf_append(&tb, leaf, (size_t)n));
        int closes = 0;
        for (int k = i + 1; k % 2 == 0 && closes < depth; k /= 2)
            closes++;
        if (i == leaves - 1)
            closes = depth;
        for (int k = 0; k < closes; k++) {
            ck_assert_em_ok(em_buf_append(&b, "}", 1));
            ck_assert_em_ok(em_buf_append(&tb, "}", 1));
        }
        if (i != leaves - 1) {
            ck_assert_em_ok(em_buf_append(&b, ",", 1));
            ck_assert_em_ok(em_buf_append(&tb, ",", 1));
        }
    }
    ck_assert_em_ok(em_buf_append(&b, "", 1));
    ck_assert_em_ok(em_buf_append(&tb, "", 1));
    em_pattern *p;
    ck_assert_em_ok(em_pattern_compile((char *)b.data, &p, NULL));
    em_term t = em_parse((char *)tb.data);
    ck_assert(t != EM_NONE);
    ck_assert_uint_eq(em_pattern_nvars(p), (size_t)leaves);
    em_term *x = malloc((size_t)leaves * sizeof *x);
    ck_assert(em_pattern_match(p, t, x));
    for (int i = 0; i < leaves; i++)
        ck_assert(x[i] == em_int(i));
    free(x);
    em_drop(t);
    em_pattern_free(p);
    em_buf_free(&b);
    em_buf_free(&tb);
}
END_TEST

typedef struct shared {
    const em_pattern *p;
    em_term t;
    int ok;
} shared;

static void *matcher(void *arg)
{
    shared *s = arg;
    em_term b[2];
    for (int i = 0; i < 20000; i++)
        if (!em_pattern_match(s->p, s->t, b) || b[1] != em_int(42))
            return NULL;
    s->ok = 1;
    return NULL;
}

START_TEST(one_pattern_matches_from_many_threads)
{
    em_pattern *p;
    ck_assert_em_ok(em_pattern_compile("{From, {ok, Value}, _}", &p, NULL));
    em_term t = em_parse("{<0.1.2>, {ok, 42}, [x]}");
    shared s[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (shared){p, t, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, matcher, &s[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(s[i].ok, 1);
    }
    em_drop(t);
    em_pattern_free(p);
}
END_TEST

static Suite *pattern_suite(void)
{
    Suite *s = suite_create("pattern");
    TCase *tc = tcase_create("pattern");
    tcase_add_test(tc, variables_bind_in_order_of_appearance);
    tcase_add_test(tc, var_names_and_slot_count);
    tcase_add_test(tc, repeated_variables_must_be_exactly_equal);
    tcase_add_test(tc, underscore_variables_take_no_slot_but_must_agree);
    tcase_add_test(tc, literals_match_exactly);
    tcase_add_test(tc, lists_heads_and_tails);
    tcase_add_test(tc, maps_match_by_subset_of_keys);
    tcase_add_test(tc, whole_term_variable_and_underscore);
    tcase_add_test(tc, flat_tuple_patterns_match_like_any_other);
    tcase_add_test(tc, bindings_are_borrowed_from_the_term);
    tcase_add_test(tc, em_match_convenience);
    tcase_add_test(tc, compile_errors);
    tcase_add_test(tc, deep_patterns_compile_and_match_without_recursion);
    tcase_add_test(tc, bushy_patterns_stay_within_the_match_stack);
    tcase_add_test(tc, one_pattern_matches_from_many_threads);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(pattern_suite)
