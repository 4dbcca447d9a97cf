/* pingpong.c: two processes exchange N messages.
 *
 *   pingpong [N]        default: N = 100000 round trips
 *
 * The Erlang it mirrors:
 *
 *   ping(Pong, 0) -> Pong ! {self(), stop};
 *   ping(Pong, N) -> Pong ! {self(), ping},
 *                    receive pong -> ping(Pong, N - 1) end.
 *
 *   pong() -> receive
 *                 {From, ping} -> From ! pong, pong();
 *                 {_, stop}    -> ok
 *             end.
 *
 * em_receive takes an Erlang pattern; its variables are bound to the
 * em_term pointers that follow it, in order.  A received message belongs
 * to the process until its next receive, so a receive loop needs no frees.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ember.h>

static long rounds = 100000;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pong(void *arg)
{
    (void)arg;
    em_term ping = em_atom("ping"), reply = em_atom("pong");
    for (;;) {
        em_term from, what;
        em_receive(EM_INFINITY, "{From, What}", &from, &what);
        if (what != ping) /* stop (atoms compare with ==) */
            return;
        em_send(from, reply);
    }
}

static void ping(void *arg)
{
    em_term pong_pid = (em_term)(uintptr_t)arg;
    em_term self = em_self(), ping_atom = em_atom("ping");
    double t0 = now();
    for (long i = 0; i < rounds; i++) {
        /* em_tuple takes its arguments; em_send takes the message. */
        em_send(pong_pid, em_tuple(2, self, ping_atom));
        em_receive(EM_INFINITY, "pong");
    }
    double dt = now() - t0;
    printf("pingpong: %ld round trips in %.1f ms (%.0f round trips/s, %.0f ns each)\n", rounds,
           dt * 1e3, (double)rounds / dt, dt * 1e9 / (double)rounds);
    em_send(pong_pid, em_tuple(2, self, em_atom("stop")));
}

int main(int argc, char **argv)
{
    if (argc > 1)
        rounds = atol(argv[1]);
    if (rounds < 1) {
        fprintf(stderr, "usage: pingpong [ROUND_TRIPS]\n");
        return 2;
    }
    em_term pong_pid = em_spawn(pong, NULL); /* the first spawn starts the runtime */
    if (pong_pid == EM_NONE || em_spawn(ping, (void *)(uintptr_t)pong_pid) == EM_NONE) {
        fprintf(stderr, "pingpong: cannot spawn a process\n");
        return 1;
    }
    return em_run(); /* returns once both processes have exited */
}
