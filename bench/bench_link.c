/* bench_link: ember's side of bench/link.sh (fault tolerance workloads,
 * the same as bench/link_bench.erl).  Prints: name TAB figure.
 *   link_exit          spawn_link a child that exits at once, receive its
 *                      {'EXIT', Pid, boom}; ops/s
 *   monitor_demonitor  monitor + demonitor a live process; ops/s
 *   monitor_down       spawn_monitor a child that returns at once, receive
 *                      its {'DOWN', Ref, process, Pid, normal}; ops/s
 *   chain_kill_100k    100,000 processes linked in a chain, kill the last,
 *                      ms until the first is gone
 * Best of 3 runs each. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <ember.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double result;

static void boom(void *arg)
{
    (void)arg;
    em_exit(em_atom("boom"));
}

static void link_exit(void *arg)
{
    long n = (long)arg;
    em_trap_exit(true);
    double t0 = now();
    for (long i = 0; i < n; i++) {
        em_spawn_link(boom, NULL);
        em_receive(EM_INFINITY, "{'EXIT', _, boom}");
    }
    result = (double)n / (now() - t0);
}

static void target(void *arg)
{
    (void)arg;
    em_receive(EM_INFINITY, "stop");
}

static void monitor_demonitor(void *arg)
{
    long n = (long)arg;
    em_term t = em_spawn(target, NULL);
    double t0 = now();
    for (long i = 0; i < n; i++) {
        em_term r = em_monitor(t);
        em_demonitor(r, 0);
        em_drop(r);
    }
    result = (double)n / (now() - t0);
    em_send(t, em_atom("stop"));
}

static void quit(void *arg)
{
    (void)arg; /* returns: exits normal */
}

static void monitor_down(void *arg)
{
    long n = (long)arg;
    em_term ref = EM_NONE;
    em_spawn_opts o = {.monitor = &ref};
    double t0 = now();
    for (long i = 0; i < n; i++) {
        if (em_spawn_opt(quit, NULL, &o) == EM_NONE ||
            em_receive_ref(EM_INFINITY, ref, "{'DOWN', Ref, process, _, normal}") != 0) {
            fprintf(stderr, "bench_link: monitor_down failed\n");
            result = 0;
            return;
        }
        em_drop(ref);
    }
    result = (double)n / (now() - t0);
}

static em_term chain_parent;

static void chain(void *arg)
{
    long n = (long)arg;
    if (n == 0)
        em_send(chain_parent, em_tuple(2, em_atom("last"), em_self()));
    else
        em_spawn_link(chain, (void *)(n - 1));
    em_term m;
    em_receive_any(EM_INFINITY, &m);
}

static void chain_kill(void *arg)
{
    long n = (long)arg;
    chain_parent = em_self();
    em_term head = em_spawn(chain, (void *)(n - 1));
    em_term last;
    em_receive(EM_INFINITY, "{last, L}", &last);
    last = em_dup(last);
    em_term ref = em_monitor(head);
    double t0 = now();
    em_exit_pid(last, em_atom("kill"));
    em_receive(EM_INFINITY, "{'DOWN', _, process, _, _}");
    result = (now() - t0) * 1000.0;
    em_drop(ref);
    em_drop(last);
}

static double run(em_proc_fn fn, long n)
{
    em_init(NULL);
    em_spawn(fn, (void *)n);
    em_run();
    return result;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "";
    struct {
        const char *w;
        em_proc_fn fn;
        long n;
        int time; /* lower is better */
    } ws[] = {{"link_exit", link_exit, 200000, 0},
              {"monitor_demonitor", monitor_demonitor, 1000000, 0},
              {"monitor_down", monitor_down, 200000, 0},
              {"chain_kill_100k", chain_kill, 100000, 1}};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
        if (!strstr(ws[i].w, name))
            continue;
        double best = ws[i].time ? 1e300 : 0;
        for (int r = 0; r < 3; r++) {
            double v = run(ws[i].fn, ws[i].n);
            best = ws[i].time ? (v < best ? v : best) : (v > best ? v : best);
        }
        printf("%s\t%.1f\n", ws[i].w, best);
        fflush(stdout);
    }
    return 0;
}
