/* etf_encode.c: terms to the external term format (em_etf_size,
 * em_etf_encode, em_etf_encode_into; and, for the distribution,
 * em__etf_encode_msg_size and em__etf_encode_msg: etf_encode.h).
 *
 * The default output is byte-identical to OTP 25's term_to_binary/1; the
 * choices that makes (ATOM_EXT for Latin-1 atoms, STRING_EXT for byte lists,
 * NEW_PORT_EXT below 2^28, ...) are noted where they are made, and were
 * checked against a real OTP 25 node (the otp_* vectors of
 * tests/test_etf.c).
 *
 * One traversal serves both sizing and writing: walk() is instantiated twice
 * with a constant `measure` flag, so the sizes can never disagree with the
 * bytes.  Writing is a single pass: each step makes sure the buffer has room
 * for what it writes (em_buf mode grows the buffer, fixed mode fails with
 * EM_ETRUNC).  A list's header needs its length, known only at its end:
 * list_write writes the elements first and the header last, in one walk
 * (lists of integers and strings), growing the buffer as it goes.  Only
 * sizing and fixed buffers walk a list twice (count, then write).  List
 * walks predict where the next cell is (step), so they are not bound
 * by load latency.
 *
 * The traversal keeps its own stack of pending sequences, inline for the
 * first 32 levels of nesting and on the heap beyond; nothing recurses on the
 * C stack.  So em_etf_size and em_etf_encode_into allocate only for terms
 * nested deeper than that (and may then fail with EM_ENOMEM).  A sequence
 * is off the stack once its last element is taken, so a term nested in
 * its last element ({{{...}}}) takes no frames, and a chain of lists
 * nested in their first element ([[[...]]]) takes one (struct eframe).
 *
 * For the distribution the same walk writes into a sink's room (sized
 * exactly, like a fixed buffer) and hands binaries of at least ref_min
 * bytes to the sink by reference instead of copying them (bin_ref); the
 * measuring walk counts those apart, so the room holds just the bytes
 * copied. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <ember/etf.h>

#include "etf_encode.h"
#include "term_int.h"
#include "etf_tags.h"

/* OTP writes a port as NEW_PORT_EXT only while its id fits 28 bits (the
 * internal port number); larger ids go out as V4_PORT_EXT (verified on OTP
 * 25.2.3). */
#define PORT_ID_MAX_NEW 0x0fffffffu
/* STRING_EXT holds at most this many elements (its length is 16-bit). */
#define STRING_MAX 65535u

/* A pending sequence: `n` terms at `seq` (tuple elements, map keys and
 * values in order), or, when seq is NULL, a list whose next cell is `cell`;
 * once `cell` is not a cons cell it is the list's tail, still to write,
 * and then n more lists below it wait for the same tail (an immediate):
 * a list nested in its first element ([[[...]]]) leaves its tail, [],
 * pending at every level, and the whole chain takes one frame. */
typedef struct eframe {
    const em_term *seq;
    size_t n;
    em_term cell;
} eframe;

#define STACK_INLINE 32
/* em_etf_encode's scratch area: most messages fit. */
#define ENCODE_SCRATCH 1024

typedef struct enc {
    uint8_t *p, *end; /* write cursor and end of the room we have */
    em_buf *b;        /* growable output, or NULL (a fixed buffer, or a
                         sink's room: sized exactly, neither grows) */
    uint8_t *scratch; /* while writing to em_etf_encode's stack scratch
                         instead of b: its start (else NULL) */
    size_t size;      /* measuring: bytes counted so far */
    int flags;
    bool have_local;  /* local node read (walks with refs: once per call,
                         see local_node and imm_walk) */
    uint32_t local_cr;
    em_term local_node;
    eframe *stk;
    size_t sp, cap;
    eframe inl[STACK_INLINE];
    /* Only for the walks that hand binaries over by reference (`refs`:
     * walk_measure, walk_sink; set by their callers, not enc_init): */
    size_t ref_min;   /* binaries of at least this size go by reference */
    size_t refd;      /* bytes of the binaries so handed over */
    const em__etf_sink *sink; /* walk_sink's */
    uint8_t *mark;    /* walk_sink: where the bytes not yet committed start */
} enc;

/* The fields a walk may read before it writes them; size (measuring) is
 * set by the callers that measure, the local node once have_local is. */
static void enc_init(enc *e, int flags)
{
    e->p = e->end = NULL;
    e->b = NULL;
    e->scratch = NULL;
    e->flags = flags;
    e->have_local = false;
    e->stk = e->inl;
    e->sp = 0;
    e->cap = STACK_INLINE;
}

static void enc_fini(enc *e)
{
    if (e->stk != e->inl)
        free(e->stk);
}

static __attribute__((noinline)) int push_slow(enc *e, const em_term *seq, size_t n, em_term cell)
{
    size_t cap = e->cap * 2;
    eframe *s = e->stk == e->inl ? malloc(cap * sizeof *s)
                                 : realloc(e->stk, cap * sizeof *s);
    if (s == NULL)
        return EM_ENOMEM;
    if (e->stk == e->inl)
        memcpy(s, e->inl, sizeof e->inl);
    e->stk = s;
    e->cap = cap;
    e->stk[e->sp++] = (eframe){seq, n, cell};
    return 0;
}

static inline int push(enc *e, const em_term *seq, size_t n, em_term cell)
{
    if (e->sp == e->cap)
        return push_slow(e, seq, n, cell);
    e->stk[e->sp++] = (eframe){seq, n, cell};
    return 0;
}

/* Make room for n more bytes at e->p.  Fixed buffers cannot grow. */
static int grow(enc *e, size_t n)
{
    if (e->b == NULL)
        return EM_ETRUNC;
    if (e->scratch) {
        /* The term outgrew the scratch: move to b (b->len is where the
         * term starts). */
        size_t done = (size_t)(e->p - e->scratch);
        if (n > SIZE_MAX - done)
            return EM_ENOMEM;
        int rc = em_buf_reserve(e->b, done + n);
        if (rc < 0)
            return rc;
        memcpy(e->b->data + e->b->len, e->scratch, done);
        e->p = e->b->data + e->b->len + done;
        e->end = e->b->data + e->b->cap;
        e->scratch = NULL;
        return 0;
    }
    size_t used = (size_t)(e->p - e->b->data);
    e->b->len = used;
    int rc = em_buf_reserve(e->b, n);
    if (rc < 0)
        return rc;
    e->p = e->b->data + used;
    e->end = e->b->data + e->b->cap;
    return 0;
}

