/* box.h: the private representation of terms (see term.h for the model).
 * Private to ember: never included by a public header.
 *
 * An em_term is a tagged 64-bit word:
 *
 *   ...ppp000  boxed: a pointer (8-aligned, non-NULL) to an em__box
 *   ...iiii01  small integer, value = (int64_t)t >> 2, |value| < 2^61
 *   ...aa0010  atom, index = t >> 4
 *   000000110  [] (EM_NIL)
 *   ...ss1010  local pid: id = (t >> 4) & 0x0fffffff, serial = t >> 32
 *   0          EM_NONE
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
#ifndef EM_TERM_BOX_H
#define EM_TERM_BOX_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <ember/term.h>

#define EM__TAG_MASK 0x3u
#define EM__TAG_BOX 0x0u
#define EM__TAG_SMALL 0x1u
#define EM__TAG_IMM 0x2u
#define EM__IMM_MASK 0xfu
#define EM__IMM_ATOM 0x2u
#define EM__IMM_NIL 0x6u
#define EM__IMM_PID 0xau

#define EM__SMALL_MAX ((int64_t)((UINT64_C(1) << 61) - 1))
#define EM__SMALL_MIN (-EM__SMALL_MAX - 1)
#define EM__LOCAL_PID_ID_MAX 0x0fffffffu

/* Box kinds. */
enum {
    EM__K_BIG = 1,
    EM__K_FLOAT,
    EM__K_TUPLE,
    EM__K_CONS,
    EM__K_BIN,
    EM__K_MAP,
    EM__K_PID,
    EM__K_PORT,
    EM__K_REF,
    EM__K_FUN,
    EM__K_ARENA
};

/* Box flags. */
#define EM__BF_ARENA 0x1u /* lives inside an arena: rc is the offset back */

/* Common header of every box (8 bytes).
 * rc: for a free-standing box, the number of references (atomic: incremented
 *     relaxed, decremented acq_rel so the freeing thread sees all writes);
 *     for a box with EM__BF_ARENA, the byte offset from the arena's header
 *     to this box (constant), and the arena's rc counts for all of them. */
typedef struct em__box {
    _Atomic uint32_t rc;
    uint8_t kind;
    uint8_t flags;
    uint16_t aux; /* kind-specific: BIG sign, BIN unused bits in last byte */
} em__box;

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

/* A tuple.  Its arity is h.aux when below EM__TUPLE_LONG, and its
 * elements follow the header: a 1-tuple takes 16 bytes, as on BEAM (a
 * tuple nested 12 million deep takes no more memory than OTP's).  A tuple
 * of EM__TUPLE_LONG or more elements has aux EM__TUPLE_LONG, its arity in
 * w[0] and its elements from w[1].  Read them with em__tuple_n and
 * em__tuple_e, size them with em__tuple_bytes, set them up with
 * em__tuple_set_n. */
typedef struct em__tuple {
    em__box h; /* aux: the arity, or EM__TUPLE_LONG */
    em_term w[];
} em__tuple;
#define EM__TUPLE_LONG 0xffffu

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

typedef struct em__ref {
    em__box h;
    em_term node; /* atom */
    uint32_t creation;
    uint32_t n; /* 1..5 */
    uint32_t w[5];
} em__ref;

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

static inline uint32_t em__tuple_n(const em__tuple *t)
{
    return t->h.aux != EM__TUPLE_LONG ? t->h.aux : (uint32_t)t->w[0];
}
static inline const em_term *em__tuple_e(const em__tuple *t)
{
    return t->w + (t->h.aux == EM__TUPLE_LONG);
}
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

/* ---- tagging helpers ---- */
static inline bool em__is_box(em_term t) { return t != 0 && (t & EM__TAG_MASK) == EM__TAG_BOX; }
static inline em__box *em__box_of(em_term t) { return (em__box *)(uintptr_t)t; }
static inline em_term em__box_term(const void *b) { return (em_term)(uintptr_t)b; }
static inline int em__kind(em_term t) { return em__is_box(t) ? em__box_of(t)->kind : 0; }

