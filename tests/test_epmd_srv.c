/* test_epmd_srv.c: the port mapper daemon, run in-process on a thread on
 * an ephemeral port, driven through ember's client and through raw
 * sockets: registration lifetime, creation numbers, every request, local
 * command checks, garbage/truncated/oversized requests, idle timeouts,
 * 1,000 concurrent registrations, churn, and starting ember-epmd. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "emtest.h"
#include "epmd_proto.h"
#include "epmd_srv.h"

#define TEST_TIMEOUT_MS 300 /* packet timeout of the daemon under test */

static em_epmd_srv *srv;
static pthread_t srv_thread;
static int srv_result;
static int port;

static void *srv_main(void *arg)
{
    (void)arg;
    srv_result = em_epmd_srv_run(srv);
    return NULL;
}

static void quiet_log(void *ud, int level, const char *line)
{
    (void)ud, (void)level, (void)line;
}

static int srv_sndbuf; /* SO_SNDBUF for the next start_srv, 0: default */

static void start_srv(int relaxed)
{
    em_epmd_srv_opts o;
    em_epmd_srv_opts_init(&o);
    o.sndbuf = srv_sndbuf;
    o.port = 0;
    o.relaxed = relaxed;
    o.packet_timeout_ms = TEST_TIMEOUT_MS;
    o.log = quiet_log;
    o.addresses = "127.0.0.1";
    ck_assert_em_ok(em_epmd_srv_create(&o, &srv));
    port = em_epmd_srv_port(srv);
    ck_assert_int_gt(port, 0);
    ck_assert_int_eq(pthread_create(&srv_thread, NULL, srv_main, NULL), 0);
}

static int stop_srv(void)
{
    em_epmd_srv_stop(srv);
    pthread_join(srv_thread, NULL);
    em_epmd_srv_destroy(srv);
    srv = NULL;
    return srv_result;
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    start_srv(0);
}

static void setup_relaxed(void)
{
    signal(SIGPIPE, SIG_IGN);
    start_srv(1);
}

static void teardown(void)
{
    if (srv)
        stop_srv();
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static em_epmd_srv_stats stats(void)
{
    em_epmd_srv_stats st;
    em_epmd_srv_stats_get(srv, &st);
    return st;
}

/* Wait until the daemon's counters satisfy `cond` (bounded). */
#define WAIT_FOR(cond)                                                         \
    do {                                                                       \
        for (int w_ = 0; w_ < 300 && !(cond); w_++)                            \
            sleep_ms(10);                                                      \
        ck_assert_msg((cond), "timed out waiting for %s", #cond);              \
    } while (0)

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
    ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Read until the daemon closes: the byte count, or -1 on timeout. */
static ssize_t raw_read_all(int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + got, cap - got, 0);
        if (n == 0)
            return (ssize_t)got;
        if (n < 0)
            return errno == ECONNRESET ? (ssize_t)got : -1;
        got += (size_t)n;
        if (got == cap)
            return (ssize_t)got;
    }
}

/* Send a raw frame and expect the connection closed with no reply. */
static void expect_closed_silently(const void *frame, size_t n)
{
    int fd = raw_connect();
    raw_send(fd, frame, n);
    uint8_t b[64];
    ck_assert_int_eq(raw_read_all(fd, b, sizeof b), 0);
    close(fd);
}

static int alive2_raw(const char *name, uint16_t high, uint8_t *reply,
                      size_t *rlen)
{
    em_epmd_node_info info;
    em_epmd_node_info_init(&info, name, 4000);
    info.high_version = high;
    uint8_t req[64];
    size_t n = em__epmd_put_alive2_req(req, sizeof req, &info);
    int fd = raw_connect();
    raw_send(fd, req, n);
    ssize_t r = recv(fd, reply, 16, 0);
    ck_assert_int_gt(r, 0);
    *rlen = (size_t)r;
    return fd;
}

static int reg_on(int epmd_port, const char *name, uint16_t nport,
                  em_epmd_reg **r, uint32_t *cr)
{
    em_epmd_node_info info;
    em_epmd_node_info_init(&info, name, nport);
    return em_epmd_register(&info, epmd_port, 2000, r, cr);
}

static int reg(const char *name, uint16_t nport, em_epmd_reg **r,
               uint32_t *cr)
{
    return reg_on(port, name, nport, r, cr);
}

/* ------------------------------------------------------------ tests */

START_TEST(test_register_then_port_please_finds_the_node)
{
    em_epmd_reg *r;
    uint32_t cr = 0;
    em_epmd_node_info info;
    em_epmd_node_info_init(&info, "alpha", 40001);
    info.extra_len = 3;
    memcpy(info.extra, "xyz", 3);
    ck_assert_em_ok(em_epmd_register(&info, port, 2000, &r, &cr));
    ck_assert_uint_ge(cr, (uint32_t)time(NULL) - 5);
    em_epmd_node_info got;
    ck_assert_em_ok(em_epmd_port_please(NULL, "alpha", port, 2000, &got));
    ck_assert_uint_eq(got.port, 40001);
    ck_assert_uint_eq(got.node_type, EM_EPMD_NODE_HIDDEN);
    ck_assert_uint_eq(got.high_version, 6);
    ck_assert_uint_eq(got.low_version, 5);
    ck_assert_str_eq(got.name, "alpha");
    ck_assert_uint_eq(got.extra_len, 3);
    ck_assert(memcmp(got.extra, "xyz", 3) == 0);
    ck_assert_em_err(em_epmd_port_please(NULL, "Alpha", port, 2000, &got),
                     EM_ENOTFOUND);
    ck_assert_int_eq(em_epmd_reg_check(r), 0);
    em_epmd_reg_close(r);
}
END_TEST

