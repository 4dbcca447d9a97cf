/* dist_ctl.c: incoming control messages (erl_dist_protocol, "Protocol
 * between Connected Nodes").
 *
 * em__ctl_parse turns a packet into an em__ctl without side effects
 * (fuzzed); em__ctl_dispatch applies it through the runtime's seam
 * (remote.h: em__remote_deliver_msg for messages, em__remote_deliver for
 * signals, em__remote_spawn_request and _reply for spawns) and answers
 * what OTP answers (EXIT noproc to a LINK on a dead pid, MONITOR_P_EXIT
 * noproc to a monitor of nobody, UNLINK_ID_ACK to UNLINK_ID, SPAWN_REPLY
 * badopt or system_limit to a spawn it refuses).  The outgoing control
 * messages are in dist_ops.c.
 */
#include <stdlib.h>
#include <string.h>

#include "dist_ctl.h"
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
/* A pid of another node (OTP's is_external_pid: a spawn's requester). */
static bool is_other_pid(em_term t)
{
    em_term node;
    return em_pid_parts(t, &node, NULL, NULL, NULL) == 0 && node != em_local_node(NULL);
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

/* The option list of a SPAWN_REQUEST, as OTP's receiving side reads it
 * (erts_parse_spawn_opts: the options of spawn_opt/4): link and monitor
 * (also {monitor, Opts}) set *flags; the process options OTP has and
 * ember does not (priority, heap sizes, message queue data, scheduler) are
 * accepted and have no effect.  Returns 0, 1 for an option OTP refuses
 * with badopt (unknown, or a value of the wrong type), -1 for a list that
 * is not a proper list (OTP: an invalid message). */
static int spawn_opts(em_term opts, unsigned *flags)
{
    int bad = 0;
    *flags = 0;
    for (; em_typeof(opts) == EM_TYPE_LIST; opts = em_tl(opts)) {
        em_term o = em_hd(opts), v;
        int64_t i;
        if (o == A("link")) {
            *flags |= EM__SPAWN_LINK;
        } else if (o == A("monitor")) {
            *flags |= EM__SPAWN_MONITOR;
        } else if (em_tuple_size(o) != 2) {
            bad = 1;
        } else if (v = em_tuple_get(o, 1), (o = em_tuple_get(o, 0)) == A("monitor")) {
            if (em_list_length(v) < 0)
                bad = 1;
            *flags |= EM__SPAWN_MONITOR;
        } else if (o == A("priority")) {
            bad |= v != A("low") && v != A("normal") && v != A("high") && v != A("max");
        } else if (o == A("message_queue_data")) {
            bad |= v != A("off_heap") && v != A("on_heap");
        } else if (o == A("fullsweep_after") || o == A("min_heap_size") || o == A("min_bin_vheap_size")) {
            bad |= em_int_get(v, &i) < 0 || i < 0;
        } else if (o == A("max_heap_size")) {
            bad |= !(em_int_get(v, &i) == 0 && i >= 0) && em_typeof(v) != EM_TYPE_MAP;
        } else if (o == A("scheduler")) {
            bad |= em_int_get(v, &i) < 0 || i < 0;
        } else {
            /* {reply, _} and {reply_tag, _} too: the requester's options,
             * never sent; and async_dist, which OTP 25.2 does not know
             * (all answered badopt by OTP 25.2.3, tried) */
            bad = 1;
        }
    }
    return opts == EM_NIL ? bad : -1;
}

/* A decoding error as em__ctl_parse returns it: the resource errors as
 * they are, anything else (malformed bytes) EM_EPROTO. */
static int decode_error(int rc)
{
    return rc == EM_EDEPTH || rc == EM_ENOMEM || rc == EM_EATOMTAB ? rc : EM_EPROTO;
}

/* The low byte of ALTACT_SIG_SEND's flags (an integer of any size, not
 * negative: later OTP versions may use more bits), or -1. */
static int altact_flags(em_term f)
{
    int64_t v;
    int rc = em_int_get(f, &v);
    if (rc == 0)
        return v < 0 ? -1 : (int)(v & 0xff);
    bool neg;
    uint8_t low;
    if (rc != EM_ETOOBIG || em_bigint_bytes(f, &neg, &low, 1) < 1 || neg)
        return -1;
    return low;
}

/* ALTACT_SIG_SEND (OTP 28): {37, Flags, FromPid, To} or, with the TOKEN
 * flag, {37, Flags, FromPid, To, Token}, followed by the message (the
 * exit reason with the EXIT flag).  As OTP's dist.c: the tuple may be
 * longer (later versions), the flags' other bits are ignored, To is a
 * reference with ALIAS, an atom (a registered name here) with NAME, both
 * is invalid, a pid with neither.  PRIO is ignored: ember has no priority
 * messages (a priority message is delivered as an ordinary one, which is
 * what OTP does too unless the receiver asked for priority messages). */
static bool altact_parse(em__ctl *c, long n, bool has_msg)
{
    em_term t = c->ctl;
    int fl = n >= 4 ? altact_flags(em_tuple_get(t, 1)) : -1;
    if (fl < 0 || !has_msg || !is_pid(em_tuple_get(t, 2)) || ((fl & EM__ALTACT_TOKEN) && n < 5))
        return false;
    em_term to = em_tuple_get(t, 3);
    bool alias = fl & EM__ALTACT_ALIAS, name = fl & EM__ALTACT_NAME;
    if (alias ? !is_ref(to) || name : name ? !is_atom(to) : !is_pid(to))
        return false;
    c->from = em_tuple_get(t, 2);
    c->to = to;
    if (fl & EM__ALTACT_EXIT) {
        c->act = EM__ACT_EXIT2;
        c->reason = c->msg;
    } else {
        c->act = name ? EM__ACT_REG_SEND : EM__ACT_SEND;
    }
    return true;
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
    case EM__OP_ALIAS_SEND:
    case EM__OP_ALIAS_SEND_TT:
        ok = n == (op == EM__OP_ALIAS_SEND ? 3 : 4) && is_pid(E(1)) && is_ref(E(2)) && has_msg;
        c->act = EM__ACT_SEND;
        c->from = E(1);
        c->to = E(2);
        break;
    case EM__OP_ALTACT_SIG_SEND:
        ok = altact_parse(c, n, has_msg);
        break;
    case EM__OP_SPAWN_REQUEST:
    case EM__OP_SPAWN_REQUEST_TT: {
        /* {29, ReqId, From, GroupLeader, {M, F, Arity}, OptList} + ArgList
         * (30: and a trace token).  OTP checks these shapes (dist.c) and
         * drops the connection on any other; the argument list is the
         * message part.  Of the arity OTP checks only that it is a small
         * integer (60 bits): it spawns with the arguments the list holds,
         * whatever the arity says (over 255, the process ends in undef or
         * system_limit, as export.c's runner does). */
        em_term mfa = E(4);
        int64_t arity;
        ok = n == (op == EM__OP_SPAWN_REQUEST ? 6 : 7) && is_ref(E(1)) && is_other_pid(E(2)) && is_pid(E(3)) &&
             em_tuple_size(mfa) == 3 && is_atom(em_tuple_get(mfa, 0)) && is_atom(em_tuple_get(mfa, 1)) &&
             em_int_get(em_tuple_get(mfa, 2), &arity) == 0 && arity >= -(INT64_C(1) << 59) &&
             arity < (INT64_C(1) << 59) && has_msg;
        int o = ok ? spawn_opts(E(5), &c->spawn_flags) : 0;
        ok = ok && o >= 0;
        c->badopt = o > 0;
        c->act = EM__ACT_SPAWN_REQUEST;
        c->ref = E(1);
        c->from = E(2);
        c->gl = E(3);
        c->mfa = mfa;
        break;
    }
    case EM__OP_SPAWN_REPLY:
    case EM__OP_SPAWN_REPLY_TT: {
        /* {31, ReqId, To, Flags, Result} (32: and a trace token); Result
         * is the new pid or why there is none (an atom).  OTP refuses
         * flags of 2^27 and over. */
        int64_t fl;
        ok = n == (op == EM__OP_SPAWN_REPLY ? 5 : 6) && is_ref(E(1)) && is_pid(E(2)) &&
             em_int_get(E(3), &fl) == 0 && fl >= 0 && fl < (1 << 27) && (is_pid(E(4)) || is_atom(E(4))) &&
             !has_msg;
        c->act = EM__ACT_SPAWN_REPLY;
        c->ref = E(1);
        c->to = E(2);
        c->spawn_flags = ok ? (unsigned)fl : 0;
        c->result = E(4);
        break;
    }
    case EM__OP_NODE_LINK:
    case EM__OP_GROUP_LEADER:
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
        c->from = c->to = c->ref = c->reason = c->id = c->gl = c->mfa = c->result = EM_NONE;
        c->spawn_flags = 0;
        c->badopt = false;
        return EM_EBADARG;
    }
    return 0;
}

