/* sup.c: supervisors (include/ember/sup.h), after OTP 25's supervisor.erl:
 * the supervisor's state, starting children, the restart strategies and
 * intensity, shutting children down, the start handshake with whoever
 * starts it, and the requests it answers.  Built on the public runtime API
 * (a supervisor is an ordinary process that traps exits), and on
 * em__proc_keep (remote.h), with which a caller keeps what it holds while
 * it waits, should it be killed there.
 *
 * THE PROTOCOL.  Everything a supervisor receives, and what it sends back
 * (this file is the one place that builds and reads these terms):
 *  - {'EXIT', Pid, Reason}: from its parent: shut the children down and
 *    exit with Reason; from a child: handle by its restart type; from
 *    anyone else: ignored.
 *  - requests, as gen_server calls: {'$gen_call', {From, Tag}, Request},
 *    answered with From ! {Tag, Reply} (so em_call, or gen_server:call from
 *    Erlang, works too).  Ids are atoms; a Pid in a reply is the child's.
 *      which_children            -> [{Id, Pid | restarting | undefined,
 *                                     worker | supervisor, []}], the most
 *                                     recently started first
 *      count_children            -> [{specs, N}, {active, N},
 *                                     {supervisors, N}, {workers, N}]
 *      {terminate_child, Id}     -> ok | {error, not_found}
 *      {restart_child, Id}       -> {ok, Pid | undefined} | {error, running
 *                                     | restarting | not_found | Reason}
 *      {delete_child, Id}        -> ok | {error, running | restarting |
 *                                     not_found}
 *      {'$em_start_child', Ticket} -> {ok, Pid | undefined} | {error,
 *                                     {already_started, Pid} |
 *                                     already_present | enomem | badarg}
 *                                     | {start_error, Reason}
 *      {'$em_restart_child', Id} -> restart_child's answers, but
 *                                     {start_error, Reason} when the start
 *                                     failed
 *      anything else (Erlang's {start_child, Spec} included) -> {error, badarg}
 *    The two '$em_' requests are em_sup_start_child's and
 *    em_sup_restart_child's: where OTP answers {error, Reason} for a
 *    child's failed start, a Reason of running or badarg could not be told
 *    from the supervisor's own answers.
 *    A C child spec holds function pointers, which must not travel in a
 *    message any node could forge: em_sup_start_child leaves the spec in
 *    a table here (pending_put) under a fresh reference, the Ticket, and
 *    the supervisor takes it from there; a ticket not in the table is
 *    answered {error, badarg}.
 *  - {'$gen_cast', {try_again_restart, Id}}: sent to itself after a
 *    restart failed, to try again once the messages before it are handled
 *    (OTP does the same); each try counts against the intensity.
 *  - anything else: ignored.
 * And the start handshake: a process that starts a supervisor gets
 * {ack, SupPid, {ok, SupPid} | {error, Reason}} (proc_lib's form), and
 * monitors it meanwhile; a thread waits on a condition variable instead.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ember/call.h>
#include <ember/sup.h>

#include "remote.h"

#define A(s) em_atom(s)

/* ---- the state ---- */

/* A child.  Invariant: pid != EM_NONE implies !restarting. */
typedef struct child {
    em_term id;          /* an atom (an immediate: never dropped) */
    em_term pid;         /* owned; EM_NONE when not running */
    bool restarting;     /* a restart failed; a try_again_restart is queued */
    em_proc_fn fn;
    em_sup_start_fn start;
    void *arg;
    em_sup_restart restart;
    int64_t shutdown;    /* ms > 0, EM_INFINITY or EM_SUP_BRUTAL_KILL */
    em_sup_type type;
} child;

typedef struct handshake handshake;

/* A supervisor's state: made by the starter, owned by the supervisor
 * process from its first instruction on, freed by its exit hook. */
typedef struct sup {
    em_term self;
    em_term parent;      /* owned; EM_NONE when started without a link */
    em_term name;        /* an atom, or EM_NONE */
    em_sup_strategy strategy;
    int intensity;
    int64_t period_ms;
    int64_t *restarts;   /* when the restarts within the period were (ms),
                            oldest first */
    size_t nrestarts, caprestarts;
    child *ch;           /* in start order; ids distinct */
    size_t n, cap;
    em_sup_report_fn report;
    void *report_arg;
    handshake *hs;       /* until the starter has its answer */
    /* Terms the supervisor holds across a signal point, released by the
     * exit hook if it is killed there. */
    em_term msg;         /* the message being handled */
    em_term mref;        /* the monitor of a child being shut down */
    em_term down;        /* the reason that child ended with */
    em_term stop;        /* the reason it is about to exit with */
} sup;

/* The start handshake.  The supervisor holds a reference from its spawn
 * on (its exit hook, given at the spawn, runs even if it is killed before
 * it ever ran, and frees the state); a starter that is a thread holds the
 * other one.  A starter that is a process holds none: it waits for the
 * ack message or its monitor's DOWN, so it can die while it waits (a
 * failed start's exit signal through the link) without leaving anything
 * behind. */
