#!/usr/bin/env escript
%% tests/fuzz/seeds.escript DIR: writes a seed corpus for every fuzz target
%% (tests/fuzz/fuzz_*.c) into DIR/corpus_<target>/, each input built by real
%% OTP (term_to_binary, erlang:md5) in the framing its target reads:
%%   corpus_etf_decode      term_to_binary of terms of every kind
%%   corpus_dist_packet     4-byte-length packets: 'p', control tuple, message
%%   corpus_dist_handshake  role byte, status byte, 2-byte-length handshake
%%                          messages that complete (or refuse) a handshake
%%                          with the target's fixed challenge and cookie
%%   corpus_epmd_req        every EPMD request, framed and bare, and the
%%                          daemon's replies the client decodes
%%   corpus_cookie          cookie files erl 25 takes and refuses, and
%%                          -setcookie texts (tests/interop/cookie.sh)
%% So each target starts from inputs that reach deep into its parser and
%% `make fuzz` needs nothing from outside the repository (tests/interop/
%% etf_corpus.sh adds its larger ETF corpus in corpus_etf when it runs).
-mode(compile).

main([Dir]) ->
    N = lists:sum([write(Dir, Name, Seeds) || {Name, Seeds} <- corpora()]),
    io:format("seeds: ~b inputs in ~s/corpus_*~n", [N, Dir]);
main(_) ->
    io:format(standard_error, "usage: seeds.escript DIR~n", []),
    halt(2).

write(Dir, Name, Seeds) ->
    D = filename:join(Dir, "corpus_" ++ Name),
    ok = filelib:ensure_dir(filename:join(D, "x")),
    lists:foldl(fun(Bin, I) ->
                        F = filename:join(D, io_lib:format("seed_~4..0b", [I])),
                        ok = file:write_file(F, Bin),
                        I + 1
                end, 0, Seeds).

corpora() ->
    [{"etf_decode", etf()}, {"dist_packet", dist_packets()},
     {"dist_handshake", handshakes()}, {"epmd_req", epmd()}, {"cookie", cookies()}].

%% ---- cookie files and -setcookie texts ----

cookies() ->
    [<<"abc">>, <<"abc\n">>, <<"abc  \n">>, <<"  abc\n">>, <<"   ">>, <<"abc\r\n">>,
     <<"abc\n \n\r \n">>, <<"a~b!@#$%^&*()">>, <<"abc\t\n">>, <<"abc\n\t">>,
     <<"abc\ndef\n">>, <<"abc\rdef">>, <<"ab", 0, "c">>, <<"ab", 127, "c">>,
     <<"ab", 233, "c">>, <<>>, <<"\n">>, <<"\r\n  \n">>,
     binary:copy(<<"k">>, 255), binary:copy(<<"k">>, 256),
     <<"abc", (binary:copy(<<" ">>, 300))/binary>>,
     <<"abc", (binary:copy(<<"\n">>, 5000))/binary>>,
     unicode:characters_to_binary("été"), unicode:characters_to_binary([8364]),
     unicode:characters_to_binary(lists:duplicate(255, 233)), <<16#c0, 16#a9>>, <<16#c3>>].

%% ---- terms ----

terms() ->
    Pid = self(),
    Ref = make_ref(),
    Port = hd(erlang:ports()),
    [0, 1, 255, 256, -1, 1 bsl 27, -(1 bsl 27) - 1, 1 bsl 31, 1 bsl 64, -(1 bsl 100), 1 bsl 2040,
     1.0, -0.5, 3.141592653589793, 1.0e300,
     ok, '', 'hello world', 'ünïcödé', list_to_atom(lists:duplicate(255, $a)),
     [], "abc", [1, 2, 3], [a | b], [1000, -1, 2.5], lists:seq(1, 300), [[[]]],
     {}, {a}, {a, b, c}, list_to_tuple(lists:seq(1, 300)), {{{{{deep}}}}},
     <<>>, <<1, 2, 3>>, binary:copy(<<"x">>, 300), <<1:3>>, <<255, 7:5>>,
     #{}, #{a => 1}, #{[1] => {2}, <<"k">> => #{n => []}},
     maps:from_list([{I, I} || I <- lists:seq(1, 40)]),
     Pid, Ref, Port, {Pid, Ref}, fun erlang:self/0, fun lists:map/2,
     {call, Pid, Ref, {get, "key", <<"v">>}},
     lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 200))].

