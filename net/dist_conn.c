/* dist_conn.c: connections to other nodes.
 *
 * One em__dconn per remote node (the node table is in dist_tab.c).  It is
 * created PENDING by the first send/link/monitor to that node (connect on
 * demand) or by an incoming handshake, collects frames in its out-queue
 * while pending, and turns UP when a handshake succeeds.  Then two
 * processes serve it:
 *  - the writer takes the whole out-queue at once and writes it with
 *    sendmsg (many frames per system call); when the queue is empty it waits
 *    on an eventfd that senders poke only when it is idle, with a timeout of
 *    net_ticktime/4 after which it sends a tick if nothing was written;
 *  - the reader (the process that did the handshake) reads big chunks,
 *    splits 4-byte-length packets (a big packet is read into a binary of
 *    its own: big_packet), answers ticks, parses and dispatches control
 *    messages, and declares the connection down after net_ticktime of
 *    silence (net_tick_timeout).
 * Frames are encoded in the sender's context, into the out-queue
 * (dist_out.c), so the order of one sender's frames is the order of its
 * calls.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ember/epmd.h>

#include "../runtime/poke.h"
#include "../term/term_seam.h"
#include "dist_conn.h"

/* Frames bigger than this are refused (a bad length, or a hostile peer). */
#define MAX_PACKET (1u << 30)

/* ---- the writer ---- */

/* The exit hook of a process holding a reference to connection arg
 * (the writer, the connector, the accepted side): the reference goes back
 * however the process ends; one killed at shutdown is not resumed, and
 * the writer may be killed before it ever ran. */
static void put_hook(void *arg)
{
    em__dconn_put(arg);
}

/* What a connecting process (the connector, the accepted side) owns until
 * it hands it over, given back by own_exit however the process ends (one
 * killed at shutdown in the middle of a lookup, a dial or a handshake is
 * not resumed): its reference to the entry, the lookup while it runs
 * (em_blocking's argument, which must not be on the process's stack) and
 * the socket until em__dconn_run takes it.  Given at the spawn
 * (em_spawn_opts.on_exit), so it runs even for a process killed before it
 * ran. */
typedef struct conn_own {
    em__dconn *c;     /* a reference, or NULL */
    struct lookup *l; /* NULL when none */
    int fd;           /* -1 when none, or taken by em__dconn_run */
} conn_own;

static void own_exit(void *arg)
{
    conn_own *o = arg;
    free(o->l);
    if (o->fd >= 0)
        close(o->fd);
    if (o->c)
        em__dconn_put(o->c);
    free(o);
}

/* Close the socket of o (if any) and forget it. */
static void own_close(conn_own *o)
{
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
}

/* Write a tick if the write side is free: nothing queued and no one
 * holding c->writing.  Whoever holds it (a sender's flush on another
 * thread, see dist_out.c) is writing frames, which serve as ticks, and 4
 * bytes written now could land inside one of them: the peer would read
 * garbage.  The tick is written whole, as a frame is.  Returns 0, or < 0
 * when the socket failed. */
static int tick_if_free(em__dconn *c, int64_t now)
{
    pthread_mutex_lock(&c->lock);
    bool side_free = !c->writing && c->head == NULL;
    if (side_free)
        c->writing = true;
    pthread_mutex_unlock(&c->lock);
    if (!side_free)
        return 0;
    static const uint8_t tick[4];
    size_t done = 0;
    int rc = 0;
    while (done < sizeof tick) {
        ssize_t w = send(c->wfd, tick + done, sizeof tick - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            done += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (done == 0)
                break; /* a full socket: the peer has data to read anyway */
            int r = em_wait_fd(c->wfd, EM_WRITABLE, em__nd.ticktime_ms);
            if ((r < 0 && r != EM_ETIMEDOUT) || c->state == EM__C_DEAD) {
                rc = EM_ECLOSED;
                break;
            }
        } else {
            rc = EM_ECLOSED;
            break;
        }
    }
    atomic_store_explicit(&c->last_write, now, memory_order_relaxed);
    em__oq_done(c);
    return rc;
}

