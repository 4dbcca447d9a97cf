/* node.c: this program as a node: names, cookies, the node table,
 * em_node_start/stop, the acceptor process, node monitoring, logging.
 *
 * The node table maps a node name (atom) to its one em__dconn.  An entry is
 * in the table from the moment a connection is wanted (PENDING) until it
 * goes down (DEAD: removed first, so the next send makes a fresh entry and
 * a fresh connection).  One mutex guards the table; each entry has its own
 * lock (state, out-queue).  Lock order: table, then entry.
 *
 * Beside it, under the same mutex, the back-off list: a node whose
 * connection attempt of ours failed is not dialled again on demand for
 * EM__REDIAL_BACKOFF_MS (what is sent to it meanwhile is dropped, as after
 * any failed attempt), and its record stays until a connection to it comes
 * up, so that a failure episode is logged once, not once per attempt.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ember/epmd.h>

#include "cookie.h"
#include "dist_int.h"
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

int64_t em__dist_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A log line of node `name` ("" before it has one: "-"); the one place
 * of the node's line head. */
__attribute__((format(printf, 2, 0))) static void vlog_as(const char *name, const char *fmt, va_list ap)
{
    char head[EM__NODE_NAME_MAX + 16];
    snprintf(head, sizeof head, "=ember dist %s=", name[0] ? name : "-");
    em__log_vline(head, fmt, ap);
}

__attribute__((format(printf, 2, 3))) static void log_as(const char *name, const char *fmt, ...)
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
    em__ctl_cache_clear(&c->rcache);
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

/* ---- the redial back-off ---- */

typedef struct bar {
    em_term node;  /* an atom */
    int64_t until; /* monotonic ms: no dial on demand before */
    uint64_t why;  /* hash of the last failure's reason: a new reason within
                      an episode (lookup failing, then the cookie refused)
                      is logged too, a repeated one is not */
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
static bool bar_note(em_term node, int64_t now, const char *why)
{
    uint64_t wh = why_hash(why);
    bar *b = bar_find(node);
    if (b) {
        b->until = now + EM__REDIAL_BACKOFF_MS;
        bool changed = b->why != wh;
        b->why = wh;
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
            bars[old] = (bar){node, now + EM__REDIAL_BACKOFF_MS, wh};
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
    bars[nbars++] = (bar){node, now + EM__REDIAL_BACKOFF_MS, wh};
    return true;
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

static int sub_add(em_term pid, em_term node)
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

static void sub_del(em_term pid, em_term node, bool all)
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
        for (size_t i = 0; i < n; i++)
            em_send(to[i], em_tuple(2, em_atom(up ? "nodeup" : "nodedown"), node));
    }
}

/* Take c down (see em__dconn_down).  fail: an attempt of ours (owner) that
 * failed: nothing happens unless it still owns the PENDING entry; then the
 * node is barred for the back-off and `why` is logged if this starts a
 * failure episode. */
static void dconn_down(em__dconn *c, const char *reason, bool fail, uint64_t owner, const char *why)
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
        first = bar_note(c->node, em__dist_now_ms(), why);
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
    dconn_down(c, reason, false, 0, NULL);
}

void em__dconn_fail(em__dconn *c, uint64_t owner, const char *why)
{
    dconn_down(c, "connection_closed", true, owner, why);
}

/* ---- public: node list, monitoring ---- */

EM_API em_term em_nodes(void)
{
    em_term l = EM_NIL;
    pthread_mutex_lock(&tab_lock);
    for (size_t i = 0; i < ntab; i++)
        if (tab[i]->state == EM__C_UP)
            l = em_cons(tab[i]->node, l);
    pthread_mutex_unlock(&tab_lock);
    return l;
}

