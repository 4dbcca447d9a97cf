/* rt.h: the runtime's private structures, shared by the files of runtime/.
 * Never included by a public header.
 *
 * Files: ctx (context switch, switch_*.S), stack.c (shared stacks, copying),
 * proc.c (process table, spawn, exit), mbox.c (mailboxes), receive.c,
 * sched.c (schedulers, run queues, parking, em_run), timer.c, reg.c
 * (registry), io.c (fd waits, blocking pool), send.c (local send), link.c
 * (links, monitors, signals), remote.c (destinations on other nodes: the
 * runtime's side of the seam with net/, remote.h).
 */
#ifndef EM_RUNTIME_RT_H
#define EM_RUNTIME_RT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <ember/runtime.h>

#include "../term/term_seam.h"

typedef struct em__proc em__proc;
typedef struct em__sched em__sched;
/* Of the seam with net/ (remote.h, which the files that use it include:
 * it includes nothing of the runtime's). */
typedef struct em__dest em__dest;
typedef struct em__remote_ops em__remote_ops;

/* ---- context switch (switch_<arch>.S) ----
 * em__ctx_switch saves the callee-saved registers of the running context on
 * its stack, stores its stack pointer in *from_sp, loads to_sp and restores
 * the registers saved there.  The resumed context's own em__ctx_switch call
 * returns arg: a value handed across in a register (the scheduler passes
 * the process that handed the core over, which the resumed one settles;
 * no store and load through memory on the way), garbage for a context
 * that starts at its entry. */
void *em__ctx_switch(void **from_sp, void *to_sp, void *arg);
/* Build the initial frame of a context that will start in entry() with its
 * stack top at `top` (16-aligned); returns the stack pointer to switch to. */
void *em__ctx_init(void *top, void (*entry)(void));

/* ---- mailbox (mbox.c) ----
 * A message node.  The inbox is Vyukov's MPSC queue with a dummy node:
 * producers exchange `tail` and link; the single consumer (the owning
 * process, or its scheduler for it) takes head->next.  A node taken from
 * the inbox has its payload moved into the old dummy, which then goes into
 * the private queue, a singly linked list only the owner touches, while the
 * taken node becomes the new dummy: taking a message costs no atomic
 * read-modify-write and no allocation. */
typedef struct em__msg {
    _Atomic(struct em__msg *) next;
    em_term term;        /* the message; a signal is (em__sig * | 3) */
    uint32_t serial;     /* the generation of the process it was sent to */
    uint32_t tag_arity;  /* tuple message: arity + 1, else 0 */
    em_term tag_first;   /* tuple message: its first element's word */
    void *owner;         /* where the node's memory comes from (mbox.c):
                            EM__MSG_EMBEDDED for a node inside a process
                            structure (the mailbox's first dummy: freeing it
                            is a no-op), else the block it was carved from,
                            or NULL for a node of its own (ASan builds) */
} em__msg;
#define EM__MSG_EMBEDDED ((void *)1)

typedef _Atomic(struct em__msg *) em__link;

#define EM__CACHE_LINE 64

typedef struct em__mbox {
    /* producers: last node pushed (or the dummy).  A line of its own, but
     * for the first dummy, which is cold once the first message has
     * passed: senders exchange `tail` at every push while the owner writes
     * the fields below at every take, and in a fan-in sharing one line
     * cost a transfer each way per message (docs/perf.md). */
    _Alignas(EM__CACHE_LINE) em__link tail;
    em__msg first_dummy;     /* the dummy a new slot starts with */
    _Alignas(EM__CACHE_LINE) em__msg *head; /* consumer: the dummy; head->next is unread */
    em__link first;          /* private queue: arrival order */
    em__link *last;          /* the link the next drained node goes in */
    em__link *mark;          /* receive marker (em_make_ref) or NULL */
    _Atomic size_t len;      /* private queue length (written by the owner) */
} em__mbox;

#define EM__SIG_TAG 0x3u
static inline bool em__msg_is_sig(const em__msg *n) { return (n->term & EM__SIG_TAG) == EM__SIG_TAG; }

/* Set up / tear down a slot's mailbox. */
int em__mbox_init(em__mbox *m);
void em__mbox_fini(em__mbox *m);
/* Push (any thread). */
void em__mbox_push(em__mbox *m, em__msg *n);
/* Whether the inbox holds unread nodes (consumer's thread). */
static inline bool em__mbox_has_new(em__mbox *m)
{
    return atomic_load_explicit(&m->head->next, memory_order_relaxed) != NULL ||
           atomic_load_explicit(&m->tail, memory_order_seq_cst) != m->head;
}
/* em__mbox_has_new for a process that has just started waiting (its inbox
 * was empty at its last scan), on its home thread (settle_handed,
 * sched.c): what that check is for is a push of this thread since the
 * scan, which `tail` shows in one load (a push moves tail before it links
 * the node); other threads' pushes come with a wake request anyway
 * (em__proc_wake).  The general check reads head->next first, so that a
 * consumer that finds messages does not touch the producers' line. */
