/* rex.c: what a node answers to other nodes' rpc besides the program's own
 * exports: the functions every Erlang node has that tools call on any node
 * (erlang:node/0, nodes/0, registered/0, whereis/1), exported when the node
 * starts -- OTP's erpc and rpc reach them through spawn requests like any
 * export (runtime/export.c) -- and the registered `rex`, rpc's server,
 * for what still goes through it: erl_call and ei's rpc, rpc:block_call,
 * and casts of older nodes. */
#include <stdlib.h>

#include <ember/call.h>
#include <ember/export.h>

#include "dist_int.h"
#include "../runtime/remote.h"

#define A(s) em_atom(s)

static em_term bi_node(const em_term *a, unsigned n)
{
    (void)a, (void)n;
    return em_local_node(NULL);
}

static em_term bi_nodes(const em_term *a, unsigned n)
{
    (void)a, (void)n;
    return em__dconn_nodes(true);
}

static em_term bi_registered(const em_term *a, unsigned n)
{
    (void)a, (void)n;
    return em_registered();
}

static em_term bi_whereis(const em_term *a, unsigned n)
{
    (void)n;
    if (em_typeof(a[0]) != EM_TYPE_ATOM)
        em_raise_stack(A("error"), A("badarg"),
                       em_list(1, em_tuple(4, A("erlang"), A("whereis"), em_list(1, em_dup(a[0])), EM_NIL)));
    em_term p = em_whereis(a[0]);
    return p != EM_NONE ? p : A("undefined");
}

void em__rex_exports(void)
{
    /* EM_EEXIST: the program exported its own first (it wins). */
    em_export("erlang", "node", 0, bi_node);
    em_export("erlang", "nodes", 0, bi_nodes);
    em_export("erlang", "registered", 0, bi_registered);
    em_export("erlang", "whereis", 1, bi_whereis);
}

/* ---- rex: rpc's server ----
 * What OTP 25's rex (kernel's rpc.erl) answers:
 *   {'$gen_call', From, {call, M, F, A, GL}}       a process runs it; the
 *       answer goes to From when it ends (calls run side by side);
 *   {'$gen_call', From, {block_call, M, F, A, GL}}  the same, rex waiting
 *       for it (rpc:block_call: one at a time);
 *   {'$gen_cast', {cast, M, F, A, GL}}              run, no answer;
 *   {From, {call, M, F, A, GL}}                     the form C nodes send
 *       (erl_call -a, ei_rpc): the answer is From ! {rex, Answer};
 *   {From, {sbcast, Name, Msg}}, {From, {send, Name, Msg}},
 *   {From, features_request}                        as rpc.erl answers.
 * The answer is rpc's: the value, the thrown term, {badrpc, {'EXIT', R}}
 * for an exit (or a process that died of something else), {badrpc,
 * {'EXIT', {R, Stack}}} for an error.  A function runs as a spawn request
 * of erpc:execute_call would (em__remote_spawn_local, the caller's group
 * leader kept when it is a pid), monitored by rex, and its DOWN reason is
 * turned into the answer, as rpc.erl's execute_call/3 turns erpc's.
 * Other messages are dropped, as rex ignores them. */

/* Where an answer goes: {rex, Pid} (a C node's call) or From = {Pid, Tag}
 * of a gen_server call. */
typedef struct pending {
    em_term mref;  /* the worker's monitor */
    em_term to;    /* Pid */
    em_term tag;   /* Tag, or EM_NONE for {rex, Answer} */
} pending;

static em_term rex_answer(em_term res, em_term why)
{
    long n = em_tuple_size(why);
    em_term cls = n >= 3 && em_equal(em_tuple_get(why, 0), res) ? em_tuple_get(why, 1) : EM_NONE;
    if (n == 3 && (cls == A("return") || cls == A("throw")))
        return em_dup(em_tuple_get(why, 2));
    if (n == 3 && cls == A("exit"))
        return em_tuple(2, A("badrpc"), em_tuple(2, A("EXIT"), em_dup(em_tuple_get(why, 2))));
    if (n == 4 && cls == A("error"))
        return em_tuple(2, A("badrpc"),
                        em_tuple(2, A("EXIT"), em_tuple(2, em_dup(em_tuple_get(why, 2)), em_dup(em_tuple_get(why, 3)))));
    return em_tuple(2, A("badrpc"), em_tuple(2, A("EXIT"), em_dup(why)));
}

