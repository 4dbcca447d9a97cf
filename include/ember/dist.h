/* dist.h: this program as an Erlang node -- names, cookies, connections to
 * other nodes (ember or Erlang/OTP), ping and node monitoring.
 * Public: installed as <ember/dist.h>; users include <ember.h>.
 *
 * Once a node is started, the runtime's calls work across nodes: em_send to
 * a remote pid or to {Name, Node} connects on demand (port mapper lookup and
 * handshake) and delivers the message; em_link, em_monitor, em_exit_pid on
 * remote pids send the matching signals; a lost connection gives every link
 * and monitor across it `noconnection`, exactly once.
 *
 * A node that cannot be reached is dialled by one attempt at a time; what
 * is sent meanwhile waits in the connection's queue and is delivered if
 * the attempt succeeds, dropped if it fails (a sender is held while that
 * queue holds more than 8 MiB, as OTP holds one at its 1 MiB busy limit,
 * pending or not).  After a failed attempt the node is not dialled again
 * on demand for 500 ms (OTP redials at the next send): messages sent to it
 * meanwhile are dropped at once, links and monitors to it get
 * noconnection at once, em_monitor_node a nodedown; the first send after
 * that dials again.  A failure is logged once per episode (until a
 * connection to that node comes up), not per attempt.  em_node_ping ends
 * the back-off and dials, as an explicit connect does in OTP.
 *
 * What is implemented (see docs/dist.md for the rest):
 *  - the handshake of OTP 23+ (version 6, 'N'), in both roles, and as the
 *    acceptor the older 'n' + complement; digest MD5(cookie ++ challenge);
 *    simultaneous connects resolved as net_kernel does;
 *  - a visible node by default (PUBLISHED, as erl's): Erlang lists it in
 *    nodes(); hidden with -hidden or published false (nodes(hidden));
 *  - on a visible node, a registered `global_name_server` taking part in
 *    OTP 25's global as a full peer (protocol version 8: locks, name
 *    exchange and clashes, the transitive mesh of connect_all,
 *    prevent_overlapping_partitions): <ember/global.h>, docs/global.md;
 *  - pass-through framing only ('p' packets: no atom cache, no fragments;
 *    the header flags are not offered, so peers never use them);
 *  - the control messages SEND, REG_SEND, LINK, UNLINK_ID(_ACK), EXIT,
 *    EXIT2, MONITOR_P, DEMONITOR_P, MONITOR_P_EXIT, SPAWN_REQUEST and
 *    SPAWN_REPLY (spawn/4, rpc and erpc into exported C functions:
 *    <ember/export.h>), their older, _TT and PAYLOAD_ forms as received,
 *    ALIAS_SEND(_TT) both ways (DFLAG_ALIAS is offered; see em_alias),
 *    OTP 28's ALTACT_SIG_SEND as received (its flag is not offered);
 *  - a registered process `net_kernel` that answers is_auth, so
 *    net_adm:ping from Erlang returns pong;
 *  - a registered `rex` (rpc's server) for erl_call -a, ei's rpc,
 *    rpc:block_call (<ember/export.h>);
 *  - OTP's pg process groups: the default scope `pg`, started with the
 *    node, and any named scope (<ember/pg.h>, docs/pg.md).
 *
 * Names: a long name is alive@host where host has a dot, is an IP address
 * or is `localhost` (ember accepts `localhost` as a long-name host; real
 * OTP refuses to *dial* such a node, so mixed tests use @127.0.0.1 or
 * short names); a short name's host has no dot.  The alive part matches
 * [0-9A-Za-z_-]+.  A node dials only nodes of its own kind (long/short), as
 * OTP does.  An inet6 node may be named after an IPv6 address (a@::1, a
 * long name) and dials a host by its IPv6 address only, as erl's inet6_tcp
 * does: an IPv6 literal, a name with an IPv6 address (resolved with
 * AF_INET6, no IPv4-mapped addresses), or this machine's own host name
 * (::1, erl's fallback); a@127.0.0.1 cannot be dialled from an IPv6 node,
 * a@::1 not from an IPv4 one.
 *
 * Errors use the EM_E* codes of common.h.
 */
