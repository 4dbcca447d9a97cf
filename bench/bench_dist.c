/* bench_dist.c: ember's side of bench/dist.sh (two OS processes on
 * loopback).
 *
 *   bench_dist NODEFLAGS server
 *       registers `sink`: {From, ping} -> From ! pong; {stop, From} ->
 *       From ! {count, K} (K = other messages since the last stop)
 *   bench_dist NODEFLAGS client NODE WORKLOAD N
 *       pingpong: N round trips; stream_SIZE: N binaries of SIZE bytes,
 *       then stop and wait for the count.  Prints the rate (per second).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ember.h>

static int gargc;
static char **gargv;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sink(void *arg)
{
    (void)arg;
    long k = 0;
    em_term ping = em_atom("ping"), stop = em_atom("stop");
    for (;;) {
        em_term m;
        em_receive_any(EM_INFINITY, &m);
        if (em_tuple_size(m) == 2 && em_tuple_get(m, 1) == ping) {
            em_send(em_tuple_get(m, 0), em_atom("pong"));
        } else if (em_tuple_size(m) == 2 && em_tuple_get(m, 0) == stop) {
            em_send(em_tuple_get(m, 1), em_tuple(2, em_atom("count"), em_int(k)));
            k = 0;
        } else {
            k++;
        }
    }
}

static void client(void *arg)
{
    (void)arg;
    em_term node = em_atom(gargv[2]);
    const char *w = gargv[3];
    long n = atol(gargv[4]);
    if (em_node_ping(node, 10000) != em_atom("pong")) {
        fprintf(stderr, "bench_dist: cannot reach %s\n", gargv[2]);
        em_stop(1);
        return;
    }
    em_term to = em_tuple(2, em_atom("sink"), node);
    em_term self = em_self();
    double t0 = now();
    if (strcmp(w, "pingpong") == 0) {
        em_term ping = em_tuple(2, self, em_atom("ping"));
        for (long i = 0; i < n; i++) {
            em_send(to, em_dup(ping));
            em_receive(EM_INFINITY, "pong");
        }
        em_drop(ping);
    } else if (strncmp(w, "stream_", 7) == 0) {
        size_t size = (size_t)atol(w + 7);
        char *buf = calloc(1, size ? size : 1);
        em_term payload = em_binary(buf, size);
        free(buf);
        for (long i = 0; i < n; i++)
            em_send(to, em_dup(payload));
        em_drop(payload);
        em_send(to, em_tuple(2, em_atom("stop"), self));
        em_term k;
        em_receive(EM_INFINITY, "{count, K}", &k);
        int64_t got;
        em_int_get(k, &got);
        if (got != n)
            fprintf(stderr, "bench_dist: sent %ld, counted %lld\n", n, (long long)got);
    }
    double dt = now() - t0;
    printf("%.0f\n", (double)n / dt);
    fflush(stdout);
    em_drop(to);
    em_stop(0);
}

int main(int argc, char **argv)
{
    em_node_opts o;
    em_node_opts_init(&o);
    o.published = false; /* hidden, as these figures were always measured */
    if (em_node_args(&argc, argv, &o) < 0 || argc < 2) {
        fprintf(stderr, "usage: bench_dist -sname N -setcookie C server|client NODE WORKLOAD N\n");
        return 2;
    }
    gargc = argc;
    gargv = argv;
    o.quiet = true;
    int rc = em_node_start_opts(&o);
    if (rc < 0) {
        fprintf(stderr, "bench_dist: %s\n", em_strerror(rc));
        return 1;
    }
    if (strcmp(argv[1], "server") == 0) {
        em_register(em_atom("sink"), em_spawn(sink, NULL));
    } else if (argc >= 5) {
        em_spawn(client, NULL);
    } else {
        return 2;
    }
    return em_run();
}
