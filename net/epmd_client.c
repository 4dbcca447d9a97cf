/* epmd_client.c: the blocking port mapper client (register, look up, list
 * names, raw calls) and the starting of a daemon when none answers.
 * Plain sockets and poll(): every wait is bounded by one deadline for the
 * whole exchange, so a port mapper that stalls can not hang a node. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "epmd_proto.h"

struct em_epmd_reg {
    int fd;
};

EM_API int em_epmd_default_port(void)
{
    const char *e = getenv("ERL_EPMD_PORT");
    if (e != NULL && *e != '\0') {
        char *end;
        long v = strtol(e, &end, 10);
        if (*end == '\0' && v > 0 && v <= 65535)
            return (int)v;
    }
    return EM_EPMD_PORT;
}

EM_API void em_epmd_node_info_init(em_epmd_node_info *info, const char *name,
                                   uint16_t port)
{
    memset(info, 0, sizeof *info);
    info->port = port;
    info->node_type = EM_EPMD_NODE_HIDDEN;
    info->protocol = 0;
    info->high_version = EM_EPMD_VERSION_HIGH;
    info->low_version = EM_EPMD_VERSION_LOW;
    if (name != NULL) {
        size_t n = strnlen(name, EM_EPMD_NAME_MAX);
        memcpy(info->name, name, n);
        info->name[n] = '\0';
    }
}

/* ------------------------------------------------------ socket helpers */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_in(int timeout_ms)
{
    return mono_ms() + (timeout_ms > 0 ? timeout_ms : EM_EPMD_DEFAULT_TIMEOUT_MS);
}

/* Wait for `events` on fd until the deadline: 0, EM_ETIMEDOUT or EM_EIO. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return EM_ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0)
            return 0;
        if (r == 0)
            return EM_ETIMEDOUT;
        if (errno != EINTR)
            return EM_EIO;
    }
}

/* What a failed socket() or connect() errno means here: nothing to
 * connect to at that address (EM_ECONNREFUSED), or a failure of this host
 * (EM_EIO: out of descriptors, say), which must not pass for "no port
 * mapper" (em_epmd_ensure would start one). */
static int connect_code(int e)
{
    return e == ECONNREFUSED || e == ENETUNREACH || e == EADDRNOTAVAIL ||
                   e == EAFNOSUPPORT || e == EHOSTUNREACH ||
                   e == EPROTONOSUPPORT || e == ETIMEDOUT
               ? EM_ECONNREFUSED
               : EM_EIO;
}

static int connect_addr(const struct sockaddr *sa, socklen_t len,
                        int64_t deadline, int *out)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (fd < 0)
        return connect_code(errno); /* e.g. no IPv6 on this host: refused */
    if (connect(fd, sa, len) != 0) {
        if (errno != EINPROGRESS) {
            int e = errno;
            close(fd);
            return connect_code(e);
        }
        int rc = wait_fd(fd, POLLOUT, deadline);
        if (rc != 0) {
            close(fd);
            return rc;
        }
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
            close(fd);
            return err != 0 ? connect_code(err) : EM_EIO;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *out = fd;
    return 0;
}

/* Which loopback connect_epmd tries for host NULL. */
enum lo_order {
    LO_V4_FIRST, /* 127.0.0.1, then ::1 */
    LO_V6_FIRST, /* ::1, then 127.0.0.1: epmd's command line */
    LO_V6_ONLY   /* ::1 only: erl -proto_dist inet6_tcp (erl_epmd) */
};

/* Connect to the port mapper on host (NULL: the loopback addresses in
 * `order`). */
static int connect_epmd(const char *host, int port, int64_t deadline,
                        enum lo_order order, int *out)
{
    if (port <= 0)
        port = em_epmd_default_port();
    if (port > 65535)
        return EM_EINVAL;
    int rc = EM_ECONNREFUSED;
    if (host == NULL) {
        struct sockaddr_in a4;
        struct sockaddr_in6 a6;
        memset(&a4, 0, sizeof a4);
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        memset(&a6, 0, sizeof a6);
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        a6.sin6_addr = in6addr_loopback;
        for (int i = 0; i < (order == LO_V6_ONLY ? 1 : 2); i++) {
            bool v6 = (i == 0) == (order != LO_V4_FIRST);
            rc = v6 ? connect_addr((struct sockaddr *)&a6, sizeof a6, deadline,
                                   out)
                    : connect_addr((struct sockaddr *)&a4, sizeof a4, deadline,
                                   out);
            if (rc != EM_ECONNREFUSED)
                return rc;
        }
        return rc;
    }
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, ps, &hints, &res) != 0 || res == NULL)
        return EM_ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        rc = connect_addr(ai->ai_addr, ai->ai_addrlen, deadline, out);
        if (rc != EM_ECONNREFUSED)
            break;
    }
    freeaddrinfo(res);
    return rc;
}