static void writer_main(void *arg)
{
    em__dconn *c = arg; /* a reference of ours: put_hook gives it back */
    int64_t interval = em__nd.ticktime_ms / 4;
    if (interval < 50)
        interval = 50;
    for (;;) {
        if (c->state == EM__C_DEAD)
            break;
        em__oq_release_held(c, false);
        em__oblk *b = em__oq_take(c);
        if (b) {
            int wrc = em__oq_write_all(c, b);
            em__oq_done(c);
            if (wrc < 0) {
                em__dconn_down(c, "connection_closed");
                break;
            }
            continue;
        }
        int64_t now = em__dist_now_ms();
        if ((atomic_exchange(&c->tick_req, 0) ||
             now - atomic_load_explicit(&c->last_write, memory_order_relaxed) >= interval) &&
            tick_if_free(c, now) < 0) {
            em__dconn_down(c, "connection_closed");
            break;
        }
        atomic_store(&c->writer_idle, 1);
        pthread_mutex_lock(&c->lock);
        /* Wait when nothing is queued, and also while another thread holds
         * the write side with frames queued (a sender's flush): that one
         * pokes us as it lets go with frames left (dist_out.c, flush_one:
         * it sees writer_idle, set before this check under the lock), so
         * there is no spinning on it meanwhile. */
        bool empty = c->head == NULL;
        bool idle = (empty || c->writing) && c->state != EM__C_DEAD;
        pthread_mutex_unlock(&c->lock);
        if (idle && !atomic_load(&c->tick_req)) {
            int64_t wait = interval - (em__dist_now_ms() - atomic_load(&c->last_write));
            if (wait < 1)
                wait = 1;
            if (em_wait_fd(c->evfd, EM_READABLE, wait) == EM_ETIMEDOUT && empty)
                em__oq_trim(c); /* quiet for a while: no chunks kept */
        }
        atomic_store(&c->writer_idle, 0);
        em__poke_drain(c->evfd);
    }
}

/* ---- the reader ---- */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Handle one packet (pk: EM_NONE, or a binary holding exactly body, see
 * em__ctl_parse_cached).  0, or < 0: take the connection down. */
static int on_packet(em__dconn *c, em__ctl_cache *cache, const uint8_t *body, size_t len, em_term pk)
{
    if (len == 0) {
        /* A tick: answer it unless we wrote recently (two ember nodes
         * must not bounce ticks forever). */
        if (em__dist_now_ms() - atomic_load(&c->last_write) >= em__nd.ticktime_ms / 8) {
            atomic_store(&c->tick_req, 1);
            if (atomic_exchange(&c->writer_idle, 0))
                em__poke(c->evfd);
        }
        return 0;
    }
    em__ctl k;
    int rc = em__ctl_parse_cached(body, len, &k, cache, pk);
    if (rc == EM_EPROTO) {
        em__dist_log("Connection to node %s: garbage packet (%zu bytes, first byte %u): closed",
                     em_atom_text(c->node, NULL), len, body[0]);
        return rc;
    }
    if (rc == EM_EDEPTH) {
        em__dist_log("Connection to node %s: a message of %zu bytes nested deeper than %u levels, the limit "
                     EM__CTL_DEPTH_ENV " sets (unset it for none, as OTP): refused, closed",
                     em_atom_text(c->node, NULL), len, em__ctl_max_depth());
        return rc;
    }
    if (rc == EM_ENOMEM || rc == EM_EATOMTAB) {
        em__dist_log("Connection to node %s: a message of %zu bytes could not be decoded (%s): closed",
                     em_atom_text(c->node, NULL), len, em_strerror(rc));
        return rc;
    }
    if (rc < 0) {
        char s[204];
        em__print_head(s, sizeof s, k.ctl, EM_PRINT_W);
        em__dist_log("Invalid distribution message from node %s ignored: %s", em_atom_text(c->node, NULL), s);
        em__ctl_free(&k);
        return 0;
    }
    em__ctl_dispatch(c, &k);
    em__ctl_free(&k);
    return 0;
}

/* Read what the socket has into the two pieces of iov (the second may be
 * empty), waiting for it without blocking the scheduler.  Returns the
 * bytes read (> 0), or 0 when the connection is to go down (closed, an
 * error, net_ticktime of silence: *why says which). */
