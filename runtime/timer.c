/* timer.c: per-scheduler timer heaps, the process wait timer, send_after.
 *
 * Each scheduler owns a binary min-heap ordered by (deadline, seq); seq is a
 * global counter taken when the timer is set, so equal deadlines fire in
 * the order they were set.  A process's receive/sleep timer is embedded in
 * the process and lives on its home scheduler's heap; only that scheduler's
 * thread arms, cancels and fires it.  send_after timers may be set and
 * cancelled from any thread, so every heap has a lock (uncontended in the
 * common case).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt.h"

static _Atomic uint64_t timer_seq;

int64_t em__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool before(const em__timer *a, const em__timer *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void set(em__theap *h, uint32_t i, em__timer *t)
{
    h->v[i] = t;
    t->heap_ix = (int32_t)i;
}

static void sift_up(em__theap *h, uint32_t i)
{
    em__timer *t = h->v[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!before(t, h->v[parent]))
            break;
        set(h, i, h->v[parent]);
        i = parent;
    }
    set(h, i, t);
}

static void sift_down(em__theap *h, uint32_t i)
{
    em__timer *t = h->v[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(h->v[c + 1], h->v[c]))
            c++;
        if (!before(h->v[c], t))
            break;
        set(h, i, h->v[c]);
        i = c;
    }
    set(h, i, t);
}

int em__theap_push(em__theap *h, em__timer *t)
{
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 64;
        em__timer **v = realloc(h->v, cap * sizeof *v);
        if (v == NULL)
            return EM_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    t->seq = atomic_fetch_add_explicit(&timer_seq, 1, memory_order_relaxed);
    set(h, h->n++, t);
    sift_up(h, h->n - 1);
    return 0;
}

void em__theap_remove(em__theap *h, em__timer *t)
{
    uint32_t i = (uint32_t)t->heap_ix;
    assert(t->heap_ix >= 0 && i < h->n && h->v[i] == t);
    t->heap_ix = -1;
    h->n--;
    if (i == h->n)
        return;
    set(h, i, h->v[h->n]);
    sift_down(h, i);
    sift_up(h, (uint32_t)h->v[i]->heap_ix);
}

em__timer *em__theap_top(em__theap *h)
{
    return h->n ? h->v[0] : NULL;
}

void em__theap_free(em__theap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

/* ---- send_after ---- */

typedef struct stimer {
    em__timer t;         /* first: the heap holds &t */
    em__sched *sched;    /* whose heap */
    em_term to, msg;
    uint64_t id;         /* the reference's words */
    struct stimer *hnext;
} stimer;

#define STAB 1024
static stimer *stab[STAB]; /* id -> armed send_after timer */
static pthread_mutex_t stab_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t stimer_ids = 1;

/* Remove id from the table; returns the timer if it was armed. */
static stimer *stab_take(uint64_t id)
{
    stimer **pp = &stab[id % STAB];
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->hnext;
    stimer *s = *pp;
    if (s)
        *pp = s->hnext;
    return s;
}

void em__timer_run(em__sched *s, int64_t now)
{
    for (;;) {
        pthread_mutex_lock(&s->timer_lock);
        em__timer *t = em__theap_top(&s->timers);
        if (t == NULL || t->deadline > now) {
            pthread_mutex_unlock(&s->timer_lock);
            return;
        }
        em__theap_remove(&s->timers, t);
        if (t->kind == EM__TM_PROC) {
            pthread_mutex_unlock(&s->timer_lock);
            em__proc *p = (em__proc *)((char *)t - offsetof(em__proc, timer));
            /* Only this thread changes p's state, so p is WAITING or
             * already made RUNNABLE by an event; in the latter case the
             * event wins. */
            if (atomic_load_explicit(&p->state, memory_order_relaxed) == EM__PS_WAITING) {
                p->timed_out = 1;
                em__sched_make_runnable(p);
            }
            continue;
        }
        /* Take it from the table while still holding the heap lock: if
         * em_cancel_timer took it first, it owns (and frees) it. */
        stimer *st = (stimer *)t;
        pthread_mutex_lock(&stab_lock);
        stimer *mine = stab_take(st->id);
        pthread_mutex_unlock(&stab_lock);
        pthread_mutex_unlock(&s->timer_lock);
        if (mine == NULL)
            continue;
        em_send(st->to, st->msg);
        em_drop(st->to);
        free(st);
    }
}

