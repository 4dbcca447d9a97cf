/* bench_epmd.c: PORT_PLEASE2 lookups per second from several concurrent
 * clients, against ember-epmd and against a real epmd in the same run.
 *
 *   bench_epmd EMBER_PORT REAL_PORT [CLIENTS [INFLIGHT [SECONDS [ROUNDS]]]]
 *
 * Both port mappers must already run on the loopback interface (the
 * driver bench/epmd.sh starts them).  A node is registered with each
 * (through ember's client).  Then CLIENTS threads each keep INFLIGHT
 * lookups going, each one "connect, send PORT_PLEASE2_REQ, read the reply
 * until the server closes, close" (what OTP's erl_epmd does per lookup),
 * for SECONDS; INFLIGHT 1 is a plain blocking client.  Ember and real epmd
 * are measured alternately for ROUNDS rounds so that noise from the
 * machine hits both alike; the best round of each counts.  Prints one line:
 *   epmd_lookup<TAB>lookups/s<TAB><ember><TAB><real><TAB><ratio> */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ember.h>

static const char bench_name[] = "benchnode";

struct run {
    int port;
    int inflight;
    atomic_bool stop;
    atomic_uint_fast64_t lookups;
    atomic_uint_fast64_t errors;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t req[2 + 1 + sizeof bench_name - 1];

static void make_req(void)
{
    size_t nlen = sizeof bench_name - 1;
    req[0] = 0;
    req[1] = (uint8_t)(nlen + 1);
    req[2] = 'z';
    memcpy(req + 3, bench_name, nlen);
}

/* Start one lookup: a connected socket with the request sent, or -1.  On
 * loopback a blocking connect completes at once (the handshake runs
 * inline), so only the reply is waited for through epoll. */
static int start_lookup(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        send(fd, req, sizeof req, MSG_NOSIGNAL) != (ssize_t)sizeof req) {
        close(fd);
        return -1;
    }
    return fd;
}

struct slot {
    int fd;
    size_t got;
    uint8_t buf[64];
};

static void *client(void *arg)
{
    struct run *r = arg;
    int k = r->inflight;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct slot *sl = calloc((size_t)k, sizeof *sl);
    struct epoll_event *evs = calloc((size_t)k, sizeof *evs);
    uint64_t ok = 0, bad = 0;
    if (ep < 0 || sl == NULL || evs == NULL)
        goto out;
    for (int i = 0; i < k; i++) {
        sl[i].fd = -1;
    }
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        for (int i = 0; i < k; i++) {
            if (sl[i].fd >= 0)
                continue;
            sl[i].got = 0;
            sl[i].fd = start_lookup(r->port);
            if (sl[i].fd < 0) {
                bad++;
                continue;
            }
            struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
            epoll_ctl(ep, EPOLL_CTL_ADD, sl[i].fd, &e);
        }
        int n = epoll_wait(ep, evs, k, 100);
        for (int j = 0; j < n; j++) {
            struct slot *s = &sl[evs[j].data.u32];
            /* Read until the close (often already queued with the data). */
            ssize_t m;
            while ((m = recv(s->fd, s->buf + s->got, sizeof s->buf - s->got,
                             MSG_DONTWAIT)) > 0 &&
                   (s->got += (size_t)m) < sizeof s->buf)
                ;
            if (m < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            /* Closed by the server (or a full buffer): one lookup done. */
            if (s->got >= 2 && s->buf[0] == 119 && s->buf[1] == 0)
                ok++;
            else
                bad++;
            close(s->fd);
            s->fd = -1;
        }
    }
out:
    for (int i = 0; sl && i < k; i++)
        if (sl[i].fd >= 0)
            close(sl[i].fd);
    free(sl);
    free(evs);
    if (ep >= 0)
        close(ep);
    atomic_fetch_add(&r->lookups, ok);
    atomic_fetch_add(&r->errors, bad);
    return NULL;
}

/* CPU time (user + system, in clock ticks) used so far by process `pid`,
 * or -1: lets the run report what each daemon spends per lookup, a figure
 * less disturbed by the rest of the machine than the rate. */
static long cpu_ticks(long pid)
{
    if (pid <= 0)
        return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL)
        return -1;
    long ut = 0, st = 0;
    /* After ")": state, then fields 4..13, then utime (14) and stime (15). */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",
               &ut, &st) != 2)
        return -1;
    return ut + st;
}

