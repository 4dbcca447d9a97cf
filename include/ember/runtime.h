/* runtime.h: lightweight processes, schedulers, mailboxes, selective
 * receive with `after`, timers, the registry, waiting on file descriptors.
 * Public: installed as <ember/runtime.h>; users include <ember.h>.
 *
 * A process is a C function running on its own logical stack, scheduled M:N
 * over scheduler threads (one per core by default).  Processes are
 * identified by pids (em_term values, see term.h); a pid carries a
 * generation, so a stale pid never reaches a newer process.
 *
 * Capability lines: "Yields: yes" means the call may suspend the calling
 * process (other processes run meanwhile); do not hold a pthread lock across
 * such a call.  "Process only" means it must be called from a process
 * (EM_ESTATE otherwise); "Thread: any" means any thread, process or not.
 *
 * Stacks (decision 2, see docs/runtime.md): a process runs on its
 * scheduler's large stack; when it is switched out, the part of the stack it
 * uses is copied to a buffer of exactly that size, and copied back when it
 * runs again.  An idle process therefore costs a few hundred bytes, and a
 * million of them fit on a default Linux.  Consequences a user must know:
 *  - never give another process or thread a pointer into your stack (local
 *    variables) and expect it to stay valid while you are switched out;
 *  - a process runs on the scheduler where it first ran (processes that
 *    have not started yet are stolen by idle schedulers);
 *  - a process's stack may not grow beyond its stack size (spawn option,
 *    default EM_STACK_DEFAULT): this is checked every time it is switched
 *    out, and a process over its limit is killed with reason stack_overflow
 *    and a log line naming its pid and stack size.  A process that recurses
 *    past the scheduler's whole stack (EM_STACK_MAX) without ever yielding
 *    hits a guard page: ember prints the pid and stack size and aborts.
 */
#ifndef EM_RUNTIME_RUNTIME_H
#define EM_RUNTIME_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ember/common.h>
#include <ember/term.h>

/* Timeouts are relative, in milliseconds.  0 polls; EM_INFINITY waits
 * forever (Erlang's `after infinity`). */
#define EM_INFINITY ((int64_t)-1)

#define EM_STACK_DEFAULT (256 * 1024)      /* default per-process limit */
#define EM_STACK_MAX (8 * 1024 * 1024)     /* a scheduler's stack */

/* ---- The runtime -------------------------------------------------------- */

typedef struct em_rt_opts {
    unsigned schedulers;   /* threads; 0 = one per online CPU */
    unsigned max_procs;    /* live processes at most; 0 = 4,194,304 */
    unsigned blocking_threads; /* threads for em_blocking; 0 = 4 */
} em_rt_opts;

/* em_init: start the runtime (scheduler threads) with `opts` (NULL for the
 * defaults).  Calling it is optional: the first em_spawn starts the runtime
 * with the defaults.  Returns 0, EM_EEXIST (already started), EM_ENOMEM,
 * EM_EIO (a thread could not be created).
 * Yields: no. Allocates: yes. Thread: any non-process thread. */
EM_API int em_init(const em_rt_opts *opts);

/* em_run: block the calling thread until every process has exited or
 * em_stop() is called, then shut the runtime down: remaining processes are
 * killed without being resumed (their runtime resources — stacks,
 * mailboxes, names, timers — are released; their exit hooks run, see
 * em_on_exit), threads are joined and memory is freed.  Returns the code
 * given to em_stop(), or 0; EM_ESTATE on a scheduler thread (a process
 * cannot wait for the runtime it runs in).  After em_run returns, em_init
 * may start a fresh runtime.  Other threads must not call into the
 * runtime (em_spawn, em_send, em_sup_start, ...) while em_run is shutting
 * it down: a call that races the shutdown may find it half gone (stop
 * them, or have them stop calling, before em_stop).
 * Yields: no (it blocks the thread). Allocates: no. Thread: a non-process
 * thread, typically main(). */
EM_API int em_run(void);

/* em_stop: ask em_run to return `code` and shut down.  Thread: any. */
EM_API void em_stop(int code);