START_TEST(test_registration_ends_when_its_connection_closes)
{
    em_epmd_reg *r;
    em_epmd_node_info got;
    ck_assert_em_ok(reg("beta", 40002, &r, NULL));
    WAIT_FOR(stats().nodes == 1);
    em_epmd_reg_close(r);
    WAIT_FOR(stats().nodes == 0 && stats().conns == 0);
    ck_assert_em_err(em_epmd_port_please(NULL, "beta", port, 2000, &got),
                     EM_ENOTFOUND);
    ck_assert_uint_eq(stats().unreg, 1);
}
END_TEST

START_TEST(test_duplicate_name_is_refused)
{
    em_epmd_reg *r, *r2;
    ck_assert_em_ok(reg("gamma", 40003, &r, NULL));
    ck_assert_em_err(reg("gamma", 40004, &r2, NULL), EM_EEXIST);
    uint8_t resp[16];
    size_t n;
    int fd = alive2_raw("gamma", 6, resp, &n);
    static const uint8_t refused[] = {0x76, 1, 0, 0, 0, 99};
    ck_assert_uint_eq(n, 6);
    ck_assert(memcmp(resp, refused, 6) == 0);
    uint8_t b[8];
    ck_assert_int_eq(raw_read_all(fd, b, sizeof b), 0); /* then closed */
    close(fd);
    em_epmd_node_info got;
    ck_assert_em_ok(em_epmd_port_please(NULL, "gamma", port, 2000, &got));
    ck_assert_uint_eq(got.port, 40003);
    em_epmd_reg_close(r);
}
END_TEST

START_TEST(test_reregistration_bumps_the_creation)
{
    em_epmd_reg *r;
    uint32_t c1, c2, c3, other;
    ck_assert_em_ok(reg("delta", 1, &r, &c1));
    em_epmd_reg_close(r);
    WAIT_FOR(stats().nodes == 0);
    ck_assert_em_ok(reg("delta", 1, &r, &c2));
    em_epmd_reg_close(r);
    WAIT_FOR(stats().nodes == 0);
    ck_assert_em_ok(reg("delta", 1, &r, &c3));
    ck_assert_uint_eq(c2, c1 + 1);
    ck_assert_uint_eq(c3, c1 + 2);
    em_epmd_reg *r2;
    ck_assert_em_ok(reg("epsilon", 2, &r2, &other));
    ck_assert_uint_ge(other, 4);
    em_epmd_reg_close(r);
    em_epmd_reg_close(r2);
}
END_TEST

START_TEST(test_v5_node_gets_alive2_resp_with_16bit_creation)
{
    uint8_t resp[16];
    size_t n;
    int fd = alive2_raw("old", 5, resp, &n);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(resp[0], EM__EPMD_ALIVE2_RESP);
    ck_assert_uint_eq(resp[1], 0);
    ck_assert_uint_eq(resp[2], 0);
    ck_assert(resp[3] >= 1 && resp[3] <= 3);
    close(fd);
}
END_TEST

START_TEST(test_extra_bytes_on_registration_socket_unregister)
{
    uint8_t resp[16];
    size_t n;
    int fd = alive2_raw("zeta", 6, resp, &n);
    ck_assert_uint_eq(n, 6);
    WAIT_FOR(stats().nodes == 1);
    raw_send(fd, "?", 1);
    uint8_t b[8];
    ck_assert_int_eq(raw_read_all(fd, b, sizeof b), 0);
    close(fd);
    WAIT_FOR(stats().nodes == 0 && stats().conns == 0);
}
END_TEST

START_TEST(test_names_lists_nodes_newest_first_after_the_port)
{
    em_epmd_reg *a, *b;
    ck_assert_em_ok(reg("n1", 5001, &a, NULL));
    ck_assert_em_ok(reg("n2", 5002, &b, NULL));
    int fd = raw_connect();
    raw_send(fd, "\0\1n", 3);
    uint8_t buf[256];
    ssize_t got = raw_read_all(fd, buf, sizeof buf);
    close(fd);
    const char *text = "name n2 at port 5002\nname n1 at port 5001\n";
    ck_assert_int_eq(got, 4 + (ssize_t)strlen(text));
    ck_assert_uint_eq(((unsigned)buf[2] << 8) | buf[3], (unsigned)port);
    ck_assert(buf[0] == 0 && buf[1] == 0);
    ck_assert(memcmp(buf + 4, text, strlen(text)) == 0);

    em_epmd_name *names;
    uint32_t eport;
    int cnt = em_epmd_names(NULL, port, 2000, &names, &eport);
    ck_assert_int_eq(cnt, 2);
    ck_assert_uint_eq(eport, (uint32_t)port);
    ck_assert_str_eq(names[0].name, "n2");
    ck_assert_uint_eq(names[1].port, 5001);
    em_epmd_names_free(names, cnt);
    em_epmd_reg_close(a);
    em_epmd_reg_close(b);
}
END_TEST

