/* bench_runtime: ember's side of the runtime benchmarks (bench/runtime.sh
 * runs it next to bench/runtime_bench.erl, BEAM's side, and computes the
 * ratios).
 *
 *   bench_runtime [WORKLOAD...]     run these workloads (exact names; all
 *                                   when none is given)
 *
 * Prints one line per workload: name TAB figure [TAB limit], the figure in
 * the unit runtime.sh gives it (rates per second; mem_per_process in bytes;
 * timers_100k in ms), and where the workload has one the limit: the same
 * figure for the least the hardware must do (pingpong: a bare round trip
 * between two coroutines, bare_switch_rate below; after it a '#' line
 * gives the same round trip with the switch returning by jump,
 * bare_switch_jmp_rate, which pays no mispredicted return; both measured
 * on the CPU the workload's best run had, limit_on).  Lines starting with
 * '#' are extra information.
 * The workloads are the same as runtime_bench.erl's, message for message:
 *   pingpong        2M round trips: {self(), ping} -> pong, each side's
 *                   pattern compiled once (em_receive_pattern)
 *   pingpong_text   the same with the pattern text at each receive
 *                   (em_receive)
 *   ring_1k         a ring of 1,000 processes passes an integer token 2M
 *                   hops (after one warm-up lap); ring_100k: 100,000
 *   spawn_1m        spawn 1,000,000 processes that wait in receive (time of
 *                   the spawn loop)
 *   mem_per_process RSS growth (/proc/self/statm) per idle process, once all
 *                   1,000,000 wait in their receive (one run: RSS only
 *                   grows, so repeat it in a fresh OS process)
 *   fanin_2         2 senders send 2M `inc` in total to one counter;
 *                   fanin_100: 100 senders
 *   refcall_deep    a caller with 10,000 unrelated messages queued calls a
 *                   server: make_ref, {call, self(), Ref, Req}, receive
 *                   {Ref, Reply} (em_make_ref + em_receive_ref)
 *   tagcall_deep    the same queue, {call, self(), Req}, receive
 *                   {reply, Reply}: every receive scans the queue
 *   gen_call        500,000 em_call round trips (timeout 5000 ms, as
 *                   gen_server:call's default: monitor, alias, the
 *                   [alias|Mref] tag) to an em_server echoing the request
 *   timers_100k     100,000 processes each `receive after 50`: ms from the
 *                   first spawn until all have timed out
 * Each workload starts a fresh runtime per repetition (em_init, a driver
 * process, em_run); only the workload inside the driver is timed.  The best
 * of EMBER_BENCH_REPS (default 3) repetitions counts.
 * EMBER_BENCH_SCHEDULERS=N runs N schedulers instead of one per CPU (for
 * diagnosis; the published figures use the default).  EMBER_BENCH_NO_LIMIT
 * (set) leaves the limits out (for profiling the workload alone).
 *
 * Processes never share pointers into their stacks (ember copies stacks out
 * when they switch): results go through the statics below, pids through the
 * spawn argument. */
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ember.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- shared state (static: never on a process stack) ---- */

static em_term a_ping, a_pong, a_stop, a_next, a_done, a_inc, a_call, a_reply, a_junk;
static em_term g_main;          /* the driver's pid */
static double g_secs;           /* the timed part, set by the driver */
static double g_count;          /* operations in the timed part */
static double g_bytes;          /* mem_per_process's figure */
static int g_cpu;               /* the CPU the timed part ran on, or -1 (pingpong) */
static _Atomic int g_errors;    /* failed runtime calls */

static void fail(const char *what, int rc)
{
    fprintf(stderr, "bench_runtime: %s failed: %d\n", what, rc);
    atomic_fetch_add(&g_errors, 1);
}

/* Check a runtime call's return code. */
#define CK(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ < 0)                                                                               \
            fail(#call, rc_);                                                                      \
    } while (0)

static em_term spawn_ck(em_proc_fn fn, void *arg)
{
    em_term pid = em_spawn(fn, arg);
    if (pid == EM_NONE)
        fail("em_spawn", EM_ENOMEM);
    return pid;
}

