/* sup.h: supervisors, as OTP's supervisor module: a process that starts
 * child processes from specifications, watches them, restarts them by a
 * strategy, gives up when they crash too often, and shuts them down in
 * order.  Public: installed as <ember/sup.h>; users include <ember.h>.
 * docs/supervisor.md has a worked example and the message protocol.
 *
 * What an Erlang programmer knows holds, and the differences are named:
 *  - a child spec has an id, a start (a process function, or a start
 *    function), a restart type (permanent | transient | temporary), a
 *    shutdown (brutal_kill | a timeout in ms | infinity) and a type
 *    (worker | supervisor); ids are atoms (OTP allows any term);
 *  - strategies one_for_one, one_for_all, rest_for_one (no
 *    simple_one_for_one; no auto_shutdown, no significant children);
 *  - restart intensity: more than `intensity` restarts within `period_ms`
 *    milliseconds (OTP counts whole seconds) and the supervisor terminates
 *    its children and exits with reason `shutdown`;
 *  - transient children are restarted only after an abnormal exit (normal,
 *    shutdown and {shutdown, _} are normal); temporary children never, and
 *    they are removed from the supervisor when they end;
 *  - children start in order, each start function running in the
 *    supervisor; a failed start terminates the children already started
 *    and fails the supervisor's start with {shutdown,
 *    {failed_to_start_child, Id, Reason}}, as supervisor:start_link;
 *  - children are shut down in reverse start order: exit(Child, shutdown),
 *    then up to the child's timeout for it to end, then exit(Child, kill)
 *    (brutal_kill: kill at once); the supervisor monitors the child while
 *    it waits, so a child that unlinked itself cannot hang it;
 *  - the supervisor traps exits; when its parent (the process that started
 *    it with em_sup_start_link) exits, it shuts its children down and exits
 *    with the same reason;
 *  - it writes a report (OTP's supervisor reports: child_terminated,
 *    start_error, shutdown_error, shutdown) through em_sup_spec.report,
 *    by default one line on stderr.
 *
 * The functions that act on a running supervisor (em_sup_start_child ...
 * em_sup_count_children) send it a request and wait for its answer; the
 * requests are gen_server calls, so an Erlang node can ask a C supervisor
 * too: supervisor:which_children({Name, Node}), count_children,
 * terminate_child, restart_child, delete_child (start_child from Erlang is
 * answered {error, badarg}: a C child has no MFA).
 *
 * A supervisor is addressed by `sup`: its pid or its registered name (an
 * atom), on this node.
 */
#ifndef EM_RUNTIME_SUP_H
#define EM_RUNTIME_SUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ember/common.h>
#include <ember/runtime.h>
#include <ember/term.h>

typedef enum em_sup_strategy {
    EM_SUP_ONE_FOR_ONE = 0, /* restart the child that ended */
    EM_SUP_ONE_FOR_ALL,     /* terminate all the others, restart all */
    EM_SUP_REST_FOR_ONE     /* terminate those started after it, restart them and it */
} em_sup_strategy;

typedef enum em_sup_restart {
    EM_SUP_PERMANENT = 0, /* always restarted */
    EM_SUP_TRANSIENT,     /* restarted after an abnormal exit only */
    EM_SUP_TEMPORARY      /* never restarted; removed when it ends */
} em_sup_restart;

typedef enum em_sup_type {
    EM_SUP_WORKER = 0,
    EM_SUP_SUPERVISOR
} em_sup_type;

/* em_sup_child_spec.shutdown: kill at once, without asking first.  (The
 * other values: a timeout in ms > 0, EM_INFINITY, or 0 for OTP's default:
 * 5000 ms for a worker, infinity for a supervisor.) */
#define EM_SUP_BRUTAL_KILL ((int64_t)-2)

/* A start function: start one child process, linked to the calling
 * process (the supervisor), typically with em_spawn_link, and return
 *  - 0 and *out = its pid;
 *  - 0 and *out = EM_NONE: nothing started (OTP's `ignore`); the child
 *    stays in the supervisor, not running (a temporary one is dropped);
 *  - a negative EM_E* code: the start failed; *out = the reason (a term
 *    the supervisor takes), or EM_NONE for the code's name as an atom
 *    (EM_ENOMEM gives enomem).
 * It runs in the supervisor's process, and may yield and receive
 * (em_sup_start_nested does); messages it does not receive stay for the
 * supervisor.  The child must be linked to the supervisor, as in OTP: the
 * supervisor learns of its end by the link's 'EXIT' (it does not link
 * itself, so a child may unlink later, and is then no longer watched). */
