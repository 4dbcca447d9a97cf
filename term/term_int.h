/* term_int.h: the private representation of terms (see <ember/term.h>
 * for the model), shared by the files of term/ and included only there
 * (and by the tests of term/).  What the layers above may use of it is in
 * term_seam.h, included here: the tagging, the box header and kinds,
 * tuples, references, local pids, predefined atoms.  This header adds the
 * rest: small integers, the other box types, arenas, atom facts, bignum
 * helpers.
 *
 * Invariants (kept by every constructor and by the decoder; tests/test_term.c
 * and tests/test_etf.c check each one through the public functions):
 *  - an integer that fits the small range is always small (never a bignum
 *    box), so =:= integers have one representation;
 *  - a pid whose node and creation are the local node's is the immediate
 *    form when its id < 2^28, boxed otherwise;
 *  - map keys are sorted strictly increasing in exact term order;
 *  - a bignum has no leading zero limbs and at least one limb;
 *  - a tuple of fewer than EM__TUPLE_LONG elements keeps its arity in its
 *    header (struct em__tuple).
 */
#ifndef EM_TERM_INT_H
#define EM_TERM_INT_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <ember/term.h>

#include "term_seam.h"

#define EM__SMALL_MAX ((int64_t)((UINT64_C(1) << 61) - 1))
#define EM__SMALL_MIN (-EM__SMALL_MAX - 1)

typedef struct em__big {
    em__box h;       /* aux: 1 if negative */
    uint32_t n;      /* limbs, n >= 1, d[n-1] != 0 */
    uint32_t pad_;
    uint64_t d[];    /* magnitude, least significant limb first */
} em__big;

typedef struct em__float {
    em__box h;
    double v;
} em__float;

typedef struct em__cons {
    em__box h;
    em_term hd;
    em_term tl;
} em__cons;

/* A binary or bitstring.  Data is either inline (owner == NULL, bytes follow
 * the struct) or points into `owner`'s storage (a box kept alive by this one:
 * one reference counted here), or, for a binary inside an arena, into the
 * storage of the arena's `hold` (owner == NULL). */
typedef struct em__bin {
    em__box h;      /* aux: unused low bits in the last byte, 0..7 */
    size_t size;    /* bytes, including a partial last byte */
    const uint8_t *data;
    em__box *owner;
    uint8_t inl[];
} em__bin;

/* A map: n pairs, keys sorted strictly increasing in exact term order,
 * kv[2i] is key i, kv[2i+1] its value. */
typedef struct em__map {
    em__box h;
    uint32_t n;
    uint32_t pad_;
    em_term kv[];
} em__map;

typedef struct em__pid {
    em__box h;
    em_term node; /* atom */
    uint32_t id, serial, creation;
} em__pid;

typedef struct em__port {
    em__box h;
    em_term node; /* atom */
    uint64_t id;
    uint32_t creation;
} em__port;

/* A fun, opaque: its external-format bytes from the tag (112 or 113) on. */
typedef struct em__fun {
    em__box h;
    size_t len;
    uint8_t b[];
} em__fun;

/* An arena: one allocation holding many boxes (a decoded term).  The arena's
 * own rc counts references to any box inside it.  Its members refer only to
 * each other and to immediates, except that binaries inside it may point
 * into the storage of `hold` (the binary a term was decoded from, see
 * em_etf_decode_bin), to which the arena owns one reference. */
typedef struct em__arena {
    em__box h;
    size_t size;  /* bytes allocated, header included */
    em_term hold; /* a term kept alive with the arena, or EM_NONE */
} em__arena;

/* Bytes of a tuple box of n elements. */
static inline size_t em__tuple_bytes(size_t n)
{
    return sizeof(em__tuple) + (n + (n >= EM__TUPLE_LONG)) * sizeof(em_term);
}
/* Give the new tuple box t (em__tuple_bytes(n) bytes) its arity; returns
 * where its n elements go. */
static inline em_term *em__tuple_set_n(em__tuple *t, uint32_t n)
{
    if (n < EM__TUPLE_LONG) {
        t->h.aux = (uint16_t)n;
        return t->w;
    }
    t->h.aux = EM__TUPLE_LONG;
    t->w[0] = n;
    return t->w + 1;
}

