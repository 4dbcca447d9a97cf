/* parse.c: Erlang term syntax to terms (em_parse_term, em_parse), through
 * the flat post-order syntax tree of lex.h that pattern.c shares.
 *
 * Neither the parser nor the tree builder recurses: the parser keeps a stack
 * of open brackets, the builder a stack of finished values, so a term
 * 100,000 levels deep parses on a small C stack. */
#include <stdlib.h>
#include <string.h>

#include "term_int.h"
#include "lex.h"

/* ---- errors ---- */

void em__parse_error_at(em_parse_error *err, const char *text, size_t len,
                        size_t off, const char *reason)
{
    if (err == NULL)
        return;
    if (off > len)
        off = len;
    int line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n') {
            line++;
            col = 1;
        } else if ((c & 0xc0) != 0x80) {
            col++; /* columns count characters, not UTF-8 continuation bytes */
        }
    }
    err->offset = off;
    err->line = line;
    err->column = col;
    size_t n = strlen(reason);
    if (n >= sizeof err->reason)
        n = sizeof err->reason - 1;
    memcpy(err->reason, reason, n);
    err->reason[n] = '\0';
}

/* ---- the tree ---- */

void em__ast_free(em__ast *a)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].kind == EM__N_LIT)
            em_drop(a->v[i].term);
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

static em__node *ast_push(em__ast *a, int kind, size_t off)
{
    if (a->n == a->cap) {
        size_t c = a->cap ? a->cap * 2 : 32;
        em__node *v = realloc(a->v, c * sizeof *v);
        if (v == NULL)
            return NULL;
        a->v = v;
        a->cap = c;
    }
    em__node *nd = &a->v[a->n++];
    memset(nd, 0, sizeof *nd);
    nd->kind = (uint8_t)kind;
    nd->size = 1;
    nd->off = off;
    return nd;
}

em_term em__ast_build(em__ast *a, size_t root, bool consume)
{
    size_t first = root + 1 - a->v[root].size;
    /* Values of finished subtrees, in order; a compound pops its children. */
    size_t cap = 64, sp = 0;
    em_term *st = malloc(cap * sizeof *st);
    if (st == NULL)
        return EM_NONE;
    for (size_t i = first; i <= root; i++) {
        em__node *nd = &a->v[i];
        em_term t = EM_NONE;
        size_t k;
        switch (nd->kind) {
        case EM__N_LIT:
            t = consume ? nd->term : em_dup(nd->term);
            if (consume)
                nd->term = EM_NIL; /* an immediate: nothing left to drop */
            break;
        case EM__N_TUPLE:
            k = nd->n;
            sp -= k;
            t = em_tuplev(k, st + sp);
            break;
        case EM__N_LIST: {
            em_term tail = EM_NIL;
            if (nd->flags & EM__NF_TAIL)
                tail = st[--sp];
            k = nd->n;
            sp -= k;
            t = em_listv_tail(k, st + sp, tail);
            break;
        }
        case EM__N_MAP: {
            k = nd->n;
            sp -= 2 * k;
            /* keys and values are interleaved on the stack: split in place
             * through a scratch copy of the values */
            em_term *vals = malloc((k ? k : 1) * sizeof *vals);
            if (vals == NULL) {
                for (size_t j = 0; j < 2 * k; j++)
                    em_drop(st[sp + j]);
                break;
            }
            for (size_t j = 0; j < k; j++) {
                vals[j] = st[sp + 2 * j + 1];
                st[sp + j] = st[sp + 2 * j];
            }
            t = em_mapv(k, st + sp, vals);
            free(vals);
            break;
        }
        default: /* variables have no value */
            break;
        }
        if (sp == cap) {
            em_term *v = realloc(st, 2 * cap * sizeof *v);
            if (v == NULL) {
                em_drop(t);
                t = EM_NONE;
            } else {
                st = v;
                cap *= 2;
            }
        }
        if (t == EM_NONE) {
            while (sp)
                em_drop(st[--sp]);
            free(st);
            return EM_NONE;
        }
        st[sp++] = t;
    }
    em_term r = st[0];
    free(st);
    return r;
}

/* ---- the parser ---- */

