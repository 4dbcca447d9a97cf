/* dist_ctl.c: control messages (erl_dist_protocol, "Protocol between
 * Connected Nodes").
 *
 * Inbound: em__ctl_parse turns a packet into an em__ctl without side
 * effects (fuzzed); em__ctl_dispatch hands it to the runtime (em_send for
 * messages, em__remote_deliver for signals) and answers what OTP answers
 * (EXIT noproc to a LINK on a dead pid, MONITOR_P_EXIT noproc to a monitor
 * of nobody, UNLINK_ID_ACK to UNLINK_ID).
 *
 * Outbound: the runtime's ops (remote.h).  Each encodes the control message
 * (and message) in the caller's context and queues the frame on the
 * connection to the node, connecting on demand for send/link/monitor.  None
 * of them yields except send, which waits while the node's out-queue is
 * over its limit (a sender that outruns the socket), so `exit`, `down`,
 * `demonitor` and `unlink` are safe on a scheduler's stack at process
 * death.  The old forms are sent (SEND, EXIT, EXIT2, MONITOR_P_EXIT): every
 * OTP version accepts them whatever was negotiated.
 */
#include <stdlib.h>
#include <string.h>

#include "dist_int.h"
#include "../runtime/remote.h"

#define A(s) em_atom(s)

/* ---- parsing ---- */

static bool is_pid(em_term t)
{
    return em_typeof(t) == EM_TYPE_PID;
}
static bool is_ref(em_term t)
{
    return em_typeof(t) == EM_TYPE_REF;
}
static bool is_atom(em_term t)
{
    return em_typeof(t) == EM_TYPE_ATOM;
}

void em__ctl_free(em__ctl *c)
{
    em_drop(c->ctl);
    em_drop(c->msg);
    memset(c, 0, sizeof *c);
}

static int op_of(em_term ctl)
{
    int64_t v;
    if (em_tuple_size(ctl) < 1 || em_int_get(em_tuple_get(ctl, 0), &v) < 0 || v < 0 || v > 1000)
        return -1;
    return (int)v;
}

void em__ctl_cache_clear(em__ctl_cache *cache)
{
    em_drop(cache->ctl);
    cache->ctl = EM_NONE;
    cache->len = 0;
}

/* 0: not read yet; else the limit + 1 (1: no limit). */
static _Atomic unsigned long depth_env;

unsigned em__ctl_max_depth(void)
{
    unsigned long v = atomic_load_explicit(&depth_env, memory_order_relaxed);
    if (v == 0) {
        /* Two threads may both read it: they find the same value. */
        const char *s = getenv(EM__CTL_DEPTH_ENV);
        char *end;
        unsigned long d = s ? strtoul(s, &end, 10) : 0;
        if (s == NULL || *s == 0 || *end != 0 || d > 0xffffffffu)
            d = 0;
        v = d + 1;
        atomic_store_explicit(&depth_env, v, memory_order_relaxed);
    }
    return (unsigned)(v - 1);
}

/* A decoding error as em__ctl_parse returns it: the resource errors as
 * they are, anything else (malformed bytes) EM_EPROTO. */
static int decode_error(int rc)
{
    return rc == EM_EDEPTH || rc == EM_ENOMEM || rc == EM_EATOMTAB ? rc : EM_EPROTO;
}

int em__ctl_parse(const uint8_t *body, size_t len, em__ctl *c)
{
    return em__ctl_parse_cached(body, len, c, NULL, EM_NONE);
}

