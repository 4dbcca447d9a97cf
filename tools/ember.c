/* ember: the command-line tool.
 *
 *   ember encode [-d] 'TERM TEXT'   term_to_binary bytes as lowercase hex
 *   ember decode [-w] HEX... | -    the term as ~p (or ~w) on one line
 *   ember help [COMMAND]
 *
 * Subcommands live in one table (COMMANDS below): to add one, write a
 * `static int cmd_NAME(int argc, char **argv)` (argv[0] is the subcommand's
 * name; return an exit status) and add a row.  Rows marked hidden are
 * development aids left out of `ember help` (check-corpus, used by
 * tests/interop/etf_corpus.sh).
 *
 * Exit status: 0 success, 1 bad input (a term that does not parse or decode,
 * a failed check), 2 bad usage. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember.h>

#define EXIT_BADINPUT 1
#define EXIT_USAGE 2

static const char *prog = "ember";

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *args;    /* synopsis after the name */
    const char *summary; /* one line */
    const char *detail;  /* shown by `ember help NAME`; may be NULL */
    bool hidden;
} command;

static int cmd_encode(int argc, char **argv);
static int cmd_decode(int argc, char **argv);
static int cmd_help(int argc, char **argv);
static int cmd_check_corpus(int argc, char **argv);

static const command COMMANDS[] = {
    {"encode", cmd_encode, "[-d] 'TERM TEXT' | -",
     "print term_to_binary(TERM) as lowercase hex",
     "Parses Erlang term syntax (atoms, integers, floats, strings, tuples,\n"
     "lists, binaries, maps, local pids) and prints the external term format\n"
     "bytes, byte-identical to OTP 25's term_to_binary/1, as lowercase hex\n"
     "with no separators.  '-' reads the text from standard input.\n"
     "  -d  distribution mode: every atom as a UTF-8 atom tag\n",
     false},
    {"decode", cmd_decode, "[-w] HEX... | -",
     "print the term encoded by HEX as ~p on one line",
     "Decodes external term format bytes given as hex (whitespace ignored;\n"
     "several arguments are joined) and prints the term as\n"
     "io_lib:format(\"~p\", [T]) would on one line.\n"
     "'-' reads the raw bytes (not hex) from standard input.\n"
     "  -w  print as ~w instead of ~p\n",
     false},
    {"help", cmd_help, "[COMMAND]", "show this help, or a command's help", NULL,
     false},
    {"check-corpus", cmd_check_corpus, "FILE",
     "check an ETF corpus written by tests/interop/etf_corpus.erl",
     "Each line of FILE: ID TAB TEXT TAB ETF TAB P TAB ALT TAB DIST, the\n"
     "last five fields hex (or '-' when absent): TEXT the term as ~tw\n"
     "(UTF-8), ETF the expected term_to_binary bytes, P the term's one-line\n"
     "~p (UTF-8), ALT other bytes of the same term that must decode and\n"
     "re-encode to ETF, DIST the expected EM_ETF_DIST encoding.\n"
     "Checks: (a) encode(parse(TEXT)) == ETF, (a2) encode(parse(P)) == ETF\n"
     "when TEXT is present, (b) ~p of decode(ETF) == P, (c) encode(decode(ETF))\n"
     "== ETF, (c2) encode(decode(ALT)) == ETF, (d) encode(decode(ETF), DIST)\n"
     "== DIST.  Exit 1 on any mismatch; EMBER_CORPUS_SHOW=N shows N of them.\n",
     true},
};
#define NCOMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(COMMANDS[i].name, name) == 0) return &COMMANDS[i];
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: %s COMMAND [ARGS]\n\ncommands:\n", prog);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (COMMANDS[i].hidden) continue;
        char syn[64];
        snprintf(syn, sizeof syn, "%s %s", COMMANDS[i].name, COMMANDS[i].args);
        fprintf(f, "  %-28s %s\n", syn, COMMANDS[i].summary);
    }
    fprintf(f, "\nRun '%s help COMMAND' for details.\n", prog);
}

/* "ember NAME: MSG[ 'ARG']" and the command's synopsis; EXIT_USAGE. */
static int usage_error(const command *c, const char *msg, const char *arg)
{
    fprintf(stderr, "%s: %s: %s", prog, c->name, msg);
    if (arg) fprintf(stderr, " '%s'", arg);
    fprintf(stderr, "\nusage: %s %s %s\n", prog, c->name, c->args);
    return EXIT_USAGE;
}

