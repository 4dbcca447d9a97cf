/* test_inet6.c: IPv6 (erl's -proto_dist inet6_tcp): the port mapper
 * serving IPv6 clients, the client reaching it over ::1, and a node that
 * listens, registers and dials over IPv6 (em_node_opts's inet6), with the
 * IPv4 paths beside it unchanged.  Needs ::1 on this host: without it the
 * tests fail (they say so) rather than pass unseen. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "logcap.h"
#include "dist_int.h"
#include "epmdtest.h"
#include "rttest.h"

#define A(s) em_atom(s)

/* ---- helpers ---- */

static void quiet_log(void *ud, int level, const char *line)
{
    (void)ud, (void)level, (void)line;
}

/* This host has ::1: a socket bound there. */
static void need_ipv6_loopback(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    ck_assert_msg(ok, "this host has no IPv6 loopback (::1): the IPv6 tests cannot run");
}

/* A listening socket on addr (AF_INET or AF_INET6, v6-only), port 0;
 * *port gets its port. */
static int listen_on(int family, const void *addr, int *port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (family == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        memcpy(&a->sin6_addr, addr, sizeof a->sin6_addr);
        sl = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        memcpy(&a->sin_addr, addr, sizeof a->sin_addr);
        sl = sizeof *a;
    }
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, sl), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
    *port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                     : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* Whether a TCP connection to ip:port is accepted (by the kernel). */
static bool can_connect(const char *ip, int port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, ip, &a->sin6_addr);
        sl = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, ip, &a->sin_addr);
        sl = sizeof *a;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&ss, sl) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* ---- the port mapper and its client ---- */

static em_epmd_srv *srv;
static pthread_t srv_thread;

static void *srv_main(void *arg)
{
    (void)arg;
    em_epmd_srv_run(srv);
    return NULL;
}

static int srv_start(const char *addresses)
{
    em_epmd_srv_opts o;
    em_epmd_srv_opts_init(&o);
    o.port = 0;
    o.log = quiet_log;
    o.addresses = addresses;
    ck_assert_em_ok(em_epmd_srv_create(&o, &srv));
    ck_assert_int_eq(pthread_create(&srv_thread, NULL, srv_main, NULL), 0);
    return em_epmd_srv_port(srv);
}

static void srv_stop(void)
{
    em_epmd_srv_stop(srv);
    pthread_join(srv_thread, NULL);
    em_epmd_srv_destroy(srv);
}

/* A node registered over ::1 is local to the port mapper (ALIVE2 accepted)
 * and is found over ::1 and over 127.0.0.1 alike: PORT_PLEASE2, NAMES and a
 * raw call all answer IPv6 clients. */
START_TEST(port_mapper_serves_ipv6_clients)
{
    need_ipv6_loopback();
    int p = srv_start("127.0.0.1"); /* ::1 is added, as epmd adds it */
    em_epmd_node_info info;
    em_epmd_node_info_init(&info, "six", 40006);
    em_epmd_reg *r = NULL;
    uint32_t cr = 0;
    ck_assert_em_ok(em_epmd_register_inet6(&info, p, 2000, &r, &cr));
    ck_assert_uint_gt(cr, 0);
    em_epmd_node_info got;
    ck_assert_em_ok(em_epmd_port_please("::1", "six", p, 2000, &got));
    ck_assert_uint_eq(got.port, 40006);
    ck_assert_em_ok(em_epmd_port_please("127.0.0.1", "six", p, 2000, &got));
    ck_assert_uint_eq(got.port, 40006);
    ck_assert_em_err(em_epmd_port_please("::1", "nobody", p, 2000, &got), EM_ENOTFOUND);
    em_epmd_name *names = NULL;
    uint32_t eport = 0;
    int n = em_epmd_names("::1", p, 2000, &names, &eport);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(names[0].name, "six");
    ck_assert_uint_eq(eport, (uint32_t)p);
    em_epmd_names_free(names, n);
    em_buf reply = EM_BUF_INIT;
    ck_assert_em_ok(em_epmd_call("::1", p, "n", 1, 2000, &reply));
    ck_assert_uint_ge(reply.len, 4);
    ck_assert(memmem(reply.data, reply.len, "name six at port 40006", 22) != NULL);
    em_buf_free(&reply);
    /* a second registration of the name over IPv4 is refused: one table */
    em_epmd_reg *dup = NULL;
    ck_assert_em_err(em_epmd_register(&info, p, 2000, &dup, NULL), EM_EEXIST);
    em_epmd_reg_close(r);
    srv_stop();
}
END_TEST