START_TEST(test_dump_shows_active_and_old_names_with_nul_terminators)
{
    em_epmd_reg *a, *b;
    ck_assert_em_ok(reg("d1", 6001, &a, NULL));
    ck_assert_em_ok(reg("d2", 6002, &b, NULL));
    em_epmd_reg_close(a);
    WAIT_FOR(stats().nodes == 1);
    em_buf r = EM_BUF_INIT;
    ck_assert_em_ok(em_epmd_call(NULL, port, "d", 1, 2000, &r));
    ck_assert_uint_gt(r.len, 4);
    const char *p = (const char *)r.data + 4;
    ck_assert(strncmp(p, "active name     <d2> at port 6002, fd = ", 39) == 0);
    p += strlen(p) + 1; /* each line ends with "\n\0" */
    ck_assert(strncmp(p, "old/unused name <d1>, port = 6001, fd = ", 40) == 0);
    ck_assert(p[strlen(p) - 2] == ' ' && p[strlen(p) - 1] == '\n');
    ck_assert_ptr_eq(p + strlen(p) + 1, (const char *)r.data + r.len);
    em_buf_free(&r);
    em_epmd_reg_close(b);
}
END_TEST

START_TEST(test_kill_refused_while_nodes_are_registered)
{
    em_epmd_reg *a;
    ck_assert_em_ok(reg("k1", 1, &a, NULL));
    em_buf r = EM_BUF_INIT;
    ck_assert_em_ok(em_epmd_call(NULL, port, "k", 1, 2000, &r));
    ck_assert_uint_eq(r.len, 2);
    ck_assert(memcmp(r.data, "NO", 2) == 0);
    em_epmd_reg_close(a);
    WAIT_FOR(stats().nodes == 0);
    r.len = 0;
    ck_assert_em_ok(em_epmd_call(NULL, port, "k", 1, 2000, &r));
    ck_assert_uint_eq(r.len, 2);
    ck_assert(memcmp(r.data, "OK", 2) == 0);
    em_buf_free(&r);
    pthread_join(srv_thread, NULL);
    ck_assert_int_eq(srv_result, 1);
    em_epmd_srv_destroy(srv);
    srv = NULL;
}
END_TEST

START_TEST(test_stop_without_relaxed_check_closes_without_reply)
{
    em_epmd_reg *a;
    ck_assert_em_ok(reg("s1", 1, &a, NULL));
    expect_closed_silently("\0\3ss1", 5);
    ck_assert_int_eq(em_epmd_reg_check(a), 0);
    em_epmd_reg_close(a);
}
END_TEST

START_TEST(test_relaxed_stop_unregisters_and_kill_ends_with_nodes)
{
    em_epmd_reg *a, *b;
    ck_assert_em_ok(reg("s1", 1, &a, NULL));
    ck_assert_em_ok(reg("s2", 2, &b, NULL));
    em_buf r = EM_BUF_INIT;
    ck_assert_em_ok(em_epmd_call(NULL, port, "ss1", 3, 2000, &r));
    ck_assert_uint_eq(r.len, 7);
    ck_assert(memcmp(r.data, "STOPPED", 7) == 0);
    WAIT_FOR(em_epmd_reg_check(a) == EM_ECLOSED);
    r.len = 0;
    ck_assert_em_ok(em_epmd_call(NULL, port, "snope", 5, 2000, &r));
    ck_assert_uint_eq(r.len, 14);
    ck_assert(memcmp(r.data, "NOEXISTSTOPPED", 14) == 0);
    r.len = 0;
    ck_assert_em_ok(em_epmd_call(NULL, port, "k", 1, 2000, &r));
    ck_assert(r.len == 2 && memcmp(r.data, "OK", 2) == 0);
    em_buf_free(&r);
    pthread_join(srv_thread, NULL);
    ck_assert_int_eq(srv_result, 1);
    /* Killing closed the remaining registration. */
    ck_assert_int_eq(em_epmd_reg_check(b), EM_ECLOSED);
    em_epmd_srv_destroy(srv);
    srv = NULL;
    em_epmd_reg_close(a);
    em_epmd_reg_close(b);
}
END_TEST

START_TEST(test_garbage_and_obsolete_requests_close_without_reply)
{
    expect_closed_silently("\0\1a", 3);          /* obsolete ALIVE_REQ */
    expect_closed_silently("\0\4pfoo", 6);       /* obsolete PORT_REQ */
    expect_closed_silently("\0\1Y", 3);
    expect_closed_silently("\0\3\xff\xfe\xfd", 5);
    expect_closed_silently("\0\0", 2);           /* Len 0 */
    expect_closed_silently("\0\1nX", 4);         /* more than announced */
    expect_closed_silently("\0\1z", 3);          /* PORT2 without a name */
    expect_closed_silently("\0\3z\0a", 5);       /* NUL inside the name */
    expect_closed_silently("\0\5xabcd", 7);      /* ALIVE2 too short */
    WAIT_FOR(stats().conns == 0);
    ck_assert_uint_ge(stats().rejected, 9);
    em_epmd_name *names;
    ck_assert_int_eq(em_epmd_names(NULL, port, 2000, &names, NULL), 0);
}
END_TEST

