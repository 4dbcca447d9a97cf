/* lex.c: the tokenizer for Erlang term syntax (see lex.h).
 * It follows erl_scan where term syntax needs it: Latin-1 letters in
 * names, `_` digit separators, base#digits, $c, escapes (\n, \x{...}, \^X,
 * octal), adjacent strings joined, % comments. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "term_int.h"
#include "lex.h"

void em__lex_init(em__lexer *lx, const char *src, size_t len)
{
    memset(lx, 0, sizeof *lx);
    lx->src = src;
    lx->len = len;
}

void em__lex_free(em__lexer *lx)
{
    free(lx->text);
    free(lx->cps);
    free(lx->digits);
    lx->text = NULL;
    lx->cps = NULL;
    lx->digits = NULL;
}

static int fail(em__lexer *lx, size_t off, const char *reason)
{
    lx->err = EM_ESYNTAX;
    lx->err_off = off;
    lx->err_reason = reason;
    lx->tok.kind = EM__T_ERROR;
    return EM__T_ERROR;
}

/* fail() for functions that report failure as false. */
static bool qfail(em__lexer *lx, size_t off, const char *reason)
{
    fail(lx, off, reason);
    return false;
}

static int oom(em__lexer *lx)
{
    lx->err = EM_ENOMEM;
    lx->err_off = lx->pos;
    lx->err_reason = "out of memory";
    lx->tok.kind = EM__T_ERROR;
    return EM__T_ERROR;
}

bool em__lex_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (q == NULL)
        return false;
    *p = q;
    *cap = c;
    return true;
}

static bool push_cp(em__lexer *lx, uint32_t cp)
{
    if (!em__lex_grow((void **)&lx->cps, &lx->cps_cap, lx->ncps + 1, sizeof(uint32_t)))
        return false;
    lx->cps[lx->ncps++] = cp;
    return true;
}

static bool push_text(em__lexer *lx, uint32_t cp)
{
    if (!em__lex_grow((void **)&lx->text, &lx->text_cap, lx->text_len + 5, 1))
        return false;
    lx->text_len += (size_t)em__utf8_encode(cp, (uint8_t *)lx->text + lx->text_len);
    lx->text[lx->text_len] = '\0';
    return true;
}

static bool push_digit(em__lexer *lx, char c)
{
    if (!em__lex_grow((void **)&lx->digits, &lx->digits_cap, lx->ndigits + 1, 1))
        return false;
    lx->digits[lx->ndigits++] = c;
    return true;
}

/* Decode the code point at pos: its length in *n (0 if not UTF-8). */
static uint32_t peek_cp(const em__lexer *lx, size_t pos, int *n)
{
    uint32_t cp = 0;
    *n = em__utf8_decode((const uint8_t *)lx->src + pos, lx->len - pos, &cp);
    return cp;
}

/* Character classes of erl_scan (Latin-1 letters count). */
static bool is_lower(uint32_t c) { return (c >= 'a' && c <= 'z') || (c >= 0xdf && c <= 0xff && c != 0xf7); }
static bool is_upper(uint32_t c) { return (c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7); }
static bool is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static bool is_name_char(uint32_t c)
{
    return is_lower(c) || is_upper(c) || is_digit(c) || c == '_' || c == '@';
}
static int digit_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 99;
}

/* Skip whitespace and % comments. */
static void skip_blank(em__lexer *lx)
{
    while (lx->pos < lx->len) {
        unsigned char c = (unsigned char)lx->src[lx->pos];
        if (c == '%') {
            while (lx->pos < lx->len && lx->src[lx->pos] != '\n')
                lx->pos++;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            lx->pos++;
        } else if (c == 0xc2 && lx->pos + 1 < lx->len &&
                   (unsigned char)lx->src[lx->pos + 1] == 0xa0) {
            lx->pos += 2; /* U+00A0 is white space to erl_scan too */
        } else {
            break;
        }
    }
}

/* One character of a quoted atom, string or $c, escapes resolved.
 * Returns true and *out, or false with the error set. */
