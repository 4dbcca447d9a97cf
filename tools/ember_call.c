/* ember_call.c: the `ember` commands that ask another node for a value:
 *
 *   call [OPTS] NODE NAME REQUEST  gen_server:call({NAME, NODE}, REQUEST)
 *                                  (em_call)
 *   rpc [OPTS] NODE MOD FUN [ARGS] rpc:call(NODE, MOD, FUN, ARGS) (em_rpc,
 *                                  its outcome read as OTP 25's rpc.erl
 *                                  reads erpc's: rpc_value below)
 *   eval [OPTS] NODE EXPRS         the value of Erlang expressions, as
 *                                  erl_call -e gives it (em_rpc of
 *                                  erl_scan:string/2, erl_parse:parse_exprs/1
 *                                  and erl_eval:exprs/2 on NODE)
 *
 * OPTS are ember_node.c's; here -timeout bounds the whole command:
 * connecting, then every call it makes.  A value prints as `ember decode`
 * prints a term (~p on one line: em_print, EM_PRINT_P).  Exit status: 0
 * success; 1 failure, with one line on stderr saying which (and for rpc
 * the {badrpc, Reason} rpc:call returns, on stdout); 2 bad usage.  Terms
 * given on the command line (REQUEST, ARGS) are Erlang term syntax
 * (em_parse_term); one that does not parse is bad input (exit 1), as for
 * send. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ember.h>

#include "ember_cli.h"

#define A(s) em_atom(s)

/* ---- shared ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What is left of the command's time (never negative). */
static int64_t left_ms(int64_t deadline)
{
    int64_t n = deadline - now_ms();
    return n > 0 ? n : 0;
}

/* t as ~p on one line and a newline, on f.  0, or EXIT_FAIL after a
 * stderr line. */
static int print_value(const command *c, FILE *f, em_term t)
{
    em_buf out = EM_BUF_INIT;
    int rc = em_print_buf(&out, t, EM_PRINT_P);
    if (rc < 0) {
        fprintf(stderr, "%s: %s: printing the value: %s\n", cli_prog, c->name, em_strerror(rc));
        em_buf_free(&out);
        return EXIT_FAIL;
    }
    if (out.len)
        fwrite(out.data, 1, out.len, f);
    fputc('\n', f);
    em_buf_free(&out);
    return 0;
}

/* The start of a stderr line: "ember: CMD: " (the caller ends it). */
static void say(const command *c)
{
    fprintf(stderr, "%s: %s: ", cli_prog, c->name);
}

/* Parse the term text s (an argument) into *out; 0, or EXIT_FAIL after a
 * stderr line naming it `what`. */
static int parse_arg(const command *c, const char *what, const char *s, em_term *out)
{
    em_parse_error pe;
    memset(&pe, 0, sizeof pe);
    int rc = em_parse_term(s, strlen(s), out, &pe);
    if (rc == EM_ESYNTAX) {
        say(c);
        fprintf(stderr, "%s does not parse: at column %d: %s\n", what, pe.column, pe.reason);
    } else if (rc < 0) {
        say(c);
        fprintf(stderr, "%s does not parse: %s\n", what, em_strerror(rc));
    }
    return rc < 0 ? EXIT_FAIL : 0;
}

/* An atom named by an argument; EXIT_FAIL after a stderr line when it can
 * be none (not UTF-8, too long). */
static int atom_arg(const command *c, const char *what, const char *s, em_term *out)
{
    int rc = em_atom_new(s, strlen(s), out);
    if (rc < 0) {
        say(c);
        fprintf(stderr, "%s '%s' is no atom: %s\n", what, s, em_strerror(rc));
        return EXIT_FAIL;
    }
    return 0;
}

/* "M:F/N" into buf (cap bytes), the atoms as Erlang writes them. */
static void mfa_text(char *buf, size_t cap, const char *m, const char *f, long arity)
{
    char ms[520], fs[520];
    if (em_print(ms, sizeof ms, A(m), EM_PRINT_W) < 0)
        snprintf(ms, sizeof ms, "%s", m);
    if (em_print(fs, sizeof fs, A(f), EM_PRINT_W) < 0)
        snprintf(fs, sizeof fs, "%s", f);
    snprintf(buf, cap, "%s:%s/%ld", ms, fs, arity);
}

