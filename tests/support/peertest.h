/* peertest.h: a node of the test's own (its port mapper on a thread:
 * epmdtest.h) and, as its peer, a plain thread of the test that speaks the
 * handshake with the state machine of dist_handshake.c and then hand-made
 * frames: what the node does with a control message, and what it sends,
 * without a remote node.  (test_dist_conn.c has the same peer for the
 * connection's own life.) */
#ifndef EM_TESTS_PEERTEST_H
#define EM_TESTS_PEERTEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dist_int.h"
#include "epmdtest.h"

#define PEERTEST_NODE "me@localhost"
#define PEERTEST_COOKIE "peertest"

/* *o: the options of the node PEERTEST_NODE, quiet, on the port mapper
 * epmd_start() started (the other options at their defaults). */
static inline void peertest_opts(em_node_opts *o)
{
    em_node_opts_init(o);
    o->name = PEERTEST_NODE;
    o->longnames = true;
    o->cookie = PEERTEST_COOKIE;
    o->epmd_port = epmd_port;
    o->no_epmd_start = true;
    o->quiet = true;
}

/* Start the node PEERTEST_NODE, quiet, on a port mapper of its own. */
static inline void peertest_node_start(void)
{
    epmd_start();
    em_node_opts o;
    peertest_opts(&o);
    ck_assert_em_ok(em_node_start_opts(&o));
}

static inline int peer_send_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static inline int peer_recv_all(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Connect to the node's distribution port as `name` offering `flags`, and
 * run the handshake's initiator side; the socket (blocking, reads time out
 * after 20 s), or -1. */
static inline int peer_dial(const char *name, uint64_t flags)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)em_node_port())};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    em__hs hs;
    em__hs_init(&hs, EM__HS_INITIATOR, name, flags, 77, PEERTEST_COOKIE);
    hs.dialled = PEERTEST_NODE;
    em_buf out = EM_BUF_INIT;
    int rc = em__hs_start(&hs, &out);
    while (rc == EM__HS_CONT) {
        if (peer_send_all(fd, out.data, out.len) < 0)
            break;
        out.len = 0;
        uint8_t h[2], body[2048];
        if (peer_recv_all(fd, h, 2) < 0)
            break;
        size_t n = (size_t)h[0] << 8 | h[1];
        if (n > sizeof body || peer_recv_all(fd, body, n) < 0)
            break;
        rc = em__hs_step(&hs, body, n, &out);
    }
    if (rc == EM__HS_DONE && out.len)
        rc = peer_send_all(fd, out.data, out.len) < 0 ? -1 : rc;
    em_buf_free(&out);
    if (rc != EM__HS_DONE) {
        fprintf(stderr, "peer handshake: %d %s\n", rc, hs.why);
        close(fd);
        return -1;
    }
    return fd;
}

/* A frame: length, 'p', ctl, and msg unless it is EM_NONE (borrowed). */
static inline int peer_send(int fd, em_term ctl, em_term msg)
{
    em_buf b = EM_BUF_INIT;
    uint8_t h[5] = {0, 0, 0, 0, 'p'};
    em_buf_append(&b, h, 5);
    em_etf_encode(&b, ctl, EM_ETF_DIST);
    if (msg != EM_NONE)
        em_etf_encode(&b, msg, EM_ETF_DIST);
    uint32_t n = (uint32_t)b.len - 4;
    b.data[0] = (uint8_t)(n >> 24);
    b.data[1] = (uint8_t)(n >> 16);
    b.data[2] = (uint8_t)(n >> 8);
    b.data[3] = (uint8_t)n;
    int rc = peer_send_all(fd, b.data, b.len);
    em_buf_free(&b);
    return rc;
}

/* The next frame that is not a tick: its control message and message
 * (EM_NONE if it has none), owned by the caller.  0, or -1 (closed, timed
 * out, not a pass-through frame). */
static inline int peer_recv(int fd, em_term *ctl, em_term *msg)
{
    *ctl = *msg = EM_NONE;
    for (;;) {
        uint8_t h[4];
        if (peer_recv_all(fd, h, 4) < 0)
            return -1;
        uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
        if (n == 0)
            continue; /* a tick */
        uint8_t *body = malloc(n);
        if (body == NULL || peer_recv_all(fd, body, n) < 0 || body[0] != 'p') {
            free(body);
            return -1;
        }
        size_t off = 1;
        int rc = em_etf_decode(body, n, &off, NULL, ctl);
        if (rc == 0 && off < n)
            rc = em_etf_decode(body, n, &off, NULL, msg);
        if (rc == 0 && off != n)
            rc = -1;
        free(body);
        return rc < 0 ? -1 : 0;
    }
}

/* A pid and a reference of the peer's node `node` (creation 77, as
 * peer_dial's handshake says). */
static inline em_term peer_pid(const char *node, uint32_t id)
{
    return em_pid(em_atom(node), id, 0, 77);
}

static inline em_term peer_ref(const char *node, uint32_t w0, size_t nwords)
{
    uint32_t w[5] = {w0, 11, 22, 33, 44};
    return em_ref(em_atom(node), 77, w, nwords);
}

#endif /* EM_TESTS_PEERTEST_H */