typedef int (*em_sup_start_fn)(void *arg, em_term *out);

typedef struct em_sup_child_spec {
    const char *id;        /* the child's id: an atom's UTF-8 name, unique
                              in its supervisor (not NULL) */
    em_proc_fn fn;         /* the child: em_spawn_link(fn, arg) ... */
    em_sup_start_fn start; /* ... or start(arg, &pid): exactly one of fn
                              and start is set */
    void *arg;             /* given to fn or start at every (re)start: it
                              must stay valid while the child may start,
                              and not point into a process's stack */
    em_sup_restart restart;
    int64_t shutdown;      /* see EM_SUP_BRUTAL_KILL */
    em_sup_type type;
} em_sup_child_spec;

/* A report: what OTP's supervisor logs.  Every field is borrowed for the
 * call.  context: child_terminated (a child ended and was handled by its
 * restart type), start_error (a start function failed), shutdown_error (a
 * child ended with another reason than the one shutting it down asked
 * for), shutdown (reason reached_max_restart_intensity: the supervisor
 * gives up). */
typedef struct em_sup_report {
    em_term supervisor; /* its pid */
    const char *name;   /* its registered name, or NULL */
    em_term context;    /* an atom, above */
    em_term reason;
    const char *child_id;
    em_term child_pid;  /* EM_NONE when it was not running */
} em_sup_report;

/* Called in the supervisor's process, which waits for it: it must not
 * receive (the messages are the supervisor's) and should be quick. */
typedef void (*em_sup_report_fn)(const em_sup_report *r, void *arg);

typedef struct em_sup_spec {
    const char *name;               /* register the supervisor under this
                                       atom, or NULL */
    em_sup_strategy strategy;
    int intensity;                  /* restarts allowed in period_ms, >= 0
                                       (OTP's default: 1) */
    int64_t period_ms;              /* > 0 (OTP's default: 5 s) */
    const em_sup_child_spec *children; /* started in this order */
    size_t nchildren;
    em_sup_report_fn report;        /* NULL: one line on stderr per report */
    void *report_arg;
} em_sup_spec;

/* em_sup_start_link: start a supervisor linked to the calling process (its
 * parent) and wait until it has started its children (supervisor:
 * start_link).  The spec and its children are copied (ids and name
 * included), except the args, which the supervisor keeps using.
 * Returns 0 and *out = the supervisor's pid, or, with *out the reason as
 * OTP gives it (a term the caller owns; EM_NONE where none is named):
 *  - EM_EINVAL: a bad spec (strategy, intensity < 0, period_ms <= 0, a
 *    child without an id or with both or neither of fn and start, an
 *    unknown restart, type or shutdown value, two children with one id, a
 *    name or id that is not a valid atom or is 'undefined');
 *  - EM_EEXIST: `name` is taken; *out = {already_started, Pid};
 *  - EM_ESTART: a child failed to start; the ones started before it were
 *    shut down; *out = {shutdown, {failed_to_start_child, Id, Reason}}.
 *    The supervisor then exits with that reason, which reaches the caller
 *    through the link: a caller that does not trap exits dies of it, as
 *    in Erlang, perhaps inside this call, which then does not return
 *    (nothing of the call is lost);
 *  - EM_ENOPROC: the supervisor died before it had started (killed, or the
 *    runtime stopped); *out = its exit reason (EM_NONE from a thread that
 *    is not a process, see em_sup_start);
 *  - EM_ENOMEM; EM_ESTATE (not called from a process).
 * out may be NULL.  Yields: yes (it waits for the children's start
 * functions).  Allocates: yes.  Process only. */
EM_API int em_sup_start_link(const em_sup_spec *spec, em_term *out);

/* em_sup_start: em_sup_start_link without a link and without a parent:
 * the supervisor lives until it gives up (restart intensity) or is killed.
 * The same returns, without EM_ESTATE.  From a thread that is not a
 * process (main() before em_run, typically) it blocks that thread until
 * the supervisor has started (the runtime starts if needed, as em_spawn
 * does); there, EM_ENOPROC comes with *out = EM_NONE: a thread does not
 * learn the exit reason.  Yields: yes, in a process.  Allocates: yes.  Thread: any, except
 * a scheduler thread outside a process (an exit hook). */
EM_API int em_sup_start(const em_sup_spec *spec, em_term *out);

