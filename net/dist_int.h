/* dist_int.h: what the files of the distribution layer share.  Private to
 * ember (net/dist_*.c, net/node.c, net/net_kernel.c, tests, fuzzers).
 *
 * The layout, following a message (docs/dist.md):
 *   node.c        names, cookies, the node table (one em__dconn per remote
 *                 node), em_node_start, the acceptor, node monitoring;
 *   dist_handshake.c  the handshake as a state machine without I/O
 *                 (em__hs_*), plus the loop that drives it over a socket;
 *   dist_conn.c   connections: connect on demand, the out-queue, the
 *                 writer (writev, ticks) and the reader (framing, ticks,
 *                 liveness);
 *   dist_ctl.c    incoming control messages: parsing a packet
 *                 (em__ctl_parse, no side effects), dispatching it into
 *                 the runtime through its seam (runtime/remote.h);
 *   dist_ops.c    outgoing control messages: the runtime's ops (remote.h);
 *   net_kernel.c  the registered net_kernel (is_auth) and em_node_ping.
 */
#ifndef EM_NET_DIST_INT_H
#define EM_NET_DIST_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ember/common.h>
#include <ember/dist.h>
#include <ember/etf.h>
#include <ember/runtime.h>
#include <ember/term.h>

/* ---- distribution flags (erl_dist_protocol, "Distribution Flags") ---- */
#define EM__DF_PUBLISHED 0x1ULL
#define EM__DF_EXTENDED_REFERENCES 0x4ULL
#define EM__DF_DIST_MONITOR 0x8ULL
#define EM__DF_FUN_TAGS 0x10ULL
#define EM__DF_DIST_MONITOR_NAME 0x20ULL
#define EM__DF_NEW_FUN_TAGS 0x80ULL
#define EM__DF_EXTENDED_PIDS_PORTS 0x100ULL
#define EM__DF_EXPORT_PTR_TAG 0x200ULL
#define EM__DF_BIT_BINARIES 0x400ULL
#define EM__DF_NEW_FLOATS 0x800ULL
#define EM__DF_DIST_HDR_ATOM_CACHE 0x2000ULL
#define EM__DF_UTF8_ATOMS 0x10000ULL
#define EM__DF_MAP_TAG 0x20000ULL
#define EM__DF_BIG_CREATION 0x40000ULL
#define EM__DF_SEND_SENDER 0x80000ULL
#define EM__DF_EXIT_PAYLOAD 0x400000ULL
#define EM__DF_FRAGMENTS 0x800000ULL
#define EM__DF_HANDSHAKE_23 0x1000000ULL
#define EM__DF_UNLINK_ID 0x2000000ULL
#define EM__DF_MANDATORY_25_DIGEST 0x4000000ULL
#define EM__DF_SPAWN (1ULL << 32)
#define EM__DF_NAME_ME (1ULL << 33)
#define EM__DF_V4_NC (1ULL << 34)
#define EM__DF_ALIAS (1ULL << 35)
/* OTP 25's mandatory set (0x01070F94) and OTP 26's (adds UNLINK_ID, V4_NC). */
#define EM__DF_MANDATORY_25 0x01070F94ULL
#define EM__DF_MANDATORY_26 (EM__DF_MANDATORY_25 | EM__DF_UNLINK_ID | EM__DF_V4_NC)
/* What ember offers: the 26 set, the 25 digest bit, monitors by pid and
 * name, SEND_SENDER and EXIT_PAYLOAD (both forms are handled as received).
 * No header/fragment/atom-cache flags: pass-through framing only. */
#define EM__DF_MINE                                                                               \
    (EM__DF_MANDATORY_26 | EM__DF_MANDATORY_25_DIGEST | EM__DF_DIST_MONITOR |                    \
     EM__DF_DIST_MONITOR_NAME | EM__DF_SEND_SENDER | EM__DF_EXIT_PAYLOAD)

/* The digest: MD5(cookie ++ decimal(challenge)). */
void em__dist_digest(const char *cookie, uint32_t challenge, uint8_t out[16]);
/* Constant-time comparison of n bytes: true when equal. */
bool em__ct_equal(const uint8_t *a, const uint8_t *b, size_t n);
/* A 32-bit random number from getrandom (/dev/urandom as fallback). */
uint32_t em__dist_random32(void);
/* MANDATORY_25_DIGEST stands for the whole 25 set. */
uint64_t em__dist_expand_flags(uint64_t flags);
/* Whether a node name is alive@host with non-empty parts and one '@'. */
bool em__dist_name_ok(const char *name, size_t len);

