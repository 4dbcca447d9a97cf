/* epmdtest.h: a port mapper of the test's own (net/epmd_srv.h) on a
 * thread, on a port of the kernel's choice, for tests that start a node:
 * nothing outside the test is touched. */
#ifndef EM_TESTS_EPMDTEST_H
#define EM_TESTS_EPMDTEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "emtest.h"
#include "epmd_srv.h"

static em_epmd_srv *epmdtest_srv;
static pthread_t epmdtest_thread;
static int epmd_port;

static void *epmdtest_main(void *arg)
{
    (void)arg;
    em_epmd_srv_run(epmdtest_srv);
    return NULL;
}

static void epmdtest_log(void *ud, int level, const char *line)
{
    (void)ud, (void)level, (void)line;
}

/* Start it (epmd_port: its port). */
static inline void epmd_start(void)
{
    em_epmd_srv_opts o;
    em_epmd_srv_opts_init(&o);
    o.port = 0;
    o.log = epmdtest_log;
    o.addresses = "127.0.0.1";
    ck_assert_em_ok(em_epmd_srv_create(&o, &epmdtest_srv));
    epmd_port = em_epmd_srv_port(epmdtest_srv);
    ck_assert_int_gt(epmd_port, 0);
    ck_assert_int_eq(pthread_create(&epmdtest_thread, NULL, epmdtest_main, NULL), 0);
}

static inline void epmd_stop(void)
{
    em_epmd_srv_stop(epmdtest_srv);
    pthread_join(epmdtest_thread, NULL);
    em_epmd_srv_destroy(epmdtest_srv);
    epmdtest_srv = NULL;
}

/* A socket listening on IPv4 address addr (host order: INADDR_LOOPBACK,
 * INADDR_ANY), a port of the kernel's choice, that never accepts: for a
 * name registered with a port mapper whose node never answers (a
 * connection waits in its backlog, unanswered), or a port taken.  Its
 * port in *port. */
static inline int listener_on(uint32_t addr, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(addr);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* listener_on loopback. */
static inline int silent_listener(int *port)
{
    return listener_on(INADDR_LOOPBACK, port);
}

#endif /* EM_TESTS_EPMDTEST_H */
