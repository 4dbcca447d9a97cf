/* global_node.c: an ember node for tests/interop/global.sh, visible
 * unless told -hidden, with a process registered locally as `ctl` that
 * the Erlang side drives with {From, Command, ...}; each answer goes to
 * From as {Command, Result}:
 *   {F, register, Name}     a new echo process registered globally:
 *                           {register, ok | eexist | Error, Pid}
 *   {F, unregister, Name}   {unregister, ok | Error}
 *   {F, whereis, Name}      {whereis, Pid | undefined}
 *   {F, names}              {names, em_global_registered_names()}
 *   {F, gsend, Name, Msg}   em_global_send(Name, {EchoReply, Msg}) and the
 *                           echo it brings back: {gsend, {echo, Msg} |
 *                           Error | timeout}
 *   {F, call, Name, Req}    em_call of the pid of Name: {call, Reply | Error}
 *   {F, gcall, Name, Req}   em_call({global, Name}, Req): {gcall, Reply | Error}
 *   {F, kill, Name}         kills the pid of Name: {kill, ok}
 *   {F, sync}               em_global_sync(10000): {sync, ok | Error}
 *   {F, nodes}              {nodes, em_nodes()}
 * An echo process answers '$gen_call' Req with {echo, Req} and {Pid, Msg}
 * with Pid ! {echo, Msg}; a {global_name_conflict, ...} it gets is printed
 * on stdout.  Prints "ready" when the node is up.
 *
 *   global_node -sname N -setcookie C [-hidden] [-connect_all false]
 */
#include <stdio.h>
#include <string.h>

#include <ember.h>

#define A(s) em_atom(s)

static em_term rc_atom(int rc)
{
    if (rc == 0)
        return A("ok");
    char b[64];
    snprintf(b, sizeof b, "%s", em_err_name(rc));
    for (char *p = b; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    return A(b);
}

static void echo_main(void *arg)
{
    (void)arg;
    for (;;) {
        em_term m;
        if (em_receive_any(EM_INFINITY, &m) < 0)
            continue;
        long n = em_tuple_size(m);
        if (n == 3 && em_tuple_get(m, 0) == A("$gen_call")) {
            em_reply(em_tuple_get(m, 1), em_tuple(2, A("echo"), em_dup(em_tuple_get(m, 2))));
        } else if (n == 2 && em_typeof(em_tuple_get(m, 0)) == EM_TYPE_PID) {
            em_send(em_tuple_get(m, 0), em_tuple(2, A("echo"), em_dup(em_tuple_get(m, 1))));
        } else if (n >= 2 && em_tuple_get(m, 0) == A("global_name_conflict")) {
            em_printf("conflict ~w~n", m);
        }
    }
}

static void ctl_main(void *arg)
{
    (void)arg;
    em_register(A("ctl"), em_self());
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        em_term m;
        if (em_receive_any(EM_INFINITY, &m) < 0)
            continue;
        m = em_dup(m);
        em_term from = em_tuple_get(m, 0), cmd = em_tuple_get(m, 1), x = em_tuple_get(m, 2), r = EM_NONE;
        if (cmd == A("register")) {
            em_term pid = em_spawn(echo_main, NULL);
            int rc = em_global_register(x, pid);
            r = em_tuple(3, cmd, rc == EM_EEXIST ? A("eexist") : rc_atom(rc), pid);
        } else if (cmd == A("unregister")) {
            r = em_tuple(2, cmd, rc_atom(em_global_unregister(x)));
        } else if (cmd == A("whereis")) {
            em_term p = em_global_whereis(x);
            r = em_tuple(2, cmd, p != EM_NONE ? p : A("undefined"));
        } else if (cmd == A("names")) {
            r = em_tuple(2, cmd, em_global_registered_names());
        } else if (cmd == A("gsend")) {
            int rc = em_global_send(x, em_tuple(2, em_self(), em_dup(em_tuple_get(m, 3))));
            em_term got;
            if (rc < 0)
                r = em_tuple(2, cmd, rc_atom(rc));
            else if (em_receive(5000, "{echo, X}", &got) == 0)
                r = em_tuple(2, cmd, em_tuple(2, A("echo"), em_dup(got)));
            else
                r = em_tuple(2, cmd, A("timeout"));
        } else if (cmd == A("call")) {
            em_term p = em_global_whereis(x), rep = EM_NONE;
            int rc = p == EM_NONE ? EM_ENOTFOUND : em_call(p, em_dup(em_tuple_get(m, 3)), 5000, &rep);
            em_drop(p);
            r = em_tuple(2, cmd, rc == 0 ? rep : rc_atom(rc));
        } else if (cmd == A("gcall")) {
            em_term rep = EM_NONE, to = em_tuple(2, A("global"), em_dup(x));
            int rc = em_call(to, em_dup(em_tuple_get(m, 3)), 5000, &rep);
            em_drop(to);
            r = em_tuple(2, cmd, rc == 0 ? rep : rc_atom(rc));
        } else if (cmd == A("kill")) {
            em_term p = em_global_whereis(x);
            if (p != EM_NONE)
                em_exit_pid(p, A("kill"));
            em_drop(p);
            r = em_tuple(2, cmd, A("ok"));
        } else if (cmd == A("sync")) {
            r = em_tuple(2, cmd, rc_atom(em_global_sync(10000)));
        } else if (cmd == A("nodes")) {
            r = em_tuple(2, cmd, em_nodes());
        }
        if (r != EM_NONE && em_typeof(from) == EM_TYPE_PID)
            em_send(from, r);
        else
            em_drop(r);
        em_drop(m);
    }
}

int main(int argc, char **argv)
{
    em_node_opts o;
    em_node_opts_init(&o);
    if (em_node_args(&argc, argv, &o) < 0 || argc != 1) {
        fprintf(stderr, "usage: global_node -sname N -setcookie C [-hidden] [-connect_all false]\n");
        return 2;
    }
    int rc = em_node_start_opts(&o);
    if (rc < 0) {
        fprintf(stderr, "global_node: %s\n", em_strerror(rc));
        return 1;
    }
    em_spawn(ctl_main, NULL);
    return em_run();
}