/* Lookups per second of one round against `port`. */
static double measure(int port, int clients, int inflight, double seconds)
{
    struct run r;
    r.port = port;
    r.inflight = inflight;
    atomic_init(&r.stop, false);
    atomic_init(&r.lookups, 0);
    atomic_init(&r.errors, 0);
    pthread_t *t = calloc((size_t)clients, sizeof *t);
    if (t == NULL)
        return 0;
    double t0 = now_s();
    for (int i = 0; i < clients; i++)
        pthread_create(&t[i], NULL, client, &r);
    struct timespec ts = {(time_t)seconds,
                          (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&r.stop, true);
    for (int i = 0; i < clients; i++)
        pthread_join(t[i], NULL);
    double el = now_s() - t0;
    free(t);
    uint64_t errs = atomic_load(&r.errors);
    if (errs > 0)
        fprintf(stderr, "bench_epmd: port %d: %llu failed lookups\n", port,
                (unsigned long long)errs);
    return (double)atomic_load(&r.lookups) / el;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_epmd EMBER_PORT REAL_PORT [CLIENTS "
                        "[INFLIGHT [SECONDS [ROUNDS]]]]\n");
        return 2;
    }
    int pe = atoi(argv[1]), pr = atoi(argv[2]);
    int clients = argc > 3 ? atoi(argv[3]) : 8;
    int inflight = argc > 4 ? atoi(argv[4]) : 1;
    double seconds = argc > 5 ? atof(argv[5]) : 2.0;
    int rounds = argc > 6 ? atoi(argv[6]) : 3;
    if (clients < 1 || inflight < 1 || seconds <= 0 || rounds < 1)
        return 2;
    make_req();

    /* The node the clients look up, registered for the whole run. */
    em_epmd_node_info info;
    em_epmd_node_info_init(&info, bench_name, 45678);
    em_epmd_reg *re, *rr;
    int rc = em_epmd_register(&info, pe, 5000, &re, NULL);
    if (rc == 0 && (rc = em_epmd_register(&info, pr, 5000, &rr, NULL)) != 0)
        em_epmd_reg_close(re);
    if (rc != 0) {
        fprintf(stderr, "bench_epmd: cannot register: %s\n", em_strerror(rc));
        return 1;
    }
    /* Optional: the daemons' pids, to report their CPU per lookup. */
    long pid_e = 0, pid_r = 0;
    const char *pids = getenv("EPMD_PIDS");
    if (pids != NULL)
        sscanf(pids, "%ld %ld", &pid_e, &pid_r);
    double best_e = 0, best_r = 0;
    double cpu_e = 0, cpu_r = 0, n_e = 0, n_r = 0;
    for (int i = 0; i < rounds; i++) {
        long c0 = cpu_ticks(pid_e);
        double e = measure(pe, clients, inflight, seconds);
        long c1 = cpu_ticks(pid_e), c2 = cpu_ticks(pid_r);
        double r = measure(pr, clients, inflight, seconds);
        long c3 = cpu_ticks(pid_r);
        if (c0 >= 0 && c1 >= 0 && c2 >= 0 && c3 >= 0) {
            cpu_e += (double)(c1 - c0);
            cpu_r += (double)(c3 - c2);
            n_e += e * seconds;
            n_r += r * seconds;
        }
        fprintf(stderr, "bench_epmd: round %d: ember %.0f/s, epmd %.0f/s\n",
                i + 1, e, r);
        if (e > best_e)
            best_e = e;
        if (r > best_r)
            best_r = r;
    }
    em_epmd_reg_close(re);
    em_epmd_reg_close(rr);
    fprintf(stderr, "bench_epmd: %d clients x %d lookups in flight, best "
                    "of %d rounds of %.1f s\n", clients, inflight, rounds,
            seconds);
    if (n_e > 0 && n_r > 0) {
        double hz = (double)sysconf(_SC_CLK_TCK);
        fprintf(stderr, "bench_epmd: daemon CPU per lookup: ember %.1f us, "
                        "epmd %.1f us\n", cpu_e / hz * 1e6 / n_e,
                cpu_r / hz * 1e6 / n_r);
    }
    printf("epmd_lookup\tlookups/s\t%.0f\t%.0f\t%.2f\n", best_e, best_r,
           best_r > 0 ? best_e / best_r : 0.0);
    return 0;
}