static int send_all(int fd, const uint8_t *p, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(fd, POLLOUT, deadline);
            if (rc != 0)
                return rc;
            continue;
        }
        return errno == EPIPE || errno == ECONNRESET ? EM_EPROTO : EM_EIO;
    }
    return 0;
}

/* Receive some bytes: the count (> 0), 0 at EOF, or a negative code. */
static ssize_t recv_some(int fd, uint8_t *buf, size_t cap, int64_t deadline)
{
    for (;;) {
        ssize_t n = recv(fd, buf, cap, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == ECONNRESET)
            return 0; /* as good as a close for a reply reader */
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return EM_EIO;
        int rc = wait_fd(fd, POLLIN, deadline);
        if (rc != 0)
            return rc;
    }
}

static int send_request(int fd, const void *req, size_t len, int64_t deadline)
{
    uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    uint8_t small[64];
    if (len + 2 <= sizeof small) {
        /* One segment: some servers read the request with one read(). */
        memcpy(small, hdr, 2);
        memcpy(small + 2, req, len);
        return send_all(fd, small, len + 2, deadline);
    }
    int rc = send_all(fd, hdr, 2, deadline);
    return rc != 0 ? rc : send_all(fd, req, len, deadline);
}

/* -------------------------------------------------------------- calls */

/* At most this much of a reply read to its end (NAMES, em_epmd_call): a
 * port mapper on another host may be broken or hostile. */
#define REPLY_MAX ((size_t)1 << 20)

EM_API int em_epmd_call(const char *host, int epmd_port, const void *req,
                        size_t len, int timeout_ms, em_buf *reply)
{
    if (len == 0 || len > 65535 || req == NULL)
        return EM_EINVAL;
    int64_t deadline = deadline_in(timeout_ms);
    int fd;
    int rc = connect_epmd(host, epmd_port, deadline, LO_V6_FIRST, &fd);
    if (rc != 0)
        return rc;
    rc = send_request(fd, req, len, deadline);
    size_t start = reply->len;
    while (rc == 0) {
        if (reply->len - start >= REPLY_MAX) {
            rc = EM_EPROTO;
            break;
        }
        if ((rc = em_buf_reserve(reply, 4096)) != 0)
            break;
        ssize_t n = recv_some(fd, reply->data + reply->len,
                              reply->cap - reply->len, deadline);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        reply->len += (size_t)n;
    }
    close(fd);
    if (rc == EM_EPROTO && reply->len - start >= REPLY_MAX)
        return rc;
    return rc == EM_EPROTO ? 0 : rc; /* reset while sending: no reply */
}

static int epmd_register(const em_epmd_node_info *node, int epmd_port,
                         int timeout_ms, enum lo_order order,
                         em_epmd_reg **out, uint32_t *creation)
{
    *out = NULL;
    size_t nlen = strnlen(node->name, EM_EPMD_NAME_MAX + 1);
    int chars = em__epmd_utf8_chars((const uint8_t *)node->name, nlen);
    if (nlen > EM_EPMD_NAME_MAX || chars < 1 ||
        chars > EM_EPMD_NAME_CHARS_MAX || node->extra_len > EM_EPMD_EXTRA_MAX)
        return EM_EINVAL;
    /* On the heap: callers may run on small (coroutine) stacks. */
    enum { REQ_CAP = 2 + 13 + EM_EPMD_NAME_MAX + EM_EPMD_EXTRA_MAX };
    uint8_t *req = malloc(REQ_CAP);
    if (req == NULL)
        return EM_ENOMEM;
    size_t rlen = em__epmd_put_alive2_req(req, REQ_CAP, node);
    if (rlen == 0) {
        free(req);
        return EM_EINVAL;
    }
    em_epmd_reg *r = malloc(sizeof *r);
    if (r == NULL) {
        free(req);
        return EM_ENOMEM;
    }
    int64_t deadline = deadline_in(timeout_ms);
    int fd;
    int rc = connect_epmd(NULL, epmd_port, deadline, order, &fd);
    if (rc != 0) {
        free(req);
        free(r);
        return rc;
    }
    rc = send_all(fd, req, rlen, deadline);
    free(req);
    uint8_t resp[8];
    size_t got = 0;
    while (rc == 0) {
        int result;
        uint32_t cr;
        int p = em__epmd_parse_alive2_resp(resp, got, &result, &cr);
        if (p < 0) {
            rc = p;
            break;
        }
        if (p > 0) {
            if (result != 0) {
                rc = EM_EEXIST;
                break;
            }
            if (creation)
                *creation = cr;
            r->fd = fd;
            *out = r;
            return 0;
        }
        ssize_t n = recv_some(fd, resp + got, sizeof resp - got, deadline);
        if (n == 0)
            rc = EM_EPROTO; /* closed without a (complete) reply */
        else if (n < 0)
            rc = (int)n;
        else
            got += (size_t)n;
    }
    close(fd);
    free(r);
    return rc;
}

