/* logcap.h: what a call writes on stderr, captured for a test (Check).
 *
 *     logcap_begin();
 *     ... calls that log ...
 *     int lines = logcap_end("Cannot listen");
 *
 * logcap_begin sends stderr (fd 2) to a file of this process;
 * logcap_end puts it back, echoes each captured line to stderr prefixed
 * "(logged) " (so a failing test still shows them), checks each contains
 * `want` (NULL: any line), removes the file and returns how many lines
 * there were.  Not nestable; one thread. */
#ifndef EM_TESTS_LOGCAP_H
#define EM_TESTS_LOGCAP_H

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int logcap_fd = -1, logcap_saved = -1;
static char logcap_path[64];

static inline void logcap_begin(void)
{
    fflush(stderr);
    snprintf(logcap_path, sizeof logcap_path, "/tmp/ember-test-log.%d", (int)getpid());
    logcap_fd = open(logcap_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(logcap_fd, 0);
    logcap_saved = dup(2);
    dup2(logcap_fd, 2);
}

static inline int logcap_end(const char *want)
{
    fflush(stderr);
    dup2(logcap_saved, 2);
    close(logcap_saved);
    close(logcap_fd);
    FILE *f = fopen(logcap_path, "r");
    ck_assert_ptr_nonnull(f);
    char line[16384];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        fprintf(stderr, "(logged) %s", line);
        if (want)
            ck_assert_msg(strstr(line, want) != NULL, "log line without \"%s\": %s", want, line);
    }
    fclose(f);
    unlink(logcap_path);
    return n;
}

#endif
