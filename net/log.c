/* log.c: ember's log lines on standard error (see log.h). */
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

void em__log_vline(const char *head, const char *fmt, va_list ap)
{
    char small[600];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    char *line = small;
    if (n >= (int)sizeof small) {
        char *big = malloc((size_t)n + 1);
        if (big != NULL) {
            vsnprintf(big, (size_t)n + 1, fmt, again);
            line = big;
        }
    }
    va_end(again);
    fprintf(stderr, "%s %s\n", head, n < 0 ? "(unprintable log line)" : line);
    if (line != small)
        free(line);
}

void em__log_line(const char *head, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    em__log_vline(head, fmt, ap);
    va_end(ap);
}
