/* etf_decode.c: the external term format to terms (em_etf_decode,
 * em_etf_decode_bin).
 *
 * Decoding takes two passes over the input:
 *  1. scan() validates everything (tags, lengths against the remaining
 *     input, UTF-8 and length of atoms, nesting depth, funs' inner layout)
 *     and adds up the bytes every box of the result will take.  It
 *     allocates nothing but its own stack, whose size is bounded by the
 *     input, so hostile length fields cost nothing.
 *  2. build() allocates ONE arena of exactly that size and builds the term
 *     top-down inside it: each container's box is laid out when its header
 *     is read and the children are written into its slots.  Only atom
 *     interning and duplicate map keys can still fail here.
 * One allocation per term makes decoding fast and makes dropping a decoded
 * message one free() (term.h: a decoded term lives in one allocation).
 * Decoding from a binary term (em_etf_decode_bin), large binaries are not
 * copied into the arena: they point into the input, which the arena then
 * holds (share_bin).
 *
 * Neither pass recurses: both keep an explicit stack of open containers,
 * so a term nested 100,000 deep decodes on a small process stack. */
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <ember/etf.h>

#include "box.h"
#include "inflate.h"

/* Tags (erlang-distribution.md, section 5.1). */
enum {
    TAG_VERSION = 131,
    TAG_NEW_FLOAT = 70,
    TAG_BIT_BINARY = 77,
    TAG_COMPRESSED = 80,
    TAG_ATOM_CACHE_REF = 82,
    TAG_NEW_PID = 88,
    TAG_NEW_PORT = 89,
    TAG_NEWER_REFERENCE = 90,
    TAG_SMALL_INTEGER = 97,
    TAG_INTEGER = 98,
    TAG_FLOAT = 99,
    TAG_ATOM = 100,
    TAG_REFERENCE = 101,
    TAG_PORT = 102,
    TAG_PID = 103,
    TAG_SMALL_TUPLE = 104,
    TAG_LARGE_TUPLE = 105,
    TAG_NIL = 106,
    TAG_STRING = 107,
    TAG_LIST = 108,
    TAG_BINARY = 109,
    TAG_SMALL_BIG = 110,
    TAG_LARGE_BIG = 111,
    TAG_NEW_FUN = 112,
    TAG_EXPORT = 113,
    TAG_NEW_REFERENCE = 114,
    TAG_SMALL_ATOM = 115,
    TAG_MAP = 116,
    TAG_ATOM_UTF8 = 118,
    TAG_SMALL_ATOM_UTF8 = 119,
    TAG_V4_PORT = 120
};

#define FLOAT_EXT_LEN 31 /* FLOAT_EXT: "%.20e" text, NUL padded */
#define MAX_REF_WORDS 5
#define ATOM_MAX_CHARS 255
/* NEW_FUN_EXT: Size counts itself (4), Arity (1), Uniq (16), Index (4) and
 * NumFree (4) before the module atom. */
#define FUN_FIXED 29
/* No DEFLATE stream expands more than 1032:1 (258-byte matches coded in 2
 * bits); a stated size beyond that is a lie we refuse before allocating. */
#define INFLATE_MAX_RATIO 1032

#define ALIGN8(x) (((x) + 7) & ~(size_t)7)
#define SZ_TUPLE(n) (sizeof(em__tuple) + (size_t)(n) * sizeof(em_term))
#define SZ_MAP(n) (sizeof(em__map) + (size_t)(n) * 2 * sizeof(em_term))
#define SZ_BIN(n) ALIGN8(sizeof(em__bin) + (size_t)(n))
#define SZ_BIG(limbs) (sizeof(em__big) + (size_t)(limbs) * sizeof(uint64_t))
#define SZ_FUN(n) ALIGN8(sizeof(em__fun) + (size_t)(n))
#define ARENA_HEAD ALIGN8(sizeof(em__arena))

/* Every box size above is a multiple of 8, so boxes laid out one after the
 * other stay 8-aligned (em_term tags need it). */
_Static_assert(sizeof(em__cons) == 3 * sizeof(em_term), "cons slot stride");
_Static_assert(sizeof(em__tuple) % 8 == 0 && sizeof(em__map) % 8 == 0 &&
                   sizeof(em__big) % 8 == 0 && sizeof(em__float) % 8 == 0,
               "box sizes keep 8-byte alignment");

/* An open container.
 * scan:  left = items still to read; fun_end = where an open fun must end
 *        (0 for other containers).
 * build: next = slot the next item goes to; left = slots still to hand
 *        out; kind says how `next` advances (and MAP that the keys must be
 *        checked when the map is complete). */
enum { FR_SEQ, FR_LIST, FR_MAP, FR_FUN };
typedef struct frame {
    em_term *next;
    size_t left;
    size_t fun_end;
    em__map *map;
    int kind;
} frame;

#define STACK_INLINE 32

typedef struct stack {
    frame *v;
    size_t n, cap;
    frame inl[STACK_INLINE];
} stack;

static void stack_init(stack *s)
{
    s->v = s->inl;
    s->n = 0;
    s->cap = STACK_INLINE;
}

static void stack_fini(stack *s)
{
    if (s->v != s->inl)
        free(s->v);
}

static int stack_grow(stack *s, size_t want)
{
    size_t cap = s->cap;
    while (cap < want)
        cap *= 2;
    frame *v = s->v == s->inl ? malloc(cap * sizeof *v)
                              : realloc(s->v, cap * sizeof *v);
    if (v == NULL)
        return EM_ENOMEM;
    if (s->v == s->inl)
        memcpy(v, s->inl, s->n * sizeof *v);
    s->v = v;
    s->cap = cap;
    return 0;
}

/* Room for `want` frames; the check inline, the growing (rare) not. */
static inline int stack_reserve(stack *s, size_t want)
{
    return want <= s->cap ? 0 : stack_grow(s, want);
}

static inline uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- pieces shared by both passes ---- */

