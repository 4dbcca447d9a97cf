/* remote.c: what the runtime does for a destination that is not on this
 * node (remote.h has the seam's contract).
 *
 *  - classifying a destination, once: em__dest_classify;
 *  - outbound: send.c and link.c hand what goes to another node to the
 *    em__remote_* calls below, which reach the distribution layer through
 *    the ops table it installed (net/dist_ops.c), or fail with EM_ENOTSUP
 *    when there is none;
 *  - inbound: net/dist_ctl.c applies what arrives through
 *    em__remote_deliver_msg, em__remote_deliver and em__remote_node_down,
 *    which turn it into the runtime's own messages and signals (link.c);
 *  - output deferred to the end of a process's run.
 *
 * link.c keeps the link and monitor tables and what a signal does to a
 * process; it asks this file about anything that is not a local pid.
 */
#include "remote.h"
#include "rt.h"

/* ---- the distribution layer's ops ---- */

static _Atomic(const em__remote_ops *) remote_ops;

void em__remote_install(const em__remote_ops *ops)
{
    atomic_store(&remote_ops, ops);
}

static const em__remote_ops *ops(void)
{
    return atomic_load_explicit(&remote_ops, memory_order_acquire);
}

/* ---- destinations ---- */

int em__dest_classify(em_term to, em__dest *d)
{
    d->pid = d->name = d->node = d->alias = EM_NONE;
    if (em__is_local_pid(to)) {
        d->pid = to;
        return d->kind = EM__DEST_LOCAL_PID;
    }
    if (em__is_atom(to)) {
        d->name = to;
        return d->kind = EM__DEST_LOCAL_NAME;
    }
    if (em__kind(to) == EM__K_PID) {
        d->pid = to;
        em_pid_parts(to, &d->node, NULL, NULL, NULL);
        return d->kind = EM__DEST_REMOTE_PID;
    }
    if (em_tuple_size(to) == 2 && em__is_atom(em_tuple_get(to, 0)) && em__is_atom(em_tuple_get(to, 1))) {
        d->name = em_tuple_get(to, 0);
        if (em_tuple_get(to, 1) == em_local_node(NULL))
            return d->kind = EM__DEST_LOCAL_NAME;
        d->node = em_tuple_get(to, 1);
        return d->kind = EM__DEST_REMOTE_NAME;
    }
    if (em__kind(to) == EM__K_REF) {
        const em__ref *r = (const em__ref *)em__box_of(to);
        uint32_t creation;
        em_term node = em_local_node(&creation);
        d->alias = to;
        if ((r->node == node && r->creation == creation) ||
            (r->node == em__atom(EM__A_NONODE) && r->creation == 0))
            return d->kind = EM__DEST_LOCAL_ALIAS;
        d->node = r->node;
        return d->kind = EM__DEST_REMOTE_ALIAS;
    }
    return d->kind = EM__DEST_BAD;
}

static bool is_remote(const em__dest *d)
{
    return d->kind == EM__DEST_REMOTE_PID || d->kind == EM__DEST_REMOTE_NAME ||
           d->kind == EM__DEST_REMOTE_ALIAS;
}

/* A pid of an earlier incarnation of this node: no process to reach (a
 * send to it is dropped, as to any dead pid). */
static bool is_stale(const em__dest *d)
{
    return d->node == em_local_node(NULL);
}

em_term em__remote_node_of(em_term t)
{
    em__dest d;
    em__dest_classify(t, &d);
    return is_remote(&d) ? d.node : EM_NONE;
}

/* ---- outbound ---- */

int em__remote_send(const em__dest *to, em_term msg)
{
    const em__remote_ops *o = ops();
    if (o == NULL) {
        em_drop(msg);
        return EM_ENOTSUP;
    }
    if (is_stale(to)) {
        em_drop(msg);
        return 0;
    }
    return o->send(to, msg);
}

/* The destination of a signal to t, a remote pid or {Name, Node} from a
 * process's link or monitor table: false when there is none to send to (t
 * is stale, or names this node now: it was made before this node started
 * under that name). */
static bool signal_dest(em_term t, em__dest *d)
{
    em__dest_classify(t, d);
    return is_remote(d) && !is_stale(d);
}

int em__remote_link(em_term from, em_term to)
{
    const em__remote_ops *o = ops();
    em__dest d;
    if (o == NULL)
        return EM_ENOTSUP;
    /* A stale pid: a process of an earlier incarnation, long gone. */
    return signal_dest(to, &d) ? o->link(from, &d) : EM_ENOPROC;
}

