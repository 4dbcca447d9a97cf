/* receive.c: selective receive, references and the receive marker, sleep.
 *
 * A receive scans the private queue from its start (or from the marker, for
 * em_receive_ref) in arrival order; a message that does not match stays
 * where it is.  When the end is reached the process waits for new messages
 * and continues the scan from where it stopped, so no message is examined
 * twice by one receive.  The matched message becomes the process's current
 * message (cur_msg) and is released at the start of the next receive: a
 * receive loop runs in flat memory without the user freeing anything.
 */
#include <stdlib.h>
#include <string.h>

#include "rt.h"

#define MAX_SLOTS 32

/* What a receive looks for.  Kept small: it lives in the frame of a
 * process waiting in the receive, and that frame is copied at switches
 * (stack.c). */
enum { WANT_ANY = 1, WANT_WORD, WANT_PAT, WANT_PRED };
typedef struct want {
    uint16_t kind;      /* WANT_* */
    bool flat;          /* WANT_PAT: the pattern is flat (term_seam.h):
                           matched inline once the filter passed */
    uint32_t arity;     /* WANT_PAT: quick filter on the node's tag (rt.h):
                           when not 0, only tuples of arity arity - 1 whose
                           first element is the word `first` (if not 0) can
                           match */
    union {
        em_term word;   /* WANT_WORD: the message must be this word */
        struct {        /* WANT_PAT */
            const em_pattern *pat;
            em_term *binds;
            em_term first;
            long ref_slot; /* -1, or the slot that must equal ref */
            em_term ref;
        } p;
        struct {        /* WANT_PRED */
            bool (*pred)(em_term, void *);
            void *arg;
        } f;
    } u;
} want;

/* Whether the message of node n is what w wants (pred may run user code,
 * which must not yield). */
static inline __attribute__((always_inline)) bool wants(const want *w, const em__msg *n)
{
    switch (w->kind) {
    case WANT_ANY:
        return true;
    case WANT_WORD:
        return n->term == w->u.word;
    case WANT_PAT:
        if (w->arity != 0 && (n->tag_arity != w->arity || (w->u.p.first != 0 && n->tag_first != w->u.p.first)))
            return false;
        if (w->flat) {
            /* The filter above found a tuple of the pattern's arity. */
            const em__tuple *tp = (const em__tuple *)em__box_of(n->term);
            if (!em__pattern_match_flat(em__pattern_tag_of(w->u.p.pat), em__tuple_e(tp), w->u.p.binds))
                return false;
        } else if (!em_pattern_match(w->u.p.pat, n->term, w->u.p.binds)) {
            return false;
        }
        return w->u.p.ref_slot < 0 || em_equal(w->u.p.binds[w->u.p.ref_slot], w->u.p.ref);
    default:
        return w->u.f.pred(n->term, w->u.f.arg);
    }
}

/* Drain p's inbox if anything came: out of line for the receive's loop,
 * which comes here after a wait only when no message of its own thread
 * came (receive_in), and keeps a register fewer for it. */
__attribute__((noinline)) static void drain_new(em__proc *p)
{
    if (em__mbox_has_new(&p->mbox))
        em__proc_drain(p); /* a signal point: may not return */
}

/* The receive itself: scan from `start` (NULL: the private queue's start)
 * for what w wants, waiting for more as needed; *waited set if it did.
 * Inlined into em_receive_pattern only, where the want is a local whose
 * fields the compiler keeps in registers: a compiled pattern is what a
 * loop that receives millions of messages uses; the other receives share
 * one copy, receive_core.
 *
 * local_first (a constant; em_receive_pattern's copy): woken by a sender
 * of this thread (local_new: its message went straight to the private
 * queue, send.c), the process scans the private queue without looking at
 * the inbox first.  Order is kept: there is none between different
 * senders, and one sender's messages in the private queue are all older
 * than its messages in the inbox (a thread that pushed into the inbox
 * keeps pushing there until the process drains it; other threads only
 * push).  What the inbox holds is not lost: if nothing in the private
 * queue matches, the wait's own check (sched.c, settle) finds the inbox
 * not empty and makes the process runnable at once, and it drains it here
 * then; a signal there is handled then, or at the process's next signal
 * point.  The shared copy looks at the inbox first after every wait, as
 * before: with the private queue first there too, ring_100k ran 2 %
 * slower, also where code placement was ruled out (docs/perf.md, fifth
 * round). */
