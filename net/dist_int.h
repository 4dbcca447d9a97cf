/* dist_int.h: the node (the top level of net/'s private headers, see
 * dist_hs.h): what node.c starts and stops.  Private to ember (net/,
 * tests, fuzzers); includes every lower level, so a test or a fuzzer needs
 * only this one.
 *
 *   node.c        this program as a node: em_node_start/stop, names,
 *                 cookies, the acceptor, node monitoring's calls;
 *   dist_ops.c    outgoing control messages: the runtime's ops
 *                 (runtime/remote.h);
 *   net_kernel.c  the registered net_kernel (is_auth) and em_node_ping;
 *   rex.c         what every node answers to rpc: erlang:node/0 and the
 *                 like, and the registered rex;
 *   user.c        the registered user: the io server of the processes
 *                 em_rpc has other nodes spawn;
 *   global.c      the registered global_name_server of a visible node
 *                 (OTP's global) and <ember/global.h>;
 *   pg.c          process groups (<ember/pg.h>): the scopes and their
 *                 member tables, and the node's default scope `pg`.
 */
#ifndef EM_NET_DIST_INT_H
#define EM_NET_DIST_INT_H

#include "dist_conn.h"

/* Install / remove the runtime's ops (dist_ops.c). */
void em__dist_ops_install(bool on);
/* erlang:send(To, Msg, [noconnect]) (dist_ops.c): msg (taken) goes out
 * only if To is local or its node's connection is up; otherwise it is
 * dropped and no connection is dialled.  For the node's own services
 * answering a peer (rex's features_reply, global's and pg's volatile
 * sends): a peer that went away meanwhile is not dialled back, which would
 * be pointless and log a failed attempt.  May yield (held by a full
 * connection queue), but is no signal point (em__send_quiet): the caller,
 * which may be sending one message to many peers, dies at its next one
 * with nothing held. */
void em__dist_ops_send_noconnect(em_term to, em_term msg);

/* The registered net_kernel's process (net_kernel.c). */
void em__net_kernel_main(void *arg);

/* Export the functions every node answers rpc for: erlang:node/0,
 * nodes/0, registered/0, whereis/1 (rex.c; em_node_start). */
void em__rex_exports(void);
/* Spawn `rex` (rex.c) and `user`, the node's io server (user.c): their
 * pids, or EM_NONE; each registers itself as it starts. */
em_term em__rex_start(void);
em_term em__user_start(void);
/* Spawn the node's default pg scope, `pg` (pg.c; it registers itself):
 * its pid, or EM_NONE.  Stop: kill it (em_node_stop). */
em_term em__pg_node_start(void);
void em__pg_node_stop(void);
/* Register the calling process as name (an atom), waiting up to a second
 * for a process of an earlier node start to free it: false if it did not
 * (rex.c). */
bool em__register_self(em_term name);
/* Spawn `global_name_server` (global.c) and export global:resolve_it/4:
 * its pid, or EM_NONE; with connect_all false it syncs with no node that
 * comes up (OTP's connect_all). */
em_term em__global_start(bool connect_all);

#endif /* EM_NET_DIST_INT_H */