/* ---- ember call [OPTS] NODE NAME REQUEST ---- */

typedef struct call_job {
    const command *c;
    const char *node;
    em_term name;       /* an atom */
    em_term request;    /* taken by the call */
    int64_t timeout_ms;
} call_job;

static int call_main(void *arg)
{
    call_job *j = arg;
    const command *c = j->c;
    int64_t deadline = now_ms() + j->timeout_ms;
    if (cli_connect(c, j->node, j->timeout_ms, NULL) != 0)
        return EXIT_FAIL;
    em_term server = em_tuple(2, j->name, A(j->node)), reply = EM_NONE;
    int rc = em_call(server, j->request, left_ms(deadline), &reply);
    j->request = EM_NONE;
    em_drop(server);
    int status = EXIT_FAIL;
    const char *name = em_atom_text(j->name, NULL);
    switch (rc) {
    case 0:
        status = print_value(c, stdout, reply);
        break;
    case EM_ENOPROC:
        say(c);
        fprintf(stderr, "noproc: no process is registered as %s on %s\n", name, j->node);
        break;
    case EM_ETIMEDOUT:
        say(c);
        fprintf(stderr, "timeout: %s on %s did not reply within %lld ms\n", name, j->node, (long long)j->timeout_ms);
        break;
    case EM_ENOCONN:
        say(c);
        fprintf(stderr, "nodedown: the connection to %s was lost during the call\n", j->node);
        break;
    case EM_EEXIT:
        say(c);
        fprintf(stderr, "%s on %s exited during the call: ", name, j->node);
        print_value(c, stderr, reply);
        break;
    default:
        say(c);
        fprintf(stderr, "%s\n", em_strerror(rc));
        break;
    }
    em_drop(reply);
    return status;
}

int cli_call(int argc, char **argv)
{
    const command *c = cli_find("call");
    cli_node_args a;
    int i, rc = cli_node_opts(c, argc, argv, &a, &i);
    if (rc >= 0)
        return rc;
    if (argc - i != 3)
        return cli_usage_error(c, "expected NODE NAME REQUEST", NULL);
    call_job j = {c, argv[i], EM_NONE, EM_NONE, a.timeout_ms};
    if (atom_arg(c, "NAME", argv[i + 1], &j.name) != 0 || parse_arg(c, "REQUEST", argv[i + 2], &j.request) != 0)
        return EXIT_FAIL;
    int status = cli_on_node(c, &a, j.node, call_main, &j);
    em_drop(j.request);
    return status;
}

/* ---- what em_rpc's failures say ---- */

/* {'EXIT', _}: what rpc:call cannot tell from its own failures. */
static bool is_exit_tuple(em_term t)
{
    return em_tuple_size(t) == 2 && em_tuple_get(t, 0) == A("EXIT");
}

/* The error erpc raises itself, {erpc, Why} (a spawn the node refused, an
 * argument list it could not apply), which em_rpc gives as an error with
 * the stack []; an error of the function always has a stack. */
static bool is_erpc_error(em_term cls, em_term reason, em_term stack)
{
    return cls == A("error") && stack == EM_NIL && em_tuple_size(reason) == 2 && em_tuple_get(reason, 0) == A("erpc");
}

/* An em_rpc of m:f(args) on node that did not return (rc and its result
 * r, borrowed), said on one stderr line.  what: how to name the call
 * ("m:f/N"); exprs: it evaluated the user's expressions (eval), whose
 * exceptions are theirs. */
