%% dist_helper: the Erlang side of tests/interop/dist.sh.
-module(dist_helper).
-export([target/0, echo_check/2, terms/0, watch_ember/2, ping/1, idle/2, seq_sink/0, unlinkee/0, unlink_ember/2, simul/3]).

%% A registered `target` that gives its pid and exits on request.  It is
%% not the -eval process itself: that one exiting would halt the node, and
%% the node could go down before its EXIT and DOWN signals are written.
target() ->
    register(target, spawn(fun target_loop/0)),
    io:format("started~n"),
    receive after infinity -> ok end.
target_loop() ->
    receive
        {From, pid} -> From ! {pid, self()}, target_loop();
        {exit, R} -> exit(R)
    end.

%% A registered `seq_sink`: takes {seq, I} (or {seq, I, _}) messages, which must come as
%% 1, 2, 3, ...; {done, From} answers {ok, Count} or {bad, Expected, Got}.
seq_sink() ->
    register(seq_sink, self()),
    io:format("started~n"),
    seq_sink(1).
seq_sink(N) ->
    receive
        {seq, N} -> seq_sink(N + 1);
        {seq, N, _} -> seq_sink(N + 1);
        {seq, Other} -> seq_bad(N, Other);
        {seq, Other, _} -> seq_bad(N, Other);
        {done, From} -> From ! {ok, N - 1}, seq_sink(1)
    end.
seq_bad(N, Other) ->
    receive
        {done, From} -> From ! {bad, N, Other}, seq_sink(1);
        _ -> seq_bad(N, Other)
    end.

ping(Node) ->
    io:format("~p~n", [net_adm:ping(Node)]).

%% Terms of every kind, with pids/refs/ports/funs made on this node.
terms() ->
    Port = open_port({spawn, "cat"}, []),
    Deep = lists:foldl(fun(_, A) -> [A] end, [], lists:seq(1, 100000)),
    DeepT = lists:foldl(fun(I, A) -> {I, A} end, leaf, lists:seq(1, 50000)),
    Y = 7,
    [0, 1, -1, 255, 256, -134217729, 1 bsl 64, -(1 bsl 200), 3.14, -0.0, 1.0e300,
     atom, '', 'ünïcødé', 'with space', "string", [], [1, 2 | 3], {}, {a, {b, c}},
     <<>>, <<1, 2, 3>>, <<1:3>>, <<0:4095>>, #{}, #{a => 1, <<"k">> => [x]},
     maps:from_list([{I, I * I} || I <- lists:seq(1, 100)]),
     self(), spawn(fun() -> receive after infinity -> ok end end), make_ref(),
     erlang:alias(), Port, fun lists:map/2, fun(X) -> X + Y end,
     list_to_binary(lists:duplicate(4 * 1024 * 1024, 7)), Deep, DeepT,
     {self(), make_ref(), Port}] ++ big_bins().

