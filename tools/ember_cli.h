/* ember_cli.h: what the files of the `ember` command line share (private
 * to tools/: tools/ember.c has main and the term commands, ember_node.c
 * the options of the commands that talk to nodes and ping, names and send,
 * ember_call.c call, rpc and eval). */
#ifndef EMBER_TOOLS_CLI_H
#define EMBER_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <ember.h>

#define EXIT_FAIL 1  /* bad input, or the operation failed */
#define EXIT_USAGE 2 /* bad usage */

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *args;    /* synopsis after the name */
    const char *summary; /* one line */
    const char *detail;  /* shown by `ember help NAME` and `ember NAME --help`; may be NULL */
} command;

extern const char *cli_prog;

/* "ember NAME: MSG[ 'ARG']" and the command's synopsis on stderr;
 * returns EXIT_USAGE. */
int cli_usage_error(const command *c, const char *msg, const char *arg);
/* The command's help on f (as `ember help NAME`). */
void cli_command_help(FILE *f, const command *c);

/* The command called name, or NULL. */
const command *cli_find(const char *name);

/* All of stream f appended to b: 0, or EM_EIO / EM_ENOMEM. */
int cli_read_all(FILE *f, em_buf *b);

/* ---- the node commands' options and node (ember_node.c) ---- */

/* OPTS, as every command that talks to a node takes them. */
typedef struct cli_node_args {
    const char *name;   /* -name/-sname value, or NULL: a unique one */
    bool longnames;     /* -name (with name) */
    const char *cookie; /* NULL: the cookie file */
    int64_t timeout_ms; /* -timeout, > 0 */
    bool inet6;         /* -proto_dist inet6_tcp */
} cli_node_args;

/* Parse OPTS from argv[1..]; *next is the first argument after them.
 * Returns -1 when the command goes on, else the status it exits with at
 * once: 0 after --help (printed), EXIT_USAGE after a usage message. */
int cli_node_opts(const command *c, int argc, char **argv, cli_node_args *a, int *next);

/* Start this command's hidden node for talking to `target` (NULL: none in
 * particular), spawn a process running fn(arg) and wait for it: returns
 * what fn returns (an exit status), or EXIT_FAIL after one line on stderr
 * when the node or the process cannot start.  The node is stopped before
 * it returns. */
int cli_on_node(const command *c, const cli_node_args *a, const char *target, int (*fn)(void *arg), void *arg);

/* In cli_on_node's process: connect to `node` within timeout_ms.  Returns
 * 0, or EXIT_FAIL after printing `out_line` (with a newline; NULL: none)
 * on stdout and one line on stderr saying why (no such node, wrong cookie,
 * bad node name, unreachable). */
int cli_connect(const command *c, const char *node, int64_t timeout_ms, const char *out_line);

/* The commands of ember_node.c. */
int cli_ping(int argc, char **argv);
int cli_names(int argc, char **argv);
int cli_send(int argc, char **argv);

/* The commands of ember_call.c. */
int cli_call(int argc, char **argv);
int cli_rpc(int argc, char **argv);
int cli_eval(int argc, char **argv);

#endif /* EMBER_TOOLS_CLI_H */