static void say_failure(const command *c, const char *node, const char *what, bool exprs, int rc, em_term r)
{
    say(c);
    em_term cls = em_tuple_get(r, 0), reason = em_tuple_get(r, 1), stack = em_tuple_get(r, 2);
    em_term top = em_hd(stack);
    switch (rc) {
    case EM_RPC_EXCEPTION:
        if (is_erpc_error(cls, reason, stack)) {
            fprintf(stderr, "%s did not run %s: ", node, what);
            print_value(c, stderr, em_tuple_get(reason, 1));
        } else if (cls == A("error") && reason == A("undef") && em_tuple_size(top) == 4) {
            em_term a = em_tuple_get(top, 2);
            int64_t n = em_list_length(a); /* the arguments, or the arity */
            if (n < 0 && em_int_get(a, &n) < 0)
                n = -1;
            em_fprintf(stderr, "~w:~w/", em_tuple_get(top, 0), em_tuple_get(top, 1));
            fprintf(stderr, "%lld is undefined on %s (exception error: undef)\n", (long long)n, node);
        } else {
            if (exprs)
                fprintf(stderr, "exception %s: ", em_atom_text(cls, NULL));
            else
                fprintf(stderr, "%s raised an exception: %s:", what, em_atom_text(cls, NULL));
            print_value(c, stderr, reason);
        }
        break;
    case EM_RPC_SIGNAL:
        fprintf(stderr, "the process running %s on %s ended with an exit signal: ", what, node);
        print_value(c, stderr, r);
        break;
    case EM_ETIMEDOUT:
        fprintf(stderr, "timeout: %s on %s gave no answer in time\n", what, node);
        break;
    case EM_ECLOSED:
        fprintf(stderr, "nodedown: the connection to %s was lost during the call\n", node);
        break;
    case EM_ENOTSUP:
        fprintf(stderr, "notsup: %s cannot run a call (it has no spawn request)\n", node);
        break;
    default:
        fprintf(stderr, "%s: %s\n", what, em_strerror(rc));
        break;
    }
}

/* ---- ember rpc [OPTS] NODE MOD FUN [ARGS] ---- */

static em_term badrpc(em_term why)
{
    return em_tuple(2, A("badrpc"), why);
}

/* What rpc:call(Node, M, F, Args, T) returns for the outcome of em_rpc
 * (rc, with its result r, borrowed): OTP 25's rpc.erl calls erpc:call and
 * turns what it raises into values (?RPCIFY, rpcify_exception/2):
 *   returns V         V, but {badrpc, V} for V = {'EXIT', _}
 *   throw V           V (a value!), but {badrpc, V} for V = {'EXIT', _}
 *   exit R            {badrpc, {'EXIT', R}}
 *   error R, Stack    {badrpc, {'EXIT', {R, Stack}}}
 *   a signal R        {badrpc, {'EXIT', R}}
 *   erpc's own error  noconnection -> {badrpc, nodedown}, timeout ->
 *                     {badrpc, timeout}, notsup -> {badrpc, notsup},
 *                     any other Why -> {badrpc, {'EXIT', Why}}
 * (em_rpc's EM_ETIMEDOUT, EM_ECLOSED and EM_ENOTSUP are erpc's timeout,
 * noconnection and notsup).  Returns the term (owned; EM_NONE for a
 * failure here, EM_ENOMEM and the like) and sets *bad when rpc:call would
 * answer {badrpc, _}. */
static em_term rpc_value(int rc, em_term r, bool *bad)
{
    *bad = true;
    em_term cls = em_tuple_get(r, 0), reason = em_tuple_get(r, 1), stack = em_tuple_get(r, 2);
    switch (rc) {
    case 0:
        *bad = is_exit_tuple(r);
        return *bad ? badrpc(em_dup(r)) : em_dup(r);
    case EM_RPC_EXCEPTION:
        if (cls == A("throw")) {
            *bad = is_exit_tuple(reason);
            return *bad ? badrpc(em_dup(reason)) : em_dup(reason);
        }
        if (cls == A("exit"))
            return badrpc(em_tuple(2, A("EXIT"), em_dup(reason)));
        if (is_erpc_error(cls, reason, stack)) {
            em_term why = em_tuple_get(reason, 1);
            if (why == A("noconnection"))
                return badrpc(A("nodedown"));
            if (why == A("timeout") || why == A("notsup"))
                return badrpc(why);
            /* (badarg, which rpc:call raises itself, comes of arguments
             * it checks here: em_rpc's EM_EBADARG, never from a node) */
            return badrpc(em_tuple(2, A("EXIT"), em_dup(why)));
        }
        return badrpc(em_tuple(2, A("EXIT"), em_tuple(2, em_dup(reason), em_dup(stack))));
    case EM_RPC_SIGNAL:
        return badrpc(em_tuple(2, A("EXIT"), em_dup(r)));
    case EM_ETIMEDOUT:
        return badrpc(A("timeout"));
    case EM_ECLOSED:
        return badrpc(A("nodedown"));
    case EM_ENOTSUP:
        return badrpc(A("notsup"));
    default:
        return EM_NONE;
    }
}

