/* term.c: boxes, reference counting, constructors and accessors.
 * The representation is described in term_int.h and
 * term_seam.h; the model in <ember/term.h>. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "term_int.h"

_Atomic uint64_t em__local_node_atom = ((uint64_t)EM__A_NONODE << 4) | EM__IMM_ATOM;
_Atomic uint32_t em__local_creation = 0;

/* ---- allocation and release ---- */

/* ---- small boxes: a per-thread cache in front of malloc ----
 * Most messages and references are small boxes ({self(), ping}, a ref)
 * made and dropped at a high rate; a thread keeps up to CACHE_MAX freed
 * ones per size class (16, 32, 48, 64 bytes) and reuses them, which costs
 * a few instructions instead of a malloc and a free.  Every small box is
 * allocated with its class's full size, so any block of a class fits any
 * box of it; a block may still be given to free() (big.c, pattern.c do).
 * A thread's cache is freed when it exits (a pthread key's destructor) or
 * by em__box_cache_flush. */
#define SMALL_MAX 64
#define NCLASS (SMALL_MAX / 16)
/* Under AddressSanitizer nothing is cached, so a use after the last drop
 * is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define CACHE_MAX 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CACHE_MAX 0
#endif
#endif
#ifndef CACHE_MAX
#define CACHE_MAX 128
#endif
typedef struct small_free {
    struct small_free *next;
} small_free;
static _Thread_local small_free *cache[NCLASS];
/* Places left in each class: CACHE_MAX less the boxes in it once the
 * thread's exit hook is set (cache_keyed), 0 before (the cache is empty
 * then), so small_put tests one word for both. */
static _Thread_local unsigned room[NCLASS];
static _Thread_local bool cache_keyed;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

void em__box_cache_flush(void)
{
    for (int c = 0; c < NCLASS; c++) {
        while (cache[c]) {
            small_free *f = cache[c];
            cache[c] = f->next;
            free(f);
        }
        room[c] = cache_keyed ? CACHE_MAX : 0;
    }
}

static void cache_thread_exit(void *unused)
{
    (void)unused;
    em__box_cache_flush();
}

static void cache_key_init(void)
{
    if (pthread_key_create(&cache_key, cache_thread_exit) != 0)
        abort(); /* no key: cached boxes would leak at every thread exit */
}

static inline int small_class(size_t size)
{
    return size <= SMALL_MAX ? (int)((size + 15) / 16) - 1 : -1;
}

/* The allocated size of a box of a kind the cache takes back, else 0. */
static size_t cached_size(const em__box *b)
{
    switch (b->kind) {
    case EM__K_TUPLE: /* the arity in the header: no em__tuple_n branch */
        return b->aux != EM__TUPLE_LONG ? sizeof(em__tuple) + (size_t)b->aux * sizeof(em_term)
                                        : em__tuple_bytes(em__tuple_n((const em__tuple *)b));
    case EM__K_CONS:
        return sizeof(em__cons);
    case EM__K_FLOAT:
        return sizeof(em__float);
    case EM__K_PID:
        return sizeof(em__pid);
    case EM__K_REF:
        return sizeof(em__ref);
    case EM__K_PORT:
        return sizeof(em__port);
    default:
        return 0;
    }
}

/* ---- large blocks: a process-wide cache in front of malloc ----
 * A large binary or arena (a 64 KB distribution message, a decoded big
 * term) is usually made on one thread and freed on another.  Given back to
 * malloc, a freed block that borders the top of its arena is trimmed and
 * returned to the kernel (glibc trims above 128 KB of free top), and the
 * next such block is faulted in page by page again, for every message of
 * a stream of large ones (docs/perf.md).  So a
 * freed block of BIG_MIN..BIG_MAX bytes is kept in a small cache shared by
 * all threads (most such blocks cross threads), one stack per size rounded
 * up to a page, at most BIG_PER_SIZE blocks per size and BIG_CACHE_BYTES
 * in all, and the next request of that rounded size reuses it.  Every block
 * in the range is allocated with its rounded size, so a cached block fits
 * any request that rounds to its size.  The size asked of malloc leaves
 * room for its own header (BIG_HDR), so that the underlying chunk is whole
 * pages.  A scheduler that has been idle for a second empties the cache
 * (runtime/mem.c), at most once a second. */
#define BIG_PAGE 4096u
#define BIG_HDR 16u
#define BIG_MIN (16u * 1024)
#define BIG_MAX (1024u * 1024)
#define BIG_NSIZE (BIG_MAX / BIG_PAGE + 1)
#define BIG_PER_SIZE 16u
#define BIG_CACHE_BYTES (8u * 1024 * 1024)
#if CACHE_MAX == 0
#define BIG_CACHING 0 /* AddressSanitizer: every free reaches it */
#else
#define BIG_CACHING 1
#endif
static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;
static small_free *big_stack[BIG_NSIZE]; /* by rounded size / BIG_PAGE */
static uint8_t big_count[BIG_NSIZE];
static size_t big_bytes; /* in all stacks; <= BIG_CACHE_BYTES */