/* ---- Processes ---------------------------------------------------------- */

typedef void (*em_proc_fn)(void *arg);

typedef struct em_spawn_opts {
    size_t stack_size; /* limit of this process's stack; 0 = default */
    bool link;         /* link to the caller atomically (spawn_link) */
    em_term *monitor;  /* if not NULL: monitor the new process and store the
                          monitor reference here (spawn_monitor; owned by
                          the caller).  Process only: from a foreign
                          thread EM_NONE is stored and the process starts
                          unmonitored */
    void (*on_exit)(void *arg); /* if not NULL: the process's first exit
                          hook (em_on_exit), called with the spawn's `arg`
                          however the process ends, even killed before it
                          ever ran (a runtime stopped first): where a
                          reference given to the process goes back.  No
                          memory for it: the spawn fails (EM_NONE) and it
                          is not called */
} em_spawn_opts;

/* em_spawn: start a process running fn(arg).  The process exits `normal`
 * when fn returns.  Returns the new pid, or EM_NONE if the process table is
 * full or memory ran out.  `arg` is passed through untouched (the caller
 * keeps ownership of what it points to).
 * Yields: no. Allocates: yes. Thread: any (starts the runtime if needed). */
EM_API em_term em_spawn(em_proc_fn fn, void *arg);
EM_API em_term em_spawn_opt(em_proc_fn fn, void *arg, const em_spawn_opts *opts);

/* em_spawn_link: spawn and link to the caller in one step: there is no
 * moment when the child runs unlinked.  Process only for the link (from a
 * foreign thread it is a plain spawn).  Same returns as em_spawn. */
EM_API em_term em_spawn_link(em_proc_fn fn, void *arg);

/* em_self: the calling process's pid, or EM_NONE outside a process.
 * Yields: no. Allocates: no. Thread: any. */
EM_API em_term em_self(void);

/* em_exit: end the calling process with `reason` (taken).  Does not return.
 * The C stack is discarded without unwinding: use em_on_exit to release what
 * the process owns.  Process only (outside a process it does nothing and
 * returns). */
EM_API void em_exit(em_term reason);

/* ---- Exit signals, links, monitors (Erlang's fault tolerance) -----------
 *
 * Semantics are Erlang's.  A process ends `normal` when its function
 * returns, with any reason through em_exit, `stack_overflow` when it outgrows
 * its stack, or by an exit signal.  Its links then receive an exit signal
 * carrying its reason, and its monitors a {'DOWN', Ref, process, Pid,
 * Reason} message.  A process receiving an exit signal:
 *  - that traps exits gets the message {'EXIT', From, Reason} instead;
 *  - that does not: ignores reason `normal` (unless it comes from itself),
 *    and otherwise exits with the same reason;
 *  - `kill` sent by em_exit_pid cannot be trapped: the process exits with
 *    reason `killed`.
 * Signals between two processes arrive in the order they were sent,
 * messages included: a reply always precedes the DOWN of its sender.
 *
 * CANCELLATION (decision 4).  C code cannot be interrupted, so a process
 * dies at its next *signal point*: any receive (em_call's too), em_sleep,
 * em_wait_fd, em_yield, em_send (which checks for pending signals),
 * em_link, em_unlink, and where their contracts say so em_monitor,
 * em_demonitor and em_exit_pid.  A process
 * blocked in one of these is woken and dies at once; a process busy in C
 * code dies when it next calls one of them; a process inside em_blocking
 * dies when the blocking call returns.  Dying never returns into the C code:
 * its stack is discarded, the runtime releases its stack, mailbox, name,
 * timers, links and monitors, and its exit hooks (em_on_exit) run: that is
 * where a process frees what it owns.
 */

/* em_link: link the caller and pid (a local pid).  Returns 0; linking to
 * oneself or an existing link is a no-op.  If pid is not alive: a caller
 * that traps exits receives {'EXIT', Pid, noproc} and em_link returns 0;
 * otherwise em_link returns EM_ENOPROC (Erlang's link/1 raises noproc).
 * A pid of another node that cannot be reached counts as not alive, with
 * reason noconnection.  EM_ESTATE outside a process, EM_EBADARG if pid is
 * not a pid, EM_ENOMEM (no link made), EM_ENOTSUP for a pid of another
 * node when no node runs here.  Yields: yes (a signal point; for a remote
 * pid also while its connection's queue is full). */
