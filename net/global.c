/* global.c: the registered `global_name_server` of a visible node, a full
 * participant in OTP 25's `global` (kernel's global.erl, protocol version
 * 8), and the public calls of <ember/global.h>.  docs/global.md says what
 * is implemented and how it maps onto global.erl; the function names below
 * follow global.erl's so the two can be read side by side.
 *
 * Processes, as global.erl has them:
 *  - the server (gns_main): owns every table; never blocks: it answers
 *    set_lock/del_lock/register/unregister/register_ext calls at once,
 *    takes part in the sync sessions (init_connect, exchange, resolved,
 *    new_nodes, in_sync), and handles nodeup/nodedown, DOWN of the
 *    processes it monitors (name holders, lock holders), lost_connection
 *    and remove_connection;
 *  - the locker (locker_main, global's the_locker): locks this node's
 *    partition for a session (calls to the servers of the known nodes,
 *    this one included) and releases the lock when told;
 *  - the registrar (registrar_main): em_global_register/unregister, under
 *    the lock {global, Registrar} on every known node (trans_all_known);
 *  - a resolver per session (resolver_main): merges the partner's names
 *    into ours (exchange_names), asking the node of a clashing pid to
 *    resolve it (rpc of global:resolve_it), or emulating the built-in
 *    resolvers for a pid of this node;
 *  - sync_other helpers: connect to a node learned of and cast in_sync.
 * Locker, registrar and resolvers are linked to the server: killing it
 * (em_node_stop) ends them all.
 *
 * Shared state (struct G) is guarded by G.mu.  Only the server writes it;
 * the locker, the registrar and the public calls read it.  The server
 * handles one message with the lock held and never yields meanwhile:
 * what it sends is queued in an outbox (out_*) and sent after the lock is
 * released (em_send may yield).  A process waiting for the lock yields
 * (lock_g), so the scheduler that runs the server is never blocked on it.
 *
 * Do no harm: every message is checked field by field before it is used;
 * a malformed one is dropped with one log line (drop_bad).  What is sent
 * has the shapes OTP 25's global.erl expects and nothing else: protocol
 * version 8, tags echoed as received (bignums, {Ref, Node}), resolver funs
 * (Method) stored as received and sent back unchanged.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ember/call.h>
#include <ember/etf.h>
#include <ember/export.h>
#include <ember/global.h>

#include "dist_int.h"
#include "../runtime/remote.h"
#include "../term/term_seam.h"

#define A(s) em_atom(s)
#define VSN 8          /* global.erl's ?vsn */
#define POP_VSN 7      /* ?pop_vsn, ?pgpv_vsn: known lists with versions */
#define VERIFY_VSN 8   /* ?verify_connect_vsn */

/* ---- shared state ---- */

typedef struct gname {
    em_term name, pid, method, mref;
    em_term regnode; /* register_ext's node, or EM_NONE */
} gname;

typedef struct gholder {
    em_term pid, mref;
} gholder;

typedef struct glk {
    em_term res, req;
    gholder *h;
    size_t nh, caph;
} glk;

/* What the server knows of a node: the keys of global.erl's `known` map
 * ({Node, Vsn}, {pending, Node}, {removing, Node}), `synced`, its
 * `resolvers` entry, and the process dictionary entries keyed by node
 * (sync_tag_my, sync_tag_his, prot_vsn, lock_id, wait_lock, save_ops,
 * pre_connect).  EM_NONE stands for undefined. */
enum { WL_NONE, WL_LOCK_IS_SET, WL_EXCHANGE };
typedef struct gnode {
    em_term node;
    int known;    /* -1: not known, else its protocol version */
    int pending;  /* -1: none, else the version it claimed */
    bool removing, up, synced;
    bool res;     /* in `resolvers` (a session started by our nodeup) */
    em_term res_tag, resolver;
    em_term my_tag, his_tag, lock_id;
    int prot_vsn; /* 0: undefined */
    int wait_lock;
    em_term wait_names;
    em_term save_ops;   /* a list, or EM_NONE */
    em_term saved_res;  /* {HisKnown, NamesExt, HisResolved}, or EM_NONE */
    em_term pre_connect;/* {Vsn, InitMsg, HisTag}, or EM_NONE */
} gnode;

typedef struct syncer {
    em_term from;
    em_term *nodes;
    size_t n;
} syncer;

typedef struct lostc {
    em_term a, b, xcre, opid;
} lostc;

static struct {
    pthread_mutex_t mu;
    bool running, connect_all;
    em_term gns, locker, registrar;
    gname *names;
    size_t nnames, capnames;
    glk *locks;
    size_t nlocks, caplocks;
    bool global_lock_down;
    gnode *nodes;
    size_t nnodes, capnodes;
    syncer *syncers;
    size_t nsyncers, capsyncers;
    lostc *lost;
    size_t nlost, caplost;
} G = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Take G.mu: a process yields while another holds it (the holder may be
 * waiting for this scheduler), a thread blocks.  Not a signal point: a
 * caller of em_global_whereis or em_global_send (or em_node_start) holds
 * terms or locks a death here would lose. */
static void lock_g(void)
{
    if (em_self() == EM_NONE) {
        pthread_mutex_lock(&G.mu);
        return;
    }
    while (pthread_mutex_trylock(&G.mu) != 0)
        em__yield_quiet();
}

static void unlock_g(void)
{
    pthread_mutex_unlock(&G.mu);
}

static em_term me(void)
{
    return em_local_node(NULL);
}

static em_term pid_node(em_term pid)
{
    em_term n = EM_NONE;
    em_pid_parts(pid, &n, NULL, NULL, NULL);
    return n;
}

static bool is_atom(em_term t) { return em_typeof(t) == EM_TYPE_ATOM; }
static bool is_pid(em_term t) { return em_typeof(t) == EM_TYPE_PID; }
static bool is_int(em_term t) { return em_typeof(t) == EM_TYPE_INTEGER; }
static bool is_list(em_term t) { return em_list_length(t) >= 0; }

/* A small integer's value, or def. */
static int64_t int_or(em_term t, int64_t def)
{
    int64_t v;
    return em_int_get(t, &v) == 0 ? v : def;
}

static void set_term(em_term *slot, em_term v)
{
    em_drop(*slot);
    *slot = v;
}

static bool grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 8;
    void *nv = realloc(*v, c * size);
    if (nv == NULL)
        return false;
    *v = nv;
    *cap = c;
    return true;
}

/* One log line for a message the server cannot use. */
/* The server's own state outside G: which server is inside handle, with
 * G.mu (gns_free; EM_NONE when none), and the reason it is to exit with
 * once it lets go of G.mu (the server process only). */
static _Atomic em_term gns_in_handle = EM_NONE;
static em_term gns_stop = EM_NONE;

static void drop_bad(const char *why, em_term m)
{
    char buf[200];
    em__print_head(buf, sizeof buf, m, EM_PRINT_W); /* m may be huge */
    em__dist_log("global_name_server: dropped a malformed message (%s): %s", why, buf);
}

/* A new session tag, as erlang:unique_integer([monotonic]): unique for the
 * life of the program, and larger than any tag of an earlier program run
 * on this host (they start from the clock). */
static em_term new_tag(void)
{
    static _Atomic int64_t next;
    int64_t v = next;
    if (v == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t start = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        int64_t zero = 0;
        atomic_compare_exchange_strong(&next, &zero, start);
    }
    return em_int(atomic_fetch_add(&next, 1));
}

/* ---- what a process holds across a yield ----
 * A process dies at its next signal point (a receive, a call, a send)
 * without unwinding its C stack: the terms and arrays the locker, the
 * registrar and a resolver hold while they wait are kept in a `held`
 * list, which the process's exit hook releases (held_free). */

typedef struct held {
    em_term *t;
    size_t nt, capt;
    void **p;
    size_t np, capp;
} held;

static em_term hold(held *h, em_term t)
{
    if (t != EM_NONE && grow((void **)&h->t, &h->capt, h->nt, sizeof *h->t))
        h->t[h->nt++] = t;
    return t;
}

static void *hold_ptr(held *h, void *p)
{
    if (p != NULL && grow((void **)&h->p, &h->capp, h->np, sizeof *h->p))
        h->p[h->np++] = p;
    return p;
}

/* Release t (dropped) / p (freed), held or not. */
static void unhold(held *h, em_term t)
{
    for (size_t i = h->nt; i-- > 0;)
        if (h->t[i] == t) {
            h->t[i] = h->t[--h->nt];
            break;
        }
    em_drop(t);
}

static void unhold_ptr(held *h, void *p)
{
    for (size_t i = h->np; i-- > 0;)
        if (h->p[i] == p) {
            h->p[i] = h->p[--h->np];
            break;
        }
    free(p);
}

static void held_release(held *h)
{
    for (size_t i = 0; i < h->nt; i++)
        em_drop(h->t[i]);
    for (size_t i = 0; i < h->np; i++)
        free(h->p[i]);
    free(h->t);
    free(h->p);
    memset(h, 0, sizeof *h);
}

/* Send msg (taken) to the server of node. */
static void send_gns(held *h, em_term node, em_term msg)
{
    em_term to = hold(h, em_tuple(2, A("global_name_server"), node));
    em_send(to, msg);
    unhold(h, to);
}

/* ---- the outbox: what the server sends once G.mu is released ---- */

enum { OB_SEND, OB_VSEND, OB_REPLY, OB_DISCONNECT };
typedef struct obx {
    int kind;
    em_term to, msg;
} obx;
static obx *ob;
static size_t nob, capob;

static void out_add(int kind, em_term to, em_term msg)
{
    if (msg == EM_NONE && kind != OB_DISCONNECT) {
        em_drop(to);
        return;
    }
    if (!grow((void **)&ob, &capob, nob, sizeof *ob)) {
        em_drop(to);
        em_drop(msg);
        return;
    }
    ob[nob++] = (obx){kind, to, msg};
}

/* to: the server of node (takes msg). */
static em_term gns_of(em_term node)
{
    return em_tuple(2, A("global_name_server"), node);
}
static void out_send(em_term to, em_term msg) { out_add(OB_SEND, em_dup(to), msg); }
static void out_cast(em_term node, em_term msg) { out_add(OB_SEND, gns_of(node), em_tuple(2, A("$gen_cast"), msg)); }
/* gns_volatile_send: only over a connection that is up (noconnect). */
static void out_vsend(em_term node, em_term msg) { out_add(OB_VSEND, node, msg); }
static void out_reply(em_term from, em_term reply) { out_add(OB_REPLY, em_dup(from), reply); }

/* The outbox being sent (sends may yield, and the server may be killed
 * meanwhile: gns_free releases what is left from fl[ifl] on). */
static obx *fl;
static size_t nfl, ifl;

static void out_flush(void)
{
    fl = ob;
    nfl = nob;
    ob = NULL;
    nob = capob = 0;
    for (ifl = 0; ifl < nfl; ifl++) {
        obx *x = &fl[ifl];
        em_term msg = x->msg;
        x->msg = EM_NONE; /* given away below */
        switch (x->kind) {
        case OB_SEND:
            em_send(x->to, msg);
            break;
        case OB_VSEND:
            if (em__dconn_is_up(x->to)) {
                x->to = gns_of(x->to); /* an atom before: nothing to drop */
                em_send(x->to, msg);
            } else {
                em_drop(msg);
            }
            break;
        case OB_REPLY:
            em_reply(x->to, msg);
            break;
        case OB_DISCONNECT:
            em_disconnect_node(x->to);
            break;
        }
        em_drop(x->to);
        x->to = EM_NONE;
    }
    free(fl);
    fl = NULL;
    nfl = ifl = 0;
}