struct handshake {
    _Atomic int refs;
    em_term starter;       /* the starting process, or EM_NONE: a thread */
    pthread_mutex_t mu;    /* a thread starter: mu guards done and result */
    pthread_cond_t cv;
    bool done;
    em_term result;        /* {ok, Pid} | {error, Reason} | EM_NONE (died) */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The atom named `text`, for an id or a name: 0, EM_EINVAL (NULL, not an
 * atom's text, or 'undefined', which OTP's records use for "none"),
 * EM_ENOMEM. */
static int atom_of(const char *text, em_term *out)
{
    if (text == NULL)
        return EM_EINVAL;
    em_term a;
    int rc = em_atom_new(text, strlen(text), &a);
    if (rc < 0)
        return rc == EM_ENOMEM ? rc : EM_EINVAL;
    if (a == A("undefined"))
        return EM_EINVAL;
    *out = a;
    return 0;
}

/* A child from a spec, checked; shutdown 0 becomes OTP's default. */
static int child_of_spec(const em_sup_child_spec *cs, child *c)
{
    memset(c, 0, sizeof *c);
    c->pid = EM_NONE;
    if (cs == NULL)
        return EM_EINVAL;
    int rc = atom_of(cs->id, &c->id);
    if (rc < 0)
        return rc;
    if ((cs->fn == NULL) == (cs->start == NULL))
        return EM_EINVAL;
    if ((unsigned)cs->restart > EM_SUP_TEMPORARY || (unsigned)cs->type > EM_SUP_SUPERVISOR)
        return EM_EINVAL;
    int64_t sd = cs->shutdown;
    if (sd == 0)
        sd = cs->type == EM_SUP_WORKER ? 5000 : EM_INFINITY;
    else if (sd < 0 && sd != EM_INFINITY && sd != EM_SUP_BRUTAL_KILL)
        return EM_EINVAL;
    c->fn = cs->fn;
    c->start = cs->start;
    c->arg = cs->arg;
    c->restart = cs->restart;
    c->shutdown = sd;
    c->type = cs->type;
    return 0;
}

static void sup_free(sup *s)
{
    for (size_t i = 0; i < s->n; i++)
        em_drop(s->ch[i].pid);
    em_drop(s->parent);
    em_drop(s->msg);
    em_drop(s->mref);
    em_drop(s->down);
    em_drop(s->stop);
    free(s->ch);
    free(s->restarts);
    free(s);
}

/* A supervisor's state from a spec, checked and copied. */
static int sup_new(const em_sup_spec *spec, sup **out)
{
    if (spec == NULL || (unsigned)spec->strategy > EM_SUP_REST_FOR_ONE || spec->intensity < 0 ||
        spec->period_ms <= 0 || (spec->children == NULL && spec->nchildren > 0))
        return EM_EINVAL;
    sup *s = calloc(1, sizeof *s);
    if (s == NULL)
        return EM_ENOMEM;
    int rc = 0;
    if (spec->name && (rc = atom_of(spec->name, &s->name)) < 0)
        goto fail;
    s->strategy = spec->strategy;
    s->intensity = spec->intensity;
    s->period_ms = spec->period_ms;
    s->report = spec->report;
    s->report_arg = spec->report_arg;
    s->cap = spec->nchildren ? spec->nchildren : 4;
    s->ch = calloc(s->cap, sizeof *s->ch);
    if (s->ch == NULL) {
        rc = EM_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < spec->nchildren; i++) {
        if ((rc = child_of_spec(&spec->children[i], &s->ch[i])) < 0)
            goto fail;
        for (size_t j = 0; j < i; j++)
            if (s->ch[j].id == s->ch[i].id) {
                rc = EM_EINVAL; /* OTP: duplicate_child_name */
                goto fail;
            }
        s->n = i + 1;
    }
    *out = s;
    return 0;
fail:
    sup_free(s);
    return rc;
}

static long find_id(const sup *s, em_term id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->ch[i].id == id)
            return (long)i;
    return -1;
}

static long find_pid(const sup *s, em_term pid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->ch[i].pid != EM_NONE && em_equal(s->ch[i].pid, pid))
            return (long)i;
    return -1;
}

static void clear_pid(child *c)
{
    em_drop(c->pid);
    c->pid = EM_NONE;
    c->restarting = false;
}

static void remove_at(sup *s, size_t i)
{
    em_drop(s->ch[i].pid);
    memmove(&s->ch[i], &s->ch[i + 1], (s->n - i - 1) * sizeof *s->ch);
    s->n--;
}

/* OTP's del_child: a child that ended is forgotten if temporary, kept not
 * running otherwise. */
static void del_child(sup *s, size_t i)
{
    if (s->ch[i].restart == EM_SUP_TEMPORARY)
        remove_at(s, i);
    else
        clear_pid(&s->ch[i]);
}

static int reserve_child(sup *s)
{
    if (s->n < s->cap)
        return 0;
    child *ch = realloc(s->ch, 2 * s->cap * sizeof *ch);
    if (ch == NULL)
        return EM_ENOMEM;
    s->ch = ch;
    s->cap *= 2;
    return 0;
}

/* ---- reports ---- */

static void report_stderr(const em_sup_report *r)
{
    em_buf b = EM_BUF_INIT;
    em_term none = A("undefined");
    em_format(&b, "ember: supervisor ~p~s~s~s: ~p: child ~s (~p): ~p~n", r->supervisor,
              r->name ? " (" : "", r->name ? r->name : "", r->name ? ")" : "", r->context,
              r->child_id, r->child_pid != EM_NONE ? r->child_pid : none, r->reason);
    if (b.len)
        fwrite(b.data, 1, b.len, stderr); /* one call: lines of several threads do not mix */
    em_buf_free(&b);
}

static void report(sup *s, const char *context, em_term reason, const child *c, em_term pid)
{
    em_sup_report r = {s->self, s->name != EM_NONE ? em_atom_text(s->name, NULL) : NULL, A(context),
                       reason, em_atom_text(c->id, NULL), pid};
    if (s->report)
        s->report(&r, s->report_arg);
    else
        report_stderr(&r);
}

