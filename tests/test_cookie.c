/* test_cookie.c: the cookie as OTP 25's auth.erl reads it (net/cookie.c):
 * the content rules, the file checks, where the file is looked for and
 * created, the -setcookie text, and em_node_start's refusal.  What OTP
 * does in each case was seen on a real erl 25 (tests/interop/cookie.sh
 * compares the two on the same files). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cookie.h"
#include "emtest.h"

/* ---- the content ---- */

typedef struct {
    const char *in;
    size_t n;
    int verdict;
    const char *cookie; /* when EM__COOKIE_OK */
} content_case;

#define C(s, v, c) {s, sizeof s - 1, v, c}

/* Each row is what erl 25 made of that file. */
static const content_case contents[] = {
    C("abc", EM__COOKIE_OK, "abc"),
    C("abc\n", EM__COOKIE_OK, "abc"),
    C("abc  \n", EM__COOKIE_OK, "abc  "),         /* trailing spaces are cookie */
    C("  abc\n", EM__COOKIE_OK, "  abc"),         /* so are leading ones */
    C("   ", EM__COOKIE_OK, "   "),              /* only spaces: a cookie */
    C("abc\r\n", EM__COOKIE_OK, "abc"),
    C("abc\n \n\r \n\n", EM__COOKIE_OK, "abc"),  /* line ends, spaces after */
    C("a~b!@#$%^&*()", EM__COOKIE_OK, "a~b!@#$%^&*()"),
    C("abc\t\n", EM__COOKIE_BAD_CHARS, NULL),     /* a tab */
    C("abc\n\t", EM__COOKIE_BAD_CHARS, NULL),     /* a tab after the line */
    C("abc\ndef\n", EM__COOKIE_BAD_CHARS, NULL),  /* a second line */
    C("abc\rdef", EM__COOKIE_BAD_CHARS, NULL),    /* \r ends the cookie too */
    C("ab\0c", EM__COOKIE_BAD_CHARS, NULL),
    C("ab\177c", EM__COOKIE_BAD_CHARS, NULL),     /* DEL */
    C("ab\303\251c", EM__COOKIE_BAD_CHARS, NULL), /* UTF-8 é */
    C("ab\351c", EM__COOKIE_BAD_CHARS, NULL),     /* Latin-1 é */
    C("\tabc", EM__COOKIE_BAD_CHARS, NULL),
    C("", EM__COOKIE_TOO_SHORT, NULL),
    C("\n", EM__COOKIE_TOO_SHORT, NULL),
    C("\r\n  \n", EM__COOKIE_TOO_SHORT, NULL),    /* spaces after a line end */
};

static int scan_all(const char *in, size_t n, size_t piece, em__cookie_scan *s)
{
    em__cookie_scan_init(s);
    for (size_t i = 0; i < n; i += piece)
        em__cookie_scan_feed(s, in + i, n - i < piece ? n - i : piece);
    return em__cookie_scan_end(s);
}

/* Each content gives OTP's cookie or OTP's refusal, whether the file is
 * fed whole, byte by byte or in threes. */
START_TEST(content_rules)
{
    const content_case *k = &contents[_i];
    size_t pieces[] = {k->n ? k->n : 1, 1, 3};
    for (size_t p = 0; p < 3; p++) {
        em__cookie_scan s;
        int v = scan_all(k->in, k->n, pieces[p], &s);
        ck_assert_msg(v == k->verdict, "case %d piece %zu: verdict %d, expected %d", _i, pieces[p], v,
                      k->verdict);
        if (v == EM__COOKIE_OK)
            ck_assert_str_eq(s.cookie, k->cookie);
    }
    char out[EM__COOKIE_MAX + 1], why[EM__COOKIE_WHY_MAX] = "";
    int rc = em__cookie_parse(k->in, k->n, "/h/.erlang.cookie", out, why, sizeof why);
    if (k->verdict == EM__COOKIE_OK) {
        ck_assert_int_eq(rc, 0);
        ck_assert_str_eq(out, k->cookie);
    } else {
        ck_assert_em_err(rc, EM_EAUTH);
        /* OTP's wording, and the path OTP leaves out */
        const char *otp =
            k->verdict == EM__COOKIE_BAD_CHARS ? "Bad characters in cookie" : "Too short cookie string";
        ck_assert_msg(strncmp(why, otp, strlen(otp)) == 0, "why: %s", why);
        ck_assert_msg(strstr(why, "/h/.erlang.cookie") != NULL, "why: %s", why);
        ck_assert(strchr(why, '\n') == NULL);
    }
}
END_TEST

