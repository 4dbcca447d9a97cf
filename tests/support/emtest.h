/* emtest.h: shared helpers for ember's Check tests.
 * Every tests/test_<module>.c defines `Suite *<module>_suite(void)` and ends
 * with EM_TEST_MAIN(<module>_suite), which runs it in Check's fork mode. */
#ifndef EM_TESTS_EMTEST_H
#define EM_TESTS_EMTEST_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <ember.h>

/* EM_TEST_UNDER_TSAN: 1 in ThreadSanitizer builds, where every process is
 * a TSan fiber (TSan allows about 8,000), so the million-process test scales
 * down there. */
#if defined(__SANITIZE_THREAD__)
#define EM_TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EM_TEST_UNDER_TSAN 1
#endif
#endif
#ifndef EM_TEST_UNDER_TSAN
#define EM_TEST_UNDER_TSAN 0
#endif

/* Assert an ember call succeeded (>= 0), printing the error name if not. */
#define ck_assert_em_ok(expr)                                                  \
    do {                                                                       \
        int em_rc_ = (int)(expr);                                              \
        ck_assert_msg(em_rc_ >= 0, "%s failed: %s (%s)", #expr,                \
                      em_err_name(em_rc_), em_strerror(em_rc_));               \
    } while (0)

/* Assert an ember call failed with exactly `code`. */
#define ck_assert_em_err(expr, code)                                           \
    do {                                                                       \
        int em_rc_ = (int)(expr);                                              \
        ck_assert_msg(em_rc_ == (code), "%s returned %s, expected %s", #expr,  \
                      em_rc_ >= 0 ? "success" : em_err_name(em_rc_),          \
                      em_err_name(code));                                      \
    } while (0)

/* Fork mode always, whatever CK_FORK says: the runtime's tests start and
 * end a runtime per test and count their checks in globals (rttest.h),
 * the node's start a node, so they rely on a fresh process per test; with
 * CK_FORK=no most of them failed, each for a reason that hid this one.
 * To debug one test, run it forked under gdb with `set follow-fork-mode
 * child` (valgrind follows forks by itself). */
#define EM_TEST_MAIN(suite_fn)                                                 \
    int main(void)                                                             \
    {                                                                          \
        const char *ck_fork_ = getenv("CK_FORK");                              \
        if (ck_fork_ != NULL && ck_fork_[0] == 'n')                            \
            fputs("emtest: CK_FORK=no ignored: these tests need a process "    \
                  "per test (tests/support/emtest.h)\n", stderr);              \
        SRunner *sr = srunner_create(suite_fn());                              \
        srunner_set_fork_status(sr, CK_FORK);                                  \
        srunner_run_all(sr, CK_NORMAL);                                        \
        int nf = srunner_ntests_failed(sr);                                    \
        srunner_free(sr);                                                      \
        return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                          \
    }

#endif /* EM_TESTS_EMTEST_H */
