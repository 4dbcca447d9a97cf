/* dist_ops.c: outgoing control messages -- the runtime's ops (remote.h).
 *
 * runtime/remote.c has classified the destination (an em__dest: the node,
 * and a pid or a registered name there) and calls these.  Each encodes the
 * control message (and message) in the caller's context and queues the
 * frame on the connection to the node, connecting on demand for
 * send/link/monitor.  None of them yields except send, which waits while
 * the node's out-queue is over its limit (a sender that outruns the
 * socket), so `exit`, `down`, `demonitor` and `unlink` are safe on a
 * scheduler's stack at process death.  The old forms are sent (SEND, EXIT,
 * EXIT2, MONITOR_P_EXIT): every OTP version accepts them whatever was
 * negotiated.
 */
#include "dist_int.h"
#include "../runtime/remote.h"

#define A(s) em_atom(s)

/* Queue ctl (+msg) for the node of `to`.  connect: set the connection up
 * if there is none; EM_ECLOSED when the node is in its redial back-off
 * (nothing queued: a send drops the message, a link or monitor gets
 * noconnection). */
static int queue_to(const em__dest *to, em_term ctl, em_term msg, bool connect)
{
    if (!em__nd.up)
        return EM_ENOTSUP;
    for (int tries = 0; tries < 3; tries++) {
        bool barred = false;
        em__dconn *c = connect ? em__dconn_for(to->node, &barred) : em__dconn_get(to->node, false, NULL);
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

/* The wire form of a destination: its pid, or its registered name. */
static em_term wire_target(const em__dest *to)
{
    return to->pid != EM_NONE ? em_dup(to->pid) : to->name;
}

/* Whether a message to an alias on node may go out: not when the
 * connection is up without DFLAG_ALIAS (OTP drops such a message too).
 * One still being set up gets it: every OTP a connection can come up with
 * (24 and later) has the flag. */
static bool alias_ok(em_term node)
{
    em__dconn *c = em__dconn_get(node, false, NULL);
    if (c == NULL)
        return true;
    bool ok = c->state != EM__C_UP || (c->flags & EM__DF_ALIAS);
    em__dconn_put(c);
    return ok;
}

static int op_send(const em__dest *to, em_term msg)
{
    em_term ctl;
    if (to->alias != EM_NONE && !alias_ok(to->node)) {
        em_drop(msg);
        return 0;
    }
    if (to->alias != EM_NONE)
        ctl = em_tuple(3, em_int(EM__OP_ALIAS_SEND), sender_pid(), em_dup(to->alias));
    else if (to->pid != EM_NONE)
        ctl = em_tuple(3, em_int(EM__OP_SEND), A(""), em_dup(to->pid));
    else
        ctl = em_tuple(4, em_int(EM__OP_REG_SEND), sender_pid(), A(""), to->name);
    int rc = ctl == EM_NONE ? EM_ENOMEM : queue_to(to, ctl, msg, true);
    em_drop(ctl);
    em_drop(msg);
    return rc == EM_ECLOSED ? 0 : rc; /* a node in back-off: dropped, as Erlang's send */
}

static int op_link(em_term from, const em__dest *to)
{
    em_term ctl = em_tuple(3, em_int(EM__OP_LINK), em_dup(from), em_dup(to->pid));
    int rc = ctl == EM_NONE ? EM_ENOMEM : queue_to(to, ctl, EM_NONE, true);
    em_drop(ctl);
    return rc;
}

static int op_unlink(em_term from, const em__dest *to)
{
    em__dconn *c = em__dconn_get(to->node, false, NULL);
    if (c == NULL)
        return 0;
    em_term ctl;
    if (c->state != EM__C_UP || (c->flags & EM__DF_UNLINK_ID)) {
        uint64_t id = atomic_fetch_add(&c->unlink_id, 1) + 1;
        ctl = em_tuple(4, em_int(EM__OP_UNLINK_ID), em_uint(id), em_dup(from), em_dup(to->pid));
    } else {
        ctl = em_tuple(3, em_int(EM__OP_UNLINK), em_dup(from), em_dup(to->pid));
    }
    int rc = ctl == EM_NONE ? EM_ENOMEM : em__dconn_queue(c, ctl, EM_NONE);
    em_drop(ctl);
    em__dconn_put(c);
    return rc == EM_ECLOSED ? 0 : rc;
}

static int op_exit(em_term from, const em__dest *to, em_term reason, bool exit2)
{
    em_term ctl = em_tuple(4, em_int(exit2 ? EM__OP_EXIT2 : EM__OP_EXIT), em_dup(from), em_dup(to->pid),
                           em_dup(reason));
    /* exit/2 from a process connects like a send; a broken link at death
     * only uses a connection that exists. */
    int rc = ctl == EM_NONE ? EM_ENOMEM : queue_to(to, ctl, EM_NONE, exit2 && em_self() != EM_NONE);
    em_drop(ctl);
    return rc == EM_ECLOSED ? 0 : rc;
}

static int op_monitor(em_term from, const em__dest *target, em_term ref)
{
    em_term ctl = em_tuple(4, em_int(EM__OP_MONITOR_P), em_dup(from), wire_target(target), em_dup(ref));
    int rc = ctl == EM_NONE ? EM_ENOMEM : queue_to(target, ctl, EM_NONE, true);
    em_drop(ctl);
    return rc;
}

static int op_demonitor(em_term from, const em__dest *target, em_term ref)
{
    em_term ctl = em_tuple(4, em_int(EM__OP_DEMONITOR_P), em_dup(from), wire_target(target), em_dup(ref));
    int rc = ctl == EM_NONE ? EM_ENOMEM : queue_to(target, ctl, EM_NONE, false);
    em_drop(ctl);
    return rc;
}

static int op_down(em_term from, const em__dest *to, em_term ref, em_term reason)
{
    em_term ctl = em_tuple(5, em_int(EM__OP_MONITOR_P_EXIT), em_dup(from), em_dup(to->pid), em_dup(ref),
                           em_dup(reason));
    int rc = ctl == EM_NONE ? EM_ENOMEM : queue_to(to, ctl, EM_NONE, false);
    em_drop(ctl);
    return rc;
}

static int op_spawn_reply(const em__dest *to, em_term reqid, unsigned flags, em_term result)
{
    /* The connection the request came on (if it went down meanwhile, the
     * requester got noconnection and waits for no reply). */
    em__dconn *c = em__dconn_get(to->node, false, NULL);
    if (c == NULL)
        return EM_ECLOSED;
    em_term ctl = em_tuple(5, em_int(EM__OP_SPAWN_REPLY), em_dup(reqid), em_dup(to->pid), em_int(flags), em_dup(result));
    int rc = ctl == EM_NONE ? EM_ENOMEM : em__dconn_queue(c, ctl, EM_NONE);
    em_drop(ctl);
    em__dconn_put(c);
    return rc;
}

static int op_spawn_request(em_term from, const em__dest *to, em_term reqid, em_term gl, em_term mfa, em_term opts,
                            em_term args)
{
    /* A node that is up without DFLAG_SPAWN cannot spawn (OTP's
     * spawn_request answers notsup then); one still being set up is asked
     * and answers, being OTP 23 or later. */
    em__dconn *c = em__dconn_get(to->node, false, NULL);
    bool notsup = c && c->state == EM__C_UP && !(c->flags & EM__DF_SPAWN);
    if (c)
        em__dconn_put(c);
    if (notsup) {
        em_drop(args);
        return EM_ENOTSUP;
    }
    em_term ctl = em_tuple(6, em_int(EM__OP_SPAWN_REQUEST), em_dup(reqid), em_dup(from), em_dup(gl), em_dup(mfa),
                           em_dup(opts));
    int rc = ctl == EM_NONE || args == EM_NONE ? EM_ENOMEM : queue_to(to, ctl, args, true);
    em_drop(ctl);
    em_drop(args);
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
    .spawn_reply = op_spawn_reply,
    .spawn_request = op_spawn_request,
};

void em__dist_ops_send_noconnect(em_term to, em_term msg)
{
    em__dest d;
    int k = em__dest_classify(to, &d);
    if ((k == EM__DEST_REMOTE_PID || k == EM__DEST_REMOTE_NAME || k == EM__DEST_REMOTE_ALIAS) &&
        !em__dconn_is_up(d.node)) {
        em_drop(msg);
        return;
    }
    em__send_quiet(to, msg);
}

void em__dist_ops_install(bool on)
{
    em__remote_install(on ? &dist_ops : NULL);
}