/* The answer (taken) to {To, Tag} as gen:reply sends it (to the alias of
 * an [alias|Ref] tag, as OTP 25's rpc:block_call makes: a late answer is
 * then dropped, not left in the caller's mailbox), or {rex, Answer} for a
 * request without a tag. */
static void rex_reply(em_term to, em_term tag, em_term answer)
{
    if (tag == EM_NONE) {
        em_send(to, em_tuple(2, A("rex"), answer));
        return;
    }
    /* to and tag stay rex's (in its table) across the send's signal point */
    em__reply_to(to, tag, answer);
}

/* Start {M, F, A} of a call request in a worker as erpc:execute_call(Res,
 * M, F, A); its monitor in *mref.  false when it is no call (bad parts). */
static bool rex_start(em_term req, em_term res, em_term *mref, bool call)
{
    em_term m = em_tuple_get(req, 1), f = em_tuple_get(req, 2), a = em_tuple_get(req, 3), gl = em_tuple_get(req, 4);
    if (em_typeof(m) != EM_TYPE_ATOM || em_typeof(f) != EM_TYPE_ATOM)
        return false;
    gl = em_typeof(gl) == EM_TYPE_PID ? gl : EM_NONE;
    em_term args = call ? em_list(4, em_dup(res), m, f, em_dup(a)) : em_list(3, m, f, em_dup(a));
    em_term pid = em__remote_spawn_local(A("erpc"), A(call ? "execute_call" : "execute_cast"), args, gl, mref);
    return pid != EM_NONE;
}

/* Register the calling process as name unless it is: a process of that
 * name from an earlier em_node_start may still be on its way out (killed
 * by em_node_stop): it is given a second.  false if the name stays
 * taken. */
bool em__register_self(em_term name)
{
    for (int i = 0;; i++) {
        /* em__*_start (em_node_start for net_kernel) may register it
         * meanwhile: looked at on every try */
        if (em_whereis(name) == em_self() || em_register(name, em_self()) == 0)
            return true;
        if (i == 100)
            return false;
        em_sleep(10);
    }
}

/* What rex holds, released when it ends (killed by em_node_stop). */
typedef struct rex_state {
    pending *pv;
    size_t np, cap;
    em_term res;
} rex_state;

static void rex_free(void *arg)
{
    rex_state *st = arg;
    for (size_t i = 0; i < st->np; i++) {
        em_drop(st->pv[i].mref);
        em_drop(st->pv[i].to);
        em_drop(st->pv[i].tag);
    }
    free(st->pv);
    em_drop(st->res);
    free(st);
}

/* The worker monitored by mref ended with `why`: its caller's answer. */
static void rex_done(rex_state *st, em_term mref, em_term why)
{
    for (size_t i = 0; i < st->np; i++) {
        if (em_equal(st->pv[i].mref, mref)) {
            rex_reply(st->pv[i].to, st->pv[i].tag, rex_answer(st->res, why));
            em_drop(st->pv[i].mref);
            em_drop(st->pv[i].to);
            em_drop(st->pv[i].tag);
            st->pv[i] = st->pv[--st->np];
            return;
        }
    }
}