#ifndef EM_NET_DIST_H
#define EM_NET_DIST_H

#include <stdbool.h>
#include <stdint.h>

#include <ember/common.h>
#include <ember/term.h>

/* Options of a node.  Initialise with em_node_opts_init, then set fields. */
typedef struct em_node_opts {
    const char *name;     /* "alive@host" or "alive" (the host is added:
                             the short host name for short names, the
                             fully qualified one for long names) */
    bool longnames;       /* true: -name rules; false: -sname rules */
    bool inet6;           /* erl's -proto_dist inet6_tcp: listen on IPv6
                             (::, which also takes IPv4 peers unless the
                             system makes IPv6 sockets v6-only, as erl's),
                             register with the port mapper over ::1, and
                             dial nodes by their hosts' IPv6 addresses
                             (docs/dist.md, "IPv6").  false: IPv4 only
                             (inet_tcp, erl's default) */
    const char *cookie;   /* at most 255 bytes, each one character of
                             the cookie (Latin-1).  NULL: the cookie
                             file, found, checked and created exactly as
                             erl 25 does: $HOME/.erlang.cookie, else
                             $XDG_CONFIG_HOME/erlang/.erlang.cookie (or
                             $HOME/.config/erlang/...), else a new
                             $HOME/.erlang.cookie of 20 random A..Z, mode
                             0400.  The file must be a regular file with
                             no group/other permission bits; its cookie
                             is the first line's printable ASCII, spaces
                             included; only line ends and spaces may
                             follow (docs/dist.md, "Cookies") */
    int net_ticktime;     /* seconds (erl's net_ticktime); <= 0: 60.  A
                             tick goes out every net_ticktime/4 s of idle
                             writing; a connection silent for net_ticktime
                             seconds is taken down (net_tick_timeout). */
    int epmd_port;        /* port mapper port; 0: em_epmd_default_port()
                             ($ERL_EPMD_PORT, else 4369) */
    bool no_epmd_start;   /* true: do not start ember-epmd when no port
                             mapper answers (then starting fails) */
    const char *epmd_path;/* ember-epmd binary for that start, the only
                             one tried; NULL: $EMBER_EPMD when set (the
                             only one tried), else the build tree the
                             program runs from (<dir>/bin/ember-epmd for
                             its directory and the two above), beside the
                             executable, the installed $(BINDIR), then
                             $PATH (em_epmd_spawn in <ember/epmd.h>) */
    bool published;       /* set PUBLISHED (a visible node, the
                             default); false: hidden (erl's -hidden):
                             no global_name_server runs, Erlang lists
                             the node in nodes(hidden) */
    bool connect_all;     /* erl's -connect_all (default true): global
                             syncs with every visible node that comes up
                             and connects to the nodes it learns of;
                             false: it does neither, as OTP's */
    int listen_port;      /* distribution port; 0: an ephemeral port */
    int setup_ms;         /* limit of each handshake step; <= 0: 7000
                             (erl's net_setuptime) */
    bool quiet;           /* no log lines on stderr */
} em_node_opts;

/* em_node_opts_init: defaults (published and connect_all true, everything
 * else 0/NULL/false: cookie from the cookie file, net_ticktime 60,
 * ember-epmd started when needed).
 * Yields: no. Allocates: no. Thread: any. */
EM_API void em_node_opts_init(em_node_opts *opts);

