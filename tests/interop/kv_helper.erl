%% kv_helper.erl: the Erlang side of tests/interop/kv.sh.
%%
%% check(C, E) drives two key-value nodes with the same calls: C runs
%% examples/kv.c, E runs its Erlang twin examples/erlang/kv.erl on OTP.
%% Each step is done on C, then on E, and must give the same answer on
%% both (file and line in stacks aside, which C has not), and where the
%% issue names the answer, that answer.  kill_check(C, E) kills each `kv`
%% server and times its restart.  Every check prints "ok: Label" or
%% "FAIL: Label ..."; "checks done" at the end.
-module(kv_helper).
-export([check/2, kill_check/2, kill_until_gone/1]).

%% Stacks without file/line: {M, F, A, []}.
norm({M, F, A, _Loc}) when is_atom(M), is_atom(F), is_integer(A) orelse is_list(A) -> {M, F, A, []};
norm(T) when is_tuple(T) -> list_to_tuple([norm(X) || X <- tuple_to_list(T)]);
norm([H | T]) -> [norm(H) | norm(T)];
norm(X) -> X.

report(Label, true, _) -> io:format("ok: ~s~n", [Label]);
report(Label, false, Detail) -> io:format("FAIL: ~s: ~p~n", [Label, Detail]).

%% step(Label, C, E, Fun, Want): Fun(C) and Fun(E) alike, and Want (any:
%% whatever E gives).
step(Label, C, E, Fun, Want) ->
    GotC = norm(Fun(C)),
    GotE = norm(Fun(E)),
    Ok = GotC =:= GotE andalso (Want =:= any orelse GotE =:= norm(Want)),
    report(Label, Ok, {ember, GotC, erlang, GotE, want, Want}).

call(N, Req) -> gen_server:call({kv, N}, Req).
call(N, Req, T) -> gen_server:call({kv, N}, Req, T).
cast(N, Req) -> gen_server:cast({kv, N}, Req).
rpc(N, F, A) -> rpc:call(N, kv, F, A).

outcome(F) ->
    try {value, F()}
    catch C:R -> {C, R}
    end.

%% Milliseconds Fun takes, and what it returns.
timed(Fun) ->
    T0 = erlang:monotonic_time(millisecond),
    R = Fun(),
    {R, erlang:monotonic_time(millisecond) - T0}.

%% The messages now in the mailbox (the late replies a test must not see).
mailbox() -> element(2, process_info(self(), messages)).

