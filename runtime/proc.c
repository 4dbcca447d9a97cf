/* proc.c: the process table, spawn, exit and introspection.
 *
 * The table (em__proc_tab) maps a pid's id (the slot index) to a process
 * structure.  A slot's structure is allocated on first use and then kept
 * for the life of the runtime and reused by later processes in that slot
 * (type-stable memory): a sender holding a stale pointer can always read
 * the gate, and the gate's serial tells it the process is gone.
 *
 * pid = <0.index.serial>.  The serial of a slot grows by one per reuse, so a
 * stale pid never reaches a newer process in the same slot.
 *
 * Structures are allocated CHUNK_PROCS at a time (slots are taken in index
 * order, so slot i's structure is in chunk i / CHUNK_PROCS): a chunk is one
 * 2 MiB mapping, aligned so that the kernel can back it with a transparent
 * huge page (madvise; one page fault instead of 512, where spawning spent
 * much of its time: docs/perf.md), at the price of up to 2 MiB resident
 * for the first process.  One calloc per process made a thread's malloc
 * arena grow a few pages at a time (an mprotect system call every few
 * spawns, which made spawning slow whenever the memory of an earlier
 * runtime had been given back).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "remote.h"
#include "rt.h"
#include "stack.h"

_Atomic(em__proc *) *em__proc_tab; /* rt.h */
static uint32_t table_size;
static pthread_mutex_t free_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *free_ix;      /* stack of free slot indexes */
static uint32_t nfree;
_Atomic uint32_t em__proc_next_unused; /* slots [next, size) never used (rt.h) */
#define CHUNK_BYTES ((size_t)2 << 20) /* one huge page, where the kernel has them */
#define CHUNK_PROCS ((uint32_t)(CHUNK_BYTES / sizeof(em__proc)))
static em__proc **chunks; /* table_size / CHUNK_PROCS + 1, NULL until used */

int em__proc_table_init(unsigned max_procs)
{
    if (max_procs > EM__LOCAL_PID_ID_MAX)
        max_procs = EM__LOCAL_PID_ID_MAX;
    em__proc_tab = calloc(max_procs, sizeof *em__proc_tab);
    free_ix = malloc((size_t)max_procs * sizeof *free_ix);
    chunks = calloc(max_procs / CHUNK_PROCS + 1, sizeof *chunks);
    if (em__proc_tab == NULL || free_ix == NULL || chunks == NULL) {
        free(em__proc_tab);
        free(free_ix);
        free(chunks);
        em__proc_tab = NULL;
        free_ix = NULL;
        chunks = NULL;
        return EM_ENOMEM;
    }
    table_size = max_procs;
    nfree = 0;
    atomic_store(&em__proc_next_unused, 1); /* <0.0.0> is never a process */
    return 0;
}

void em__proc_table_fini(void)
{
    uint32_t n = atomic_load(&em__proc_next_unused);
    for (uint32_t i = 0; em__proc_tab && i < n; i++) {
        em__proc *p = atomic_load_explicit(&em__proc_tab[i], memory_order_relaxed);
        if (p) {
            em__mbox_fini(&p->mbox); /* with messages sent after it died */
            em__stack_release(p);
        }
    }
    for (uint32_t k = 0; chunks && k <= table_size / CHUNK_PROCS; k++)
        if (chunks[k])
            munmap(chunks[k], CHUNK_BYTES);
    free(em__proc_tab);
    free(free_ix);
    free(chunks);
    em__proc_tab = NULL;
    free_ix = NULL;
    chunks = NULL;
    table_size = 0;
}


em_term em__proc_pid(const em__proc *p)
{
    return em__local_pid(p->index, p->serial);
}

em__proc *em__proc_acquire(em_term pid)
{
    if (!em__is_local_pid(pid) || em__proc_tab == NULL)
        return NULL;
    em__proc *p = em__proc_lookup_slot(em__local_pid_id(pid));
    if (p == NULL)
        return NULL;
    uint64_t want = (uint64_t)em__local_pid_serial(pid);
    uint64_t g = atomic_load_explicit(&p->gate, memory_order_acquire);
    for (;;) {
        if ((g >> 32) != want || (g & EM__GATE_DEAD))
            return NULL;
        if (atomic_compare_exchange_weak_explicit(&p->gate, &g, g + EM__GATE_SENDER,
                                                  memory_order_acquire, memory_order_acquire))
            return p;
    }
}