EM_API int em_link(em_term pid);

/* em_unlink: remove the link both ways; after it returns no exit signal
 * from that link reaches the caller.  Returns 0 (also when not linked),
 * EM_ESTATE, EM_EBADARG.  Yields: yes (a signal point). */
EM_API int em_unlink(em_term pid);

/* em_trap_exit: set whether the calling process traps exits; returns the
 * previous setting (false outside a process).  Allocates: no. */
EM_API bool em_trap_exit(bool on);

/* em_exit_pid: send an exit signal with `reason` (borrowed) to pid, as
 * Erlang's exit(Pid, Reason).  Returns 0 (also if pid is dead), EM_EBADARG,
 * EM_ENOMEM, EM_ENOTSUP for a pid of another node when no node runs here.
 * Thread: any.  Yields: if the caller signals itself (a signal point
 * then), and for a remote pid while its connection's queue is full. */
EM_API int em_exit_pid(em_term pid, em_term reason);

/* em_monitor: monitor `target`, a pid or a registered name (an atom).
 * Returns a new reference (the caller owns it), or EM_NONE outside a
 * process or on bad arguments.  When the target exits, the caller receives
 * {'DOWN', Ref, process, Pid, Reason} exactly once -- for a name,
 * {'DOWN', Ref, process, {Name, Node}, Reason}; if it is already gone, with
 * reason noproc, at once (noconnection for a node that cannot be reached).
 * Yields: only then, as a signal point (the mailbox is taken in, so the
 * DOWN follows whatever the target sent first), and for a remote target
 * while its connection's queue is full (back-pressure, as em_send). */
EM_API em_term em_monitor(em_term target);

/* em_demonitor: stop the monitor `ref` (borrowed).  With EM_DEMONITOR_FLUSH
 * a {'DOWN', Ref, ...} message already in the mailbox is removed too.
 * Returns 1 if the monitor was active, 0 if not (already fired or unknown),
 * EM_ESTATE.  Yields: with EM_DEMONITOR_FLUSH only, as a signal point (the
 * mailbox is taken in to look for the DOWN). */
enum { EM_DEMONITOR_FLUSH = 1 };
EM_API int em_demonitor(em_term ref, int flags);

/* ---- Aliases (Erlang's alias/0,1, unalias/1, monitor/3's alias option) --
 *
 * An alias is a reference that messages can be sent to (em_send(Alias,
 * Msg), from this node or, as ALIAS_SEND, from another).  A message sent to
 * an alias reaches the process that made it only while the alias is
 * active; otherwise it is dropped silently, as is a message to a reference
 * that is not an alias, or to the alias of a process that is gone.  Only
 * the process that made an alias can deactivate it, and after it did,
 * nothing sent to the alias enters its mailbox any more: what arrives is
 * checked against the process's aliases when the process takes it in (as
 * in OTP: a message still on its way when the alias is deactivated is
 * dropped; one already in the mailbox stays).  An alias is a reference of
 * five words (it names its process: no table is shared between threads);
 * other nodes see an ordinary reference.
 *
 * Modes (OTP's option names):
 *  - EM_ALIAS_EXPLICIT (explicit_unalias): active until em_unalias or the
 *    process's exit;
 *  - EM_ALIAS_REPLY (reply): also deactivated by the first message that
 *    arrives through it;
 *  - EM_ALIAS_DEMONITOR (demonitor, em_monitor_alias only): also
 *    deactivated when the monitor goes (em_demonitor, or its DOWN message);
 *  - EM_ALIAS_REPLY_DEMONITOR (reply_demonitor, em_monitor_alias only): as
 *    DEMONITOR, and the first message through the alias deactivates it and
 *    removes the monitor too. */