static inline bool big_size(size_t size)
{
    return BIG_CACHING && size >= BIG_MIN && size <= BIG_MAX;
}

static void *big_alloc(size_t size)
{
    assert(big_size(size));
    size_t k = (size + BIG_HDR + BIG_PAGE - 1) / BIG_PAGE;
    pthread_mutex_lock(&big_lock);
    small_free *f = big_stack[k];
    if (f) {
        big_stack[k] = f->next;
        big_count[k]--;
        big_bytes -= k * BIG_PAGE;
    }
    pthread_mutex_unlock(&big_lock);
    return f ? (void *)f : malloc(k * BIG_PAGE - BIG_HDR);
}

static void big_free(void *p, size_t size)
{
    assert(big_size(size));
    size_t k = (size + BIG_HDR + BIG_PAGE - 1) / BIG_PAGE;
    pthread_mutex_lock(&big_lock);
    if (big_count[k] < BIG_PER_SIZE && big_bytes + k * BIG_PAGE <= BIG_CACHE_BYTES) {
        small_free *f = p;
        f->next = big_stack[k];
        big_stack[k] = f;
        big_count[k]++;
        big_bytes += k * BIG_PAGE;
        p = NULL;
    }
    pthread_mutex_unlock(&big_lock);
    free(p);
}

void em__big_cache_flush(void)
{
    pthread_mutex_lock(&big_lock);
    for (size_t k = 0; k < BIG_NSIZE; k++) {
        while (big_stack[k]) {
            small_free *f = big_stack[k];
            big_stack[k] = f->next;
            free(f);
        }
        big_count[k] = 0;
    }
    big_bytes = 0;
    pthread_mutex_unlock(&big_lock);
}

/* The allocated size of a box that may be a large block (see above). */
static size_t block_size(const em__box *b)
{
    if (b->kind == EM__K_ARENA)
        return ((const em__arena *)b)->size;
    if (b->kind == EM__K_BIN && ((const em__bin *)b)->owner == NULL)
        return sizeof(em__bin) + ((const em__bin *)b)->size;
    return 0;
}

/* small_put when the class is full or the thread has no exit hook yet. */
__attribute__((noinline)) static void small_put_slow(em__box *b, int c)
{
    if (!cache_keyed) {
        pthread_once(&cache_once, cache_key_init);
        pthread_setspecific(cache_key, &cache_keyed); /* any non-NULL value */
        cache_keyed = true;
        for (int i = 0; i < NCLASS; i++) {
            assert(cache[i] == NULL); /* nothing cached before */
            room[i] = CACHE_MAX;
        }
    }
    if (room[c] == 0) {
        free(b);
        return;
    }
    small_free *f = (small_free *)b;
    f->next = cache[c];
    cache[c] = f;
    room[c]--;
}

/* Keep the freed small box b, of class c, in the calling thread's cache,
 * or free it when the class is full. */
static inline void small_put(em__box *b, int c)
{
    if (room[c] != 0) {
        small_free *f = (small_free *)b;
        f->next = cache[c];
        cache[c] = f;
        room[c]--;
        return;
    }
    small_put_slow(b, c);
}

/* Free a box that is not an arena member (its own block). */
static void box_free(em__box *b)
{
    size_t size = cached_size(b);
    if (size == 0 && BIG_CACHING) {
        size = block_size(b);
        if (big_size(size)) {
            big_free(b, size);
            return;
        }
        free(b);
        return;
    }
    int c = size ? small_class(size) : -1;
    if (c < 0) {
        free(b);
        return;
    }
    small_put(b, c);
}

/* A new box of `size` bytes, rc 1: inlined into this file's constructors
 * (em_tuple's is on the path of most messages). */
static inline void *box_alloc(size_t size, int kind)
{
    int c = small_class(size);
    em__box *b;
    if (c >= 0 && cache[c]) {
        small_free *f = cache[c];
        cache[c] = f->next;
        room[c]++;
        b = (em__box *)f;
    } else if (big_size(size)) {
        b = big_alloc(size);
    } else {
        b = malloc(c >= 0 ? (size_t)(c + 1) * 16 : size);
    }
    if (b == NULL)
        return NULL;
    atomic_init(&b->rc, 1);
    b->kind = (uint8_t)kind;
    b->flags = 0;
    b->aux = 0;
    return b;
}

void *em__box_alloc(size_t size, int kind)
{
    return box_alloc(size, kind);
}