void em__remote_unlink(em_term from, em_term to)
{
    const em__remote_ops *o = ops();
    em__dest d;
    if (o && signal_dest(to, &d))
        o->unlink(from, &d);
}

int em__remote_exit(em_term from, em_term to, em_term reason, bool exit2)
{
    const em__remote_ops *o = ops();
    em__dest d;
    if (o == NULL)
        return EM_ENOTSUP;
    return signal_dest(to, &d) ? o->exit(from, &d, reason, exit2) : 0;
}

int em__remote_monitor(em_term from, const em__dest *target, em_term ref)
{
    const em__remote_ops *o = ops();
    if (o == NULL)
        return EM_ENOTSUP;
    return is_stale(target) ? EM_ENOPROC : o->monitor(from, target, ref);
}

void em__remote_demonitor(em_term from, em_term target, const em__refkey *ref)
{
    const em__remote_ops *o = ops();
    em__dest d;
    if (o == NULL || !signal_dest(target, &d))
        return;
    em_term r = em__refkey_term(ref);
    if (r != EM_NONE)
        o->demonitor(from, &d, r);
    em_drop(r);
}

void em__remote_down(em_term from, em_term to, const em__refkey *ref, em_term reason)
{
    const em__remote_ops *o = ops();
    em__dest d;
    if (o == NULL || !signal_dest(to, &d))
        return;
    em_term r = em__refkey_term(ref);
    if (r != EM_NONE)
        o->down(from, &d, r, reason);
    em_drop(r);
}

int em__remote_spawn_out(em_term from, em_term node, em_term reqid, em_term gl, em_term mfa, em_term opts,
                         em_term args)
{
    const em__remote_ops *o = ops();
    if (o == NULL || o->spawn_request == NULL) {
        em_drop(args);
        return EM_ENOTSUP;
    }
    /* ops->spawn_request uses the node alone */
    em__dest d = {.kind = EM__DEST_REMOTE_NAME, .pid = EM_NONE, .name = EM_NONE, .node = node};
    return o->spawn_request(from, &d, reqid, gl, mfa, opts, args);
}

int em__remote_spawn_answer(em_term to, em_term reqid, unsigned flags, em_term result)
{
    const em__remote_ops *o = ops();
    em__dest d;
    if (o == NULL || o->spawn_reply == NULL)
        return EM_ENOTSUP;
    return signal_dest(to, &d) ? o->spawn_reply(&d, reqid, flags, result) : EM_ECLOSED;
}

/* ---- inbound ---- */

int em__remote_deliver_msg(em_term to, em_term msg)
{
    em__dest d;
    if (em__kind(to) == EM__K_REF) {
        if (em__dest_classify(to, &d) != EM__DEST_LOCAL_ALIAS) {
            em_drop(msg);
            return EM_ENOPROC;
        }
        return em__alias_send(to, msg);
    }
    /* A name is looked up here, once (em_send of the name would look it up
     * again, under the registry's lock). */
    if (em__is_atom(to))
        to = em_whereis(to);
    if (!em__is_local_pid(to)) {
        em_drop(msg);
        return EM_ENOPROC;
    }
    return em_send(to, msg);
}

