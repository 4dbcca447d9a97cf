/* bench_rpc.c: ember's side of bench/rpc.sh (two OS processes on
 * loopback).
 *
 *   bench_rpc NODEFLAGS server
 *       exports rpc_bench:echo/1 (returns its argument) and serves
 *   bench_rpc NODEFLAGS client NODE N
 *       N em_rpc calls of rpc_bench:echo(I) to NODE, one after the other;
 *       prints the rate (calls per second)
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

static em_term echo(const em_term *args, unsigned n)
{
    (void)n;
    return em_dup(args[0]);
}

static void client(void *arg)
{
    (void)arg;
    em_term node = em_atom(gargv[2]), r;
    long n = atol(gargv[3]);
    if (em_node_ping(node, 10000) != em_atom("pong") ||
        em_rpc(node, "rpc_bench", "echo", em_list(1, em_int(1)), 10000, &r) != 0) {
        fprintf(stderr, "bench_rpc: cannot call %s\n", gargv[2]);
        em_stop(1);
        return;
    }
    em_drop(r);
    double t0 = now();
    for (long i = n; i > 0; i--) {
        if (em_rpc(node, "rpc_bench", "echo", em_list(1, em_int(i)), 10000, &r) != 0 || r != em_int(i)) {
            fprintf(stderr, "bench_rpc: call %ld failed\n", i);
            em_stop(1);
            return;
        }
    }
    printf("%.0f\n", (double)n / (now() - t0));
    fflush(stdout);
    em_stop(0);
}

int main(int argc, char **argv)
{
    em_node_opts o;
    em_node_opts_init(&o);
    o.published = false; /* hidden, as these figures were always measured */
    if (em_node_args(&argc, argv, &o) < 0 || argc < 2)
        return 2;
    gargc = argc;
    gargv = argv;
    bool cl = strcmp(argv[1], "client") == 0 && argc >= 4;
    if (!cl && strcmp(argv[1], "server") != 0)
        return 2;
    if (!cl && em_export("rpc_bench", "echo", 1, echo) < 0)
        return 1;
    o.quiet = true;
    if (em_node_start_opts(&o) < 0)
        return 1;
    if (cl)
        em_spawn(client, NULL);
    return em_run();
}