/* ---- dispatching ---- */

/* What arrives is applied through the runtime's seam (remote.h), which
 * knows what is local: here only the answers OTP gives are added. */
void em__ctl_dispatch(em__dconn *c, em__ctl *k)
{
    em_term noproc = A("noproc");
    switch (k->act) {
    case EM__ACT_SEND:
    case EM__ACT_REG_SEND:
        em__remote_deliver_msg(k->to, k->msg);
        k->msg = EM_NONE;
        break;
    case EM__ACT_LINK:
        if (em__remote_deliver(k->to, EM__RSIG_LINK, em_dup(k->from), EM_NONE, EM_NONE) == EM_ENOPROC) {
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
        em__remote_deliver(k->to, EM__RSIG_UNLINK, em_dup(k->from), EM_NONE, EM_NONE);
        break;
    case EM__ACT_UNLINK_ID_ACK:
        break; /* ember drops its side of a link at once on unlink */
    case EM__ACT_EXIT:
    case EM__ACT_EXIT2:
        em__remote_deliver(k->to, k->act == EM__ACT_EXIT ? EM__RSIG_EXIT : EM__RSIG_EXIT2, em_dup(k->from),
                           EM_NONE, em_dup(k->reason));
        break;
    case EM__ACT_MONITOR:
        if (em__remote_deliver(k->to, EM__RSIG_MONITOR, em_dup(k->from), em_dup(k->ref), EM_NONE) ==
            EM_ENOPROC) {
            em_term ctl = em_tuple(5, em_int(EM__OP_MONITOR_P_EXIT), em_dup(k->to), em_dup(k->from),
                                   em_dup(k->ref), noproc);
            em__dconn_queue(c, ctl, EM_NONE);
            em_drop(ctl);
        }
        break;
    case EM__ACT_DEMONITOR:
        em__remote_deliver(k->to, EM__RSIG_DEMONITOR, em_dup(k->from), em_dup(k->ref), EM_NONE);
        break;
    case EM__ACT_DOWN:
        em__remote_deliver(k->to, EM__RSIG_DOWN, em_dup(k->from), em_dup(k->ref), em_dup(k->reason));
        break;
    case EM__ACT_SPAWN_REQUEST: {
        /* Refused here (nothing spawned): SPAWN_REPLY with flags 0 and
         * the reason, as OTP answers an option it refuses or a full
         * process table.  Otherwise the new process answers itself. */
        em_term why = EM_NONE;
        if (k->badopt) {
            why = A("badopt");
        } else {
            if (em__remote_spawn_request(k->ref, k->from, k->gl, k->mfa, k->msg, k->spawn_flags) < 0)
                why = A("system_limit");
            k->msg = EM_NONE; /* taken */
        }
        if (why != EM_NONE) {
            em_term ctl = em_tuple(5, em_int(EM__OP_SPAWN_REPLY), em_dup(k->ref), em_dup(k->from), em_int(0), why);
            em__dconn_queue(c, ctl, EM_NONE);
            em_drop(ctl);
        }
        break;
    }
    case EM__ACT_SPAWN_REPLY:
        /* A requester that is gone: undo what the reply set up on the
         * spawning side, as OTP does (dist.c). */
        if (em__remote_spawn_reply(k->to, k->ref, k->spawn_flags, k->result) == EM_ENOPROC && is_pid(k->result)) {
            em_term ctl;
            if (k->spawn_flags & EM__SPAWN_MONITOR) {
                ctl = em_tuple(4, em_int(EM__OP_DEMONITOR_P), em_dup(k->to), em_dup(k->result), em_dup(k->ref));
                em__dconn_queue(c, ctl, EM_NONE);
                em_drop(ctl);
            }
            if (k->spawn_flags & EM__SPAWN_LINK) {
                ctl = em_tuple(4, em_int(EM__OP_EXIT), em_dup(k->to), em_dup(k->result), noproc);
                em__dconn_queue(c, ctl, EM_NONE);
                em_drop(ctl);
            }
        }
        break;
    default:
        break;
    }
}
