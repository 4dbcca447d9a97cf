/* print.c: terms as text, the way OTP 25's io_lib:format("~p") (on one
 * line) and io_lib:format("~w") write them, UTF-8 encoded; and a small
 * io:format (em_format, em_printf, em_fprintf).
 *
 * What OTP does, and so what this does (each checked against erl 25):
 *  - Atoms are quoted unless they start with a lower-case Latin-1 letter,
 *    continue with Latin-1 letters, digits, _ and @, and are not reserved
 *    words.  Inside quotes: \' \\ \n \r \t \v \b \f \e \d, other control
 *    characters (< 160) in 3-digit octal ('\001', '\237'), characters above
 *    255 as \x{HEX} (upper case), Latin-1 160..255 as themselves.
 *  - ~p writes a list as "..." when it is a non-empty proper list of
 *    Latin-1 printable characters (32..126, 160..255, \n \r \t \v \b \f \e)
 *    and a binary as <<"...">> when all its bytes are (whole bytes only).
 *    ~w never does.  Neither puts spaces after commas; maps are written
 *    #{K => V,...} in key order (exact term order, as OTP 25 does for maps
 *    of up to 32 keys; larger maps OTP writes in its internal hash order).
 *  - Floats: the shortest digits that read back to the same double, written
 *    as io_lib_format:fwrite_g does: fixed notation unless scientific is
 *    shorter, and always scientific from 2^53 up (see format_float).
 *  - Pids <0.I.S>, ports #Port<0.I>, references #Ref<0.W2.W1.W0> (words
 *    from last to first, local ones padded to three words).  For another
 *    node OTP writes the index of the node in its node table instead of 0;
 *    ember writes the node atom's index in the atom table plus one (stable
 *    for the program's life, distinct per node name, never 0).
 *  - Funs: exports as fun M:F/A, closures as #Fun<Module.OldIndex.OldUniq>
 *    read from the external format bytes (module name unquoted, as erts).
 *
 * Nothing recurses on the C stack: compound terms are walked with an
 * explicit stack of frames, so a 100,000-deep list prints. */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "term_int.h"
#include "lex.h"

/* ---- output sink: a growable buffer, or a fixed one that counts ---- */

typedef struct sink {
    em_buf *b;    /* append here when not NULL */
    char *fixed;  /* else write at most cap - 1 bytes here */
    size_t cap;
    size_t len;   /* bytes produced so far (all of them, written or not) */
    int err;
    bool head;    /* em__print_head: stop once fixed is full */
    bool full;    /* ... and it is */
} sink;

static void put(sink *s, const void *p, size_t n)
{
    if (s->err)
        return;
    if (s->b) {
        if (em_buf_append(s->b, p, n) < 0)
            s->err = EM_ENOMEM;
    } else if (s->fixed && s->len + 1 < s->cap) {
        size_t room = s->cap - 1 - s->len;
        memcpy(s->fixed + s->len, p, n < room ? n : room);
    }
    s->len += n;
    if (s->head && s->len + 1 >= s->cap)
        s->full = true;
}

static void puts_(sink *s, const char *str) { put(s, str, strlen(str)); }

static void putch(sink *s, char c) { put(s, &c, 1); }

/* A character of the output character list, UTF-8 encoded. */
static void put_cp(sink *s, uint32_t cp)
{
    uint8_t u[4];
    put(s, u, (size_t)em__utf8_encode(cp, u));
}

static void put_u64(sink *s, uint64_t v)
{
    char tmp[24];
    int k = sizeof tmp;
    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(s, tmp + k, sizeof tmp - (size_t)k);
}

static void put_i64(sink *s, int64_t v)
{
    if (v < 0) {
        putch(s, '-');
        put_u64(s, (uint64_t)0 - (uint64_t)v);
    } else {
        put_u64(s, (uint64_t)v);
    }
}

/* ---- characters, strings, atoms ---- */

/* io_lib's printable Latin-1 character (io_lib:printable_latin1_list). */
static bool printable_latin1(uint64_t c)
{
    return (c >= 32 && c <= 126) || (c >= 160 && c <= 255) || c == '\n' ||
           c == '\r' || c == '\t' || c == '\v' || c == '\b' || c == '\f' ||
           c == 0x1b;
}

