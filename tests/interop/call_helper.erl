%% call_helper: the Erlang side of tests/interop/call.sh.
-module(call_helper).
-export([target/0, alias_check/1, down_by_name/1]).

%% A registered `target` that exits on {exit, R}.  Not the -eval process
%% itself: that one exiting would halt the node.
target() ->
    register(target, spawn(fun() -> receive {exit, R} -> exit(R) end end)),
    io:format("started~n"),
    receive after infinity -> ok end.

%% Aliases across the wire, both ways, with {agent, CNode} (call_peer's
%% agent).  Prints "alias [R1, R2, R3, R4]", each ok when:
%%  R1: C reaches an Erlang alias (ALIAS_SEND from ember);
%%  R2: after unalias/1 what C sends to it is dropped;
%%  R3: Erlang reaches an alias of the C process (ALIAS_SEND to ember);
%%  R4: after the C process's em_unalias what Erlang sends to it is dropped.
alias_check(CNode) ->
    Agent = {agent, CNode},
    A = alias(),
    Agent ! {send, A, hello1},
    R1 = receive hello1 -> ok after 5000 -> timeout end,
    unalias(A),
    Agent ! {send, A, hello2},
    Agent ! {send, self(), mark},
    R2 = receive hello2 -> leaked; mark -> ok after 5000 -> timeout end,
    Agent ! {alias, self()},
    CA = receive {alias, X} -> X after 5000 -> none end,
    CA ! {via_alias, 1},
    R3 = receive {got, 1} -> ok after 5000 -> timeout end,
    Agent ! {unalias, self()},
    receive unaliased -> ok after 5000 -> ok end,
    CA ! {via_alias, 2},
    Agent ! {ping, self()},
    R4 = receive {got, 2} -> leaked; pong -> ok after 5000 -> timeout end,
    io:format("alias ~p~n", [[R1, R2, R3, R4]]).

%% monitor(process, {agent, CNode}) and by pid, then the agent exits: the
%% DOWN objects are {agent, CNode} and the pid, as between Erlang nodes.
%% Prints "down {{agent, CNode}, boom} {true, boom}".
down_by_name(CNode) ->
    Agent = {agent, CNode},
    Agent ! {pid, self()},
    AgentPid = receive {pid, P} -> P after 5000 -> none end,
    R1 = monitor(process, Agent),
    R2 = monitor(process, AgentPid),
    Agent ! {exit, boom},
    D1 = receive {'DOWN', R1, process, O1, W1} -> {O1, W1} after 5000 -> none end,
    D2 = receive {'DOWN', R2, process, O2, W2} -> {O2 =:= AgentPid, W2} after 5000 -> none end,
    io:format("down ~p ~p~n", [D1, D2]).
