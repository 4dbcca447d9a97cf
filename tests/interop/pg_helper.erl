%% pg_helper: the Erlang side of tests/interop/pg.sh.  victim/1 runs on a
%% node that the test halts; driver/3 runs the checks against the ember
%% node (tests/interop/pg_node.c, driven through its registered `ctl`) and
%% prints one "<check> ok" or "<check> FAIL" line per check.
-module(pg_helper).
-export([victim/1, driver/3]).

-define(PS, 'Elixir.Phoenix.PubSub').
-define(ADAPTER, 'Elixir.MyApp.PubSub.Adapter').

%% Scopes pg and Phoenix.PubSub's, a member of g_e2 in each, connected to
%% the ember node; then waits to be halted.
victim(CNode) ->
    {ok, _} = pg:start_link(),
    {ok, _} = pg:start(?PS),
    P = spawn(fun loop/0),
    ok = pg:join(g_e2, P),
    ok = pg:join(?PS, g_e2, P),
    pong = net_adm:ping(CNode),
    io:format("victim ~p~n", [P]),
    receive never -> ok end.

driver(C, E2, Kind) ->
    {ok, Pg} = pg:start_link(),
    {ok, Ps} = pg:start(?PS),
    pong = net_adm:ping(C),
    check(node_kind, case Kind of
                         published -> lists:member(C, nodes());
                         hidden -> lists:member(C, nodes(hidden)) andalso not lists:member(C, nodes())
                     end),
    %% a C member in pg:get_members; an Erlang one in em_pg_get_members
    {ok, CP} = c(C, {spawn_join, pg, cgroup}),
    check(c_member_seen_on_erlang, wait(fun() -> pg:get_members(cgroup) =:= [CP] end)),
    check(c_member_not_local_on_erlang, pg:get_local_members(cgroup) =:= []),
    EP = spawn(fun loop/0),
    ok = pg:join(egroup, EP),
    check(erl_member_seen_on_c, wait(fun() -> c(C, {members, pg, egroup}) =:= [EP] end)),
    check(erl_member_not_local_on_c, c(C, {local_members, pg, egroup}) =:= []),
    check(c_local_members, c(C, {local_members, pg, cgroup}) =:= [CP]),
    check(e2_member_seen_on_c, wait(fun() -> length(c(C, {members, pg, g_e2})) =:= 1 end)),
    %% leave, both ways
    check(c_leave, c(C, {leave, pg, cgroup, CP}) =:= ok),
    check(c_leave_seen_on_erlang, wait(fun() -> pg:get_members(cgroup) =:= [] end)),
    check(c_leave_not_joined, c(C, {leave, pg, cgroup, CP}) =:= not_joined),
    ok = pg:leave(egroup, EP),
    check(erl_leave_seen_on_c, wait(fun() -> c(C, {members, pg, egroup}) =:= [] end)),
    %% several joins of one pid, a list join and leave
    {ok, CP2} = c(C, {spawn_join, pg, cgroup2}),
    ok = c(C, {join, pg, cgroup2, [CP2, CP2]}),
    check(c_multi_join_seen_on_erlang, wait(fun() -> pg:get_members(cgroup2) =:= [CP2, CP2, CP2] end)),
    ok = c(C, {leave, pg, cgroup2, [CP2]}),
    check(c_list_leave_seen_on_erlang, wait(fun() -> pg:get_members(cgroup2) =:= [CP2, CP2] end)),
    %% a C member exits: gone on Erlang
    {ok, CPx} = c(C, {spawn_join, pg, cgroup2b}),
    ok = c(C, {join, pg, cgroup2, CPx}),
    check(c_member_in_two_groups, wait(fun() -> pg:get_members(cgroup2b) =:= [CPx] andalso
                                                    length(pg:get_members(cgroup2)) =:= 3 end)),
    ok = c(C, {stop_member, CP2}),
    ok = c(C, {stop_member, CPx}),
    check(c_member_exit_seen_on_erlang, wait(fun() -> pg:get_members(cgroup2) =:= [] andalso
                                                          pg:get_members(cgroup2b) =:= [] end)),
    %% a named scope: Phoenix.PubSub's, and its forward_to_local
    check(c_named_scope_start, c(C, {start, ?PS}) =:= ok),
    check(c_named_scope_eexist, c(C, {start, ?PS}) =:= {error, 'EEXIST'}),
    {ok, CP3} = c(C, {spawn_join, ?PS, ?ADAPTER}),
    check(c_named_member_seen_on_erlang, wait(fun() -> pg:get_members(?PS, ?ADAPTER) =:= [CP3] end)),
    check(c_named_member_not_in_pg, pg:get_members(?ADAPTER) =:= []),
    [P ! {forward_to_local, <<"topic">>, hello, ?PS} || P <- pg:get_members(?PS, ?ADAPTER), node(P) =/= node()],
    check(forward_to_local_reaches_c,
          receive {member_got, CP3, {forward_to_local, <<"topic">>, hello, ?PS}} -> true after 5000 -> false end),
    EP2 = spawn(fun loop/0),
    ok = pg:join(?PS, ?ADAPTER, EP2),
    check(erl_named_member_seen_on_c,
          wait(fun() -> lists:sort(c(C, {members, ?PS, ?ADAPTER})) =:= lists:sort([CP3, EP2]) end)),
    check(e2_named_member_seen_on_c, wait(fun() -> length(c(C, {members, ?PS, g_e2})) =:= 1 end)),
    check(c_which_groups, wait(fun() -> lists:sort(c(C, {which_groups, pg})) =:= [g_e2] end)),
    %% OTP 26's discover, sent by hand: the C scope answers with its sync
    %% and its own discover
    {ok, CP4} = c(C, {spawn_join, pg, cgroup3}),
    check(c_member_3_seen, wait(fun() -> pg:get_members(cgroup3) =:= [CP4] end)),
    {pg, C} ! {discover, self(), 1},
    check(discover3_sync, receive {'$gen_cast', {sync, CS, [{cgroup3, [CP4]}]}} -> node(CS) =:= C
                          after 5000 -> false end),
    check(discover3_discover, receive {discover, CS2} -> node(CS2) =:= C after 5000 -> false end),
    %% the Erlang node e2 dies: its members go on C
    erpc:cast(E2, erlang, halt, []),
    check(e2_members_gone_on_c, wait(fun() -> c(C, {members, pg, g_e2}) =:= [] andalso
                                                  c(C, {members, ?PS, g_e2}) =:= [] end)),
    %% the ember node dies: its members go here
    {ctl, C} ! {self(), make_ref(), die},
    check(c_members_gone_on_erlang, wait(fun() -> pg:get_members(cgroup3) =:= [] andalso
                                                      pg:get_members(?PS, ?ADAPTER) =:= [EP2] end)),
    %% nothing ember sent crashed a scope here
    check(scopes_alive, whereis(pg) =:= Pg andalso whereis(?PS) =:= Ps),
    io:format("done~n").

loop() -> receive stop -> ok; _ -> loop() end.

%% A request to the ember node's ctl: its reply, or timeout.
c(C, Req) ->
    Ref = make_ref(),
    {ctl, C} ! {self(), Ref, Req},
    receive {Ref, R} -> R after 5000 -> timeout end.

%% F() holds within 5 s.
wait(F) -> wait(F, 50).
wait(F, 0) -> F();
wait(F, N) ->
    case F() of
        true -> true;
        _ -> timer:sleep(100), wait(F, N - 1)
    end.

check(Label, true) -> io:format("~s ok~n", [Label]);
check(Label, Other) -> io:format("~s FAIL ~p~n", [Label, Other]).