/* One character inside quotes q (' or "), escaped as io_lib does. */
static void put_quoted_char(sink *s, uint32_t c, char q)
{
    char e = 0;
    if (c == (uint32_t)q || c == '\\') {
        char esc[2] = {'\\', (char)c};
        put(s, esc, 2);
        return;
    }
    if ((c >= 32 && c <= 126)) {
        putch(s, (char)c);
        return;
    }
    if (c >= 160 && c <= 255) {
        put_cp(s, c);
        return;
    }
    switch (c) {
    case '\n': e = 'n'; break;
    case '\r': e = 'r'; break;
    case '\t': e = 't'; break;
    case '\v': e = 'v'; break;
    case '\b': e = 'b'; break;
    case '\f': e = 'f'; break;
    case 0x1b: e = 'e'; break;
    case 0x7f: e = 'd'; break;
    default: break;
    }
    if (e) {
        char esc[2] = {'\\', e};
        put(s, esc, 2);
    } else if (c < 160) {
        char oct[4] = {'\\', (char)('0' + (c >> 6)), (char)('0' + ((c >> 3) & 7)),
                       (char)('0' + (c & 7))};
        put(s, oct, 4);
    } else {
        char hex[16];
        int n = snprintf(hex, sizeof hex, "\\x{%X}", (unsigned)c);
        put(s, hex, (size_t)n);
    }
}

/* erl_scan's lower-case start and name characters (Latin-1 letters). */
static bool atom_start(uint32_t c) { return (c >= 'a' && c <= 'z') || (c >= 0xdf && c <= 0xff && c != 0xf7); }
static bool atom_char(uint32_t c)
{
    return atom_start(c) || (c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7) ||
           (c >= '0' && c <= '9') || c == '_' || c == '@';
}

/* Next code point of atom text that is UTF-8 (utf8) or Latin-1. */
static uint32_t next_cp(const uint8_t *t, size_t n, size_t *i, bool utf8)
{
    uint32_t c = t[*i];
    if (utf8 && c >= 0x80) {
        int k = em__utf8_decode(t + *i, n - *i, &c);
        if (k > 0) {
            *i += (size_t)k;
            return c;
        }
        c = t[*i]; /* not UTF-8: take the byte (cannot happen for interned atoms) */
    }
    (*i)++;
    return c;
}

static void put_atom_text(sink *s, const uint8_t *t, size_t n, bool utf8)
{
    bool quote = n == 0;
    size_t i = 0;
    if (!quote) {
        quote = !atom_start(next_cp(t, n, &i, utf8));
        while (!quote && i < n)
            quote = !atom_char(next_cp(t, n, &i, utf8));
        if (!quote)
            quote = em__lex_reserved((const char *)t, n);
    }
    if (!quote) {
        /* all characters are Latin-1: write them as characters */
        for (i = 0; i < n;)
            put_cp(s, next_cp(t, n, &i, utf8));
        return;
    }
    putch(s, '\'');
    for (i = 0; i < n;)
        put_quoted_char(s, next_cp(t, n, &i, utf8), '\'');
    putch(s, '\'');
}

static void put_atom(sink *s, em_term a)
{
    const em__atom_info *ai = em__atom_get(em__atom_ix(a));
    put_atom_text(s, (const uint8_t *)ai->text, ai->len, true);
}

/* ---- floats ---- */

static bool round_trips(uint64_t m, int e10, double v)
{
    char buf[48];
    /* "<digits>e<exp>" has no decimal point, so the locale cannot matter */
    snprintf(buf, sizeof buf, "%llue%d", (unsigned long long)m, e10);
    return strtod(buf, NULL) == v;
}

/* The shortest decimal digits that read back as v (v > 0, finite), and
 * among those the closest to v: the digits (no trailing zeros) in out,
 * their count returned, and *place such that v = 0.DIGITS * 10^place. */
