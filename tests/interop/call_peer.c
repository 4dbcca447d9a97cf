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
 *   call_peer NODEFLAGS monname NODE  monitors {target, NODE} and {nobody,
 *       NODE}, tells target to exit with boom; prints "DOWN Obj Reason" for
 *       each DOWN as it arrives (two, within 10 s)
 * NODEFLAGS are erl's: -name|-sname N -setcookie C.
 */
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

static void run(void *arg)
{
    (void)arg;
    const char *cmd = gargv[1];
    int rc = 0;
    if (strcmp(cmd, "agent") == 0) {
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
