/* sender.c: the seed's sender.erl, in C.
 *
 *   sender -name node1@localhost -setcookie abc node2@localhost
 *
 * The Erlang it mirrors, line for line:
 *
 *   send(ReceiverNode) ->
 *       net_adm:ping(ReceiverNode),
 *       {receiver, ReceiverNode} ! {self(), "Hello from sender"},
 *       receive
 *           Reply -> io:format("Received reply: ~p~n", [Reply])
 *       after 5000 ->
 *           io:format("No reply received~n")
 *       end.
 *
 * Exits 0 after a reply, 1 without one.
 */
#include <stdio.h>

#include <ember.h>

static const char *receiver_node_name;

static void send(void *arg)
{
    (void)arg;
    em_term receiver_node = em_atom(receiver_node_name);
    em_node_ping(receiver_node, EM_INFINITY);
    em_term receiver = em_tuple(2, em_atom("receiver"), receiver_node);
    em_send(receiver, em_tuple(2, em_self(), em_string("Hello from sender")));
    em_drop(receiver);
    em_term reply;
    if (em_receive(5000, "Reply", &reply) == 0) {
        em_printf("Received reply: ~p~n", reply);
        em_stop(0);
    } else {
        em_printf("No reply received~n");
        em_stop(1);
    }
}

int main(int argc, char **argv)
{
    em_node_opts node;
    em_node_opts_init(&node);
    if (em_node_args(&argc, argv, &node) < 0 || argc != 2) {
        fprintf(stderr, "usage: sender -name|-sname NAME [-setcookie COOKIE] RECEIVER_NODE\n");
        return 2;
    }
    receiver_node_name = argv[1];
    int rc = em_node_start_opts(&node);
    if (rc < 0) {
        fprintf(stderr, "sender: cannot start node %s: %s\n", node.name, em_strerror(rc));
        return 1;
    }
    em_spawn(send, NULL);
    return em_run();
}