/* ---- starting children ---- */

/* An error code's name as an atom: EM_ENOMEM gives enomem. */
static em_term code_atom(int rc)
{
    char buf[32];
    const char *name = em_err_name(rc);
    size_t i = 0;
    for (; name[i] && i < sizeof buf - 1; i++)
        buf[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    buf[i] = 0;
    return A(buf);
}

/* Start c, which is not running.  0: c->pid is its pid, or EM_NONE if its
 * start function ignored it; < 0: it did not start, *why (owned) says why.
 * Runs the start function, which may yield. */
static int child_start(child *c, em_term *why)
{
    em_term out = EM_NONE;
    int rc;
    if (c->start) {
        rc = c->start(c->arg, &out);
        if (rc < 0 && out == EM_NONE)
            out = code_atom(rc);
    } else {
        out = em_spawn_link(c->fn, c->arg);
        rc = 0;
        if (out == EM_NONE) {
            rc = EM_ENOMEM;
            out = A("system_limit"); /* what spawn raises in Erlang */
        }
    }
    if (rc >= 0 && out != EM_NONE && em_typeof(out) != EM_TYPE_PID) {
        rc = EM_EBADARG; /* OTP answers a bad return {error, What} */
        out = em_tuple(2, A("bad_return_value"), out);
    }
    if (rc < 0) {
        *why = out;
        return rc;
    }
    c->pid = out;
    c->restarting = false;
    return 0;
}

/* Start the children from index lo on, in order (OTP's start_children).
 * A temporary child whose start is ignored is dropped.  On a failure,
 * reported here, the children after it are left not running, and *failed
 * is its index, *why the reason (owned). */
static int start_children(sup *s, size_t lo, size_t *failed, em_term *why)
{
    size_t i = lo;
    while (i < s->n) {
        child *c = &s->ch[i];
        if (c->pid != EM_NONE) {
            i++;
            continue;
        }
        int rc = child_start(c, why);
        if (rc < 0) {
            report(s, "start_error", *why, c, EM_NONE);
            *failed = i;
            return rc;
        }
        if (c->pid == EM_NONE && c->restart == EM_SUP_TEMPORARY)
            remove_at(s, i);
        else
            i++;
    }
    return 0;
}

/* ---- shutting children down ---- */

static bool is_shutdown(em_term r)
{
    return r == A("shutdown") || (em_tuple_size(r) == 2 && em_tuple_get(r, 0) == A("shutdown"));
}

static bool is_down(em_term m, em_term ref)
{
    return em_tuple_size(m) == 5 && em_tuple_get(m, 0) == A("DOWN") && em_equal(em_tuple_get(m, 1), ref);
}

static bool is_exit_from(em_term m, void *pid)
{
    return em_tuple_size(m) == 3 && em_tuple_get(m, 0) == A("EXIT") &&
           em_equal(em_tuple_get(m, 1), *(const em_term *)pid);
}

/* The reason of the DOWN of s->mref within timeout_ms (owned), or EM_NONE. */
static em_term wait_down(sup *s, int64_t timeout_ms)
{
    em_term reason;
    if (em_receive_ref(timeout_ms, s->mref, "{'DOWN', Ref, process, _, Reason}", &reason) < 0)
        return EM_NONE;
    return em_dup(reason);
}

/* OTP's unlink_flush: unlink, so that the 'EXIT' of a dead child is in
 * the mailbox if it is coming at all, and take it: its reason is the one
 * to judge (a DOWN may say noproc where the 'EXIT' has the real reason). */
static em_term unlink_flush(em_term pid, em_term reason)
{
    em_unlink(pid);
    em_term m;
    if (em_receive_match(0, is_exit_from, &pid, &m) == 0) {
        em_drop(reason);
        reason = em_dup(em_tuple_get(m, 2));
    }
    return reason;
}

/* Shut c down (OTP's shutdown/1): exit(Pid, shutdown), then up to its
 * timeout for the DOWN, then exit(Pid, kill); brutal_kill kills at once.
 * The monitor, not the link, tells that it is gone: a child that unlinked
 * itself cannot hang the supervisor.  An unexpected reason is reported
 * (shutdown_error).  c is left not running. */
static void child_stop(sup *s, child *c)
{
    em_term pid = c->pid;
    if (pid == EM_NONE)
        return;
    em_term reason = EM_NONE;
    bool brutal = c->shutdown == EM_SUP_BRUTAL_KILL;
    s->mref = em_monitor(pid);
    if (s->mref == EM_NONE) {
        /* No memory for a monitor: kill, and judge by the 'EXIT' if any. */
        em_exit_pid(pid, A("kill"));
        reason = A("killed");
    } else if (brutal) {
        em_exit_pid(pid, A("kill"));
        reason = wait_down(s, EM_INFINITY);
    } else {
        em_exit_pid(pid, A("shutdown"));
        reason = wait_down(s, c->shutdown);
        if (reason == EM_NONE) {
            em_exit_pid(pid, A("kill"));
            reason = wait_down(s, EM_INFINITY);
        }
    }
    em_drop(s->mref);
    s->mref = EM_NONE;
    s->down = reason;
    s->down = unlink_flush(pid, s->down);
    reason = s->down;
    bool permanent = c->restart == EM_SUP_PERMANENT;
    bool soft = !permanent && (reason == A("normal") || is_shutdown(reason));
    bool ok = brutal ? reason == A("killed") || soft : reason == A("shutdown") || soft;
    if (!ok)
        report(s, "shutdown_error", reason, c, pid);
    em_drop(s->down);
    s->down = EM_NONE;
    clear_pid(c);
}

/* Shut the children from index lo on down, in reverse start order (OTP's
 * terminate_children): temporary ones are removed, the others kept not
 * running. */
static void terminate_children(sup *s, size_t lo)
{
    for (size_t i = s->n; i-- > lo;) {
        child_stop(s, &s->ch[i]);
        if (s->ch[i].restart == EM_SUP_TEMPORARY)
            remove_at(s, i);
        else
            clear_pid(&s->ch[i]);
    }
}

/* ---- restarts ---- */

/* Count a restart now; false when that makes more than `intensity`
 * within `period_ms` (or there is no memory to count it). */
static bool add_restart(sup *s)
{
    int64_t now = now_ms();
    size_t old = 0;
    while (old < s->nrestarts && s->restarts[old] < now - s->period_ms)
        old++;
    if (old > 0) {
        memmove(s->restarts, s->restarts + old, (s->nrestarts - old) * sizeof *s->restarts);
        s->nrestarts -= old;
    }
    if (s->nrestarts == s->caprestarts) {
        size_t cap = s->caprestarts ? 2 * s->caprestarts : 4;
        int64_t *r = realloc(s->restarts, cap * sizeof *r);
        if (r == NULL)
            return false;
        s->restarts = r;
        s->caprestarts = cap;
    }
    s->restarts[s->nrestarts++] = now;
    return s->nrestarts <= (size_t)s->intensity;
}

static void try_again_later(sup *s, em_term id)
{
    em_send(s->self, em_tuple(2, A("$gen_cast"), em_tuple(2, A("try_again_restart"), id)));
}

/* Restart the children from lo on after shutting them down (OTP's
 * restart_multiple_children); a failed start is tried again later. */
static void restart_from(sup *s, size_t lo)
{
    terminate_children(s, lo);
    size_t failed;
    em_term why;
    if (start_children(s, lo, &failed, &why) < 0) {
        em_drop(why);
        s->ch[failed].restarting = true;
        try_again_later(s, s->ch[failed].id);
    }
}

/* The child at i ended (or its restart failed before): restart by the
 * strategy.  Returns the reason to exit with (owned: the intensity is
 * exceeded), or EM_NONE. */
static em_term restart(sup *s, size_t i)
{
    child *c = &s->ch[i];
    if (!add_restart(s)) {
        report(s, "shutdown", A("reached_max_restart_intensity"), c, c->pid);
        del_child(s, i);
        return A("shutdown");
    }
    switch (s->strategy) {
    case EM_SUP_ONE_FOR_ONE: {
        clear_pid(c);
        em_term why;
        if (child_start(c, &why) < 0) {
            report(s, "start_error", why, c, EM_NONE);
            em_drop(why);
            c->restarting = true;
            try_again_later(s, c->id);
        }
        break;
    }
    case EM_SUP_REST_FOR_ONE:
        clear_pid(c);
        restart_from(s, i);
        break;
    case EM_SUP_ONE_FOR_ALL:
        del_child(s, i);
        restart_from(s, 0);
        break;
    }
    return EM_NONE;
}

static bool normal_end(em_term reason)
{
    return reason == A("normal") || is_shutdown(reason);
}

/* {'EXIT', From, Reason} (OTP's handle_info and do_restart). */
static em_term on_exit_msg(sup *s, em_term from, em_term reason)
{
    if (s->parent != EM_NONE && em_equal(from, s->parent))
        return em_dup(reason);
    long i = find_pid(s, from);
    if (i < 0)
        return EM_NONE; /* not a child (any more) */
    child *c = &s->ch[i];
    if (c->restart == EM_SUP_PERMANENT || (c->restart == EM_SUP_TRANSIENT && !normal_end(reason))) {
        report(s, "child_terminated", reason, c, from);
        return restart(s, (size_t)i);
    }
    if (!normal_end(reason))
        report(s, "child_terminated", reason, c, from); /* temporary */
    del_child(s, (size_t)i);
    return EM_NONE;
}

/* ---- the start_child tickets (see THE PROTOCOL) ---- */

typedef struct pending {
    struct pending *next;
    em_term ticket;     /* a reference, owned */
    em_term caller;     /* the calling process */
    child c;
} pending;

static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static pending *pending_list;

static void pending_free(pending *p)
{
    em_drop(p->ticket);
    em_drop(p->caller);
    free(p);
}

/* Add p; drop the entries of callers that died waiting (killed inside
 * em_sup_start_child, they could not take their own back). */
static void pending_put(pending *p)
{
    pthread_mutex_lock(&pending_lock);
    pending **at = &pending_list;
    while (*at) {
        pending *q = *at;
        if (!em_is_alive(q->caller)) {
            *at = q->next;
            pending_free(q);
        } else {
            at = &q->next;
        }
    }
    p->next = pending_list;
    pending_list = p;
    pthread_mutex_unlock(&pending_lock);
}

static pending *pending_take(em_term ticket)
{
    pthread_mutex_lock(&pending_lock);
    pending **at = &pending_list;
    while (*at && !em_equal((*at)->ticket, ticket))
        at = &(*at)->next;
    pending *p = *at;
    if (p)
        *at = p->next;
    pthread_mutex_unlock(&pending_lock);
    return p;
}

/* ---- requests (the supervisor's side) ---- */

static em_term err_reply(em_term reason)
{
    return em_tuple(2, A("error"), reason);
}

static em_term ok_pid(em_term pid)
{
    return em_tuple(2, A("ok"), pid != EM_NONE ? em_dup(pid) : A("undefined"));
}

static em_term type_atom(em_sup_type t)
{
    return t == EM_SUP_SUPERVISOR ? A("supervisor") : A("worker");
}

static em_term which_children(const sup *s)
{
    em_term list = EM_NIL;
    for (size_t i = 0; i < s->n; i++) { /* consing reverses: the last started first */
        const child *c = &s->ch[i];
        em_term what = c->pid != EM_NONE ? em_dup(c->pid) : c->restarting ? A("restarting") : A("undefined");
        list = em_cons(em_tuple(4, c->id, what, type_atom(c->type), EM_NIL), list);
    }
    return list;
}

static em_term count_children(const sup *s)
{
    int64_t active = 0, sups = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->ch[i].pid != EM_NONE && em_is_alive(s->ch[i].pid))
            active++;
        if (s->ch[i].type == EM_SUP_SUPERVISOR)
            sups++;
    }
    return em_list(4, em_tuple(2, A("specs"), em_int((int64_t)s->n)),
                   em_tuple(2, A("active"), em_int(active)),
                   em_tuple(2, A("supervisors"), em_int(sups)),
                   em_tuple(2, A("workers"), em_int((int64_t)s->n - sups)));
}

