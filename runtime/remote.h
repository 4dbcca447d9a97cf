/* remote.h: the seam between the runtime and the distribution layer (net/).
 * Private to ember: runtime/ and net/ include it, users never do.
 *
 * Everything the runtime does for a destination that is not on this node
 * is in runtime/remote.c.  It classifies a destination once
 * (em__dest_classify: a local pid, a local name, a remote pid or {Name,
 * Node}), and reaches other nodes only through the one table of operations
 * that net installs (em__remote_ops).  What arrives from other nodes, net
 * applies through the inbound calls below (em__remote_deliver, ...), which
 * remote.c implements.
 *
 * Adding a control message means three places, one each:
 *   1. a case in the parser: net/dist_ctl.c (em__ctl_parse_cached, and its
 *      action in em__ctl_dispatch);
 *   2. an entry in the ops table: em__remote_ops below, implemented in
 *      net/dist_ops.c (the outgoing signal);
 *   3. a handler in the runtime: runtime/remote.c (the call that uses the
 *      ops entry, and the inbound call em__ctl_dispatch makes).
 *
 * Outbound: when a process sends to, links to, monitors or signals a remote
 * pid (or {Name, Node}), remote.c calls the installed ops; without ops (no
 * node running) those calls fail with EM_ENOTSUP.  Ops are called from the
 * process's own context (they may yield: a first send to a node may
 * connect) or, for `exit`, `down` and `demonitor` at process death, from a
 * scheduler's stack (they must not yield then: queue the control message).
 *
 * Inbound: the distribution layer delivers messages and signals from
 * remote processes with em__remote_deliver_msg and em__remote_deliver, and
 * reports a lost connection with em__remote_node_down, which gives every
 * local link to that node an exit signal `noconnection` and every monitor a
 * DOWN `noconnection`, exactly once, in each process's own context.
 */
#ifndef EM_RUNTIME_REMOTE_H
#define EM_RUNTIME_REMOTE_H

#include <stdbool.h>
#include <stdint.h>
#include <ember/term.h>

/* ---- destinations ---- */

/* What a destination term names, as em__dest_classify finds it. */
enum em__dest_kind {
    EM__DEST_BAD = 0,     /* not a destination */
    EM__DEST_LOCAL_PID,   /* a pid of this node (pid) */
    EM__DEST_LOCAL_NAME,  /* an atom, or {Name, node()} (name) */
    EM__DEST_REMOTE_PID,  /* a pid of another node (pid, node) */
    EM__DEST_REMOTE_NAME, /* {Name, Node}, Node not this node (name, node) */
    EM__DEST_LOCAL_ALIAS, /* a reference of this node (alias): an alias
                             of a process here, or nothing (alias.c) */
    EM__DEST_REMOTE_ALIAS /* a reference of another node (alias, node),
                             sent to with ALIAS_SEND */
};

/* A classified destination.  The terms are borrowed from the term that was
 * classified; the fields a kind does not use are EM_NONE.  A pid of an
 * earlier incarnation of this node is a REMOTE_PID whose node is this
 * node's name: it names no live process (remote.c sends nothing to it). */
typedef struct em__dest {
    int kind;      /* enum em__dest_kind */
    em_term pid;   /* LOCAL_PID, REMOTE_PID */
    em_term name;  /* LOCAL_NAME, REMOTE_NAME: an atom */
    em_term node;  /* REMOTE_*: an atom */
    em_term alias; /* *_ALIAS: a reference */
} em__dest;

/* Classify `to` into *d; returns d->kind.  Cheap for a local pid (one tag
 * test), but callers on a hot path test em__is_local_pid first.  A name is
 * not looked up, nor an alias.  A reference is local when its node and
 * creation are this node's, or when it was made before this node started
 * (nonode@nohost, creation 0); one of an earlier incarnation of this node
 * is a REMOTE_ALIAS whose node is this node's name (nothing is sent to
 * it).  Thread: any. */
int em__dest_classify(em_term to, em__dest *d);

/* ---- outbound: the operations net installs ---- */

