%% receiver.erl: the seed's receiver, the Erlang twin of examples/receiver.c.
%% receiver:start() registers a process as `receiver`; for every
%% {From, Message} it gets it prints "Received: ~p" and answers From with
%% {thanks, "Thanks for the message!"}.  See README.md for the commands.
-module(receiver).
-export([start/0, loop/0]).

start() ->
    register(receiver, spawn(fun loop/0)).

loop() ->
    receive
        {From, Message} ->
            io:format("Received: ~p~n", [Message]),
            From ! {thanks, "Thanks for the message!"}
    end,
    loop().
