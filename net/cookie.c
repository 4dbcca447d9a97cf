/* cookie.c: the node's cookie as OTP 25 finds it: the cookie file (where,
 * what it may hold, creating it) and erl's -setcookie text.  cookie.h says
 * what OTP does; each refusal here quotes OTP's wording (auth.erl) and adds
 * the file's path. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ember/common.h>

#include "../term/term_seam.h"
#include "cookie.h"
#include "dist_hs.h"

/* ---- the content ---- */

void em__cookie_scan_init(em__cookie_scan *s)
{
    memset(s, 0, sizeof *s);
}

void em__cookie_scan_feed(em__cookie_scan *s, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    for (size_t i = 0; i < n && !s->bad; i++) {
        unsigned char c = p[i];
        if (!s->ended && c >= ' ' && c <= '~') {
            /* check_cookie/2: printable ASCII, space included, is cookie */
            if (s->len < EM__COOKIE_MAX)
                s->cookie[s->len] = (char)c;
            s->len++;
            continue;
        }
        /* check_cookie1/2: after the cookie only line ends and spaces */
        s->ended = true;
        if (c != '\n' && c != '\r' && c != ' ') {
            s->bad = true;
            s->bad_byte = c;
            s->bad_off = s->off + i;
        }
    }
    s->off += n;
}

int em__cookie_scan_end(em__cookie_scan *s)
{
    /* OTP's order: the characters (check_cookie), then the atom's length
     * (list_to_atom's system_limit). */
    if (s->bad)
        return EM__COOKIE_BAD_CHARS;
    if (s->len == 0)
        return EM__COOKIE_TOO_SHORT;
    if (s->len > EM__COOKIE_MAX)
        return EM__COOKIE_TOO_LONG;
    s->cookie[s->len] = '\0';
    return EM__COOKIE_OK;
}

__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t whycap, const char *fmt, ...)
{
    if (why && whycap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whycap, fmt, ap);
        va_end(ap);
    }
    return EM_EAUTH;
}

/* The reason for a finished scan's refusal, naming `path`. */
static int scan_refusal(const em__cookie_scan *s, int verdict, const char *path, char *why,
                        size_t whycap)
{
    switch (verdict) {
    case EM__COOKIE_BAD_CHARS:
        /* A printable bad byte is on a later line ("abc\ndef"). */
        if (s->bad_byte >= ' ' && s->bad_byte <= '~')
            return refuse(why, whycap,
                          "Bad characters in cookie: '%c' at offset %zu of %s, after the first line (only "
                          "line ends and spaces may follow the cookie)",
                          s->bad_byte, s->bad_off, path);
        return refuse(why, whycap,
                      "Bad characters in cookie: byte 0x%02X at offset %zu of %s (a cookie is printable "
                      "ASCII, spaces included)",
                      s->bad_byte, s->bad_off, path);
    case EM__COOKIE_TOO_SHORT:
        /* Nothing printable first: the file is empty, or begins with a
         * line end (anything else first would be a bad character). */
        if (s->off == 0)
            return refuse(why, whycap, "Too short cookie string: %s is empty", path);
        return refuse(why, whycap, "Too short cookie string: %s begins with a line end", path);
    default:
        assert(verdict == EM__COOKIE_TOO_LONG);
        return refuse(why, whycap,
                      "Cookie in %s is %zu characters long: a cookie is an atom, at most %d characters "
                      "(erl stops with system_limit)",
                      path, s->len, EM__COOKIE_MAX);
    }
}

int em__cookie_parse(const void *buf, size_t n, const char *path, char out[EM__COOKIE_MAX + 1],
                     char *why, size_t whycap)
{
    em__cookie_scan s;
    em__cookie_scan_init(&s);
    em__cookie_scan_feed(&s, buf, n);
    int v = em__cookie_scan_end(&s);
    if (v != EM__COOKIE_OK)
        return scan_refusal(&s, v, path, why, whycap);
    memcpy(out, s.cookie, s.len + 1);
    return 0;
}

/* ---- the file ---- */

/* OTP names errors by their POSIX names in lower case (file:posix()). */
static const char *posix_name(int e)
{
    switch (e) {
    case EACCES: return "eacces";
    case EPERM: return "eperm";
    case ENOENT: return "enoent";
    case ENOTDIR: return "enotdir";
    case EISDIR: return "eisdir";
    case ELOOP: return "eloop";
    case ENAMETOOLONG: return "enametoolong";
    case EIO: return "eio";
    case EMFILE: return "emfile";
    case ENFILE: return "enfile";
    case ENOMEM: return "enomem";
    case ENOSPC: return "enospc";
    case EROFS: return "erofs";
    case EDQUOT: return "edquot";
    case EOVERFLOW: return "eoverflow";
    case EEXIST: return "eexist";
    default: return "error";
    }
}