em__arena *em__arena_new(size_t size)
{
    assert(size >= sizeof(em__arena));
    if (size > UINT32_MAX) /* member offsets are 32-bit (term_seam.h) */
        return NULL;
    em__arena *a = big_size(size) ? big_alloc(size) : malloc(size);
    if (a == NULL)
        return NULL;
    atomic_init(&a->h.rc, 1);
    a->h.kind = EM__K_ARENA;
    a->h.flags = 0;
    a->h.aux = 0;
    a->size = size;
    a->hold = EM_NONE;
    return a;
}

/* The box that holds the count for b: b itself or its arena. */
static inline em__box *counted(em__box *b)
{
    if (b->flags & EM__BF_ARENA)
        return (em__box *)((char *)b - atomic_load_explicit(&b->rc, memory_order_relaxed));
    return b;
}

EM_API em_term em_dup(em_term t)
{
    if (em__is_box(t))
        atomic_fetch_add_explicit(&counted(em__box_of(t))->rc, 1, memory_order_relaxed);
    return t;
}

/* A worklist of dead boxes whose children still need releasing.  Freeing
 * walks it instead of recursing, so any depth is fine on a small stack. */
typedef struct worklist {
    em__box **v;
    size_t n, cap;
    em__box *local[32];
} worklist;

static void wl_push(worklist *w, em__box *b)
{
    if (w->n == w->cap) {
        size_t cap = w->cap * 2;
        em__box **v = w->v == w->local ? malloc(cap * sizeof *v) : realloc(w->v, cap * sizeof *v);
        if (v == NULL)
            return; /* out of memory while freeing: the box leaks, nothing breaks */
        if (w->v == w->local)
            memcpy(v, w->local, w->n * sizeof *v);
        w->v = v;
        w->cap = cap;
    }
    w->v[w->n++] = b;
}

/* Release one reference to b (a counted box); true if it was the last.
 * A count of 1 seen by its holder cannot change under it (nobody else holds
 * a reference to copy), so the last reference is let go without the atomic
 * decrement, which costs several times an ordinary load: most boxes (a
 * message, a reference) have one holder all their life.  The load is
 * acquire for the same reason the decrement is acq_rel: the thread that
 * frees must see every write made by threads that released their
 * references before it (their decrements are releases). */
static inline bool release_last(em__box *b)
{
    if (atomic_load_explicit(&b->rc, memory_order_acquire) == 1)
        return true;
    return atomic_fetch_sub_explicit(&b->rc, 1, memory_order_acq_rel) == 1;
}

/* Release one reference; if it was the last, queue the box. */
static inline void release(worklist *w, em_term t)
{
    if (!em__is_box(t))
        return;
    em__box *b = counted(em__box_of(t));
    if (release_last(b))
        wl_push(w, b);
}

static void free_box(worklist *w, em__box *b)
{
    switch (b->kind) {
    case EM__K_TUPLE: {
        const em__tuple *t = (const em__tuple *)b;
        const em_term *e = em__tuple_e(t);
        for (uint32_t i = 0, n = em__tuple_n(t); i < n; i++)
            release(w, e[i]);
        break;
    }
    case EM__K_CONS: {
        /* Walk the spine here: a long list queues one box at a time. */
        em__cons *c = (em__cons *)b;
        release(w, c->hd);
        release(w, c->tl);
        break;
    }
    case EM__K_MAP: {
        em__map *m = (em__map *)b;
        for (uint32_t i = 0; i < 2 * m->n; i++)
            release(w, m->kv[i]);
        break;
    }
    case EM__K_BIN: {
        em__bin *bin = (em__bin *)b;
        if (bin->owner)
            release(w, em__box_term(bin->owner));
        break;
    }
    case EM__K_ARENA:
        /* Its members refer only to each other, to immediates and into
         * the storage of hold (term_int.h). */
        release(w, ((em__arena *)b)->hold);
        break;
    default: /* BIG, FLOAT, PID, PORT, REF, FUN own nothing */
        break;
    }
    box_free(b);
}

/* drop_dead's general case: b and what dies with it, through a worklist
 * (out of line: its frame holds the worklist's first 32 entries). */
__attribute__((noinline)) static void drop_tree(em__box *b)
{
    worklist w;
    w.v = w.local; /* no initializer: zeroing the local array costs */
    w.n = 0;
    w.cap = sizeof w.local / sizeof w.local[0];
    w.v[w.n++] = b;
    while (w.n)
        free_box(&w, w.v[--w.n]);
    if (w.v != w.local)
        free(w.v);
}

