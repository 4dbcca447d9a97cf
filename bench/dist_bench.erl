%% dist_bench: BEAM's side of bench/dist.sh (the same protocol as
%% bench/bench_dist.c).
-module(dist_bench).
-export([server/0, client/1]).

server() ->
    register(sink, self()),
    io:format("started~n"),
    sink(0).
sink(K) ->
    receive
        {From, ping} -> From ! pong, sink(K);
        {stop, From} -> From ! {count, K}, sink(0);
        _ -> sink(K + 1)
    end.

client([NodeS, W, NS]) ->
    Node = list_to_atom(NodeS),
    N = list_to_integer(NS),
    pong = net_adm:ping(Node),
    To = {sink, Node},
    T0 = erlang:monotonic_time(),
    case W of
        "pingpong" -> pingpong(To, N);
        "stream_" ++ Size ->
            P = binary:copy(<<0>>, list_to_integer(Size)),
            stream(To, P, N),
            To ! {stop, self()},
            receive {count, _} -> ok end
    end,
    Dt = erlang:convert_time_unit(erlang:monotonic_time() - T0, native, microsecond) / 1.0e6,
    io:format("~w~n", [round(N / Dt)]),
    halt().

pingpong(_, 0) -> ok;
pingpong(To, N) -> To ! {self(), ping}, receive pong -> ok end, pingpong(To, N - 1).
stream(_, _, 0) -> ok;
stream(To, P, N) -> To ! P, stream(To, P, N - 1).