static int read_error(const char *path, int e, char *why, size_t whycap)
{
    return refuse(why, whycap, "Error when reading %s: %s (%s)", path, posix_name(e), strerror(e));
}

/* check_attributes/4: a regular file, no group or other permission bits. */
static int check_attributes(const char *path, const struct stat *st, char *why, size_t whycap)
{
    if (!S_ISREG(st->st_mode)) {
        const char *type = S_ISDIR(st->st_mode)                           ? "directory"
                           : S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? "device"
                                                                          : "other";
        return refuse(why, whycap, "Cookie file %s is of type %s", path, type);
    }
    if (st->st_mode & 077)
        return refuse(why, whycap, "Cookie file %s must be accessible by owner only (its mode is %04o; chmod 400 it)",
                      path, (unsigned)(st->st_mode & 07777));
    return 0;
}

int em__cookie_read_file(const char *path, char out[EM__COOKIE_MAX + 1], char *why, size_t whycap)
{
    /* The type and mode first, from the path, as OTP does: a FIFO is
     * refused here instead of blocking in open(). */
    struct stat st;
    if (stat(path, &st) < 0)
        return errno == ENOENT ? EM_ENOTFOUND : read_error(path, errno, why, whycap);
    int rc = check_attributes(path, &st, why, whycap);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return read_error(path, errno, why, whycap);
    /* The file opened may not be the one checked (replaced in between). */
    if (fstat(fd, &st) < 0 || (rc = check_attributes(path, &st, why, whycap)) < 0) {
        if (rc == 0)
            rc = read_error(path, errno, why, whycap);
        close(fd);
        return rc;
    }
    /* Read it all in chunks: the cookie may end far into a big file, and
     * a long line must be measured, never cut. */
    em__cookie_scan s;
    em__cookie_scan_init(&s);
    char chunk[4096];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = read_error(path, errno, why, whycap);
            close(fd);
            return rc;
        }
        if (r == 0)
            break;
        em__cookie_scan_feed(&s, chunk, (size_t)r);
        if (s.bad)
            break; /* nothing after it can change the verdict */
    }
    close(fd);
    int v = em__cookie_scan_end(&s);
    if (v != EM__COOKIE_OK)
        return scan_refusal(&s, v, path, why, whycap);
    memcpy(out, s.cookie, s.len + 1);
    return 0;
}

/* dir + "/" + name into out[PATH_MAX]; false if it does not fit. */
static bool join(char *out, const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    const char *sep = dl && dir[dl - 1] == '/' ? "" : "/";
    int n = snprintf(out, PATH_MAX, "%s%s%s", dir, sep, name);
    return n >= 0 && n < PATH_MAX;
}

/* Sets the file's times to the day's midnight, as auth:make_info/1 does so
 * that the file does not tell when its cookie was made.  Best effort. */
static void set_midnight(int fd)
{
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm) == NULL)
        return;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    time_t mid = mktime(&tm);
    if (mid == (time_t)-1)
        return;
    struct timespec ts[2] = {{.tv_sec = mid}, {.tv_sec = mid}};
    (void)futimens(fd, ts);
}

/* Writes the 20 letters to fd, gives it mode 0400 and midnight times. */
static int fill_new(int fd, const char *cookie)
{
    size_t done = 0, n = strlen(cookie);
    while (done < n) {
        ssize_t w = write(fd, cookie + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        done += (size_t)w;
    }
    if (fchmod(fd, 0400) < 0)
        return errno;
    set_midnight(fd);
    return 0;
}

/* create_cookie/1: 20 random letters A..Z in a new file at `path`.  The
 * file is complete before it appears under its name (written under a
 * temporary name, then link()ed, which fails if the name exists): a node
 * starting at the same moment reads either no file or the whole one.
 * When the name exists by then, that file is the cookie. */
static int create_file(const char *path, char out[EM__COOKIE_MAX + 1], char *why, size_t whycap)
{
    char cookie[21];
    for (int i = 0; i < 20; i++) {
        uint32_t v;
        do /* unbiased: drop the top values that 26 does not divide */
            v = em__dist_random32();
        while (v >= UINT32_MAX - UINT32_MAX % 26);
        cookie[i] = (char)('A' + v % 26);
    }
    cookie[20] = '\0';
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp)
        return refuse(why, whycap, "Failed to create cookie file '%s': enametoolong", path);
    int e, fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        return refuse(why, whycap, "Failed to create cookie file '%s': %s (%s)", path, posix_name(e), strerror(e));
    }
    e = fill_new(fd, cookie);
    close(fd);
    if (e == 0 && link(tmp, path) < 0)
        e = errno;
    unlink(tmp);
    if (e == EPERM || e == ENOSYS || e == EOPNOTSUPP) {
        /* A file system without hard links: create it in place instead
         * (a concurrent reader may then see it before it is written). */
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0400);
        e = fd < 0 ? errno : fill_new(fd, cookie);
        if (fd >= 0)
            close(fd);
    }
    if (e == EEXIST) {
        /* Another node made it first: use that one. */
        int rc = em__cookie_read_file(path, out, why, whycap);
        return rc == EM_ENOTFOUND ? read_error(path, ENOENT, why, whycap) : rc;
    }
    if (e != 0)
        return refuse(why, whycap, "Failed to create cookie file '%s': %s (%s)", path, posix_name(e), strerror(e));
    memcpy(out, cookie, sizeof cookie);
    return 0;
}