/* The last reference to b is gone: free it and whatever dies with it. */
static inline void drop_dead(em__box *b)
{
    /* A small tuple of immediates (most messages) needs no worklist. */
    if (b->kind == EM__K_TUPLE && b->aux <= 4) { /* aux: the arity (term_seam.h) */
        const em_term *w = ((const em__tuple *)b)->w;
        uint32_t n = b->aux;
        /* Only the tag is looked at: an element that is EM_NONE (a tuple
         * left half-built) has the box tag too, and takes drop_tree's
         * path, which skips it.  Unrolled: a loop's counting was a quarter
         * of the drop of a pair. */
#define IMM(i) (n <= (i) || (w[i] & EM__TAG_MASK) != EM__TAG_BOX)
        if (IMM(0) && IMM(1) && IMM(2) && IMM(3)) {
#undef IMM
            /* its class, as box_alloc chose it: (8 + 8n + 15) / 16 - 1 */
            small_put(b, (int)n / 2);
            return;
        }
    }
    drop_tree(b);
}

EM_API void em_drop(em_term t)
{
    if (!em__is_box(t))
        return;
    em__box *b = counted(em__box_of(t));
    if (release_last(b))
        drop_dead(b);
}

/* Release n terms (the arguments of a failed constructor). */
static void drop_all(size_t n, const em_term *v)
{
    for (size_t i = 0; i < n; i++)
        em_drop(v[i]);
}

static bool any_none(size_t n, const em_term *v)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == EM_NONE)
            return true;
    return false;
}

/* ---- types ---- */

int em__type_rank(em_term t)
{
    em_type ty = em_typeof(t);
    return ty == EM_TYPE_FLOAT ? EM_TYPE_INTEGER : (int)ty; /* one rank: numbers */
}

EM_API em_type em_typeof(em_term t)
{
    if (t == EM_NONE)
        return EM_TYPE_NONE;
    switch (t & EM__TAG_MASK) {
    case EM__TAG_SMALL:
        return EM_TYPE_INTEGER;
    case EM__TAG_IMM:
        switch (t & EM__IMM_MASK) {
        case EM__IMM_ATOM: return EM_TYPE_ATOM;
        case EM__IMM_NIL: return EM_TYPE_NIL;
        case EM__IMM_PID: return EM_TYPE_PID;
        default: return EM_TYPE_NONE;
        }
    case EM__TAG_BOX:
        switch (em__box_of(t)->kind) {
        case EM__K_BIG: return EM_TYPE_INTEGER;
        case EM__K_FLOAT: return EM_TYPE_FLOAT;
        case EM__K_TUPLE: return EM_TYPE_TUPLE;
        case EM__K_CONS: return EM_TYPE_LIST;
        case EM__K_BIN: return EM_TYPE_BINARY;
        case EM__K_MAP: return EM_TYPE_MAP;
        case EM__K_PID: return EM_TYPE_PID;
        case EM__K_PORT: return EM_TYPE_PORT;
        case EM__K_REF: return EM_TYPE_REF;
        case EM__K_FUN: return EM_TYPE_FUN;
        default: return EM_TYPE_NONE;
        }
    default:
        return EM_TYPE_NONE;
    }
}

/* ---- UTF-8 ---- */

