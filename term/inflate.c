/* inflate.c: decoder for zlib streams (RFC 1950) holding raw DEFLATE data
 * (RFC 1951): stored, fixed-Huffman and dynamic-Huffman blocks.
 *
 * It exists for one job, the COMPRESSED (80) external-format tag, whose
 * header states the uncompressed size.  So it inflates into a caller-sized
 * buffer and fails rather than grow it, and it never needs a window separate
 * from the output (back references point into the output itself).
 *
 * Huffman codes are decoded with a 9-bit lookup table for the common short
 * codes and the canonical-code walk (one bit at a time) for longer ones. */
#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <ember/common.h>

#include "inflate.h"

#define MAXBITS 15       /* longest Huffman code DEFLATE allows */
#define FAST_BITS 9      /* codes up to this length decode by table */
#define MAX_LITLEN 288   /* literal/length symbols incl. the two invalid */
#define MAX_DIST 30
#define MAX_CODELEN 19

/* A canonical Huffman code.  count[len] codes have length len; sym lists
 * the symbols ordered by code; fast[reversed low FAST_BITS bits] is
 * (symbol << 4 | length) for codes of at most FAST_BITS bits, 0 if none
 * (a longer code, or a bit pattern the code does not use). */
typedef struct huff {
    uint16_t count[MAXBITS + 1];
    uint16_t sym[MAX_LITLEN];
    uint16_t fast[1u << FAST_BITS];
} huff;

typedef struct zstate {
    const uint8_t *in;
    size_t inlen, inpos;
    uint64_t bits;  /* pending input bits, next bit in bit 0 */
    unsigned nbits; /* number of valid bits in `bits` */
    uint8_t *out;
    size_t outlen, outpos;
} zstate;

/* Load whole input bytes into the bit buffer while they fit. */
static inline void refill(zstate *s)
{
    while (s->nbits <= 56 && s->inpos < s->inlen) {
        s->bits |= (uint64_t)s->in[s->inpos++] << s->nbits;
        s->nbits += 8;
    }
}

/* Take n (0..24) bits; false if the input ends first. */
static inline bool getbits(zstate *s, unsigned n, unsigned *v)
{
    if (s->nbits < n) {
        refill(s);
        if (s->nbits < n)
            return false;
    }
    *v = (unsigned)(s->bits & ((UINT64_C(1) << n) - 1));
    s->bits >>= n;
    s->nbits -= n;
    return true;
}

/* Build the code for lengths[0 .. n).  Returns 0 for a complete code,
 * a positive number for an incomplete one and -1 for an over-subscribed
 * one (which no stream may use). */
static int huff_build(huff *h, const uint8_t *lengths, unsigned n)
{
    uint16_t offs[MAXBITS + 2];
    memset(h->count, 0, sizeof h->count);
    memset(h->fast, 0, sizeof h->fast);
    for (unsigned i = 0; i < n; i++)
        h->count[lengths[i]]++;
    if (h->count[0] == n)
        return 1; /* no codes at all: incomplete, any use fails */
    int left = 1;
    for (unsigned len = 1; len <= MAXBITS; len++) {
        left <<= 1;
        left -= h->count[len];
        if (left < 0)
            return -1;
    }
    offs[1] = 0;
    for (unsigned len = 1; len < MAXBITS; len++)
        offs[len + 1] = (uint16_t)(offs[len] + h->count[len]);
    for (unsigned i = 0; i < n; i++)
        if (lengths[i] != 0)
            h->sym[offs[lengths[i]]++] = (uint16_t)i;

    /* Walk the canonical codes in order to fill the fast table.  DEFLATE
     * sends a code's bits most significant first, and the bit buffer
     * delivers the first bit in bit 0, so the table index is the code
     * reversed. */
    unsigned code = 0, k = 0;
    for (unsigned len = 1; len <= FAST_BITS; len++) {
        for (unsigned j = 0; j < h->count[len]; j++, k++, code++) {
            unsigned rev = 0;
            for (unsigned b = 0; b < len; b++)
                rev |= ((code >> b) & 1u) << (len - 1 - b);
            uint16_t e = (uint16_t)(h->sym[k] << 4 | len);
            for (unsigned f = rev; f < (1u << FAST_BITS); f += 1u << len)
                h->fast[f] = e;
        }
        code <<= 1;
    }
    return left;
}