etf() ->
    Ts = terms(),
    [term_to_binary(T) || T <- Ts] ++
        [term_to_binary(T, [{minor_version, 0}]) || T <- [1.5, -2.0e-10]] ++
        [term_to_binary(T, [compressed]) || T <- [lists:seq(1, 200), binary:copy(<<"ab">>, 500)]] ++
        [term_to_binary(T, [{minor_version, 2}]) || T <- ['ünïcödé', ok]].

%% ---- distribution packets ----

packet(Ctl) -> frame32(<<$p, (term_to_binary(Ctl))/binary>>).
packet(Ctl, Msg) -> frame32(<<$p, (term_to_binary(Ctl))/binary, (term_to_binary(Msg))/binary>>).
frame32(B) -> <<(byte_size(B)):32, B/binary>>.

dist_packets() ->
    From = self(),
    To = self(),
    Ref = make_ref(),
    Msg = {hello, "from", <<"erl">>, [1, 2, 3]},
    Big = binary:copy(<<"payload">>, 2000),
    One = [packet({2, '', To}, Msg),                      % SEND
           packet({6, From, '', receiver}, Msg),          % REG_SEND
           packet({22, From, To}, Msg),                   % SEND_SENDER
           packet({2, '', To}, {Big, Big}),               % large binaries
           packet({1, From, To}),                         % LINK
           packet({4, From, To}),                         % UNLINK
           packet({35, 7, From, To}),                     % UNLINK_ID
           packet({36, 7, From, To}),                     % UNLINK_ID_ACK
           packet({3, From, To, normal}),                 % EXIT
           packet({8, From, To, kill}),                   % EXIT2
           packet({24, From, To}, {shutdown, x}),         % PAYLOAD_EXIT
           packet({26, From, To}, killed),                % PAYLOAD_EXIT2
           packet({19, From, To, Ref}),                   % MONITOR_P
           packet({19, From, receiver, Ref}),             % MONITOR_P by name
           packet({20, From, To, Ref}),                   % DEMONITOR_P
           packet({21, From, To, Ref, noproc}),           % MONITOR_P_EXIT
           packet({27, From, To, Ref}, noconnection),     % PAYLOAD_MONITOR_P_EXIT
           packet({33, From, Ref}, Msg),                  % ALIAS_SEND
           packet({34, From, Ref, token}, Msg),           % ALIAS_SEND_TT
           packet({37, 4, From, Ref}, Msg),               % ALTACT_SIG_SEND: alias
           packet({37, 8 bor 1, From, receiver}, Msg),    % name, priority
           packet({37, 16 bor 2, From, To, token}, boom), % exit, token
           packet({37, 1 bsl 70 bor 4, From, Ref}, Msg),  % flags a bignum
           %% SPAWN_REQUEST as erpc:call, spawn_opt and erpc:cast send it
           packet({29, Ref, From, From, {erpc, execute_call, 4}, [monitor]},
                  [make_ref(), lists, seq, [1, 3]]),
           packet({29, Ref, From, From, {m, f, 1}, [link, {priority, high}, {bogus, 1}]}, [x]),
           packet({30, Ref, From, From, {erpc, execute_cast, 3}, [], tok}, [m, f, []]),
           packet({31, Ref, To, 3, From}),                % SPAWN_REPLY
           packet({32, Ref, To, 0, badopt, tok}),         % SPAWN_REPLY_TT, an error
           packet({99, From, To}),                        % an unknown operation
           packet(not_a_tuple),
           <<0:32>>],                                     % a tick
    One ++ [iolist_to_binary([<<0:32>>, lists:duplicate(3, packet({2, '', To}, Msg)),
                              packet({6, From, '', receiver}, Msg), <<0:32>>])].

