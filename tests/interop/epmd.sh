#!/bin/sh
# Interop: ember-epmd against real OTP 25.
#  1. The real `epmd` command line (-names, -dump, -kill, -stop) prints the
#     same text and exits with the same status against ember-epmd as against
#     a real epmd; both daemons run side by side on private ports and hold
#     the same registrations.  ember-epmd's own command line is compared too.
#  2. Two real `erl -sname` nodes and two `erl -name x@127.0.0.1` nodes,
#     using ember-epmd (ERL_EPMD_PORT, -start_epmd false), register and
#     net_adm:ping each other.
# (ember's client against a real epmd is tested in test_epmd_srv.)
# Never touches port 4369; every wait is bounded; everything started here is
# stopped on exit.  B = build directory.  Exits non-zero on any failure.
set -u
B=${B:-build}
EE=$B/bin/ember-epmd
fail=0
pids=""
tmp=$(mktemp -d /tmp/ember-epmd-interop.XXXXXX)
# A failing erl must not leave erl_crash.dump files in the tree.
ERL_CRASH_DUMP_SECONDS=0
export ERL_CRASH_DUMP_SECONDS

note() { echo "epmd.sh: $*"; }
bad() { echo "epmd.sh: FAIL: $*"; fail=1; }

for t in erl epmd timeout; do
    command -v $t >/dev/null 2>&1 || { echo "epmd.sh: $t not found"; exit 1; }
done
[ -x "$EE" ] || { echo "epmd.sh: $EE not built"; exit 1; }

