/* ember_cli.h: what the files of the `ember` command line share (private
 * to tools/: tools/ember.c has main and the term commands, ember_node.c
 * the commands that talk to nodes). */
#ifndef EMBER_TOOLS_CLI_H
#define EMBER_TOOLS_CLI_H

#include <stdio.h>

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

/* The commands of ember_node.c. */
int cli_ping(int argc, char **argv);
int cli_names(int argc, char **argv);
int cli_send(int argc, char **argv);

#endif /* EMBER_TOOLS_CLI_H */
