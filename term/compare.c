/* compare.c: Erlang's term order, exact equality and hashing.
 *
 * Order (as OTP 25): number < atom < reference < fun < port < pid < tuple
 * < map < [] < list < bitstring.  Within a type, as erts does it:
 *  - integers and floats by value (== mode) or integers before floats
 *    (exact mode, used for map keys); 0.0 and -0.0 are equal (OTP 25);
 *  - atoms by their text (UTF-8 byte order is code point order);
 *  - pids by serial, then id, then node name, then creation; ports by id,
 *    node, creation; references by word count, words from the most
 *    significant, node, creation (observed on OTP 25.2.3);
 *  - tuples by size then elements; maps by size, then keys in exact order,
 *    then values; lists element by element; bitstrings bit by bit, a prefix
 *    first; funs by their external bytes (an approximation: OTP orders funs
 *    by module, index and free variables).
 * Everything walks an explicit stack: no recursion on the C stack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "term_int.h"

typedef struct pair {
    em_term a, b;
    bool exact;
} pair;

typedef struct pstack {
    pair *v;
    size_t n, cap;
    pair local[48];
} pstack;

static void ps_push(pstack *s, em_term a, em_term b, bool exact)
{
    if (a == b)
        return; /* the same word is the same term */
    if (s->n == s->cap) {
        size_t cap = s->cap * 2;
        pair *v = s->v == s->local ? malloc(cap * sizeof *v) : realloc(s->v, cap * sizeof *v);
        if (v == NULL) {
            /* Comparison cannot fail in its contract; running out of memory
             * while comparing terms deeper than the local stack is fatal. */
            fputs("ember: out of memory comparing terms\n", stderr);
            abort();
        }
        if (s->v == s->local)
            memcpy(v, s->local, s->n * sizeof *v);
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (pair){a, b, exact};
}

static int cmp_atoms(em_term a, em_term b)
{
    if (a == b)
        return 0;
    const em__atom_info *x = em__atom_get(em__atom_ix(a)), *y = em__atom_get(em__atom_ix(b));
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->text, y->text, n);
    if (c)
        return c < 0 ? -1 : 1;
    return (x->len > y->len) - (x->len < y->len);
}

#define CMP3(x, y) (((x) > (y)) - ((x) < (y)))

static int cmp_nodes(em_term na, uint32_t ca, em_term nb, uint32_t cb)
{
    int c = cmp_atoms(na, nb);
    return c ? c : CMP3(ca, cb);
}

static int cmp_floats(double x, double y)
{
    return CMP3(x, y); /* 0.0 == -0.0, as OTP 25 */
}

static int cmp_numbers(em_term a, em_term b, bool exact)
{
    bool fa = em__kind(a) == EM__K_FLOAT, fb = em__kind(b) == EM__K_FLOAT;
    if (fa && fb)
        return cmp_floats(((em__float *)em__box_of(a))->v, ((em__float *)em__box_of(b))->v);
    if (!fa && !fb)
        return em__big_cmp(a, b);
    if (exact)
        return fa ? 1 : -1;
    if (fb)
        return em__int_cmp_float(a, ((em__float *)em__box_of(b))->v);
    return -em__int_cmp_float(b, ((em__float *)em__box_of(a))->v);
}

static int cmp_bits(const em__bin *x, const em__bin *y)
{
    size_t xb = x->size * 8 - x->h.aux, yb = y->size * 8 - y->h.aux;
    size_t bits = xb < yb ? xb : yb, whole = bits / 8;
    int c = memcmp(x->data, y->data, whole);
    if (c)
        return c < 0 ? -1 : 1;
    if (bits % 8) {
        uint8_t m = (uint8_t)(0xff << (8 - bits % 8));
        c = CMP3(x->data[whole] & m, y->data[whole] & m);
        if (c)
            return c;
    }
    return CMP3(xb, yb);
}

static void pid_parts(em_term t, em_term *node, uint32_t *id, uint32_t *serial, uint32_t *cr)
{
    em_pid_parts(t, node, id, serial, cr);
}

/* Compare two terms of the same type rank; pushes sub-pairs for compound
 * terms and returns 0 for them once their own headers are equal. */
