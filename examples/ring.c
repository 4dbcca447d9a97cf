/* ring.c: N processes in a ring pass a token round it M times.
 *
 *   ring [N [M]]        defaults: N = 1000 processes, M = 100 rounds
 *
 * The Erlang it mirrors (Joe Armstrong's ring exercise):
 *
 *   loop(Next) ->
 *       receive
 *           0    -> Next ! stop;          % the last hop: report, tear down
 *           stop -> Next ! stop;
 *           K    -> Next ! K - 1, loop(Next)
 *       end.
 *
 * A process is a plain C function that loops in em_receive.  Pids are small
 * values, so a process gets its neighbour's pid through the spawn argument.
 * Processes share nothing else but the statics below: never give another
 * process a pointer to a local variable (a waiting process's stack is moved
 * out of the way).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ember.h>

static long nprocs = 1000, rounds = 100;
static double t_spawned; /* when the token set off */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One member of the ring: pass the token K on as K - 1.  Whoever gets 0
 * made the last hop: it prints the time and sends `stop` round the ring
 * (the last `stop` goes to a process that has exited, and is dropped). */
static void ring_node(void *arg)
{
    em_term next = (em_term)(uintptr_t)arg;
    for (;;) {
        em_term msg;
        int64_t k;
        em_receive_any(EM_INFINITY, &msg);
        if (em_int_get(msg, &k) < 0) { /* stop */
            em_send(next, em_atom("stop"));
            return;
        }
        if (k == 0) {
            double dt = now() - t_spawned;
            long hops = nprocs * rounds;
            printf("ring: %ld processes, %ld rounds: %ld messages in %.1f ms (%.0f messages/s)\n",
                   nprocs, rounds, hops, dt * 1e3, (double)hops / dt);
            em_send(next, em_atom("stop"));
            return;
        }
        em_send(next, em_int(k - 1));
    }
}

/* The first process: spawns the other N - 1, each knowing the one spawned
 * before it (the first knows this process), sends the token to the last
 * one, and becomes a ring member itself. */
static void start(void *arg)
{
    (void)arg;
    double t0 = now();
    em_term next = em_self();
    for (long i = 1; i < nprocs; i++)
        next = em_spawn(ring_node, (void *)(uintptr_t)next);
    t_spawned = now();
    printf("ring: spawned %ld processes in %.1f ms\n", nprocs - 1, (t_spawned - t0) * 1e3);
    /* N * M hops in all; this send is the first. */
    em_send(next, em_int(nprocs * rounds - 1));
    ring_node((void *)(uintptr_t)next);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        nprocs = atol(argv[1]);
    if (argc > 2)
        rounds = atol(argv[2]);
    if (nprocs < 1 || rounds < 1) {
        fprintf(stderr, "usage: ring [PROCESSES [ROUNDS]]\n");
        return 2;
    }
    if (em_spawn(start, NULL) == EM_NONE) { /* the first spawn starts the runtime */
        fprintf(stderr, "ring: cannot spawn a process\n");
        return 1;
    }
    return em_run(); /* returns once every process has exited */
}