int em__ctl_parse_cached(const uint8_t *body, size_t len, em__ctl *c, em__ctl_cache *cache,
                         em_term share)
{
    memset(c, 0, sizeof *c);
    if (len < 2 || body[0] != 'p')
        return EM_EPROTO;
    size_t off = 1;
    /* max_depth 0 is the decoder's default: no limit. */
    em_etf_opts opts = {.max_depth = em__ctl_max_depth()};
    int rc;
    if (cache && cache->len && len - 1 >= cache->len && memcmp(body + 1, cache->bytes, cache->len) == 0) {
        /* The very bytes of the cached term's encoding: decoding them
         * would give that term and stop right after them. */
        c->ctl = em_dup(cache->ctl);
        off += cache->len;
    } else {
        if ((rc = em_etf_decode(body, len, &off, &opts, &c->ctl)) < 0)
            return decode_error(rc);
        if (cache && off - 1 <= EM__CTL_CACHE_MAX) {
            em__ctl_cache_clear(cache);
            cache->ctl = em_dup(c->ctl);
            cache->len = off - 1;
            memcpy(cache->bytes, body + 1, cache->len);
        }
    }
    if (off < len && (rc = share != EM_NONE ? em_etf_decode_bin(share, &off, &opts, &c->msg)
                                            : em_etf_decode(body, len, &off, &opts, &c->msg)) < 0) {
        em__ctl_free(c);
        return decode_error(rc);
    }
    if (off != len) {
        em__ctl_free(c);
        return EM_EPROTO;
    }
    em_term t = c->ctl;
    long n = em_tuple_size(t);
    int op = op_of(t);
    c->op = op;
#define E(i) em_tuple_get(t, i)
    bool ok = false;
    bool has_msg = c->msg != EM_NONE;
    switch (op) {
    case EM__OP_SEND:
    case EM__OP_SEND_TT:
        ok = n == (op == EM__OP_SEND ? 3 : 4) && is_pid(E(2)) && has_msg;
        c->act = EM__ACT_SEND;
        c->to = E(2);
        break;
    case EM__OP_SEND_SENDER:
    case EM__OP_SEND_SENDER_TT:
        ok = n == (op == EM__OP_SEND_SENDER ? 3 : 4) && is_pid(E(1)) && is_pid(E(2)) && has_msg;
        c->act = EM__ACT_SEND;
        c->from = E(1);
        c->to = E(2);
        break;
    case EM__OP_REG_SEND:
    case EM__OP_REG_SEND_TT:
        ok = n == (op == EM__OP_REG_SEND ? 4 : 5) && is_pid(E(1)) && is_atom(E(3)) && has_msg;
        c->act = EM__ACT_REG_SEND;
        c->from = E(1);
        c->to = E(3);
        break;
    case EM__OP_LINK:
    case EM__OP_UNLINK:
        ok = n == 3 && is_pid(E(1)) && is_pid(E(2)) && !has_msg;
        c->act = op == EM__OP_LINK ? EM__ACT_LINK : EM__ACT_UNLINK;
        c->from = E(1);
        c->to = E(2);
        break;
    case EM__OP_UNLINK_ID:
    case EM__OP_UNLINK_ID_ACK:
        ok = n == 4 && em_typeof(E(1)) == EM_TYPE_INTEGER && is_pid(E(2)) && is_pid(E(3)) && !has_msg;
        c->act = op == EM__OP_UNLINK_ID ? EM__ACT_UNLINK_ID : EM__ACT_UNLINK_ID_ACK;
        c->id = E(1);
        c->from = E(2);
        c->to = E(3);
        break;
    case EM__OP_EXIT:
    case EM__OP_EXIT2:
        ok = n == 4 && is_pid(E(1)) && is_pid(E(2)) && !has_msg;
        c->act = op == EM__OP_EXIT ? EM__ACT_EXIT : EM__ACT_EXIT2;
        c->from = E(1);
        c->to = E(2);
        c->reason = E(3);
        break;
    case EM__OP_EXIT_TT:
    case EM__OP_EXIT2_TT:
        ok = n == 5 && is_pid(E(1)) && is_pid(E(2)) && !has_msg;
        c->act = op == EM__OP_EXIT_TT ? EM__ACT_EXIT : EM__ACT_EXIT2;
        c->from = E(1);
        c->to = E(2);
        c->reason = E(4);
        break;
    case EM__OP_PAYLOAD_EXIT:
    case EM__OP_PAYLOAD_EXIT2:
    case EM__OP_PAYLOAD_EXIT_TT:
    case EM__OP_PAYLOAD_EXIT2_TT:
        ok = n == ((op == EM__OP_PAYLOAD_EXIT || op == EM__OP_PAYLOAD_EXIT2) ? 3 : 4) && is_pid(E(1)) &&
             is_pid(E(2)) && has_msg;
        c->act = (op == EM__OP_PAYLOAD_EXIT || op == EM__OP_PAYLOAD_EXIT_TT) ? EM__ACT_EXIT : EM__ACT_EXIT2;
        c->from = E(1);
        c->to = E(2);
        c->reason = c->msg;
        break;
    case EM__OP_MONITOR_P:
    case EM__OP_DEMONITOR_P:
        ok = n == 4 && is_pid(E(1)) && (is_pid(E(2)) || is_atom(E(2))) && is_ref(E(3)) && !has_msg;
        c->act = op == EM__OP_MONITOR_P ? EM__ACT_MONITOR : EM__ACT_DEMONITOR;
        c->from = E(1);
        c->to = E(2);
        c->ref = E(3);
        break;
    case EM__OP_MONITOR_P_EXIT:
        ok = n == 5 && (is_pid(E(1)) || is_atom(E(1))) && is_pid(E(2)) && is_ref(E(3)) && !has_msg;
        c->act = EM__ACT_DOWN;
        c->from = E(1);
        c->to = E(2);
        c->ref = E(3);
        c->reason = E(4);
        break;
    case EM__OP_PAYLOAD_MONITOR_P_EXIT:
        ok = n == 4 && (is_pid(E(1)) || is_atom(E(1))) && is_pid(E(2)) && is_ref(E(3)) && has_msg;
        c->act = EM__ACT_DOWN;
        c->from = E(1);
        c->to = E(2);
        c->ref = E(3);
        c->reason = c->msg;
        break;
    case EM__OP_NODE_LINK:
    case EM__OP_GROUP_LEADER:
    case EM__OP_SPAWN_REQUEST:
    case EM__OP_SPAWN_REQUEST_TT:
    case EM__OP_SPAWN_REPLY:
    case EM__OP_SPAWN_REPLY_TT:
    case EM__OP_ALIAS_SEND:
    case EM__OP_ALIAS_SEND_TT:
        /* Valid, but not negotiated or not acted on (see dist.h). */
        ok = true;
        c->act = EM__ACT_IGNORE;
        break;
    default:
        ok = false;
        break;
    }
#undef E
    if (!ok) {
        c->act = EM__ACT_NONE;
        c->from = c->to = c->ref = c->reason = c->id = EM_NONE;
        return EM_EBADARG;
    }
    return 0;
}

