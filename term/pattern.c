/* pattern.c: compiled patterns (em_pattern_compile, em_pattern_match, ...).
 *
 * A pattern is parsed with the term parser (lex.h) into a tree, which is
 * compiled to a flat program of 32-bit words for a small machine:
 *
 *   cur    the term being matched (starts as the whole term)
 *   stack  compound terms whose remaining children are still to match
 *
 *   TUPLE n   cur is a tuple of arity n       CONS   cur is a cons cell
 *   MAP       cur is a map                    PUSH   push cur
 *   EQI k     cur is the immediate consts[k]  EQ k   cur =:= consts[k]
 *   BIND s    binds[s] = cur                  SAME s cur =:= binds[s]
 *   SAMEP o   cur =:= the term at path o (a `_Name` seen before)
 *   GET_<src>_<what> i   cur = element i / head / tail / map value of key
 *             consts[i], of cur (C), of the stack top (T), or of the stack
 *             top which is then popped (P)
 *   DONE      match
 *
 * Constant subterms (no variables) become one EQ.  Map patterns match any
 * map that has the keys (Erlang's #{K := V} semantics; `=>` is accepted as
 * well); keys must be literals.
 *
 * Matching neither allocates nor recurses, and its stack is bounded: the
 * compiler matches, of the children of a compound, the one needing the
 * deepest stack last, after popping the parent, so only a child that is not
 * last adds a level.  A level is then added only where two children need
 * the same depth, so a pattern needing depth d has at least 2^d nodes: 64
 * levels are never exceeded.  (A chain 100,000 deep needs no stack.)
 *
 * Slots: named variables take slots in order of first appearance in the
 * text.  In the program the first occurrence *in execution order* binds and
 * later ones compare; `_Name` variables seen more than once are compared by
 * walking from the root to their first occurrence, so they need no storage.
 */
#include <stdlib.h>
#include <string.h>

#include "term_int.h"
#include "lex.h"

#define MATCH_STACK 64

enum {
    OP_DONE = 0,
    OP_TUPLE,
    OP_CONS,
    OP_MAP,
    OP_EQI,
    OP_EQ,
    OP_BIND,
    OP_SAME,
    OP_SAMEP,
    OP_PUSH,
    OP_GET /* + src * 4 + what */
};
enum { SRC_C = 0, SRC_T = 1, SRC_P = 2 };
enum { W_ELEM = 0, W_HD = 1, W_TL = 2, W_MGET = 3 };
#define OP_GET_OF(src, what) (OP_GET + (src) * 4 + (what))

#define FLAT_MAX EM__FLAT_MAX
#define FLAT_ANY EM__FLAT_ANY
#define FLAT_EQ EM__FLAT_EQ

struct em_pattern {
    em__pattern_tag tag; /* first: em__pattern_tag_of (term_seam.h) */
    uint32_t *code;
    size_t ncode;
    em_term *consts;
    size_t nconsts;
    uint32_t *paths; /* at offset o: length L, then L pairs (what, index) */
    size_t npaths;
    size_t nvars;
    char **names;    /* nvars NUL-terminated names */
    /* tag.flat_n, tag.flat, tag.flat_eq: the flat form, if any
     * (term_seam.h). */
};

/* ---- the compile tree ---- */

enum { C_ANY = 1, C_CONST, C_VAR, C_TUPLE, C_CONS, C_MAP };

typedef struct cnode {
    uint8_t kind;
    uint32_t n;      /* children */
    size_t kids;     /* index of the first child id in cc->kids */
    uint32_t var;    /* C_VAR: variable id */
    size_t parent;   /* SIZE_MAX for the root */
    uint32_t what;   /* how the parent reaches this node (W_*) */
    uint32_t index;  /* element index, or key const index for W_MGET */
    uint32_t need;   /* match stack depth this subtree needs */
    em_term term;    /* C_CONST: owned */
    em_term key;     /* child of a map: its key (owned) */
} cnode;

typedef struct var {
    const char *name;
    uint32_t len;
    uint32_t count;
    long slot;       /* -1: a `_Name` variable */
    bool seen;       /* an occurrence was emitted */
    size_t first;    /* cnode of the first emitted occurrence */
} var;

