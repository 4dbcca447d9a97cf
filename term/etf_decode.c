/* etf_decode.c: the external term format to terms (em_etf_decode,
 * em_etf_decode_bin).
 *
 * Decoding takes two passes over the input:
 *  1. em__etf_scan() (etf_scan.c) validates everything (tags, lengths
 *     against the remaining input, UTF-8 and length of atoms, nesting
 *     depth, funs' inner layout) and adds up the bytes every box of the
 *     result will take.  It allocates nothing but its own stack, whose size
 *     is bounded by the input, so hostile length fields cost nothing.
 *  2. build() (here) allocates ONE arena of exactly that size and builds
 *     the term top-down inside it: each container's box is laid out when
 *     its header is read and the children are written into its slots.
 *     Only atom interning, duplicate map keys and the (rare) growth of
 *     the stack of open containers can still fail here.
 * One allocation per term makes decoding fast and makes dropping a decoded
 * message one free() (term.h: a decoded term lives in one allocation).
 * Decoding from a binary term (em_etf_decode_bin), large binaries are not
 * copied into the arena: they point into the input, which the arena then
 * holds (share_bin in etf_scan.h).
 *
 * Neither pass recurses: both keep an explicit stack of open containers,
 * so a term nested 100,000 deep decodes on a small process stack.  And a
 * container is off that stack once its last item is handed out, and a
 * chain of containers each nested in the same position takes one frame
 * (struct frame in etf_scan.h): a list or tuple nested 12 million levels
 * deep ([[[...]]], {{{...}}}) costs its arena and a few frames, no more. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <ember/etf.h>

#include "term_int.h"
#include "etf_scan.h"
#include "inflate.h"

/* No DEFLATE stream expands more than 1032:1 (258-byte matches coded in 2
 * bits); a stated size beyond that is a lie we refuse before allocating. */
#define INFLATE_MAX_RATIO 1032

/* ---- atoms ---- */

/* A small per-thread cache of recently decoded atoms, in front of the
 * atom table.  Messages repeat the same few atoms (node names, map keys,
 * tags), and a cache probe costs far less than hashing the name for the
 * table.  Entries stay valid forever: atoms and their text are never
 * freed.  Two ways per set: with one, two common atoms that share a set
 * (a map's keys `name` and `age` do) would evict each other on every
 * message.
 *
 * An entry holds its text's key (atext_key): for texts of at most 16
 * bytes (most atoms) the key is the text itself, so a probe compares two
 * words and the length, read from the input and the entry, and never
 * follows a pointer to the atom's text (a load that waits on the load of
 * the entry, on the path of every decoded atom).  The same words give the
 * set and tell whether the text is ASCII. */
#define ACACHE_SETS 128
typedef struct acache_entry {
    uint64_t w0, w1; /* the text's key */
    em_term atom;    /* EM_NONE: empty entry */
    size_t len;
} acache_entry;
/* The local node's atom as it was last encoded in a pid (pid_node): its
 * bytes from the tag on, len of them (8 <= len <= LNODE_MAX), for atom
 * `atom`, the local node then (a stale one, after the node changed, is
 * just a miss; EM_NONE: none yet). */
#define LNODE_MAX 64
typedef struct lnode_key {
    em_term atom;
    size_t len;
    uint8_t b[LNODE_MAX];
} lnode_key;

typedef struct acache {
    acache_entry set[ACACHE_SETS][2];
    lnode_key lnode;
} acache;
/* build() takes its address once, before its loop: in the archive's
 * objects (-fPIC) every access to a thread-local is a call, and the
 * registers it clobbers would be spilled around each atom. */
static _Thread_local acache acache_tl;

/* Short atom texts are read with a few overlapping word loads instead of
 * a call or a loop; only s[0 .. n) is read. */
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

/* The key of the n-byte text s: two words that, with n, are the text
 * itself when n <= 16 (overlapping loads of its first and last 8 or 4
 * bytes, or its 1..3 bytes one per byte lane), and its first and last 8
 * bytes when it is longer (then the text must be compared too).  Every
 * byte of the text is in some byte lane of w0 or w1 (n <= 16). */
static inline void atext_key(const uint8_t *s, size_t n, uint64_t *w0, uint64_t *w1)
{
    if (n >= 8) {
        *w0 = load64(s);
        *w1 = load64(s + n - 8);
    } else if (n >= 4) {
        *w0 = load32(s) | (uint64_t)load32(s + n - 4) << 32;
        *w1 = 0;
    } else if (n > 0) {
        *w0 = s[0] | (uint64_t)s[n / 2] << 8 | (uint64_t)s[n - 1] << 16;
        *w1 = 0;
    } else {
        *w0 = *w1 = 0;
    }
}

