/* term_seam.h: what the layers above term/ (runtime/ and net/) may use of
 * term's private representation, and nothing more: the tagging of an
 * em_term, the box header and box kinds, tuples and references as the
 * runtime reads and builds them, local pids, the predefined atoms, and the
 * few term/ functions the runtime and the distribution call.  Term's
 * other internals are in term_int.h, which includes this header and is
 * included only inside term/ (tests/check_layers.sh declares this header
 * as term's seam for the layers above).  Private to ember: never included
 * by a public header.
 *
 * An em_term is a tagged 64-bit word:
 *
 *   ...ppp000  boxed: a pointer (8-aligned, non-NULL) to an em__box
 *   ...iiii01  small integer, value = (int64_t)t >> 2, |value| < 2^61
 *   ...aa0010  atom, index = t >> 4
 *   000000110  [] (EM_NIL)
 *   ...ss1010  local pid: id = (t >> 4) & 0x0fffffff, serial = t >> 32
 *   0          EM_NONE
 */
#ifndef EM_TERM_SEAM_H
#define EM_TERM_SEAM_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ember/term.h>

#define EM__TAG_MASK 0x3u
#define EM__TAG_BOX 0x0u
#define EM__TAG_SMALL 0x1u
#define EM__TAG_IMM 0x2u
#define EM__IMM_MASK 0xfu
#define EM__IMM_ATOM 0x2u
#define EM__IMM_NIL 0x6u
#define EM__IMM_PID 0xau
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

/* A tuple.  Its arity is h.aux when below EM__TUPLE_LONG, and its
 * elements follow the header: a 1-tuple takes 16 bytes, as on BEAM (a
 * tuple nested 12 million deep takes no more memory than OTP's).  A tuple
 * of EM__TUPLE_LONG or more elements has aux EM__TUPLE_LONG, its arity in
 * w[0] and its elements from w[1].  Read them with em__tuple_n and
 * em__tuple_e; term/ sizes them with em__tuple_bytes and sets them up with
 * em__tuple_set_n (term_int.h). */
typedef struct em__tuple {
    em__box h; /* aux: the arity, or EM__TUPLE_LONG */
    em_term w[];
} em__tuple;
#define EM__TUPLE_LONG 0xffffu

typedef struct em__ref {
    em__box h;
    em_term node; /* atom */
    uint32_t creation;
    uint32_t n; /* 1..5 */
    uint32_t w[5];
} em__ref;

static inline uint32_t em__tuple_n(const em__tuple *t)
{
    return t->h.aux != EM__TUPLE_LONG ? t->h.aux : (uint32_t)t->w[0];
}
static inline const em_term *em__tuple_e(const em__tuple *t)
{
    return t->w + (t->h.aux == EM__TUPLE_LONG);
}

/* ---- tagging helpers ---- */
static inline bool em__is_box(em_term t) { return t != 0 && (t & EM__TAG_MASK) == EM__TAG_BOX; }
static inline em__box *em__box_of(em_term t) { return (em__box *)(uintptr_t)t; }
static inline em_term em__box_term(const void *b) { return (em_term)(uintptr_t)b; }
static inline int em__kind(em_term t) { return em__is_box(t) ? em__box_of(t)->kind : 0; }

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

/* UTF-8 (term.c): decode one code point from s[0..len); returns the number
 * of bytes (1..4) and *cp, or 0 if invalid (overlong, surrogate, > 10FFFF,
 * truncated). */
int em__utf8_decode(const uint8_t *s, size_t len, uint32_t *cp);

/* The head of t as em_print prints it, for a log line (print.c): at most
 * cap - 1 bytes into buf (cap >= 4), ending in "..." when cut, and only as
 * much of t is printed as fits (a term from another node may be huge; a
 * big integer's digits cost its size squared).  Returns the length. */
size_t em__print_head(char *buf, size_t cap, em_term t, int mode);

/* A compiled pattern's quick filter (pattern.c): every struct em_pattern
 * begins with one, so a receive reads it without a call.  If the pattern is
 * a tuple, arity = its arity + 1 and first = its first element when that
 * is an immediate constant (else 0); otherwise arity = 0 (no filter).
 * literal: the immediate (an atom, a small integer, []) the whole pattern
 * is, or 0 when it is anything else: such a pattern matches exactly the
 * messages equal to that word, so a receive can compare words. */
#define EM__FLAT_MAX 8
#define EM__FLAT_ANY (-1)
#define EM__FLAT_EQ (-2)
typedef struct em__pattern_tag {
    uint32_t arity;
    /* A flat tuple pattern ({From, Cmd}, {call, From, Ref, Req}: each
     * element a variable seen once, `_`, or an immediate constant) is
     * matched by one loop over the elements instead of the program, inline
     * in a receive (em__pattern_match_flat).  flat_n: arity + 1 (so equal
     * to `arity` above), or 0 when the pattern is not flat; flat[i]: the
     * slot element i binds, EM__FLAT_ANY, or EM__FLAT_EQ (must equal
     * flat_eq[i]). */
    uint32_t flat_n;
    em_term first;
    em_term literal;
    int32_t flat[EM__FLAT_MAX];
    em_term flat_eq[EM__FLAT_MAX];
} em__pattern_tag;
/* p's quick filter (p not NULL). */
static inline const em__pattern_tag *em__pattern_tag_of(const em_pattern *p)
{
    return (const em__pattern_tag *)(const void *)p;
}
/* Match the elements e[0 .. tag->flat_n - 1) of a tuple of that arity
 * against the flat pattern tag (flat_n not 0), binding into binds as
 * em_pattern_match does.  The caller has checked the term is such a tuple
 * (a receive's quick filter does, from the message node). */
static inline bool em__pattern_match_flat(const em__pattern_tag *tag, const em_term *e, em_term *binds)
{
    for (uint32_t i = 0; i + 1 < tag->flat_n; i++) {
        int32_t f = tag->flat[i];
        if (f >= 0)
            binds[f] = e[i];
        else if (f == EM__FLAT_EQ && e[i] != tag->flat_eq[i])
            return false;
    }
    return true;
}
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

#endif /* EM_TERM_SEAM_H */
