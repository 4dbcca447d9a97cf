/* fuzz_dist_handshake.c: libFuzzer target for the handshake state machine.
 * Input: byte 0 picks the role (even: acceptor, odd: initiator), byte 1
 * the acceptor's status answer; the rest is a stream of 2-byte-length
 * framed handshake messages fed to em__hs_step until it finishes or fails,
 * exactly as em__hs_run frames what it reads from a socket. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dist_int.h"

static int status;
static int status_cb(void *ud, const char *peer, size_t len)
{
    (void)ud;
    (void)peer;
    (void)len;
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    em__hs hs;
    em_buf out = EM_BUF_INIT;
    int role = (data[0] & 1) ? EM__HS_INITIATOR : EM__HS_ACCEPTOR;
    status = 1 + data[1] % 6;
    em__hs_init(&hs, role, "c@localhost", EM__DF_MINE, 7, "cookie");
    hs.my_challenge = 12345;
    hs.dialled = "b@localhost";
    hs.status_cb = status_cb;
    em__hs_start(&hs, &out);
    size_t pos = 2;
    int rc = EM__HS_CONT;
    while (rc == EM__HS_CONT && size - pos >= 2) {
        size_t n = (size_t)data[pos] << 8 | data[pos + 1];
        if (n > size - pos - 2)
            break;
        rc = em__hs_step(&hs, data + pos + 2, n, &out);
        pos += 2 + n;
    }
    em_buf_free(&out);
    return 0;
}