static inline unsigned acache_index(uint64_t w0, uint64_t w1, size_t n)
{
    uint64_t h = (w0 ^ (w1 + n) * UINT64_C(0x9e3779b97f4a7c15)) * UINT64_C(0xff51afd7ed558ccd);
    _Static_assert((ACACHE_SETS & (ACACHE_SETS - 1)) == 0, "a power of two");
    return (unsigned)(h >> 57) % ACACHE_SETS;
}

static inline bool is_ascii(const uint8_t *s, size_t n, uint64_t w0, uint64_t w1)
{
    if (n <= 16)
        return ((w0 | w1) & UINT64_C(0x8080808080808080)) == 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 0x80)
            return false;
    return true;
}

/* Whether entry e holds the n-byte text s of key (w0, w1). */
static inline bool acache_hit(const acache_entry *e, const uint8_t *s, size_t n,
                              uint64_t w0, uint64_t w1)
{
    if (e->len != n || e->w0 != w0 || e->w1 != w1 || e->atom == EM_NONE)
        return false;
    return n <= 16 || memcmp(em__atom_get(em__atom_ix(e->atom))->text, s, n) == 0;
}

/* Intern the n-byte text s of key (w0, w1), which missed the cache, and
 * put it in set.  Out of line: the probe is inlined into build(), this
 * is not (a message repeats its atoms). */
static __attribute__((noinline)) int atom_intern(acache_entry *set, const uint8_t *s,
                                                 size_t n, bool latin1, uint64_t w0,
                                                 uint64_t w1, em_term *out)
{
    int rc = latin1 ? em__atom_latin1(s, n, out)
                    : em_atom_new((const char *)s, n, out);
    if (rc == 0) {
        /* The newest in way 0, the one it displaces in way 1. */
        set[1] = set[0];
        set[0] = (acache_entry){w0, w1, *out, n};
    }
    return rc;
}

/* Intern the (validated) atom at buf[*pos] and move past it. */
static inline __attribute__((always_inline)) int atom_make(acache *ac, const uint8_t *buf,
                                                           size_t *pos,
                                                           em_term *out)
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
    uint64_t w0, w1;
    atext_key(s, n, &w0, &w1);
    bool latin1 = tag == TAG_ATOM || tag == TAG_SMALL_ATOM;
    /* Latin-1 text equals its UTF-8 only when it is ASCII. */
    if (latin1 && !is_ascii(s, n, w0, w1))
        return em__atom_latin1(s, n, out);
    acache_entry *set = ac->set[acache_index(w0, w1, n)];
    if (acache_hit(&set[0], s, n, w0, w1)) {
        *out = set[0].atom;
        return 0;
    }
    if (acache_hit(&set[1], s, n, w0, w1)) {
        *out = set[1].atom;
        return 0;
    }
    return atom_intern(set, s, n, latin1, w0, w1, out);
}

/* The node of a pid, at buf[*pos] (validated): interned, and *pos moved
 * past it; lnode is the local node.  Every local pid of a message names
 * the local node, so its encoding is kept apart (struct lnode_key) and a
 * pid's node is compared with it first, as bytes, tag and length
 * included: equal bytes are the same atom, without the cache's hash,
 * probe and text key.  The first word compared holds the tag and the
 * length, so the rest is compared only when the input's atom has the
 * kept one's length, which the scan found inside the input. */
static inline __attribute__((always_inline)) int pid_node(acache *ac, const uint8_t *buf,
                                                          size_t *pos, em_term lnode,
                                                          em_term *out)
{
    size_t p = *pos;
    const lnode_key *k = &ac->lnode;
    size_t kn = k->len;
    /* A pid's node is followed by at least 9 bytes: the load is inside
     * the input. */
    if (__builtin_expect(k->atom == lnode, 1) && load64(buf + p) == load64(k->b) &&
        load64(buf + p + kn - 8) == load64(k->b + kn - 8) &&
        (kn <= 16 || memcmp(buf + p + 8, k->b + 8, kn - 16) == 0)) {
        *pos = p + kn;
        *out = lnode;
        return 0;
    }
    int rc = atom_make(ac, buf, pos, out);
    size_t n = *pos - p;
    if (rc == 0 && *out == lnode && n >= 8 && n <= LNODE_MAX) {
        ac->lnode.atom = lnode;
        ac->lnode.len = n;
        memcpy(ac->lnode.b, buf + p, n);
    }
    return rc;
}

