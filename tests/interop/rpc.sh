#!/bin/sh
# Interop: calls across the wire between real OTP 25 and ember, with -sname
# and with -name nodes.  A private ember-epmd on a private port; every erl
# runs with -start_epmd false and ERL_EPMD_PORT pointing at it.  Every wait
# is bounded (timeout); everything started here is stopped on exit.
# B = build dir.
#  1. an ember node exporting C twins of rpc_helper.erl's functions, an
#     Erlang node running rpc_helper, and a third Erlang node that calls
#     both with spawn/4, spawn_link/monitor/opt, rpc:call, erpc:call (value,
#     error, exit, throw, undef, a killed process, timeout), erpc:multicall,
#     rpc:multicall, rpc:cast, erpc:cast and the functions every node
#     answers (erlang:node/0, ...), and what goes through rex
#     (rpc:block_call, gen_server calls of {call, ...}, sbcast): ember's
#     answers must be OTP's (rpc_helper:check/2 compares them, stacks'
#     file/line aside);
#  2. erl_call -a into ember and into erl prints the same;
#  3. em_rpc from ember into erl: a value, each exception class, undef, a
#     killed process, a timeout (nothing late reaches the caller), a call
#     back into ember through erl's rpc, io:format there printed here, a
#     node nobody runs, and the node killed during a call.
set -u
. tests/support/interop.sh
il_init rpc
il_need erl erlc erl_call timeout cc
il_built "$B/bin/ember-epmd" "$B/lib/libember.a"
il_cc "$tmp/rpc_peer" tests/interop/rpc_peer.c
erlc -o "$tmp" tests/interop/rpc_helper.erl || die "erlc failed"
ERL="erl -noshell -start_epmd false -pa $tmp"
il_port_mapper

# checks LABEL FILE: every "ok:" line noted, every FAIL line a failure, and
# "checks done" there.
checks() {
    grep "^ok: " "$2" | sed "s/^/rpc.sh: $1: /"
    if grep -q "^FAIL" "$2"; then
        grep "^FAIL" "$2" | while read -r l; do echo "rpc.sh: FAIL: $1: $l"; done
        fail=1
    fi
    grep -q "^checks done" "$2" || { bad "$1: the checks did not finish:"; cat "$2"; }
}

# ---- 1. OTP's calls into ember, compared with the same calls into erl ----
for kind in sname name; do
    if [ $kind = sname ]; then cn="c1"; en="e1"; an="a1"; at="@$H"; else
        cn="c2@127.0.0.1"; en="e2@127.0.0.1"; an="a2@127.0.0.1"; at=""; fi
    hidden=""
    [ $kind = name ] && hidden=-hidden # once visible (the default), once hidden
    start_bg "c-$kind" timeout 120 "$tmp/rpc_peer" -$kind "$cn" -setcookie $C $hidden serve
    rc=$last
    start_bg "e-$kind" timeout 120 $ERL -$kind "$en" -setcookie $C -eval 'rpc_helper:serve()'
    re=$last
    wait_until grep -q started "$tmp/c-$kind.out" || bad "ember $cn did not start"
    wait_until grep -q started "$tmp/e-$kind.out" || bad "erl $en did not start"
    timeout 90 $ERL -$kind "$an" -setcookie $C \
        -eval "rpc_helper:check('$cn$at', '$en$at'), halt()." >"$tmp/a-$kind.out" 2>&1
    checks "-$kind" "$tmp/a-$kind.out"
    for n in "$cn$at" "$en$at"; do
        grep -q "^said {from,'\{0,1\}$n'\{0,1\}}" "$tmp/a-$kind.out" && note "ok: -$kind: output of rpc:call($n, ...) on the caller's stdout" ||
            bad "-$kind: no output of rpc:call($n, rpc_helper, say, ...) on the caller's stdout"
    done
    # erl_call -a (ei's rpc: {Pid, {call, M, F, A, user}} to rex, answer
    # {rex, Answer}): the same printed answers from ember and from erl
    for call in 'rpc_helper pair [a,b]' 'rpc_helper th [ball]' 'rpc_helper ex [bye]' 'nomod nofun [1]' \
                'rpc_helper pair [one]'; do
        oc=$(timeout 20 erl_call -c $C -$kind "$cn" -a "$call" 2>&1)
        oe=$(timeout 20 erl_call -c $C -$kind "$en" -a "$call" 2>&1)
        if [ -n "$oc" ] && [ "$oc" = "$oe" ]; then note "ok: -$kind: erl_call -a '$call': $oc"; else
            bad "-$kind: erl_call -a '$call': ember '$oc', erl '$oe'"; fi
    done
    oc=$(timeout 20 erl_call -c $C -$kind "$cn" -a 'erlang node' 2>&1)
    [ "$oc" = "'$cn$at'" ] || [ "$oc" = "$cn$at" ] && note "ok: -$kind: erl_call -a 'erlang node': $oc" ||
        bad "-$kind: erl_call -a 'erlang node': '$oc'"
    stop_bg "$rc"
    # ---- 3. em_rpc from C into erl ----
    start_bg "k-$kind" timeout 120 "$tmp/rpc_peer" -$kind "k$cn" -setcookie $C call "$en$at"
    rk=$last
    wait_until grep -q "waiting for the node to go down" "$tmp/k-$kind.out" ||
        { bad "-$kind: em_rpc calls did not get to the end"; cat "$tmp/k-$kind.out" "$tmp/k-$kind.err"; }
    sleep 0.5
    pkill -9 -P "$re"; kill -9 "$re" 2>/dev/null
    wait "$rk"
    grep "^ok: " "$tmp/k-$kind.out" | sed "s/^/rpc.sh: -$kind: /"
    grep -q "^FAIL" "$tmp/k-$kind.out" && { grep "^FAIL" "$tmp/k-$kind.out" | sed "s/^/rpc.sh: FAIL: -$kind: /"; fail=1; }
    grep -q "^calls done" "$tmp/k-$kind.out" || { bad "-$kind: em_rpc calls did not finish"; cat "$tmp/k-$kind.out"; }
    [ "$(grep -c '^ok: ' "$tmp/k-$kind.out")" -eq 13 ] || bad "-$kind: not all 13 em_rpc checks passed"
    expect_line() { grep -qF -- "$2" "$tmp/k-$kind.out" && note "ok: -$kind: $1" || bad "-$kind: $1: no '$2'"; }
    expect_line "io:format of a remote function printed by this node's user" 'io from afar: {x,1} text'
    stop_bg "$re"
done

il_finish