static size_t conn_read(em__dconn *c, struct iovec iov[2], const char **why)
{
    int64_t tt = em__nd.ticktime_ms;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = iov[1].iov_len ? 2 : 1};
    for (;;) {
        if (c->state == EM__C_DEAD)
            return 0;
        ssize_t r = recvmsg(c->fd, &mh, 0);
        if (r > 0) {
            atomic_store_explicit(&c->last_read, em__dist_now_ms(), memory_order_relaxed);
            return (size_t)r;
        }
        if (r == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return 0;
        int64_t silent = em__dist_now_ms() - atomic_load(&c->last_read);
        if (silent >= tt) {
            *why = "net_tick_timeout";
            em__dist_log("Connection to node %s: no data for %lld ms (net_ticktime): down",
                         em_atom_text(c->node, NULL), (long long)silent);
            return 0;
        }
        int64_t wait = tt / 4 < tt - silent ? tt / 4 : tt - silent;
        em_wait_fd(c->fd, EM_READABLE, wait < 1 ? 1 : wait);
    }
}

/* A packet of at least BIG_PACKET bytes is read into a binary of its own,
 * the part already buffered copied, the rest straight from the socket, and
 * the message's large binaries point into it: a 64 KB binary is copied by
 * the kernel only, never by ember.  Each such read also takes up to PEEK
 * bytes after the packet into the buffer, which is where the next packet's
 * length and control message are: a stream of big messages costs one
 * system call each and no user-space copy of a payload. */
#define BIG_PACKET (16u * 1024)
#define PEEK 512u

/* Read the rest of the big packet whose length n is at buf[0] (have bytes
 * buffered, fewer than 4 + n) and handle it; *have becomes what the buffer
 * holds afterwards.  0, or < 0: take the connection down (*why set). */
static int big_packet(em__dconn *c, uint8_t *buf, size_t cap, size_t *have, uint32_t n, const char **why)
{
    uint8_t *d;
    em_term pk = em__bin_uninit(n, &d);
    if (pk == EM_NONE) {
        em__dist_log("Connection to node %s: no memory for a packet of %u bytes: closed",
                     em_atom_text(c->node, NULL), n);
        return -1;
    }
    size_t got = *have - 4;
    assert(got < n && PEEK <= cap);
    memcpy(d, buf + 4, got);
    *have = 0;
    c->rpk = pk; /* the connection's while it is read: see em__dconn */
    while (got < n) {
        struct iovec iov[2] = {{d + got, n - got}, {buf, PEEK}};
        size_t r = conn_read(c, iov, why);
        if (r == 0) {
            c->rpk = EM_NONE;
            em_drop(pk);
            return -1;
        }
        if (r > n - got) {
            *have = r - (n - got);
            r = n - got;
        }
        got += r;
    }
    c->rpk = EM_NONE;
    int rc = on_packet(c, &c->rcache, d, n, pk);
    em_drop(pk); /* the message holds its own reference where it needs one */
    return rc;
}

static void reader_loop(em__dconn *c, uint8_t *buf, size_t cap, size_t have)
{
    const char *why = "connection_closed";
    for (;;) {
        /* packets in the buffer */
        size_t pos = 0;
        while (have - pos >= 4) {
            uint32_t n = get32(buf + pos);
            if (n > MAX_PACKET) {
                em__dist_log("Connection to node %s: packet length %u too large: closed",
                             em_atom_text(c->node, NULL), n);
                goto out;
            }
            if (have - pos - 4 < n)
                break;
            if (on_packet(c, &c->rcache, buf + pos + 4, n, EM_NONE) < 0)
                goto out;
            pos += 4 + (size_t)n;
        }
        if (pos) {
            memmove(buf, buf + pos, have - pos);
            have -= pos;
        }
        if (have >= 4 && get32(buf) >= BIG_PACKET) {
            if (big_packet(c, buf, cap, &have, get32(buf), &why) < 0)
                goto out;
            continue;
        }
        /* The buffer holds less than one packet, and that packet is
         * smaller than BIG_PACKET <= cap: it fits. */
        struct iovec iov[2] = {{buf + have, cap - have}, {NULL, 0}};
        size_t r = conn_read(c, iov, &why);
        if (r == 0)
            goto out;
        have += r;
    }
out:
    em__ctl_cache_clear(&c->rcache);
    em__dconn_down(c, why);
}