static inline bool em__is_small(em_term t) { return (t & EM__TAG_MASK) == EM__TAG_SMALL; }
static inline int64_t em__small_val(em_term t) { return (int64_t)t >> 2; }
static inline em_term em__small(int64_t v) { return ((uint64_t)v << 2) | EM__TAG_SMALL; }
static inline bool em__fits_small(int64_t v) { return v >= EM__SMALL_MIN && v <= EM__SMALL_MAX; }

static inline bool em__is_atom(em_term t) { return (t & EM__IMM_MASK) == EM__IMM_ATOM; }
static inline uint32_t em__atom_ix(em_term t) { return (uint32_t)(t >> 4); }
static inline em_term em__atom(uint32_t ix) { return ((em_term)ix << 4) | EM__IMM_ATOM; }

static inline bool em__is_local_pid(em_term t) { return (t & EM__IMM_MASK) == EM__IMM_PID; }
static inline em_term em__local_pid(uint32_t id, uint32_t serial)
{
    assert(id <= EM__LOCAL_PID_ID_MAX);
    return ((em_term)serial << 32) | ((em_term)id << 4) | EM__IMM_PID;
}
static inline uint32_t em__local_pid_id(em_term t) { return (uint32_t)(t >> 4) & EM__LOCAL_PID_ID_MAX; }
static inline uint32_t em__local_pid_serial(em_term t) { return (uint32_t)(t >> 32); }

/* ---- allocation (term.c) ----
 * em__box_alloc: a free-standing box of `size` bytes, rc 1; NULL on OOM. */
void *em__box_alloc(size_t size, int kind);
/* Initialise a box inside arena `a` at `b` (memory already reserved). */
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

/* ---- predefined atoms (atom.c): their indexes are fixed ---- */
enum {
    EM__A_EMPTY = 0, /* '' */
    EM__A_FALSE,
    EM__A_TRUE,
    EM__A_NONODE, /* nonode@nohost */
    EM__A_UNDEFINED,
    EM__A_OK,
    EM__A_ERROR,
    EM__A_NORMAL,
    EM__A_COUNT_
};
#define EM__ATOM_FALSE em__atom(EM__A_FALSE)
#define EM__ATOM_TRUE em__atom(EM__A_TRUE)

/* Per-atom facts the printer and encoder need (atom.c). */
typedef struct em__atom_info {
    const char *text; /* UTF-8, NUL-terminated */
    uint16_t len;     /* bytes */
    uint16_t nchars;  /* code points */
    bool latin1;      /* every code point < 256 */
} em__atom_info;
const em__atom_info *em__atom_get(uint32_t ix);
/* Intern Latin-1 text (ATOM_EXT): converted to UTF-8. */
int em__atom_latin1(const uint8_t *s, size_t len, em_term *out);

/* UTF-8 (term.c): decode one code point from s[0..len); returns the number
 * of bytes (1..4) and *cp, or 0 if invalid (overlong, surrogate, > 10FFFF,
 * truncated). */
int em__utf8_decode(const uint8_t *s, size_t len, uint32_t *cp);
/* Encode cp into out (4 bytes room); returns bytes written. */
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

/* A compiled pattern's quick filter (pattern.c): if the pattern is a
 * tuple, *arity = its arity + 1 and *first = its first element when that is
 * an immediate constant (else 0); otherwise *arity = 0 (no filter). */
void em__pattern_tag(const em_pattern *p, uint32_t *arity, em_term *first);
/* Free the calling thread's cache of small boxes (term.c); a thread's cache
 * is also freed when it exits, and a scheduler's when it has been idle for
 * a while (runtime/mem.c). */
void em__box_cache_flush(void);
/* A new binary of n bytes whose contents the caller writes through *data
 * before the term is shared with anyone (a receive buffer that becomes a
 * term without a copy); EM_NONE if out of memory (term.c). */
em_term em__bin_uninit(size_t n, uint8_t **data);
/* Free the process-wide cache of large blocks (term.c): at em_run's end,
 * and by a scheduler that has been idle for a while (runtime/mem.c).
 * Thread: any. */
void em__big_cache_flush(void);

/* The immediate (an atom, a small integer, []) the whole pattern is, or 0
 * when it is anything else: such a pattern matches exactly the messages
 * equal to that word, so a receive can compare words (pattern.c). */
em_term em__pattern_literal(const em_pattern *p);

/* Term order rank of a type (term.c). */
int em__type_rank(em_term t);

#endif /* EM_TERM_BOX_H */