static int cmp_one(pstack *s, em_term a, em_term b, bool exact)
{
    int ra = em__type_rank(a), rb = em__type_rank(b);
    if (ra != rb)
        return CMP3(ra, rb);
    switch (ra) {
    case EM_TYPE_INTEGER: /* and floats: numbers share a rank */
        return cmp_numbers(a, b, exact);
    case EM_TYPE_ATOM:
        return cmp_atoms(a, b);
    case EM_TYPE_NIL:
        return 0;
    case EM_TYPE_PID: {
        em_term na, nb;
        uint32_t ia, ib, sa, sb, ca, cb;
        pid_parts(a, &na, &ia, &sa, &ca);
        pid_parts(b, &nb, &ib, &sb, &cb);
        int c = CMP3(sa, sb);
        if (!c) c = CMP3(ia, ib);
        return c ? c : cmp_nodes(na, ca, nb, cb);
    }
    case EM_TYPE_PORT: {
        const em__port *x = (const em__port *)em__box_of(a), *y = (const em__port *)em__box_of(b);
        int c = CMP3(x->id, y->id);
        return c ? c : cmp_nodes(x->node, x->creation, y->node, y->creation);
    }
    case EM_TYPE_REF: {
        const em__ref *x = (const em__ref *)em__box_of(a), *y = (const em__ref *)em__box_of(b);
        int c = CMP3(x->n, y->n);
        for (uint32_t i = x->n; !c && i-- > 0;)
            c = CMP3(x->w[i], y->w[i]);
        return c ? c : cmp_nodes(x->node, x->creation, y->node, y->creation);
    }
    case EM_TYPE_FUN: {
        const em__fun *x = (const em__fun *)em__box_of(a), *y = (const em__fun *)em__box_of(b);
        int c = memcmp(x->b, y->b, x->len < y->len ? x->len : y->len);
        return c ? (c < 0 ? -1 : 1) : CMP3(x->len, y->len);
    }
    case EM_TYPE_TUPLE: {
        const em__tuple *x = (const em__tuple *)em__box_of(a), *y = (const em__tuple *)em__box_of(b);
        uint32_t xn = em__tuple_n(x), yn = em__tuple_n(y);
        if (xn != yn)
            return CMP3(xn, yn);
        const em_term *xe = em__tuple_e(x), *ye = em__tuple_e(y);
        for (uint32_t i = xn; i-- > 0;)
            ps_push(s, xe[i], ye[i], exact);
        return 0;
    }
    case EM_TYPE_MAP: {
        const em__map *x = (const em__map *)em__box_of(a), *y = (const em__map *)em__box_of(b);
        if (x->n != y->n)
            return CMP3(x->n, y->n);
        /* Keys first (all of them, exactly), then the values: pushed in
         * reverse so they pop in that order. */
        for (uint32_t i = x->n; i-- > 0;)
            ps_push(s, x->kv[2 * i + 1], y->kv[2 * i + 1], exact);
        for (uint32_t i = x->n; i-- > 0;)
            ps_push(s, x->kv[2 * i], y->kv[2 * i], true);
        return 0;
    }
    case EM_TYPE_LIST: {
        const em__cons *x = (const em__cons *)em__box_of(a), *y = (const em__cons *)em__box_of(b);
        ps_push(s, x->tl, y->tl, exact);
        ps_push(s, x->hd, y->hd, exact);
        return 0;
    }
    case EM_TYPE_BINARY:
        return cmp_bits((const em__bin *)em__box_of(a), (const em__bin *)em__box_of(b));
    default:
        return 0;
    }
}

static int compare(em_term a, em_term b, bool exact)
{
    pstack s;
    s.v = s.local;
    s.n = 0;
    s.cap = sizeof s.local / sizeof s.local[0];
    int c = 0;
    ps_push(&s, a, b, exact);
    while (s.n && c == 0) {
        pair p = s.v[--s.n];
        c = cmp_one(&s, p.a, p.b, p.exact);
    }
    if (s.v != s.local)
        free(s.v);
    return c;
}

EM_API int em_compare(em_term a, em_term b)
{
    return compare(a, b, false);
}

