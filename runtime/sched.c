/* sched.c: scheduler threads, run queues, parking, and the runtime's life
 * (em_init, em_run, em_stop).
 *
 * Each scheduler has:
 *  - a local FIFO of runnable processes that only its thread touches;
 *  - `xq`, a lock-free stack other threads push woken processes onto (it is
 *    taken whole and reversed into the FIFO, so per-waker order holds);
 *  - `newq`, processes spawned here that never ran, under a lock: idle
 *    schedulers steal from it (a process that has run is pinned to its
 *    scheduler, because its frames live at that scheduler's stack
 *    addresses, see stack.c);
 *  - a timer heap, and a mutex/condvar to park on.
 *
 * Parking loses no wake-up: the sleeper sets `sleeping` (seq_cst) under
 * park_lock and then re-checks every queue; a waker publishes its work
 * (seq_cst) and then reads `sleeping`, and signals under park_lock.  An idle
 * scheduler spins briefly before parking, then blocks without a timeout
 * unless a timer is due, so an idle runtime uses no CPU.
 *
 * Process states (rt.h): NEW -> RUNNING -> (RUNNABLE | WAITING | EXITING).
 * WAITING is entered here, on the scheduler's stack after the process has
 * switched out, never by the process itself: so a waker that moves it to
 * RUNNABLE can never see it still running on its stack.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"
#include "poke.h"
#include "stack.h"

em__rt em__the_rt = {
    .run_lock = PTHREAD_MUTEX_INITIALIZER,
    .run_cond = PTHREAD_COND_INITIALIZER,
};
_Thread_local em__sched *em__cur_sched;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

/* An idle scheduler looks for work SPIN_ROUNDS times before it sleeps,
 * giving its core away (sched_yield) every few rounds: work handed over by
 * another scheduler is picked up without a futex wake-up, and on a machine
 * with more threads than cores (two nodes on two cores)
 * the spinning does not starve the thread that would produce the work. */
#define SPIN_ROUNDS 2000
#define SPIN_YIELD_EVERY 128
/* Giving idle memory back (em__mem_trim, docs/runtime.md): the first park
 * after a scheduler ran processes starts a period of TRIM_IDLE_NS (a
 * parked scheduler sleeps no longer than to its end); at the first park
 * after its end, the scheduler trims if it ran at most TRIM_BUSY_RUNS
 * processes (passes of its loop) meanwhile, else a new period starts.
 * Memory goes back within one or two periods of a burst's end, also while
 * a few timers tick, and never in the middle of busy work (a message
 * stream or ping-pong makes thousands of runs a second between its parks). */
#define TRIM_IDLE_NS ((int64_t)1000000000)
#define TRIM_BUSY_RUNS 1000

