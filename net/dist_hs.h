/* dist_hs.h: the distribution handshake (dist_handshake.c) and the small
 * helpers of the protocol it needs.  Private to ember (net/, tests,
 * fuzzers).
 *
 * The private headers of net/ are in levels, lowest first; a file includes
 * its own header and lower ones, never a higher one, and a header declares
 * only what files of its level implement:
 *
 *   dist_hs.h    the handshake           dist_handshake.c (md5.h, MD5;
 *                                        cookie.h, the cookie file; log.h,
 *                                        log lines: leaves beside it)
 *   dist_tab.h   the connection object   dist_tab.c (the node table: one
 *                                        em__dconn per node, its lifetime,
 *                                        back-off, going down, node
 *                                        monitoring; em__nd), dist_out.c
 *                                        (its out-queue and writing it)
 *   dist_ctl.h   incoming control        dist_ctl.c (parse a packet,
 *                messages                dispatch it into the runtime)
 *   dist_conn.h  a connection's          dist_conn.c (connect, accept,
 *                processes               the reader, the writer)
 *   dist_int.h   the node                node.c (em_node_start/stop, the
 *                                        acceptor), dist_ops.c (outgoing
 *                                        control messages: the runtime's
 *                                        ops), net_kernel.c
 *
 * The runtime is below all of them: net/ reaches it through its public
 * headers and the seam, runtime/remote.h.  docs/dist.md follows a message
 * through these files.
 */
#ifndef EM_NET_DIST_HS_H
#define EM_NET_DIST_HS_H

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
#define EM__DF_ALTACT_SIG (1ULL << 37)
/* OTP 25's mandatory set (0x01070F94) and OTP 26's (adds UNLINK_ID, V4_NC). */
#define EM__DF_MANDATORY_25 0x01070F94ULL
#define EM__DF_MANDATORY_26 (EM__DF_MANDATORY_25 | EM__DF_UNLINK_ID | EM__DF_V4_NC)
/* What ember offers: the 26 set, the 25 digest bit, monitors by pid and
 * name, SEND_SENDER and EXIT_PAYLOAD (both forms are handled as received),
 * aliases (ALIAS_SEND both ways), SPAWN (spawn requests: spawn/4, rpc and
 * erpc into exported C functions).  No header/fragment/atom-cache flags:
 * pass-through framing only.  Not ALTACT_SIG (OTP 28's ALIAS_SEND and
 * more: parsed when received, never sent). */
#define EM__DF_MINE                                                                               \
    (EM__DF_MANDATORY_26 | EM__DF_MANDATORY_25_DIGEST | EM__DF_DIST_MONITOR |                    \
     EM__DF_DIST_MONITOR_NAME | EM__DF_SEND_SENDER | EM__DF_EXIT_PAYLOAD | EM__DF_ALIAS |    \
     EM__DF_SPAWN)

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
/* The monotonic clock in milliseconds (the protocol's timeouts). */
int64_t em__dist_now_ms(void);

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
/* Handshake over a socket: runs hs to completion on fd (non-blocking),
 * each step within setup_ms, waiting with em_wait_fd (process context).
 * Leftover bytes read past the last message go to *left and *nleft
 * (malloc'd or NULL).  Returns EM__HS_DONE or a negative error. */
int em__hs_run(em__hs *hs, int fd, int setup_ms, uint8_t **left, size_t *nleft);

#endif /* EM_NET_DIST_HS_H */
