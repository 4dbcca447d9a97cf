/* epmd.h: the Erlang port mapper: the blocking client every node uses to
 * register itself and find its peers, and the start of ember's
 * EPMD-compatible daemon (ember-epmd) when none answers.  The daemon's own
 * API is private to the library and ember-epmd (net/epmd_srv.h).
 * Public: installed as <ember/epmd.h>; users include <ember.h>.
 *
 * The wire protocol is EPMD's (OTP's ERTS User's Guide, "Distribution
 * Protocol" (erl_dist_protocol), section "EPMD Protocol"): one
 * request per TCP connection, `Len:16` + request, a reply without length
 * prefix, then close -- except a successful ALIVE2 registration, whose
 * connection stays open for exactly as long as the node is registered.
 * Real OTP nodes can use ember's daemon, and the client works against a
 * real epmd.
 *
 * IPv6: ember-epmd listens where Debian's epmd 25 does (tried): on
 * 0.0.0.0 and [::] (IPv6-only) by default, and with -address or
 * $ERL_EPMD_ADDRESS on those addresses plus 127.0.0.1 and ::1, so IPv6
 * clients (erl -proto_dist inet6_tcp nodes, which register over ::1, and
 * ember's IPv6 nodes) are served as IPv4 ones are.
 *
 * Failure policy (the whole module): functions return negative EM_E* codes
 * and never exit or abort on bad input; allocation failure is EM_ENOMEM.
 * Common codes of the client: EM_ECONNREFUSED (no port mapper answers on
 * that host and port, or the host does not resolve), EM_ETIMEDOUT (the
 * deadline passed), EM_EPROTO (the port mapper sent something that is not
 * a valid reply, or closed before the reply was complete; or a reply read
 * to its end, NAMES's or em_epmd_call's, passed 1 MiB), EM_EIO (an
 * unexpected socket error, or none left: out of descriptors), EM_EINVAL
 * (a port above 65535). */
#ifndef EM_NET_EPMD_H
#define EM_NET_EPMD_H

#include <stddef.h>
#include <stdint.h>
#include <ember/common.h>

/* The port EPMD listens on unless ERL_EPMD_PORT says otherwise. */
#define EM_EPMD_PORT 4369
/* A node name (the alive part, before '@') is at most 255 UTF-8
 * characters, so at most 4*255 bytes. */
#define EM_EPMD_NAME_CHARS_MAX 255
#define EM_EPMD_NAME_MAX 1020
/* The opaque Extra field of a registration is at most this many bytes. */
#define EM_EPMD_EXTRA_MAX 1020
/* Node types as registered by ALIVE2 ('M' normal, 'H' hidden). */
#define EM_EPMD_NODE_NORMAL 77
#define EM_EPMD_NODE_HIDDEN 72
/* Distribution protocol versions OTP 23+ speaks (the 'N' handshake is 6). */
#define EM_EPMD_VERSION_HIGH 6
#define EM_EPMD_VERSION_LOW 5
/* Timeout used by the client when a function is passed timeout_ms <= 0
 * (OTP's erl_epmd waits 10 s for replies). */
#define EM_EPMD_DEFAULT_TIMEOUT_MS 10000

/* em_epmd_default_port: $ERL_EPMD_PORT when it holds a number in
 * 1..65535, else EM_EPMD_PORT.
 * Yields: no. Allocates: no. Thread: any. */
EM_API int em_epmd_default_port(void);

/* What a port mapper knows about one registered node. */
typedef struct em_epmd_node_info {
    uint16_t port;         /* the node's distribution listen port */
    uint8_t node_type;     /* EM_EPMD_NODE_NORMAL or _HIDDEN (informative) */
    uint8_t protocol;      /* 0 = TCP/IPv4; erl registers 0 for its
                              IPv6 nodes too (-proto_dist inet6_tcp) */
    uint16_t high_version; /* highest distribution version spoken */
    uint16_t low_version;  /* lowest distribution version spoken */
    uint16_t extra_len;    /* bytes used in extra[] */
    char name[EM_EPMD_NAME_MAX + 1]; /* alive part, NUL-terminated UTF-8 */
    uint8_t extra[EM_EPMD_EXTRA_MAX];
} em_epmd_node_info;

/* em_epmd_node_info_init: fill *info for registering `name` (the alive
 * part; copied, truncated to EM_EPMD_NAME_MAX bytes) listening on `port`:
 * hidden node, TCP/IPv4, versions 6..5 (what OTP 25 registers), no extra.
 * Yields: no. Allocates: no. Thread: any. */
EM_API void em_epmd_node_info_init(em_epmd_node_info *info, const char *name,
                                   uint16_t port);

