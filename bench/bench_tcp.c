/* bench_tcp.c: the raw TCP baseline of bench/dist.sh (two OS processes on
 * loopback, plain blocking send/recv, no ember at all).
 *
 *   bench_tcp server
 *       listens on an ephemeral 127.0.0.1 port and prints it; for each
 *       connection, reads 4-byte-length-framed packets until EOF, then
 *       writes the number of packets (8 bytes, big-endian) and closes
 *   bench_tcp client PORT SIZE N
 *       sends N packets of SIZE bytes (4-byte length + body, one send
 *       each), shuts down its side, waits for the count and prints the rate
 *       (packets per second)
 *
 * The same framing as a distribution connection (the length prefix) and
 * the same receive buffer as ember's reader (256 KiB), so the figure is what
 * the machine's loopback gives a program that only moves the bytes: the
 * ceiling for dist_stream_64k.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF (256 * 1024)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Count the packets of one connection; -1 on a read error. */
static long long serve(int fd)
{
    static uint8_t buf[RBUF];
    long long count = 0;
    uint8_t hdr[4];
    size_t hdr_have = 0; /* bytes of the current length read so far */
    uint64_t body_left = 0;
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return hdr_have == 0 && body_left == 0 ? count : -1;
        /* Walk the framing without copying bodies anywhere: raw TCP only
         * moves the bytes into the buffer. */
        size_t i = 0, n = (size_t)r;
        while (i < n) {
            if (body_left) {
                size_t take = n - i < body_left ? n - i : (size_t)body_left;
                body_left -= take;
                i += take;
                if (body_left == 0)
                    count++;
                continue;
            }
            hdr[hdr_have++] = buf[i++];
            if (hdr_have == 4) {
                hdr_have = 0;
                body_left = (uint64_t)hdr[0] << 24 | (uint64_t)hdr[1] << 16 | (uint64_t)hdr[2] << 8 | hdr[3];
                if (body_left == 0)
                    count++;
            }
        }
    }
}

static int server(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
        perror("bench_tcp: listen");
        return 1;
    }
    printf("%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            perror("bench_tcp: accept");
            return 1;
        }
        long long k = serve(fd);
        uint8_t out[8];
        for (int i = 0; i < 8; i++)
            out[i] = (uint8_t)((uint64_t)k >> (56 - 8 * i));
        if (k >= 0)
            send_all(fd, out, sizeof out);
        close(fd);
    }
}

static int client(int port, size_t size, long n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("bench_tcp: connect");
        return 1;
    }
    /* As a distribution connection is set up. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint8_t *pkt = calloc(1, 4 + size);
    if (pkt == NULL)
        return 1;
    pkt[0] = (uint8_t)(size >> 24);
    pkt[1] = (uint8_t)(size >> 16);
    pkt[2] = (uint8_t)(size >> 8);
    pkt[3] = (uint8_t)size;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        if (send_all(fd, pkt, 4 + size) < 0) {
            perror("bench_tcp: send");
            return 1;
        }
    }
    shutdown(fd, SHUT_WR);
    uint8_t in[8];
    size_t have = 0;
    while (have < sizeof in) {
        ssize_t r = recv(fd, in + have, sizeof in - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "bench_tcp: no count from the server\n");
            return 1;
        }
        have += (size_t)r;
    }
    double dt = now() - t0;
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = k << 8 | in[i];
    if (k != (uint64_t)n)
        fprintf(stderr, "bench_tcp: sent %ld, counted %llu\n", n, (unsigned long long)k);
    printf("%.0f\n", (double)n / dt);
    free(pkt);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "server") == 0)
        return server();
    if (argc == 5 && strcmp(argv[1], "client") == 0)
        return client(atoi(argv[2]), (size_t)atol(argv[3]), atol(argv[4]));
    fprintf(stderr, "usage: bench_tcp server | bench_tcp client PORT SIZE N\n");
    return 2;
}