EM_API int em_compare_exact(em_term a, em_term b)
{
    return compare(a, b, true);
}

EM_API bool em_equal(em_term a, em_term b)
{
    return a == b || compare(a, b, true) == 0;
}

/* ---- hashing ---- */

static inline uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdu;
    return h ^ (h >> 32);
}

static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
    uint64_t x = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        x = (x ^ p[i]) * 0x100000001b3u;
    return mix(h, x ^ n);
}

EM_API uint64_t em_hash(em_term t)
{
    em_term local[64], *st = local;
    size_t n = 0, cap = 64;
    uint64_t h = 0x1234567;
    st[n++] = t;
    while (n) {
        em_term x = st[--n];
        int r = (int)em_typeof(x);
        h = mix(h, (uint64_t)r);
        em_term kids[2];
        const em_term *more = NULL;
        size_t nmore = 0;
        switch (r) {
        case EM_TYPE_INTEGER: {
            if (em__is_small(x)) {
                h = mix(h, x);
            } else {
                const em__big *b = (const em__big *)em__box_of(x);
                h = mix(h, b->h.aux);
                h = hash_bytes(h, (const uint8_t *)b->d, b->n * sizeof(uint64_t));
            }
            break;
        }
        case EM_TYPE_FLOAT: {
            double d = ((em__float *)em__box_of(x))->v;
            if (d == 0.0)
                d = 0.0; /* -0.0 =:= 0.0 in OTP 25 */
            uint64_t bits;
            memcpy(&bits, &d, sizeof bits);
            h = mix(h, bits);
            break;
        }
        case EM_TYPE_ATOM:
        case EM_TYPE_NIL:
            h = mix(h, x);
            break;
        case EM_TYPE_PID: {
            em_term node;
            uint32_t id, serial, cr;
            pid_parts(x, &node, &id, &serial, &cr);
            h = mix(mix(mix(mix(h, node), id), serial), cr);
            break;
        }
        case EM_TYPE_PORT: {
            const em__port *p = (const em__port *)em__box_of(x);
            h = mix(mix(mix(h, p->node), p->id), p->creation);
            break;
        }
        case EM_TYPE_REF: {
            const em__ref *p = (const em__ref *)em__box_of(x);
            h = mix(mix(h, p->node), p->creation);
            h = hash_bytes(h, (const uint8_t *)p->w, p->n * sizeof(uint32_t));
            break;
        }
        case EM_TYPE_FUN: {
            const em__fun *f = (const em__fun *)em__box_of(x);
            h = hash_bytes(h, f->b, f->len);
            break;
        }
        case EM_TYPE_BINARY: {
            const em__bin *b = (const em__bin *)em__box_of(x);
            h = mix(h, b->h.aux);
            h = hash_bytes(h, b->data, b->size);
            break;
        }
        case EM_TYPE_TUPLE: {
            const em__tuple *tp = (const em__tuple *)em__box_of(x);
            h = mix(h, em__tuple_n(tp));
            more = em__tuple_e(tp);
            nmore = em__tuple_n(tp);
            break;
        }
        case EM_TYPE_MAP: {
            const em__map *m = (const em__map *)em__box_of(x);
            h = mix(h, m->n);
            more = m->kv;
            nmore = 2 * (size_t)m->n;
            break;
        }
        case EM_TYPE_LIST: {
            const em__cons *c = (const em__cons *)em__box_of(x);
            kids[0] = c->tl;
            kids[1] = c->hd;
            more = kids;
            nmore = 2;
            break;
        }
        default:
            break;
        }
        if (nmore) {
            if (n + nmore > cap) {
                size_t ncap = cap;
                while (ncap < n + nmore)
                    ncap *= 2;
                em_term *v = st == local ? malloc(ncap * sizeof *v) : realloc(st, ncap * sizeof *v);
                if (v == NULL) {
                    fputs("ember: out of memory hashing a term\n", stderr);
                    abort();
                }
                if (st == local)
                    memcpy(v, local, n * sizeof *v);
                st = v;
                cap = ncap;
            }
            for (size_t i = nmore; i-- > 0;)
                st[n++] = more[i];
        }
    }
    if (st != local)
        free(st);
    return h;
}
