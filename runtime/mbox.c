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
#include <sched.h>
#include <stdlib.h>

#include "rt.h"

/* ---- nodes: a small per-thread cache in front of malloc ----
 * Messages are usually allocated by the sender's thread and freed by the
 * receiver's; each thread keeps up to CACHE_MAX free nodes. */
#define CACHE_MAX 256
static _Thread_local em__msg *cache;
static _Thread_local unsigned ncache;

em__msg *em__msg_new(em_term t)
{
    em__msg *n = cache;
    if (n) {
        cache = (em__msg *)(uintptr_t)n->term;
        ncache--;
    } else {
        n = malloc(sizeof *n);
        if (n == NULL)
            return NULL;
    }
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
    if (ncache < CACHE_MAX) {
        n->term = (em_term)(uintptr_t)cache;
        cache = n;
        ncache++;
    } else {
        free(n);
    }
}

void em__msg_cache_flush(void)
{
    while (cache) {
        em__msg *n = cache;
        cache = (em__msg *)(uintptr_t)n->term;
        free(n);
    }
    ncache = 0;
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
    if (!m->head->embedded)
        free(m->head); /* not em__msg_free: the thread's cache may be gone */
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