/* Check the text of an atom with tag `tag`. */
static int atom_check(unsigned tag, const uint8_t *s, size_t n)
{
    if (tag == TAG_ATOM || tag == TAG_SMALL_ATOM) /* Latin-1: 1 byte, 1 char */
        return n > ATOM_MAX_CHARS ? EM_EATOMLEN : 0;
    size_t chars = 0;
    for (size_t i = 0; i < n; chars++) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int k = em__utf8_decode(s + i, n - i, &cp);
        if (k == 0)
            return EM_EBADATOM;
        i += (size_t)k;
    }
    return chars > ATOM_MAX_CHARS ? EM_EATOMLEN : 0;
}

/* Validate the atom whose tag is at buf[*pos] and move past it.  A tag
 * that is not an atom is EM_EBADTERM (a node or module must be an atom),
 * except ATOM_CACHE_REF, which is a tag this decoder does not accept. */
static int atom_skip(const uint8_t *buf, size_t len, size_t *pos)
{
    size_t p = *pos;
    if (p >= len)
        return EM_ETRUNC;
    unsigned tag = buf[p++];
    size_t n;
    if (tag == TAG_ATOM || tag == TAG_ATOM_UTF8) {
        if (len - p < 2)
            return EM_ETRUNC;
        n = get16(buf + p);
        p += 2;
    } else if (tag == TAG_SMALL_ATOM || tag == TAG_SMALL_ATOM_UTF8) {
        if (len - p < 1)
            return EM_ETRUNC;
        n = buf[p++];
    } else {
        return tag == TAG_ATOM_CACHE_REF ? EM_EBADTAG : EM_EBADTERM;
    }
    if (n > len - p)
        return EM_ELENGTH;
    int rc = atom_check(tag, buf + p, n);
    if (rc < 0)
        return rc;
    *pos = p + n;
    return 0;
}

/* A small per-thread cache of recently decoded atoms, in front of the
 * atom table.  Messages repeat the same few atoms (node names, map keys,
 * tags), and a cache probe (a cheap index, one compare of the text) costs
 * far less than hashing the name for the table.  Entries stay valid
 * forever: atoms and their text are never freed.  Two ways per set: with
 * one, two common atoms that share a set (a map's keys `name` and `age`
 * do) would evict each other on every message. */
#define ACACHE_SETS 128
typedef struct acache_entry {
    const char *text; /* the atom's UTF-8 text (NULL: empty entry) */
    size_t len;
    em_term atom;
} acache_entry;
static _Thread_local acache_entry acache[ACACHE_SETS][2];

static inline unsigned acache_index(const uint8_t *s, size_t n)
{
    if (n == 0)
        return 0;
    return (unsigned)(n * 31u + s[0] * 7u + s[n - 1] * 13u + s[n / 2]) % ACACHE_SETS;
}

/* Short atom texts (most are 2..16 bytes) are compared and checked for
 * ASCII with two overlapping word loads (or a few bytes) instead of a
 * call or a loop; both only read s[0 .. n) and t[0 .. n). */
static inline uint64_t load64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint32_t load32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline bool text_eq(const char *t, const uint8_t *s, size_t n)
{
    if (n >= 8 && n <= 16)
        return ((load64(t) ^ load64(s)) |
                (load64(t + n - 8) ^ load64(s + n - 8))) == 0;
    if (n >= 4 && n < 8)
        return ((load32(t) ^ load32(s)) |
                (load32(t + n - 4) ^ load32(s + n - 4))) == 0;
    if (n < 4) {
        unsigned d = 0;
        for (size_t i = 0; i < n; i++)
            d |= (unsigned)((uint8_t)t[i] ^ s[i]);
        return d == 0;
    }
    return memcmp(t, s, n) == 0;
}

static inline bool is_ascii(const uint8_t *s, size_t n)
{
    if (n >= 8 && n <= 16)
        return ((load64(s) | load64(s + n - 8)) & UINT64_C(0x8080808080808080)) == 0;
    if (n >= 4 && n < 8)
        return ((load32(s) | load32(s + n - 4)) & 0x80808080u) == 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 0x80)
            return false;
    return true;
}

/* Intern the (validated) atom at buf[*pos] and move past it. */
static int atom_make(const uint8_t *buf, size_t *pos, em_term *out)
{
    size_t p = *pos;
    unsigned tag = buf[p++];
    size_t n;
    if (tag == TAG_ATOM || tag == TAG_ATOM_UTF8) {
        n = get16(buf + p);
        p += 2;
    } else {
        n = buf[p++];
    }
    const uint8_t *s = buf + p;
    *pos = p + n;
    bool latin1 = tag == TAG_ATOM || tag == TAG_SMALL_ATOM;
    /* Latin-1 text equals its UTF-8 only when it is ASCII. */
    if (latin1 && !is_ascii(s, n))
        return em__atom_latin1(s, n, out);
    acache_entry *set = acache[acache_index(s, n)];
    for (int w = 0; w < 2; w++) {
        if (set[w].text && set[w].len == n && text_eq(set[w].text, s, n)) {
            *out = set[w].atom;
            return 0;
        }
    }
    int rc = latin1 ? em__atom_latin1(s, n, out)
                    : em_atom_new((const char *)s, n, out);
    if (rc == 0) {
        /* The newest in way 0, the one it displaces in way 1. */
        const em__atom_info *ai = em__atom_get(em__atom_ix(*out));
        set[1] = set[0];
        set[0] = (acache_entry){ai->text, ai->len, *out};
    }
    return rc;
}

/* A bignum of n little-endian magnitude bytes at s: 0 if its value fits a
 * small integer (*small set), else the number of limbs its box needs. */
static size_t big_limbs(const uint8_t *s, size_t n, bool neg, int64_t *small)
{
    while (n > 0 && s[n - 1] == 0)
        n--;
    if (n <= 8) {
        uint64_t m = 0;
        for (size_t i = n; i-- > 0;)
            m = m << 8 | s[i];
        if (!neg && m <= (uint64_t)EM__SMALL_MAX) {
            *small = (int64_t)m;
            return 0;
        }
        if (neg && m <= (uint64_t)EM__SMALL_MAX + 1) {
            *small = (int64_t)(0 - m); /* -0 is 0 */
            return 0;
        }
    }
    return (n + 7) / 8;
}