START_TEST(test_oversized_request_is_closed_early)
{
    /* Len 3058 is refused as soon as the header arrives. */
    expect_closed_silently("\x0b\xf2", 2);
    expect_closed_silently("\xff\xff", 2);
    /* The largest allowed frame is served. */
    static uint8_t big[2 + EM__EPMD_REQ_MAX];
    big[0] = EM__EPMD_REQ_MAX >> 8;
    big[1] = EM__EPMD_REQ_MAX & 0xff;
    big[2] = 'n';
    int fd = raw_connect();
    raw_send(fd, big, sizeof big);
    uint8_t b[16];
    ck_assert_int_eq(raw_read_all(fd, b, sizeof b), 4);
    close(fd);
}
END_TEST

START_TEST(test_truncated_request_then_eof_is_dropped)
{
    int fd = raw_connect();
    raw_send(fd, "\0\5zab", 5);
    shutdown(fd, SHUT_WR);
    uint8_t b[8];
    ck_assert_int_eq(raw_read_all(fd, b, sizeof b), 0);
    close(fd);
    WAIT_FOR(stats().conns == 0);
}
END_TEST

START_TEST(test_request_split_across_writes_is_served)
{
    em_epmd_reg *a;
    ck_assert_em_ok(reg("split", 7777, &a, NULL));
    int fd = raw_connect();
    const char *req = "\0\6zsplit";
    for (int i = 0; i < 8; i++) {
        raw_send(fd, req + i, 1);
        sleep_ms(5);
    }
    uint8_t b[64];
    ck_assert_int_eq(raw_read_all(fd, b, sizeof b), 14 + 5);
    ck_assert_uint_eq(b[0], EM__EPMD_PORT2_RESP);
    ck_assert_uint_eq(b[1], 0);
    ck_assert_uint_eq((b[2] << 8) | b[3], 7777);
    close(fd);
    em_epmd_reg_close(a);
}
END_TEST

START_TEST(test_silent_client_is_closed_after_the_idle_timeout)
{
    int fd = raw_connect();
    raw_send(fd, "\0", 1); /* half a header, then nothing */
    int fd2 = raw_connect(); /* nothing at all */
    uint8_t b[8];
    ck_assert_int_eq(raw_read_all(fd, b, sizeof b), 0);
    ck_assert_int_eq(raw_read_all(fd2, b, sizeof b), 0);
    close(fd);
    close(fd2);
    WAIT_FOR(stats().conns == 0);
    ck_assert_uint_ge(stats().timeouts, 2);
}
END_TEST

START_TEST(test_slow_clients_do_not_stall_others)
{
    int idle[200];
    for (int i = 0; i < 200; i++) {
        idle[i] = raw_connect();
        if (i % 2)
            raw_send(idle[i], "\0\5zab", 5); /* incomplete forever */
    }
    em_epmd_reg *a;
    ck_assert_em_ok(reg("busy", 9, &a, NULL));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 100; i++) {
        em_epmd_node_info got;
        ck_assert_em_ok(em_epmd_port_please(NULL, "busy", port, 2000, &got));
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    ck_assert_msg(ms < TEST_TIMEOUT_MS, "lookups took %.0f ms", ms);
    for (int i = 0; i < 200; i++)
        close(idle[i]);
    em_epmd_reg_close(a);
    WAIT_FOR(stats().conns == 0);
}
END_TEST

static void raise_fd_limit(int want)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < (rlim_t)want) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)want ? rl.rlim_max : (rlim_t)want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

START_TEST(test_thousand_concurrent_registrations_are_listed_by_names)
{
    enum { N = 1000 };
    /* Client and daemon share this process: two descriptors a node. */
    raise_fd_limit(2 * N + 100);
    stop_srv();
    start_srv(0);
    static em_epmd_reg *r[N];
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "node%04d", i);
        ck_assert_em_ok(reg(name, (uint16_t)(10000 + i), &r[i], NULL));
    }
    ck_assert_uint_eq(stats().nodes, N);
    em_epmd_name *names;
    int cnt = em_epmd_names(NULL, port, 5000, &names, NULL);
    ck_assert_int_eq(cnt, N);
    static char seen[N];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < cnt; i++) {
        int k = atoi(names[i].name + 4);
        ck_assert(k >= 0 && k < N && !seen[k]);
        ck_assert_uint_eq(names[i].port, 10000 + k);
        seen[k] = 1;
    }
    em_epmd_names_free(names, cnt);
    for (int i = 0; i < N; i++)
        em_epmd_reg_close(r[i]);
    WAIT_FOR(stats().nodes == 0 && stats().conns == 0);
    ck_assert_uint_eq(stats().unreg, N);
}
END_TEST

