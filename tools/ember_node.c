/* ember_node.c: the options every `ember` command that talks to a node
 * takes, the node such a command runs, and the commands ping, names and
 * send (call, rpc and eval are in ember_call.c).  OPTS:
 *
 *   -name N | -sname N   this command's own node name (default: a unique
 *                        hidden name of the target's kind: long when the
 *                        target's host has a dot, is an IP address or is
 *                        localhost, and then on that same host when it is
 *                        an IP address or localhost)
 *   -setcookie C | -c C  the cookie (default: the cookie file, as erl
 *                        reads it)
 *   -timeout MS          how long to wait for the other node (default
 *                        10000; for call, rpc and eval: for the node and
 *                        its answer, in all)
 *   -proto_dist inet6_tcp | inet_tcp
 *                        talk to the node over IPv6 (as erl's flag; the
 *                        port mapper is then reached on ::1) or IPv4, the
 *                        default
 *
 * The node this command starts is hidden, as erl_call's is, and needs a
 * port mapper running here (it starts none: a one-shot command leaves no
 * daemon behind).  Exit status:
 * 0 success, 1 failure (with one line on stderr saying why), 2 bad usage.
 * Each command's work runs in an ember process (node calls yield:
 * cli_on_node), whose status em_stop hands to em_run and main. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ember.h>

#include "ember_cli.h"

#define DEFAULT_TIMEOUT_MS 10000

int cli_node_opts(const command *c, int argc, char **argv, cli_node_args *a, int *next)
{
    a->name = NULL;
    a->longnames = false;
    a->cookie = NULL;
    a->timeout_ms = DEFAULT_TIMEOUT_MS;
    a->inet6 = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        const char *o = argv[i];
        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            cli_command_help(stdout, c);
            return 0;
        }
        bool has_value = i + 1 < argc;
        if (strcmp(o, "-name") == 0 || strcmp(o, "-sname") == 0) {
            if (!has_value)
                return cli_usage_error(c, "missing the node name after", o);
            a->name = argv[++i];
            a->longnames = o[1] == 'n';
        } else if (strcmp(o, "-setcookie") == 0 || strcmp(o, "-c") == 0) {
            if (!has_value)
                return cli_usage_error(c, "missing the cookie after", o);
            a->cookie = argv[++i];
        } else if (strcmp(o, "-timeout") == 0) {
            char *end;
            long long v = has_value ? strtoll(argv[i + 1], &end, 10) : -1;
            if (!has_value || *argv[i + 1] == '\0' || *end != '\0' || v <= 0)
                return cli_usage_error(c, "-timeout wants a number of milliseconds > 0", has_value ? argv[i + 1] : NULL);
            a->timeout_ms = v;
            i++;
        } else if (strcmp(o, "-proto_dist") == 0) {
            if (has_value && strcmp(argv[i + 1], "inet6_tcp") == 0)
                a->inet6 = true;
            else if (has_value && strcmp(argv[i + 1], "inet_tcp") == 0)
                a->inet6 = false;
            else
                return cli_usage_error(c, "-proto_dist wants inet_tcp or inet6_tcp", has_value ? argv[i + 1] : NULL);
            i++;
        } else {
            return cli_usage_error(c, "unknown option", o);
        }
    }
    *next = i;
    return -1;
}

/* A node name's host: an IP address (v4 or v6) or localhost, which the
 * command's own name then shares. */
static bool host_is_local_kind(const char *host)
{
    if (strcmp(host, "localhost") == 0 || strchr(host, ':'))
        return true;
    for (const char *p = host; *p; p++)
        if (!isdigit((unsigned char)*p) && *p != '.')
            return false;
    return *host != '\0';
}

static char own_name[300];

/* Start this command's hidden node for talking to `target` (NULL: none in
 * particular).  Returns 0, or EXIT_FAIL after one line on stderr. */
static int node_up(const command *c, const cli_node_args *a, const char *target)
{
    em_node_opts o;
    em_node_opts_init(&o);
    o.quiet = true;        /* failures are reported here, one line each */
    o.no_epmd_start = true; /* a client command leaves no daemon behind */
    o.published = false;   /* hidden, as erl_call's node */
    o.cookie = a->cookie;
    o.inet6 = a->inet6;
    if (a->name) {
        o.name = a->name;
        o.longnames = a->longnames;
    } else {
        const char *at = target ? strchr(target, '@') : NULL;
        const char *host = at ? at + 1 : "";
        o.longnames = strchr(host, '.') != NULL || host_is_local_kind(host);
        if (o.longnames && host_is_local_kind(host))
            snprintf(own_name, sizeof own_name, "ember_%ld@%s", (long)getpid(), host);
        else
            snprintf(own_name, sizeof own_name, "ember_%ld", (long)getpid());
        o.name = own_name;
    }
    int rc = em_node_start_opts(&o);
    if (rc < 0) {
        fprintf(stderr, "%s: %s: cannot start this command's node %s: %s\n", cli_prog, c->name, o.name,
                em_strerror(rc));
        return EXIT_FAIL;
    }
    return 0;
}