/* ---- dispatching ---- */

static bool is_local_pid(em_term t)
{
    return is_pid(t) && !em__is_remote_pid(t);
}

void em__ctl_dispatch(em__dconn *c, em__ctl *k)
{
    em_term noproc = A("noproc");
    switch (k->act) {
    case EM__ACT_SEND:
        if (is_local_pid(k->to)) {
            em_send(k->to, k->msg);
            k->msg = EM_NONE;
        }
        break;
    case EM__ACT_REG_SEND: {
        /* Sent to the pid looked up (em_send of the name would look it up
         * again, under the registry's lock). */
        em_term pid = em_whereis(k->to);
        if (pid != EM_NONE) {
            em_send(pid, k->msg);
            k->msg = EM_NONE;
        }
        break;
    }
    case EM__ACT_LINK:
        if (!is_local_pid(k->to) ||
            em__remote_deliver(k->to, EM__RSIG_LINK, em_dup(k->from), EM_NONE, EM_NONE) == EM_ENOPROC) {
            em_term ctl = em_tuple(4, em_int(EM__OP_EXIT), em_dup(k->to), em_dup(k->from), noproc);
            em__dconn_queue(c, ctl, EM_NONE);
            em_drop(ctl);
        }
        break;
    case EM__ACT_UNLINK_ID: {
        /* Ack before anything else goes to the unlinker. */
        em_term ctl = em_tuple(4, em_int(EM__OP_UNLINK_ID_ACK), em_dup(k->id), em_dup(k->to), em_dup(k->from));
        em__dconn_queue(c, ctl, EM_NONE);
        em_drop(ctl);
    }
    /* fall through */
    case EM__ACT_UNLINK:
        if (is_local_pid(k->to))
            em__remote_deliver(k->to, EM__RSIG_UNLINK, em_dup(k->from), EM_NONE, EM_NONE);
        break;
    case EM__ACT_UNLINK_ID_ACK:
        break; /* ember drops its side of a link at once on unlink */
    case EM__ACT_EXIT:
    case EM__ACT_EXIT2:
        if (is_local_pid(k->to))
            em__remote_deliver(k->to, k->act == EM__ACT_EXIT ? EM__RSIG_EXIT : EM__RSIG_EXIT2,
                               em_dup(k->from), EM_NONE, em_dup(k->reason));
        break;
    case EM__ACT_MONITOR:
        if ((!is_local_pid(k->to) && !is_atom(k->to)) ||
            em__remote_deliver(k->to, EM__RSIG_MONITOR, em_dup(k->from), em_dup(k->ref), EM_NONE) ==
                EM_ENOPROC) {
            em_term ctl = em_tuple(5, em_int(EM__OP_MONITOR_P_EXIT), em_dup(k->to), em_dup(k->from),
                                   em_dup(k->ref), noproc);
            em__dconn_queue(c, ctl, EM_NONE);
            em_drop(ctl);
        }
        break;
    case EM__ACT_DEMONITOR:
        if (is_local_pid(k->to) || is_atom(k->to))
            em__remote_deliver(k->to, EM__RSIG_DEMONITOR, em_dup(k->from), em_dup(k->ref), EM_NONE);
        break;
    case EM__ACT_DOWN:
        if (is_local_pid(k->to))
            em__remote_deliver(k->to, EM__RSIG_DOWN, em_dup(k->from), em_dup(k->ref), em_dup(k->reason));
        break;
    default:
        break;
    }
}

