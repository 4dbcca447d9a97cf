/* epmd_srv.c: ember's port mapper daemon, one event loop over epoll.
 *
 * All state lives in one em_epmd_srv.  A connection is in one of three
 * states: READING a request, WRITING the rest of a reply that did not fit
 * the socket buffer in one send(), or REGISTERED (a successful ALIVE2; its
 * node stays registered exactly as long as the connection).  READING and
 * WRITING connections sit on the `idle` list, ordered by deadline (the
 * timeout is the same for all, so appending keeps the order); the loop
 * closes those whose deadline passed, which bounds what a client that
 * connects and never writes (or never reads) can hold.
 *
 * Nodes live in one hash table keyed by name, registered or remembered
 * (unregistered names are kept, up to unreg_max, so that a node that comes
 * back gets a new creation number).  Every socket is non-blocking: nothing
 * one client does can stall the loop. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/poke.h"
#include "epmd_proto.h"
#include "epmd_srv.h"
#include "log.h"

#define MAX_LISTEN 16           /* as epmd */
#define DEFAULT_TIMEOUT_MS 60000 /* epmd's CLOSE_TIMEOUT */
#define DEFAULT_UNREG_MAX 1000  /* epmd's MAX_UNREG_COUNT */
#define DEBUG_UNREG_MAX 5       /* epmd's DEBUG_MAX_UNREG_COUNT */
#define ACCEPT_BATCH 64         /* accepts per wake-up, for fairness */
#define EVENT_BATCH 256

enum ev_kind { EV_LISTEN, EV_WAKE, EV_CONN };
enum conn_state { C_READING, C_WRITING, C_REGISTERED };

struct node;

/* The first member of everything registered with epoll, so an event's
 * data.ptr tells what it is. */
struct ev {
    enum ev_kind kind;
    int fd;
};

struct conn {
    struct ev ev;
    enum conn_state state;
    bool in_epoll;
    bool closed;         /* closed, waiting on the dead list */
    struct conn *prev;   /* idle list (READING/WRITING only) */
    struct conn *next;
    int64_t deadline;    /* monotonic ms */
    uint8_t *in;         /* partial request, EM__EPMD_INBUF bytes, or NULL */
    size_t in_len;
    uint8_t *out;        /* rest of a reply not yet written, or NULL */
    size_t out_len;
    size_t out_off;
    struct node *node;   /* REGISTERED: the node this connection holds */
};

struct node {
    struct node *hnext;  /* hash chain */
    struct node *prev;   /* reg list (newest first) or unreg FIFO */
    struct node *next;
    struct conn *conn;   /* registration, NULL once unregistered */
    int fd;              /* the registration's fd (DUMP shows it) */
    uint32_t cr;         /* creation counter */
    uint32_t hash;
    em_epmd_node_info info;
};

struct list {
    struct node *head;
    struct node *tail;
    size_t count;
};

struct em_epmd_srv {
    int ep;                      /* epoll instance */
    struct ev wake;              /* eventfd for em_epmd_srv_stop */
    struct ev listen[MAX_LISTEN];
    int nlisten;
    int port;
    int spare_fd;                /* reserved fd, released on EMFILE */
    bool relaxed;
    int debug;
    int timeout_ms;
    size_t max_conns;
    size_t unreg_max;
    int sndbuf;
    em_epmd_log_fn *log;
    void *log_ud;
    bool ran;
    int result;                  /* what run returns once `done` */
    bool done;
    atomic_bool stop;

    struct conn *dead;           /* closed during this batch of events */
    struct conn *idle_head;      /* READING/WRITING, by deadline */
    struct conn *idle_tail;
    struct node **table;         /* hash table of every known name */
    size_t table_size;           /* power of two */
    struct list reg;             /* registered, newest first */
    struct list unreg;           /* remembered, oldest first */
    em_buf out;                  /* reply being built */
    uint8_t scratch[EM__EPMD_INBUF];

    atomic_size_t st_conns;
    atomic_size_t st_nodes;
    atomic_size_t st_unreg;
    atomic_uint_fast64_t st_accepted;
    atomic_uint_fast64_t st_requests;
    atomic_uint_fast64_t st_timeouts;
    atomic_uint_fast64_t st_rejected;
};

/* ---------------------------------------------------------------- log */

void em_epmd_srv_log_stderr(void *ud, int level, const char *line)
{
    (void)ud;
    (void)level;
    time_t now = time(NULL);
    char head[48];
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(head, sizeof head, "ember-epmd: %a %b %e %H:%M:%S %Y:", &tm);
    em__log_line(head, "%s", line);
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static void srv_log(const em_epmd_srv *s, int level, const char *fmt, ...)
{
    if (level > s->debug)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->log(s->log_ud, level, line);
}

/* Names come from the network: print them escaped and shortened. */
static const char *printable(const char *name, char *buf, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; name[i] != '\0' && j + 5 < cap; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 32 && c < 127)
            buf[j++] = (char)c;
        else
            j += (size_t)snprintf(buf + j, cap - j, "\\x%02x", c);
    }
    buf[j] = '\0';
    return buf;
}