/* ---- pass 2: build ---- */

/* Lay out the next box of `size` bytes in the arena. */
static inline void *bump(em__arena *a, char **ap, size_t size, int kind)
{
    void *b = *ap;
    *ap += size;
    assert(*ap <= (char *)a + a->size); /* the scan sized the arena */
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
 * order (term_int.h).  OTP writes maps of up to 32 keys already sorted, so
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

/* A run of n cons cells in a row (n >= 1), laid out by cells(); the
 * caller fills them in with cell_set, in the same loop that reads their
 * elements (one pass over the cells instead of one to lay them out and
 * one to fill them), and then ends the run with cells_end.  Each cell's
 * box header (what em__box_init_in writes: the offset back to the arena,
 * the kind, the arena flag) goes in as one 8-byte word, `hw` for the
 * first cell plus `step` for each cell after it (the offset grows by a
 * cell, nothing else changes): one store per header instead of one per
 * field, three stores a cell instead of five (docs/perf.md). */
typedef struct cellrun {
    em__cons *c;
    uint64_t hw, step;
} cellrun;

_Static_assert(sizeof(em__box) == sizeof(uint64_t), "a box header is one word");

/* The header word of a box `off` bytes from its arena's header: struct
 * em__box's fields (rc, kind, flags, aux) as they lie in memory, built in
 * a register (built in memory with a store per field and read back as a
 * word, the read waits for the stores to drain instead of being
 * forwarded).  cells_end() checks it against the fields in debug builds. */
static inline uint64_t box_word(uint32_t off, unsigned kind, unsigned flags)
{
    _Static_assert(offsetof(em__box, rc) == 0 && offsetof(em__box, kind) == 4 &&
                       offsetof(em__box, flags) == 5 && offsetof(em__box, aux) == 6,
                   "em__box layout");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (uint64_t)off | (uint64_t)kind << 32 | (uint64_t)flags << 40;
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (uint64_t)off << 32 | (uint64_t)kind << 24 | (uint64_t)flags << 16;
#else
#error "box_word: unknown byte order"
#endif
}

static inline cellrun cells(em__arena *a, char **ap, size_t n)
{
    cellrun r;
    r.c = (em__cons *)(void *)*ap;
    *ap += n * sizeof *r.c;
    assert(n >= 1 && *ap <= (char *)a + a->size); /* the scan sized the arena */
    /* Offsets fit 32 bits: an arena is at most UINT32_MAX bytes. */
    r.hw = box_word((uint32_t)((char *)r.c - (char *)a), EM__K_CONS, EM__BF_ARENA);
    /* Two headers a cell apart differ by the offset's field alone holding
     * sizeof(em__cons): adding it never carries out of the field. */
    r.step = box_word(sizeof(em__cons), 0, 0);
    return r;
}

/* Cell i of the run r: head h, tail the next cell (cells_end gives the
 * last one its []). */
static inline void cell_set(const cellrun *r, size_t i, em_term h)
{
    em__cons *c = &r->c[i];
    uint64_t w = r->hw + i * r->step;
    memcpy(&c->h, &w, sizeof w);
    c->hd = h;
    c->tl = em__box_term(c + 1);
}

/* End the run r of n cells: the last one's tail is [] until a list's tail
 * is filled in. */
static inline void cells_end(const em__arena *a, const cellrun *r, size_t n)
{
    r->c[n - 1].tl = EM_NIL;
    /* The first cell's header reads back as em__box_init_in writes it. */
    assert(atomic_load_explicit(&r->c->h.rc, memory_order_relaxed) ==
               (uint32_t)((const char *)r->c - (const char *)a) &&
           r->c->h.kind == EM__K_CONS && r->c->h.flags == EM__BF_ARENA &&
           r->c->h.aux == 0);
    (void)a;
}

/* Open a container in build() whose n >= 1 slots start at `first` and
 * advance as `kind` says (next_slot): the first slot becomes *dest at
 * once, and the container is kept only if slots remain (or it is a map,
 * whose keys are checked once its last value is in).  A container with
 * one slot left that lies `stride` bytes after the one on top, which
 * also has one left, joins its run (struct frame).  Returns 0 or
 * EM_ENOMEM. */
static inline em_term *next_slot(int kind, em_term *slot, size_t left)
{
    /* A list's element slots are the hd words of consecutive cells (3
     * words apart); its tail slot is the last cell's tl. */
    return slot + (kind != FR_LIST ? 1 : left == 1 ? 1 : 3);
}

static inline int build_open(stack *st, int kind, em_term *first, size_t n,
                      em__map *map, em_term **dest)
{
    *dest = first;
    size_t left = n - 1;
    if (left == 0 && kind != FR_MAP)
        return 0;
    em_term *next = next_slot(kind, first, left);
    if (left == 1 && kind != FR_MAP && st->n > 0) {
        frame *f = &st->v[st->n - 1];
        ptrdiff_t d = (char *)next - (char *)f->next;
        if (f->left == 1 && f->kind != FR_MAP && (f->run == 0 || d == f->stride)) {
            f->stride = d;
            f->run++;
            f->next = next;
            return 0;
        }
    }
    int rc = stack_reserve(st, st->n + 1);
    if (rc < 0)
        return rc;
    /* Only what build() reads (stride only once run > 0). */
    frame *f = &st->v[st->n++];
    f->next = next;
    f->left = left;
    f->map = map;
    f->run = 0;
    f->kind = kind;
    return 0;
}

/* Decode the term em__etf_scan() validated at buf[pos] (of len bytes,
 * `share` as given to it) into arena a (NULL when the term needs no
 * boxes).  0, or an atom table error, EM_EDUPKEY, or EM_ENOMEM (a frame
 * for an open container). */
static int build(const uint8_t *buf, size_t len, size_t pos, bool share,
                 em__arena *a, stack *st, em_term *root)
{
    char *ap = a ? (char *)a + ARENA_HEAD : NULL;
    em_term lnode = atomic_load_explicit(&em__local_node_atom, memory_order_relaxed);
    uint32_t lcr = atomic_load_explicit(&em__local_creation, memory_order_relaxed);
    em_term *dest = root;
    acache *ac = &acache_tl;
    __asm__("" : "+r"(ac)); /* taken here, not in the loop (struct acache) */
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
                rc = em__etf_float_text(buf + pos, &f->v);
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
            if ((rc = atom_make(ac, buf, &pos, dest)) < 0)
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
            em_term *e = em__tuple_set_n(t, (uint32_t)n);
            *dest = em__box_term(t);
            if (n == 0)
                break;
            if ((rc = build_open(st, FR_SEQ, e, n, NULL, &dest)) < 0)
                return rc;
            goto next_term;
        }
        case TAG_STRING: {
            n = get16(buf + pos);
            pos += 2;
            if (n == 0) {
                *dest = EM_NIL;
                break;
            }
            cellrun r = cells(a, &ap, n);
            const uint8_t *sb = buf + pos;
            size_t i = 0;
            for (; i + 2 <= n; i += 2) { /* two a turn: half the loop's branches */
                cell_set(&r, i, em__small(sb[i]));
                cell_set(&r, i + 1, em__small(sb[i + 1]));
            }
            if (i < n)
                cell_set(&r, i, em__small(sb[i]));
            cells_end(a, &r, n);
            pos += n;
            *dest = em__box_term(r.c);
            break;
        }
        case TAG_LIST: {
            n = get32(buf + pos);
            pos += 4;
            if (n == 0)
                goto next_term; /* the term is its tail, same slot */
            cellrun r = cells(a, &ap, n);
            em__cons *c = r.c;
            *dest = em__box_term(c);
            size_t k = 0; /* the shortcut em__etf_scan() takes */
            /* q, not pos: pos has its address taken, so the compiler
             * would store it at every cell write (em_term and size_t
             * may alias). */
            size_t q = pos;
            for (; k < n; k++) {
                if (buf[q] == TAG_SMALL_INTEGER) {
                    cell_set(&r, k, em__small(buf[q + 1]));
                    q += 2;
                } else if (buf[q] == TAG_INTEGER) {
                    cell_set(&r, k, em__small((int32_t)get32(buf + q + 1)));
                    q += 5;
                } else {
                    break;
                }
            }
            pos = q;
            /* The other elements are decoded into their cells later. */
            for (size_t i = k; i < n; i++)
                cell_set(&r, i, EM_NONE);
            cells_end(a, &r, n);
            if (k == n && buf[pos] == TAG_NIL) {
                pos++; /* cells_end ended the list with [] already */
                break;
            }
            rc = k == n ? build_open(st, FR_LIST, &c[n - 1].tl, 1, NULL, &dest)
                        : build_open(st, FR_LIST, &c[k].hd, n + 1 - k, NULL, &dest);
            if (rc < 0)
                return rc;
            goto next_term;
        }
        case TAG_MAP: {
            n = get32(buf + pos);
            pos += 4;
            em__map *m = bump(a, &ap, SZ_MAP(n), EM__K_MAP);
            m->n = (uint32_t)n;
            m->pad_ = 0;
            *dest = em__box_term(m);
            if (n == 0)
                break;
            if ((rc = build_open(st, FR_MAP, m->kv, 2 * n, m, &dest)) < 0)
                return rc;
            goto next_term;
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
                /* Points into the input; the arena holds it (term_int.h). */
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
            size_t limbs = em__etf_big_limbs(buf + pos, n, neg, &small);
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
            if ((rc = pid_node(ac, buf, &pos, lnode, &node)) < 0)
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
            if ((rc = atom_make(ac, buf, &pos, &p->node)) < 0)
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
            if ((rc = atom_make(ac, buf, &pos, &r->node)) < 0)
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
            assert(!"em__etf_scan() let an unknown tag through");
            return EM_EBADTAG;
        }

        /* Climb to the innermost container with a slot left to fill. */
        for (;;) {
            if (st->n == 0)
                return 0;
            frame *f = &st->v[st->n - 1];
            if (f->left > 0) {
                dest = f->next;
                if (--f->left > 0) {
                    f->next = next_slot(f->kind, f->next, f->left);
                } else if (f->kind != FR_MAP) {
                    /* Its last slot: let go of it now (or of the run's
                     * top link: the next one down has one slot left). */
                    if (f->run) {
                        f->run--;
                        f->next = (em_term *)(void *)((char *)f->next - f->stride);
                        f->left = 1;
                    } else {
                        st->n--;
                    }
                }
                break;
            }
            assert(f->kind == FR_MAP && f->run == 0);
            if ((rc = map_finish(f->map)) < 0)
                return rc;
            st->n--;
        }
    }
}