static em_term start_child(sup *s, em_term ticket)
{
    pending *p = pending_take(ticket);
    if (p == NULL)
        return err_reply(A("badarg"));
    child c = p->c;
    pending_free(p);
    long i = find_id(s, c.id);
    if (i >= 0)
        return s->ch[i].pid != EM_NONE
                   ? err_reply(em_tuple(2, A("already_started"), em_dup(s->ch[i].pid)))
                   : err_reply(A("already_present"));
    if (reserve_child(s) < 0)
        return err_reply(A("enomem"));
    em_term why;
    if (child_start(&c, &why) < 0) {
        report(s, "start_error", why, &c, EM_NONE);
        return em_tuple(2, A("start_error"), why);
    }
    em_term reply = ok_pid(c.pid);
    if (c.pid == EM_NONE && c.restart == EM_SUP_TEMPORARY)
        return reply; /* ignored, and not kept (OTP) */
    s->ch[s->n++] = c;
    return reply;
}

static em_term terminate_child(sup *s, em_term id)
{
    long i = find_id(s, id);
    if (i < 0)
        return err_reply(A("not_found"));
    child_stop(s, &s->ch[i]);
    del_child(s, (size_t)i);
    return A("ok");
}

/* wrap: the start's failure as {start_error, Reason} ('$em_restart_child'),
 * else {error, Reason} as OTP. */