%% ---- handshakes (see tests/fuzz/fuzz_dist_handshake.c) ----
%% The target's own side: challenge 12345, cookie "cookie"; as initiator it
%% dialled b@localhost.  Status byte: 1 + B rem 6 is what its status
%% callback answers (0: ok, 1: ok_simultaneous, 2: nok, 3: not_allowed,
%% 4: alive).

%% What an OTP 25 node offers: its mandatory set (HANDSHAKE_23 among them),
%% UNLINK_ID, V4_NC, MANDATORY_25_DIGEST, monitors, SEND_SENDER,
%% EXIT_PAYLOAD, SPAWN, ALIAS.
-define(FLAGS, (16#01070F94 bor 16#2000000 bor (1 bsl 34) bor 16#4000000 bor 16#8 bor 16#20
                bor 16#80000 bor 16#400000 bor (1 bsl 32) bor (1 bsl 35))).

frame16(B) -> <<(byte_size(B)):16, B/binary>>.
hs(Role, Status, Msgs) -> iolist_to_binary([Role, Status | [frame16(M) || M <- Msgs]]).

handshakes() ->
    Digest = erlang:md5(["cookie", integer_to_list(12345)]),
    Name = <<"a@localhost">>,
    SendName = <<$N, ?FLAGS:64, 7:32, (byte_size(Name)):16, Name/binary>>,
    OldName = <<$n, 5:16, (?FLAGS band 16#FFFFFFFF):32, Name/binary>>,
    Reply = <<$r, 424242:32, Digest/binary>>,
    Dialled = <<"b@localhost">>,
    Challenge = <<$N, ?FLAGS:64, 987654:32, 9:32, (byte_size(Dialled)):16, Dialled/binary>>,
    Ack = <<$a, Digest/binary>>,
    [hs(0, S, [SendName, Reply]) || S <- [0, 1, 2, 3, 5]] ++
        [hs(0, 4, [SendName, <<"strue">>, Reply]),
         hs(0, 4, [SendName, <<"sfalse">>]),
         hs(0, 0, [OldName, <<$c, 0:32, 9:32>>, Reply]),
         hs(0, 0, [SendName, <<$r, 1:32, 0:128>>]),       % a wrong digest
         hs(0, 0, [<<$N, 0:64, 7:32, 3:16, "a@b">>]),     % flags missing
         hs(1, 0, [<<"sok">>, Challenge, Ack]),
         hs(1, 0, [<<"sok_simultaneous">>, Challenge, Ack]),
         hs(1, 0, [<<"snok">>]),
         hs(1, 0, [<<"snot_allowed">>]),
         hs(1, 0, [<<"salive">>, Challenge, Ack]),
         hs(1, 0, [<<"sok">>, Challenge, <<$a, 0:128>>])].  % a wrong digest

%% ---- EPMD requests (2-byte length, then the request) ----

epmd() ->
    Name = <<"node1">>,
    Alive2 = <<120, 4370:16, 77, 0, 6:16, 5:16, (byte_size(Name)):16, Name/binary, 0:16>>,
    Alive2Extra = <<120, 4370:16, 72, 0, 6:16, 5:16, (byte_size(Name)):16, Name/binary,
                    3:16, "xyz">>,
    Reqs = [Alive2, Alive2Extra, <<122, Name/binary>>, <<110>>, <<100>>, <<107>>,
            <<115, Name/binary>>, <<99>>, <<122>>, <<0>>],
    %% framed as on the wire, and bare (the target parses the input as a
    %% body too)
    [frame16(R) || R <- Reqs] ++ Reqs ++
        %% the client side's replies, as the daemon sends them
        [<<121, 0, 1:16>>, <<119, 0, 4370:16, 77, 0, 6:16, 5:16, 5:16, Name/binary, 0:16>>,
         <<119, 1>>, <<118, 0, 1:32>>, <<4369:32, "name node1 at port 4370\n">>,
         <<"name node1 at port 4370\n">>].