int em__cookie_load(const char *home, const char *xdg, char out[EM__COOKIE_MAX + 1], char *why,
                    size_t whycap)
{
    if (home == NULL || home[0] == '\0')
        return refuse(why, whycap,
                      "No home for cookie file: HOME is %s (set HOME, or give the cookie: -setcookie or "
                      "em_node_opts.cookie)",
                      home ? "empty" : "not set");
    char hpath[PATH_MAX], base[PATH_MAX], xpath[PATH_MAX];
    if (!join(hpath, home, ".erlang.cookie"))
        return refuse(why, whycap, "Error when reading %s/.erlang.cookie: enametoolong", home);
    int rc = em__cookie_read_file(hpath, out, why, whycap);
    if (rc != EM_ENOTFOUND)
        return rc;
    /* filename:basedir(user_config, "erlang"): an empty XDG_CONFIG_HOME
     * counts as unset; a relative one is taken as it is. */
    if (xdg && xdg[0])
        snprintf(base, sizeof base, "%s", xdg);
    else if (!join(base, home, ".config"))
        base[0] = '\0';
    if (base[0] && join(xpath, base, "erlang/.erlang.cookie")) {
        rc = em__cookie_read_file(xpath, out, why, whycap);
        if (rc != EM_ENOTFOUND)
            return rc;
    }
    /* Neither exists: OTP creates the one in HOME. */
    return create_file(hpath, out, why, whycap);
}

/* ---- -setcookie ---- */

int em__cookie_arg_decode(char *arg, bool utf8, char *why, size_t whycap)
{
    unsigned char *s = (unsigned char *)arg;
    size_t chars = 0;
    if (!utf8) {
        chars = strlen(arg); /* each byte is a Latin-1 character */
    } else {
        /* Check everything before rewriting anything. */
        for (size_t i = 0; s[i];) {
            uint32_t cp;
            size_t n = (size_t)em__utf8_decode(s + i, strlen((const char *)s + i), &cp);
            if (n == 0)
                return refuse(why, whycap,
                              "Cookie given with -setcookie is not valid UTF-8 (byte 0x%02X at offset %zu) "
                              "while the locale's character set is UTF-8 (erl refuses it too)",
                              s[i], i);
            if (cp > 0xFF)
                return refuse(why, whycap,
                              "Cookie given with -setcookie has the character U+%04X, above U+00FF: erl "
                              "accepts it but then cannot connect with it (its digest is badarg)",
                              (unsigned)cp);
            i += n;
            chars++;
        }
    }
    if (chars > EM__COOKIE_MAX)
        return refuse(why, whycap,
                      "Cookie given with -setcookie is %zu characters long: a cookie is an atom, at most %d "
                      "characters (erl stops with system_limit)",
                      chars, EM__COOKIE_MAX);
    /* Rewritten only when it changes (argv may be read-only literals). */
    if (utf8 && chars < strlen(arg)) {
        unsigned char *d = s;
        for (size_t i = 0; s[i];) {
            uint32_t cp;
            size_t n = (size_t)em__utf8_decode(s + i, strlen((const char *)s + i), &cp);
            assert(n > 0 && cp <= 0xFF); /* checked above */
            *d++ = (unsigned char)cp;
            i += n;
        }
        *d = '\0';
    }
    return 0;
}

bool em__cookie_locale_utf8(void)
{
    /* What erl's runtime does (setlocale(LC_CTYPE, "") then CODESET),
     * without touching this process's locale: a locale that is named but
     * not installed leaves "C", whose set is not UTF-8. */
    locale_t loc = newlocale(LC_CTYPE_MASK, "", (locale_t)0);
    if (loc == (locale_t)0)
        return false;
    const char *set = nl_langinfo_l(CODESET, loc);
    bool utf8 = set && strcmp(set, "UTF-8") == 0;
    freelocale(loc);
    return utf8;
}
