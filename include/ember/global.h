/* global.h: names registered across a cluster, as Erlang's `global`
 * module has them: global:register_name/2, unregister_name/1,
 * whereis_name/1, registered_names/0, send/2 and sync/0.
 * Public: installed as <ember/global.h>; users include <ember.h>.
 *
 * A visible node (em_node_start's default; not -hidden) runs a registered
 * `global_name_server` that takes part in OTP 25's global as a full peer
 * (protocol version 8; docs/global.md): Erlang nodes see the names
 * registered here with global:whereis_name/1 and {global, Name}, and the
 * names they register are found here.  A hidden node runs none: every
 * call below returns EM_ESTATE there (or EM_NONE / []).  With connect_all
 * off (em_node_opts.connect_all, -connect_all false) the server runs but,
 * as OTP's, does not sync with the nodes that come up: names stay local.
 *
 * The rules are global's.  A name is any term; it names one pid at a
 * time, and a process has at most one global name.  Registering and
 * unregistering take global's lock {global, Registrar} on every node this
 * node knows, so the cluster agrees.  A name goes when its process ends
 * (every node monitors it: the runtime tells each node's monitor with
 * MONITOR_P_EXIT) and when its node goes down.  When two partitions that
 * both hold a name join, one pid keeps it: the node of the clashing pid
 * resolves (a pid of this node: the resolver given at registration, which
 * for names registered here is global:random_exit_name/3 -- the pid on
 * the larger node is killed, the other keeps the name).
 */
#ifndef EM_NET_GLOBAL_H
#define EM_NET_GLOBAL_H

#include <stdint.h>

#include <ember/common.h>
#include <ember/term.h>

/* em_global_register: global:register_name(Name, Pid): give pid (a pid of
 * this node or another) the global name `name` (any term; both borrowed),
 * with global's default resolver for clashes (random_exit_name/3).
 * Returns 0 (registered on every known node), EM_EEXIST (the name is
 * taken, or the pid already has a global name: global's `no`),
 * EM_EBADARG (pid not a pid, name EM_NONE), EM_ESTATE (no node running,
 * or a hidden one), EM_ENOMEM, EM_ECANCELED (from a thread that is not a
 * process: the runtime shut down during the call, as em_call).  Waits for
 * the lock as global does (backing
 * off at random while another registration holds it).
 * Yields: yes. Allocates: yes. Thread: any (a thread that is not a
 * process blocks, as in em_call). */
EM_API int em_global_register(em_term name, em_term pid);

/* em_global_unregister: global:unregister_name(Name) (name borrowed).
 * Returns 0 (also when the name was not registered), EM_EBADARG,
 * EM_ESTATE, EM_ENOMEM, EM_ECANCELED (as em_global_register).  Yields:
 * yes. Allocates: yes. Thread: any. */
EM_API int em_global_unregister(em_term name);

/* em_global_whereis: global:whereis_name(Name): the pid (a new reference,
 * the caller owns it), or EM_NONE when no process has that name (or no
 * global server runs).  Reads this node's table: no message is sent.
 * Yields: in a process, only while global's own process holds the table
 * (not a signal point).  Allocates: no (a boxed remote pid is shared).
 * Thread: any. */
EM_API em_term em_global_whereis(em_term name);

/* em_global_registered_names: global:registered_names(): a new list of
 * the names (the caller owns it); [] when no global server runs.
 * Yields: as em_global_whereis. Allocates: yes. Thread: any. */
EM_API em_term em_global_registered_names(void);

/* em_global_send: global:send(Name, Msg): send msg (taken, in every case)
 * to the pid registered as name.  Returns what em_send returns, or
 * EM_ENOTFOUND (no such name: Erlang's exit({badarg, {Name, Msg}})),
 * EM_ESTATE (no global server).  Yields: as em_global_whereis, and while
 * a remote pid's connection is full (back-pressure); not a signal point.
 * Thread: any. */
EM_API int em_global_send(em_term name, em_term msg);

/* em_global_sync: global:sync(): wait until global has synchronised with
 * every visible node connected now (each has exchanged names with this
 * node, or has gone down), up to timeout_ms (EM_INFINITY: no limit).
 * Returns 0, EM_ETIMEDOUT, EM_ESTATE (no global server), EM_EINVAL
 * (timeout_ms negative and not EM_INFINITY), EM_ENOMEM, EM_ECANCELED (as
 * em_global_register).  With
 * connect_all off it waits for nodes that never sync, as OTP's does.
 * Yields: yes. Allocates: yes. Thread: any (blocks a thread). */
EM_API int em_global_sync(int64_t timeout_ms);

#endif /* EM_NET_GLOBAL_H */