/* The refusal names the first bad byte and where it is. */
START_TEST(content_bad_byte_named)
{
    char out[EM__COOKIE_MAX + 1], why[EM__COOKIE_WHY_MAX];
    ck_assert_em_err(em__cookie_parse("abc\t", 4, "/p", out, why, sizeof why), EM_EAUTH);
    ck_assert_msg(strstr(why, "byte 0x09 at offset 3 of /p") != NULL, "why: %s", why);
    ck_assert_em_err(em__cookie_parse("abc\ndef", 7, "/p", out, why, sizeof why), EM_EAUTH);
    ck_assert_msg(strstr(why, "'d' at offset 4 of /p") != NULL, "why: %s", why);
    ck_assert_em_err(em__cookie_parse("", 0, "/p", out, why, sizeof why), EM_EAUTH);
    ck_assert_msg(strstr(why, "/p is empty") != NULL, "why: %s", why);
}
END_TEST

/* 255 characters is the longest cookie (an atom's limit); 256 is refused,
 * never cut; a bad byte after a long cookie is reported first, as OTP
 * checks the characters before the atom's length. */
START_TEST(content_length)
{
    static char buf[1000];
    char out[EM__COOKIE_MAX + 1], why[EM__COOKIE_WHY_MAX];
    memset(buf, 'a', sizeof buf);
    ck_assert_int_eq(em__cookie_parse(buf, 255, "/p", out, why, sizeof why), 0);
    ck_assert_uint_eq(strlen(out), 255);
    ck_assert_em_err(em__cookie_parse(buf, 256, "/p", out, why, sizeof why), EM_EAUTH);
    ck_assert_msg(strstr(why, "256 characters") && strstr(why, "at most 255"), "why: %s", why);
    /* "abc" and 300 spaces: a 303-character cookie */
    memcpy(buf, "abc", 3);
    memset(buf + 3, ' ', 300);
    ck_assert_em_err(em__cookie_parse(buf, 303, "/p", out, why, sizeof why), EM_EAUTH);
    ck_assert_msg(strstr(why, "303 characters") != NULL, "why: %s", why);
    buf[302] = '\t';
    ck_assert_em_err(em__cookie_parse(buf, 303, "/p", out, why, sizeof why), EM_EAUTH);
    ck_assert_msg(strncmp(why, "Bad characters in cookie", 24) == 0, "why: %s", why);
    /* a short cookie far before the end of a big file */
    memcpy(buf, "abc", 3);
    memset(buf + 3, '\n', sizeof buf - 3);
    ck_assert_int_eq(em__cookie_parse(buf, sizeof buf, "/p", out, why, sizeof why), 0);
    ck_assert_str_eq(out, "abc");
}
END_TEST

/* ---- files ---- */

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/em_cookie_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_dir(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx %s; rm -rf %s", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes dir/rel (making its folders) with content and mode. */
static void put(const char *rel, const char *content, size_t n, mode_t mode)
{
    char path[PATH_MAX], cmd[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname %s)\"", path);
    ck_assert_int_eq(system(cmd), 0);
    unlink(path); /* a 0400 file cannot be opened for writing */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, n), (ssize_t)n);
    close(fd);
    ck_assert_int_eq(chmod(path, mode), 0);
}

static int read_rel(const char *rel, char *out, char *why)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return em__cookie_read_file(path, out, why, EM__COOKIE_WHY_MAX);
}

static void assert_why(const char *why, const char *otp, const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    ck_assert_msg(strstr(why, otp) != NULL, "why: %s (expected \"%s\")", why, otp);
    ck_assert_msg(strstr(why, path) != NULL, "why: %s (expected the path %s)", why, path);
}

