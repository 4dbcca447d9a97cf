/* ember: the command-line tool.
 *
 *   ember encode [-d] 'TERM TEXT'   term_to_binary bytes as lowercase hex
 *   ember decode [-w] HEX... | -    the term as ~p (or ~w) on one line
 *   ember ping [OPTS] NODE          pong or pang (ember_node.c)
 *   ember names [OPTS] [HOST]       the nodes a port mapper knows
 *   ember send [OPTS] NODE NAME TERM
 *   ember call [OPTS] NODE NAME REQUEST  gen_server:call (ember_call.c)
 *   ember rpc [OPTS] NODE MOD FUN [ARGS] rpc:call
 *   ember eval [OPTS] NODE EXPRS        Erlang expressions' value
 *   ember help [COMMAND]
 *
 * Subcommands live in one table (COMMANDS below): to add one, write a
 * function `int (int argc, char **argv)` (argv[0] is the subcommand's
 * name; return an exit status) and add a row.  The commands that talk to
 * nodes are in ember_node.c (their options, ping, names, send) and
 * ember_call.c (call, rpc, eval).
 *
 * Exit status: 0 success, 1 bad input or a failed operation (a term that
 * does not parse or decode, a node that does not answer, a call that
 * fails), 2 bad usage. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember.h>

#include "ember_cli.h"

#define EXIT_BADINPUT EXIT_FAIL

const char *cli_prog = "ember";
#define prog cli_prog

static int cmd_encode(int argc, char **argv);
static int cmd_decode(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const command COMMANDS[] = {
    {"encode", cmd_encode, "[-d] 'TERM TEXT' | -",
     "print term_to_binary(TERM) as lowercase hex",
     "Parses Erlang term syntax (atoms, integers, floats, strings, tuples,\n"
     "lists, binaries, maps, local pids) and prints the external term format\n"
     "bytes, byte-identical to OTP 25's term_to_binary/1, as lowercase hex\n"
     "with no separators.  '-' reads the text from standard input.\n"
     "  -d  distribution mode: every atom as a UTF-8 atom tag\n"},
    {"decode", cmd_decode, "[-w] HEX... | -",
     "print the term encoded by HEX as ~p on one line",
     "Decodes external term format bytes given as hex (whitespace ignored;\n"
     "several arguments are joined) and prints the term as\n"
     "io_lib:format(\"~p\", [T]) would on one line.\n"
     "'-' reads the raw bytes (not hex) from standard input.\n"
     "  -w  print as ~w instead of ~p\n"},
    {"ping", cli_ping, "[OPTS] NODE", "pong if NODE answers, else pang and why",
     "Connects to NODE as net_adm:ping does and prints pong (exit 0), or pang\n"
     "(exit 1) with one line on stderr saying why: no such node (its host's\n"
     "port mapper does not know it), wrong cookie, unreachable.\n"
     "OPTS:\n"
     "  -name N | -sname N   this command's node name (default: a unique hidden\n"
     "                       name of NODE's kind, long when NODE's host has a dot,\n"
     "                       is an IP address or is localhost)\n"
     "  -setcookie C | -c C  the cookie (default: the cookie file, as erl reads it)\n"
     "  -timeout MS          how long to wait for NODE (default 10000)\n"
     "  -proto_dist inet6_tcp  reach NODE over IPv6 (the port mapper on ::1), as\n"
     "                       erl's flag; inet_tcp (IPv4) is the default\n"
     "Example: ember ping -c abc node2@localhost\n"},
    {"names", cli_names, "[OPTS] [HOST]", "the nodes HOST's port mapper knows",
     "Prints the port mapper's NAMES listing for HOST (default localhost) as\n"
     "`epmd -names` prints it: one `name N at port P` line per node.  The port\n"
     "mapper's port is $ERL_EPMD_PORT, else 4369.  OPTS as for ping (-timeout).\n"
     "Example: ember names\n"},
    {"send", cli_send, "[OPTS] NODE NAME TERM", "send TERM to {NAME, NODE}",
     "Parses TERM (Erlang term syntax, as for encode), connects to NODE and\n"
     "sends TERM to the process registered as NAME there ({NAME, NODE} ! TERM);\n"
     "exits once NODE has it (a round trip after the send).  A name that is\n"
     "not registered there drops the message, as in Erlang.  OPTS as for ping.\n"
     "Example: ember send -c abc node2@localhost receiver '{hello, 42}'\n"},
    {"call", cli_call, "[OPTS] NODE NAME REQUEST", "gen_server:call({NAME, NODE}, REQUEST)",
     "Parses REQUEST (Erlang term syntax, as for encode), connects to NODE and\n"
     "calls the process registered there as NAME as gen_server:call({NAME, NODE},\n"
     "REQUEST, Timeout) does, then prints the reply as decode prints a term (~p\n"
     "on one line), exit 0.  When the call fails: exit 1 and one line on stderr\n"
     "saying which: noproc (nothing registered as NAME there), timeout, nodedown\n"
     "(no such node, wrong cookie, unreachable, or the connection lost during\n"
     "the call), or the server's exit reason when it exited during the call.\n"
     "OPTS as for ping; -timeout MS bounds the whole command (connecting and\n"
     "the call).\n"
     "Example: ember call -c abc kv@localhost kv '{put, a, 1}'\n"
     "         ok\n"},
    {"rpc", cli_rpc, "[OPTS] NODE MOD FUN [ARGS]", "rpc:call(NODE, MOD, FUN, ARGS)",
     "Connects to NODE and calls MOD:FUN with the arguments ARGS there, as\n"
     "rpc:call(NODE, MOD, FUN, ARGS, Timeout) does (ARGS: an Erlang list in term\n"
     "syntax, as for encode; default []), and prints what rpc:call returns as\n"
     "decode prints a term.  Exit 0 with the value.  When rpc:call would return\n"
     "{badrpc, Reason}, that tuple is printed on stdout, one line on stderr says\n"
     "why, and the exit status is 1:\n"
     "  {badrpc,{'EXIT',{undef,[{M,F,Args,[]}]}}}  no such function\n"
     "  {badrpc,{'EXIT',{Reason,Stack}}}           it raised an error\n"
     "  {badrpc,{'EXIT',Reason}}                   it exited, or was killed\n"
     "  {badrpc,timeout}                           no answer within -timeout\n"
     "  {badrpc,nodedown}                          NODE cannot be reached (no\n"
     "                                             such node, wrong cookie) or\n"
     "                                             went down during the call\n"
     "As with rpc:call, a value thrown (throw/1) is returned as the value.\n"
     "OPTS as for ping; -timeout MS bounds the whole command.\n"
     "Example: ember rpc -c abc node2@localhost lists seq '[1, 5]'\n"
     "         [1,2,3,4,5]\n"},
    {"eval", cli_eval, "[OPTS] NODE EXPRS", "the value of Erlang expressions on NODE",
     "Evaluates EXPRS on the Erlang node NODE as erl_call -e does, and prints the\n"
     "value of the last expression as decode prints a term (42 where erl_call\n"
     "prints {ok, 42}).  EXPRS: Erlang expressions separated by commas (what the\n"
     "shell takes before its '.'; the final '.' may be left out); '-' reads them\n"
     "from standard input.  A variable bound by one expression is seen by the\n"
     "next.  NODE scans, parses and evaluates them (erl_scan:string/2,\n"
     "erl_parse:parse_exprs/1, erl_eval:exprs/2 called there), so every module\n"
     "of NODE is at hand; what the expressions print (io:format) is printed\n"
     "here.  Exit 1 and one line on stderr for a syntax error (with its line and\n"
     "column) or an exception.  OPTS as for ping; -timeout MS bounds the whole\n"
     "command.\n"
     "Example: ember eval -c abc node2@localhost 'X = 6, Y = 7, X * Y.'\n"
     "         42\n"},
    {"help", cmd_help, "[COMMAND]", "show this help, or a command's help", NULL},
};
#define NCOMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

const command *cli_find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(COMMANDS[i].name, name) == 0) return &COMMANDS[i];
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: %s COMMAND [ARGS]\n\ncommands:\n", prog);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char syn[64];
        snprintf(syn, sizeof syn, "%s %s", COMMANDS[i].name, COMMANDS[i].args);
        fprintf(f, "  %-31s %s\n", syn, COMMANDS[i].summary);
    }
    fprintf(f, "\nRun '%s help COMMAND' for details.\n", prog);
}

int cli_usage_error(const command *c, const char *msg, const char *arg)
{
    fprintf(stderr, "%s: %s: %s", prog, c->name, msg);
    if (arg) fprintf(stderr, " '%s'", arg);
    fprintf(stderr, "\nusage: %s %s %s\n", prog, c->name, c->args);
    return EXIT_USAGE;
}

/* ---- helpers ------------------------------------------------------------ */

