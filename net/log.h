/* log.h: the one formatter of ember's log lines on standard error.
 * Private to ember (net/).
 *
 * A line is "<head> <message>\n".  Heads in use, one place each:
 *   "=ember dist <node>="          the node (dist_tab.c, em__dist_log)
 *   "ember-epmd: <local time>:"    the port mapper (epmd_srv.c, as epmd -d)
 * A file of its own, and not beside em__dist_log, because the port mapper
 * server is linked into ember-epmd without the runtime that the
 * distribution brings. */
#ifndef EM_NET_LOG_H
#define EM_NET_LOG_H

#include <stdarg.h>

/* Write one line, head, a space, the message formatted from fmt, and a
 * newline, to stderr with one stdio call, so that lines of several threads
 * never interleave.  The whole message is written: a message over 600
 * bytes is formatted into a malloc'd buffer (cut at 600 bytes only if that
 * fails).  Yields: no.  Allocates: only for a message over 600 bytes.
 * Thread: any. */
void em__log_line(const char *head, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void em__log_vline(const char *head, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif /* EM_NET_LOG_H */