/* ---- nodes ---- */

static gnode *node_get(em_term node, bool create)
{
    for (size_t i = 0; i < G.nnodes; i++)
        if (G.nodes[i].node == node)
            return &G.nodes[i];
    if (!create || !grow((void **)&G.nodes, &G.capnodes, G.nnodes, sizeof *G.nodes))
        return NULL;
    gnode *g = &G.nodes[G.nnodes++];
    memset(g, 0, sizeof *g);
    g->node = node;
    g->known = g->pending = -1;
    return g;
}

/* node_vsn/2 */
static int node_vsn(em_term node)
{
    if (node == me())
        return VSN;
    gnode *g = node_get(node, false);
    if (g && g->known >= 0)
        return g->known;
    if (g && g->pending >= 0)
        return g->pending;
    return 0;
}

/* reset_node_state/1 */
static void reset_node_state(gnode *g)
{
    g->wait_lock = WL_NONE;
    set_term(&g->wait_names, EM_NONE);
    set_term(&g->save_ops, EM_NONE);
    set_term(&g->saved_res, EM_NONE);
    set_term(&g->pre_connect, EM_NONE);
    g->prot_vsn = 0;
    set_term(&g->my_tag, EM_NONE);
    set_term(&g->his_tag, EM_NONE);
    set_term(&g->lock_id, EM_NONE);
}

static em_term undef_or(em_term t)
{
    return t != EM_NONE ? em_dup(t) : A("undefined");
}

/* mk_known_list/2: [{Node, Vsn}] (bare atoms for a version below 7). */
static em_term known_list(int vsn)
{
    em_term l = EM_NIL;
    for (size_t i = 0; i < G.nnodes; i++) {
        gnode *g = &G.nodes[i];
        if (g->known < 0)
            continue;
        l = em_cons(vsn < POP_VSN ? g->node : em_tuple(2, g->node, em_int(g->known)), l);
    }
    return l;
}

/* ---- names (global_names, global_names_ext) ---- */

static gname *name_get(em_term name)
{
    for (size_t i = 0; i < G.nnames; i++)
        if (em_equal(G.names[i].name, name))
            return &G.names[i];
    return NULL;
}

/* where/1 (G.mu held): a new reference to the pid, or EM_NONE. */
static em_term where(em_term name)
{
    gname *n = name_get(name);
    if (n == NULL)
        return EM_NONE;
    if (pid_node(n->pid) == me() && !em_is_alive(n->pid))
        return EM_NONE;
    return em_dup(n->pid);
}

static em_term get_names(void)
{
    em_term l = EM_NIL;
    for (size_t i = 0; i < G.nnames; i++)
        l = em_cons(em_tuple(3, em_dup(G.names[i].name), em_dup(G.names[i].pid), em_dup(G.names[i].method)), l);
    return l;
}

static em_term get_names_ext(void)
{
    em_term l = EM_NIL;
    for (size_t i = 0; i < G.nnames; i++)
        if (G.names[i].regnode != EM_NONE)
            l = em_cons(em_tuple(3, em_dup(G.names[i].name), em_dup(G.names[i].pid), G.names[i].regnode), l);
    return l;
}

/* delete_global_name2/2 */
static void delete_global_name2(em_term name)
{
    gname *n = name_get(name);
    if (n == NULL)
        return;
    em_demonitor(n->mref, EM_DEMONITOR_FLUSH);
    em_drop(n->name);
    em_drop(n->pid);
    em_drop(n->method);
    em_drop(n->mref);
    *n = G.names[--G.nnames];
}

/* lock_still_set/3: from is the registering pid, or the node of a sync
 * (then ExtraInfo's {lock, LockId} must be the global lock's). */
static glk *lock_get(em_term res);
static bool lock_still_set(em_term from, em_term extra)
{
    glk *l = lock_get(A("global"));
    if (l == NULL)
        return !G.global_lock_down;
    if (is_pid(from)) {
        for (size_t i = 0; i < l->nh; i++)
            if (em_equal(l->h[i].pid, from))
                return true;
        return false;
    }
    em_term lockid = EM_NONE;
    for (em_term t = extra; em_typeof(t) == EM_TYPE_LIST; t = em_tl(t)) {
        em_term e = em_hd(t);
        if (em_tuple_size(e) == 2 && em_tuple_get(e, 0) == A("lock")) {
            lockid = em_tuple_get(e, 1);
            break;
        }
    }
    return em_tuple_size(lockid) == 2 && em_tuple_get(lockid, 0) == A("global") &&
           em_equal(em_tuple_get(lockid, 1), l->req);
}

/* ins_name/6 and ins_name_ext/7: (re)place name, monitor its pid. */
static void ins_name(em_term name, em_term pid, em_term method, em_term regnode, em_term from, em_term extra)
{
    delete_global_name2(name);
    if (!grow((void **)&G.names, &G.capnames, G.nnames, sizeof *G.names))
        return;
    em_term mref = em_monitor(pid);
    if (mref == EM_NONE)
        return;
    G.names[G.nnames++] = (gname){em_dup(name), em_dup(pid), em_dup(method), mref, regnode};
    if (!lock_still_set(from, extra))
        delete_global_name2(name);
}

/* ---- locks (global_locks) ---- */

static glk *lock_get(em_term res)
{
    for (size_t i = 0; i < G.nlocks; i++)
        if (em_equal(G.locks[i].res, res))
            return &G.locks[i];
    return NULL;
}

/* can_set_lock/1 (G.mu held) */
static bool can_set_lock(em_term id)
{
    glk *l = lock_get(em_tuple_get(id, 0));
    return l == NULL || em_equal(l->req, em_tuple_get(id, 1));
}

static bool is_global_lock_set(void)
{
    return lock_get(A("global")) != NULL;
}

/* handle_set_lock/3 */
static bool handle_set_lock(em_term id, em_term pid)
{
    em_term res = em_tuple_get(id, 0), req = em_tuple_get(id, 1);
    glk *l = lock_get(res);
    if (l && !em_equal(l->req, req))
        return false;
    if (l == NULL) {
        if (!grow((void **)&G.locks, &G.caplocks, G.nlocks, sizeof *G.locks))
            return false;
        l = &G.locks[G.nlocks++];
        *l = (glk){em_dup(res), em_dup(req), NULL, 0, 0};
    }
    for (size_t i = 0; i < l->nh; i++)
        if (em_equal(l->h[i].pid, pid))
            return true;
    em_term mref;
    if (!grow((void **)&l->h, &l->caph, l->nh, sizeof *l->h) || (mref = em_monitor(pid)) == EM_NONE) {
        if (l->nh == 0) {
            em_drop(l->res);
            em_drop(l->req);
            free(l->h);
            *l = G.locks[--G.nlocks];
        }
        return false;
    }
    l->h[l->nh++] = (gholder){em_dup(pid), mref};
    return true;
}

/* remove_lock/6: pid's hold on l; the lock goes with its last holder. */
static void remove_lock(glk *l, size_t i, bool down)
{
    em_demonitor(l->h[i].mref, EM_DEMONITOR_FLUSH);
    em_drop(l->h[i].pid);
    em_drop(l->h[i].mref);
    l->h[i] = l->h[--l->nh];
    if (l->nh > 0)
        return;
    if (l->res == A("global"))
        G.global_lock_down = down;
    em_drop(l->res);
    em_drop(l->req);
    free(l->h);
    *l = G.locks[--G.nlocks];
}

/* handle_del_lock/3 */
static void handle_del_lock(em_term id, em_term pid)
{
    glk *l = lock_get(em_tuple_get(id, 0));
    if (l == NULL || !em_equal(l->req, em_tuple_get(id, 1)))
        return;
    for (size_t i = 0; i < l->nh; i++)
        if (em_equal(l->h[i].pid, pid)) {
            remove_lock(l, i, false);
            return;
        }
}

/* {'DOWN', Ref, ...}: delete_lock/2 and del_name/2 */
static void handle_down(em_term mref)
{
    for (size_t j = 0; j < G.nlocks; j++) {
        glk *l = &G.locks[j];
        for (size_t i = 0; i < l->nh; i++)
            if (em_equal(l->h[i].mref, mref)) {
                size_t before = G.nlocks;
                remove_lock(l, i, true);
                if (G.nlocks < before)
                    j--; /* the last lock moved into slot j */
                break;
            }
    }
    for (size_t i = 0; i < G.nnames; i++)
        if (em_equal(G.names[i].mref, mref)) {
            delete_global_name2(G.names[i].name);
            break;
        }
}

/* ---- validation of what other nodes send ---- */

static bool valid_known(em_term l)
{
    if (!is_list(l))
        return false;
    for (; l != EM_NIL; l = em_tl(l)) {
        em_term e = em_hd(l);
        if (!is_atom(e) && !(em_tuple_size(e) == 2 && is_atom(em_tuple_get(e, 0)) && is_int(em_tuple_get(e, 1))))
            return false;
    }
    return true;
}

static em_term known_node(em_term e)
{
    return is_atom(e) ? e : em_tuple_get(e, 0);
}

/* [{Name, Pid, Method}] */
static bool valid_names(em_term l)
{
    if (!is_list(l))
        return false;
    for (; l != EM_NIL; l = em_tl(l))
        if (em_tuple_size(em_hd(l)) != 3 || !is_pid(em_tuple_get(em_hd(l), 1)))
            return false;
    return true;
}

/* [{Name, Pid, RegNode}] */
static bool valid_names_ext(em_term l)
{
    if (!valid_names(l))
        return false;
    for (; l != EM_NIL; l = em_tl(l))
        if (!is_atom(em_tuple_get(em_hd(l), 2)))
            return false;
    return true;
}

/* [{insert, {Name, Pid, Method}} | {delete, Name}] */
static bool valid_ops(em_term l)
{
    if (!is_list(l))
        return false;
    for (; l != EM_NIL; l = em_tl(l)) {
        em_term op = em_hd(l);
        if (em_tuple_size(op) != 2)
            return false;
        em_term k = em_tuple_get(op, 0), v = em_tuple_get(op, 1);
        if (k == A("insert") && em_tuple_size(v) == 3 && is_pid(em_tuple_get(v, 1)))
            continue;
        if (k != A("delete"))
            return false;
    }
    return true;
}

/* do_ops/5 (ops and names_ext checked) */
static void do_ops(em_term ops, em_term from, em_term names_ext, em_term extra)
{
    for (em_term l = ops; l != EM_NIL; l = em_tl(l)) {
        em_term op = em_hd(l), v = em_tuple_get(op, 1);
        if (em_tuple_get(op, 0) != A("insert"))
            continue;
        em_term name = em_tuple_get(v, 0), pid = em_tuple_get(v, 1), regnode = EM_NONE;
        for (em_term x = names_ext; x != EM_NIL; x = em_tl(x)) {
            em_term e = em_hd(x);
            if (em_equal(em_tuple_get(e, 0), name) && em_equal(em_tuple_get(e, 1), pid)) {
                regnode = em_tuple_get(e, 2);
                break;
            }
        }
        ins_name(name, pid, em_tuple_get(v, 2), regnode, from, extra);
    }
    for (em_term l = ops; l != EM_NIL; l = em_tl(l))
        if (em_tuple_get(em_hd(l), 0) == A("delete"))
            delete_global_name2(em_tuple_get(em_hd(l), 1));
}

