/* bench_etf: ember's side of the ETF benchmarks (bench/etf.sh runs it next
 * to bench/etf_bench.erl, BEAM's side, and computes the ratios).
 *
 *   bench_etf [NAME]      run the workloads whose name contains NAME
 *
 * Prints one line per workload: name TAB ops/s TAB encoded size in bytes
 * [TAB limit]: for etf_encode_bin64k and etf_decode_bin64k_copy, whose
 * work is mostly a copy of the 64 KiB, the limit is the rate of that copy
 * alone (malloc of the size, memcpy, free), measured the same way.
 * The messages are the same as etf_bench.erl's (etf.sh checks the encoded
 * sizes agree):
 *   seed     {Pid, "Hello from sender"}       (the seed scenario's message)
 *   map10    a 10-key map with atom keys and mixed values
 *   list1000 [1, 2, ..., 1000]
 *   bin64k   a 65536-byte binary
 * Encode: each iteration produces a new owned buffer holding the bytes and
 * frees it (em_etf_encode into an empty em_buf, then em_buf_free), as
 * term_to_binary/1 produces a new binary each time.
 * Decode: each iteration decodes the bytes into a new term and drops it.
 * The bytes are a binary term, as binary_to_term/1's argument is, decoded
 * with em_etf_decode_bin: a large binary in the result (bin64k's) points
 * into the input instead of being copied (BEAM does that only for
 * distribution messages; binary_to_term/1 copies).  So that the copying
 * decoder's rate is in the table too, etf_decode_bin64k_copy decodes the
 * same bytes with em_etf_decode (raw bytes, everything copied) against
 * the same binary_to_term/1 on BEAM.
 * Each workload is calibrated to about EMBER_BENCH_SECONDS (default 0.3) per
 * repetition; the best of EMBER_BENCH_REPS (default 5) repetitions counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ember.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile size_t sink;

enum { ENCODE, DECODE, DECODE_COPY, MEMCPY };
typedef struct workload {
    int op;       /* ENCODE `term`, DECODE `bin`, DECODE_COPY `bytes`, MEMCPY `bytes` */
    em_term term;
    em_buf bytes; /* the encoding of term */
    em_term bin;  /* the same bytes as a binary term */
} workload;

/* Run one workload n times; 0 or a negative error. */
static int run(workload *w, long n)
{
    if (w->op == ENCODE) {
        for (long i = 0; i < n; i++) {
            em_buf b = EM_BUF_INIT;
            int rc = em_etf_encode(&b, w->term, 0);
            if (rc < 0) return rc;
            sink += b.len;
            em_buf_free(&b);
        }
    } else if (w->op == DECODE) {
        for (long i = 0; i < n; i++) {
            em_term t = EM_NONE;
            int rc = em_etf_decode_bin(w->bin, NULL, NULL, &t);
            if (rc < 0) return rc;
            sink += (size_t)t;
            em_drop(t);
        }
    } else if (w->op == MEMCPY) {
        /* The limit: the bytes copied into a new buffer of their own. */
        for (long i = 0; i < n; i++) {
            unsigned char *d = malloc(w->bytes.len);
            if (d == NULL) return EM_ENOMEM;
            memcpy(d, w->bytes.data, w->bytes.len);
            sink += d[w->bytes.len - 1];
            free(d);
        }
    } else {
        for (long i = 0; i < n; i++) {
            em_term t = EM_NONE;
            int rc = em_etf_decode(w->bytes.data, w->bytes.len, NULL, NULL, &t);
            if (rc < 0) return rc;
            sink += (size_t)t;
            em_drop(t);
        }
    }
    return 0;
}

