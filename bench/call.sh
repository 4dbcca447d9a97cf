#!/bin/sh
# bench/call.sh: gen_server calls across the wire on loopback, two OS
# processes each (contract: see bench/run.sh).
# workloads: call_in_seq call_in_par call_out_seq call_out_par
#
# call_in_*: gen_server:call round trips per second from an Erlang node
# (erl) to {call_bench, Node}, an em_server on an ember node (bench/
# bench_call.c) vs a gen_server on an Erlang node (bench/call_bench.erl):
# the same client, only the server differs; both servers echo the request.
# call_out_*: em_call from an ember node vs gen_server:call from an Erlang
# node, both to the gen_server on an Erlang node; its beam figure is
# call_in's (the same Erlang -> Erlang measurement).  _seq: one caller,
# calls one after the other; _par: PAR callers at once on the calling node
# (rate of all together).  Requests and replies are small integers; the
# timeout is gen_server:call's default, 5000 ms, on both sides.  A private
# ember-epmd on a private port serves all; best of 3 on each side.
#
# `make bench BENCH=call` runs this group and, as their names contain
# "call", bench/rpc.sh (rpc_call_in: rpc:call Erlang -> C) and
# bench/runtime.sh's gen_call (local em_call vs local gen_server:call), so
# one run shows the figures issue 16's acceptance asks for side by side
# (and runtime's refcall_deep and tagcall_deep, cheap).
set -u
B=${B:-build}
NAME=${1:-}
[ "$NAME" = call ] && NAME=
BIN=$B/bench/bench_call
fail() { echo "bench/call.sh: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "$BIN not built (make bench builds it)"
. bench/lib/nodes.sh
bn_init call bench/call_bench.erl 1250
ERL="erl -noshell -start_epmd false -pa $TMP -setcookie bench"
N_SEQ=20000  # calls, one caller
N_PAR=64000  # calls, PAR callers
PAR=16
# One server at a time (an idle BEAM node's schedulers busy-wait, which
# would take CPU from the other side on a small machine).
srv=""
start_ember() {
    timeout 900 "$BIN" -sname cbe$$ -setcookie bench server >/dev/null 2>"$TMP/es.err" &
    srv=$!
    pids="$pids $srv"
    bn_registered cbe$$
}
start_beam() {
    # shellcheck disable=SC2086 # $ERL is a command and its flags
    timeout 900 $ERL -sname cbb$$ -eval 'call_bench:server()' >"$TMP/bs.out" 2>&1 &
    srv=$!
    pids="$pids $srv"
    bn_started "$TMP/bs.out"
}
# measure FILE SERVERNODE CLIENT KIND: best rate of CLIENT (erl or ember)
# calling SERVERNODE, _seq or _par (KIND), into $TMP/FILE
measure() {
    if [ "$4" = seq ]; then n=$N_SEQ c=1; else n=$N_PAR c=$PAR; fi
    if [ "$3" = erl ]; then
        # shellcheck disable=SC2086 # $ERL is a command and its flags
        best timeout 300 $ERL -sname cbc$$ -run call_bench client "$2@$H" "$n" "$c" > "$TMP/$1"
    else
        best timeout 300 "$BIN" -sname cbk$$ -setcookie bench client "$2@$H" "$n" "$c" > "$TMP/$1"
    fi
}
# Figures: $TMP/in.K (erl -> ember), beam.K (erl -> erl), out.K (ember -> erl)
if selected call_in_seq || selected call_in_par; then
    start_ember
    for k in seq par; do
        selected "call_in_$k" || continue
        echo "bench/call.sh: call_in_$k (erl -> ember) ..." >&2
        measure "in.$k" "cbe$$" erl "$k"
    done
    stop "$srv"
fi
start_beam
for k in seq par; do
    if selected "call_in_$k" || selected "call_out_$k"; then
        echo "bench/call.sh: call_*_$k (erl -> erl) ..." >&2
        measure "beam.$k" "cbb$$" erl "$k"
    fi
    if selected "call_out_$k"; then
        echo "bench/call.sh: call_out_$k (ember -> erl) ..." >&2
        measure "out.$k" "cbb$$" ember "$k"
    fi
done
stop "$srv"
status=0
fig() { cat "$TMP/$1" 2>/dev/null || echo 0; }
row() { # row NAME EMBER BEAM
    if [ "$2" -eq 0 ] || [ "$3" -eq 0 ]; then
        echo "bench/call.sh: $1: no figure (ember $2, beam $3)" >&2; cat "$TMP/err" >&2; status=1
    fi
    awk -v n="$1" -v e="$2" -v b="$3" \
        'BEGIN { printf "%s\tcalls/s\t%.0f\t%.0f\t%.2f\n", n, e, b, (b > 0 ? e / b : 0) }'
}
for k in seq par; do
    selected "call_in_$k" && row "call_in_$k" "$(fig "in.$k")" "$(fig "beam.$k")"
    selected "call_out_$k" && row "call_out_$k" "$(fig "out.$k")" "$(fig "beam.$k")"
done
exit $status