static inline int room(enc *e, size_t n)
{
    if ((size_t)(e->end - e->p) >= n)
        return 0;
    return grow(e, n);
}

/* Big-endian fields, stored as one word (gcc does not merge the byte
 * stores of the portable form). */
static inline uint8_t *put16(uint8_t *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint16_t w = __builtin_bswap16((uint16_t)v);
    memcpy(p, &w, 2);
#else
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
#endif
    return p + 2;
}

static inline uint8_t *put32(uint8_t *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(v);
    memcpy(p, &v, 4);
#else
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
#endif
    return p + 4;
}

static inline uint8_t *put64(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
    return p + 8;
#else
    p = put32(p, (uint32_t)(v >> 32));
    return put32(p, (uint32_t)v);
#endif
}

/* Bytes needed for the magnitude m (0 for 0). */
static inline unsigned mag_bytes(uint64_t m)
{
    return m == 0 ? 0 : (unsigned)(64 - __builtin_clzll(m) + 7) / 8;
}

static inline em_term local_node(enc *e, uint32_t *cr)
{
    if (!e->have_local) {
        e->local_node = atomic_load_explicit(&em__local_node_atom, memory_order_relaxed);
        e->local_cr = atomic_load_explicit(&em__local_creation, memory_order_relaxed);
        e->have_local = true;
    }
    *cr = e->local_cr;
    return e->local_node;
}

/* ---- atoms ---- */

static inline bool atom_as_latin1(const enc *e, const em__atom_info *ai)
{
    return !(e->flags & EM_ETF_DIST) && ai->latin1;
}

static inline size_t atom_size(const enc *e, const em__atom_info *ai)
{
    if (atom_as_latin1(e, ai))
        return 3 + (size_t)ai->nchars;
    return (ai->len < 256 ? 2 : 3) + (size_t)ai->len;
}

/* memcpy for atom text: most atoms are short, and fixed-size overlapping
 * copies (which the compiler inlines) beat a call for them. */
static inline void copy_text(uint8_t *p, const uint8_t *s, size_t n)
{
    if (n >= 8 && n <= 16) {
        memcpy(p, s, 8);
        memcpy(p + n - 8, s + n - 8, 8);
    } else if (n >= 4 && n < 8) {
        memcpy(p, s, 4);
        memcpy(p + n - 4, s + n - 4, 4);
    } else {
        memcpy(p, s, n);
    }
}

/* Write the atom described by ai (room for atom_size bytes is made). */
static uint8_t *atom_put(const enc *e, uint8_t *p, const em__atom_info *ai)
{
    const uint8_t *s = (const uint8_t *)ai->text;
    if (atom_as_latin1(e, ai)) {
        *p++ = TAG_ATOM;
        p = put16(p, ai->nchars);
        if (ai->nchars == ai->len) { /* plain ASCII */
            copy_text(p, s, ai->len);
            return p + ai->len;
        }
        /* Every character is below 256, so each is one UTF-8 byte (ASCII)
         * or a two-byte sequence starting 0xc2 or 0xc3. */
        for (size_t i = 0; i < ai->len;) {
            if (s[i] < 0x80) {
                *p++ = s[i++];
            } else {
                *p++ = (uint8_t)((s[i] & 0x1fu) << 6 | (s[i + 1] & 0x3fu));
                i += 2;
            }
        }
        return p;
    }
    if (ai->len < 256) {
        *p++ = TAG_SMALL_ATOM_UTF8;
        *p++ = (uint8_t)ai->len;
    } else {
        *p++ = TAG_ATOM_UTF8;
        p = put16(p, ai->len);
    }
    copy_text(p, s, ai->len);
    return p + ai->len;
}

static inline const em__atom_info *atom_info(em_term a)
{
    return em__atom_get(em__atom_ix(a));
}

/* memcpy for at most 64 bytes, in two overlapping fixed-size copies
 * (inlined) instead of a call. */
static inline void copy_small(uint8_t *p, const uint8_t *s, size_t n)
{
    assert(n <= 64);
    if (n >= 32) {
        memcpy(p, s, 32);
        memcpy(p + n - 32, s + n - 32, 32);
    } else if (n >= 16) {
        memcpy(p, s, 16);
        memcpy(p + n - 16, s + n - 16, 16);
    } else {
        copy_text(p, s, n);
    }
}

/* ---- local pids ----
 *
 * A local pid is NEW_PID_EXT, the local node's atom, then its numbers.
 * The first two are the same for every local pid of every message until
 * the node changes, so each thread keeps them written out, once for each
 * form of atom (with EM_ETF_DIST or without), and copies them: no atom
 * table lookup, no choice of atom encoding, for each pid.  The copy is
 * remade when the local node differs from the one it was made for (the
 * atom and its text never change, so a stale copy is just a miss). */
#define PID_HEAD_MAX 64
typedef struct pid_head {
    em_term node; /* the node it was made for; EM_NONE (0, no atom): none */
    size_t len;
    uint8_t b[PID_HEAD_MAX];
} pid_head;
static _Thread_local pid_head pid_heads[2];

/* Make h for node; NULL if its atom is too long to keep (written the
 * long way). */
static __attribute__((noinline)) const pid_head *pid_head_make(pid_head *h, const enc *e, em_term node)
{
    assert(em__is_atom(node));
    const em__atom_info *ai = atom_info(node);
    size_t n = 1 + atom_size(e, ai);
    if (n > PID_HEAD_MAX)
        return NULL;
    h->b[0] = TAG_NEW_PID;
    atom_put(e, h->b + 1, ai);
    h->len = n;
    h->node = node;
    return h;
}

/* The head of a local pid of node `node` (the local node, an atom) in e's
 * form; hs is this thread's pid_heads.  (A node that is not an atom
 * matches no head, EM_NONE included: pid_head_make asserts it.) */
static inline const pid_head *pid_head_get(pid_head *hs, const enc *e, em_term node)
{
    pid_head *h = &hs[(e->flags & EM_ETF_DIST) != 0];
    if (__builtin_expect(h->node == node, 1))
        return h;
    return pid_head_make(h, e, node);
}

/* ---- leaves ---- */

static inline size_t small_size(int64_t v)
{
    if (v >= 0 && v <= 255)
        return 2;
    if (v >= INT32_MIN && v <= INT32_MAX)
        return 5;
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    return 3 + mag_bytes(m);
}