%% Large binaries inside containers (ember writes those from the binary
%% itself, with the containers' headers written by hand): lists proper and
%% improper, tuples small and large, maps, nesting deeper than ember looks,
%% a sub-binary, bitstrings, and a long list of small things around one.
big_bins() ->
    B = list_to_binary([I rem 251 || I <- lists:seq(1, 65536)]),
    S = binary:part(B, 1000, 9000),
    [[B, {B, x}, #{k => B, B => v, 1 => S} | S],
     list_to_tuple(lists:duplicate(300, S)),
     {{{{{{{B}}}}}}},
     <<B/binary, 5:3>>, <<S/binary, 1:1>>,
     lists:seq(1, 5000) ++ [B],
     {tag, [B | B], <<>>, [S, S, S]}].

%% From this node: get terms from Third (so they belong to a third node),
%% send each to {echo, Ember} and check what comes back =:= the original.
echo_check(Ember, Third) ->
    Terms = rpc:call(Third, dist_helper, terms, []),
    true = is_list(Terms),
    Bad = [T || T <- Terms, not echo_one(Ember, T)],
    case {Bad, echo_burst(Ember)} of
        {[], true} -> io:format("echo ok ~p~n", [length(Terms)]);
        {[], false} -> io:format("echo BAD burst~n");
        _ -> io:format("echo BAD ~P~n", [Bad, 8])
    end.
%% 300 messages sent back to back, without waiting for the echoes, their
%% binaries around the sizes where ember reads a packet straight into a
%% binary of its own (16 KB) and follows it with the next packet's head:
%% every echo comes back, in order, =:= to what was sent.
echo_burst(Ember) ->
    Sizes = [0, 1, 100, 16370, 16383, 16384, 16385, 65536, 70000, 300000],
    Msgs = [{I, binary:copy(<<(I rem 256)>>, lists:nth(1 + I rem length(Sizes), Sizes))}
            || I <- lists:seq(1, 300)],
    [{echo, Ember} ! {self(), {burst, M}} || M <- Msgs],
    Got = [receive {burst, R} -> R after 10000 -> timeout end || _ <- Msgs],
    Got =:= Msgs.
echo_one(Ember, T) ->
    {echo, Ember} ! {self(), {tag, T}},
    receive {tag, R} -> R =:= T after 10000 -> false end.

%% Link to and monitor Ember's victim; print what arrives.
watch_ember(Ember, Ms) ->
    process_flag(trap_exit, true),
    {victim, Ember} ! {self(), hello},
    P = receive {victim, V} -> V after 10000 -> exit(no_victim) end,
    link(P),
    erlang:monitor(process, P),
    monitor_node(Ember, true),
    io:format("ready~n"),
    watch_loop(3, erlang:monotonic_time(millisecond) + Ms).
watch_loop(0, _) -> ok;
watch_loop(N, Until) ->
    T = max(0, Until - erlang:monotonic_time(millisecond)),
    receive
        {'EXIT', _, R} -> io:format("EXIT ~p~n", [R]), watch_loop(N - 1, Until);
        {'DOWN', _, process, _, R} -> io:format("DOWN ~p~n", [R]), watch_loop(N - 1, Until);
        {nodedown, _} -> io:format("nodedown~n"), watch_loop(N - 1, Until)
    after T -> io:format("timeout~n")
    end.

%% The unlink tests (UNLINK_ID / UNLINK_ID_ACK over the wire), as
%% dist_peer's `unlinkee` and `unlink` modes.  unlinkee(): a registered
%% `unlinkee` that traps exits, answers {From, pid} with {pid, self()} and
%% monitors From; prints every EXIT it gets, and "end" 1 s after From's
%% DOWN.
unlinkee() ->
    register(unlinkee, spawn(fun() -> process_flag(trap_exit, true), unlinkee_loop() end)),
    io:format("started~n"),
    receive after infinity -> ok end.
unlinkee_loop() ->
    receive
        %% Monitor before answering: once answered, the unlinker may exit
        %% at once, and a monitor set after that would see noproc.
        {From, pid} -> erlang:monitor(process, From), From ! {pid, self()}, unlinkee_loop();
        {'EXIT', _, R} -> io:format("EXIT ~p~n", [R]), unlinkee_loop();
        {'DOWN', _, process, _, R} -> io:format("DOWN ~p~n", [R]), unlinkee_end()
    end.
unlinkee_end() ->
    receive {'EXIT', _, R} -> io:format("EXIT ~p~n", [R]), unlinkee_end()
    after 1000 -> io:format("end~n")
    end.

%% A process asks {unlinkee, Ember} for its pid, links and unlinks it
%% twice (and links once more with Relink) and exits with boom; then wait
%% for the signals to go out.
unlink_ember(Ember, Relink) ->
    {P, M} = spawn_monitor(
               fun() ->
                       {unlinkee, Ember} ! {self(), pid},
                       U = receive {pid, V} -> V after 10000 -> exit(no_unlinkee) end,
                       [begin link(U), unlink(U) end || _ <- [1, 2]],
                       Relink andalso link(U),
                       exit(boom)
               end),
    receive {'DOWN', M, process, P, R} -> io:format("unlinker ~p~n", [R]) end,
    timer:sleep(1500).

%% Simultaneous connect: for K in 1..Rounds, at T0 + K * 2000 ms (since
%% the epoch) send {simul, K, self()} to {simul, Node K} (an ember node,
%% started by dist.sh, named a<K> for odd K and z<K> for even K, so that its
%% name is below this node's in some rounds and above it in others), which
%% sends the same to this node at the same moment; print "round K ok" when
%% its message came within 5 s, else "round K missing".
simul(Host, Rounds, T0) ->
    register(simul, self()),
    io:format("started~n"),
    [simul_round(Host, K, T0 + K * 2000) || K <- lists:seq(1, Rounds)],
    ok.
simul_round(Host, K, T) ->
    P = case K rem 2 of 1 -> "a"; 0 -> "z" end,
    Node = list_to_atom(P ++ integer_to_list(K) ++ "@" ++ Host),
    timer:sleep(max(0, T - os:system_time(millisecond))),
    {simul, Node} ! {simul, K, self()},
    receive {simul, K, _} -> io:format("round ~b ok~n", [K])
    after 5000 -> io:format("round ~b missing~n", [K])
    end.

%% Connect to Ember and wait Ms for a nodedown.
idle(Ember, Ms) ->
    io:format("~p~n", [net_adm:ping(Ember)]),
    monitor_node(Ember, true),
    T0 = erlang:monotonic_time(millisecond),
    receive {nodedown, _} ->
        io:format("nodedown after ~p ms~n", [erlang:monotonic_time(millisecond) - T0])
    after Ms -> io:format("still up~n")
    end.