typedef struct cc {
    em__ast ast;
    cnode *nodes;
    size_t nn, ncap;
    size_t *kids;
    size_t nk, kcap;
    var *vars;
    size_t nv, vcap;
    uint32_t *vhash; /* open addressing: var id + 1 */
    size_t vhcap;
    size_t nslots;
    /* output */
    uint32_t *code;
    size_t ncode, codecap;
    em_term *consts;
    size_t nconsts, constcap;
    uint32_t *paths;
    size_t npaths, pathcap;
    int err;
    size_t err_off;
    const char *reason;
} cc;

static int nomem(cc *c)
{
    if (c->err == 0) {
        c->err = EM_ENOMEM;
        c->reason = "out of memory";
    }
    return c->err;
}

static int synerr(cc *c, size_t off, const char *reason)
{
    if (c->err == 0) {
        c->err = EM_ESYNTAX;
        c->err_off = off;
        c->reason = reason;
    }
    return c->err;
}

static uint64_t hash_name(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3u;
    }
    return h;
}

/* The variable id for a name, created on first sight. */
static long var_lookup(cc *c, const char *name, uint32_t len)
{
    if (2 * (c->nv + 1) > c->vhcap) {
        size_t cap = c->vhcap ? c->vhcap * 2 : 64;
        uint32_t *h = calloc(cap, sizeof *h);
        if (h == NULL)
            return -1;
        for (size_t i = 0; i < c->nv; i++) {
            size_t j = (size_t)hash_name(c->vars[i].name, c->vars[i].len) & (cap - 1);
            while (h[j])
                j = (j + 1) & (cap - 1);
            h[j] = (uint32_t)i + 1;
        }
        free(c->vhash);
        c->vhash = h;
        c->vhcap = cap;
    }
    size_t j = (size_t)hash_name(name, len) & (c->vhcap - 1);
    while (c->vhash[j]) {
        var *v = &c->vars[c->vhash[j] - 1];
        if (v->len == len && memcmp(v->name, name, len) == 0)
            return (long)(c->vhash[j] - 1);
        j = (j + 1) & (c->vhcap - 1);
    }
    if (!em__lex_grow((void **)&c->vars, &c->vcap, c->nv + 1, sizeof *c->vars))
        return -1;
    var *v = &c->vars[c->nv];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->len = len;
    v->slot = name[0] == '_' ? -1 : (long)c->nslots++;
    c->vhash[j] = (uint32_t)c->nv + 1;
    return (long)c->nv++;
}

static long new_node(cc *c, int kind)
{
    if (!em__lex_grow((void **)&c->nodes, &c->ncap, c->nn + 1, sizeof *c->nodes))
        return -1;
    cnode *n = &c->nodes[c->nn];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->parent = SIZE_MAX;
    return (long)c->nn++;
}

static bool trivial(const cc *c, size_t id)
{
    const cnode *n = &c->nodes[id];
    return n->kind == C_ANY || (n->kind == C_VAR && c->vars[n->var].slot < 0 &&
                                c->vars[n->var].count == 1);
}

/* Stack depth for a compound whose children (ids kid[0..m)) need code. */
static uint32_t combine_need(const cc *c, const size_t *kid, size_t m, size_t *last)
{
    uint32_t best = 0, second = 0;
    size_t bi = m ? m - 1 : 0;
    for (size_t i = 0; i < m; i++) {
        uint32_t nd = c->nodes[kid[i]].need;
        if (nd >= best) {
            second = best;
            best = nd;
            bi = i;
        } else if (nd > second) {
            second = nd;
        }
    }
    if (last)
        *last = bi;
    if (m <= 1)
        return best;
    return best > second + 1 ? best : second + 1;
}

/* Set parent links of the children and compute need (as combine_need,
 * over the children that need code). */