/* ----------------------------------------------------------------------
 * Client.  Every call is blocking, bounded by its timeout_ms (<= 0 means
 * EM_EPMD_DEFAULT_TIMEOUT_MS) for the whole exchange, and talks to the
 * port mapper on `epmd_port` (0 means em_epmd_default_port()).  `host`
 * NULL means the local host (loopback: 127.0.0.1, then ::1); otherwise a
 * name or address of either family ("::1" reaches a port mapper over
 * IPv6), resolved with getaddrinfo (which itself is not bounded by
 * timeout_ms), its addresses tried in turn.
 * Sockets are opened close-on-exec; SIGPIPE is never raised (MSG_NOSIGNAL).
 * -------------------------------------------------------------------- */

/* A live registration: the open ALIVE2 connection. */
typedef struct em_epmd_reg em_epmd_reg;

/* em_epmd_register: register `node` with the local port mapper (always on
 * the loopback address: epmd only accepts ALIVE2 from a local peer).
 * On success *out is the registration, which lasts until
 * em_epmd_reg_close(), and *creation (if not NULL) the creation number the
 * port mapper assigned (32-bit for high_version >= 6, else 1..3).
 * Returns 0, or EM_EEXIST if the port mapper refused the name (already
 * registered, too long, invalid UTF-8: its reply does not say which),
 * EM_EINVAL if node->name is empty, longer than 255 characters or not valid
 * UTF-8, or extra_len > EM_EPMD_EXTRA_MAX, EM_ECONNREFUSED, EM_ETIMEDOUT,
 * EM_EPROTO, EM_EIO, EM_ENOMEM.
 * Ownership: borrows `node`; *out belongs to the caller (em_epmd_reg_close).
 * Yields: no (blocks the calling thread). Allocates: yes. Thread: any. */
EM_API int em_epmd_register(const em_epmd_node_info *node, int epmd_port,
                            int timeout_ms, em_epmd_reg **out,
                            uint32_t *creation);

/* em_epmd_register_inet6: em_epmd_register over IPv6: the local port
 * mapper is reached on ::1 only, as erl registers a node started with
 * `-proto_dist inet6_tcp` (erl_epmd), what an IPv6 node (em_node_opts's
 * inet6) uses.  The registration itself is the same (protocol 0, as erl's).
 * Returns what em_epmd_register returns; EM_ECONNREFUSED also when this
 * host has no IPv6 (no ::1).
 * Ownership, Yields, Allocates, Thread: as em_epmd_register. */
EM_API int em_epmd_register_inet6(const em_epmd_node_info *node,
                                  int epmd_port, int timeout_ms,
                                  em_epmd_reg **out, uint32_t *creation);

/* em_epmd_reg_close: close the registration connection, which unregisters
 * the node, and free `reg`.  NULL is a no-op.
 * Yields: no. Allocates: no (frees). Thread: any, once per registration. */
EM_API void em_epmd_reg_close(em_epmd_reg *reg);

/* em_epmd_reg_fd: the registration socket, for a caller that wants to
 * watch it (readable means the port mapper closed it or misbehaved: the
 * registration is gone).  Do not read, write or close it.
 * Yields: no. Allocates: no. Thread: any. */
EM_API int em_epmd_reg_fd(const em_epmd_reg *reg);

/* em_epmd_reg_check: without blocking, whether the registration still
 * stands.  Returns 0 if it does, EM_ECLOSED if the port mapper closed the
 * connection (or sent anything on it: epmd never does on a live one).
 * Yields: no. Allocates: no. Thread: any. */
EM_API int em_epmd_reg_check(em_epmd_reg *reg);

/* em_epmd_port_please: look up node `name` (alive part) on `host`
 * (PORT_PLEASE2_REQ).  On success fills *out.
 * Returns 0, or EM_ENOTFOUND if the port mapper does not know the name,
 * EM_EINVAL if `name` is empty or longer than EM_EPMD_NAME_MAX bytes, and
 * the common client codes, EM_ENOMEM.
 * Ownership: borrows its arguments.
 * Yields: no (blocks). Allocates: a temporary buffer. Thread: any. */
EM_API int em_epmd_port_please(const char *host, const char *name,
                               int epmd_port, int timeout_ms,
                               em_epmd_node_info *out);

/* One entry of a NAMES listing. */
typedef struct em_epmd_name {
    char *name;    /* NUL-terminated UTF-8, owned by the array */
    uint16_t port; /* the node's distribution port */
} em_epmd_name;

