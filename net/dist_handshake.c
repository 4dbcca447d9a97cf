/* dist_handshake.c: the distribution handshake (OTP's erl_dist_protocol
 * documentation, "Distribution Handshake"),
 * as a state machine that does no I/O (em__hs_*: unit-tested and fuzzed),
 * and the loop that drives it over a non-blocking socket from a process.
 *
 * Initiator A:  send_name 'N' -> status 's..' [-> 'strue' after 'salive']
 *               -> challenge 'N' (name must be the one dialled)
 *               -> reply 'r' -> ack 'a' (digest checked) -> up.
 * Acceptor B:   'N' (or old 'n' with HANDSHAKE_23) -> status (node table
 *               decides: ok / ok_simultaneous / nok / alive / not_allowed)
 *               -> challenge 'N' [-> complement 'c' after an 'n']
 *               -> reply 'r' (digest checked) -> ack 'a' -> up.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "dist_hs.h"
#include "md5.h"

enum {
    S_INIT = 0,
    /* initiator */
    S_WAIT_STATUS, S_WAIT_CHALLENGE, S_WAIT_ACK,
    /* acceptor */
    S_WAIT_NAME, S_WAIT_ALIVE_REPLY, S_WAIT_COMPLEMENT, S_WAIT_REPLY,
    S_DONE, S_FAILED
};

/* ---- helpers ---- */

void em__dist_digest(const char *cookie, uint32_t challenge, uint8_t out[16])
{
    char num[16];
    int n = snprintf(num, sizeof num, "%u", (unsigned)challenge);
    em__md5 c;
    em__md5_init(&c);
    em__md5_update(&c, cookie, strlen(cookie));
    em__md5_update(&c, num, (size_t)n);
    em__md5_final(&c, out);
}

bool em__ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    volatile uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}

uint32_t em__dist_random32(void)
{
    uint32_t v = 0;
    if (getrandom(&v, sizeof v, 0) == (ssize_t)sizeof v)
        return v;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = read(fd, &v, sizeof v);
        close(fd);
        if (r == (ssize_t)sizeof v)
            return v;
    }
    /* No kernel randomness at all: refuse to make up a weak challenge. */
    abort();
}

int64_t em__dist_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t em__dist_expand_flags(uint64_t f)
{
    return (f & EM__DF_MANDATORY_25_DIGEST) ? f | EM__DF_MANDATORY_25 : f;
}

bool em__dist_name_ok(const char *name, size_t len)
{
    const char *at = memchr(name, '@', len);
    if (at == NULL || at == name || at == name + len - 1)
        return false;
    if (memchr(at + 1, '@', (size_t)(name + len - at - 1)) != NULL)
        return false;
    return memchr(name, '\0', len) == NULL;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Append one message (2-byte length + body). */
static int emit(em_buf *out, const uint8_t *body, size_t n)
{
    if (em_buf_reserve(out, n + 2) < 0)
        return EM_ENOMEM;
    out->data[out->len] = (uint8_t)(n >> 8);
    out->data[out->len + 1] = (uint8_t)n;
    memcpy(out->data + out->len + 2, body, n);
    out->len += n + 2;
    return 0;
}

static int emit_status(em_buf *out, const char *st)
{
    uint8_t b[32];
    size_t n = strlen(st);
    b[0] = 's';
    memcpy(b + 1, st, n);
    return emit(out, b, n + 1);
}

__attribute__((format(printf, 3, 4))) static int fail(em__hs *hs, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hs->why, sizeof hs->why, fmt, ap);
    va_end(ap);
    hs->state = S_FAILED;
    return err;
}

static bool flags_ok(em__hs *hs, uint64_t f)
{
    return (f & EM__DF_MANDATORY_25) == EM__DF_MANDATORY_25;
}

static void missing_flags(em__hs *hs, uint64_t f)
{
    snprintf(hs->why, sizeof hs->why, "cannot handle mandatory flags 0x%llx",
             (unsigned long long)(EM__DF_MANDATORY_25 & ~f));
}

/* ---- the state machine ---- */

void em__hs_init(em__hs *hs, int role, const char *my_name, uint64_t my_flags, uint32_t my_creation,
                 const char *cookie)
{
    memset(hs, 0, sizeof *hs);
    hs->role = role;
    hs->state = S_INIT;
    hs->my_name = my_name;
    hs->my_flags = my_flags;
    hs->my_creation = my_creation;
    hs->cookie = cookie;
    hs->my_challenge = em__dist_random32();
}

