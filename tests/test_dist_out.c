/* test_dist_out.c: a connection's out-queue and its writing (net/
 * dist_out.c), with a socket pair in place of the TCP socket.  Frames are
 * read back and checked byte for byte against em_etf_encode (4-byte
 * length, 'p', the control tuple, the message), and decoded.  The entries
 * are made by the node table (em__dconn_get) with em__nd.up set by hand:
 * no node, no port mapper, no handshake. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dist_int.h"
#include "rttest.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SAN 1
#endif
#endif
#ifndef UNDER_SAN
#define UNDER_SAN 0
#endif

#define A(s) em_atom(s)

/* ---- helpers ---- */

/* A PENDING entry for `node` from the node table (refs: the table's and
 * ours). */
static em__dconn *conn_new(const char *node)
{
    em__nd.up = true;
    em__nd.quiet = true;
    em__nd.ticktime_ms = 60000;
    bool created = false;
    em__dconn *c = em__dconn_get(A(node), true, &created);
    ck_assert_ptr_nonnull(c);
    ck_assert(created);
    ck_assert_int_eq(c->state, EM__C_PENDING);
    return c;
}

/* Give c one end of a socket pair (non-blocking, as the TCP socket is) and
 * make it UP; *peer gets the other end.  sndbuf > 0: that send buffer. */
static void conn_socket(em__dconn *c, int *peer, int sndbuf)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    if (sndbuf > 0) {
        ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
        ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof sndbuf), 0);
    }
    ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    pthread_mutex_lock(&c->lock);
    c->fd = sv[0];
    c->wfd = dup(sv[0]);
    c->state = EM__C_UP;
    pthread_mutex_unlock(&c->lock);
    ck_assert_int_ge(c->wfd, 0);
    *peer = sv[1];
}

/* Take c down and drop our reference (the table's goes with down). */
static void conn_end(em__dconn *c)
{
    em__dconn_down(c, "test_end");
    em__dconn_put(c);
}

/* The bytes em_etf_encode gives: length, 'p', ctl, msg (EM_NONE: none). */
static void frame_expect(em_buf *out, em_term ctl, em_term msg)
{
    em_buf body = EM_BUF_INIT;
    ck_assert_em_ok(em_etf_encode(&body, ctl, EM_ETF_DIST));
    if (msg != EM_NONE)
        ck_assert_em_ok(em_etf_encode(&body, msg, EM_ETF_DIST));
    uint32_t n = (uint32_t)body.len + 1;
    uint8_t h[5] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, 'p'};
    ck_assert_em_ok(em_buf_append(out, h, sizeof h));
    ck_assert_em_ok(em_buf_append(out, body.data, body.len));
    em_buf_free(&body);
}

/* The bytes of a list of segments, in order. */
static void segs_bytes(const em__oblk *b, em_buf *out)
{
    for (; b; b = b->next)
        ck_assert_em_ok(em_buf_append(out, b->base + b->off, b->len));
}

static size_t segs_count(const em__oblk *b)
{
    size_t n = 0;
    for (; b; b = b->next)
        n++;
    return n;
}

/* Take the whole queue, return its bytes in *out, and drop it. */
static void queue_drain(em__dconn *c, em_buf *out)
{
    em__oblk *b = em__oq_take(c);
    segs_bytes(b, out);
    em__oq_drop(c, b);
    em__oq_done(c);
}

