/* dist_conn.h: a connection's processes (dist_conn.c): connecting on
 * demand, the accepted side, and once the handshake is done the reader and
 * the writer.  Private to ember (net/).  The level above the control
 * messages: see dist_hs.h.
 */
#ifndef EM_NET_DIST_CONN_H
#define EM_NET_DIST_CONN_H

#include "dist_ctl.h"

/* The connection for node, connecting on demand (spawns the connector);
 * NULL for our own node, no memory, or (*barred set) a node in its redial
 * back-off.  +1 ref. */
em__dconn *em__dconn_for(em_term node, bool *barred);
/* After a successful handshake on fd (with bytes already read: left, from
 * malloc or NULL, taken and freed before the reader starts, so that a
 * reader killed at shutdown leaks nothing): bring c up and run its reader
 * in the calling process (does not return until the connection is down).
 * The caller keeps its reference to c.  A process killed at shutdown is
 * not resumed, so every reference a process holds goes back in an exit
 * hook: the caller's (given at its spawn, em_spawn_opts.on_exit, or as it
 * is taken), the reader's and the writer's (the writer's given at its
 * spawn: it may be killed before it ever ran). */
void em__dconn_run(em__dconn *c, int fd, uint8_t *left, size_t nleft, uint64_t flags,
                   uint32_t peer_creation);
/* Spawn the process that shakes hands on the accepted socket fd and, if
 * that succeeds, runs the connection (fd is its from here on: closed
 * however the process ends, and here if the spawn fails).  0 or
 * EM_ENOMEM. */
int em__dist_accept_spawn(int fd);
/* Spawn the connector of the pending entry c, which takes a reference of
 * the caller's (given back however it ends); if the spawn fails, the
 * reference goes back and c goes down.  0 or EM_ENOMEM. */
int em__dist_connector_spawn(em__dconn *c);

#endif /* EM_NET_DIST_CONN_H */
