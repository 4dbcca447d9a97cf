/* cpu_speed: how fast each CPU this process may run on is right now, for
 * bench/run.sh's note on the table (not a workload).
 *
 *   cpu_speed
 *
 * Runs the same fixed loop pinned to each CPU of its affinity mask in
 * turn (best of 5 runs of about 20 ms each) and prints one line per CPU:
 * cpu number TAB loop iterations per second.  Exit status 1 if it could
 * not pin itself (then nothing is printed).
 *
 * Why: on a VM the CPUs need not run at the same speed.  On one 2-vCPU VM
 * here one vCPU ran everything 1.7 times slower than the other, and which
 * one changed over minutes (docs/perf.md); a single-threaded workload's
 * ratio then depends on which CPU the OS put ember's side and BEAM's side
 * on, as much as on either.  The loop mixes what the workloads do
 * (dependent loads from a small table, multiplies, a data-dependent
 * branch), so a CPU that is slower for them is slower for it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile uint64_t sink;

/* n iterations of the loop; returns its result so it cannot be dropped. */
static uint64_t loop(long n)
{
    static uint32_t table[1024];
    uint64_t x = 88172645463325252u, acc = 0;
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t *slot = &table[(x + acc) & 1023];
        if (x & 0x10)
            acc += *slot * 2654435761u;
        else
            acc ^= *slot;
        *slot = (uint32_t)acc;
    }
    return acc;
}

/* Best rate (iterations/s) over 5 runs of about 20 ms. */
static double rate(void)
{
    long n = 1 << 16;
    double el;
    for (;;) { /* calibrate */
        double t0 = now();
        sink += loop(n);
        el = now() - t0;
        if (el >= 0.005)
            break;
        n *= 2;
    }
    n = (long)((double)n * 0.02 / el);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        sink += loop(n);
        el = now() - t0;
        if (el > 0 && (double)n / el > best)
            best = (double)n / el;
    }
    return best;
}

int main(void)
{
    cpu_set_t all;
    if (sched_getaffinity(0, sizeof all, &all) != 0) {
        perror("cpu_speed: sched_getaffinity");
        return 1;
    }
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &all))
            continue;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(c, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0) {
            perror("cpu_speed: sched_setaffinity");
            return 1;
        }
        printf("%d\t%.0f\n", c, rate());
    }
    sched_setaffinity(0, sizeof all, &all);
    return 0;
}
