/* pg.c: process groups (<ember/pg.h>): a scope is a process registered
 * under the scope's name that speaks OTP's pg.erl protocol (kernel 8.5,
 * OTP 25) with the scopes of the same name on other nodes, and the member
 * table any thread reads.  docs/pg.md maps it to pg.erl.
 *
 * What a scope receives and does ("peer" is always another node's scope
 * pid; every message is checked before anything is changed, and one that
 * is malformed is logged once and dropped -- pg.erl crashes on it, ember
 * does not):
 *   {discover, Peer} (and OTP 26's {discover, Peer, Vsn})
 *       send Peer {'$gen_cast', {sync, Self, LocalGroups}}; a new peer is
 *       monitored, remembered and sent {discover, Self};
 *   {'$gen_cast', {sync, Peer, [{Group, [Pid]}]}}
 *       what Peer has replaces what was known of it; a new peer is
 *       monitored, remembered and sent our sync at once (see INVARIANT);
 *   {join, Peer, Group, Pid | [Pid]}, {leave, Peer, Pid | [Pid], [Group]}
 *       applied to Peer's members if Peer is known, else ignored (pg.erl);
 *   {'DOWN', Ref, process, Pid, _}
 *       a local member exited: it leaves all its groups, and the peers get
 *       {leave, Self, Pid, Groups}; or a peer ended (or its connection was
 *       lost: noconnection): all its members go;
 *   {nodeup, Node}
 *       send {Scope, Node} {discover, Self} if Node publishes itself;
 *   {'$gen_call', From, {join_local, Group, PidOrPids}} and
 *   {'$gen_call', From, {leave_local, Group, PidOrPids}}
 *       from em_pg_join / em_pg_leave (pg:join and pg:leave's calls): the
 *       table, the member monitors, and {join, Self, Group, PidOrPids} or
 *       {leave, Self, PidOrPids, [Group]} to every peer.
 *
 * INVARIANT (peers): every peer in `remote` has been sent our full sync
 * before any join or leave.  A peer's view of our groups is then exactly
 * ours (sync, then each change, in order on one connection), so a leave we
 * send names a group the peer has: OTP 25's pg crashes on a leave for a
 * group it was never told of.  pg.erl itself may send a leave between a
 * peer's sync and its discover; ember answers a sync from an unknown peer
 * with its own sync to keep the invariant.
 *
 * Memory: the member lists are Erlang lists (immutable, shared): a reader
 * takes a reference to the list under the lock, no copy.  The scope's own
 * tables (local members with their monitors, peers with their groups) are
 * touched only by the scope process.
 */
#include <stdlib.h>
#include <string.h>

#include <ember/call.h>
#include <ember/pg.h>

#include "dist_int.h"
#include "../runtime/remote.h"
#include "../term/term_seam.h"

#define A(s) em_atom(s)

/* ---- a small hash table of terms ----
 * Keys compare with =:=.  Per table, a and b hold (all owned):
 *   groups: key Group, a all members, b local members (lists);
 *   local:  key Pid,   a its monitor,  b its groups (a list, a group once
 *                                        per join, the latest first);
 *   remote: key Peer,  a its monitor,  sub its groups (key Group, a pids). */
typedef struct pg_ent {
    struct pg_ent *next;
    uint64_t hash;
    em_term key, a, b;
    struct pg_tab *sub;
} pg_ent;

typedef struct pg_tab {
    pg_ent **slot; /* nslot chains, nslot a power of 2 */
    size_t nslot, n;
} pg_tab;

static void tab_clear(pg_tab *t);

static pg_ent *tab_find(const pg_tab *t, em_term key)
{
    if (t->n == 0)
        return NULL;
    uint64_t h = em_hash(key);
    for (pg_ent *e = t->slot[h & (t->nslot - 1)]; e != NULL; e = e->next)
        if (e->hash == h && em_equal(e->key, key))
            return e;
    return NULL;
}

