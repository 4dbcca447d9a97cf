%% rpc_helper.erl: the Erlang side of tests/interop/rpc.sh.
%%
%% The functions above check/2 are the twins of the C functions
%% tests/interop/rpc_peer.c exports under the same names: an Erlang node
%% running this module and the ember node answer the same calls, and
%% check/2 compares what OTP's own spawn, rpc and erpc give for each (file
%% and line locations in stacks aside, which C has not).  Every check
%% prints "ok: Label" or "FAIL: Label ..."; "checks done" at the end.
-module(rpc_helper).
-export([pair/2, boom/1, ex/1, th/1, slow/1, echo/2, gl/0, signal/0, say/1]).
-export([check/2, serve/0, compare/2]).

pair(A, B) -> {B, A}.
boom(R) -> error(R).
ex(R) -> exit(R).
th(T) -> throw(T).
slow(Ms) -> timer:sleep(Ms), done.
echo(Pid, Msg) -> Pid ! {echo, Msg, self()}, ok.
gl() -> group_leader().
signal() -> exit(self(), kill).
say(X) -> io:format("said ~p~n", [X]).

%% An Erlang node that only waits (the twin of the C node).
serve() ->
    io:format("started~n"),
    receive after infinity -> ok end.

%% Stacks without file/line: [{M, F, A, []}].
norm({M, F, A, _Loc}) when is_atom(M), is_atom(F) -> {M, F, A, []};
norm(T) when is_tuple(T) -> list_to_tuple([norm(E) || E <- tuple_to_list(T)]);
norm(L) when is_list(L) -> [norm(E) || E <- L];
norm(X) -> X.

report(Label, true, _) -> io:format("ok: ~s~n", [Label]);
report(Label, false, Detail) -> io:format("FAIL: ~s: ~p~n", [Label, Detail]).

%% Outcome of a call as {value, V} or {Class, Reason}, for erpc.
outcome(F) ->
    try {value, F()}
    catch C:R -> {C, R}
    end.

same(Label, C, E, Fun) ->
    GotC = norm(Fun(C)),
    GotE = norm(Fun(E)),
    %% Two unreachable nodes would answer alike: the twin must be there.
    Reached = not lists:member(GotE, [{badrpc, nodedown}, {error, {erpc, noconnection}}, noconnection]),
    report(Label, Reached andalso GotC =:= GotE, {ember, GotC, erlang, GotE}).

