/* io.c: waiting on file descriptors and running blocking calls without
 * stalling a scheduler (decision 5).
 *
 * Each scheduler owns an epoll set (em__sched.epfd) that only its thread
 * polls.  em_wait_fd registers the fd one-shot in the set of the caller's
 * scheduler (a process that has run stays on its scheduler), with a token
 * naming the process slot and its wait number, then waits with kind FLAG.
 * The scheduler polls the set without blocking when its run queue is empty
 * and every few dozen runs, and blocks in it instead of on its condvar when
 * it parks with fd waiters; an event sets the process's wake_flag and
 * result and makes it runnable on the spot.  So a readable socket wakes the
 * thread that runs its reader, with no hop through another thread.  A token
 * whose wait number is stale is ignored, so an event for a wait that
 * already timed out never disturbs a later one.
 *
 * A scheduler parked in epoll_wait is kicked through an eventfd in its set
 * (edge-triggered, never read: every write is one new event).
 *
 * Blocking calls go to a small pool of threads; the process waits the same
 * way and the pool thread wakes it with the call's result.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "remote.h"
#include "rt.h"

static pthread_mutex_t io_lock = PTHREAD_MUTEX_INITIALIZER;

static void wake_token(uint64_t token, int result)
{
    em__proc *p = em__proc_lookup_slot((uint32_t)(token >> 32));
    if (p == NULL || p->wait_seq != (uint32_t)token)
        return;
    p->wake_result = result;
    atomic_store_explicit(&p->wake_flag, 1, memory_order_seq_cst);
    em__proc_wake(p, EM__EV_FLAG);
}

/* Token 0 is the kick eventfd: a process token always has a nonzero wait
 * number (wait_seq is incremented before a token is made, and skips 0). */
int em__io_sched_init(em__sched *s)
{
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 0};
    if (s->epfd < 0 || s->evfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &ev) < 0) {
        em__io_sched_fini(s);
        return EM_EIO;
    }
    return 0;
}

void em__io_sched_fini(em__sched *s)
{
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->evfd >= 0)
        close(s->evfd);
    s->epfd = s->evfd = -1;
}