/* FLOAT_EXT text.  OTP accepts exactly [+-]digits.digits[e[+-]digits]
 * followed by NULs (or nothing) within the 31 bytes, and rejects values
 * that overflow (verified on OTP 25.2.3). */
static int float_text(const uint8_t *s, double *out)
{
    char tmp[FLOAT_EXT_LEN + 1];
    size_t n = 0;
    while (n < FLOAT_EXT_LEN && s[n] != 0) {
        tmp[n] = (char)s[n];
        n++;
    }
    tmp[n] = 0;
    size_t i = 0, d;
    if (tmp[i] == '+' || tmp[i] == '-')
        i++;
    for (d = i; tmp[i] >= '0' && tmp[i] <= '9'; i++)
        ;
    if (i == d || tmp[i] != '.')
        return EM_EBADTERM;
    size_t dot = i++;
    for (d = i; tmp[i] >= '0' && tmp[i] <= '9'; i++)
        ;
    if (i == d)
        return EM_EBADTERM;
    if (tmp[i] == 'e' || tmp[i] == 'E') {
        i++;
        if (tmp[i] == '+' || tmp[i] == '-')
            i++;
        for (d = i; tmp[i] >= '0' && tmp[i] <= '9'; i++)
            ;
        if (i == d)
            return EM_EBADTERM;
    }
    if (i != n)
        return EM_EBADTERM;
    /* strtod follows the C locale's decimal point; the text uses '.'. */
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] && dp[0] != '.' && dp[1] == 0)
        tmp[dot] = dp[0];
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(v))
        return EM_EBADTERM;
    *out = v;
    return 0;
}

/* Bytes after the node atom of a pid/port/reference tag with fixed fields. */
static size_t id_fields(unsigned tag)
{
    switch (tag) {
    case TAG_NEW_PID: return 12;  /* ID:32 Serial:32 Creation:32 */
    case TAG_PID: return 9;       /* ID:32 Serial:32 Creation:8 */
    case TAG_NEW_PORT: return 8;  /* ID:32 Creation:32 */
    case TAG_PORT: return 5;      /* ID:32 Creation:8 */
    case TAG_V4_PORT: return 12;  /* ID:64 Creation:32 */
    case TAG_REFERENCE: return 5; /* ID:32 Creation:8 */
    default: return 0;
    }
}

/* Whether a BINARY_EXT of n bytes in an input of len bytes points into the
 * input's storage instead of being copied (when decoding from a binary
 * term, em_etf_decode_bin): only binaries over 64 bytes (smaller ones cost
 * little to copy) that are more than a quarter of the input, so that a
 * small binary does not keep a large input alive.  This is BEAM's rule for
 * binaries in distribution messages, which it references rather than
 * copies.  Both passes ask, with the same answer. */
#define SHARE_MIN 64
static inline bool share_bin(bool share, size_t n, size_t len)
{
    return share && n > SHARE_MIN && n > len / 4;
}

/* ---- pass 1: validate and size ---- */

typedef struct scan_out {
    size_t end;    /* offset just past the term */
    size_t bytes;  /* arena bytes for the boxes, header included */
    size_t depth;  /* deepest nesting seen */
    size_t shares; /* binaries that point into the input */
} scan_out;

static inline int add_size(size_t *total, size_t n)
{
    if (n > SIZE_MAX - *total)
        return EM_ENOMEM;
    *total += n;
    return 0;
}

/* Validate the pid at buf[*pos] (its tag included) and move past it. */
static int pid_skip(const uint8_t *buf, size_t len, size_t *pos)
{
    if (*pos >= len)
        return EM_ETRUNC;
    unsigned tag = buf[*pos];
    if (tag != TAG_NEW_PID && tag != TAG_PID)
        return EM_EBADTERM;
    size_t p = *pos + 1;
    int rc = atom_skip(buf, len, &p);
    if (rc < 0)
        return rc;
    if (len - p < id_fields(tag))
        return EM_ETRUNC;
    *pos = p + id_fields(tag);
    return 0;
}

/* A small integer field of a fun (OldIndex, OldUniq, an export's arity):
 * SMALL_INTEGER_EXT or INTEGER_EXT. */
static int int_field(const uint8_t *buf, size_t len, size_t *pos, int64_t *v)
{
    size_t p = *pos;
    if (p >= len)
        return EM_ETRUNC;
    if (buf[p] == TAG_SMALL_INTEGER) {
        if (len - p < 2)
            return EM_ETRUNC;
        *v = buf[p + 1];
        *pos = p + 2;
        return 0;
    }
    if (buf[p] == TAG_INTEGER) {
        if (len - p < 5)
            return EM_ETRUNC;
        *v = (int32_t)get32(buf + p + 1);
        *pos = p + 5;
        return 0;
    }
    return EM_EBADTERM;
}

/* Add n arena bytes, unless inside a fun (kept as raw bytes). */
static inline int box_add(size_t *total, unsigned quiet, size_t n)
{
    return quiet ? 0 : add_size(total, n);
}

/* Open a container of `items` items (each at least one input byte, so the
 * stack stays bounded by the input); fun_end as in struct frame. */
static inline int scan_open(stack *st, scan_out *so, size_t max_depth,
                            size_t items, size_t fun_end)
{
    if (st->n >= max_depth)
        return EM_EDEPTH;
    int rc = stack_reserve(st, st->n + 1);
    if (rc < 0)
        return rc;
    st->v[st->n++] = (frame){NULL, items, fun_end, NULL, FR_SEQ};
    if (st->n > so->depth)
        so->depth = st->n;
    return 0;
}

