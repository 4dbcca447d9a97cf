/* epmd_proto.c: the EPMD wire codec (requests, replies, framing).
 * Pure functions over byte buffers: every read is checked against the
 * length the caller gave, so the daemon can feed it hostile input. */
#include <assert.h>
#include <string.h>

#include "epmd_proto.h"

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int em__epmd_frame(const uint8_t *buf, size_t len, size_t *want)
{
    if (want)
        *want = 0;
    if (len < 2)
        return 0;
    size_t body = get16(buf);
    if (body == 0 || body > EM__EPMD_REQ_MAX)
        return EM_EPROTO;
    size_t total = body + 2;
    if (want)
        *want = total;
    if (len > total)
        return EM_EPROTO; /* epmd: "got N bytes in packet, expected M" */
    return len == total ? (int)total : 0;
}

int em__epmd_utf8_chars(const uint8_t *s, size_t len)
{
    size_t i = 0;
    int chars = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            chars++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return -1; /* continuation byte, C0/C1 overlong lead, > F4 */
        }
        if (len - i <= n)
            return -1;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return -1;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* Reject overlong 3- and 4-byte forms, surrogates, > U+10FFFF. */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return -1;
        i += n + 1;
        chars++;
    }
    return chars;
}

int em__epmd_parse_req(const uint8_t *body, size_t len, em__epmd_req *req)
{
    memset(req, 0, sizeof *req);
    if (len == 0)
        return EM_EPROTO;
    req->tag = body[0];
    switch (body[0]) {
    case EM__EPMD_ALIVE2_REQ: {
        /* tag, port:16, type, proto, high:16, low:16, nlen:16, name,
         * elen:16, extra: 13 fixed bytes around a name of >= 1 byte. */
        if (len < 14)
            return EM_EPROTO;
        req->port = get16(body + 1);
        req->node_type = body[3];
        req->protocol = body[4];
        req->high = get16(body + 5);
        req->low = get16(body + 7);
        size_t nlen = get16(body + 9);
        if (nlen + 13 > len)
            return EM_EPROTO;
        size_t elen = get16(body + 11 + nlen);
        if (nlen + elen + 13 > len)
            return EM_EPROTO;
        if (nlen == 0 || memchr(body + 11, 0, nlen) != NULL)
            return EM_EPROTO;
        req->name = body + 11;
        req->name_len = nlen;
        req->extra = body + 13 + nlen;
        req->extra_len = elen;
        return 0;
    }
    case EM__EPMD_PORT2_REQ: {
        size_t n = len;
        if (body[n - 1] == 0)
            n--; /* a trailing NUL is tolerated (old clients sent one) */
        if (n <= 1)
            return EM_EPROTO;
        if (memchr(body + 1, 0, n - 1) != NULL)
            return EM_EPROTO;
        int chars = em__epmd_utf8_chars(body + 1, n - 1);
        if (chars < 1 || chars > EM_EPMD_NAME_CHARS_MAX)
            return EM_EPROTO;
        req->name = body + 1;
        req->name_len = n - 1;
        return 0;
    }
    case EM__EPMD_STOP_REQ: {
        if (len <= 1)
            return EM_EPROTO;
        const uint8_t *nul = memchr(body + 1, 0, len - 1);
        req->name = body + 1;
        req->name_len = nul ? (size_t)(nul - (body + 1)) : len - 1;
        return 0;
    }
    case EM__EPMD_NAMES_REQ:
    case EM__EPMD_DUMP_REQ:
    case EM__EPMD_KILL_REQ:
        /* epmd ignores anything after these one-byte requests. */
        return 0;
    default:
        return EM_ENOTSUP;
    }
}

int em__epmd_alive2_valid(const em__epmd_req *req)
{
    assert(req->tag == EM__EPMD_ALIVE2_REQ);
    if (req->name_len > EM_EPMD_NAME_MAX || req->extra_len > EM_EPMD_EXTRA_MAX)
        return EM_EINVAL;
    int chars = em__epmd_utf8_chars(req->name, req->name_len);
    if (chars < 1 || chars > EM_EPMD_NAME_CHARS_MAX)
        return EM_EINVAL;
    return 0;
}

size_t em__epmd_put_alive2_resp(uint8_t *out, int result, uint32_t creation,
                                uint16_t high)
{
    out[1] = (uint8_t)result;
    if (high >= 6) {
        out[0] = EM__EPMD_ALIVE2_X_RESP;
        put32(out + 2, creation);
        return 6;
    }
    out[0] = EM__EPMD_ALIVE2_RESP;
    put16(out + 2, (uint16_t)creation);
    return 4;
}

