%% sup_helper: the Erlang side of tests/interop/sup.sh.  Drives the C
%% node's supervision tree (tests/interop/sup_node.c) with OTP's own
%% supervisor functions, prints one line per check ("ok: ..." or
%% "FAIL: ..."), then "done".
-module(sup_helper).
-export([run/1]).

run(Node) ->
    Sup = {sup, Node},
    %% which_children / count_children, as an OTP supervisor answers them
    Kids = supervisor:which_children(Sup),
    check("which_children lists the children, last started first",
          case Kids of
              [{inner, I, supervisor, []}, {two, T, worker, []}, {one, O, worker, []}] ->
                  node(I) =:= Node andalso node(T) =:= Node andalso node(O) =:= Node;
              _ -> false
          end, Kids),
    Counts = supervisor:count_children(Sup),
    check("count_children", Counts =:= [{specs, 3}, {active, 3}, {supervisors, 1}, {workers, 2}], Counts),
    %% a nested supervisor, called by pid
    {inner, Inner, supervisor, _} = lists:keyfind(inner, 1, Kids),
    InnerKids = supervisor:which_children(Inner),
    check("the nested supervisor answers by pid",
          case InnerKids of [{three, P3, worker, []}] -> is_pid(P3); _ -> false end, InnerKids),
    %% a child killed from Erlang is restarted: a new pid that serves
    {one, One, worker, []} = lists:keyfind(one, 1, Kids),
    exit(One, kill),
    One2 = wait_new_pid(Sup, one, One, 100),
    check("a killed permanent child is restarted", is_pid(One2) andalso One2 =/= One, One2),
    {one, Node} ! {self(), hello},
    Echo = receive {one, hello} = E -> E after 5000 -> timeout end,
    check("the restarted child serves", Echo =:= {one, hello}, Echo),
    %% terminate_child / restart_child / delete_child
    R1 = supervisor:terminate_child(Sup, two),
    R2 = lists:keyfind(two, 1, supervisor:which_children(Sup)),
    check("terminate_child keeps the spec, not running",
          R1 =:= ok andalso R2 =:= {two, undefined, worker, []}, {R1, R2}),
    R3 = supervisor:restart_child(Sup, two),
    check("restart_child", case R3 of {ok, P} when is_pid(P) -> node(P) =:= Node; _ -> false end, R3),
    R4 = supervisor:delete_child(Sup, two),
    check("delete_child of a running child", R4 =:= {error, running}, R4),
    R5 = {supervisor:terminate_child(Sup, two), supervisor:delete_child(Sup, two),
          supervisor:delete_child(Sup, two), supervisor:restart_child(Sup, nope)},
    check("terminate then delete", R5 =:= {ok, ok, {error, not_found}, {error, not_found}}, R5),
    R6 = supervisor:start_child(Sup, #{id => x, start => {m, f, []}}),
    check("start_child with an Erlang spec is refused", R6 =:= {error, badarg}, R6),
    R7 = supervisor:count_children(Sup),
    check("count_children after", R7 =:= [{specs, 2}, {active, 2}, {supervisors, 1}, {workers, 1}], R7),
    %% too many restarts: the supervisor exits shutdown
    Mref = monitor(process, Sup),
    kill_until_down(Sup, Mref, 10),
    Down = receive {'DOWN', Mref, process, _, Reason} -> Reason after 10000 -> timeout end,
    check("exceeding the intensity shuts the supervisor down", Down =:= shutdown, Down),
    io:format("done~n").

%% Kill `one` (waiting for each restart) until the supervisor gives up.
kill_until_down(_Sup, _Mref, 0) -> ok;
kill_until_down(Sup, Mref, N) ->
    receive
        {'DOWN', Mref, _, _, _} = D -> self() ! D
    after 0 ->
        case catch lists:keyfind(one, 1, supervisor:which_children(Sup)) of
            {one, P, _, _} when is_pid(P) ->
                exit(P, kill),
                wait_new_pid(Sup, one, P, 100),
                kill_until_down(Sup, Mref, N - 1);
            _ -> ok
        end
    end.

%% The child's pid once it is not Old (polling every 50 ms, N times).
wait_new_pid(_Sup, _Id, Old, 0) -> Old;
wait_new_pid(Sup, Id, Old, N) ->
    case catch lists:keyfind(Id, 1, supervisor:which_children(Sup)) of
        {Id, P, _, _} when is_pid(P), P =/= Old -> P;
        {'EXIT', _} -> gone;
        _ -> timer:sleep(50), wait_new_pid(Sup, Id, Old, N - 1)
    end.

check(What, true, _) -> io:format("ok: ~s~n", [What]);
check(What, _, Got) -> io:format("FAIL: ~s: got ~0p~n", [What, Got]).
