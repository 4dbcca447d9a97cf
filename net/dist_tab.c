/* dist_tab.c: the node table -- one connection (em__dconn) per other
 * node -- and what goes with it: a connection's lifetime, the redial
 * back-off, a connection going down, node monitoring; and the node's
 * configuration (em__nd) and log, which every level above reads.
 *
 * An entry is in the table from the moment a connection is wanted
 * (PENDING) until it goes down (DEAD: removed first, so the next send makes
 * a fresh entry and a fresh connection).  One mutex guards the table; each
 * entry has its own lock (state, out-queue).  Lock order: table, then
 * entry.
 *
 * Beside it, under the same mutex, the back-off list: a node whose
 * connection attempt of ours failed is not dialled again on demand for
 * EM__REDIAL_BACKOFF_MS (what is sent to it meanwhile is dropped, as after
 * any failed attempt), and its record stays until a connection to it comes
 * up, so that a failure episode is logged once, not once per attempt.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dist_tab.h"
#include "log.h"
#include "../runtime/poke.h"
#include "../runtime/remote.h"

em__node em__nd;

static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
static em__dconn **tab;
static size_t ntab, captab;
static _Atomic uint64_t owners;

uint64_t em__next_owner(void)
{
    return atomic_fetch_add(&owners, 1) + 1;
}

/* A log line of node `name` ("" before it has one: "-"); the one place
 * of the node's line head. */
__attribute__((format(printf, 2, 0))) static void vlog_as(const char *name, const char *fmt, va_list ap)
{
    char head[EM__NODE_NAME_MAX + 16];
    snprintf(head, sizeof head, "=ember dist %s=", name[0] ? name : "-");
    em__log_vline(head, fmt, ap);
}

void em__dist_log_as(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog_as(name, fmt, ap);
    va_end(ap);
}

