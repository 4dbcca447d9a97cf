/* receiver.c: the seed's receiver.erl, in C.
 *
 *   receiver -name node2@localhost -setcookie abc     (or -sname NAME)
 *
 * The Erlang it mirrors, line for line:
 *
 *   start() ->
 *       register(receiver, spawn(fun loop/0)).
 *
 *   loop() ->
 *       receive
 *           {From, Message} ->
 *               io:format("Received: ~p~n", [Message]),
 *               From ! {thanks, "Thanks for the message!"}
 *       end,
 *       loop().
 *
 * Runs until killed.
 */
#include <stdio.h>

#include <ember.h>

static void loop(void *arg)
{
    (void)arg;
    for (;;) {
        em_term from, message;
        em_receive(EM_INFINITY, "{From, Message}", &from, &message);
        em_printf("Received: ~p~n", message);
        em_send(from, em_parse("{thanks, \"Thanks for the message!\"}"));
    }
}

static void start(void)
{
    em_register(em_atom("receiver"), em_spawn(loop, NULL));
}

int main(int argc, char **argv)
{
    em_node_opts node;
    em_node_opts_init(&node);
    if (em_node_args(&argc, argv, &node) < 0 || argc != 1) {
        fprintf(stderr, "usage: receiver -name|-sname NAME [-setcookie COOKIE]\n");
        return 2;
    }
    int rc = em_node_start_opts(&node);
    if (rc < 0) {
        fprintf(stderr, "receiver: cannot start node %s: %s\n", node.name, em_strerror(rc));
        return 1;
    }
    start();
    return em_run();
}
