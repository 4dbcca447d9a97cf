/* mbox.c: mailboxes (the structures are described in rt.h).
 *
 * Invariants:
 *  - inbox empty  <=>  tail == head and head->next == NULL;
 *  - head is the dummy: its payload is meaningless;
 *  - *last == NULL, and last points to the link field of the final node of
 *    the private queue (or to `first` when it is empty);
 *  - mark is NULL or points to a link field inside the private queue (or to
 *    `first`).
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "rt.h"

/* ---- nodes: slabs, per-thread caches and a shared depot ----
 * Messages are usually allocated by the sender's thread and freed by the
 * receiver's, often on another core, and a fast sender can be millions of
 * messages ahead of its receiver.  With malloc per node, a fan-in spent
 * 45 % of its time in malloc and in free of chunks that another thread
 * allocated.  So nodes are carved from slabs of SLAB_NODES (a bump pointer
 * per thread), freed nodes go to the freeing thread's cache (up to
 * CACHE_MAX), a full cache gives BATCH nodes to the shared depot, and an
 * empty cache takes a batch from the depot before it carves new nodes.
 * Slabs are freed when the runtime shuts down (em__msg_pool_fini); until
 * then the pool keeps the peak number of nodes ever in flight.  A thread's
 * pointers into a previous runtime's slabs are dropped by the epoch check.
 * Under AddressSanitizer each node is malloc'd and freed, so a use after
 * free is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL 0
#endif
#endif
#ifndef POOL
#define POOL 1
#endif
#define SLAB_NODES 1024
#define CACHE_MAX 256
#define BATCH 64

static _Thread_local em__msg *cache, *bump, *bump_end;
static _Thread_local unsigned ncache, tl_epoch;
static _Atomic unsigned pool_epoch = 1;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static em__msg *depot;     /* batches: chains through `term`, linked by
                              their first node's `next`; count in `serial` */
static void **slabs;       /* every slab, for em__msg_pool_fini */
static size_t nslabs, capslabs;

static em__msg *chain_next(const em__msg *n)
{
    return (em__msg *)(uintptr_t)n->term;
}

/* Forget pointers into the slabs of a runtime that has shut down. */
static inline void check_epoch(void)
{
    unsigned e = atomic_load_explicit(&pool_epoch, memory_order_relaxed);
    if (tl_epoch != e) {
        cache = bump = bump_end = NULL;
        ncache = 0;
        tl_epoch = e;
    }
}

static void depot_put(em__msg *chain, unsigned count)
{
    chain->serial = count;
    pthread_mutex_lock(&pool_lock);
    atomic_store_explicit(&chain->next, depot, memory_order_relaxed);
    depot = chain;
    pthread_mutex_unlock(&pool_lock);
}

/* A node from the depot or a new slab; NULL without memory. */
static em__msg *refill(void)
{
    pthread_mutex_lock(&pool_lock);
    em__msg *b = depot;
    if (b) {
        depot = atomic_load_explicit(&b->next, memory_order_relaxed);
        pthread_mutex_unlock(&pool_lock);
        cache = chain_next(b);
        ncache = b->serial - 1;
        return b;
    }
    if (nslabs == capslabs) {
        size_t cap = capslabs ? 2 * capslabs : 64;
        void **v = realloc(slabs, cap * sizeof *v);
        if (v == NULL) {
            pthread_mutex_unlock(&pool_lock);
            return NULL;
        }
        slabs = v;
        capslabs = cap;
    }
    em__msg *slab = malloc(SLAB_NODES * sizeof *slab);
    if (slab)
        slabs[nslabs++] = slab;
    pthread_mutex_unlock(&pool_lock);
    if (slab == NULL)
        return NULL;
    bump = slab + 1;
    bump_end = slab + SLAB_NODES;
    return slab;
}

static em__msg *node_get(void)
{
#if POOL
    check_epoch();
    em__msg *n = cache;
    if (n) {
        cache = chain_next(n);
        ncache--;
        return n;
    }
    if (bump < bump_end)
        return bump++;
    return refill();
#else
    return malloc(sizeof(em__msg));
#endif
}

em__msg *em__msg_new(em_term t)
{
    em__msg *n = node_get();
    if (n == NULL)
        return NULL;
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    n->embedded = 0;
    n->term = t;
    n->serial = 0;
    n->tag_arity = 0;
    n->tag_first = 0;
    /* A tuple's arity and first element, read now while the sender has the
     * tuple in cache: selective receive can skip most non-matching
     * messages without touching them (receive.c). */
    if (em__kind(t) == EM__K_TUPLE) {
        const em__tuple *tp = (const em__tuple *)em__box_of(t);
        n->tag_arity = tp->n + 1;
        n->tag_first = tp->n ? tp->e[0] : 0;
    }
    return n;
}