enum { F_TUPLE, F_LIST, F_MAP };
enum {
    S_ELEM,     /* after an element: expect ',' or the closer (or '|') */
    S_TAIL,     /* after a list tail: expect ']' */
    S_KEY,      /* map: after a key: expect '=>' */
    S_VALUE     /* map: after a value: expect ',' or '}' */
};

typedef struct frame {
    uint8_t kind, state;
    uint32_t count;   /* elements (or pairs) so far */
    size_t first;     /* index of the frame's first tree node */
    size_t off;       /* source offset of the opening bracket */
} frame;

typedef struct parser {
    em__lexer lx;
    em__ast *ast;
    bool pattern;
    frame *fs;
    size_t nf, fcap;
    int err;
    size_t err_off;
    const char *reason;
} parser;

static int perr(parser *p, size_t off, const char *reason)
{
    if (p->err == 0) {
        p->err = EM_ESYNTAX;
        p->err_off = off;
        p->reason = reason;
    }
    return p->err;
}

static int pnomem(parser *p)
{
    if (p->err == 0) {
        p->err = EM_ENOMEM;
        p->err_off = p->lx.pos;
        p->reason = "out of memory";
    }
    return p->err;
}

static int lex(parser *p)
{
    int k = em__lex_next(&p->lx);
    if (k == EM__T_ERROR) {
        p->err = p->lx.err;
        p->err_off = p->lx.err_off;
        p->reason = p->lx.err_reason;
    }
    return k;
}

static bool is_punct(const em__token *t, int c)
{
    return t->kind == EM__T_PUNCT && t->c == c;
}

static int add_lit(parser *p, em_term t, size_t off)
{
    if (t == EM_NONE)
        return pnomem(p);
    em__node *nd = ast_push(p->ast, EM__N_LIT, off);
    if (nd == NULL) {
        em_drop(t);
        return pnomem(p);
    }
    nd->term = t;
    return 0;
}

/* Close the frame on top: emit its node. */
static int close_frame(parser *p, int kind, uint32_t n, unsigned flags)
{
    frame *f = &p->fs[--p->nf];
    em__node *nd = ast_push(p->ast, kind, f->off);
    if (nd == NULL)
        return pnomem(p);
    nd->n = n;
    nd->flags = (uint8_t)flags;
    size_t size = p->ast->n - f->first;
    if (size > UINT32_MAX)
        return perr(p, f->off, "term too large");
    nd->size = (uint32_t)size;
    return 0;
}

static int open_frame(parser *p, int kind, size_t off)
{
    if (p->nf == p->fcap) {
        size_t c = p->fcap ? p->fcap * 2 : 32;
        frame *v = realloc(p->fs, c * sizeof *v);
        if (v == NULL)
            return pnomem(p);
        p->fs = v;
        p->fcap = c;
    }
    frame *f = &p->fs[p->nf++];
    f->kind = (uint8_t)kind;
    f->state = S_ELEM;
    f->count = 0;
    f->first = p->ast->n;
    f->off = off;
    return 0;
}

/* Append the low `bits` bits of integer v (any size) to a bit buffer, MSB
 * first, as <<V:Bits>> does (two's complement, truncated). */
static int put_bits(em_buf *b, size_t *nbits, em_term v, uint64_t bits)
{
    bool neg = false;
    int need = em_bigint_bytes(v, &neg, NULL, 0);
    if (need < 0)
        return need;
    size_t total = *nbits + (size_t)bits;
    size_t vbytes = (size_t)((bits + 7) / 8);
    /* The value's low vbytes bytes, least significant first. */
    uint8_t *le = calloc((size_t)need > vbytes ? (size_t)need : (vbytes ? vbytes : 1), 1);
    if (le == NULL || em_buf_reserve(b, (total + 7) / 8 - b->len) < 0) {
        free(le);
        return EM_ENOMEM;
    }
    em_bigint_bytes(v, &neg, le, (size_t)need);
    if (neg) {
        /* two's complement of the magnitude: invert and add one */
        unsigned carry = 1;
        for (size_t i = 0; i < vbytes; i++) {
            unsigned x = (unsigned)(uint8_t)~le[i] + carry;
            le[i] = (uint8_t)x;
            carry = x >> 8;
        }
    }
    if ((total + 7) / 8 > b->len) {
        memset(b->data + b->len, 0, (total + 7) / 8 - b->len);
        b->len = (total + 7) / 8;
    }
    for (uint64_t i = 0; i < bits; i++) {
        uint64_t vb = bits - 1 - i; /* value bit, most significant first */
        size_t pos = *nbits + (size_t)i;
        if ((le[vb / 8] >> (vb % 8)) & 1)
            b->data[pos / 8] |= (uint8_t)(0x80 >> (pos % 8));
    }
    *nbits = total;
    free(le);
    return 0;
}