/* ---- the handshake state machine (dist_handshake.c) ----
 * Feed it the bodies of handshake messages (without their 2-byte length);
 * it appends what to send, framed with the 2-byte length, to `out`. */
enum { EM__HS_INITIATOR = 1, EM__HS_ACCEPTOR };
/* Acceptor status answers (status_cb's results). */
enum { EM__HS_ST_OK = 1, EM__HS_ST_OK_SIMULTANEOUS, EM__HS_ST_NOK, EM__HS_ST_NOT_ALLOWED,
       EM__HS_ST_ALIVE };
/* em__hs_step results besides negative errors. */
enum { EM__HS_CONT = 0, EM__HS_DONE = 1 };

#define EM__NODE_NAME_MAX 1024 /* bytes of alive@host (255 chars UTF-8 + '@' + host) */

typedef struct em__hs {
    int role, state;
    uint64_t my_flags;
    uint32_t my_creation;
    uint32_t my_challenge;          /* set by em__hs_init; tests may override */
    const char *my_name;            /* full name, borrowed */
    const char *cookie;             /* borrowed */
    const char *dialled;            /* initiator: the name dialled, borrowed */
    /* acceptor: decides the status for a peer name (the node table) */
    int (*status_cb)(void *ud, const char *peer, size_t len);
    /* initiator: answer to an 'alive' status -- whether this attempt is
     * still the node's pending connection (net_kernel's is_pending): true
     * replaces the peer's old connection, false gives this attempt up.
     * NULL answers true. */
    bool (*pending_cb)(void *ud);
    void *ud;
    /* results */
    uint64_t peer_flags;            /* expanded; the connection's flags are
                                       my_flags & peer_flags */
    uint32_t peer_creation;
    int peer_version;               /* 6, or 5 for an old 'n' */
    char peer_name[EM__NODE_NAME_MAX + 1];
    size_t peer_name_len;
    char why[160];                  /* the reason of a failure, for the log */
} em__hs;

void em__hs_init(em__hs *hs, int role, const char *my_name, uint64_t my_flags, uint32_t my_creation,
                 const char *cookie);
/* Initiator: append send_name.  Acceptor: nothing.  0 or EM_ENOMEM. */
int em__hs_start(em__hs *hs, em_buf *out);
/* Feed one message body.  Returns EM__HS_CONT, EM__HS_DONE (the handshake
 * succeeded; `out` may hold a last message to send), or a negative error
 * (EM_EPROTO malformed or unexpected, EM_EAUTH bad digest, EM_ECONNREFUSED
 * refused by status, EM_ENOTSUP missing flags, EM_ECANCELED the peer's
 * status was nok: another connection is being set up) -- `out` may then
 * hold a status to send before closing; hs->why says what happened. */
int em__hs_step(em__hs *hs, const uint8_t *msg, size_t len, em_buf *out);

/* ---- control messages (dist_ctl.c) ---- */
enum {
    EM__OP_LINK = 1, EM__OP_SEND = 2, EM__OP_EXIT = 3, EM__OP_UNLINK = 4, EM__OP_NODE_LINK = 5,
    EM__OP_REG_SEND = 6, EM__OP_GROUP_LEADER = 7, EM__OP_EXIT2 = 8, EM__OP_SEND_TT = 12,
    EM__OP_EXIT_TT = 13, EM__OP_REG_SEND_TT = 16, EM__OP_EXIT2_TT = 18, EM__OP_MONITOR_P = 19,
    EM__OP_DEMONITOR_P = 20, EM__OP_MONITOR_P_EXIT = 21, EM__OP_SEND_SENDER = 22,
    EM__OP_SEND_SENDER_TT = 23, EM__OP_PAYLOAD_EXIT = 24, EM__OP_PAYLOAD_EXIT_TT = 25,
    EM__OP_PAYLOAD_EXIT2 = 26, EM__OP_PAYLOAD_EXIT2_TT = 27, EM__OP_PAYLOAD_MONITOR_P_EXIT = 28,
    EM__OP_SPAWN_REQUEST = 29, EM__OP_SPAWN_REQUEST_TT = 30, EM__OP_SPAWN_REPLY = 31,
    EM__OP_SPAWN_REPLY_TT = 32, EM__OP_ALIAS_SEND = 33, EM__OP_ALIAS_SEND_TT = 34,
    EM__OP_UNLINK_ID = 35, EM__OP_UNLINK_ID_ACK = 36
};