static bool buf_eq(const em_buf *a, const em_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* Decode the frames in buf[0 .. len): each must be a length, 'p', a control
 * tuple {I, frame_tag} with I = 0, 1, ... in order, and a message equal to
 * msgs[I]; returns the number of frames. */
static size_t frames_check(const uint8_t *buf, size_t len, em_term *msgs, size_t nmsgs)
{
    size_t pos = 0, i = 0;
    while (pos < len) {
        ck_assert_uint_ge(len - pos, 5);
        uint32_t n = (uint32_t)buf[pos] << 24 | (uint32_t)buf[pos + 1] << 16 |
                     (uint32_t)buf[pos + 2] << 8 | buf[pos + 3];
        ck_assert_uint_le(n, len - pos - 4);
        ck_assert_int_eq(buf[pos + 4], 112);
        const uint8_t *body = buf + pos + 5;
        size_t blen = n - 1, off = 0;
        em_term ctl, msg;
        ck_assert_em_ok(em_etf_decode(body, blen, &off, NULL, &ctl));
        ck_assert_em_ok(em_etf_decode(body, blen, &off, NULL, &msg));
        ck_assert_uint_eq(off, blen);
        ck_assert_uint_lt(i, nmsgs);
        em_term want = em_tuple(2, em_int((int64_t)i), A("frame_tag"));
        ck_assert_msg(em_equal(ctl, want), "frame %zu: control tuple differs", i);
        ck_assert_msg(em_equal(msg, msgs[i]), "frame %zu: message differs", i);
        em_drop(want);
        em_drop(ctl);
        em_drop(msg);
        pos += 4 + n;
        i++;
    }
    return i;
}

/* A message of a mix of shapes: small and large binaries (large ones go
 * by reference), a list, an integer. */
static em_term mixed_msg(size_t i)
{
    size_t big = (i % 3 == 0) ? 9000 + i : 200 + i;
    uint8_t *d = malloc(big);
    ck_assert_ptr_nonnull(d);
    for (size_t k = 0; k < big; k++)
        d[k] = (uint8_t)(k * 7 + i);
    em_term bin = em_binary(d, big);
    free(d);
    return em_tuple(3, bin, em_list(2, em_int((int64_t)i), A("x")), em_int((int64_t)i * 1000003));
}

static void wait_until(bool (*cond)(void *), void *arg, const char *what)
{
    int64_t end = rt_now_ms() + 20000;
    while (!cond(arg)) {
        if (rt_now_ms() > end) {
            fprintf(stderr, "timed out waiting for %s\n", what);
            return;
        }
        if (em_self() != EM_NONE)
            em_sleep(2);
        else
            usleep(2000);
    }
}

/* ---- encoding ---- */

/* A frame is the 4-byte length of what follows, 112 ('p', pass-through),
 * the control tuple's encoding and the message's, each with its 131:
 * byte for byte what em_etf_encode gives; the queue counts its bytes. */
START_TEST(frame_is_length_p_ctl_msg)
{
    rt_start(1);
    em__dconn *c = conn_new("peer@host");
    em_term ctl = em_tuple(3, em_int(6), A(""), A("some_name"));
    em_term msg = em_tuple(3, A("hello"), em_int(-42), em_binary("abc", 3));
    ck_assert_em_ok(em__dconn_queue(c, ctl, msg));
    em_buf want = EM_BUF_INIT, got = EM_BUF_INIT;
    frame_expect(&want, ctl, msg);
    ck_assert_uint_eq(atomic_load(&c->queued), want.len);
    queue_drain(c, &got);
    ck_assert_msg(buf_eq(&got, &want), "frame bytes differ (%zu vs %zu)", got.len, want.len);
    ck_assert_uint_eq(atomic_load(&c->queued), 0);
    em_buf_free(&want);
    em_buf_free(&got);
    em_drop(ctl);
    em_drop(msg);
    conn_end(c);
    ck_assert_int_eq(em_run(), 0);
}
END_TEST

/* A control message without a message (LINK, EXIT...): length, 'p', the
 * control tuple only. */
START_TEST(frame_ctl_only)
{
    rt_start(1);
    em__dconn *c = conn_new("peer@host");
    em_term ctl = em_tuple(3, em_int(1), A("a"), A("b"));
    ck_assert_em_ok(em__dconn_queue(c, ctl, EM_NONE));
    em_buf want = EM_BUF_INIT, got = EM_BUF_INIT;
    frame_expect(&want, ctl, EM_NONE);
    queue_drain(c, &got);
    ck_assert(buf_eq(&got, &want));
    em_buf_free(&want);
    em_buf_free(&got);
    em_drop(ctl);
    conn_end(c);
    ck_assert_int_eq(em_run(), 0);
}
END_TEST

/* Small frames are packed one after the other into one chunk: 100 of them
 * make one segment, not 100, and keep their order. */
START_TEST(small_frames_packed_in_one_segment)
{
    rt_start(1);
    em__dconn *c = conn_new("peer@host");
    em_buf want = EM_BUF_INIT, got = EM_BUF_INIT;
    for (int i = 0; i < 100; i++) {
        em_term ctl = em_tuple(2, em_int(i), A("frame_tag"));
        em_term msg = em_list(2, em_int(i), A("small"));
        ck_assert_em_ok(em__dconn_queue(c, ctl, msg));
        frame_expect(&want, ctl, msg);
        em_drop(ctl);
        em_drop(msg);
    }
    em__oblk *b = em__oq_take(c);
    ck_assert_uint_eq(segs_count(b), 1);
    ck_assert_ptr_nonnull(b->chunk);
    segs_bytes(b, &got);
    em__oq_drop(c, b);
    em__oq_done(c);
    ck_assert(buf_eq(&got, &want));
    em_buf_free(&want);
    em_buf_free(&got);
    conn_end(c);
    ck_assert_int_eq(em_run(), 0);
}
END_TEST

/* A large binary inside a message (4096 bytes and more) is written from
 * the binary itself: a segment pointing at its bytes, holding it, between
 * two runs of the chunk; a small one is copied into the chunk.  The bytes
 * are the same either way. */
START_TEST(large_binary_referenced_not_copied)
{
    rt_start(1);
    em__dconn *c = conn_new("peer@host");
    static uint8_t data[10000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 13);
    em_term big = em_binary(data, sizeof data);
    em_term small = em_binary(data, 100);
    size_t nbits;
    const uint8_t *bigp = em_binary_data(big, &nbits);
    em_term ctl = em_tuple(2, em_int(0), A("frame_tag"));
    em_term msg = em_tuple(3, A("before"), em_dup(big), A("after"));
    em_term msg2 = em_tuple(2, em_dup(small), A("end"));
    ck_assert_em_ok(em__dconn_queue(c, ctl, msg));
    ck_assert_em_ok(em__dconn_queue(c, ctl, msg2));
    em_buf want = EM_BUF_INIT, got = EM_BUF_INIT;
    frame_expect(&want, ctl, msg);
    frame_expect(&want, ctl, msg2);
    em__oblk *b = em__oq_take(c);
    /* run, the binary, run (the rest of frame 1 and all of frame 2) */
    ck_assert_uint_eq(segs_count(b), 3);
    ck_assert_ptr_nonnull(b->chunk);
    ck_assert_ptr_null(b->next->chunk);
    ck_assert_ptr_eq(b->next->base + b->next->off, bigp);
    ck_assert_uint_eq(b->next->len, sizeof data);
    ck_assert(b->next->hold == big);
    ck_assert_ptr_eq(b->next->next->chunk, b->chunk);
    segs_bytes(b, &got);
    ck_assert(buf_eq(&got, &want));
    /* the segment holds the binary: it outlives our references */
    em_drop(msg);
    em_drop(big);
    ck_assert_int_eq(memcmp(b->next->base + b->next->off, data, sizeof data), 0);
    em__oq_drop(c, b);
    em__oq_done(c);
    ck_assert_uint_eq(atomic_load(&c->queued), 0);
    em_buf_free(&want);
    em_buf_free(&got);
    em_drop(ctl);
    em_drop(msg2);
    em_drop(small);
    conn_end(c);
    ck_assert_int_eq(em_run(), 0);
}
END_TEST

/* A term that cannot be encoded is refused before anything is queued. */
START_TEST(bad_term_refused_queue_unchanged)
{
    rt_start(1);
    em__dconn *c = conn_new("peer@host");
    ck_assert_int_lt(em__dconn_queue(c, EM_NONE, A("x")), 0);
    ck_assert_ptr_null(c->head);
    ck_assert_uint_eq(atomic_load(&c->queued), 0);
    conn_end(c);
    ck_assert_int_eq(em_run(), 0);
}
END_TEST

#if !UNDER_SAN
/* Out of memory on demand, in the calling thread only: the n-th malloc
 * from now fails (0: none).  Not under the sanitizers, which own malloc. */
extern void *__libc_malloc(size_t);
static _Thread_local int malloc_fail_in;
void *malloc(size_t n)
{
    if (malloc_fail_in > 0 && --malloc_fail_in == 0)
        return NULL;
    return __libc_malloc(n);
}
#endif

/* An encoding that fails part way (no memory for the segment of a large
 * binary, after the frame's head went into the chunk) is rolled back: the
 * queue holds exactly the frames before it, the byte count is unchanged,
 * and the next frame is encoded after them as if the failed one had never
 * been. */
START_TEST(rollback_on_encoding_error)
{
#if UNDER_SAN
    fprintf(stderr, "rollback_on_encoding_error: skipped under a sanitizer (it replaces malloc)\n");
#else
    rt_start(1);
    em__dconn *c = conn_new("peer@host");
    em_term ctl = em_tuple(2, em_int(0), A("frame_tag"));
    em_term m1 = em_list(2, A("first"), em_int(1));
    static uint8_t data[8192];
    em_term mbig = em_tuple(2, A("big"), em_binary(data, sizeof data));
    em_term m3 = em_list(1, A("third"));
    /* an empty queue: the chunk itself cannot be had */
    malloc_fail_in = 1;
    int rc = em__dconn_queue(c, ctl, m1);
    malloc_fail_in = 0;
    ck_assert_em_err(rc, EM_ENOMEM);
    ck_assert_ptr_null(c->head);
    ck_assert_uint_eq(atomic_load(&c->queued), 0);
    em_buf want = EM_BUF_INIT, got = EM_BUF_INIT;
    ck_assert_em_ok(em__dconn_queue(c, ctl, m1));
    frame_expect(&want, ctl, m1);
    size_t q1 = atomic_load(&c->queued);
    ck_assert_uint_eq(q1, want.len);
    /* the big binary's segment cannot be had: its head was committed */
    malloc_fail_in = 1;
    rc = em__dconn_queue(c, ctl, mbig);
    malloc_fail_in = 0;
    ck_assert_em_err(rc, EM_ENOMEM);
    ck_assert_uint_eq(atomic_load(&c->queued), q1);
    ck_assert_uint_eq(segs_count(c->head), 1);
    ck_assert_uint_eq(c->head->len, q1);
    ck_assert_ptr_eq(c->last, c->head);
    ck_assert_em_ok(em__dconn_queue(c, ctl, m3));
    frame_expect(&want, ctl, m3);
    queue_drain(c, &got);
    ck_assert_msg(buf_eq(&got, &want), "queue after a rollback: %zu bytes, want %zu", got.len, want.len);
    em_buf_free(&want);
    em_buf_free(&got);
    em_drop(ctl);
    em_drop(m1);
    em_drop(mbig);
    em_drop(m3);
    conn_end(c);
    ck_assert_int_eq(em_run(), 0);
#endif
}
END_TEST

/* ---- trimming and the connection's end ---- */

/* Chunks written are kept for reuse; em__oq_trim lets go of the fill chunk
 * and every spare, and frames queued after it are encoded as before. */
START_TEST(trim_lets_go_of_chunks)
{
    rt_start(1);
    em__dconn *c = conn_new("peer@host");
    em_term ctl = em_tuple(2, em_int(0), A("frame_tag"));
    /* frames bigger than half a chunk: each new one needs another chunk */
    static uint8_t data[3000];
    em_term msg = em_list(12, em_binary(data, sizeof data), em_binary(data, sizeof data),
                          em_binary(data, sizeof data), em_binary(data, sizeof data),
                          em_binary(data, sizeof data), em_binary(data, sizeof data),
                          em_binary(data, sizeof data), em_binary(data, sizeof data),
                          em_binary(data, sizeof data), em_binary(data, sizeof data),
                          em_binary(data, sizeof data), em_binary(data, sizeof data));
    em_buf got = EM_BUF_INIT;
    for (int i = 0; i < 4; i++)
        ck_assert_em_ok(em__dconn_queue(c, ctl, msg));
    queue_drain(c, &got);
    ck_assert_ptr_nonnull(c->fill);
    ck_assert_int_gt(c->nspare, 0);
    em__oq_trim(c);
    ck_assert_ptr_null(c->fill);
    ck_assert_ptr_null(c->spare);
    ck_assert_int_eq(c->nspare, 0);
    em_buf want = EM_BUF_INIT;
    got.len = 0;
    ck_assert_em_ok(em__dconn_queue(c, ctl, msg));
    frame_expect(&want, ctl, msg);
    queue_drain(c, &got);
    ck_assert(buf_eq(&got, &want));
    em_buf_free(&want);
    em_buf_free(&got);
    em_drop(ctl);
    em_drop(msg);
    conn_end(c);
    ck_assert_int_eq(em_run(), 0);
}
END_TEST

/* A dead connection queues nothing (EM_ECLOSED); going down drops what was
 * queued and its byte count. */
START_TEST(down_drops_queue_and_refuses)
{
    rt_start(1);
    em__dconn *c = conn_new("peer@host");
    em_term ctl = em_tuple(2, em_int(0), A("frame_tag"));
    static uint8_t data[20000];
    em_term msg = em_tuple(2, A("m"), em_binary(data, sizeof data));
    for (int i = 0; i < 3; i++)
        ck_assert_em_ok(em__dconn_queue(c, ctl, msg));
    ck_assert_uint_gt(atomic_load(&c->queued), 3 * sizeof data);
    em__dconn_down(c, "test_down");
    ck_assert_int_eq(c->state, EM__C_DEAD);
    ck_assert_ptr_null(c->head);
    ck_assert_uint_eq(atomic_load(&c->queued), 0);
    ck_assert_em_err(em__dconn_queue(c, ctl, msg), EM_ECLOSED);
    ck_assert_ptr_null(c->head);
    ck_assert_uint_eq(atomic_load(&c->queued), 0);
    /* no longer in the table */
    ck_assert_ptr_null(em__dconn_get(A("peer@host"), false, NULL));
    em_drop(ctl);
    em_drop(msg);
    em__dconn_put(c);
    ck_assert_int_eq(em_run(), 0);
}
END_TEST

/* ---- writing to the socket ---- */

/* Outside a process (nothing to defer to), a frame queued on an UP
 * connection is written at once: the peer can read it before
 * em__dconn_queue's caller does anything else. */
START_TEST(up_outside_process_written_at_once)
{
    rt_start(1);
    em__dconn *c = conn_new("peer@host");
    int peer;
    conn_socket(c, &peer, 0);
    em_term ctl = em_tuple(2, em_int(0), A("frame_tag"));
    em_term msg = em_tuple(2, A("now"), em_int(7));
    ck_assert_em_ok(em__dconn_queue(c, ctl, msg));
    em_buf want = EM_BUF_INIT;
    frame_expect(&want, ctl, msg);
    uint8_t got[256];
    ck_assert_int_eq(fcntl(peer, F_SETFL, O_NONBLOCK), 0);
    ssize_t r = read(peer, got, sizeof got);
    ck_assert_int_eq(r, (ssize_t)want.len);
    ck_assert_int_eq(memcmp(got, want.data, want.len), 0);
    ck_assert_ptr_null(c->head);
    ck_assert_uint_eq(atomic_load(&c->queued), 0);
    ck_assert_uint_eq(frames_check(got, (size_t)r, &msg, 1), 1);
    em_buf_free(&want);
    em_drop(ctl);
    em_drop(msg);
    conn_end(c);
    close(peer);
    ck_assert_int_eq(em_run(), 0);
}
END_TEST

#define NFRAMES 300
static em__dconn *wc;
static int wpeer;
static em_term wmsgs[NFRAMES];
static _Atomic int wresult = 1;
static em_buf wread = EM_BUF_INIT;
static size_t wexpect;

/* The peer: a plain thread reading small pieces with blocking reads until
 * all the bytes expected came (so the writer meets a full socket over and
 * over). */
static void *slow_reader(void *arg)
{
    (void)arg;
    uint8_t piece[1500];
    while (wread.len < wexpect) {
        ssize_t r = read(wpeer, piece, sizeof piece);
        if (r <= 0)
            break;
        if (em_buf_append(&wread, piece, (size_t)r) < 0)
            break;
    }
    return NULL;
}

static void writer_proc(void *arg)
{
    (void)arg;
    em__oblk *b = em__oq_take(wc);
    CHECK(b != NULL);
    atomic_store(&wresult, em__oq_write_all(wc, b));
    em__oq_done(wc);
}

/* em__oq_write_all over a socket pair whose buffers are much smaller than
 * the queue (about 2 MB: writes are partial, the writer waits for the
 * socket again and again): every byte arrives once, in order, the frames
 * decode to what was queued, and the queue ends empty. */
START_TEST(write_all_partial_writes)
{
    rt_start(2);
    wc = conn_new("peer@host");
    conn_socket(wc, &wpeer, 16 * 1024);
    em_buf want = EM_BUF_INIT;
    for (size_t i = 0; i < NFRAMES; i++) {
        em_term ctl = em_tuple(2, em_int((int64_t)i), A("frame_tag"));
        wmsgs[i] = mixed_msg(i);
        frame_expect(&want, ctl, wmsgs[i]);
        em_drop(ctl);
    }
    /* queue with the connection pending, so that nothing is written yet */
    wc->state = EM__C_PENDING;
    for (size_t i = 0; i < NFRAMES; i++) {
        em_term ctl = em_tuple(2, em_int((int64_t)i), A("frame_tag"));
        ck_assert_em_ok(em__dconn_queue(wc, ctl, wmsgs[i]));
        em_drop(ctl);
    }
    wc->state = EM__C_UP;
    wexpect = atomic_load(&wc->queued);
    ck_assert_uint_eq(wexpect, want.len);
    ck_assert_uint_gt(wexpect, 500000);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, slow_reader, NULL), 0);
    ck_assert(em_spawn(writer_proc, NULL) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    pthread_join(th, NULL);
    ck_assert_em_ok(atomic_load(&wresult));
    ck_assert_int_eq(ok_count, 1);
    ck_assert_uint_eq(atomic_load(&wc->queued), 0);
    ck_assert_uint_eq(wread.len, want.len);
    ck_assert_msg(buf_eq(&wread, &want), "bytes read differ from the encodings");
    ck_assert_uint_eq(frames_check(wread.data, wread.len, wmsgs, NFRAMES), NFRAMES);
    /* nothing more */
    ck_assert_int_eq(fcntl(wpeer, F_SETFL, O_NONBLOCK), 0);
    uint8_t x;
    ck_assert_int_eq(read(wpeer, &x, 1), -1);
    ck_assert_int_eq(errno, EAGAIN);
    for (size_t i = 0; i < NFRAMES; i++)
        em_drop(wmsgs[i]);
    em_buf_free(&want);
    em_buf_free(&wread);
    conn_end(wc);
    close(wpeer);
}
END_TEST

