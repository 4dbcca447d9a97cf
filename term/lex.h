/* lex.h: the tokenizer for Erlang term syntax and the flat syntax tree the
 * parser builds, shared by parse.c (em_parse_term) and pattern.c (compiled
 * patterns); print.c uses its reserved-word list.  Private to ember.
 *
 * The parser never recurses: it keeps an explicit stack of open brackets and
 * writes the tree in post-order (children before their parent), so a node's
 * children are found by walking back from it with the subtree sizes. */
#ifndef EM_TERM_LEX_H
#define EM_TERM_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ember/term.h>

/* ---- tokens ---- */
enum {
    EM__T_EOF = 0,
    EM__T_ERROR,
    EM__T_ATOM,   /* text: UTF-8 in lx->text */
    EM__T_VAR,    /* name: source bytes [start, end) */
    EM__T_INT,    /* see em__lex_int */
    EM__T_CHAR,   /* $c: value in ival */
    EM__T_FLOAT,  /* fval */
    EM__T_STRING, /* code points in lx->cps (adjacent strings joined) */
    EM__T_PID,    /* <N.I.S>: node number, id, serial */
    EM__T_LTLT,   /* << */
    EM__T_GTGT,   /* >> */
    EM__T_ARROW,  /* => */
    EM__T_ASSIGN, /* := */
    EM__T_PUNCT   /* one character: lx->tok.c */
};

typedef struct em__token {
    int kind;
    int c;             /* EM__T_PUNCT: the character */
    size_t start, end; /* source bytes */
    uint64_t ival;     /* EM__T_INT when !big, EM__T_CHAR */
    bool big;          /* EM__T_INT: does not fit uint64 (digits in lx->digits) */
    unsigned base;     /* EM__T_INT */
    double fval;
    uint64_t pid[3];
} em__token;

typedef struct em__lexer {
    const char *src;
    size_t len, pos;
    em__token tok;
    /* scratch, reused by every token */
    char *text;      /* atom text, UTF-8 */
    size_t text_len, text_cap;
    uint32_t *cps;   /* string code points */
    size_t ncps, cps_cap;
    char *digits;    /* integer digits without '_' */
    size_t ndigits, digits_cap;
    /* error */
    int err;         /* EM_ESYNTAX or EM_ENOMEM once T_ERROR was returned */
    size_t err_off;
    const char *err_reason;
} em__lexer;

/* Grow a scratch array *p (capacity *cap elements of `elem` bytes) to hold
 * `need` elements, doubling; false (unchanged) when out of memory. */
bool em__lex_grow(void **p, size_t *cap, size_t need, size_t elem);

void em__lex_init(em__lexer *lx, const char *src, size_t len);
void em__lex_free(em__lexer *lx);
/* Scan the next token into lx->tok and return its kind. */
int em__lex_next(em__lexer *lx);
/* The integer of the current EM__T_INT token, negated if neg; EM_NONE when
 * out of memory. */
em_term em__lex_int(em__lexer *lx, bool neg);
/* True if the n bytes at t are one of erl_scan's reserved words (after,
 * and, ..., xor): such a name is not an atom unless quoted.  The one list:
 * the parser refuses them unquoted, the printer quotes them. */
bool em__lex_reserved(const char *t, size_t n);

/* ---- syntax tree ---- */
enum {
    EM__N_LIT = 1, /* term: a literal, owned */
    EM__N_VAR,     /* a named variable: name is src[off, off + vlen) */
    EM__N_ANY,     /* _ */
    EM__N_TUPLE,   /* n children */
    EM__N_LIST,    /* n elements, then the tail if flags & EM__NF_TAIL */
    EM__N_MAP      /* n pairs: key, value, key, value, ... */
};
#define EM__NF_TAIL 0x1u

typedef struct em__node {
    uint8_t kind;
    uint8_t flags;
    uint32_t n;
    uint32_t size; /* nodes in the subtree, this one included */
    uint32_t vlen; /* EM__N_VAR: name length */
    size_t off;    /* source offset of the node's first token */
    em_term term;  /* EM__N_LIT */
} em__node;

typedef struct em__ast {
    em__node *v;
    size_t n, cap;
} em__ast;

/* Parse text into a post-order tree.  pattern: allow variables and `:=`.
 * 0, EM_ESYNTAX (err filled in if not NULL) or EM_ENOMEM. */
int em__parse_ast(const char *text, size_t len, bool pattern, em__ast *out,
                  em_parse_error *err);
/* Release the literals the tree still owns and the tree. */
void em__ast_free(em__ast *a);
/* Build the term for the subtree rooted at node `root`.  consume: take the
 * literals out of the tree instead of duplicating them.  EM_NONE on OOM
 * (variables are not terms: the subtree must contain none). */
em_term em__ast_build(em__ast *a, size_t root, bool consume);
/* Fill err for an error at byte `off` of text. */
void em__parse_error_at(em_parse_error *err, const char *text, size_t len,
                        size_t off, const char *reason);

#endif /* EM_TERM_LEX_H */
