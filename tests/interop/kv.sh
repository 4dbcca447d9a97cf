#!/bin/sh
# Interop: examples/kv.c, the key-value store node, driven from real OTP 25
# (issue 16), beside its Erlang twin examples/erlang/kv.erl running on an
# erl node: every check is made on both and must give the same answer
# (tests/interop/kv_helper.erl).  Once with -sname nodes (kv visible, its
# default), once with -name ones (kv started with -hidden).  A private ember-epmd on a private port;
# every erl runs with -start_epmd false; every wait is bounded; everything
# started is stopped on exit (tests/support/interop.sh).
#  1. gen_server:call {put,K,V}, {get,K}, keys (term order, keys of every
#     type), {wait,K} at once and deferred (answered when another process
#     puts K; a waiter that timed out gets nothing later, its mailbox
#     stays empty; a killed waiter is forgotten), gen_server:cast
#     {delete,K}; the exports kv:put/2, get/1, delete/1, keys/0, fetch/1
#     (raising {badkey,K} as maps:get/2: rpc:call's {badrpc, {'EXIT',
#     {{badkey,K}, _}}}, erpc's exception), wait/2 (a value, a put
#     meanwhile, timeout, infinity) by rpc:call and erpc:call, sharing the
#     server's store; rpc:call(N, erlang, node, []); 200 concurrent calls
#     from 20 processes; the same server pid throughout
#  2. erl_call -a 'kv get [a]' (and others) prints what it prints for the
#     Erlang node
#  3. kv killed from erl (exit(Pid, kill) of its pid by rpc): back, empty,
#     serving within 1 s
#  4. kv killed again and again: its supervisor gives up, the node stops
#     (exit 1, one line on stderr)
#  1b. visible kv (-sname): its server is registered with global as kv
#     (global:whereis_name(kv) from erl is the pid of {kv, Node}, and
#     gen_server:call({global, kv}, ...) reaches it); hidden kv (-name):
#     no global name
#  5. usage: no name, an extra argument: exit 2
set -u
. tests/support/interop.sh
il_init kv
il_need erl erlc timeout
il_built "$B/bin/ember-epmd" "$B/examples/kv"
ERL_CALL=$(command -v erl_call || ls /usr/lib/erlang/lib/erl_interface-*/bin/erl_call 2>/dev/null | head -1)
[ -n "$ERL_CALL" ] || die "erl_call not found"
erlc -o "$tmp" tests/interop/kv_helper.erl examples/erlang/kv.erl || die "erlc failed"
ERL="erl -noshell -start_epmd false -pa $tmp"
KV=$B/examples/kv
il_port_mapper

# node KIND NAME: the full name.
node() { if [ "$1" = sname ]; then echo "$2@$H"; else echo "$2@127.0.0.1"; fi; }

# checks LABEL FILE: every "ok:" line noted, every FAIL line a failure, and
# "checks done" there.
checks() {
    grep "^ok: " "$2" | sed "s/^/kv.sh: $1: /"
    if grep -q "^FAIL" "$2"; then
        grep "^FAIL" "$2" | while read -r l; do echo "kv.sh: FAIL: $1: $l"; done
        fail=1
    fi
    grep -q "^checks done" "$2" || { bad "$1: the checks did not finish:"; cat "$2"; }
}