/* --------------------------------------------------------------- time */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------- nodes */

static uint32_t name_hash(const char *name, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)name[i];
        h *= 16777619u;
    }
    return h;
}

static struct node *node_find(em_epmd_srv *s, const uint8_t *name, size_t len)
{
    uint32_t h = name_hash((const char *)name, len);
    for (struct node *n = s->table[h & (s->table_size - 1)]; n; n = n->hnext)
        if (n->hash == h && strlen(n->info.name) == len &&
            memcmp(n->info.name, name, len) == 0)
            return n;
    return NULL;
}

static int table_grow(em_epmd_srv *s)
{
    size_t nsize = s->table_size * 2;
    struct node **nt = calloc(nsize, sizeof *nt);
    if (nt == NULL)
        return EM_ENOMEM;
    for (size_t i = 0; i < s->table_size; i++) {
        struct node *n = s->table[i];
        while (n) {
            struct node *next = n->hnext;
            n->hnext = nt[n->hash & (nsize - 1)];
            nt[n->hash & (nsize - 1)] = n;
            n = next;
        }
    }
    free(s->table);
    s->table = nt;
    s->table_size = nsize;
    return 0;
}

static void table_remove(em_epmd_srv *s, struct node *n)
{
    struct node **pp = &s->table[n->hash & (s->table_size - 1)];
    while (*pp != n) {
        assert(*pp != NULL);
        pp = &(*pp)->hnext;
    }
    *pp = n->hnext;
}

static void list_push_front(struct list *l, struct node *n)
{
    n->prev = NULL;
    n->next = l->head;
    if (l->head)
        l->head->prev = n;
    else
        l->tail = n;
    l->head = n;
    l->count++;
}

static void list_push_back(struct list *l, struct node *n)
{
    n->next = NULL;
    n->prev = l->tail;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
    l->count++;
}

static void list_remove(struct list *l, struct node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
    assert(l->count > 0);
    l->count--;
}

static void update_node_stats(em_epmd_srv *s)
{
    atomic_store_explicit(&s->st_nodes, s->reg.count, memory_order_relaxed);
    atomic_store_explicit(&s->st_unreg, s->unreg.count, memory_order_relaxed);
}

static uint32_t creation_of(const struct node *n)
{
    /* A v5 node can only hold a 2-bit creation (1..3). */
    return n->info.high_version >= 6 ? n->cr : n->cr % 3 + 1;
}

static void bump_creation(struct node *n)
{
    /* 0 is reserved and 1..3 are what v5 nodes use: skip them on wrap. */
    if (++n->cr < 4)
        n->cr = 4;
}

/* Move a registered node to the remembered FIFO (its connection is being
 * closed by the caller), forgetting the oldest names beyond unreg_max. */
static void node_unregister(em_epmd_srv *s, struct node *n)
{
    char pn[80];
    assert(n->conn != NULL);
    srv_log(s, 1, "unregistering '%s:%u', port %u",
            printable(n->info.name, pn, sizeof pn), creation_of(n),
            n->info.port);
    list_remove(&s->reg, n);
    n->conn->node = NULL;
    n->conn = NULL;
    list_push_back(&s->unreg, n);
    while (s->unreg.count > s->unreg_max) {
        struct node *old = s->unreg.head;
        list_remove(&s->unreg, old);
        table_remove(s, old);
        free(old);
    }
    update_node_stats(s);
}

/* Register the ALIVE2 in `req` for connection `c`.  Returns the node, or
 * NULL if the name is taken or memory ran out (the caller replies with an
 * error either way, as epmd does). */