EM_API int em_epmd_register(const em_epmd_node_info *node, int epmd_port,
                            int timeout_ms, em_epmd_reg **out,
                            uint32_t *creation)
{
    return epmd_register(node, epmd_port, timeout_ms, LO_V4_FIRST, out,
                         creation);
}

EM_API int em_epmd_register_inet6(const em_epmd_node_info *node,
                                  int epmd_port, int timeout_ms,
                                  em_epmd_reg **out, uint32_t *creation)
{
    return epmd_register(node, epmd_port, timeout_ms, LO_V6_ONLY, out,
                         creation);
}

EM_API void em_epmd_reg_close(em_epmd_reg *reg)
{
    if (reg == NULL)
        return;
    close(reg->fd);
    free(reg);
}

EM_API int em_epmd_reg_fd(const em_epmd_reg *reg)
{
    return reg->fd;
}

EM_API int em_epmd_reg_check(em_epmd_reg *reg)
{
    struct pollfd p = {.fd = reg->fd, .events = POLLIN};
    int r = poll(&p, 1, 0);
    if (r == 0)
        return 0;
    if (r < 0)
        return errno == EINTR ? 0 : EM_EIO;
    return EM_ECLOSED; /* readable: EOF, error, or unexpected bytes */
}

EM_API int em_epmd_port_please(const char *host, const char *name,
                               int epmd_port, int timeout_ms,
                               em_epmd_node_info *out)
{
    size_t nlen = name ? strnlen(name, EM_EPMD_NAME_MAX + 1) : 0;
    if (nlen == 0 || nlen > EM_EPMD_NAME_MAX)
        return EM_EINVAL;
    /* One heap buffer for request and reply: callers may run on small
     * (coroutine) stacks. */
    uint8_t *resp = malloc(EM__EPMD_PORT2_RESP_MAX);
    if (resp == NULL)
        return EM_ENOMEM;
    resp[0] = EM__EPMD_PORT2_REQ;
    memcpy(resp + 1, name, nlen);
    int64_t deadline = deadline_in(timeout_ms);
    int fd;
    int rc = connect_epmd(host, epmd_port, deadline, LO_V4_FIRST, &fd);
    if (rc != 0) {
        free(resp);
        return rc;
    }
    rc = send_request(fd, resp, nlen + 1, deadline);
    size_t got = 0;
    while (rc == 0) {
        int found = 0;
        int p = em__epmd_parse_port2_resp(resp, got, &found, out);
        if (p < 0) {
            rc = p;
            break;
        }
        if (p > 0) {
            rc = found ? 0 : EM_ENOTFOUND;
            break;
        }
        if (got == EM__EPMD_PORT2_RESP_MAX) {
            rc = EM_EPROTO;
            break;
        }
        ssize_t n = recv_some(fd, resp + got, EM__EPMD_PORT2_RESP_MAX - got,
                              deadline);
        if (n == 0)
            rc = EM_EPROTO;
        else if (n < 0)
            rc = (int)n;
        else
            got += (size_t)n;
    }
    free(resp);
    close(fd);
    return rc;
}

EM_API void em_epmd_names_free(em_epmd_name *names, int count)
{
    if (names == NULL)
        return;
    for (int i = 0; i < count; i++)
        free(names[i].name);
    free(names);
}

