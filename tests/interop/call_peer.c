/* call_peer.c: the ember side of tests/interop/call.sh (compiled by it).
 *
 *   call_peer NODEFLAGS agent       registers `agent` and prints "ready";
 *       runs until killed.  agent handles:
 *         {send, To, Msg}    em_send(To, Msg) (To may be an alias)
 *         {alias, From}      makes an alias, answers {alias, A}
 *         {via_alias, X}     (through that alias) answers {got, X} to the
 *                            last From
 *         {unalias, From}    em_unalias of that alias, answers unaliased
 *         {ping, From}       answers pong
 *         {pid, From}        answers {pid, self()}
 *         {exit, R}          exits with reason R
 *   call_peer NODEFLAGS server      registers `csrv`, a plain C process
 *       that answers '$gen_call' with em_reply, as call_helper's
 *       gen_server does: {echo, X} -> X; {sleep, Ms, R} -> R after Ms;
 *       {defer, Ms, R} -> R from another process after Ms; whoami -> its
 *       pid; {exit, R} -> exits with R (no reply); prints "ready"
 *   call_peer NODEFLAGS eserver     registers `esrv`, an em_server with
 *       the same calls, and: cast {set, V} keeps V; call get -> V;
 *       sys:get_state -> {esrv_state, V}; prints "ready"
 *   call_peer NODEFLAGS caller NODE  em_call to call_helper's gen_servers
 *       on NODE: prints "em_call CHECK ok" (or BAD ...) for each, then
 *       "calling hang" and, once the call {sleep, 60000, x} ends (the test
 *       kills NODE meanwhile), "hang CODE"
 *   call_peer NODEFLAGS monname NODE  monitors {target, NODE} and {nobody,
 *       NODE}, tells target to exit with boom; prints "DOWN Obj Reason" for
 *       each DOWN as it arrives (two, within 10 s)
 * NODEFLAGS are erl's: -name|-sname N -setcookie C.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember.h>

static int gargc;
static char **gargv;

#define A(s) em_atom(s)

static void agent(void *arg)
{
    (void)arg;
    em_term alias = EM_NONE, last = EM_NONE;
    for (;;) {
        em_term m, a, b;
        em_receive_any(EM_INFINITY, &m);
        if (em_match("{send, To, Msg}", m, &a, &b) == 1) {
            em_send(a, em_dup(b));
        } else if (em_match("{alias, From}", m, &a) == 1) {
            em_drop(alias);
            em_drop(last);
            alias = em_alias();
            last = em_dup(a);
            em_send(a, em_tuple(2, A("alias"), em_dup(alias)));
        } else if (em_match("{via_alias, X}", m, &a) == 1 && last != EM_NONE) {
            em_send(last, em_tuple(2, A("got"), em_dup(a)));
        } else if (em_match("{unalias, From}", m, &a) == 1) {
            em_unalias(alias);
            em_send(a, A("unaliased"));
        } else if (em_match("{ping, From}", m, &a) == 1) {
            em_send(a, A("pong"));
        } else if (em_match("{pid, From}", m, &a) == 1) {
            em_send(a, em_tuple(2, A("pid"), em_self()));
        } else if (em_match("{exit, R}", m, &a) == 1) {
            em_exit(em_dup(a));
        }
    }
}

/* ---- server: a plain process answering calls ---- */

static void deferred_reply(void *arg)
{
    (void)arg;
    em_term m, from, ms, r;
    int64_t t;
    if (em_receive_any(10000, &m) == 0 && em_match("{From, Ms, R}", m, &from, &ms, &r) == 1 &&
        em_int_get(ms, &t) == 0) {
        em_sleep(t);
        em_reply(from, em_dup(r));
    }
}

static void csrv(void *arg)
{
    (void)arg;
    for (;;) {
        em_term m, from, req, a, b;
        em_receive_any(EM_INFINITY, &m);
        if (em_match("{'$gen_call', From, Req}", m, &from, &req) != 1)
            continue;
        int64_t ms;
        if (em_match("{echo, X}", req, &a) == 1) {
            em_reply(from, em_dup(a));
        } else if (em_match("{sleep, Ms, R}", req, &a, &b) == 1 && em_int_get(a, &ms) == 0) {
            em_sleep(ms);
            em_reply(from, em_dup(b));
        } else if (em_match("{defer, Ms, R}", req, &a, &b) == 1) {
            em_send(em_spawn(deferred_reply, NULL), em_tuple(3, em_dup(from), em_dup(a), em_dup(b)));
        } else if (req == A("whoami")) {
            em_reply(from, em_self());
        } else if (em_match("{exit, R}", req, &a) == 1) {
            em_exit(em_dup(a));
        }
    }
}

