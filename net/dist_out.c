/* dist_out.c: a connection's out-queue -- encoding frames into it, and
 * writing it to the socket.
 *
 * The queue is a list of segments (dist_tab.h): runs of chunks, into which
 * frames are encoded directly (by the encoder, through a sink: term/
 * etf_encode.h; only term/ knows the external format), packed one after
 * the other (a stream of
 * small messages costs neither a malloc nor an iovec per message: the last
 * segment just grows; chunks are reused, so memory the queue lets go of is
 * not given back to the kernel and faulted in again a moment later), and
 * references to large binaries inside messages, written from the binary
 * itself (the payload of a large message is copied once, by the kernel, as
 * a plain send would).  The runs around a reference are two segments of
 * the same chunk.
 *
 * A frame is encoded under the connection's lock, at the end of the queue,
 * so that frames never interleave and one sender's frames keep the order
 * of its calls.  Whoever writes (the writer process, or a sending process
 * flushing what it queued as it stops running) takes the whole queue under
 * the lock and writes it outside: segments taken are no longer in the
 * queue, so no one extends them while they are written (frames encoded
 * meanwhile go after them in the fill chunk, which a chunk's reference
 * count keeps alive).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../runtime/remote.h"
#include "../runtime/poke.h"
#include "../term/etf_encode.h"
#include "dist_tab.h"

/* The size of a chunk.  A frame bigger than this (that is not mostly large
 * binaries) gets a chunk of its own size, freed once written. */
#define CHUNK (64u * 1024)
/* Chunks kept for reuse per connection while it is busy: the queue of a
 * stream that outruns the socket swings by megabytes (up to the 8 MiB at
 * which senders wait), and memory freed and allocated again at that rate
 * would be trimmed and faulted in over and over by malloc. */
#define SPARE_MAX 64
/* Binaries of at least this size inside a message are written from the
 * binary (a reference segment) rather than copied into the queue; smaller
 * ones cost less to copy than a segment and an iovec. */
#define ZC_BIN 4096u
#define IOV_N 256
/* Bytes handed to one sendmsg at most.  A single call of several MiB (a
 * stream that outran the socket) is preempted and moved to the other CPU
 * part way through on a busy machine, and loopback segments queued from
 * two CPUs reach the peer out of order: spurious fast retransmits, DSACKs
 * and stalls, which this cap makes rarer (docs/perf.md). */
#define WRITE_MAX (512u * 1024)

/* ---- chunks and segments ---- */

static em__ochunk *chunk_new(em__dconn *c, size_t n)
{
    em__ochunk *ch;
    if (n <= CHUNK && c->spare) {
        ch = c->spare;
        c->spare = ch->next;
        c->nspare--;
    } else {
        size_t cap = n > CHUNK ? n : CHUNK;
        ch = malloc(sizeof *ch + cap);
        if (ch == NULL)
            return NULL;
        ch->cap = cap;
    }
    atomic_init(&ch->refs, 1);
    ch->used = 0;
    ch->next = NULL;
    return ch;
}

/* Drop a reference to ch; when it was the last, put it on *free_list. */
static void chunk_put(em__ochunk *ch, em__ochunk **free_list)
{
    if (atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_acq_rel) == 1) {
        ch->next = *free_list;
        *free_list = ch;
    }
}

/* Chunks no longer used: kept for reuse (c->lock held) up to SPARE_MAX
 * while the connection lives, else freed (after the lock: pass keep
 * false). */
static em__ochunk *chunks_keep(em__dconn *c, em__ochunk *list)
{
    em__ochunk *rest = NULL;
    while (list) {
        em__ochunk *n = list->next;
        if (list->cap == CHUNK && c->nspare < SPARE_MAX && c->state != EM__C_DEAD) {
            list->next = c->spare;
            c->spare = list;
            c->nspare++;
        } else {
            list->next = rest;
            rest = list;
        }
        list = n;
    }
    return rest;
}

static void chunks_free(em__ochunk *list)
{
    while (list) {
        em__ochunk *n = list->next;
        free(list);
        list = n;
    }
}

/* Free segments; chunks they were the last on go to *free_list. */
static void segs_free(em__oblk *b, em__ochunk **free_list)
{
    while (b) {
        em__oblk *n = b->next;
        if (b->chunk)
            chunk_put(b->chunk, free_list);
        else
            em_drop(b->hold);
        free(b);
        b = n;
    }
}

