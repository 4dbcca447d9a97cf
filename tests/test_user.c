/* test_user.c: the node's `user` io server (net/user.c): what it writes to
 * stdout for an io request, and what it answers.  Requests come from any
 * process or node, so a request it refuses writes nothing. */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "peertest.h"
#include "rttest.h"

#define A(s) em_atom(s)

static int out_pipe[2];
static int saved_stdout = -1;

/* stdout into a pipe, non-blocking on its read end. */
static void capture_stdout(void)
{
    fflush(stdout);
    ck_assert_int_eq(pipe(out_pipe), 0);
    fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
    saved_stdout = dup(1);
    dup2(out_pipe[1], 1);
}

static void restore_stdout(void)
{
    fflush(stdout);
    dup2(saved_stdout, 1);
    close(saved_stdout);
    close(out_pipe[1]);
}

/* What was written since the last call (NUL-terminated, static). */
static const char *written(void)
{
    static char buf[512];
    fflush(stdout);
    ssize_t n = read(out_pipe[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* The reply of `user` to one io request (request taken), or EM_NONE. */
static em_term io(em_term request)
{
    em_term ref = em_make_ref(), reply;
    em_send(em_whereis(A("user")), em_tuple(4, A("io_request"), em_self(), em_dup(ref), request));
    int rc = em_receive_ref(5000, ref, "{io_reply, Ref, Reply}", &reply);
    em_drop(ref);
    return rc == 0 ? em_dup(reply) : EM_NONE;
}

static bool io_is(em_term request, const char *want_reply, const char *want_out)
{
    em_term r = io(request), w = em_parse(want_reply);
    bool same = r != EM_NONE && em_equal(r, w);
    const char *out = written();
    if (!same || strcmp(out, want_out) != 0) {
        char got[100] = "none";
        if (r != EM_NONE)
            em_print(got, sizeof got, r, EM_PRINT_W);
        fprintf(stderr, "reply %s (want %s), wrote \"%s\" (want \"%s\")\n", got, want_reply, out, want_out);
        same = false;
    }
    em_drop(r);
    em_drop(w);
    return same;
}

static void requests(void *arg)
{
    (void)arg;
    CHECK(io_is(em_tuple(3, A("put_chars"), A("unicode"), em_binary("abc", 3)), "ok", "abc"));
    /* refused: nothing of it is written */
    CHECK(io_is(em_tuple(3, A("put_chars"), A("unicode"), em_list(2, em_binary("abc", 3), em_tuple(1, A("x")))),
                "{error, enotsup}", ""));
    /* ~s of what is no chardata: the term, not its head and then the term */
    CHECK(io_is(em_parse("{put_chars, unicode, io_lib, format, [\"<~s>\", [[65, {x}]]]}"), "ok", "<[65,{x}]>"));
    /* `*` takes its width from the arguments (widths are read and not
     * applied, user.c says) */
    CHECK(io_is(em_parse("{put_chars, unicode, io_lib, format, [\"~*w|~w\", [5, a, b]]}"), "ok", "a|b"));
    em_stop(0);
}

/* A request `user` refuses writes nothing; an argument of ~s that is no
 * chardata is printed as a term, once; `*` takes an argument. */
START_TEST(user_writes_what_it_accepts_and_nothing_else)
{
    capture_stdout();
    peertest_node_start();
    em_spawn(requests, NULL);
    ck_assert_int_eq(em_run(), 0);
    restore_stdout();
    ck_assert_int_eq(ok_count, 4);
    epmd_stop();
}
END_TEST

static Suite *user_suite(void)
{
    Suite *s = suite_create("user");
    TCase *tc = tcase_create("user");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, user_writes_what_it_accepts_and_nothing_else);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(user_suite)