static int scan(const uint8_t *buf, size_t len, size_t pos, size_t max_depth,
                bool share, stack *st, scan_out *so)
{
    size_t total = 0;
    unsigned quiet = 0; /* open funs: their contents take no arena bytes */
    int rc;
    so->depth = 0;
    so->shares = 0;
    for (;;) {
    next_term:
        if (len - pos < 1)
            return EM_ETRUNC;
        unsigned tag = buf[pos++];
        size_t n;
        switch (tag) {
        case TAG_SMALL_INTEGER:
            if (len - pos < 1)
                return EM_ETRUNC;
            pos += 1;
            break;
        case TAG_INTEGER:
            if (len - pos < 4)
                return EM_ETRUNC;
            pos += 4;
            break;
        case TAG_NEW_FLOAT: {
            if (len - pos < 8)
                return EM_ETRUNC;
            uint64_t bits = get64(buf + pos);
            double v;
            memcpy(&v, &bits, sizeof v);
            if (!isfinite(v))
                return EM_EBADTERM; /* Erlang has no NaN or infinity */
            pos += 8;
            if ((rc = box_add(&total, quiet, sizeof(em__float))) < 0)
                return rc;
            break;
        }
        case TAG_FLOAT: {
            if (len - pos < FLOAT_EXT_LEN)
                return EM_ETRUNC;
            double v;
            if ((rc = float_text(buf + pos, &v)) < 0)
                return rc;
            pos += FLOAT_EXT_LEN;
            if ((rc = box_add(&total, quiet, sizeof(em__float))) < 0)
                return rc;
            break;
        }
        case TAG_ATOM:
        case TAG_SMALL_ATOM:
        case TAG_ATOM_UTF8:
        case TAG_SMALL_ATOM_UTF8:
            pos--;
            if ((rc = atom_skip(buf, len, &pos)) < 0)
                return rc;
            break;
        case TAG_NIL:
            break;
        case TAG_SMALL_TUPLE:
        case TAG_LARGE_TUPLE:
            if (tag == TAG_SMALL_TUPLE) {
                if (len - pos < 1)
                    return EM_ETRUNC;
                n = buf[pos++];
            } else {
                if (len - pos < 4)
                    return EM_ETRUNC;
                n = get32(buf + pos);
                pos += 4;
            }
            if (n > len - pos)
                return EM_ELENGTH;
            if ((rc = box_add(&total, quiet, SZ_TUPLE(n))) < 0)
                return rc;
            if (n && (rc = scan_open(st, so, max_depth, n, 0)) < 0)
                return rc;
            break;
        case TAG_STRING:
            if (len - pos < 2)
                return EM_ETRUNC;
            n = get16(buf + pos);
            pos += 2;
            if (n > len - pos)
                return EM_ELENGTH;
            pos += n;
            if ((rc = box_add(&total, quiet, n * sizeof(em__cons))) < 0)
                return rc;
            break;
        case TAG_LIST: {
            if (len - pos < 4)
                return EM_ETRUNC;
            n = get32(buf + pos);
            pos += 4;
            if (n && n + 1 > len - pos)
                return EM_ELENGTH; /* n elements and a tail */
            if (n == 0)
                goto next_term; /* no cells: the term is just the tail */
            if ((rc = box_add(&total, quiet, n * sizeof(em__cons))) < 0)
                return rc;
            /* The list counts for the depth even when the loop below
             * reads all of it without opening a frame. */
            if (st->n >= max_depth)
                return EM_EDEPTH;
            if (st->n + 1 > so->depth)
                so->depth = st->n + 1;
            /* Leading integer elements, the common case, in a tight loop
             * (build() takes the same shortcut).  Anything else, or a cut
             * in the input, is left to the general path. */
            size_t k = 0;
            /* While 5 bytes remain, any integer element fits: no length
             * checks in this loop; the last few go through the next. */
            size_t q = pos;
            if (len >= 5) {
                for (; k < n && q <= len - 5; k++) {
                    if (buf[q] == TAG_SMALL_INTEGER)
                        q += 2;
                    else if (buf[q] == TAG_INTEGER)
                        q += 5;
                    else
                        break;
                }
            }
            for (; k < n && q < len; k++) {
                if (buf[q] == TAG_SMALL_INTEGER && len - q >= 2)
                    q += 2;
                else if (buf[q] == TAG_INTEGER && len - q >= 5)
                    q += 5;
                else
                    break;
            }
            pos = q;
            if (k == n && pos < len && buf[pos] == TAG_NIL) {
                pos++;
                break;
            }
            if ((rc = scan_open(st, so, max_depth, n + 1 - k, 0)) < 0)
                return rc;
            break;
        }
        case TAG_MAP:
            if (len - pos < 4)
                return EM_ETRUNC;
            n = get32(buf + pos);
            pos += 4;
            if (n > (len - pos) / 2)
                return EM_ELENGTH;
            if ((rc = box_add(&total, quiet, SZ_MAP(n))) < 0)
                return rc;
            if (n && (rc = scan_open(st, so, max_depth, 2 * n, 0)) < 0)
                return rc;
            break;
        case TAG_BINARY:
            if (len - pos < 4)
                return EM_ETRUNC;
            n = get32(buf + pos);
            pos += 4;
            if (n > len - pos)
                return EM_ELENGTH;
            pos += n;
            if (share_bin(share, n, len) && !quiet) {
                so->shares++;
                n = 0; /* a box without the bytes */
            }
            if ((rc = box_add(&total, quiet, SZ_BIN(n))) < 0)
                return rc;
            break;
        case TAG_BIT_BINARY: {
            if (len - pos < 5)
                return EM_ETRUNC;
            n = get32(buf + pos);
            unsigned bits = buf[pos + 4];
            pos += 5;
            if (n > len - pos)
                return EM_ELENGTH;
            /* 1..8 bits used in the last byte; an empty one says 0
             * (OTP rejects anything else). */
            if (n == 0 ? bits != 0 : bits == 0 || bits > 8)
                return EM_EBADTERM;
            pos += n;
            if ((rc = box_add(&total, quiet, SZ_BIN(n))) < 0)
                return rc;
            break;
        }
        case TAG_SMALL_BIG:
        case TAG_LARGE_BIG: {
            if (tag == TAG_SMALL_BIG) {
                if (len - pos < 2)
                    return EM_ETRUNC;
                n = buf[pos];
                pos += 1;
            } else {
                if (len - pos < 5)
                    return EM_ETRUNC;
                n = get32(buf + pos);
                pos += 4;
            }
            bool neg = buf[pos++] != 0; /* OTP: any non-zero sign is minus */
            if (n > len - pos)
                return EM_ELENGTH;
            int64_t small;
            size_t limbs = big_limbs(buf + pos, n, neg, &small);
            if (limbs > UINT32_MAX)
                return EM_ETOOBIG;
            pos += n;
            if (limbs && (rc = box_add(&total, quiet, SZ_BIG(limbs))) < 0)
                return rc;
            break;
        }
        case TAG_NEW_PID:
        case TAG_PID:
        case TAG_NEW_PORT:
        case TAG_PORT:
        case TAG_V4_PORT:
        case TAG_REFERENCE:
            if ((rc = atom_skip(buf, len, &pos)) < 0)
                return rc;
            if (len - pos < id_fields(tag))
                return EM_ETRUNC;
            pos += id_fields(tag);
            /* A local pid ends up an immediate, but which node is local can
             * change between the passes: reserve the box anyway. */
            n = tag == TAG_NEW_PID || tag == TAG_PID ? sizeof(em__pid)
                : tag == TAG_REFERENCE               ? sizeof(em__ref)
                                                     : sizeof(em__port);
            if ((rc = box_add(&total, quiet, ALIGN8(n))) < 0)
                return rc;
            break;
        case TAG_NEWER_REFERENCE:
        case TAG_NEW_REFERENCE:
            if (len - pos < 2)
                return EM_ETRUNC;
            n = get16(buf + pos);
            pos += 2;
            if (n == 0 || n > MAX_REF_WORDS)
                return EM_EBADTERM;
            if ((rc = atom_skip(buf, len, &pos)) < 0)
                return rc;
            if (len - pos < (tag == TAG_NEWER_REFERENCE ? 4 : 1) + 4 * n)
                return EM_ETRUNC;
            pos += (tag == TAG_NEWER_REFERENCE ? 4 : 1) + 4 * n;
            if ((rc = box_add(&total, quiet, ALIGN8(sizeof(em__ref)))) < 0)
                return rc;
            break;
        case TAG_EXPORT: {
            size_t start = pos - 1;
            int64_t arity;
            if ((rc = atom_skip(buf, len, &pos)) < 0)
                return rc;
            if ((rc = atom_skip(buf, len, &pos)) < 0)
                return rc;
            if ((rc = int_field(buf, len, &pos, &arity)) < 0)
                return rc;
            if (arity < 0 || arity > 255)
                return EM_EBADTERM;
            if ((rc = box_add(&total, quiet, SZ_FUN(pos - start))) < 0)
                return rc;
            break;
        }
        case TAG_NEW_FUN: {
            size_t start = pos - 1;
            if (len - pos < 4)
                return EM_ETRUNC;
            n = get32(buf + pos); /* Size: counts itself, not the tag */
            if (n > len - pos)
                return EM_ELENGTH;
            if (n < FUN_FIXED)
                return EM_EBADTERM;
            size_t end = pos + n;
            size_t nfree = get32(buf + pos + FUN_FIXED - 4);
            int64_t v;
            pos += FUN_FIXED;
            if ((rc = atom_skip(buf, len, &pos)) < 0) /* Module */
                return rc;
            if ((rc = int_field(buf, len, &pos, &v)) < 0) /* OldIndex */
                return rc;
            if ((rc = int_field(buf, len, &pos, &v)) < 0) /* OldUniq */
                return rc;
            if ((rc = pid_skip(buf, len, &pos)) < 0)
                return rc;
            if (pos > end)
                return EM_EBADTERM;
            if (nfree > end - pos)
                return EM_ELENGTH;
            if ((rc = box_add(&total, quiet, SZ_FUN(end - start))) < 0)
                return rc;
            if (nfree == 0) {
                if (pos != end)
                    return EM_EBADTERM;
                break;
            }
            if ((rc = scan_open(st, so, max_depth, nfree, end)) < 0)
                return rc;
            quiet++;
            break;
        }
        default:
            /* COMPRESSED is only accepted around the whole term;
             * ATOM_CACHE_REF, FUN_EXT, LOCAL_EXT and unknown tags fail. */
            return EM_EBADTAG;
        }

        /* Climb to the innermost container that still expects an item. */
        for (;;) {
            if (st->n == 0) {
                so->end = pos;
                if (total)
                    if ((rc = add_size(&total, ARENA_HEAD)) < 0)
                        return rc;
                so->bytes = total;
                return 0;
            }
            frame *f = &st->v[st->n - 1];
            if (f->left > 0) {
                f->left--;
                break;
            }
            if (f->fun_end) {
                if (pos != f->fun_end)
                    return EM_EBADTERM; /* free variables overrun Size */
                quiet--;
            }
            st->n--;
        }
    }
}