/* << seg, seg >>: integer segments (optionally :Size in bits) and strings.
 * Called with the << token consumed. */
static int parse_binary(parser *p, size_t off)
{
    em_buf b = EM_BUF_INIT;
    size_t nbits = 0;
    int k = lex(p);
    int rc = 0;
    if (k == EM__T_GTGT)
        goto done;
    for (;;) {
        em_term v = EM_NONE;
        uint32_t *cps = NULL; /* a string segment: one value per character */
        size_t ncps = 0;
        if (k == EM__T_STRING) {
            ncps = p->lx.ncps;
            cps = malloc((ncps ? ncps : 1) * sizeof *cps);
            if (cps == NULL) {
                pnomem(p);
                goto fail;
            }
            if (ncps)
                memcpy(cps, p->lx.cps, ncps * sizeof *cps);
        } else {
            bool neg = false;
            if (k == EM__T_PUNCT && (p->lx.tok.c == '-' || p->lx.tok.c == '+')) {
                neg = p->lx.tok.c == '-';
                k = lex(p);
            }
            if (k != EM__T_INT && k != EM__T_CHAR) {
                if (k != EM__T_ERROR)
                    perr(p, p->lx.tok.start, "expected an integer or a string in binary");
                goto fail;
            }
            v = em__lex_int(&p->lx, neg);
            if (v == EM_NONE) {
                pnomem(p);
                goto fail;
            }
        }
        uint64_t size = 8;
        k = lex(p);
        if (k == EM__T_PUNCT && p->lx.tok.c == ':') {
            k = lex(p);
            if (k != EM__T_INT || p->lx.tok.big || p->lx.tok.ival > (UINT64_C(1) << 32)) {
                em_drop(v);
                free(cps);
                if (k != EM__T_ERROR)
                    perr(p, p->lx.tok.start, "expected a segment size (bits) after ':'");
                goto fail;
            }
            size = p->lx.tok.ival;
            k = lex(p);
        }
        if (k == EM__T_PUNCT && p->lx.tok.c == '/') {
            em_drop(v);
            free(cps);
            perr(p, p->lx.tok.start, "binary type specifiers are not supported");
            goto fail;
        }
        if (cps) {
            for (size_t i = 0; i < ncps && rc == 0; i++)
                rc = put_bits(&b, &nbits, em__small(cps[i]), size);
            free(cps);
        } else {
            rc = put_bits(&b, &nbits, v, size);
            em_drop(v);
        }
        if (rc < 0)
            goto fail_rc;
        if (k == EM__T_GTGT)
            break;
        if (!is_punct(&p->lx.tok, ',')) {
            if (k != EM__T_ERROR)
                perr(p, p->lx.tok.start, "expected ',' or '>>' in binary");
            goto fail;
        }
        k = lex(p);
    }
done:
    rc = add_lit(p, em_bitstring(b.data ? b.data : (const uint8_t *)"", nbits), off);
    em_buf_free(&b);
    return rc;
fail_rc:
    if (rc == EM_ENOMEM)
        pnomem(p);
    else
        perr(p, off, "invalid binary segment");
fail:
    em_buf_free(&b);
    return p->err;
}

/* Parse one term (the whole text).  The loop alternates two states: expect
 * a term (`want`), and after a term (consult the innermost open bracket). */