enum {
    EM_ALIAS_EXPLICIT = 1,
    EM_ALIAS_REPLY,
    EM_ALIAS_DEMONITOR,
    EM_ALIAS_REPLY_DEMONITOR
};

/* em_alias: a new alias of the calling process, active until em_unalias
 * (alias/0, or alias([explicit_unalias])).  em_alias_opt: the same with
 * mode EM_ALIAS_EXPLICIT or EM_ALIAS_REPLY (alias([reply])).  Returns the
 * reference (the caller owns it), or EM_NONE outside a process, for
 * another mode, or when out of memory.  Yields: no. */
EM_API em_term em_alias(void);
EM_API em_term em_alias_opt(int mode);

/* em_unalias: deactivate the calling process's alias `alias` (borrowed),
 * whatever its mode (the monitor of a monitor's alias stays).  Returns 1 if
 * it was an active alias of the caller, 0 if not (inactive already, not an
 * alias, another process's), EM_ESTATE outside a process.  Yields: no. */
EM_API int em_unalias(em_term alias);

/* em_monitor_alias: em_monitor whose reference is also an alias of the
 * caller (erlang:monitor(process, Target, [{alias, Mode}])), mode
 * EM_ALIAS_EXPLICIT, EM_ALIAS_DEMONITOR or EM_ALIAS_REPLY_DEMONITOR.
 * Returns what em_monitor returns (EM_NONE also for another mode).  A
 * target already gone: DOWN noproc at once, and with DEMONITOR modes no
 * active alias.  Yields: as em_monitor. */
EM_API em_term em_monitor_alias(em_term target, int mode);

/* em_on_exit: run fn(arg) when the calling process exits, for whatever
 * reason (return, em_exit, killed, runtime shutdown), on the scheduler's
 * stack after the process's own stack is gone.  Hooks run in reverse order
 * of registration; fn must not yield.  Returns 0, EM_ENOMEM, EM_ESTATE.
 * Process only. */
EM_API int em_on_exit(void (*fn)(void *arg), void *arg);

/* em_yield: let other runnable processes run.  Process only; Yields: yes. */
EM_API void em_yield(void);

/* em_is_alive: whether pid (local) names a live process.  Thread: any. */
EM_API bool em_is_alive(em_term pid);

/* ---- Messages ----------------------------------------------------------- */

/* em_send: send `msg` to `to`, a local pid or a registered name (atom);
 * remote destinations (a remote pid, or {Name, Node}) are handed to the
 * distribution layer when a node is running.  `to` may also be a
 * reference: an alias (see em_alias), of this node or another (sent as
 * ALIAS_SEND; dropped when the connection to that node does not offer
 * aliases, as OTP does); a message to a reference that is no active alias
 * is dropped silently (0).  A process's messages to other
 * nodes are written to the connection when it next stops running (waits in
 * a receive, sleeps, yields, exits, or has used its budget), not inside
 * em_send: a process that computes for a long time without calling the
 * runtime should em_yield after sending.
 * Takes `msg` in every case (on error it is released).  Messages from one
 * sender to one receiver arrive in the order sent.  A message to a dead pid
 * is dropped silently (as in Erlang): 0.
 * Returns 0, or EM_EBADARG (`to` is an unregistered name or not a
 * destination), EM_EINVAL (msg is EM_NONE), EM_ENOMEM, EM_ENOTSUP (a remote
 * destination and no node running), EM_ETOOBIG (a remote destination and
 * the message cannot be put in the external format: a length in it does not
 * fit 32 bits, or the frame would exceed 4 GiB; nothing is sent).
 * Back-pressure (remote destinations): when the connection to that node
 * (up, or still being set up) has more than 8 MiB queued for writing after
 * this message, a calling process
 * waits in em_send, its message already queued, until the queue drains to
 * 4 MiB or the connection goes down (it looks again at least every 100 ms
 * and goes on once 8 MiB or less are queued).  While it waits, other
 * processes run and exit signals reach it.  A foreign thread never waits.
 * Counts against the sender's budget: a process that sends in a loop yields
 * now and then.  Yields: yes, in a process: at budget exhaustion, and while
 * held back by a full outgoing queue.
 * Allocates: yes. Thread: any (a foreign thread can post into the runtime). */
