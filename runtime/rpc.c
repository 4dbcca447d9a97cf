/* rpc.c: em_rpc, calling a function of another node from C (export.h has
 * the contract), as OTP's erpc:call does it (kernel's erpc.erl, call/5):
 *
 *  1. a spawn request to the node for erpc:execute_call(Res, M, F, Args)
 *     with the option monitor (SPAWN_REQUEST {29, ReqId, Self, GL,
 *     {erpc, execute_call, 4}, [monitor]} + [Res, M, F, Args]); the
 *     request is kept among the caller's monitors until its reply
 *     (link.c, em__link_spawn_pending);
 *  2. the reply (SPAWN_REPLY) makes it a monitor of the new process, or
 *     says why there is none ({spawn_reply, ReqId, error, Reason});
 *  3. the process runs M:F(Args) and ends with {Res, return, Value} (or
 *     throw, exit, error with a stack): the reason of the monitor's DOWN,
 *     which is decoded here.
 * On a timeout the request is abandoned as erpc abandons it: the monitor
 * removed (DEMONITOR_P once the process is known; a reply that comes after
 * is undone by link.c), a DOWN already there flushed; the process on the
 * other node runs on.  To this node the same request spawns a process
 * here (export.c), monitored.
 */
#include <assert.h>
#include <string.h>

#include <ember/export.h>

#include "remote.h"
#include "rt.h"

#define A(s) em_atom(s)

typedef struct wait_for {
    em_term reqid;
} wait_for;

/* {spawn_reply, ReqId, _, _} or {'DOWN', ReqId, process, _, _}. */
static bool is_outcome(em_term m, void *arg)
{
    const wait_for *w = arg;
    long n = em_tuple_size(m);
    return ((n == 4 && em_tuple_get(m, 0) == A("spawn_reply")) ||
            (n == 5 && em_tuple_get(m, 0) == A("DOWN"))) &&
           em_equal(em_tuple_get(m, 1), w->reqid);
}

static bool is_reply(em_term m, void *arg)
{
    return em_tuple_size(m) == 4 && is_outcome(m, arg);
}

/* What the DOWN reason `why` of erpc:execute_call says (erpc.erl's
 * result/4); *result set (owned). */
static int decode(em_term res, em_term why, em_term *result)
{
    long n = em_tuple_size(why);
    em_term cls = n >= 3 && em_equal(em_tuple_get(why, 0), res) ? em_tuple_get(why, 1) : EM_NONE;
    em_term r = em_tuple_get(why, 2);
    if (n == 3 && cls == A("return")) {
        *result = em_dup(r);
        return 0;
    }
    if (n == 3 && (cls == A("throw") || cls == A("exit") || cls == A("error"))) {
        /* error {erpc, R}: erpc's own (an argument list it could not
         * apply); throw and exit carry no stack */
        *result = em_tuple(3, cls, em_dup(r), EM_NIL);
        return *result != EM_NONE ? EM_RPC_EXCEPTION : EM_ENOMEM;
    }
    if (n == 4 && cls == A("error")) {
        *result = em_tuple(3, cls, em_dup(r), em_dup(em_tuple_get(why, 3)));
        return *result != EM_NONE ? EM_RPC_EXCEPTION : EM_ENOMEM;
    }
    if (why == A("noconnection"))
        return EM_ECLOSED;
    /* killed by a signal, or something that is no erpc process */
    *result = em_dup(why);
    return EM_RPC_SIGNAL;
}

/* Start the request: to `node`, or to this node; the mark is set.  *reqid
 * is the request's reference, made after the mark and owned by it
 * (p->mark_ref): the wait scans only what comes after the mark, and a kill
 * while it waits loses nothing.  Borrowed until the process's next mark.
 * Nothing here is a signal point until the request has taken xargs. */