/* What a packet asks for, normalised (old, _TT and PAYLOAD_ forms map to
 * the same action).  All terms are owned by the struct (em__ctl_free). */
enum { EM__ACT_NONE = 0, EM__ACT_SEND, EM__ACT_REG_SEND, EM__ACT_LINK, EM__ACT_UNLINK,
       EM__ACT_UNLINK_ID, EM__ACT_UNLINK_ID_ACK, EM__ACT_EXIT, EM__ACT_EXIT2, EM__ACT_MONITOR,
       EM__ACT_DEMONITOR, EM__ACT_DOWN, EM__ACT_IGNORE };
typedef struct em__ctl {
    int op;          /* the wire op */
    int act;         /* EM__ACT_* */
    em_term ctl;     /* the control tuple */
    em_term from, to, ref, reason, msg, id; /* borrowed from ctl/msg, or EM_NONE */
} em__ctl;

/* em__ctl_parse: one packet body after the 4-byte length (non-empty).
 * Returns 0 and *c filled (act EM__ACT_IGNORE for valid messages ember
 * does not act on), EM_EPROTO for bytes that are not a pass-through packet
 * or do not decode (the connection must go down: OTP drops it too),
 * EM_EBADARG for a well-formed control message with an unknown op or a
 * bad shape (log it and go on).  c->ctl is set whenever it decoded.
 * Terms that may be valid but are refused for a lack of resources (the
 * connection goes down too, with a log line saying so, not "garbage"):
 * EM_EDEPTH (nested deeper than em__ctl_max_depth()), EM_ENOMEM,
 * EM_EATOMTAB (the atom table is full).
 * No side effects besides allocation. */
int em__ctl_parse(const uint8_t *body, size_t len, em__ctl *c);
void em__ctl_free(em__ctl *c);

/* The guard against hostile peers on a message's nesting depth: the
 * environment variable EMBER_DIST_MAX_DEPTH (read once), a number of
 * levels; unset, 0 or not a number: no limit (0 returned), as OTP, which
 * has none.  A message nested deeper is refused before its term is built
 * (EM_EDEPTH from em__ctl_parse).  Thread: any. */
#define EM__CTL_DEPTH_ENV "EMBER_DIST_MAX_DEPTH"
unsigned em__ctl_max_depth(void);

/* The last control message a connection's reader decoded, with its bytes:
 * a stream from one sender to one destination repeats the same control
 * tuple in every packet, and bytes equal to a term's encoding decode to
 * that term, so it is reused instead of decoded (a tuple, a pid, two atoms
 * looked up in the atom table, per message).  Reader-only: no lock. */
#define EM__CTL_CACHE_MAX 128
typedef struct em__ctl_cache {
    size_t len;                          /* 0: empty */
    em_term ctl;
    uint8_t bytes[EM__CTL_CACHE_MAX];    /* its encoding, with the 131 */
} em__ctl_cache;
/* em__ctl_parse with a cache (updated; NULL for none).  share: EM_NONE, or
 * a binary whose bytes are exactly body[0 .. len): the message's large
 * binaries then point into it (em_etf_decode_bin) instead of being copied. */
int em__ctl_parse_cached(const uint8_t *body, size_t len, em__ctl *c, em__ctl_cache *cache,
                         em_term share);
void em__ctl_cache_clear(em__ctl_cache *cache);

/* ---- connections (dist_conn.c, the out-queue in dist_out.c) ---- */

/* The out-queue (dist_out.c) is a list of segments, each bytes to write,
 * base[off .. off+len): a run of a chunk (frames encoded packed, one after
 * the other: a stream of small messages costs neither a malloc nor an
 * iovec per message), or the bytes of a large binary inside a message,
 * written from the binary itself (hold keeps it alive): a big payload is
 * not copied before the kernel copies it. */