int em__utf8_decode(const uint8_t *s, size_t len, uint32_t *cp)
{
    if (len == 0)
        return 0;
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int n;
    uint32_t v, min;
    if ((c & 0xe0) == 0xc0) { n = 2; v = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { n = 3; v = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { n = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if (len < (size_t)n)
        return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

int em__utf8_encode(uint32_t cp, uint8_t *out)
{
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xc0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* ---- numbers ---- */

EM_API em_term em_int(int64_t v)
{
    if (em__fits_small(v))
        return em__small(v);
    return v < 0 ? em__big_from_u64(true, (uint64_t)0 - (uint64_t)v) : em__big_from_u64(false, (uint64_t)v);
}

EM_API em_term em_uint(uint64_t v)
{
    if (v <= (uint64_t)EM__SMALL_MAX)
        return em__small((int64_t)v);
    return em__big_from_u64(false, v);
}

EM_API em_term em_float(double v)
{
    if (!isfinite(v))
        return EM_NONE;
    em__float *f = em__box_alloc(sizeof *f, EM__K_FLOAT);
    if (f == NULL)
        return EM_NONE;
    f->v = v;
    return em__box_term(f);
}

EM_API int em_float_get(em_term t, double *out)
{
    if (em__kind(t) != EM__K_FLOAT)
        return EM_EBADARG;
    *out = ((em__float *)em__box_of(t))->v;
    return 0;
}

EM_API int em_int_get(em_term t, int64_t *out)
{
    if (em__is_small(t)) {
        *out = em__small_val(t);
        return 0;
    }
    if (em__kind(t) != EM__K_BIG)
        return EM_EBADARG;
    const em__big *b = (const em__big *)em__box_of(t);
    if (b->n > 1)
        return EM_ETOOBIG;
    uint64_t m = b->d[0];
    if (b->h.aux) {
        if (m > (uint64_t)INT64_MAX + 1)
            return EM_ETOOBIG;
        *out = (int64_t)(0 - m);
    } else {
        if (m > (uint64_t)INT64_MAX)
            return EM_ETOOBIG;
        *out = (int64_t)m;
    }
    return 0;
}

/* ---- tuples ---- */

EM_API em_term em_tuplev(size_t n, const em_term *elems)
{
    if (n > UINT32_MAX || any_none(n, elems)) {
        drop_all(n, elems);
        return EM_NONE;
    }
    em__tuple *t = box_alloc(em__tuple_bytes(n), EM__K_TUPLE);
    if (t == NULL) {
        drop_all(n, elems);
        return EM_NONE;
    }
    em_term *e = em__tuple_set_n(t, (uint32_t)n);
    if (n)
        memcpy(e, elems, n * sizeof(em_term));
    return em__box_term(t);
}

/* Tuples em_tuple builds in place (tuple_small): every box class. */
#define TUPLE_SMALL ((SMALL_MAX - sizeof(em__tuple)) / sizeof(em_term))

/* Collect n variadic em_term arguments into a small array (or the heap). */
#define VA_COLLECT(n, ap, v, local)                                            \
    do {                                                                       \
        (v) = (n) <= 16 ? (local) : malloc((n) * sizeof(em_term));             \
        for (size_t i_ = 0; i_ < (n); i_++) {                                  \
            em_term x_ = va_arg(ap, em_term);                                  \
            if (v)                                                             \
                (v)[i_] = x_;                                                  \
            else                                                               \
                em_drop(x_);                                                   \
        }                                                                      \
    } while (0)

/* The n elements of em_tuple straight from its arguments into a new box:
 * no array, no copy (most messages are small tuples made this way). */
static inline em_term tuple_small(size_t n, va_list ap)
{
    em__tuple *t = box_alloc(em__tuple_bytes(n), EM__K_TUPLE);
    em_term *e = t ? em__tuple_set_n(t, (uint32_t)n) : NULL;
    bool none = false;
    for (size_t i = 0; i < n; i++) {
        em_term x = va_arg(ap, em_term);
        none |= x == EM_NONE;
        if (e)
            e[i] = x;
        else
            em_drop(x);
    }
    if (t == NULL)
        return EM_NONE;
    if (none) {
        drop_all(n, e); /* EM_NONE drops as nothing */
        box_free(&t->h);
        return EM_NONE;
    }
    return em__box_term(t);
}

/* em_tuple of more than TUPLE_SMALL elements (out of line: em_tuple's
 * frame stays small for the common case). */
__attribute__((noinline)) static em_term tuple_large(size_t n, va_list ap)
{
    em_term local[16] = {0}, *v; /* (zeroed: GCC cannot see that n > TUPLE_SMALL fills it) */
    assert(n > TUPLE_SMALL);
    VA_COLLECT(n, ap, v, local);
    if (v == NULL)
        return EM_NONE;
    em_term t = em_tuplev(n, v);
    if (v != local)
        free(v);
    return t;
}

/* (em_tuple): the name in parentheses is not the macro of term.h. */
EM_API em_term (em_tuple)(size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    em_term t = n <= TUPLE_SMALL ? tuple_small(n, ap) : tuple_large(n, ap);
    va_end(ap);
    return t;
}

/* em_tuple_packed's rare paths, out of line so that its common one (a
 * small tuple from a cached box) saves no registers for their calls: a
 * large tuple, an empty class of the box cache, or an EM_NONE element (the
 * tuple then takes the other elements with it: an EM_NONE element drops as
 * nothing). */
__attribute__((noinline)) static em_term tuple_packed_slow(const em_term *a)
{
    size_t n = (size_t)a[0];
    const em_term *v = a + 1;
    if (n > TUPLE_SMALL)
        return em_tuplev(n, v);
    em__tuple *t = box_alloc(em__tuple_bytes(n), EM__K_TUPLE);
    if (t == NULL) {
        drop_all(n, v);
        return EM_NONE;
    }
    em_term *e = em__tuple_set_n(t, (uint32_t)n);
    if (n)
        memcpy(e, v, n * sizeof(em_term));
    if (any_none(n, v)) {
        em_drop(em__box_term(t));
        return EM_NONE;
    }
    return em__box_term(t);
}

/* The tuple t has an EM_NONE element: drop it (and the others with it). */
__attribute__((noinline)) static em_term tuple_packed_none(em__tuple *t)
{
    em_drop(em__box_term(t));
    return EM_NONE;
}

EM_API em_term em_tuple_packed(const em_term *a)
{
    size_t n = (size_t)a[0];
    if (n > TUPLE_SMALL)
        return tuple_packed_slow(a);
    int c = small_class(em__tuple_bytes(n));
    small_free *f = cache[c];
    if (f == NULL)
        return tuple_packed_slow(a);
    cache[c] = f->next;
    room[c]++;
    em__tuple *t = (em__tuple *)f;
    atomic_init(&t->h.rc, 1);
    t->h.kind = EM__K_TUPLE;
    t->h.flags = 0;
    em_term *e = em__tuple_set_n(t, (uint32_t)n);
    /* Copied and checked for EM_NONE (rare) in one loop. */
    const em_term *v = a + 1;
    bool none = false;
    for (size_t i = 0; i < n; i++) {
        e[i] = v[i];
        none |= v[i] == EM_NONE;
    }
    if (none)
        return tuple_packed_none(t);
    return em__box_term(t);
}

EM_API long em_tuple_size(em_term t)
{
    if (em__kind(t) != EM__K_TUPLE)
        return -1;
    return (long)em__tuple_n((const em__tuple *)em__box_of(t));
}

EM_API em_term em_tuple_get(em_term t, size_t i)
{
    if (em__kind(t) != EM__K_TUPLE)
        return EM_NONE;
    const em__tuple *tp = (const em__tuple *)em__box_of(t);
    return i < em__tuple_n(tp) ? em__tuple_e(tp)[i] : EM_NONE;
}

/* ---- lists ---- */

EM_API em_term em_cons(em_term h, em_term t)
{
    if (h == EM_NONE || t == EM_NONE) {
        em_drop(h);
        em_drop(t);
        return EM_NONE;
    }
    em__cons *c = box_alloc(sizeof *c, EM__K_CONS);
    if (c == NULL) {
        em_drop(h);
        em_drop(t);
        return EM_NONE;
    }
    c->hd = h;
    c->tl = t;
    return em__box_term(c);
}

EM_API em_term em_listv_tail(size_t n, const em_term *elems, em_term tail)
{
    if (tail == EM_NONE || any_none(n, elems)) {
        drop_all(n, elems);
        em_drop(tail);
        return EM_NONE;
    }
    em_term l = tail;
    for (size_t i = n; i-- > 0;) {
        l = em_cons(elems[i], l);
        if (l == EM_NONE) {
            drop_all(i, elems);
            return EM_NONE;
        }
    }
    return l;
}

EM_API em_term em_listv(size_t n, const em_term *elems)
{
    return em_listv_tail(n, elems, EM_NIL);
}

EM_API em_term em_list(size_t n, ...)
{
    if (n == 0)
        return EM_NIL; /* and GCC sees that local is filled before it is read */
    em_term local[16], *v;
    va_list ap;
    va_start(ap, n);
    VA_COLLECT(n, ap, v, local);
    va_end(ap);
    if (v == NULL)
        return EM_NONE;
    em_term t = em_listv(n, v);
    if (v != local)
        free(v);
    return t;
}

EM_API em_term em_string_len(const char *s, size_t len)
{
    /* Decode once to validate and count, then build the list from the end
     * into one block of cons cells... kept simple: collect code points. */
    uint32_t local[256], *cps = len <= 256 ? local : malloc(len * sizeof(uint32_t));
    if (cps == NULL)
        return EM_NONE;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        int k = em__utf8_decode((const uint8_t *)s + i, len - i, &cps[n]);
        if (k == 0) {
            if (cps != local)
                free(cps);
            return EM_NONE;
        }
        i += (size_t)k;
        n++;
    }
    em_term l = EM_NIL;
    for (size_t i = n; i-- > 0 && l != EM_NONE;)
        l = em_cons(em__small(cps[i]), l);
    if (cps != local)
        free(cps);
    return l;
}

EM_API em_term em_string(const char *s)
{
    return s ? em_string_len(s, strlen(s)) : EM_NONE;
}

EM_API em_term em_hd(em_term t)
{
    return em__kind(t) == EM__K_CONS ? ((em__cons *)em__box_of(t))->hd : EM_NONE;
}

EM_API em_term em_tl(em_term t)
{
    return em__kind(t) == EM__K_CONS ? ((em__cons *)em__box_of(t))->tl : EM_NONE;
}

EM_API long em_list_length(em_term t)
{
    long n = 0;
    while (em__kind(t) == EM__K_CONS) {
        n++;
        t = ((em__cons *)em__box_of(t))->tl;
    }
    return t == EM_NIL ? n : -1;
}

/* ---- binaries ---- */

EM_API em_term em_bitstring(const void *data, size_t nbits)
{
    size_t size = (nbits + 7) / 8;
    if (size && data == NULL)
        return EM_NONE;
    em__bin *b = em__box_alloc(sizeof *b + size, EM__K_BIN);
    if (b == NULL)
        return EM_NONE;
    b->size = size;
    b->owner = NULL;
    b->data = b->inl;
    b->h.aux = (uint16_t)(size * 8 - nbits);
    if (size) {
        memcpy(b->inl, data, size);
        b->inl[size - 1] &= (uint8_t)(0xff << b->h.aux);
    }
    return em__box_term(b);
}

EM_API em_term em_binary(const void *data, size_t n)
{
    if (n > SIZE_MAX / 8)
        return EM_NONE;
    return em_bitstring(data, n * 8);
}

em_term em__bin_uninit(size_t n, uint8_t **data)
{
    em__bin *b = n <= SIZE_MAX - sizeof *b ? em__box_alloc(sizeof *b + n, EM__K_BIN) : NULL;
    if (b == NULL)
        return EM_NONE;
    b->size = n;
    b->owner = NULL;
    b->data = b->inl;
    *data = b->inl;
    return em__box_term(b);
}

EM_API const uint8_t *em_binary_data(em_term t, size_t *nbits)
{
    if (em__kind(t) != EM__K_BIN)
        return NULL;
    const em__bin *b = (const em__bin *)em__box_of(t);
    if (nbits)
        *nbits = b->size * 8 - b->h.aux;
    return b->data;
}

EM_API long em_binary_size(em_term t)
{
    if (em__kind(t) != EM__K_BIN)
        return -1;
    return (long)((const em__bin *)em__box_of(t))->size;
}

/* ---- maps ---- */

/* Stable merge sort of pair indexes by exact key order. */
static void sort_pairs(uint32_t *ix, uint32_t *tmp, size_t n, const em_term *keys)
{
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = em_compare_exact(keys[ix[b]], keys[ix[a]]) < 0 ? ix[b++] : ix[a++];
            while (a < mid)
                tmp[k++] = ix[a++];
            while (b < hi)
                tmp[k++] = ix[b++];
        }
        memcpy(ix, tmp, n * sizeof *ix);
    }
}

EM_API em_term em_mapv(size_t n, const em_term *keys, const em_term *values)
{
    if (n > UINT32_MAX / 2 || any_none(n, keys) || any_none(n, values)) {
        drop_all(n, keys);
        drop_all(n, values);
        return EM_NONE;
    }
    uint32_t *ix = malloc(2 * n * sizeof *ix + 1);
    em__map *m = em__box_alloc(sizeof *m + 2 * n * sizeof(em_term), EM__K_MAP);
    if (ix == NULL || m == NULL) {
        free(ix);
        free(m);
        drop_all(n, keys);
        drop_all(n, values);
        return EM_NONE;
    }
    for (size_t i = 0; i < n; i++)
        ix[i] = (uint32_t)i;
    sort_pairs(ix, ix + n, n, keys);
    /* Equal keys are adjacent and in argument order: the last one wins. */
    uint32_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && em_compare_exact(keys[ix[i]], keys[ix[i + 1]]) == 0) {
            em_drop(keys[ix[i]]);
            em_drop(values[ix[i]]);
            continue;
        }
        m->kv[2 * out] = keys[ix[i]];
        m->kv[2 * out + 1] = values[ix[i]];
        out++;
    }
    m->n = out;
    free(ix);
    return em__box_term(m);
}