/* Segments written or dropped, outside the lock. */
static void segs_release(em__dconn *c, em__oblk *b)
{
    em__ochunk *done = NULL;
    segs_free(b, &done);
    if (done == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    done = chunks_keep(c, done);
    pthread_mutex_unlock(&c->lock);
    chunks_free(done);
}

void em__oq_drop(em__dconn *c, em__oblk *b)
{
    size_t n = 0;
    for (em__oblk *g = b; g; g = g->next)
        n += g->len;
    if (n)
        atomic_fetch_sub_explicit(&c->queued, n, memory_order_relaxed);
    segs_release(c, b);
}

void em__oq_trim(em__dconn *c)
{
    em__ochunk *done = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->fill)
        chunk_put(c->fill, &done);
    c->fill = NULL;
    em__ochunk *s = c->spare;
    c->spare = NULL;
    c->nspare = 0;
    pthread_mutex_unlock(&c->lock);
    chunks_free(s);
    chunks_free(done);
}

static void oq_link(em__dconn *c, em__oblk *b)
{
    b->next = NULL;
    if (c->last)
        c->last->next = b;
    else
        c->head = b;
    c->last = b;
}

/* ---- encoding into the queue (c->lock held) ---- */

/* Room for n contiguous bytes at the end of the fill chunk (a new one if it
 * has not enough); NULL if out of memory.  What is written there counts
 * once oq_commit says so. */
static uint8_t *oq_room(em__dconn *c, size_t n)
{
    em__ochunk *ch = c->fill;
    if (ch == NULL || ch->cap - ch->used < n) {
        ch = chunk_new(c, n);
        if (ch == NULL)
            return NULL;
        if (c->fill) {
            em__ochunk *done = NULL;
            chunk_put(c->fill, &done);
            chunks_free(chunks_keep(c, done));
        }
        c->fill = ch;
    }
    return ch->data + ch->used;
}

/* The n bytes written at oq_room's pointer join the queue: the last
 * segment grows if it ends there, else a new segment starts. */
static int oq_commit(em__dconn *c, size_t n)
{
    em__ochunk *ch = c->fill;
    assert(ch && ch->used + n <= ch->cap);
    em__oblk *b = c->last;
    if (b && b->chunk == ch && b->base + b->off + b->len == ch->data + ch->used) {
        b->len += n;
    } else {
        b = malloc(sizeof *b);
        if (b == NULL)
            return EM_ENOMEM;
        atomic_fetch_add_explicit(&ch->refs, 1, memory_order_relaxed);
        b->base = ch->data;
        b->off = ch->used;
        b->len = n;
        b->chunk = ch;
        b->hold = EM_NONE;
        oq_link(c, b);
    }
    ch->used += n;
    return 0;
}

/* Undo a frame that could not be completed: segments after `last` go,
 * and `last` gets its length back.  (Bytes the frame put in the fill chunk
 * stay there unused.) */
static void oq_rollback(em__dconn *c, em__oblk *last, size_t last_len)
{
    em__oblk *b = last ? last->next : c->head;
    if (last) {
        last->next = NULL;
        last->len = last_len;
    } else {
        c->head = NULL;
    }
    c->last = last;
    em__ochunk *done = NULL;
    segs_free(b, &done);
    chunks_free(chunks_keep(c, done));
}

/* The encoder's sink (term/etf_encode.h): the fill chunk, and reference
 * segments for large binaries. */
static uint8_t *sink_room(void *ud, size_t n)
{
    return oq_room(ud, n);
}

static int sink_commit(void *ud, size_t n)
{
    return oq_commit(ud, n);
}