/* em_node_args: parse erl's node flags out of argv, as the examples take
 * them: `-name NAME`, `-sname NAME`, `-setcookie COOKIE`, `-hidden` (a
 * hidden node: published false), `-connect_all false|true`,
 * `-kernel net_ticktime N` and `-proto_dist inet6_tcp` (inet6 true) or
 * `-proto_dist inet_tcp` (inet6 false).  Fills *opts (after em_node_opts_init) with
 * pointers into argv, and removes the flags it recognised from argv,
 * updating *argc (argv[*argc] stays NULL).  The -setcookie value is read
 * as erl reads its command line: when the locale's character set is UTF-8
 * (LC_ALL, LC_CTYPE, LANG) its UTF-8 is rewritten in place as one Latin-1
 * byte per character ("é" becomes the byte 0xE9, what erl's handshake
 * digests), so an argv string holding a byte >= 0x80 must be writable, as
 * main's are (ASCII values are never written).  Several
 * -setcookie flags are all ignored (cookie NULL: the cookie file), as erl
 * ignores them, with one log line.  Returns
 * 0, EM_EINVAL (a flag without its value, or neither -name nor -sname), or
 * EM_EAUTH with one log line on stderr (a -setcookie value erl cannot use:
 * invalid UTF-8 under a UTF-8 locale, a character above U+00FF, more than
 * 255 characters), or EM_ENOTSUP with one log line (a -proto_dist other
 * than inet_tcp and inet6_tcp, such as inet_tls).  After an error, argv
 * may be partly rearranged (*argc unchanged): a program then stops.
 * Yields: no. Allocates: only transiently, to read the locale (freed before
 * it returns). Thread: any. */
EM_API int em_node_args(int *argc, char **argv, em_node_opts *opts);

/* em_node_start: make this program the node `name` with `cookie` (NULL:
 * the cookie file).  `name` is long (-name) if its host part has a dot, is
 * an IP address or is `localhost`, else short (-sname); without '@' it is
 * short and the local short host name is added.  Equivalent to
 * em_node_start_opts with the other options at their defaults.
 * em_node_start_opts: the same with every option.
 *
 * Starts the runtime if needed (em_init with defaults), makes sure a port
 * mapper answers (starting ember-epmd unless no_epmd_start), listens on the
 * distribution port, registers the name and uses the creation the port
 * mapper gives (em_local_node_set: every local pid, reference and port is
 * then of this node), spawns the acceptor and the registered `net_kernel`,
 * `rex`, `user` and, on a visible node, `global_name_server`.
 * Returns 0, or EM_EEXIST (a node is already running here, or the port
 * mapper already has this name), EM_EINVAL (a bad name), EM_EAUTH (no
 * usable cookie: a cookie argument over 255 bytes, or a cookie file erl
 * would refuse -- with one log line on stderr, unless quiet, in erl's
 * wording plus the file's path, e.g. "Bad characters in cookie: byte
 * 0x09 at offset 3 of /home/u/.erlang.cookie ..."),
 * EM_ENOEPMD (no port mapper answers and no ember-epmd could be run: one
 * log line, unless quiet, names every place it was looked for),
 * EM_ETIMEDOUT (the ember-epmd started did not answer in 5 s; logged),
 * EM_ECONNREFUSED (no port mapper answers and no_epmd_start is set),
 * EM_EIO (a socket error, or the started ember-epmd failed; logged),
 * EM_ENOTSUP (inet6 on a host without IPv6; logged), EM_ECONNREFUSED
 * also when an inet6 node finds no port mapper on ::1 (logged),
 * EM_ENOMEM, or a port mapper client error.
 * Ownership: borrows its arguments (they are copied).
 * Yields: no (blocks the caller while registering), but for a wait of up
 * to a second, in a process, for the global server of a node just stopped
 * to finish (not a signal point).  Allocates: yes.
 * Thread: any; typically main() before em_run(). */
EM_API int em_node_start(const char *name, const char *cookie);
EM_API int em_node_start_opts(const em_node_opts *opts);

/* em_node_stop: leave the distribution: close every connection (links and
 * monitors across them get noconnection), stop the acceptor and
 * net_kernel, unregister from the port mapper.  The local node name stays
 * (pids keep printing with it).  Returns 0, or EM_ESTATE (no node).
 * Yields: no (not a signal point either). Allocates: no. Thread: any. */
EM_API int em_node_stop(void);

