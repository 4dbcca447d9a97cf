/* server.c: em_server, a gen_server of C callbacks (server.h has the
 * contract), and em_cast.
 *
 * Starting is gen:start's handshake: the starter makes a reference, spawns
 * the server with a monitor (and a link for start_link) and waits for
 * {'$em_server_ack', Ref, Kind, Term} or the monitor's DOWN; the server
 * registers its name, runs init and acks.  The start record is the
 * server's from its spawn on (freed by its spawn-time exit hook, even if
 * it never runs): the starter holds nothing a kill while it waits would
 * lose (the reference is its receive mark's, the monitor's is kept with
 * em__proc_keep).
 * From a thread that is not a process, the start is made by a process of
 * its own (call.c's em__in_process).
 *
 * The loop takes each message in order and dispatches it by its shape
 * (server.h).  The message is kept (em_dup, in the server's record) while
 * a callback runs: a callback that receives (em_call) releases the
 * process's current message.
 */
#include <stdlib.h>

#include <ember/call.h>
#include <ember/server.h>

#include "remote.h"
#include "rt.h"

#define A(s) em_atom(s)
/* The atoms of the loop's hot path, looked up once (rt.h). */
#define AT(var, text) em__atom_once(&var, text)
static _Atomic em_term at_gen_call;
static _Atomic em_term at_gen_cast;
static _Atomic em_term at_exit;
static _Atomic em_term at_system;

typedef struct start_rec {
    const em_server_ops *ops;
    void *arg;
    em_term name;   /* atom or EM_NONE */
    em_term parent; /* the starter if linked, else EM_NONE */
    em_term ref;    /* the ack's reference (owned) */
    em_term starter;
} start_rec;

/* The server's spawn-time exit hook. */
static void start_rec_free(void *arg)
{
    start_rec *r = arg;
    em_drop(r->ref);
    free(r);
}

/* A server's own record: malloc'd, freed by its exit hook, which also
 * drops `held` -- whatever way the server ends (a callback's stop, em_exit
 * in a callback, an exit signal while a callback waits). */
typedef struct srv {
    const em_server_ops *ops;
    void *state;
    em_term parent; /* the linked starter, or EM_NONE */
    em_term held;   /* the message a callback runs on, or EM_NONE */
    em_term reason, reply; /* a stop's, while terminate runs, or EM_NONE */
} srv;

static void srv_free(void *arg)
{
    srv *s = arg;
    em_drop(s->held);
    em_drop(s->reason);
    em_drop(s->reply);
    free(s);
}

/* ---- the server process ---- */

static void ack(em_term starter, em_term ref, const char *kind, em_term term)
{
    em_send(starter, em_tuple(4, A("$em_server_ack"), ref, A(kind), term));
}

_Noreturn static void stop(srv *s, em_term reason, em_term from, em_term reply)
{
    if (reason == EM_NONE)
        reason = em__atom(EM__A_NORMAL);
    /* In the record while terminate runs and the reply goes (the server
     * may be killed there: its exit hook drops them then). */
    s->reason = reason;
    s->reply = reply;
    if (s->ops->terminate)
        s->ops->terminate(s->state, reason);
    if (from != EM_NONE && reply != EM_NONE) {
        s->reply = EM_NONE;
        em_reply(from, reply);
    }
    s->reason = EM_NONE;
    em_exit(reason);
    abort(); /* em_exit does not return in a process */
}

static void do_call(srv *s, em_term req, em_term from)
{
    em_term reply = EM_NONE, reason = EM_NONE;
    int act = s->ops->handle_call(s->state, req, from, &reply, &reason);
    if (act == EM_SERVER_STOP)
        stop(s, reason, from, reply);
    em_drop(reason);
    if (act == EM_SERVER_REPLY && reply != EM_NONE)
        em_reply(from, reply);
    else
        em_drop(reply);
}

static void do_other(srv *s, int (*fn)(void *, em_term, em_term *), em_term m)
{
    if (fn == NULL)
        return;
    em_term reason = EM_NONE;
    if (fn(s->state, m, &reason) == EM_SERVER_STOP)
        stop(s, reason, EM_NONE, EM_NONE);
    em_drop(reason);
}

static bool is_from(em_term from)
{
    return em_tuple_size(from) == 2 && em_typeof(em_tuple_get(from, 0)) == EM_TYPE_PID;
}

static bool is_system(em_term m, void *arg)
{
    (void)arg;
    return em_tuple_size(m) == 3 && em_tuple_get(m, 0) == AT(at_system, "system") && is_from(em_tuple_get(m, 1));
}

static bool parent_exit(srv *s, em_term m)
{
    return s->parent != EM_NONE && em_tuple_size(m) == 3 && em_tuple_get(m, 0) == AT(at_exit, "EXIT") &&
           em_equal(em_tuple_get(m, 1), s->parent);
}

/* A system message (sys.erl's do_cmd): returns whether the server is now
 * suspended. */