void em__proc_release(em__proc *p)
{
    atomic_fetch_sub_explicit(&p->gate, EM__GATE_SENDER, memory_order_release);
}

EM_API bool em_is_alive(em_term pid)
{
    em__proc *p = em__proc_acquire(pid);
    if (p)
        em__proc_release(p);
    return p != NULL;
}

/* ---- spawn ---- */

/* A chunk: CHUNK_BYTES, aligned to its size so that the kernel can back
 * it with one transparent huge page (one fault instead of 512 when a
 * million processes are spawned); zero until touched. */
static em__proc *chunk_map(void)
{
    uint8_t *m = mmap(NULL, 2 * CHUNK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)m + CHUNK_BYTES - 1) & ~(uintptr_t)(CHUNK_BYTES - 1);
    uint8_t *c = (uint8_t *)a;
    if (c > m)
        munmap(m, (size_t)(c - m));
    if (c + CHUNK_BYTES < m + 2 * CHUNK_BYTES)
        munmap(c + CHUNK_BYTES, (size_t)(m + 2 * CHUNK_BYTES - (c + CHUNK_BYTES)));
#ifdef MADV_HUGEPAGE
    madvise(c, CHUNK_BYTES, MADV_HUGEPAGE);
#endif
    return (em__proc *)c;
}

/* Take a free slot, creating its structure on first use; NULL if the table
 * is full or memory ran out. */
static em__proc *slot_take(void)
{
    em__proc *p = NULL;
    pthread_mutex_lock(&free_lock);
    if (nfree) {
        p = atomic_load_explicit(&em__proc_tab[free_ix[--nfree]], memory_order_relaxed);
    } else {
        uint32_t ix = atomic_load_explicit(&em__proc_next_unused, memory_order_relaxed);
        em__proc **ch = ix < table_size ? &chunks[ix / CHUNK_PROCS] : NULL;
        if (ch && *ch == NULL)
            *ch = chunk_map(); /* aligned for em__proc's cache-line fields too */
        if (ch && *ch) {
            p = &(*ch)[ix % CHUNK_PROCS];
            if (em__mbox_init(&p->mbox) < 0)
                p = NULL; /* the structure stays zeroed for a next try */
        }
        if (p) {
            p->index = ix;
            atomic_init(&p->gate, EM__GATE_DEAD);
            atomic_flag_clear(&p->monby_lock);
            p->timer.heap_ix = -1;
            atomic_store_explicit(&em__proc_tab[ix], p, memory_order_release);
            atomic_store_explicit(&em__proc_next_unused, ix + 1, memory_order_release);
        }
    }
    pthread_mutex_unlock(&free_lock);
    return p;
}

EM_API em_term em_spawn_opt(em_proc_fn fn, void *arg, const em_spawn_opts *opts)
{
    if (fn == NULL || em__rt_ensure() < 0)
        return EM_NONE;
    size_t limit = opts && opts->stack_size ? opts->stack_size : EM_STACK_DEFAULT;
    if (limit > EM_STACK_MAX - 4096)
        limit = EM_STACK_MAX - 4096;
    em__exit_hook *hook = NULL;
    if (opts && opts->on_exit) {
        hook = malloc(sizeof *hook);
        if (hook == NULL)
            return EM_NONE;
        *hook = (em__exit_hook){.fn = opts->on_exit, .arg = arg, .next = NULL};
    }
    em__proc *p = slot_take();
    if (p == NULL) {
        free(hook);
        return EM_NONE;
    }
    p->serial++;
    p->home = NULL;
    atomic_store_explicit(&p->home_pub, NULL, memory_order_relaxed);
    /* wake_req is left as it is: a request of the slot's previous process
     * may still sit in a scheduler's xq (see xq_drain). */
    p->rq_next = NULL;
    /* mq_next is left as it is too: while that request is in an xq, it
     * links the requests pushed before it; cleared, it cut them off the
     * list, and their processes (wake_req still set, so never posted
     * again) would wait for good.  xq_push sets it at each push. */
    p->sp = NULL;
    p->saved_len = 0;
    p->stack_limit = (uint32_t)limit;
    atomic_store_explicit(&p->stack_used, 0, memory_order_relaxed);
    p->fn = fn;
    p->arg = arg;
    p->budget = EM__BUDGET;
    p->swreason = 0;
    p->wait_kind = 0;
    p->timed_out = 0;
    p->local_new = 0;
    p->inbox_from_home = 0;
    atomic_store_explicit(&p->wake_flag, 0, memory_order_relaxed);
    p->fd_wait = -1;
    p->timer.heap_ix = -1;
    p->mark_ref = EM_NONE;
    p->nkept = 0;
    p->cur_msg = EM_NONE;
    p->name = EM_NONE;
    p->exit_reason = EM_NONE;
    p->hooks = hook; /* before anyone can run or kill p */
    p->trap_exit = false;
    em__proc *parent = em__self_proc();
    if (opts && parent && opts->link && em__link_spawned(parent, p) < 0)
        goto fail;
    if (opts && opts->monitor) {
        *opts->monitor = EM_NONE;
        if (parent && em__monitor_spawned(parent, p, opts->monitor) < 0)
            goto fail;
    }
    /* `fail` releases the slot; nprocs is counted only from here on. */
    atomic_store_explicit(&p->state, EM__PS_NEW, memory_order_relaxed);
    atomic_fetch_add(&em__the_rt.nprocs, 1);
    em_term pid = em__proc_pid(p);
    /* Release: everything above is visible to whoever acquires the gate. */
    atomic_store_explicit(&p->gate, (uint64_t)p->serial << 32, memory_order_release);
    em__sched_spawned(p);
    return pid;
fail:
    /* Give the slot back: nothing else has seen this process. */
    em__link_undo_spawn(parent, p);
    pthread_mutex_lock(&free_lock);
    free_ix[nfree++] = p->index;
    pthread_mutex_unlock(&free_lock);
    free(hook);
    return EM_NONE;
}