static void finish_compound(cc *c, size_t id)
{
    cnode *n = &c->nodes[id];
    uint32_t best = 0, second = 0, m = 0;
    for (uint32_t i = 0; i < n->n; i++) {
        size_t k = c->kids[n->kids + i];
        cnode *kn = &c->nodes[k];
        kn->parent = id;
        if (n->kind == C_TUPLE) {
            kn->what = W_ELEM;
            kn->index = i;
        } else if (n->kind == C_CONS) {
            kn->what = i == 0 ? W_HD : W_TL;
        } else {
            kn->what = W_MGET;
        }
        /* every map pair needs code (the key must exist) */
        if (n->kind != C_MAP && trivial(c, k))
            continue;
        m++;
        if (kn->need >= best) {
            second = best;
            best = kn->need;
        } else if (kn->need > second) {
            second = kn->need;
        }
    }
    n->need = m <= 1 || best > second + 1 ? best : second + 1;
}

/* Build the compile tree from the post-order syntax tree, without
 * recursion: a stack of finished subtree ids, as the term builder does. */
static int build_tree(cc *c)
{
    em__ast *a = &c->ast;
    size_t *st = malloc((a->n + 1) * sizeof *st);
    size_t sp = 0;
    if (st == NULL)
        return nomem(c);
    for (size_t i = 0; i < a->n && c->err == 0; i++) {
        em__node *an = &a->v[i];
        long id = -1;
        switch (an->kind) {
        case EM__N_LIT:
            id = new_node(c, C_CONST);
            if (id >= 0)
                c->nodes[id].term = em_dup(an->term);
            break;
        case EM__N_ANY:
            id = new_node(c, C_ANY);
            break;
        case EM__N_VAR:
            id = new_node(c, C_VAR);
            if (id >= 0)
                c->nodes[id].var = an->n; /* the variable id (em_pattern_compile) */
            break;
        case EM__N_TUPLE: {
            size_t n = an->n;
            sp -= n;
            bool all_const = true;
            for (size_t j = 0; j < n; j++)
                all_const = all_const && c->nodes[st[sp + j]].kind == C_CONST;
            if (all_const) {
                em_term local[16];
                em_term *el = n <= 16 ? local : malloc(n * sizeof *el);
                if (el == NULL)
                    return free(st), nomem(c);
                for (size_t j = 0; j < n; j++)
                    el[j] = em_dup(c->nodes[st[sp + j]].term);
                em_term t = em_tuplev(n, el);
                if (el != local)
                    free(el);
                if (t == EM_NONE)
                    return free(st), nomem(c);
                id = new_node(c, C_CONST);
                if (id < 0)
                    em_drop(t);
                else
                    c->nodes[id].term = t;
                break;
            }
            id = new_node(c, C_TUPLE);
            if (id < 0 || !em__lex_grow((void **)&c->kids, &c->kcap, c->nk + n, sizeof *c->kids)) {
                id = -1;
                break;
            }
            c->nodes[id].n = (uint32_t)n;
            c->nodes[id].kids = c->nk;
            memcpy(c->kids + c->nk, st + sp, n * sizeof *st);
            c->nk += n;
            finish_compound(c, (size_t)id);
            break;
        }
        case EM__N_LIST: {
            /* [e1, ..., en | tail] as a chain of cons cells built from the
             * end; a constant suffix stays one constant */
            size_t rest;
            if (an->flags & EM__NF_TAIL) {
                rest = st[--sp];
            } else {
                long nil = new_node(c, C_CONST);
                if (nil < 0) {
                    id = -1;
                    break;
                }
                c->nodes[nil].term = EM_NIL;
                rest = (size_t)nil;
            }
            size_t n = an->n;
            sp -= n;
            for (size_t j = n; j-- > 0;) {
                size_t hd = st[sp + j];
                if (c->nodes[hd].kind == C_CONST && c->nodes[rest].kind == C_CONST) {
                    em_term t = em_cons(em_dup(c->nodes[hd].term), em_dup(c->nodes[rest].term));
                    if (t == EM_NONE)
                        return free(st), nomem(c);
                    id = new_node(c, C_CONST);
                    if (id < 0) {
                        em_drop(t);
                        break;
                    }
                    c->nodes[id].term = t;
                } else {
                    id = new_node(c, C_CONS);
                    if (id < 0 || !em__lex_grow((void **)&c->kids, &c->kcap, c->nk + 2, sizeof *c->kids)) {
                        id = -1;
                        break;
                    }
                    c->nodes[id].n = 2;
                    c->nodes[id].kids = c->nk;
                    c->kids[c->nk++] = hd;
                    c->kids[c->nk++] = rest;
                    finish_compound(c, (size_t)id);
                }
                rest = (size_t)id;
            }
            id = (long)rest;
            break;
        }
        case EM__N_MAP: {
            size_t n = an->n;
            sp -= 2 * n;
            for (size_t j = 0; j < n; j++)
                if (c->nodes[st[sp + 2 * j]].kind != C_CONST) {
                    free(st);
                    return synerr(c, an->off, "map keys in a pattern must be literal terms");
                }
            id = new_node(c, C_MAP);
            if (id < 0 || !em__lex_grow((void **)&c->kids, &c->kcap, c->nk + n, sizeof *c->kids)) {
                id = -1;
                break;
            }
            c->nodes[id].n = (uint32_t)n;
            c->nodes[id].kids = c->nk;
            for (size_t j = 0; j < n; j++) {
                size_t v = st[sp + 2 * j + 1];
                c->nodes[v].key = em_dup(c->nodes[st[sp + 2 * j]].term);
                c->kids[c->nk++] = v;
            }
            finish_compound(c, (size_t)id);
            break;
        }
        default:
            break;
        }
        if (id < 0) {
            free(st);
            return nomem(c);
        }
        st[sp++] = (size_t)id;
    }
    free(st);
    return c->err;
}