static int shortest_digits(double v, char out[24], int *place)
{
    static const uint64_t pow10[] = {
        1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
        1000000000, 10000000000ull, 100000000000ull, 1000000000000ull,
        10000000000000ull, 100000000000000ull, 1000000000000000ull,
        10000000000000000ull, 100000000000000000ull};
    uint64_t m = 0;
    int e10 = 0; /* value = m * 10^e10 */
    int p;
    for (p = 1; p <= 17; p++) {
        /* The correctly rounded p-digit decimal: parse %.*e output without
         * relying on the decimal point character. */
        char buf[64];
        snprintf(buf, sizeof buf, "%.*e", p - 1, v);
        const char *q = buf;
        m = 0;
        while (*q && *q != 'e') {
            if (*q >= '0' && *q <= '9')
                m = m * 10 + (uint64_t)(*q - '0');
            q++;
        }
        int x = *q ? atoi(q + 1) : 0;
        e10 = x - (p - 1);
        if (round_trips(m, e10, v))
            break;
        /* Where the interval of values that read back as v is lopsided
         * (v a power of two) the nearest p-digit decimal can fall outside
         * it while its neighbour on the other side of v is inside. */
        uint64_t up = m + 1, dn = m - 1;
        int eup = e10, edn = e10;
        if (up == pow10[p]) {
            up = pow10[p - 1];
            eup++;
        }
        if (dn < pow10[p - 1]) {
            dn = pow10[p] - 1;
            edn--;
        }
        if (round_trips(up, eup, v)) {
            m = up;
            e10 = eup;
            break;
        }
        if (round_trips(dn, edn, v)) {
            m = dn;
            e10 = edn;
            break;
        }
    }
    while (m % 10 == 0 && m != 0) {
        m /= 10;
        e10++;
    }
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    *place = e10 + n;
    return n;
}

/* io_lib_format:fwrite_g: the shortest digits S (L of them) with decimal
 * exponent Place (value = 0.S * 10^Place), written in fixed notation when
 * that is not longer than scientific, and scientific for |v| >= 2^53,
 * where fixed notation would show digits that are not significant. */
static void format_float(double v, char *out, size_t cap)
{
    size_t o = 0;
#define OUT(c) do { if (o + 1 < cap) out[o++] = (c); } while (0)
    if (v == 0) {
        snprintf(out, cap, "%s", signbit(v) ? "-0.0" : "0.0");
        return;
    }
    if (v < 0) {
        OUT('-');
        v = -v;
    }
    char d[24];
    int place;
    int L = shortest_digits(v, d, &place);
    char expl[16];
    int explen = snprintf(expl, sizeof expl, "%d", place - 1);
    int exp_cost = explen + 1 + (L == 1 ? 2 : 1); /* "e" + exp + ".0"/"." */
    bool sci;
    if (v >= 9007199254740992.0)
        sci = true;
    else if (place <= 0)
        sci = 2 - place > exp_cost;           /* 0.000ddd vs d.ddde-N */
    else if (place >= L)
        sci = place - L + 2 > exp_cost;       /* ddd000.0 vs d.ddde+N */
    else
        sci = false;                          /* ddd.ddd */
    if (sci) {
        OUT(d[0]);
        OUT('.');
        if (L == 1)
            OUT('0');
        for (int i = 1; i < L; i++)
            OUT(d[i]);
        OUT('e');
        for (int i = 0; i < explen; i++)
            OUT(expl[i]);
    } else if (place <= 0) {
        OUT('0');
        OUT('.');
        for (int i = 0; i < -place; i++)
            OUT('0');
        for (int i = 0; i < L; i++)
            OUT(d[i]);
    } else if (place >= L) {
        for (int i = 0; i < L; i++)
            OUT(d[i]);
        for (int i = L; i < place; i++)
            OUT('0');
        OUT('.');
        OUT('0');
    } else {
        for (int i = 0; i < L; i++) {
            if (i == place)
                OUT('.');
            OUT(d[i]);
        }
    }
    out[o] = '\0';
#undef OUT
}

/* ---- identifiers and funs ---- */

/* The number written for the node of a pid, port or reference. */
static uint64_t node_number(em_term node, uint32_t creation)
{
    uint32_t lc;
    em_term local = em_local_node(&lc);
    if (node == local && creation == lc)
        return 0;
    return (uint64_t)em__atom_ix(node) + 1;
}

static void put_pid(sink *s, em_term t)
{
    em_term node;
    uint32_t id, serial, creation;
    em_pid_parts(t, &node, &id, &serial, &creation);
    putch(s, '<');
    put_u64(s, em__is_local_pid(t) ? 0 : node_number(node, creation));
    putch(s, '.');
    put_u64(s, id);
    putch(s, '.');
    put_u64(s, serial);
    putch(s, '>');
}

static void put_port(sink *s, const em__port *p)
{
    puts_(s, "#Port<");
    put_u64(s, node_number(p->node, p->creation));
    putch(s, '.');
    put_u64(s, p->id);
    putch(s, '>');
}

