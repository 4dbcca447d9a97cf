/* big.c: arbitrary-precision integers: construction, decimal conversion and
 * comparison.  ember needs no bignum arithmetic beyond what moving integers
 * between text, the external format and comparisons takes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "term_int.h"

static em__big *big_alloc(uint32_t n, bool neg)
{
    em__big *b = em__box_alloc(sizeof *b + (size_t)n * sizeof(uint64_t), EM__K_BIG);
    if (b == NULL)
        return NULL;
    b->n = n;
    b->pad_ = 0;
    b->h.aux = neg;
    return b;
}

em_term em__big_normalize(em__big *b)
{
    while (b->n > 1 && b->d[b->n - 1] == 0)
        b->n--;
    if (b->n == 1) {
        uint64_t m = b->d[0];
        if (!b->h.aux && m <= (uint64_t)EM__SMALL_MAX) {
            free(b);
            return em__small((int64_t)m);
        }
        if (b->h.aux && m <= (uint64_t)EM__SMALL_MAX + 1) {
            free(b);
            return em__small((int64_t)(0 - m));
        }
        if (m == 0)
            b->h.aux = 0;
    }
    return em__box_term(b);
}

em_term em__big_from_u64(bool neg, uint64_t mag)
{
    em__big *b = big_alloc(1, neg);
    if (b == NULL)
        return EM_NONE;
    b->d[0] = mag;
    return em__big_normalize(b);
}

EM_API em_term em_bigint(bool negative, const uint8_t *le, size_t n)
{
    if (n && le == NULL)
        return EM_NONE;
    size_t limbs = (n + 7) / 8;
    if (limbs == 0)
        return em__small(0);
    if (limbs > UINT32_MAX)
        return EM_NONE;
    em__big *b = big_alloc((uint32_t)limbs, negative);
    if (b == NULL)
        return EM_NONE;
    memset(b->d, 0, limbs * sizeof(uint64_t));
    for (size_t i = 0; i < n; i++)
        b->d[i / 8] |= (uint64_t)le[i] << (8 * (i % 8));
    return em__big_normalize(b);
}

EM_API int em_bigint_bytes(em_term t, bool *negative, uint8_t *le, size_t cap)
{
    uint64_t one;
    const uint64_t *d;
    uint32_t n;
    bool neg;
    if (em__is_small(t)) {
        int64_t v = em__small_val(t);
        neg = v < 0;
        one = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        d = &one;
        n = 1;
    } else if (em__kind(t) == EM__K_BIG) {
        const em__big *b = (const em__big *)em__box_of(t);
        d = b->d;
        n = b->n;
        neg = b->h.aux;
    } else {
        return EM_EBADARG;
    }
    size_t bytes = (size_t)(n - 1) * 8;
    for (uint64_t top = d[n - 1]; top; top >>= 8)
        bytes++;
    if (negative)
        *negative = neg;
    for (size_t i = 0; i < bytes && i < cap; i++)
        le[i] = (uint8_t)(d[i / 8] >> (8 * (i % 8)));
    return (int)bytes;
}

/* Magnitude view of any integer. */
typedef struct mag {
    const uint64_t *d;
    uint32_t n;
    bool neg;
    uint64_t one;
} mag;

static void mag_of(em_term t, mag *m)
{
    if (em__is_small(t)) {
        int64_t v = em__small_val(t);
        m->neg = v < 0;
        m->one = m->neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        m->d = &m->one;
        m->n = 1;
    } else {
        const em__big *b = (const em__big *)em__box_of(t);
        m->d = b->d;
        m->n = b->n;
        m->neg = b->h.aux;
    }
}

