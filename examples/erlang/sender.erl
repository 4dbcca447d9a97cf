%% sender.erl: the seed's sender, the Erlang twin of examples/sender.c.
%% sender:send(Node) connects to Node, sends {self(), "Hello from sender"} to
%% the process registered there as `receiver` and prints the reply, or
%% "No reply received" after 5 seconds.  See README.md for the commands.
-module(sender).
-export([send/1]).

send(ReceiverNode) ->
    net_adm:ping(ReceiverNode),
    {receiver, ReceiverNode} ! {self(), "Hello from sender"},
    receive
        Reply -> io:format("Received reply: ~p~n", [Reply])
    after 5000 ->
        io:format("No reply received~n")
    end.