/* ---- emitting the program ---- */

static bool emit(cc *c, uint32_t w)
{
    if (!em__lex_grow((void **)&c->code, &c->codecap, c->ncode + 1, sizeof *c->code))
        return false;
    c->code[c->ncode++] = w;
    return true;
}

static bool emit2(cc *c, uint32_t op, uint32_t arg) { return emit(c, op) && emit(c, arg); }

/* Index of a constant (a new reference is taken). */
static long add_const(cc *c, em_term t)
{
    if (!em__lex_grow((void **)&c->consts, &c->constcap, c->nconsts + 1, sizeof *c->consts))
        return -1;
    c->consts[c->nconsts] = em_dup(t);
    return (long)c->nconsts++;
}

/* The path from the root to node id, stored; its offset, or -1. */
static long add_path(cc *c, size_t id)
{
    size_t len = 0;
    for (size_t k = id; c->nodes[k].parent != SIZE_MAX; k = c->nodes[k].parent)
        len++;
    size_t off = c->npaths;
    if (len > UINT32_MAX || !em__lex_grow((void **)&c->paths, &c->pathcap, off + 1 + 2 * len, sizeof *c->paths))
        return -1;
    c->paths[off] = (uint32_t)len;
    size_t i = len;
    for (size_t k = id; c->nodes[k].parent != SIZE_MAX; k = c->nodes[k].parent) {
        i--;
        uint32_t idx = c->nodes[k].index;
        if (c->nodes[k].what == W_MGET) {
            long ki = add_const(c, c->nodes[k].key);
            if (ki < 0)
                return -1;
            idx = (uint32_t)ki;
        }
        c->paths[off + 1 + 2 * i] = c->nodes[k].what;
        c->paths[off + 1 + 2 * i + 1] = idx;
    }
    c->npaths = off + 1 + 2 * len;
    return (long)off;
}

/* A task of the emitter: match node `id`, or emit a GET of child `id`. */
typedef struct task {
    size_t id;
    int src; /* -1: match node id; else emit GET with this source for child id */
} task;

/* The GET instruction that reaches child `id` from its parent. */
static bool emit_get(cc *c, size_t id, int src)
{
    cnode *n = &c->nodes[id];
    uint32_t arg = n->index;
    if (n->what == W_MGET) {
        long k = add_const(c, n->key);
        if (k < 0)
            return false;
        arg = (uint32_t)k;
    } else if (n->what != W_ELEM) {
        arg = 0;
    }
    return emit2(c, OP_GET_OF((uint32_t)src, n->what), arg);
}