static struct node *node_register(em_epmd_srv *s, struct conn *c,
                                  const em__epmd_req *req)
{
    char pn[80];
    struct node *n = node_find(s, req->name, req->name_len);
    if (n != NULL && n->conn != NULL) {
        srv_log(s, 0, "node name already occupied %s",
                printable(n->info.name, pn, sizeof pn));
        return NULL;
    }
    if (n != NULL) {
        srv_log(s, 1, "reusing slot with same name '%s'",
                printable(n->info.name, pn, sizeof pn));
        list_remove(&s->unreg, n);
        bump_creation(n);
    } else {
        if (s->reg.count + s->unreg.count >= s->table_size &&
            table_grow(s) != 0) {
            srv_log(s, 0, "out of memory registering a node");
            return NULL;
        }
        n = calloc(1, sizeof *n);
        if (n == NULL) {
            srv_log(s, 0, "out of memory registering a node");
            return NULL;
        }
        memcpy(n->info.name, req->name, req->name_len);
        n->info.name[req->name_len] = '\0';
        n->hash = name_hash(n->info.name, req->name_len);
        n->hnext = s->table[n->hash & (s->table_size - 1)];
        s->table[n->hash & (s->table_size - 1)] = n;
        /* Creation starts from the clock, so a restarted port mapper
         * does not hand out the creations of the previous one again. */
        n->cr = (uint32_t)time(NULL);
        bump_creation(n);
    }
    n->info.port = req->port;
    n->info.node_type = req->node_type;
    n->info.protocol = req->protocol;
    n->info.high_version = req->high;
    n->info.low_version = req->low;
    n->info.extra_len = (uint16_t)req->extra_len;
    memcpy(n->info.extra, req->extra, req->extra_len);
    n->conn = c;
    n->fd = c->ev.fd;
    c->node = n;
    list_push_front(&s->reg, n);
    update_node_stats(s);
    srv_log(s, 1, "registering '%s:%u', port %u", n->info.name[0] ?
            printable(n->info.name, pn, sizeof pn) : "", creation_of(n),
            n->info.port);
    srv_log(s, 1, "type %u proto %u highvsn %u lowvsn %u", n->info.node_type,
            n->info.protocol, n->info.high_version, n->info.low_version);
    return n;
}

/* ------------------------------------------------------- connections */

static void idle_unlink(em_epmd_srv *s, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (s->idle_head == c)
        s->idle_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else if (s->idle_tail == c)
        s->idle_tail = c->prev;
    c->prev = c->next = NULL;
}

static void idle_append(em_epmd_srv *s, struct conn *c)
{
    c->deadline = now_ms() + s->timeout_ms;
    c->next = NULL;
    c->prev = s->idle_tail;
    if (s->idle_tail)
        s->idle_tail->next = c;
    else
        s->idle_head = c;
    s->idle_tail = c;
}

/* Close c.  It is freed only after the current batch of events, since a
 * STOP can close a registration whose event is later in the same batch. */
static void conn_close(em_epmd_srv *s, struct conn *c)
{
    assert(!c->closed);
    if (c->node)
        node_unregister(s, c->node);
    if (c->state != C_REGISTERED)
        idle_unlink(s, c);
    /* close() drops the fd from the epoll set: no EPOLL_CTL_DEL needed. */
    close(c->ev.fd);
    c->ev.fd = -1;
    c->closed = true;
    free(c->in);
    c->in = NULL;
    free(c->out);
    c->out = NULL;
    c->next = s->dead;
    s->dead = c;
    atomic_fetch_sub_explicit(&s->st_conns, 1, memory_order_relaxed);
}

static void free_dead(em_epmd_srv *s)
{
    while (s->dead) {
        struct conn *c = s->dead;
        s->dead = c->next;
        free(c);
    }
}

static int epoll_set(em_epmd_srv *s, struct conn *c, uint32_t events)
{
    struct epoll_event e = {.events = events, .data.ptr = c};
    int op = c->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(s->ep, op, c->ev.fd, &e) != 0) {
        srv_log(s, 0, "epoll_ctl on fd %d failed: %s", c->ev.fd,
                strerror(errno));
        return EM_EIO;
    }
    c->in_epoll = true;
    return 0;
}

/* Send the reply in s->out on c; close c once all of it is written.
 * Returns true if c was closed. */
static bool send_reply_and_close(em_epmd_srv *s, struct conn *c)
{
    const uint8_t *p = s->out.data;
    size_t len = s->out.len;
    /* MSG_MORE holds the segment back until close() below, which then
     * sends the reply and the FIN in one segment: the client gets its
     * answer and the end of it in one wake-up, as OTP's erl_epmd waits for
     * both. */
    ssize_t n = len ? send(c->ev.fd, p, len, MSG_NOSIGNAL | MSG_MORE) : 0;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        srv_log(s, 1, "error in write on fd %d: %s", c->ev.fd,
                strerror(errno));
        conn_close(s, c);
        return true;
    }
    if (n < 0)
        n = 0;
    if ((size_t)n == len) {
        conn_close(s, c);
        return true;
    }
    /* A big NAMES/DUMP reply to a client that does not read: keep the rest
     * and wait for the socket to drain, bounded by the idle deadline. */
    c->out = malloc(len - (size_t)n);
    if (c->out == NULL) {
        srv_log(s, 0, "out of memory buffering a reply");
        conn_close(s, c);
        return true;
    }
    memcpy(c->out, p + n, len - (size_t)n);
    c->out_len = len - (size_t)n;
    c->out_off = 0;
    c->state = C_WRITING;
    idle_unlink(s, c);
    idle_append(s, c);
    if (epoll_set(s, c, EPOLLOUT) != 0) {
        conn_close(s, c);
        return true;
    }
    return false;
}