/* A peer that closed its end: writing fails with EM_ECLOSED (not a
 * SIGPIPE that would kill the program), and the blocks are consumed. */
START_TEST(write_all_peer_closed)
{
    rt_start(1);
    wc = conn_new("peer@host");
    conn_socket(wc, &wpeer, 0);
    close(wpeer);
    wc->state = EM__C_PENDING;
    em_term ctl = em_tuple(2, em_int(0), A("frame_tag"));
    em_term msg = em_list(1, A("lost"));
    ck_assert_em_ok(em__dconn_queue(wc, ctl, msg));
    wc->state = EM__C_UP;
    ck_assert(em_spawn(writer_proc, NULL) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_em_err(atomic_load(&wresult), EM_ECLOSED);
    ck_assert_uint_eq(atomic_load(&wc->queued), 0);
    em_drop(ctl);
    em_drop(msg);
    conn_end(wc);
}
END_TEST

static bool socket_full(void *arg)
{
    (void)arg;
    /* the writer is waiting: something is left, the socket took the rest */
    return atomic_load(&wc->queued) > 0 && atomic_load(&wc->queued) < wexpect;
}

static void downer_proc(void *arg)
{
    (void)arg;
    wait_until(socket_full, NULL, "the socket to fill");
    CHECK(socket_full(NULL));
    em__dconn_down(wc, "test_down");
}

/* The connection going down while the writer waits for a full socket (a
 * peer that does not read): em__oq_write_all returns EM_ECLOSED and drops
 * what was left; nothing stays queued. */
START_TEST(write_all_stops_when_down)
{
    rt_start(2);
    wc = conn_new("peer@host");
    conn_socket(wc, &wpeer, 16 * 1024);
    wc->state = EM__C_PENDING;
    em_term ctl = em_tuple(2, em_int(0), A("frame_tag"));
    static uint8_t data[100000];
    em_term msg = em_tuple(2, A("m"), em_binary(data, sizeof data));
    for (int i = 0; i < 10; i++)
        ck_assert_em_ok(em__dconn_queue(wc, ctl, msg));
    wexpect = atomic_load(&wc->queued);
    wc->state = EM__C_UP;
    ck_assert(em_spawn(writer_proc, NULL) != EM_NONE);
    ck_assert(em_spawn(downer_proc, NULL) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 2);
    ck_assert_em_err(atomic_load(&wresult), EM_ECLOSED);
    ck_assert_uint_eq(atomic_load(&wc->queued), 0);
    em_drop(ctl);
    em_drop(msg);
    em__dconn_put(wc);
    close(wpeer);
}
END_TEST

/* ---- back-pressure ---- */

static _Atomic int held_done, sent_on;
static _Atomic int hold_mode; /* 0: drain the queue, 1: take c down,
                                 2: kill the sender */
static _Atomic em_term held_sender;

static void sender_proc(void *arg)
{
    (void)arg;
    atomic_store(&held_sender, em_self());
    em_term ctl = em_tuple(2, em_int(0), A("frame_tag"));
    /* 9 MiB in one message: by reference, so cheap to queue */
    size_t n = EM__QUEUE_BUSY + (1u << 20);
    uint8_t *d = calloc(1, n);
    em_term msg = em_binary(d, n);
    free(d);
    CHECK(em__dconn_queue(wc, ctl, msg) == 0);
    em_drop(msg);
    em_drop(ctl);
    em__oq_hold(wc);
    atomic_store(&held_done, 1);
    em_send(em_self(), A("after")); /* a signal point */
    atomic_store(&sent_on, 1);
}

static bool someone_held(void *arg)
{
    (void)arg;
    return atomic_load(&wc->anyheld) > 0;
}

static bool hold_over(void *arg)
{
    (void)arg;
    return atomic_load(&held_done) != 0;
}

static void drainer_proc(void *arg)
{
    (void)arg;
    wait_until(someone_held, NULL, "the sender to be held");
    CHECK(someone_held(NULL));
    /* held: it stays so while the queue is over the limit, even when the
     * held are told to look (the queue is above the low mark) */
    em__oq_release_held(wc, false);
    em_sleep(300);
    CHECK(atomic_load(&held_done) == 0);
    em_term mon = EM_NONE;
    if (atomic_load(&hold_mode) == 0) {
        em__oblk *b = em__oq_take(wc);
        em__oq_drop(wc, b);
        em__oq_done(wc);
        em__oq_release_held(wc, false);
    } else if (atomic_load(&hold_mode) == 1) {
        em__dconn_down(wc, "test_down");
    } else {
        mon = em_monitor(atomic_load(&held_sender));
        CHECK(em_exit_pid(atomic_load(&held_sender), A("kill")) == 0);
    }
    wait_until(hold_over, NULL, "the sender to go on");
    CHECK(atomic_load(&held_done) == 1);
    if (atomic_load(&hold_mode) != 2) {
        CHECK(atomic_load(&wc->anyheld) == 0);
        return;
    }
    /* The kill ended the hold, and the sender died at its next signal
     * point, with the connection's reference and its terms let go. */
    em_term ref, who, reason;
    CHECK(em_receive(2000, "{'DOWN', Ref, process, Who, Reason}", &ref, &who, &reason) == 0 &&
          reason == A("killed"));
    CHECK(atomic_load(&wc->anyheld) == 0); /* it took its token back */
    em_drop(mon);
}

/* A sender whose frame leaves more than EM__QUEUE_BUSY queued waits in
 * em__oq_hold (pending connections too) until the queue drains, and goes
 * on then. */
START_TEST(hold_until_drained)
{
    rt_start(2);
    wc = conn_new("peer@host");
    atomic_store(&hold_mode, 0);
    ck_assert(em_spawn(sender_proc, NULL) != EM_NONE);
    ck_assert(em_spawn(drainer_proc, NULL) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 5);
    conn_end(wc);
}
END_TEST

/* A held sender goes on when the connection goes down. */
START_TEST(hold_released_by_down)
{
    rt_start(2);
    wc = conn_new("peer@host");
    atomic_store(&hold_mode, 1);
    ck_assert(em_spawn(sender_proc, NULL) != EM_NONE);
    ck_assert(em_spawn(drainer_proc, NULL) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 5);
    ck_assert_uint_eq(atomic_load(&wc->queued), 0);
    em__dconn_put(wc);
}
END_TEST

/* A held sender that is killed stops waiting and dies once its send has
 * returned, not inside the hold (where it would have lost what its frames
 * held); what it queued stays queued. */
START_TEST(hold_ended_by_a_kill)
{
    rt_start(2);
    wc = conn_new("peer@host");
    atomic_store(&hold_mode, 2);
    ck_assert(em_spawn(sender_proc, NULL) != EM_NONE);
    ck_assert(em_spawn(drainer_proc, NULL) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 7);
    ck_assert_int_eq(atomic_load(&sent_on), 0);
    ck_assert_uint_gt(atomic_load(&wc->queued), EM__QUEUE_BUSY);
    conn_end(wc);
}
END_TEST

static Suite *dist_out_suite(void)
{
    Suite *s = suite_create("dist_out");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, frame_is_length_p_ctl_msg);
    tcase_add_test(tc, frame_ctl_only);
    tcase_add_test(tc, small_frames_packed_in_one_segment);
    tcase_add_test(tc, large_binary_referenced_not_copied);
    tcase_add_test(tc, bad_term_refused_queue_unchanged);
    tcase_add_test(tc, rollback_on_encoding_error);
    tcase_add_test(tc, trim_lets_go_of_chunks);
    tcase_add_test(tc, down_drops_queue_and_refuses);
    tcase_add_test(tc, up_outside_process_written_at_once);
    tcase_add_test(tc, write_all_partial_writes);
    tcase_add_test(tc, write_all_peer_closed);
    tcase_add_test(tc, write_all_stops_when_down);
    tcase_add_test(tc, hold_until_drained);
    tcase_add_test(tc, hold_released_by_down);
    tcase_add_test(tc, hold_ended_by_a_kill);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(dist_out_suite)