static inline void cpu_relax(void)
{
#if defined(__x86_64__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The stack pointer, for the measure of a process's stack in use
 * (direct_next): one register read, where __builtin_frame_address(0) made
 * the function keep a frame pointer. */
static inline const uint8_t *stack_pointer(void)
{
    const uint8_t *sp;
#if defined(__x86_64__)
    __asm__("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
    __asm__("mov %0, sp" : "=r"(sp));
#else
    sp = __builtin_frame_address(0);
#endif
    return sp;
}

/* ---- run queues ---- */

static em__proc *rq_pop(em__sched *s)
{
    em__proc *p = s->rq_head;
    if (p) {
        atomic_store_explicit(&s->rq_len, atomic_load_explicit(&s->rq_len, memory_order_relaxed) - 1,
                              memory_order_relaxed);
        s->rq_head = p->rq_next;
        if (s->rq_head == NULL)
            s->rq_tail = NULL;
    }
    return p;
}

static void xq_push(em__sched *s, em__proc *p)
{
    em__proc *h = atomic_load_explicit(&s->xq, memory_order_relaxed);
    do {
        atomic_store_explicit(&p->mq_next, h, memory_order_relaxed);
        /* seq_cst: pairs with the sleeper's store of `sleeping` */
    } while (!atomic_compare_exchange_weak_explicit(&s->xq, &h, p, memory_order_seq_cst,
                                                    memory_order_relaxed));
}

static bool wait_ready(em__proc *p);
static void post_request(em__proc *p, em__sched *home);

/* Act on the wake requests other threads posted (em__proc_wake): a process
 * whose wait is over becomes runnable.  The exchange on wake_req comes
 * before the check, so an event whose waker saw the request pending (and
 * posted nothing) is seen by the check. */
static void xq_drain(em__sched *s)
{
    if (atomic_load_explicit(&s->xq, memory_order_relaxed) == NULL)
        return;
    em__proc *l = atomic_exchange_explicit(&s->xq, NULL, memory_order_acquire);
    em__proc *rev = NULL;
    while (l) {
        em__proc *next = atomic_load_explicit(&l->mq_next, memory_order_relaxed);
        atomic_store_explicit(&l->mq_next, rev, memory_order_relaxed);
        rev = l;
        l = next;
    }
    while (rev) {
        em__proc *p = rev;
        rev = atomic_load_explicit(&p->mq_next, memory_order_relaxed);
        atomic_exchange_explicit(&p->wake_req, 0, memory_order_seq_cst);
        int st = atomic_load_explicit(&p->state, memory_order_seq_cst);
        em__sched *home = atomic_load_explicit(&p->home_pub, memory_order_acquire);
        if (st == EM__PS_NEW || st >= EM__PS_EXITING || home == NULL)
            continue; /* ended, or a new process in the slot: it looks itself */
        if (home != s) {
            /* The slot was reused by a process that runs elsewhere while
             * the request of its predecessor waited here: pass it on. */
            post_request(p, home);
            continue;
        }
        if (st == EM__PS_WAITING && wait_ready(p))
            em__sched_make_runnable(p);
    }
}

static void newq_push(em__sched *s, em__proc *p)
{
    p->rq_next = NULL;
    pthread_mutex_lock(&s->newq_lock);
    if (s->newq_tail)
        s->newq_tail->rq_next = p;
    else
        s->newq_head = p;
    s->newq_tail = p;
    atomic_fetch_add_explicit(&s->newq_len, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&s->newq_lock);
}

static em__proc *newq_pop(em__sched *s)
{
    if (atomic_load_explicit(&s->newq_len, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&s->newq_lock);
    em__proc *p = s->newq_head;
    if (p) {
        s->newq_head = p->rq_next;
        if (s->newq_head == NULL)
            s->newq_tail = NULL;
        atomic_fetch_sub_explicit(&s->newq_len, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->newq_lock);
    return p;
}

/* ---- waking ---- */

/* Wake s from park(), wherever it sleeps: on its condvar, or in its epoll
 * set (io.c) when it has processes waiting on fds. */
static void kick(em__sched *s)
{
    pthread_mutex_lock(&s->park_lock);
    atomic_store_explicit(&s->wakeups, 1, memory_order_relaxed);
    if (s->poll_sleep) {
        em__poke(s->evfd);
    } else {
        pthread_cond_signal(&s->park_cond);
    }
    pthread_mutex_unlock(&s->park_lock);
}

void em__sched_wake(em__sched *s)
{
    if (atomic_load_explicit(&s->sleeping, memory_order_seq_cst))
        kick(s);
}

/* Wake one sleeping scheduler other than s, so it can steal. */
static void wake_a_thief(em__sched *s)
{
    em__rt *rt = &em__the_rt;
    for (unsigned i = 1; i < rt->nsched; i++) {
        em__sched *o = &rt->scheds[(s->id + i) % rt->nsched];
        if (atomic_load_explicit(&o->sleeping, memory_order_seq_cst)) {
            em__sched_wake(o);
            return;
        }
    }
}

void em__sched_spawned(em__proc *p)
{
    em__rt *rt = &em__the_rt;
    em__sched *s = em__cur_sched;
    if (s == NULL) {
        unsigned i = atomic_fetch_add_explicit(&rt->next_sched, 1, memory_order_relaxed);
        s = &rt->scheds[i % rt->nsched];
        newq_push(s, p);
        em__sched_wake(s);
        return;
    }
    newq_push(s, p);
    if (atomic_load_explicit(&s->newq_len, memory_order_relaxed) > 1)
        wake_a_thief(s);
}

/* Which waits an event ends. */
static bool accepts(int wait_kind, int ev)
{
    switch (ev) {
    case EM__EV_MSG:
        return wait_kind == EM__W_MSG;
    case EM__EV_SIG:
        return wait_kind != EM__W_BLOCK;
    default: /* EM__EV_FLAG */
        return wait_kind == EM__W_FLAG || wait_kind == EM__W_BLOCK;
    }
}

/* Post a wake request for p to its home, unless one is pending. */
static void post_request(em__proc *p, em__sched *home)
{
    /* seq_cst load: if it reads 1, the pending request's exchange in
     * xq_drain comes after it, so the home's check sees our event. */
    if (atomic_load_explicit(&p->wake_req, memory_order_seq_cst) ||
        atomic_exchange_explicit(&p->wake_req, 1, memory_order_seq_cst))
        return;
    xq_push(home, p);
    em__sched_wake(home);
}

void em__proc_wake(em__proc *p, int ev)
{
    em__sched *self = em__cur_sched;
    em__sched *home = atomic_load_explicit(&p->home_pub, memory_order_seq_cst);
    if (home == NULL)
        return; /* not started: it checks its mailbox when it first runs */
    if (home == self) {
        /* The home thread: nothing else changes p's state meanwhile. */
        if (atomic_load_explicit(&p->state, memory_order_relaxed) == EM__PS_WAITING &&
            accepts(p->wait_kind, ev))
            em__sched_make_runnable(p);
        return;
    }
    /* Another thread: p may be about to wait, and its home does not fence
     * when it starts waiting, so a request is posted whatever its state
     * (at most one pending); the home checks the wait (xq_drain).  The
     * event was published (seq_cst) before the request. */
    post_request(p, home);
}

/* ---- switching ---- */

/* After a WAIT switch: is the awaited event already there? */
static bool wait_ready(em__proc *p)
{
    bool sig = atomic_load_explicit(&p->sigs_pending, memory_order_seq_cst) != 0;
    switch (p->wait_kind) {
    case EM__W_MSG:
        return p->local_new || em__mbox_has_new(&p->mbox);
    case EM__W_FLAG:
        return sig || atomic_load_explicit(&p->wake_flag, memory_order_seq_cst) != 0;
    case EM__W_BLOCK:
        return atomic_load_explicit(&p->wake_flag, memory_order_seq_cst) != 0;
    default:
        return sig;
    }
}

static void overflow(em__proc *p, size_t used)
{
    fprintf(stderr, "ember: process <0.%u.%u> exceeded its stack (%zu bytes used, stack size %u): killed\n",
            p->index, p->serial, used, p->stack_limit);
    em_drop(p->exit_reason);
    p->exit_reason = em_atom("stack_overflow");
}

/* Make p, whose frames are in slot sl, the running process of s. */
static void enter(em__sched *s, em__proc *p, em__slot *sl)
{
    sl->last_use = ++s->slot_clock;
    atomic_store_explicit(&p->state, EM__PS_RUNNING, memory_order_relaxed);
    s->current = p;
    p->budget = EM__BUDGET;
}

/* Record the stack use of p, switched out of slot sl (p->sp is where it
 * stopped); returns it. */
static inline size_t record_stack(em__slot *sl, em__proc *p)
{
    size_t used = (size_t)(sl->top - (uint8_t *)p->sp);
    atomic_store_explicit(&p->stack_used, (uint32_t)used, memory_order_relaxed);
#ifdef EM_ASAN
    if (sl->lowest_sp == NULL || (uint8_t *)p->sp < sl->lowest_sp)
        sl->lowest_sp = p->sp; /* stack.c unpoisons down to it */
#endif
    return used;
}

/* After p's context was saved (p->sp is where it stopped): record its stack
 * use and act on why it switched out.  Runs on the scheduler's stack after a
 * switch to the scheduler, or on the next process's stack after a direct
 * hand-over (em__sched_switch_out), which only happens for waits that the
 * stack check let through: never an exit. */
static void settle(em__sched *s, em__proc *p)
{
    em__slot *sl = &s->slots[p->slot];
    size_t used = record_stack(sl, p);
    int reason = p->swreason;
    if (reason != EM__SW_EXIT && used > p->stack_limit) {
        assert(s->current == NULL); /* not after a hand-over: see direct_next */
        overflow(p, used);
        reason = EM__SW_EXIT;
    }
    switch (reason) {
    case EM__SW_YIELD:
        atomic_store_explicit(&p->state, EM__PS_RUNNABLE, memory_order_relaxed);
        em__rq_push(s, p);
        break;
    case EM__SW_WAIT:
        /* No fence: events from other threads come with a wake request
         * (em__proc_wake); the check catches this thread's own, and an
         * inbox a receive left undrained after a wake-up by this thread's
         * message (receive.c: it scans the private queue first). */
        atomic_store_explicit(&p->state, EM__PS_WAITING, memory_order_relaxed);
        if (wait_ready(p))
            em__sched_make_runnable(p);
        break;
    default:
        assert(s->current == NULL);
        sl->on = NULL;
        s->finishing = 1;
        em__proc_finish(p);
        s->finishing = 0;
        if (s->ndeferred)
            em__remote_flush(s); /* its last run's output and its death's */
        break;
    }
}

/* settle for a process p that handed the core over directly (a wait),
 * run by the process it handed over to: direct_next checked p's stack use
 * against its limit before the switch, so no overflow check. */
static inline void settle_handed(em__sched *s, em__proc *p)
{
    size_t used = record_stack(&s->slots[p->slot], p);
    assert(p->swreason == EM__SW_WAIT && used <= p->stack_limit);
    (void)used;
    atomic_store_explicit(&p->state, EM__PS_WAITING, memory_order_relaxed);
    /* The check of settle, for a receive without the call: events of this
     * thread since the receive's last scan (the remote output flushed at
     * the switch-out may have delivered to p), and an inbox the receive
     * did not drain (receive.c: woken by this thread's message, it scans
     * the private queue first; tail shows any node in the inbox). */
    bool ready = p->wait_kind == EM__W_MSG ? p->local_new || em__mbox_has_new_tail(&p->mbox) : wait_ready(p);
    if (ready)
        em__sched_make_runnable(p);
}

static void run_proc(em__sched *s, em__proc *p)
{
    em__slot *sl;
    if (atomic_load_explicit(&p->state, memory_order_relaxed) == EM__PS_NEW) {
        p->home = s;
        /* seq_cst: a waker that read NULL here (and posted nothing) has its
         * event seen by this process's first wait check (seq_cst loads). */
        atomic_store_explicit(&p->home_pub, s, memory_order_seq_cst);
        sl = em__stack_pick(s);
        p->slot = (uint8_t)(sl - s->slots);
        if (sl->on && em__stack_save(sl, sl->on) < 0)
            abort(); /* cannot keep the other process's frames */
        em__stack_claim(sl);
        p->sp = em__ctx_init(sl->top, em__proc_entry);
        sl->on = p;
    } else {
        sl = &s->slots[p->slot];
        if (sl->on != p) {
            if (sl->on && em__stack_save(sl, sl->on) < 0)
                abort();
            em__stack_restore(sl, p);
            sl->on = p;
        }
    }
    enter(s, p, sl);
    em__stack_to_proc(s, p);
    em__ctx_switch(&s->sched_sp, p->sp, NULL);
    em__stack_in_sched(s);
    /* The process that switched to the scheduler: p, or the last of a chain
     * of direct hand-overs that started with p. */
    em__proc *last = s->current;
    s->current = NULL;
    settle(s, last);
}

/* The process to hand the core to directly when p waits, or NULL to go
 * through the scheduler.  A direct switch saves the trip through the
 * scheduler's loop (two context switches become one), which is most of a
 * local message round trip.  It is taken only when
 *  - the next runnable process q is bound to another slot than p's, so its
 *    frames can be put in place (copying out those of the slot's occupant,
 *    which is not p) while p's stack is in use, and
 *  - p is safely inside its stack limit (its overflow check, which may end
 *    it, must run on the scheduler's stack) with room below for the copy,
 *  - fewer than DIRECT_MAX hand-overs were made since the scheduler's loop
 *    last ran, so timers, processes woken from other threads and new
 *    processes are not held back: 256 is some 7-10 us of a local ping-pong.
 *    A trip through the loop costs more than its instructions (the
 *    returns after the two switches go where the return stack buffer does
 *    not expect): at 64 a ping-pong made one every 32 round trips and ran
 *    4-8 % slower (docs/perf.md, sixth round).
 * On success q is taken off the run queue with its frames in place. */
#define DIRECT_MAX 256
/* The most direct hand-overs between two looks at the fds of processes
 * waiting in em_wait_fd (sched_main): about 50 us of a local ping-pong, as
 * when DIRECT_MAX was 64 and the loop's every 32nd run polled. */
#define POLL_DIRECT 2048
#define SWITCH_FRAME 512   /* what em__ctx_switch and its caller push, and more */
#define COPY_ROOM (16 * 1024) /* stack the copy (realloc, memcpy) may use */

/* Put q's frames in place in its slot sl, copying out those of its
 * occupant, while a process whose stack use is `used` waits to hand over;
 * false if that cannot be done now.  Out of direct_next: the rare part,
 * whose calls made direct_next save registers at every hand-over. */
__attribute__((noinline)) static bool direct_restore(em__slot *sl, em__proc *q, size_t used)
{
    if (used + COPY_ROOM > EM_STACK_MAX)
        return false;
    if (sl->on && em__stack_save(sl, sl->on) < 0)
        return false; /* out of memory: let the scheduler deal with it */
    em__stack_restore(sl, q);
    sl->on = q;
    return true;
}

/* noinline: keeps em__sched_switch_out's frame, which every waiting
 * process carries and which is copied with its stack, small: inlined, the
 * hand-over logic made it much larger, and a ring of many processes much
 * slower (docs/perf.md). */
__attribute__((noinline)) static em__proc *direct_next(em__sched *s, em__proc *p)
{
    em__proc *q = s->rq_head;
    if (q == NULL || s->direct_run >= DIRECT_MAX || q->slot == p->slot)
        return NULL;
    const uint8_t *top = s->slots[p->slot].top;
    size_t used = (size_t)(top - stack_pointer()) + SWITCH_FRAME;
    if (used > p->stack_limit)
        return NULL;
    em__slot *sl = &s->slots[q->slot];
    if (sl->on != q) {
        assert(sl->on != p);
        if (!direct_restore(sl, q, used))
            return NULL;
    }
    s->direct_run++;
    return rq_pop(s);
}

void em__sched_switch_out(em__proc *p, int reason)
{
    em__sched *s = p->home;
    if (s->ndeferred && reason != EM__SW_EXIT)
        em__remote_flush(s); /* its queued remote output, before it stops
                                (an exit: with its death's, in settle) */
    assert(s == em__cur_sched && s->current == p);
    p->swreason = (uint8_t)reason;
    em__proc *q = reason == EM__SW_WAIT ? direct_next(s, p) : NULL;
    em__proc *from;
    if (q) {
        assert(atomic_load_explicit(&q->state, memory_order_relaxed) == EM__PS_RUNNABLE);
        enter(s, q, &s->slots[q->slot]);
        em__stack_to_proc(s, q);
        from = em__ctx_switch(&p->sp, q->sp, p); /* q settles p as soon as it runs */
    } else {
        em__stack_to_sched(s, p, reason == EM__SW_EXIT);
        from = em__ctx_switch(&p->sp, s->sched_sp, NULL);
    }
    em__stack_in_proc();
    /* Running again, on the same scheduler (processes are pinned); if a
     * process handed the core over to us, its switch-out is finished here. */
    if (from)
        settle_handed(s, from);
}

/* Steal a never-started process from a scheduler that has more than one
 * thing to do.  A lone new process (say, the partner a process just spawned
 * to talk to) is left where it is: it will run there as soon as its spawner
 * waits, and keeping the pair on one scheduler avoids a cross-thread wake-up
 * per message. */
static bool worth_stealing(em__sched *v)
{
    unsigned n = atomic_load_explicit(&v->newq_len, memory_order_relaxed);
    return n >= 2 || (n == 1 && atomic_load_explicit(&v->rq_len, memory_order_relaxed) >= 1);
}

/* Take half of v's never-started processes (one lock round trip for many,
 * so a scheduler spawning fast is not slowed by one thief per process).
 * Returns one to run; the rest go to s's own new queue. */
static em__proc *steal_from(em__sched *s, em__sched *v)
{
    pthread_mutex_lock(&v->newq_lock);
    unsigned n = atomic_load_explicit(&v->newq_len, memory_order_relaxed);
    unsigned take = (n + 1) / 2;
    em__proc *first = v->newq_head, *last = first;
    if (take == 0 || first == NULL) {
        pthread_mutex_unlock(&v->newq_lock);
        return NULL;
    }
    for (unsigned i = 1; i < take; i++)
        last = last->rq_next;
    v->newq_head = last->rq_next;
    if (v->newq_head == NULL)
        v->newq_tail = NULL;
    atomic_fetch_sub_explicit(&v->newq_len, take, memory_order_relaxed);
    pthread_mutex_unlock(&v->newq_lock);
    last->rq_next = NULL;
    em__proc *rest = first->rq_next;
    if (rest) {
        pthread_mutex_lock(&s->newq_lock);
        if (s->newq_tail)
            s->newq_tail->rq_next = rest;
        else
            s->newq_head = rest;
        s->newq_tail = last;
        atomic_fetch_add_explicit(&s->newq_len, take - 1, memory_order_seq_cst);
        pthread_mutex_unlock(&s->newq_lock);
    }
    return first;
}

static em__proc *steal(em__sched *s)
{
    em__rt *rt = &em__the_rt;
    for (unsigned i = 1; i < rt->nsched; i++) {
        em__sched *v = &rt->scheds[(s->id + i) % rt->nsched];
        if (!worth_stealing(v))
            continue;
        em__proc *p = steal_from(s, v);
        if (p)
            return p;
    }
    return NULL;
}

static bool has_work(em__sched *s)
{
    em__rt *rt = &em__the_rt;
    if (s->rq_head || atomic_load_explicit(&s->xq, memory_order_seq_cst) ||
        atomic_load_explicit(&s->newq_len, memory_order_seq_cst))
        return true;
    for (unsigned i = 0; i < rt->nsched; i++)
        if (&rt->scheds[i] != s && worth_stealing(&rt->scheds[i]))
            return true;
    return atomic_load_explicit(&rt->stop, memory_order_relaxed) != 0;
}

static int64_t next_deadline(em__sched *s)
{
    pthread_mutex_lock(&s->timer_lock);
    em__timer *t = em__theap_top(&s->timers);
    int64_t d = t ? t->deadline : -1;
    pthread_mutex_unlock(&s->timer_lock);
    return d;
}

/* Out of work, s (which ran processes since its last trim) trims when its
 * period is over and was quiet, and returns true (its loop then looks for
 * work again); otherwise it starts a period or keeps it, and returns
 * false. */
static bool idle_trim(em__sched *s)
{
    assert(s->runs || s->trim_at);
    int64_t now = em__now_ns();
    if (s->trim_at == 0 || (now >= s->trim_at && s->runs > TRIM_BUSY_RUNS)) {
        s->trim_at = now + TRIM_IDLE_NS;
        s->runs = 0;
        return false;
    }
    if (now < s->trim_at)
        return false;
    em__mem_trim(s);
    s->runs = 0;
    s->trim_at = 0;
    return true;
}

/* When a parking s must wake up: its next timer, or its trim (-1: never). */
static int64_t park_deadline(em__sched *s)
{
    int64_t d = next_deadline(s);
    if (s->trim_at && (d < 0 || s->trim_at < d))
        d = s->trim_at;
    return d;
}

/* Sleep in s's epoll set until a kick, an fd event or deadline d (-1:
 * none).  Called with park_lock held and `sleeping` set; returns with it
 * held.  Kicks see poll_sleep under the lock and write the eventfd, which
 * stays readable until epoll_wait reports it: a kick that comes between
 * the unlock and epoll_wait is not lost. */
static void park_in_poll(em__sched *s, int64_t d)
{
    s->poll_sleep = 1;
    pthread_mutex_unlock(&s->park_lock);
    int ms = -1;
    if (d >= 0) {
        int64_t left = d - em__now_ns();
        int64_t l_ms = (left + 999999) / 1000000;
        ms = left <= 0 ? 0 : l_ms > INT_MAX ? INT_MAX : (int)l_ms;
    }
    em__io_poll(s, ms);
    pthread_mutex_lock(&s->park_lock);
    s->poll_sleep = 0;
}

static void park(em__sched *s)
{
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        if (has_work(s))
            return;
        if (i % SPIN_YIELD_EVERY == SPIN_YIELD_EVERY - 1) {
            sched_yield();
            if (s->nfdwait && em__io_poll(s, 0) > 0)
                return;
        } else {
            cpu_relax();
        }
    }
    if ((s->runs || s->trim_at) && idle_trim(s))
        return;
    int64_t d = park_deadline(s);
    if (d >= 0 && d <= em__now_ns())
        return;
    pthread_mutex_lock(&s->park_lock);
    atomic_store_explicit(&s->sleeping, 1, memory_order_seq_cst);
    if (s->nfdwait && !has_work(s)) {
        /* The deadline again, now that `sleeping` is set: a timer another
         * thread added since the read above did not kick us. */
        park_in_poll(s, park_deadline(s));
    } else if (!has_work(s)) {
        d = park_deadline(s);
        if (d < 0) {
            while (!atomic_load_explicit(&s->wakeups, memory_order_relaxed))
                pthread_cond_wait(&s->park_cond, &s->park_lock);
        } else {
            struct timespec ts = {.tv_sec = (time_t)(d / 1000000000), .tv_nsec = (long)(d % 1000000000)};
            while (!atomic_load_explicit(&s->wakeups, memory_order_relaxed))
                if (pthread_cond_timedwait(&s->park_cond, &s->park_lock, &ts) == ETIMEDOUT)
                    break;
        }
    }
    atomic_store_explicit(&s->wakeups, 0, memory_order_relaxed);
    atomic_store_explicit(&s->sleeping, 0, memory_order_relaxed);
    pthread_mutex_unlock(&s->park_lock);
}

static em__proc *next_proc(em__sched *s)
{
    xq_drain(s);
    /* Alternate between woken and new processes so neither starves. */
    if ((++s->ticks & 1) && atomic_load_explicit(&s->newq_len, memory_order_relaxed)) {
        em__proc *p = newq_pop(s);
        if (p)
            return p;
    }
    em__proc *p = rq_pop(s);
    return p ? p : newq_pop(s);
}

static void *sched_main(void *arg)
{
    em__sched *s = arg;
    em__rt *rt = &em__the_rt;
    em__cur_sched = s;
    if (em__stack_thread_init(s) < 0)
        abort();
    while (!atomic_load_explicit(&rt->stop, memory_order_acquire)) {
        if (s->timers.n)
            em__timer_run(s, em__now_ns());
        /* Fd events: whenever the queue runs dry, and every 32 runs or
         * POLL_DIRECT direct hand-overs so a busy scheduler does not leave
         * its socket readers waiting: a ping-pong passes through here once
         * every DIRECT_MAX hand-overs only. */
        if (s->nfdwait && (s->rq_head == NULL || (s->ticks & 31) == 0 || s->direct_unpolled >= POLL_DIRECT)) {
            em__io_poll(s, 0);
            s->direct_unpolled = 0;
        }
        em__proc *p = next_proc(s);
        if (p == NULL)
            p = steal(s);
        if (p == NULL) {
            park(s);
            continue;
        }
        s->direct_run = 0;
        s->runs++;
        run_proc(s, p);
        s->direct_unpolled += s->direct_run;
    }
    em__stack_thread_fini(s);
    em__msg_cache_flush();
    em__cur_sched = NULL;
    return NULL;
}

/* ---- life of the runtime ---- */

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static void free_scheds(em__rt *rt, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        em__sched *s = &rt->scheds[i];
        em__stack_sched_fini(s);
        em__io_sched_fini(s);
        em__theap_free(&s->timers);
        pthread_mutex_destroy(&s->newq_lock);
        pthread_mutex_destroy(&s->park_lock);
        pthread_mutex_destroy(&s->timer_lock);
        pthread_cond_destroy(&s->park_cond);
    }
    free(rt->scheds);
    rt->scheds = NULL;
    rt->nsched = 0;
}

static int start(const em_rt_opts *opts)
{
    em__rt *rt = &em__the_rt;
    unsigned n = opts && opts->schedulers ? opts->schedulers : online_cpus();
    int rc = em__proc_table_init(opts && opts->max_procs ? opts->max_procs : (1u << 22));
    if (rc < 0)
        return rc;
    /* aligned: see the field groups of em__sched */
    size_t bytes = n * sizeof *rt->scheds;
    rt->scheds = aligned_alloc(EM__CACHE_LINE, bytes);
    if (rt->scheds)
        memset(rt->scheds, 0, bytes);
    if (rt->scheds == NULL) {
        em__proc_table_fini();
        return EM_ENOMEM;
    }
    rt->nsched = n;
    atomic_store(&rt->stop, 0);
    atomic_store(&rt->nprocs, 0);
    rt->stop_code = 0;
    for (unsigned i = 0; i < n; i++) {
        em__sched *s = &rt->scheds[i];
        s->id = i;
        pthread_mutex_init(&s->newq_lock, NULL);
        pthread_mutex_init(&s->park_lock, NULL);
        pthread_mutex_init(&s->timer_lock, NULL);
        /* park's deadlines are em__now_ns (CLOCK_MONOTONIC) times: with
         * the default clock (CLOCK_REALTIME) every timed wait was already
         * over, and a scheduler waiting for a timer spun until it fired. */
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->park_cond, &ca);
        pthread_condattr_destroy(&ca);
        s->epfd = s->evfd = -1;
    }
    for (unsigned i = 0; i < n; i++) {
        em__sched *s = &rt->scheds[i];
        if ((rc = em__io_sched_init(s)) < 0 || (rc = em__stack_sched_init(s)) < 0) {
            free_scheds(rt, n);
            em__proc_table_fini();
            return rc == EM_EIO ? EM_EIO : EM_ENOMEM;
        }
    }
    em__stack_install_handler();
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&rt->scheds[i].thread, NULL, sched_main, &rt->scheds[i]) != 0) {
            atomic_store(&rt->stop, 1);
            for (unsigned j = 0; j < i; j++) {
                em__sched_wake(&rt->scheds[j]);
                pthread_join(rt->scheds[j].thread, NULL);
            }
            free_scheds(rt, n);
            em__proc_table_fini();
            return EM_EIO;
        }
    }
    atomic_store_explicit(&rt->running, 1, memory_order_release);
    return 0;
}

