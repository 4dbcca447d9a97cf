/* fuzz_etf_decode.c: libFuzzer target for the external term format.
 *
 * Any input either fails to decode with an error code, or decodes to a term
 * that (in both encoding modes) encodes to exactly em_etf_size() bytes,
 * decodes back to an =:= term, and re-encodes to the same bytes (the
 * encoding of a term is canonical); em_etf_decode_bin agrees with
 * em_etf_decode.  ASan/UBSan catch every out-of-bounds
 * read, leak and undefined operation along the way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember.h>

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_etf_decode: check failed: %s (line %d)\n",   \
                    #cond, __LINE__);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(em_term t, int flags)
{
    em_buf b1 = EM_BUF_INIT, b2 = EM_BUF_INIT;
    FUZZ_CHECK(em_etf_encode(&b1, t, flags) == 0);
    size_t n = 0;
    FUZZ_CHECK(em_etf_size(t, flags, &n) == 0 && n == b1.len);

    em_term back = EM_NONE;
    FUZZ_CHECK(em_etf_decode(b1.data, b1.len, NULL, NULL, &back) == 0);
    FUZZ_CHECK(em_equal(t, back));
    FUZZ_CHECK(em_etf_encode(&b2, back, flags) == 0);
    FUZZ_CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    em_drop(back);
    em_buf_free(&b1);
    em_buf_free(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Bound what a compressed input may claim, so the fuzzer explores
     * rather than allocates. */
    em_etf_opts opts = {.max_inflate = 1u << 24};
    em_term t = EM_NONE;
    size_t off = 0;
    int rc = em_etf_decode(data, size, &off, &opts, &t);

    /* Decoding from a binary term (large binaries point into it) gives the
     * same result; the input is dropped first, so the result must keep it
     * alive. */
    em_term bin = em_binary(data, size), shared = EM_NONE;
    FUZZ_CHECK(bin != EM_NONE);
    size_t boff = 0;
    int brc = em_etf_decode_bin(bin, &boff, &opts, &shared);
    em_drop(bin);
    FUZZ_CHECK(brc == rc && boff == off);
    if (rc == 0) {
        FUZZ_CHECK(em_equal(t, shared));
        em_drop(shared);
    } else {
        FUZZ_CHECK(shared == EM_NONE);
    }

    if (rc < 0) {
        FUZZ_CHECK(t == EM_NONE && off == 0);
        return 0;
    }
    FUZZ_CHECK(off <= size);

    /* The whole-input form agrees with the offset form. */
    em_term whole = EM_NONE;
    rc = em_etf_decode(data, size, NULL, &opts, &whole);
    if (off == size) {
        FUZZ_CHECK(rc == 0 && em_equal(t, whole));
        em_drop(whole);
    } else {
        FUZZ_CHECK(rc == EM_ETRAILING && whole == EM_NONE);
    }

    roundtrip(t, 0);
    roundtrip(t, EM_ETF_DIST);
    em_drop(t);
    return 0;
}
