/* remote.h: the interface between the runtime and the distribution layer
 * (net/dist*.c).  Private to ember: net/ includes it, users never do.
 *
 * Outbound: when a process sends to, links to, monitors or signals a remote
 * pid (or {Name, Node}), the runtime calls the installed ops; without ops
 * (no node running) those calls fail with EM_ENOTSUP.  Ops are called from
 * the process's own context (they may yield: a first send to a node may
 * connect) or, for `exit` and `down` at process death, from a scheduler's
 * stack (they must not yield then: queue the control message).
 *
 * Inbound: the distribution layer delivers signals from remote processes
 * with em__remote_deliver, and reports a lost connection with
 * em__remote_node_down, which gives every local link to that node an exit
 * signal `noconnection` and every monitor a DOWN `noconnection`, exactly
 * once, in each process's own context.
 */
#ifndef EM_RUNTIME_REMOTE_H
#define EM_RUNTIME_REMOTE_H

#include <stdbool.h>
#include <ember/term.h>

typedef struct em__remote_ops {
    /* SEND / REG_SEND: `to` is a remote pid or {Name, Node}; takes msg. */
    int (*send)(em_term to, em_term msg);
    /* LINK from local `from` to remote `to` (both borrowed). */
    int (*link)(em_term from, em_term to);
    /* UNLINK (UNLINK_ID). */
    int (*unlink)(em_term from, em_term to);
    /* EXIT (a link broke: exit2 false) or EXIT2 (exit/2: exit2 true). */
    int (*exit)(em_term from, em_term to, em_term reason, bool exit2);
    /* MONITOR_P: target is a remote pid or {Name, Node}; ref borrowed. */
    int (*monitor)(em_term from, em_term target, em_term ref);
    /* DEMONITOR_P. */
    int (*demonitor)(em_term from, em_term target, em_term ref);
    /* MONITOR_P_EXIT: local `from` (monitored) died; tell holder `to`. */
    int (*down)(em_term from, em_term to, em_term ref, em_term reason);
    /* Write what the running process left queued (see
     * em__remote_defer_flush); called in its context as it stops running,
     * so it must not yield. */
    void (*flush)(void);
} em__remote_ops;

/* Install (or with NULL remove) the distribution layer's ops. */
void em__remote_install(const em__remote_ops *ops);

/* Kinds for em__remote_deliver: the same as the runtime's signals. */
enum {
    EM__RSIG_EXIT = 1,  /* from (remote, linked) exited with reason */
    EM__RSIG_EXIT2,     /* exit(To, Reason) from a remote process */
    EM__RSIG_LINK,      /* from wants a link */
    EM__RSIG_UNLINK,    /* from removed its link */
    EM__RSIG_MONITOR,   /* from monitors `to` with ref */
    EM__RSIG_DEMONITOR, /* from dropped monitor ref */
    EM__RSIG_DOWN       /* the remote process `to` monitored (ref) exited */
};

/* Deliver a signal from a remote process to the local process `to` (a
 * local pid, or for MONITOR a registered name: the monitor is then by name).
 * Takes from, ref and reason.  Returns 0, or EM_ENOPROC when `to` does not
 * exist (for LINK and MONITOR the caller then answers the remote side with
 * EXIT noproc / MONITOR_P_EXIT noproc, as OTP does). */
int em__remote_deliver(em_term to, int kind, em_term from, em_term ref, em_term reason);

/* Connection to `node` (an atom) lost: noconnection to every local link and
 * monitor across it. */
void em__remote_node_down(em_term node);

/* Output deferred to the end of a run: the distribution layer calls this
 * when the running process queues data for a connection; the runtime then
 * calls ops->flush just before that process next stops running (waits,
 * yields, exits), so what a process sends in one run leaves in a few system
 * calls, and a request is still written before its sender waits for the
 * reply.  Returns false when not called from a process (write at once). */
bool em__remote_defer_flush(void);
/* Hand a message to the ops' send (EM_ENOTSUP without ops); takes msg. */
int em__remote_send_op(em_term to, em_term msg);

/* Waiting for another thread's go-ahead (io.c), for waits that are not on
 * a file descriptor (a sender held back while a connection's queue is
 * full): em__flag_arm returns a token naming the calling process's next
 * wait; any thread may then call em__flag_wake(token) (a stale token, for
 * a wait that already ended, is ignored); em__flag_wait waits for that or
 * timeout_ms (signals are handled meanwhile) and returns 0 or
 * EM_ETIMEDOUT.  Process context only. */
uint64_t em__flag_arm(void);
int em__flag_wait(int64_t timeout_ms);
void em__flag_wake(uint64_t token);

/* Whether t is a pid of another node. */
bool em__is_remote_pid(em_term t);

#endif /* EM_RUNTIME_REMOTE_H */