/* ---- sessions ---- */

static void to_locker(em_term msg)
{
    out_add(OB_SEND, em_dup(G.locker), msg);
}

static void syncers_note(em_term node);

/* send_cancel_connect_message/2 */
static void send_cancel_connect_message(em_term node, em_term his_tag)
{
    out_vsend(node, em_tuple(3, A("cancel_connect"), me(), undef_or(his_tag)));
}

/* cancel_locker/4: fun is what the locker runs before it releases the
 * lock (no_fun, or [{Node, Msg}] to cast: new_nodes); taken. */
static void cancel_locker(gnode *g, em_term tag, em_term fun)
{
    to_locker(em_tuple(4, A("cancel"), g->node, undef_or(tag), fun));
    /* send_cancel_connect/3 */
    if (g->pending >= VERIFY_VSN && tag != EM_NONE && em_equal(g->my_tag, tag))
        send_cancel_connect_message(g->node, g->his_tag);
    if (g->res && tag != EM_NONE && em_equal(g->res_tag, tag)) {
        if (g->resolver != EM_NONE)
            em_exit_pid(g->resolver, A("kill"));
        g->res = false;
        set_term(&g->res_tag, EM_NONE);
        set_term(&g->resolver, EM_NONE);
    }
}

static void cancel_locker_nf(gnode *g, em_term tag)
{
    cancel_locker(g, tag, A("no_fun"));
}

static void sync_others(em_term nodes);
static void handle_init_connect(em_term node, int vsn, int his_vsn, em_term his_tag, em_term locker, em_term initmsg);

/* handle_nodeup/2 */
static void handle_nodeup(gnode *g)
{
    if (g->known >= 0 || g->res)
        return;
    em_term pre = g->pre_connect; /* resend_pre_connect/1 */
    g->pre_connect = EM_NONE;
    em_term tag = new_tag();
    set_term(&g->my_tag, em_dup(tag));
    em_term locker = em_tuple(4, A("locker"), A("no_longer_a_pid"), EM_NIL, em_dup(G.locker));
    out_cast(g->node, em_tuple(4, A("init_connect"), em_tuple(2, em_int(VSN), em_dup(tag)), me(), locker));
    g->res = true;
    set_term(&g->res_tag, tag);
    set_term(&g->resolver, EM_NONE);
    if (pre != EM_NONE) {
        em_term vt = em_tuple_get(pre, 0), initmsg = em_tuple_get(pre, 1);
        int v = (int)int_or(em_tuple_get(vt, 0), 0);
        handle_init_connect(g->node, v, (int)int_or(em_tuple_get(vt, 1), v), em_tuple_get(pre, 2),
                            em_tuple_get(initmsg, 3), initmsg);
        em_drop(pre);
    }
}

/* restart_connect/3 */
static void restart_connect(gnode *g, em_term my_tag)
{
    em_term tag = my_tag != EM_NONE ? em_dup(my_tag) : EM_NONE;
    cancel_locker_nf(g, tag);
    reset_node_state(g);
    g->pending = -1;
    if (tag != EM_NONE && is_int(tag))
        handle_nodeup(g);
    em_drop(tag);
}

/* init_connect/6, the message checked: vsn = min(his, 8) */
static void handle_init_connect(em_term node, int vsn, int his_vsn, em_term his_tag, em_term locker, em_term initmsg)
{
    gnode *g = node_get(node, true);
    if (g == NULL)
        return;
    if (g->pending >= 0) {
        if (his_vsn < VERIFY_VSN) {
            out_add(OB_DISCONNECT, node, EM_NONE);
            em__dist_log("global_name_server: out of sync connection attempt from old version %d node %s: "
                         "disconnecting from it", his_vsn, em_atom_text(node, NULL));
            return;
        }
        send_cancel_connect_message(node, his_tag);
        em_term old = g->my_tag != EM_NONE ? em_dup(g->my_tag) : EM_NONE;
        restart_connect(g, old);
        em_drop(old);
    }
    g->prot_vsn = vsn;
    set_term(&g->his_tag, em_dup(his_tag));
    if (g->res) {
        to_locker(em_tuple(5, A("his_the_locker"), em_dup(locker), em_int(vsn), em_dup(his_tag), em_dup(g->my_tag)));
        if (his_vsn >= VERIFY_VSN)
            out_vsend(node, em_tuple(4, A("init_connect_ack"), me(), em_dup(his_tag), em_dup(g->my_tag)));
        g->pending = his_vsn;
    } else {
        set_term(&g->pre_connect,
                 em_tuple(3, em_tuple(2, em_int(vsn), em_int(his_vsn)), em_dup(initmsg), em_dup(his_tag)));
    }
}

/* The resolver's argument: the partner's names, each with our entry. */
/* A resolver's argument: the resolver's from its spawn on, freed by its
 * spawn-time exit hook (also if it is killed before it ran). */
typedef struct rarg {
    em_term node, tag, list, server;
} rarg;
static void resolver_main(void *arg);

static void rarg_free(void *arg)
{
    rarg *ra = arg;
    em_drop(ra->tag);
    em_drop(ra->list);
    free(ra);
}

/* exchange/3: both the lock and the partner's names are in: resolve. */
static void exchange(gnode *g, em_term names)
{
    if (g->wait_lock != WL_LOCK_IS_SET) {
        g->wait_lock = WL_EXCHANGE;
        set_term(&g->wait_names, em_dup(names));
        return;
    }
    g->wait_lock = WL_NONE;
    if (!g->res)
        return;
    /* [{Name, Pid, Method, Mine}], Mine = {Pid2, Method2} | none */
    em_term l = EM_NIL;
    for (em_term x = names; x != EM_NIL; x = em_tl(x)) {
        em_term e = em_hd(x);
        gname *n = name_get(em_tuple_get(e, 0));
        em_term mine = n ? em_tuple(2, em_dup(n->pid), em_dup(n->method)) : A("none");
        l = em_cons(em_tuple(4, em_dup(em_tuple_get(e, 0)), em_dup(em_tuple_get(e, 1)), em_dup(em_tuple_get(e, 2)), mine),
                    l);
    }
    rarg *ra = malloc(sizeof *ra);
    if (ra == NULL || l == EM_NONE) {
        free(ra);
        em_drop(l);
        return;
    }
    *ra = (rarg){g->node, em_dup(g->res_tag), l, G.gns};
    em_spawn_opts o = {.link = true, .on_exit = rarg_free};
    em_term pid = em_spawn_opt(resolver_main, ra, &o);
    if (pid == EM_NONE) {
        rarg_free(ra); /* the hook is not called then */
        return;
    }
    set_term(&g->resolver, pid);
}

static void syncers_synced(em_term node);

/* resolved/5 */
static void resolved(gnode *g, em_term his_resolved, em_term his_known, em_term names_ext)
{
    em_term node = g->node;
    em_term ops = EM_NIL; /* save_ops ++ HisResolved */
    {
        size_t n = 0;
        for (em_term x = g->save_ops; em_typeof(x) == EM_TYPE_LIST; x = em_tl(x))
            n++;
        em_term *v = malloc((n ? n : 1) * sizeof *v);
        if (v == NULL)
            return;
        n = 0;
        for (em_term x = g->save_ops; em_typeof(x) == EM_TYPE_LIST; x = em_tl(x))
            v[n++] = em_dup(em_hd(x));
        ops = em_listv_tail(n, v, em_dup(his_resolved));
        free(v);
        set_term(&g->save_ops, EM_NONE);
    }
    /* Known before this sync: who gets new_nodes */
    em_term old_known = known_list(VSN);
    /* NewNodes = make_node_vsn_list([Node | HisKnown]) */
    em_term new_nodes = EM_NIL;
    for (em_term x = his_known; x != EM_NIL; x = em_tl(x)) {
        em_term e = em_hd(x), n = known_node(e);
        int v = is_atom(e) || int_or(em_tuple_get(e, 1), 0) == 0 ? node_vsn(n) : (int)int_or(em_tuple_get(e, 1), 0);
        new_nodes = em_cons(em_tuple(2, n, em_int(v)), new_nodes);
    }
    new_nodes = em_cons(em_tuple(2, node, em_int(node_vsn(node))), new_nodes);
    em_term his_nodes = EM_NIL;
    for (em_term x = his_known; x != EM_NIL; x = em_tl(x))
        his_nodes = em_cons(known_node(em_hd(x)), his_nodes);
    sync_others(his_nodes);
    em_term extra = em_list(2, em_tuple(2, A("vsn"), em_int(g->prot_vsn ? g->prot_vsn : 0)),
                            em_tuple(2, A("lock"), undef_or(g->lock_id)));
    do_ops(ops, me(), names_ext, extra);
    syncers_synced(node);
    /* cancel_resolved_locker/3 for each of HisKnown */
    for (em_term x = his_nodes; x != EM_NIL; x = em_tl(x)) {
        gnode *h = node_get(em_hd(x), true);
        if (h == NULL || h == g)
            continue;
        h->pending = -1;
        em_term t = h->my_tag != EM_NONE ? em_dup(h->my_tag) : EM_NONE;
        cancel_locker_nf(h, t);
        em_drop(t);
        reset_node_state(h);
    }
    g = node_get(node, false); /* node_get may have moved the table */
    /* NewNodesF: new_nodes to every node known before, run by the locker
     * before it releases the lock */
    em_term fun = EM_NIL;
    em_term plain = EM_NIL;
    for (em_term x = new_nodes; x != EM_NIL; x = em_tl(x))
        plain = em_cons(em_tuple_get(em_hd(x), 0), plain);
    for (em_term x = old_known; x != EM_NIL; x = em_tl(x)) {
        em_term e = em_hd(x), n = em_tuple_get(e, 0);
        bool vsn_list = int_or(em_tuple_get(e, 1), 0) >= POP_VSN;
        em_term msg = em_tuple(6, A("new_nodes"), me(), em_dup(ops), em_dup(names_ext),
                               em_dup(vsn_list ? new_nodes : plain), em_dup(extra));
        fun = em_cons(em_tuple(2, n, em_tuple(2, A("$gen_cast"), msg)), fun);
    }
    em_drop(plain);
    g->pending = -1;
    em_term t = g->my_tag != EM_NONE ? em_dup(g->my_tag) : EM_NONE;
    cancel_locker(g, t, fun);
    em_drop(t);
    reset_node_state(g);
    /* add_to_known/2 */
    em_term added = EM_NIL;
    for (em_term x = new_nodes; x != EM_NIL; x = em_tl(x)) {
        em_term n = em_tuple_get(em_hd(x), 0);
        if (n == me())
            continue;
        gnode *k = node_get(n, true);
        if (k == NULL || k->known >= 0)
            continue;
        k->known = (int)int_or(em_tuple_get(em_hd(x), 1), 0);
        added = em_cons(n, added);
    }
    to_locker(em_tuple(2, A("add_to_known"), added));
    g = node_get(node, false);
    g->synced = true;
    em_drop(ops);
    em_drop(old_known);
    em_drop(new_nodes);
    em_drop(his_nodes);
    em_drop(extra);
}