static bool do_system(srv *s, em_term from, em_term req, bool suspended)
{
    if (req == A("get_state")) {
        em_term t = EM_NONE;
        if (s->ops->get_state)
            s->ops->get_state(s->state, &t);
        em_reply(from, t != EM_NONE ? t : em_tuple(2, A("error"), A("no_get_state")));
    } else if (req == A("suspend") || req == A("resume")) {
        suspended = req == A("suspend");
        em_reply(from, A("ok"));
    } else if (em_tuple_size(req) == 2 && em_tuple_get(req, 0) == A("terminate")) {
        em_reply(from, A("ok"));
        stop(s, em_dup(em_tuple_get(req, 1)), EM_NONE, EM_NONE);
    } else {
        em_reply(from, em_tuple(2, A("error"), em_tuple(2, A("unknown_system_msg"), em_dup(req))));
    }
    return suspended;
}

/* What a suspended server takes: system messages, and its parent's exit
 * (sys.erl's suspend_loop). */
static bool suspended_takes(em_term m, void *arg)
{
    srv *s = arg;
    return is_system(m, NULL) || (em__self_proc()->trap_exit && parent_exit(s, m));
}

static void loop(srv *s)
{
    bool suspended = false;
    for (;;) {
        em_term m;
        int rc = suspended ? em_receive_match(EM_INFINITY, suspended_takes, s, &m)
                           : em_receive_any(EM_INFINITY, &m);
        if (rc < 0)
            continue;
        /* ours while a callback runs, whatever it receives */
        m = s->held = em_dup(m);
        long n = em_tuple_size(m);
        em_term tag = n > 0 ? em_tuple_get(m, 0) : EM_NONE;
        if (n == 3 && tag == AT(at_gen_call, "$gen_call") && is_from(em_tuple_get(m, 1))) {
            do_call(s, em_tuple_get(m, 2), em_tuple_get(m, 1));
        } else if (n == 2 && tag == AT(at_gen_cast, "$gen_cast")) {
            do_other(s, s->ops->handle_cast, em_tuple_get(m, 1));
        } else if (is_system(m, NULL)) {
            suspended = do_system(s, em_tuple_get(m, 1), em_tuple_get(m, 2), suspended);
        } else if (em__self_proc()->trap_exit && parent_exit(s, m)) {
            stop(s, em_dup(em_tuple_get(m, 2)), EM_NONE, EM_NONE);
        } else {
            do_other(s, s->ops->handle_info, m);
        }
        s->held = EM_NONE;
        em_drop(m);
    }
}

static void server_main(void *arg)
{
    /* r is this process's until it exits (its spawn-time exit hook frees
     * it): r->ref is borrowed from it. */
    const start_rec *r = arg;
    const em_server_ops *ops = r->ops;
    em_term name = r->name, ref = r->ref, starter = r->starter, parent = r->parent;
    void *uarg = r->arg;
    srv *s = malloc(sizeof *s);
    if (s == NULL || em_on_exit(srv_free, s) < 0) {
        free(s);
        ack(starter, em_dup(ref), "enomem", A("enomem"));
        em_exit(A("enomem"));
    }
    *s = (srv){ops, uarg, parent, EM_NONE, EM_NONE, EM_NONE};
    if (name != EM_NONE && em_register(name, em_self()) < 0) {
        em_term holder = em_whereis(name);
        ack(starter, em_dup(ref), "already_started", holder != EM_NONE ? holder : A("undefined"));
        return;
    }
    em_term reason = EM_NONE;
    int act = ops->init ? ops->init(uarg, &s->state, &reason) : EM_SERVER_OK;
    if (act == EM_SERVER_IGNORE || act == EM_SERVER_STOP) {
        /* The name goes before the answer, as gen_server's init_it does:
         * the starter may start another under it at once. */
        if (name != EM_NONE)
            em_unregister(name);
        if (act == EM_SERVER_IGNORE) {
            em_drop(reason);
            ack(starter, em_dup(ref), "ignore", A("undefined"));
            return;
        }
        if (reason == EM_NONE)
            reason = em__atom(EM__A_NORMAL);
        s->reason = reason; /* the ack's send is a signal point */
        ack(starter, em_dup(ref), "stop", em_dup(reason));
        s->reason = EM_NONE;
        em_exit(reason);
    }
    em_drop(reason);
    ack(starter, em_dup(ref), "ok", em_self());
    loop(s);
}

/* ---- starting ---- */

typedef struct start_wait {
    em_term ref, mref;
} start_wait;

static bool is_ack(em_term m, void *arg)
{
    const start_wait *w = arg;
    if (em_tuple_size(m) == 4 && em_tuple_get(m, 0) == A("$em_server_ack"))
        return em_equal(em_tuple_get(m, 1), w->ref);
    return em_tuple_size(m) == 5 && em_tuple_get(m, 0) == A("DOWN") && em_equal(em_tuple_get(m, 1), w->mref);
}