static em_term restart_child(sup *s, em_term id, bool wrap)
{
    long i = find_id(s, id);
    if (i < 0)
        return err_reply(A("not_found"));
    child *c = &s->ch[i];
    if (c->pid != EM_NONE)
        return err_reply(A("running"));
    if (c->restarting)
        return err_reply(A("restarting"));
    em_term why;
    if (child_start(c, &why) < 0) {
        report(s, "start_error", why, c, EM_NONE);
        return em_tuple(2, wrap ? A("start_error") : A("error"), why);
    }
    return ok_pid(c->pid);
}

static em_term delete_child(sup *s, em_term id)
{
    long i = find_id(s, id);
    if (i < 0)
        return err_reply(A("not_found"));
    if (s->ch[i].pid != EM_NONE)
        return err_reply(A("running"));
    if (s->ch[i].restarting)
        return err_reply(A("restarting"));
    remove_at(s, (size_t)i);
    return A("ok");
}

/* The reply to a request (owned). */
static em_term answer(sup *s, em_term req)
{
    if (req == A("which_children"))
        return which_children(s);
    if (req == A("count_children"))
        return count_children(s);
    if (em_tuple_size(req) == 2) {
        em_term op = em_tuple_get(req, 0), arg = em_tuple_get(req, 1);
        if (op == A("$em_start_child"))
            return start_child(s, arg);
        if (op == A("terminate_child"))
            return terminate_child(s, arg);
        if (op == A("restart_child") || op == A("$em_restart_child"))
            return restart_child(s, arg, op != A("restart_child"));
        if (op == A("delete_child"))
            return delete_child(s, arg);
    }
    return err_reply(A("badarg"));
}

/* Handle one message; returns the reason to exit with (owned), or EM_NONE. */
static em_term handle(sup *s, em_term m)
{
    long size = em_tuple_size(m);
    em_term tag = size > 0 ? em_tuple_get(m, 0) : EM_NONE;
    if (size == 3 && tag == A("EXIT"))
        return on_exit_msg(s, em_tuple_get(m, 1), em_tuple_get(m, 2));
    if (size == 3 && tag == A("$gen_call")) {
        em_term from = em_tuple_get(m, 1);
        if (em_tuple_size(from) != 2 || em_typeof(em_tuple_get(from, 0)) != EM_TYPE_PID)
            return EM_NONE;
        em_term reply = answer(s, em_tuple_get(m, 2));
        em_send(em_tuple_get(from, 0), em_tuple(2, em_dup(em_tuple_get(from, 1)), reply));
        return EM_NONE;
    }
    if (size == 2 && tag == A("$gen_cast")) {
        em_term req = em_tuple_get(m, 1);
        if (em_tuple_size(req) == 2 && em_tuple_get(req, 0) == A("try_again_restart")) {
            long i = find_id(s, em_tuple_get(req, 1));
            if (i >= 0 && s->ch[i].restarting)
                return restart(s, (size_t)i);
        }
    }
    return EM_NONE; /* OTP logs an unexpected message; it is dropped here */
}