static bool quoted_char(em__lexer *lx, uint32_t *out)
{
    size_t start = lx->pos;
    int n;
    uint32_t c = peek_cp(lx, lx->pos, &n);
    if (n == 0)
        return qfail(lx, lx->pos, "invalid UTF-8 in text");
    lx->pos += (size_t)n;
    if (c != '\\') {
        *out = c;
        return true;
    }
    if (lx->pos >= lx->len)
        return qfail(lx, start, "unterminated escape sequence");
    c = (unsigned char)lx->src[lx->pos];
    if (c >= '0' && c <= '7') {
        uint32_t v = 0;
        for (int i = 0; i < 3 && lx->pos < lx->len && lx->src[lx->pos] >= '0' &&
                        lx->src[lx->pos] <= '7'; i++)
            v = v * 8 + (uint32_t)(lx->src[lx->pos++] - '0');
        *out = v;
        return true;
    }
    lx->pos++;
    switch (c) {
    case 'b': *out = '\b'; return true;
    case 'd': *out = 0x7f; return true;
    case 'e': *out = 0x1b; return true;
    case 'f': *out = '\f'; return true;
    case 'n': *out = '\n'; return true;
    case 'r': *out = '\r'; return true;
    case 's': *out = ' '; return true;
    case 't': *out = '\t'; return true;
    case 'v': *out = '\v'; return true;
    case '^':
        if (lx->pos >= lx->len)
            return qfail(lx, start, "unterminated escape sequence");
        c = peek_cp(lx, lx->pos, &n);
        if (n == 0)
            return qfail(lx, lx->pos, "invalid UTF-8 in text");
        lx->pos += (size_t)n;
        *out = c & 31;
        return true;
    case 'x':
        if (lx->pos < lx->len && lx->src[lx->pos] == '{') {
            uint32_t v = 0;
            size_t nd = 0;
            lx->pos++;
            while (lx->pos < lx->len && digit_value(lx->src[lx->pos]) < 16) {
                v = v * 16 + (uint32_t)digit_value(lx->src[lx->pos++]);
                if (v > 0x10ffff)
                    return qfail(lx, start, "character code too large in \\x{...}");
                nd++;
            }
            if (nd == 0 || lx->pos >= lx->len || lx->src[lx->pos] != '}')
                return qfail(lx, start, "invalid \\x{...} escape");
            if (v >= 0xd800 && v <= 0xdfff)
                return qfail(lx, start, "surrogate code point in \\x{...}");
            lx->pos++;
            *out = v;
            return true;
        }
        if (lx->pos + 2 <= lx->len && digit_value(lx->src[lx->pos]) < 16 &&
            digit_value(lx->src[lx->pos + 1]) < 16) {
            *out = (uint32_t)(digit_value(lx->src[lx->pos]) * 16 +
                              digit_value(lx->src[lx->pos + 1]));
            lx->pos += 2;
            return true;
        }
        return qfail(lx, start, "invalid \\x escape");
    default:
        /* \C is C for any other character (\\, \', \" included). */
        lx->pos--;
        c = peek_cp(lx, lx->pos, &n);
        if (n == 0)
            return qfail(lx, lx->pos, "invalid UTF-8 in text");
        lx->pos += (size_t)n;
        *out = c;
        return true;
    }
}

static int scan_quoted_atom(em__lexer *lx)
{
    size_t start = lx->pos++;
    lx->text_len = 0;
    if (!em__lex_grow((void **)&lx->text, &lx->text_cap, 1, 1))
        return oom(lx);
    lx->text[0] = '\0';
    for (;;) {
        if (lx->pos >= lx->len)
            return fail(lx, start, "unterminated quoted atom");
        if (lx->src[lx->pos] == '\'') {
            lx->pos++;
            break;
        }
        uint32_t c;
        if (!quoted_char(lx, &c))
            return EM__T_ERROR;
        if (!push_text(lx, c))
            return oom(lx);
    }
    lx->tok.kind = EM__T_ATOM;
    return EM__T_ATOM;
}

static int scan_string(em__lexer *lx)
{
    size_t start = lx->pos;
    lx->ncps = 0;
    for (;;) {
        /* lx->pos is at an opening quote */
        lx->pos++;
        for (;;) {
            if (lx->pos >= lx->len)
                return fail(lx, start, "unterminated string");
            if (lx->src[lx->pos] == '"') {
                lx->pos++;
                break;
            }
            uint32_t c;
            if (!quoted_char(lx, &c))
                return EM__T_ERROR;
            if (!push_cp(lx, c))
                return oom(lx);
        }
        /* "a" "b" is one string, as in Erlang source. */
        size_t save = lx->pos;
        skip_blank(lx);
        if (lx->pos < lx->len && lx->src[lx->pos] == '"') {
            start = lx->pos;
            continue;
        }
        lx->pos = save;
        break;
    }
    lx->tok.kind = EM__T_STRING;
    return EM__T_STRING;
}