/* Without addresses the port mapper listens as Debian's epmd does, on
 * 0.0.0.0 and [::]: both loopbacks answer. */
START_TEST(port_mapper_listens_on_both_families_by_default)
{
    need_ipv6_loopback();
    int p = srv_start(NULL);
    em_epmd_name *names = NULL;
    ck_assert_int_eq(em_epmd_names("127.0.0.1", p, 2000, &names, NULL), 0);
    ck_assert_int_eq(em_epmd_names("::1", p, 2000, &names, NULL), 0);
    srv_stop();
}
END_TEST

/* em_epmd_register_inet6 tries ::1 only (erl_epmd for inet6_tcp): a port
 * mapper port that answers only on 127.0.0.1 (here a listener that never
 * replies, so em_epmd_register times out there) is EM_ECONNREFUSED at
 * once. */
START_TEST(register_inet6_goes_to_ipv6_loopback_only)
{
    need_ipv6_loopback();
    struct in_addr lo = {.s_addr = htonl(INADDR_LOOPBACK)};
    int p;
    int l = listen_on(AF_INET, &lo, &p);
    em_epmd_node_info info;
    em_epmd_node_info_init(&info, "six", 1);
    em_epmd_reg *r = NULL;
    int64_t t0 = rt_now_ms();
    ck_assert_em_err(em_epmd_register_inet6(&info, p, 1000, &r, NULL), EM_ECONNREFUSED);
    ck_assert_int_lt(rt_now_ms() - t0, 500);
    ck_assert_em_err(em_epmd_register(&info, p, 300, &r, NULL), EM_ETIMEDOUT);
    close(l);
}
END_TEST

/* ---- the node ---- */

static void opts_for(em_node_opts *o, const char *name, bool inet6)
{
    em_node_opts_init(o);
    o->name = name;
    o->longnames = strchr(name, '@') != NULL;
    o->inet6 = inet6;
    o->cookie = "inet6test";
    o->epmd_port = epmd_port;
    o->no_epmd_start = true;
    o->quiet = true;
}

/* em_node_args: -proto_dist inet6_tcp sets inet6, inet_tcp clears it,
 * both are taken out of argv; another protocol is EM_ENOTSUP with one log
 * line; a missing value EM_EINVAL. */
START_TEST(node_args_proto_dist)
{
    char *argv[] = {"prog", "-proto_dist", "inet6_tcp", "one", "-name", "a@::1", NULL};
    int argc = 6;
    em_node_opts o;
    em_node_opts_init(&o);
    ck_assert_em_ok(em_node_args(&argc, argv, &o));
    ck_assert(o.inet6 && o.longnames);
    ck_assert_str_eq(o.name, "a@::1");
    ck_assert_int_eq(argc, 2);
    ck_assert_str_eq(argv[1], "one");
    ck_assert_ptr_null(argv[2]);

    char *argv2[] = {"prog", "-sname", "a", "-proto_dist", "inet_tcp", NULL};
    int argc2 = 5;
    em_node_opts_init(&o);
    o.inet6 = true;
    ck_assert_em_ok(em_node_args(&argc2, argv2, &o));
    ck_assert(!o.inet6 && argc2 == 1);

    char *argv3[] = {"prog", "-sname", "a", "-proto_dist", "inet_tls", NULL};
    int argc3 = 5;
    em_node_opts_init(&o);
    logcap_begin();
    int rc = em_node_args(&argc3, argv3, &o);
    ck_assert_int_eq(logcap_end("inet_tls"), 1);
    ck_assert_em_err(rc, EM_ENOTSUP);

    char *argv4[] = {"prog", "-sname", "a", "-proto_dist", NULL};
    int argc4 = 4;
    em_node_opts_init(&o);
    ck_assert_em_err(em_node_args(&argc4, argv4, &o), EM_EINVAL);
}
END_TEST