EM_API int em_monitor_node(em_term node, bool on)
{
    em_term self = em_self();
    if (!em__nd.up || self == EM_NONE)
        return EM_ESTATE;
    if (em_typeof(node) != EM_TYPE_ATOM)
        return EM_EBADARG;
    if (!on) {
        sub_del(self, node, false);
        return 0;
    }
    if (node == em__nd.name)
        return 0;
    int rc = sub_add(self, node);
    if (rc < 0)
        return rc;
    bool barred = false;
    em__dconn *c = em__dconn_for(node, &barred); /* connect if needed */
    if (c == NULL && barred) {
        /* An attempt failed within the back-off: this one fails at once,
         * with the {nodedown, Node} a failed attempt gives. */
        sub_del(self, node, false);
        return em_send(self, em_tuple(2, em_atom("nodedown"), node));
    }
    if (c == NULL) {
        sub_del(self, node, false);
        return EM_ENOMEM;
    }
    em__dconn_put(c);
    return 0;
}

EM_API int em_monitor_nodes(bool on)
{
    em_term self = em_self();
    if (!em__nd.up || self == EM_NONE)
        return EM_ESTATE;
    if (!on) {
        sub_del(self, EM_NONE, true);
        return 0;
    }
    return sub_add(self, EM_NONE);
}

EM_API int em_disconnect_node(em_term node)
{
    if (!em__nd.up)
        return EM_ESTATE;
    em__dconn *c = em__dconn_get(node, false, NULL);
    if (c == NULL)
        return EM_ENOTFOUND;
    em__dconn_down(c, "disconnect");
    em__dconn_put(c);
    return 0;
}

EM_API int em_node_port(void)
{
    return em__nd.up ? em__nd.listen_port : EM_ESTATE;
}

/* ---- names and cookies ---- */

static bool alive_ok(const char *s, size_t n)
{
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

static bool is_ip(const char *h)
{
    struct in_addr a;
    struct in6_addr a6;
    return inet_pton(AF_INET, h, &a) == 1 || inet_pton(AF_INET6, h, &a6) == 1;
}

static int host_name(bool longnames, char *out, size_t cap)
{
    char h[256];
    if (gethostname(h, sizeof h) < 0)
        return EM_EIO;
    h[sizeof h - 1] = '\0';
    if (!longnames) {
        char *dot = strchr(h, '.');
        if (dot)
            *dot = '\0';
        snprintf(out, cap, "%s", h);
        return 0;
    }
    if (strchr(h, '.') == NULL) {
        struct addrinfo hints = {.ai_flags = AI_CANONNAME}, *res = NULL;
        if (getaddrinfo(h, NULL, &hints, &res) == 0 && res && res->ai_canonname &&
            strchr(res->ai_canonname, '.'))
            snprintf(h, sizeof h, "%s", res->ai_canonname);
        if (res)
            freeaddrinfo(res);
    }
    snprintf(out, cap, "%s", h);
    return 0;
}

/* ---- the acceptor ---- */

static void close_listener(void *arg)
{
    close((int)(intptr_t)arg);
}

static void acceptor_main(void *arg)
{
    (void)arg;
    int lfd = em__nd.lfd;
    em_on_exit(close_listener, (void *)(intptr_t)lfd);
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            if (em_spawn(em__dist_accepted, (void *)(intptr_t)fd) == EM_NONE)
                close(fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (em_wait_fd(lfd, EM_READABLE, EM_INFINITY) < 0 && !em__nd.up)
                return;
            if (!em__nd.up)
                return;
            continue;
        }
        if (errno == EMFILE || errno == ENFILE) {
            em__dist_log("accept: %s", strerror(errno));
            em_sleep(100);
            continue;
        }
        if (!em__nd.up)
            return;
        em__dist_log("accept: %s", strerror(errno));
        em_sleep(100);
    }
}

/* ---- start and stop ---- */

EM_API void em_node_opts_init(em_node_opts *o)
{
    memset(o, 0, sizeof *o);
}