size_t em__epmd_put_port2_resp(uint8_t *out, const em_epmd_node_info *info)
{
    out[0] = EM__EPMD_PORT2_RESP;
    if (info == NULL) {
        out[1] = 1;
        return 2;
    }
    size_t nlen = strnlen(info->name, EM_EPMD_NAME_MAX);
    size_t elen = info->extra_len > EM_EPMD_EXTRA_MAX ? EM_EPMD_EXTRA_MAX
                                                      : info->extra_len;
    out[1] = 0;
    put16(out + 2, info->port);
    out[4] = info->node_type;
    out[5] = info->protocol;
    put16(out + 6, info->high_version);
    put16(out + 8, info->low_version);
    put16(out + 10, (uint16_t)nlen);
    memcpy(out + 12, info->name, nlen);
    put16(out + 12 + nlen, (uint16_t)elen);
    memcpy(out + 14 + nlen, info->extra, elen);
    return 14 + nlen + elen;
}

size_t em__epmd_put_alive2_req(uint8_t *out, size_t cap,
                               const em_epmd_node_info *info)
{
    size_t nlen = strnlen(info->name, EM_EPMD_NAME_MAX + 1);
    size_t elen = info->extra_len;
    if (nlen > EM_EPMD_NAME_MAX || elen > EM_EPMD_EXTRA_MAX)
        return 0;
    size_t body = 13 + nlen + elen;
    if (body > EM__EPMD_REQ_MAX || cap < body + 2)
        return 0;
    put16(out, (uint16_t)body);
    out[2] = EM__EPMD_ALIVE2_REQ;
    put16(out + 3, info->port);
    out[5] = info->node_type;
    out[6] = info->protocol;
    put16(out + 7, info->high_version);
    put16(out + 9, info->low_version);
    put16(out + 11, (uint16_t)nlen);
    memcpy(out + 13, info->name, nlen);
    put16(out + 13 + nlen, (uint16_t)elen);
    memcpy(out + 15 + nlen, info->extra, elen);
    return body + 2;
}

int em__epmd_parse_alive2_resp(const uint8_t *buf, size_t len, int *result,
                               uint32_t *creation)
{
    if (len == 0)
        return 0;
    size_t need;
    if (buf[0] == EM__EPMD_ALIVE2_X_RESP)
        need = 6;
    else if (buf[0] == EM__EPMD_ALIVE2_RESP)
        need = 4;
    else
        return EM_EPROTO;
    if (len < need)
        return 0;
    if (len > need)
        return EM_EPROTO; /* OTP treats trailing bytes as garbage too */
    *result = buf[1];
    *creation = need == 6 ? get32(buf + 2) : get16(buf + 2);
    return (int)need;
}

int em__epmd_parse_port2_resp(const uint8_t *buf, size_t len, int *found,
                              em_epmd_node_info *info)
{
    if (len == 0)
        return 0;
    if (buf[0] != EM__EPMD_PORT2_RESP)
        return EM_EPROTO;
    if (len < 2)
        return 0;
    if (buf[1] != 0) {
        *found = 0;
        return 2;
    }
    if (len < 12)
        return 0;
    size_t nlen = get16(buf + 10);
    if (nlen == 0 || nlen > EM_EPMD_NAME_MAX)
        return EM_EPROTO;
    if (len < 14 + nlen)
        return 0;
    size_t elen = get16(buf + 12 + nlen);
    if (elen > EM_EPMD_EXTRA_MAX)
        return EM_EPROTO;
    if (len < 14 + nlen + elen)
        return 0;
    *found = 1;
    memset(info, 0, sizeof *info);
    info->port = get16(buf + 2);
    info->node_type = buf[4];
    info->protocol = buf[5];
    info->high_version = get16(buf + 6);
    info->low_version = get16(buf + 8);
    memcpy(info->name, buf + 12, nlen);
    info->name[nlen] = '\0';
    info->extra_len = (uint16_t)elen;
    memcpy(info->extra, buf + 14 + nlen, elen);
    return (int)(14 + nlen + elen);
}

int em__epmd_parse_names_line(const char *line, size_t len,
                              const char **name, size_t *name_len,
                              uint16_t *port)
{
    static const char pre[] = "name ";
    static const char mid[] = " at port ";
    const size_t plen = sizeof pre - 1, mlen = sizeof mid - 1;
    if (len < plen + 1 + mlen + 1 || memcmp(line, pre, plen) != 0)
        return EM_EPROTO;
    /* The name may itself contain " at port " in theory; the port is what
     * follows the last occurrence, as in OTP's parser. */
    size_t at = len - mlen;
    for (;;) {
        if (at < plen + 1)
            return EM_EPROTO;
        if (memcmp(line + at, mid, mlen) == 0)
            break;
        at--;
    }
    uint32_t p = 0;
    size_t i = at + mlen;
    if (i == len)
        return EM_EPROTO;
    for (; i < len; i++) {
        if (line[i] < '0' || line[i] > '9')
            return EM_EPROTO;
        p = p * 10 + (uint32_t)(line[i] - '0');
        if (p > 65535)
            return EM_EPROTO;
    }
    *name = line + plen;
    *name_len = at - plen;
    *port = (uint16_t)p;
    return 0;
}
