/* poke.h: waking a thread or process that waits on an eventfd.  Private to
 * ember; a declared seam header of runtime/ for net/ (like remote.h).
 *
 * Users: a scheduler's kick (sched.c: the eventfd in its epoll set), a
 * connection's writer (net/dist_conn.c, net/dist_out.c, net/node.c) and the
 * port mapper server's stop (net/epmd_srv.c).  It is a header of static
 * inline functions, not a function in a runtime .c file, because
 * epmd_srv.c, which ember-epmd also runs on its own, uses nothing else of
 * the runtime: the two system calls are all it takes from here.
 *
 * Contract: the eventfd was made with EFD_NONBLOCK and without
 * EFD_SEMAPHORE.  A poke adds 1 to its counter; the only failure, EAGAIN,
 * means the counter is full, which leaves it readable, so the wake-up
 * still happens and the error is ignored.  A drain reads the counter back
 * to 0 (EAGAIN: it was 0 already).  Both are async-signal-safe (one
 * write(2) or read(2), nothing else). */
#ifndef EM_RUNTIME_POKE_H
#define EM_RUNTIME_POKE_H

#include <stdint.h>
#include <unistd.h>

/* Make eventfd `fd` readable (wake whoever waits on it). */
static inline void em__poke(int fd)
{
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof one);
    (void)w; /* EAGAIN: the counter is full, so still readable */
}

/* Consume the pokes on eventfd `fd`, so the next wait sleeps until a new
 * one. */
static inline void em__poke_drain(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r; /* EAGAIN: nothing was pending */
}

#endif /* EM_RUNTIME_POKE_H */
