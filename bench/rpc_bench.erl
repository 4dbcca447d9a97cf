%% rpc_bench: BEAM's side of bench/rpc.sh (the same protocol as
%% bench/bench_rpc.c, whose export rpc_bench:echo/1 is echo/1's twin).
-module(rpc_bench).
-export([echo/1, server/0, client/1]).

echo(X) -> X.

server() ->
    io:format("started~n"),
    receive after infinity -> ok end.

%% N rpc:calls of rpc_bench:echo(I) to Node, one after the other; prints
%% the rate (calls per second).
client([NodeS, NS]) ->
    Node = list_to_atom(NodeS),
    N = list_to_integer(NS),
    pong = net_adm:ping(Node),
    1 = rpc:call(Node, rpc_bench, echo, [1]), % connected, warmed up
    T0 = erlang:monotonic_time(),
    loop(Node, N),
    Dt = erlang:convert_time_unit(erlang:monotonic_time() - T0, native, microsecond) / 1.0e6,
    io:format("~w~n", [round(N / Dt)]),
    halt().

loop(_, 0) -> ok;
loop(Node, N) -> N = rpc:call(Node, rpc_bench, echo, [N]), loop(Node, N - 1).