static void on_writable(em_epmd_srv *s, struct conn *c)
{
    assert(c->state == C_WRITING);
    ssize_t n = send(c->ev.fd, c->out + c->out_off, c->out_len - c->out_off,
                     MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        srv_log(s, 1, "error in write on fd %d: %s", c->ev.fd,
                strerror(errno));
        conn_close(s, c);
        return;
    }
    c->out_off += (size_t)n;
    if (c->out_off == c->out_len)
        conn_close(s, c);
}

static int out_str(em_epmd_srv *s, const char *str, size_t n)
{
    return em_buf_append(&s->out, str, n);
}

static int out_u32(em_epmd_srv *s, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                    (uint8_t)v};
    return em_buf_append(&s->out, b, 4);
}

static int build_names(em_epmd_srv *s)
{
    char tail[32];
    int rc = out_u32(s, (uint32_t)s->port);
    for (struct node *n = s->reg.head; n && rc == 0; n = n->next) {
        int t = snprintf(tail, sizeof tail, " at port %u\n", n->info.port);
        rc = out_str(s, "name ", 5);
        if (rc == 0)
            rc = out_str(s, n->info.name, strlen(n->info.name));
        if (rc == 0)
            rc = out_str(s, tail, (size_t)t);
    }
    return rc;
}

static int build_dump(em_epmd_srv *s)
{
    char tail[64];
    int rc = out_u32(s, (uint32_t)s->port);
    /* The text (and the NUL ending every line) is what epmd -dump prints. */
    for (struct node *n = s->reg.head; n && rc == 0; n = n->next) {
        int t = snprintf(tail, sizeof tail, "> at port %u, fd = %d\n",
                         n->info.port, n->fd);
        rc = out_str(s, "active name     <", 17);
        if (rc == 0)
            rc = out_str(s, n->info.name, strlen(n->info.name));
        if (rc == 0)
            rc = out_str(s, tail, (size_t)t + 1);
    }
    for (struct node *n = s->unreg.head; n && rc == 0; n = n->next) {
        int t = snprintf(tail, sizeof tail, ">, port = %u, fd = %d \n",
                         n->info.port, n->fd);
        rc = out_str(s, "old/unused name <", 17);
        if (rc == 0)
            rc = out_str(s, n->info.name, strlen(n->info.name));
        if (rc == 0)
            rc = out_str(s, tail, (size_t)t + 1);
    }
    return rc;
}

static bool peer_is_local(int fd)
{
    struct sockaddr_storage peer, self;
    socklen_t pl = sizeof peer, sl = sizeof self;
    if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0)
        return false;
    if (peer.ss_family == AF_INET) {
        const struct sockaddr_in *p = (const struct sockaddr_in *)&peer;
        if ((ntohl(p->sin_addr.s_addr) & 0xFF000000u) == 0x7F000000u)
            return true;
    } else if (peer.ss_family == AF_INET6) {
        const struct sockaddr_in6 *p = (const struct sockaddr_in6 *)&peer;
        if (IN6_IS_ADDR_LOOPBACK(&p->sin6_addr))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(&p->sin6_addr) &&
            p->sin6_addr.s6_addr[12] == 127)
            return true;
    } else {
        return false;
    }
    /* A peer connecting from one of this host's own addresses. */
    if (getsockname(fd, (struct sockaddr *)&self, &sl) != 0 ||
        self.ss_family != peer.ss_family)
        return false;
    if (peer.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&peer)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)&self)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)&peer)->sin6_addr,
                  &((const struct sockaddr_in6 *)&self)->sin6_addr,
                  sizeof(struct in6_addr)) == 0;
}

static void reject(em_epmd_srv *s, struct conn *c)
{
    atomic_fetch_add_explicit(&s->st_rejected, 1, memory_order_relaxed);
    conn_close(s, c);
}

/* Handle the complete request body[0..len) on c.  Always ends with c
 * closed, registered, or writing its reply. */
