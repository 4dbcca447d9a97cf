%% etf_corpus: has real OTP write the ETF corpus that tests/interop/etf_corpus.sh
%% checks ember against, and the fuzzer's seed files.
%%
%%   erl -noshell -pa DIR -run etf_corpus main CORPUS_FILE SEED_DIR CLI_FILE
%%
%% CORPUS_FILE gets one line per term, six TAB-separated fields:
%%   Id    a label (no spaces or tabs)
%%   Text  hex of the UTF-8 of io_lib:format("~tw", [T]), or "-" when T holds
%%         something with no parsable text (refs, ports, funs, remote pids)
%%   Etf   hex of term_to_binary(T) -- of term_to_binary(T, [deterministic])
%%         when the two differ (maps over 32 keys are written in hash order)
%%   P     hex of the UTF-8 of T's ~p on one line: io_lib:format("~*p") with a
%%         line length wide enough that nothing wraps (the field width of ~p
%%         is its line length; with the default 80 long terms wrap).  "-" if
%%         it still contains a newline, and for terms whose ~p depends on the
%%         printing node's internals (see p_portable/1).
%%   Alt   hex of other bytes OTP decodes to the same term ("-" if none):
%%         the default bytes of big maps, legacy and decode-only tags
%%         (FLOAT_EXT, PID_EXT, SMALL_ATOM_EXT, ...), unsorted map keys,
%%         compressed terms.  ember must decode them and re-encode to Etf.
%%   Dist  hex of term_to_binary(T, [{minor_version, 2}]) (UTF-8 atom tags,
%%         what ember's EM_ETF_DIST mode writes), "-" for terms with funs
%%         (ember writes fun bytes back exactly as read).
%% SEED_DIR gets each Etf and Alt as a file of raw bytes.
%% CLI_FILE gets a sample of about 60 small terms for end-to-end runs of the
%% `ember` command, one per line: Id TAB ~tw text TAB lowercase hex TAB ~p
%% (terms whose texts hold no tab or newline).
%%
%% The terms are deterministic except for the values of pids, refs, ports
%% and closures, which come from the running node.
-module(etf_corpus).
-export([main/1]).

main([CorpusFile, SeedDir, CliFile]) ->
    try
        ok = filelib:ensure_dir(filename:join(SeedDir, "x")),
        Entries = entries(),
        Lines = [line(E) || E <- Entries],
        ok = file:write_file(CorpusFile, [L || {L, _} <- Lines]),
        ok = file:write_file(CliFile, cli_sample(Entries)),
        Seeds = lists:append([S || {_, S} <- Lines]),
        write_seeds(SeedDir, Seeds, 0),
        io:format("etf_corpus: ~b terms, ~b seed files~n",
                  [length(Entries), length(Seeds)]),
        halt(0)
    catch C:R:St ->
        io:format(standard_error, "etf_corpus: ~p:~p~n~p~n", [C, R, St]),
        halt(1)
    end.

write_seeds(_Dir, [], _N) -> ok;
write_seeds(Dir, [B | Bs], N) ->
    Name = filename:join(Dir, io_lib:format("seed_~5..0b.etf", [N])),
    ok = file:write_file(Name, B),
    write_seeds(Dir, Bs, N + 1).

%% {Id, Term} or {Id, Term, AltBytes}.
line({Id, T}) -> line({Id, T, none});
line({Id, T, Alt0}) ->
    Def = term_to_binary(T),
    Det = term_to_binary(T, [deterministic]),
    {Etf, Alt} = case {Def =:= Det, Alt0} of
                     {true, _} -> {Det, Alt0};
                     {false, none} -> {Det, Def};
                     {false, _} -> {Det, Alt0}
                 end,
    Alt =:= none orelse binary_to_term(Alt) =:= T orelse
        error({alt_is_not_the_term, Id}),
    Text = case parsable(T) of
               true -> utf8(io_lib:format("~tw", [T]));
               false -> none
           end,
    P = utf8(io_lib:format("~*p", [1 bsl 30, T])),
    PF = case binary:match(P, <<"\n">>) =:= nomatch andalso p_portable(T) of
             true -> P;
             false -> none
         end,
    Dist = case has_fun(T) of
               true -> none;
               false -> term_to_binary(T, [deterministic, {minor_version, 2}])
           end,
    L = [Id, $\t, hex(Text), $\t, hex(Etf), $\t, hex(PF), $\t, hex(Alt), $\t,
         hex(Dist), $\n],
    {L, [Etf | [Alt || Alt =/= none]]}.

cli_sample(Entries) ->
    Small = [[Id, $\t, Text, $\t, string:lowercase(hex(term_to_binary(T))), $\t,
              P, $\n]
             || E <- Entries,
                {Id, T} <- [{element(1, E), element(2, E)}],
                parsable(T),
                Text <- [utf8(io_lib:format("~tw", [T]))],
                P <- [utf8(io_lib:format("~*p", [1 bsl 30, T]))],
                byte_size(Text) < 400,
                nomatch =:= binary:match(<<Text/binary, P/binary>>,
                                         [<<"\t">>, <<"\n">>, <<"\r">>])],
    Step = max(1, length(Small) div 60),
    [L || {I, L} <- lists:enumerate(Small), I rem Step =:= 0].

utf8(Chars) ->
    case unicode:characters_to_binary(Chars) of
        B when is_binary(B) -> B
    end.

hex(none) -> "-";
hex(B) -> << <<(hd(integer_to_list(N, 16)))>> || <<N:4>> <= B >>.

%% Can ember's parser read T back from its ~w text?  Not for references,
%% ports, funs and pids of other nodes.
parsable(T) -> walk(T, fun(X) -> is_reference(X) orelse is_port(X)
                                     orelse is_function(X)
                                     orelse (is_pid(X) andalso node(X) =/= node())
                       end) =:= false.

%% Terms whose ~p no other implementation can reproduce:
%%  - maps of more than 32 keys: ~p lists them in the HAMT's hash order (and
%%    they never fit one 80-column line anyway);
%%  - pids, ports and refs of other nodes: ~p shows the printing node's
%%    internal index of the node (<8380.42.7>), not something in the term.
p_portable(T) ->
    not walk(T, fun(X) -> (is_map(X) andalso map_size(X) > 32)
                              orelse ((is_pid(X) orelse is_port(X) orelse is_reference(X))
                                      andalso node(X) =/= node())
                end).