#define PID_ARG(pid) ((void *)(uintptr_t)(pid))
#define ARG_PID(arg) ((em_term)(uintptr_t)(arg))

/* ---- pingpong ----
 * Two versions of the same exchange: `pingpong` with its patterns compiled
 * once, as a loop that receives millions of messages would
 * (em_pattern_compile, em_receive_pattern), and `pingpong_text` with the
 * pattern text at each receive (em_receive, which finds the compiled
 * pattern in its cache by the text). */

#define PINGPONG_N 2000000L

static em_pattern *compile_ck(const char *text)
{
    em_pattern *pat = NULL;
    int rc = em_pattern_compile(text, &pat, NULL);
    if (rc < 0)
        fail("em_pattern_compile", rc);
    return pat;
}

static void pong(void *arg)
{
    (void)arg;
    em_pattern *from_cmd = compile_ck("{From, Cmd}");
    for (;;) {
        em_term b[2]; /* From, Cmd */
        int rc = em_receive_pattern(EM_INFINITY, from_cmd, b);
        if (rc < 0) {
            fail("pong receive", rc);
            break;
        }
        if (b[1] != a_ping)
            break;
        CK(em_send(b[0], a_pong));
    }
    em_pattern_free(from_cmd);
}

static void pingpong(void *arg)
{
    (void)arg;
    em_pattern *pong_pat = compile_ck("pong");
    em_term self = em_self();
    em_term p = spawn_ck(pong, NULL);
    int cpu = sched_getcpu();
    double t0 = now();
    for (long i = 0; i < PINGPONG_N; i++) {
        CK(em_send(p, em_tuple(2, self, a_ping)));
        CK(em_receive_pattern(EM_INFINITY, pong_pat, NULL));
    }
    g_secs = now() - t0;
    g_cpu = sched_getcpu() == cpu ? cpu : -1;
    g_count = (double)PINGPONG_N;
    CK(em_send(p, em_tuple(2, self, a_stop)));
    em_pattern_free(pong_pat);
}

static void pong_text(void *arg)
{
    (void)arg;
    for (;;) {
        em_term from, cmd;
        int rc = em_receive(EM_INFINITY, "{From, Cmd}", &from, &cmd);
        if (rc < 0) {
            fail("pong receive", rc);
            return;
        }
        if (cmd != a_ping)
            return;
        CK(em_send(from, a_pong));
    }
}

static void pingpong_text(void *arg)
{
    (void)arg;
    em_term self = em_self();
    em_term p = spawn_ck(pong_text, NULL);
    int cpu = sched_getcpu();
    double t0 = now();
    for (long i = 0; i < PINGPONG_N; i++) {
        CK(em_send(p, em_tuple(2, self, a_ping)));
        CK(em_receive(EM_INFINITY, "pong"));
    }
    g_secs = now() - t0;
    g_cpu = sched_getcpu() == cpu ? cpu : -1;
    g_count = (double)PINGPONG_N;
    CK(em_send(p, em_tuple(2, self, a_stop)));
}

/* ---- pingpong's limit: a bare round trip between two coroutines ----
 * Two contexts on one thread and ember's own context switch
 * (runtime/switch_x86_64.S, linked from libember.a), no runtime: the main
 * context writes a word, switches to the other, which reads it, writes one
 * back and switches back.  Six callee-saved registers and a stack pointer
 * each way: what any pingpong round trip on one core must cost at least.
 * em__ctx_switch is ember-internal; it is declared here for this
 * measurement only (a program of the library's users has no business with
 * it).  x86-64 only: elsewhere pingpong has no limit figure. */
#if defined(__x86_64__)
void *em__ctx_switch(void **from_sp, void *to_sp, void *arg);

#define SWITCH_N 20000000L
#define SWITCH_STACK (64 * 1024)
static void *sw_main_sp, *sw_co_sp;
static volatile uint64_t sw_word;