void em__timer_arm_proc(em__proc *p, int64_t deadline)
{
    em__sched *s = p->home;
    assert(s == em__cur_sched);
    p->timer.deadline = deadline;
    p->timer.kind = EM__TM_PROC;
    pthread_mutex_lock(&s->timer_lock);
    if (p->timer.heap_ix >= 0)
        em__theap_remove(&s->timers, &p->timer);
    int rc = em__theap_push(&s->timers, &p->timer);
    pthread_mutex_unlock(&s->timer_lock);
    if (rc < 0) {
        /* No memory for the heap: time out at once rather than hang. */
        p->timed_out = 1;
    }
}

void em__timer_cancel_proc(em__proc *p)
{
    if (p->timer.heap_ix < 0)
        return;
    em__sched *s = p->home;
    pthread_mutex_lock(&s->timer_lock);
    if (p->timer.heap_ix >= 0)
        em__theap_remove(&s->timers, &p->timer);
    pthread_mutex_unlock(&s->timer_lock);
}

EM_API em_term em_send_after(int64_t ms, em_term to, em_term msg)
{
    if (em__rt_ensure() < 0 || msg == EM_NONE || ms < 0) {
        em_drop(msg);
        return EM_NONE;
    }
    stimer *st = calloc(1, sizeof *st);
    uint32_t words[3];
    if (st == NULL) {
        em_drop(msg);
        return EM_NONE;
    }
    st->id = atomic_fetch_add(&stimer_ids, 1);
    words[0] = (uint32_t)st->id;
    words[1] = (uint32_t)(st->id >> 32);
    words[2] = 0x7e3e7; /* marks a timer reference */
    uint32_t cr;
    em_term node = em_local_node(&cr);
    em_term ref = em_ref(node, cr, words, 3);
    if (ref == EM_NONE) {
        free(st);
        em_drop(msg);
        return EM_NONE;
    }
    st->to = em_dup(to);
    st->msg = msg;
    st->t.kind = EM__TM_SEND;
    st->t.heap_ix = -1;
    st->t.deadline = em__now_ns() + ms * 1000000;
    em__sched *s = em__cur_sched ? em__cur_sched : &em__the_rt.scheds[0];
    st->sched = s;
    pthread_mutex_lock(&stab_lock);
    st->hnext = stab[st->id % STAB];
    stab[st->id % STAB] = st;
    pthread_mutex_unlock(&stab_lock);
    pthread_mutex_lock(&s->timer_lock);
    int rc = em__theap_push(&s->timers, &st->t);
    pthread_mutex_unlock(&s->timer_lock);
    if (rc < 0) {
        pthread_mutex_lock(&stab_lock);
        stab_take(st->id);
        pthread_mutex_unlock(&stab_lock);
        em_drop(st->to);
        em_drop(st->msg);
        free(st);
        em_drop(ref);
        return EM_NONE;
    }
    if (s != em__cur_sched)
        em__sched_wake(s);
    return ref;
}

EM_API int64_t em_cancel_timer(em_term ref)
{
    em_term node;
    uint32_t cr, w[5];
    if (em_ref_parts(ref, &node, &cr, w) != 3 || w[2] != 0x7e3e7)
        return EM_ENOTFOUND;
    uint64_t id = (uint64_t)w[0] | (uint64_t)w[1] << 32;
    pthread_mutex_lock(&stab_lock);
    stimer *st = stab_take(id);
    pthread_mutex_unlock(&stab_lock);
    if (st == NULL)
        return EM_ENOTFOUND;
    /* Whoever takes it from the table owns it: the firing path could not. */
    pthread_mutex_lock(&st->sched->timer_lock);
    if (st->t.heap_ix >= 0)
        em__theap_remove(&st->sched->timers, &st->t);
    pthread_mutex_unlock(&st->sched->timer_lock);
    int64_t left = (st->t.deadline - em__now_ns()) / 1000000;
    em_drop(st->to);
    em_drop(st->msg);
    free(st);
    return left < 0 ? 0 : left;
}

void em__timer_shutdown(void)
{
    pthread_mutex_lock(&stab_lock);
    for (int i = 0; i < STAB; i++) {
        while (stab[i]) {
            stimer *st = stab[i];
            stab[i] = st->hnext;
            em_drop(st->to);
            em_drop(st->msg);
            free(st);
        }
    }
    pthread_mutex_unlock(&stab_lock);
}
