/* etf_corpus_check: the comparison loop of tests/interop/etf_corpus.sh, in
 * one process (the corpus has terms whose text is larger than one
 * command-line argument may be).  Built by `make tests` into
 * $(B)/tests/interop/; it uses only the public API.
 *
 *   etf_corpus_check FILE
 *
 * Each line of FILE (written by tests/interop/etf_corpus.erl):
 * ID TAB TEXT TAB ETF TAB P TAB ALT TAB DIST, the last five fields hex (or
 * '-' when absent): TEXT the term as ~tw (UTF-8), ETF the expected
 * term_to_binary bytes, P the term's one-line ~p (UTF-8), ALT other bytes
 * of the same term that must decode and re-encode to ETF, DIST the expected
 * EM_ETF_DIST encoding.
 * Checks: (a) encode(parse(TEXT)) == ETF, (a2) encode(parse(P)) == ETF when
 * TEXT is present, (b) ~p of decode(ETF) == P, (c) encode(decode(ETF)) ==
 * ETF, (c2) encode(decode(ALT)) == ETF, (d) encode(decode(ETF), DIST) ==
 * DIST.
 * Exit status: 0 all held, 1 any mismatch (or a malformed line, or no term),
 * 2 bad usage.  EMBER_CORPUS_SHOW=N shows the first N mismatches (20). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember.h>

static const char *prog = "etf_corpus_check";

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void put_hex(FILE *f, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", p[i]);
}

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

/* A field's hex into b: false when it is '-' (absent) or not hex. */
static bool field_hex(const char *s, em_buf *b)
{
    b->len = 0;
    size_t len = strlen(s);
    if (strcmp(s, "-") == 0 || len % 2 != 0) return false;
    if (em_buf_reserve(b, len / 2 + 1) < 0) return false;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hexval((unsigned char)s[i]), lo = hexval((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0) return false;
        b->data[b->len++] = (uint8_t)(hi << 4 | lo);
    }
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

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", prog);
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n", prog, argv[1], strerror(errno));
        return 2;
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
            fprintf(stderr, "%s: %s:%ld: malformed line\n", prog,
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
    return (nfailed || bad_lines || nterms == 0) ? 1 : 0;
}