has_fun(T) -> walk(T, fun erlang:is_function/1).

%% true if Pred holds for some subterm (iterative: terms are deep).
walk(T, Pred) -> walk([T], Pred, false).
walk(_, _, true) -> true;
walk([], _, false) -> false;
walk([T | Rest], Pred, false) ->
    case Pred(T) of
        true -> true;
        false ->
            Kids = if
                       is_tuple(T) -> tuple_to_list(T);
                       is_map(T) -> maps:keys(T) ++ maps:values(T);
                       is_list(T) -> improper_parts(T, []);
                       true -> []
                   end,
            walk(Kids ++ Rest, Pred, false)
    end.

improper_parts([H | T], Acc) -> improper_parts(T, [H | Acc]);
improper_parts([], Acc) -> Acc;
improper_parts(Tail, Acc) -> [Tail | Acc].

%% ---- the corpus ---------------------------------------------------------

entries() ->
    lists:append([integers(), floats(), atoms(), tuples(), lists(),
                  binaries(), maps(), identifiers(), funs(), nesting(),
                  legacy(), messages(), random_terms(300)]).

id(Fmt, Args) -> lists:flatten(io_lib:format(Fmt, Args)).

integers() ->
    Edges = [0, 1, 2, 127, 128, 254, 255, 256, 257, 65535, 65536,
             1 bsl 27 - 1, 1 bsl 27, 1 bsl 27 + 1,
             1 bsl 31 - 1, 1 bsl 31, 1 bsl 31 + 1, 1 bsl 32 - 1, 1 bsl 32,
             1 bsl 59 - 1, 1 bsl 59, 1 bsl 60 - 1, 1 bsl 60,
             1 bsl 61 - 1, 1 bsl 61, 1 bsl 62, 1 bsl 63 - 1, 1 bsl 63,
             1 bsl 64 - 1, 1 bsl 64, 1 bsl 64 + 1, 1 bsl 127, 1 bsl 128,
             1 bsl 2039, 1 bsl 2040 - 1, 1 bsl 2040, 1 bsl 2048, 1 bsl 4096,
             pow10(18), pow10(19), pow10(20), pow10(100), pow10(299),
             pow10(300) - 1, pow10(300) + 12345, pow10(1000) + 7,
             123456789012345678901234567890],
    [{id("int_~b", [I]), N} || {I, N} <- lists:enumerate(Edges)] ++
    [{id("int_neg_~b", [I]), -N} || {I, N} <- lists:enumerate(Edges), N =/= 0] ++
    [{"int_min32", -(1 bsl 31)}, {"int_min32_minus1", -(1 bsl 31) - 1},
     {"int_300_digits", list_to_integer(lists:duplicate(300, $7))},
     {"int_300_digits_neg", -list_to_integer("9" ++ lists:duplicate(299, $1))},
     {"int_list_edges", Edges},
     {"int_tuple_edges", list_to_tuple([-N || N <- Edges])}].