typedef struct em__remote_ops {
    /* SEND (to->pid), REG_SEND (to->name on to->node) or ALIAS_SEND
     * (to->alias: dropped when the connection is up without DFLAG_ALIAS);
     * takes msg. */
    int (*send)(const em__dest *to, em_term msg);
    /* LINK from local `from` to the remote pid to->pid (all borrowed). */
    int (*link)(em_term from, const em__dest *to);
    /* UNLINK (UNLINK_ID). */
    int (*unlink)(em_term from, const em__dest *to);
    /* EXIT (a link broke: exit2 false) or EXIT2 (exit/2: exit2 true). */
    int (*exit)(em_term from, const em__dest *to, em_term reason, bool exit2);
    /* MONITOR_P: target is a remote pid or {Name, Node}; ref borrowed. */
    int (*monitor)(em_term from, const em__dest *target, em_term ref);
    /* DEMONITOR_P. */
    int (*demonitor)(em_term from, const em__dest *target, em_term ref);
    /* MONITOR_P_EXIT: a local process monitored by the remote holder
     * to->pid died; `from` names it as it was monitored: its pid, or the
     * name (an atom) of a monitor by name (OTP's DOWN then says {Name,
     * Node}). */
    int (*down)(em_term from, const em__dest *to, em_term ref, em_term reason);
    /* Write what the running process left queued on conn, and let go of
     * what em__remote_defer's caller kept for the list (see there); called
     * in its context as it stops running, so it must not yield. */
    void (*flush)(void *conn);
    /* SPAWN_REPLY {31, ReqId, To, Flags, Result} to the remote requester
     * to->pid (all borrowed): only on a connection that is up (never
     * connects); EM_ECLOSED when there is none.  May be NULL (no spawn
     * requests are served then). */
    int (*spawn_reply)(const em__dest *to, em_term reqid, unsigned flags, em_term result);
    /* SPAWN_REQUEST {29, ReqId, From, GL, MFA, Opts} + Args to the node
     * to->node (only the node is set: the request names no process there;
     * connecting on demand; EM_ECLOSED in its back-off,
     * EM_ENOTSUP when the connection is up without DFLAG_SPAWN).  Takes
     * args; borrows the rest.  May be NULL (EM_ENOTSUP). */
    int (*spawn_request)(em_term from, const em__dest *to, em_term reqid, em_term gl, em_term mfa,
                         em_term opts, em_term args);
} em__remote_ops;

/* {global, Name}, as gen:call and gen_server:cast address a server: the
 * pid global has for Name (a new reference), or EM_NONE.  Installed by
 * net (global.c) when a node's global_name_server starts; NULL: no
 * global (then em_call finds no process and em_cast drops). */
typedef em_term (*em__global_whereis_fn)(em_term name);
extern _Atomic(em__global_whereis_fn) em__global_whereis;
/* server is {global, Name}: true, and *pid the pid global has for Name
 * (a new reference) or EM_NONE (call.c; em_call and em_cast). */
bool em__global_server(em_term server, em_term *pid);
/* em_call of a server the caller made for the call (taken: a pid, or a
 * {Name, Node} tuple), dropped after it; a calling process keeps it
 * across the wait (em__proc_keep), so a death there loses nothing.
 * The same answers as em_call.  (call.c; em_call's {global, Name},
 * em_node_connect) */
int em__call_taking(em_term server, em_term request, int64_t timeout_ms, em_term *reply);
/* em_reply with From's two parts apart (both borrowed; reply taken): for
 * net code that holds a caller's pid and tag, not a {Pid, Tag} tuple
 * (rex).  The same answers as em_reply.  (call.c) */
int em__reply_to(em_term to, em_term tag, em_term reply);

/* Install (or with NULL remove) the distribution layer's ops.  The table
 * must stay valid for as long as the runtime may use it (a static). */
void em__remote_install(const em__remote_ops *ops);

/* ---- inbound: what net applies through the runtime ---- */

/* A message from another node to `to`: a local pid, a name registered
 * here (looked up once), or an alias of a local process (a reference:
 * delivered if the alias is active when the process takes it in).  Takes
 * msg.  Returns 0, or EM_ENOPROC when `to` is no such local process or
 * names another node (the message is dropped, as OTP drops it; an
 * inactive alias is not known here: 0). */
int em__remote_deliver_msg(em_term to, em_term msg);

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
 * local pid, or a registered name: for MONITOR the monitor is then by
 * name; for EXIT2 also an alias, acted on if it is active when the process
 * handles it).  Takes from, ref and reason.  Returns 0, or EM_ENOPROC when `to`
 * is no local process (for LINK and MONITOR the caller then answers the
 * remote side with EXIT noproc / MONITOR_P_EXIT noproc, as OTP does). */
int em__remote_deliver(em_term to, int kind, em_term from, em_term ref, em_term reason);

/* Connection to `node` (an atom) lost: noconnection to every local link and
 * monitor across it. */
void em__remote_node_down(em_term node);

/* The link and monitor bits of a spawn request and of its reply's Flags
 * (erl_dist_protocol: 1 a link was set up, 2 a monitor). */
enum { EM__SPAWN_LINK = 1, EM__SPAWN_MONITOR = 2 };

/* SPAWN_REQUEST: the remote process `from` asks this node to spawn
 * M:F(Args) (mfa {M, F, Arity}, args the argument list) with `flags`
 * (EM__SPAWN_*) and group leader gl.  The new process (export.c) sets up
 * the link and the monitor (ReqId its reference), answers SPAWN_REPLY
 * itself before anything else it sends (so the reply precedes its exit
 * signals) and runs the export.  Takes args, borrows the rest.  Returns 0,
 * or EM_ENOMEM when no process could be made (the caller answers
 * system_limit, as OTP). */