EM_API int em_node_args(int *argc, char **argv, em_node_opts *o)
{
    int out = 1, setcookies = 0;
    bool named = false;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-name") == 0 || strcmp(a, "-sname") == 0 || strcmp(a, "-setcookie") == 0) {
            if (i + 1 >= *argc)
                return EM_EINVAL;
            if (strcmp(a, "-setcookie") == 0) {
                /* the characters erl would take from its command line */
                char why[EM__COOKIE_WHY_MAX];
                int rc = em__cookie_arg_decode(argv[i + 1], em__cookie_locale_utf8(), why, sizeof why);
                if (rc < 0) {
                    log_as("", "%s", why);
                    return rc;
                }
                o->cookie = argv[i + 1];
                setcookies++;
            } else {
                o->name = argv[i + 1];
                o->longnames = strcmp(a, "-name") == 0;
                named = true;
            }
            i++;
        } else if (strcmp(a, "-kernel") == 0 && i + 2 < *argc && strcmp(argv[i + 1], "net_ticktime") == 0) {
            o->net_ticktime = atoi(argv[i + 2]);
            i += 2;
        } else {
            argv[out++] = argv[i];
        }
    }
    if (setcookies > 1) {
        /* erl's auth:init_setcookie/3 ignores all of several and reads the
         * cookie file */
        log_as("", "%d -setcookie flags: erl ignores them all, so the cookie file is used", setcookies);
        o->cookie = NULL;
    }
    argv[out] = NULL;
    *argc = out;
    return named ? 0 : EM_EINVAL;
}

EM_API int em_node_start(const char *name, const char *cookie)
{
    em_node_opts o;
    em_node_opts_init(&o);
    if (name == NULL)
        return EM_EINVAL;
    const char *at = strchr(name, '@');
    if (at) {
        const char *h = at + 1;
        o.longnames = strchr(h, '.') != NULL || is_ip(h) || strcmp(h, "localhost") == 0;
    }
    o.name = name;
    o.cookie = cookie;
    return em_node_start_opts(&o);
}

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

/* Room for the one log line of a port mapper that could not be started
 * (em_epmd_ensure's `why`: up to six paths and $PATH). */
#define EPMD_WHY_MAX 8192