static inline bool em__mbox_has_new_tail(em__mbox *m)
{
    return atomic_load_explicit(&m->tail, memory_order_seq_cst) != m->head;
}
/* Take the next inbox node, or NULL (consumer only). */
em__msg *em__mbox_pop(em__mbox *m);
/* Append a node to the private queue (consumer only). */
static inline void em__mbox_append(em__mbox *m, em__msg *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    atomic_store_explicit(m->last, n, memory_order_relaxed);
    m->last = &n->next;
    atomic_store_explicit(&m->len, atomic_load_explicit(&m->len, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Unlink the node *at from the private queue (consumer only); returns it.
 * `last` and `mark` are moved back if they pointed into it. */
static inline em__msg *em__mbox_unlink(em__mbox *m, em__link *at)
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
/* Drop every message in the inbox and the private queue (exit).  The inbox
 * itself stays: a slot's mailbox lives as long as the slot, because a
 * sender may still push into it after the process died (messages carry the
 * serial they were meant for, and the next process in the slot discards
 * the stale ones).  Signals must have been taken out before. */
void em__mbox_clear(em__mbox *m);
/* Nodes: a per-thread cache (mbox.c) in front of blocks of nodes.  Every
 * message takes a node from the sender's thread's cache and gives it to
 * the receiver's, so the two ends are inline here and the rest (an empty
 * cache, a full one, the first node of a thread) is in mbox.c. */
#define EM__MSG_CACHE_MAX 256
typedef struct em__msg_tls {
    em__msg *cache;  /* free nodes, linked through `term` */
    /* Places left in the cache: EM__MSG_CACHE_MAX less the nodes in it
     * once the thread's exit hook is set (keyed), 0 before (the cache is
     * empty then), so the inline free tests one word for both. */
    unsigned room;
    bool keyed;      /* the thread's exit hook is set (mbox.c) */
} em__msg_tls;
extern _Thread_local em__msg_tls em__msg_tl;
em__msg *em__msg_new_slow(em_term t);
void em__msg_free_slow(em__msg *n);

/* Set up node n for message t (not linked). */
static inline em__msg *em__msg_init(em__msg *n, em_term t)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    n->term = t;
    n->serial = 0;
    n->tag_arity = 0;
    n->tag_first = 0;
    /* A tuple's arity and first element, read now while the sender has the
     * tuple in cache: selective receive can skip most non-matching
     * messages without touching them (receive.c). */
    if (em__kind(t) == EM__K_TUPLE) {
        const em__tuple *tp = (const em__tuple *)em__box_of(t);
        n->tag_arity = em__tuple_n(tp) + 1;
        n->tag_first = em__tuple_n(tp) ? em__tuple_e(tp)[0] : 0;
    }
    return n;
}

/* A node for message t, or NULL when out of memory. */
static inline em__msg *em__msg_new(em_term t)
{
    em__msg_tls *tl = &em__msg_tl;
    em__msg *n = tl->cache;
    if (n == NULL)
        return em__msg_new_slow(t);
    tl->cache = (em__msg *)(uintptr_t)n->term;
    tl->room++;
    return em__msg_init(n, t);
}

/* Give node n back (its message was taken out or dropped). */
static inline void em__msg_free(em__msg *n)
{
    em__msg_tls *tl = &em__msg_tl;
    if (tl->room != 0 && n->owner != EM__MSG_EMBEDDED) {
        n->term = (em_term)(uintptr_t)tl->cache;
        tl->cache = n;
        tl->room--;
        return;
    }
    em__msg_free_slow(n);
}
void em__msg_cache_flush(void);
/* Free the process-wide pool of empty message blocks (em_run's end, and
 * an idle scheduler's trim: any thread, any time). */
void em__msg_pool_flush(void);

/* ---- giving idle memory back (mem.c) ----
 * em__mem_trim: called by scheduler s's thread when it has been idle for a
 * while after running processes (sched.c, park): frees this thread's caches
 * (message nodes and blocks, small boxes), the process-wide pools (empty
 * message blocks, large blocks), gives the unused part of s's stack slots
 * back to the kernel and has malloc give back its free pages.  Costs a few
 * system calls and malloc's walk of its free lists: never on a hot path. */
void em__mem_trim(em__sched *s);

/* ---- timers (timer.c) ---- */
typedef struct em__timer {
    int64_t deadline; /* monotonic ns */
    uint64_t seq;     /* global order of setting: ties fire FIFO */
    int32_t heap_ix;  /* index in the heap, -1 if not armed */
    uint8_t kind;     /* EM__TM_PROC or EM__TM_SEND */
} em__timer;
enum { EM__TM_PROC = 1, EM__TM_SEND = 2 };

typedef struct em__theap {
    em__timer **v;
    uint32_t n, cap;
} em__theap;

int64_t em__now_ns(void);
int em__theap_push(em__theap *h, em__timer *t);
void em__theap_remove(em__theap *h, em__timer *t);
em__timer *em__theap_top(em__theap *h);
void em__theap_free(em__theap *h);
/* Fire due timers of s (scheduler thread). */
void em__timer_run(em__sched *s, int64_t now);
/* Arm the process wait timer on its home scheduler (home thread only). */
void em__timer_arm_proc(em__proc *p, int64_t deadline);
void em__timer_cancel_proc(em__proc *p);
/* Global send_after timers: shutdown. */
void em__timer_shutdown(void);

/* ---- processes (proc.c) ---- */
/* The state is written only by the process's home scheduler thread (and by
 * the spawner before the process is published): wakers on that thread
 * change it with plain stores, wakers on other threads never touch it but
 * post a wake request (wake_req, the home's xq) that the home thread acts
 * on.  So a local message costs no atomic read-modify-write besides the
 * mailbox push, and no fence when the receiver starts waiting. */
enum em__pstate {
    EM__PS_NEW = 0,    /* spawned, never ran; stealable */
    EM__PS_RUNNABLE,   /* in its home scheduler's queue */
    EM__PS_RUNNING,
    EM__PS_WAITING,    /* blocked: a waker moves it to RUNNABLE */
    EM__PS_EXITING,
    EM__PS_FREE
};

/* What a WAITING process waits for: which events may wake it. */
enum em__wait {
    EM__W_MSG = 1,   /* a new message or signal (receive) */
    EM__W_TIMER,     /* its timer or a signal (sleep) */
    EM__W_FLAG,      /* p->wake_flag (fd event) or a signal (em_wait_fd) */
    EM__W_BLOCK      /* p->wake_flag (pool thread) only: em_blocking */
};
/* A waker's event: a message, a signal, or the wake flag. */
enum em__event { EM__EV_MSG = 1, EM__EV_SIG, EM__EV_FLAG };

/* Why a process switched back to its scheduler. */
enum em__swreason { EM__SW_YIELD = 1, EM__SW_WAIT, EM__SW_EXIT };

/* A reference's identity by value: what em_ref_parts gives.  Monitor
 * entries and DOWN signals hold this instead of a reference term: a term is
 * a box shared between threads, so keeping one costs an atomic increment
 * and an atomic decrement, and matching one a call to em_equal. */
typedef struct em__refkey {
    em_term node;      /* atom */
    uint32_t creation;
    uint32_t n;        /* words used, 1..5; the rest are zero */
    uint32_t w[5];
} em__refkey;

/* The key of reference term t (false if t is not a reference). */
static inline bool em__refkey_of(em_term t, em__refkey *k)
{
    if (em__kind(t) != EM__K_REF)
        return false;
    const em__ref *r = (const em__ref *)em__box_of(t);
    k->node = r->node;
    k->creation = r->creation;
    k->n = r->n;
    memcpy(k->w, r->w, sizeof k->w); /* em_ref zeroes the unused words */
    return true;
}

static inline bool em__refkey_eq(const em__refkey *a, const em__refkey *b)
{
    /* w[0] first: it is the part of the counter that differs most. */
    return a->w[0] == b->w[0] && a->w[1] == b->w[1] && a->w[2] == b->w[2] && a->w[3] == b->w[3] &&
           a->w[4] == b->w[4] && a->n == b->n && a->node == b->node && a->creation == b->creation;
}

/* A new reference term for key k (EM_NONE when out of memory).  What
 * em_ref builds, without its checks: a key holds a valid reference. */
static inline em_term em__refkey_term(const em__refkey *k)
{
    assert(k->n >= 1 && k->n <= 5);
    em__ref *r = em__box_alloc(sizeof *r, EM__K_REF);
    if (r == NULL)
        return EM_NONE;
    r->node = k->node;
    r->creation = k->creation;
    r->n = k->n;
    memcpy(r->w, k->w, sizeof r->w);
    return em__box_term(r);
}

/* A new unique local reference: its key (scheduler threads take counter
 * values from a per-scheduler block, so this is no atomic operation). */
void em__ref_new(em__refkey *k);

/* A monitor entry: in the holder's `mons` (pid = target) or in the target's
 * `monby` (pid = holder). */
typedef struct em__mon {
    em__refkey ref;
    em_term pid;
    em_term name; /* monitored by name: the atom, else EM_NONE */
} em__mon;

/* An active alias of a process (alias.c): the unique part of its
 * reference (w[0..2]; w[3] and w[4] name the process) and how it ends. */
typedef struct em__alias {
    uint32_t w[3];
    uint8_t mode; /* EM_ALIAS_* (runtime.h) */
} em__alias;

typedef struct em__exit_hook {
    struct em__exit_hook *next;
    void (*fn)(void *);
    void *arg;
} em__exit_hook;

/* How deep em__proc_keep nests (remote.h): library calls that keep a term
 * may call others that do (em_node_connect keeps its destination and calls
 * em_call, which keeps its request), never user code. */
#define EM__KEPT_MAX 4

struct em__proc {
    /* The gate serialises senders with exit: serial << 32 | senders << 1 |
     * dead.  A sender increments `senders` only if serial matches and dead
     * is clear (CAS); exit sets dead and waits for senders to drain, so no
     * message is pushed into a process after its mailbox was cleared. */
    _Atomic uint64_t gate;
    _Atomic int state;        /* enum em__pstate */
    uint32_t index;           /* slot in the process table (pid id) */
    uint32_t serial;          /* generation of this slot (pid serial) */
    em__sched *home;          /* scheduler it runs on once started */
    _Atomic(em__sched *) home_pub; /* the same, for other threads: NULL until
                                      it starts (release before RUNNING) */
    _Atomic uint8_t wake_req; /* a cross-thread wake request is in home's xq */
    em__proc *rq_next;        /* run-queue link */
    _Atomic(em__proc *) mq_next; /* cross-thread run-queue link */
    void *sp;                 /* saved stack pointer while switched out */
    uint8_t *saved;           /* copy of its stack while switched out */
    uint32_t saved_len, saved_cap;
    uint32_t stack_limit;
    uint8_t slot;             /* its stack slot on `home` once started */
    _Atomic uint32_t stack_used; /* as of the last switch out (read by introspection) */
    em_proc_fn fn;
    void *arg;
    int budget;               /* calls left before a forced yield */
    uint8_t swreason;         /* enum em__swreason */
    uint8_t wait_kind;        /* enum em__wait */
    uint8_t timed_out;        /* set by its timer */
    uint8_t local_new;        /* a message was put straight into its private
                                 queue since its receive last looked (send.c) */
    uint8_t inbox_from_home;  /* its home thread pushed a signal into its
                                 inbox since it last drained: messages from
                                 that thread go through the inbox too, so
                                 they stay behind it (send.c); home thread
                                 only */
    _Atomic uint8_t wake_flag;/* set by fd events / pool threads */
    _Atomic uint32_t wait_seq;/* identifies the current wait (read by wakers);
                                 never reset, so a slot's tokens do not
                                 repeat across its processes */
    int fd_wait;              /* the fd em_wait_fd has registered in its
                                 home's epoll set, or -1 (io.c) */
    _Atomic int wake_result;  /* value left by the waker (fd events, ...) */
    em__timer timer;          /* its receive/sleep timer */
    em__mbox mbox;
    em_term mark_ref;         /* the reference mbox.mark belongs to */
    void *tsan_fiber;         /* ThreadSanitizer fiber, TSan builds only */
    em_term cur_msg;          /* message held until the next receive */
    em_term name;             /* registered name, or 0 */
    em_term exit_reason;
    em__exit_hook *hooks;
    /* Fault tolerance (link.c).  Only the process itself touches these
     * while it lives; after its last switch, em__proc_finish does. */
    bool trap_exit;
    _Atomic uint32_t sigs_pending; /* signal nodes pushed, not yet handled */
    em_term *links;               /* linked pids */
    uint32_t nlinks, caplinks;
    em__mon *mons;                /* monitors this process holds */
    uint32_t nmons, capmons;
    em_term idle_rec;             /* a local pid whose monby keeps this
                                     process's record though it monitors it
                                     no more (link.c), or EM_NONE */
    em__mon *monby;               /* monitors on this process: changed by
                                     the monitoring side under monby_lock */
    atomic_flag monby_lock;
    uint32_t nmonby, capmonby;
    em__alias *aliases;           /* its active aliases (alias.c): only
                                     the process itself touches them */
    uint32_t naliases, capaliases;
    em_term kept[EM__KEPT_MAX];   /* terms library code keeps across a
                                     signal point (em__proc_keep) */
    uint8_t nkept;
};

/* A signal travels in the mailbox like a message (so signals and messages
 * between two processes keep their order): its node's term is the signal's
 * address with EM__SIG_TAG set. */
enum em__sigkind {
    EM__SIG_EXIT = 1,  /* a linked process exited (from, reason) */
    EM__SIG_EXIT2,     /* exit(Pid, Reason) (from, reason) */
    EM__SIG_LINK,      /* from wants a link */
    EM__SIG_UNLINK,    /* from removed its link */
    EM__SIG_MONITOR,   /* from monitors us with ref (name if by name) */
    EM__SIG_DEMONITOR, /* from dropped monitor ref */
    EM__SIG_DOWN,      /* monitored process from exited (ref, reason) */
    EM__SIG_NODEDOWN,  /* connection to node `name` lost */
    EM__SIG_ALIAS_MSG, /* a message (reason) sent to the alias ref */
    EM__SIG_ALIAS_EXIT, /* exit(Alias, Reason) from `from` (OTP 28's
                           ALTACT_SIG_SEND with its EXIT flag) */
    EM__SIG_SPAWN_REPLY /* the reply to the spawn request ref: from = the
                           new pid or an error atom, reason = the reply's
                           flags (a small integer) */
};
typedef struct em__sig {
    uint8_t kind;
    em_term from;     /* owned */
    em__refkey ref;   /* DOWN: the monitor's reference */
    em_term reason;   /* owned */
    em_term name;     /* atom or EM_NONE */
} em__sig;

/* Process table. */
extern _Atomic(em__proc *) *em__proc_tab;
extern _Atomic uint32_t em__proc_next_unused;
static inline em__proc *em__proc_lookup_slot(uint32_t index)
{
    if (index >= atomic_load_explicit(&em__proc_next_unused, memory_order_acquire))
        return NULL;
    return atomic_load_explicit(&em__proc_tab[index], memory_order_acquire);
}
/* Acquire the gate of the live process (id, serial); NULL if dead. */
em__proc *em__proc_acquire(em_term pid);
void em__proc_release(em__proc *p);
/* The gate word: serial << 32 | senders inside * EM__GATE_SENDER | EM__GATE_DEAD. */
#define EM__GATE_DEAD UINT64_C(1)
#define EM__GATE_SENDER UINT64_C(2)
#define EM__GATE_COUNT_MASK UINT64_C(0xfffffffe)
/* Whether p is alive with this serial (a snapshot, no gate held). */
static inline bool em__proc_alive_as(em__proc *p, uint32_t serial)
{
    uint64_t g = atomic_load_explicit(&p->gate, memory_order_acquire);
    return (g >> 32) == serial && !(g & EM__GATE_DEAD);
}
/* Called by the scheduler after the process's final switch. */
void em__proc_finish(em__proc *p);
/* The process whose exit hooks run on this thread now, while a scheduler
 * finishes it (its exit_reason set, or EM_NONE for a kill); NULL anywhere
 * else, also at the runtime's shutdown (em__proc_kill_all).  For a hook
 * that must tell somebody how its process ended (export.c). */
em__proc *em__proc_exiting(void);
em_term em__proc_pid(const em__proc *p);
int em__proc_table_init(unsigned max_procs);
void em__proc_table_fini(void);
/* Kill every process still alive (shutdown): not resumed, resources freed. */
void em__proc_kill_all(void);
/* Call fn(pid, arg) for every live process (a snapshot). */
void em__proc_foreach_live(void (*fn)(em_term pid, void *arg), void *arg);
void em__proc_entry(void);

/* ---- schedulers (sched.c) ---- */
/* One of a scheduler's stacks.  A process is bound to one slot of one
 * scheduler when it first runs (its frames' addresses are the slot's); the
 * slot holds the live frames of at most one process, `on`. */
#define EM__NSLOTS 8
typedef struct em__slot {
    uint8_t *lo, *top;   /* usable stack [lo, top), guard page below lo */
    em__proc *on;        /* whose frames are live here, or NULL */
    uint8_t *lowest_sp;  /* deepest switch-out point seen (ASan builds) */
    uint64_t last_use;   /* for choosing a slot to evict */
} em__slot;

/* Connections with output deferred to the end of a process's run that a
 * scheduler keeps at most (remote.c): one more is written at once. */
#define EM__DEFER_MAX 8

/* Field groups are cache-line aligned: the owner writes its group at every
 * message, while other schedulers spin on the cross-thread fields (xq,
 * newq_len, sleeping); a line shared between the two (which came and went
 * with the struct's size alone) slowed every message (docs/perf.md). */
struct em__sched {
    /* owner thread only (rq_len is read by thieves) */
    _Alignas(EM__CACHE_LINE) unsigned id;
    uint8_t ndeferred;         /* entries in deferred (below); read at every
                                  switch-out, so in the hole after id */
    uint8_t finishing;         /* a process's death is being settled
                                  (em__proc_finish): what it sends then (exit
                                  signals, DOWNs) is deferred too, and
                                  flushed with what the process deferred
                                  right after (sched.c settle) */
    pthread_t thread;
    void *sched_sp;            /* scheduler context while a process runs */
    em__proc *current;
    /* local FIFO */
    em__proc *rq_head, *rq_tail;
    _Atomic unsigned rq_len;
    uint64_t ticks;
    uint64_t runs;             /* processes run (loop passes) since the
                                  trim period started or the last trim;
                                  beside ticks, on a line written anyway */
    uint64_t slot_clock;
    /* direct hand-overs between processes (sched.c, em__sched_switch_out) */
    unsigned direct_run;       /* made since the loop last ran a process */
    unsigned direct_unpolled;  /* made since the loop last polled its fds */
    /* references: counter values [ref_next, ref_end) are this thread's */
    uint64_t ref_next, ref_end;
    em__slot slots[EM__NSLOTS]; /* the process stacks */
    void *thread_stack_lo;     /* the thread's own stack (sanitizers) */
    size_t thread_stack_size;
    void *altstack;            /* signal stack for the guard-page handler */
    void *tsan_fiber;          /* TSan builds only */
    int64_t trim_at;           /* giving idle memory back (sched.c park,
                                  mem.c): end of the trim period
                                  (monotonic ns); 0 = none started */
    /* output the running process left queued for other nodes: the
     * connections to flush through defer_ops->flush before it stops
     * running (remote.c, em__remote_defer) */
    void *deferred[EM__DEFER_MAX];
    const em__remote_ops *defer_ops;
    /* cross-thread inbox: a lock-free LIFO that other threads push onto
     * (CAS on xq) and the owner takes whole (exchange with NULL), reversing
     * it into arrival order; no ABA since only the owner removes. */
    _Alignas(EM__CACHE_LINE) _Atomic(em__proc *) xq;
    /* waiting on file descriptors (io.c): processes of this scheduler
     * register their fds one-shot in epfd, which only this thread polls,
     * between runs and instead of the condvar when it parks */
    int epfd;                  /* this scheduler's epoll set */
    int evfd;                  /* eventfd in epfd (edge-triggered): a kick */
    unsigned nfdwait;          /* processes in em_wait_fd (owner thread) */
    /* parking */
    _Atomic int sleeping;
    _Atomic int wakeups;
    int poll_sleep;            /* parked in epoll_wait, not on park_cond
                                  (under park_lock) */
    pthread_mutex_t park_lock;
    pthread_cond_t park_cond;
    /* stealable queue of never-started processes */
    _Alignas(EM__CACHE_LINE) pthread_mutex_t newq_lock;
    em__proc *newq_head, *newq_tail;
    _Atomic unsigned newq_len;
    /* timers: process timers are touched by this thread only, send_after
     * timers by any thread; timer_lock guards the heap */
    _Alignas(EM__CACHE_LINE) pthread_mutex_t timer_lock;
    em__theap timers;
};

typedef struct em__rt {
    _Atomic int running;       /* 1 between em_init and shutdown */
    unsigned nsched;
    em__sched *scheds;
    _Atomic size_t nprocs;
    _Atomic int stop;          /* set by em_stop or when nprocs hits 0 */
    int stop_code;
    pthread_mutex_t run_lock;
    pthread_cond_t run_cond;
    _Atomic unsigned next_sched; /* round robin for foreign spawns */
} em__rt;

extern em__rt em__the_rt;
extern _Thread_local em__sched *em__cur_sched;

static inline em__proc *em__self_proc(void)
{
    em__sched *s = em__cur_sched;
    return s ? s->current : NULL;
}

/* Append p to s's run queue (s's thread only). */
static inline void em__rq_push(em__sched *s, em__proc *p)
{
    atomic_store_explicit(&s->rq_len, atomic_load_explicit(&s->rq_len, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    p->rq_next = NULL;
    if (s->rq_tail)
        s->rq_tail->rq_next = p;
    else
        s->rq_head = p;
    s->rq_tail = p;
}
/* Make the WAITING process p runnable on the calling thread, its home. */
static inline void em__sched_make_runnable(em__proc *p)
{
    em__sched *s = p->home;
    assert(s != NULL && s == em__cur_sched);
    assert(atomic_load_explicit(&p->state, memory_order_relaxed) == EM__PS_WAITING);
    atomic_store_explicit(&p->state, EM__PS_RUNNABLE, memory_order_relaxed);
    em__rq_push(s, p);
}
void em__sched_spawned(em__proc *p);
/* Switch from the running process back to its scheduler. */
void em__sched_switch_out(em__proc *p, int reason);
/* Wake p for event `ev` (enum em__event), published (seq_cst) by the
 * caller just before, if its wait accepts it.  Any thread.  p must be the
 * incarnation the caller checked to be alive (serial or gate): on p's home
 * thread it cannot have ended since. */
void em__proc_wake(em__proc *p, int ev);
/* em__proc_wake for a message, called by p's home thread s (send.c's
 * path for a process of the sender's own scheduler): s is the caller's
 * em__cur_sched, which it found equal to p's home_pub; what is asserted is
 * that home_pub and home agree (em__cur_sched is not read again here: in
 * libember.so each read of a thread-local is a call). */
static inline void em__proc_wake_msg_home(em__sched *s, em__proc *p)
{
    assert(p->home == s);
    if (atomic_load_explicit(&p->state, memory_order_relaxed) == EM__PS_WAITING &&
        p->wait_kind == EM__W_MSG) {
        atomic_store_explicit(&p->state, EM__PS_RUNNABLE, memory_order_relaxed);
        em__rq_push(s, p);
    }
}
/* Block the calling process in a wait of `kind` until woken or deadline
 * (ns, or negative for none).  Returns true if woken by an event, false on timeout.
 * Inline: a receive that waits calls it once per message. */
static inline bool em__proc_wait(em__proc *p, int kind, int64_t deadline)
{
    p->wait_kind = (uint8_t)kind;
    if (deadline < 0) {
        /* No timer: only p's own timer sets timed_out (timer.c), and none
         * is armed, since every wait that arms one cancels it. */
        assert(p->timer.heap_ix < 0);
        em__sched_switch_out(p, EM__SW_WAIT);
        return true;
    }
    p->timed_out = 0;
    em__timer_arm_proc(p, deadline);
    if (!p->timed_out)
        em__sched_switch_out(p, EM__SW_WAIT);
    if (p->timer.heap_ix >= 0)
        em__timer_cancel_proc(p);
    return !p->timed_out;
}
void em__sched_wake(em__sched *s);
int em__rt_ensure(void);
/* A process finished: count it, and tell em_run when none are left. */
void em__rt_proc_gone(void);
/* Count a runtime call against the budget; yields when exhausted. */
/* Runtime calls a process makes before it must yield (fairness). */
#define EM__BUDGET 2000
static inline void em__proc_tick(em__proc *p)
{
    if (--p->budget <= 0) {
        p->budget = EM__BUDGET;
        em__sched_switch_out(p, EM__SW_YIELD);
    }
}

/* em_receive_pattern itself on x86-64, called by its entry in
 * receive_x86_64.S (receive.c): the return code in the low 32 bits, bit 32
 * set if the process waited. */
uint64_t em__receive_pattern_in(int64_t timeout_ms, const em_pattern *p, em_term *binds);

/* ---- signals, links, monitors (link.c) ---- */
/* Drain the inbox: messages to the private queue, signals handled (the
 * process may exit here: never returns then).  Process context only. */
void em__proc_drain(em__proc *p);
/* Handle pending signals if any (cheap when none). */
static inline void em__proc_signals(em__proc *p)
{
    if (atomic_load_explicit(&p->sigs_pending, memory_order_acquire))
        em__proc_drain(p);
}
/* After the final switch: notify links and monitors, answer queued
 * LINK/MONITOR signals with noproc, free every entry and queued node. */
void em__link_exit(em__proc *p, em_term reason);
/* Set up the link parent <-> child before child runs (spawn_link). */
int em__link_spawned(em__proc *parent, em__proc *child);
int em__monitor_spawned(em__proc *parent, em__proc *child, em_term *ref);
/* Undo both for a spawn that failed before the child was published. */
void em__link_undo_spawn(em__proc *parent, em__proc *child);
em_term em__make_ref_term(void);
/* Send signal `kind` (enum em__sigkind) to the local process `to`; takes
 * from and reason (ref, borrowed: a DOWN's monitor, else NULL; name: the
 * monitored name of a MONITOR, or the node of a NODEDOWN).  Returns 0,
 * EM_ENOPROC (no such process), EM_ENOMEM.  Any context. */
int em__link_signal(em_term to, int kind, em_term from, const em__refkey *ref, em_term reason, em_term name);
/* A spawn request p sends to `node` (its reference reqid): kept in p's
 * monitors, as a monitor whose target is the node's atom until the reply
 * comes (the only entries whose target is an atom).  Its SPAWN_REPLY
 * signal then makes it the monitor of the new pid (if the reply's flags
 * say monitor; otherwise it goes), adds the link if they say link, and
 * puts {spawn_reply, ReqId, ok, Pid} or {spawn_reply, ReqId, error,
 * Reason} in p's mailbox; the node going down first puts {spawn_reply,
 * ReqId, error, noconnection} there.  em_demonitor(ReqId) abandons it: a
 * reply that comes later finds nothing and is undone on the spawning side
 * (DEMONITOR_P, UNLINK).  0 or EM_ENOMEM.  p's own context. */
int em__link_spawn_pending(em__proc *p, const em__refkey *reqid, em_term node);
/* Add pid (borrowed: a remote requester of a spawn) to p's links without a
 * LINK signal: the requester links on its side when the reply says so.
 * 0 or EM_ENOMEM.  p's own context. */
int em__link_add(em__proc *p, em_term pid);
/* A monitor of the live local process `target` held by `holder` (borrowed:
 * a remote process) with ref, by name if name is not EM_NONE: add it to
 * target's monitored-by table (0, EM_ENOPROC: gone, EM_ENOMEM), or remove
 * it (if there).  Any context. */
int em__link_monby_add(em_term target, const em__refkey *ref, em_term holder, em_term name);
void em__link_monby_del(em_term target, const em__refkey *ref, em_term holder);

/* ---- destinations on other nodes (remote.c) ----
 * send.c and link.c hand here everything that is not a local pid; these
 * reach the distribution layer through its ops (remote.h), and without
 * them (no node running) fail with EM_ENOTSUP or do nothing.  `to` and
 * `target` are remote pids or {Name, Node} (borrowed). */
/* SEND to a destination em__dest_classify found remote; takes msg. */
int em__remote_send(const em__dest *to, em_term msg);
/* LINK, UNLINK, EXIT/EXIT2 from the local process `from` (process context,
 * but em__remote_exit with exit2 false: at death, on a scheduler's stack).
 * em__remote_link: 0, EM_ENOPROC (a pid of an earlier incarnation of this
 * node: no process), another error when the node is unreachable
 * (EM_ENOTSUP: no node running). */
int em__remote_link(em_term from, em_term to);
void em__remote_unlink(em_term from, em_term to);
int em__remote_exit(em_term from, em_term to, em_term reason, bool exit2);
/* MONITOR_P with ref (borrowed) to a destination classified remote; 0,
 * EM_ENOPROC (a pid of an earlier incarnation of this node), another error
 * when the node is unreachable (EM_ENOTSUP: no node running). */
int em__remote_monitor(em_term from, const em__dest *target, em_term ref);
/* DEMONITOR_P, and MONITOR_P_EXIT to a remote holder (at death; `from`
 * is the dead process's pid, or the name it was monitored by). */
void em__remote_demonitor(em_term from, em_term target, const em__refkey *ref);
void em__remote_down(em_term from, em_term to, const em__refkey *ref, em_term reason);
/* SPAWN_REQUEST from the local process `from` to `node` (erpc's: mfa,
 * opts, gl, all borrowed; args taken): 0, EM_ECLOSED (the node is in its
 * redial back-off), EM_ENOTSUP (no node running, or the node cannot
 * spawn), EM_ENOMEM. */
int em__remote_spawn_out(em_term from, em_term node, em_term reqid, em_term gl, em_term mfa, em_term opts,
                         em_term args);
/* SPAWN_REPLY to the remote requester `to` (all borrowed): 0, EM_ECLOSED
 * (no connection to it: the request's went down), EM_ENOTSUP (no node). */
int em__remote_spawn_answer(em_term to, em_term reqid, unsigned flags, em_term result);
/* The node of a remote pid or {Name, Node}; EM_NONE for anything else. */
em_term em__remote_node_of(em_term t);
/* Flush what the running process deferred (s->ndeferred > 0): called by
 * em__sched_switch_out, in the process's context, before it stops. */
void em__remote_flush(em__sched *s);

/* ---- aliases (alias.c) ----
 * An alias is a local reference of five words: w[0..2] a unique value as
 * em__ref_new makes them, w[3] the id and w[4] the serial of the pid of
 * the process that made it.  The sender finds the process in the
 * reference itself (no table of aliases shared between threads, as OTP's
 * "pid references"), and sends it an EM__SIG_ALIAS_MSG signal; the process
 * delivers the message when it handles the signal, in its own context, if
 * the alias is still in its own table then (else drops it): so after the
 * process deactivated an alias, nothing sent to it enters its mailbox, as
 * in OTP.  Every other reference ember makes has 3 words. */
/* Whether mode (EM_ALIAS_*) is one for em_alias_opt (monitor false) or
 * em_monitor_alias (true). */
bool em__alias_mode_ok(int mode, bool monitor);
/* A new alias key for p, made active with `mode`: 0 or EM_ENOMEM. */
int em__alias_add(em__proc *p, int mode, em__refkey *k);
/* Deactivate p's alias k if active, whatever its mode. */
void em__alias_del(em__proc *p, const em__refkey *k);
/* Whether k is an alias key of this node (5 words, this node): then its
 * process is *pid. */
bool em__alias_key(const em__refkey *k, em_term *pid);
/* The monitor k of p was removed (demonitor, DOWN, nodedown): its alias
 * goes too if it was made with EM_ALIAS_DEMONITOR or _REPLY_DEMONITOR. */
void em__alias_monitor_gone(em__proc *p, const em__refkey *k);
/* An alias signal reached p (its own context): whether the alias k is
 * active; *mode is then what it was made with.  For a message (msg true) a
 * REPLY or REPLY_DEMONITOR alias is deactivated (the caller removes the
 * monitor of the latter); an exit signal deactivates nothing. */
bool em__alias_take(em__proc *p, const em__refkey *k, bool msg, int *mode);
/* Send msg (taken) to the local alias `alias` (a reference); 0, or
 * EM_ENOMEM.  A reference that names no live process's alias: dropped, 0. */
int em__alias_send(em_term alias, em_term msg);
/* p exits: its aliases go. */
void em__alias_exit(em__proc *p);

/* An atom looked up once: *slot (a static of the caller's, EM_NONE at
 * first) keeps it, since an atom's value never changes (term.h).  For
 * atoms on a hot path; em_atom looks the text up in the table each time. */
static inline em_term em__atom_once(_Atomic em_term *slot, const char *name)
{
    em_term a = atomic_load_explicit(slot, memory_order_relaxed);
    if (a == EM_NONE) {
        a = em_atom(name);
        atomic_store_explicit(slot, a, memory_order_relaxed);
    }
    return a;
}

/* ---- calls (call.c) ----
 * em__in_process: run fn(arg) in a process of its own while the calling
 * thread (not a process) blocks; returns what fn returned, EM_ECANCELED
 * when the process was killed first (the runtime shut down: fn may not
 * have run, or not to its end), or EM_ENOMEM.  When it returns the
 * process runs no more, so arg may point into the thread's stack. */
int em__in_process(int (*fn)(void *arg), void *arg);
/* ---- exported functions (export.c) ---- */
/* Spawn a process for a spawn request of M:F(Args) (atoms; args taken)
 * with group leader gl: from the remote process `parent` (reqid its
 * request, flags EM__SPAWN_*, all borrowed: the process links, monitors
 * and answers as remote.h says), or with parent EM_NONE for this node
 * (mref: as em_spawn_opts.monitor, the caller's monitor, or NULL).
 * Returns the pid, or EM_NONE (no process could be made). */
em_term em__export_spawn(em_term m, em_term f, em_term args, em_term gl, em_term parent, em_term reqid,
                         unsigned flags, em_term *mref);

/* ---- registry (reg.c) ---- */
void em__reg_remove_proc(em__proc *p);
void em__reg_fini(void);

/* ---- io (io.c) ---- */
void em__io_fini(void);
/* The scheduler side of em_wait_fd (io.c).  em__io_sched_init makes s's
 * epoll set and kick eventfd (EM_EIO if it cannot); em__io_sched_fini
 * closes them.  em__io_poll runs on s's thread, outside any process: it
 * waits up to timeout_ms (0: just looks, -1: forever) for fd events and
 * kicks and makes the processes whose waits they end runnable; returns the
 * number of processes woken. */
int em__io_sched_init(em__sched *s);
void em__io_sched_fini(em__sched *s);
int em__io_poll(em__sched *s, int timeout_ms);
/* A process that ends inside em_wait_fd (killed at its switch-out for
 * overflowing its stack): take its fd out of its home's set. */
void em__io_proc_gone(em__proc *p);

/* ---- receive (receive.c) ---- */
void em__receive_fini(void);
/* The receive marker, as em_make_ref sets it, for a reference made after
 * this call: em__mark_set takes in what the inbox holds and marks the end
 * of p's mailbox (for no reference yet); the caller then makes the
 * reference, which nothing before the mark can contain, and sets
 * p->mark_ref to a copy of it.  em__receive_marked is em_receive_match
 * that scans from the mark when ref is p->mark_ref (else from the start). */
void em__mark_set(em__proc *p);
int em__receive_marked(int64_t timeout_ms, em_term ref, bool (*pred)(em_term, void *), void *arg,
                       em_term *msg);


#endif /* EM_RUNTIME_RT_H */