static int parse(parser *p)
{
    em__lexer *lx = &p->lx;
    for (;;) {
        /* ---- expect a term ---- */
        int k = lex(p);
        const em__token *t = &lx->tok;
        size_t off = t->start;
        frame *top = p->nf ? &p->fs[p->nf - 1] : NULL;
        bool just_opened = top && top->count == 0 && top->state == S_ELEM &&
                           p->ast->n == top->first;
        if (k == EM__T_ERROR)
            return p->err;
        if (k == EM__T_PUNCT && t->c == '{') {
            if (open_frame(p, F_TUPLE, off) < 0)
                return p->err;
            continue;
        }
        if (k == EM__T_PUNCT && t->c == '[') {
            if (open_frame(p, F_LIST, off) < 0)
                return p->err;
            continue;
        }
        if (k == EM__T_PUNCT && t->c == '#') {
            if (lex(p) == EM__T_ERROR)
                return p->err;
            if (!is_punct(t, '{'))
                return perr(p, t->start, "expected '{' after '#'");
            if (open_frame(p, F_MAP, off) < 0)
                return p->err;
            continue;
        }
        if (just_opened && k == EM__T_PUNCT &&
            ((t->c == '}' && top->kind != F_LIST) || (t->c == ']' && top->kind == F_LIST))) {
            /* {} [] #{} */
            if (top->kind == F_LIST) {
                p->nf--;
                if (add_lit(p, EM_NIL, top->off) < 0)
                    return p->err;
            } else if (close_frame(p, top->kind == F_TUPLE ? EM__N_TUPLE : EM__N_MAP, 0, 0) < 0) {
                return p->err;
            }
        } else if (k == EM__T_LTLT) {
            if (parse_binary(p, off) < 0)
                return p->err;
        } else if (k == EM__T_ATOM) {
            em_term a;
            if (t->c == 0 && em__lex_reserved(lx->text, lx->text_len))
                return perr(p, off, "reserved word: quote it to use it as an atom");
            int rc = em_atom_new(lx->text, lx->text_len, &a);
            if (rc == EM_EATOMLEN)
                return perr(p, off, "atom too long (max 255 characters)");
            if (rc == EM_EBADATOM)
                return perr(p, off, "atom is not valid Unicode");
            if (rc < 0) {
                p->err = rc;
                p->err_off = off;
                p->reason = em_strerror(rc);
                return rc;
            }
            if (add_lit(p, a, off) < 0)
                return p->err;
        } else if (k == EM__T_STRING) {
            em_term l = EM_NIL;
            for (size_t i = lx->ncps; i-- > 0 && l != EM_NONE;)
                l = em_cons(em__small(lx->cps[i]), l);
            if (add_lit(p, l, off) < 0)
                return p->err;
        } else if (k == EM__T_INT || k == EM__T_CHAR) {
            if (add_lit(p, em__lex_int(lx, false), off) < 0)
                return p->err;
        } else if (k == EM__T_FLOAT) {
            if (add_lit(p, em_float(t->fval), off) < 0)
                return p->err;
        } else if (k == EM__T_PUNCT && (t->c == '-' || t->c == '+')) {
            bool neg = t->c == '-';
            k = lex(p);
            if (k == EM__T_INT || k == EM__T_CHAR) {
                if (add_lit(p, em__lex_int(lx, neg), off) < 0)
                    return p->err;
            } else if (k == EM__T_FLOAT) {
                if (add_lit(p, em_float(neg ? -t->fval : t->fval), off) < 0)
                    return p->err;
            } else if (k == EM__T_ERROR) {
                return p->err;
            } else {
                return perr(p, t->start, "expected a number after sign");
            }
        } else if (k == EM__T_PID) {
            if (t->pid[0] != 0)
                return perr(p, off, "only local pids <0.N.S> can be parsed");
            uint32_t cr;
            em_term node = em_local_node(&cr);
            em_term pid = em_pid(node, (uint32_t)t->pid[1], (uint32_t)t->pid[2], cr);
            if (add_lit(p, pid, off) < 0)
                return p->err;
        } else if (k == EM__T_VAR) {
            size_t n = t->end - t->start;
            if (!p->pattern)
                return perr(p, off, "variables are not allowed in a term");
            em__node *nd = ast_push(p->ast, n == 1 && lx->src[t->start] == '_' ? EM__N_ANY : EM__N_VAR, off);
            if (nd == NULL)
                return pnomem(p);
            nd->vlen = (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n);
        } else if (k == EM__T_EOF) {
            return perr(p, off, top ? "unexpected end of input" : "empty text: expected a term");
        } else {
            return perr(p, off, "expected a term");
        }

        /* ---- after a term ---- */
        for (;;) {
            if (p->nf == 0) {
                k = lex(p);
                if (k == EM__T_PUNCT && t->c == '.')
                    k = lex(p);
                if (k == EM__T_EOF)
                    return 0;
                if (k == EM__T_ERROR)
                    return p->err;
                return perr(p, t->start, "unexpected text after the term");
            }
            top = &p->fs[p->nf - 1];
            k = lex(p);
            if (k == EM__T_ERROR)
                return p->err;
            bool comma = is_punct(t, ',');
            if (top->kind == F_TUPLE) {
                if (comma) {
                    top->count++;
                    break;
                }
                if (is_punct(t, '}')) {
                    if (close_frame(p, EM__N_TUPLE, top->count + 1, 0) < 0)
                        return p->err;
                    continue;
                }
                return perr(p, t->start, k == EM__T_EOF ? "unexpected end of input: expected ',' or '}'"
                                                        : "expected ',' or '}'");
            }
            if (top->kind == F_LIST) {
                if (top->state == S_TAIL) {
                    if (is_punct(t, ']')) {
                        if (close_frame(p, EM__N_LIST, top->count, EM__NF_TAIL) < 0)
                            return p->err;
                        continue;
                    }
                    return perr(p, t->start, k == EM__T_EOF ? "unexpected end of input: expected ']'"
                                                            : "expected ']' after the list tail");
                }
                if (comma) {
                    top->count++;
                    break;
                }
                if (is_punct(t, '|')) {
                    top->count++;
                    top->state = S_TAIL;
                    break;
                }
                if (is_punct(t, ']')) {
                    if (close_frame(p, EM__N_LIST, top->count + 1, 0) < 0)
                        return p->err;
                    continue;
                }
                return perr(p, t->start, k == EM__T_EOF ? "unexpected end of input: expected ',', '|' or ']'"
                                                        : "expected ',', '|' or ']'");
            }
            /* F_MAP: keys are in S_ELEM state, values in S_VALUE */
            if (top->state == S_ELEM) {
                if (k == EM__T_ARROW || (k == EM__T_ASSIGN && p->pattern)) {
                    top->state = S_VALUE;
                    break;
                }
                return perr(p, t->start, k == EM__T_EOF ? "unexpected end of input: expected '=>'"
                                                        : "expected '=>' after a map key");
            }
            if (comma) {
                top->count++;
                top->state = S_ELEM;
                break;
            }
            if (is_punct(t, '}')) {
                if (close_frame(p, EM__N_MAP, top->count + 1, 0) < 0)
                    return p->err;
                continue;
            }
            return perr(p, t->start, k == EM__T_EOF ? "unexpected end of input: expected ',' or '}'"
                                                    : "expected ',' or '}' in map");
        }
    }
}

