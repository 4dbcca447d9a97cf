%% etf_bench: BEAM's side of the ETF benchmarks (bench/etf.sh runs it next to
%% build/bench/bench_etf and computes the ratios).
%%
%%   erl -noshell -pa DIR -run etf_bench main [NAME]
%%
%% Prints one line per workload whose name contains NAME:
%%   name TAB ops/s TAB encoded size in bytes
%% Encode is term_to_binary/1, decode binary_to_term/1, each in a tight loop
%% whose result is used (so the compiler cannot drop the call).
%% etf_decode_bin64k_copy is etf_decode_bin64k again, for ember's copying
%% decoder to be compared with.  Each workload
%% is calibrated to about 0.3 s per repetition; the best of 5 counts.
-module(etf_bench).
-export([main/0, main/1]).

-define(SECONDS, 0.3).
-define(REPS, 5).

main() -> main([]).

main(Args) ->
    Filter = case Args of
                 [F | _] -> F;
                 [] -> ""
             end,
    try
        [bench(Name, Op, T, Filter) || {Msg, T} <- messages(),
                                       Op <- [encode, decode],
                                       Name <- ["etf_" ++ atom_to_list(Op) ++ "_" ++ Msg]],
        %% ember's copying decoder (bench_etf.c) against the same call.
        {_, Bin64k} = lists:keyfind("bin64k", 1, messages()),
        bench("etf_decode_bin64k_copy", decode, Bin64k, Filter),
        halt(0)
    catch C:R:St ->
        io:format(standard_error, "etf_bench: ~p:~p~n~p~n", [C, R, St]),
        halt(1)
    end.

messages() ->
    [{"seed", {self(), "Hello from sender"}},
     {"map10", #{id => 12345, name => <<"Alice Smith">>,
                 email => <<"alice@example.com">>, age => 34, score => 98.5,
                 active => true, tags => [admin, staff],
                 created => {{2023, 5, 17}, {10, 30, 0}}, balance => -1200,
                 meta => #{source => web}}},
     {"list1000", lists:seq(1, 1000)},
     {"bin64k", list_to_binary([I band 255 || I <- lists:seq(0, 65535)])}].

bench(Name, Op, T, Filter) ->
    case string:find(Name, Filter) of
        nomatch -> skip;
        _ ->
            B = term_to_binary(T),
            Run = case Op of
                      encode -> fun(N) -> encode_loop(N, T, 0) end;
                      decode -> fun(N) -> decode_loop(N, B, []) end
                  end,
            Rate = measure(Run),
            io:format("~s\t~b\t~b~n", [Name, round(Rate), byte_size(B)])
    end.

%% Best rate over ?REPS runs of about ?SECONDS each.
measure(Run) ->
    N = calibrate(Run, 1),
    lists:max([begin
                   {Us, _} = timer:tc(fun() -> Run(N) end),
                   N / (max(Us, 1) / 1.0e6)
               end || _ <- lists:seq(1, ?REPS)]).

calibrate(Run, N) ->
    {Us, _} = timer:tc(fun() -> Run(N) end),
    if
        Us >= 50000 -> max(1, round(N * ?SECONDS * 1.0e6 / Us));
        true -> calibrate(Run, N * 2)
    end.

encode_loop(0, _T, Acc) -> Acc;
encode_loop(N, T, Acc) ->
    B = term_to_binary(T),
    encode_loop(N - 1, T, Acc + byte_size(B)).

decode_loop(0, _B, Last) -> Last;
decode_loop(N, B, _Last) ->
    decode_loop(N - 1, B, binary_to_term(B)).