/* ---- eserver: the same, as an em_server ---- */

static int es_init(void *arg, void **state, em_term *reason)
{
    em_term *v = malloc(sizeof *v);
    *v = A("unset");
    *state = v;
    return EM_SERVER_OK;
}

static int es_call(void *state, em_term req, em_term from, em_term *reply, em_term *reason)
{
    em_term *v = state, a, b;
    int64_t ms;
    if (em_match("{echo, X}", req, &a) == 1) {
        *reply = em_dup(a);
    } else if (em_match("{sleep, Ms, R}", req, &a, &b) == 1 && em_int_get(a, &ms) == 0) {
        em_sleep(ms);
        *reply = em_dup(b);
    } else if (em_match("{defer, Ms, R}", req, &a, &b) == 1) {
        em_send(em_spawn(deferred_reply, NULL), em_tuple(3, em_dup(from), em_dup(a), em_dup(b)));
        return EM_SERVER_NOREPLY;
    } else if (req == A("whoami")) {
        *reply = em_self();
    } else if (req == A("get")) {
        *reply = em_dup(*v);
    } else if (em_match("{exit, R}", req, &a) == 1) {
        *reason = em_dup(a); /* stops without a reply, as {stop, R, S} */
        return EM_SERVER_STOP;
    } else {
        *reply = A("badreq");
    }
    return EM_SERVER_REPLY;
}

static int es_cast(void *state, em_term req, em_term *reason)
{
    em_term *v = state, a;
    if (em_match("{set, V}", req, &a) == 1) {
        em_drop(*v);
        *v = em_dup(a);
    }
    return EM_SERVER_OK;
}

static void es_get_state(void *state, em_term *term)
{
    *term = em_tuple(2, A("esrv_state"), em_dup(*(em_term *)state));
}

static const em_server_ops es_ops = {
    .init = es_init, .handle_call = es_call, .handle_cast = es_cast, .get_state = es_get_state,
};

/* ---- caller: em_call to Erlang's gen_servers ---- */

static void check(const char *what, int rc, em_term got, int want_rc, const char *want)
{
    em_term w = want ? em_parse(want) : EM_NONE;
    if (rc == want_rc && (w == EM_NONE ? got == EM_NONE : em_equal(got, w)))
        printf("em_call %s ok\n", what);
    else
        em_printf("em_call ~s BAD: ~s ~p~n", what, em_err_name(rc), got != EM_NONE ? got : A("none"));
    fflush(stdout);
    em_drop(w);
    em_drop(got);
}

typedef struct thread_arg {
    em_term srv, to;
} thread_arg;

/* A thread of the program (no ember process): its em_call blocks it; it
 * hands the outcome to the process `to` as {thread_done, Code, Reply}. */
static void *thread_call(void *arg)
{
    thread_arg *t = arg;
    em_term r;
    int rc = em_call(t->srv, em_parse("{echo, from_thread}"), 5000, &r);
    em_send(t->to, em_tuple(3, A("thread_done"), em_int(rc), r != EM_NONE ? r : A("none")));
    return NULL;
}