/* ---- helpers ------------------------------------------------------------ */

/* Read all of stream f into b.  0 or EM_EIO / EM_ENOMEM. */
static int read_all(FILE *f, em_buf *b)
{
    for (;;) {
        int rc = em_buf_reserve(b, 65536);
        if (rc < 0) return rc;
        size_t n = fread(b->data + b->len, 1, b->cap - b->len, f);
        b->len += n;
        if (n == 0) return ferror(f) ? EM_EIO : 0;
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode hex text (whitespace ignored) into b.  0, EM_ENOMEM, or EM_EINVAL
 * with *bad set to the offset of the offending character (len for an odd
 * digit count). */
static int unhex(const char *s, size_t len, em_buf *b, size_t *bad)
{
    if (em_buf_reserve(b, len / 2 + 1) < 0) {
        *bad = 0;
        return EM_ENOMEM;
    }
    int hi = -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (isspace(ch)) continue;
        int v = hexval(ch);
        if (v < 0) {
            *bad = i;
            return EM_EINVAL;
        }
        if (hi < 0) {
            hi = v;
        } else {
            b->data[b->len++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0) {
        *bad = len;
        return EM_EINVAL;
    }
    return 0;
}

static void put_hex(FILE *f, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char chunk[1024];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        chunk[k++] = digits[p[i] >> 4];
        chunk[k++] = digits[p[i] & 15];
        if (k == sizeof chunk) {
            fwrite(chunk, 1, k, f);
            k = 0;
        }
    }
    fwrite(chunk, 1, k, f);
}

static void report_parse_error(const char *what, int rc,
                               const em_parse_error *pe)
{
    if (rc == EM_ESYNTAX)
        fprintf(stderr,
                "%s: %s: syntax error at line %d, column %d (byte %zu): %s\n",
                prog, what, pe->line, pe->column, pe->offset, pe->reason);
    else
        fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, em_strerror(rc),
                em_err_name(rc));
}

/* ---- encode ------------------------------------------------------------- */

static int cmd_encode(int argc, char **argv)
{
    const command *c = find_command("encode");
    /* Only known options are options: term text may start with '-'. */
    int flags = 0, i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "-d") == 0 || strcmp(argv[i], "--dist") == 0)
            flags |= EM_ETF_DIST;
        else
            break;
    }
    if (argc - i != 1) return usage_error(c, "expected one TERM TEXT argument", NULL);

    em_buf text = EM_BUF_INIT;
    const char *src = argv[i];
    size_t srclen = strlen(src);
    if (strcmp(src, "-") == 0) {
        int rc = read_all(stdin, &text);
        if (rc < 0) {
            fprintf(stderr, "%s: encode: reading standard input: %s\n", prog,
                    em_strerror(rc));
            em_buf_free(&text);
            return EXIT_BADINPUT;
        }
        src = (const char *)text.data;
        srclen = text.len;
        if (src == NULL) src = "";
    }

    em_term t = EM_NONE;
    em_parse_error pe;
    memset(&pe, 0, sizeof pe);
    int rc = em_parse_term(src, srclen, &t, &pe);
    em_buf_free(&text);
    if (rc < 0) {
        report_parse_error("encode", rc, &pe);
        return EXIT_BADINPUT;
    }
    em_buf out = EM_BUF_INIT;
    rc = em_etf_encode(&out, t, flags);
    em_drop(t);
    if (rc < 0) {
        fprintf(stderr, "%s: encode: %s (%s)\n", prog, em_strerror(rc),
                em_err_name(rc));
        em_buf_free(&out);
        return EXIT_BADINPUT;
    }
    put_hex(stdout, out.data, out.len);
    putchar('\n');
    em_buf_free(&out);
    return fflush(stdout) == 0 ? 0 : EXIT_BADINPUT;
}

/* ---- decode ------------------------------------------------------------- */