typedef struct rpc_job {
    const command *c;
    const char *node, *mod, *fun;
    em_term args; /* taken by the call */
    int64_t timeout_ms;
} rpc_job;

static int rpc_main(void *arg)
{
    rpc_job *j = arg;
    const command *c = j->c;
    int64_t deadline = now_ms() + j->timeout_ms;
    if (cli_connect(c, j->node, j->timeout_ms, "{badrpc,nodedown}") != 0)
        return EXIT_FAIL;
    char what[1100];
    mfa_text(what, sizeof what, j->mod, j->fun, em_list_length(j->args));
    em_term r = EM_NONE;
    int rc = em_rpc(A(j->node), j->mod, j->fun, j->args, left_ms(deadline), &r);
    j->args = EM_NONE;
    bool bad;
    em_term v = rpc_value(rc, r, &bad);
    int status = EXIT_FAIL;
    if (v == EM_NONE) {
        say(c);
        fprintf(stderr, "%s: %s\n", what, em_strerror(rc < 0 ? rc : EM_ENOMEM));
    } else if (print_value(c, stdout, v) == 0 && !bad) {
        status = 0;
    } else if (bad && rc == 0) {
        say(c);
        fprintf(stderr, "%s returned an {'EXIT', _} tuple, which rpc:call answers as {badrpc, _}\n", what);
    } else if (bad && rc == EM_RPC_EXCEPTION && em_tuple_get(r, 0) == A("throw")) {
        say(c);
        fprintf(stderr, "%s threw an {'EXIT', _} tuple, which rpc:call answers as {badrpc, _}\n", what);
    } else if (bad) {
        say_failure(c, j->node, what, false, rc, r);
    }
    em_drop(v);
    em_drop(r);
    return status;
}

int cli_rpc(int argc, char **argv)
{
    const command *c = cli_find("rpc");
    cli_node_args a;
    int i, rc = cli_node_opts(c, argc, argv, &a, &i);
    if (rc >= 0)
        return rc;
    if (argc - i != 3 && argc - i != 4)
        return cli_usage_error(c, "expected NODE MOD FUN [ARGS]", NULL);
    rpc_job j = {c, argv[i], argv[i + 1], argv[i + 2], EM_NIL, a.timeout_ms};
    em_term m, f;
    if (atom_arg(c, "MOD", j.mod, &m) != 0 || atom_arg(c, "FUN", j.fun, &f) != 0)
        return EXIT_FAIL;
    if (argc - i == 4) {
        if (parse_arg(c, "ARGS", argv[i + 3], &j.args) != 0)
            return EXIT_FAIL;
        if (em_list_length(j.args) < 0) {
            say(c);
            fprintf(stderr, "ARGS is not a list: '%s' (the arguments, as [A1, A2, ...])\n", argv[i + 3]);
            em_drop(j.args);
            return EXIT_FAIL;
        }
    }
    int status = cli_on_node(c, &a, j.node, rpc_main, &j);
    em_drop(j.args);
    return status;
}

/* ---- ember eval [OPTS] NODE EXPRS ---- */

typedef struct eval_job {
    const command *c;
    const char *node;
    em_term text; /* the expressions: a string (code points); taken by the scan */
    int64_t timeout_ms;
    int64_t deadline; /* set when the process starts */
} eval_job;

/* em_rpc of m:f(args) (args taken) on the job's node; 0 and *out (owned),
 * or EXIT_FAIL after saying why.  exprs: as for say_failure. */
