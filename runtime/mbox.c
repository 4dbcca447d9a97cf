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

/* ---- nodes: carved from blocks, with a small per-thread cache ----
 * Messages are usually allocated by the sender's thread and freed by the
 * receiver's.  A thread carves the nodes it allocates from a block of
 * BLOCK_NODES (one malloc for that many messages, no per-message malloc);
 * a freed node goes to the freeing thread's cache (up to CACHE_MAX, reused
 * by its own sends), or else gives one reference back to its block, which
 * is freed when every node of it has been and its thread has moved on to
 * another block (its `live` count holds one reference for that).  A
 * message that stays in a mailbox keeps its block; a fan-in consumer frees
 * with an atomic decrement instead of a cross-thread free() into the
 * sender's malloc arena, which took much of its time (docs/perf.md).
 * Under AddressSanitizer every node is a malloc of its own, so a use after
 * free is still reported. */
#define CACHE_MAX EM__MSG_CACHE_MAX
#define BLOCK_NODES 64u
#if defined(__SANITIZE_ADDRESS__)
#define CARVING 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CARVING 0
#endif
#endif
#ifndef CARVING
#define CARVING 1
#endif

typedef struct msg_block {
    _Atomic uint32_t live; /* nodes not given back, + 1 while carved from */
    uint32_t pad_;
    struct msg_block *next_empty; /* in a spare list or the pool */
    em__msg nodes[];
} msg_block;

/* Empty blocks are kept for reuse rather than freed: in a fan-in the
 * consumer empties the senders' blocks, and a free() into another thread's
 * malloc arena, against that thread's next malloc, took the arena's lock
 * with futex waits on both sides and made glibc trim and fault the heap
 * back in (docs/perf.md).  A thread keeps up to
 * SPARE_MAX empty blocks of its own; beyond that, and when it has none,
 * it trades half a spare list at a time with a process-wide pool (at most
 * POOL_MAX blocks, about 3 MiB; em__msg_pool_flush frees it, at em_run's
 * end and when a scheduler has been idle for a while: mem.c). */
#define SPARE_MAX 8u
#define POOL_MAX 1024u
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static msg_block *pool;
static unsigned npool;
static _Thread_local msg_block *spare;
static _Thread_local unsigned nspare;

_Thread_local em__msg_tls em__msg_tl;
static _Thread_local msg_block *carving; /* this thread's current block */
static _Thread_local uint32_t carved;    /* nodes taken from it */
static pthread_key_t node_key;
static pthread_once_t node_once = PTHREAD_ONCE_INIT;

/* Hand the spare list down to SPARE_MAX / 2 blocks: the rest go to the
 * pool, or are freed when it is full. */
static void spare_trim(void)
{
    msg_block *give = NULL, *freeing;
    while (nspare > SPARE_MAX / 2) {
        msg_block *b = spare;
        spare = b->next_empty;
        nspare--;
        b->next_empty = give;
        give = b;
    }
    pthread_mutex_lock(&pool_lock);
    while (give && npool < POOL_MAX) {
        msg_block *b = give;
        give = b->next_empty;
        b->next_empty = pool;
        pool = b;
        npool++;
    }
    freeing = give;
    pthread_mutex_unlock(&pool_lock);
    while (freeing) {
        msg_block *b = freeing;
        freeing = b->next_empty;
        free(b);
    }
}

static void block_put(msg_block *b, uint32_t k)
{
    if (atomic_fetch_sub_explicit(&b->live, k, memory_order_acq_rel) != k)
        return;
    /* The last reference: b is this thread's alone now. */
    b->next_empty = spare;
    spare = b;
    if (++nspare > SPARE_MAX)
        spare_trim();
}

/* An empty block to carve from: a spare, else up to SPARE_MAX / 2 from the
 * pool, else a new one; NULL when out of memory. */