EM_API em_term em_spawn_link(em_proc_fn fn, void *arg)
{
    em_spawn_opts o = {.link = true};
    return em_spawn_opt(fn, arg, &o);
}

EM_API em_term em_spawn(em_proc_fn fn, void *arg)
{
    return em_spawn_opt(fn, arg, NULL);
}

/* ---- running and exiting ---- */

void em__proc_entry(void)
{
    em__stack_in_proc();
    em__proc *p = em__self_proc();
    /* Take in everything sent before this first run (and act on signals:
     * killed before it ever ran?).  Processes of this scheduler that sent
     * then did not know p's home and used the inbox; from now on they
     * append to p's private queue directly (send.c), and this drain, done
     * before any of them runs again, keeps their later messages behind
     * their earlier ones. */
    if (em__mbox_has_new(&p->mbox))
        em__proc_drain(p);
    p->fn(p->arg);
    em_exit(em__atom(EM__A_NORMAL));
}

EM_API em_term em_self(void)
{
    em__proc *p = em__self_proc();
    return p ? em__proc_pid(p) : EM_NONE;
}

EM_API void em_exit(em_term reason)
{
    em__proc *p = em__self_proc();
    if (p == NULL) {
        em_drop(reason);
        return;
    }
    em_drop(p->exit_reason);
    p->exit_reason = reason;
    em__sched_switch_out(p, EM__SW_EXIT);
    abort(); /* never resumed */
}

void em__proc_keep(em_term t)
{
    em__proc *p = em__self_proc();
    assert(p != NULL && p->nkept < EM__KEPT_MAX);
    p->kept[p->nkept++] = t;
}

em_term em__proc_unkeep(void)
{
    em__proc *p = em__self_proc();
    assert(p != NULL && p->nkept > 0);
    return p->kept[--p->nkept];
}

void em__yield_quiet(void)
{
    em__proc *p = em__self_proc();
    if (p)
        em__sched_switch_out(p, EM__SW_YIELD);
}

EM_API void em_yield(void)
{
    em__proc *p = em__self_proc();
    if (p) {
        em__sched_switch_out(p, EM__SW_YIELD);
        em__proc_signals(p);
    }
}

EM_API int em_on_exit(void (*fn)(void *), void *arg)
{
    em__proc *p = em__self_proc();
    if (p == NULL)
        return EM_ESTATE;
    em__exit_hook *h = malloc(sizeof *h);
    if (h == NULL)
        return EM_ENOMEM;
    h->fn = fn;
    h->arg = arg;
    h->next = p->hooks;
    p->hooks = h;
    return 0;
}

/* The process em__proc_finish runs the exit hooks of, on this thread. */
static _Thread_local em__proc *exiting;

em__proc *em__proc_exiting(void)
{
    return em__cur_sched != NULL ? exiting : NULL;
}