EM_API em_term em_map(size_t n, ...)
{
    em_term local[32], *v;
    va_list ap;
    va_start(ap, n);
    size_t n2 = 2 * n;
    VA_COLLECT(n2, ap, v, local);
    va_end(ap);
    if (v == NULL)
        return EM_NONE;
    em_term lk[16], lv[16];
    em_term *k = n <= 16 ? lk : malloc(n * sizeof(em_term));
    em_term *val = n <= 16 ? lv : malloc(n * sizeof(em_term));
    em_term m = EM_NONE;
    if (k && val) {
        for (size_t i = 0; i < n; i++) {
            k[i] = v[2 * i];
            val[i] = v[2 * i + 1];
        }
        m = em_mapv(n, k, val);
    } else {
        drop_all(n2, v);
    }
    if (k != lk)
        free(k);
    if (val != lv)
        free(val);
    if (v != local)
        free(v);
    return m;
}

EM_API long em_map_size(em_term t)
{
    if (em__kind(t) != EM__K_MAP)
        return -1;
    return (long)((em__map *)em__box_of(t))->n;
}

EM_API em_term em_map_get(em_term t, em_term key)
{
    if (em__kind(t) != EM__K_MAP)
        return EM_NONE;
    const em__map *m = (const em__map *)em__box_of(t);
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = em_compare_exact(m->kv[2 * mid], key);
        if (c == 0)
            return m->kv[2 * mid + 1];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return EM_NONE;
}

