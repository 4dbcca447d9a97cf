/* send.c: em_send, the path of a message (docs/DESIGN.md): look up the
 * destination, push onto its mailbox, wake it if it waits. */
#include "rt.h"

static int send_local(em_term pid, em_term msg)
{
    em__proc *p = em__proc_acquire(pid);
    if (p == NULL) {
        em_drop(msg); /* a dead pid: dropped silently, as in Erlang */
        return 0;
    }
    em__msg *n = em__msg_new(msg);
    if (n == NULL) {
        em__proc_release(p);
        em_drop(msg);
        return EM_ENOMEM;
    }
    em__mbox_push(&p->mbox, n);
    em__proc_wake(p, EM__EV_MSG);
    em__proc_release(p);
    return 0;
}

EM_API int em_send(em_term to, em_term msg)
{
    if (msg == EM_NONE)
        return EM_EINVAL;
    int rc;
    if (em__is_local_pid(to)) {
        rc = send_local(to, msg);
    } else if (em__is_atom(to)) {
        em_term pid = em_whereis(to);
        if (pid == EM_NONE) {
            em_drop(msg);
            return EM_EBADARG;
        }
        rc = send_local(pid, msg);
    } else if (em__kind(to) == EM__K_PID || em__kind(to) == EM__K_TUPLE) {
        em__remote_send_fn f = atomic_load(&em__remote_send);
        if (f == NULL) {
            em_drop(msg);
            return em__kind(to) == EM__K_PID ? EM_ENOTSUP : EM_EBADARG;
        }
        rc = f(to, msg);
    } else {
        em_drop(msg);
        return EM_EBADARG;
    }
    em__proc *self = em__self_proc();
    if (self) {
        em__proc_signals(self); /* a signal point: may not return */
        em__proc_tick(self);
    }
    return rc;
}