static msg_block *block_get(void)
{
    if (spare == NULL) {
        pthread_mutex_lock(&pool_lock);
        while (pool && nspare < SPARE_MAX / 2) {
            msg_block *b = pool;
            pool = b->next_empty;
            npool--;
            b->next_empty = spare;
            spare = b;
            nspare++;
        }
        pthread_mutex_unlock(&pool_lock);
    }
    msg_block *b = spare;
    if (b) {
        spare = b->next_empty;
        nspare--;
        return b;
    }
    return malloc(sizeof(msg_block) + BLOCK_NODES * sizeof(em__msg));
}

/* Give a node's memory back (not to the cache). */
static void node_release(em__msg *n)
{
    if (n->owner == EM__MSG_EMBEDDED)
        return;
    if (n->owner == NULL)
        free(n);
    else
        block_put(n->owner, 1);
}

static void node_thread_exit(void *unused)
{
    (void)unused;
    em__msg_cache_flush();
}

static void node_key_init(void)
{
    if (pthread_key_create(&node_key, node_thread_exit) != 0)
        abort(); /* no key: a foreign thread's block would leak at its exit */
}

/* Have em__msg_cache_flush run when this thread exits (a foreign thread
 * that sends or frees messages). */
static void key_thread(void)
{
    if (!em__msg_tl.keyed) {
        pthread_once(&node_once, node_key_init);
        pthread_setspecific(node_key, &em__msg_tl); /* any non-NULL value */
        em__msg_tl.keyed = true;
        assert(em__msg_tl.cache == NULL); /* nothing cached before */
        em__msg_tl.room = CACHE_MAX;
    }
}

static em__msg *carve(void)
{
    if (!CARVING) {
        em__msg *n = malloc(sizeof *n);
        if (n)
            n->owner = NULL;
        return n;
    }
    if (carving == NULL || carved == BLOCK_NODES) {
        if (carving)
            block_put(carving, 1); /* done carving: its hold goes */
        carving = block_get();
        if (carving == NULL)
            return NULL;
        atomic_init(&carving->live, BLOCK_NODES + 1);
        carved = 0;
        key_thread();
    }
    em__msg *n = &carving->nodes[carved++];
    n->owner = carving;
    return n;
}

em__msg *em__msg_new_slow(em_term t)
{
    em__msg *n = em__msg_tl.cache;
    if (n) {
        em__msg_tl.cache = (em__msg *)(uintptr_t)n->term;
        em__msg_tl.room++;
    } else {
        n = carve();
        if (n == NULL)
            return NULL;
    }
    return em__msg_init(n, t);
}

void em__msg_free_slow(em__msg *n)
{
    if (n->owner == EM__MSG_EMBEDDED)
        return; /* part of a process structure; used once per slot */
    key_thread();
    if (em__msg_tl.room != 0) {
        n->term = (em_term)(uintptr_t)em__msg_tl.cache;
        em__msg_tl.cache = n;
        em__msg_tl.room--;
    } else {
        node_release(n);
    }
}

void em__msg_cache_flush(void)
{
    while (em__msg_tl.cache) {
        em__msg *n = em__msg_tl.cache;
        em__msg_tl.cache = (em__msg *)(uintptr_t)n->term;
        node_release(n);
    }
    em__msg_tl.room = em__msg_tl.keyed ? CACHE_MAX : 0;
    if (carving) {
        /* the nodes never carved, and the carving hold */
        block_put(carving, BLOCK_NODES - carved + 1);
        carving = NULL;
    }
    while (spare) {
        msg_block *b = spare;
        spare = b->next_empty;
        free(b);
    }
    nspare = 0;
}

void em__msg_pool_flush(void)
{
    pthread_mutex_lock(&pool_lock);
    msg_block *b = pool;
    pool = NULL;
    npool = 0;
    pthread_mutex_unlock(&pool_lock);
    while (b) {
        msg_block *next = b->next_empty;
        free(b);
        b = next;
    }
}

/* ---- the queue ---- */

int em__mbox_init(em__mbox *m)
{
    /* The first dummy lives in the structure, so a new slot costs no
     * allocation here (spawning a million processes stays cheap). */
    em__msg *d = &m->first_dummy;
    atomic_init(&d->next, NULL);
    d->term = EM_NONE;
    d->owner = EM__MSG_EMBEDDED;
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
    node_release(m->head); /* not em__msg_free: the thread's cache may be gone */
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