/* ---- outbound: the runtime's ops ---- */

/* The node of a remote pid or {Name, Node}; EM_NONE if neither. */
static em_term dest_node(em_term to)
{
    em_term node = EM_NONE;
    if (is_pid(to))
        em_pid_parts(to, &node, NULL, NULL, NULL);
    else if (em_tuple_size(to) == 2 && is_atom(em_tuple_get(to, 0)) && is_atom(em_tuple_get(to, 1)))
        node = em_tuple_get(to, 1);
    return node;
}

/* Queue ctl (+msg) for the node of `to`.  connect: set the connection up
 * if there is none; EM_ECLOSED when the node is in its redial back-off
 * (nothing queued: a send drops the message, a link or monitor gets
 * noconnection). */
static int queue_to(em_term to, em_term ctl, em_term msg, bool connect)
{
    em_term node = dest_node(to);
    if (node == EM_NONE || !em__nd.up)
        return EM_ENOTSUP;
    if (node == em_local_node(NULL))
        return 0; /* a pid of an earlier incarnation of this node: dead */
    for (int tries = 0; tries < 3; tries++) {
        bool barred = false;
        em__dconn *c = connect ? em__dconn_for(node, &barred) : em__dconn_get(node, false, NULL);
        if (c == NULL && barred)
            return EM_ECLOSED;
        if (c == NULL)
            return connect ? EM_ENOMEM : 0; /* no connection: dropped */
        int rc = em__dconn_queue(c, ctl, msg);
        if (rc == 0 && connect && em_self() != EM_NONE)
            em__oq_hold(c); /* back-pressure, in the sender's context */
        em__dconn_put(c);
        if (rc != EM_ECLOSED)
            return rc;
    }
    return 0;
}

static em_term sender_pid(void)
{
    em_term s = em_self();
    return s != EM_NONE ? s : em__nd.net_kernel;
}