EM_API int em_epmd_names(const char *host, int epmd_port, int timeout_ms,
                         em_epmd_name **out, uint32_t *epmd_port_out)
{
    *out = NULL;
    em_buf reply = EM_BUF_INIT;
    uint8_t req = EM__EPMD_NAMES_REQ;
    int64_t deadline = deadline_in(timeout_ms);
    int fd;
    int rc = connect_epmd(host, epmd_port, deadline, LO_V4_FIRST, &fd);
    if (rc != 0)
        return rc;
    rc = send_request(fd, &req, 1, deadline);
    while (rc == 0) {
        if (reply.len >= REPLY_MAX) {
            rc = EM_EPROTO;
            break;
        }
        if ((rc = em_buf_reserve(&reply, 4096)) != 0)
            break;
        ssize_t n = recv_some(fd, reply.data + reply.len,
                              reply.cap - reply.len, deadline);
        if (n == 0)
            break;
        if (n < 0)
            rc = (int)n;
        else
            reply.len += (size_t)n;
    }
    close(fd);
    if (rc == 0 && reply.len < 4)
        rc = EM_EPROTO;
    em_epmd_name *names = NULL;
    int count = 0, cap = 0;
    if (rc == 0) {
        if (epmd_port_out)
            *epmd_port_out = ((uint32_t)reply.data[0] << 24) |
                             ((uint32_t)reply.data[1] << 16) |
                             ((uint32_t)reply.data[2] << 8) | reply.data[3];
        const char *p = (const char *)reply.data + 4;
        const char *end = (const char *)reply.data + reply.len;
        while (p < end && rc == 0) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            const char *nm;
            size_t nml;
            uint16_t port;
            if (em__epmd_parse_names_line(p, (size_t)(le - p), &nm, &nml,
                                          &port) == 0) {
                if (count == cap) {
                    int ncap = cap ? cap * 2 : 16;
                    em_epmd_name *nn = realloc(names, sizeof *nn * (size_t)ncap);
                    if (nn == NULL) {
                        rc = EM_ENOMEM;
                        break;
                    }
                    names = nn;
                    cap = ncap;
                }
                char *s = malloc(nml + 1);
                if (s == NULL) {
                    rc = EM_ENOMEM;
                    break;
                }
                memcpy(s, nm, nml);
                s[nml] = '\0';
                names[count].name = s;
                names[count].port = port;
                count++;
            }
            p = nl ? nl + 1 : end;
        }
    }
    em_buf_free(&reply);
    if (rc != 0) {
        em_epmd_names_free(names, count);
        return rc;
    }
    *out = names;
    return count;
}

/* ------------------------------------------------------------- spawn */

static int answers(int epmd_port, int timeout_ms)
{
    em_epmd_name *names = NULL;
    int n = em_epmd_names(NULL, epmd_port, timeout_ms, &names, NULL);
    if (n >= 0)
        em_epmd_names_free(names, n);
    return n >= 0;
}