static void put_ref(sink *s, const em__ref *r)
{
    uint64_t nn = node_number(r->node, r->creation);
    uint32_t n = r->n;
    puts_(s, "#Ref<");
    put_u64(s, nn);
    /* erts keeps local references in at least three words */
    if (nn == 0)
        for (uint32_t i = n; i < 3; i++)
            puts_(s, ".0");
    for (uint32_t i = n; i-- > 0;) {
        putch(s, '.');
        put_u64(s, r->w[i]);
    }
    putch(s, '>');
}

/* A tiny reader for the external-format fields of a fun. */
typedef struct rd {
    const uint8_t *p;
    size_t n, i;
    bool bad;
} rd;

static uint64_t rd_be(rd *r, size_t k)
{
    uint64_t v = 0;
    if (r->n - r->i < k) {
        r->bad = true;
        r->i = r->n;
        return 0;
    }
    for (size_t j = 0; j < k; j++)
        v = v << 8 | r->p[r->i++];
    return v;
}

/* An atom: its text, length and encoding. */
static bool rd_atom(rd *r, const uint8_t **t, size_t *len, bool *utf8)
{
    unsigned tag = (unsigned)rd_be(r, 1);
    size_t n;
    switch (tag) {
    case 100: n = (size_t)rd_be(r, 2); *utf8 = false; break; /* ATOM_EXT */
    case 115: n = (size_t)rd_be(r, 1); *utf8 = false; break; /* SMALL_ATOM_EXT */
    case 118: n = (size_t)rd_be(r, 2); *utf8 = true; break;  /* ATOM_UTF8_EXT */
    case 119: n = (size_t)rd_be(r, 1); *utf8 = true; break;  /* SMALL_ATOM_UTF8_EXT */
    default: r->bad = true; return false;
    }
    if (r->bad || r->n - r->i < n) {
        r->bad = true;
        return false;
    }
    *t = r->p + r->i;
    *len = n;
    r->i += n;
    return true;
}

/* A small integer field (SMALL_INTEGER_EXT, INTEGER_EXT, SMALL_BIG_EXT). */
static int64_t rd_int(rd *r)
{
    unsigned tag = (unsigned)rd_be(r, 1);
    if (tag == 97)
        return (int64_t)rd_be(r, 1);
    if (tag == 98)
        return (int32_t)(uint32_t)rd_be(r, 4);
    if (tag == 110) {
        size_t n = (size_t)rd_be(r, 1);
        bool neg = rd_be(r, 1) != 0;
        uint64_t v = 0;
        if (n > 8 || r->n - r->i < n) {
            r->bad = true;
            return 0;
        }
        for (size_t j = 0; j < n; j++)
            v |= (uint64_t)r->p[r->i++] << (8 * j);
        return neg ? -(int64_t)v : (int64_t)v;
    }
    r->bad = true;
    return 0;
}

/* An export fun's module or function name, as erts prints it (OTP 25):
 * quoted by the usual rules applied to the atom's characters, but written
 * as the atom's UTF-8 bytes, one character per byte: fun 'Ω':f/0 comes out
 * as the characters ' 206 169 ', and fun ä:ö/1 as 195 164 : 195 182. */
static void put_fun_name(sink *s, const uint8_t *t, size_t n, bool utf8)
{
    uint8_t buf[1024];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 2 <= sizeof buf; i++) {
        if (utf8 || t[i] < 0x80) {
            buf[k++] = t[i];
        } else {
            buf[k++] = (uint8_t)(0xc0 | (t[i] >> 6));
            buf[k++] = (uint8_t)(0x80 | (t[i] & 0x3f));
        }
    }
    size_t i = 0;
    bool quote = k == 0;
    if (!quote) {
        quote = !atom_start(next_cp(buf, k, &i, true));
        while (!quote && i < k)
            quote = !atom_char(next_cp(buf, k, &i, true));
        if (!quote)
            quote = em__lex_reserved((const char *)buf, k);
    }
    if (quote)
        putch(s, '\'');
    for (i = 0; i < k; i++) {
        if (quote && buf[i] < 0x80)
            put_quoted_char(s, buf[i], '\'');
        else
            put_cp(s, buf[i]);
    }
    if (quote)
        putch(s, '\'');
}