/* Owner-only modes are accepted whatever the owner bits (OTP checks only
 * mode & 077); any group or other bit is refused, naming the file. */
START_TEST(file_modes)
{
    make_dir();
    char out[EM__COOKIE_MAX + 1], why[EM__COOKIE_WHY_MAX];
    mode_t ok[] = {0400, 0600, 0700, 04400, 01400};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        put("c", "abc", 3, ok[i]);
        ck_assert_msg(read_rel("c", out, why) == 0, "mode %o: %s", (unsigned)ok[i], why);
        ck_assert_str_eq(out, "abc");
    }
    mode_t bad[] = {0440, 0404, 0444, 0644, 0401, 0410};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put("c", "abc", 3, bad[i]);
        ck_assert_em_err(read_rel("c", out, why), EM_EAUTH);
        char want[PATH_MAX + 64];
        snprintf(want, sizeof want, "Cookie file %s/c must be accessible by owner only", dir);
        ck_assert_msg(strstr(why, want) == why, "mode %o: %s", (unsigned)bad[i], why);
    }
    rm_dir();
}
END_TEST

/* A directory or a FIFO is refused by its type (the FIFO without blocking:
 * nobody writes to it); a missing file is EM_ENOTFOUND (try the next
 * place); a symbolic link is followed. */