static inline uint8_t *small_put(uint8_t *p, int64_t v)
{
    if (v >= 0 && v <= 255) {
        p[0] = TAG_SMALL_INTEGER;
        p[1] = (uint8_t)v;
        return p + 2;
    }
    if (v >= INT32_MIN && v <= INT32_MAX) {
        *p++ = TAG_INTEGER;
        return put32(p, (uint32_t)v);
    }
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    unsigned n = mag_bytes(m);
    *p++ = TAG_SMALL_BIG;
    *p++ = (uint8_t)n;
    *p++ = v < 0;
    for (unsigned i = 0; i < n; i++, m >>= 8)
        *p++ = (uint8_t)m;
    return p;
}

static inline size_t big_bytes(const em__big *b)
{
    assert(b->n >= 1 && b->d[b->n - 1] != 0);
    return (size_t)(b->n - 1) * 8 + mag_bytes(b->d[b->n - 1]);
}

/* The tag-and-length header of a bignum of n magnitude bytes. */
static inline size_t big_head(size_t n) { return n <= 255 ? 3 : 6; }

static inline __attribute__((always_inline)) uint8_t *big_put(uint8_t *p, const em__big *b, size_t n)
{
    if (n <= 255) {
        *p++ = TAG_SMALL_BIG;
        *p++ = (uint8_t)n;
    } else {
        *p++ = TAG_LARGE_BIG;
        p = put32(p, (uint32_t)n);
    }
    *p++ = b->h.aux != 0;
    for (uint32_t i = 0; i < b->n; i++) {
        uint64_t d = b->d[i];
        unsigned k = i + 1 < b->n ? 8 : mag_bytes(d);
        for (unsigned j = 0; j < k; j++, d >>= 8)
            *p++ = (uint8_t)d;
    }
    return p;
}

/* ---- walking lists ----
 *
 * Walking a list is a chain of dependent loads: the address of the next
 * cell is in the cell before it, so each step waits a full load latency
 * before it can start the next.  But cells are usually laid out at a
 * regular stride (a decoded list's cells are consecutive in its arena;
 * em_listv and em_string allocate theirs one after the other), so
 * step() predicts the next cell at the last step's stride and checks
 * the prediction against the real tail with a branch.  While the branch
 * predicts right, the CPU computes the next address from the current one
 * without waiting for the load, and the walk runs at load throughput
 * instead of latency.  The predicted address is only dereferenced after
 * the check: this is speculation the CPU does, not the C program.
 *
 * step(): the cell after c, or NULL if c is the last one (its tail is not
 * a cons cell).  A predicted step costs one compare and the kind check of
 * a cell already being fetched. */
static inline const em__cons *step(const em__cons *c, ptrdiff_t *stride)
{
    em_term tl = c->tl;
    const em__cons *pred =
        (const em__cons *)(const void *)((const char *)c + *stride);
    if (__builtin_expect(tl == em__box_term(pred), 1)) {
        /* Hide that pred equals tl: otherwise the compiler may use the
         * loaded tl for the next address and bring the wait back. */
        __asm__("" : "+r"(pred));
        return pred->h.kind == EM__K_CONS ? pred : NULL;
    }
    if (em__kind(tl) != EM__K_CONS)
        return NULL;
    const em__cons *real = (const em__cons *)em__box_of(tl);
    *stride = (const char *)real - (const char *)c;
    return real;
}

/* What one walk down a list finds out (em_etf_size's pass): its number of
 * cells, whether it is a STRING_EXT (a proper list of at most STRING_MAX
 * integers 0..255), and whether every element is a small integer (then
 * the elements take int_bytes). */
typedef struct lscan {
    size_t n;
    size_t int_bytes;       /* encoded size of the elements, if all_small */
    const em__cons *last;   /* the last cell */
    bool is_string, all_small;
} lscan;

static inline void list_scan(em_term t, lscan *ls)
{
    size_t n = 0, ib = 0;
    bool bytes = true, small = true;
    const em__cons *c = (const em__cons *)em__box_of(t);
    ptrdiff_t stride = 0;
    for (;;) {
        em_term h = c->hd;
        if (em__is_small(h)) {
            /* (h >> 2) as unsigned: negative integers are not bytes. */
            if ((h >> 2) > 255)
                bytes = false;
            ib += small_size(em__small_val(h));
        } else {
            bytes = small = false;
        }
        n++;
        const em__cons *next = step(c, &stride);
        if (next == NULL)
            break;
        c = next;
    }
    t = c->tl;
    ls->n = n;
    ls->int_bytes = ib;
    ls->last = c;
    ls->is_string = bytes && t == EM_NIL && n <= STRING_MAX;
    ls->all_small = small;
}

/* A small integer 0..255 as a term: tag 01 and nothing above bit 9. */
static inline bool is_byte(em_term h)
{
    return (h & ~(em_term)0x3fc) == EM__TAG_SMALL;
}

/* Cells from c on (c included), counted in a walk that reads only tails. */
static inline __attribute__((always_inline)) size_t count_cells(const em__cons *c)
{
    size_t n = 1;
    ptrdiff_t stride = 0;
    while ((c = step(c, &stride)) != NULL)
        n++;
    return n;
}

/* Re-write the n string bytes at start + 3 as LIST_EXT small integers at
 * start + 5 (backwards: the two ranges overlap). */
static uint8_t *string_to_list(uint8_t *start, size_t n)
{
    const uint8_t *src = start + 3;
    uint8_t *dst = start + 5;
    for (size_t i = n; i-- > 0;) {
        dst[2 * i + 1] = src[i];
        dst[2 * i] = TAG_SMALL_INTEGER;
    }
    return dst + 2 * n;
}

/* Where a run of LIST_EXT small integers (smalls_run) stands: the cell
 * to write next (or the last one written), step()'s stride, and the count
 * of elements written so far. */
typedef struct srun {
    const em__cons *c;
    ptrdiff_t stride;
    size_t n;
} srun;

enum { SRUN_END, SRUN_OTHER, SRUN_ROOM, SRUN_NIL };

/* Write small integers from cell r->c on at *q, while each head is one and
 * 12 bytes (the largest, and a [] tail) fit before end.  Returns SRUN_END
 * (r->c, the last cell, written), SRUN_OTHER (r->c's head is not a small
 * integer) or SRUN_ROOM (r->c not written: no room).  Out of line and a
 * leaf on purpose: its loop keeps every value in a register wherever the
 * walk it serves is inlined (inside list_write, how the compiler laid out
 * this loop changed with each walk the file instantiates). */