static void put_fun(sink *s, em_term t)
{
    size_t len;
    const uint8_t *b = em_fun_bytes(t, &len);
    rd r = {b, len, 0, false};
    unsigned tag = (unsigned)rd_be(&r, 1);
    const uint8_t *mt, *ft;
    size_t ml, fl;
    bool mu, fu;
    if (tag == 113) { /* EXPORT_EXT: fun M:F/A */
        if (rd_atom(&r, &mt, &ml, &mu) && rd_atom(&r, &ft, &fl, &fu)) {
            int64_t arity = rd_int(&r);
            if (!r.bad) {
                puts_(s, "fun ");
                put_fun_name(s, mt, ml, mu);
                putch(s, ':');
                put_fun_name(s, ft, fl, fu);
                putch(s, '/');
                put_i64(s, arity);
                return;
            }
        }
    } else if (tag == 112) { /* NEW_FUN_EXT */
        rd_be(&r, 4 + 1 + 16 + 4 + 4); /* size, arity, uniq, index, numfree */
        if (rd_atom(&r, &mt, &ml, &mu)) {
            int64_t old_index = rd_int(&r);
            int64_t old_uniq = rd_int(&r);
            if (!r.bad) {
                puts_(s, "#Fun<");
                /* erts writes the module's bytes as they are, one
                 * character per byte, without quotes */
                for (size_t i = 0; i < ml; i++)
                    put_cp(s, mt[i]);
                putch(s, '.');
                put_i64(s, old_index);
                putch(s, '.');
                put_i64(s, old_uniq);
                putch(s, '>');
                return;
            }
        }
    }
    puts_(s, "#Fun<>"); /* bytes we cannot read: still print something */
}

/* ---- binaries ---- */

static void put_binary(sink *s, em_term t, int mode)
{
    size_t nbits;
    const uint8_t *d = em_binary_data(t, &nbits);
    size_t whole = nbits / 8, rest = nbits % 8;
    bool str = mode == EM_PRINT_P && rest == 0 && whole > 0;
    for (size_t i = 0; str && i < whole; i++)
        str = printable_latin1(d[i]);
    puts_(s, "<<");
    if (str) {
        putch(s, '"');
        for (size_t i = 0; i < whole; i++)
            put_quoted_char(s, d[i], '"');
        putch(s, '"');
    } else {
        for (size_t i = 0; i < whole; i++) {
            if (i)
                putch(s, ',');
            put_u64(s, d[i]);
        }
        if (rest) {
            if (whole)
                putch(s, ',');
            put_u64(s, (uint64_t)(d[whole] >> (8 - rest)));
            putch(s, ':');
            put_u64(s, rest);
        }
    }
    puts_(s, ">>");
}

/* ---- the walk ---- */

/* A non-empty proper list of printable Latin-1 characters. */
static bool printable_list(em_term l)
{
    if (l == EM_NIL)
        return false;
    while (em__kind(l) == EM__K_CONS) {
        const em__cons *c = (const em__cons *)em__box_of(l);
        if (!em__is_small(c->hd) || em__small_val(c->hd) < 0 ||
            !printable_latin1((uint64_t)em__small_val(c->hd)))
            return false;
        l = c->tl;
    }
    return l == EM_NIL;
}

static void put_string(sink *s, em_term l)
{
    putch(s, '"');
    for (; l != EM_NIL; l = ((const em__cons *)em__box_of(l))->tl)
        put_quoted_char(s, (uint32_t)em__small_val(((const em__cons *)em__box_of(l))->hd), '"');
    putch(s, '"');
}

enum { FR_TUPLE, FR_LIST, FR_LIST_END, FR_MAP_KEY, FR_MAP_VALUE };

typedef struct frame {
    em_term t;   /* the tuple or map; for lists the tail still to print */
    uint32_t i;  /* next element / pair */
    uint32_t kind;
} frame;

typedef struct fstack {
    frame *v;
    size_t n, cap;
    frame local[32];
} fstack;

static bool fpush(fstack *st, sink *s, em_term t, uint32_t i, uint32_t kind)
{
    if (st->n == st->cap) {
        size_t cap = st->cap * 2;
        frame *v = st->v == st->local ? malloc(cap * sizeof *v) : realloc(st->v, cap * sizeof *v);
        if (v == NULL) {
            s->err = EM_ENOMEM;
            return false;
        }
        if (st->v == st->local)
            memcpy(v, st->local, sizeof st->local);
        st->v = v;
        st->cap = cap;
    }
    st->v[st->n++] = (frame){t, i, kind};
    return true;
}

