/* etf.h: the Erlang external term format (what term_to_binary/1 writes and
 * the distribution carries).
 * Public: installed as <ember/etf.h>; users include <ember.h>.
 *
 * Encoding has two modes:
 *  - the default is byte-identical to OTP 25's term_to_binary/1: atoms as
 *    ATOM_EXT (Latin-1) unless they hold a character above 255, then
 *    SMALL_ATOM_UTF8_EXT / ATOM_UTF8_EXT; maps of up to 32 keys in exact
 *    term order (larger maps too: OTP writes those in hash order, which
 *    equals term_to_binary(M, [deterministic]) output for ember);
 *  - EM_ETF_DIST: every atom as SMALL_ATOM_UTF8_EXT / ATOM_UTF8_EXT, as the
 *    distribution protocol uses.
 * Funs are written back exactly as they were read.
 *
 * Nothing here recurses on the C stack; nothing yields; thread: any. */
#ifndef EM_TERM_ETF_H
#define EM_TERM_ETF_H

#include <stddef.h>
#include <stdint.h>

#include <ember/common.h>
#include <ember/term.h>

/* Encoding flags. */
enum {
    EM_ETF_DIST = 1 << 0,       /* UTF-8 atom tags (the distribution's) */
    EM_ETF_NO_VERSION = 1 << 1  /* omit the leading 131 */
};

/* em_etf_size: the number of bytes em_etf_encode* would write for t.
 * Returns 0 and *size, or EM_EINVAL (t is EM_NONE), EM_ETOOBIG (a length does
 * not fit the format), EM_ENOMEM.  Allocates: only a traversal stack for
 * terms nested deeper than 32 levels. */
EM_API int em_etf_size(em_term t, int flags, size_t *size);

/* em_etf_encode: append the encoding of t (borrowed) to b.  Returns 0, or
 * EM_EINVAL, EM_ETOOBIG, EM_ENOMEM (b unchanged on error).  Allocates: grows b. */
EM_API int em_etf_encode(em_buf *b, em_term t, int flags);

/* em_etf_encode_into: encode into buf[0 .. cap).  Returns the number of bytes
 * written, or EM_ETRUNC if cap is too small (nothing useful written),
 * EM_EINVAL, EM_ETOOBIG, EM_ENOMEM.  Allocates: only a traversal stack for
 * terms nested deeper than 32 levels. */
EM_API long em_etf_encode_into(uint8_t *buf, size_t cap, em_term t, int flags);

/* Decoding options.  Zero-initialised options are the defaults. */
typedef struct em_etf_opts {
    unsigned max_depth;  /* nesting limit; 0 = EM_ETF_DEFAULT_DEPTH */
    int flags;           /* EM_ETF_NO_VERSION: the input has no 131 byte
                            (a term after a distribution header) */
    size_t max_inflate;  /* largest accepted uncompressed size of a
                            compressed term; 0 = no limit beyond memory */
} em_etf_opts;

/* The default depth limit: none (the largest max_depth).  OTP's
 * binary_to_term/1 and the distribution have no depth limit, and neither
 * does ember: decoding costs no memory per level for a chain of containers
 * nested in one position ([[[...]]], {{{...}}}: a few frames for any
 * depth), and at most a frame (72 bytes) per level of containers left
 * open otherwise, which the input must spend at least a byte per level
 * on.  A limit (max_depth) refuses a deeper term before building it. */
#define EM_ETF_DEFAULT_DEPTH 0xffffffffu

/* em_etf_decode: decode one term from buf[*off .. len), advancing *off past
 * it (off may be NULL: then decoding starts at 0 and the term must use the
 * whole input, else EM_ETRAILING).
 * Returns 0 and *out (a new term the caller owns), or:
 *   EM_ETRUNC     input ends inside the term
 *   EM_EBADVER    no leading 131 (unless EM_ETF_NO_VERSION)
 *   EM_EBADTAG    unknown tag, or one OTP no longer accepts (FUN_EXT,
 *                 ATOM_CACHE_REF outside a distribution header)
 *   EM_EBADATOM   atom text not valid UTF-8 (UTF-8 tags)
 *   EM_EATOMLEN   atom longer than 255 characters
 *   EM_EATOMTAB   atom table full
 *   EM_EDUPKEY    a map with a repeated key
 *   EM_EDEPTH     nesting deeper than the limit
 *   EM_ELENGTH    a length larger than the remaining input (checked before
 *                 anything is allocated)
 *   EM_EBADTERM   anything else malformed (a bad bit count, a negative
 *                 zero bignum digit count, a non-atom node name, ...)
 *   EM_EZLIB      a compressed term that does not inflate to its stated
 *                 size, or claims more than max_inflate bytes (or a ratio
 *                 over 1032:1, deflate's maximum)
 *   EM_ETRAILING  bytes after the term when off is NULL (OTP's
 *                 binary_to_term/1 ignores them; ember does not)
 *   EM_ENOMEM     (also from inflating a compressed term)
 *   EM_EINVAL     out is NULL, buf is NULL with len > 0, or *off > len
 * On error *out is untouched and *off is not advanced.
 * The decoder never reads outside buf[0 .. len).  Allocates: yes. */
EM_API int em_etf_decode(const uint8_t *buf, size_t len, size_t *off,
                         const em_etf_opts *opts, em_term *out);

/* em_etf_decode_bin: em_etf_decode of the bytes of the binary `bin`
 * (borrowed), as binary_to_term/1, except that a large binary inside the
 * term is not copied: it points into bin's storage (a BINARY_EXT of more
 * than 64 bytes that is more than a quarter of bin; compressed terms and
 * bitstrings are always copied).  The result then holds a reference to bin
 * (one em_dup, released when the last reference into the result goes), so
 * bin stays alive, and unchanged as every term is, as long as the result
 * or any part of it does; the caller's own reference to bin is untouched
 * and may be dropped at once.  BEAM does the same for large binaries in
 * distribution messages.
 * Returns 0 and *out as em_etf_decode, or the same errors, or EM_EINVAL if
 * bin is not a binary (a bitstring whose size is not whole bytes included).
 * Allocates: yes (less than em_etf_decode for large binaries).
 * Thread: any. */
EM_API int em_etf_decode_bin(em_term bin, size_t *off, const em_etf_opts *opts,
                             em_term *out);

#endif /* EM_TERM_ETF_H */
