/* epmd_proto.h: the EPMD wire codec, shared by the daemon (epmd_srv.c),
 * the client (epmd_client.c), the tests and the fuzz target.  Private to
 * net/.  Pure functions: no I/O, no allocation, and no function reads
 * outside the [buf, buf+len) it is given. */
#ifndef EM_NET_EPMD_PROTO_H
#define EM_NET_EPMD_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <ember/epmd.h>

/* Request and reply tags. */
enum {
    EM__EPMD_ALIVE2_REQ = 120,    /* 'x' */
    EM__EPMD_ALIVE2_RESP = 121,   /* 'y', 16-bit creation */
    EM__EPMD_ALIVE2_X_RESP = 118, /* 'v', 32-bit creation */
    EM__EPMD_PORT2_REQ = 122,     /* 'z' */
    EM__EPMD_PORT2_RESP = 119,    /* 'w' */
    EM__EPMD_NAMES_REQ = 110,     /* 'n' */
    EM__EPMD_DUMP_REQ = 100,      /* 'd' */
    EM__EPMD_KILL_REQ = 107,      /* 'k' */
    EM__EPMD_STOP_REQ = 115       /* 's' */
};

/* epmd's input buffer is 3*EM_EPMD_NAME_MAX bytes and it refuses a frame
 * (2 + Len bytes) that does not fit with one byte to spare, so the largest
 * Len accepted is EM__EPMD_INBUF - 3. */
#define EM__EPMD_INBUF (3 * EM_EPMD_NAME_MAX)
#define EM__EPMD_REQ_MAX (EM__EPMD_INBUF - 3)
/* Largest single reply other than NAMES/DUMP: a PORT2_RESP. */
#define EM__EPMD_PORT2_RESP_MAX (14 + EM_EPMD_NAME_MAX + EM_EPMD_EXTRA_MAX)

/* em__epmd_frame: look at the bytes received so far on a connection.
 * Returns 0 if more are needed (*want, if not NULL, is then the frame size
 * once the header is in, else 0), the frame size 2+Len (> 0) when buf holds
 * exactly one complete frame, or EM_EPROTO if the header announces Len 0
 * or Len > EM__EPMD_REQ_MAX, or more bytes arrived than announced. */
int em__epmd_frame(const uint8_t *buf, size_t len, size_t *want);

/* A parsed request.  Pointers point into the buffer given to the parser
 * and are valid as long as it is. */
typedef struct em__epmd_req {
    uint8_t tag;
    /* ALIVE2 */
    uint16_t port;
    uint8_t node_type;
    uint8_t protocol;
    uint16_t high;
    uint16_t low;
    const uint8_t *extra;
    size_t extra_len;
    /* ALIVE2, PORT2, STOP: the node name (not NUL-terminated) */
    const uint8_t *name;
    size_t name_len;
} em__epmd_req;

/* em__epmd_parse_req: parse one request body (after the 2-byte length).
 * Checks the structure exactly as epmd does: ALIVE2 at least 14 bytes,
 * Nlen and Elen inside the body, no NUL in the name; PORT2 one trailing NUL
 * stripped, a non-empty name without NUL, 1..255 valid UTF-8 characters;
 * STOP at least one byte after the tag, the name being the bytes up to the
 * first NUL (epmd compares C strings; an empty name matches nothing).
 * It does not check what epmd answers with an error reply (an ALIVE2 name
 * too long or badly encoded, Extra too long): see em__epmd_alive2_valid.
 * Returns 0, EM_EPROTO (malformed: close without a reply) or EM_ENOTSUP
 * (obsolete or unknown tag: close without a reply). */
int em__epmd_parse_req(const uint8_t *body, size_t len, em__epmd_req *req);

/* em__epmd_alive2_valid: 0 if a parsed ALIVE2 may register (name <= 1020
 * bytes, <= 255 characters, valid UTF-8; extra <= 1020 bytes), else
 * EM_EINVAL (epmd answers Result 1). */
int em__epmd_alive2_valid(const em__epmd_req *req);

/* em__epmd_utf8_chars: the number of characters in buf[0..len) if it is
 * valid UTF-8 (no overlong forms, no surrogates, <= U+10FFFF), else -1. */
int em__epmd_utf8_chars(const uint8_t *buf, size_t len);

/* Encoders.  Each writes into out (at least the size stated) and returns
 * the number of bytes written. */
/* 6 bytes (high >= 6: ALIVE2_X_RESP) or 4 (ALIVE2_RESP). */
size_t em__epmd_put_alive2_resp(uint8_t *out, int result, uint32_t creation,
                                uint16_t high);
/* EM__EPMD_PORT2_RESP_MAX bytes; info == NULL encodes "not found". */
size_t em__epmd_put_port2_resp(uint8_t *out, const em_epmd_node_info *info);
/* The whole ALIVE2 request with its length prefix; needs
 * 15 + name + extra bytes (<= 2 + 13 + 1020 + 1020). Returns 0 if the
 * fields do not fit a request. */
size_t em__epmd_put_alive2_req(uint8_t *out, size_t cap,
                               const em_epmd_node_info *info);

/* Client-side decoders: look at the reply bytes received so far.
 * Return 0 when more bytes are needed, the size of the complete reply
 * (> 0), or EM_EPROTO if they can not be the reply. */
/* ALIVE2_X_RESP / ALIVE2_RESP; *result and *creation are set when > 0. */
int em__epmd_parse_alive2_resp(const uint8_t *buf, size_t len, int *result,
                               uint32_t *creation);
/* PORT2_RESP; *found and (when found) *info are set when > 0. */
int em__epmd_parse_port2_resp(const uint8_t *buf, size_t len, int *found,
                              em_epmd_node_info *info);

/* em__epmd_parse_names_line: parse one "name <N> at port <P>" line
 * (without its newline).  Returns 0 and sets *name, *name_len (into line)
 * and *port, or EM_EPROTO. */
int em__epmd_parse_names_line(const char *line, size_t len,
                              const char **name, size_t *name_len,
                              uint16_t *port);

#endif /* EM_NET_EPMD_PROTO_H */
