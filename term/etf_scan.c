/* etf_scan.c: the decoder's first pass (em__etf_scan): it validates a term
 * in the external format and adds up the arena bytes its boxes will take,
 * so that the second pass (build() in etf_decode.c) allocates once and
 * cannot fail on malformed input.  See etf_decode.c for the whole design.
 *
 * Nothing here recurses: open containers are on an explicit stack whose
 * size is bounded by the input (every item takes at least one byte). */
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <ember/etf.h>

#include "term_int.h"
#include "etf_scan.h"

int em__etf_stack_grow(stack *s, size_t want)
{
    size_t cap = s->cap;
    while (cap < want)
        cap *= 2;
    frame *v = s->v == s->inl ? malloc(cap * sizeof *v)
                              : realloc(s->v, cap * sizeof *v);
    if (v == NULL)
        return EM_ENOMEM;
    if (s->v == s->inl)
        memcpy(v, s->inl, s->n * sizeof *v);
    s->v = v;
    s->cap = cap;
    return 0;
}

/* ---- atoms ---- */

/* Check the UTF-8 text of an atom. */
static __attribute__((noinline)) int atom_check_utf8(const uint8_t *s, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; chars++) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int k = em__utf8_decode(s + i, n - i, &cp);
        if (k == 0)
            return EM_EBADATOM;
        i += (size_t)k;
    }
    return chars > ATOM_MAX_CHARS ? EM_EATOMLEN : 0;
}

/* Check the text of an atom with tag `tag`. */
static inline int atom_check(unsigned tag, const uint8_t *s, size_t n)
{
    if (tag == TAG_ATOM || tag == TAG_SMALL_ATOM) /* Latin-1: 1 byte, 1 char */
        return n > ATOM_MAX_CHARS ? EM_EATOMLEN : 0;
    return atom_check_utf8(s, n);
}

/* Validate the atom whose tag is at buf[*pos] and move past it.  A tag
 * that is not an atom is EM_EBADTERM (a node or module must be an atom),
 * except ATOM_CACHE_REF, which is a tag this decoder does not accept. */
static inline __attribute__((always_inline)) int atom_skip(const uint8_t *buf, size_t len,
                                                           size_t *pos)
{
    size_t p = *pos;
    if (p >= len)
        return EM_ETRUNC;
    unsigned tag = buf[p++];
    size_t n;
    if (tag == TAG_ATOM || tag == TAG_ATOM_UTF8) {
        if (len - p < 2)
            return EM_ETRUNC;
        n = get16(buf + p);
        p += 2;
    } else if (tag == TAG_SMALL_ATOM || tag == TAG_SMALL_ATOM_UTF8) {
        if (len - p < 1)
            return EM_ETRUNC;
        n = buf[p++];
    } else {
        return tag == TAG_ATOM_CACHE_REF ? EM_EBADTAG : EM_EBADTERM;
    }
    if (n > len - p)
        return EM_ELENGTH;
    int rc = atom_check(tag, buf + p, n);
    if (rc < 0)
        return rc;
    *pos = p + n;
    return 0;
}

/* atom_skip out of line, for the atoms inside funs and references; a
 * term's atoms and its pids' and ports' nodes, the usual ones, take the
 * inline one. */
static __attribute__((noinline)) int atom_skip_call(const uint8_t *buf, size_t len, size_t *pos)
{
    return atom_skip(buf, len, pos);
}

/* ---- numbers ---- */

size_t em__etf_big_limbs(const uint8_t *s, size_t n, bool neg, int64_t *small)
{
    while (n > 0 && s[n - 1] == 0)
        n--;
    if (n <= 8) {
        uint64_t m = 0;
        for (size_t i = n; i-- > 0;)
            m = m << 8 | s[i];
        if (!neg && m <= (uint64_t)EM__SMALL_MAX) {
            *small = (int64_t)m;
            return 0;
        }
        if (neg && m <= (uint64_t)EM__SMALL_MAX + 1) {
            *small = (int64_t)(0 - m); /* -0 is 0 */
            return 0;
        }
    }
    return (n + 7) / 8;
}