/* The same switch returning by jump: its `ret` replaced by pop and an
 * indirect jump, as em_receive_pattern returns to its caller after a wait
 * (runtime/receive_x86_64.S).  The limit column keeps em__ctx_switch, the
 * issue's definition; this figure is printed beside it ('#' line) because
 * most of that limit is two mispredicted returns per round trip, which
 * pingpong no longer pays (docs/perf.md, fifth round): against this one,
 * pingpong is further from its floor than the column says. */
void *bench_switch_jmp(void **from_sp, void *to_sp, void *arg);
__asm__(".text\n"
        ".type bench_switch_jmp, @function\n"
        "bench_switch_jmp:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  popq %rcx\n  jmp *%rcx\n"
        ".size bench_switch_jmp, .-bench_switch_jmp\n");

static void *(*sw_fn)(void **, void *, void *);

static void sw_entry(void)
{
    for (;;) {
        sw_word = sw_word + 1;
        sw_fn(&sw_co_sp, sw_main_sp, NULL);
    }
}

/* Round trips per second with switch fn, or < 0 on failure. */
static double bare_switch_rate_with(void *(*fn)(void **, void *, void *))
{
    sw_fn = fn;
    char *stack = malloc(SWITCH_STACK);
    if (stack == NULL)
        return -1;
    /* The frame em__ctx_switch pops: six registers, then the address `ret`
     * jumps to (sw_entry), above it the return address sw_entry would
     * return to (it never returns).  At sw_entry's first instruction the
     * stack pointer is 8 below a 16-byte boundary, as after a call. */
    void **sp = (void **)((uintptr_t)(stack + SWITCH_STACK) & ~(uintptr_t)15);
    *--sp = NULL;
    *--sp = (void *)(uintptr_t)sw_entry;
    for (int i = 0; i < 6; i++)
        *--sp = NULL;
    sw_co_sp = sp;
    sw_word = 0;
    double t0 = now();
    for (long i = 0; i < SWITCH_N; i++) {
        sw_word = (uint64_t)i;
        fn(&sw_main_sp, sw_co_sp, NULL);
    }
    double secs = now() - t0;
    bool ok = sw_word == (uint64_t)SWITCH_N; /* the last word, back + 1 */
    free(stack); /* the coroutine stays suspended for good */
    return ok && secs > 0 ? (double)SWITCH_N / secs : -1;
}

static double bare_switch_rate(void)
{
    return bare_switch_rate_with(em__ctx_switch);
}
static double bare_switch_jmp_rate(void)
{
    return bare_switch_rate_with(bench_switch_jmp);
}
#else
static double bare_switch_rate(void)
{
    return -1;
}
static double bare_switch_jmp_rate(void)
{
    return -1;
}
#endif

/* The best of reps runs of limit fn on the calling thread. */
static double best_of(double (*fn)(void), int reps)
{
    double best = -1;
    for (int r = 0; r < reps; r++) {
        double l = fn();
        if (l > best)
            best = l;
    }
    return best;
}

/* The best of reps runs of limit fn measured as the workload was: on cpu,
 * the CPU the workload's best run ran on (the calling thread pinned to it;
 * the runtime's threads are gone by then), or, when that is not known
 * (cpu < 0: the run moved between CPUs) or cannot be pinned to, the best
 * over each CPU this process may run on in turn (at most LIMIT_CPUS of
 * them; else unpinned).
 * Why: on a VM the CPUs need not run at the same speed (bench/cpu_speed.c,
 * docs/perf.md).  A limit measured on whichever CPU the OS picked could
 * land on a slower one than the workload ran on, which flattered
 * pingpong's ratio to its limit by up to 15 % on a 2-vCPU VM; the best of
 * all CPUs, when the workload ran on the slower one, made it 26 % worse
 * than that CPU's own ratio.  The same CPU compares like with like. */