START_TEST(test_big_names_reply_to_a_slow_reader_does_not_stall_others)
{
    enum { N = 300 };
    raise_fd_limit(2 * N + 100);
    /* Small socket buffers, so the reply can not be sent in one piece. */
    stop_srv();
    srv_sndbuf = 4096;
    start_srv(0);
    static em_epmd_reg *r[N];
    char name[128];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "%0100d", i);
        ck_assert_em_ok(reg(name, (uint16_t)(1000 + i), &r[i], NULL));
    }
    /* A reader with a tiny window: the ~35 KB reply can not be written in
     * one go, so the daemon must hold the rest and go on serving. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 2048;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    raw_send(fd, "\0\1n", 3);
    sleep_ms(50);
    em_epmd_node_info got;
    snprintf(name, sizeof name, "%0100d", 7);
    ck_assert_em_ok(em_epmd_port_please(NULL, name, port, 2000, &got));
    ck_assert_uint_eq(got.port, 1007);
    static uint8_t buf[64 * 1024];
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = raw_read_all(fd, buf, sizeof buf);
    ck_assert_int_eq(n, 4 + N * (int)strlen("name  at port 1000\n") + N * 100);
    close(fd);
    for (int i = 0; i < N; i++)
        em_epmd_reg_close(r[i]);
    WAIT_FOR(stats().nodes == 0 && stats().conns == 0);
}
END_TEST

START_TEST(test_reader_that_never_reads_a_big_reply_times_out)
{
    enum { N = 300 };
    raise_fd_limit(2 * N + 100);
    stop_srv();
    srv_sndbuf = 4096;
    start_srv(0);
    static em_epmd_reg *r[N];
    char name[128];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "%0100d", i);
        ck_assert_em_ok(reg(name, (uint16_t)(1000 + i), &r[i], NULL));
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 2048;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    raw_send(fd, "\0\1n", 3);
    uint64_t before = stats().timeouts;
    WAIT_FOR(stats().timeouts > before);
    ck_assert_uint_eq(stats().conns, N); /* only the registrations remain */
    close(fd);
    for (int i = 0; i < N; i++)
        em_epmd_reg_close(r[i]);
    WAIT_FOR(stats().nodes == 0 && stats().conns == 0);
}
END_TEST

static int is_unknown(const char *name)
{
    em_epmd_node_info got;
    return em_epmd_port_please(NULL, name, port, 2000, &got) == EM_ENOTFOUND;
}

START_TEST(test_register_unregister_churn_keeps_state_right)
{
    enum { LIVE = 32, ROUNDS = 3000 };
    em_epmd_reg *live[LIVE] = {0};
    uint32_t last_cr[LIVE] = {0};
    char name[32];
    for (int i = 0; i < ROUNDS; i++) {
        int k = (i * 7) % LIVE;
        if (live[k] != NULL) {
            em_epmd_reg_close(live[k]);
            live[k] = NULL;
        }
        snprintf(name, sizeof name, "c%d", k);
        /* The daemon sees the close asynchronously: wait until it did. */
        WAIT_FOR(is_unknown(name));
        uint32_t cr;
        ck_assert_em_ok(reg(name, (uint16_t)(20000 + k), &live[k], &cr));
        if (last_cr[k] != 0)
            ck_assert_uint_eq(cr, last_cr[k] + 1);
        last_cr[k] = cr;
    }
    ck_assert_uint_eq(stats().nodes, LIVE);
    for (int k = 0; k < LIVE; k++)
        em_epmd_reg_close(live[k]);
    WAIT_FOR(stats().nodes == 0 && stats().conns == 0);
    ck_assert_uint_eq(stats().unreg, LIVE);
}
END_TEST

START_TEST(test_invalid_names_get_an_error_reply)
{
    em_epmd_reg *r;
    ck_assert_em_err(reg("", 1, &r, NULL), EM_EINVAL);
    ck_assert_em_err(reg("bad\xff", 1, &r, NULL), EM_EINVAL);
    /* Bypass the client's own check: the daemon answers Result 1. */
    uint8_t resp[16];
    size_t n;
    int fd = alive2_raw("x\xc0\x80", 6, resp, &n);
    ck_assert_uint_eq(n, 6);
    ck_assert_uint_eq(resp[1], 1);
    close(fd);
    WAIT_FOR(stats().nodes == 0);
}
END_TEST

START_TEST(test_second_daemon_on_the_same_port_gets_eexist)
{
    em_epmd_srv_opts o;
    em_epmd_srv_opts_init(&o);
    o.port = port;
    o.addresses = "127.0.0.1";
    o.log = quiet_log;
    em_epmd_srv *s2;
    ck_assert_em_err(em_epmd_srv_create(&o, &s2), EM_EEXIST);
}
END_TEST

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

/* A socket listening on a free loopback port (*at), which answers
 * nothing until the test accepts. */
static int loopback_listener(uint16_t *at)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(l, 8), 0);
    socklen_t al = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &al);
    *at = ntohs(a.sin_port);
    return l;
}

