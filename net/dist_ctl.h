/* dist_ctl.h: incoming control messages (dist_ctl.c): the wire's
 * operations, parsing a packet, dispatching it into the runtime.  Private
 * to ember (net/, tests, fuzzers).  The level above the connection object:
 * see dist_hs.h.
 */
#ifndef EM_NET_DIST_CTL_H
#define EM_NET_DIST_CTL_H

#include "dist_tab.h"

/* ---- the operations (erl_dist_protocol) ---- */
enum {
    EM__OP_LINK = 1, EM__OP_SEND = 2, EM__OP_EXIT = 3, EM__OP_UNLINK = 4, EM__OP_NODE_LINK = 5,
    EM__OP_REG_SEND = 6, EM__OP_GROUP_LEADER = 7, EM__OP_EXIT2 = 8, EM__OP_SEND_TT = 12,
    EM__OP_EXIT_TT = 13, EM__OP_REG_SEND_TT = 16, EM__OP_EXIT2_TT = 18, EM__OP_MONITOR_P = 19,
    EM__OP_DEMONITOR_P = 20, EM__OP_MONITOR_P_EXIT = 21, EM__OP_SEND_SENDER = 22,
    EM__OP_SEND_SENDER_TT = 23, EM__OP_PAYLOAD_EXIT = 24, EM__OP_PAYLOAD_EXIT_TT = 25,
    EM__OP_PAYLOAD_EXIT2 = 26, EM__OP_PAYLOAD_EXIT2_TT = 27, EM__OP_PAYLOAD_MONITOR_P_EXIT = 28,
    EM__OP_SPAWN_REQUEST = 29, EM__OP_SPAWN_REQUEST_TT = 30, EM__OP_SPAWN_REPLY = 31,
    EM__OP_SPAWN_REPLY_TT = 32, EM__OP_ALIAS_SEND = 33, EM__OP_ALIAS_SEND_TT = 34,
    EM__OP_UNLINK_ID = 35, EM__OP_UNLINK_ID_ACK = 36, EM__OP_ALTACT_SIG_SEND = 37
};
/* ALTACT_SIG_SEND's flags (OTP 28; its flag DFLAG_ALTACT_SIG is not
 * offered, the op is parsed for when a peer sends it anyway): the low byte
 * of {37, Flags, FromPid, To[, Token]} + Message. */
enum { EM__ALTACT_PRIO = 1, EM__ALTACT_TOKEN = 2, EM__ALTACT_ALIAS = 4, EM__ALTACT_NAME = 8,
       EM__ALTACT_EXIT = 16 };

/* What a packet asks for, normalised (old, _TT and PAYLOAD_ forms map to
 * the same action; ALIAS_SEND is a SEND whose `to` is a reference;
 * ALTACT_SIG_SEND is a SEND, REG_SEND or EXIT2 whose `to` is a pid, name
 * or reference).  All terms are owned by the struct (em__ctl_free). */
enum { EM__ACT_NONE = 0, EM__ACT_SEND, EM__ACT_REG_SEND, EM__ACT_LINK, EM__ACT_UNLINK,
       EM__ACT_UNLINK_ID, EM__ACT_UNLINK_ID_ACK, EM__ACT_EXIT, EM__ACT_EXIT2, EM__ACT_MONITOR,
       EM__ACT_DEMONITOR, EM__ACT_DOWN, EM__ACT_IGNORE, EM__ACT_SPAWN_REQUEST,
       EM__ACT_SPAWN_REPLY };
typedef struct em__ctl {
    int op;          /* the wire op */
    int act;         /* EM__ACT_* */
    em_term ctl;     /* the control tuple */
    em_term from, to, ref, reason, msg, id; /* borrowed from ctl/msg, or EM_NONE */
    /* SPAWN_REQUEST: ref = ReqId, from = the requester, gl = its group
     * leader, mfa = {M, F, Arity}, msg = the argument list, spawn_flags =
     * the link and monitor options asked for (EM__SPAWN_LINK |
     * EM__SPAWN_MONITOR, remote.h), badopt = an option OTP refuses (answered
     * with SPAWN_REPLY badopt, nothing spawned).  SPAWN_REPLY: ref = ReqId,
     * to = the requester, spawn_flags = the reply's Flags, result = the new
     * pid or an error atom. */
    em_term gl, mfa, result;
    unsigned spawn_flags;
    bool badopt;
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

/* em__ctl_parse with a cache (updated; NULL for none).  share: EM_NONE, or
 * a binary whose bytes are exactly body[0 .. len): the message's large
 * binaries then point into it (em_etf_decode_bin) instead of being copied. */
int em__ctl_parse_cached(const uint8_t *body, size_t len, em__ctl *c, em__ctl_cache *cache,
                         em_term share);
void em__ctl_cache_clear(em__ctl_cache *cache);

/* Apply a parsed packet through the runtime's seam (runtime/remote.h), and
 * queue on c the answers OTP gives (EXIT noproc, MONITOR_P_EXIT noproc,
 * UNLINK_ID_ACK).  The reader's context. */
void em__ctl_dispatch(em__dconn *c, em__ctl *k);

#endif /* EM_NET_DIST_CTL_H */
