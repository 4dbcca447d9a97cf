/* dist_tab.h: a connection to another node (em__dconn), the node table
 * that holds one per node (dist_tab.c), and its out-queue (dist_out.c);
 * the node's configuration (em__nd) and log.  Private to ember (net/,
 * tests, fuzzers).  The level above the handshake: see dist_hs.h.
 */
#ifndef EM_NET_DIST_TAB_H
#define EM_NET_DIST_TAB_H

#include <pthread.h>
#include <stdatomic.h>

#include "dist_hs.h"

/* The last control message a connection's reader decoded, with its bytes:
 * a stream from one sender to one destination repeats the same control
 * tuple in every packet, and bytes equal to a term's encoding decode to
 * that term, so it is reused instead of decoded (a tuple, a pid, two atoms
 * looked up in the atom table, per message).  Reader-only: no lock.
 * Filled by the parser (dist_ctl.h); defined here because the
 * connection holds it, and drops it when it is freed. */
#define EM__CTL_CACHE_MAX 128
typedef struct em__ctl_cache {
    size_t len;                          /* 0: empty */
    em_term ctl;
    uint8_t bytes[EM__CTL_CACHE_MAX];    /* its encoding, version byte included */
} em__ctl_cache;

/* ---- connections ---- */

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
    _Atomic int state;        /* written under lock; read without it as a peek
                                 (the writer, the reader, write_all) */
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
    bool peer_published;      /* the peer's own PUBLISHED flag (flags has
                                 it only if both sides do): set before
                                 UP, read after (pg.c discovers such nodes) */
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

/* The node's configuration and state: set by em_node_start (node.c),
 * defined in dist_tab.c. */
typedef struct em__node {
    bool up;
    em_term name;             /* atom */
    char name_s[EM__NODE_NAME_MAX + 1];
    char cookie[256];
    bool longnames, quiet;
    bool inet6;               /* -proto_dist inet6_tcp: listen and dial IPv6 */
    uint64_t flags;
    uint32_t creation;
    int ticktime_ms, setup_ms, epmd_port, listen_port, lfd;
    em_term acceptor, net_kernel, rex, user, global;
    void *epmd_reg;
} em__node;
extern em__node em__nd;

/* One log line on stderr, "=ember dist <node>= <message>" (log.h); nothing
 * when the node was started quiet. */
void em__dist_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same line for a node not started yet, named `name` ("" for none:
 * "-"), written whatever em__nd says (em_node_start's own errors). */
void em__dist_log_as(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the node table (dist_tab.c) ---- */
em__dconn *em__dconn_get(em_term node, bool create, bool *created); /* +1 ref */
void em__dconn_put(em__dconn *c);                                    /* -1 ref */
/* Whether node has a connection that is up (never dials). */
bool em__dconn_is_up(em_term node);
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
 * (an episode ends when a connection to the node comes up).  `err` (an
 * EM_E* code) and `why` are kept with the node's back-off record for
 * em__dconn_last_fail. */
void em__dconn_fail(em__dconn *c, uint64_t owner, int err, const char *why);
/* The last failed attempt to node while its record lasts (until a
 * connection to it comes up): returns its EM_E* code and copies its reason
 * to why (whylen > 0; truncated, NUL-terminated), or returns 0 when there
 * is no record. */
int em__dconn_last_fail(em_term node, char *why, size_t whylen);
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
/* Subscribe pid to node events: node's nodedown (monitor_node), or with
 * node EM_NONE every nodeup and nodedown (monitor_nodes); 0 or EM_ENOMEM.
 * Unsubscribe one such subscription, or with all every one of pid for
 * node. */
int em__node_sub_add(em_term pid, em_term node);
void em__node_sub_del(em_term pid, em_term node, bool all);
/* A number naming a connection attempt (em__dconn.owner). */
uint64_t em__next_owner(void);
/* Take every connection down and forget the back-off (em_node_stop). */
void em__dconn_down_all(void);
/* The nodes with a connection up (a new list): all of them (em_nodes), or
 * with visible only those whose connection is visible, both sides
 * PUBLISHED (Erlang's nodes/0: [] on a hidden node). */
em_term em__dconn_nodes(bool visible);

/* ---- the out-queue (dist_out.c) ---- */
/* Queue a frame (ctl, msg: borrowed; msg EM_NONE for none) on c.
 * Returns 0, EM_ECLOSED (c is dead), EM_ENOMEM, EM_ETOOBIG. */
int em__dconn_queue(em__dconn *c, em_term ctl, em_term msg);
/* The remote ops' flush (runtime/remote.h): write what the running process
 * queued on the connection conn and drop the reference its deferral took;
 * called as that process stops running; never waits. */
void em__dconn_flush(void *conn);
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
 * EM__QUEUE_LOW or the connection goes down (em__oq_release_held), or
 * when a signal comes for it: it takes that after its send returns, so a
 * kill never ends it in the middle of a send. */
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

#endif /* EM_NET_DIST_TAB_H */