/* Decode an uncompressed term at buf[pos]; *end receives the offset after
 * it.  With `whole`, the term must end exactly at len.  `share` is EM_NONE,
 * or the binary term whose bytes buf is: then large binaries point into
 * them (share_bin) and the result holds a reference to it. */
static __attribute__((noinline)) int decode_plain(const uint8_t *buf, size_t len, size_t pos,
                        size_t max_depth, bool whole, em_term share,
                        em_term *out, size_t *end)
{
    stack st;
    stack_init(&st);
    scan_out so;
    int rc = em__etf_scan(buf, len, pos, max_depth, share != EM_NONE, &st, &so);
    if (rc == 0 && whole && so.end != len)
        rc = EM_ETRAILING;
    em__arena *a = NULL;
    if (rc == 0 && so.bytes) {
        a = em__arena_new(so.bytes);
        if (a == NULL)
            rc = EM_ENOMEM;
    }
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

/* A compressed term (COMPRESSED_EXT, its tag at buf[pos - 1]); as decode.
 * Out of line: rare, and kept out of decode()'s frame. */
static __attribute__((noinline)) int decode_zlib(const uint8_t *buf, size_t len, size_t pos,
                                                 size_t *off, const em_etf_opts *opts,
                                                 size_t max_depth, em_term *out)
{
    /* 80, UncompressedSize:32, a zlib stream inflating to one term
     * (starting with its tag, no 131). */
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
    em_term t;
    int rc = em__zlib_inflate(buf + pos, len - pos, &used, raw, size);
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
    if (off)
        *off = pos + used;
    *out = t;
    return 0;
}

/* em_etf_decode and em_etf_decode_bin; share as in decode_plain.  Inlined
 * into both: one frame fewer between the caller and the term. */
static inline __attribute__((always_inline)) int decode(const uint8_t *buf, size_t len,
                                                        size_t *off,
                                                        const em_etf_opts *opts,
                                                        em_term share, em_term *out)
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
    if (buf[pos] == TAG_COMPRESSED)
        return decode_zlib(buf, len, pos + 1, off, opts, max_depth, out);
    em_term t;
    size_t end;
    int rc = decode_plain(buf, len, pos, max_depth, off == NULL, share, &t, &end);
    if (rc < 0)
        return rc;
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
    /* em_binary_data, inline */
    if (out == NULL || em__kind(bin) != EM__K_BIN)
        return EM_EINVAL;
    const em__bin *b = (const em__bin *)em__box_of(bin);
    if (b->data == NULL || b->h.aux != 0)
        return EM_EINVAL; /* a bitstring */
    return decode(b->data, b->size, off, opts, bin, out);
}