EM_API int em_init(const em_rt_opts *opts)
{
    pthread_mutex_lock(&init_lock);
    int rc = atomic_load(&em__the_rt.running) ? EM_EEXIST : start(opts);
    pthread_mutex_unlock(&init_lock);
    return rc;
}

int em__rt_ensure(void)
{
    if (atomic_load_explicit(&em__the_rt.running, memory_order_acquire))
        return 0;
    pthread_mutex_lock(&init_lock);
    int rc = atomic_load(&em__the_rt.running) ? 0 : start(NULL);
    pthread_mutex_unlock(&init_lock);
    return rc;
}

EM_API void em_stop(int code)
{
    em__rt *rt = &em__the_rt;
    pthread_mutex_lock(&rt->run_lock);
    if (!atomic_load(&rt->stop))
        rt->stop_code = code;
    atomic_store(&rt->stop, 1);
    pthread_cond_broadcast(&rt->run_cond);
    pthread_mutex_unlock(&rt->run_lock);
}

void em__rt_proc_gone(void)
{
    em__rt *rt = &em__the_rt;
    if (atomic_fetch_sub(&rt->nprocs, 1) == 1) {
        pthread_mutex_lock(&rt->run_lock);
        pthread_cond_broadcast(&rt->run_cond);
        pthread_mutex_unlock(&rt->run_lock);
    }
}