static inline __attribute__((always_inline)) int receive_in(int64_t timeout_ms, const want *w, em__link *start,
                                                            em_term *out, bool local_first, bool *waited)
{
    em__proc *p = em__self_proc();
    if (p == NULL)
        return EM_ESTATE;
    em_drop(p->cur_msg);
    p->cur_msg = EM_NONE;
    em__mbox *mb = &p->mbox;
    em__link *at = start ? start : &mb->first;
    int64_t deadline = timeout_ms > 0 ? em__now_ns() + timeout_ms * 1000000 : -1;
    if (local_first && em__mbox_has_new(mb))
        em__proc_drain(p); /* a signal point: may not return */
    for (;;) {
        if (!local_first && em__mbox_has_new(mb))
            em__proc_drain(p); /* a signal point: may not return */
        p->local_new = 0;  /* what send.c put in the private queue is scanned now */
        em__msg *n;
        while ((n = atomic_load_explicit(at, memory_order_relaxed)) != NULL) {
            if (wants(w, n)) {
                em__mbox_unlink(mb, at);
                p->cur_msg = n->term;
                em__msg_free(n);
                if (out)
                    *out = p->cur_msg;
                em__proc_tick(p);
                return 0;
            }
            at = &n->next;
        }
        if (timeout_ms == 0)
            return EM_ETIMEDOUT;
        *waited = true;
        if (!em__proc_wait(p, EM__W_MSG, deadline))
            return EM_ETIMEDOUT;
        if (local_first && !p->local_new)
            drain_new(p); /* a signal point: may not return */
    }
}

static int receive_core(int64_t timeout_ms, const want *w, em__link *start, em_term *out)
{
    bool waited = false;
    return receive_in(timeout_ms, w, start, out, false, &waited);
}

EM_API int em_receive_any(int64_t timeout_ms, em_term *msg)
{
    static const want any = {.kind = WANT_ANY};
    return receive_core(timeout_ms, &any, NULL, msg);
}

EM_API int em_receive_match(int64_t timeout_ms, bool (*pred)(em_term, void *), void *arg, em_term *msg)
{
    if (pred == NULL)
        return EM_EINVAL;
    want w = {.kind = WANT_PRED, .u.f = {pred, arg}};
    return receive_core(timeout_ms, &w, NULL, msg);
}

int em__receive_marked(int64_t timeout_ms, em_term ref, bool (*pred)(em_term, void *), void *arg,
                       em_term *msg)
{
    em__proc *p = em__self_proc();
    em__link *start = NULL;
    if (p && p->mbox.mark && p->mark_ref != EM_NONE && em_equal(p->mark_ref, ref))
        start = p->mbox.mark;
    want w = {.kind = WANT_PRED, .u.f = {pred, arg}};
    return receive_core(timeout_ms, &w, start, msg);
}

void em__mark_set(em__proc *p)
{
    em__proc_drain(p);
    p->mbox.mark = p->mbox.last;
    em_drop(p->mark_ref);
    p->mark_ref = EM_NONE;
}

/* A pattern's want: a pattern that is one immediate is matched by
 * comparing words. */
static inline void want_pattern(want *w, const em_pattern *pat, uint32_t arity, em_term first,
                                em_term literal, em_term *binds, long ref_slot, em_term ref)
{
    if (literal != 0) {
        w->kind = WANT_WORD;
        w->flat = false;
        w->arity = 0;
        w->u.word = literal;
        return;
    }
    w->kind = WANT_PAT;
    /* The flat match relies on the filter for the kind and the arity:
     * flat_n is 0 or the tag's arity (pattern.c), which arity is. */
    w->flat = em__pattern_tag_of(pat)->flat_n != 0;
    w->arity = arity;
    w->u.p.pat = pat;
    w->u.p.binds = binds;
    w->u.p.first = first;
    w->u.p.ref_slot = ref_slot;
    w->u.p.ref = ref;
}

/* em_receive_pattern's want for pattern p: a word's want has the
 * pattern's fields too (it reads none of them), so that the compiler sees
 * one want whose fields are the same in both kinds but the word, and
 * ref_slot is the constant -1 (no em_equal check compiled in). */
