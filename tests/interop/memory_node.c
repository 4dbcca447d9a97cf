/* memory_node.c: the ember side of tests/interop/memory.sh (compiled by it).
 *
 *   memory_node NODEFLAGS sink        registers `sink`, a slow receiver: it
 *       waits (selective receive) for {From, done, N} while the flood piles
 *       up in its mailbox, then drains N messages and answers
 *       {drained, N} to From; again and again.  When a node goes down
 *       instead (a flooder killed mid-flood), it drains whatever is in its
 *       mailbox and prints "drained K after nodedown".  Prints "ready".
 *   memory_node NODEFLAGS flood NODE N  sends N messages {msg, I} to
 *       {sink, NODE}, then {self(), done, N}; prints "drained" when the
 *       answer comes (or "timeout" after 300 s), then waits to be killed.
 * NODEFLAGS are erl's: -name|-sname N -setcookie C.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember.h>

static int gargc;
static char **gargv;

/* {From, done, N}, {nodedown, Node} or {nodeup, Node}: what ends the
 * sink's wait. */
static bool sink_wakes(em_term m, void *arg)
{
    (void)arg;
    int n = em_tuple_size(m);
    return (n == 3 && em_tuple_get(m, 1) == em_atom("done")) ||
           (n == 2 && (em_tuple_get(m, 0) == em_atom("nodedown") ||
                       em_tuple_get(m, 0) == em_atom("nodeup")));
}

static void sink(void *arg)
{
    (void)arg;
    em_monitor_nodes(true);
    for (;;) {
        em_term m, from;
        int64_t want = 0;
        em_receive_match(EM_INFINITY, sink_wakes, NULL, &m);
        if (em_tuple_size(m) == 2 && em_tuple_get(m, 0) == em_atom("nodeup"))
            continue;
        if (em_tuple_size(m) == 2) {
            /* The flooder died mid-flood: drain what it sent. */
            long k = 0;
            while (em_receive_any(0, &m) == 0)
                k++;
            printf("drained %ld after nodedown\n", k);
            fflush(stdout);
            continue;
        }
        from = em_dup(em_tuple_get(m, 0));
        if (em_int_get(em_tuple_get(m, 2), &want) < 0)
            want = 0;
        for (int64_t i = 0; i < want; i++)
            if (em_receive_any(60000, &m) < 0)
                break;
        em_send(from, em_tuple(2, em_atom("drained"), em_int(want)));
    }
}

static void run(void *arg)
{
    (void)arg;
    const char *cmd = gargv[1];
    if (strcmp(cmd, "sink") == 0) {
        em_register(em_atom("sink"), em_spawn(sink, NULL));
        printf("ready\n");
        fflush(stdout);
        return;
    }
    if (strcmp(cmd, "flood") == 0 && gargc >= 4) {
        em_term to = em_tuple(2, em_atom("sink"), em_atom(gargv[2]));
        long n = atol(gargv[3]);
        for (long i = 0; i < n; i++)
            em_send(em_dup(to), em_tuple(2, em_atom("msg"), em_int(i)));
        em_send(to, em_tuple(3, em_self(), em_atom("done"), em_int(n)));
        printf(em_receive(300000, "{drained, _}") == 0 ? "drained\n" : "timeout\n");
        fflush(stdout);
        em_receive(EM_INFINITY, "never");
        return;
    }
    fprintf(stderr, "memory_node: unknown command %s\n", cmd);
    em_stop(2);
}

int main(int argc, char **argv)
{
    em_node_opts o;
    em_node_opts_init(&o);
    if (em_node_args(&argc, argv, &o) < 0 || argc < 2) {
        fprintf(stderr, "usage: memory_node -name|-sname N -setcookie C CMD ...\n");
        return 2;
    }
    gargc = argc;
    gargv = argv;
    int rc = em_node_start_opts(&o);
    if (rc < 0) {
        fprintf(stderr, "memory_node: node start: %s\n", em_strerror(rc));
        return 1;
    }
    em_spawn(run, NULL);
    return em_run();
}