static int start_in_process(const em_server_ops *ops, void *arg, const em_server_opts *o, em_term *result)
{
    /* The reference first: em_make_ref is a signal point, and nothing is
     * held yet.  Its mark holds a copy, the record the other. */
    em_term ref = em_make_ref();
    if (ref == EM_NONE)
        return EM_ENOMEM;
    start_rec *r = malloc(sizeof *r); /* not on this stack: it moves while we wait */
    if (r == NULL) {
        em_drop(ref);
        return EM_ENOMEM;
    }
    *r = (start_rec){ops, arg, o->name, o->link ? em_self() : EM_NONE, ref, em_self()};
    em_term mref = EM_NONE;
    em_spawn_opts so = {.stack_size = o->stack_size, .link = o->link, .monitor = &mref, .on_exit = start_rec_free};
    if (em_spawn_opt(server_main, r, &so) == EM_NONE) {
        start_rec_free(r); /* the hook is not called then */
        return EM_ENOMEM;
    }
    /* r is the server's now: ref is borrowed from the mark from here on. */
    em__proc_keep(mref);
    start_wait w = {ref, mref};
    int rc = EM_ENOMEM;
    em_term m, t = EM_NONE;
    if (em__receive_marked(EM_INFINITY, ref, is_ack, &w, &m) == 0) {
        if (em_tuple_size(m) == 5) { /* DOWN: gone before it acked */
            rc = EM_EEXIT;
            t = em_tuple_get(m, 4);
        } else {
            em_term kind = em_tuple_get(m, 2);
            rc = kind == A("ok")                ? 0
                 : kind == A("ignore")          ? 1
                 : kind == A("already_started") ? EM_EEXIST
                 : kind == A("enomem")          ? EM_ENOMEM
                                                : EM_EEXIT;
            t = rc == 1 || rc == EM_ENOMEM ? EM_NONE : em_tuple_get(m, 3);
        }
    }
    /* The flush is a signal point: the ack (or DOWN) stays the current
     * message, and what it holds is copied after. */
    em_demonitor(mref, EM_DEMONITOR_FLUSH);
    *result = em_dup(t);
    em_drop(em__proc_unkeep());
    return rc;
}

typedef struct thread_start {
    const em_server_ops *ops;
    void *arg;
    em_server_opts opts;
    em_term result;
} thread_start;

static int thread_start_fn(void *arg)
{
    thread_start *t = arg;
    return start_in_process(t->ops, t->arg, &t->opts, &t->result);
}

EM_API int em_server_start_opt(const em_server_ops *ops, void *arg, const em_server_opts *opts,
                               em_term *result)
{
    em_term dummy;
    if (result == NULL)
        result = &dummy;
    *result = EM_NONE;
    em_server_opts o = opts ? *opts : (em_server_opts){EM_NONE, false, 0};
    if (ops == NULL || ops->handle_call == NULL ||
        (o.name != EM_NONE && (em_typeof(o.name) != EM_TYPE_ATOM || o.name == em__atom(EM__A_UNDEFINED))))
        return EM_EINVAL; /* 'undefined' is no name: em_register refuses it */
    int rc;
    if (em__self_proc() == NULL) {
        o.link = false; /* no process to link to */
        thread_start t = {ops, arg, o, EM_NONE};
        rc = em__in_process(thread_start_fn, &t);
        *result = t.result;
    } else {
        rc = start_in_process(ops, arg, &o, result);
    }
    if (result == &dummy)
        em_drop(dummy);
    return rc;
}

EM_API int em_server_start(const em_server_ops *ops, void *arg, em_term name, em_term *result)
{
    em_server_opts o = {name, false, 0};
    return em_server_start_opt(ops, arg, &o, result);
}

EM_API int em_server_start_link(const em_server_ops *ops, void *arg, em_term name, em_term *result)
{
    em_server_opts o = {name, true, 0};
    return em_server_start_opt(ops, arg, &o, result);
}

/* ---- casts ---- */

EM_API int em_cast(em_term server, em_term request)
{
    em_term msg = em_tuple(2, AT(at_gen_cast, "$gen_cast"), request);
    if (msg == EM_NONE)
        return EM_ENOMEM;
    em_term gpid;
    if (em__global_server(server, &gpid)) {
        /* {global, Name}: global:send's pid; nobody: dropped, as
         * gen_server:cast's catch does */
        int rc = gpid != EM_NONE ? em_send(gpid, msg) : 0;
        if (gpid == EM_NONE)
            em_drop(msg);
        em_drop(gpid);
        return rc;
    }
    int rc = em_send(server, msg);
    /* A name registered by nobody ({Name, node()} too): dropped, as
     * gen_server:cast's catch does. */
    bool name = em_typeof(server) == EM_TYPE_ATOM ||
                (em_tuple_size(server) == 2 && em_typeof(em_tuple_get(server, 0)) == EM_TYPE_ATOM &&
                 em_tuple_get(server, 1) == em_local_node(NULL));
    return rc == EM_EBADARG && name ? 0 : rc;
}