pow10(N) -> pow10(N, 1).
pow10(0, A) -> A;
pow10(N, A) -> pow10(N - 1, A * 10).

floats() ->
    Fs = [0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 0.2, 0.3, 1/3, 2/3, 100.0, 1.5,
          -2.5, 3.14159, math:pi(), math:exp(1), 1.0e15, 1.0e16, 1.0e17,
          1.0e21, 1.0e22, 1.0e23, 1.0e100, 1.0e300, -1.0e300, 1.0e-5,
          1.0e-6, 1.0e-7, 0.001, 0.0001, 123456789.0, 1234567890123.0,
          9007199254740992.0, 9007199254740994.0, 4503599627370496.5,
          5.0e-324, -5.0e-324, 2.2250738585072014e-308,
          2.225073858507201e-308, 1.7976931348623157e308,
          -1.7976931348623157e308, 0.1e-10, 12.375, 1.0e-300, 6.02214076e23,
          299792458.0, 0.30000000000000004, 1.0000000000000002,
          0.9999999999999999, 65535.0, 2147483648.0, 18446744073709551616.0],
    Rand = rand_floats(60),
    All = Fs ++ Rand,
    [{id("float_~b", [I]), F,
      %% minor_version 0 writes FLOAT_EXT, the decode-only text format.
      term_to_binary(F, [{minor_version, 0}])}
     || {I, F} <- lists:enumerate(All)] ++
    [{"float_list", All}, {"float_tuple", list_to_tuple(Fs)}].

rand_floats(N) ->
    rand:seed(exsss, {11, 22, 33}),
    [rand_float() || _ <- lists:seq(1, N)].

rand_float() ->
    case rand:uniform(3) of
        1 -> (rand:uniform() - 0.5) * math:pow(10, rand:uniform(40) - 20);
        2 -> float(rand:uniform(1000000)) / 8;
        3 -> bits_float()
    end.

bits_float() ->
    case <<(rand:uniform(1 bsl 64) - 1):64>> of
        <<F:64/float>> -> F;
        _ -> bits_float()   % NaN or infinity: not an Erlang float
    end.

atoms() ->
    Names = ["a", "", "ok", "true", "false", "undefined", "nonode@nohost",
             "hello_world", "Hello", "_under", "a b", "with'quote",
             "back\\slash", "new\nline", "tab\there", "a-b", "a.b", "a@b",
             "a1", "1a", "a+", "[]", "{}", "and", "or", "case", "receive",
             "end", "fun", "when", "not", "div", "catch", "'",
             "\"", [228], [246, 228, 229], [255], [192, 233], [215],
             [223, 255], [256], [937], [945, 946, 947], [26085, 26412, 35486],
             [128512], [97, 128512], "ok" ++ [8364],
             lists:duplicate(255, $x), lists:duplicate(255, 233),
             lists:duplicate(255, 937), lists:duplicate(255, 128512),
             lists:duplicate(86, 26085)],
    [{id("atom_~b", [I]), list_to_atom(N),
      term_to_binary(list_to_atom(N), [{minor_version, 2}])}
     || {I, N} <- lists:enumerate(Names)] ++
    [{"atom_list", [list_to_atom(N) || N <- Names]}].

