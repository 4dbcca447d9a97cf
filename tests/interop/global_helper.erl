%% global_helper: the driver of tests/interop/global.sh, run on a hidden
%% erl node (hidden nodes take no part in global), and the functions it
%% runs on the visible erl nodes by rpc.  Each check prints one line,
%% "CHECK <label> ok" or "CHECK <label> FAIL <details>".
-module(global_helper).
-export([main/1, start_echo/1, echo/0, gsend/2, sync_within/1]).

-define(T, 15000).

%% ---- on the visible erl nodes ----

echo() ->
    receive
        {'$gen_call', From, Req} -> gen_server:reply(From, {echo, Req});
        {Pid, Msg} when is_pid(Pid) -> Pid ! {echo, Msg};
        _ -> ok
    end,
    echo().

%% A process registered globally as Name: {yes | no, Pid}.
start_echo(Name) ->
    P = spawn(fun echo/0),
    {global:register_name(Name, P), P}.

gsend(Name, Msg) ->
    global:send(Name, {self(), Msg}),
    receive {echo, R} -> R after 5000 -> timeout end.

%% global:sync() in Ms milliseconds: {ok, TookMs} | timeout (the waiter
%% is left running: global:sync/0 cannot be stopped).
sync_within(Ms) ->
    Self = self(),
    T0 = erlang:monotonic_time(millisecond),
    spawn(fun() -> Self ! {synced, global:sync()} end),
    receive {synced, ok} -> {ok, erlang:monotonic_time(millisecond) - T0}
    after Ms -> timeout
    end.

%% ---- the driver ----

ctl(C, Cmd, Args) ->
    {ctl, C} ! list_to_tuple([self(), Cmd | Args]),
    receive
        {Cmd, R} -> R;
        {Cmd, R, P} -> {R, P}
    after ?T -> timeout
    end.

check(Label, true) -> io:format("CHECK ~s ok~n", [Label]);
check(Label, What) -> io:format("CHECK ~s FAIL ~p~n", [Label, What]).

%% Fun() returns true within Ms, else the last thing it returned.
until(Fun, Ms) ->
    case Fun() of
        true -> true;
        Other when Ms =< 0 -> Other;
        _ -> timer:sleep(100), until(Fun, Ms - 100)
    end.

r(N, M, F, A) -> rpc:call(N, M, F, A, ?T).

visible(N) -> r(N, erlang, nodes, []).

has_all(N, Want) ->
    fun() -> L = visible(N), case Want -- L of [] -> true; Miss -> {N, missing, Miss, has, L} end end.

c_nodes(C) -> [N || N <- ctl(C, nodes, []), N =/= node()].

where_all(Ns, Name, Want) ->
    fun() ->
            Got = [{N, r(N, global, whereis_name, [Name])} || N <- Ns],
            case [X || {_, P} = X <- Got, P =/= Want] of [] -> true; Bad -> Bad end
    end.

sync_ok(Label, N) ->
    case r(N, ?MODULE, sync_within, [5000]) of
        {ok, Ms} -> io:format("sync ~s ~p ms~n", [Label, Ms]), check("global:sync() on " ++ Label, true);
        Other -> check("global:sync() on " ++ Label, Other)
    end.