/* handle_nodedown/3 */
enum { ND_DISCONNECTED, ND_REMOVE, ND_IGNORE };
static void inform_connection_loss(em_term node);
static void handle_nodedown(gnode *g, int what)
{
    em_term t = g->my_tag != EM_NONE ? em_dup(g->my_tag) : EM_NONE;
    cancel_locker_nf(g, t);
    em_drop(t);
    to_locker(em_tuple(2, A("remove_from_known"), g->node));
    reset_node_state(g);
    if (what == ND_REMOVE) {
        g->removing = true;
    } else if (what == ND_IGNORE) {
        g->removing = false;
    } else if (g->removing) {
        g->removing = false;
    } else {
        inform_connection_loss(g->node);
    }
    g->pending = -1;
    g->known = -1;
    g->synced = false;
}

/* gns_volatile_multicast/5 to known and pending nodes of version 7+. */
static void multicast(em_term msg, em_term ignore)
{
    for (size_t i = 0; i < G.nnodes; i++) {
        gnode *g = &G.nodes[i];
        if (g->node == ignore)
            continue;
        if (g->known >= POP_VSN || g->pending >= POP_VSN)
            out_vsend(g->node, em_dup(msg));
    }
    em_drop(msg);
}

/* inform_connection_loss/2: only with connect_all (and
 * prevent_overlapping_partitions, always on here). */
static void inform_connection_loss(em_term node)
{
    static _Atomic int64_t opid;
    if (!G.connect_all)
        return;
    uint32_t cr = 0;
    em_local_node(&cr);
    multicast(em_tuple(5, A("lost_connection"), me(), em_int(cr), em_int(++opid), node), node);
}

/* ---- syncers (em_global_sync) ---- */

static void syncer_drop_node(syncer *s, em_term node)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->nodes[i] == node) {
            s->nodes[i] = s->nodes[--s->n];
            return;
        }
}

static void syncers_check(void)
{
    for (size_t i = 0; i < G.nsyncers;) {
        if (G.syncers[i].n == 0) {
            out_reply(G.syncers[i].from, A("ok"));
            em_drop(G.syncers[i].from);
            free(G.syncers[i].nodes);
            G.syncers[i] = G.syncers[--G.nsyncers];
        } else {
            i++;
        }
    }
}

static void syncers_note(em_term node)
{
    for (size_t i = 0; i < G.nsyncers; i++)
        syncer_drop_node(&G.syncers[i], node);
    syncers_check();
}

static void syncers_synced(em_term node)
{
    syncers_note(node);
}

/* ---- the server's messages ---- */

/* in_sync from node */
static void handle_in_sync(em_term node)
{
    gnode *g = node_get(node, true);
    if (g == NULL)
        return;
    syncers_synced(node);
    g->synced = true;
    g->pending = -1;
    em_term t = g->my_tag != EM_NONE ? em_dup(g->my_tag) : EM_NONE;
    cancel_locker_nf(g, t);
    em_drop(t);
    reset_node_state(g);
}

static void handle_cast(em_term m)
{
    long n = em_tuple_size(m);
    em_term k = n > 0 ? em_tuple_get(m, 0) : m;
    em_term node = n > 1 ? em_tuple_get(m, 1) : EM_NONE;
    if (k == A("init_connect") && n == 4) {
        em_term vt = em_tuple_get(m, 1), initmsg = em_tuple_get(m, 3);
        long vn = em_tuple_size(vt);
        node = em_tuple_get(m, 2);
        if (vn < 2 || !is_int(em_tuple_get(vt, 0)) || !is_atom(node) || node == me() ||
            em_tuple_size(initmsg) != 4 || em_tuple_get(initmsg, 0) != A("locker") ||
            !is_pid(em_tuple_get(initmsg, 3))) {
            drop_bad("init_connect", m);
            return;
        }
        int64_t his = int_or(em_tuple_get(vt, 0), 1000);
        int vsn = vn > 2 || his > VSN ? VSN : (int)his;
        if (his <= 4) {
            /* OTP's own locker cannot take such a node (true = HisVsn > 4) */
            drop_bad("protocol version 4 or older", m);
            return;
        }
        handle_init_connect(node, vsn, his > 1000 ? 1000 : (int)his, em_tuple_get(vt, 1), em_tuple_get(initmsg, 3),
                            initmsg);
        return;
    }
    if (k == A("lock_set") && (n == 5 || n == 4) && is_pid(node) && is_atom(em_tuple_get(m, 2))) {
        /* forwarded to the locker if it is of the current session */
        gnode *g = node_get(pid_node(node), false);
        if (n == 4 || (g && g->my_tag != EM_NONE && em_equal(g->my_tag, em_tuple_get(m, 4))))
            to_locker(em_dup(m));
        return;
    }
    if (k == A("lock_is_set") && n == 4 && is_atom(node)) {
        gnode *g = node_get(node, false);
        em_term tag = em_tuple_get(m, 2);
        if (g == NULL)
            return;
        if (g->my_tag == EM_NONE || !em_equal(g->my_tag, tag)) {
            cancel_locker_nf(g, tag);
            return;
        }
        em_term names = get_names();
        out_cast(node, em_tuple(5, A("exchange"), me(), names, EM_NIL, undef_or(g->his_tag)));
        set_term(&g->lock_id, em_dup(em_tuple_get(m, 3)));
        if (g->wait_lock == WL_EXCHANGE) {
            em_term hn = g->wait_names;
            g->wait_names = EM_NONE;
            g->wait_lock = WL_LOCK_IS_SET;
            exchange(g, hn);
            em_drop(hn);
        } else {
            g->wait_lock = WL_LOCK_IS_SET;
        }
        return;
    }
    if (k == A("exchange") && n == 5 && is_atom(node) && valid_names(em_tuple_get(m, 2))) {
        gnode *g = node_get(node, true);
        em_term tag = em_tuple_get(m, 4);
        if (g == NULL)
            return;
        if (g->my_tag == EM_NONE || !em_equal(g->my_tag, tag))
            cancel_locker_nf(g, tag);
        else
            exchange(g, em_tuple_get(m, 2));
        return;
    }
    if (k == A("exchange_ops") && n == 5 && is_atom(node) && valid_ops(em_tuple_get(m, 3)) &&
        valid_ops(em_tuple_get(m, 4))) {
        /* from our resolver */
        gnode *g = node_get(node, false);
        em_term tag = em_tuple_get(m, 2);
        if (g == NULL)
            return;
        if (g->my_tag == EM_NONE || !em_equal(g->my_tag, tag)) {
            cancel_locker_nf(g, tag);
            return;
        }
        out_cast(node, em_tuple(7, A("resolved"), me(), em_dup(em_tuple_get(m, 4)), known_list(node_vsn(node)),
                                A("unused"), get_names_ext(), undef_or(g->his_tag)));
        set_term(&g->save_ops, em_dup(em_tuple_get(m, 3)));
        if (g->saved_res != EM_NONE) {
            em_term s = g->saved_res;
            g->saved_res = EM_NONE;
            resolved(g, em_tuple_get(s, 2), em_tuple_get(s, 0), em_tuple_get(s, 1));
            em_drop(s);
        }
        return;
    }
    if (k == A("resolved") && n == 7 && is_atom(node) && valid_ops(em_tuple_get(m, 2)) &&
        valid_known(em_tuple_get(m, 3)) && valid_names_ext(em_tuple_get(m, 5))) {
        gnode *g = node_get(node, true);
        em_term tag = em_tuple_get(m, 6);
        if (g == NULL)
            return;
        if (g->my_tag == EM_NONE || !em_equal(g->my_tag, tag)) {
            cancel_locker_nf(g, tag);
            return;
        }
        if (g->save_ops != EM_NONE)
            resolved(g, em_tuple_get(m, 2), em_tuple_get(m, 3), em_tuple_get(m, 5));
        else
            set_term(&g->saved_res,
                     em_tuple(3, em_dup(em_tuple_get(m, 3)), em_dup(em_tuple_get(m, 5)), em_dup(em_tuple_get(m, 2))));
        return;
    }
    if (k == A("new_nodes") && n == 6 && is_atom(node) && valid_ops(em_tuple_get(m, 2)) &&
        valid_names_ext(em_tuple_get(m, 3)) && valid_known(em_tuple_get(m, 4)) && is_list(em_tuple_get(m, 5))) {
        /* new_nodes/6 */
        em_term added = EM_NIL;
        for (em_term x = em_tuple_get(m, 4); x != EM_NIL; x = em_tl(x)) {
            em_term e = em_hd(x), nn = known_node(e);
            if (nn == me())
                continue;
            gnode *g = node_get(nn, true);
            if (g == NULL || g->known >= 0)
                continue;
            g->known = is_atom(e) ? 0 : (int)int_or(em_tuple_get(e, 1), 0);
            added = em_cons(nn, added);
        }
        sync_others(added);
        do_ops(em_tuple_get(m, 2), node, em_tuple_get(m, 3), em_tuple_get(m, 5));
        to_locker(em_tuple(2, A("add_to_known"), added));
        return;
    }
    if (k == A("in_sync") && n == 3 && is_atom(node)) {
        handle_in_sync(node);
        return;
    }
    if ((k == A("async_del_name") || k == A("async_del_lock")) && n == 3)
        return; /* old nodes' (R13B): the DOWN does it */
    drop_bad("unexpected cast", m);
}

static void handle_call(em_term from, em_term req)
{
    long n = em_tuple_size(req);
    em_term k = n > 0 ? em_tuple_get(req, 0) : req;
    em_term caller = em_tuple_get(from, 0);
    if ((k == A("set_lock") || k == A("del_lock") || k == A("can_set_lock")) && n == 2 &&
        em_tuple_size(em_tuple_get(req, 1)) == 2) {
        em_term id = em_tuple_get(req, 1);
        bool r = true;
        if (k == A("set_lock"))
            r = handle_set_lock(id, caller);
        else if (k == A("del_lock"))
            handle_del_lock(id, caller);
        else
            r = can_set_lock(id);
        out_reply(from, em_bool(r));
        return;
    }
    if (k == A("register") && n == 4 && is_pid(em_tuple_get(req, 2))) {
        ins_name(em_tuple_get(req, 1), em_tuple_get(req, 2), em_tuple_get(req, 3), EM_NONE, caller, EM_NIL);
        out_reply(from, A("yes"));
        return;
    }
    if (k == A("register_ext") && n == 5 && is_pid(em_tuple_get(req, 2)) && is_atom(em_tuple_get(req, 4))) {
        ins_name(em_tuple_get(req, 1), em_tuple_get(req, 2), em_tuple_get(req, 3), em_tuple_get(req, 4), caller,
                 EM_NIL);
        out_reply(from, A("yes"));
        return;
    }
    if (k == A("unregister") && n == 2) {
        delete_global_name2(em_tuple_get(req, 1));
        out_reply(from, A("ok"));
        return;
    }
    if (req == A("get_known")) {
        out_reply(from, known_list(0));
        return;
    }
    if (req == A("get_synced")) {
        em_term l = EM_NIL;
        for (size_t i = 0; i < G.nnodes; i++)
            if (G.nodes[i].synced)
                l = em_cons(G.nodes[i].node, l);
        out_reply(from, l);
        return;
    }
    if (req == A("get_protocol_version")) {
        out_reply(from, em_int(VSN));
        return;
    }
    if (req == A("get_names_ext")) {
        out_reply(from, get_names_ext());
        return;
    }
    if (k == A("registrar") && n == 2 && pid_node(caller) == me()) {
        out_send(G.registrar, em_tuple(3, A("trans_all_known"), em_dup(em_tuple_get(req, 1)), em_dup(from)));
        return;
    }
    if (k == A("sync") && n == 2 && is_list(em_tuple_get(req, 1))) {
        /* handle_call({sync, Nodes}) with start_sync/2: wait until each of
         * Nodes is synced or down */
        size_t len = (size_t)em_list_length(em_tuple_get(req, 1));
        em_term *v = malloc((len ? len : 1) * sizeof *v);
        if (v == NULL || !grow((void **)&G.syncers, &G.capsyncers, G.nsyncers, sizeof *G.syncers)) {
            free(v);
            return;
        }
        size_t c = 0;
        for (em_term x = em_tuple_get(req, 1); x != EM_NIL; x = em_tl(x)) {
            em_term nd = em_hd(x);
            gnode *g = is_atom(nd) ? node_get(nd, false) : NULL;
            if (g && g->up && !g->synced)
                v[c++] = nd;
        }
        G.syncers[G.nsyncers++] = (syncer){em_dup(from), v, c};
        syncers_check();
        return;
    }
    /* global logs these and does not answer */
    drop_bad("unexpected call", req);
}