/* em_sup_start_nested: a start function (em_sup_start_fn) for a child of
 * type EM_SUP_SUPERVISOR: `spec` is a const em_sup_spec * (which must stay
 * valid while the child may restart); it calls em_sup_start_link, so the
 * nested supervisor's parent is the supervisor starting it.  Returns what
 * em_sup_start_link returns. */
EM_API int em_sup_start_nested(void *spec, em_term *out);

/* ---- A running supervisor -------------------------------------------------
 * Each of these sends `sup` a request and waits for the answer, as
 * supervisor's functions do (without a timeout: a supervisor answers once
 * what it is doing is done, e.g. a child's shutdown).  Common returns:
 * EM_ENOPROC (sup is not a live process on this node, or died before it
 * answered), EM_EBADARG (sup is neither a pid of this node nor an atom, or
 * answers as no supervisor does; a supervisor of another node, ember's or
 * OTP's, takes OTP's requests through em_call, <ember/call.h>), EM_ESTATE (not called from a process, or called
 * from the supervisor itself, which would wait for itself), EM_EINVAL (id
 * is NULL or not a valid atom), EM_ENOMEM.  A process that is not a
 * supervisor and never answers is waited for as long as it lives.
 * Yields: yes.  Allocates: yes.  Process only. */

/* em_sup_start_child: add a child to sup and start it (supervisor:
 * start_child).  The spec is copied as em_sup_start_link copies it; the
 * new child is the last in start order.  Returns 0 and *out = its pid
 * (EM_NONE if its start function ignored it), or, with *out the reason:
 * EM_EINVAL (a bad spec, as above); EM_EEXIST: a child with that id
 * exists: *out = {already_started, Pid} when it runs, already_present when
 * it does not; EM_ESTART: its start failed, *out = the reason (whatever
 * it is: a reason such as running or enomem is not taken for one of these
 * codes), and the child is not added; EM_ENOMEM: the supervisor has no
 * memory for one more child, *out = enomem.  out may be NULL. */
EM_API int em_sup_start_child(em_term sup, const em_sup_child_spec *spec, em_term *out);

/* em_sup_terminate_child: shut the child `id` down as the supervisor would
 * (its shutdown), and keep its spec, not running (a temporary child is
 * removed).  Returns 0 (also when it was not running) or EM_ENOTFOUND. */
EM_API int em_sup_terminate_child(em_term sup, const char *id);

/* em_sup_restart_child: start the child `id` again, whose spec is kept but
 * which is not running.  Returns 0 and *out = its pid (EM_NONE if
 * ignored), EM_ENOTFOUND, EM_EEXIST (it runs, *out = running, or a retry of
 * its restart is pending, *out = restarting), EM_ESTART (*out = the
 * reason, whatever it is).  out may be NULL.  (An Erlang caller of
 * supervisor:restart_child gets OTP's {error, Reason} for all of these.) */
EM_API int em_sup_restart_child(em_term sup, const char *id, em_term *out);

/* em_sup_delete_child: remove the spec of the child `id`, which must not
 * be running.  Returns 0, EM_ENOTFOUND, EM_EEXIST (it runs, or its restart
 * is pending). */
EM_API int em_sup_delete_child(em_term sup, const char *id);

typedef struct em_sup_child_info {
    const char *id;     /* the child's id (the atom table's text: valid
                           for the life of the program) */
    em_term pid;        /* its pid, or EM_NONE when not running; owned by
                           the array */
    bool restarting;    /* its restart failed and a retry is pending */
    em_sup_type type;
} em_sup_child_info;

/* em_sup_which_children: the children of sup, the most recently started
 * first (as supervisor:which_children lists them).  Returns their number
 * n >= 0 and *out = a new array of n entries (NULL when n is 0), which the
 * caller releases with em_sup_children_free(*out, n). */
EM_API int em_sup_which_children(em_term sup, em_sup_child_info **out);
/* em_sup_children_free: release what em_sup_which_children returned (NULL
 * is a no-op).  Thread: any.  Yields: no. */
EM_API void em_sup_children_free(em_sup_child_info *info, size_t n);

typedef struct em_sup_counts {
    size_t specs;       /* children, running or not */
    size_t active;      /* running (their process is alive) */
    size_t supervisors; /* children of type supervisor, running or not */
    size_t workers;     /* children of type worker, running or not */
} em_sup_counts;

/* em_sup_count_children: supervisor:count_children.  Returns 0 and *out. */
EM_API int em_sup_count_children(em_term sup, em_sup_counts *out);

#endif /* EM_RUNTIME_SUP_H */