static void print_term(sink *s, em_term t, int mode)
{
    fstack st;
    st.v = st.local;
    st.n = 0;
    st.cap = sizeof st.local / sizeof st.local[0];
    bool have = true; /* t is a term still to print */
    while (!s->err && !s->full) {
        if (have) {
            have = false;
            if (em__is_small(t)) {
                put_i64(s, em__small_val(t));
            } else if (em__is_atom(t)) {
                put_atom(s, t);
            } else if (t == EM_NIL) {
                puts_(s, "[]");
            } else if (em__is_local_pid(t)) {
                put_pid(s, t);
            } else if (!em__is_box(t)) {
                s->err = EM_EINVAL;
            } else {
                switch (em__box_of(t)->kind) {
                case EM__K_BIG: {
                    /* A head needs no more digits than it has room for: a
                     * big integer's conversion costs its size squared. */
                    if (s->head && (size_t)((const em__big *)em__box_of(t))->n * 19 >= s->cap - s->len) {
                        s->full = true;
                        break;
                    }
                    em_buf tmp = EM_BUF_INIT;
                    if (em__int_to_decimal(t, &tmp) < 0)
                        s->err = EM_ENOMEM;
                    else
                        put(s, tmp.data, tmp.len);
                    em_buf_free(&tmp);
                    break;
                }
                case EM__K_FLOAT: {
                    char f[40];
                    format_float(((const em__float *)em__box_of(t))->v, f, sizeof f);
                    puts_(s, f);
                    break;
                }
                case EM__K_TUPLE: {
                    const em__tuple *tp = (const em__tuple *)em__box_of(t);
                    if (em__tuple_n(tp) == 0) {
                        puts_(s, "{}");
                    } else {
                        putch(s, '{');
                        if (fpush(&st, s, t, 1, FR_TUPLE)) {
                            t = em__tuple_e(tp)[0];
                            have = true;
                        }
                    }
                    break;
                }
                case EM__K_CONS: {
                    const em__cons *c = (const em__cons *)em__box_of(t);
                    if (mode == EM_PRINT_P && printable_list(t)) {
                        put_string(s, t);
                    } else {
                        putch(s, '[');
                        if (fpush(&st, s, c->tl, 0, FR_LIST)) {
                            t = c->hd;
                            have = true;
                        }
                    }
                    break;
                }
                case EM__K_MAP: {
                    const em__map *m = (const em__map *)em__box_of(t);
                    if (m->n == 0) {
                        puts_(s, "#{}");
                    } else {
                        puts_(s, "#{");
                        if (fpush(&st, s, t, 0, FR_MAP_KEY)) {
                            t = m->kv[0];
                            have = true;
                        }
                    }
                    break;
                }
                case EM__K_BIN:
                    put_binary(s, t, mode);
                    break;
                case EM__K_PID:
                    put_pid(s, t);
                    break;
                case EM__K_PORT:
                    put_port(s, (const em__port *)em__box_of(t));
                    break;
                case EM__K_REF:
                    put_ref(s, (const em__ref *)em__box_of(t));
                    break;
                case EM__K_FUN:
                    put_fun(s, t);
                    break;
                default:
                    s->err = EM_EINVAL;
                    break;
                }
            }
            continue;
        }
        /* t is done: continue with the innermost open compound */
        if (st.n == 0)
            break;
        frame *f = &st.v[st.n - 1];
        switch (f->kind) {
        case FR_TUPLE: {
            const em__tuple *tp = (const em__tuple *)em__box_of(f->t);
            if (f->i < em__tuple_n(tp)) {
                putch(s, ',');
                t = em__tuple_e(tp)[f->i++];
                have = true;
            } else {
                putch(s, '}');
                st.n--;
            }
            break;
        }
        case FR_LIST:
            if (em__kind(f->t) == EM__K_CONS) {
                const em__cons *c = (const em__cons *)em__box_of(f->t);
                putch(s, ',');
                t = c->hd;
                f->t = c->tl;
                have = true;
            } else if (f->t == EM_NIL) {
                putch(s, ']');
                st.n--;
            } else {
                putch(s, '|');
                t = f->t;
                f->kind = FR_LIST_END;
                have = true;
            }
            break;
        case FR_LIST_END:
            putch(s, ']');
            st.n--;
            break;
        case FR_MAP_KEY: {
            const em__map *m = (const em__map *)em__box_of(f->t);
            puts_(s, " => ");
            t = m->kv[2 * f->i + 1];
            f->kind = FR_MAP_VALUE;
            have = true;
            break;
        }
        case FR_MAP_VALUE: {
            const em__map *m = (const em__map *)em__box_of(f->t);
            if (++f->i < m->n) {
                putch(s, ',');
                t = m->kv[2 * f->i];
                f->kind = FR_MAP_KEY;
                have = true;
            } else {
                putch(s, '}');
                st.n--;
            }
            break;
        }
        }
    }
    if (st.v != st.local)
        free(st.v);
}