int em__hs_start(em__hs *hs, em_buf *out)
{
    if (hs->role == EM__HS_ACCEPTOR) {
        hs->state = S_WAIT_NAME;
        return 0;
    }
    size_t n = strlen(hs->my_name);
    uint8_t b[15 + EM__NODE_NAME_MAX];
    if (n > EM__NODE_NAME_MAX)
        return EM_EINVAL;
    b[0] = 'N';
    put64(b + 1, hs->my_flags);
    put32(b + 9, hs->my_creation);
    b[13] = (uint8_t)(n >> 8);
    b[14] = (uint8_t)n;
    memcpy(b + 15, hs->my_name, n);
    hs->state = S_WAIT_STATUS;
    return emit(out, b, 15 + n);
}

static int send_challenge(em__hs *hs, em_buf *out)
{
    size_t n = strlen(hs->my_name);
    uint8_t b[19 + EM__NODE_NAME_MAX];
    if (n > EM__NODE_NAME_MAX)
        return EM_EINVAL;
    b[0] = 'N';
    put64(b + 1, hs->my_flags);
    put32(b + 9, hs->my_challenge);
    put32(b + 13, hs->my_creation);
    b[17] = (uint8_t)(n >> 8);
    b[18] = (uint8_t)n;
    memcpy(b + 19, hs->my_name, n);
    hs->state = hs->peer_version == 5 ? S_WAIT_COMPLEMENT : S_WAIT_REPLY;
    return emit(out, b, 19 + n);
}

static int set_peer_name(em__hs *hs, const uint8_t *p, size_t n)
{
    if (n > EM__NODE_NAME_MAX || !em__dist_name_ok((const char *)p, n))
        return -1;
    memcpy(hs->peer_name, p, n);
    hs->peer_name[n] = '\0';
    hs->peer_name_len = n;
    return 0;
}

/* Acceptor: 'N' or 'n'. */
static int on_name(em__hs *hs, const uint8_t *m, size_t len, em_buf *out)
{
    if (len >= 15 && m[0] == 'N') {
        size_t nl = get16(m + 13);
        if (15 + nl > len) /* trailing data after the name is ignored */
            return fail(hs, EM_EPROTO, "malformed send_name");
        hs->peer_flags = em__dist_expand_flags(get64(m + 1));
        hs->peer_creation = get32(m + 9);
        hs->peer_version = 6;
        if (set_peer_name(hs, m + 15, nl) < 0)
            return fail(hs, EM_EPROTO, "bad node name in send_name");
    } else if (len >= 7 && m[0] == 'n') {
        if (get16(m + 1) != 5)
            return fail(hs, EM_EPROTO, "unsupported handshake version in 'n'");
        hs->peer_flags = em__dist_expand_flags(get32(m + 3));
        hs->peer_version = 5;
        if (set_peer_name(hs, m + 7, len - 7) < 0)
            return fail(hs, EM_EPROTO, "bad node name in send_name");
        if (!(hs->peer_flags & EM__DF_HANDSHAKE_23))
            return fail(hs, EM_ENOTSUP, "peer too old (no HANDSHAKE_23)");
    } else {
        return fail(hs, EM_EPROTO, "expected send_name");
    }
    if (hs->peer_flags & EM__DF_NAME_ME) {
        emit_status(out, "not_allowed");
        return fail(hs, EM_ENOTSUP, "dynamic node names (NAME_ME) are not supported");
    }
    if (hs->peer_version == 6 && !flags_ok(hs, hs->peer_flags)) {
        emit_status(out, "not_allowed");
        missing_flags(hs, hs->peer_flags);
        hs->state = S_FAILED;
        return EM_ENOTSUP;
    }
    int st = hs->status_cb ? hs->status_cb(hs->ud, hs->peer_name, hs->peer_name_len) : EM__HS_ST_OK;
    switch (st) {
    case EM__HS_ST_OK:
        if (emit_status(out, "ok") < 0)
            return EM_ENOMEM;
        return send_challenge(hs, out);
    case EM__HS_ST_OK_SIMULTANEOUS:
        if (emit_status(out, "ok_simultaneous") < 0)
            return EM_ENOMEM;
        return send_challenge(hs, out);
    case EM__HS_ST_ALIVE:
        hs->state = S_WAIT_ALIVE_REPLY;
        return emit_status(out, "alive");
    case EM__HS_ST_NOK:
        emit_status(out, "nok");
        return fail(hs, EM_ECANCELED, "simultaneous connect: the peer's attempt loses (nok)");
    default:
        emit_status(out, "not_allowed");
        return fail(hs, EM_ECONNREFUSED, "not allowed");
    }
}

static bool is_status(const uint8_t *m, size_t len, const char *st)
{
    size_t n = strlen(st);
    return len == n + 1 && m[0] == 's' && memcmp(m + 1, st, n) == 0;
}

