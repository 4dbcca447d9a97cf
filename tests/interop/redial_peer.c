/* redial_peer.c: the ember nodes of tests/interop/redial.sh (compiled by it).
 *
 *   redial_peer NODEFLAGS serve
 *       registers `redial`, which answers {probe, From, N} with
 *       {probe_ok, N} and drops everything else; prints "serving".
 *   redial_peer NODEFLAGS watch PEER BG_MS
 *       subscribes to em_monitor_nodes and prints "nodeup NODE" /
 *       "nodedown NODE" as they come; with BG_MS > 0 a process sends
 *       {bg, I} to {redial, PEER} every BG_MS ms all along (what a program
 *       that keeps talking to a peer does while the peer is down).  Then
 *       reads commands, one a line, from standard input:
 *         storm MS    sends {storm, I} to {redial, PEER} in a loop for MS ms;
 *                     prints "storm sends N ms T rate R maxgap G" (G: the
 *                     longest time one em_send took, ms)
 *         bigstorm MS sends {storm, <<64 KiB>>} to {redial, PEER} in a loop
 *                     for MS ms (the last send may end later); prints
 *                     "bigstorm sends N maxgap G rss_growth_kb K" (K: how
 *                     much VmRSS grew meanwhile)
 *         probe       sends {probe, self(), N} to {redial, PEER} once and
 *                     prints "probe ok" if the answer comes within 5 s,
 *                     else "probe lost"
 *         monnode MS  em_monitor_node(PEER, true), then counts the
 *                     {nodedown, PEER} that come within MS ms: prints
 *                     "monnode nodedowns K"
 *         monitor MS  em_monitor({redial, PEER}), then counts the DOWN
 *                     messages that come within MS ms: prints "monitor
 *                     downs K REASON" (the last one's reason)
 *         counts      prints "counts up U down D" (what em_monitor_nodes
 *                     delivered so far)
 *         quit        stops the node
 * NODEFLAGS are erl's: -name|-sname N -setcookie C.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ember.h>

static int gargc;
static char **gargv;
static em_term peer; /* the watched node (an atom) */
static _Atomic int ups, downs;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void server(void *arg)
{
    (void)arg;
    for (;;) {
        em_term m, from, n;
        em_receive_any(EM_INFINITY, &m);
        if (em_match("{probe, From, N}", m, &from, &n) == 1)
            em_send(from, em_tuple(2, em_atom("probe_ok"), em_dup(n)));
    }
}

/* em_monitor_nodes' subscriber: counts and prints every nodeup/nodedown. */
/* The watcher, for events' ready signal: a static, since a pointer into
 * a process's stack is not valid in another process (stacks are copied
 * out when a process is switched out). */
static em_term watcher;

static void events(void *arg)
{
    (void)arg;
    em_monitor_nodes(true);
    em_send(watcher, em_atom("events_ready"));
    for (;;) {
        em_term m, node;
        em_receive_any(EM_INFINITY, &m);
        if (em_match("{nodeup, N}", m, &node) == 1) {
            atomic_fetch_add(&ups, 1);
            em_printf("nodeup ~p~n", node);
        } else if (em_match("{nodedown, N}", m, &node) == 1) {
            atomic_fetch_add(&downs, 1);
            em_printf("nodedown ~p~n", node);
        }
        fflush(stdout);
    }
}

static em_term bg_to = EM_NONE;

static void drop_bg_to(void *arg)
{
    (void)arg;
    em_drop(bg_to);
}

static void background(void *arg)
{
    long ms = (long)(intptr_t)arg;
    em_term to = bg_to = em_tuple(2, em_atom("redial"), peer);
    em_on_exit(drop_bg_to, NULL); /* it runs until the node stops */
    for (long i = 0;; i++) {
        em_send(to, em_tuple(2, em_atom("bg"), em_int(i)));
        em_sleep(ms);
    }
}