main([C1, E1, E2, E3, A0, Z1, Y1, A1, B1, Z2, CF, F1, F2]) ->
    %% ---- 1. Erlang nodes that only connect to the ember node: sync, mesh
    [begin
         true = r(E, net_kernel, connect_node, [C1]),
         sync_ok(atom_to_list(E), E)
     end || E <- [E1, E2, E3]],
    check("e1 sees e2, e3 and the ember node", until(has_all(E1, [E2, E3, C1]), 5000)),
    check("e2 sees e1, e3 and the ember node", until(has_all(E2, [E1, E3, C1]), 5000)),
    check("e3 sees e1, e2 and the ember node", until(has_all(E3, [E1, E2, C1]), 5000)),
    check("the ember node is connected to e1, e2, e3",
          until(fun() -> lists:sort(c_nodes(C1)) =:= lists:sort([E1, E2, E3]) end, 5000)),
    [sync_ok("again " ++ atom_to_list(E), E) || E <- [E1, E2, E3]],
    check("em_global_sync", ctl(C1, sync, []) =:= ok),
    check("e1's global synced the ember node",
          lists:member(C1, r(E1, gen_server, call, [global_name_server, get_synced]))),

    %% ---- 2. names registered in C, used from Erlang
    {ok, CP} = ctl(C1, register, [cname]),
    check("em_global_register", node(CP) =:= C1),
    check("global:whereis_name of a C name on e1, e2, e3", until(where_all([E1, E2, E3], cname, CP), 3000)),
    check("gen_server:call({global, cname}) from e2", r(E2, gen_server, call, [{global, cname}, hello]) =:= {echo, hello}),
    check("global:send(cname) from e3", r(E3, ?MODULE, gsend, [cname, hi]) =:= hi),
    check("em_global_register of a taken name: eexist", element(1, ctl(C1, register, [cname])) =:= eexist),
    check("global:register_name of a C name from e1: no", element(1, r(E1, ?MODULE, start_echo, [cname])) =:= no),
    check("em_global_registered_names", lists:member(cname, ctl(C1, names, []))),

    %% ---- 3. names registered in Erlang, used from C
    {yes, EP} = r(E3, ?MODULE, start_echo, [ename]),
    check("em_global_whereis of an Erlang name", until(fun() -> ctl(C1, whereis, [ename]) =:= EP end, 3000)),
    check("em_global_send to an Erlang name", ctl(C1, gsend, [ename, ping]) =:= {echo, ping}),
    check("em_call of an Erlang name", ctl(C1, call, [ename, req]) =:= {echo, req}),
    check("em_call({global, Name}) of an Erlang name", ctl(C1, gcall, [ename, req2]) =:= {echo, req2}),
    check("em_call({global, Name}) of nobody: enoproc", ctl(C1, gcall, [nobody, req3]) =:= enoproc),

    %% ---- 4. unregister both ways
    check("em_global_unregister", ctl(C1, unregister, [cname]) =:= ok),
    check("gone on e1, e2, e3", until(where_all([E1, E2, E3], cname, undefined), 3000)),
    r(E3, global, unregister_name, [ename]),
    check("global:unregister_name seen from C", until(fun() -> ctl(C1, whereis, [ename]) =:= undefined end, 3000)),

    %% ---- 5. names die with their process
    {ok, DP} = ctl(C1, register, [cdie]),
    check("a C name before its process dies", until(where_all([E1, E2, E3], cdie, DP), 3000)),
    ctl(C1, kill, [cdie]),
    check("a C name gone with its process on e1, e2, e3", until(where_all([E1, E2, E3], cdie, undefined), 3000)),
    check("... and on the ember node", until(fun() -> ctl(C1, whereis, [cdie]) =:= undefined end, 3000)),
    {yes, EDP} = r(E2, ?MODULE, start_echo, [edie]),
    check("an Erlang name seen from C", until(fun() -> ctl(C1, whereis, [edie]) =:= EDP end, 3000)),
    r(E2, erlang, exit, [EDP, kill]),
    check("an Erlang name gone with its process, seen from C",
          until(fun() -> ctl(C1, whereis, [edie]) =:= undefined end, 3000)),

    %% ---- 6. names die with their node
    {yes, NP} = r(E3, ?MODULE, start_echo, [edown]),
    check("an Erlang name on e3 seen from C", until(fun() -> ctl(C1, whereis, [edown]) =:= NP end, 3000)),
    rpc:cast(E3, erlang, halt, []),
    check("names of e3 gone with e3, seen from C", until(fun() -> ctl(C1, whereis, [edown]) =:= undefined end, 5000)),
    check("the ember node lost e3", until(fun() -> not lists:member(E3, c_nodes(C1)) end, 5000)),
    [sync_ok("after e3 went: " ++ atom_to_list(E), E) || E <- [E1, E2]],

    %% ---- 7. a clash the ember node resolves itself (its pid, the
    %% smaller node: random_exit_name keeps it and kills the other)
    {ok, AP} = ctl(A0, register, [clash]),
    {yes, ZP} = r(Z1, ?MODULE, start_echo, [clash]),
    true = r(Z1, net_kernel, connect_node, [A0]),
    sync_ok("z1 after joining a0", Z1),
    check("clash resolved by the ember node: its pid everywhere",
          until(fun() -> {r(Z1, global, whereis_name, [clash]), ctl(A0, whereis, [clash])} =:= {AP, AP} end, 5000)),
    check("... and the Erlang pid killed", until(fun() -> r(Z1, erlang, is_process_alive, [ZP]) =:= false end, 3000)),

    %% ---- 8. a clash the ember node resolves by asking the node of the
    %% existing pid (an Erlang node: rpc of global:resolve_it)
    {yes, ZP3} = r(Z1, ?MODULE, start_echo, [clash3]),
    check("z1's name seen by the ember node", until(fun() -> ctl(A0, whereis, [clash3]) =:= ZP3 end, 3000)),
    {yes, YP3} = r(Y1, ?MODULE, start_echo, [clash3]),
    true = r(Y1, net_kernel, connect_node, [A0]),
    sync_ok("y1 after joining a0", Y1),
    check("y1 meshes with z1 through the ember node", until(has_all(Y1, [A0, Z1]), 5000)),
    check("clash resolved by z1 for the ember node: one pid everywhere",
          until(fun() -> {r(Y1, global, whereis_name, [clash3]), r(Z1, global, whereis_name, [clash3]),
                          ctl(A0, whereis, [clash3])} =:= {YP3, YP3, YP3} end, 5000)),
    check("... and the loser killed", until(fun() -> r(Z1, erlang, is_process_alive, [ZP3]) =:= false end, 3000)),

    %% ---- 9. a clash an Erlang node resolves by rpc to the ember node
    %% (global:resolve_it/4 exported by ember)
    true = r(A1, net_kernel, connect_node, [B1]),
    sync_ok("a1 with b1", A1),
    {ok, BP} = ctl(B1, register, [clash2]),
    check("b1's name seen on a1", until(where_all([A1], clash2, BP), 3000)),
    {yes, Z2P} = r(Z2, ?MODULE, start_echo, [clash2]),
    true = r(Z2, net_kernel, connect_node, [A1]),
    sync_ok("z2 after joining a1", Z2),
    check("clash resolved on b1 for a1: b1's pid everywhere",
          until(fun() -> {r(Z2, global, whereis_name, [clash2]), r(A1, global, whereis_name, [clash2]),
                          ctl(B1, whereis, [clash2])} =:= {BP, BP, BP} end, 5000)),
    check("... and z2's pid killed", until(fun() -> r(Z2, erlang, is_process_alive, [Z2P]) =:= false end, 3000)),
    check("z2 meshes with b1", until(has_all(Z2, [A1, B1]), 5000)),

    %% ---- 10. remove_connection: the ember node disconnects as told
    {global_name_server, B1} ! bogus_message_to_global,
    r(A1, erlang, send, [{global_name_server, B1}, {remove_connection, A1}]),
    check("remove_connection honoured: b1 disconnected a1",
          until(fun() -> not lists:member(B1, visible(A1)) end, 5000)),

    %% ---- 11. prevent_overlapping_partitions: e1 drops e2
    r(E1, erlang, disconnect_node, [E2]),
    check("after e1 dropped e2, the ember node is no longer connected to e2",
          until(fun() -> not lists:member(E2, c_nodes(C1)) andalso not lists:member(C1, visible(E2)) end, 5000)),

    %% ---- 12. -connect_all false: nothing sent, no mesh
    true = r(F1, net_kernel, connect_node, [CF]),
    true = r(F2, net_kernel, connect_node, [CF]),
    timer:sleep(3000),
    check("connect_all false: f1 and f2 do not mesh", {visible(F1), visible(F2)} =:= {[CF], [CF]}),
    check("connect_all false: f1's global does not know the ember node",
          not lists:member(CF, r(F1, gen_server, call, [global_name_server, get_known]))),
    check("connect_all false: global:sync() on f1 does not return", r(F1, ?MODULE, sync_within, [2000]) =:= timeout),

    %% ---- every Erlang node still up
    Live = [E1, E2, Z1, Y1, A1, Z2, F1, F2],
    check("every Erlang node alive", [N || N <- Live, r(N, erlang, node, []) =/= N] =:= []),
    io:format("DONE~n").