START_TEST(file_types)
{
    make_dir();
    char out[EM__COOKIE_MAX + 1], why[EM__COOKIE_WHY_MAX], path[PATH_MAX], target[PATH_MAX];
    snprintf(path, sizeof path, "%s/d", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_em_err(read_rel("d", out, why), EM_EAUTH);
    assert_why(why, "is of type directory", "d");
    ck_assert(strncmp(why, "Cookie file ", 12) == 0);
    snprintf(path, sizeof path, "%s/f", dir);
    ck_assert_int_eq(mkfifo(path, 0400), 0);
    ck_assert_em_err(read_rel("f", out, why), EM_EAUTH);
    assert_why(why, "is of type other", "f");
    ck_assert_em_err(read_rel("missing", out, why), EM_ENOTFOUND);
    put("t", "linked\n", 7, 0400);
    snprintf(path, sizeof path, "%s/l", dir);
    snprintf(target, sizeof target, "%s/t", dir);
    ck_assert_int_eq(symlink(target, path), 0);
    ck_assert_int_eq(read_rel("l", out, why), 0);
    ck_assert_str_eq(out, "linked");
    /* a path through a file: enotdir, an error, not "missing" */
    ck_assert_em_err(read_rel("t/x", out, why), EM_EAUTH);
    assert_why(why, "Error when reading", "t/x");
    ck_assert_msg(strstr(why, "enotdir") != NULL, "why: %s", why);
    rm_dir();
}
END_TEST

/* A file that exists but cannot be read: "Error when reading F: eacces".
 * As root (who reads anything) the read is done by a child that has
 * become nobody. */
START_TEST(file_unreadable)
{
    make_dir();
    put("c", "abc", 3, 0200); /* owner-only, so only the read can fail */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/c", dir);
        if (geteuid() == 0 && (chown(dir, 65534, 65534) < 0 || chown(path, 65534, 65534) < 0 ||
                               setgid(65534) < 0 || setuid(65534) < 0))
            _exit(10);
        char out[EM__COOKIE_MAX + 1], why[EM__COOKIE_WHY_MAX];
        int rc = read_rel("c", out, why);
        _exit(rc == EM_EAUTH && strstr(why, "Error when reading ") && strstr(why, path) &&
                      strstr(why, ": eacces")
                  ? 0
                  : 11);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    rm_dir();
}
END_TEST

/* A cookie file of megabytes: read to its end in chunks, the cookie kept
 * whole; a 256-character line refused, not cut to the buffer. */
START_TEST(file_long)
{
    make_dir();
    size_t n = 3 << 20;
    char *big = malloc(n), out[EM__COOKIE_MAX + 1], why[EM__COOKIE_WHY_MAX];
    ck_assert_ptr_nonnull(big);
    memset(big, '\n', n);
    memcpy(big, "abc", 3);
    put("c", big, n, 0400);
    ck_assert_int_eq(read_rel("c", out, why), 0);
    ck_assert_str_eq(out, "abc");
    big[n - 1] = 'x'; /* a printable byte at the very end: a later line */
    put("c", big, n, 0400);
    ck_assert_em_err(read_rel("c", out, why), EM_EAUTH);
    ck_assert_msg(strstr(why, "Bad characters in cookie") == why, "why: %s", why);
    memset(big, 'k', 5000);
    put("c", big, 256, 0400);
    ck_assert_em_err(read_rel("c", out, why), EM_EAUTH);
    assert_why(why, "256 characters", "c");
    put("c", big, 255, 0400);
    ck_assert_int_eq(read_rel("c", out, why), 0);
    ck_assert_int_eq(memcmp(out, big, 255), 0);
    ck_assert_int_eq(out[255], '\0');
    free(big);
    rm_dir();
}
END_TEST

/* ---- where ---- */

static int load(const char *home_rel, const char *xdg, char *out, char *why)
{
    char home[PATH_MAX];
    snprintf(home, sizeof home, "%s/%s", dir, home_rel);
    return em__cookie_load(home, xdg, out, why, EM__COOKIE_WHY_MAX);
}

/* $HOME/.erlang.cookie wins over the XDG file; without it the XDG file
 * ($XDG_CONFIG_HOME/erlang, else $HOME/.config/erlang) is used; an empty
 * XDG_CONFIG_HOME counts as unset. */
START_TEST(where_order)
{
    make_dir();
    char out[EM__COOKIE_MAX + 1], why[EM__COOKIE_WHY_MAX], xdg[PATH_MAX];
    put("h/.erlang.cookie", "home", 4, 0400);
    put("h/.config/erlang/.erlang.cookie", "xdg", 3, 0400);
    ck_assert_int_eq(load("h", NULL, out, why), 0);
    ck_assert_str_eq(out, "home");
    put("h2/.config/erlang/.erlang.cookie", "xdgonly", 7, 0400);
    ck_assert_int_eq(load("h2", NULL, out, why), 0);
    ck_assert_str_eq(out, "xdgonly");
    ck_assert_int_eq(load("h2", "", out, why), 0);
    ck_assert_str_eq(out, "xdgonly");
    put("x/erlang/.erlang.cookie", "xdgenv", 6, 0400);
    snprintf(xdg, sizeof xdg, "%s/x", dir);
    ck_assert_int_eq(load("h2", xdg, out, why), 0);
    ck_assert_str_eq(out, "xdgenv");
    rm_dir();
}
END_TEST

/* Only "no such file" moves on: a bad $HOME file stops even when the XDG
 * file is good, and a bad XDG file stops (nothing is created). */
START_TEST(where_errors_stop)
{
    make_dir();
    char out[EM__COOKIE_MAX + 1], why[EM__COOKIE_WHY_MAX];
    put("h/.erlang.cookie", "home", 4, 0644);
    put("h/.config/erlang/.erlang.cookie", "xdg", 3, 0400);
    ck_assert_em_err(load("h", NULL, out, why), EM_EAUTH);
    assert_why(why, "must be accessible by owner only", "h/.erlang.cookie");
    put("h2/.config/erlang/.erlang.cookie", "xdg\t", 4, 0400);
    ck_assert_em_err(load("h2", NULL, out, why), EM_EAUTH);
    assert_why(why, "Bad characters in cookie", "h2/.config/erlang/.erlang.cookie");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/h2/.erlang.cookie", dir);
    ck_assert_int_eq(access(path, F_OK), -1);
    rm_dir();
}
END_TEST

/* Neither file: $HOME/.erlang.cookie is created (even when the XDG folder
 * exists) with 20 letters A..Z, mode 0400, times at midnight, nothing
 * else left in HOME; the next load reads the same cookie. */
START_TEST(where_create)
{
    make_dir();
    char out[EM__COOKIE_MAX + 1], again[EM__COOKIE_MAX + 1], why[EM__COOKIE_WHY_MAX], path[PATH_MAX];
    put("h/.config/erlang/keep", "", 0, 0600);
    ck_assert_int_eq(load("h", NULL, out, why), 0);
    ck_assert_uint_eq(strlen(out), 20);
    for (int i = 0; i < 20; i++)
        ck_assert(out[i] >= 'A' && out[i] <= 'Z');
    snprintf(path, sizeof path, "%s/h/.erlang.cookie", dir);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0400);
    ck_assert_int_eq(st.st_size, 20);
    struct tm tm;
    time_t mt = st.st_mtime;
    localtime_r(&mt, &tm);
    ck_assert(tm.tm_hour == 0 && tm.tm_min == 0 && tm.tm_sec == 0);
    snprintf(path, sizeof path, "%s/h/.config/erlang/.erlang.cookie", dir);
    ck_assert_int_eq(access(path, F_OK), -1);
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s/h | wc -l) -eq 2", dir); /* .config, .erlang.cookie */
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(load("h", NULL, again, why), 0);
    ck_assert_str_eq(again, out);
    /* two creations differ (random, not a constant) */
    ck_assert_int_eq(load("h3", NULL, again, why), EM_EAUTH); /* h3 does not exist */
    assert_why(why, "Failed to create cookie file '", "h3/.erlang.cookie");
    ck_assert_msg(strstr(why, "enoent") != NULL, "why: %s", why);
    snprintf(path, sizeof path, "%s/h4", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(load("h4", NULL, again, why), 0);
    ck_assert_str_ne(again, out);
    rm_dir();
}
END_TEST

