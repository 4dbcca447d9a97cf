/* etf_scan.h: what the decoder's two passes share (etf_scan.c validates a
 * term and sizes its arena, etf_decode.c builds it): the external format's
 * tags and fixed sizes, the arena size of each kind of box, the stack of
 * open containers, and the helpers both passes read the input with.
 * Private to ember (term/); see etf_decode.c for how the passes fit. */
#ifndef EM_TERM_ETF_SCAN_H
#define EM_TERM_ETF_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "term_int.h"

#include "etf_tags.h"

#define FLOAT_EXT_LEN 31 /* FLOAT_EXT: "%.20e" text, NUL padded */
#define MAX_REF_WORDS 5
#define ATOM_MAX_CHARS 255
/* NEW_FUN_EXT: Size counts itself (4), Arity (1), Uniq (16), Index (4) and
 * NumFree (4) before the module atom. */
#define FUN_FIXED 29

#define ALIGN8(x) (((x) + 7) & ~(size_t)7)
#define SZ_TUPLE(n) em__tuple_bytes(n)
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

/* An open container, or a run of them (see below).
 * Both passes hand out a container's first item as they open it, and let
 * go of a container as they hand out its last item (unless something
 * remains to be done after it: a fun's end to check, a map's keys to
 * sort): what is still open is what has items to come back to.  So a
 * term nested in its last position ({{{...}}}, [x|[y|...]]) takes no
 * frames at all, however deep.
 * scan:  left = items still to hand out; fun_end = where an open fun must
 *        end (0 for other containers); lvl = the nesting level of its
 *        items (the root is level 0).
 * build: next = slot the next item goes to; left = slots still to hand
 *        out; kind says how `next` advances (and MAP that the keys must be
 *        checked when the map is complete).
 * A run: `run` more containers below this one, each with exactly one
 * item (its last) still to come, whose levels (scan) step down by lstep
 * and whose slots (build) step down by `stride` bytes, folded into this
 * frame (which itself has one left).  A term nested in its first position
 * ([[[...]]], {{{...}, x}, x}) opens a container with one item left at
 * every level, each the same distance from the last: the whole chain
 * takes one frame. */
enum { FR_SEQ, FR_LIST, FR_MAP, FR_FUN };
typedef struct frame {
    em_term *next;
    size_t left;
    size_t fun_end;
    em__map *map;
    size_t lvl;
    size_t run;
    size_t lstep;
    ptrdiff_t stride;
    int kind;
} frame;

#define STACK_INLINE 16

typedef struct stack {
    frame *v;
    size_t n, cap;
    frame inl[STACK_INLINE];
} stack;

static inline void stack_init(stack *s)
{
    s->v = s->inl;
    s->n = 0;
    s->cap = STACK_INLINE;
}

static inline void stack_fini(stack *s)
{
    if (s->v != s->inl)
        free(s->v);
}


/* Grow s to at least `want` frames (keeping its contents); 0 or
 * EM_ENOMEM (s unchanged).  Allocates: yes.  Thread: any (s is the
 * caller's). */
int em__etf_stack_grow(stack *s, size_t want);

/* Room for `want` frames; the check inline, the growing (rare) not. */
static inline int stack_reserve(stack *s, size_t want)
{
    return want <= s->cap ? 0 : em__etf_stack_grow(s, want);
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

/* Bytes after the node atom of a pid/port/reference tag with fixed fields. */
static inline size_t id_fields(unsigned tag)
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

/* A bignum of n little-endian magnitude bytes at s: 0 if its value fits a
 * small integer (*small set), else the number of limbs its box needs.
 * Allocates: no.  Thread: any. */
size_t em__etf_big_limbs(const uint8_t *s, size_t n, bool neg, int64_t *small);

/* FLOAT_EXT text.  OTP accepts exactly [+-]digits.digits[e[+-]digits]
 * followed by NULs (or nothing) within the 31 bytes, and rejects values
 * that overflow (verified on OTP 25.2.3).  s has FLOAT_EXT_LEN bytes.
 * 0 and *out, or EM_EBADTERM.  Allocates: no.  Thread: any. */
int em__etf_float_text(const uint8_t *s, double *out);

/* ---- pass 1: validate and size (etf_scan.c) ---- */

typedef struct scan_out {
    size_t end;    /* offset just past the term */
    size_t bytes;  /* arena bytes for the boxes, header included */
    size_t shares; /* binaries that point into the input */
} scan_out;

/* em__etf_scan: validate the term at buf[pos] (nothing outside
 * buf[0 .. len) is read): tags, lengths against the remaining input, atom
 * text, nesting against max_depth, funs' inner layout.  With `share`,
 * binaries that share_bin() picks are sized without their bytes.  Returns
 * 0 and *so (the end of the term, the arena bytes its boxes take, header
 * included, or 0 for a term of immediates only, and the binaries shared),
 * or the EM_E* code em_etf_decode documents.  Nesting deeper than
 * max_depth levels (a non-empty container at level max_depth) is
 * EM_EDEPTH.
 * Allocates: only st's frames beyond its inline ones (bounded by the
 * input; none for a chain of containers nested in their first or last
 * position).  st must be initialised; its contents on return are undefined.
 * Thread: any (st is the caller's). */
int em__etf_scan(const uint8_t *buf, size_t len, size_t pos, size_t max_depth,
                 bool share, stack *st, scan_out *so);

#endif /* EM_TERM_ETF_SCAN_H */