static int sink_ref(void *ud, em_term bin, const uint8_t *data, size_t n)
{
    em__oblk *b = malloc(sizeof *b);
    if (b == NULL)
        return EM_ENOMEM;
    b->base = data;
    b->off = 0;
    b->len = n;
    b->chunk = NULL;
    b->hold = em_dup(bin);
    oq_link(ud, b);
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The frame of m (body bytes after the length): 4-byte length, 'p', the
 * control message, the message. */
static int oq_frame(em__dconn *c, const em__etf_msg *m, size_t body)
{
    uint8_t h[5];
    put32(h, (uint32_t)body);
    h[4] = 'p';
    em__etf_sink s = {sink_room, sink_commit, sink_ref, c};
    return em__etf_encode_msg(m, h, sizeof h, &s);
}

/* ---- back-pressure ---- */

void em__oq_hold(em__dconn *c)
{
    while (atomic_load_explicit(&c->queued, memory_order_relaxed) > EM__QUEUE_BUSY) {
        uint64_t tok = em__flag_arm();
        pthread_mutex_lock(&c->lock);
        bool wait = atomic_load_explicit(&c->queued, memory_order_relaxed) > EM__QUEUE_BUSY &&
                    c->state != EM__C_DEAD; /* pending too, as OTP */
        if (wait) {
            /* One token per process: a newer one replaces its stale ones. */
            uint32_t i = 0;
            while (i < c->nheld && c->held[i] >> 32 != tok >> 32)
                i++;
            if (i == c->nheld && c->nheld == c->capheld) {
                uint32_t cap = c->capheld ? 2 * c->capheld : 8;
                uint64_t *h = realloc(c->held, cap * sizeof *h);
                if (h == NULL) {
                    wait = false; /* no room to wait: go on */
                } else {
                    c->held = h;
                    c->capheld = cap;
                }
            }
            if (wait) {
                c->held[i] = tok;
                if (i == c->nheld)
                    atomic_store_explicit(&c->anyheld, ++c->nheld, memory_order_relaxed);
            }
        }
        pthread_mutex_unlock(&c->lock);
        if (!wait)
            break;
        /* Bounded, so a lost race costs a re-check, not a hang.  A signal
         * for the sender (a kill) ends the hold: what it sent is queued
         * already, and it takes the signal once its send has returned. */
        if (em__flag_wait(100) == EM_ECANCELED) {
            /* Take the token back: nobody is to wake this wait now (and
             * the process may be gone when the held are woken). */
            pthread_mutex_lock(&c->lock);
            for (uint32_t j = 0; j < c->nheld; j++) {
                if (c->held[j] == tok) {
                    c->held[j] = c->held[--c->nheld];
                    atomic_store_explicit(&c->anyheld, c->nheld, memory_order_relaxed);
                    break;
                }
            }
            pthread_mutex_unlock(&c->lock);
            break;
        }
    }
}

void em__oq_release_held(em__dconn *c, bool all)
{
    if (atomic_load_explicit(&c->anyheld, memory_order_relaxed) == 0)
        return;
    if (!all && atomic_load_explicit(&c->queued, memory_order_relaxed) > EM__QUEUE_LOW)
        return;
    pthread_mutex_lock(&c->lock);
    uint64_t *h = c->held;
    uint32_t n = c->nheld;
    c->held = NULL;
    c->nheld = c->capheld = 0;
    atomic_store_explicit(&c->anyheld, 0, memory_order_relaxed);
    pthread_mutex_unlock(&c->lock);
    for (uint32_t i = 0; i < n; i++)
        em__flag_wake(h[i]);
    free(h);
}

/* ---- writing ---- */

em__oblk *em__oq_take(em__dconn *c)
{
    pthread_mutex_lock(&c->lock);
    em__oblk *b = NULL;
    if (!c->writing) {
        b = c->head;
        c->head = c->last = NULL;
        c->writing = b != NULL;
    }
    pthread_mutex_unlock(&c->lock);
    return b;
}

void em__oq_done(em__dconn *c)
{
    pthread_mutex_lock(&c->lock);
    c->writing = false;
    pthread_mutex_unlock(&c->lock);
}

/* Write blocks from b on without waiting; release those written.  Returns
 * the blocks left (the first one advanced past what was written) when the
 * socket is full, NULL when all are written; *rc gets a negative error if
 * the socket failed (the blocks left are then returned too). */
static em__oblk *write_some(em__dconn *c, em__oblk *b, int *rc)
{
    struct iovec iov[IOV_N];
    *rc = 0;
    while (b) {
        int n = 0;
        size_t total = 0;
        for (em__oblk *g = b; g && n < IOV_N && total < WRITE_MAX; g = g->next) {
            if (g->len == 0)
                continue;
            iov[n].iov_base = (void *)(g->base + g->off);
            iov[n].iov_len = g->len;
            total += g->len;
            n++;
        }
        ssize_t w = 0;
        if (n) {
            /* sendmsg, not writev: MSG_NOSIGNAL, so a peer that closed
             * is EPIPE here, not a SIGPIPE that kills the program. */
            struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
            w = sendmsg(c->wfd, &mh, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                    *rc = EM_ECLOSED;
                return b;
            }
            atomic_store_explicit(&c->last_write, em__dist_now_ms(), memory_order_relaxed);
            atomic_fetch_sub_explicit(&c->queued, (size_t)w, memory_order_relaxed);
        }
        size_t done = (size_t)w;
        em__oblk *gone = b, **gone_end = &gone;
        while (b && done >= b->len) {
            done -= b->len;
            b->len = 0;
            gone_end = &b->next;
            b = b->next;
        }
        *gone_end = NULL;
        if (b) {
            b->off += done;
            b->len -= done;
        }
        if (gone != b)
            segs_release(c, gone);
        if ((size_t)w < total)
            return b; /* a short write: the socket is full */
    }
    return NULL;
}

int em__oq_write_all(em__dconn *c, em__oblk *b)
{
    int rc = 0;
    while ((b = write_some(c, b, &rc)) != NULL && rc == 0) {
        em__oq_release_held(c, false);
        int r = em_wait_fd(c->wfd, EM_WRITABLE, em__nd.ticktime_ms);
        if (r < 0 && r != EM_ETIMEDOUT) {
            rc = r;
            break;
        }
        if (c->state == EM__C_DEAD) {
            rc = EM_ECLOSED;
            break;
        }
    }
    em__oq_drop(c, b);
    return rc;
}

static void poke_writer(em__dconn *c)
{
    if (atomic_exchange(&c->writer_idle, 0))
        em__poke(c->evfd);
}

/* Write what is queued on c without waiting; what the socket does not take
 * goes back to the front of the queue for the writer. */
static void flush_one(em__dconn *c)
{
    em__oblk *b = em__oq_take(c);
    if (b == NULL) {
        /* Empty, or someone (the writer) is writing: it takes the queue
         * when it is done; make sure it is not asleep. */
        if (atomic_load_explicit(&c->queued, memory_order_relaxed))
            poke_writer(c);
        return;
    }
    int rc;
    b = write_some(c, b, &rc);
    pthread_mutex_lock(&c->lock);
    if (b && rc == 0) {
        em__oblk *last = b;
        while (last->next)
            last = last->next;
        last->next = c->head;
        if (c->head == NULL)
            c->last = last;
        c->head = b;
        b = NULL;
    }
    c->writing = false;
    bool more = c->head != NULL;
    pthread_mutex_unlock(&c->lock);
    if (b)
        em__oq_drop(c, b); /* the socket failed: the reader will see it */
    /* Held senders are woken by the writer (this runs as a process
     * switches out, where waking others is not done). */
    if (more || (atomic_load_explicit(&c->anyheld, memory_order_relaxed) &&
                 atomic_load_explicit(&c->queued, memory_order_relaxed) <= EM__QUEUE_LOW))
        poke_writer(c);
}

/* Whether c's new frames may wait for the end of the running process's
 * run: the runtime keeps c on its list (remote.h, em__remote_defer) and
 * calls em__dconn_flush(c) as the process stops running; the list holds a
 * reference to c.  False outside a process or when the list is full: the
 * frame is written at once. */
static bool defer(em__dconn *c)
{
    int r = em__remote_defer(c);
    if (r > 0)
        atomic_fetch_add(&c->refs, 1); /* the list's: em__dconn_flush drops it */
    return r >= 0;
}

void em__dconn_flush(void *conn)
{
    em__dconn *c = conn;
    flush_one(c);
    em__dconn_put(c);
}

int em__dconn_queue(em__dconn *c, em_term ctl, em_term msg)
{
    em__etf_msg m;
    if (em__etf_encode_msg_size(&m, ctl, msg, ZC_BIN) < 0)
        return EM_ETOOBIG;
    size_t body = 1 + m.size;
    if (body > UINT32_MAX)
        return EM_ETOOBIG;
    pthread_mutex_lock(&c->lock);
    if (c->state == EM__C_DEAD) {
        pthread_mutex_unlock(&c->lock);
        return EM_ECLOSED;
    }
    em__oblk *last = c->last;
    size_t last_len = last ? last->len : 0;
    int rc = oq_frame(c, &m, body);
    if (rc < 0) {
        oq_rollback(c, last, last_len);
        pthread_mutex_unlock(&c->lock);
        return rc;
    }
    atomic_fetch_add_explicit(&c->queued, 4 + body, memory_order_relaxed);
    /* Written when the sending process stops running (em__dconn_flush): a
     * stream of sends leaves in few system calls, a request before its
     * sender waits for the reply.  Else (not a process, the connection not
     * up yet) at once if the socket is there. */
    bool now = c->state == EM__C_UP && !defer(c);
    pthread_mutex_unlock(&c->lock);
    if (now)
        flush_one(c);
    return 0;
}