static int on_status(em__hs *hs, const uint8_t *m, size_t len, em_buf *out)
{
    if (is_status(m, len, "ok") || is_status(m, len, "ok_simultaneous")) {
        hs->state = S_WAIT_CHALLENGE;
        return EM__HS_CONT;
    }
    if (is_status(m, len, "alive")) {
        /* The peer has a connection to us.  If this attempt is still our
         * pending one, our side of that connection is gone: replace it.
         * If not (a simultaneous connect in which the peer's attempt
         * already came up here), keeping it is right and this attempt
         * goes (dist_util's is_pending). */
        bool pending = hs->pending_cb ? hs->pending_cb(hs->ud) : true;
        int rc = emit_status(out, pending ? "true" : "false");
        if (rc < 0)
            return rc;
        if (!pending)
            return fail(hs, EM_ECANCELED, "the peer's connection to us is up: this attempt is given up (alive, false)");
        hs->state = S_WAIT_CHALLENGE;
        return EM__HS_CONT;
    }
    if (is_status(m, len, "nok"))
        return fail(hs, EM_ECANCELED, "the peer is connecting to us at the same time (nok)");
    if (is_status(m, len, "not_allowed"))
        return fail(hs, EM_ECONNREFUSED, "connection not allowed by the peer");
    return fail(hs, EM_EPROTO, "unexpected status from the peer");
}

static int on_challenge(em__hs *hs, const uint8_t *m, size_t len, em_buf *out)
{
    if (len < 19 || m[0] != 'N')
        return fail(hs, EM_EPROTO, "malformed challenge");
    size_t nl = get16(m + 17);
    if (19 + nl > len)
        return fail(hs, EM_EPROTO, "malformed challenge");
    if (nl != strlen(hs->dialled) || memcmp(m + 19, hs->dialled, nl) != 0)
        return fail(hs, EM_EPROTO, "the peer answered with another name than %.300s", hs->dialled);
    memcpy(hs->peer_name, m + 19, nl);
    hs->peer_name[nl] = '\0';
    hs->peer_name_len = nl;
    hs->peer_flags = em__dist_expand_flags(get64(m + 1));
    hs->peer_creation = get32(m + 13);
    hs->peer_version = 6;
    if (!flags_ok(hs, hs->peer_flags)) {
        missing_flags(hs, hs->peer_flags);
        hs->state = S_FAILED;
        return EM_ENOTSUP;
    }
    uint32_t their = get32(m + 9);
    uint8_t b[21];
    b[0] = 'r';
    put32(b + 1, hs->my_challenge);
    em__dist_digest(hs->cookie, their, b + 5);
    hs->state = S_WAIT_ACK;
    int rc = emit(out, b, sizeof b);
    return rc < 0 ? rc : EM__HS_CONT;
}

static int on_ack(em__hs *hs, const uint8_t *m, size_t len)
{
    if (len != 17 || m[0] != 'a')
        return fail(hs, EM_EPROTO, "malformed challenge ack");
    uint8_t want[16];
    em__dist_digest(hs->cookie, hs->my_challenge, want);
    if (!em__ct_equal(want, m + 1, 16))
        return fail(hs, EM_EAUTH, "Connection attempt to node %.300s cancelled. Invalid challenge ack.",
                    hs->peer_name);
    hs->state = S_DONE;
    return EM__HS_DONE;
}

static int on_reply(em__hs *hs, const uint8_t *m, size_t len, em_buf *out)
{
    if (len != 21 || m[0] != 'r')
        return fail(hs, EM_EPROTO, "malformed challenge reply");
    uint8_t want[16];
    em__dist_digest(hs->cookie, hs->my_challenge, want);
    if (!em__ct_equal(want, m + 5, 16))
        return fail(hs, EM_EAUTH, "Connection attempt from node %.300s rejected. Invalid challenge reply.",
                    hs->peer_name);
    uint8_t b[17];
    b[0] = 'a';
    em__dist_digest(hs->cookie, get32(m + 1), b + 1);
    int rc = emit(out, b, sizeof b);
    if (rc < 0)
        return rc;
    hs->state = S_DONE;
    return EM__HS_DONE;
}