EM_API int em_run(void)
{
    em__rt *rt = &em__the_rt;
    if (em__cur_sched)
        return EM_ESTATE;
    if (!atomic_load(&rt->running))
        return 0;
    pthread_mutex_lock(&rt->run_lock);
    while (!atomic_load(&rt->stop) && atomic_load(&rt->nprocs) > 0)
        pthread_cond_wait(&rt->run_cond, &rt->run_lock);
    atomic_store(&rt->stop, 1);
    int code = rt->stop_code;
    pthread_mutex_unlock(&rt->run_lock);

    pthread_mutex_lock(&init_lock);
    for (unsigned i = 0; i < rt->nsched; i++)
        kick(&rt->scheds[i]);
    for (unsigned i = 0; i < rt->nsched; i++)
        pthread_join(rt->scheds[i].thread, NULL);
    atomic_store(&rt->running, 0);
    em__io_fini();
    em__proc_kill_all();
    em__timer_shutdown();
    em__reg_fini();
    em__receive_fini();
    free_scheds(rt, rt->nsched);
    em__proc_table_fini();
    em__msg_cache_flush(); /* nodes freed on this thread by the shutdown */
    em__msg_pool_flush();
    em__box_cache_flush();
    em__big_cache_flush();
    atomic_store(&rt->stop, 0);
    pthread_mutex_unlock(&init_lock);
    return code;
}