#define LIMIT_CPUS 8
static double limit_on(double (*fn)(void), int reps, int cpu)
{
    cpu_set_t all;
    if (sched_getaffinity(0, sizeof all, &all) != 0 || CPU_COUNT(&all) == 1)
        return best_of(fn, reps);
    double best = -1;
    bool pinned = false;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &all) || (cpu >= 0 && c != cpu))
            continue;
        if (cpu < 0 && CPU_COUNT(&all) > LIMIT_CPUS)
            break;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(c, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0)
            continue;
        pinned = true;
        double l = best_of(fn, reps);
        if (l > best)
            best = l;
    }
    if (pinned && sched_setaffinity(0, sizeof all, &all) != 0)
        fprintf(stderr, "bench_runtime: could not restore the CPU affinity\n");
    if (pinned)
        return best;
    return cpu >= 0 ? limit_on(fn, reps, -1) : best_of(fn, reps);
}

/* ---- ring ---- */

#define RING_HOPS 2000000L
static long ring_size;

/* A ring node: forwards an integer token K to its neighbour as K - 1; the
 * node that gets 0 tells the driver.  `stop` goes once round the ring (the
 * last send reaches a dead process and is dropped).  The first node learns
 * its neighbour from a {next, Pid} message (it does not exist yet when the
 * first node is spawned). */
static void ring_node(void *arg)
{
    em_term next = ARG_PID(arg);
    if (next == EM_NONE)
        CK(em_receive(EM_INFINITY, "{next, Pid}", &next));
    for (;;) {
        em_term m;
        int64_t k;
        CK(em_receive_any(EM_INFINITY, &m));
        if (em_int_get(m, &k) < 0) {
            CK(em_send(next, a_stop));
            return;
        }
        if (k == 0)
            CK(em_send(g_main, a_done));
        else
            CK(em_send(next, em_int(k - 1)));
    }
}

static void ring(void *arg)
{
    (void)arg;
    g_main = em_self();
    em_term first = spawn_ck(ring_node, PID_ARG(EM_NONE));
    em_term last = first;
    for (long i = 1; i < ring_size; i++)
        last = spawn_ck(ring_node, PID_ARG(last));
    CK(em_send(first, em_tuple(2, a_next, last)));
    /* Warm-up lap: every node runs once. */
    CK(em_send(last, em_int(ring_size - 1)));
    CK(em_receive(EM_INFINITY, "done"));
    double t0 = now();
    CK(em_send(last, em_int(RING_HOPS - 1)));
    CK(em_receive(EM_INFINITY, "done"));
    g_secs = now() - t0;
    g_count = (double)RING_HOPS;
    CK(em_send(first, a_stop));
}

/* ---- spawn_1m and mem_per_process ---- */

#define SPAWN_N 1000000L
static em_term *spawned; /* malloc'd: the pids, for the wait and the stop */

