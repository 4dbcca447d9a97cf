%% cli_helper.erl: the Erlang side of tests/interop/cli.sh: what the
%% `ember` commands call on a real OTP node.
%%  - srv: a registered gen_server (gen_server:start, unlinked) answering
%%    {echo, X} with X, {sleep, Ms} with slept after Ms ms, and die by
%%    stopping without a reply (reason died);
%%  - functions for ember rpc: boom/1 (error), ex/1 (exit), th/1 (throw),
%%    slow/1 (sleeps), signal/0 (its process killed), exit_value/0 (returns
%%    an {'EXIT', _} tuple), say/1 (io:format, then a value);
%%  - oracle/3: what rpc:call itself returns for each case of cli.sh, one
%%    "Label<TAB>~0p" line each, for cli.sh to compare ember rpc with.
-module(cli_helper).
-behaviour(gen_server).
-export([start/0, boom/1, ex/1, th/1, slow/1, signal/0, exit_value/0, say/1, oracle/3]).
-export([init/1, handle_call/3, handle_cast/2]).

start() ->
    {ok, _} = gen_server:start({local, srv}, ?MODULE, [], []),
    ok.

init([]) -> {ok, nostate}.
handle_call({echo, X}, _From, S) -> {reply, X, S};
handle_call({sleep, Ms}, _From, S) -> timer:sleep(Ms), {reply, slept, S};
handle_call(die, _From, S) -> {stop, died, S}.
handle_cast(_, S) -> {noreply, S}.

boom(R) -> error(R).
ex(R) -> exit(R).
th(T) -> throw(T).
slow(Ms) -> timer:sleep(Ms), done.
signal() -> exit(self(), kill).
exit_value() -> {'EXIT', made_up}.
say(X) -> io:format("said ~p~n", [X]), X.

%% oracle(Node, Down, Out): rpc:call's answers, written to the file Out.
%% Down: a node that does not exist.
oracle(Node, Down, Out) ->
    Cases = [{value, Node, lists, seq, [1, 5], 10000},
             {undef, Node, nosuch, f, [], 10000},
             {undef_args, Node, cli_helper, nosuch, [1, "two"], 10000},
             {error, Node, cli_helper, boom, [{bad, thing}], 10000},
             {error_bif, Node, erlang, error, [boom], 10000},
             {badarith, Node, erlang, '/', [1, 0], 10000},
             {exit, Node, cli_helper, ex, [bye], 10000},
             {throw, Node, cli_helper, th, [ball], 10000},
             {throw_exit, Node, cli_helper, th, [{'EXIT', x}], 10000},
             {exit_value, Node, cli_helper, exit_value, [], 10000},
             {signal, Node, cli_helper, signal, [], 10000},
             {timeout, Node, cli_helper, slow, [3000], 500},
             {nodedown, Down, erlang, node, [], 10000},
             {args256, Node, erlang, node, lists:seq(1, 256), 10000}],
    Lines = [io_lib:format("~s\t~0p~n", [L, rpc:call(N, M, F, A, T)]) || {L, N, M, F, A, T} <- Cases],
    ok = file:write_file(Out, Lines).
