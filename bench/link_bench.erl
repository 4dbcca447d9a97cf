%% link_bench: BEAM's side of bench/link.sh (fault tolerance workloads).
%% Prints one line per workload: name TAB figure (ops/s or ms).
-module(link_bench).
-export([main/1]).

main([Name]) -> run(Name), halt();
main(_) -> run(""), halt().

run(Name) ->
    [bench(W, F) || {W, F} <- [{"link_exit", fun link_exit/0},
                               {"monitor_demonitor", fun monitor_demonitor/0},
                               {"monitor_down", fun monitor_down/0},
                               {"chain_kill_100k", fun chain_kill/0}],
                    string:find(W, Name) =/= nomatch].

bench(W, F) ->
    Best = lists:max([F() || _ <- lists:seq(1, 3)]),
    io:format("~s\t~p~n", [W, Best]).

%% spawn_link a child that exits at once; wait for its 'EXIT'.  Rate.
link_exit() ->
    process_flag(trap_exit, true),
    N = 200000,
    {T, ok} = timer:tc(fun() -> link_exit(N) end),
    round(N / (T / 1.0e6)).

link_exit(0) -> ok;
link_exit(N) ->
    P = spawn_link(fun() -> exit(boom) end),
    receive {'EXIT', P, boom} -> link_exit(N - 1) end.

%% monitor + demonitor of a live process.  Rate.
monitor_demonitor() ->
    T = spawn(fun() -> receive stop -> ok end end),
    N = 1000000,
    {Us, ok} = timer:tc(fun() -> mon(T, N) end),
    T ! stop,
    round(N / (Us / 1.0e6)).

mon(_, 0) -> ok;
mon(T, N) ->
    R = monitor(process, T),
    demonitor(R),
    mon(T, N - 1).

%% spawn_monitor a child that returns at once; wait for its 'DOWN'.  Rate.
monitor_down() ->
    N = 200000,
    {T, ok} = timer:tc(fun() -> monitor_down(N) end),
    round(N / (T / 1.0e6)).

monitor_down(0) -> ok;
monitor_down(N) ->
    {P, R} = spawn_monitor(fun() -> ok end),
    receive {'DOWN', R, process, P, normal} -> monitor_down(N - 1) end.

%% 100,000 processes linked in a chain; kill the last; time (negated so
%% that max picks the best) until the first is gone, in ms.
chain_kill() ->
    Self = self(),
    Head = spawn(fun() -> chain(99999, Self) end),
    Last = receive {last, L} -> L end,
    Ref = monitor(process, Head),
    T0 = erlang:monotonic_time(microsecond),
    exit(Last, kill),
    receive {'DOWN', Ref, process, Head, _} -> ok end,
    T1 = erlang:monotonic_time(microsecond),
    -((T1 - T0) / 1000).

chain(0, Parent) -> Parent ! {last, self()}, receive _ -> ok end;
chain(N, Parent) -> spawn_link(fun() -> chain(N - 1, Parent) end), receive _ -> ok end.