static int emit_program(cc *c, size_t root)
{
    task *ts = NULL;
    size_t nt = 0, tcap = 0;
    size_t *order = NULL;
    size_t ocap = 0;
    if (!em__lex_grow((void **)&ts, &tcap, 1, sizeof *ts))
        return nomem(c);
    ts[nt++] = (task){root, -1};
    while (nt > 0) {
        task tk = ts[--nt];
        if (tk.src >= 0) {
            if (!emit_get(c, tk.id, tk.src))
                goto oom;
            continue;
        }
        cnode *n = &c->nodes[tk.id];
        switch (n->kind) {
        case C_ANY:
            break;
        case C_CONST: {
            long k = add_const(c, n->term);
            if (k < 0 || !emit2(c, em__is_box(n->term) ? OP_EQ : OP_EQI, (uint32_t)k))
                goto oom;
            break;
        }
        case C_VAR: {
            var *v = &c->vars[n->var];
            if (v->slot >= 0) {
                if (!emit2(c, v->seen ? OP_SAME : OP_BIND, (uint32_t)v->slot))
                    goto oom;
            } else if (v->count > 1) {
                if (!v->seen) {
                    v->first = tk.id;
                } else {
                    long off = add_path(c, v->first);
                    if (off < 0 || !emit2(c, OP_SAMEP, (uint32_t)off))
                        goto oom;
                }
            }
            v->seen = true;
            break;
        }
        default: {
            /* the shape test, then the children that need code */
            bool ok = n->kind == C_TUPLE ? emit2(c, OP_TUPLE, n->n)
                      : n->kind == C_CONS ? emit(c, OP_CONS)
                                          : emit(c, OP_MAP);
            if (!ok || !em__lex_grow((void **)&order, &ocap, n->n ? n->n : 1, sizeof *order))
                goto oom;
            size_t m = 0;
            for (uint32_t i = 0; i < n->n; i++) {
                size_t k = c->kids[n->kids + i];
                if (n->kind == C_MAP || !trivial(c, k))
                    order[m++] = k;
            }
            if (m == 0)
                break;
            size_t last;
            combine_need(c, order, m, &last);
            /* tasks run in reverse push order: push the last child first */
            if (!em__lex_grow((void **)&ts, &tcap, nt + 2 * m + 1, sizeof *ts))
                goto oom;
            if (m == 1) {
                ts[nt++] = (task){order[0], -1};
                ts[nt++] = (task){order[0], SRC_C};
                break;
            }
            ts[nt++] = (task){order[last], -1};
            ts[nt++] = (task){order[last], SRC_P};
            for (size_t i = m; i-- > 0;) {
                if (i == last)
                    continue;
                ts[nt++] = (task){order[i], -1};
                ts[nt++] = (task){order[i], SRC_T};
            }
            if (!emit(c, OP_PUSH))
                goto oom;
            break;
        }
        }
    }
    free(ts);
    free(order);
    if (!emit(c, OP_DONE))
        return nomem(c);
    return 0;
oom:
    free(ts);
    free(order);
    return nomem(c);
}

static void cc_free(cc *c)
{
    for (size_t i = 0; i < c->nn; i++) {
        em_drop(c->nodes[i].term);
        em_drop(c->nodes[i].key);
    }
    free(c->nodes);
    free(c->kids);
    free(c->vars);
    free(c->vhash);
    em__ast_free(&c->ast);
}

EM_API void em_pattern_free(em_pattern *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nconsts; i++)
        em_drop(p->consts[i]);
    free(p->consts);
    free(p->code);
    free(p->paths);
    free(p->names);
    free(p);
}