static void handle_request(em_epmd_srv *s, struct conn *c,
                           const uint8_t *body, size_t len)
{
    em__epmd_req req;
    char pn[80];
    atomic_fetch_add_explicit(&s->st_requests, 1, memory_order_relaxed);
    s->out.len = 0;
    int rc = em__epmd_parse_req(body, len, &req);
    if (rc == EM_ENOTSUP) {
        srv_log(s, 0, "got garbage (request tag %u) on fd %d, closing",
                body[0], c->ev.fd);
        reject(s, c);
        return;
    }
    if (rc != 0) {
        srv_log(s, 0, "malformed request '%c' (%zu bytes) on fd %d, closing",
                body[0] >= 32 && body[0] < 127 ? body[0] : '?', len,
                c->ev.fd);
        reject(s, c);
        return;
    }
    bool local_only = req.tag == EM__EPMD_ALIVE2_REQ ||
                      req.tag == EM__EPMD_DUMP_REQ ||
                      req.tag == EM__EPMD_KILL_REQ ||
                      req.tag == EM__EPMD_STOP_REQ;
    /* Checked only when it matters: lookups, the bulk of the traffic, are
     * served to anyone and need no getpeername/getsockname. */
    if (local_only && !peer_is_local(c->ev.fd)) {
        srv_log(s, 0, "request '%c' from non local address, closing",
                req.tag);
        reject(s, c);
        return;
    }
    switch (req.tag) {
    case EM__EPMD_ALIVE2_REQ: {
        srv_log(s, 1, "** got ALIVE2_REQ");
        uint8_t resp[6];
        struct node *n = NULL;
        if (em__epmd_alive2_valid(&req) != 0) {
            srv_log(s, 0, "invalid node name in ALIVE2_REQ (%zu bytes, too "
                          "long or not UTF-8), refused", req.name_len);
        } else {
            n = node_register(s, c, &req);
        }
        size_t rl = em__epmd_put_alive2_resp(resp, n ? 0 : 1,
                                             n ? creation_of(n) : 99,
                                             req.high);
        ssize_t w = send(c->ev.fd, resp, rl, MSG_NOSIGNAL);
        if (n == NULL || w != (ssize_t)rl) {
            if (n != NULL)
                srv_log(s, 1, "failed to send ALIVE2 reply to fd %d",
                        c->ev.fd);
            conn_close(s, c); /* unregisters n if it was registered */
            return;
        }
        c->state = C_REGISTERED;
        idle_unlink(s, c);
        free(c->in);
        c->in = NULL;
        c->in_len = 0;
        if (epoll_set(s, c, EPOLLIN | EPOLLRDHUP) != 0)
            conn_close(s, c);
        return;
    }
    case EM__EPMD_PORT2_REQ: {
        struct node *n = node_find(s, req.name, req.name_len);
        if (n != NULL && n->conn == NULL)
            n = NULL;
        if (em_buf_reserve(&s->out, EM__EPMD_PORT2_RESP_MAX) != 0) {
            reject(s, c);
            return;
        }
        s->out.len = em__epmd_put_port2_resp(s->out.data, n ? &n->info : NULL);
        if (s->debug >= 1) {
            char nm[EM_EPMD_NAME_MAX + 1];
            memcpy(nm, req.name, req.name_len);
            nm[req.name_len] = '\0';
            srv_log(s, 1, "** got PORT2_REQ for \"%s\": %s",
                    printable(nm, pn, sizeof pn), n ? "found" : "not found");
        }
        break;
    }
    case EM__EPMD_NAMES_REQ:
        srv_log(s, 1, "** got NAMES_REQ");
        if (build_names(s) != 0) {
            srv_log(s, 0, "out of memory building NAMES reply");
            reject(s, c);
            return;
        }
        break;
    case EM__EPMD_DUMP_REQ:
        srv_log(s, 1, "** got DUMP_REQ");
        if (build_dump(s) != 0) {
            srv_log(s, 0, "out of memory building DUMP reply");
            reject(s, c);
            return;
        }
        break;
    case EM__EPMD_KILL_REQ:
        srv_log(s, 1, "** got KILL_REQ");
        if (!s->relaxed && s->reg.count > 0) {
            srv_log(s, 0, "Disallowed KILL_REQ, live nodes");
            out_str(s, "NO", 2);
            break;
        }
        out_str(s, "OK", 2);
        send_reply_and_close(s, c);
        srv_log(s, 0, "got KILL_REQ - terminates normal");
        s->done = true;
        s->result = 1;
        return;
    case EM__EPMD_STOP_REQ: {
        srv_log(s, 1, "** got STOP_REQ");
        if (!s->relaxed) {
            srv_log(s, 0, "Disallowed STOP_REQ, no relaxed_command_check");
            reject(s, c);
            return;
        }
        struct node *n = node_find(s, req.name, req.name_len);
        if (n != NULL && n->conn != NULL) {
            conn_close(s, n->conn); /* unregisters n */
        } else {
            /* OTP 25's epmd writes NOEXIST and then STOPPED as well. */
            out_str(s, "NOEXIST", 7);
        }
        if (out_str(s, "STOPPED", 7) != 0) {
            reject(s, c);
            return;
        }
        break;
    }
    default:
        assert(!"parser accepted an unknown tag");
        reject(s, c);
        return;
    }
    send_reply_and_close(s, c);
}

/* Read what is there on a READING connection and act on a complete
 * request. */
