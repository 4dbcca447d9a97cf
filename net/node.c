/* node.c: this program as a node: em_node_start/stop, names, cookies, the
 * acceptor process, node monitoring's public calls.  The node table (the
 * connections to other nodes) is in dist_tab.c.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ember/epmd.h>

#include "cookie.h"
#include "dist_int.h"
#include "../runtime/remote.h"

/* ---- public: node monitoring ---- */

EM_API int em_monitor_node(em_term node, bool on)
{
    em_term self = em_self();
    if (!em__nd.up || self == EM_NONE)
        return EM_ESTATE;
    if (em_typeof(node) != EM_TYPE_ATOM)
        return EM_EBADARG;
    if (!on) {
        em__node_sub_del(self, node, false);
        return 0;
    }
    if (node == em__nd.name)
        return 0;
    int rc = em__node_sub_add(self, node);
    if (rc < 0)
        return rc;
    bool barred = false;
    em__dconn *c = em__dconn_for(node, &barred); /* connect if needed */
    if (c == NULL && barred) {
        /* An attempt failed within the back-off: this one fails at once,
         * with the {nodedown, Node} a failed attempt gives. */
        em__node_sub_del(self, node, false);
        return em__send_quiet(self, em_tuple(2, em_atom("nodedown"), node));
    }
    if (c == NULL) {
        em__node_sub_del(self, node, false);
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
        em__node_sub_del(self, EM_NONE, true);
        return 0;
    }
    return em__node_sub_add(self, EM_NONE);
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

/* arg: the listening socket.  It reads nothing of em__nd: em_node_stop
 * kills it without waiting for it to be gone, and a next em_node_start
 * rewrites em__nd meanwhile. */
static void acceptor_main(void *arg)
{
    int lfd = (int)(intptr_t)arg; /* closed by the exit hook given at the spawn */
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            em__dist_accept_spawn(fd); /* fd is the new process's, or closed */
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            em_wait_fd(lfd, EM_READABLE, EM_INFINITY);
            continue;
        }
        if (errno == EINVAL)
            return; /* shut down: em_node_stop */
        em__dist_log("accept: %s", strerror(errno));
        em_sleep(100);
    }
}

/* ---- start and stop ---- */

