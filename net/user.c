/* user.c: the registered `user`, this node's io server: the group leader
 * em_rpc gives the processes it has other nodes spawn (a C process has no
 * group leader of its own), so that a function there that writes
 * (io:format, io:put_chars) is answered instead of waiting forever for its
 * io_reply.  What it is asked to write goes to stdout.
 *
 * The io protocol's requests: {io_request, From, ReplyAs, Request},
 * answered From ! {io_reply, ReplyAs, Reply}:
 *   {put_chars, Encoding, Chars}, {put_chars, Chars}: Chars (a binary, a
 *       list of code points, an iolist) written; ok;
 *   {put_chars, Encoding, io_lib, format, [Format, Args]} (what
 *       io:format sends; fwrite alike; without Encoding from OTP, since
 *       ember does not offer DFLAG_UNICODE_IO): formatted here, for the
 *       directives ~p ~P ~w ~W ~s ~c ~i ~n ~~ (their field widths and
 *       precisions are read and not applied, a `*` taking its argument;
 *       any other directive prints its argument as ~w does); ok;
 *       io_lib:write ([Term]) alike;
 *   {requests, [Request]}: each in turn; the last one's reply;
 *   anything else (input, options, geometry): {error, enotsup}.
 * Other messages are dropped. */
#include <stdio.h>

#include "dist_int.h"

#define A(s) em_atom(s)