int em__remote_spawn_request(em_term reqid, em_term from, em_term gl, em_term mfa, em_term args,
                             unsigned flags);

/* The spawn a request from afar gets, asked by a process of this node
 * (rex, net/rex.c): a new process running M:F(Args) -- or what
 * erpc:execute_call / execute_cast do, for those -- (m, f atoms; args
 * taken) with group leader gl (borrowed; EM_NONE for none), monitored by
 * the caller, *mref its reference (owned; mref may be NULL: no monitor).
 * Returns the pid, or EM_NONE (no process could be made).  Any thread
 * (the monitor only from a process). */
em_term em__remote_spawn_local(em_term m, em_term f, em_term args, em_term gl, em_term *mref);

/* SPAWN_REPLY for the local process `to`: its request reqid got `result`
 * (a pid, flags saying which of link and monitor were set up, or an error
 * atom).  All borrowed.  Delivered to `to` as a signal (in order with the
 * DOWN that may follow on the same connection), which sets up the monitor
 * and link, or undoes them on the remote side if `to` abandoned the
 * request.  Returns 0, or EM_ENOPROC when `to` is a pid of this node but
 * no live process (the caller then undoes what the reply's flags set up
 * on the remote side: DEMONITOR_P, and EXIT noproc for a link), EM_EBADARG
 * when it is no pid of this node (an earlier incarnation's: ignored, as
 * OTP ignores it). */
int em__remote_spawn_reply(em_term to, em_term reqid, unsigned flags, em_term result);

/* ---- output deferred to the end of a run ---- */

/* The distribution layer calls em__remote_defer(conn) when the running
 * process queues data on the connection conn (opaque to the runtime); the
 * runtime then calls ops->flush(conn), once, just before that process next
 * stops running (waits, yields), so what a process sends in one run leaves
 * in a few system calls, and a request is still written before its sender
 * waits for the reply.  A process that exits is flushed once its death is
 * settled, on its scheduler's stack: what it sends as it dies (exit
 * signals, DOWNs, queued by the ops at death) is deferred too and leaves
 * with its last run's output.  The list is short (a few connections):
 * returns 1 when conn was added (the caller then keeps conn alive until
 * ops->flush(conn): a reference), 0 when conn was on it already, and -1
 * when it was not deferred (write at once): neither a running process nor
 * a process's death on a scheduler (a foreign thread, the em_run thread at
 * shutdown), the list full, or no ops. */
int em__remote_defer(void *conn);

/* ---- waiting for another thread's go-ahead (io.c) ----
 * Not part of the seam's logic: a generic wait of the runtime that net
 * needs to hold a sender back while a connection's queue is full (the
 * runtime's other private headers are not for net/).
 * em__flag_arm returns a token naming the calling process's next wait; any
 * thread may then call em__flag_wake(token) (a stale token, for a wait
 * that already ended, is ignored); em__flag_wait waits for that or
 * timeout_ms and returns 0 or EM_ETIMEDOUT, or EM_ECANCELED at once when
 * a signal is pending (it does not handle signals: the caller lets go of
 * what it holds and the process takes the signal at its next signal
 * point, so no death happens inside the wait).  Process context only. */
uint64_t em__flag_arm(void);
int em__flag_wait(int64_t timeout_ms);
void em__flag_wake(uint64_t token);

/* ---- sends, yields and sleeps that are no signal point ----
 * For net's code that runs in a caller's process while it holds a lock, a
 * term or a connection, which a death there would lose: em_send without
 * its signal point and its budget tick (never yields; io.c's back-pressure
 * hold aside), em_yield without its signal point (nothing outside a
 * process), and a sleep of ms milliseconds that signals do not end (the
 * thread sleeps outside a process).  The process takes its signals at its
 * next signal point, once net has let go.  (send.c, proc.c, io.c) */
int em__send_quiet(em_term to, em_term msg);
void em__yield_quiet(void);
void em__sleep_quiet(int64_t ms);

/* em__proc_keep: the calling process (there must be one) keeps t (taken)
 * until em__proc_unkeep gives it back (the caller owns it then), or drops
 * it when it dies first: how net, or the runtime's own library code
 * (sup.c, rpc.c, call.c, server.c), holds a term of its own across a
 * signal point (a call's wait) without losing it to a death.  Nested up
 * to EM__KEPT_MAX (rt.h) deep; given back last kept first.
 * (proc.c) */
void em__proc_keep(em_term t);
em_term em__proc_unkeep(void);

#endif /* EM_RUNTIME_REMOTE_H */