/* The reader's exit hook.  Normally the connection is already down; if
 * the reader was killed (runtime shutdown), only close the socket: the
 * hook runs on a scheduler's stack and must not notify processes. */
static void conn_exit_hook(void *arg)
{
    em__dconn *c = arg;
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
    if (c->evfd >= 0)
        em__poke(c->evfd);
    em__dconn_put(c);
}

void em__dconn_run(em__dconn *c, int fd, uint8_t *left, size_t nleft, uint64_t flags,
                   uint32_t peer_creation)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    size_t cap = 256 * 1024;
    if (nleft > cap)
        cap = nleft;
    uint8_t *buf = malloc(cap);
    int wfd = dup(fd);
    int evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (buf && nleft)
        memcpy(buf, left, nleft);
    free(left);
    if (buf == NULL || wfd < 0 || evfd < 0) {
        free(buf);
        if (wfd >= 0)
            close(wfd);
        if (evfd >= 0)
            close(evfd);
        close(fd);
        em__dconn_down(c, "connection_closed");
        return;
    }
    /* The buffer belongs to the connection (freed with it), not to this
     * process's stack: a process killed at shutdown is not resumed. */
    c->rbuf = buf;
    pthread_mutex_lock(&c->lock);
    bool dead = c->state == EM__C_DEAD;
    if (!dead) {
        c->fd = fd;
        c->wfd = wfd;
        c->evfd = evfd;
        c->flags = flags;
        c->peer_creation = peer_creation;
        c->state = EM__C_UP;
        c->reader = em_self();
        int64_t now = em__dist_now_ms();
        atomic_store(&c->last_read, now);
        atomic_store(&c->last_write, now);
    }
    pthread_mutex_unlock(&c->lock);
    if (dead) {
        close(fd);
        close(wfd);
        close(evfd);
        return;
    }
    atomic_fetch_add(&c->refs, 1); /* the writer's, given back by put_hook */
    em_spawn_opts wo = {.on_exit = put_hook};
    c->writer = em_spawn_opt(writer_main, c, &wo);
    if (c->writer == EM_NONE) {
        em__dconn_put(c);
        em__dconn_down(c, "connection_closed");
        return;
    }
    atomic_fetch_add(&c->refs, 1); /* the exit hook's */
    if (em_on_exit(conn_exit_hook, c) < 0) {
        em__dconn_put(c);
        em__dconn_down(c, "connection_closed");
        return;
    }
    em__dconn_unbar(c->node, true); /* up: the failure episode is over */
    em__node_event(c->node, true, true);
    reader_loop(c, buf, cap, nleft);
}

/* ---- setting up: the connector and the accepted side ---- */

typedef struct lookup {
    char alive[EM__NODE_NAME_MAX + 1];
    char host[EM__NODE_NAME_MAX + 1];
    char ip[64];
    int epmd_port, port;
} lookup;

/* Whether `host` is this machine's host name (as gethostname() says, or
 * its first label), case aside. */
static bool own_host(const char *host)
{
    char h[256];
    if (gethostname(h, sizeof h) < 0)
        return false;
    h[sizeof h - 1] = '\0';
    if (strcasecmp(host, h) == 0)
        return true;
    char *dot = strchr(h, '.');
    if (dot)
        *dot = '\0';
    return strcasecmp(host, h) == 0;
}

/* Runs on em_blocking's threads: resolve the host, ask its port mapper.
 * An inet6 node resolves as erl's inet6_tcp does: IPv6 addresses only
 * (no IPv4-mapped ones), and its own host name is ::1 when nothing says
 * otherwise (inet:gethostbyname_self, erl's last resort). */