/* {lost_connection, NodeA, XCreationA, OpIdA, NodeB} */
static void handle_lost_connection(em_term m)
{
    em_term a = em_tuple_get(m, 1), xcre = em_tuple_get(m, 2), opid = em_tuple_get(m, 3), b = em_tuple_get(m, 4);
    if (!G.connect_all)
        return;
    lostc *lc = NULL;
    for (size_t i = 0; i < G.nlost; i++)
        if (G.lost[i].a == a && G.lost[i].b == b)
            lc = &G.lost[i];
    if (lc && em_equal(lc->xcre, xcre) && em_compare(opid, lc->opid) <= 0)
        return; /* handled already */
    multicast(em_dup(m), a);
    if (lc == NULL && grow((void **)&G.lost, &G.caplost, G.nlost, sizeof *G.lost)) {
        lc = &G.lost[G.nlost++];
        *lc = (lostc){a, b, EM_NONE, EM_NONE};
    }
    if (lc) {
        set_term(&lc->xcre, em_dup(xcre));
        set_term(&lc->opid, em_dup(opid));
    }
    em_term rm = b == me() ? a : b;
    gnode *g = node_get(rm, false);
    if (g == NULL || (g->known < 0 && g->pending < 0))
        return;
    const char *what;
    if (node_vsn(rm) < POP_VSN) {
        out_add(OB_DISCONNECT, rm, EM_NONE);
        what = "disconnected old";
    } else {
        out_vsend(rm, em_tuple(2, A("remove_connection"), me()));
        what = "requested disconnect from";
    }
    em__dist_log("'global' at node %s %s node %s in order to prevent overlapping partitions",
                 em_atom_text(me(), NULL), what, em_atom_text(rm, NULL));
    handle_nodedown(g, ND_REMOVE);
}

static void handle_plain(em_term m)
{
    long n = em_tuple_size(m);
    em_term k = n > 0 ? em_tuple_get(m, 0) : m;
    em_term node = n > 1 ? em_tuple_get(m, 1) : EM_NONE;
    if (k == A("lost_connection") && n == 5 && is_atom(node) && is_int(em_tuple_get(m, 2)) &&
        is_int(em_tuple_get(m, 3)) && is_atom(em_tuple_get(m, 4))) {
        handle_lost_connection(m);
        return;
    }
    if (k == A("remove_connection") && n == 2 && is_atom(node)) {
        gnode *g = node_get(node, false);
        if (g == NULL || (g->known < 0 && g->pending < 0))
            return;
        out_add(OB_DISCONNECT, node, EM_NONE);
        handle_nodedown(g, ND_REMOVE);
        em__dist_log("'global' at node %s disconnected node %s in order to prevent overlapping partitions",
                     em_atom_text(me(), NULL), em_atom_text(node, NULL));
        return;
    }
    if (k == A("cancel_connect") && n == 3 && is_atom(node)) {
        gnode *g = node_get(node, false);
        em_term tag = em_tuple_get(m, 2);
        if (g == NULL || g->my_tag == EM_NONE || !em_equal(g->my_tag, tag))
            return;
        em_term t = em_dup(tag);
        cancel_locker_nf(g, t);
        reset_node_state(g);
        g->pending = -1;
        restart_connect(g, t);
        em_drop(t);
        return;
    }
    if (k == A("init_connect_ack") && n == 4 && is_atom(node)) {
        gnode *g = node_get(node, true);
        if (g == NULL)
            return;
        em_term his_my = em_tuple_get(m, 2), his_his = em_tuple_get(m, 3);
        bool same = g->my_tag != EM_NONE && g->his_tag != EM_NONE && em_equal(g->my_tag, his_my) &&
                    em_equal(g->his_tag, his_his);
        if (!same) {
            send_cancel_connect_message(node, his_his);
            em_term t = g->my_tag != EM_NONE ? em_dup(g->my_tag) : EM_NONE;
            restart_connect(g, t);
            em_drop(t);
        }
        return;
    }
    if (k == A("nodeup") && n == 2 && is_atom(node)) {
        em__dconn *c = em__dconn_get(node, false, NULL);
        bool visible = c != NULL && (c->flags & EM__DF_PUBLISHED);
        if (c)
            em__dconn_put(c);
        gnode *g = visible ? node_get(node, true) : NULL;
        if (g == NULL)
            return;
        g->up = true;
        if (G.connect_all)
            handle_nodeup(g);
        return;
    }
    if ((k == A("nodedown") || k == A("extra_nodedown")) && n == 2 && is_atom(node)) {
        gnode *g = node_get(node, false);
        if (g == NULL || (k == A("nodedown") && !g->up))
            return;
        if (k == A("nodedown"))
            g->up = false;
        syncers_note(node);
        handle_nodedown(g, ND_DISCONNECTED);
        return;
    }
    if (k == A("DOWN") && n == 5) {
        handle_down(em_tuple_get(m, 1));
        return;
    }
    if (k == A("EXIT") && n == 3) {
        /* It traps exits, as global's server does: a resolver it killed
         * (cancel_locker) is no reason to die; its locker or registrar
         * dying is (OTP: {locker_died, Exit}), once G.mu is let go.  As
         * in OTP, a plain message of that shape from another node (the
         * locker's pid is public) stops it too: a trapped exit and a
         * message cannot be told apart. */
        em_term from = em_tuple_get(m, 1);
        if (gns_stop == EM_NONE && (em_equal(from, G.locker) || em_equal(from, G.registrar)))
            gns_stop = em_tuple(2, from == G.locker ? A("locker_died") : A("registrar_died"), em_dup(m));
        return;
    }
    drop_bad("unexpected message", m);
}

static void handle(em_term m)
{
    long n = em_tuple_size(m);
    if (n == 2 && em_tuple_get(m, 0) == A("$gen_cast")) {
        handle_cast(em_tuple_get(m, 1));
    } else if (n == 3 && em_tuple_get(m, 0) == A("$gen_call")) {
        em_term from = em_tuple_get(m, 1);
        if (em_tuple_size(from) != 2 || !is_pid(em_tuple_get(from, 0))) {
            drop_bad("call without {Pid, Tag}", m);
            return;
        }
        handle_call(from, em_tuple_get(m, 2));
    } else {
        handle_plain(m);
    }
}

/* ---- sync_other: connect to a node learned of, then in_sync ---- */

static void sync_other_main(void *arg)
{
    em_term node = (em_term)(uintptr_t)arg;
    if (em_node_connect(node, EM_INFINITY, NULL, 0) == 0) {
        held h = {0};
        send_gns(&h, node, em_tuple(2, A("$gen_cast"), em_tuple(3, A("in_sync"), me(), A("true"))));
        held_release(&h);
        return;
    }
    em__dist_log("'global' at %s failed to connect to %s", em_atom_text(me(), NULL), em_atom_text(node, NULL));
    lock_g();
    em_term gns = G.running ? G.gns : EM_NONE;
    unlock_g();
    if (gns != EM_NONE)
        em_send(gns, em_tuple(2, A("extra_nodedown"), node));
}

/* sync_others/1 (nodes borrowed; atoms) */
static void sync_others(em_term nodes)
{
    for (em_term x = nodes; em_typeof(x) == EM_TYPE_LIST; x = em_tl(x))
        if (is_atom(em_hd(x)) && em_hd(x) != me())
            em_spawn(sync_other_main, (void *)(uintptr_t)em_hd(x));
}

/* ---- calls to the servers of other nodes (gen_server:multi_call) ---- */

/* Call each node's server with req (borrowed); true when every node that
 * answered (a node that is down or has no server does not) said true.
 * With stop_on_false: check_replies/3: on a false, release what was
 * taken on the nodes that said true. */
static bool multi_call(held *h, const em_term *nodes, size_t n, em_term req, em_term *trues, size_t *ntrues)
{
    bool all = true;
    if (ntrues)
        *ntrues = 0;
    for (size_t i = 0; i < n; i++) {
        em_term srv = hold(h, gns_of(nodes[i])), r = EM_NONE;
        int rc = em_call(srv, em_dup(req), EM_INFINITY, &r);
        unhold(h, srv);
        if (rc == 0 && r == A("false"))
            all = false;
        else if (rc == 0 && trues)
            trues[(*ntrues)++] = nodes[i];
        em_drop(r);
    }
    return all;
}

/* set_lock_on_nodes/2 with local_lock_check/2 */
static bool set_lock_on_nodes(held *h, em_term id, const em_term *nodes, size_t n)
{
    if (n == 0)
        return true;
    if (n > 1) {
        for (size_t i = 0; i < n; i++)
            if (nodes[i] == me()) {
                lock_g();
                bool ok = can_set_lock(id);
                unlock_g();
                if (!ok)
                    return false;
                break;
            }
    }
    em_term *trues = hold_ptr(h, malloc(n * sizeof *trues));
    size_t nt = 0;
    if (trues == NULL)
        return false;
    em_term req = hold(h, em_tuple(2, A("set_lock"), em_dup(id)));
    bool ok = multi_call(h, nodes, n, req, trues, &nt);
    unhold(h, req);
    if (!ok && n > 1 && nt > 0) {
        req = hold(h, em_tuple(2, A("del_lock"), em_dup(id)));
        multi_call(h, trues, nt, req, NULL, NULL);
        unhold(h, req);
    }
    unhold_ptr(h, trues);
    return ok;
}

static void del_lock_on(held *h, em_term id, const em_term *nodes, size_t n)
{
    em_term req = hold(h, em_tuple(2, A("del_lock"), em_dup(id)));
    multi_call(h, nodes, n, req, NULL, NULL);
    unhold(h, req);
}

static em_term boss_of(const em_term *nodes, size_t n)
{
    em_term b = EM_NONE;
    for (size_t i = 0; i < n; i++)
        if (b == EM_NONE || em_compare(nodes[i], b) > 0)
            b = nodes[i];
    return b;
}