tuples() ->
    [{"tuple_0", {}}, {"tuple_1", {a}}, {"tuple_2", {1, 2}},
     {"tuple_nested_empty", {{}, {{}}}},
     {"tuple_255", list_to_tuple(lists:seq(1, 255))},
     {"tuple_256", list_to_tuple(lists:seq(1, 256))},
     {"tuple_257", list_to_tuple(lists:duplicate(257, a))},
     {"tuple_1000", list_to_tuple([{I, [I]} || I <- lists:seq(1, 1000)])},
     {"tuple_65536", list_to_tuple(lists:duplicate(65536, 0))},
     {"tuple_mixed", {1, 2.0, a, "s", <<"b">>, [], [1 | 2], #{}, {}}}].

lists() ->
    [{"list_nil", []}, {"list_nil_in_list", [[]]}, {"list_1", [1]},
     {"str_a", "a"}, {"str_hello", "hello"}, {"str_newline", "hello\nworld"},
     {"str_escapes", "t\tq\"b\\e\ev\vf\fr\rb\bd"}, {"str_zero", [0]},
     {"str_255", [255]}, {"list_256", [256]}, {"list_neg", [-1]},
     {"str_latin1", [$a, 228, 246, 252, 223, 169]},
     {"str_unicode", [937, 945, 26085]}, {"str_emoji", [128512]},
     {"str_bell", [7]}, {"str_del", [127]}, {"str_c1", [128, 159, 160]},
     {"str_all_bytes", lists:seq(0, 255)},
     {"str_printable_ascii", lists:seq(32, 126)},
     {"str_65535", lists:duplicate(65535, $a)},
     {"str_65536", lists:duplicate(65536, $a)},
     {"str_65535_bytes", [I rem 256 || I <- lists:seq(1, 65535)]},
     {"list_65535_with_256", lists:duplicate(65534, 1) ++ [256]},
     {"list_1000", lists:seq(1, 1000)},
     {"list_improper_int", [1 | 2]}, {"list_improper_3", [1, 2 | 3]},
     {"list_improper_atom", [a, b | c]}, {"list_improper_nil_head", [[] | a]},
     {"list_improper_bin", [1 | <<"x">>]}, {"list_improper_tuple", [x | {}]},
     {"list_improper_float", [$a, $b | 1.5]},
     {"list_improper_str_tail", [$a | "bc"]},   % proper: "abc"
     {"list_mixed", [1, a, "b", <<"c">>, {d}, 2.0, [], #{e => f}]},
     {"list_of_strings", ["abc", "def", [], "g"]},
     {"list_deep_strings", [["ab", ["cd"]], "ef"]},
     {"list_bignums", [1 bsl 64, -(1 bsl 100)]},
     {"list_long_mixed", [{I, float(I)} || I <- lists:seq(1, 500)]}].

binaries() ->
    Bits = [{id("bits_~b", [N]), <<1:N>>} || N <- lists:seq(1, 7)] ++
        [{id("bits_ones_~b", [N]), <<(1 bsl N - 1):N>>} || N <- lists:seq(1, 7)] ++
        [{id("bits_byte_plus_~b", [N]), <<255, 0:N>>} || N <- lists:seq(1, 7)] ++
        [{id("bits_str_plus_~b", [N]), <<"abc", 5:N>>} || N <- lists:seq(3, 7)] ++
        [{id("bits_long_~b", [N]), <<(binary:copy(<<16#a5>>, 300))/binary, 3:N>>}
         || N <- lists:seq(1, 7)],
    [{"bin_empty", <<>>}, {"bin_abc", <<"abc">>},
     {"bin_hello", <<"hello world">>}, {"bin_bytes", <<0, 1, 2, 255>>},
     {"bin_255", <<255>>}, {"bin_zero", <<0>>},
     {"bin_quotes", <<"with \"quotes\" and \\">>},
     {"bin_newline", <<"line\nline\t">>},
     {"bin_latin1", <<"caf", 233, " ", 228>>},
     {"bin_utf8", unicode:characters_to_binary([26085, 26412, 35486])},
     {"bin_utf8_mixed", unicode:characters_to_binary("ok " ++ [937])},
     {"bin_all_bytes", list_to_binary(lists:seq(0, 255))},
     {"bin_printable_ascii", list_to_binary(lists:seq(32, 126))},
     {"bin_64k", binary:copy(<<"0123456789abcdef">>, 4096)},
     {"bin_64k_random", rand_bytes(65536)},
     {"bin_in_tuple", {<<"a">>, <<>>, <<1:1>>}},
     {"bin_list", [<<"a">>, <<"bc">>]}] ++ Bits.

rand_bytes(N) ->
    rand:seed(exsss, {5, 6, 7}),
    << <<(rand:uniform(256) - 1)>> || _ <- lists:seq(1, N) >>.

maps() ->
    Big = fun(N) -> maps:from_list([{I, I * I} || I <- lists:seq(1, N)]) end,
    BigAtoms = fun(N) ->
                       maps:from_list([{list_to_atom("k" ++ integer_to_list(I)),
                                        I} || I <- lists:seq(1, N)])
               end,
    Mixed = #{1 => int, 2 => two, 1.0 => float, 1.5 => x, -1 => neg,
              a => atom, b => [], {t} => tuple, [l] => list,
              <<"bin">> => bin, [] => nil, #{k => v} => map,
              1 bsl 70 => big, -0.0 => negzero, "str" => string,
              <<1:3>> => bits, {} => empty_tuple},
    [{"map_empty", #{}}, {"map_1", #{a => 1}}, {"map_2", #{b => 1, a => 2}},
     {"map_num_atom", #{a => 1, 1 => a}},
     {"map_int_float", #{2 => x, 1.5 => y, 1 => z, 1.0 => w}},
     {"map_mixed", Mixed},
     {"map_nested", #{a => #{b => #{c => #{d => []}}}, e => #{}}},
     {"map_nested_keys", #{#{a => 1} => #{}, #{} => 1, #{b => 2, a => 1} => 2}},
     {"map_tuple_keys", #{{1, 2} => a, {1} => b, {0, 0, 0} => c, {a, b} => d}},
     {"map_list_keys", #{[1] => a, [1, 2] => b, "abc" => c, [a | b] => d}},
     {"map_bin_keys", #{<<"b">> => 1, <<"a">> => 2, <<>> => 3, <<"ab">> => 4,
                        <<1:1>> => 5, <<0:7>> => 6}},
     {"map_bignum_keys", #{1 bsl 64 => a, -(1 bsl 64) => b, 0 => c,
                           1 bsl 200 => d, 255 => e, 256 => f}},
     {"map_float_keys", #{0.5 => a, -1.5 => b, 1.0e300 => c, 3.0 => d}},
     {"map_atom_keys_unicode", #{list_to_atom([937]) => 1, z => 2,
                                 list_to_atom([228]) => 3, 'A' => 4}},
     {"map_values", #{a => [1, 2], b => {x}, c => <<"v">>, d => 1.5,
                      e => "str", f => #{g => h}}},
     {"map_32", Big(32)}, {"map_33", Big(33)}, {"map_64", Big(64)},
     {"map_100_atoms", BigAtoms(100)},
     {"map_1000", maps:from_list([{{k, I}, [I]} || I <- lists:seq(1, 1000)])},
     {"map_in_list", [#{a => 1}, #{}, Big(40)]},
     {"map_nested_big", #{inner => Big(50), other => BigAtoms(35)}},
     %% Unsorted keys on the wire: decoded and written back sorted.
     {"map_unsorted_wire", #{a => 1, b => 2},
      <<131, 116, 2:32, 100, 1:16, $b, 97, 2, 100, 1:16, $a, 97, 1>>}].

%% Pids, references, ports: local ones from this node, remote ones built
%% from crafted bytes.
identifiers() ->
    Node = atom_ext(node()),
    Other = atom_ext('other@host'),
    Uni = atom_ext(list_to_atom("n" ++ [937] ++ "@host")),
    RemotePid = binary_to_term(<<131, 88, Other/binary, 42:32, 7:32, 12345:32>>),
    RemotePid2 = binary_to_term(<<131, 88, Uni/binary, 1:32, 0:32, 1:32>>),
    Port = hd(erlang:ports()),
    Port2 = open_port({spawn, "true"}, []),
    RemotePort = binary_to_term(<<131, 89, Other/binary, 77:32, 3:32>>),
    V4Port = binary_to_term(<<131, 120, Other/binary, (1 bsl 40 + 5):64, 9:32>>),
    Ref = make_ref(),
    Ref1 = binary_to_term(<<131, 90, 1:16, Other/binary, 4:32, 99:32>>),
    Ref5 = binary_to_term(<<131, 90, 5:16, Other/binary, 4:32,
                            1:32, 2:32, 3:32, 4:32, 5:32>>),
    Ref3Local = binary_to_term(<<131, 90, 3:16, Node/binary, 0:32,
                                 10:32, 20:32, 30:32>>),
    Alias = alias(),
    unalias(Alias),
    Mon = monitor(process, self()),
    demonitor(Mon),
    Spawned = spawn(fun() -> ok end),
    LPid = list_to_pid("<0.1234.5678>"),
    [{"pid_self", self()}, {"pid_spawned", Spawned}, {"pid_list_to_pid", LPid},
     {"pid_zero", list_to_pid("<0.0.0>")},
     {"pid_15bit", list_to_pid("<0.32767.8191>")},
     {"pid_remote_big", binary_to_term(<<131, 88, Other/binary, (1 bsl 32 - 1):32,
                                         (1 bsl 32 - 1):32, (1 bsl 32 - 1):32>>)},
     {"pid_remote", RemotePid}, {"pid_remote_unicode_node", RemotePid2},
     {"pid_in_tuple", {self(), LPid}},
     {"port_first", Port}, {"port_spawn", Port2}, {"port_remote", RemotePort},
     {"port_v4", V4Port},
     {"ref_make", Ref}, {"ref_1word", Ref1}, {"ref_5words", Ref5},
     {"ref_local_crafted", Ref3Local}, {"ref_alias", Alias},
     {"ref_monitor", Mon},
     {"ident_mix", [self(), Ref, Port, {RemotePid, RemotePort, Ref5}]},
     {"map_ident_keys", #{self() => pid, Ref => ref, Port => port,
                          RemotePid => rpid, Ref5 => ref5, 1 => int}}]
        ++ begin port_close(Port2), [] end.

atom_ext(A) ->
    B = atom_to_binary(A, utf8),
    <<118, (byte_size(B)):16, B/binary>>.

funs() ->
    Y = {a, 1},
    Z = "free",
    F0 = fun() -> ok end,
    F1 = fun(X) -> X + 1 end,
    F2 = fun(X) -> {X, Y, Z} end,
    F3 = fun(A, B) -> [A, B, Y] end,
    [{"fun_export_node", fun erlang:node/0},
     {"fun_export_map", fun lists:map/2},
     {"fun_export_self", fun ?MODULE:main/1},
     %% ~p of a fun is erlang:fun_to_list/1, which writes the UTF-8 bytes
     %% of the names as characters (OTP 25): fun 'Î©':f/0, fun Ã¤:f/0.
     {"fun_export_unicode", fun 'Ω':f/0},
     {"fun_export_latin1", erlang:make_fun(list_to_atom([228]), list_to_atom([246]), 1)},
     {"fun_closure_0", F0}, {"fun_closure_1", F1},
     {"fun_closure_free", F2}, {"fun_closure_free2", F3},
     {"fun_in_terms", [F0, {F2, fun erlang:node/0}, #{f => F1}]},
     {"fun_map_keys", #{F0 => a, F1 => b, fun erlang:node/0 => c}}].

nesting() ->
    Deep = fun(N, Wrap) -> lists:foldl(fun(_, Acc) -> Wrap(Acc) end, [], lists:seq(1, N)) end,
    [{"deep_list_100", Deep(100, fun(X) -> [X] end)},
     {"deep_list_10000", Deep(10000, fun(X) -> [X] end)},
     {"deep_list_100000", Deep(100000, fun(X) -> [X] end)},
     {"deep_tail_list_10000", Deep(10000, fun(X) -> [1, X] end)},
     {"deep_tuple_1000", Deep(1000, fun(X) -> {X} end)},
     {"deep_tuple_100000", Deep(100000, fun(X) -> {X} end)},
     {"deep_map_500", Deep(500, fun(X) -> #{k => X} end)},
     {"deep_mixed_3000", Deep(3000, fun(X) -> {a, [X, <<"b">>], #{1 => 2}} end)},
     {"deep_improper_1000", Deep(1000, fun(X) -> [a | X] end)},
     {"deep_last_elem_1000", Deep(1000, fun(X) -> {1, 2, X} end)}].

%% Decode-only and non-canonical encodings: OTP decodes each to a term whose
%% term_to_binary is canonical.
legacy() ->
    A = fun(Name) -> <<100, (length(Name)):16, (list_to_binary(Name))/binary>> end,
    Node = A("nonode@nohost"),
    Other = A("other@host"),
    Crafted =
        [{"leg_small_atom", <<131, 115, 3, "abc">>},
         {"leg_atom_utf8_ascii", <<131, 118, 3:16, "abc">>},
         {"leg_small_atom_utf8", <<131, 119, 3, "abc">>},
         {"leg_atom_utf8_latin1", <<131, 119, 2, 195, 164>>},
         {"leg_integer_small", <<131, 98, 5:32>>},
         {"leg_integer_neg", <<131, 98, -5:32/signed>>},
         {"leg_small_big_small", <<131, 110, 1, 0, 5>>},
         {"leg_small_big_zero", <<131, 110, 0, 0>>},
         {"leg_small_big_neg_zero", <<131, 110, 1, 1, 0>>},
         {"leg_small_big_int32", <<131, 110, 4, 1, 0, 0, 0, 128>>},
         {"leg_small_big_leading_zeros", <<131, 110, 3, 0, 5, 0, 0>>},
         {"leg_large_big_small", <<131, 111, 2:32, 0, 1, 1>>},
         {"leg_large_tuple_2", <<131, 105, 2:32, 97, 1, 97, 2>>},
         {"leg_list_ext_bytes", <<131, 108, 3:32, 97, 1, 97, 2, 97, 3, 106>>},
         {"leg_list_ext_empty_tail", <<131, 108, 1:32, 106, 106>>},
         {"leg_string_in_list", <<131, 108, 1:32, 107, 2:16, "ab", 107, 1:16, "c">>},
         {"leg_bit_binary_8", <<131, 77, 2:32, 8, 1, 2>>},
         {"leg_pid_ext", <<131, 103, Node/binary, 5:32, 0:32, 0>>},
         {"leg_pid_ext_remote", <<131, 103, Other/binary, 5:32, 1:32, 2>>},
         {"leg_port_ext", <<131, 102, Other/binary, 6:32, 1>>},
         {"leg_new_port_ext", <<131, 89, Other/binary, 6:32, 1:32>>},
         {"leg_v4_port_small", <<131, 120, Other/binary, 6:64, 1:32>>},
         {"leg_reference_ext", <<131, 101, Other/binary, 7:32, 1>>},
         {"leg_new_reference_ext", <<131, 114, 3:16, Other/binary, 2, 1:32, 2:32, 3:32>>},
         {"leg_newer_reference_2", <<131, 90, 2:16, Other/binary, 2:32, 1:32, 2:32>>},
         {"leg_map_unsorted_ints", <<131, 116, 3:32, 97, 3, 97, 30, 97, 1, 97, 10,
                                     97, 2, 97, 20>>},
         {"leg_map_float_before_int", <<131, 116, 2:32, 70, 1.0:64/float, 100, 1:16, $f,
                                        97, 1, 100, 1:16, $i>>}],
    Compressed =
        [{"comp_list", lists:duplicate(1000, hello), [compressed]},
         {"comp_bin", binary:copy(<<0>>, 70000), [{compressed, 9}]},
         {"comp_tuple", list_to_tuple(lists:seq(1, 500)), [{compressed, 1}]},
         {"comp_map", maps:from_list([{I, <<"v">>} || I <- lists:seq(1, 20)]),
          [compressed]},
         {"comp_string", lists:duplicate(5000, $x), [compressed]}],
    [{Id, binary_to_term(B), B} || {Id, B} <- Crafted] ++
    [{Id, T, C} || {Id, T, Opts} <- Compressed,
                   C <- [term_to_binary(T, Opts)],
                   binary:at(C, 1) =:= 80 orelse error({not_compressed, Id})].

%% Realistic messages, including the benchmark workloads.
messages() ->
    [{"msg_seed", {self(), "Hello from sender"}},
     {"msg_call", {'$gen_call', {self(), make_ref()}, {get, key}}},
     {"msg_cast", {'$gen_cast', {put, <<"key">>, [1, 2, 3]}}},
     {"msg_map10", #{id => 12345, name => <<"Alice Smith">>,
                     email => <<"alice@example.com">>, age => 34,
                     score => 98.5, active => true, tags => [admin, staff],
                     created => {{2023, 5, 17}, {10, 30, 0}},
                     balance => -1200, meta => #{source => web}}},
     {"msg_list1000", lists:seq(1, 1000)},
     {"msg_error", {error, {badmatch, [1, 2]}, [{mod, f, 2, [{file, "m.erl"}, {line, 10}]}]}},
     {"msg_record", {person, "Joe", 42, [{email, "joe@example.com"}], undefined}},
     {"msg_proplist", [{a, 1}, {b, "two"}, {c, <<"three">>}, {d, 4.0}]},
     {"msg_options", [binary, {packet, 4}, {active, false}, {reuseaddr, true}]}].

%% A seeded generator of random terms of every parsable type (and some pids).
random_terms(N) ->
    rand:seed(exsss, {1, 2, 3}),
    [{id("rand_~b", [I]), gen(4)} || I <- lists:seq(1, N)].

gen(D) when D =< 0 -> leaf();
gen(D) ->
    case rand:uniform(10) of
        1 -> list_to_tuple([gen(D - 1) || _ <- lists:seq(1, rand:uniform(6) - 1)]);
        2 -> [gen(D - 1) || _ <- lists:seq(1, rand:uniform(6) - 1)];
        3 -> maps:from_list([{gen(D - 1), gen(D - 1)}
                             || _ <- lists:seq(1, rand:uniform(8) - 1)]);
        4 -> [gen(D - 1) | leaf()];
        5 -> maps:from_list([{leaf(), gen(D - 2)} || _ <- lists:seq(1, 30 + rand:uniform(10))]);
        _ -> leaf()
    end.

leaf() ->
    case rand:uniform(14) of
        1 -> rand:uniform(256) - 1;
        2 -> rand:uniform(1 bsl 32) - (1 bsl 31);
        3 -> (rand:uniform(1 bsl 70) - (1 bsl 69)) * (1 bsl rand:uniform(300));
        4 -> rand_float();
        5 -> pick([a, b, ok, error, 'Quoted', 'with space', list_to_atom([937]),
                   list_to_atom([233, $t, 233]), '', true, false, undefined]);
        6 -> << <<(rand:uniform(256) - 1)>> || _ <- lists:seq(1, rand:uniform(20) - 1) >>;
        7 -> list_to_binary([$a + rand:uniform(26) - 1 || _ <- lists:seq(1, rand:uniform(12))]);
        8 -> Bits = rand:uniform(7),
             <<(rand:uniform(1 bsl 16) - 1):16, (rand:uniform(1 bsl Bits) - 1):Bits>>;
        9 -> [$a + rand:uniform(26) - 1 || _ <- lists:seq(1, rand:uniform(10))];
        10 -> [rand:uniform(1000) || _ <- lists:seq(1, rand:uniform(5))];
        11 -> [];
        12 -> {};
        13 -> #{};
        14 -> self()
    end.

pick(L) -> lists:nth(rand:uniform(length(L)), L).