static int do_lookup(void *arg)
{
    lookup *l = arg;
    int family = em__nd.inet6 ? AF_INET6 : AF_INET;
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(l->host, NULL, &hints, &res) == 0 && res != NULL) {
        const void *a = family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                                           : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
        inet_ntop(family, a, l->ip, sizeof l->ip);
        freeaddrinfo(res);
    } else if (family == AF_INET6 && own_host(l->host)) {
        if (res)
            freeaddrinfo(res);
        snprintf(l->ip, sizeof l->ip, "::1");
    } else {
        if (res)
            freeaddrinfo(res);
        return EM_ENOTFOUND;
    }
    em_epmd_node_info info;
    int rc = em_epmd_port_please(l->ip, l->alive, l->epmd_port, em__nd.setup_ms, &info);
    if (rc < 0)
        return rc;
    if (info.high_version < 6) /* OTP 25 speaks 6; older only 5 */
        return EM_ENOTSUP;
    l->port = info.port;
    return 0;
}

/* Whether h is an address of this node's family (erl's parse_address
 * of inet_tcp or inet6_tcp). */
static bool is_own_family_ip(const char *h)
{
    struct in6_addr a;
    return inet_pton(em__nd.inet6 ? AF_INET6 : AF_INET, h, &a) == 1;
}

/* Whether this node may dial `host` (OTP's long/short rules; ember also
 * dials localhost with long names). */
static bool host_dialable(const char *host)
{
    bool dot = strchr(host, '.') != NULL;
    if (em__nd.longnames)
        return dot || is_own_family_ip(host) || strcmp(host, "localhost") == 0;
    return !dot;
}

/* ip: an address of this node's family, as do_lookup wrote it.  The
 * socket is in o->fd from its creation (own_exit closes it if the process
 * is killed in the wait); on failure it is closed and o->fd is -1.
 * Returns 0 or an EM_E* code. */
static int dial(conn_own *o, const char *ip, int port, int64_t timeout)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (em__nd.inet6) {
        struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, ip, &sa->sin6_addr);
        sl = sizeof *sa;
    } else {
        struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
        sa->sin_family = AF_INET;
        sa->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, ip, &sa->sin_addr);
        sl = sizeof *sa;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return EM_EIO;
    o->fd = fd;
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
        if (errno != EINPROGRESS) {
            own_close(o);
            return EM_ECONNREFUSED;
        }
        if (em_wait_fd(fd, EM_WRITABLE, timeout) < 0) {
            own_close(o);
            return EM_ETIMEDOUT;
        }
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            own_close(o);
            return EM_ECONNREFUSED;
        }
    }
    return 0;
}

/* The attempt `me` failed for `err` (an EM_E* code, what em_node_connect
 * returns): em__dconn_fail (logged once per episode). */
__attribute__((format(printf, 4, 5))) static void connector_fail(em__dconn *c, uint64_t me, int err,
                                                                 const char *fmt, ...)
{
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    em__dconn_fail(c, me, err, line);
}

/* The initiator's answer to 'alive': whether this attempt still owns the
 * pending entry (an accepted simultaneous attempt may have taken it). */
typedef struct conn_attempt {
    em__dconn *c;
    uint64_t me;
} conn_attempt;

static bool still_pending(void *ud)
{
    conn_attempt *at = ud;
    pthread_mutex_lock(&at->c->lock);
    bool yes = at->c->owner == at->me && at->c->state == EM__C_PENDING;
    pthread_mutex_unlock(&at->c->lock);
    return yes;
}