/* ---- pass 2: build ---- */

/* Lay out the next box of `size` bytes in the arena. */
static inline void *bump(em__arena *a, char **ap, size_t size, int kind)
{
    void *b = *ap;
    *ap += size;
    assert(*ap <= (char *)a + a->size); /* scan() sized the arena */
    em__box_init_in(a, b, kind);
    return b;
}

/* em_compare_exact, with the two cases that dominate map keys (two atoms,
 * two small integers) done here without the general machinery.  Atoms
 * order by their UTF-8 text (byte order is code point order), as
 * compare.c does. */
static inline int key_cmp(em_term a, em_term b)
{
    if (a == b)
        return 0;
    if (em__is_atom(a) && em__is_atom(b)) {
        const em__atom_info *x = em__atom_get(em__atom_ix(a));
        const em__atom_info *y = em__atom_get(em__atom_ix(b));
        size_t n = x->len < y->len ? x->len : y->len;
        for (size_t i = 0; i < n; i++)
            if (x->text[i] != y->text[i])
                return (uint8_t)x->text[i] < (uint8_t)y->text[i] ? -1 : 1;
        return x->len < y->len ? -1 : 1; /* a != b: the texts differ */
    }
    if (em__is_small(a) && em__is_small(b))
        return em__small_val(a) < em__small_val(b) ? -1 : 1;
    return em_compare_exact(a, b);
}

static inline void pair_swap(em_term *kv, size_t i, size_t j)
{
    em_term k = kv[2 * i], v = kv[2 * i + 1];
    kv[2 * i] = kv[2 * j];
    kv[2 * i + 1] = kv[2 * j + 1];
    kv[2 * j] = k;
    kv[2 * j + 1] = v;
}