EM_API int em_send(em_term to, em_term msg);

/* em_receive: selective receive.  `pattern` is Erlang term syntax with
 * variables (see em_pattern_compile); it is compiled once per distinct
 * pattern text and cached.  Scans the mailbox in arrival order for the first
 * message that matches; messages that do not match stay, in order.  Waits up
 * to timeout_ms for one (0 polls, EM_INFINITY forever).  After the pattern
 * come one `em_term *` per variable slot, in order of first appearance.
 * Returns 0 and fills the slots, or EM_ETIMEDOUT, EM_ESYNTAX (bad pattern),
 * EM_EINVAL (pattern NULL, or more than 32 variables), EM_ESTATE (not in a
 * process).
 * Ownership: the received message belongs to the process until its next
 * receive; the bound terms are borrowed from it.  Keep one longer with
 * em_dup().  (So a receive loop runs in flat memory with no frees.)
 * Yields: yes. Allocates: only the first time a pattern is seen. */
EM_API int em_receive(int64_t timeout_ms, const char *pattern, ...);

/* em_receive_any: the first message, whatever it is, in *msg (borrowed as
 * above).  Returns 0, EM_ETIMEDOUT, EM_ESTATE.  Yields: yes. */
EM_API int em_receive_any(int64_t timeout_ms, em_term *msg);

/* em_receive_match: receive the first message for which pred(msg, arg)
 * returns true; *msg as above.  pred must not yield.  Yields: yes. */
EM_API int em_receive_match(int64_t timeout_ms, bool (*pred)(em_term msg, void *arg),
                            void *arg, em_term *msg);

/* em_receive_pattern: em_receive with a pattern compiled beforehand
 * (em_pattern_compile) and its slots in an array: the receive for a loop
 * that takes many messages with one pattern, since em_receive finds its
 * compiled pattern by the text at every call.  Scans, waits and returns as
 * em_receive does (0, EM_ETIMEDOUT, EM_ESTATE; EM_EINVAL when p is NULL);
 * on 0, binds[0 .. em_pattern_nvars(p)) hold the bindings, borrowed from
 * the received message as em_receive's are (binds may be NULL when the
 * pattern has no variables); otherwise binds is left in an unspecified
 * state.  p is only read: one pattern may serve any number of processes
 * at once; it must stay alive while the call runs.
 * Yields: yes.  Allocates: no (the pattern was compiled by the caller). */
EM_API int em_receive_pattern(int64_t timeout_ms, const em_pattern *p, em_term *binds);

/* The call pattern.  em_make_ref returns a new unique reference (taken by
 * the caller) and remembers the end of the calling process's mailbox.
 * em_receive_ref is em_receive where the pattern variable `Ref` is already
 * bound to `ref` (it must match =:=, and takes no out slot); if `ref` is the
 * last reference made by this process, messages that were already in the
 * mailbox when it was made are not scanned (they cannot contain it) — the
 * receive-marker optimisation of BEAM.  em_receive_ref returns what
 * em_receive does, and EM_EINVAL when the pattern has no variable `Ref`.
 * Yields: yes. */
EM_API em_term em_make_ref(void);
EM_API int em_receive_ref(int64_t timeout_ms, em_term ref, const char *pattern, ...);

/* ---- Timers ------------------------------------------------------------- */

/* em_sleep: suspend the calling process for ms milliseconds (messages do not
 * wake it); EM_INFINITY sleeps until the process is killed, as
 * timer:sleep(infinity).  Returns 0, EM_ESTATE outside a process, EM_EINVAL
 * for another negative ms.  Yields: yes (a signal point). */
EM_API int em_sleep(int64_t ms);

/* em_send_after: send `msg` (taken) to `to` after ms milliseconds, as
 * erlang:send_after/3.  Returns a timer reference (a term the caller owns),
 * or EM_NONE on error (msg released).  Timers with equal deadlines fire in
 * the order they were set.  Thread: any. */
