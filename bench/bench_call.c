/* bench_call.c: ember's side of bench/call.sh (two OS processes on
 * loopback).
 *
 *   bench_call NODEFLAGS server
 *       an em_server registered as call_bench whose handle_call echoes
 *       the request (bench/call_bench.erl's gen_server's twin); serves
 *   bench_call NODEFLAGS client NODE N C
 *       N em_calls of {call_bench, NODE} with integers, made by C
 *       processes at once (N/C each, one after the other, timeout 5000
 *       ms as gen_server:call's default); prints the rate (calls per
 *       second, all callers together)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ember.h>

static char **gargv;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int echo_call(void *state, em_term req, em_term from, em_term *reply, em_term *reason)
{
    (void)state, (void)from, (void)reason;
    *reply = em_dup(req);
    return EM_SERVER_REPLY;
}

static const em_server_ops echo_ops = {.handle_call = echo_call};

/* What the callers share, set before they are spawned (a static: never
 * a pointer into a process's stack). */
static struct {
    em_term parent; /* where {done, Ok} goes */
    em_term to;     /* {call_bench, Node} */
    long k;         /* calls each caller makes */
} g;

static void caller(void *arg)
{
    (void)arg;
    em_term ok = em_atom("true");
    for (long i = g.k; i > 0; i--) {
        em_term r;
        int rc = em_call(g.to, em_int(i), 5000, &r);
        if (rc != 0 || r != em_int(i)) {
            fprintf(stderr, "bench_call: call %ld: %s\n", i, rc ? em_strerror(rc) : "wrong reply");
            em_drop(r);
            ok = em_atom("false");
            break;
        }
    }
    em_send(g.parent, em_tuple(2, em_atom("done"), ok));
}

static void client(void *arg)
{
    (void)arg;
    em_term node = em_atom(gargv[2]), r;
    long n = atol(gargv[3]), c = atol(gargv[4]);
    if (c < 1 || n < c) {
        fprintf(stderr, "bench_call: need N >= C >= 1\n");
        em_stop(2);
        return;
    }
    em_term to = em_tuple(2, em_atom("call_bench"), node);
    /* connected, warmed up */
    if (em_node_ping(node, 10000) != em_atom("pong") || em_call(to, em_int(0), 10000, &r) != 0) {
        fprintf(stderr, "bench_call: cannot call {call_bench, %s}\n", gargv[2]);
        em_stop(1);
        return;
    }
    em_drop(r);
    g.parent = em_self();
    g.to = to;
    g.k = n / c;
    double t0 = now();
    for (long i = 0; i < c; i++)
        em_spawn(caller, NULL);
    int failed = 0;
    for (long i = 0; i < c; i++) {
        em_term ok;
        em_receive(EM_INFINITY, "{done, Ok}", &ok);
        failed |= ok != em_atom("true");
    }
    double dt = now() - t0;
    em_drop(to);
    if (failed) {
        em_stop(1);
        return;
    }
    printf("%.0f\n", (double)(g.k * c) / dt);
    fflush(stdout);
    em_stop(0);
}

int main(int argc, char **argv)
{
    em_node_opts o;
    em_node_opts_init(&o);
    o.published = false; /* hidden, as these figures were always measured */
    if (em_node_args(&argc, argv, &o) < 0 || argc < 2) {
        fprintf(stderr, "usage: bench_call -sname N -setcookie C server|client NODE N C\n");
        return 2;
    }
    gargv = argv;
    bool cl = strcmp(argv[1], "client") == 0 && argc >= 5;
    if (!cl && strcmp(argv[1], "server") != 0)
        return 2;
    o.quiet = true;
    int rc = em_node_start_opts(&o);
    if (rc < 0) {
        fprintf(stderr, "bench_call: %s\n", em_strerror(rc));
        return 1;
    }
    if (cl) {
        em_spawn(client, NULL);
    } else {
        em_term pid;
        rc = em_server_start(&echo_ops, NULL, em_atom("call_bench"), &pid);
        if (rc != 0) {
            fprintf(stderr, "bench_call: em_server_start: %s\n", em_strerror(rc));
            return 1;
        }
    }
    return em_run();
}
