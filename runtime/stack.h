/* stack.h: shared scheduler stacks and process stack copies (stack.c). */
#ifndef EM_RUNTIME_STACK_H
#define EM_RUNTIME_STACK_H

#include "rt.h"

int em__stack_sched_init(em__sched *s);
void em__stack_sched_fini(em__sched *s);
int em__stack_thread_init(em__sched *s);
void em__stack_thread_fini(em__sched *s);
void em__stack_install_handler(void);
/* Copy p's frames (top - p->sp bytes) out of its slot / back into it. */
int em__stack_save(em__slot *sl, em__proc *p);
void em__stack_restore(em__slot *sl, em__proc *p);
/* Choose the slot for a process that starts now: a free one, else the one
 * used least recently. */
em__slot *em__stack_pick(em__sched *s);
void em__stack_release(em__proc *p);
/* Give the pages of s's slots that hold no live frames back to the kernel
 * (the owner thread, between processes: mem.c's idle trim). */
void em__stack_trim(em__sched *s);
/* The stack changes hands (sanitizer bookkeeping; no-op normally). */
void em__stack_claim(em__slot *sl);
/* Sanitizer bookkeeping around switches: fiber annotations for ASan and
 * TSan, inline no-ops otherwise (they are on every switch). */
#if defined(__SANITIZE_ADDRESS__)
#define EM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define EM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EM_TSAN 1
#endif
#endif
#if defined(EM_ASAN) || defined(EM_TSAN)
void em__stack_to_proc(em__sched *s, em__proc *p);
void em__stack_in_proc(void);
void em__stack_to_sched(em__sched *s, em__proc *p, bool exiting);
void em__stack_in_sched(em__sched *s);
#else
static inline void em__stack_to_proc(em__sched *s, em__proc *p) { (void)s; (void)p; }
static inline void em__stack_in_proc(void) {}
static inline void em__stack_to_sched(em__sched *s, em__proc *p, bool exiting)
{
    (void)s;
    (void)p;
    (void)exiting;
}
static inline void em__stack_in_sched(em__sched *s) { (void)s; }
#endif
void em__stack_proc_gone(em__proc *p);

#endif /* EM_RUNTIME_STACK_H */
