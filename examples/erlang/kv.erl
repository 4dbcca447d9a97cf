%% kv.erl: the Erlang twin of examples/kv.c: the same key-value store, a
%% gen_server registered as `kv` under a one_for_one supervisor `kv_sup`,
%% and the same API functions.  tests/interop/kv.sh runs the same checks
%% against both and wants the same answers.
%%
%%   erl -sname ek -setcookie abc -eval 'kv:start()'
%%
%% (the supervisor is unlinked from the caller, so the -eval process
%% ending does not take it down.)
-module(kv).
-behaviour(gen_server).
-compile({no_auto_import, [get/1, put/2]}).   % kv:get/1 and kv:put/2 are ours
-export([start/0, put/2, get/1, delete/1, keys/0, fetch/1, wait/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

start() ->
    {ok, Sup} = supervisor:start_link({local, kv_sup}, ?MODULE, sup),
    unlink(Sup),
    {ok, Sup}.

%% ---- the API: each function asks the server ----

put(K, V) -> gen_server:call(kv, {put, K, V}).
get(K) -> gen_server:call(kv, {get, K}).
delete(K) ->
    gen_server:cast(kv, {delete, K}),
    _ = gen_server:call(kv, {get, K}),   % answered after the cast
    ok.
keys() -> gen_server:call(kv, keys).
fetch(K) ->
    case get(K) of
        {ok, V} -> V;
        error -> error({badkey, K})
    end.
wait(K, Ms) ->
    try gen_server:call(kv, {wait, K}, Ms)
    catch exit:{timeout, _} -> timeout
    end.

%% ---- the supervisor (init(sup)) and the server (init(server)) ----

init(sup) ->
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10},
          [#{id => kv, start => {gen_server, start_link, [{local, kv}, ?MODULE, server, []]},
             restart => permanent, shutdown => 1000}]}};
init(server) ->
    {ok, {#{}, []}}.   % {Store, Waiters}: Waiters [{Key, From, MonitorRef}]

handle_call({put, K, V}, _From, {Store, Waiters}) ->
    {Woken, Rest} = lists:partition(fun({WK, _, _}) -> WK =:= K end, Waiters),
    [begin gen_server:reply(From, {ok, V}), demonitor(Ref, [flush]) end || {_, From, Ref} <- Woken],
    {reply, ok, {Store#{K => V}, Rest}};
handle_call({get, K}, _From, S = {Store, _}) ->
    {reply, maps:find(K, Store), S};
handle_call(keys, _From, S = {Store, _}) ->
    {reply, lists:sort(maps:keys(Store)), S};
handle_call({wait, K}, From = {Pid, _}, S = {Store, Waiters}) ->
    case maps:find(K, Store) of
        {ok, V} -> {reply, {ok, V}, S};
        error -> {noreply, {Store, [{K, From, monitor(process, Pid)} | Waiters]}}
    end;
handle_call(_, _From, S) ->
    {reply, {error, badreq}, S}.

handle_cast({delete, K}, {Store, Waiters}) ->
    {noreply, {maps:remove(K, Store), Waiters}};
handle_cast(_, S) ->
    {noreply, S}.

%% a waiting caller died: forget it
handle_info({'DOWN', Ref, process, _, _}, {Store, Waiters}) ->
    {noreply, {Store, lists:keydelete(Ref, 3, Waiters)}};
handle_info(_, S) ->
    {noreply, S}.