int em__etf_float_text(const uint8_t *s, double *out)
{
    char tmp[FLOAT_EXT_LEN + 1];
    size_t n = 0;
    while (n < FLOAT_EXT_LEN && s[n] != 0) {
        tmp[n] = (char)s[n];
        n++;
    }
    tmp[n] = 0;
    size_t i = 0, d;
    if (tmp[i] == '+' || tmp[i] == '-')
        i++;
    for (d = i; tmp[i] >= '0' && tmp[i] <= '9'; i++)
        ;
    if (i == d || tmp[i] != '.')
        return EM_EBADTERM;
    size_t dot = i++;
    for (d = i; tmp[i] >= '0' && tmp[i] <= '9'; i++)
        ;
    if (i == d)
        return EM_EBADTERM;
    if (tmp[i] == 'e' || tmp[i] == 'E') {
        i++;
        if (tmp[i] == '+' || tmp[i] == '-')
            i++;
        for (d = i; tmp[i] >= '0' && tmp[i] <= '9'; i++)
            ;
        if (i == d)
            return EM_EBADTERM;
    }
    if (i != n)
        return EM_EBADTERM;
    /* strtod follows the C locale's decimal point; the text uses '.'. */
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] && dp[0] != '.' && dp[1] == 0)
        tmp[dot] = dp[0];
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(v))
        return EM_EBADTERM;
    *out = v;
    return 0;
}

/* ---- the pass ---- */

static inline int add_size(size_t *total, size_t n)
{
    if (n > SIZE_MAX - *total)
        return EM_ENOMEM;
    *total += n;
    return 0;
}

/* Validate the pid at buf[*pos] (its tag included) and move past it. */
static int pid_skip(const uint8_t *buf, size_t len, size_t *pos)
{
    if (*pos >= len)
        return EM_ETRUNC;
    unsigned tag = buf[*pos];
    if (tag != TAG_NEW_PID && tag != TAG_PID)
        return EM_EBADTERM;
    size_t p = *pos + 1;
    int rc = atom_skip_call(buf, len, &p);
    if (rc < 0)
        return rc;
    if (len - p < id_fields(tag))
        return EM_ETRUNC;
    *pos = p + id_fields(tag);
    return 0;
}

/* A small integer field of a fun (OldIndex, OldUniq, an export's arity):
 * SMALL_INTEGER_EXT or INTEGER_EXT. */
static int int_field(const uint8_t *buf, size_t len, size_t *pos, int64_t *v)
{
    size_t p = *pos;
    if (p >= len)
        return EM_ETRUNC;
    if (buf[p] == TAG_SMALL_INTEGER) {
        if (len - p < 2)
            return EM_ETRUNC;
        *v = buf[p + 1];
        *pos = p + 2;
        return 0;
    }
    if (buf[p] == TAG_INTEGER) {
        if (len - p < 5)
            return EM_ETRUNC;
        *v = (int32_t)get32(buf + p + 1);
        *pos = p + 5;
        return 0;
    }
    return EM_EBADTERM;
}

/* Add n arena bytes, unless inside a fun (kept as raw bytes). */
static inline int box_add(size_t *total, unsigned quiet, size_t n)
{
    return quiet ? 0 : add_size(total, n);
}

/* Open a container of `items` items (items >= 1; each takes at least one
 * input byte, so the stack stays bounded by the input), whose first item
 * is read next; fun_end as in struct frame.  *lvl is the level of the
 * container itself and becomes that of its items. */
static inline int scan_open(stack *st, size_t *lvl, size_t max_depth,
                            size_t items, size_t fun_end)
{
    if (*lvl >= max_depth)
        return EM_EDEPTH;
    size_t l = ++*lvl;
    size_t left = items - 1;
    if (left == 0 && fun_end == 0)
        return 0; /* the first item is the last: nothing to come back to */
    if (left == 1 && fun_end == 0 && st->n > 0) {
        frame *f = &st->v[st->n - 1];
        if (f->left == 1 && f->fun_end == 0 &&
            (f->run == 0 || l - f->lvl == f->lstep)) {
            /* One more link of a chain: fold it into the run. */
            f->lstep = l - f->lvl;
            f->run++;
            f->lvl = l;
            return 0;
        }
    }
    int rc = stack_reserve(st, st->n + 1);
    if (rc < 0)
        return rc;
    /* Only what the scan reads (lstep only once run > 0). */
    frame *f = &st->v[st->n++];
    f->left = left;
    f->fun_end = fun_end;
    f->lvl = l;
    f->run = 0;
    return 0;
}