int em__parse_ast(const char *text, size_t len, bool pattern, em__ast *out,
                  em_parse_error *err)
{
    out->v = NULL;
    out->n = out->cap = 0;
    if (text == NULL && len) {
        em__parse_error_at(err, "", 0, 0, "no text");
        return EM_ESYNTAX;
    }
    parser p;
    memset(&p, 0, sizeof p);
    em__lex_init(&p.lx, text ? text : "", len);
    p.ast = out;
    p.pattern = pattern;
    int rc = parse(&p);
    em__lex_free(&p.lx);
    free(p.fs);
    if (rc < 0) {
        em__parse_error_at(err, text ? text : "", len, p.err_off, p.reason ? p.reason : "syntax error");
        em__ast_free(out);
        return rc;
    }
    return 0;
}

EM_API int em_parse_term(const char *text, size_t len, em_term *out, em_parse_error *err)
{
    if (out == NULL)
        return EM_EINVAL;
    *out = EM_NONE;
    em__ast a;
    int rc = em__parse_ast(text, len, false, &a, err);
    if (rc < 0)
        return rc;
    em_term t = em__ast_build(&a, a.n - 1, true);
    em__ast_free(&a);
    if (t == EM_NONE) {
        em__parse_error_at(err, text, len, 0, "out of memory");
        return EM_ENOMEM;
    }
    *out = t;
    return 0;
}

EM_API em_term em_parse(const char *text)
{
    em_term t;
    if (text == NULL || em_parse_term(text, strlen(text), &t, NULL) < 0)
        return EM_NONE;
    return t;
}