EM_API em_term em_map_key(em_term t, size_t i)
{
    if (em__kind(t) != EM__K_MAP || i >= ((em__map *)em__box_of(t))->n)
        return EM_NONE;
    return ((em__map *)em__box_of(t))->kv[2 * i];
}

EM_API em_term em_map_value(em_term t, size_t i)
{
    if (em__kind(t) != EM__K_MAP || i >= ((em__map *)em__box_of(t))->n)
        return EM_NONE;
    return ((em__map *)em__box_of(t))->kv[2 * i + 1];
}

/* ---- identifiers ---- */

EM_API void em_local_node_set(em_term name, uint32_t creation)
{
    if (!em__is_atom(name))
        return;
    atomic_store(&em__local_node_atom, name);
    atomic_store(&em__local_creation, creation);
}

EM_API em_term em_local_node(uint32_t *creation)
{
    if (creation)
        *creation = atomic_load(&em__local_creation);
    return atomic_load(&em__local_node_atom);
}

em_term em__pid_make(em_term node, uint32_t id, uint32_t serial, uint32_t creation)
{
    if (node == atomic_load_explicit(&em__local_node_atom, memory_order_relaxed) &&
        creation == atomic_load_explicit(&em__local_creation, memory_order_relaxed) &&
        id <= EM__LOCAL_PID_ID_MAX)
        return em__local_pid(id, serial);
    em__pid *p = em__box_alloc(sizeof *p, EM__K_PID);
    if (p == NULL)
        return EM_NONE;
    p->node = node;
    p->id = id;
    p->serial = serial;
    p->creation = creation;
    return em__box_term(p);
}

