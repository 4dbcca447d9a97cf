%% runtime_bench: BEAM's side of the runtime benchmarks (bench/runtime.sh
%% runs it next to build/bench/bench_runtime and computes the ratios).
%%
%%   erl -noshell +P 2000000 -pa DIR -run runtime_bench main [WORKLOAD...]
%%
%% Runs the named workloads (all when none is named) and prints one line per
%% workload:  name TAB figure  (rates per second; mem_per_process in bytes;
%% timers_100k in ms).  Lines starting with '#' are extra information.  The workloads are those of bench/bench_runtime.c,
%% message for message; the best of ?REPS runs counts (mem_per_process is
%% measured once).  +P 2000000 is needed for the million processes.
-module(runtime_bench).
-export([main/0, main/1]).
-behaviour(gen_server).
-export([init/1, handle_call/3, handle_cast/2]).

-define(REPS, 3).
-define(PINGPONG_N, 2000000).
-define(RING_HOPS, 2000000).
-define(SPAWN_N, 1000000).
-define(FANIN_TOTAL, 2000000).
-define(DEEP_QUEUE, 10000).
-define(REFCALL_N, 200000).
-define(TAGCALL_N, 5000).
-define(GENCALL_N, 500000).
-define(TIMERS_N, 100000).

workloads() ->
    [{"pingpong", rate, fun pingpong/0},
     %% ember's pingpong with its receive patterns as text (em_receive):
     %% for BEAM the same exchange
     {"pingpong_text", rate, fun pingpong/0},
     {"ring_1k", rate, fun() -> ring(1000) end},
     {"ring_100k", rate, fun() -> ring(100000) end},
     {"spawn_1m", rate, fun spawn_1m/0},
     {"mem_per_process", once, fun mem_per_process/0},
     {"fanin_2", rate, fun() -> fanin(2) end},
     {"fanin_100", rate, fun() -> fanin(100) end},
     {"refcall_deep", rate, fun refcall_deep/0},
     {"tagcall_deep", rate, fun tagcall_deep/0},
     {"gen_call", rate, fun gen_call/0},
     {"timers_100k", time, fun timers_100k/0}].

main() -> main([]).

main(Names) ->
    try
        [run(Name, Kind, F) || {Name, Kind, F} <- workloads(),
                               Names =:= [] orelse lists:member(Name, Names)],
        halt(0)
    catch C:R:St ->
        io:format(standard_error, "runtime_bench: ~p:~p~n~p~n", [C, R, St]),
        halt(1)
    end.

%% Every workload runs in a fresh process, so one's garbage and mailbox do
%% not slow the next.
run(Name, Kind, F) ->
    Reps = case Kind of once -> 1; _ -> ?REPS end,
    Vs = [begin
              V = in_process(F),
              io:format(standard_error, "runtime_bench: ~s run ~b: ~.1f~n", [Name, I, float(V)]),
              V
          end || I <- lists:seq(1, Reps)],
    case Kind of
        rate -> io:format("~s\t~b~n", [Name, round(lists:max(Vs))]);
        _ -> io:format("~s\t~.1f~n", [Name, float(lists:min(Vs))])
    end.

in_process(F) ->
    {Pid, Mref} = spawn_monitor(fun() -> exit({result, F()}) end),
    receive
        {'DOWN', Mref, process, Pid, {result, V}} -> V;
        {'DOWN', Mref, process, Pid, Other} -> error({workload_failed, Other})
    end.

rate(N, Us) -> N / (max(Us, 1) / 1.0e6).

%% ---- pingpong ----

pingpong() ->
    Pong = spawn(fun pong/0),
    {Us, ok} = timer:tc(fun() -> ping(Pong, ?PINGPONG_N) end),
    Pong ! {self(), stop},
    rate(?PINGPONG_N, Us).

ping(_Pong, 0) -> ok;
ping(Pong, N) ->
    Pong ! {self(), ping},
    receive pong -> ping(Pong, N - 1) end.

pong() ->
    receive
        {From, ping} -> From ! pong, pong();
        {_From, stop} -> ok
    end.

%% ---- ring ----

ring(Size) ->
    Main = self(),
    First = spawn(fun() -> receive {next, Next} -> ring_node(Next, Main) end end),
    Last = lists:foldl(fun(_, Next) -> spawn(fun() -> ring_node(Next, Main) end) end,
                       First, lists:seq(2, Size)),
    First ! {next, Last},
    Last ! Size - 1,                    % warm-up lap: every node runs once
    receive done -> ok end,
    {Us, ok} = timer:tc(fun() ->
                                Last ! ?RING_HOPS - 1,
                                receive done -> ok end
                        end),
    First ! stop,
    rate(?RING_HOPS, Us).

ring_node(Next, Main) ->
    receive
        0 -> Main ! done, ring_node(Next, Main);
        K when is_integer(K) -> Next ! K - 1, ring_node(Next, Main);
        stop -> Next ! stop
    end.

%% ---- spawn_1m, mem_per_process ----

idle() -> receive stop -> ok end.

spawn_loop(0, Acc) -> Acc;
spawn_loop(N, Acc) -> spawn_loop(N - 1, [spawn(fun idle/0) | Acc]).