static void sift_down(em_term *kv, size_t root, size_t n)
{
    for (;;) {
        size_t c = 2 * root + 1;
        if (c >= n)
            return;
        if (c + 1 < n && key_cmp(kv[2 * c], kv[2 * (c + 1)]) < 0)
            c++;
        if (key_cmp(kv[2 * root], kv[2 * c]) >= 0)
            return;
        pair_swap(kv, root, c);
        root = c;
    }
}

/* A complete map: its keys must end up strictly increasing in exact term
 * order (box.h).  OTP writes maps of up to 32 keys already sorted, so
 * check first; larger maps arrive in hash order and get an in-place heap
 * sort (no allocation, so nothing here can fail but a duplicate key). */
static int map_finish(em__map *m)
{
    em_term *kv = m->kv;
    size_t n = m->n;
    bool sorted = true;
    for (size_t i = 1; i < n; i++) {
        int c = key_cmp(kv[2 * (i - 1)], kv[2 * i]);
        if (c == 0)
            return EM_EDUPKEY;
        if (c > 0)
            sorted = false;
    }
    if (sorted)
        return 0;
    for (size_t i = n / 2; i-- > 0;)
        sift_down(kv, i, n);
    for (size_t end = n - 1; end > 0; end--) {
        pair_swap(kv, 0, end);
        sift_down(kv, 0, end);
    }
    for (size_t i = 1; i < n; i++)
        if (key_cmp(kv[2 * (i - 1)], kv[2 * i]) == 0)
            return EM_EDUPKEY;
    return 0;
}

/* Room for `n` cons cells in a row (n >= 1); the caller fills them in with
 * cell_set, in the same loop that reads their elements: one pass over
 * the cells instead of one to lay them out and one to fill them. */
static inline em__cons *cells(em__arena *a, char **ap, size_t n)
{
    em__cons *c = (em__cons *)(void *)*ap;
    *ap += n * sizeof *c;
    assert(n >= 1 && *ap <= (char *)a + a->size); /* scan() sized the arena */
    return c;
}

/* Cell i of the run c of n cells: head h, tail the next cell (the last
 * one's [] until a list's tail is filled in). */
static inline void cell_set(em__arena *a, em__cons *c, size_t i, size_t n,
                            em_term h)
{
    em__box_init_in(a, &c[i], EM__K_CONS);
    c[i].hd = h;
    c[i].tl = i + 1 < n ? em__box_term(&c[i + 1]) : EM_NIL;
}

/* Open a container in build(); scan() proved the stack deep enough. */
static inline void build_open(stack *st, int kind, em_term *slots, size_t n,
                              em__map *map)
{
    assert(st->n < st->cap);
    st->v[st->n++] = (frame){slots, n, 0, map, kind};
}

/* Decode the term scan() validated at buf[pos] (of len bytes, `share` as
 * given to scan()) into arena a (NULL when the term needs no boxes).  The
 * stack must have room for the scanned depth. */