typedef struct em__ochunk {
    _Atomic int refs;         /* segments on it, +1 while it is being filled */
    size_t cap, used;         /* used: bytes encoded into it (lock) */
    struct em__ochunk *next;  /* in the connection's spares */
    uint8_t data[];
} em__ochunk;

typedef struct em__oblk {
    struct em__oblk *next;
    const uint8_t *base;
    size_t off, len;
    em__ochunk *chunk;        /* a run of a chunk (one reference), or NULL */
    em_term hold;             /* else the binary base points into */
} em__oblk;

enum { EM__C_PENDING = 1, EM__C_UP, EM__C_DEAD };

typedef struct em__dconn {
    _Atomic int refs;
    em_term node;             /* the peer's name (an atom) */
    pthread_mutex_t lock;     /* state, queue, owner */
    int state;
    uint64_t owner;           /* the setup attempt that may bring it up */
    em__oblk *head, *last;    /* the out-queue (lock) */
    em__ochunk *fill;         /* the chunk frames are encoded into (lock) */
    em__ochunk *spare;        /* free chunks kept for reuse (lock) */
    int nspare;
    bool writing;             /* someone is writing to the socket (lock) */
    _Atomic size_t queued;    /* bytes in the out-queue */
    uint64_t *held;           /* senders waiting for the queue to drain:
                                 em__flag tokens (lock) */
    uint32_t nheld, capheld;  /* (lock) */
    _Atomic uint32_t anyheld; /* nheld, for a look without the lock */
    _Atomic int writer_idle;  /* the writer waits on evfd */
    int fd, wfd, evfd;        /* socket, its dup for the writer, wake-up */
    uint64_t flags;           /* negotiated (AND of both sides) */
    uint32_t peer_creation;
    _Atomic int64_t last_read, last_write; /* monotonic ms */
    _Atomic int tick_req;     /* the reader asks the writer to answer a tick */
    em_term reader, writer;   /* pids */
    em_term down_reason;      /* why it went down (an atom) */
    em__ctl_cache rcache;     /* the reader's (dropped with c: a reader
                                 killed at shutdown is not resumed) */
    uint8_t *rbuf;            /* the reader's buffer */
    em_term rpk;              /* a big packet the reader is reading into
                                 (EM_NONE, or dropped with c, as rcache) */
    size_t rlen;
    _Atomic uint64_t unlink_id;
} em__dconn;

/* The node's configuration and state (node.c). */
typedef struct em__node {
    bool up;
    em_term name;             /* atom */
    char name_s[EM__NODE_NAME_MAX + 1];
    char cookie[256];
    bool longnames, quiet;
    uint64_t flags;
    uint32_t creation;
    int ticktime_ms, setup_ms, epmd_port, listen_port, lfd;
    em_term acceptor, net_kernel;
    void *epmd_reg;
} em__node;
extern em__node em__nd;

/* One log line on stderr, "=ember dist <node>= <message>" (log.h); nothing
 * when the node was started quiet. */
void em__dist_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int64_t em__dist_now_ms(void);

/* Node table (node.c). */
em__dconn *em__dconn_get(em_term node, bool create, bool *created); /* +1 ref */
void em__dconn_put(em__dconn *c);                                    /* -1 ref */
/* Take c out of the table (if it is still there), mark it dead, wake its
 * processes and tell the runtime (noconnection) and node monitors
 * (monitor_nodes subscribers only if it was UP). */
void em__dconn_down(em__dconn *c, const char *reason);

/* The redial back-off.  OTP 25 dials again on the first send after a
 * failed attempt, a port mapper lookup each time, for as long as a sender
 * in a loop keeps sending to a node that is not there; ember waits
 * this long after a failed attempt of its own before dialling that node on
 * demand again, and drops what is sent to it meanwhile (links and monitors
 * get noconnection at once, monitor_node a nodedown).  Short enough that
 * a send made a second after the node is back connects. */
#define EM__REDIAL_BACKOFF_MS 500
/* Our connection attempt `owner` failed: unless it no longer owns c (an
 * accepted attempt took it over) or c is not PENDING, take c down (no
 * nodedown to monitor_nodes subscribers: it never came up), bar the node
 * for the back-off, and log `why` if this is the episode's first failure
 * (an episode ends when a connection to the node comes up). */
