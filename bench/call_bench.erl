%% call_bench: BEAM's side of bench/call.sh (the same protocol as
%% bench/bench_call.c, whose server is this gen_server's twin).
-module(call_bench).
-behaviour(gen_server).
-export([server/0, client/1]).
-export([init/1, handle_call/3, handle_cast/2]).

%% A gen_server registered as call_bench whose handle_call echoes the
%% request.
server() ->
    {ok, _} = gen_server:start({local, call_bench}, ?MODULE, [], []),
    io:format("started~n"),
    receive after infinity -> ok end.

init([]) -> {ok, []}.
handle_call(Req, _From, State) -> {reply, Req, State}.
handle_cast(_Req, State) -> {noreply, State}.

%% N gen_server:calls of {call_bench, Node} with integers, made by C
%% processes at once (N div C each, one after the other; the default
%% timeout); prints the rate (calls per second, all callers together).
client([NodeS, NS, CS]) ->
    Node = list_to_atom(NodeS),
    N = list_to_integer(NS),
    C = list_to_integer(CS),
    pong = net_adm:ping(Node),
    To = {call_bench, Node},
    0 = gen_server:call(To, 0), % connected, warmed up
    K = N div C,
    Self = self(),
    T0 = erlang:monotonic_time(),
    Pids = [spawn_link(fun() -> calls(To, K), Self ! {done, self()} end)
            || _ <- lists:seq(1, C)],
    [receive {done, P} -> ok end || P <- Pids],
    Dt = erlang:convert_time_unit(erlang:monotonic_time() - T0, native, microsecond) / 1.0e6,
    io:format("~w~n", [round(K * C / Dt)]),
    halt().

calls(_, 0) -> ok;
calls(To, I) -> I = gen_server:call(To, I), calls(To, I - 1).