cleanup() {
    # TERM everything we started (timeout passes it on to its erl), give
    # it 3 s, then KILL what is left and its children.
    for p in $pids; do kill "$p" 2>/dev/null; done
    n=0
    while [ $n -lt 30 ]; do
        alive=""
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
        [ -z "$alive" ] && break
        sleep 0.1
        n=$((n + 1))
    done
    for p in $pids; do
        pkill -9 -P "$p" 2>/dev/null
        kill -9 "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# Pick a block of free private ports (14369 + random).
answers() { timeout 5 epmd -port "$1" -names >/dev/null 2>&1; }
base=""
for i in 1 2 3 4 5 6 7 8; do
    # Below the ephemeral range (32768+), where outgoing connections
    # could hold a port.
    b=$((14369 + ($$ * 7 + i * 997) % 2000 * 8))
    ok=1
    for o in 0 1 2 3 4 5 6 7; do
        answers $((b + o)) && ok=0
    done
    [ $ok = 1 ] && { base=$b; break; }
done
[ -n "$base" ] || { echo "epmd.sh: no free port block"; exit 1; }
PE=$base; PR=$((base + 1)); PE2=$((base + 2)); PR2=$((base + 3))
PE3=$((base + 4)); PR3=$((base + 5)); PFREE=$((base + 6))
note "ports: ember $PE/$PE2/$PE3, real $PR/$PR2/$PR3"

# wait_until CMD...: retry for up to 10 s.
wait_until() {
    n=0
    while ! "$@" >/dev/null 2>&1; do
        n=$((n + 1))
        [ $n -ge 100 ] && return 1
        sleep 0.1
    done
    return 0
}

start_bg() { # start_bg LOGNAME CMD...: run in background, remember the pid
    log=$1; shift
    "$@" >"$tmp/$log.out" 2>"$tmp/$log.err" &
    last=$!
    pids="$pids $last"
}

start_bg ee "$EE" -port "$PE"
ee_pid=$last
start_bg er epmd -port "$PR"
start_bg ee2 "$EE" -port "$PE2" -relaxed_command_check
start_bg er2 epmd -port "$PR2" -relaxed_command_check
start_bg ee3 "$EE" -port "$PE3" -relaxed_command_check
start_bg er3 epmd -port "$PR3" -relaxed_command_check
for p in $PE $PR $PE2 $PR2 $PE3 $PR3; do
    wait_until answers $p || bad "no daemon answers on port $p"
done

# run_cli OUT CLI PORT ARGS...: output (port numbers and fds normalized)
# and exit status of one command-line call.
run_cli() {
    out=$1; cli=$2; port=$3; shift 3
    timeout 10 "$cli" -port "$port" "$@" >"$out.raw" 2>"$out.err"
    echo "rc=$?" >"$out"
    sed -e "s/on port $port /on port P /" -e 's/fd = [0-9]*/fd = N/' \
        "$out.raw" >>"$out"
    echo "stderr:" >>"$out"
    cat "$out.err" >>"$out"
}

# compare LABEL ARGS...: the real epmd CLI against real epmd (the
# reference) vs the real CLI against ember-epmd, on the daemon pair $DE/$DR;
# unless MUTATES=1, also ember-epmd's own CLI against ember-epmd.  With
# USAGE=1 only the status and the usage synopsis (first 3 lines) count:
# ember-epmd's help text below the synopsis is its own.
compare() {
    label=$1; shift
    run_cli "$tmp/ref" epmd "$DR" "$@"
    run_cli "$tmp/got" epmd "$DE" "$@"
    if [ "${MUTATES:-0}" = 1 ]; then
        cp "$tmp/got" "$tmp/own"
    else
        run_cli "$tmp/own" "$EE" "$DE" "$@"
    fi
    if [ "${USAGE:-0}" = 1 ]; then
        for f in ref got own; do head -5 "$tmp/$f" >"$tmp/$f.h"; mv "$tmp/$f.h" "$tmp/$f"; done
    fi
    if cmp -s "$tmp/ref" "$tmp/got" && cmp -s "$tmp/ref" "$tmp/own"; then
        note "ok: $label ($(head -1 "$tmp/ref"))"
    else
        bad "$label differs"
        echo "--- real epmd:"; cat "$tmp/ref"
        echo "--- epmd CLI vs ember-epmd:"; cat "$tmp/got"
        echo "--- ember-epmd CLI vs ember-epmd:"; cat "$tmp/own"
    fi
}

# compare_own LABEL ARGS...: ember-epmd's CLI against ember-epmd ($DE) vs
# the real CLI against real epmd ($DR), for commands that change state.
compare_own() {
    label=$1; shift
    run_cli "$tmp/ref" epmd "$DR" "$@"
    run_cli "$tmp/own" "$EE" "$DE" "$@"
    if cmp -s "$tmp/ref" "$tmp/own"; then
        note "ok: ember-epmd CLI: $label ($(head -1 "$tmp/ref"))"
    else
        bad "ember-epmd CLI: $label differs"
        echo "--- real:"; cat "$tmp/ref"; echo "--- ember:"; cat "$tmp/own"
    fi
}

DE=$PE; DR=$PR
compare "-names, empty" -names
compare "-dump, empty" -dump

# One Erlang VM registers foo (port 5000) and bar (5001) with all four
# daemons through raw ALIVE2 requests and keeps the connections open.
start_bg reg timeout 120 erl -noshell -eval "
Reg = fun(P, Name, NP) ->
    {ok, S} = gen_tcp:connect({127,0,0,1}, P, [binary, {active, false}]),
    N = list_to_binary(Name),
    Body = <<\$x, NP:16, \$M, 0, 6:16, 5:16, (byte_size(N)):16, N/binary, 0:16>>,
    ok = gen_tcp:send(S, <<(byte_size(Body)):16, Body/binary>>),
    {ok, <<\$v, 0, _:32>>} = gen_tcp:recv(S, 6, 5000),
    S
end,
Socks = [Reg(P, N, NP) || P <- [$PE, $PR, $PE2, $PR2, $PE3, $PR3],
                          {N, NP} <- [{\"foo\", 5000}, {\"bar\", 5001}]],
io:format(\"registered ~p~n\", [length(Socks)]),
receive stop -> ok after 100000 -> ok end,
halt()."
reg_pid=$last
wait_until grep -q "registered 12" "$tmp/reg.out" ||
    { bad "registrations did not complete"; cat "$tmp/reg.err"; }

compare "-names with two nodes" -names
compare "-dump with two nodes" -dump
compare "-kill refused with live nodes" -kill
compare "-stop without relaxed check" -stop foo
USAGE=1 compare "-stop without name (usage)" -stop
USAGE=1 compare "-names with extra argument (usage)" -names extra
USAGE=1 compare "unknown option (usage)" -bogus

DE=$PE2; DR=$PR2
compare "relaxed -names" -names
MUTATES=1 compare "relaxed -stop of a registered name" -stop foo
compare "relaxed -names after -stop" -names
MUTATES=1 compare "relaxed -stop of an unknown name" -stop nobody
MUTATES=1 compare "relaxed -kill with a live node" -kill
compare "-names after -kill" -names
DE=$PE3; DR=$PR3
compare_own "relaxed -stop of a registered name" -stop foo
compare_own "relaxed -stop of an unknown name" -stop nobody
compare_own "relaxed -kill with a live node" -kill
compare_own "-names after -kill" -names
DE=$PFREE; DR=$PFREE
compare "-names with no daemon" -names
compare "-kill with no daemon" -kill

# ---- real nodes on ember-epmd --------------------------------------------
ERL_EPMD_PORT=$PE
export ERL_EPMD_PORT
# pingpair MODE A B SUFFIX: node A waits; node B pings A, then asks A to
# ping B.  A and B are alive parts; SUFFIX (e.g. @127.0.0.1) completes them.
pingpair() {
    mode=$1; a=$2; b=$3; sfx=$4
    start_bg "$a" timeout 60 erl $mode "$a$sfx" -setcookie embertest -noshell \
        -start_epmd false -eval 'receive stop -> ok after 50000 -> ok end, halt().'
    wait_until sh -c "timeout 5 '$EE' -port $PE -names | grep -q 'name $a at port'" ||
        { bad "$a did not register with ember-epmd"; cat "$tmp/$a.err"; return; }
    timeout 40 erl $mode "$b$sfx" -setcookie embertest -noshell -start_epmd false \
        -eval '
[_, Host] = string:split(atom_to_list(node()), "@"),
A = list_to_atom("'"$a"'@" ++ Host),
R1 = net_adm:ping(A),
R2 = rpc:call(A, net_adm, ping, [node()]),
rpc:cast(A, init, stop, []),
{ok, Names} = erl_epmd:names(),
Ours = [N || {N, _} <- Names, lists:member(N, ["'"$a"'", "'"$b"'"])],
io:format("~p ~p ~p~n", [R1, R2, lists:sort(Ours)]),
halt().' >"$tmp/$b.out" 2>&1
    got=$(cat "$tmp/$b.out")
    want="pong pong [\"$a\",\"$b\"]"
    if [ "$got" = "$want" ]; then
        note "ok: $mode $a and $b registered and pinged each other"
    else
        bad "$mode ping: got '$got', want '$want'"
    fi
}
pingpair -sname "ea$$" "eb$$" ""
pingpair -name "ec$$" "ed$$" "@127.0.0.1"
unset ERL_EPMD_PORT

# ember-epmd ends cleanly once its nodes are gone: -kill must be accepted,
# and no sanitizer report or assertion may appear on its stderr (its
# ordinary log lines, e.g. "got KILL_REQ - terminates normal", may).
kill "$reg_pid" 2>/dev/null
gone() { ! kill -0 "$1" 2>/dev/null; }
wait_until gone "$reg_pid" || bad "registrar did not stop"
wait_until sh -c "timeout 5 '$EE' -port $PE -kill | grep -q Killed" ||
    bad "ember-epmd refused -kill after its nodes left"
wait_until gone "$ee_pid" || bad "ember-epmd did not exit after -kill"
for f in "$tmp"/ee*.err; do
    if grep -Eq 'Sanitizer|runtime error|Assertion|Segmentation' "$f"; then
        bad "ember-epmd reported an error ($f):"; cat "$f"
    fi
done

[ $fail = 0 ] && note "all passed"
exit $fail