EM_API em_term em_pid(em_term node, uint32_t id, uint32_t serial, uint32_t creation)
{
    if (!em__is_atom(node))
        return EM_NONE;
    return em__pid_make(node, id, serial, creation);
}

EM_API em_term em_ref(em_term node, uint32_t creation, const uint32_t *words, size_t nwords)
{
    if (!em__is_atom(node) || nwords < 1 || nwords > 5 || words == NULL)
        return EM_NONE;
    em__ref *r = em__box_alloc(sizeof *r, EM__K_REF);
    if (r == NULL)
        return EM_NONE;
    r->node = node;
    r->creation = creation;
    r->n = (uint32_t)nwords;
    memset(r->w, 0, sizeof r->w);
    memcpy(r->w, words, nwords * sizeof(uint32_t));
    return em__box_term(r);
}

EM_API em_term em_port(em_term node, uint64_t id, uint32_t creation)
{
    if (!em__is_atom(node))
        return EM_NONE;
    em__port *p = em__box_alloc(sizeof *p, EM__K_PORT);
    if (p == NULL)
        return EM_NONE;
    p->node = node;
    p->id = id;
    p->creation = creation;
    return em__box_term(p);
}

EM_API int em_pid_parts(em_term t, em_term *node, uint32_t *id, uint32_t *serial, uint32_t *creation)
{
    em_term n;
    uint32_t i, s, c;
    if (em__is_local_pid(t)) {
        n = atomic_load(&em__local_node_atom);
        c = atomic_load(&em__local_creation);
        i = em__local_pid_id(t);
        s = em__local_pid_serial(t);
    } else if (em__kind(t) == EM__K_PID) {
        const em__pid *p = (const em__pid *)em__box_of(t);
        n = p->node;
        i = p->id;
        s = p->serial;
        c = p->creation;
    } else {
        return EM_EBADARG;
    }
    if (node) *node = n;
    if (id) *id = i;
    if (serial) *serial = s;
    if (creation) *creation = c;
    return 0;
}

EM_API int em_ref_parts(em_term t, em_term *node, uint32_t *creation, uint32_t words[5])
{
    if (em__kind(t) != EM__K_REF)
        return EM_EBADARG;
    const em__ref *r = (const em__ref *)em__box_of(t);
    if (node) *node = r->node;
    if (creation) *creation = r->creation;
    if (words) memcpy(words, r->w, r->n * sizeof(uint32_t));
    return (int)r->n;
}

EM_API int em_port_parts(em_term t, em_term *node, uint64_t *id, uint32_t *creation)
{
    if (em__kind(t) != EM__K_PORT)
        return EM_EBADARG;
    const em__port *p = (const em__port *)em__box_of(t);
    if (node) *node = p->node;
    if (id) *id = p->id;
    if (creation) *creation = p->creation;
    return 0;
}

EM_API const uint8_t *em_fun_bytes(em_term t, size_t *len)
{
    if (em__kind(t) != EM__K_FUN)
        return NULL;
    const em__fun *f = (const em__fun *)em__box_of(t);
    if (len)
        *len = f->len;
    return f->b;
}