/* ---- public API ---- */

EM_API int em_print(char *buf, size_t cap, em_term t, int mode)
{
    if ((mode != EM_PRINT_P && mode != EM_PRINT_W) || t == EM_NONE || (buf == NULL && cap))
        return EM_EINVAL;
    sink s = {NULL, buf, cap, 0, 0, false, false};
    print_term(&s, t, mode);
    if (cap)
        buf[s.len < cap ? s.len : cap - 1] = '\0';
    if (s.err)
        return s.err;
    return s.len > (size_t)INT32_MAX ? EM_ENOMEM : (int)s.len;
}

size_t em__print_head(char *buf, size_t cap, em_term t, int mode)
{
    assert(buf != NULL && cap >= 4);
    sink s = {NULL, buf, cap - 3, 0, 0, true, false};
    if (t != EM_NONE)
        print_term(&s, t, mode);
    size_t n = s.len < cap - 4 ? s.len : cap - 4;
    if (s.full || s.err) {
        memcpy(buf + n, "...", 4);
        return n + 3;
    }
    buf[n] = '\0';
    return n;
}

EM_API int em_print_buf(em_buf *b, em_term t, int mode)
{
    if (b == NULL || (mode != EM_PRINT_P && mode != EM_PRINT_W) || t == EM_NONE)
        return EM_EINVAL;
    size_t len0 = b->len;
    sink s = {b, NULL, 0, 0, 0, false, false};
    print_term(&s, t, mode);
    if (s.err) {
        b->len = len0; /* leave the buffer as it was */
        return s.err;
    }
    return 0;
}

EM_API char *em_print_alloc(em_term t, int mode)
{
    em_buf b = EM_BUF_INIT;
    if (em_print_buf(&b, t, mode) < 0 || em_buf_append(&b, "", 1) < 0) {
        em_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

EM_API int em_vformat(em_buf *b, const char *fmt, va_list ap)
{
    if (b == NULL || fmt == NULL)
        return EM_EINVAL;
    size_t len0 = b->len;
    int rc = 0;
    for (const char *p = fmt; *p && rc == 0; p++) {
        const char *q = p;
        while (*q && *q != '~')
            q++;
        if (q > p && (rc = em_buf_append(b, p, (size_t)(q - p))) < 0)
            break;
        if (*q == '\0')
            break;
        p = q + 1;
        switch (*p) {
        case 'p':
        case 'w':
            rc = em_print_buf(b, va_arg(ap, em_term), *p == 'p' ? EM_PRINT_P : EM_PRINT_W);
            break;
        case 's': {
            const char *str = va_arg(ap, const char *);
            rc = em_buf_append(b, str ? str : "", str ? strlen(str) : 0);
            break;
        }
        case 'n':
            rc = em_buf_append(b, "\n", 1);
            break;
        case '~':
            rc = em_buf_append(b, "~", 1);
            break;
        default: /* includes a lone '~' at the end */
            rc = EM_EINVAL;
            break;
        }
    }
    if (rc < 0) {
        b->len = len0;
        return rc;
    }
    return 0;
}

EM_API int em_format(em_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = em_vformat(b, fmt, ap);
    va_end(ap);
    return rc;
}

static int vfprint(FILE *f, const char *fmt, va_list ap)
{
    if (f == NULL)
        return EM_EINVAL;
    em_buf b = EM_BUF_INIT;
    int rc = em_vformat(&b, fmt, ap);
    if (rc == 0 && b.len && fwrite(b.data, 1, b.len, f) != b.len)
        rc = EM_EIO;
    if (fflush(f) != 0 && rc == 0)
        rc = EM_EIO;
    em_buf_free(&b);
    return rc;
}

EM_API int em_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfprint(stdout, fmt, ap);
    va_end(ap);
    return rc;
}

EM_API int em_fprintf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfprint(f, fmt, ap);
    va_end(ap);
    return rc;
}