/* Several processes creating the cookie at the same moment all end with
 * the one cookie, and none reads a half-written file. */
START_TEST(where_create_race)
{
    make_dir();
    for (int round = 0; round < 20; round++) {
        char home[32];
        snprintf(home, sizeof home, "r%d", round);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, home);
        ck_assert_int_eq(mkdir(path, 0700), 0);
        int fds[4][2];
        pid_t pids[4];
        for (int k = 0; k < 4; k++) {
            ck_assert_int_eq(pipe(fds[k]), 0);
            pids[k] = fork();
            ck_assert_int_ge(pids[k], 0);
            if (pids[k] == 0) {
                char out[EM__COOKIE_MAX + 1] = "", why[EM__COOKIE_WHY_MAX] = "";
                int rc = load(home, NULL, out, why);
                dprintf(fds[k][1], "%d %s|%s", rc, out, why);
                _exit(0);
            }
            close(fds[k][1]);
        }
        char first[400] = "";
        for (int k = 0; k < 4; k++) {
            char got[EM__COOKIE_WHY_MAX] = "";
            ssize_t r = read(fds[k][0], got, sizeof got - 1);
            ck_assert_int_gt(r, 0);
            close(fds[k][0]);
            int st;
            waitpid(pids[k], &st, 0);
            ck_assert_msg(strncmp(got, "0 ", 2) == 0, "round %d: %s", round, got);
            if (k == 0)
                snprintf(first, sizeof first, "%s", got);
            else
                ck_assert_str_eq(got, first);
        }
    }
    rm_dir();
}
END_TEST

/* No HOME, or an empty one: refused with a line saying so (erl 25 crashes,
 * or uses /.erlang.cookie). */
START_TEST(where_no_home)
{
    char out[EM__COOKIE_MAX + 1], why[EM__COOKIE_WHY_MAX];
    ck_assert_em_err(em__cookie_load(NULL, "/tmp", out, why, sizeof why), EM_EAUTH);
    ck_assert_msg(strstr(why, "No home for cookie file") == why && strstr(why, "not set"), "why: %s", why);
    ck_assert_em_err(em__cookie_load("", NULL, out, why, sizeof why), EM_EAUTH);
    ck_assert_msg(strstr(why, "No home for cookie file") == why && strstr(why, "empty"), "why: %s", why);
}
END_TEST

/* ---- -setcookie ---- */

/* Under a UTF-8 locale each character becomes its Latin-1 byte; what erl
 * takes (spaces, tabs, newlines, empty) is kept; what it cannot use is
 * refused; without UTF-8 the bytes stay as they are. */
