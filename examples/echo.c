/* echo.c: a registered process `echo` that sends every term back.
 *
 *   echo -name echo@127.0.0.1 -setcookie abc     (or -sname NAME)
 *
 * The Erlang it mirrors:
 *
 *   start() -> register(echo, spawn(fun loop/0)).
 *   loop() -> receive {Pid, Term} -> Pid ! Term end, loop().
 *
 * Runs until killed.  The interop test uses it to check that every kind of
 * term, pids, references, ports and funs of other nodes included, comes
 * back =:= to what was sent.
 */
#include <stdio.h>

#include <ember.h>

static void loop(void *arg)
{
    (void)arg;
    for (;;) {
        em_term pid, term;
        em_receive(EM_INFINITY, "{Pid, Term}", &pid, &term);
        em_send(pid, em_dup(term)); /* term is borrowed from the message */
    }
}

int main(int argc, char **argv)
{
    em_node_opts node;
    em_node_opts_init(&node);
    if (em_node_args(&argc, argv, &node) < 0 || argc != 1) {
        fprintf(stderr, "usage: echo -name|-sname NAME [-setcookie COOKIE]\n");
        return 2;
    }
    int rc = em_node_start_opts(&node);
    if (rc < 0) {
        fprintf(stderr, "echo: cannot start node %s: %s\n", node.name, em_strerror(rc));
        return 1;
    }
    em_register(em_atom("echo"), em_spawn(loop, NULL));
    return em_run();
}
