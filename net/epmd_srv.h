/* epmd_srv.h: ember's port mapper daemon (epmd_srv.c), the server side of
 * the protocol <ember/epmd.h> describes.  Private to ember: used by
 * net/epmd_srv.c, by tools/ember-epmd.c (the daemon's only program: a
 * declared seam, tests/check_layers.sh) and by the tests; not installed,
 * and its functions are not exported from libember.so (a program that
 * wants a port mapper starts ember-epmd: em_epmd_spawn, em_epmd_ensure).
 * Failure policy: as <ember/epmd.h>'s. */
#ifndef EM_NET_EPMD_SRV_H
#define EM_NET_EPMD_SRV_H

#include <stddef.h>
#include <stdint.h>

#include <ember/epmd.h>

/* ----------------------------------------------------------------------
 * Daemon.  All state lives in one em_epmd_srv; one thread runs its event
 * loop (epoll).  A program can run it on a thread of its own (tests do)
 * or as its main loop (ember-epmd does).
 * -------------------------------------------------------------------- */

typedef struct em_epmd_srv em_epmd_srv;

/* Log sink: one line (no trailing newline) at debug `level` (0 = problems
 * worth reporting always; higher = chattier).  Only called for levels <=
 * the configured debug level. */
typedef void em_epmd_log_fn(void *ud, int level, const char *line);

/* em_epmd_srv_log_stderr: the sink a daemon uses when opts.log is NULL:
 * writes "ember-epmd: <local time>: <line>" and a newline to stderr, as
 * epmd -d does (ud and level are not used).  A program that logs lines of
 * its own beside the daemon's (ember-epmd) writes them with it too.
 * Yields: no. Allocates: only for a line over 600 bytes. Thread: any. */
void em_epmd_srv_log_stderr(void *ud, int level, const char *line);

typedef struct em_epmd_srv_opts {
    int port;              /* TCP port; 0 lets the kernel pick (tests) */
    const char *addresses; /* NULL/empty: any address (0.0.0.0, and [::]
                              IPv6-only when the host has IPv6); else
                              comma/space separated IP addresses, the
                              loopback ones (127.0.0.1, ::1 when there is
                              IPv6) always added: Debian's epmd's places */
    int relaxed;           /* allow KILL with live nodes, and STOP */
    int debug;             /* debug level (-d count) */
    int packet_timeout_ms; /* idle limit of a connection that is not a
                              registration; <= 0: 60000 */
    int max_conns;         /* open connections at most; <= 0: derived from
                              RLIMIT_NOFILE */
    int unreg_max;         /* remembered unregistered names; <= 0: 1000,
                              or 5 when debug > 0 (as epmd) */
    int sndbuf;            /* SO_SNDBUF of accepted connections; <= 0:
                              the kernel's default.  Bounds the kernel
                              memory a reader that never reads can pin
                              (the rest of a reply waits in the daemon,
                              bounded by the idle timeout). */
    em_epmd_log_fn *log;   /* NULL: lines to stderr with a time stamp */
    void *log_ud;
} em_epmd_srv_opts;

/* em_epmd_srv_opts_init: defaults (port EM_EPMD_PORT, everything else 0).
 * Yields: no. Allocates: no. Thread: any. */
void em_epmd_srv_opts_init(em_epmd_srv_opts *opts);

/* em_epmd_srv_create: set up a daemon and bind and listen on its sockets,
 * so that clients can connect as soon as this returns (the loop serves
 * them once em_epmd_srv_run is called).
 * Returns 0 and *out, or EM_EEXIST if the port is already in use on an
 * address (another port mapper runs there), EM_EINVAL (bad options or an
 * address that does not parse; more than 16 addresses), EM_EIO (another
 * socket error; logged), EM_ENOMEM.
 * Ownership: copies what it needs from opts; *out is freed with
 * em_epmd_srv_destroy.
 * Yields: no. Allocates: yes. Thread: any. */
int em_epmd_srv_create(const em_epmd_srv_opts *opts, em_epmd_srv **out);

/* em_epmd_srv_port: the port the daemon listens on (the kernel's choice
 * when opts.port was 0).
 * Yields: no. Allocates: no. Thread: any. */
int em_epmd_srv_port(const em_epmd_srv *srv);

/* em_epmd_srv_run: serve requests until em_epmd_srv_stop() is called (then
 * returns 0) or a local KILL_REQ is accepted (returns 1).  Before
 * returning it closes every connection, registrations included, so that
 * registered nodes see their registration end.  Returns EM_EIO if the
 * event loop itself fails (logged).  The daemon can not be run again.
 * Yields: no (blocks the calling thread). Allocates: yes. Thread: one. */
int em_epmd_srv_run(em_epmd_srv *srv);

/* em_epmd_srv_stop: ask a running (or not yet started) loop to return.
 * Async-signal-safe (writes to an eventfd).
 * Yields: no. Allocates: no. Thread: any. */
void em_epmd_srv_stop(em_epmd_srv *srv);

/* em_epmd_srv_destroy: close the listening sockets and free everything.
 * Call it after em_epmd_srv_run returned (or instead of running).  NULL is
 * a no-op.
 * Yields: no. Allocates: no (frees). Thread: not concurrently with run. */
void em_epmd_srv_destroy(em_epmd_srv *srv);

/* A snapshot of the daemon's counters (each read atomically). */
typedef struct em_epmd_srv_stats {
    size_t conns;       /* open client connections, registrations included */
    size_t nodes;       /* registered nodes */
    size_t unreg;       /* remembered unregistered names */
    uint64_t accepted;  /* connections accepted since start */
    uint64_t requests;  /* complete requests handled */
    uint64_t timeouts;  /* connections closed for being idle */
    uint64_t rejected;  /* requests closed without a reply */
} em_epmd_srv_stats;

/* em_epmd_srv_stats_get: fill *out.
 * Yields: no. Allocates: no. Thread: any (while the daemon exists). */
void em_epmd_srv_stats_get(const em_epmd_srv *srv, em_epmd_srv_stats *out);

#endif /* EM_NET_EPMD_SRV_H */