static int start(em__proc *p, em_term node, em_term res, em_term m, em_term f, em_term args, em_term *reqid)
{
    em_term gl = em_group_leader();
    if (gl == EM_NONE)
        gl = em_whereis(A("user")); /* the node's io server (net/user.c) */
    /* None here (no node runs): a local export's output goes to stdout.
     * Not the caller itself, which waits for the outcome alone and would
     * never answer an io request.  A remote spawn needs a pid: the caller
     * is the last resort there (a node runs, so `user` is only missing
     * while it stops). */
    if (gl == EM_NONE && node != em_local_node(NULL))
        gl = em__proc_pid(p);
    em_term erpc = A("erpc"), call = A("execute_call");
    em_term xargs = em_list(4, em_dup(res), m, f, args);
    if (xargs == EM_NONE)
        return EM_ENOMEM;
    if (node == em_local_node(NULL)) {
        em_term pid = em__export_spawn(erpc, call, xargs, gl, EM_NONE, EM_NONE, 0, reqid);
        if (pid == EM_NONE)
            return EM_ENOMEM;
        p->mark_ref = *reqid;
        return 0;
    }
    em__refkey k;
    *reqid = em__make_ref_term();
    if (*reqid == EM_NONE || !em__refkey_of(*reqid, &k) || em__link_spawn_pending(p, &k, node) < 0) {
        em_drop(*reqid);
        *reqid = EM_NONE;
        em_drop(xargs);
        return EM_ENOMEM;
    }
    p->mark_ref = *reqid;
    em_term mfa = em_tuple(3, erpc, call, em_int(4)), opts = em_list(1, A("monitor"));
    int rc = mfa == EM_NONE || opts == EM_NONE ? EM_ENOMEM
                                               : em__remote_spawn_out(em__proc_pid(p), node, *reqid, gl, mfa, opts, xargs);
    if (mfa == EM_NONE || opts == EM_NONE)
        em_drop(xargs);
    em_drop(mfa);
    em_drop(opts);
    if (rc < 0)
        em_demonitor(*reqid, EM_DEMONITOR_FLUSH); /* the pending request goes */
    return rc;
}

EM_API int em_rpc(em_term node, const char *module, const char *function, em_term args, int64_t timeout_ms,
                  em_term *result)
{
    em__proc *p = em__self_proc();
    em_term m, f;
    if (result)
        *result = EM_NONE;
    if (p == NULL) {
        em_drop(args);
        return EM_ESTATE;
    }
    if (result == NULL || module == NULL || function == NULL || em_typeof(node) != EM_TYPE_ATOM ||
        em_list_length(args) < 0 || em_atom_new(module, strlen(module), &m) < 0 ||
        em_atom_new(function, strlen(function), &f) < 0) {
        em_drop(args);
        return EM_EBADARG;
    }
    /* The mark, a signal point, with args kept by the process meanwhile;
     * then res, kept while the call lasts (reqid is the mark's): killed
     * anywhere in it, the process loses nothing. */
    em__proc_keep(args);
    em__mark_set(p);
    args = em__proc_unkeep();
    em_term res = em__make_ref_term(), reqid = EM_NONE;
    if (res == EM_NONE) {
        em_drop(args);
        return EM_ENOMEM;
    }
    em__proc_keep(res);
    int rc = start(p, node, res, m, f, args, &reqid);
    if (rc < 0) {
        em_drop(em__proc_unkeep());
        return rc == EM_ECLOSED || rc == EM_ENOTSUP || rc == EM_ENOMEM ? rc : EM_ECLOSED;
    }
    assert(p->mark_ref == reqid);
    wait_for w = {reqid};
    int64_t deadline = timeout_ms < 0 ? -1 : em__now_ns() / 1000000 + timeout_ms;
    for (;;) {
        int64_t left = deadline < 0 ? EM_INFINITY : deadline - em__now_ns() / 1000000;
        em_term msg;
        rc = em__receive_marked(left < 0 && deadline >= 0 ? 0 : left, reqid, is_outcome, &w, &msg);
        if (rc == EM_ETIMEDOUT) {
            /* Abandoned, as erpc abandons it; a reply already here goes. */
            em_demonitor(reqid, EM_DEMONITOR_FLUSH);
            while (em__receive_marked(0, reqid, is_reply, &w, &msg) == 0)
                ;
            break;
        }
        if (rc < 0)
            break;
        if (em_tuple_size(msg) == 5) { /* the DOWN */
            rc = decode(res, em_tuple_get(msg, 4), result);
            break;
        }
        em_term why = em_tuple_get(msg, 3);
        if (em_tuple_get(msg, 2) == A("ok"))
            continue; /* spawned: the DOWN brings the outcome */
        if (why == A("noconnection") || why == A("notsup")) {
            rc = why == A("notsup") ? EM_ENOTSUP : EM_ECLOSED;
        } else {
            /* erpc raises error {erpc, Reason} (badopt, system_limit) */
            *result = em_tuple(3, A("error"), em_tuple(2, A("erpc"), em_dup(why)), EM_NIL);
            rc = *result != EM_NONE ? EM_RPC_EXCEPTION : EM_ENOMEM;
        }
        break;
    }
    em_drop(em__proc_unkeep());
    return rc;
}