static int eval_rpc(eval_job *j, const char *m, const char *f, em_term args, bool exprs, em_term *out)
{
    char what[1100];
    mfa_text(what, sizeof what, m, f, em_list_length(args));
    int rc = em_rpc(A(j->node), m, f, args, left_ms(j->deadline), out);
    if (rc == 0)
        return 0;
    em_term r = *out;
    em_term cls = em_tuple_get(r, 0), reason = em_tuple_get(r, 1), top = em_hd(em_tuple_get(r, 2));
    if (rc == EM_RPC_EXCEPTION && cls == A("error") && reason == A("undef") && em_tuple_get(top, 0) == A(m) &&
        em_tuple_get(top, 1) == A(f)) {
        say(j->c);
        fprintf(stderr, "%s cannot evaluate Erlang: %s is undefined there\n", j->node, what);
    } else {
        say_failure(j->c, j->node, what, exprs, rc, r);
    }
    em_drop(r);
    *out = EM_NONE;
    return EXIT_FAIL;
}

/* A scanner's or parser's error {Location, Module, Descriptor} (borrowed)
 * on one stderr line, in Module:format_error's words as the node gives
 * them.  added: where the dot with_dot added is (EM_NONE: none added): an
 * error there is the end of what the user wrote.  Returns EXIT_FAIL. */
static int say_syntax_error(eval_job *j, em_term info, em_term added)
{
    em_term loc = em_tuple_get(info, 0), mod = em_tuple_get(info, 1), desc = em_tuple_get(info, 2);
    em_term chars = EM_NONE, text = EM_NONE;
    const char *m = em_atom_text(mod, NULL);
    /* Module:format_error(Descriptor) is chars (a deep list): the node
     * flattens it into UTF-8 too. */
    if (m && em_rpc(A(j->node), m, "format_error", em_list(1, em_dup(desc)), left_ms(j->deadline), &chars) == 0)
        em_rpc(A(j->node), "unicode", "characters_to_binary", em_list(1, em_dup(chars)), left_ms(j->deadline), &text);
    say(j->c);
    int64_t line = 0, col = 0;
    if (em_int_get(em_tuple_get(loc, 0), &line) == 0 && em_int_get(em_tuple_get(loc, 1), &col) == 0)
        fprintf(stderr, "at line %lld, column %lld: ", (long long)line, (long long)col);
    else if (em_int_get(loc, &line) == 0)
        fprintf(stderr, "at line %lld: ", (long long)line);
    size_t nbits;
    const uint8_t *p = em_binary_data(text, &nbits);
    if (added != EM_NONE && em_equal(loc, added)) {
        fprintf(stderr, "the expressions end too early (syntax error at their end)\n");
    } else if (p) {
        for (size_t k = 0; k < nbits / 8; k++) /* one line, whatever it says */
            fputc(p[k] == '\n' ? ' ' : p[k], stderr);
        fputc('\n', stderr);
    } else {
        print_value(j->c, stderr, info);
    }
    em_drop(chars);
    em_drop(text);
    return EXIT_FAIL;
}

/* toks (borrowed) ending with a dot token, as erl_parse wants it: toks
 * itself (a new reference) when it ends so, else toks ++ [{dot, End}]
 * with *added = true. */
static em_term with_dot(em_term toks, em_term end, bool *added)
{
    long n = em_list_length(toks);
    em_term last = EM_NONE;
    for (em_term t = toks; em_typeof(t) == EM_TYPE_LIST; t = em_tl(t))
        last = em_hd(t);
    *added = !(em_tuple_size(last) >= 1 && em_tuple_get(last, 0) == A("dot"));
    if (!*added)
        return em_dup(toks);
    em_term *v = malloc(((size_t)n + 1) * sizeof *v);
    if (v == NULL)
        return EM_NONE;
    size_t k = 0;
    for (em_term t = toks; em_typeof(t) == EM_TYPE_LIST; t = em_tl(t))
        v[k++] = em_dup(em_hd(t));
    v[k++] = em_tuple(2, A("dot"), em_dup(end));
    em_term out = em_listv(k, v);
    free(v);
    return out;
}