int em__hs_step(em__hs *hs, const uint8_t *m, size_t len, em_buf *out)
{
    if (len == 0)
        return fail(hs, EM_EPROTO, "empty handshake message");
    int rc;
    switch (hs->state) {
    case S_WAIT_NAME:
        rc = on_name(hs, m, len, out);
        return rc < 0 ? rc : EM__HS_CONT;
    case S_WAIT_ALIVE_REPLY:
        if (is_status(m, len, "true")) {
            rc = send_challenge(hs, out);
            return rc < 0 ? rc : EM__HS_CONT;
        }
        if (is_status(m, len, "false"))
            return fail(hs, EM_ECANCELED, "the peer kept its old connection");
        return fail(hs, EM_EPROTO, "unexpected status reply");
    case S_WAIT_COMPLEMENT:
        if (len < 9 || m[0] != 'c')
            return fail(hs, EM_EPROTO, "expected complement");
        hs->peer_flags |= (uint64_t)get32(m + 1) << 32;
        hs->peer_creation = get32(m + 5);
        if (!flags_ok(hs, hs->peer_flags)) {
            missing_flags(hs, hs->peer_flags);
            hs->state = S_FAILED;
            return EM_ENOTSUP;
        }
        hs->state = S_WAIT_REPLY;
        return EM__HS_CONT;
    case S_WAIT_REPLY:
        return on_reply(hs, m, len, out);
    case S_WAIT_STATUS:
        return on_status(hs, m, len, out);
    case S_WAIT_CHALLENGE:
        return on_challenge(hs, m, len, out);
    case S_WAIT_ACK:
        return on_ack(hs, m, len);
    default:
        return fail(hs, EM_ESTATE, "handshake already over");
    }
}

/* ---- over a socket ---- */

static int write_all(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int64_t left = deadline - em__dist_now_ms();
            if (left <= 0)
                return EM_ETIMEDOUT;
            int r = em_wait_fd(fd, EM_WRITABLE, left);
            if (r < 0)
                return r;
            continue;
        }
        return EM_ECLOSED;
    }
    return 0;
}

int em__hs_run(em__hs *hs, int fd, int setup_ms, uint8_t **left, size_t *nleft)
{
    em_buf out = EM_BUF_INIT;
    /* The input buffer is on the stack (a handshake message is a few
     * hundred bytes) and goes to the heap only for a bigger one: a process
     * killed in the middle (the node stopping) is not resumed, and a heap
     * buffer it held would leak.  For the same reason the output buffer is
     * freed once written, before the wait for the peer's answer. */
    uint8_t local[1024];
    size_t cap = sizeof local, have = 0;
    uint8_t *in = local;
    *left = NULL;
    *nleft = 0;
    int rc = em__hs_start(hs, &out);
    int64_t deadline = em__dist_now_ms() + setup_ms;
    while (rc >= 0) {
        if (out.len) {
            int w = write_all(fd, out.data, out.len, deadline);
            em_buf_free(&out);
            if (w < 0) {
                snprintf(hs->why, sizeof hs->why, "handshake write failed: %s", em_strerror(w));
                rc = w;
                break;
            }
            deadline = em__dist_now_ms() + setup_ms;
        }
        if (rc == EM__HS_DONE)
            break;
        /* a whole message in the buffer? */
        if (have >= 2 && have >= 2 + (size_t)get16(in)) {
            size_t n = get16(in);
            rc = em__hs_step(hs, in + 2, n, &out);
            memmove(in, in + 2 + n, have - 2 - n);
            have -= 2 + n;
            continue;
        }
        if (cap - have < 2 + 65535 && have >= 2) {
            size_t need = 2 + (size_t)get16(in);
            if (need > cap) {
                uint8_t *nin = in == local ? malloc(need) : realloc(in, need);
                if (nin == NULL) {
                    rc = EM_ENOMEM;
                    break;
                }
                if (in == local)
                    memcpy(nin, local, have);
                in = nin;
                cap = need;
            }
        }
        ssize_t r = recv(fd, in + have, cap - have, 0);
        if (r > 0) {
            have += (size_t)r;
            continue;
        }
        if (r == 0) {
            if (hs->role == EM__HS_INITIATOR && hs->state == S_WAIT_ACK) {
                /* OTP's acceptor closes without a word when our digest
                 * (challenge reply) does not match its cookie. */
                snprintf(hs->why, sizeof hs->why,
                         "the peer closed the connection after our digest: its cookie is not ours");
                rc = EM_EAUTH;
                break;
            }
            snprintf(hs->why, sizeof hs->why, "connection closed during the handshake");
            rc = EM_ECLOSED;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(hs->why, sizeof hs->why, "handshake read failed: %s", strerror(errno));
            rc = EM_ECLOSED;
            break;
        }
        int64_t t = deadline - em__dist_now_ms();
        int wr = t > 0 ? em_wait_fd(fd, EM_READABLE, t) : EM_ETIMEDOUT;
        if (wr < 0) {
            snprintf(hs->why, sizeof hs->why, "handshake step timed out");
            rc = EM_ETIMEDOUT;
            break;
        }
    }
    if (rc < 0 && out.len) /* a last status (nok, not_allowed) */
        write_all(fd, out.data, out.len, em__dist_now_ms() + 1000);
    em_buf_free(&out);
    if (rc == EM__HS_DONE && have > 0) {
        *left = in == local ? malloc(have) : in;
        if (*left == NULL)
            return EM_ENOMEM;
        if (in == local)
            memcpy(*left, local, have);
        *nleft = have;
        return rc;
    }
    if (in != local)
        free(in);
    return rc;
}