check(C, E) ->
    Srv0 = [rpc:call(N, erlang, whereis, [kv]) || N <- [C, E]],
    report("kv registered on both nodes", lists:all(fun is_pid/1, Srv0), Srv0),

    %% ---- gen_server:call and cast ----
    step("call {get, K} of an empty store: error", C, E, fun(N) -> call(N, {get, a}) end, error),
    step("call {put, K, V}: ok", C, E, fun(N) -> call(N, {put, a, 1}) end, ok),
    step("call {get, K}: {ok, V}", C, E, fun(N) -> call(N, {get, a}) end, {ok, 1}),
    step("call {put, K, V2} replaces V", C, E,
         fun(N) -> [call(N, {put, a, {v, 2}}), call(N, {get, a})] end, [ok, {ok, {v, 2}}]),
    Pid = self(),
    Ref = make_ref(),
    Keys = [z, 1, -7, 2.5, 0.5, 1 bsl 70, -(1 bsl 70), "str", <<"bin">>, <<1:3>>, {t, 1}, {t},
            [x], [], #{m => 1}, Pid, Ref, b, 'Z', {a, [b | c]}],
    step("keys: sorted in term order", C, E,
         fun(N) -> [call(N, {put, K, {val, K}}) || K <- Keys], call(N, keys) end,
         lists:sort([a | Keys])),
    step("every type of key keeps its value", C, E,
         fun(N) -> [call(N, {get, K}) || K <- Keys] end, [{ok, {val, K}} || K <- Keys]),
    step("1 and 1.0 are two keys (=:=, as in a map)", C, E,
         fun(N) ->
                 R = [call(N, {put, 1.0, float}), call(N, {get, 1}), call(N, {get, 1.0})],
                 cast(N, {delete, 1.0}),
                 R ++ [call(N, {get, 1.0})]
         end,
         [ok, {ok, {val, 1}}, {ok, float}, error]),
    step("cast {delete, K}: gone", C, E,
         fun(N) -> [cast(N, {delete, z}), call(N, {get, z}), cast(N, {delete, nokey}), call(N, {get, z})] end,
         [ok, error, ok, error]),
    step("keys after deletes", C, E, fun(N) -> call(N, keys) end, lists:sort([a | Keys] -- [z])),
    step("an unknown request: {error, badreq}", C, E, fun(N) -> call(N, {nonsense, 1}) end, {error, badreq}),

    %% ---- {wait, K} ----
    step("call {wait, K} of a key with a value: at once", C, E, fun(N) -> call(N, {wait, a}, 1000) end,
         {ok, {v, 2}}),
    step("call {wait, K}: deferred until another process puts K; each waiter answered once", C, E,
         fun deferred_wait/1, {[], [{ok, v1}, {ok, v1}], still_waiting, {ok, v2}, []}),
    step("a waiter that timed out, and one killed: the server goes on", C, E,
         fun gone_waiters/1, {ok, [ok, {ok, here}, ok, {ok, here2}], []}),

    %% ---- the exports of module kv, by rpc:call ----
    step("rpc kv:put/2: ok", C, E, fun(N) -> rpc(N, put, [b2, 2]) end, ok),
    step("rpc kv:get/1: {ok, V}, error", C, E, fun(N) -> [rpc(N, get, [b2]), rpc(N, get, [nokey])] end,
         [{ok, 2}, error]),
    step("one store: rpc and gen_server:call see each other's puts", C, E,
         fun(N) -> [call(N, {get, b2}), call(N, {put, c2, 3}), rpc(N, get, [c2])] end,
         [{ok, 2}, ok, {ok, 3}]),
    step("rpc kv:keys/0: the server's keys", C, E,
         fun(N) -> rpc(N, keys, []) =:= call(N, keys) andalso lists:member(c2, rpc(N, keys, [])) end, true),
    step("rpc kv:delete/1: ok, and gone", C, E,
         fun(N) -> [rpc(N, delete, [b2]), rpc(N, get, [b2]), call(N, {get, b2}), rpc(N, delete, [b2])] end,
         [ok, error, error, ok]),
    step("rpc kv:fetch/1 of a key: V", C, E, fun(N) -> rpc(N, fetch, [c2]) end, 3),
    step("rpc kv:fetch/1 of no key: {badrpc, {'EXIT', {{badkey, K}, Stack}}}", C, E,
         fun(N) -> rpc(N, fetch, [missing]) end, {badrpc, {'EXIT', {{badkey, missing}, [{kv, fetch, 1, []}]}}}),
    %% what OTP's rpc:call gives for maps:get/2 of a missing key, the
    %% function kv:fetch/1 raises like
    MapsGet = rpc:call(node(), maps, get, [missing, #{}]),
    FetchC = rpc(C, fetch, [missing]),
    Shape = fun({badrpc, {'EXIT', {{badkey, missing}, [_ | _]}}}) -> true; (_) -> false end,
    report("kv:fetch/1 raises as maps:get/2 does (rpc:call's shape)", Shape(MapsGet) andalso Shape(FetchC),
           {maps_get, MapsGet, kv_fetch, FetchC}),
    step("erpc:call kv:fetch/1 of no key: error {exception, {badkey, K}, _}", C, E,
         fun(N) -> outcome(fun() -> erpc:call(N, kv, fetch, [missing]) end) end,
         {error, {exception, {badkey, missing}, [{kv, fetch, 1, []}]}}),
    step("rpc kv:wait/2 of a key with a value: {ok, V}", C, E, fun(N) -> rpc(N, wait, [c2, 1000]) end, {ok, 3}),
    step("rpc kv:wait/2 of no key: timeout after Ms", C, E,
         fun(N) ->
                 {R, T} = timed(fun() -> rpc(N, wait, [nokey, 300]) end),
                 {R, T >= 300, T < 3000}
         end,
         {timeout, true, true}),
    step("rpc kv:wait/2: {ok, V} when another process puts K meanwhile", C, E,
         fun(N) ->
                 spawn(fun() -> timer:sleep(300), call(N, {put, k2, later}) end),
                 {R, T} = timed(fun() -> rpc(N, wait, [k2, 5000]) end),
                 {R, T >= 250, T < 3000}
         end,
         {{ok, later}, true, true}),
    step("rpc kv:wait/2 with infinity", C, E,
         fun(N) ->
                 spawn(fun() -> timer:sleep(200), rpc(N, put, [k3, inf]) end),
                 rpc(N, wait, [k3, infinity])
         end,
         {ok, inf}),
    report("rpc:call(N, erlang, node, []): N", rpc:call(C, erlang, node, []) =:= C, rpc:call(C, erlang, node, [])),

    %% ---- 200 concurrent calls from 20 processes ----
    step("200 concurrent calls from 20 processes, each its own reply", C, E, fun concurrent/1, {200, 200}),

    %% ---- the server never restarted: no step crashed it ----
    Srv1 = [rpc:call(N, erlang, whereis, [kv]) || N <- [C, E]],
    report("the same kv server throughout", Srv1 =:= Srv0, {Srv0, Srv1}),
    report("no late reply in the caller's mailbox", mailbox() =:= [], mailbox()),

    %% ---- the state erl_call is compared on (kv.sh) ----
    step("final state", C, E,
         fun(N) ->
                 [rpc(N, delete, [K]) || K <- call(N, keys)],
                 [call(N, {put, a, {hello, "world", 42}}), call(N, {put, b, [1, 2.5, <<"x">>]}), call(N, keys)]
         end,
         [ok, ok, [a, b]]),
    io:format("checks done~n").

%% Two processes wait for w1 and one for w2; nobody is answered until
%% another process puts w1, then exactly the two w1 waiters are.
deferred_wait(N) ->
    Me = self(),
    W = fun(K) -> spawn(fun() -> Me ! {woke, K, self(), call(N, {wait, K}, 10000)} end) end,
    P1 = W(w1),
    P2 = W(w1),
    P3 = W(w2),
    timer:sleep(300),
    Early = [M || {woke, _, _, _} = M <- mailbox()],
    spawn(fun() -> call(N, {put, w1, v1}) end),
    Got = [receive {woke, w1, P, R} -> R after 5000 -> none end || P <- [P1, P2]],
    Other = receive {woke, w2, _, R2} -> {early, R2} after 300 -> still_waiting end,
    ok = call(N, {put, w2, v2}),
    Got2 = receive {woke, w2, P3, R3} -> R3 after 5000 -> none end,
    timer:sleep(100),
    {Early, Got, Other, Got2, mailbox()}.

%% A waiter whose gen_server:call timed out (this process: it lives on)
%% and one killed while waiting: putting their keys later answers nobody
%% (the late reply to this process is dropped, its alias being gone) and
%% the server goes on.
gone_waiters(N) ->
    R1 = case catch call(N, {wait, gone}, 100) of
             {'EXIT', {timeout, _}} -> ok;
             X -> X
         end,
    K = spawn(fun() -> call(N, {wait, gone2}, infinity) end),
    timer:sleep(200),
    exit(K, kill),
    timer:sleep(200),
    R = [call(N, {put, gone, here}), call(N, {get, gone}), call(N, {put, gone2, here2}), call(N, {get, gone2})],
    timer:sleep(200),
    {R1, R, mailbox()}.

%% 20 processes, each making 10 puts and then 10 gets of its own keys at
%% the same time as the others: {puts answered ok, gets answered with the
%% caller's own value}.
concurrent(N) ->
    Me = self(),
    Ps = [spawn(fun() ->
                        Puts = [call(N, {put, {self(), I}, {self(), I * I}}) || I <- lists:seq(1, 10)],
                        Gets = [call(N, {get, {self(), I}}) =:= {ok, {self(), I * I}} || I <- lists:seq(1, 10)],
                        Me ! {done, self(), length([ok || ok <- Puts]), length([G || G <- Gets, G])}
                end) || _ <- lists:seq(1, 20)],
    Counts = [receive {done, P, A, B} -> {A, B} after 30000 -> {0, 0} end || P <- Ps],
    [cast(N, {delete, {P, I}}) || P <- Ps, I <- lists:seq(1, 10)],
    {lists:sum([A || {A, _} <- Counts]), lists:sum([B || {_, B} <- Counts])}.

%% The server killed from here (its pid by rpc, then exit(Pid, kill)) is
%% restarted by its supervisor, empty, and serves again within 1 s.
kill_check(C, E) ->
    [kill_one(Label, N) || {Label, N} <- [{"ember", C}, {"erlang", E}]],
    io:format("checks done~n").

kill_one(Label, N) ->
    ok = call(N, {put, before, kill}),
    Old = rpc:call(N, erlang, whereis, [kv]),
    {Keys, T} = timed(fun() -> exit(Old, kill), serving(N, 2000) end),
    New = rpc:call(N, erlang, whereis, [kv]),
    report(io_lib:format("~s: kv killed, back, empty, serving in ~p ms (< 1000)", [Label, T]),
           is_pid(Old) andalso is_pid(New) andalso New =/= Old andalso Keys =:= [] andalso T < 1000,
           {Old, New, Keys, T}),
    report(io_lib:format("~s: the new kv server works", [Label]),
           [call(N, {put, after_kill, 1}), call(N, keys)] =:= [ok, [after_kill]], call(N, keys)).

%% The keys of the first kv server that answers within Ms (polled).
serving(_N, Ms) when Ms =< 0 -> not_serving;
serving(N, Ms) ->
    case catch call(N, keys, 100) of
        L when is_list(L) -> L;
        _ -> timer:sleep(5), serving(N, Ms - 10)
    end.

%% Kill kv again and again, each time once it is back, until it does not
%% come back (its supervisor gave up); prints "kills N".
kill_until_gone(N) -> kill_until_gone(N, 0).
kill_until_gone(_N, K) when K >= 20 -> io:format("kills ~p, still there~n", [K]);
kill_until_gone(N, K) ->
    case serving(N, 3000) of
        L when is_list(L) ->
            exit(rpc:call(N, erlang, whereis, [kv]), kill),
            kill_until_gone(N, K + 1);
        not_serving ->
            io:format("kills ~p~n", [K])
    end.