/* What a failed connection means, in the words a user looks for. */
static const char *why_word(int rc)
{
    switch (rc) {
    case EM_ENOTFOUND:
        return "no such node";
    case EM_EAUTH:
        return "wrong cookie";
    case EM_EINVAL:
        return "bad node name";
    default:
        return "unreachable";
    }
}

int cli_connect(const command *c, const char *node, int64_t timeout_ms, const char *out_line)
{
    char why[200];
    int rc = em_node_connect(em_atom(node), timeout_ms, why, sizeof why);
    if (rc == 0)
        return 0;
    if (out_line)
        printf("%s\n", out_line);
    fprintf(stderr, "%s: %s: %s: %s (%s)\n", cli_prog, c->name, node, why_word(rc), why[0] ? why : em_strerror(rc));
    return EXIT_FAIL;
}

/* ---- the process a command's work runs in ---- */

static struct job {
    int (*fn)(void *arg);
    void *arg;
} job;

static void job_main(void *unused)
{
    (void)unused;
    int status = job.fn(job.arg);
    fflush(stdout);
    em_stop(status);
}

int cli_on_node(const command *c, const cli_node_args *a, const char *target, int (*fn)(void *arg), void *arg)
{
    if (node_up(c, a, target) != 0)
        return EXIT_FAIL;
    job.fn = fn;
    job.arg = arg;
    if (em_spawn(job_main, NULL) == EM_NONE) {
        fprintf(stderr, "%s: %s: cannot spawn a process\n", cli_prog, c->name);
        em_node_stop();
        return EXIT_FAIL;
    }
    int status = em_run();
    em_node_stop();
    return status;
}

/* ---- ember ping [OPTS] NODE ---- */

typedef struct ping_job {
    const command *c;
    const char *node;
    int64_t timeout_ms;
} ping_job;

static int ping_main(void *arg)
{
    const ping_job *j = arg;
    if (cli_connect(j->c, j->node, j->timeout_ms, "pang") != 0)
        return EXIT_FAIL;
    printf("pong\n");
    return 0;
}

int cli_ping(int argc, char **argv)
{
    const command *c = cli_find("ping");
    cli_node_args a;
    int i, rc = cli_node_opts(c, argc, argv, &a, &i);
    if (rc >= 0)
        return rc;
    if (argc - i != 1)
        return cli_usage_error(c, "expected one NODE", NULL);
    ping_job j = {c, argv[i], a.timeout_ms};
    return cli_on_node(c, &a, j.node, ping_main, &j);
}

/* ---- ember send [OPTS] NODE NAME TERM ---- */

typedef struct send_job {
    const command *c;
    const char *node;
    int64_t timeout_ms;
    em_term name, msg; /* msg: taken by the send */
} send_job;

static int send_main(void *arg)
{
    send_job *j = arg;
    if (cli_connect(j->c, j->node, j->timeout_ms, NULL) != 0)
        return EXIT_FAIL;
    em_term to = em_tuple(2, j->name, em_atom(j->node));
    int rc = em_send(to, j->msg);
    j->msg = EM_NONE;
    em_drop(to);
    if (rc < 0) {
        fprintf(stderr, "%s: send: %s\n", cli_prog, em_strerror(rc));
        return EXIT_FAIL;
    }
    /* A second round trip on the same connection: the other node has
     * the message once it answers (a connection keeps order). */
    return cli_connect(j->c, j->node, j->timeout_ms, NULL);
}

int cli_send(int argc, char **argv)
{
    const command *c = cli_find("send");
    cli_node_args a;
    int i, rc = cli_node_opts(c, argc, argv, &a, &i);
    if (rc >= 0)
        return rc;
    if (argc - i != 3)
        return cli_usage_error(c, "expected NODE NAME TERM", NULL);
    em_term msg;
    rc = em_parse_term(argv[i + 2], strlen(argv[i + 2]), &msg, NULL);
    if (rc < 0) {
        fprintf(stderr, "%s: send: TERM does not parse: %s\n", cli_prog, em_strerror(rc));
        return EXIT_FAIL;
    }
    send_job j = {c, argv[i], a.timeout_ms, em_atom(argv[i + 1]), msg};
    int status = cli_on_node(c, &a, j.node, send_main, &j);
    em_drop(j.msg);
    return status;
}

/* ---- ember names [OPTS] [HOST] ---- */

int cli_names(int argc, char **argv)
{
    const command *c = cli_find("names");
    cli_node_args a;
    int i, rc = cli_node_opts(c, argc, argv, &a, &i);
    if (rc >= 0)
        return rc;
    if (argc - i > 1)
        return cli_usage_error(c, "expected at most one HOST", NULL);
    const char *host = argc - i == 1 ? argv[i] : "localhost";
    em_epmd_name *names = NULL;
    int64_t t = a.timeout_ms > INT32_MAX ? INT32_MAX : a.timeout_ms;
    int n = em_epmd_names(host, em_epmd_default_port(), (int)t, &names, NULL);
    if (n < 0) {
        fprintf(stderr, "%s: names: no port mapper answers on %s port %d: %s\n", cli_prog, host,
                em_epmd_default_port(), em_strerror(n));
        return EXIT_FAIL;
    }
    for (int k = 0; k < n; k++)
        printf("name %s at port %u\n", names[k].name, (unsigned)names[k].port);
    em_epmd_names_free(names, n);
    return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
}