spawn_1m() ->
    {Us, Pids} = timer:tc(fun() -> spawn_loop(?SPAWN_N, []) end),
    [P ! stop || P <- Pids],
    rate(?SPAWN_N, Us).

%% erlang:memory(processes) growth per process, once every process waits
%% in its receive; this process's own growth (the list of pids) is left out.
mem_per_process() ->
    garbage_collect(),
    M0 = erlang:memory(processes) - own_memory(),
    T0 = erlang:monotonic_time(microsecond),
    Pids = spawn_loop(?SPAWN_N, []),
    wait_all_waiting(lists:reverse(Pids)),
    Ms = (erlang:monotonic_time(microsecond) - T0) / 1000,
    garbage_collect(),
    M1 = erlang:memory(processes) - own_memory(),
    [P ! stop || P <- Pids],
    io:format("# mem_per_process: beam: all ~b processes waiting ~b ms after the first spawn~n",
              [?SPAWN_N, round(Ms)]),
    (M1 - M0) / ?SPAWN_N.

own_memory() ->
    {memory, M} = process_info(self(), memory),
    M.

wait_all_waiting([]) -> ok;
wait_all_waiting([P | Ps] = All) ->
    case process_info(P, status) of
        {status, waiting} -> wait_all_waiting(Ps);
        _ -> timer:sleep(1), wait_all_waiting(All)
    end.

%% ---- fan-in ----

fanin(Senders) ->
    Main = self(),
    PerSender = ?FANIN_TOTAL div Senders,
    {Us, ok} = timer:tc(fun() ->
                                C = spawn(fun() -> counter(?FANIN_TOTAL, Main) end),
                                [spawn(fun() -> send_n(C, PerSender) end)
                                 || _ <- lists:seq(1, Senders)],
                                receive done -> ok end
                        end),
    rate(?FANIN_TOTAL, Us).

counter(0, Main) -> Main ! done;
counter(N, Main) -> receive inc -> counter(N - 1, Main) end.

send_n(_C, 0) -> ok;
send_n(C, N) -> C ! inc, send_n(C, N - 1).

%% ---- calls with a deep mailbox ----

fill_mailbox() ->
    [self() ! {junk, I} || I <- lists:seq(0, ?DEEP_QUEUE - 1)],
    ok.

ref_server() ->
    receive
        {call, From, Ref, stop} -> From ! {Ref, stop};
        {call, From, Ref, Req} -> From ! {Ref, Req}, ref_server()
    end.

%% make_ref, send, receive {Ref, _}: the compiler's receive marker skips
%% the messages that were queued before the reference was made.
ref_call(Server, Req) ->
    Ref = make_ref(),
    Server ! {call, self(), Ref, Req},
    receive {Ref, Reply} -> Reply end.

refcall_deep() ->
    Server = spawn(fun ref_server/0),
    fill_mailbox(),
    {Us, ok} = timer:tc(fun() -> ref_calls(Server, 0) end),
    stop = ref_call(Server, stop),
    rate(?REFCALL_N, Us).

ref_calls(_Server, ?REFCALL_N) -> ok;
ref_calls(Server, I) ->
    I = ref_call(Server, I),
    ref_calls(Server, I + 1).

tag_server() ->
    receive
        {call, From, stop} -> From ! {reply, stop};
        {call, From, Req} -> From ! {reply, Req}, tag_server()
    end.

tag_call(Server, Req) ->
    Server ! {call, self(), Req},
    receive {reply, Reply} -> Reply end.

tagcall_deep() ->
    Server = spawn(fun tag_server/0),
    fill_mailbox(),
    {Us, ok} = timer:tc(fun() -> tag_calls(Server, 0) end),
    stop = tag_call(Server, stop),
    rate(?TAGCALL_N, Us).

tag_calls(_Server, ?TAGCALL_N) -> ok;
tag_calls(Server, I) ->
    I = tag_call(Server, I),
    tag_calls(Server, I + 1).

%% ---- gen_server calls ----

%% gen_server:call(Pid, Req) with the default timeout (gen's monitor, alias
%% and [alias|Mref] tag) to a gen_server whose handle_call echoes Req.
gen_call() ->
    {ok, Server} = gen_server:start(?MODULE, [], []),
    {Us, ok} = timer:tc(fun() -> gen_calls(Server, 0) end),
    gen_server:stop(Server),
    rate(?GENCALL_N, Us).

gen_calls(_Server, ?GENCALL_N) -> ok;
gen_calls(Server, I) ->
    I = gen_server:call(Server, I),
    gen_calls(Server, I + 1).

init([]) -> {ok, []}.
handle_call(Req, _From, State) -> {reply, Req, State}.
handle_cast(_Req, State) -> {noreply, State}.

%% ---- timers ----

timers_100k() ->
    Main = self(),
    {Us, ok} = timer:tc(fun() ->
                                [spawn(fun() -> receive after 50 -> Main ! done end end)
                                 || _ <- lists:seq(1, ?TIMERS_N)],
                                wait_done(?TIMERS_N)
                        end),
    Us / 1000.

wait_done(0) -> ok;
wait_done(N) -> receive done -> wait_done(N - 1) end.