EM_API int em_pattern_compile(const char *text, em_pattern **out, em_parse_error *err)
{
    if (out == NULL)
        return EM_EINVAL;
    *out = NULL;
    if (text == NULL) {
        em__parse_error_at(err, "", 0, 0, "no pattern text");
        return EM_EINVAL;
    }
    size_t len = strlen(text);
    cc c;
    memset(&c, 0, sizeof c);
    int rc = em__parse_ast(text, len, true, &c.ast, err);
    if (rc < 0)
        return rc;
    /* variables: count occurrences, assign slots in order of appearance */
    for (size_t i = 0; i < c.ast.n; i++) {
        em__node *an = &c.ast.v[i];
        if (an->kind != EM__N_VAR)
            continue;
        long v = var_lookup(&c, text + an->off, an->vlen);
        if (v < 0) {
            nomem(&c);
            break;
        }
        c.vars[v].count++;
        an->n = (uint32_t)v;
    }
    /* Slots follow the first appearance in the text; the post-order tree
     * visits variables in text order too (a node's children precede it and
     * keep their order), so lookup order is text order. */
    if (c.err == 0)
        build_tree(&c);
    em_pattern *p = NULL;
    if (c.err == 0) {
        size_t root = c.nn - 1;
        if (c.nodes[root].need > MATCH_STACK)
            synerr(&c, 0, "pattern too complex");
        else
            emit_program(&c, root);
    }
    if (c.err == 0) {
        p = calloc(1, sizeof *p);
        size_t namebytes = 0;
        for (size_t i = 0; i < c.nv; i++)
            if (c.vars[i].slot >= 0)
                namebytes += c.vars[i].len + 1;
        char **names = p ? malloc(c.nslots * sizeof(char *) + namebytes + 1) : NULL;
        if (p == NULL || names == NULL) {
            free(p);
            p = NULL;
            nomem(&c);
        } else {
            char *s = (char *)(names + c.nslots);
            for (size_t i = 0; i < c.nv; i++) {
                if (c.vars[i].slot < 0)
                    continue;
                names[c.vars[i].slot] = s;
                memcpy(s, c.vars[i].name, c.vars[i].len);
                s[c.vars[i].len] = '\0';
                s += c.vars[i].len + 1;
            }
            p->names = names;
            p->nvars = c.nslots;
            /* The quick filter: a tuple pattern's arity and its first
             * element when that is an immediate constant. */
            const cnode *r = &c.nodes[c.nn - 1];
            if (r->kind == C_TUPLE && r->n <= FLAT_MAX) {
                bool flat = true;
                for (uint32_t i = 0; flat && i < r->n; i++) {
                    const cnode *k = &c.nodes[c.kids[r->kids + i]];
                    if (k->kind == C_ANY) {
                        p->tag.flat[i] = FLAT_ANY;
                    } else if (k->kind == C_VAR && c.vars[k->var].count == 1) {
                        long slot = c.vars[k->var].slot;
                        p->tag.flat[i] = slot >= 0 ? (int32_t)slot : FLAT_ANY;
                    } else if (k->kind == C_CONST && !em__is_box(k->term)) {
                        p->tag.flat[i] = FLAT_EQ;
                        p->tag.flat_eq[i] = k->term;
                    } else {
                        flat = false;
                    }
                }
                p->tag.flat_n = flat ? r->n + 1 : 0;
            }
            if (r->kind == C_TUPLE) {
                p->tag.arity = r->n + 1;
                /* receive.c's inline flat match relies on this. */
                assert(p->tag.flat_n == 0 || p->tag.flat_n == p->tag.arity);
                if (r->n) {
                    const cnode *k0 = &c.nodes[c.kids[r->kids]];
                    if (k0->kind == C_CONST && !em__is_box(k0->term))
                        p->tag.first = k0->term;
                }
            }
            p->code = c.code;
            p->ncode = c.ncode;
            p->consts = c.consts;
            p->nconsts = c.nconsts;
            p->paths = c.paths;
            p->npaths = c.npaths;
            if (p->ncode >= 3 && p->code[0] == OP_EQI && p->code[2] == OP_DONE)
                p->tag.literal = p->consts[p->code[1]];
            c.code = NULL;
            c.consts = NULL;
            c.nconsts = 0;
            c.paths = NULL;
        }
    }
    if (c.err) {
        if (c.err == EM_ESYNTAX)
            em__parse_error_at(err, text, len, c.err_off, c.reason);
        else
            em__parse_error_at(err, text, len, 0, "out of memory");
    }
    rc = c.err;
    for (size_t i = 0; i < c.nconsts; i++)
        em_drop(c.consts[i]);
    free(c.consts);
    free(c.code);
    free(c.paths);
    cc_free(&c);
    if (rc < 0)
        return rc;
    *out = p;
    return 0;
}

EM_API size_t em_pattern_nvars(const em_pattern *p)
{
    return p ? p->nvars : 0;
}