/* delete_global_lock/2: the boss last */
static void delete_global_lock(held *h, em_term id, const em_term *nodes, size_t n)
{
    em_term boss = boss_of(nodes, n);
    em_term *rest = hold_ptr(h, calloc(n ? n : 1, sizeof *rest));
    size_t r = 0;
    if (rest == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        if (nodes[i] != boss)
            rest[r++] = nodes[i];
    del_lock_on(h, id, rest, r);
    if (boss != EM_NONE)
        del_lock_on(h, id, &boss, 1);
    unhold_ptr(h, rest);
}

/* random_sleep/1 */
static void random_sleep(int times)
{
    int64_t tmax = times > 5 ? 8000 : ((int64_t)1 << times) * 1000 / 8;
    em_sleep(1 + (int64_t)(rand() % (tmax > 0 ? tmax : 1)));
}

/* ---- the locker ---- */

typedef struct him {
    em_term node, locker, my_tag, his_tag;
    int vsn;
} him;

/* The locker's state (global.erl's #multi{}): freed by its exit hook. */
typedef struct lk {
    em_term *known;
    size_t nk, capk;
    him *h;
    size_t nh, caph;
    bool just_synced;
    em_term gns; /* the server (a local pid) */
    held hd;
} lk;

static void lk_free(void *arg)
{
    lk *s = arg;
    for (size_t i = 0; i < s->nh; i++) {
        em_drop(s->h[i].locker);
        em_drop(s->h[i].my_tag);
        em_drop(s->h[i].his_tag);
    }
    free(s->h);
    free(s->known);
    held_release(&s->hd);
    free(s);
}

static void lk_known_add(lk *s, em_term node)
{
    for (size_t i = 0; i < s->nk; i++)
        if (s->known[i] == node)
            return;
    if (grow((void **)&s->known, &s->capk, s->nk, sizeof *s->known))
        s->known[s->nk++] = node;
}

static void lk_known_update(lk *s, em_term m)
{
    /* Node names are atoms (immediates: kept without a reference); the
     * locker's pid is known to other nodes, so anything else is dropped. */
    if (em_tuple_get(m, 0) == A("add_to_known")) {
        for (em_term x = em_tuple_get(m, 1); em_typeof(x) == EM_TYPE_LIST; x = em_tl(x))
            if (em_typeof(em_hd(x)) == EM_TYPE_ATOM)
                lk_known_add(s, em_hd(x));
        return;
    }
    em_term node = em_tuple_get(m, 1);
    for (size_t i = 0; i < s->nk; i++)
        if (s->known[i] == node) {
            s->known[i] = s->known[--s->nk];
            return;
        }
}

static bool is_known_update(em_term m, void *arg)
{
    (void)arg;
    return em_tuple_size(m) == 2 &&
           (em_tuple_get(m, 0) == A("add_to_known") || em_tuple_get(m, 0) == A("remove_from_known"));
}

/* update_locker_known/1: take in the updates already queued */
static void lk_update_known(lk *s)
{
    em_term m;
    while (em_receive_match(0, is_known_update, NULL, &m) == 0)
        lk_known_update(s, m);
}

static void lk_remove_him(lk *s, em_term node, em_term tag)
{
    for (size_t i = 0; i < s->nh; i++)
        if (s->h[i].node == node && (tag == EM_NONE || em_equal(s->h[i].my_tag, tag))) {
            em_drop(s->h[i].locker);
            em_drop(s->h[i].my_tag);
            em_drop(s->h[i].his_tag);
            s->h[i] = s->h[--s->nh];
            return;
        }
}

static him *lk_find(lk *s, em_term node)
{
    for (size_t i = 0; i < s->nh; i++)
        if (s->h[i].node == node)
            return &s->h[i];
    return NULL;
}

static em_term lk_known_list(lk *s)
{
    return em_listv(s->nk, s->known);
}

/* locker_lock_id/2: {global, lists:sort([self(), Pid])} */
static em_term lock_id_with(em_term pid)
{
    em_term a = em_self(), b = pid;
    if (em_compare(a, b) > 0) {
        em_term t = a;
        a = b;
        b = t;
    }
    return em_tuple(2, A("global"), em_list(2, em_dup(a), em_dup(b)));
}

/* lock_nodes_safely/3 */
static bool lock_nodes_safely(lk *s, em_term id, em_term extra)
{
    held *h = &s->hd;
    em_term first = me();
    for (size_t i = 0; i < s->nk; i++)
        if (em_compare(s->known[i], first) > 0)
            first = s->known[i];
    bool local_ok = first == me();
    if (!local_ok) {
        lock_g();
        local_ok = can_set_lock(id);
        unlock_g();
    }
    if (!local_ok || !set_lock_on_nodes(h, id, &first, 1))
        return false;
    lk_update_known(s);
    em_term second[2];
    size_t ns = 0;
    if (first != me())
        second[ns++] = me();
    if (extra != EM_NONE && extra != first)
        second[ns++] = extra;
    if (!set_lock_on_nodes(h, id, second, ns)) {
        del_lock_on(h, id, &first, 1);
        return false;
    }
    em_term *rest = hold_ptr(h, calloc(s->nk ? s->nk : 1, sizeof *rest));
    size_t nr = 0;
    if (rest == NULL)
        return false;
    for (size_t i = 0; i < s->nk; i++)
        if (s->known[i] != first)
            rest[nr++] = s->known[i];
    bool ok = set_lock_on_nodes(h, id, rest, nr);
    unhold_ptr(h, rest);
    if (!ok) {
        em_term sofar[3] = {first, ns > 0 ? second[0] : EM_NONE, ns > 1 ? second[1] : EM_NONE};
        del_lock_on(h, id, sofar, 1 + ns);
    }
    return ok;
}

/* send_lock_set/5 */
static void send_lock_set(lk *s, bool set, em_term his_locker, int vsn, em_term his_tag)
{
    em_term msg = vsn < VERIFY_VSN ? em_tuple(4, A("lock_set"), em_self(), em_bool(set), lk_known_list(s))
                                   : em_tuple(5, A("lock_set"), em_self(), em_bool(set), lk_known_list(s), em_dup(his_tag));
    if (vsn < 6)
        em_send(his_locker, msg);
    else
        send_gns(&s->hd, pid_node(his_locker), em_tuple(2, A("$gen_cast"), msg));
}

/* call_fun/1: the new_nodes casts before the lock goes */
static void call_fun(lk *s, em_term fun)
{
    for (em_term x = fun; em_typeof(x) == EM_TYPE_LIST; x = em_tl(x))
        send_gns(&s->hd, em_tuple_get(em_hd(x), 0), em_dup(em_tuple_get(em_hd(x), 1)));
}

/* delete_global_lock/2 of the nodes in a list */
static void delete_global_lock_l(lk *s, em_term id, em_term nodes)
{
    size_t n = (size_t)em_list_length(nodes), i = 0;
    em_term *v = hold_ptr(&s->hd, calloc(n ? n : 1, sizeof *v));
    if (v == NULL)
        return;
    for (em_term x = nodes; x != EM_NIL; x = em_tl(x))
        v[i++] = em_hd(x);
    delete_global_lock(&s->hd, id, v, n);
    unhold_ptr(&s->hd, v);
}

typedef struct cwait {
    em_term node, tag;
} cwait;

static bool is_cancel_for(em_term m, void *arg)
{
    const cwait *w = arg;
    return em_tuple_size(m) == 4 && em_tuple_get(m, 0) == A("cancel") && em_tuple_get(m, 1) == w->node &&
           em_equal(em_tuple_get(m, 2), w->tag);
}

/* wait_cancel_lock/6 */
static void wait_cancel_lock(lk *s, em_term node, em_term id, em_term tag, em_term known)
{
    cwait w = {node, tag};
    em_term m;
    if (em_receive_match(EM_INFINITY, is_cancel_for, &w, &m) < 0)
        return;
    m = hold(&s->hd, em_dup(m));
    call_fun(s, em_tuple_get(m, 3));
    delete_global_lock_l(s, id, known);
    unhold(&s->hd, m);
}

static bool is_lock_answer(em_term m, void *arg)
{
    const cwait *w = arg;
    long n = em_tuple_size(m);
    if ((n == 5 || n == 4) && em_tuple_get(m, 0) == A("lock_set") && is_pid(em_tuple_get(m, 1)) &&
        pid_node(em_tuple_get(m, 1)) == w->node)
        return true;
    return is_cancel_for(m, arg);
}

/* select_node/1 and lock_is_set/5 */
static void select_node(lk *s)
{
    held *h = &s->hd;
    size_t cand[64], nc = 0;
    for (size_t i = 0; i < s->nh && nc < 64; i++) {
        bool known = false;
        for (size_t j = 0; j < s->nk; j++)
            known |= s->known[j] == s->h[i].node;
        if (!known)
            cand[nc++] = i;
    }
    if (nc == 0)
        return;
    him hm = s->h[cand[rand() % nc]];
    em_term node = hm.node;
    em_term locker = hold(h, em_dup(hm.locker)), my_tag = hold(h, em_dup(hm.my_tag)),
            his_tag = hold(h, em_dup(hm.his_tag));
    int vsn = hm.vsn;
    em_term id = hold(h, lock_id_with(locker));
    if (lock_nodes_safely(s, id, node)) {
        em_term known1 = hold(h, em_cons(me(), em_cons(node, lk_known_list(s))));
        send_lock_set(s, true, locker, vsn, his_tag);
        cwait w = {node, my_tag};
        for (;;) {
            em_term m;
            if (em_receive_match(EM_INFINITY, is_lock_answer, &w, &m) < 0)
                break;
            m = hold(h, em_dup(m));
            long n = em_tuple_size(m);
            if (em_tuple_get(m, 0) == A("cancel")) {
                call_fun(s, em_tuple_get(m, 3));
                delete_global_lock_l(s, id, known1);
                lk_remove_him(s, node, my_tag);
                unhold(h, m);
                break;
            }
            bool cur = n == 4 || em_equal(em_tuple_get(m, 4), my_tag);
            bool set = em_tuple_get(m, 2) == A("true");
            unhold(h, m);
            if (!cur)
                continue; /* an older session's */
            if (!set) {
                delete_global_lock_l(s, id, known1);
                break;
            }
            /* lock_is_set_true_received/6 */
            em_send(s->gns, em_tuple(2, A("$gen_cast"), em_tuple(4, A("lock_is_set"), node, em_dup(my_tag), em_dup(id))));
            wait_cancel_lock(s, node, id, my_tag, known1);
            s->just_synced = true;
            lk_remove_him(s, node, EM_NONE);
            break;
        }
        unhold(h, known1);
    }
    unhold(h, id);
    unhold(h, locker);
    unhold(h, my_tag);
    unhold(h, his_tag);
}

/* the_locker_message/2 (m held by the caller) */
static void locker_message(lk *s, em_term m)
{
    held *hd = &s->hd;
    long n = em_tuple_size(m);
    em_term k = n > 0 ? em_tuple_get(m, 0) : m;
    if (k == A("his_the_locker") && n == 5) {
        em_term l = em_tuple_get(m, 1);
        if (!is_pid(l) || pid_node(l) == EM_NONE || pid_node(l) == me())
            return; /* not a locker of another node: the pid is public */
        if (!grow((void **)&s->h, &s->caph, s->nh, sizeof *s->h))
            return;
        s->h[s->nh++] = (him){pid_node(l), em_dup(l), em_dup(em_tuple_get(m, 4)), em_dup(em_tuple_get(m, 3)),
                              (int)int_or(em_tuple_get(m, 2), VSN)};
        return;
    }
    if (k == A("cancel") && n == 4) {
        if (em_tuple_get(m, 2) != A("undefined"))
            lk_remove_him(s, em_tuple_get(m, 1), em_tuple_get(m, 2));
        return;
    }
    if (is_known_update(m, NULL)) {
        lk_known_update(s, m);
        return;
    }
    if (k == A("lock_set") && (n == 5 || n == 4) && em_tuple_get(m, 2) == A("true")) {
        /* the spontaneous path: the other side locked first */
        em_term pid = em_tuple_get(m, 1), node = pid_node(pid);
        him *h = lk_find(s, node);
        if (h == NULL || (n == 5 && !em_equal(h->my_tag, em_tuple_get(m, 4)))) {
            em_send(pid, em_tuple(4, A("lock_set"), em_self(), A("false"), lk_known_list(s)));
            return;
        }
        em_term my_tag = hold(hd, em_dup(h->my_tag)), his_tag = hold(hd, em_dup(h->his_tag));
        int vsn = h->vsn;
        em_term id = hold(hd, lock_id_with(pid));
        bool ok = lock_nodes_safely(s, id, EM_NONE);
        send_lock_set(s, ok, pid, vsn, his_tag);
        if (ok) {
            em_term known2 = hold(hd, em_cons(me(), lk_known_list(s)));
            em_send(s->gns, em_tuple(2, A("$gen_cast"), em_tuple(4, A("lock_is_set"), node, em_dup(my_tag), em_dup(id))));
            wait_cancel_lock(s, node, id, my_tag, known2);
            s->just_synced = true;
            lk_remove_him(s, node, my_tag);
            unhold(hd, known2);
        } else {
            s->just_synced = false;
        }
        unhold(hd, id);
        unhold(hd, my_tag);
        unhold(hd, his_tag);
    }
    /* lock_set false outside a session: spurious, ignored */
}

static void locker_main(void *arg)
{
    lk *s = calloc(1, sizeof *s);
    if (s == NULL || em_on_exit(lk_free, s) < 0) {
        free(s);
        em_exit(A("system_limit"));
    }
    s->gns = (em_term)(uintptr_t)arg;
    srand((unsigned)time(NULL) ^ (unsigned)em_self());
    lock_g();
    for (size_t i = 0; i < G.nnodes; i++)
        if (G.nodes[i].known >= 0)
            lk_known_add(s, G.nodes[i].node);
    unlock_g();
    for (;;) {
        em_term m;
        if (em_receive_any(0, &m) == 0) {
            m = hold(&s->hd, em_dup(m));
            locker_message(s, m);
            unhold(&s->hd, m);
            continue;
        }
        int64_t t = s->nh == 0 ? EM_INFINITY : s->just_synced ? 0 : s->nk == 0 ? 200 : (int64_t)(1000 + 100 * s->nk);
        if (t > 3000)
            t = 3000;
        s->just_synced = false;
        if (em_receive_any(t, &m) == 0) {
            m = hold(&s->hd, em_dup(m));
            locker_message(s, m);
            unhold(&s->hd, m);
            continue;
        }
        lock_g();
        bool set = is_global_lock_set();
        unlock_g();
        if (!set)
            select_node(s);
    }
}

/* ---- the resolver ---- */

/* The name of the function of an external fun (EXPORT_EXT: global's
 * random_exit_name/3 and kin) or, for a closure (NEW_FUN_EXT), its
 * module: written into buf. */
static bool fun_names(em_term f, char *mod, size_t mcap, char *fn, size_t fcap)
{
    size_t len;
    const uint8_t *b = em_fun_bytes(f, &len);
    if (b == NULL || len < 1)
        return false;
    size_t off;
    if (b[0] == 113)
        off = 1;
    else if (b[0] == 112)
        off = 1 + 4 + 1 + 16 + 4 + 4;
    else
        return false;
    char *outs[2] = {mod, fn};
    size_t caps[2] = {mcap, fcap};
    for (int k = 0; k < (b[0] == 113 ? 2 : 1); k++) {
        if (off >= len)
            return false;
        uint8_t tag = b[off];
        size_t n, hdr;
        if ((tag == 119 || tag == 115) && off + 2 <= len) {
            n = b[off + 1];
            hdr = 2;
        } else if ((tag == 118 || tag == 100) && off + 3 <= len) {
            n = (size_t)b[off + 1] << 8 | b[off + 2];
            hdr = 3;
        } else {
            return false;
        }
        if (off + hdr + n > len || n + 1 > caps[k])
            return false;
        memcpy(outs[k], b + off + hdr, n);
        outs[k][n] = '\0';
        off += hdr + n;
    }
    if (b[0] == 112)
        fn[0] = '\0';
    return true;
}

/* minmax/2: the pid on the smaller node first */
static void minmax(em_term p1, em_term p2, em_term *min, em_term *max)
{
    if (em_compare(pid_node(p1), pid_node(p2)) < 0) {
        *min = p1;
        *max = p2;
    } else {
        *min = p2;
        *max = p1;
    }
}

/* global:resolve_it/4 as this node runs it: the built-in resolvers
 * (random_exit_name/3 -- also for global's default closure and any other
 * fun, which C cannot run --, random_notify_name/3, notify_all_name/3).
 * Returns the winner, or none. */
static em_term resolve_here(em_term method, em_term name, em_term pid1, em_term pid2)
{
    char mod[256], fn[256];
    em_term min, max;
    minmax(pid1, pid2, &min, &max);
    bool known = fun_names(method, mod, sizeof mod, fn, sizeof fn) && strcmp(mod, "global") == 0;
    if (known && strcmp(fn, "notify_all_name") == 0) {
        em_send(pid1, em_tuple(3, A("global_name_conflict"), em_dup(name), em_dup(pid2)));
        em_send(pid2, em_tuple(3, A("global_name_conflict"), em_dup(name), em_dup(pid1)));
        return A("none");
    }
    if (known && strcmp(fn, "random_notify_name") == 0) {
        em_send(max, em_tuple(2, A("global_name_conflict"), em_dup(name)));
        return em_dup(min);
    }
    char buf[200];
    em_term conflict = em_tuple(2, em_dup(name), em_dup(max));
    em__print_head(buf, sizeof buf, conflict, EM_PRINT_W);
    em_drop(conflict);
    em__dist_log("global: Name conflict terminating %s", buf);
    em_exit_pid(max, A("kill"));
    return em_dup(min);
}

static em_term bi_resolve_it(const em_term *a, unsigned n)
{
    (void)n;
    if (!is_pid(a[2]) || !is_pid(a[3]))
        return em_tuple(2, A("EXIT"), A("badarg"));
    return resolve_here(a[0], a[1], a[2], a[3]);
}

/* A resolver's state, freed by its exit hook (it is killed when its
 * session is cancelled). */
typedef struct rstate {
    held hd;
    em_term ops, res;
} rstate;

static void rstate_free(void *arg)
{
    rstate *r = arg;
    em_drop(r->ops);
    em_drop(r->res);
    held_release(&r->hd);
    free(r);
}

/* exchange_names/4 */
static void resolver_main(void *arg)
{
    const rarg *ra = arg; /* freed by the exit hook given at the spawn */
    rstate *st = calloc(1, sizeof *st);
    if (st == NULL || em_on_exit(rstate_free, st) < 0) {
        free(st);
        return;
    }
    held *h = &st->hd;
    em_term node = ra->node, server = ra->server;
    em_term tag = ra->tag, list = ra->list; /* borrowed from ra */
    st->ops = st->res = EM_NIL;
    bool smaller = em_compare(me(), node) < 0;
    for (em_term x = list; x != EM_NIL; x = em_tl(x)) {
        em_term e = em_hd(x);
        em_term name = em_tuple_get(e, 0), pid = em_tuple_get(e, 1), method = em_tuple_get(e, 2),
                mine = em_tuple_get(e, 3);
        em_term ins_his = em_tuple(2, A("insert"), em_tuple(3, em_dup(name), em_dup(pid), em_dup(method)));
        if (mine == A("none")) {
            st->ops = em_cons(ins_his, st->ops);
            continue;
        }
        em_term pid2 = em_tuple_get(mine, 0), method2 = em_tuple_get(mine, 1);
        if (em_equal(pid2, pid) || !smaller) {
            em_drop(ins_his);
            continue; /* the same, or the other node resolves it */
        }
        hold(h, ins_his);
        em_term winner = EM_NONE;
        bool badrpc = false;
        if (pid_node(pid2) == me()) {
            winner = hold(h, resolve_here(method2, name, pid, pid2));
        } else {
            int rc = em_rpc(pid_node(pid2), "global", "resolve_it",
                            em_list(4, em_dup(method2), em_dup(name), em_dup(pid), em_dup(pid2)), EM_INFINITY,
                            &winner);
            hold(h, winner);
            if (rc != 0) {
                badrpc = rc != EM_RPC_EXCEPTION;
                unhold(h, winner);
                winner = EM_NONE;
            }
        }
        if (badrpc || em_equal(winner, pid)) {
            if (badrpc)
                em__dist_log("global: badrpc received when a conflicting name was found");
            st->ops = em_cons(em_dup(ins_his), st->ops);
        } else if (em_equal(winner, pid2)) {
            st->res = em_cons(em_tuple(2, A("insert"), em_tuple(3, em_dup(name), em_dup(pid2), em_dup(method2))), st->res);
        } else {
            st->ops = em_cons(em_tuple(2, A("delete"), em_dup(name)), st->ops);
            st->res = em_cons(em_tuple(2, A("delete"), em_dup(name)), st->res);
        }
        unhold(h, ins_his);
        if (winner != EM_NONE)
            unhold(h, winner);
    }
    em_term ops = st->ops, res = st->res;
    st->ops = st->res = EM_NONE;
    em_send(server, em_tuple(2, A("$gen_cast"), em_tuple(5, A("exchange_ops"), node, em_dup(tag), ops, res)));
}

/* ---- the registrar ---- */

/* get_known/0 plus this node: a new array (n in *n), held */
static em_term *known_nodes(held *h, size_t *n)
{
    lock_g();
    em_term *v = malloc((G.nnodes + 1) * sizeof *v);
    size_t c = 0;
    if (v) {
        v[c++] = me();
        for (size_t i = 0; i < G.nnodes; i++)
            if (G.nodes[i].known >= 0)
                v[c++] = G.nodes[i].node;
    }
    unlock_g();
    *n = c;
    return hold_ptr(h, v);
}

/* set_lock_known/2: the nodes locked (a new array, held), [me | known] */
static em_term *set_lock_known(held *h, em_term id, size_t *n)
{
    for (int times = 0;; times++) {
        size_t nn;
        em_term *nodes = known_nodes(h, &nn);
        if (nodes == NULL) {
            em_sleep(100);
            continue;
        }
        em_term boss = boss_of(nodes, nn);
        if (set_lock_on_nodes(h, id, &boss, 1)) {
            if (set_lock_on_nodes(h, id, nodes, nn)) {
                size_t nn2;
                em_term *now = known_nodes(h, &nn2);
                bool same = now != NULL;
                for (size_t i = 0; same && i < nn2; i++) {
                    bool had = false;
                    for (size_t j = 0; j < nn; j++)
                        had |= nodes[j] == now[i];
                    same = had;
                }
                unhold_ptr(h, now);
                if (same) {
                    *n = nn;
                    return nodes;
                }
            }
            del_lock_on(h, id, &boss, 1);
        }
        unhold_ptr(h, nodes);
        random_sleep(times);
    }
}

/* the registrar's work under the lock: register_name/3's and
 * unregister_name/1's funs */
static em_term trans_op(held *h, em_term op, const em_term *nodes, size_t n)
{
    if (em_tuple_get(op, 0) == A("unregister")) {
        em_term req = hold(h, em_tuple(2, A("unregister"), em_dup(em_tuple_get(op, 1))));
        multi_call(h, nodes, n, req, NULL, NULL);
        unhold(h, req);
        return A("ok");
    }
    em_term name = em_tuple_get(op, 1), pid = em_tuple_get(op, 2);
    lock_g();
    em_term w = where(name);
    em_term other = EM_NONE; /* check_dupname/2 */
    /* the first other name is enough (a merge may have given pid more) */
    for (size_t i = 0; i < G.nnames && w == EM_NONE && other == EM_NONE; i++)
        if (em_equal(G.names[i].pid, pid))
            other = em_dup(G.names[i].name);
    unlock_g();
    if (w != EM_NONE) {
        em_drop(w);
        em_drop(other);
        return A("no");
    }
    if (other != EM_NONE) {
        char buf[200];
        em_term t = em_tuple(2, em_dup(pid), em_list(2, em_dup(name), other));
        em__print_head(buf, sizeof buf, t, EM_PRINT_W);
        em_drop(t);
        em__dist_log("global: registered under several names: %s", buf);
        return A("no");
    }
    multi_call(h, nodes, n, op, NULL, NULL);
    return A("yes");
}

static void registrar_free(void *arg)
{
    held_release(arg);
    free(arg);
}

static void registrar_main(void *arg)
{
    (void)arg;
    held *h = calloc(1, sizeof *h);
    if (h == NULL || em_on_exit(registrar_free, h) < 0) {
        free(h);
        em_exit(A("system_limit"));
    }
    em_term id = hold(h, em_tuple(2, A("global"), em_self()));
    for (;;) {
        /* Only the server's {trans_all_known, Op, From} with an op the
         * public calls make; its pid is known to other nodes (it takes
         * their locks), so anything else is dropped, not left to pile up. */
        em_term m, op, from;
        if (em_receive_any(EM_INFINITY, &m) < 0)
            continue;
        if (em_tuple_size(m) != 3 || em_tuple_get(m, 0) != A("trans_all_known"))
            continue;
        op = em_tuple_get(m, 1);
        from = em_tuple_get(m, 2);
        em_term k = em_tuple_get(op, 0);
        bool good_op = (k == A("register") && em_tuple_size(op) == 4 && is_pid(em_tuple_get(op, 2))) ||
                       (k == A("unregister") && em_tuple_size(op) == 2);
        if (!good_op || em_tuple_size(from) != 2 || !is_pid(em_tuple_get(from, 0))) {
            drop_bad("registrar: malformed request", m);
            continue;
        }
        op = hold(h, em_dup(op));
        from = hold(h, em_dup(from));
        size_t n = 0;
        em_term *nodes = set_lock_known(h, id, &n);
        em_term result = trans_op(h, op, nodes, n);
        delete_global_lock(h, id, nodes, n);
        unhold_ptr(h, nodes);
        em_reply(from, result);
        unhold(h, op);
        unhold(h, from);
    }
}

/* ---- the server ---- */

/* The server's exit hook (arg: its pid): its tables go, and it stops
 * being the node's server unless a newer one already is.  A server
 * killed inside handle (a kill pending at one of its signal points, such
 * as em_node_stop's) died holding G.mu, taken on the scheduler thread this
 * hook runs on: it is not taken again. */
static void gns_free(void *arg)
{
    em_term self = (em_term)(uintptr_t)arg;
    if (!atomic_compare_exchange_strong(&gns_in_handle, &self, EM_NONE))
        lock_g();
    em_drop(gns_stop);
    gns_stop = EM_NONE;
    if (G.gns == (em_term)(uintptr_t)arg) {
        G.running = false;
        G.gns = G.locker = G.registrar = EM_NONE;
    }
    for (size_t i = 0; i < G.nnames; i++) {
        em_drop(G.names[i].name);
        em_drop(G.names[i].pid);
        em_drop(G.names[i].method);
        em_drop(G.names[i].mref);
    }
    free(G.names);
    G.names = NULL;
    G.nnames = G.capnames = 0;
    for (size_t i = 0; i < G.nlocks; i++) {
        for (size_t j = 0; j < G.locks[i].nh; j++) {
            em_drop(G.locks[i].h[j].pid);
            em_drop(G.locks[i].h[j].mref);
        }
        free(G.locks[i].h);
        em_drop(G.locks[i].res);
        em_drop(G.locks[i].req);
    }
    free(G.locks);
    G.locks = NULL;
    G.nlocks = G.caplocks = 0;
    for (size_t i = 0; i < G.nnodes; i++) {
        gnode *g = &G.nodes[i];
        reset_node_state(g);
        em_drop(g->res_tag);
        em_drop(g->resolver);
    }
    free(G.nodes);
    G.nodes = NULL;
    G.nnodes = G.capnodes = 0;
    for (size_t i = 0; i < G.nsyncers; i++) {
        em_drop(G.syncers[i].from);
        free(G.syncers[i].nodes);
    }
    free(G.syncers);
    G.syncers = NULL;
    G.nsyncers = G.capsyncers = 0;
    for (size_t i = 0; i < G.nlost; i++) {
        em_drop(G.lost[i].xcre);
        em_drop(G.lost[i].opid);
    }
    free(G.lost);
    G.lost = NULL;
    G.nlost = G.caplost = 0;
    G.global_lock_down = false;
    unlock_g();
    for (size_t i = 0; i < nob; i++) {
        em_drop(ob[i].to);
        em_drop(ob[i].msg);
    }
    free(ob);
    ob = NULL;
    nob = capob = 0;
    for (size_t i = ifl; i < nfl; i++) {
        em_drop(fl[i].to);
        em_drop(fl[i].msg);
    }
    free(fl);
    fl = NULL;
    nfl = ifl = 0;
}

static void gns_main(void *arg)
{
    (void)arg;
    if (em_on_exit(gns_free, (void *)(uintptr_t)em_self()) < 0 || !em__register_self(A("global_name_server")))
        return;
    em_trap_exit(true);
    em_term locker = em_spawn_link(locker_main, (void *)(uintptr_t)em_self()); /* a local pid: an immediate */
    em_term registrar = em_spawn_link(registrar_main, NULL);
    if (locker == EM_NONE || registrar == EM_NONE)
        em_exit(A("system_limit"));
    lock_g();
    G.locker = locker;
    G.registrar = registrar;
    unlock_g();
    /* subscribed to nodeup/nodedown by em__global_start already */
    for (;;) {
        em_term m;
        if (em_receive_any(EM_INFINITY, &m) < 0)
            continue;
        lock_g();
        atomic_store(&gns_in_handle, em_self());
        handle(m);
        atomic_store(&gns_in_handle, EM_NONE);
        unlock_g();
        out_flush();
        if (gns_stop != EM_NONE)
            em_exit(em_dup(gns_stop)); /* gns_free drops gns_stop */
    }
}

em_term em__global_start(bool connect_all)
{
    atomic_store(&em__global_whereis, em_global_whereis);
    em_export("global", "resolve_it", 4, bi_resolve_it); /* EM_EEXIST: the program's own wins */
    /* The server of an earlier em_node_start, killed by em_node_stop, may
     * still be on its way out: its exit hook frees the tables.  Wait for
     * it (a second at most), as em__register_self waits for its name. */
    for (int i = 0; i < 100; i++) {
        lock_g();
        bool old = G.gns != EM_NONE && em_is_alive(G.gns);
        unlock_g();
        if (!old)
            break;
        em__sleep_quiet(10); /* em_node_start holds its lock: no signal point */
    }
    em_term pid = em_spawn(gns_main, NULL);
    if (pid == EM_NONE)
        return pid;
    /* running from now on: a call made before it first runs waits in its
     * mailbox (kv registers its server as the node starts) */
    lock_g();
    G.gns = pid;
    G.connect_all = connect_all;
    G.global_lock_down = false;
    G.running = true;
    unlock_g();
    em_register(A("global_name_server"), pid); /* taken still: it registers itself */
    /* net_kernel:monitor_nodes for it now, before the node accepts: a
     * connection that comes up before the server first runs is not missed */
    if (em__node_sub_add(pid, EM_NONE) < 0) {
        em_exit_pid(pid, A("kill"));
        return EM_NONE;
    }
    return pid;
}

/* ---- public ---- */

static em_term server(void)
{
    lock_g();
    em_term s = G.running ? G.gns : EM_NONE;
    unlock_g();
    return s;
}

/* register_name/2's default resolver, fun global:random_exit_name/3 */
static em_term default_method(void)
{
    static const uint8_t b[] = {131, 113, 119, 6,   'g', 'l', 'o', 'b', 'a', 'l', 119, 16,  'r', 'a', 'n', 'd',
                                'o', 'm', '_', 'e', 'x', 'i', 't', '_', 'n', 'a', 'm', 'e', 97, 3};
    em_term f = EM_NONE;
    size_t off = 0;
    if (em_etf_decode(b, sizeof b, &off, NULL, &f) < 0)
        return EM_NONE;
    return f;
}

static int trans(em_term op)
{
    em_term s = server();
    if (s == EM_NONE) {
        em_drop(op);
        return EM_ESTATE;
    }
    em_term r = EM_NONE;
    int rc = em_call(s, em_tuple(2, A("registrar"), op), EM_INFINITY, &r);
    if (rc == EM_ENOPROC || rc == EM_EEXIT)
        rc = EM_ESTATE;
    if (rc == 0 && r == A("no"))
        rc = EM_EEXIST;
    em_drop(r);
    return rc;
}

EM_API int em_global_register(em_term name, em_term pid)
{
    if (name == EM_NONE || !is_pid(pid))
        return EM_EBADARG;
    em_term m = default_method();
    if (m == EM_NONE)
        return EM_ENOMEM;
    return trans(em_tuple(4, A("register"), em_dup(name), em_dup(pid), m));
}

EM_API int em_global_unregister(em_term name)
{
    if (name == EM_NONE)
        return EM_EBADARG;
    em_term w = em_global_whereis(name);
    if (w == EM_NONE)
        return server() == EM_NONE ? EM_ESTATE : 0;
    em_drop(w);
    return trans(em_tuple(2, A("unregister"), em_dup(name)));
}

EM_API em_term em_global_whereis(em_term name)
{
    lock_g();
    em_term p = G.running && name != EM_NONE ? where(name) : EM_NONE;
    unlock_g();
    return p;
}

EM_API em_term em_global_registered_names(void)
{
    lock_g();
    em_term l = EM_NIL;
    for (size_t i = 0; G.running && i < G.nnames; i++)
        l = em_cons(em_dup(G.names[i].name), l);
    unlock_g();
    return l;
}

EM_API int em_global_send(em_term name, em_term msg)
{
    em_term p = em_global_whereis(name);
    if (p == EM_NONE) {
        em_drop(msg);
        return server() == EM_NONE ? EM_ESTATE : EM_ENOTFOUND;
    }
    int rc = em__send_quiet(p, msg); /* no signal point while p is held */
    em_drop(p);
    return rc;
}

EM_API int em_global_sync(int64_t timeout_ms)
{
    em_term s = server();
    if (s == EM_NONE)
        return EM_ESTATE;
    if (timeout_ms < 0 && timeout_ms != EM_INFINITY)
        return EM_EINVAL;
    em_term req = em_tuple(2, A("sync"), em__dconn_nodes(true));
    if (req == EM_NONE)
        return EM_ENOMEM;
    int rc = em_call(s, req, timeout_ms, NULL);
    return rc == EM_ENOPROC || rc == EM_EEXIT ? EM_ESTATE : rc;
}