static inline __attribute__((always_inline)) want want_compiled(const em_pattern *p, em_term *binds)
{
    const em__pattern_tag *tag = em__pattern_tag_of(p);
    want w;
    w.kind = tag->literal != 0 ? WANT_WORD : WANT_PAT;
    w.flat = tag->flat_n != 0;
    w.arity = tag->literal != 0 ? 0 : tag->arity;
    w.u.p.pat = p;
    w.u.p.binds = binds;
    w.u.p.first = tag->first;
    w.u.p.ref_slot = -1;
    w.u.p.ref = EM_NONE;
    if (tag->literal != 0)
        w.u.word = tag->literal; /* over u.p.pat */
    return w;
}

/* em_receive_pattern with a limit: the shared copy of the receive. */
__attribute__((noinline)) static int receive_pattern_timed(int64_t timeout_ms, const em_pattern *p,
                                                           em_term *binds)
{
    want w = want_compiled(p, binds);
    return receive_core(timeout_ms, &w, NULL, NULL);
}

/* em_receive_pattern's work; *waited set if its process waited. */
static inline __attribute__((always_inline)) int receive_pattern(int64_t timeout_ms, const em_pattern *p,
                                                                 em_term *binds, bool *waited)
{
    if (p == NULL)
        return EM_EINVAL;
    /* A receive with a limit takes the shared copy: the inline one has no
     * deadline to keep (a register fewer in its loop, no timer), as a loop
     * receiving millions of messages has none either.  (It reports no
     * wait: its return stays a `ret`, see below.) */
    if (timeout_ms >= 0)
        return receive_pattern_timed(timeout_ms, p, binds);
    want w = want_compiled(p, binds);
    return receive_in(EM_INFINITY, &w, NULL, NULL, true, waited);
}

#if defined(__x86_64__)
/* On x86-64 em_receive_pattern is receive_x86_64.S's entry, which calls
 * this and, if the process waited (bit 32 of the result; the return code
 * is the low 32 bits), goes back to its caller with a jump instead of a
 * `ret` (why: there). */
uint64_t em__receive_pattern_in(int64_t timeout_ms, const em_pattern *p, em_term *binds)
{
    bool waited = false;
    int rc = receive_pattern(timeout_ms, p, binds, &waited);
    return (uint32_t)rc | (uint64_t)waited << 32;
}
#else
EM_API int em_receive_pattern(int64_t timeout_ms, const em_pattern *p, em_term *binds)
{
    bool waited = false;
    return receive_pattern(timeout_ms, p, binds, &waited);
}
#endif

/* ---- the pattern cache ----
 * Compiled patterns are kept for the life of the runtime, found by text in
 * a global list (under a lock), and by the text's address in a small
 * per-thread cache, checked with strcmp so a reused buffer is safe. */

typedef struct cached {
    struct cached *next;
    char *text;   /* a copy, zero-padded to a whole number of words */
    size_t len;   /* strlen(text) */
    em_pattern *pat;
    size_t nvars;  /* em_pattern_nvars(pat) */
    long ref_slot; /* the variable named Ref (em_receive_ref), or -1 */
    uint32_t arity; /* em__pattern_tag_of(pat)'s */
    em_term first, literal;
} cached;

static cached *all_patterns;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned cache_epoch = 1;

#define TLC 64
static _Thread_local struct {
    const char *key;
    cached *c;
    unsigned epoch;
} tl_cache[TLC];

/* Whether the caller's pattern text equals the cached one (c->len bytes
 * and its NUL).  Every receive through a pattern string does this, so it
 * goes a word at a time: a byte loop over "{From, Cmd}" was a visible part
 * of a local ping-pong round trip (docs/perf.md).  A word of the caller's
 * text may extend past its NUL (when the text is shorter than the cached
 * one, the word holding its NUL differs, and nothing after that word is
 * read); such a word is read only when it lies within one page, so the
 * read cannot fault, as word-at-a-time strlen implementations do.  AddressSanitizer would report
 * those bytes, so under it the comparison is a byte loop. */
#if defined(__SANITIZE_ADDRESS__)
#define TEXT_BYTEWISE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEXT_BYTEWISE 1
#endif
#endif

static bool same_text_bytes(const char *a, const char *b)
{
    while (*a == *b) {
        if (*a == '\0')
            return true;
        a++;
        b++;
    }
    return false;
}