/* Best rate in ops/s over reps repetitions of about `secs` each; < 0 error. */
static double measure(workload *w, double secs, int reps)
{
    long n = 1;
    double el;
    for (;;) {
        double t0 = now();
        if (run(w, n) < 0) return -1;
        el = now() - t0;
        if (el >= 0.05 || n > (1L << 40)) break;
        n *= 2;
    }
    n = (long)((double)n * secs / (el > 1e-9 ? el : 1e-9));
    if (n < 1) n = 1;
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (run(w, n) < 0) return -1;
        el = now() - t0;
        double rate = (double)n / (el > 1e-9 ? el : 1e-9);
        if (rate > best) best = rate;
    }
    return best;
}

#define MAP10_TEXT                                                             \
    "#{id => 12345, name => <<\"Alice Smith\">>,"                              \
    " email => <<\"alice@example.com\">>, age => 34, score => 98.5,"           \
    " active => true, tags => [admin, staff],"                                 \
    " created => {{2023,5,17},{10,30,0}}, balance => -1200,"                   \
    " meta => #{source => web}}"

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : "";
    const char *s = getenv("EMBER_BENCH_SECONDS");
    double secs = s ? atof(s) : 0.3;
    s = getenv("EMBER_BENCH_REPS");
    int reps = s ? atoi(s) : 5;
    if (secs <= 0) secs = 0.3;
    if (reps < 1) reps = 5;

    /* The messages. */
    em_term seed = em_tuple(2, em_pid(em_atom("nonode@nohost"), 85, 0, 0),
                            em_string("Hello from sender"));
    em_term map10 = em_parse(MAP10_TEXT);
    em_term ints[1000];
    for (int i = 0; i < 1000; i++) ints[i] = em_int(i + 1);
    em_term list1000 = em_listv(1000, ints);
    uint8_t *raw = malloc(65536);
    if (raw == NULL) return 1;
    for (int i = 0; i < 65536; i++) raw[i] = (uint8_t)i;
    em_term bin64k = em_binary(raw, 65536);
    free(raw);
    if (seed == EM_NONE || map10 == EM_NONE || list1000 == EM_NONE ||
        bin64k == EM_NONE) {
        fprintf(stderr, "bench_etf: could not build the messages\n");
        return 1;
    }

    struct { const char *name; em_term t; } msgs[] = {
        {"seed", seed}, {"map10", map10}, {"list1000", list1000},
        {"bin64k", bin64k},
    };
    int status = 0;
    for (size_t m = 0; m < sizeof msgs / sizeof msgs[0]; m++) {
        /* encode, decode, and for bin64k the copying decode */
        workload w = {0};
        w.term = msgs[m].t;
        if (em_etf_encode(&w.bytes, w.term, 0) < 0 ||
            (w.bin = em_binary(w.bytes.data, w.bytes.len)) == EM_NONE) {
            fprintf(stderr, "bench_etf: cannot encode %s\n", msgs[m].name);
            return 1;
        }
        int ops = strcmp(msgs[m].name, "bin64k") == 0 ? 3 : 2;
        for (int op = ENCODE; op < ops; op++) {
            char name[64];
            snprintf(name, sizeof name, "etf_%s_%s%s",
                     op == ENCODE ? "encode" : "decode", msgs[m].name,
                     op == DECODE_COPY ? "_copy" : "");
            if (strstr(name, filter) == NULL) continue;
            w.op = op;
            double rate = measure(&w, secs, reps);
            if (rate < 0) {
                fprintf(stderr, "bench_etf: %s failed\n", name);
                status = 1;
                continue;
            }
            printf("%s\t%.0f\t%zu", name, rate, w.bytes.len);
            if (strcmp(msgs[m].name, "bin64k") == 0 && op != DECODE) {
                /* Encoding a binary and the copying decode copy its
                 * bytes: their limit is that copy alone (MEMCPY). */
                w.op = MEMCPY;
                double lim = measure(&w, secs, reps);
                if (lim > 0)
                    printf("\t%.0f", lim);
            }
            printf("\n");
            fflush(stdout);
        }
        em_buf_free(&w.bytes);
        em_drop(w.bin);
    }
    em_drop(seed);
    em_drop(map10);
    em_drop(list1000);
    em_drop(bin64k);
    return status;
}