/* Digits of `base` with single '_' between digits, appended to lx->digits.
 * Returns the number of digits or -1 (error already set). */
static long scan_digits(em__lexer *lx, unsigned base)
{
    long nd = 0;
    while (lx->pos < lx->len) {
        int c = (unsigned char)lx->src[lx->pos];
        if ((unsigned)digit_value(c) < base) {
            if (!push_digit(lx, (char)c)) {
                oom(lx);
                return -1;
            }
            nd++;
            lx->pos++;
        } else if (c == '_' && nd > 0 && lx->pos + 1 < lx->len &&
                   (unsigned)digit_value((unsigned char)lx->src[lx->pos + 1]) < base) {
            lx->pos++;
        } else {
            break;
        }
    }
    return nd;
}

/* The value of digits[0, n) in base, or false on uint64 overflow. */
static bool digits_u64(const char *d, size_t n, unsigned base, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t dv = (uint64_t)digit_value((unsigned char)d[i]);
        if (v > (UINT64_MAX - dv) / base)
            return false;
        v = v * base + dv;
    }
    *out = v;
    return true;
}

static int scan_number(em__lexer *lx)
{
    size_t start = lx->pos;
    lx->ndigits = 0;
    if (scan_digits(lx, 10) < 0)
        return EM__T_ERROR;
    lx->tok.base = 10;
    if (lx->pos < lx->len && lx->src[lx->pos] == '#') {
        /* base#digits */
        uint64_t b;
        if (!digits_u64(lx->digits, lx->ndigits, 10, &b) || b < 2 || b > 36)
            return fail(lx, start, "invalid base (must be 2..36)");
        lx->pos++;
        lx->ndigits = 0;
        long nd = scan_digits(lx, (unsigned)b);
        if (nd < 0)
            return EM__T_ERROR;
        if (nd == 0)
            return fail(lx, start, "missing digits after base#");
        lx->tok.base = (unsigned)b;
    } else if (lx->pos + 1 < lx->len && lx->src[lx->pos] == '.' &&
               is_digit((unsigned char)lx->src[lx->pos + 1])) {
        /* A float.  Rewritten as <all digits>e<exp - fraction digits> so
         * strtod never meets the locale's decimal point. */
        size_t int_digits = lx->ndigits;
        lx->pos++;
        if (scan_digits(lx, 10) < 0)
            return EM__T_ERROR;
        long exp = -(long)(lx->ndigits - int_digits);
        if (lx->pos < lx->len && (lx->src[lx->pos] == 'e' || lx->src[lx->pos] == 'E')) {
            size_t p = lx->pos + 1;
            bool neg = false;
            if (p < lx->len && (lx->src[p] == '+' || lx->src[p] == '-'))
                neg = lx->src[p++] == '-';
            if (p < lx->len && is_digit((unsigned char)lx->src[p])) {
                long e = 0;
                while (p < lx->len && (is_digit((unsigned char)lx->src[p]) ||
                                       (lx->src[p] == '_' && p + 1 < lx->len &&
                                        is_digit((unsigned char)lx->src[p + 1])))) {
                    if (lx->src[p] != '_' && e < 100000000)
                        e = e * 10 + (lx->src[p] - '0');
                    p++;
                }
                exp += neg ? -e : e;
                lx->pos = p;
            }
        }
        char tail[32];
        int tn = snprintf(tail, sizeof tail, "e%ld", exp);
        for (int i = 0; i <= tn; i++)
            if (!push_digit(lx, i < tn ? tail[i] : '\0'))
                return oom(lx);
        double v = strtod(lx->digits, NULL);
        if (!isfinite(v))
            return fail(lx, start, "float out of range");
        lx->tok.fval = v;
        lx->tok.kind = EM__T_FLOAT;
        return EM__T_FLOAT;
    }
    lx->tok.big = !digits_u64(lx->digits, lx->ndigits, lx->tok.base, &lx->tok.ival);
    lx->tok.kind = EM__T_INT;
    return EM__T_INT;
}

em_term em__lex_int(em__lexer *lx, bool neg)
{
    const em__token *t = &lx->tok;
    if (t->kind == EM__T_CHAR)
        return em__small((int64_t)t->ival * (neg ? -1 : 1));
    if (!t->big) {
        if (!neg)
            return em_uint(t->ival);
        if (t->ival <= (uint64_t)INT64_MAX)
            return em_int(-(int64_t)t->ival);
    }
    return em__int_from_digits(neg, lx->digits, lx->ndigits, t->base);
}