static bool v6only_by_default(void)
{
    FILE *f = fopen("/proc/sys/net/ipv6/bindv6only", "r");
    int v = 0;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v != 0;
}

/* An inet6 node listens on IPv6 (and, as erl's, takes IPv4 peers too
 * unless the system makes IPv6 sockets v6-only) and is registered over ::1;
 * an IPv4 node as before: IPv4 only. */
START_TEST(inet6_node_listens_and_registers_over_ipv6)
{
    need_ipv6_loopback();
    epmd_start();
    em_node_opts o;
    opts_for(&o, "six@::1", true);
    ck_assert_em_ok(em_node_start_opts(&o));
    ck_assert_str_eq(em_atom_text(em__nd.name, NULL), "six@::1");
    int port = em_node_port();
    ck_assert_int_gt(port, 0);
    ck_assert(can_connect("::1", port));
    ck_assert(can_connect("127.0.0.1", port) == !v6only_by_default());
    em_epmd_node_info got;
    ck_assert_em_ok(em_epmd_port_please("::1", "six", epmd_port, 2000, &got));
    ck_assert_int_eq(got.port, port);
    ck_assert_em_ok(em_node_stop());
    ck_assert_int_eq(em_run(), 0);

    opts_for(&o, "four@127.0.0.1", false);
    ck_assert_em_ok(em_node_start_opts(&o));
    port = em_node_port();
    ck_assert(can_connect("127.0.0.1", port));
    ck_assert(!can_connect("::1", port));
    ck_assert_em_ok(em_node_stop());
    ck_assert_int_eq(em_run(), 0);
    epmd_stop();
}
END_TEST

/* An inet6 node whose port mapper port answers on 127.0.0.1 only cannot
 * register (erl's cannot either): EM_ECONNREFUSED, one log line naming
 * ::1, no node. */
START_TEST(inet6_node_without_ipv6_port_mapper_says_so)
{
    need_ipv6_loopback();
    struct in_addr lo = {.s_addr = htonl(INADDR_LOOPBACK)};
    int p;
    int l = listen_on(AF_INET, &lo, &p);
    em_node_opts o;
    opts_for(&o, "six@::1", true);
    o.epmd_port = p;
    o.quiet = false;
    logcap_begin();
    int rc = em_node_start_opts(&o);
    ck_assert_int_eq(logcap_end("[::1]"), 1);
    ck_assert_em_err(rc, EM_ECONNREFUSED);
    ck_assert_em_err(em_node_port(), EM_ESTATE);
    close(l);
}
END_TEST

/* A fake node on an IPv6-only listener: it counts the dials that reach it
 * and checks each opens with a handshake's send_name ('N'), then closes. */
static int fake_lfd;
static _Atomic int fake_dials, fake_v6_dials;
static _Atomic int fake_stop;