/* ---- small integers ---- */
static inline bool em__is_small(em_term t) { return (t & EM__TAG_MASK) == EM__TAG_SMALL; }
static inline int64_t em__small_val(em_term t) { return (int64_t)t >> 2; }
static inline em_term em__small(int64_t v) { return ((uint64_t)v << 2) | EM__TAG_SMALL; }
static inline bool em__fits_small(int64_t v) { return v >= EM__SMALL_MIN && v <= EM__SMALL_MAX; }

/* ---- allocation (term.c) ----
 * Initialise a box inside arena `a` at `b` (memory already reserved). */
static inline void em__box_init_in(em__arena *a, void *b, int kind)
{
    em__box *h = b;
    atomic_init(&h->rc, (uint32_t)((char *)b - (char *)a));
    h->kind = (uint8_t)kind;
    h->flags = EM__BF_ARENA;
    h->aux = 0;
}
/* A new arena of `size` bytes including its header; NULL on OOM. */
em__arena *em__arena_new(size_t size);

/* ---- atoms (atom.c) ---- */
#define EM__ATOM_FALSE em__atom(EM__A_FALSE)
#define EM__ATOM_TRUE em__atom(EM__A_TRUE)

/* Per-atom facts the printer and encoder need (atom.c). */
typedef struct em__atom_info {
    const char *text; /* UTF-8, NUL-terminated */
    uint16_t len;     /* bytes */
    uint16_t nchars;  /* code points */
    bool latin1;      /* every code point < 256 */
} em__atom_info;
/* The table of atom facts, in chunks of EM__ATOM_CHUNK entries, each
 * published (release) before any atom of it exists; em__atom_ready is set
 * (release) once the predefined atoms are in (atom.c). */
#define EM__ATOM_CHUNK_BITS 12
#define EM__ATOM_CHUNK (1u << EM__ATOM_CHUNK_BITS)
extern _Atomic(em__atom_info *) em__atom_chunks[];
extern _Atomic int em__atom_ready;
void em__atom_init(void);
/* The facts of atom ix.  Inline: the encoder looks up each atom it writes
 * (an out-of-line call was a tenth of a map's encode, docs/perf.md).  A
 * predefined atom (EM_TRUE, ...) may be the first atom a program uses, so
 * the table may not be there yet: then it is made first. */
static inline const em__atom_info *em__atom_get(uint32_t ix)
{
    if (__builtin_expect(!atomic_load_explicit(&em__atom_ready, memory_order_acquire), 0))
        em__atom_init();
    em__atom_info *c = atomic_load_explicit(&em__atom_chunks[ix >> EM__ATOM_CHUNK_BITS],
                                            memory_order_acquire);
    return &c[ix & (EM__ATOM_CHUNK - 1)];
}
/* Intern Latin-1 text (ATOM_EXT): converted to UTF-8. */
int em__atom_latin1(const uint8_t *s, size_t len, em_term *out);

/* UTF-8 (term.c): encode cp into out (4 bytes room); returns bytes
 * written (em__utf8_decode is in term_seam.h). */
int em__utf8_encode(uint32_t cp, uint8_t *out);

/* The local node (term.c). */
extern _Atomic uint64_t em__local_node_atom;
extern _Atomic uint32_t em__local_creation;

/* Normalising pid constructor shared by the decoder: an immediate when the
 * node and creation are local. */
em_term em__pid_make(em_term node, uint32_t id, uint32_t serial, uint32_t creation);

/* Bignum helpers (big.c). */
em_term em__big_from_u64(bool neg, uint64_t mag);
/* Normalise a freshly built bignum box (strip zero limbs, demote to small). */
em_term em__big_normalize(em__big *b);
/* Decimal text of any integer into out; returns 0 or EM_ENOMEM. */
int em__int_to_decimal(em_term t, em_buf *out);
/* Integer from decimal (or base 2..36) digits, already validated. */
em_term em__int_from_digits(bool neg, const char *digits, size_t n, unsigned base);
int em__big_cmp(em_term a, em_term b); /* both integers */
/* Compare integer a with double f by value: <0, 0, >0. */
int em__int_cmp_float(em_term a, double f);

/* Term order rank of a type (term.c). */
int em__type_rank(em_term t);

#endif /* EM_TERM_INT_H */