static void storm(long long ms)
{
    em_term to = em_tuple(2, em_atom("redial"), peer);
    long long t0 = now_ms(), t = t0, maxgap = 0, n = 0;
    while (t - t0 < ms) {
        em_send(to, em_tuple(2, em_atom("storm"), em_int(n)));
        n++;
        long long t1 = now_ms();
        if (t1 - t > maxgap)
            maxgap = t1 - t;
        t = t1;
    }
    em_drop(to);
    long long el = t - t0 > 0 ? t - t0 : 1;
    printf("storm sends %lld ms %lld rate %lld maxgap %lld\n", n, el, n * 1000 / el, maxgap);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static void bigstorm(long long ms)
{
    static char payload[64 * 1024];
    em_term bin = em_binary(payload, sizeof payload);
    em_term to = em_tuple(2, em_atom("redial"), peer);
    long rss0 = rss_kb();
    long long t0 = now_ms(), t = t0, maxgap = 0, n = 0;
    while (t - t0 < ms) {
        em_send(to, em_tuple(2, em_atom("storm"), em_dup(bin)));
        n++;
        long long t1 = now_ms();
        if (t1 - t > maxgap)
            maxgap = t1 - t;
        t = t1;
    }
    long grown = rss_kb() - rss0;
    em_drop(to);
    em_drop(bin);
    printf("bigstorm sends %lld maxgap %lld rss_growth_kb %ld\n", n, maxgap, grown);
}

static void probe(void)
{
    static int seq;
    int n = ++seq;
    em_term to = em_tuple(2, em_atom("redial"), peer);
    em_send(to, em_tuple(3, em_atom("probe"), em_self(), em_int(n)));
    em_drop(to);
    char pat[64];
    snprintf(pat, sizeof pat, "{probe_ok, %d}", n);
    printf("probe %s\n", em_receive(5000, pat) == 0 ? "ok" : "lost");
}

static void monnode(long long ms)
{
    int rc = em_monitor_node(peer, true);
    if (rc < 0) {
        printf("monnode error %s\n", em_strerror(rc));
        return;
    }
    int k = 0;
    long long t0 = now_ms();
    for (;;) {
        long long left = ms - (now_ms() - t0);
        em_term n;
        if (left <= 0 || em_receive(left, "{nodedown, N}", &n) < 0)
            break;
        if (n == peer)
            k++;
    }
    printf("monnode nodedowns %d\n", k);
}

static void monitor(long long ms)
{
    em_term to = em_tuple(2, em_atom("redial"), peer);
    em_term ref = em_monitor(to);
    em_drop(to);
    int k = 0;
    char why[64] = "none";
    long long t0 = now_ms();
    for (;;) {
        long long left = ms - (now_ms() - t0);
        em_term r, reason;
        if (left <= 0 || em_receive(left, "{'DOWN', R, process, _, Why}", &r, &reason) < 0)
            break;
        if (em_equal(r, ref)) {
            k++;
            snprintf(why, sizeof why, "%s", em_typeof(reason) == EM_TYPE_ATOM ? em_atom_text(reason, NULL) : "?");
        }
    }
    em_drop(ref);
    printf("monitor downs %d %s\n", k, why);
}

/* Reads commands from standard input without blocking its scheduler. */
static void commands(void)
{
    char buf[256];
    size_t have = 0;
    for (;;) {
        char *nl = memchr(buf, '\n', have);
        if (nl == NULL) {
            if (have == sizeof buf)
                have = 0; /* an overlong line: dropped */
            ssize_t r = read(0, buf + have, sizeof buf - have);
            if (r == 0)
                return;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                em_wait_fd(0, EM_READABLE, 1000);
                continue;
            }
            if (r < 0 && errno != EINTR)
                return;
            if (r > 0)
                have += (size_t)r;
            continue;
        }
        *nl = '\0';
        char line[256];
        snprintf(line, sizeof line, "%s", buf);
        have -= (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, have);
        long long arg = 0;
        if (sscanf(line, "storm %lld", &arg) == 1)
            storm(arg);
        else if (sscanf(line, "bigstorm %lld", &arg) == 1)
            bigstorm(arg);
        else if (strcmp(line, "probe") == 0)
            probe();
        else if (sscanf(line, "monnode %lld", &arg) == 1)
            monnode(arg);
        else if (sscanf(line, "monitor %lld", &arg) == 1)
            monitor(arg);
        else if (strcmp(line, "counts") == 0)
            printf("counts up %d down %d\n", atomic_load(&ups), atomic_load(&downs));
        else if (strcmp(line, "quit") == 0)
            return;
        else
            printf("bad command: %s\n", line);
        fflush(stdout);
    }
}

static void run(void *arg)
{
    (void)arg;
    const char *cmd = gargv[1];
    if (strcmp(cmd, "serve") == 0) {
        em_register(em_atom("redial"), em_spawn(server, NULL));
        printf("serving\n");
        fflush(stdout);
        return;
    }
    if (strcmp(cmd, "watch") == 0 && gargc >= 4) {
        peer = em_atom(gargv[2]);
        long bg = atol(gargv[3]);
        watcher = em_self();
        em_spawn(events, NULL);
        em_receive(5000, "events_ready");
        if (bg > 0)
            em_spawn(background, (void *)(intptr_t)bg);
        printf("watching\n");
        fflush(stdout);
        commands();
        fflush(stdout);
        em_stop(0);
        return;
    }
    fprintf(stderr, "redial_peer: bad command\n");
    em_stop(2);
}

int main(int argc, char **argv)
{
    em_node_opts o;
    em_node_opts_init(&o);
    if (em_node_args(&argc, argv, &o) < 0 || argc < 2) {
        fprintf(stderr, "usage: redial_peer -name|-sname N -setcookie C serve|watch ...\n");
        return 2;
    }
    gargc = argc;
    gargv = argv;
    /* commands() waits for input with em_wait_fd: reads must not block */
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    int rc = em_node_start_opts(&o);
    if (rc < 0) {
        fprintf(stderr, "redial_peer: node start: %s\n", em_strerror(rc));
        return 1;
    }
    em_spawn(run, NULL);
    return em_run();
}