static int mag_cmp(const uint64_t *a, uint32_t an, const uint64_t *b, uint32_t bn)
{
    while (an > 1 && a[an - 1] == 0) an--;
    while (bn > 1 && b[bn - 1] == 0) bn--;
    if (an != bn)
        return an < bn ? -1 : 1;
    for (uint32_t i = an; i-- > 0;)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

int em__big_cmp(em_term a, em_term b)
{
    if (em__is_small(a) && em__is_small(b)) {
        int64_t x = em__small_val(a), y = em__small_val(b);
        return (x > y) - (x < y);
    }
    mag ma, mb;
    mag_of(a, &ma);
    mag_of(b, &mb);
    bool za = ma.n == 1 && ma.d[0] == 0, zb = mb.n == 1 && mb.d[0] == 0;
    if (za) ma.neg = false;
    if (zb) mb.neg = false;
    if (ma.neg != mb.neg)
        return ma.neg ? -1 : 1;
    int c = mag_cmp(ma.d, ma.n, mb.d, mb.n);
    return ma.neg ? -c : c;
}

int em__int_cmp_float(em_term a, double f)
{
    if (em__is_small(a)) {
        int64_t v = em__small_val(a);
        /* |v| < 2^61: if f is within range, compare exactly via the
         * integer part and the fraction. */
        if (f >= 9.2e18)
            return -1;
        if (f <= -9.2e18)
            return 1;
        double fl = floor(f);
        int64_t fi = (int64_t)fl;
        if (v != fi)
            return v < fi ? -1 : 1;
        return fl == f ? 0 : -1; /* v == floor(f) and f has a fraction */
    }
    mag m;
    mag_of(a, &m);
    /* |a| >= 2^61 here.  If |f| < 2^61 the sign decides. */
    if (fabs(f) < 2305843009213693952.0)
        return m.neg ? -1 : 1;
    if ((f < 0) != m.neg)
        return m.neg ? -1 : 1;
    /* Same sign, |f| >= 2^61, so f is an integer: compare magnitudes
     * exactly by converting |f| to limbs. */
    int e;
    double fr = frexp(fabs(f), &e); /* |f| = fr * 2^e, 0.5 <= fr < 1 */
    uint64_t mant = (uint64_t)ldexp(fr, 53); /* 53-bit integer mantissa */
    int shift = e - 53;                       /* >= 8 since |f| >= 2^61 */
    uint32_t fn = (uint32_t)((shift + 64) / 64 + 1);
    uint64_t fd[40];
    if (fn > 40) /* |f| < 2^1024 always; 40 limbs is plenty */
        fn = 40;
    memset(fd, 0, sizeof fd);
    fd[shift / 64] = mant << (shift % 64);
    if (shift % 64 && shift / 64 + 1 < 40)
        fd[shift / 64 + 1] = mant >> (64 - shift % 64);
    int c = mag_cmp(m.d, m.n, fd, fn);
    return m.neg ? -c : c;
}

/* Divide magnitude d[0..n) in place by v, returning the remainder. */
static uint64_t divmod_small(uint64_t *d, uint32_t n, uint64_t v)
{
    unsigned __int128 r = 0;
    for (uint32_t i = n; i-- > 0;) {
        unsigned __int128 cur = (r << 64) | d[i];
        d[i] = (uint64_t)(cur / v);
        r = cur % v;
    }
    return (uint64_t)r;
}

int em__int_to_decimal(em_term t, em_buf *out)
{
    mag m;
    if (!em__is_small(t) && em__kind(t) != EM__K_BIG)
        return EM_EINVAL;
    mag_of(t, &m);
    if (m.n == 1) {
        char tmp[24];
        int k = 0;
        uint64_t v = m.d[0];
        do {
            tmp[k++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        size_t need = (size_t)k + m.neg;
        if (em_buf_reserve(out, need) < 0)
            return EM_ENOMEM;
        if (m.neg)
            out->data[out->len++] = '-';
        while (k)
            out->data[out->len++] = (uint8_t)tmp[--k];
        return 0;
    }
    /* Repeated division by 10^19 gives 19 digits per limb-pass. */
    uint64_t *w = malloc(m.n * sizeof(uint64_t));
    size_t cap = (size_t)m.n * 20 + 2;
    char *digits = malloc(cap);
    if (w == NULL || digits == NULL) {
        free(w);
        free(digits);
        return EM_ENOMEM;
    }
    memcpy(w, m.d, m.n * sizeof(uint64_t));
    uint32_t n = m.n;
    size_t k = 0;
    const uint64_t p19 = 10000000000000000000u;
    while (n > 1 || w[0] != 0) {
        uint64_t r = divmod_small(w, n, p19);
        while (n > 1 && w[n - 1] == 0)
            n--;
        bool last = n == 1 && w[0] == 0;
        for (int i = 0; i < 19 && (!last || r); i++) {
            digits[k++] = (char)('0' + r % 10);
            r /= 10;
        }
    }
    int rc = em_buf_reserve(out, k + 1);
    if (rc == 0) {
        if (m.neg)
            out->data[out->len++] = '-';
        while (k)
            out->data[out->len++] = (uint8_t)digits[--k];
    }
    free(w);
    free(digits);
    return rc;
}

static unsigned digit_val(char c)
{
    if (c >= '0' && c <= '9') return (unsigned)(c - '0');
    if (c >= 'a' && c <= 'z') return (unsigned)(c - 'a' + 10);
    if (c >= 'A' && c <= 'Z') return (unsigned)(c - 'A' + 10);
    return 99;
}

em_term em__int_from_digits(bool neg, const char *digits, size_t n, unsigned base)
{
    assert(base >= 2 && base <= 36);
    /* Each digit adds at most log2(36) < 6 bits. */
    size_t limbs = n * 6 / 64 + 2;
    if (limbs > UINT32_MAX)
        return EM_NONE;
    em__big *b = big_alloc((uint32_t)limbs, neg);
    if (b == NULL)
        return EM_NONE;
    memset(b->d, 0, limbs * sizeof(uint64_t));
    uint32_t used = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned v = digit_val(digits[i]);
        if (v >= base)
            continue; /* separators such as '_' were validated by the caller */
        unsigned __int128 carry = v;
        for (uint32_t j = 0; j < used; j++) {
            unsigned __int128 cur = (unsigned __int128)b->d[j] * base + carry;
            b->d[j] = (uint64_t)cur;
            carry = cur >> 64;
        }
        if (carry)
            b->d[used++] = (uint64_t)carry;
    }
    b->n = used;
    return em__big_normalize(b);
}