/* ---- the supervisor process ---- */

static void hs_drop(handshake *h)
{
    if (atomic_fetch_sub(&h->refs, 1) != 1)
        return;
    if (h->starter == EM_NONE) {
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
    }
    em_drop(h->starter);
    em_drop(h->result);
    free(h);
}

/* Give the starter its answer (result taken; EM_NONE: died before). */
static void hs_answer(sup *s, em_term result)
{
    handshake *h = s->hs;
    s->hs = NULL;
    if (h->starter == EM_NONE) {
        pthread_mutex_lock(&h->mu);
        h->result = result;
        h->done = true;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
        hs_drop(h);
        return;
    }
    /* Let go of h first: em_send is a signal point, it may not return. */
    em_term starter = em_dup(h->starter);
    hs_drop(h);
    if (result != EM_NONE)
        em_send(starter, em_tuple(3, A("ack"), s->self, result));
    em_drop(starter);
}

/* The exit hook, given at the spawn: whatever way the supervisor ends,
 * even killed before it ever ran.  A thread still waiting learns it died
 * (a process learns it by its monitor's DOWN). */
static void sup_gone(void *arg)
{
    sup *s = arg;
    if (s->hs)
        hs_answer(s, EM_NONE);
    sup_free(s);
}

static void sup_exit(sup *s, em_term reason)
{
    s->stop = reason;
    terminate_children(s, 0);
    reason = s->stop;
    s->stop = EM_NONE;
    em_exit(reason);
}

static void sup_main(void *arg)
{
    sup *s = arg;
    s->self = em_self();
    em_trap_exit(true);
    if (s->name != EM_NONE && em_register(s->name, s->self) < 0) {
        em_term other = em_whereis(s->name);
        hs_answer(s, err_reply(em_tuple(2, A("already_started"), other != EM_NONE ? other : A("undefined"))));
        em_exit(A("normal")); /* as gen does */
    }
    size_t failed;
    em_term why;
    if (start_children(s, 0, &failed, &why) < 0) {
        em_term reason = em_tuple(2, A("shutdown"),
                                  em_tuple(3, A("failed_to_start_child"), s->ch[failed].id, why));
        s->stop = reason;
        terminate_children(s, 0);
        if (s->name != EM_NONE)
            em_unregister(s->name); /* before the answer: the starter may try again at once */
        hs_answer(s, err_reply(em_dup(s->stop)));
        reason = s->stop;
        s->stop = EM_NONE;
        em_exit(reason);
    }
    hs_answer(s, em_tuple(2, A("ok"), s->self));
    for (;;) {
        em_term m;
        em_receive_any(EM_INFINITY, &m);
        s->msg = em_dup(m);
        em_term stop = handle(s, s->msg);
        em_drop(s->msg);
        s->msg = EM_NONE;
        if (stop != EM_NONE)
            sup_exit(s, stop);
    }
}

/* ---- starting a supervisor (the starter's side) ---- */

typedef struct ack_wait {
    em_term pid, mref;
} ack_wait;

static bool is_ack(em_term m, void *arg)
{
    const ack_wait *w = arg;
    if (em_tuple_size(m) == 3 && em_tuple_get(m, 0) == A("ack"))
        return em_equal(em_tuple_get(m, 1), w->pid);
    return is_down(m, w->mref);
}

/* The answer, in a process: the ack, or the monitor's DOWN.  The
 * process keeps the monitor's reference while it waits (em__proc_keep):
 * a starter that does not trap exits may be killed here by the exit
 * signal of a supervisor that failed to start, and then loses nothing. */
static int wait_process(em_term pid, em_term mref, em_term *result, em_term *reason)
{
    ack_wait w = {pid, mref};
    em_term m;
    em__proc_keep(mref);
    em_receive_match(EM_INFINITY, is_ack, &w, &m);
    int rc;
    if (em_tuple_size(m) == 3) {
        /* The flush is a signal point: the ack stays the current message
         * (the process drops it if it dies there), and is copied after. */
        em_demonitor(mref, EM_DEMONITOR_FLUSH);
        *result = em_dup(em_tuple_get(m, 2));
        rc = 0;
    } else {
        *reason = em_dup(em_tuple_get(m, 4));
        rc = EM_ENOPROC;
    }
    em_drop(em__proc_unkeep());
    return rc;
}

/* The answer, in a thread: the condition variable.  The supervisor's exit
 * hook answers if it died first, even before it ever ran. */
static int wait_thread(handshake *h, em_term *result)
{
    pthread_mutex_lock(&h->mu);
    while (!h->done)
        pthread_cond_wait(&h->cv, &h->mu);
    *result = h->result;
    h->result = EM_NONE;
    pthread_mutex_unlock(&h->mu);
    hs_drop(h);
    return *result != EM_NONE ? 0 : EM_ENOPROC;
}

/* What a start's result means: 0 and *out = the pid, or an error and
 * *out = the reason.  Takes result. */
static int start_outcome(em_term result, em_term *out)
{
    em_term what = em_tuple_get(result, 1);
    int rc;
    if (em_tuple_get(result, 0) == A("ok"))
        rc = 0;
    else if (em_tuple_size(what) == 2 && em_tuple_get(what, 0) == A("already_started"))
        rc = EM_EEXIST;
    else if (what == A("enomem"))
        rc = EM_ENOMEM;
    else
        rc = EM_ESTART;
    *out = em_dup(what);
    em_drop(result);
    return rc;
}