static void *fake_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&fake_stop)) {
        struct pollfd p = {.fd = fake_lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept(fake_lfd, (struct sockaddr *)&ss, &sl);
        if (fd < 0)
            continue;
        struct timeval tv = {5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        uint8_t b[3];
        size_t got = 0;
        while (got < 3) {
            ssize_t n = recv(fd, b + got, 3 - got, 0);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got == 3 && b[2] == 'N') {
            atomic_fetch_add(&fake_dials, 1);
            if (ss.ss_family == AF_INET6)
                atomic_fetch_add(&fake_v6_dials, 1);
        }
        close(fd);
    }
    return NULL;
}

static char fake_at_host[300];

static void dialer_proc(void *arg)
{
    (void)arg;
    char why[200];
    /* by IPv6 address, over IPv6 */
    CHECK(em_node_connect(A("fake@::1"), 5000, why, sizeof why) != 0);
    CHECK(atomic_load(&fake_v6_dials) == 1);
    /* a host with no IPv6 address is not found (erl: nxdomain) */
    CHECK(em_node_connect(A("fake@127.0.0.1"), 5000, why, sizeof why) == EM_ENOTFOUND);
    CHECK(atomic_load(&fake_dials) == 1);
    CHECK(em_node_stop() == 0);
}

static void short_dialer_proc(void *arg)
{
    (void)arg;
    char why[200];
    /* this host's own name: its IPv6 address, or ::1 as erl falls back */
    CHECK(em_node_connect(A(fake_at_host), 5000, why, sizeof why) != 0);
    CHECK(atomic_load(&fake_v6_dials) == 2);
    CHECK(em_node_stop() == 0);
}

static void ipv4_dialer_proc(void *arg)
{
    (void)arg;
    char why[200];
    /* an IPv4 node cannot dial an IPv6 address (erl: illegal host name) */
    CHECK(em_node_connect(A("fake@::1"), 5000, why, sizeof why) == EM_EINVAL);
    CHECK(atomic_load(&fake_dials) == 2);
    CHECK(em_node_stop() == 0);
}

/* An inet6 node dials IPv6: by an IPv6 address (the port mapper asked over
 * IPv6 too), by this host's name (short names); a host with only an IPv4
 * address is not found, as for erl; an IPv4 node does not dial a@::1. */
START_TEST(inet6_node_dials_over_ipv6)
{
    need_ipv6_loopback();
    epmd_start();
    int fake_port;
    fake_lfd = listen_on(AF_INET6, &in6addr_any, &fake_port);
    pthread_t ft;
    ck_assert_int_eq(pthread_create(&ft, NULL, fake_main, NULL), 0);
    em_epmd_node_info info;
    em_epmd_node_info_init(&info, "fake", (uint16_t)fake_port);
    em_epmd_reg *reg = NULL;
    ck_assert_em_ok(em_epmd_register(&info, epmd_port, 5000, &reg, NULL));

    em_node_opts o;
    opts_for(&o, "dialer@::1", true);
    ck_assert_em_ok(em_node_start_opts(&o));
    ck_assert(em_spawn(dialer_proc, NULL) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 5);

    char h[256];
    ck_assert_int_eq(gethostname(h, sizeof h), 0);
    h[strcspn(h, ".")] = '\0';
    snprintf(fake_at_host, sizeof fake_at_host, "fake@%s", h);
    opts_for(&o, "sdialer", true);
    ck_assert_em_ok(em_node_start_opts(&o));
    ck_assert(em_spawn(short_dialer_proc, NULL) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 8);

    opts_for(&o, "fourdialer@127.0.0.1", false);
    ck_assert_em_ok(em_node_start_opts(&o));
    ck_assert(em_spawn(ipv4_dialer_proc, NULL) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 11);

    atomic_store(&fake_stop, 1);
    pthread_join(ft, NULL);
    close(fake_lfd);
    em_epmd_reg_close(reg);
    epmd_stop();
}
END_TEST

static Suite *inet6_suite(void)
{
    Suite *s = suite_create("inet6");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, port_mapper_serves_ipv6_clients);
    tcase_add_test(tc, port_mapper_listens_on_both_families_by_default);
    tcase_add_test(tc, register_inet6_goes_to_ipv6_loopback_only);
    tcase_add_test(tc, node_args_proto_dist);
    tcase_add_test(tc, inet6_node_listens_and_registers_over_ipv6);
    tcase_add_test(tc, inet6_node_without_ipv6_port_mapper_says_so);
    tcase_add_test(tc, inet6_node_dials_over_ipv6);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(inet6_suite)