static __attribute__((noinline, aligned(64))) int smalls_run(srun *r, uint8_t **qp, const uint8_t *end)
{
    const em__cons *c = r->c, *next;
    ptrdiff_t stride = r->stride;
    size_t n = r->n;
    uint8_t *q = *qp;
    int why;
    for (;;) {
        em_term h = c->hd;
        if (!em__is_small(h)) {
            why = SRUN_OTHER;
            break;
        }
        if (end - q < 12) {
            why = SRUN_ROOM;
            break;
        }
        q = small_put(q, em__small_val(h));
        n++;
        if ((next = step(c, &stride)) == NULL) {
            why = SRUN_END;
            break;
        }
        c = next;
    }
    r->c = c, r->stride = stride, r->n = n;
    *qp = q;
    return why;
}

/* One cell of bytes_run's groups of eight: c's head goes to q[k] whatever
 * it is (bytes_run checks the group's heads at once, after the group),
 * before its tail is looked at, so that where the group stops (done = k)
 * c is written already: a string's last cell needs nothing more.  Then c
 * steps to the next cell if the prediction holds (two branches: the next
 * cell must be known to be a box before its kind is read, and a cons
 * before its words are).  Unlike step(), no empty asm hides that p_
 * equals the tail: compared from memory, the tail is never in a register
 * the compiler could take the next address from (gcc 12 and clang 14
 * both keep the chain of addresses in additions; the asm cost two
 * register moves a cell). */
#define BYTES_CELL(k)                                                         \
    do {                                                                      \
        em_term h_ = c->hd;                                                   \
        const em__cons *p_ =                                                  \
            (const em__cons *)(const void *)((const char *)c + stride);       \
        bad |= h_ - 1;                                                        \
        q[k] = (uint8_t)(h_ >> 2);                                            \
        done = k;                                                             \
        if (__builtin_expect(c->tl != em__box_term(p_) ||                     \
                             p_->h.kind != EM__K_CONS, 0))                    \
            goto cut;                                                         \
        c = p_;                                                               \
    } while (0)

/* Write the heads of the cells from r->c on as STRING_EXT bytes at *qp,
 * while each is an integer 0..255, up to stop.  Returns SRUN_END (r->c,
 * the last cell, written), SRUN_NIL (the same, and its tail is []: the
 * string is whole), SRUN_OTHER (r->c's head is not a byte; not written)
 * or SRUN_ROOM (stop reached; r->c, the next cell, not written).  A leaf
 * out of line, like smalls_run.  The bytes of a string are most of its
 * encoding's work, so while eight bytes of room remain the cells go
 * eight at a time, the room checked once per eight and the heads once
 * per eight (all are bytes: the OR of each head minus one
 * has no bit set outside bits 2..9, the value's.  A byte integer, (v << 2)
 * | 1, minus one is v << 2; any other term minus one has a bit set
 * elsewhere: its tag is not 01 (then bit 0 or 1 of h - 1 is set), or
 * its value has bits above 9).  Laid out this way no branch is taken per cell,
 * where the loop it replaced took two (docs/perf.md).  A group ends
 * early, at no cost, where the list does (so eight is not too many for
 * short strings); sixteen saved a few more instructions and no time. */
static __attribute__((noinline, aligned(64))) int bytes_run(srun *r, uint8_t **qp, const uint8_t *stop)
{
    const em__cons *c = r->c, *next;
    ptrdiff_t stride = r->stride;
    uint8_t *q = *qp;
    int why;
    if (stride == 0 && em__is_box(c->tl)) {
        /* The first stride, from the first cell's tail: the groups below
         * can start with it (the check of each cell's tail against its
         * prediction stays). */
        stride = (const char *)em__box_of(c->tl) - (const char *)c;
    }
    for (;;) {
        while (stride != 0 && stop - q >= 8) {
            const em__cons *c0 = c;
            em_term bad = 0;
            int done = 0;
            BYTES_CELL(0);
            BYTES_CELL(1);
            BYTES_CELL(2);
            BYTES_CELL(3);
            BYTES_CELL(4);
            BYTES_CELL(5);
            BYTES_CELL(6);
            BYTES_CELL(7);
            done = 8;
        cut:
            if (__builtin_expect((bad & ~(em_term)0x3fc) != 0, 0)) {
                c = c0; /* a head that is not a byte: the slow way finds it */
                break;
            }
            q += done;
            if (done < 8) {
                /* c's tail read again, through a pointer the compiler
                 * cannot tie to the group's loads: otherwise it keeps
                 * every cell's tail in a register for this test and takes
                 * the next address from it (the wait step() avoids). */
                const em__cons *l = c;
                __asm__("" : "+r"(l));
                if (l->tl == EM_NIL) {
                    q++; /* c, the last cell, is written: [] ends it */
                    why = SRUN_NIL;
                    goto out;
                }
                break; /* c, not at the predicted place, the slow way */
            }
        }
        if (q == stop) {
            why = SRUN_ROOM;
            break;
        }
        /* One cell the careful way: the first (no stride yet), the last
         * when no group reached it (fewer than eight bytes of room) or
         * its tail is not [], one whose successor is not at the
         * predicted place, or the first of a group holding a head that
         * is not a byte. */
        em_term h = c->hd;
        if (!is_byte(h)) {
            why = SRUN_OTHER;
            break;
        }
        *q++ = (uint8_t)(h >> 2);
        if ((next = step(c, &stride)) == NULL) {
            why = SRUN_END;
            break;
        }
        c = next;
        if (q == stop) {
            why = SRUN_ROOM;
            break;
        }
    }
out:
    r->c = c, r->stride = stride;
    *qp = q;
    return why;
}
#undef BYTES_CELL

/* Make room for n bytes at q, the cursor of a loop that keeps it in a
 * local; *start (the list's header) moves with the buffer.  Returns the
 * new cursor, or NULL with *rc an error, or 1 for a fixed buffer (which
 * cannot grow: list_write wants spare room the exact size may not have,
 * so its caller takes the exact path; e->p is left alone). */
static uint8_t *room_at(enc *e, uint8_t *q, uint8_t **start, size_t n, int *rc)
{
    if (e->b == NULL) {
        *rc = 1;
        return NULL;
    }
    size_t hdr = (size_t)(q - *start);
    e->p = q;
    if ((*rc = grow(e, n)) < 0)
        return NULL;
    *start = e->p - hdr;
    return e->p;
}

