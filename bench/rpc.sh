#!/bin/sh
# bench/rpc.sh: calls across the wire on loopback, two OS processes each
# (contract: see bench/run.sh).
# workloads: rpc_call_in rpc_call_out
#
# rpc_call_in: rpc:call round trips per second from an Erlang node (erl)
# to rpc_bench:echo/1 on an ember node (a C export: bench/bench_rpc.c)
# vs on an Erlang node (bench/rpc_bench.erl): the same client, only the
# server differs.  rpc_call_out: em_rpc from an ember node vs rpc:call
# from an Erlang node, both to an Erlang node running rpc_bench.  Calls
# are made one after the other.  A private ember-epmd on a private port
# serves all; best of 3 on each side.
set -u
B=${B:-build}
NAME=${1:-}
[ "$NAME" = rpc ] && NAME=
BIN=$B/bench/bench_rpc
fail() { echo "bench/rpc.sh: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "$BIN not built (make bench builds it)"
. bench/lib/nodes.sh
bn_init rpc bench/rpc_bench.erl 2500
ERL="erl -noshell -start_epmd false -pa $TMP -setcookie bench"
N=20000
# One server at a time (an idle BEAM node's schedulers busy-wait).
start_ember() {
    timeout 900 "$BIN" -sname res$$ -setcookie bench server >/dev/null 2>"$TMP/es.err" &
    srv=$!
    bn_registered res$$
}
start_beam() {
    timeout 900 $ERL -sname rbs$$ -eval 'rpc_bench:server()' >"$TMP/bs.out" 2>&1 &
    srv=$!
    bn_started "$TMP/bs.out"
}
status=0
row() { # row NAME EMBER BEAM
    if [ "$2" -eq 0 ] || [ "$3" -eq 0 ]; then
        echo "bench/rpc.sh: $1: no figure (ember $2, beam $3)" >&2; cat "$TMP/err" >&2; status=1
    fi
    awk -v n="$1" -v e="$2" -v b="$3" \
        'BEGIN { printf "%s\tcalls/s\t%.0f\t%.0f\t%.2f\n", n, e, b, (b > 0 ? e / b : 0) }'
}
ein=0; bin=0; eout=0; bout=0
if selected rpc_call_in; then
    echo "bench/rpc.sh: rpc_call_in (erl -> ember) ..." >&2
    start_ember
    ein=$(best timeout 300 $ERL -sname rbc$$ -run rpc_bench client "res$$@$H" $N)
    stop "$srv"
fi
start_beam
if selected rpc_call_in; then
    echo "bench/rpc.sh: rpc_call_in (erl -> erl) ..." >&2
    bin=$(best timeout 300 $ERL -sname rbc$$ -run rpc_bench client "rbs$$@$H" $N)
fi
if selected rpc_call_out; then
    echo "bench/rpc.sh: rpc_call_out (ember -> erl, erl -> erl) ..." >&2
    eout=$(best timeout 300 "$BIN" -sname rec$$ -setcookie bench client "rbs$$@$H" $N)
    bout=$bin
    [ "$bout" -gt 0 ] || bout=$(best timeout 300 $ERL -sname rbc$$ -run rpc_bench client "rbs$$@$H" $N)
fi
stop "$srv"
selected rpc_call_in && row rpc_call_in "$ein" "$bin"
selected rpc_call_out && row rpc_call_out "$eout" "$bout"
exit $status