/* Formats one line into why[why_size] (when the caller wants it). */
static void say(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t why_size, const char *fmt, ...)
{
    if (why == NULL || why_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
}

/* The search for the daemon's binary (see em_epmd_spawn's contract for the
 * order).  Each place looked at is appended to `tried` (", "-separated,
 * each listed once) so that a failure can name all of them in one line;
 * `found` is the first regular executable file, malloc'd. */
typedef struct locate {
    em_buf tried;
    char *found;
    int failed; /* EM_ENOMEM once an allocation failed */
} locate;

/* Whether `p` is already in the tried list (as a whole entry). */
static bool locate_seen(const locate *l, const char *p)
{
    size_t n = strlen(p);
    const char *s = (const char *)l->tried.data, *end = s + l->tried.len;
    while (s != NULL && s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        if ((size_t)(stop - s) >= n && memcmp(s, p, n) == 0 &&
            (s + n == stop || s[n] == ' '))
            return true;
        s = comma ? comma + 2 : NULL;
    }
    return false;
}

static void locate_note(locate *l, const char *text)
{
    if (l->failed)
        return;
    size_t n = strlen(text);
    if (em_buf_reserve(&l->tried, n + 3) < 0) {
        l->failed = EM_ENOMEM;
        return;
    }
    if (l->tried.len > 0) {
        memcpy(l->tried.data + l->tried.len, ", ", 2);
        l->tried.len += 2;
    }
    memcpy(l->tried.data + l->tried.len, text, n);
    l->tried.len += n;
    l->tried.data[l->tried.len] = '\0';
}

/* Look at `p`; `note` (may be "") follows it in the list.  Returns true
 * when it is the one (then l->found is set). */
static bool locate_try(locate *l, const char *p, const char *note)
{
    if (l->found != NULL || l->failed)
        return l->found != NULL;
    if (locate_seen(l, p))
        return false;
    struct stat st;
    bool exists = stat(p, &st) == 0;
    if (exists && S_ISREG(st.st_mode) && access(p, X_OK) == 0) {
        l->found = strdup(p);
        if (l->found == NULL)
            l->failed = EM_ENOMEM;
        return l->found != NULL;
    }
    const char *what = exists ? " (not an executable file)" : "";
    size_t size = strlen(p) + strlen(what) + strlen(note) + 1;
    char *entry = malloc(size);
    if (entry == NULL) {
        l->failed = EM_ENOMEM;
        return false;
    }
    snprintf(entry, size, "%s%s%s", p, what, note);
    locate_note(l, entry);
    free(entry);
    return false;
}

/* dir + "/" + rest, on the heap (NULL when out of memory). */
static char *path_join(const char *dir, size_t dir_len, const char *rest)
{
    size_t n = strlen(rest);
    char *p = malloc(dir_len + n + 2);
    if (p != NULL) {
        memcpy(p, dir, dir_len);
        p[dir_len] = '/';
        memcpy(p + dir_len + 1, rest, n + 1);
    }
    return p;
}

static bool locate_try_in(locate *l, const char *dir, size_t dir_len,
                          const char *rest)
{
    char *p = path_join(dir, dir_len, rest);
    if (p == NULL) {
        l->failed = EM_ENOMEM;
        return false;
    }
    bool ok = locate_try(l, p, "");
    free(p);
    return ok;
}

/* Levels above the executable's directory searched for a build tree's
 * bin/: every program the Makefile builds is $(B)/<kind>/<name>, one level
 * under the $(B)/bin that holds ember-epmd (build/examples, build/asan/tests,
 * build/fuzz next to build/bin...); two more levels let a program in a
 * subfolder of such a tree find it too. */
#define LOCATE_UP_LEVELS 2

static void locate_run(locate *l, const char *epmd_path)
{
    /* An explicit choice is the only candidate: a wrong one is reported,
     * not silently replaced by another binary. */
    if (epmd_path != NULL) {
        locate_try(l, epmd_path, " (epmd_path)");
        return;
    }
    const char *env = getenv("EMBER_EPMD");
    if (env != NULL && *env != '\0') {
        locate_try(l, env, " ($EMBER_EPMD)");
        return;
    }
    char *self = malloc(PATH_MAX);
    if (self == NULL) {
        l->failed = EM_ENOMEM;
        return;
    }
    ssize_t n = readlink("/proc/self/exe", self, PATH_MAX - 1);
    char *slash = n > 0 ? (self[n] = '\0', strrchr(self, '/')) : NULL;
    if (slash != NULL) {
        size_t exe_dir = (size_t)(slash - self); /* "" for "/prog" */
        /* The build tree: <dir>/bin/ember-epmd for the executable's
         * directory and the ones above it. */
        size_t d = exe_dir;
        for (int up = 0; up <= LOCATE_UP_LEVELS; up++) {
            if (locate_try_in(l, self, d, "bin/ember-epmd"))
                goto out;
            if (d == 0)
                break;
            while (d > 0 && self[d - 1] != '/')
                d--;
            while (d > 1 && self[d - 1] == '/')
                d--;
            if (d == 1 && self[0] == '/')
                d = 0; /* the root: "" + "/bin/ember-epmd" */
        }
        /* Beside the executable. */
        if (locate_try_in(l, self, exe_dir, "ember-epmd"))
            goto out;
    }
#ifdef EM_BINDIR
    /* The installed tree, as configured when the library was built. */
    if (locate_try_in(l, EM_BINDIR, strlen(EM_BINDIR), "ember-epmd"))
        goto out;
#endif
    {
        /* $PATH, as execvp would search it (an unset PATH means its
         * default; empty entries, the current directory, are skipped). */
        const char *path = getenv("PATH");
        const char *list = path ? path : "/bin:/usr/bin";
        for (const char *s = list; *s != '\0';) {
            const char *colon = strchr(s, ':');
            size_t len = colon ? (size_t)(colon - s) : strlen(s);
            if (len > 0) {
                char *p = path_join(s, len, "ember-epmd");
                if (p == NULL) {
                    l->failed = EM_ENOMEM;
                    goto out;
                }
                struct stat st;
                if (stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
                    access(p, X_OK) == 0) {
                    l->found = p;
                    goto out;
                }
                free(p);
            }
            if (colon == NULL)
                break;
            s = colon + 1;
        }
        const char *unset = path ? "" : "unset: ";
        size_t size = strlen("$PATH ()") + strlen(unset) + strlen(list) + 1;
        char *entry = malloc(size);
        if (entry == NULL) {
            l->failed = EM_ENOMEM;
            goto out;
        }
        snprintf(entry, size, "$PATH (%s%s)", unset, list);
        locate_note(l, entry);
        free(entry);
    }
out:
    free(self);
}

EM_API int em_epmd_spawn(const char *epmd_path, int epmd_port, int timeout_ms,
                         char *why, size_t why_size)
{
    if (why != NULL && why_size > 0)
        why[0] = '\0';
    if (epmd_port <= 0)
        epmd_port = em_epmd_default_port();
    if (timeout_ms <= 0)
        timeout_ms = EM_EPMD_DEFAULT_TIMEOUT_MS;
    int64_t deadline = deadline_in(timeout_ms);
    /* Everything the child needs is prepared before fork(): between fork
     * and exec only async-signal-safe calls are allowed.  Paths live on the
     * heap: callers may run on small (coroutine) stacks. */
    locate l = {EM_BUF_INIT, NULL, 0};
    locate_run(&l, epmd_path);
    if (l.failed) {
        free(l.found);
        em_buf_free(&l.tried);
        say(why, why_size, "cannot start a port mapper: out of memory");
        return EM_ENOMEM;
    }
    if (l.found == NULL) {
        say(why, why_size, "cannot start a port mapper: ember-epmd not found in: %s",
            l.tried.data ? (const char *)l.tried.data : "");
        em_buf_free(&l.tried);
        return EM_ENOEPMD;
    }
    em_buf_free(&l.tried);
    const char *prog = l.found;
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", epmd_port);
    char *argv[] = {(char *)prog, "-daemon", "-port", port_s, NULL};
    /* The child reports a failed exec through this pipe (closed by a
     * successful one): the reason goes into the log line. */
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) < 0) {
        say(why, why_size, "cannot start a port mapper: pipe: %s", strerror(errno));
        free(l.found);
        return EM_EIO;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(ep[0]);
        close(ep[1]);
        say(why, why_size, "cannot start a port mapper: fork: %s", strerror(e));
        free(l.found);
        return EM_EIO;
    }
    if (pid == 0) {
        /* The daemon must not hold the caller's terminal or pipes open:
         * -daemon closes them after it bound its port. */
        close(ep[0]);
        execv(prog, argv);
        int e = errno;
        ssize_t w = write(ep[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(ep[1]);
    int exec_errno = 0;
    ssize_t r;
    while ((r = read(ep[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR)
        ;
    close(ep[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (r == (ssize_t)sizeof exec_errno) {
        say(why, why_size, "cannot start a port mapper: cannot run %s: %s", prog,
            strerror(exec_errno));
        free(l.found);
        return EM_ENOEPMD;
    }
    /* -daemon returns once the port is bound (or found taken: then another
     * port mapper answers), and exits 1 when it could not start. */
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        say(why, why_size,
            "cannot start a port mapper: %s -daemon -port %s exited with status %d",
            prog, port_s, WEXITSTATUS(status));
        free(l.found);
        return EM_EIO;
    }
    if (WIFSIGNALED(status)) {
        say(why, why_size,
            "cannot start a port mapper: %s -daemon -port %s was killed by signal %d",
            prog, port_s, WTERMSIG(status));
        free(l.found);
        return EM_EIO;
    }
    /* Normally it answers at once; poll in case of a slower daemon. */
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            say(why, why_size,
                "cannot start a port mapper: %s -daemon -port %s started, but "
                "nothing answered on port %s within %d ms",
                prog, port_s, port_s, timeout_ms);
            free(l.found);
            return EM_ETIMEDOUT;
        }
        if (answers(epmd_port, left > 1000 ? 1000 : (int)left))
            break;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    free(l.found);
    return 0;
}

EM_API int em_epmd_ensure(const char *epmd_path, int epmd_port, int timeout_ms,
                          char *why, size_t why_size)
{
    if (why != NULL && why_size > 0)
        why[0] = '\0';
    if (answers(epmd_port, 2000))
        return 0;
    int rc = em_epmd_spawn(epmd_path, epmd_port, timeout_ms, why, why_size);
    return rc == 0 ? 1 : rc;
}