/* Write the list t in ONE walk down its cells: the walk is a chain of
 * loads, the cost that matters for strings and lists of integers.  The
 * format wants the length before the elements, so the header is written
 * last: elements go out as STRING_EXT bytes while every one so far is an
 * integer 0..255 (at most STRING_MAX of them); from the first that is not,
 * the bytes are re-spaced into LIST_EXT small integers and small integers
 * keep going out the same way.  At the first element that is not a small
 * integer, the rest of the list is counted (a walk that reads only the
 * tails) and left to the general traversal, from that cell on.  The
 * buffer grows as needed.  Returns 0, or 1 if a fixed buffer lacks the
 * spare room this needs (nothing written: the caller sizes the list
 * first), or an error. */
static inline __attribute__((always_inline)) int list_write(enc *e, em_term t)
{
    uint8_t *start = e->p, *q, *end = e->end;
    int rc;
    /* Header of either kind and a [] tail, or one pending byte. */
    if ((size_t)(end - start) < 6) {
        if ((start = room_at(e, start, &start, 6, &rc)) == NULL)
            return rc;
        end = e->end;
    }
    q = start + 3;
    size_t n = 0;
    const em__cons *c = (const em__cons *)em__box_of(t);
    ptrdiff_t stride = 0;
    em_term tl;

    /* STRING_EXT bytes.  At least 3 spare bytes stay behind q: the switch
     * to LIST_EXT needs them.  The inner loop runs as far as both the room
     * and STRING_MAX allow, so it checks neither. */
    for (;;) {
        size_t lim = STRING_MAX - n, spare = (size_t)(end - q);
        if (spare < 4) {
            if ((q = room_at(e, q, &start, 4, &rc)) == NULL)
                return rc;
            end = e->end;
            spare = (size_t)(end - q);
        }
        if (spare - 3 < lim)
            lim = spare - 3;
        srun r = {c, stride, 0};
        int why = bytes_run(&r, &q, q + lim);
        if (why == SRUN_NIL)
            goto string;
        c = r.c, stride = r.stride;
        n = (size_t)(q - start) - 3;
        if (why == SRUN_OTHER)
            goto as_list;
        if (why == SRUN_END)
            goto last;
        if (n == STRING_MAX)
            goto as_list; /* c, the next cell, goes out as LIST_EXT */
    }
last:
    tl = c->tl;
    if (tl == EM_NIL) {
    string:
        n = (size_t)(q - start) - 3;
        start[0] = TAG_STRING;
        put16(start + 1, (uint32_t)n);
        e->p = q;
        return 0;
    }
    n = (size_t)(q - start) - 3;
    /* All bytes, but an improper tail: LIST_EXT after all. */
    if ((size_t)(end - q) < n + 2) {
        if ((q = room_at(e, q, &start, n + 2, &rc)) == NULL)
            return rc;
        end = e->end;
    }
    q = string_to_list(start, n);
    goto done;

as_list:
    /* c is the cell (number n) whose element stopped the bytes. */
    if ((size_t)(end - q) < n + 2) {
        if ((q = room_at(e, q, &start, n + 2, &rc)) == NULL)
            return rc;
        end = e->end;
    }
    q = string_to_list(start, n);
    for (;;) {
        /* Room for the largest small integer (11) and a [] tail. */
        if (end - q < 12) {
            if ((q = room_at(e, q, &start, 12, &rc)) == NULL)
                return rc;
            end = e->end;
        }
        srun r = {c, stride, n};
        int why = smalls_run(&r, &q, end);
        c = r.c, stride = r.stride, n = r.n;
        if (why == SRUN_END)
            break;
        if (why == SRUN_OTHER) {
            /* The rest goes through the general traversal. */
            n += count_cells(c);
            if (n > UINT32_MAX)
                return EM_ETOOBIG;
            start[0] = TAG_LIST;
            put32(start + 1, (uint32_t)n);
            e->p = q;
            return push(e, NULL, 0, em__box_term(c));
        }
    }
done:
    /* The room for a [] tail was kept above. */
    if (n > UINT32_MAX)
        return EM_ETOOBIG;
    start[0] = TAG_LIST;
    put32(start + 1, (uint32_t)n);
    if (c->tl == EM_NIL) {
        *q++ = TAG_NIL;
        e->p = q;
        return 0;
    }
    e->p = q;
    return push(e, &c->tl, 1, EM_NONE);
}

/* The top frame, a list whose last head was just taken, waits for its
 * immediate tail: if the list below waits for the same one, it joins it
 * (struct eframe).  Out of line: rare, and kept out of walk()'s loop. */
static __attribute__((noinline)) void tail_join(enc *e)
{
    if (e->sp < 2)
        return;
    eframe *f = &e->stk[e->sp - 1], *u = f - 1;
    if (u->seq == NULL && u->cell == f->cell) {
        u->n++;
        e->sp--;
    }
}

/* Count n bytes (measuring) or make room for them (writing). */
static inline int need(enc *e, size_t n, bool measure)
{
    if (measure) {
        e->size += n;
        return 0;
    }
    return room(e, n);
}

/* A binary of at least e->ref_min bytes: its header into the room, then
 * its bytes to the sink by reference (measuring: counted as such).  Out of
 * line: rare, and kept out of walk()'s loop. */
static __attribute__((noinline)) int bin_ref(enc *e, em_term t, const em__bin *b, bool measure)
{
    bool bits = b->h.aux != 0;
    size_t head = bits ? 6 : 5;
    e->refd += b->size;
    if (measure) {
        e->size += head + b->size;
        return 0;
    }
    int rc = room(e, head);
    if (rc < 0)
        return rc;
    uint8_t *p = e->p;
    *p = bits ? TAG_BIT_BINARY : TAG_BINARY;
    p = put32(p + 1, (uint32_t)b->size);
    if (bits)
        *p++ = (uint8_t)(8 - b->h.aux);
    e->p = p;
    const em__etf_sink *s = e->sink;
    if ((rc = s->commit(s->ud, (size_t)(e->p - e->mark))) < 0)
        return rc;
    e->mark = e->p;
    return s->ref(s->ud, t, b->data, b->size);
}

/* Encode or size the immediate t (a small integer, an atom, [], a local
 * pid: anything but a box).  The walk's leaves, and a tuple's leading
 * elements, written in place (walk()). */