int em__etf_scan(const uint8_t *buf, size_t len, size_t pos, size_t max_depth,
                 bool share, stack *st, scan_out *so)
{
    size_t total = 0;
    unsigned quiet = 0; /* open funs: their contents take no arena bytes */
    size_t lvl = 0;     /* nesting level of the item being read */
    int rc;
    so->shares = 0;
    st->n = 0;
    for (;;) {
    next_term:
        if (len - pos < 1)
            return EM_ETRUNC;
        unsigned tag = buf[pos++];
        size_t n;
        switch (tag) {
        case TAG_SMALL_INTEGER:
            if (len - pos < 1)
                return EM_ETRUNC;
            pos += 1;
            break;
        case TAG_INTEGER:
            if (len - pos < 4)
                return EM_ETRUNC;
            pos += 4;
            break;
        case TAG_NEW_FLOAT: {
            if (len - pos < 8)
                return EM_ETRUNC;
            uint64_t bits = get64(buf + pos);
            double v;
            memcpy(&v, &bits, sizeof v);
            if (!isfinite(v))
                return EM_EBADTERM; /* Erlang has no NaN or infinity */
            pos += 8;
            if ((rc = box_add(&total, quiet, sizeof(em__float))) < 0)
                return rc;
            break;
        }
        case TAG_FLOAT: {
            if (len - pos < FLOAT_EXT_LEN)
                return EM_ETRUNC;
            double v;
            if ((rc = em__etf_float_text(buf + pos, &v)) < 0)
                return rc;
            pos += FLOAT_EXT_LEN;
            if ((rc = box_add(&total, quiet, sizeof(em__float))) < 0)
                return rc;
            break;
        }
        case TAG_ATOM:
        case TAG_SMALL_ATOM:
        case TAG_ATOM_UTF8:
        case TAG_SMALL_ATOM_UTF8:
            pos--;
            if ((rc = atom_skip(buf, len, &pos)) < 0)
                return rc;
            break;
        case TAG_NIL:
            break;
        case TAG_SMALL_TUPLE:
        case TAG_LARGE_TUPLE:
            if (tag == TAG_SMALL_TUPLE) {
                if (len - pos < 1)
                    return EM_ETRUNC;
                n = buf[pos++];
            } else {
                if (len - pos < 4)
                    return EM_ETRUNC;
                n = get32(buf + pos);
                pos += 4;
            }
            if (n > len - pos)
                return EM_ELENGTH;
            if ((rc = box_add(&total, quiet, SZ_TUPLE(n))) < 0)
                return rc;
            if (n && (rc = scan_open(st, &lvl, max_depth, n, 0)) < 0)
                return rc;
            if (n)
                goto next_term;
            break;
        case TAG_STRING:
            if (len - pos < 2)
                return EM_ETRUNC;
            n = get16(buf + pos);
            pos += 2;
            if (n > len - pos)
                return EM_ELENGTH;
            pos += n;
            if ((rc = box_add(&total, quiet, n * sizeof(em__cons))) < 0)
                return rc;
            break;
        case TAG_LIST: {
            if (len - pos < 4)
                return EM_ETRUNC;
            n = get32(buf + pos);
            pos += 4;
            if (n && n + 1 > len - pos)
                return EM_ELENGTH; /* n elements and a tail */
            if (n == 0)
                goto next_term; /* no cells: the term is just the tail */
            if ((rc = box_add(&total, quiet, n * sizeof(em__cons))) < 0)
                return rc;
            /* The list counts for the depth even when the loop below
             * reads all of it without opening a frame. */
            if (lvl >= max_depth)
                return EM_EDEPTH;
            /* Leading integer elements, the common case, in a tight loop
             * (build() takes the same shortcut).  Anything else, or a cut
             * in the input, is left to the general path. */
            size_t k = 0;
            /* While 5 bytes remain, any integer element fits: no length
             * checks in this loop; the last few go through the next. */
            size_t q = pos;
            if (len >= 5) {
                for (; k < n && q <= len - 5; k++) {
                    if (buf[q] == TAG_SMALL_INTEGER)
                        q += 2;
                    else if (buf[q] == TAG_INTEGER)
                        q += 5;
                    else
                        break;
                }
            }
            for (; k < n && q < len; k++) {
                if (buf[q] == TAG_SMALL_INTEGER && len - q >= 2)
                    q += 2;
                else if (buf[q] == TAG_INTEGER && len - q >= 5)
                    q += 5;
                else
                    break;
            }
            pos = q;
            if (k == n && pos < len && buf[pos] == TAG_NIL) {
                pos++;
                break;
            }
            if ((rc = scan_open(st, &lvl, max_depth, n + 1 - k, 0)) < 0)
                return rc;
            goto next_term;
        }
        case TAG_MAP:
            if (len - pos < 4)
                return EM_ETRUNC;
            n = get32(buf + pos);
            pos += 4;
            if (n > (len - pos) / 2)
                return EM_ELENGTH;
            if ((rc = box_add(&total, quiet, SZ_MAP(n))) < 0)
                return rc;
            if (n && (rc = scan_open(st, &lvl, max_depth, 2 * n, 0)) < 0)
                return rc;
            if (n)
                goto next_term;
            break;
        case TAG_BINARY:
            if (len - pos < 4)
                return EM_ETRUNC;
            n = get32(buf + pos);
            pos += 4;
            if (n > len - pos)
                return EM_ELENGTH;
            pos += n;
            if (share_bin(share, n, len) && !quiet) {
                so->shares++;
                n = 0; /* a box without the bytes */
            }
            if ((rc = box_add(&total, quiet, SZ_BIN(n))) < 0)
                return rc;
            break;
        case TAG_BIT_BINARY: {
            if (len - pos < 5)
                return EM_ETRUNC;
            n = get32(buf + pos);
            unsigned bits = buf[pos + 4];
            pos += 5;
            if (n > len - pos)
                return EM_ELENGTH;
            /* 1..8 bits used in the last byte; an empty one says 0
             * (OTP rejects anything else). */
            if (n == 0 ? bits != 0 : bits == 0 || bits > 8)
                return EM_EBADTERM;
            pos += n;
            if ((rc = box_add(&total, quiet, SZ_BIN(n))) < 0)
                return rc;
            break;
        }
        case TAG_SMALL_BIG:
        case TAG_LARGE_BIG: {
            if (tag == TAG_SMALL_BIG) {
                if (len - pos < 2)
                    return EM_ETRUNC;
                n = buf[pos];
                pos += 1;
            } else {
                if (len - pos < 5)
                    return EM_ETRUNC;
                n = get32(buf + pos);
                pos += 4;
            }
            bool neg = buf[pos++] != 0; /* OTP: any non-zero sign is minus */
            if (n > len - pos)
                return EM_ELENGTH;
            int64_t small;
            size_t limbs = em__etf_big_limbs(buf + pos, n, neg, &small);
            if (limbs > UINT32_MAX)
                return EM_ETOOBIG;
            pos += n;
            if (limbs && (rc = box_add(&total, quiet, SZ_BIG(limbs))) < 0)
                return rc;
            break;
        }
        case TAG_NEW_PID:
        case TAG_PID:
        case TAG_NEW_PORT:
        case TAG_PORT:
        case TAG_V4_PORT:
        case TAG_REFERENCE:
            if ((rc = atom_skip(buf, len, &pos)) < 0)
                return rc;
            if (len - pos < id_fields(tag))
                return EM_ETRUNC;
            pos += id_fields(tag);
            /* A local pid ends up an immediate, but which node is local can
             * change between the passes: reserve the box anyway. */
            n = tag == TAG_NEW_PID || tag == TAG_PID ? sizeof(em__pid)
                : tag == TAG_REFERENCE               ? sizeof(em__ref)
                                                     : sizeof(em__port);
            if ((rc = box_add(&total, quiet, ALIGN8(n))) < 0)
                return rc;
            break;
        case TAG_NEWER_REFERENCE:
        case TAG_NEW_REFERENCE:
            if (len - pos < 2)
                return EM_ETRUNC;
            n = get16(buf + pos);
            pos += 2;
            if (n == 0 || n > MAX_REF_WORDS)
                return EM_EBADTERM;
            if ((rc = atom_skip_call(buf, len, &pos)) < 0)
                return rc;
            if (len - pos < (tag == TAG_NEWER_REFERENCE ? 4 : 1) + 4 * n)
                return EM_ETRUNC;
            pos += (tag == TAG_NEWER_REFERENCE ? 4 : 1) + 4 * n;
            if ((rc = box_add(&total, quiet, ALIGN8(sizeof(em__ref)))) < 0)
                return rc;
            break;
        case TAG_EXPORT: {
            size_t start = pos - 1;
            int64_t arity;
            if ((rc = atom_skip_call(buf, len, &pos)) < 0)
                return rc;
            if ((rc = atom_skip_call(buf, len, &pos)) < 0)
                return rc;
            if ((rc = int_field(buf, len, &pos, &arity)) < 0)
                return rc;
            if (arity < 0 || arity > 255)
                return EM_EBADTERM;
            if ((rc = box_add(&total, quiet, SZ_FUN(pos - start))) < 0)
                return rc;
            break;
        }
        case TAG_NEW_FUN: {
            size_t start = pos - 1;
            if (len - pos < 4)
                return EM_ETRUNC;
            n = get32(buf + pos); /* Size: counts itself, not the tag */
            if (n > len - pos)
                return EM_ELENGTH;
            if (n < FUN_FIXED)
                return EM_EBADTERM;
            size_t end = pos + n;
            size_t nfree = get32(buf + pos + FUN_FIXED - 4);
            int64_t v;
            pos += FUN_FIXED;
            if ((rc = atom_skip_call(buf, len, &pos)) < 0) /* Module */
                return rc;
            if ((rc = int_field(buf, len, &pos, &v)) < 0) /* OldIndex */
                return rc;
            if ((rc = int_field(buf, len, &pos, &v)) < 0) /* OldUniq */
                return rc;
            if ((rc = pid_skip(buf, len, &pos)) < 0)
                return rc;
            if (pos > end)
                return EM_EBADTERM;
            if (nfree > end - pos)
                return EM_ELENGTH;
            if ((rc = box_add(&total, quiet, SZ_FUN(end - start))) < 0)
                return rc;
            if (nfree == 0) {
                if (pos != end)
                    return EM_EBADTERM;
                break;
            }
            if ((rc = scan_open(st, &lvl, max_depth, nfree, end)) < 0)
                return rc;
            quiet++;
            goto next_term;
        }
        default:
            /* COMPRESSED is only accepted around the whole term;
             * ATOM_CACHE_REF, FUN_EXT, LOCAL_EXT and unknown tags fail. */
            return EM_EBADTAG;
        }

        /* Climb to the innermost container that still expects an item. */
        for (;;) {
            if (st->n == 0) {
                so->end = pos;
                if (total)
                    if ((rc = add_size(&total, ARENA_HEAD)) < 0)
                        return rc;
                so->bytes = total;
                return 0;
            }
            frame *f = &st->v[st->n - 1];
            if (f->left > 0) {
                lvl = f->lvl;
                if (--f->left == 0 && f->fun_end == 0) {
                    /* Its last item: let go of it now (or of the run's
                     * top link: the next one down has one item left). */
                    if (f->run) {
                        f->run--;
                        f->lvl -= f->lstep;
                        f->left = 1;
                    } else {
                        st->n--;
                    }
                }
                break;
            }
            assert(f->fun_end && f->run == 0);
            if (pos != f->fun_end)
                return EM_EBADTERM; /* free variables overrun Size */
            quiet--;
            st->n--;
        }
    }
}