START_TEST(arg_decode)
{
    char why[EM__COOKIE_WHY_MAX], a[1200];
    strcpy(a, "\xc3\xa9t\xc3\xa9");
    ck_assert_int_eq(em__cookie_arg_decode(a, true, why, sizeof why), 0);
    ck_assert_str_eq(a, "\xe9t\xe9");
    strcpy(a, "a b\tc\nd");
    ck_assert_int_eq(em__cookie_arg_decode(a, true, why, sizeof why), 0);
    ck_assert_str_eq(a, "a b\tc\nd");
    strcpy(a, "");
    ck_assert_int_eq(em__cookie_arg_decode(a, true, why, sizeof why), 0);
    ck_assert_str_eq(a, "");
    strcpy(a, "\xe2\x82\xac"); /* € */
    ck_assert_em_err(em__cookie_arg_decode(a, true, why, sizeof why), EM_EAUTH);
    ck_assert_msg(strstr(why, "U+20AC") != NULL, "why: %s", why);
    ck_assert_str_eq(a, "\xe2\x82\xac"); /* untouched when refused */
    strcpy(a, "x\xe9y");                 /* Latin-1 bytes: not UTF-8 */
    ck_assert_em_err(em__cookie_arg_decode(a, true, why, sizeof why), EM_EAUTH);
    ck_assert_msg(strstr(why, "not valid UTF-8") && strstr(why, "offset 1"), "why: %s", why);
    strcpy(a, "\xc0\xa9"); /* overlong */
    ck_assert_em_err(em__cookie_arg_decode(a, true, why, sizeof why), EM_EAUTH);
    strcpy(a, "\xc3");     /* cut */
    ck_assert_em_err(em__cookie_arg_decode(a, true, why, sizeof why), EM_EAUTH);
    strcpy(a, "x\xe9y");
    ck_assert_int_eq(em__cookie_arg_decode(a, false, why, sizeof why), 0);
    ck_assert_str_eq(a, "x\xe9y");
    /* 255 characters of two bytes each fit; 256 do not */
    a[0] = '\0';
    for (int i = 0; i < 255; i++)
        strcat(a, "\xc3\xa9");
    ck_assert_int_eq(em__cookie_arg_decode(a, true, why, sizeof why), 0);
    ck_assert_uint_eq(strlen(a), 255);
    memset(a, 'a', 256);
    a[256] = '\0';
    ck_assert_em_err(em__cookie_arg_decode(a, false, why, sizeof why), EM_EAUTH);
    ck_assert_msg(strstr(why, "256 characters") != NULL, "why: %s", why);
}
END_TEST

/* em_node_args decodes -setcookie by the environment's locale, as erl: a
 * UTF-8 locale that exists (C.UTF-8) decodes, "C" or a locale that is not
 * installed does not. */
START_TEST(args_locale)
{
    const char *locales[] = {"C.UTF-8", "C", "xx_YY.UTF-8"};
    const char *want[] = {"\xe9", "\xc3\xa9", "\xc3\xa9"};
    for (int i = 0; i < 3; i++) {
        setenv("LC_ALL", locales[i], 1);
        char a0[] = "prog", a1[] = "-sname", a2[] = "n", a3[] = "-setcookie", a4[] = "\xc3\xa9";
        char *argv[] = {a0, a1, a2, a3, a4, NULL};
        int argc = 5;
        em_node_opts o;
        em_node_opts_init(&o);
        ck_assert_int_eq(em_node_args(&argc, argv, &o), 0);
        ck_assert_int_eq(argc, 1);
        ck_assert_msg(strcmp(o.cookie, want[i]) == 0, "locale %s", locales[i]);
    }
    setenv("LC_ALL", "C.UTF-8", 1);
    char b0[] = "prog", b1[] = "-setcookie", b2[] = "\xe2\x82\xac", b3[] = "-sname", b4[] = "n";
    char *argv2[] = {b0, b1, b2, b3, b4, NULL};
    int argc2 = 5;
    em_node_opts o2;
    em_node_opts_init(&o2);
    ck_assert_em_err(em_node_args(&argc2, argv2, &o2), EM_EAUTH);
    unsetenv("LC_ALL");
}
END_TEST