static int build(const uint8_t *buf, size_t len, size_t pos, bool share,
                 em__arena *a, stack *st, em_term *root)
{
    char *ap = a ? (char *)a + ARENA_HEAD : NULL;
    em_term lnode = atomic_load_explicit(&em__local_node_atom, memory_order_relaxed);
    uint32_t lcr = atomic_load_explicit(&em__local_creation, memory_order_relaxed);
    em_term *dest = root;
    int rc;
    st->n = 0;
    for (;;) {
    next_term:;
        unsigned tag = buf[pos++];
        size_t n;
        switch (tag) {
        case TAG_SMALL_INTEGER:
            *dest = em__small(buf[pos]);
            pos += 1;
            break;
        case TAG_INTEGER:
            *dest = em__small((int32_t)get32(buf + pos));
            pos += 4;
            break;
        case TAG_NEW_FLOAT:
        case TAG_FLOAT: {
            em__float *f = bump(a, &ap, sizeof *f, EM__K_FLOAT);
            if (tag == TAG_NEW_FLOAT) {
                uint64_t bits = get64(buf + pos);
                memcpy(&f->v, &bits, sizeof f->v);
                pos += 8;
            } else {
                rc = float_text(buf + pos, &f->v);
                assert(rc == 0);
                pos += FLOAT_EXT_LEN;
            }
            *dest = em__box_term(f);
            break;
        }
        case TAG_ATOM:
        case TAG_SMALL_ATOM:
        case TAG_ATOM_UTF8:
        case TAG_SMALL_ATOM_UTF8:
            pos--;
            if ((rc = atom_make(buf, &pos, dest)) < 0)
                return rc;
            break;
        case TAG_NIL:
            *dest = EM_NIL;
            break;
        case TAG_SMALL_TUPLE:
        case TAG_LARGE_TUPLE: {
            if (tag == TAG_SMALL_TUPLE) {
                n = buf[pos++];
            } else {
                n = get32(buf + pos);
                pos += 4;
            }
            em__tuple *t = bump(a, &ap, SZ_TUPLE(n), EM__K_TUPLE);
            t->n = (uint32_t)n;
            t->pad_ = 0;
            *dest = em__box_term(t);
            if (n)
                build_open(st, FR_SEQ, t->e, n, NULL);
            break;
        }
        case TAG_STRING: {
            n = get16(buf + pos);
            pos += 2;
            if (n == 0) {
                *dest = EM_NIL;
                break;
            }
            em__cons *c = cells(a, &ap, n);
            for (size_t i = 0; i < n; i++)
                cell_set(a, c, i, n, em__small(buf[pos + i]));
            pos += n;
            *dest = em__box_term(c);
            break;
        }
        case TAG_LIST: {
            n = get32(buf + pos);
            pos += 4;
            if (n == 0)
                goto next_term; /* the term is its tail, same slot */
            em__cons *c = cells(a, &ap, n);
            *dest = em__box_term(c);
            size_t k = 0; /* the shortcut scan() takes */
            /* q, not pos: pos has its address taken, so the compiler
             * would store it at every cell write (em_term and size_t
             * may alias). */
            size_t q = pos;
            for (; k < n; k++) {
                if (buf[q] == TAG_SMALL_INTEGER) {
                    cell_set(a, c, k, n, em__small(buf[q + 1]));
                    q += 2;
                } else if (buf[q] == TAG_INTEGER) {
                    cell_set(a, c, k, n, em__small((int32_t)get32(buf + q + 1)));
                    q += 5;
                } else {
                    break;
                }
            }
            pos = q;
            /* The other elements are decoded into their cells later. */
            for (size_t i = k; i < n; i++)
                cell_set(a, c, i, n, EM_NONE);
            if (k == n && buf[pos] == TAG_NIL) {
                pos++; /* cell_set ended the list with [] already */
                break;
            }
            if (k == n)
                build_open(st, FR_LIST, &c[n - 1].tl, 1, NULL);
            else
                build_open(st, FR_LIST, &c[k].hd, n + 1 - k, NULL);
            break;
        }
        case TAG_MAP: {
            n = get32(buf + pos);
            pos += 4;
            em__map *m = bump(a, &ap, SZ_MAP(n), EM__K_MAP);
            m->n = (uint32_t)n;
            m->pad_ = 0;
            *dest = em__box_term(m);
            if (n)
                build_open(st, FR_MAP, m->kv, 2 * n, m);
            break;
        }
        case TAG_BINARY:
        case TAG_BIT_BINARY: {
            n = get32(buf + pos);
            pos += 4;
            unsigned unused = 0;
            if (tag == TAG_BIT_BINARY) {
                unused = n ? 8 - buf[pos] : 0;
                pos++;
            }
            em__bin *b;
            if (tag == TAG_BINARY && share_bin(share, n, len)) {
                /* Points into the input; the arena holds it (box.h). */
                b = bump(a, &ap, SZ_BIN(0), EM__K_BIN);
                b->size = n;
                b->data = buf + pos;
                b->owner = NULL;
                pos += n;
                *dest = em__box_term(b);
                break;
            }
            b = bump(a, &ap, SZ_BIN(n), EM__K_BIN);
            b->h.aux = (uint16_t)unused;
            b->size = n;
            b->data = b->inl;
            b->owner = NULL;
            if (n) {
                memcpy(b->inl, buf + pos, n);
                /* Clear the unused low bits so equal bitstrings are equal
                 * bytes (em_bitstring does the same). */
                b->inl[n - 1] &= (uint8_t)(0xffu << unused);
            }
            pos += n;
            *dest = em__box_term(b);
            break;
        }
        case TAG_SMALL_BIG:
        case TAG_LARGE_BIG: {
            if (tag == TAG_SMALL_BIG) {
                n = buf[pos++];
            } else {
                n = get32(buf + pos);
                pos += 4;
            }
            bool neg = buf[pos++] != 0;
            int64_t small = 0;
            size_t limbs = big_limbs(buf + pos, n, neg, &small);
            if (limbs == 0) {
                *dest = em__small(small);
            } else {
                em__big *g = bump(a, &ap, SZ_BIG(limbs), EM__K_BIG);
                g->h.aux = neg;
                g->n = (uint32_t)limbs;
                g->pad_ = 0;
                memset(g->d, 0, limbs * sizeof(uint64_t));
                /* Bytes past limbs * 8 are leading zeros big_limbs dropped. */
                size_t m = n < limbs * 8 ? n : limbs * 8;
                for (size_t i = 0; i < m; i++)
                    g->d[i / 8] |= (uint64_t)buf[pos + i] << (8 * (i % 8));
                assert(g->d[limbs - 1] != 0);
                *dest = em__box_term(g);
            }
            pos += n;
            break;
        }
        case TAG_NEW_PID:
        case TAG_PID: {
            em_term node;
            if ((rc = atom_make(buf, &pos, &node)) < 0)
                return rc;
            uint32_t id = get32(buf + pos), serial = get32(buf + pos + 4);
            uint32_t cr = tag == TAG_NEW_PID ? get32(buf + pos + 8) : buf[pos + 8];
            pos += id_fields(tag);
            if (node == lnode && cr == lcr && id <= EM__LOCAL_PID_ID_MAX) {
                *dest = em__local_pid(id, serial);
                break;
            }
            em__pid *p = bump(a, &ap, ALIGN8(sizeof *p), EM__K_PID);
            p->node = node;
            p->id = id;
            p->serial = serial;
            p->creation = cr;
            *dest = em__box_term(p);
            break;
        }
        case TAG_NEW_PORT:
        case TAG_PORT:
        case TAG_V4_PORT: {
            em__port *p = bump(a, &ap, ALIGN8(sizeof *p), EM__K_PORT);
            if ((rc = atom_make(buf, &pos, &p->node)) < 0)
                return rc;
            if (tag == TAG_V4_PORT) {
                p->id = get64(buf + pos);
                p->creation = get32(buf + pos + 8);
            } else {
                p->id = get32(buf + pos);
                p->creation = tag == TAG_NEW_PORT ? get32(buf + pos + 4) : buf[pos + 4];
            }
            pos += id_fields(tag);
            *dest = em__box_term(p);
            break;
        }
        case TAG_REFERENCE:
        case TAG_NEW_REFERENCE:
        case TAG_NEWER_REFERENCE: {
            em__ref *r = bump(a, &ap, ALIGN8(sizeof *r), EM__K_REF);
            n = 1;
            if (tag != TAG_REFERENCE) {
                n = get16(buf + pos);
                pos += 2;
            }
            if ((rc = atom_make(buf, &pos, &r->node)) < 0)
                return rc;
            const uint8_t *w;
            if (tag == TAG_REFERENCE) { /* ID:32 Creation:8 */
                w = buf + pos;
                r->creation = buf[pos + 4];
                pos += 5;
            } else {
                r->creation = tag == TAG_NEWER_REFERENCE ? get32(buf + pos) : buf[pos];
                pos += tag == TAG_NEWER_REFERENCE ? 4 : 1;
                w = buf + pos;
                pos += 4 * n;
            }
            r->n = (uint32_t)n;
            memset(r->w, 0, sizeof r->w); /* as em_ref: unused words 0 */
            for (size_t i = 0; i < n; i++)
                r->w[i] = get32(w + 4 * i);
            *dest = em__box_term(r);
            break;
        }
        case TAG_EXPORT:
        case TAG_NEW_FUN: {
            size_t start = pos - 1;
            if (tag == TAG_NEW_FUN) {
                pos += get32(buf + pos);
            } else { /* two atoms, then the arity (SMALL_INTEGER/INTEGER) */
                for (int i = 0; i < 2; i++) {
                    unsigned at = buf[pos];
                    pos += at == TAG_ATOM || at == TAG_ATOM_UTF8
                               ? 3 + get16(buf + pos + 1)
                               : 2 + (size_t)buf[pos + 1];
                }
                pos += buf[pos] == TAG_SMALL_INTEGER ? 2 : 5;
            }
            n = pos - start;
            em__fun *f = bump(a, &ap, SZ_FUN(n), EM__K_FUN);
            f->len = n;
            memcpy(f->b, buf + start, n);
            *dest = em__box_term(f);
            break;
        }
        default:
            assert(!"scan() let an unknown tag through");
            return EM_EBADTAG;
        }

        /* Climb to the innermost container with a slot left to fill. */
        for (;;) {
            if (st->n == 0)
                return 0;
            frame *f = &st->v[st->n - 1];
            if (f->left > 0) {
                dest = f->next;
                f->left--;
                /* A list's element slots are the hd words of consecutive
                 * cells (3 words apart); its tail slot is the last tl. */
                f->next += f->kind != FR_LIST ? 1 : f->left == 1 ? 1 : 3;
                break;
            }
            if (f->kind == FR_MAP && (rc = map_finish(f->map)) < 0)
                return rc;
            st->n--;
        }
    }
}