/* em_epmd_names: list the nodes registered on `host` (NAMES_REQ).
 * On success *out is an array of the returned count of entries (NULL for
 * zero) in the port mapper's order, and *epmd_port_out (if not NULL) the
 * port the server reports listening on.  Lines that do not parse are
 * skipped, as OTP does.
 * Returns the count >= 0, or the common client codes, EM_ENOMEM.
 * Ownership: the caller frees *out with em_epmd_names_free(*out, count).
 * Yields: no (blocks). Allocates: yes. Thread: any. */
EM_API int em_epmd_names(const char *host, int epmd_port, int timeout_ms,
                         em_epmd_name **out, uint32_t *epmd_port_out);

/* em_epmd_names_free: free an array returned by em_epmd_names and its
 * strings; NULL is a no-op.
 * Yields: no. Allocates: no (frees). Thread: any. */
EM_API void em_epmd_names_free(em_epmd_name *names, int count);

/* em_epmd_call: send one raw request (the bytes after the length prefix;
 * the length is added here) to the port mapper on `host` and collect
 * everything it replies until it closes the connection, appended to
 * *reply.  Used by the epmd-compatible command line (-names, -dump, -kill,
 * -stop).  If `host` is NULL it tries ::1 and then 127.0.0.1, as epmd's
 * command line does.
 * Returns 0 (the reply may be empty: the server closed without answering),
 * or EM_EINVAL if len is 0 or above 65535, EM_ECONNREFUSED (nothing to
 * connect to), EM_ETIMEDOUT (the server neither finished nor closed in
 * time; *reply holds what came), EM_EPROTO (the reply passed 1 MiB;
 * *reply holds its first MiB), EM_EIO, EM_ENOMEM.
 * Ownership: the caller owns *reply (em_buf_free).
 * Yields: no (blocks). Allocates: yes. Thread: any. */
EM_API int em_epmd_call(const char *host, int epmd_port, const void *req,
                        size_t len, int timeout_ms, em_buf *reply);

/* em_epmd_spawn: start an ember-epmd daemon on `epmd_port` (0: default)
 * that outlives the caller (`ember-epmd -daemon -port P`: it detaches), and
 * wait until it answers NAMES or timeout_ms (<= 0: the default) passes.
 * The binary is the first regular executable file among:
 *   1. `epmd_path` when not NULL -- then the only candidate;
 *   2. else $EMBER_EPMD when set and not empty -- then the only candidate;
 *   3. else the build tree the running program lives in: <dir>/bin/ember-epmd
 *      for the directory of /proc/self/exe and the two above it (a program
 *      in build/examples, build/tests, build/asan/tests... finds
 *      build/bin/ember-epmd or build/asan/bin/ember-epmd);
 *   4. "ember-epmd" beside the executable;
 *   5. the installed tree: $(BINDIR)/ember-epmd, BINDIR as the library was
 *      built with (the Makefile's, $(PREFIX)/bin);
 *   6. "ember-epmd" in a directory of $PATH (unset: /bin:/usr/bin; empty
 *      entries, meaning the current directory, are skipped).
 * If another port mapper already holds the port the new one exits quietly
 * and the existing one answers: that is success too.
 * Returns 0, or EM_ENOEPMD (no candidate is an executable file, or exec
 * failed), EM_ETIMEDOUT (it started but nothing answered in time), EM_EIO
 * (pipe or fork failed; the daemon exited with a failure status: it logs
 * its reason to syslog), EM_ENOMEM.
 * why: when not NULL, on failure one line (no newline, truncated to
 * why_size) saying what went wrong, for the caller to log: for EM_ENOEPMD
 * "cannot start a port mapper: ember-epmd not found in: A, B, $PATH (...)"
 * naming every place looked at; "" on success.
 * Yields: no (blocks; forks). Allocates: temporarily. Thread: any; fork() in a
 * multi-threaded program only copies the calling thread: every path is
 * prepared before the fork, and the child only calls async-signal-safe
 * functions until exec. */
EM_API int em_epmd_spawn(const char *epmd_path, int epmd_port, int timeout_ms,
                         char *why, size_t why_size);

/* em_epmd_ensure: what a starting node does (as `erl` starts epmd): if a
 * port mapper answers NAMES on the local host (port `epmd_port`, 0: the
 * default), return 0; else em_epmd_spawn(epmd_path, ...) and return 1 on
 * success.  Errors and `why` as em_epmd_spawn.
 * Yields: no (blocks). Allocates: temporarily. Thread: any. */
EM_API int em_epmd_ensure(const char *epmd_path, int epmd_port, int timeout_ms,
                          char *why, size_t why_size);

#endif /* EM_NET_EPMD_H */