static inline __attribute__((always_inline)) int imm_walk(enc *e, em_term t, const bool measure,
                                                          const bool refs)
{
    int rc;
    uint8_t *p;
    switch (t & EM__TAG_MASK) {
    case EM__TAG_SMALL: {
        int64_t v = em__small_val(t);
        if ((rc = need(e, small_size(v), measure)) < 0)
            return rc;
        p = e->p;
        if (!measure)
            e->p = small_put(p, v);
        break;
    }
    case EM__TAG_IMM:
        switch (t & EM__IMM_MASK) {
        case EM__IMM_ATOM: {
            const em__atom_info *ai = atom_info(t);
            if ((rc = need(e, atom_size(e, ai), measure)) < 0)
                return rc;
            p = e->p;
            if (!measure)
                e->p = atom_put(e, p, ai);
            break;
        }
        case EM__IMM_NIL:
            if ((rc = need(e, 1, measure)) < 0)
                return rc;
            p = e->p;
            if (!measure) {
                *p = TAG_NIL;
                e->p = p + 1;
            }
            break;
        case EM__IMM_PID: {
            /* The thread-local's address taken first, passed down: with
             * it taken inside pid_head_get, after the node is read, gcc
             * kept more values on the stack around the access (a call in
             * the archive's -fPIC objects until the link relaxes it):
             * 11 instructions more a pid. */
            pid_head *hs = pid_heads;
            uint32_t cr;
            em_term node;
            if (refs) {
                /* Measured, then written by another walk: the two must
                 * see one local node (local_node). */
                node = local_node(e, &cr);
            } else {
                /* em_etf_encode's and em_etf_encode_into's one walk has
                 * no other walk to agree with: the node read where it is
                 * used, not kept in e (the flag's test and the stores
                 * were a tenth of a pid's instructions). */
                node = atomic_load_explicit(&em__local_node_atom, memory_order_relaxed);
                cr = atomic_load_explicit(&em__local_creation, memory_order_relaxed);
            }
            const pid_head *ph = pid_head_get(hs, e, node);
            if (__builtin_expect(ph != NULL, 1)) {
                /* Read once: after the copy's stores the compiler would
                 * read it again (they might be to it), and that load
                 * waited for them. */
                size_t hl = ph->len;
                if ((rc = need(e, hl + 12, measure)) < 0)
                    return rc;
                p = e->p;
                if (!measure) {
                    copy_small(p, ph->b, hl);
                    p += hl;
                }
            } else {
                const em__atom_info *ai = atom_info(node);
                if ((rc = need(e, 1 + atom_size(e, ai) + 12, measure)) < 0)
                    return rc;
                p = e->p;
                if (!measure) {
                    *p++ = TAG_NEW_PID;
                    p = atom_put(e, p, ai);
                }
            }
            if (!measure) {
                p = put64(p, (uint64_t)em__local_pid_id(t) << 32 | em__local_pid_serial(t));
                e->p = put32(p, cr);
            }
            break;
        }
        default:
            return EM_EINVAL;
        }
        break;
    default:
        return EM_EINVAL;
    }
    return 0;
}

/* Encode (measure == false) or size (measure == true) term t; with
 * `refs`, binaries of at least e->ref_min bytes go by reference
 * (bin_ref).  Forced inline into its callers so that `measure` and `refs`
 * are constants in each: em_etf_encode's walk has no test for references
 * at all. */