EM_API void em_node_opts_init(em_node_opts *o)
{
    memset(o, 0, sizeof *o);
    o->published = true;
    o->connect_all = true;
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
                    em__dist_log_as("", "%s", why);
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
        } else if (strcmp(a, "-hidden") == 0) {
            o->published = false;
        } else if (strcmp(a, "-connect_all") == 0 && i + 1 < *argc &&
                   (strcmp(argv[i + 1], "false") == 0 || strcmp(argv[i + 1], "true") == 0)) {
            o->connect_all = strcmp(argv[i + 1], "true") == 0;
            i++;
        } else if (strcmp(a, "-proto_dist") == 0) {
            if (i + 1 >= *argc)
                return EM_EINVAL;
            if (strcmp(argv[i + 1], "inet6_tcp") != 0 && strcmp(argv[i + 1], "inet_tcp") != 0) {
                em__dist_log_as("", "-proto_dist %.100s is not supported (inet_tcp and inet6_tcp are)", argv[i + 1]);
                return EM_ENOTSUP;
            }
            o->inet6 = strcmp(argv[i + 1], "inet6_tcp") == 0;
            i++;
        } else if (strcmp(a, "-kernel") == 0 && i + 1 < *argc && strcmp(argv[i + 1], "net_ticktime") == 0) {
            if (i + 2 >= *argc)
                return EM_EINVAL;
            o->net_ticktime = atoi(argv[i + 2]);
            i += 2;
        } else {
            argv[out++] = argv[i];
        }
    }
    if (setcookies > 1) {
        /* erl's auth:init_setcookie/3 ignores all of several and reads the
         * cookie file */
        em__dist_log_as("", "%d -setcookie flags: erl ignores them all, so the cookie file is used",
                        setcookies);
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
            em__dist_log_as(nd.name_s, "%s", why);
        goto out_unlock;
    }
    nd.ticktime_ms = (o->net_ticktime > 0 ? o->net_ticktime : 60) * 1000;
    nd.setup_ms = o->setup_ms > 0 ? o->setup_ms : 7000;
    nd.epmd_port = o->epmd_port > 0 ? o->epmd_port : em_epmd_default_port();
    nd.flags = EM__DF_MINE | (o->published ? EM__DF_PUBLISHED : 0);
    nd.inet6 = o->inet6;
    /* listen: on every address; IPv6 as erl's inet6_tcp listens (::, the
     * system's default for IPV6_V6ONLY) */
    int lfd = socket(o->inet6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sa4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)&ss;
    socklen_t sl;
    if (o->inet6) {
        *sa6 = (struct sockaddr_in6){.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)o->listen_port),
                                     .sin6_addr = in6addr_any};
        sl = sizeof *sa6;
    } else {
        *sa4 = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)o->listen_port)};
        sa4->sin_addr.s_addr = htonl(INADDR_ANY);
        sl = sizeof *sa4;
    }
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(lfd, (struct sockaddr *)&ss, sl) < 0 || listen(lfd, 128) < 0 ||
        getsockname(lfd, (struct sockaddr *)&ss, &sl) < 0) {
        int e = errno;
        if (lfd >= 0)
            close(lfd);
        bool no_v6 = o->inet6 && (e == EAFNOSUPPORT || e == EADDRNOTAVAIL || e == EPROTONOSUPPORT);
        if (!o->quiet && no_v6)
            em__dist_log_as(nd.name_s, "Cannot listen on IPv6 (-proto_dist inet6_tcp): %s: this host has no IPv6",
                            strerror(e));
        else if (!o->quiet)
            em__dist_log_as(nd.name_s, "Cannot listen on port %d: %s", o->listen_port, strerror(e));
        rc = no_v6 ? EM_ENOTSUP : EM_EIO;
        goto out_unlock;
    }
    nd.lfd = lfd;
    nd.listen_port = ntohs(o->inet6 ? sa6->sin6_port : sa4->sin_port);
    /* port mapper */
    if (!o->no_epmd_start) {
        /* On the heap: the reason lists every place searched, and callers
         * may run on small (process) stacks. */
        char *ewhy = malloc(EPMD_WHY_MAX);
        rc = ewhy ? em_epmd_ensure(o->epmd_path, nd.epmd_port, 5000, ewhy, EPMD_WHY_MAX)
                  : EM_ENOMEM;
        if (rc < 0 && ewhy != NULL && ewhy[0] != '\0' && !nd.quiet)
            em__dist_log_as(nd.name_s, "%s", ewhy);
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
    if (o->inet6) {
        /* over ::1 only, as erl_epmd registers an inet6_tcp node */
        rc = em_epmd_register_inet6(&info, nd.epmd_port, 0, &reg, &nd.creation);
        if (rc == EM_ECONNREFUSED && !o->quiet)
            em__dist_log_as(nd.name_s, "No port mapper answers on [::1]:%d (-proto_dist inet6_tcp registers over IPv6)",
                            nd.epmd_port);
    } else {
        rc = em_epmd_register(&info, nd.epmd_port, 0, &reg, &nd.creation);
    }
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
    em__rex_exports();
    em__nd.net_kernel = em_spawn(em__net_kernel_main, NULL);
    if (em__nd.net_kernel != EM_NONE) /* now, for a peer that connects at once; */
        em_register(em_atom("net_kernel"), em__nd.net_kernel); /* else it waits (net_kernel.c) */
    em__nd.rex = em__rex_start();
    em__nd.user = em__user_start();
    em__nd.global = o->published ? em__global_start(o->connect_all) : EM_NONE;
    em__pg_node_start();
    /* The listener is closed by the acceptor's exit hook, given at the
     * spawn: also when it is killed before it ever ran (a quick stop). */
    em_spawn_opts ao = {.on_exit = close_listener};
    em__nd.acceptor = em_spawn_opt(acceptor_main, (void *)(intptr_t)em__nd.lfd, &ao);
    if (em__nd.acceptor == EM_NONE) {
        /* No process for it (out of memory): the node dials out, and no
         * one can connect to it.  Its number must not be shut down later. */
        close_listener((void *)(intptr_t)em__nd.lfd);
        em__nd.lfd = -1;
        em__dist_log("no process to accept connections (out of memory): this node can only dial out");
    }
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
    if (em__nd.lfd >= 0)
        shutdown(em__nd.lfd, SHUT_RDWR);
    em_exit_pid(em__nd.acceptor, em_atom("kill"));
    em_exit_pid(em__nd.net_kernel, em_atom("kill"));
    if (em__nd.rex != EM_NONE)
        em_exit_pid(em__nd.rex, em_atom("kill"));
    if (em__nd.user != EM_NONE)
        em_exit_pid(em__nd.user, em_atom("kill"));
    if (em__nd.global != EM_NONE)
        em_exit_pid(em__nd.global, em_atom("kill"));
    em__pg_node_stop();
    em__dconn_down_all();
    em_epmd_reg_close(em__nd.epmd_reg);
    em__nd.epmd_reg = NULL;
    /* The listening socket is closed once the acceptor is gone; it only
     * waits on it, so closing now could hand its number to another file. */
    pthread_mutex_unlock(&start_lock);
    return 0;
}