int em__io_poll(em__sched *s, int timeout_ms)
{
    assert(s == em__cur_sched && s->current == NULL);
    struct epoll_event ev[32];
    int n = epoll_wait(s->epfd, ev, 32, timeout_ms);
    int woken = 0;
    for (int i = 0; i < n; i++) {
        if (ev[i].data.u64 == 0)
            continue; /* a kick: the caller re-checks its queues */
        int r = 0;
        if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
            r |= EM_READABLE;
        if (ev[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            r |= EM_WRITABLE;
        wake_token(ev[i].data.u64, r);
        woken++;
    }
    return woken;
}

void em__io_proc_gone(em__proc *p)
{
    if (p->fd_wait < 0)
        return;
    em__sched *s = p->home;
    assert(s != NULL && s->nfdwait > 0);
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, p->fd_wait, NULL);
    s->nfdwait--;
    p->fd_wait = -1;
}

/* A new wait number for p, never 0 (token 0 is the kick). */
static uint32_t next_wait_seq(em__proc *p)
{
    uint32_t q = p->wait_seq + 1;
    if (q == 0)
        q = 1;
    p->wait_seq = q;
    return q;
}

EM_API int em_wait_fd(int fd, int events, int64_t timeout_ms)
{
    em__proc *p = em__self_proc();
    if (p == NULL)
        return EM_ESTATE;
    if (fd < 0 || (events & (EM_READABLE | EM_WRITABLE)) == 0)
        return EM_EINVAL;
    if (timeout_ms == 0) {
        em__proc_signals(p); /* a signal point, as the waits below (may not return) */
        /* A poll: ask the kernel directly, no registration needed. */
        struct pollfd pf = {.fd = fd, .events = (short)((events & EM_READABLE ? POLLIN : 0) |
                                                        (events & EM_WRITABLE ? POLLOUT : 0))};
        int n = poll(&pf, 1, 0);
        if (n < 0)
            return EM_EIO;
        int r = 0;
        if (pf.revents & (POLLIN | POLLHUP | POLLERR))
            r |= EM_READABLE;
        if (pf.revents & (POLLOUT | POLLHUP | POLLERR))
            r |= EM_WRITABLE;
        r &= events | ((pf.revents & (POLLHUP | POLLERR)) ? EM_READABLE | EM_WRITABLE : 0);
        return r ? r : EM_ETIMEDOUT;
    }
    em__sched *s = p->home;
    assert(s == em__cur_sched);
    int epfd = s->epfd;
    uint32_t seq = next_wait_seq(p);
    atomic_store_explicit(&p->wake_flag, 0, memory_order_relaxed);
    struct epoll_event ev = {.events = EPOLLONESHOT | EPOLLRDHUP, .data.u64 = (uint64_t)p->index << 32 | seq};
    if (events & EM_READABLE)
        ev.events |= EPOLLIN;
    if (events & EM_WRITABLE)
        ev.events |= EPOLLOUT;
    /* Re-arm the registration an earlier wait on this fd left (disarmed)
     * in the set: one system call per wait instead of an add and a delete. */
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
        if (errno != ENOENT || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            return EM_EIO;
    }
    s->nfdwait++;
    p->fd_wait = fd;
    int64_t deadline = timeout_ms < 0 ? -1 : em__now_ns() + timeout_ms * 1000000;
    while (!atomic_load(&p->wake_flag)) {
        if (atomic_load(&p->sigs_pending)) {
            /* Unregister before handling signals: the process may die in
             * em__proc_drain, and the fd must not stay in the set. */
            epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
            s->nfdwait--;
            p->fd_wait = -1;
            next_wait_seq(p);
            em__proc_drain(p);
            atomic_store_explicit(&p->wake_flag, 0, memory_order_relaxed);
            ev.data.u64 = (uint64_t)p->index << 32 | p->wait_seq;
            if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return EM_EIO;
            s->nfdwait++;
            p->fd_wait = fd;
            continue;
        }
        if (!em__proc_wait(p, EM__W_FLAG, deadline))
            break;
    }
    assert(s->nfdwait > 0);
    s->nfdwait--;
    p->fd_wait = -1;
    next_wait_seq(p); /* a late event for this wait is now stale */
    if (!atomic_load(&p->wake_flag)) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); /* still armed */
        return EM_ETIMEDOUT;
    }
    /* The event disarmed the one-shot registration; it stays in the set
     * for the next wait, and goes when the fd is closed. */
    return p->wake_result;
}

/* ---- waiting for a go-ahead (remote.h) ---- */

uint64_t em__flag_arm(void)
{
    em__proc *p = em__self_proc();
    /* Only a process arms a flag (remote.h).  Checked even with NDEBUG:
     * there GCC otherwise warned of the NULL path. */
    if (p == NULL)
        abort();
    uint32_t seq = next_wait_seq(p);
    atomic_store_explicit(&p->wake_flag, 0, memory_order_relaxed);
    return (uint64_t)p->index << 32 | seq;
}

int em__flag_wait(int64_t timeout_ms)
{
    em__proc *p = em__self_proc();
    assert(p != NULL);
    int64_t deadline = timeout_ms < 0 ? -1 : em__now_ns() + timeout_ms * 1000000;
    bool sig = false;
    while (!atomic_load(&p->wake_flag)) {
        /* A signal ends the wait but is not handled here: the caller holds
         * what it is sending (a term, a connection) in its frame, which a
         * death here would lose.  The process takes it at its next signal
         * point, once the caller has let go. */
        if ((sig = atomic_load(&p->sigs_pending) != 0))
            break;
        if (!em__proc_wait(p, EM__W_FLAG, deadline))
            break;
    }
    next_wait_seq(p); /* a late wake for this wait is now stale */
    return atomic_load(&p->wake_flag) ? 0 : sig ? EM_ECANCELED : EM_ETIMEDOUT;
}

void em__flag_wake(uint64_t token)
{
    wake_token(token, 0);
}