static void caller(const char *node_name)
{
    em_term node = A(node_name);
    em_term srv = em_tuple(2, A("calls_srv"), node), victim = em_tuple(2, A("victim_srv"), node);
    em_term r;
    int rc = em_call(srv, em_parse("{echo, hi}"), 5000, &r);
    check("reply", rc, r, 0, "hi");
    em_term pid;
    rc = em_call(srv, A("whoami"), 5000, &pid);
    rc = em_call(pid, em_parse("{echo, by_pid}"), 5000, &r);
    check("by_pid", rc, r, 0, "by_pid");
    rc = em_call(pid, em_parse("{echo, inf}"), EM_INFINITY, &r);
    check("by_pid_infinity", rc, r, 0, "inf");
    em_drop(pid);
    rc = em_call(srv, em_parse("{defer, 200, later}"), 5000, &r);
    check("deferred", rc, r, 0, "later");
    rc = em_call(srv, em_parse("{sleep, 500, late}"), 100, &r);
    check("timeout", rc, r, EM_ETIMEDOUT, NULL);
    em_term m;
    rc = em_receive_any(1000, &m);
    check("late_reply_dropped", rc, rc == 0 ? em_dup(m) : EM_NONE, EM_ETIMEDOUT, NULL);
    em_term nobody = em_tuple(2, A("nobody"), node);
    rc = em_call(nobody, A("x"), 5000, &r);
    check("noproc", rc, r, EM_ENOPROC, NULL);
    em_drop(nobody);
    rc = em_call(victim, em_parse("{exit, boom}"), 5000, &r);
    check("server_exit", rc, r, EM_EEXIT, "boom");
    /* a node of the same kind, on the same host, that is not there */
    char absent[300];
    snprintf(absent, sizeof absent, "absent_node%s", strchr(node_name, '@'));
    em_term nowhere = em_tuple(2, A("calls_srv"), A(absent));
    rc = em_call(nowhere, A("x"), 5000, &r);
    check("unreachable_node", rc, r, EM_ENOCONN, NULL);
    em_drop(nowhere);
    static thread_arg t;
    t.srv = srv;
    t.to = em_self();
    pthread_t th;
    pthread_create(&th, NULL, thread_call, &t);
    em_term code, reply;
    int64_t c = -1;
    if (em_receive(10000, "{thread_done, Code, Reply}", &code, &reply) == 0)
        em_int_get(code, &c);
    else
        reply = A("none");
    pthread_join(th, NULL); /* it has sent: ends at once */
    check("from_thread", (int)c, em_dup(reply), 0, "from_thread");
    printf("calling hang\n");
    fflush(stdout);
    rc = em_call(srv, em_parse("{sleep, 60000, x}"), EM_INFINITY, &r);
    printf("hang %s\n", rc < 0 ? em_err_name(rc) : "reply");
    em_drop(r);
    em_drop(srv);
    em_drop(victim);
}

static void run(void *arg)
{
    (void)arg;
    const char *cmd = gargv[1];
    int rc = 0;
    if (strcmp(cmd, "eserver") == 0) {
        em_term pid;
        rc = em_server_start(&es_ops, NULL, A("esrv"), &pid);
        printf(rc == 0 ? "ready\n" : "no server\n");
        fflush(stdout);
        return;
    } else if (strcmp(cmd, "server") == 0) {
        em_register(A("csrv"), em_spawn(csrv, NULL));
        printf("ready\n");
        fflush(stdout);
        return;
    } else if (strcmp(cmd, "caller") == 0 && gargc >= 3) {
        caller(gargv[2]);
    } else if (strcmp(cmd, "agent") == 0) {
        em_register(A("agent"), em_spawn(agent, NULL));
        printf("ready\n");
        fflush(stdout);
        return;
    } else if (strcmp(cmd, "monname") == 0 && gargc >= 3) {
        em_term node = A(gargv[2]);
        em_term t = em_tuple(2, A("target"), node), n = em_tuple(2, A("nobody"), node);
        em_term r1 = em_monitor(t), r2 = em_monitor(n);
        em_send(t, em_tuple(2, A("exit"), A("boom")));
        int got = 0;
        em_term obj, why;
        while (got < 2 && em_receive(10000, "{'DOWN', _, process, Obj, Why}", &obj, &why) == 0) {
            em_printf("DOWN ~p ~p~n", obj, why);
            got++;
        }
        rc = got == 2 ? 0 : 1;
        em_drop(r1);
        em_drop(r2);
        em_drop(t);
        em_drop(n);
    } else {
        fprintf(stderr, "call_peer: bad command\n");
        rc = 2;
    }
    fflush(stdout);
    em_stop(rc);
}

int main(int argc, char **argv)
{
    em_node_opts o;
    em_node_opts_init(&o);
    if (em_node_args(&argc, argv, &o) < 0 || argc < 2) {
        fprintf(stderr, "usage: call_peer -name|-sname N -setcookie C CMD ...\n");
        return 2;
    }
    gargc = argc;
    gargv = argv;
    int rc = em_node_start_opts(&o);
    if (rc < 0) {
        fprintf(stderr, "call_peer: node start: %s\n", em_strerror(rc));
        return 1;
    }
    em_spawn(run, NULL);
    return em_run();
}