for K in sname name; do
    c=$(node $K kvc$K)
    e=$(node $K kve$K)
    hidden=""
    [ $K = name ] && hidden=-hidden
    start_bg "c-$K" timeout 180 "$KV" -$K "$c" -setcookie $C $hidden
    rc_pid=$last
    start_bg "e-$K" timeout 180 $ERL -$K "$e" -setcookie $C -eval 'kv:start(), io:format("ready~n")'
    re=$last
    wait_until grep -q "ready" "$tmp/c-$K.out" || bad "-$K: kv did not start"
    wait_until grep -q "ready" "$tmp/e-$K.out" || bad "-$K: the Erlang twin did not start"
    expect "-$K: kv says it is ready" "$tmp/c-$K.out" "kv: node "

    # ---- 1. calls, casts and exports ----
    timeout 120 $ERL -$K "$(node $K kva$K)" -setcookie $C \
        -eval "kv_helper:check('$c', '$e'), halt()." >"$tmp/a-$K.out" 2>&1
    checks "-$K" "$tmp/a-$K.out"

    # ---- 1b. the global name kv ----
    timeout 30 $ERL -$K "$(node $K kvw$K)" -setcookie $C -eval "
        P = rpc:call('$c', erlang, whereis, [kv]), _ = global:sync(),
        G = global:whereis_name(kv),
        R = case G of undefined -> none; _ -> gen_server:call({global, kv}, {get, a}) end,
        io:format(\"global ~p ~p~n\", [G =:= P, R]), halt()." >"$tmp/w-$K.out" 2>&1
    if [ $K = sname ]; then
        expect "-$K: visible kv registered with global as kv" "$tmp/w-$K.out" 'global true {ok,{hello,"world",42}}'
    else
        expect "-$K: hidden kv has no global name" "$tmp/w-$K.out" "global false none"
    fi

    # ---- 2. erl_call -a: the same printed answers from kv and its twin ----
    for call in 'kv get [a]' 'kv get [nokey]' 'kv keys' 'kv fetch [b]' 'kv put [c,3]' 'kv wait [c,100]' \
                'kv wait [nokey,100]' 'kv delete [c]' 'erlang node'; do
        oc=$(timeout 20 "$ERL_CALL" -c $C -$K "$c" -a "$call" 2>&1)
        oe=$(timeout 20 "$ERL_CALL" -c $C -$K "$e" -a "$call" 2>&1)
        [ "$call" = 'erlang node' ] && oe=$(echo "$oe" | sed "s/kve$K/kvc$K/")
        if [ -n "$oc" ] && [ "$oc" = "$oe" ]; then note "ok: -$K: erl_call -a '$call': $oc"; else
            bad "-$K: erl_call -a '$call': kv '$oc', Erlang '$oe'"; fi
    done
    oc=$(timeout 20 "$ERL_CALL" -c $C -$K "$c" -a 'kv get [a]' 2>&1)
    [ "$oc" = '{ok, {hello, "world", 42}}' ] && note "ok: -$K: erl_call -a 'kv get [a]' is kv's value" ||
        bad "-$K: erl_call -a 'kv get [a]': '$oc'"

    # ---- 3. kv killed and back within 1 s ----
    timeout 60 $ERL -$K "$(node $K kvk$K)" -setcookie $C \
        -eval "kv_helper:kill_check('$c', '$e'), halt()." >"$tmp/k-$K.out" 2>&1
    checks "-$K" "$tmp/k-$K.out"
    expect "-$K: the supervisor reported the kill" "$tmp/c-$K.err" "child_terminated"

    # ---- 4. the supervisor gives up: the node stops ----
    timeout 60 $ERL -$K "$(node $K kvg$K)" -setcookie $C \
        -eval "kv_helper:kill_until_gone('$c'), halt()." >"$tmp/g-$K.out" 2>&1
    if grep -q "^kills [0-9]*$" "$tmp/g-$K.out"; then note "ok: -$K: kv not restarted after $(cat "$tmp/g-$K.out")"; else
        bad "-$K: kv was still restarted:"; cat "$tmp/g-$K.out"; fi
    n=0
    while kill -0 "$rc_pid" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    if kill -0 "$rc_pid" 2>/dev/null; then
        bad "-$K: the node still runs after its supervisor gave up"
    else
        wait "$rc_pid"
        st=$?
        [ $st -eq 1 ] && note "ok: -$K: the node stopped, exit 1" || bad "-$K: the node's exit status $st, not 1"
        expect "-$K: it said why" "$tmp/c-$K.err" "kv: the supervisor exited (shutdown): stopping"
    fi
    stop_bg "$re"
done

# ---- 5. usage ----
for args in "" "-sname" "-sname kvu extra" "-setcookie abc"; do
    # shellcheck disable=SC2086
    timeout 10 "$KV" $args >"$tmp/u.out" 2>"$tmp/u.err"
    st=$?
    if [ $st -eq 2 ] && grep -q "^usage: kv -name NAME | -sname NAME" "$tmp/u.err"; then
        note "ok: usage error for '$args': exit 2"
    else
        bad "'kv $args': exit $st"; cat "$tmp/u.err"
    fi
done

il_finish
