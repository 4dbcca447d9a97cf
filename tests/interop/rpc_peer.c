/* rpc_peer.c: the ember side of tests/interop/rpc.sh (compiled by it).
 *
 *   rpc_peer NODEFLAGS serve     exports the twins of rpc_helper.erl's
 *       functions under module rpc_helper (pair/2, boom/1, ex/1, th/1,
 *       slow/1, echo/2, gl/0, signal/0, say/1), prints "started" once the node
 *       runs, and serves until killed.
 *   rpc_peer NODEFLAGS call NODE   em_rpc into NODE, an Erlang node
 *       running rpc_helper: a value, each class of exception, undef, a
 *       timeout (and no late answer after it), io:format from there
 *       (printed here by the node's `user`), a call back into this node
 *       through NODE's rpc; prints "ok: ..." or "FAIL: ..." for each; then
 *       "waiting for the node to go down" and an em_rpc that outlasts
 *       NODE (the script kills it): EM_ECLOSED; then "calls done".
 * NODEFLAGS are erl's: -name|-sname N -setcookie C.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember.h>

#define A(s) em_atom(s)

static em_term pair(const em_term *a, unsigned n)
{
    (void)n;
    return em_tuple(2, em_dup(a[1]), em_dup(a[0]));
}
static em_term boom(const em_term *a, unsigned n)
{
    (void)n;
    em_raise(A("error"), em_dup(a[0]));
    return EM_NONE;
}
static em_term ex(const em_term *a, unsigned n)
{
    (void)n;
    em_raise(A("exit"), em_dup(a[0]));
    return EM_NONE;
}
static em_term th(const em_term *a, unsigned n)
{
    (void)n;
    em_raise(A("throw"), em_dup(a[0]));
    return EM_NONE;
}
static em_term slow(const em_term *a, unsigned n)
{
    (void)n;
    int64_t ms = 0;
    em_int_get(a[0], &ms);
    em_sleep(ms);
    return A("done");
}
static em_term echo(const em_term *a, unsigned n)
{
    (void)n;
    em_send(a[0], em_tuple(3, A("echo"), em_dup(a[1]), em_self()));
    return A("ok");
}
static em_term gl(const em_term *a, unsigned n)
{
    (void)a, (void)n;
    return em_dup(em_group_leader());
}
static em_term say(const em_term *a, unsigned n)
{
    (void)n;
    return em_io_format("said ~p~n", a[0]) == 0 ? A("ok") : A("io_failed");
}
static em_term signal_self(const em_term *a, unsigned n)
{
    (void)a, (void)n;
    em_exit_pid(em_self(), A("kill"));
    return A("not_reached");
}

static int fails;

/* Check em_rpc(NODE, m, f, args_text) gives rc and (unless want is NULL)
 * a result matching the pattern want. */
static void expect_rpc(const char *label, em_term node, const char *m, const char *f, const char *args, int64_t ms,
                       int rc, const char *want)
{
    em_term r;
    int got = em_rpc(node, m, f, em_parse(args), ms, &r);
    bool ok = got == rc && (want == NULL || (r != EM_NONE && em_match(want, r) == 1));
    if (ok) {
        em_printf("ok: em_rpc ~s: ~p~n", label, r != EM_NONE ? r : A("none"));
    } else {
        printf("FAIL: em_rpc %s: rc %d (%s), ", label, got, got < 0 ? em_err_name(got) : "positive");
        em_printf("result ~p~n", r != EM_NONE ? r : A("none"));
        fails++;
    }
    em_drop(r);
}

static void caller(void *arg)
{
    em_term node = A((const char *)arg), self = em_local_node(NULL);
    char back[600];
    expect_rpc("a value", node, "rpc_helper", "pair", "[a, b]", 5000, 0, "{b, a}");
    expect_rpc("an error", node, "rpc_helper", "boom", "[bad]", 5000, EM_RPC_EXCEPTION,
               "{error, bad, [{rpc_helper, boom, 1, _}]}");
    expect_rpc("a throw", node, "rpc_helper", "th", "[ball]", 5000, EM_RPC_EXCEPTION, "{throw, ball, []}");
    expect_rpc("an exit", node, "rpc_helper", "ex", "[bye]", 5000, EM_RPC_EXCEPTION, "{exit, bye, []}");
    expect_rpc("undef", node, "rpc_helper", "nofun", "[1]", 5000, EM_RPC_EXCEPTION,
               "{error, undef, [{rpc_helper, nofun, [1], []}]}");
    expect_rpc("killed", node, "rpc_helper", "signal", "[]", 5000, EM_RPC_SIGNAL, "killed");
    expect_rpc("erlang:node()", node, "erlang", "node", "[]", 5000, 0, NULL);
    expect_rpc("io:format there: its output comes here", node, "io", "format",
               "[\"io from afar: ~p ~s~n\", [{x, 1}, \"text\"]]", 5000, 0, "ok");
    snprintf(back, sizeof back, "['%s', rpc_helper, pair, [1, 2]]", em_atom_text(self, NULL));
    expect_rpc("a call back into this node through rpc:call", node, "rpc", "call", back, 5000, 0, "{2, 1}");
    expect_rpc("a timeout", node, "rpc_helper", "slow", "[1500]", 300, EM_ETIMEDOUT, NULL);
    em_term m;
    if (em_receive_any(2000, &m) == EM_ETIMEDOUT) {
        printf("ok: nothing reaches the caller after its timeout\n");
    } else {
        em_printf("FAIL: after the timeout the caller got ~p~n", m);
        fails++;
    }
    expect_rpc("a node nobody runs", A("nobody@nowhere"), "rpc_helper", "pair", "[a, b]", 5000, EM_ECLOSED, NULL);
    printf("waiting for the node to go down\n");
    fflush(stdout);
    expect_rpc("the node goes down during the call", node, "rpc_helper", "slow", "[30000]", 40000, EM_ECLOSED,
               NULL);
    printf("calls done\n");
    fflush(stdout);
    em_stop(fails ? 1 : 0);
}

int main(int argc, char **argv)
{
    em_node_opts o;
    em_node_opts_init(&o);
    if (em_node_args(&argc, argv, &o) < 0 || argc < 2) {
        fprintf(stderr, "usage: rpc_peer -name|-sname N -setcookie C serve\n");
        return 2;
    }
    bool call = strcmp(argv[1], "call") == 0 && argc >= 3;
    if (strcmp(argv[1], "serve") != 0 && !call)
        return 2;
    static const struct {
        const char *f;
        unsigned arity;
        em_export_fn fn;
    } xs[] = {{"pair", 2, pair}, {"boom", 1, boom}, {"ex", 1, ex},   {"th", 1, th},
              {"slow", 1, slow}, {"echo", 2, echo}, {"gl", 0, gl}, {"signal", 0, signal_self},
              {"say", 1, say}};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
        if (em_export("rpc_helper", xs[i].f, xs[i].arity, xs[i].fn) < 0)
            return 1;
    int rc = em_node_start_opts(&o);
    if (rc < 0) {
        fprintf(stderr, "rpc_peer: %s\n", em_strerror(rc));
        return 1;
    }
    printf("started\n");
    fflush(stdout);
    if (call)
        em_spawn(caller, argv[2]);
    return em_run();
}
