%% deep_helper.erl: the Erlang side of tests/interop/deep.sh.
%%  echo/0: register `echo`, a process that sends every {Pid, Term} back
%%          to Pid unchanged (what build/examples/echo does in C).
%%  send/1: [Node, Kind, Depth, TimeoutSeconds]: build a list ([A]) or a
%%          tuple ({A}) nested Depth levels deep, send {self(), Term} to
%%          {echo, Node}, and print "deep: ok", "deep: mismatch",
%%          "deep: nodedown" (the connection went down) or "deep: timeout"
%%          (then halt).
-module(deep_helper).
-export([echo/0, send/1]).

echo() ->
    register(echo, spawn(fun loop/0)),
    io:format("started~n").

loop() ->
    receive {Pid, Term} -> Pid ! Term end,
    loop().

deep(list, D) -> lists:foldl(fun(_, A) -> [A] end, [], lists:seq(1, D));
deep(tuple, D) -> lists:foldl(fun(_, A) -> {A} end, {}, lists:seq(1, D)).

send([NodeS, KindS, DepthS, TimeoutS]) ->
    Node = list_to_atom(NodeS),
    Kind = list_to_atom(KindS),
    Depth = list_to_integer(DepthS),
    T = deep(Kind, Depth),
    Bytes = byte_size(term_to_binary(T)),
    true = net_kernel:connect_node(Node) orelse fail(Node),
    monitor_node(Node, true),
    T0 = erlang:monotonic_time(millisecond),
    {echo, Node} ! {self(), T},
    Result = receive
                 {nodedown, Node} -> nodedown;
                 R when R =:= T -> ok;
                 _ -> mismatch
             after list_to_integer(TimeoutS) * 1000 -> timeout
             end,
    Ms = erlang:monotonic_time(millisecond) - T0,
    io:format("deep: ~p (~p ~p deep, ~p bytes, ~p ms)~n", [Result, Kind, Depth, Bytes, Ms]),
    %% On a failure, give the logger time to print why the connection
    %% went down (halt/0 would cut its report off).
    Result =:= ok orelse timer:sleep(2000),
    halt().

fail(Node) ->
    io:format("deep: cannot connect to ~p~n", [Node]),
    halt(1).