static void on_readable(em_epmd_srv *s, struct conn *c)
{
    if (c->state == C_REGISTERED) {
        /* epmd never expects anything more on a registration: EOF, an
         * error or any byte ends it. */
        uint8_t b[64];
        ssize_t n = recv(c->ev.fd, b, sizeof b, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n > 0)
            srv_log(s, 1, "got more than expected on ALIVE socket %d (%zd)",
                    c->ev.fd, n);
        else if (n < 0)
            srv_log(s, 1, "error on ALIVE socket %d: %s", c->ev.fd,
                    strerror(errno));
        conn_close(s, c);
        return;
    }
    if (c->state == C_WRITING) {
        /* Input while we write: the request was complete, so this is a
         * misbehaving client; drop the connection. */
        conn_close(s, c);
        return;
    }
    uint8_t *buf = c->in ? c->in : s->scratch;
    ssize_t n = recv(c->ev.fd, buf + c->in_len, EM__EPMD_INBUF - c->in_len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            if (!c->in_epoll && epoll_set(s, c, EPOLLIN) != 0)
                conn_close(s, c);
            return;
        }
        srv_log(s, 1, "error in read on fd %d: %s", c->ev.fd, strerror(errno));
        conn_close(s, c);
        return;
    }
    if (n == 0) {
        if (c->in_len > 0)
            srv_log(s, 0, "got partial packet only on fd %d (%zu bytes)",
                    c->ev.fd, c->in_len);
        conn_close(s, c);
        return;
    }
    size_t have = c->in_len + (size_t)n;
    size_t want;
    int f = em__epmd_frame(buf, have, &want);
    if (f < 0) {
        srv_log(s, 0, "invalid packet on fd %d (length %zu, got %zu bytes), "
                      "closing", c->ev.fd, have >= 2 ? want : 0, have);
        reject(s, c);
        return;
    }
    if (f > 0) {
        handle_request(s, c, buf + 2, (size_t)f - 2);
        return;
    }
    /* Incomplete: keep the bytes in a buffer of the connection's own.  The
     * deadline is not extended, so trickling bytes can not hold it open
     * past the timeout. */
    if (c->in == NULL) {
        c->in = malloc(EM__EPMD_INBUF);
        if (c->in == NULL) {
            srv_log(s, 0, "out of memory reading a request");
            conn_close(s, c);
            return;
        }
        memcpy(c->in, s->scratch, have);
    }
    c->in_len = have;
    if (!c->in_epoll && epoll_set(s, c, EPOLLIN) != 0)
        conn_close(s, c);
}

static void on_accept(em_epmd_srv *s, struct ev *l)
{
    for (int i = 0; i < ACCEPT_BATCH && !s->done; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if ((errno == EMFILE || errno == ENFILE) && s->spare_fd >= 0) {
                /* Out of descriptors: free the spare one to accept and
                 * drop the connection, so the listen queue does not
                 * keep the loop spinning. */
                srv_log(s, 0, "too many open files, dropping a connection");
                close(s->spare_fd);
                fd = accept(l->fd, NULL, NULL);
                if (fd >= 0)
                    close(fd);
                s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                return;
            }
            srv_log(s, 0, "error in accept: %s", strerror(errno));
            return;
        }
        atomic_fetch_add_explicit(&s->st_accepted, 1, memory_order_relaxed);
        size_t open_now =
            atomic_load_explicit(&s->st_conns, memory_order_relaxed);
        if (open_now >= s->max_conns) {
            srv_log(s, 0, "failed opening connection on fd %d: %zu open", fd,
                    open_now);
            close(fd);
            continue;
        }
        if (s->sndbuf > 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &s->sndbuf, sizeof s->sndbuf);
        struct conn *c = calloc(1, sizeof *c);
        if (c == NULL) {
            srv_log(s, 0, "out of memory accepting a connection");
            close(fd);
            continue;
        }
        c->ev.kind = EV_CONN;
        c->ev.fd = fd;
        c->state = C_READING;
        atomic_fetch_add_explicit(&s->st_conns, 1, memory_order_relaxed);
        idle_append(s, c);
        srv_log(s, 2, "peer connected on fd %d", fd);
        /* Clients write their request right after connecting, so it is
         * often here already: try it now and save two epoll_ctl calls. */
        on_readable(s, c);
    }
}

static void expire_idle(em_epmd_srv *s)
{
    int64_t now = now_ms();
    while (s->idle_head && s->idle_head->deadline <= now) {
        struct conn *c = s->idle_head;
        srv_log(s, 1, "closing fd %d because timed out on %s", c->ev.fd,
                c->state == C_WRITING ? "send" : "receive");
        atomic_fetch_add_explicit(&s->st_timeouts, 1, memory_order_relaxed);
        conn_close(s, c);
    }
}

/* ------------------------------------------------------------ setup */

void em_epmd_srv_opts_init(em_epmd_srv_opts *o)
{
    memset(o, 0, sizeof *o);
    o->port = EM_EPMD_PORT;
}

