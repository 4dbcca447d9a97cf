#!/bin/sh
# Interop: calls across the wire against real OTP 25 (issue 16): aliases
# both ways, the DOWN of a monitor by name, gen_server calls from erl into
# C and em_call from C into Erlang.  A private ember-epmd on a private
# port; every erl runs with -start_epmd false and ERL_EPMD_PORT pointing at
# it.  Every wait is bounded (timeout); everything started here is stopped
# on exit (tests/support/interop.sh).  Each part runs with -sname and
# -name nodes.  Environment: B = build directory.
#  1. aliases: C sends to an Erlang alias (ALIAS_SEND out), Erlang to a C
#     process's alias (ALIAS_SEND in); after unalias nothing passes
#  2. monitor(process, {agent, CNode}) from erl: DOWN {agent, CNode};
#     em_monitor({target, ErlNode}) from C: DOWN {target, ErlNode}, and
#     {nobody, ErlNode}: noproc
#  3. gen_server:call from erl into a C process answering with em_reply:
#     a reply, by name and by pid, a deferred reply, a late reply after the
#     caller's timeout that never reaches its mailbox, 200 concurrent
#     calls from 20 processes each getting its own reply, noproc, the
#     server's exit
#  3b. the same into an em_server, and gen_server:cast, sys:get_state
#  4. em_call from C into Erlang gen_servers: a reply (by name, by pid,
#     with and without a timeout, from a thread that is not a process), a
#     deferred one, a timeout whose late reply is dropped, noproc, the
#     server's exit, an unreachable node, and the node killed during a call
#     (EM_ENOCONN)
set -u
. tests/support/interop.sh
il_init call
il_need erl erlc timeout cc
il_built "$B/bin/ember-epmd" "$B/lib/libember.a"
il_cc "$tmp/call_peer" tests/interop/call_peer.c
erlc -o "$tmp" tests/interop/call_helper.erl || die "erlc failed"
ERL="erl -noshell -start_epmd false -pa $tmp"
il_port_mapper

# Each part twice: short names (-sname, host $H) and long ones (-name,
# host 127.0.0.1).  node KIND NAME: the full name.
node() { if [ "$1" = sname ]; then echo "$2@$H"; else echo "$2@127.0.0.1"; fi; }
# pn KIND NAME: the node's name as ~p prints it (quoted when it must be).
pn() { if [ "$1" = sname ]; then echo "$2@$H"; else echo "'$2@127.0.0.1'"; fi; }

for K in sname name; do
    # ---- 1. aliases both ways; 2a. erl's monitor by name on a C process ----
    start_bg "agent-$K" timeout 60 "$tmp/call_peer" -$K "$(node $K ca$K)" -setcookie $C agent
    ra=$last
    wait_until grep -q ready "$tmp/agent-$K.out" || bad "agent ($K) not ready"
    timeout 30 $ERL -$K "$(node $K ea$K)" -setcookie $C \
        -eval "call_helper:alias_check('$(node $K ca$K)'), call_helper:down_by_name('$(node $K ca$K)'), halt()." \
        >"$tmp/ea-$K.out" 2>&1
    expect "aliases both ways ($K)" "$tmp/ea-$K.out" "alias [ok,ok,ok,ok]"
    expect "erl monitor by name of a C process: DOWN {Name, Node} ($K)" "$tmp/ea-$K.out" \
        "down {{agent,$(pn $K ca$K)},boom} {true,boom}"
    stop_bg "$ra"

    # ---- 2b. C's monitor by name on an Erlang process ----
    start_bg "t-$K" timeout 60 $ERL -$K "$(node $K et$K)" -setcookie $C -eval 'call_helper:target()'
    rt=$last
    wait_until grep -q started "$tmp/t-$K.out" || bad "erl target ($K) did not start"
    timeout 30 "$tmp/call_peer" -$K "$(node $K cm$K)" -setcookie $C monname "$(node $K et$K)" >"$tmp/cm-$K.out" 2>&1
    expect "C monitor by name: DOWN {Name, Node} ($K)" "$tmp/cm-$K.out" "DOWN {target,$(pn $K et$K)} boom"
    expect "C monitor by name of nobody: noproc ($K)" "$tmp/cm-$K.out" "DOWN {nobody,$(pn $K et$K)} noproc"
    stop_bg "$rt"
done

for K in sname name; do
    # ---- 3. erl -> C: gen_server:call into a plain C process ----
    start_bg "srv-$K" timeout 60 "$tmp/call_peer" -$K "$(node $K cs$K)" -setcookie $C server
    rs=$last
    wait_until grep -q ready "$tmp/srv-$K.out" || bad "C server ($K) not ready"
    timeout 60 $ERL -$K "$(node $K es$K)" -setcookie $C \
        -eval "call_helper:erl_to_c('$(node $K cs$K)', csrv), halt()." >"$tmp/es-$K.out" 2>&1
    for c in reply by_pid by_pid_infinity deferred timeout late_reply_dropped concurrent_200 noproc server_exit; do
        expect "gen_server:call erl -> C: $c ($K)" "$tmp/es-$K.out" "erl_to_c csrv $c ok"
    done
    stop_bg "$rs"

    # ---- 3b. erl -> C: gen_server:call and cast into an em_server ----
    start_bg "esrv-$K" timeout 60 "$tmp/call_peer" -$K "$(node $K cx$K)" -setcookie $C eserver
    rs=$last
    wait_until grep -q ready "$tmp/esrv-$K.out" || bad "C em_server ($K) not ready"
    timeout 60 $ERL -$K "$(node $K ex$K)" -setcookie $C \
        -eval "call_helper:cast_check('$(node $K cx$K)', esrv), call_helper:erl_to_c('$(node $K cx$K)', esrv), halt()." \
        >"$tmp/ex-$K.out" 2>&1
    for c in cast get_state reply by_pid by_pid_infinity deferred timeout late_reply_dropped concurrent_200 noproc server_exit; do
        expect "gen_server erl -> em_server: $c ($K)" "$tmp/ex-$K.out" "erl_to_c esrv $c ok"
    done
    stop_bg "$rs"

    # ---- 4. C -> erl: em_call into gen_servers ----
    start_bg "gs-$K" timeout 60 $ERL -$K "$(node $K eg$K)" -setcookie $C -eval 'call_helper:servers()'
    rg=$last
    wait_until grep -q started "$tmp/gs-$K.out" || bad "erl servers ($K) did not start"
    start_bg "cc-$K" timeout 60 "$tmp/call_peer" -$K "$(node $K cc$K)" -setcookie $C caller "$(node $K eg$K)"
    rc=$last
    wait_until grep -q "calling hang" "$tmp/cc-$K.out" || bad "C caller ($K) did not get to its last call"
    sleep 0.3
    pkill -9 -P "$rg"; kill -9 "$rg" 2>/dev/null
    wait "$rc"
    for c in reply by_pid by_pid_infinity deferred timeout late_reply_dropped noproc server_exit unreachable_node from_thread; do
        expect "em_call C -> erl: $c ($K)" "$tmp/cc-$K.out" "em_call $c ok"
    done
    expect "em_call C -> erl: the node killed during a call ($K)" "$tmp/cc-$K.out" "hang ENOCONN"
done

il_finish