/* Several -setcookie flags: erl ignores them all and reads the cookie
 * file, so em_node_args leaves the cookie NULL; one flag is kept. */
START_TEST(args_several_setcookie)
{
    char a0[] = "prog", a1[] = "-setcookie", a2[] = "one", a3[] = "-sname", a4[] = "n", a5[] = "-setcookie",
         a6[] = "two", a7[] = "rest";
    char *argv[] = {a0, a1, a2, a3, a4, a5, a6, a7, NULL};
    int argc = 8;
    em_node_opts o;
    em_node_opts_init(&o);
    ck_assert_int_eq(em_node_args(&argc, argv, &o), 0);
    ck_assert_ptr_null(o.cookie);
    ck_assert_int_eq(argc, 2);
    ck_assert_str_eq(argv[1], "rest");
    char b0[] = "prog", b1[] = "-setcookie", b2[] = "one", b3[] = "-sname", b4[] = "n";
    char *argv2[] = {b0, b1, b2, b3, b4, NULL};
    argc = 5;
    em_node_opts_init(&o);
    ck_assert_int_eq(em_node_args(&argc, argv2, &o), 0);
    ck_assert_str_eq(o.cookie, "one");
}
END_TEST

/* ---- em_node_start ---- */

/* A bad cookie file stops em_node_start with EM_EAUTH and exactly one log
 * line, in OTP's wording with the path; no node is left running.  A cookie
 * argument over 255 bytes is EM_EAUTH too. */
START_TEST(start_refused)
{
    make_dir();
    put("h/.erlang.cookie", "abc\t\n", 5, 0400);
    char home[PATH_MAX], logp[PATH_MAX];
    snprintf(home, sizeof home, "%s/h", dir);
    snprintf(logp, sizeof logp, "%s/log", dir);
    setenv("HOME", home, 1);
    fflush(stderr);
    int saved = dup(2), lfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(lfd, 0);
    dup2(lfd, 2);
    em_node_opts o;
    em_node_opts_init(&o);
    o.name = "cookietest";
    o.no_epmd_start = true;
    o.epmd_port = 1; /* never reached */
    int rc = em_node_start_opts(&o);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(lfd);
    ck_assert_em_err(rc, EM_EAUTH);
    ck_assert_em_err(em_node_port(), EM_ESTATE);
    FILE *f = fopen(logp, "r");
    ck_assert_ptr_nonnull(f);
    char line[EM__COOKIE_WHY_MAX + 200], want[2 * PATH_MAX];
    int lines = 0;
    snprintf(want, sizeof want, "Bad characters in cookie: byte 0x09 at offset 3 of %s/.erlang.cookie", home);
    while (fgets(line, sizeof line, f)) {
        lines++;
        ck_assert_msg(strstr(line, want) != NULL, "log: %s", line);
    }
    fclose(f);
    ck_assert_int_eq(lines, 1);
    char longc[300];
    memset(longc, 'a', 256);
    longc[256] = '\0';
    o.cookie = longc;
    o.quiet = true;
    ck_assert_em_err(em_node_start_opts(&o), EM_EAUTH);
    rm_dir();
}
END_TEST

static Suite *cookie_suite(void)
{
    Suite *s = suite_create("cookie");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, content_rules, 0, (int)(sizeof contents / sizeof contents[0]));
    tcase_add_test(tc, content_bad_byte_named);
    tcase_add_test(tc, content_length);
    tcase_add_test(tc, file_modes);
    tcase_add_test(tc, file_types);
    tcase_add_test(tc, file_unreadable);
    tcase_add_test(tc, file_long);
    tcase_add_test(tc, where_order);
    tcase_add_test(tc, where_errors_stop);
    tcase_add_test(tc, where_create);
    tcase_add_test(tc, where_create_race);
    tcase_add_test(tc, where_no_home);
    tcase_add_test(tc, arg_decode);
    tcase_add_test(tc, args_locale);
    tcase_add_test(tc, args_several_setcookie);
    tcase_add_test(tc, start_refused);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(cookie_suite)
