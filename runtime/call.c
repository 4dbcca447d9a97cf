/* call.c: em_call and em_reply (call.h has the contract and the
 * protocol), as OTP 25's gen:do_call and gen:reply.
 *
 * A call in a process: resolve a local name (nobody: noproc, as
 * gen:do_for_proc), mark the mailbox (receive.c: what is there cannot
 * contain the reference made next, so the wait scans only what comes
 * after), monitor the server -- with an alias (EM_ALIAS_DEMONITOR) and the
 * tag [alias|Mref] unless the server is local and there is no timeout,
 * where gen uses the plain Mref --, send {'$gen_call', {self(), Tag},
 * Request}, and wait for {Tag, Reply} or the monitor's DOWN.  On a
 * timeout, the monitor and its alias go (demonitor with flush, as gen),
 * and a reply already in the mailbox is still taken: one that comes after
 * is dropped by the alias.
 *
 * A call from a thread that is not a process: a process of its own makes
 * the call and hands the outcome over under a mutex; the thread waits on a
 * condition variable until the process's exit hook, given at its spawn,
 * says it is gone (it runs however the process ends, even killed before
 * it ran by a runtime shut down).
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <ember/call.h>

#include "remote.h"
#include "rt.h"

/* Atoms looked up once (rt.h): a call is a hot path. */
#define AT(var, text) em__atom_once(&var, text)
static _Atomic em_term at_gen_call;
static _Atomic em_term at_down;
static _Atomic em_term at_alias;
static _Atomic em_term at_noconnection;
static _Atomic em_term at_noproc;

/* What the caller waits for: {Tag, Reply} or {'DOWN', Mref, _, _, _}. */
typedef struct call_wait {
    em_term mref;
    bool alias; /* Tag is [alias|Mref], else Mref */
} call_wait;

static bool is_alias_tag(em_term tag, em_term ref)
{
    return em_typeof(tag) == EM_TYPE_LIST && em_hd(tag) == AT(at_alias, "alias") && em_equal(em_tl(tag), ref);
}

static bool is_answer(em_term m, void *arg)
{
    const call_wait *w = arg;
    long n = em_tuple_size(m);
    if (n == 2) {
        em_term tag = em_tuple_get(m, 0);
        return w->alias ? is_alias_tag(tag, w->mref) : em_equal(tag, w->mref);
    }
    return n == 5 && em_tuple_get(m, 0) == AT(at_down, "DOWN") && em_equal(em_tuple_get(m, 1), w->mref);
}

static bool is_reply(em_term m, void *arg)
{
    return em_tuple_size(m) == 2 && is_answer(m, arg);
}

static bool is_down(em_term m, void *arg)
{
    return em_tuple_size(m) == 5 && is_answer(m, arg);
}

/* demonitor(Mref, [flush]) for the call's monitor: a monitor still active
 * has no DOWN in the mailbox (the DOWN message is made as the monitor is
 * taken off, link.c), so only one that is gone needs the look, and that
 * from the mark, not over the whole mailbox. */
static void demonitor_flush(call_wait *w)
{
    em_term m;
    if (em_demonitor(w->mref, 0) == 0)
        em__receive_marked(0, w->mref, is_down, w, &m);
}

/* The outcome of a DOWN of the server's monitor, as gen:do_call turns it
 * into an exit. */
static int down_code(em_term reason, em_term *reply)
{
    if (reason == AT(at_noconnection, "noconnection"))
        return EM_ENOCONN;
    if (reason == AT(at_noproc, "noproc"))
        return EM_ENOPROC;
    if (reply)
        *reply = em_dup(reason);
    return EM_EEXIT;
}

