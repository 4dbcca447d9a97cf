/* cookie.h: the node's cookie as OTP 25 finds it (kernel's auth.erl and
 * init.erl).  Private to ember (net/node.c, tests).
 *
 * What OTP does, and so what these functions do (checked against a real
 * erl 25 by tests/interop/cookie.sh):
 *
 *   - the file is $HOME/.erlang.cookie; when it does not exist,
 *     $XDG_CONFIG_HOME/erlang/.erlang.cookie ($HOME/.config/erlang/... when
 *     XDG_CONFIG_HOME is unset or empty); when neither exists,
 *     $HOME/.erlang.cookie is created with 20 random letters A..Z, mode
 *     0400, its times set to the day's midnight.  Only "no such file" moves
 *     on to the next place: any other problem with the first file stops.
 *   - the file must be a regular file (symbolic links followed) whose mode
 *     has no group or other bits ("Cookie file F must be accessible by
 *     owner only", "Cookie file F is of type directory").
 *   - the cookie is the file's leading run of printable ASCII (space to
 *     '~', spaces included); after it only '\n', '\r' and ' ' may follow,
 *     anything else (a tab, another line, a byte >= 0x80) is "Bad
 *     characters in cookie"; no printable character first is "Too short
 *     cookie string"; more than 255 characters is refused (the cookie
 *     becomes an atom: erl stops with system_limit).
 *
 * Every refusal is EM_EAUTH with one line in `why` that starts with OTP's
 * own wording and names the file (OTP leaves the path out of some). */
#ifndef EM_NET_COOKIE_H
#define EM_NET_COOKIE_H

#include <stdbool.h>
#include <stddef.h>

/* The longest cookie: a cookie is an atom, and an atom has at most 255
 * characters.  Buffers for a cookie are EM__COOKIE_MAX + 1 bytes. */
#define EM__COOKIE_MAX 255

/* Room for a `why` line: a path (up to PATH_MAX) and the wording. */
#define EM__COOKIE_WHY_MAX 4400

/* The cookie file's content, checked as auth:check_cookie/2 checks it,
 * fed in pieces (the file is read in chunks, never all at once). */
typedef struct em__cookie_scan {
    char cookie[EM__COOKIE_MAX + 1]; /* the first EM__COOKIE_MAX characters */
    size_t len;      /* characters in the cookie (counted past the max) */
    size_t off;      /* bytes fed so far */
    bool ended;      /* past the cookie: only '\n', '\r', ' ' allowed */
    bool bad;        /* a byte that is none of those was seen */
    unsigned char bad_byte; /* the first such byte, and its offset */
    size_t bad_off;
} em__cookie_scan;

enum {
    EM__COOKIE_OK = 0,
    EM__COOKIE_BAD_CHARS,  /* "Bad characters in cookie" */
    EM__COOKIE_TOO_SHORT,  /* "Too short cookie string" */
    EM__COOKIE_TOO_LONG    /* more than EM__COOKIE_MAX characters */
};

/* em__cookie_scan_init / _feed / _end: start, feed `n` bytes of the file,
 * and finish: EM__COOKIE_OK (s->cookie holds the cookie, NUL-terminated)
 * or one of the refusals above.  OTP checks the characters before the
 * length, so a long cookie with a bad byte after it is BAD_CHARS.
 * Allocates: no.  Thread: any (one scan per thread). */
void em__cookie_scan_init(em__cookie_scan *s);
void em__cookie_scan_feed(em__cookie_scan *s, const void *buf, size_t n);
int em__cookie_scan_end(em__cookie_scan *s);

/* em__cookie_parse: the same over a whole buffer; on a refusal writes the
 * one-line reason into why[whycap], naming `path`.  Returns 0, or EM_EAUTH.
 * Allocates: no.  Thread: any. */
int em__cookie_parse(const void *buf, size_t n, const char *path,
                     char out[EM__COOKIE_MAX + 1], char *why, size_t whycap);

/* em__cookie_read_file: auth:read_cookie(Name): checks the file's type and
 * mode, then reads and checks its content.  Returns 0 (cookie in out),
 * EM_ENOTFOUND (the path does not exist: the caller tries the next place;
 * why untouched), or EM_EAUTH (why says what is wrong).  Never blocks on
 * a FIFO (it is refused before it is opened for reading).
 * Allocates: no.  Thread: any. */
int em__cookie_read_file(const char *path, char out[EM__COOKIE_MAX + 1],
                         char *why, size_t whycap);

/* em__cookie_load: the node's cookie when no cookie is given, in OTP's
 * order (see the top of this file), with `home` and `xdg` the values of
 * $HOME and $XDG_CONFIG_HOME (NULL: unset).  Without a home (NULL or
 * empty) it refuses: erl 25 then crashes in filename:basedir (HOME unset)
 * or uses "/.erlang.cookie" (HOME empty); ember names the problem instead.
 * A file created here is written under a temporary name and linked into
 * place, so a node starting at the same moment never reads half a file;
 * if another process made it first, that file is read.  Returns 0 (cookie
 * in out) or EM_EAUTH (why says what is wrong).
 * Allocates: no.  Thread: any. */
int em__cookie_load(const char *home, const char *xdg, char out[EM__COOKIE_MAX + 1],
                    char *why, size_t whycap);

/* em__cookie_arg_decode: a -setcookie value as erl reads its command line
 * (init.erl's b2s): when `utf8` (the locale's character set is UTF-8,
 * em__cookie_locale_utf8) the bytes are UTF-8 and each character becomes
 * one Latin-1 byte -- the handshake digests atom_to_list(Cookie), so 'é'
 * is the byte 0xE9.  Rewrites `arg` in place (it only shrinks).  Refuses
 * with EM_EAUTH and a why line: invalid UTF-8 (erl fails to start), a
 * character above U+00FF (erl starts but every handshake fails: md5 of
 * the cookie's characters is badarg), more than EM__COOKIE_MAX characters
 * (system_limit).  Any other character is accepted, as erl accepts it
 * (spaces, tabs, an empty cookie).  Without utf8 the bytes are kept.
 * Allocates: no.  Thread: any. */
int em__cookie_arg_decode(char *arg, bool utf8, char *why, size_t whycap);

/* em__cookie_locale_utf8: true when the locale named by the environment
 * (LC_ALL, LC_CTYPE, LANG) exists and its character set is UTF-8: what
 * makes erl's file:native_name_encoding() utf8.  Does not change the
 * process's locale.  Allocates: briefly.  Thread: any. */
bool em__cookie_locale_utf8(void);

#endif /* EM_NET_COOKIE_H */