EM_API em_term em_send_after(int64_t ms, em_term to, em_term msg);

/* em_cancel_timer: cancel a timer from em_send_after (ref borrowed).
 * Returns the milliseconds that were left (>= 0), or EM_ENOTFOUND if it
 * already fired or was cancelled.  Thread: any. */
EM_API int64_t em_cancel_timer(em_term ref);

/* ---- Registry ----------------------------------------------------------- */

/* em_register: give the local process `pid` the name `name` (an atom).
 * Returns 0, or EM_EBADARG when the name is taken, the pid is dead or not
 * local, the process already has a name, or name is not an atom (or is
 * 'undefined'); EM_ENOMEM.  The name is released when the process exits.
 * em_unregister: 0 or EM_EBADARG (not registered).
 * em_whereis: the pid registered as name, or EM_NONE.
 * em_registered: a new list of all registered names (caller owns it).
 * Thread: any.  Yields: no. */
EM_API int em_register(em_term name, em_term pid);
EM_API int em_unregister(em_term name);
EM_API em_term em_whereis(em_term name);
EM_API em_term em_registered(void);

/* ---- Waiting without blocking a scheduler ------------------------------- */

enum { EM_READABLE = 1, EM_WRITABLE = 2 };

/* em_wait_fd: suspend the calling process until fd is readable and/or
 * writable (events: EM_READABLE | EM_WRITABLE) or timeout_ms passes (0:
 * look once, without waiting).  Returns the ready events (> 0),
 * EM_ETIMEDOUT, EM_EIO (fd cannot be polled), EM_EINVAL (fd < 0, or no
 * event asked for), EM_ESTATE outside a process.  A signal point, also
 * with timeout 0.  The fd is watched by the caller's scheduler (between
 * runs and while it is idle), so a process that hogs that scheduler delays
 * it.  The caller may close the fd as soon as the call returns (a wait
 * that saw its event leaves the fd's registration disarmed in its
 * scheduler's set, to re-arm it cheaply next time, and closing the fd
 * removes it).  One process at a time may wait on a given file descriptor
 * (registrations are keyed on it): for a reader and a writer on one
 * socket, let one of them wait on a dup() of it.  Allocates: no.  Yields:
 * yes.  Process only. */
EM_API int em_wait_fd(int fd, int events, int64_t timeout_ms);

/* em_blocking: run fn(arg) on a separate thread pool while the calling
 * process waits, so a blocking library call (DNS, disk) does not stall a
 * scheduler.  Returns what fn returns (when no pool thread can be started
 * or the job cannot be allocated, fn runs on the calling thread instead).
 * fn must not call runtime functions that need a process.  `arg` must NOT
 * point into the calling process's stack (a local variable): the stack is
 * moved out while the process waits (see "Stacks" above); use static or
 * malloc'd memory.  A signal point when fn has returned: a process killed
 * meanwhile dies then, and fn's result is lost (CANCELLATION above).
 * Yields: yes.  Process only (outside a process, fn simply runs on the
 * calling thread). */
EM_API int em_blocking(int (*fn)(void *arg), void *arg);

/* ---- Introspection ------------------------------------------------------ */

typedef enum em_proc_status {
    EM_STATUS_RUNNABLE = 1, /* waiting for a scheduler (or not yet started) */
    EM_STATUS_RUNNING,
    EM_STATUS_WAITING
} em_proc_status;

typedef struct em_proc_info {
    em_proc_status status;
    size_t message_queue_len;
    size_t stack_used;   /* bytes, as of its last switch */
    size_t stack_size;   /* its limit */
    em_term name;        /* registered name or EM_NONE */
} em_proc_info;

/* em_process_count: live processes.  em_process_info: 0 and *info, or
 * EM_ENOPROC.  em_processes: a new list of the pids of all live processes.
 * Values are snapshots: they may change as soon as they are read.
 * Thread: any. */
EM_API size_t em_process_count(void);
EM_API int em_process_info(em_term pid, em_proc_info *info);
EM_API em_term em_processes(void);

#endif /* EM_RUNTIME_RUNTIME_H */