static inline bool same_text(const char *text, const cached *c)
{
#ifdef TEXT_BYTEWISE
    return same_text_bytes(text, c->text);
#else
    size_t n = c->len + 1; /* with the NUL */
    const char *b = c->text;
    for (size_t i = 0; i < n; i += 8) {
        if (((uintptr_t)(text + i) & 4095) > 4096 - 8)
            return same_text_bytes(text + i, b + i); /* a word would cross a page */
        uint64_t x, y;
        memcpy(&x, text + i, 8);
        memcpy(&y, b + i, 8); /* within the padded copy */
        uint64_t d = x ^ y;
        if (n - i < 8) { /* the last word: only its first n - i bytes count */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            d &= ~(~UINT64_C(0) >> (8 * (n - i)));
#else
            d &= ~(~UINT64_C(0) << (8 * (n - i)));
#endif
        }
        if (d)
            return false;
    }
    return true;
#endif
}

static int pattern_for(const char *text, const cached **out)
{
    if (text == NULL)
        return EM_EINVAL;
    unsigned slot = (unsigned)(((uintptr_t)text >> 3) % TLC);
    unsigned epoch = atomic_load_explicit(&cache_epoch, memory_order_relaxed);
    if (tl_cache[slot].key == text && tl_cache[slot].epoch == epoch &&
        same_text(text, tl_cache[slot].c)) {
        *out = tl_cache[slot].c;
        return 0;
    }
    pthread_mutex_lock(&cache_lock);
    cached *c = all_patterns;
    while (c && strcmp(c->text, text) != 0)
        c = c->next;
    int rc = 0;
    if (c == NULL) {
        em_pattern *pat;
        rc = em_pattern_compile(text, &pat, NULL);
        if (rc == 0) {
            c = malloc(sizeof *c);
            size_t len = strlen(text);
            char *copy = calloc(len / 8 + 1, 8); /* zero-padded to whole words */
            if (copy)
                memcpy(copy, text, len);
            if (c == NULL || copy == NULL) {
                free(c);
                free(copy);
                em_pattern_free(pat);
                rc = EM_ENOMEM;
            } else {
                c->text = copy;
                c->len = len;
                c->pat = pat;
                c->nvars = em_pattern_nvars(pat);
                c->ref_slot = -1;
                c->arity = em__pattern_tag_of(pat)->arity;
                c->first = em__pattern_tag_of(pat)->first;
                c->literal = em__pattern_tag_of(pat)->literal;
                for (size_t i = 0; i < c->nvars; i++)
                    if (strcmp(em_pattern_var_name(pat, i), "Ref") == 0)
                        c->ref_slot = (long)i;
                c->next = all_patterns;
                all_patterns = c;
            }
        }
    }
    pthread_mutex_unlock(&cache_lock);
    if (rc < 0)
        return rc;
    tl_cache[slot].key = text;
    tl_cache[slot].c = c;
    tl_cache[slot].epoch = epoch;
    *out = c;
    return 0;
}

void em__receive_fini(void)
{
    pthread_mutex_lock(&cache_lock);
    while (all_patterns) {
        cached *c = all_patterns;
        all_patterns = c->next;
        em_pattern_free(c->pat);
        free(c->text);
        free(c);
    }
    atomic_fetch_add(&cache_epoch, 1);
    pthread_mutex_unlock(&cache_lock);
}

/* The receive itself, once the pattern is known: binds has room for its n
 * variables.  Inlined into its two callers, so that the common one keeps
 * its 8 slots in its own small frame (a waiting process's frame is copied
 * at each switch, see stack.c) and pays nothing for the rare large one. */
static inline __attribute__((always_inline)) int
receive_with(int64_t timeout_ms, const cached *cp, long ref_slot, bool by_ref, em_term ref,
             em_term *binds, va_list ap)
{
    em__link *start = NULL;
    if (by_ref) {
        em__proc *p = em__self_proc();
        if (p && p->mbox.mark && p->mark_ref != EM_NONE && em_equal(p->mark_ref, ref))
            start = p->mbox.mark;
    }
    /* A pattern that is one word (`pong`) has no variables, so it is never
     * a reference pattern (those have Ref). */
    want w;
    want_pattern(&w, cp->pat, cp->arity, cp->first, cp->literal, binds, ref_slot, ref);
    int rc = receive_core(timeout_ms, &w, start, NULL);
    size_t n = cp->nvars;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if ((long)i == ref_slot)
            continue;
        em_term *out = va_arg(ap, em_term *);
        if (out)
            *out = binds[i];
    }
    return rc;
}