static int sup_start_to(const em_sup_spec *spec, bool link, em_term *out);

/* sup_start with out optional: the reason of a failure, when nobody asked
 * for it, is dropped here. */
static int sup_start(const em_sup_spec *spec, bool link, em_term *out)
{
    em_term dummy = EM_NONE;
    int rc = sup_start_to(spec, link, out ? out : &dummy);
    em_drop(dummy);
    return rc;
}

static int sup_start_to(const em_sup_spec *spec, bool link, em_term *out)
{
    *out = EM_NONE;
    em_term self = em_self();
    if (link && self == EM_NONE)
        return EM_ESTATE;
    sup *s;
    int rc = sup_new(spec, &s);
    if (rc < 0)
        return rc;
    handshake *h = calloc(1, sizeof *h);
    if (h == NULL) {
        sup_free(s);
        return EM_ENOMEM;
    }
    atomic_init(&h->refs, self == EM_NONE ? 2 : 1);
    h->starter = em_dup(self);
    h->result = EM_NONE;
    if (self == EM_NONE) {
        pthread_mutex_init(&h->mu, NULL);
        pthread_cond_init(&h->cv, NULL);
    }
    s->hs = h;
    s->parent = link ? em_dup(self) : EM_NONE;
    em_term mref = EM_NONE;
    em_spawn_opts o = {.link = link, .monitor = self != EM_NONE ? &mref : NULL, .on_exit = sup_gone};
    em_term pid = em_spawn_opt(sup_main, s, &o);
    if (pid == EM_NONE) {
        /* The hook is not called: nothing ran. */
        atomic_store(&h->refs, 1);
        hs_drop(h);
        sup_free(s);
        return EM_ENOMEM;
    }
    em_term result = EM_NONE;
    rc = self != EM_NONE ? wait_process(pid, mref, &result, out) : wait_thread(h, &result);
    if (rc < 0)
        return rc;
    return start_outcome(result, out);
}

EM_API int em_sup_start_link(const em_sup_spec *spec, em_term *out)
{
    return sup_start(spec, true, out);
}

EM_API int em_sup_start(const em_sup_spec *spec, em_term *out)
{
    return sup_start(spec, false, out);
}

EM_API int em_sup_start_nested(void *spec, em_term *out)
{
    return em_sup_start_link(spec, out);
}

/* ---- requests (the caller's side) ---- */

/* Whether sup is a pid of another node. */
static bool is_remote(em_term sup_ref)
{
    em_term node;
    return em_pid_parts(sup_ref, &node, NULL, NULL, NULL) == 0 && node != em_local_node(NULL);
}

/* Send sup the request `req` (taken) and wait for the reply, as
 * gen_server:call(Sup, Req, infinity) (em_call: a kill while it waits
 * loses nothing): 0 and *reply (owned), or EM_ENOPROC, EM_EBADARG,
 * EM_ESTATE, EM_ENOMEM. */
static int sup_call(em_term sup_ref, em_term req, em_term *reply)
{
    em_term self = em_self();
    int rc = 0;
    em_type t = em_typeof(sup_ref);
    if (self == EM_NONE)
        rc = EM_ESTATE;
    else if (req == EM_NONE)
        rc = EM_ENOMEM;
    else if ((t != EM_TYPE_PID && t != EM_TYPE_ATOM) || is_remote(sup_ref))
        rc = EM_EBADARG;
    else if (sup_ref == self || (t == EM_TYPE_ATOM && em_whereis(sup_ref) == self))
        rc = EM_ESTATE; /* it would wait for itself */
    if (rc < 0) {
        em_drop(req);
        return rc;
    }
    em_term r = EM_NONE;
    rc = em_call(sup_ref, req, EM_INFINITY, &r);
    if (rc == 0) {
        *reply = r;
        return 0;
    }
    /* It died during the call: not a live process. */
    em_drop(r);
    return rc == EM_EEXIT ? EM_ENOPROC : rc;
}

/* A request on the child `id`: {Op, Id}. */
static int id_call(em_term sup_ref, const char *op, const char *id, em_term *reply)
{
    em_term a;
    int rc = atom_of(id, &a);
    if (rc < 0)
        return rc;
    return sup_call(sup_ref, em_tuple(2, A(op), a), reply);
}

/* What {ok, Pid | undefined} | {error, Reason} | {start_error, Reason}
 * means, for '$em_start_child' and '$em_restart_child': 0 and *out = the
 * pid or EM_NONE, or the error and *out = Reason.  Takes reply. */
static int pid_outcome(em_term reply, em_term *out)
{
    em_term tag = em_tuple_get(reply, 0), what = em_tuple_get(reply, 1);
    int rc;
    if (em_tuple_size(reply) != 2) {
        rc = EM_EBADARG; /* not a supervisor's answer */
        what = EM_NONE;
    } else if (tag == A("ok")) {
        rc = 0;
        what = em_typeof(what) == EM_TYPE_PID ? what : EM_NONE;
    } else if (tag == A("start_error")) {
        rc = EM_ESTART;
    } else if (tag != A("error")) {
        rc = EM_EBADARG;
        what = EM_NONE;
    } else if (what == A("not_found")) {
        rc = EM_ENOTFOUND;
    } else if (what == A("running") || what == A("restarting") || what == A("already_present") ||
               (em_tuple_size(what) == 2 && em_tuple_get(what, 0) == A("already_started"))) {
        rc = EM_EEXIST;
    } else if (what == A("enomem")) {
        rc = EM_ENOMEM;
    } else {
        rc = EM_EBADARG; /* badarg: a ticket it does not know */
    }
    if (out)
        *out = em_dup(what);
    em_drop(reply);
    return rc;
}

