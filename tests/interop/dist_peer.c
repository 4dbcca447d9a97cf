/* dist_peer.c: the ember side of tests/interop/dist.sh (compiled by it).
 *
 *   dist_peer NODEFLAGS ping NODE           prints pong or pang
 *   dist_peer NODEFLAGS serve               registers `victim` (answers
 *       {From, hello} with {victim, self()}, exits with R on {exit, R})
 *   dist_peer NODEFLAGS watch NODE NAME MS [exit]  asks {NAME, NODE} for
 *       its pid ({self(), pid} -> {pid, Pid}), traps exits, links, monitors
 *       it and monitor_node(NODE); prints "ready", then each EXIT / DOWN /
 *       nodedown as it arrives, until all three came or MS passed.  With
 *       `exit` it then tells the process to exit with reason boom and waits
 *       for EXIT and DOWN only.
 *   dist_peer NODEFLAGS unlink NODE [relink]  a process asks {unlinkee,
 *       NODE} for its pid, links and unlinks it twice (and links once more
 *       with `relink`) and exits with reason boom; prints its DOWN, waits
 *       1.5 s for the signals to go out, and stops
 *   dist_peer NODEFLAGS unlinkee            registers `unlinkee`, which
 *       traps exits, answers {From, pid} with {pid, self()} and monitors
 *       From; prints every EXIT it gets, and "end" 1 s after From's DOWN
 *   dist_peer NODEFLAGS simul NODE K T      registers `simul`; at T (ms
 *       since the epoch) sends {simul, K, self()} to {simul, NODE}, which
 *       does the same to it at the same moment; prints "round K ok" when
 *       the other's message came within 5 s (else "round K missing"), and
 *       stays 1.5 s more
 *   dist_peer NODEFLAGS stream NODE NAME N [BYTES]  N messages {seq, I}
 *       (with BYTES: {seq, I, Binary}, see below) to {NAME, NODE}, then
 *       {done, self()}; prints the answer
 *   dist_peer NODEFLAGS idle NODE MS        pings NODE, monitor_node, waits
 *       MS: prints "nodedown after N ms" or "still up"
 * NODEFLAGS are erl's: -name|-sname N -setcookie C [-kernel net_ticktime T].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ember.h>

static int gargc;
static char **gargv;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void victim(void *arg)
{
    (void)arg;
    for (;;) {
        em_term from, what;
        em_receive(EM_INFINITY, "{From, What}", &from, &what);
        if (what == em_atom("hello"))
            em_send(from, em_tuple(2, em_atom("victim"), em_self()));
        else if (em_tuple_size(what) == 2 && em_tuple_get(what, 0) == em_atom("exit"))
            em_exit(em_dup(em_tuple_get(what, 1)));
    }
}

/* The unlink tests (UNLINK_ID / UNLINK_ID_ACK over the wire): the
 * unlinker's exit must reach the other side as an exit signal only when it
 * links again after its unlinks. */
static void unlinker(void *arg)
{
    (void)arg;
    em_term to = em_tuple(2, em_atom("unlinkee"), em_atom(gargv[2]));
    em_send(to, em_tuple(2, em_self(), em_atom("pid")));
    em_drop(to);
    em_term pid;
    if (em_receive(10000, "{pid, Pid}", &pid) < 0)
        em_exit(em_atom("no_unlinkee"));
    for (int i = 0; i < 2; i++) {
        em_link(pid);
        em_unlink(pid);
    }
    if (gargc >= 4 && strcmp(gargv[3], "relink") == 0)
        em_link(pid);
    em_exit(em_atom("boom"));
}

static void unlinkee(void *arg)
{
    (void)arg;
    em_trap_exit(true);
    int64_t wait = EM_INFINITY;
    for (;;) {
        em_term m, from, r;
        if (em_receive_any(wait, &m) < 0)
            break;
        if (em_match("{From, pid}", m, &from) == 1) {
            /* Monitor before answering, as dist_helper's unlinkee does:
             * once answered, the unlinker may exit before a later
             * MONITOR_P reaches its node (DOWN noproc instead of boom). */
            em_drop(em_monitor(from));
            em_send(from, em_tuple(2, em_atom("pid"), em_self()));
        } else if (em_match("{'EXIT', _, R}", m, &r) == 1) {
            em_printf("EXIT ~p~n", r);
        } else if (em_match("{'DOWN', _, process, _, R}", m, &r) == 1) {
            em_printf("DOWN ~p~n", r);
            wait = 1000;
        }
    }
    printf("end\n");
    fflush(stdout);
    em_stop(0);
}

