/* dist_ctl.c: incoming control messages (erl_dist_protocol, "Protocol
 * between Connected Nodes").
 *
 * em__ctl_parse turns a packet into an em__ctl without side effects
 * (fuzzed); em__ctl_dispatch applies it through the runtime's seam
 * (remote.h: em__remote_deliver_msg for messages, em__remote_deliver for
 * signals) and answers what OTP answers (EXIT noproc to a LINK on a dead
 * pid, MONITOR_P_EXIT noproc to a monitor of nobody, UNLINK_ID_ACK to
 * UNLINK_ID).  The outgoing control messages are in dist_ops.c.
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
    case EM__OP_NODE_LINK:
    case EM__OP_GROUP_LEADER:
    case EM__OP_SPAWN_REQUEST:
    case EM__OP_SPAWN_REQUEST_TT:
    case EM__OP_SPAWN_REPLY:
    case EM__OP_SPAWN_REPLY_TT:
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
    default:
        break;
    }
}