/* What ok | {error, Reason} means, for terminate_child and delete_child. */
static int ok_outcome(em_term reply)
{
    em_term what = em_tuple_get(reply, 1);
    int rc = reply == A("ok") ? 0
             : what == A("not_found") ? EM_ENOTFOUND
             : what == A("running") || what == A("restarting") ? EM_EEXIST
                                                              : EM_EBADARG;
    em_drop(reply);
    return rc;
}

EM_API int em_sup_start_child(em_term sup_ref, const em_sup_child_spec *spec, em_term *out)
{
    if (out)
        *out = EM_NONE;
    if (em_self() == EM_NONE)
        return EM_ESTATE;
    if (is_remote(sup_ref))
        return EM_EBADARG; /* a ticket does not cross nodes */
    child c;
    int rc = child_of_spec(spec, &c);
    if (rc < 0)
        return rc;
    /* The ticket first (em_make_ref is a signal point: nothing is held
     * yet), then the process keeps it until the call is over: killed while
     * it waits, it loses nothing (pending_put drops its entry later). */
    em_term ticket = em_make_ref();
    if (ticket == EM_NONE)
        return EM_ENOMEM;
    em__proc_keep(ticket);
    pending *p = calloc(1, sizeof *p);
    if (p == NULL) {
        em_drop(em__proc_unkeep());
        return EM_ENOMEM;
    }
    p->c = c;
    p->ticket = em_dup(ticket);
    p->caller = em_self();
    pending_put(p);
    em_term reply;
    rc = sup_call(sup_ref, em_tuple(2, A("$em_start_child"), em_dup(ticket)), &reply);
    ticket = em__proc_unkeep();
    /* Still there if the supervisor never took it (it was dead). */
    pending *left = pending_take(ticket);
    if (left)
        pending_free(left);
    em_drop(ticket);
    return rc < 0 ? rc : pid_outcome(reply, out);
}

EM_API int em_sup_terminate_child(em_term sup_ref, const char *id)
{
    em_term reply;
    int rc = id_call(sup_ref, "terminate_child", id, &reply);
    return rc < 0 ? rc : ok_outcome(reply);
}

EM_API int em_sup_restart_child(em_term sup_ref, const char *id, em_term *out)
{
    if (out)
        *out = EM_NONE;
    em_term reply;
    int rc = id_call(sup_ref, "$em_restart_child", id, &reply);
    return rc < 0 ? rc : pid_outcome(reply, out);
}

EM_API int em_sup_delete_child(em_term sup_ref, const char *id)
{
    em_term reply;
    int rc = id_call(sup_ref, "delete_child", id, &reply);
    return rc < 0 ? rc : ok_outcome(reply);
}

EM_API void em_sup_children_free(em_sup_child_info *info, size_t n)
{
    if (info == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        em_drop(info[i].pid);
    free(info);
}

EM_API int em_sup_which_children(em_term sup_ref, em_sup_child_info **out)
{
    *out = NULL;
    em_term reply;
    int rc = sup_call(sup_ref, A("which_children"), &reply);
    if (rc < 0)
        return rc;
    long n = em_list_length(reply);
    if (n < 0) {
        em_drop(reply);
        return EM_EBADARG; /* not a supervisor's answer */
    }
    em_sup_child_info *info = n ? calloc((size_t)n, sizeof *info) : NULL;
    if (n && info == NULL) {
        em_drop(reply);
        return EM_ENOMEM;
    }
    em_term l = reply;
    for (long i = 0; i < n; i++, l = em_tl(l)) {
        em_term e = em_hd(l); /* {Id, Pid | restarting | undefined, Type, Modules} */
        em_term what = em_tuple_get(e, 1);
        info[i].id = em_atom_text(em_tuple_get(e, 0), NULL);
        info[i].pid = em_typeof(what) == EM_TYPE_PID ? em_dup(what) : EM_NONE;
        info[i].restarting = what == A("restarting");
        info[i].type = em_tuple_get(e, 2) == A("supervisor") ? EM_SUP_SUPERVISOR : EM_SUP_WORKER;
    }
    em_drop(reply);
    *out = info;
    return (int)n;
}

EM_API int em_sup_count_children(em_term sup_ref, em_sup_counts *out)
{
    em_term reply;
    int rc = sup_call(sup_ref, A("count_children"), &reply);
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof *out);
    if (em_list_length(reply) < 0) {
        em_drop(reply);
        return EM_EBADARG; /* not a supervisor's answer */
    }
    for (em_term l = reply; em_typeof(l) == EM_TYPE_LIST; l = em_tl(l)) {
        em_term e = em_hd(l);
        int64_t v;
        if (em_tuple_size(e) != 2 || em_int_get(em_tuple_get(e, 1), &v) < 0 || v < 0)
            continue;
        em_term k = em_tuple_get(e, 0);
        if (k == A("specs"))
            out->specs = (size_t)v;
        else if (k == A("active"))
            out->active = (size_t)v;
        else if (k == A("supervisors"))
            out->supervisors = (size_t)v;
        else if (k == A("workers"))
            out->workers = (size_t)v;
    }
    em_drop(reply);
    return 0;
}