/* A new entry for key (borrowed), a and b [], or NULL (no memory). */
static pg_ent *tab_add(pg_tab *t, em_term key)
{
    if (t->n >= t->nslot) {
        size_t ns = t->nslot ? t->nslot * 2 : 16;
        pg_ent **s = calloc(ns, sizeof *s);
        if (s == NULL)
            return NULL;
        for (size_t i = 0; i < t->nslot; i++) {
            for (pg_ent *e = t->slot[i], *nx; e != NULL; e = nx) {
                nx = e->next;
                e->next = s[e->hash & (ns - 1)];
                s[e->hash & (ns - 1)] = e;
            }
        }
        free(t->slot);
        t->slot = s;
        t->nslot = ns;
    }
    pg_ent *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->hash = em_hash(key);
    e->key = em_dup(key);
    e->a = e->b = EM_NIL;
    pg_ent **head = &t->slot[e->hash & (t->nslot - 1)];
    e->next = *head;
    *head = e;
    t->n++;
    return e;
}

static void ent_free(pg_ent *e)
{
    em_drop(e->key);
    em_drop(e->a);
    em_drop(e->b);
    if (e->sub != NULL) {
        tab_clear(e->sub);
        free(e->sub);
    }
    free(e);
}

static void tab_del(pg_tab *t, pg_ent *e)
{
    for (pg_ent **p = &t->slot[e->hash & (t->nslot - 1)]; *p != NULL; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            t->n--;
            ent_free(e);
            return;
        }
    }
}

static void tab_clear(pg_tab *t)
{
    for (size_t i = 0; i < t->nslot; i++) {
        for (pg_ent *e = t->slot[i], *nx; e != NULL; e = nx) {
            nx = e->next;
            ent_free(e);
        }
    }
    free(t->slot);
    memset(t, 0, sizeof *t);
}

/* ---- lists ---- */

/* Whether t is a pid (of this node, if local_only). */
static bool is_pid(em_term t, bool local_only)
{
    em__dest d;
    return em_typeof(t) == EM_TYPE_PID && (!local_only || em__dest_classify(t, &d) == EM__DEST_LOCAL_PID);
}

/* pid or a proper list of pids: their number (a pid: 1), else -1.  A list
 * of lists is not one of pids (nor walked deeper: it may come from any
 * node). */
static long pids_count(em_term pids, bool local_only)
{
    if (em_typeof(pids) == EM_TYPE_PID)
        return is_pid(pids, local_only) ? 1 : -1;
    long n = em_list_length(pids);
    if (n < 0)
        return -1;
    for (em_term l = pids; l != EM_NIL; l = em_tl(l))
        if (!is_pid(em_hd(l), local_only))
            return -1;
    return n;
}

/* Pids ++ l, pids a pid or a list of them (borrowed); takes l.  EM_NONE
 * when out of memory. */
static em_term list_prepend(em_term pids, em_term l)
{
    if (em_typeof(pids) == EM_TYPE_PID)
        return em_cons(em_dup(pids), l);
    long n = em_list_length(pids);
    if (n <= 0)
        return l;
    em_term *v = malloc((size_t)n * sizeof *v);
    if (v == NULL) {
        em_drop(l);
        return EM_NONE;
    }
    long i = 0;
    for (em_term x = pids; x != EM_NIL; x = em_tl(x))
        v[i++] = em_dup(em_hd(x));
    em_term r = em_listv_tail((size_t)n, v, l);
    free(v);
    return r;
}

/* lists:delete(X, L): *l without its first X (the rest shared); false
 * (and *l unchanged) when it has none.  On no memory *l becomes []. */
static bool list_remove1(em_term *l, em_term x)
{
    size_t k = 0;
    em_term p = *l;
    for (; p != EM_NIL && em_typeof(p) == EM_TYPE_LIST; p = em_tl(p), k++)
        if (em_equal(em_hd(p), x))
            break;
    if (p == EM_NIL || em_typeof(p) != EM_TYPE_LIST)
        return false;
    em_term *v = k ? malloc(k * sizeof *v) : NULL;
    em_term r = EM_NONE;
    if (k == 0 || v != NULL) {
        size_t i = 0;
        for (em_term q = *l; i < k; q = em_tl(q))
            v[i++] = em_dup(em_hd(q));
        r = em_listv_tail(k, v, em_dup(em_tl(p)));
    }
    free(v);
    em_drop(*l);
    *l = r != EM_NONE ? r : EM_NIL;
    return true;
}

/* ---- scopes and their member tables ---- */

/* A scope is in `scopes` from its spawn to its process's end, and owned by
 * its process: freed by its exit hook, or, when the process was killed
 * before it ever ran (no hook then), by the next scope_new. */