START_TEST(test_client_reports_refused_and_timeout)
{
    em_epmd_node_info got;
    int p = free_port();
    ck_assert_em_err(em_epmd_port_please(NULL, "x", p, 1000, &got),
                     EM_ECONNREFUSED);
    /* A listener that never answers: the client gives up on time. */
    uint16_t lport;
    int l = loopback_listener(&lport);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_em_err(em_epmd_port_please("127.0.0.1", "x", lport,
                                         200, &got), EM_ETIMEDOUT);
    em_epmd_reg *r;
    ck_assert_em_err(em_epmd_register(&got, lport, 200, &r, NULL),
                     EM_EINVAL); /* got.name is empty */
    em_epmd_node_info_init(&got, "t", 1);
    ck_assert_em_err(em_epmd_register(&got, lport, 200, &r, NULL),
                     EM_ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 3);
    close(l);
}
END_TEST

/* A "port mapper" that answers any request with bytes without end. */
static void *flood_main(void *arg)
{
    int l = *(int *)arg;
    for (int i = 0; i < 2; i++) {
        int c = accept(l, NULL, NULL);
        if (c < 0)
            return NULL;
        uint8_t req[64];
        if (read(c, req, sizeof req) > 0) {
            static uint8_t junk[65536];
            memset(junk, 'n', sizeof junk);
            while (write(c, junk, sizeof junk) > 0)
                ;
        }
        close(c);
    }
    return NULL;
}

/* A reply read to its end stops at 1 MiB (EM_EPROTO), long before the
 * deadline: a broken or hostile port mapper on another host cannot make
 * the client grow without bound.  A socket the client cannot open (no
 * descriptors left) is EM_EIO, not "nothing answers". */
START_TEST(test_client_bounds_what_it_reads_and_tells_its_own_failures)
{
    uint16_t lport;
    int l = loopback_listener(&lport);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, flood_main, &l), 0);
    em_epmd_name *names = NULL;
    ck_assert_em_err(em_epmd_names("127.0.0.1", lport, 20000,
                                   &names, NULL), EM_EPROTO);
    ck_assert_ptr_null(names);
    em_buf b = EM_BUF_INIT;
    uint8_t req = 110;
    ck_assert_em_err(em_epmd_call("127.0.0.1", lport, &req, 1,
                                  20000, &b), EM_EPROTO);
    ck_assert_uint_ge(b.len, (size_t)1 << 20);
    ck_assert_uint_lt(b.len, ((size_t)1 << 20) + 65536);
    em_buf_free(&b);
    shutdown(l, SHUT_RDWR);
    pthread_join(t, NULL);
    close(l);

    int p = free_port(); /* before the limit: it needs a descriptor */
    struct rlimit old, lim;
    getrlimit(RLIMIT_NOFILE, &old);
    lim = old;
    lim.rlim_cur = 32;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
    int fds[32], n = 0;
    while (n < 32 && (fds[n] = dup(0)) >= 0)
        n++;
    em_epmd_node_info got;
    int rc = em_epmd_port_please(NULL, "x", p, 1000, &got);
    while (n > 0)
        close(fds[--n]);
    setrlimit(RLIMIT_NOFILE, &old);
    ck_assert_em_err(rc, EM_EIO);
}
END_TEST

START_TEST(test_lookup_by_host_name_and_erl_epmd_port)
{
    em_epmd_reg *a;
    ck_assert_em_ok(reg("h1", 4242, &a, NULL));
    em_epmd_node_info got;
    ck_assert_em_ok(em_epmd_port_please("localhost", "h1", port, 2000, &got));
    ck_assert_uint_eq(got.port, 4242);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    setenv("ERL_EPMD_PORT", ps, 1);
    ck_assert_int_eq(em_epmd_default_port(), port);
    ck_assert_em_ok(em_epmd_port_please("127.0.0.1", "h1", 0, 2000, &got));
    setenv("ERL_EPMD_PORT", "junk", 1);
    ck_assert_int_eq(em_epmd_default_port(), EM_EPMD_PORT);
    unsetenv("ERL_EPMD_PORT");
    em_epmd_reg_close(a);
}
END_TEST

/* ember-epmd is built next to the tests: <build>/bin vs <build>/tests. */
static int tool_path(char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    snprintf(out, cap, "%s/../bin/ember-epmd", self);
    if (access(out, X_OK) == 0)
        return 0;
    snprintf(out, cap, "%s/ember-epmd", self);
    return access(out, X_OK) == 0 ? 0 : -1;
}

/* Stop the daemon on port p: KILL once its registrations are gone. */
static void kill_daemon(int p)
{
    em_buf r = EM_BUF_INIT;
    for (int i = 0; i < 100; i++) {
        r.len = 0;
        ck_assert_em_ok(em_epmd_call(NULL, p, "k", 1, 2000, &r));
        if (r.len == 2 && memcmp(r.data, "OK", 2) == 0)
            break;
        sleep_ms(10);
    }
    ck_assert(r.len == 2 && memcmp(r.data, "OK", 2) == 0);
    em_buf_free(&r);
    /* Gone: nothing listens any more (bounded; while it shuts down a
     * connection may still be accepted and closed without a reply). */
    em_epmd_name *names = NULL;
    int n = 0;
    for (int i = 0; i < 200; i++) {
        n = em_epmd_names(NULL, p, 1000, &names, NULL);
        if (n == EM_ECONNREFUSED)
            break;
        if (n >= 0)
            em_epmd_names_free(names, n);
        sleep_ms(10);
    }
    ck_assert_em_err(n, EM_ECONNREFUSED);
}