void em__dconn_fail(em__dconn *c, uint64_t owner, const char *why);
/* The entry for node to send to (+1 ref): the one in the table, else a new
 * PENDING one (*created: the caller starts its connector) -- unless the
 * node is barred: then NULL and *barred.  NULL alone: no memory or no node
 * running. */
em__dconn *em__dconn_dial(em_term node, bool *created, bool *barred);
/* End the node's back-off now (forget false: an explicit connect, which
 * OTP never bars; the episode goes on), or forget the node's record
 * altogether (forget true: a connection to it came up). */
void em__dconn_unbar(em_term node, bool forget);
/* Tell node monitors: {nodeup, Node} (up) to monitor_nodes subscribers,
 * or {nodedown, Node} to monitor_node(Node) subscribers and, if all, to
 * monitor_nodes subscribers. */
void em__node_event(em_term node, bool up, bool all);
uint64_t em__next_owner(void);

/* The out-queue (dist_out.c). */
/* Queue a frame (ctl, msg: borrowed; msg EM_NONE for none) on c.
 * Returns 0, EM_ECLOSED (c is dead), EM_ENOMEM, EM_ETOOBIG. */
int em__dconn_queue(em__dconn *c, em_term ctl, em_term msg);
/* Write what the running process queued (the remote ops' flush): called
 * as it stops running; never waits. */
void em__dconn_flush(void);
/* Take the whole out-queue for writing (NULL if empty or someone is
 * writing); the caller owns the socket for writing until em__oq_done. */
em__oblk *em__oq_take(em__dconn *c);
void em__oq_done(em__dconn *c);
/* Write blocks from b on, waiting for the socket as needed; 0 or a
 * negative error.  The blocks are consumed either way. */
int em__oq_write_all(em__dconn *c, em__oblk *b);
/* Back-pressure: a sending process waits in em__oq_hold while the queue
 * holds more than EM__QUEUE_BUSY bytes (OTP's dist_buf_busy_limit is 1 MiB;
 * ember's writer coalesces more), and is woken when it drains below
 * EM__QUEUE_LOW or the connection goes down (em__oq_release_held). */
#define EM__QUEUE_BUSY (8u << 20)
#define EM__QUEUE_LOW (4u << 20)
void em__oq_hold(em__dconn *c);
/* Wake the held senders if the queue is below EM__QUEUE_LOW (or `all`). */
void em__oq_release_held(em__dconn *c, bool all);
/* Free blocks (dropping their references and their bytes from queued). */
void em__oq_drop(em__dconn *c, em__oblk *b);
/* Let go of the chunk being filled and free the spare chunks (the writer
 * after a quiet while; the connection's end). */
void em__oq_trim(em__dconn *c);
/* Connections (dist_conn.c). */
/* The connection for node, connecting on demand (spawns the connector);
 * NULL for our own node, no memory, or (*barred set) a node in its redial
 * back-off.  +1 ref. */
em__dconn *em__dconn_for(em_term node, bool *barred);
/* After a successful handshake on fd (with bytes already read: left, from
 * malloc or NULL, taken and freed before the reader starts, so that a
 * reader killed at shutdown leaks nothing): bring c up and run its reader
 * in the calling process (does not return until the connection is down). */
void em__dconn_run(em__dconn *c, int fd, uint8_t *left, size_t nleft, uint64_t flags,
                   uint32_t peer_creation);
/* The acceptor's per-connection process entry and the connector's. */
void em__dist_accepted(void *arg);   /* arg: the socket, cast to a pointer */
void em__dist_connector(void *arg);  /* arg: em__dconn * (ref owned) */

/* Handshake over a socket (dist_handshake.c): runs hs to completion on fd
 * (non-blocking), each step within setup_ms.  Leftover bytes read past the
 * last message go to *left and *nleft (malloc'd or NULL).  Returns EM__HS_DONE
 * or a negative error. */
int em__hs_run(em__hs *hs, int fd, int setup_ms, uint8_t **left, size_t *nleft);

/* Dispatch a parsed packet into the runtime (dist_ctl.c). */
void em__ctl_dispatch(em__dconn *c, em__ctl *k);
/* Install / remove the runtime's ops (dist_ops.c). */
void em__dist_ops_install(bool on);

/* net_kernel.c */
void em__net_kernel_main(void *arg);

#endif /* EM_NET_DIST_INT_H */