EM_API const char *em_pattern_var_name(const em_pattern *p, size_t i)
{
    return p && i < p->nvars ? p->names[i] : NULL;
}

/* ---- matching ---- */

/* Follow a stored path from the root (its shape was checked already). */
static em_term follow(const em_pattern *p, em_term t, uint32_t off)
{
    const uint32_t *s = p->paths + off;
    uint32_t len = *s++;
    for (uint32_t i = 0; i < len; i++, s += 2) {
        switch (s[0]) {
        case W_ELEM: t = em__tuple_e((const em__tuple *)em__box_of(t))[s[1]]; break;
        case W_HD: t = ((const em__cons *)em__box_of(t))->hd; break;
        case W_TL: t = ((const em__cons *)em__box_of(t))->tl; break;
        default: t = em_map_get(t, p->consts[s[1]]); break;
        }
    }
    return t;
}

EM_API bool em_pattern_match(const em_pattern *p, em_term t, em_term *binds)
{
    if (p == NULL || t == EM_NONE)
        return false;
    if (p->tag.flat_n) {
        if (em__kind(t) != EM__K_TUPLE)
            return false;
        const em__tuple *tp = (const em__tuple *)em__box_of(t);
        if (em__tuple_n(tp) + 1 != p->tag.flat_n)
            return false;
        return em__pattern_match_flat(&p->tag, em__tuple_e(tp), binds);
    }
    em_term stack[MATCH_STACK];
    size_t sp = 0;
    em_term cur = t;
    const uint32_t *pc = p->code;
    for (;;) {
        uint32_t op = *pc++;
        switch (op) {
        case OP_DONE:
            return true;
        case OP_TUPLE:
            if (em__kind(cur) != EM__K_TUPLE || em__tuple_n((const em__tuple *)em__box_of(cur)) != *pc)
                return false;
            pc++;
            break;
        case OP_CONS:
            if (em__kind(cur) != EM__K_CONS)
                return false;
            break;
        case OP_MAP:
            if (em__kind(cur) != EM__K_MAP)
                return false;
            break;
        case OP_EQI:
            if (cur != p->consts[*pc++])
                return false;
            break;
        case OP_EQ:
            if (!em_equal(cur, p->consts[*pc++]))
                return false;
            break;
        case OP_BIND:
            binds[*pc++] = cur;
            break;
        case OP_SAME:
            if (!em_equal(cur, binds[*pc++]))
                return false;
            break;
        case OP_SAMEP:
            if (!em_equal(cur, follow(p, t, *pc++)))
                return false;
            break;
        case OP_PUSH:
            stack[sp++] = cur;
            break;
        default: {
            uint32_t g = op - OP_GET, arg = *pc++;
            em_term src = g / 4 == SRC_C ? cur : stack[sp - 1];
            if (g / 4 == SRC_P)
                sp--;
            switch (g % 4) {
            case W_ELEM: cur = em__tuple_e((const em__tuple *)em__box_of(src))[arg]; break;
            case W_HD: cur = ((const em__cons *)em__box_of(src))->hd; break;
            case W_TL: cur = ((const em__cons *)em__box_of(src))->tl; break;
            default:
                cur = em_map_get(src, p->consts[arg]);
                if (cur == EM_NONE)
                    return false;
                break;
            }
            break;
        }
        }
    }
}

EM_API int em_match(const char *pattern, em_term t, ...)
{
    em_pattern *p;
    int rc = em_pattern_compile(pattern, &p, NULL);
    if (rc < 0)
        return rc;
    size_t n = p->nvars;
    em_term local[16];
    em_term *b = n <= 16 ? local : malloc(n * sizeof *b);
    if (b == NULL) {
        em_pattern_free(p);
        return EM_ENOMEM;
    }
    bool ok = em_pattern_match(p, t, b);
    if (ok) {
        va_list ap;
        va_start(ap, t);
        for (size_t i = 0; i < n; i++) {
            em_term *o = va_arg(ap, em_term *);
            if (o)
                *o = b[i];
        }
        va_end(ap);
    }
    if (b != local)
        free(b);
    em_pattern_free(p);
    return ok ? 1 : 0;
}