EM_API int em_node_start_opts(const em_node_opts *o)
{
    if (o == NULL || o->name == NULL)
        return EM_EINVAL;
    pthread_mutex_lock(&start_lock);
    int rc;
    if (em__nd.up) {
        rc = EM_EEXIST;
        goto out_unlock;
    }
    em__node nd;
    memset(&nd, 0, sizeof nd);
    nd.lfd = -1;
    nd.longnames = o->longnames;
    nd.quiet = o->quiet;
    /* name */
    const char *at = strchr(o->name, '@');
    char alive[256], host[EM__NODE_NAME_MAX];
    size_t al = at ? (size_t)(at - o->name) : strlen(o->name);
    rc = EM_EINVAL;
    if (!alive_ok(o->name, al))
        goto out_unlock;
    memcpy(alive, o->name, al);
    alive[al] = '\0';
    if (at) {
        snprintf(host, sizeof host, "%s", at + 1);
        if (host[0] == '\0' || strchr(host, '@'))
            goto out_unlock;
        if (!o->longnames && strchr(host, '.'))
            goto out_unlock; /* as erl: short names have no dots */
    } else if ((rc = host_name(o->longnames, host, sizeof host)) < 0) {
        goto out_unlock;
    }
    if (snprintf(nd.name_s, sizeof nd.name_s, "%s@%s", alive, host) >= (int)sizeof nd.name_s) {
        rc = EM_EINVAL;
        goto out_unlock;
    }
    if (em_atom_new(nd.name_s, strlen(nd.name_s), &nd.name) < 0) {
        rc = EM_EINVAL;
        goto out_unlock;
    }
    /* cookie: given, or found as erl finds it (cookie.c) */
    char why[EM__COOKIE_WHY_MAX];
    _Static_assert(sizeof nd.cookie == EM__COOKIE_MAX + 1, "a cookie buffer holds an atom's 255 characters");
    if (o->cookie && strlen(o->cookie) > EM__COOKIE_MAX) {
        snprintf(why, sizeof why, "Cookie is %zu characters long: a cookie is an atom, at most %d characters",
                 strlen(o->cookie), EM__COOKIE_MAX);
        rc = EM_EAUTH;
    } else if (o->cookie) {
        memcpy(nd.cookie, o->cookie, strlen(o->cookie) + 1);
        rc = 0;
    } else {
        rc = em__cookie_load(getenv("HOME"), getenv("XDG_CONFIG_HOME"), nd.cookie, why, sizeof why);
    }
    if (rc < 0) {
        if (!o->quiet)
            log_as(nd.name_s, "%s", why);
        goto out_unlock;
    }
    nd.ticktime_ms = (o->net_ticktime > 0 ? o->net_ticktime : 60) * 1000;
    nd.setup_ms = o->setup_ms > 0 ? o->setup_ms : 7000;
    nd.epmd_port = o->epmd_port > 0 ? o->epmd_port : em_epmd_default_port();
    nd.flags = EM__DF_MINE | (o->published ? EM__DF_PUBLISHED : 0);
    /* listen */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->listen_port)};
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t sl = sizeof sa;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 128) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
        if (lfd >= 0)
            close(lfd);
        rc = EM_EIO;
        goto out_unlock;
    }
    nd.lfd = lfd;
    nd.listen_port = ntohs(sa.sin_port);
    /* port mapper */
    if (!o->no_epmd_start) {
        /* On the heap: the reason lists every place searched, and callers
         * may run on small (process) stacks. */
        char *ewhy = malloc(EPMD_WHY_MAX);
        rc = ewhy ? em_epmd_ensure(o->epmd_path, nd.epmd_port, 5000, ewhy, EPMD_WHY_MAX)
                  : EM_ENOMEM;
        if (rc < 0 && ewhy != NULL && ewhy[0] != '\0' && !nd.quiet)
            log_as(nd.name_s, "%s", ewhy);
        free(ewhy);
        if (rc < 0) {
            close(lfd);
            goto out_unlock;
        }
    }
    em_epmd_node_info info;
    em_epmd_node_info_init(&info, alive, (uint16_t)nd.listen_port);
    if (o->published)
        info.node_type = EM_EPMD_NODE_NORMAL;
    em_epmd_reg *reg = NULL;
    rc = em_epmd_register(&info, nd.epmd_port, 0, &reg, &nd.creation);
    if (rc < 0) {
        close(lfd);
        goto out_unlock;
    }
    nd.epmd_reg = reg;
    em_init(NULL); /* EM_EEXIST when already running: fine */
    em_local_node_set(nd.name, nd.creation);
    nd.up = true;
    em__nd = nd;
    em__dist_ops_install(true);
    em__nd.net_kernel = em_spawn(em__net_kernel_main, NULL);
    if (em__nd.net_kernel != EM_NONE)
        em_register(em_atom("net_kernel"), em__nd.net_kernel);
    em__nd.acceptor = em_spawn(acceptor_main, NULL);
    rc = 0;
out_unlock:
    pthread_mutex_unlock(&start_lock);
    return rc;
}

EM_API int em_node_stop(void)
{
    pthread_mutex_lock(&start_lock);
    if (!em__nd.up) {
        pthread_mutex_unlock(&start_lock);
        return EM_ESTATE;
    }
    em__nd.up = false;
    em__dist_ops_install(false);
    shutdown(em__nd.lfd, SHUT_RDWR);
    em_exit_pid(em__nd.acceptor, em_atom("kill"));
    em_exit_pid(em__nd.net_kernel, em_atom("kill"));
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
    em_epmd_reg_close(em__nd.epmd_reg);
    em__nd.epmd_reg = NULL;
    /* The listening socket is closed once the acceptor is gone; it only
     * waits on it, so closing now could hand its number to another file. */
    pthread_mutex_unlock(&start_lock);
    return 0;
}
