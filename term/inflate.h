/* inflate.h: a zlib-stream (RFC 1950) / raw DEFLATE (RFC 1951) decoder,
 * written for the COMPRESSED (80) external-format tag.
 * Private to term/. */
#ifndef EM_TERM_INFLATE_H
#define EM_TERM_INFLATE_H

#include <stddef.h>
#include <stdint.h>

/* em__zlib_inflate: inflate the zlib stream at in[0 .. inlen) into exactly
 * outlen bytes at out.
 * Returns 0 and sets *used to the number of input bytes the stream occupies
 * (header, deflate data and the Adler-32 trailer), or EM_EZLIB when the
 * stream is malformed, is truncated, would produce more or fewer than
 * outlen bytes, or its Adler-32 checksum does not match the output, or
 * EM_ENOMEM.
 * Never reads outside in[0 .. inlen) nor writes outside out[0 .. outlen);
 * on error the contents of out are unspecified.
 * Allocates: its code tables (3.3 KB, freed before it returns); under
 * 1 KB of C stack.  Thread: any. */
int em__zlib_inflate(const uint8_t *in, size_t inlen, size_t *used,
                     uint8_t *out, size_t outlen);

/* em__adler32: the Adler-32 checksum of buf[0 .. len), starting from
 * `adler` (1 for a fresh checksum). */
uint32_t em__adler32(uint32_t adler, const uint8_t *buf, size_t len);

#endif /* EM_TERM_INFLATE_H */