/* Append code point c as UTF-8 (Latin-1 bytes are code points too). */
static void put_cp(em_buf *b, int64_t c)
{
    uint8_t u[4];
    size_t n;
    if (c < 0 || c > 0x10ffff)
        return;
    if (c < 0x80) {
        u[0] = (uint8_t)c;
        n = 1;
    } else if (c < 0x800) {
        u[0] = (uint8_t)(0xc0 | (c >> 6));
        u[1] = (uint8_t)(0x80 | (c & 0x3f));
        n = 2;
    } else if (c < 0x10000) {
        u[0] = (uint8_t)(0xe0 | (c >> 12));
        u[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
        u[2] = (uint8_t)(0x80 | (c & 0x3f));
        n = 3;
    } else {
        u[0] = (uint8_t)(0xf0 | (c >> 18));
        u[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
        u[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
        u[3] = (uint8_t)(0x80 | (c & 0x3f));
        n = 4;
    }
    em_buf_append(b, u, n);
}

/* Append chardata t (binaries as they are, code points encoded, lists
 * walked; an atom's text for ~s): false if t is none of these. */
static bool put_chars(em_buf *b, em_term t, bool latin1, int depth)
{
    int64_t c;
    size_t nbits;
    if (depth > 100)
        return false;
    if (em_typeof(t) == EM_TYPE_BINARY) {
        const uint8_t *d = em_binary_data(t, &nbits);
        if (!latin1) {
            em_buf_append(b, d, nbits / 8);
        } else {
            for (size_t i = 0; i < nbits / 8; i++)
                put_cp(b, d[i]);
        }
        return true;
    }
    if (em_typeof(t) == EM_TYPE_ATOM) {
        size_t n;
        const char *s = em_atom_text(t, &n);
        em_buf_append(b, s, n);
        return true;
    }
    for (; em_typeof(t) == EM_TYPE_LIST; t = em_tl(t)) {
        em_term h = em_hd(t);
        if (em_int_get(h, &c) == 0)
            put_cp(b, c);
        else if (em_typeof(h) == EM_TYPE_ATOM || !put_chars(b, h, latin1, depth + 1))
            return false;
    }
    return t == EM_NIL || (em_typeof(t) == EM_TYPE_BINARY && put_chars(b, t, latin1, depth + 1));
}

/* io_lib:format(Format, Args), the directives the header names. */
static void format(em_buf *b, em_term fmt, em_term args)
{
    em_buf f = EM_BUF_INIT;
    if (!put_chars(&f, fmt, false, 0)) {
        em_print_buf(b, fmt, EM_PRINT_W);
        em_buf_free(&f);
        return;
    }
    for (size_t i = 0; i < f.len; i++) {
        if (f.data[i] != '~' || i + 1 == f.len) {
            em_buf_append(b, &f.data[i], 1);
            continue;
        }
        i++;
        /* flags, field width, precision, pad character, modifiers; a `*`
         * takes its value from the arguments, as io_lib's does */
        while (i < f.len && (f.data[i] == '-' || f.data[i] == '.' || f.data[i] == '*' ||
                             (f.data[i] >= '0' && f.data[i] <= '9') || f.data[i] == 't' || f.data[i] == 'l')) {
            if (f.data[i] == '*')
                args = em_tl(args);
            i++;
        }
        if (i == f.len)
            break;
        char d = (char)f.data[i];
        if (d == 'n') {
            em_buf_append(b, "\n", 1);
            continue;
        }
        if (d == '~') {
            em_buf_append(b, "~", 1);
            continue;
        }
        em_term a = em_hd(args);
        if (a == EM_NONE)
            break; /* fewer arguments than directives */
        args = em_tl(args);
        if (d == 'P' || d == 'W')
            args = em_tl(args); /* their depth */
        int64_t c;
        size_t len0 = b->len;
        if (d == 's' && put_chars(b, a, false, 0))
            continue;
        b->len = len0; /* not chardata after all: printed as a term instead */
        if (d == 'c' && em_int_get(a, &c) == 0) {
            put_cp(b, c);
            continue;
        }
        if (d == 'i')
            continue;
        em_print_buf(b, a, d == 'p' || d == 'P' ? EM_PRINT_P : EM_PRINT_W);
    }
    em_buf_free(&f);
}

/* One request's reply (owned); output appended to out. */
static em_term request(em_buf *out, em_term req, int depth)
{
    em_term ok = A("ok"), bad = em_tuple(2, A("error"), A("enotsup"));
    long n = em_tuple_size(req);
    em_term tag = em_tuple_get(req, 0);
    /* The forms without the encoding are what OTP sends a node that did
     * not offer DFLAG_UNICODE_IO (ember does not): latin1. */
    em_term mod = n >= 4 ? em_tuple_get(req, n - 3) : EM_NONE, fun = em_tuple_get(req, n - 2);
    em_term fa = em_tuple_get(req, n - 1);
    if (tag == A("put_chars") && (n == 2 || n == 3)) {
        bool latin1 = n == 2 || em_tuple_get(req, 1) == A("latin1");
        size_t len0 = out->len;
        if (put_chars(out, em_tuple_get(req, n - 1), latin1, 0)) {
            em_drop(bad);
            return ok;
        }
        out->len = len0; /* nothing of a request refused is written */
    } else if (tag == A("put_chars") && (n == 4 || n == 5) && mod == A("io_lib") &&
               (fun == A("format") || fun == A("fwrite")) && em_list_length(fa) == 2) {
        format(out, em_hd(fa), em_hd(em_tl(fa)));
        em_drop(bad);
        return ok;
    } else if (tag == A("put_chars") && (n == 4 || n == 5) && mod == A("io_lib") && fun == A("write") &&
               em_list_length(fa) == 1) {
        em_print_buf(out, em_hd(fa), EM_PRINT_W);
        em_drop(bad);
        return ok;
    } else if (tag == A("requests") && n == 2 && depth < 10) {
        em_term r = ok;
        for (em_term l = em_tuple_get(req, 1); em_typeof(l) == EM_TYPE_LIST; l = em_tl(l)) {
            em_drop(r);
            r = request(out, em_hd(l), depth + 1);
        }
        em_drop(bad);
        return r;
    }
    return bad;
}

static void user_main(void *arg)
{
    (void)arg;
    if (!em__register_self(A("user")))
        return;
    for (;;) {
        em_term msg, from, reply_as, req;
        if (em_receive_any(EM_INFINITY, &msg) < 0 ||
            em_match("{io_request, From, ReplyAs, Req}", msg, &from, &reply_as, &req) != 1)
            continue; /* dropped: nothing else is for it */
        em_buf out = EM_BUF_INIT;
        em_term r = request(&out, req, 0);
        if (out.len) {
            fwrite(out.data, 1, out.len, stdout);
            fflush(stdout);
        }
        em_buf_free(&out);
        if (em_typeof(from) == EM_TYPE_PID) /* not dialling a node named by anyone */
            em__dist_ops_send_noconnect(from, em_tuple(3, A("io_reply"), em_dup(reply_as), r));
        else
            em_drop(r);
    }
}

em_term em__user_start(void)
{
    em_term pid = em_spawn(user_main, NULL);
    if (pid != EM_NONE)
        em_register(A("user"), pid); /* taken still: it registers itself */
    return pid;
}