START_TEST(test_spawn_starts_a_daemon_that_outlives_the_call)
{
    char path[PATH_MAX + 32], why[512];
    if (tool_path(path, sizeof path) != 0) {
        ck_abort_msg("ember-epmd binary not found next to the test");
        return;
    }
    int p = free_port();
    ck_assert_int_eq(em_epmd_ensure(path, p, 5000, why, sizeof why), 1);
    ck_assert_str_eq(why, "");
    ck_assert_int_eq(em_epmd_ensure(path, p, 5000, why, sizeof why), 0); /* already runs */
    em_epmd_reg *a;
    em_epmd_node_info info;
    em_epmd_node_info_init(&info, "spawned", 1234);
    ck_assert_em_ok(em_epmd_register(&info, p, 2000, &a, NULL));
    em_epmd_node_info got;
    ck_assert_em_ok(em_epmd_port_please(NULL, "spawned", p, 2000, &got));
    em_epmd_reg_close(a);
    kill_daemon(p);
}
END_TEST

/* Without a path and without $EMBER_EPMD, a program of the build tree
 * (this test runs as <build>/tests/test_epmd_srv) finds <build>/bin's
 * ember-epmd: not beside itself, not on $PATH (emptied here). */
START_TEST(test_spawn_without_a_path_finds_the_build_trees_daemon)
{
    char why[512];
    unsetenv("EMBER_EPMD");
    setenv("PATH", "/nonexistent-ember-test", 1);
    int p = free_port();
    ck_assert_int_eq(em_epmd_ensure(NULL, p, 5000, why, sizeof why), 1);
    ck_assert_str_eq(why, "");
    kill_daemon(p);
}
END_TEST

/* A wrong explicit choice (the path given, else $EMBER_EPMD) is the only
 * candidate, and the failure is EM_ENOEPMD with one line naming it; a
 * directory, a file without x bits and a file that exec refuses are
 * reported as such.  Nothing is started. */
START_TEST(test_spawn_reports_every_place_tried_when_none_runs)
{
    char why[512];
    int p = free_port();
    ck_assert_em_err(em_epmd_spawn("/nonexistent/ember-epmd", p, 500, why, sizeof why),
                     EM_ENOEPMD);
    ck_assert_str_eq(why, "cannot start a port mapper: ember-epmd not found in: "
                          "/nonexistent/ember-epmd (epmd_path)");
    setenv("EMBER_EPMD", "/nonexistent/env-epmd", 1);
    ck_assert_em_err(em_epmd_ensure(NULL, p, 500, why, sizeof why), EM_ENOEPMD);
    ck_assert_str_eq(why, "cannot start a port mapper: ember-epmd not found in: "
                          "/nonexistent/env-epmd ($EMBER_EPMD)");
    /* The path given wins over $EMBER_EPMD. */
    ck_assert_em_err(em_epmd_spawn("/", p, 500, why, sizeof why), EM_ENOEPMD);
    ck_assert_str_eq(why, "cannot start a port mapper: ember-epmd not found in: "
                          "/ (not an executable file) (epmd_path)");
    unsetenv("EMBER_EPMD");
    char file[] = "/tmp/ember-epmd-test.XXXXXX";
    int fd = mkstemp(file);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "not a program\n", 14), 14);
    close(fd);
    ck_assert_em_err(em_epmd_spawn(file, p, 500, why, sizeof why), EM_ENOEPMD);
    ck_assert_msg(strstr(why, "(not an executable file) (epmd_path)") != NULL, "%s", why);
    ck_assert_int_eq(chmod(file, 0700), 0);
    ck_assert_em_err(em_epmd_spawn(file, p, 500, why, sizeof why), EM_ENOEPMD);
    ck_assert_msg(strstr(why, "cannot start a port mapper: cannot run ") == why &&
                      strstr(why, "Exec format error") != NULL, "%s", why);
    unlink(file);
    /* A short buffer gets a truncated, terminated line. */
    char tiny[8];
    ck_assert_em_err(em_epmd_spawn("/nonexistent/ember-epmd", p, 500, tiny, sizeof tiny),
                     EM_ENOEPMD);
    ck_assert_str_eq(tiny, "cannot ");
    em_epmd_name *names = NULL;
    ck_assert_em_err(em_epmd_names(NULL, p, 1000, &names, NULL), EM_ECONNREFUSED);
}
END_TEST