int cli_read_all(FILE *f, em_buf *b)
{
    for (;;) {
        int rc = em_buf_reserve(b, 65536);
        if (rc < 0) return rc;
        size_t n = fread(b->data + b->len, 1, b->cap - b->len, f);
        b->len += n;
        if (n == 0) return ferror(f) ? EM_EIO : 0;
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode hex text (whitespace ignored) into b.  0, EM_ENOMEM, or EM_EINVAL
 * with *bad set to the offset of the offending character (len for an odd
 * digit count). */
static int unhex(const char *s, size_t len, em_buf *b, size_t *bad)
{
    if (em_buf_reserve(b, len / 2 + 1) < 0) {
        *bad = 0;
        return EM_ENOMEM;
    }
    int hi = -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (isspace(ch)) continue;
        int v = hexval(ch);
        if (v < 0) {
            *bad = i;
            return EM_EINVAL;
        }
        if (hi < 0) {
            hi = v;
        } else {
            b->data[b->len++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0) {
        *bad = len;
        return EM_EINVAL;
    }
    return 0;
}

static void put_hex(FILE *f, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char chunk[1024];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        chunk[k++] = digits[p[i] >> 4];
        chunk[k++] = digits[p[i] & 15];
        if (k == sizeof chunk) {
            fwrite(chunk, 1, k, f);
            k = 0;
        }
    }
    fwrite(chunk, 1, k, f);
}

static void report_parse_error(const char *what, int rc,
                               const em_parse_error *pe)
{
    if (rc == EM_ESYNTAX)
        fprintf(stderr,
                "%s: %s: syntax error at line %d, column %d (byte %zu): %s\n",
                prog, what, pe->line, pe->column, pe->offset, pe->reason);
    else
        fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, em_strerror(rc),
                em_err_name(rc));
}

/* ---- encode ------------------------------------------------------------- */

static int cmd_encode(int argc, char **argv)
{
    const command *c = cli_find("encode");
    /* Only known options are options: term text may start with '-'. */
    int flags = 0, i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "-d") == 0 || strcmp(argv[i], "--dist") == 0)
            flags |= EM_ETF_DIST;
        else
            break;
    }
    if (argc - i != 1) return cli_usage_error(c, "expected one TERM TEXT argument", NULL);

    em_buf text = EM_BUF_INIT;
    const char *src = argv[i];
    size_t srclen = strlen(src);
    if (strcmp(src, "-") == 0) {
        int rc = cli_read_all(stdin, &text);
        if (rc < 0) {
            fprintf(stderr, "%s: encode: reading standard input: %s\n", prog,
                    em_strerror(rc));
            em_buf_free(&text);
            return EXIT_BADINPUT;
        }
        src = (const char *)text.data;
        srclen = text.len;
        if (src == NULL) src = "";
    }

    em_term t = EM_NONE;
    em_parse_error pe;
    memset(&pe, 0, sizeof pe);
    int rc = em_parse_term(src, srclen, &t, &pe);
    em_buf_free(&text);
    if (rc < 0) {
        report_parse_error("encode", rc, &pe);
        return EXIT_BADINPUT;
    }
    em_buf out = EM_BUF_INIT;
    rc = em_etf_encode(&out, t, flags);
    em_drop(t);
    if (rc < 0) {
        fprintf(stderr, "%s: encode: %s (%s)\n", prog, em_strerror(rc),
                em_err_name(rc));
        em_buf_free(&out);
        return EXIT_BADINPUT;
    }
    put_hex(stdout, out.data, out.len);
    putchar('\n');
    em_buf_free(&out);
    return fflush(stdout) == 0 ? 0 : EXIT_BADINPUT;
}