static void dist_connector(void *arg)
{
    conn_own *o = arg; /* own_exit gives back what it holds */
    em__dconn *c = o->c;
    pthread_mutex_lock(&c->lock);
    uint64_t me = c->owner;
    pthread_mutex_unlock(&c->lock);
    const char *name = em_atom_text(c->node, NULL);
    const char *at = strchr(name, '@');
    lookup *l = o->l = calloc(1, sizeof *l);
    if (l == NULL || at == NULL || (size_t)(at - name) > EM__NODE_NAME_MAX) {
        connector_fail(c, me, l == NULL ? EM_ENOMEM : EM_EINVAL, "bad node name");
        return;
    }
    memcpy(l->alive, name, (size_t)(at - name));
    snprintf(l->host, sizeof l->host, "%s", at + 1);
    l->epmd_port = em__nd.epmd_port;
    if (!host_dialable(l->host)) {
        connector_fail(c, me, EM_EINVAL,
                       "System %s running to use fully qualified hostnames; hostname %.200s is illegal",
                       em__nd.longnames ? "" : "NOT", l->host);
        return;
    }
    int rc = em_blocking(do_lookup, l);
    if (rc < 0) {
        connector_fail(c, me, rc, "port mapper lookup of %.200s: %s", l->alive, em_strerror(rc));
        return;
    }
    rc = dial(o, l->ip, l->port, em__nd.setup_ms);
    if (rc < 0) {
        connector_fail(c, me, rc, "connect to %s: %s", l->ip, em_strerror(rc));
        return;
    }
    free(l); /* the connector goes on as the connection's reader */
    o->l = NULL;
    int fd = o->fd;
    em__hs hs;
    em__hs_init(&hs, EM__HS_INITIATOR, em__nd.name_s, em__nd.flags, em__nd.creation, em__nd.cookie);
    hs.dialled = name;
    conn_attempt att = {c, me};
    hs.pending_cb = still_pending;
    hs.ud = &att;
    uint8_t *left;
    size_t nleft;
    rc = em__hs_run(&hs, fd, em__nd.setup_ms, &left, &nleft);
    if (rc == EM_ECANCELED) {
        /* nok: the peer's own attempt to reach us wins; wait for it. */
        own_close(o);
        int64_t until = em__dist_now_ms() + em__nd.setup_ms * 2;
        while (em__dist_now_ms() < until) {
            pthread_mutex_lock(&c->lock);
            bool settled = c->state != EM__C_PENDING || c->owner != me;
            pthread_mutex_unlock(&c->lock);
            if (settled)
                break;
            em_sleep(20);
        }
        connector_fail(c, me, EM_EIO, "simultaneous connect did not complete");
        return;
    }
    if (rc != EM__HS_DONE) {
        own_close(o);
        connector_fail(c, me, rc == EM_EAUTH || rc == EM_ETIMEDOUT ? rc : EM_EIO, "%s",
                       hs.why[0] ? hs.why : "handshake failed");
        return;
    }
    pthread_mutex_lock(&c->lock);
    bool mine = c->owner == me && c->state == EM__C_PENDING;
    pthread_mutex_unlock(&c->lock);
    if (!mine) { /* the accepted side took over (ok_simultaneous) */
        own_close(o);
        free(left);
        return;
    }
    c->peer_published = (hs.peer_flags & EM__DF_PUBLISHED) != 0;
    o->fd = -1; /* the connection's from here on */
    em__dconn_run(c, fd, left, nleft, em__nd.flags & hs.peer_flags, hs.peer_creation);
}

/* status_cb of an accepted handshake: the node table decides. */
typedef struct acc_ctx {
    conn_own *o; /* o->c: the entry we attach to (a reference), set by status */
    uint64_t me;
} acc_ctx;

static int acc_status(void *ud, const char *peer, size_t len)
{
    acc_ctx *a = ud;
    em_term node;
    if (em_atom_new(peer, len, &node) < 0)
        return EM__HS_ST_NOT_ALLOWED;
    if (node == em__nd.name)
        return EM__HS_ST_NOT_ALLOWED;
    bool created = false;
    em__dconn *c = em__dconn_get(node, true, &created);
    if (c == NULL)
        return EM__HS_ST_NOT_ALLOWED;
    int st;
    pthread_mutex_lock(&c->lock);
    if (created) {
        c->owner = a->me;
        st = EM__HS_ST_OK;
    } else if (c->state == EM__C_PENDING) {
        /* We are dialling it too: the greater name wins (net_kernel). */
        if (strcmp(em__nd.name_s, em_atom_text(node, NULL)) > 0) {
            st = EM__HS_ST_NOK;
        } else {
            c->owner = a->me;
            st = EM__HS_ST_OK_SIMULTANEOUS;
        }
    } else {
        st = EM__HS_ST_ALIVE;
    }
    pthread_mutex_unlock(&c->lock);
    if (st == EM__HS_ST_NOK || st == EM__HS_ST_OK_SIMULTANEOUS)
        em__dist_log("Simultaneous connect with node %s: %s", em_atom_text(node, NULL),
                     st == EM__HS_ST_NOK ? "ours goes on, theirs is refused (nok)"
                                         : "theirs goes on, ours is given up (ok_simultaneous)");
    if (st == EM__HS_ST_NOK) {
        em__dconn_put(c);
        return st;
    }
    /* The reference is this process's from here on, given back by its
     * exit hook (own_exit) however it ends. */
    a->o->c = c;
    return st;
}

