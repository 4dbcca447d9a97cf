/* fuzz_dist_packet.c: libFuzzer target for what a connection's reader does
 * with received bytes: split 4-byte-length packets (a length over the
 * input ends it, as a short read would), treat empty ones as ticks, parse
 * each with em__ctl_parse_cached (one cache per input, as per connection)
 * and print rejected control messages as the log
 * line does.  Dispatching needs a runtime and is covered by the interop
 * test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dist_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    em__ctl_cache cache = {.len = 0, .ctl = EM_NONE};
    while (size - pos >= 4) {
        uint32_t n = (uint32_t)data[pos] << 24 | (uint32_t)data[pos + 1] << 16 |
                     (uint32_t)data[pos + 2] << 8 | data[pos + 3];
        if (n > size - pos - 4)
            break;
        if (n > 0) {
            em__ctl k;
            int rc = em__ctl_parse_cached(data + pos + 4, n, &k, &cache, EM_NONE);
            /* The reader's path for big packets (the packet as a binary,
             * large binaries pointing into it) must parse alike. */
            em_term pk = em_binary(data + pos + 4, n);
            em__ctl k2;
            int rc2 = em__ctl_parse_cached(em_binary_data(pk, NULL), n, &k2, NULL, pk);
            em_drop(pk);
            if (rc2 != rc || (rc == 0 && (k2.act != k.act || em_compare_exact(k2.msg, k.msg) != 0 ||
                                          em_compare_exact(k2.ctl, k.ctl) != 0)))
                abort();
            em__ctl_free(&k2);
            if (rc == EM_EBADARG) {
                char *s = em_print_alloc(k.ctl, EM_PRINT_W);
                free(s);
            }
            if (rc == 0 && k.act == EM__ACT_NONE)
                abort(); /* parsed but no action: a parser bug */
            em__ctl_free(&k);
            if (rc < 0 && rc != EM_EBADARG)
                break; /* the connection would go down (EM_EPROTO, or
                          EM_EDEPTH, EM_ENOMEM, EM_EATOMTAB) */
        }
        pos += 4 + (size_t)n;
    }
    em__ctl_cache_clear(&cache);
    return 0;
}