static void idle(void *arg)
{
    (void)arg;
    CK(em_receive(EM_INFINITY, "stop"));
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

/* Wait until every spawned process is waiting in its receive. */
static void wait_all_waiting(void)
{
    for (long i = 0; i < SPAWN_N; i++) {
        em_proc_info info;
        for (;;) {
            int rc = em_process_info(spawned[i], &info);
            if (rc < 0) {
                fail("em_process_info", rc);
                return;
            }
            if (info.status == EM_STATUS_WAITING)
                break;
            em_sleep(1);
        }
    }
}

static void spawn_many(void *arg)
{
    bool measure_mem = arg != NULL;
    long rss0 = rss_bytes();
    double t0 = now();
    for (long i = 0; i < SPAWN_N; i++)
        spawned[i] = spawn_ck(idle, NULL);
    g_secs = now() - t0;
    g_count = (double)SPAWN_N;
    if (measure_mem) {
        wait_all_waiting();
        double ready = now() - t0;
        long rss1 = rss_bytes();
        g_bytes = (double)(rss1 - rss0) / (double)SPAWN_N;
        em_proc_info info = {0};
        em_process_info(spawned[0], &info);
        printf("# mem_per_process: all %ld processes waiting %.0f ms after the first spawn; "
               "RSS %.1f MB -> %.1f MB; a waiting process's saved stack: %zu bytes\n",
               SPAWN_N, ready * 1e3, (double)rss0 / 1e6, (double)rss1 / 1e6, info.stack_used);
    }
    for (long i = 0; i < SPAWN_N; i++)
        CK(em_send(spawned[i], a_stop));
}

/* ---- fan-in ---- */

#define FANIN_TOTAL 2000000L
static long fanin_senders;

static void counter(void *arg)
{
    (void)arg;
    for (long n = FANIN_TOTAL; n > 0; n--)
        CK(em_receive(EM_INFINITY, "inc"));
    CK(em_send(g_main, a_done));
}

static void sender(void *arg)
{
    em_term to = ARG_PID(arg);
    for (long n = FANIN_TOTAL / fanin_senders; n > 0; n--)
        CK(em_send(to, a_inc));
}

static void fanin(void *arg)
{
    (void)arg;
    g_main = em_self();
    double t0 = now();
    em_term c = spawn_ck(counter, NULL);
    for (long i = 0; i < fanin_senders; i++)
        spawn_ck(sender, PID_ARG(c));
    CK(em_receive(EM_INFINITY, "done"));
    g_secs = now() - t0;
    g_count = (double)FANIN_TOTAL;
}

/* ---- calls with a deep mailbox ---- */

#define DEEP_QUEUE 10000L
#define REFCALL_N 200000L
#define TAGCALL_N 5000L

/* Answers {call, From, Ref, Req} with {Ref, Req}; Req = stop ends it. */
static void ref_server(void *arg)
{
    (void)arg;
    for (;;) {
        em_term from, ref, req;
        int rc = em_receive(EM_INFINITY, "{call, From, Ref, Req}", &from, &ref, &req);
        if (rc < 0) {
            fail("ref_server receive", rc);
            return;
        }
        CK(em_send(from, em_tuple(2, em_dup(ref), em_dup(req))));
        if (req == a_stop)
            return;
    }
}

static em_term ref_call(em_term server, em_term req)
{
    em_term ref = em_make_ref();
    em_term reply = EM_NONE;
    CK(em_send(server, em_tuple(4, a_call, em_self(), em_dup(ref), req)));
    CK(em_receive_ref(EM_INFINITY, ref, "{Ref, Reply}", &reply));
    em_drop(ref);
    return reply;
}

/* Answers {call, From, Req} with {reply, Req}; Req = stop ends it. */
static void tag_server(void *arg)
{
    (void)arg;
    for (;;) {
        em_term from, req;
        int rc = em_receive(EM_INFINITY, "{call, From, Req}", &from, &req);
        if (rc < 0) {
            fail("tag_server receive", rc);
            return;
        }
        CK(em_send(from, em_tuple(2, a_reply, em_dup(req))));
        if (req == a_stop)
            return;
    }
}

static em_term tag_call(em_term server, em_term req)
{
    em_term reply = EM_NONE;
    CK(em_send(server, em_tuple(3, a_call, em_self(), req)));
    CK(em_receive(EM_INFINITY, "{reply, Reply}", &reply));
    return reply;
}

static void fill_mailbox(void)
{
    em_term self = em_self();
    for (long i = 0; i < DEEP_QUEUE; i++)
        CK(em_send(self, em_tuple(2, a_junk, em_int(i))));
}

static void refcall(void *arg)
{
    (void)arg;
    em_term server = spawn_ck(ref_server, NULL);
    fill_mailbox();
    double t0 = now();
    for (long i = 0; i < REFCALL_N; i++)
        if (ref_call(server, em_int(i)) != em_int(i))
            fail("refcall reply", EM_EINVAL);
    g_secs = now() - t0;
    g_count = (double)REFCALL_N;
    ref_call(server, a_stop);
}

static void tagcall(void *arg)
{
    (void)arg;
    em_term server = spawn_ck(tag_server, NULL);
    fill_mailbox();
    double t0 = now();
    for (long i = 0; i < TAGCALL_N; i++)
        if (tag_call(server, em_int(i)) != em_int(i))
            fail("tagcall reply", EM_EINVAL);
    g_secs = now() - t0;
    g_count = (double)TAGCALL_N;
    tag_call(server, a_stop);
}

/* ---- gen_server calls ---- */

#define GENCALL_N 500000L

static int echo_call(void *state, em_term req, em_term from, em_term *reply, em_term *reason)
{
    (void)state, (void)from, (void)reason;
    *reply = em_dup(req);
    return EM_SERVER_REPLY;
}

static const em_server_ops echo_ops = {.handle_call = echo_call};

static void gencall(void *arg)
{
    (void)arg;
    em_term server;
    int rc = em_server_start(&echo_ops, NULL, EM_NONE, &server);
    if (rc != 0) {
        fail("em_server_start", rc);
        return;
    }
    double t0 = now();
    for (long i = 0; i < GENCALL_N; i++) {
        em_term r;
        rc = em_call(server, em_int(i), 5000, &r);
        if (rc != 0 || r != em_int(i))
            fail("em_call", rc < 0 ? rc : EM_EINVAL);
    }
    g_secs = now() - t0;
    g_count = (double)GENCALL_N;
    em_exit_pid(server, a_stop);
}

/* ---- timers ---- */

#define TIMERS_N 100000L

static void timer_proc(void *arg)
{
    (void)arg;
    int rc = em_receive(50, "never");
    if (rc != EM_ETIMEDOUT)
        fail("receive after 50", rc);
    CK(em_send(g_main, a_done));
}

static void timers(void *arg)
{
    (void)arg;
    g_main = em_self();
    double t0 = now();
    for (long i = 0; i < TIMERS_N; i++)
        spawn_ck(timer_proc, NULL);
    for (long i = 0; i < TIMERS_N; i++)
        CK(em_receive(EM_INFINITY, "done"));
    g_secs = now() - t0;
}

/* ---- the driver ---- */

/* Run fn(arg) as the one process of a fresh runtime; 0 or -1. */
static int run_once(em_proc_fn fn, void *arg)
{
    const char *env = getenv("EMBER_BENCH_SCHEDULERS");
    em_rt_opts opts = {.schedulers = env ? (unsigned)atoi(env) : 0};
    int rc = em_init(&opts);
    if (rc < 0) {
        fail("em_init", rc);
        return -1;
    }
    g_secs = -1;
    if (em_spawn(fn, arg) == EM_NONE) {
        fail("em_spawn", EM_ENOMEM);
        return -1;
    }
    rc = em_run();
    if (rc != 0) {
        fail("em_run", rc);
        return -1;
    }
    return g_secs < 0 || atomic_load(&g_errors) ? -1 : 0;
}

enum kind { RATE, TIME_MS, MEM };

typedef struct workload {
    const char *name;
    em_proc_fn fn;
    long param;      /* ring size, senders */
    long *param_var; /* where param goes */
    enum kind kind;
    double (*limit)(void); /* the limit figure (best of the reps), or NULL */
} workload;

static const workload workloads[] = {
    {"pingpong", pingpong, 0, NULL, RATE, bare_switch_rate},
    {"pingpong_text", pingpong_text, 0, NULL, RATE, bare_switch_rate},
    {"ring_1k", ring, 1000, &ring_size, RATE, NULL},
    {"ring_100k", ring, 100000, &ring_size, RATE, NULL},
    {"spawn_1m", spawn_many, 0, NULL, RATE, NULL},
    {"mem_per_process", spawn_many, 1, NULL, MEM, NULL},
    {"fanin_2", fanin, 2, &fanin_senders, RATE, NULL},
    {"fanin_100", fanin, 100, &fanin_senders, RATE, NULL},
    {"refcall_deep", refcall, 0, NULL, RATE, NULL},
    {"tagcall_deep", tagcall, 0, NULL, RATE, NULL},
    {"gen_call", gencall, 0, NULL, RATE, NULL},
    {"timers_100k", timers, 0, NULL, TIME_MS, NULL},
};
#define NWORKLOADS (sizeof workloads / sizeof workloads[0])

/* Best figure over reps runs; < 0 on failure.  *best_cpu: the CPU the
 * best run ran on where the workload tells (g_cpu), else -1. */
static double measure(const workload *w, int reps, int *best_cpu)
{
    *best_cpu = -1;
    if (w->param_var)
        *w->param_var = w->param;
    if (w->kind == MEM)
        reps = 1; /* RSS does not shrink back: only a fresh process counts */
    double best = -1;
    for (int r = 0; r < reps; r++) {
        g_count = g_bytes = 0;
        g_cpu = -1;
        if (run_once(w->fn, w->kind == MEM ? (void *)1 : NULL) < 0)
            return -1;
        double v = 0;
        switch (w->kind) {
        case RATE:
            v = g_count / (g_secs > 1e-9 ? g_secs : 1e-9);
            if (v > best) {
                best = v;
                *best_cpu = g_cpu;
            }
            break;
        case TIME_MS:
            v = g_secs * 1e3;
            if (best < 0 || v < best)
                best = v;
            break;
        case MEM:
            v = g_bytes;
            if (best < 0 || v < best)
                best = v;
            break;
        }
        fprintf(stderr, "bench_runtime: %s run %d: %.0f\n", w->name, r + 1, v);
    }
    return best;
}

int main(int argc, char **argv)
{
    const char *env = getenv("EMBER_BENCH_REPS");
    int reps = env && atoi(env) > 0 ? atoi(env) : 3;
    a_ping = em_atom("ping");
    a_pong = em_atom("pong");
    a_stop = em_atom("stop");
    a_next = em_atom("next");
    a_done = em_atom("done");
    a_inc = em_atom("inc");
    a_call = em_atom("call");
    a_reply = em_atom("reply");
    a_junk = em_atom("junk");
    spawned = malloc(SPAWN_N * sizeof *spawned);
    if (spawned == NULL)
        return 1;
    /* Resident before any RSS reading (not 0: malloc + memset 0 may become
     * calloc, whose pages stay untouched). */
    memset(spawned, 0xff, SPAWN_N * sizeof *spawned);

    for (int i = 1; i < argc; i++) {
        bool known = false;
        for (size_t j = 0; j < NWORKLOADS; j++)
            known |= strcmp(argv[i], workloads[j].name) == 0;
        if (!known) {
            fprintf(stderr, "bench_runtime: unknown workload %s\n", argv[i]);
            return 2;
        }
    }
    int status = 0;
    for (size_t j = 0; j < NWORKLOADS; j++) {
        const workload *w = &workloads[j];
        bool wanted = argc == 1;
        for (int i = 1; i < argc; i++)
            wanted |= strcmp(argv[i], w->name) == 0;
        if (!wanted)
            continue;
        int cpu;
        double v = measure(w, reps, &cpu);
        if (v < 0) {
            fprintf(stderr, "bench_runtime: %s could not be measured\n", w->name);
            status = 1;
            atomic_store(&g_errors, 0);
            continue;
        }
        printf(w->kind == RATE ? "%s\t%.0f" : "%s\t%.1f", w->name, v);
        if (w->limit && getenv("EMBER_BENCH_NO_LIMIT") == NULL) {
            /* Right after the workload, best of as many runs (a rate) on
             * the CPU its best run had (limit_on). */
            double best = limit_on(w->limit, reps, cpu);
            if (best > 0)
                printf("\t%.0f", best);
            if (w->limit == bare_switch_rate) {
                double jb = limit_on(bare_switch_jmp_rate, reps, cpu);
                if (jb > 0)
                    printf("\n# %s: the bare round trip returning by jump instead (not the limit column): "
                           "%.0f/s, %.1fx %s's rate", w->name, jb, jb / v, w->name);
            }
        }
        printf("\n");
        fflush(stdout);
    }
    free(spawned);
    return status;
}