/* The accepted side's process: arg is its conn_own (the socket in fd),
 * given back by own_exit. */
static void dist_accepted(void *arg)
{
    conn_own *o = arg;
    int fd = o->fd;
    /* On this process's stack: the handshake runs here, not on another
     * thread (em_blocking's rule does not apply). */
    acc_ctx a = {.o = o, .me = em__next_owner()};
    em__hs hs;
    em__hs_init(&hs, EM__HS_ACCEPTOR, em__nd.name_s, em__nd.flags, em__nd.creation, em__nd.cookie);
    hs.status_cb = acc_status;
    hs.ud = &a;
    uint8_t *left;
    size_t nleft;
    int rc = em__hs_run(&hs, fd, em__nd.setup_ms, &left, &nleft);
    em__dconn *c = o->c;
    uint64_t me = a.me;
    if (rc != EM__HS_DONE) {
        if (rc != EM_ECANCELED)
            em__dist_log("%s%s%s", hs.why[0] ? hs.why : "handshake failed",
                         hs.peer_name_len ? " -- peer " : "", hs.peer_name);
        own_close(o);
        if (c) {
            /* An entry this attempt created or took over (ok_simultaneous)
             * must not stay pending: nobody else will bring it up. */
            pthread_mutex_lock(&c->lock);
            bool mine = c->owner == me && c->state == EM__C_PENDING;
            pthread_mutex_unlock(&c->lock);
            if (mine)
                em__dconn_down(c, "connection_closed");
        }
        return;
    }
    if (c == NULL) {
        own_close(o);
        free(left);
        return;
    }
    if (c->state == EM__C_UP) {
        /* 'alive' answered true: the old connection is dead; replace it. */
        em__dconn_down(c, "wait_pending");
        em_term node = em_atom(hs.peer_name);
        bool created = false;
        c = em__dconn_get(node, true, &created);
        em__dconn_put(o->c); /* the old entry's: done with it */
        o->c = c;
        if (c == NULL) {
            own_close(o);
            free(left);
            return;
        }
    }
    pthread_mutex_lock(&c->lock);
    c->owner = em__next_owner();
    pthread_mutex_unlock(&c->lock);
    c->peer_published = (hs.peer_flags & EM__DF_PUBLISHED) != 0;
    o->fd = -1; /* the connection's from here on */
    em__dconn_run(c, fd, left, nleft, em__nd.flags & hs.peer_flags, hs.peer_creation);
}

/* A conn_own holding reference c (may be NULL) and socket fd, or NULL. */
static conn_own *own_new(em__dconn *c, int fd)
{
    conn_own *o = calloc(1, sizeof *o);
    if (o) {
        o->c = c;
        o->fd = fd;
    }
    return o;
}

int em__dist_connector_spawn(em__dconn *c)
{
    conn_own *o = own_new(c, -1);
    em_spawn_opts co = {.on_exit = own_exit};
    if (o == NULL || em_spawn_opt(dist_connector, o, &co) == EM_NONE) {
        free(o);
        em__dconn_put(c);
        em__dconn_down(c, "connection_closed");
        return EM_ENOMEM;
    }
    return 0;
}

int em__dist_accept_spawn(int fd)
{
    conn_own *o = own_new(NULL, fd);
    em_spawn_opts so = {.on_exit = own_exit};
    if (o == NULL || em_spawn_opt(dist_accepted, o, &so) == EM_NONE) {
        free(o);
        close(fd);
        return EM_ENOMEM;
    }
    return 0;
}

em__dconn *em__dconn_for(em_term node, bool *barred)
{
    *barred = false;
    if (node == em__nd.name)
        return NULL;
    bool created = false;
    em__dconn *c = em__dconn_dial(node, &created, barred);
    if (c == NULL || !created)
        return c;
    /* c->owner was set as it was created (an accepted attempt may take it
     * over from now on) */
    atomic_fetch_add(&c->refs, 1); /* the connector's */
    em__dist_connector_spawn(c);
    return c;
}