static void run(void *arg)
{
    (void)arg;
    const char *cmd = gargv[1];
    int rc = 0;
    if (strcmp(cmd, "ping") == 0 && gargc >= 3) {
        em_printf("~p~n", em_node_ping(em_atom(gargv[2]), 10000));
    } else if (strcmp(cmd, "watch") == 0 && gargc >= 5) {
        em_term node = em_atom(gargv[2]);
        em_term name = em_tuple(2, em_atom(gargv[3]), node);
        long long limit = atoll(gargv[4]);
        em_send(name, em_tuple(2, em_self(), em_atom("pid")));
        em_drop(name);
        em_term pid;
        if (em_receive(10000, "{pid, Pid}", &pid) < 0) {
            printf("no pid\n");
            em_stop(1);
            return;
        }
        pid = em_dup(pid);
        em_trap_exit(true);
        em_link(pid);
        em_term ref = em_monitor(pid);
        em_monitor_node(node, true);
        printf("ready\n");
        fflush(stdout);
        int want = 3;
        if (gargc >= 6 && strcmp(gargv[5], "exit") == 0) {
            em_send(pid, em_tuple(2, em_atom("exit"), em_atom("boom")));
            want = 2;
        }
        long long t0 = now_ms();
        int got = 0;
        while (got < want && now_ms() - t0 < limit) {
            em_term m;
            if (em_receive_any(limit - (now_ms() - t0), &m) < 0)
                break;
            em_term r;
            if (em_match("{'EXIT', _, R}", m, &r) == 1 || em_match("{'DOWN', _, process, _, R}", m, &r) == 1)
                em_printf("~s ~p~n", em_tuple_get(m, 0) == em_atom("EXIT") ? "EXIT" : "DOWN", r);
            else if (em_match("{nodedown, _}", m) == 1)
                em_printf("nodedown~n");
            else
                continue;
            got++;
        }
        em_drop(ref);
        em_drop(pid);
        rc = got == want ? 0 : 1;
    } else if (strcmp(cmd, "unlink") == 0 && gargc >= 3) {
        em_term ref;
        em_spawn_opts so = {.monitor = &ref};
        if (em_spawn_opt(unlinker, NULL, &so) == EM_NONE) {
            printf("no spawn\n");
            em_stop(1);
            return;
        }
        em_term r;
        if (em_receive_ref(20000, ref, "{'DOWN', Ref, process, _, R}", &r) == 0)
            em_printf("unlinker ~p~n", r);
        em_receive(1500, "nothing");
    } else if (strcmp(cmd, "simul") == 0 && gargc >= 5) {
        long k = atol(gargv[3]);
        long long t = atoll(gargv[4]);
        em_register(em_atom("simul"), em_self());
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long wall = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (t > wall)
            em_sleep(t - wall);
        em_term to = em_tuple(2, em_atom("simul"), em_atom(gargv[2]));
        em_send(to, em_tuple(3, em_atom("simul"), em_int(k), em_self()));
        em_drop(to);
        em_term kk = em_int(k);
        em_term m;
        bool got = false;
        long long t0 = now_ms();
        while (!got && now_ms() - t0 < 5000 && em_receive_any(5000 - (now_ms() - t0), &m) == 0)
            got = em_tuple_size(m) == 3 && em_tuple_get(m, 0) == em_atom("simul") && em_tuple_get(m, 1) == kk;
        printf("round %ld %s\n", k, got ? "ok" : "missing");
        fflush(stdout);
        em_receive(1500, "nothing");
        rc = got ? 0 : 1;
    } else if (strcmp(cmd, "unlinkee") == 0) {
        em_register(em_atom("unlinkee"), em_spawn(unlinkee, NULL));
        return; /* unlinkee stops the node */
    } else if (strcmp(cmd, "idle") == 0 && gargc >= 4) {
        em_term node = em_atom(gargv[2]);
        long long limit = atoll(gargv[3]);
        em_printf("~p~n", em_node_ping(node, 10000));
        em_monitor_node(node, true);
        long long t0 = now_ms();
        if (em_receive(limit, "{nodedown, _}") == 0)
            printf("nodedown after %lld ms\n", now_ms() - t0);
        else
            printf("still up\n");
    } else if (strcmp(cmd, "stream") == 0 && gargc >= 5) {
        /* N messages {seq, I} to {NAME, NODE} from one process, some in
         * runs of many (written when it yields), some one by one with a
         * wait in between, then {done, self()}: prints the answer. */
        em_term node = em_atom(gargv[2]);
        em_term to = em_tuple(2, em_atom(gargv[3]), node);
        long n = atol(gargv[4]);
        size_t bytes = gargc >= 6 ? (size_t)atol(gargv[5]) : 0;
        em_term payload = EM_NONE;
        if (bytes) {
            /* {seq, I, Payload}: connected first ("connected"), then 1 s
             * for the test to freeze the peer, then the stream, timed
             * ("sent in N ms"): a frozen peer must hold the sender. */
            em_printf("~p~n", em_node_ping(node, 10000));
            printf("connected\n");
            fflush(stdout);
            em_sleep(1000);
            char *zero = calloc(1, bytes);
            payload = em_binary(zero, bytes);
            free(zero);
        }
        long long t0 = now_ms();
        for (long i = 1; i <= n; i++) {
            if (bytes)
                em_send(to, em_tuple(3, em_atom("seq"), em_int(i), em_dup(payload)));
            else
                em_send(to, em_tuple(2, em_atom("seq"), em_int(i)));
            if (i % 1000 == 0)
                em_receive(1, "nothing"); /* a wait: flushes, as any wait does */
        }
        if (bytes) {
            printf("sent in %lld ms\n", now_ms() - t0);
            fflush(stdout);
            em_drop(payload);
        }
        em_send(to, em_tuple(2, em_atom("done"), em_self()));
        em_term r;
        if (em_receive_any(20000, &r) == 0)
            em_printf("~p~n", r);
        else
            printf("no answer\n");
        em_drop(to);
    } else if (strcmp(cmd, "serve") == 0) {
        em_register(em_atom("victim"), em_spawn(victim, NULL));
        printf("serving\n");
        fflush(stdout);
        return;
    } else {
        fprintf(stderr, "dist_peer: bad command\n");
        rc = 2;
    }
    fflush(stdout);
    em_stop(rc);
}

int main(int argc, char **argv)
{
    em_node_opts o;
    em_node_opts_init(&o);
    if (em_node_args(&argc, argv, &o) < 0 || argc < 2) {
        fprintf(stderr, "usage: dist_peer -name|-sname N -setcookie C CMD ...\n");
        return 2;
    }
    gargc = argc;
    gargv = argv;
    int rc = em_node_start_opts(&o);
    if (rc < 0) {
        fprintf(stderr, "dist_peer: node start: %s\n", em_strerror(rc));
        return 1;
    }
    em_spawn(run, NULL);
    return em_run();
}
