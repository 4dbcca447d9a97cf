/* md5.h: MD5 (RFC 1321), the digest of the distribution handshake.
 * Private to ember (net/).  MD5 is used here only because the Erlang
 * distribution protocol requires it; it is not a security boundary beyond
 * what the cookie scheme gives.  Thread: any.  Allocates: no. */
#ifndef EM_NET_MD5_H
#define EM_NET_MD5_H

#include <stddef.h>
#include <stdint.h>

typedef struct em__md5 {
    uint32_t h[4];
    uint64_t len;     /* bytes hashed so far */
    uint8_t buf[64];  /* pending partial block */
} em__md5;

void em__md5_init(em__md5 *c);
void em__md5_update(em__md5 *c, const void *data, size_t n);
void em__md5_final(em__md5 *c, uint8_t out[16]);
/* One-shot MD5 of data[0 .. n). */
void em__md5_sum(const void *data, size_t n, uint8_t out[16]);

#endif /* EM_NET_MD5_H */