void em__msg_free(em__msg *n)
{
    if (n->embedded)
        return; /* part of a process structure; used once per slot */
#if POOL
    check_epoch();
    n->term = (em_term)(uintptr_t)cache;
    cache = n;
    if (++ncache < CACHE_MAX)
        return;
    /* Full: the BATCH most recently freed nodes go to the depot. */
    em__msg *last = cache;
    for (int i = 1; i < BATCH; i++)
        last = chain_next(last);
    em__msg *batch = cache;
    cache = chain_next(last);
    last->term = 0;
    ncache -= BATCH;
    depot_put(batch, BATCH);
#else
    free(n);
#endif
}

void em__msg_cache_flush(void)
{
#if POOL
    check_epoch();
    if (cache) {
        depot_put(cache, ncache);
        cache = NULL;
        ncache = 0;
    }
    bump = bump_end = NULL; /* the rest of that slab stays unused */
#endif
}

void em__msg_pool_fini(void)
{
#if POOL
    pthread_mutex_lock(&pool_lock);
    for (size_t i = 0; i < nslabs; i++)
        free(slabs[i]);
    free(slabs);
    slabs = NULL;
    nslabs = capslabs = 0;
    depot = NULL;
    atomic_fetch_add_explicit(&pool_epoch, 1, memory_order_relaxed);
    pthread_mutex_unlock(&pool_lock);
#endif
}

/* ---- the queue ---- */

int em__mbox_init(em__mbox *m)
{
    /* The first dummy lives in the structure, so a new slot costs no
     * allocation here (spawning a million processes stays cheap). */
    em__msg *d = &m->first_dummy;
    atomic_init(&d->next, NULL);
    d->term = EM_NONE;
    d->embedded = 1;
    atomic_init(&m->tail, d);
    m->head = d;
    atomic_init(&m->first, NULL);
    m->last = &m->first;
    m->mark = NULL;
    atomic_init(&m->len, 0);
    return 0;
}

void em__mbox_fini(em__mbox *m)
{
    em__mbox_clear(m);
    em__msg_free(m->head); /* a no-op for the embedded first dummy */
    m->head = NULL;
}

void em__mbox_push(em__mbox *m, em__msg *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    /* seq_cst: pairs with the scheduler's store of WAITING followed by
     * em__mbox_has_new (see em__proc_wake): one of the two sides sees the
     * other, so a wake-up is never lost. */
    em__msg *prev = atomic_exchange_explicit(&m->tail, n, memory_order_seq_cst);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

bool em__mbox_has_new(em__mbox *m)
{
    return atomic_load_explicit(&m->head->next, memory_order_relaxed) != NULL ||
           atomic_load_explicit(&m->tail, memory_order_seq_cst) != m->head;
}

em__msg *em__mbox_pop(em__mbox *m)
{
    em__msg *h = m->head;
    em__msg *next = atomic_load_explicit(&h->next, memory_order_acquire);
    while (next == NULL) {
        if (atomic_load_explicit(&m->tail, memory_order_acquire) == h)
            return NULL;
        sched_yield(); /* a push is half done: its link comes next */
        next = atomic_load_explicit(&h->next, memory_order_acquire);
    }
    /* Move the payload into the old dummy; `next` becomes the dummy.  No
     * producer touches h again: its link was already written. */
    h->term = next->term;
    h->serial = next->serial;
    h->tag_arity = next->tag_arity;
    h->tag_first = next->tag_first;
    atomic_store_explicit(&h->next, NULL, memory_order_relaxed);
    m->head = next;
    return h;
}

void em__mbox_append(em__mbox *m, em__msg *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    atomic_store_explicit(m->last, n, memory_order_relaxed);
    m->last = &n->next;
    atomic_store_explicit(&m->len, atomic_load_explicit(&m->len, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

em__msg *em__mbox_unlink(em__mbox *m, em__link *at)
{
    em__msg *n = atomic_load_explicit(at, memory_order_relaxed);
    assert(n != NULL);
    em__msg *next = atomic_load_explicit(&n->next, memory_order_relaxed);
    atomic_store_explicit(at, next, memory_order_relaxed);
    if (m->last == &n->next)
        m->last = at;
    if (m->mark == &n->next)
        m->mark = at;
    atomic_store_explicit(&m->len, atomic_load_explicit(&m->len, memory_order_relaxed) - 1,
                          memory_order_relaxed);
    return n;
}

void em__mbox_clear(em__mbox *m)
{
    em__msg *n;
    while ((n = em__mbox_pop(m)) != NULL) {
        assert(!em__msg_is_sig(n));
        em_drop(n->term);
        em__msg_free(n);
    }
    n = atomic_load_explicit(&m->first, memory_order_relaxed);
    while (n) {
        em__msg *next = atomic_load_explicit(&n->next, memory_order_relaxed);
        em_drop(n->term);
        em__msg_free(n);
        n = next;
    }
    atomic_store_explicit(&m->first, NULL, memory_order_relaxed);
    m->last = &m->first;
    m->mark = NULL;
    atomic_store_explicit(&m->len, 0, memory_order_relaxed);
}