int em__remote_deliver(em_term to, int kind, em_term from, em_term ref, em_term reason)
{
    static const int map[] = {0, EM__SIG_EXIT, EM__SIG_EXIT2, EM__SIG_LINK, EM__SIG_UNLINK,
                              EM__SIG_MONITOR, EM__SIG_DEMONITOR, EM__SIG_DOWN};
    em_term name = EM_NONE;
    if (kind < EM__RSIG_EXIT || kind > EM__RSIG_DOWN) {
        em_drop(from);
        em_drop(ref);
        em_drop(reason);
        return EM_EINVAL;
    }
    if (em__is_atom(to)) {
        name = kind == EM__RSIG_MONITOR ? to : EM_NONE;
        to = em_whereis(to);
    }
    em__refkey akey;
    em_term apid;
    if (kind == EM__RSIG_EXIT2 && em__refkey_of(to, &akey)) {
        /* exit(Alias, Reason): the process decides, as for a message */
        em_drop(ref);
        if (!em__alias_key(&akey, &apid)) {
            em_drop(from);
            em_drop(reason);
            return EM_ENOPROC;
        }
        return em__link_signal(apid, EM__SIG_ALIAS_EXIT, from, &akey, reason, EM_NONE);
    }
    em__refkey key;
    bool has_ref = em__refkey_of(ref, &key);
    if (!has_ref && kind >= EM__RSIG_MONITOR) {
        em_drop(from);
        em_drop(ref);
        em_drop(reason);
        return EM_EINVAL; /* the dist layer checks this; never a ref-less monitor */
    }
    em_drop(ref); /* the key is all we keep */
    int rc = EM_ENOPROC;
    if (em__is_local_pid(to) && kind == EM__RSIG_MONITOR) {
        rc = em__link_monby_add(to, &key, from, name);
    } else if (em__is_local_pid(to) && kind == EM__RSIG_DEMONITOR) {
        em__link_monby_del(to, &key, from);
        rc = 0;
    } else if (em__is_local_pid(to)) {
        return em__link_signal(to, map[kind], from, has_ref ? &key : NULL, reason, name);
    }
    em_drop(from);
    em_drop(reason);
    return rc;
}

int em__remote_spawn_request(em_term reqid, em_term from, em_term gl, em_term mfa, em_term args,
                             unsigned flags)
{
    em_term pid = em__export_spawn(em_tuple_get(mfa, 0), em_tuple_get(mfa, 1), args, gl, from, reqid, flags, NULL);
    return pid == EM_NONE ? EM_ENOMEM : 0;
}

em_term em__remote_spawn_local(em_term m, em_term f, em_term args, em_term gl, em_term *mref)
{
    return em__export_spawn(m, f, args, gl, EM_NONE, EM_NONE, 0, mref);
}

int em__remote_spawn_reply(em_term to, em_term reqid, unsigned flags, em_term result)
{
    em__refkey k;
    if (!em__is_local_pid(to) || !em__refkey_of(reqid, &k))
        return EM_EBADARG; /* no process of this node's: nothing to undo */
    /* To the requester as a signal, in order with the monitor's DOWN that
     * may follow: link.c finds the request among its monitors. */
    return em__link_signal(to, EM__SIG_SPAWN_REPLY, em_dup(result), &k, em_int(flags), EM_NONE);
}

static void send_nodedown(em_term pid, void *node)
{
    em__link_signal(pid, EM__SIG_NODEDOWN, EM_NONE, NULL, EM_NONE, (em_term)(uintptr_t)node);
}

void em__remote_node_down(em_term node)
{
    em__proc_foreach_live(send_nodedown, (void *)(uintptr_t)node);
}

/* ---- output deferred to the end of a run ---- */

/* The list is the scheduler's (em__sched.deferred): a process runs on its
 * scheduler's thread from the moment it is switched in to its switch-out,
 * and the list is flushed at that switch-out, so while a process runs the
 * list holds only what it deferred.  A process that exits is flushed after
 * its death is settled instead (sched.c): what it sent in its last run and
 * the exit signals and DOWNs of its death leave together (a spawned
 * process's SPAWN_REPLY and its MONITOR_P_EXIT, one write).  The ops are those of the first entry's
 * deferral: an entry is flushed by the layer that deferred it even if the
 * node stops meanwhile (the table is a static: it stays valid). */
int em__remote_defer(void *conn)
{
    em__sched *s = em__cur_sched;
    if (s == NULL || (s->current == NULL && !s->finishing))
        return -1; /* not a process (a foreign thread, the em_run thread) */
    for (unsigned i = 0; i < s->ndeferred; i++)
        if (s->deferred[i] == conn)
            return 0;
    const em__remote_ops *o = ops();
    if (o == NULL || o->flush == NULL || s->ndeferred == EM__DEFER_MAX ||
        (s->ndeferred > 0 && o != s->defer_ops))
        return -1;
    s->defer_ops = o;
    s->deferred[s->ndeferred++] = conn;
    return 1;
}

void em__remote_flush(em__sched *s)
{
    void *v[EM__DEFER_MAX];
    unsigned n = s->ndeferred;
    /* Copied out and emptied first: a flush that queued again would find
     * a list in a consistent state. */
    memcpy(v, s->deferred, n * sizeof *v);
    s->ndeferred = 0;
    for (unsigned i = 0; i < n; i++)
        s->defer_ops->flush(v[i]);
}
