/* epmd_floor.c: the least a port mapper can do per PORT_PLEASE2 lookup,
 * to measure how far any port mapper could go on this machine.
 *
 *   epmd_floor PORT
 *
 * Not a port mapper: it answers every request that is not an ALIVE2_REQ
 * with one fixed PORT2_RESP, and an ALIVE2_REQ with a fixed
 * ALIVE2_X_RESP whose connection it then forgets.  Per lookup it makes
 * only the system calls no server can avoid: accept4, recv, send and
 * close (plus epoll when the request has not arrived at accept time).
 * bench/epmd.sh runs it when EPMD_FLOOR=1 and prints its rate against
 * real epmd: ember-epmd's ratio cannot exceed that floor's by much, since
 * what is left is the client's and the kernel's work. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const unsigned char port2_resp[] = {
    119, 0, 0xb2, 0x6e, 77, 0, 6, 0, 5, 0, 9,
    'b', 'e', 'n', 'c', 'h', 'n', 'o', 'd', 'e', 0, 0};
static const unsigned char alive2_x_resp[] = {118, 0, 0, 0, 0, 1};

/* Answer the request on fd, if it has come; returns false if not yet. */
static int serve(int ep, int fd)
{
    unsigned char buf[512];
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (r > 2 && buf[2] == 120) {
        /* The registration stays open for the run; stop watching it. */
        (void)send(fd, alive2_x_resp, sizeof alive2_x_resp, MSG_NOSIGNAL);
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
        return 1;
    }
    if (r > 0)
        (void)send(fd, port2_resp, sizeof port2_resp,
                   MSG_NOSIGNAL | MSG_MORE);
    close(fd);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int one = 1;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = l};
    if (l < 0 || ep < 0 ||
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(l, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(l, SOMAXCONN) != 0 || epoll_ctl(ep, EPOLL_CTL_ADD, l, &e) != 0)
        return 1;
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd != l) {
                serve(ep, evs[i].data.fd);
                continue;
            }
            int c;
            while ((c = accept4(l, NULL, NULL,
                                SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                if (!serve(ep, c))
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
            }
        }
    }
}
