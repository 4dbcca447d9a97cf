%% call_helper: the Erlang side of tests/interop/call.sh.
-module(call_helper).
-export([target/0, alias_check/1, down_by_name/1, servers/0, erl_to_c/2, cast_check/2]).
-behaviour(gen_server).
-export([init/1, handle_call/3, handle_cast/2]).

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

%% Two registered gen_servers for C's em_call: calls_srv and victim_srv
%% (the one C asks to exit).  handle_call: {echo, X} -> X; {sleep, Ms, R}
%% -> R after Ms; {defer, Ms, R} -> R from another process after Ms
%% (gen_server:reply); whoami -> its pid; {exit, R} -> stops with R.
servers() ->
    {ok, _} = gen_server:start({local, calls_srv}, ?MODULE, [], []),
    {ok, _} = gen_server:start({local, victim_srv}, ?MODULE, [], []),
    io:format("started~n"),
    receive after infinity -> ok end.

init([]) -> {ok, nostate}.
handle_call({echo, X}, _From, S) -> {reply, X, S};
handle_call({sleep, Ms, R}, _From, S) -> timer:sleep(Ms), {reply, R, S};
handle_call({defer, Ms, R}, From, S) ->
    spawn(fun() -> timer:sleep(Ms), gen_server:reply(From, R) end),
    {noreply, S};
handle_call(whoami, _From, S) -> {reply, self(), S};
handle_call({exit, R}, _From, S) -> {stop, R, S}.
handle_cast(_, S) -> {noreply, S}.

%% gen_server:call from here into the C server registered as Name on
%% CNode (call_peer's server: the same requests as handle_call above).
%% Prints one line per check, "erl_to_c NAME CHECK ok" or the mismatch.
erl_to_c(CNode, Name) ->
    S = {Name, CNode},
    check(Name, reply, gen_server:call(S, {echo, hi}), hi),
    Pid = gen_server:call(S, whoami),
    check(Name, by_pid, gen_server:call(Pid, {echo, by_pid}, 5000), by_pid),
    check(Name, by_pid_infinity, gen_server:call(Pid, {echo, inf}, infinity), inf),
    check(Name, deferred, gen_server:call(S, {defer, 200, later}), later),
    check(Name, timeout, catch gen_server:call(S, {sleep, 500, late}, 100), timeout),
    timer:sleep(1000),
    check(Name, late_reply_dropped, process_info(self(), messages), {messages, []}),
    Me = self(),
    Callers = [spawn(fun() ->
                             Ok = length([I || I <- lists:seq(1, 10),
                                               gen_server:call(S, {echo, {self(), I}}) =:= {self(), I}]),
                             Me ! {done, Ok}
                     end) || _ <- lists:seq(1, 20)],
    Oks = lists:sum([receive {done, N} -> N after 20000 -> 0 end || _ <- Callers]),
    check(Name, concurrent_200, Oks, 200),
    check(Name, noproc, catch gen_server:call({nobody, CNode}, x), noproc),
    check(Name, server_exit, catch gen_server:call(S, {exit, boom}), boom),
    io:format("erl_to_c ~p end~n", [Name]).

%% gen_server:cast and sys:get_state into call_peer's em_server.
cast_check(CNode, Name) ->
    S = {Name, CNode},
    ok = gen_server:cast(S, {set, {some, "value"}}),
    check(Name, cast, gen_server:call(S, get), {some, "value"}),
    check(Name, get_state, sys:get_state(S), {esrv_state, {some, "value"}}),
    ok = gen_server:cast({nobody, CNode}, x),
    io:format("erl_to_c ~p cast end~n", [Name]).

check(Name, What, {'EXIT', {Reason, {gen_server, call, _}}}, Reason) ->
    io:format("erl_to_c ~p ~p ok~n", [Name, What]);
check(Name, What, Got, Got) ->
    io:format("erl_to_c ~p ~p ok~n", [Name, What]);
check(Name, What, Got, Want) ->
    io:format("erl_to_c ~p ~p BAD: ~p, want ~p~n", [Name, What, Got, Want]).