static int op_send(em_term to, em_term msg)
{
    em_term ctl;
    if (is_pid(to))
        ctl = em_tuple(3, em_int(EM__OP_SEND), A(""), em_dup(to));
    else
        ctl = em_tuple(4, em_int(EM__OP_REG_SEND), sender_pid(), A(""), em_dup(em_tuple_get(to, 0)));
    int rc = ctl == EM_NONE ? EM_ENOMEM : queue_to(to, ctl, msg, true);
    em_drop(ctl);
    em_drop(msg);
    return rc == EM_ECLOSED ? 0 : rc; /* a node in back-off: dropped, as Erlang's send */
}

static int op_link(em_term from, em_term to)
{
    em_term ctl = em_tuple(3, em_int(EM__OP_LINK), em_dup(from), em_dup(to));
    int rc = ctl == EM_NONE ? EM_ENOMEM : queue_to(to, ctl, EM_NONE, true);
    em_drop(ctl);
    return rc;
}

static int op_unlink(em_term from, em_term to)
{
    em_term node = dest_node(to);
    em__dconn *c = node != EM_NONE ? em__dconn_get(node, false, NULL) : NULL;
    if (c == NULL)
        return 0;
    em_term ctl;
    if (c->state != EM__C_UP || (c->flags & EM__DF_UNLINK_ID)) {
        uint64_t id = atomic_fetch_add(&c->unlink_id, 1) + 1;
        ctl = em_tuple(4, em_int(EM__OP_UNLINK_ID), em_uint(id), em_dup(from), em_dup(to));
    } else {
        ctl = em_tuple(3, em_int(EM__OP_UNLINK), em_dup(from), em_dup(to));
    }
    int rc = ctl == EM_NONE ? EM_ENOMEM : em__dconn_queue(c, ctl, EM_NONE);
    em_drop(ctl);
    em__dconn_put(c);
    return rc == EM_ECLOSED ? 0 : rc;
}

static int op_exit(em_term from, em_term to, em_term reason, bool exit2)
{
    em_term ctl = em_tuple(4, em_int(exit2 ? EM__OP_EXIT2 : EM__OP_EXIT), em_dup(from), em_dup(to),
                           em_dup(reason));
    /* exit/2 from a process connects like a send; a broken link at death
     * only uses a connection that exists. */
    int rc = ctl == EM_NONE ? EM_ENOMEM : queue_to(to, ctl, EM_NONE, exit2 && em_self() != EM_NONE);
    em_drop(ctl);
    return rc == EM_ECLOSED ? 0 : rc;
}

/* The wire form of a monitor target: a pid, or the name of {Name, Node}. */
static em_term wire_target(em_term target)
{
    return is_pid(target) ? em_dup(target) : em_tuple_get(target, 0);
}

static int op_monitor(em_term from, em_term target, em_term ref)
{
    em_term ctl = em_tuple(4, em_int(EM__OP_MONITOR_P), em_dup(from), wire_target(target), em_dup(ref));
    int rc = ctl == EM_NONE ? EM_ENOMEM : queue_to(target, ctl, EM_NONE, true);
    em_drop(ctl);
    return rc;
}

static int op_demonitor(em_term from, em_term target, em_term ref)
{
    em_term ctl = em_tuple(4, em_int(EM__OP_DEMONITOR_P), em_dup(from), wire_target(target), em_dup(ref));
    int rc = ctl == EM_NONE ? EM_ENOMEM : queue_to(target, ctl, EM_NONE, false);
    em_drop(ctl);
    return rc;
}

static int op_down(em_term from, em_term to, em_term ref, em_term reason)
{
    em_term ctl = em_tuple(5, em_int(EM__OP_MONITOR_P_EXIT), em_dup(from), em_dup(to), em_dup(ref),
                           em_dup(reason));
    int rc = ctl == EM_NONE ? EM_ENOMEM : queue_to(to, ctl, EM_NONE, false);
    em_drop(ctl);
    return rc;
}

static const em__remote_ops dist_ops = {
    .send = op_send,
    .link = op_link,
    .unlink = op_unlink,
    .exit = op_exit,
    .monitor = op_monitor,
    .demonitor = op_demonitor,
    .down = op_down,
    .flush = em__dconn_flush,
};

void em__dist_ops_install(bool on)
{
    em__remote_install(on ? &dist_ops : NULL);
}