/* Bind and listen on one address; returns the fd or a negative EM code. */
static int open_listener(em_epmd_srv *s, const struct sockaddr *sa,
                         socklen_t salen, bool quiet_v6)
{
    char abuf[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, abuf,
                  sizeof abuf);
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
                  abuf, sizeof abuf);
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (fd < 0) {
        if (quiet_v6)
            return EM_ENOTSUP;
        srv_log(s, 0, "error opening stream socket: %s", strerror(errno));
        return EM_EIO;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, sa, salen) != 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE) {
            srv_log(s, 1, "there is already a epmd running at port %d on "
                          "ipaddr %s", s->port, abuf);
            return EM_EEXIST;
        }
        if (quiet_v6 && (e == EADDRNOTAVAIL || e == EAFNOSUPPORT))
            return EM_ENOTSUP;
        srv_log(s, 0, "failed to bind socket on %s port %d: %s", abuf,
                s->port, strerror(e));
        return EM_EIO;
    }
    if (listen(fd, SOMAXCONN) != 0) {
        srv_log(s, 0, "failed to listen on socket: %s", strerror(errno));
        close(fd);
        return EM_EIO;
    }
    return fd;
}

static int add_listener(em_epmd_srv *s, int fd)
{
    assert(s->nlisten < MAX_LISTEN);
    struct ev *l = &s->listen[s->nlisten++];
    l->kind = EV_LISTEN;
    l->fd = fd;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = l};
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &e) != 0)
        return EM_EIO;
    return 0;
}

/* The port a listener got (for port 0). */
static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int listen_one(em_epmd_srv *s, int family, const void *addr,
                      bool quiet_v6)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)s->port);
        memcpy(&a->sin_addr, addr, sizeof a->sin_addr);
        sl = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)s->port);
        memcpy(&a->sin6_addr, addr, sizeof a->sin6_addr);
        sl = sizeof *a;
    }
    int fd = open_listener(s, (struct sockaddr *)&ss, sl, quiet_v6);
    if (fd < 0)
        return fd;
    if (s->port == 0)
        s->port = bound_port(fd); /* later listeners share the port */
    if (add_listener(s, fd) != 0) {
        close(fd);
        return EM_EIO;
    }
    return 0;
}

static int setup_listeners(em_epmd_srv *s, const char *addresses)
{
    if (addresses == NULL || addresses[strspn(addresses, " ,")] == '\0') {
        struct in_addr any4 = {.s_addr = htonl(INADDR_ANY)};
        int rc = listen_one(s, AF_INET, &any4, false);
        if (rc < 0)
            return rc;
        /* IPv6 where the host has it (epmd's CLI tries ::1 first). */
        rc = listen_one(s, AF_INET6, &in6addr_any, true);
        return rc == EM_ENOTSUP ? 0 : rc;
    }
    char *copy = strdup(addresses);
    if (copy == NULL)
        return EM_ENOMEM;
    /* OTP nodes register over 127.0.0.1 (and ::1 for inet6), and epmd's
     * command line connects to ::1 then 127.0.0.1: the loopback addresses
     * are always added, as epmd does. */
    bool have_lo4 = false, have_lo6 = false;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", ", &save); tok && rc == 0;
         tok = strtok_r(NULL, ", ", &save)) {
        struct in_addr a4;
        struct in6_addr a6;
        if (s->nlisten >= MAX_LISTEN - 2) {
            srv_log(s, 0, "cannot listen on more than %d IP addresses",
                    MAX_LISTEN);
            rc = EM_EINVAL;
        } else if (inet_pton(AF_INET, tok, &a4) == 1) {
            if (ntohl(a4.s_addr) == INADDR_LOOPBACK)
                have_lo4 = true;
            rc = listen_one(s, AF_INET, &a4, false);
        } else if (inet_pton(AF_INET6, tok, &a6) == 1) {
            if (IN6_IS_ADDR_LOOPBACK(&a6))
                have_lo6 = true;
            rc = listen_one(s, AF_INET6, &a6, false);
        } else {
            srv_log(s, 0, "cannot parse IP address \"%s\"", tok);
            rc = EM_EINVAL;
        }
    }
    free(copy);
    if (rc == 0 && !have_lo4) {
        struct in_addr lo = {.s_addr = htonl(INADDR_LOOPBACK)};
        rc = listen_one(s, AF_INET, &lo, false);
    }
    if (rc == 0 && !have_lo6) {
        rc = listen_one(s, AF_INET6, &in6addr_loopback, true);
        if (rc == EM_ENOTSUP)
            rc = 0; /* no IPv6 here */
    }
    return rc;
}