static inline __attribute__((always_inline)) int walk(enc *e, em_term t,
                                                      const bool measure,
                                                      const bool refs)
{
    int rc;
    uint8_t *p;
    for (;;) {
        /* A box, or the rest (the tags tested apart: a switch on the tag
         * costs a box, the usual term here, twice the instructions). */
        if ((t & EM__TAG_MASK) != EM__TAG_BOX) {
            if ((rc = imm_walk(e, t, measure, refs)) < 0)
                return rc;
        } else {
            if (t == EM_NONE)
                return EM_EINVAL;
            switch (em__box_of(t)->kind) {
            case EM__K_TUPLE: {
                const em__tuple *tp = (const em__tuple *)em__box_of(t);
                uint32_t tn = em__tuple_n(tp);
                const em_term *te = em__tuple_e(tp);
                if ((rc = need(e, tn <= 255 ? 2 : 5, measure)) < 0)
                    return rc;
                p = e->p;
                if (!measure) {
                    if (tn <= 255) {
                        p[0] = TAG_SMALL_TUPLE;
                        p[1] = (uint8_t)tn;
                        e->p = p + 2;
                    } else {
                        *p = TAG_LARGE_TUPLE;
                        e->p = put32(p + 1, tn);
                    }
                }
                /* The leading immediates in place (no frame for a tuple
                 * of them, nor for {Pid, List}), then straight into the
                 * first element that is not one; the rest wait. */
                uint32_t i = 0;
                while (i < tn && !em__is_box(te[i])) {
                    if ((rc = imm_walk(e, te[i], measure, refs)) < 0)
                        return rc;
                    i++;
                }
                if (i == tn)
                    break;
                if (tn - i > 1 && (rc = push(e, te + i + 1, tn - i - 1, EM_NONE)) < 0)
                    return rc;
                t = te[i];
                continue;
            }
            case EM__K_CONS: {
                if (!measure) {
                    if ((rc = list_write(e, t)) < 0)
                        return rc;
                    if (rc == 0)
                        break;
                }
                /* Sizing, or writing into a fixed buffer that may have
                 * just the room the list needs: count first, then write
                 * exactly. */
                lscan ls;
                list_scan(t, &ls);
                if (ls.is_string) {
                    if ((rc = need(e, 3 + ls.n, measure)) < 0)
                        return rc;
                    if (!measure) {
                        p = e->p;
                        *p++ = TAG_STRING;
                        p = put16(p, (uint32_t)ls.n);
                        const em__cons *cc = (const em__cons *)em__box_of(t);
                        ptrdiff_t stride = 0;
                        for (;;) {
                            *p++ = (uint8_t)(cc->hd >> 2);
                            if (cc == ls.last)
                                break;
                            cc = step(cc, &stride);
                        }
                        e->p = p;
                    }
                    break;
                }
                if (ls.n > UINT32_MAX)
                    return EM_ETOOBIG;
                if (ls.all_small) {
                    /* Header and elements, then the tail as a one-term
                     * sequence. */
                    if ((rc = need(e, 5 + ls.int_bytes, measure)) < 0)
                        return rc;
                    if (!measure) {
                        p = e->p;
                        *p = TAG_LIST;
                        p = put32(p + 1, (uint32_t)ls.n);
                        const em__cons *cc = (const em__cons *)em__box_of(t);
                        ptrdiff_t stride = 0;
                        for (;;) {
                            p = small_put(p, em__small_val(cc->hd));
                            if (cc == ls.last)
                                break;
                            cc = step(cc, &stride);
                        }
                        e->p = p;
                    }
                    if ((rc = push(e, &ls.last->tl, 1, EM_NONE)) < 0)
                        return rc;
                    break;
                }
                if ((rc = need(e, 5, measure)) < 0)
                    return rc;
                if (!measure) {
                    p = e->p;
                    *p = TAG_LIST;
                    e->p = put32(p + 1, (uint32_t)ls.n);
                }
                if ((rc = push(e, NULL, 0, t)) < 0)
                    return rc;
                break;
            }
            case EM__K_MAP: {
                const em__map *m = (const em__map *)em__box_of(t);
                if ((rc = need(e, 5, measure)) < 0)
                    return rc;
                p = e->p;
                if (!measure) {
                    *p = TAG_MAP;
                    e->p = put32(p + 1, m->n);
                }
                if (m->n == 0)
                    break;
                if ((rc = push(e, m->kv + 1, 2 * (size_t)m->n - 1, EM_NONE)) < 0)
                    return rc;
                t = m->kv[0];
                continue;
            }
            case EM__K_BIN: {
                const em__bin *b = (const em__bin *)em__box_of(t);
                if (b->size > UINT32_MAX)
                    return EM_ETOOBIG;
                if (refs && __builtin_expect(b->size >= e->ref_min, 0)) {
                    if ((rc = bin_ref(e, t, b, measure)) < 0)
                        return rc;
                    break;
                }
                bool bits = b->h.aux != 0;
                if ((rc = need(e, (bits ? 6 : 5) + b->size, measure)) < 0)
                    return rc;
                p = e->p;
                if (!measure) {
                    *p = bits ? TAG_BIT_BINARY : TAG_BINARY;
                    p = put32(p + 1, (uint32_t)b->size);
                    if (bits)
                        *p++ = (uint8_t)(8 - b->h.aux);
                    if (b->size <= 64)
                        copy_small(p, b->data, b->size); /* no call */
                    else
                        memcpy(p, b->data, b->size);
                    e->p = p + b->size;
                }
                break;
            }
            case EM__K_BIG: {
                const em__big *b = (const em__big *)em__box_of(t);
                size_t n = big_bytes(b);
                if (n > UINT32_MAX)
                    return EM_ETOOBIG;
                if ((rc = need(e, big_head(n) + n, measure)) < 0)
                    return rc;
                p = e->p;
                if (!measure)
                    e->p = big_put(p, b, n);
                break;
            }
            case EM__K_FLOAT: {
                double v = ((const em__float *)em__box_of(t))->v;
                uint64_t bits;
                memcpy(&bits, &v, sizeof bits);
                if ((rc = need(e, 9, measure)) < 0)
                    return rc;
                p = e->p;
                if (!measure) {
                    *p = TAG_NEW_FLOAT;
                    e->p = put64(p + 1, bits);
                }
                break;
            }
            case EM__K_PID: {
                const em__pid *pd = (const em__pid *)em__box_of(t);
                const em__atom_info *ai = atom_info(pd->node);
                if ((rc = need(e, 1 + atom_size(e, ai) + 12, measure)) < 0)
                    return rc;
                p = e->p;
                if (!measure) {
                    *p++ = TAG_NEW_PID;
                    p = atom_put(e, p, ai);
                    p = put32(p, pd->id);
                    p = put32(p, pd->serial);
                    e->p = put32(p, pd->creation);
                }
                break;
            }
            case EM__K_PORT: {
                const em__port *pt = (const em__port *)em__box_of(t);
                bool v4 = pt->id > PORT_ID_MAX_NEW;
                const em__atom_info *ai = atom_info(pt->node);
                if ((rc = need(e, 1 + atom_size(e, ai) + (v4 ? 12 : 8), measure)) < 0)
                    return rc;
                p = e->p;
                if (!measure) {
                    *p++ = v4 ? TAG_V4_PORT : TAG_NEW_PORT;
                    p = atom_put(e, p, ai);
                    p = v4 ? put64(p, pt->id) : put32(p, (uint32_t)pt->id);
                    e->p = put32(p, pt->creation);
                }
                break;
            }
            case EM__K_REF: {
                const em__ref *r = (const em__ref *)em__box_of(t);
                assert(r->n >= 1 && r->n <= 5);
                const em__atom_info *ai = atom_info(r->node);
                if ((rc = need(e, 3 + atom_size(e, ai) + 4 + 4 * (size_t)r->n, measure)) < 0)
                    return rc;
                p = e->p;
                if (!measure) {
                    *p++ = TAG_NEWER_REFERENCE;
                    p = put16(p, r->n);
                    p = atom_put(e, p, ai);
                    p = put32(p, r->creation);
                    for (uint32_t i = 0; i < r->n; i++)
                        p = put32(p, r->w[i]);
                    e->p = p;
                }
                break;
            }
            case EM__K_FUN: {
                /* Written back exactly as it was read (term.h). */
                const em__fun *f = (const em__fun *)em__box_of(t);
                if ((rc = need(e, f->len, measure)) < 0)
                    return rc;
                p = e->p;
                if (!measure) {
                    memcpy(p, f->b, f->len);
                    e->p = p + f->len;
                }
                break;
            }
            default:
                return EM_EINVAL;
            }
        }

        /* Next term: the innermost pending sequence's next element. */
        for (;;) {
            if (e->sp == 0)
                return 0;
            eframe *f = &e->stk[e->sp - 1];
            if (f->seq) {
                t = *f->seq++;
                if (--f->n == 0)
                    e->sp--; /* its last element: nothing left to return to */
                break;
            }
            if (em__kind(f->cell) == EM__K_CONS) {
                const em__cons *c = (const em__cons *)em__box_of(f->cell);
                t = c->hd;
                f->cell = c->tl;
                if (__builtin_expect(!em__is_box(f->cell), 0))
                    tail_join(e); /* the last head */
                break;
            }
            t = f->cell; /* the tail, always written, [] included */
            if (f->n > 0)
                f->n--; /* the same tail for the next list down */
            else
                e->sp--;
            break;
        }
    }
}

/* Aligned to a cache line: the walk's loop is the encoder's hot path, and
 * its speed varied by up to 20% with where the link put it (the bytes of
 * the objects before it), not with any change to it.  One measuring walk
 * (em_etf_size passes ref_min SIZE_MAX: a compare per binary), and two
 * writing ones, so that em_etf_encode's has nothing of the sink's.  (What
 * the compiler inlined into the one writing walk there was, it must
 * inline into both: list_write, big_put and count_cells are forced inline,
 * push_slow, the rare path, forced out.) */
