/* call.h: calls and replies between processes, local or on other nodes,
 * as Erlang's gen:call and gen:reply do them (the protocol under
 * gen_server:call/3 and gen_server:reply/2): a C process calls an Erlang
 * gen_server or an ember server, and answers calls from either.
 * Public: installed as <ember/call.h>; users include <ember.h>.
 *
 * The protocol.  The caller monitors the server and sends it
 *     {'$gen_call', {CallerPid, Tag}, Request}
 * and waits for {Tag, Reply} or the monitor's DOWN.  Tag is the monitor's
 * reference itself for a local server called without a timeout, and
 * otherwise the improper list [alias|Mref], where Mref is also an alias of
 * the caller (em_monitor_alias, mode EM_ALIAS_DEMONITOR) that ends with the
 * call: a reply that comes after the caller gave up is dropped and never
 * enters its mailbox, on this node or, as OTP 25 does, on an Erlang one.
 * The server answers {Tag, Reply}: to the alias for an [alias|_] tag (as
 * gen:reply does; ALIAS_SEND across the wire), else to CallerPid.
 */
#ifndef EM_RUNTIME_CALL_H
#define EM_RUNTIME_CALL_H

#include <stdint.h>

#include <ember/common.h>
#include <ember/term.h>
#include <ember/runtime.h>

/* em_call: call `server` (borrowed: a pid, local or remote; a registered
 * name; {Name, Node}, Node this node or another; {global, Name}, the pid
 * registered with global as Name (<ember/global.h>), as gen:call takes
 * it -- so {global, X} never means a process `global` on node X) with
 * `request` (taken, in
 * every case) and wait up to timeout_ms (EM_INFINITY: no limit) for the
 * reply, as gen:call(Server, '$gen_call', Request, Timeout).  Messages that
 * are not the reply or the monitor's DOWN stay in the mailbox, in order;
 * the caller's mailbox is scanned only from where it ended when the call
 * began.  Returns, with *reply (reply may be NULL):
 *  - 0: the server replied; *reply is the reply (the caller owns it);
 *  - EM_ETIMEDOUT: no reply within timeout_ms (a reply sent later is
 *    dropped: the call's alias is gone);
 *  - EM_ENOPROC: no such process (a name registered by nobody, locally or
 *    with global, a pid that is gone; Erlang's exit(noproc));
 *  - EM_ENOCONN: the server's node cannot be reached or its connection was
 *    lost during the call, or no node is running here for a remote server
 *    (Erlang's exit({nodedown, Node}));
 *  - EM_EEXIT: the server exited during the call; *reply is its exit
 *    reason (owned by the caller);
 *  - EM_EBADARG: server is not one of the above; EM_EINVAL: the server is
 *    the caller itself (Erlang's calling_self), request is EM_NONE, or
 *    timeout_ms is negative and not EM_INFINITY; EM_ENOMEM; EM_ETOOBIG
 *    (a remote server and a request the external format cannot hold);
 *    EM_ECANCELED (from a thread that is not a process: the runtime shut
 *    down during the call).
 * *reply is EM_NONE unless the code says otherwise.
 * Thread: any.  In a process it yields (a receive: a signal point).  From
 * a thread that is not an ember process it blocks that thread while a
 * short-lived process of its own makes the call (the runtime must be
 * running, or is started as by em_spawn); that process is another sender
 * than the thread, so the request is not ordered after what the thread
 * sent before.  Allocates: yes. */
EM_API int em_call(em_term server, em_term request, int64_t timeout_ms, em_term *reply);

/* em_reply: answer a call: `from` (borrowed) is the {Pid, Tag} of the
 * '$gen_call' message, `reply` (taken) the answer.  Sends {Tag, Reply}
 * with Tag echoed verbatim: to the alias when Tag is [alias|Alias] (or
 * [[alias|Alias]|_]), as gen:reply does, else to Pid.  The reply may be
 * sent later, by any process or thread (a deferred reply: keep a copy of
 * from with em_dup).  Returns what em_send returns, or EM_EBADARG when from
 * is not {Pid, Tag} (reply released).  Thread: any. */
EM_API int em_reply(em_term from, em_term reply);

#endif /* EM_RUNTIME_CALL_H */
