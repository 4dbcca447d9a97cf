/* stack.c: the schedulers' shared stacks and the copying of process stacks
 * (decision 2: see docs/runtime.md and runtime.h).
 *
 * Every scheduler owns EM__NSLOTS large stacks (slots of EM_STACK_MAX,
 * mapped MAP_NORESERVE so only touched pages cost memory, each with a guard
 * page below it).  A process is bound to one slot when it first runs and
 * runs on it; when another process bound to that slot needs it, the frames
 * of the one that is on it (top - sp bytes) are copied into that process's
 * own buffer, and copied back, at the same addresses, before it runs again.
 * Copies are lazy: processes that take turns on different slots (a
 * ping-pong pair, a server and its busiest clients) are never copied.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rt.h"
#include "stack.h"

#ifdef EM_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#endif
#ifdef EM_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

/* ---- initial frames ---- */

void *em__ctx_init(void *top, void (*entry)(void))
{
    uintptr_t t = (uintptr_t)top & ~(uintptr_t)15;
#if defined(__x86_64__)
    /* [rsp] r15 r14 r13 r12 rbx rbp, then `ret` pops entry; entry then sees
     * rsp = top - 8, as after a call from a 16-aligned frame. */
    uint64_t *sp = (uint64_t *)t;
    *--sp = 0;                        /* fake return address of entry */
    *--sp = (uint64_t)(uintptr_t)entry;
    for (int i = 0; i < 6; i++)
        *--sp = 0;
    return sp;
#elif defined(__aarch64__)
    uint64_t *sp = (uint64_t *)(t - 160);
    memset(sp, 0, 160);
    sp[11] = (uint64_t)(uintptr_t)entry; /* x30 at offset 88 */
    return sp;
#else
#error "ember: no context switch for this architecture"
#endif
}

/* ---- copying ---- */

#ifdef EM_ASAN
/* The shared stack holds other frames' redzones in ASan's shadow: copy
 * without instrumentation (and without the intercepted memcpy). */
__attribute__((no_sanitize_address)) static void raw_copy(void *dst, const void *src, size_t n)
{
    volatile uint8_t *d = dst;
    const volatile uint8_t *s = src;
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
}
#else
static void raw_copy(void *dst, const void *src, size_t n)
{
    memcpy(dst, src, n);
}
#endif

int em__stack_save(em__slot *sl, em__proc *p)
{
    size_t used = (size_t)(sl->top - (uint8_t *)p->sp);
    if (used > p->saved_cap || used * 4 < p->saved_cap) {
        size_t cap = (used + 63) & ~(size_t)63;
        uint8_t *b = realloc(p->saved, cap);
        if (b == NULL)
            return EM_ENOMEM;
        p->saved = b;
        p->saved_cap = (uint32_t)cap;
    }
    raw_copy(p->saved, p->sp, used);
    p->saved_len = (uint32_t)used;
    return 0;
}

void em__stack_claim(em__slot *sl)
{
#ifdef EM_ASAN
    /* Redzones that frames of the previous occupant left poisoned (it was
     * switched out with them live) are stale for whoever runs next. */
    if (sl->lowest_sp)
        __asan_unpoison_memory_region(sl->lowest_sp, (size_t)(sl->top - sl->lowest_sp));
#endif
    (void)sl;
}

void em__stack_restore(em__slot *sl, em__proc *p)
{
    uint8_t *at = sl->top - p->saved_len;
    assert(at == (uint8_t *)p->sp);
    em__stack_claim(sl);
    raw_copy(at, p->saved, p->saved_len);
}

em__slot *em__stack_pick(em__sched *s)
{
    em__slot *best = &s->slots[0];
    for (int i = 0; i < EM__NSLOTS; i++) {
        em__slot *sl = &s->slots[i];
        if (sl->on == NULL)
            return sl;
        if (sl->last_use < best->last_use)
            best = sl;
    }
    return best;
}

void em__stack_release(em__proc *p)
{
    free(p->saved);
    p->saved = NULL;
    p->saved_len = p->saved_cap = 0;
}

static size_t page_size(void);

/* A process that once ran deep (a recursion, a large local buffer) left its
 * slot's pages resident, up to EM_STACK_MAX per slot, after it returned
 * from there or exited.  Below the frames of the slot's occupant (p->sp of a
 * switched-out process: nothing below it is live) or in a slot nobody is
 * on, the pages are dead; MADV_DONTNEED hands them back, and a later deep
 * call faults in zero pages.  Ranges never touched cost the kernel a walk of
 * empty page tables. */
void em__stack_trim(em__sched *s)
{
    uintptr_t ps = (uintptr_t)page_size();
    assert(s->current == NULL); /* between processes: every frame saved */
    for (int i = 0; i < EM__NSLOTS; i++) {
        em__slot *sl = &s->slots[i];
        uint8_t *live = sl->on ? (uint8_t *)sl->on->sp : sl->top;
        assert(live >= sl->lo && live <= sl->top);
        uint8_t *end = (uint8_t *)((uintptr_t)live & ~(ps - 1));
        if (end > sl->lo)
            madvise(sl->lo, (size_t)(end - sl->lo), MADV_DONTNEED);
    }
}