bool em__lex_reserved(const char *t, size_t n)
{
    static const char *const words[] = {
        "after", "and", "andalso", "band", "begin", "bnot", "bor", "bsl", "bsr",
        "bxor", "case", "catch", "cond", "div", "end", "fun", "if", "let", "not",
        "of", "or", "orelse", "receive", "rem", "try", "when", "xor"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i]) == n && memcmp(words[i], t, n) == 0)
            return true;
    return false;
}

/* <N.I.S>: a pid as Erlang prints it. */
static int scan_pid(em__lexer *lx)
{
    size_t start = lx->pos++;
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (lx->pos >= lx->len || lx->src[lx->pos] != '.')
                return fail(lx, start, "malformed pid (expected <N.I.S>)");
            lx->pos++;
        }
        uint64_t v = 0;
        size_t nd = 0;
        while (lx->pos < lx->len && is_digit((unsigned char)lx->src[lx->pos])) {
            v = v * 10 + (uint64_t)(lx->src[lx->pos++] - '0');
            if (v > UINT32_MAX)
                return fail(lx, start, "pid number too large");
            nd++;
        }
        if (nd == 0)
            return fail(lx, start, "malformed pid (expected <N.I.S>)");
        lx->tok.pid[i] = v;
    }
    if (lx->pos >= lx->len || lx->src[lx->pos] != '>')
        return fail(lx, start, "malformed pid (expected <N.I.S>)");
    lx->pos++;
    lx->tok.kind = EM__T_PID;
    return EM__T_PID;
}

int em__lex_next(em__lexer *lx)
{
    em__token *t = &lx->tok;
    skip_blank(lx);
    t->start = lx->pos;
    t->big = false;
    int k = EM__T_EOF;
    if (lx->pos >= lx->len) {
        t->kind = EM__T_EOF;
        t->end = lx->pos;
        return EM__T_EOF;
    }
    int n;
    uint32_t c = peek_cp(lx, lx->pos, &n);
    if (n == 0)
        return fail(lx, lx->pos, "invalid UTF-8 in text");
    char c1 = lx->pos + 1 < lx->len ? lx->src[lx->pos + 1] : '\0';
    if (is_lower(c)) {
        lx->text_len = 0;
        while (lx->pos < lx->len) {
            c = peek_cp(lx, lx->pos, &n);
            if (n == 0 || !is_name_char(c))
                break;
            if (!push_text(lx, c))
                return oom(lx);
            lx->pos += (size_t)n;
        }
        t->kind = k = EM__T_ATOM;
        t->c = 0;
    } else if (is_upper(c) || c == '_') {
        while (lx->pos < lx->len) {
            c = peek_cp(lx, lx->pos, &n);
            if (n == 0 || !is_name_char(c))
                break;
            lx->pos += (size_t)n;
        }
        t->kind = k = EM__T_VAR;
    } else if (is_digit(c)) {
        k = scan_number(lx);
    } else if (c == '\'') {
        k = scan_quoted_atom(lx);
        t->c = '\'';
    } else if (c == '"') {
        k = scan_string(lx);
    } else if (c == '$') {
        lx->pos++;
        if (lx->pos >= lx->len)
            return fail(lx, t->start, "missing character after $");
        uint32_t v;
        if (!quoted_char(lx, &v))
            return EM__T_ERROR;
        t->ival = v;
        t->kind = k = EM__T_CHAR;
    } else if (c == '<' && c1 == '<') {
        lx->pos += 2;
        t->kind = k = EM__T_LTLT;
    } else if (c == '>' && c1 == '>') {
        lx->pos += 2;
        t->kind = k = EM__T_GTGT;
    } else if (c == '=' && c1 == '>') {
        lx->pos += 2;
        t->kind = k = EM__T_ARROW;
    } else if (c == ':' && c1 == '=') {
        lx->pos += 2;
        t->kind = k = EM__T_ASSIGN;
    } else if (c == '<' && is_digit((unsigned char)c1)) {
        k = scan_pid(lx);
    } else if (c < 0x80 && strchr("{}[]|,.:#-+/()", (int)c) != NULL) {
        lx->pos++;
        t->c = (int)c;
        t->kind = k = EM__T_PUNCT;
    } else {
        return fail(lx, lx->pos, "unexpected character");
    }
    t->end = lx->pos;
    return k;
}