/* A pattern with more than 8 variables: its slots on the stack of a frame
 * of its own.  Not malloc: a process killed while it waits in the receive
 * never returns here (its stack is discarded, see CANCELLATION in
 * runtime.h), and a heap array would be lost with it. */
__attribute__((noinline)) static int receive_big(int64_t timeout_ms, const cached *cp, long ref_slot,
                                                 bool by_ref, em_term ref, va_list ap)
{
    em_term big[MAX_SLOTS];
    assert(cp->nvars <= MAX_SLOTS);
    return receive_with(timeout_ms, cp, ref_slot, by_ref, ref, big, ap);
}

static int receive_va(int64_t timeout_ms, const char *pattern, bool by_ref, em_term ref, va_list ap)
{
    const cached *cp;
    int rc = pattern_for(pattern, &cp);
    if (rc < 0)
        return rc;
    size_t n = cp->nvars;
    if (n > MAX_SLOTS)
        return EM_EINVAL;
    long ref_slot = -1;
    if (by_ref) {
        ref_slot = cp->ref_slot;
        if (ref_slot < 0)
            return EM_EINVAL;
    }
    if (n > 8)
        return receive_big(timeout_ms, cp, ref_slot, by_ref, ref, ap);
    em_term local[8];
    return receive_with(timeout_ms, cp, ref_slot, by_ref, ref, local, ap);
}

EM_API int em_receive(int64_t timeout_ms, const char *pattern, ...)
{
    va_list ap;
    va_start(ap, pattern);
    int rc = receive_va(timeout_ms, pattern, false, EM_NONE, ap);
    va_end(ap);
    return rc;
}

EM_API int em_receive_ref(int64_t timeout_ms, em_term ref, const char *pattern, ...)
{
    va_list ap;
    va_start(ap, pattern);
    int rc = receive_va(timeout_ms, pattern, true, ref, ap);
    va_end(ap);
    return rc;
}

/* ---- references ---- */

static _Atomic uint64_t ref_counter = 1;

/* Counter values a scheduler takes at a time: one shared atomic operation
 * per block instead of one per reference (monitor-heavy code makes one per
 * monitor).  References are unique, not ordered, so blocks can interleave. */
#define REF_BLOCK 1024

void em__ref_new(em__refkey *k)
{
    em__sched *s = em__cur_sched;
    uint64_t c;
    if (s != NULL) {
        if (s->ref_next == s->ref_end) {
            s->ref_next = atomic_fetch_add_explicit(&ref_counter, REF_BLOCK, memory_order_relaxed);
            s->ref_end = s->ref_next + REF_BLOCK;
        }
        c = s->ref_next++;
    } else {
        c = atomic_fetch_add_explicit(&ref_counter, 1, memory_order_relaxed);
    }
    assert(c != 0 && c < (UINT64_C(1) << 63)); /* 2^63 references: never */
    k->node = em_local_node(&k->creation);
    k->n = 3;
    k->w[0] = (uint32_t)c & 0x3ffff; /* the low 18 bits, as in OTP */
    k->w[1] = (uint32_t)(c >> 18);
    k->w[2] = (uint32_t)(c >> 50);
    k->w[3] = k->w[4] = 0;
}

em_term em__make_ref_term(void)
{
    em__refkey k;
    em__ref_new(&k);
    return em__refkey_term(&k);
}

EM_API em_term em_make_ref(void)
{
    em__proc *p = em__self_proc();
    /* Messages already here cannot contain a reference made after this.
     * The mark first: taking in the inbox handles signals, and a kill
     * there ends the process at once, which would have lost a reference
     * made before (held by nothing but this frame). */
    if (p)
        em__mark_set(p);
    em_term ref = em__make_ref_term();
    if (p && ref != EM_NONE)
        p->mark_ref = em_dup(ref);
    return ref;
}

/* ---- sleep ---- */

EM_API int em_sleep(int64_t ms)
{
    em__proc *p = em__self_proc();
    if (p == NULL)
        return EM_ESTATE;
    if (ms < 0 && ms != EM_INFINITY)
        return EM_EINVAL;
    /* EM_INFINITY: timer:sleep(infinity), no timer; only a signal ends it. */
    int64_t deadline = ms == EM_INFINITY ? -1 : em__now_ns() + ms * 1000000;
    em__proc_signals(p);
    while (em__proc_wait(p, EM__W_TIMER, deadline))
        em__proc_signals(p); /* woken by a signal: may not return */
    return 0;
}