/* ---- decode ------------------------------------------------------------- */

static int cmd_decode(int argc, char **argv)
{
    const command *c = cli_find("decode");
    int mode = EM_PRINT_P, i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "-w") == 0)
            mode = EM_PRINT_W;
        else if (strcmp(argv[i], "-p") == 0)
            mode = EM_PRINT_P;
        else
            return cli_usage_error(c, "unknown option", argv[i]);
    }
    if (argc - i < 1)
        return cli_usage_error(c, "expected HEX, or - to read bytes from stdin", NULL);

    em_buf bytes = EM_BUF_INIT;
    int rc;
    if (strcmp(argv[i], "-") == 0) {
        if (argc - i != 1)
            return cli_usage_error(c, "nothing may follow '-'", NULL);
        rc = cli_read_all(stdin, &bytes);
        if (rc < 0) {
            fprintf(stderr, "%s: decode: reading standard input: %s\n", prog,
                    em_strerror(rc));
            em_buf_free(&bytes);
            return EXIT_BADINPUT;
        }
    } else {
        /* The hex may come in several arguments (as `xxd -p` splits it). */
        for (; i < argc; i++) {
            size_t bad = 0, n = strlen(argv[i]);
            rc = unhex(argv[i], n, &bytes, &bad);
            if (rc == EM_ENOMEM) {
                fprintf(stderr, "%s: decode: %s\n", prog, em_strerror(rc));
                em_buf_free(&bytes);
                return EXIT_BADINPUT;
            }
            if (rc < 0) {
                if (bad == n)
                    fprintf(stderr, "%s: decode: odd number of hex digits in '%s'\n",
                            prog, argv[i]);
                else
                    fprintf(stderr,
                            "%s: decode: not a hex digit at character %zu of '%s': '%c'\n",
                            prog, bad + 1, argv[i], argv[i][bad]);
                em_buf_free(&bytes);
                return EXIT_BADINPUT;
            }
        }
    }
    if (bytes.len == 0) {
        fprintf(stderr, "%s: decode: no input bytes\n", prog);
        em_buf_free(&bytes);
        return EXIT_BADINPUT;
    }

    em_term t = EM_NONE;
    rc = em_etf_decode(bytes.data, bytes.len, NULL, NULL, &t);
    size_t nbytes = bytes.len;
    em_buf_free(&bytes);
    if (rc < 0) {
        fprintf(stderr, "%s: decode: %s (%s) in %zu bytes of input\n", prog,
                em_strerror(rc), em_err_name(rc), nbytes);
        return EXIT_BADINPUT;
    }
    em_buf out = EM_BUF_INIT;
    rc = em_print_buf(&out, t, mode);
    em_drop(t);
    if (rc < 0) {
        fprintf(stderr, "%s: decode: printing: %s\n", prog, em_strerror(rc));
        em_buf_free(&out);
        return EXIT_BADINPUT;
    }
    if (out.len) fwrite(out.data, 1, out.len, stdout);
    putchar('\n');
    em_buf_free(&out);
    return fflush(stdout) == 0 ? 0 : EXIT_BADINPUT;
}

/* ---- help --------------------------------------------------------------- */

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    const command *c = cli_find(argv[1]);
    if (c == NULL) {
        fprintf(stderr, "%s: help: unknown command '%s'\n", prog, argv[1]);
        return EXIT_USAGE;
    }
    cli_command_help(stdout, c);
    return 0;
}

void cli_command_help(FILE *f, const command *c)
{
    fprintf(f, "usage: %s %s %s\n\n%s\n", prog, c->name, c->args, c->summary);
    if (c->detail) fprintf(f, "\n%s", c->detail);
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) name = "help";
    const command *c = cli_find(name);
    if (c == NULL) {
        fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        cli_command_help(stdout, c);
        return 0;
    }
    return c->run(argc - 1, argv + 1);
}