static int cmd_decode(int argc, char **argv)
{
    const command *c = find_command("decode");
    int mode = EM_PRINT_P, i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "-w") == 0)
            mode = EM_PRINT_W;
        else if (strcmp(argv[i], "-p") == 0)
            mode = EM_PRINT_P;
        else
            return usage_error(c, "unknown option", argv[i]);
    }
    if (argc - i < 1)
        return usage_error(c, "expected HEX, or - to read bytes from stdin", NULL);

    em_buf bytes = EM_BUF_INIT;
    int rc;
    if (strcmp(argv[i], "-") == 0) {
        if (argc - i != 1)
            return usage_error(c, "nothing may follow '-'", NULL);
        rc = read_all(stdin, &bytes);
        if (rc < 0) {
            fprintf(stderr, "%s: decode: reading standard input: %s\n", prog,
                    em_strerror(rc));
            em_buf_free(&bytes);
            return EXIT_BADINPUT;
        }
    } else {
        /* The hex may come in several arguments (as `xxd -p` splits it). */
        for (; i < argc; i++) {
            size_t bad = 0, n = strlen(argv[i]);
            rc = unhex(argv[i], n, &bytes, &bad);
            if (rc == EM_ENOMEM) {
                fprintf(stderr, "%s: decode: %s\n", prog, em_strerror(rc));
                em_buf_free(&bytes);
                return EXIT_BADINPUT;
            }
            if (rc < 0) {
                if (bad == n)
                    fprintf(stderr, "%s: decode: odd number of hex digits in '%s'\n",
                            prog, argv[i]);
                else
                    fprintf(stderr,
                            "%s: decode: not a hex digit at character %zu of '%s': '%c'\n",
                            prog, bad + 1, argv[i], argv[i][bad]);
                em_buf_free(&bytes);
                return EXIT_BADINPUT;
            }
        }
    }
    if (bytes.len == 0) {
        fprintf(stderr, "%s: decode: no input bytes\n", prog);
        em_buf_free(&bytes);
        return EXIT_BADINPUT;
    }

    em_term t = EM_NONE;
    rc = em_etf_decode(bytes.data, bytes.len, NULL, NULL, &t);
    size_t nbytes = bytes.len;
    em_buf_free(&bytes);
    if (rc < 0) {
        fprintf(stderr, "%s: decode: %s (%s) in %zu bytes of input\n", prog,
                em_strerror(rc), em_err_name(rc), nbytes);
        return EXIT_BADINPUT;
    }
    em_buf out = EM_BUF_INIT;
    rc = em_print_buf(&out, t, mode);
    em_drop(t);
    if (rc < 0) {
        fprintf(stderr, "%s: decode: printing: %s\n", prog, em_strerror(rc));
        em_buf_free(&out);
        return EXIT_BADINPUT;
    }
    if (out.len) fwrite(out.data, 1, out.len, stdout);
    putchar('\n');
    em_buf_free(&out);
    return fflush(stdout) == 0 ? 0 : EXIT_BADINPUT;
}

/* ---- help --------------------------------------------------------------- */

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    const command *c = find_command(argv[1]);
    if (c == NULL) {
        fprintf(stderr, "%s: help: unknown command '%s'\n", prog, argv[1]);
        return EXIT_USAGE;
    }
    printf("usage: %s %s %s\n\n%s\n", prog, c->name, c->args, c->summary);
    if (c->detail) printf("\n%s", c->detail);
    return 0;
}

/* ---- check-corpus --------------------------------------------------------
 * The comparison loop of tests/interop/etf_corpus.sh, in one process (the
 * corpus has terms whose text is larger than one command-line argument may
 * be). */

enum { CK_A, CK_A2, CK_B, CK_C, CK_C2, CK_D, CK_N };
static const char *const CK_NAME[CK_N] = {
    "(a) encode(parse(~w text)) == term_to_binary",
    "(a2) encode(parse(~p text)) == term_to_binary",
    "(b) ~p(decode(bytes)) == erl ~p",
    "(c) encode(decode(bytes)) == bytes",
    "(c2) encode(decode(alt bytes)) == term_to_binary",
    "(d) dist encode(decode(bytes)) == minor_version 2 bytes",
};

typedef struct corpus_stats {
    long total[CK_N], failed[CK_N];
    long shown;   /* failures printed so far */
    long max_shown;
} corpus_stats;