static void rex_main(void *arg)
{
    (void)arg;
    if (!em__register_self(A("rex")))
        return;
    rex_state *st = calloc(1, sizeof *st);
    if (st == NULL || em_on_exit(rex_free, st) < 0) {
        free(st);
        return;
    }
    st->res = em_make_ref(); /* erpc's result reference: rex's own, one for all */
    em_term res = st->res;

    em_term call = A("call"), gen_call = A("$gen_call");
    for (;;) {
        em_term msg, from = EM_NONE, tag = EM_NONE, req = EM_NONE, x;
        if (em_receive_any(EM_INFINITY, &msg) < 0)
            continue;
        long n = em_tuple_size(msg);
        if (n == 5 && em_tuple_get(msg, 0) == A("DOWN")) {
            rex_done(st, em_tuple_get(msg, 1), em_tuple_get(msg, 4));
            continue;
        }
        if (n == 3 && em_tuple_get(msg, 0) == gen_call && em_tuple_size(x = em_tuple_get(msg, 1)) == 2 &&
            em_typeof(em_tuple_get(x, 0)) == EM_TYPE_PID) {
            from = em_tuple_get(x, 0);
            tag = em_tuple_get(x, 1);
            req = em_tuple_get(msg, 2);
        } else if (n == 2 && em_tuple_get(msg, 0) == A("$gen_cast")) {
            req = em_tuple_get(msg, 1);
            if (em_tuple_size(req) == 5 && em_tuple_get(req, 0) == A("cast"))
                rex_start(req, res, NULL, false);
            continue;
        } else if (n == 2 && em_typeof(em_tuple_get(msg, 0)) == EM_TYPE_PID) {
            from = em_tuple_get(msg, 0);
            req = em_tuple_get(msg, 1);
            em_term me = em_local_node(NULL), name = em_tuple_get(req, 1);
            if (req == A("features_request")) {
                /* noconnect: a peer that asked and went away is not dialled
                 * back (rpc.erl's plain send would); its next connection
                 * asks again. */
                em__dist_ops_send_noconnect(from, em_tuple(3, A("features_reply"), me, em_list(1, A("erpc"))));
                continue;
            }
            if (em_tuple_size(req) == 3 && (em_tuple_get(req, 0) == A("sbcast") || em_tuple_get(req, 0) == A("send")) &&
                em_typeof(name) == EM_TYPE_ATOM) {
                bool sb = em_tuple_get(req, 0) == A("sbcast");
                em_term to = em_whereis(name), m = em_dup(em_tuple_get(req, 2));
                if (to != EM_NONE)
                    em_send(to, sb ? m : em_tuple(2, em_dup(from), m));
                else
                    em_drop(m);
                if (to == EM_NONE)
                    em_send(from, em_tuple(3, A("rex"), me, em_tuple(2, A("nonexisting_name"), name)));
                else if (sb)
                    em_send(from, em_tuple(3, A("rex"), me, me));
                continue;
            }
        }
        if (em_tuple_size(req) != 5 || (em_tuple_get(req, 0) != call && em_tuple_get(req, 0) != A("block_call")) ||
            (tag == EM_NONE && em_tuple_get(req, 0) != call))
            continue; /* not rex's: ignored, as rex ignores it */
        em_term mref = EM_NONE;
        if (!rex_start(req, res, &mref, true)) {
            /* rpc.erl's apply would fail with badarg: the answer says so */
            rex_reply(from, tag, em_tuple(2, A("badrpc"), em_tuple(2, A("EXIT"), A("badarg"))));
            continue;
        }
        if (st->np == st->cap) {
            size_t c = st->cap ? st->cap * 2 : 8;
            pending *v = realloc(st->pv, c * sizeof *v);
            if (v == NULL) {
                /* no room to remember it: the caller gets an answer now */
                em_demonitor(mref, EM_DEMONITOR_FLUSH);
                em_drop(mref);
                rex_reply(from, tag, em_tuple(2, A("badrpc"), em_tuple(2, A("EXIT"), A("system_limit"))));
                continue;
            }
            st->pv = v;
            st->cap = c;
        }
        st->pv[st->np++] = (pending){mref, em_dup(from), em_dup(tag)};
        if (em_tuple_get(req, 0) == A("block_call")) {
            /* rex waits for this one (the receive releases msg: what is
             * kept of it is in st).  Its own copy of the reference (the
             * entry's goes in rex_done) is kept by the process across the
             * wait: rex killed there (em_node_stop) loses nothing. */
            em_term why;
            mref = em_dup(mref);
            em__proc_keep(mref);
            if (em_receive_ref(EM_INFINITY, mref, "{'DOWN', Ref, process, _, Why}", &why) == 0)
                rex_done(st, mref, why);
            em_drop(em__proc_unkeep());
        }
    }
}

em_term em__rex_start(void)
{
    em_term pid = em_spawn(rex_main, NULL);
    if (pid != EM_NONE)
        em_register(A("rex"), pid); /* taken still: it registers itself */
    return pid;
}
