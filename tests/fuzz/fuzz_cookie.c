/* fuzz_cookie.c: the cookie file's content and the -setcookie text
 * (net/cookie.c) on arbitrary bytes.
 *
 * Checks, besides memory safety:
 *  - the scan gives the same verdict and cookie whether the bytes come
 *    whole or in pieces (the file is read in chunks), and the same as a
 *    literal transcription of OTP 25's auth:check_cookie/2 followed by
 *    list_to_atom's 255-character limit;
 *  - em__cookie_arg_decode under UTF-8 either refuses and leaves the text
 *    untouched, or rewrites it to Latin-1 bytes whose UTF-8 encoding is the
 *    original text; without UTF-8 it never changes the text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cookie.h"

/* auth.erl, check_cookie/2 and check_cookie1/2, then list_to_atom. */
static int otp_check(const uint8_t *p, size_t n, char *out)
{
    size_t i = 0, len = 0;
    while (i < n && p[i] >= ' ' && p[i] <= '~') {
        if (len < EM__COOKIE_MAX)
            out[len] = (char)p[i];
        len++, i++;
    }
    for (; i < n; i++)
        if (p[i] != '\n' && p[i] != '\r' && p[i] != ' ')
            return EM__COOKIE_BAD_CHARS;
    if (len == 0)
        return EM__COOKIE_TOO_SHORT;
    if (len > EM__COOKIE_MAX)
        return EM__COOKIE_TOO_LONG;
    out[len] = '\0';
    return EM__COOKIE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char want[EM__COOKIE_MAX + 1];
    int wv = otp_check(data, size, want);
    em__cookie_scan whole, bits;
    em__cookie_scan_init(&whole);
    em__cookie_scan_feed(&whole, data, size);
    int v1 = em__cookie_scan_end(&whole);
    /* pieces of sizes taken from the data itself: 1..8 bytes */
    em__cookie_scan_init(&bits);
    for (size_t i = 0; i < size;) {
        size_t k = 1 + (data[i] & 7);
        if (k > size - i)
            k = size - i;
        em__cookie_scan_feed(&bits, data + i, k);
        i += k;
    }
    int v2 = em__cookie_scan_end(&bits);
    if (v1 != wv || v2 != wv)
        abort();
    if (wv == EM__COOKIE_OK && (strcmp(whole.cookie, want) != 0 || strcmp(bits.cookie, want) != 0))
        abort();

    /* the -setcookie text: the bytes up to the first NUL */
    char *a = malloc(size + 1), *orig = malloc(size + 1), why[EM__COOKIE_WHY_MAX];
    if (a == NULL || orig == NULL)
        abort();
    memcpy(a, data, size);
    a[size] = '\0';
    memcpy(orig, a, size + 1);
    (void)em__cookie_arg_decode(a, false, why, sizeof why);
    if (strcmp(a, orig) != 0) /* without UTF-8 the bytes are the characters */
        abort();
    if (em__cookie_arg_decode(a, true, why, sizeof why) < 0) {
        if (strcmp(a, orig) != 0) /* refused: untouched */
            abort();
    } else {
        /* re-encode the Latin-1 result as UTF-8: the original comes back */
        size_t n = strlen(a), j = 0;
        if (n > EM__COOKIE_MAX)
            abort();
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)a[i];
            if (c < 0x80) {
                if (orig[j++] != (char)c)
                    abort();
            } else {
                if ((unsigned char)orig[j] != (0xC0 | c >> 6) || (unsigned char)orig[j + 1] != (0x80 | (c & 0x3F)))
                    abort();
                j += 2;
            }
        }
        if (orig[j] != '\0')
            abort();
    }
    free(a);
    free(orig);
    return 0;
}