START_TEST(test_client_registers_and_looks_up_through_real_epmd)
{
    /* A real epmd (OTP's) on a private port, as a child process. */
    int p = free_port();
    char ps[16];
    snprintf(ps, sizeof ps, "%d", p);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 2); /* its log lines are not ours to show */
        execlp("epmd", "epmd", "-port", ps, (char *)NULL);
        _exit(127);
    }
    em_epmd_name *names = NULL;
    int cnt = -1;
    for (int i = 0; i < 300 && cnt < 0; i++) {
        cnt = em_epmd_names(NULL, p, 1000, &names, NULL);
        if (cnt < 0)
            sleep_ms(10);
    }
    ck_assert_msg(cnt == 0, "real epmd did not answer on port %d (is it "
                            "installed?)", p);
    em_epmd_reg *a;
    uint32_t cr1, cr2;
    ck_assert_em_ok(reg_on(p, "emberclient", 31337, &a, &cr1));
    ck_assert_uint_ge(cr1, 4);
    em_epmd_node_info got;
    ck_assert_em_ok(em_epmd_port_please("127.0.0.1", "emberclient", p, 2000,
                                        &got));
    ck_assert_uint_eq(got.port, 31337);
    ck_assert_uint_eq(got.high_version, 6);
    ck_assert_uint_eq(got.low_version, 5);
    ck_assert_str_eq(got.name, "emberclient");
    ck_assert_em_err(em_epmd_port_please(NULL, "nobody", p, 2000, &got),
                     EM_ENOTFOUND);
    em_epmd_reg *dup;
    ck_assert_em_err(reg_on(p, "emberclient", 1, &dup, NULL), EM_EEXIST);
    uint32_t eport = 0;
    cnt = em_epmd_names(NULL, p, 2000, &names, &eport);
    ck_assert_int_eq(cnt, 1);
    ck_assert_uint_eq(eport, (uint32_t)p);
    ck_assert_str_eq(names[0].name, "emberclient");
    ck_assert_uint_eq(names[0].port, 31337);
    em_epmd_names_free(names, cnt);
    em_epmd_reg_close(a);
    for (int i = 0; i < 300; i++) {
        if (em_epmd_port_please(NULL, "emberclient", p, 2000, &got) ==
            EM_ENOTFOUND)
            break;
        sleep_ms(10);
    }
    ck_assert_em_ok(reg_on(p, "emberclient", 31337, &a, &cr2));
    ck_assert_uint_eq(cr2, cr1 + 1); /* real epmd bumps it too */
    em_epmd_reg_close(a);
    em_buf r = EM_BUF_INIT;
    for (int i = 0; i < 300; i++) {
        r.len = 0;
        ck_assert_em_ok(em_epmd_call(NULL, p, "k", 1, 2000, &r));
        if (r.len == 2 && memcmp(r.data, "OK", 2) == 0)
            break;
        sleep_ms(10);
    }
    ck_assert(r.len == 2 && memcmp(r.data, "OK", 2) == 0);
    em_buf_free(&r);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

static Suite *epmd_srv_suite(void)
{
    Suite *s = suite_create("epmd_srv");
    TCase *t = tcase_create("daemon");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_register_then_port_please_finds_the_node);
    tcase_add_test(t, test_registration_ends_when_its_connection_closes);
    tcase_add_test(t, test_duplicate_name_is_refused);
    tcase_add_test(t, test_reregistration_bumps_the_creation);
    tcase_add_test(t, test_v5_node_gets_alive2_resp_with_16bit_creation);
    tcase_add_test(t, test_extra_bytes_on_registration_socket_unregister);
    tcase_add_test(t, test_names_lists_nodes_newest_first_after_the_port);
    tcase_add_test(t, test_dump_shows_active_and_old_names_with_nul_terminators);
    tcase_add_test(t, test_kill_refused_while_nodes_are_registered);
    tcase_add_test(t, test_stop_without_relaxed_check_closes_without_reply);
    tcase_add_test(t, test_garbage_and_obsolete_requests_close_without_reply);
    tcase_add_test(t, test_oversized_request_is_closed_early);
    tcase_add_test(t, test_truncated_request_then_eof_is_dropped);
    tcase_add_test(t, test_request_split_across_writes_is_served);
    tcase_add_test(t, test_silent_client_is_closed_after_the_idle_timeout);
    tcase_add_test(t, test_slow_clients_do_not_stall_others);
    tcase_add_test(t, test_thousand_concurrent_registrations_are_listed_by_names);
    tcase_add_test(t, test_register_unregister_churn_keeps_state_right);
    tcase_add_test(t, test_big_names_reply_to_a_slow_reader_does_not_stall_others);
    tcase_add_test(t, test_reader_that_never_reads_a_big_reply_times_out);
    tcase_add_test(t, test_invalid_names_get_an_error_reply);
    tcase_add_test(t, test_second_daemon_on_the_same_port_gets_eexist);
    tcase_add_test(t, test_client_reports_refused_and_timeout);
    tcase_add_test(t, test_client_bounds_what_it_reads_and_tells_its_own_failures);
    tcase_add_test(t, test_lookup_by_host_name_and_erl_epmd_port);
    tcase_add_test(t, test_spawn_starts_a_daemon_that_outlives_the_call);
    tcase_add_test(t, test_spawn_without_a_path_finds_the_build_trees_daemon);
    tcase_add_test(t, test_spawn_reports_every_place_tried_when_none_runs);
    tcase_add_test(t, test_client_registers_and_looks_up_through_real_epmd);
    suite_add_tcase(s, t);
    TCase *rt = tcase_create("relaxed");
    tcase_add_checked_fixture(rt, setup_relaxed, teardown);
    tcase_set_timeout(rt, 30);
    tcase_add_test(rt, test_relaxed_stop_unregisters_and_kill_ends_with_nodes);
    suite_add_tcase(s, rt);
    return s;
}

EM_TEST_MAIN(epmd_srv_suite)