static bool bytes_eq(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Show a window of p (hex if `as_hex`) starting near byte `from`. */
static void show_clip(const char *label, const uint8_t *p, size_t n,
                      size_t from, bool as_hex)
{
    const size_t max = as_hex ? 120 : 240;
    size_t start = from > max / 3 ? from - max / 3 : 0;
    if (start > n) start = n;
    size_t m = n - start < max ? n - start : max;
    fprintf(stderr, "    %-9s", label);
    if (start) fprintf(stderr, "[byte %zu] ...", start);
    if (m == 0)
        ;
    else if (as_hex)
        put_hex(stderr, p + start, m);
    else
        fwrite(p + start, 1, m, stderr);
    if (start + m < n) fprintf(stderr, "... (%zu bytes)", n);
    fputc('\n', stderr);
}

/* A failure of check `ck` on term `id`: count it and show the first ones
 * (want/got around their first difference). */
static void corpus_fail(corpus_stats *st, int ck, const char *id,
                        const char *why, const uint8_t *want, size_t wn,
                        const uint8_t *got, size_t gn, bool as_hex)
{
    st->failed[ck]++;
    if (st->shown++ >= st->max_shown) return;
    fprintf(stderr, "MISMATCH %s %s%s%s\n", id, CK_NAME[ck], why ? ": " : "",
            why ? why : "");
    size_t d = 0;
    if (want && got)
        while (d < wn && d < gn && want[d] == got[d]) d++;
    if (want) show_clip("expected", want, wn, d, as_hex);
    if (got) show_clip("got", got, gn, d, as_hex);
}

static bool field_hex(const char *s, em_buf *b)
{
    size_t bad;
    b->len = 0;
    if (strcmp(s, "-") == 0) return false;
    if (unhex(s, strlen(s), b, &bad) < 0) return false;
    return true;
}

/* Parse `text`, encode, compare with want. */
static void check_parse(corpus_stats *st, int ck, const char *id,
                        const em_buf *text, const em_buf *want, em_buf *tmp)
{
    st->total[ck]++;
    em_term t = EM_NONE;
    em_parse_error pe;
    memset(&pe, 0, sizeof pe);
    int rc = em_parse_term(text->len ? (const char *)text->data : "", text->len,
                           &t, &pe);
    if (rc < 0) {
        char why[200];
        if (rc == EM_ESYNTAX)
            snprintf(why, sizeof why, "parse error at byte %zu: %s", pe.offset,
                     pe.reason);
        else
            snprintf(why, sizeof why, "parse: %s", em_err_name(rc));
        corpus_fail(st, ck, id, why, NULL, 0, NULL, 0, false);
        if (st->shown <= st->max_shown)
            show_clip("text", text->data, text->len, 0, false);
        return;
    }
    tmp->len = 0;
    rc = em_etf_encode(tmp, t, 0);
    em_drop(t);
    if (rc < 0) {
        corpus_fail(st, ck, id, em_err_name(rc), NULL, 0, NULL, 0, false);
        return;
    }
    if (!bytes_eq(tmp->data, tmp->len, want->data, want->len)) {
        corpus_fail(st, ck, id, NULL, want->data, want->len, tmp->data,
                    tmp->len, true);
        if (st->shown <= st->max_shown)
            show_clip("text", text->data, text->len, 0, false);
    }
}

/* Decode `in`, re-encode, compare with want; if p is not NULL also compare
 * the ~p text, if dist is not NULL the EM_ETF_DIST encoding.  */
static void check_decode(corpus_stats *st, int ck, const char *id,
                         const em_buf *in, const em_buf *want, const em_buf *p,
                         const em_buf *dist, em_buf *tmp)
{
    em_term t = EM_NONE;
    int rc = em_etf_decode(in->data, in->len, NULL, NULL, &t);
    st->total[ck]++;
    if (p) st->total[CK_B]++;
    if (dist) st->total[CK_D]++;
    if (rc < 0) {
        corpus_fail(st, ck, id, em_err_name(rc), NULL, 0, NULL, 0, false);
        if (p) corpus_fail(st, CK_B, id, em_err_name(rc), NULL, 0, NULL, 0, false);
        if (dist) corpus_fail(st, CK_D, id, em_err_name(rc), NULL, 0, NULL, 0, false);
        return;
    }
    tmp->len = 0;
    rc = em_etf_encode(tmp, t, 0);
    if (rc < 0)
        corpus_fail(st, ck, id, em_err_name(rc), NULL, 0, NULL, 0, false);
    else if (!bytes_eq(tmp->data, tmp->len, want->data, want->len))
        corpus_fail(st, ck, id, NULL, want->data, want->len, tmp->data,
                    tmp->len, true);
    if (p) {
        tmp->len = 0;
        rc = em_print_buf(tmp, t, EM_PRINT_P);
        if (rc < 0)
            corpus_fail(st, CK_B, id, em_err_name(rc), NULL, 0, NULL, 0, false);
        else if (!bytes_eq(tmp->data, tmp->len, p->data, p->len))
            corpus_fail(st, CK_B, id, NULL, p->data, p->len, tmp->data,
                        tmp->len, false);
    }
    if (dist) {
        tmp->len = 0;
        rc = em_etf_encode(tmp, t, EM_ETF_DIST);
        if (rc < 0)
            corpus_fail(st, CK_D, id, em_err_name(rc), NULL, 0, NULL, 0, false);
        else if (!bytes_eq(tmp->data, tmp->len, dist->data, dist->len))
            corpus_fail(st, CK_D, id, NULL, dist->data, dist->len, tmp->data,
                        tmp->len, true);
    }
    em_drop(t);
}

static int cmd_check_corpus(int argc, char **argv)
{
    const command *c = find_command("check-corpus");
    if (argc != 2) return usage_error(c, "expected FILE", NULL);
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) {
        fprintf(stderr, "%s: check-corpus: %s: %s\n", prog, argv[1],
                strerror(errno));
        return EXIT_USAGE;
    }
    const char *max_env = getenv("EMBER_CORPUS_SHOW");
    corpus_stats st;
    memset(&st, 0, sizeof st);
    st.max_shown = max_env ? atol(max_env) : 20;

    em_buf text = EM_BUF_INIT, etf = EM_BUF_INIT, p = EM_BUF_INIT,
           alt = EM_BUF_INIT, dist = EM_BUF_INIT, tmp = EM_BUF_INIT;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long nterms = 0, lineno = 0, bad_lines = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0 || line[0] == '#') continue;
        char *fld[6];
        int nf = 0;
        char *s = line;
        while (nf < 6) {
            fld[nf++] = s;
            char *tab = strchr(s, '\t');
            if (tab == NULL) break;
            *tab = '\0';
            s = tab + 1;
        }
        if (nf != 6 || !field_hex(fld[2], &etf)) {
            fprintf(stderr, "%s: check-corpus: %s:%ld: malformed line\n", prog,
                    argv[1], lineno);
            bad_lines++;
            continue;
        }
        const char *id = fld[0];
        nterms++;
        bool has_text = field_hex(fld[1], &text);
        bool has_p = field_hex(fld[3], &p);
        bool has_alt = field_hex(fld[4], &alt);
        bool has_dist = field_hex(fld[5], &dist);
        if (has_text) {
            check_parse(&st, CK_A, id, &text, &etf, &tmp);
            if (has_p) check_parse(&st, CK_A2, id, &p, &etf, &tmp);
        }
        check_decode(&st, CK_C, id, &etf, &etf, has_p ? &p : NULL,
                     has_dist ? &dist : NULL, &tmp);
        if (has_alt) check_decode(&st, CK_C2, id, &alt, &etf, NULL, NULL, &tmp);
    }
    free(line);
    fclose(f);
    em_buf_free(&text);
    em_buf_free(&etf);
    em_buf_free(&p);
    em_buf_free(&alt);
    em_buf_free(&dist);
    em_buf_free(&tmp);

    long nfailed = 0;
    printf("%ld terms in %s\n", nterms, argv[1]);
    for (int k = 0; k < CK_N; k++) {
        printf("  %-58s %5ld checked, %5ld failed\n", CK_NAME[k], st.total[k],
               st.failed[k]);
        nfailed += st.failed[k];
    }
    if (st.shown > st.max_shown)
        printf("  (%ld mismatches not shown; EMBER_CORPUS_SHOW=N shows more)\n",
               st.shown - st.max_shown);
    if (bad_lines) printf("  %ld malformed lines\n", bad_lines);
    return (nfailed || bad_lines || nterms == 0) ? EXIT_BADINPUT : 0;
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) name = "help";
    const command *c = find_command(name);
    if (c == NULL) {
        fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
        usage(stderr);
        return EXIT_USAGE;
    }
    return c->run(argc - 1, argv + 1);
}