static __attribute__((aligned(64))) int walk_measure(enc *e, em_term t) { return walk(e, t, true, true); }
static __attribute__((aligned(64))) int walk_write(enc *e, em_term t) { return walk(e, t, false, false); }
static __attribute__((aligned(64))) int walk_sink(enc *e, em_term t) { return walk(e, t, false, true); }

EM_API int em_etf_size(em_term t, int flags, size_t *size)
{
    if (t == EM_NONE || size == NULL)
        return EM_EINVAL;
    enc e;
    enc_init(&e, flags);
    e.size = (flags & EM_ETF_NO_VERSION) ? 0 : 1;
    e.ref_min = SIZE_MAX;
    e.refd = 0;
    int rc = walk_measure(&e, t);
    enc_fini(&e);
    if (rc < 0)
        return rc;
    *size = e.size;
    return 0;
}

EM_API int em_etf_encode(em_buf *b, em_term t, int flags)
{
    if (b == NULL || t == EM_NONE)
        return EM_EINVAL;
    size_t start = b->len;
    enc e;
    enc_init(&e, flags);
    e.b = b;
    /* Unless b already has room, write to a scratch area on the stack and
     * move the bytes to b at the end: a term that fits costs one
     * allocation of its size instead of a series of doubling reallocs
     * (the size is known only once it is written), and a larger one
     * moves to b when it outgrows the scratch (grow()). */
    uint8_t scratch[ENCODE_SCRATCH];
    if (b->cap - b->len >= ENCODE_SCRATCH) {
        e.p = b->data + b->len;
        e.end = b->data + b->cap;
    } else {
        e.scratch = e.p = scratch;
        e.end = scratch + sizeof scratch;
    }
    if (!(flags & EM_ETF_NO_VERSION))
        *e.p++ = TAG_VERSION;
    int rc = walk_write(&e, t);
    enc_fini(&e);
    if (rc == 0 && e.scratch) {
        size_t n = (size_t)(e.p - scratch);
        if (b->data == NULL && n <= 64) {
            /* The usual case: a fresh buffer, and a term of at most 64
             * bytes.  em_buf_reserve's first size, 64, filled with all 64
             * bytes of the scratch in four fixed moves instead of a copy
             * that branches on n (the bytes past n are spare room, as
             * malloc's would be). */
            assert(b->len == 0);
            if ((b->data = malloc(64)) == NULL)
                return EM_ENOMEM;
            b->cap = 64;
            memcpy(b->data, scratch, 64);
            b->len = n;
            return 0;
        }
        if (b->data == NULL) {
            /* A fresh buffer: what em_buf_reserve would allocate, without
             * its general case. */
            size_t cap = 128;
            while (cap < n)
                cap *= 2;
            if ((b->data = malloc(cap)) == NULL)
                return EM_ENOMEM;
            b->cap = cap;
        } else if ((rc = em_buf_reserve(b, n)) < 0) {
            return rc;
        }
        if (n <= 64)
            copy_small(b->data + b->len, scratch, n);
        else
            memcpy(b->data + b->len, scratch, n);
        b->len += n;
        return 0;
    }
    if (rc < 0) {
        b->len = start;
        return rc;
    }
    b->len = (size_t)(e.p - b->data);
    return 0;
}

EM_API long em_etf_encode_into(uint8_t *buf, size_t cap, em_term t, int flags)
{
    if (t == EM_NONE || (buf == NULL && cap > 0))
        return EM_EINVAL;
    uint8_t none;
    if (buf == NULL)
        buf = &none; /* cap is 0: nothing is written; avoids NULL + 0 */
    enc e;
    enc_init(&e, flags);
    e.p = buf;
    e.end = buf + cap;
    if (!(flags & EM_ETF_NO_VERSION)) {
        if (cap == 0)
            return EM_ETRUNC;
        *e.p++ = TAG_VERSION;
    }
    int rc = walk_write(&e, t);
    enc_fini(&e);
    if (rc < 0)
        return rc;
    return (long)(e.p - buf);
}

int em__etf_encode_msg_size(em__etf_msg *m, em_term ctl, em_term msg, size_t ref_min)
{
    if (m == NULL || ctl == EM_NONE)
        return EM_EINVAL;
    enc e;
    enc_init(&e, EM_ETF_DIST);
    e.ref_min = ref_min;
    e.refd = 0;
    e.size = 1;
    int rc = walk_measure(&e, ctl);
    if (rc == 0 && msg != EM_NONE) {
        e.size++;
        rc = walk_measure(&e, msg);
    }
    enc_fini(&e);
    if (rc < 0)
        return rc;
    m->ctl = ctl;
    m->msg = msg;
    m->size = e.size;
    m->copied = e.size - e.refd;
    m->ref_min = ref_min;
    /* The one the walks read, if any pid needed it (else any will do). */
    uint32_t cr;
    m->node = local_node(&e, &cr);
    m->creation = cr;
    return 0;
}

int em__etf_encode_msg(const em__etf_msg *m, const uint8_t *head, size_t nhead,
                       const em__etf_sink *s)
{
    if (m == NULL || s == NULL || (head == NULL && nhead > 0))
        return EM_EINVAL;
    size_t n = nhead + m->copied;
    uint8_t *d = s->room(s->ud, n);
    if (d == NULL)
        return EM_ENOMEM;
    if (nhead)
        memcpy(d, head, nhead);
    enc e;
    enc_init(&e, EM_ETF_DIST);
    e.ref_min = m->ref_min;
    e.refd = 0;
    e.sink = s;
    e.have_local = true;
    e.local_node = m->node;
    e.local_cr = m->creation;
    e.mark = d;
    e.p = d + nhead;
    e.end = d + n;
    /* The room holds at least the two 131s: copied counts them. */
    *e.p++ = TAG_VERSION;
    int rc = walk_sink(&e, m->ctl);
    if (rc == 0 && m->msg != EM_NONE) {
        if ((rc = room(&e, 1)) == 0) {
            *e.p++ = TAG_VERSION;
            rc = walk_sink(&e, m->msg);
        }
    }
    enc_fini(&e);
    if (rc < 0)
        return rc;
    /* Measured and written by one walk with one local node: the bytes are
     * the size (more would have failed above, with EM_ETRUNC). */
    assert(e.p == e.end && e.refd == m->size - m->copied);
    if (e.p > e.mark)
        rc = s->commit(s->ud, (size_t)(e.p - e.mark));
    return rc;
}
