/* send.c: em_send, the path of a local message: find the process, push
 * onto its mailbox, wake it if it waits.  A destination on another node is
 * handed to remote.c, an alias of this node to alias.c. */
#include "remote.h"
#include "rt.h"

/* A message does not take the gate (two atomic read-modify-writes per
 * send): it checks the serial once and is tagged with it.  If the process
 * dies meanwhile, the message is dropped with its mailbox, or, if it lands
 * after that, discarded by the slot's next process, which sees the tag is
 * not its own (em__proc_drain).  Process structures are never freed while
 * the runtime runs, so the pointer stays valid.  always_inline: GCC kept
 * it a call from em_send, whose saving and restoring of registers was a
 * visible part of a local message (docs/perf.md). */
static inline __attribute__((always_inline)) int send_local_from(em__sched *self, em_term pid, em_term msg)
{
    em__proc *p = em__proc_lookup_slot(em__local_pid_id(pid));
    uint32_t serial = em__local_pid_serial(pid);
    if (p == NULL || !em__proc_alive_as(p, serial)) {
        em_drop(msg); /* a dead pid: dropped silently, as in Erlang */
        return 0;
    }
    em__msg *n = em__msg_new(msg);
    if (n == NULL) {
        em_drop(msg);
        return EM_ENOMEM;
    }
    n->serial = serial;
    if (self != NULL && atomic_load_explicit(&p->home_pub, memory_order_relaxed) == self &&
        !p->inbox_from_home) {
        /* p lives on this thread, which is the only one that touches its
         * private queue and its state, and p cannot end while we run: the
         * message goes straight to the end of the private queue, with no
         * atomic exchange, even while other threads' messages wait in p's
         * inbox (there is no order between different senders).  This
         * thread's own messages are never in the inbox behind it: those
         * sent before p first ran were drained by p at its start
         * (em__proc_entry), before this thread ran anything else; and after
         * this thread pushed a signal to p (link.c), its messages take the
         * inbox too until p drains it: a trapped exit signal becomes an
         * {'EXIT', ...} message at the drain, and must stay ahead of the
         * messages its sender sent after it. */
        em__mbox_append(&p->mbox, n);
        p->local_new = 1;
        em__proc_wake_msg_home(self, p);
    } else {
        em__mbox_push(&p->mbox, n);
        em__proc_wake(p, EM__EV_MSG);
    }
    return 0;
}

static int send_local(em_term pid, em_term msg)
{
    return send_local_from(em__cur_sched, pid, msg);
}

/* A destination that is not a local pid: a local name is looked up and
 * sent to here; remote.c takes everything on other nodes.  Out of em_send,
 * which has the local pid's path only (noinline: em_send's frame, which a
 * process carries while it yields inside it, stays that path's). */
__attribute__((noinline)) static int send_other(em_term to, em_term msg)
{
    em__dest d;
    switch (em__dest_classify(to, &d)) {
    case EM__DEST_LOCAL_NAME:
        d.pid = em_whereis(d.name);
        if (d.pid == EM_NONE)
            break;
        return send_local(d.pid, msg);
    case EM__DEST_LOCAL_ALIAS:
        return em__alias_send(to, msg);
    case EM__DEST_REMOTE_PID:
    case EM__DEST_REMOTE_NAME:
    case EM__DEST_REMOTE_ALIAS:
        return em__remote_send(&d, msg);
    default:
        break;
    }
    em_drop(msg);
    return EM_EBADARG;
}

int em__send_quiet(em_term to, em_term msg)
{
    if (msg == EM_NONE)
        return EM_EINVAL;
    em__sched *s = em__cur_sched;
    return em__is_local_pid(to) ? send_local_from(s, to, msg) : send_other(to, msg);
}

EM_API int em_send(em_term to, em_term msg)
{
    if (msg == EM_NONE)
        return EM_EINVAL;
    em__sched *s = em__cur_sched;
    int rc = em__is_local_pid(to) ? send_local_from(s, to, msg) : send_other(to, msg);
    em__proc *self = s ? s->current : NULL;
    if (self) {
        em__proc_signals(self); /* a signal point: may not return */
        em__proc_tick(self);
    }
    return rc;
}