/* Release everything the runtime holds for p.  Runs on a scheduler's own
 * stack (or the em_run thread at shutdown), after p's last switch. */
void em__proc_finish(em__proc *p)
{
    atomic_store_explicit(&p->state, EM__PS_EXITING, memory_order_relaxed);
    em__io_proc_gone(p); /* first: exit hooks may close its fd */
    /* Close the gate, then wait for senders that got in before: after this
     * no one can push into the mailbox. */
    uint64_t g = atomic_fetch_or_explicit(&p->gate, EM__GATE_DEAD, memory_order_acq_rel);
    while (g & EM__GATE_COUNT_MASK)
        g = atomic_load_explicit(&p->gate, memory_order_acquire);
    em__proc *outer = exiting; /* NULL today (finishes do not nest); restored if they ever do */
    exiting = p;
    while (p->hooks) {
        em__exit_hook *h = p->hooks;
        p->hooks = h->next;
        h->fn(h->arg);
        free(h);
    }
    exiting = outer;
    em__reg_remove_proc(p);
    em__link_exit(p, p->exit_reason != EM_NONE ? p->exit_reason : em_atom("killed"));
    em__alias_exit(p);
    if (p->timer.heap_ix >= 0 && p->home)
        em__timer_cancel_proc(p);
    em__mbox_clear(&p->mbox);
    em_drop(p->cur_msg);
    em_drop(p->mark_ref);
    while (p->nkept > 0)
        em_drop(p->kept[--p->nkept]);
    em_drop(p->exit_reason);
    p->cur_msg = p->mark_ref = p->exit_reason = EM_NONE;
    em__stack_release(p);
    em__stack_proc_gone(p);
    atomic_store_explicit(&p->state, EM__PS_FREE, memory_order_relaxed);
    pthread_mutex_lock(&free_lock);
    free_ix[nfree++] = p->index;
    pthread_mutex_unlock(&free_lock);
    em__rt_proc_gone();
}

void em__proc_kill_all(void)
{
    uint32_t n = atomic_load(&em__proc_next_unused);
    for (uint32_t i = 0; i < n; i++) {
        em__proc *p = atomic_load(&em__proc_tab[i]);
        if (p && !(atomic_load(&p->gate) & EM__GATE_DEAD)) {
            if (p->timer.heap_ix >= 0)
                p->timer.heap_ix = -1; /* the heaps go away whole */
            em__proc_finish(p);
        }
    }
}

void em__proc_foreach_live(void (*fn)(em_term pid, void *arg), void *arg)
{
    if (em__proc_tab == NULL)
        return;
    uint32_t n = atomic_load(&em__proc_next_unused);
    for (uint32_t i = 0; i < n; i++) {
        em__proc *p = atomic_load(&em__proc_tab[i]);
        if (p == NULL)
            continue;
        uint64_t g = atomic_load(&p->gate);
        if (!(g & EM__GATE_DEAD))
            fn(em__local_pid(i, (uint32_t)(g >> 32)), arg);
    }
}

/* ---- introspection ---- */

EM_API size_t em_process_count(void)
{
    return atomic_load(&em__the_rt.nprocs);
}

EM_API int em_process_info(em_term pid, em_proc_info *info)
{
    em__proc *p = em__proc_acquire(pid);
    if (p == NULL)
        return EM_ENOPROC;
    int st = atomic_load(&p->state);
    info->status = st == EM__PS_RUNNING ? EM_STATUS_RUNNING
                   : st == EM__PS_WAITING ? EM_STATUS_WAITING
                                          : EM_STATUS_RUNNABLE;
    info->message_queue_len = atomic_load_explicit(&p->mbox.len, memory_order_relaxed);
    info->stack_used = atomic_load_explicit(&p->stack_used, memory_order_relaxed);
    info->stack_size = p->stack_limit;
    info->name = p->name;
    em__proc_release(p);
    return 0;
}

EM_API em_term em_processes(void)
{
    em_term l = EM_NIL;
    if (em__proc_tab == NULL)
        return l;
    uint32_t n = atomic_load(&em__proc_next_unused);
    for (uint32_t i = n; i-- > 0 && l != EM_NONE;) {
        em__proc *p = atomic_load(&em__proc_tab[i]);
        if (p == NULL)
            continue;
        uint64_t g = atomic_load(&p->gate);
        if (!(g & EM__GATE_DEAD))
            l = em_cons(em__local_pid(i, (uint32_t)(g >> 32)), l);
    }
    return l;
}