typedef struct pg_scope {
    struct pg_scope *next;  /* in `scopes` (pg_lock) */
    em_term name;           /* the scope (an atom) */
    em_term pid;            /* its process (pg_lock) */
    bool live;              /* readers see it: running, registered, and no
                               newer scope of the name (pg_lock) */
    bool self_register;     /* the node's scope: it registers itself */
    pg_tab groups;          /* the member table (pg_lock; written by the
                               scope process only) */
    pg_tab local, remote;   /* the scope process's own */
} pg_scope;

/* pg_lock guards the list of scopes and every scope's member table. */
static pthread_mutex_t pg_lock = PTHREAD_MUTEX_INITIALIZER;
static pg_scope *scopes;

/* The live scope of that name (pg_lock held), or NULL. */
static pg_scope *scope_find(em_term name)
{
    for (pg_scope *s = scopes; s != NULL; s = s->next)
        if (s->name == name && s->live)
            return s;
    return NULL;
}

static void scope_free(void *arg)
{
    pg_scope *s = arg;
    pthread_mutex_lock(&pg_lock);
    for (pg_scope **p = &scopes; *p != NULL; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    tab_clear(&s->groups);
    pthread_mutex_unlock(&pg_lock);
    tab_clear(&s->local);
    tab_clear(&s->remote);
    free(s);
}

static void scope_log(pg_scope *s, const char *what, em_term t)
{
    char buf[240];
    em__print_head(buf, sizeof buf, t, EM_PRINT_W); /* t may be huge */
    em__dist_log("pg scope %s: %s: %s", em_atom_text(s->name, NULL), what, buf);
}

/* The table (pg_lock held): pids (a pid or a list, borrowed) join group;
 * with local, as local members too. */
static void grp_join(pg_scope *s, em_term group, em_term pids, bool local)
{
    if (pids == EM_NIL)
        return;
    pg_ent *g = tab_find(&s->groups, group);
    if (g == NULL && (g = tab_add(&s->groups, group)) == NULL) {
        scope_log(s, "out of memory: a join is lost", group);
        return;
    }
    g->a = list_prepend(pids, g->a);
    if (local)
        g->b = list_prepend(pids, g->b);
    if (g->a == EM_NONE || g->b == EM_NONE) {
        scope_log(s, "out of memory: a group is lost", group);
        tab_del(&s->groups, g);
    }
}

/* The table (pg_lock held): one of pid's memberships of group ends. */
static void grp_leave1(pg_scope *s, em_term group, em_term pid, bool local)
{
    pg_ent *g = tab_find(&s->groups, group);
    if (g == NULL)
        return;
    list_remove1(&g->a, pid);
    if (local)
        list_remove1(&g->b, pid);
    if (g->a == EM_NIL)
        tab_del(&s->groups, g);
}

static void grp_leave(pg_scope *s, em_term group, em_term pids, bool local)
{
    if (em_typeof(pids) == EM_TYPE_PID)
        grp_leave1(s, group, pids, local);
    else
        for (em_term l = pids; l != EM_NIL; l = em_tl(l))
            grp_leave1(s, group, em_hd(l), local);
}

/* ---- sending ---- */

/* Whether node gets our discover: it is connected and publishes itself
 * (what pg.erl's nodeup and nodes() give on a visible node). */
static bool discoverable(em_term node)
{
    em__dconn *c = em__dconn_get(node, false, NULL);
    if (c == NULL)
        return false;
    bool yes = atomic_load(&c->state) == EM__C_UP && c->peer_published;
    em__dconn_put(c);
    return yes;
}

static void send_discover(pg_scope *s, em_term node)
{
    if (node == em_local_node(NULL) || !discoverable(node))
        return;
    em_term to = em_tuple(2, s->name, node);
    em__dist_ops_send_noconnect(to, em_tuple(2, A("discover"), em_self()));
    em_drop(to);
}

/* msg (taken) to every peer. */
static void broadcast(pg_scope *s, em_term msg)
{
    for (size_t i = 0; i < s->remote.nslot; i++)
        for (pg_ent *e = s->remote.slot[i]; e != NULL; e = e->next)
            em__dist_ops_send_noconnect(e->key, em_dup(msg));
    em_drop(msg);
}

/* [{Group, LocalPids}] for every group with local members. */
static em_term local_groups(pg_scope *s)
{
    em_term l = EM_NIL;
    for (size_t i = 0; i < s->groups.nslot; i++)
        for (pg_ent *e = s->groups.slot[i]; e != NULL; e = e->next)
            if (e->b != EM_NIL)
                l = em_cons(em_tuple(2, em_dup(e->key), em_dup(e->b)), l);
    return l;
}

static void send_sync(pg_scope *s, em_term peer)
{
    em_term sync = em_tuple(3, A("sync"), em_self(), local_groups(s));
    em__dist_ops_send_noconnect(peer, em_tuple(2, A("$gen_cast"), sync));
}

/* ---- what the scope does ---- */

/* A new peer: monitored, remembered, sent our sync (the INVARIANT). */
static pg_ent *peer_add(pg_scope *s, em_term peer)
{
    pg_ent *p = tab_add(&s->remote, peer);
    pg_tab *sub = calloc(1, sizeof *sub);
    if (p == NULL || sub == NULL) {
        free(sub);
        if (p != NULL)
            tab_del(&s->remote, p);
        scope_log(s, "out of memory: a peer is not remembered", peer);
        return NULL;
    }
    p->sub = sub;
    p->a = em_monitor(peer);
    send_sync(s, peer);
    return p;
}

static void on_discover(pg_scope *s, em_term peer)
{
    if (tab_find(&s->remote, peer) != NULL) {
        send_sync(s, peer);
        return;
    }
    if (peer_add(s, peer) != NULL)
        em__dist_ops_send_noconnect(peer, em_tuple(2, A("discover"), em_self()));
}

/* groups: a proper list of {Group, [Pid]} (checked). */
static void on_sync(pg_scope *s, em_term peer, em_term groups)
{
    pg_ent *p = tab_find(&s->remote, peer);
    if (p == NULL && (p = peer_add(s, peer)) == NULL)
        return;
    pg_tab *old = p->sub, *nw = calloc(1, sizeof *nw);
    if (nw == NULL) {
        scope_log(s, "out of memory: a sync is lost", peer);
        return;
    }
    pthread_mutex_lock(&pg_lock);
    for (em_term l = groups; l != EM_NIL; l = em_tl(l)) {
        em_term group = em_tuple_get(em_hd(l), 0), pids = em_tuple_get(em_hd(l), 1);
        pg_ent *o = tab_find(old, group), *n = tab_find(nw, group);
        if (o != NULL && n == NULL && em_equal(o->a, pids) && (n = tab_add(nw, group)) != NULL) {
            n->a = o->a; /* unchanged: the table stays as it is */
            o->a = EM_NIL;
            tab_del(old, o);
            continue;
        }
        if (o != NULL) {
            grp_leave(s, group, o->a, false);
            tab_del(old, o);
        }
        if (pids == EM_NIL)
            continue; /* no empty group (pg.erl would make one) */
        if (n == NULL && (n = tab_add(nw, group)) == NULL) {
            scope_log(s, "out of memory: a join is lost", group);
            continue;
        }
        grp_join(s, group, pids, false);
        n->a = list_prepend(pids, n->a);
        if (n->a == EM_NONE)
            n->a = EM_NIL;
    }
    for (size_t i = 0; i < old->nslot; i++) /* groups it no longer has */
        for (pg_ent *o = old->slot[i]; o != NULL; o = o->next)
            grp_leave(s, o->key, o->a, false);
    pthread_mutex_unlock(&pg_lock);
    tab_clear(old);
    free(old);
    p->sub = nw;
}

static void on_join(pg_scope *s, em_term peer, em_term group, em_term pids)
{
    pg_ent *p = tab_find(&s->remote, peer);
    if (p == NULL || pids == EM_NIL)
        return; /* not (or no longer) a peer: as pg.erl */
    pg_ent *g = tab_find(p->sub, group);
    if (g == NULL && (g = tab_add(p->sub, group)) == NULL) {
        scope_log(s, "out of memory: a join is lost", group);
        return;
    }
    pthread_mutex_lock(&pg_lock);
    grp_join(s, group, pids, false);
    pthread_mutex_unlock(&pg_lock);
    g->a = list_prepend(pids, g->a);
    if (g->a == EM_NONE)
        g->a = EM_NIL;
}

/* Only what the peer had is taken out: a pid or a group it never announced
 * is skipped (pg.erl would crash on the group: badkey). */
static void on_leave(pg_scope *s, em_term peer, em_term pids, em_term groups)
{
    pg_ent *p = tab_find(&s->remote, peer);
    if (p == NULL)
        return;
    bool unknown = false;
    pthread_mutex_lock(&pg_lock);
    for (em_term gl = groups; gl != EM_NIL; gl = em_tl(gl)) {
        em_term group = em_hd(gl);
        pg_ent *g = tab_find(p->sub, group);
        if (g == NULL) {
            unknown = true;
            continue;
        }
        if (em_typeof(pids) == EM_TYPE_PID) {
            if (list_remove1(&g->a, pids))
                grp_leave1(s, group, pids, false);
        } else {
            for (em_term l = pids; l != EM_NIL; l = em_tl(l))
                if (list_remove1(&g->a, em_hd(l)))
                    grp_leave1(s, group, em_hd(l), false);
        }
        if (g->a == EM_NIL)
            tab_del(p->sub, g);
    }
    pthread_mutex_unlock(&pg_lock);
    if (unknown)
        scope_log(s, "a leave names a group the peer never joined (skipped)", groups);
}

/* A monitor fired: a local member exited, or a peer is gone.  false if the
 * reference is neither's. */
static bool on_down(pg_scope *s, em_term ref, em_term pid)
{
    pg_ent *e = tab_find(&s->local, pid);
    if (e != NULL && em_equal(e->a, ref)) {
        em_term groups = em_dup(e->b);
        pthread_mutex_lock(&pg_lock);
        for (em_term l = groups; l != EM_NIL; l = em_tl(l))
            grp_leave1(s, em_hd(l), pid, true);
        pthread_mutex_unlock(&pg_lock);
        tab_del(&s->local, e);
        broadcast(s, em_tuple(4, A("leave"), em_self(), em_dup(pid), groups));
        return true;
    }
    e = tab_find(&s->remote, pid);
    if (e != NULL && em_equal(e->a, ref)) {
        pthread_mutex_lock(&pg_lock);
        for (size_t i = 0; i < e->sub->nslot; i++)
            for (pg_ent *g = e->sub->slot[i]; g != NULL; g = g->next)
                grp_leave(s, g->key, g->a, false);
        pthread_mutex_unlock(&pg_lock);
        tab_del(&s->remote, e);
        return true;
    }
    return false;
}

/* pg:join's call: pids checked (local). */
static em_term call_join(pg_scope *s, em_term group, em_term pids)
{
    if (pids == EM_NIL)
        return A("ok");
    bool single = em_typeof(pids) == EM_TYPE_PID;
    for (em_term l = pids; single || l != EM_NIL; l = em_tl(l)) {
        em_term pid = single ? pids : em_hd(l);
        pg_ent *e = tab_find(&s->local, pid);
        if (e == NULL) {
            if ((e = tab_add(&s->local, pid)) == NULL)
                return A("out_of_memory");
            e->a = em_monitor(pid);
        }
        em_term g = em_cons(em_dup(group), e->b);
        e->b = g != EM_NONE ? g : EM_NIL;
        if (single)
            break;
    }
    pthread_mutex_lock(&pg_lock);
    grp_join(s, group, pids, true);
    pthread_mutex_unlock(&pg_lock);
    broadcast(s, em_tuple(4, A("join"), em_self(), em_dup(group), em_dup(pids)));
    return A("ok");
}

/* pg:leave's call: pids checked (local). */
static em_term call_leave(pg_scope *s, em_term group, em_term pids)
{
    bool single = em_typeof(pids) == EM_TYPE_PID, changed = false;
    for (em_term l = pids; single || l != EM_NIL; l = em_tl(l)) {
        em_term pid = single ? pids : em_hd(l);
        pg_ent *e = tab_find(&s->local, pid);
        if (e != NULL && list_remove1(&e->b, group)) {
            changed = true;
            if (e->b == EM_NIL) {
                em_demonitor(e->a, EM_DEMONITOR_FLUSH);
                tab_del(&s->local, e);
            }
        }
        if (single)
            break;
    }
    if (!changed)
        return A("not_joined");
    pthread_mutex_lock(&pg_lock);
    grp_leave(s, group, pids, true);
    pthread_mutex_unlock(&pg_lock);
    broadcast(s, em_tuple(4, A("leave"), em_self(), em_dup(pids), em_list(1, em_dup(group))));
    return A("ok");
}

/* A proper list of {Group, [Pid]} (a sync's groups). */
static bool sync_groups_ok(em_term groups)
{
    if (em_list_length(groups) < 0)
        return false;
    for (em_term l = groups; l != EM_NIL; l = em_tl(l)) {
        em_term t = em_hd(l);
        if (em_tuple_size(t) != 2 || em_typeof(em_tuple_get(t, 1)) == EM_TYPE_PID ||
            pids_count(em_tuple_get(t, 1), false) < 0)
            return false;
    }
    return true;
}

static bool is_peer(em_term t)
{
    return em_typeof(t) == EM_TYPE_PID && t != em_self();
}

/* One message; false if it is none of the scope's (malformed). */
static bool scope_handle(pg_scope *s, em_term m)
{
    long n = em_tuple_size(m);
    em_term tag = n > 0 ? em_tuple_get(m, 0) : EM_NONE;
    em_term x1 = em_tuple_get(m, 1), x2 = em_tuple_get(m, 2), x3 = em_tuple_get(m, 3);
    if (tag == A("discover") && (n == 2 || n == 3) && is_peer(x1)) {
        on_discover(s, x1);
        return true;
    }
    if (tag == A("join") && n == 4 && is_peer(x1) && pids_count(x3, false) >= 0) {
        on_join(s, x1, x2, x3);
        return true;
    }
    if (tag == A("leave") && n == 4 && is_peer(x1) && pids_count(x2, false) >= 0 && em_list_length(x3) >= 0) {
        on_leave(s, x1, x2, x3);
        return true;
    }
    if (tag == A("$gen_cast") && n == 2) {
        em_term c = x1;
        em_term peer = em_tuple_get(c, 1), groups = em_tuple_get(c, 2);
        if (em_tuple_size(c) != 3 || em_tuple_get(c, 0) != A("sync") || !is_peer(peer) || !sync_groups_ok(groups))
            return false;
        on_sync(s, peer, groups);
        return true;
    }
    if (tag == A("DOWN") && n == 5) {
        on_down(s, x1, x3); /* else a monitor ended already: as pg.erl */
        return true;
    }
    if ((tag == A("nodeup") || tag == A("nodedown")) && n == 2 && em_typeof(x1) == EM_TYPE_ATOM) {
        if (tag == A("nodeup"))
            send_discover(s, x1);
        return true; /* nodedown: the peer's DOWN does the work */
    }
    if (tag == A("$gen_call") && n == 3 && em_tuple_size(x1) == 2 && em_typeof(em_tuple_get(x1, 0)) == EM_TYPE_PID) {
        long rn = em_tuple_size(x2);
        em_term op = em_tuple_get(x2, 0), group = em_tuple_get(x2, 1), pids = em_tuple_get(x2, 2);
        em_term reply = EM_NONE;
        if (rn == 3 && pids_count(pids, true) >= 0 && op == A("join_local"))
            reply = call_join(s, group, pids);
        else if (rn == 3 && pids_count(pids, true) >= 0 && op == A("leave_local"))
            reply = call_leave(s, group, pids);
        if (reply == EM_NONE) {
            /* pg.erl crashes (badarg); the caller is told instead */
            scope_log(s, "dropped a call it does not answer", x2);
            reply = em_tuple(2, A("error"), A("badarg"));
        }
        em_reply(x1, reply);
        return true;
    }
    return false;
}

static void scope_main(void *arg)
{
    pg_scope *s = arg;
    if (s->self_register) {
        if (!em__register_self(s->name))
            return;
    } else {
        /* em_pg_start registered us, or could not */
        em_term go;
        if (em_receive(EM_INFINITY, "{'$ember_pg_start', Go}", &go) < 0 || go != A("true"))
            return;
    }
    pthread_mutex_lock(&pg_lock);
    for (pg_scope *o = scopes; o != NULL; o = o->next)
        if (o->name == s->name)
            o->live = false; /* a scope of an earlier node start, on its way out */
    s->live = true;
    pthread_mutex_unlock(&pg_lock);
    /* net_kernel:monitor_nodes(true) (without a node too: nodeups of a
     * later em_node_start reach us), then every node already connected */
    em__node_sub_add(em_self(), EM_NONE);
    em_term nodes = em_nodes();
    for (em_term l = nodes; em_typeof(l) == EM_TYPE_LIST; l = em_tl(l))
        send_discover(s, em_hd(l));
    em_drop(nodes);
    for (;;) {
        em_term m;
        if (em_receive_any(EM_INFINITY, &m) < 0)
            continue;
        if (!scope_handle(s, m))
            scope_log(s, "dropped a malformed or unexpected message", m);
    }
}

/* A new scope's process (it is in `scopes`, not live yet), or EM_NONE. */
static em_term scope_spawn(em_term name, bool self_register)
{
    pg_scope *s = calloc(1, sizeof *s);
    if (s == NULL)
        return EM_NONE;
    s->name = name;
    s->pid = EM_NONE;
    s->self_register = self_register;
    pthread_mutex_lock(&pg_lock);
    s->next = scopes;
    scopes = s;
    /* Its exit hook, given at the spawn, frees it however the process
     * ends, even killed before it ever ran. */
    em_spawn_opts o = {.on_exit = scope_free};
    em_term pid = em_spawn_opt(scope_main, s, &o);
    if (pid == EM_NONE) {
        scopes = s->next;
        free(s);
    } else {
        s->pid = pid;
    }
    pthread_mutex_unlock(&pg_lock);
    return pid;
}

/* ---- the node's scope ---- */

static em_term node_scope = EM_NONE;

em_term em__pg_node_start(void)
{
    em_term pid = scope_spawn(A("pg"), true);
    if (pid != EM_NONE)
        em_register(A("pg"), pid); /* taken still: it registers itself */
    return node_scope = pid;
}

void em__pg_node_stop(void)
{
    if (node_scope != EM_NONE)
        em_exit_pid(node_scope, A("kill"));
    node_scope = EM_NONE;
}

/* ---- public ---- */

EM_API int em_pg_start(em_term scope)
{
    if (em_typeof(scope) != EM_TYPE_ATOM || scope == A("undefined"))
        return EM_EBADARG;
    if (em_whereis(scope) != EM_NONE)
        return EM_EEXIST;
    em_term pid = scope_spawn(scope, false);
    if (pid == EM_NONE)
        return EM_ENOMEM;
    bool ok = em_register(scope, pid) == 0;
    em__send_quiet(pid, em_tuple(2, A("$ember_pg_start"), em_bool(ok)));
    return ok ? 0 : EM_EEXIST;
}

static int pg_call(em_term scope, const char *op, em_term group, em_term pids)
{
    if (em_typeof(scope) != EM_TYPE_ATOM || group == EM_NONE || pids_count(pids, true) < 0)
        return EM_EBADARG;
    em_term reply = EM_NONE;
    int rc = em_call(scope, em_tuple(3, A(op), em_dup(group), em_dup(pids)), EM_INFINITY, &reply);
    if (rc == EM_EEXIT || rc == EM_EBADARG)
        rc = EM_ENOPROC; /* no such scope, or it ended during the call */
    else if (rc == 0 && reply == A("not_joined"))
        rc = EM_ENOTFOUND;
    else if (rc == 0 && reply == A("out_of_memory"))
        rc = EM_ENOMEM;
    else if (rc == 0 && reply != A("ok"))
        rc = EM_EBADARG;
    em_drop(reply);
    return rc;
}

EM_API int em_pg_join(em_term scope, em_term group, em_term pids)
{
    return pg_call(scope, "join_local", group, pids);
}

EM_API int em_pg_leave(em_term scope, em_term group, em_term pids)
{
    return pg_call(scope, "leave_local", group, pids);
}

static em_term read_members(em_term scope, em_term group, bool local)
{
    em_term r = EM_NIL;
    pthread_mutex_lock(&pg_lock);
    pg_scope *s = em_typeof(scope) == EM_TYPE_ATOM ? scope_find(scope) : NULL;
    pg_ent *g = s != NULL && group != EM_NONE ? tab_find(&s->groups, group) : NULL;
    if (g != NULL)
        r = em_dup(local ? g->b : g->a);
    pthread_mutex_unlock(&pg_lock);
    return r;
}

EM_API em_term em_pg_get_members(em_term scope, em_term group)
{
    return read_members(scope, group, false);
}

EM_API em_term em_pg_get_local_members(em_term scope, em_term group)
{
    return read_members(scope, group, true);
}

EM_API em_term em_pg_which_groups(em_term scope)
{
    em_term l = EM_NIL;
    pthread_mutex_lock(&pg_lock);
    pg_scope *s = em_typeof(scope) == EM_TYPE_ATOM ? scope_find(scope) : NULL;
    for (size_t i = 0; s != NULL && i < s->groups.nslot; i++)
        for (pg_ent *e = s->groups.slot[i]; e != NULL; e = e->next)
            l = em_cons(em_dup(e->key), l);
    pthread_mutex_unlock(&pg_lock);
    return l;
}