void em__sleep_quiet(int64_t ms)
{
    em__proc *p = em__self_proc();
    if (p == NULL) {
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        return;
    }
    /* A wait for a go-ahead nobody will give (a new seq: any late wake is
     * stale), so only its timer ends it; a signal does not (EM__W_BLOCK). */
    next_wait_seq(p);
    atomic_store_explicit(&p->wake_flag, 0, memory_order_relaxed);
    int64_t deadline = em__now_ns() + ms * 1000000;
    while (em__proc_wait(p, EM__W_BLOCK, deadline))
        ;
}

/* ---- the blocking pool ---- */

typedef struct job {
    struct job *next;
    int (*fn)(void *);
    void *arg;
    uint64_t token;
} job;

#define POOL_MAX 4
static pthread_t pool[POOL_MAX];
static int npool, nidle;
static job *jobs_head, **jobs_tail = &jobs_head;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
static bool pool_stop;

static void *pool_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&io_lock);
    for (;;) {
        while (jobs_head == NULL && !pool_stop) {
            nidle++;
            pthread_cond_wait(&jobs_cond, &io_lock);
            nidle--;
        }
        if (jobs_head == NULL)
            break;
        job *j = jobs_head;
        jobs_head = j->next;
        if (jobs_head == NULL)
            jobs_tail = &jobs_head;
        pthread_mutex_unlock(&io_lock);
        int r = j->fn(j->arg);
        wake_token(j->token, r);
        free(j);
        pthread_mutex_lock(&io_lock);
    }
    pthread_mutex_unlock(&io_lock);
    return NULL;
}

/* Queue fn(arg) for a pool thread on p's behalf (a thread is started if
 * none is idle); false if it cannot be queued (no memory for the job, no
 * thread at all): the caller then runs it itself. */
static bool blocking_queue(em__proc *p, int (*fn)(void *), void *arg)
{
    job *j = malloc(sizeof *j);
    if (j == NULL)
        return false;
    uint32_t seq = next_wait_seq(p);
    atomic_store_explicit(&p->wake_flag, 0, memory_order_relaxed);
    j->fn = fn;
    j->arg = arg;
    j->token = (uint64_t)p->index << 32 | seq;
    j->next = NULL;
    pthread_mutex_lock(&io_lock);
    pool_stop = false;
    if (nidle == 0 && npool < POOL_MAX && pthread_create(&pool[npool], NULL, pool_main, NULL) == 0)
        npool++;
    if (npool == 0) {
        pthread_mutex_unlock(&io_lock);
        free(j);
        return false;
    }
    *jobs_tail = j;
    jobs_tail = &j->next;
    pthread_cond_signal(&jobs_cond);
    pthread_mutex_unlock(&io_lock);
    return true;
}

EM_API int em_blocking(int (*fn)(void *), void *arg)
{
    em__proc *p = em__self_proc();
    if (p == NULL)
        return fn(arg);
    int r;
    if (blocking_queue(p, fn, arg)) {
        /* Signals wait until the call returns: arg may belong to the caller. */
        while (!atomic_load(&p->wake_flag))
            em__proc_wait(p, EM__W_BLOCK, -1);
        next_wait_seq(p);
        r = p->wake_result;
    } else {
        r = fn(arg); /* here (the scheduler waits with it): the result is still fn's */
    }
    em__proc_signals(p); /* the call is over: a signal point (may not return) */
    return r;
}

void em__io_fini(void)
{
    pthread_mutex_lock(&io_lock);
    pool_stop = true;
    pthread_cond_broadcast(&jobs_cond);
    int n = npool;
    pthread_mutex_unlock(&io_lock);
    for (int i = 0; i < n; i++)
        pthread_join(pool[i], NULL);
    pthread_mutex_lock(&io_lock);
    npool = 0;
    while (jobs_head) { /* jobs of killed processes: not run */
        job *j = jobs_head;
        jobs_head = j->next;
        free(j);
    }
    jobs_tail = &jobs_head;
    pthread_mutex_unlock(&io_lock);
}