int em_epmd_srv_create(const em_epmd_srv_opts *o, em_epmd_srv **out)
{
    *out = NULL;
    if (o == NULL || o->port < 0 || o->port > 65535 || o->debug < 0)
        return EM_EINVAL;
    em_epmd_srv *s = calloc(1, sizeof *s);
    if (s == NULL)
        return EM_ENOMEM;
    s->ep = -1;
    s->wake.fd = -1;
    s->spare_fd = -1;
    s->port = o->port;
    s->relaxed = o->relaxed != 0;
    s->debug = o->debug;
    s->timeout_ms = o->packet_timeout_ms > 0 ? o->packet_timeout_ms
                                             : DEFAULT_TIMEOUT_MS;
    s->unreg_max = o->unreg_max > 0 ? (size_t)o->unreg_max
                   : o->debug > 0  ? DEBUG_UNREG_MAX
                                   : DEFAULT_UNREG_MAX;
    s->sndbuf = o->sndbuf > 0 ? o->sndbuf : 0;
    s->log = o->log ? o->log : em_epmd_srv_log_stderr;
    s->log_ud = o->log_ud;
    if (o->max_conns > 0) {
        s->max_conns = (size_t)o->max_conns;
    } else {
        struct rlimit rl;
        rlim_t lim = 1024;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
            lim = rl.rlim_cur;
        /* Leave room for listeners, epoll, stdio and the spare fd. */
        s->max_conns = lim > 64 ? (size_t)(lim - 32) : 32;
    }
    s->table_size = 64;
    s->table = calloc(s->table_size, sizeof *s->table);
    int rc = EM_ENOMEM;
    if (s->table == NULL)
        goto fail;
    rc = EM_EIO;
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    if (s->ep < 0)
        goto fail;
    s->wake.kind = EV_WAKE;
    s->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->wake.fd < 0)
        goto fail;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &s->wake};
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->wake.fd, &e) != 0)
        goto fail;
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    srv_log(s, 2, "try to initiate listening port %d", s->port);
    rc = setup_listeners(s, o->addresses);
    if (rc < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    em_epmd_srv_destroy(s);
    return rc;
}

int em_epmd_srv_port(const em_epmd_srv *s)
{
    return s->port;
}

void em_epmd_srv_stop(em_epmd_srv *s)
{
    atomic_store(&s->stop, true);
    em__poke(s->wake.fd);
}

static void close_all(em_epmd_srv *s)
{
    while (s->idle_head)
        conn_close(s, s->idle_head);
    while (s->reg.head)
        conn_close(s, s->reg.head->conn);
}

int em_epmd_srv_run(em_epmd_srv *s)
{
    if (s->ran)
        return EM_ESTATE;
    s->ran = true;
    struct epoll_event evs[EVENT_BATCH];
    srv_log(s, 2, "entering the main loop");
    while (!s->done && !atomic_load(&s->stop)) {
        int timeout = -1;
        if (s->idle_head) {
            int64_t d = s->idle_head->deadline - now_ms();
            timeout = d < 0 ? 0 : d > 60000 ? 60000 : (int)d + 1;
        }
        int n = epoll_wait(s->ep, evs, EVENT_BATCH, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            srv_log(s, 0, "error in epoll_wait: %s", strerror(errno));
            s->result = EM_EIO;
            break;
        }
        for (int i = 0; i < n && !s->done; i++) {
            struct ev *ev = evs[i].data.ptr;
            switch (ev->kind) {
            case EV_LISTEN:
                on_accept(s, ev);
                break;
            case EV_WAKE:
                break; /* the loop condition sees `stop` */
            case EV_CONN: {
                struct conn *c = (struct conn *)ev;
                if (c->closed)
                    break; /* closed by an earlier event (STOP) */
                if (evs[i].events & EPOLLOUT)
                    on_writable(s, c);
                else
                    on_readable(s, c);
                break;
            }
            }
        }
        free_dead(s);
        expire_idle(s);
        free_dead(s);
    }
    close_all(s);
    free_dead(s);
    return s->result;
}

void em_epmd_srv_destroy(em_epmd_srv *s)
{
    if (s == NULL)
        return;
    close_all(s);
    free_dead(s);
    for (int i = 0; i < s->nlisten; i++)
        close(s->listen[i].fd);
    while (s->unreg.head) {
        struct node *n = s->unreg.head;
        list_remove(&s->unreg, n);
        free(n);
    }
    if (s->wake.fd >= 0)
        close(s->wake.fd);
    if (s->ep >= 0)
        close(s->ep);
    if (s->spare_fd >= 0)
        close(s->spare_fd);
    free(s->table);
    em_buf_free(&s->out);
    free(s);
}

void em_epmd_srv_stats_get(const em_epmd_srv *s, em_epmd_srv_stats *o)
{
    em_epmd_srv *m = (em_epmd_srv *)s; /* atomics are read-only here */
    o->conns = atomic_load_explicit(&m->st_conns, memory_order_relaxed);
    o->nodes = atomic_load_explicit(&m->st_nodes, memory_order_relaxed);
    o->unreg = atomic_load_explicit(&m->st_unreg, memory_order_relaxed);
    o->accepted = atomic_load_explicit(&m->st_accepted, memory_order_relaxed);
    o->requests = atomic_load_explicit(&m->st_requests, memory_order_relaxed);
    o->timeouts = atomic_load_explicit(&m->st_timeouts, memory_order_relaxed);
    o->rejected = atomic_load_explicit(&m->st_rejected, memory_order_relaxed);
}