static int eval_main(void *arg)
{
    eval_job *j = arg;
    const command *c = j->c;
    j->deadline = now_ms() + j->timeout_ms;
    if (cli_connect(c, j->node, j->timeout_ms, NULL) != 0)
        return EXIT_FAIL;
    /* 1. erl_scan:string(Text, {1, 1}): tokens with line and column */
    em_term scanned, parsed, value;
    em_term text = j->text;
    j->text = EM_NONE;
    if (eval_rpc(j, "erl_scan", "string", em_list(2, text, em_tuple(2, em_int(1), em_int(1))), false, &scanned) != 0)
        return EXIT_FAIL;
    if (em_tuple_size(scanned) == 3 && em_tuple_get(scanned, 0) == A("error")) {
        int status = say_syntax_error(j, em_tuple_get(scanned, 1), EM_NONE);
        em_drop(scanned);
        return status;
    }
    if (em_tuple_size(scanned) != 3 || em_tuple_get(scanned, 0) != A("ok")) {
        say(c);
        fprintf(stderr, "erl_scan:string/2 answered something else than {ok, _, _} or {error, _, _}: ");
        print_value(c, stderr, scanned);
        em_drop(scanned);
        return EXIT_FAIL;
    }
    /* 2. erl_parse:parse_exprs(Tokens), the final dot added if missing */
    bool added;
    em_term end = em_dup(em_tuple_get(scanned, 2));
    em_term toks = with_dot(em_tuple_get(scanned, 1), end, &added);
    em_drop(scanned);
    if (eval_rpc(j, "erl_parse", "parse_exprs", em_list(1, toks), false, &parsed) != 0) {
        em_drop(end);
        return EXIT_FAIL;
    }
    if (em_tuple_size(parsed) == 2 && em_tuple_get(parsed, 0) == A("error")) {
        int status = say_syntax_error(j, em_tuple_get(parsed, 1), added ? end : EM_NONE);
        em_drop(parsed);
        em_drop(end);
        return status;
    }
    em_drop(end);
    if (em_tuple_size(parsed) != 2 || em_tuple_get(parsed, 0) != A("ok")) {
        say(c);
        fprintf(stderr, "erl_parse:parse_exprs/1 answered something else than {ok, _} or {error, _}: ");
        print_value(c, stderr, parsed);
        em_drop(parsed);
        return EXIT_FAIL;
    }
    /* 3. erl_eval:exprs(Exprs, []): {value, Value, Bindings} */
    em_term exprs = em_dup(em_tuple_get(parsed, 1));
    em_drop(parsed);
    if (eval_rpc(j, "erl_eval", "exprs", em_list(2, exprs, EM_NIL), true, &value) != 0)
        return EXIT_FAIL;
    int status = EXIT_FAIL;
    if (em_tuple_size(value) == 3 && em_tuple_get(value, 0) == A("value")) {
        status = print_value(c, stdout, em_tuple_get(value, 1));
    } else {
        say(c);
        fprintf(stderr, "erl_eval:exprs/2 answered something else than {value, _, _}: ");
        print_value(c, stderr, value);
    }
    em_drop(value);
    return status;
}

int cli_eval(int argc, char **argv)
{
    const command *c = cli_find("eval");
    cli_node_args a;
    int i, rc = cli_node_opts(c, argc, argv, &a, &i);
    if (rc >= 0)
        return rc;
    if (argc - i != 2)
        return cli_usage_error(c, "expected NODE EXPRS", NULL);
    em_buf in = EM_BUF_INIT;
    const char *src = argv[i + 1];
    size_t len = strlen(src);
    if (strcmp(src, "-") == 0) {
        rc = cli_read_all(stdin, &in);
        if (rc < 0) {
            fprintf(stderr, "%s: eval: reading standard input: %s\n", cli_prog, em_strerror(rc));
            em_buf_free(&in);
            return EXIT_FAIL;
        }
        src = in.data ? (const char *)in.data : "";
        len = in.len;
    }
    eval_job j = {c, argv[i], em_string_len(src, len), a.timeout_ms, 0};
    em_buf_free(&in);
    if (j.text == EM_NONE) {
        fprintf(stderr, "%s: eval: EXPRS is not UTF-8 text\n", cli_prog);
        return EXIT_FAIL;
    }
    int status = cli_on_node(c, &a, j.node, eval_main, &j);
    em_drop(j.text);
    return status;
}
