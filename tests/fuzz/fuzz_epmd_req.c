/* fuzz_epmd_req.c: libFuzzer target for the EPMD request parser and the
 * client-side reply decoders.  Input: the bytes a connection delivers.
 * Checks that framing and parsing never read outside the input (ASan) and
 * that what the parser returns points inside it. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "epmd_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* As the daemon does: frame the stream, then parse the body. */
    size_t want = 0;
    for (size_t n = 0; n <= size && n <= EM__EPMD_INBUF; n++) {
        int f = em__epmd_frame(data, n, &want);
        if (f < 0)
            break;
        if (f > 0) {
            assert((size_t)f == n && want == n);
            break;
        }
    }
    /* Every body, framed or not. */
    em__epmd_req r;
    if (em__epmd_parse_req(data, size, &r) == 0) {
        assert(r.name_len <= size && r.extra_len <= size);
        if (r.name_len)
            assert(r.name >= data && r.name + r.name_len <= data + size);
        if (r.extra_len)
            assert(r.extra >= data && r.extra + r.extra_len <= data + size);
        if (r.tag == EM__EPMD_ALIVE2_REQ && em__epmd_alive2_valid(&r) == 0) {
            /* A valid registration re-encodes to a parseable request. */
            em_epmd_node_info info;
            memset(&info, 0, sizeof info);
            memcpy(info.name, r.name, r.name_len);
            info.extra_len = (uint16_t)r.extra_len;
            memcpy(info.extra, r.extra, r.extra_len);
            info.port = r.port;
            info.high_version = r.high;
            info.low_version = r.low;
            static uint8_t out[2 + 13 + EM_EPMD_NAME_MAX + EM_EPMD_EXTRA_MAX];
            size_t n = em__epmd_put_alive2_req(out, sizeof out, &info);
            assert(n > 0);
            em__epmd_req r2;
            assert(em__epmd_frame(out, n, NULL) == (int)n);
            assert(em__epmd_parse_req(out + 2, n - 2, &r2) == 0);
            assert(r2.name_len == r.name_len && r2.extra_len == r.extra_len);
            assert(memcmp(r2.name, r.name, r.name_len) == 0);
        }
    }
    (void)em__epmd_utf8_chars(data, size);
    /* The client's decoders see server bytes: same bounds. */
    em_epmd_node_info info;
    int found, res;
    uint32_t cr;
    (void)em__epmd_parse_port2_resp(data, size, &found, &info);
    (void)em__epmd_parse_alive2_resp(data, size, &res, &cr);
    const char *nm;
    size_t nl;
    uint16_t port;
    if (em__epmd_parse_names_line((const char *)data, size, &nm, &nl, &port) ==
        0)
        assert(nm >= (const char *)data && nm + nl <= (const char *)data + size);
    return 0;
}