static int call_in_process(em__proc *p, em_term server, em_term request, int64_t timeout_ms, em_term *reply)
{
    em_term target = server;
    bool local = true;
    if (!em__is_local_pid(server)) {
        em__dest d;
        switch (em__dest_classify(server, &d)) {
        case EM__DEST_LOCAL_NAME:
            target = em_whereis(d.name);
            if (target == EM_NONE) {
                em_drop(request);
                return EM_ENOPROC;
            }
            break;
        case EM__DEST_REMOTE_PID:
        case EM__DEST_REMOTE_NAME:
            local = false;
            break;
        default:
            em_drop(request);
            return EM_EBADARG;
        }
    }
    if (target == em__proc_pid(p)) {
        em_drop(request);
        return EM_EINVAL;
    }
    call_wait w = {EM_NONE, !(local && timeout_ms == EM_INFINITY)};
    /* The mark and the monitor may be signal points (the mailbox taken in;
     * a target already gone): the process keeps the request meanwhile. */
    em__proc_keep(request);
    em__mark_set(p);
    w.mref = w.alias ? em_monitor_alias(target, EM_ALIAS_DEMONITOR) : em_monitor(target);
    request = em__proc_unkeep();
    if (w.mref == EM_NONE) {
        em_drop(request);
        /* A remote server and no node running: gen's {nodedown, Node}. */
        return local ? EM_ENOMEM : EM_ENOCONN;
    }
    /* The mark owns the reference from here on (the process drops it at its
     * next mark or its exit): nothing this call holds is lost if the
     * process is killed while it waits. */
    p->mark_ref = w.mref;
    em_term tag = w.alias ? em_cons(AT(at_alias, "alias"), em_dup(w.mref)) : em_dup(w.mref);
    em_term msg = em_tuple(3, AT(at_gen_call, "$gen_call"), em_tuple(2, em__proc_pid(p), tag), request);
    int rc = msg == EM_NONE ? EM_ENOMEM : em_send(target, msg);
    if (rc == EM_ENOTSUP)
        rc = EM_ENOCONN; /* the node stopped since the monitor: gen's nodedown */
    em_term m;
    if (rc == 0)
        rc = em__receive_marked(timeout_ms, w.mref, is_answer, &w, &m);
    if (rc == EM_ETIMEDOUT) {
        /* Too late: the alias goes, and only a reply already here counts. */
        demonitor_flush(&w);
        rc = em__receive_marked(0, w.mref, is_reply, &w, &m);
    }
    if (rc == 0 && em_tuple_size(m) == 2) {
        /* A monitor gone already (the server ended after it replied) may
         * have its DOWN here: em_demonitor's flush takes it out without
         * making it the current message, so the reply stays current, and
         * is copied after the flush, a signal point (killed there, the
         * process drops the reply with its current message). */
        if (em_demonitor(w.mref, 0) == 0)
            em_demonitor(w.mref, EM_DEMONITOR_FLUSH);
        if (reply)
            *reply = em_dup(em_tuple_get(m, 1));
    } else if (rc == 0) {
        rc = down_code(em_tuple_get(m, 4), reply);
    } else {
        demonitor_flush(&w);
    }
    return rc;
}

/* ---- from a thread that is not a process ---- */

typedef struct in_proc {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int (*fn)(void *);
    void *arg;
    int rc;
} in_proc;

static void in_proc_done(void *arg)
{
    in_proc *ip = arg;
    pthread_mutex_lock(&ip->lock);
    ip->done = true;
    pthread_cond_signal(&ip->cond);
    pthread_mutex_unlock(&ip->lock);
}

static void in_proc_main(void *arg)
{
    in_proc *ip = arg;
    ip->rc = ip->fn(ip->arg);
}

int em__in_process(int (*fn)(void *), void *arg)
{
    in_proc *ip = calloc(1, sizeof *ip);
    if (ip == NULL)
        return EM_ENOMEM;
    pthread_mutex_init(&ip->lock, NULL);
    pthread_cond_init(&ip->cond, NULL);
    ip->fn = fn;
    ip->arg = arg;
    ip->rc = EM_ECANCELED;
    /* The exit hook, given at the spawn, tells the thread however the
     * process ends, even killed before it ever ran (the runtime shut
     * down).  The thread waits for it and for nothing else: ip is freed
     * only once the hook is done with it. */
    em_spawn_opts o = {.on_exit = in_proc_done};
    em_term pid = em_spawn_opt(in_proc_main, ip, &o);
    int rc = EM_ENOMEM;
    if (pid != EM_NONE) {
        pthread_mutex_lock(&ip->lock);
        while (!ip->done)
            pthread_cond_wait(&ip->cond, &ip->lock);
        pthread_mutex_unlock(&ip->lock);
        rc = ip->rc; /* the process is gone: its rc, if it set one, is final */
    }
    pthread_cond_destroy(&ip->cond);
    pthread_mutex_destroy(&ip->lock);
    free(ip);
    return rc;
}