/* Decode an uncompressed term at buf[pos]; *end receives the offset after
 * it.  With `whole`, the term must end exactly at len.  `share` is EM_NONE,
 * or the binary term whose bytes buf is: then large binaries point into
 * them (share_bin) and the result holds a reference to it. */
static int decode_plain(const uint8_t *buf, size_t len, size_t pos,
                        size_t max_depth, bool whole, em_term share,
                        em_term *out, size_t *end)
{
    stack st;
    stack_init(&st);
    scan_out so;
    int rc = scan(buf, len, pos, max_depth, share != EM_NONE, &st, &so);
    if (rc == 0 && whole && so.end != len)
        rc = EM_ETRAILING;
    em__arena *a = NULL;
    if (rc == 0 && so.bytes) {
        a = em__arena_new(so.bytes);
        if (a == NULL)
            rc = EM_ENOMEM;
    }
    if (rc == 0)
        rc = stack_reserve(&st, so.depth);
    em_term t = EM_NONE;
    if (rc == 0)
        rc = build(buf, len, pos, share != EM_NONE, a, &st, &t);
    stack_fini(&st);
    if (a) {
        /* Set before anything can drop the arena: dropping releases it. */
        if (so.shares)
            a->hold = em_dup(share);
        /* The arena's one reference is the root's if the root is one of
         * its boxes.  Otherwise (an error, or a root that turned out an
         * immediate such as a local pid) nothing refers to it. */
        if (rc < 0 || !em__is_box(t))
            em_drop(em__box_term(a));
    }
    if (rc < 0)
        return rc;
    *out = t;
    *end = so.end;
    return 0;
}

/* em_etf_decode and em_etf_decode_bin; share as in decode_plain. */
static int decode(const uint8_t *buf, size_t len, size_t *off,
                  const em_etf_opts *opts, em_term share, em_term *out)
{
    size_t pos = off ? *off : 0;
    if (pos > len)
        return EM_EINVAL;
    size_t max_depth = opts && opts->max_depth ? opts->max_depth : EM_ETF_DEFAULT_DEPTH;
    int flags = opts ? opts->flags : 0;
    if (!(flags & EM_ETF_NO_VERSION)) {
        if (pos >= len)
            return EM_ETRUNC;
        if (buf[pos] != TAG_VERSION)
            return EM_EBADVER;
        pos++;
    }
    if (pos >= len)
        return EM_ETRUNC;

    em_term t;
    size_t end;
    int rc;
    if (buf[pos] != TAG_COMPRESSED) {
        rc = decode_plain(buf, len, pos, max_depth, off == NULL, share, &t, &end);
        if (rc < 0)
            return rc;
    } else {
        /* 80, UncompressedSize:32, a zlib stream inflating to one term
         * (starting with its tag, no 131). */
        pos++;
        if (len - pos < 4)
            return EM_ETRUNC;
        size_t size = get32(buf + pos);
        pos += 4;
        size_t max_inflate = opts ? opts->max_inflate : 0;
        if ((max_inflate && size > max_inflate) ||
            size / INFLATE_MAX_RATIO > len - pos)
            return EM_EZLIB;
        uint8_t *raw = malloc(size ? size : 1);
        if (raw == NULL)
            return EM_ENOMEM;
        size_t used;
        rc = em__zlib_inflate(buf + pos, len - pos, &used, raw, size);
        if (rc == 0 && off == NULL && pos + used != len)
            rc = EM_ETRAILING;
        size_t inner_end;
        if (rc == 0)
            /* raw is freed below: nothing may point into it. */
            rc = decode_plain(raw, size, 0, max_depth, false, EM_NONE, &t,
                              &inner_end);
        if (rc == 0 && inner_end != size) {
            em_drop(t);
            rc = EM_EBADTERM; /* the inflated bytes hold more than a term */
        }
        free(raw);
        if (rc < 0)
            return rc;
        end = pos + used;
    }
    if (off)
        *off = end;
    *out = t;
    return 0;
}

EM_API int em_etf_decode(const uint8_t *buf, size_t len, size_t *off,
                         const em_etf_opts *opts, em_term *out)
{
    if (out == NULL || (buf == NULL && len > 0))
        return EM_EINVAL;
    return decode(buf, len, off, opts, EM_NONE, out);
}

EM_API int em_etf_decode_bin(em_term bin, size_t *off, const em_etf_opts *opts,
                             em_term *out)
{
    size_t nbits;
    const uint8_t *buf = em_binary_data(bin, &nbits);
    if (out == NULL || buf == NULL || nbits % 8 != 0)
        return EM_EINVAL;
    return decode(buf, nbits / 8, off, opts, bin, out);
}