/* ---- sanitizer fiber hooks ---- */

#if defined(EM_ASAN) || defined(EM_TSAN) /* else inline no-ops (stack.h) */
void em__stack_to_proc(em__sched *s, em__proc *p)
{
#ifdef EM_ASAN
    em__slot *sl = &s->slots[p->slot];
    __sanitizer_start_switch_fiber(NULL, sl->lo, (size_t)(sl->top - sl->lo));
#endif
#ifdef EM_TSAN
    if (p->tsan_fiber == NULL)
        p->tsan_fiber = __tsan_create_fiber(0);
    __tsan_switch_to_fiber(p->tsan_fiber, 0);
#endif
    (void)s;
    (void)p;
}

void em__stack_in_proc(void)
{
#ifdef EM_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

void em__stack_to_sched(em__sched *s, em__proc *p, bool exiting)
{
#ifdef EM_ASAN
    /* A process that exits never resumes: no fake stack to keep. */
    __sanitizer_start_switch_fiber(NULL, s->thread_stack_lo, s->thread_stack_size);
#endif
#ifdef EM_TSAN
    __tsan_switch_to_fiber(s->tsan_fiber, 0);
#endif
    (void)s;
    (void)p;
    (void)exiting;
}

void em__stack_in_sched(em__sched *s)
{
#ifdef EM_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    (void)s;
}

#endif

void em__stack_proc_gone(em__proc *p)
{
#ifdef EM_TSAN
    if (p->tsan_fiber) {
        __tsan_destroy_fiber(p->tsan_fiber);
        p->tsan_fiber = NULL;
    }
#endif
    (void)p;
}

/* ---- the shared stacks and the guard page ---- */

static size_t page_size(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    return ps > 0 ? (size_t)ps : 4096;
}

int em__stack_sched_init(em__sched *s)
{
    size_t ps = page_size();
    size_t size = EM_STACK_MAX + ps;
    for (int i = 0; i < EM__NSLOTS; i++) {
        uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (m == MAP_FAILED)
            return EM_ENOMEM;
        if (mprotect(m, ps, PROT_NONE) != 0) {
            munmap(m, size);
            return EM_ENOMEM;
        }
        s->slots[i].lo = m + ps;
        s->slots[i].top = m + size;
    }
    return 0;
}

void em__stack_sched_fini(em__sched *s)
{
    size_t ps = page_size();
    for (int i = 0; i < EM__NSLOTS; i++) {
        if (s->slots[i].lo) {
            munmap(s->slots[i].lo - ps, EM_STACK_MAX + ps);
            s->slots[i].lo = s->slots[i].top = NULL;
        }
    }
}

/* Formats v into buf (async-signal-safe); returns the length. */
static size_t fmt_u(char *buf, uint64_t v)
{
    char tmp[24];
    size_t n = 0, k = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        buf[k++] = tmp[--n];
    return k;
}

static struct sigaction old_segv;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    em__sched *s = em__cur_sched;
    uint8_t *a = si->si_addr;
    em__slot *sl = s && s->current ? &s->slots[s->current->slot] : NULL;
    if (sl && a < sl->lo && a >= sl->lo - page_size()) {
        char msg[200];
        size_t n = 0;
        const char *p1 = "ember: process <0.";
        memcpy(msg + n, p1, strlen(p1));
        n += strlen(p1);
        n += fmt_u(msg + n, s->current->index);
        msg[n++] = '.';
        n += fmt_u(msg + n, s->current->serial);
        const char *p2 = "> overflowed the scheduler stack (stack size ";
        memcpy(msg + n, p2, strlen(p2));
        n += strlen(p2);
        n += fmt_u(msg + n, s->current->stack_limit);
        const char *p3 = " bytes, scheduler stack " ;
        memcpy(msg + n, p3, strlen(p3));
        n += strlen(p3);
        n += fmt_u(msg + n, EM_STACK_MAX);
        const char *p4 = " bytes) without yielding; aborting\n";
        memcpy(msg + n, p4, strlen(p4));
        n += strlen(p4);
        ssize_t w = write(2, msg, n);
        (void)w;
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    /* Not ours: behave as if we were never installed. */
    if (old_segv.sa_flags & SA_SIGINFO && old_segv.sa_sigaction) {
        old_segv.sa_sigaction(sig, si, uc);
        return;
    }
    if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN && old_segv.sa_handler) {
        old_segv.sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void em__stack_install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
}

int em__stack_thread_init(em__sched *s)
{
    /* An alternate signal stack, so the guard-page handler can run. */
    size_t sz = 64 * 1024;
    s->altstack = malloc(sz);
    if (s->altstack == NULL)
        return EM_ENOMEM;
    stack_t ss = {.ss_sp = s->altstack, .ss_size = sz, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        void *lo;
        size_t size;
        pthread_attr_getstack(&a, &lo, &size);
        s->thread_stack_lo = lo;
        s->thread_stack_size = size;
        pthread_attr_destroy(&a);
    }
#ifdef EM_TSAN
    s->tsan_fiber = __tsan_get_current_fiber();
#endif
    return 0;
}

void em__stack_thread_fini(em__sched *s)
{
    stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    free(s->altstack);
    s->altstack = NULL;
}