typedef struct thread_call {
    em_term server, request, reply;
    int64_t timeout_ms;
} thread_call;

static int thread_call_fn(void *arg)
{
    thread_call *tc = arg;
    em_term request = tc->request;
    tc->request = EM_NONE; /* the call takes it */
    return em_call(tc->server, request, tc->timeout_ms, &tc->reply);
}

static int call_from_thread(em_term server, em_term request, int64_t timeout_ms, em_term *reply)
{
    thread_call tc = {server, request, EM_NONE, timeout_ms};
    int rc = em__in_process(thread_call_fn, &tc);
    em_drop(tc.request); /* not taken: the process never ran */
    if (reply)
        *reply = tc.reply;
    else
        em_drop(tc.reply);
    return rc;
}

/* ---- the public calls ---- */

_Atomic(em__global_whereis_fn) em__global_whereis;

/* {global, Name}: true, with the pid global has for Name (a new
 * reference) or EM_NONE in *pid. */
bool em__global_server(em_term server, em_term *pid)
{
    if (em_tuple_size(server) != 2 || em_tuple_get(server, 0) != em_atom("global"))
        return false;
    em__global_whereis_fn f = atomic_load(&em__global_whereis);
    *pid = f ? f(em_tuple_get(server, 1)) : EM_NONE;
    return true;
}

EM_API int em_call(em_term server, em_term request, int64_t timeout_ms, em_term *reply)
{
    if (reply)
        *reply = EM_NONE;
    if (request == EM_NONE || (timeout_ms < 0 && timeout_ms != EM_INFINITY)) {
        em_drop(request);
        return EM_EINVAL;
    }
    em_term gpid;
    if (em__global_server(server, &gpid)) {
        /* gen:call's {global, Name}: whereis_name, then a call of the pid */
        if (gpid == EM_NONE) {
            em_drop(request);
            return EM_ENOPROC;
        }
        return em__call_taking(gpid, request, timeout_ms, reply);
    }
    em__proc *p = em__self_proc();
    if (p == NULL)
        return call_from_thread(server, request, timeout_ms, reply);
    return call_in_process(p, server, request, timeout_ms, reply);
}

int em__call_taking(em_term server, em_term request, int64_t timeout_ms, em_term *reply)
{
    /* A process keeps server across the call's wait, a signal point:
     * killed there, it loses nothing. */
    bool keep = em__self_proc() != NULL;
    if (keep)
        em__proc_keep(server);
    int rc = em_call(server, request, timeout_ms, reply);
    em_drop(keep ? em__proc_unkeep() : server);
    return rc;
}

EM_API int em_reply(em_term from, em_term reply)
{
    if (em_tuple_size(from) != 2) {
        em_drop(reply);
        return EM_EBADARG;
    }
    return em__reply_to(em_tuple_get(from, 0), em_tuple_get(from, 1), reply);
}

int em__reply_to(em_term to, em_term tag, em_term reply)
{
    em_term alias = EM_NONE;
    if (em_typeof(tag) == EM_TYPE_LIST) {
        /* gen:reply's [alias|Alias] and [[alias|Alias]|_] */
        em_term h = em_hd(tag);
        em_term a = h == AT(at_alias, "alias") ? em_tl(tag)
                    : em_typeof(h) == EM_TYPE_LIST && em_hd(h) == AT(at_alias, "alias") ? em_tl(h)
                                                                               : EM_NONE;
        if (em_typeof(a) == EM_TYPE_REF)
            alias = a;
    }
    if (alias == EM_NONE && em_typeof(to) != EM_TYPE_PID) {
        em_drop(reply);
        return EM_EBADARG;
    }
    return em_send(alias != EM_NONE ? alias : to, em_tuple(2, em_dup(tag), reply));
}