/* Decode one symbol; -1 on a code the table lacks or on end of input. */
static int huff_decode(zstate *s, const huff *h)
{
    if (s->nbits < MAXBITS)
        refill(s);
    uint16_t e = h->fast[s->bits & ((1u << FAST_BITS) - 1)];
    if (e != 0 && (e & 15u) <= s->nbits) {
        s->bits >>= e & 15u;
        s->nbits -= e & 15u;
        return e >> 4;
    }
    /* Canonical walk: `first` is the first code of length len, `index`
     * the position of its symbol in sym. */
    int code = 0, first = 0, index = 0;
    for (unsigned len = 1; len <= MAXBITS; len++) {
        if (len > s->nbits)
            return -1;
        code |= (int)((s->bits >> (len - 1)) & 1u);
        int count = h->count[len];
        if (code - first < count) {
            s->bits >>= len;
            s->nbits -= len;
            return h->sym[index + code - first];
        }
        index += count;
        first += count;
        first <<= 1;
        code <<= 1;
    }
    return -1;
}

static const uint16_t len_base[29] = {
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
    35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
    3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
    6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
    7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* Inflate one block's Huffman-coded data up to its end-of-block code. */
static int inflate_codes(zstate *s, const huff *lit, const huff *dist)
{
    for (;;) {
        int sym = huff_decode(s, lit);
        if (sym < 0)
            return EM_EZLIB;
        if (sym < 256) {
            if (s->outpos == s->outlen)
                return EM_EZLIB; /* more output than stated */
            s->out[s->outpos++] = (uint8_t)sym;
            continue;
        }
        if (sym == 256)
            return 0;
        sym -= 257;
        if (sym >= 29)
            return EM_EZLIB; /* length symbols 286, 287 are invalid */
        unsigned extra, len, d;
        if (!getbits(s, len_extra[sym], &extra))
            return EM_EZLIB;
        len = len_base[sym] + extra;
        int ds = huff_decode(s, dist);
        if (ds < 0 || ds >= MAX_DIST)
            return EM_EZLIB;
        if (!getbits(s, dist_extra[ds], &extra))
            return EM_EZLIB;
        d = dist_base[ds] + extra;
        if (d > s->outpos || len > s->outlen - s->outpos)
            return EM_EZLIB;
        /* Byte by byte: source and destination overlap when d < len, and
         * that overlap is how DEFLATE encodes runs. */
        uint8_t *o = s->out + s->outpos;
        const uint8_t *from = o - d;
        for (unsigned i = 0; i < len; i++)
            o[i] = from[i];
        s->outpos += len;
    }
}

static int inflate_stored(zstate *s)
{
    /* Drop the bits up to the byte boundary, then give back the whole
     * bytes the bit buffer already holds. */
    s->bits >>= s->nbits & 7u;
    s->nbits -= s->nbits & 7u;
    s->inpos -= s->nbits / 8;
    s->bits = 0;
    s->nbits = 0;
    if (s->inlen - s->inpos < 4)
        return EM_EZLIB;
    const uint8_t *p = s->in + s->inpos;
    unsigned len = p[0] | (unsigned)p[1] << 8;
    unsigned nlen = p[2] | (unsigned)p[3] << 8;
    if (len != (~nlen & 0xffffu))
        return EM_EZLIB;
    s->inpos += 4;
    if (s->inlen - s->inpos < len || s->outlen - s->outpos < len)
        return EM_EZLIB;
    memcpy(s->out + s->outpos, s->in + s->inpos, len);
    s->inpos += len;
    s->outpos += len;
    return 0;
}

static int inflate_fixed(zstate *s, huff *lit, huff *dist)
{
    uint8_t lengths[MAX_LITLEN];
    unsigned i = 0;
    for (; i < 144; i++)
        lengths[i] = 8;
    for (; i < 256; i++)
        lengths[i] = 9;
    for (; i < 280; i++)
        lengths[i] = 7;
    for (; i < MAX_LITLEN; i++)
        lengths[i] = 8;
    (void)huff_build(lit, lengths, MAX_LITLEN);
    for (i = 0; i < MAX_DIST; i++)
        lengths[i] = 5;
    /* 30 codes of length 5 are an incomplete code; the two unused
     * patterns decode to -1 and fail. */
    (void)huff_build(dist, lengths, MAX_DIST);
    return inflate_codes(s, lit, dist);
}

/* A code may be incomplete only if it has a single code of length 1 (or
 * none, for a distance code in a block without back references): zlib's
 * rule, which keeps streams zlib rejects rejected here too. */
static bool code_ok(const huff *h, int built)
{
    if (built < 0)
        return false;
    if (built == 0)
        return true;
    unsigned total = 0;
    for (unsigned len = 1; len <= MAXBITS; len++)
        total += h->count[len];
    return total <= 1;
}

static int inflate_dynamic(zstate *s, huff *lit, huff *dist)
{
    static const uint8_t order[MAX_CODELEN] = {16, 17, 18, 0, 8,  7, 9,
                                               6,  10, 5,  11, 4, 12, 3,
                                               13, 2,  14, 1,  15};
    uint8_t lengths[MAX_LITLEN + MAX_DIST];
    unsigned nlen, ndist, ncode, v;
    if (!getbits(s, 5, &nlen) || !getbits(s, 5, &ndist) ||
        !getbits(s, 4, &ncode))
        return EM_EZLIB;
    nlen += 257;
    ndist += 1;
    ncode += 4;
    if (nlen > 286 || ndist > MAX_DIST)
        return EM_EZLIB;
    memset(lengths, 0, MAX_CODELEN);
    for (unsigned i = 0; i < ncode; i++) {
        if (!getbits(s, 3, &v))
            return EM_EZLIB;
        lengths[order[i]] = (uint8_t)v;
    }
    huff *cl = lit; /* the code-length code is done before lit is needed */
    if (huff_build(cl, lengths, MAX_CODELEN) != 0)
        return EM_EZLIB;
    unsigned i = 0;
    while (i < nlen + ndist) {
        int sym = huff_decode(s, cl);
        if (sym < 0)
            return EM_EZLIB;
        if (sym < 16) {
            lengths[i++] = (uint8_t)sym;
            continue;
        }
        uint8_t fill = 0;
        unsigned rep;
        if (sym == 16) {
            if (i == 0)
                return EM_EZLIB; /* nothing to repeat */
            fill = lengths[i - 1];
            if (!getbits(s, 2, &rep))
                return EM_EZLIB;
            rep += 3;
        } else if (sym == 17) {
            if (!getbits(s, 3, &rep))
                return EM_EZLIB;
            rep += 3;
        } else {
            if (!getbits(s, 7, &rep))
                return EM_EZLIB;
            rep += 11;
        }
        if (rep > nlen + ndist - i)
            return EM_EZLIB;
        memset(lengths + i, fill, rep);
        i += rep;
    }
    if (lengths[256] == 0)
        return EM_EZLIB; /* no end-of-block code */
    if (!code_ok(lit, huff_build(lit, lengths, nlen)))
        return EM_EZLIB;
    if (!code_ok(dist, huff_build(dist, lengths + nlen, ndist)))
        return EM_EZLIB;
    return inflate_codes(s, lit, dist);
}

uint32_t em__adler32(uint32_t adler, const uint8_t *buf, size_t len)
{
    /* 5552 is the most bytes that can be summed before the 32-bit sums
     * must be reduced (the constant from RFC 1950's reference code). */
    uint32_t a = adler & 0xffffu, b = adler >> 16;
    while (len > 0) {
        size_t n = len < 5552 ? len : 5552;
        len -= n;
        while (n--) {
            a += *buf++;
            b += a;
        }
        a %= 65521u;
        b %= 65521u;
    }
    return b << 16 | a;
}

int em__zlib_inflate(const uint8_t *in, size_t inlen, size_t *used,
                     uint8_t *out, size_t outlen)
{
    if (inlen < 2)
        return EM_EZLIB;
    unsigned cmf = in[0], flg = in[1];
    /* CM 8 (deflate), window at most 32 KB, check bits, no preset
     * dictionary (a term has none). */
    if ((cmf & 0x0fu) != 8 || (cmf >> 4) > 7 || (cmf * 256 + flg) % 31 != 0 ||
        (flg & 0x20u) != 0)
        return EM_EZLIB;

    zstate s = {.in = in, .inlen = inlen, .inpos = 2, .out = out,
                .outlen = outlen};
    /* The code tables (3.3 KB) live on the heap: this may run on a small
     * process stack. */
    struct tables {
        huff lit, dist;
    } *tb = malloc(sizeof *tb);
    if (tb == NULL)
        return EM_ENOMEM;
    unsigned last, type;
    int rc = 0;
    do {
        if (!getbits(&s, 1, &last) || !getbits(&s, 2, &type)) {
            rc = EM_EZLIB;
            break;
        }
        if (type == 0)
            rc = inflate_stored(&s);
        else if (type == 1)
            rc = inflate_fixed(&s, &tb->lit, &tb->dist);
        else if (type == 2)
            rc = inflate_dynamic(&s, &tb->lit, &tb->dist);
        else
            rc = EM_EZLIB;
    } while (rc == 0 && !last);
    free(tb);
    if (rc < 0)
        return rc;

    if (s.outpos != outlen)
        return EM_EZLIB; /* fewer bytes than stated */
    /* The Adler-32 trailer starts at the next byte boundary; whole bytes
     * still in the bit buffer belong to it. */
    assert(s.inpos >= s.nbits / 8);
    s.inpos -= s.nbits / 8;
    if (s.inlen - s.inpos < 4)
        return EM_EZLIB;
    const uint8_t *t = in + s.inpos;
    uint32_t want = (uint32_t)t[0] << 24 | (uint32_t)t[1] << 16 |
                    (uint32_t)t[2] << 8 | t[3];
    if (em__adler32(1, out, outlen) != want)
        return EM_EZLIB;
    *used = s.inpos + 4;
    return 0;
}
