/* io.c: waiting on file descriptors and running blocking calls without
 * stalling a scheduler (decision 5).
 *
 * A poller thread owns an epoll set.  em_wait_fd registers the fd one-shot
 * with a token naming the process slot and its wait number, then waits with
 * kind FLAG; the poller sets the process's wake_flag and result and wakes
 * it.  A token whose wait number is stale is ignored, so an event for a wait
 * that already timed out never disturbs a later one.
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
#include <unistd.h>

#include "remote.h"
#include "rt.h"

static pthread_mutex_t io_lock = PTHREAD_MUTEX_INITIALIZER;
static int epfd = -1, stopfd = -1;
static pthread_t poller;
static bool poller_up;

static void wake_token(uint64_t token, int result)
{
    em__proc *p = em__proc_lookup_slot((uint32_t)(token >> 32));
    if (p == NULL || p->wait_seq != (uint32_t)token)
        return;
    p->wake_result = result;
    atomic_store_explicit(&p->wake_flag, 1, memory_order_seq_cst);
    em__proc_wake(p, EM__EV_FLAG);
}

static void *poller_main(void *arg)
{
    (void)arg;
    struct epoll_event ev[64];
    for (;;) {
        int n = epoll_wait(epfd, ev, 64, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u64 == 0)
                return NULL; /* stopfd: shutting down */
            int r = 0;
            if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
                r |= EM_READABLE;
            if (ev[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
                r |= EM_WRITABLE;
            wake_token(ev[i].data.u64, r);
        }
    }
    return NULL;
}

static int poller_start(void)
{
    pthread_mutex_lock(&io_lock);
    int rc = 0;
    if (!poller_up) {
        epfd = epoll_create1(EPOLL_CLOEXEC);
        stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
        if (epfd < 0 || stopfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, stopfd, &ev) < 0 ||
            pthread_create(&poller, NULL, poller_main, NULL) != 0) {
            if (epfd >= 0)
                close(epfd);
            if (stopfd >= 0)
                close(stopfd);
            epfd = stopfd = -1;
            rc = EM_EIO;
        } else {
            poller_up = true;
        }
    }
    pthread_mutex_unlock(&io_lock);
    return rc;
}

EM_API int em_wait_fd(int fd, int events, int64_t timeout_ms)
{
    em__proc *p = em__self_proc();
    if (p == NULL)
        return EM_ESTATE;
    if (fd < 0 || (events & (EM_READABLE | EM_WRITABLE)) == 0)
        return EM_EINVAL;
    if (timeout_ms == 0) {
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
    int rc = poller_start();
    if (rc < 0)
        return rc;
    p->wait_seq++;
    atomic_store_explicit(&p->wake_flag, 0, memory_order_relaxed);
    struct epoll_event ev = {.events = EPOLLONESHOT | EPOLLRDHUP, .data.u64 = (uint64_t)p->index << 32 | p->wait_seq};
    if (events & EM_READABLE)
        ev.events |= EPOLLIN;
    if (events & EM_WRITABLE)
        ev.events |= EPOLLOUT;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        if (errno != EEXIST || epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
            return EM_EIO;
    }
    int64_t deadline = timeout_ms < 0 ? -1 : em__now_ns() + timeout_ms * 1000000;
    while (!atomic_load(&p->wake_flag)) {
        if (atomic_load(&p->sigs_pending)) {
            /* Unregister before handling signals: the process may die in
             * em__proc_drain, and the fd must not stay in the set. */
            epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
            p->wait_seq++;
            em__proc_drain(p);
            atomic_store_explicit(&p->wake_flag, 0, memory_order_relaxed);
            ev.data.u64 = (uint64_t)p->index << 32 | p->wait_seq;
            if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return EM_EIO;
            continue;
        }
        if (!em__proc_wait(p, EM__W_FLAG, deadline))
            break;
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    p->wait_seq++; /* a late event for this wait is now stale */
    if (!atomic_load(&p->wake_flag))
        return EM_ETIMEDOUT;
    return p->wake_result;
}

/* ---- waiting for a go-ahead (remote.h) ---- */

uint64_t em__flag_arm(void)
{
    em__proc *p = em__self_proc();
    assert(p != NULL);
    p->wait_seq++;
    atomic_store_explicit(&p->wake_flag, 0, memory_order_relaxed);
    return (uint64_t)p->index << 32 | p->wait_seq;
}

int em__flag_wait(int64_t timeout_ms)
{
    em__proc *p = em__self_proc();
    assert(p != NULL);
    int64_t deadline = timeout_ms < 0 ? -1 : em__now_ns() + timeout_ms * 1000000;
    while (!atomic_load(&p->wake_flag)) {
        if (atomic_load(&p->sigs_pending)) {
            em__proc_drain(p);
            continue;
        }
        if (!em__proc_wait(p, EM__W_FLAG, deadline))
            break;
    }
    p->wait_seq++; /* a late wake for this wait is now stale */
    return atomic_load(&p->wake_flag) ? 0 : EM_ETIMEDOUT;
}

void em__flag_wake(uint64_t token)
{
    wake_token(token, 0);
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

EM_API int em_blocking(int (*fn)(void *), void *arg)
{
    em__proc *p = em__self_proc();
    if (p == NULL)
        return fn(arg);
    job *j = malloc(sizeof *j);
    if (j == NULL)
        return EM_ENOMEM;
    p->wait_seq++;
    atomic_store_explicit(&p->wake_flag, 0, memory_order_relaxed);
    j->fn = fn;
    j->arg = arg;
    j->token = (uint64_t)p->index << 32 | p->wait_seq;
    j->next = NULL;
    pthread_mutex_lock(&io_lock);
    pool_stop = false;
    if (nidle == 0 && npool < POOL_MAX && pthread_create(&pool[npool], NULL, pool_main, NULL) == 0)
        npool++;
    if (npool == 0) {
        pthread_mutex_unlock(&io_lock);
        free(j);
        return fn(arg); /* no thread at all: run it here */
    }
    *jobs_tail = j;
    jobs_tail = &j->next;
    pthread_cond_signal(&jobs_cond);
    pthread_mutex_unlock(&io_lock);
    /* Signals wait until the call returns: arg may belong to the caller. */
    while (!atomic_load(&p->wake_flag))
        em__proc_wait(p, EM__W_BLOCK, -1);
    p->wait_seq++;
    return p->wake_result;
}

void em__io_fini(void)
{
    pthread_mutex_lock(&io_lock);
    bool up = poller_up;
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
    if (up) {
        uint64_t one = 1;
        ssize_t w = write(stopfd, &one, sizeof one);
        (void)w;
        pthread_join(poller, NULL);
        close(epfd);
        close(stopfd);
        epfd = stopfd = -1;
        poller_up = false;
    }
}
