/* mbox.c: mailboxes.
 *
 * The inbox is Dmitry Vyukov's intrusive MPSC queue: a producer does one
 * atomic exchange on `tail` and one store to link the previous node, so
 * senders never wait for each other or for the receiver.  Only the owning
 * process consumes.  Nodes it takes go into its private queue (`first`,
 * `last`), where selective receive scans and unlinks them in arrival order.
 *
 * Invariants:
 *  - inbox empty  <=>  tail == &stub && head == &stub;
 *  - *last == NULL, and last points to the link field of the final node of
 *    the private queue (or to `first` when it is empty);
 *  - mark is NULL or points to a link field inside the private queue (or to
 *    `first`).
 */
#include <sched.h>
#include <stdlib.h>

#include "rt.h"

void em__mbox_init(em__mbox *m)
{
    atomic_init(&m->stub.next, NULL);
    m->stub.term = EM_NONE;
    atomic_init(&m->tail, &m->stub);
    m->head = &m->stub;
    atomic_init(&m->first, NULL);
    m->last = &m->first;
    m->mark = NULL;
    atomic_init(&m->len, 0);
}

em__msg *em__msg_new(em_term t)
{
    em__msg *n = malloc(sizeof *n);
    if (n) {
        atomic_init(&n->next, NULL);
        n->term = t;
    }
    return n;
}

void em__msg_free(em__msg *n)
{
    free(n);
}

void em__mbox_push(em__mbox *m, em__msg *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->len, 1, memory_order_relaxed);
    /* seq_cst: pairs with the scheduler's store of WAITING followed by
     * em__mbox_has_new (see em__proc_wake): one of the two sides sees the
     * other, so a wake-up is never lost. */
    em__msg *prev = atomic_exchange_explicit(&m->tail, n, memory_order_seq_cst);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

bool em__mbox_has_new(em__mbox *m)
{
    return atomic_load_explicit(&m->tail, memory_order_seq_cst) != &m->stub || m->head != &m->stub;
}

/* Vyukov's pop.  Returns a node, or NULL if empty.  A producer that has
 * exchanged tail but not yet linked is waited for (it is between two
 * instructions). */
em__msg *em__mbox_pop(em__mbox *m)
{
    for (;;) {
        em__msg *h = m->head;
        em__msg *next = atomic_load_explicit(&h->next, memory_order_acquire);
        if (h == &m->stub) {
            if (next == NULL) {
                if (atomic_load_explicit(&m->tail, memory_order_acquire) == &m->stub)
                    return NULL;
                sched_yield(); /* a push is half done */
                continue;
            }
            m->head = next;
            h = next;
            next = atomic_load_explicit(&next->next, memory_order_acquire);
        }
        if (next) {
            m->head = next;
            return h;
        }
        if (atomic_load_explicit(&m->tail, memory_order_acquire) != h) {
            sched_yield();
            continue;
        }
        /* h is the last node: put the stub behind it so h can be taken. */
        atomic_store_explicit(&m->stub.next, NULL, memory_order_relaxed);
        em__msg *prev = atomic_exchange_explicit(&m->tail, &m->stub, memory_order_acq_rel);
        atomic_store_explicit(&prev->next, &m->stub, memory_order_release);
        next = atomic_load_explicit(&h->next, memory_order_acquire);
        if (next) {
            m->head = next;
            return h;
        }
        sched_yield();
    }
}

void em__mbox_drain(em__mbox *m)
{
    em__msg *n;
    while ((n = em__mbox_pop(m)) != NULL) {
        atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
        atomic_store_explicit(m->last, n, memory_order_relaxed);
        m->last = &n->next;
    }
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
    atomic_fetch_sub_explicit(&m->len, 1, memory_order_relaxed);
    return n;
}

void em__mbox_clear(em__mbox *m)
{
    /* Signals were taken out by em__link_exit, and none can come after:
     * sending one needs the gate, which is closed. */
    em__mbox_drain(m);
    em__msg *n = atomic_load_explicit(&m->first, memory_order_relaxed);
    while (n) {
        em__msg *next = atomic_load_explicit(&n->next, memory_order_relaxed);
        assert(n->term != EM_NONE);
        em_drop(n->term);
        em__msg_free(n);
        atomic_fetch_sub_explicit(&m->len, 1, memory_order_relaxed);
        n = next;
    }
    atomic_store_explicit(&m->first, NULL, memory_order_relaxed);
    m->last = &m->first;
    m->mark = NULL;
}