void em__dist_log(const char *fmt, ...)
{
    if (em__nd.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog_as(em__nd.name_s, fmt, ap);
    va_end(ap);
}

/* ---- the node table ---- */

static void dconn_free(em__dconn *c)
{
    em__oq_drop(c, c->head);
    em__oq_trim(c);
    if (c->fd >= 0)
        close(c->fd);
    if (c->wfd >= 0)
        close(c->wfd);
    if (c->evfd >= 0)
        close(c->evfd);
    free(c->rbuf);
    free(c->held);
    em_drop(c->rpk);
    em_drop(c->rcache.ctl);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void em__dconn_put(em__dconn *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        dconn_free(c);
}

/* The entry for node (+1 ref), or a new PENDING one when create (tab_lock
 * held). */
static em__dconn *tab_get(em_term node, bool create, bool *created)
{
    for (size_t i = 0; i < ntab; i++) {
        if (tab[i]->node == node) {
            em__dconn *c = tab[i];
            atomic_fetch_add(&c->refs, 1);
            return c;
        }
    }
    if (!create || !em__nd.up)
        return NULL;
    if (ntab == captab) {
        size_t nc = captab ? 2 * captab : 16;
        em__dconn **nt = realloc(tab, nc * sizeof *nt);
        if (nt == NULL)
            return NULL;
        tab = nt;
        captab = nc;
    }
    em__dconn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    atomic_init(&c->refs, 2); /* the table's and the caller's */
    c->node = node;
    pthread_mutex_init(&c->lock, NULL);
    c->state = EM__C_PENDING;
    c->owner = em__next_owner(); /* the attempt that may bring it up */
    c->fd = c->wfd = c->evfd = -1;
    c->reader = c->writer = EM_NONE;
    c->rcache.ctl = EM_NONE;
    tab[ntab++] = c;
    if (created)
        *created = true;
    return c;
}

em__dconn *em__dconn_get(em_term node, bool create, bool *created)
{
    if (created)
        *created = false;
    pthread_mutex_lock(&tab_lock);
    em__dconn *c = tab_get(node, create, created);
    pthread_mutex_unlock(&tab_lock);
    return c;
}

bool em__dconn_is_up(em_term node)
{
    em__dconn *c = em__dconn_get(node, false, NULL);
    if (c == NULL)
        return false;
    bool up = atomic_load(&c->state) == EM__C_UP;
    em__dconn_put(c);
    return up;
}

/* ---- the redial back-off ---- */

typedef struct bar {
    em_term node;  /* an atom */
    int64_t until; /* monotonic ms: no dial on demand before */
    uint64_t why;  /* hash of the last failure's reason: a new reason within
                      an episode (lookup failing, then the cookie refused)
                      is logged too, a repeated one is not */
    int err;       /* the last failure's EM_E* code (em_node_connect) */
    char text[120];/* and its reason, truncated */
} bar;
static bar *bars;  /* (tab_lock) */
static size_t nbars, capbars;
/* At most this many records: at the limit, those whose back-off is over
 * are forgotten (a forgotten node's next failure is logged again), and if
 * none is, the one closest to its end. */
#define BARS_MAX 1024

static bar *bar_find(em_term node)
{
    for (size_t i = 0; i < nbars; i++)
        if (bars[i].node == node)
            return &bars[i];
    return NULL;
}

static uint64_t why_hash(const char *why)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (; *why; why++)
        h = (h ^ (unsigned char)*why) * 1099511628211u;
    return h;
}

/* A failed attempt to node (tab_lock held): bar it for the back-off.
 * Returns true when the failure is to be logged: it starts a failure
 * episode (no record yet) or fails for another reason than the last. */
static void bar_set(bar *b, em_term node, int64_t now, uint64_t wh, int err, const char *why)
{
    b->node = node;
    b->until = now + EM__REDIAL_BACKOFF_MS;
    b->why = wh;
    b->err = err;
    snprintf(b->text, sizeof b->text, "%s", why);
}

static bool bar_note(em_term node, int64_t now, int err, const char *why)
{
    uint64_t wh = why_hash(why);
    bar *b = bar_find(node);
    if (b) {
        bool changed = b->why != wh;
        bar_set(b, node, now, wh, err, why);
        return changed;
    }
    assert(nbars <= BARS_MAX);
    if (nbars == BARS_MAX) {
        size_t k = 0, old = 0;
        for (size_t i = 0; i < nbars; i++)
            if (bars[i].until > now)
                bars[k++] = bars[i];
        nbars = k;
        for (size_t i = 1; i < nbars; i++)
            if (bars[i].until < bars[old].until)
                old = i;
        if (nbars == BARS_MAX) { /* all in back-off: the oldest goes */
            bar_set(&bars[old], node, now, wh, err, why);
            return true;
        }
    }
    if (nbars == capbars) {
        size_t nc = capbars ? 2 * capbars : 16;
        bar *nb = realloc(bars, nc * sizeof *nb);
        if (nb == NULL)
            return true; /* not remembered: the next failure logs again */
        bars = nb;
        capbars = nc;
    }
    bar_set(&bars[nbars++], node, now, wh, err, why);
    return true;
}

int em__dconn_last_fail(em_term node, char *why, size_t whylen)
{
    assert(whylen > 0);
    pthread_mutex_lock(&tab_lock);
    bar *b = bar_find(node);
    int err = b ? b->err : 0;
    snprintf(why, whylen, "%s", b ? b->text : "");
    pthread_mutex_unlock(&tab_lock);
    return err;
}

void em__dconn_unbar(em_term node, bool forget)
{
    pthread_mutex_lock(&tab_lock);
    bar *b = bar_find(node);
    if (b && forget)
        *b = bars[--nbars];
    else if (b)
        b->until = 0;
    pthread_mutex_unlock(&tab_lock);
}

em__dconn *em__dconn_dial(em_term node, bool *created, bool *barred)
{
    *created = *barred = false;
    pthread_mutex_lock(&tab_lock);
    em__dconn *c = tab_get(node, false, NULL);
    if (c == NULL) {
        bar *b = bar_find(node);
        if (b && b->until > em__dist_now_ms())
            *barred = true;
        else
            c = tab_get(node, true, created);
    }
    pthread_mutex_unlock(&tab_lock);
    return c;
}

/* ---- node monitoring ---- */

typedef struct nsub {
    em_term pid;
    em_term node; /* EM_NONE: all nodes (monitor_nodes) */
} nsub;
static pthread_mutex_t sub_lock = PTHREAD_MUTEX_INITIALIZER;
static nsub *subs;
static size_t nsubs, capsubs;

int em__node_sub_add(em_term pid, em_term node)
{
    pthread_mutex_lock(&sub_lock);
    if (nsubs == capsubs) {
        size_t nc = capsubs ? 2 * capsubs : 16;
        nsub *ns = realloc(subs, nc * sizeof *ns);
        if (ns == NULL) {
            pthread_mutex_unlock(&sub_lock);
            return EM_ENOMEM;
        }
        subs = ns;
        capsubs = nc;
    }
    subs[nsubs++] = (nsub){pid, node};
    pthread_mutex_unlock(&sub_lock);
    return 0;
}

void em__node_sub_del(em_term pid, em_term node, bool all)
{
    pthread_mutex_lock(&sub_lock);
    for (size_t i = 0; i < nsubs;) {
        if (subs[i].pid == pid && subs[i].node == node) {
            subs[i] = subs[--nsubs];
            if (!all)
                break;
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&sub_lock);
}

void em__node_event(em_term node, bool up, bool all)
{
    em_term to[64];
    size_t n = 0;
    bool more = true;
    while (more) {
        more = false;
        n = 0;
        pthread_mutex_lock(&sub_lock);
        for (size_t i = 0; i < nsubs;) {
            if (!em_is_alive(subs[i].pid)) {
                subs[i] = subs[--nsubs];
                continue;
            }
            bool hit = (all && subs[i].node == EM_NONE) || (!up && subs[i].node == node);
            if (hit && n == 64) {
                more = subs[i].node != EM_NONE; /* node subs are removed: loop */
                i++;
                continue;
            }
            if (hit)
                to[n++] = subs[i].pid;
            if (hit && subs[i].node != EM_NONE) {
                subs[i] = subs[--nsubs]; /* monitor_node fires once */
                continue;
            }
            i++;
        }
        pthread_mutex_unlock(&sub_lock);
        /* No signal point: the caller (em_disconnect_node, em_node_stop, a
         * connection's own process) holds the connection and locks. */
        for (size_t i = 0; i < n; i++)
            em__send_quiet(to[i], em_tuple(2, em_atom(up ? "nodeup" : "nodedown"), node));
    }
}

/* Take c down (see em__dconn_down).  fail: an attempt of ours (owner) that
 * failed: nothing happens unless it still owns the PENDING entry; then the
 * node is barred for the back-off and `why` is logged if this starts a
 * failure episode. */
static void dconn_down(em__dconn *c, const char *reason, bool fail, uint64_t owner, int err, const char *why)
{
    bool removed = false, first = false;
    pthread_mutex_lock(&tab_lock);
    pthread_mutex_lock(&c->lock);
    int prev = c->state;
    if (fail && (prev != EM__C_PENDING || c->owner != owner)) {
        /* An accepted attempt took the entry over (ok_simultaneous), or
         * it is down already: not this attempt's to end. */
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_unlock(&tab_lock);
        return;
    }
    for (size_t i = 0; i < ntab; i++) {
        if (tab[i] == c) {
            tab[i] = tab[--ntab];
            tab[ntab] = NULL; /* no stale pointer: it would hide a leak */
            removed = true;
            break;
        }
    }
    /* DEAD is set below, with the entry out of the table, in one critical
     * section: an entry in the table is never DEAD. */
    assert(!removed || prev != EM__C_DEAD);
    if (prev == EM__C_DEAD) {
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_unlock(&tab_lock);
        if (removed)
            em__dconn_put(c);
        return;
    }
    /* Barred in the same critical section as the entry leaves the table:
     * a send in between would otherwise dial again at once. */
    if (fail)
        first = bar_note(c->node, em__dist_now_ms(), err, why);
    c->state = EM__C_DEAD;
    c->down_reason = em_atom(reason);
    em__oblk *q = c->head;
    c->head = c->last = NULL;
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&tab_lock);
    em__oq_drop(c, q);
    em__oq_trim(c);
    em__oq_release_held(c, true);
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
    if (c->evfd >= 0)
        em__poke(c->evfd);
    if (prev == EM__C_UP && strcmp(reason, "connection_closed") != 0)
        em__dist_log("Node %s down: %s", em_atom_text(c->node, NULL), reason);
    if (first)
        em__dist_log("Connection attempt to node %s failed: %s (retried on demand after %d ms; "
                     "further failures for this reason not logged until it is up)",
                     em_atom_text(c->node, NULL), why, EM__REDIAL_BACKOFF_MS);
    /* Links and monitors made across a connection get noconnection whether
     * it came up or not (as erlang:link/monitor to an unreachable node);
     * monitor_nodes subscribers hear only of connections that were up,
     * monitor_node ones of every end (OTP: nodedown when the attempt
     * fails). */
    em__remote_node_down(c->node);
    em__node_event(c->node, false, prev == EM__C_UP);
    if (removed)
        em__dconn_put(c);
}

void em__dconn_down(em__dconn *c, const char *reason)
{
    dconn_down(c, reason, false, 0, 0, NULL);
}

void em__dconn_fail(em__dconn *c, uint64_t owner, int err, const char *why)
{
    dconn_down(c, "connection_closed", true, owner, err, why);
}

void em__dconn_down_all(void)
{
    for (;;) {
        pthread_mutex_lock(&tab_lock);
        em__dconn *c = ntab ? tab[0] : NULL;
        if (c)
            atomic_fetch_add(&c->refs, 1);
        pthread_mutex_unlock(&tab_lock);
        if (c == NULL)
            break;
        em__dconn_down(c, "connection_closed");
        em__dconn_put(c);
    }
    pthread_mutex_lock(&tab_lock);
    nbars = 0; /* a next start begins with no back-off */
    pthread_mutex_unlock(&tab_lock);
}

/* ---- public: the node list ---- */

em_term em__dconn_nodes(bool visible)
{
    em_term l = EM_NIL;
    pthread_mutex_lock(&tab_lock);
    for (size_t i = 0; i < ntab; i++) {
        pthread_mutex_lock(&tab[i]->lock); /* state is the entry's (lock order: table, entry) */
        bool up = tab[i]->state == EM__C_UP && (!visible || (tab[i]->flags & EM__DF_PUBLISHED));
        pthread_mutex_unlock(&tab[i]->lock);
        if (up)
            l = em_cons(tab[i]->node, l);
    }
    pthread_mutex_unlock(&tab_lock);
    return l;
}

EM_API em_term em_nodes(void)
{
    return em__dconn_nodes(false);
}