%% C: the ember node, E: the Erlang twin.
check(C, E) ->
    %% rpc:call and erpc:call: value, error, exit, throw, undef, a killed
    %% process, a module that does not exist: the same as on Erlang.
    Calls = [{pair, [a, b]}, {boom, [bad]}, {boom, [{nested, [1, 2]}]}, {ex, [bye]}, {th, [ball]},
             {th, [{'EXIT', fake}]}, {nofun, [1, 2]}, {pair, [one]}, {signal, []}],
    [same(io_lib:format("rpc:call ~p~p", [F, A]), C, E,
          fun(N) -> rpc:call(N, rpc_helper, F, A) end) || {F, A} <- Calls],
    [same(io_lib:format("erpc:call ~p~p", [F, A]), C, E,
          fun(N) -> outcome(fun() -> erpc:call(N, rpc_helper, F, A) end) end) || {F, A} <- Calls],
    same("rpc:call of a module nobody has", C, E, fun(N) -> rpc:call(N, nomod, nofun, [1]) end),
    %% more arguments than any function takes: undef on both; from 1024
    %% on, more than apply takes: system_limit
    [begin
         Many = lists:seq(1, Len),
         same(io_lib:format("erpc:call with ~p arguments", [Len]), C, E,
              fun(N) -> outcome(fun() -> erpc:call(N, rpc_helper, pair, Many) end) end),
         same(io_lib:format("rpc:call with ~p arguments", [Len]), C, E,
              fun(N) -> rpc:call(N, rpc_helper, pair, Many) end),
         same(io_lib:format("spawn_request with ~p arguments: spawned, then DOWN", [Len]), C, E,
              fun(N) ->
                      SR = spawn_request(N, rpc_helper, pair, Many, [monitor]),
                      receive
                          {spawn_reply, SR, ok, _} ->
                              receive {'DOWN', SR, process, _, SW} -> SW after 5000 -> no_down end;
                          {spawn_reply, SR, error, SE} -> {error, SE}
                      after 5000 -> no_reply
                      end
              end)
     end || Len <- [256, 1024]],
    %% what goes through rex: rpc:block_call, a gen_server call with
    %% {call, ...}, sbcast
    %% (not signal/0: OTP's rex runs a block_call in its own process, so
    %% exit(self(), kill) kills rex and takes the Erlang node down; ember's
    %% runs it in a process of its own: {badrpc, {'EXIT', killed}})
    [same(io_lib:format("rpc:block_call ~p~p", [F, A]), C, E,
          fun(N) -> rpc:block_call(N, rpc_helper, F, A) end) || {F, A} <- Calls, F =/= signal],
    same("rpc:block_call timeout", C, E, fun(N) -> rpc:block_call(N, rpc_helper, slow, [3000], 300) end),
    [same(io_lib:format("gen_server:call(rex, {call, ~p, ~p})", [F, A]), C, E,
          fun(N) -> gen_server:call({rex, N}, {call, rpc_helper, F, A, group_leader()}) end) || {F, A} <- Calls],
    same("rpc:sbcast to a name nobody has", C, E,
         fun(N) -> {[], Bad} = rpc:sbcast([N], nobody_here, hi), Bad =:= [N] end),
    same("rpc:call timeout", C, E, fun(N) -> rpc:call(N, rpc_helper, slow, [3000], 300) end),
    same("erpc:call timeout", C, E,
         fun(N) -> outcome(fun() -> erpc:call(N, rpc_helper, slow, [3000], 300) end) end),
    same("the function's group leader is the caller's", C, E,
         fun(N) -> rpc:call(N, rpc_helper, gl, []) =:= group_leader() end),
    report("rpc:call(N, erlang, node, [])", rpc:call(C, erlang, node, []) =:= C, rpc:call(C, erlang, node, [])),
    Nodes = rpc:call(C, erlang, nodes, []),
    case lists:member(C, nodes(hidden)) of
        true -> report("erlang:nodes/0 of a hidden node: []", Nodes =:= [], Nodes);
        false -> report("erlang:nodes/0 of a visible node: the caller's among them", lists:member(node(), Nodes), Nodes)
    end,
    Reg = rpc:call(C, erlang, registered, []),
    report("erlang:registered/0 lists net_kernel", is_list(Reg) andalso lists:member(net_kernel, Reg), Reg),
    NK = rpc:call(C, erlang, whereis, [net_kernel]),
    report("erlang:whereis/1", is_pid(NK) andalso node(NK) =:= C
           andalso rpc:call(C, erlang, whereis, [nobody]) =:= undefined, NK),
    same("erlang:whereis/1 of no atom", C, E, fun(N) -> element(1, rpc:call(N, erlang, whereis, [1])) end),
    %% erpc:multicall and rpc:multicall over both nodes.
    M1 = erpc:multicall([C, E], rpc_helper, pair, [1, 2]),
    report("erpc:multicall", M1 =:= [{ok, {2, 1}}, {ok, {2, 1}}], M1),
    [MC, ME] = norm(erpc:multicall([C, E], rpc_helper, boom, [x])),
    report("erpc:multicall of an error", MC =:= ME andalso element(1, MC) =:= error, {MC, ME}),
    M2 = rpc:multicall([C, E], rpc_helper, pair, [1, 2]),
    report("rpc:multicall", M2 =:= {[{2, 1}, {2, 1}], []}, M2),
    %% spawn onto the node: a pid of that node, running the export.
    P = spawn(C, rpc_helper, echo, [self(), spawned]),
    report("spawn/4: a pid of the node", node(P) =:= C, P),
    R1 = receive {echo, spawned, From} -> From =:= P after 5000 -> timeout end,
    report("spawn/4: the export ran in that process", R1 =:= true, R1),
    same("spawn_monitor/4 of an error: DOWN reason", C, E,
         fun(N) ->
                 {_, Ref} = spawn_monitor(N, rpc_helper, boom, [sm]),
                 receive {'DOWN', Ref, process, _, Why} -> Why after 5000 -> timeout end
         end),
    same("spawn_monitor/4 of a function not exported", C, E,
         fun(N) ->
                 {_, Ref} = spawn_monitor(N, rpc_helper, nofun, [1]),
                 receive {'DOWN', Ref, process, _, Why} -> Why after 5000 -> timeout end
         end),
    process_flag(trap_exit, true),
    same("spawn_link/4 of an exit: EXIT reason", C, E,
         fun(N) ->
                 Pid = spawn_link(N, rpc_helper, ex, [sl]),
                 receive {'EXIT', Pid, Why} -> Why after 5000 -> timeout end
         end),
    same("spawn_link/4 of a return: EXIT normal", C, E,
         fun(N) ->
                 Pid = spawn_link(N, rpc_helper, pair, [1, 2]),
                 receive {'EXIT', Pid, Why} -> Why after 5000 -> timeout end
         end),
    process_flag(trap_exit, false),
    same("spawn_opt with process options", C, E,
         fun(N) ->
                 {Pid, Ref} = spawn_opt(N, rpc_helper, pair, [1, 2],
                                        [monitor, {priority, high}, {fullsweep_after, 5}]),
                 receive {'DOWN', Ref, process, Pid, Why} -> Why after 5000 -> timeout end
         end),
    same("spawn_opt with an unknown option: badarg", C, E,
         fun(N) -> element(1, element(2, catch spawn_opt(N, rpc_helper, pair, [1, 2], [{bogus, 1}]))) end),
    %% casts: the function runs; rpc:cast answers true, erpc:cast ok
    report("rpc:cast", rpc:cast(C, rpc_helper, echo, [self(), cast]) =:= true, cast),
    R2 = receive {echo, cast, F2} -> node(F2) =:= C after 5000 -> timeout end,
    report("rpc:cast ran the export on the node", R2 =:= true, R2),
    report("erpc:cast", erpc:cast(C, rpc_helper, echo, [self(), ecast]) =:= ok, ecast),
    R3 = receive {echo, ecast, F3} -> node(F3) =:= C after 5000 -> timeout end,
    report("erpc:cast ran the export on the node", R3 =:= true, R3),
    %% output of the function goes to the caller's group leader: this
    %% node's standard output (rpc.sh looks for both lines)
    same("io:format / em_io_format of the function: ok", C, E,
         fun(N) -> rpc:call(N, rpc_helper, say, [{from, N}]) end),
    %% nothing left over in the mailbox (no stray replies or DOWNs)
    timer:sleep(200),
    {messages, Left} = process_info(self(), messages),
    report("no message left over", Left =:= [], Left),
    io:format("checks done~n").

%% compare(C, E): only the rpc:call answers, printed (for a human).
compare(C, E) ->
    [io:format("~p: ~p~n   ~p~n", [F, rpc:call(C, rpc_helper, F, A), rpc:call(E, rpc_helper, F, A)])
     || {F, A} <- [{pair, [a, b]}, {boom, [bad]}, {nofun, [1]}]].