/* em_node_ping: net_adm:ping(Node).  Connects if needed and asks the
 * node's net_kernel is_auth (as Erlang does: em_call), waiting up to
 * timeout_ms (EM_INFINITY: the connection's own limits only).  Returns the
 * atom pong or pang (also for EM_NONE or a non-atom node).
 * Yields: yes. Allocates: yes. Thread: any (a thread that is not a process
 * blocks, as in em_call). */
EM_API em_term em_node_ping(em_term node, int64_t timeout_ms);

/* em_node_connect: net_kernel:connect_node(Node), saying why it fails.
 * Connects as em_node_ping does (dials even within the back-off of a
 * failed attempt, then asks Node's net_kernel is_auth) and waits up to
 * timeout_ms.  Returns 0 (connected; also for this node itself, and for a
 * node that has no net_kernel once the connection is up), or why not:
 * EM_ENOTFOUND (the host's port mapper does not know the name, or the
 * host name does not resolve), EM_ECONNREFUSED (no port mapper or node
 * answers there), EM_ENOTSUP (the port mapper's entry is of a
 * distribution version older than 6), EM_EPROTO (a malformed port mapper
 * reply),
 * EM_EAUTH (the handshake was refused after our digest -- OTP closes
 * silently on a wrong cookie -- or the digest of the peer was wrong, or
 * its net_kernel said no), EM_ETIMEDOUT (no answer in time), EM_EINVAL
 * (a node of the other kind: a short name from a long-name node or the
 * reverse, or a malformed name), EM_EIO (the handshake failed otherwise),
 * EM_ECLOSED (the connection closed before the answer), EM_EBADARG (node
 * not an atom), EM_ESTATE (no node running), EM_EINVAL also for a
 * negative timeout_ms other than EM_INFINITY, EM_ENOMEM, EM_ECANCELED
 * (from a thread that is not a process: the runtime shut down during the
 * call, as em_call).  When why is not NULL, the reason is written there as one
 * line (at most whylen bytes, NUL-terminated; empty on success), as the
 * node's log says it.
 * Yields: yes. Allocates: yes. Thread: any (a thread that is not a
 * process blocks, as in em_call). */
EM_API int em_node_connect(em_term node, int64_t timeout_ms, char *why, size_t whylen);

/* em_nodes: a new list of the nodes with a connection up (Erlang's
 * nodes(connected)), owned by the caller; [] without a node.
 * Yields: no. Allocates: yes. Thread: any. */
EM_API em_term em_nodes(void);

/* em_monitor_node: erlang:monitor_node(Node, Flag).  With on, the calling
 * process gets {nodedown, Node} once when the connection to Node goes down
 * (or cannot be set up: with no connection, one is set up now; within
 * the back-off after a failed attempt the nodedown comes at once); with off
 * one such subscription is removed.  Subscriptions are counted as in
 * Erlang.  Returns 0, EM_ESTATE (no node, or not in a process),
 * EM_EBADARG, EM_ENOMEM.  Yields: no. Process only. */
EM_API int em_monitor_node(em_term node, bool on);

/* em_monitor_nodes: net_kernel:monitor_nodes(Flag) for all kinds of nodes:
 * the caller gets {nodeup, Node} and {nodedown, Node} for every connection
 * that comes up or goes down (hidden ones included): one nodedown per
 * connection that was up, none for an attempt that failed.  Returns 0,
 * EM_ESTATE, EM_ENOMEM.  Yields: no. Process only. */
EM_API int em_monitor_nodes(bool on);

/* em_disconnect_node: erlang:disconnect_node(Node): take the connection
 * down (links and monitors get noconnection, monitors of the node
 * nodedown).  Returns 0 if it was connected, EM_ENOTFOUND if not,
 * EM_ESTATE without a node.  Yields: no (not a signal point either).
 * Thread: any. */
EM_API int em_disconnect_node(em_term node);

/* em_node_port: the distribution listen port, or EM_ESTATE.
 * Thread: any. */
EM_API int em_node_port(void);

#endif /* EM_NET_DIST_H */
